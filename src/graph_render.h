/*
 * graph_render.h - internal to the graph module: what the rendering files
 * share while graph_render() (graph.h) writes one model.
 *
 * Every interned name gets its bytewise rank first (graph_order.h), and all
 * later sorting compares ranks, not strings. Each edge becomes one or two
 * items of region views (caller side, callee side) and, for cross-region
 * calls and ingress, a connection of the root. A region view (graph_view.h)
 * is built from its items alone and written by graph_region.h; connections
 * and notices are written by graph_connection.h and graph_notice.h.
 *
 * A render_ctx lives for one graph_render() call, on one thread; it owns its
 * buffers and arrays, and borrows the model, configuration and options.
 */
#ifndef VIZ_GRAPH_RENDER_H
#define VIZ_GRAPH_RENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"
#include "graph_model.h"
#include "jsonw.h"
#include "latency.h"
#include "util.h"

enum { NODE_ENTRY, NODE_SERVICE, NODE_STANDIN, NODE_OTHER };

/* One contribution of an edge to a view: ids are service ids (NODE_SERVICE)
 * or region ids (NODE_STANDIN, and at the root). */
typedef struct {
    uint32_t src, dst;
    uint8_t src_kind, dst_kind;
    uint64_t flows;
    double count[CLASS_COUNT];
    latency lat;
    double base; /* calls in the baseline window (graph_model_set_baseline) */
} item;

/* A node of a region view while it is being built. */
typedef struct {
    uint8_t kind;
    uint32_t id; /* service or region id; NO_ID for entry and other */
    char *name;  /* final, unique in the view */
    bool owned;  /* name was built here and must be freed */
    uint32_t byte_rank;
    uint32_t final; /* index after merging into other */
    double activity;
    double in[CLASS_COUNT], out[CLASS_COUNT];
    double base_in, base_out; /* the same in the baseline window */
    latency lat_in;           /* of its incoming connections */
    uint64_t in_flows;
    double self[CLASS_COUNT];
    bool has_self;
    unsigned merged;
    bool connected;
    size_t host_begin, host_end; /* range in the sorted host list */
} vnode;

typedef struct {
    uint32_t src, dst; /* node indices */
    uint32_t seq;
    uint64_t flows;
    double count[CLASS_COUNT];
    latency lat;
    double base;
} conn;

/* A root-level region under construction. */
typedef struct {
    uint32_t id;
    char *name; /* unique at the root */
    bool owned;
    size_t item_begin, item_end;
    double ingress[CLASS_COUNT];
    double ingress_base, into_base; /* baseline calls of ingress, of into */
    latency ingress_lat;
    uint64_t ingress_flows;
    double into[CLASS_COUNT]; /* all calls into its services */
    uint64_t into_flows;
    uint64_t flows;    /* every flow that touched it */
    double self_total; /* self-calls of its services */
    double max_volume;
} region;

typedef struct {
    const graph_model *m;
    const graph_config *g;
    const graph_render_opts *o;
    double window_s;
    char window_text[32];
    uint32_t *rank; /* bytewise rank of every name id */
    uint32_t *host_order, *self_order;
    size_t nhosts, nself;
    jsonw w;
    buf text, escaped, query, link;
    graph_stats stats;
    int32_t *local; /* name id -> node index in the current view, -1 */
    int32_t *standin_local;
} render_ctx;

static inline double sum3(const double c[CLASS_COUNT]) {
    return c[0] + c[1] + c[2];
}

#endif
