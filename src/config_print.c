/*
 * config_print.c - `vizfeed check`: the resolved configuration written back
 * as YAML that loads to the same configuration (presets expanded, defaults
 * filled in, secrets masked). Apart from config.c because it reads the
 * structures only, never the file.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "yaml_read.h"

#define MASK "********"

/* ---- printing -------------------------------------------------------- */

/* Always double-quoted, so that no value can turn into another type or into
 * YAML syntax, and with ${ escaped so that loading the output back does not
 * expand anything. */
static void print_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", out);
        else if (*c == '\t')
            fputs("\\t", out);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf(out, "\\x%02x", *c);
        else if (c[0] == '$' && c[1] == '{')
            fputs("$$", out);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

/* The shortest text that reads back as the same double, without exponent
 * for whole numbers (400, not 4e+02). */
static void print_number(FILE *out, double d) {
    char text[40];
    if (d == floor(d) && fabs(d) < 1e15) {
        fprintf(out, "%.0f", d);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, d);
        if (strtod(text, NULL) == d) break;
    }
    fputs(text, out);
}

static void print_duration(FILE *out, int64_t ms) {
    char text[64];
    util_format_duration(ms, text, sizeof text);
    fputs(text, out);
}

static void print_secret(FILE *out, const char *s) {
    print_string(out, *s ? MASK : "");
}

/* https://user:secret@host -> https://user:********@host */
static void print_host(FILE *out, const char *url) {
    const char *authority = strstr(url, "://");
    if (authority) {
        authority += 3;
        size_t span = strcspn(authority, "/?#");
        const char *at = NULL;
        for (size_t i = 0; i < span; i++)
            if (authority[i] == '@') at = authority + i;
        const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
        if (colon) {
            char *masked = xmalloc(strlen(url) + sizeof MASK);
            size_t head = (size_t)(colon + 1 - url);
            memcpy(masked, url, head);
            strcpy(masked + head, MASK);
            strcat(masked, at);
            print_string(out, masked);
            free(masked);
            return;
        }
    }
    print_string(out, url);
}

static void print_value(FILE *out, const cfg_value *v) {
    if (v->type == VALUE_STRING)
        print_string(out, v->text);
    else
        fputs(v->text, out);
}

static void print_condition(FILE *out, const condition *c) {
    static const char *const bounds[BOUND_COUNT] = {"gte", "gt", "lte", "lt"};
    if (c->kind == COND_NOT) {
        fputs("{not: ", out);
        print_condition(out, c->children);
        fputs("}", out);
        return;
    }
    if (c->kind == COND_ALL) {
        fputs("{all: [", out);
        for (size_t i = 0; i < c->nchildren; i++) {
            if (i) fputs(", ", out);
            print_condition(out, &c->children[i]);
        }
        fputs("]}", out);
        return;
    }
    fputs("{field: ", out);
    print_string(out, c->field);
    switch (c->kind) {
    case COND_EQUALS:
        fputs(", equals: ", out);
        print_value(out, &c->values[0]);
        break;
    case COND_IN:
        fputs(", in: [", out);
        for (size_t i = 0; i < c->nvalues; i++) {
            if (i) fputs(", ", out);
            print_value(out, &c->values[i]);
        }
        fputs("]", out);
        break;
    case COND_RANGE:
        for (int b = 0; b < BOUND_COUNT; b++) {
            if (!c->has_bound[b]) continue;
            fprintf(out, ", %s: ", bounds[b]);
            print_number(out, c->bound[b]);
        }
        break;
    case COND_EXISTS:
        fprintf(out, ", exists: %s", c->exists ? "true" : "false");
        break;
    case COND_PREFIX:
        fputs(", prefix: ", out);
        print_string(out, c->prefix);
        break;
    default:
        break;
    }
    fputs("}", out);
}

static void print_conditions(FILE *out, const char *key, const condition_list *list) {
    fprintf(out, "    %s:", key);
    if (!list->n) fputs(" []", out);
    for (size_t i = 0; i < list->n; i++) {
        fputs("\n      - ", out);
        print_condition(out, &list->items[i]);
    }
    fputc('\n', out);
}

static void print_key_string(FILE *out, const char *indent_key, const char *value) {
    fputs(indent_key, out);
    print_string(out, value);
    fputc('\n', out);
}

/* A part's field, or [first, alternatives...] when it has alternatives. */
/* A field, written A:B when it is joined with another (host:port). */
static void print_field(FILE *out, const char *field, const char *join) {
    if (!join || !*join) {
        print_string(out, field);
        return;
    }
    char *both = xmalloc(strlen(field) + strlen(join) + 2);
    sprintf(both, "%s:%s", field, join);
    print_string(out, both);
    free(both);
}

static void print_part(FILE *out, const flow_config *f, int part) {
    if (!f->alt_fields[part][0] || !*f->alt_fields[part][0]) {
        print_field(out, f->fields[part], f->join_fields[part][0]);
        return;
    }
    fputc('[', out);
    print_field(out, f->fields[part], f->join_fields[part][0]);
    for (int k = 0; k < FLOW_MAX_FIELD_ALTS && *f->alt_fields[part][k]; k++) {
        fputs(", ", out);
        print_field(out, f->alt_fields[part][k], f->join_fields[part][k + 1]);
    }
    fputc(']', out);
}

static void print_endpoint(FILE *out, const char *side, const flow_config *f, int base) {
    fprintf(out, "    %s: {service: ", side);
    print_part(out, f, base);
    fputs(", region: ", out);
    print_part(out, f, base + 1);
    fputs(", host: ", out);
    print_part(out, f, base + 2);
    fputs("}\n", out);
}

static void print_flow(FILE *out, const flow_config *f) {
    print_key_string(out, "  - name: ", f->name);
    fprintf(out, "    type: %s\n", cfg_flow_type_name(f->type));
    if (f->type == FLOW_DEMO) {
        fprintf(out, "    seed: %llu\n", (unsigned long long)f->seed);
    } else {
        if (*f->preset) print_key_string(out, "    preset: ", f->preset);
        if (f->type == FLOW_ELASTICSEARCH || (f->type == FLOW_REPLAY && *f->index))
            print_key_string(out, "    index: ", f->index);
        if (f->type == FLOW_FILE || f->type == FLOW_REPLAY) print_key_string(out, "    path: ", f->path);
        print_conditions(out, "where", &f->where);
        print_endpoint(out, "from", f, EP_FROM_SERVICE);
        print_endpoint(out, "to", f, EP_TO_SERVICE);
        print_conditions(out, "warning", &f->warning);
        print_conditions(out, "danger", &f->danger);
        print_key_string(out, "    count: ", f->count_field);
        print_key_string(out, "    timestamp: ", f->timestamp_field);
        if (*f->danger_count_field) print_key_string(out, "    danger_count: ", f->danger_count_field);
        if (f->has_count_missing) {
            fputs("    count_missing: ", out);
            print_number(out, f->count_missing);
            fputc('\n', out);
        }
        if (*f->latency_field || *f->latency_sum_field) {
            fputs("    latency: { ", out);
            if (*f->latency_field) {
                fputs("field: ", out);
                print_string(out, f->latency_field);
                if (*f->latency_weight_field) {
                    fputs(", weight: ", out);
                    print_string(out, f->latency_weight_field);
                }
            } else {
                fputs("sum: ", out);
                print_string(out, f->latency_sum_field);
                fputs(", count: ", out);
                print_string(out, f->latency_count_field);
            }
            fprintf(out, ", unit: %s }\n",
                    f->latency_unit_ms < 1e-3   ? "ns"
                    : f->latency_unit_ms < 1    ? "us"
                    : f->latency_unit_ms < 1000 ? "ms"
                                                : "s");
        }
        if (*f->resolve_service) {
            fputs("    resolve_callee:\n      where:", out);
            if (!f->resolve_where.n) fputs(" []", out);
            for (size_t i = 0; i < f->resolve_where.n; i++) {
                fputs("\n        - ", out);
                print_condition(out, &f->resolve_where.items[i]);
            }
            fputs("\n      address: ", out);
            print_field(out, f->resolve_address, f->resolve_address_join);
            fputs("\n      service: ", out);
            print_string(out, f->resolve_service);
            fputc('\n', out);
        }
    }
    print_key_string(out, "    warning_label: ", f->warning_label);
    print_key_string(out, "    danger_label: ", f->danger_label);
}

/* "null" rather than an empty section: a written auth must set credentials. */
static void print_auth(FILE *out, const auth_config *a) {
    if (*a->bearer_token) {
        fputs("auth:\n  bearer_token: ", out);
        print_secret(out, a->bearer_token);
        fputc('\n', out);
    } else if (*a->username) {
        print_key_string(out, "auth:\n  username: ", a->username);
        fputs("  password: ", out);
        print_secret(out, a->password);
        fputc('\n', out);
    } else {
        fputs("auth: null\n", out);
    }
}

void cfg_print(const vizfeed_config *cfg, FILE *out) {
    char path[256];
    fprintf(out, "# vizfeed configuration resolved from %s\n",
            *cfg->path ? yr_shown(cfg->path, path, sizeof path) : "--demo");
    fputs("# (presets expanded, defaults filled in, secrets hidden)\n", out);
    print_key_string(out, "listen: ", cfg->listen);
    print_key_string(out, "cors_origin: ", cfg->cors_origin);
    print_key_string(out, "ui_dir: ", cfg->ui_dir);
    print_auth(out, &cfg->auth);
    /* The JSON is also YAML's flow form: {"allow_src":[...]}. */
    fprintf(out, "ui: %s\n", cfg->ui_settings);
    fputs("refresh:\n  interval: ", out);
    print_duration(out, cfg->interval_ms);
    fputs("\n  window: ", out);
    print_duration(out, cfg->window_ms);
    fputs("\n  lag: ", out);
    print_duration(out, cfg->lag_ms);
    fputs("\n  deadline: ", out);
    print_duration(out, cfg_refresh_deadline_ms(cfg));
    fputs("\noutput:\n", out);
    print_key_string(out, "  file: ", cfg->output_file);

    const graph_config *g = &cfg->graph;
    fputs("graph:\n", out);
    print_key_string(out, "  name: ", g->name);
    print_key_string(out, "  entry: ", g->entry);
    print_key_string(out, "  default_region: ", g->default_region);
    fprintf(out, "  max_services: %d\n  thresholds:\n    warning: ", g->max_services);
    print_number(out, g->warning);
    fputs("\n    danger: ", out);
    print_number(out, g->danger);
    fputs("\n    min_rate: ", out);
    print_number(out, g->min_rate);
    fputc('\n', out);
    if (g->latency_warning_ms) fprintf(out, "    latency_warning: %lldms\n", (long long)g->latency_warning_ms);
    if (g->latency_danger_ms) fprintf(out, "    latency_danger: %lldms\n", (long long)g->latency_danger_ms);
    fputs("    surge: ", out);
    print_number(out, g->surge);
    char baseline[32];
    graph_baseline_text(g->baseline_ms, baseline, sizeof baseline);
    fprintf(out, "\n  baseline: %s\n", baseline);
    print_key_string(out, "  notice_link: ", g->notice_link);

    const es_config *es = &cfg->es;
    fputs("elasticsearch:\n  hosts:", out);
    if (!es->nhosts) fputs(" []", out);
    for (size_t i = 0; i < es->nhosts; i++) {
        fputs("\n    - ", out);
        print_host(out, es->hosts[i]);
    }
    fputc('\n', out);
    print_key_string(out, "  cloud_id: ", es->cloud_id);
    print_key_string(out, "  username: ", es->username);
    fputs("  password: ", out);
    print_secret(out, es->password);
    fputs("\n  api_key: ", out);
    print_secret(out, es->api_key);
    fputs("\n  bearer_token: ", out);
    print_secret(out, es->bearer_token);
    fputc('\n', out);
    print_key_string(out, "  ca_file: ", es->ca_file);
    fprintf(out, "  verify: %s\n  timeout: ", es->verify ? "true" : "false");
    print_duration(out, es->timeout_ms);
    fprintf(out, "\n  page_size: %d\n", es->page_size);
    fprintf(out, "  incremental: %s\n  settle: ", es->incremental ? "true" : "false");
    print_duration(out, es->settle_ms >= 0 ? es->settle_ms : ES_SETTLE_INTERVALS * cfg->interval_ms);
    fputc('\n', out);

    fputs("topology:", out);
    if (!cfg->ntopology) fputs(" []", out);
    fputc('\n', out);
    for (size_t i = 0; i < cfg->ntopology; i++) {
        const topology_entry *e = &cfg->topology[i];
        fputs("  - {match: ", out);
        print_string(out, e->match);
        fputs(", service: ", out);
        print_string(out, e->service);
        fputs(", region: ", out);
        print_string(out, e->region);
        fputs("}\n", out);
    }

    fputs("flows:\n", out);
    for (size_t i = 0; i < cfg->nflows; i++) print_flow(out, &cfg->flows[i]);
}
