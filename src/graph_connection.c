/*
 * graph_connection.c - metrics, counts, latency and the notices of one
 * connection (graph_connection.h), shared by the region views and the root.
 */
#include "graph_connection.h"

#include <stdio.h>
#include <stdlib.h>

void graph_write_metrics(render_ctx *c, const double n[CLASS_COUNT]) {
    jsonw *w = &c->w;
    jsonw_key(w, "metrics");
    jsonw_object_begin(w);
    for (int k = 0; k < CLASS_COUNT; k++) {
        double rate = n[k] / c->window_s;
        /* A rate that rounds to nothing is omitted like a zero. */
        if (n[k] > 0 && jsonw_round_significant(rate, 4) > 0) {
            jsonw_key(w, graph_class_names[k]);
            jsonw_rate(w, rate);
        }
    }
    jsonw_object_end(w);
}

static void write_counts(render_ctx *c, const double n[CLASS_COUNT]) {
    for (int k = 0; k < CLASS_COUNT; k++) {
        jsonw_key(&c->w, graph_class_names[k]);
        jsonw_double(&c->w, n[k]);
    }
}

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
    graph_write_notice(c, cls, title, ns->subtitle, graph_notice_link(c, ns));
    free(title);
}

/* A connection; the caller has put its query into c->query. */
void graph_write_connection(render_ctx *c, const char *source, const char *target, const double n[CLASS_COUNT],
                            const latency *lat, uint64_t flows, double base, const notice_subject *ns) {
    jsonw *w = &c->w;
    int cls = graph_classify(c, n);
    double avg = 0;
    int lat_cls = cls ? 0 : classify_latency(c, n, lat, &avg);
    graph_change ch = graph_change_of(c, sum3(n), base);
    /* A gone edge has nothing the error share or latency could colour; it
     * is a warning, its change notice saying why. */
    if (ch == CHANGE_GONE) cls = 0, lat_cls = 1;
    jsonw_object_begin(w);
    jsonw_key(w, "source");
    jsonw_string(w, source);
    jsonw_key(w, "target");
    jsonw_string(w, target);
    graph_write_metrics(c, n);
    jsonw_key(w, "class");
    jsonw_string(w, graph_class_names[cls ? cls : lat_cls]);
    if (cls || lat_cls || ch) {
        jsonw_key(w, "notices");
        jsonw_array_begin(w);
        if (cls)
            graph_write_class_notice(c, cls, n, flows, ns);
        else if (lat_cls && ch != CHANGE_GONE)
            write_latency_notice(c, lat_cls, avg, ns);
        graph_write_change_notice(c, ch, sum3(n), base, ns);
        jsonw_array_end(w);
    }
    jsonw_key(w, "metadata");
    jsonw_object_begin(w);
    write_counts(c, n);
    latency_write(w, lat);
    if (c->m->has_base) {
        jsonw_key(w, "baseline_rate");
        jsonw_rate(w, base / c->window_s);
    }
    graph_write_change_meta(c, ch);
    jsonw_object_end(w);
    jsonw_object_end(w);
    c->stats.connections++;
}
