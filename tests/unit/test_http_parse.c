/* Unit tests of the pure parts of HTTP request handling (http_parse.h):
 * what http.c decides from Accept-Encoding, If-None-Match and the path
 * before it touches a socket or a file. tests/fuzz/fuzz_http.c drives the
 * same functions with hostile input. */
#include <stdio.h>
#include <string.h>

#include "http_parse.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void accept_encoding(void **state) {
    assert_false(http_accepts_gzip(NULL));
    assert_false(http_accepts_gzip(""));
    assert_true(http_accepts_gzip("gzip"));
    assert_true(http_accepts_gzip("deflate, GZIP;q=0.5, br"));
    assert_true(http_accepts_gzip("x-gzip"));
    assert_false(http_accepts_gzip("gzip;q=0"));
    assert_false(http_accepts_gzip("gzip;q=0.000"));
    assert_true(http_accepts_gzip("gzip;q=0.001"));
    assert_true(http_accepts_gzip("*"));
    assert_false(http_accepts_gzip("*;q=0"));
    assert_false(http_accepts_gzip("gzip;q=0, *")); /* the explicit name decides */
    assert_false(http_accepts_gzip("gzipx, br"));
    assert_true(http_accepts_gzip("br;q=1.0, gzip ; q=0.8"));
}

static void if_none_match(void **state) {
    const char *etag = "\"v1-abc\"";
    assert_false(http_etag_matches(NULL, etag));
    assert_false(http_etag_matches("", etag));
    assert_true(http_etag_matches("*", etag));
    assert_true(http_etag_matches("\"v1-abc\"", etag));
    assert_true(http_etag_matches("W/\"v1-abc\"", etag)); /* weak comparison */
    assert_true(http_etag_matches("\"x\", \"v1-abc\" ", etag));
    assert_false(http_etag_matches("\"v1-ab\"", etag));
    assert_false(http_etag_matches("\"v1-abc", etag)); /* unterminated */
    assert_true(http_etag_matches("\"a,b\", \"v1-abc\"", etag));
}

static void static_paths(void **state) {
    assert_true(http_safe_path("/"));
    assert_true(http_safe_path("/index.html"));
    assert_true(http_safe_path("/js/app.v1.js"));
    assert_false(http_safe_path(""));
    assert_false(http_safe_path("index.html"));
    assert_false(http_safe_path("/../etc/passwd"));
    assert_false(http_safe_path("/a/../../b"));
    assert_false(http_safe_path("/.git/config"));
    assert_false(http_safe_path("/a\\..\\b"));

    assert_true(http_path_inside("/srv/ui/index.html", "/srv/ui"));
    assert_true(http_path_inside("/srv/ui", "/srv/ui"));
    assert_false(http_path_inside("/srv/uix/secret", "/srv/ui"));
    assert_false(http_path_inside("/etc/passwd", "/srv/ui"));
    assert_true(http_path_inside("/etc/passwd", "/"));

    assert_true(http_uri_has_nul("/a%00b"));
    assert_false(http_uri_has_nul("/a?x=%00"));
    assert_false(http_uri_has_nul("/a%0"));
}

static void request_targets(void **state) {
    assert_string_equal(http_target_path("/vizceral.json"), "/vizceral.json");
    assert_string_equal(http_target_path("http://h:8080/vizceral.json"), "/vizceral.json");
    assert_string_equal(http_target_path("HTTPS://h/a/b"), "/a/b");
    assert_string_equal(http_target_path("http://h"), "/");
    assert_string_equal(http_target_path("ftp://h/x"), "ftp://h/x");
    assert_string_equal(http_target_path("*"), "*");
    assert_null(http_uri_query("/a"));
    assert_string_equal(http_uri_query("/a?b&c"), "b&c");
    assert_string_equal(http_uri_query("/a?"), "");
}

static void field_syntax(void **state) {
    assert_true(http_field_name_valid("Content-Length", 14));
    assert_true(http_field_name_valid("x!#$%&'*+-.^_`|~9", 17));
    assert_false(http_field_name_valid("", 0));
    assert_false(http_field_name_valid("Bad Name", 8));
    assert_false(http_field_name_valid("a:b", 3));
    assert_false(http_field_name_valid("\xc3\xa9", 2));
    assert_true(http_field_value_valid("", 0));
    assert_true(http_field_value_valid("a b\tc \x80\xff~", 9));
    assert_false(http_field_value_valid("a\x01b", 3));
    assert_false(http_field_value_valid("a\rb", 3));
    assert_false(http_field_value_valid("a\nb", 3));
    assert_false(http_field_value_valid("a\x7f", 2));
    assert_false(http_field_value_valid("a\0b", 3)); /* a NUL within the given length */

    assert_true(http_host_valid("", 0));
    assert_true(http_host_valid("example.com", 11));
    assert_true(http_host_valid("127.0.0.1:8080", 14));
    assert_true(http_host_valid("[::1]:80", 8));
    assert_true(http_host_valid("[::1]", 5));
    assert_true(http_host_valid("[fe80::1%25eth0]:80", 19));
    assert_true(http_host_valid("xn--bcher-kva.example:", 22)); /* empty port is allowed */
    assert_false(http_host_valid("a b", 3));
    assert_false(http_host_valid("a/b", 3));
    assert_false(http_host_valid("a:8o", 4));
    assert_false(http_host_valid("[::1", 4));
    assert_false(http_host_valid("[]", 2));
    assert_false(http_host_valid("[::1]x", 6));
    assert_false(http_host_valid("user@host", 9));
    assert_false(http_host_valid("h\xc3\xa9", 3));
}

static void framing_refusals(void **state) {
    const char *reason;
    http_head ok = {.http11 = 1, .host_count = 1, .host_valid = 1, .fields_valid = 1};
    assert_int_equal(http_head_refusal(&ok, &reason), 0);
    assert_null(reason);

    http_head h = ok;
    h.host_count = 0;
    assert_int_equal(http_head_refusal(&h, &reason), 400);
    assert_non_null(strstr(reason, "Host"));
    h.http11 = 0; /* HTTP/1.0 needs no Host */
    assert_int_equal(http_head_refusal(&h, &reason), 0);
    h = ok, h.host_count = 2;
    assert_int_equal(http_head_refusal(&h, &reason), 400);
    h = ok, h.host_valid = 0;
    assert_int_equal(http_head_refusal(&h, &reason), 400);
    h = ok, h.length_count = 1;
    assert_int_equal(http_head_refusal(&h, &reason), 0);
    h.length_count = 2;
    assert_int_equal(http_head_refusal(&h, &reason), 400);
    assert_non_null(strstr(reason, "Content-Length"));
    h = ok, h.length_count = 1, h.transfer_count = 1;
    assert_int_equal(http_head_refusal(&h, &reason), 400);
    h = ok, h.transfer_count = 2;
    assert_int_equal(http_head_refusal(&h, &reason), 400);
    h = ok, h.fields_valid = 0;
    assert_int_equal(http_head_refusal(&h, &reason), 400);
    h = ok, h.uri_too_long = 1, h.host_count = 2; /* the size is said first */
    assert_int_equal(http_head_refusal(&h, &reason), 414);
}

/* Issue 15: the bounded query parser that runs before libmicrohttpd sees
 * the arguments. */
static void query_arguments(void **state) {
    (void)state;
    http_query q;
    const char *t = "at=2026-05-04T09:12:00%2B02:00&src=x&step=1m";
    assert_int_equal(http_query_parse(t, strlen(t), &q), 0);
    assert_true(q.present[HTTP_ARG_AT]);
    assert_string_equal(q.value[HTTP_ARG_AT], "2026-05-04T09:12:00+02:00");
    assert_string_equal(q.value[HTTP_ARG_STEP], "1m");
    assert_false(q.present[HTTP_ARG_FROM]);
    assert_int_equal(q.unknown, 1);
    assert_string_equal(q.first_unknown, "src");
    /* '+' stays itself (an RFC 3339 offset written unencoded); an empty
     * value is present and empty; empty pieces and ';' separate. */
    t = "at=2026-05-04T09:12:00+02:00;;&region=&";
    assert_int_equal(http_query_parse(t, strlen(t), &q), 0);
    assert_string_equal(q.value[HTTP_ARG_AT], "2026-05-04T09:12:00+02:00");
    assert_true(q.present[HTTP_ARG_REGION]);
    assert_string_equal(q.value[HTTP_ARG_REGION], "");
    /* Only the given length counts. */
    assert_int_equal(http_query_parse("at=-15mJUNK", 7, &q), 0);
    assert_string_equal(q.value[HTTP_ARG_AT], "-15m");
    assert_int_equal(http_query_parse("", 0, &q), 0);
    assert_int_equal(q.unknown, 0);

    const char *bad[] = {"at=1&at=2", "at=%", "at=%4", "at=%zz", "at=a%00b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(http_query_parse(bad[i], strlen(bad[i]), &q), -1);
        assert_non_null(q.error);
    }
    /* Bounds: a value one byte over, and one argument too many. */
    char big[HTTP_MAX_QUERY_VALUE + 16];
    snprintf(big, sizeof big, "region=");
    memset(big + 7, 'a', HTTP_MAX_QUERY_VALUE);
    big[7 + HTTP_MAX_QUERY_VALUE] = '\0';
    assert_int_equal(http_query_parse(big, strlen(big), &q), 0);
    assert_int_equal(strlen(q.value[HTTP_ARG_REGION]), HTTP_MAX_QUERY_VALUE);
    strcat(big, "a");
    assert_int_equal(http_query_parse(big, strlen(big), &q), -1);
    char many[16 * (HTTP_MAX_QUERY_ARGS + 1)] = "";
    for (int i = 0; i <= HTTP_MAX_QUERY_ARGS; i++) strcat(many, "x=1&");
    assert_int_equal(http_query_parse(many, strlen(many), &q), -1);
    assert_string_equal(q.error, "too many query arguments");
    /* A long unknown name is cut for the message. */
    t = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1";
    assert_int_equal(http_query_parse(t, strlen(t), &q), 0);
    assert_int_equal(strlen(q.first_unknown), sizeof q.first_unknown - 1);
}

static void labels_and_types(void **state) {
    assert_string_equal(http_content_type("/srv/ui/index.html"), "text/html; charset=utf-8");
    assert_string_equal(http_content_type("/srv/ui/app.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(http_content_type("/srv/ui.d/README"), "application/octet-stream");
    assert_string_equal(http_metrics_path("/vizceral.json"), "/vizceral.json");
    assert_string_equal(http_metrics_path("/wp-admin"), "/other");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_encoding),  cmocka_unit_test(if_none_match),   cmocka_unit_test(static_paths),
        cmocka_unit_test(request_targets),  cmocka_unit_test(field_syntax),    cmocka_unit_test(framing_refusals),
        cmocka_unit_test(labels_and_types), cmocka_unit_test(query_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
