/*
 * init.c - `vizfeed init`: a starting configuration from what a cluster holds
 * (see init.h).
 *
 * The presets are resolved by loading a small generated configuration (one
 * elasticsearch flow per preset) with cfg_load(), so init sees exactly the
 * fields, conditions and default indices a flow naming the preset gets; the
 * count query is built with cond_to_es(), the translation every refresh uses.
 */
#include "bounds.h"
#include "init.h"

#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "cond.h"
#include "config.h"
#include "es_client.h"
#include "es_query.h"
#include "jsonw.h"
#include "preset.h"
#include "util.h"

#define INIT_EXIT_RUNTIME 1
#define INIT_EXIT_USAGE   2
#define INIT_HOUR_MS      (60 * 60 * 1000)

static const char init_usage[] =
    "usage: vizfeed init --es URL [--username U --password P | --api-key K | --bearer-token T]\n"
    "                    [--ca-file PEM] [--insecure] [--timeout 20s] [--at TIME]\n"
    "\n"
    "Looks at the cluster (data streams, indices, their fields) and prints a starting\n"
    "configuration: one flow per data source a preset recognises, a comment for the rest.\n"
    "Credentials may also come from ES_PASSWORD, ES_API_KEY or ES_BEARER_TOKEN.\n";

typedef struct {
    const char *url;
    es_config es;
    const char *at;
} init_options;

__attribute__((format(printf, 1, 2))) static int init_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vizfeed init: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vizfeed init --help'.\n");
    return INIT_EXIT_USAGE;
}

static const char *env_or(const char *value, const char *name) {
    if (value) return value;
    const char *e = getenv(name);
    return e ? e : "";
}

/* Returns -1 to go on, or an exit code. */
static int parse_init_options(int argc, char **argv, init_options *o) {
    enum { O_ES = 256, O_USER, O_PASS, O_KEY, O_TOKEN, O_CA, O_INSECURE, O_TIMEOUT, O_AT, O_HELP };
    static const struct option table[] = {{"es", required_argument, NULL, O_ES},
                                          {"username", required_argument, NULL, O_USER},
                                          {"password", required_argument, NULL, O_PASS},
                                          {"api-key", required_argument, NULL, O_KEY},
                                          {"bearer-token", required_argument, NULL, O_TOKEN},
                                          {"ca-file", required_argument, NULL, O_CA},
                                          {"insecure", no_argument, NULL, O_INSECURE},
                                          {"timeout", required_argument, NULL, O_TIMEOUT},
                                          {"at", required_argument, NULL, O_AT},
                                          {"help", no_argument, NULL, O_HELP},
                                          {NULL, 0, NULL, 0}};
    const char *user = NULL, *pass = NULL, *key = NULL, *token = NULL, *ca = NULL;
    memset(o, 0, sizeof *o);
    o->es.verify = true;
    o->es.timeout_ms = 20000;
    o->es.page_size = 5000;
    opterr = 0;
    optind = 1;
    int c;
    char err[ERR_LEN];
    while ((c = getopt_long(argc, argv, "h", table, NULL)) != -1) {
        switch (c) {
        case O_ES:
            o->url = optarg;
            break;
        case O_USER:
            user = optarg;
            break;
        case O_PASS:
            pass = optarg;
            break;
        case O_KEY:
            key = optarg;
            break;
        case O_TOKEN:
            token = optarg;
            break;
        case O_CA:
            ca = optarg;
            break;
        case O_INSECURE:
            o->es.verify = false;
            break;
        case O_TIMEOUT:
            if (util_parse_duration_ms(optarg, &o->es.timeout_ms, err) < 0 || o->es.timeout_ms <= 0)
                return init_usage_error("--timeout takes a duration such as 20s, not '%s'", optarg);
            break;
        case O_AT:
            o->at = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(init_usage, stdout);
            return 0;
        case ':':
            return init_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return init_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return init_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->url) return init_usage_error("%s", "--es URL is required (the cluster to look at)");
    if (strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0)
        return init_usage_error("--es takes an http:// or https:// URL, not '%s'", o->url);
    for (const char *p = o->url; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            return init_usage_error("--es: '%s' holds a quote, backslash or control character", o->url);
    o->es.username = (char *)(user ? user : "");
    o->es.password = (char *)env_or(pass, "ES_PASSWORD");
    o->es.api_key = (char *)env_or(key, "ES_API_KEY");
    o->es.bearer_token = (char *)env_or(token, "ES_BEARER_TOKEN");
    if (*o->es.password && !*o->es.username) o->es.password = (char *)"";
    o->es.ca_file = (char *)(ca ? ca : "");
    o->es.cloud_id = (char *)"";
    return -1;
}

/* ---- talking to the cluster ------------------------------------------ */

static int collect_body(void *ctx, const char *data, size_t len) {
    return buf_append(ctx, data, len) < 0;
}

/* method path [body] -> the parsed JSON answer of a 200, or NULL with err. */
static yajl_val request_json(es_client *c, const char *method, const char *path, const char *body, char *err) {
    buf b;
    buf_init(&b, INIT_MAX_ANSWER);
    es_response resp;
    char why[ERR_LEN];
    yajl_val v = NULL;
    if (es_client_request(c, method, path, body, body ? strlen(body) : 0, "vizfeed-init", collect_body, &b, &resp,
                          why) < 0) {
        util_fail(err, "%s %s: %s", method, path, why);
    } else if (resp.status != 200) {
        util_fail(err, "%s %s: HTTP %d: %.300s", method, path, resp.status, b.len ? buf_cstr(&b) : "");
    } else {
        char perr[256];
        v = yajl_tree_parse(b.len ? buf_cstr(&b) : "", perr, sizeof perr);
        if (!v) util_fail(err, "%s %s: the answer is not JSON (%.200s)", method, path, perr);
    }
    buf_free(&b);
    return v;
}

static const char *str_at(yajl_val obj, const char *key) {
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : NULL;
}

/* ---- what the cluster holds ------------------------------------------ */

typedef struct {
    char *name;
    bool stream; /* a data stream, else an index */
    bool read;   /* a proposed flow reads it */
} target;

typedef struct {
    target *items;
    size_t n, cap;
} target_list;

static void targets_add(target_list *l, const char *name, bool stream) {
    if (!name || !*name || name[0] == '.') return; /* hidden and system names */
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->items = xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->n++] = (target){xstrdup(name), stream, false};
}

static int cmp_target(const void *a, const void *b) {
    return strcmp(((const target *)a)->name, ((const target *)b)->name);
}

static int list_targets(es_client *c, target_list *out, char *err) {
    yajl_val v = request_json(c, "GET", "/_resolve/index/*?expand_wildcards=open", NULL, err);
    if (!v) return -1;
    const char *ds_path[] = {"data_streams", NULL}, *ix_path[] = {"indices", NULL};
    yajl_val streams = yajl_tree_get(v, ds_path, yajl_t_array);
    yajl_val indices = yajl_tree_get(v, ix_path, yajl_t_array);
    for (size_t i = 0; streams && i < YAJL_GET_ARRAY(streams)->len; i++)
        targets_add(out, str_at(YAJL_GET_ARRAY(streams)->values[i], "name"), true);
    for (size_t i = 0; indices && i < YAJL_GET_ARRAY(indices)->len; i++) {
        yajl_val ix = YAJL_GET_ARRAY(indices)->values[i];
        if (str_at(ix, "data_stream")) continue; /* a backing index: its stream is listed */
        targets_add(out, str_at(ix, "name"), false);
    }
    yajl_tree_free(v);
    qsort(out->items, out->n, sizeof *out->items, cmp_target);
    return 0;
}

/* Does a comma-separated index pattern list (no exclusions) match name? */
static bool patterns_match(const char *patterns, const char *name) {
    char *copy = xstrdup(patterns), *save = NULL;
    bool hit = false;
    for (char *p = strtok_r(copy, ",", &save); p && !hit; p = strtok_r(NULL, ",", &save))
        hit = fnmatch(p, name, 0) == 0;
    free(copy);
    return hit;
}

/* Is every field mapped in at least one index the patterns cover? */
static int fields_mapped(es_client *c, const char *index, const char *const *fields, size_t n, const char **missing,
                         char *err) {
    buf path;
    buf_init(&path, 1 << 16);
    buf_printf(&path, "/%s/_field_caps?ignore_unavailable=true&allow_no_indices=true&fields=", index);
    for (size_t i = 0; i < n; i++) buf_printf(&path, "%s%s", i ? "," : "", fields[i]);
    /* A cut path would ask about other fields than the caller's. */
    yajl_val v = buf_failed(&path) ? NULL : request_json(c, "GET", buf_cstr(&path), NULL, err);
    if (buf_failed(&path)) util_fail(err, "the _field_caps path for %s is longer than %zu bytes", index, path.max);
    buf_free(&path);
    if (!v) return -1;
    *missing = NULL;
    for (size_t i = 0; i < n && !*missing; i++) {
        const char *p[] = {"fields", fields[i], NULL};
        if (!yajl_tree_get(v, p, yajl_t_object)) *missing = fields[i];
    }
    yajl_tree_free(v);
    return 0;
}

/* Documents the flow's `where` keeps, in [start, end) when start < end, else ever. */
static int count_documents(es_client *c, const flow_config *f, int64_t start, int64_t end, int64_t *count, char *err) {
    buf body, path;
    buf_init(&body, 1 << 20);
    buf_init(&path, 1 << 16);
    jsonw w;
    jsonw_init(&w, &body);
    jsonw_object_begin(&w);
    jsonw_key(&w, "size");
    jsonw_int(&w, 0);
    jsonw_key(&w, "track_total_hits");
    jsonw_bool(&w, true);
    jsonw_key(&w, "query");
    jsonw_object_begin(&w);
    jsonw_key(&w, "bool");
    jsonw_object_begin(&w);
    jsonw_key(&w, "filter");
    jsonw_array_begin(&w);
    if (start < end) es_query_range(&w, f->timestamp_field, start, end);
    for (size_t i = 0; i < f->where.n; i++) cond_to_es(&f->where.items[i], &w);
    jsonw_array_end(&w);
    jsonw_object_end(&w);
    jsonw_object_end(&w);
    jsonw_object_end(&w);
    buf_printf(&path, "/%s/_search?ignore_unavailable=true&allow_no_indices=true", f->index);
    int rc = -1;
    bool too_long = jsonw_failed(&w) || buf_failed(&path);
    if (too_long) util_fail(err, "flow %s: the count request for %s is too long", f->name, f->index);
    yajl_val v = too_long ? NULL : request_json(c, "POST", buf_cstr(&path), buf_cstr(&body), err);
    if (v) {
        const char *as_object[] = {"hits", "total", "value", NULL}, *as_int[] = {"hits", "total", NULL};
        yajl_val t = yajl_tree_get(v, as_object, yajl_t_number);
        if (!t) t = yajl_tree_get(v, as_int, yajl_t_number);
        if (t && YAJL_IS_INTEGER(t)) {
            *count = YAJL_GET_INTEGER(t);
            rc = 0;
        } else {
            util_fail(err, "POST %s: no hits.total in the answer", buf_cstr(&path));
        }
        yajl_tree_free(v);
    }
    buf_free(&body);
    buf_free(&path);
    return rc;
}

/* ---- the presets, resolved as flows ------------------------------------ */

/* One elasticsearch flow per preset, loaded like a user's configuration. */
static vizfeed_config *preset_flows(const char *url, char *err) {
    char path[] = "/tmp/vizfeed-init-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        util_fail(err, "cannot create a temporary file in /tmp");
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        util_fail(err, "cannot write a temporary file in /tmp");
        return NULL;
    }
    fprintf(f, "elasticsearch: { hosts: [\"%s\"] }\nflows:\n", url);
    for (size_t i = 0; i < preset_count(); i++)
        fprintf(f, "  - { name: \"%s\", type: elasticsearch, preset: \"%s\" }\n", preset_at(i)->name,
                preset_at(i)->name);
    fclose(f);
    vizfeed_config *cfg = cfg_load(path, err);
    unlink(path);
    return cfg;
}

static void print_quoted(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int init_main(int argc, char **argv) {
    init_options o;
    int rc = parse_init_options(argc, argv, &o);
    if (rc >= 0) return rc;
    char err[ERR_LEN] = "";
    int64_t end_ms;
    if (o.at) {
        if (util_parse_time_ms(o.at, &end_ms, err) < 0) return init_usage_error("--at: %s", err);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        end_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    char *hosts[] = {(char *)o.url};
    o.es.hosts = hosts;
    o.es.nhosts = 1;

    vizfeed_config *presets = preset_flows(o.url, err);
    if (!presets) {
        fprintf(stderr, "vizfeed init: %s\n", err);
        return INIT_EXIT_RUNTIME;
    }
    es_client *c = es_client_new(&o.es, err);
    target_list targets = {0};
    buf flows;
    buf_init(&flows, 1 << 24);
    size_t proposed = 0;
    rc = INIT_EXIT_RUNTIME;
    if (!c || list_targets(c, &targets, err) < 0) goto failed;

    printf("# vizfeed configuration proposed by `vizfeed init` for %s\n", o.url);
    printf("# %zu data streams and indices seen; check with `vizfeed check -c FILE`, then add topology.\n", targets.n);
    printf("elasticsearch:\n  hosts: [");
    print_quoted(stdout, o.url);
    printf("]\n");
    if (*o.es.username) {
        printf("  username: ");
        print_quoted(stdout, o.es.username);
        printf("\n  password: ${ES_PASSWORD}\n");
    } else if (*o.es.api_key) {
        printf("  api_key: ${ES_API_KEY}\n");
    } else if (*o.es.bearer_token) {
        printf("  bearer_token: ${ES_BEARER_TOKEN}\n");
    }
    if (*o.es.ca_file) {
        printf("  ca_file: ");
        print_quoted(stdout, o.es.ca_file);
        printf("\n");
    }
    if (!o.es.verify) printf("  verify: false\n");

    for (size_t i = 0; i < presets->nflows; i++) {
        const flow_config *f = &presets->flows[i];
        size_t matched = 0;
        for (size_t t = 0; t < targets.n; t++) matched += patterns_match(f->index, targets.items[t].name);
        if (matched == 0) continue;
        const char *need[] = {f->fields[EP_TO_SERVICE], f->timestamp_field}, *missing = NULL;
        int64_t ever = 0, hour = 0;
        if (fields_mapped(c, f->index, need, 2, &missing, err) < 0) goto failed;
        if (missing) {
            buf_printf(&flows, "  # %s: %s matches %zu, but %s is not mapped there\n", f->name, f->index, matched,
                       missing);
            continue;
        }
        if (count_documents(c, f, 0, 0, &ever, err) < 0 ||
            count_documents(c, f, end_ms - INIT_HOUR_MS, end_ms, &hour, err) < 0)
            goto failed;
        if (ever == 0) {
            buf_printf(&flows, "  # %s: %s matches %zu, but none of their documents is %s data\n", f->name, f->index,
                       matched, f->name);
            continue;
        }
        buf_printf(&flows, "  # %s: %" PRId64 " documents in the last hour (%" PRId64 " in all); its index covers",
                   f->name, hour, ever);
        for (size_t t = 0; t < targets.n; t++) {
            if (!patterns_match(f->index, targets.items[t].name)) continue;
            targets.items[t].read = true;
            buf_printf(&flows, " %s", targets.items[t].name);
        }
        buf_printf(&flows, "\n  - name: \"%s\"\n    type: elasticsearch\n    preset: \"%s\"\n    index: \"%s\"\n",
                   f->name, f->name, f->index);
        proposed++;
    }
    if (proposed) {
        printf("flows:\n%s", buf_cstr(&flows));
    } else {
        printf("# no flow: no data source was recognised\n%s", flows.len ? buf_cstr(&flows) : "");
    }
    for (size_t t = 0; t < targets.n; t++)
        if (!targets.items[t].read)
            printf("# not mapped: %s %s (no preset reads it; write a flow with your own fields)\n",
                   targets.items[t].stream ? "data stream" : "index", targets.items[t].name);
    rc = proposed ? 0 : INIT_EXIT_RUNTIME;
    if (!proposed) fprintf(stderr, "vizfeed init: no data source was recognised on %s\n", o.url);
    goto done;
failed:
    /* Nothing half-written on stdout is worth keeping: say why, exit 1. */
    fflush(stdout);
    fprintf(stderr, "vizfeed init: %s\n", err);
    rc = INIT_EXIT_RUNTIME;
done:
    for (size_t t = 0; t < targets.n; t++) free(targets.items[t].name);
    free(targets.items);
    buf_free(&flows);
    es_client_free(c);
    cfg_free(presets);
    return rc;
}
