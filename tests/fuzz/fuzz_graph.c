/*
 * fuzz_graph.c - the renderer (graph_*.c) and the JSON writer (jsonw.c) with
 * numbers at every edge of double and names with every kind of byte.
 *
 * Issue 18 found counts of 1e60 rendered as "maxVolume":, and served: the
 * rule here is that whatever the model holds, graph_render() writes one
 * complete JSON document that yajl accepts and that is strict UTF-8 (no
 * overlong form, no surrogate: yajl does not check those), and so does the
 * writer on its own for any double.
 *
 * Input: a program of 11-byte steps. Byte 0 picks the kind of step:
 *   0..0x9f  an edge: byte 1 and 2 pick the caller's and callee's raw
 *            values (region, service, host from a small pool, or the entry
 *            node), resolved by topology_resolve() as a refresh does, byte 3
 *            the flow, then three counts (below);
 *   0xa0..   a name for the pool taken from the next byte's count of raw
 *            bytes (NUL ends it, as in an endpoint's fixed buffer);
 * Counts: a count byte < 0xe0 picks a special value (0, 1, -1, NaN, ±Inf,
 * DBL_MAX, DBL_MIN, subnormals, 1e15 ± a little, 1e60, 1e300, small
 * integers); 0xe0 and up takes the next 8 bytes as the double's bits.
 * The graph is rendered twice with one state (which carries nothing since
 * issue 15, and must not) and each rendering is also checked against two of
 * Vizceral's rules (unique names per level, no connection inside a region
 * without metrics); then every number used goes through jsonw alone.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "bounds.h"
#include "config.h"
#include "fuzz.h"
#include "graph.h"
#include "jsonw.h"
#include "topology.h"
#include "util.h"

typedef struct {
    const uint8_t *p, *end;
} reader;

static uint8_t next_byte(reader *r) {
    return r->p < r->end ? *r->p++ : 0;
}

static double next_count(reader *r) {
    static const double special[] = {0,       1,        -1,     NAN,   INFINITY, -INFINITY, DBL_MAX,
                                     DBL_MIN, 5e-324,   1e-310, 1e15,  1e15 + 2, 9.1e15,    1e60,
                                     1e300,   -1e300,   0.5,    1e-17, 4e-18,    12345.678, 1e21,
                                     99999.5, 1e20 - 1, 2e21,   1e308, 3,        7,         100};
    uint8_t kind = next_byte(r);
    if (kind < 0xe0) return special[kind % (sizeof special / sizeof special[0])];
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = bits << 8 | next_byte(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = u[i] < 0x80             ? 1
                     : (u[i] & 0xe0) == 0xc0 ? 2
                     : (u[i] & 0xf0) == 0xe0 ? 3
                     : (u[i] & 0xf8) == 0xf0 ? 4
                                             : 0;
        if (len == 0 || i + len > n) return false;
        if (len == 2 && u[i] < 0xc2) return false;
        for (size_t k = 1; k < len; k++)
            if ((u[i + k] & 0xc0) != 0x80) return false;
        if (len == 3 && u[i] == 0xe0 && u[i + 1] < 0xa0) return false;
        if (len == 3 && u[i] == 0xed && u[i + 1] >= 0xa0) return false;
        if (len == 4 && (u[i] > 0xf4 || (u[i] == 0xf0 && u[i + 1] < 0x90) || (u[i] == 0xf4 && u[i + 1] >= 0x90)))
            return false;
        i += len;
    }
    return true;
}

/* One complete JSON document, strict UTF-8. */
static bool parses(const char *json, size_t n) {
    if (!valid_utf8(json, n)) return false;
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    bool ok =
        yajl_parse(h, (const unsigned char *)json, n) == yajl_status_ok && yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}

static const char *string_at(yajl_val obj, const char *key) {
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : NULL;
}

static yajl_val array_at(yajl_val obj, const char *key) {
    const char *path[] = {key, NULL};
    return yajl_tree_get(obj, path, yajl_t_array);
}

/* Node names are unique within a level: two nodes of one displayed name
 * (names that differed only in bytes the writer replaces) broke the graph. */
static void check_unique_names(yajl_val nodes) {
    size_t n = YAJL_GET_ARRAY(nodes)->len;
    yajl_val *v = YAJL_GET_ARRAY(nodes)->values;
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++) {
            const char *a = string_at(v[i], "name"), *b = string_at(v[k], "name");
            FUZZ_CHECK(a && b && strcmp(a, b) != 0);
        }
}

/* Vizceral's rules the renderer must keep whatever the numbers: names
 * unique per level, and no connection inside a region without traffic
 * (a subnormal count once gave one with empty metrics). */
static void check_vizceral(const char *json) {
    char why[128];
    yajl_val root = yajl_tree_parse(json, why, sizeof why);
    FUZZ_CHECK(root != NULL);
    yajl_val regions = array_at(root, "nodes");
    FUZZ_CHECK(regions != NULL);
    check_unique_names(regions);
    for (size_t i = 0; i < YAJL_GET_ARRAY(regions)->len; i++) {
        yajl_val r = YAJL_GET_ARRAY(regions)->values[i];
        yajl_val nodes = array_at(r, "nodes"), conns = array_at(r, "connections");
        if (nodes) check_unique_names(nodes);
        for (size_t k = 0; conns && k < YAJL_GET_ARRAY(conns)->len; k++) {
            const char *path[] = {"metrics", NULL}, *change[] = {"metadata", "change", NULL};
            yajl_val m = yajl_tree_get(YAJL_GET_ARRAY(conns)->values[k], path, yajl_t_object);
            yajl_val ch = yajl_tree_get(YAJL_GET_ARRAY(conns)->values[k], change, yajl_t_string);
            /* Only a gone edge (graph.baseline) is drawn without traffic. */
            const char *cs = ch ? YAJL_GET_STRING(ch) : NULL;
            bool gone = cs && strcmp(cs, "gone") == 0;
            FUZZ_CHECK(m != NULL && (YAJL_GET_OBJECT(m)->len > 0) != gone);
        }
    }
    yajl_tree_free(root);
}

#define POOL 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, data + size};
    char pool[POOL][VIZ_NAME_MAX] = {"web", "api", "db", "eu", "us", "caf\xc3\xa9", "q\"\\<", ""};
    unsigned next_name = 0;
    double used[64];
    size_t nused = 0;

    flow_config flows[2];
    graph_flow_info infos[2];
    memset(flows, 0, sizeof flows);
    memset(infos, 0, sizeof infos);
    for (int i = 0; i < 2; i++) {
        flows[i].name = (char *)(i ? "mesh" : "web");
        flows[i].danger_label = (char *)"5xx";
        flows[i].warning_label = (char *)"4xx";
        for (int k = 0; k < EP_COUNT; k++) flows[i].fields[k] = (char *)"f";
        infos[i].flow = &flows[i];
        infos[i].data_end_ms = 1767225600000LL;
    }
    graph_config g = {.name = (char *)"edge",
                      .entry = (char *)"INTERNET",
                      .default_region = (char *)"default",
                      .max_services = 3,
                      .warning = 0.03,
                      .danger = 0.1,
                      .min_rate = 0.1,
                      .notice_link = (char *)"https://k.example/?q={query}&r={region}"};

    graph_model *m = graph_model_new();
    graph_model *base = graph_model_new(); /* the baseline window's edges: ops with bit 3 set */
    for (int steps = 0; steps < 256 && r.p < r.end; steps++) {
        uint8_t op = next_byte(&r);
        if (op >= 0xa0) {
            size_t len = next_byte(&r) % VIZ_NAME_MAX, avail = (size_t)(r.end - r.p);
            if (len > avail) len = avail;
            char *slot = pool[next_name++ % POOL];
            memcpy(slot, r.p, len);
            slot[len] = '\0';
            r.p += len;
            continue;
        }
        uint8_t a = next_byte(&r), b = next_byte(&r), flow = next_byte(&r) % 2;
        /* Raw values as a source hands them over, resolved as refresh.c does
         * (no topology entries): names are made what the graph shows there. */
        const char *value[EP_COUNT] = {NULL};
        value[EP_FROM_REGION] = pool[a % POOL];
        value[EP_FROM_SERVICE] = a >= 0xc0 ? NULL : pool[(a >> 3) % POOL];
        value[EP_TO_REGION] = pool[b % POOL];
        value[EP_TO_SERVICE] = pool[(b >> 3) % POOL];
        value[EP_TO_HOST] = b & 0x80 ? pool[(b >> 4) % POOL] : NULL;
        double c[CLASS_COUNT];
        for (int k = 0; k < CLASS_COUNT; k++) {
            c[k] = next_count(&r);
            if (nused < sizeof used / sizeof used[0]) used[nused++] = c[k];
        }
        endpoint from, to;
        char err[ERR_LEN];
        switch (topology_resolve(NULL, &g, value, &from, &to)) {
        case RESOLVE_NO_CALLEE:
            graph_model_add_dropped(m, c[0] + c[1] + c[2], flow);
            break;
        case RESOLVE_SELF_CALL:
            graph_model_add_self_call(m, &to, c, flow);
            break;
        case RESOLVE_OK:
            if (op < 0x10)
                graph_model_add_dropped(m, c[0], flow);
            else
                (void)graph_model_add(op & 0x08 ? base : m, &from, &to, c, flow, err);
            break;
        }
    }

    graph_state *st = graph_state_new();
    for (int round = 0; round < 3; round++) {
        /* The third round with the baseline: new, gone, surge and drop marks. */
        if (round == 2) graph_model_set_baseline(m, base);
        graph_render_opts o = {.window_end_ms = 1767225600000LL + round * 60000LL,
                               .window_ms = round == 1 ? 1 : 60000,
                               .flows = infos,
                               .nflows = 2,
                               .baseline_ms = round == 2 ? 7LL * 86400000 : 0};
        infos[1].stale_since_ms = round ? 1767225600000LL : 0;
        buf out;
        buf_init(&out, 64u << 20);
        char err[ERR_LEN];
        graph_stats stats;
        int rc = graph_render(m, &g, st, &o, &out, &stats, err);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(parses(out.data, out.len));
        check_vizceral(buf_cstr(&out));
        buf_free(&out);
    }
    graph_state_free(st);
    graph_model_free(m);
    graph_model_free(base);

    /* The writer alone: every number used, as a double, a rate and an int. */
    buf out;
    buf_init(&out, 1u << 20);
    jsonw w;
    jsonw_init(&w, &out);
    jsonw_object_begin(&w);
    for (size_t i = 0; i < nused; i++) {
        jsonw_key(&w, pool[i % POOL]);
        jsonw_array_begin(&w);
        jsonw_double(&w, used[i]);
        jsonw_rate(&w, used[i]);
        jsonw_rate(&w, used[i] / 60.0);
        if (isfinite(used[i]) && fabs(used[i]) < 9e18) jsonw_int(&w, (int64_t)used[i]);
        jsonw_string(&w, pool[(i + 1) % POOL]);
        jsonw_array_end(&w);
    }
    jsonw_object_end(&w);
    FUZZ_CHECK(!jsonw_failed(&w));
    FUZZ_CHECK(parses(out.data, out.len));
    buf_free(&out);
    return 0;
}
