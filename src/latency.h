/*
 * latency.h - the latency of calls, carried from a source to the graph as
 * sums and counts so that averages merge exactly (pages, flows, `other`).
 *
 * A source fills one per raw row: sum_ms and n are the summed durations and
 * the number of calls they cover (from a duration field: its sum and value
 * count; from pre-aggregated metrics: the sum field and the count field);
 * max_ms is the longest single call where the data has one (max_n > 0 says
 * how many calls it covers; pre-aggregated metrics have none). Everything
 * zero means "no latency". Adding is exact for sums and counts and takes the
 * maximum of maxima, so the order of adds changes nothing but rounding.
 *
 * The graph writes {"avg": sum/n, "max": max} in milliseconds, rounded to
 * microseconds so that a file flow and Elasticsearch (which sums in another
 * order) give the same bytes.
 */
#ifndef VIZ_LATENCY_H
#define VIZ_LATENCY_H

#include <stdbool.h>

#include "jsonw.h"

typedef struct {
    double sum_ms; /* summed durations, ms */
    double n;      /* calls the sum covers */
    double max_ms; /* longest call, ms; meaningful when max_n > 0 */
    double max_n;  /* calls the max covers */
} latency;

/* into += l (a NULL l adds nothing); ignores non-finite or negative parts. */
void latency_add(latency *into, const latency *l);
/* true when l holds calls; *avg_ms gets their average. */
bool latency_avg(const latency *l, double *avg_ms);
/* Writes `"latency_ms":{"avg":A,"max":M}` (max only when known) into an open
 * object, nothing when l holds no call. */
void latency_write(jsonw *w, const latency *l);
/* A duration in ms as a notice shows it: "840 ms", "1.2 s". */
void latency_format(double ms, char *out, unsigned outlen);

#endif
