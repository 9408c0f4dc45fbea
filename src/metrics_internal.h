/*
 * metrics_internal.h - what only the tests use of the metrics registry: they
 * read a series back and start each case from an empty registry. The daemon
 * never does either (a scrape renders everything; the registry lives as
 * long as the process), so these stay out of metrics.h.
 */
#ifndef VIZ_METRICS_INTERNAL_H
#define VIZ_METRICS_INTERNAL_H

#include "metrics.h"

/* The value of one series, 0 when it does not exist. */
double metrics_get(const char *name, const char *labels);
/* Drops every series and declaration; not safe while other threads update. */
void metrics_reset(void);

#endif
