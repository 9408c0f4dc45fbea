/*
 * es_query.h - the search request one elasticsearch flow sends per page
 * (README.md, "Elasticsearch": what is sent).
 *
 * One composite aggregation named "edges" over the flow's index pattern(s):
 *   - "size": 0, "track_total_hits": false, "timeout": <es.timeout>;
 *   - query: bool.filter = [range on the flow's timestamp field with absolute
 *     epoch-millisecond bounds gte start, lt end (the same half-open window
 *     as the file source), then each `where` condition];
 *   - composite sources, in EP_* order, one per endpoint field the flow reads,
 *     named by es_query_source_names[], terms on the field, missing_bucket: true
 *     (a missing field must not hide the event: the file source keeps it too);
 *     then one per alternative field of a part ("to_service_alt1", ...),
 *     of which the parser takes the first present when the part's own is null;
 *   - sub-aggregations: "danger": filter(any danger condition), "warning":
 *     filter(any warning condition and not any danger condition, since
 *     danger wins), each with a "count" sum when the flow sums a count
 *     field (with "missing" when the flow has count_missing), plus a
 *     top-level "count" sum. Normal = total - warning - danger. With
 *     danger_count, "danger" is a filter on that field's existence with its
 *     sum as "count". With a latency: "lat_sum"/"lat_n"/"lat_max" (sum,
 *     value_count, max of the duration field) or "lat_sum"/"lat_n" (sums of
 *     the pre-aggregated sum and count fields).
 *   - "after": the previous page's after_key, copied verbatim.
 * An incremental window (source_es.c) reads each slice of it with this same
 * search over the slice's range, and first asks which slices changed with a
 * slice-count search (slice_ms > 0): the same envelope, range and `where`,
 * but the composite's only source is "slice", a date_histogram on the
 * timestamp field with fixed_interval slice_ms (epoch-aligned, UTC) and
 * missing_bucket (es_query.c says why), whose key is the slice's start in
 * epoch ms, and no sub-aggregations: one bucket per slice that has
 * documents, with their doc_count.
 * Path: /<index>/_search?filter_path=...&ignore_unavailable=true&allow_no_indices=true
 * where filter_path keeps took, timed_out, _shards, hits.total and the edges
 * aggregation's after_key and buckets.
 *
 * Everything here is pure (no I/O), so `vizfeed query` prints exactly what a
 * refresh sends. Errors: -1 when the output buffer's cap is reached.
 */
#ifndef VIZ_ES_QUERY_H
#define VIZ_ES_QUERY_H

#include <stdint.h>

#include "config.h"
#include "jsonw.h"
#include "util.h"

#define ES_AGG_NAME     "edges"
#define ES_SLICE_SOURCE "slice" /* the date_histogram source of a slice-count search */

/* Composite source names per endpoint part: "from_service", "from_region", ... */
extern const char *const es_query_source_names[EP_COUNT];

/* The composite sources of a flow's query, in the order they are sent: one
 * per endpoint part that has a field, named es_query_source_names[part], then one
 * per alternative field, named "<part's name>_altK" (K from 1), then one per
 * joined field (A:B, flow_config.join_fields), named after the source of A
 * with "_join" added. The answer's after_key has exactly these keys. */
#define ES_MAX_SOURCES (2 * EP_COUNT * (1 + FLOW_MAX_FIELD_ALTS))
typedef struct {
    char name[32];
    const char *field; /* the flow's, borrowed */
} es_source;
int es_query_sources(const flow_config *flow, es_source out[ES_MAX_SOURCES]); /* returns how many */

typedef struct {
    const flow_config *flow;
    int64_t start_ms, end_ms; /* window: start <= @timestamp < end */
    int page_size;
    int64_t timeout_ms;     /* written as the search's "timeout" */
    const char *after_json; /* NULL on the first page; else the after_key object, raw JSON */
    int64_t slice_ms;       /* > 0: the slice-count search, slices of slice_ms (ES_SLICE_SOURCE) */
} es_query_params;

/* "/<index>/_search?..." with the index pattern URL-encoded (',' and '*' kept). */
int es_query_path(const flow_config *flow, buf *out);
int es_query_body(const es_query_params *p, buf *out);
/* Writes the filter {"range":{field:{"gte":start,"lt":end,"format":"epoch_millis"}}}:
 * the one way every request of vizfeed bounds its time (the refresh's, the
 * timeline's, and `vizfeed init`'s document counts). */
void es_query_range(jsonw *w, const char *field, int64_t start_ms, int64_t end_ms);

/* Writes, for every elasticsearch or replay flow of cfg, the first-page
 * request of a refresh ending at end_ms, in Kibana Dev Tools form:
 *   # flow NAME
 *   POST /index/_search?...
 *   { pretty-printed body }
 * A flow with resolve_callee sends its companion's search first
 * (source_resolve.h), so that comes first, headed
 * "# flow NAME.servers (resolve_callee of NAME)". Used by `vizfeed query`. */
int es_query_print(const vizfeed_config *cfg, int64_t end_ms, buf *out);

/*
 * The timeline's request (timeline.h): the same envelope, range (from, to)
 * and `where` as a page, and the same class sub-aggregations (without
 * latency), but the composite "edges" has a date_histogram source first,
 * {"field": <timestamp field>, "fixed_interval": step} (buckets keyed by the
 * epoch ms of their step's start, offset 0), then terms sources for the
 * callee's service and region and their alternatives only, named as above.
 * The date_histogram is a composite source rather than a top-level
 * aggregation so that it pages (after_key) and keeps events lacking a field
 * (missing_bucket), which terms sub-aggregations under a date_histogram
 * would cut at their size or need a typed `missing` value for. It costs
 * Elasticsearch steps x distinct (service, region) buckets, es.page_size a
 * page. Its source is named ES_TIMELINE_TIME_SOURCE, a caller part the
 * timeline never reads, so that es_parse hands each bucket's step to the
 * source as that part's value: one parser reads both requests
 * (es_parse_timeline_row takes the step from there).
 */
#define ES_TIMELINE_TIME_SOURCE "from_host"
int es_query_timeline_body(const es_query_params *p, int64_t step_ms, buf *out);
/* `vizfeed query`: the first page of every elasticsearch or replay flow's
 * timeline request over [from, to) in steps of step_ms, in the form of
 * es_query_print(), each headed "# flow NAME, timeline". Appends to out.
 * When a flow's source has no timeline (source_ops_for_flow(), source.h:
 * resolve_callee), a timeline is refused before any search, so only the
 * line "# timeline: nothing is sent: flow NAME (resolve_callee) has no
 * timeline" is written (nothing without an elasticsearch or replay flow). */
int es_query_timeline_print(const vizfeed_config *cfg, int64_t from_ms, int64_t to_ms, int64_t step_ms, buf *out);

#endif
