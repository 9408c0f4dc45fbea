/*
 * http_conn.c - connections: each one tracked from its start to its end,
 * a limit on how many are open, and a watchdog thread that cuts those whose
 * request headers are overdue. Apart from the routing because it is about
 * sockets and descriptors, not requests; see http_conn.h.
 */
#include "http_conn.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bounds.h"
#include "log.h"
#include "util.h"

/* Descriptors kept for all but client connections: the listening socket,
 * libmicrohttpd's epoll and wake-up descriptors, the flows' Elasticsearch
 * connections and followed files, the output file, /proc reads. */
#define HTTP_RESERVED_FDS 256
/* How often the watchdog looks for request headers that are overdue: a
 * connection is closed at most this much after HTTP_HEADERS_TIMEOUT_S. */
#define HTTP_WATCHDOG_PERIOD_MS 1000

/* ---- connections ------------------------------------------------------ */

/* libmicrohttpd's connection timeout counts from the last byte that moved,
 * so a client sending one header byte every few seconds would keep its
 * connection forever, and a thousand such clients would take every one. The
 * watchdog gives each request's line and headers HTTP_HEADERS_TIMEOUT_S in
 * all, counted from the connection's start or from its previous answer
 * (which also bounds an idle keep-alive connection). An answer being sent
 * is left to MHD's timeout: a client that stops reading stops the bytes. */

void http_conn_await_headers(struct MHD_Connection *c, int64_t since_ms) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    tracked_connection *t = info ? info->socket_context : NULL;
    if (t) __atomic_store_n(&t->awaited_since_ms, since_ms, __ATOMIC_RELAXED);
}

void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code) {
    http_server *h = cls;
    tracked_connection *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        t = xcalloc(1, sizeof *t);
        t->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
        t->awaited_since_ms = util_monotonic_ms();
        /* Watched before MHD first reads from it. A descriptor the guard
         * cannot watch (HTTP_GUARD_MAX_FD and above, which the connection
         * limit keeps far off) is not served unguarded: shut down at once. */
        if (t->fd != MHD_INVALID_SOCKET && http_guard_watch(t->fd, &t->guard, http_guard_refusal, h) < 0) {
            shutdown(t->fd, SHUT_RDWR);
            t->cut = true;
        }
        pthread_mutex_lock(&h->connections_lock);
        t->next = h->connections;
        if (t->next) t->next->prev = t;
        h->connections = t;
        h->open_connections++;
        pthread_mutex_unlock(&h->connections_lock);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && t) {
        /* MHD closes the descriptor after this: no other socket can have
         * it yet. */
        if (t->fd != MHD_INVALID_SOCKET) http_guard_unwatch(t->fd);
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

void http_conn_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)cls, (void)con_cls, (void)code;
    http_conn_await_headers(c, util_monotonic_ms());
}

/* Over the limit a new connection is closed at once: a client learns it
 * now instead of waiting in the listen queue for a slot. MHD's own limit is
 * set a little higher, for connections accepted by several threads at the
 * same moment, so that it is this one that applies. */
enum MHD_Result http_conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
    http_server *h = cls;
    (void)addr, (void)addrlen;
    /* Stopping (http_quiesce): closed at once, and not counted as refused. */
    if (__atomic_load_n(&h->quiesced, __ATOMIC_ACQUIRE)) return MHD_NO;
    unsigned open, refused = 0;
    pthread_mutex_lock(&h->connections_lock);
    open = h->open_connections;
    bool full = open >= h->connection_limit;
    if (full) {
        h->refused_connections++;
        int64_t now = util_monotonic_ms();
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

void *http_conn_watchdog(void *arg) {
    http_server *h = arg;
    pthread_setname_np(pthread_self(), "http-watchdog");
    pthread_mutex_lock(&h->connections_lock);
    while (!h->watchdog_stopping) {
        int64_t now = util_monotonic_ms();
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
unsigned http_conn_allowed(void) {
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
