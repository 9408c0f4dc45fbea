/*
 * http_parse.h - the pure parts of HTTP request handling: what a request's
 * headers and path ask for, decided without a socket, a lock or a file.
 *
 * http.c calls these for every request; they live apart so that the unit
 * tests and the fuzzer (tests/fuzz/fuzz_http.c) can drive them directly
 * with hostile input. None allocates, none keeps a pointer, and every
 * string argument is NUL-terminated (NULL where noted) unless its length
 * comes with it (the field checks).
 */
#ifndef VIZ_HTTP_PARSE_H
#define VIZ_HTTP_PARSE_H

#include <stddef.h>

#include "bounds.h"

/* Whether an Accept-Encoding value (NULL: header absent) allows gzip. */
int http_accepts_gzip(const char *accept_encoding);
/* Whether an If-None-Match value (NULL: header absent) names etag. */
int http_etag_matches(const char *if_none_match, const char *etag);
/* Whether a percent-decoded URL path may be looked up under ui_dir: it
 * starts with '/', has no segment starting with '.', and no backslash. */
int http_safe_path(const char *url);
/* Whether resolved lies inside root (both realpath() results). */
int http_path_inside(const char *resolved, const char *root);
/* Whether the raw request target's path (before any '?') holds "%00", an
 * encoded NUL that MHD's decoding would silently cut the path at. */
int http_uri_has_nul(const char *uri);
/* The path a request target names: the target itself in origin form
 * ("/path"), the path part of an absolute-form target ("http://host/path",
 * which RFC 9112 §3.2.2 says a server must accept; "/" when it has none),
 * else the target unchanged (which then matches no route). A pointer into
 * target or to a static "/". */
const char *http_target_path(const char *target);
/* Where the query of a raw request target starts (the byte after its
 * '?'), or NULL when it has none. */
const char *http_uri_query(const char *uri);
/* Whether a field name is an RFC 9110 token (n bytes, not NUL-terminated). */
int http_field_name_valid(const char *name, size_t n);
/* Whether a field value of n bytes holds only what RFC 9110 §5.5 allows:
 * visible bytes, obs-text (0x80-0xFF), spaces and tabs; no NUL, CR, LF or
 * other control byte. */
int http_field_value_valid(const char *value, size_t n);
/* Whether a Host value is uri-host [":" port] (RFC 9112 §3.2, RFC 3986):
 * a reg-name or IPv4 address (empty allowed), or an IP literal in brackets,
 * then optionally a colon and digits. */
int http_host_valid(const char *value, size_t n);

/* The one Content-Length rule (RFC 9110 §8.6: 1*DIGIT), for the value of
 * n bytes as libmicrohttpd keeps it (leading spaces and tabs already
 * dropped): 0 with the length in *length, or -1 with why in *reason (a
 * static string) when it holds anything but digits (a sign, a list such as
 * "0, 34", trailing whitespace, which libmicrohttpd 0.9.75 would refuse
 * itself), is empty, or is above HTTP_MAX_CONTENT_LENGTH. */
int http_content_length_parse(const char *value, size_t n, unsigned long long *length, const char **reason);

/* What a request's head says about its framing, gathered by http.c from
 * every header field (not only the first of each name). */
typedef struct {
    int http11;              /* HTTP/1.1 (or a later 1.x): Host is required */
    unsigned host_count;     /* Host fields */
    int host_valid;          /* every Host value passes http_host_valid() */
    unsigned length_count;   /* Content-Length fields */
    unsigned transfer_count; /* Transfer-Encoding fields */
    int fields_valid;        /* every name a token, every value clean */
    int uri_too_long;        /* the request target was over HTTP_MAX_URI */
} http_head;

/* Whether a request may be answered at all: 0 if so, else the status it
 * gets (400, 414), with the reason in *reason (a static string). Such a
 * request is answered and its connection closed: after a framing error
 * nothing that follows on the connection can be trusted to be a request. */
unsigned http_head_refusal(const http_head *h, const char **reason);
/* The arguments a route may take, read from a raw query string by
 * http_query_parse(). Values are percent-decoded ('+' stays '+': RFC 3339
 * offsets such as +02:00 are written unencoded in links) and at most
 * HTTP_MAX_QUERY_VALUE bytes. */
typedef enum { HTTP_ARG_AT, HTTP_ARG_FROM, HTTP_ARG_TO, HTTP_ARG_STEP, HTTP_ARG_REGION, HTTP_ARG_COUNT } http_arg;

typedef struct {
    char value[HTTP_ARG_COUNT][HTTP_MAX_QUERY_VALUE + 1];
    unsigned char present[HTTP_ARG_COUNT];
    unsigned unknown;       /* arguments of other names (the page's own, such as src=) */
    char first_unknown[32]; /* the first one's name, cut, for a route's error message */
    const char *error;      /* NULL, or why the query cannot be read (a static string) */
} http_query;

/* The name of an argument ("at", "from", ...). */
const char *http_arg_name(http_arg a);
/* Reads query (the bytes after '?', n of them, not NUL-terminated) into q:
 * 0, or -1 with q->error set (more than HTTP_MAX_QUERY_ARGS arguments, a
 * known one given twice, a value longer than HTTP_MAX_QUERY_VALUE, a broken
 * or NUL percent escape in a known one). Unknown arguments are counted and
 * otherwise left alone: only the routes that take arguments refuse them. */
int http_query_parse(const char *query, size_t n, http_query *q);
/* The Content-Type for a file name, by its extension. */
const char *http_content_type(const char *path);
/* The path label of vizfeed_http_requests_total for a URL: one of a closed
 * set, so that scanners probing random URLs cannot grow the registry. */
const char *http_metrics_path(const char *url);

#endif
