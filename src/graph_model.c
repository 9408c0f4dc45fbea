/*
 * graph_model.c - the traffic model of one window (graph.h): adding rows,
 * self-calls and drops, and merging the models of several flows.
 *
 * Names are interned once (graph_intern.h), so the edge, host and self-call
 * tables key on small integers and an add costs four string hashes and one
 * probe. The record tables (graph_model.h) live here. A caller that is
 * the entry node is stored with the service id ENTRY_ID and the callee's
 * region: the entry node has no region of its own, its calls are always the
 * ingress of the callee's region. Once VIZ_MAX_EDGES edges exist an add of a
 * new edge fails and only looks names up, so a flood of new names after the
 * limit cannot grow memory either. Host entries share the same bound; hosts
 * past it are counted, not stored.
 */
#include "graph_model.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "hashtab.h"
#include "util.h"

static uint64_t key_hash(const uint32_t k[4]) {
    return mix64(((uint64_t)k[0] << 32 | k[1]) ^ mix64(((uint64_t)k[2] << 32 | k[3]) + 0x9e3779b97f4a7c15ULL));
}

static bool key_eq(const uint32_t a[4], const uint32_t b[4]) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* The record with key k (hash h), or NULL. */
static record *rectab_probe(const rectab *t, const uint32_t k[4], uint64_t h) {
    uint32_t tag = (uint32_t)h;
    for (hashtab_slot *s = hashtab_first(&t->index, tag); s->id; s = hashtab_next(&t->index, s))
        if (s->tag == tag && key_eq(t->recs[s->id - 1].key, k)) return &t->recs[s->id - 1];
    return NULL;
}

static record *rectab_find(const rectab *t, const uint32_t k[4]) {
    return rectab_probe(t, k, key_hash(k));
}

/* Makes room for n records in all, so that filling up to n grows nothing:
 * a table merged from others is allocated once, at its final size. */
static void rectab_reserve(rectab *t, size_t n) {
    if (n > t->cap) {
        t->cap = n;
        t->recs = xrealloc(t->recs, t->cap * sizeof *t->recs);
    }
    hashtab_reserve(&t->index, n);
}

/* The record for key k, created zeroed if new; NULL when that would pass limit. */
static record *rectab_get(rectab *t, const uint32_t k[4], size_t limit) {
    uint64_t h = key_hash(k);
    record *r = rectab_probe(t, k, h);
    if (r) return r;
    if (t->n >= limit) return NULL;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 128;
        t->recs = xrealloc(t->recs, t->cap * sizeof *t->recs);
    }
    r = &t->recs[t->n];
    memset(r, 0, sizeof *r);
    memcpy(r->key, k, sizeof r->key);
    hashtab_put(&t->index, (uint32_t)h, t->n++);
    return r;
}

static void rectab_free(rectab *t) {
    hashtab_free(&t->index);
    free(t->recs);
}

static void record_add(record *r, const double c[CLASS_COUNT], uint64_t flows) {
    for (int k = 0; k < CLASS_COUNT; k++) r->count[k] += c[k];
    r->flows |= flows;
}

graph_model *graph_model_new(void) {
    graph_model *m = xcalloc(1, sizeof(graph_model));
    for (int i = 0; i < EP_COUNT; i++) m->last[i] = NO_ID;
    return m;
}

static uint32_t intern_at(graph_model *m, int position, const char *s) {
    uint32_t id = m->last[position];
    if (id != NO_ID && strcmp(str_of(&m->names, id), s) == 0) return id;
    return m->last[position] = graph_strtab_intern(&m->names, s);
}

void graph_model_free(graph_model *m) {
    if (!m) return;
    graph_strtab_free(&m->names);
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
    assert(m && ep && count);
    double c[CLASS_COUNT];
    sanitize(m, count, c);
    uint32_t key[4] = {graph_strtab_intern(&m->names, ep->region), graph_strtab_intern(&m->names, ep->service), 0, 0};
    record *r = rectab_get(&m->self, key, VIZ_MAX_EDGES);
    if (r) record_add(r, c, flow_bit(flow));
}

void graph_model_add_dropped(graph_model *m, double count, unsigned flow) {
    assert(m);
    m->dropped += clamp_count(m, count);
    m->dropped_flows |= flow_bit(flow);
}

int graph_model_add(graph_model *m, const endpoint *from, const endpoint *to, const double count[CLASS_COUNT],
                    unsigned flow, char *err) {
    return graph_model_add_lat(m, from, to, count, NULL, flow, err);
}

int graph_model_add_lat(graph_model *m, const endpoint *from, const endpoint *to, const double count[CLASS_COUNT],
                        const latency *lat, unsigned flow, char *err) {
    assert(m && from && to && count);
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
        key[2] = graph_strtab_lookup(&m->names, to->region);
        key[3] = graph_strtab_lookup(&m->names, to->service);
        key[0] = entry ? key[2] : graph_strtab_lookup(&m->names, from->region);
        key[1] = entry ? ENTRY_ID : graph_strtab_lookup(&m->names, from->service);
        record *e = NULL;
        if (key[0] != NO_ID && key[1] != NO_ID && key[2] != NO_ID && key[3] != NO_ID) e = rectab_find(&m->edges, key);
        if (!e && !(key[0] == key[2] && key[1] == key[3] && key[1] != NO_ID))
            return util_fail(err, "more than %u distinct edges in one window", VIZ_MAX_EDGES);
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
    if (!e) return util_fail(err, "more than %u distinct edges in one window", VIZ_MAX_EDGES);
    record_add(e, c, flow_bit(flow));
    latency_add(&e->lat, lat);
    if (to->host[0]) add_host(m, key[2], key[3], to->host, c, flow_bit(flow));
    return 0;
}

size_t graph_model_set_baseline(graph_model *m, const graph_model *base) {
    size_t with_traffic = 0;
    for (size_t i = 0; base && i < base->edges.n; i++)
        if (base->edges.recs[i].count[0] + base->edges.recs[i].count[1] + base->edges.recs[i].count[2] > 0)
            with_traffic++;
    if (!with_traffic) return 0;
    m->has_base = true;
    uint32_t *map = xmalloc(((size_t)base->names.n + 1) * sizeof *map);
    for (uint32_t id = 0; id < base->names.n; id++) {
        const char *s = str_of(&base->names, id);
        map[id] = graph_strtab_intern_n(&m->names, s, strlen(s));
    }
    for (size_t i = 0; i < base->edges.n; i++) {
        const record *src = &base->edges.recs[i];
        double total = src->count[0] + src->count[1] + src->count[2];
        if (!(total > 0)) continue;
        uint32_t key[4];
        for (unsigned k = 0; k < 4; k++)
            key[k] = src->key[k] == ENTRY_ID || src->key[k] == NO_ID ? src->key[k] : map[src->key[k]];
        /* A gone edge takes a place under the edge limit like any other. */
        record *dst = rectab_get(&m->edges, key, VIZ_MAX_EDGES);
        if (!dst) {
            m->base_untracked += total;
            continue;
        }
        dst->base += total;
        /* A gone edge names the flows that carried it, so its region says
         * where its data comes from (and their stale marks reach it). */
        if (!(dst->count[0] + dst->count[1] + dst->count[2] > 0)) dst->flows |= src->flows;
    }
    free(map);
    return with_traffic;
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
    assert(into && from && into != from);
    uint32_t *map = xmalloc(((size_t)from->names.n + 1) * sizeof *map);
    for (uint32_t id = 0; id < from->names.n; id++) {
        const char *s = str_of(&from->names, id);
        map[id] = graph_strtab_intern_n(&into->names, s, strlen(s));
    }
    int rc = 0;
    if (merge_table(&into->edges, &from->edges, map, 4, VIZ_MAX_EDGES, NULL) < 0) {
        rc = util_fail(err, "more than %u distinct edges in one window", VIZ_MAX_EDGES);
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
