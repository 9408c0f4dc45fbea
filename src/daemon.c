/*
 * daemon.c - the long-lived `vizfeed` process: the main thread waits for
 * signals (SIGHUP reloads, SIGTERM/SIGINT stop), the refresher thread
 * rebuilds the graph every interval and publishes it to the sinks (HTTP and
 * the output file), and a failure log keeps a failure that repeats at every
 * refresh to one line. libmicrohttpd runs its own threads and only ever
 * reads published snapshots. The contract is in daemon.h; main.c only
 * parses the command line and calls daemon_run().
 */
#include "daemon.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bounds.h"
#include "history.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "refresh.h"
#include "sink.h"
#include "topology.h"
#include "util.h"

/* Counts over VIZ_MAX_COUNT are clamped by the graph (graph.h); said once
 * when they appear, not at every refresh while they stay in the window. */
void daemon_log_clamped(const refresh_result *res, bool *said) {
    if (res->stats.clamped && !*said)
        log_warn("%llu count(s) in the window were over %g (or infinite) and were clamped to it: look for the "
                 "source sending them; the graph's metadata.clamped_counts says how many while they last",
                 (unsigned long long)res->stats.clamped, VIZ_MAX_COUNT);
    *said = res->stats.clamped != 0;
}

/* A topology regex that ran out the refresh's regex time (topology.h): said
 * when it starts, not at every refresh while it lasts. */
void daemon_log_regex_skipped(const refresh_result *res, bool *said) {
    if (res->regex_skipped && !*said)
        log_warn("topology regexes took more than %d ms in one refresh: %llu value(s) were resolved without them; "
                 "look for a regex that is slow on these names (nested repetitions such as (a*)*)",
                 TOPOLOGY_REGEX_BUDGET_MS, (unsigned long long)res->regex_skipped);
    *said = res->regex_skipped != 0;
}

/* With -v, for the daemon and for `once` (./dev bench reads it). */
void daemon_log_refresh_done(const refresh_result *res, const snapshot *snap) {
    log_debug("refresh done in %.6fs (%.6fs CPU): %u regions, %u services, %u connections, %zu bytes (%zu gzip)",
              res->seconds, res->cpu_seconds, res->stats.regions, res->stats.services, res->stats.connections,
              snap->json_len, snap->gzip_len);
}

/* ---- the daemon ---- */

/* A failure that repeats at every refresh is logged when it starts or
 * changes, again only after FAILURE_REPEAT_MS, and once when it clears: a
 * minute of back-off at a 1 s interval is one warning, not sixty. */
#define FAILURE_REPEAT_MS 60000

typedef struct {
    char text[ERR_LEN]; /* "" while all is well */
    int64_t logged_ms;
} failure_log;

/* error is NULL when `what` works again; level is that of the failure line. */
/* Whether two failure texts say the same but for their numbers: libcurl's
 * "transfer closed with 118 bytes remaining" is the same cut connection as
 * with 119, and must not be logged again at every refresh. */
static bool same_failure(const char *a, const char *b) {
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (isdigit((unsigned char)*a)) a++;
            while (isdigit((unsigned char)*b)) b++;
        } else if (*a++ != *b++) {
            return false;
        }
    }
    return *a == *b;
}

static void failure_report(failure_log *f, log_level level, const char *what, const char *error) {
    int64_t now = util_monotonic_ms();
    if (!error) {
        if (f->text[0]) log_info("%s works again", what);
        f->text[0] = '\0';
    } else if (!same_failure(f->text, error) || now - f->logged_ms >= FAILURE_REPEAT_MS) {
        log_msg(level, "%s failed: %s", what, error);
        snprintf(f->text, sizeof f->text, "%s", error);
        f->logged_ms = now;
    } else {
        log_debug("%s failed: %s", what, error);
    }
}

/* Everything one configuration brings, built and validated as a whole so
 * that a reload either takes all of it or none of it. */
typedef struct {
    vizfeed_config *cfg;
    refresher *refresher;
    sink *file; /* NULL when output.file is not set */
    /* The history workers' own copy of the configuration (history.h), loaded
     * with this one: the workers' refreshers outlive a reload's hand-over
     * and must not write into --record's directory beside the live one.
     * NULL once given to the history pool. */
    vizfeed_config *history_cfg;
} generation;

static void generation_free(generation *g) {
    if (g->file) g->file->ops->close(g->file);
    refresher_free(g->refresher);
    cfg_free(g->cfg);
    cfg_free(g->history_cfg);
    memset(g, 0, sizeof *g);
}

/* verify: false suits a test cluster with a self-signed certificate; said at
 * every start and reload so that it is not forgotten in production. */
static void warn_if_unverified(const vizfeed_config *cfg) {
    bool tls = !util_str_empty(cfg->es.cloud_id);
    for (size_t i = 0; i < cfg->es.nhosts; i++) tls |= !strncasecmp(cfg->es.hosts[i], "https://", 8);
    bool used = false;
    for (size_t i = 0; i < cfg->nflows; i++) used |= cfg->flows[i].type == FLOW_ELASTICSEARCH;
    if (!cfg->es.verify && tls && used)
        log_warn("%s: elasticsearch.verify is false: Elasticsearch's TLS certificate is not checked, so anyone on "
                 "the path can pose as the cluster, read the credentials and change the answers",
                 cfg->path);
}

/* Loads the configuration, opens its sources and its output file. */
static int generation_new(const daemon_options *o, generation *g, char *err) {
    memset(g, 0, sizeof *g);
    g->cfg = o->load(o->ctx, err);
    if (!g->cfg) return -1;
    g->refresher = refresher_new(g->cfg, NULL, err);
    if (!g->refresher) goto fail;
    if (!util_str_empty(g->cfg->output_file) && !(g->file = sink_file_new(g->cfg->output_file, err))) goto fail;
    g->history_cfg = o->load(o->ctx, err);
    if (!g->history_cfg) goto fail;
    free(g->history_cfg->record_dir); /* past windows are not recorded: --record is the live refreshes' */
    g->history_cfg->record_dir = xstrdup("");
    warn_if_unverified(g->cfg);
    return 0;
fail:
    generation_free(g);
    return -1;
}

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    generation current; /* used by the refresher thread only, once it runs */
    generation pending; /* a reloaded configuration waiting to be taken over (cfg != NULL) */
    http_server *http;
    history *history; /* past windows, on threads of their own */
    /* What each flow and each sink last failed with (refresher thread only). */
    failure_log flow_failure[VIZ_MAX_FLOWS];
    failure_log sink_failure[VIZ_MAX_SINKS];
    bool clamped_said; /* the clamped counts of the window were logged */
    bool regex_said;   /* the regex time running out was logged */
} daemon_state;

static http_options http_options_of(const vizfeed_config *cfg, history *past) {
    return (http_options){.history = past,
                          .listen = cfg->listen,
                          .cors_origin = cfg->cors_origin,
                          .ui_dir = cfg->ui_dir,
                          .ui_settings = cfg->ui_settings,
                          .interval_ms = cfg->interval_ms,
                          .auth_username = cfg->auth.username,
                          .auth_password = cfg->auth.password,
                          .auth_bearer_token = cfg->auth.bearer_token};
}

static void log_refresh(daemon_state *d, const refresh_result *res, const snapshot *snap) {
    const vizfeed_config *cfg = d->current.cfg;
    for (size_t i = 0; i < cfg->nflows && i < VIZ_MAX_FLOWS; i++) {
        char what[ERR_LEN];
        snprintf(what, sizeof what, "flow '%s'", cfg->flows[i].name);
        failure_report(&d->flow_failure[i], LOG_LEVEL_WARN, what,
                       res->flow_error[i]); /* its part of the graph is kept */
    }
    if (snap) daemon_log_refresh_done(res, snap);
}

static void report_sink(void *ctx, size_t i, const sink *s, const char *error) {
    daemon_state *d = ctx;
    char what[64];
    snprintf(what, sizeof what, "%s output", s->ops->name);
    failure_report(&d->sink_failure[i], LOG_LEVEL_ERROR, what, error);
}

static void publish(daemon_state *d, snapshot *snap) {
    /* Rebuilt each time: a reload may add or remove the output file. The
     * HTTP server comes first, so a position keeps naming the same sink
     * while the file's presence does not change. */
    sink_list sinks = {0};
    sink_list_add(&sinks, http_sink(d->http), NULL);
    sink_list_add(&sinks, d->current.file, NULL); /* two sinks never fill the list */
    sink_list_publish(&sinks, snap, report_sink, d);
}

/* The window end of the live refresh: now - lag rounded down to the
 * interval's grid, so that replicas with the same configuration compute the
 * same windows (and publish the same bytes), and a past window asked for
 * with ?at= is one the live graph showed. */
static int64_t live_window_end(const vizfeed_config *cfg, int64_t now_ms) {
    return util_align_ms(now_ms - cfg->lag_ms, cfg->interval_ms);
}

/* Milliseconds from now_ms until the next grid point passes now - lag: the
 * refresh then shows the newest window as soon as it is complete, and
 * replicas refresh at the same moments. At most one interval, so that a
 * wall clock set back does not stall refreshes. */
static int64_t until_next_window(const vizfeed_config *cfg, int64_t now_ms) {
    int64_t next = live_window_end(cfg, now_ms) + cfg->interval_ms + cfg->lag_ms;
    int64_t wait = next - now_ms;
    return wait < 0 ? 0 : wait > cfg->interval_ms ? cfg->interval_ms : wait;
}

static void refresh_once(daemon_state *d) {
    const vizfeed_config *cfg = d->current.cfg;
    char err[ERR_LEN];
    refresh_result res;
    int64_t end_ms = live_window_end(cfg, util_now_ms());
    snapshot *snap = refresher_run(d->current.refresher, end_ms, &res, err);
    if (res.stopped) return; /* SIGTERM cut it short: nothing to say or publish */
    metrics_add("vizfeed_refreshes_total", "", 1);
    metrics_set("vizfeed_refresh_duration_seconds", "", res.seconds);
    metrics_set("vizfeed_refresh_cpu_seconds", "", res.cpu_seconds);
    log_refresh(d, &res, snap);
    if (!snap) {
        log_error("refresh failed: %s", err);
        return;
    }
    if (res.flows_failed == 0)
        metrics_set("vizfeed_last_refresh_success_timestamp_seconds", "", util_now_ms() / 1000.0);
    metrics_set("vizfeed_graph_nodes", "", snap->nodes);
    metrics_set("vizfeed_graph_connections", "", snap->connections);
    metrics_set("vizfeed_graph_hidden_services", "", res.stats.hidden);
    metrics_set("vizfeed_graph_clamped_counts", "", (double)res.stats.clamped);
    daemon_log_clamped(&res, &d->clamped_said);
    metrics_add("vizfeed_topology_regex_skipped_total", "", (double)res.regex_skipped);
    daemon_log_regex_skipped(&res, &d->regex_said);
    publish(d, snap);
    snapshot_unref(snap);
}

/* Takes over a reloaded configuration; called with the lock held. The new
 * refresher inherits what must outlive a reload: readiness (the graph state it also hands over carries nothing since
 * maxVolume depends on the view alone). */
static void adopt_pending(daemon_state *d) {
    refresher_take_over(d->pending.refresher, d->current.refresher);
    generation_free(&d->current);
    d->current = d->pending;
    memset(&d->pending, 0, sizeof d->pending);
    memset(d->flow_failure, 0, sizeof d->flow_failure); /* flows may have changed */
    http_options ho = http_options_of(d->current.cfg, d->history);
    http_update_options(d->http, &ho);
}

/* How much lower than the HTTP threads the refresher runs (a nice value):
 * a refresh is background work that may take a while, an answer must not
 * wait for CPU behind it. At +15, with HTTP keeping every CPU busy, the
 * refresher still gets 5-8 % of one (./dev bench), so a 100k-edge refresh
 * takes seconds instead of 0.2 s but still finishes within the default
 * interval; on a CPU that is not saturated the value changes nothing. */
#define REFRESHER_NICE 15

static void *refresh_loop(void *arg) {
    daemon_state *d = arg;
    /* On Linux a nice value belongs to the thread: only this one is lowered.
     * Lowering needs no privilege; failing to is harmless. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), REFRESHER_NICE) != 0)
        log_debug("could not lower the refresher's priority: %s", strerror(errno));
    pthread_setname_np(pthread_self(), "refresher"); /* shown by top -H, ps -L; read by the benchmark */
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        if (d->pending.cfg) adopt_pending(d);
        pthread_mutex_unlock(&d->lock);

        refresh_once(d);

        pthread_mutex_lock(&d->lock);
        int64_t due = util_monotonic_ms() + until_next_window(d->current.cfg, util_now_ms());
        while (!d->stopping && !d->pending.cfg && util_monotonic_ms() < due) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait_ms = due - util_monotonic_ms();
            ts.tv_sec += wait_ms / 1000;
            ts.tv_nsec += (wait_ms % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&d->wake, &d->lock, &ts);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void reload(daemon_state *d, const daemon_options *o) {
    char err[ERR_LEN];
    if (o->demo) {
        log_info("SIGHUP: --demo has no configuration file to reload");
        return;
    }
    log_info("SIGHUP: reloading %s", o->config_path);
    generation g;
    if (generation_new(o, &g, err) < 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        metrics_add("vizfeed_config_reloads_total", "result=\"failure\"", 1);
        return;
    }
    size_t nflows = g.cfg->nflows;
    pthread_mutex_lock(&d->lock);
    if (!util_str_eq(g.cfg->listen, d->current.cfg->listen))
        log_warn("reload: the listen address changed to %s; it takes effect after a restart", g.cfg->listen);
    generation_free(&d->pending); /* two reloads before the refresher woke up: the newer wins */
    /* Past windows are computed with the new configuration from now on:
     * the history workers do not wait for the live refresher's hand-over. */
    history_configure(d->history, g.history_cfg);
    g.history_cfg = NULL;
    d->pending = g;
    /* What the HTTP side uses (credentials, CORS origin, ui_dir) applies
     * now, not when the refresher is done with a refresh that a slow
     * cluster can stretch for minutes: a revoked password must stop working
     * when the reload is logged. Under the lock, so that an older
     * configuration being adopted cannot overwrite it. */
    http_options ho = http_options_of(d->pending.cfg, d->history);
    http_update_options(d->http, &ho);
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    metrics_add("vizfeed_config_reloads_total", "result=\"success\"", 1);
    log_info("configuration reloaded: %zu flow(s)", nflows);
}

int daemon_run(const daemon_options *o) {
    char err[ERR_LEN];
    daemon_state d = {0};
    int status = DAEMON_EXIT_RUNTIME;
    bool thread_started = false;

    /* Signals are taken synchronously by the main thread (sigwait); every
     * other thread inherits this mask and never sees them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    pthread_mutex_init(&d.lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d.wake, &attr);
    pthread_condattr_destroy(&attr);

    if (generation_new(o, &d.current, err) < 0) {
        log_error("%s", err);
        status = DAEMON_EXIT_USAGE;
        goto done;
    }
    const vizfeed_config *cfg = d.current.cfg;
    d.history = history_new(NULL, err);
    if (!d.history) {
        log_error("%s", err);
        goto done;
    }
    history_configure(d.history, d.current.history_cfg);
    d.current.history_cfg = NULL;
    http_options ho = http_options_of(cfg, d.history);
    d.http = http_start(&ho, err);
    if (!d.http) {
        log_error("cannot serve HTTP: %s", err); /* err names the address */
        goto done;
    }
    char every[32];
    util_format_duration(cfg->interval_ms, every, sizeof every);
    /* The port also as a field of its own in JSON logs ("server.port"), which
     * tests and tools read instead of this sentence. */
    log_msg_field(LOG_LEVEL_INFO, "server.port", http_port(d.http),
                  "vizfeed %s listening on %s, port %d: /vizceral.json refreshed every %s from %zu flow(s)",
                  VIZFEED_VERSION, cfg->listen, http_port(d.http), every, cfg->nflows);

    pthread_t thread;
    if (pthread_create(&thread, NULL, refresh_loop, &d) != 0) {
        log_error("cannot start the refresher thread");
        goto done;
    }
    thread_started = true;

    for (;;) {
        int sig;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
            reload(&d, o);
            continue;
        }
        log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        http_quiesce(d.http); /* stop accepting now, not after the refresh in progress */
        break;
    }
    status = 0;
done:
    if (thread_started) {
        pthread_mutex_lock(&d.lock);
        d.stopping = true;
        /* A refresh in progress may be waiting on a cluster: it gives up
         * within about a second instead of running to its deadline. */
        refresher_stop(d.current.refresher);
        pthread_cond_signal(&d.wake);
        pthread_mutex_unlock(&d.lock);
        pthread_join(thread, NULL);
    }
    /* Past windows first: every request still waiting for one is answered
     * (503), since libmicrohttpd cannot stop with a connection suspended. */
    history_stop(d.history);
    if (d.http) http_stop(d.http); /* finishes in-flight responses */
    history_free(d.history);
    generation_free(&d.pending);
    generation_free(&d.current);
    pthread_cond_destroy(&d.wake);
    pthread_mutex_destroy(&d.lock);
    return status;
}
