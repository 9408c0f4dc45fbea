/*
 * http_conn.h - connection tracking, the connection limit and the watchdog.
 *
 * libmicrohttpd calls on_connection() when a connection starts and ends,
 * accept_within_limit() before accepting one, and on_request_completed()
 * after each answer, all from its own threads; routing calls
 * await_headers(c, ANSWERING) when a request's headers are in. The watchdog
 * thread (watch_headers(), started by http_start() and stopped by
 * http_stop() through h->watchdog_stopping and h->watchdog_wake) shuts down
 * connections whose request line and headers took more than
 * HTTP_HEADERS_TIMEOUT_S. connections_allowed() is called once by
 * http_start() (main thread): it raises RLIMIT_NOFILE if it can and returns
 * the connection limit that fits.
 *
 * Locks: the connection list and counters are guarded by
 * h->connections_lock; a connection's awaited_since_ms is atomic (written by
 * its MHD thread, read by the watchdog).
 */
#ifndef VIZ_HTTP_CONN_H
#define VIZ_HTTP_CONN_H

#include "http_internal.h"

/* Marks the connection of c as awaiting the next request's headers since
 * since_ms (monotonic), or as ANSWERING (not watched). */
void await_headers(struct MHD_Connection *c, int64_t since_ms);
/* MHD_OPTION_NOTIFY_CONNECTION: tracks the connection (cls: the server). */
void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                   enum MHD_ConnectionNotificationCode code);
/* MHD_OPTION_NOTIFY_COMPLETED: the next request's headers are awaited. */
void on_request_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code);
/* MHD's accept policy: MHD_NO (closed at once) at h->connection_limit. */
enum MHD_Result accept_within_limit(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* The watchdog thread's body (arg: the server). */
void *watch_headers(void *arg);
/* HTTP_MAX_CONNECTIONS, or fewer when descriptors are short (said once). */
unsigned connections_allowed(void);

#endif
