/*
 * refresh.c - one refresh (refresh.h): asks every flow's source for its
 * rows, maps them through the topology, builds and renders the graph and
 * wraps it in a snapshot. Shared by the daemon and `vizfeed once`, so both
 * produce the same bytes.
 */
#include "refresh.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "source.h"
#include "topology.h"

/* What the refresher remembers about one flow between refreshes. */
typedef struct {
    const flow_config *flow;
    const source_ops *ops;
    source *src;
    graph_model *model;       /* the flow's part of the last good refresh */
    int64_t data_end_ms;      /* window end of that part; 0 = never answered */
    int failures;             /* consecutive failed refreshes */
    int64_t failing_since_ms; /* window end of the first of them */
    source_stats reported;    /* stats already added to /metrics */
    char *labels;             /* flow="NAME", escaped once for every metric of the flow */
    char error[ERR_LEN];
    topology_memo *memo; /* its own while it runs in a thread of its own; NULL otherwise */
    /* Baseline: the model of the baseline window that ends at base_end_ms
     * (0 = none), and why the last try to get one failed. */
    graph_model *base_model;
    int64_t base_end_ms;
    int64_t held_from_ms; /* ops->held_from after the last collect; INT64_MIN = all */
    bool base_collected;  /* collected (not reused) in this refresh */
    char base_error[ERR_LEN];
    char base_logged[ERR_LEN]; /* the last reason logged, so a lasting failure is logged once */
    /* ops->degraded() of the live collect, copied before the baseline
     * collect replaces the source's own string. */
    char degraded[SOURCE_DEGRADED_LEN];
    bool is_degraded;
} flow_state;

struct refresher {
    const vizfeed_config *cfg;
    topology *topo;
    topology_memo *memo; /* the topology's answers during one refresh */
    graph_state *state;
    flow_state *flows;
    size_t nflows;
    int64_t last_success_mono_ms; /* last refresh in which every flow answered */
    int64_t deadline_ms;          /* how long a refresh may take a flow (cfg_refresh_deadline_ms) */
    atomic_bool stop;             /* refresher_stop() was called, from any thread */
    char baseline_error[ERR_LEN]; /* refresh_result.baseline_error */
};

bool refresher_baseline_window(const vizfeed_config *cfg, int64_t window_end_ms, int64_t *start_ms, int64_t *end_ms) {
    if (cfg->graph.baseline_ms <= 0) return false;
    int64_t end = util_align_ms(window_end_ms - cfg->graph.baseline_ms, BASELINE_EVERY * cfg->interval_ms);
    *end_ms = end;
    *start_ms = end - cfg->window_ms;
    return true;
}

refresher *refresher_new(const vizfeed_config *cfg, source_lookup_fn lookup, char *err) {
    assert(cfg);
    refresher *r = xcalloc(1, sizeof *r);
    r->cfg = cfg;
    r->topo = topology_new(cfg->topology, cfg->ntopology, cfg->path, err);
    if (!r->topo) goto fail;
    r->memo = topology_memo_new(r->topo);
    r->state = graph_state_new();
    r->deadline_ms = cfg_refresh_deadline_ms(cfg);
    atomic_init(&r->stop, false);
    r->flows = xcalloc(cfg->nflows, sizeof *r->flows);
    for (size_t i = 0; i < cfg->nflows; i++) {
        flow_state *f = &r->flows[i];
        f->flow = &cfg->flows[i];
        f->ops = lookup ? lookup(f->flow) : source_ops_for_flow(f->flow);
        if (!f->ops) {
            util_fail(err, "flow '%s': sources of type %s are not available in this build", f->flow->name,
                      cfg_flow_type_name(f->flow->type));
            goto fail;
        }
        char why[ERR_LEN];
        f->src = f->ops->open(f->flow, cfg, why);
        if (!f->src) {
            util_fail(err, "flow '%s': %s", f->flow->name, why);
            goto fail;
        }
        /* Only now: refresher_free() releases the flows that opened. */
        buf labels;
        buf_init(&labels, 1024);
        buf_puts(&labels, "flow=\"");
        metrics_label_escape(&labels, f->flow->name);
        buf_putc(&labels, '"');
        /* Always fits: metrics_label_escape() cuts a value at METRICS_MAX_LABEL_VALUE bytes
         * (3 bytes each at worst, plus a hash), so a 2 KB flow name is a label of 400 at most. */
        assert(!buf_failed(&labels));
        f->labels = buf_take(&labels, NULL);
        r->nflows++;
    }
    return r;
fail:
    refresher_free(r);
    return NULL;
}

void refresher_take_over(refresher *r, refresher *old) {
    if (!r || !old) return;
    graph_state_free(r->state);
    r->state = old->state;
    old->state = graph_state_new();
    r->last_success_mono_ms = old->last_success_mono_ms;
}

void refresher_free(refresher *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nflows; i++) {
        r->flows[i].ops->close(r->flows[i].src);
        free(r->flows[i].labels);
        graph_model_free(r->flows[i].model);
        graph_model_free(r->flows[i].base_model);
        topology_memo_free(r->flows[i].memo);
    }
    free(r->flows);
    graph_state_free(r->state);
    topology_memo_free(r->memo);
    topology_free(r->topo);
    free(r);
}

void refresher_stop(refresher *r) {
    if (r) atomic_store(&r->stop, true);
}

typedef struct {
    refresher *r;
    topology_memo *memo;
    graph_model *model;
    unsigned flow;
    char *err;
} collect_ctx;

/* Called by a source for every distinct edge of the window. */
static int add_row(void *ctxp, const raw_row *row) {
    collect_ctx *ctx = ctxp;
    endpoint from, to;
    switch (topology_resolve_memo(ctx->r->topo, ctx->memo, &ctx->r->cfg->graph, row->value, &from, &to)) {
    case RESOLVE_NO_CALLEE:
        graph_model_add_dropped(
            ctx->model, row->count[CLASS_NORMAL] + row->count[CLASS_WARNING] + row->count[CLASS_DANGER], ctx->flow);
        return 0;
    case RESOLVE_SELF_CALL:
        graph_model_add_self_call(ctx->model, &to, row->count, ctx->flow);
        return 0;
    case RESOLVE_OK:
        break;
    }
    return graph_model_add_lat(ctx->model, &from, &to, row->count, &row->lat, ctx->flow, ctx->err);
}

/* Adds what a source counted since the last refresh to /metrics. */
static void report_source_stats(flow_state *f) {
    if (!f->ops->stats) return;
    source_stats now;
    f->ops->stats(f->src, &now);
    metrics_add("vizfeed_source_events_total", f->labels, (double)(now.events - f->reported.events));
    metrics_add("vizfeed_source_malformed_lines_total", f->labels, (double)(now.malformed - f->reported.malformed));
    struct {
        const char *reason;
        uint64_t delta;
    } drops[] = {{"oversize_line", now.oversize - f->reported.oversize},
                 {"no_timestamp", now.no_timestamp - f->reported.no_timestamp},
                 {"event_limit", now.dropped - f->reported.dropped}};
    buf labels;
    buf_init(&labels, strlen(f->labels) + 64);
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++) {
        buf_reset(&labels);
        buf_printf(&labels, "%s,reason=\"%s\"", f->labels, drops[i].reason);
        metrics_add("vizfeed_events_dropped_total", buf_cstr(&labels), (double)drops[i].delta);
    }
    buf_free(&labels);
    f->reported = now;
}

static void count_flow_failure(const flow_state *f) {
    metrics_add("vizfeed_refresh_failures_total", f->labels, 1);
}

/* Why a flow cannot have a baseline at all, or NULL. */
static const char *baseline_impossible(const refresher *r, const flow_state *f) {
    /* One reason for both, so that a replay gives the recorded run's bytes. */
    if (f->flow->type == FLOW_REPLAY || !util_str_empty(r->cfg->record_dir))
        return "recordings (--record) and replay flows hold the live windows only";
    return NULL;
}

static void baseline_failed(flow_state *f, const char *why) {
    snprintf(f->base_error, sizeof f->base_error, "%s", why);
    graph_model_free(f->base_model);
    f->base_model = NULL;
    f->base_end_ms = 0;
    metrics_add("vizfeed_baseline_failures_total", f->labels, 1);
    if (strcmp(f->base_logged, f->base_error) != 0) {
        log_msg(LOG_LEVEL_WARN, "flow '%s': no baseline, the graph shows no changes: %s", f->flow->name, f->base_error);
        snprintf(f->base_logged, sizeof f->base_logged, "%s", f->base_error);
    }
}

/* After a good live collect: the flow's baseline window, collected through
 * the same source unless the flow already holds the model of that window. A
 * failure only takes the change marks away (refresh.h). */
static void refresh_flow_baseline(refresher *r, flow_state *f, unsigned index, int64_t end_ms, int64_t deadline_ms) {
    int64_t bstart, bend;
    f->base_collected = false;
    if (!refresher_baseline_window(r->cfg, end_ms, &bstart, &bend)) return;
    if (f->base_model && f->base_end_ms == bend) return;
    const char *impossible = baseline_impossible(r, f);
    if (impossible) {
        baseline_failed(f, impossible);
        return;
    }
    if (f->held_from_ms != INT64_MIN && f->held_from_ms > bstart) {
        char when[40], why[ERR_LEN];
        util_format_time_ms(f->held_from_ms, when, sizeof when);
        snprintf(why, sizeof why, "the source holds data only from %s, after the baseline window's start", when);
        baseline_failed(f, why);
        return;
    }
    graph_model *model = graph_model_new();
    char row_error[ERR_LEN] = "", why[ERR_LEN] = "";
    collect_ctx ctx = {.r = r, .memo = f->memo ? f->memo : r->memo, .model = model, .flow = index, .err = row_error};
    if (f->ops->limit) {
        source_limits limits = {.deadline_ms = deadline_ms, .budget_ms = r->deadline_ms, .stop = &r->stop};
        f->ops->limit(f->src, &limits);
    }
    int rc = f->ops->collect(f->src, bstart, bend, add_row, &ctx, why);
    report_source_stats(f);
    f->base_collected = true;
    metrics_add("vizfeed_baseline_collects_total", f->labels, 1);
    /* A partial baseline (shards failed, cut by the deadline) would show
     * drops and gone edges that are not there: none is better. */
    const char *partial = rc == 0 && f->ops->degraded ? f->ops->degraded(f->src) : NULL;
    if (rc < 0 || partial) {
        char full[ERR_LEN];
        snprintf(full, sizeof full, "baseline window: %.400s",
                 partial        ? partial
                 : row_error[0] ? row_error
                 : why[0]       ? why
                                : "failed");
        graph_model_free(model);
        baseline_failed(f, full);
        return;
    }
    graph_model_free(f->base_model);
    f->base_model = model;
    f->base_end_ms = bend;
    f->base_error[0] = '\0';
    f->base_logged[0] = '\0';
}

/* Runs one flow's source for the window; on success its model replaces the
 * flow's last good one. Touches only the flow's own state (and the
 * thread-safe metrics), so flows may run in threads of their own. */
static int refresh_flow(refresher *r, unsigned index, int64_t start_ms, int64_t end_ms, int64_t deadline_ms) {
    flow_state *f = &r->flows[index];
    graph_model *model = graph_model_new();
    /* The rows' own failure (the edge limit) gets a buffer of its own: a
     * source that stops because emit() refused would otherwise overwrite the
     * real reason with its "stopped by the consumer". */
    char row_error[ERR_LEN] = "";
    collect_ctx ctx = {.r = r, .memo = f->memo ? f->memo : r->memo, .model = model, .flow = index, .err = row_error};
    f->error[0] = '\0';
    f->base_collected = false;
    if (f->ops->limit) {
        source_limits limits = {.deadline_ms = deadline_ms, .budget_ms = r->deadline_ms, .stop = &r->stop};
        f->ops->limit(f->src, &limits);
    }
    int rc = f->ops->collect(f->src, start_ms, end_ms, add_row, &ctx, f->error);
    report_source_stats(f);
    if (rc < 0) {
        if (row_error[0]) snprintf(f->error, sizeof f->error, "%s", row_error);
        if (!f->error[0]) snprintf(f->error, sizeof f->error, "the source stopped without a reason");
        graph_model_free(model);
        if (f->failures++ == 0) f->failing_since_ms = end_ms;
        count_flow_failure(f);
        return -1;
    }
    graph_model_free(f->model);
    f->model = model;
    f->data_end_ms = end_ms;
    f->failures = 0;
    f->failing_since_ms = 0;
    const char *degraded = f->ops->degraded ? f->ops->degraded(f->src) : NULL;
    f->is_degraded = degraded != NULL;
    if (degraded) snprintf(f->degraded, sizeof f->degraded, "%s", degraded);
    f->held_from_ms = f->ops->held_from ? f->ops->held_from(f->src) : INT64_MIN;
    refresh_flow_baseline(r, f, index, end_ms, deadline_ms);
    return 0;
}

/* A flow that waits on the network runs in a thread of its own, so that the
 * flows of one refresh wait for their clusters side by side: a refresh takes
 * as long as its slowest flow, which its deadline bounds, instead of the sum
 * of them, and a flow that hangs until the deadline delays the others' data
 * by no more than that. Flows that only read local files run in the
 * refresher's thread (their work is CPU, which threads would not shorten on
 * a small machine, and ./dev bench measures it there). */
typedef struct {
    refresher *r;
    unsigned index;
    int64_t start_ms, end_ms, deadline_ms;
    int rc;
    double cpu_seconds;
    pthread_t thread;
    bool threaded;
} flow_job;

static void *flow_thread(void *arg) {
    flow_job *job = arg;
    double cpu = util_thread_cpu_seconds();
    job->rc = refresh_flow(job->r, job->index, job->start_ms, job->end_ms, job->deadline_ms);
    job->cpu_seconds = util_thread_cpu_seconds() - cpu;
    return NULL;
}

/* Gives the merged model its baseline when every merged flow has the one
 * of its data's window; else returns why not (the graph then has no change
 * marks: half a baseline would call the other flows' edges new or gone). */
static const char *attach_baseline(refresher *r, graph_model *all, const bool *merged, int64_t window_bstart) {
    graph_model *base = graph_model_new();
    const char *why = NULL;
    for (unsigned i = 0; i < r->nflows && !why; i++) {
        flow_state *f = &r->flows[i];
        if (!merged[i]) continue;
        int64_t bstart, bend;
        refresher_baseline_window(r->cfg, f->data_end_ms, &bstart, &bend);
        if (!f->base_model || f->base_end_ms != bend) {
            snprintf(r->baseline_error, sizeof r->baseline_error, "flow '%.100s': %.380s", f->flow->name,
                     f->base_error[0] ? f->base_error : "its baseline window has not been collected");
            why = r->baseline_error;
        } else if (graph_model_edges(base) + graph_model_edges(f->base_model) > VIZ_MAX_EDGES ||
                   graph_model_merge(base, f->base_model, r->baseline_error) < 0) {
            snprintf(r->baseline_error, sizeof r->baseline_error, "the baseline passes %u distinct edges",
                     VIZ_MAX_EDGES);
            why = r->baseline_error;
        }
    }
    if (!why && graph_model_set_baseline(all, base) == 0) {
        char from[40];
        util_format_time_ms(window_bstart, from, sizeof from);
        snprintf(r->baseline_error, sizeof r->baseline_error,
                 "no traffic at all in the baseline window from %s: data not kept that long", from);
        why = r->baseline_error;
    }
    graph_model_free(base);
    return why;
}

snapshot *refresher_run(refresher *r, int64_t window_end_ms, refresh_result *res, char *err) {
    assert(r && res);
    const vizfeed_config *cfg = r->cfg;
    double started = util_monotonic_seconds(), cpu_started = util_thread_cpu_seconds(), cpu_workers = 0;
    memset(res, 0, sizeof *res);
    int64_t start_ms = window_end_ms - cfg->window_ms;

    graph_model *all = graph_model_new();
    graph_flow_info *infos = xcalloc(r->nflows, sizeof *infos);
    snapshot *snap = NULL;
    buf json;
    buf_init(&json, VIZ_MAX_GRAPH_JSON);

    flow_job *jobs = xcalloc(r->nflows ? r->nflows : 1, sizeof *jobs);
    int64_t deadline_ms = util_monotonic_ms() + r->deadline_ms;
    for (unsigned i = 0; i < r->nflows; i++) {
        flow_state *f = &r->flows[i];
        jobs[i] =
            (flow_job){.r = r, .index = i, .start_ms = start_ms, .end_ms = window_end_ms, .deadline_ms = deadline_ms};
        if (!f->ops->limit) continue;
        if (!f->memo) f->memo = topology_memo_new(r->topo);
        /* Without a thread (none to be had) the flow runs below, in turn. */
        jobs[i].threaded = pthread_create(&jobs[i].thread, NULL, flow_thread, &jobs[i]) == 0;
    }
    for (unsigned i = 0; i < r->nflows; i++)
        if (!jobs[i].threaded) jobs[i].rc = refresh_flow(r, i, start_ms, window_end_ms, deadline_ms);
    for (unsigned i = 0; i < r->nflows; i++) {
        if (!jobs[i].threaded) continue;
        pthread_join(jobs[i].thread, NULL);
        cpu_workers += jobs[i].cpu_seconds;
    }
    res->stopped = atomic_load(&r->stop);

    bool any_data = false;
    bool *merged = xcalloc(r->nflows + 1, sizeof *merged);
    int64_t *held_from = xcalloc(r->nflows + 1, sizeof *held_from);
    for (unsigned i = 0; i < r->nflows; i++) {
        flow_state *f = &r->flows[i];
        held_from[i] = f->held_from_ms == INT64_MIN ? 0 : f->held_from_ms;
        if (f->base_collected) res->baseline_collects++;
        if (jobs[i].rc == 0) {
            res->flows_ok++;
        } else {
            res->flows_failed++;
            res->flow_error[i] = f->error;
        }
        infos[i].flow = f->flow;
        infos[i].data_end_ms = f->data_end_ms;
        infos[i].stale_since_ms = f->failures >= REFRESH_STALE_AFTER ? f->failing_since_ms : 0;
        infos[i].degraded = f->failures == 0 && f->is_degraded ? f->degraded : NULL;
        if (!f->model) continue;
        /* Together the flows may pass the edge limit: then this flow's part is
         * left out whole (never half merged) and it counts as failed, so the
         * others are still shown and the loss is visible. */
        if (graph_model_edges(all) + graph_model_edges(f->model) > VIZ_MAX_EDGES ||
            graph_model_merge(all, f->model, f->error) < 0) {
            if (!res->flow_error[i]) {
                snprintf(f->error, sizeof f->error, "left out: with the other flows it passes %u distinct edges",
                         VIZ_MAX_EDGES);
                res->flows_ok--, res->flows_failed++;
                count_flow_failure(f);
            }
            res->flow_error[i] = f->error;
            continue;
        }
        merged[i] = true;
        any_data = true;
    }
    /* Values of the next refresh may differ: memory follows one refresh. */
    res->regex_skipped = topology_memo_skipped(r->memo);
    topology_memo_reset(r->memo);
    for (unsigned i = 0; i < r->nflows; i++) {
        if (!r->flows[i].memo) continue;
        res->regex_skipped += topology_memo_skipped(r->flows[i].memo);
        topology_memo_reset(r->flows[i].memo);
    }
    free(jobs);
    if (res->stopped) {
        /* The flows were cut short: what they have is not worth publishing. */
        util_fail(err, "stopped");
        goto done;
    }
    if (!any_data) {
        util_fail(err, "no flow has answered yet");
        goto done;
    }
    if (res->flows_failed == 0) r->last_success_mono_ms = util_monotonic_ms();

    int64_t bstart = 0, bend = 0;
    if (refresher_baseline_window(cfg, window_end_ms, &bstart, &bend)) {
        res->baseline_error = attach_baseline(r, all, merged, bstart);
        if (res->baseline_error) metrics_add("vizfeed_baseline_missing_total", "", 1);
    }
    graph_render_opts opts = {.window_end_ms = window_end_ms,
                              .window_ms = cfg->window_ms,
                              .flows = infos,
                              .nflows = r->nflows,
                              .baseline_ms = cfg->graph.baseline_ms,
                              .baseline_error = res->baseline_error,
                              .held_from_ms = held_from,
                              .baseline_start_ms = bstart};
    if (graph_render(all, &cfg->graph, r->state, &opts, &json, &res->stats, err) < 0) goto done;
    size_t len;
    char *bytes = buf_take(&json, &len);
    snap = snapshot_new(bytes, len, window_end_ms, r->last_success_mono_ms, err);
    if (snap) {
        snap->nodes = res->stats.regions + res->stats.services;
        snap->connections = res->stats.connections;
        for (size_t i = 0; i < r->nflows; i++) snap->stale |= infos[i].stale_since_ms != 0;
    }
done:
    res->seconds = util_monotonic_seconds() - started;
    res->cpu_seconds = util_thread_cpu_seconds() - cpu_started + cpu_workers;
    buf_free(&json);
    free(infos);
    free(merged);
    free(held_from);
    graph_model_free(all);
    return snap;
}

const vizfeed_config *refresher_config(const refresher *r) {
    return r->cfg;
}

const struct topology *refresher_topology(const refresher *r) {
    return r->topo;
}

source *refresher_source(const refresher *r, size_t i) {
    return i < r->nflows ? r->flows[i].src : NULL;
}

const atomic_bool *refresher_stop_flag(const refresher *r) {
    return &r->stop;
}
