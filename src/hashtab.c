/*
 * hashtab.c - the open-addressing table of indexes (hashtab.h) and the hash
 * of bytes. Linear probing: the slots are 8 bytes, so a probe sequence is
 * usually one cache line, and at load 1/2 it is short.
 */
#include "hashtab.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

hashtab_slot hashtab_none;

/* Places tag/id in the first free slot from its home; the table has room. */
static void place(hashtab *t, uint32_t tag, uint32_t id) {
    size_t mask = t->nslots - 1;
    size_t i = tag & mask;
    while (t->slots[i].id) i = (i + 1) & mask;
    t->slots[i].tag = tag;
    t->slots[i].id = id;
}

/* Moves every entry into nslots slots, from the tags alone. */
static void rehash(hashtab *t, size_t nslots) {
    hashtab_slot *old = t->slots;
    size_t nold = t->nslots;
    t->slots = xcalloc(nslots, sizeof *t->slots);
    t->nslots = nslots;
    for (size_t i = 0; i < nold; i++)
        if (old[i].id) place(t, old[i].tag, old[i].id);
    free(old);
}

void hashtab_reserve(hashtab *t, size_t n) {
    assert(t);
    size_t nslots = t->nslots ? t->nslots : 256;
    while (n * 2 > nslots) nslots *= 2;
    if (nslots != t->nslots) rehash(t, nslots);
}

void hashtab_put(hashtab *t, uint32_t tag, size_t index) {
    assert(t && index < UINT32_MAX); /* ids are stored + 1 in 32 bits */
    if ((t->n + 1) * 2 > t->nslots) hashtab_reserve(t, t->n + 1);
    place(t, tag, (uint32_t)index + 1);
    t->n++;
}

void hashtab_clear(hashtab *t) {
    if (t->nslots) memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->n = 0;
}

void hashtab_free(hashtab *t) {
    free(t->slots);
    *t = (hashtab){0};
}

static uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t rotate_left(uint64_t v, int k) {
    return v << k | v >> (64 - k);
}

uint64_t hashtab_hash_bytes(const void *p, size_t n, uint64_t seed) {
    const unsigned char *c = p;
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    for (; n >= 8; c += 8, n -= 8) h = rotate_left(h ^ load64(c) * 0xbf58476d1ce4e5b9ULL, 29) * 0x94d049bb133111ebULL;
    if (n) {
        uint64_t last = 0;
        memcpy(&last, c, n);
        h = rotate_left(h ^ last * 0xbf58476d1ce4e5b9ULL, 29) * 0x94d049bb133111ebULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}
