/*
 * graph_connection.h - internal to the graph module: writing the metrics of
 * a node or connection, and a whole connection with its class, notice,
 * counts and latency (latency.h), at any level of the graph.
 *
 * A connection the error share leaves normal may be coloured by its average
 * latency (graph.thresholds.latency_*; min_rate applies as to errors). The
 * caller puts the connection's query into c->query first (graph_notice.h).
 * base: its calls in the baseline window; with a baseline, the connection's
 * metadata carries baseline_rate and its change (a gone one is drawn with
 * no traffic, class warning).
 */
#ifndef VIZ_GRAPH_CONNECTION_H
#define VIZ_GRAPH_CONNECTION_H

#include "graph_notice.h"

void graph_write_metrics(render_ctx *c, const double n[CLASS_COUNT]);
void graph_write_connection(render_ctx *c, const char *source, const char *target, const double n[CLASS_COUNT],
                            const latency *lat, uint64_t flows, double base, const notice_subject *ns);

#endif
