/*
 * util.h - small pieces every module uses: bounded growable buffers, checked
 * allocation, durations and timestamps, error-message formatting.
 *
 * Allocation: xmalloc() and friends abort the process with a message when the
 * allocator fails. vizfeed bounds every input (see bounds.h), so running out
 * of memory means the machine is in trouble; dying loudly beats limping on
 * with half-built graphs. Everything else in vizfeed reports errors through
 * return codes and a caller-supplied `char *err` buffer of ERR_LEN bytes.
 * The function that fails says what failed and why (the path, the host, the
 * cause), never who asked; each caller adds only its own context, once
 * ("flow 'access': ", "cannot serve HTTP: ", "file output failed: "), so a
 * message never names the same thing twice.
 *
 * Callbacks: every callback vizfeed's own modules take (jsonr's token
 * callbacks, a source's row_emit_fn, es_client's es_data_fn, ...) returns 0
 * to go on and nonzero to stop; the caller then ends what it was doing and
 * says so by its own return value. Foreign contracts (libcurl's write
 * callback, yajl's) stay inside the module that talks to the library.
 *
 * Buffers: a `buf` grows up to a hard cap fixed at init (curl's dynbuf idea).
 * An append that would pass the cap fails with -1 and leaves the buffer as it
 * was, so a caller can report "answer larger than N bytes" and drop it; the
 * failure sticks until buf_reset() (buf_failed()).
 * Ownership of the bytes leaves the buffer only through buf_take().
 *
 * Threads: nothing here keeps state (times go through gmtime_r and arithmetic,
 * not the TZ machinery), so any thread may call any function; a buf belongs
 * to one thread at a time.
 */
#ifndef VIZ_UTIL_H
#define VIZ_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ERR_LEN 512 /* size of every `char *err` buffer */

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Writes a message into err (ERR_LEN bytes); returns -1 so that callers can
 * write `return util_fail(err, "...", ...)`. err may be NULL. (cmocka defines a
 * util_fail() macro: tests include our headers before <cmocka.h>.) */
int util_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct {
    char *data; /* always NUL-terminated when len > 0 or after buf_cstr() */
    size_t len;
    size_t cap;  /* allocated bytes */
    size_t max;  /* hard limit on len */
    bool failed; /* an append failed: every later one fails too, until buf_reset() */
} buf;

void buf_init(buf *b, size_t max);
void buf_free(buf *b);
void buf_reset(buf *b); /* len = 0, keeps the memory */
int buf_append(buf *b, const void *data, size_t n);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether an append failed since init or the last reset: the failures stick
 * (as jsonw's do), so a caller may append a whole record and check once. */
bool buf_failed(const buf *b);
const char *buf_cstr(buf *b); /* "" for an empty buffer */
/* Hands the bytes to the caller (free() them); the buffer is empty after. */
char *buf_take(buf *b, size_t *len);

/* "500ms", "10s", "2m", "1h", "1d" (also combined "1m30s") -> milliseconds.
 * Returns 0 or -1 with a reason in err. */
int util_parse_duration_ms(const char *s, int64_t *ms, char *err);
/* Formats ms the shortest way: 120000 -> "2m", 90000 -> "1m30s". */
void util_format_duration(int64_t ms, char *out, size_t outlen);
/* RFC 3339 ("2026-01-01T00:00:00Z", fractions and offsets allowed) or epoch
 * milliseconds ("1767225600000", also with a fraction: "1767225600000.5",
 * rounded down) -> epoch ms. Returns 0 or -1. */
int util_parse_time_ms(const char *s, int64_t *ms, char *err);
/* Epoch ms -> "2026-01-01T00:00:00.000Z". out must hold 32 bytes. */
void util_format_time_ms(int64_t ms, char *out, size_t outlen);
int64_t util_now_ms(void);       /* wall clock */
int64_t util_monotonic_ms(void); /* for intervals and ages */
/* t rounded down to a multiple of step (> 0) since the epoch, also for a
 * negative t: the grid every window end sits on (README.md). */
int64_t util_align_ms(int64_t t, int64_t step);
/* Seconds, to the nanosecond: of CLOCK_MONOTONIC, and of the CPU time the
 * calling thread has used. For measuring one piece of work. */
double util_monotonic_seconds(void);
double util_thread_cpu_seconds(void);

/* Standard base64 with padding (HTTP Basic and ApiKey credentials). */
void util_base64_encode(buf *out, const unsigned char *in, size_t n);
/* Decodes standard or URL-safe base64; padding is optional (a cloud ID
 * copied from a console often loses it). Returns -1 on a foreign byte or
 * when out's cap is reached. */
int util_base64_decode(const char *in, buf *out);

bool util_str_eq(const char *a, const char *b); /* NULL-safe */
bool util_str_empty(const char *s);             /* NULL or "" */

#endif
