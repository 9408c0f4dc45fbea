/*
 * graph_names.c - a small set of strings that keeps node names unique within
 * one view (graph_names.h).
 */
#include "graph_names.h"

#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "util.h"

void graph_nameset_init(nameset *s, size_t expected) {
    s->cap = expected + 1;
    s->names = xcalloc(s->cap, sizeof *s->names);
    s->n = 0;
    s->index = (hashtab){0};
    hashtab_reserve(&s->index, s->cap);
}

void graph_nameset_free(nameset *s) {
    free(s->names);
    hashtab_free(&s->index);
}

static bool nameset_has(const nameset *s, const char *name) {
    uint32_t tag = (uint32_t)hashtab_hash_bytes(name, strlen(name), HASHTAB_SEED);
    for (hashtab_slot *sl = hashtab_first(&s->index, tag); sl->id; sl = hashtab_next(&s->index, sl))
        if (sl->tag == tag && strcmp(s->names[sl->id - 1], name) == 0) return true;
    return false;
}

/* name must outlive the set. */
static void nameset_add(nameset *s, const char *name) {
    if (nameset_has(s, name)) return;
    if (s->n == s->cap) {
        s->cap *= 2;
        s->names = xrealloc(s->names, s->cap * sizeof *s->names);
    }
    s->names[s->n] = name;
    hashtab_put(&s->index, (uint32_t)hashtab_hash_bytes(name, strlen(name), HASHTAB_SEED), s->n++);
}

/* base if free in the set, else base + suffix (repeated until free); the
 * result is added to the set. *owned tells whether it was allocated. */
char *graph_unique_name(nameset *s, const char *base, const char *suffix, bool *owned) {
    *owned = false;
    char *name = (char *)base;
    while (nameset_has(s, name)) {
        size_t a = strlen(name), b = strlen(suffix);
        char *longer = xmalloc(a + b + 1);
        memcpy(longer, name, a);
        memcpy(longer + a, suffix, b + 1);
        if (*owned) free(name);
        name = longer;
        *owned = true;
    }
    nameset_add(s, name);
    return name;
}
