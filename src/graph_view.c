/*
 * graph_view.c - building one region's view (graph_view.h): busiest
 * services, the `other` node, unique names, summed connections.
 */
#include "graph_view.h"

#include <stdlib.h>
#include <string.h>

#include "graph_names.h"
#include "graph_notice.h"
#include "graph_order.h"

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

/* qsort has no context argument: per thread, since renders run side by side (graph.h). */
static _Thread_local const vnode *svc_sort_nodes;
static _Thread_local const render_ctx *svc_sort_ctx;
static int busiest_first(const void *a, const void *b) {
    const vnode *x = &svc_sort_nodes[*(const uint32_t *)a], *y = &svc_sort_nodes[*(const uint32_t *)b];
    if (x->activity != y->activity) return x->activity > y->activity ? -1 : 1;
    uint32_t rx = svc_sort_ctx->rank[x->id], ry = svc_sort_ctx->rank[y->id];
    return rx < ry ? -1 : rx > ry;
}

static int name_index_cmp(const void *a, const void *b) {
    return strcmp(svc_sort_nodes[*(const uint32_t *)a].name, svc_sort_nodes[*(const uint32_t *)b].name);
}

static _Thread_local const uint32_t *conn_rank;
static int conn_cmp(const void *a, const void *b) {
    const conn *x = a, *y = b;
    if (conn_rank[x->src] != conn_rank[y->src]) return conn_rank[x->src] < conn_rank[y->src] ? -1 : 1;
    if (conn_rank[x->dst] != conn_rank[y->dst]) return conn_rank[x->dst] < conn_rank[y->dst] ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Query part of a node seen as caller (from = true) or callee. */
void graph_node_query(render_ctx *c, const flow_config *f, const vnode *v, bool from) {
    if (!f) return;
    if (v->kind == NODE_SERVICE)
        graph_kql_part(&c->query, f->fields[from ? EP_FROM_SERVICE : EP_TO_SERVICE], str_of(&c->m->names, v->id));
    else if (v->kind == NODE_STANDIN)
        graph_kql_part(&c->query, f->fields[from ? EP_FROM_REGION : EP_TO_REGION], str_of(&c->m->names, v->id));
}

/* The name a node has in the data (not the view's unique name). */
const char *graph_data_name(const render_ctx *c, const vnode *v) {
    if (v->kind == NODE_SERVICE || v->kind == NODE_STANDIN) return str_of(&c->m->names, v->id);
    return v->name;
}

void graph_view_free(view *v) {
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

/* Phase 1: a node for every end of the region's items (the entry node
 * first, at index 0, dropped later if unused), with its activity. */
static void add_nodes(render_ctx *c, const region *r, const item *items, view *v) {
    memset(v, 0, sizeof *v);
    vnode_push(&v->nodes, &v->n, &v->cap, NODE_ENTRY, NO_ID);
    for (size_t i = r->item_begin; i < r->item_end; i++) {
        const item *it = &items[i];
        uint32_t s = view_node(c, v, it->src_kind, it->src);
        uint32_t d = view_node(c, v, it->dst_kind, it->dst);
        double t = sum3(it->count);
        v->nodes[s].activity += t;
        v->nodes[d].activity += t;
    }
}

/* Phase 2: the max_services cap: past it, all but the busiest
 * max_services - 1 services become `other`. Returns the service nodes
 * (busiest first when capped), *nsvc of them; the caller frees them. */
static uint32_t *cap_services(render_ctx *c, view *v, size_t *nsvc) {
    const graph_config *g = c->g;
    uint32_t *svcs = xmalloc((v->n + 1) * sizeof *svcs);
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].kind == NODE_SERVICE) svcs[n++] = (uint32_t)i;
    if (g->max_services > 0 && n > (size_t)g->max_services) {
        svc_sort_nodes = v->nodes;
        svc_sort_ctx = c;
        qsort(svcs, n, sizeof *svcs, busiest_first);
        uint32_t other = (uint32_t)v->n;
        vnode_push(&v->nodes, &v->n, &v->cap, NODE_OTHER, NO_ID);
        for (size_t i = (size_t)g->max_services - 1; i < n; i++) {
            v->nodes[svcs[i]].final = other;
            v->nodes[other].merged++;
        }
        v->hidden = v->nodes[other].merged;
    }
    *nsvc = n;
    return svcs;
}

/* Phase 3: connections between final nodes; calls inside other become its
 * self-calls. */
static void collect_conns(render_ctx *c, const region *r, const item *items, view *v) {
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
        cn->base = it->base;
    }
}

/* Phase 4: self-calls of the region's services (merged ones go to other),
 * and the host ranges of kept services. */
static void add_self_calls_and_hosts(render_ctx *c, const region *r, view *v) {
    size_t sb = graph_lower_bound(c, &c->m->self, c->self_order, c->nself, r->id);
    for (size_t i = sb; i < c->nself; i++) {
        const record *rec = &c->m->self.recs[c->self_order[i]];
        if (rec->key[0] != r->id) break;
        if (c->local[rec->key[1]] < 0) continue;
        vnode *node = &v->nodes[v->nodes[c->local[rec->key[1]]].final];
        for (int k = 0; k < CLASS_COUNT; k++) node->self[k] += rec->count[k];
        node->has_self = true;
        v->flows |= rec->flows;
    }
    size_t hb = graph_lower_bound(c, &c->m->hosts, c->host_order, c->nhosts, r->id);
    for (size_t i = hb; i < c->nhosts; i++) {
        const record *rec = &c->m->hosts.recs[c->host_order[i]];
        if (rec->key[0] != r->id) break;
        int32_t l = c->local[rec->key[1]];
        if (l < 0 || v->nodes[l].final != (uint32_t)l) continue;
        if (v->nodes[l].host_end == 0) v->nodes[l].host_begin = i;
        v->nodes[l].host_end = i + 1;
    }
}

/* Phase 5: unique names: entry, services, other, stand-ins, in that priority. */
static void name_nodes(render_ctx *c, view *v, const uint32_t *svcs, size_t nsvc) {
    nameset names;
    graph_nameset_init(&names, v->n);
    v->nodes[0].name = graph_unique_name(&names, c->g->entry, "", &v->nodes[0].owned);
    for (size_t i = 0; i < nsvc; i++) {
        vnode *s = &v->nodes[svcs[i]];
        if (s->final == svcs[i])
            s->name = graph_unique_name(&names, str_of(&c->m->names, s->id), " (service)", &s->owned);
    }
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].kind == NODE_OTHER)
            v->nodes[i].name = graph_unique_name(&names, "other", " (merged)", &v->nodes[i].owned);
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].kind == NODE_STANDIN)
            v->nodes[i].name =
                graph_unique_name(&names, str_of(&c->m->names, v->nodes[i].id), " (region)", &v->nodes[i].owned);
    for (size_t i = 0; i < v->n; i++)
        if (!v->nodes[i].name) v->nodes[i].name = ""; /* merged away, never written */
    graph_nameset_free(&names);
}

/* Phase 6: bytewise rank of the final names, then sort and add up
 * connections between the same two nodes. */
static void sum_conns(view *v) {
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
            v->conns[out - 1].base += v->conns[i].base;
        } else {
            v->conns[out++] = v->conns[i];
        }
    }
    v->nconns = out;
}

/* Phase 6b: an entry node whose every connection is gone (graph.baseline)
 * would carry no traffic, and Vizceral divides by an entry node's traffic:
 * its gone connections are left to the root, which shows the region's
 * ingress gone, unless they are all the view has (a region with nothing
 * left must still be drawn). */
static void drop_gone_ingress(view *v) {
    bool entry_any = false, entry_live = false, others = false;
    for (size_t i = 0; i < v->nconns; i++) {
        if (v->conns[i].src != 0) {
            others = true;
            continue;
        }
        entry_any = true;
        if (sum3(v->conns[i].count) > 0) entry_live = true;
    }
    if (!entry_any || entry_live || !others) return;
    size_t out = 0;
    for (size_t i = 0; i < v->nconns; i++)
        if (v->conns[i].src != 0) v->conns[out++] = v->conns[i];
    v->nconns = out;
}

/* Phase 7: the nodes' totals in and out, and the view's largest rate. */
static void node_totals(render_ctx *c, view *v) {
    for (size_t i = 0; i < v->nconns; i++) {
        conn *cn = &v->conns[i];
        vnode *s = &v->nodes[cn->src], *d = &v->nodes[cn->dst];
        for (int k = 0; k < CLASS_COUNT; k++) {
            s->out[k] += cn->count[k];
            d->in[k] += cn->count[k];
        }
        latency_add(&d->lat_in, &cn->lat);
        d->in_flows |= cn->flows;
        s->base_out += cn->base;
        d->base_in += cn->base;
        s->connected = d->connected = true;
        double rate = sum3(cn->count) / c->window_s;
        if (rate > v->max_rate) v->max_rate = rate;
        if (cn->src == 0) v->has_ingress = true;
    }
}

/* Builds the nodes and connections of region r from its items. */
void graph_view_build(render_ctx *c, const region *r, const item *items, view *v) {
    add_nodes(c, r, items, v);
    size_t nsvc;
    uint32_t *svcs = cap_services(c, v, &nsvc);
    collect_conns(c, r, items, v);
    add_self_calls_and_hosts(c, r, v);
    name_nodes(c, v, svcs, nsvc);
    free(svcs);
    sum_conns(v);
    drop_gone_ingress(v);
    node_totals(c, v);
}
