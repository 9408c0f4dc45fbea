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

    c.rank = graph_compute_ranks(&m->names);
    uint32_t nnames = m->names.n;
    c.local = xmalloc(((size_t)nnames + 1) * sizeof *c.local);
    c.standin_local = xmalloc(((size_t)nnames + 1) * sizeof *c.standin_local);
    int32_t *region_of = xmalloc(((size_t)nnames + 1) * sizeof *region_of);
    for (uint32_t i = 0; i < nnames; i++) c.local[i] = c.standin_local[i] = region_of[i] = -1;
    c.host_order = graph_sorted_records(&c, &m->hosts, 3);
    c.nhosts = m->hosts.n;
    c.self_order = graph_sorted_records(&c, &m->self, 2);
    c.nself = m->self.n;

    /* Edges in name order; zero ones carry nothing and are skipped. */
    uint32_t *edge_order = graph_sorted_records(&c, &m->edges, 4);
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
        qsort(rkeys, nk, sizeof *rkeys, graph_sort_key_cmp);
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
    graph_nameset_init(&root_names, nregions + 1);
    bool entry_owned;
    char *root_entry = graph_unique_name(&root_names, entry, "", &entry_owned);
    for (size_t i = 0; i < nregions; i++)
        regions[i].name =
            graph_unique_name(&root_names, str_of(&m->names, regions[i].id), " (region)", &regions[i].owned);
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
        graph_write_region(&c, r, items, st);
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
        const flow_config *f = graph_first_flow(&c, flows);
        if (f && graph_classify(&c, n)) {
            if (e->cross) graph_kql_part(&c.query, f->fields[EP_FROM_REGION], e->from_data);
            graph_kql_part(&c.query, f->fields[EP_TO_REGION], e->to_data);
        }
        buf_reset(&c.text);
        buf_printf(&c.text, "from %s to %s", e->from_data, e->to_data);
        char *subtitle = xstrdup(buf_cstr(&c.text));
        notice_subject ns = {e->from_data, e->to_data, e->to_data, subtitle};
        graph_write_connection(&c, e->source, e->target, n, e->cross ? &e->cross->lat : &e->to->ingress_lat, flows,
                               &ns);
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
        const char **names = xmalloc((nregions + 1) * sizeof *names);
        double *volumes = xmalloc((nregions + 1) * sizeof *volumes);
        for (size_t i = 0; i < nregions; i++) {
            names[i] = str_of(&m->names, regions[i].id);
            volumes[i] = regions[i].max_volume;
        }
        graph_state_commit(st, names, volumes, nregions, o->window_end_ms);
        free(names);
        free(volumes);
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
