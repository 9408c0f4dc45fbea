/*
 * daemon.h - the long-lived process: serve the graph over HTTP, refresh it
 * every interval, reload on SIGHUP, stop on SIGTERM/SIGINT.
 *
 * Calling sequence: main() sets up logging, metrics and ignores SIGPIPE and
 * SIGXFSZ, then calls daemon_run() once, from the main thread, before any
 * other thread exists. daemon_run() blocks SIGTERM, SIGINT and SIGHUP in
 * every thread (the main thread takes them with sigwait), loads the
 * configuration through o->load, starts the HTTP server and the refresher
 * thread, and returns when a stop signal has been handled: HTTP stops
 * accepting at once (http_quiesce), a refresh in progress is cut (refresher_stop) within
 * about a second, the history workers stop and every request waiting for a
 * past window is answered, in-flight responses finish, everything is freed.
 *
 * Reload (SIGHUP): o->load is called again on the main thread; a
 * configuration that fails keeps the running one (logged, counted in
 * vizfeed_config_reloads_total{result="failure"}). One that loads has its
 * HTTP options (credentials, CORS origin, ui_dir, ui settings) applied at
 * once, and its sources and output file taken over by the refresher thread
 * at its next wake-up, which the reload triggers (a refresh in progress
 * finishes first). The listen address changes only with a restart. The
 * history workers (history.h, past windows) compute with the new
 * configuration at once; o->load is called twice per (re)load, once for the
 * live refresher and once for them (their copy has --record off).
 *
 * Windows: the live window ends at now - lag rounded down to a multiple of
 * the interval (util_align_ms), and the refresher wakes when the next such
 * grid point passes, so replicas compute the same windows.
 *
 * Failures: a flow or sink that fails at every refresh is logged when it
 * starts or changes, again after a minute, and once when it clears.
 *
 * Ownership: o and o->ctx must outlive daemon_run(); each configuration
 * o->load returns belongs to the daemon (freed with cfg_free). o->load
 * returns NULL with err (ERR_LEN bytes) set on failure, and may be called
 * once per SIGHUP.
 *
 * Returns 0 after a stop signal, DAEMON_EXIT_USAGE when the first
 * configuration does not load (or a source or the output file cannot open),
 * DAEMON_EXIT_RUNTIME when HTTP or the refresher thread cannot start.
 */
#ifndef VIZFEED_DAEMON_H
#define VIZFEED_DAEMON_H

#include <stdbool.h>

#include "config.h"
#include "refresh.h"
#include "snapshot.h"

#define DAEMON_EXIT_RUNTIME 1 /* as main.c's exit statuses */
#define DAEMON_EXIT_USAGE   2

typedef struct {
    const char *config_path; /* named by the reload log line */
    bool demo;               /* --demo: there is no file to reload */
    /* Loads and fully validates a configuration, the way `vizfeed check`
     * does, with the command line's overrides applied. */
    vizfeed_config *(*load)(void *ctx, char *err);
    void *ctx;
} daemon_options;

int daemon_run(const daemon_options *o);

/* What a refresh has to say beyond its result, shared with `vizfeed once`.
 * *said remembers across refreshes that a lasting condition was logged, so
 * it is said when it starts, not at every refresh (start it false). */
void daemon_log_clamped(const refresh_result *res, bool *said);       /* counts over VIZ_MAX_COUNT */
void daemon_log_regex_skipped(const refresh_result *res, bool *said); /* topology regex time ran out */
/* A debug line with the refresh's times and sizes (./dev bench reads it). */
void daemon_log_refresh_done(const refresh_result *res, const snapshot *snap);

#endif
