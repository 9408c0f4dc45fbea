/*
 * history.c - past windows on a pool of worker threads (history.h): the
 * queue, the coalescing of equal requests, the cache and the workers with
 * their own refreshers.
 */
#include "history.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bounds.h"
#include "log.h"
#include "metrics.h"
#include "timeline.h"
#include "util.h"

/* Lower than the live refresher's +15 (daemon.c): when the CPU is short, a
 * past window waits, the live graph does not. */
#define HISTORY_NICE 19
/* An idle worker frees its refresher (a file flow's kept events, open
 * connections) after this long: memory goes back when nobody scrubs. */
#define HISTORY_IDLE_MS 60000
/* max-age of an immutable graph: a year, as for any fingerprinted asset. */
#define HISTORY_IMMUTABLE_MAX_AGE_S (365LL * 86400)
/* Retry-After of a busy answer: the expected wait, within these bounds. */
#define HISTORY_RETRY_MIN_S 1
#define HISTORY_RETRY_MAX_S 300

static const char *const kind_labels[HISTORY_KINDS] = {"kind=\"graph\"", "kind=\"timeline\""};

typedef struct waiter {
    struct waiter *next;
    history_done_fn done;
    void *ctx;
} waiter;

typedef struct job {
    struct job *next;
    history_key key;
    uint64_t generation; /* of the configuration it runs with, once started */
    waiter *waiters;
} job;

/* A configuration the pool computes with, held by the pool while it is the
 * current one and by every job and refresher made from it. */
typedef struct {
    vizfeed_config *cfg;
    uint64_t generation;
    unsigned refs;
    bool has_replay;
} held_config;

typedef struct {
    history_key key;
    uint64_t generation; /* 0: empty slot */
    snapshot *snap;
    bool immutable;
    int64_t expires_mono_ms; /* recent windows only */
    int64_t max_age_s;
    uint64_t used; /* LRU clock */
} cache_entry;

typedef struct {
    history *h;
    pthread_t thread;
    bool started;
    job *job;     /* the job being computed, NULL when idle */
    refresher *r; /* guarded by h->lock: history_stop() stops it */
} worker;

struct history {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* a job was queued, or stop */
    bool stopping;
    source_lookup_fn lookup;
    held_config *current; /* NULL until configured */
    uint64_t generations;
    job *queue_head, *queue_tail;
    unsigned queued;  /* jobs no worker has taken yet */
    unsigned working; /* workers computing a job */
    cache_entry cache[VIZ_HISTORY_CACHE];
    uint64_t clock;
    double mean_seconds; /* of recent jobs, for Retry-After */
    worker workers[VIZ_HISTORY_WORKERS];
};

static bool key_equal(const history_key *a, const history_key *b) {
    return a->kind == b->kind && a->end_ms == b->end_ms && a->from_ms == b->from_ms && a->to_ms == b->to_ms &&
           a->step_ms == b->step_ms && strcmp(a->region, b->region) == 0;
}

/* What a log line calls a job. */
static void describe(const history_key *key, char *out, size_t n) {
    char a[32], b[32];
    if (key->kind == HISTORY_TIMELINE) {
        util_format_time_ms(key->from_ms, a, sizeof a);
        util_format_time_ms(key->to_ms, b, sizeof b);
        snprintf(out, n, "timeline %s to %s by %lld ms%s%.64s", a, b, (long long)key->step_ms,
                 key->region[0] ? " of region " : "", key->region);
    } else {
        util_format_time_ms(key->end_ms, a, sizeof a);
        snprintf(out, n, "past window ending %s", a);
    }
}

/* Called locked. The last holder frees the configuration. */
static void config_release(held_config *c) {
    if (!c || --c->refs > 0) return;
    cfg_free(c->cfg);
    free(c);
}

/* ---- cache (locked) ---------------------------------------------------- */

static cache_entry *cache_find(history *h, const history_key *key, uint64_t generation, int64_t now_mono) {
    for (size_t i = 0; i < VIZ_HISTORY_CACHE; i++) {
        cache_entry *e = &h->cache[i];
        if (e->generation != generation || !key_equal(&e->key, key)) continue;
        if (!e->immutable && now_mono >= e->expires_mono_ms) return NULL;
        e->used = ++h->clock;
        return e;
    }
    return NULL;
}

static void cache_put(history *h, const history_key *key, uint64_t generation, snapshot *snap, bool immutable,
                      int64_t max_age_s) {
    cache_entry *slot = NULL;
    for (size_t i = 0; i < VIZ_HISTORY_CACHE && !slot; i++)
        if (h->cache[i].generation == generation && key_equal(&h->cache[i].key, key)) slot = &h->cache[i];
    for (size_t i = 0; i < VIZ_HISTORY_CACHE && !slot; i++)
        if (h->cache[i].generation != h->current->generation) slot = &h->cache[i]; /* empty or of an old config */
    if (!slot) {
        slot = &h->cache[0];
        for (size_t i = 1; i < VIZ_HISTORY_CACHE; i++)
            if (h->cache[i].used < slot->used) slot = &h->cache[i];
    }
    snapshot_unref(slot->snap);
    *slot = (cache_entry){.key = *key,
                          .generation = generation,
                          .snap = snapshot_ref(snap),
                          .immutable = immutable,
                          .expires_mono_ms = util_monotonic_ms() + max_age_s * 1000,
                          .max_age_s = max_age_s,
                          .used = ++h->clock};
}

static void cache_clear(history *h) {
    for (size_t i = 0; i < VIZ_HISTORY_CACHE; i++) {
        snapshot_unref(h->cache[i].snap);
        memset(&h->cache[i], 0, sizeof h->cache[i]);
    }
}

/* ---- computing a job --------------------------------------------------- */

static void compute(const held_config *c, refresher *r, const char *open_error, const history_key *key,
                    history_result *res) {
    memset(res, 0, sizeof *res);
    if (!r) {
        res->status = HISTORY_FAILED;
        snprintf(res->error, sizeof res->error, "%s", open_error);
        return;
    }
    switch (key->kind) {
    case HISTORY_GRAPH: {
        refresh_result rr;
        char err[ERR_LEN] = "";
        snapshot *snap = refresher_run(r, key->end_ms, &rr, err);
        if (rr.stopped) {
            res->status = HISTORY_STOPPED;
            snprintf(res->error, sizeof res->error, "vizfeed is stopping");
        } else if (rr.flows_failed) {
            /* As `vizfeed once`: a failed flow's last good part would be
             * another window's. The first failure says why. */
            res->status = HISTORY_FAILED;
            for (size_t i = 0; i < c->cfg->nflows && i < VIZ_MAX_FLOWS; i++)
                if (rr.flow_error[i]) {
                    snprintf(res->error, sizeof res->error, "flow '%s': %s", c->cfg->flows[i].name, rr.flow_error[i]);
                    break;
                }
        } else if (!snap) {
            res->status = HISTORY_FAILED;
            snprintf(res->error, sizeof res->error, "%s", err);
        } else {
            res->status = HISTORY_OK;
            res->snap = snap;
            snap = NULL;
        }
        if (snap) snapshot_unref(snap);
        return;
    }
    case HISTORY_TIMELINE: {
        char err[ERR_LEN] = "";
        size_t len = 0;
        char *json =
            timeline_json(r, key->from_ms, key->to_ms, key->step_ms, key->region[0] ? key->region : NULL, &len, err);
        if (!json && atomic_load(refresher_stop_flag(r))) {
            res->status = HISTORY_STOPPED;
            snprintf(res->error, sizeof res->error, "vizfeed is stopping");
            return;
        }
        /* snapshot_new() takes json in every case: gzip and the ETags once,
         * as for a graph. */
        snapshot *snap = json ? snapshot_new(json, len, key->to_ms, 0, err) : NULL;
        if (!snap) {
            res->status = HISTORY_FAILED;
            snprintf(res->error, sizeof res->error, "%s", err);
            return;
        }
        res->status = HISTORY_OK;
        res->snap = snap;
        return;
    }
    case HISTORY_KINDS:
        break;
    }
    res->status = HISTORY_FAILED;
    snprintf(res->error, sizeof res->error, "unknown kind of job");
}

/* Hands a result to every waiter of a job (no lock held) and frees the job. */
static void deliver(job *j, const history_result *res) {
    while (j->waiters) {
        waiter *w = j->waiters;
        j->waiters = w->next;
        history_result copy = *res;
        if (copy.snap) snapshot_ref(copy.snap);
        w->done(w->ctx, &copy);
        free(w);
    }
    free(j);
}

static void wait_a_while(history *h, int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&h->wake, &h->lock, &ts);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    history *h = w->h;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HISTORY_NICE) != 0)
        log_debug("could not lower a history worker's priority: %s", strerror(errno));
    pthread_setname_np(pthread_self(), "history");
    held_config *made_from = NULL; /* the configuration of w->r */
    int64_t last_end = INT64_MIN, idle_since = util_monotonic_ms();
    bool last_failed = false, ran_graph = false;

    pthread_mutex_lock(&h->lock);
    for (;;) {
        if (h->stopping) break;
        if (!h->queue_head) {
            int64_t idle = util_monotonic_ms() - idle_since;
            if (w->r && idle >= HISTORY_IDLE_MS) {
                refresher *r = w->r;
                w->r = NULL;
                pthread_mutex_unlock(&h->lock);
                refresher_free(r);
                pthread_mutex_lock(&h->lock);
                config_release(made_from);
                made_from = NULL;
                continue;
            }
            wait_a_while(h, w->r ? HISTORY_IDLE_MS - idle : HISTORY_IDLE_MS);
            continue;
        }
        job *j = h->queue_head;
        h->queue_head = j->next;
        if (!h->queue_head) h->queue_tail = NULL;
        h->queued--;
        j->next = NULL;
        h->working++;
        held_config *c = h->current;
        c->refs++; /* the job's */
        j->generation = c->generation;
        w->job = j;
        /* A timeline is asked of sources as they were opened, as `vizfeed
         * timeline` asks them: a file source that has followed its file
         * through graphs keeps only what their windows need. */
        bool fresh = !w->r || made_from != c || j->key.end_ms < last_end || c->has_replay || last_failed ||
                     (j->key.kind == HISTORY_TIMELINE && ran_graph);
        if (fresh) ran_graph = false;
        refresher *old = fresh ? w->r : NULL;
        if (fresh) w->r = NULL;
        pthread_mutex_unlock(&h->lock);

        double started = util_monotonic_seconds();
        char open_error[ERR_LEN] = "";
        refresher *r = w->r;
        if (fresh) {
            refresher_free(old);
            r = refresher_new(c->cfg, h->lookup, open_error);
        }
        pthread_mutex_lock(&h->lock);
        if (fresh) {
            config_release(made_from);
            made_from = NULL;
            w->r = r;
            if (r) made_from = c, c->refs++;
        }
        if (h->stopping && r) refresher_stop(r); /* history_stop() came before w->r was set */
        pthread_mutex_unlock(&h->lock);

        history_result res;
        compute(c, r, open_error, &j->key, &res);
        double seconds = util_monotonic_seconds() - started;
        int64_t now = util_now_ms();
        const char *labels = kind_labels[j->key.kind];
        metrics_add("vizfeed_history_computed_total", labels, 1);
        metrics_add("vizfeed_history_compute_seconds_total", labels, seconds);
        if (res.status == HISTORY_OK) {
            /* A partial answer (shards that failed or timed out: a region's
             * metadata.partial, graph_region.c) may be whole when asked
             * again: never immutable. In the JSON, "partial": can only be
             * that key, since quotes inside strings are escaped. */
            bool partial = strstr(res.snap->json, "\"partial\":") != NULL;
            res.immutable = !partial && j->key.end_ms + c->cfg->lag_ms + VIZ_HISTORY_SETTLE_MS <= now;
            res.max_age_s = res.immutable ? HISTORY_IMMUTABLE_MAX_AGE_S : (c->cfg->interval_ms + 999) / 1000;
            char what[160];
            describe(&j->key, what, sizeof what);
            log_debug("%s computed in %.3fs (%zu bytes)", what, seconds, res.snap->json_len);
        } else if (res.status == HISTORY_FAILED) {
            metrics_add("vizfeed_history_failures_total", labels, 1);
            char what[160];
            describe(&j->key, what, sizeof what);
            log_warn("%s failed: %s", what, res.error);
        }

        pthread_mutex_lock(&h->lock);
        if (res.status == HISTORY_OK) cache_put(h, &j->key, j->generation, res.snap, res.immutable, res.max_age_s);
        h->mean_seconds = h->mean_seconds > 0 ? 0.7 * h->mean_seconds + 0.3 * seconds : seconds;
        w->job = NULL;
        h->working--;
        config_release(c);
        if (j->key.kind == HISTORY_GRAPH) {
            last_end = j->key.end_ms;
            ran_graph = true;
        }
        last_failed = res.status != HISTORY_OK;
        pthread_mutex_unlock(&h->lock);

        deliver(j, &res);
        snapshot_unref(res.snap);
        idle_since = util_monotonic_ms();
        pthread_mutex_lock(&h->lock);
    }
    refresher *r = w->r;
    w->r = NULL;
    pthread_mutex_unlock(&h->lock);
    refresher_free(r);
    pthread_mutex_lock(&h->lock);
    config_release(made_from);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* ---- the pool ------------------------------------------------------------ */

static void declare_metrics(void) {
    metrics_declare(
        "vizfeed_history_requests_total", METRIC_COUNTER,
        "Requests for a past window (?at=, kind graph) or a timeline (/timeline.json), by kind, answered or not.");
    metrics_declare("vizfeed_history_cache_hits_total", METRIC_COUNTER,
                    "Past-window and timeline requests answered from the cache, by kind.");
    metrics_declare(
        "vizfeed_history_busy_total", METRIC_COUNTER,
        "Past-window and timeline requests refused with 503 because every worker was busy and the queue full.");
    metrics_declare("vizfeed_history_failures_total", METRIC_COUNTER,
                    "Past windows and timelines whose computation failed (a flow failed), by kind.");
    metrics_declare("vizfeed_history_computed_total", METRIC_COUNTER, "Past windows and timelines computed, by kind.");
    metrics_declare("vizfeed_history_compute_seconds_total", METRIC_COUNTER,
                    "Wall time the history workers spent computing past windows and timelines, by kind.");
    for (int k = 0; k < HISTORY_KINDS; k++) {
        metrics_add("vizfeed_history_requests_total", kind_labels[k], 0);
        metrics_add("vizfeed_history_cache_hits_total", kind_labels[k], 0);
        metrics_add("vizfeed_history_busy_total", kind_labels[k], 0);
    }
}

history *history_new(source_lookup_fn lookup, char *err) {
    history *h = xcalloc(1, sizeof *h);
    h->lookup = lookup;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &attr);
    pthread_condattr_destroy(&attr);
    declare_metrics();
    for (size_t i = 0; i < VIZ_HISTORY_WORKERS; i++) {
        worker *w = &h->workers[i];
        w->h = h;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            util_fail(err, "cannot start a history worker: %s", strerror(rc));
            history_stop(h);
            history_free(h);
            return NULL;
        }
        w->started = true;
    }
    return h;
}

void history_configure(history *h, vizfeed_config *cfg) {
    held_config *c = xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->refs = 1;
    for (size_t i = 0; i < cfg->nflows; i++) c->has_replay |= cfg->flows[i].type == FLOW_REPLAY;
    pthread_mutex_lock(&h->lock);
    c->generation = ++h->generations;
    held_config *old = h->current;
    h->current = c;
    cache_clear(h);
    config_release(old);
    pthread_mutex_unlock(&h->lock);
}

static int64_t retry_after(const history *h) {
    double wait = h->mean_seconds * (1.0 + (double)h->queued / VIZ_HISTORY_WORKERS);
    int64_t s = (int64_t)wait + 1;
    return s < HISTORY_RETRY_MIN_S ? HISTORY_RETRY_MIN_S : s > HISTORY_RETRY_MAX_S ? HISTORY_RETRY_MAX_S : s;
}

static job *find_job(history *h, const history_key *key) {
    for (job *j = h->queue_head; j; j = j->next)
        if (key_equal(&j->key, key)) return j;
    /* A running job computes with the configuration it started with. */
    for (size_t i = 0; i < VIZ_HISTORY_WORKERS; i++) {
        job *j = h->workers[i].job;
        if (j && key_equal(&j->key, key) && j->generation == h->current->generation) return j;
    }
    return NULL;
}

/* What every kind of request shares: the cache, joining a job of the same
 * key, the bound on the queue. Called locked (and unlocks); key is complete
 * but for what make_key() fills from the configuration. */
static history_answer submit(history *h, history_key *key, void (*make_key)(const vizfeed_config *, history_key *),
                             history_done_fn done, void *ctx, history_result *res, int64_t *retry_after_s, char *err) {
    const char *labels = kind_labels[key->kind];
    if (!h->current || h->stopping) {
        pthread_mutex_unlock(&h->lock);
        util_fail(err, "past windows are not available now");
        return HISTORY_OFF;
    }
    metrics_add("vizfeed_history_requests_total", labels, 1);
    make_key(h->current->cfg, key);
    int64_t now_mono = util_monotonic_ms();
    cache_entry *e = cache_find(h, key, h->current->generation, now_mono);
    if (e) {
        res->status = HISTORY_OK;
        res->snap = snapshot_ref(e->snap);
        res->immutable = e->immutable;
        res->max_age_s = e->immutable ? e->max_age_s : (e->expires_mono_ms - now_mono) / 1000;
        pthread_mutex_unlock(&h->lock);
        metrics_add("vizfeed_history_cache_hits_total", labels, 1);
        return HISTORY_READY;
    }
    job *j = find_job(h, key);
    /* Busy: every worker has a job and VIZ_HISTORY_QUEUE more wait (jobs
     * that idle workers are about to take do not count against the queue). */
    if (!j && h->queued >= VIZ_HISTORY_QUEUE + (VIZ_HISTORY_WORKERS - h->working)) {
        *retry_after_s = retry_after(h);
        pthread_mutex_unlock(&h->lock);
        metrics_add("vizfeed_history_busy_total", labels, 1);
        util_fail(err, "%d past windows or timelines are being computed and %d more wait: try again in %lld s",
                  VIZ_HISTORY_WORKERS, VIZ_HISTORY_QUEUE, (long long)*retry_after_s);
        return HISTORY_BUSY;
    }
    if (!j) {
        j = xcalloc(1, sizeof *j);
        j->key = *key;
        if (h->queue_tail)
            h->queue_tail->next = j;
        else
            h->queue_head = j;
        h->queue_tail = j;
        h->queued++;
        pthread_cond_signal(&h->wake);
    }
    waiter *w = xcalloc(1, sizeof *w);
    w->done = done;
    w->ctx = ctx;
    w->next = j->waiters;
    j->waiters = w;
    pthread_mutex_unlock(&h->lock);
    return HISTORY_PENDING;
}

/* The graph's window end: T rounded down to the configuration's grid. */
static void graph_key(const vizfeed_config *cfg, history_key *key) {
    key->end_ms = util_align_ms(key->end_ms, cfg->interval_ms);
}

history_answer history_graph(history *h, int64_t t_ms, int64_t now_ms, history_done_fn done, void *ctx,
                             history_result *res, int64_t *retry_after_s, char *err) {
    memset(res, 0, sizeof *res);
    char t_text[32], now_text[32];
    util_format_time_ms(t_ms, t_text, sizeof t_text);
    util_format_time_ms(now_ms, now_text, sizeof now_text);
    if (t_ms > now_ms) {
        util_fail(err, "at=%s is in the future (now is %s): a past window ends at or before now", t_text, now_text);
        return HISTORY_BAD;
    }
    if (t_ms < 0) {
        util_fail(err, "at=%s is before 1970-01-01T00:00:00Z", t_text);
        return HISTORY_BAD;
    }
    history_key key = {.kind = HISTORY_GRAPH, .end_ms = t_ms};
    pthread_mutex_lock(&h->lock);
    return submit(h, &key, graph_key, done, ctx, res, retry_after_s, err);
}

/* A timeline's key is complete before submit(): its defaults and checks
 * need the configuration's interval first. */
static void key_as_is(const vizfeed_config *cfg, history_key *key) {
    (void)cfg, (void)key;
}

/* The first flow whose source has no timeline (timeline_json() would
 * refuse it after opening every source), picked as refresher_new() picks
 * it; NULL when all have one. */
static const flow_config *flow_without_timeline(const history *h, const vizfeed_config *cfg, const char **type) {
    for (size_t i = 0; i < cfg->nflows; i++) {
        const flow_config *flow = &cfg->flows[i];
        const source_ops *ops = h->lookup ? h->lookup(flow) : source_ops_for_flow(flow);
        if (ops && !ops->timeline) {
            *type = !h->lookup && !util_str_empty(flow->resolve_service) ? "resolve_callee" : ops->type;
            return flow;
        }
    }
    return NULL;
}

history_answer history_timeline(history *h, int64_t from_ms, int64_t to_ms, int64_t step_ms, const char *region,
                                int64_t now_ms, history_done_fn done, void *ctx, history_result *res,
                                int64_t *retry_after_s, char *err) {
    memset(res, 0, sizeof *res);
    if (to_ms > now_ms) {
        char to_text[32], now_text[32];
        util_format_time_ms(to_ms, to_text, sizeof to_text);
        util_format_time_ms(now_ms, now_text, sizeof now_text);
        util_fail(err, "to=%s is in the future (now is %s): a timeline ends at or before now", to_text, now_text);
        return HISTORY_BAD;
    }
    if (region && strlen(region) > VIZ_NAME_MAX) {
        util_fail(err, "region= is longer than %d bytes", VIZ_NAME_MAX);
        return HISTORY_BAD;
    }
    history_key key = {.kind = HISTORY_TIMELINE};
    pthread_mutex_lock(&h->lock);
    if (h->current) {
        const char *type = NULL;
        const flow_config *without = flow_without_timeline(h, h->current->cfg, &type);
        if (without) {
            pthread_mutex_unlock(&h->lock);
            util_fail(err, "no timeline for this configuration: flow '%s' (%s) has none", without->name, type);
            return HISTORY_NONE;
        }
        if (step_ms <= 0) step_ms = timeline_default_step(from_ms, to_ms, h->current->cfg->interval_ms);
        size_t points;
        if (timeline_range(&from_ms, &to_ms, step_ms, &points, err) < 0) {
            pthread_mutex_unlock(&h->lock);
            return HISTORY_BAD;
        }
        key.from_ms = from_ms;
        key.to_ms = key.end_ms = to_ms;
        key.step_ms = step_ms;
        snprintf(key.region, sizeof key.region, "%s", region ? region : "");
    }
    return submit(h, &key, key_as_is, done, ctx, res, retry_after_s, err);
}

void history_stop(history *h) {
    if (!h) return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    for (size_t i = 0; i < VIZ_HISTORY_WORKERS; i++)
        if (h->workers[i].r) refresher_stop(h->workers[i].r);
    pthread_cond_broadcast(&h->wake);
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < VIZ_HISTORY_WORKERS; i++)
        if (h->workers[i].started) {
            pthread_join(h->workers[i].thread, NULL);
            h->workers[i].started = false;
        }
    /* Jobs no worker took: their requests are answered now, so that no HTTP
     * connection stays suspended (libmicrohttpd refuses to stop then). */
    pthread_mutex_lock(&h->lock);
    job *queue = h->queue_head;
    h->queue_head = h->queue_tail = NULL;
    h->queued = 0;
    pthread_mutex_unlock(&h->lock);
    history_result stopped = {.status = HISTORY_STOPPED};
    snprintf(stopped.error, sizeof stopped.error, "vizfeed is stopping");
    while (queue) {
        job *next = queue->next;
        deliver(queue, &stopped);
        queue = next;
    }
}

void history_free(history *h) {
    if (!h) return;
    history_stop(h);
    cache_clear(h);
    config_release(h->current);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
