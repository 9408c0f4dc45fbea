/* Unit tests of hashtab.c: the table of indexes and the hash of bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The index of key in keys through t, or -1: the lookup every caller writes. */
static long find(const hashtab *t, const unsigned *keys, unsigned key) {
    uint32_t tag = (uint32_t)hashtab_hash_bytes(&key, sizeof key, HASHTAB_SEED);
    for (hashtab_slot *s = hashtab_first(t, tag); s->id; s = hashtab_next(t, s))
        if (s->tag == tag && keys[s->id - 1] == key) return (long)s->id - 1;
    return -1;
}

static void add(hashtab *t, unsigned *keys, size_t *n, unsigned key) {
    keys[*n] = key;
    hashtab_put(t, (uint32_t)hashtab_hash_bytes(&key, sizeof key, HASHTAB_SEED), *n);
    (*n)++;
}

static void an_empty_table_finds_nothing(void **state) {
    hashtab t = {0};
    unsigned keys[1] = {0};
    assert_int_equal(find(&t, keys, 7), -1);
    hashtab_free(&t);
    assert_int_equal(find(&t, keys, 7), -1);
}

/* Past the first slots the table regrows several times: every entry must
 * still be found at its index, and keys never put must not be. */
static void entries_survive_growth(void **state) {
    enum { N = 100000 };
    unsigned *keys = malloc(N * sizeof *keys);
    hashtab t = {0};
    size_t n = 0;
    for (unsigned i = 0; i < N; i++) add(&t, keys, &n, i * 7919u);
    assert_int_equal(t.n, N);
    assert_true(t.nslots >= 2 * N);
    assert_int_equal(t.nslots & (t.nslots - 1), 0);
    for (unsigned i = 0; i < N; i++) assert_int_equal(find(&t, keys, i * 7919u), i);
    for (unsigned i = 0; i < 1000; i++) assert_int_equal(find(&t, keys, i * 7919u + 1), -1);
    hashtab_free(&t);
    free(keys);
}

/* Entries with the same tag (a full hash collision) stay apart: the caller's
 * key comparison tells them apart, the probe goes on past the first. */
static void equal_tags_probe_on(void **state) {
    hashtab t = {0};
    hashtab_put(&t, 5, 0);
    hashtab_put(&t, 5, 1);
    hashtab_put(&t, 5 + 256, 2); /* same home slot, other tag */
    int seen[3] = {0};
    for (hashtab_slot *s = hashtab_first(&t, 5); s->id; s = hashtab_next(&t, s)) seen[s->id - 1]++;
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);
    hashtab_free(&t);
}

/* A probe that starts in the last slot wraps to the first. */
static void probes_wrap_around(void **state) {
    hashtab t = {0};
    hashtab_reserve(&t, 1);
    uint32_t last = (uint32_t)t.nslots - 1;
    hashtab_put(&t, last, 0);
    hashtab_put(&t, last, 1);
    assert_int_equal(t.slots[last].id, 1);
    assert_int_equal(t.slots[0].id, 2);
    assert_ptr_equal(hashtab_next(&t, &t.slots[last]), &t.slots[0]);
    hashtab_free(&t);
}

/* A reserve sizes the slots once: putting up to that many grows nothing. */
static void reserve_makes_room_once(void **state) {
    hashtab t = {0};
    hashtab_reserve(&t, 5000);
    hashtab_slot *slots = t.slots;
    size_t nslots = t.nslots;
    assert_true(nslots >= 10000);
    for (uint32_t i = 0; i < 5000; i++) hashtab_put(&t, i * 2654435761u, i);
    assert_ptr_equal(t.slots, slots);
    assert_int_equal(t.nslots, nslots);
    hashtab_clear(&t);
    assert_int_equal(t.n, 0);
    assert_int_equal(hashtab_first(&t, 2654435761u)->id, 0);
    hashtab_free(&t);
}

/* hashtab_hash_bytes() feeds tables that index by its low bits: every byte and the
 * length must count, and sequential keys must spread evenly. */
static void hash_spreads_keys_over_low_bits(void **state) {
    assert_int_not_equal(hashtab_hash_bytes("a", 1, HASHTAB_SEED), hashtab_hash_bytes("a\0", 2, HASHTAB_SEED));
    assert_int_not_equal(hashtab_hash_bytes("", 0, HASHTAB_SEED), hashtab_hash_bytes("\0", 1, HASHTAB_SEED));
    assert_int_not_equal(hashtab_hash_bytes("abcdefgh", 8, HASHTAB_SEED),
                         hashtab_hash_bytes("abcdefgi", 8, HASHTAB_SEED));
    assert_int_not_equal(hashtab_hash_bytes("abc", 3, HASHTAB_SEED), hashtab_hash_bytes("abc", 3, HASHTAB_SEED + 1));
    assert_int_equal(hashtab_hash_bytes("same-key-123", 12, HASHTAB_SEED),
                     hashtab_hash_bytes("same-key-123", 12, HASHTAB_SEED));
    enum { KEYS = 1 << 16, BUCKETS = 1 << 10 };
    static unsigned count[BUCKETS];
    memset(count, 0, sizeof count);
    for (int i = 0; i < KEYS; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        count[hashtab_hash_bytes(key, (size_t)n, HASHTAB_SEED) & (BUCKETS - 1)]++;
    }
    unsigned most = 0;
    for (int i = 0; i < BUCKETS; i++)
        if (count[i] > most) most = count[i];
    assert_true(most < 2 * KEYS / BUCKETS); /* 64 expected per bucket */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_empty_table_finds_nothing), cmocka_unit_test(entries_survive_growth),
        cmocka_unit_test(equal_tags_probe_on),          cmocka_unit_test(probes_wrap_around),
        cmocka_unit_test(reserve_makes_room_once),      cmocka_unit_test(hash_spreads_keys_over_low_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
