/* Unit tests of the timeline (timeline.h): the grid its steps lie on, the
 * range it refuses, the step it picks when none is asked for, and, through
 * scripted sources (source.h's vtable), what it sums, drops and folds. Its
 * numbers are checked end to end by tests/scenario/test_timeline.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeline.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void align_rounds_down_also_before_1970(void **state) {
    assert_int_equal(util_align_ms(0, 60000), 0);
    assert_int_equal(util_align_ms(59999, 60000), 0);
    assert_int_equal(util_align_ms(60000, 60000), 60000);
    assert_int_equal(util_align_ms(-1, 60000), -60000);
    assert_int_equal(util_align_ms(-60000, 60000), -60000);
    assert_int_equal(util_align_ms(-60001, 60000), -120000);
    assert_int_equal(util_align_ms(1767225612345LL, 10000), 1767225610000LL);
}

static void range_is_whole_steps(void **state) {
    char err[ERR_LEN];
    int64_t from = 1767225612345LL, to = 1767229212345LL; /* an hour, not on the grid */
    size_t points;
    assert_int_equal(timeline_range(&from, &to, 300000, &points, err), 0);
    assert_int_equal(from, 1767225600000LL);
    assert_int_equal(to, 1767229200000LL); /* the step begun at `to` is left out */
    assert_int_equal(points, 12);
}

static void range_refusals(void **state) {
    char err[ERR_LEN];
    size_t points = 7;
    int64_t from = 0, to = (int64_t)VIZ_MAX_TIMELINE_POINTS * 60000;
    assert_int_equal(timeline_range(&from, &to, 60000, &points, err), 0);
    assert_int_equal(points, VIZ_MAX_TIMELINE_POINTS);
    from = 0, to = ((int64_t)VIZ_MAX_TIMELINE_POINTS + 1) * 60000;
    assert_int_equal(timeline_range(&from, &to, 60000, &points, err), -1);
    assert_non_null(strstr(err, "at most 1440"));
    assert_int_equal(from, 0); /* untouched on error */
    from = 60000, to = 119999;
    assert_int_equal(timeline_range(&from, &to, 60000, &points, err), -1);
    assert_non_null(strstr(err, "no whole step"));
    from = 120000, to = 60000;
    assert_int_equal(timeline_range(&from, &to, 60000, &points, err), -1);
    assert_int_equal(timeline_range(&from, &to, 0, &points, err), -1);
    assert_int_equal(timeline_range(&from, &to, -5, &points, err), -1);
}

/* The default step: the interval while it fits, else the smallest multiple
 * of it that does, wherever the range starts. */
static void default_step(void **state) {
    char err[ERR_LEN];
    assert_int_equal(timeline_default_step(0, 6 * 3600000LL, 60000), 60000);
    assert_int_equal(timeline_default_step(0, 6 * 3600000LL, 10000), 20000);  /* 15s is no multiple of 10s */
    assert_int_equal(timeline_default_step(0, 24 * 3600000LL, 60000), 60000); /* a day of minutes fits */
    assert_int_equal(timeline_default_step(0, 24 * 3600000LL + 1, 60000), 120000);
    assert_int_equal(timeline_default_step(5, 5, 10000), 10000);
    for (int64_t from = 1767225600000LL; from < 1767225600000LL + 100000; from += 7919) {
        for (int64_t span = 1000; span < 40LL * 86400000; span = span * 3 + 17) {
            int64_t step = timeline_default_step(from, from + span, 10000), f = from, t = from + span;
            size_t points;
            assert_int_equal(step % 10000, 0);
            int rc = timeline_range(&f, &t, step, &points, err);
            /* Either the span holds no whole step, or it fits the limit. */
            if (rc < 0) assert_non_null(strstr(err, "no whole step"));
        }
    }
}

/* ---- timeline_json through scripted sources ---------------------------- */

#define NFLOWS 2
static enum { EMIT_ROWS, EMIT_MANY_REGIONS, FAIL } script[NFLOWS];
static bool no_timeline_op;

static const source_ops scripted_ops, scripted_ops_without;

typedef struct {
    source base; /* first, as in every source (source.h) */
    int index;
} scripted_source;

static source *scripted_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    scripted_source *s = calloc(1, sizeof *s);
    s->index = (int)(flow - cfg->flows);
    s->base.ops = no_timeline_op && s->index == 1 ? &scripted_ops_without : &scripted_ops;
    return &s->base;
}

static int scripted_collect(source *src, int64_t start, int64_t end, row_emit_fn emit, void *ctx, char *err) {
    return 0;
}

static void scripted_close(source *src) {
    free(src);
}

static int row(step_emit_fn emit, void *ctx, int64_t t, const char *service, const char *region, double normal,
               double warning, double danger) {
    raw_row r = {0};
    r.value[EP_TO_SERVICE] = service;
    r.value[EP_TO_REGION] = region;
    r.value[EP_FROM_SERVICE] = "caller"; /* never decides where a call counts */
    r.count[CLASS_NORMAL] = normal, r.count[CLASS_WARNING] = warning, r.count[CLASS_DANGER] = danger;
    return emit(ctx, t, &r);
}

static int scripted_timeline(source *src, int64_t from, int64_t to, int64_t step, step_emit_fn emit, void *ctx,
                             char *err) {
    switch (script[((scripted_source *)src)->index]) {
    case FAIL:
        return util_fail(err, "scripted timeline failure");
    case EMIT_MANY_REGIONS:
        for (int i = 0; i < VIZ_MAX_TIMELINE_SERIES + 5; i++) {
            char name[16];
            snprintf(name, sizeof name, "r%04d", i);
            row(emit, ctx, from, "svc", name, 1, 0, 0);
        }
        return 0;
    case EMIT_ROWS:
        /* Two steps from `from`: eu gets 60 + 30 calls (6 warning, 3 danger), us 30; a row
         * without a callee, one before and one after the range count nothing. */
        row(emit, ctx, from, "web", "eu", 54, 3, 3);
        row(emit, ctx, from, "api", "eu", 30, 0, 0);
        row(emit, ctx, from + step, "web", "us", 30, 0, 0);
        row(emit, ctx, from, NULL, "eu", 1000, 0, 0);
        row(emit, ctx, from - step, "web", "eu", 1000, 0, 0);
        row(emit, ctx, to, "web", "eu", 1000, 0, 0);
        return 0;
    }
    return 0;
}

static const source_ops scripted_ops = {.type = "scripted",
                                        .open = scripted_open,
                                        .collect = scripted_collect,
                                        .close = scripted_close,
                                        .timeline = scripted_timeline};
static const source_ops scripted_ops_without = {
    .type = "scripted", .open = scripted_open, .collect = scripted_collect, .close = scripted_close};

static const source_ops *lookup(const flow_config *flow) {
    return &scripted_ops;
}

static vizfeed_config *make_config(void) {
    vizfeed_config *c = calloc(1, sizeof *c);
    c->path = strdup("test.yml");
    c->window_ms = 60000;
    c->interval_ms = 10000;
    c->graph = (graph_config){.name = strdup("edge"),
                              .entry = strdup("INTERNET"),
                              .default_region = strdup("default"),
                              .max_services = 100,
                              .notice_link = strdup("")};
    c->nflows = NFLOWS;
    c->flows = calloc(NFLOWS, sizeof *c->flows);
    for (int i = 0; i < NFLOWS; i++) c->flows[i].name = strdup(i ? "beta" : "alpha");
    return c;
}

static void free_config(vizfeed_config *c) {
    for (size_t i = 0; i < c->nflows; i++) free(c->flows[i].name);
    free(c->flows);
    free(c->graph.name), free(c->graph.entry), free(c->graph.default_region), free(c->graph.notice_link);
    free(c->path);
    free(c);
}

static char *timeline_of(int64_t from, int64_t to, int64_t step, const char *region, char *err) {
    vizfeed_config *c = make_config();
    refresher *r = refresher_new(c, lookup, err);
    assert_non_null(r);
    size_t len = 0;
    char *json = timeline_json(r, from, to, step, region, &len, err);
    if (json) assert_int_equal(strlen(json), len);
    refresher_free(r);
    free_config(c);
    return json;
}

/* Flows add up per step and region; rows outside the range or without a
 * callee count nothing; a region without traffic in a step shows 0. */
static void sums_per_step_and_region(void **state) {
    char err[ERR_LEN];
    script[0] = EMIT_ROWS, script[1] = EMIT_ROWS;
    no_timeline_op = false;
    char *json = timeline_of(600000, 720000, 60000, NULL, err);
    assert_non_null(json);
    assert_string_equal(json, "{\"step_ms\":60000,\"points\":["
                              "{\"t\":600000,\"rps\":3,\"error_share\":0.06667,\"regions\":{"
                              "\"eu\":{\"rps\":3,\"error_share\":0.06667},\"us\":{\"rps\":0,\"error_share\":0}}},"
                              "{\"t\":660000,\"rps\":1,\"error_share\":0,\"regions\":{"
                              "\"eu\":{\"rps\":0,\"error_share\":0},\"us\":{\"rps\":1,\"error_share\":0}}}]}");
    free(json);
    json = timeline_of(600000, 720000, 60000, "eu", err);
    assert_non_null(json);
    assert_string_equal(json, "{\"step_ms\":60000,\"points\":["
                              "{\"t\":600000,\"rps\":3,\"error_share\":0.06667,\"services\":{"
                              "\"api\":{\"rps\":1,\"error_share\":0},\"web\":{\"rps\":2,\"error_share\":0.1}}},"
                              "{\"t\":660000,\"rps\":0,\"error_share\":0,\"services\":{"
                              "\"api\":{\"rps\":0,\"error_share\":0},\"web\":{\"rps\":0,\"error_share\":0}}}]}");
    free(json);
}

/* Past VIZ_MAX_TIMELINE_SERIES names, the rest are summed as "other". */
static void folds_names_past_the_limit(void **state) {
    char err[ERR_LEN];
    script[0] = EMIT_MANY_REGIONS, script[1] = EMIT_ROWS;
    no_timeline_op = false;
    char *json = timeline_of(0, 1000, 1000, NULL, err);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"r0999\":{\"rps\":1,"));
    assert_null(strstr(json, "\"r1000\""));
    /* r1000..r1004, then eu and us of the second flow: 5 + 90 calls */
    assert_non_null(strstr(json, "\"other\":{\"rps\":95,"));
    assert_null(strstr(json, "\"r1004\""));
    assert_non_null(strstr(json, "\"rps\":1095,"));
    free(json);
}

static void a_failing_flow_fails_it(void **state) {
    char err[ERR_LEN];
    script[0] = EMIT_ROWS, script[1] = FAIL;
    no_timeline_op = false;
    assert_null(timeline_of(0, 60000, 60000, NULL, err));
    assert_string_equal(err, "flow 'beta': scripted timeline failure");
    script[1] = EMIT_ROWS;
    no_timeline_op = true;
    assert_null(timeline_of(0, 60000, 60000, NULL, err));
    assert_string_equal(err, "flow 'beta': scripted flows have no timeline");
    no_timeline_op = false;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(align_rounds_down_also_before_1970),
        cmocka_unit_test(range_is_whole_steps),
        cmocka_unit_test(range_refusals),
        cmocka_unit_test(default_step),
        cmocka_unit_test(sums_per_step_and_region),
        cmocka_unit_test(folds_names_past_the_limit),
        cmocka_unit_test(a_failing_flow_fails_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
