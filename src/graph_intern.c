/*
 * graph_intern.c - interning of a model's names (graph_intern.h): an arena
 * of NUL-terminated strings and an open-addressing table of their ids, so an
 * add costs one hash and one probe per name and the model's tables key on
 * integers.
 */
#include "graph_intern.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "util.h"

static uint32_t strtab_find(const strtab *t, const char *s, size_t len, uint64_t h) {
    uint32_t tag = (uint32_t)h;
    for (hashtab_slot *sl = hashtab_first(&t->index, tag); sl->id; sl = hashtab_next(&t->index, sl)) {
        if (sl->tag != tag) continue;
        const char *c = str_of(t, sl->id - 1);
        if (strncmp(c, s, len) == 0 && c[len] == '\0') return sl->id - 1;
    }
    return NO_ID;
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
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->offset = xrealloc(t->offset, t->cap * sizeof *t->offset);
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
    t->arena_len += len + 1;
    hashtab_put(&t->index, (uint32_t)h, id);
    return id;
}

uint32_t graph_strtab_intern(strtab *t, const char *s) {
    return graph_strtab_intern_n(t, s, strlen(s));
}

uint32_t graph_strtab_lookup(const strtab *t, const char *s) {
    assert(t && s);
    size_t len = strlen(s);
    return strtab_find(t, s, len, str_hash(s, len));
}

void graph_strtab_free(strtab *t) {
    free(t->arena);
    free(t->offset);
    hashtab_free(&t->index);
}
