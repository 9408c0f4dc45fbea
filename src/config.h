/*
 * config.h - the resolved configuration of vizfeed (README.md, "Configuration") and its loader.
 *
 * Calling sequence: cfg_load() reads a YAML file with libyaml, expands
 * ${VAR} and ${VAR:default} from the environment, applies presets and
 * defaults, validates everything, and returns a vizfeed_config that the
 * caller owns and releases with cfg_free(). cfg_demo() builds the
 * configuration of `vizfeed --demo` without any file.
 *
 * Errors: cfg_load() returns NULL and writes one line into err, always of
 * the form "FILE:LINE:COLUMN: what was wrong, what was expected". Unknown
 * keys are errors. Nothing is printed.
 *
 * All strings in these structs are owned by the configuration (malloc'd) and
 * never NULL unless a comment says so; "" means "not set".
 *
 * Threads: a configuration is not changed once it is in use (main.c sets
 * record_dir before); a reload loads a new one beside it (daemon.c), so
 * the refresher, its workers and the sources read theirs from any thread
 * without a lock, and it is freed only once nothing uses it. cfg_load()
 * reads the environment (yaml_read.h: no setenv() may race it).
 */
#ifndef VIZ_CONFIG_H
#define VIZ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "graph_config.h"
#include "rows.h"
#include "topology_config.h"

/* An endpoint part may name a list of fields, the first present one giving
 * the value (`to: { service: [a, b, c] }`): the first is fields[], the rest
 * alt_fields[] ("" when unused). */
#define FLOW_MAX_FIELD_ALTS 3

/* A scalar written in the configuration. `text` is always set: for numbers
 * and booleans it is the canonical text ("200", "true"), which is also what a
 * keyword field holding that value contains. */
typedef enum { VALUE_STRING, VALUE_NUMBER, VALUE_BOOL } value_type;
typedef struct {
    value_type type;
    char *text;
    double number; /* VALUE_NUMBER */
    bool boolean;  /* VALUE_BOOL */
} cfg_value;

typedef enum { COND_EQUALS, COND_IN, COND_RANGE, COND_EXISTS, COND_PREFIX, COND_NOT, COND_ALL } cond_kind;
enum { BOUND_GTE, BOUND_GT, BOUND_LTE, BOUND_LT, BOUND_COUNT };

/* One condition of `where`, `warning` or `danger` (README.md, "Configuration"). Its meaning is
 * defined once, in cond.h, both in memory and as Elasticsearch query DSL. */
typedef struct condition {
    cond_kind kind;
    char *field;       /* every kind but NOT and ALL */
    cfg_value *values; /* EQUALS: 1 value, IN: nvalues */
    size_t nvalues;
    bool has_bound[BOUND_COUNT]; /* RANGE: numeric bounds */
    double bound[BOUND_COUNT];
    bool exists;                /* EXISTS: true or false */
    char *prefix;               /* PREFIX */
    struct condition *children; /* NOT: 1 child, ALL: nchildren */
    size_t nchildren;
} condition;

typedef struct {
    condition *items;
    size_t n;
} condition_list;

/* A replay flow is written exactly like the elasticsearch flow it replays
 * (same preset and fields), with `type: replay` and `path:` the directory
 * that `--record` filled; it answers from the recorded pages. */
typedef enum { FLOW_ELASTICSEARCH, FLOW_FILE, FLOW_DEMO, FLOW_REPLAY } flow_type;

/* Tagged so that headers can point to one without including this file. */
typedef struct flow_config {
    char *name;
    flow_type type;
    char *preset;                                    /* "" when none */
    char *index;                                     /* elasticsearch: index pattern(s), comma separated */
    char *path;                                      /* file: NDJSON path */
    uint64_t seed;                                   /* demo: generator seed (default 1) */
    condition_list where;                            /* all must hold */
    condition_list warning;                          /* any makes an event "warning" */
    condition_list danger;                           /* any makes it "danger" (danger wins) */
    char *fields[EP_COUNT];                          /* document field per endpoint part; "" = not read */
    char *alt_fields[EP_COUNT][FLOW_MAX_FIELD_ALTS]; /* tried in order when fields[] is absent; "" = none */
    /* A field written A:B (otel-spans' attributes.server.address:attributes.server.port):
     * A is in fields[]/alt_fields[] and B here, at [part][0] for fields[part] and
     * [part][k + 1] for alt_fields[part][k]; the value is A's, then ':' and B's
     * when the event has B (host:port). "" = no join. */
    char *join_fields[EP_COUNT][1 + FLOW_MAX_FIELD_ALTS];
    char *count_field;     /* "" = one per event; else a numeric field summed */
    char *timestamp_field; /* default "@timestamp" */
    char *danger_label;    /* what danger means, for notices: "5xx", "down"... default "errors" */
    char *warning_label;   /* default "warnings" */
    /* "" = classes come from the conditions; else the danger class of an
     * event counts this field (its failed calls) and the rest of its count
     * is normal: pre-aggregated metrics that carry both totals in one
     * document (otel-servicegraph). Excludes warning and danger conditions. */
    char *danger_count_field;
    /* What a document without the count field counts (flow key
     * count_missing): the representative count of a span is 1 where the
     * data does not carry it. Without the key such a document counts 0, as
     * a sum aggregation has it. */
    double count_missing;
    bool has_count_missing;
    /* Latency (flow key `latency`): either one duration per event
     * (latency_field) or a pre-aggregated sum and the number of calls it
     * covers (latency_sum_field, latency_count_field); all "" = none.
     * latency_unit_ms converts the field's unit to milliseconds. */
    char *latency_field;
    char *latency_sum_field;
    char *latency_count_field;
    double latency_unit_ms;
    /* latency.weight (with latency_field only): each document's durations
     * weigh as many calls as this numeric field says, 1 where it has none
     * (a sampled span's representative count), so the average is the
     * traffic's rather than the stored samples'; "" = every duration weighs 1. */
    char *latency_weight_field;
    /* resolve_callee: callee names that are addresses (host:port) become the
     * service that serves them, learned in the same window from the events
     * resolve_where keeps (a Server span): resolve_address (joined with
     * resolve_address_join as A:B when set) names the address, resolve_service
     * the service. resolve_service "" = off. source_resolve.c does it. */
    condition_list resolve_where;
    char *resolve_address;
    char *resolve_address_join;
    char *resolve_service;
} flow_config;

typedef struct {
    char **hosts; /* base URLs, at least one unless cloud_id is set */
    size_t nhosts;
    char *cloud_id;
    char *username;
    char *password;     /* secret */
    char *api_key;      /* secret */
    char *bearer_token; /* secret */
    char *ca_file;
    int ca_file_line; /* where ca_file is written, for cfg_check_files(); 0 when not written */
    int ca_file_column;
    bool verify;        /* default true */
    int64_t timeout_ms; /* default 20s */
    int page_size;      /* default 5000 */
    bool incremental;   /* default true: a ring of slices, each refresh asks only for new ones (source_es.c) */
    int64_t settle_ms;  /* how long a slice is checked for late data; -1 = ES_SETTLE_INTERVALS refresh intervals */
} es_config;

/* vizfeed's own endpoints: either Basic (username and password) or Bearer
 * (bearer_token), or none (all three ""): then everything is open. /healthz
 * and CORS preflights are always open. */
typedef struct {
    char *username;
    char *password;     /* secret */
    char *bearer_token; /* secret */
} auth_config;

typedef struct {
    char *path;      /* the file it was loaded from ("" for --demo) */
    char *listen;    /* default "127.0.0.1:8080" */
    int listen_line; /* where listen is written, for cfg_check_listen(); 0: default or --listen */
    int listen_column;
    char *cors_origin;   /* default "*" */
    char *ui_dir;        /* default VIZFEED_UI_DIR (meson option ui_dir) */
    char *ui_settings;   /* JSON the page reads at /ui-settings.json: {"allow_src":true|false|["origin",...]}; default
                            true */
    auth_config auth;    /* default: none */
    int64_t interval_ms; /* default 10s */
    int64_t window_ms;   /* default 2m */
    int64_t lag_ms;      /* default 15s */
    int64_t deadline_ms; /* refresh.deadline; 0 = derived, see cfg_refresh_deadline_ms() */
    char *output_file;   /* "" = no file output */
    graph_config graph;
    es_config es;
    topology_entry *topology;
    size_t ntopology;
    flow_config *flows; /* at least one */
    size_t nflows;
    char *record_dir; /* "" = off; set from `--record DIR`, not from the file */
} vizfeed_config;

vizfeed_config *cfg_load(const char *path, char *err);
/* The configuration of `vizfeed --demo`: defaults plus one demo flow. */
vizfeed_config *cfg_demo(void);
void cfg_free(vizfeed_config *cfg);

/* The files the configuration names and vizfeed opens later (today
 * elasticsearch.ca_file): each must be a readable regular file. cfg_load()
 * leaves the file system alone; this check, run by every command that
 * connects, by `check` and by a reload, turns a missing CA file into an
 * error at its place in the configuration instead of a TLS failure at every
 * refresh. Returns 0, or -1 with "FILE:LINE:COLUMN: ...; expected ..." in err. */
int cfg_check_files(const vizfeed_config *cfg, char *err);

/* Whether the daemon can listen where cfg->listen says: HOST:PORT, [V6]:PORT
 * or :PORT as the HTTP server reads it, a host that resolves, and an address
 * of this machine (a socket is bound to it on port 0, so a daemon already
 * listening there is no obstacle). Run by `check`, the daemon's start and a
 * reload, so that an unusable address is a configuration error (exit 2)
 * rather than a daemon that exits 1 and is restarted forever. It may ask the
 * resolver. Returns 0, or -1 with "FILE:LINE:COLUMN: ...; expected ..." in
 * err ("--listen ..." when the address came from the command line). */
int cfg_check_listen(const vizfeed_config *cfg, char *err);

/* Prints the resolved configuration as YAML (presets expanded, defaults
 * filled in, secrets replaced by "********"), for `vizfeed check`. */
void cfg_print(const vizfeed_config *cfg, FILE *out);

const char *cfg_flow_type_name(flow_type t);

/* How long one refresh may take a flow (refresh.deadline): as set, else the
 * interval, or elasticsearch.timeout plus a second when that is longer, so
 * that a first page gets its whole timeout. */
int64_t cfg_refresh_deadline_ms(const vizfeed_config *cfg);

#endif
