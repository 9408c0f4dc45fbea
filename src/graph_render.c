/*
 * graph_render.c - the Vizceral rendering of a model (graph.h): regions,
 * their items, root names, the root's nodes and connections.
 *
 * Edges are visited in rank order (graph_order.h), so the same model gives
 * the same bytes. Each edge becomes one or two "items" of region views
 * (caller side, callee side) and, for cross-region calls and ingress, an
 * item of the root.
 *
 * Root connections: every region gets an entry -> region connection with
 * its ingress as metrics, {} when it has none (Vizceral's rule that a global
 * node without connections is hidden, and the entry node needs at least
 * one): a region with only internal or cross-region traffic must stay
 * reachable either way. An empty connection carries no particles.
 */
#include "graph_render.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "graph_connection.h"
#include "graph_names.h"
#include "graph_order.h"
#include "graph_region.h"
#include "graph_state.h"

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
    double base;
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

/* Everything one render builds at the root, between its phases. */
typedef struct {
    const char *entry;    /* graph.entry, or "INTERNET" when unset */
    graph_config gc;      /* the configuration with that entry; c->g points here */
    size_t start_len;     /* out->len before the render, restored on failure */
    uint32_t *edge_order; /* edges in name order */
    size_t nedges;
    int32_t *region_of; /* name id -> region index, -1 */
    region *regions;    /* in name order in the data */
    size_t nregions;
    item *items; /* grouped by region: regions[i].item_begin .. item_end */
    root_conn *cross;
    size_t ncross;
    char *root_entry; /* the entry node's name at the root */
    bool entry_owned;
    uint32_t *root_rank;  /* region index -> position by root name */
    uint32_t *root_order; /* position by root name -> region index */
} root;

/* Phase 1: the context, the name ranks and the sorted record tables. */
static void render_begin(render_ctx *c, root *rt, const graph_model *m, const graph_config *g,
                         const graph_render_opts *o, buf *out) {
    memset(c, 0, sizeof *c);
    memset(rt, 0, sizeof *rt);
    c->m = m;
    c->g = g;
    c->o = o;
    c->window_s = o->window_ms > 0 ? (double)o->window_ms / 1000.0 : 1.0;
    util_format_duration(o->window_ms, c->window_text, sizeof c->window_text);
    buf_init(&c->text, 1u << 16);
    buf_init(&c->escaped, 1u << 16);
    buf_init(&c->query, 1u << 16);
    buf_init(&c->link, VIZ_MAX_NOTICE_LINK);
    rt->start_len = out->len;
    jsonw_init(&c->w, out);
    rt->entry = util_str_empty(g->entry) ? "INTERNET" : g->entry;
    rt->gc = *g;
    rt->gc.entry = (char *)rt->entry;
    c->g = &rt->gc;

    c->rank = graph_compute_ranks(&m->names);
    uint32_t nnames = m->names.n;
    c->local = xmalloc(((size_t)nnames + 1) * sizeof *c->local);
    c->standin_local = xmalloc(((size_t)nnames + 1) * sizeof *c->standin_local);
    rt->region_of = xmalloc(((size_t)nnames + 1) * sizeof *rt->region_of);
    for (uint32_t i = 0; i < nnames; i++) c->local[i] = c->standin_local[i] = rt->region_of[i] = -1;
    c->host_order = graph_sorted_records(c, &m->hosts, 3);
    c->nhosts = m->hosts.n;
    c->self_order = graph_sorted_records(c, &m->self, 2);
    c->nself = m->self.n;

    /* Edges in name order; zero ones carry nothing and are skipped. */
    rt->edge_order = graph_sorted_records(c, &m->edges, 4);
    rt->nedges = m->edges.n;
}

/* Phase 2: the regions that non-empty edges touch, in name order. */
static void collect_regions(const render_ctx *c, root *rt) {
    const graph_model *m = c->m;
    sort_key *rkeys = xmalloc((rt->nedges * 2 + 1) * sizeof *rkeys);
    size_t nk = 0;
    for (size_t i = 0; i < rt->nedges; i++) {
        const record *e = &m->edges.recs[rt->edge_order[i]];
        if (!graph_edge_drawn(c, e)) continue;
        for (int side = 0; side < 2; side++) {
            uint32_t id = side ? e->key[2] : e->key[0];
            if (rt->region_of[id] == -1) {
                rt->region_of[id] = 0;
                rkeys[nk++] = (sort_key){{c->rank[id], 0, 0, 0}, id};
            }
        }
    }
    qsort(rkeys, nk, sizeof *rkeys, graph_sort_key_cmp);
    rt->regions = xcalloc(nk + 1, sizeof *rt->regions);
    for (size_t i = 0; i < nk; i++) {
        rt->regions[i].id = rkeys[i].idx;
        rt->region_of[rkeys[i].idx] = (int32_t)i;
    }
    rt->nregions = nk;
    free(rkeys);
}

/* How many items each region gets, and where its items begin. */
static size_t reserve_items(const render_ctx *c, root *rt) {
    const graph_model *m = c->m;
    size_t *fill = xcalloc(rt->nregions + 1, sizeof *fill);
    for (size_t i = 0; i < rt->nedges; i++) {
        const record *e = &m->edges.recs[rt->edge_order[i]];
        if (!graph_edge_drawn(c, e)) continue;
        fill[rt->region_of[e->key[2]]]++;
        if (e->key[1] != ENTRY_ID && e->key[0] != e->key[2]) fill[rt->region_of[e->key[0]]]++;
    }
    size_t nitems = 0;
    for (size_t i = 0; i < rt->nregions; i++) {
        rt->regions[i].item_begin = rt->regions[i].item_end = nitems;
        nitems += fill[i];
    }
    free(fill);
    return nitems;
}

/* A cross-region edge: an item on each side, and a root connection. */
static void place_cross(root *rt, const record *e, item it, region *to) {
    region *from = &rt->regions[rt->region_of[e->key[0]]];
    from->flows |= e->flows;
    it.src_kind = NODE_SERVICE, it.src = e->key[1];
    it.dst_kind = NODE_STANDIN, it.dst = e->key[2];
    rt->items[from->item_end++] = it;
    it.src_kind = NODE_STANDIN, it.src = e->key[0];
    it.dst_kind = NODE_SERVICE, it.dst = e->key[3];
    rt->items[to->item_end++] = it;
    root_conn *rc = &rt->cross[rt->ncross];
    rc->src = (uint32_t)rt->region_of[e->key[0]];
    rc->dst = (uint32_t)rt->region_of[e->key[2]];
    rc->seq = (uint32_t)rt->ncross++;
    rc->flows = e->flows;
    memcpy(rc->count, e->count, sizeof rc->count);
    rc->lat = e->lat;
    rc->base = e->base;
}

/* Phase 3: items per region (count, place, fill: a bucket sort, stable),
 * the regions' totals, and the cross-region connections. */
static void place_items(const render_ctx *c, root *rt) {
    const graph_model *m = c->m;
    size_t nitems = reserve_items(c, rt);
    rt->items = xmalloc((nitems + 1) * sizeof *rt->items);
    rt->cross = xmalloc((rt->nedges + 1) * sizeof *rt->cross);
    for (size_t oi = 0; oi < rt->nedges; oi++) {
        const record *e = &m->edges.recs[rt->edge_order[oi]];
        if (!graph_edge_drawn(c, e)) continue;
        region *to = &rt->regions[rt->region_of[e->key[2]]];
        for (int k = 0; k < CLASS_COUNT; k++) to->into[k] += e->count[k];
        to->into_flows |= e->flows;
        to->flows |= e->flows;
        to->into_base += e->base;
        item it = {.flows = e->flows, .lat = e->lat, .base = e->base};
        memcpy(it.count, e->count, sizeof it.count);
        if (e->key[1] == ENTRY_ID) {
            for (int k = 0; k < CLASS_COUNT; k++) to->ingress[k] += e->count[k];
            latency_add(&to->ingress_lat, &e->lat);
            to->ingress_flows |= e->flows;
            to->ingress_base += e->base;
            it.src_kind = NODE_ENTRY, it.src = NO_ID;
            it.dst_kind = NODE_SERVICE, it.dst = e->key[3];
            rt->items[to->item_end++] = it;
        } else if (e->key[0] == e->key[2]) {
            it.src_kind = NODE_SERVICE, it.src = e->key[1];
            it.dst_kind = NODE_SERVICE, it.dst = e->key[3];
            rt->items[to->item_end++] = it;
        } else {
            place_cross(rt, e, it, to);
        }
    }
    for (size_t i = 0; i < c->nself; i++) {
        const record *s = &m->self.recs[c->self_order[i]];
        if (rt->region_of[s->key[0]] >= 0) rt->regions[rt->region_of[s->key[0]]].self_total += sum3(s->count);
    }
}

/* Phase 4: root names (the entry node first, a region called like it is
 * renamed), the regions' order by final name, and the cross-region
 * connections renumbered into that order and sorted. */
static void name_root(const render_ctx *c, root *rt) {
    nameset root_names;
    graph_nameset_init(&root_names, rt->nregions + 1);
    rt->root_entry = graph_unique_name(&root_names, rt->entry, "", &rt->entry_owned);
    for (size_t i = 0; i < rt->nregions; i++)
        rt->regions[i].name =
            graph_unique_name(&root_names, str_of(&c->m->names, rt->regions[i].id), " (region)", &rt->regions[i].owned);
    graph_nameset_free(&root_names);
    /* Renaming can change the order only for renamed regions; sort by final name. */
    rt->root_rank = xmalloc((rt->nregions + 1) * sizeof *rt->root_rank);
    region *sorted = xmalloc((rt->nregions + 1) * sizeof *sorted);
    memcpy(sorted, rt->regions, rt->nregions * sizeof *sorted);
    for (size_t i = 0; i < rt->nregions; i++) sorted[i].item_begin = i; /* remember the old index */
    qsort(sorted, rt->nregions, sizeof *sorted, region_name_cmp);
    for (size_t i = 0; i < rt->nregions; i++) rt->root_rank[sorted[i].item_begin] = (uint32_t)i;
    free(sorted);
    rt->root_order = xmalloc((rt->nregions + 1) * sizeof *rt->root_order);
    for (size_t i = 0; i < rt->nregions; i++) rt->root_order[rt->root_rank[i]] = (uint32_t)i;
    for (size_t i = 0; i < rt->ncross; i++) {
        rt->cross[i].src = rt->root_rank[rt->cross[i].src];
        rt->cross[i].dst = rt->root_rank[rt->cross[i].dst];
    }
    qsort(rt->cross, rt->ncross, sizeof *rt->cross, root_conn_cmp);
}

/* Phase 5: the root object's own keys, up to its nodes. */
static void write_root_head(render_ctx *c, const root *rt) {
    jsonw *w = &c->w;
    const graph_model *m = c->m;
    jsonw_object_begin(w);
    jsonw_key(w, "renderer");
    jsonw_string(w, "global");
    jsonw_key(w, "name");
    jsonw_string(w, c->g->name ? c->g->name : "");
    jsonw_key(w, "entryNode");
    jsonw_string(w, rt->root_entry);
    jsonw_key(w, "updated");
    jsonw_int(w, c->o->window_end_ms);
    jsonw_key(w, "serverUpdateTime");
    jsonw_int(w, c->o->window_end_ms);
    jsonw_key(w, "metadata");
    jsonw_object_begin(w);
    jsonw_key(w, "window_s");
    jsonw_double(w, c->window_s);
    jsonw_key(w, "dropped");
    jsonw_double(w, m->dropped);
    if (m->clamped) {
        jsonw_key(w, "clamped_counts");
        jsonw_int(w, (int64_t)m->clamped);
    }
    graph_write_baseline_meta(c);
    if (c->o->baseline_ms && c->o->baseline_error) {
        jsonw_key(w, "baseline_error");
        jsonw_string(w, c->o->baseline_error);
    }
    if (m->base_untracked > 0) {
        jsonw_key(w, "baseline_untracked");
        jsonw_double(w, m->base_untracked);
    }
    jsonw_object_end(w);
}

/* Phase 6: the root's nodes: the entry node, then every region with its
 * view, in root-name order. */
static void write_root_nodes(render_ctx *c, const root *rt, const graph_state *st) {
    jsonw *w = &c->w;
    jsonw_key(w, "nodes");
    jsonw_array_begin(w);
    jsonw_object_begin(w);
    jsonw_key(w, "renderer");
    jsonw_string(w, "region");
    jsonw_key(w, "name");
    jsonw_string(w, rt->root_entry);
    jsonw_key(w, "class");
    jsonw_string(w, "normal");
    jsonw_object_end(w);
    for (size_t i = 0; i < rt->nregions && !jsonw_failed(w); i++) {
        region *r = &rt->regions[rt->root_order[i]];
        graph_write_region(c, r, rt->items, st);
        /* Reset the per-view maps for the names this region used. */
        for (size_t k = r->item_begin; k < r->item_end; k++) {
            const item *it = &rt->items[k];
            if (it->src_kind == NODE_SERVICE) c->local[it->src] = -1;
            if (it->dst_kind == NODE_SERVICE) c->local[it->dst] = -1;
            if (it->src_kind == NODE_STANDIN) c->standin_local[it->src] = -1;
            if (it->dst_kind == NODE_STANDIN) c->standin_local[it->dst] = -1;
        }
    }
    jsonw_array_end(w);
}

/* Sums the sorted cross-region connections of the same pair; returns how
 * many remain. */
static size_t sum_cross(root *rt) {
    root_conn *cross = rt->cross;
    size_t nout = 0;
    for (size_t i = 0; i < rt->ncross; i++) {
        if (nout && cross[nout - 1].src == cross[i].src && cross[nout - 1].dst == cross[i].dst) {
            for (int k = 0; k < CLASS_COUNT; k++) cross[nout - 1].count[k] += cross[i].count[k];
            latency_add(&cross[nout - 1].lat, &cross[i].lat);
            cross[nout - 1].flows |= cross[i].flows;
            cross[nout - 1].base += cross[i].base;
        } else {
            cross[nout++] = cross[i];
        }
    }
    return nout;
}

/* The root connections: entry -> region (see the top of this file for
 * when), then the summed cross-region calls; in (source, target) bytewise
 * order. The caller frees the array. */
static root_edge *root_edges(const render_ctx *c, root *rt, size_t *nroot) {
    const graph_model *m = c->m;
    size_t nout = sum_cross(rt);
    root_edge *edges = xmalloc((rt->nregions + nout + 1) * sizeof *edges);
    size_t n = 0;
    for (size_t i = 0; i < rt->nregions; i++) {
        region *r = &rt->regions[rt->root_order[i]];
        edges[n++] = (root_edge){rt->root_entry, r->name, rt->entry, str_of(&m->names, r->id), r, NULL};
    }
    for (size_t i = 0; i < nout; i++) {
        region *a = &rt->regions[rt->root_order[rt->cross[i].src]];
        region *b = &rt->regions[rt->root_order[rt->cross[i].dst]];
        edges[n++] =
            (root_edge){a->name, b->name, str_of(&m->names, a->id), str_of(&m->names, b->id), b, &rt->cross[i]};
    }
    qsort(edges, n, sizeof *edges, root_edge_cmp);
    *nroot = n;
    return edges;
}

/* Phase 7: the root's connections, and the end of the root object. */
static void write_root_connections(render_ctx *c, root *rt) {
    jsonw *w = &c->w;
    size_t nroot;
    root_edge *edges = root_edges(c, rt, &nroot);
    jsonw_key(w, "connections");
    jsonw_array_begin(w);
    for (size_t i = 0; i < nroot; i++) {
        const root_edge *e = &edges[i];
        const double *n = e->cross ? e->cross->count : e->to->ingress;
        uint64_t flows = e->cross ? e->cross->flows : e->to->ingress_flows;
        buf_reset(&c->query);
        const flow_config *f = graph_first_flow(c, flows);
        if (f && graph_classify(c, n)) {
            if (e->cross) graph_kql_part(&c->query, f->fields[EP_FROM_REGION], e->from_data);
            graph_kql_part(&c->query, f->fields[EP_TO_REGION], e->to_data);
        }
        buf_reset(&c->text);
        buf_printf(&c->text, "from %s to %s", e->from_data, e->to_data);
        char *subtitle = xstrdup(buf_cstr(&c->text));
        notice_subject ns = {e->from_data, e->to_data, e->to_data, subtitle};
        graph_write_connection(c, e->source, e->target, n, e->cross ? &e->cross->lat : &e->to->ingress_lat, flows,
                               e->cross ? e->cross->base : e->to->ingress_base, &ns);
        free(subtitle);
    }
    free(edges);
    jsonw_array_end(w);
    jsonw_object_end(w);
}

/* Phase 8: on success the caller gets the stats; on failure the output is
 * cut back to where it was. */
static int render_finish(render_ctx *c, const root *rt, graph_state *st, buf *out, graph_stats *stats, char *err) {
    if (jsonw_failed(&c->w)) {
        out->len = rt->start_len;
        if (out->data) out->data[rt->start_len] = '\0';
        out->failed = false; /* back to where it was, failure included */
        return util_fail(err, "graph JSON larger than %zu bytes", out->max);
    }
    (void)st; /* nothing to carry over: maxVolume is the view's own (graph_state.h) */
    c->stats.regions = (unsigned)rt->nregions;
    c->stats.clamped = c->m->clamped;
    if (stats) *stats = c->stats;
    return 0;
}

static void render_free(render_ctx *c, root *rt) {
    for (size_t i = 0; i < rt->nregions; i++)
        if (rt->regions[i].owned) free(rt->regions[i].name);
    if (rt->entry_owned) free(rt->root_entry);
    free(rt->regions);
    free(rt->root_rank);
    free(rt->root_order);
    free(rt->items);
    free(rt->cross);
    free(rt->edge_order);
    free(rt->region_of);
    free(c->rank);
    free(c->local);
    free(c->standin_local);
    free(c->host_order);
    free(c->self_order);
    buf_free(&c->text);
    buf_free(&c->escaped);
    buf_free(&c->query);
    buf_free(&c->link);
}

int graph_render(const graph_model *m, const graph_config *g, graph_state *st, const graph_render_opts *o, buf *out,
                 graph_stats *stats, char *err) {
    assert(m && g && st && o && out);
    render_ctx c;
    root rt;
    render_begin(&c, &rt, m, g, o, out);
    collect_regions(&c, &rt);
    place_items(&c, &rt);
    name_root(&c, &rt);
    write_root_head(&c, &rt);
    write_root_nodes(&c, &rt, st);
    write_root_connections(&c, &rt);
    int rc = render_finish(&c, &rt, st, out, stats, err);
    render_free(&c, &rt);
    return rc;
}
