/* Unit tests of the demo source: determinism, the size and shape of the
 * fictional fleet, incidents over a day, and counts that follow the window. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define T0       1767225600000LL /* 2026-01-01T00:00:00Z */
#define MINUTE   60000LL
#define MAX_SEEN 4096

/* Every row rendered as one text line, to compare runs byte for byte. */
static int serialize(void *ctx, const raw_row *row) {
    buf *b = ctx;
    for (int i = 0; i < EP_COUNT; i++) buf_printf(b, "%s|", row->value[i] ? row->value[i] : "(null)");
    buf_printf(b, "%.17g|%.17g|%.17g\n", row->count[0], row->count[1], row->count[2]);
    return 0;
}

static source *open_demo(uint64_t seed) {
    flow_config flow = {0};
    flow.name = "demo";
    flow.type = FLOW_DEMO;
    flow.seed = seed;
    char err[ERR_LEN] = "";
    source *s = source_demo_ops.open(&flow, NULL, err);
    assert_non_null(s);
    return s;
}

static char *collect_text(source *s, int64_t start, int64_t end) {
    buf b;
    buf_init(&b, 64u << 20);
    char err[ERR_LEN] = "";
    assert_int_equal(source_demo_ops.collect(s, start, end, serialize, &b, err), 0);
    size_t len;
    char *text = buf_take(&b, &len);
    return text ? text : xstrdup("");
}

static void same_seed_and_window_give_same_bytes(void **state) {
    source *a = open_demo(1), *b = open_demo(1), *c = open_demo(2);
    char *x = collect_text(a, T0, T0 + 2 * MINUTE);
    char *y = collect_text(b, T0, T0 + 2 * MINUTE);
    char *again = collect_text(a, T0, T0 + 2 * MINUTE);
    char *other = collect_text(c, T0, T0 + 2 * MINUTE);
    assert_true(strlen(x) > 1000);
    assert_string_equal(x, y);
    assert_string_equal(x, again);
    assert_string_not_equal(x, other);
    free(x);
    free(y);
    free(again);
    free(other);
    source_demo_ops.close(a);
    source_demo_ops.close(b);
    source_demo_ops.close(c);
}

/* Distinct strings seen, and per-edge sums. */
typedef struct {
    char *names[MAX_SEEN];
    int n;
} string_set;

static void set_add(string_set *s, const char *v) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], v) == 0) return;
    assert_true(s->n < MAX_SEEN);
    s->names[s->n++] = xstrdup(v);
}

static void set_free(string_set *s) {
    for (int i = 0; i < s->n; i++) free(s->names[i]);
    s->n = 0;
}

typedef struct {
    char key[600];
    double count[CLASS_COUNT];
} edge_sum;

typedef struct {
    string_set regions, services, hosts;
    edge_sum edges[1024];
    int nedges;
    int rows, ingress_rows, cross_rows, bad_names;
    double total[CLASS_COUNT];
} fleet_view;

static bool clean_name(const char *s) {
    return s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

static int observe(void *ctx, const raw_row *row) {
    fleet_view *f = ctx;
    const char *const *v = row->value;
    f->rows++;
    assert_non_null(v[EP_TO_SERVICE]);
    assert_non_null(v[EP_TO_REGION]);
    assert_non_null(v[EP_TO_HOST]);
    assert_null(v[EP_FROM_HOST]);
    set_add(&f->regions, v[EP_TO_REGION]);
    set_add(&f->services, v[EP_TO_SERVICE]);
    set_add(&f->hosts, v[EP_TO_HOST]);
    if (!clean_name(v[EP_TO_SERVICE]) || !clean_name(v[EP_TO_REGION]) || !clean_name(v[EP_TO_HOST])) f->bad_names++;
    if (!v[EP_FROM_SERVICE]) {
        assert_null(v[EP_FROM_REGION]);
        f->ingress_rows++;
    } else {
        assert_non_null(v[EP_FROM_REGION]);
        set_add(&f->services, v[EP_FROM_SERVICE]);
        if (strcmp(v[EP_FROM_REGION], v[EP_TO_REGION]) != 0) f->cross_rows++;
        if (strcmp(v[EP_FROM_SERVICE], v[EP_TO_SERVICE]) == 0 && strcmp(v[EP_FROM_REGION], v[EP_TO_REGION]) == 0)
            f->bad_names++; /* a self call would never reach the graph */
    }
    char key[600];
    snprintf(key, sizeof key, "%s/%s>%s/%s", v[EP_FROM_REGION] ? v[EP_FROM_REGION] : "",
             v[EP_FROM_SERVICE] ? v[EP_FROM_SERVICE] : "INTERNET", v[EP_TO_REGION], v[EP_TO_SERVICE]);
    int i = 0;
    while (i < f->nedges && strcmp(f->edges[i].key, key) != 0) i++;
    if (i == f->nedges) {
        assert_true(f->nedges < 1024);
        strcpy(f->edges[f->nedges++].key, key);
    }
    for (int c = 0; c < CLASS_COUNT; c++) {
        assert_true(row->count[c] >= 0);
        assert_true(row->count[c] == floor(row->count[c]));
        f->edges[i].count[c] += row->count[c];
        f->total[c] += row->count[c];
    }
    return 0;
}

static void view(source *s, int64_t start, int64_t end, fleet_view *f) {
    memset(f, 0, sizeof *f);
    char err[ERR_LEN] = "";
    assert_int_equal(source_demo_ops.collect(s, start, end, observe, f, err), 0);
}

static void view_free(fleet_view *f) {
    set_free(&f->regions);
    set_free(&f->services);
    set_free(&f->hosts);
}

static double edge_total(const edge_sum *e) {
    return e->count[0] + e->count[1] + e->count[2];
}

static void fleet_has_the_promised_shape(void **state) {
    source *s = open_demo(1);
    fleet_view *f = xcalloc(1, sizeof *f);
    /* A 10 minute window at the US afternoon peak. */
    int64_t start = T0 + 19 * 60 * MINUTE;
    view(s, start, start + 10 * MINUTE, f);
    print_message("# rows %d, edges %d, regions %d, services %d, hosts %d, cross rows %d\n", f->rows, f->nedges,
                  f->regions.n, f->services.n, f->hosts.n, f->cross_rows);
    assert_true(f->regions.n >= 3);
    assert_true(f->services.n >= 40);
    assert_true(f->hosts.n >= 2 * f->services.n);
    assert_true(f->nedges >= 100 && f->nedges <= 400);
    assert_true(f->cross_rows > 0);
    assert_true(f->ingress_rows >= 3);
    assert_int_equal(f->bad_names, 0);

    /* Rates span from below min_rate to thousands per second. */
    double lowest = 1e18, highest = 0;
    for (int i = 0; i < f->nedges; i++) {
        double rate = edge_total(&f->edges[i]) / 600.0;
        if (rate < lowest) lowest = rate;
        if (rate > highest) highest = rate;
    }
    print_message("# rates from %.3f/s to %.0f/s\n", lowest, highest);
    assert_true(lowest < 0.1);
    assert_true(highest > 1000 && highest < 10000);

    /* Every region has ingress from the entry node. */
    for (int r = 0; r < f->regions.n; r++) {
        char key[300];
        snprintf(key, sizeof key, "/INTERNET>%s/edge-proxy", f->regions.names[r]);
        bool found = false;
        for (int i = 0; i < f->nedges; i++) found = found || strcmp(f->edges[i].key, key) == 0;
        assert_true(found);
    }

    source_stats st;
    source_demo_ops.stats(s, &st);
    assert_int_equal(st.events, (uint64_t)f->rows);
    view_free(f);
    free(f);
    source_demo_ops.close(s);
}

static double worst_danger_share(const fleet_view *f) {
    double worst = 0;
    for (int i = 0; i < f->nedges; i++) {
        double total = edge_total(&f->edges[i]);
        if (total > 0 && f->edges[i].count[CLASS_DANGER] / total > worst)
            worst = f->edges[i].count[CLASS_DANGER] / total;
    }
    return worst;
}

static void incidents_come_and_go_over_a_day(void **state) {
    source *s = open_demo(1);
    fleet_view *f = xcalloc(1, sizeof *f);
    int with_incident = 0, calm = 0, windows = 0;
    for (int64_t start = T0; start < T0 + 24 * 60 * MINUTE; start += 2 * MINUTE, windows++) {
        view(s, start, start + 2 * MINUTE, f);
        double worst = worst_danger_share(f);
        if (worst >= 0.10) with_incident++;
        if (worst < 0.03) calm++;
        view_free(f);
    }
    print_message("# %d windows: %d with a danger incident, %d calm\n", windows, with_incident, calm);
    assert_true(with_incident >= 10);
    assert_true(calm >= 10);
    free(f);
    source_demo_ops.close(s);
}

static void counts_follow_the_window(void **state) {
    source *s = open_demo(3);
    fleet_view *one = xcalloc(1, sizeof *one), *next = xcalloc(1, sizeof *next), *two = xcalloc(1, sizeof *two),
               *half = xcalloc(1, sizeof *half);
    int64_t start = T0 + 7 * 60 * MINUTE;
    view(s, start, start + MINUTE, one);
    view(s, start + MINUTE, start + 2 * MINUTE, next);
    view(s, start, start + 2 * MINUTE, two);
    view(s, start, start + 30000, half);
    double t1 = one->total[0] + one->total[1] + one->total[2];
    double t1b = next->total[0] + next->total[1] + next->total[2];
    double t2 = two->total[0] + two->total[1] + two->total[2];
    double th = half->total[0] + half->total[1] + half->total[2];
    print_message("# 30s %.0f, 1m %.0f + %.0f, 2m %.0f\n", th, t1, t1b, t2);
    assert_true(t2 / t1 > 1.8 && t2 / t1 < 2.2);
    assert_true(t1 / th > 1.9 && t1 / th < 2.1);
    /* Adjacent windows add up, up to rounding to whole events per row. */
    assert_true(fabs(t1 + t1b - t2) / t2 < 0.01);
    view_free(one);
    view_free(next);
    view_free(two);
    view_free(half);
    free(one);
    free(next);
    free(two);
    free(half);

    /* An empty window yields nothing; an enormous one is refused. */
    char err[ERR_LEN] = "";
    fleet_view *none = xcalloc(1, sizeof *none);
    view(s, start, start, none);
    assert_int_equal(none->rows, 0);
    free(none);
    assert_int_equal(source_demo_ops.collect(s, start, start + 40LL * 24 * 60 * MINUTE, observe, NULL, err), -1);
    assert_non_null(strstr(err, "expected at most"));
    source_demo_ops.close(s);
}

static void traffic_follows_the_day(void **state) {
    source *s = open_demo(1);
    fleet_view *f = xcalloc(1, sizeof *f);
    /* us-east-1 is UTC-5: busiest around 19:00 UTC, quietest around 07:00. */
    view(s, T0 + 19 * 60 * MINUTE, T0 + 20 * 60 * MINUTE, f);
    double peak = f->total[0] + f->total[1] + f->total[2];
    view_free(f);
    view(s, T0 + 7 * 60 * MINUTE, T0 + 8 * 60 * MINUTE, f);
    double trough = f->total[0] + f->total[1] + f->total[2];
    view_free(f);
    print_message("# peak hour %.0f, quiet hour %.0f\n", peak, trough);
    assert_true(peak > 1.5 * trough);
    free(f);
    source_demo_ops.close(s);
}

static int stop_after_three(void *ctx, const raw_row *row) {
    int *n = ctx;
    return ++*n >= 3;
}

static void consumer_can_stop_collection(void **state) {
    source *s = open_demo(1);
    int n = 0;
    char err[ERR_LEN] = "";
    assert_int_equal(source_demo_ops.collect(s, T0, T0 + 2 * MINUTE, stop_after_three, &n, err), -1);
    assert_int_equal(n, 3);
    assert_true(strlen(err) > 0);
    /* Still usable afterwards. */
    char *text = collect_text(s, T0, T0 + 2 * MINUTE);
    assert_true(strlen(text) > 0);
    free(text);
    source_demo_ops.close(s);
}

static void windows_before_1970_work(void **state) {
    source *s = open_demo(1);
    char *text = collect_text(s, -90 * MINUTE / 2, -MINUTE / 2);
    assert_true(strlen(text) > 0);
    free(text);
    source_demo_ops.close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_and_window_give_same_bytes),
        cmocka_unit_test(fleet_has_the_promised_shape),
        cmocka_unit_test(incidents_come_and_go_over_a_day),
        cmocka_unit_test(counts_follow_the_window),
        cmocka_unit_test(traffic_follows_the_day),
        cmocka_unit_test(consumer_can_stop_collection),
        cmocka_unit_test(windows_before_1970_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
