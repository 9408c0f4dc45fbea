/*
 * graph_state.h - internal to the graph module: the decaying maximum volume
 * per region that a graph_state (graph.h) carries between renders.
 *
 * maxVolume: target = 5 x the largest connection rate of the region view
 * (at least 1). The state keeps, per region, the value and window end of the
 * last render; the new value is max(target, previous halved every 15 minutes
 * of window time), so particle density changes slowly after a burst but
 * follows growth at once. A fresh state yields the target, which keeps
 * `vizfeed once` reproducible. Regions unseen for an hour are forgotten.
 *
 * Calling sequence per render: decayed_max() for each region (reads only),
 * then, once the render has succeeded, commit_state() with every region's
 * final value; a failed render leaves the state as it was. Not thread-safe.
 */
#ifndef VIZ_GRAPH_STATE_H
#define VIZ_GRAPH_STATE_H

#include "graph_render.h"

double decayed_max(const graph_state *st, const char *region, double target, int64_t end_ms);
void commit_state(graph_state *st, const graph_model *m, const region *regions, size_t nregions, int64_t end_ms);

#endif
