/* Unit tests of latency.c: exact merging from sums and counts, what is
 * ignored, and the JSON the graph writes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "latency.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static const char *written(buf *b, const latency *l) {
    buf_reset(b);
    jsonw w;
    jsonw_init(&w, b);
    jsonw_object_begin(&w);
    latency_write(&w, l);
    jsonw_object_end(&w);
    return buf_cstr(b);
}

static void merges_averages_from_sums_and_counts(void **state) {
    /* 10 calls of 100 ms and 1 call of 1000 ms: the mean of the calls is
     * 181.8 ms, not the mean of the two averages (550 ms). */
    latency a = {.sum_ms = 1000, .n = 10, .max_ms = 100, .max_n = 10};
    latency b = {.sum_ms = 1000, .n = 1, .max_ms = 1000, .max_n = 1};
    latency m = {0};
    latency_add(&m, &a);
    latency_add(&m, &b);
    double avg;
    assert_true(latency_avg(&m, &avg));
    assert_true(fabs(avg - 2000.0 / 11) < 1e-9);
    assert_true(m.max_ms == 1000 && m.max_n == 11);
    buf out;
    buf_init(&out, 1 << 12);
    assert_string_equal(written(&out, &m), "{\"latency_ms\":{\"avg\":181.818,\"max\":1000}}");
    buf_free(&out);
}

static void pre_aggregated_data_has_no_max(void **state) {
    latency m = {0};
    latency part = {.sum_ms = 300, .n = 2};
    latency_add(&m, &part);
    latency_add(&m, &part);
    buf out;
    buf_init(&out, 1 << 12);
    assert_string_equal(written(&out, &m), "{\"latency_ms\":{\"avg\":150}}");
    /* A maximum known for some calls is kept once it comes. */
    latency timed = {.sum_ms = 50, .n = 1, .max_ms = 50, .max_n = 1};
    latency_add(&m, &timed);
    assert_string_equal(written(&out, &m), "{\"latency_ms\":{\"avg\":130,\"max\":50}}");
    buf_free(&out);
}

static void nothing_and_nonsense_add_nothing(void **state) {
    latency m = {0};
    latency_add(&m, NULL);
    latency nan_sum = {.sum_ms = NAN, .n = 1};
    latency neg = {.sum_ms = -5, .n = 1};
    latency inf_n = {.sum_ms = 5, .n = INFINITY};
    latency zero = {0};
    latency_add(&m, &nan_sum);
    latency_add(&m, &neg);
    latency_add(&m, &inf_n);
    latency_add(&m, &zero);
    double avg;
    assert_false(latency_avg(&m, &avg));
    buf out;
    buf_init(&out, 1 << 12);
    assert_string_equal(written(&out, &m), "{}");
    /* A NaN maximum with good sums keeps the sums and drops the maximum. */
    latency bad_max = {.sum_ms = 10, .n = 2, .max_ms = NAN, .max_n = 2};
    latency_add(&m, &bad_max);
    assert_string_equal(written(&out, &m), "{\"latency_ms\":{\"avg\":5}}");
    buf_free(&out);
}

static void formats_for_notices(void **state) {
    char text[32];
    latency_format(840, text, sizeof text);
    assert_string_equal(text, "840 ms");
    latency_format(1234, text, sizeof text);
    assert_string_equal(text, "1.2 s");
    latency_format(45000, text, sizeof text);
    assert_string_equal(text, "45 s");
    latency_format(2.5, text, sizeof text);
    assert_string_equal(text, "2.5 ms");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merges_averages_from_sums_and_counts),
        cmocka_unit_test(pre_aggregated_data_has_no_max),
        cmocka_unit_test(nothing_and_nonsense_add_nothing),
        cmocka_unit_test(formats_for_notices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
