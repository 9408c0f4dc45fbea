/*
 * graph_config.h - the `graph:` section of the configuration (README.md,
 * "Configuration"): how the graph is named, coloured and capped.
 *
 * Filled and owned by the configuration (config.h includes this header; its
 * strings are malloc'd there and never NULL; "" means "not set"); read by
 * topology (entry node, default region) and by the renderer (graph.h), which
 * include this header alone rather than the whole configuration.
 */
#ifndef VIZ_GRAPH_CONFIG_H
#define VIZ_GRAPH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;           /* root graph name, default "edge" */
    char *entry;          /* entry node, default "INTERNET" */
    char *default_region; /* default "default" */
    int max_services;     /* per region, default 100 */
    double warning;       /* error share thresholds, default 0.03 and 0.10 */
    double danger;
    double min_rate; /* requests/s below which nothing is coloured, default 0.1 */
    /* Average latency (ms) from which a connection that its error share does
     * not colour is warning / danger; 0 = off (the default). */
    int64_t latency_warning_ms;
    int64_t latency_danger_ms;
    char *notice_link; /* "" = no links */
    /* graph.baseline: how far back the window each refresh is compared
     * with (README.md, "Baseline and change"); 0 = off. Default 1w. */
    int64_t baseline_ms;
    double surge; /* graph.thresholds.surge: now/baseline ratio (or its inverse) that is a surge (drop), default 3 */
} graph_config;

/* How a baseline is named in notices and metadata: "1w", "1d", "36h",
 * "off" for 0 (graph_notice.c). */
void graph_baseline_text(int64_t baseline_ms, char *out, size_t outlen);

#endif
