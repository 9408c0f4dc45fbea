/*
 * fake_http.h - a scripted HTTP server on 127.0.0.1 (libmicrohttpd) for the
 * unit tests of es_client.c and source_es.c. Header-only so that each test
 * program includes it without a build change.
 *
 * fake_start() binds a free port; fake_push() queues the answers, served in
 * order, one per request (an empty queue answers 200 "{}"); every request is
 * recorded (method, URL, the headers the tests check, body). A connection
 * per thread lets an answer be delayed without stalling the others.
 */
#ifndef FAKE_HTTP_H
#define FAKE_HTTP_H

#include <libdeflate.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define FAKE_MAX_ANSWERS  32
#define FAKE_MAX_REQUESTS 64

typedef struct {
    int status;
    const char *body;
    const char *retry_after; /* header value, NULL = none */
    bool gzip;               /* send the body gzip-compressed */
    int delay_ms;            /* wait before answering */
    bool cut;                /* announce the body's length, send half, close */
    size_t huge;             /* > 0: stream this many bytes of spaces instead of body */
} fake_answer;

typedef struct {
    char method[16];
    char url[2048];
    char authorization[512];
    char opaque_id[256];
    char content_type[128];
    char accept_encoding[128];
    char *body;
} fake_request;

typedef struct {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    fake_answer answers[FAKE_MAX_ANSWERS];
    size_t nanswers, next_answer;
    /* With answer_root, GET / gets root_banner (default: an Elasticsearch 8
     * banner) outside the queue and is counted in nroot, not in requests: the
     * source asks it once, and the tests of its searches stay as they are. */
    bool answer_root;
    const char *root_banner;
    size_t nroot;
    fake_request requests[FAKE_MAX_REQUESTS];
    size_t nrequests;
    atomic_bool stopping; /* read by the connection threads while they delay an answer */
} fake_server;

typedef struct {
    buf body;
} fake_connection;

static void fake_copy_header(struct MHD_Connection *conn, const char *name, char *out, size_t outlen) {
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    snprintf(out, outlen, "%s", v ? v : "");
}

typedef struct {
    size_t total, sent;
    bool cut;
} fake_stream;

static ssize_t fake_stream_read(void *cls, uint64_t pos, char *out, size_t max) {
    fake_stream *s = cls;
    if (s->cut && s->sent >= s->total / 2) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->sent >= s->total) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = s->total - s->sent;
    if (s->cut && n > s->total / 2 - s->sent) n = s->total / 2 - s->sent;
    if (n > max) n = max;
    memset(out, ' ', n);
    s->sent += n;
    return (ssize_t)n;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                    const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    fake_server *s = cls;
    fake_connection *fc = *con_cls;
    if (!fc) {
        fc = calloc(1, sizeof *fc);
        buf_init(&fc->body, 64u << 20);
        *con_cls = fc;
        return MHD_YES;
    }
    if (*upload_size) {
        buf_append(&fc->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    fake_answer a = {.status = 200, .body = "{}"};
    pthread_mutex_lock(&s->lock);
    if (s->answer_root && !strcmp(method, "GET") && !strcmp(url, "/")) {
        s->nroot++;
        a.body = s->root_banner ? s->root_banner
                                : "{\"name\":\"n1\",\"cluster_name\":\"test\",\"version\":{\"number\":\"8.11.1\","
                                  "\"build_flavor\":\"default\"},\"tagline\":\"You Know, for Search\"}";
    } else if (s->nrequests < FAKE_MAX_REQUESTS) {
        fake_request *r = &s->requests[s->nrequests++];
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->url, sizeof r->url, "%s", url);
        fake_copy_header(conn, "Authorization", r->authorization, sizeof r->authorization);
        fake_copy_header(conn, "X-Opaque-Id", r->opaque_id, sizeof r->opaque_id);
        fake_copy_header(conn, "Content-Type", r->content_type, sizeof r->content_type);
        fake_copy_header(conn, "Accept-Encoding", r->accept_encoding, sizeof r->accept_encoding);
        r->body = xstrdup(buf_cstr(&fc->body));
    }
    if (!(s->answer_root && !strcmp(method, "GET") && !strcmp(url, "/")) && s->next_answer < s->nanswers)
        a = s->answers[s->next_answer++];
    pthread_mutex_unlock(&s->lock);

    for (int waited = 0; waited < a.delay_ms && !atomic_load(&s->stopping); waited += 10) usleep(10000);

    struct MHD_Response *resp;
    if (a.huge || a.cut) {
        fake_stream *st = calloc(1, sizeof *st);
        st->total = a.huge ? a.huge : 1000;
        st->cut = a.cut;
        resp = MHD_create_response_from_callback(a.cut ? st->total : MHD_SIZE_UNKNOWN, 64 * 1024, fake_stream_read, st,
                                                 free);
    } else if (a.gzip) {
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
        size_t len = strlen(a.body), bound = libdeflate_gzip_compress_bound(c, len);
        char *gz = malloc(bound);
        size_t n = libdeflate_gzip_compress(c, a.body, len, gz, bound);
        libdeflate_free_compressor(c);
        resp = MHD_create_response_from_buffer(n, gz, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(resp, "Content-Encoding", "gzip");
    } else {
        resp = MHD_create_response_from_buffer(strlen(a.body), (void *)a.body, MHD_RESPMEM_MUST_COPY);
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (a.retry_after) MHD_add_response_header(resp, "Retry-After", a.retry_after);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)a.status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode code) {
    fake_connection *fc = *con_cls;
    if (!fc) return;
    buf_free(&fc->body);
    free(fc);
    *con_cls = NULL;
}

static fake_server *fake_start(void) {
    fake_server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                                 fake_handler, s, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_COMPLETED,
                                 fake_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!s->daemon) {
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return s;
}

static void fake_push(fake_server *s, fake_answer a) {
    pthread_mutex_lock(&s->lock);
    if (s->nanswers < FAKE_MAX_ANSWERS) s->answers[s->nanswers++] = a;
    pthread_mutex_unlock(&s->lock);
}

static size_t fake_count(fake_server *s) {
    pthread_mutex_lock(&s->lock);
    size_t n = s->nrequests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void fake_stop(fake_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, true);
    MHD_stop_daemon(s->daemon);
    for (size_t i = 0; i < s->nrequests; i++) free(s->requests[i].body);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* "http://127.0.0.1:PORT" */
static void fake_url(const fake_server *s, char *out, size_t outlen) {
    snprintf(out, outlen, "http://127.0.0.1:%d", s->port);
}

/* A port nobody listens on: bound, then closed again. */
static int fake_closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    bind(fd, (struct sockaddr *)&addr, sizeof addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd);
    return ntohs(addr.sin_port);
}

#endif
