/*
 * config.c - the configuration's schema: which keys exist at each level,
 * what each means, its defaults, presets merged under what the user wrote,
 * and the checks that need the whole configuration (listen address, files
 * it names). Reading YAML and ${VAR} is yaml_read.c's; printing it back is
 * config_print.c's.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "bounds.h"
#include "preset.h"
#include "yaml_read.h"
#include "util.h"

/* The flow keys that were written, by the user or by a preset; a preset only
 * fills keys the user did not write. Endpoint parts are tracked one by one so
 * that `to: { host: "" }` overrides only the host of a preset. */
enum {
    W_WHERE = 1u << 0,
    W_WARNING = 1u << 1,
    W_DANGER = 1u << 2,
    W_COUNT = 1u << 3,
    W_TIMESTAMP = 1u << 4,
    W_DANGER_LABEL = 1u << 5,
    W_WARNING_LABEL = 1u << 6,
    W_FIELD0 = 1u << 7, /* W_FIELD0 << EP_x for each endpoint part */
    W_DANGER_COUNT = 1u << 13,
    W_COUNT_MISSING = 1u << 15,
    W_LATENCY = 1u << 14,
    W_RESOLVE = 1u << 16,
};

/* The page's directory when the configuration names none: meson's ui_dir
 * option (the installed page, or ./dev's source ui/dist). */
#ifndef VIZFEED_UI_DIR
#define VIZFEED_UI_DIR "ui/dist"
#endif

static const char *const top_keys[] = {"listen", "cors_origin",   "ui_dir",   "auth",  "refresh", "output",
                                       "graph",  "elasticsearch", "topology", "flows", "ui",      NULL};
static const char *const ui_keys[] = {"allow_src", NULL};
static const char *const auth_keys[] = {"username", "password", "bearer_token", NULL};
static const char *const refresh_keys[] = {"interval", "window", "lag", "deadline", NULL};
static const char *const output_keys[] = {"file", NULL};
static const char *const graph_keys[] = {"name",       "entry",       "default_region", "max_services",
                                         "thresholds", "notice_link", "baseline",       NULL};
static const char *const threshold_keys[] = {"warning",        "danger", "min_rate", "latency_warning",
                                             "latency_danger", "surge",  NULL};
static const char *const es_keys[] = {"hosts",        "cloud_id", "username", "password", "api_key",
                                      "bearer_token", "ca_file",  "verify",   "timeout",  "page_size",
                                      "incremental",  "settle",   NULL};
static const char *const topology_keys[] = {"match", "service", "region", NULL};
static const char *const flow_keys[] = {
    "name",          "type",         "index",   "path",          "seed",           "preset",    "where",
    "from",          "to",           "warning", "danger",        "count",          "timestamp", "danger_label",
    "warning_label", "danger_count", "latency", "count_missing", "resolve_callee", NULL};
static const char *const es_flow_keys[] = {
    "name",    "type",          "index",          "preset",    "where",        "from",          "to",
    "warning", "danger",        "count",          "timestamp", "danger_label", "warning_label", "danger_count",
    "latency", "count_missing", "resolve_callee", NULL};
static const char *const file_flow_keys[] = {
    "name",    "type",          "path",           "preset",    "where",        "from",          "to",
    "warning", "danger",        "count",          "timestamp", "danger_label", "warning_label", "danger_count",
    "latency", "count_missing", "resolve_callee", NULL};
/* A replay flow is an elasticsearch flow copied with its type changed and a
 * path added, so it takes the same keys; index is allowed (ignored when
 * replaying, but `vizfeed query` still prints the flow's request). */
static const char *const replay_flow_keys[] = {
    "name",         "type",    "path",          "index",          "preset",    "where",        "from",
    "to",           "warning", "danger",        "count",          "timestamp", "danger_label", "warning_label",
    "danger_count", "latency", "count_missing", "resolve_callee", NULL};
static const char *const demo_flow_keys[] = {"name", "type", "seed", "danger_label", "warning_label", NULL};
static const char *const preset_keys[] = {
    "where",        "from",          "to",           "warning", "danger",        "count",          "timestamp",
    "danger_label", "warning_label", "danger_count", "latency", "count_missing", "resolve_callee", NULL};
static const char *const endpoint_keys[] = {"service", "region", "host", NULL};
static const char *const resolve_keys[] = {"where", "address", "service", NULL};
static const char *const latency_keys[] = {"field", "sum", "count", "unit", "weight", NULL};
static const char *const condition_keys[] = {"field", "equals", "in",     "gte", "gt",  "lte",
                                             "lt",    "exists", "prefix", "not", "all", NULL};
static const char *const flow_type_names[] = {"elasticsearch", "file", "demo", "replay"};
#define FLOW_TYPES (sizeof flow_type_names / sizeof flow_type_names[0])

#define OPERATORS "equals, in, gte, gt, lte, lt, exists, prefix"

/* ---- memory ---------------------------------------------------------- */

static void free_condition(condition *c) {
    free(c->field);
    for (size_t i = 0; i < c->nvalues; i++) free(c->values[i].text);
    free(c->values);
    free(c->prefix);
    for (size_t i = 0; i < c->nchildren; i++) free_condition(&c->children[i]);
    free(c->children);
}

static void free_conditions(condition_list *list) {
    for (size_t i = 0; i < list->n; i++) free_condition(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static void free_flow(flow_config *f) {
    free(f->name);
    free(f->preset);
    free(f->index);
    free(f->path);
    free_conditions(&f->where);
    free_conditions(&f->warning);
    free_conditions(&f->danger);
    for (int i = 0; i < EP_COUNT; i++) {
        free(f->fields[i]);
        for (int k = 0; k < FLOW_MAX_FIELD_ALTS; k++) free(f->alt_fields[i][k]);
        for (int k = 0; k <= FLOW_MAX_FIELD_ALTS; k++) free(f->join_fields[i][k]);
    }
    free(f->count_field);
    free(f->timestamp_field);
    free(f->danger_label);
    free(f->warning_label);
    free(f->danger_count_field);
    free(f->latency_field);
    free(f->latency_sum_field);
    free(f->latency_count_field);
    free(f->latency_weight_field);
    free_conditions(&f->resolve_where);
    free(f->resolve_address);
    free(f->resolve_address_join);
    free(f->resolve_service);
}

void cfg_free(vizfeed_config *cfg) {
    if (!cfg) return;
    free(cfg->path);
    free(cfg->listen);
    free(cfg->cors_origin);
    free(cfg->ui_dir);
    free(cfg->ui_settings);
    free(cfg->auth.username);
    free(cfg->auth.password);
    free(cfg->auth.bearer_token);
    free(cfg->output_file);
    free(cfg->record_dir);
    free(cfg->graph.name);
    free(cfg->graph.entry);
    free(cfg->graph.default_region);
    free(cfg->graph.notice_link);
    for (size_t i = 0; i < cfg->es.nhosts; i++) free(cfg->es.hosts[i]);
    free(cfg->es.hosts);
    free(cfg->es.cloud_id);
    free(cfg->es.username);
    free(cfg->es.password);
    free(cfg->es.api_key);
    free(cfg->es.bearer_token);
    free(cfg->es.ca_file);
    for (size_t i = 0; i < cfg->ntopology; i++) {
        free(cfg->topology[i].match);
        free(cfg->topology[i].service);
        free(cfg->topology[i].region);
    }
    free(cfg->topology);
    for (size_t i = 0; i < cfg->nflows; i++) free_flow(&cfg->flows[i]);
    free(cfg->flows);
    free(cfg);
}

static void replace(char **field, char *value) {
    free(*field);
    *field = value;
}

static void default_string(char **field, const char *value) {
    if (!*field) *field = xstrdup(value);
}

static void fill_flow_defaults(flow_config *f) {
    default_string(&f->name, "");
    default_string(&f->preset, "");
    default_string(&f->index, "");
    default_string(&f->path, "");
    for (int i = 0; i < EP_COUNT; i++) {
        default_string(&f->fields[i], "");
        for (int k = 0; k < FLOW_MAX_FIELD_ALTS; k++) default_string(&f->alt_fields[i][k], "");
        for (int k = 0; k <= FLOW_MAX_FIELD_ALTS; k++) default_string(&f->join_fields[i][k], "");
    }
    default_string(&f->count_field, "");
    default_string(&f->timestamp_field, "@timestamp");
    default_string(&f->danger_label, "errors");
    default_string(&f->warning_label, "warnings");
    default_string(&f->danger_count_field, "");
    default_string(&f->latency_field, "");
    default_string(&f->latency_sum_field, "");
    default_string(&f->latency_count_field, "");
    default_string(&f->latency_weight_field, "");
    default_string(&f->resolve_address, "");
    default_string(&f->resolve_address_join, "");
    default_string(&f->resolve_service, "");
}

static vizfeed_config *config_with_defaults(const char *path) {
    vizfeed_config *cfg = xcalloc(1, sizeof *cfg);
    cfg->path = xstrdup(path);
    cfg->listen = xstrdup("127.0.0.1:8080");
    cfg->cors_origin = xstrdup("*");
    cfg->ui_dir = xstrdup(VIZFEED_UI_DIR);
    cfg->ui_settings = xstrdup("{\"allow_src\":true}");
    cfg->auth.username = xstrdup("");
    cfg->auth.password = xstrdup("");
    cfg->auth.bearer_token = xstrdup("");
    cfg->interval_ms = 10000;
    cfg->window_ms = 120000;
    cfg->lag_ms = 15000;
    cfg->output_file = xstrdup("");
    cfg->record_dir = xstrdup("");
    cfg->graph.name = xstrdup("edge");
    cfg->graph.entry = xstrdup("INTERNET");
    cfg->graph.default_region = xstrdup("default");
    cfg->graph.max_services = 100;
    cfg->graph.warning = 0.03;
    cfg->graph.danger = 0.10;
    cfg->graph.min_rate = 0.1;
    cfg->graph.baseline_ms = CFG_DEFAULT_BASELINE_MS;
    cfg->graph.surge = 3;
    cfg->graph.notice_link = xstrdup("");
    cfg->es.cloud_id = xstrdup("");
    cfg->es.username = xstrdup("");
    cfg->es.password = xstrdup("");
    cfg->es.api_key = xstrdup("");
    cfg->es.bearer_token = xstrdup("");
    cfg->es.ca_file = xstrdup("");
    cfg->es.verify = true;
    cfg->es.timeout_ms = 20000;
    cfg->es.page_size = 5000;
    cfg->es.incremental = true;
    cfg->es.settle_ms = -1;
    return cfg;
}

vizfeed_config *cfg_demo(void) {
    vizfeed_config *cfg = config_with_defaults("");
    cfg->flows = xcalloc(1, sizeof *cfg->flows);
    cfg->nflows = 1;
    cfg->flows[0].name = xstrdup("demo");
    cfg->flows[0].type = FLOW_DEMO;
    cfg->flows[0].seed = 1;
    fill_flow_defaults(&cfg->flows[0]);
    return cfg;
}

const char *cfg_flow_type_name(flow_type t) {
    return (unsigned)t < FLOW_TYPES ? flow_type_names[t] : "unknown";
}

/* Sets *field from map[key] when written. Returns 1 when set, 0 when absent,
 * -1 on error. */
static int opt_string(yr_parser *p, const yaml_node_t *map, const char *key, const char *what, char **field) {
    const yaml_node_t *n = yr_get(p, map, key);
    if (!n) return 0;
    char *s;
    if (yr_string(p, n, what, &s) < 0) return -1;
    replace(field, s);
    return 1;
}

/* A value of a condition. An unquoted scalar that reads as a number or as
 * true/false is one; quoting makes anything a string, so that `equals: "200"`
 * can match a keyword field exactly. */
static int get_value(yr_parser *p, const yaml_node_t *n, const char *what, cfg_value *v) {
    if (n->type != YAML_SCALAR_NODE || yr_is_null(n))
        return yr_fail(p, n, "a string, a number, true or false", "%s is %s", what, yr_kind(n));
    if (yr_expand(p, n, &v->text) < 0) return -1;
    v->type = VALUE_STRING;
    if (yr_is_plain(n)) {
        if (!strcmp(v->text, "true") || !strcmp(v->text, "false")) {
            v->type = VALUE_BOOL;
            v->boolean = v->text[0] == 't';
        } else if (yr_parse_number(v->text, &v->number)) {
            v->type = VALUE_NUMBER;
        }
    }
    return 0;
}

/* ---- conditions ------------------------------------------------------ */

static int parse_condition(yr_parser *p, const yaml_node_t *n, int depth, condition *c);

static int parse_condition_list(yr_parser *p, const yaml_node_t *n, const char *what, int depth, condition_list *out) {
    free_conditions(out);
    if (yr_is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return yr_fail(p, n, "a list of conditions such as - { field: event.outcome, equals: failure }", "%s is %s",
                       what, yr_kind(n));
    out->n = yr_sequence_size(n);
    out->items = xcalloc(out->n, sizeof *out->items);
    for (size_t i = 0; i < out->n; i++)
        if (parse_condition(p, yr_item(p, n, i), depth, &out->items[i]) < 0) return -1;
    return 0;
}

static int operator_group(const char *key) {
    if (!strcmp(key, "gte") || !strcmp(key, "gt") || !strcmp(key, "lte") || !strcmp(key, "lt")) return COND_RANGE;
    if (!strcmp(key, "equals")) return COND_EQUALS;
    if (!strcmp(key, "in")) return COND_IN;
    if (!strcmp(key, "exists")) return COND_EXISTS;
    if (!strcmp(key, "prefix")) return COND_PREFIX;
    return -1;
}

static int parse_combinator(yr_parser *p, const yaml_node_t *n, int depth, condition *c) {
    yaml_node_pair_t *pair = n->data.mapping.pairs.start;
    const yaml_node_t *key = yr_node(p, pair->key), *value = yr_node(p, pair->value);
    if (yr_mapping_size(n) > 1) {
        const yaml_node_t *other = yr_node(p, pair[1].key);
        if (!strcmp(yr_text(key), "not") || !strcmp(yr_text(key), "all")) key = other;
        return yr_fail(p, key, "not or all alone in their condition (put the other parts inside)",
                       "'%s' cannot stand beside not or all in one condition", yr_text(key));
    }
    if (!strcmp(yr_text(key), "not")) {
        c->kind = COND_NOT;
        c->children = xcalloc(1, sizeof *c->children);
        c->nchildren = 1;
        return parse_condition(p, value, depth + 1, c->children);
    }
    c->kind = COND_ALL;
    if (value->type != YAML_SEQUENCE_NODE || yr_sequence_size(value) == 0)
        return yr_fail(p, value, "a list of at least one condition", "all is %s",
                       value->type == YAML_SEQUENCE_NODE ? "an empty list" : yr_kind(value));
    c->nchildren = yr_sequence_size(value);
    c->children = xcalloc(c->nchildren, sizeof *c->children);
    for (size_t i = 0; i < c->nchildren; i++)
        if (parse_condition(p, yr_item(p, value, i), depth + 1, &c->children[i]) < 0) return -1;
    return 0;
}

static int parse_condition(yr_parser *p, const yaml_node_t *n, int depth, condition *c) {
    char name[80];
    if (n->type != YAML_MAPPING_NODE || yr_mapping_size(n) == 0)
        return yr_fail(p, n, "a mapping such as { field: event.outcome, equals: failure }", "a condition is %s",
                       yr_kind(n));
    if (depth > VIZ_MAX_CONDITION_DEPTH) {
        char expected[64];
        snprintf(expected, sizeof expected, "at most %d levels of not and all", VIZ_MAX_CONDITION_DEPTH);
        return yr_fail(p, n, expected, "conditions are nested too deeply");
    }
    if (yr_check_keys(p, n, "a condition", condition_keys) < 0) return -1;
    if (yr_get(p, n, "not") || yr_get(p, n, "all")) return parse_combinator(p, n, depth, c);

    const yaml_node_t *field = yr_get(p, n, "field");
    if (!field) return yr_fail(p, n, "field: NAME and one of " OPERATORS ", or not or all", "a condition has no field");
    if (yr_nonempty(p, field, "field", "a field name such as http.response.status_code", &c->field) < 0) return -1;

    /* Exactly one operator; the range bounds together count as one. */
    const yaml_node_t *op = NULL;
    int group = -1;
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        const yaml_node_t *key = yr_node(p, pair->key);
        int g = operator_group(yr_text(key));
        if (g < 0) continue;
        if (group >= 0 && (g != group || g != COND_RANGE))
            return yr_fail(p, key, "exactly one of " OPERATORS " (only the range bounds combine)",
                           "condition on '%s' has two operators, '%s' and '%s'", yr_shown(c->field, name, sizeof name),
                           yr_text(op), yr_text(key));
        if (!op) op = key;
        group = g;
    }
    if (!op)
        return yr_fail(p, n, "one of " OPERATORS, "condition on '%s' has no operator",
                       yr_shown(c->field, name, sizeof name));

    c->kind = (cond_kind)group;
    const yaml_node_t *v;
    switch (c->kind) {
    case COND_EQUALS:
        c->values = xcalloc(1, sizeof *c->values);
        c->nvalues = 1;
        return get_value(p, yr_get(p, n, "equals"), "equals", c->values);
    case COND_IN:
        v = yr_get(p, n, "in");
        if (v->type != YAML_SEQUENCE_NODE || yr_sequence_size(v) == 0)
            return yr_fail(p, v, "a list of at least one value, such as [200, 204]", "in is %s", yr_kind(v));
        c->nvalues = yr_sequence_size(v);
        c->values = xcalloc(c->nvalues, sizeof *c->values);
        for (size_t i = 0; i < c->nvalues; i++)
            if (get_value(p, yr_item(p, v, i), "a value of in", &c->values[i]) < 0) return -1;
        return 0;
    case COND_RANGE: {
        static const char *const bounds[BOUND_COUNT] = {"gte", "gt", "lte", "lt"};
        for (int b = 0; b < BOUND_COUNT; b++) {
            if (!(v = yr_get(p, n, bounds[b]))) continue;
            if (yr_double(p, v, bounds[b], -DBL_MAX, DBL_MAX, &c->bound[b]) < 0) return -1;
            c->has_bound[b] = true;
        }
        return 0;
    }
    case COND_EXISTS:
        return yr_bool(p, yr_get(p, n, "exists"), "exists", &c->exists);
    case COND_PREFIX:
        return yr_nonempty(p, yr_get(p, n, "prefix"), "prefix", "a non-empty string", &c->prefix);
    default:
        return -1;
    }
}

/* ---- flows ----------------------------------------------------------- */

/* A field written A:B (host and port) becomes A, its join B after it. */
static int split_join(yr_parser *p, const yaml_node_t *at, const char *what, char *field, char **join) {
    char *colon = field ? strchr(field, ':') : NULL;
    replace(join, NULL);
    if (!colon) return 0;
    if (colon == field || !colon[1] || strchr(colon + 1, ':'))
        return yr_fail(p, at, "a field, or two fields joined as FIELD:FIELD (host:port)", "%s is '%s'", what, field);
    *join = xstrdup(colon + 1);
    *colon = 0;
    return 0;
}

static int parse_endpoint(yr_parser *p, const yaml_node_t *n, const char *side, int base, flow_config *f,
                          unsigned *written) {
    const yaml_node_t *map;
    if (yr_section(p, n, side, endpoint_keys, &map) < 0) return -1;
    for (int i = 0; map && i < 3; i++) {
        char what[32];
        snprintf(what, sizeof what, "%s.%s", side, endpoint_keys[i]);
        const yaml_node_t *list = yr_get(p, map, endpoint_keys[i]);
        if (list)
            for (int k = 0; k < FLOW_MAX_FIELD_ALTS; k++) replace(&f->alt_fields[base + i][k], NULL);
        if (list && list->type == YAML_SEQUENCE_NODE) {
            /* [a, b, c]: the first of these fields that the event has. */
            size_t count = yr_sequence_size(list);
            if (count == 0 || count > 1 + FLOW_MAX_FIELD_ALTS) {
                char expected[96];
                snprintf(expected, sizeof expected, "a field, or a list of 1 to %d fields tried in order",
                         1 + FLOW_MAX_FIELD_ALTS);
                return yr_fail(p, list, expected, "%s lists %zu fields", what, count);
            }
            for (size_t k = 0; k < count; k++) {
                char *name;
                if (yr_nonempty(p, yr_item(p, list, k), what, "a field name", &name) < 0) return -1;
                replace(k == 0 ? &f->fields[base + i] : &f->alt_fields[base + i][k - 1], name);
                if (split_join(p, yr_item(p, list, k), what, name, &f->join_fields[base + i][k]) < 0) return -1;
            }
            for (size_t k = count; k <= FLOW_MAX_FIELD_ALTS; k++) replace(&f->join_fields[base + i][k], NULL);
            *written |= W_FIELD0 << (base + i);
            continue;
        }
        int rc = opt_string(p, map, endpoint_keys[i], what, &f->fields[base + i]);
        if (rc < 0) return -1;
        if (rc) {
            *written |= W_FIELD0 << (base + i);
            for (int k = 0; k <= FLOW_MAX_FIELD_ALTS; k++) replace(&f->join_fields[base + i][k], NULL);
            if (split_join(p, list, what, f->fields[base + i], &f->join_fields[base + i][0]) < 0) return -1;
        }
    }
    return 0;
}

/* resolve_callee: { where: [...], address: FIELD[:FIELD], service: FIELD }. */
static int parse_resolve(yr_parser *p, const yaml_node_t *n, flow_config *f, unsigned *written) {
    const yaml_node_t *map, *v;
    if (!n) return 0;
    if (yr_section(p, n, "resolve_callee", resolve_keys, &map) < 0) return -1;
    *written |= W_RESOLVE;
    free_conditions(&f->resolve_where);
    replace(&f->resolve_address, NULL);
    replace(&f->resolve_address_join, NULL);
    replace(&f->resolve_service, NULL);
    if (!map) return 0; /* resolve_callee: null turns a preset's off */
    if ((v = yr_get(p, map, "where")) && parse_condition_list(p, v, "resolve_callee.where", 1, &f->resolve_where) < 0)
        return -1;
    if (!(v = yr_get(p, map, "address")))
        return yr_fail(p, n, "address: FIELD (or HOST_FIELD:PORT_FIELD)", "resolve_callee has no address");
    if (yr_nonempty(p, v, "resolve_callee.address", "a field name", &f->resolve_address) < 0 ||
        split_join(p, v, "resolve_callee.address", f->resolve_address, &f->resolve_address_join) < 0)
        return -1;
    if (!(v = yr_get(p, map, "service"))) return yr_fail(p, n, "service: FIELD", "resolve_callee has no service");
    return yr_nonempty(p, v, "resolve_callee.service", "a field name", &f->resolve_service);
}

/* latency: { field: F, unit: U } or { sum: F, count: F, unit: U }. */
static int parse_latency(yr_parser *p, const yaml_node_t *n, flow_config *f, unsigned *written) {
    static const struct {
        const char *name;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"ms", 1}, {"s", 1000}};
    const yaml_node_t *map, *v;
    if (!n) return 0;
    if (yr_section(p, n, "latency", latency_keys, &map) < 0) return -1;
    *written |= W_LATENCY;
    replace(&f->latency_field, NULL);
    replace(&f->latency_sum_field, NULL);
    replace(&f->latency_count_field, NULL);
    replace(&f->latency_weight_field, NULL);
    if (!map) return 0; /* latency: null turns a preset's latency off */
    if (opt_string(p, map, "field", "latency.field", &f->latency_field) < 0 ||
        opt_string(p, map, "sum", "latency.sum", &f->latency_sum_field) < 0 ||
        opt_string(p, map, "count", "latency.count", &f->latency_count_field) < 0 ||
        opt_string(p, map, "weight", "latency.weight", &f->latency_weight_field) < 0)
        return -1;
    bool one = f->latency_field && *f->latency_field;
    bool pair = f->latency_sum_field && *f->latency_sum_field && f->latency_count_field && *f->latency_count_field;
    bool half = (f->latency_sum_field && *f->latency_sum_field) != (f->latency_count_field && *f->latency_count_field);
    if (half)
        return yr_fail(p, n, "both sum: FIELD and count: FIELD (or field: DURATION_FIELD alone)",
                       "latency has a sum without a count or a count without a sum");
    if (one == pair)
        return yr_fail(p, n, "either field: DURATION_FIELD or both sum: FIELD and count: FIELD", "latency names %s",
                       one ? "a field and a sum/count pair" : "no duration field");
    if (f->latency_weight_field && *f->latency_weight_field && !one)
        return yr_fail(p, yr_get(p, map, "weight"), "weight only beside field: DURATION_FIELD",
                       "latency weighs pre-aggregated sums, whose count already says how many calls they cover");
    if (!(v = yr_get(p, map, "unit"))) return yr_fail(p, n, "unit: ns, us, ms or s", "latency has no unit");
    char *unit;
    if (yr_string(p, v, "latency.unit", &unit) < 0) return -1;
    f->latency_unit_ms = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(unit, units[i].name)) f->latency_unit_ms = units[i].ms;
    if (f->latency_unit_ms == 0) {
        char text[64];
        yr_fail(p, v, "one of ns, us, ms, s", "unknown latency unit '%s'", yr_shown(unit, text, sizeof text));
        free(unit);
        return -1;
    }
    free(unit);
    return 0;
}

/* The keys a preset may fill: what to count and how to name and class it. */
static int parse_traffic(yr_parser *p, const yaml_node_t *map, flow_config *f, unsigned *written) {
    static const struct {
        const char *key;
        unsigned bit;
        size_t offset;
    } lists[] = {
        {"where", W_WHERE, offsetof(flow_config, where)},
        {"warning", W_WARNING, offsetof(flow_config, warning)},
        {"danger", W_DANGER, offsetof(flow_config, danger)},
    };
    static const struct {
        const char *key;
        unsigned bit;
        size_t offset;
    } strings[] = {
        {"count", W_COUNT, offsetof(flow_config, count_field)},
        {"timestamp", W_TIMESTAMP, offsetof(flow_config, timestamp_field)},
        {"danger_label", W_DANGER_LABEL, offsetof(flow_config, danger_label)},
        {"warning_label", W_WARNING_LABEL, offsetof(flow_config, warning_label)},
        {"danger_count", W_DANGER_COUNT, offsetof(flow_config, danger_count_field)},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        const yaml_node_t *n = yr_get(p, map, lists[i].key);
        if (!n) continue;
        if (parse_condition_list(p, n, lists[i].key, 1, (condition_list *)((char *)f + lists[i].offset)) < 0) return -1;
        *written |= lists[i].bit;
    }
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        int rc = opt_string(p, map, strings[i].key, strings[i].key, (char **)((char *)f + strings[i].offset));
        if (rc < 0) return -1;
        if (rc) *written |= strings[i].bit;
    }
    if (parse_latency(p, yr_get(p, map, "latency"), f, written) < 0) return -1;
    if (parse_resolve(p, yr_get(p, map, "resolve_callee"), f, written) < 0) return -1;
    const yaml_node_t *cm = yr_get(p, map, "count_missing");
    if (cm) {
        if (yr_double(p, cm, "count_missing", 0, 1e15, &f->count_missing) < 0) return -1;
        f->has_count_missing = true;
        *written |= W_COUNT_MISSING;
    }
    if (parse_endpoint(p, yr_get(p, map, "from"), "from", EP_FROM_SERVICE, f, written) < 0) return -1;
    return parse_endpoint(p, yr_get(p, map, "to"), "to", EP_TO_SERVICE, f, written);
}

static void take_string(char **dst, char **src) {
    replace(dst, *src);
    *src = NULL;
}

static void take_conditions(condition_list *dst, condition_list *src) {
    free_conditions(dst);
    *dst = *src;
    src->items = NULL;
    src->n = 0;
}

/* Fills every key the preset writes and the flow does not. The preset's text
 * is parsed like a flow so it cannot mean anything a flow could not say. */
static int apply_preset(yr_parser *p, const flow_preset *preset, flow_config *f, unsigned written) {
    char file[64];
    snprintf(file, sizeof file, "preset %s", preset->name);
    yaml_document_t doc;
    if (yr_load(file, preset->yaml, strlen(preset->yaml), &doc, p->err) < 0) return -1;
    yr_parser pp = {file, &doc, p->err};
    flow_config from_preset = {0};
    unsigned filled = 0;
    int rc = -1;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        util_fail(p->err, "%s: not a mapping; expected a mapping of flow keys", file);
        goto done;
    }
    if (yr_check_keys(&pp, root, file, preset_keys) < 0 || parse_traffic(&pp, root, &from_preset, &filled) < 0)
        goto done;
    filled &= ~written;
    if (filled & W_WHERE) take_conditions(&f->where, &from_preset.where);
    if (filled & W_WARNING) take_conditions(&f->warning, &from_preset.warning);
    if (filled & W_DANGER) take_conditions(&f->danger, &from_preset.danger);
    if (filled & W_COUNT) take_string(&f->count_field, &from_preset.count_field);
    if (filled & W_TIMESTAMP) take_string(&f->timestamp_field, &from_preset.timestamp_field);
    if (filled & W_DANGER_LABEL) take_string(&f->danger_label, &from_preset.danger_label);
    if (filled & W_WARNING_LABEL) take_string(&f->warning_label, &from_preset.warning_label);
    if (filled & W_DANGER_COUNT) take_string(&f->danger_count_field, &from_preset.danger_count_field);
    if (filled & W_COUNT_MISSING) {
        f->count_missing = from_preset.count_missing;
        f->has_count_missing = from_preset.has_count_missing;
    }
    if (filled & W_LATENCY) {
        take_string(&f->latency_field, &from_preset.latency_field);
        take_string(&f->latency_sum_field, &from_preset.latency_sum_field);
        take_string(&f->latency_count_field, &from_preset.latency_count_field);
        take_string(&f->latency_weight_field, &from_preset.latency_weight_field);
        f->latency_unit_ms = from_preset.latency_unit_ms;
    }
    if (filled & W_RESOLVE) {
        take_conditions(&f->resolve_where, &from_preset.resolve_where);
        take_string(&f->resolve_address, &from_preset.resolve_address);
        take_string(&f->resolve_address_join, &from_preset.resolve_address_join);
        take_string(&f->resolve_service, &from_preset.resolve_service);
    }
    for (int i = 0; i < EP_COUNT; i++) {
        if (!(filled & (W_FIELD0 << i))) continue;
        take_string(&f->fields[i], &from_preset.fields[i]);
        for (int k = 0; k < FLOW_MAX_FIELD_ALTS; k++) take_string(&f->alt_fields[i][k], &from_preset.alt_fields[i][k]);
        for (int k = 0; k <= FLOW_MAX_FIELD_ALTS; k++)
            take_string(&f->join_fields[i][k], &from_preset.join_fields[i][k]);
    }
    rc = 0;
done:
    free_flow(&from_preset);
    yaml_document_delete(&doc);
    return rc;
}

static void flow_label(yr_parser *p, const yaml_node_t *n, size_t index, char *out, size_t outlen) {
    const yaml_node_t *name = yr_get(p, n, "name");
    char text[64];
    if (name && name->type == YAML_SCALAR_NODE && *yr_text(name))
        snprintf(out, outlen, "flow '%s'", yr_shown(yr_text(name), text, sizeof text));
    else
        snprintf(out, outlen, "flow #%zu", index + 1);
}

static int parse_flow(yr_parser *p, const yaml_node_t *n, size_t index, const vizfeed_config *cfg, flow_config *f) {
    char label[96], expected[600], list[512], text[80];
    flow_label(p, n, index, label, sizeof label);
    if (n->type != YAML_MAPPING_NODE)
        return yr_fail(p, n, "a mapping with name, type and the keys of that type", "%s is %s", label, yr_kind(n));
    if (yr_check_keys(p, n, label, flow_keys) < 0) return -1;

    const yaml_node_t *name = yr_get(p, n, "name");
    if (!name) return yr_fail(p, n, "name: a unique name for the flow", "%s has no name", label);
    if (yr_nonempty(p, name, "name", "a unique name for the flow", &f->name) < 0) return -1;

    const yaml_node_t *type = yr_get(p, n, "type");
    if (!type) return yr_fail(p, n, "type: elasticsearch, file, demo or replay", "%s has no type", label);
    char *type_text;
    if (yr_string(p, type, "type", &type_text) < 0) return -1;
    int t = -1;
    for (int i = 0; i < (int)FLOW_TYPES; i++)
        if (!strcmp(type_text, flow_type_names[i])) t = i;
    yr_shown(type_text, text, sizeof text);
    free(type_text);
    if (t < 0) return yr_fail(p, type, "one of elasticsearch, file, demo, replay", "unknown flow type '%s'", text);
    f->type = (flow_type)t;

    /* A key that means nothing for this type is as suspicious as a typo. */
    const char *const *allowed = t == FLOW_ELASTICSEARCH ? es_flow_keys
                                 : t == FLOW_FILE        ? file_flow_keys
                                 : t == FLOW_REPLAY      ? replay_flow_keys
                                                         : demo_flow_keys;
    yr_join_keys(allowed, list, sizeof list);
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
        const yaml_node_t *key = yr_node(p, pair->key);
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++) ok = !strcmp(allowed[i], yr_text(key));
        if (!ok) {
            snprintf(expected, sizeof expected, "one of %s", list);
            return yr_fail(p, key, expected, "key '%s' does not apply to %s flows", yr_text(key), flow_type_names[t]);
        }
    }

    const yaml_node_t *v;
    if (opt_string(p, n, "index", "index", &f->index) < 0 || opt_string(p, n, "path", "path", &f->path) < 0 ||
        opt_string(p, n, "preset", "preset", &f->preset) < 0)
        return -1;
    f->seed = 1;
    if ((v = yr_get(p, n, "seed")) && yr_u64(p, v, "seed", &f->seed) < 0) return -1;

    unsigned written = 0;
    if (parse_traffic(p, n, f, &written) < 0) return -1;
    if (f->preset && *f->preset) {
        const flow_preset *preset = preset_find(f->preset);
        if (!preset) {
            snprintf(expected, sizeof expected, "one of %s", preset_names());
            return yr_fail(p, yr_get(p, n, "preset"), expected, "unknown preset '%s'",
                           yr_shown(f->preset, text, sizeof text));
        }
        if (apply_preset(p, preset, f, written) < 0) return -1;
        /* Where the data lives, Beats index and Elastic Agent data stream. */
        if ((f->type == FLOW_ELASTICSEARCH || f->type == FLOW_REPLAY) && (!f->index || !*f->index) && preset->index)
            replace(&f->index, xstrdup(preset->index));
    }
    fill_flow_defaults(f);
    if (*f->danger_count_field && !*f->count_field)
        return yr_fail(p, (v = yr_get(p, n, "danger_count")) ? v : n,
                       "count: the field of all calls, beside danger_count",
                       "%s counts failures from a field (danger_count) but no count field", label);
    if (*f->danger_count_field && (f->danger.n > 0 || f->warning.n > 0))
        return yr_fail(
            p, (v = yr_get(p, n, "danger_count")) ? v : n, "either danger_count or warning/danger conditions",
            "%s counts failures from a field (danger_count) and also has warning or danger conditions", label);

    if (f->type == FLOW_DEMO) return 0;
    if (f->type == FLOW_ELASTICSEARCH) {
        if (!*f->index)
            return yr_fail(p, (v = yr_get(p, n, "index")) ? v : n, "index: an index pattern such as filebeat-*",
                           "%s reads from Elasticsearch but has no index", label);
        if (cfg->es.nhosts == 0 && !*cfg->es.cloud_id)
            return yr_fail(p, type, "elasticsearch.hosts (or elasticsearch.cloud_id) to be set",
                           "%s reads from Elasticsearch but no cluster is configured", label);
    }
    if (f->type == FLOW_FILE && !*f->path)
        return yr_fail(p, (v = yr_get(p, n, "path")) ? v : n, "path: the NDJSON file to read", "%s has no path", label);
    /* Whether the directory holds a recording is checked when the flow
     * opens, as for a file flow's file: `check` can run before `--record`. */
    if (f->type == FLOW_REPLAY && !*f->path)
        return yr_fail(p, (v = yr_get(p, n, "path")) ? v : n, "path: the directory that --record filled",
                       "%s has no path", label);
    if (!*f->fields[EP_TO_SERVICE])
        return yr_fail(p, n, "to: { service: FIELD } or a preset that sets it",
                       "%s does not say which field names the callee (to.service)", label);
    if (!*f->timestamp_field)
        return yr_fail(p, yr_get(p, n, "timestamp"), "a date field such as @timestamp", "%s has an empty timestamp",
                       label);
    return 0;
}

static int parse_flows(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *n = yr_get(p, root, "flows");
    if (!n) return yr_fail(p, root, "flows: a list with at least one flow", "no flows are configured");
    if (yr_is_null(n) || (n->type == YAML_SEQUENCE_NODE && yr_sequence_size(n) == 0))
        return yr_fail(p, n, "at least one flow", "the flows list is empty");
    if (n->type != YAML_SEQUENCE_NODE)
        return yr_fail(p, n, "a list of flows, each starting with - name: ...", "flows is %s", yr_kind(n));
    if (yr_sequence_size(n) > VIZ_MAX_FLOWS) {
        char expected[64];
        snprintf(expected, sizeof expected, "at most %d flows", VIZ_MAX_FLOWS);
        return yr_fail(p, n, expected, "%zu flows are configured", yr_sequence_size(n));
    }
    cfg->nflows = yr_sequence_size(n);
    cfg->flows = xcalloc(cfg->nflows, sizeof *cfg->flows);
    for (size_t i = 0; i < cfg->nflows; i++) {
        const yaml_node_t *item = yr_item(p, n, i);
        if (parse_flow(p, item, i, cfg, &cfg->flows[i]) < 0) return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->flows[j].name, cfg->flows[i].name)) continue;
            char text[80];
            return yr_fail(p, yr_get(p, item, "name"), "a unique name for every flow",
                           "flow name '%s' is used twice (first by flow #%zu)",
                           yr_shown(cfg->flows[i].name, text, sizeof text), j + 1);
        }
    }
    return 0;
}

/* ---- other sections -------------------------------------------------- */

static int parse_topology(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *n = yr_get(p, root, "topology");
    if (!n || yr_is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return yr_fail(p, n, "a list of entries such as - { match: 10.1.0.0/16, region: eu-west-1 }", "topology is %s",
                       yr_kind(n));
    if (yr_sequence_size(n) > VIZ_MAX_TOPOLOGY) {
        char expected[64];
        snprintf(expected, sizeof expected, "at most %d topology entries", VIZ_MAX_TOPOLOGY);
        return yr_fail(p, n, expected, "topology has %zu entries", yr_sequence_size(n));
    }
    cfg->ntopology = yr_sequence_size(n);
    cfg->topology = xcalloc(cfg->ntopology, sizeof *cfg->topology);
    for (size_t i = 0; i < cfg->ntopology; i++) {
        const yaml_node_t *item = yr_item(p, n, i), *map;
        topology_entry *e = &cfg->topology[i];
        if (item->type != YAML_MAPPING_NODE || yr_mapping_size(item) == 0)
            return yr_fail(p, item, "a mapping with match and service and/or region", "a topology entry is %s",
                           yr_kind(item));
        if (yr_section(p, item, "a topology entry", topology_keys, &map) < 0) return -1;
        e->line = (int)item->start_mark.line + 1;
        const yaml_node_t *match = yr_get(p, map, "match");
        if (!match)
            return yr_fail(p, item, "match: a CIDR, an IP, a name or a /regex/", "a topology entry has no match");
        e->line = (int)match->start_mark.line + 1; /* topology errors are about the match */
        e->column = (int)match->start_mark.column + 1;
        if (yr_nonempty(p, match, "match", "a CIDR, an IP, a name or a /regex/", &e->match) < 0 ||
            opt_string(p, map, "service", "service", &e->service) < 0 ||
            opt_string(p, map, "region", "region", &e->region) < 0)
            return -1;
        default_string(&e->service, "");
        default_string(&e->region, "");
    }
    return 0;
}

static bool is_http_url(const char *s) {
    return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

static int parse_host(yr_parser *p, const yaml_node_t *n, char **out) {
    if (yr_nonempty(p, n, "an Elasticsearch host", "a URL such as https://es1:9200", out) < 0) return -1;
    if (!is_http_url(*out) || !(*out)[strcspn(*out, ":") + 3]) {
        /* Whatever precedes an @ may be a password: keep it out of logs. */
        char text[80];
        const char *at = strrchr(*out, '@');
        return yr_fail(p, n, "a URL starting with http:// or https://, such as https://es1:9200",
                       "Elasticsearch host '%s%s' is not an http(s) URL", at ? "...@" : "",
                       yr_shown(at ? at + 1 : *out, text, sizeof text));
    }
    return 0;
}

static int parse_elasticsearch(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *es, *n;
    if (yr_section(p, yr_get(p, root, "elasticsearch"), "elasticsearch", es_keys, &es) < 0) return -1;
    if (!es) return 0;
    if ((n = yr_get(p, es, "hosts"))) {
        if (n->type == YAML_SCALAR_NODE && !yr_is_null(n)) {
            cfg->es.hosts = xcalloc(1, sizeof *cfg->es.hosts);
            cfg->es.nhosts = 1;
            if (parse_host(p, n, &cfg->es.hosts[0]) < 0) return -1;
        } else if (n->type == YAML_SEQUENCE_NODE) {
            cfg->es.nhosts = yr_sequence_size(n);
            cfg->es.hosts = xcalloc(cfg->es.nhosts ? cfg->es.nhosts : 1, sizeof *cfg->es.hosts);
            for (size_t i = 0; i < cfg->es.nhosts; i++)
                if (parse_host(p, yr_item(p, n, i), &cfg->es.hosts[i]) < 0) return -1;
        } else if (!yr_is_null(n)) {
            return yr_fail(p, n, "a list of URLs such as [https://es1:9200, https://es2:9200]",
                           "elasticsearch.hosts is %s", yr_kind(n));
        }
    }
    if (opt_string(p, es, "cloud_id", "elasticsearch.cloud_id", &cfg->es.cloud_id) < 0 ||
        opt_string(p, es, "username", "elasticsearch.username", &cfg->es.username) < 0 ||
        opt_string(p, es, "password", "elasticsearch.password", &cfg->es.password) < 0 ||
        opt_string(p, es, "api_key", "elasticsearch.api_key", &cfg->es.api_key) < 0 ||
        opt_string(p, es, "bearer_token", "elasticsearch.bearer_token", &cfg->es.bearer_token) < 0 ||
        opt_string(p, es, "ca_file", "elasticsearch.ca_file", &cfg->es.ca_file) < 0)
        return -1;
    if ((n = yr_get(p, es, "ca_file"))) {
        cfg->es.ca_file_line = (int)n->start_mark.line + 1;
        cfg->es.ca_file_column = (int)n->start_mark.column + 1;
    }
    if (cfg->es.nhosts && *cfg->es.cloud_id)
        return yr_fail(p, yr_get(p, es, "cloud_id"), "either hosts or cloud_id",
                       "elasticsearch.hosts and elasticsearch.cloud_id are both set");
    if (*cfg->es.api_key && *cfg->es.bearer_token)
        return yr_fail(p, yr_get(p, es, "bearer_token"), "one way to authenticate",
                       "elasticsearch.api_key and elasticsearch.bearer_token are both set");
    if ((n = yr_get(p, es, "verify")) && yr_bool(p, n, "elasticsearch.verify", &cfg->es.verify) < 0) return -1;
    if ((n = yr_get(p, es, "timeout")) && yr_duration(p, n, "elasticsearch.timeout", 1, &cfg->es.timeout_ms) < 0)
        return -1;
    long long page;
    if ((n = yr_get(p, es, "page_size"))) {
        if (yr_int(p, n, "elasticsearch.page_size", 1, 65536, &page) < 0) return -1;
        cfg->es.page_size = (int)page;
    }
    if ((n = yr_get(p, es, "incremental")) && yr_bool(p, n, "elasticsearch.incremental", &cfg->es.incremental) < 0)
        return -1;
    if ((n = yr_get(p, es, "settle")) && yr_duration(p, n, "elasticsearch.settle", 0, &cfg->es.settle_ms) < 0)
        return -1;
    return 0;
}

static int parse_name(yr_parser *p, const yaml_node_t *map, const char *key, const char *what, char **field) {
    const yaml_node_t *n = yr_get(p, map, key);
    if (!n) return 0;
    char *s;
    if (yr_nonempty(p, n, what, "a non-empty name", &s) < 0) return -1;
    if (strlen(s) >= VIZ_NAME_MAX) {
        free(s);
        char expected[64];
        snprintf(expected, sizeof expected, "at most %d bytes", VIZ_NAME_MAX - 1);
        return yr_fail(p, n, expected, "%s is too long", what);
    }
    replace(field, s);
    return 0;
}

/* graph.baseline: `off`, weeks (`1w`, which the duration parser has no unit
 * for) or any duration; at most CFG_MAX_BASELINE_MS, so that a file flow's
 * retention (window + baseline) stays a bounded span. */
static int parse_baseline(yr_parser *p, const yaml_node_t *g, graph_config *gc) {
    const yaml_node_t *n = yr_get(p, g, "baseline");
    if (!n) return 0;
    const char *text = n->type == YAML_SCALAR_NODE ? yr_text(n) : NULL;
    if (text && strcmp(text, "off") == 0) {
        gc->baseline_ms = 0;
        return 0;
    }
    char *end;
    if (text && *text >= '1' && *text <= '9') {
        long long weeks = strtoll(text, &end, 10);
        if (end[0] == 'w' && end[1] == '\0') {
            if (weeks > CFG_MAX_BASELINE_MS / (7LL * 86400000))
                return yr_fail(p, n, "off, or a duration of at most 5w", "graph.baseline is too long");
            gc->baseline_ms = weeks * 7 * 86400000LL;
            return 0;
        }
    }
    char why[ERR_LEN];
    if (!text || util_parse_duration_ms(text, &gc->baseline_ms, why) < 0 || gc->baseline_ms <= 0)
        return yr_fail(p, n, "off, 1w, 1d or a duration such as 36h", "graph.baseline '%s' is not a baseline",
                       text ? text : yr_kind(n));
    if (gc->baseline_ms > CFG_MAX_BASELINE_MS)
        return yr_fail(p, n, "off, or a duration of at most 5w", "graph.baseline is too long");
    return 0;
}

static int parse_graph(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *g, *t, *n;
    graph_config *gc = &cfg->graph;
    if (yr_section(p, yr_get(p, root, "graph"), "graph", graph_keys, &g) < 0) return -1;
    if (!g) return 0;
    if (parse_name(p, g, "name", "graph.name", &gc->name) < 0 ||
        parse_name(p, g, "entry", "graph.entry", &gc->entry) < 0 ||
        parse_name(p, g, "default_region", "graph.default_region", &gc->default_region) < 0)
        return -1;
    long long max;
    if ((n = yr_get(p, g, "max_services"))) {
        if (yr_int(p, n, "graph.max_services", 1, CFG_MAX_SERVICES_LIMIT, &max) < 0) return -1;
        gc->max_services = (int)max;
    }
    if (yr_section(p, yr_get(p, g, "thresholds"), "graph.thresholds", threshold_keys, &t) < 0) return -1;
    if ((n = yr_get(p, t, "warning")) && yr_double(p, n, "graph.thresholds.warning", 0, 1, &gc->warning) < 0) return -1;
    if ((n = yr_get(p, t, "danger")) && yr_double(p, n, "graph.thresholds.danger", 0, 1, &gc->danger) < 0) return -1;
    if ((n = yr_get(p, t, "min_rate")) && yr_double(p, n, "graph.thresholds.min_rate", 0, 1e12, &gc->min_rate) < 0)
        return -1;
    if ((n = yr_get(p, t, "latency_warning")) &&
        yr_duration(p, n, "graph.thresholds.latency_warning", 1, &gc->latency_warning_ms) < 0)
        return -1;
    if ((n = yr_get(p, t, "latency_danger")) &&
        yr_duration(p, n, "graph.thresholds.latency_danger", 1, &gc->latency_danger_ms) < 0)
        return -1;
    if (gc->latency_warning_ms && gc->latency_danger_ms && gc->latency_warning_ms > gc->latency_danger_ms)
        return yr_fail(p, yr_get(p, t, "latency_danger"), "latency_warning <= latency_danger",
                       "graph.thresholds.latency_warning is above graph.thresholds.latency_danger");
    if (gc->warning > gc->danger) {
        n = yr_get(p, t, "danger") ? yr_get(p, t, "danger") : yr_get(p, t, "warning");
        return yr_fail(p, n, "0 <= warning <= danger <= 1",
                       "graph.thresholds.warning (%g) is above graph.thresholds.danger (%g)", gc->warning, gc->danger);
    }
    if ((n = yr_get(p, t, "surge"))) {
        if (yr_double(p, n, "graph.thresholds.surge", 0, 1e6, &gc->surge) < 0) return -1;
        if (!(gc->surge > 1))
            return yr_fail(p, n, "a ratio above 1, such as 3", "graph.thresholds.surge %g marks no change", gc->surge);
    }
    if (parse_baseline(p, g, gc) < 0) return -1;
    if (opt_string(p, g, "notice_link", "graph.notice_link", &gc->notice_link) < 0) return -1;
    if (*gc->notice_link && !is_http_url(gc->notice_link))
        return yr_fail(p, yr_get(p, g, "notice_link"), "a link starting with http:// or https://",
                       "graph.notice_link is not an http(s) link");
    return 0;
}

static int parse_refresh(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *r, *n;
    if (yr_section(p, yr_get(p, root, "refresh"), "refresh", refresh_keys, &r) < 0) return -1;
    if ((n = yr_get(p, r, "interval")) && yr_duration(p, n, "refresh.interval", 1, &cfg->interval_ms) < 0) return -1;
    if ((n = yr_get(p, r, "window")) && yr_duration(p, n, "refresh.window", 1, &cfg->window_ms) < 0) return -1;
    if ((n = yr_get(p, r, "lag")) && yr_duration(p, n, "refresh.lag", 0, &cfg->lag_ms) < 0) return -1;
    if ((n = yr_get(p, r, "deadline")) && yr_duration(p, n, "refresh.deadline", 1, &cfg->deadline_ms) < 0) return -1;
    return 0;
}

int64_t cfg_refresh_deadline_ms(const vizfeed_config *cfg) {
    if (cfg->deadline_ms > 0) return cfg->deadline_ms;
    int64_t es = cfg->es.timeout_ms + 1000;
    return cfg->interval_ms > es ? cfg->interval_ms : es;
}

/* Credentials end up compared byte for byte with what a client sends in an
 * Authorization header, which cannot carry control characters; a Basic user
 * name cannot hold ':' (RFC 7617) and a bearer token holds no space. */
static int check_credential(yr_parser *p, const yaml_node_t *n, const char *what, const char *value,
                            const char *forbidden) {
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            return yr_fail(p, n, "printable characters", "%s contains a control character", what);
        if (strchr(forbidden, *c))
            return yr_fail(p, n, "printable characters other than these: ':' in a user name, ' ' in a token",
                           "%s contains '%c'", what, *c);
    }
    return 0;
}

/* `auth:` protects vizfeed's own endpoints. A written section must end up
 * with one complete form: a ${TOKEN} that expands to "" must not silently
 * open what was meant to be closed. */
static int parse_auth(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *a;
    auth_config *auth = &cfg->auth;
    if (yr_section(p, yr_get(p, root, "auth"), "auth", auth_keys, &a) < 0) return -1;
    if (!a) return 0;
    if (opt_string(p, a, "username", "auth.username", &auth->username) < 0 ||
        opt_string(p, a, "password", "auth.password", &auth->password) < 0 ||
        opt_string(p, a, "bearer_token", "auth.bearer_token", &auth->bearer_token) < 0)
        return -1;
    const char *forms = "either username and password (Basic) or bearer_token (Bearer)";
    bool basic = *auth->username || *auth->password, bearer = *auth->bearer_token;
    if (basic && bearer)
        return yr_fail(p, yr_get(p, a, "bearer_token"), forms, "auth sets both a username/password and a bearer_token");
    if (!basic && !bearer)
        return yr_fail(p, a, "username and password, or bearer_token (leave auth out to keep the endpoints open)",
                       "auth sets no credentials (empty values)");
    if (basic && !*auth->username)
        return yr_fail(p, yr_get(p, a, "password") ? yr_get(p, a, "password") : a, "auth.username beside auth.password",
                       "auth.password is set without auth.username");
    if (basic && !*auth->password)
        return yr_fail(p, yr_get(p, a, "username") ? yr_get(p, a, "username") : a, "auth.password beside auth.username",
                       "auth.username is set without auth.password");
    if (check_credential(p, yr_get(p, a, "username"), "auth.username", auth->username, ":") < 0 ||
        check_credential(p, yr_get(p, a, "password"), "auth.password", auth->password, "") < 0 ||
        check_credential(p, yr_get(p, a, "bearer_token"), "auth.bearer_token", auth->bearer_token, " ") < 0)
        return -1;
    return 0;
}

/* host:port with a numeric port; the HTTP module resolves the host. */
static int parse_listen(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *n = yr_get(p, root, "listen");
    if (!n) return 0;
    char *listen;
    if (yr_nonempty(p, n, "listen", "an address such as 127.0.0.1:8080", &listen) < 0) return -1;
    replace(&cfg->listen, listen);
    cfg->listen_line = (int)n->start_mark.line + 1;
    cfg->listen_column = (int)n->start_mark.column + 1;
    const char *colon = strrchr(cfg->listen, ':');
    bool ok = colon && colon[1] && strlen(colon + 1) <= 5;
    for (const char *q = colon ? colon + 1 : ""; ok && *q; q++) ok = isdigit((unsigned char)*q);
    if (!ok || atoi(colon + 1) > 65535) {
        char text[80];
        return yr_fail(p, n, "HOST:PORT such as 127.0.0.1:8080 or [::1]:8080, port 0 for any free port",
                       "listen address '%s' has no valid port", yr_shown(cfg->listen, text, sizeof text));
    }
    /* As the HTTP server reads it: an IPv6 host in brackets, no other colon. */
    bool bracketed = cfg->listen[0] == '[';
    if (bracketed
            ? colon == cfg->listen || colon[-1] != ']' || memchr(cfg->listen, ']', (size_t)(colon - cfg->listen - 1))
            : memchr(cfg->listen, ':', (size_t)(colon - cfg->listen)) ||
                  memchr(cfg->listen, ']', (size_t)(colon - cfg->listen))) {
        char text[80];
        return yr_fail(p, n, "HOST:PORT such as 127.0.0.1:8080, an IPv6 address in brackets such as [::1]:8080",
                       "listen address '%s' cannot be read", yr_shown(cfg->listen, text, sizeof text));
    }
    return 0;
}

/* One origin of ui.allow_src: http(s)://host[:port], nothing after it but
 * an optional "/". Characters that would need escaping in JSON or in a URL
 * are refused rather than escaped: no real origin has them. */
static int parse_src_origin(yr_parser *p, const yaml_node_t *n, buf *json) {
    static const char expected[] = "an origin such as https://feeder.example:8080";
    char *s, text[120];
    if (n->type != YAML_SCALAR_NODE || yr_is_null(n))
        return yr_fail(p, n, expected, "ui.allow_src item is %s", yr_kind(n));
    if (yr_string(p, n, "ui.allow_src item", &s) < 0) return -1;
    size_t len = strlen(s);
    if (len && s[len - 1] == '/') s[--len] = '\0';
    const char *host = !strncmp(s, "http://", 7) ? s + 7 : !strncmp(s, "https://", 8) ? s + 8 : NULL;
    bool ok = host && *host && len <= 255;
    for (const char *q = host ? host : ""; ok && *q; q++) ok = isalnum((unsigned char)*q) || strchr(".-:[]_", *q);
    if (!ok) {
        yr_shown(s, text, sizeof text);
        free(s);
        return yr_fail(p, n, expected, "ui.allow_src item '%s' is not an http(s) origin (scheme, host, port only)",
                       text);
    }
    buf_printf(json, "%s\"%s\"", json->len > 14 ? "," : "", s);
    free(s);
    return 0;
}

/* ui: { allow_src: true | false | [origins] }: which feeds other than its
 * own the page may show through ?src=. Kept as the JSON the page fetches. */
static int parse_ui(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {
    const yaml_node_t *ui, *n;
    if (yr_section(p, yr_get(p, root, "ui"), "ui", ui_keys, &ui) < 0) return -1;
    if (!ui || !(n = yr_get(p, ui, "allow_src")) || yr_is_null(n)) return 0;
    bool allow = true;
    if (n->type != YAML_SEQUENCE_NODE) {
        if (n->type != YAML_SCALAR_NODE)
            return yr_fail(p, n, "true, false or a list of origins", "ui.allow_src is %s", yr_kind(n));
        if (yr_bool(p, n, "ui.allow_src", &allow) < 0) return -1;
        replace(&cfg->ui_settings, xstrdup(allow ? "{\"allow_src\":true}" : "{\"allow_src\":false}"));
        return 0;
    }
    buf json;
    buf_init(&json, VIZ_MAX_CONFIG_BYTES);
    buf_puts(&json, "{\"allow_src\":[");
    for (size_t i = 0; i < yr_sequence_size(n); i++)
        if (parse_src_origin(p, yr_item(p, n, i), &json) < 0) {
            buf_free(&json);
            return -1;
        }
    buf_puts(&json, "]}");
    replace(&cfg->ui_settings, buf_take(&json, NULL));
    return 0;
}

static int parse_root(yr_parser *p, const yaml_node_t *root, vizfeed_config *cfg) {

    const yaml_node_t *out;
    if (root->type != YAML_MAPPING_NODE)
        return yr_fail(p, root, "a mapping of settings (listen, refresh, graph, elasticsearch, topology, flows)",
                       "the configuration is %s", yr_kind(root));
    if (yr_check_keys(p, root, "the configuration", top_keys) < 0) return -1;
    /* Fixed order, whatever the file's: flows are checked against the
     * elasticsearch section. */
    if (parse_listen(p, root, cfg) < 0 || opt_string(p, root, "cors_origin", "cors_origin", &cfg->cors_origin) < 0 ||
        opt_string(p, root, "ui_dir", "ui_dir", &cfg->ui_dir) < 0 || parse_auth(p, root, cfg) < 0 ||
        parse_refresh(p, root, cfg) < 0 || yr_section(p, yr_get(p, root, "output"), "output", output_keys, &out) < 0 ||
        opt_string(p, out, "file", "output.file", &cfg->output_file) < 0 || parse_graph(p, root, cfg) < 0 ||
        parse_elasticsearch(p, root, cfg) < 0 || parse_topology(p, root, cfg) < 0 || parse_flows(p, root, cfg) < 0 ||
        parse_ui(p, root, cfg) < 0)
        return -1;
    return 0;
}

vizfeed_config *cfg_load(const char *path, char *err) {
    size_t len;
    char *text = yr_read_file(path, &len, err);
    if (!text) return NULL;
    vizfeed_config *cfg = NULL;
    yaml_document_t doc;
    if (yr_load(path, text, len, &doc, err) < 0) goto done;
    yr_parser p = {path, &doc, err};
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    cfg = config_with_defaults(path);
    if (!root || yr_is_null(root)) {
        util_fail(err, "%s:1:1: the configuration is empty; expected at least a flows: list", path);
        goto fail;
    }
    if (parse_root(&p, root, cfg) == 0) goto loaded;
fail:
    cfg_free(cfg);
    cfg = NULL;
loaded:
    yaml_document_delete(&doc);
done:
    free(text);
    return cfg;
}

/* Whether the file holds a PEM certificate: a line "-----BEGIN ...CERTIFICATE-----"
 * (CERTIFICATE, TRUSTED CERTIFICATE, X509 CERTIFICATE), looked for in at most
 * VIZ_MAX_CA_FILE_BYTES. Whether the certificates are good is the TLS library's
 * to say at the first connection; this catches the usual mistakes at load: an
 * empty file, a key, a DER file, the wrong path in a variable. Returns 1 or 0,
 * -1 with errno when reading fails. */
static int has_pem_certificate(int fd) {
    static const char begin[] = "-----BEGIN ", end[] = "CERTIFICATE-----";
    enum { CHUNK = 65536, KEEP = 128 }; /* KEEP: longer than any BEGIN line we accept */
    char *chunk = xmalloc(CHUNK + KEEP);
    size_t kept = 0, total = 0;
    bool found = false;
    ssize_t n = 0;
    while (!found && total < VIZ_MAX_CA_FILE_BYTES && (n = read(fd, chunk + kept, CHUNK)) > 0) {
        total += (size_t)n;
        size_t len = kept + (size_t)n;
        for (const char *at = chunk; !found && (at = memmem(at, len - (size_t)(at - chunk), begin, sizeof begin - 1));
             at++) {
            const char *eol = memchr(at, '\n', len - (size_t)(at - chunk));
            size_t line = eol ? (size_t)(eol - at) : len - (size_t)(at - chunk);
            while (line && (at[line - 1] == '\r' || at[line - 1] == ' ')) line--;
            found = line >= sizeof begin - 1 + sizeof end - 1 && line < KEEP &&
                    memcmp(at + line - (sizeof end - 1), end, sizeof end - 1) == 0;
        }
        kept = len < KEEP ? len : KEEP;
        memmove(chunk, chunk + len - kept, kept);
    }
    int saved = errno;
    free(chunk);
    errno = saved;
    return n < 0 ? -1 : found;
}

int cfg_check_files(const vizfeed_config *cfg, char *err) {
    const char *path = cfg->es.ca_file;
    if (util_str_empty(path)) return 0;
    char why[128] = "";
    struct stat st;
    int pem;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        snprintf(why, sizeof why, "cannot be read: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, sizeof why, "cannot be read: %s",
                 S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
    else if ((pem = has_pem_certificate(fd)) < 0)
        snprintf(why, sizeof why, "cannot be read: %s", strerror(errno));
    else if (!pem)
        snprintf(why, sizeof why, "holds no certificate (no -----BEGIN CERTIFICATE----- line)");
    if (fd >= 0) close(fd);
    if (!why[0]) return 0;
    char text[256];
    return util_fail(err, "%s:%d:%d: elasticsearch.ca_file '%s' %s; expected a PEM file of CA certificates", cfg->path,
                     cfg->es.ca_file_line, cfg->es.ca_file_column, yr_shown(path, text, sizeof text), why);
}

int cfg_check_listen(const vizfeed_config *cfg, char *err) {
    const char *text = cfg->listen ? cfg->listen : "";
    char where[300], shown_text[96], why[200] = "";
    if (cfg->listen_line > 0)
        snprintf(where, sizeof where, "%s:%d:%d: listen", cfg->path, cfg->listen_line, cfg->listen_column);
    else
        snprintf(where, sizeof where, "--listen");
    yr_shown(text, shown_text, sizeof shown_text);
    /* The same reading as http.c's: a host, then the port after the last colon. */
    char host[256] = "";
    const char *port_text = NULL;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close && close[1] == ':' && (size_t)(close - text - 1) < sizeof host) {
            memcpy(host, text + 1, (size_t)(close - text - 1));
            host[close - text - 1] = '\0';
            port_text = close + 2;
        }
    } else {
        const char *colon = strrchr(text, ':');
        if (colon && (size_t)(colon - text) < sizeof host && !memchr(text, ':', (size_t)(colon - text))) {
            memcpy(host, text, (size_t)(colon - text));
            host[colon - text] = '\0';
            port_text = colon + 1;
        }
    }
    char *end = NULL;
    long port = port_text ? strtol(port_text, &end, 10) : -1;
    if (!port_text || !*port_text || *end || !isdigit((unsigned char)*port_text) || port > 65535)
        return util_fail(
            err, "%s address '%s' cannot be read; expected HOST:PORT such as 127.0.0.1:8080, [::1]:8080 or :8080",
            where, shown_text);
    if (!host[0]) return 0; /* every interface */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(why, sizeof why, "cannot be resolved (%s)", gai_strerror(rc));
    } else {
        /* Port 0: only whether the address is one of this machine's. */
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) < 0 && errno == EADDRNOTAVAIL)
            snprintf(why, sizeof why, "is not an address of this machine (%s)", strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
    }
    if (!why[0]) return 0;
    return util_fail(err,
                     "%s address '%s': the host %s; expected an address of this machine, a name that resolves to "
                     "one, or :PORT for every interface",
                     where, shown_text, why);
}
