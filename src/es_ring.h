/*
 * es_ring.h - the window of an incremental elasticsearch flow as a ring of
 * time slices of edge counts (source_es.c; README.md, "Incremental windows").
 *
 * The window [end - nslices * slice_ms, end) is cut into nslices slices of
 * slice_ms each, on the epoch grid (a slice starts at a multiple of
 * slice_ms). Each slice holds, per distinct raw row (the six endpoint values,
 * NULL included), its class counts and latency sums for the events of that
 * slice: exactly what one bucket of a composite aggregation with a
 * date_histogram source says.
 *
 * Calling sequence, per collect that updates the ring:
 *   es_ring_advance(r, end): the ring will end at `end`; slices that start
 *       before end - window are dropped;
 *   es_ring_open(r, slice_start, docs) for each slice to be read (new, or
 *       changed since it was read): the slice is emptied and held again,
 *       empty until its rows come (a re-read replaces, never adds; a slice
 *       with no documents is held empty: a quiet slice has no traffic), with
 *       `docs`, the documents the engine counted in it just before the read;
 *   es_ring_add(r, slice_start, row) for every bucket of the slice's answer;
 *   es_ring_emit(r, emit, ctx): one row per distinct raw row held, its counts
 *       and latency summed over the slices: the window's graph rows.
 * es_ring_docs() says whether a slice is held and with how many documents,
 * which tells the caller whether it changed since (source_es.c).
 * After a failed collect the caller calls es_ring_reset() (the ring is then
 * incomplete), and the next update fills it again from an empty ring.
 *
 * Exactness: counts are sums of integers below 2^53 (doc_count, or integer
 * count sums), so the sum over slices equals the whole window's sum. Latency
 * sums and counts add the same way; the maximum is the maximum of the
 * slices' maxima. Float sums of fractional values may differ in the last
 * bits from Elasticsearch's own order of summing, which the graph's
 * microsecond rounding of latency absorbs (latency.h).
 *
 * Memory: at most max_cells (slice, row) cells in all (source_es.c passes
 * ES_MAX_RING_CELLS, and keeps nslices within ES_MAX_RING_SLICES);
 * es_ring_add() returns -1 when one more would pass it (the caller falls back
 * to full queries). The ring copies each distinct row's values once, so the
 * names are bounded by the rows (max_cells) and VIZ_MAX_KEY_VALUE_BYTES a
 * value; the emitted rows' values point into the ring and are valid during
 * the emit() call only. Distinct rows that no slice holds any more are
 * forgotten by es_ring_emit() once they outnumber the live ones by 1024.
 *
 * Errors: es_ring_add() is the only call that fails (-1 with err); the others
 * cannot (allocation failure aborts, as everywhere in vizfeed).
 *
 * Threads: none of its own and no lock; a ring belongs to its source, used by
 * the thread collecting that flow (the flow's thread, refresh.h), one at a
 * time. The caller owns the ring: es_ring_new(), es_ring_free().
 */
#ifndef VIZ_ES_RING_H
#define VIZ_ES_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

typedef struct es_ring es_ring;

/* slice_ms > 0, nslices >= 1. */
es_ring *es_ring_new(int64_t slice_ms, int nslices, size_t max_cells);
void es_ring_free(es_ring *r);
/* Forgets everything. */
void es_ring_reset(es_ring *r);
/* end on the grid, not before the last advance's end. */
void es_ring_advance(es_ring *r, int64_t end_ms);
/* slice_start on the grid, within the window of the last advance. */
void es_ring_open(es_ring *r, int64_t slice_start_ms, double docs);
/* Whether the slice starting at slice_start is held, and its documents (of
 * its es_ring_open()). */
bool es_ring_docs(const es_ring *r, int64_t slice_start_ms, double *docs);
/* Adds a row to the slice starting at slice_start, which must be held. 0; -1
 * when it is not (err says so) or when the ring would pass max_cells
 * (*over_limit set). */
int es_ring_add(es_ring *r, int64_t slice_start_ms, const raw_row *row, bool *over_limit, char *err);
/* emit() per distinct row; a nonzero return stops it (returns -1). */
int es_ring_emit(es_ring *r, row_emit_fn emit, void *ctx);
/* Cells held now, over all slices. */
size_t es_ring_cells(const es_ring *r);

#endif
