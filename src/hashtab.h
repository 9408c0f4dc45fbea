/*
 * hashtab.h - the one open-addressing hash table of vizfeed, and the hash
 * of bytes every table uses.
 *
 * The table stores no keys: each slot is 8 bytes, a 32-bit hash tag and a
 * 32-bit index (+1) into an array the caller owns, where the keys and values
 * sit densely in the order they were added. That keeps what made the graph's
 * tables fast at 100k edges: compact slots, dense records, iteration over the
 * caller's array that visits no empty slot, and a regrow that rehashes from
 * the tags alone without touching a key.
 *
 *   hashtab t = {0};                     zeroed is empty
 *   hashtab_reserve(&t, n);              room for n entries (load <= 1/2)
 *   for (hashtab_slot *s = hashtab_first(&t, tag); s->id;
 *        s = hashtab_next(&t, s))        lookup: the caller compares keys
 *       if (s->tag == tag && key_eq(array[s->id - 1], key)) ...
 *   hashtab_put(&t, tag, index);         adds index (grows the table as needed)
 *   hashtab_free(&t);
 *
 * tag: 32 bits of a well-mixed hash (hashtab_hash_bytes, a finalizer like
 * mix64): its low bits pick the slot. Entries cannot be removed; a caller
 * that forgets its entries frees the table (or hashtab_clear) and starts
 * again. Memory failures abort (xmalloc). Not thread-safe: a table belongs
 * to one thread at a time, or is read-only once shared.
 */
#ifndef VIZ_HASHTAB_H
#define VIZ_HASHTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t tag; /* the caller's 32-bit hash of the entry's key */
    uint32_t id;  /* the entry's index in the caller's array + 1; 0: free */
} hashtab_slot;

typedef struct {
    hashtab_slot *slots;
    size_t nslots; /* power of two, or 0 */
    size_t n;      /* entries put */
} hashtab;

/* A free slot that lookups in a table without slots start and stop on; it
 * is never written (hashtab_put gives a table without slots its own first). */
extern hashtab_slot hashtab_none;

/* The first slot where an entry with this tag may be: a lookup walks with
 * hashtab_next until a slot whose id is 0 (the entry is absent). */
static inline hashtab_slot *hashtab_first(const hashtab *t, uint32_t tag) {
    return t->nslots ? &t->slots[tag & (t->nslots - 1)] : &hashtab_none;
}

static inline hashtab_slot *hashtab_next(const hashtab *t, hashtab_slot *s) {
    return ++s == t->slots + t->nslots ? t->slots : s;
}

/* Makes room for n entries in all, so that putting up to n rehashes
 * nothing; the slots stay at most half full. */
void hashtab_reserve(hashtab *t, size_t n);

/* Adds the entry at index (< UINT32_MAX) of the caller's array under tag,
 * growing the table if needed. The caller has looked the key up first: a
 * key put twice is found at whichever slot comes first. */
void hashtab_put(hashtab *t, uint32_t tag, size_t index);

/* Forgets every entry and keeps the slots. */
void hashtab_clear(hashtab *t);

void hashtab_free(hashtab *t);

/* A fast 64-bit hash of bytes (8 at a time, splitmix64 finish), for the hash
 * tables; nothing persisted or ordered depends on its values. Any 32 bits
 * of it make a good tag. */
uint64_t hashtab_hash_bytes(const void *p, size_t n, uint64_t seed);
#define HASHTAB_SEED 0xcbf29ce484222325ULL

#endif
