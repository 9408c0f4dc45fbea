/*
 * graph_region.c - one region of the graph and everything in it
 * (graph_region.h).
 */
#include "graph_region.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "graph_connection.h"
#include "graph_order.h"
#include "graph_state.h"
#include "graph_view.h"

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
        qsort(keys, n, sizeof *keys, graph_sort_key_cmp);
        kept = xmalloc(VIZ_MAX_HOSTS_PER_SERVICE * sizeof *kept);
        for (size_t i = 0; i < VIZ_MAX_HOSTS_PER_SERVICE; i++) {
            keys[i].k[0] = c->rank[c->m->hosts.recs[keys[i].idx].key[2]];
            keys[i].k[1] = keys[i].k[2] = 0;
        }
        qsort(keys, VIZ_MAX_HOSTS_PER_SERVICE, sizeof *keys, graph_sort_key_cmp);
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
        graph_write_metrics(c, h->count);
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
    free(kept);
}

/* A node's change against the baseline: of the calls into it, or out of it
 * for a node that is only a caller. */
static graph_change node_change(const render_ctx *c, const vnode *v) {
    if (sum3(v->in) > 0 || v->base_in > 0) return graph_change_of(c, sum3(v->in), v->base_in);
    return graph_change_of(c, sum3(v->out), v->base_out);
}

/* The class and change notices of a service, stand-in or other node: about
 * the calls into it. */
static void write_node_notice(render_ctx *c, const region *r, const vnode *v, int cls, graph_change ch) {
    jsonw *w = &c->w;
    buf_reset(&c->query);
    graph_node_query(c, graph_first_flow(c, v->in_flows), v, false);
    buf_reset(&c->text);
    if (v->kind == NODE_STANDIN)
        buf_printf(&c->text, "calls from %s to %s", r->name, graph_data_name(c, v));
    else
        buf_printf(&c->text, "into %s in %s", graph_data_name(c, v), r->name);
    char *subtitle = xstrdup(buf_cstr(&c->text));
    notice_subject ns = {"", graph_data_name(c, v), str_of(&c->m->names, r->id), subtitle};
    jsonw_key(w, "notices");
    jsonw_array_begin(w);
    if (cls) graph_write_class_notice(c, cls, v->in, v->in_flows, &ns);
    bool in = sum3(v->in) > 0 || v->base_in > 0;
    graph_write_change_notice(c, ch, in ? sum3(v->in) : sum3(v->out), in ? v->base_in : v->base_out, &ns);
    jsonw_array_end(w);
    free(subtitle);
}

static void write_node_metadata(render_ctx *c, const vnode *v, graph_change ch) {
    jsonw *w = &c->w;
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
    if (v->kind == NODE_SERVICE && v->host_end - v->host_begin > VIZ_MAX_HOSTS_PER_SERVICE) {
        jsonw_key(w, "hosts_hidden");
        jsonw_int(w, (unsigned)(v->host_end - v->host_begin - VIZ_MAX_HOSTS_PER_SERVICE));
    }
    if (c->m->has_base) {
        jsonw_key(w, "baseline_rate_in");
        jsonw_rate(w, v->base_in / c->window_s);
    }
    graph_write_change_meta(c, ch);
    jsonw_object_end(w);
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
    int cls = graph_classify(c, v->in);
    graph_change ch = node_change(c, v);
    jsonw_key(w, "class");
    jsonw_string(w, graph_class_names[cls]);
    if (cls || ch) write_node_notice(c, r, v, cls, ch);
    write_node_metadata(c, v, ch);
    unsigned hosts_hidden = 0;
    if (v->kind == NODE_SERVICE) write_hosts(c, v, &hosts_hidden);
    jsonw_object_end(w);
}

static bool node_first(const vnode *a, const vnode *b) {
    int ga = a->kind == NODE_ENTRY ? 0 : a->kind == NODE_STANDIN ? 2 : 1;
    int gb = b->kind == NODE_ENTRY ? 0 : b->kind == NODE_STANDIN ? 2 : 1;
    if (ga != gb) return ga < gb;
    return a->byte_rank < b->byte_rank;
}

static _Thread_local const vnode *order_nodes; /* per thread: renders run side by side (graph.h) */
static int node_order_cmp(const void *a, const void *b) {
    const vnode *x = &order_nodes[*(const uint32_t *)a], *y = &order_nodes[*(const uint32_t *)b];
    return node_first(x, y) ? -1 : node_first(y, x) ? 1 : 0;
}

static void write_flow_names(render_ctx *c, uint64_t flows) {
    jsonw_array_begin(&c->w);
    for (unsigned i = 0; i < VIZ_MAX_FLOWS; i++) {
        if (!(flows & ((uint64_t)1 << i))) continue;
        const flow_config *f = graph_flow_at(c, i);
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

/* What a region's header, notices and metadata say about its flows. */
typedef struct {
    uint64_t flows;      /* every flow that touched the region or its view */
    int cls;             /* class of all calls into the region */
    int64_t stale;       /* 0, or since when one of its flows is stale */
    bool partial;        /* one of its flows answered only in part */
    graph_change change; /* of all calls into the region against the baseline */
    const char *history; /* why its window or baseline is older than its flows' data, or NULL */
} region_status;

static region_status region_status_of(render_ctx *c, const region *r, const view *v) {
    region_status s = {.flows = v->flows | r->flows};
    s.cls = graph_classify(c, r->into);
    s.stale = stale_since(c, s.flows);
    for (unsigned i = 0; i < c->o->nflows && i < VIZ_MAX_FLOWS; i++)
        if ((s.flows >> i & 1) && c->o->flows[i].degraded) s.partial = true;
    s.change = graph_change_of(c, sum3(r->into), r->into_base);
    /* A flow holds data from some time on (a file flow keeps window +
     * baseline): a window, or baseline window, that starts earlier is short
     * of data, and the user must be told why it looks empty. */
    for (unsigned i = 0; c->o->held_from_ms && i < c->o->nflows && i < VIZ_MAX_FLOWS; i++) {
        int64_t held = c->o->held_from_ms[i];
        if (!(s.flows >> i & 1) || held <= 0) continue;
        if (held > c->o->window_end_ms - (int64_t)(c->window_s * 1000))
            s.history = "the window starts before the oldest data its flows hold";
        else if (c->o->baseline_ms && held > c->o->baseline_start_ms && !s.history)
            s.history = "the baseline window starts before the oldest data its flows hold";
    }
    return s;
}

static void write_region_head(render_ctx *c, const region *r, const view *v, const region_status *s) {
    jsonw *w = &c->w;
    jsonw_object_begin(w);
    jsonw_key(w, "renderer");
    jsonw_string(w, "region");
    jsonw_key(w, "name");
    jsonw_string(w, r->name);
    jsonw_key(w, "displayName");
    jsonw_string(w, str_of(&c->m->names, r->id));
    jsonw_key(w, "class");
    jsonw_string(w, graph_class_names[s->cls]);
    jsonw_key(w, "maxVolume");
    jsonw_rate(w, r->max_volume);
    jsonw_key(w, "updated");
    jsonw_int(w, oldest_data(c, s->flows));
    if (v->has_ingress) {
        jsonw_key(w, "entryNode");
        jsonw_string(w, v->nodes[0].name);
    }
}

/* The class notice of a region: about all calls into it. */
static void write_region_class_notice(render_ctx *c, const region *r, int cls) {
    buf_reset(&c->query);
    const flow_config *f = graph_first_flow(c, r->into_flows);
    if (f) graph_kql_part(&c->query, f->fields[EP_TO_REGION], str_of(&c->m->names, r->id));
    buf_reset(&c->text);
    buf_printf(&c->text, "into region %s", str_of(&c->m->names, r->id));
    char *subtitle = xstrdup(buf_cstr(&c->text));
    notice_subject ns = {"", str_of(&c->m->names, r->id), str_of(&c->m->names, r->id), subtitle};
    graph_write_class_notice(c, cls, r->into, r->into_flows, &ns);
    free(subtitle);
}

static void write_region_notices(render_ctx *c, const region *r, const region_status *s) {
    jsonw *w = &c->w;
    if (!s->cls && !s->stale && !s->partial && !s->change) return;
    jsonw_key(w, "notices");
    jsonw_array_begin(w);
    if (s->cls) write_region_class_notice(c, r, s->cls);
    if (s->change) {
        buf_reset(&c->text);
        buf_printf(&c->text, "into region %s", str_of(&c->m->names, r->id));
        char *subtitle = xstrdup(buf_cstr(&c->text));
        notice_subject ns = {"", str_of(&c->m->names, r->id), str_of(&c->m->names, r->id), subtitle};
        graph_write_change_notice(c, s->change, sum3(r->into), r->into_base, &ns);
        free(subtitle);
    }
    if (s->stale) {
        char when[40], title[64];
        util_format_time_ms(s->stale, when, sizeof when);
        snprintf(title, sizeof title, "data stale since %s", when);
        graph_write_notice(c, 2, title, NULL, NULL);
    }
    /* A flow that answered only in part (timed out, failed shards): its
     * figures are too low, and the page should say so. */
    for (unsigned i = 0; s->partial && i < c->o->nflows && i < VIZ_MAX_FLOWS; i++) {
        if (!(s->flows >> i & 1) || !c->o->flows[i].degraded) continue;
        buf_reset(&c->text);
        buf_printf(&c->text, "partial data from %s", c->o->flows[i].flow->name);
        char *title = xstrdup(buf_cstr(&c->text));
        graph_write_notice(c, 1, title, c->o->flows[i].degraded, NULL);
        free(title);
    }
    jsonw_array_end(w);
}

static void write_region_metadata(render_ctx *c, const region *r, const view *v, const region_status *s) {
    jsonw *w = &c->w;
    jsonw_key(w, "metadata");
    jsonw_object_begin(w);
    jsonw_key(w, "window_s");
    jsonw_double(w, c->window_s);
    jsonw_key(w, "flows");
    write_flow_names(c, s->flows);
    jsonw_key(w, "hidden_services");
    jsonw_int(w, v->hidden);
    if (r->self_total > 0) {
        jsonw_key(w, "self_calls");
        jsonw_double(w, r->self_total);
    }
    if (s->stale) {
        jsonw_key(w, "stale");
        jsonw_bool(w, true);
    }
    if (s->partial) {
        jsonw_key(w, "partial");
        jsonw_bool(w, true);
    }
    graph_write_baseline_meta(c);
    if (c->m->has_base) {
        jsonw_key(w, "baseline_rate_in");
        jsonw_rate(w, r->into_base / c->window_s);
    }
    graph_write_change_meta(c, s->change);
    if (s->history) {
        jsonw_key(w, "history");
        jsonw_string(w, s->history);
    }
    jsonw_object_end(w);
}

/* Nodes: entry, services by name, stand-ins by name; unconnected ones dropped. */
static void write_region_nodes(render_ctx *c, const region *r, const view *v) {
    jsonw *w = &c->w;
    uint32_t *order = xmalloc((v->n + 1) * sizeof *order);
    size_t norder = 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].connected && v->nodes[i].final == i) order[norder++] = (uint32_t)i;
    order_nodes = v->nodes;
    qsort(order, norder, sizeof *order, node_order_cmp);
    jsonw_key(w, "nodes");
    jsonw_array_begin(w);
    for (size_t i = 0; i < norder; i++) {
        const vnode *n = &v->nodes[order[i]];
        write_view_node(c, r, n);
        if (n->kind == NODE_SERVICE || n->kind == NODE_OTHER) c->stats.services++;
    }
    jsonw_array_end(w);
    free(order);
    c->stats.hidden += v->hidden;
}

static void write_region_connections(render_ctx *c, const region *r, const view *v) {
    jsonw *w = &c->w;
    jsonw_key(w, "connections");
    jsonw_array_begin(w);
    for (size_t i = 0; i < v->nconns; i++) {
        const conn *cn = &v->conns[i];
        const vnode *s = &v->nodes[cn->src], *d = &v->nodes[cn->dst];
        if (graph_classify(c, cn->count)) {
            buf_reset(&c->query);
            const flow_config *f = graph_first_flow(c, cn->flows);
            graph_node_query(c, f, s, true);
            graph_node_query(c, f, d, false);
        }
        buf_reset(&c->text);
        buf_printf(&c->text, "from %s to %s", graph_data_name(c, s), graph_data_name(c, d));
        char *subtitle = xstrdup(buf_cstr(&c->text));
        notice_subject ns = {graph_data_name(c, s), graph_data_name(c, d), str_of(&c->m->names, r->id), subtitle};
        graph_write_connection(c, s->name, d->name, cn->count, &cn->lat, cn->flows, cn->base, &ns);
        free(subtitle);
    }
    jsonw_array_end(w);
}

void graph_write_region(render_ctx *c, region *r, const item *items, const graph_state *st) {
    view v;
    graph_view_build(c, r, items, &v);
    (void)st;
    r->max_volume = graph_max_volume(v.max_rate);
    region_status s = region_status_of(c, r, &v);
    write_region_head(c, r, &v, &s);
    write_region_notices(c, r, &s);
    write_region_metadata(c, r, &v, &s);
    write_region_nodes(c, r, &v);
    write_region_connections(c, r, &v);
    jsonw_object_end(&c->w);
    graph_view_free(&v);
}
