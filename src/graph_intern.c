/*
 * graph_intern.c - interning of a model's names (graph_intern.h): an arena
 * of NUL-terminated strings and an open-addressing table of their ids, so an
 * add costs one hash and one probe per name and the model's tables key on
 * integers.
 */
#include "graph_intern.h"

#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "util.h"

static uint32_t strtab_find(const strtab *t, const char *s, size_t len, uint64_t h) {
    if (!t->nslots) return NO_ID;
    size_t mask = t->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        if (!v) return NO_ID;
        const char *c = str_of(t, v - 1);
        if (t->hash[v - 1] == (uint32_t)h && strncmp(c, s, len) == 0 && c[len] == '\0') return v - 1;
    }
}

static void strtab_grow_slots(strtab *t) {
    size_t n = t->nslots ? t->nslots * 2 : 1024;
    uint32_t *slots = xcalloc(n, sizeof *slots);
    for (uint32_t id = 0; id < t->n; id++) {
        size_t i = t->hash[id] & (n - 1);
        while (slots[i]) i = (i + 1) & (n - 1);
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
}

/* hashtab_hash_bytes() is finalized, so its low 32 bits, all the table keeps, pick
 * a slot as well as any. */
static uint64_t str_hash(const char *s, size_t len) {
    return (uint32_t)hashtab_hash_bytes(s, len, HASHTAB_SEED);
}

uint32_t graph_strtab_intern_n(strtab *t, const char *s, size_t len) {
    uint64_t h = str_hash(s, len);
    uint32_t id = strtab_find(t, s, len, h);
    if (id != NO_ID) return id;
    if ((size_t)(t->n + 1) * 2 > t->nslots) strtab_grow_slots(t);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->offset = xrealloc(t->offset, t->cap * sizeof *t->offset);
        t->hash = xrealloc(t->hash, t->cap * sizeof *t->hash);
    }
    if (t->arena_len + len + 1 > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap : 4096;
        while (cap < t->arena_len + len + 1) cap *= 2;
        t->arena = xrealloc(t->arena, cap);
        t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    id = t->n++;
    t->offset[id] = t->arena_len;
    t->hash[id] = (uint32_t)h;
    t->arena_len += len + 1;
    size_t mask = t->nslots - 1;
    size_t i = (size_t)h & mask;
    while (t->slots[i]) i = (i + 1) & mask;
    t->slots[i] = id + 1;
    return id;
}

uint32_t graph_strtab_intern(strtab *t, const char *s) {
    return graph_strtab_intern_n(t, s, strlen(s));
}

uint32_t graph_strtab_lookup(const strtab *t, const char *s) {
    size_t len = strlen(s);
    return strtab_find(t, s, len, str_hash(s, len));
}

void graph_strtab_free(strtab *t) {
    free(t->arena);
    free(t->offset);
    free(t->hash);
    free(t->slots);
}
