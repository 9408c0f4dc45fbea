/*
 * http_guard.c - recv() interposed in front of libmicrohttpd: each watched
 * connection's bytes go through its http_scan, and a refused head gets
 * vizfeed's answer and the end of the stream (see http_guard.h).
 */
/* glibc's fortified recv() is an inline wrapper that would clash with the
 * definition below; nothing here gains from it. */
#undef _FORTIFY_SOURCE
#include "http_guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "bounds.h"

/* What a watched connection's next read does. */
enum {
    GUARD_SCANNING, /* read, and scan what came */
    GUARD_PASSING,  /* a head announced a body: the rest goes unscanned */
    GUARD_REFUSING, /* a refused head follows the bytes handed over: answer it at the next read */
    GUARD_ENDED,    /* answered: every read is the end of the stream */
};

/* The answer to a refused head: a status line, a few header fields and a
 * short JSON reason fit with room to spare; a longer one is cut by the
 * answer function's cap. */
#define GUARD_ANSWER_MAX 1024
/* After the answer, bytes already sent by the client are read and dropped
 * (at most this many), so that closing a socket with unread data does not
 * reset the connection before the client has read the answer. */
#define GUARD_DRAIN_MAX HTTP_CONNECTION_MEMORY

typedef ssize_t (*recv_fn)(int, void *, size_t, int);

/* Indexed by descriptor: the watched connection, or NULL. Written by the
 * connection's thread when it starts and ends, read by every recv(), so
 * each entry is an atomic pointer. 512 KiB of address space, of which only
 * the pages of descriptors in use are ever touched. */
static http_guard_conn *watched[HTTP_GUARD_MAX_FD];
static recv_fn real_recv_cached;

/* The C library's recv(), looked up once. Threads that race here all store
 * the same pointer. */
static recv_fn real_recv(void) {
    recv_fn f = __atomic_load_n(&real_recv_cached, __ATOMIC_ACQUIRE);
    if (!f) {
        /* ISO C leaves object-to-function pointer conversion undefined;
         * POSIX requires it to work for dlsym(). */
        void *sym = dlsym(RTLD_NEXT, "recv");
        __builtin_memcpy(&f, &sym, sizeof f);
        __atomic_store_n(&real_recv_cached, f, __ATOMIC_RELEASE);
    }
    return f;
}

int http_guard_watch(int fd, http_guard_conn *g, http_guard_answer_fn answer, void *ctx) {
    if (fd < 0 || fd >= HTTP_GUARD_MAX_FD) return -1;
    http_scan_init(&g->scan);
    g->state = GUARD_SCANNING;
    g->answer = answer;
    g->ctx = ctx;
    (void)real_recv(); /* resolved now, not on a reader's first call */
    __atomic_store_n(&watched[fd], g, __ATOMIC_RELEASE);
    return 0;
}

void http_guard_unwatch(int fd) {
    if (fd >= 0 && fd < HTTP_GUARD_MAX_FD) __atomic_store_n(&watched[fd], NULL, __ATOMIC_RELEASE);
}

/* Sends the answer to the refused head and drops what the client sent
 * after it. The socket is non-blocking and libmicrohttpd has sent all it
 * had before reading again, so the short answer fits in the socket buffer
 * but for a client that stopped reading long ago; what does not fit is
 * lost, and the connection closes all the same. */
static void answer_refusal(int fd, http_guard_conn *g, recv_fn next) {
    char answer[GUARD_ANSWER_MAX];
    size_t n = g->answer ? g->answer(g->ctx, g->scan.reason, answer, sizeof answer) : 0;
    size_t sent = 0;
    while (sent < n) {
        ssize_t w = send(fd, answer + sent, n - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        sent += (size_t)w;
    }
    char scratch[4096];
    for (size_t drained = 0; drained < GUARD_DRAIN_MAX;) {
        ssize_t r = next(fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (r <= 0) break;
        drained += (size_t)r;
    }
    g->state = GUARD_ENDED;
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    recv_fn next = real_recv();
    http_guard_conn *g = fd >= 0 && fd < HTTP_GUARD_MAX_FD ? __atomic_load_n(&watched[fd], __ATOMIC_ACQUIRE) : NULL;
    if (!g || g->state == GUARD_PASSING || (flags & MSG_PEEK)) return next(fd, buf, len, flags);
    if (g->state == GUARD_REFUSING) answer_refusal(fd, g, next);
    if (g->state == GUARD_ENDED) return 0;
    ssize_t n = next(fd, buf, len, flags);
    if (n <= 0) return n;
    size_t head_start;
    switch (http_scan_feed(&g->scan, buf, (size_t)n, &head_start)) {
    case HTTP_SCAN_MORE:
        return n;
    case HTTP_SCAN_PASS:
        g->state = GUARD_PASSING;
        return n;
    case HTTP_SCAN_REFUSE:
        break;
    }
    if (head_start > 0) {
        /* Whole requests came before it in this read: they are handed over
         * alone and answered first; the refusal waits for the next read.
         * libmicrohttpd's epoll is edge-triggered and takes a short read
         * for "nothing more to read", so it would wait for bytes that
         * already came; shutting down the reading side raises the edge
         * (EPOLLIN) that makes it read again once its answers are sent.
         * Bytes already queued can still be read (and are, by the drain). */
        g->state = GUARD_REFUSING;
        shutdown(fd, SHUT_RD);
        return (ssize_t)head_start;
    }
    answer_refusal(fd, g, next);
    return 0;
}
