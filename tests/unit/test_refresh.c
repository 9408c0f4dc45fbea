/* Unit tests of the refresher: flows combine, a failing flow keeps its last
 * good part, goes stale after REFRESH_STALE_AFTER failures, and recovers. The
 * sources are scripted through the source vtable (no mocking framework). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "refresh.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define NFLOWS 2

/* What each scripted flow does on its next collect. */
static struct {
    bool fail;
    const char *degraded; /* what the degraded() hook reports after a collect */
    const char *service;
    const char *region;
    double count;
} script[NFLOWS];

typedef struct {
    source base; /* first, as in every source (source.h) */
    int index;
} scripted_source;

static const source_ops scripted_ops;

static source *scripted_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    scripted_source *s = calloc(1, sizeof *s);
    s->base.ops = &scripted_ops;
    s->index = (int)(flow - cfg->flows);
    return &s->base;
}

static int scripted_collect(source *src, int64_t start, int64_t end, row_emit_fn emit, void *ctx, char *err) {
    scripted_source *s = (scripted_source *)src;
    if (script[s->index].fail) {
        snprintf(err, ERR_LEN, "scripted failure of flow %d", s->index);
        return -1;
    }
    raw_row row = {0};
    row.value[EP_TO_SERVICE] = script[s->index].service;
    row.value[EP_TO_REGION] = script[s->index].region;
    row.count[CLASS_NORMAL] = script[s->index].count;
    return emit(ctx, &row);
}

static const char *scripted_degraded(const source *src) {
    return script[((const scripted_source *)src)->index].degraded;
}

static void scripted_close(source *src) {
    free(src);
}

static const source_ops scripted_ops = {.type = "scripted",
                                        .open = scripted_open,
                                        .collect = scripted_collect,
                                        .degraded = scripted_degraded,
                                        .close = scripted_close};

static const source_ops *lookup(const flow_config *flow) {
    return &scripted_ops;
}

static char *str(const char *s) {
    return strdup(s);
}

static vizfeed_config *make_config(void) {
    vizfeed_config *c = calloc(1, sizeof *c);
    c->path = str("test.yml");
    c->window_ms = 60000;
    c->interval_ms = 10000;
    c->graph = (graph_config){.name = str("edge"),
                              .entry = str("INTERNET"),
                              .default_region = str("default"),
                              .max_services = 100,
                              .warning = 0.03,
                              .danger = 0.1,
                              .min_rate = 0.1,
                              .notice_link = str("")};
    c->nflows = NFLOWS;
    c->flows = calloc(NFLOWS, sizeof *c->flows);
    const char *names[NFLOWS] = {"alpha-flow", "beta-flow"};
    for (int i = 0; i < NFLOWS; i++) {
        flow_config *f = &c->flows[i];
        f->name = str(names[i]);
        f->preset = str("");
        f->index = str("");
        f->path = str("");
        for (int e = 0; e < EP_COUNT; e++) f->fields[e] = str("");
        free(f->fields[EP_TO_SERVICE]);
        f->fields[EP_TO_SERVICE] = str("service.name");
        f->count_field = str("");
        f->timestamp_field = str("@timestamp");
        f->danger_label = str("errors");
        f->warning_label = str("warnings");
    }
    return c;
}

static void free_config(vizfeed_config *c) {
    for (size_t i = 0; i < c->nflows; i++) {
        flow_config *f = &c->flows[i];
        free(f->name), free(f->preset), free(f->index), free(f->path), free(f->count_field);
        free(f->timestamp_field), free(f->danger_label), free(f->warning_label);
        for (int e = 0; e < EP_COUNT; e++) free(f->fields[e]);
    }
    free(c->flows);
    free(c->graph.name), free(c->graph.entry), free(c->graph.default_region), free(c->graph.notice_link);
    free(c->path);
    free(c);
}

static void reset_script(void) {
    script[0].fail = script[1].fail = false;
    script[0].degraded = script[1].degraded = NULL;
    script[0].service = "alpha";
    script[1].service = "beta";
    script[0].region = script[1].region = "eu";
    script[0].count = 60;
    script[1].count = 120;
}

/* Runs one refresh and returns the JSON (caller frees) or NULL. */
static char *refresh(refresher *r, int64_t end, refresh_result *res, snapshot **keep) {
    char err[ERR_LEN];
    snapshot *s = refresher_run(r, end, res, err);
    if (!s) return NULL;
    char *json = strndup(s->json, s->json_len);
    if (keep)
        *keep = s;
    else
        snapshot_unref(s);
    return json;
}

static void flows_combine_into_one_graph(void **state) {
    reset_script();
    vizfeed_config *cfg = make_config();
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, lookup, err);
    assert_non_null(r);
    refresh_result res;
    char *json = refresh(r, 1767225660000LL, &res, NULL);
    assert_non_null(json);
    assert_int_equal(res.flows_ok, 2);
    assert_int_equal(res.flows_failed, 0);
    assert_non_null(strstr(json, "\"alpha\""));
    assert_non_null(strstr(json, "\"beta\""));
    assert_null(strstr(json, "stale"));
    free(json);
    refresher_free(r);
    free_config(cfg);
}

static void failing_flow_keeps_its_part_then_goes_stale_then_recovers(void **state) {
    reset_script();
    vizfeed_config *cfg = make_config();
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, lookup, err);
    refresh_result res;
    snapshot *first = NULL;
    free(refresh(r, 1767225660000LL, &res, &first));
    int64_t good_mono = first->refreshed_mono_ms;
    assert_true(good_mono > 0);
    snapshot_unref(first);

    script[1].fail = true;
    for (int i = 1; i <= REFRESH_STALE_AFTER; i++) {
        snapshot *s = NULL;
        char *json = refresh(r, 1767225660000LL + i * 10000, &res, &s);
        assert_non_null(json);
        assert_int_equal(res.flows_failed, 1);
        assert_null(res.flow_error[0]);
        assert_non_null(res.flow_error[1]);
        assert_non_null(strstr(res.flow_error[1], "scripted failure of flow 1"));
        assert_non_null(strstr(json, "\"beta\"")); /* carried over from the last good refresh */
        assert_int_equal(s->refreshed_mono_ms, good_mono);
        if (i < REFRESH_STALE_AFTER) {
            assert_null(strstr(json, "data stale since"));
            assert_int_equal(s->stale, 0);
        } else {
            assert_non_null(strstr(json, "data stale since 2026-01-01T00:01:10"));
            assert_non_null(strstr(json, "\"stale\":true"));
            assert_int_equal(s->stale, 1);
        }
        snapshot_unref(s);
        free(json);
    }

    script[1].fail = false;
    script[1].service = "beta2";
    char *json = refresh(r, 1767225660000LL + 50000, &res, NULL);
    assert_int_equal(res.flows_failed, 0);
    assert_null(strstr(json, "stale"));
    assert_non_null(strstr(json, "\"beta2\""));
    assert_null(strstr(json, "\"beta\""));
    free(json);
    refresher_free(r);
    free_config(cfg);
}

static void nothing_to_render_until_a_flow_answers(void **state) {
    reset_script();
    script[0].fail = script[1].fail = true;
    vizfeed_config *cfg = make_config();
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, lookup, err);
    refresh_result res;
    snapshot *s = refresher_run(r, 1767225660000LL, &res, err);
    assert_null(s);
    assert_int_equal(res.flows_failed, 2);
    assert_non_null(strstr(err, "no flow has answered yet"));
    script[0].fail = false;
    char *json = refresh(r, 1767225670000LL, &res, NULL);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"alpha\""));
    free(json);
    refresher_free(r);
    free_config(cfg);
}

static void partial_answers_are_noticed_on_their_regions(void **state) {
    reset_script();
    script[1].region = "us";
    script[1].degraded = "3 of 12 shards failed";
    vizfeed_config *cfg = make_config();
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, lookup, err);
    refresh_result res;
    char *json = refresh(r, 1767225660000LL, &res, NULL);
    assert_int_equal(res.flows_failed, 0);
    assert_non_null(strstr(json, "\"title\":\"partial data from beta-flow\",\"subtitle\":\"3 of 12 shards failed\""));
    char *us = strstr(json, "\"name\":\"us\"");
    assert_non_null(us);
    assert_non_null(strstr(us, "\"partial\":true"));
    char *eu_start = strstr(json, "\"name\":\"eu\"");
    assert_true(eu_start < us);
    assert_null(strstr(eu_start, "\"partial\":true") < us ? strstr(eu_start, "\"partial\":true") : NULL);
    free(json);
    script[1].degraded = NULL;
    json = refresh(r, 1767225670000LL, &res, NULL);
    assert_null(strstr(json, "partial"));
    free(json);
    refresher_free(r);
    free_config(cfg);
}

static void a_flow_that_never_answered_marks_every_region_stale(void **state) {
    reset_script();
    script[1].fail = true;
    script[1].region = "us";
    vizfeed_config *cfg = make_config();
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, lookup, err);
    refresh_result res;
    for (int i = 0; i < REFRESH_STALE_AFTER; i++) {
        char *json = refresh(r, 1767225660000LL + i * 10000, &res, NULL);
        assert_non_null(json);
        if (i < REFRESH_STALE_AFTER - 1)
            assert_null(strstr(json, "stale"));
        else /* alpha's region eu is marked, although alpha itself answers */
            assert_non_null(strstr(json, "\"name\":\"eu\""));
        if (i == REFRESH_STALE_AFTER - 1) assert_non_null(strstr(json, "\"stale\":true"));
        free(json);
    }
    refresher_free(r);
    free_config(cfg);
}

/* Sources that wait on the network (they have limit()): flow 0 hangs until
 * its deadline or a stop request, flow 1 answers at once. */
static source_limits hang_limits[NFLOWS];
static atomic_bool answered;            /* flow 1 has emitted its row */
static atomic_bool answered_before_cut; /* ... before flow 0 was cut */

static void waiting_limit(source *src, const source_limits *limits) {
    hang_limits[((scripted_source *)src)->index] = *limits;
}

static int waiting_collect(source *src, int64_t start, int64_t end, row_emit_fn emit, void *ctx, char *err) {
    scripted_source *s = (scripted_source *)src;
    source_limits *l = &hang_limits[s->index];
    if (s->index == 1) {
        int rc = scripted_collect(src, start, end, emit, ctx, err);
        atomic_store(&answered, true);
        return rc;
    }
    while (!(l->stop && atomic_load(l->stop)) && util_monotonic_ms() < l->deadline_ms) usleep(5000);
    atomic_store(&answered_before_cut, atomic_load(&answered));
    snprintf(err, ERR_LEN, "%s", l->stop && atomic_load(l->stop) ? "stopped" : "missed the deadline");
    return -1;
}

static const source_ops waiting_ops;

static source *waiting_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    source *src = scripted_open(flow, cfg, err);
    src->ops = &waiting_ops;
    return src;
}

static const source_ops waiting_ops = {.type = "waiting",
                                       .open = waiting_open,
                                       .collect = waiting_collect,
                                       .close = scripted_close,
                                       .limit = waiting_limit};

static const source_ops *waiting_lookup(const flow_config *flow) {
    return &waiting_ops;
}

/* Flows that wait run side by side: the one that hangs is cut at the
 * refresh's deadline while the other has answered (in turn, flow 1 would
 * only start once flow 0 was cut), and fails alone. */
static void waiting_flows_run_side_by_side_until_the_deadline(void **state) {
    reset_script();
    vizfeed_config *cfg = make_config();
    cfg->deadline_ms = 300;
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, waiting_lookup, err);
    assert_non_null(r);
    atomic_store(&answered, false);
    atomic_store(&answered_before_cut, false);
    refresh_result res;
    int64_t before = util_monotonic_ms();
    char *json = refresh(r, 1767225660000LL, &res, NULL);
    assert_non_null(json);
    assert_true(hang_limits[0].deadline_ms >= before + 300);
    assert_int_equal(hang_limits[0].deadline_ms, hang_limits[1].deadline_ms);
    assert_int_equal(hang_limits[0].budget_ms, 300);
    assert_true(atomic_load(&answered_before_cut));
    assert_int_equal(res.flows_ok, 1);
    assert_int_equal(res.flows_failed, 1);
    assert_string_equal(res.flow_error[0], "missed the deadline");
    assert_non_null(strstr(json, "\"beta\""));
    assert_false(res.stopped);
    free(json);
    refresher_free(r);
    free_config(cfg);
}

static void *stop_later(void *p) {
    usleep(100000);
    refresher_stop(p);
    return NULL;
}

/* refresher_stop() from another thread ends a refresh that would wait a
 * minute, without a snapshot. */
static void a_stop_request_ends_the_refresh(void **state) {
    reset_script();
    vizfeed_config *cfg = make_config();
    cfg->deadline_ms = 60000;
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, waiting_lookup, err);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, r), 0);
    refresh_result res;
    snapshot *snap = refresher_run(r, 1767225660000LL, &res, err);
    pthread_join(t, NULL);
    assert_null(snap);
    assert_true(res.stopped);
    assert_true(res.seconds < 30); /* not the minute of the deadline */
    refresher_free(r);
    free_config(cfg);
}

/* A source that tells windows apart: traffic now, and a third of it in any
 * window that ends more than a day before now (the baseline); it counts its
 * collects and can fail the baseline ones alone. */
#define B_NOW 1767225600000LL /* 2026-01-01T00:00:00Z, on the grid of 6 x 10 s */
#define B_DAY 86400000LL
static int baseline_collects, live_collects;
static bool fail_baseline;

static int windowed_collect(source *src, int64_t start, int64_t end, row_emit_fn emit, void *ctx, char *err) {
    bool baseline = end <= B_NOW - B_DAY + 10 * 60000;
    if (baseline) {
        baseline_collects++;
        assert_int_equal(end - start, 60000); /* as long as the window */
        assert_int_equal(end % 60000, 0);     /* on the grid of BASELINE_EVERY intervals */
        if (fail_baseline) {
            snprintf(err, ERR_LEN, "scripted baseline failure");
            return -1;
        }
    } else {
        live_collects++;
    }
    raw_row row = {0};
    row.value[EP_TO_SERVICE] = ((scripted_source *)src)->index ? "beta" : "alpha";
    row.value[EP_TO_REGION] = "eu";
    row.count[CLASS_NORMAL] = baseline ? 60 : 180;
    return emit(ctx, &row);
}

static const source_ops windowed_ops = {
    .type = "windowed", .open = scripted_open, .collect = windowed_collect, .close = scripted_close};

static const source_ops *windowed_lookup(const flow_config *flow) {
    return &windowed_ops;
}

/* graph.baseline: each flow's baseline window is collected once per
 * BASELINE_EVERY refreshes; a surge of 3x is marked; a failing baseline
 * fails no flow, publishes the graph without marks and is asked again. */
static void the_baseline_is_collected_once_per_grid_step(void **state) {
    vizfeed_config *cfg = make_config();
    cfg->graph.baseline_ms = B_DAY;
    cfg->graph.surge = 3;
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, windowed_lookup, err);
    assert_non_null(r);
    baseline_collects = live_collects = 0;
    fail_baseline = false;
    refresh_result res;
    for (int k = 0; k < 3 * BASELINE_EVERY; k++) {
        char *json = refresh(r, B_NOW + k * 10000, &res, NULL);
        assert_non_null(json);
        assert_null(res.baseline_error);
        assert_non_null(strstr(json, "\"change\":\"surge\""));
        assert_non_null(strstr(json, "\"baseline_rate\":1,"));
        free(json);
    }
    assert_int_equal(live_collects, 3 * BASELINE_EVERY * NFLOWS);
    assert_int_equal(baseline_collects, 3 * NFLOWS);

    fail_baseline = true;
    char *json = refresh(r, B_NOW + 3 * BASELINE_EVERY * 10000, &res, NULL);
    assert_non_null(json);
    assert_int_equal(res.flows_failed, 0);
    assert_non_null(res.baseline_error);
    assert_non_null(strstr(res.baseline_error, "scripted baseline failure"));
    assert_null(strstr(json, "\"change\""));
    assert_null(strstr(json, "baseline_rate"));
    assert_non_null(strstr(json, "\"baseline_error\":"));
    free(json);
    assert_int_equal(baseline_collects, 4 * NFLOWS);

    fail_baseline = false; /* same grid step: asked again, not cached as failed */
    json = refresh(r, B_NOW + (3 * BASELINE_EVERY + 1) * 10000, &res, NULL);
    assert_null(res.baseline_error);
    assert_non_null(strstr(json, "\"change\":\"surge\""));
    free(json);
    assert_int_equal(baseline_collects, 5 * NFLOWS);
    refresher_free(r);
    free_config(cfg);
}

static int64_t held_an_hour(const source *src) {
    return B_NOW - 3600000;
}

static const source_ops short_memory_ops = {.type = "short",
                                            .open = scripted_open,
                                            .collect = windowed_collect,
                                            .close = scripted_close,
                                            .held_from = held_an_hour};

static const source_ops *short_memory_lookup(const flow_config *flow) {
    return &short_memory_ops;
}

/* A source that holds only the last hour (a file flow past its event
 * limit): no baseline collect is made, the graph has no marks, the root
 * says why and the regions say their baseline window is older than the data. */
static void a_baseline_older_than_the_data_is_not_asked_for(void **state) {
    vizfeed_config *cfg = make_config();
    cfg->graph.baseline_ms = B_DAY;
    char err[ERR_LEN];
    refresher *r = refresher_new(cfg, short_memory_lookup, err);
    assert_non_null(r);
    baseline_collects = live_collects = 0;
    fail_baseline = false;
    refresh_result res;
    char *json = refresh(r, B_NOW, &res, NULL);
    assert_non_null(json);
    assert_int_equal(res.flows_failed, 0);
    assert_int_equal(baseline_collects, 0);
    assert_non_null(res.baseline_error);
    assert_non_null(strstr(res.baseline_error, "holds data only from 2025-12-31T23:00:00.000Z"));
    assert_null(strstr(json, "\"change\""));
    assert_non_null(strstr(json, "\"history\":\"the baseline window starts before the oldest data its flows hold\""));
    free(json);
    refresher_free(r);
    free_config(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flows_combine_into_one_graph),
        cmocka_unit_test(failing_flow_keeps_its_part_then_goes_stale_then_recovers),
        cmocka_unit_test(nothing_to_render_until_a_flow_answers),
        cmocka_unit_test(partial_answers_are_noticed_on_their_regions),
        cmocka_unit_test(a_flow_that_never_answered_marks_every_region_stale),
        cmocka_unit_test(waiting_flows_run_side_by_side_until_the_deadline),
        cmocka_unit_test(a_stop_request_ends_the_refresh),
        cmocka_unit_test(the_baseline_is_collected_once_per_grid_step),
        cmocka_unit_test(a_baseline_older_than_the_data_is_not_asked_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
