/*
 * test_config.c - the configuration loader: every broken file of
 * tests/configs/bad gives its expected one-line error, every file of
 * tests/configs/good loads and survives cfg_print -> cfg_load, and the
 * values, presets, ${VAR} expansion and secret masking behave as SPEC §2
 * says. Runs with tests/ as the working directory.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Before cmocka.h, whose util_fail() macro would clash with util.h's util_fail(). */
#include "config.h"
#include "bounds.h"
#include "preset.h"
#include "util.h"

#include <cmocka.h>

static char tmpdir[64];
static int tmpcount;

static int make_tmpdir(void **state) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vizfeed-test-config-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
    DIR *d = opendir(tmpdir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
    return 0;
}

/* Writes text to a fresh file of the temp dir; returns its path (static). */
static const char *write_config(const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/config-%d.yml", tmpdir, tmpcount++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static vizfeed_config *load_text(const char *text) {
    char err[ERR_LEN] = "";
    vizfeed_config *cfg = cfg_load(write_config(text), err);
    if (!cfg) fail_msg("unexpected error: %s", err);
    return cfg;
}

static void expect_error(const char *text, const char *expected) {
    char err[ERR_LEN] = "";
    vizfeed_config *cfg = cfg_load(write_config(text), err);
    if (cfg) {
        cfg_free(cfg);
        fail_msg("loaded, but expected an error containing '%s'", expected);
    }
    if (!strstr(err, expected)) fail_msg("error '%s' lacks '%s'", err, expected);
}

static char *print_to_string(const vizfeed_config *cfg) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cfg_print(cfg, f);
    fclose(f);
    return text;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- corpus ---------------------------------------------------------- */

static void test_bad_corpus(void **state) {
    unsetenv("VIZFEED_TEST_SURELY_UNSET");
    DIR *d = opendir("configs/bad");
    assert_non_null(d);
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".yml")) continue;
        char path[512], expect_path[512], expect[512] = "", err[ERR_LEN] = "";
        snprintf(path, sizeof path, "configs/bad/%s", e->d_name);
        snprintf(expect_path, sizeof expect_path, "configs/bad/%.*s.expect", (int)(strlen(e->d_name) - 4), e->d_name);
        FILE *f = fopen(expect_path, "r");
        if (!f) fail_msg("%s has no %s", path, expect_path);
        if (!fgets(expect, sizeof expect, f)) expect[0] = '\0';
        fclose(f);
        expect[strcspn(expect, "\n")] = '\0';
        assert_true(strlen(expect) > 0);

        vizfeed_config *cfg = cfg_load(path, err);
        if (cfg) {
            cfg_free(cfg);
            fail_msg("%s loaded, but should fail with '%s'", path, expect);
        }
        if (!strstr(err, expect)) fail_msg("%s: error '%s' lacks '%s'", path, err, expect);
        /* One line, "FILE:LINE:COLUMN: what; expected what". */
        if (strchr(err, '\n')) fail_msg("%s: error spans lines: %s", path, err);
        if (strncmp(err, path, strlen(path)) || err[strlen(path)] != ':')
            fail_msg("%s: error does not start with the file name: %s", path, err);
        if (!strstr(err, "; expected ")) fail_msg("%s: error does not say what was expected: %s", path, err);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 25);
}

/* Compares two configurations field by field; secrets of `masked` are
 * expected to be the mask wherever `orig` had one. */
static void assert_value_equal(const cfg_value *a, const cfg_value *b) {
    assert_int_equal(a->type, b->type);
    assert_string_equal(a->text, b->text);
    if (a->type == VALUE_NUMBER) assert_true(a->number == b->number);
    if (a->type == VALUE_BOOL) assert_int_equal(a->boolean, b->boolean);
}

static void assert_condition_equal(const condition *a, const condition *b) {
    assert_int_equal(a->kind, b->kind);
    if (a->field || b->field) assert_string_equal(a->field, b->field);
    assert_int_equal(a->nvalues, b->nvalues);
    for (size_t i = 0; i < a->nvalues; i++) assert_value_equal(&a->values[i], &b->values[i]);
    for (int i = 0; i < BOUND_COUNT; i++) {
        assert_int_equal(a->has_bound[i], b->has_bound[i]);
        if (a->has_bound[i]) assert_true(a->bound[i] == b->bound[i]);
    }
    if (a->kind == COND_EXISTS) assert_int_equal(a->exists, b->exists);
    if (a->prefix || b->prefix) assert_string_equal(a->prefix, b->prefix);
    assert_int_equal(a->nchildren, b->nchildren);
    for (size_t i = 0; i < a->nchildren; i++) assert_condition_equal(&a->children[i], &b->children[i]);
}

static void assert_list_equal(const condition_list *a, const condition_list *b) {
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) assert_condition_equal(&a->items[i], &b->items[i]);
}

static void assert_secret(const char *orig, const char *masked) {
    assert_string_equal(masked, *orig ? "********" : "");
}

static void assert_config_equal(const vizfeed_config *a, const vizfeed_config *b) {
    assert_string_equal(a->listen, b->listen);
    assert_string_equal(a->cors_origin, b->cors_origin);
    assert_string_equal(a->ui_dir, b->ui_dir);
    assert_string_equal(a->auth.username, b->auth.username);
    assert_secret(a->auth.password, b->auth.password);
    assert_secret(a->auth.bearer_token, b->auth.bearer_token);
    assert_int_equal(a->interval_ms, b->interval_ms);
    assert_int_equal(a->window_ms, b->window_ms);
    assert_int_equal(a->lag_ms, b->lag_ms);
    assert_string_equal(a->output_file, b->output_file);
    assert_string_equal(a->graph.name, b->graph.name);
    assert_string_equal(a->graph.entry, b->graph.entry);
    assert_string_equal(a->graph.default_region, b->graph.default_region);
    assert_int_equal(a->graph.max_services, b->graph.max_services);
    assert_true(a->graph.warning == b->graph.warning);
    assert_true(a->graph.danger == b->graph.danger);
    assert_true(a->graph.min_rate == b->graph.min_rate);
    assert_string_equal(a->graph.notice_link, b->graph.notice_link);
    assert_int_equal(a->graph.baseline_ms, b->graph.baseline_ms);
    assert_true(a->graph.surge == b->graph.surge);
    assert_int_equal(a->es.nhosts, b->es.nhosts);
    for (size_t i = 0; i < a->es.nhosts; i++)
        if (!strchr(a->es.hosts[i], '@')) assert_string_equal(a->es.hosts[i], b->es.hosts[i]);
    assert_string_equal(a->es.cloud_id, b->es.cloud_id);
    assert_string_equal(a->es.username, b->es.username);
    assert_secret(a->es.password, b->es.password);
    assert_secret(a->es.api_key, b->es.api_key);
    assert_secret(a->es.bearer_token, b->es.bearer_token);
    assert_string_equal(a->es.ca_file, b->es.ca_file);
    assert_int_equal(a->es.verify, b->es.verify);
    assert_int_equal(a->es.timeout_ms, b->es.timeout_ms);
    assert_int_equal(a->es.page_size, b->es.page_size);
    assert_int_equal(a->ntopology, b->ntopology);
    for (size_t i = 0; i < a->ntopology; i++) {
        assert_string_equal(a->topology[i].match, b->topology[i].match);
        assert_string_equal(a->topology[i].service, b->topology[i].service);
        assert_string_equal(a->topology[i].region, b->topology[i].region);
    }
    assert_int_equal(a->nflows, b->nflows);
    for (size_t i = 0; i < a->nflows; i++) {
        const flow_config *f = &a->flows[i], *g = &b->flows[i];
        assert_string_equal(f->name, g->name);
        assert_int_equal(f->type, g->type);
        assert_string_equal(f->preset, g->preset);
        assert_string_equal(f->index, g->index);
        assert_string_equal(f->path, g->path);
        assert_int_equal(f->seed, g->seed);
        assert_list_equal(&f->where, &g->where);
        assert_list_equal(&f->warning, &g->warning);
        assert_list_equal(&f->danger, &g->danger);
        for (int k = 0; k < EP_COUNT; k++) assert_string_equal(f->fields[k], g->fields[k]);
        assert_string_equal(f->count_field, g->count_field);
        assert_string_equal(f->timestamp_field, g->timestamp_field);
        assert_string_equal(f->danger_label, g->danger_label);
        assert_string_equal(f->warning_label, g->warning_label);
    }
}

/* cfg_print's output loads back into the same configuration, and printing
 * that gives the same text again (apart from the header naming the file). */
static void assert_round_trip(const vizfeed_config *cfg) {
    char *printed = print_to_string(cfg);
    vizfeed_config *again = load_text(printed);
    assert_non_null(again);
    assert_config_equal(cfg, again);
    char *reprinted = print_to_string(again);
    assert_string_equal(strchr(printed, '\n'), strchr(reprinted, '\n'));
    free(reprinted);
    free(printed);
    cfg_free(again);
}

static void test_good_corpus(void **state) {
    DIR *d = opendir("configs/good");
    assert_non_null(d);
    int loaded = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".yml")) continue;
        char path[512], err[ERR_LEN] = "";
        snprintf(path, sizeof path, "configs/good/%s", e->d_name);
        vizfeed_config *cfg = cfg_load(path, err);
        if (!cfg) fail_msg("%s: %s", path, err);
        assert_string_equal(cfg->path, path);
        assert_round_trip(cfg);
        cfg_free(cfg);
        loaded++;
    }
    closedir(d);
    assert_true(loaded >= 8);
}

/* Every preset has a good example named after it, shipped in examples/. */
static void test_every_preset_has_an_example(void **state) {
    for (size_t i = 0; i < preset_count(); i++) {
        const char *name = preset_at(i)->name;
        char path[256], err[ERR_LEN] = "";
        snprintf(path, sizeof path, "configs/good/%s.yml", name);
        vizfeed_config *cfg = cfg_load(path, err);
        if (!cfg) fail_msg("%s: %s", path, err);
        bool used = false;
        for (size_t j = 0; j < cfg->nflows; j++) used = used || !strcmp(cfg->flows[j].preset, name);
        assert_true(used);
        cfg_free(cfg);
        snprintf(path, sizeof path, "../examples/%s.yml", name);
        assert_int_equal(access(path, R_OK), 0);
        assert_non_null(strstr(preset_names(), name));
        assert_ptr_equal(preset_find(name), preset_at(i));
    }
    assert_null(preset_find("nginx"));
    assert_null(preset_at(preset_count()));
}

/* ---- values ---------------------------------------------------------- */

static void test_full_config_values(void **state) {
    setenv("VIZ_TEST_PASSWORD", "s3cret-pass", 1);
    unsetenv("VIZ_TEST_HOST_PASSWORD");
    char err[ERR_LEN] = "";
    vizfeed_config *cfg = cfg_load("configs/good/full.yml", err);
    if (!cfg) fail_msg("%s", err);
    assert_string_equal(cfg->listen, "0.0.0.0:9090");
    assert_string_equal(cfg->cors_origin, "https://dash.example.com");
    assert_string_equal(cfg->ui_dir, "/usr/share/vizfeed/ui");
    assert_string_equal(cfg->auth.username, "viewer");
    assert_string_equal(cfg->auth.password, "open-sesame");
    assert_string_equal(cfg->auth.bearer_token, "");
    assert_int_equal(cfg->interval_ms, 5000);
    assert_int_equal(cfg->window_ms, 90000);
    assert_int_equal(cfg->lag_ms, 500);
    assert_string_equal(cfg->output_file, "/srv/vizceral/data.json");

    assert_string_equal(cfg->graph.name, "prod");
    assert_string_equal(cfg->graph.entry, "OUTSIDE");
    assert_string_equal(cfg->graph.default_region, "eu-central-1");
    assert_int_equal(cfg->graph.max_services, 42);
    assert_true(cfg->graph.warning == 0.02);
    assert_true(cfg->graph.danger == 0.2);
    assert_true(cfg->graph.min_rate == 0.5);
    assert_non_null(strstr(cfg->graph.notice_link, "query:'{query}'"));

    assert_int_equal(cfg->es.nhosts, 2);
    assert_string_equal(cfg->es.hosts[0], "https://es1:9200");
    assert_string_equal(cfg->es.hosts[1], "https://reader:hunter2@es2:9200/prefix");
    assert_string_equal(cfg->es.cloud_id, "");
    assert_string_equal(cfg->es.username, "reader");
    assert_string_equal(cfg->es.password, "s3cret-pass");
    assert_string_equal(cfg->es.api_key, "");
    assert_string_equal(cfg->es.bearer_token, "");
    assert_string_equal(cfg->es.ca_file, "/etc/vizfeed/ca.pem");
    assert_false(cfg->es.verify);
    assert_int_equal(cfg->es.timeout_ms, 45000);
    assert_int_equal(cfg->es.page_size, 1000);

    assert_int_equal(cfg->ntopology, 3);
    assert_string_equal(cfg->topology[0].match, "10.1.0.0/16");
    assert_string_equal(cfg->topology[0].service, "");
    assert_string_equal(cfg->topology[0].region, "eu-west-1");
    assert_int_equal(cfg->topology[0].line, 39);
    assert_string_equal(cfg->topology[1].service, "postgres");
    assert_int_equal(cfg->topology[1].line, 41);
    assert_string_equal(cfg->topology[2].match, "/^(web|api)-[0-9]+$/");
    assert_string_equal(cfg->topology[2].service, "\\1");

    assert_int_equal(cfg->nflows, 3);
    const flow_config *f = &cfg->flows[0];
    assert_string_equal(f->name, "edge-nginx");
    assert_int_equal(f->type, FLOW_ELASTICSEARCH);
    assert_string_equal(f->preset, "");
    assert_string_equal(f->index, "filebeat-*");
    assert_string_equal(f->path, "");
    assert_int_equal(f->where.n, 5);
    assert_int_equal(f->where.items[0].kind, COND_EQUALS);
    assert_string_equal(f->where.items[0].field, "event.dataset");
    assert_string_equal(f->where.items[0].values[0].text, "nginx.access");
    assert_int_equal(f->where.items[1].kind, COND_IN);
    assert_int_equal(f->where.items[1].nvalues, 3);
    assert_string_equal(f->where.items[1].values[2].text, "PUT");
    assert_int_equal(f->where.items[2].kind, COND_PREFIX);
    assert_string_equal(f->where.items[2].prefix, "/api/");
    assert_int_equal(f->where.items[3].kind, COND_NOT);
    assert_int_equal(f->where.items[3].nchildren, 1);
    assert_string_equal(f->where.items[3].children[0].field, "user_agent.name");
    assert_int_equal(f->where.items[4].kind, COND_ALL);
    assert_int_equal(f->where.items[4].nchildren, 2);
    assert_int_equal(f->where.items[4].children[0].kind, COND_EXISTS);
    assert_true(f->where.items[4].children[0].exists);
    assert_int_equal(f->where.items[4].children[1].values[0].type, VALUE_STRING);

    assert_string_equal(f->fields[EP_FROM_SERVICE], "source.ip");
    assert_string_equal(f->fields[EP_FROM_REGION], "");
    assert_string_equal(f->fields[EP_FROM_HOST], "");
    assert_string_equal(f->fields[EP_TO_SERVICE], "host.name");
    assert_string_equal(f->fields[EP_TO_REGION], "cloud.region");
    assert_string_equal(f->fields[EP_TO_HOST], "host.name");
    assert_int_equal(f->warning.n, 1);
    const condition *range = &f->warning.items[0];
    assert_int_equal(range->kind, COND_RANGE);
    assert_true(range->has_bound[BOUND_GTE] && range->bound[BOUND_GTE] == 400);
    assert_true(range->has_bound[BOUND_LT] && range->bound[BOUND_LT] == 500);
    assert_false(range->has_bound[BOUND_GT] || range->has_bound[BOUND_LTE]);
    assert_int_equal(f->danger.n, 4);
    assert_int_equal(f->danger.items[2].values[0].type, VALUE_BOOL);
    assert_false(f->danger.items[2].values[0].boolean);
    assert_true(f->danger.items[3].bound[BOUND_GT] == -1500);
    assert_true(f->danger.items[3].bound[BOUND_LTE] == 1e9);
    assert_string_equal(f->count_field, "http.response.body.bytes");
    assert_string_equal(f->timestamp_field, "event.created");
    assert_string_equal(f->danger_label, "5xx");
    assert_string_equal(f->warning_label, "4xx");

    assert_int_equal(cfg->flows[1].type, FLOW_FILE);
    assert_string_equal(cfg->flows[1].path, "/var/log/packetbeat/packetbeat.ndjson");
    assert_int_equal(cfg->flows[2].type, FLOW_DEMO);
    assert_int_equal(cfg->flows[2].seed, 7);
    cfg_free(cfg);
    unsetenv("VIZ_TEST_PASSWORD");
}

static void test_defaults(void **state) {
    vizfeed_config *cfg = load_text("flows:\n  - { name: d, type: demo }\n");
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    assert_string_equal(cfg->cors_origin, "*");
    assert_string_equal(cfg->ui_dir, VIZFEED_UI_DIR); /* meson option ui_dir */
    assert_int_equal(cfg->interval_ms, 10000);
    assert_int_equal(cfg->window_ms, 120000);
    assert_int_equal(cfg->lag_ms, 15000);
    assert_string_equal(cfg->output_file, "");
    assert_string_equal(cfg->auth.username, "");
    assert_string_equal(cfg->auth.password, "");
    assert_string_equal(cfg->auth.bearer_token, "");
    assert_string_equal(cfg->graph.name, "edge");
    assert_string_equal(cfg->graph.entry, "INTERNET");
    assert_string_equal(cfg->graph.default_region, "default");
    assert_int_equal(cfg->graph.max_services, 100);
    assert_true(cfg->graph.warning == 0.03 && cfg->graph.danger == 0.10 && cfg->graph.min_rate == 0.1);
    assert_string_equal(cfg->graph.notice_link, "");
    assert_int_equal(cfg->es.nhosts, 0);
    assert_true(cfg->es.verify);
    assert_int_equal(cfg->es.timeout_ms, 20000);
    assert_int_equal(cfg->es.page_size, 5000);
    assert_int_equal(cfg->ntopology, 0);
    const flow_config *f = &cfg->flows[0];
    assert_int_equal(f->seed, 1);
    assert_string_equal(f->preset, "");
    assert_string_equal(f->timestamp_field, "@timestamp");
    assert_string_equal(f->danger_label, "errors");
    assert_string_equal(f->warning_label, "warnings");
    for (int i = 0; i < EP_COUNT; i++) assert_string_equal(f->fields[i], "");
    cfg_free(cfg);

    /* Empty sections are the same as absent ones. */
    cfg = load_text("refresh:\ngraph:\n  thresholds:\nelasticsearch:\ntopology:\noutput:\nauth:\n"
                    "flows:\n  - { name: d, type: demo }\n");
    assert_int_equal(cfg->interval_ms, 10000);
    cfg_free(cfg);
}

/* graph.baseline: off, weeks, days, any duration; thresholds.surge; each
 * printed form loads back to the same value (assert_round_trip). */
static void test_baseline(void **state) {
    vizfeed_config *cfg = load_text("flows:\n  - { name: d, type: demo }\n");
    assert_int_equal(cfg->graph.baseline_ms, 7LL * 86400000);
    assert_true(cfg->graph.surge == 3);
    char *printed = print_to_string(cfg);
    assert_non_null(strstr(printed, "    surge: 3\n  baseline: 1w\n"));
    free(printed);
    cfg_free(cfg);
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {{"off", 0}, {"1d", 86400000}, {"2w", 14LL * 86400000}, {"36h", 36LL * 3600000}, {"\"1w\"", 604800000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "graph:\n  baseline: %s\n  thresholds: { surge: 2.5 }\nflows:\n  - { name: d, type: demo }\n",
                 cases[i].text);
        cfg = load_text(text);
        assert_int_equal(cfg->graph.baseline_ms, cases[i].ms);
        assert_true(cfg->graph.surge == 2.5);
        assert_round_trip(cfg);
        cfg_free(cfg);
    }
    expect_error("graph:\n  baseline: 0s\nflows:\n  - { name: d, type: demo }\n",
                 "2:13: graph.baseline '0s' is not a baseline");
    expect_error("graph:\n  baseline: 36d\nflows:\n  - { name: d, type: demo }\n", "2:13: graph.baseline is too long");
    expect_error("graph:\n  thresholds: { surge: 0.5 }\nflows:\n  - { name: d, type: demo }\n",
                 "surge 0.5 marks no change");
}

static void test_demo(void **state) {
    vizfeed_config *cfg = cfg_demo();
    assert_string_equal(cfg->path, "");
    assert_int_equal(cfg->nflows, 1);
    assert_string_equal(cfg->flows[0].name, "demo");
    assert_int_equal(cfg->flows[0].type, FLOW_DEMO);
    assert_int_equal(cfg->flows[0].seed, 1);
    assert_string_equal(cfg->listen, "127.0.0.1:8080");
    assert_round_trip(cfg);
    cfg_free(cfg);
    assert_string_equal(cfg_flow_type_name(FLOW_ELASTICSEARCH), "elasticsearch");
    assert_string_equal(cfg_flow_type_name(FLOW_FILE), "file");
    assert_string_equal(cfg_flow_type_name(FLOW_DEMO), "demo");
    assert_string_equal(cfg_flow_type_name(FLOW_REPLAY), "replay");
}

/* A replay flow needs no cluster, only the directory --record filled; it
 * reads the fields of the elasticsearch flow it replays. */
static void test_replay_flow(void **state) {
    char err[ERR_LEN] = "";
    vizfeed_config *cfg = cfg_load("configs/good/replay.yml", err);
    if (!cfg) fail_msg("%s", err);
    assert_int_equal(cfg->nflows, 1);
    assert_int_equal(cfg->flows[0].type, FLOW_REPLAY);
    assert_string_equal(cfg->flows[0].path, "rec/edge-nginx");
    assert_string_equal(cfg->flows[0].preset, "nginx-access");
    assert_string_equal(cfg->flows[0].fields[EP_TO_SERVICE], "host.name");
    assert_int_equal(cfg->es.nhosts, 0);
    assert_string_equal(cfg->record_dir, "");
    cfg_free(cfg);
}

static void test_env_expansion(void **state) {
    setenv("VIZ_T_A", "foo", 1);
    setenv("VIZ_T_EMPTY", "", 1);
    setenv("VIZ_T_NUM", "7", 1);
    setenv("VIZ_T_PORT", "9191", 1);
    unsetenv("VIZ_T_UNSET");
    vizfeed_config *cfg = load_text("listen: 127.0.0.1:${VIZ_T_PORT}\n"
                                    "ui_dir: \"x-${VIZ_T_A}-${VIZ_T_UNSET:dflt:with:colons}-$${literal}-$5\"\n"
                                    "cors_origin: ${VIZ_T_EMPTY:not-used}\n"
                                    "output: { file: '${VIZ_T_UNSET:}' }\n"
                                    "graph: { max_services: \"${VIZ_T_NUM}\" }\n"
                                    "refresh:\n  interval: ${VIZ_T_NUM}s\n"
                                    "flows:\n"
                                    "  - name: f-${VIZ_T_A}\n"
                                    "    type: file\n"
                                    "    path: /tmp/x\n"
                                    "    to: { service: host.name }\n"
                                    "    where:\n"
                                    "      - field: a\n"
                                    "        equals: ${VIZ_T_NUM}\n"
                                    "      - field: a\n"
                                    "        equals: \"${VIZ_T_NUM}\"\n"
                                    "      - field: a\n"
                                    "        gte: ${VIZ_T_NUM:0}\n");
    assert_string_equal(cfg->listen, "127.0.0.1:9191");
    assert_string_equal(cfg->ui_dir, "x-foo-dflt:with:colons-${literal}-$5");
    assert_string_equal(cfg->cors_origin, "");
    assert_string_equal(cfg->output_file, "");
    assert_int_equal(cfg->graph.max_services, 7);
    assert_int_equal(cfg->interval_ms, 7000);
    assert_string_equal(cfg->flows[0].name, "f-foo");
    assert_int_equal(cfg->flows[0].where.items[0].values[0].type, VALUE_NUMBER);
    assert_true(cfg->flows[0].where.items[0].values[0].number == 7);
    assert_int_equal(cfg->flows[0].where.items[1].values[0].type, VALUE_STRING);
    assert_true(cfg->flows[0].where.items[2].bound[BOUND_GTE] == 7);
    /* A literal ${ survives printing and loading back. */
    assert_round_trip(cfg);
    cfg_free(cfg);

    /* The error names the variable, the file, the line and the column. */
    expect_error("listen: 127.0.0.1:8080\nui_dir: ${VIZ_T_UNSET}\nflows:\n  - { name: d, type: demo }\n",
                 ":2:9: environment variable VIZ_T_UNSET is not set");
    expect_error("ui_dir: ${9LIVES}\nflows:\n  - { name: d, type: demo }\n", ":1:9: malformed variable reference");
    expect_error("ui_dir: ${}\nflows:\n  - { name: d, type: demo }\n", ":1:9: malformed variable reference");
    unsetenv("VIZ_T_A");
    unsetenv("VIZ_T_EMPTY");
    unsetenv("VIZ_T_NUM");
    unsetenv("VIZ_T_PORT");
}

static void test_durations(void **state) {
    vizfeed_config *cfg = load_text("refresh: { interval: 1m30s, window: 1h, lag: 0s }\n"
                                    "elasticsearch: { hosts: http://localhost:9200, timeout: 500ms }\n"
                                    "flows:\n  - { name: d, type: demo }\n");
    assert_int_equal(cfg->interval_ms, 90000);
    assert_int_equal(cfg->window_ms, 3600000);
    assert_int_equal(cfg->lag_ms, 0);
    assert_int_equal(cfg->es.timeout_ms, 500);
    /* A single host may be written without a list. */
    assert_int_equal(cfg->es.nhosts, 1);
    assert_string_equal(cfg->es.hosts[0], "http://localhost:9200");
    assert_round_trip(cfg);
    cfg_free(cfg);
    expect_error("refresh: { interval: 10 }\nflows:\n  - { name: d, type: demo }\n",
                 ":1:22: refresh.interval '10' is not a duration");
    expect_error("refresh: { lag: -1s }\nflows:\n  - { name: d, type: demo }\n", "refresh.lag '-1s' is not a duration");
    expect_error("refresh: { interval: 0ms }\nflows:\n  - { name: d, type: demo }\n",
                 "refresh.interval 0ms is out of range");
    expect_error("refresh: { window: 400d }\nflows:\n  - { name: d, type: demo }\n",
                 "refresh.window 400d is out of range");
    expect_error("refresh: { window: [1m] }\nflows:\n  - { name: d, type: demo }\n", "refresh.window is a list");
}

static const condition *where_item(const vizfeed_config *cfg, size_t i) {
    assert_true(i < cfg->flows[0].where.n);
    return &cfg->flows[0].where.items[i];
}

static void test_value_typing(void **state) {
    vizfeed_config *cfg = load_text("flows:\n"
                                    "  - name: f\n"
                                    "    type: file\n"
                                    "    path: /tmp/x\n"
                                    "    to: { service: host.name }\n"
                                    "    where:\n"
                                    "      - { field: a, equals: 200 }\n"
                                    "      - { field: a, equals: \"200\" }\n"
                                    "      - { field: a, equals: true }\n"
                                    "      - { field: a, equals: yes }\n"
                                    "      - { field: a, equals: 1.5e3 }\n"
                                    "      - { field: a, equals: 007 }\n"
                                    "      - { field: a, equals: 'false' }\n"
                                    "      - { field: a, equals: -0.25 }\n"
                                    "      - { field: a, in: [1, \"a\", false, x] }\n"
                                    "      - { field: a, equals: 0x10 }\n");
    const condition *c = where_item(cfg, 0);
    assert_int_equal(c->values[0].type, VALUE_NUMBER);
    assert_string_equal(c->values[0].text, "200");
    assert_true(c->values[0].number == 200);
    assert_int_equal(where_item(cfg, 1)->values[0].type, VALUE_STRING);
    assert_string_equal(where_item(cfg, 1)->values[0].text, "200");
    assert_int_equal(where_item(cfg, 2)->values[0].type, VALUE_BOOL);
    assert_true(where_item(cfg, 2)->values[0].boolean);
    assert_string_equal(where_item(cfg, 2)->values[0].text, "true");
    assert_int_equal(where_item(cfg, 3)->values[0].type, VALUE_STRING);
    assert_string_equal(where_item(cfg, 3)->values[0].text, "yes");
    assert_int_equal(where_item(cfg, 4)->values[0].type, VALUE_NUMBER);
    assert_string_equal(where_item(cfg, 4)->values[0].text, "1.5e3");
    assert_true(where_item(cfg, 4)->values[0].number == 1500);
    assert_int_equal(where_item(cfg, 5)->values[0].type, VALUE_STRING);
    assert_int_equal(where_item(cfg, 6)->values[0].type, VALUE_STRING);
    assert_int_equal(where_item(cfg, 7)->values[0].type, VALUE_NUMBER);
    assert_true(where_item(cfg, 7)->values[0].number == -0.25);
    c = where_item(cfg, 8);
    assert_int_equal(c->nvalues, 4);
    assert_int_equal(c->values[0].type, VALUE_NUMBER);
    assert_int_equal(c->values[1].type, VALUE_STRING);
    assert_int_equal(c->values[2].type, VALUE_BOOL);
    assert_false(c->values[2].boolean);
    assert_int_equal(c->values[3].type, VALUE_STRING);
    assert_int_equal(where_item(cfg, 9)->values[0].type, VALUE_STRING);
    assert_round_trip(cfg);
    cfg_free(cfg);

    expect_error("flows:\n  - name: f\n    type: file\n    path: /x\n    to: { service: s }\n"
                 "    where:\n      - { field: a, equals: [1, 2] }\n",
                 ":7:29: equals is a list");
    expect_error("flows:\n  - name: f\n    type: file\n    path: /x\n    to: { service: s }\n"
                 "    where:\n      - { field: a, equals: }\n",
                 "equals is empty");
    expect_error("flows:\n  - name: f\n    type: file\n    path: /x\n    to: { service: s }\n"
                 "    where:\n      - { field: a, exists: maybe }\n",
                 "exists 'maybe' is not a boolean");
    expect_error("flows:\n  - name: f\n    type: file\n    path: /x\n    to: { service: s }\n"
                 "    where:\n      - { field: '', exists: true }\n",
                 "field is empty");
}

static void test_preset_expansion(void **state) {
    vizfeed_config *cfg = load_text("flows:\n  - { name: n, type: file, path: /x, preset: nginx-access }\n");
    const flow_config *f = &cfg->flows[0];
    assert_string_equal(f->preset, "nginx-access");
    assert_int_equal(f->where.n, 1);
    assert_string_equal(f->where.items[0].field, "event.dataset");
    assert_string_equal(f->where.items[0].values[0].text, "nginx.access");
    assert_string_equal(f->fields[EP_FROM_SERVICE], "source.ip");
    assert_string_equal(f->fields[EP_FROM_REGION], "");
    assert_string_equal(f->fields[EP_TO_SERVICE], "host.name");
    assert_string_equal(f->fields[EP_TO_REGION], "cloud.region");
    assert_string_equal(f->fields[EP_TO_HOST], "host.name");
    assert_int_equal(f->warning.n, 1);
    assert_true(f->warning.items[0].bound[BOUND_GTE] == 400 && f->warning.items[0].bound[BOUND_LT] == 500);
    assert_int_equal(f->danger.n, 1);
    assert_true(f->danger.items[0].bound[BOUND_GTE] == 500);
    assert_string_equal(f->danger_label, "5xx");
    assert_string_equal(f->warning_label, "4xx");
    assert_string_equal(f->count_field, "");
    assert_string_equal(f->timestamp_field, "@timestamp");
    cfg_free(cfg);

    cfg =
        load_text("elasticsearch: { hosts: [http://localhost:9200] }\n"
                  "flows:\n  - { name: m, type: elasticsearch, index: metrics-apm*, preset: apm-service-destination }\n"
                  "  - { name: h, type: elasticsearch, index: heartbeat-*, preset: heartbeat }\n"
                  "  - { name: t, type: elasticsearch, index: traces-apm*, preset: apm-transaction }\n"
                  "  - { name: p, type: file, path: /x, preset: packetbeat-flow }\n");
    f = &cfg->flows[0];
    assert_string_equal(f->count_field, "span.destination.service.response_time.count");
    assert_string_equal(f->fields[EP_TO_SERVICE], "span.destination.service.resource");
    assert_string_equal(f->danger.items[0].values[0].text, "failure");
    assert_string_equal(f->danger_label, "failures");
    f = &cfg->flows[1];
    assert_string_equal(f->where.items[0].field, "summary.up");
    assert_int_equal(f->where.items[0].kind, COND_EXISTS);
    assert_string_equal(f->fields[EP_FROM_SERVICE], "observer.geo.name");
    assert_string_equal(f->fields[EP_TO_SERVICE], "url.domain");
    assert_string_equal(f->danger_label, "down");
    f = &cfg->flows[2];
    assert_string_equal(f->fields[EP_FROM_SERVICE], "");
    assert_string_equal(f->fields[EP_TO_SERVICE], "service.name");
    f = &cfg->flows[3];
    assert_int_equal(f->where.n, 2);
    assert_int_equal(f->where.items[1].values[0].type, VALUE_BOOL);
    assert_int_equal(f->warning.n, 0);
    assert_int_equal(f->danger.n, 0);
    cfg_free(cfg);
}

/* Whatever the flow writes wins, key by key and endpoint part by part;
 * writing an empty list or "" counts as writing. */
static void test_preset_override(void **state) {
    vizfeed_config *cfg = load_text("flows:\n"
                                    "  - name: n\n"
                                    "    type: file\n"
                                    "    path: /x\n"
                                    "    preset: nginx-access\n"
                                    "    where:\n"
                                    "      - { field: event.module, equals: nginx }\n"
                                    "      - { field: event.dataset, equals: nginx.access }\n"
                                    "    from: { region: source.geo.region_name }\n"
                                    "    to: { host: \"\" }\n"
                                    "    warning: []\n"
                                    "    count: http.response.body.bytes\n"
                                    "    danger_label: server errors\n");
    const flow_config *f = &cfg->flows[0];
    assert_int_equal(f->where.n, 2);
    assert_string_equal(f->where.items[0].field, "event.module");
    assert_string_equal(f->fields[EP_FROM_SERVICE], "source.ip");
    assert_string_equal(f->fields[EP_FROM_REGION], "source.geo.region_name");
    assert_string_equal(f->fields[EP_TO_SERVICE], "host.name");
    assert_string_equal(f->fields[EP_TO_REGION], "cloud.region");
    assert_string_equal(f->fields[EP_TO_HOST], "");
    assert_int_equal(f->warning.n, 0);
    assert_int_equal(f->danger.n, 1);
    assert_string_equal(f->count_field, "http.response.body.bytes");
    assert_string_equal(f->danger_label, "server errors");
    assert_string_equal(f->warning_label, "4xx");
    assert_round_trip(cfg);
    cfg_free(cfg);

    /* The full example's file flow overrides one part of packetbeat-http. */
    setenv("VIZ_TEST_PASSWORD", "x", 1);
    char err[ERR_LEN];
    cfg = cfg_load("configs/good/full.yml", err);
    assert_non_null(cfg);
    f = &cfg->flows[1];
    assert_string_equal(f->fields[EP_TO_SERVICE], "destination.ip");
    assert_string_equal(f->fields[EP_TO_HOST], "server.domain");
    assert_string_equal(f->danger_label, "broken");
    assert_string_equal(f->warning_label, "4xx");
    assert_int_equal(f->danger.n, 2);
    assert_int_equal(f->danger.items[1].kind, COND_ALL);
    cfg_free(cfg);
    unsetenv("VIZ_TEST_PASSWORD");
}

static void test_print_masks_secrets(void **state) {
    setenv("VIZ_TEST_PASSWORD", "s3cret-pass", 1);
    setenv("VIZ_TEST_HOST_PASSWORD", "hunter2", 1);
    char err[ERR_LEN];
    vizfeed_config *cfg = cfg_load("configs/good/full.yml", err);
    assert_non_null(cfg);
    char *text = print_to_string(cfg);
    assert_null(strstr(text, "s3cret-pass"));
    assert_null(strstr(text, "hunter2"));
    assert_non_null(strstr(text, "password: \"********\""));
    assert_non_null(strstr(text, "https://reader:********@es2:9200/prefix"));
    assert_non_null(strstr(text, "username: \"reader\""));
    assert_null(strstr(text, "open-sesame"));
    assert_non_null(strstr(text, "auth:\n  username: \"viewer\"\n  password: \"********\"\n"));
    free(text);
    cfg_free(cfg);

    cfg = load_text("elasticsearch:\n  hosts: [\"http://user:pw@h:9200\", \"http://token@h2\"]\n"
                    "  api_key: \"id:very-secret-key\"\n"
                    "flows:\n  - { name: d, type: demo }\n");
    text = print_to_string(cfg);
    assert_null(strstr(text, "very-secret-key"));
    assert_null(strstr(text, ":pw@"));
    assert_non_null(strstr(text, "api_key: \"********\""));
    assert_non_null(strstr(text, "http://token@h2"));
    assert_non_null(strstr(text, "bearer_token: \"\""));
    free(text);
    cfg_free(cfg);

    cfg = load_text("elasticsearch:\n  cloud_id: \"c:Zm9v\"\n  bearer_token: tok-secret\n"
                    "flows:\n  - { name: d, type: demo }\n");
    text = print_to_string(cfg);
    assert_null(strstr(text, "tok-secret"));
    assert_non_null(strstr(text, "bearer_token: \"********\""));
    free(text);
    cfg_free(cfg);
    unsetenv("VIZ_TEST_PASSWORD");
    unsetenv("VIZ_TEST_HOST_PASSWORD");
}

/* vizfeed's own `auth`: Basic or Bearer, never both, never empty, masked
 * when printed, and expanded from the environment like every value. */
static void test_auth(void **state) {
    const char *demo = "flows:\n  - { name: d, type: demo }\n";
    char text[1024];
    setenv("VIZ_TEST_TOKEN", "tok-3f9a.b_c~d+e/f=", 1);
    snprintf(text, sizeof text, "auth: { bearer_token: \"${VIZ_TEST_TOKEN}\" }\n%s", demo);
    vizfeed_config *cfg = load_text(text);
    assert_string_equal(cfg->auth.bearer_token, "tok-3f9a.b_c~d+e/f=");
    assert_string_equal(cfg->auth.username, "");
    char *printed = print_to_string(cfg);
    assert_null(strstr(printed, "tok-3f9a"));
    assert_non_null(strstr(printed, "auth:\n  bearer_token: \"********\"\n"));
    free(printed);
    assert_round_trip(cfg);
    cfg_free(cfg);
    unsetenv("VIZ_TEST_TOKEN");

    cfg = load_text(
        "auth: { username: \"caf\xc3\xa9\", password: \"p: w\\\"d\" }\nflows:\n  - { name: d, type: demo }\n");
    assert_string_equal(cfg->auth.username, "caf\xc3\xa9");
    assert_string_equal(cfg->auth.password, "p: w\"d");
    assert_round_trip(cfg);
    cfg_free(cfg);

    cfg = load_text(demo);
    printed = print_to_string(cfg);
    assert_non_null(strstr(printed, "\nauth: null\n"));
    free(printed);
    assert_round_trip(cfg);
    cfg_free(cfg);

    snprintf(text, sizeof text, "auth: { password: pw }\n%s", demo);
    expect_error(text, ":1:19: auth.password is set without auth.username");
    snprintf(text, sizeof text, "auth: { username: 'a:b', password: pw }\n%s", demo);
    expect_error(text, "auth.username contains ':'");
    snprintf(text, sizeof text, "auth: { bearer_token: 'a b' }\n%s", demo);
    expect_error(text, "auth.bearer_token contains ' '");
    snprintf(text, sizeof text, "auth: { username: u, password: \"a\\tb\" }\n%s", demo);
    expect_error(text, "auth.password contains a control character");
    snprintf(text, sizeof text, "auth: {}\n%s", demo);
    expect_error(text, "auth sets no credentials");
    snprintf(text, sizeof text, "auth: [u, p]\n%s", demo);
    expect_error(text, "auth is a list");
    snprintf(text, sizeof text, "auth: { username: u, password: pw, bearer_token: t }\n%s", demo);
    expect_error(text, "auth sets both a username/password and a bearer_token");
}

/* Strings that need quoting or escaping still round-trip. */
static void test_print_escapes(void **state) {
    vizfeed_config *cfg = load_text("ui_dir: \"a \\\"quoted\\\" \\\\ back\\tslash: # not a comment\"\n"
                                    "cors_origin: \"caf\xc3\xa9 \\n\"\n"
                                    "graph: { name: \"- [x]\", entry: '*', thresholds: { warning: 0.1, danger: 0.1,"
                                    " min_rate: 0.333 } }\n"
                                    "topology:\n  - { match: \"/^a{2}$/\", service: \"{}\" }\n"
                                    "flows:\n  - { name: \"&anchor\", type: demo, seed: 18446744073709551615 }\n");
    assert_string_equal(cfg->ui_dir, "a \"quoted\" \\ back\tslash: # not a comment");
    assert_string_equal(cfg->cors_origin, "caf\xc3\xa9 \n");
    assert_int_equal(cfg->flows[0].seed, UINT64_MAX);
    assert_round_trip(cfg);
    cfg_free(cfg);
}

static void test_conditions(void **state) {
    const char *head = "flows:\n  - name: f\n    type: file\n    path: /x\n    to: { service: s }\n    danger:\n";
    char text[2048];
    snprintf(text, sizeof text,
             "%s      - { field: a, gte: 1, gt: 2, lte: 3, lt: 4 }\n"
             "      - not: { all: [ { field: b, exists: false }, { not: { field: c, prefix: x } } ] }\n",
             head);
    vizfeed_config *cfg = load_text(text);
    const condition *c = &cfg->flows[0].danger.items[0];
    for (int b = 0; b < BOUND_COUNT; b++) assert_true(c->has_bound[b] && c->bound[b] == b + 1);
    c = &cfg->flows[0].danger.items[1];
    assert_int_equal(c->kind, COND_NOT);
    assert_int_equal(c->children[0].kind, COND_ALL);
    assert_false(c->children[0].children[0].exists);
    assert_int_equal(c->children[0].children[1].children[0].kind, COND_PREFIX);
    assert_round_trip(cfg);
    cfg_free(cfg);

    /* Exactly VIZ_MAX_CONDITION_DEPTH levels are fine, one more is not. */
    char nested[1024] = "";
    for (int i = 1; i < VIZ_MAX_CONDITION_DEPTH; i++) strcat(nested, "{not: ");
    strcat(nested, "{field: a, exists: true}");
    for (int i = 1; i < VIZ_MAX_CONDITION_DEPTH; i++) strcat(nested, "}");
    snprintf(text, sizeof text, "%s      - %s\n", head, nested);
    cfg = load_text(text);
    assert_round_trip(cfg);
    cfg_free(cfg);
    snprintf(text, sizeof text, "%s      - {not: %s}\n", head, nested);
    expect_error(text, "conditions are nested too deeply");

    snprintf(text, sizeof text, "%s      - { field: a, gte: 1, equals: 2 }\n", head);
    expect_error(text, ":7:29: condition on 'a' has two operators, 'gte' and 'equals'");
    snprintf(text, sizeof text, "%s      - { field: a, in: [] }\n", head);
    expect_error(text, "in is a list");
    snprintf(text, sizeof text, "%s      - { not: { field: a, exists: true }, all: [] }\n", head);
    expect_error(text, "cannot stand beside not or all");
    snprintf(text, sizeof text, "%s      - { not: [ { field: a, exists: true } ] }\n", head);
    expect_error(text, "a condition is a list");
    snprintf(text, sizeof text, "%s      - { field: a, prefix: \"\" }\n", head);
    expect_error(text, "prefix is empty");
    snprintf(text, sizeof text, "%s      - {}\n", head);
    expect_error(text, "a condition is a mapping");
    snprintf(text, sizeof text, "%s      { field: a, exists: true }\n", head);
    expect_error(text, "danger is a mapping");
}

static void test_flow_rules(void **state) {
    expect_error("flows:\n  - { name: a, type: file, path: /x, seed: 3, to: { service: s } }\n",
                 "key 'seed' does not apply to file flows");
    expect_error("flows:\n  - { name: a, type: demo, preset: heartbeat }\n",
                 "key 'preset' does not apply to demo flows");
    expect_error("flows:\n  - { name: a, type: file, path: /x, to: { service: s }, timestamp: '' }\n",
                 "has an empty timestamp");
    expect_error("flows:\n  - { name: '', type: demo }\n", ":2:13: name is empty");
    expect_error("flows:\n  - { name: a }\n", "flow 'a' has no type");
    expect_error("flows:\n  - demo\n", ":2:5: flow #1 is a single value");
    expect_error("flows:\n  - { name: a, type: file, path: /x, to: host.name }\n", "to is a single value");
    char big[8192] = "flows:\n";
    for (int i = 0; i <= VIZ_MAX_FLOWS; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "  - { name: d%d, type: demo }\n", i);
    expect_error(big, "65 flows are configured; expected at most 64 flows");
}

/* Issue 18: `check` passed a listen address the daemon could not use, and
 * the daemon then exited 1 at every start. cfg_check_listen() says so at the
 * address's place in the file. */
static void test_listen_must_be_usable(void **state) {
    static const struct {
        const char *listen;
        const char *expected; /* NULL: usable */
    } cases[] = {
        {"127.0.0.1:0", NULL},
        {":8080", NULL},
        {"localhost:0", NULL},
        {"no-such-host.invalid:8080", "listen address 'no-such-host.invalid:8080': the host cannot be resolved ("},
        {"192.0.2.1:8080", "listen address '192.0.2.1:8080': the host is not an address of this machine"},
        {"999.1.2.3:80", "listen address '999.1.2.3:80': the host cannot be resolved"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256], err[ERR_LEN] = "";
        snprintf(text, sizeof text, "# a comment\nlisten: \"%s\"\nflows:\n  - { name: d, type: demo }\n",
                 cases[i].listen);
        vizfeed_config *cfg = load_text(text);
        int rc = cfg_check_listen(cfg, err);
        if (!cases[i].expected) {
            if (rc != 0) fail_msg("%s: unexpected error %s", cases[i].listen, err);
        } else {
            assert_int_equal(rc, -1);
            if (!strstr(err, cases[i].expected) || !strstr(err, ".yml:2:9: listen address") ||
                !strstr(err, "; expected "))
                fail_msg("%s: error '%s' lacks '%s'", cases[i].listen, err, cases[i].expected);
        }
        /* From --listen: the error names the option, not the file. */
        free(cfg->listen);
        cfg->listen = strdup(cases[i].listen);
        cfg->listen_line = 0;
        err[0] = '\0';
        assert_int_equal(cfg_check_listen(cfg, err), cases[i].expected ? -1 : 0);
        if (cases[i].expected) assert_true(strncmp(err, "--listen address '", 18) == 0);
        cfg_free(cfg);
    }
}

static void test_file_errors(void **state) {
    char err[ERR_LEN] = "";
    assert_null(cfg_load("configs/does-not-exist.yml", err));
    assert_non_null(strstr(err, "configs/does-not-exist.yml: cannot open: No such file or directory"));

    char path[512];
    snprintf(path, sizeof path, "%s/huge.yml", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("flows:\n  - { name: d, type: demo }\n", f);
    for (size_t n = 0; n <= VIZ_MAX_CONFIG_BYTES / 64; n++)
        fputs("# padding padding padding padding padding padding padding paddi\n", f);
    fclose(f);
    assert_null(cfg_load(path, err));
    assert_non_null(strstr(err, "the file is larger than"));
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_corpus),
        cmocka_unit_test(test_listen_must_be_usable),
        cmocka_unit_test(test_good_corpus),
        cmocka_unit_test(test_every_preset_has_an_example),
        cmocka_unit_test(test_full_config_values),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_demo),
        cmocka_unit_test(test_replay_flow),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_value_typing),
        cmocka_unit_test(test_preset_expansion),
        cmocka_unit_test(test_preset_override),
        cmocka_unit_test(test_print_masks_secrets),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_print_escapes),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_flow_rules),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_baseline),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
