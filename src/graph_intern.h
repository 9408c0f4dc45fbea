/*
 * graph_intern.h - internal to the graph module: the names of one model,
 * interned once (an arena plus an open-addressing table of ids), so that the
 * model's tables key on small integers.
 *
 *   strtab t = {0};              zeroed is empty
 *   id = graph_strtab_intern(&t, s);   the id of s, added if new (ids are dense:
 *                                0 .. t.n-1, in the order first seen)
 *   graph_strtab_lookup(&t, s)         the id of s, or NO_ID; adds nothing
 *   str_of(&t, id)               the string (valid until the next intern)
 *   graph_strtab_free(&t);
 *
 * Strings are copied in. Memory failures abort (xmalloc). Not thread-safe;
 * a model belongs to one thread at a time.
 */
#ifndef VIZ_GRAPH_INTERN_H
#define VIZ_GRAPH_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "hashtab.h"

/* Ids that name no string: not found, and the entry node's service. */
#define NO_ID    UINT32_MAX
#define ENTRY_ID (UINT32_MAX - 1)

/* splitmix64's finalizer: every input bit reaches the low bits used as index. */
static inline uint64_t mix64(uint64_t h) {
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

typedef struct {
    char *arena;
    size_t arena_len, arena_cap;
    size_t *offset;  /* offset of string id in arena */
    uint32_t n, cap; /* ids in use, allocated */
    hashtab index;   /* of the ids, tagged with their strings' hash */
} strtab;

static inline const char *str_of(const strtab *t, uint32_t id) {
    return t->arena + t->offset[id];
}

uint32_t graph_strtab_intern_n(strtab *t, const char *s, size_t len);
uint32_t graph_strtab_intern(strtab *t, const char *s);
uint32_t graph_strtab_lookup(const strtab *t, const char *s);
void graph_strtab_free(strtab *t);

#endif
