/*
 * graph_region.h - internal to the graph module: writing one region node of
 * the root (renderer "region"): its class, maxVolume, notices (class, stale,
 * partial data), metadata, nodes with their hosts, and connections.
 *
 * graph_write_region() builds the view (graph_view.h), sets r->max_volume from
 * the view's own rates (graph_state.h) and writes into c->w.
 */
#ifndef VIZ_GRAPH_REGION_H
#define VIZ_GRAPH_REGION_H

#include "graph_render.h"

void graph_write_region(render_ctx *c, region *r, const item *items, const graph_state *st);

#endif
