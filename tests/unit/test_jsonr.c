/* Unit tests of the streaming JSON reader: the same tokens as yajl on the
 * same documents, cut into chunks at every place; what it refuses; escapes,
 * offsets, stopping, and tokens gathered across chunks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "jsonr.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ---- the tokens, written down as one line ---- */

typedef struct {
    buf events;
    int stop_after; /* stop (return 1) at this event (counting from 1); 0: never */
    int count;
    size_t offsets[64]; /* jsonr_offset() at each of the first events */
    const jsonr *reader;
} recorder;

static int note(recorder *rec, const char *kind, const void *s, size_t n) {
    buf_puts(&rec->events, kind);
    if (s) {
        buf_putc(&rec->events, '<');
        buf_append(&rec->events, s, n);
        buf_putc(&rec->events, '>');
    }
    buf_putc(&rec->events, ' ');
    if (rec->reader && rec->count < 64) rec->offsets[rec->count] = jsonr_offset(rec->reader);
    return ++rec->count == rec->stop_after;
}

static int on_null(void *ctx) {
    return note(ctx, "null", NULL, 0);
}
static int on_boolean(void *ctx, int v) {
    return note(ctx, v ? "true" : "false", NULL, 0);
}
static int on_number(void *ctx, const char *s, size_t n) {
    return note(ctx, "n", s, n);
}
static int on_string(void *ctx, const unsigned char *s, size_t n) {
    return note(ctx, "s", s, n);
}
static int on_key(void *ctx, const unsigned char *s, size_t n) {
    return note(ctx, "k", s, n);
}
static int on_start_map(void *ctx) {
    return note(ctx, "{", NULL, 0);
}
static int on_end_map(void *ctx) {
    return note(ctx, "}", NULL, 0);
}
static int on_start_array(void *ctx) {
    return note(ctx, "[", NULL, 0);
}
static int on_end_array(void *ctx) {
    return note(ctx, "]", NULL, 0);
}

static const jsonr_callbacks reader_callbacks = {on_null, on_boolean, on_number,      on_string,   on_start_map,
                                                 on_key,  on_end_map, on_start_array, on_end_array};
/* The same callbacks for yajl, whose callbacks return nonzero to go on
 * where jsonr's return 0 (util.h). */
static int y_null(void *ctx) {
    return !on_null(ctx);
}
static int y_boolean(void *ctx, int v) {
    return !on_boolean(ctx, v);
}
static int y_number(void *ctx, const char *s, size_t n) {
    return !on_number(ctx, s, n);
}
static int y_string(void *ctx, const unsigned char *s, size_t n) {
    return !on_string(ctx, s, n);
}
static int y_key(void *ctx, const unsigned char *s, size_t n) {
    return !on_key(ctx, s, n);
}
static int y_start_map(void *ctx) {
    return !on_start_map(ctx);
}
static int y_end_map(void *ctx) {
    return !on_end_map(ctx);
}
static int y_start_array(void *ctx) {
    return !on_start_array(ctx);
}
static int y_end_array(void *ctx) {
    return !on_end_array(ctx);
}
static const yajl_callbacks yajl_side = {.yajl_null = y_null,
                                         .yajl_boolean = y_boolean,
                                         .yajl_number = y_number,
                                         .yajl_string = y_string,
                                         .yajl_start_map = y_start_map,
                                         .yajl_map_key = y_key,
                                         .yajl_end_map = y_end_map,
                                         .yajl_start_array = y_start_array,
                                         .yajl_end_array = y_end_array};

/* Feeds doc in pieces of `piece` bytes (0: whole; a negative -k: cut once,
 * after k bytes). Returns the outcome; the events are in rec. */
static jsonr_status read_doc(jsonr *r, recorder *rec, const char *doc, size_t len, long piece) {
    buf_reset(&rec->events);
    rec->count = 0;
    rec->reader = r;
    jsonr_reset(r);
    jsonr_status st = JSONR_OK;
    size_t cut = piece < 0 ? (size_t)-piece : 0;
    size_t step = piece > 0 ? (size_t)piece : len;
    if (piece < 0) {
        st = jsonr_feed(r, doc, cut);
        if (st == JSONR_OK) st = jsonr_feed(r, doc + cut, len - cut);
    } else {
        for (size_t off = 0; off < len && st == JSONR_OK; off += step)
            st = jsonr_feed(r, doc + off, len - off < step ? len - off : step);
    }
    return st == JSONR_OK ? jsonr_finish(r) : st;
}

/* The events as bytes: a \u0000 puts a NUL inside them. */
static bool same_events(const recorder *a, const recorder *b) {
    return a->events.len == b->events.len && memcmp(a->events.data, b->events.data, a->events.len) == 0;
}

static bool yajl_reads(recorder *rec, const char *doc, size_t len) {
    buf_reset(&rec->events);
    rec->count = 0;
    rec->reader = NULL;
    yajl_handle h = yajl_alloc(&yajl_side, NULL, rec);
    bool ok =
        yajl_parse(h, (const unsigned char *)doc, len) == yajl_status_ok && yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

/* Documents both must read, with the same tokens. */
static const char *const valid[] = {
    "{}",
    "[]",
    "{\"a\":1}",
    " [1, -2.5e+3, 0, -0, 0.25, 1E9, 3e-2, true, false, null, \"x\"] ",
    "{\"k\":{\"k2\":[[],{}],\"k3\":[{\"x\":[null]}]},\"e\":\"\"}",
    "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\tz\"",
    "[\"\\u00e9\\u20AC\", \"\\ud83d\\ude00\", \"\\u0041\\u0000b\"]",
    "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\", \"\xc0\x80\"]",
    "123",
    "-7.5e-3",
    "\"top\"",
    "true",
    "null",
    "\v\f{\r\n\t\"a\"\v:\f[ ]\n}\n",
    "{\"aggregations\":{\"edges\":{\"after_key\":{\"a\":\"b\"},\"buckets\":[{\"key\":{\"from\":\"10.1.2.3\",\"to\":"
    "\"svc-1\"},\"doc_count\":12,\"danger\":{\"doc_count\":0}}]}}}",
    "[\"a long string with many plain bytes in it, longer than one word of eight bytes, and then some\"]",
};

/* Documents both must refuse. */
static const char *const invalid[] = {
    "{",
    "[1,]",
    "{\"a\"}",
    "{\"a\":}",
    "{,}",
    "[1 2]",
    "01",
    "[01]",
    "1.",
    ".5",
    "-",
    "[-]",
    "1e",
    "[1e+]",
    "+1",
    "tru",
    "[trux]",
    "[nul]",
    "[True]",
    "\"abc",
    "[\"a\x01b\"]",
    "[\"a\nb\"]",
    "[\"\\x\"]",
    "[\"\\u12\"]",
    "[\"\\u12g4\"]",
    "[\"\xff\"]",
    "[\"\xc3\"]",
    "[\"\xc3(\"]",
    "[\"\xe2\x82\"]",
    "[\"\x80\"]",
    "{\"a\":1}}",
    "[]x",
    "{} {}",
    "]",
    "}",
    "{1:2}",
    "{\"a\" 1}",
    "[1:2]",
    "[NaN]",
    "[Infinity]",
    "['s']",
    "[1,,2]",
    "{\"a\":1,}",
    "{\"a\":1 \"b\":2}",
    "[}",
    "{]",
    "",
    "   ",
};

static void reads_what_yajl_reads_cut_anywhere(void **state) {
    recorder rec = {0}, ref = {0};
    buf_init(&rec.events, 1 << 16);
    buf_init(&ref.events, 1 << 16);
    jsonr *r = jsonr_new(&reader_callbacks, &rec);
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const char *doc = valid[i];
        size_t len = strlen(doc);
        assert_true(yajl_reads(&ref, doc, len));
        long pieces[] = {0, 1, 2, 3, 7};
        for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
            jsonr_status st = read_doc(r, &rec, doc, len, pieces[k]);
            if (st != JSONR_OK || !same_events(&rec, &ref))
                fail_msg("document %zu in pieces of %ld: status %d, error '%s'\n got  %s\n want %s", i, pieces[k], st,
                         jsonr_error(r), buf_cstr(&rec.events), buf_cstr(&ref.events));
        }
        for (size_t cut = 0; cut <= len; cut++) {
            jsonr_status st = read_doc(r, &rec, doc, len, -(long)cut);
            if (st != JSONR_OK || !same_events(&rec, &ref))
                fail_msg("document %zu cut after %zu bytes: status %d, error '%s'\n got  %s\n want %s", i, cut, st,
                         jsonr_error(r), buf_cstr(&rec.events), buf_cstr(&ref.events));
        }
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        const char *doc = invalid[i];
        size_t len = strlen(doc);
        assert_false(yajl_reads(&ref, doc, len));
        for (size_t cut = 0; cut <= len; cut++) {
            jsonr_status st = read_doc(r, &rec, doc, len, -(long)cut);
            if (st == JSONR_OK) fail_msg("invalid document %zu ('%s') read as JSON, cut after %zu bytes", i, doc, cut);
        }
    }
    jsonr_free(r);
    buf_free(&rec.events);
    buf_free(&ref.events);
}

static void errors_say_what_and_where(void **state) {
    static const struct {
        const char *doc;
        jsonr_status st;
        const char *error;
    } cases[] = {
        {"[1,]", JSONR_ERROR, "']' where a value was expected at byte 3"},
        {"{\"a\" 1}", JSONR_ERROR, "'1' where ':' was expected at byte 5"},
        {"[\"a\x01\"]", JSONR_ERROR, "a control character in a string at byte 3"},
        {"[\"ab\xff\"]", JSONR_ERROR, "invalid UTF-8 in a string at byte 4"},
        {"[\"\\q\"]", JSONR_ERROR, "an invalid escape in a string at byte 2"},
        {"[1.e5]", JSONR_ERROR, "a malformed number at byte 1"},
        {"[nulll]", JSONR_ERROR, "an invalid literal (not true, false or null) at byte 1"},
        {"{} x", JSONR_ERROR, "'x' where nothing after the value was expected at byte 3"},
        {"[] \"", JSONR_ERROR, "'\"' where nothing after the value was expected at byte 3"},
        {"{}1", JSONR_ERROR, "'1' where nothing after the value was expected at byte 2"},
        {"[\x01]", JSONR_ERROR, "byte 0x01 where a value or ']' was expected at byte 1"},
        {"{\"a\":[1,2]", JSONR_PARTIAL, ""},
        {"[12", JSONR_PARTIAL, ""},
        {"\"abc", JSONR_PARTIAL, ""},
    };
    recorder rec = {0};
    buf_init(&rec.events, 1 << 16);
    jsonr *r = jsonr_new(&reader_callbacks, &rec);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jsonr_status st = read_doc(r, &rec, cases[i].doc, strlen(cases[i].doc), 0);
        assert_int_equal(st, cases[i].st);
        assert_string_equal(jsonr_error(r), cases[i].error);
        if (st == JSONR_ERROR) assert_int_equal(jsonr_feed(r, "[]", 2), JSONR_ERROR); /* sticky */
    }
    jsonr_free(r);
    buf_free(&rec.events);
}

/* Where yajl's own choices are odd, ours: a lone surrogate becomes U+FFFD
 * (yajl writes '?' and skips the next character). */
static void lone_surrogates_become_replacement_characters(void **state) {
    recorder rec = {0};
    buf_init(&rec.events, 1 << 16);
    jsonr *r = jsonr_new(&reader_callbacks, &rec);
    const char *doc = "[\"a\\ud800b\", \"\\udc00\", \"\\ud800\\u0041\"]";
    assert_int_equal(read_doc(r, &rec, doc, strlen(doc), 0), JSONR_OK);
    assert_string_equal(buf_cstr(&rec.events), "[ s<a\xef\xbf\xbd"
                                               "b> s<\xef\xbf\xbd> s<\xef\xbf\xbd"
                                               "A> ] ");
    jsonr_free(r);
    buf_free(&rec.events);
}

static void offsets_are_where_each_token_ends(void **state) {
    recorder rec = {0};
    buf_init(&rec.events, 1 << 16);
    jsonr *r = jsonr_new(&reader_callbacks, &rec);
    const char *doc = "{\"ab\": [12, true], \"c\": \"d\\n\"}";
    /* {=1, "ab"=5, [=8, 12=10, true=16, ]=17, "c"=22, "d\n"=29, }=30 */
    const size_t want[] = {1, 5, 8, 10, 16, 17, 22, 29, 30};
    for (long piece = 0; piece <= 4; piece++) {
        assert_int_equal(read_doc(r, &rec, doc, strlen(doc), piece), JSONR_OK);
        assert_int_equal(rec.count, 9);
        for (int i = 0; i < 9; i++) assert_int_equal(rec.offsets[i], want[i]);
    }
    jsonr_free(r);
    buf_free(&rec.events);
}

static void a_callback_stops_the_document(void **state) {
    recorder rec = {0};
    buf_init(&rec.events, 1 << 16);
    rec.stop_after = 3;
    jsonr *r = jsonr_new(&reader_callbacks, &rec);
    const char *doc = "{\"a\":[1,2,3]}";
    assert_int_equal(read_doc(r, &rec, doc, strlen(doc), 0), JSONR_STOPPED);
    assert_string_equal(buf_cstr(&rec.events), "{ k<a> [ ");
    assert_int_equal(jsonr_feed(r, "1", 1), JSONR_STOPPED);
    assert_int_equal(jsonr_finish(r), JSONR_STOPPED);
    /* a reset starts over */
    rec.stop_after = 0;
    assert_int_equal(read_doc(r, &rec, doc, strlen(doc), 0), JSONR_OK);
    assert_string_equal(buf_cstr(&rec.events), "{ k<a> [ n<1> n<2> n<3> ] } ");
    jsonr_free(r);
    buf_free(&rec.events);
}

/* A string longer than any chunk is gathered whole, escapes and all. */
static void long_tokens_span_many_chunks(void **state) {
    recorder rec = {0};
    buf_init(&rec.events, 1 << 20);
    jsonr *r = jsonr_new(&reader_callbacks, &rec);
    buf doc, want;
    buf_init(&doc, 1 << 20);
    buf_init(&want, 1 << 20);
    buf_puts(&doc, "[\"");
    buf_puts(&want, "[ s<");
    for (int i = 0; i < 20000; i++) {
        buf_puts(&doc, i % 100 == 0 ? "\\\"x" : "ab");
        buf_puts(&want, i % 100 == 0 ? "\"x" : "ab");
    }
    buf_puts(&doc, "\", 12345678901234567890]");
    buf_puts(&want, "> n<12345678901234567890> ] ");
    for (long piece = 1000; piece <= 4096; piece += 1548) {
        assert_int_equal(read_doc(r, &rec, doc.data, doc.len, piece), JSONR_OK);
        assert_string_equal(buf_cstr(&rec.events), buf_cstr(&want));
    }
    jsonr_free(r);
    buf_free(&rec.events);
    buf_free(&doc);
    buf_free(&want);
}

static void nesting_is_bounded(void **state) {
    recorder rec = {0};
    buf_init(&rec.events, 1 << 16);
    jsonr *r = jsonr_new(&reader_callbacks, &rec);
    char doc[2 * JSONR_MAX_DEPTH + 4];
    for (int depth = JSONR_MAX_DEPTH; depth <= JSONR_MAX_DEPTH + 1; depth++) {
        memset(doc, '[', (size_t)depth);
        memset(doc + depth, ']', (size_t)depth);
        jsonr_status st = read_doc(r, &rec, doc, 2 * (size_t)depth, 0);
        assert_int_equal(st, depth <= JSONR_MAX_DEPTH ? JSONR_OK : JSONR_ERROR);
    }
    assert_string_equal(jsonr_error(r), "containers nested too deep at byte 256");
    jsonr_free(r);
    buf_free(&rec.events);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_what_yajl_reads_cut_anywhere),
        cmocka_unit_test(errors_say_what_and_where),
        cmocka_unit_test(lone_surrogates_become_replacement_characters),
        cmocka_unit_test(offsets_are_where_each_token_ends),
        cmocka_unit_test(a_callback_stops_the_document),
        cmocka_unit_test(long_tokens_span_many_chunks),
        cmocka_unit_test(nesting_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
