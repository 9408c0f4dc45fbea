/* Unit tests of the ring of an incremental window (es_ring.h): re-read
 * slices replace, slices leaving the window drop, the sums are the window's,
 * NULL parts stay apart from "", the cell limit holds, and forgotten rows are
 * compacted away without changing the sums. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_ring.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define IV 10000

typedef struct {
    char key[256];
    double count[CLASS_COUNT];
    latency lat;
} got_row;

typedef struct {
    got_row rows[64];
    int n;
} got;

static int collect(void *ctx, const raw_row *row) {
    got *g = ctx;
    if (g->n >= (int)(sizeof g->rows / sizeof g->rows[0])) {
        g->n++; /* counted, not kept */
        return 0;
    }
    got_row *r = &g->rows[g->n++];
    snprintf(r->key, sizeof r->key, "%s>%s", row->value[EP_FROM_SERVICE] ? row->value[EP_FROM_SERVICE] : "(null)",
             row->value[EP_TO_SERVICE] ? row->value[EP_TO_SERVICE] : "(null)");
    memcpy(r->count, row->count, sizeof r->count);
    r->lat = row->lat;
    return 0;
}

static const got_row *find(const got *g, const char *key) {
    for (int i = 0; i < g->n && i < (int)(sizeof g->rows / sizeof g->rows[0]); i++)
        if (!strcmp(g->rows[i].key, key)) return &g->rows[i];
    return NULL;
}

static void add(es_ring *r, int64_t slice, const char *from, const char *to, double normal, double danger) {
    raw_row row = {0};
    row.value[EP_FROM_SERVICE] = from;
    row.value[EP_TO_SERVICE] = to;
    row.count[CLASS_NORMAL] = normal;
    row.count[CLASS_DANGER] = danger;
    row.lat = (latency){.sum_ms = normal * 2, .n = normal, .max_ms = normal, .max_n = normal};
    bool over;
    char err[ERR_LEN];
    assert_int_equal(es_ring_add(r, slice, &row, &over, err), 0);
}

/* The ring ends at end, and every slice of [from, end) in its window is
 * (re)opened to be read, as source_es.c does for the slices it reads. */
static void begin(es_ring *r, int64_t from, int64_t end, int nslices) {
    es_ring_advance(r, end);
    for (int64_t t = from > end - nslices * IV ? from : end - nslices * IV; t < end; t += IV) es_ring_open(r, t, 0);
}

static got emit(es_ring *r) {
    got g = {0};
    assert_int_equal(es_ring_emit(r, collect, &g), 0);
    return g;
}

static void replace_drop_and_sum(void **state) {
    (void)state;
    es_ring *r = es_ring_new(IV, 3, 1000);
    /* Window [0, 30000): three slices. */
    begin(r, 0, 3 * IV, 3);
    add(r, 0, "a", "b", 1, 0);
    add(r, IV, "a", "b", 2, 1);
    add(r, 2 * IV, "a", "b", 4, 0);
    add(r, 2 * IV, "c", NULL, 5, 0);
    got g = emit(r);
    assert_int_equal(g.n, 2);
    assert_true(find(&g, "a>b")->count[CLASS_NORMAL] == 7);
    assert_true(find(&g, "a>b")->count[CLASS_DANGER] == 1);
    assert_true(find(&g, "a>b")->lat.n == 7 && find(&g, "a>b")->lat.max_ms == 4);
    assert_true(find(&g, "c>(null)")->count[CLASS_NORMAL] == 5);

    /* One step forward, the last slice re-read: slice 0 drops, slice 2 is
     * replaced (not added to), slice 3 is new. */
    begin(r, 2 * IV, 4 * IV, 3);
    add(r, 2 * IV, "a", "b", 6, 0);
    add(r, 3 * IV, "a", "b", 8, 0);
    g = emit(r);
    assert_int_equal(g.n, 1); /* c>(null) was only in the re-read slice, now empty */
    assert_true(find(&g, "a>b")->count[CLASS_NORMAL] == 2 + 6 + 8);
    assert_true(find(&g, "a>b")->lat.max_ms == 8);

    /* A slice the ring does not hold (dropped, or never opened) is refused. */
    raw_row row = {0};
    bool over;
    char err[ERR_LEN];
    assert_int_equal(es_ring_add(r, 0, &row, &over, err), -1);
    assert_false(over);
    assert_non_null(strstr(err, "does not hold"));
    assert_int_equal(es_ring_add(r, 4 * IV, &row, &over, err), -1);
    es_ring_free(r);
}

static void null_is_not_empty(void **state) {
    (void)state;
    es_ring *r = es_ring_new(IV, 2, 1000);
    begin(r, 0, 2 * IV, 2);
    add(r, 0, "a", NULL, 1, 0);
    add(r, 0, "a", "", 2, 0);
    add(r, IV, "a", NULL, 4, 0);
    got g = emit(r);
    assert_int_equal(g.n, 2);
    assert_true(find(&g, "a>(null)")->count[CLASS_NORMAL] == 5);
    assert_true(find(&g, "a>")->count[CLASS_NORMAL] == 2);
    es_ring_free(r);
}

static void negative_times_and_gap(void **state) {
    (void)state;
    es_ring *r = es_ring_new(IV, 3, 1000);
    begin(r, -3 * IV, 0, 3);
    add(r, -3 * IV, "x", "y", 1, 0);
    add(r, -IV, "x", "y", 1, 0);
    assert_true(emit(r).rows[0].count[CLASS_NORMAL] == 2);
    /* Moved a whole window on: everything held drops. */
    begin(r, 0, 3 * IV, 3);
    got g = emit(r);
    assert_int_equal(g.n, 0);
    es_ring_free(r);
}

static void cell_limit(void **state) {
    (void)state;
    es_ring *r = es_ring_new(IV, 2, 3);
    begin(r, 0, 2 * IV, 2);
    add(r, 0, "a", "b", 1, 0);
    add(r, 0, "a", "c", 1, 0);
    add(r, IV, "a", "b", 1, 0);
    raw_row row = {0};
    row.value[EP_FROM_SERVICE] = "z";
    bool over = false;
    char err[ERR_LEN];
    assert_int_equal(es_ring_add(r, IV, &row, &over, err), -1);
    assert_true(over);
    assert_int_equal(es_ring_cells(r), 3);
    /* Re-reading slice IV frees its cell. */
    begin(r, IV, 2 * IV, 2);
    assert_int_equal(es_ring_cells(r), 2);
    es_ring_free(r);
}

/* Thousands of rows that leave the window are compacted away; the sums of
 * those that stay do not change. */
static void compaction(void **state) {
    (void)state;
    es_ring *r = es_ring_new(IV, 2, 100000);
    char name[32];
    int64_t end = 2 * IV;
    begin(r, 0, end, 2);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "s%d", i);
        add(r, 0, name, "t", 1, 0);
    }
    add(r, IV, "keep", "t", 3, 0);
    assert_int_equal(emit(r).n, 5001);
    begin(r, 2 * IV, 3 * IV, 2); /* slice 0 drops; slice IV stays */
    add(r, 2 * IV, "keep", "t", 4, 0);
    got g = emit(r); /* compacts: 5001 rows, 1 live */
    assert_int_equal(g.n, 1);
    assert_true(find(&g, "keep>t")->count[CLASS_NORMAL] == 7);
    begin(r, 3 * IV, 4 * IV, 2);
    add(r, 3 * IV, "new", "t", 1, 0);
    g = emit(r);
    assert_int_equal(g.n, 2);
    assert_true(find(&g, "keep>t")->count[CLASS_NORMAL] == 4);
    assert_true(find(&g, "new>t")->count[CLASS_NORMAL] == 1);
    es_ring_free(r);
}

/* What a slice was opened with is what es_ring_docs() says while it is held,
 * and nothing once it left the window or another slice took its place. */
static void slice_documents(void **state) {
    (void)state;
    es_ring *r = es_ring_new(IV, 2, 1000);
    double docs = -1;
    assert_false(es_ring_docs(r, 0, &docs));
    es_ring_advance(r, 2 * IV);
    es_ring_open(r, 0, 7);
    es_ring_open(r, IV, 0);
    add(r, 0, "a", "b", 7, 0);
    assert_true(es_ring_docs(r, 0, &docs) && docs == 7);
    assert_true(es_ring_docs(r, IV, &docs) && docs == 0);
    /* Re-opened with a new count: emptied, and the count replaced. */
    es_ring_open(r, 0, 9);
    assert_true(es_ring_docs(r, 0, &docs) && docs == 9);
    assert_int_equal(emit(r).n, 0);
    /* Slice 0 leaves the window; slice 2 * IV shares its slot but is not held. */
    es_ring_advance(r, 3 * IV);
    assert_false(es_ring_docs(r, 0, &docs));
    assert_false(es_ring_docs(r, 2 * IV, &docs));
    assert_true(es_ring_docs(r, IV, &docs));
    es_ring_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replace_drop_and_sum),
        cmocka_unit_test(null_is_not_empty),
        cmocka_unit_test(negative_times_and_gap),
        cmocka_unit_test(cell_limit),
        cmocka_unit_test(compaction),
        cmocka_unit_test(slice_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
