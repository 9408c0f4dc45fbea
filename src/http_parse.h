/*
 * http_parse.h - the pure parts of HTTP request handling: what a request's
 * headers and path ask for, decided without a socket, a lock or a file.
 *
 * http.c calls these for every request; they live apart so that the unit
 * tests and the fuzzer (tests/fuzz/fuzz_http.c) can drive them directly
 * with hostile input. None allocates, none keeps a pointer, and every
 * argument is a NUL-terminated string (NULL where noted).
 */
#ifndef VIZ_HTTP_PARSE_H
#define VIZ_HTTP_PARSE_H

#include <stddef.h>

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
/* The Content-Type for a file name, by its extension. */
const char *http_content_type(const char *path);
/* The path label of vizfeed_http_requests_total for a URL: one of a closed
 * set, so that scanners probing random URLs cannot grow the registry. */
const char *http_metrics_path(const char *url);

#endif
