/*
 * latency.c - see latency.h.
 */
#include "latency.h"

#include <math.h>
#include <stdio.h>

static bool usable(double x) {
    return isfinite(x) && x >= 0;
}

void latency_add(latency *into, const latency *l) {
    if (!l || !usable(l->n) || !usable(l->sum_ms) || l->n <= 0) return;
    into->sum_ms += l->sum_ms;
    into->n += l->n;
    if (usable(l->max_n) && l->max_n > 0 && usable(l->max_ms)) {
        if (into->max_n <= 0 || l->max_ms > into->max_ms) into->max_ms = l->max_ms;
        into->max_n += l->max_n;
    }
}

bool latency_avg(const latency *l, double *avg_ms) {
    if (!(l->n > 0)) return false;
    *avg_ms = l->sum_ms / l->n;
    return true;
}

/* Microseconds: finer than any dashboard shows, coarse enough that sums
 * added in another order (Elasticsearch's shards) round to the same text. */
static double to_us(double ms) {
    return round(ms * 1000.0) / 1000.0;
}

void latency_write(jsonw *w, const latency *l) {
    double avg;
    if (!latency_avg(l, &avg)) return;
    jsonw_key(w, "latency_ms");
    jsonw_object_begin(w);
    jsonw_key(w, "avg");
    jsonw_double(w, to_us(avg));
    if (l->max_n > 0) {
        jsonw_key(w, "max");
        jsonw_double(w, to_us(l->max_ms));
    }
    jsonw_object_end(w);
}

void latency_format(double ms, char *out, unsigned outlen) {
    if (ms >= 10000)
        snprintf(out, outlen, "%.0f s", ms / 1000);
    else if (ms >= 1000)
        snprintf(out, outlen, "%.1f s", ms / 1000);
    else if (ms >= 10)
        snprintf(out, outlen, "%.0f ms", ms);
    else
        snprintf(out, outlen, "%.2g ms", ms);
}
