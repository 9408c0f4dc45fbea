/* Unit tests of recording.c, the layout --record writes and replay reads:
 * what recording_write_page() writes is what the listing and the head
 * reader give back, a flow name becomes one safe path component, a second
 * run continues the refresh numbering, a request without an answer has no
 * response file, numbers that outgrow their padding keep their order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recording.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static int setup(void **state) {
    char *dir = malloc(64);
    snprintf(dir, 64, "/tmp/vizfeed-recording-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", (char *)*state);
    int rc = system(cmd);
    free(*state);
    return rc == 0 ? 0 : -1;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void write_page(const char *flow_dir, unsigned long refresh, unsigned page, int status, const char *answer) {
    buf a;
    buf_init(&a, 1 << 16);
    buf_puts(&a, answer);
    char err[ERR_LEN];
    assert_int_equal(
        recording_write_page(flow_dir, refresh, page, "/logs-*/_search", "{\"size\":0}", 10, status, &a, err), 0);
    buf_free(&a);
}

static void written_pages_read_back(void **state) {
    const char *root = *state;
    char *dir = NULL, err[ERR_LEN];
    unsigned long last = 99;
    assert_int_equal(recording_flow_dir(root, "web/api", &dir, &last, err), 0);
    assert_int_equal(last, 0);
    char expected[128];
    snprintf(expected, sizeof expected, "%s/web_api", root);
    assert_string_equal(dir, expected);

    write_page(dir, 1, 1, 200, "{\"hits\":{}}");
    write_page(dir, 1, 2, -1, ""); /* no answer arrived */

    char path[512];
    snprintf(path, sizeof path, "%s/000001/0001.request.json", dir);
    char *text = slurp(path);
    assert_non_null(text);
    assert_string_equal(text, "{\"method\":\"POST\",\"path\":\"/logs-*/_search\",\"body\":{\"size\":0}}\n");
    free(text);

    char **names;
    size_t n;
    assert_int_equal(recording_list_refreshes(dir, &names, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "000001");
    recording_free_names(names, n);

    char refresh_dir[512];
    snprintf(refresh_dir, sizeof refresh_dir, "%s/000001", dir);
    assert_int_equal(recording_list_pages(refresh_dir, &names, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "0001.request.json");
    assert_string_equal(names[1], "0002.request.json");

    recording_response_path(refresh_dir, names[0], path, sizeof path);
    text = slurp(path);
    assert_non_null(text);
    int status = 0;
    size_t head = recording_parse_head(text, &status);
    assert_int_equal(status, 200);
    assert_string_equal(text + head, "{\"hits\":{}}");
    free(text);

    recording_response_path(refresh_dir, names[1], path, sizeof path);
    assert_int_equal(access(path, F_OK), -1); /* the replay reads this as "the request failed" */
    recording_free_names(names, n);
    free(dir);
}

static void second_run_continues_numbering(void **state) {
    const char *root = *state;
    char *dir = NULL, err[ERR_LEN];
    unsigned long last;
    assert_int_equal(recording_flow_dir(root, "f", &dir, &last, err), 0);
    write_page(dir, 7, 1, 200, "{}");
    write_page(dir, 10000000, 1, 200, "{}"); /* outgrows the 6-digit padding */
    free(dir);
    assert_int_equal(recording_flow_dir(root, "f", &dir, &last, err), 0);
    assert_int_equal(last, 10000000);
    char **names;
    size_t n;
    assert_int_equal(recording_list_refreshes(dir, &names, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "000007");
    assert_string_equal(names[1], "10000000");
    recording_free_names(names, n);
    free(dir);
}

static void unsafe_flow_names_stay_inside(void **state) {
    const char *root = *state;
    char *dir = NULL, err[ERR_LEN], expected[128];
    unsigned long last;
    assert_int_equal(recording_flow_dir(root, "..", &dir, &last, err), 0);
    snprintf(expected, sizeof expected, "%s/_..", root);
    assert_string_equal(dir, expected);
    free(dir);
    assert_int_equal(recording_flow_dir(root, "", &dir, &last, err), 0);
    snprintf(expected, sizeof expected, "%s/_", root);
    assert_string_equal(dir, expected);
    free(dir);
}

static void heads_and_errors(void **state) {
    int status = 0;
    assert_int_equal(recording_parse_head("HTTP 429\n{}", &status), 9);
    assert_int_equal(status, 429);
    assert_int_equal(recording_parse_head("{\"took\":1}", &status), 0);

    char path[512], err[ERR_LEN], **names;
    size_t n;
    snprintf(path, sizeof path, "%s/missing", (char *)*state);
    assert_int_equal(recording_list_refreshes(path, &names, &n, err), -1);
    assert_non_null(strstr(err, path));
    /* A parent that is a file: the directory cannot be made, and err says which. */
    snprintf(path, sizeof path, "%s/file", (char *)*state);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    char *dir = NULL;
    unsigned long last;
    assert_int_equal(recording_flow_dir(path, "f", &dir, &last, err), -1);
    assert_null(dir);
    assert_non_null(strstr(err, "cannot create"));
}

/* What does not fit is refused with its reason, never written cut: a
 * request file longer than RECORDING_MAX_REQUEST (a cut body would replay
 * as another query) and a flow directory longer than 64 KiB. */
static void too_long_is_refused(void **state) {
    const char *root = *state;
    char *dir = NULL, err[ERR_LEN], flow_dir[512];
    unsigned long last;
    assert_int_equal(recording_flow_dir(root, "f", &dir, &last, err), 0);
    snprintf(flow_dir, sizeof flow_dir, "%s", dir);
    free(dir);
    size_t n = RECORDING_MAX_REQUEST;
    char *body = malloc(n + 1);
    memset(body, ' ', n);
    body[0] = '{', body[n - 1] = '}', body[n] = '\0';
    buf answer;
    buf_init(&answer, 64);
    buf_puts(&answer, "{}");
    err[0] = '\0';
    assert_int_equal(recording_write_page(flow_dir, 1, 1, "/logs-*/_search", body, n, 200, &answer, err), -1);
    char expected[ERR_LEN + 64], path[600];
    snprintf(expected, sizeof expected, "recording %s/000001/0001: the request is longer than %d bytes", flow_dir,
             RECORDING_MAX_REQUEST);
    assert_string_equal(err, expected);
    snprintf(path, sizeof path, "%s/000001/0001.request.json", flow_dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/000001/0001.response.json", flow_dir);
    assert_int_equal(access(path, F_OK), -1);
    /* The largest body that fits is written whole. */
    size_t fits = RECORDING_MAX_REQUEST - 200;
    body[fits - 1] = '}', body[fits] = '\0';
    assert_int_equal(recording_write_page(flow_dir, 1, 1, "/logs-*/_search", body, fits, 200, &answer, err), 0);
    struct stat st;
    snprintf(path, sizeof path, "%s/000001/0001.request.json", flow_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true((size_t)st.st_size > fits);
    buf_free(&answer);
    free(body);

    char *long_root = malloc(70000);
    memset(long_root, 'r', 69999);
    long_root[0] = '/', long_root[69999] = '\0';
    dir = (char *)1;
    assert_int_equal(recording_flow_dir(long_root, "flow1", &dir, &last, err), -1);
    assert_null(dir);
    assert_string_equal(err, "recording directory for flow 'flow1' is too long");
    free(long_root);
}

/* A refresh's window is the range filter of its first request, as
 * es_query.c writes it; a body without one, or not JSON, names none. */
static void refresh_windows(void **state) {
    const char *root = *state;
    char dir[256], refresh[300], err[ERR_LEN];
    snprintf(dir, sizeof dir, "%s/flow", root);
    buf a;
    buf_init(&a, 64);
    buf_puts(&a, "{}");
    const char *ranged =
        "{\"size\":0,\"query\":{\"bool\":{\"filter\":[{\"range\":{\"@timestamp\":{\"gte\":-5000,\"lt\":"
        "1767225720000,\"format\":\"epoch_millis\"}}},{\"range\":{\"x\":{\"gte\":1,\"lt\":2}}}]}}}";
    assert_int_equal(recording_write_page(dir, 1, 1, "/x/_search", ranged, strlen(ranged), 200, &a, err), 0);
    const char *second = "{\"query\":{\"bool\":{\"filter\":[{\"range\":{\"t\":{\"gte\":1,\"lt\":2}}}]}}}";
    assert_int_equal(recording_write_page(dir, 1, 2, "/x/_search", second, strlen(second), 200, &a, err), 0);
    const char *none = "{\"size\":0,\"aggs\":{\"range\":{\"gte\":1,\"lt\":2}}}";
    assert_int_equal(recording_write_page(dir, 2, 1, "/x/_search", none, strlen(none), 200, &a, err), 0);
    assert_int_equal(recording_write_page(dir, 3, 1, "/x/_search", "{not json", 9, 200, &a, err), 0);
    buf_free(&a);

    int64_t start = 0, end = 0;
    snprintf(refresh, sizeof refresh, "%s/000001", dir);
    assert_int_equal(recording_refresh_window(refresh, &start, &end, err), 1);
    assert_int_equal(start, -5000); /* the first page's, not the second filter's nor the second page's */
    assert_int_equal(end, 1767225720000);
    snprintf(refresh, sizeof refresh, "%s/000002", dir);
    assert_int_equal(recording_refresh_window(refresh, &start, &end, err), 0);
    snprintf(refresh, sizeof refresh, "%s/000003", dir);
    assert_int_equal(recording_refresh_window(refresh, &start, &end, err), 0);
    snprintf(refresh, sizeof refresh, "%s/000009", dir);
    assert_int_equal(recording_refresh_window(refresh, &start, &end, err), -1);
    assert_non_null(strstr(err, "000009"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(written_pages_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(second_run_continues_numbering, setup, teardown),
        cmocka_unit_test_setup_teardown(unsafe_flow_names_stay_inside, setup, teardown),
        cmocka_unit_test_setup_teardown(heads_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(too_long_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_windows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
