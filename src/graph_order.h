/*
 * graph_order.h - internal to the graph module: the deterministic order of
 * rendering.
 *
 * graph_compute_ranks() gives every interned name its bytewise rank, so that all
 * later sorting compares integers, not strings; rk() is a name's rank with
 * the entry node first. graph_sorted_records() orders a record table by the ranks
 * of its first keys, so that edges are visited, and floating-point sums
 * added, in the same order whatever order the rows arrived in: the same
 * model gives the same bytes. graph_lower_bound() finds a region's first record in
 * such an order.
 *
 * Returned arrays are malloc'd; the caller frees them. graph_compute_ranks() uses
 * a thread-local for qsort (no context argument in C11): one render at a time per thread.
 */
#ifndef VIZ_GRAPH_ORDER_H
#define VIZ_GRAPH_ORDER_H

#include "graph_render.h"

typedef struct {
    uint32_t k[4];
    uint32_t idx;
} sort_key;

int graph_sort_key_cmp(const void *a, const void *b);
uint32_t *graph_compute_ranks(const strtab *t);

static inline uint32_t rk(const render_ctx *c, uint32_t id) {
    return id == ENTRY_ID ? 0 : c->rank[id] + 1; /* the entry sorts first */
}

uint32_t *graph_sorted_records(const render_ctx *c, const rectab *t, unsigned nkeys);
size_t graph_lower_bound(const render_ctx *c, const rectab *t, const uint32_t *order, size_t n, uint32_t region_id);

#endif
