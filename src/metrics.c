/*
 * metrics.c - the process-wide registry behind GET /metrics (metrics.h):
 * counters and gauges any thread updates under one mutex, rendered in the
 * Prometheus text format on request.
 */
#include "metrics.h"

#include <assert.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hashtab.h"
#include "jsonw.h"

/* The registry is bounded (METRICS_MAX_DECLARED, METRICS_MAX_SERIES in
 * bounds.h): every label value vizfeed uses comes from a small closed set
 * (normalised HTTP paths, status codes, flow names), so reaching a bound
 * means a bug; further series are dropped rather than growing memory. */

typedef struct {
    char *name;
    char *help;
    metric_type type;
} declaration;

typedef struct {
    int decl; /* index into declarations */
    char *labels;
    uint64_t hash;
    double value;
} series;

/* Declarations are few and looked up once per update; series live in a
 * dense array behind a hash table so that counting an HTTP request stays
 * cheap even with hundreds of series. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static declaration decls[METRICS_MAX_DECLARED];
static int ndecls;
static series *table; /* used series, in the order created */
static size_t capacity, used;
static hashtab series_index; /* of table, tagged with series_hash() */

static int find_declaration(const char *name) {
    for (int i = 0; i < ndecls; i++)
        if (strcmp(decls[i].name, name) == 0) return i;
    return -1;
}

void metrics_declare(const char *name, metric_type type, const char *help) {
    pthread_mutex_lock(&lock);
    int i = find_declaration(name);
    if (i >= 0) {
        /* Re-declaring updates the help text; existing series are kept. */
        free(decls[i].help);
        decls[i].help = xstrdup(help ? help : "");
        decls[i].type = type;
    } else if (ndecls < METRICS_MAX_DECLARED) {
        decls[ndecls].name = xstrdup(name);
        decls[ndecls].help = xstrdup(help ? help : "");
        decls[ndecls].type = type;
        ndecls++;
    }
    pthread_mutex_unlock(&lock);
}

static uint64_t series_hash(const char *name, const char *labels) {
    uint64_t h = hashtab_hash_bytes(name, strlen(name), HASHTAB_SEED);
    h = hashtab_hash_bytes("\0", 1, h);
    return hashtab_hash_bytes(labels, strlen(labels), h);
}

/* Returns the series for (name, labels), creating it at 0 when create is
 * set; NULL for an undeclared metric or a full registry. Called locked. */
static series *lookup(const char *name, const char *labels, int create) {
    if (!labels) labels = "";
    int d = find_declaration(name);
    if (d < 0) return NULL;
    uint64_t h = series_hash(name, labels);
    uint32_t tag = (uint32_t)h;
    for (hashtab_slot *sl = hashtab_first(&series_index, tag); sl->id; sl = hashtab_next(&series_index, sl)) {
        series *s = &table[sl->id - 1];
        if (sl->tag == tag && s->hash == h && s->decl == d && strcmp(s->labels, labels) == 0) return s;
    }
    if (!create || used >= METRICS_MAX_SERIES) return NULL;
    if (used == capacity) {
        capacity = capacity ? capacity * 2 : 32;
        table = xrealloc(table, capacity * sizeof *table);
    }
    series *s = &table[used];
    s->decl = d;
    s->labels = xstrdup(labels);
    s->hash = h;
    s->value = 0;
    hashtab_put(&series_index, tag, used++);
    return s;
}

void metrics_add(const char *name, const char *labels, double delta) {
    assert(name);
    pthread_mutex_lock(&lock);
    series *s = lookup(name, labels, 1);
    /* A counter never goes down; Prometheus would read a decrease as a
     * process restart. */
    if (s && !(decls[s->decl].type == METRIC_COUNTER && delta < 0)) s->value += delta;
    pthread_mutex_unlock(&lock);
}

void metrics_set(const char *name, const char *labels, double value) {
    assert(name);
    pthread_mutex_lock(&lock);
    series *s = lookup(name, labels, 1);
    if (s) s->value = value;
    pthread_mutex_unlock(&lock);
}

double metrics_get(const char *name, const char *labels) {
    assert(name);
    pthread_mutex_lock(&lock);
    series *s = lookup(name, labels, 0);
    double v = s ? s->value : 0;
    pthread_mutex_unlock(&lock);
    return v;
}

/* Prometheus parses values with Go's ParseFloat: integers are written
 * plainly, others with the fewest digits that read back the same. */
static void put_value(buf *out, double v) {
    if (isnan(v)) {
        buf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        buf_printf(out, "%.0f", v);
        return;
    }
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    buf_puts(out, text);
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static void put_help(buf *out, const char *help) {
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_puts(out, "\\\\");
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *p);
    }
}

/* Bytes of a label value kept; a longer one is cut (at a character) and
 * gets "~" and 8 hex digits of its hash, so two long flow names that share
 * their start stay two series. A 2000-byte flow name once overflowed the
 * callers' 1 KiB label buffers, lost its closing quote, and made the whole
 * /metrics answer unreadable to Prometheus (METRICS_MAX_LABEL_VALUE). */
void metrics_label_escape(buf *out, const char *value) {
    if (!value) return;
    size_t n = strlen(value), keep = n;
    if (n > METRICS_MAX_LABEL_VALUE) {
        keep = METRICS_MAX_LABEL_VALUE;
        while (keep > 0 && ((unsigned char)value[keep] & 0xC0) == 0x80) keep--;
    }
    for (size_t i = 0; i < keep;) {
        unsigned char c = (unsigned char)value[i];
        size_t len = c < 0x80 ? 1 : jsonw_utf8_sequence_length((const unsigned char *)value + i, keep - i);
        if (c == '\\')
            buf_puts(out, "\\\\");
        else if (c == '"')
            buf_puts(out, "\\\"");
        else if (c == '\n')
            buf_puts(out, "\\n");
        else if (len == 0 || c < 0x20 || c == 0x7f)
            /* U+FFFD for a byte that is not UTF-8 (the format wants UTF-8)
             * and for control characters, which it has no escape for: a raw
             * carriage return ends the line for some parsers. */
            buf_puts(out, "\xef\xbf\xbd");
        else
            buf_append(out, value + i, len);
        i += len ? len : 1;
    }
    if (keep < n) buf_printf(out, "~%08x", (unsigned)hashtab_hash_bytes(value, n, HASHTAB_SEED));
}

static int compare_declarations(const void *a, const void *b) {
    return strcmp(decls[*(const int *)a].name, decls[*(const int *)b].name);
}

static int compare_series(const void *a, const void *b) {
    const series *x = *(series *const *)a, *y = *(series *const *)b;
    int c = strcmp(decls[x->decl].name, decls[y->decl].name);
    return c ? c : strcmp(x->labels, y->labels);
}

void metrics_render(buf *out) {
    assert(out);
    pthread_mutex_lock(&lock);
    int order[METRICS_MAX_DECLARED];
    for (int i = 0; i < ndecls; i++) order[i] = i;
    qsort(order, (size_t)ndecls, sizeof order[0], compare_declarations);
    series **all = xmalloc((used ? used : 1) * sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < used; i++) all[n++] = &table[i];
    qsort(all, n, sizeof *all, compare_series);

    /* Both lists are sorted by name, so one pass merges them. A metric with
     * no series yet still shows its HELP and TYPE, which tells a reader
     * that it exists. */
    size_t k = 0;
    for (int i = 0; i < ndecls; i++) {
        const declaration *d = &decls[order[i]];
        buf_printf(out, "# HELP %s ", d->name);
        put_help(out, d->help);
        buf_printf(out, "\n# TYPE %s %s\n", d->name, d->type == METRIC_COUNTER ? "counter" : "gauge");
        for (; k < n && all[k]->decl == order[i]; k++) {
            buf_puts(out, d->name);
            if (all[k]->labels[0]) buf_printf(out, "{%s}", all[k]->labels);
            buf_putc(out, ' ');
            put_value(out, all[k]->value);
            buf_putc(out, '\n');
        }
    }
    free(all);
    pthread_mutex_unlock(&lock);
}

void metrics_reset(void) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < used; i++) free(table[i].labels);
    free(table);
    table = NULL;
    hashtab_free(&series_index);
    capacity = used = 0;
    for (int i = 0; i < ndecls; i++) {
        free(decls[i].name);
        free(decls[i].help);
    }
    ndecls = 0;
    pthread_mutex_unlock(&lock);
}

void metrics_declare_all(void) {
    static const struct {
        const char *name;
        metric_type type;
        const char *help;
    } all[] = {
        {"vizfeed_build_info", METRIC_GAUGE, "Always 1; the version label says which vizfeed is running."},
        {"vizfeed_refreshes_total", METRIC_COUNTER, "Graph refreshes attempted."},
        {"vizfeed_refresh_failures_total", METRIC_COUNTER, "Refreshes in which a flow failed, by flow."},
        {"vizfeed_baseline_collects_total", METRIC_COUNTER, "Baseline windows collected (not reused), by flow."},
        {"vizfeed_baseline_failures_total", METRIC_COUNTER, "Baseline windows a flow could not give, by flow."},
        {"vizfeed_baseline_missing_total", METRIC_COUNTER, "Refreshes published without change marks: no baseline."},
        {"vizfeed_refresh_duration_seconds", METRIC_GAUGE, "Duration of the last refresh."},
        {"vizfeed_refresh_cpu_seconds", METRIC_GAUGE, "CPU time the last refresh used."},
        {"vizfeed_last_refresh_success_timestamp_seconds", METRIC_GAUGE,
         "Wall-clock time (Unix seconds) of the last refresh in which every flow answered."},
        {"vizfeed_snapshot_age_seconds", METRIC_GAUGE,
         "Seconds since the served graph was last refreshed successfully."},
        {"vizfeed_graph_nodes", METRIC_GAUGE, "Nodes in the last published graph, at every level."},
        {"vizfeed_graph_connections", METRIC_GAUGE, "Connections in the last published graph, at every level."},
        {"vizfeed_graph_hidden_services", METRIC_GAUGE,
         "Services merged into an \"other\" node by graph.max_services in the last graph."},
        {"vizfeed_topology_regex_skipped_total", METRIC_COUNTER,
         "Values resolved without some topology regex because the refresh's regex time (5 s) ran out."},
        {"vizfeed_graph_clamped_counts", METRIC_GAUGE,
         "Counts over 1e15 (or infinite) in the last graph's window, clamped to 1e15."},
        {"vizfeed_source_events_total", METRIC_COUNTER, "Events (or aggregated documents) read, by flow."},
        {"vizfeed_source_malformed_lines_total", METRIC_COUNTER,
         "NDJSON lines that were not valid JSON objects, by flow (too long lines: vizfeed_events_dropped_total)."},
        {"vizfeed_events_dropped_total", METRIC_COUNTER,
         "Events that did not become part of the graph, by flow and reason."},
        {"vizfeed_es_cluster_info", METRIC_GAUGE,
         "Always 1, per elasticsearch flow once its cluster answered GET /: product (elasticsearch or opensearch) and "
         "major version."},
        {"vizfeed_es_requests_total", METRIC_COUNTER, "Requests sent to Elasticsearch, by flow."},
        {"vizfeed_es_response_bytes_total", METRIC_COUNTER, "Bytes of Elasticsearch responses, by flow."},
        {"vizfeed_es_errors_total", METRIC_COUNTER, "Failed Elasticsearch requests, by flow and kind of error."},
        {"vizfeed_es_queries_total", METRIC_COUNTER,
         "Refreshes of an elasticsearch flow by kind: full (one search of the window) or incremental (a slice-count "
         "search, then one search per slice read), by flow."},
        {"vizfeed_es_slice_reads_total", METRIC_COUNTER,
         "Slices an incremental flow read, by flow and reason: new (not held yet) or changed (its document count "
         "changed since it was read: late events)."},
        {"vizfeed_es_took_seconds_total", METRIC_COUNTER,
         "Time Elasticsearch says it spent on vizfeed's searches (the answers' took), by flow."},
        {"vizfeed_es_ring_cells", METRIC_GAUGE, "(slice, edge) cells an incremental flow holds, by flow."},
        {"vizfeed_es_ring_over_limit_total", METRIC_COUNTER,
         "Times an incremental flow passed its cell limit and went back to full queries, by flow."},
        {"vizfeed_http_requests_total", METRIC_COUNTER, "HTTP requests answered, by normalised path and status code."},
        {"vizfeed_output_file_writes_total", METRIC_COUNTER, "Successful atomic replacements of the output file."},
        {"vizfeed_output_file_errors_total", METRIC_COUNTER, "Failed attempts to replace the output file."},
        {"vizfeed_config_reloads_total", METRIC_COUNTER, "Configuration reloads (SIGHUP), by result."},
        {"process_resident_memory_bytes", METRIC_GAUGE, "Resident memory size in bytes."},
        {"process_cpu_seconds_total", METRIC_COUNTER, "Total user and system CPU time spent in seconds."},
        {"process_open_fds", METRIC_GAUGE, "Number of open file descriptors."},
        {"process_max_fds", METRIC_GAUGE, "Maximum number of open file descriptors."},
        {"process_start_time_seconds", METRIC_GAUGE, "Start time of the process since the Unix epoch in seconds."},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) metrics_declare(all[i].name, all[i].type, all[i].help);

    /* Counters without labels start at 0 so that rate() works from the
     * first scrape; labelled ones appear when their first label set does. */
    metrics_add("vizfeed_refreshes_total", "", 0);
    metrics_add("vizfeed_output_file_writes_total", "", 0);
    metrics_add("vizfeed_output_file_errors_total", "", 0);
    buf labels;
    buf_init(&labels, 256);
    buf_puts(&labels, "version=\"");
    metrics_label_escape(&labels, VIZFEED_VERSION);
    buf_putc(&labels, '"');
    metrics_set("vizfeed_build_info", buf_cstr(&labels), 1);
    buf_free(&labels);
}

/* The standard process_* series of Prometheus client libraries, read from
 * /proc when /metrics is scraped. A value that cannot be read is left out
 * (not on Linux, /proc not mounted): absent is better than a false 0. */
void metrics_update_process(void) {
    long page = sysconf(_SC_PAGESIZE), ticks = sysconf(_SC_CLK_TCK);
    unsigned long long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0)
            metrics_set("process_resident_memory_bytes", "", (double)resident * (double)page);
        fclose(f);
    }
    /* Fields 14, 15 and 22 of /proc/self/stat, after the command name,
     * which may hold spaces and parentheses: parse from the last ')'. */
    char stat[1024];
    size_t n = 0;
    if ((f = fopen("/proc/self/stat", "r"))) {
        n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
    }
    stat[n] = '\0';
    const char *rest = strrchr(stat, ')');
    unsigned long long utime, stime, start;
    if (rest && ticks > 0 &&
        sscanf(rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu", &utime,
               &stime, &start) == 3) {
        metrics_set("process_cpu_seconds_total", "", (double)(utime + stime) / (double)ticks);
        unsigned long long boot = 0;
        char line[256];
        if ((f = fopen("/proc/stat", "r"))) {
            while (fgets(line, sizeof line, f))
                if (sscanf(line, "btime %llu", &boot) == 1) break;
            fclose(f);
        }
        if (boot) metrics_set("process_start_time_seconds", "", (double)boot + (double)start / (double)ticks);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int fds = 0;
        for (struct dirent *e; (e = readdir(d));) fds += e->d_name[0] != '.';
        closedir(d);
        metrics_set("process_open_fds", "", fds - 1); /* not the one opendir holds */
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        metrics_set("process_max_fds", "", (double)limit.rlim_cur);
}
