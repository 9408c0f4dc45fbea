/* Unit tests of the JSON writer: structure, escaping, numbers, limits. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void writes_nested_structures_with_separators(void **state) {
    buf b;
    buf_init(&b, 1 << 16);
    jsonw w;
    jsonw_init(&w, &b);
    jsonw_object_begin(&w);
    jsonw_key(&w, "a");
    jsonw_array_begin(&w);
    jsonw_int(&w, 1);
    jsonw_bool(&w, true);
    jsonw_null(&w);
    jsonw_object_begin(&w);
    jsonw_object_end(&w);
    jsonw_array_end(&w);
    jsonw_key(&w, "b");
    jsonw_string(&w, "x");
    jsonw_object_end(&w);
    assert_false(jsonw_failed(&w));
    assert_string_equal(buf_cstr(&b), "{\"a\":[1,true,null,{}],\"b\":\"x\"}");
    buf_free(&b);
}

static void escapes_control_quotes_and_invalid_utf8(void **state) {
    buf b;
    buf_init(&b, 1 << 16);
    jsonw w;
    jsonw_init(&w, &b);
    jsonw_string(&w, "a\"b\\c\n\x01<é>\xff");
    assert_string_equal(buf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001<é>\xef\xbf\xbd\"");
    buf_free(&b);
}

static void rejects_overlong_and_surrogate_utf8(void **state) {
    buf b;
    buf_init(&b, 1 << 16);
    jsonw w;
    jsonw_init(&w, &b);
    jsonw_string(&w, "\xc0\xaf|\xed\xa0\x80|\xf0\x9f\x98\x80");
    /* overlong '/' -> two replacements; surrogate -> three; the emoji stays */
    assert_string_equal(buf_cstr(&b),
                        "\"\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xf0\x9f\x98\x80\"");
    buf_free(&b);
}

static void rates_keep_four_significant_digits(void **state) {
    struct {
        double v;
        const char *text;
    } cases[] = {
        {12345.678, "12350"}, {12.5, "12.5"},  {0.001234567, "0.001235"}, {1.0, "1"},     {0.0, "0"},         {-3, "0"},
        {NAN, "0"},           {INFINITY, "0"}, {99999.5, "100000"},       {0.05, "0.05"}, {1e-7, "0.0000001"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b;
        buf_init(&b, 1024);
        jsonw w;
        jsonw_init(&w, &b);
        jsonw_rate(&w, cases[i].v);
        assert_string_equal(buf_cstr(&b), cases[i].text);
        buf_free(&b);
    }
}

/* Issue 18: a rate of 1e60 once left no number at all ("rate_in":,), and a
 * subnormal one went through NaN. Every double gives a JSON number. */
static void rates_at_the_edges_of_double_are_json_numbers(void **state) {
    struct {
        double v;
        const char *text;
    } cases[] = {{1e20, "100000000000000000000"}, {2e21, "2e+21"},  {1.6667e59, "1.667e+59"}, {1e300, "1e+300"},
                 {DBL_MAX, "1.798e+308"},         {5e-324, "0"},    {DBL_MIN, "0"},           {4e-18, "0"},
                 {1e-17, "0.00000000000000001"},  {-INFINITY, "0"}, {-DBL_MAX, "0"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b;
        buf_init(&b, 1024);
        jsonw w;
        jsonw_init(&w, &b);
        jsonw_array_begin(&w);
        jsonw_rate(&w, cases[i].v);
        jsonw_array_end(&w);
        assert_false(jsonw_failed(&w));
        char want[64];
        snprintf(want, sizeof want, "[%s]", cases[i].text);
        assert_string_equal(buf_cstr(&b), want);
        buf_free(&b);
    }
}

static void doubles_are_shortest_and_finite(void **state) {
    struct {
        double v;
        const char *text;
    } cases[] = {{0.1, "0.1"}, {3.0, "3"}, {1.0 / 3, "0.3333333333333333"}, {NAN, "0"}, {-2.5, "-2.5"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b;
        buf_init(&b, 1024);
        jsonw w;
        jsonw_init(&w, &b);
        jsonw_double(&w, cases[i].v);
        assert_string_equal(buf_cstr(&b), cases[i].text);
        buf_free(&b);
    }
}

/* jsonw_format_rate() before it wrote digits itself: the text must not change. */
static size_t reference_rate(double v, char *out, size_t n) {
    if (!isfinite(v) || v <= 0) return (size_t)snprintf(out, n, "0");
    double r = jsonw_round_significant(v, 4);
    int decimals = 3 - (int)floor(log10(r));
    if (decimals < 0) decimals = 0;
    if (decimals > 17) decimals = 17;
    int len = snprintf(out, n, "%.*f", decimals, r);
    if (decimals > 0) {
        while (len > 0 && out[len - 1] == '0') out[--len] = '\0';
        if (len > 0 && out[len - 1] == '.') out[--len] = '\0';
    }
    return (size_t)len;
}

static void rates_and_integers_match_printf(void **state) {
    char got[64], want[64];
    double v = 1e-15;
    for (int i = 0; i < 200000; i++) {
        size_t n = jsonw_format_rate(v, got, sizeof got);
        reference_rate(v, want, sizeof want);
        if (strcmp(got, want) != 0) print_error("rate %.17g: %s, expected %s\n", v, got, want);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
        v *= 1.000237; /* walks 1e-15 .. ~4e5, through every decade and rounding carry */
    }
    const double edges[] = {0.00099995, 0.0099995, 9.9995, 99.995, 999.95, 9999.5, 12345.6, 1e17, 0.1, 0.5, 1, 3};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        jsonw_format_rate(edges[i], got, sizeof got);
        reference_rate(edges[i], want, sizeof want);
        assert_string_equal(got, want);
    }

    buf b;
    buf_init(&b, 1 << 16);
    jsonw w;
    jsonw_init(&w, &b);
    jsonw_array_begin(&w);
    const int64_t ints[] = {0, 7, -7, 10, 1000000, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) jsonw_int(&w, ints[i]);
    jsonw_double(&w, -42.0);
    jsonw_double(&w, 123456789012345.0);
    jsonw_array_end(&w);
    assert_string_equal(buf_cstr(&b),
                        "[0,7,-7,10,1000000,9223372036854775807,-9223372036854775808,-42,123456789012345]");
    buf_free(&b);
}

static void failure_is_sticky_at_the_cap(void **state) {
    buf b;
    buf_init(&b, 8);
    jsonw w;
    jsonw_init(&w, &b);
    jsonw_array_begin(&w);
    jsonw_string(&w, "too long for the cap");
    assert_true(jsonw_failed(&w));
    jsonw_int(&w, 1);
    assert_true(jsonw_failed(&w));
    assert_true(b.len <= 8);
    buf_free(&b);
}

static void nesting_beyond_the_limit_fails(void **state) {
    buf b;
    buf_init(&b, 1 << 16);
    jsonw w;
    jsonw_init(&w, &b);
    for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++) jsonw_array_begin(&w);
    assert_true(jsonw_failed(&w));
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_nested_structures_with_separators),
        cmocka_unit_test(escapes_control_quotes_and_invalid_utf8),
        cmocka_unit_test(rejects_overlong_and_surrogate_utf8),
        cmocka_unit_test(rates_keep_four_significant_digits),
        cmocka_unit_test(rates_and_integers_match_printf),
        cmocka_unit_test(rates_at_the_edges_of_double_are_json_numbers),
        cmocka_unit_test(doubles_are_shortest_and_finite),
        cmocka_unit_test(failure_is_sticky_at_the_cap),
        cmocka_unit_test(nesting_beyond_the_limit_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
