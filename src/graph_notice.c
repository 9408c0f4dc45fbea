/*
 * graph_notice.c - classes, escaping, links and notices of the rendered
 * graph (graph_notice.h): what tells a user that something is wrong, and
 * where to look.
 */
#include "graph_notice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounds.h"

const char *graph_class_names[] = {"normal", "warning", "danger"};

/* 0 normal, 1 warning, 2 danger (README.md, "How the graph is built"). */
int graph_classify(const render_ctx *c, const double n[CLASS_COUNT]) {
    double total = sum3(n);
    if (!(total > 0) || n[CLASS_DANGER] <= 0) return 0;
    if (total / c->window_s < c->g->min_rate) return 0;
    double share = n[CLASS_DANGER] / total;
    if (share >= c->g->danger) return 2;
    if (share >= c->g->warning) return 1;
    return 0;
}

const flow_config *graph_flow_at(const render_ctx *c, unsigned i) {
    return i < c->o->nflows && c->o->flows ? c->o->flows[i].flow : NULL;
}

static const char *danger_label_of(const render_ctx *c, uint64_t flows) {
    const char *label = NULL;
    for (unsigned i = 0; i < VIZ_MAX_FLOWS; i++) {
        if (!(flows & ((uint64_t)1 << i))) continue;
        const flow_config *f = graph_flow_at(c, i);
        const char *l = f && !util_str_empty(f->danger_label) ? f->danger_label : "errors";
        if (label && strcmp(label, l) != 0) return "errors";
        label = l;
    }
    return label ? label : "errors";
}

const flow_config *graph_first_flow(const render_ctx *c, uint64_t flows) {
    for (unsigned i = 0; i < VIZ_MAX_FLOWS; i++)
        if (flows & ((uint64_t)1 << i)) return graph_flow_at(c, i);
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
void graph_kql_part(buf *q, const char *field, const char *value) {
    if (util_str_empty(field) || !value) return;
    if (q->len) buf_puts(q, " and ");
    buf_puts(q, field);
    buf_puts(q, ":\"");
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\') buf_putc(q, '\\');
        buf_putc(q, *p);
    }
    buf_putc(q, '"');
}

/* Fills graph.notice_link; NULL when there is none, it grew past
 * VIZ_MAX_NOTICE_LINK or it is not an http(s) link. */
const char *graph_notice_link(render_ctx *c, const notice_subject *ns) {
    const char *t = c->g->notice_link;
    if (util_str_empty(t)) return NULL;
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

void graph_write_notice(render_ctx *c, int severity, const char *title, const char *subtitle, const char *link) {
    jsonw *w = &c->w;
    jsonw_object_begin(w);
    html_escape(&c->escaped, title);
    jsonw_key(w, "title");
    jsonw_string(w, buf_cstr(&c->escaped));
    if (!util_str_empty(subtitle)) {
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
void graph_write_class_notice(render_ctx *c, int cls, const double n[CLASS_COUNT], uint64_t flows,
                              const notice_subject *ns) {
    char share[32], rate[32];
    snprintf(share, sizeof share, "%.1f", 100.0 * n[CLASS_DANGER] / sum3(n));
    jsonw_format_rate(n[CLASS_DANGER] / c->window_s, rate, sizeof rate);
    buf_reset(&c->text);
    buf_printf(&c->text, "%s %s%% (%s/s) over %s", danger_label_of(c, flows), share, rate, c->window_text);
    char *title = xstrdup(buf_cstr(&c->text));
    graph_write_notice(c, cls, title, ns->subtitle, graph_notice_link(c, ns));
    free(title);
}

void graph_baseline_text(int64_t baseline_ms, char *out, size_t outlen) {
    const int64_t week = 7LL * 86400000;
    if (baseline_ms <= 0)
        snprintf(out, outlen, "off");
    else if (baseline_ms % week == 0)
        snprintf(out, outlen, "%lldw", (long long)(baseline_ms / week));
    else
        util_format_duration(baseline_ms, out, outlen);
}

const char *graph_change_names[] = {"", "new", "gone", "surge", "drop"};

graph_change graph_change_of(const render_ctx *c, double now, double base) {
    if (!c->m->has_base) return CHANGE_NONE;
    if (!(now > 0)) now = 0;
    if (!(base > 0)) base = 0;
    double most = now > base ? now : base;
    if (!(most > 0) || most / c->window_s < c->g->min_rate) return CHANGE_NONE;
    if (now == 0) return CHANGE_GONE;
    if (base == 0) return CHANGE_NEW;
    double surge = c->g->surge > 1 ? c->g->surge : 3;
    if (now >= surge * base) return CHANGE_SURGE;
    if (now * surge <= base) return CHANGE_DROP;
    return CHANGE_NONE;
}

bool graph_edge_drawn(const render_ctx *c, const record *e) {
    if (sum3(e->count) > 0) return true;
    return c->m->has_base && e->base > 0 && e->base / c->window_s >= c->g->min_rate;
}

void graph_write_change_notice(render_ctx *c, graph_change ch, double now, double base, const notice_subject *ns) {
    if (ch == CHANGE_NONE) return;
    char when[32], now_rate[32], base_rate[32], ratio[32];
    graph_baseline_text(c->o->baseline_ms, when, sizeof when);
    jsonw_format_rate(now / c->window_s, now_rate, sizeof now_rate);
    jsonw_format_rate(base / c->window_s, base_rate, sizeof base_rate);
    buf_reset(&c->text);
    if (ch == CHANGE_NEW) {
        buf_printf(&c->text, "new since %s ago", when);
    } else if (ch == CHANGE_GONE) {
        buf_printf(&c->text, "no traffic now: %s/s %s ago", base_rate, when);
    } else {
        double q = now / base;
        /* Two significant figures reads best from 0.05x to 99x. */
        snprintf(ratio, sizeof ratio, q >= 10 ? "%.0f" : q >= 0.095 ? "%.1f" : "%.2f", q);
        buf_printf(&c->text, "traffic %s\u00d7 the usual: %s/s now, %s/s %s ago", ratio, now_rate, base_rate, when);
    }
    char *title = xstrdup(buf_cstr(&c->text));
    graph_write_notice(c, 1, title, ns->subtitle, NULL);
    free(title);
}

void graph_write_baseline_meta(render_ctx *c) {
    if (!c->o->baseline_ms) return;
    char text[32];
    graph_baseline_text(c->o->baseline_ms, text, sizeof text);
    jsonw_key(&c->w, "baseline");
    jsonw_string(&c->w, text);
}

void graph_write_change_meta(render_ctx *c, graph_change ch) {
    if (ch == CHANGE_NONE) return;
    jsonw_key(&c->w, "change");
    jsonw_string(&c->w, graph_change_names[ch]);
}
