/*
 * fuzz_jsonr.c - the streaming JSON reader (jsonr.h) against yajl, on any
 * bytes.
 *
 * Input: byte 0 is the chunk size the document is fed in (0: whole); the
 * rest is the document. Both readers must accept or refuse it alike, and
 * when they accept it they must report the same tokens, except where the
 * reader chose otherwise on purpose (jsonr.h): strings with surrogate
 * escapes, nesting past JSONR_MAX_DEPTH, where only the reader stops, and
 * bytes after the value that begin a token the document never finishes
 * ("[]\"" or "{} 1"), which yajl lets pass and the reader refuses.
 */
#include <string.h>

#include <yajl/yajl_parse.h>

#include "fuzz.h"
#include "jsonr.h"
#include "util.h"

static int note(void *ctx, char kind, const void *s, size_t n) {
    buf *b = ctx;
    buf_putc(b, kind);
    if (s) {
        char len[24];
        snprintf(len, sizeof len, "%zu:", n);
        buf_puts(b, len);
        buf_append(b, s, n);
    }
    return 1;
}

static int on_null(void *ctx) {
    return note(ctx, 'z', NULL, 0);
}
static int on_boolean(void *ctx, int v) {
    return note(ctx, v ? 't' : 'f', NULL, 0);
}
static int on_number(void *ctx, const char *s, size_t n) {
    return note(ctx, 'n', s, n);
}
static int on_string(void *ctx, const unsigned char *s, size_t n) {
    return note(ctx, 's', s, n);
}
static int on_key(void *ctx, const unsigned char *s, size_t n) {
    return note(ctx, 'k', s, n);
}
static int on_start_map(void *ctx) {
    return note(ctx, '{', NULL, 0);
}
static int on_end_map(void *ctx) {
    return note(ctx, '}', NULL, 0);
}
static int on_start_array(void *ctx) {
    return note(ctx, '[', NULL, 0);
}
static int on_end_array(void *ctx) {
    return note(ctx, ']', NULL, 0);
}

/* The same callbacks for jsonr, whose callbacks return 0 to go on (util.h),
 * where yajl's return nonzero. */
static int r_null(void *ctx) {
    return !on_null(ctx);
}
static int r_boolean(void *ctx, int v) {
    return !on_boolean(ctx, v);
}
static int r_number(void *ctx, const char *s, size_t n) {
    return !on_number(ctx, s, n);
}
static int r_string(void *ctx, const unsigned char *s, size_t n) {
    return !on_string(ctx, s, n);
}
static int r_key(void *ctx, const unsigned char *s, size_t n) {
    return !on_key(ctx, s, n);
}
static int r_start_map(void *ctx) {
    return !on_start_map(ctx);
}
static int r_end_map(void *ctx) {
    return !on_end_map(ctx);
}
static int r_start_array(void *ctx) {
    return !on_start_array(ctx);
}
static int r_end_array(void *ctx) {
    return !on_end_array(ctx);
}

static bool has_surrogate_escape(const uint8_t *s, size_t n) {
    for (size_t i = 0; i + 3 < n; i++)
        if (s[i] == '\\' && s[i + 1] == 'u' && (s[i + 2] | 0x20) == 'd' && strchr("89abcdefABCDEF", s[i + 3]) &&
            s[i + 3])
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const jsonr_callbacks reader_side = {r_null, r_boolean, r_number,      r_string,   r_start_map,
                                                r_key,  r_end_map, r_start_array, r_end_array};
    static const yajl_callbacks yajl_side = {.yajl_null = on_null,
                                             .yajl_boolean = on_boolean,
                                             .yajl_number = on_number,
                                             .yajl_string = on_string,
                                             .yajl_start_map = on_start_map,
                                             .yajl_map_key = on_key,
                                             .yajl_end_map = on_end_map,
                                             .yajl_start_array = on_start_array,
                                             .yajl_end_array = on_end_array};
    if (size < 1) return 0;
    size_t chunk = data[0] ? data[0] : size;
    const char *doc = (const char *)data + 1;
    size_t len = size - 1;

    buf mine, theirs;
    buf_init(&mine, 1u << 26);
    buf_init(&theirs, 1u << 26);

    jsonr *r = jsonr_new(&reader_side, &mine);
    jsonr_status st = JSONR_OK;
    for (size_t off = 0; off < len && st == JSONR_OK; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        st = jsonr_feed(r, doc + off, n);
        FUZZ_CHECK(jsonr_offset(r) <= off + n);
    }
    if (st == JSONR_OK) st = jsonr_finish(r);
    FUZZ_CHECK(st == JSONR_OK || st == JSONR_ERROR || st == JSONR_PARTIAL);
    FUZZ_CHECK((st == JSONR_ERROR) == (jsonr_error(r)[0] != '\0'));
    bool too_deep = st == JSONR_ERROR && strstr(jsonr_error(r), "nested too deep");
    bool trailing = st == JSONR_ERROR && strstr(jsonr_error(r), "nothing after the value");

    yajl_handle h = yajl_alloc(&yajl_side, NULL, &theirs);
    bool yajl_ok =
        yajl_parse(h, (const unsigned char *)doc, len) == yajl_status_ok && yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);

    if (!too_deep) {
        FUZZ_CHECK((st == JSONR_OK) == yajl_ok || (trailing && yajl_ok));
        if (yajl_ok && !has_surrogate_escape((const uint8_t *)doc, len))
            FUZZ_CHECK(mine.len == theirs.len && memcmp(mine.data, theirs.data, mine.len) == 0);
    }
    jsonr_free(r);
    buf_free(&mine);
    buf_free(&theirs);
    return 0;
}
