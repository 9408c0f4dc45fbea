/*
 * test_log.c - every log line is one line and carries nothing a terminal
 * acts on, whatever the message holds (issue 18: an Elasticsearch error
 * reason with a line feed and ESC forged a second line and coloured the
 * terminal). stderr is pointed at a temporary file and read back.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* What a hostile cluster put in its error reason: a forged log line, ESC
 * sequences (colour, clear screen, a window title), BEL, DEL, a C1 CSI, a
 * right-to-left override, a line separator, a byte that is not UTF-8. */
static const char hostile[] = "no such index\n2026-01-01T00:00:00.000Z info  configuration reloaded\r"
                              "\x1b[31mred\x1b[2J\x1b]0;title\x07|\x7f|\xc2\x9b"
                              "1m|\xe2\x80\xae"
                              "evil|\xe2\x80\xa8|\xff|caf\xc3\xa9";

/* Runs fn with stderr going to a file; returns what was written. */
static char *capture(void (*fn)(void)) {
    char path[] = "/tmp/vizfeed-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *text = calloc(1, 1 << 16);
    ssize_t n = pread(fd, text, (1 << 16) - 1, 0);
    assert_true(n > 0);
    close(fd);
    unlink(path);
    return text;
}

static void assert_one_safe_line(const char *text) {
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    assert_null(memchr(text, '\n', len - 1)); /* one line */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n') continue;
        assert_true(*p >= 0x20 && *p != 0x7f);                      /* no control byte */
        assert_false(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f); /* no C1 control */
        assert_false(p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xae || p[2] == 0xa8));
        assert_true(*p != 0xff);
    }
}

static void text_error(void) {
    log_setup(LOG_LEVEL_INFO, 0);
    log_error("flow 'es' failed: %s", hostile);
}

static void text_lines_are_escaped(void **state) {
    char *text = capture(text_error);
    assert_one_safe_line(text);
    assert_non_null(strstr(text, " error flow 'es' failed: no such index 2026-01-01T00:00:00.000Z info  configuration "
                                 "reloaded \\x1b[31mred\\x1b[2J\\x1b]0;title\\x07|\\x7f|\\u009b1m|\\u202eevil|"
                                 "\\u2028|\\xff|caf\xc3\xa9\n"));
    free(text);
}

static void json_error(void) {
    log_setup(LOG_LEVEL_INFO, 1);
    log_warn("%s", hostile);
}

static void json_lines_are_escaped(void **state) {
    char *text = capture(json_error);
    assert_one_safe_line(text);
    assert_non_null(strstr(text, "\"log.level\":\"warn\",\"message\":\"no such index 2026-01-01T00:00:00.000Z info  "
                                 "configuration reloaded \\\\x1b[31mred"));
    assert_non_null(strstr(text, "|\\\\u202eevil|\\\\u2028|\\\\xff|caf\xc3\xa9\"}\n"));
    free(text);
}

static void json_port(void) {
    log_setup(LOG_LEVEL_INFO, 1);
    log_msg_field(LOG_LEVEL_INFO, "server.port", 43210, "listening on %s, port %d", "127.0.0.1:0", 43210);
}

static void text_port(void) {
    log_setup(LOG_LEVEL_INFO, 0);
    log_msg_field(LOG_LEVEL_INFO, "server.port", 43210, "listening on %s, port %d", "127.0.0.1:0", 43210);
}

static void quiet_port(void) {
    log_setup(LOG_LEVEL_WARN, 1);
    log_msg_field(LOG_LEVEL_INFO, "server.port", 43210, "listening");
    log_warn("only this");
}

/* The field tests read the daemon's port from (tests/scenario/vizlib.py): after "message" in
 * JSON, absent from the text format, and subject to the level like any line. */
static void a_field_is_json_only(void **state) {
    char *text = capture(json_port);
    assert_one_safe_line(text);
    assert_non_null(strstr(text, "\"message\":\"listening on 127.0.0.1:0, port 43210\",\"server.port\":43210}\n"));
    free(text);
    text = capture(text_port);
    assert_one_safe_line(text);
    assert_non_null(strstr(text, " info  listening on 127.0.0.1:0, port 43210\n"));
    assert_null(strstr(text, "server.port"));
    free(text);
    text = capture(quiet_port);
    assert_null(strstr(text, "server.port"));
    assert_non_null(strstr(text, "only this"));
    free(text);
}

static void plain_error(void) {
    log_plain("%s", hostile);
}

static void the_commands_error_line_is_escaped(void **state) {
    char *text = capture(plain_error);
    assert_one_safe_line(text);
    assert_true(strncmp(text, "vizfeed: no such index 2026-01-01T00:00:00.000Z info  configuration reloaded \\x1b[31m",
                        83) == 0);
    free(text);
}

static void long_hostile_message(void) {
    char *big = malloc(5000);
    for (int i = 0; i < 4999; i++) big[i] = i % 3 ? '\x1b' : '\n';
    big[4999] = '\0';
    log_setup(LOG_LEVEL_INFO, 1);
    log_info("%s", big);
    log_setup(LOG_LEVEL_INFO, 0);
    log_info("%s", big);
    free(big);
}

/* The message is cut at 2 KiB before escaping; escaping it whole must still
 * fit, so that each line keeps its end ("} and the newline). */
static void a_long_message_keeps_its_line_end(void **state) {
    char *text = capture(long_hostile_message);
    char *second = strchr(text, '\n');
    assert_non_null(second);
    assert_true(second > text && second[-1] == '}');
    assert_non_null(strchr(second + 1, '\n'));
    assert_null(strchr(strchr(second + 1, '\n') + 1, '\n'));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_lines_are_escaped),
        cmocka_unit_test(json_lines_are_escaped),
        cmocka_unit_test(the_commands_error_line_is_escaped),
        cmocka_unit_test(a_long_message_keeps_its_line_end),
        cmocka_unit_test(a_field_is_json_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
