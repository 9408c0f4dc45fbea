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

#endif
