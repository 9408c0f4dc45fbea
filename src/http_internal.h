/*
 * http_internal.h - what the parts of vizfeed's HTTP server share: the
 * server's state (struct http_server) and the helpers that answer a request.
 *
 * The server is split by what each part serves:
 *   http.c        routing (the MHD access handler, request framing,
 *                 authentication, /healthz /readyz /metrics
 *                 /ui-settings.json /timeline.json), the helpers below
 *                 (JSON answers, a snapshot's response, requests that wait
 *                 for the history pool) and the life cycle (http_start ..
 *                 http_stop, http_update_options);
 *   sink_http.c   /vizceral.json: the HTTP sink and its prebuilt responses,
 *                 and past windows (?at=T);
 *   http_static.c the files of ui_dir;
 *   http_conn.c   connection tracking, the connection limit and the
 *                 watchdog that cuts requests whose headers are overdue.
 * Only these files (and http_static.h, sink_http.h) include this header.
 *
 * Threads: the helpers below are called from libmicrohttpd's threads while
 * a request is answered (one connection is served by one thread at a time).
 * They take h->lock for what they read of the options; a caller must not
 * hold it. Each returns what MHD's access handler returns (MHD_NO when no
 * response could be made: MHD then closes the connection).
 */
#ifndef VIZ_HTTP_INTERNAL_H
#define VIZ_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "history.h"
#include "http.h"
#include "http_guard.h"
#include "http_parse.h"
#include "snapshot.h"
#include "util.h"

/* The window over which libmicrohttpd's messages (http.c) and refused
 * connections (http_conn.c) are counted before a line says how many. */
#define HTTP_LOG_WINDOW_MS 60000

typedef enum { AUTH_NONE, AUTH_BASIC, AUTH_BEARER } auth_scheme;

/* The current snapshot and the responses prebuilt from it. A request only
 * takes the server's mutex long enough to queue one of them, which makes
 * MHD take its own reference; http_publish() (sink_http.c) swaps the set under the same mutex
 * and drops the old one afterwards, so responses still being sent keep
 * their snapshot alive through the free callback. */
typedef struct {
    snapshot *snap;
    struct MHD_Response *identity, *gzip;
    struct MHD_Response *identity_not_modified, *gzip_not_modified;
} graph_responses;

/* One per open connection: its MHD socket context, from the notification of
 * its start to that of its end. */
typedef struct tracked_connection {
    struct tracked_connection *prev, *next;
    MHD_socket fd;
    /* Atomic: monotonic time since which the next request's headers have
     * been awaited, or ANSWERING. Written by the connection's MHD thread,
     * read by the watchdog. */
    int64_t awaited_since_ms;
    bool cut; /* shut down by the watchdog; MHD closes it next */
    /* What the connection's reads have shown so far (http_guard.h), from
     * its start to its end; only its MHD thread touches it. */
    http_guard_conn guard;
} tracked_connection;

#define ANSWERING (-1)

/* The state of one request whose target has a query, made by http.c's URI
 * callback (requests without one need none) and freed when the request
 * completes (/timeline.json makes one for a request without a query too).
 * A past window (/vizceral.json?at=T) or a timeline suspends the connection
 * while a history worker computes it: the worker's callback
 * (http_request_done) stores the result and resumes the connection, and the
 * access handler, called again, answers from it. The lock orders the two:
 * the connection is suspended before the callback can resume it. */
typedef struct {
    unsigned marks;   /* http.c's MARK_* */
    http_query query; /* what the query held */
    pthread_mutex_t lock;
    struct MHD_Connection *connection;
    bool waiting;          /* asked history_graph(), suspended until the answer */
    bool answered;         /* result holds the answer */
    history_result result; /* its snap is this request's reference */
} http_request;

struct http_server {
    sink sink; /* what the refresher publishes to; owned by the server */
    struct MHD_Daemon *daemon;
    int port;
    int quiesced; /* atomic: no longer accepting (set by the main thread, read by the accept policy) */
    int starting; /* atomic: MHD messages are captured, not logged */
    char start_error[ERR_LEN];

    pthread_mutex_t lock; /* guards everything below */
    graph_responses graph;
    char *cors_origin;
    char *ui_dir; /* as configured; "" when no page is served */
    int64_t interval_ms;
    /* The page's settings (ui.allow_src), answered at /ui-settings.json. */
    char *ui_settings;
    auth_scheme auth;
    char *auth_credentials; /* what must follow the scheme: base64(user:password) or the token; NULL when open */
    history *history;       /* past windows (?at=); NULL: none (set at start, never changes) */

    /* Guards the connection list and what follows. The watchdog holds it
     * while it shuts a socket down: MHD reports a connection closed before
     * it closes the socket, so no descriptor in the list has been closed
     * and reused for something else. */
    pthread_mutex_t connections_lock;
    pthread_cond_t watchdog_wake;
    tracked_connection *connections;
    unsigned open_connections;
    unsigned connection_limit;    /* HTTP_MAX_CONNECTIONS, or fewer when descriptors are short */
    unsigned refused_connections; /* closed at the limit since the last line about it */
    int64_t refusals_logged_ms;
    bool watchdog_running, watchdog_stopping;
    pthread_t watchdog;

    pthread_mutex_t log_lock; /* guards the rate of MHD messages */
    int64_t log_window_ms;
    unsigned log_count, log_suppressed;
};

/* Counts an answer in vizfeed_http_requests_total{path,code}. */
void http_count_request(const char *path, unsigned code);
/* Adds the configured Access-Control-Allow-Origin to r (takes h->lock). */
void http_add_cors(http_server *h, struct MHD_Response *r);
/* Queues r, made for this request alone, drops our reference (MHD keeps its
 * own until sent) and counts the answer; MHD_NO when r is NULL. */
enum MHD_Result http_queue_once(struct MHD_Connection *c, unsigned code, struct MHD_Response *r, const char *path);
/* A response holding a copy of body, with Content-Type (unless NULL),
 * Cache-Control: no-cache and nosniff; NULL when out of memory. */
struct MHD_Response *http_copied_response(const char *body, size_t len, const char *content_type);
/* A response carrying snapshot s's bytes (identity, or gzip), or a 304
 * (not_modified: no body), with the snapshot's strong ETag for that
 * encoding, Cache-Control: cache_control, Access-Control-Allow-Origin: cors,
 * Vary and nosniff; the same headers for every graph and timeline, live or
 * past. It holds a reference to s until MHD destroys it. NULL when out of
 * memory. Takes no lock: the prebuilt graph responses (sink_http.c) are
 * made outside h->lock. */
struct MHD_Response *http_snapshot_response(snapshot *s, int gzip, int not_modified, const char *cors,
                                            const char *cache_control);
/* A small JSON answer: {"<key>":<value_json>,"reason":"..."} (reason may be
 * NULL), with CORS, and Allow or WWW-Authenticate for a 405 or a 401. */
enum MHD_Result http_answer_json(http_server *h, struct MHD_Connection *c, unsigned code, const char *path,
                                 const char *key, const char *value_json, const char *reason);
/* An error answer made for this request, the one shape of them all:
 * {"error":"<error>","reason":"<reason>"} (reason escaped; error is a
 * constant of the caller's, written as it is), with CORS, counted under
 * path; with retry_after_s > 0, Retry-After in seconds, exposed to the
 * page's scripts (Access-Control-Expose-Headers). Used by /vizceral.json
 * (its past windows) and /timeline.json alike. */
enum MHD_Result http_answer_json_error(http_server *h, struct MHD_Connection *c, unsigned code, const char *path,
                                       const char *error, const char *reason, int64_t retry_after_s);
/* 404 {"error":"not found"}, counted under path "/other". */
enum MHD_Result http_answer_not_found(http_server *h, struct MHD_Connection *c);
/* http_guard_answer_fn for the server (ctx): the 400 that refuse_request()
 * gives for bad framing, as bytes for the socket (status line, the same
 * header fields and JSON body, Connection: close); counted and logged as a
 * refused request. */
size_t http_guard_refusal(void *ctx, const char *reason, char *out, size_t cap);

/* Requests that wait for the history pool: a past window
 * (/vizceral.json?at=T, sink_http.c) and a timeline (/timeline.json,
 * http.c) are asked and answered the same way. The route's handler, on
 * every call for the request:
 *
 *     if (http_request_answered(req))  // resumed, or answered at once
 *         return http_answer_history(h, c, req, HISTORY_READY, NULL, 0, path, what);
 *     ...read the arguments; a bad one: http_answer_json_error(... 400 ...)
 *     pthread_mutex_lock(&req->lock);
 *     a = history_graph(..., http_request_done, req, &res, &retry, err);
 *     http_request_wait(c, req, a, &res);
 *     pthread_mutex_unlock(&req->lock);
 *     return http_answer_history(h, c, req, a, err, retry, path, what);
 *
 * req->lock is held from the history_*() call until the connection is
 * suspended, so that http_request_done cannot resume it first. */

/* The history_done_fn (history.h) of these requests; ctx is the
 * http_request. Stores the answer in req->result (taking over its snapshot
 * reference, released when the request completes) and resumes the
 * connection if the handler suspended it already. Takes req->lock. */
void http_request_done(void *ctx, history_result *res);
/* Whether req->result holds the answer (takes req->lock). */
bool http_request_answered(http_request *req);
/* What a history_*() call answered, with req->lock held (the caller's):
 * HISTORY_PENDING suspends the connection until http_request_done resumes
 * it; HISTORY_READY stores *res (its snapshot reference moves to req). */
void http_request_wait(struct MHD_Connection *c, http_request *req, history_answer a, history_result *res);
/* Answers a history_*() call's answer a (err and retry_after_s as it gave
 * them), counted under path; `what` names the answer in its errors
 * ("past window", "timeline"). HISTORY_PENDING: MHD_YES, nothing queued
 * (the connection is suspended). HISTORY_READY: req->result, a 200 or 304
 * (http_snapshot_response) whose Cache-Control is "<scope>, max-age=<its
 * max_age_s>" with ", immutable" for an answer that can no longer change,
 * or no-cache for one with no age left (scope: "public", or "private"
 * behind auth: only the browser's own cache may keep it); 502 "<what>
 * failed" when a flow failed, 503 "unavailable" (Retry-After: 1) when
 * stopping.
 * HISTORY_BUSY: 503 "busy" with Retry-After; HISTORY_BAD: 400 "bad
 * request"; HISTORY_NONE: 404 "no <what>"; HISTORY_OFF: 503 "unavailable",
 * Retry-After: 1. Each with err as its reason. */
enum MHD_Result http_answer_history(http_server *h, struct MHD_Connection *c, http_request *req, history_answer a,
                                    const char *err, int64_t retry_after_s, const char *path, const char *what);

#endif
