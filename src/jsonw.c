/*
 * jsonw.c - the streaming JSON writer (jsonw.h). Every JSON vizfeed emits
 * goes through it, so escaping, UTF-8 repair and number formatting are
 * decided in one place, and an error sticks until the caller checks it once
 * at the end.
 */
#include "jsonw.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(jsonw *w, buf *out) {
    assert(w && out);
    memset(w, 0, sizeof *w);
    w->out = out;
    w->first[0] = true;
}

static void put(jsonw *w, const char *s, size_t n) {
    if (!w->failed && buf_append(w->out, s, n) < 0) w->failed = true;
}

/* Writes the separator a new value needs at the current position. */
static void before_value(jsonw *w) {
    if (w->failed) return;
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth]) put(w, ",", 1);
    w->first[w->depth] = false;
}

static void open_container(jsonw *w, char c) {
    before_value(w);
    if (w->depth + 1 >= JSONW_MAX_DEPTH) {
        w->failed = true;
        return;
    }
    put(w, &c, 1);
    w->depth++;
    w->first[w->depth] = true;
}

static void close_container(jsonw *w, char c) {
    if (w->depth == 0) {
        w->failed = true;
        return;
    }
    put(w, &c, 1);
    w->depth--;
}

void jsonw_object_begin(jsonw *w) {
    open_container(w, '{');
}
void jsonw_object_end(jsonw *w) {
    close_container(w, '}');
}
void jsonw_array_begin(jsonw *w) {
    open_container(w, '[');
}
void jsonw_array_end(jsonw *w) {
    close_container(w, ']');
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid.
 * Rejects overlong forms, surrogates and code points past U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

size_t jsonw_utf8_sequence_length(const unsigned char *s, size_t n) {
    return n ? utf8_sequence(s, n) : 0;
}

int jsonw_escape(buf *out, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    int rc = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc |= buf_append(out, esc, 2);
            i++;
        } else if (c < 0x20) {
            static const char short_escapes[] = "btn\0fr";
            if (c >= 8 && c <= 13 && c != 11) {
                char esc[2] = {'\\', short_escapes[c - 8]};
                rc |= buf_append(out, esc, 2);
            } else {
                rc |= buf_printf(out, "\\u%04x", c);
            }
            i++;
        } else if (c < 0x80) {
            size_t run = 1; /* copy plain ASCII in one go */
            while (i + run < n && s[i + run] >= 0x20 && s[i + run] < 0x80 && s[i + run] != '"' && s[i + run] != '\\')
                run++;
            rc |= buf_append(out, s + i, run);
            i += run;
        } else {
            size_t len = utf8_sequence(s + i, n - i);
            if (len == 0) {
                rc |= buf_append(out, "\xef\xbf\xbd", 3); /* U+FFFD for a byte that is not UTF-8 */
                i++;
            } else {
                rc |= buf_append(out, s + i, len);
                i += len;
            }
        }
    }
    return rc ? -1 : 0;
}

void jsonw_key(jsonw *w, const char *key) {
    before_value(w);
    put(w, "\"", 1);
    if (!w->failed && jsonw_escape(w->out, key, strlen(key)) < 0) w->failed = true;
    put(w, "\":", 2);
    w->after_key = true;
}

void jsonw_string_n(jsonw *w, const char *s, size_t n) {
    assert(w && (s || n == 0));
    before_value(w);
    put(w, "\"", 1);
    if (!w->failed && jsonw_escape(w->out, s, n) < 0) w->failed = true;
    put(w, "\"", 1);
}

void jsonw_string(jsonw *w, const char *s) {
    jsonw_string_n(w, s ? s : "", s ? strlen(s) : 0);
}

/* Writes the decimal digits of v ending at end; returns where they start.
 * Render writes ~70k integers per 100k-edge refresh, and snprintf("%lld")
 * costs ~650 instructions each against ~60 here: the same text. */
static char *digits_before(char *end, uint64_t v) {
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void jsonw_int(jsonw *w, int64_t v) {
    char tmp[24];
    /* Negated as unsigned so that INT64_MIN has its digits too. */
    uint64_t magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *start = digits_before(tmp + sizeof tmp, magnitude);
    if (v < 0) *--start = '-';
    before_value(w);
    put(w, start, (size_t)(tmp + sizeof tmp - start));
}

void jsonw_double(jsonw *w, double v) {
    char tmp[40];
    if (!isfinite(v)) v = 0;
    if (v == floor(v) && fabs(v) < 1e15) {
        jsonw_int(w, (int64_t)v);
        return;
    }
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    before_value(w);
    put(w, tmp, (size_t)n);
}

double jsonw_round_significant(double v, int digits) {
    if (v == 0 || !isfinite(v)) return 0;
    double magnitude = floor(log10(fabs(v)));
    double scale = pow(10, digits - 1 - magnitude);
    return round(v * scale) / scale;
}

/* r printed with "%.*f" and decimals places, without snprintf() when that is
 * provably the same text: r is the double nearest to k / 10^decimals for an
 * integer k below 2^52, so r is within half an ulp (< 10^-decimals / 2) of
 * that decimal and "%.*f" rounds back to exactly k's digits. Other values
 * (rates of 10000 and more, whose rounding went through an inexact scale)
 * take snprintf(). Saves ~500 instructions per rate, ~4 per edge. */
static int fixed_point(double r, int decimals, char *out, size_t n) {
    static const double powers[] = {1e0, 1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                    1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
    double scaled = r * powers[decimals];
    if (scaled >= 0 && scaled < 4503599627370496.0 /* 2^52 */) {
        uint64_t k = (uint64_t)llround(scaled);
        if ((double)k / powers[decimals] == r) {
            char tmp[48];
            char *end = tmp + sizeof tmp;
            char *start = digits_before(end, k);
            while (end - start <= decimals) *--start = '0'; /* 0.00x: one digit before the point */
            int whole = (int)(end - start) - decimals;
            size_t len = (size_t)(end - start) + (decimals > 0);
            if (len >= n) return -1;
            memcpy(out, start, (size_t)whole);
            if (decimals > 0) {
                out[whole] = '.';
                memcpy(out + whole + 1, start + whole, (size_t)decimals);
            }
            out[len] = '\0';
            return (int)len;
        }
    }
    return snprintf(out, n, "%.*f", decimals, r);
}

/* Plain notation stops here: 1e21 has 22 digits, and a rate of 1e60 once
 * overflowed the 64-byte buffer, leaving no number at all ("rate_in":,) and a
 * graph no JSON parser accepts. Past it the rate is written in exponent
 * notation, still a JSON number. */
#define RATE_PLAIN_LIMIT 1e21
/* Below half the last of the 17 decimals a rate prints as 0; checked first
 * because jsonw_round_significant() of a subnormal scales by an infinite power of
 * ten and gives NaN. */
#define RATE_ZERO_BELOW 5e-18

size_t jsonw_format_rate(double v, char *out, size_t n) {
    if (!isfinite(v) || v < RATE_ZERO_BELOW) return (size_t)snprintf(out, n, "0");
    double r = jsonw_round_significant(v, 4);
    if (!isfinite(r)) r = v; /* DBL_MAX rounds up past the largest double */
    if (r >= RATE_PLAIN_LIMIT) {
        int len = snprintf(out, n, "%.4g", r);
        return len > 0 && (size_t)len < n ? (size_t)len : 0;
    }
    int decimals = 3 - (int)floor(log10(r));
    if (decimals < 0) decimals = 0;
    if (decimals > 17) decimals = 17;
    int len = fixed_point(r, decimals, out, n);
    if (len <= 0 || (size_t)len >= n) return 0;
    /* Trailing zeros after the point carry no information: 12.50 -> 12.5. */
    if (decimals > 0) {
        while (len > 0 && out[len - 1] == '0') out[--len] = '\0';
        if (len > 0 && out[len - 1] == '.') out[--len] = '\0';
    }
    return (size_t)len;
}

void jsonw_rate(jsonw *w, double v) {
    char tmp[64];
    size_t n = jsonw_format_rate(v, tmp, sizeof tmp);
    before_value(w);
    if (n == 0) { /* cannot happen with a 64-byte buffer; never write a key without a value */
        w->failed = true;
        return;
    }
    put(w, tmp, n);
}

void jsonw_bool(jsonw *w, bool v) {
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(jsonw *w) {
    before_value(w);
    put(w, "null", 4);
}

void jsonw_raw(jsonw *w, const char *json, size_t n) {
    assert(w && (json || n == 0));
    before_value(w);
    put(w, json, n);
}

bool jsonw_failed(const jsonw *w) {
    return w->failed;
}
