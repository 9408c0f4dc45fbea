/*
 * es_parse.h - reads one Elasticsearch search answer while it streams in
 * (jsonr.h callbacks fed from curl's write callback), without building a
 * tree: memory is bounded by one bucket, not by the page.
 *
 * Calling sequence, per page: es_parser_reset(p, status); es_parser_feed()
 * for every chunk as it arrives; es_parser_finish(p, &answer, err). Each
 * composite bucket of aggregations.edges becomes one raw_row handed to emit()
 * as soon as it is complete: key values by es_query_source_names (null or absent ->
 * NULL), count[] from doc_count (or the "count" sums when the flow sums a
 * count field), danger and warning from their filter sub-aggregations,
 * normal = total - warning - danger; a part whose own source is null takes
 * its first non-null "_altK" source; lat_sum/lat_n/lat_max become the row's
 * latency in milliseconds (latency.h).
 *
 * Every answer shape Elasticsearch 6.x-8.x and OpenSearch send is understood
 * (tests/unit/test_es_parse.c holds one of each): hits.total as an object, an
 * integer, -1 or absent; no aggregations at all (no index matched, or
 * filter_path dropped an empty page); timed_out and _shards.failures (a
 * partial answer); error bodies of 6.x/7.x/8.x/OpenSearch
 * ({"error":{"type","reason","root_cause":[...],"caused_by":{...}},"status"}),
 * also when the error is a bare string; a body that is not JSON (a proxy's
 * HTML page); an empty or truncated body.
 *
 * Rows are emitted only for answers with HTTP status 200. Errors:
 * es_parser_finish() returns -1 with a one-line reason when the answer is not
 * a usable search answer; answer->kind says which kind, for the caller's
 * policy and metrics.
 *
 * Ownership and threads: es_parser_new() keeps flow and ctx (they must
 * outlive the parser; it aborts when out of memory, like xcalloc). emit()
 * runs on the thread that calls es_parser_feed()/es_parser_finish(), the row
 * it gets is valid only during the call, and a nonzero return stops the
 * page. A parser belongs to one thread at a time and is reused page after
 * page; es_parser_free() accepts NULL.
 */
#ifndef VIZ_ES_PARSE_H
#define VIZ_ES_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "source.h"

typedef enum {
    ES_ANSWER_OK,               /* a search answer (possibly partial: see timed_out, shards_failed) */
    ES_ANSWER_ERROR,            /* an Elasticsearch error body: error_type, error_reason, status */
    ES_ANSWER_TOO_MANY_BUCKETS, /* too_many_buckets_exception (400 or 503, maybe nested in caused_by) */
    ES_ANSWER_NOT_JSON,         /* HTML or other text: a proxy answered */
    ES_ANSWER_TRUNCATED,        /* JSON that ended early, or an empty body */
    ES_ANSWER_UNEXPECTED,       /* valid JSON of an unknown shape */
} es_answer_kind;

typedef struct {
    es_answer_kind kind;
    int status; /* HTTP status the parser was reset with */
    bool timed_out;
    int64_t shards_total, shards_failed;
    /* _shards.successful and .skipped, when the answer has them (has_successful): a shard with no
     * copy left (its node gone, no replica) is in total but neither failed nor successful in
     * OpenSearch 2.19's answers (Elasticsearch 8.19 counts it failed), so failed alone does not
     * tell a partial answer. */
    bool has_successful;
    int64_t shards_successful, shards_skipped;
    char shard_reason[256]; /* first shard failure's reason, "" when none */
    bool has_aggregations;
    size_t buckets;       /* buckets in this page */
    char *after_key;      /* raw JSON of after_key (malloc'd, caller frees), NULL on the last page */
    char error_type[128]; /* ES_ANSWER_ERROR / TOO_MANY_BUCKETS: e.g. "index_not_found_exception" */
    char error_reason[512];
    int64_t max_buckets; /* from a too_many_buckets_exception's reason or max_buckets field, 0 if unknown */
    bool has_took;
    int64_t took_ms; /* the answer's "took": the engine's own time for the search */
} es_answer;

typedef struct es_parser es_parser;

es_parser *es_parser_new(const flow_config *flow, row_emit_fn emit, void *ctx);
void es_parser_reset(es_parser *p, int http_status);
/* Returns 0, or -1 once the body is known to be unusable (later feeds are ignored). */
int es_parser_feed(es_parser *p, const char *data, size_t len);
int es_parser_finish(es_parser *p, es_answer *out, char *err);

/* During emit(): the bucket's "slice" key (ES_SLICE_SOURCE, the start of
 * its time slice in epoch ms) and its doc_count, when the search was a
 * slice-count search (es_query.h); false otherwise. */
bool es_parser_row_slice(const es_parser *p, int64_t *slice_ms, double *docs);

/* The timeline's answers (es_query_timeline_body()), live or recorded:
 * each bucket's step start (epoch ms) is the value of the
 * ES_TIMELINE_TIME_SOURCE part, which the parser puts in
 * value[EP_FROM_HOST] as it would a caller's host. es_parse_timeline_row is
 * the row_emit_fn that turns such a row into a timeline row (source.h) for
 * rows->emit: the step start rounded down to rows->step_ms, the caller's
 * parts (EP_FROM_*) NULL, everything else as parsed. A row without a
 * number there (not a timeline's bucket) is skipped, not an error.
 * Returns what rows->emit returns (nonzero stops the page). The one reading
 * of a timeline bucket for the elasticsearch and replay sources. */
typedef struct {
    step_emit_fn emit;
    void *ctx;
    int64_t step_ms;
} es_timeline_rows;
int es_parse_timeline_row(void *rows, const raw_row *row);

/* Shards of an ES_ANSWER_OK answer that neither answered, were skipped nor are counted as
 * failed: unavailable ones (0 when the answer does not say). */
int64_t es_parse_shards_missing(const es_answer *a);
void es_parser_free(es_parser *p);

#endif
