/* Unit tests of the search request: the body is deterministic, so each case
 * compares it with the exact text (reference §1.1.2 shows the shape). Flows
 * are built by hand, as a loaded configuration would hold them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_query.h"
#include "source_resolve.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define START 1717171200000LL
#define END   1717171500000LL

static cfg_value nginx_access = {.type = VALUE_STRING, .text = "nginx.access"};
static condition nginx_where[] = {
    {.kind = COND_EQUALS, .field = "event.dataset", .values = &nginx_access, .nvalues = 1}};
static condition nginx_warning[] = {{.kind = COND_RANGE,
                                     .field = "http.response.status_code",
                                     .has_bound = {[BOUND_GTE] = true, [BOUND_LT] = true},
                                     .bound = {[BOUND_GTE] = 400, [BOUND_LT] = 500}}};
static condition nginx_danger[] = {{.kind = COND_RANGE,
                                    .field = "http.response.status_code",
                                    .has_bound = {[BOUND_GTE] = true},
                                    .bound = {[BOUND_GTE] = 500}}};

/* What the nginx-access preset resolves to. */
static flow_config nginx_flow(void) {
    return (flow_config){.name = "edge-nginx",
                         .type = FLOW_ELASTICSEARCH,
                         .preset = "nginx-access",
                         .index = "filebeat-*",
                         .path = "",
                         .where = {nginx_where, 1},
                         .warning = {nginx_warning, 1},
                         .danger = {nginx_danger, 1},
                         .fields = {"source.ip", "", "", "host.name", "cloud.region", "host.name"},
                         .count_field = "",
                         .timestamp_field = "@timestamp",
                         .danger_label = "5xx",
                         .warning_label = "4xx"};
}

static char *body_of(const flow_config *flow, const char *after) {
    es_query_params p = {
        .flow = flow, .start_ms = START, .end_ms = END, .page_size = 1000, .timeout_ms = 20000, .after_json = after};
    buf out;
    buf_init(&out, 1u << 20);
    assert_int_equal(es_query_body(&p, &out), 0);
    return buf_take(&out, NULL);
}

#define RANGE_5XX "{\"range\":{\"http.response.status_code\":{\"gte\":500}}}"
#define RANGE_4XX "{\"range\":{\"http.response.status_code\":{\"gte\":400,\"lt\":500}}}"
#define ANY(x)    "{\"bool\":{\"should\":[" x "],\"minimum_should_match\":1}}"

#define NGINX_HEAD                                                                                                     \
    "{\"size\":0,\"track_total_hits\":false,\"timeout\":\"20s\",\"query\":{\"bool\":{\"filter\":["                     \
    "{\"range\":{\"@timestamp\":{\"gte\":1717171200000,\"lt\":1717171500000,\"format\":\"epoch_millis\"}}},"           \
    "{\"term\":{\"event.dataset\":\"nginx.access\"}}]}},"                                                              \
    "\"aggs\":{\"edges\":{\"composite\":{\"size\":1000,\"sources\":["                                                  \
    "{\"from_service\":{\"terms\":{\"field\":\"source.ip\",\"missing_bucket\":true}}},"                                \
    "{\"to_service\":{\"terms\":{\"field\":\"host.name\",\"missing_bucket\":true}}},"                                  \
    "{\"to_region\":{\"terms\":{\"field\":\"cloud.region\",\"missing_bucket\":true}}},"                                \
    "{\"to_host\":{\"terms\":{\"field\":\"host.name\",\"missing_bucket\":true}}}]"

#define NGINX_SUB_AGGS                                                                                                 \
    "\"aggs\":{\"danger\":{\"filter\":" ANY(RANGE_5XX) "},"                                                            \
                                                       "\"warning\":{\"filter\":{\"bool\":{\"filter\":[" ANY(          \
                                                           RANGE_4XX) "],\"must_not\":[" ANY(RANGE_5XX) "]}}}}"

static void nginx_first_page(void **state) {
    flow_config flow = nginx_flow();
    char *body = body_of(&flow, NULL);
    assert_string_equal(body, NGINX_HEAD "}," NGINX_SUB_AGGS "}}}");
    free(body);
}

/* The after page is the first page plus "after", copied verbatim. */
static void nginx_after_page(void **state) {
    flow_config flow = nginx_flow();
    char *body = body_of(&flow, "{\"from_service\":\"10.0.0.1\",\"to_service\":\"web-1\",\"to_region\":null,"
                                "\"to_host\":\"web-1\"}");
    assert_string_equal(body, NGINX_HEAD ",\"after\":{\"from_service\":\"10.0.0.1\",\"to_service\":\"web-1\","
                                         "\"to_region\":null,\"to_host\":\"web-1\"}}," NGINX_SUB_AGGS "}}}");
    free(body);
}

/* A summing flow (apm-service-destination-like): a "count" sum at the top of
 * each bucket and inside each class filter. Without warning conditions the
 * danger filter stands alone and no warning sub-aggregation is sent. */
static void count_field_and_danger_only(void **state) {
    static cfg_value failure = {.type = VALUE_STRING, .text = "failure"};
    static condition danger[] = {{.kind = COND_EQUALS, .field = "event.outcome", .values = &failure, .nvalues = 1}};
    flow_config flow = {.name = "apm",
                        .type = FLOW_ELASTICSEARCH,
                        .index = "metrics-apm*",
                        .danger = {danger, 1},
                        .fields = {"service.name", "", "", "span.destination.service.resource", "", ""},
                        .count_field = "span.destination.service.response_time.count",
                        .timestamp_field = "@timestamp"};
    char *body = body_of(&flow, NULL);
    assert_string_equal(
        body,
        "{\"size\":0,\"track_total_hits\":false,\"timeout\":\"20s\",\"query\":{\"bool\":{\"filter\":["
        "{\"range\":{\"@timestamp\":{\"gte\":1717171200000,\"lt\":1717171500000,\"format\":\"epoch_millis\"}}}]}},"
        "\"aggs\":{\"edges\":{\"composite\":{\"size\":1000,\"sources\":["
        "{\"from_service\":{\"terms\":{\"field\":\"service.name\",\"missing_bucket\":true}}},"
        "{\"to_service\":{\"terms\":{\"field\":\"span.destination.service.resource\",\"missing_bucket\":true}}}]},"
        "\"aggs\":{\"danger\":{\"filter\":" ANY(
            "{\"term\":{\"event.outcome\":\"failure\"}}") ","
                                                          "\"aggs\":{\"count\":{\"sum\":{\"field\":\"span.destination."
                                                          "service.response_time.count\"}}}},"
                                                          "\"count\":{\"sum\":{\"field\":\"span.destination.service."
                                                          "response_time.count\"}}}}}}");
    free(body);
}

/* Warning without danger: no must_not. No classes and no count: no
 * sub-aggregations at all. Another timestamp field and an odd timeout. */
static void warning_only_and_plain(void **state) {
    flow_config flow = nginx_flow();
    flow.danger = (condition_list){NULL, 0};
    flow.where = (condition_list){NULL, 0};
    flow.fields[EP_TO_REGION] = "";
    flow.fields[EP_TO_HOST] = "";
    flow.timestamp_field = "event.created";
    es_query_params p = {.flow = &flow, .start_ms = 0, .end_ms = 60000, .page_size = 5000, .timeout_ms = 1500};
    buf out;
    buf_init(&out, 1u << 20);
    assert_int_equal(es_query_body(&p, &out), 0);
    assert_string_equal(
        out.data, "{\"size\":0,\"track_total_hits\":false,\"timeout\":\"1500ms\",\"query\":{\"bool\":{\"filter\":["
                  "{\"range\":{\"event.created\":{\"gte\":0,\"lt\":60000,\"format\":\"epoch_millis\"}}}]}},"
                  "\"aggs\":{\"edges\":{\"composite\":{\"size\":5000,\"sources\":["
                  "{\"from_service\":{\"terms\":{\"field\":\"source.ip\",\"missing_bucket\":true}}},"
                  "{\"to_service\":{\"terms\":{\"field\":\"host.name\",\"missing_bucket\":true}}}]},"
                  "\"aggs\":{\"warning\":{\"filter\":" ANY(RANGE_4XX) "}}}}}");

    flow.warning = (condition_list){NULL, 0};
    buf_reset(&out);
    assert_int_equal(es_query_body(&p, &out), 0);
    assert_non_null(strstr(out.data, "\"missing_bucket\":true}}}]}}}}"));
    assert_null(strstr(out.data, "\"aggs\":{\"danger"));
    assert_null(strstr(out.data, "warning"));

    /* The output cap is an error, not a cut body. */
    buf small;
    buf_init(&small, 100);
    assert_int_equal(es_query_body(&p, &small), -1);
    buf_free(&small);
    buf_free(&out);
}

static void path_encoding(void **state) {
    static const struct {
        const char *index, *path;
    } cases[] = {
        {"filebeat-*", "/filebeat-*"},
        {"traces-apm*,apm-*-span-*,-apm-old", "/traces-apm*,apm-*-span-*,-apm-old"},
        {"<logstash-{now/d}>", "/%3Clogstash-%7Bnow%2Fd%7D%3E"},
        {"remote:logs-*", "/remote%3Alogs-*"},
        {"a b+c?d#e&f%", "/a%20b%2Bc%3Fd%23e%26f%25"},
        {"journ\xc3\xa9", "/journ%C3%A9"},
        {"logs_x.y", "/logs_x.y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flow_config flow = {.index = (char *)cases[i].index};
        buf out;
        buf_init(&out, 4096);
        assert_int_equal(es_query_path(&flow, &out), 0);
        char want[512];
        snprintf(want, sizeof want,
                 "%s/_search?filter_path=took,timed_out,_shards,hits.total,aggregations.edges.after_key,"
                 "aggregations.edges.buckets&ignore_unavailable=true&allow_no_indices=true",
                 cases[i].path);
        assert_string_equal(out.data, want);
        buf_free(&out);
    }
}

/* Removes whitespace outside strings: what pretty-printing added. */
static void compact(const char *in, buf *out) {
    bool in_string = false;
    for (const char *s = in; *s; s++) {
        if (in_string) {
            buf_putc(out, *s);
            if (*s == '\\')
                buf_putc(out, *++s);
            else if (*s == '"')
                in_string = false;
        } else if (*s == '"') {
            in_string = true;
            buf_putc(out, *s);
        } else if (*s != ' ' && *s != '\n') {
            buf_putc(out, *s);
        }
    }
}

/* `vizfeed query`: one Dev Tools request per elasticsearch or replay flow,
 * the body pretty-printed but otherwise exactly what a refresh sends. */
static void print_dev_tools_form(void **state) {
    flow_config flows[3] = {nginx_flow(), nginx_flow(), nginx_flow()};
    flows[1].name = "local";
    flows[1].type = FLOW_FILE;
    flows[2].name = "replayed";
    flows[2].type = FLOW_REPLAY;
    flows[2].index = "packetbeat-*";
    /* A value with a quote, a brace and a comma must not upset the layout. */
    static cfg_value odd = {.type = VALUE_STRING, .text = "a\"{b},[c]: d"};
    static condition odd_where[] = {{.kind = COND_EQUALS, .field = "service.name", .values = &odd, .nvalues = 1}};
    flows[2].where = (condition_list){odd_where, 1};
    vizfeed_config cfg = {
        .window_ms = 120000, .es = {.timeout_ms = 20000, .page_size = 5000}, .flows = flows, .nflows = 3};
    buf out;
    buf_init(&out, 1u << 20);
    assert_int_equal(es_query_print(&cfg, END, &out), 0);
    const char *text = out.data;

    const char *head = "# flow edge-nginx\n"
                       "POST /filebeat-*/_search?filter_path=took,timed_out,_shards,hits.total,aggregations.edges."
                       "after_key,aggregations.edges.buckets&ignore_unavailable=true&allow_no_indices=true\n"
                       "{\n"
                       "  \"size\": 0,\n"
                       "  \"track_total_hits\": false,\n"
                       "  \"timeout\": \"20s\",\n"
                       "  \"query\": {\n"
                       "    \"bool\": {\n"
                       "      \"filter\": [\n"
                       "        {\n"
                       "          \"range\": {\n"
                       "            \"@timestamp\": {\n"
                       "              \"gte\": 1717171380000,\n"
                       "              \"lt\": 1717171500000,\n"
                       "              \"format\": \"epoch_millis\"\n"
                       "            }\n"
                       "          }\n"
                       "        },\n";
    assert_memory_equal(text, head, strlen(head));
    assert_null(strstr(text, "# flow local"));
    const char *second = strstr(text, "}\n\n# flow replayed\nPOST /packetbeat-*/_search?");
    assert_non_null(second);
    assert_int_equal(text[out.len - 1], '\n');
    assert_int_equal(text[out.len - 2], '}');

    /* Each body, with the layout's whitespace removed, is the request body. */
    const char *bodies[2] = {strchr(text, '{'), strchr(second + 2, '{')};
    for (int i = 0; i < 2; i++) {
        size_t len = i == 0 ? (size_t)(second + 2 - bodies[0]) : strlen(bodies[1]);
        char *pretty = strndup(bodies[i], len);
        buf got;
        buf_init(&got, 1u << 20);
        compact(pretty, &got);
        es_query_params p = {.flow = &flows[i == 0 ? 0 : 2],
                             .start_ms = END - 120000,
                             .end_ms = END,
                             .page_size = 5000,
                             .timeout_ms = 20000};
        buf want;
        buf_init(&want, 1u << 20);
        assert_int_equal(es_query_body(&p, &want), 0);
        assert_string_equal(got.data, want.data);
        buf_free(&got);
        buf_free(&want);
        free(pretty);
    }
    assert_non_null(strstr(text, "\"service.name\": \"a\\\"{b},[c]: d\""));
    assert_non_null(strstr(text, "\"aggs\": {\n"));

    /* Too small an output: -1. */
    buf small;
    buf_init(&small, 200);
    assert_int_equal(es_query_print(&cfg, END, &small), -1);
    buf_free(&small);
    buf_free(&out);
}

static void source_names(void **state) {
    assert_string_equal(es_query_source_names[EP_FROM_SERVICE], "from_service");
    assert_string_equal(es_query_source_names[EP_FROM_REGION], "from_region");
    assert_string_equal(es_query_source_names[EP_FROM_HOST], "from_host");
    assert_string_equal(es_query_source_names[EP_TO_SERVICE], "to_service");
    assert_string_equal(es_query_source_names[EP_TO_REGION], "to_region");
    assert_string_equal(es_query_source_names[EP_TO_HOST], "to_host");
}

/* The timeline's request (es_query.h): the refresh's envelope, range and
 * class filters, a date_histogram source first, then only the callee's
 * service and region; no latency sub-aggregation even when the flow reads one. */
static void timeline_body(void **state) {
    flow_config flow = nginx_flow();
    flow.latency_field = "event.duration";
    es_query_params p = {
        .flow = &flow, .start_ms = START, .end_ms = END, .page_size = 1000, .timeout_ms = 20000, .after_json = NULL};
    buf out;
    buf_init(&out, 1u << 20);
    assert_int_equal(es_query_timeline_body(&p, 60000, &out), 0);
    assert_string_equal(
        buf_cstr(&out),
        "{\"size\":0,\"track_total_hits\":false,\"timeout\":\"20s\",\"query\":{\"bool\":{\"filter\":["
        "{\"range\":{\"@timestamp\":{\"gte\":1717171200000,\"lt\":1717171500000,\"format\":\"epoch_millis\"}}},"
        "{\"term\":{\"event.dataset\":\"nginx.access\"}}]}},"
        "\"aggs\":{\"edges\":{\"composite\":{\"size\":1000,\"sources\":["
        "{\"from_host\":{\"date_histogram\":{\"field\":\"@timestamp\",\"fixed_interval\":\"60s\"}}},"
        "{\"to_service\":{\"terms\":{\"field\":\"host.name\",\"missing_bucket\":true}}},"
        "{\"to_region\":{\"terms\":{\"field\":\"cloud.region\",\"missing_bucket\":true}}}]}," NGINX_SUB_AGGS "}}}");
    /* A step that is not whole seconds is written in ms; after_key goes back verbatim. */
    buf_reset(&out);
    p.after_json = "{\"from_host\":1717171200000,\"to_service\":\"web-1\",\"to_region\":null}";
    assert_int_equal(es_query_timeline_body(&p, 1500, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "\"fixed_interval\":\"1500ms\""));
    assert_non_null(strstr(buf_cstr(&out), ",\"after\":{\"from_host\":1717171200000,"));
    assert_null(strstr(buf_cstr(&out), "lat_"));
    buf_free(&out);
}

/* The slice-count search of an incremental window: the full query's query
 * (range and where) byte for byte, one date_histogram source on the
 * timestamp field (the interval in whole seconds or in ms), no
 * sub-aggregations. */
static void slice_count_search(void **state) {
    (void)state;
    flow_config flow = nginx_flow();
    es_query_params p = {.flow = &flow,
                         .start_ms = START,
                         .end_ms = END,
                         .page_size = 1000,
                         .timeout_ms = 20000,
                         .after_json = "{\"slice\":1717171210000}",
                         .slice_ms = 10000};
    buf out;
    buf_init(&out, 1u << 20);
    assert_int_equal(es_query_body(&p, &out), 0);
    char *full = body_of(&flow, NULL);
    const char *aggs = strstr(full, "\"aggs\":");
    assert_non_null(aggs);
    assert_memory_equal(out.data, full, (size_t)(aggs - full));
    assert_string_equal(
        out.data + (aggs - full),
        "\"aggs\":{\"edges\":{\"composite\":{\"size\":1000,\"sources\":[{\"slice\":{\"date_histogram\":{"
        "\"field\":\"@timestamp\",\"fixed_interval\":\"10s\",\"missing_bucket\":true}}}],"
        "\"after\":{\"slice\":1717171210000}}}}}");
    free(full);
    buf_free(&out);

    p.slice_ms = 1500;
    p.after_json = NULL;
    buf_init(&out, 1u << 20);
    assert_int_equal(es_query_body(&p, &out), 0);
    assert_non_null(strstr(out.data, "\"fixed_interval\":\"1500ms\""));
    buf_free(&out);
}

/* A flow with resolve_callee, as otel-spans has it: classes, a count and a
 * latency of its own, and an address written A:B. */
static cfg_value server_kind = {.type = VALUE_STRING, .text = "Server"};
static condition server_where[] = {{.kind = COND_EQUALS, .field = "kind", .values = &server_kind, .nvalues = 1}};

static flow_config spans_flow(void) {
    flow_config flow = nginx_flow();
    flow.name = "spans";
    flow.index = "traces-*";
    flow.count_field = "span.count";
    flow.latency_field = "duration";
    flow.alt_fields[EP_TO_SERVICE][0] = "peer.service";
    flow.resolve_where = (condition_list){server_where, 1};
    flow.resolve_service = "service.name";
    flow.resolve_address = "server.address";
    flow.resolve_address_join = "server.port";
    return flow;
}

/* The companion's search: the flow's envelope, range and index, the
 * resolve_callee where, the service as caller and the address (and its
 * port) as callee, nothing else: no class, count or latency. */
#define COMPANION_BODY                                                                                                 \
    "{\"size\":0,\"track_total_hits\":false,\"timeout\":\"20s\",\"query\":{\"bool\":{\"filter\":["                     \
    "{\"range\":{\"@timestamp\":{\"gte\":1717171380000,\"lt\":1717171500000,\"format\":\"epoch_millis\"}}},"           \
    "{\"term\":{\"kind\":\"Server\"}}]}},"                                                                             \
    "\"aggs\":{\"edges\":{\"composite\":{\"size\":5000,\"sources\":["                                                  \
    "{\"from_service\":{\"terms\":{\"field\":\"service.name\",\"missing_bucket\":true}}},"                             \
    "{\"to_service\":{\"terms\":{\"field\":\"server.address\",\"missing_bucket\":true}}},"                             \
    "{\"to_service_join\":{\"terms\":{\"field\":\"server.port\",\"missing_bucket\":true}}}]}}}}"

/* `vizfeed query` with resolve_callee: the companion's request first, the
 * flow's after it, as source_resolve.c sends them; a timeline is refused
 * before any search, so only a note says so. */
static void print_resolve_callee(void **state) {
    (void)state;
    flow_config flows[2] = {spans_flow(), nginx_flow()};
    vizfeed_config cfg = {
        .window_ms = 120000, .es = {.timeout_ms = 20000, .page_size = 5000}, .flows = flows, .nflows = 2};
    buf out;
    buf_init(&out, 1u << 20);
    assert_int_equal(es_query_print(&cfg, END, &out), 0);
    const char *text = buf_cstr(&out);
    const char *head = "# flow spans.servers (resolve_callee of spans)\nPOST /traces-*/_search?filter_path=";
    assert_memory_equal(text, head, strlen(head));
    const char *second = strstr(text, "}\n\n# flow spans\nPOST /traces-*/_search?");
    assert_non_null(second);
    assert_non_null(strstr(second, "}\n\n# flow edge-nginx\nPOST /filebeat-*/_search?"));
    char *pretty = strndup(strchr(text, '{'), (size_t)(second + 1 - strchr(text, '{')));
    buf got;
    buf_init(&got, 1u << 20);
    compact(pretty, &got);
    assert_string_equal(buf_cstr(&got), COMPANION_BODY);
    /* The flow's own request is unchanged by its resolve_callee. */
    buf_reset(&got);
    const char *third = strstr(second + 2, "}\n\n# flow edge-nginx");
    char *own = strndup(strchr(second + 2, '{'), (size_t)(third + 1 - strchr(second + 2, '{')));
    compact(own, &got);
    es_query_params p = {
        .flow = &flows[0], .start_ms = END - 120000, .end_ms = END, .page_size = 5000, .timeout_ms = 20000};
    buf want;
    buf_init(&want, 1u << 20);
    assert_int_equal(es_query_body(&p, &want), 0);
    assert_string_equal(buf_cstr(&got), buf_cstr(&want));
    assert_non_null(strstr(buf_cstr(&got), "\"lat_max\""));

    buf_reset(&out);
    assert_int_equal(es_query_timeline_print(&cfg, END - 3600000, END, 60000, &out), 0);
    assert_string_equal(buf_cstr(&out), "# timeline: nothing is sent: flow spans (resolve_callee) has no timeline\n");
    /* A file flow with resolve_callee beside no elasticsearch flow: nothing at all. */
    flows[0].type = FLOW_FILE;
    cfg.nflows = 1;
    buf_reset(&out);
    assert_int_equal(es_query_timeline_print(&cfg, END - 3600000, END, 60000, &out), 0);
    assert_int_equal(out.len, 0);
    free(pretty);
    free(own);
    buf_free(&got);
    buf_free(&want);
    buf_free(&out);
}

/* source_resolve_companion(): the name and a replay's path get ".servers",
 * which --record and a replay use; the flow's own strings are borrowed. */
static void companion_of_replay(void **state) {
    (void)state;
    flow_config flow = spans_flow();
    flow.type = FLOW_REPLAY;
    flow.path = "rec/spans//";
    flow_config c;
    source_resolve_companion(&flow, &c);
    assert_string_equal(c.name, "spans.servers");
    assert_string_equal(c.path, "rec/spans.servers");
    assert_ptr_equal(c.index, flow.index);
    assert_ptr_equal(c.fields[EP_FROM_SERVICE], flow.resolve_service);
    assert_ptr_equal(c.fields[EP_TO_SERVICE], flow.resolve_address);
    assert_ptr_equal(c.join_fields[EP_TO_SERVICE][0], flow.resolve_address_join);
    assert_string_equal(c.alt_fields[EP_TO_SERVICE][0], "");
    assert_string_equal(c.resolve_service, "");
    assert_int_equal(c.danger.n, 0);
    assert_string_equal(c.count_field, "");
    assert_string_equal(c.latency_field, "");
    source_resolve_companion_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nginx_first_page),
        cmocka_unit_test(nginx_after_page),
        cmocka_unit_test(count_field_and_danger_only),
        cmocka_unit_test(warning_only_and_plain),
        cmocka_unit_test(path_encoding),
        cmocka_unit_test(print_dev_tools_form),
        cmocka_unit_test(source_names),
        cmocka_unit_test(timeline_body),
        cmocka_unit_test(slice_count_search),
        cmocka_unit_test(print_resolve_callee),
        cmocka_unit_test(companion_of_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
