/*
 * source_demo.c - the built-in generator of a fictional fleet, so that
 * `vizfeed --demo` shows a lively graph without Elasticsearch.
 *
 * The fleet (docs/DEMO.md): three regions running the same ~50 services,
 * INTERNET ingress into three edge services per region, a few cross-region
 * calls, traffic that follows each region's local day, and incidents that
 * come and go every few minutes.
 *
 * Everything is a pure function of (seed, edge, minute): rates, noise and
 * the incident schedule come from a hash, never from a stateful generator,
 * so any window can be computed on its own and the same (seed, window)
 * always yields the same rows in the same order. A window is cut into the
 * calendar minutes it overlaps and each minute contributes rate × overlap,
 * so counts scale with window length and adjacent windows add up. The cost
 * is edges × minutes of the window: ~250 × 3 for the default 2m window,
 * ~11M for the longest window allowed (DEMO_MAX_WINDOW_MS).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "source.h"
#include "util.h"

#define MINUTE_MS 60000
#define NO_NODE   (-1) /* the caller of an ingress edge: the entry node */

/* Incidents: each track cuts time into slots; a slot holds at most one
 * incident, starting and ending inside it. */
#define TRACK_COUNT      2
#define PROPAGATED_SHARE 0.2 /* an incident's error share seen one hop upstream */

/* Salts keep the hashes of different purposes independent. */
enum { SALT_HOST_ID = 1, SALT_HOST_WEIGHT, SALT_RATE, SALT_WARNING, SALT_DANGER, SALT_INCIDENT };

typedef struct {
    const char *name;
    double scale;     /* traffic relative to the busiest region */
    int utc_offset_h; /* the daily cycle follows local time */
} demo_region;

static const demo_region regions[] = {
    {"us-east-1", 1.0, -5},
    {"eu-west-1", 0.75, 0},
    {"ap-southeast-2", 0.4, 10},
};
#define REGION_COUNT ((int)(sizeof regions / sizeof regions[0]))
#define ALL_REGIONS  7u

typedef struct {
    const char *name;
    int hosts;      /* instances in each region that runs it */
    unsigned in;    /* bit r: runs in regions[r] */
    bool datastore; /* target of the second incident track */
} demo_service;

static const demo_service services[] = {
    {"edge-proxy", 8, ALL_REGIONS, false},
    {"mobile-edge", 6, ALL_REGIONS, false},
    {"partner-api", 3, ALL_REGIONS, false},
    {"web-frontend", 6, ALL_REGIONS, false},
    {"api-gateway", 8, ALL_REGIONS, false},
    {"mobile-bff", 4, ALL_REGIONS, false},
    {"graphql", 5, ALL_REGIONS, false},
    {"ratelimiter", 3, ALL_REGIONS, false},
    {"feature-flags", 2, ALL_REGIONS, false},
    {"auth", 4, ALL_REGIONS, false},
    {"sessions", 3, ALL_REGIONS, false},
    {"identity-global", 3, 1u, false},
    {"users", 4, ALL_REGIONS, false},
    {"profiles", 3, ALL_REGIONS, false},
    {"gdpr-consent", 2, 2u, false},
    {"catalog", 4, ALL_REGIONS, false},
    {"pricing", 3, ALL_REGIONS, false},
    {"inventory", 3, ALL_REGIONS, false},
    {"search", 5, ALL_REGIONS, false},
    {"search-indexer", 2, ALL_REGIONS, false},
    {"recommendations", 4, ALL_REGIONS, false},
    {"personalization", 3, ALL_REGIONS, false},
    {"ml-model-server", 3, 1u, false},
    {"reviews", 3, ALL_REGIONS, false},
    {"cart", 4, ALL_REGIONS, false},
    {"checkout", 4, ALL_REGIONS, false},
    {"orders", 5, ALL_REGIONS, false},
    {"payments", 4, ALL_REGIONS, false},
    {"fraud-detection", 3, ALL_REGIONS, false},
    {"tax-calculator", 2, ALL_REGIONS, false},
    {"billing", 3, ALL_REGIONS, false},
    {"invoices", 2, ALL_REGIONS, false},
    {"loyalty", 2, ALL_REGIONS, false},
    {"shipping", 3, ALL_REGIONS, false},
    {"geo-ip", 2, ALL_REGIONS, false},
    {"notifications", 3, ALL_REGIONS, false},
    {"email-sender", 2, ALL_REGIONS, false},
    {"sms-gateway", 2, ALL_REGIONS, false},
    {"media-upload", 2, ALL_REGIONS, false},
    {"image-resizer", 3, ALL_REGIONS, false},
    {"audit-log", 2, ALL_REGIONS, false},
    {"analytics-ingest", 3, ALL_REGIONS, false},
    {"postgres-users", 3, ALL_REGIONS, true},
    {"postgres-orders", 3, ALL_REGIONS, true},
    {"redis-sessions", 3, ALL_REGIONS, true},
    {"redis-cache", 4, ALL_REGIONS, true},
    {"kafka", 5, ALL_REGIONS, true},
    {"elasticsearch", 5, ALL_REGIONS, true},
    {"cassandra-events", 4, ALL_REGIONS, true},
    {"s3-gateway", 2, ALL_REGIONS, true},
};
#define SERVICE_COUNT ((int)(sizeof services / sizeof services[0]))

/* A call inside every region that runs both sides. rate: requests/s at the
 * daily peak in a region of scale 1; warning/danger: usual shares. */
typedef struct {
    const char *caller; /* NULL: ingress from the entry node */
    const char *callee;
    double rate, warning, danger;
} demo_call;

#define CALL(a, b, r)                                                                                                  \
    { a, b, r, 0.002, 0.0005 }
static const demo_call calls[] = {
    {NULL, "edge-proxy", 2400, 0.02, 0.002},
    {NULL, "mobile-edge", 1300, 0.015, 0.002},
    {NULL, "partner-api", 60, 0.03, 0.003},
    CALL("edge-proxy", "web-frontend", 900),
    CALL("edge-proxy", "api-gateway", 1400),
    CALL("edge-proxy", "media-upload", 25),
    CALL("edge-proxy", "analytics-ingest", 800),
    CALL("mobile-edge", "mobile-bff", 1250),
    CALL("partner-api", "ratelimiter", 60),
    {"partner-api", "api-gateway", 58, 0.01, 0.001},
    CALL("web-frontend", "graphql", 700),
    CALL("web-frontend", "feature-flags", 300),
    CALL("mobile-bff", "graphql", 900),
    CALL("mobile-bff", "feature-flags", 200),
    CALL("api-gateway", "ratelimiter", 1400),
    {"api-gateway", "auth", 1400, 0.012, 0.0005},
    CALL("api-gateway", "orders", 260),
    CALL("api-gateway", "search", 350),
    CALL("api-gateway", "users", 300),
    CALL("graphql", "catalog", 900),
    CALL("graphql", "search", 420),
    CALL("graphql", "recommendations", 380),
    CALL("graphql", "cart", 300),
    CALL("graphql", "checkout", 90),
    CALL("graphql", "users", 250),
    CALL("graphql", "reviews", 150),
    CALL("graphql", "pricing", 500),
    CALL("auth", "sessions", 1300),
    CALL("auth", "users", 150),
    CALL("auth", "identity-global", 300),
    CALL("sessions", "redis-sessions", 1900),
    CALL("users", "postgres-users", 420),
    CALL("users", "redis-cache", 600),
    CALL("users", "profiles", 120),
    CALL("users", "gdpr-consent", 50),
    CALL("profiles", "postgres-users", 80),
    CALL("gdpr-consent", "postgres-users", 12),
    CALL("gdpr-consent", "audit-log", 0.08),
    CALL("catalog", "elasticsearch", 300),
    CALL("catalog", "redis-cache", 800),
    CALL("catalog", "pricing", 400),
    CALL("catalog", "inventory", 350),
    CALL("pricing", "redis-cache", 500),
    CALL("inventory", "postgres-orders", 200),
    CALL("search", "elasticsearch", 800),
    CALL("search", "personalization", 200),
    CALL("recommendations", "personalization", 350),
    CALL("recommendations", "ml-model-server", 300),
    CALL("recommendations", "redis-cache", 400),
    CALL("personalization", "cassandra-events", 500),
    CALL("reviews", "postgres-users", 90),
    CALL("reviews", "image-resizer", 12),
    CALL("cart", "redis-sessions", 400),
    CALL("cart", "pricing", 300),
    CALL("cart", "inventory", 250),
    CALL("checkout", "orders", 85),
    {"checkout", "payments", 80, 0.03, 0.002}, /* declined cards show as warnings */
    CALL("checkout", "tax-calculator", 85),
    CALL("checkout", "shipping", 80),
    CALL("checkout", "loyalty", 40),
    CALL("orders", "postgres-orders", 600),
    CALL("orders", "kafka", 300),
    CALL("orders", "inventory", 120),
    CALL("orders", "notifications", 60),
    CALL("payments", "fraud-detection", 80),
    CALL("payments", "billing", 60),
    CALL("payments", "postgres-orders", 160),
    CALL("payments", "audit-log", 80),
    CALL("fraud-detection", "cassandra-events", 120),
    CALL("fraud-detection", "geo-ip", 80),
    CALL("billing", "invoices", 30),
    CALL("invoices", "s3-gateway", 8),
    CALL("invoices", "email-sender", 8),
    CALL("shipping", "geo-ip", 30),
    CALL("notifications", "email-sender", 40),
    CALL("notifications", "sms-gateway", 12),
    CALL("notifications", "kafka", 60),
    CALL("search-indexer", "kafka", 150),
    CALL("search-indexer", "elasticsearch", 150),
    CALL("analytics-ingest", "kafka", 900),
    CALL("media-upload", "image-resizer", 20),
    CALL("media-upload", "s3-gateway", 25),
    CALL("image-resizer", "s3-gateway", 30),
    CALL("audit-log", "s3-gateway", 0.06),
};
#define CALL_COUNT ((int)(sizeof calls / sizeof calls[0]))

/* Calls between regions: global identity and ML served from us-east-1,
 * database replication, Kafka mirroring, cross-cluster search replication.
 * rate is absolute (not scaled by region). */
typedef struct {
    int from_region;
    const char *caller;
    int to_region;
    const char *callee;
    double rate;
} demo_cross_call;

static const demo_cross_call cross_calls[] = {
    {1, "auth", 0, "identity-global", 250},
    {2, "auth", 0, "identity-global", 120},
    {1, "recommendations", 0, "ml-model-server", 200},
    {2, "recommendations", 0, "ml-model-server", 110},
    {0, "postgres-users", 1, "postgres-users", 40},
    {0, "postgres-orders", 1, "postgres-orders", 35},
    {1, "postgres-users", 2, "postgres-users", 20},
    {0, "kafka", 1, "kafka", 150},
    {0, "kafka", 2, "kafka", 80},
    {1, "elasticsearch", 0, "elasticsearch", 10},
};
#define CROSS_COUNT ((int)(sizeof cross_calls / sizeof cross_calls[0]))

/* A track of incidents: slot length, chance that a slot has one, and which
 * services it may hit. */
typedef struct {
    int slot_minutes;
    double chance;
    bool datastores_only;
} incident_track;

static const incident_track tracks[TRACK_COUNT] = {
    {12, 0.7, false},
    {20, 0.5, true},
};

typedef struct {
    int region, service;
    bool danger;  /* else a warning-level incident */
    double share; /* danger share of calls into the service */
} incident;

/* One edge of the flattened fleet, in emission order. */
typedef struct {
    int from_region, from_service; /* from_service NO_NODE: ingress */
    int to_region, to_service;
    double rate, warning, danger;
} demo_edge;

typedef struct {
    char **names;
    double *weights; /* shares of the service's traffic, summing to 1 */
    int n;
} host_set;

typedef struct {
    source base; /* first: the source * the ops get points here (source.h) */
    uint64_t seed;
    demo_edge *edges;
    int nedges;
    host_set hosts[REGION_COUNT][SERVICE_COUNT];
    bool calls_into[REGION_COUNT][SERVICE_COUNT][SERVICE_COUNT]; /* [r][a][b]: a calls b in r */
    int targets[TRACK_COUNT][REGION_COUNT][SERVICE_COUNT];       /* services an incident may hit */
    int ntargets[TRACK_COUNT][REGION_COUNT];
    uint64_t rows;
} demo_src;

/* ---- deterministic hashing ---- */

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash4(uint64_t seed, uint64_t salt, uint64_t a, uint64_t b) {
    return mix(mix(mix(seed ^ (salt << 56)) ^ a) ^ b);
}

/* A hash as a number in [0, 1). */
static double unit(uint64_t h) {
    return (double)(h >> 11) * 0x1.0p-53;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0)) q--;
    return q;
}

/* ---- building the fleet ---- */

static int service_index(const char *name) {
    for (int i = 0; i < SERVICE_COUNT; i++)
        if (strcmp(services[i].name, name) == 0) return i;
    return NO_NODE;
}

static bool runs_in(int service, int region) {
    return services[service].in & (1u << region);
}

static void build_hosts(demo_src *s) {
    for (int r = 0; r < REGION_COUNT; r++)
        for (int v = 0; v < SERVICE_COUNT; v++) {
            if (!runs_in(v, r)) continue;
            host_set *h = &s->hosts[r][v];
            h->n = services[v].hosts;
            h->names = xcalloc((size_t)h->n, sizeof *h->names);
            h->weights = xcalloc((size_t)h->n, sizeof *h->weights);
            /* Hosts look like a deployment's pods: service, a deployment id
             * fixed per region, and an ordinal. */
            unsigned deployment = (unsigned)(hash4(s->seed, SALT_HOST_ID, (uint64_t)r, (uint64_t)v) & 0xffff);
            double sum = 0;
            for (int i = 0; i < h->n; i++) {
                char name[96];
                snprintf(name, sizeof name, "%s-%04x-%d", services[v].name, deployment, i + 1);
                h->names[i] = xstrdup(name);
                h->weights[i] =
                    0.75 + 0.5 * unit(hash4(s->seed, SALT_HOST_WEIGHT, (uint64_t)(r * SERVICE_COUNT + v), (uint64_t)i));
                sum += h->weights[i];
            }
            for (int i = 0; i < h->n; i++) h->weights[i] /= sum;
        }
}

static void build_edges(demo_src *s) {
    s->edges = xcalloc((size_t)(REGION_COUNT * CALL_COUNT + CROSS_COUNT), sizeof *s->edges);
    for (int r = 0; r < REGION_COUNT; r++)
        for (int c = 0; c < CALL_COUNT; c++) {
            int a = calls[c].caller ? service_index(calls[c].caller) : NO_NODE;
            int b = service_index(calls[c].callee);
            if (!runs_in(b, r) || (a != NO_NODE && !runs_in(a, r))) continue;
            if (a != NO_NODE) s->calls_into[r][a][b] = true;
            s->edges[s->nedges++] = (demo_edge){
                r, a, r, b, calls[c].rate * regions[r].scale, calls[c].warning, calls[c].danger,
            };
        }
    for (int c = 0; c < CROSS_COUNT; c++) {
        const demo_cross_call *x = &cross_calls[c];
        s->edges[s->nedges++] = (demo_edge){
            x->from_region, service_index(x->caller), x->to_region, service_index(x->callee), x->rate, 0.002, 0.0005,
        };
    }
    /* Incidents hit services that receive traffic in the region, so that
     * every incident is visible. */
    for (int t = 0; t < TRACK_COUNT; t++)
        for (int r = 0; r < REGION_COUNT; r++)
            for (int v = 0; v < SERVICE_COUNT; v++) {
                bool receives = false;
                for (int e = 0; e < s->nedges && !receives; e++)
                    receives = s->edges[e].to_region == r && s->edges[e].to_service == v;
                if (receives && (!tracks[t].datastores_only || services[v].datastore))
                    s->targets[t][r][s->ntargets[t][r]++] = v;
            }
}

/* ---- traffic as a function of time ---- */

/* Daily cycle: peak at 14:00 local time, a fifth of it at 02:00. */
static double diurnal(int region, int64_t minute) {
    double local_hours = ((double)minute + 0.5) / 60.0 + regions[region].utc_offset_h;
    return 0.6 + 0.4 * sin(2 * M_PI * (local_hours - 8) / 24);
}

/* The incident of a track active at a minute, if any. */
static bool incident_at(const demo_src *s, int track, int64_t minute, incident *out) {
    const incident_track *t = &tracks[track];
    int64_t slot = floor_div(minute, t->slot_minutes);
    uint64_t h = hash4(s->seed, SALT_INCIDENT + (uint64_t)track, (uint64_t)slot, 0);
    if (unit(h) >= t->chance) return false;
    uint64_t g = mix(h);
    int duration = 2 + (int)(g % 4); /* 2..5 minutes */
    int offset = (int)((g >> 8) % (uint64_t)(t->slot_minutes - duration + 1));
    int64_t begin = slot * t->slot_minutes + offset;
    if (minute < begin || minute >= begin + duration) return false;
    out->region = (int)((g >> 16) % REGION_COUNT);
    int n = s->ntargets[track][out->region];
    if (n == 0) return false;
    out->service = s->targets[track][out->region][(g >> 24) % (uint64_t)n];
    /* Datastore outages are always serious; elsewhere some are warnings. */
    out->danger = t->datastores_only || unit(mix(g)) < 0.55;
    double u = unit(mix(g ^ 0x5bd1e995));
    out->share = out->danger ? 0.15 + 0.25 * u : 0.04 + 0.04 * u;
    return true;
}

/* Counts per class of one edge over [start, end). */
static void edge_counts(const demo_src *s, int id, int64_t start, int64_t end, double out[CLASS_COUNT]) {
    const demo_edge *e = &s->edges[id];
    double total = 0, warning = 0, danger = 0;
    for (int64_t m = floor_div(start, MINUTE_MS); m * MINUTE_MS < end; m++) {
        int64_t lo = m * MINUTE_MS > start ? m * MINUTE_MS : start;
        int64_t hi = (m + 1) * MINUTE_MS < end ? (m + 1) * MINUTE_MS : end;
        double seconds = (double)(hi - lo) / 1000.0;
        double noise = 0.92 + 0.16 * unit(hash4(s->seed, SALT_RATE, (uint64_t)id, (uint64_t)m));
        double rate = e->rate * diurnal(e->from_service == NO_NODE ? e->to_region : e->from_region, m) * noise;
        double w = e->warning * (0.5 + unit(hash4(s->seed, SALT_WARNING, (uint64_t)id, (uint64_t)m)));
        double d = e->danger * (0.5 + unit(hash4(s->seed, SALT_DANGER, (uint64_t)id, (uint64_t)m)));
        for (int t = 0; t < TRACK_COUNT; t++) {
            incident inc;
            if (!incident_at(s, t, m, &inc) || inc.region != e->to_region) continue;
            if (inc.service == e->to_service) {
                if (inc.share > d) d = inc.share;
                if (!inc.danger) w += 0.05; /* a warning incident also brings a burst of 4xx */
            } else if (e->from_service != NO_NODE && e->to_region == e->from_region &&
                       s->calls_into[inc.region][e->to_service][inc.service]) {
                /* The callee's own callers see part of its failures. */
                if (PROPAGATED_SHARE * inc.share > d) d = PROPAGATED_SHARE * inc.share;
            }
        }
        double n = rate * seconds;
        total += n;
        warning += n * w;
        danger += n * d;
    }
    out[CLASS_WARNING] = warning;
    out[CLASS_DANGER] = danger;
    out[CLASS_NORMAL] = total - warning - danger;
}

/* ---- source_ops ---- */

static source *demo_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    demo_src *s = xcalloc(1, sizeof *s);
    s->base.ops = &source_demo_ops;
    s->seed = flow ? flow->seed : 1;
    build_hosts(s);
    build_edges(s);
    return &s->base;
}

static int demo_collect(source *src, int64_t start_ms, int64_t end_ms, row_emit_fn emit, void *ctx, char *err) {
    demo_src *s = (demo_src *)src;
    if (end_ms <= start_ms) return 0;
    if (end_ms - start_ms > DEMO_MAX_WINDOW_MS)
        return util_fail(err, "demo window of %lld ms is too long; expected at most 31 days",
                         (long long)(end_ms - start_ms));
    for (int id = 0; id < s->nedges; id++) {
        const demo_edge *e = &s->edges[id];
        double edge[CLASS_COUNT];
        edge_counts(s, id, start_ms, end_ms, edge);
        const host_set *hosts = &s->hosts[e->to_region][e->to_service];
        raw_row row = {0};
        bool ingress = e->from_service == NO_NODE;
        row.value[EP_FROM_SERVICE] = ingress ? NULL : services[e->from_service].name;
        row.value[EP_FROM_REGION] = ingress ? NULL : regions[e->from_region].name;
        row.value[EP_TO_SERVICE] = services[e->to_service].name;
        row.value[EP_TO_REGION] = regions[e->to_region].name;
        for (int h = 0; h < hosts->n; h++) {
            /* Whole events, as an aggregation would count them; a host with
             * none in the window has no row. */
            double any = 0;
            for (int c = 0; c < CLASS_COUNT; c++) {
                row.count[c] = round(edge[c] * hosts->weights[h]);
                any += row.count[c];
            }
            if (any <= 0) continue;
            row.value[EP_TO_HOST] = hosts->names[h];
            s->rows++;
            if (emit(ctx, &row) != 0) return util_fail(err, "demo: collection stopped by the consumer");
        }
    }
    return 0;
}

/* The timeline: each step is the window [t, t + step) computed on its own,
 * with the same whole events per host as collect() gives, so a point equals
 * the graph of that window. Cost: steps x edges x (hosts + minutes of a
 * step): 360 one-minute steps take a few milliseconds. */
static int demo_timeline(source *src, int64_t from_ms, int64_t to_ms, int64_t step_ms, step_emit_fn emit, void *ctx,
                         char *err) {
    demo_src *s = (demo_src *)src;
    if (step_ms > DEMO_MAX_WINDOW_MS)
        return util_fail(err, "demo step of %lld ms is too long; expected at most 31 days", (long long)step_ms);
    for (int64_t t = from_ms; t < to_ms; t += step_ms) {
        for (int id = 0; id < s->nedges; id++) {
            const demo_edge *e = &s->edges[id];
            double edge[CLASS_COUNT];
            edge_counts(s, id, t, t + step_ms, edge);
            const host_set *hosts = &s->hosts[e->to_region][e->to_service];
            raw_row row = {0};
            for (int h = 0; h < hosts->n; h++)
                for (int c = 0; c < CLASS_COUNT; c++) row.count[c] += round(edge[c] * hosts->weights[h]);
            if (row.count[CLASS_NORMAL] + row.count[CLASS_WARNING] + row.count[CLASS_DANGER] <= 0) continue;
            row.value[EP_TO_SERVICE] = services[e->to_service].name;
            row.value[EP_TO_REGION] = regions[e->to_region].name;
            if (emit(ctx, t, &row) != 0) return util_fail(err, "demo: timeline stopped by the consumer");
        }
    }
    return 0;
}

static void demo_stats(const source *src, source_stats *out) {
    const demo_src *s = (const demo_src *)src;
    memset(out, 0, sizeof *out);
    out->events = s->rows;
}

static void demo_close(source *src) {
    demo_src *s = (demo_src *)src;
    if (!s) return;
    for (int r = 0; r < REGION_COUNT; r++)
        for (int v = 0; v < SERVICE_COUNT; v++) {
            host_set *h = &s->hosts[r][v];
            for (int i = 0; i < h->n; i++) free(h->names[i]);
            free(h->names);
            free(h->weights);
        }
    free(s->edges);
    free(s);
}

const source_ops source_demo_ops = {
    .type = "demo",
    .open = demo_open,
    .collect = demo_collect,
    .stats = demo_stats,
    .close = demo_close,
    .timeline = demo_timeline,
};
