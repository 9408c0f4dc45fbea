/*
 * metrics.h - the process-wide metrics registry behind GET /metrics
 * (Prometheus text format 0.0.4).
 *
 * Any thread may update a metric; a mutex guards the table (a few hundred
 * series at most, so a lookup is cheap next to the work it measures).
 * A series is a name plus a label string written as Prometheus writes it,
 * e.g. metrics_add("vizfeed_http_requests_total", "path=\"/metrics\",code=\"200\"", 1);
 * the caller escapes label values (metrics_label_escape). Metric names follow
 * Prometheus conventions: vizfeed_ prefix, _total for counters, base units
 * (seconds, bytes).
 *
 * Calling sequence: metrics_declare_all() once at start (main.c), then
 * metrics_add()/metrics_set() from anywhere and metrics_render() for each
 * scrape (an MHD thread). Names and labels are copied; the registry lives as
 * long as the process. A series beyond the registry's bound, or of an
 * undeclared metric, is dropped rather than failing the caller (a metric
 * must never be why work fails), and so is a counter's negative delta.
 */
#ifndef VIZ_METRICS_H
#define VIZ_METRICS_H

#include "util.h"

typedef enum { METRIC_COUNTER, METRIC_GAUGE } metric_type;

/* Declares a metric's type and help text; series of undeclared metrics are
 * rejected (a typo must not silently create a new metric). */
void metrics_declare(const char *name, metric_type type, const char *help);
void metrics_add(const char *name, const char *labels, double delta);
void metrics_set(const char *name, const char *labels, double value);
void metrics_render(buf *out);
void metrics_label_escape(buf *out, const char *value);
/* Declares vizfeed's own metrics; called once at start. */
void metrics_declare_all(void);
/* Sets the standard process_* gauges (memory, CPU, file descriptors, start
 * time) from /proc; called when /metrics is scraped. */
void metrics_update_process(void);

#endif
