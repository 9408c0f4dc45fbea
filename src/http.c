/*
 * http.c - vizfeed's HTTP server: routing (the MHD access handler, request
 * framing checks, authentication, /healthz, /readyz, /metrics,
 * /ui-settings.json, /timeline.json through the history pool) and the life cycle (start, options reloaded, quiesce,
 * stop). What each route serves at length lives apart: /vizceral.json in
 * sink_http.c, the page's files in http_static.c, connection limits and the
 * watchdog in http_conn.c (see http_internal.h for how they fit).
 */
#include "http.h"

#include "http_internal.h"
#include "http_conn.h"
#include "http_static.h"
#include "sink_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/limits.h> /* PATH_MAX: <limits.h> finds our own limits.h when src/ is on the include path */
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_parse.h"
#include "jsonw.h"
#include "timeline.h"
#include "bounds.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* MHD threads share the connection limit; more than a few buys nothing on
 * the small machines vizfeed runs on, since answering costs almost nothing. */
#define HTTP_THREADS_MAX 4
/* http_stop() lets in-flight responses finish for at most this long; idle
 * keep-alive connections of open browser tabs would otherwise hold shutdown
 * for HTTP_CONNECTION_TIMEOUT_S. */
#define HTTP_STOP_GRACE_MS 2000
/* libmicrohttpd's messages logged per minute. A client provokes one or two
 * with each request it makes too large or cuts short, so they are bounded
 * like any other input; how many were left out is said afterwards. */
#define HTTP_MHD_MESSAGES_PER_MINUTE 20

#define ALLOWED_METHODS "GET, HEAD, OPTIONS"

/* The access handler is called at least twice per request: once when the
 * headers are in, then once per chunk of body, then once more. MHD keeps a
 * connection alive only when the answer comes after the first call, so the
 * per-request state just records which call this is, and what the raw
 * request target showed before MHD decoded it: an encoded NUL that the
 * decoding would silently cut the path at, or a target over HTTP_MAX_URI.
 * *con_cls points at marks[flags]: static markers need no allocation and no
 * completion callback. */
enum { MARK_LATER = 1, MARK_NUL = 2, MARK_URI_TOO_LONG = 4 };
static char marks[8];

/* A request whose target has a query gets an http_request instead
 * (http_internal.h); NULL for the others. */
static http_request *request_state(void *con_cls) {
    char *m = con_cls;
    return m && !(m >= marks && m < marks + sizeof marks) ? con_cls : NULL;
}

/* The state of a request that needs one (http_internal.h); request_completed()
 * frees it. */
static http_request *request_new(struct MHD_Connection *c, unsigned marks_of_uri) {
    http_request *req = xcalloc(1, sizeof *req);
    req->marks = marks_of_uri;
    req->connection = c;
    pthread_mutex_init(&req->lock, NULL);
    return req;
}

static unsigned request_marks(void *con_cls) {
    char *m = con_cls;
    http_request *req = request_state(con_cls);
    if (req) return req->marks;
    return m >= marks && m < marks + sizeof marks ? (unsigned)(m - marks) : 0;
}

/* ---- helpers ---------------------------------------------------------- */

static void log_limited(http_server *h, const char *message);

void http_count_request(const char *path, unsigned code) {
    char labels[64];
    snprintf(labels, sizeof labels, "path=\"%s\",code=\"%u\"", path, code);
    metrics_add("vizfeed_http_requests_total", labels, 1);
}

void http_add_cors(http_server *h, struct MHD_Response *r) {
    pthread_mutex_lock(&h->lock);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", h->cors_origin);
    pthread_mutex_unlock(&h->lock);
}

/* Queues a response made for this request alone and drops our reference:
 * MHD keeps its own until the response is sent. */
enum MHD_Result http_queue_once(struct MHD_Connection *c, unsigned code, struct MHD_Response *r, const char *path) {
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    http_count_request(path, code);
    return ret;
}

/* The header fields of every answer made for one request; also written
 * out by http_guard_refusal(), which answers without libmicrohttpd. */
static const char *const answer_fields[][2] = {{"Cache-Control", "no-cache"}, {"X-Content-Type-Options", "nosniff"}};

struct MHD_Response *http_copied_response(const char *body, size_t len, const char *content_type) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return NULL;
    if (content_type) MHD_add_response_header(r, "Content-Type", content_type);
    for (size_t i = 0; i < sizeof answer_fields / sizeof answer_fields[0]; i++)
        MHD_add_response_header(r, answer_fields[i][0], answer_fields[i][1]);
    return r;
}

static void release_snapshot(void *cls) {
    snapshot_unref(cls);
}

struct MHD_Response *http_snapshot_response(snapshot *s, int gzip, int not_modified, const char *cors,
                                            const char *cache_control) {
    struct MHD_Response *r;
    if (not_modified) {
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else {
        /* The response borrows the snapshot's bytes and holds a reference
         * until MHD destroys it, which may be long after a newer snapshot
         * replaced this one. */
        r = MHD_create_response_from_buffer_with_free_callback_cls(gzip ? s->gzip_len : s->json_len,
                                                                   gzip ? s->gzip : s->json, release_snapshot, s);
        if (r) snapshot_ref(s);
    }
    if (!r) return NULL;
    /* A 304 repeats the validators and caching headers of the 200 it
     * stands for, so a cache can refresh what it stored. */
    if (!not_modified) MHD_add_response_header(r, "Content-Type", "application/json");
    if (gzip && !not_modified) MHD_add_response_header(r, "Content-Encoding", "gzip");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", cors);
    MHD_add_response_header(r, "Access-Control-Expose-Headers", "ETag");
    MHD_add_response_header(r, "Cache-Control", cache_control);
    MHD_add_response_header(r, "ETag", gzip ? s->etag_gzip : s->etag);
    MHD_add_response_header(r, "Vary", "Accept-Encoding");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    return r;
}

/* A small JSON answer: {"<key>":<value>,"reason":"..."}, with Retry-After
 * when retry_after_s > 0 (http_internal.h). One writer for every JSON
 * answer made for one request, so that they all say the same thing the
 * same way. */
static enum MHD_Result answer_json(http_server *h, struct MHD_Connection *c, unsigned code, const char *path,
                                   const char *key, const char *value_json, const char *reason, int64_t retry_after_s) {
    buf body;
    buf_init(&body, 4096);
    buf_printf(&body, "{\"%s\":%s", key, value_json);
    if (reason) {
        buf_puts(&body, ",\"reason\":\"");
        jsonw_escape(&body, reason, strlen(reason));
        buf_putc(&body, '"');
    }
    buf_puts(&body, "}\n");
    /* Cut JSON is never published: closing the connection says less but says nothing false. */
    struct MHD_Response *r =
        buf_failed(&body) ? NULL : http_copied_response(buf_cstr(&body), body.len, "application/json");
    buf_free(&body);
    if (!r) return MHD_NO;
    if (retry_after_s > 0) {
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%lld", (long long)retry_after_s);
        MHD_add_response_header(r, "Retry-After", seconds);
        /* A page's script reads it only when exposed (CORS). */
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "Retry-After");
    }
    http_add_cors(h, r);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", ALLOWED_METHODS);
    if (code == MHD_HTTP_UNAUTHORIZED) {
        pthread_mutex_lock(&h->lock);
        MHD_add_response_header(r, "WWW-Authenticate",
                                h->auth == AUTH_BEARER ? "Bearer realm=\"vizfeed\""
                                                       : "Basic realm=\"vizfeed\", charset=\"UTF-8\"");
        pthread_mutex_unlock(&h->lock);
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "WWW-Authenticate");
    }
    return http_queue_once(c, code, r, path);
}

enum MHD_Result http_answer_json(http_server *h, struct MHD_Connection *c, unsigned code, const char *path,
                                 const char *key, const char *value_json, const char *reason) {
    return answer_json(h, c, code, path, key, value_json, reason, 0);
}

enum MHD_Result http_answer_json_error(http_server *h, struct MHD_Connection *c, unsigned code, const char *path,
                                       const char *error, const char *reason, int64_t retry_after_s) {
    char value[128];
    snprintf(value, sizeof value, "\"%s\"", error);
    return answer_json(h, c, code, path, "error", value, reason, retry_after_s);
}

enum MHD_Result http_answer_not_found(http_server *h, struct MHD_Connection *c) {
    return http_answer_json(h, c, MHD_HTTP_NOT_FOUND, "/other", "error", "\"not found\"", NULL);
}

/* ---- authentication --------------------------------------------------- */

/* The credentials a request must present, from the options; NULL when the
 * endpoints are open. Browsers and curl send Basic credentials as the
 * canonical (padded) base64, so comparing the encoded form is enough. */
static char *auth_credentials_of(const http_options *o, auth_scheme *scheme) {
    *scheme = AUTH_NONE;
    if (!util_str_empty(o->auth_bearer_token)) {
        *scheme = AUTH_BEARER;
        return xstrdup(o->auth_bearer_token);
    }
    if (util_str_empty(o->auth_username)) return NULL;
    size_t plain_len = strlen(o->auth_username) + 1 + (o->auth_password ? strlen(o->auth_password) : 0);
    buf plain, encoded;
    buf_init(&plain, plain_len + 1);
    buf_init(&encoded, 4 * (plain_len / 3 + 1) + 1);
    buf_printf(&plain, "%s:%s", o->auth_username, o->auth_password ? o->auth_password : "");
    util_base64_encode(&encoded, (const unsigned char *)buf_cstr(&plain), plain.len);
    explicit_bzero(plain.data, plain.len);
    buf_free(&plain);
    *scheme = AUTH_BASIC;
    return buf_take(&encoded, NULL);
}

static void auth_credentials_free(char *credentials) {
    if (credentials) explicit_bzero(credentials, strlen(credentials));
    free(credentials);
}

/* Compares in a time that depends on the expected length only, so that
 * response times do not tell how much of a guess was right. */
static int same_secret(const char *given, size_t given_len, const char *expected) {
    size_t expected_len = strlen(expected);
    unsigned char diff = given_len != expected_len;
    for (size_t i = 0; i < expected_len; i++)
        diff |= (unsigned char)expected[i] ^ (unsigned char)(i < given_len ? given[i] : 0);
    return diff == 0;
}

/* Whether the request's Authorization header ("Scheme credentials", the
 * scheme in any case, RFC 9110 §11.1) matches the configured credentials. */
static int authorized(http_server *h, struct MHD_Connection *c) {
    const char *value = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    pthread_mutex_lock(&h->lock);
    auth_scheme scheme = h->auth;
    int ok = scheme == AUTH_NONE;
    if (!ok && value) {
        const char *name = scheme == AUTH_BASIC ? "Basic" : "Bearer";
        size_t name_len = strlen(name);
        if (strncasecmp(value, name, name_len) == 0 && (value[name_len] == ' ' || value[name_len] == '\t')) {
            const char *given = value + name_len;
            while (*given == ' ' || *given == '\t') given++;
            size_t given_len = strlen(given);
            while (given_len > 0 && (given[given_len - 1] == ' ' || given[given_len - 1] == '\t')) given_len--;
            ok = same_secret(given, given_len, h->auth_credentials);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return ok;
}

/* ---- other routes ----------------------------------------------------- */

static enum MHD_Result serve_preflight(http_server *h, struct MHD_Connection *c, const char *path) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    http_add_cors(h, r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", ALLOWED_METHODS);
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "If-None-Match, Content-Type, Authorization");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    return http_queue_once(c, MHD_HTTP_NO_CONTENT, r, path);
}

static enum MHD_Result serve_readiness(http_server *h, struct MHD_Connection *c) {
    pthread_mutex_lock(&h->lock);
    int have = h->graph.snap != NULL;
    int64_t refreshed = have ? h->graph.snap->refreshed_mono_ms : 0;
    int64_t limit = 3 * h->interval_ms;
    pthread_mutex_unlock(&h->lock);
    if (!have) return http_answer_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "/readyz", "ready", "false", "no graph yet");
    if (refreshed == 0) /* a graph, but some flow has failed in every refresh so far */
        return http_answer_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "/readyz", "ready", "false",
                                "no refresh has succeeded for every flow yet");
    int64_t age = util_monotonic_ms() - refreshed;
    if (age >= limit) {
        char age_text[32], limit_text[32], reason[128];
        util_format_duration(age, age_text, sizeof age_text);
        util_format_duration(limit, limit_text, sizeof limit_text);
        snprintf(reason, sizeof reason, "last successful refresh %s ago, more than 3 intervals (%s)", age_text,
                 limit_text);
        return http_answer_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "/readyz", "ready", "false", reason);
    }
    return http_answer_json(h, c, MHD_HTTP_OK, "/readyz", "ready", "true", NULL);
}

static enum MHD_Result serve_metrics(http_server *h, struct MHD_Connection *c) {
    pthread_mutex_lock(&h->lock);
    int have = h->graph.snap != NULL;
    int64_t refreshed = have ? h->graph.snap->refreshed_mono_ms : 0;
    pthread_mutex_unlock(&h->lock);
    if (have && refreshed > 0)
        metrics_set("vizfeed_snapshot_age_seconds", "", (double)(util_monotonic_ms() - refreshed) / 1000.0);
    metrics_update_process();
    buf out;
    buf_init(&out, HTTP_MAX_METRICS_BYTES);
    metrics_render(&out);
    size_t len;
    char *text = buf_take(&out, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    http_add_cors(h, r);
    return http_queue_once(c, MHD_HTTP_OK, r, "/metrics");
}

/* ---- requests that wait for the history pool ----------------------- */

/* Runs on a history worker (or in history_stop()); the lock orders it
 * after the access handler's suspend (http_request_wait). */
void http_request_done(void *ctx, history_result *res) {
    http_request *req = ctx;
    pthread_mutex_lock(&req->lock);
    req->result = *res;
    req->answered = true;
    if (req->waiting) {
        req->waiting = false;
        MHD_resume_connection(req->connection);
    }
    pthread_mutex_unlock(&req->lock);
}

bool http_request_answered(http_request *req) {
    pthread_mutex_lock(&req->lock);
    bool answered = req->answered;
    pthread_mutex_unlock(&req->lock);
    return answered;
}

void http_request_wait(struct MHD_Connection *c, http_request *req, history_answer a, history_result *res) {
    if (a == HISTORY_PENDING) {
        req->waiting = true;
        MHD_suspend_connection(c);
    } else if (a == HISTORY_READY) {
        req->result = *res;
        req->answered = true;
    }
}

/* The answer itself: identity or gzip with its own strong ETag, or a 304;
 * one that can no longer change may be kept by any cache for a year (its
 * bytes, hence its ETag, will not change), a recent one for what is left of
 * its interval. Behind auth, only the browser's own cache may keep it. */
static enum MHD_Result answer_history_result(http_server *h, struct MHD_Connection *c, const history_result *res,
                                             const char *path, const char *what) {
    if (res->status == HISTORY_STOPPED)
        return http_answer_json_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, path, "unavailable", res->error, 1);
    if (res->status != HISTORY_OK) {
        char failed[64];
        snprintf(failed, sizeof failed, "%s failed", what);
        return http_answer_json_error(h, c, MHD_HTTP_BAD_GATEWAY, path, failed, res->error, 0);
    }
    pthread_mutex_lock(&h->lock);
    char *cors = xstrdup(h->cors_origin);
    const char *scope = h->auth == AUTH_NONE ? "public" : "private";
    pthread_mutex_unlock(&h->lock);
    char cache_control[96];
    if (res->immutable)
        snprintf(cache_control, sizeof cache_control, "%s, max-age=%lld, immutable", scope, (long long)res->max_age_s);
    else if (res->max_age_s > 0)
        snprintf(cache_control, sizeof cache_control, "%s, max-age=%lld", scope, (long long)res->max_age_s);
    else
        snprintf(cache_control, sizeof cache_control, "no-cache");
    int gzip = http_accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding"));
    const char *if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    int not_modified = http_etag_matches(if_none_match, gzip ? res->snap->etag_gzip : res->snap->etag);
    struct MHD_Response *r = http_snapshot_response(res->snap, gzip, not_modified, cors, cache_control);
    free(cors);
    return http_queue_once(c, not_modified ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r, path);
}

enum MHD_Result http_answer_history(http_server *h, struct MHD_Connection *c, http_request *req, history_answer a,
                                    const char *err, int64_t retry_after_s, const char *path, const char *what) {
    char none[64];
    switch (a) {
    case HISTORY_PENDING:
        return MHD_YES; /* suspended: called again with HISTORY_READY once resumed */
    case HISTORY_READY:
        return answer_history_result(h, c, &req->result, path, what);
    case HISTORY_BUSY:
        return http_answer_json_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, path, "busy", err, retry_after_s);
    case HISTORY_BAD:
        return http_answer_json_error(h, c, MHD_HTTP_BAD_REQUEST, path, "bad request", err, 0);
    case HISTORY_NONE: /* as a vizfeed without the route: the page shows its note */
        snprintf(none, sizeof none, "no %s", what);
        return http_answer_json_error(h, c, MHD_HTTP_NOT_FOUND, path, none, err, 0);
    default:
        return http_answer_json_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, path, "unavailable", err, 1);
    }
}

/* ---- /timeline.json -------------------------------------------------- */

/* GET /timeline.json?from=&to=&step=[&region=] (README.md, "Timeline"):
 * the bytes of `vizfeed timeline` with the same arguments, computed by the
 * history pool (history.h) as a past window is, while the connection is
 * suspended; cached, immutable once its `to` can no longer change. */

/* Reads one time argument (absent: fallback); -1 with the reason. */
static int timeline_time(const http_query *q, http_arg a, int64_t now, int64_t fallback, int64_t *ms, char *reason) {
    *ms = fallback;
    if (!q || !q->present[a]) return 0;
    char err[ERR_LEN];
    if (util_parse_time_at_ms(q->value[a], now, ms, err) == 0) return 0;
    snprintf(reason, ERR_LEN + 16, "%s=: %s", http_arg_name(a), err);
    return -1;
}

static enum MHD_Result serve_timeline(http_server *h, struct MHD_Connection *c, void **con_cls) {
    if (!h->history) return http_answer_not_found(h, c);
    http_request *req = request_state(*con_cls);
    if (!req) {
        /* No query (all defaults): the state that suspends the request is
         * made here, and request_completed() frees it as any other. */
        req = request_new(c, request_marks(*con_cls));
        *con_cls = req;
    }
    if (http_request_answered(req)) /* resumed, or answered from the cache */
        return http_answer_history(h, c, req, HISTORY_READY, NULL, 0, "/timeline.json", "timeline");
    const http_query *q = &req->query;
    if (q->error)
        return http_answer_json_error(h, c, MHD_HTTP_BAD_REQUEST, "/timeline.json", "bad request", q->error, 0);
    if (q->present[HTTP_ARG_AT])
        return http_answer_json_error(
            h, c, MHD_HTTP_BAD_REQUEST, "/timeline.json", "bad request",
            "at= is for /vizceral.json: /timeline.json takes from=, to=, step= and region=", 0);
    char err[ERR_LEN], reason[ERR_LEN + 16];
    int64_t now = util_now_ms(), from, to, step = 0, retry = 0;
    if (timeline_time(q, HTTP_ARG_TO, now, now, &to, reason) < 0 ||
        timeline_time(q, HTTP_ARG_FROM, now, to - TIMELINE_DEFAULT_SPAN_MS, &from, reason) < 0)
        return http_answer_json_error(h, c, MHD_HTTP_BAD_REQUEST, "/timeline.json", "bad request", reason, 0);
    if (q->present[HTTP_ARG_STEP] && (util_parse_duration_ms(q->value[HTTP_ARG_STEP], &step, err) < 0 || step <= 0)) {
        snprintf(reason, sizeof reason, "step= takes a positive duration such as 10s or 1m, not '%.64s'",
                 q->value[HTTP_ARG_STEP]);
        return http_answer_json_error(h, c, MHD_HTTP_BAD_REQUEST, "/timeline.json", "bad request", reason, 0);
    }
    const char *region = q->present[HTTP_ARG_REGION] ? q->value[HTTP_ARG_REGION] : NULL;
    if (region && !*region)
        return http_answer_json_error(h, c, MHD_HTTP_BAD_REQUEST, "/timeline.json", "bad request",
                                      "region= is empty: name a region, or leave it out for every region", 0);
    history_result res;
    /* Held across the request: the answer's callback cannot resume the
     * connection before it is suspended. */
    pthread_mutex_lock(&req->lock);
    history_answer a =
        history_timeline(h->history, from, to, step, region, now, http_request_done, req, &res, &retry, err);
    http_request_wait(c, req, a, &res);
    pthread_mutex_unlock(&req->lock);
    return http_answer_history(h, c, req, a, err, retry, "/timeline.json", "timeline");
}

/* ---- MHD callbacks ---------------------------------------------------- */

static int request_has_body(struct MHD_Connection *c) {
    const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding")) return 1;
    if (!length) return 0;
    /* http_guard.c refused the invalid ones before MHD parsed them; one
     * that still did not parse is taken as announcing a body (closed). */
    unsigned long long n;
    const char *why;
    return http_content_length_parse(length, strlen(length), &n, &why) < 0 || n > 0;
}

/* Gathers what http_head_refusal() decides on from every header field:
 * MHD's lookups return the first of each name only, which is how a second
 * Content-Length slipped through as the start of another request. */
static enum MHD_Result note_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                  const char *value, size_t value_size) {
    http_head *head = cls;
    (void)kind;
    if (!http_field_name_valid(key, key_size) || !http_field_value_valid(value, value_size)) head->fields_valid = 0;
    if (strcasecmp(key, "Host") == 0) {
        head->host_count++;
        /* A field value does not include the whitespace around it (RFC 9110
         * §5.5); MHD drops what comes before it, not what follows. */
        while (value_size > 0 && (value[value_size - 1] == ' ' || value[value_size - 1] == '\t')) value_size--;
        while (value_size > 0 && (*value == ' ' || *value == '\t')) value++, value_size--;
        if (!http_host_valid(value, value_size)) head->host_valid = 0;
    } else if (strcasecmp(key, "Content-Length") == 0) {
        head->length_count++;
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        head->transfer_count++;
    }
    return MHD_YES;
}

/* The body of a refusal for bad framing: {"error":"bad request","reason":...}. */
static void refusal_body(buf *body, const char *reason) {
    buf_puts(body, "{\"error\":\"bad request\",\"reason\":\"");
    jsonw_escape(body, reason, strlen(reason));
    buf_puts(body, "\"}\n");
}

/* A request whose framing cannot be trusted gets its status and a
 * Connection: close, which makes MHD close the connection after the answer
 * instead of reading what follows as another request. Returns 0 when the
 * request may go on, 1 when it was answered, -1 when no answer could be
 * made (MHD then closes the connection). */
static int refuse_request(http_server *h, struct MHD_Connection *c, const char *version, unsigned marks_set) {
    http_head head = {.host_valid = 1, .fields_valid = 1};
    head.http11 = strncmp(version, "HTTP/1.", 7) == 0 && version[7] >= '1' && version[7] <= '9';
    head.uri_too_long = (marks_set & MARK_URI_TOO_LONG) != 0;
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, note_field, &head);
    const char *reason;
    unsigned code = http_head_refusal(&head, &reason);
    if (code == 0) return 0;
    buf body;
    buf_init(&body, 512);
    refusal_body(&body, reason);
    struct MHD_Response *r =
        buf_failed(&body) ? NULL : http_copied_response(buf_cstr(&body), body.len, "application/json");
    buf_free(&body);
    if (!r) return -1;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    http_add_cors(h, r);
    return http_queue_once(c, code, r, "/other") == MHD_YES ? 1 : -1;
}

/* The same answer as refuse_request()'s, written out for http_guard.c,
 * which answers a head libmicrohttpd must not see: the header fields
 * libmicrohttpd would add (Date, Content-Length) and those of
 * http_copied_response(), CORS and Connection: close. Cut to nothing when
 * it does not fit in cap (the connection is closed all the same). */
size_t http_guard_refusal(void *ctx, const char *reason, char *out, size_t cap) {
    http_server *h = ctx;
    buf body, answer;
    buf_init(&body, 512);
    buf_init(&answer, cap);
    refusal_body(&body, reason);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    buf_printf(&answer, "HTTP/1.1 400 Bad Request\r\nDate: %s\r\nConnection: close\r\n", date);
    buf_puts(&answer, "Content-Type: application/json\r\n");
    for (size_t i = 0; i < sizeof answer_fields / sizeof answer_fields[0]; i++)
        buf_printf(&answer, "%s: %s\r\n", answer_fields[i][0], answer_fields[i][1]);
    pthread_mutex_lock(&h->lock);
    buf_printf(&answer, "Access-Control-Allow-Origin: %s\r\n", h->cors_origin);
    pthread_mutex_unlock(&h->lock);
    buf_printf(&answer, "Content-Length: %zu\r\n\r\n", body.len);
    buf_append(&answer, body.data, body.len);
    size_t n = buf_failed(&body) || buf_failed(&answer) ? 0 : answer.len;
    if (n) memcpy(out, answer.data, n);
    buf_free(&body);
    buf_free(&answer);
    http_count_request("/other", MHD_HTTP_BAD_REQUEST);
    char message[ERR_LEN];
    snprintf(message, sizeof message, "refused a request with %s (400, connection closed)", reason);
    log_limited(h, message);
    return n;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
    http_server *h = cls;
    unsigned m = request_marks(*con_cls);
    if (!(m & MARK_LATER)) {
        http_conn_await_headers(c, ANSWERING);
        int refused = refuse_request(h, c, version, m);
        if (refused != 0) return refused > 0 ? MHD_YES : MHD_NO;
        /* No route takes a body: a request that announces one is answered
         * now, before MHD reads it, and its connection is closed (MHD sets
         * discard_request for an answer queued on this first call). Request
         * size stays bounded by the connection memory limit. http_scan.c
         * relies on this: it stops looking for heads after such a one. */
        if (!request_has_body(c)) {
            http_request *req = request_state(*con_cls);
            if (req)
                req->marks |= MARK_LATER;
            else
                *con_cls = &marks[m | MARK_LATER];
            return MHD_YES;
        }
    } else if (*upload_data_size != 0) {
        return MHD_NO; /* a body nobody announced */
    }
    url = http_target_path(url);
    int nul = (m & MARK_NUL) != 0;
    /* "%00" decodes to a NUL that cuts the path, so "/vizceral.json%00"
     * would be taken for "/vizceral.json": no route has such a name. */
    if (nul) return http_answer_not_found(h, c);

    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0) return serve_preflight(h, c, http_metrics_path(url));
    /* Liveness probes (systemd, Docker, Kubernetes) carry no credentials. */
    if (strcmp(url, "/healthz") != 0 && !authorized(h, c))
        return http_answer_json(h, c, MHD_HTTP_UNAUTHORIZED, http_metrics_path(url), "error", "\"unauthorized\"",
                                "this server needs credentials in an Authorization header");
    if (!is_get)
        return http_answer_json(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, http_metrics_path(url), "error",
                                "\"method not allowed\"", "only GET, HEAD and OPTIONS are served");
    if (strcmp(url, "/vizceral.json") == 0) return sink_http_serve(h, c, request_state(*con_cls));
    if (strcmp(url, "/timeline.json") == 0) return serve_timeline(h, c, con_cls);
    if (strcmp(url, "/healthz") == 0) return http_answer_json(h, c, MHD_HTTP_OK, "/healthz", "status", "\"ok\"", NULL);
    if (strcmp(url, "/readyz") == 0) return serve_readiness(h, c);
    if (strcmp(url, "/metrics") == 0) return serve_metrics(h, c);
    if (strcmp(url, "/ui-settings.json") == 0) {
        pthread_mutex_lock(&h->lock);
        struct MHD_Response *r = http_copied_response(h->ui_settings, strlen(h->ui_settings), "application/json");
        pthread_mutex_unlock(&h->lock);
        return http_queue_once(c, MHD_HTTP_OK, r, "/static"); /* a file of the page, as far as metrics go */
    }
    return http_static_serve(h, c, url, nul);
}

/* Sees the raw request target before MHD decodes it; its return value
 * becomes the request's *con_cls.
 *
 * It reads the query itself and then ends the target at its '?'.
 * libmicrohttpd 0.9.75 spends its per-connection memory on every argument
 * it parses: a few hundred of them left no room for the headers, and the
 * request was then neither answered nor closed until the connection timed
 * out. So the arguments are read here, from the raw target, by our own
 * bounded parser (http_query_parse: a few named arguments of bounded
 * length, into the request's own fixed-size state, which request_completed()
 * frees), and MHD is left an empty query. MHD hands this callback its own
 * buffer (it calls it "before we modify URI *or* args") and finds the
 * arguments at the same '?', so a NUL right after it leaves an empty query.
 * test_http_hostile.py: framing (3,000 query arguments) checks that this
 * still holds with the installed library. The routes that take arguments
 * (/vizceral.json?at=T) refuse a query that did not parse or names others;
 * the rest ignore it (the page's ?src= and ?at= are read by the page). */
static void *inspect_raw_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    unsigned m = 0;
    if (http_uri_has_nul(uri)) m |= MARK_NUL;
    size_t len = strlen(uri);
    if (len > HTTP_MAX_URI) m |= MARK_URI_TOO_LONG;
    char *query = (char *)http_uri_query(uri);
    if (!query) return &marks[m];
    http_request *req = NULL;
    if (*query && len <= HTTP_MAX_URI) {
        req = request_new(c, m);
        (void)http_query_parse(query, strlen(query), &req->query); /* an error is the route's to answer */
    }
    *query = '\0';
    return req ? (void *)req : &marks[m];
}

/* MHD_OPTION_NOTIFY_COMPLETED: frees a request's state (a past window's
 * answer included), then lets the connection tracking know. A suspended
 * request is never completed: history_stop() resumes every one first. */
static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode code) {
    http_request *req = request_state(*con_cls);
    if (req) {
        snapshot_unref(req->result.snap);
        pthread_mutex_destroy(&req->lock);
        free(req);
        *con_cls = NULL;
    }
    http_conn_completed(cls, c, con_cls, code);
}

__attribute__((format(printf, 2, 0))) static void log_from_mhd(void *cls, const char *fmt, va_list ap) {
    http_server *h = cls;
    char message[ERR_LEN];
    vsnprintf(message, sizeof message, fmt, ap);
    size_t n = strlen(message);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r')) message[--n] = '\0';
    /* While starting, the message explains a failure that http_start()
     * returns to its caller, which decides what the user sees. */
    if (__atomic_load_n(&h->starting, __ATOMIC_ACQUIRE)) {
        snprintf(h->start_error, sizeof h->start_error, "%s", message);
        return;
    }
    log_limited(h, message);
}

/* A line about what a client did, at most HTTP_MHD_MESSAGES_PER_MINUTE
 * of them (with libmicrohttpd's own), then a count of those left out. */
static void log_limited(http_server *h, const char *message) {
    unsigned left_out = 0;
    pthread_mutex_lock(&h->log_lock);
    int64_t now = util_monotonic_ms();
    if (now - h->log_window_ms >= HTTP_LOG_WINDOW_MS) {
        left_out = h->log_suppressed;
        h->log_window_ms = now;
        h->log_count = h->log_suppressed = 0;
    }
    int show = h->log_count < HTTP_MHD_MESSAGES_PER_MINUTE;
    if (show)
        h->log_count++;
    else
        h->log_suppressed++;
    pthread_mutex_unlock(&h->log_lock);
    if (left_out)
        log_warn("http: %u more messages from libmicrohttpd were not logged (at most %d a minute)", left_out,
                 HTTP_MHD_MESSAGES_PER_MINUTE);
    if (show) log_warn("http: %s", message);
}

/* ---- life cycle ------------------------------------------------------- */

typedef struct {
    struct sockaddr_storage addr;
    int ipv6;
    int any; /* ":port": every interface */
} listen_address;

static int parse_listen(const char *text, listen_address *out, char *err) {
    memset(out, 0, sizeof *out);
    if (util_str_empty(text)) return util_fail(err, "listen address is empty (expected host:port, [v6]:port or :port)");
    char host[256];
    const char *colon;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') return util_fail(err, "listen address '%s': expected [IPv6 address]:port", text);
        size_t n = (size_t)(close - text - 1);
        if (n >= sizeof host) return util_fail(err, "listen address '%s': host too long", text);
        memcpy(host, text + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon) return util_fail(err, "listen address '%s': expected host:port or :port", text);
        size_t n = (size_t)(colon - text);
        if (n >= sizeof host) return util_fail(err, "listen address '%s': host too long", text);
        memcpy(host, text, n);
        host[n] = '\0';
        if (strchr(host, ':'))
            return util_fail(err, "listen address '%s': write IPv6 addresses in brackets, e.g. [::1]:8080", text);
    }
    const char *port_text = colon + 1;
    char *end;
    errno = 0;
    long port = strtol(port_text, &end, 10);
    if (!*port_text || *end || errno || port < 0 || port > 65535)
        return util_fail(err, "listen address '%s': port must be a number from 0 to 65535", text);

    if (!host[0]) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_any;
        a->sin6_port = htons((uint16_t)port);
        out->ipv6 = 1;
        out->any = 1;
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) return util_fail(err, "listen address '%s': cannot resolve '%s': %s", text, host, gai_strerror(rc));
    memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
    out->ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    if (out->ipv6)
        ((struct sockaddr_in6 *)&out->addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&out->addr)->sin_port = htons((uint16_t)port);
    return 0;
}

static struct MHD_Daemon *start_daemon(http_server *h, const listen_address *a) {
    /* Room above our own limit for connections accepted at the same moment
     * by several threads: at most one each before they are counted. */
    unsigned mhd_limit = h->connection_limit + HTTP_THREADS_MAX;
    /* Suspend/resume: a request for a past window waits for a history
     * worker without holding one of these threads (sink_http.c). */
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    if (a->ipv6) flags |= a->any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    /* One thread per CPU this process may run on: the affinity mask follows
     * taskset and a container's cpuset, where the online count would not. */
    cpu_set_t mask;
    long cpus = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cpus < 1 ? 1 : cpus > HTTP_THREADS_MAX ? HTTP_THREADS_MAX : (unsigned)cpus;
    return MHD_start_daemon(
        flags, 0, http_conn_accept, h, handle_request, h, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&a->addr,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_URI_LOG_CALLBACK, inspect_raw_uri, h, MHD_OPTION_NOTIFY_CONNECTION, http_conn_notify, h,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, h, MHD_OPTION_EXTERNAL_LOGGER, log_from_mhd, h, MHD_OPTION_END);
}

http_server *http_start(const http_options *o, char *err) {
    listen_address address;
    if (parse_listen(o->listen, &address, err) < 0) return NULL;
    char *ui_real = NULL; /* only checked here: requests resolve it again */
    if (!util_str_empty(o->ui_dir) && http_static_resolve_dir(o->ui_dir, &ui_real, err) < 0) return NULL;
    free(ui_real);

    http_server *h = xcalloc(1, sizeof *h);
    h->sink.ops = &sink_http_ops;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->connections_lock, NULL);
    pthread_mutex_init(&h->log_lock, NULL);
    pthread_condattr_t clock;
    pthread_condattr_init(&clock);
    pthread_condattr_setclock(&clock, CLOCK_MONOTONIC);
    pthread_cond_init(&h->watchdog_wake, &clock);
    pthread_condattr_destroy(&clock);
    h->connection_limit = http_conn_allowed();
    h->refusals_logged_ms = h->log_window_ms = util_monotonic_ms() - HTTP_LOG_WINDOW_MS;
    h->cors_origin = xstrdup(o->cors_origin ? o->cors_origin : "*");
    h->ui_dir = xstrdup(o->ui_dir ? o->ui_dir : "");
    h->ui_settings = xstrdup(o->ui_settings ? o->ui_settings : "{}");
    h->interval_ms = o->interval_ms;
    h->auth_credentials = auth_credentials_of(o, &h->auth);
    h->history = o->history;
    h->starting = 1;
    h->daemon = start_daemon(h, &address);
    if (!h->daemon && address.any) {
        /* No IPv6 on this host: every IPv4 interface still answers. */
        struct sockaddr_in *v4 = (struct sockaddr_in *)&address.addr;
        uint16_t port = ((struct sockaddr_in6 *)&address.addr)->sin6_port;
        memset(&address, 0, sizeof address);
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = port;
        h->daemon = start_daemon(h, &address);
    }
    if (!h->daemon) {
        util_fail(err, "cannot listen on %s: %s", o->listen,
                  h->start_error[0] ? h->start_error : "libmicrohttpd failed to start");
        http_stop(h);
        return NULL;
    }
    __atomic_store_n(&h->starting, 0, __ATOMIC_RELEASE);
    int rc = pthread_create(&h->watchdog, NULL, http_conn_watchdog, h);
    if (rc != 0) {
        util_fail(err, "cannot start a thread: %s", strerror(rc));
        http_stop(h);
        return NULL;
    }
    h->watchdog_running = true;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    return h;
}

int http_port(const http_server *h) {
    return h->port;
}

sink *http_sink(http_server *h) {
    return &h->sink;
}

void http_update_options(http_server *h, const http_options *o) {
    char scratch[ERR_LEN];
    char *ui_real = NULL;
    int ui_ok = util_str_empty(o->ui_dir) || http_static_resolve_dir(o->ui_dir, &ui_real, scratch) == 0;
    free(ui_real);
    char *cors = xstrdup(o->cors_origin ? o->cors_origin : "*");
    auth_scheme auth;
    char *credentials = auth_credentials_of(o, &auth);
    graph_responses fresh = {0}, old = {0};

    pthread_mutex_lock(&h->lock);
    snapshot *current = snapshot_ref(h->graph.snap);
    int cors_changed = strcmp(cors, h->cors_origin) != 0;
    pthread_mutex_unlock(&h->lock);
    /* The prebuilt responses carry the CORS header: rebuild them now rather
     * than at the next refresh. */
    int rebuilt = current && cors_changed && sink_http_responses_build(&fresh, current, cors, scratch) == 0;

    pthread_mutex_lock(&h->lock);
    free(h->cors_origin);
    h->cors_origin = cors;
    /* An unusable new ui_dir keeps the old one, as a failed reload keeps
     * the old configuration. */
    if (ui_ok) {
        free(h->ui_dir);
        h->ui_dir = xstrdup(o->ui_dir ? o->ui_dir : "");
    }
    h->interval_ms = o->interval_ms;
    free(h->ui_settings);
    h->ui_settings = xstrdup(o->ui_settings ? o->ui_settings : "{}");
    h->auth = auth;
    char *old_credentials = h->auth_credentials;
    h->auth_credentials = credentials;
    if (rebuilt && h->graph.snap == current) {
        old = h->graph;
        h->graph = fresh;
        rebuilt = 0;
    }
    pthread_mutex_unlock(&h->lock);
    /* When a publish slipped in between, its responses are kept: they may
     * carry the old origin until the next publish, which is harmless. */
    if (rebuilt) sink_http_responses_free(&fresh);
    sink_http_responses_free(&old);
    snapshot_unref(current);
    auth_credentials_free(old_credentials);
}

/* Not MHD_quiesce_daemon(): in libmicrohttpd 0.9.75 (and later 0.9.x) it
 * removes the listening socket from each pool thread's epoll set while that
 * thread, woken by any event, may be removing it too; the second one gets
 * ENOENT and libmicrohttpd aborts the process ("Failed to remove listen FD
 * from epoll set"), a SIGTERM ending in SIGABRT (test_shutdown.py). The
 * accept policy (http_conn_accept) closes every new connection instead; MHD
 * keeps the listening socket, and MHD_stop_daemon() closes it. */
void http_quiesce(http_server *h) {
    if (!h || !h->daemon) return;
    __atomic_store_n(&h->quiesced, 1, __ATOMIC_RELEASE);
}

void http_stop(http_server *h) {
    if (!h) return;
    if (h->daemon) {
        /* Stop accepting, then give responses already being sent a moment
         * to finish before MHD closes every connection. */
        http_quiesce(h);
        for (int waited = 0; waited < HTTP_STOP_GRACE_MS; waited += 10) {
            const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
            if (!info || info->num_connections == 0) break;
            usleep(10 * 1000);
        }
        MHD_stop_daemon(h->daemon);
    }
    if (h->watchdog_running) {
        pthread_mutex_lock(&h->connections_lock);
        h->watchdog_stopping = true;
        pthread_cond_signal(&h->watchdog_wake);
        pthread_mutex_unlock(&h->connections_lock);
        pthread_join(h->watchdog, NULL);
    }
    /* MHD reported every connection closed when it stopped; nothing is
     * left here unless it did not start. */
    while (h->connections) {
        tracked_connection *next = h->connections->next;
        http_guard_unwatch(h->connections->fd); /* the guard must not keep a pointer to it */
        free(h->connections);
        h->connections = next;
    }
    sink_http_responses_free(&h->graph);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->connections_lock);
    pthread_mutex_destroy(&h->log_lock);
    pthread_cond_destroy(&h->watchdog_wake);
    free(h->cors_origin);
    free(h->ui_dir);
    free(h->ui_settings);
    auth_credentials_free(h->auth_credentials);
    free(h);
}
