/*
 * test_graph.c - the model and the Vizceral rendering (SPEC §5).
 *
 * Models are built by hand from endpoint and flow_config structs, rendered,
 * and checked two ways: exact substrings of the JSON for the numbers and
 * texts that matter, and the Python validator (tests/vizceral_validator.py)
 * on the whole document for the structural rules. Runs in tests/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <float.h>
#include <unistd.h>

/* Our headers first: cmocka defines a util_fail() macro that would clash with util.h's util_fail(). */
#include "config.h"
#include "graph.h"
#include "graph_state.h"
#include "bounds.h"

#include <cmocka.h>

#define T0        1767225600000LL /* 2026-01-01T00:00:00Z */
#define WINDOW_MS 120000LL

static flow_config flows[3];
static graph_flow_info infos[3];
static graph_config cfg;

static void setup_config(void) {
    memset(flows, 0, sizeof flows);
    memset(infos, 0, sizeof infos);
    static const char *names[] = {"web", "mesh", "probe"};
    static const char *labels[] = {"5xx", "5xx", "down"};
    for (int i = 0; i < 3; i++) {
        flow_config *f = &flows[i];
        f->name = (char *)names[i];
        f->danger_label = (char *)labels[i];
        f->warning_label = (char *)"4xx";
        for (int k = 0; k < EP_COUNT; k++) f->fields[k] = (char *)"";
        f->fields[EP_FROM_SERVICE] = (char *)"source.service";
        f->fields[EP_TO_SERVICE] = (char *)"destination.service";
        f->fields[EP_FROM_REGION] = (char *)"source.region";
        f->fields[EP_TO_REGION] = (char *)"cloud.region";
        infos[i].flow = f;
        infos[i].data_end_ms = T0;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.name = (char *)"edge";
    cfg.entry = (char *)"INTERNET";
    cfg.default_region = (char *)"default";
    cfg.max_services = 100;
    cfg.warning = 0.03;
    cfg.danger = 0.10;
    cfg.min_rate = 0.1;
    cfg.notice_link = (char *)"";
}

static int setup(void **state) {
    (void)state;
    setup_config();
    return 0;
}

static endpoint ep(const char *region, const char *service, const char *host) {
    endpoint e;
    memset(&e, 0, sizeof e);
    snprintf(e.region, sizeof e.region, "%s", region);
    snprintf(e.service, sizeof e.service, "%s", service ? service : "");
    snprintf(e.host, sizeof e.host, "%s", host ? host : "");
    e.is_entry = service == NULL;
    return e;
}

/* Adds one edge; from_service NULL means the entry node. */
static void add(graph_model *m, const char *fr, const char *fs, const char *tr, const char *ts, const char *host,
                double normal, double warning, double danger, unsigned flow) {
    endpoint a = ep(fr, fs, NULL), b = ep(tr, ts, host);
    double c[CLASS_COUNT] = {normal, warning, danger};
    char err[ERR_LEN];
    assert_int_equal(graph_model_add(m, &a, &b, c, flow, err), 0);
}

static graph_render_opts opts_at(int64_t end) {
    graph_render_opts o = {.window_end_ms = end, .window_ms = WINDOW_MS, .flows = infos, .nflows = 3};
    return o;
}

/* Renders with st (a fresh state when NULL); the caller frees the text. */
static char *render_with(const graph_model *m, graph_state *st, int64_t end, graph_stats *stats) {
    graph_state *own = st ? NULL : graph_state_new();
    graph_render_opts o = opts_at(end);
    buf out;
    buf_init(&out, VIZ_MAX_GRAPH_JSON);
    char err[ERR_LEN] = "";
    graph_stats s;
    int rc = graph_render(m, &cfg, st ? st : own, &o, &out, stats ? stats : &s, err);
    if (rc != 0) fail_msg("render failed: %s", err);
    graph_state_free(own);
    return buf_take(&out, NULL);
}

static char *render(const graph_model *m) {
    return render_with(m, NULL, T0, NULL);
}

/* Runs the Python validator on json; returns its exit status. */
static int validate(const char *json, const char *extra) {
    char path[] = "/tmp/vizfeed-graph-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(json, f);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "python3 vizceral_validator.py %s %s", extra ? extra : "", path);
    int rc = system(cmd);
    unlink(path);
    return rc;
}

#define assert_contains(hay, needle)                                                                                   \
    do {                                                                                                               \
        if (!strstr((hay), (needle))) fail_msg("missing %s in\n%s", (needle), (hay));                                  \
    } while (0)
#define assert_not_contains(hay, needle)                                                                               \
    do {                                                                                                               \
        if (strstr((hay), (needle))) fail_msg("unexpected %s in\n%s", (needle), (hay));                                \
    } while (0)

static void assert_valid(const char *json) {
    assert_int_equal(validate(json, "--thresholds 0.03,0.10,0.1"), 0);
}

/* The text of the region object named region (up to the next region). */
static char *region_text(const char *json, const char *region) {
    char key[300];
    snprintf(key, sizeof key, "{\"renderer\":\"region\",\"name\":\"%s\",\"displayName\"", region);
    const char *p = strstr(json, key);
    if (!p) {
        fail_msg("no region %s in\n%s", region, json);
        return strdup("");
    }
    const char *end = strstr(p + 1, "{\"renderer\":\"region\"");
    const char *root_conns = strstr(p, "]}],\"connections\"");
    if (!end || (root_conns && root_conns < end)) end = root_conns ? root_conns : p + strlen(p);
    return strndup(p, (size_t)(end - p));
}

/* ---- tests ---- */

static void test_rates_and_rounding(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", NULL, 100, 0, 0, 0);       /* 100 / 120 s = 0.8333 */
    add(m, "eu", "web", "eu", "api", NULL, 1481481, 0, 12, 0); /* 12345.675 -> 12350, 0.1 */
    add(m, "eu", "api", "eu", "db", NULL, 120, 0, 0.0001, 0);  /* danger 8.333e-7/s */
    char *json = render(m);
    assert_contains(json, "{\"source\":\"INTERNET\",\"target\":\"web\",\"metrics\":{\"normal\":0.8333},"
                          "\"class\":\"normal\",\"metadata\":{\"normal\":100,\"warning\":0,\"danger\":0}}");
    assert_contains(json, "\"source\":\"web\",\"target\":\"api\",\"metrics\":{\"normal\":12350,\"danger\":0.1}");
    /* A rare error stays visible: 4 significant digits, not 4 decimals. */
    assert_contains(json, "\"source\":\"api\",\"target\":\"db\",\"metrics\":{\"normal\":1,\"danger\":0.0000008333}");
    assert_contains(json, "\"metadata\":{\"normal\":120,\"warning\":0,\"danger\":0.0001}");
    assert_contains(json, "\"renderer\":\"global\",\"name\":\"edge\",\"entryNode\":\"INTERNET\","
                          "\"updated\":1767225600000,\"serverUpdateTime\":1767225600000");
    /* Service metadata: in, out, error share. */
    assert_contains(json, "\"name\":\"api\",\"class\":\"normal\",\"metadata\":{\"rate_in\":12350,\"rate_out\":1,"
                          "\"error_share\":0.0000081");
    assert_valid(json);
    free(json);
    graph_model_free(m);
}

static void test_classes_at_thresholds(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "a", NULL, 97, 0, 3, 0);   /* 3% exactly: warning */
    add(m, "eu", NULL, "eu", "b", NULL, 90, 0, 10, 0);  /* 10%: danger */
    add(m, "eu", NULL, "eu", "c", NULL, 971, 0, 29, 0); /* 2.9%: normal */
    add(m, "eu", NULL, "eu", "d", NULL, 5, 0, 5, 0);    /* 50% but 10/120 s < 0.1/s: normal */
    add(m, "eu", NULL, "eu", "e", NULL, 0, 1000, 0, 0); /* all warnings, no danger: normal */
    char *json = render(m);
    assert_contains(json, "\"target\":\"a\",\"metrics\":{\"normal\":0.8083,\"danger\":0.025},\"class\":\"warning\"");
    assert_contains(json, "\"target\":\"b\",\"metrics\":{\"normal\":0.75,\"danger\":0.08333},\"class\":\"danger\"");
    assert_contains(json, "\"target\":\"c\",\"metrics\":{\"normal\":8.092,\"danger\":0.2417},\"class\":\"normal\"");
    assert_contains(json, "\"target\":\"d\",\"metrics\":{\"normal\":0.04167,\"danger\":0.04167},\"class\":\"normal\"");
    assert_contains(json, "\"target\":\"e\",\"metrics\":{\"warning\":8.333},\"class\":\"normal\"");
    /* Nodes: share over incoming traffic; notices with severity. */
    assert_contains(json, "{\"renderer\":\"focusedChild\",\"name\":\"a\",\"class\":\"warning\",\"notices\":[{\"title\":"
                          "\"5xx 3.0% (0.025/s) over 2m\",\"subtitle\":\"into a in eu\",\"severity\":1}]");
    assert_contains(json, "\"name\":\"b\",\"class\":\"danger\",\"notices\":[{\"title\":\"5xx 10.0% (0.08333/s) over "
                          "2m\",\"subtitle\":\"into b in eu\",\"severity\":2}]");
    /* The region is coloured by all traffic into its services:
     * 47 danger of 2210 = 2.1%: normal. */
    assert_contains(json, "\"name\":\"eu\",\"displayName\":\"eu\",\"class\":\"normal\"");
    /* The entry node is never coloured. */
    assert_contains(json, "{\"renderer\":\"focusedChild\",\"name\":\"INTERNET\",\"class\":\"normal\"}");
    assert_valid(json);
    free(json);
    graph_model_free(m);
}

static void test_notice_escaping(void **state) {
    (void)state;
    const char *evil = "<img src=x onerror=alert(1)>";
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", NULL, 1000, 0, 0, 0);
    add(m, "eu", "web", "eu", evil, NULL, 500, 0, 500, 0);
    add(m, "eu", "a&b", "eu", "web", NULL, 500, 0, 500, 0);
    flows[0].danger_label = (char *)"\"5xx\" & 'fail'";
    char *json = render(m);
    assert_contains(json, "\"subtitle\":\"from web to &lt;img src=x onerror=alert(1)&gt;\"");
    assert_contains(json, "\"subtitle\":\"into &lt;img src=x onerror=alert(1)&gt; in eu\"");
    assert_contains(json, "\"subtitle\":\"from a&amp;b to web\"");
    assert_contains(json, "\"title\":\"&quot;5xx&quot; &amp; &#39;fail&#39; 50.0% (4.167/s) over 2m\"");
    /* Names are data, not HTML: they stay as they are (JSON-escaped only). */
    assert_contains(json, "\"name\":\"<img src=x onerror=alert(1)>\"");
    assert_valid(json);
    free(json);
    graph_model_free(m);
}

static void test_notice_links(void **state) {
    (void)state;
    cfg.notice_link = (char *)"https://kibana.example/app?q={query}&from={from}&to={to}&r={region}&w={window}&x={x}";
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", NULL, 50, 0, 50, 0);
    add(m, "eu", "web", "eu", "my \"db\"", NULL, 50, 0, 50, 0);
    char *json = render(m);
    /* Edge: both parts, KQL quotes escaped, all URL-encoded (RFC 3986). */
    assert_contains(json, "\"link\":\"https://kibana.example/app?q=source.service%3A%22web%22%20and%20destination."
                          "service%3A%22my%20%5C%22db%5C%22%22&from=web&to=my%20%22db%22&r=eu&w=2m&x={x}\"");
    /* From the entry node: only the callee part. */
    assert_contains(json, "\"link\":\"https://kibana.example/app?q=destination.service%3A%22web%22&from=INTERNET&"
                          "to=web&r=eu&w=2m&x={x}\"");
    /* Node: its callee part, no from. */
    assert_contains(json, "?q=destination.service%3A%22web%22&from=&to=web&r=eu");
    /* Root and region: the region field. */
    assert_contains(json, "?q=cloud.region%3A%22eu%22&from=INTERNET&to=eu&r=eu");
    assert_valid(json);
    free(json);

    /* A caller field that is not read: only the callee part. */
    flows[0].fields[EP_FROM_SERVICE] = (char *)"";
    json = render(m);
    assert_contains(json, "?q=destination.service%3A%22my%20%5C%22db%5C%22%22&from=web&");
    free(json);

    /* Links that are not http(s) after filling are dropped, the notice kept. */
    cfg.notice_link = (char *)"javascript:alert({query})";
    json = render(m);
    assert_not_contains(json, "\"link\"");
    assert_contains(json, "\"severity\":2");
    free(json);
    cfg.notice_link = (char *)"{to}";
    json = render(m);
    assert_not_contains(json, "\"link\"");
    free(json);
    /* Too long after filling: dropped. */
    char *longlink = malloc(VIZ_MAX_NOTICE_LINK + 16);
    memset(longlink, 'a', VIZ_MAX_NOTICE_LINK);
    memcpy(longlink, "https://x/", 10);
    strcpy(longlink + VIZ_MAX_NOTICE_LINK - 1, "{to}"); /* 2047 bytes + a name */
    cfg.notice_link = longlink;
    json = render(m);
    assert_not_contains(json, "\"link\"");
    free(json);
    free(longlink);
    graph_model_free(m);
}

static void test_other_merging(void **state) {
    (void)state;
    cfg.max_services = 3;
    graph_model *m = graph_model_new();
    /* Busiest: gw (in 1000 + out 400 ...), then a, then the small ones. */
    add(m, "eu", NULL, "eu", "gw", NULL, 1000, 0, 0, 0);
    add(m, "eu", "gw", "eu", "a", NULL, 600, 0, 0, 0);
    add(m, "eu", "gw", "eu", "s1", NULL, 24, 0, 0, 0);
    add(m, "eu", "gw", "eu", "s2", NULL, 12, 0, 12, 0);
    add(m, "eu", "a", "eu", "s3", NULL, 36, 0, 0, 0);
    add(m, "eu", "s1", "eu", "s2", NULL, 60, 0, 0, 0); /* inside other: its self-call */
    add(m, "eu", "s3", "us", "db", NULL, 12, 0, 0, 0);
    char *json = render(m);
    char *eu = region_text(json, "eu");
    assert_contains(eu, "\"hidden_services\":3");
    /* Nodes: entry, kept services and other by name, stand-in last. */
    const char *p_entry = strstr(eu, "\"name\":\"INTERNET\"");
    const char *p_a = strstr(eu, "\"name\":\"a\"");
    const char *p_gw = strstr(eu, "\"name\":\"gw\"");
    const char *p_other = strstr(eu, "\"name\":\"other\"");
    const char *p_us = strstr(eu, "\"name\":\"us\"");
    assert_true(p_entry && p_a && p_gw && p_other && p_us);
    assert_true(p_entry < p_a && p_a < p_gw && p_gw < p_other && p_other < p_us);
    assert_not_contains(eu, "\"name\":\"s1\"");
    /* gw -> s1 + s2 summed; a -> s3; s3 -> us via other. */
    assert_contains(eu, "{\"source\":\"gw\",\"target\":\"other\",\"metrics\":{\"normal\":0.3,\"danger\":0.1},"
                        "\"class\":\"danger\"");
    assert_contains(eu, "\"metadata\":{\"normal\":36,\"warning\":0,\"danger\":12}");
    assert_contains(eu, "{\"source\":\"a\",\"target\":\"other\",\"metrics\":{\"normal\":0.3}");
    assert_contains(eu, "{\"source\":\"other\",\"target\":\"us\",\"metrics\":{\"normal\":0.1}");
    assert_contains(eu, "\"name\":\"other\",\"class\":\"danger\"");
    assert_contains(eu, "\"self_call_rate\":0.5,\"merged_services\":3");
    assert_valid(json);
    free(eu);
    free(json);

    /* A cap of the exact count merges nothing. */
    cfg.max_services = 5;
    json = render(m);
    eu = region_text(json, "eu");
    assert_contains(eu, "\"hidden_services\":0");
    assert_not_contains(eu, "\"other\"");
    free(eu);
    free(json);
    graph_model_free(m);
}

static void test_cross_region(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", NULL, 1200, 0, 0, 0);
    add(m, "eu", "web", "us", "db", NULL, 240, 0, 0, 0);
    add(m, "eu", "web", "us", "cache", NULL, 120, 0, 0, 0);
    add(m, "us", "db", "eu", "web", NULL, 12, 0, 0, 1);
    add(m, "us", "cron", "us", "db", NULL, 24, 0, 0, 1); /* us has no ingress */
    char *json = render(m);
    /* Root: entry first, regions by name; entry -> every region ({} for us,
     * which has no ingress), then cross-region calls. */
    assert_contains(json, "\"nodes\":[{\"renderer\":\"region\",\"name\":\"INTERNET\",\"class\":\"normal\"},"
                          "{\"renderer\":\"region\",\"name\":\"eu\"");
    assert_contains(json, "\"connections\":[{\"source\":\"INTERNET\",\"target\":\"eu\",\"metrics\":{\"normal\":10},"
                          "\"class\":\"normal\",\"metadata\":{\"normal\":1200,\"warning\":0,\"danger\":0}},"
                          "{\"source\":\"INTERNET\",\"target\":\"us\",\"metrics\":{},\"class\":\"normal\",\"metadata\":"
                          "{\"normal\":0,\"warning\":0,\"danger\":0}},"
                          "{\"source\":\"eu\",\"target\":\"us\",\"metrics\":{\"normal\":3}");
    assert_contains(json, "{\"source\":\"us\",\"target\":\"eu\",\"metrics\":{\"normal\":0.1}");
    char *eu = region_text(json, "eu");
    assert_contains(eu, "\"entryNode\":\"INTERNET\"");
    assert_contains(eu, "{\"source\":\"web\",\"target\":\"us\",\"metrics\":{\"normal\":3}");
    assert_contains(eu, "{\"source\":\"us\",\"target\":\"web\",\"metrics\":{\"normal\":0.1}");
    assert_contains(eu, "\"name\":\"us\",\"displayName\":\"us\",\"class\":\"normal\",\"metadata\":{\"region\":true");
    assert_contains(eu, "\"flows\":[\"web\",\"mesh\"]");
    char *us = region_text(json, "us");
    /* No ingress: no entry node, no entryNode (Vizceral would divide by zero). */
    assert_not_contains(us, "INTERNET");
    assert_contains(us, "{\"source\":\"eu\",\"target\":\"cache\",\"metrics\":{\"normal\":1}");
    assert_contains(us, "{\"source\":\"eu\",\"target\":\"db\",\"metrics\":{\"normal\":2}");
    assert_contains(us, "{\"source\":\"db\",\"target\":\"eu\"");
    assert_valid(json);
    free(eu);
    free(us);
    free(json);
    graph_model_free(m);
}

static void test_name_clashes(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "us", NULL, 120, 0, 0, 0); /* a service called like a region */
    add(m, "eu", "us", "us", "api", NULL, 120, 0, 0, 0);
    add(m, "eu", "us", "eu", "INTERNET", NULL, 120, 0, 0, 0); /* a service called like the entry */
    add(m, "INTERNET", "x", "eu", "us", NULL, 120, 0, 0, 0);  /* a region called like the entry */
    char *json = render(m);
    char *eu = region_text(json, "eu");
    assert_contains(eu, "\"name\":\"us (region)\"");
    assert_contains(eu, "{\"source\":\"us\",\"target\":\"us (region)\"");
    assert_contains(eu, "\"name\":\"INTERNET (service)\"");
    assert_contains(eu, "\"name\":\"INTERNET (region)\"");
    assert_contains(json, "{\"renderer\":\"region\",\"name\":\"INTERNET (region)\",\"displayName\":\"INTERNET\"");
    assert_valid(json);
    free(eu);
    free(json);
    graph_model_free(m);
}

static void test_hosts(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", "web-02", 120, 0, 0, 0);
    add(m, "eu", NULL, "eu", "web", "web-01", 240, 0, 12, 0);
    add(m, "eu", "web", "eu", "db", "db-1", 60, 0, 0, 0);
    add(m, "eu", "web", "eu", "db", "db-1", 60, 0, 0, 1);
    add(m, "eu", "web", "eu", "cache", NULL, 60, 0, 0, 0); /* no host known */
    char *json = render(m);
    assert_contains(json, "\"nodes\":[{\"name\":\"web-01\",\"metrics\":{\"normal\":2,\"danger\":0.1}},"
                          "{\"name\":\"web-02\",\"metrics\":{\"normal\":1}}]");
    assert_contains(json, "\"nodes\":[{\"name\":\"db-1\",\"metrics\":{\"normal\":1}}]");
    assert_contains(json, "\"name\":\"cache\",\"class\":\"normal\",\"metadata\":{\"rate_in\":0.5,\"rate_out\":0,"
                          "\"error_share\":0}}");
    assert_valid(json);
    free(json);

    /* More hosts than listed: the busiest stay, by name, the rest counted. */
    for (int i = 0; i < VIZ_MAX_HOSTS_PER_SERVICE + 5; i++) {
        char host[32];
        snprintf(host, sizeof host, "h%04d", i);
        add(m, "eu", "web", "eu", "big", host, i < 5 ? 1 : 1000, 0, 0, 0);
    }
    json = render(m);
    assert_contains(json, "\"hosts_hidden\":5");
    assert_not_contains(json, "\"h0003\"");
    assert_not_contains(json, "\"h0004\"");
    assert_contains(json, "\"nodes\":[{\"name\":\"h0005\"");
    assert_contains(json, "\"h1004\"");
    assert_valid(json);
    free(json);
    graph_model_free(m);
}

static void test_self_calls_and_dropped(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", NULL, 120, 0, 0, 0);
    endpoint w = ep("eu", "web", NULL);
    double c[CLASS_COUNT] = {240, 0, 0};
    graph_model_add_self_call(m, &w, c, 0);
    add(m, "eu", "web", "eu", "web", NULL, 120, 0, 0, 0); /* add() of a self-call counts it too */
    graph_model_add_dropped(m, 7, 0);
    endpoint nobody = ep("eu", "", NULL);
    char err[ERR_LEN];
    assert_int_equal(graph_model_add(m, &w, &nobody, c, 0, err), 0); /* no callee: dropped */
    assert_int_equal(graph_model_edges(m), 1);
    char *json = render(m);
    assert_contains(json, "\"self_call_rate\":3");
    assert_contains(json, "\"self_calls\":360");
    assert_contains(json, "\"dropped\":247");
    assert_valid(json);
    free(json);
    graph_model_free(m);
}

/* Issue 15 item 1: maxVolume is a function of the view alone, on steps of
 * 1, 2 and 5 x 10^k, so replicas publish the same bytes whatever each saw
 * before (the decay it replaced kept a burst's maxVolume for an hour). */
static void test_max_volume_on_steps(void **state) {
    (void)state;
    graph_model *big = graph_model_new(), *small = graph_model_new(), *odd = graph_model_new();
    add(big, "eu", NULL, "eu", "web", NULL, 12000, 0, 0, 0);  /* 100/s -> 500 */
    add(small, "eu", NULL, "eu", "web", NULL, 1200, 0, 0, 0); /* 10/s -> 50 */
    add(odd, "eu", NULL, "eu", "web", NULL, 4440, 0, 0, 0);   /* 37/s -> 185 -> 200 */
    graph_state *st = graph_state_new();
    char *json = render_with(big, st, T0, NULL);
    assert_contains(json, "\"maxVolume\":500,");
    free(json);
    /* After a burst, the same state gives what a fresh one gives. */
    json = render_with(small, st, T0 + 60000, NULL);
    assert_contains(json, "\"maxVolume\":50,");
    char *fresh = render_with(small, NULL, T0 + 60000, NULL);
    assert_string_equal(json, fresh);
    free(fresh);
    free(json);
    json = render_with(odd, st, T0 + 120000, NULL);
    assert_contains(json, "\"maxVolume\":200,");
    free(json);
    /* Tiny traffic: never below 1. */
    graph_model *tiny = graph_model_new();
    add(tiny, "eu", NULL, "eu", "web", NULL, 1, 0, 0, 0);
    json = render(tiny);
    assert_contains(json, "\"maxVolume\":1,");
    free(json);
    graph_model_free(tiny);
    graph_state_free(st);
    graph_model_free(big);
    graph_model_free(small);
    graph_model_free(odd);
}

static void test_max_volume_steps(void **state) {
    (void)state;
    struct {
        double rate, volume;
    } cases[] = {{0, 1},       {0.1, 1},     {0.2, 1},  {0.21, 2}, {0.4, 2},      {0.5, 5},   {1, 5},
                 {1.01, 10},   {2, 10},      {2.2, 20}, {20, 100}, {20.2, 200},   {100, 500}, {100.1, 1000},
                 {1e14, 5e14}, {2e14, 1e15}, {-3, 1},   {NAN, 1},  {INFINITY, 1}, {1e308, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = graph_max_volume(cases[i].rate);
        if (v != cases[i].volume) fail_msg("rate %g: maxVolume %g, expected %g", cases[i].rate, v, cases[i].volume);
    }
}

static void test_stale(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", NULL, 120, 0, 0, 0);
    add(m, "us", NULL, "us", "api", NULL, 120, 0, 0, 1);
    infos[1].stale_since_ms = T0 - 90000;
    infos[1].data_end_ms = T0 - 60000;
    char *json = render(m);
    char *us = region_text(json, "us");
    assert_contains(us, "\"updated\":1767225540000");
    assert_contains(us, "\"notices\":[{\"title\":\"data stale since 2025-12-31T23:58:30.000Z\",\"severity\":2}]");
    assert_contains(us, "\"stale\":true");
    char *eu = region_text(json, "eu");
    assert_not_contains(eu, "stale");
    assert_contains(eu, "\"updated\":1767225600000");
    assert_valid(json);
    free(us);
    free(eu);
    free(json);
    graph_model_free(m);
}

/* Adds the same rows in the order given by perm into a new model. */
static graph_model *model_in_order(const int *perm, int n) {
    static const struct {
        const char *fr, *fs, *tr, *ts, *host;
        double c[3];
        unsigned flow;
    } rows[] = {
        {"eu", NULL, "eu", "web", "w1", {100, 1, 2}, 0}, {"eu", "web", "eu", "api", "a1", {50, 0, 9}, 0},
        {"eu", "api", "us", "db", "d1", {30, 0, 0}, 1},  {"us", "db", "eu", "api", NULL, {3, 3, 3}, 1},
        {"eu", NULL, "eu", "web", "w2", {100, 0, 0}, 1}, {"us", NULL, "us", "lb", NULL, {10, 0, 0}, 0},
        {"us", "lb", "us", "db", "d2", {10, 0, 1}, 0},   {"eu", "web", "eu", "api", "a2", {7, 0, 0}, 1},
        {"eu", "api", "us", "lb", NULL, {2, 0, 0}, 0},   {"ap", "x", "eu", "web", "w1", {1, 0, 0}, 2},
    };
    graph_model *m = graph_model_new();
    for (int i = 0; i < n; i++) {
        int r = perm[i];
        add(m, rows[r].fr, rows[r].fs, rows[r].tr, rows[r].ts, rows[r].host, rows[r].c[0], rows[r].c[1], rows[r].c[2],
            rows[r].flow);
    }
    return m;
}

static void test_determinism(void **state) {
    (void)state;
    cfg.max_services = 2;
    int forward[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int backward[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    int mixed[10] = {4, 7, 1, 9, 0, 3, 8, 2, 6, 5};
    graph_model *a = model_in_order(forward, 10), *b = model_in_order(backward, 10), *c = model_in_order(mixed, 10);
    char *ja = render(a), *jb = render(b), *jc = render(c);
    assert_string_equal(ja, jb);
    assert_string_equal(ja, jc);
    /* Merging two halves gives the same graph as adding everything to one. */
    graph_model *h1 = model_in_order(mixed, 5), *h2 = model_in_order(mixed + 5, 5);
    char err[ERR_LEN];
    assert_int_equal(graph_model_merge(h2, h1, err), 0);
    char *jm = render(h2);
    assert_string_equal(ja, jm);
    /* Rendering twice with a fresh state: identical bytes. */
    char *again = render(a);
    assert_string_equal(ja, again);
    assert_valid(ja);
    free(ja);
    free(jb);
    free(jc);
    free(jm);
    free(again);
    graph_model_free(a);
    graph_model_free(b);
    graph_model_free(c);
    graph_model_free(h1);
    graph_model_free(h2);
}

static void test_stats_and_empty(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    graph_stats s;
    char *json = render_with(m, NULL, T0, &s);
    assert_string_equal(json, "{\"renderer\":\"global\",\"name\":\"edge\",\"entryNode\":\"INTERNET\",\"updated\":"
                              "1767225600000,\"serverUpdateTime\":1767225600000,\"metadata\":{\"window_s\":120,"
                              "\"dropped\":0},\"nodes\":[{\"renderer\":\"region\",\"name\":\"INTERNET\",\"class\":"
                              "\"normal\"}],\"connections\":[]}");
    assert_int_equal(s.regions, 0);
    assert_valid(json);
    free(json);
    add(m, "eu", NULL, "eu", "web", NULL, 120, 0, 0, 0);
    add(m, "eu", "web", "us", "db", NULL, 120, 0, 0, 0);
    add(m, "eu", "web", "eu", "zero", NULL, 0, 0, 0, 0); /* no traffic: no edge, no node */
    json = render_with(m, NULL, T0, &s);
    assert_not_contains(json, "zero");
    assert_int_equal(s.regions, 2);
    assert_int_equal(s.services, 2);
    /* root: entry->eu, entry->us, eu->us; eu: entry->web, web->us; us: eu->db */
    assert_int_equal(s.connections, 6);
    assert_int_equal(s.hidden, 0);
    assert_valid(json);
    free(json);
    graph_model_free(m);
}

static void test_output_cap(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", NULL, "eu", "web", NULL, 120, 0, 0, 0);
    graph_state *st = graph_state_new();
    graph_render_opts o = opts_at(T0);
    buf out;
    buf_init(&out, 100);
    char err[ERR_LEN] = "";
    graph_stats s;
    assert_int_equal(graph_render(m, &cfg, st, &o, &out, &s, err), -1);
    assert_contains(err, "larger than 100 bytes");
    assert_int_equal(out.len, 0);
    buf_free(&out);
    graph_state_free(st);
    graph_model_free(m);
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The JSON object of the connection source -> target (the first one: region
 * views come before the root's connections); the caller frees it. */
static char *conn_json(const char *json, const char *source, const char *target) {
    char key[256];
    snprintf(key, sizeof key, "{\"source\":\"%s\",\"target\":\"%s\"", source, target);
    const char *p = strstr(json, key);
    if (!p) fail_msg("no connection %s -> %s in\n%s", source, target, json);
    int depth = 0;
    const char *q = p;
    bool in_string = false;
    for (; *q; q++) {
        if (in_string) {
            if (*q == '\\')
                q++;
            else if (*q == '"')
                in_string = false;
            continue;
        }
        if (*q == '"') in_string = true;
        if (*q == '{') depth++;
        if (*q == '}' && --depth == 0) break;
    }
    size_t n = (size_t)(q - p) + 1;
    char *out = malloc(n + 1);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static void expect_conn(const char *json, const char *target, const char *change, const char *cls) {
    char *c = conn_json(json, "web", target);
    char want[64];
    if (change) {
        snprintf(want, sizeof want, "\"change\":\"%s\"", change);
        assert_contains(c, want);
    } else if (strstr(c, "\"change\"")) {
        fail_msg("web -> %s has a change mark: %s", target, c);
    }
    snprintf(want, sizeof want, "\"class\":\"%s\"", cls);
    assert_contains(c, want);
    free(c);
}

/* graph_model_set_baseline() and the marks: the surge ratio and its inverse
 * are marks at exactly 3x and 1/3, not below; min_rate applies to new and gone
 * edges (a gone one under it is not drawn at all); every connection carries
 * its baseline_rate; the result obeys the validator. */
static void test_baseline_marks(void **state) {
    graph_model *now = graph_model_new(), *base = graph_model_new();
    add(now, "eu", NULL, "eu", "web", NULL, 1200, 0, 0, 0);
    add(base, "eu", NULL, "eu", "web", NULL, 1200, 0, 0, 0);
    add(now, "eu", "web", "eu", "api", NULL, 3600, 0, 0, 0); /* 30/s, 10/s then: exactly 3x */
    add(base, "eu", "web", "eu", "api", NULL, 1200, 0, 0, 0);
    add(now, "eu", "web", "eu", "db", NULL, 1190, 0, 0, 0); /* exactly a third */
    add(base, "eu", "web", "eu", "db", NULL, 3570, 0, 0, 0);
    add(now, "eu", "web", "eu", "cache", NULL, 2000, 0, 0, 0); /* twice: no mark */
    add(base, "eu", "web", "eu", "cache", NULL, 1000, 0, 0, 0);
    add(now, "eu", "web", "eu", "fresh", NULL, 100, 0, 0, 0); /* 0.83/s, none then */
    add(now, "eu", "web", "eu", "tiny", NULL, 5, 0, 0, 0);    /* 0.04/s, under min_rate */
    add(base, "eu", "web", "eu", "gone", NULL, 600, 0, 0, 0); /* 5/s then, none now */
    add(base, "eu", "web", "eu", "faint", NULL, 6, 0, 0, 0);  /* 0.05/s then: not drawn */
    assert_int_equal(graph_model_set_baseline(now, base), 6);
    graph_state *st = graph_state_new();
    graph_render_opts o = opts_at(T0);
    o.baseline_ms = 7LL * 86400000;
    buf out;
    buf_init(&out, VIZ_MAX_GRAPH_JSON);
    char err[ERR_LEN] = "";
    graph_stats stats;
    assert_int_equal(graph_render(now, &cfg, st, &o, &out, &stats, err), 0);
    char *json = buf_take(&out, NULL);
    expect_conn(json, "api", "surge", "normal");
    expect_conn(json, "db", "drop", "normal");
    expect_conn(json, "cache", NULL, "normal");
    expect_conn(json, "fresh", "new", "normal");
    expect_conn(json, "tiny", NULL, "normal");
    expect_conn(json, "gone", "gone", "warning");
    assert_null(strstr(json, "faint"));
    assert_contains(json, "traffic 3.0\u00d7 the usual: 30/s now, 10/s 1w ago");
    assert_contains(json, "traffic 0.3\u00d7 the usual: 9.917/s now, 29.75/s 1w ago");
    assert_contains(json, "no traffic now: 5/s 1w ago");
    char *gone = conn_json(json, "web", "gone");
    assert_contains(gone, "\"metrics\":{}");
    assert_contains(gone, "\"baseline_rate\":5");
    free(gone);
    assert_contains(json, "\"baseline\":\"1w\"");
    assert_int_equal(validate(json, "--thresholds 0.03,0.10,0.1"), 0);
    free(json);
    graph_state_free(st);
    graph_model_free(now);
    graph_model_free(base);
}

/* A baseline without traffic leaves the model as it was: the render is the
 * one without a baseline but for metadata.baseline. */
static void test_empty_baseline_changes_nothing(void **state) {
    graph_model *a = graph_model_new(), *b = graph_model_new(), *base = graph_model_new();
    add(a, "eu", NULL, "eu", "web", NULL, 1200, 0, 30, 0);
    add(b, "eu", NULL, "eu", "web", NULL, 1200, 0, 30, 0);
    add(base, "eu", "web", "eu", "api", NULL, 0, 0, 0, 0);
    assert_int_equal(graph_model_set_baseline(b, base), 0);
    char *ja = render(a), *jb = render(b);
    assert_string_equal(ja, jb);
    assert_null(strstr(jb, "baseline"));
    free(ja);
    free(jb);
    graph_model_free(a);
    graph_model_free(b);
    graph_model_free(base);
}

static void test_edge_limit(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    endpoint from = ep("eu", "caller", NULL), to = ep("eu", "", NULL);
    double c[CLASS_COUNT] = {1, 0, 0};
    char err[ERR_LEN] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < VIZ_MAX_EDGES; i++) {
        snprintf(to.service, sizeof to.service, "s%u", i);
        assert_int_equal(graph_model_add(m, &from, &to, c, 0, err), 0);
    }
    double secs = seconds_since(&t0);
    print_message("# %u distinct edges added in %.3f s\n", VIZ_MAX_EDGES, secs);
    assert_int_equal(graph_model_edges(m), VIZ_MAX_EDGES);
    snprintf(to.service, sizeof to.service, "one-too-many");
    assert_int_equal(graph_model_add(m, &from, &to, c, 0, err), -1);
    assert_contains(err, "distinct edges");
    /* An existing edge still counts; a self-call is not an edge. */
    snprintf(to.service, sizeof to.service, "s7");
    assert_int_equal(graph_model_add(m, &from, &to, c, 0, err), 0);
    assert_int_equal(graph_model_add(m, &from, &from, c, 0, err), 0);
    assert_int_equal(graph_model_edges(m), VIZ_MAX_EDGES);
    /* Merging into a full model fails too. */
    graph_model *extra = graph_model_new();
    add(extra, "us", NULL, "us", "x", NULL, 1, 0, 0, 0);
    assert_int_equal(graph_model_merge(m, extra, err), -1);
    graph_model_free(extra);
    graph_model_free(m);
}

/* Issue 18: a count of 1e60 made the renderer write "maxVolume":, and
 * "rate_in":, (no number), and the daemon served it. Counts over
 * VIZ_MAX_COUNT are clamped and counted; subnormal, negative and NaN ones
 * carry nothing; the whole document stays valid JSON. */
static void test_extreme_counts_are_clamped_and_render_valid_json(void **state) {
    (void)state;
    graph_model *m = graph_model_new();
    add(m, "eu", "web", "eu", "a", NULL, 1e60, 0, 0, 0);
    add(m, "eu", "web", "eu", "b", NULL, 1e300, 0, 1e300, 0);
    add(m, "eu", "web", "eu", "c", NULL, INFINITY, 0, 0, 1);
    add(m, "us", NULL, "us", "d", NULL, DBL_MAX, 5e-324, 1e-310, 0);
    add(m, "us", "d", "us", "tiny", NULL, 5e-324, 1e-7, 0, 0); /* no traffic: no connection with empty metrics */
    add(m, "us", "d", "us", "e", NULL, NAN, -1, -INFINITY, 0);
    add(m, "us", "d", "us", "d", NULL, 1e80, 0, 0, 0); /* a self-call, counted once */
    graph_stats stats;
    char *json = render_with(m, NULL, T0, &stats);
    assert_int_equal(stats.clamped, 6);
    assert_contains(json, "\"clamped_counts\":6");
    assert_not_contains(json, ":,");
    assert_not_contains(json, ":}");
    assert_not_contains(json, "nan");
    assert_not_contains(json, "inf");
    assert_not_contains(json, "\"target\":\"tiny\"");
    /* 1e15 / 120 s = 8.333e12/s; the metadata keeps the clamped count. */
    assert_contains(json, "\"source\":\"web\",\"target\":\"a\",\"metrics\":{\"normal\":8333000000000},"
                          "\"class\":\"normal\",\"metadata\":{\"normal\":1e+15,\"warning\":0,\"danger\":0}}");
    assert_valid(json);
    free(json);
    /* Clamped counts merged from several flows' models stay counted. */
    graph_model *all = graph_model_new();
    char err[ERR_LEN];
    assert_int_equal(graph_model_merge(all, m, err), 0);
    assert_int_equal(graph_model_merge(all, m, err), 0);
    json = render_with(all, NULL, T0, &stats);
    assert_int_equal(stats.clamped, 12);
    assert_valid(json);
    free(json);
    graph_model_free(all);
    graph_model_free(m);
}

static void test_speed(void **state) {
    (void)state;
    /* 100k edges over 10 regions x 1000 services, with hosts. */
    graph_model *m = graph_model_new();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char fr[16], fs[16], tr[16], ts[16], host[16];
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        snprintf(fr, sizeof fr, "r%llu", x % 10);
        snprintf(tr, sizeof tr, "r%llu", (x >> 8) % 10 < 8 ? x % 10 : (x >> 8) % 10);
        snprintf(fs, sizeof fs, "s%d", i % 1000);
        snprintf(ts, sizeof ts, "s%d", (i / 1000 + i) % 1000);
        snprintf(host, sizeof host, "h%llu", (x >> 20) % 5);
        endpoint a = ep(fr, i % 7 == 0 ? NULL : fs, NULL), b = ep(tr, ts, host);
        double c[CLASS_COUNT] = {(double)(x % 1000), (double)(x % 3), (double)(x % 11 == 0 ? x % 50 : 0)};
        char err[ERR_LEN];
        assert_int_equal(graph_model_add(m, &a, &b, c, (unsigned)(i % 3), err), 0);
    }
    double add_s = seconds_since(&t0);
    size_t edges = graph_model_edges(m);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    graph_stats s;
    char *json = render_with(m, NULL, T0, &s);
    double render_s = seconds_since(&t0);
    print_message("# %zu edges: add %.3f s, render %.3f s, %zu bytes, %u services, %u connections\n", edges, add_s,
                  render_s, strlen(json), s.services, s.connections);
    assert_true(s.hidden > 0); /* 1000 services per region > 100 */
    assert_valid(json);
    free(json);
    graph_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_rates_and_rounding, setup),
        cmocka_unit_test_setup(test_classes_at_thresholds, setup),
        cmocka_unit_test_setup(test_notice_escaping, setup),
        cmocka_unit_test_setup(test_notice_links, setup),
        cmocka_unit_test_setup(test_other_merging, setup),
        cmocka_unit_test_setup(test_cross_region, setup),
        cmocka_unit_test_setup(test_name_clashes, setup),
        cmocka_unit_test_setup(test_hosts, setup),
        cmocka_unit_test_setup(test_self_calls_and_dropped, setup),
        cmocka_unit_test_setup(test_max_volume_on_steps, setup),
        cmocka_unit_test(test_max_volume_steps),
        cmocka_unit_test_setup(test_stale, setup),
        cmocka_unit_test_setup(test_determinism, setup),
        cmocka_unit_test_setup(test_stats_and_empty, setup),
        cmocka_unit_test_setup(test_output_cap, setup),
        cmocka_unit_test_setup(test_edge_limit, setup),
        cmocka_unit_test_setup(test_baseline_marks, setup),
        cmocka_unit_test_setup(test_empty_baseline_changes_nothing, setup),
        cmocka_unit_test_setup(test_extreme_counts_are_clamped_and_render_valid_json, setup),
        cmocka_unit_test_setup(test_speed, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
