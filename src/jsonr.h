/*
 * jsonr.h - a streaming JSON reader: bytes in as they arrive, one callback
 * per token out.
 *
 * Elasticsearch's answers are the bulk of what vizfeed reads (17 MB for a
 * 100k-edge refresh) and yajl spent a third of such a refresh on them
 * (docs/PERFORMANCE.md, fix 11). This reader does the same job for the
 * answer parser at a fraction of the cost: a string, number or literal that
 * lies whole inside the bytes fed is handed over where it lies, without a
 * copy; only a token cut by a chunk boundary is gathered first, and only a
 * string with escapes is decoded into a scratch buffer.
 *
 * It reads what yajl reads by default (tests/unit/test_jsonr.c and the
 * jsonr fuzz target check both on the same inputs): RFC 8259 JSON, with
 * \v and \f also taken as white space, one value per document, any value at
 * the top. Strings must be UTF-8 by yajl's rule (lead and continuation bytes
 * well formed; overlong forms not checked); \u escapes are decoded, a
 * surrogate pair into one character and a lone surrogate into U+FFFD.
 * Anything but white space after the value is refused, also the start of a
 * token the document never finishes ("[]\"", "{} 1"), which yajl lets pass.
 *
 * Calling sequence: jsonr_new(), then jsonr_feed() for each chunk, then
 * jsonr_finish(); jsonr_reset() starts the next document. A callback returns
 * 0 to go on, nonzero to stop (util.h): the feed then returns JSONR_STOPPED
 * and the document is over. The pointers a callback gets are valid during the call
 * only. Errors are sticky: after JSONR_ERROR every call returns it again,
 * and jsonr_error() says what was wrong and at which byte.
 *
 * Threads: one reader is used by one thread at a time; any number of
 * readers may be made and used on different threads at once (several
 * Elasticsearch flows, the history workers). The byte tables they share are
 * filled once per process under pthread_once() by the first jsonr_new() and
 * only read after it (tests/unit/test_jsonr_threads.c, run under TSan).
 */
#ifndef VIZ_JSONR_H
#define VIZ_JSONR_H

#include <stddef.h>
#include "bounds.h"

/* Containers nested deeper than JSONR_MAX_DEPTH (bounds.h) are an error. The
 * answer parser stops far earlier (64); this only bounds the reader's own
 * stack. */

typedef struct {
    int (*on_null)(void *ctx);
    int (*on_boolean)(void *ctx, int value);
    int (*on_number)(void *ctx, const char *text, size_t len); /* the number's JSON text */
    int (*on_string)(void *ctx, const unsigned char *s, size_t len);
    int (*on_start_map)(void *ctx);
    int (*on_map_key)(void *ctx, const unsigned char *key, size_t len);
    int (*on_end_map)(void *ctx);
    int (*on_start_array)(void *ctx);
    int (*on_end_array)(void *ctx);
} jsonr_callbacks;

typedef enum {
    JSONR_OK,      /* all bytes taken; more may follow */
    JSONR_STOPPED, /* a callback returned nonzero */
    JSONR_ERROR,   /* not JSON; see jsonr_error() */
    JSONR_PARTIAL, /* from jsonr_finish(): the document ends early */
} jsonr_status;

typedef struct jsonr jsonr;

/* Every callback must be set. Never NULL (aborts when out of memory). */
jsonr *jsonr_new(const jsonr_callbacks *cb, void *ctx);
void jsonr_free(jsonr *r);
void jsonr_reset(jsonr *r);
jsonr_status jsonr_feed(jsonr *r, const char *data, size_t len);
/* The end of the bytes: a number at the top level ends here; anything not
 * closed yet makes the document PARTIAL. */
jsonr_status jsonr_finish(jsonr *r);
/* Bytes of the document consumed up to the end of the token being handed
 * to a callback (or of the last one, between calls). */
size_t jsonr_offset(const jsonr *r);
/* One line for a person, "" when there was no error. */
const char *jsonr_error(const jsonr *r);

#endif
