/*
 * graph_view.h - internal to the graph module: one region's view (its
 * nodes and connections) built from the region's items.
 *
 * other: when a region has more than max_services services, the
 * max_services - 1 busiest (count in + out, ties by name) stay and the rest
 * become one service node "other" ("other (merged)" if a kept service is
 * already called "other"), so a view never shows more than max_services
 * services. Its edges are the sums of theirs; calls between two merged
 * services are not an edge but are counted in other's metadata as
 * self-calls. Hosts of merged services are not listed (other has no host
 * sub-nodes): a list of hosts of unrelated services would mislead.
 *
 * graph_view_build() uses c->local and c->standin_local (name id -> node index,
 * -1 when absent) and leaves the entries of the region's names set: the
 * caller resets them before the next region. graph_view_free() releases it.
 */
#ifndef VIZ_GRAPH_VIEW_H
#define VIZ_GRAPH_VIEW_H

#include "config.h"
#include "graph_render.h"

typedef struct {
    vnode *nodes;
    size_t n, cap;
    conn *conns;
    size_t nconns;
    unsigned hidden;
    double max_rate;
    uint64_t flows;
    bool has_ingress;
} view;

void graph_view_build(render_ctx *c, const region *r, const item *items, view *v);
void graph_view_free(view *v);
/* Query part of a node seen as caller (from = true) or callee. */
void graph_node_query(render_ctx *c, const flow_config *f, const vnode *v, bool from);
/* The name a node has in the data (not the view's unique name). */
const char *graph_data_name(const render_ctx *c, const vnode *v);

#endif
