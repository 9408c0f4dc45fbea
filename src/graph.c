/*
 * graph.c - the traffic model of one window and its Vizceral rendering.
 *
 * Model. Names are interned once (an arena plus an open-addressing table of
 * ids), so the edge, host and self-call tables key on small integers and an
 * add costs four string hashes and one probe. All three tables are the same
 * open-addressing "record" table: a key of up to four ids, the counts of the
 * three classes and the 64-bit mask of contributing flows. A caller that is
 * the entry node is stored with the service id ENTRY_ID and the callee's
 * region: the entry node has no region of its own, its calls are always the
 * ingress of the callee's region. Once VIZ_MAX_EDGES edges exist an add of a
 * new edge fails and only looks names up, so a flood of new names after the
 * limit cannot grow memory either. Host entries share the same bound; hosts
 * past it are counted, not stored.
 *
 * Rendering. Every interned name gets its bytewise rank first, and all later
 * sorting compares ranks, not strings. Edges are visited in rank order, so
 * the floating-point sums of aggregated connections are added in the same
 * order whatever order the rows arrived in, and the same model gives the same
 * bytes. Each edge becomes one or two "items" of region views (caller side,
 * callee side) and, for cross-region calls and ingress, an item of the root.
 * A region view is then built from its items alone.
 *
 * Choices the SPEC leaves open:
 *  - maxVolume: target = 5 x the largest connection rate of the region view
 *    (at least 1). The state keeps, per region, the value and window end of
 *    the last render; the new value is max(target, previous halved every 15
 *    minutes of window time), so particle density changes slowly after a
 *    burst but follows growth at once. A fresh state yields the target, which
 *    keeps `vizfeed once` reproducible. Regions unseen for an hour are
 *    forgotten. The state changes only when a render succeeds.
 *  - Names clash: node names must be unique in a view. The entry node keeps
 *    graph.entry; a service with that very name becomes "<name> (service)";
 *    the node standing for another region is named after it, or
 *    "<region> (region)" when that is taken (repeated if still taken). The
 *    same rule renames a region called like the entry node at the root.
 *  - other: when a region has more than max_services services, the
 *    max_services - 1 busiest (count in + out, ties by name) stay and the rest
 *    become one service node "other" ("other (merged)" if a kept service is
 *    already called "other"), so a view never shows more than max_services
 *    services. Its edges are the sums of theirs; calls between two merged
 *    services are not an edge but are counted in other's metadata as
 *    self-calls. Hosts of merged services are not listed (other has no host
 *    sub-nodes): a list of hosts of unrelated services would mislead.
 *  - Root connections: every region gets an entry -> region connection with
 *    its ingress as metrics, {} when it has none (Vizceral's checklist,
 *    reference/vizceral.md §12.2). Vizceral hides a global node without
 *    connections, and the entry node needs at least one: a region with only
 *    internal or cross-region traffic must stay reachable either way. An
 *    empty connection carries no particles.
 *  - Classes need some danger traffic: a share of 0 is never coloured, even
 *    with a warning threshold of 0.
 */
#include "graph.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounds.h"
#include "config.h"
#include "jsonw.h"

#define NO_ID              UINT32_MAX
#define ENTRY_ID           (UINT32_MAX - 1)
#define DECAY_HALF_LIFE_MS (15.0 * 60 * 1000)
#define STATE_FORGET_MS    (60 * 60 * 1000)
#define MAX_VOLUME_FACTOR  5.0

/* ---- string interning ---- */

/* splitmix64's finalizer: every input bit reaches the low bits used as index. */
static uint64_t mix64(uint64_t h) {
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

typedef struct {
    char *arena;
    size_t arena_len, arena_cap;
    size_t *offset;  /* offset of string id in arena */
    uint32_t *hash;  /* low 32 bits of its hash, for regrowing */
    uint32_t n, cap; /* ids in use, allocated */
    uint32_t *slots; /* id + 1; 0 = empty */
    size_t nslots;   /* power of two */
} strtab;

static const char *str_of(const strtab *t, uint32_t id) {
    return t->arena + t->offset[id];
}

static uint32_t strtab_find(const strtab *t, const char *s, size_t len, uint64_t h) {
    if (!t->nslots) return NO_ID;
    size_t mask = t->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        if (!v) return NO_ID;
        const char *c = str_of(t, v - 1);
        if (t->hash[v - 1] == (uint32_t)h && strncmp(c, s, len) == 0 && c[len] == '\0') return v - 1;
    }
}

static void strtab_grow_slots(strtab *t) {
    size_t n = t->nslots ? t->nslots * 2 : 1024;
    uint32_t *slots = xcalloc(n, sizeof *slots);
    for (uint32_t id = 0; id < t->n; id++) {
        size_t i = t->hash[id] & (n - 1);
        while (slots[i]) i = (i + 1) & (n - 1);
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
}

/* hash_bytes() is finalized, so its low 32 bits, all the table keeps, pick
 * a slot as well as any. */
static uint64_t str_hash(const char *s, size_t len) {
    return (uint32_t)hash_bytes(s, len, HASH_SEED);
}

static uint32_t strtab_intern_n(strtab *t, const char *s, size_t len) {
    uint64_t h = str_hash(s, len);
    uint32_t id = strtab_find(t, s, len, h);
    if (id != NO_ID) return id;
    if ((size_t)(t->n + 1) * 2 > t->nslots) strtab_grow_slots(t);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->offset = xrealloc(t->offset, t->cap * sizeof *t->offset);
        t->hash = xrealloc(t->hash, t->cap * sizeof *t->hash);
    }
    if (t->arena_len + len + 1 > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap : 4096;
        while (cap < t->arena_len + len + 1) cap *= 2;
        t->arena = xrealloc(t->arena, cap);
        t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    id = t->n++;
    t->offset[id] = t->arena_len;
    t->hash[id] = (uint32_t)h;
    t->arena_len += len + 1;
    size_t mask = t->nslots - 1;
    size_t i = (size_t)h & mask;
    while (t->slots[i]) i = (i + 1) & mask;
    t->slots[i] = id + 1;
    return id;
}

static uint32_t strtab_intern(strtab *t, const char *s) {
    return strtab_intern_n(t, s, strlen(s));
}

static uint32_t strtab_lookup(const strtab *t, const char *s) {
    size_t len = strlen(s);
    return strtab_find(t, s, len, str_hash(s, len));
}

static void strtab_free(strtab *t) {
    free(t->arena);
    free(t->offset);
    free(t->hash);
    free(t->slots);
}

/* ---- record tables: edges, hosts, self-calls ---- */

typedef struct {
    uint32_t key[4];
    uint64_t flows;
    double count[CLASS_COUNT];
    latency lat; /* edges only */
} record;

/* Records sit in a dense array in the order they were made; the open-
 * addressing slots hold 8 bytes each (a hash tag and an index). At 100k edges
 * the tables are what a refresh's memory is made of, and every page a table
 * touches for the first time is a page fault: dense records touch only what
 * is used, and the sparse part stays a sixth of what inline records made it.
 * Iterating over the records visits no empty slot. */
typedef struct {
    uint32_t tag; /* the hash's high half */
    uint32_t rec; /* index into recs + 1; 0: the slot is free */
} rec_slot;

typedef struct {
    record *recs;
    size_t n, cap; /* records in use, room in recs */
    rec_slot *slots;
    size_t nslots; /* power of two, or 0 */
} rectab;

static uint64_t key_hash(const uint32_t k[4]) {
    return mix64(((uint64_t)k[0] << 32 | k[1]) ^ mix64(((uint64_t)k[2] << 32 | k[3]) + 0x9e3779b97f4a7c15ULL));
}

static bool key_eq(const uint32_t a[4], const uint32_t b[4]) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* The slot holding k (hash h), or the free slot where it would go. */
static rec_slot *rectab_probe(const rectab *t, const uint32_t k[4], uint64_t h) {
    size_t mask = t->nslots - 1;
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        rec_slot *s = &t->slots[i];
        if (!s->rec || (s->tag == tag && key_eq(t->recs[s->rec - 1].key, k))) return s;
    }
}

static record *rectab_find(const rectab *t, const uint32_t k[4]) {
    if (!t->nslots) return NULL;
    rec_slot *s = rectab_probe(t, k, key_hash(k));
    return s->rec ? &t->recs[s->rec - 1] : NULL;
}

static void rectab_grow_slots(rectab *t) {
    t->nslots = t->nslots ? t->nslots * 2 : 256;
    free(t->slots);
    t->slots = xcalloc(t->nslots, sizeof *t->slots);
    for (size_t i = 0; i < t->n; i++) {
        uint64_t h = key_hash(t->recs[i].key);
        rec_slot *s = rectab_probe(t, t->recs[i].key, h);
        s->tag = (uint32_t)(h >> 32);
        s->rec = (uint32_t)i + 1;
    }
}

/* Makes room for n records in all, so that filling up to n grows nothing:
 * a table merged from others is allocated once, at its final size. */
static void rectab_reserve(rectab *t, size_t n) {
    if (n > t->cap) {
        t->cap = n;
        t->recs = xrealloc(t->recs, t->cap * sizeof *t->recs);
    }
    size_t nslots = t->nslots ? t->nslots : 256;
    while (n * 2 > nslots) nslots *= 2;
    if (nslots == t->nslots) return;
    t->nslots = nslots / 2; /* rectab_grow_slots() doubles it and rehashes */
    rectab_grow_slots(t);
}

/* The record for key k, created zeroed if new; NULL when that would pass limit. */
static record *rectab_get(rectab *t, const uint32_t k[4], size_t limit) {
    uint64_t h = key_hash(k);
    rec_slot *s = t->nslots ? rectab_probe(t, k, h) : NULL;
    if (s && s->rec) return &t->recs[s->rec - 1];
    if (t->n >= limit) return NULL;
    if ((t->n + 1) * 2 > t->nslots) {
        rectab_grow_slots(t);
        s = rectab_probe(t, k, h);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 128;
        t->recs = xrealloc(t->recs, t->cap * sizeof *t->recs);
    }
    record *r = &t->recs[t->n];
    memset(r, 0, sizeof *r);
    memcpy(r->key, k, sizeof r->key);
    s->tag = (uint32_t)(h >> 32);
    s->rec = (uint32_t)++t->n;
    return r;
}

static void rectab_free(rectab *t) {
    free(t->slots);
    free(t->recs);
}

static void record_add(record *r, const double c[CLASS_COUNT], uint64_t flows) {
    for (int k = 0; k < CLASS_COUNT; k++) r->count[k] += c[k];
    r->flows |= flows;
}

/* ---- the model ---- */

struct graph_model {
    strtab names;
    rectab edges; /* from region, from service (ENTRY_ID), to region, to service */
    rectab hosts; /* to region, to service, host, 0 */
    rectab self;  /* region, service, 0, 0 */
    double dropped;
    uint64_t dropped_flows;
    double hosts_untracked;
    uint64_t clamped; /* counts clamped to VIZ_MAX_COUNT */
    /* The id last interned at each endpoint position: sources emit rows
     * grouped by caller and region, so most names repeat the previous row's
     * and a strcmp replaces a hash and a probe. NO_ID when unset. */
    uint32_t last[EP_COUNT];
};

graph_model *graph_model_new(void) {
    graph_model *m = xcalloc(1, sizeof(graph_model));
    for (int i = 0; i < EP_COUNT; i++) m->last[i] = NO_ID;
    return m;
}

static uint32_t intern_at(graph_model *m, int position, const char *s) {
    uint32_t id = m->last[position];
    if (id != NO_ID && strcmp(str_of(&m->names, id), s) == 0) return id;
    return m->last[position] = strtab_intern(&m->names, s);
}

void graph_model_free(graph_model *m) {
    if (!m) return;
    strtab_free(&m->names);
    rectab_free(&m->edges);
    rectab_free(&m->hosts);
    rectab_free(&m->self);
    free(m);
}

size_t graph_model_edges(const graph_model *m) {
    return m->edges.n;
}

static uint64_t flow_bit(unsigned flow) {
    return flow < VIZ_MAX_FLOWS ? (uint64_t)1 << flow : 0;
}

/* Counts that are negative or NaN carry no traffic. One over VIZ_MAX_COUNT
 * (1e60 from a broken shipper, +Infinity) is clamped to it and counted:
 * left as is, sums became infinite and rates too long for the writer, and
 * the graph was served as invalid JSON. */
/* Below this a count carries no traffic either: 5e-324 (a subnormal) gave a
 * rate of 0 and a connection with empty metrics, which Vizceral's rules
 * forbid. Over the longest window (366 days) a count of 1e-6 is still a
 * rate of 3e-14, which the writer prints. */
#define MIN_COUNT 1e-6

static double clamp_count(graph_model *m, double v) {
    if (!(v >= MIN_COUNT)) return 0;
    if (v > VIZ_MAX_COUNT) {
        m->clamped++;
        return VIZ_MAX_COUNT;
    }
    return v;
}

static double sanitize(graph_model *m, const double count[CLASS_COUNT], double out[CLASS_COUNT]) {
    double total = 0;
    for (int k = 0; k < CLASS_COUNT; k++) {
        out[k] = clamp_count(m, count[k]);
        total += out[k];
    }
    return total;
}

static bool is_entry_caller(const endpoint *from) {
    return from->is_entry || from->service[0] == '\0';
}

static void add_host(graph_model *m, uint32_t region, uint32_t service, const char *host, const double c[CLASS_COUNT],
                     uint64_t flows) {
    uint32_t key[4] = {region, service, intern_at(m, EP_TO_HOST, host), 0};
    record *h = rectab_get(&m->hosts, key, VIZ_MAX_EDGES);
    if (h)
        record_add(h, c, flows);
    else
        m->hosts_untracked += c[0] + c[1] + c[2];
}

void graph_model_add_self_call(graph_model *m, const endpoint *ep, const double count[CLASS_COUNT], unsigned flow) {
    double c[CLASS_COUNT];
    sanitize(m, count, c);
    uint32_t key[4] = {strtab_intern(&m->names, ep->region), strtab_intern(&m->names, ep->service), 0, 0};
    record *r = rectab_get(&m->self, key, VIZ_MAX_EDGES);
    if (r) record_add(r, c, flow_bit(flow));
}

void graph_model_add_dropped(graph_model *m, double count, unsigned flow) {
    m->dropped += clamp_count(m, count);
    m->dropped_flows |= flow_bit(flow);
}

int graph_model_add(graph_model *m, const endpoint *from, const endpoint *to, const double count[CLASS_COUNT],
                    unsigned flow, char *err) {
    return graph_model_add_lat(m, from, to, count, NULL, flow, err);
}

int graph_model_add_lat(graph_model *m, const endpoint *from, const endpoint *to, const double count[CLASS_COUNT],
                        const latency *lat, unsigned flow, char *err) {
    double c[CLASS_COUNT];
    double total = sanitize(m, count, c);
    if (to->service[0] == '\0') {
        m->dropped += total;
        m->dropped_flows |= flow_bit(flow);
        return 0;
    }
    bool entry = is_entry_caller(from);
    uint32_t key[4];
    if (m->edges.n >= VIZ_MAX_EDGES) {
        /* Full: only an existing edge may still grow; intern nothing new. */
        key[2] = strtab_lookup(&m->names, to->region);
        key[3] = strtab_lookup(&m->names, to->service);
        key[0] = entry ? key[2] : strtab_lookup(&m->names, from->region);
        key[1] = entry ? ENTRY_ID : strtab_lookup(&m->names, from->service);
        record *e = NULL;
        if (key[0] != NO_ID && key[1] != NO_ID && key[2] != NO_ID && key[3] != NO_ID) e = rectab_find(&m->edges, key);
        if (!e && !(key[0] == key[2] && key[1] == key[3] && key[1] != NO_ID))
            return fail(err, "more than %u distinct edges in one window", VIZ_MAX_EDGES);
    }
    key[2] = intern_at(m, EP_TO_REGION, to->region);
    key[3] = intern_at(m, EP_TO_SERVICE, to->service);
    if (entry) {
        key[0] = key[2];
        key[1] = ENTRY_ID;
    } else {
        key[0] = intern_at(m, EP_FROM_REGION, from->region);
        key[1] = intern_at(m, EP_FROM_SERVICE, from->service);
        if (key[0] == key[2] && key[1] == key[3]) {
            graph_model_add_self_call(m, to, c, flow);
            return 0;
        }
    }
    record *e = rectab_get(&m->edges, key, VIZ_MAX_EDGES);
    if (!e) return fail(err, "more than %u distinct edges in one window", VIZ_MAX_EDGES);
    record_add(e, c, flow_bit(flow));
    latency_add(&e->lat, lat);
    if (to->host[0]) add_host(m, key[2], key[3], to->host, c, flow_bit(flow));
    return 0;
}

static uint32_t map_id(const uint32_t *map, uint32_t id) {
    return id == ENTRY_ID || id == NO_ID ? id : map[id];
}

static int merge_table(rectab *into, const rectab *from, const uint32_t *map, unsigned nkeys, size_t limit,
                       double *untracked) {
    size_t most = into->n + from->n; /* fewer when keys coincide */
    rectab_reserve(into, most < limit ? most : limit);
    for (size_t i = 0; i < from->n; i++) {
        const record *src = &from->recs[i];
        uint32_t key[4] = {0, 0, 0, 0};
        for (unsigned k = 0; k < nkeys; k++) key[k] = map_id(map, src->key[k]);
        record *dst = rectab_get(into, key, limit);
        if (!dst) {
            if (!untracked) return -1;
            *untracked += src->count[0] + src->count[1] + src->count[2];
            continue;
        }
        record_add(dst, src->count, src->flows);
        latency_add(&dst->lat, &src->lat);
    }
    return 0;
}

int graph_model_merge(graph_model *into, const graph_model *from, char *err) {
    uint32_t *map = xmalloc(((size_t)from->names.n + 1) * sizeof *map);
    for (uint32_t id = 0; id < from->names.n; id++) {
        const char *s = str_of(&from->names, id);
        map[id] = strtab_intern_n(&into->names, s, strlen(s));
    }
    int rc = 0;
    if (merge_table(&into->edges, &from->edges, map, 4, VIZ_MAX_EDGES, NULL) < 0) {
        rc = fail(err, "more than %u distinct edges in one window", VIZ_MAX_EDGES);
        goto done;
    }
    merge_table(&into->hosts, &from->hosts, map, 3, VIZ_MAX_EDGES, &into->hosts_untracked);
    /* Self calls only feed node metadata; past the limit they are not kept
     * (the host table's overflow count must not include them). */
    double self_not_kept = 0;
    merge_table(&into->self, &from->self, map, 2, VIZ_MAX_EDGES, &self_not_kept);
    into->dropped += from->dropped;
    into->dropped_flows |= from->dropped_flows;
    into->hosts_untracked += from->hosts_untracked;
    into->clamped += from->clamped;
done:
    free(map);
    return rc;
}

/* ---- state: the decaying maximum volume per region ---- */

typedef struct {
    char *name;
    double volume;
    int64_t end_ms;
} state_entry;

struct graph_state {
    state_entry *entries; /* sorted by name */
    size_t n;
};

graph_state *graph_state_new(void) {
    return xcalloc(1, sizeof(graph_state));
}

static void state_entries_free(state_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) free(e[i].name);
    free(e);
}

void graph_state_free(graph_state *st) {
    if (!st) return;
    state_entries_free(st->entries, st->n);
    free(st);
}

static int state_cmp(const void *a, const void *b) {
    return strcmp(((const state_entry *)a)->name, ((const state_entry *)b)->name);
}

static const state_entry *state_find(const graph_state *st, const char *name) {
    state_entry probe = {.name = (char *)name};
    return st->n ? bsearch(&probe, st->entries, st->n, sizeof probe, state_cmp) : NULL;
}

static double decayed_max(const graph_state *st, const char *region, double target, int64_t end_ms) {
    const state_entry *prev = state_find(st, region);
    if (!prev) return target;
    double kept = prev->volume;
    int64_t dt = end_ms - prev->end_ms;
    if (dt > 0) kept *= pow(0.5, (double)dt / DECAY_HALF_LIFE_MS);
    return isfinite(kept) && kept > target ? kept : target;
}

/* ---- rendering ---- */

enum { NODE_ENTRY, NODE_SERVICE, NODE_STANDIN, NODE_OTHER };

/* One contribution of an edge to a view: ids are service ids (NODE_SERVICE)
 * or region ids (NODE_STANDIN, and at the root). */
typedef struct {
    uint32_t src, dst;
    uint8_t src_kind, dst_kind;
    uint64_t flows;
    double count[CLASS_COUNT];
    latency lat;
} item;

/* A node of a region view while it is being built. */
typedef struct {
    uint8_t kind;
    uint32_t id; /* service or region id; NO_ID for entry and other */
    char *name;  /* final, unique in the view */
    bool owned;  /* name was built here and must be freed */
    uint32_t byte_rank;
    uint32_t final; /* index after merging into other */
    double activity;
    double in[CLASS_COUNT], out[CLASS_COUNT];
    latency lat_in; /* of its incoming connections */
    uint64_t in_flows;
    double self[CLASS_COUNT];
    bool has_self;
    unsigned merged;
    bool connected;
    size_t host_begin, host_end; /* range in the sorted host list */
} vnode;

typedef struct {
    uint32_t src, dst; /* node indices */
    uint32_t seq;
    uint64_t flows;
    double count[CLASS_COUNT];
    latency lat;
} conn;

/* A root-level region under construction. */
typedef struct {
    uint32_t id;
    char *name; /* unique at the root */
    bool owned;
    size_t item_begin, item_end;
    double ingress[CLASS_COUNT];
    latency ingress_lat;
    uint64_t ingress_flows;
    double into[CLASS_COUNT]; /* all calls into its services */
    uint64_t into_flows;
    uint64_t flows;    /* every flow that touched it */
    double self_total; /* self-calls of its services */
    double max_volume;
} region;

typedef struct {
    const graph_model *m;
    const graph_config *g;
    const graph_render_opts *o;
    double window_s;
    char window_text[32];
    uint32_t *rank; /* bytewise rank of every name id */
    uint32_t *host_order, *self_order;
    size_t nhosts, nself;
    jsonw w;
    buf text, escaped, query, link;
    graph_stats stats;
    int32_t *local; /* name id -> node index in the current view, -1 */
    int32_t *standin_local;
} render_ctx;

static const char *class_names[] = {"normal", "warning", "danger"};

static double sum3(const double c[CLASS_COUNT]) {
    return c[0] + c[1] + c[2];
}

/* 0 normal, 1 warning, 2 danger (SPEC §5). */
static int classify(const render_ctx *c, const double n[CLASS_COUNT]) {
    double total = sum3(n);
    if (!(total > 0) || n[CLASS_DANGER] <= 0) return 0;
    if (total / c->window_s < c->g->min_rate) return 0;
    double share = n[CLASS_DANGER] / total;
    if (share >= c->g->danger) return 2;
    if (share >= c->g->warning) return 1;
    return 0;
}

static const flow_config *flow_at(const render_ctx *c, unsigned i) {
    return i < c->o->nflows && c->o->flows ? c->o->flows[i].flow : NULL;
}

static const char *danger_label_of(const render_ctx *c, uint64_t flows) {
    const char *label = NULL;
    for (unsigned i = 0; i < VIZ_MAX_FLOWS; i++) {
        if (!(flows & ((uint64_t)1 << i))) continue;
        const flow_config *f = flow_at(c, i);
        const char *l = f && !str_empty(f->danger_label) ? f->danger_label : "errors";
        if (label && strcmp(label, l) != 0) return "errors";
        label = l;
    }
    return label ? label : "errors";
}

static const flow_config *first_flow(const render_ctx *c, uint64_t flows) {
    for (unsigned i = 0; i < VIZ_MAX_FLOWS; i++)
        if (flows & ((uint64_t)1 << i)) return flow_at(c, i);
    return NULL;
}

/* Vizceral inserts notice text with innerHTML. */
static void html_escape(buf *out, const char *s) {
    buf_reset(out);
    for (; *s; s++) {
        switch (*s) {
        case '&':
            buf_puts(out, "&amp;");
            break;
        case '<':
            buf_puts(out, "&lt;");
            break;
        case '>':
            buf_puts(out, "&gt;");
            break;
        case '"':
            buf_puts(out, "&quot;");
            break;
        case '\'':
            buf_puts(out, "&#39;");
            break;
        default:
            buf_putc(out, *s);
        }
    }
}

static int url_encode(buf *out, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            rc |= buf_putc(out, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc |= buf_append(out, e, 3);
        }
    }
    return rc;
}

/* One side of a KQL query: field:"value", quotes and backslashes escaped. */
static void kql_part(buf *q, const char *field, const char *value) {
    if (str_empty(field) || !value) return;
    if (q->len) buf_puts(q, " and ");
    buf_puts(q, field);
    buf_puts(q, ":\"");
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\') buf_putc(q, '\\');
        buf_putc(q, *p);
    }
    buf_putc(q, '"');
}

/* What a notice is about: names for {from}/{to}/{region} and the query. */
typedef struct {
    const char *from, *to, *region;
    const char *subtitle;
} notice_subject;

/* Fills graph.notice_link; NULL when there is none, it grew past
 * VIZ_MAX_NOTICE_LINK or it is not an http(s) link. */
static const char *fill_link(render_ctx *c, const notice_subject *ns) {
    const char *t = c->g->notice_link;
    if (str_empty(t)) return NULL;
    buf *l = &c->link;
    buf_reset(l);
    int rc = 0;
    while (*t) {
        static const char *names[] = {"{query}", "{from}", "{to}", "{region}", "{window}"};
        const char *values[] = {buf_cstr(&c->query), ns->from, ns->to, ns->region, c->window_text};
        size_t which = 5;
        if (*t == '{')
            for (size_t i = 0; i < 5 && which == 5; i++)
                if (strncmp(t, names[i], strlen(names[i])) == 0) which = i;
        if (which < 5) {
            rc |= url_encode(l, values[which] ? values[which] : "");
            t += strlen(names[which]);
        } else {
            rc |= buf_putc(l, *t++);
        }
        if (rc) return NULL;
    }
    const char *s = buf_cstr(l);
    if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0) return NULL;
    return s;
}

static void write_notice(render_ctx *c, int severity, const char *title, const char *subtitle, const char *link) {
    jsonw *w = &c->w;
    jsonw_object_begin(w);
    html_escape(&c->escaped, title);
    jsonw_key(w, "title");
    jsonw_string(w, buf_cstr(&c->escaped));
    if (!str_empty(subtitle)) {
        html_escape(&c->escaped, subtitle);
        jsonw_key(w, "subtitle");
        jsonw_string(w, buf_cstr(&c->escaped));
    }
    if (link) {
        jsonw_key(w, "link");
        jsonw_string(w, link);
    }
    jsonw_key(w, "severity");
    jsonw_int(w, severity);
    jsonw_object_end(w);
}

/* The notice of a coloured node or edge; c->query must hold its query. */
static void write_class_notice(render_ctx *c, int cls, const double n[CLASS_COUNT], uint64_t flows,
                               const notice_subject *ns) {
    char share[32], rate[32];
    snprintf(share, sizeof share, "%.1f", 100.0 * n[CLASS_DANGER] / sum3(n));
    format_rate(n[CLASS_DANGER] / c->window_s, rate, sizeof rate);
    buf_reset(&c->text);
    buf_printf(&c->text, "%s %s%% (%s/s) over %s", danger_label_of(c, flows), share, rate, c->window_text);
    char *title = xstrdup(buf_cstr(&c->text));
    write_notice(c, cls, title, ns->subtitle, fill_link(c, ns));
    free(title);
}

static void write_metrics(render_ctx *c, const double n[CLASS_COUNT]) {
    jsonw *w = &c->w;
    jsonw_key(w, "metrics");
    jsonw_object_begin(w);
    for (int k = 0; k < CLASS_COUNT; k++) {
        double rate = n[k] / c->window_s;
        /* A rate that rounds to nothing is omitted like a zero. */
        if (n[k] > 0 && round_significant(rate, 4) > 0) {
            jsonw_key(w, class_names[k]);
            jsonw_rate(w, rate);
        }
    }
    jsonw_object_end(w);
}

static void write_counts(render_ctx *c, const double n[CLASS_COUNT]) {
    for (int k = 0; k < CLASS_COUNT; k++) {
        jsonw_key(&c->w, class_names[k]);
        jsonw_double(&c->w, n[k]);
    }
}

/* A connection; the caller has put its query into c->query. */
/* The class by average latency (graph.thresholds.latency_*), for a
 * connection its error share leaves normal; min_rate applies as to errors. */
static int classify_latency(const render_ctx *c, const double n[CLASS_COUNT], const latency *lat, double *avg) {
    const graph_config *g = c->g;
    if (!g->latency_warning_ms && !g->latency_danger_ms) return 0;
    if (!latency_avg(lat, avg) || !(sum3(n) > 0) || sum3(n) / c->window_s < g->min_rate) return 0;
    if (g->latency_danger_ms && *avg >= (double)g->latency_danger_ms) return 2;
    if (g->latency_warning_ms && *avg >= (double)g->latency_warning_ms) return 1;
    return 0;
}

static void write_latency_notice(render_ctx *c, int cls, double avg, const notice_subject *ns) {
    char text[32];
    latency_format(avg, text, sizeof text);
    buf_reset(&c->text);
    buf_printf(&c->text, "avg %s over %s", text, c->window_text);
    char *title = xstrdup(buf_cstr(&c->text));
    write_notice(c, cls, title, ns->subtitle, fill_link(c, ns));
    free(title);
}

static void write_connection(render_ctx *c, const char *source, const char *target, const double n[CLASS_COUNT],
                             const latency *lat, uint64_t flows, const notice_subject *ns) {
    jsonw *w = &c->w;
    int cls = classify(c, n);
    double avg = 0;
    int lat_cls = cls ? 0 : classify_latency(c, n, lat, &avg);
    jsonw_object_begin(w);
    jsonw_key(w, "source");
    jsonw_string(w, source);
    jsonw_key(w, "target");
    jsonw_string(w, target);
    write_metrics(c, n);
    jsonw_key(w, "class");
    jsonw_string(w, class_names[cls ? cls : lat_cls]);
    if (cls) {
        jsonw_key(w, "notices");
        jsonw_array_begin(w);
        write_class_notice(c, cls, n, flows, ns);
        jsonw_array_end(w);
    } else if (lat_cls) {
        jsonw_key(w, "notices");
        jsonw_array_begin(w);
        write_latency_notice(c, lat_cls, avg, ns);
        jsonw_array_end(w);
    }
    jsonw_key(w, "metadata");
    jsonw_object_begin(w);
    write_counts(c, n);
    latency_write(w, lat);
    jsonw_object_end(w);
    jsonw_object_end(w);
    c->stats.connections++;
}

/* ---- names ---- */

/* A small set of strings, to keep node names unique within one view. */
typedef struct {
    const char **slots;
    size_t nslots, n;
} nameset;

static void nameset_init(nameset *s, size_t expected) {
    s->nslots = 16;
    while (s->nslots < expected * 2 + 2) s->nslots *= 2;
    s->slots = xcalloc(s->nslots, sizeof *s->slots);
    s->n = 0;
}

static bool nameset_has(const nameset *s, const char *name) {
    size_t mask = s->nslots - 1;
    for (size_t i = hash_bytes(name, strlen(name), HASH_SEED) & mask; s->slots[i]; i = (i + 1) & mask)
        if (strcmp(s->slots[i], name) == 0) return true;
    return false;
}

/* name must outlive the set. */
static void nameset_add(nameset *s, const char *name) {
    if (nameset_has(s, name)) return;
    assert(s->n * 2 < s->nslots);
    size_t mask = s->nslots - 1;
    size_t i = hash_bytes(name, strlen(name), HASH_SEED) & mask;
    while (s->slots[i]) i = (i + 1) & mask;
    s->slots[i] = name;
    s->n++;
}

/* base if free in the set, else base + suffix (repeated until free); the
 * result is added to the set. *owned tells whether it was allocated. */
static char *unique_name(nameset *s, const char *base, const char *suffix, bool *owned) {
    *owned = false;
    char *name = (char *)base;
    while (nameset_has(s, name)) {
        size_t a = strlen(name), b = strlen(suffix);
        char *longer = xmalloc(a + b + 1);
        memcpy(longer, name, a);
        memcpy(longer + a, suffix, b + 1);
        if (*owned) free(name);
        name = longer;
        *owned = true;
    }
    nameset_add(s, name);
    return name;
}

/* ---- sorting by name rank ---- */

typedef struct {
    uint32_t k[4];
    uint32_t idx;
} sort_key;

static int sort_key_cmp(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    for (int i = 0; i < 4; i++)
        if (x->k[i] != y->k[i]) return x->k[i] < y->k[i] ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const strtab *rank_names;
static int name_id_cmp(const void *a, const void *b) {
    return strcmp(str_of(rank_names, *(const uint32_t *)a), str_of(rank_names, *(const uint32_t *)b));
}

/* rank[id] = position of name id in bytewise order. */
static uint32_t *compute_ranks(const strtab *t) {
    uint32_t *ids = xmalloc(((size_t)t->n + 1) * sizeof *ids);
    for (uint32_t i = 0; i < t->n; i++) ids[i] = i;
    rank_names = t; /* qsort has no context argument in C11 */
    qsort(ids, t->n, sizeof *ids, name_id_cmp);
    uint32_t *rank = xmalloc(((size_t)t->n + 1) * sizeof *rank);
    for (uint32_t i = 0; i < t->n; i++) rank[ids[i]] = i;
    free(ids);
    return rank;
}

static uint32_t rk(const render_ctx *c, uint32_t id) {
    return id == ENTRY_ID ? 0 : c->rank[id] + 1; /* the entry sorts first */
}

/* Indices of the records of t, ordered by the ranks of their first nkeys keys. */
static uint32_t *sorted_records(const render_ctx *c, const rectab *t, unsigned nkeys) {
    sort_key *keys = xmalloc((t->n + 1) * sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const record *r = &t->recs[i];
        for (unsigned k = 0; k < 4; k++) keys[n].k[k] = k < nkeys ? rk(c, r->key[k]) : 0;
        keys[n++].idx = (uint32_t)i;
    }
    assert(n == t->n);
    qsort(keys, n, sizeof *keys, sort_key_cmp);
    uint32_t *order = xmalloc((n + 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = keys[i].idx;
    free(keys);
    return order;
}

/* First index in order[0..n) whose record has key[0] == region (by rank). */
static size_t lower_bound(const render_ctx *c, const rectab *t, const uint32_t *order, size_t n, uint32_t region_id) {
    size_t lo = 0, hi = n;
    uint32_t want = rk(c, region_id);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rk(c, t->recs[order[mid]].key[0]) < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- one region view ---- */

static vnode *vnode_push(vnode **nodes, size_t *n, size_t *cap, uint8_t kind, uint32_t id) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *nodes = xrealloc(*nodes, *cap * sizeof **nodes);
    }
    vnode *v = &(*nodes)[(*n)++];
    memset(v, 0, sizeof *v);
    v->kind = (uint8_t)kind;
    v->id = id;
    v->final = (uint32_t)(*n - 1);
    return v;
}

static const vnode *svc_sort_nodes;
static const render_ctx *svc_sort_ctx;
static int busiest_first(const void *a, const void *b) {
    const vnode *x = &svc_sort_nodes[*(const uint32_t *)a], *y = &svc_sort_nodes[*(const uint32_t *)b];
    if (x->activity != y->activity) return x->activity > y->activity ? -1 : 1;
    uint32_t rx = svc_sort_ctx->rank[x->id], ry = svc_sort_ctx->rank[y->id];
    return rx < ry ? -1 : rx > ry;
}

static int name_index_cmp(const void *a, const void *b) {
    return strcmp(svc_sort_nodes[*(const uint32_t *)a].name, svc_sort_nodes[*(const uint32_t *)b].name);
}

static const uint32_t *conn_rank;
static int conn_cmp(const void *a, const void *b) {
    const conn *x = a, *y = b;
    if (conn_rank[x->src] != conn_rank[y->src]) return conn_rank[x->src] < conn_rank[y->src] ? -1 : 1;
    if (conn_rank[x->dst] != conn_rank[y->dst]) return conn_rank[x->dst] < conn_rank[y->dst] ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Query part of a node seen as caller (from = true) or callee. */
static void node_query(render_ctx *c, const flow_config *f, const vnode *v, bool from) {
    if (!f) return;
    if (v->kind == NODE_SERVICE)
        kql_part(&c->query, f->fields[from ? EP_FROM_SERVICE : EP_TO_SERVICE], str_of(&c->m->names, v->id));
    else if (v->kind == NODE_STANDIN)
        kql_part(&c->query, f->fields[from ? EP_FROM_REGION : EP_TO_REGION], str_of(&c->m->names, v->id));
}

/* The name a node has in the data (not the view's unique name). */
static const char *data_name(const render_ctx *c, const vnode *v) {
    if (v->kind == NODE_SERVICE || v->kind == NODE_STANDIN) return str_of(&c->m->names, v->id);
    return v->name;
}

typedef struct {
    vnode *nodes;
    size_t n, cap;
    conn *conns;
    size_t nconns;
    unsigned hidden;
    double max_rate;
    uint64_t flows;
    bool has_ingress;
} view;

static void view_free(view *v) {
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].owned) free(v->nodes[i].name);
    free(v->nodes);
    free(v->conns);
}

static uint32_t view_node(render_ctx *c, view *v, uint8_t kind, uint32_t id) {
    if (kind == NODE_ENTRY) {
        if (v->n == 0 || v->nodes[0].kind != NODE_ENTRY) abort(); /* entry is created first */
        return 0;
    }
    int32_t *map = kind == NODE_SERVICE ? c->local : c->standin_local;
    if (map[id] < 0) {
        map[id] = (int32_t)v->n;
        vnode_push(&v->nodes, &v->n, &v->cap, kind, id);
    }
    return (uint32_t)map[id];
}

/* Builds the nodes and connections of region r from its items. */
static void build_view(render_ctx *c, const region *r, const item *items, view *v) {
    const graph_config *g = c->g;
    memset(v, 0, sizeof *v);
    vnode_push(&v->nodes, &v->n, &v->cap, NODE_ENTRY, NO_ID); /* index 0, dropped later if unused */
    for (size_t i = r->item_begin; i < r->item_end; i++) {
        const item *it = &items[i];
        uint32_t s = view_node(c, v, it->src_kind, it->src);
        uint32_t d = view_node(c, v, it->dst_kind, it->dst);
        double t = sum3(it->count);
        v->nodes[s].activity += t;
        v->nodes[d].activity += t;
    }

    /* The max_services cap. */
    uint32_t *svcs = xmalloc((v->n + 1) * sizeof *svcs);
    size_t nsvc = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].kind == NODE_SERVICE) svcs[nsvc++] = (uint32_t)i;
    if (g->max_services > 0 && nsvc > (size_t)g->max_services) {
        svc_sort_nodes = v->nodes;
        svc_sort_ctx = c;
        qsort(svcs, nsvc, sizeof *svcs, busiest_first);
        uint32_t other = (uint32_t)v->n;
        vnode_push(&v->nodes, &v->n, &v->cap, NODE_OTHER, NO_ID);
        for (size_t i = (size_t)g->max_services - 1; i < nsvc; i++) {
            v->nodes[svcs[i]].final = other;
            v->nodes[other].merged++;
        }
        v->hidden = v->nodes[other].merged;
    }

    /* Connections between final nodes; calls inside other become its self-calls. */
    v->conns = xmalloc((r->item_end - r->item_begin + 1) * sizeof *v->conns);
    for (size_t i = r->item_begin; i < r->item_end; i++) {
        const item *it = &items[i];
        uint32_t s = v->nodes[view_node(c, v, it->src_kind, it->src)].final;
        uint32_t d = v->nodes[view_node(c, v, it->dst_kind, it->dst)].final;
        v->flows |= it->flows;
        if (s == d) {
            for (int k = 0; k < CLASS_COUNT; k++) v->nodes[s].self[k] += it->count[k];
            v->nodes[s].has_self = true;
            continue;
        }
        conn *cn = &v->conns[v->nconns];
        cn->src = s;
        cn->dst = d;
        cn->seq = (uint32_t)v->nconns++;
        cn->flows = it->flows;
        memcpy(cn->count, it->count, sizeof cn->count);
        cn->lat = it->lat;
    }

    /* Self-calls of the region's services (merged ones go to other). */
    size_t sb = lower_bound(c, &c->m->self, c->self_order, c->nself, r->id);
    for (size_t i = sb; i < c->nself; i++) {
        const record *rec = &c->m->self.recs[c->self_order[i]];
        if (rec->key[0] != r->id) break;
        if (c->local[rec->key[1]] < 0) continue;
        vnode *node = &v->nodes[v->nodes[c->local[rec->key[1]]].final];
        for (int k = 0; k < CLASS_COUNT; k++) node->self[k] += rec->count[k];
        node->has_self = true;
        v->flows |= rec->flows;
    }
    /* Host ranges of kept services. */
    size_t hb = lower_bound(c, &c->m->hosts, c->host_order, c->nhosts, r->id);
    for (size_t i = hb; i < c->nhosts; i++) {
        const record *rec = &c->m->hosts.recs[c->host_order[i]];
        if (rec->key[0] != r->id) break;
        int32_t l = c->local[rec->key[1]];
        if (l < 0 || v->nodes[l].final != (uint32_t)l) continue;
        if (v->nodes[l].host_end == 0) v->nodes[l].host_begin = i;
        v->nodes[l].host_end = i + 1;
    }

    /* Unique names: entry, services, other, stand-ins, in that priority. */
    nameset names;
    nameset_init(&names, v->n);
    v->nodes[0].name = unique_name(&names, g->entry, "", &v->nodes[0].owned);
    for (size_t i = 0; i < nsvc; i++) {
        vnode *s = &v->nodes[svcs[i]];
        if (s->final == svcs[i]) s->name = unique_name(&names, str_of(&c->m->names, s->id), " (service)", &s->owned);
    }
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].kind == NODE_OTHER)
            v->nodes[i].name = unique_name(&names, "other", " (merged)", &v->nodes[i].owned);
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].kind == NODE_STANDIN)
            v->nodes[i].name =
                unique_name(&names, str_of(&c->m->names, v->nodes[i].id), " (region)", &v->nodes[i].owned);
    for (size_t i = 0; i < v->n; i++)
        if (!v->nodes[i].name) v->nodes[i].name = ""; /* merged away, never written */
    free(names.slots);
    free(svcs);

    /* Bytewise rank of the final names, then sort and add up connections. */
    uint32_t *byname = xmalloc((v->n + 1) * sizeof *byname);
    for (size_t i = 0; i < v->n; i++) byname[i] = (uint32_t)i;
    svc_sort_nodes = v->nodes;
    qsort(byname, v->n, sizeof *byname, name_index_cmp);
    uint32_t *rank = xmalloc((v->n + 1) * sizeof *rank);
    for (size_t i = 0; i < v->n; i++) rank[byname[i]] = (uint32_t)i;
    for (size_t i = 0; i < v->n; i++) v->nodes[i].byte_rank = rank[i];
    free(byname);
    conn_rank = rank;
    qsort(v->conns, v->nconns, sizeof *v->conns, conn_cmp);
    free(rank);
    size_t out = 0;
    for (size_t i = 0; i < v->nconns; i++) {
        if (out && v->conns[out - 1].src == v->conns[i].src && v->conns[out - 1].dst == v->conns[i].dst) {
            for (int k = 0; k < CLASS_COUNT; k++) v->conns[out - 1].count[k] += v->conns[i].count[k];
            latency_add(&v->conns[out - 1].lat, &v->conns[i].lat);
            v->conns[out - 1].flows |= v->conns[i].flows;
        } else {
            v->conns[out++] = v->conns[i];
        }
    }
    v->nconns = out;
    for (size_t i = 0; i < v->nconns; i++) {
        conn *cn = &v->conns[i];
        vnode *s = &v->nodes[cn->src], *d = &v->nodes[cn->dst];
        for (int k = 0; k < CLASS_COUNT; k++) {
            s->out[k] += cn->count[k];
            d->in[k] += cn->count[k];
        }
        latency_add(&d->lat_in, &cn->lat);
        d->in_flows |= cn->flows;
        s->connected = d->connected = true;
        double rate = sum3(cn->count) / c->window_s;
        if (rate > v->max_rate) v->max_rate = rate;
        if (cn->src == 0) v->has_ingress = true;
    }
}

static void write_hosts(render_ctx *c, const vnode *s, unsigned *hidden) {
    size_t n = s->host_end - s->host_begin;
    *hidden = 0;
    if (n == 0) return;
    const uint32_t *list = c->host_order + s->host_begin;
    uint32_t *kept = NULL;
    if (n > VIZ_MAX_HOSTS_PER_SERVICE) {
        /* Keep the busiest, list them by name. */
        sort_key *keys = xmalloc(n * sizeof *keys);
        for (size_t i = 0; i < n; i++) {
            const record *h = &c->m->hosts.recs[list[i]];
            double t = sum3(h->count);
            /* Order by total descending: the bits of a non-negative double sort like integers. */
            uint64_t bits;
            memcpy(&bits, &t, sizeof bits);
            bits = ~bits;
            keys[i] = (sort_key){{(uint32_t)(bits >> 32), (uint32_t)bits, c->rank[h->key[2]], 0}, list[i]};
        }
        qsort(keys, n, sizeof *keys, sort_key_cmp);
        kept = xmalloc(VIZ_MAX_HOSTS_PER_SERVICE * sizeof *kept);
        for (size_t i = 0; i < VIZ_MAX_HOSTS_PER_SERVICE; i++) {
            keys[i].k[0] = c->rank[c->m->hosts.recs[keys[i].idx].key[2]];
            keys[i].k[1] = keys[i].k[2] = 0;
        }
        qsort(keys, VIZ_MAX_HOSTS_PER_SERVICE, sizeof *keys, sort_key_cmp);
        for (size_t i = 0; i < VIZ_MAX_HOSTS_PER_SERVICE; i++) kept[i] = keys[i].idx;
        free(keys);
        *hidden = (unsigned)(n - VIZ_MAX_HOSTS_PER_SERVICE);
        n = VIZ_MAX_HOSTS_PER_SERVICE;
        list = kept;
    }
    jsonw *w = &c->w;
    jsonw_key(w, "nodes");
    jsonw_array_begin(w);
    for (size_t i = 0; i < n; i++) {
        const record *h = &c->m->hosts.recs[list[i]];
        jsonw_object_begin(w);
        jsonw_key(w, "name");
        jsonw_string(w, str_of(&c->m->names, h->key[2]));
        write_metrics(c, h->count);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    free(kept);
}

static void write_view_node(render_ctx *c, const region *r, const vnode *v) {
    jsonw *w = &c->w;
    jsonw_object_begin(w);
    jsonw_key(w, "renderer");
    jsonw_string(w, "focusedChild");
    jsonw_key(w, "name");
    jsonw_string(w, v->name);
    if (v->kind == NODE_ENTRY) {
        jsonw_key(w, "class");
        jsonw_string(w, "normal");
        jsonw_object_end(w);
        return;
    }
    if (v->kind == NODE_STANDIN) {
        jsonw_key(w, "displayName");
        jsonw_string(w, v->name);
    }
    int cls = classify(c, v->in);
    jsonw_key(w, "class");
    jsonw_string(w, class_names[cls]);
    if (cls) {
        buf_reset(&c->query);
        node_query(c, first_flow(c, v->in_flows), v, false);
        buf_reset(&c->text);
        if (v->kind == NODE_STANDIN)
            buf_printf(&c->text, "calls from %s to %s", r->name, data_name(c, v));
        else
            buf_printf(&c->text, "into %s in %s", data_name(c, v), r->name);
        char *subtitle = xstrdup(buf_cstr(&c->text));
        notice_subject ns = {"", data_name(c, v), str_of(&c->m->names, r->id), subtitle};
        jsonw_key(w, "notices");
        jsonw_array_begin(w);
        write_class_notice(c, cls, v->in, v->in_flows, &ns);
        jsonw_array_end(w);
        free(subtitle);
    }
    jsonw_key(w, "metadata");
    jsonw_object_begin(w);
    if (v->kind == NODE_STANDIN) {
        jsonw_key(w, "region");
        jsonw_bool(w, true);
    }
    jsonw_key(w, "rate_in");
    jsonw_rate(w, sum3(v->in) / c->window_s);
    jsonw_key(w, "rate_out");
    jsonw_rate(w, sum3(v->out) / c->window_s);
    jsonw_key(w, "error_share");
    jsonw_rate(w, sum3(v->in) > 0 ? v->in[CLASS_DANGER] / sum3(v->in) : 0);
    latency_write(w, &v->lat_in);
    if (v->has_self && sum3(v->self) > 0) {
        jsonw_key(w, "self_call_rate");
        jsonw_rate(w, sum3(v->self) / c->window_s);
    }
    if (v->kind == NODE_OTHER) {
        jsonw_key(w, "merged_services");
        jsonw_int(w, v->merged);
    }
    unsigned hosts_hidden = 0;
    if (v->kind == NODE_SERVICE && v->host_end - v->host_begin > VIZ_MAX_HOSTS_PER_SERVICE) {
        hosts_hidden = (unsigned)(v->host_end - v->host_begin - VIZ_MAX_HOSTS_PER_SERVICE);
        jsonw_key(w, "hosts_hidden");
        jsonw_int(w, hosts_hidden);
    }
    jsonw_object_end(w);
    if (v->kind == NODE_SERVICE) write_hosts(c, v, &hosts_hidden);
    jsonw_object_end(w);
}

static bool node_first(const vnode *a, const vnode *b) {
    int ga = a->kind == NODE_ENTRY ? 0 : a->kind == NODE_STANDIN ? 2 : 1;
    int gb = b->kind == NODE_ENTRY ? 0 : b->kind == NODE_STANDIN ? 2 : 1;
    if (ga != gb) return ga < gb;
    return a->byte_rank < b->byte_rank;
}

static const vnode *order_nodes;
static int node_order_cmp(const void *a, const void *b) {
    const vnode *x = &order_nodes[*(const uint32_t *)a], *y = &order_nodes[*(const uint32_t *)b];
    return node_first(x, y) ? -1 : node_first(y, x) ? 1 : 0;
}

static void write_flow_names(render_ctx *c, uint64_t flows) {
    jsonw_array_begin(&c->w);
    for (unsigned i = 0; i < VIZ_MAX_FLOWS; i++) {
        if (!(flows & ((uint64_t)1 << i))) continue;
        const flow_config *f = flow_at(c, i);
        if (f && f->name) {
            jsonw_string(&c->w, f->name);
        } else {
            char tmp[16];
            snprintf(tmp, sizeof tmp, "#%u", i);
            jsonw_string(&c->w, tmp);
        }
    }
    jsonw_array_end(&c->w);
}

/* Earliest stale_since of the region's flows, 0 when all are fresh. A flow
 * that has never answered feeds no region yet, so nothing would show its
 * failure: it counts for every region, any of which may lack its traffic. */
static int64_t stale_since(const render_ctx *c, uint64_t flows) {
    int64_t since = 0;
    for (unsigned i = 0; i < c->o->nflows && i < VIZ_MAX_FLOWS; i++) {
        bool never_answered = c->o->flows[i].data_end_ms == 0;
        if (!(flows & ((uint64_t)1 << i)) && !never_answered) continue;
        int64_t s = c->o->flows[i].stale_since_ms;
        if (s != 0 && (since == 0 || s < since)) since = s;
    }
    return since;
}

static int64_t oldest_data(const render_ctx *c, uint64_t flows) {
    int64_t oldest = 0;
    for (unsigned i = 0; i < c->o->nflows && i < VIZ_MAX_FLOWS; i++) {
        if (!(flows & ((uint64_t)1 << i))) continue;
        int64_t d = c->o->flows[i].data_end_ms;
        if (d != 0 && (oldest == 0 || d < oldest)) oldest = d;
    }
    return oldest ? oldest : c->o->window_end_ms;
}

static void write_region(render_ctx *c, region *r, const item *items, const graph_state *st) {
    jsonw *w = &c->w;
    view v;
    build_view(c, r, items, &v);
    double target = MAX_VOLUME_FACTOR * v.max_rate;
    if (!isfinite(target) || target < 1.0) target = 1.0;
    r->max_volume = decayed_max(st, str_of(&c->m->names, r->id), target, c->o->window_end_ms);
    uint64_t flows = v.flows | r->flows;
    int cls = classify(c, r->into);
    int64_t stale = stale_since(c, flows);
    bool partial = false;
    for (unsigned i = 0; i < c->o->nflows && i < VIZ_MAX_FLOWS; i++)
        if ((flows >> i & 1) && c->o->flows[i].degraded) partial = true;

    jsonw_object_begin(w);
    jsonw_key(w, "renderer");
    jsonw_string(w, "region");
    jsonw_key(w, "name");
    jsonw_string(w, r->name);
    jsonw_key(w, "displayName");
    jsonw_string(w, str_of(&c->m->names, r->id));
    jsonw_key(w, "class");
    jsonw_string(w, class_names[cls]);
    jsonw_key(w, "maxVolume");
    jsonw_rate(w, r->max_volume);
    jsonw_key(w, "updated");
    jsonw_int(w, oldest_data(c, flows));
    if (v.has_ingress) {
        jsonw_key(w, "entryNode");
        jsonw_string(w, v.nodes[0].name);
    }
    if (cls || stale || partial) {
        jsonw_key(w, "notices");
        jsonw_array_begin(w);
        if (cls) {
            buf_reset(&c->query);
            const flow_config *f = first_flow(c, r->into_flows);
            if (f) kql_part(&c->query, f->fields[EP_TO_REGION], str_of(&c->m->names, r->id));
            buf_reset(&c->text);
            buf_printf(&c->text, "into region %s", str_of(&c->m->names, r->id));
            char *subtitle = xstrdup(buf_cstr(&c->text));
            notice_subject ns = {"", str_of(&c->m->names, r->id), str_of(&c->m->names, r->id), subtitle};
            write_class_notice(c, cls, r->into, r->into_flows, &ns);
            free(subtitle);
        }
        if (stale) {
            char when[40], title[64];
            format_time_ms(stale, when, sizeof when);
            snprintf(title, sizeof title, "data stale since %s", when);
            write_notice(c, 2, title, NULL, NULL);
        }
        /* A flow that answered only in part (timed out, failed shards): its
         * figures are too low, and the page should say so. */
        for (unsigned i = 0; partial && i < c->o->nflows && i < VIZ_MAX_FLOWS; i++) {
            if (!(flows >> i & 1) || !c->o->flows[i].degraded) continue;
            buf_reset(&c->text);
            buf_printf(&c->text, "partial data from %s", c->o->flows[i].flow->name);
            char *title = xstrdup(buf_cstr(&c->text));
            write_notice(c, 1, title, c->o->flows[i].degraded, NULL);
            free(title);
        }
        jsonw_array_end(w);
    }
    jsonw_key(w, "metadata");
    jsonw_object_begin(w);
    jsonw_key(w, "window_s");
    jsonw_double(w, c->window_s);
    jsonw_key(w, "flows");
    write_flow_names(c, flows);
    jsonw_key(w, "hidden_services");
    jsonw_int(w, v.hidden);
    if (r->self_total > 0) {
        jsonw_key(w, "self_calls");
        jsonw_double(w, r->self_total);
    }
    if (stale) {
        jsonw_key(w, "stale");
        jsonw_bool(w, true);
    }
    if (partial) {
        jsonw_key(w, "partial");
        jsonw_bool(w, true);
    }
    jsonw_object_end(w);

    /* Nodes: entry, services by name, stand-ins by name; unconnected ones dropped. */
    uint32_t *order = xmalloc((v.n + 1) * sizeof *order);
    size_t norder = 0;
    for (size_t i = 0; i < v.n; i++)
        if (v.nodes[i].connected && v.nodes[i].final == i) order[norder++] = (uint32_t)i;
    order_nodes = v.nodes;
    qsort(order, norder, sizeof *order, node_order_cmp);
    jsonw_key(w, "nodes");
    jsonw_array_begin(w);
    for (size_t i = 0; i < norder; i++) {
        const vnode *n = &v.nodes[order[i]];
        write_view_node(c, r, n);
        if (n->kind == NODE_SERVICE || n->kind == NODE_OTHER) c->stats.services++;
    }
    jsonw_array_end(w);
    free(order);
    c->stats.hidden += v.hidden;

    jsonw_key(w, "connections");
    jsonw_array_begin(w);
    for (size_t i = 0; i < v.nconns; i++) {
        const conn *cn = &v.conns[i];
        const vnode *s = &v.nodes[cn->src], *d = &v.nodes[cn->dst];
        if (classify(c, cn->count)) {
            buf_reset(&c->query);
            const flow_config *f = first_flow(c, cn->flows);
            node_query(c, f, s, true);
            node_query(c, f, d, false);
        }
        buf_reset(&c->text);
        buf_printf(&c->text, "from %s to %s", data_name(c, s), data_name(c, d));
        char *subtitle = xstrdup(buf_cstr(&c->text));
        notice_subject ns = {data_name(c, s), data_name(c, d), str_of(&c->m->names, r->id), subtitle};
        write_connection(c, s->name, d->name, cn->count, &cn->lat, cn->flows, &ns);
        free(subtitle);
    }
    jsonw_array_end(w);
    jsonw_object_end(w);
    view_free(&v);
}

static int region_name_cmp(const void *a, const void *b) {
    return strcmp(((const region *)a)->name, ((const region *)b)->name);
}

/* Root cross-region connection being summed. */
typedef struct {
    uint32_t src, dst; /* region indices */
    uint32_t seq;
    uint64_t flows;
    double count[CLASS_COUNT];
    latency lat;
} root_conn;

static int root_conn_cmp(const void *a, const void *b) {
    const root_conn *x = a, *y = b;
    if (x->src != y->src) return x->src < y->src ? -1 : 1;
    if (x->dst != y->dst) return x->dst < y->dst ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A root connection about to be written. */
typedef struct {
    const char *source, *target;     /* names at the root */
    const char *from_data, *to_data; /* names in the data */
    const region *to;                /* entry -> region: its ingress */
    const root_conn *cross;          /* region -> region: the sum */
} root_edge;

static int root_edge_cmp(const void *a, const void *b) {
    const root_edge *x = a, *y = b;
    int d = strcmp(x->source, y->source);
    return d ? d : strcmp(x->target, y->target);
}

/* Entries are keyed by the region's name in the data, not its root name. */
static void commit_state(graph_state *st, const graph_model *m, const region *regions, size_t nregions,
                         int64_t end_ms) {
    state_entry *next = xmalloc((nregions + st->n + 1) * sizeof *next);
    size_t n = 0;
    for (size_t i = 0; i < nregions; i++)
        next[n++] = (state_entry){xstrdup(str_of(&m->names, regions[i].id)), regions[i].max_volume, end_ms};
    qsort(next, n, sizeof *next, state_cmp);
    size_t fresh = n;
    for (size_t i = 0; i < st->n; i++) {
        state_entry probe = {.name = st->entries[i].name};
        if (fresh && bsearch(&probe, next, fresh, sizeof probe, state_cmp)) continue;
        if (end_ms - st->entries[i].end_ms >= STATE_FORGET_MS) continue;
        next[n++] = (state_entry){xstrdup(st->entries[i].name), st->entries[i].volume, st->entries[i].end_ms};
    }
    qsort(next, n, sizeof *next, state_cmp);
    state_entries_free(st->entries, st->n);
    st->entries = next;
    st->n = n;
}

int graph_render(const graph_model *m, const graph_config *g, graph_state *st, const graph_render_opts *o, buf *out,
                 graph_stats *stats, char *err) {
    assert(m && g && st && o && out);
    render_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.g = g;
    c.o = o;
    c.window_s = o->window_ms > 0 ? (double)o->window_ms / 1000.0 : 1.0;
    format_duration(o->window_ms, c.window_text, sizeof c.window_text);
    buf_init(&c.text, 1u << 16);
    buf_init(&c.escaped, 1u << 16);
    buf_init(&c.query, 1u << 16);
    buf_init(&c.link, VIZ_MAX_NOTICE_LINK);
    size_t start_len = out->len;
    jsonw_init(&c.w, out);
    jsonw *w = &c.w;
    const char *entry = str_empty(g->entry) ? "INTERNET" : g->entry;
    graph_config gc = *g;
    gc.entry = (char *)entry;
    c.g = &gc;

    c.rank = compute_ranks(&m->names);
    uint32_t nnames = m->names.n;
    c.local = xmalloc(((size_t)nnames + 1) * sizeof *c.local);
    c.standin_local = xmalloc(((size_t)nnames + 1) * sizeof *c.standin_local);
    int32_t *region_of = xmalloc(((size_t)nnames + 1) * sizeof *region_of);
    for (uint32_t i = 0; i < nnames; i++) c.local[i] = c.standin_local[i] = region_of[i] = -1;
    c.host_order = sorted_records(&c, &m->hosts, 3);
    c.nhosts = m->hosts.n;
    c.self_order = sorted_records(&c, &m->self, 2);
    c.nself = m->self.n;

    /* Edges in name order; zero ones carry nothing and are skipped. */
    uint32_t *edge_order = sorted_records(&c, &m->edges, 4);
    size_t nedges = m->edges.n;

    /* Regions, in name order. */
    region *regions = NULL;
    size_t nregions = 0;
    {
        sort_key *rkeys = xmalloc((nedges * 2 + 1) * sizeof *rkeys);
        size_t nk = 0;
        for (size_t i = 0; i < nedges; i++) {
            const record *e = &m->edges.recs[edge_order[i]];
            if (!(sum3(e->count) > 0)) continue;
            for (int side = 0; side < 2; side++) {
                uint32_t id = side ? e->key[2] : e->key[0];
                if (region_of[id] == -1) {
                    region_of[id] = 0;
                    rkeys[nk++] = (sort_key){{c.rank[id], 0, 0, 0}, id};
                }
            }
        }
        qsort(rkeys, nk, sizeof *rkeys, sort_key_cmp);
        regions = xcalloc(nk + 1, sizeof *regions);
        for (size_t i = 0; i < nk; i++) {
            regions[i].id = rkeys[i].idx;
            region_of[rkeys[i].idx] = (int32_t)i;
        }
        nregions = nk;
        free(rkeys);
    }

    /* Items per region: count, place, fill (a bucket sort, stable). */
    size_t *fill = xcalloc(nregions + 1, sizeof *fill);
    for (size_t i = 0; i < nedges; i++) {
        const record *e = &m->edges.recs[edge_order[i]];
        if (!(sum3(e->count) > 0)) continue;
        fill[region_of[e->key[2]]]++;
        if (e->key[1] != ENTRY_ID && e->key[0] != e->key[2]) fill[region_of[e->key[0]]]++;
    }
    size_t nitems = 0;
    for (size_t i = 0; i < nregions; i++) {
        regions[i].item_begin = regions[i].item_end = nitems;
        nitems += fill[i];
    }
    item *items = xmalloc((nitems + 1) * sizeof *items);
    root_conn *cross = xmalloc((nedges + 1) * sizeof *cross);
    size_t ncross = 0;
    for (size_t oi = 0; oi < nedges; oi++) {
        const record *e = &m->edges.recs[edge_order[oi]];
        if (!(sum3(e->count) > 0)) continue;
        region *to = &regions[region_of[e->key[2]]];
        for (int k = 0; k < CLASS_COUNT; k++) to->into[k] += e->count[k];
        to->into_flows |= e->flows;
        to->flows |= e->flows;
        item it = {.flows = e->flows, .lat = e->lat};
        memcpy(it.count, e->count, sizeof it.count);
        if (e->key[1] == ENTRY_ID) {
            for (int k = 0; k < CLASS_COUNT; k++) to->ingress[k] += e->count[k];
            latency_add(&to->ingress_lat, &e->lat);
            to->ingress_flows |= e->flows;
            it.src_kind = NODE_ENTRY, it.src = NO_ID;
            it.dst_kind = NODE_SERVICE, it.dst = e->key[3];
            items[to->item_end++] = it;
        } else if (e->key[0] == e->key[2]) {
            it.src_kind = NODE_SERVICE, it.src = e->key[1];
            it.dst_kind = NODE_SERVICE, it.dst = e->key[3];
            items[to->item_end++] = it;
        } else {
            region *from = &regions[region_of[e->key[0]]];
            from->flows |= e->flows;
            it.src_kind = NODE_SERVICE, it.src = e->key[1];
            it.dst_kind = NODE_STANDIN, it.dst = e->key[2];
            items[from->item_end++] = it;
            it.src_kind = NODE_STANDIN, it.src = e->key[0];
            it.dst_kind = NODE_SERVICE, it.dst = e->key[3];
            items[to->item_end++] = it;
            root_conn *rc = &cross[ncross];
            rc->src = (uint32_t)region_of[e->key[0]];
            rc->dst = (uint32_t)region_of[e->key[2]];
            rc->seq = (uint32_t)ncross++;
            rc->flows = e->flows;
            memcpy(rc->count, e->count, sizeof rc->count);
            rc->lat = e->lat;
        }
    }
    free(fill);
    for (size_t i = 0; i < c.nself; i++) {
        const record *s = &m->self.recs[c.self_order[i]];
        if (region_of[s->key[0]] >= 0) regions[region_of[s->key[0]]].self_total += sum3(s->count);
    }

    /* Root names: the entry node first, a region called like it is renamed. */
    nameset root_names;
    nameset_init(&root_names, nregions + 1);
    bool entry_owned;
    char *root_entry = unique_name(&root_names, entry, "", &entry_owned);
    for (size_t i = 0; i < nregions; i++)
        regions[i].name = unique_name(&root_names, str_of(&m->names, regions[i].id), " (region)", &regions[i].owned);
    free(root_names.slots);
    /* Renaming can change the order only for renamed regions; sort by final name. */
    uint32_t *root_rank = xmalloc((nregions + 1) * sizeof *root_rank);
    {
        region *sorted = xmalloc((nregions + 1) * sizeof *sorted);
        memcpy(sorted, regions, nregions * sizeof *sorted);
        for (size_t i = 0; i < nregions; i++) sorted[i].item_begin = i; /* remember the old index */
        qsort(sorted, nregions, sizeof *sorted, region_name_cmp);
        for (size_t i = 0; i < nregions; i++) root_rank[sorted[i].item_begin] = (uint32_t)i;
        free(sorted);
    }
    uint32_t *root_order = xmalloc((nregions + 1) * sizeof *root_order);
    for (size_t i = 0; i < nregions; i++) root_order[root_rank[i]] = (uint32_t)i;
    for (size_t i = 0; i < ncross; i++) {
        cross[i].src = root_rank[cross[i].src];
        cross[i].dst = root_rank[cross[i].dst];
    }
    qsort(cross, ncross, sizeof *cross, root_conn_cmp);

    jsonw_object_begin(w);
    jsonw_key(w, "renderer");
    jsonw_string(w, "global");
    jsonw_key(w, "name");
    jsonw_string(w, g->name ? g->name : "");
    jsonw_key(w, "entryNode");
    jsonw_string(w, root_entry);
    jsonw_key(w, "updated");
    jsonw_int(w, o->window_end_ms);
    jsonw_key(w, "serverUpdateTime");
    jsonw_int(w, o->window_end_ms);
    jsonw_key(w, "metadata");
    jsonw_object_begin(w);
    jsonw_key(w, "window_s");
    jsonw_double(w, c.window_s);
    jsonw_key(w, "dropped");
    jsonw_double(w, m->dropped);
    if (m->clamped) {
        jsonw_key(w, "clamped_counts");
        jsonw_int(w, (int64_t)m->clamped);
    }
    jsonw_object_end(w);

    jsonw_key(w, "nodes");
    jsonw_array_begin(w);
    jsonw_object_begin(w);
    jsonw_key(w, "renderer");
    jsonw_string(w, "region");
    jsonw_key(w, "name");
    jsonw_string(w, root_entry);
    jsonw_key(w, "class");
    jsonw_string(w, "normal");
    jsonw_object_end(w);
    for (size_t i = 0; i < nregions && !jsonw_failed(w); i++) {
        region *r = &regions[root_order[i]];
        write_region(&c, r, items, st);
        /* Reset the per-view maps for the names this region used. */
        for (size_t k = r->item_begin; k < r->item_end; k++) {
            const item *it = &items[k];
            if (it->src_kind == NODE_SERVICE) c.local[it->src] = -1;
            if (it->dst_kind == NODE_SERVICE) c.local[it->dst] = -1;
            if (it->src_kind == NODE_STANDIN) c.standin_local[it->src] = -1;
            if (it->dst_kind == NODE_STANDIN) c.standin_local[it->dst] = -1;
        }
    }
    jsonw_array_end(w);

    /* Root connections: entry -> region (see the top of this file for when),
     * then the summed cross-region calls; in (source, target) bytewise order. */
    size_t nout = 0;
    for (size_t i = 0; i < ncross; i++) {
        if (nout && cross[nout - 1].src == cross[i].src && cross[nout - 1].dst == cross[i].dst) {
            for (int k = 0; k < CLASS_COUNT; k++) cross[nout - 1].count[k] += cross[i].count[k];
            latency_add(&cross[nout - 1].lat, &cross[i].lat);
            cross[nout - 1].flows |= cross[i].flows;
        } else {
            cross[nout++] = cross[i];
        }
    }
    root_edge *edges = xmalloc((nregions + nout + 1) * sizeof *edges);
    size_t nroot = 0;
    for (size_t i = 0; i < nregions; i++) {
        region *r = &regions[root_order[i]];
        edges[nroot++] = (root_edge){root_entry, r->name, entry, str_of(&m->names, r->id), r, NULL};
    }
    for (size_t i = 0; i < nout; i++) {
        region *a = &regions[root_order[cross[i].src]], *b = &regions[root_order[cross[i].dst]];
        edges[nroot++] =
            (root_edge){a->name, b->name, str_of(&m->names, a->id), str_of(&m->names, b->id), b, &cross[i]};
    }
    qsort(edges, nroot, sizeof *edges, root_edge_cmp);
    jsonw_key(w, "connections");
    jsonw_array_begin(w);
    for (size_t i = 0; i < nroot; i++) {
        const root_edge *e = &edges[i];
        const double *n = e->cross ? e->cross->count : e->to->ingress;
        uint64_t flows = e->cross ? e->cross->flows : e->to->ingress_flows;
        buf_reset(&c.query);
        const flow_config *f = first_flow(&c, flows);
        if (f && classify(&c, n)) {
            if (e->cross) kql_part(&c.query, f->fields[EP_FROM_REGION], e->from_data);
            kql_part(&c.query, f->fields[EP_TO_REGION], e->to_data);
        }
        buf_reset(&c.text);
        buf_printf(&c.text, "from %s to %s", e->from_data, e->to_data);
        char *subtitle = xstrdup(buf_cstr(&c.text));
        notice_subject ns = {e->from_data, e->to_data, e->to_data, subtitle};
        write_connection(&c, e->source, e->target, n, e->cross ? &e->cross->lat : &e->to->ingress_lat, flows, &ns);
        free(subtitle);
    }
    free(edges);
    jsonw_array_end(w);
    jsonw_object_end(w);

    int rc = 0;
    if (jsonw_failed(w)) {
        out->len = start_len;
        if (out->data) out->data[start_len] = '\0';
        rc = fail(err, "graph JSON larger than %zu bytes", out->max);
    } else {
        commit_state(st, m, regions, nregions, o->window_end_ms);
        c.stats.regions = (unsigned)nregions;
        c.stats.clamped = m->clamped;
        if (stats) *stats = c.stats;
    }

    for (size_t i = 0; i < nregions; i++)
        if (regions[i].owned) free(regions[i].name);
    if (entry_owned) free(root_entry);
    free(regions);
    free(root_rank);
    free(root_order);
    free(items);
    free(cross);
    free(edge_order);
    free(region_of);
    free(c.rank);
    free(c.local);
    free(c.standin_local);
    free(c.host_order);
    free(c.self_order);
    buf_free(&c.text);
    buf_free(&c.escaped);
    buf_free(&c.query);
    buf_free(&c.link);
    return rc;
}
