/*
 * graph.h - from edge counts to the Vizceral graph (README.md, "How the graph is built").
 *
 * Two steps, so that a failed refresh can re-render the last good data:
 *
 *   graph_model  the traffic of one window: counts per (from region, from
 *                service) -> (to region, to service), per callee host, per
 *                service self-call, and which flows contributed. Built with
 *                graph_model_add() from resolved rows; models of several flows
 *                combine with graph_model_merge().
 *   graph_render writes the three-level Vizceral JSON of a model: rates per
 *                second, classes, notices, maxVolume, the `other` node, stale
 *                marks, and, for a model given its baseline
 *                (graph_model_set_baseline), baseline rates and new / gone /
 *                surge / drop marks, in a deterministic order (same model +
 *                options = same bytes).
 *
 * Nothing persists between refreshes: a graph is a function of its model
 * and options, so replicas and `vizfeed once --at T` agree byte for byte.
 * graph_state is what once carried a decaying maxVolume; it now holds
 * nothing (graph_state.h) and stays in the API so that callers need not
 * change.
 *
 * Counts are clamped to [0, VIZ_MAX_COUNT] as they come in: a negative or
 * NaN count, or one below 1e-6, carries no traffic; a larger or infinite one
 * is clamped and counted (graph_stats.clamped, the root's
 * metadata.clamped_counts), so that no sum or rate can become infinite or
 * too long to print as JSON.
 *
 * Implementation: graph_model.c (the model, over graph_intern.c's names),
 * graph_render.c (rendering, with graph_view.c, graph_region.c,
 * graph_connection.c, graph_notice.c, graph_names.c, graph_order.c) and
 * graph_state.c; their graph_*.h headers are internal to the module.
 *
 * Ownership: the caller owns models, states and the output buf. Strings are
 * copied in. Errors: -1 with a reason in err (edge limit reached, output over
 * its cap).
 *
 * Threads: a model belongs to one thread at a time (refresh.c's workers each
 * fill their own; the refresher merges and renders them). graph_render()
 * sorts names through a thread-local (graph_order.h: qsort has no context),
 * so renders in different threads (the live refresher and the history
 * workers, history.h) run side by side; a state belongs to the thread that
 * renders with it.
 */
#ifndef VIZ_GRAPH_H
#define VIZ_GRAPH_H

#include <stdint.h>

#include "graph_config.h"
#include "latency.h"
#include "rows.h"
#include "util.h"

struct flow_config; /* config.h */

typedef struct graph_model graph_model;
typedef struct graph_state graph_state;

graph_model *graph_model_new(void);
void graph_model_free(graph_model *m);
/* flow is the flow's index in the configuration (< VIZ_MAX_FLOWS). */
int graph_model_add(graph_model *m, const endpoint *from, const endpoint *to, const double count[CLASS_COUNT],
                    unsigned flow, char *err);
/* graph_model_add() with the calls' latency (NULL or all zero: none); the
 * edge's and the callee's metadata.latency_ms then show it (latency.h). */
int graph_model_add_lat(graph_model *m, const endpoint *from, const endpoint *to, const double count[CLASS_COUNT],
                        const latency *lat, unsigned flow, char *err);
/* A call from a service to itself: not an edge, counted in the node's metadata. */
void graph_model_add_self_call(graph_model *m, const endpoint *ep, const double count[CLASS_COUNT], unsigned flow);
/* Events dropped because the callee had no service. */
void graph_model_add_dropped(graph_model *m, double count, unsigned flow);
int graph_model_merge(graph_model *into, const graph_model *from, char *err);
size_t graph_model_edges(const graph_model *m);
/* Gives the model its baseline (README.md, "Baseline and change"): every
 * edge's record gets the calls its pair had in base (all classes summed,
 * merged models of every flow), and an edge of base that m lacks is made
 * with no traffic now, so that the render draws it as gone. Edges of base
 * past VIZ_MAX_EDGES are left out (their calls counted in the model). From
 * then on the render writes metadata.baseline_rate and the change marks.
 * Call it once, after every merge into m. Returns the number of base's
 * edges with traffic; with none, m is left as it was (an empty baseline is
 * data not kept that long, and would call every edge new). */
size_t graph_model_set_baseline(graph_model *m, const graph_model *base);

/* What the renderer needs to know about each flow. */
typedef struct {
    const struct flow_config *flow; /* name, fields (for notice queries), labels */
    int64_t data_end_ms;            /* window end of the data its part holds; 0 = no data yet */
    int64_t stale_since_ms;         /* 0 = fresh; else regions it feeds get a stale notice */
    const char *degraded; /* NULL, or why its last data is partial: regions it feeds get a severity-1 notice */
} graph_flow_info;

typedef struct {
    int64_t window_end_ms;        /* `updated` and `serverUpdateTime` of the root */
    int64_t window_ms;            /* rates = count / window seconds */
    const graph_flow_info *flows; /* indexed like the configuration's flows */
    size_t nflows;
    /* Baseline (graph.baseline): non-zero writes metadata.baseline on the
     * root and regions; the change marks need the model's baseline too
     * (graph_model_set_baseline). baseline_error: why this render has none
     * (root metadata.baseline_error), NULL when it has or it is off. */
    int64_t baseline_ms;
    const char *baseline_error;
    /* The earliest time the flows' sources hold data for, per flow (0 =
     * unknown / all); a window or baseline window starting earlier gets a
     * "history" note in the region's metadata. NULL = none. */
    const int64_t *held_from_ms;
    int64_t baseline_start_ms; /* start of the baseline window, for that note */
} graph_render_opts;

typedef struct {
    unsigned regions;
    unsigned services;    /* service nodes over all regions (entry, other-region stand-ins excluded) */
    unsigned connections; /* over all levels */
    unsigned hidden;      /* services merged into `other` */
    uint64_t clamped;     /* counts over VIZ_MAX_COUNT (or infinite) that were clamped to it */
} graph_stats;

graph_state *graph_state_new(void);
void graph_state_free(graph_state *st);

int graph_render(const graph_model *m, const graph_config *g, graph_state *st, const graph_render_opts *o, buf *out,
                 graph_stats *stats, char *err);

#endif
