/*
 * http_guard.h - the bytes libmicrohttpd reads from client connections,
 * checked before it parses them (issue 18, item 6).
 *
 * libmicrohttpd 0.9.75 answers a request with an invalid Content-Length
 * itself, before any hook of vizfeed runs, with its error header block sent
 * twice. It reads its sockets with recv() (never read(), which it keeps for
 * its wake-up pipe), and the dynamic linker binds a shared library's recv()
 * to the executable's own when the executable defines one. So this module
 * defines recv(): for a descriptor watched here it calls the C library's
 * recv() and feeds what came to the connection's http_scan (http_scan.h);
 * a head that must be refused is answered by vizfeed (the caller's answer
 * function writes the bytes, this module sends them) and libmicrohttpd is
 * told the client closed, so it closes without a word. Requests before the
 * refused one in the same read are handed over first and answered in
 * order: libmicrohttpd reads again only after it has sent its answers, and
 * that next read gets the refusal and the end of the stream.
 *
 * Every other descriptor (libcurl's connections to Elasticsearch, files)
 * goes straight to the C library: one load of a table entry. Descriptors
 * at or above HTTP_GUARD_MAX_FD cannot be watched; http_guard_watch()
 * refuses them and the caller closes such a connection unserved.
 *
 * Calling sequence: http_guard_watch() when libmicrohttpd reports a
 * connection started (before it reads from it), http_guard_unwatch() when
 * it reports it closed (before it closes the descriptor, which could then
 * be reused), both on the connection's own thread. The caller owns the
 * http_guard_conn and keeps it alive between the two. recv() is
 * thread-safe; a connection is read by one thread at a time, as
 * libmicrohttpd does.
 */
#ifndef VIZ_HTTP_GUARD_H
#define VIZ_HTTP_GUARD_H

#include <stddef.h>
#include <sys/types.h>

#include "http_scan.h"

/* The answer to a refused head: writes at most cap bytes (status line,
 * header fields, body) into out and returns how many; 0 sends nothing.
 * Called on the connection's thread, with the scanner's reason. */
typedef size_t (*http_guard_answer_fn)(void *ctx, const char *reason, char *out, size_t cap);

/* One watched connection; its fields are this module's. */
typedef struct {
    http_scan scan;
    int state; /* http_guard.c's GUARD_* */
    http_guard_answer_fn answer;
    void *ctx;
} http_guard_conn;

/* Watches fd with g (initialised here): 0, or -1 when fd is not below
 * HTTP_GUARD_MAX_FD. */
int http_guard_watch(int fd, http_guard_conn *g, http_guard_answer_fn answer, void *ctx);
/* Stops watching fd (a no-op for a descriptor not watched). */
void http_guard_unwatch(int fd);

/* The interposed recv(2): the C library's, checked for watched descriptors. */
ssize_t recv(int fd, void *buf, size_t len, int flags);

#endif
