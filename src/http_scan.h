/*
 * http_scan.h - the framing of request heads, checked as their bytes arrive
 * on a connection, before libmicrohttpd parses them.
 *
 * libmicrohttpd 0.9.75 refuses a request with an invalid Content-Length
 * itself, before any of vizfeed's hooks runs, and sends its error header
 * block twice; it also joins a folded line to the one before without a
 * space ("Content-Length: 3" then " 4" is a length of 34). The scanner sees
 * the same bytes first (http_guard.h feeds it what libmicrohttpd reads) and
 * says which head must be refused, so that vizfeed answers it instead.
 *
 * Calling sequence: http_scan_init() once per connection, then
 * http_scan_feed() with each run of bytes in the order read, split anywhere.
 * The verdict depends only on the bytes, never on how they were split
 * (tests/fuzz/fuzz_http_scan.c checks it). Heads follow one another
 * (pipelining) until one announces a body (a Content-Length above 0, or a
 * Transfer-Encoding): vizfeed answers such a request without reading the
 * body and closes the connection (http.c), so nothing after it is a head and
 * the scan stops. Lines end with LF or CRLF and empty lines before a request
 * line are skipped, as libmicrohttpd reads them.
 *
 * Refused: a Content-Length whose value fails http_content_length_parse()
 * (http_parse.h) or is longer than HTTP_MAX_CONTENT_LENGTH_BYTES, and a
 * Content-Length line followed by a folded line (one starting with a space
 * or tab). Everything else (duplicates included) is left to http.c's checks,
 * which run once libmicrohttpd has parsed the head. The scanner allocates
 * nothing and keeps no pointer; its state is a fixed-size struct.
 */
#ifndef VIZ_HTTP_SCAN_H
#define VIZ_HTTP_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "bounds.h"

typedef enum {
    HTTP_SCAN_MORE,   /* no verdict yet: keep feeding */
    HTTP_SCAN_PASS,   /* a head announced a body: nothing more to check */
    HTTP_SCAN_REFUSE, /* a head must be refused (reason set) */
} http_scan_verdict;

/* Fields are the scanner's own; read only verdict and reason. */
typedef struct {
    http_scan_verdict verdict;
    const char *reason;    /* why, when refused (a static string) */
    unsigned char where;   /* which part of a head the next byte belongs to */
    unsigned char field;   /* the framing field this line may name (0: none) */
    unsigned char matched; /* bytes of that name matched so far */
    unsigned char value_len;
    bool cr;             /* the last byte was a CR: it ends the line if LF follows */
    bool value_too_long; /* over HTTP_MAX_CONTENT_LENGTH_BYTES */
    bool after_length;   /* the last field line was Content-Length: a fold would continue it */
    bool body;           /* the current head announces a body */
    char value[HTTP_MAX_CONTENT_LENGTH_BYTES];
} http_scan;

void http_scan_init(http_scan *s);
/* Scans n more bytes of the connection. Returns the verdict, which stays
 * once given (later calls return it without looking at their bytes). On
 * HTTP_SCAN_REFUSE, *head_start is where the refused head starts in data:
 * the bytes before it are whole requests that came first (answer them),
 * and 0 means the head started in an earlier call or at data[0]. */
http_scan_verdict http_scan_feed(http_scan *s, const char *data, size_t n, size_t *head_start);

#endif
