/*
 * http_conn.h - connection tracking, the connection limit and the watchdog.
 *
 * libmicrohttpd calls http_conn_notify() when a connection starts and ends,
 * http_conn_accept() before accepting one, and http_conn_completed()
 * after each answer, all from its own threads; routing calls
 * http_conn_await_headers(c, ANSWERING) when a request's headers are in. The watchdog
 * thread (http_conn_watchdog(), started by http_start() and stopped by
 * http_stop() through h->watchdog_stopping and h->watchdog_wake) shuts down
 * connections whose request line and headers took more than
 * HTTP_HEADERS_TIMEOUT_S. http_conn_allowed() is called once by
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
void http_conn_await_headers(struct MHD_Connection *c, int64_t since_ms);
/* MHD_OPTION_NOTIFY_CONNECTION: tracks the connection (cls: the server). */
void http_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* MHD_OPTION_NOTIFY_COMPLETED: the next request's headers are awaited. */
void http_conn_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code);
/* MHD's accept policy: MHD_NO (closed at once) at h->connection_limit, and
 * for every connection once http_quiesce() has set h->quiesced. */
enum MHD_Result http_conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* The watchdog thread's body (arg: the server). */
void *http_conn_watchdog(void *arg);
/* HTTP_MAX_CONNECTIONS, or fewer when descriptors are short (said once). */
unsigned http_conn_allowed(void);

#endif
