/*
 * history.h - past windows (GET /vizceral.json?at=T) and timelines (GET
 * /timeline.json, timeline.h), computed off the live path by a small pool
 * of worker threads (README.md, "Any past moment";
 * docs/ARCHITECTURE.md, "Threads and ownership").
 *
 * A past graph is exactly what `vizfeed once --at T` prints with the same
 * configuration: T rounded down to the interval's grid (util_align_ms), one
 * refresher (refresh.h) run for that window, the same renderer. Each of the
 * VIZ_HISTORY_WORKERS threads has a refresher of its own, made from the
 * configuration history_configure() gave last, so the live refresher is
 * never shared, never waited for and never delayed by a past window beyond
 * the CPU the workers take (they run at a lower priority than it).
 *
 * Jobs: a request names a window; a finished graph of the same window and
 * configuration is answered from the cache (VIZ_HISTORY_CACHE graphs, the
 * least recently used goes first); a request for a window already being
 * computed waits for that computation (one paged search per flow for the
 * window, plus its baseline window's unless the worker's refresher holds
 * it already, however many ask); any other becomes a job, queued for the next
 * free worker. At most VIZ_HISTORY_QUEUE jobs wait: beyond that the request
 * is refused as busy (HTTP 503 with a Retry-After of HISTORY_RETRY_MIN_S to
 * HISTORY_RETRY_MAX_S seconds, from the time the jobs ahead are taking).
 *
 * A worker keeps its refresher between jobs (its Elasticsearch connections
 * stay open, a file flow's source keeps following its file) while the
 * windows it is asked for move forward. It makes a fresh one for a window
 * that ends before its last one (a file source has dropped the events before
 * its last window), when the configuration changed, for every job of a
 * configuration with a replay flow (a replay source's live replay, for
 * windows after its recording, moves on at each collect), after a failed
 * job, and for a timeline after graphs (a timeline asks the sources as
 * `vizfeed timeline` does, as they were opened); so each answer is what a
 * refresher made afresh, as `vizfeed once` makes it, answers. An idle worker frees its refresher after HISTORY_IDLE_MS.
 *
 * Results: a graph whose window ended more than lag + VIZ_HISTORY_SETTLE_MS
 * ago can no longer change: it is immutable (cached until evicted, served
 * with a long max-age). A more recent one, and one with partial data (a
 * flow's degraded answer: failed or timed-out shards), is cached for one
 * interval. A window in which a flow failed is an error, never a graph (a
 * refresher would otherwise show the flow's last good part, from another
 * window), and is not cached. A timeline follows the same rules with its
 * rounded to_ms as the window end (a partial timeline is an error already,
 * timeline.h).
 *
 * Kinds of job: a graph (history_graph()) and a timeline
 * (history_timeline(), whose range, step and region are its key). Adding
 * one: a value in history_kind (and its label in kind_labels), its
 * parameters in history_key (compared by key_equal(); end_ms stays the
 * moment after which the answer cannot change), a request function that
 * checks its arguments and calls submit() (history.c), and a case in
 * compute() that turns the worker's refresher into a snapshot; queueing,
 * coalescing, the cache, immutability and the metrics are shared.
 *
 * Calling sequence: history_new() (starts the threads, idle until
 * configured); history_configure() at start and after every reload (takes
 * the configuration); history_graph() and history_timeline() from any
 * thread (HTTP's); on shutdown history_stop() (cuts the jobs in progress
 * within about a second, calls every waiting callback with
 * HISTORY_STOPPED, joins the threads) before the HTTP server stops, then
 * history_free().
 *
 * Callbacks: a history_done_fn is called exactly once per HISTORY_PENDING
 * answer, from a worker thread (or from history_stop()), with no lock of
 * this module held; it takes over res->snap's reference.
 *
 * Metrics (docs/METRICS.md): vizfeed_history_requests_total,
 * vizfeed_history_cache_hits_total, vizfeed_history_busy_total,
 * vizfeed_history_failures_total, vizfeed_history_computed_total and
 * vizfeed_history_compute_seconds_total, each by kind.
 */
#ifndef VIZ_HISTORY_H
#define VIZ_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "bounds.h"
#include "config.h"
#include "refresh.h"
#include "snapshot.h"

typedef struct history history;

typedef enum {
    HISTORY_GRAPH,    /* the graph of one past window */
    HISTORY_TIMELINE, /* a timeline (timeline.h): requests and errors per step */
    HISTORY_KINDS
} history_kind;

/* What a job computes; equal keys (and configurations) share one result. */
typedef struct {
    history_kind kind;
    int64_t end_ms; /* the moment after which the answer cannot change: a graph's window end (on the grid), a
                       timeline's to_ms */
    /* HISTORY_TIMELINE: the range and step as timeline_range() rounds them, and the region ("" for the regions view) */
    int64_t from_ms, to_ms, step_ms;
    char region[VIZ_NAME_MAX + 1];
} history_key;

typedef enum {
    HISTORY_OK,      /* snap is the answer */
    HISTORY_FAILED,  /* error says why (a flow failed, nothing to render) */
    HISTORY_STOPPED, /* the process is stopping */
} history_status;

typedef struct {
    history_status status;
    snapshot *snap;    /* HISTORY_OK: one reference, the receiver's */
    bool immutable;    /* the window can no longer change */
    int64_t max_age_s; /* how long a client may reuse it */
    char error[ERR_LEN];
} history_result;

typedef void (*history_done_fn)(void *ctx, history_result *res);

/* What history_graph() answered. */
typedef enum {
    HISTORY_READY,   /* *res holds the answer now (from the cache) */
    HISTORY_PENDING, /* done(ctx, res) will be called once */
    HISTORY_BUSY,    /* every worker busy, the queue full: *retry_after_s */
    HISTORY_BAD,     /* the request cannot be answered (T in the future, a range with too many points): err */
    HISTORY_OFF,     /* not configured, or stopping */
    HISTORY_NONE,    /* the configuration has no such answer (a flow whose source has no timeline): err */
} history_answer;

/* lookup: as refresher_new()'s (NULL: the built-in sources). NULL with err
 * when a thread cannot start. */
history *history_new(source_lookup_fn lookup, char *err);
/* Computes with cfg from now on (takes it: freed when the last worker is done
 * with it); the cache of the previous configuration is dropped. */
void history_configure(history *h, vizfeed_config *cfg);
/* The graph of the window ending at t_ms rounded down to the grid; now_ms
 * is the request's wall clock. */
history_answer history_graph(history *h, int64_t t_ms, int64_t now_ms, history_done_fn done, void *ctx,
                             history_result *res, int64_t *retry_after_s, char *err);
/* The timeline (timeline.h) of from_ms .. to_ms by step_ms (0: the
 * default, timeline_default_step() with the configuration's interval) of
 * region (NULL or "": by region); HISTORY_BAD with timeline_range()'s
 * reason for a range it refuses, or when to_ms is after now_ms;
 * HISTORY_NONE when a flow's source has no timeline op (a resolve_callee
 * flow), said before any work. Its bytes
 * are timeline_json()'s, as `vizfeed timeline` prints them; cached and
 * immutable as a graph whose window ends at the rounded to_ms. */
history_answer history_timeline(history *h, int64_t from_ms, int64_t to_ms, int64_t step_ms, const char *region,
                                int64_t now_ms, history_done_fn done, void *ctx, history_result *res,
                                int64_t *retry_after_s, char *err);
void history_stop(history *h);
void history_free(history *h);

#endif
