/*
 * util.c - the small pieces every module uses (util.h): checked
 * allocation, bounded buffers, error formatting, durations and times.
 */
#include "util.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void out_of_memory(size_t n) {
    fprintf(stderr, "vizfeed: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *xcalloc(size_t count, size_t n) {
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p) out_of_memory(count * n);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *xstrdup(const char *s) {
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int util_fail(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* What every buf function may rely on, checked where each starts (curl's
 * dynbuf does the same): memory only with a capacity, room for the NUL. */
#define BUF_CHECK(b)                                                                                                   \
    assert((b) && (b)->len <= (b)->max && ((b)->data ? (b)->len < (b)->cap : (b)->cap == 0 && (b)->len == 0))

void buf_init(buf *b, size_t max) {
    assert(b);
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->failed = false;
}

void buf_free(buf *b) {
    BUF_CHECK(b);
    free(b->data);
    buf_init(b, b->max);
}

void buf_reset(buf *b) {
    BUF_CHECK(b);
    b->len = 0;
    b->failed = false;
    if (b->data) b->data[0] = '\0';
}

static int buf_reserve(buf *b, size_t extra) {
    /* Every append comes here, the graph's JSON a few million times: the
     * one invariant the arithmetic below needs, not all of BUF_CHECK. */
    assert(b->len <= b->max);
    if (extra > b->max - b->len || b->failed) {
        b->failed = true;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    if (cap > b->max + 1) cap = b->max + 1;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int buf_append(buf *b, const void *data, size_t n) {
    assert(data || n == 0);
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf *b, const char *s) {
    return buf_append(b, s, strlen(s));
}

int buf_putc(buf *b, char c) {
    return buf_append(b, &c, 1);
}

int buf_printf(buf *b, const char *fmt, ...) {
    BUF_CHECK(b);
    if (b->failed) return -1;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return -1;
    }
    if ((size_t)n < sizeof small) return buf_append(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

bool buf_failed(const buf *b) {
    BUF_CHECK(b);
    return b->failed;
}

const char *buf_cstr(buf *b) {
    BUF_CHECK(b);
    return b->data ? b->data : "";
}

char *buf_take(buf *b, size_t *len) {
    BUF_CHECK(b);
    char *p = b->data ? b->data : xstrdup("");
    if (len) *len = b->len;
    buf_init(b, b->max);
    return p;
}

int util_parse_duration_ms(const char *s, int64_t *ms, char *err) {
    if (util_str_empty(s))
        return util_fail(err, "expected a duration such as 500ms, 10s, 2m or 1h, got an empty value");
    const char *p = s;
    int64_t total = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return util_fail(err, "expected a duration such as 500ms, 10s, 2m or 1h, got '%s'", s);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0 || v > 1000000000LL) return util_fail(err, "duration '%s' is out of range", s);
        int64_t unit;
        if (strncmp(end, "ms", 2) == 0)
            unit = 1, end += 2;
        else if (*end == 's')
            unit = 1000, end++;
        else if (*end == 'm')
            unit = 60000, end++;
        else if (*end == 'h')
            unit = 3600000, end++;
        else if (*end == 'd')
            unit = 86400000, end++;
        else
            return util_fail(err, "expected a duration with a unit (ms, s, m, h, d) such as 10s, got '%s'", s);
        total += (int64_t)v * unit;
        p = end;
    }
    *ms = total;
    return 0;
}

void util_format_duration(int64_t ms, char *out, size_t outlen) {
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
    size_t used = 0;
    out[0] = '\0';
    if (ms <= 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0] && ms > 0; i++) {
        if (ms >= units[i].ms) {
            int n = snprintf(out + used, outlen - used, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            if (n < 0 || (size_t)n >= outlen - used) return;
            used += (size_t)n;
            ms %= units[i].ms;
        }
    }
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
 * algorithm); avoids timegm()'s dependence on the TZ machinery. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i])) return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

int util_parse_time_ms(const char *s, int64_t *ms, char *err) {
    if (util_str_empty(s))
        return util_fail(err, "expected a time (RFC 3339 or epoch milliseconds), got an empty value");
    size_t len = strlen(s);
    /* Epoch milliseconds may carry a fraction: the OpenTelemetry exporter
     * writes @timestamp as "1705314600000.0" (reference
     * otel-in-elasticsearch.md §2), which Elasticsearch's epoch_millis
     * accepts; the fraction is dropped, as Elasticsearch rounds down too. */
    size_t int_len = 0;
    while (int_len < len && isdigit((unsigned char)s[int_len])) int_len++;
    bool all_digits = int_len == len;
    if (int_len > 0 && int_len + 1 < len && s[int_len] == '.') {
        all_digits = true;
        for (size_t i = int_len + 1; i < len; i++)
            if (!isdigit((unsigned char)s[i])) all_digits = false;
    }
    if (all_digits) {
        if (int_len > 15) return util_fail(err, "epoch milliseconds '%s' out of range", s);
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    int Y, M, D, h = 0, mi = 0, sec = 0;
    const char *p = s;
    if (len < 10 || digits(p, 4, &Y) || p[4] != '-' || digits(p + 5, 2, &M) || p[7] != '-' || digits(p + 8, 2, &D))
        goto bad;
    p += 10;
    int64_t frac_ms = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi)) goto bad;
        p += 5;
        if (*p == ':') {
            if (digits(p + 1, 2, &sec)) goto bad;
            p += 3;
        }
        if (*p == '.' || *p == ',') {
            p++;
            int n = 0;
            int64_t scale = 100;
            if (!isdigit((unsigned char)*p)) goto bad;
            while (isdigit((unsigned char)*p)) {
                if (n < 3) frac_ms += (*p - '0') * scale;
                scale /= 10;
                n++;
                p++;
            }
        }
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh)) goto bad;
        const char *q = p + 3;
        if (*q == ':') q++;
        if (digits(q, 2, &om)) goto bad;
        offset_min = sign * (oh * 60 + om);
        p = q + 2;
    } else if (*p != '\0' || s[10] != '\0') {
        goto bad; /* a time of day needs a zone; a bare date is taken as UTC */
    }
    if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60) goto bad;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + frac_ms;
    return 0;
bad:
    return util_fail(err, "expected a time in RFC 3339 (2026-01-01T00:00:00Z) or epoch milliseconds, got '%s'", s);
}

void util_format_time_ms(int64_t ms, char *out, size_t outlen) {
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int milli = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

int64_t util_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double util_monotonic_seconds(void) {
    return clock_seconds(CLOCK_MONOTONIC);
}

double util_thread_cpu_seconds(void) {
    return clock_seconds(CLOCK_THREAD_CPUTIME_ID);
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void util_base64_encode(buf *out, const unsigned char *in, size_t n) {
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        buf_putc(out, b64_alphabet[(v >> 18) & 63]);
        buf_putc(out, b64_alphabet[(v >> 12) & 63]);
        buf_putc(out, i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=');
        buf_putc(out, i + 2 < n ? b64_alphabet[v & 63] : '=');
    }
}

static int b64_value(int c) {
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    if (p) return (int)(p - b64_alphabet);
    if (c == '-') return 62; /* URL-safe alphabet */
    if (c == '_') return 63;
    return -1;
}

int util_base64_decode(const char *in, buf *out) {
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int v = b64_value((unsigned char)*p);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (buf_putc(out, (char)((acc >> bits) & 0xff)) < 0) return -1;
        }
    }
    return 0;
}

/* Eight bytes per step, each word multiplied into the state, then
 * splitmix64's finalizer so that every input bit reaches the low bits that
 * tables use as an index. FNV-1a (a multiply per byte) cost ~4 instructions
 * per byte, ~3 % of a 100k-edge refresh through the graph, document and memo
 * tables; this costs ~1 per byte. Nothing is ordered by these values and
 * none is stored; the one that leaves the process is the snapshot's ETag, so
 * changing the function makes clients fetch the body once more after an
 * upgrade. Host-endian loads: values differ between machines, which nothing
 * depends on. */
bool util_str_eq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

bool util_str_empty(const char *s) {
    return !s || !*s;
}

int64_t util_align_ms(int64_t t, int64_t step) {
    if (step <= 0) return t;
    int64_t r = t % step;
    return r < 0 ? t - r - step : t - r;
}
