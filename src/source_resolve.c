/*
 * source_resolve.c - a flow with resolve_callee (config.h): a callee named by
 * an address (otel-spans' "payments:8080") becomes the service that serves
 * that address, learned in the same window from the flow's other events
 * (Server spans carry their own service and the server.address and
 * server.port they were reached at).
 *
 * It wraps two sources of the flow's own type: the flow itself, and a
 * companion flow built from it (source_resolve_companion(),
 * source_resolve.h) that keeps the events resolve_callee.where keeps and
 * reads resolve_callee.service as the caller and resolve_callee.address as
 * the callee, with no classes, count or latency.
 * The companion goes first; its rows (service, address, calls) make the map,
 * and the flow's rows are emitted with every callee found in the map
 * replaced by its service. Both sources see the same window, so a file flow
 * and an Elasticsearch flow (one more composite query, paged like the
 * flow's) resolve alike.
 *
 * An address served by several services goes to the one with the most
 * calls, ties to the bytewise smallest name: the choice does not depend on
 * the order rows arrive in. At most RESOLVE_MAX_PAIRS (address, service)
 * pairs are kept per collect; the rest resolve nothing and degraded() says
 * how many were left out. A failed companion fails the collect (the flow
 * keeps its last good part) rather than draw the same calls under other
 * names for one refresh.
 */
#include "source_resolve.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "hashtab.h"
#include "source.h"
#include "util.h"

typedef struct {
    char *address;
    char *service;
    double calls;
} pair;

typedef struct {
    source base; /* first: the source * the ops get points here (source.h) */
    const source_ops *ops;
    flow_config servers; /* the companion flow (source_resolve.h) */
    source *main, *companion;
    pair *pairs;
    size_t npairs, cap;
    hashtab pair_index; /* tag of address and service -> pairs */
    hashtab best_index; /* tag of address -> best, the pair chosen for it */
    uint32_t *best;
    size_t nbest;
    uint64_t left_out; /* pairs beyond RESOLVE_MAX_PAIRS in the last collect */
    char degraded[SOURCE_DEGRADED_LEN];
    row_emit_fn emit;
    void *ctx;
} resolve_src;

static uint32_t tag_of(const char *a, const char *b) {
    uint64_t h = hashtab_hash_bytes(a, strlen(a), HASHTAB_SEED);
    if (b) h = hashtab_hash_bytes(b, strlen(b), h);
    return (uint32_t)h;
}

static void forget(resolve_src *s) {
    for (size_t i = 0; i < s->npairs; i++) {
        free(s->pairs[i].address);
        free(s->pairs[i].service);
    }
    s->npairs = 0;
    s->nbest = 0;
    hashtab_clear(&s->pair_index);
    hashtab_clear(&s->best_index);
}

/* A companion row: `service` served `address` `calls` times. */
static int learn(void *ctx, const raw_row *row) {
    resolve_src *s = ctx;
    const char *address = row->value[EP_TO_SERVICE], *service = row->value[EP_FROM_SERVICE];
    if (util_str_empty(address) || util_str_empty(service)) return 0;
    double calls = row->count[CLASS_NORMAL] + row->count[CLASS_WARNING] + row->count[CLASS_DANGER];
    uint32_t tag = tag_of(address, service);
    for (hashtab_slot *h = hashtab_first(&s->pair_index, tag); h->id; h = hashtab_next(&s->pair_index, h)) {
        pair *p = &s->pairs[h->id - 1];
        if (h->tag == tag && !strcmp(p->address, address) && !strcmp(p->service, service)) {
            p->calls += calls;
            return 0;
        }
    }
    if (s->npairs >= RESOLVE_MAX_PAIRS) {
        s->left_out++;
        return 0;
    }
    if (s->npairs == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->pairs = xrealloc(s->pairs, s->cap * sizeof *s->pairs);
    }
    s->pairs[s->npairs] = (pair){xstrdup(address), xstrdup(service), calls};
    hashtab_reserve(&s->pair_index, s->npairs + 1);
    hashtab_put(&s->pair_index, tag, s->npairs);
    s->npairs++;
    return 0;
}

static bool better(const pair *a, const pair *b) {
    return a->calls > b->calls || (a->calls == b->calls && strcmp(a->service, b->service) < 0);
}

/* Per address, the pair that names its service. */
static void choose(resolve_src *s) {
    s->best = xrealloc(s->best, (s->npairs ? s->npairs : 1) * sizeof *s->best);
    hashtab_reserve(&s->best_index, s->npairs);
    for (size_t i = 0; i < s->npairs; i++) {
        const pair *p = &s->pairs[i];
        uint32_t tag = tag_of(p->address, NULL);
        hashtab_slot *h = hashtab_first(&s->best_index, tag);
        for (; h->id; h = hashtab_next(&s->best_index, h))
            if (h->tag == tag && !strcmp(s->pairs[s->best[h->id - 1]].address, p->address)) break;
        if (!h->id) {
            s->best[s->nbest] = (uint32_t)i;
            hashtab_put(&s->best_index, tag, s->nbest++);
        } else if (better(p, &s->pairs[s->best[h->id - 1]])) {
            s->best[h->id - 1] = (uint32_t)i;
        }
    }
}

static const char *served_by(const resolve_src *s, const char *address) {
    uint32_t tag = tag_of(address, NULL);
    for (hashtab_slot *h = hashtab_first(&s->best_index, tag); h->id; h = hashtab_next(&s->best_index, h)) {
        const pair *p = &s->pairs[s->best[h->id - 1]];
        if (h->tag == tag && !strcmp(p->address, address)) return p->service;
    }
    return NULL;
}

/* A row of the flow, its callee resolved. */
static int resolve_row(void *ctx, const raw_row *row) {
    resolve_src *s = ctx;
    const char *callee = row->value[EP_TO_SERVICE];
    const char *service = util_str_empty(callee) ? NULL : served_by(s, callee);
    if (!service) return s->emit(s->ctx, row);
    raw_row r = *row;
    r.value[EP_TO_SERVICE] = service;
    return s->emit(s->ctx, &r);
}

static const char *const empty = "";

void source_resolve_companion(const flow_config *flow, flow_config *out) {
    assert(flow && out && !util_str_empty(flow->resolve_service));
    flow_config *c = out;
    *c = *flow;
    size_t len = strlen(flow->name) + sizeof ".servers";
    c->name = xmalloc(len);
    snprintf(c->name, len, "%s.servers", flow->name);
    if (flow->type == FLOW_REPLAY) {
        size_t n = strlen(flow->path);
        while (n > 1 && flow->path[n - 1] == '/') n--;
        c->path = xmalloc(n + sizeof ".servers");
        snprintf(c->path, n + sizeof ".servers", "%.*s.servers", (int)n, flow->path);
    }
    c->where = flow->resolve_where;
    c->warning = c->danger = (condition_list){0};
    for (int i = 0; i < EP_COUNT; i++) {
        c->fields[i] = (char *)empty;
        for (int k = 0; k < FLOW_MAX_FIELD_ALTS; k++) c->alt_fields[i][k] = (char *)empty;
        for (int k = 0; k <= FLOW_MAX_FIELD_ALTS; k++) c->join_fields[i][k] = (char *)empty;
    }
    c->fields[EP_FROM_SERVICE] = flow->resolve_service;
    c->fields[EP_TO_SERVICE] = flow->resolve_address;
    c->join_fields[EP_TO_SERVICE][0] = flow->resolve_address_join;
    c->count_field = c->danger_count_field = (char *)empty;
    c->has_count_missing = false;
    c->latency_field = c->latency_sum_field = c->latency_count_field = c->latency_weight_field = (char *)empty;
    c->resolve_service = (char *)empty;
}

void source_resolve_companion_free(flow_config *companion) {
    if (companion->type == FLOW_REPLAY) free(companion->path);
    free(companion->name);
    companion->path = companion->name = NULL;
}

static source *resolve_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    resolve_src *s = xcalloc(1, sizeof *s);
    s->ops = source_ops_for(flow->type);
    source_resolve_companion(flow, &s->servers);
    if (!(s->main = s->ops->open(flow, cfg, err))) goto fail;
    if (!(s->companion = s->ops->open(&s->servers, cfg, err))) goto fail;
    s->base.ops = &source_resolve_ops;
    return &s->base;
fail:
    if (s->main) s->ops->close(s->main);
    source_resolve_companion_free(&s->servers);
    free(s);
    return NULL;
}

static int resolve_collect(source *src, int64_t start_ms, int64_t end_ms, row_emit_fn emit, void *ctx, char *err) {
    resolve_src *s = (resolve_src *)src;
    forget(s);
    s->left_out = 0;
    s->degraded[0] = 0;
    char why[ERR_LEN];
    if (s->ops->collect(s->companion, start_ms, end_ms, learn, s, why) < 0) {
        /* The reason cut to fit: it names the cause already. */
        snprintf(err, ERR_LEN, "resolve_callee: %.490s", why);
        return -1;
    }
    choose(s);
    s->emit = emit;
    s->ctx = ctx;
    return s->ops->collect(s->main, start_ms, end_ms, resolve_row, s, err);
}

static void resolve_close(source *src) {
    resolve_src *s = (resolve_src *)src;
    forget(s);
    s->ops->close(s->main);
    s->ops->close(s->companion);
    hashtab_free(&s->pair_index);
    hashtab_free(&s->best_index);
    free(s->pairs);
    free(s->best);
    source_resolve_companion_free(&s->servers);
    free(s);
}

/* The flow's own counters: the companion reads the same data again. */
static void resolve_stats(const source *src, source_stats *out) {
    const resolve_src *s = (const resolve_src *)src;
    if (s->ops->stats)
        s->ops->stats(s->main, out);
    else
        memset(out, 0, sizeof *out);
}

static const char *resolve_degraded(const source *src) {
    resolve_src *s = (resolve_src *)src;
    const char *a = s->ops->degraded ? s->ops->degraded(s->main) : NULL;
    const char *b = s->ops->degraded ? s->ops->degraded(s->companion) : NULL;
    if (!a && !b && !s->left_out) return NULL;
    char more[96] = "";
    if (s->left_out)
        snprintf(more, sizeof more, "%llu server address pairs past %u left unresolved",
                 (unsigned long long)s->left_out, (unsigned)RESOLVE_MAX_PAIRS);
    snprintf(s->degraded, sizeof s->degraded, "%s%s%s%s%s%s", a ? a : "", a && (b || *more) ? "; " : "",
             b ? "resolving callees: " : "", b ? b : "", b && *more ? "; " : "", more);
    return s->degraded;
}

static void resolve_limit(source *src, const source_limits *limits) {
    resolve_src *s = (resolve_src *)src;
    if (!s->ops->limit) return;
    s->ops->limit(s->companion, limits);
    s->ops->limit(s->main, limits);
}

const source_ops source_resolve_ops = {.type = "resolve",
                                       .open = resolve_open,
                                       .collect = resolve_collect,
                                       .close = resolve_close,
                                       .stats = resolve_stats,
                                       .degraded = resolve_degraded,
                                       .limit = resolve_limit};
