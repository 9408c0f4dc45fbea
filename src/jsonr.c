/*
 * jsonr.c - a streaming JSON reader (see jsonr.h).
 *
 * One loop over the bytes: structural characters move a small state
 * machine, and a string, number or literal is found whole by scanning ahead
 * for its end. When the chunk ends inside one, its bytes so far are gathered
 * in `pend` and the next chunk continues the scan from there.
 */
#include "bounds.h"
#include "jsonr.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A decoded string is never longer than its JSON text. */
#define MAX_SCRATCH JSONR_MAX_PENDING

typedef enum {
    S_VALUE,       /* a value: at the top, after ':' or after ',' in an array */
    S_ARRAY_FIRST, /* after '[': a value or ']' */
    S_MAP_FIRST,   /* after '{': a key or '}' */
    S_KEY,         /* after ',' in an object: a key */
    S_COLON,       /* after a key */
    S_AFTER,       /* after a value in a container: ',' or the container's end */
    S_DONE,        /* the top value is complete: white space only */
} state;

typedef enum { P_NONE, P_STRING, P_NUMBER, P_LITERAL } pending;

struct jsonr {
    const jsonr_callbacks *cb;
    void *ctx;
    state st;
    int depth;
    bool in_map[JSONR_MAX_DEPTH]; /* per open container: an object (or an array) */
    size_t base;                  /* document offset of the chunk being read */
    size_t token_end;             /* document offset after the last token */
    pending pend_kind;
    bool pend_escape; /* a string's gathered bytes end in a backslash that escapes the next byte */
    size_t pend_at;   /* document offset where the pending token starts */
    buf pend;         /* its bytes so far (a string's without the opening quote) */
    buf scratch;      /* a string with escapes, decoded */
    bool stopped, failed;
    char error[160];
};

/* How a byte inside a string is treated: plain bytes are skipped 8 at a time
 * when no byte of the word needs a look. */
enum { C_PLAIN, C_QUOTE, C_BACKSLASH, C_CONTROL, C_HIGH };
static unsigned char string_class[256];

/* Filled once per process through pthread_once(): several Elasticsearch
 * flows and the history workers make readers at the same time, and a
 * table filled by whichever came first while another already read it was a
 * data race (a reader could see a half-filled table: a backslash or a
 * UTF-8 byte taken for a plain one). */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_tables(void) {
    for (int c = 0; c < 256; c++)
        string_class[c] = c < 0x20    ? C_CONTROL
                          : c >= 0x80 ? C_HIGH
                          : c == '"'  ? C_QUOTE
                          : c == '\\' ? C_BACKSLASH
                                      : C_PLAIN;
}

jsonr *jsonr_new(const jsonr_callbacks *cb, void *ctx) {
    assert(cb);
    pthread_once(&tables_once, fill_tables);
    jsonr *r = xcalloc(1, sizeof *r);
    r->cb = cb;
    r->ctx = ctx;
    buf_init(&r->pend, JSONR_MAX_PENDING);
    buf_init(&r->scratch, MAX_SCRATCH);
    jsonr_reset(r);
    return r;
}

void jsonr_free(jsonr *r) {
    if (!r) return;
    buf_free(&r->pend);
    buf_free(&r->scratch);
    free(r);
}

void jsonr_reset(jsonr *r) {
    r->st = S_VALUE;
    r->depth = 0;
    r->base = r->token_end = 0;
    r->pend_kind = P_NONE;
    r->pend_escape = false;
    buf_reset(&r->pend);
    r->stopped = r->failed = false;
    r->error[0] = '\0';
}

size_t jsonr_offset(const jsonr *r) {
    return r->token_end;
}

const char *jsonr_error(const jsonr *r) {
    return r->error;
}

static jsonr_status error_at(jsonr *r, size_t at, const char *what) {
    r->failed = true;
    snprintf(r->error, sizeof r->error, "%s at byte %zu", what, at);
    return JSONR_ERROR;
}

static jsonr_status unexpected(jsonr *r, size_t at, unsigned char c) {
    static const char *const expected[] = {
        [S_VALUE] = "a value",
        [S_ARRAY_FIRST] = "a value or ']'",
        [S_MAP_FIRST] = "a key or '}'",
        [S_KEY] = "a key",
        [S_COLON] = "':'",
        [S_AFTER] = "',' or the end of the container",
        [S_DONE] = "nothing after the value",
    };
    char what[96];
    if (c >= 0x20 && c < 0x7f)
        snprintf(what, sizeof what, "'%c' where %s was expected", c, expected[r->st]);
    else
        snprintf(what, sizeof what, "byte 0x%02x where %s was expected", c, expected[r->st]);
    return error_at(r, at, what);
}

/* ---- strings ---- */

/* The length of the UTF-8 sequence at s (n bytes available) by yajl's rule,
 * or 0 when it is not one. */
static size_t utf8_length(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] >> 6) != 0x2) return 0;
    return len;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The four hex digits at s (n bytes available), or -1. */
static long hex4(const unsigned char *s, size_t n) {
    if (n < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_value(s[i]);
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

static size_t put_utf8(unsigned char *out, unsigned long cp) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The escape at s[0] == '\\' (n bytes to the string's end) decoded into
 * out; returns the bytes it took, or 0 when it is not a valid escape. */
static size_t decode_escape(const unsigned char *s, size_t n, unsigned char *out, size_t *out_len) {
    static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
    if (n < 2) return 0;
    const char *k = s[1] ? strchr(simple_in, s[1]) : NULL;
    if (k) {
        out[0] = (unsigned char)simple_out[k - simple_in];
        *out_len = 1;
        return 2;
    }
    if (s[1] != 'u') return 0;
    long cp = hex4(s + 2, n - 2);
    if (cp < 0) return 0;
    size_t took = 6;
    if (cp >= 0xD800 && cp <= 0xDBFF && n >= 12 && s[6] == '\\' && s[7] == 'u') {
        long low = hex4(s + 8, n - 8);
        if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            took = 12;
        }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* a surrogate without its other half */
    *out_len = put_utf8(out, (unsigned long)cp);
    return took;
}

/* Checks a string's text (s, n bytes between the quotes; no raw control
 * byte, the scan saw to that) and hands it to the callback: as it is when
 * it has no escape, decoded into the scratch buffer when it has. plain: the
 * scan saw only ASCII and no backslash, so there is nothing to check. */
static jsonr_status string_token(jsonr *r, const unsigned char *s, size_t n, size_t at, bool key, bool plain) {
    size_t i = plain ? n : 0;
    bool escapes = false;
    while (i < n) {
        if (s[i] < 0x80) {
            if (s[i] == '\\') {
                escapes = true;
                break;
            }
            i++;
            continue;
        }
        size_t len = utf8_length(s + i, n - i);
        if (!len) return error_at(r, at + 1 + i, "invalid UTF-8 in a string");
        i += len;
    }
    if (escapes) {
        buf *d = &r->scratch;
        buf_reset(d);
        if (buf_append(d, s, i) < 0) return error_at(r, at, "a string too long");
        while (i < n) {
            unsigned char out[4];
            size_t out_len = 0, took;
            if (s[i] == '\\') {
                took = decode_escape(s + i, n - i, out, &out_len);
                if (!took) return error_at(r, at + 1 + i, "an invalid escape in a string");
            } else if (s[i] < 0x80) {
                /* a run of plain bytes up to the next escape or high byte */
                took = 1;
                while (i + took < n && s[i + took] < 0x80 && s[i + took] != '\\') took++;
                if (buf_append(d, s + i, took) < 0) return error_at(r, at, "a string too long");
                i += took;
                continue;
            } else {
                took = utf8_length(s + i, n - i);
                if (!took) return error_at(r, at + 1 + i, "invalid UTF-8 in a string");
                memcpy(out, s + i, took);
                out_len = took;
            }
            if (buf_append(d, out, out_len) < 0) return error_at(r, at, "a string too long");
            i += took;
        }
        s = (const unsigned char *)d->data;
        n = d->len;
    }
    int halt = key ? r->cb->on_map_key(r->ctx, s, n) : r->cb->on_string(r->ctx, s, n);
    if (halt) {
        r->stopped = true;
        return JSONR_STOPPED;
    }
    r->st = key ? S_COLON : r->depth ? S_AFTER : S_DONE;
    return JSONR_OK;
}

/* The bytes of the 8 in w that need a look in a string, as 0x80 in each:
 * a quote, a backslash, a control byte, a byte of a multibyte character.
 * Exact, with no carry from one byte into the next, so the first one is
 * found by counting zero bits from the end that holds the first byte. */
static uint64_t bytes_needing_look(uint64_t w) {
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL, highs = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t is_quote = ~(((quote & low7) + low7) | quote);
    uint64_t is_backslash = ~(((backslash & low7) + low7) | backslash);
    uint64_t below_space = ~((w & low7) + ones * 0x60) & ~w;
    return (is_quote | is_backslash | below_space | w) & highs;
}

/* Scans string bytes from p for the closing quote. Returns it, or NULL when
 * the chunk ends first (*escape then says whether its last byte escapes the
 * next chunk's first), or sets *control to a raw control byte. *special is
 * set when a backslash or a byte of a multibyte character was seen: only
 * then does the string need string_token()'s second look. */
static const unsigned char *string_end(const unsigned char *p, const unsigned char *end, bool *escape,
                                       const unsigned char **control, bool *special) {
    if (*escape) {
        if (p == end) return NULL;
        p++;
        *escape = false;
    }
    while (p < end) {
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t look = bytes_needing_look(w);
            if (!look) {
                p += 8;
                continue;
            }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            p += (unsigned)__builtin_clzll(look) / 8;
#else
            p += (unsigned)__builtin_ctzll(look) / 8;
#endif
        }
        switch (string_class[*p]) {
        case C_PLAIN:
            p++;
            break;
        case C_HIGH:
            *special = true;
            p++;
            break;
        case C_QUOTE:
            return p;
        case C_BACKSLASH:
            *special = true;
            if (p + 1 == end) {
                *escape = true;
                return NULL;
            }
            p += 2;
            break;
        default:
            *control = p;
            return NULL;
        }
    }
    return NULL;
}

/* ---- numbers and literals ---- */

static bool is_number_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static bool is_literal_byte(unsigned char c) {
    return c >= 'a' && c <= 'z';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and nothing else. */
static bool number_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i == n) return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        size_t digits = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == digits) return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t digits = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == digits) return false;
    }
    return i == n;
}

static jsonr_status scalar_token(jsonr *r, pending kind, const unsigned char *s, size_t n, size_t at) {
    int halt;
    if (kind == P_NUMBER) {
        if (!number_ok(s, n)) return error_at(r, at, "a malformed number");
        halt = r->cb->on_number(r->ctx, (const char *)s, n);
    } else if (n == 4 && memcmp(s, "true", 4) == 0) {
        halt = r->cb->on_boolean(r->ctx, 1);
    } else if (n == 5 && memcmp(s, "false", 5) == 0) {
        halt = r->cb->on_boolean(r->ctx, 0);
    } else if (n == 4 && memcmp(s, "null", 4) == 0) {
        halt = r->cb->on_null(r->ctx);
    } else {
        return error_at(r, at, "an invalid literal (not true, false or null)");
    }
    if (halt) {
        r->stopped = true;
        return JSONR_STOPPED;
    }
    r->st = r->depth ? S_AFTER : S_DONE;
    return JSONR_OK;
}

/* ---- the loop ---- */

static bool value_allowed(state st) {
    return st == S_VALUE || st == S_ARRAY_FIRST;
}

static jsonr_status gather(jsonr *r, pending kind, const unsigned char *from, const unsigned char *end, size_t at) {
    if (r->pend_kind == P_NONE) {
        buf_reset(&r->pend);
        r->pend_kind = kind;
        r->pend_at = at;
    }
    if (buf_append(&r->pend, from, (size_t)(end - from)) < 0) return error_at(r, r->pend_at, "a token too long");
    return JSONR_OK;
}

/* Continues the token a previous chunk ended in. Returns where the rest of
 * the chunk starts, or NULL when the token goes on past it (or failed:
 * *st says which). */
static const unsigned char *finish_pending(jsonr *r, const unsigned char *p, const unsigned char *end,
                                           jsonr_status *st) {
    const unsigned char *q;
    *st = JSONR_OK;
    if (r->pend_kind == P_STRING) {
        const unsigned char *control = NULL;
        bool special = true; /* the gathered part was not looked at: string_token() checks it all */
        q = string_end(p, end, &r->pend_escape, &control, &special);
        if (control) {
            *st = error_at(r, r->base + (size_t)(control - p), "a control character in a string");
            return NULL;
        }
    } else {
        bool (*member)(unsigned char) = r->pend_kind == P_NUMBER ? is_number_byte : is_literal_byte;
        for (q = p; q < end && member(*q); q++) {
        }
        if (q == end) q = NULL;
    }
    if (!q) {
        *st = gather(r, r->pend_kind, p, end, 0);
        return NULL;
    }
    if ((*st = gather(r, r->pend_kind, p, q, 0)) != JSONR_OK) return NULL;
    pending kind = r->pend_kind;
    r->pend_kind = P_NONE;
    const unsigned char *s = (const unsigned char *)r->pend.data;
    size_t n = r->pend.len;
    if (kind == P_STRING) {
        q++; /* the closing quote */
        r->token_end = r->base + (size_t)(q - p);
        *st = string_token(r, s, n, r->pend_at, !value_allowed(r->st), false);
    } else {
        r->token_end = r->base + (size_t)(q - p);
        *st = scalar_token(r, kind, s, n, r->pend_at);
    }
    return *st == JSONR_OK ? q : NULL;
}

jsonr_status jsonr_feed(jsonr *r, const char *data, size_t len) {
    assert(r && (data || len == 0));
    if (r->failed) return JSONR_ERROR;
    if (r->stopped) return JSONR_STOPPED;
    const unsigned char *start = (const unsigned char *)data, *p = start, *end = start + len;
    jsonr_status st = JSONR_OK;
    if (r->pend_kind != P_NONE) {
        p = finish_pending(r, p, end, &st);
        if (!p) goto done;
    }
    while (p < end) {
        unsigned char c = *p;
        size_t at = r->base + (size_t)(p - start);
        switch (c) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
        case '\v':
        case '\f':
            p++;
            continue;
        case '{':
        case '[':
            if (!value_allowed(r->st)) return unexpected(r, at, c);
            if (r->depth == JSONR_MAX_DEPTH) return error_at(r, at, "containers nested too deep");
            r->in_map[r->depth++] = c == '{';
            r->token_end = at + 1;
            if (c == '{' ? r->cb->on_start_map(r->ctx) : r->cb->on_start_array(r->ctx)) goto stop;
            r->st = c == '{' ? S_MAP_FIRST : S_ARRAY_FIRST;
            p++;
            continue;
        case '}':
        case ']': {
            bool map = c == '}';
            bool ok = r->depth > 0 && r->in_map[r->depth - 1] == map &&
                      (r->st == S_AFTER || r->st == (map ? S_MAP_FIRST : S_ARRAY_FIRST));
            if (!ok) return unexpected(r, at, c);
            r->depth--;
            r->token_end = at + 1;
            if (map ? r->cb->on_end_map(r->ctx) : r->cb->on_end_array(r->ctx)) goto stop;
            r->st = r->depth ? S_AFTER : S_DONE;
            p++;
            continue;
        }
        case ',':
            if (r->st != S_AFTER) return unexpected(r, at, c);
            r->st = r->in_map[r->depth - 1] ? S_KEY : S_VALUE;
            p++;
            continue;
        case ':':
            if (r->st != S_COLON) return unexpected(r, at, c);
            r->st = S_VALUE;
            p++;
            continue;
        case '"': {
            bool key = r->st == S_MAP_FIRST || r->st == S_KEY;
            if (!key && !value_allowed(r->st)) return unexpected(r, at, c);
            bool escape = false, special = false;
            const unsigned char *control = NULL;
            const unsigned char *q = string_end(p + 1, end, &escape, &control, &special);
            if (control) return error_at(r, r->base + (size_t)(control - start), "a control character in a string");
            if (!q) {
                r->pend_escape = escape;
                st = gather(r, P_STRING, p + 1, end, at);
                goto done;
            }
            r->token_end = r->base + (size_t)(q + 1 - start);
            if ((st = string_token(r, p + 1, (size_t)(q - p - 1), at, key, !special)) != JSONR_OK) goto done;
            p = q + 1;
            continue;
        }
        default: {
            pending kind;
            const unsigned char *q = p + 1;
            if (c == '-' || (c >= '0' && c <= '9')) {
                kind = P_NUMBER;
                while (q < end && is_number_byte(*q)) q++;
            } else if (c == 't' || c == 'f' || c == 'n') {
                kind = P_LITERAL;
                while (q < end && is_literal_byte(*q)) q++;
            } else {
                return unexpected(r, at, c);
            }
            if (!value_allowed(r->st)) return unexpected(r, at, c);
            if (q == end) {
                st = gather(r, kind, p, end, at);
                goto done;
            }
            r->token_end = r->base + (size_t)(q - start);
            if ((st = scalar_token(r, kind, p, (size_t)(q - p), at)) != JSONR_OK) goto done;
            p = q;
            continue;
        }
        }
    }
done:
    r->base += len;
    return st;
stop:
    r->stopped = true;
    r->base += len;
    return JSONR_STOPPED;
}

jsonr_status jsonr_finish(jsonr *r) {
    if (r->failed) return JSONR_ERROR;
    if (r->stopped) return JSONR_STOPPED;
    if (r->depth == 0 && (r->pend_kind == P_NUMBER || r->pend_kind == P_LITERAL)) {
        /* a number or literal at the top ends with the document */
        pending kind = r->pend_kind;
        r->pend_kind = P_NONE;
        r->token_end = r->base;
        jsonr_status st = scalar_token(r, kind, (const unsigned char *)r->pend.data, r->pend.len, r->pend_at);
        if (st != JSONR_OK) return st;
    }
    return r->st == S_DONE && r->pend_kind == P_NONE ? JSONR_OK : JSONR_PARTIAL;
}
