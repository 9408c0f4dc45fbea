/*
 * graph_names.c - a small set of strings that keeps node names unique within
 * one view (graph_names.h).
 */
#include "graph_names.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "util.h"

void graph_nameset_init(nameset *s, size_t expected) {
    s->nslots = 16;
    while (s->nslots < expected * 2 + 2) s->nslots *= 2;
    s->slots = xcalloc(s->nslots, sizeof *s->slots);
    s->n = 0;
}

static bool nameset_has(const nameset *s, const char *name) {
    size_t mask = s->nslots - 1;
    for (size_t i = hashtab_hash_bytes(name, strlen(name), HASHTAB_SEED) & mask; s->slots[i]; i = (i + 1) & mask)
        if (strcmp(s->slots[i], name) == 0) return true;
    return false;
}

/* name must outlive the set. */
static void nameset_add(nameset *s, const char *name) {
    if (nameset_has(s, name)) return;
    assert(s->n * 2 < s->nslots);
    size_t mask = s->nslots - 1;
    size_t i = hashtab_hash_bytes(name, strlen(name), HASHTAB_SEED) & mask;
    while (s->slots[i]) i = (i + 1) & mask;
    s->slots[i] = name;
    s->n++;
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
