/*
 * es_query.c - the path and body of one composite-aggregation page
 * (README.md, "Elasticsearch": what is sent), and their `vizfeed query` form.
 *
 * The body is written with jsonw, so it is compact and byte-for-byte the
 * same for the same flow and window: tests compare it as text, and the
 * shard request cache of Elasticsearch can hit when the window repeats.
 */
#include "es_query.h"

#include <stdio.h>
#include <string.h>

#include "cond.h"
#include "jsonw.h"
#include "source.h"
#include "source_resolve.h"

const char *const es_query_source_names[EP_COUNT] = {"from_service", "from_region", "from_host",
                                                     "to_service",   "to_region",   "to_host"};

/* Everything but the index: what a page keeps of the answer (§1.5), and
 * the switches that make a pattern matching nothing an empty answer rather
 * than a 404. */
static const char query_params[] = "filter_path=took,timed_out,_shards,hits.total,aggregations." ES_AGG_NAME
                                   ".after_key,aggregations." ES_AGG_NAME ".buckets"
                                   "&ignore_unavailable=true&allow_no_indices=true";

/* Bytes of an index pattern that go into the path as they are. ',' separates
 * patterns, '*' is a wildcard and '-' excludes: Elasticsearch must see them
 * literally. Everything else (':' of a remote cluster, '<' '>' '{' '}' '/'
 * of date math, spaces, UTF-8) is percent-encoded (§4). */
static bool path_safe(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ',' || c == '*' ||
           c == '-' || c == '.' || c == '_';
}

int es_query_path(const flow_config *flow, buf *out) {
    static const char hex[] = "0123456789ABCDEF";
    int rc = buf_putc(out, '/');
    for (const unsigned char *s = (const unsigned char *)flow->index; *s && rc == 0; s++) {
        if (path_safe(*s)) {
            rc = buf_putc(out, (char)*s);
        } else {
            char enc[3] = {'%', hex[*s >> 4], hex[*s & 15]};
            rc = buf_append(out, enc, 3);
        }
    }
    if (rc == 0) rc = buf_puts(out, "/_search?");
    if (rc == 0) rc = buf_puts(out, query_params);
    return rc;
}

/* Elasticsearch time units do not combine ("1m30s" is refused), so a
 * timeout is written in whole seconds when it is one, else in ms. */
static void write_timeout(jsonw *w, int64_t ms) {
    char text[32];
    if (ms > 0 && ms % 1000 == 0)
        snprintf(text, sizeof text, "%llds", (long long)(ms / 1000));
    else
        snprintf(text, sizeof text, "%lldms", (long long)(ms > 0 ? ms : 1));
    jsonw_string(w, text);
}

void es_query_range(jsonw *w, const char *field, int64_t start_ms, int64_t end_ms) {
    jsonw_object_begin(w);
    jsonw_key(w, "range");
    jsonw_object_begin(w);
    jsonw_key(w, field);
    jsonw_object_begin(w);
    jsonw_key(w, "gte");
    jsonw_int(w, start_ms);
    jsonw_key(w, "lt");
    jsonw_int(w, end_ms);
    jsonw_key(w, "format");
    jsonw_string(w, "epoch_millis");
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

/* "count":{"sum":{"field":F}}, with "missing":M when the flow says what a
 * document without F counts (count_missing). */
static void write_count_sum_missing(jsonw *w, const char *field, const flow_config *flow) {
    jsonw_key(w, "count");
    jsonw_object_begin(w);
    jsonw_key(w, "sum");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, field);
    if (flow && flow->has_count_missing && !strcmp(field, flow->count_field)) {
        jsonw_key(w, "missing");
        jsonw_double(w, flow->count_missing);
    }
    jsonw_object_end(w);
    jsonw_object_end(w);
}

static void write_count_sum(jsonw *w, const char *field) {
    write_count_sum_missing(w, field, NULL);
}

/* A single-bucket filter sub-aggregation, with the flow's count sum inside
 * it. Single-bucket aggregations do not count against search.max_buckets,
 * unlike one multi-bucket "filters" (§0.2). */
static void begin_filter_agg(jsonw *w, const char *name) {
    jsonw_key(w, name);
    jsonw_object_begin(w);
    jsonw_key(w, "filter");
}

static void end_filter_agg(jsonw *w, const flow_config *flow) {
    if (!util_str_empty(flow->count_field)) {
        jsonw_key(w, "aggs");
        jsonw_object_begin(w);
        write_count_sum_missing(w, flow->count_field, flow);
        jsonw_object_end(w);
    }
    jsonw_object_end(w);
}

/* The sub-aggregations that split a bucket into classes. An empty condition
 * list gets no sub-aggregation at all (its class is then 0): it would match
 * nothing anyway, and every sub-aggregation costs per bucket. */
/* "NAME":{"KIND":{"field":F}} */
static void write_metric_agg(jsonw *w, const char *name, const char *kind, const char *field) {
    jsonw_key(w, name);
    jsonw_object_begin(w);
    jsonw_key(w, kind);
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, field);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

/* Latency is summed and counted by Elasticsearch per bucket (never read from
 * documents): a duration field gets sum, value_count and max; a
 * pre-aggregated sum and count get two sums. */
/* "lat_avg":{"weighted_avg":{"value":{"field":D},"weight":{"field":W,"missing":1}}}
 * and "lat_w":{"filter":{"exists":{"field":D}},"aggs":{"count":{"sum":{"field":W,"missing":1}}}}:
 * the weighted average and the weight it covers (documents with a duration),
 * which es_parse.c multiplies back into a sum so that buckets, pages and flows
 * merge exactly. A weighted sum has no aggregation of its own short of a
 * script, which this avoids; percentiles take no weight at all. */
static void write_weighted_latency_aggs(jsonw *w, const flow_config *flow) {
    jsonw_key(w, "lat_avg");
    jsonw_object_begin(w);
    jsonw_key(w, "weighted_avg");
    jsonw_object_begin(w);
    jsonw_key(w, "value");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, flow->latency_field);
    jsonw_object_end(w);
    jsonw_key(w, "weight");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, flow->latency_weight_field);
    jsonw_key(w, "missing");
    jsonw_int(w, 1);
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
    begin_filter_agg(w, "lat_w");
    jsonw_object_begin(w);
    jsonw_key(w, "exists");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, flow->latency_field);
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_key(w, "aggs");
    jsonw_object_begin(w);
    jsonw_key(w, "count");
    jsonw_object_begin(w);
    jsonw_key(w, "sum");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, flow->latency_weight_field);
    jsonw_key(w, "missing");
    jsonw_int(w, 1);
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
    write_metric_agg(w, "lat_max", "max", flow->latency_field);
}

static void write_latency_aggs(jsonw *w, const flow_config *flow) {
    if (!util_str_empty(flow->latency_field) && !util_str_empty(flow->latency_weight_field)) {
        write_weighted_latency_aggs(w, flow);
    } else if (!util_str_empty(flow->latency_field)) {
        write_metric_agg(w, "lat_sum", "sum", flow->latency_field);
        write_metric_agg(w, "lat_n", "value_count", flow->latency_field);
        write_metric_agg(w, "lat_max", "max", flow->latency_field);
    } else if (!util_str_empty(flow->latency_sum_field) && !util_str_empty(flow->latency_count_field)) {
        write_metric_agg(w, "lat_sum", "sum", flow->latency_sum_field);
        write_metric_agg(w, "lat_n", "sum", flow->latency_count_field);
    }
}

static bool has_latency(const flow_config *flow) {
    return !util_str_empty(flow->latency_field) ||
           (!util_str_empty(flow->latency_sum_field) && !util_str_empty(flow->latency_count_field));
}

static void write_sub_aggs(jsonw *w, const flow_config *flow) {
    bool sum = !util_str_empty(flow->count_field);
    if (flow->danger.n == 0 && flow->warning.n == 0 && !sum && !has_latency(flow)) return;
    jsonw_key(w, "aggs");
    jsonw_object_begin(w);
    if (!util_str_empty(flow->danger_count_field)) {
        /* danger_count: the danger class is the failed calls the documents
         * carry; read back exactly as a danger filter's count sum. */
        begin_filter_agg(w, "danger");
        jsonw_object_begin(w);
        jsonw_key(w, "exists");
        jsonw_object_begin(w);
        jsonw_key(w, "field");
        jsonw_string(w, flow->danger_count_field);
        jsonw_object_end(w);
        jsonw_object_end(w);
        jsonw_key(w, "aggs");
        jsonw_object_begin(w);
        write_count_sum(w, flow->danger_count_field);
        jsonw_object_end(w);
        jsonw_object_end(w);
    }
    if (flow->danger.n > 0) {
        begin_filter_agg(w, "danger");
        cond_any_to_es(&flow->danger, w);
        end_filter_agg(w, flow);
    }
    if (flow->warning.n > 0) {
        begin_filter_agg(w, "warning");
        if (flow->danger.n == 0) {
            cond_any_to_es(&flow->warning, w);
        } else {
            /* Danger wins: an event matching both is counted once, as danger. */
            jsonw_object_begin(w);
            jsonw_key(w, "bool");
            jsonw_object_begin(w);
            jsonw_key(w, "filter");
            jsonw_array_begin(w);
            cond_any_to_es(&flow->warning, w);
            jsonw_array_end(w);
            jsonw_key(w, "must_not");
            jsonw_array_begin(w);
            cond_any_to_es(&flow->danger, w);
            jsonw_array_end(w);
            jsonw_object_end(w);
            jsonw_object_end(w);
        }
        end_filter_agg(w, flow);
    }
    if (sum) write_count_sum_missing(w, flow->count_field, flow);
    write_latency_aggs(w, flow);
    jsonw_object_end(w);
}

static void write_terms_source(jsonw *w, const char *name, const char *field) {
    jsonw_object_begin(w);
    jsonw_key(w, name);
    jsonw_object_begin(w);
    jsonw_key(w, "terms");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, field);
    jsonw_key(w, "missing_bucket");
    jsonw_bool(w, true);
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

int es_query_sources(const flow_config *flow, es_source out[ES_MAX_SOURCES]) {
    int n = 0;
    for (int i = 0; i < EP_COUNT; i++) {
        if (util_str_empty(flow->fields[i])) continue;
        snprintf(out[n].name, sizeof out[n].name, "%s", es_query_source_names[i]);
        out[n++].field = flow->fields[i];
    }
    /* A part's other fields get sources of their own ("to_service_alt1"...);
     * es_parse.c takes the first present one, as the file source does. */
    for (int i = 0; i < EP_COUNT; i++) {
        for (int k = 0; k < FLOW_MAX_FIELD_ALTS && !util_str_empty(flow->alt_fields[i][k]); k++) {
            snprintf(out[n].name, sizeof out[n].name, "%s_alt%d", es_query_source_names[i], k + 1);
            out[n++].field = flow->alt_fields[i][k];
        }
    }
    /* The B of a field written A:B (host:port): es_parse.c joins it to A. */
    for (int i = 0; i < EP_COUNT; i++) {
        for (int k = 0; k <= FLOW_MAX_FIELD_ALTS; k++) {
            if (util_str_empty(flow->join_fields[i][k])) continue;
            if (k == 0)
                snprintf(out[n].name, sizeof out[n].name, "%s_join", es_query_source_names[i]);
            else
                snprintf(out[n].name, sizeof out[n].name, "%s_alt%d_join", es_query_source_names[i], k);
            out[n++].field = flow->join_fields[i][k];
        }
    }
    return n;
}

/* Elasticsearch time units do not combine, so whole seconds when it is
 * one, else milliseconds ("10s", "1500ms"): the same grid either way. */
static void write_interval(jsonw *w, int64_t ms) {
    char text[32];
    if (ms % 1000 == 0)
        snprintf(text, sizeof text, "%llds", (long long)(ms / 1000));
    else
        snprintf(text, sizeof text, "%lldms", (long long)ms);
    jsonw_string(w, text);
}

/* {NAME:{"date_histogram":{"field":TS,"fixed_interval":I}}}, the source of
 * a slice-count search (its slices) and the first of the timeline's (its
 * steps): fixed intervals are counted from the epoch in UTC, so a bucket's
 * key is its start on the same grid as the window ends (util_align_ms). The
 * range filter already requires the timestamp, so missing_bucket changes no
 * answer; the slice-count search sets it all the same, because OpenSearch
 * 2.19 takes a composite whose one source is a date_histogram without it
 * through its "filter rewrite" shortcut, which failed shards with "Index 0
 * out of bounds for length 0" (test_engine_incremental.py, 2 shards). */
static void write_date_source(jsonw *w, const char *name, const flow_config *flow, int64_t interval_ms,
                              bool missing_bucket) {
    jsonw_object_begin(w);
    jsonw_key(w, name);
    jsonw_object_begin(w);
    jsonw_key(w, "date_histogram");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, flow->timestamp_field);
    jsonw_key(w, "fixed_interval");
    write_interval(w, interval_ms);
    if (missing_bucket) {
        jsonw_key(w, "missing_bucket");
        jsonw_bool(w, true);
    }
    jsonw_object_end(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

static void write_sources(jsonw *w, const flow_config *flow) {
    es_source sources[ES_MAX_SOURCES];
    int n = es_query_sources(flow, sources);
    jsonw_array_begin(w);
    for (int i = 0; i < n; i++) write_terms_source(w, sources[i].name, sources[i].field);
    jsonw_array_end(w);
}

static int indent(buf *out, int depth) {
    int rc = buf_putc(out, '\n');
    for (int i = 0; i < depth && rc == 0; i++) rc = buf_puts(out, "  ");
    return rc;
}

/* Re-indents compact JSON as Kibana's Dev Tools shows it: two spaces per
 * level, "key": value, empty containers kept on one line. It relies on the
 * input being jsonw's output (valid, no whitespace outside strings), which
 * keeps it a single pass with no parser. */
static int pretty(const char *json, size_t n, buf *out) {
    int depth = 0, rc = 0;
    bool in_string = false;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char c = json[i];
        if (in_string) {
            rc = buf_putc(out, c);
            if (c == '\\' && i + 1 < n)
                rc |= buf_putc(out, json[++i]);
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            rc = buf_putc(out, c);
            break;
        case '{':
        case '[':
            rc = buf_putc(out, c);
            if (i + 1 < n && (json[i + 1] == '}' || json[i + 1] == ']')) {
                rc |= buf_putc(out, json[++i]);
            } else {
                depth++;
                rc |= indent(out, depth);
            }
            break;
        case '}':
        case ']':
            depth--;
            rc = indent(out, depth);
            rc |= buf_putc(out, c);
            break;
        case ',':
            rc = buf_putc(out, c);
            rc |= indent(out, depth);
            break;
        case ':':
            rc = buf_puts(out, ": ");
            break;
        default:
            rc = buf_putc(out, c);
        }
    }
    return rc ? -1 : 0;
}

/* One request in Dev Tools form: a blank line when it follows another,
 * "# flow HEADING", the method and path, the pretty-printed body (a
 * timeline's when step_ms > 0). body is scratch space. */
static int print_request(bool follows, const char *heading, const es_query_params *p, int64_t step_ms, buf *body,
                         buf *out) {
    const flow_config *flow = p->flow;
    buf_reset(body);
    int rc = follows ? buf_putc(out, '\n') : 0;
    if (rc == 0) rc = buf_printf(out, "# flow %s\nPOST ", heading);
    if (rc == 0) rc = es_query_path(flow, out);
    if (rc == 0) rc = buf_putc(out, '\n');
    if (rc == 0) rc = step_ms > 0 ? es_query_timeline_body(p, step_ms, body) : es_query_body(p, body);
    if (rc == 0) rc = pretty(body->data, body->len, out);
    if (rc == 0) rc = buf_putc(out, '\n');
    return rc;
}

static bool sends_searches(const flow_config *flow) {
    return flow->type == FLOW_ELASTICSEARCH || flow->type == FLOW_REPLAY;
}

int es_query_print(const vizfeed_config *cfg, int64_t end_ms, buf *out) {
    buf body, heading;
    buf_init(&body, out->max);
    buf_init(&heading, out->max);
    int rc = 0, printed = 0;
    for (size_t i = 0; i < cfg->nflows && rc == 0; i++) {
        const flow_config *flow = &cfg->flows[i];
        if (!sends_searches(flow)) continue;
        es_query_params params = {.flow = flow,
                                  .start_ms = end_ms - cfg->window_ms,
                                  .end_ms = end_ms,
                                  .page_size = cfg->es.page_size,
                                  .timeout_ms = cfg->es.timeout_ms,
                                  .after_json = NULL};
        if (!util_str_empty(flow->resolve_service)) {
            /* The resolve_callee source collects its companion first, over
             * the same window (source_resolve.c). */
            flow_config companion;
            source_resolve_companion(flow, &companion);
            es_query_params cp = params;
            cp.flow = &companion;
            buf_reset(&heading);
            rc = buf_printf(&heading, "%s (resolve_callee of %s)", companion.name, flow->name);
            if (rc == 0) rc = print_request(printed++ > 0, buf_cstr(&heading), &cp, 0, &body, out);
            source_resolve_companion_free(&companion);
        }
        if (rc == 0) rc = print_request(printed++ > 0, flow->name, &params, 0, &body, out);
    }
    buf_free(&heading);
    buf_free(&body);
    return rc;
}

/* ---- the timeline's request (timeline.h) ------------------------------ */

static void write_timeline_sources(jsonw *w, const flow_config *flow, int64_t step_ms) {
    jsonw_array_begin(w);
    write_date_source(w, ES_TIMELINE_TIME_SOURCE, flow, step_ms, false);
    /* Only the callee's service and region decide where a call counts
     * (topology.h), so only they split the buckets: the caller and the
     * hosts would multiply them for nothing. */
    static const int parts[] = {EP_TO_SERVICE, EP_TO_REGION};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        int part = parts[i];
        if (!util_str_empty(flow->fields[part])) write_terms_source(w, es_query_source_names[part], flow->fields[part]);
        for (int k = 0; k < FLOW_MAX_FIELD_ALTS && !util_str_empty(flow->alt_fields[part][k]); k++) {
            char name[40];
            snprintf(name, sizeof name, "%s_alt%d", es_query_source_names[part], k + 1);
            write_terms_source(w, name, flow->alt_fields[part][k]);
        }
    }
    jsonw_array_end(w);
}

/* The search every request sends: no hits, the window and the flow's where
 * as filters, and one composite aggregation whose sources are a refresh's,
 * a slice-count search's (p->slice_ms > 0: no sub-aggregations either) or,
 * with timeline_step_ms > 0, a timeline's. Only the sources differ, so the
 * rest is written here. */
static int write_search(const es_query_params *p, const flow_config *flow, int64_t timeline_step_ms, buf *out) {
    jsonw w;
    jsonw_init(&w, out);
    jsonw_object_begin(&w);
    jsonw_key(&w, "size");
    jsonw_int(&w, 0);
    jsonw_key(&w, "track_total_hits");
    jsonw_bool(&w, false);
    jsonw_key(&w, "timeout");
    write_timeout(&w, p->timeout_ms);

    jsonw_key(&w, "query");
    jsonw_object_begin(&w);
    jsonw_key(&w, "bool");
    jsonw_object_begin(&w);
    jsonw_key(&w, "filter");
    jsonw_array_begin(&w);
    es_query_range(&w, flow->timestamp_field, p->start_ms, p->end_ms);
    for (size_t i = 0; i < flow->where.n; i++) cond_to_es(&flow->where.items[i], &w);
    jsonw_array_end(&w);
    jsonw_object_end(&w);
    jsonw_object_end(&w);

    jsonw_key(&w, "aggs");
    jsonw_object_begin(&w);
    jsonw_key(&w, ES_AGG_NAME);
    jsonw_object_begin(&w);
    jsonw_key(&w, "composite");
    jsonw_object_begin(&w);
    jsonw_key(&w, "size");
    jsonw_int(&w, p->page_size);
    jsonw_key(&w, "sources");
    if (timeline_step_ms > 0) {
        write_timeline_sources(&w, flow, timeline_step_ms);
    } else if (p->slice_ms > 0) {
        jsonw_array_begin(&w);
        write_date_source(&w, ES_SLICE_SOURCE, flow, p->slice_ms, true);
        jsonw_array_end(&w);
    } else {
        write_sources(&w, flow);
    }
    if (p->after_json) {
        jsonw_key(&w, "after");
        jsonw_raw(&w, p->after_json, strlen(p->after_json));
    }
    jsonw_object_end(&w);
    if (p->slice_ms <= 0) write_sub_aggs(&w, flow);
    jsonw_object_end(&w);
    jsonw_object_end(&w);

    jsonw_object_end(&w);
    return jsonw_failed(&w) ? -1 : 0;
}

int es_query_body(const es_query_params *p, buf *out) {
    return write_search(p, p->flow, 0, out);
}

int es_query_timeline_body(const es_query_params *p, int64_t step_ms, buf *out) {
    /* The classes are split exactly as a refresh splits them; latency is
     * not part of a timeline, so its sub-aggregations are left out. */
    static char none[] = "";
    flow_config flow = *p->flow;
    flow.latency_field = flow.latency_sum_field = flow.latency_count_field = none;
    return write_search(p, &flow, step_ms, out);
}

int es_query_timeline_print(const vizfeed_config *cfg, int64_t from_ms, int64_t to_ms, int64_t step_ms, buf *out) {
    /* A flow whose source has no timeline makes the whole timeline refused
     * before any search (history.c answers 404): nothing to print but why,
     * when a flow would have sent one. */
    const char *without = NULL, *kind = NULL;
    bool sending = false;
    for (size_t i = 0; i < cfg->nflows; i++) {
        const source_ops *ops = source_ops_for_flow(&cfg->flows[i]);
        if (!without && ops && !ops->timeline) {
            without = cfg->flows[i].name;
            kind = ops == &source_resolve_ops ? "resolve_callee" : ops->type;
        }
        sending |= sends_searches(&cfg->flows[i]);
    }
    if (without) {
        if (!sending) return 0;
        return buf_printf(out, "%s# timeline: nothing is sent: flow %s (%s) has no timeline\n", out->len ? "\n" : "",
                          without, kind);
    }
    buf body, heading;
    buf_init(&body, out->max);
    buf_init(&heading, out->max);
    int rc = 0;
    for (size_t i = 0; i < cfg->nflows && rc == 0; i++) {
        const flow_config *flow = &cfg->flows[i];
        if (!sends_searches(flow)) continue;
        es_query_params params = {.flow = flow,
                                  .start_ms = from_ms,
                                  .end_ms = to_ms,
                                  .page_size = cfg->es.page_size,
                                  .timeout_ms = cfg->es.timeout_ms,
                                  .after_json = NULL};
        buf_reset(&heading);
        rc = buf_printf(&heading, "%s, timeline", flow->name);
        if (rc == 0) rc = print_request(out->len > 0, buf_cstr(&heading), &params, step_ms, &body, out);
    }
    buf_free(&heading);
    buf_free(&body);
    return rc;
}
