/*
 * fuzz_ndjson.c - the NDJSON reader: source_file.c's line handling, doc.c's
 * parser and cond.c's evaluation, through the file source's own ops on a
 * temporary file, as a refresh would reach them.
 *
 * Input: byte 0 says where the rest is cut in two; the first part is
 * written and collected, the second appended and collected (a line split
 * between two reads must come out whole), then the file is rewritten
 * shorter and collected again (truncation). The flow reads nested and flat
 * fields, sums a count field, and has where/warning/danger conditions of
 * every kind, so that each line goes through everything a real one does.
 */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "util.h"
#include "source.h"

static cfg_value v_ignored = {.type = VALUE_STRING, .text = "ignored"};
static cfg_value v_failure[] = {{.type = VALUE_STRING, .text = "failure"},
                                {.type = VALUE_NUMBER, .text = "0", .number = 0}};
static condition not_ignored[] = {{.kind = COND_EQUALS, .field = "event.kind", .values = &v_ignored, .nvalues = 1}};
static condition where[] = {{.kind = COND_NOT, .children = not_ignored, .nchildren = 1}};
static condition warning[] = {
    {.kind = COND_RANGE,
     .field = "http.response.status_code",
     .has_bound = {[BOUND_GTE] = true, [BOUND_LT] = true},
     .bound = {[BOUND_GTE] = 400, [BOUND_LT] = 500}},
};
static condition danger_all[] = {{.kind = COND_EXISTS, .field = "error.message", .exists = true},
                                 {.kind = COND_PREFIX, .field = "url.path", .prefix = "/admin"}};
static condition danger[] = {{.kind = COND_IN, .field = "event.outcome", .values = v_failure, .nvalues = 2},
                             {.kind = COND_ALL, .children = danger_all, .nchildren = 2}};

static flow_config flow = {
    .name = "fuzz",
    .type = FLOW_FILE,
    .preset = "",
    .where = {where, 1},
    .warning = {warning, 1},
    .danger = {danger, 2},
    .fields = {"source.ip", "source.geo.region_name", "source.address", "service.name", "cloud.region", "host.name"},
    .count_field = "event.count",
    .timestamp_field = "@timestamp",
    .danger_label = "errors",
    .warning_label = "warnings",
};

static int touch_row(void *ctx, const raw_row *row) {
    size_t *total = ctx;
    for (int i = 0; i < EP_COUNT; i++)
        if (row->value[i]) *total += strlen(row->value[i]);
    return 0;
}

static int write_at(const char *path, int flags, const uint8_t *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);
    if (fd < 0) return -1;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0) break;
        data += n, len -= (size_t)n;
    }
    close(fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    static vizfeed_config cfg;
    if (size < 1) return 0;
    if (!path[0]) snprintf(path, sizeof path, "/tmp/vizfeed-fuzz-ndjson-%d.ndjson", (int)getpid());
    flow.path = path;
    size_t rest = size - 1, cut = rest * data[0] / 255;
    const uint8_t *body = data + 1;

    write_at(path, O_TRUNC, body, cut);
    char err[ERR_LEN];
    source *s = source_file_ops.open(&flow, &cfg, err);
    FUZZ_CHECK(s != NULL);
    size_t total = 0;
    source_file_ops.collect(s, 0, INT64_MAX, touch_row, &total, err);
    write_at(path, O_APPEND, body + cut, rest - cut);
    source_file_ops.collect(s, 0, INT64_MAX, touch_row, &total, err);
    write_at(path, O_TRUNC, body, cut / 2);
    source_file_ops.collect(s, INT64_MIN, INT64_MAX, touch_row, &total, err);
    source_stats stats;
    source_file_ops.stats(s, &stats);
    FUZZ_CHECK(stats.events <= 3 * size);
    source_file_ops.close(s);
    unlink(path);
    return 0;
}
