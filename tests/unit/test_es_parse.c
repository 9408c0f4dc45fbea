/* Unit tests of the search-answer parser: every answer of reference §1.1.2
 * and §3 kept under tests/data/es/, each fed whole and one byte at a time
 * (streaming must not change anything), truncations at every byte, hostile
 * bodies, a 1 MB page in bounded memory, and the parse throughput. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "es_parse.h"
#include "es_query.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Rows as text, one line each: six values ("-" for NULL) and the counts. */
typedef struct {
    buf text;
    size_t rows;
    int stop_after;  /* emit returns non-zero at this row; 0 = never */
    size_t max_heap; /* largest heap growth seen during emit (mallinfo2) */
    size_t heap_base;
} collector;

static int collect(void *ctx, const raw_row *row) {
    collector *c = ctx;
    c->rows++;
    if (c->heap_base) {
        size_t used = mallinfo2().uordblks;
        if (used > c->heap_base && used - c->heap_base > c->max_heap) c->max_heap = used - c->heap_base;
        return 0;
    }
    for (int i = 0; i < EP_COUNT; i++) buf_printf(&c->text, "%s|", row->value[i] ? row->value[i] : "-");
    buf_printf(&c->text, "%g/%g/%g\n", row->count[CLASS_NORMAL], row->count[CLASS_WARNING], row->count[CLASS_DANGER]);
    return c->stop_after && (int)c->rows >= c->stop_after;
}

static flow_config doc_count_flow = {.name = "test", .count_field = ""};
static flow_config summing_flow = {.name = "test", .count_field = "span.destination.service.response_time.count"};

static char *read_fixture(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "data/es/%s", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    buf b;
    buf_init(&b, 1u << 24);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) assert_int_equal(buf_append(&b, chunk, n), 0);
    fclose(f);
    return buf_take(&b, len);
}

typedef struct {
    int rc;
    es_answer answer;
    char err[ERR_LEN];
    collector rows;
} outcome;

/* Parses body with a fresh parser, in chunks of `chunk` bytes (0 = whole). */
static void parse(const flow_config *flow, int status, const char *body, size_t len, size_t chunk, outcome *o) {
    memset(o, 0, sizeof *o);
    buf_init(&o->rows.text, 1u << 26);
    es_parser *p = es_parser_new(flow, collect, &o->rows);
    es_parser_reset(p, status);
    if (chunk == 0) chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk) es_parser_feed(p, body + off, len - off < chunk ? len - off : chunk);
    o->rc = es_parser_finish(p, &o->answer, o->err);
    es_parser_free(p);
}

static void outcome_free(outcome *o) {
    free(o->answer.after_key);
    buf_free(&o->rows.text);
}

/* What a fixture must give. Strings are prefixes; NULL means "do not care". */
typedef struct {
    const char *file;
    int status;
    const flow_config *flow;
    es_answer_kind kind;
    bool has_aggregations;
    size_t buckets;
    const char *after_key; /* exact; "" = must be NULL */
    bool timed_out;
    int64_t shards_total, shards_failed;
    const char *shard_reason;
    const char *error_type;
    const char *error_reason;
    int64_t max_buckets;
    const char *rows; /* exact */
    const char *err;  /* prefix of the one-line reason */
} fixture;

static const fixture fixtures[] = {
    {.file = "s1.1.2-page1.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true,
     .buckets = 3,
     .after_key = "{\"src\":\"checkout\",\"dst\":\"postgresql\",\"region\":\"us-east-1\"}",
     .shards_total = 12,
     /* Its key names and "warn" are not vizfeed's: values are NULL and only
      * danger splits off, but the envelope reads the same. */
     .rows = "-|-|-|-|-|-|5108/0/12\n-|-|-|-|-|-|77/0/0\n-|-|-|-|-|-|9000/0/1\n"},
    {.file = "s1.1.2-page1-renamed.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true,
     .buckets = 3,
     .after_key = "{\"from_service\":\"checkout\",\"to_service\":\"postgresql\",\"to_region\":\"us-east-1\"}",
     .shards_total = 12,
     .rows = "checkout|-|-|cart:8080|us-east-1|-|5105/3/12\n"
             "checkout|-|-|payment:443|-|-|77/0/0\n"
             "checkout|-|-|postgresql|us-east-1|-|9000/0/1\n"},
    {.file = "s1.1.2-last-page.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true,
     .after_key = "",
     .shards_total = 12,
     .rows = ""},
    {.file = "s1.1.2-filtered-empty.json", .status = 200, .kind = ES_ANSWER_OK, .after_key = "", .shards_total = 12},
    {.file = "s1.1-doc-envelope.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true, /* but no "edges": nothing of it is ours */
     .after_key = "",
     .shards_total = 1,
     .rows = ""},
    {.file = "s3.1-hits-total-int-6x.json", .status = 200, .kind = ES_ANSWER_OK, .after_key = "", .shards_total = 1},
    {.file = "s3.1-hits-total-object.json", .status = 200, .kind = ES_ANSWER_OK, .after_key = "", .shards_total = 1},
    {.file = "s3.1-hits-total-minus-one.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true,
     .buckets = 1,
     .after_key = "{\"to_service\":\"b\"}",
     .shards_total = 1,
     .rows = "-|-|-|b|-|-|4/0/0\n"},
    {.file = "s3.1-no-hits-total.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true,
     .buckets = 1,
     .after_key = "{\"to_service\":\"b\"}",
     .shards_total = 1,
     .rows = "-|-|-|b|-|-|4/0/0\n"},
    {.file = "s3.1-no-index-matched.json", .status = 200, .kind = ES_ANSWER_OK, .after_key = "", .rows = ""},
    {.file = "s3.2-shard-failure.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true,
     .buckets = 1,
     .after_key = "{\"src\":\"a\",\"dst\":\"b\"}",
     .shards_total = 6,
     .shards_failed = 1,
     .shard_reason = "Text fields are not optimised for operations",
     .rows = "-|-|-|-|-|-|7/0/0\n"},
    {.file = "s3.2-timed-out.json",
     .status = 200,
     .kind = ES_ANSWER_OK,
     .after_key = "",
     .timed_out = true,
     .shards_total = 40},
    {.file = "s3.3-400-illegal-argument.json",
     .status = 400,
     .kind = ES_ANSWER_ERROR,
     .error_type = "illegal_argument_exception",
     .error_reason = "Failed to parse int parameter [size] with value [surprise_me]",
     .err = "Elasticsearch error (HTTP 400): illegal_argument_exception: Failed to parse"},
    {.file = "s3.3-400-parsing.json",
     .status = 400,
     .kind = ES_ANSWER_ERROR,
     .error_type = "parsing_exception",
     .error_reason = "unknown query [termm] did you mean any of [term, terms]?"},
    {.file = "s3.3-400-text-field.json",
     .status = 400,
     .kind = ES_ANSWER_ERROR,
     .error_type = "search_phase_execution_exception",
     .error_reason = "all shards failed: illegal_argument_exception: Text fields are not optimised"},
    {.file = "s3.3-401-security-8x.json",
     .status = 401,
     .kind = ES_ANSWER_ERROR,
     .error_type = "security_exception",
     .error_reason = "missing authentication credentials for REST request [/]"},
    {.file = "s3.3-401-security-7x.json",
     .status = 401,
     .kind = ES_ANSWER_ERROR,
     .error_type = "security_exception",
     .error_reason = "missing authentication credentials for REST request [/]"},
    {.file = "s3.3-403-security.json",
     .status = 403,
     .kind = ES_ANSWER_ERROR,
     .error_type = "security_exception",
     .error_reason = "action [indices:data/read/search] is unauthorized for user [feeder]"},
    {.file = "s3.3-404-index-not-found.json",
     .status = 404,
     .kind = ES_ANSWER_ERROR,
     .error_type = "index_not_found_exception",
     .error_reason = "no such index [classes]"},
    {.file = "s3.3-406-string-error.json",
     .status = 406,
     .kind = ES_ANSWER_ERROR,
     .error_type = "",
     .error_reason = "Content-Type header [application/vnd.elasticsearch+json; compatible-with=8] is not supported",
     .err = "Elasticsearch error (HTTP 406): Content-Type header"},
    {.file = "s3.3-429-circuit-breaking.json",
     .status = 429,
     .kind = ES_ANSWER_ERROR,
     .error_type = "circuit_breaking_exception",
     .error_reason = "[parent] Data too large"},
    {.file = "s3.3-429-rejected-execution.json",
     .status = 429,
     .kind = ES_ANSWER_ERROR,
     .error_type = "es_rejected_execution_exception",
     .error_reason = "rejected execution of"},
    {.file = "s3.3-503-all-shards-failed.json",
     .status = 503,
     .kind = ES_ANSWER_ERROR,
     .error_type = "search_phase_execution_exception",
     .error_reason = "all shards failed"},
    {.file = "s1.8-503-too-many-buckets-7x.json",
     .status = 503,
     .kind = ES_ANSWER_TOO_MANY_BUCKETS,
     .error_type = "search_phase_execution_exception",
     .error_reason = "all shards failed: too_many_buckets_exception: Trying to create too many buckets.",
     .max_buckets = 10000,
     .err = "too many buckets (HTTP 503, search.max_buckets 10000)"},
    {.file = "s1.8-503-too-many-buckets-reduce.json",
     .status = 503,
     .kind = ES_ANSWER_TOO_MANY_BUCKETS,
     .error_type = "search_phase_execution_exception",
     .error_reason = "too_many_buckets_exception: Trying to create too many buckets.",
     .max_buckets = 300000},
    {.file = "s1.8-400-too-many-buckets-8x.json", /* no max_buckets field: read from the reason */
     .status = 400,
     .kind = ES_ANSWER_TOO_MANY_BUCKETS,
     .error_type = "search_phase_execution_exception",
     .max_buckets = 65536},
    {.file = "s1.6-503-too-many-buckets-msearch-item.json",
     .status = 503,
     .kind = ES_ANSWER_TOO_MANY_BUCKETS,
     .max_buckets = 65536},
    {.file = "s3.5-opensearch-503-too-many-buckets.json",
     .status = 503,
     .kind = ES_ANSWER_TOO_MANY_BUCKETS,
     .max_buckets = 65535},
    {.file = "s1.6-msearch.json",
     .status = 200,
     .kind = ES_ANSWER_UNEXPECTED,
     .rows = "",
     .err = "unexpected answer (HTTP 200): neither aggregations nor _shards"},
    {.file = "proxy-502.html",
     .status = 502,
     .kind = ES_ANSWER_NOT_JSON,
     .err = "answer is not JSON (HTTP 502): \"<html> <head><title>502 Bad Gateway</title></hea\""},
    {.file = "empty.json", .status = 200, .kind = ES_ANSWER_TRUNCATED, .err = "empty answer (HTTP 200)"},
    /* A 200 page that is rows must never give rows under another status. */
    {.file = "s1.1.2-page1-renamed.json",
     .status = 500,
     .kind = ES_ANSWER_UNEXPECTED,
     .has_aggregations = true,
     .rows = "",
     .buckets = 3},
    {.file = "count-sums.json",
     .status = 200,
     .flow = &summing_flow,
     .kind = ES_ANSWER_OK,
     .has_aggregations = true,
     .buckets = 2,
     .after_key = "{\"from_service\":\"frontend\",\"to_service\":\"postgresql\"}",
     .shards_total = 2,
     .rows = "frontend|-|-|cart|-|-|1150/10/40\nfrontend|-|-|postgresql|-|-|99.5/0/0\n"},
};

static void assert_prefix(const char *want, const char *got) {
    if (!want) return;
    if (strncmp(want, got, strlen(want)) != 0) fail_msg("expected \"%s...\", got \"%s\"", want, got);
}

static void check_fixture(const fixture *fx, const outcome *o) {
    const es_answer *a = &o->answer;
    if (a->kind != fx->kind) fail_msg("%s: kind %d, expected %d (%s)", fx->file, a->kind, fx->kind, o->err);
    assert_int_equal(o->rc, fx->kind == ES_ANSWER_OK ? 0 : -1);
    assert_int_equal(a->status, fx->status);
    assert_int_equal(a->has_aggregations, fx->has_aggregations);
    assert_int_equal(a->buckets, fx->buckets);
    if (fx->after_key && fx->after_key[0]) {
        assert_non_null(a->after_key);
        assert_string_equal(a->after_key, fx->after_key);
    } else if (fx->after_key) {
        assert_null(a->after_key);
    }
    assert_int_equal(a->timed_out, fx->timed_out);
    if (fx->kind == ES_ANSWER_OK) {
        assert_int_equal(a->shards_total, fx->shards_total);
        assert_int_equal(a->shards_failed, fx->shards_failed);
        if (!fx->shard_reason) assert_string_equal(a->shard_reason, "");
    }
    assert_prefix(fx->shard_reason, a->shard_reason);
    if (fx->error_type) assert_string_equal(a->error_type, fx->error_type);
    assert_prefix(fx->error_reason, a->error_reason);
    assert_int_equal(a->max_buckets, fx->max_buckets);
    if (fx->rows) assert_string_equal(buf_cstr((buf *)&o->rows.text), fx->rows);
    if (fx->kind != ES_ANSWER_OK) {
        assert_non_null(strstr(o->err, "")); /* one line, never empty */
        assert_true(o->err[0] != '\0');
        assert_null(strchr(o->err, '\n'));
    }
    assert_prefix(fx->err, o->err);
}

/* Every fixture, whole and byte by byte, gives the expected answer; the two
 * feeds give identical rows and answers. */
static void fixtures_whole_and_streamed(void **state) {
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        const fixture *fx = &fixtures[i];
        size_t len;
        char *body = read_fixture(fx->file, &len);
        const flow_config *flow = fx->flow ? fx->flow : &doc_count_flow;
        outcome whole, bytes;
        parse(flow, fx->status, body, len, 0, &whole);
        parse(flow, fx->status, body, len, 1, &bytes);
        check_fixture(fx, &whole);
        check_fixture(fx, &bytes);
        assert_string_equal(buf_cstr(&whole.rows.text), buf_cstr(&bytes.rows.text));
        assert_string_equal(whole.err, bytes.err);
        assert_memory_equal(whole.answer.error_reason, bytes.answer.error_reason, sizeof whole.answer.error_reason);
        outcome_free(&whole);
        outcome_free(&bytes);
        free(body);
    }
}

/* Every prefix of a page is either the whole answer or TRUNCATED, fed both
 * whole and byte by byte, and never crashes. */
static void truncated_at_every_byte(void **state) {
    size_t len;
    char *body = read_fixture("s1.1.2-page1-renamed.json", &len);
    size_t end = len;
    while (end > 0 && (body[end - 1] == '\n' || body[end - 1] == ' ')) end--;
    for (size_t k = 0; k < len; k++) {
        for (size_t chunk = 0; chunk <= 1; chunk++) {
            outcome o;
            parse(&doc_count_flow, 200, body, k, chunk, &o);
            if (k >= end) {
                assert_int_equal(o.answer.kind, ES_ANSWER_OK);
                assert_int_equal(o.rc, 0);
            } else {
                if (o.answer.kind != ES_ANSWER_TRUNCATED) fail_msg("prefix %zu: kind %d: %s", k, o.answer.kind, o.err);
                assert_int_equal(o.rc, -1);
                assert_null(o.answer.after_key);
            }
            outcome_free(&o);
        }
    }
    free(body);
}

static void parse_text(const flow_config *flow, int status, const char *json, outcome *o) {
    parse(flow, status, json, strlen(json), 0, o);
}

/* Keys as rows carry them: numbers as their JSON text, booleans as
 * true/false, null as NULL; long values cut at a UTF-8 boundary. */
static void key_values(void **state) {
    outcome o;
    parse_text(&doc_count_flow, 200,
               "{\"_shards\":{\"total\":1},\"aggregations\":{\"edges\":{\"buckets\":[{\"key\":{\"from_service\":1.5e3,"
               "\"from_region\":true,\"from_host\":null,\"to_service\":200,\"to_region\":false,\"to_host\":\"h\"},"
               "\"doc_count\":2}]}}}",
               &o);
    assert_int_equal(o.rc, 0);
    assert_string_equal(buf_cstr(&o.rows.text), "1.5e3|true|-|200|false|h|2/0/0\n");
    outcome_free(&o);

    /* 3000 bytes of "é" (2 bytes each) then more: cut to at most
     * 4 * VIZ_NAME_MAX bytes, on a character boundary. */
    buf json;
    buf_init(&json, 1u << 20);
    buf_puts(&json, "{\"_shards\":{},\"aggregations\":{\"edges\":{\"buckets\":[{\"key\":{\"to_service\":\"x");
    for (int i = 0; i < 1500; i++) buf_puts(&json, "\xc3\xa9");
    buf_puts(&json, "\"},\"doc_count\":1}]}}}");
    parse_text(&doc_count_flow, 200, json.data, &o);
    assert_int_equal(o.rc, 0);
    const char *row = buf_cstr(&o.rows.text);
    size_t value_len = strchr(row + 6, '|') - (row + 6);
    assert_true(value_len <= 4 * 256);
    assert_true(value_len >= 4 * 256 - 1);
    assert_int_equal(value_len % 2, 1); /* "x" + whole "é"s */
    outcome_free(&o);
    buf_free(&json);

    /* Class counts never go negative, whatever the answer claims. */
    parse_text(&doc_count_flow, 200,
               "{\"_shards\":{},\"aggregations\":{\"edges\":{\"buckets\":[{\"key\":{\"to_service\":\"a\"},"
               "\"doc_count\":2,\"danger\":{\"doc_count\":2},\"warning\":{\"doc_count\":1}}]}}}",
               &o);
    assert_string_equal(buf_cstr(&o.rows.text), "-|-|-|a|-|-|0/1/2\n");
    outcome_free(&o);
}

/* A field written A:B (otel-spans' server.address:server.port): the B
 * source joins the value of the field it belongs to, and only that one; an
 * absent B leaves A alone. The file source makes the same names
 * (tests/cases/preset-otel-spans). */
static void joined_field(void **state) {
    static flow_config flow = {.name = "test",
                               .count_field = "",
                               .fields = {[EP_TO_SERVICE] = "target"},
                               .alt_fields = {[EP_TO_SERVICE] = {"addr"}},
                               .join_fields = {[EP_TO_SERVICE] = {"", "port"}}};
    outcome o;
    parse_text(&flow, 200,
               "{\"_shards\":{},\"aggregations\":{\"edges\":{\"buckets\":["
               "{\"key\":{\"to_service\":null,\"to_service_alt1\":\"cache\",\"to_service_alt1_join\":6379},"
               "\"doc_count\":1},"
               "{\"key\":{\"to_service\":\"t\",\"to_service_alt1\":\"cache\",\"to_service_alt1_join\":6379},"
               "\"doc_count\":2},"
               "{\"key\":{\"to_service\":null,\"to_service_alt1\":\"mail\",\"to_service_alt1_join\":null},"
               "\"doc_count\":3}]}}}",
               &o);
    assert_int_equal(o.rc, 0);
    assert_string_equal(buf_cstr(&o.rows.text), "-|-|-|cache:6379|-|-|1/0/0\n"
                                                "-|-|-|t|-|-|2/0/0\n"
                                                "-|-|-|mail|-|-|3/0/0\n");
    outcome_free(&o);
}

/* Issue 18: "\u0000" inside a name ended it there, so "a\u0000b" and
 * "a\u0000c" became one service "a". A NUL is read as U+FFFD; the names
 * stay apart, also when the replacement meets the length cut. */
static void nul_in_names_keeps_them_apart(void **state) {
    outcome o;
    parse_text(&doc_count_flow, 200,
               "{\"_shards\":{},\"aggregations\":{\"edges\":{\"buckets\":["
               "{\"key\":{\"to_service\":\"a\\u0000b\"},\"doc_count\":1},"
               "{\"key\":{\"to_service\":\"a\\u0000c\",\"to_host\":\"\\u0000\"},\"doc_count\":2},"
               "{\"key\":{\"to_service\":\"a\"},\"doc_count\":3}]}}}",
               &o);
    assert_int_equal(o.rc, 0);
    assert_string_equal(buf_cstr(&o.rows.text), "-|-|-|a\xef\xbf\xbd"
                                                "b|-|-|1/0/0\n"
                                                "-|-|-|a\xef\xbf\xbd"
                                                "c|-|\xef\xbf\xbd|2/0/0\n"
                                                "-|-|-|a|-|-|3/0/0\n");
    outcome_free(&o);
    /* 2000 NULs: cut at the value cap, never mid-character. */
    buf json;
    buf_init(&json, 1u << 20);
    buf_puts(&json, "{\"_shards\":{},\"aggregations\":{\"edges\":{\"buckets\":[{\"key\":{\"to_service\":\"x");
    for (int i = 0; i < 2000; i++) buf_puts(&json, "\\u0000");
    buf_puts(&json, "\"},\"doc_count\":1}]}}}");
    parse_text(&doc_count_flow, 200, json.data, &o);
    assert_int_equal(o.rc, 0);
    const char *row = buf_cstr(&o.rows.text);
    size_t value_len = strchr(row + 6, '|') - (row + 6);
    assert_true(value_len <= 4 * 256 && value_len >= 4 * 256 - 3);
    assert_int_equal((value_len - 1) % 3, 0); /* "x" + whole U+FFFDs */
    outcome_free(&o);
    buf_free(&json);
}

/* after_key goes back verbatim in value: escapes survive and numbers keep
 * every digit, in the order received. */
static void after_key_round_trip(void **state) {
    outcome o;
    parse_text(
        &doc_count_flow, 200,
        "{\"aggregations\":{\"edges\":{\"after_key\":{\"to_service\":\"a\\\"b\\u00e9\",\"n\":12345678901234567890,"
        "\"from_service\":null,\"b\":false},\"buckets\":[]}}}",
        &o);
    assert_int_equal(o.rc, 0);
    assert_string_equal(
        o.answer.after_key,
        "{\"to_service\":\"a\\\"b\xc3\xa9\",\"n\":12345678901234567890,\"from_service\":null,\"b\":false}");
    outcome_free(&o);
}

static void hostile_bodies(void **state) {
    static const struct {
        const char *body;
        int status;
        es_answer_kind kind;
    } cases[] = {
        {"   \n", 200, ES_ANSWER_TRUNCATED},
        {"{\"took\":1,\"_shards\":x}", 200, ES_ANSWER_NOT_JSON},
        {"Bad Gateway", 502, ES_ANSWER_NOT_JSON},
        {"\xef\xbb\xbf{}", 200, ES_ANSWER_NOT_JSON},
        {"{\"_shards\":{}} {\"_shards\":{}}", 200, ES_ANSWER_NOT_JSON},
        {"[1,2,3]", 200, ES_ANSWER_UNEXPECTED},
        {"{\"message\":\"Bad gateway\"}", 502, ES_ANSWER_UNEXPECTED},
        {"{}", 200, ES_ANSWER_UNEXPECTED},
        {"{\"error\":{\"type\":\"x\",\"reason\":\"y\"},\"status\":500}", 200, ES_ANSWER_ERROR},
        {"{\"_shards\":{\"total\":\"many\",\"failures\":[1,{\"reason\":[]}]},\"aggregations\":{\"edges\":{\"buckets\":"
         "[1,[],{\"key\":[{}]}]}}}",
         200, ES_ANSWER_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome o;
        parse_text(&doc_count_flow, cases[i].status, cases[i].body, &o);
        if (o.answer.kind != cases[i].kind) fail_msg("case %zu: kind %d: %s", i, o.answer.kind, o.err);
        outcome_free(&o);
    }

    /* Nesting past the cap is refused, not followed. */
    buf deep;
    buf_init(&deep, 1u << 20);
    buf_puts(&deep, "{\"aggregations\":");
    for (int i = 0; i < 1000; i++) buf_putc(&deep, '[');
    for (int i = 0; i < 1000; i++) buf_putc(&deep, ']');
    buf_putc(&deep, '}');
    outcome o;
    parse_text(&doc_count_flow, 200, deep.data, &o);
    assert_int_equal(o.answer.kind, ES_ANSWER_UNEXPECTED);
    assert_non_null(strstr(o.err, "nested too deeply"));
    outcome_free(&o);
    buf_free(&deep);

    /* One string of 2 MiB: refused once it passes the token cap. */
    buf big;
    buf_init(&big, 4u << 20);
    buf_puts(&big, "{\"_shards\":{},\"x\":\"");
    for (int i = 0; i < (2 << 20); i++) buf_putc(&big, 'a');
    buf_puts(&big, "\"}");
    parse(&doc_count_flow, 200, big.data, big.len, 4096, &o);
    assert_int_equal(o.answer.kind, ES_ANSWER_UNEXPECTED);
    outcome_free(&o);
    buf_free(&big);
}

/* emit() returning non-zero stops the page: feed and finish say so. */
/* Found by tests/fuzz/fuzz_es_parse.c: a count beyond int64_t's range was
 * converted from double to int64_t, which is undefined behaviour (UBSan
 * stopped on it). Counts are now clamped: 0 for negative ones, 2^53 at most. */
static void huge_and_negative_counts(void **state) {
    outcome o;
    parse_text(&doc_count_flow, 200,
               "{\"took\":3,\"timed_out\":false,\"_shards\":{\"total\":1e300,\"failed\":-4,\"successful\":1},"
               "\"aggregations\":{\"edges\":{\"buckets\":[]}}}",
               &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.answer.shards_total, INT64_C(9007199254740992));
    assert_int_equal(o.answer.shards_failed, 0);
    outcome_free(&o);

    parse_text(&doc_count_flow, 400,
               "{\"error\":{\"type\":\"too_many_buckets_exception\",\"reason\":\"x\",\"max_buckets\":"
               "120222222222222222222222222222222222222222},\"status\":400}",
               &o);
    assert_int_equal(o.answer.kind, ES_ANSWER_TOO_MANY_BUCKETS);
    assert_int_equal(o.answer.max_buckets, INT64_C(9007199254740992));
    outcome_free(&o);
}

static void receiver_stops(void **state) {
    size_t len;
    char *body = read_fixture("s1.1.2-page1-renamed.json", &len);
    collector c = {.stop_after = 1};
    buf_init(&c.text, 1 << 16);
    es_parser *p = es_parser_new(&doc_count_flow, collect, &c);
    es_parser_reset(p, 200);
    assert_int_equal(es_parser_feed(p, body, len), -1);
    assert_int_equal(es_parser_feed(p, "x", 1), -1);
    es_answer a;
    char err[ERR_LEN];
    assert_int_equal(es_parser_finish(p, &a, err), -1);
    assert_int_equal(c.rows, 1);
    assert_null(a.after_key);

    /* The same parser reads the next answer normally after a reset. */
    buf_reset(&c.text);
    c.rows = 0;
    c.stop_after = 0;
    es_parser_reset(p, 200);
    assert_int_equal(es_parser_feed(p, body, len), 0);
    assert_int_equal(es_parser_finish(p, &a, err), 0);
    assert_int_equal(c.rows, 3);
    assert_non_null(a.after_key);
    free(a.after_key);

    /* finish() without any feed: an empty answer. */
    es_parser_reset(p, 200);
    assert_int_equal(es_parser_finish(p, &a, err), -1);
    assert_int_equal(a.kind, ES_ANSWER_TRUNCATED);
    es_parser_free(p);
    buf_free(&c.text);
    free(body);
}

/* A synthetic page of n buckets with every endpoint and class. */
static void synthetic_page(buf *out, size_t n) {
    buf_puts(out, "{\"took\":41,\"timed_out\":false,\"_shards\":{\"total\":12,\"successful\":12,\"skipped\":0,"
                  "\"failed\":0},\"aggregations\":{\"edges\":{\"after_key\":{\"from_service\":\"svc-last\"},"
                  "\"buckets\":[");
    for (size_t i = 0; i < n; i++)
        buf_printf(out,
                   "%s{\"key\":{\"from_service\":\"frontend-%zu\",\"from_region\":\"eu-west-1\",\"to_service\":"
                   "\"backend-%zu\",\"to_region\":\"us-east-1\",\"to_host\":\"10.1.%zu.%zu\"},\"doc_count\":%zu,"
                   "\"danger\":{\"doc_count\":1},\"warning\":{\"doc_count\":2}}",
                   i ? "," : "", i % 1000, i, i / 256 % 256, i % 256, 100 + i);
    buf_puts(out, "]}}}");
}

/* A 1 MB page: memory stays at one bucket's worth while it streams. */
static void one_megabyte_in_bounded_memory(void **state) {
    buf page;
    buf_init(&page, 64u << 20);
    synthetic_page(&page, 5500);
    assert_true(page.len > 1000000);
    collector c = {0};
    buf_init(&c.text, 1);
    es_parser *p = es_parser_new(&doc_count_flow, collect, &c);
    es_parser_reset(p, 200);
    c.heap_base = mallinfo2().uordblks;
    if (c.heap_base == 0) c.heap_base = 1; /* sanitizers report no heap: the check is then vacuous */
    for (size_t off = 0; off < page.len; off += 16384)
        assert_int_equal(es_parser_feed(p, page.data + off, page.len - off < 16384 ? page.len - off : 16384), 0);
    es_answer a;
    char err[ERR_LEN];
    assert_int_equal(es_parser_finish(p, &a, err), 0);
    assert_int_equal(c.rows, 5500);
    assert_int_equal(a.buckets, 5500);
    /* yajl's buffer of one 16 KB chunk's unfinished token, nothing per bucket. */
    if (c.heap_base > 1) assert_true(c.max_heap < 128 * 1024);
    free(a.after_key);
    es_parser_free(p);
    buf_free(&page);
    buf_free(&c.text);
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_only(void *ctx, const raw_row *row) {
    (*(size_t *)ctx)++;
    return 0;
}

/* What a real OpenSearch 2.19.6 answered while a data node holding one of the
 * three primaries was away (tests/scenario/test_engine_nodes.py): the lost
 * shard is in total but neither successful nor failed. Elasticsearch 8.19
 * counts it failed instead; an answer without `successful` says nothing. */
static void unavailable_shards(void **state) {
    (void)state;
    static const struct {
        const char *body;
        int64_t missing;
    } cases[] = {
        {"{\"took\":3,\"timed_out\":false,\"_shards\":{\"total\":3,\"successful\":2,\"skipped\":0,\"failed\":0},"
         "\"hits\":{\"total\":{\"value\":2,\"relation\":\"eq\"}}}",
         1},
        {"{\"_shards\":{\"total\":3,\"successful\":2,\"skipped\":0,\"failed\":1}}", 0},
        {"{\"_shards\":{\"total\":5,\"successful\":2,\"skipped\":3,\"failed\":0}}", 0},
        {"{\"_shards\":{\"total\":3,\"failed\":0}}", 0},
        {"{\"_shards\":{\"total\":3,\"successful\":0,\"skipped\":0,\"failed\":0}}", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome o;
        parse(&doc_count_flow, 200, cases[i].body, strlen(cases[i].body), 0, &o);
        assert_int_equal(o.rc, 0);
        assert_int_equal(o.answer.kind, ES_ANSWER_OK);
        assert_int_equal(es_parse_shards_missing(&o.answer), cases[i].missing);
        outcome_free(&o);
    }
}

/* 100k buckets, fed as curl delivers (16 KB chunks). The target is well
 * under 0.1 s on an optimized build; the figure is printed, and the
 * assertion only catches a gross regression, since sanitizers, valgrind and
 * a loaded machine all slow it down many times. */
static void throughput_100k_buckets(void **state) {
    buf page;
    buf_init(&page, 256u << 20);
    synthetic_page(&page, 100000);
    size_t rows = 0;
    es_parser *p = es_parser_new(&doc_count_flow, count_only, &rows);
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        rows = 0;
        double t0 = seconds();
        es_parser_reset(p, 200);
        for (size_t off = 0; off < page.len; off += 16384)
            es_parser_feed(p, page.data + off, page.len - off < 16384 ? page.len - off : 16384);
        es_answer a;
        char err[ERR_LEN];
        assert_int_equal(es_parser_finish(p, &a, err), 0);
        double t = seconds() - t0;
        if (t < best) best = t;
        free(a.after_key);
        assert_int_equal(rows, 100000);
    }
    printf("# es_parse: 100000 buckets, %.1f MB in %.1f ms: %.0f MB/s, %.0f buckets/s\n", page.len / 1e6, best * 1e3,
           page.len / 1e6 / best, 100000 / best);
    assert_true(best < 20.0);
    es_parser_free(p);
    buf_free(&page);
}

/* The timeline's rows (es_parse_timeline_row), as the elasticsearch and
 * replay sources both read them: the step from the ES_TIMELINE_TIME_SOURCE
 * part, rounded down to the step; the caller's parts dropped; a bucket
 * without a usable step skipped; the receiver can stop the page. */
typedef struct {
    buf text;
    int stop_after, rows;
} step_collector;

static int collect_step(void *ctx, int64_t step_start_ms, const raw_row *row) {
    step_collector *c = ctx;
    buf_printf(&c->text, "%lld", (long long)step_start_ms);
    for (int i = 0; i < EP_COUNT; i++) buf_printf(&c->text, "|%s", row->value[i] ? row->value[i] : "-");
    buf_printf(&c->text, "|%g/%g/%g\n", row->count[CLASS_NORMAL], row->count[CLASS_WARNING], row->count[CLASS_DANGER]);
    return ++c->rows == c->stop_after;
}

static int parse_timeline(const char *json, step_collector *c, es_answer *a, char *err) {
    es_timeline_rows rows = {.emit = collect_step, .ctx = c, .step_ms = 20000};
    es_parser *p = es_parser_new(&doc_count_flow, es_parse_timeline_row, &rows);
    es_parser_reset(p, 200);
    es_parser_feed(p, json, strlen(json));
    int rc = es_parser_finish(p, a, err);
    es_parser_free(p);
    free(a->after_key);
    return rc;
}

static void timeline_rows(void **state) {
    const char *page = "{\"_shards\":{\"total\":1},\"aggregations\":{\"edges\":{\"buckets\":["
                       "{\"key\":{\"" ES_TIMELINE_TIME_SOURCE "\":1767225610000,\"from_service\":\"c\","
                       "\"to_service\":\"a\",\"to_region\":\"eu\"},\"doc_count\":3,\"danger\":{\"doc_count\":1}},"
                       "{\"key\":{\"" ES_TIMELINE_TIME_SOURCE "\":null,\"to_service\":\"b\"},\"doc_count\":1},"
                       "{\"key\":{\"" ES_TIMELINE_TIME_SOURCE "\":\"soon\",\"to_service\":\"b\"},\"doc_count\":1},"
                       "{\"key\":{\"" ES_TIMELINE_TIME_SOURCE "\":1e30,\"to_service\":\"b\"},\"doc_count\":1},"
                       "{\"key\":{\"" ES_TIMELINE_TIME_SOURCE "\":1767225620000,\"to_service\":\"b\"},"
                       "\"doc_count\":2}]}}}";
    step_collector c = {.stop_after = 0};
    buf_init(&c.text, 4096);
    es_answer a;
    char err[ERR_LEN];
    assert_int_equal(parse_timeline(page, &c, &a, err), 0);
    assert_int_equal(a.buckets, 5);
    assert_string_equal(buf_cstr(&c.text), "1767225600000|-|-|-|a|eu|-|2/0/1\n"
                                           "1767225620000|-|-|-|b|-|-|2/0/0\n");
    /* A receiver that stops ends the page, as any row_emit_fn's. */
    buf_reset(&c.text);
    c.rows = 0;
    c.stop_after = 1;
    assert_int_equal(parse_timeline(page, &c, &a, err), -1);
    assert_int_equal(c.rows, 1);
    buf_free(&c.text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixtures_whole_and_streamed),
        cmocka_unit_test(truncated_at_every_byte),
        cmocka_unit_test(key_values),
        cmocka_unit_test(nul_in_names_keeps_them_apart),
        cmocka_unit_test(after_key_round_trip),
        cmocka_unit_test(hostile_bodies),
        cmocka_unit_test(huge_and_negative_counts),
        cmocka_unit_test(receiver_stops),
        cmocka_unit_test(one_megabyte_in_bounded_memory),
        cmocka_unit_test(throughput_100k_buckets),
        cmocka_unit_test(unavailable_shards),
        cmocka_unit_test(joined_field),
        cmocka_unit_test(timeline_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
