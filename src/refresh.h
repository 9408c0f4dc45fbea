/*
 * refresh.h - one refresh: every flow's source -> raw rows -> topology ->
 * graph model -> rendered JSON -> snapshot.
 *
 * Calling sequence: refresher_new(cfg, NULL, err) compiles the topology and opens one
 * source per flow; refresher_run(r, window_end) is called once per refresh
 * (by the daemon's refresher thread, or once by `vizfeed once`); the
 * snapshot it returns belongs to the caller (one reference) and goes to the
 * sinks. A history worker (history.h) runs a refresher of its own the same
 * way for past windows. refresher_free() closes the sources. A refresher is
 * used by one thread at a time (besides refresher_stop()); the
 * configuration must outlive it. At most VIZ_MAX_FLOWS flows (config.c
 * refuses more); the rendered graph is bounded by VIZ_MAX_GRAPH_JSON.
 *
 * Failures are per flow: a flow whose source fails keeps its part of the
 * graph from its last good refresh; once it has failed
 * REFRESH_STALE_AFTER times in a row, the regions it feeds are marked stale.
 * A failing flow never stops the others.
 *
 * Baseline (graph.baseline, README.md "Baseline and change"): after a
 * flow's live collect, the same source collects the baseline window
 * (refresher_baseline_window()) into a model of its own, which the flow
 * keeps and collects again only when that window moves, i.e. once per
 * BASELINE_EVERY refreshes. The graph gets its change marks only when every
 * flow shown has the baseline of its window: a baseline that fails, that a
 * source does not hold (held_from) or that a replay flow cannot answer is
 * logged, counted (vizfeed_baseline_failures_total) and named in the root's
 * metadata.baseline_error, and the graph is rendered without change marks;
 * it never fails the refresh. With --record no baseline is collected: a
 * recording holds the live windows only, for replay. The baseline collect
 * runs on the thread that collects the flow (below), after its live collect
 * and within the same deadline.
 *
 * Time: a refresh gives every flow the same deadline, cfg_refresh_deadline_ms()
 * after it starts. Flows whose sources wait on the network (those with a
 * limit() op: elasticsearch flows, and any resolve_callee flow, whose
 * wrapper has one) run side by side, each in a thread of its own, and are cut at
 * the deadline: a flow that misses it fails alone, as any failure, while the
 * others are rendered and published when it is cut. refresher_stop() (from
 * any thread, e.g. on SIGTERM) makes a refresh in progress return within
 * about a second, with res->stopped set and no snapshot; so does every
 * later refresher_run() (NULL, err "stopped"): a stopped refresher stays so.
 *
 * Errors: refresher_new() returns NULL with err (bad topology, a source that
 * cannot open). refresher_run() returns NULL with err only when nothing can
 * be rendered (no flow has ever answered, or rendering itself failed), or
 * with err "stopped" (and res->stopped) after refresher_stop().
 */
#ifndef VIZ_REFRESH_H
#define VIZ_REFRESH_H

#include <stdint.h>

#include "config.h"
#include "graph.h"
#include "bounds.h"
#include "snapshot.h"
#include "source.h"

#define REFRESH_STALE_AFTER 3 /* consecutive failed refreshes before a flow's regions are marked stale */

typedef struct refresher refresher;

typedef struct {
    unsigned flows_ok;
    unsigned flows_failed;
    double seconds;     /* wall time of the whole refresh */
    double cpu_seconds; /* CPU time the refreshing threads used for it */
    bool stopped;       /* refresher_stop() cut it short: no snapshot */
    graph_stats stats;
    uint64_t regex_skipped; /* values resolved without some regex: the refresh's regex time ran out (topology.h) */
    /* Why each failed flow failed (NULL for flows that answered); the strings
     * belong to the refresher and stay valid until its next run. */
    const char *flow_error[VIZ_MAX_FLOWS];
    /* NULL when the graph has its change marks or the baseline is off; else
     * why not (belongs to the refresher, valid until its next run). */
    const char *baseline_error;
    unsigned baseline_collects; /* baseline windows collected (not reused) in this refresh */
} refresh_result;

/* Which source a flow uses; NULL for the built-in ones (source_ops_for).
 * Tests pass their own to script successes and failures. */
typedef const source_ops *(*source_lookup_fn)(const flow_config *flow);

refresher *refresher_new(const vizfeed_config *cfg, source_lookup_fn lookup, char *err);
snapshot *refresher_run(refresher *r, int64_t window_end_ms, refresh_result *res, char *err);
/* The baseline window of the window ending at window_end_ms: that end moved
 * back by graph.baseline and rounded down to a grid of BASELINE_EVERY
 * intervals, as long as the window. Returns false (and sets nothing) when
 * the baseline is off. Pure: `vizfeed query` prints its requests. */
bool refresher_baseline_window(const vizfeed_config *cfg, int64_t window_end_ms, int64_t *start_ms, int64_t *end_ms);
/* After a reload: the new refresher takes over the time of the old one's
 * last fully successful refresh, so a reload does not reset readiness, and
 * its graph state, which no longer changes the bytes (maxVolume is a pure
 * function of the view, graph_state.h): a reload renders a window as a
 * fresh process would. */
void refresher_take_over(refresher *r, refresher *old);
/* Asks the refresh in progress, and every later one, to stop as soon as it
 * can. Safe from any thread while another runs refresher_run(). */
void refresher_stop(refresher *r);
void refresher_free(refresher *r);

/* What timeline.c asks the flows through: the configuration, the compiled
 * topology, flow i's source (NULL for i past the last flow) and the stop flag
 * refresher_stop() sets. Borrowed: they live as long as the refresher, and
 * are used on the thread that uses the refresher. */
const vizfeed_config *refresher_config(const refresher *r);
const struct topology *refresher_topology(const refresher *r);
source *refresher_source(const refresher *r, size_t i);
const atomic_bool *refresher_stop_flag(const refresher *r);

#endif
