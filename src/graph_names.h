/*
 * graph_names.h - internal to the graph module: node names unique within
 * one view.
 *
 * Node names must be unique in a view. graph_unique_name() gives base if it is
 * free, else base + suffix, repeated until free, and adds the result: so the
 * entry node keeps graph.entry, a service with that very name becomes
 * "<name> (service)", a stand-in "<region> (region)", and the same rule
 * renames a region called like the entry node at the root.
 *
 *   nameset s; graph_nameset_init(&s, expected);  sized for `expected` names
 *   name = graph_unique_name(&s, base, suffix, &owned);  owned: free(name) later
 *   graph_nameset_free(&s);
 *
 * The set keeps pointers: names must outlive it.
 */
#ifndef VIZ_GRAPH_NAMES_H
#define VIZ_GRAPH_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "hashtab.h"

/* A small set of strings, to keep node names unique within one view. */
typedef struct {
    const char **names; /* in the order added */
    size_t n, cap;
    hashtab index; /* of names, tagged with the name's hash */
} nameset;

void graph_nameset_init(nameset *s, size_t expected);
void graph_nameset_free(nameset *s);
char *graph_unique_name(nameset *s, const char *base, const char *suffix, bool *owned);

#endif
