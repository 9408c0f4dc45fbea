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
 * Calling sequence per render: graph_state_decayed_max() for each region (reads only),
 * then, once the render has succeeded, graph_state_commit() with every region's
 * final value; a failed render leaves the state as it was. Not thread-safe.
 */
#ifndef VIZ_GRAPH_STATE_H
#define VIZ_GRAPH_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "graph.h"

/* The maxVolume of region `name` for a view whose target is `target`, at
 * window end end_ms: target, or the region's last value decayed, whichever
 * is larger. */
double graph_state_decayed_max(const graph_state *st, const char *name, double target, int64_t end_ms);
/* Replaces the state by the nregions regions just rendered, keeping other
 * regions seen within the last hour. */
void graph_state_commit(graph_state *st, const char *const *names, const double *volumes, size_t nregions,
                        int64_t end_ms);

#endif
