/* Unit tests of metrics.c: the registry and the Prometheus text format. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static int reset(void **state) {
    metrics_reset();
    return 0;
}

static char *render(void) {
    buf b;
    buf_init(&b, 1 << 20);
    metrics_render(&b);
    return buf_take(&b, NULL);
}

static void counters_and_gauges_add_and_set(void **state) {
    metrics_declare("t_requests_total", METRIC_COUNTER, "Requests.");
    metrics_declare("t_temperature", METRIC_GAUGE, "Temperature.");
    metrics_add("t_requests_total", "code=\"200\"", 1);
    metrics_add("t_requests_total", "code=\"200\"", 2);
    metrics_add("t_requests_total", "code=\"500\"", 1);
    assert_true(metrics_get("t_requests_total", "code=\"200\"") == 3);
    assert_true(metrics_get("t_requests_total", "code=\"500\"") == 1);
    assert_true(metrics_get("t_requests_total", "code=\"404\"") == 0);
    /* A counter never goes down. */
    metrics_add("t_requests_total", "code=\"200\"", -1);
    assert_true(metrics_get("t_requests_total", "code=\"200\"") == 3);
    metrics_set("t_temperature", "", 21.5);
    metrics_set("t_temperature", NULL, 19.25);
    assert_true(metrics_get("t_temperature", "") == 19.25);
    metrics_add("t_temperature", "", -0.25);
    assert_true(metrics_get("t_temperature", "") == 19);
}

static void undeclared_metrics_are_rejected(void **state) {
    metrics_add("t_typo_total", "", 1);
    metrics_set("t_typo", "", 1);
    assert_true(metrics_get("t_typo_total", "") == 0);
    char *text = render();
    assert_null(strstr(text, "t_typo"));
    free(text);
}

static void render_is_prometheus_text_sorted_by_name_then_labels(void **state) {
    metrics_declare("t_b_total", METRIC_COUNTER, "B things.");
    metrics_declare("t_a", METRIC_GAUGE, "A with a \\ backslash\nand a newline.");
    metrics_declare("t_c_total", METRIC_COUNTER, "Declared, never set.");
    metrics_add("t_b_total", "path=\"/z\"", 1);
    metrics_add("t_b_total", "path=\"/a\"", 2);
    metrics_add("t_b_total", "", 5);
    metrics_set("t_a", "", 0.1);
    char *text = render();
    const char *expected = "# HELP t_a A with a \\\\ backslash\\nand a newline.\n"
                           "# TYPE t_a gauge\n"
                           "t_a 0.1\n"
                           "# HELP t_b_total B things.\n"
                           "# TYPE t_b_total counter\n"
                           "t_b_total 5\n"
                           "t_b_total{path=\"/a\"} 2\n"
                           "t_b_total{path=\"/z\"} 1\n"
                           "# HELP t_c_total Declared, never set.\n"
                           "# TYPE t_c_total counter\n";
    assert_string_equal(text, expected);
    free(text);
}

static void values_are_written_the_way_prometheus_reads_them(void **state) {
    metrics_declare("t_v", METRIC_GAUGE, "Values.");
    metrics_set("t_v", "k=\"big\"", 1e20);
    metrics_set("t_v", "k=\"int\"", 1234567);
    metrics_set("t_v", "k=\"inf\"", INFINITY);
    metrics_set("t_v", "k=\"nan\"", NAN);
    metrics_set("t_v", "k=\"neg\"", -2.5);
    metrics_set("t_v", "k=\"third\"", 1.0 / 3);
    char *text = render();
    assert_non_null(strstr(text, "t_v{k=\"big\"} 1e+20\n"));
    assert_non_null(strstr(text, "t_v{k=\"int\"} 1234567\n"));
    assert_non_null(strstr(text, "t_v{k=\"inf\"} +Inf\n"));
    assert_non_null(strstr(text, "t_v{k=\"nan\"} NaN\n"));
    assert_non_null(strstr(text, "t_v{k=\"neg\"} -2.5\n"));
    const char *third = strstr(text, "t_v{k=\"third\"} ");
    assert_non_null(third);
    assert_true(strtod(third + strlen("t_v{k=\"third\"} "), NULL) == 1.0 / 3);
    free(text);
}

static void label_values_are_escaped(void **state) {
    buf b;
    buf_init(&b, 256);
    metrics_label_escape(&b, "a\"b\\c\nd");
    assert_string_equal(buf_cstr(&b), "a\\\"b\\\\c\\nd");
    buf_free(&b);
}

/* Issue 18: a 2000-byte flow name overflowed the callers' 1 KiB label
 * buffers and the closing quote was lost: /metrics became unreadable. Label
 * values are cut to 128 bytes plus a hash of the whole (two long names stay
 * apart), and carry no control character or byte that is not UTF-8. */
static void long_and_odd_label_values_stay_one_valid_label(void **state) {
    char a[2001], b[2001];
    memset(a, 'x', 2000);
    a[2000] = '\0';
    memcpy(b, a, sizeof b);
    b[1999] = 'y';
    buf la, lb;
    buf_init(&la, 1024); /* the size refresh.c gives its flow label */
    buf_init(&lb, 1024);
    buf_puts(&la, "flow=\"");
    metrics_label_escape(&la, a);
    assert_int_equal(buf_putc(&la, '"'), 0);
    buf_puts(&lb, "flow=\"");
    metrics_label_escape(&lb, b);
    buf_putc(&lb, '"');
    assert_int_equal(la.len, 6 + 128 + 9 + 1);
    assert_memory_equal(la.data + 6, a, 128);
    assert_true(la.data[6 + 128] == '~');
    assert_string_not_equal(buf_cstr(&la), buf_cstr(&lb));
    buf_free(&lb);

    /* Cut at a character: 127 x's then "é" (2 bytes) keeps the x's only. */
    char c[300];
    memset(c, 'x', 127);
    strcpy(c + 127, "\xc3\xa9\xc3\xa9\xc3\xa9");
    buf_reset(&la);
    metrics_label_escape(&la, c);
    assert_int_equal(la.len, 127 + 9);

    buf_reset(&la);
    metrics_label_escape(&la, "q\"\\\nz\t\r\x1b[31m\xff\x7f\xc3\xa9");
    assert_string_equal(buf_cstr(&la),
                        "q\\\"\\\\\\nz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd[31m\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9");

    /* The worst case, every byte a control character (3 bytes of U+FFFD
     * each): still well inside the 1 KiB label buffers of refresh.c and
     * source_es.c, which assert that their labels fit. */
    char ctl[2001];
    memset(ctl, '\x01', 2000);
    ctl[2000] = '\0';
    buf_reset(&la);
    buf_puts(&la, "flow=\"");
    metrics_label_escape(&la, ctl);
    buf_putc(&la, '"');
    assert_false(buf_failed(&la));
    assert_int_equal(la.len, 6 + 3 * 128 + 9 + 1);

    metrics_declare("t_total", METRIC_COUNTER, "t");
    buf_reset(&la);
    buf_puts(&la, "flow=\"");
    metrics_label_escape(&la, a);
    buf_putc(&la, '"');
    metrics_add("t_total", buf_cstr(&la), 2);
    buf out;
    buf_init(&out, 1 << 20);
    metrics_render(&out);
    char want[300];
    snprintf(want, sizeof want, "\nt_total{flow=\"%.128s~", a);
    assert_non_null(strstr(buf_cstr(&out), want));
    assert_non_null(strstr(buf_cstr(&out), "\"} 2\n"));
    buf_free(&out);
    buf_free(&la);
}

static void declare_all_declares_every_documented_metric(void **state) {
    metrics_declare_all();
    const char *names[] = {
        "vizfeed_refreshes_total",
        "vizfeed_refresh_failures_total",
        "vizfeed_refresh_duration_seconds",
        "vizfeed_refresh_cpu_seconds",
        "vizfeed_last_refresh_success_timestamp_seconds",
        "vizfeed_snapshot_age_seconds",
        "vizfeed_graph_nodes",
        "vizfeed_graph_connections",
        "vizfeed_graph_hidden_services",
        "vizfeed_source_events_total",
        "vizfeed_source_malformed_lines_total",
        "vizfeed_events_dropped_total",
        "vizfeed_http_requests_total",
        "vizfeed_output_file_writes_total",
        "vizfeed_output_file_errors_total",
        "vizfeed_config_reloads_total",
        "vizfeed_build_info",
        "vizfeed_es_requests_total",
        "vizfeed_es_response_bytes_total",
        "vizfeed_es_errors_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    };
    char *text = render();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "# TYPE %s ", names[i]);
        assert_non_null(strstr(text, line));
        snprintf(line, sizeof line, "# HELP %s ", names[i]);
        assert_non_null(strstr(text, line));
    }
    assert_non_null(strstr(text, "vizfeed_build_info{version=\"" VIZFEED_VERSION "\"} 1\n"));
    assert_non_null(strstr(text, "vizfeed_refreshes_total 0\n"));
    assert_non_null(strstr(text, "# TYPE vizfeed_http_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE vizfeed_graph_nodes gauge\n"));
    free(text);
    /* The documentation lists every metric (run from tests/). */
    FILE *f = fopen("../docs/METRICS.md", "r");
    assert_non_null(f);
    buf doc;
    buf_init(&doc, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&doc, chunk, n);
    fclose(f);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_non_null(strstr(buf_cstr(&doc), names[i]));
    /* ... and every declared metric, not only those listed above. */
    text = render();
    for (const char *p = strstr(text, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
        char name[128], quoted[140];
        assert_int_equal(sscanf(p, "# TYPE %127s", name), 1);
        snprintf(quoted, sizeof quoted, "`%s`", name);
        if (!strstr(buf_cstr(&doc), quoted)) fail_msg("%s is not in docs/METRICS.md", name);
    }
    free(text);
    buf_free(&doc);
}

static void process_metrics_come_from_proc(void **state) {
    metrics_declare_all();
    metrics_update_process();
    assert_true(metrics_get("process_resident_memory_bytes", "") > 1 << 20);
    assert_true(metrics_get("process_cpu_seconds_total", "") >= 0);
    assert_true(metrics_get("process_open_fds", "") >= 3);
    assert_true(metrics_get("process_start_time_seconds", "") > 1.6e9);
    assert_true(metrics_get("process_start_time_seconds", "") <= (double)util_now_ms() / 1000 + 1);
}

static void *hammer(void *arg) {
    for (int i = 0; i < 20000; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "n=\"%d\"", i % 50);
        metrics_add("t_hits_total", labels, 1);
    }
    return NULL;
}

static void updates_from_many_threads_are_all_counted(void **state) {
    metrics_declare("t_hits_total", METRIC_COUNTER, "Hits.");
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    double total = 0;
    for (int i = 0; i < 50; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "n=\"%d\"", i);
        total += metrics_get("t_hits_total", labels);
    }
    assert_true(total == 80000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(counters_and_gauges_add_and_set, reset),
        cmocka_unit_test_setup(undeclared_metrics_are_rejected, reset),
        cmocka_unit_test_setup(render_is_prometheus_text_sorted_by_name_then_labels, reset),
        cmocka_unit_test_setup(values_are_written_the_way_prometheus_reads_them, reset),
        cmocka_unit_test_setup(label_values_are_escaped, reset),
        cmocka_unit_test_setup(long_and_odd_label_values_stay_one_valid_label, reset),
        cmocka_unit_test_setup(declare_all_declares_every_documented_metric, reset),
        cmocka_unit_test_setup(process_metrics_come_from_proc, reset),
        cmocka_unit_test_setup(updates_from_many_threads_are_all_counted, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return rc;
}
