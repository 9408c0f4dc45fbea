/* Unit tests of source_es.c (and of replaying its recordings) against a
 * scripted loopback Elasticsearch: paging, page-size lowering, back-off,
 * one-line errors, partial answers, metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "config.h"
#include "metrics_internal.h"
#include "source.h"
#include "util.h"
#include "fake_http.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define T_END   1767225600000LL
#define T_START (T_END - 120000)

#define SHARDS_OK "\"_shards\":{\"total\":1,\"successful\":1,\"skipped\":0,\"failed\":0}"
#define BUCKET(from, to, n, w, d)                                                                                      \
    "{\"key\":{\"from_service\":\"" from "\",\"to_service\":\"" to "\"},\"doc_count\":" #n                             \
    ",\"warning\":{\"doc_count\":" #w "},\"danger\":{\"doc_count\":" #d "}}"
#define PAGE(after, buckets)                                                                                           \
    "{\"took\":3,\"timed_out\":false," SHARDS_OK ",\"hits\":{\"max_score\":null,\"hits\":[]},"                         \
    "\"aggregations\":{\"edges\":{\"after_key\":{\"from_service\":\"" after "\",\"to_service\":\"x\"},"                \
    "\"buckets\":[" buckets "]}}}"
#define LAST_PAGE "{\"took\":1,\"timed_out\":false," SHARDS_OK ",\"aggregations\":{\"edges\":{\"buckets\":[]}}}"

typedef struct {
    fake_server *server;
    char dir[64];
    char config[128];
    vizfeed_config *cfg;
    buf rows;
} fixture;

static int write_config(fixture *f, const char *host) {
    FILE *out = fopen(f->config, "w");
    if (!out) return -1;
    fprintf(out,
            "elasticsearch:\n"
            "  hosts: [\"%s\"]\n"
            "  username: elastic\n"
            "  password: secret-password\n"
            "  timeout: 5s\n"
            "  page_size: 1000\n"
            "flows:\n"
            "  - name: edge\n"
            "    type: elasticsearch\n"
            "    index: \"logs-*\"\n"
            "    from: { service: source.service }\n"
            "    to: { service: destination.service }\n"
            "    warning:\n"
            "      - { field: status, gte: 400, lt: 500 }\n"
            "    danger:\n"
            "      - { field: status, gte: 500 }\n",
            host);
    fclose(out);
    char err[ERR_LEN];
    cfg_free(f->cfg);
    f->cfg = cfg_load(f->config, err);
    if (!f->cfg) fprintf(stderr, "config: %s\n", err);
    return f->cfg ? 0 : -1;
}

static int setup(void **state) {
    metrics_reset();
    metrics_declare_all();
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vizfeed-es-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->config, sizeof f->config, "%s/vizfeed.yml", f->dir);
    f->server = fake_start();
    f->server->answer_root = true;
    if (!f->server) return -1;
    char url[64];
    fake_url(f->server, url, sizeof url);
    if (write_config(f, url) < 0) return -1;
    buf_init(&f->rows, 1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    fake_stop(f->server);
    cfg_free(f->cfg);
    buf_free(&f->rows);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

/* Rows as "from>to n/w/d;" in emit order. */
static int keep_row(void *ctx, const raw_row *row) {
    buf *b = ctx;
    buf_printf(b, "%s>%s %g/%g/%g;", row->value[EP_FROM_SERVICE] ? row->value[EP_FROM_SERVICE] : "-",
               row->value[EP_TO_SERVICE] ? row->value[EP_TO_SERVICE] : "-", row->count[CLASS_NORMAL],
               row->count[CLASS_WARNING], row->count[CLASS_DANGER]);
    return 0;
}

static double errors(const char *kind) {
    char labels[128];
    snprintf(labels, sizeof labels, "flow=\"edge\",kind=\"%s\"", kind);
    return metrics_get("vizfeed_es_errors_total", labels);
}

static source *open_es(fixture *f) {
    char err[ERR_LEN];
    source *s = source_es_ops.open(&f->cfg->flows[0], f->cfg, err);
    if (!s) fprintf(stderr, "open: %s\n", err);
    assert_non_null(s);
    return s;
}

static void test_nothing_sent_at_open(void **state) {
    fixture *f = *state;
    source *s = open_es(f);
    assert_int_equal(fake_count(f->server), 0);
    source_es_ops.close(s);
}

/* GET / is asked once, after the first search that worked, never while the
 * cluster fails; the answer names the product in a metric. */
static void test_cluster_detected_after_first_success(void **state) {
    fixture *f = *state;
    f->server->root_banner = "{\"version\":{\"distribution\":\"opensearch\",\"number\":\"2.11.0\"},"
                             "\"tagline\":\"The OpenSearch Project: https://opensearch.org/\"}";
    fake_push(f->server,
              (fake_answer){.status = 503, .body = "{\"error\":{\"type\":\"x\",\"reason\":\"y\"},\"status\":503}"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_int_equal(f->server->nroot, 0);
    source_es_ops.close(s);

    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    s = open_es(f);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_int_equal(f->server->nroot, 1);
    assert_true(metrics_get("vizfeed_es_cluster_info", "flow=\"edge\",product=\"opensearch\",major=\"2\"") == 1);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_int_equal(f->server->nroot, 1);
    source_es_ops.close(s);
}

static void test_three_pages(void **state) {
    fixture *f = *state;
    fake_push(f->server, (fake_answer){.status = 200,
                                       .body = PAGE("b", BUCKET("a", "b", 10, 2, 1) "," BUCKET("b", "c", 5, 0, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("c", BUCKET("c", "d", 4, 0, 4)), .gzip = true});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_string_equal(buf_cstr(&f->rows), "a>b 7/2/1;b>c 5/0/0;c>d 0/0/4;");
    assert_null(source_es_ops.degraded(s));
    assert_int_equal(fake_count(f->server), 3);
    fake_request *r = f->server->requests;
    assert_string_equal(r[0].method, "POST");
    assert_non_null(strstr(r[0].url, "/logs-*/_search"));
    assert_string_equal(r[0].opaque_id, "edge");
    assert_non_null(strstr(r[0].authorization, "Basic "));
    assert_null(strstr(r[0].body, "\"after\""));
    assert_non_null(strstr(r[1].body, "\"after\":{\"from_service\":\"b\",\"to_service\":\"x\"}"));
    assert_non_null(strstr(r[2].body, "\"after\":{\"from_service\":\"c\",\"to_service\":\"x\"}"));
    assert_non_null(strstr(r[0].body, "\"size\":1000"));
    source_stats st;
    source_es_ops.stats(s, &st);
    assert_int_equal(st.events, 3);
    assert_true(metrics_get("vizfeed_es_requests_total", "flow=\"edge\"") == 3);
    assert_true(metrics_get("vizfeed_es_response_bytes_total", "flow=\"edge\"") > 300);
    source_es_ops.close(s);
}

#define TOO_MANY                                                                                                       \
    "{\"error\":{\"root_cause\":[],\"type\":\"search_phase_execution_exception\",\"reason\":\"\",\"phase\":"           \
    "\"fetch\",\"grouped\":true,\"failed_shards\":[],\"caused_by\":{\"type\":\"too_many_buckets_exception\","          \
    "\"reason\":\"Trying to create too many buckets. Must be less than or equal to: [300] but this number of "         \
    "buckets was exceeded. This limit can be set by changing the [search.max_buckets] cluster level "                  \
    "setting.\",\"max_buckets\":300}},\"status\":503}"

static void test_too_many_buckets_lowers_the_page(void **state) {
    fixture *f = *state;
    fake_push(f->server, (fake_answer){.status = 503, .body = TOO_MANY});
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("b", BUCKET("a", "b", 1, 0, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_string_equal(buf_cstr(&f->rows), "a>b 1/0/0;");
    assert_int_equal(fake_count(f->server), 3);
    assert_non_null(strstr(f->server->requests[0].body, "\"size\":1000"));
    assert_non_null(strstr(f->server->requests[1].body, "\"size\":100"));
    assert_null(strstr(f->server->requests[1].body, "\"after\""));
    assert_true(errors("too_many_buckets") == 1);
    /* The lower size is kept for the next refresh. */
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_non_null(strstr(f->server->requests[3].body, "\"size\":100"));
    source_es_ops.close(s);
}

static void test_too_many_buckets_is_bounded(void **state) {
    fixture *f = *state;
    for (int i = 0; i < 12; i++)
        fake_push(f->server, (fake_answer){.status = 400,
                                           .body = "{\"error\":{\"type\":\"too_many_buckets_exception\",\"reason\":"
                                                   "\"Trying to create too many buckets.\"},\"status\":400}"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_int_equal(fake_count(f->server), 9); /* the first try and 8 lowerings */
    assert_non_null(strstr(err, "too_many_buckets"));
    source_es_ops.close(s);
}

static void test_rate_limited_backs_off(void **state) {
    fixture *f = *state;
    fake_push(f->server,
              (fake_answer){.status = 429,
                            .retry_after = "30",
                            .body = "{\"error\":{\"root_cause\":[{\"type\":\"circuit_breaking_exception\",\"reason\":"
                                    "\"[parent] Data too large\"}],\"type\":\"circuit_breaking_exception\",\"reason\":"
                                    "\"[parent] Data too large\",\"durability\":\"TRANSIENT\"},\"status\":429}"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "429 circuit_breaking_exception: [parent] Data too large"));
    assert_int_equal(fake_count(f->server), 1);
    assert_true(errors("rate_limited") == 1);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_int_equal(fake_count(f->server), 1);
    const char *until = strstr(err, "backing off until ");
    assert_non_null(until);
    assert_non_null(strstr(err, "after HTTP 429"));
    char stamp[40] = "";
    sscanf(until + strlen("backing off until "), "%39s", stamp);
    int64_t deadline = 0;
    assert_int_equal(util_parse_time_ms(stamp, &deadline, NULL), 0);
    int64_t seconds = (deadline - util_now_ms()) / 1000;
    assert_in_range(seconds, 28, 31); /* Retry-After beats the first 5s step */
    source_es_ops.close(s);
}

static void test_unauthorized_is_one_line(void **state) {
    fixture *f = *state;
    fake_push(f->server,
              (fake_answer){.status = 401,
                            .body = "{\"error\":{\"root_cause\":[{\"type\":\"security_exception\",\"reason\":"
                                    "\"unable to authenticate user [elastic] for REST request "
                                    "[/_search]\"}],\"type\":\"security_exception\",\"reason\":\"unable to "
                                    "authenticate user [elastic] for REST request "
                                    "[/_search]\"},\"status\":401}"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    char expect[256];
    snprintf(expect, sizeof expect,
             "http://127.0.0.1:%d answered 401 security_exception: unable to authenticate user "
             "[elastic]",
             f->server->port);
    assert_non_null(strstr(err, expect));
    assert_null(strchr(err, '\n'));
    assert_null(strstr(err, "secret-password"));
    assert_true(errors("unauthorized") == 1);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_int_equal(fake_count(f->server), 1);
    assert_non_null(strstr(err, "after HTTP 401"));
    source_es_ops.close(s);
}

static void test_not_found(void **state) {
    fixture *f = *state;
    fake_push(f->server,
              (fake_answer){.status = 404,
                            .body = "{\"error\":{\"root_cause\":[{\"type\":\"index_not_found_exception\",\"reason\":"
                                    "\"no such index [classes]\"}],\"type\":\"index_not_found_exception\",\"reason\":"
                                    "\"no such index [classes]\",\"index\":\"classes\"},\"status\":404}"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "404 index_not_found_exception: no such index [classes]"));
    assert_true(errors("not_found") == 1);
    source_es_ops.close(s);
}

static void test_partial_answer_is_degraded(void **state) {
    fixture *f = *state;
    fake_push(f->server,
              (fake_answer){
                  .status = 200,
                  .body = "{\"took\":87,\"timed_out\":true,\"_shards\":{\"total\":12,\"successful\":9,"
                          "\"skipped\":0,\"failed\":3,\"failures\":[{\"shard\":2,\"index\":\"i\",\"node\":"
                          "\"n\",\"reason\":{\"type\":\"illegal_argument_exception\",\"reason\":\"Text "
                          "fields are not optimised\"}}]},\"aggregations\":{\"edges\":{\"after_key\":{\"from_service\":"
                          "\"a\",\"to_service\":\"b\"},\"buckets\":[" BUCKET("a", "b", 3, 0, 0) "]}}}"});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_string_equal(buf_cstr(&f->rows), "a>b 3/0/0;");
    const char *why = source_es_ops.degraded(s);
    assert_non_null(why);
    assert_non_null(strstr(why, "timed out: partial results"));
    assert_non_null(strstr(why, "3 of 12 shards failed: "));
    assert_non_null(strstr(why, "Text fields are not optimised"));
    assert_true(errors("partial") >= 1);
    /* A whole answer next time clears it. */
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_null(source_es_ops.degraded(s));
    source_es_ops.close(s);
}

static void test_proxy_page(void **state) {
    fixture *f = *state;
    fake_push(f->server, (fake_answer){.status = 502,
                                       .body = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center>"
                                               "<h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n"
                                               "</body>\n</html>\n"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "not JSON"));
    assert_non_null(strstr(err, "\"502 Bad Gateway 502 Bad Gateway nginx\""));
    assert_true(errors("not_json") == 1);
    source_es_ops.close(s);
}

static void test_transport_failure(void **state) {
    fixture *f = *state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", fake_closed_port());
    assert_int_equal(write_config(f, url), 0);
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, url));
    assert_true(errors("connect") == 1);
    source_es_ops.close(s);
}

static void test_truncated_answer(void **state) {
    fixture *f = *state;
    fake_push(f->server, (fake_answer){.status = 200, .body = "{\"took\":1,\"aggregations\":{\"edges\":{\"buck"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_true(errors("truncated") == 1);
    source_es_ops.close(s);
}

/* What was recorded replays to the same rows, refresh by refresh, and the
 * last refresh repeats. */
/* A cluster or proxy whose after_key cycles A, B, A: the third page repeats
 * the first key and the paging stops there, not at the page limit; the same
 * key twice in a row (A, A) is caught the same way. */
static void test_cycling_after_key(void **state) {
    fixture *f = *state;
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("A", BUCKET("a", "b", 1, 0, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("B", BUCKET("a", "b", 1, 0, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("A", BUCKET("a", "b", 1, 0, 0))});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "an after_key it had already given in this refresh (page 3)"));
    assert_int_equal(fake_count(f->server), 3);
    assert_true(errors("unexpected") == 1);

    /* The keys seen belong to one collect: the next one may page through A
     * again. */
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("A", BUCKET("a", "b", 1, 0, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    buf_reset(&f->rows);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_string_equal(buf_cstr(&f->rows), "a>b 1/0/0;");
    source_es_ops.close(s);
}

/* A composite page holds at most the size asked for: one that holds more is
 * refused rather than counted. */
static void test_page_larger_than_asked(void **state) {
    fixture *f = *state;
    f->cfg->es.page_size = 1;
    fake_push(f->server,
              (fake_answer){.status = 200, .body = PAGE("b", BUCKET("a", "b", 1, 0, 0) "," BUCKET("b", "c", 1, 0, 0))});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "answered 2 buckets to a page of 1"));
    assert_true(errors("unexpected") == 1);
    source_es_ops.close(s);
}

/* The refresh's deadline cuts a page in flight (kind deadline, the request's
 * own 5 s timeout never reached), and a collect that starts past it sends
 * nothing. */
static void test_deadline_cuts_the_collect(void **state) {
    fixture *f = *state;
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE, .delay_ms = 6000});
    source *s = open_es(f);
    source_limits limits = {.deadline_ms = util_monotonic_ms() + 2000, .budget_ms = 2000};
    source_es_ops.limit(s, &limits);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "missed the refresh deadline (2s) at page 1"));
    assert_non_null(strstr(err, "no complete answer before the refresh deadline"));
    assert_true(errors("deadline") == 1);
    assert_true(errors("timeout") == 0);
    size_t sent = fake_count(f->server);
    /* curl's timer may end the first wait a millisecond before the deadline:
     * the second collect is made once the deadline has passed for sure. */
    while (util_monotonic_ms() <= limits.deadline_ms) usleep(1000);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "missed the refresh deadline (2s) at page 1"));
    assert_int_equal(fake_count(f->server), sent);
    assert_true(errors("deadline") == 2);
    source_es_ops.close(s);
}

typedef struct {
    atomic_bool *flag;
    int after_ms;
} later_arg;

static void *set_later(void *p) {
    later_arg *a = p;
    usleep((useconds_t)a->after_ms * 1000);
    atomic_store(a->flag, true);
    return NULL;
}

/* A stop request ends a collect waiting on a slow answer, well before the
 * answer or any timeout; it is not counted as an error. */
static void test_stop_ends_the_wait(void **state) {
    fixture *f = *state;
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE, .delay_ms = 2500});
    source *s = open_es(f);
    atomic_bool stop;
    atomic_init(&stop, false);
    source_limits limits = {.deadline_ms = util_monotonic_ms() + 60000, .budget_ms = 60000, .stop = &stop};
    source_es_ops.limit(s, &limits);
    later_arg arg = {&stop, 200};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, set_later, &arg), 0);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    pthread_join(t, NULL);
    assert_non_null(strstr(err, "stopped"));
    assert_true(errors("deadline") == 0 && errors("timeout") == 0 && errors("stopped") == 0);
    source_es_ops.close(s);
}

/* after_keys a cluster or proxy should never give: each would be sent back
 * as the next page's "after". Each ends the paging as kind unexpected. An
 * after_key that is an array or a scalar never reaches source_es (es_parse
 * drops it): a page with buckets and no after_key is refused instead of
 * being taken for the last one. */
static void test_after_key_of_the_wrong_shape(void **state) {
    fixture *f = *state;
    static const struct {
        const char *after_key, *says;
    } cases[] = {
        {"{\"from_service\":\"b\",\"to_service\":\"x\",\"from_host\":\"h\"}",
         "has a key the query has no source for: \"from_host\""},
        {"{\"from_service\":\"b\",\"to_service\":\"x\",\"evil\":1}", "has a key the query has no source for: \"evil\""},
        {"{\"from_service\":\"b\"}", "lacks the source \"to_service\""},
        {"{\"from_service\":{\"nested\":1},\"to_service\":\"x\"}",
         "has a value that is not a scalar at \"from_service\""},
        {"[\"b\",\"x\"]", "answered 1 buckets without an after_key object"},
        {"\"b\"", "answered 1 buckets without an after_key object"},
    };
    static char bodies[6][1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(bodies[i], sizeof bodies[i],
                 "{\"took\":1,\"timed_out\":false," SHARDS_OK
                 ",\"aggregations\":{\"edges\":{\"after_key\":%s,\"buckets\":[" BUCKET("a", "b", 1, 0, 0) "]}}}",
                 cases[i].after_key);
        fake_push(f->server, (fake_answer){.status = 200, .body = bodies[i]});
        source *s = open_es(f);
        char err[ERR_LEN] = "";
        int rc = source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err);
        if (rc != -1 || !strstr(err, cases[i].says)) print_error("%s: %d %s\n", cases[i].after_key, rc, err);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, cases[i].says));
        assert_true(errors("unexpected") == (double)(i + 1));
        source_es_ops.close(s);
    }
    assert_int_equal(fake_count(f->server), 6); /* none was sent back */
}

static void test_record_then_replay(void **state) {
    fixture *f = *state;
    char record[128];
    snprintf(record, sizeof record, "%s/rec", f->dir);
    free(f->cfg->record_dir);
    f->cfg->record_dir = xstrdup(record);
    fake_push(f->server, (fake_answer){.status = 503, .body = TOO_MANY});
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("b", BUCKET("a", "b", 10, 2, 1))});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE, .gzip = true});
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("q", BUCKET("p", "q", 6, 1, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    buf live2;
    buf_init(&live2, 1 << 20);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), 0);
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &live2, err), 0);
    source_es_ops.close(s);
    assert_string_equal(buf_cstr(&f->rows), "a>b 7/2/1;");
    assert_string_equal(buf_cstr(&live2), "p>q 5/1/0;");

    char path[256];
    snprintf(path, sizeof path, "%s/edge/000001/0001.request.json", record);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char text[4096] = "";
    size_t n = fread(text, 1, sizeof text - 1, in);
    text[n] = '\0';
    fclose(in);
    assert_non_null(strstr(text, "{\"method\":\"POST\",\"path\":\"/logs-*/_search"));
    assert_non_null(strstr(text, "\"body\":{\"size\":0"));
    assert_null(strstr(text, "secret-password"));
    snprintf(path, sizeof path, "%s/edge/000001/0003.response.json", record);
    in = fopen(path, "r");
    assert_non_null(in);
    n = fread(text, 1, sizeof text - 1, in);
    text[n] = '\0';
    fclose(in);
    assert_int_equal(strncmp(text, "HTTP 200\n{\"took\":1", 18), 0); /* decompressed */

    flow_config replay = f->cfg->flows[0];
    replay.type = FLOW_REPLAY;
    snprintf(path, sizeof path, "%s/edge", record);
    replay.path = path;
    source *r = source_replay_ops.open(&replay, f->cfg, err);
    assert_non_null(r);
    buf again;
    buf_init(&again, 1 << 20);
    /* Windows after the recorded one: the live replay, the refreshes in turn. */
    assert_int_equal(source_replay_ops.collect(r, T_END, T_END + 1, keep_row, &again, err), 0);
    assert_string_equal(buf_cstr(&again), buf_cstr(&f->rows));
    buf_reset(&again);
    assert_int_equal(source_replay_ops.collect(r, T_END, T_END + 1, keep_row, &again, err), 0);
    assert_string_equal(buf_cstr(&again), buf_cstr(&live2));
    buf_reset(&again);
    assert_int_equal(source_replay_ops.collect(r, T_END, T_END + 1, keep_row, &again, err), 0);
    assert_string_equal(buf_cstr(&again), buf_cstr(&live2));
    /* The recorded window (recorded twice): its last refresh. */
    buf_reset(&again);
    assert_int_equal(source_replay_ops.collect(r, T_START, T_END, keep_row, &again, err), 0);
    assert_string_equal(buf_cstr(&again), buf_cstr(&live2));
    source_stats st;
    source_replay_ops.stats(r, &st);
    assert_int_equal(st.events, 4); /* a bucket per refresh replayed */
    source_replay_ops.close(r);
    buf_free(&again);
    buf_free(&live2);
}

/* A recorded failure replays as a failure. */
static void test_replay_of_a_failure(void **state) {
    fixture *f = *state;
    char record[128];
    snprintf(record, sizeof record, "%s/rec", f->dir);
    free(f->cfg->record_dir);
    f->cfg->record_dir = xstrdup(record);
    fake_push(f->server, (fake_answer){.status = 403,
                                       .body = "{\"error\":{\"type\":\"security_exception\",\"reason\":\"action "
                                               "[indices:data/read/search] is unauthorized\"},\"status\":403}"});
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_true(errors("forbidden") == 1);
    source_es_ops.close(s);
    flow_config replay = f->cfg->flows[0];
    replay.type = FLOW_REPLAY;
    char path[256];
    snprintf(path, sizeof path, "%s/edge", record);
    replay.path = path;
    source *r = source_replay_ops.open(&replay, f->cfg, err);
    assert_non_null(r);
    assert_int_equal(source_replay_ops.collect(r, T_START, T_END, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "403 security_exception"));
    source_replay_ops.close(r);
}

static void test_replay_open_errors(void **state) {
    fixture *f = *state;
    flow_config replay = f->cfg->flows[0];
    replay.type = FLOW_REPLAY;
    char path[256];
    char err[ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/missing", f->dir);
    replay.path = path;
    assert_null(source_replay_ops.open(&replay, f->cfg, err));
    assert_non_null(strstr(err, path));
    snprintf(path, sizeof path, "%s/empty", f->dir);
    mkdir(path, 0755);
    assert_null(source_replay_ops.open(&replay, f->cfg, err));
    assert_non_null(strstr(err, path));
}

#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

/* ---- incremental windows ------------------------------------------------ */

/* The answer to a slice-count search: a bucket per slice, its documents. */
#define CBUCKET(slice, n) "{\"key\":{\"slice\":" #slice "},\"doc_count\":" #n "}"
#define CPAGE(buckets)                                                                                                 \
    "{\"took\":2,\"timed_out\":false," SHARDS_OK ",\"aggregations\":{\"edges\":{\"after_key\":{\"slice\":0},"          \
    "\"buckets\":[" buckets "]}}}"
#define PARTIAL_PAGE(after, buckets)                                                                                   \
    "{\"took\":3,\"timed_out\":true," SHARDS_OK                                                                        \
    ",\"aggregations\":{\"edges\":{\"after_key\":{\"from_service\":\"" after                                           \
    "\",\"to_service\":\"x\"},\"buckets\":[" buckets "]}}}"

static void collect_at(fixture *f, source *s, int64_t end, int64_t window, const char *want) {
    char err[ERR_LEN] = "";
    buf_reset(&f->rows);
    int rc = source_es_ops.collect(s, end - window, end, keep_row, &f->rows, err);
    if (rc != 0) fprintf(stderr, "collect: %s\n", err);
    assert_int_equal(rc, 0);
    assert_string_equal(buf_cstr(&f->rows), want);
}

/* The request asked for [gte, lt), and was a slice-count search or not. */
static void assert_range(const fake_request *r, int64_t gte, int64_t lt, bool counts) {
    char range[128];
    snprintf(range, sizeof range, "{\"gte\":%lld,\"lt\":%lld,", (long long)gte, (long long)lt);
    assert_non_null(strstr(r->body, range));
    assert_true((strstr(r->body, "\"date_histogram\"") != NULL) == counts);
}

static void push(fixture *f, const char *body) {
    fake_push(f->server, (fake_answer){.status = 200, .body = body});
}

/* The answer to a search of one page (and the empty page after it). */
static void search(fixture *f, const char *page) {
    push(f, page);
    push(f, LAST_PAGE);
}

/* The sequence of a live refresher (window 30s, interval 10s, settle 10s): a
 * full query first; then the ring fills from [end - settle - interval, end)
 * while full queries answer, until it holds the whole window; then
 * incremental steps: one slice-count search over [last end - settle, end),
 * then one search per slice that is new or whose count changed, a re-read
 * replacing what was held. A baseline window in between is one full query
 * and leaves the ring alone; a partial answer is shown once and the ring
 * fills again after it. No search ever asks for the whole window by
 * slices, and no slice that did not change is read twice. */
static void test_incremental_windows(void **state) {
    fixture *f = *state;
    f->cfg->window_ms = 30000;
    f->cfg->interval_ms = 10000;
    f->cfg->es.settle_ms = 10000;
    const int64_t e0 = 1767225600000LL, iv = 10000, w = 30000;
    /* e0: the first refresh, a full query */
    search(f, PAGE("b", BUCKET("a", "b", 10, 0, 0)));
    /* e0 + iv: slices e0 - iv and e0 counted, read into an empty ring, then a full query */
    search(f, CPAGE(CBUCKET(1767225590000, 3) "," CBUCKET(1767225600000, 1)));
    search(f, PAGE("b", BUCKET("a", "b", 3, 0, 0)));
    search(f, PAGE("d", BUCKET("c", "d", 1, 0, 0)));
    search(f, PAGE("b", BUCKET("a", "b", 9, 0, 0)));
    /* e0 + 2iv: slice e0 changed (1 -> 2 documents), e0 + iv is new; the ring holds the window */
    search(f, CPAGE(CBUCKET(1767225600000, 2) "," CBUCKET(1767225610000, 4)));
    search(f, PAGE("d", BUCKET("c", "d", 2, 0, 0)));
    search(f, PAGE("b", BUCKET("a", "b", 4, 0, 0)));
    /* a baseline window */
    search(f, PAGE("b", BUCKET("x", "y", 1, 0, 0)));
    /* e0 + 3iv: slice e0 + iv unchanged (not read), e0 + 2iv new, a partial answer */
    search(f, CPAGE(CBUCKET(1767225610000, 4) "," CBUCKET(1767225620000, 5)));
    search(f, PARTIAL_PAGE("b", BUCKET("a", "b", 5, 0, 0)));
    /* e0 + 4iv: the ring fills again: no documents (no slice search), a full query (nothing) */
    push(f, LAST_PAGE);
    push(f, LAST_PAGE);
    source *s = open_es(f);
    fake_request *r = f->server->requests;

    collect_at(f, s, e0, w, "a>b 10/0/0;"); /* the first: one full query */
    assert_range(&r[0], e0 - w, e0, false);

    collect_at(f, s, e0 + iv, w, "a>b 9/0/0;"); /* filling: the full query answers */
    assert_range(&r[2], e0 - iv, e0 + iv, true);
    assert_non_null(strstr(r[2].body, "\"fixed_interval\":\"10s\""));
    assert_range(&r[4], e0 - iv, e0, false);
    assert_range(&r[6], e0, e0 + iv, false);
    assert_range(&r[8], e0 + iv - w, e0 + iv, false);

    /* Slice e0 re-read (c>d 1 -> 2), e0 + iv new; the ring answers. */
    collect_at(f, s, e0 + 2 * iv, w, "a>b 7/0/0;c>d 2/0/0;");
    assert_range(&r[10], e0, e0 + 2 * iv, true);
    assert_range(&r[12], e0, e0 + iv, false);
    assert_range(&r[14], e0 + iv, e0 + 2 * iv, false);

    /* A baseline window: one full query, nothing sliced. */
    char err[ERR_LEN] = "";
    buf_reset(&f->rows);
    const int64_t day = 86400000;
    assert_int_equal(source_es_ops.collect(s, e0 + 2 * iv - day - w, e0 + 2 * iv - day, keep_row, &f->rows, err), 0);
    assert_string_equal(buf_cstr(&f->rows), "x>y 1/0/0;");
    assert_range(&r[16], e0 + 2 * iv - day - w, e0 + 2 * iv - day, false);

    /* The ring was left alone: the next step is incremental again (slice e0 - iv has left), and
     * slice e0 + iv, whose count did not change, is not read again. */
    collect_at(f, s, e0 + 3 * iv, w, "a>b 9/0/0;c>d 2/0/0;");
    assert_range(&r[18], e0 + iv, e0 + 3 * iv, true);
    assert_range(&r[20], e0 + 2 * iv, e0 + 3 * iv, false);
    assert_non_null(source_es_ops.degraded(s));

    /* After the partial answer the ring fills again, from a small range. */
    collect_at(f, s, e0 + 4 * iv, w, "");
    assert_range(&r[22], e0 + 2 * iv, e0 + 4 * iv, true);
    assert_range(&r[23], e0 + 4 * iv - w, e0 + 4 * iv, false);
    assert_int_equal(f->server->nrequests, 24);
    assert_true(metrics_get("vizfeed_es_queries_total", "flow=\"edge\",kind=\"incremental\"") == 4);
    assert_true(metrics_get("vizfeed_es_queries_total", "flow=\"edge\",kind=\"full\"") == 4);
    assert_true(metrics_get("vizfeed_es_slice_reads_total", "flow=\"edge\",reason=\"new\"") == 4);
    assert_true(metrics_get("vizfeed_es_slice_reads_total", "flow=\"edge\",reason=\"changed\"") == 1);
    assert_true(metrics_get("vizfeed_es_took_seconds_total", "flow=\"edge\"") > 0);
    source_es_ops.close(s);
}

/* A window that is not a whole number of intervals: every collect is one
 * full query. */
static void test_incremental_off(void **state) {
    fixture *f = *state;
    f->cfg->window_ms = 125000;
    f->cfg->interval_ms = 10000;
    for (int i = 0; i < 3; i++) {
        fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("b", BUCKET("a", "b", 1, 0, 0))});
        fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    }
    source *s = open_es(f);
    char err[ERR_LEN] = "";
    for (int i = 0; i < 3; i++)
        assert_int_equal(source_es_ops.collect(s, 1767225600000LL + i * 10000 - 125000, 1767225600000LL + i * 10000,
                                               keep_row, &f->rows, err),
                         0);
    for (int i = 0; i < 6; i++) assert_null(strstr(f->server->requests[i].body, "date_histogram"));
    source_es_ops.close(s);
}

/* An incremental search that fails (here an answer that is not JSON) fails
 * the refresh; the next step forward fills the ring again from a small range
 * while a full query answers: never the whole window by slices. */
static void test_failed_incremental_fills_again(void **state) {
    fixture *f = *state;
    f->cfg->window_ms = 120000;
    f->cfg->interval_ms = 10000;
    f->cfg->es.settle_ms = 10000;
    const int64_t e0 = 1767225600000LL, iv = 10000;
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("b", BUCKET("a", "b", 10, 0, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    fake_push(f->server, (fake_answer){.status = 200, .body = "<html>busy</html>"});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    fake_push(f->server, (fake_answer){.status = 200, .body = PAGE("b", BUCKET("a", "b", 11, 0, 0))});
    fake_push(f->server, (fake_answer){.status = 200, .body = LAST_PAGE});
    source *s = open_es(f);
    fake_request *r = f->server->requests;
    collect_at(f, s, e0, 120000, "a>b 10/0/0;");
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, e0 + iv - 120000, e0 + iv, keep_row, &f->rows, err), -1);
    assert_range(&r[2], e0 + iv - 2 * iv, e0 + iv, true);
    collect_at(f, s, e0 + 2 * iv, 120000, "a>b 11/0/0;");
    assert_range(&r[3], e0, e0 + 2 * iv, true);
    assert_range(&r[4], e0 + 2 * iv - 120000, e0 + 2 * iv, false);
    source_es_ops.close(s);
}

/* A cluster that answers the slice-count search with a slice it was not
 * asked for (outside the range, or off the grid) fails the refresh as an
 * unexpected answer; no slice is read on its word. */
static void test_slice_count_not_asked_for(void **state) {
    fixture *f = *state;
    f->cfg->window_ms = 30000;
    f->cfg->interval_ms = 10000;
    f->cfg->es.settle_ms = 10000;
    const int64_t e0 = 1767225600000LL, iv = 10000;
    search(f, PAGE("b", BUCKET("a", "b", 10, 0, 0)));
    push(f, CPAGE(CBUCKET(1767225000000, 3))); /* the page is refused: no second page asked */
    push(f, CPAGE(CBUCKET(1767225605000, 3)));
    source *s = open_es(f);
    collect_at(f, s, e0, 30000, "a>b 10/0/0;");
    char err[ERR_LEN] = "";
    assert_int_equal(source_es_ops.collect(s, e0 + iv - 30000, e0 + iv, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "a slice count that was not asked for"));
    assert_int_equal(source_es_ops.collect(s, e0 + 2 * iv - 30000, e0 + 2 * iv, keep_row, &f->rows, err), -1);
    assert_non_null(strstr(err, "a slice count that was not asked for"));
    assert_true(errors("unexpected") == 2);
    assert_int_equal(f->server->nrequests, 4); /* the full query's two pages, a slice-count page twice */
    source_es_ops.close(s);
}

int main(void) {
    /* A proxy from the environment would take loopback requests elsewhere. */
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("ALL_PROXY");
    unsetenv("all_proxy");
    const struct CMUnitTest tests[] = {
        TEST(test_nothing_sent_at_open),
        TEST(test_cluster_detected_after_first_success),
        TEST(test_three_pages),
        TEST(test_too_many_buckets_lowers_the_page),
        TEST(test_too_many_buckets_is_bounded),
        TEST(test_rate_limited_backs_off),
        TEST(test_unauthorized_is_one_line),
        TEST(test_not_found),
        TEST(test_partial_answer_is_degraded),
        TEST(test_proxy_page),
        TEST(test_transport_failure),
        TEST(test_truncated_answer),
        TEST(test_cycling_after_key),
        TEST(test_page_larger_than_asked),
        TEST(test_after_key_of_the_wrong_shape),
        TEST(test_deadline_cuts_the_collect),
        TEST(test_stop_ends_the_wait),
        TEST(test_record_then_replay),
        TEST(test_replay_of_a_failure),
        TEST(test_replay_open_errors),
        TEST(test_incremental_windows),
        TEST(test_incremental_off),
        TEST(test_failed_incremental_fills_again),
        TEST(test_slice_count_not_asked_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
