/* Unit tests of source_replay.c on recordings written by hand: refresh and
 * page order, the last refresh repeating, a recorded window answered by its
 * refresh and an unrecorded one refused, too_many_buckets pages skipped,
 * recorded failures failing, open errors naming the directory. (Recording
 * with the live source and replaying it is in test_source_es.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "source.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define SHARDS_OK "\"_shards\":{\"total\":1,\"successful\":1,\"skipped\":0,\"failed\":0}"
#define BUCKET(from, to, n, w, d)                                                                                      \
    "{\"key\":{\"from_service\":\"" from "\",\"to_service\":\"" to "\"},\"doc_count\":" #n                             \
    ",\"warning\":{\"doc_count\":" #w "},\"danger\":{\"doc_count\":" #d "}}"
#define PAGE(buckets)                                                                                                  \
    "{\"took\":3,\"timed_out\":false," SHARDS_OK ",\"aggregations\":{\"edges\":{\"after_key\":{\"from_service\":"      \
    "\"z\",\"to_service\":\"z\"},\"buckets\":[" buckets "]}}}"
#define LAST_PAGE "{\"took\":1,\"timed_out\":false," SHARDS_OK ",\"aggregations\":{\"edges\":{\"buckets\":[]}}}"

typedef struct {
    char dir[64];
    vizfeed_config *cfg;
    flow_config flow;
    buf rows;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vizfeed-replay-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    f->cfg = cfg_demo();
    f->flow = f->cfg->flows[0];
    f->flow.type = FLOW_REPLAY;
    f->flow.fields[EP_FROM_SERVICE] = "source.service";
    f->flow.fields[EP_TO_SERVICE] = "destination.service";
    f->flow.path = f->dir;
    buf_init(&f->rows, 1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    cfg_free(f->cfg);
    buf_free(&f->rows);
    free(f);
    return 0;
}

/* Writes refresh/page: the request, and the answer unless status is 0. */
static void put_page(fixture *f, const char *refresh, int page, int status, const char *body) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, refresh);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%04d.request.json", f->dir, refresh, page);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs("{\"method\":\"POST\",\"path\":\"/x/_search\",\"body\":{}}\n", out);
    fclose(out);
    if (!status) return;
    snprintf(path, sizeof path, "%s/%s/%04d.response.json", f->dir, refresh, page);
    out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "HTTP %d\n%s", status, body);
    fclose(out);
}

static int keep_row(void *ctx, const raw_row *row) {
    buf *b = ctx;
    buf_printf(b, "%s>%s %g/%g/%g;", row->value[EP_FROM_SERVICE] ? row->value[EP_FROM_SERVICE] : "-",
               row->value[EP_TO_SERVICE] ? row->value[EP_TO_SERVICE] : "-", row->count[CLASS_NORMAL],
               row->count[CLASS_WARNING], row->count[CLASS_DANGER]);
    return 0;
}

static const char *collect(fixture *f, source *s, int expect_rc, char *err) {
    buf_reset(&f->rows);
    assert_int_equal(source_replay_ops.collect(s, 0, 1, keep_row, &f->rows, err), expect_rc);
    return buf_cstr(&f->rows);
}

static void test_refreshes_in_order_then_repeat(void **state) {
    fixture *f = *state;
    put_page(f, "000002", 1, 200, PAGE(BUCKET("c", "d", 2, 0, 0)));
    put_page(f, "000002", 2, 200, LAST_PAGE);
    put_page(f, "000001", 2, 200, PAGE(BUCKET("b", "c", 3, 1, 1)));
    put_page(f, "000001", 1, 200, PAGE(BUCKET("a", "b", 5, 0, 1)));
    put_page(f, "000001", 3, 200, LAST_PAGE);
    put_page(f, "notes", 1, 200, LAST_PAGE); /* not a refresh: ignored */
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    assert_string_equal(collect(f, s, 0, err), "a>b 4/0/1;b>c 1/1/1;");
    assert_string_equal(collect(f, s, 0, err), "c>d 2/0/0;");
    assert_string_equal(collect(f, s, 0, err), "c>d 2/0/0;");
    assert_null(source_replay_ops.degraded(s));
    source_stats st;
    source_replay_ops.stats(s, &st);
    assert_int_equal(st.events, 4);
    source_replay_ops.close(s);
}

/* Numbers past their padding still sort by value. */
static void test_numeric_order(void **state) {
    fixture *f = *state;
    put_page(f, "1000000", 1, 200, PAGE(BUCKET("late", "x", 1, 0, 0)));
    put_page(f, "999999", 1, 200, PAGE(BUCKET("early", "x", 1, 0, 0)));
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    assert_string_equal(collect(f, s, 0, err), "early>x 1/0/0;");
    assert_string_equal(collect(f, s, 0, err), "late>x 1/0/0;");
    source_replay_ops.close(s);
}

static void test_too_many_buckets_page_is_skipped(void **state) {
    fixture *f = *state;
    put_page(f, "000001", 1, 503,
             "{\"error\":{\"root_cause\":[],\"type\":\"search_phase_execution_exception\",\"reason\":\"\","
             "\"caused_by\":{\"type\":\"too_many_buckets_exception\",\"reason\":\"Trying to create too many "
             "buckets.\",\"max_buckets\":300}},\"status\":503}");
    put_page(f, "000001", 2, 200, PAGE(BUCKET("a", "b", 1, 0, 0)));
    put_page(f, "000001", 3, 200, LAST_PAGE);
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    assert_string_equal(collect(f, s, 0, err), "a>b 1/0/0;");
    source_replay_ops.close(s);
}

static void test_partial_answer_is_degraded(void **state) {
    fixture *f = *state;
    put_page(f, "000001", 1, 200,
             "{\"took\":1,\"timed_out\":true,\"_shards\":{\"total\":4,\"successful\":4,\"skipped\":0,\"failed\":0},"
             "\"aggregations\":{\"edges\":{\"buckets\":[]}}}");
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    collect(f, s, 0, err);
    assert_non_null(source_replay_ops.degraded(s));
    assert_string_equal(source_replay_ops.degraded(s), "timed out: partial results");
    source_replay_ops.close(s);
}

static void test_recorded_failures_fail(void **state) {
    fixture *f = *state;
    put_page(f, "000001", 1, 200, PAGE(BUCKET("a", "b", 1, 0, 0)));
    put_page(f, "000001", 2, 0, NULL); /* the live request got no answer */
    put_page(f, "000002", 1, 401,
             "{\"error\":{\"type\":\"security_exception\",\"reason\":\"unable to authenticate user "
             "[elastic]\"},\"status\":401}");
    put_page(f, "000003", 1, 502, "<html><body><h1>502 Bad Gateway</h1></body></html>");
    put_page(f, "000004", 1, 200, "{\"took\":1,\"aggregations\":{\"edges\":{\"buck");
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    collect(f, s, -1, err);
    assert_non_null(strstr(err, "0002.request.json got no answer"));
    collect(f, s, -1, err);
    assert_non_null(strstr(err, "401 security_exception: unable to authenticate user [elastic]"));
    collect(f, s, -1, err);
    assert_non_null(strstr(err, "not JSON"));
    collect(f, s, -1, err);
    assert_non_null(strstr(err, "000004/0001.response.json"));
    source_replay_ops.close(s);
}

static void test_bad_response_file(void **state) {
    fixture *f = *state;
    char path[256];
    put_page(f, "000001", 1, 0, NULL);
    snprintf(path, sizeof path, "%s/000001/0001.response.json", f->dir);
    FILE *out = fopen(path, "w");
    fputs("{\"took\":1}", out);
    fclose(out);
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    collect(f, s, -1, err);
    assert_non_null(strstr(err, "HTTP <status>"));
    source_replay_ops.close(s);
}

static void test_open_errors_name_the_directory(void **state) {
    fixture *f = *state;
    char path[256], err[ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/missing", f->dir);
    f->flow.path = path;
    assert_null(source_replay_ops.open(&f->flow, f->cfg, err));
    assert_non_null(strstr(err, path));
    snprintf(path, sizeof path, "%s/empty", f->dir);
    mkdir(path, 0755);
    assert_null(source_replay_ops.open(&f->flow, f->cfg, err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "no recorded refresh"));
    /* A refresh directory without pages opens, and fails when replayed. */
    snprintf(path, sizeof path, "%s/empty/000001", f->dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/empty", f->dir);
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    collect(f, s, -1, err);
    assert_non_null(strstr(err, "no recorded page"));
    source_replay_ops.close(s);
}

/* A refresh recorded for [start, end): its first request's body holds the
 * range filter as es_query.c writes it (another filter after it, which must
 * not be taken for the window). */
static void put_window(fixture *f, const char *refresh, long long start, long long end, const char *bucket) {
    put_page(f, refresh, 1, 200, PAGE(BUCKET("z", "z", 1, 0, 0)));
    char path[256];
    snprintf(path, sizeof path, "%s/%s/0001.request.json", f->dir, refresh);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out,
            "{\"method\":\"POST\",\"path\":\"/x/_search\",\"body\":{\"size\":0,\"query\":{\"bool\":{\"filter\":["
            "{\"range\":{\"@timestamp\":{\"gte\":%lld,\"lt\":%lld,\"format\":\"epoch_millis\"}}},"
            "{\"range\":{\"other\":{\"gte\":1,\"lt\":2}}}]}},\"aggs\":{}}}\n",
            start, end);
    fclose(out);
    snprintf(path, sizeof path, "%s/%s/0001.response.json", f->dir, refresh);
    out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "HTTP 200\n%s", bucket);
    fclose(out);
}

static const char *collect_window(fixture *f, source *s, int64_t start, int64_t end, int expect_rc, char *err) {
    buf_reset(&f->rows);
    err[0] = '\0';
    assert_int_equal(source_replay_ops.collect(s, start, end, keep_row, &f->rows, err), expect_rc);
    return buf_cstr(&f->rows);
}

/* A recorded window is answered by its refresh, in any order and again; a
 * window before, between or inside the recorded ones is an error naming it;
 * windows after the last recorded one are the live replay: the refreshes in
 * turn, and an earlier window after that (a baseline's) is an error too. */
static void test_windows_answer_their_refresh(void **state) {
    fixture *f = *state;
    put_window(f, "000001", 1000, 2000, PAGE(BUCKET("first", "x", 1, 0, 0)));
    put_window(f, "000002", 2000, 3000, PAGE(BUCKET("second", "x", 2, 0, 0)));
    put_window(f, "000003", 3000, 4000, PAGE(BUCKET("third", "x", 3, 0, 0)));
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    assert_string_equal(collect_window(f, s, 2000, 3000, 0, err), "second>x 2/0/0;");
    assert_string_equal(collect_window(f, s, 1000, 2000, 0, err), "first>x 1/0/0;");
    assert_string_equal(collect_window(f, s, 2000, 3000, 0, err), "second>x 2/0/0;");
    assert_string_equal(collect_window(f, s, 3000, 4000, 0, err), "third>x 3/0/0;");
    /* Not recorded: before, between (another start), inside. */
    assert_string_equal(collect_window(f, s, 0, 1000, -1, err), "");
    assert_non_null(strstr(err, "the window 1970-01-01T00:00:00.000Z to 1970-01-01T00:00:01.000Z was not recorded in"));
    assert_non_null(strstr(err, "3 refreshes, windows ending 1970-01-01T00:00:02.000Z to 1970-01-01T00:00:04.000Z"));
    collect_window(f, s, 1500, 2500, -1, err);
    assert_non_null(strstr(err, "was not recorded"));
    collect_window(f, s, 2500, 4000, -1, err);
    assert_non_null(strstr(err, "was not recorded"));
    /* After the recording: the live replay, in turn, the last repeated. */
    assert_string_equal(collect_window(f, s, 9000, 10000, 0, err), "first>x 1/0/0;");
    assert_string_equal(collect_window(f, s, 10000, 11000, 0, err), "second>x 2/0/0;");
    assert_string_equal(collect_window(f, s, 10000, 11000, 0, err), "third>x 3/0/0;");
    assert_string_equal(collect_window(f, s, 11000, 12000, 0, err), "third>x 3/0/0;");
    collect_window(f, s, 5000, 6000, -1, err); /* a baseline's: earlier than the live replay has reached */
    assert_non_null(strstr(err, "has reached a later window"));
    assert_string_equal(collect_window(f, s, 3000, 4000, 0, err), "third>x 3/0/0;"); /* a recorded one still is */
    source_replay_ops.close(s);
}

/* A window recorded twice (a recording continued by a second run): the
 * last one. */
static void test_window_recorded_twice_takes_the_last(void **state) {
    fixture *f = *state;
    put_window(f, "000001", 1000, 2000, PAGE(BUCKET("old", "x", 1, 0, 0)));
    put_window(f, "000002", 1000, 2000, PAGE(BUCKET("new", "x", 1, 0, 0)));
    char err[ERR_LEN] = "";
    source *s = source_replay_ops.open(&f->flow, f->cfg, err);
    assert_non_null(s);
    assert_string_equal(collect_window(f, s, 1000, 2000, 0, err), "new>x 1/0/0;");
    source_replay_ops.close(s);
}

#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(test_refreshes_in_order_then_repeat),
        TEST(test_numeric_order),
        TEST(test_too_many_buckets_page_is_skipped),
        TEST(test_partial_answer_is_degraded),
        TEST(test_recorded_failures_fail),
        TEST(test_bad_response_file),
        TEST(test_open_errors_name_the_directory),
        TEST(test_windows_answer_their_refresh),
        TEST(test_window_recorded_twice_takes_the_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
