/* Unit tests of the history pool (history.h): windows on the grid, one
 * computation per window however many ask, the cache, the bound on queued
 * jobs, failures that are not cached, and a stop that answers every waiting
 * request. The flows are scripted through the source vtable; a gate holds
 * their collects so that jobs stay in progress as long as a test needs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "history.h"
#include "metrics.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z, on every grid */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open = true;
static atomic_int collects, in_collect;
static atomic_bool fail_next, degraded;

typedef struct {
    source base;
} scripted_source;

static const source_ops scripted_ops;

static source *scripted_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    scripted_source *s = calloc(1, sizeof *s);
    s->base.ops = &scripted_ops;
    return &s->base;
}

static int scripted_collect(source *src, int64_t start, int64_t end, row_emit_fn emit, void *ctx, char *err) {
    atomic_fetch_add(&in_collect, 1);
    pthread_mutex_lock(&gate_lock);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_add(&collects, 1);
    atomic_fetch_sub(&in_collect, 1);
    if (atomic_exchange(&fail_next, false)) {
        snprintf(err, ERR_LEN, "scripted failure");
        return -1;
    }
    raw_row row = {0};
    row.value[EP_FROM_SERVICE] = "web";
    row.value[EP_TO_SERVICE] = "api";
    row.count[CLASS_NORMAL] = 120;
    return emit(ctx, &row);
}

static const char *scripted_degraded(const source *src) {
    return atomic_load(&degraded) ? "3 of 12 shards failed" : NULL;
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

static void set_gate(bool open) {
    pthread_mutex_lock(&gate_lock);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* What a callback received. */
typedef struct {
    pthread_mutex_t lock;
    int calls;
    history_result res;
} answer;

static void on_done(void *ctx, history_result *res) {
    answer *a = ctx;
    pthread_mutex_lock(&a->lock);
    a->calls++;
    if (a->calls == 1)
        a->res = *res;
    else
        snapshot_unref(res->snap);
    pthread_mutex_unlock(&a->lock);
}

static int calls_of(answer *a) {
    pthread_mutex_lock(&a->lock);
    int n = a->calls;
    pthread_mutex_unlock(&a->lock);
    return n;
}

static void wait_calls(answer *a, int n) {
    for (int i = 0; i < 20000 && calls_of(a) < n; i++) usleep(1000);
    assert_int_equal(calls_of(a), n);
}

static void wait_in_collect(int n) {
    for (int i = 0; i < 20000 && atomic_load(&in_collect) < n; i++) usleep(1000);
    assert_int_equal(atomic_load(&in_collect), n);
}

static history *new_pool(void) {
    char err[ERR_LEN];
    history *h = history_new(lookup, err);
    assert_non_null(h);
    vizfeed_config *cfg = cfg_demo(); /* interval 10s; its one flow is scripted by lookup */
    cfg->lag_ms = 0;
    /* The baseline's collect (graph.baseline, test_baseline.py) would count
     * here too: these tests count the window's own. */
    cfg->graph.baseline_ms = 0;
    history_configure(h, cfg);
    return h;
}

static int setup(void **state) {
    set_gate(true);
    atomic_store(&collects, 0);
    atomic_store(&in_collect, 0);
    atomic_store(&fail_next, false);
    atomic_store(&degraded, false);
    return 0;
}

static void has_window_end(const snapshot *s, int64_t end) {
    char want[64];
    snprintf(want, sizeof want, "\"updated\":%lld,", (long long)end);
    assert_non_null(strstr(s->json, want));
    assert_int_equal(s->window_end_ms, end);
}

static void a_window_is_computed_once_and_then_cached(void **state) {
    history *h = new_pool();
    char err[ERR_LEN];
    int64_t retry = 0, now = T0 + 3600000;
    history_result res;
    answer a = {.lock = PTHREAD_MUTEX_INITIALIZER};
    /* Off the grid: rounded down to the 10 s interval. */
    assert_int_equal(history_graph(h, T0 + 7345, now, on_done, &a, &res, &retry, err), HISTORY_PENDING);
    wait_calls(&a, 1);
    assert_int_equal(a.res.status, HISTORY_OK);
    has_window_end(a.res.snap, T0);
    assert_true(a.res.immutable); /* an hour old: older than lag + settle */
    assert_int_equal(atomic_load(&collects), 1);
    /* The same window again, in another spelling: from the cache, the same bytes. */
    assert_int_equal(history_graph(h, T0 + 9999, now, on_done, &a, &res, &retry, err), HISTORY_READY);
    assert_ptr_equal(res.snap, a.res.snap);
    assert_int_equal(atomic_load(&collects), 1);
    snapshot_unref(res.snap);
    /* A recent window (by the wall clock, which the worker reads when it
     * is done) is cached, but not immutable. */
    answer b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    now = util_now_ms();
    assert_int_equal(history_graph(h, now - 1000, now, on_done, &b, &res, &retry, err), HISTORY_PENDING);
    wait_calls(&b, 1);
    assert_int_equal(b.res.status, HISTORY_OK);
    assert_false(b.res.immutable);
    assert_int_equal(b.res.max_age_s, 10);
    /* An old window with partial data may be whole when asked again. */
    atomic_store(&degraded, true);
    answer p = {.lock = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(history_graph(h, T0 - 600000, now, on_done, &p, &res, &retry, err), HISTORY_PENDING);
    wait_calls(&p, 1);
    assert_int_equal(p.res.status, HISTORY_OK);
    assert_non_null(strstr(p.res.snap->json, "\"partial\":"));
    assert_false(p.res.immutable);
    snapshot_unref(p.res.snap);
    snapshot_unref(a.res.snap);
    snapshot_unref(b.res.snap);
    history_free(h);
}

static void equal_requests_share_one_computation(void **state) {
    history *h = new_pool();
    char err[ERR_LEN];
    int64_t retry = 0, now = T0 + 3600000;
    history_result res;
    set_gate(false);
    answer a[5];
    for (int i = 0; i < 5; i++) {
        a[i] = (answer){.lock = PTHREAD_MUTEX_INITIALIZER};
        assert_int_equal(history_graph(h, T0, now, on_done, &a[i], &res, &retry, err), HISTORY_PENDING);
    }
    wait_in_collect(1);
    set_gate(true);
    for (int i = 0; i < 5; i++) {
        wait_calls(&a[i], 1);
        assert_int_equal(a[i].res.status, HISTORY_OK);
        assert_ptr_equal(a[i].res.snap, a[0].res.snap);
    }
    assert_int_equal(atomic_load(&collects), 1);
    for (int i = 0; i < 5; i++) snapshot_unref(a[i].res.snap);
    history_free(h);
}

static void beyond_workers_and_queue_is_busy_and_stop_answers_everyone(void **state) {
    history *h = new_pool();
    char err[ERR_LEN];
    int64_t retry = 0, now = T0 + 3600000;
    history_result res;
    set_gate(false);
    enum { ACCEPTED = VIZ_HISTORY_WORKERS + VIZ_HISTORY_QUEUE };
    answer a[ACCEPTED];
    for (int i = 0; i < ACCEPTED; i++) {
        a[i] = (answer){.lock = PTHREAD_MUTEX_INITIALIZER};
        assert_int_equal(history_graph(h, T0 - i * 10000LL, now, on_done, &a[i], &res, &retry, err), HISTORY_PENDING);
    }
    wait_in_collect(VIZ_HISTORY_WORKERS);
    answer late = {.lock = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(history_graph(h, T0 - 3600000, now, on_done, &late, &res, &retry, err), HISTORY_BUSY);
    assert_true(retry >= 1);
    assert_non_null(strstr(err, "try again"));
    /* A window already asked for is no new job: it still joins. */
    answer again = {.lock = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(history_graph(h, T0 - 10000, now, on_done, &again, &res, &retry, err), HISTORY_PENDING);
    /* Stopping answers every request exactly once, also those still queued. */
    set_gate(true);
    history_stop(h);
    for (int i = 0; i < ACCEPTED; i++) {
        assert_int_equal(calls_of(&a[i]), 1);
        assert_true(a[i].res.status == HISTORY_STOPPED || a[i].res.status == HISTORY_OK);
        snapshot_unref(a[i].res.snap);
    }
    assert_int_equal(calls_of(&again), 1);
    snapshot_unref(again.res.snap);
    assert_int_equal(calls_of(&late), 0);
    assert_int_equal(history_graph(h, T0, now, on_done, &late, &res, &retry, err), HISTORY_OFF);
    history_free(h);
}

static void failures_are_answered_and_not_cached(void **state) {
    history *h = new_pool();
    char err[ERR_LEN];
    int64_t retry = 0, now = T0 + 3600000;
    history_result res;
    atomic_store(&fail_next, true);
    answer a = {.lock = PTHREAD_MUTEX_INITIALIZER}, b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(history_graph(h, T0, now, on_done, &a, &res, &retry, err), HISTORY_PENDING);
    wait_calls(&a, 1);
    assert_int_equal(a.res.status, HISTORY_FAILED);
    assert_null(a.res.snap);
    assert_non_null(strstr(a.res.error, "scripted failure"));
    assert_non_null(strstr(a.res.error, "flow '"));
    assert_int_equal(history_graph(h, T0, now, on_done, &b, &res, &retry, err), HISTORY_PENDING);
    wait_calls(&b, 1);
    assert_int_equal(b.res.status, HISTORY_OK);
    snapshot_unref(b.res.snap);
    history_free(h);
}

static void times_that_cannot_be_answered(void **state) {
    history *h = new_pool();
    char err[ERR_LEN];
    int64_t retry = 0, now = T0;
    history_result res;
    answer a = {.lock = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(history_graph(h, now + 1, now, on_done, &a, &res, &retry, err), HISTORY_BAD);
    assert_non_null(strstr(err, "in the future"));
    assert_int_equal(history_graph(h, -1, now, on_done, &a, &res, &retry, err), HISTORY_BAD);
    assert_non_null(strstr(err, "before 1970"));
    assert_int_equal(calls_of(&a), 0);
    history_free(h);
    /* Before any configuration: nothing to compute with. */
    h = history_new(lookup, err);
    assert_int_equal(history_graph(h, T0, now, on_done, &a, &res, &retry, err), HISTORY_OFF);
    history_free(h);
}

int main(void) {
    metrics_declare_all();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(a_window_is_computed_once_and_then_cached, setup),
        cmocka_unit_test_setup(equal_requests_share_one_computation, setup),
        cmocka_unit_test_setup(beyond_workers_and_queue_is_busy_and_stop_answers_everyone, setup),
        cmocka_unit_test_setup(failures_are_answered_and_not_cached, setup),
        cmocka_unit_test_setup(times_that_cannot_be_answered, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
