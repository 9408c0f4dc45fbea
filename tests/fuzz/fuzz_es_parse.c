/*
 * fuzz_es_parse.c - the Elasticsearch answer parser (es_parse.h) on any body.
 *
 * Input: byte 0 picks the HTTP status and whether the flow sums a count
 * field, byte 1 the chunk size the body is fed in (streaming must cope with
 * a split anywhere); the rest is the body. Every row handed to emit() has its
 * values read, so a dangling pointer shows; an answer's strings must be
 * NUL-terminated within their arrays.
 */
#include <string.h>

#include "es_parse.h"
#include "fuzz.h"
#include "util.h"

static int touch_row(void *ctx, const raw_row *row) {
    size_t *total = ctx;
    for (int i = 0; i < EP_COUNT; i++)
        if (row->value[i]) *total += strlen(row->value[i]);
    for (int c = 0; c < CLASS_COUNT; c++) *total += row->count[c] > 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int statuses[] = {200, 200, 200, 200, 400, 401, 403, 404, 406, 429, 500, 502, 503};
    static flow_config counting = {.name = "fuzz", .count_field = ""};
    static flow_config summing = {.name = "fuzz", .count_field = "span.destination.service.response_time.count"};
    if (size < 2) return 0;
    int status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    const flow_config *flow = data[0] & 0x80 ? &summing : &counting;
    size_t chunk = data[1] ? data[1] : size;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    size_t total = 0;
    es_parser *p = es_parser_new(flow, touch_row, &total);
    /* Twice through the same parser: reset must leave nothing behind. */
    for (int round = 0; round < 2; round++) {
        es_parser_reset(p, status);
        for (size_t off = 0; off < len; off += chunk)
            es_parser_feed(p, body + off, len - off < chunk ? len - off : chunk);
        es_answer answer;
        char err[ERR_LEN];
        memset(&answer, 0, sizeof answer);
        int rc = es_parser_finish(p, &answer, err);
        FUZZ_CHECK(rc == 0 || rc == -1);
        FUZZ_CHECK(memchr(answer.error_type, 0, sizeof answer.error_type));
        FUZZ_CHECK(memchr(answer.error_reason, 0, sizeof answer.error_reason));
        FUZZ_CHECK(memchr(answer.shard_reason, 0, sizeof answer.shard_reason));
        if (rc < 0) FUZZ_CHECK(memchr(err, 0, ERR_LEN));
        if (answer.after_key) total += strlen(answer.after_key);
        free(answer.after_key);
    }
    es_parser_free(p);
    return 0;
}
