/* Unit tests of the pure parts of HTTP request handling (http_parse.h):
 * what http.c decides from Accept-Encoding, If-None-Match and the path
 * before it touches a socket or a file. tests/fuzz/fuzz_http.c drives the
 * same functions with hostile input. */
#include <string.h>

#include "http_parse.h"

/* cmocka defines a fail() macro: include it after our headers. */
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

static void labels_and_types(void **state) {
    assert_string_equal(http_content_type("/srv/ui/index.html"), "text/html; charset=utf-8");
    assert_string_equal(http_content_type("/srv/ui/app.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(http_content_type("/srv/ui.d/README"), "application/octet-stream");
    assert_string_equal(http_metrics_path("/vizceral.json"), "/vizceral.json");
    assert_string_equal(http_metrics_path("/wp-admin"), "/other");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_encoding),
        cmocka_unit_test(if_none_match),
        cmocka_unit_test(static_paths),
        cmocka_unit_test(labels_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
