#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_parse.h"
#include "jsonw.h"
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
/* /metrics output; a few hundred series take a few tens of kilobytes. */
#define HTTP_MAX_METRICS_BYTES (4u << 20)
/* Descriptors kept for all but client connections: the listening socket,
 * libmicrohttpd's epoll and wake-up descriptors, the flows' Elasticsearch
 * connections and followed files, the output file, /proc reads. */
#define HTTP_RESERVED_FDS 256
/* How often the watchdog looks for request headers that are overdue: a
 * connection is closed at most this much after HTTP_HEADERS_TIMEOUT_S. */
#define HTTP_WATCHDOG_PERIOD_MS 1000
/* libmicrohttpd's messages logged per minute. A client provokes one or two
 * with each request it makes too large or cuts short, so they are bounded
 * like any other input; how many were left out is said afterwards. */
#define HTTP_MHD_MESSAGES_PER_MINUTE 20
#define HTTP_LOG_WINDOW_MS           60000
/* A static file is read and sent this much at a time. */
#define HTTP_STATIC_BLOCK (64u << 10)

#define ALLOWED_METHODS "GET, HEAD, OPTIONS"

/* The page's security policy, sent as a header with every file of ui_dir:
 * the same policy ui/src/index.html states in its <meta> tag (scripts from
 * this origin only; Vizceral's blob: workers and data: images; a feed on
 * another origin through ?src=), plus what a <meta> tag cannot say: no
 * other site may frame the page (frame-ancestors; X-Frame-Options for older
 * browsers), so a crafted link cannot show it under someone else's
 * clickjacking overlay. test_http_hostile.py checks it against the <meta>. */
#define PAGE_SECURITY_POLICY                                                                                           \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "                  \
    "worker-src blob: data:; connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'none'; frame-ancestors 'none'"

typedef enum { AUTH_NONE, AUTH_BASIC, AUTH_BEARER } auth_scheme;

/* The current snapshot and the responses prebuilt from it. A request only
 * takes the server's mutex long enough to queue one of them, which makes
 * MHD take its own reference; publish() swaps the set under the same mutex
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
} tracked_connection;

#define ANSWERING (-1)

struct http_server {
    sink sink; /* what the refresher publishes to; owned by the server */
    struct MHD_Daemon *daemon;
    int port;
    bool quiesced;       /* no longer accepting (main thread only) */
    MHD_socket listener; /* the listening socket MHD handed back when quiesced */
    int starting;        /* atomic: MHD messages are captured, not logged */
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

static unsigned request_marks(void *con_cls) {
    char *m = con_cls;
    return m >= marks && m < marks + sizeof marks ? (unsigned)(m - marks) : 0;
}

/* ---- helpers ---------------------------------------------------------- */

static int64_t retry_after_seconds(int64_t interval_ms) {
    int64_t s = (interval_ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

static void count_request(const char *path, unsigned code) {
    char labels[64];
    snprintf(labels, sizeof labels, "path=\"%s\",code=\"%u\"", path, code);
    metric_add("vizfeed_http_requests_total", labels, 1);
}

static void add_cors(http_server *h, struct MHD_Response *r) {
    pthread_mutex_lock(&h->lock);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", h->cors_origin);
    pthread_mutex_unlock(&h->lock);
}

/* Queues a response made for this request alone and drops our reference:
 * MHD keeps its own until the response is sent. */
static enum MHD_Result queue_once(struct MHD_Connection *c, unsigned code, struct MHD_Response *r, const char *path) {
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    count_request(path, code);
    return ret;
}

static struct MHD_Response *copied_response(const char *body, size_t len, const char *content_type) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return NULL;
    if (content_type) MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    return r;
}

/* A small JSON answer: {"<key>":<value>,"reason":"..."}. */
static enum MHD_Result answer_json(http_server *h, struct MHD_Connection *c, unsigned code, const char *path,
                                   const char *key, const char *value_json, const char *reason) {
    buf body;
    buf_init(&body, 4096);
    buf_printf(&body, "{\"%s\":%s", key, value_json);
    if (reason) {
        buf_puts(&body, ",\"reason\":\"");
        json_escape(&body, reason, strlen(reason));
        buf_putc(&body, '"');
    }
    buf_puts(&body, "}\n");
    struct MHD_Response *r = copied_response(buf_cstr(&body), body.len, "application/json");
    buf_free(&body);
    if (!r) return MHD_NO;
    add_cors(h, r);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", ALLOWED_METHODS);
    if (code == MHD_HTTP_UNAUTHORIZED) {
        pthread_mutex_lock(&h->lock);
        MHD_add_response_header(r, "WWW-Authenticate",
                                h->auth == AUTH_BEARER ? "Bearer realm=\"vizfeed\""
                                                       : "Basic realm=\"vizfeed\", charset=\"UTF-8\"");
        pthread_mutex_unlock(&h->lock);
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "WWW-Authenticate");
    }
    return queue_once(c, code, r, path);
}

static enum MHD_Result answer_not_found(http_server *h, struct MHD_Connection *c) {
    return answer_json(h, c, MHD_HTTP_NOT_FOUND, "/other", "error", "\"not found\"", NULL);
}

/* ---- authentication --------------------------------------------------- */

/* The credentials a request must present, from the options; NULL when the
 * endpoints are open. Browsers and curl send Basic credentials as the
 * canonical (padded) base64, so comparing the encoded form is enough. */
static char *auth_credentials_of(const http_options *o, auth_scheme *scheme) {
    *scheme = AUTH_NONE;
    if (!str_empty(o->auth_bearer_token)) {
        *scheme = AUTH_BEARER;
        return xstrdup(o->auth_bearer_token);
    }
    if (str_empty(o->auth_username)) return NULL;
    size_t plain_len = strlen(o->auth_username) + 1 + (o->auth_password ? strlen(o->auth_password) : 0);
    buf plain, encoded;
    buf_init(&plain, plain_len + 1);
    buf_init(&encoded, 4 * (plain_len / 3 + 1) + 1);
    buf_printf(&plain, "%s:%s", o->auth_username, o->auth_password ? o->auth_password : "");
    base64_encode(&encoded, (const unsigned char *)buf_cstr(&plain), plain.len);
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

/* ---- /vizceral.json --------------------------------------------------- */

static void release_snapshot(void *cls) {
    snapshot_unref(cls);
}

static struct MHD_Response *graph_response(snapshot *s, int gzip, int not_modified, const char *cors) {
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
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "ETag", gzip ? s->etag_gzip : s->etag);
    MHD_add_response_header(r, "Vary", "Accept-Encoding");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    return r;
}

static void graph_responses_free(graph_responses *g) {
    struct MHD_Response *all[] = {g->identity, g->gzip, g->identity_not_modified, g->gzip_not_modified};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) MHD_destroy_response(all[i]);
    snapshot_unref(g->snap);
    memset(g, 0, sizeof *g);
}

static int graph_responses_build(graph_responses *g, snapshot *s, const char *cors, char *err) {
    memset(g, 0, sizeof *g);
    g->snap = snapshot_ref(s);
    g->identity = graph_response(s, 0, 0, cors);
    g->gzip = graph_response(s, 1, 0, cors);
    g->identity_not_modified = graph_response(s, 0, 1, cors);
    g->gzip_not_modified = graph_response(s, 1, 1, cors);
    if (g->identity && g->gzip && g->identity_not_modified && g->gzip_not_modified) return 0;
    graph_responses_free(g);
    return fail(err, "http: cannot create responses for a graph of %zu bytes (out of memory)", s->json_len);
}

static enum MHD_Result serve_graph(http_server *h, struct MHD_Connection *c) {
    int gzip = http_accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding"));
    const char *if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");

    pthread_mutex_lock(&h->lock);
    const graph_responses *g = &h->graph;
    if (!g->snap) {
        int64_t retry = retry_after_seconds(h->interval_ms);
        pthread_mutex_unlock(&h->lock);
        buf body;
        buf_init(&body, 256);
        buf_puts(&body, "{\"error\":\"no graph yet\",\"reason\":\"the first refresh has not completed yet\"}\n");
        struct MHD_Response *r = copied_response(buf_cstr(&body), body.len, "application/json");
        buf_free(&body);
        if (!r) return MHD_NO;
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%lld", (long long)retry);
        MHD_add_response_header(r, "Retry-After", seconds);
        add_cors(h, r);
        return queue_once(c, MHD_HTTP_SERVICE_UNAVAILABLE, r, "/vizceral.json");
    }
    unsigned code = MHD_HTTP_OK;
    struct MHD_Response *r = gzip ? g->gzip : g->identity;
    if (http_etag_matches(if_none_match, gzip ? g->snap->etag_gzip : g->snap->etag)) {
        code = MHD_HTTP_NOT_MODIFIED;
        r = gzip ? g->gzip_not_modified : g->identity_not_modified;
    }
    /* Queued under the lock: MHD_queue_response takes MHD's reference, after
     * which a concurrent publish() may drop ours. */
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    pthread_mutex_unlock(&h->lock);
    count_request("/vizceral.json", code);
    return ret;
}

static int http_publish(sink *s, snapshot *snap, char *err) {
    http_server *h = (http_server *)s;
    graph_responses fresh, old;
    pthread_mutex_lock(&h->lock);
    char *cors = xstrdup(h->cors_origin);
    pthread_mutex_unlock(&h->lock);
    /* Built outside the lock: requests keep being answered from the old
     * snapshot meanwhile. */
    int rc = graph_responses_build(&fresh, snap, cors, err);
    free(cors);
    if (rc < 0) return -1;
    pthread_mutex_lock(&h->lock);
    old = h->graph;
    h->graph = fresh;
    pthread_mutex_unlock(&h->lock);
    graph_responses_free(&old);
    return 0;
}

static void http_sink_close(sink *s) {
    /* The server owns its sink; http_stop() frees both. */
    (void)s;
}

static const sink_ops http_sink_ops = {
    .name = "http",
    .publish = http_publish,
    .close = http_sink_close,
};

/* ---- other routes ----------------------------------------------------- */

static enum MHD_Result serve_preflight(http_server *h, struct MHD_Connection *c, const char *path) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    add_cors(h, r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", ALLOWED_METHODS);
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "If-None-Match, Content-Type, Authorization");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    return queue_once(c, MHD_HTTP_NO_CONTENT, r, path);
}

static enum MHD_Result serve_readiness(http_server *h, struct MHD_Connection *c) {
    pthread_mutex_lock(&h->lock);
    int have = h->graph.snap != NULL;
    int64_t refreshed = have ? h->graph.snap->refreshed_mono_ms : 0;
    int64_t limit = 3 * h->interval_ms;
    pthread_mutex_unlock(&h->lock);
    if (!have) return answer_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "/readyz", "ready", "false", "no graph yet");
    if (refreshed == 0) /* a graph, but some flow has failed in every refresh so far */
        return answer_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "/readyz", "ready", "false",
                           "no refresh has succeeded for every flow yet");
    int64_t age = monotonic_ms() - refreshed;
    if (age >= limit) {
        char age_text[32], limit_text[32], reason[128];
        format_duration(age, age_text, sizeof age_text);
        format_duration(limit, limit_text, sizeof limit_text);
        snprintf(reason, sizeof reason, "last successful refresh %s ago, more than 3 intervals (%s)", age_text,
                 limit_text);
        return answer_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "/readyz", "ready", "false", reason);
    }
    return answer_json(h, c, MHD_HTTP_OK, "/readyz", "ready", "true", NULL);
}

static enum MHD_Result serve_metrics(http_server *h, struct MHD_Connection *c) {
    pthread_mutex_lock(&h->lock);
    int have = h->graph.snap != NULL;
    int64_t refreshed = have ? h->graph.snap->refreshed_mono_ms : 0;
    pthread_mutex_unlock(&h->lock);
    if (have && refreshed > 0)
        metric_set("vizfeed_snapshot_age_seconds", "", (double)(monotonic_ms() - refreshed) / 1000.0);
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
    add_cors(h, r);
    return queue_once(c, MHD_HTTP_OK, r, "/metrics");
}

/* ---- static files ----------------------------------------------------- */

/* Opens the file a URL names under the UI directory, or returns -1. The
 * realpath check is what stops symbolic links pointing out of ui_dir. */
static int open_static(const char *root, const char *url, struct stat *st, char *resolved) {
    char candidate[PATH_MAX];
    const char *tail = url[strlen(url) - 1] == '/' ? "index.html" : "";
    if ((size_t)snprintf(candidate, sizeof candidate, "%s%s%s", root, url, tail) >= sizeof candidate) return -1;
    if (!realpath(candidate, resolved) || !http_path_inside(resolved, root)) return -1;
    if (stat(resolved, st) < 0) return -1;
    if (S_ISDIR(st->st_mode)) {
        if ((size_t)snprintf(candidate, sizeof candidate, "%s/index.html", resolved) >= sizeof candidate) return -1;
        if (!realpath(candidate, resolved) || !http_path_inside(resolved, root)) return -1;
        if (stat(resolved, st) < 0) return -1;
    }
    /* Only regular files are opened. Opening a FIFO for reading blocks
     * until a writer comes, which held an HTTP thread, and with it every
     * connection it served and the shutdown, for good; a device may do
     * anything when opened. The file can still be swapped for one between
     * this look and the open, so the open never blocks either (O_NONBLOCK,
     * which changes nothing for a regular file), and what was opened is
     * checked again. */
    if (!S_ISREG(st->st_mode)) return -1;
    int fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    /* Check what was opened, not what was looked at before. */
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > (off_t)HTTP_MAX_STATIC_FILE) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A file of ui_dir being sent. It is read with pread() rather than handed
 * to MHD as a descriptor (which it would send with sendfile()): when a file
 * shrinks under a transfer, as when a page is redeployed with cp over the
 * old files, sendfile() finds nothing more and MHD 0.9.75 then waits, so the
 * client sat 30 s for the promised rest (test_http_hostile.py:
 * file_cut_short). A short read ends the answer at once instead: MHD closes
 * the connection, and the client sees a body shorter than its
 * Content-Length. The copy costs nothing that matters for a page's files. */
typedef struct {
    int fd;
    uint64_t size; /* what Content-Length promised: never more is sent, even if the file grew */
} static_file;

static ssize_t read_static(void *cls, uint64_t pos, char *out, size_t max) {
    static_file *f = cls;
    if (pos >= f->size) return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > f->size - pos) max = (size_t)(f->size - pos);
    ssize_t n;
    do n = pread(f->fd, out, max, (off_t)pos);
    while (n < 0 && errno == EINTR);
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void close_static(void *cls) {
    static_file *f = cls;
    close(f->fd);
    free(f);
}

/* Checks a configured ui_dir. A directory that does not exist (yet) is not
 * an error: a feeder-only container has no page, and a page built after
 * start-up is picked up by the first request that finds it. Returns 0 with
 * *real set (NULL while missing), or -1 with err when the path exists but
 * cannot be served. */
static int resolve_ui_dir(const char *dir, char **real, char *err) {
    char resolved[PATH_MAX];
    struct stat st;
    *real = NULL;
    if (!realpath(dir, resolved)) {
        if (errno == ENOENT) return 0;
        return fail(err, "ui_dir %s: %s", dir, strerror(errno));
    }
    if (stat(resolved, &st) < 0) return fail(err, "ui_dir %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return fail(err, "ui_dir %s: not a directory", dir);
    if (access(resolved, R_OK | X_OK) < 0) return fail(err, "ui_dir %s: %s", dir, strerror(errno));
    *real = xstrdup(resolved);
    return 0;
}

static enum MHD_Result serve_static(http_server *h, struct MHD_Connection *c, const char *url, int url_had_nul) {
    char root[PATH_MAX], configured[PATH_MAX];
    pthread_mutex_lock(&h->lock);
    snprintf(configured, sizeof configured, "%s", h->ui_dir);
    pthread_mutex_unlock(&h->lock);
    /* Resolved at every request, not once: a page deployed by swapping a
     * symbolic link (ui_dir -> releases/2) is served from the new release
     * at once, and one built after start-up is found when it appears. Kept
     * once, the old release was served until a reload, and nothing at all
     * once it was deleted (test_http_hostile.py: page_redeployed). A few
     * system calls per file of the page. */
    char scratch[ERR_LEN], *real = NULL;
    int have_root = configured[0] && resolve_ui_dir(configured, &real, scratch) == 0 && real;
    snprintf(root, sizeof root, "%s", have_root ? real : "");
    free(real);
    if (!have_root) {
        char reason[PATH_MAX + 64];
        if (configured[0])
            snprintf(reason, sizeof reason, "no web page here: ui_dir %s does not exist", configured);
        else
            snprintf(reason, sizeof reason, "no web page here: ui_dir is not set");
        return answer_json(h, c, MHD_HTTP_NOT_FOUND, "/other", "error", "\"not found\"", reason);
    }
    if (url_had_nul || !http_safe_path(url)) return answer_not_found(h, c);

    char resolved[PATH_MAX];
    struct stat st;
    int fd = open_static(root, url, &st, resolved);
    if (fd < 0) return answer_not_found(h, c);
    static_file *f = xmalloc(sizeof *f);
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    struct MHD_Response *r =
        MHD_create_response_from_callback(f->size, HTTP_STATIC_BLOCK, read_static, f, close_static);
    if (!r) {
        close_static(f);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", http_content_type(resolved));
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", PAGE_SECURITY_POLICY);
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    add_cors(h, r);
    return queue_once(c, MHD_HTTP_OK, r, "/static");
}

/* ---- connections ------------------------------------------------------ */

/* libmicrohttpd's connection timeout counts from the last byte that moved,
 * so a client sending one header byte every few seconds would keep its
 * connection forever, and a thousand such clients would take every one. The
 * watchdog gives each request's line and headers HTTP_HEADERS_TIMEOUT_S in
 * all, counted from the connection's start or from its previous answer
 * (which also bounds an idle keep-alive connection). An answer being sent
 * is left to MHD's timeout: a client that stops reading stops the bytes. */

static void await_headers(struct MHD_Connection *c, int64_t since_ms) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    tracked_connection *t = info ? info->socket_context : NULL;
    if (t) __atomic_store_n(&t->awaited_since_ms, since_ms, __ATOMIC_RELAXED);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    http_server *h = cls;
    tracked_connection *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        t = xcalloc(1, sizeof *t);
        t->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
        t->awaited_since_ms = monotonic_ms();
        pthread_mutex_lock(&h->connections_lock);
        t->next = h->connections;
        if (t->next) t->next->prev = t;
        h->connections = t;
        h->open_connections++;
        pthread_mutex_unlock(&h->connections_lock);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && t) {
        pthread_mutex_lock(&h->connections_lock);
        if (t->prev)
            t->prev->next = t->next;
        else
            h->connections = t->next;
        if (t->next) t->next->prev = t->prev;
        h->open_connections--;
        pthread_mutex_unlock(&h->connections_lock);
        free(t);
        *socket_context = NULL;
    }
}

static void on_request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                                 enum MHD_RequestTerminationCode code) {
    (void)cls, (void)con_cls, (void)code;
    await_headers(c, monotonic_ms());
}

/* Over the limit a new connection is closed at once: a client learns it
 * now instead of waiting in the listen queue for a slot. MHD's own limit is
 * set a little higher, for connections accepted by several threads at the
 * same moment, so that it is this one that applies. */
static enum MHD_Result accept_within_limit(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
    http_server *h = cls;
    (void)addr, (void)addrlen;
    unsigned open, refused = 0;
    pthread_mutex_lock(&h->connections_lock);
    open = h->open_connections;
    bool full = open >= h->connection_limit;
    if (full) {
        h->refused_connections++;
        int64_t now = monotonic_ms();
        if (now - h->refusals_logged_ms >= HTTP_LOG_WINDOW_MS) {
            refused = h->refused_connections;
            h->refused_connections = 0;
            h->refusals_logged_ms = now;
        }
    }
    pthread_mutex_unlock(&h->connections_lock);
    if (refused)
        log_warn("http: %u connections are open, the limit: new ones are closed at once (%u since the last such "
                 "message)",
                 open, refused);
    return full ? MHD_NO : MHD_YES;
}

static void *watch_headers(void *arg) {
    http_server *h = arg;
    pthread_setname_np(pthread_self(), "http-watchdog");
    pthread_mutex_lock(&h->connections_lock);
    while (!h->watchdog_stopping) {
        int64_t now = monotonic_ms();
        for (tracked_connection *t = h->connections; t; t = t->next) {
            int64_t since = __atomic_load_n(&t->awaited_since_ms, __ATOMIC_RELAXED);
            if (since == ANSWERING || t->cut || now - since < (int64_t)HTTP_HEADERS_TIMEOUT_S * 1000) continue;
            /* MHD then reads the end of the stream and closes the
             * connection the way it closes one the client gave up. */
            shutdown(t->fd, SHUT_RDWR);
            t->cut = true;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += HTTP_WATCHDOG_PERIOD_MS / 1000;
        ts.tv_nsec += (HTTP_WATCHDOG_PERIOD_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h->watchdog_wake, &h->connections_lock, &ts);
    }
    pthread_mutex_unlock(&h->connections_lock);
    return NULL;
}

/* Each connection holds a descriptor. A soft RLIMIT_NOFILE of 1024, the
 * usual default, runs out a little before HTTP_MAX_CONNECTIONS, and MHD then
 * stops accepting until a connection closes, leaving new clients waiting in
 * the listen queue. vizfeed calls no select(), so the soft limit is raised
 * to what it needs, within the hard limit; when even that is short, the
 * connection limit is lowered to fit, and said once. */
static unsigned connections_allowed(void) {
    struct rlimit limit;
    rlim_t needed = (rlim_t)HTTP_MAX_CONNECTIONS + HTTP_RESERVED_FDS;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed)
        return HTTP_MAX_CONNECTIONS;
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= needed ? needed : limit.rlim_max;
    if (raised.rlim_cur > limit.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    if (limit.rlim_cur >= needed) return HTTP_MAX_CONNECTIONS;
    unsigned allowed =
        (unsigned)(limit.rlim_cur > 2 * HTTP_RESERVED_FDS ? limit.rlim_cur - HTTP_RESERVED_FDS : limit.rlim_cur / 2);
    log_warn("http: the open files limit (RLIMIT_NOFILE) is %llu: at most %u connections instead of %u; "
             "raise it to %llu (ulimit -n, LimitNOFILE=)",
             (unsigned long long)limit.rlim_cur, allowed, HTTP_MAX_CONNECTIONS, (unsigned long long)needed);
    return allowed;
}

/* ---- MHD callbacks ---------------------------------------------------- */

static int request_has_body(struct MHD_Connection *c) {
    const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding")) return 1;
    if (!length) return 0;
    while (*length == '0') length++;
    return *length != '\0';
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
    buf_puts(&body, "{\"error\":\"bad request\",\"reason\":\"");
    json_escape(&body, reason, strlen(reason));
    buf_puts(&body, "\"}\n");
    struct MHD_Response *r = copied_response(buf_cstr(&body), body.len, "application/json");
    buf_free(&body);
    if (!r) return -1;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    add_cors(h, r);
    return queue_once(c, code, r, "/other") == MHD_YES ? 1 : -1;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
    http_server *h = cls;
    unsigned m = request_marks(*con_cls);
    if (!(m & MARK_LATER)) {
        await_headers(c, ANSWERING);
        int refused = refuse_request(h, c, version, m);
        if (refused != 0) return refused > 0 ? MHD_YES : MHD_NO;
        /* No route takes a body: a request that announces one is answered
         * now, before MHD reads it, and its connection is closed. Request
         * size stays bounded by the connection memory limit. */
        if (!request_has_body(c)) {
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
    if (nul) return answer_not_found(h, c);

    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0) return serve_preflight(h, c, http_metrics_path(url));
    /* Liveness probes (systemd, Docker, Kubernetes) carry no credentials. */
    if (strcmp(url, "/healthz") != 0 && !authorized(h, c))
        return answer_json(h, c, MHD_HTTP_UNAUTHORIZED, http_metrics_path(url), "error", "\"unauthorized\"",
                           "this server needs credentials in an Authorization header");
    if (!is_get)
        return answer_json(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, http_metrics_path(url), "error", "\"method not allowed\"",
                           "only GET, HEAD and OPTIONS are served");
    if (strcmp(url, "/vizceral.json") == 0) return serve_graph(h, c);
    if (strcmp(url, "/healthz") == 0) return answer_json(h, c, MHD_HTTP_OK, "/healthz", "status", "\"ok\"", NULL);
    if (strcmp(url, "/readyz") == 0) return serve_readiness(h, c);
    if (strcmp(url, "/metrics") == 0) return serve_metrics(h, c);
    if (strcmp(url, "/ui-settings.json") == 0) {
        pthread_mutex_lock(&h->lock);
        struct MHD_Response *r = copied_response(h->ui_settings, strlen(h->ui_settings), "application/json");
        pthread_mutex_unlock(&h->lock);
        return queue_once(c, MHD_HTTP_OK, r, "/static"); /* a file of the page, as far as metrics go */
    }
    return serve_static(h, c, url, nul);
}

/* Sees the raw request target before MHD decodes it; its return value
 * becomes the request's *con_cls.
 *
 * It also ends the target at its '?'. No route reads query arguments (the
 * page's ?src= is read by the page itself), and libmicrohttpd 0.9.75 spends
 * its per-connection memory on every argument it parses: a few hundred of
 * them left no room for the headers, and the request was then neither
 * answered nor closed until the connection timed out. MHD hands this
 * callback its own buffer (it calls it "before we modify URI *or* args")
 * and finds the arguments at the same '?', so a NUL right after it leaves
 * an empty query. test_http_hostile.py: framing (3,000 query arguments) checks
 * that this still holds with the installed library. */
static void *inspect_raw_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls, (void)c;
    unsigned m = 0;
    if (http_uri_has_nul(uri)) m |= MARK_NUL;
    if (strlen(uri) > HTTP_MAX_URI) m |= MARK_URI_TOO_LONG;
    char *query = (char *)http_uri_query(uri);
    if (query) *query = '\0';
    return &marks[m];
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
    unsigned left_out = 0;
    pthread_mutex_lock(&h->log_lock);
    int64_t now = monotonic_ms();
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
    if (str_empty(text)) return fail(err, "listen address is empty (expected host:port, [v6]:port or :port)");
    char host[256];
    const char *colon;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') return fail(err, "listen address '%s': expected [IPv6 address]:port", text);
        size_t n = (size_t)(close - text - 1);
        if (n >= sizeof host) return fail(err, "listen address '%s': host too long", text);
        memcpy(host, text + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon) return fail(err, "listen address '%s': expected host:port or :port", text);
        size_t n = (size_t)(colon - text);
        if (n >= sizeof host) return fail(err, "listen address '%s': host too long", text);
        memcpy(host, text, n);
        host[n] = '\0';
        if (strchr(host, ':'))
            return fail(err, "listen address '%s': write IPv6 addresses in brackets, e.g. [::1]:8080", text);
    }
    const char *port_text = colon + 1;
    char *end;
    errno = 0;
    long port = strtol(port_text, &end, 10);
    if (!*port_text || *end || errno || port < 0 || port > 65535)
        return fail(err, "listen address '%s': port must be a number from 0 to 65535", text);

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
    if (rc != 0) return fail(err, "listen address '%s': cannot resolve '%s': %s", text, host, gai_strerror(rc));
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
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (a->ipv6) flags |= a->any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    /* One thread per CPU this process may run on: the affinity mask follows
     * taskset and a container's cpuset, where the online count would not. */
    cpu_set_t mask;
    long cpus = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cpus < 1 ? 1 : cpus > HTTP_THREADS_MAX ? HTTP_THREADS_MAX : (unsigned)cpus;
    return MHD_start_daemon(flags, 0, accept_within_limit, h, handle_request, h, MHD_OPTION_SOCK_ADDR,
                            (const struct sockaddr *)&a->addr, MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
                            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_URI_LOG_CALLBACK, inspect_raw_uri, h,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED,
                            on_request_completed, h, MHD_OPTION_EXTERNAL_LOGGER, log_from_mhd, h, MHD_OPTION_END);
}

http_server *http_start(const http_options *o, char *err) {
    listen_address address;
    if (parse_listen(o->listen, &address, err) < 0) return NULL;
    char *ui_real = NULL; /* only checked here: requests resolve it again */
    if (!str_empty(o->ui_dir) && resolve_ui_dir(o->ui_dir, &ui_real, err) < 0) return NULL;
    free(ui_real);

    http_server *h = xcalloc(1, sizeof *h);
    h->sink.ops = &http_sink_ops;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->connections_lock, NULL);
    pthread_mutex_init(&h->log_lock, NULL);
    pthread_condattr_t clock;
    pthread_condattr_init(&clock);
    pthread_condattr_setclock(&clock, CLOCK_MONOTONIC);
    pthread_cond_init(&h->watchdog_wake, &clock);
    pthread_condattr_destroy(&clock);
    h->connection_limit = connections_allowed();
    h->refusals_logged_ms = h->log_window_ms = monotonic_ms() - HTTP_LOG_WINDOW_MS;
    h->cors_origin = xstrdup(o->cors_origin ? o->cors_origin : "*");
    h->ui_dir = xstrdup(o->ui_dir ? o->ui_dir : "");
    h->ui_settings = xstrdup(o->ui_settings ? o->ui_settings : "{}");
    h->interval_ms = o->interval_ms;
    h->auth_credentials = auth_credentials_of(o, &h->auth);
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
        fail(err, "cannot listen on %s: %s", o->listen,
             h->start_error[0] ? h->start_error : "libmicrohttpd failed to start");
        http_stop(h);
        return NULL;
    }
    __atomic_store_n(&h->starting, 0, __ATOMIC_RELEASE);
    int rc = pthread_create(&h->watchdog, NULL, watch_headers, h);
    if (rc != 0) {
        fail(err, "http: cannot start a thread: %s", strerror(rc));
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
    int ui_ok = str_empty(o->ui_dir) || resolve_ui_dir(o->ui_dir, &ui_real, scratch) == 0;
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
    int rebuilt = current && cors_changed && graph_responses_build(&fresh, current, cors, scratch) == 0;

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
    if (rebuilt) graph_responses_free(&fresh);
    graph_responses_free(&old);
    snapshot_unref(current);
    auth_credentials_free(old_credentials);
}

void http_quiesce(http_server *h) {
    if (!h || !h->daemon || h->quiesced) return;
    h->listener = MHD_quiesce_daemon(h->daemon);
    h->quiesced = true;
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
        if (h->listener != MHD_INVALID_SOCKET) close(h->listener);
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
        free(h->connections);
        h->connections = next;
    }
    graph_responses_free(&h->graph);
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
