/*
 * test_source_file.c - the file source on real files in a temporary
 * directory: windows, classification, counts, following a growing file,
 * rotation, truncation, bad lines, and Elasticsearch hits.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "bounds.h"
#include "source.h"
#include "util.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define T0       1767225600000LL /* 2026-01-01T00:00:00Z */
#define MINUTE   60000LL
#define MAX_ROWS 64

typedef struct {
    char *value[EP_COUNT];
    double count[CLASS_COUNT];
    latency lat;
} row;

typedef struct {
    char dir[64];
    char path[128];
    cfg_value outcome;
    condition where, warning, danger[2];
    flow_config flow;
    source *src;
    row rows[MAX_ROWS];
    size_t nrows;
    int stop_after; /* emit fails after this many rows; 0 = never */
    char err[ERR_LEN];
} fixture;

/* A web flow: event.dataset "web" only; 4xx warning; 5xx or a failed
 * outcome danger. */
static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/vizfeed-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/events.ndjson", f->dir);

    static cfg_value web = {.type = VALUE_STRING, .text = "web"};
    f->outcome = (cfg_value){.type = VALUE_STRING, .text = "failure"};
    f->where = (condition){.kind = COND_EQUALS, .field = "event.dataset", .values = &web, .nvalues = 1};
    f->warning = (condition){.kind = COND_RANGE, .field = "http.response.status_code"};
    f->warning.has_bound[BOUND_GTE] = f->warning.has_bound[BOUND_LT] = true;
    f->warning.bound[BOUND_GTE] = 400;
    f->warning.bound[BOUND_LT] = 500;
    f->danger[0] = (condition){.kind = COND_RANGE, .field = "http.response.status_code"};
    f->danger[0].has_bound[BOUND_GTE] = true;
    f->danger[0].bound[BOUND_GTE] = 500;
    f->danger[1] = (condition){.kind = COND_EQUALS, .field = "event.outcome", .values = &f->outcome, .nvalues = 1};

    f->flow.name = "test";
    f->flow.type = FLOW_FILE;
    f->flow.path = f->path;
    f->flow.where = (condition_list){&f->where, 1};
    f->flow.warning = (condition_list){&f->warning, 1};
    f->flow.danger = (condition_list){f->danger, 2};
    f->flow.fields[EP_FROM_SERVICE] = "client.service";
    f->flow.fields[EP_FROM_REGION] = "";
    f->flow.fields[EP_FROM_HOST] = "";
    f->flow.fields[EP_TO_SERVICE] = "service.name";
    f->flow.fields[EP_TO_REGION] = "cloud.region";
    f->flow.fields[EP_TO_HOST] = "host.name";
    f->flow.count_field = "";
    f->flow.timestamp_field = "@timestamp";
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (f->src) source_file_ops.close(f->src);
    for (size_t i = 0; i < f->nrows; i++)
        for (int j = 0; j < EP_COUNT; j++) free(f->rows[i].value[j]);
    DIR *dir = opendir(f->dir);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        char p[512];
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    if (dir) closedir(dir);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void append(const char *path, const char *text) {
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* One Beats-style event as a line. host may be NULL (no host field). */
static char *event(int64_t ts, const char *from, const char *to, const char *host, int status) {
    static char line[1024];
    char when[32];
    util_format_time_ms(ts, when, sizeof when);
    char host_part[128] = "";
    if (host) snprintf(host_part, sizeof host_part, ",\"host\":{\"name\":\"%s\"}", host);
    snprintf(line, sizeof line,
             "{\"@timestamp\":\"%s\",\"event\":{\"dataset\":\"web\"},\"client\":{\"service\":\"%s\"},"
             "\"service\":{\"name\":\"%s\"}%s,\"http\":{\"response\":{\"status_code\":%d}}}\n",
             when, from, to, host_part, status);
    return line;
}

static int keep_row(void *ctx, const raw_row *r) {
    fixture *f = ctx;
    if (f->stop_after && (int)f->nrows == f->stop_after) return 1;
    assert_true(f->nrows < MAX_ROWS);
    row *out = &f->rows[f->nrows++];
    for (int i = 0; i < EP_COUNT; i++) out->value[i] = r->value[i] ? strdup(r->value[i]) : NULL;
    memcpy(out->count, r->count, sizeof out->count);
    out->lat = r->lat;
    return 0;
}

static void open_source(fixture *f) {
    f->src = source_file_ops.open(&f->flow, NULL, f->err);
    if (!f->src) print_error("open: %s\n", f->err);
    assert_non_null(f->src);
}

/* Collects [start, end) into f->rows (replacing what was there). */
static int collect(fixture *f, int64_t start, int64_t end) {
    for (size_t i = 0; i < f->nrows; i++)
        for (int j = 0; j < EP_COUNT; j++) free(f->rows[i].value[j]);
    f->nrows = 0;
    int rc = source_file_ops.collect(f->src, start, end, keep_row, f, f->err);
    if (rc < 0 && !f->stop_after) print_error("collect: %s\n", f->err);
    return rc;
}

static const row *find(const fixture *f, const char *from, const char *to) {
    for (size_t i = 0; i < f->nrows; i++)
        if (util_str_eq(f->rows[i].value[EP_FROM_SERVICE], from) && util_str_eq(f->rows[i].value[EP_TO_SERVICE], to))
            return &f->rows[i];
    return NULL;
}

static double total(const fixture *f) {
    double sum = 0;
    for (size_t i = 0; i < f->nrows; i++)
        for (int c = 0; c < CLASS_COUNT; c++) sum += f->rows[i].count[c];
    return sum;
}

static source_stats stats(const fixture *f) {
    source_stats s;
    source_file_ops.stats(f->src, &s);
    return s;
}

static void test_ops_for(void **state) {
    assert_ptr_equal(source_ops_for(FLOW_FILE), &source_file_ops);
    assert_ptr_equal(source_ops_for(FLOW_DEMO), &source_demo_ops);
    assert_ptr_equal(source_ops_for(FLOW_ELASTICSEARCH), &source_es_ops);
    assert_ptr_equal(source_ops_for(FLOW_REPLAY), &source_replay_ops);
    assert_string_equal(source_file_ops.type, "file");
}

static void test_window_bounds(void **state) {
    fixture *f = *state;
    append(f->path, event(T0 - 1, "a", "b", "h1", 200));
    append(f->path, event(T0, "a", "b", "h1", 200));
    append(f->path, event(T0 + 1000, "a", "b", "h1", 200));
    append(f->path, event(T0 + MINUTE - 1, "a", "b", "h1", 200));
    append(f->path, event(T0 + MINUTE, "a", "b", "h1", 200));
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 1);
    const row *r = find(f, "a", "b");
    assert_non_null(r);
    assert_true(r->count[CLASS_NORMAL] == 3);
    assert_string_equal(r->value[EP_TO_HOST], "h1");
    assert_null(r->value[EP_FROM_REGION]);
    assert_null(r->value[EP_TO_REGION]);
    assert_int_equal(stats(f).events, 5);
    /* The event at the end is kept for the next window. */
    assert_int_equal(collect(f, T0 + MINUTE, T0 + 2 * MINUTE), 0);
    assert_true(total(f) == 1);
}

static void test_classification(void **state) {
    fixture *f = *state;
    append(f->path, event(T0, "a", "b", "h", 200));
    append(f->path, event(T0, "a", "b", "h", 404));
    append(f->path, event(T0, "a", "b", "h", 499));
    append(f->path, event(T0, "a", "b", "h", 503));
    append(f->path, event(T0, "c", "b", "h", 200));
    /* danger wins over warning; event.outcome alone makes danger */
    append(f->path, "{\"@timestamp\":\"2026-01-01T00:00:01Z\",\"event\":{\"dataset\":\"web\",\"outcome\":\"failure\"},"
                    "\"client.service\":\"a\",\"service.name\":\"b\",\"host.name\":\"h\","
                    "\"http\":{\"response\":{\"status_code\":404}}}\n");
    append(f->path, "{\"@timestamp\":\"2026-01-01T00:00:01Z\",\"event\":{\"dataset\":\"web\",\"outcome\":\"failure\"},"
                    "\"client.service\":\"a\",\"service.name\":\"b\",\"host.name\":\"h\"}\n");
    /* where: other datasets do not count */
    append(f->path, "{\"@timestamp\":\"2026-01-01T00:00:01Z\",\"event\":{\"dataset\":\"db\"},"
                    "\"client.service\":\"a\",\"service.name\":\"b\",\"host.name\":\"h\"}\n");
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 2);
    const row *ab = find(f, "a", "b"), *cb = find(f, "c", "b");
    assert_non_null(ab);
    assert_non_null(cb);
    assert_true(ab->count[CLASS_NORMAL] == 1);
    assert_true(ab->count[CLASS_WARNING] == 2);
    assert_true(ab->count[CLASS_DANGER] == 3);
    assert_true(cb->count[CLASS_NORMAL] == 1 && cb->count[CLASS_WARNING] == 0 && cb->count[CLASS_DANGER] == 0);
    assert_int_equal(stats(f).events, 7);
}

static void test_count_field(void **state) {
    fixture *f = *state;
    f->flow.count_field = "span.count";
    const char *counts[] = {"5", "\"7\"", NULL, "[1,2]", "\"x\"", "0.5"};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        char line[512];
        snprintf(line, sizeof line,
                 "{\"@timestamp\":%lld,\"event.dataset\":\"web\",\"client.service\":\"a\",\"service.name\":\"b\""
                 "%s%s%s}\n",
                 (long long)T0 + (long long)i, counts[i] ? ",\"span\":{\"count\":" : "", counts[i] ? counts[i] : "",
                 counts[i] ? "}" : "");
        append(f->path, line);
    }
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 1);
    /* 5 + 7 + 0 (missing) + 3 + 0 (not a number) + 0.5 */
    assert_true(f->rows[0].count[CLASS_NORMAL] == 15.5);
    assert_int_equal(stats(f).events, 6);
}

/* A duration field holding a histogram is read as Elasticsearch's sum,
 * value_count and max read a histogram field (values times counts, the
 * counts, the largest value), zero counts dropped; a histogram Elasticsearch
 * would refuse to index adds nothing. */
static void test_histogram_latency(void **state) {
    fixture *f = *state;
    f->flow.latency_field = "h";
    f->flow.latency_unit_ms = 1000;
    const char *hist[] = {
        "{\"values\":[0.1,0.2,0.4],\"counts\":[3,1,0]}", /* b0: 0.5 s over 4, max 0.2 s */
        "{\"values\":[0.2,0.1],\"counts\":[1,1]}",       /* b1: values out of order */
        "{\"values\":[0.1],\"counts\":[1,2]}",           /* b2: lengths differ */
        "{\"values\":[0.1],\"counts\":[-1]}",            /* b3: a negative count */
        "{\"values\":[0.1],\"counts\":[1.5]}",           /* b4: a fractional count */
        "{\"values\":[0.1,\"x\"],\"counts\":[1,1]}",     /* b5: a value that is no number */
    };
    for (size_t i = 0; i < sizeof hist / sizeof hist[0]; i++) {
        char line[512];
        snprintf(line, sizeof line,
                 "{\"@timestamp\":%lld,\"event.dataset\":\"web\",\"client.service\":\"a\",\"service.name\":\"b%zu\","
                 "\"h\":%s}\n",
                 (long long)T0 + (long long)i, i, hist[i]);
        append(f->path, line);
    }
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 6);
    const row *r = find(f, "a", "b0");
    assert_non_null(r);
    assert_true(fabs(r->lat.sum_ms - 500) < 1e-9 && r->lat.n == 4 && fabs(r->lat.max_ms - 200) < 1e-9);
    for (int i = 1; i < 6; i++) {
        char to[8];
        snprintf(to, sizeof to, "b%d", i);
        assert_non_null(r = find(f, "a", to));
        assert_true(r->lat.n == 0 && r->lat.sum_ms == 0);
    }
}

/* latency.weight: each duration weighs its document's weight field, 1
 * where it has none (the representative count of a sampled span). */
static void test_weighted_latency(void **state) {
    fixture *f = *state;
    f->flow.latency_field = "d";
    f->flow.latency_weight_field = "w";
    f->flow.latency_unit_ms = 1;
    append(f->path, "{\"@timestamp\":1767225600000,\"event.dataset\":\"web\",\"client.service\":\"a\","
                    "\"service.name\":\"b\",\"d\":10,\"w\":3}\n"
                    "{\"@timestamp\":1767225600001,\"event.dataset\":\"web\",\"client.service\":\"a\","
                    "\"service.name\":\"b\",\"d\":20}\n"
                    "{\"@timestamp\":1767225600002,\"event.dataset\":\"web\",\"client.service\":\"a\","
                    "\"service.name\":\"b\",\"w\":5}\n");
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 1);
    /* 10 x 3 + 20 x 1 over 4 calls: 12.5 ms; the third has no duration and weighs nothing. */
    assert_true(fabs(f->rows[0].lat.sum_ms - 50) < 1e-9 && f->rows[0].lat.n == 4);
    assert_true(f->rows[0].lat.max_ms == 20);
}

static void test_growth(void **state) {
    fixture *f = *state;
    append(f->path, event(T0, "a", "b", "h", 200));
    append(f->path, event(T0 + 1, "a", "b", "h", 200));
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 2);
    append(f->path, event(T0 + 2, "a", "b", "h", 500));
    append(f->path, event(T0 + 3, "a", "x", "h", 200));
    append(f->path, event(T0 + 4, "a", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 5);
    assert_int_equal(f->nrows, 2);
    assert_true(find(f, "a", "b")->count[CLASS_DANGER] == 1);
    /* Nothing new: the same answer. */
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 5);
}

static void test_partial_line(void **state) {
    fixture *f = *state;
    char line[1024];
    strcpy(line, event(T0 + 5, "a", "b", "h", 200));
    append(f->path, event(T0, "a", "b", "h", 200));
    size_t half = strlen(line) / 2;
    char head[1024];
    memcpy(head, line, half);
    head[half] = '\0';
    append(f->path, head);
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 1);
    append(f->path, line + half);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 2);
    assert_int_equal(stats(f).malformed, 0);
}

static void test_rotation(void **state) {
    fixture *f = *state;
    char old[256];
    snprintf(old, sizeof old, "%s.1", f->path);
    append(f->path, event(T0, "a", "b", "h", 200));
    append(f->path, event(T0 + 1, "a", "b", "h", 200));
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 2);

    /* The writer adds a line, renames its file away and starts a new one;
     * the source reads both the old file's tail and the new file. */
    append(f->path, event(T0 + 2, "a", "b", "h", 200));
    assert_int_equal(rename(f->path, old), 0);
    append(f->path, event(T0 + 3, "c", "b", "h", 200));
    append(f->path, event(T0 + 4, "c", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(find(f, "a", "b")->count[CLASS_NORMAL] == 3);
    assert_true(find(f, "c", "b")->count[CLASS_NORMAL] == 2);
    assert_int_equal(stats(f).rotations, 1);

    append(f->path, event(T0 + 5, "c", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(find(f, "c", "b")->count[CLASS_NORMAL] == 3);
    assert_int_equal(stats(f).rotations, 1);

    /* Renamed away and not yet replaced: nothing is lost or doubled. */
    assert_int_equal(rename(f->path, old), 0);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 6);
    append(f->path, event(T0 + 6, "d", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 7);
    assert_int_equal(stats(f).rotations, 2);
    assert_int_equal(stats(f).events, 7);
}

static void test_truncation(void **state) {
    fixture *f = *state;
    append(f->path, event(T0, "a", "b", "h", 200));
    append(f->path, event(T0 + 1, "a", "b", "h", 200));
    append(f->path, event(T0 + 2, "a", "b", "h", 200));
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 3);
    /* copytruncate: the events already read stay counted; the file is read
     * again from its start. */
    assert_int_equal(truncate(f->path, 0), 0);
    append(f->path, event(T0 + 3, "c", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 4);
    assert_true(find(f, "c", "b")->count[CLASS_NORMAL] == 1);
    assert_int_equal(stats(f).rotations, 1);
}

/* Rewrites the file in place, as logrotate's copytruncate and a writer that
 * goes on do: the same inode, truncated, then the new lines. */
static void rewrite_in_place(const char *path, const char *text) {
    FILE *fp = fopen(path, "r+");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), 0), 0);
    fputs(text, fp);
    fclose(fp);
}

static off_t file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* copytruncate at three speeds: between two collects the file is truncated
 * and grows again to less than, exactly as much as, and more than what was
 * read. Each time the new content is read whole from its start, no fragment
 * is taken for a line, and an append afterwards is read once. Before the
 * first bytes were compared, the "equal" case lost both new lines and the
 * "more" case lost its head and counted a fragment as malformed. */
static void test_copytruncate_regrown(void **state) {
    fixture *f = *state;
    char two_old[2048], line[1024];
    snprintf(two_old, sizeof two_old, "%s", event(T0, "a", "b", "h1", 200));
    strcat(two_old, event(T0 + 1, "a", "b", "h1", 200));
    append(f->path, two_old);
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 2);
    off_t old_size = file_size(f->path);

    /* Less: one line of another edge. */
    rewrite_in_place(f->path, event(T0 + 2, "c", "b", "h1", 200));
    assert_true(file_size(f->path) < old_size);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(find(f, "c", "b")->count[CLASS_NORMAL] == 1);
    assert_true(total(f) == 3);
    assert_int_equal(stats(f).rotations, 1);

    /* Equal: as many bytes as were read, in two lines of other edges ("x"
     * and "y" as long as "a"; h2 as long as h1). */
    append(f->path, event(T0 + 3, "c", "b", "h1", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 4);
    old_size = file_size(f->path);
    char two_new[2048];
    snprintf(two_new, sizeof two_new, "%s", event(T0 + 4, "x", "b", "h2", 200));
    strcat(two_new, event(T0 + 5, "y", "b", "h2", 200));
    rewrite_in_place(f->path, two_new);
    assert_true(file_size(f->path) == old_size);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_non_null(find(f, "x", "b"));
    assert_non_null(find(f, "y", "b"));
    assert_true(total(f) == 6);
    assert_int_equal(stats(f).rotations, 2);

    /* More: three longer lines, the old offset falling inside the second. */
    old_size = file_size(f->path);
    char three[4096];
    snprintf(three, sizeof three, "%s", event(T0 + 6, "first-caller", "b", "host-long", 200));
    strcat(three, event(T0 + 7, "second-caller", "b", "host-long", 200));
    strcat(three, event(T0 + 8, "third-caller", "b", "host-long", 200));
    rewrite_in_place(f->path, three);
    assert_true(file_size(f->path) > old_size);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_non_null(find(f, "first-caller", "b"));
    assert_non_null(find(f, "second-caller", "b"));
    assert_non_null(find(f, "third-caller", "b"));
    assert_true(total(f) == 9);
    assert_int_equal(stats(f).malformed, 0);
    assert_int_equal(stats(f).rotations, 3);

    /* An append is still an append: only the new line is read. */
    snprintf(line, sizeof line, "%s", event(T0 + 9, "third-caller", "b", "host-long", 200));
    append(f->path, line);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(find(f, "third-caller", "b")->count[CLASS_NORMAL] == 2);
    assert_true(total(f) == 10);
    assert_int_equal(stats(f).rotations, 3);
    assert_int_equal(stats(f).events, 10);

    /* Rotation by rename still works after all that. */
    char old[256];
    snprintf(old, sizeof old, "%s.1", f->path);
    assert_int_equal(rename(f->path, old), 0);
    append(f->path, event(T0 + 10, "z", "b", "h1", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 11);
    assert_int_equal(stats(f).rotations, 4);
    assert_int_equal(stats(f).malformed, 0);
}

/* The path rotated to something that cannot be followed (a FIFO with no
 * writer, which a blocking open would wait on for ever): the collect fails
 * at once, saying so, and what was read stays; once a regular file is back
 * it is read. */
static void test_rotated_to_a_fifo(void **state) {
    fixture *f = *state;
    append(f->path, event(T0, "a", "b", "h", 200));
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    char old[256];
    snprintf(old, sizeof old, "%s.1", f->path);
    assert_int_equal(rename(f->path, old), 0);
    assert_int_equal(mkfifo(f->path, 0600), 0);
    assert_int_equal(collect(f, T0, T0 + MINUTE), -1);
    assert_non_null(strstr(f->err, "not a regular file"));
    assert_int_equal(unlink(f->path), 0);
    append(f->path, event(T0 + 1, "c", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 2);
    assert_non_null(find(f, "c", "b"));
}

static void test_bad_lines(void **state) {
    fixture *f = *state;
    append(f->path, "garbage\n[1,2]\n\n   \n{\"a\":\n");
    /* no timestamp, and one that cannot be read */
    append(f->path, "{\"event.dataset\":\"web\",\"client.service\":\"a\",\"service.name\":\"b\"}\n");
    append(f->path, "{\"@timestamp\":\"yesterday\",\"event.dataset\":\"web\",\"service.name\":\"b\"}\n");
    /* an oversize line, then a good one */
    size_t big = VIZ_MAX_LINE_BYTES + 100;
    char *huge = malloc(big + 2);
    memset(huge, 'x', big);
    memcpy(huge, "{\"m\":\"", 6);
    huge[big] = '\n';
    huge[big + 1] = '\0';
    append(f->path, huge);
    append(f->path, event(T0, "a", "b", "h", 200));
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 1);
    source_stats s = stats(f);
    assert_int_equal(s.malformed, 3);
    assert_int_equal(s.no_timestamp, 2);
    assert_int_equal(s.oversize, 1);
    assert_int_equal(s.events, 1);

    /* An oversize line whose end arrives in a later collect. */
    huge[big] = '\0';
    append(f->path, huge + VIZ_MAX_LINE_BYTES / 2);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    append(f->path, huge + VIZ_MAX_LINE_BYTES / 2);
    append(f->path, "\n");
    append(f->path, event(T0 + 1, "a", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 2);
    s = stats(f);
    assert_int_equal(s.oversize, 2);
    assert_int_equal(s.malformed, 3);
    free(huge);
}

static void test_file_appears(void **state) {
    fixture *f = *state;
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 0);
    append(f->path, event(T0, "a", "b", "h", 200));
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 1);
    assert_int_equal(stats(f).rotations, 0);
}

static void test_open_errors(void **state) {
    fixture *f = *state;
    f->flow.path = "/nonexistent-vizfeed-dir/events.ndjson";
    assert_null(source_file_ops.open(&f->flow, NULL, f->err));
    /* The callee says what failed; refresh.c adds "flow 'name': " once. */
    assert_string_equal(f->err, "directory /nonexistent-vizfeed-dir: No such file or directory");
    f->flow.path = f->dir;
    assert_null(source_file_ops.open(&f->flow, NULL, f->err));
    assert_non_null(strstr(f->err, "directory"));
}

static void test_es_hits_match_beats(void **state) {
    fixture *f = *state;
    char hits[160];
    snprintf(hits, sizeof hits, "%s/hits.ndjson", f->dir);
    const int statuses[] = {200, 404, 503, 200, 302};
    const char *targets[] = {"b", "b", "b", "x", "x"};
    for (size_t i = 0; i < 5; i++) {
        char *line = event(T0 + (int64_t)i * 1000, "a", targets[i], i % 2 ? "h2" : "h1", statuses[i]);
        append(f->path, line);
        char hit[1400];
        line[strlen(line) - 1] = '\0';
        snprintf(hit, sizeof hit,
                 "{\"_index\":\".ds-filebeat-2026.01.01-000001\",\"_id\":\"id%zu\",\"_score\":1.0,\"_source\":%s,"
                 "\"sort\":[%zu]}\n",
                 i, line, i);
        append(hits, hit);
    }
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    size_t n = f->nrows;
    row beats[MAX_ROWS];
    memcpy(beats, f->rows, sizeof beats);
    f->nrows = 0; /* the copies now own the strings */

    f->flow.path = hits;
    source *es = source_file_ops.open(&f->flow, NULL, f->err);
    assert_non_null(es);
    assert_int_equal(source_file_ops.collect(es, T0, T0 + MINUTE, keep_row, f, f->err), 0);
    source_file_ops.close(es);

    assert_int_equal(f->nrows, n);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < EP_COUNT; j++) {
            assert_true(util_str_eq(beats[i].value[j], f->rows[i].value[j]));
            free(beats[i].value[j]);
        }
        assert_memory_equal(beats[i].count, f->rows[i].count, sizeof beats[i].count);
    }
}

/* graph.baseline: the source keeps window + baseline + the baseline grid
 * back from the newest window end, so the refresher's baseline collect after
 * the live one finds its events; held_from() says from when it holds them;
 * without a baseline only the window is kept, as before. */
static void test_baseline_retention(void **state) {
    fixture *f = *state;
    const int64_t day = 24 * 60 * MINUTE;
    append(f->path, event(T0 - 2 * day, "a", "old", "h", 200));
    append(f->path, event(T0 - day - 30000, "a", "then", "h", 200));
    append(f->path, event(T0 - 30000, "a", "now", "h", 200));
    vizfeed_config cfg = {.interval_ms = 10000, .window_ms = MINUTE, .graph = {.baseline_ms = day}};
    f->src = source_file_ops.open(&f->flow, &cfg, f->err);
    assert_non_null(f->src);
    assert_int_equal(collect(f, T0 - MINUTE, T0), 0);
    assert_non_null(find(f, "a", "now"));
    assert_int_equal(f->nrows, 1);
    assert_int_equal(collect(f, T0 - day - MINUTE, T0 - day), 0);
    assert_non_null(find(f, "a", "then"));
    assert_int_equal(f->nrows, 1);
    assert_int_equal(source_file_ops.held_from(f->src), T0 - MINUTE - day - BASELINE_EVERY * 10000);
    /* Older than that is gone, and the window did not move the floor back. */
    assert_int_equal(collect(f, T0 - 2 * day - MINUTE, T0 - 2 * day + MINUTE), 0);
    assert_int_equal(f->nrows, 0);
    assert_int_equal(collect(f, T0 - day - MINUTE, T0 - day), 0);
    assert_int_equal(f->nrows, 1);
    source_file_ops.close(f->src);

    cfg.graph.baseline_ms = 0;
    f->src = source_file_ops.open(&f->flow, &cfg, f->err);
    assert_int_equal(collect(f, T0 - MINUTE, T0), 0);
    assert_int_equal(collect(f, T0 - day - MINUTE, T0 - day), 0);
    assert_int_equal(f->nrows, 0);
    assert_int_equal(source_file_ops.held_from(f->src), T0 - MINUTE);
}

static void test_window_moves(void **state) {
    fixture *f = *state;
    append(f->path, event(T0 + 1000, "a", "b", "h", 200));
    append(f->path, event(T0 + MINUTE + 1000, "a", "b", "h", 200));
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 1);
    assert_int_equal(collect(f, T0 + MINUTE, T0 + 2 * MINUTE), 0);
    assert_true(total(f) == 1);
    /* Asking for an earlier window again: what was dropped is gone. */
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_true(total(f) == 0);
    assert_int_equal(collect(f, T0, T0 + 2 * MINUTE), 0);
    assert_true(total(f) == 1);
    /* Events that arrive already older than the window are not kept. */
    append(f->path, event(T0 - MINUTE, "a", "b", "h", 200));
    assert_int_equal(collect(f, T0 + MINUTE, T0 + 2 * MINUTE), 0);
    assert_int_equal(collect(f, T0 - 2 * MINUTE, T0 + 2 * MINUTE), 0);
    assert_true(total(f) == 1);
    assert_int_equal(stats(f).events, 3);
}

static void test_missing_values_and_timestamps(void **state) {
    fixture *f = *state;
    append(f->path, event(T0, "a", "b", NULL, 200));
    append(f->path, event(T0, "a", "b", "", 200));
    append(f->path, "{\"@timestamp\":1767225601000,\"event.dataset\":\"web\",\"service.name\":\"b\","
                    "\"client.service\":null,\"host.name\":[null,\"late\"]}\n");
    append(f->path, "{\"@timestamp\":\"1767225601000\",\"event.dataset\":\"web\",\"service.name\":\"b\","
                    "\"host.name\":[\"first\",\"second\"]}\n");
    append(f->path, "{\"@timestamp\":\"2026-01-01T01:00:01+01:00\",\"event.dataset\":\"web\",\"service.name\":\"b\","
                    "\"host.name\":[\"first\",\"second\"]}\n");
    open_source(f);
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 4);
    size_t null_host = 0, empty_host = 0, late = 0, first = 0;
    for (size_t i = 0; i < f->nrows; i++) {
        const char *h = f->rows[i].value[EP_TO_HOST];
        if (!h)
            null_host++;
        else if (!*h)
            empty_host++;
        else if (strcmp(h, "late") == 0)
            late++;
        else if (strcmp(h, "first") == 0) {
            first++;
            assert_null(f->rows[i].value[EP_FROM_SERVICE]);
            assert_true(f->rows[i].count[CLASS_NORMAL] == 2);
        }
    }
    assert_int_equal(null_host + empty_host + late + first, 4);
    assert_int_equal(first, 1);
    assert_int_equal(stats(f).no_timestamp, 0);
}

static void test_emit_stops(void **state) {
    fixture *f = *state;
    append(f->path, event(T0, "a", "b", "h", 200));
    append(f->path, event(T0, "a", "c", "h", 200));
    append(f->path, event(T0, "a", "d", "h", 200));
    open_source(f);
    f->stop_after = 1;
    assert_int_equal(collect(f, T0, T0 + MINUTE), -1);
    assert_true(f->err[0] != '\0');
    f->stop_after = 0;
    assert_int_equal(collect(f, T0, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 3);
}

/* Many distinct edges that leave the window are forgotten again. */
static void test_many_edges(void **state) {
    fixture *f = *state;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 20000; i++) {
        char to[32];
        snprintf(to, sizeof to, "svc-%d", i);
        fputs(event(T0 + i, "a", to, "h", 200), fp);
    }
    fclose(fp);
    open_source(f);
    f->stop_after = 0;
    /* Too many rows for the fixture: count them with a failing emit. */
    f->stop_after = MAX_ROWS;
    assert_int_equal(collect(f, T0, T0 + MINUTE), -1);
    f->stop_after = 0;
    assert_int_equal(collect(f, T0 + 19990, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 10);
    append(f->path, event(T0 + 20001, "a", "svc-5", "h", 200));
    assert_int_equal(collect(f, T0 + 19990, T0 + MINUTE), 0);
    assert_int_equal(f->nrows, 11);
    assert_non_null(find(f, "a", "svc-5"));
    assert_non_null(find(f, "a", "svc-19999"));
}

#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_for),
        TEST(test_window_bounds),
        TEST(test_classification),
        TEST(test_count_field),
        TEST(test_histogram_latency),
        TEST(test_weighted_latency),
        TEST(test_growth),
        TEST(test_partial_line),
        TEST(test_rotation),
        TEST(test_truncation),
        TEST(test_copytruncate_regrown),
        TEST(test_rotated_to_a_fifo),
        TEST(test_bad_lines),
        TEST(test_file_appears),
        TEST(test_open_errors),
        TEST(test_es_hits_match_beats),
        TEST(test_window_moves),
        TEST(test_baseline_retention),
        TEST(test_missing_values_and_timestamps),
        TEST(test_emit_stops),
        TEST(test_many_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
