/* Unit tests of util.c: bounded buffers, durations, timestamps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void a_buffer_failure_sticks_until_reset(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 4);
    assert_int_equal(buf_puts(&b, "ab"), 0);
    assert_false(buf_failed(&b));
    assert_int_equal(buf_puts(&b, "cdef"), -1); /* passes the cap */
    assert_string_equal(buf_cstr(&b), "ab");    /* left as it was */
    /* What still fits is refused too: a record is never half written. */
    assert_int_equal(buf_putc(&b, 'c'), -1);
    assert_int_equal(buf_printf(&b, "%d", 1), -1);
    assert_int_equal(buf_append(&b, "x", 1), -1);
    assert_true(buf_failed(&b));
    assert_string_equal(buf_cstr(&b), "ab");
    buf_reset(&b);
    assert_false(buf_failed(&b));
    assert_int_equal(buf_puts(&b, "wxyz"), 0);
    assert_string_equal(buf_cstr(&b), "wxyz");
    buf_free(&b);
}

static void buffer_grows_up_to_its_cap_and_no_further(void **state) {
    buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "0123456789"), 0);
    assert_int_equal(buf_putc(&b, 'x'), -1);
    assert_int_equal(b.len, 10);
    assert_string_equal(buf_cstr(&b), "0123456789");
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "abc"), 0);
    assert_string_equal(buf_cstr(&b), "42-abc");
    size_t len;
    char *taken = buf_take(&b, &len);
    assert_int_equal(len, 6);
    assert_string_equal(taken, "42-abc");
    assert_int_equal(b.len, 0);
    free(taken);
    buf_free(&b);
}

static void long_printf_goes_through_the_slow_path(void **state) {
    buf b;
    buf_init(&b, 10000);
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(buf_printf(&b, "%s%s%s%s%s%s%s%s%s%s", big, big, big, big, big, big, big, big, big, big), -1);
    assert_int_equal(b.len, 1001);
    buf_free(&b);
}

static void durations_parse_every_unit(void **state) {
    struct {
        const char *text;
        int64_t ms;
    } ok[] = {{"500ms", 500},   {"10s", 10000},   {"2m", 120000}, {"1h", 3600000},
              {"1d", 86400000}, {"1m30s", 90000}, {"0s", 0}};
    char err[ERR_LEN];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(util_parse_duration_ms(ok[i].text, &ms, err), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    const char *bad[] = {"", "10", "ten seconds", "5x", "-1s", "1.5s", "s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        assert_int_equal(util_parse_duration_ms(bad[i], &ms, err), -1);
        assert_non_null(strstr(err, "duration"));
    }
}

static void durations_format_shortest(void **state) {
    char out[32];
    util_format_duration(120000, out, sizeof out);
    assert_string_equal(out, "2m");
    util_format_duration(90000, out, sizeof out);
    assert_string_equal(out, "1m30s");
    util_format_duration(500, out, sizeof out);
    assert_string_equal(out, "500ms");
    util_format_duration(0, out, sizeof out);
    assert_string_equal(out, "0s");
}

static void times_parse_rfc3339_and_epoch_ms(void **state) {
    struct {
        const char *text;
        int64_t ms;
    } ok[] = {{"2026-01-01T00:00:00Z", 1767225600000LL},
              {"2026-01-01T00:00:00.250Z", 1767225600250LL},
              {"2026-01-01T01:00:00+01:00", 1767225600000LL},
              {"2025-12-31T19:00:00-05:00", 1767225600000LL},
              {"1767225600000", 1767225600000LL},
              {"2026-01-01", 1767225600000LL},
              {"1970-01-01T00:00:00Z", 0},
              {"2024-02-29T12:00:00.123456789Z", 1709208000123LL},
              /* the OpenTelemetry exporter's @timestamp */
              {"1705314600000.0", 1705314600000LL},
              {"1721314113467.654123", 1721314113467LL}};
    char err[ERR_LEN];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(util_parse_time_ms(ok[i].text, &ms, err), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    const char *bad[] = {"",
                         "yesterday",
                         "2026-13-01T00:00:00Z",
                         "2026-01-01T00:00:00",
                         "2026-01-01T25:00:00Z",
                         "2026-01-01T00:00:00Zjunk",
                         "1705314600000.",
                         ".5",
                         "1705314600000.0.0",
                         "1705314600000.5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        assert_int_equal(util_parse_time_ms(bad[i], &ms, err), -1);
    }
}

static void times_format_round_trip(void **state) {
    char out[32];
    util_format_time_ms(1767225600250LL, out, sizeof out);
    assert_string_equal(out, "2026-01-01T00:00:00.250Z");
    int64_t back;
    assert_int_equal(util_parse_time_ms(out, &back, NULL), 0);
    assert_int_equal(back, 1767225600250LL);
}

static void base64_round_trips_and_accepts_url_safe(void **state) {
    buf b;
    buf_init(&b, 1024);
    util_base64_encode(&b, (const unsigned char *)"elastic:changeme", 16);
    assert_string_equal(buf_cstr(&b), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    buf out;
    buf_init(&out, 1024);
    assert_int_equal(util_base64_decode(buf_cstr(&b), &out), 0);
    assert_string_equal(buf_cstr(&out), "elastic:changeme");
    buf_reset(&out);
    assert_int_equal(util_base64_decode("-_8", &out), 0); /* URL-safe, no padding */
    assert_int_equal(out.len, 2);
    assert_int_equal((unsigned char)out.data[0], 0xfb);
    assert_int_equal((unsigned char)out.data[1], 0xff);
    assert_int_equal(util_base64_decode("ab$c", &out), -1);
    buf_free(&b);
    buf_free(&out);
}

/* util_align_ms (CONTRACT's grid): rounds down, also before the epoch. */
static void align_rounds_down_on_the_grid(void **state) {
    assert_int_equal(util_align_ms(1767225612345LL, 10000), 1767225610000LL);
    assert_int_equal(util_align_ms(1767225610000LL, 10000), 1767225610000LL);
    assert_int_equal(util_align_ms(0, 60000), 0);
    assert_int_equal(util_align_ms(-1, 60000), -60000);
    assert_int_equal(util_align_ms(-60000, 60000), -60000);
    assert_int_equal(util_align_ms(-60001, 60000), -120000);
    assert_int_equal(util_align_ms(12345, 0), 12345); /* no grid */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buffer_grows_up_to_its_cap_and_no_further),
        cmocka_unit_test(a_buffer_failure_sticks_until_reset),
        cmocka_unit_test(long_printf_goes_through_the_slow_path),
        cmocka_unit_test(durations_parse_every_unit),
        cmocka_unit_test(durations_format_shortest),
        cmocka_unit_test(times_parse_rfc3339_and_epoch_ms),
        cmocka_unit_test(times_format_round_trip),
        cmocka_unit_test(base64_round_trips_and_accepts_url_safe),
        cmocka_unit_test(align_rounds_down_on_the_grid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
