/*
 * graph_state.h - internal to the graph module: a region's maxVolume.
 *
 * maxVolume is 5 x the largest connection rate of the region view, rounded
 * up to the next step of 1, 2 or 5 x 10^k (at least 1). It depends on the
 * view alone, so the graph is a pure function of its window and the
 * configuration: two replicas publish the same bytes and the same ETag, and
 * a past window (GET /vizceral.json?at=T) renders as `vizfeed once --at T`
 * does. The steps keep particle density from following every small change
 * of the busiest rate; a rate that hovers around a step's boundary moves
 * maxVolume by one step (2 or 2.5 times), which is what a 15-minute decay
 * kept in memory used to smooth, at the price of a graph that depended on
 * what the process had seen before (README.md, "Windows on a grid").
 *
 * A graph_state (graph.h) therefore carries nothing that changes the bytes;
 * it stays in graph_render()'s signature so that callers keep compiling.
 * Any thread may call graph_max_volume().
 */
#ifndef VIZ_GRAPH_STATE_H
#define VIZ_GRAPH_STATE_H

#include "graph.h"

#define MAX_VOLUME_FACTOR 5.0 /* maxVolume is at least this many times the busiest connection's rate */

/* The maxVolume of a view whose busiest connection carries max_rate
 * requests per second: 1, 2 or 5 x 10^k, at least MAX_VOLUME_FACTOR x
 * max_rate and at least 1 (also for a rate that is not finite). */
double graph_max_volume(double max_rate);

#endif
