/*
 * es_ring.c - see es_ring.h.
 *
 * A slice is a plain array of cells (row id, counts, latency), appended to
 * while its answer streams in: a bucket key is unique per slice in a
 * composite answer, and where two keys meet after the parser cut long values
 * the sum is the same whether they merge here or at emit. The distinct rows
 * are interned once for all slices (the six values in one arena), so a row
 * present in every slice keeps its names once.
 */
#include "es_ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "util.h"

#define NO_VALUE UINT64_MAX /* a part the row has no value for (NULL) */
/* No cap of its own on the names: max_cells bounds the rows, and VIZ_MAX_KEY_VALUE_BYTES each value. */
#define RING_ARENA_MAX ((size_t)1 << 40)

typedef struct {
    uint32_t row;
    double count[CLASS_COUNT];
    latency lat;
} cell;

typedef struct {
    int64_t start; /* the slice's first ms; meaningful when used */
    bool used;
    double docs; /* documents counted in it before it was read (es_ring_open) */
    cell *cells;
    size_t n, cap;
} slice;

typedef struct {
    uint64_t off[EP_COUNT]; /* into arena, NO_VALUE for NULL */
} row_key;

struct es_ring {
    int64_t slice_ms;
    int nslices;
    size_t max_cells;
    int64_t end_ms; /* of the last advance */
    slice *slices;
    size_t cells;

    /* Interned rows. */
    row_key *rows;
    size_t nrows, rows_cap;
    buf arena;
    hashtab index;

    /* emit()'s sums, one per interned row. */
    cell *acc;
    bool *live;
    size_t acc_cap;
};

es_ring *es_ring_new(int64_t slice_ms, int nslices, size_t max_cells) {
    es_ring *r = xcalloc(1, sizeof *r);
    r->slice_ms = slice_ms;
    r->nslices = nslices;
    r->max_cells = max_cells;
    r->slices = xcalloc((size_t)nslices, sizeof *r->slices);
    buf_init(&r->arena, RING_ARENA_MAX);
    return r;
}

static void forget_rows(es_ring *r) {
    r->nrows = 0;
    buf_reset(&r->arena);
    hashtab_clear(&r->index);
}

void es_ring_reset(es_ring *r) {
    for (int i = 0; i < r->nslices; i++) {
        r->slices[i].used = false;
        r->slices[i].n = 0;
    }
    r->cells = 0;
    r->end_ms = 0;
    forget_rows(r);
}

void es_ring_free(es_ring *r) {
    if (!r) return;
    for (int i = 0; i < r->nslices; i++) free(r->slices[i].cells);
    free(r->slices);
    free(r->rows);
    buf_free(&r->arena);
    hashtab_free(&r->index);
    free(r->acc);
    free(r->live);
    free(r);
}

size_t es_ring_cells(const es_ring *r) {
    return r->cells;
}

/* The slot of the slice that starts at t (a floor modulo: t may be negative). */
static slice *slot_of(const es_ring *r, int64_t t) {
    int64_t k = t / r->slice_ms;
    if (t % r->slice_ms != 0 && t < 0) k--;
    int64_t m = k % r->nslices;
    if (m < 0) m += r->nslices;
    return &r->slices[m];
}

static void empty_slice(es_ring *r, slice *s) {
    r->cells -= s->n;
    s->n = 0;
    s->used = false;
}

void es_ring_advance(es_ring *r, int64_t end_ms) {
    int64_t window_start = end_ms - (int64_t)r->nslices * r->slice_ms;
    for (int i = 0; i < r->nslices; i++) {
        slice *s = &r->slices[i];
        if (s->used && s->start < window_start) empty_slice(r, s);
    }
    r->end_ms = end_ms;
}

void es_ring_open(es_ring *r, int64_t slice_start_ms, double docs) {
    slice *s = slot_of(r, slice_start_ms);
    if (s->used) empty_slice(r, s);
    s->start = slice_start_ms;
    s->used = true;
    s->docs = docs;
}

bool es_ring_docs(const es_ring *r, int64_t slice_start_ms, double *docs) {
    const slice *s = slot_of(r, slice_start_ms);
    if (!s->used || s->start != slice_start_ms) return false;
    *docs = s->docs;
    return true;
}

static uint64_t row_hash(const raw_row *row) {
    uint64_t h = HASHTAB_SEED;
    for (int i = 0; i < EP_COUNT; i++) {
        const char *v = row->value[i];
        /* Part number folded in, and NULL apart from "": (a, NULL) is not (NULL, a). */
        uint64_t part = v ? hashtab_hash_bytes(v, strlen(v), h ^ (uint64_t)(i + 1)) : (uint64_t)(i + 1) * 0x9e37ULL;
        h = hashtab_hash_bytes(&part, sizeof part, h);
    }
    return h;
}

static bool row_equal(const es_ring *r, const row_key *k, const raw_row *row) {
    for (int i = 0; i < EP_COUNT; i++) {
        const char *v = row->value[i];
        if ((k->off[i] == NO_VALUE) != (v == NULL)) return false;
        if (v && strcmp(r->arena.data + k->off[i], v) != 0) return false;
    }
    return true;
}

static uint32_t intern(es_ring *r, const raw_row *row) {
    uint32_t tag = (uint32_t)row_hash(row);
    for (hashtab_slot *sl = hashtab_first(&r->index, tag); sl->id; sl = hashtab_next(&r->index, sl))
        if (sl->tag == tag && row_equal(r, &r->rows[sl->id - 1], row)) return sl->id - 1;
    if (r->nrows == r->rows_cap) {
        r->rows_cap = r->rows_cap ? r->rows_cap * 2 : 1024;
        r->rows = xrealloc(r->rows, r->rows_cap * sizeof *r->rows);
    }
    row_key *k = &r->rows[r->nrows];
    for (int i = 0; i < EP_COUNT; i++) {
        const char *v = row->value[i];
        if (!v) {
            k->off[i] = NO_VALUE;
            continue;
        }
        k->off[i] = r->arena.len;
        buf_append(&r->arena, v, strlen(v) + 1); /* no cap: bounded by max_cells rows */
    }
    hashtab_reserve(&r->index, r->nrows + 1);
    hashtab_put(&r->index, tag, r->nrows);
    return (uint32_t)r->nrows++;
}

int es_ring_add(es_ring *r, int64_t slice_start_ms, const raw_row *row, bool *over_limit, char *err) {
    *over_limit = false;
    slice *s = slot_of(r, slice_start_ms);
    if (!s->used || s->start != slice_start_ms)
        return util_fail(err, "a row for the slice at %lld ms, which the ring does not hold",
                         (long long)slice_start_ms);
    if (r->cells >= r->max_cells) {
        *over_limit = true;
        return util_fail(err, "more than %zu (slice, edge) cells", r->max_cells);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->cells = xrealloc(s->cells, s->cap * sizeof *s->cells);
    }
    cell *c = &s->cells[s->n++];
    r->cells++;
    c->row = intern(r, row);
    memcpy(c->count, row->count, sizeof c->count);
    c->lat = row->lat;
    return 0;
}

/* Keeps only the rows some slice holds (live[]), renumbered in order. */
static void compact(es_ring *r) {
    uint32_t *map = xmalloc((r->nrows ? r->nrows : 1) * sizeof *map);
    buf arena;
    buf_init(&arena, RING_ARENA_MAX);
    size_t n = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        if (!r->live[i]) continue;
        row_key k = r->rows[i];
        for (int p = 0; p < EP_COUNT; p++) {
            if (k.off[p] == NO_VALUE) continue;
            const char *v = r->arena.data + k.off[p];
            k.off[p] = arena.len;
            buf_append(&arena, v, strlen(v) + 1);
        }
        map[i] = (uint32_t)n;
        r->rows[n++] = k;
    }
    buf_free(&r->arena);
    r->arena = arena;
    r->nrows = n;
    hashtab_clear(&r->index);
    hashtab_reserve(&r->index, n);
    for (size_t i = 0; i < n; i++) {
        raw_row row = {0};
        for (int p = 0; p < EP_COUNT; p++)
            row.value[p] = r->rows[i].off[p] == NO_VALUE ? NULL : r->arena.data + r->rows[i].off[p];
        hashtab_put(&r->index, (uint32_t)row_hash(&row), i);
    }
    for (int i = 0; i < r->nslices; i++)
        for (size_t j = 0; j < r->slices[i].n; j++) r->slices[i].cells[j].row = map[r->slices[i].cells[j].row];
    free(map);
}

int es_ring_emit(es_ring *r, row_emit_fn emit, void *ctx) {
    if (r->acc_cap < r->nrows) {
        r->acc_cap = r->nrows;
        free(r->acc);
        free(r->live);
        r->acc = xmalloc(r->acc_cap * sizeof *r->acc);
        r->live = xmalloc(r->acc_cap * sizeof *r->live);
    }
    memset(r->live, 0, r->nrows * sizeof *r->live);
    /* Summed in slice order, oldest first: the same order every refresh, so
     * the same data gives the same bits. */
    int64_t window_start = r->end_ms - (int64_t)r->nslices * r->slice_ms;
    size_t nlive = 0;
    for (int64_t t = window_start; t < r->end_ms; t += r->slice_ms) {
        slice *s = slot_of(r, t);
        if (!s->used || s->start != t) continue;
        for (size_t j = 0; j < s->n; j++) {
            const cell *c = &s->cells[j];
            cell *a = &r->acc[c->row];
            if (!r->live[c->row]) {
                r->live[c->row] = true;
                nlive++;
                memset(a, 0, sizeof *a);
            }
            for (int k = 0; k < CLASS_COUNT; k++) a->count[k] += c->count[k];
            latency_add(&a->lat, &c->lat);
        }
    }
    int rc = 0;
    for (size_t i = 0; i < r->nrows && rc == 0; i++) {
        if (!r->live[i]) continue;
        raw_row row;
        for (int p = 0; p < EP_COUNT; p++)
            row.value[p] = r->rows[i].off[p] == NO_VALUE ? NULL : r->arena.data + r->rows[i].off[p];
        memcpy(row.count, r->acc[i].count, sizeof row.count);
        row.lat = r->acc[i].lat;
        if (emit(ctx, &row) != 0) rc = -1;
    }
    if (r->nrows > 2 * nlive + 1024) compact(r);
    return rc;
}
