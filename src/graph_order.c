/*
 * graph_order.c - name ranks and record orders (graph_order.h): what makes
 * the same model render as the same bytes.
 */
#include "graph_order.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int graph_sort_key_cmp(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    for (int i = 0; i < 4; i++)
        if (x->k[i] != y->k[i]) return x->k[i] < y->k[i] ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Per thread: the live refresher and the history workers render at once. */
static _Thread_local const strtab *rank_names;
static int name_id_cmp(const void *a, const void *b) {
    return strcmp(str_of(rank_names, *(const uint32_t *)a), str_of(rank_names, *(const uint32_t *)b));
}

/* rank[id] = position of name id in bytewise order. */
uint32_t *graph_compute_ranks(const strtab *t) {
    uint32_t *ids = xmalloc(((size_t)t->n + 1) * sizeof *ids);
    for (uint32_t i = 0; i < t->n; i++) ids[i] = i;
    rank_names = t; /* qsort has no context argument in C11 */
    qsort(ids, t->n, sizeof *ids, name_id_cmp);
    uint32_t *rank = xmalloc(((size_t)t->n + 1) * sizeof *rank);
    for (uint32_t i = 0; i < t->n; i++) rank[ids[i]] = i;
    free(ids);
    return rank;
}

/* Indices of the records of t, ordered by the ranks of their first nkeys keys. */
uint32_t *graph_sorted_records(const render_ctx *c, const rectab *t, unsigned nkeys) {
    sort_key *keys = xmalloc((t->n + 1) * sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const record *r = &t->recs[i];
        for (unsigned k = 0; k < 4; k++) keys[n].k[k] = k < nkeys ? rk(c, r->key[k]) : 0;
        keys[n++].idx = (uint32_t)i;
    }
    assert(n == t->n);
    qsort(keys, n, sizeof *keys, graph_sort_key_cmp);
    uint32_t *order = xmalloc((n + 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = keys[i].idx;
    free(keys);
    return order;
}

/* First index in order[0..n) whose record has key[0] == region (by rank). */
size_t graph_lower_bound(const render_ctx *c, const rectab *t, const uint32_t *order, size_t n, uint32_t region_id) {
    size_t lo = 0, hi = n;
    uint32_t want = rk(c, region_id);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rk(c, t->recs[order[mid]].key[0]) < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
