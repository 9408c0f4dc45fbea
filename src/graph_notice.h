/*
 * graph_notice.h - internal to the graph module: classes and notices
 * (README.md, "How the graph is built").
 *
 * graph_classify() gives 0 normal, 1 warning, 2 danger from the error share of a
 * node or connection. Classes need some danger traffic: a share of 0 is
 * never coloured, even with a warning threshold of 0, nor is traffic under
 * graph.min_rate. A notice's text is HTML-escaped (Vizceral inserts it with
 * innerHTML); its link is graph.notice_link with {query} {from} {to}
 * {region} {window} filled in URL-encoded, and only an http(s) link is kept.
 *
 * The caller puts the notice's KQL query into c->query (graph_kql_part()) before
 * graph_write_class_notice(). Everything writes into c->w; nothing fails (an
 * output over its cap shows in jsonw_failed()).
 */
#ifndef VIZ_GRAPH_NOTICE_H
#define VIZ_GRAPH_NOTICE_H

#include "config.h"
#include "graph_render.h"

/* What a notice is about: names for {from}/{to}/{region} and the query. */
typedef struct {
    const char *from, *to, *region;
    const char *subtitle;
} notice_subject;

extern const char *graph_class_names[];

int graph_classify(const render_ctx *c, const double n[CLASS_COUNT]);
const flow_config *graph_flow_at(const render_ctx *c, unsigned i);
const flow_config *graph_first_flow(const render_ctx *c, uint64_t flows);
void graph_kql_part(buf *q, const char *field, const char *value);
const char *graph_notice_link(render_ctx *c, const notice_subject *ns);
void graph_write_notice(render_ctx *c, int severity, const char *title, const char *subtitle, const char *link);
void graph_write_class_notice(render_ctx *c, int cls, const double n[CLASS_COUNT], uint64_t flows,
                              const notice_subject *ns);

/* Change against the baseline (README.md, "Baseline and change"), from the
 * calls now and in the baseline window (the same length): none unless the
 * model has a baseline and either rate reaches graph.min_rate. */
typedef enum { CHANGE_NONE, CHANGE_NEW, CHANGE_GONE, CHANGE_SURGE, CHANGE_DROP } graph_change;
extern const char *graph_change_names[]; /* metadata.change: "", "new", "gone", "surge", "drop" */
graph_change graph_change_of(const render_ctx *c, double now, double base);
/* The severity-1 notice of a change ("traffic 4.2× the usual: 840/s now,
 * 200/s 1w ago", "new since 1w ago", "no traffic now: 12/s 1w ago"). */
void graph_write_change_notice(render_ctx *c, graph_change ch, double now, double base, const notice_subject *ns);
/* metadata.baseline ("1w") of the root and regions, when a baseline is configured. */
void graph_write_baseline_meta(render_ctx *c);
/* metadata.change, when there is one. */
void graph_write_change_meta(render_ctx *c, graph_change ch);
/* A model edge is drawn when it carries traffic now, or carried some in the
 * baseline that reaches min_rate (a gone edge). */
bool graph_edge_drawn(const render_ctx *c, const record *e);

#endif
