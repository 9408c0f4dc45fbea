/*
 * pull.h - `vizfeed pull URL -o FILE`: keep FILE an atomically replaced copy
 * of a feeder's /vizceral.json (README.md, "Pulling the graph into a file"). It is the "secondary process" of a
 * container that only hosts the Vizceral page: the page server reads FILE,
 * this loop keeps it fresh.
 *
 * Calling sequence: fill a pull_options, then call pull_run() from the thread
 * that should do the work. It polls until *stop becomes non-zero, then
 * returns 0. A signal handler may set *stop, or another thread with
 * __atomic_store_n (a plain store would be a data race); pull_run()
 * notices it within PULL_STOP_LATENCY_MS, whether it is waiting between polls
 * or in the middle of a request, and abandons that request.
 *
 * Each poll is one GET with If-None-Match (the ETag of the last body written)
 * and Accept-Encoding: gzip (libcurl decodes). Then:
 *   - 200: the body must be one complete JSON document whose top level is an
 *     object, at most PULL_MAX_BODY bytes once decoded. It replaces FILE
 *     atomically (temporary file, fsync, rename: sink_file_write()), so a
 *     reader sees the old copy or the new one, never a partial or empty file.
 *   - 304 to a request that carried If-None-Match: FILE is current; nothing
 *     to do, unless FILE was removed meanwhile (then one warning and the
 *     same poll asks again without If-None-Match). A 304 to a request without it (nothing to compare with: a
 *     broken cache or proxy) is a failure like those below.
 *   - anything else (connection refused, timeout, another status such as the
 *     feeder's 503 before its first graph, an invalid or oversized body, a
 *     failed write): FILE is left as it was, one line with the cause is
 *     logged, and the next poll backs off (pull_backoff_ms()). The first
 *     success after failures logs one recovery line and restores the interval.
 * A body larger than a few MB (or one refused as oversized) is freed after
 * its poll, so that one huge answer does not stay in pull's memory.
 * pull_run() is a long-running loop like the daemon's refresher, so it logs
 * through log.h itself: failures at warn, recovery at info, each replacement
 * of FILE at debug.
 *
 * Errors: pull_run() returns -1 with a reason in err (ERR_LEN bytes) only
 * when it cannot start (invalid options, FILE's directory missing, libcurl
 * unavailable). Failures while running are retried, never returned.
 */
#ifndef VIZ_PULL_H
#define VIZ_PULL_H

#include "bounds.h"

#include <signal.h>
#include <stdint.h>

#define PULL_DEFAULT_TIMEOUT_MS 30000  /* one whole request, connection included */
#define PULL_MAX_BACKOFF_MS     300000 /* backoff never exceeds 5 minutes... */
#define PULL_BACKOFF_FACTOR     10     /* ...nor 10 intervals (but never less than one interval) */
#define PULL_STOP_LATENCY_MS    100    /* how long *stop may go unnoticed */

typedef struct {
    const char *url;     /* http:// or https:// */
    const char *output;  /* the file to keep replaced; its directory must exist */
    int64_t interval_ms; /* between the starts of two polls, > 0 */
    int64_t timeout_ms;  /* one request; 0 = PULL_DEFAULT_TIMEOUT_MS */
} pull_options;

int pull_run(const pull_options *o, volatile sig_atomic_t *stop, char *err);

#endif
