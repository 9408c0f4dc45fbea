/* Unit tests of the request head scanner (http_scan.h) and the
 * Content-Length rule it shares with http.c (http_parse.h): every case is
 * fed whole, one byte at a time and in pieces of every size, and must get
 * the same verdict each way. tests/fuzz/fuzz_http_scan.c drives the scanner
 * with arbitrary bytes and splits. */
#include <stdio.h>
#include <string.h>

#include "http_parse.h"
#include "http_scan.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define GOOD "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

/* Feeds data in pieces of `piece` bytes: the verdict, and when refused,
 * the offset of the piece that refused (*off) and what that call said
 * (*at: where the refused head starts in its piece, 0 when before). */
static http_scan_verdict scan_in_pieces(const char *data, size_t n, size_t piece, size_t *off, size_t *at) {
    http_scan s;
    http_scan_init(&s);
    http_scan_verdict v = HTTP_SCAN_MORE;
    *off = *at = 0;
    for (size_t o = 0; o < n; o += piece) {
        size_t len = n - o < piece ? n - o : piece;
        v = http_scan_feed(&s, data + o, len, at);
        if (v == HTTP_SCAN_REFUSE) {
            *off = o;
            assert_non_null(s.reason);
            break;
        }
        if (v == HTTP_SCAN_PASS) break;
    }
    return v;
}

/* The verdict for data, checked to be the same for every piece size. For a
 * refusal, each call that refused must put the refused head where it is
 * (expected_start): inside its piece exactly, or before the piece. */
static http_scan_verdict scan(const char *data, size_t expected_start) {
    size_t n = strlen(data), off, at;
    http_scan_verdict whole = scan_in_pieces(data, n, n ? n : 1, &off, &at);
    if (whole == HTTP_SCAN_REFUSE) assert_int_equal(at, expected_start);
    for (size_t piece = 1; piece < n; piece++) {
        http_scan_verdict v = scan_in_pieces(data, n, piece, &off, &at);
        if (v != whole) fail_msg("pieces of %zu bytes: verdict %d, whole: %d, for %s", piece, v, whole, data);
        if (v != HTTP_SCAN_REFUSE) continue;
        if (at > 0 && off + at != expected_start)
            fail_msg("pieces of %zu bytes: refused head at %zu, not %zu", piece, off + at, expected_start);
        if (at == 0 && expected_start > off)
            fail_msg("pieces of %zu bytes: refused head before %zu, not at %zu", piece, off, expected_start);
    }
    return whole;
}

static void content_length_rule(void **state) {
    unsigned long long n;
    const char *why;
    assert_int_equal(http_content_length_parse("0", 1, &n, &why), 0);
    assert_int_equal(n, 0);
    assert_int_equal(http_content_length_parse("0034", 4, &n, &why), 0);
    assert_int_equal(n, 34);
    assert_int_equal(http_content_length_parse("9223372036854775807", 19, &n, &why), 0);
    assert_true(n == HTTP_MAX_CONTENT_LENGTH);
    assert_int_equal(http_content_length_parse("9223372036854775808", 19, &n, &why), -1);
    assert_non_null(strstr(why, "too large"));
    assert_int_equal(http_content_length_parse("100000000000000000000000", 24, &n, &why), -1);
    const char *bad[] = {"", "-1", "+34", "0, 34", "abc", "34 ", " 34", "3 4", "0x10", "1e3", "34\r"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_content_length_parse(bad[i], strlen(bad[i]), &n, &why) != -1) fail_msg("accepted '%s'", bad[i]);
}

static void good_heads_pass_through(void **state) {
    assert_int_equal(scan(GOOD, 0), HTTP_SCAN_MORE);
    assert_int_equal(scan(GOOD GOOD GOOD, 0), HTTP_SCAN_MORE);
    assert_int_equal(scan("\r\n\r\n" GOOD "\n" GOOD, 0), HTTP_SCAN_MORE); /* empty lines before a request */
    assert_int_equal(scan("GET / HTTP/1.1\nHost: t\nContent-Length: 0\n\n" GOOD, 0), HTTP_SCAN_MORE);
    assert_int_equal(scan("GET / HTTP/1.1\r\nContent-Length:  \t 0 \r\n", 0), HTTP_SCAN_REFUSE); /* trailing blank */
    assert_int_equal(scan("GET / HTTP/1.1\r\nContent-Length:\t0\r\n\r\n" GOOD, 0), HTTP_SCAN_MORE);
    /* Other fields, however close their names, are not this check's. */
    assert_int_equal(scan("GET / HTTP/1.1\r\nX-Content-Length: abc\r\nContent-Lengths: x\r\n"
                          "Content-Length : abc\r\nContent-Lengt: x\r\nTransfer-Encodin: x\r\n\r\n" GOOD,
                          0),
                     HTTP_SCAN_MORE);
    /* A request line that looks like a field. */
    assert_int_equal(scan("Content-Length: abc\r\nHost: t\r\n\r\n", 0), HTTP_SCAN_MORE);
}

static void invalid_lengths_are_refused(void **state) {
    const char *values[] = {"-1",
                            "+34",
                            "0, 34",
                            "abc",
                            "100000000000000000000000",
                            "",
                            "34 ",
                            "5\rx",
                            "0000000000000000000000001" /* 25 bytes */};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char head[256];
        snprintf(head, sizeof head, "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: %s\r\n\r\n" GOOD, values[i]);
        if (scan(head, 0) != HTTP_SCAN_REFUSE) fail_msg("not refused: '%s'", values[i]);
    }
    /* 24 bytes still fit. */
    assert_int_equal(scan("GET / HTTP/1.1\r\nContent-Length: 000000000000000000000034\r\n\r\n", 0), HTTP_SCAN_PASS);
    /* Any case; bare LF; the second of two. */
    assert_int_equal(scan("GET / HTTP/1.1\ncOnTeNt-LeNgTh: x\n\n", 0), HTTP_SCAN_REFUSE);
    assert_int_equal(scan("GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: x\r\n\r\n", 0), HTTP_SCAN_REFUSE);
    /* Folded onto the next line: libmicrohttpd would read 34. */
    assert_int_equal(scan("GET / HTTP/1.1\r\nContent-Length: 3\r\n 4\r\n\r\n", 0), HTTP_SCAN_REFUSE);
    assert_int_equal(scan("GET / HTTP/1.1\r\nContent-Length: 3\r\n\t4\r\n\r\n", 0), HTTP_SCAN_REFUSE);
    /* A folded line after another field is not this check's. */
    assert_int_equal(scan("GET / HTTP/1.1\r\nX-A: 3\r\n 4\r\n\r\n", 0), HTTP_SCAN_MORE);
}

static void pipelined_heads_before_a_refused_one(void **state) {
    const char *bad = "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n";
    char data[512];
    snprintf(data, sizeof data, "%s%s%s", GOOD, GOOD, bad);
    assert_int_equal(scan(data, 2 * strlen(GOOD)), HTTP_SCAN_REFUSE);
    /* The empty lines between two requests go with the second. */
    snprintf(data, sizeof data, "%s\r\n\r\n%s", GOOD, bad);
    assert_int_equal(scan(data, strlen(GOOD)), HTTP_SCAN_REFUSE);
    /* Refused, the verdict stays, whatever follows. */
    http_scan s;
    size_t at;
    http_scan_init(&s);
    assert_int_equal(http_scan_feed(&s, bad, strlen(bad), &at), HTTP_SCAN_REFUSE);
    assert_int_equal(at, 0);
    assert_int_equal(http_scan_feed(&s, GOOD, strlen(GOOD), &at), HTTP_SCAN_REFUSE);
}

static void a_body_ends_the_scan(void **state) {
    /* After a head with a body vizfeed closes the connection: what follows
     * is never a head, even if it looks like a bad one. */
    assert_int_equal(
        scan("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 0),
        HTTP_SCAN_PASS);
    assert_int_equal(scan("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0), HTTP_SCAN_PASS);
    assert_int_equal(scan("POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\nContent-Length: x\r\n", 0),
                     HTTP_SCAN_PASS);
    /* A head announcing a body is still checked to its end. */
    assert_int_equal(scan("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: +5\r\n\r\nhello", 0),
                     HTTP_SCAN_REFUSE);
    /* Until its end, no verdict. */
    assert_int_equal(scan("POST / HTTP/1.1\r\nContent-Length: 5\r\n", 0), HTTP_SCAN_MORE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_length_rule),         cmocka_unit_test(good_heads_pass_through),
        cmocka_unit_test(invalid_lengths_are_refused), cmocka_unit_test(pipelined_heads_before_a_refused_one),
        cmocka_unit_test(a_body_ends_the_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
