/*
 * http.h - vizfeed's HTTP server (libmicrohttpd) (README.md, "HTTP").
 *
 * Calling sequence: http_start() binds and starts serving in its own threads;
 * http_sink() is the sink the refresher publishes snapshots to;
 * http_update_options() applies a reloaded configuration (the listen address
 * cannot change without a restart); http_quiesce() stops accepting;
 * http_stop() stops accepting, lets
 * in-flight responses finish and frees everything.
 *
 * /vizceral.json is answered from prebuilt, reference-counted responses of
 * the current snapshot: O(1), no lock held while sending, never waiting for
 * a refresh. Connections, request size and idle time are bounded by the
 * HTTP_* limits of bounds.h.
 *
 * Requests whose framing cannot be trusted (two Content-Length headers,
 * Transfer-Encoding with Content-Length, HTTP/1.1 without one valid Host,
 * control bytes in a header) get 400 and a closed connection; a target over
 * HTTP_MAX_URI gets 414. Only regular files of ui_dir are opened, never
 * blocking, and they carry the page's Content-Security-Policy.
 *
 * http_update_options() takes effect for the next request, whatever the
 * refresher is doing: daemon.c calls it when a reload is logged.
 *
 * Threads: libmicrohttpd's threads answer requests; nothing of the caller's
 * runs on them. http_sink()'s publish may run on any one thread at a time
 * (the refresher), concurrently with requests and with
 * http_update_options(), which takes the server's lock for what it swaps.
 * Calls to http_update_options() must not overlap one another: daemon.c
 * makes them from the main thread on a reload and from the refresher when
 * it adopts the reloaded configuration, both under its own lock.
 * http_start(), http_quiesce() and http_stop() belong to one thread
 * (daemon.c's main thread); http_stop() comes last, after the refresher has
 * stopped publishing, and invalidates the sink. http_port() may be called
 * from any thread.
 *
 * Ownership: http_start() and http_update_options() copy (or only parse)
 * every string of http_options and keep none of the caller's. A reloaded
 * ui_dir that cannot be opened keeps the old one, as a failed reload keeps
 * the old configuration.
 *
 * Authentication: with auth_username/auth_password (Basic) or
 * auth_bearer_token (Bearer) set, every request but GET /healthz and CORS
 * preflights must carry a matching Authorization header, else it gets a 401
 * with WWW-Authenticate and a JSON body.
 *
 * Errors: http_start() returns NULL with a reason in err (bad address,
 * port in use, ui_dir unreadable).
 */
#ifndef VIZ_HTTP_H
#define VIZ_HTTP_H

#include <stdint.h>

#include "sink.h"

typedef struct {
    const char *listen;            /* "host:port", "[v6]:port" or ":port"; port 0 = any free port */
    const char *cors_origin;       /* Access-Control-Allow-Origin value */
    const char *ui_dir;            /* static files served at / ("" = none) */
    int64_t interval_ms;           /* refresh interval: /readyz ages and Retry-After */
    const char *auth_username;     /* Basic credentials of vizfeed's own endpoints ("" or NULL: none) */
    const char *auth_password;     /* secret */
    const char *auth_bearer_token; /* secret; instead of Basic ("" or NULL: none) */
    const char *ui_settings;       /* JSON answered at /ui-settings.json for the page (NULL: "{}") */
    struct history *history;       /* answers /vizceral.json?at=T (history.h); NULL: 404. Read by http_start() only,
                                      and must outlive http_stop() (history_stop() comes first: no request waits) */
} http_options;

typedef struct http_server http_server;

http_server *http_start(const http_options *o, char *err);
int http_port(const http_server *h); /* the bound port (useful with port 0) */
sink *http_sink(http_server *h);
void http_update_options(http_server *h, const http_options *o);
/* Stops accepting at once: from then on a new connection is closed as soon
 * as it is accepted (the listening socket stays open until http_stop());
 * requests in flight go on. Called on SIGTERM before the last refresh is
 * waited for. http_stop() does it too. */
void http_quiesce(http_server *h);
void http_stop(http_server *h);

#endif
