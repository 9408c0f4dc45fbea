/* Unit tests of the timeline's arithmetic (timeline.h): the grid its steps lie
 * on, the range it refuses, and the step it picks when none is asked for.
 * Its numbers are checked end to end by tests/scenario/test_timeline.py. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(align_rounds_down_also_before_1970),
        cmocka_unit_test(range_is_whole_steps),
        cmocka_unit_test(range_refusals),
        cmocka_unit_test(default_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
