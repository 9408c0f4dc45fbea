/*
 * source_es.c - a flow whose events sit in Elasticsearch: one composite
 * aggregation per refresh, paged with after_key, each answer streamed from
 * curl's write callback into es_parse, so memory is bounded by one bucket
 * whatever the page size.
 *
 * What an answer leads to (README.md, "Elasticsearch"):
 *   - a search answer: its rows; timed_out or failed shards keep the rows
 *     and make degraded() say why the data may be incomplete;
 *   - too_many_buckets (400 or 503): the page size is lowered and the same
 *     page asked again at once, at most ES_MAX_LOWERINGS times per collect; the
 *     lower size is kept for later refreshes, since the cluster's limit will
 *     not have moved;
 *   - 429 and 502/503/504: the cluster is overloaded; no request is sent
 *     until max(Retry-After, exponential backoff with jitter) has passed;
 *   - other 4xx: the configuration is wrong (credentials, index, query);
 *     retrying each interval would only fill Elasticsearch's logs, so those
 *     back off too, for longer;
 *   - transport failures: es_client has tried every host already.
 * Every failure is one line naming the host and Elasticsearch's own error
 * type and reason, and counted in vizfeed_es_errors_total by kind.
 *
 * A cluster (or a proxy) that lies about paging cannot hold a refresh: an
 * after_key given twice in one collect, however the keys cycle (A, B, A...),
 * fails it (kind unexpected; a set of the keys' 64-bit hashes, at most
 * ES_MAX_PAGES of them), as do an after_key that is not an object of the
 * query's composite sources, a page with buckets but no after_key, and a
 * page with more buckets than were asked for; and whatever it does, the refresh's deadline (source_limits) cuts the
 * collect, requests in flight included (kind deadline), and a stop request
 * ends it within about a second.
 *
 * Incremental windows (es_ring.h; README.md, "Incremental windows"): a
 * live flow keeps its window as a ring of interval slices. Each refresh
 * asks how many documents each slice of [last end - settle, new end) holds
 * (one slice-count search, es_query.h), then reads with a search of its own
 * each slice that is new or whose count changed since it was read;
 * choose_query() below says which collect gets which search. Anything but
 * the ring's next window forward (baseline, past, off the grid) is one full
 * query that leaves the ring as it was.
 *
 * With cfg->record_dir set, every request and its answer are written
 * through recording.h (<record_dir>/<flow>/<refresh>/<page>.{request,
 * response}.json), which source_replay.c reads back through the same parser.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "bounds.h"
#include "es_client.h"
#include "es_parse.h"
#include "es_query.h"
#include "es_ring.h"
#include "hashtab.h"
#include "log.h"
#include "metrics.h"
#include "recording.h"
#include "source.h"
#include "util.h"

#define SHOWN_TEXT      80 /* characters of a non-JSON body shown in a message */
#define BUSY_FIRST_MS   5000
#define BUSY_MAX_MS     300000
#define CONFIG_FIRST_MS 60000
#define CONFIG_MAX_MS   600000

typedef struct {
    source base; /* first: the source * the ops get points here (source.h) */
    const flow_config *flow;
    const vizfeed_config *cfg;
    es_client *client;
    es_parser *parser;
    char *path; /* the search path, fixed per flow */
    int page_size;
    char *flow_label; /* flow="..." escaped, for metrics */

    /* Back-off: no request before backoff_till (monotonic ms). */
    int64_t backoff_till;
    int64_t backoff_ms;  /* the last delay, doubled on the next failure of the same class */
    bool backoff_config; /* the last failure was a configuration error */
    char backoff_reason[ERR_LEN];
    bool detected;          /* GET / has told which product answers */
    char backoff_until[40]; /* the same deadline as wall-clock text, so repeated messages are identical */
    uint64_t rng;

    /* The collect in progress. */
    row_emit_fn emit;
    void *emit_ctx;
    source_stats stats;
    char degraded[SOURCE_DEGRADED_LEN];
    bool is_degraded;
    bool was_degraded; /* the last complete refresh was degraded: said once, and once when it ends */

    /* Recording. */
    char *record_dir; /* <record_dir>/<flow>, NULL when off */
    unsigned long record_refresh;

    /* Limits of the collect (source_limits). */
    int64_t deadline_ms;
    int64_t budget_ms;
    const atomic_bool *stop;
    es_failure last_failure; /* of the last page that failed without an answer */

    /* Incremental windows (es_ring.h, es_collect below). */
    es_ring *ring;       /* NULL: this flow always sends full queries */
    int64_t interval_ms; /* slice width = refresh.interval */
    int64_t settle_ms;   /* how long a slice is checked for late documents, whole intervals */
    int64_t ring_end;    /* end of the window the ring holds; 0 = it holds none */
    int64_t ring_from;   /* start of the first slice it holds: it holds the whole window once <= start */
    int64_t last_end;    /* the latest window end answered; 0 = none yet */
    unsigned ring_off;   /* full queries left before the ring is tried again (it passed its limit) */
    /* What the search in progress is for (forward_row): the graph's rows
     * (neither flag), the ring's slice starting at read_slice, or the
     * documents per slice of the count_n slices from count_from. */
    bool reading_slice, counting;
    int64_t read_slice, count_from;
    double *slice_docs; /* counting: per slice from count_from, window / interval of them */
    int count_n;        /* slices being counted */
    bool ring_over;     /* the search in progress passed ES_MAX_RING_CELLS */
    bool ring_failed;   /* ... or had a bucket the ring cannot place (ring_err) */
    char ring_err[ERR_LEN];

    /* Hashes of the after_keys seen in this collect, and their index. */
    uint64_t *seen;
    size_t seen_cap, seen_count;
    hashtab seen_index;
} es_src;

/* State of one page while its answer streams in. */
typedef struct {
    es_src *src;
    es_response *resp;
    bool started;
    char snippet[ES_SNIPPET_BYTES + 1];
    size_t snippet_len;
    buf *record; /* raw body for the recording, NULL when off */
} page_ctx;

static int forward_row(void *ctx, const raw_row *row) {
    es_src *s = ctx;
    if (s->counting) {
        int64_t slice;
        double docs;
        int64_t k = -1;
        if (es_parser_row_slice(s->parser, &slice, &docs) && slice >= s->count_from &&
            (slice - s->count_from) % s->interval_ms == 0)
            k = (slice - s->count_from) / s->interval_ms;
        if (k < 0 || k >= s->count_n) {
            snprintf(s->ring_err, sizeof s->ring_err, "a slice count that was not asked for");
            s->ring_failed = true;
            return 1;
        }
        s->slice_docs[k] = docs;
        return 0;
    }
    if (!s->reading_slice) return s->emit(s->emit_ctx, row);
    if (es_ring_add(s->ring, s->read_slice, row, &s->ring_over, s->ring_err) < 0) {
        s->ring_failed = !s->ring_over;
        return 1;
    }
    return 0;
}

static void count_error(es_src *s, const char *kind) {
    buf labels;
    buf_init(&labels, 1024);
    buf_printf(&labels, "%s,kind=\"", s->flow_label);
    metrics_label_escape(&labels, kind);
    buf_putc(&labels, '"');
    assert(!buf_failed(&labels)); /* two bounded values (metrics_label_escape), see es_open() */
    metrics_add("vizfeed_es_errors_total", buf_cstr(&labels), 1);
    buf_free(&labels);
}

/* ---- open / close ---------------------------------------------------- */

/* Adds an after_key to the keys seen in this collect; false when it was
 * there already. A 64-bit hash stands for the key: two keys of one
 * refresh's few thousand pages colliding is a one-in-10^11 chance, and it
 * would cost that one refresh. */
static bool seen_add(es_src *s, const char *key) {
    uint64_t h = hashtab_hash_bytes(key, strlen(key), HASHTAB_SEED);
    uint32_t tag = (uint32_t)h;
    for (hashtab_slot *sl = hashtab_first(&s->seen_index, tag); sl->id; sl = hashtab_next(&s->seen_index, sl))
        if (sl->tag == tag && s->seen[sl->id - 1] == h) return false;
    if (s->seen_count == s->seen_cap) {
        s->seen_cap = s->seen_cap ? s->seen_cap * 2 : 128;
        s->seen = xrealloc(s->seen, s->seen_cap * sizeof *s->seen);
    }
    s->seen[s->seen_count] = h;
    hashtab_put(&s->seen_index, tag, s->seen_count++);
    return true;
}

/* Whether an after_key can be the next page's "after": an object with one
 * scalar value per composite source the query has, and nothing else. Sent
 * back otherwise, it would come back as a 400 (and a minute of back-off) at
 * best, or page through something else at worst. */
static bool after_key_fits(const es_src *s, const char *json, char *why, size_t why_len) {
    char yerr[128] = "";
    yajl_val root = yajl_tree_parse(json, yerr, sizeof yerr);
    bool ok = false;
    if (!root || !YAJL_IS_OBJECT(root)) {
        snprintf(why, why_len, "is not an object");
        goto done;
    }
    es_source sources[ES_MAX_SOURCES];
    int nsources = 1;
    if (s->counting) {
        /* The slice-count search's one date_histogram source (es_query.h). */
        snprintf(sources[0].name, sizeof sources[0].name, "%s", ES_SLICE_SOURCE);
        sources[0].field = s->flow->timestamp_field;
    } else {
        nsources = es_query_sources(s->flow, sources);
    }
    bool seen[ES_MAX_SOURCES] = {false};
    for (size_t k = 0; k < root->u.object.len; k++) {
        const char *name = root->u.object.keys[k];
        int i = 0;
        while (i < nsources && strcmp(name, sources[i].name)) i++;
        if (i == nsources || seen[i]) {
            snprintf(why, why_len, "has a key the query has no source for: \"%.60s\"", name);
            goto done;
        }
        yajl_val v = root->u.object.values[k];
        if (YAJL_IS_OBJECT(v) || YAJL_IS_ARRAY(v)) {
            snprintf(why, why_len, "has a value that is not a scalar at \"%s\"", name);
            goto done;
        }
        seen[i] = true;
    }
    for (int i = 0; i < nsources; i++)
        if (!seen[i]) {
            snprintf(why, why_len, "lacks the source \"%s\"", sources[i].name);
            goto done;
        }
    ok = true;
done:
    yajl_tree_free(root);
    return ok;
}

static void es_close(source *src) {
    es_src *s = (es_src *)src;
    if (!s) return;
    free(s->seen);
    hashtab_free(&s->seen_index);
    es_ring_free(s->ring);
    free(s->slice_docs);
    es_client_free(s->client);
    es_parser_free(s->parser);
    free(s->path);
    free(s->flow_label);
    free(s->record_dir);
    free(s);
}

/* A ring when the flow can have one: incremental on, the window a whole
 * number of intervals (else slices would not tile it) and not recording
 * (a replay reads each refresh's answers alone, so they must hold the whole
 * window). Otherwise every collect is one full query, as before. */
static void open_ring(es_src *s) {
    const vizfeed_config *cfg = s->cfg;
    int64_t interval = cfg->interval_ms, window = cfg->window_ms;
    if (!cfg->es.incremental || s->record_dir || interval <= 0 || window <= 0 || window % interval != 0 ||
        window / interval > ES_MAX_RING_SLICES) {
        if (cfg->es.incremental && !s->record_dir)
            log_info("flow '%s': full queries: the window is not a whole number of refresh intervals (at most %d)",
                     s->flow->name, ES_MAX_RING_SLICES);
        return;
    }
    s->interval_ms = interval;
    int64_t settle = cfg->es.settle_ms >= 0 ? cfg->es.settle_ms : ES_SETTLE_INTERVALS * interval;
    s->settle_ms = (settle + interval - 1) / interval * interval; /* whole slices */
    s->ring = es_ring_new(interval, (int)(window / interval), ES_MAX_RING_CELLS);
    s->slice_docs = xcalloc((size_t)(window / interval), sizeof *s->slice_docs);
}

static source *es_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    es_src *s = xcalloc(1, sizeof *s);
    s->base.ops = &source_es_ops;
    s->flow = flow;
    s->cfg = cfg;
    s->page_size = cfg->es.page_size > 0 ? cfg->es.page_size : 5000;
    s->rng = (uint64_t)util_now_ms() ^ ((uint64_t)(uintptr_t)s << 16) ^ 0x9e3779b97f4a7c15ULL;
    buf b;
    buf_init(&b, 64 << 10);
    if (es_query_path(flow, &b) < 0) {
        util_fail(err, "the index pattern makes a search path longer than %zu bytes", b.max);
        buf_free(&b);
        goto fail;
    }
    s->path = buf_take(&b, NULL);
    buf_puts(&b, "flow=\"");
    metrics_label_escape(&b, flow->name);
    buf_putc(&b, '"');
    /* Always fits: metrics_label_escape() cuts a value at METRICS_MAX_LABEL_VALUE bytes
     * (3 bytes each at worst, plus a hash), so any flow name is a label of 400 at most. */
    assert(!buf_failed(&b));
    s->flow_label = buf_take(&b, NULL);
    if (!util_str_empty(cfg->record_dir)) {
        if (recording_flow_dir(cfg->record_dir, flow->name, &s->record_dir, &s->record_refresh, err) < 0) {
            buf_free(&b);
            goto fail;
        }
    }
    buf_free(&b);
    s->client = es_client_new(&cfg->es, err);
    if (!s->client) goto fail;
    s->parser = es_parser_new(flow, forward_row, s);
    open_ring(s);
    return &s->base;
fail:
    es_close(&s->base);
    return NULL;
}

/* ---- one page -------------------------------------------------------- */

static int on_data(void *ctx, const char *data, size_t len) {
    page_ctx *pc = ctx;
    if (!pc->started) {
        pc->started = true;
        es_parser_reset(pc->src->parser, pc->resp->status);
    }
    size_t room = ES_SNIPPET_BYTES - pc->snippet_len;
    size_t n = len < room ? len : room;
    memcpy(pc->snippet + pc->snippet_len, data, n);
    pc->snippet_len += n;
    pc->snippet[pc->snippet_len] = '\0';
    if (pc->record && buf_append(pc->record, data, len) < 0) return 1;
    /* A body the parser gave up on is still read to its end: it is bounded
     * by ES_MAX_ANSWER, and closing the connection would cost a handshake. */
    es_parser_feed(pc->src->parser, data, len);
    return 0;
}

/* The visible text of a proxy's page: tags dropped, spaces folded. */
static void visible_text(const char *html, char *out, size_t max_chars) {
    size_t n = 0;
    bool in_tag = false, space = true;
    for (const char *p = html; *p && n < max_chars; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '<')
            in_tag = true;
        else if (c == '>')
            in_tag = false;
        else if (!in_tag) {
            bool is_space = c <= ' ' || c == 0x7f;
            if (is_space && space) continue;
            out[n++] = is_space ? ' ' : (char)c;
            space = is_space;
        }
    }
    while (n > 0 && out[n - 1] == ' ') n--;
    out[n] = '\0';
}

static const char *status_kind(int status) {
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 429:
        return "rate_limited";
    case 502:
    case 503:
    case 504:
        return "unavailable";
    }
    return status >= 500 ? "server_error" : "bad_request";
}

/* The field Elasticsearch and OpenSearch name when a terms source or an
 * exists/term query needs doc values of a `text` field: "Text fields are not
 * optimised for operations that require per-document field data ... set
 * fielddata=true on [FIELD] ...", the same words in ES 7-9 and OpenSearch 2
 * (seen on OpenSearch 2.19.6 and Elasticsearch 8.19.21 and 9.5.3, which put
 * "Fielddata is disabled on [FIELD] in [INDEX]. " before it: test_engine.py). */
static bool text_field(const char *reason, char *field, size_t size) {
    static const char marker[] = "fielddata=true on [";
    if (!strstr(reason, "Text fields are not optimised")) return false;
    const char *at = strstr(reason, marker);
    if (!at) return false;
    at += sizeof marker - 1;
    const char *end = strchr(at, ']');
    if (!end || end == at || (size_t)(end - at) >= size) return false;
    memcpy(field, at, (size_t)(end - at));
    field[end - at] = '\0';
    return true;
}

/* 429 and 5xx: the cluster is busy or partly down, not wrong. */
static bool busy_status(int status) {
    return status == 429 || status >= 500;
}

static uint64_t next_random(es_src *s) {
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* Starts a back-off after an HTTP error: doubling from the first delay of
 * its class; a busy cluster gets "equal jitter" (half fixed, half random)
 * so that many feeders do not come back in step. */
static void start_backoff(es_src *s, int status, int64_t retry_after_ms, const char *why) {
    bool config = !busy_status(status);
    int64_t first = config ? CONFIG_FIRST_MS : BUSY_FIRST_MS, max = config ? CONFIG_MAX_MS : BUSY_MAX_MS;
    if (s->backoff_ms == 0 || s->backoff_config != config)
        s->backoff_ms = first;
    else
        s->backoff_ms = s->backoff_ms * 2 > max ? max : s->backoff_ms * 2;
    s->backoff_config = config;
    int64_t delay = s->backoff_ms;
    if (!config) delay = delay / 2 + (int64_t)(next_random(s) % (uint64_t)(delay / 2 + 1));
    if (retry_after_ms > delay) delay = retry_after_ms > 2 * max ? 2 * max : retry_after_ms;
    s->backoff_till = util_monotonic_ms() + delay;
    util_format_time_ms((util_now_ms() + delay) / 1000 * 1000, s->backoff_until, sizeof s->backoff_until);
    snprintf(s->backoff_reason, sizeof s->backoff_reason, "HTTP %d: %s", status, why);
}

static void add_degraded(es_src *s, const char *what) {
    size_t len = strlen(s->degraded);
    if (strstr(s->degraded, what)) return;
    snprintf(s->degraded + len, sizeof s->degraded - len, "%s%s", len ? "; " : "", what);
    s->is_degraded = true;
}

typedef enum { PAGE_NEXT, PAGE_DONE, PAGE_RETRY, PAGE_FAILED } page_result;

/* Sends one page's search (pc->resp gets the answer's status, pc's parser
 * its body) and, when record_dir is set, writes the page into the recording
 * with its status (-1 when no answer came). 0; -1 with why when the request
 * failed (pc->resp->failure says how); -2 with err, counted, when the page
 * could not be recorded: the user asked for a recording, and a page missing
 * from it must not pass unnoticed. */
static int send_page(es_src *s, const buf *body, const char *record_dir, unsigned long record_refresh, unsigned page,
                     page_ctx *pc, char *why, char *err) {
    es_response *resp = pc->resp;
    int rc =
        es_client_request(s->client, "POST", s->path, body->data, body->len, s->flow->name, on_data, pc, resp, why);
    metrics_add("vizfeed_es_requests_total", s->flow_label, 1);
    metrics_add("vizfeed_es_response_bytes_total", s->flow_label, (double)resp->bytes);
    char record_err[ERR_LEN];
    if (record_dir && recording_write_page(record_dir, record_refresh, page, s->path, body->data, body->len,
                                           rc < 0 ? -1 : resp->status, pc->record, record_err) < 0) {
        util_fail(err, "recording: %s", record_err);
        count_error(s, "record");
        return -2;
    }
    return rc < 0 ? -1 : 0;
}

/* Sends one page and reads its answer. On PAGE_NEXT *after holds the next
 * page's after_key (malloc'd). */
static page_result fetch_page(es_src *s, int64_t start_ms, int64_t end_ms, const char *after, unsigned page,
                              int *lowerings, char **next_after, char *err) {
    page_result result = PAGE_FAILED;
    buf body, record;
    buf_init(&body, ES_MAX_SEARCH_BODY);
    buf_init(&record, ES_MAX_ANSWER);
    es_answer answer = {0};
    es_query_params params = {.flow = s->flow,
                              .start_ms = start_ms,
                              .end_ms = end_ms,
                              .page_size = s->page_size,
                              .timeout_ms = s->cfg->es.timeout_ms,
                              .after_json = after,
                              .slice_ms = s->counting ? s->interval_ms : 0};
    if (es_query_body(&params, &body) < 0) {
        util_fail(err, "the search body is larger than %u bytes", ES_MAX_SEARCH_BODY);
        count_error(s, "query");
        goto done;
    }
    es_response resp;
    page_ctx pc = {.src = s, .resp = &resp, .record = s->record_dir ? &record : NULL};
    char why[ERR_LEN];
    int rc = send_page(s, &body, s->record_dir, s->record_refresh, page, &pc, why, err);
    if (rc == -2) goto done;
    if (rc < 0) {
        util_fail(err, "%s", why);
        s->last_failure = resp.failure;
        if (resp.failure != ES_FAIL_STOPPED) count_error(s, es_client_failure_name(resp.failure));
        goto done;
    }
    if (!pc.started) es_parser_reset(s->parser, resp.status);
    rc = es_parser_finish(s->parser, &answer, why);

    switch (answer.kind) {
    case ES_ANSWER_OK:
        if (rc < 0) {
            /* The rows' consumer stopped the collection (a graph limit). */
            util_fail(err, "%s", why);
            goto done;
        }
        s->stats.events += answer.buckets;
        if (answer.has_took) metrics_add("vizfeed_es_took_seconds_total", s->flow_label, answer.took_ms / 1000.0);
        if (answer.timed_out) {
            add_degraded(s, "timed out: partial results");
            count_error(s, "partial");
        }
        if (answer.shards_failed > 0) {
            char text[400];
            snprintf(text, sizeof text, "%lld of %lld shards failed%s%.300s", (long long)answer.shards_failed,
                     (long long)answer.shards_total, answer.shard_reason[0] ? ": " : "", answer.shard_reason);
            add_degraded(s, text);
            count_error(s, "partial");
        }
        if (answer.buckets > (uint64_t)params.page_size) {
            /* Composite pages hold at most `size` buckets: a page that holds
             * more is not Elasticsearch's, and paging on would count rows
             * of unknown origin. */
            util_fail(err, "%s answered %llu buckets to a page of %d; stopping the paging", resp.host,
                      (unsigned long long)answer.buckets, params.page_size);
            count_error(s, "unexpected");
            goto done;
        }
        if (!answer.after_key && answer.buckets > 0) {
            /* Elasticsearch and OpenSearch give every page that has buckets
             * an after_key; only the empty page after the last has none.
             * Without one (stripped by a proxy, or one that was not an
             * object and that the parser could not keep) the next pages
             * would be lost without a word. */
            util_fail(err, "%s answered %zu buckets without an after_key object; stopping the paging", resp.host,
                      answer.buckets);
            count_error(s, "unexpected");
            goto done;
        }
        if (es_parse_shards_missing(&answer) > 0) {
            char text[120];
            snprintf(text, sizeof text, "%lld of %lld shards unavailable", (long long)es_parse_shards_missing(&answer),
                     (long long)answer.shards_total);
            add_degraded(s, text);
            count_error(s, "partial");
        }
        if (answer.after_key && answer.buckets > 0) {
            char why_not[160];
            if (!after_key_fits(s, answer.after_key, why_not, sizeof why_not)) {
                util_fail(err, "%s answered an after_key that %s; stopping the paging", resp.host, why_not);
                count_error(s, "unexpected");
                goto done;
            }
            if (!seen_add(s, answer.after_key)) {
                util_fail(
                    err, "%s answered an after_key it had already given in this refresh (page %u); stopping the paging",
                    resp.host, page);
                count_error(s, "unexpected");
                goto done;
            }
            *next_after = answer.after_key;
            answer.after_key = NULL;
            result = PAGE_NEXT;
        } else {
            result = PAGE_DONE;
        }
        goto done;
    case ES_ANSWER_TOO_MANY_BUCKETS: {
        count_error(s, "too_many_buckets");
        /* Each composite bucket also makes the danger and warning filter
         * buckets, hence the 3. */
        int size = answer.max_buckets > 0 ? (int)(answer.max_buckets / 3 < 1000000 ? answer.max_buckets / 3 : 1000000)
                                          : s->page_size / 2;
        if (size >= s->page_size) size = s->page_size / 2;
        if (*lowerings >= ES_MAX_LOWERINGS || size < 1) {
            util_fail(err, "%s answered %d too_many_buckets_exception even with %d buckets per page: %s", resp.host,
                      resp.status, s->page_size, answer.error_reason);
            /* Lowering did not cure it, so the page size was not the cause:
             * the configured size comes back instead of one request per edge
             * for ever. */
            s->page_size = s->cfg->es.page_size > 0 ? s->cfg->es.page_size : 5000;
            goto done;
        }
        (*lowerings)++;
        s->page_size = size;
        result = PAGE_RETRY;
        goto done;
    }
    case ES_ANSWER_ERROR: {
        char field[128];
        if (text_field(answer.error_reason, field, sizeof field)) {
            /* The flow names a field the index maps as text: a mistake in the
             * configuration that no retry can cure, so it is said as one. */
            util_fail(err,
                      "configuration: field '%s' is of type text in '%s', and a text field cannot be aggregated: "
                      "use its keyword sub-field ('%s.keyword', where the index has one) in the flow's from/to/where, "
                      "or map '%s' as keyword (%s answered %d)",
                      field, s->flow->index, field, field, resp.host, resp.status);
        } else {
            util_fail(err, "%s answered %d %s: %s", resp.host, resp.status,
                      answer.error_type[0] ? answer.error_type : "error", answer.error_reason);
        }
        count_error(s, status_kind(resp.status));
        break;
    }
    case ES_ANSWER_NOT_JSON: {
        char text[SHOWN_TEXT + 1];
        visible_text(pc.snippet, text, SHOWN_TEXT);
        util_fail(err, "%s answered %d with something that is not JSON (a proxy?): \"%s\"", resp.host, resp.status,
                  text);
        count_error(s, "not_json");
        break;
    }
    case ES_ANSWER_TRUNCATED:
        util_fail(err, "%s: %s", resp.host, why);
        count_error(s, "truncated");
        break;
    case ES_ANSWER_UNEXPECTED:
        util_fail(err, "%s: %s", resp.host, why);
        count_error(s, resp.status == 200 ? "unexpected" : status_kind(resp.status));
        break;
    }
    if (resp.status != 200) start_backoff(s, resp.status, resp.retry_after_ms, err);
done:
    free(answer.after_key);
    buf_free(&record);
    buf_free(&body);
    return result;
}

/* ---- which cluster answers ------------------------------------------- */

/* Asks GET / once, after the first search that worked (asking before would
 * add a timed-out request per refresh while the cluster is down), and says
 * which product and major version answers in vizfeed_es_cluster_info. The
 * requests vizfeed sends are the same for Elasticsearch 7.x-9.x and OpenSearch
 * 1.x-2.x; where they answer differently (too_many_buckets as 400 or 503,
 * max_buckets 65536 or 65535, no X-Elastic-Product) the parser accepts both,
 * so this is for the operator, not a switch. A failed GET / is tried again
 * after the next successful refresh. */
static void detect_cluster(es_src *s) {
    es_flavor flavor;
    int major;
    char err[ERR_LEN];
    if (es_client_detect(s->client, &flavor, &major, err) < 0) return;
    s->detected = true;
    buf labels;
    buf_init(&labels, 1024);
    buf_printf(&labels, "%s,product=\"%s\",major=\"%d\"", s->flow_label,
               flavor == ES_FLAVOR_OPENSEARCH ? "opensearch" : "elasticsearch", major);
    assert(!buf_failed(&labels)); /* a bounded label (es_open) and two short ones */
    metrics_set("vizfeed_es_cluster_info", buf_cstr(&labels), 1);
    buf_free(&labels);
}

/* ---- collect --------------------------------------------------------- */

/* The one message of a collect the deadline cut at a page; counted unless
 * fetch_page counted it already. */
static void missed_deadline(es_src *s, bool count, unsigned page, const char *why, char *err) {
    if (count) count_error(s, "deadline");
    char budget[32];
    util_format_duration(s->budget_ms, budget, sizeof budget);
    util_fail(err, "missed the refresh deadline (%s) at page %u%s%s; its rows are left out", budget, page,
              *why ? ": " : "", why);
}

static void es_limit(source *src, const source_limits *limits) {
    es_src *s = (es_src *)src;
    s->deadline_ms = limits->deadline_ms;
    s->budget_ms = limits->budget_ms;
    s->stop = limits->stop;
    es_client_set_limits(s->client, limits->deadline_ms, limits->stop);
}

/* Pages through one search over [start, end): its rows go where
 * forward_row() sends them. 0, or -1 with err. */
static int run_query(es_src *s, int64_t start_ms, int64_t end_ms, char *err) {
    char *after = NULL;
    int lowerings = 0, rc = -1;
    unsigned page = 0;
    s->seen_count = 0;
    hashtab_clear(&s->seen_index);
    for (;;) {
        if (page >= ES_MAX_PAGES) {
            util_fail(err, "more than %d pages in one refresh; stopping", ES_MAX_PAGES);
            break;
        }
        if (s->stop && atomic_load(s->stop)) {
            util_fail(err, "stopped");
            break;
        }
        if (s->deadline_ms > 0 && util_monotonic_ms() >= s->deadline_ms) {
            missed_deadline(s, true, page + 1, "", err);
            break;
        }
        char *next = NULL;
        s->last_failure = ES_FAIL_NONE;
        page_result r = fetch_page(s, start_ms, end_ms, after, page + 1, &lowerings, &next, err);
        page++;
        if (r == PAGE_FAILED && s->last_failure == ES_FAIL_DEADLINE) {
            /* Counted by fetch_page already; the message says how far it got. */
            char why[ERR_LEN];
            snprintf(why, sizeof why, "%s", err);
            missed_deadline(s, false, page, why, err);
        }
        if (r == PAGE_FAILED) break;
        if (r == PAGE_RETRY) continue;
        if (r == PAGE_DONE) {
            rc = 0;
            break;
        }
        free(after);
        after = next;
    }
    free(after);
    return rc;
}

typedef enum { QUERY_FULL, QUERY_INCREMENTAL } query_kind;
static const char *const query_kind_names[] = {"full", "incremental"};

/* Adds 1 to metric{flow, label="value"}; value is one of ours. */
static void count_labeled(es_src *s, const char *metric, const char *label, const char *value) {
    buf labels;
    buf_init(&labels, 1024);
    buf_printf(&labels, "%s,%s=\"%s\"", s->flow_label, label, value);
    metrics_add(metric, buf_cstr(&labels), 1);
    buf_free(&labels);
}

static void count_query(es_src *s, query_kind kind) {
    count_labeled(s, "vizfeed_es_queries_total", "kind", query_kind_names[kind]);
}

/* Which search answers collect(start, end) (README.md, "Incremental
 * windows"):
 *   - incremental, over [ring end - settle, end), when the ring holds a
 *     window and this one is it moved forward on the grid by less than a
 *     window (or the same one again: its settle slices are checked);
 *   - incremental over [end - settle - interval, end) into an emptied ring
 *     (*fresh), when the ring holds nothing usable and this window is a
 *     step forward from the last one answered: a live refresher after its
 *     first refresh, a reload, a gap or a failure. The ring then fills step
 *     by step; until it holds the whole window, a full query answers too;
 *   - full, one plain query, for anything else: the first collect (a
 *     one-off `vizfeed once`, a past window or a timeline point never pays
 *     for slices), a window earlier than the last (baseline, past), a window
 *     or an end off the interval grid, and while the ring is off. A full
 *     query leaves the ring as it was. */
static query_kind choose_query(es_src *s, int64_t start_ms, int64_t end_ms, int64_t *from_ms, bool *fresh) {
    *from_ms = start_ms;
    *fresh = false;
    if (!s->ring) return QUERY_FULL;
    if (s->ring_off > 0) {
        s->ring_off--;
        return QUERY_FULL;
    }
    int64_t window = end_ms - start_ms;
    if (window != s->cfg->window_ms || end_ms % s->interval_ms != 0) return QUERY_FULL;
    int64_t from;
    if (s->ring_end != 0 && end_ms >= s->ring_end && end_ms - s->ring_end < window) {
        from = s->ring_end - s->settle_ms;
    } else if (s->last_end != 0 && end_ms > s->last_end && end_ms - s->last_end < window) {
        from = end_ms - s->settle_ms - s->interval_ms;
        *fresh = true;
    } else {
        return QUERY_FULL;
    }
    *from_ms = from > start_ms ? from : start_ms;
    return QUERY_INCREMENTAL;
}

/* How many documents each slice of [from, end) holds now (s->slice_docs):
 * one small search, a bucket per slice that has any. 0, or -1 with err. */
static int count_slices(es_src *s, int64_t from_ms, int64_t end_ms, char *err) {
    s->count_from = from_ms;
    s->count_n = (int)((end_ms - from_ms) / s->interval_ms);
    memset(s->slice_docs, 0, (size_t)s->count_n * sizeof *s->slice_docs);
    s->counting = true;
    int rc = run_query(s, from_ms, end_ms, err);
    s->counting = false;
    return rc;
}

/* Brings the ring to [from, end), then answers: with the ring's sums once it
 * holds the whole window, else with a full query. A slice is read, with a
 * search of its own, when the ring does not hold it or when its document
 * count changed since it was read: observability data is only appended, so
 * a late event changes its slice's count, and a slice whose count did not
 * change has nothing new (README.md, "Incremental windows", says what this
 * assumes). A slice with no documents is held empty without a search. Each
 * slice alone rather than several in one search: a composite search costs
 * about pages x documents (docs/PERFORMANCE.md), so two slices in one search
 * would cost twice the pages over twice the documents. Never the whole
 * window by slices: that would cost window / interval times the buckets of
 * a full query. When the ring passes ES_MAX_RING_CELLS, the flow answers
 * with a full query instead and keeps doing so for ES_RING_RETRY_COLLECTS
 * collects. */
static int collect_sliced(es_src *s, bool fresh, int64_t start_ms, int64_t from_ms, int64_t end_ms, char *err) {
    if (fresh) {
        es_ring_reset(s->ring);
        s->ring_from = from_ms;
    }
    es_ring_advance(s->ring, end_ms);
    s->ring_over = s->ring_failed = false;
    count_query(s, QUERY_INCREMENTAL);
    int rc = count_slices(s, from_ms, end_ms, err);
    for (int k = 0; rc == 0 && k < s->count_n; k++) {
        int64_t t = from_ms + k * s->interval_ms;
        double docs = s->slice_docs[k], held;
        bool was_held = es_ring_docs(s->ring, t, &held);
        if (was_held && held == docs) continue;
        es_ring_open(s->ring, t, docs);
        if (docs <= 0) continue;
        count_labeled(s, "vizfeed_es_slice_reads_total", "reason", was_held ? "changed" : "new");
        s->reading_slice = true;
        s->read_slice = t;
        rc = run_query(s, t, t + s->interval_ms, err);
        s->reading_slice = false;
    }
    if (rc == 0) {
        s->ring_end = end_ms;
        if (from_ms < s->ring_from) s->ring_from = from_ms;
        metrics_set("vizfeed_es_ring_cells", s->flow_label, (double)es_ring_cells(s->ring));
        bool whole = s->ring_from <= start_ms;
        bool partial = s->is_degraded;
        if (whole) {
            rc = es_ring_emit(s->ring, s->emit, s->emit_ctx);
            if (rc < 0) util_fail(err, "the graph stopped taking rows (a graph limit)");
        } else {
            /* Still filling: the slices before ring_from are not held yet. */
            count_query(s, QUERY_FULL);
            rc = run_query(s, start_ms, end_ms, err);
        }
        if (partial || rc < 0) {
            /* A partial answer (timed out, shards lost) is shown as such this
             * once, as a full query's would be; kept in the ring, its slices
             * would stay short until they left the window. */
            es_ring_reset(s->ring);
            s->ring_end = 0;
        }
        return rc;
    }
    /* Part of the ring was emptied for the answer that failed: it fills
     * again from the next step forward. */
    es_ring_reset(s->ring);
    s->ring_end = 0;
    if (s->ring_over) {
        log_warn("flow '%s': more than %u (slice, edge) cells in the incremental window; full queries for the "
                 "next %d refreshes",
                 s->flow->name, ES_MAX_RING_CELLS, ES_RING_RETRY_COLLECTS);
        metrics_add("vizfeed_es_ring_over_limit_total", s->flow_label, 1);
        metrics_set("vizfeed_es_ring_cells", s->flow_label, 0);
        s->ring_off = ES_RING_RETRY_COLLECTS;
        count_query(s, QUERY_FULL);
        return run_query(s, start_ms, end_ms, err);
    }
    if (s->ring_failed) {
        util_fail(err, "an incremental answer was not what was asked: %s", s->ring_err);
        count_error(s, "unexpected");
    }
    return -1;
}

static int es_collect(source *src, int64_t start_ms, int64_t end_ms, row_emit_fn emit, void *ctx, char *err) {
    es_src *s = (es_src *)src;
    s->degraded[0] = '\0';
    s->is_degraded = false;
    int64_t now = util_monotonic_ms();
    if (now < s->backoff_till)
        return util_fail(err, "backing off until %s after %s", s->backoff_until, s->backoff_reason);
    s->emit = emit;
    s->emit_ctx = ctx;
    if (s->record_dir) s->record_refresh++;
    int64_t from_ms;
    bool fresh;
    int rc;
    if (choose_query(s, start_ms, end_ms, &from_ms, &fresh) == QUERY_FULL) {
        count_query(s, QUERY_FULL);
        rc = run_query(s, start_ms, end_ms, err);
    } else {
        rc = collect_sliced(s, fresh, start_ms, from_ms, end_ms, err);
    }
    if (rc == 0) {
        if (end_ms > s->last_end) s->last_end = end_ms;
        s->backoff_ms = 0;
        s->backoff_till = 0;
        if (!s->detected) detect_cluster(s);
        /* A partial answer is not a failure (the graph shows it as a notice), but the operator
         * reading the log learns when it starts and ends, not at every refresh. */
        if (s->is_degraded && !s->was_degraded)
            log_warn("flow '%s': partial answers from Elasticsearch: %s", s->flow->name, s->degraded);
        else if (!s->is_degraded && s->was_degraded)
            log_info("flow '%s': complete answers from Elasticsearch again", s->flow->name);
        s->was_degraded = s->is_degraded;
    }
    s->emit = NULL;
    s->emit_ctx = NULL;
    return rc;
}

static void es_stats(const source *src, source_stats *out) {
    const es_src *s = (const es_src *)src;
    *out = s->stats;
}

static const char *es_degraded(const source *src) {
    const es_src *s = (const es_src *)src;
    return s->is_degraded ? s->degraded : NULL;
}

/* ---- timeline ------------------------------------------------------- */

/* One page of the timeline; PAGE_NEXT with *next_after, PAGE_DONE or
 * PAGE_FAILED with err. No back-off starts here and the page size stays as
 * it is: a timeline is asked for by a person, who gets the reason at once. */
static page_result timeline_page(es_src *s, const es_query_params *params, int64_t step_ms, unsigned page,
                                 const char *record_dir, unsigned long record_refresh, char **next_after, char *err) {
    page_result result = PAGE_FAILED;
    buf body, record;
    buf_init(&body, ES_MAX_SEARCH_BODY);
    buf_init(&record, ES_MAX_ANSWER);
    es_answer answer = {0};
    if (es_query_timeline_body(params, step_ms, &body) < 0) {
        util_fail(err, "the search body is larger than %u bytes", ES_MAX_SEARCH_BODY);
        goto done;
    }
    es_response resp;
    page_ctx pc = {.src = s, .resp = &resp, .record = record_dir ? &record : NULL};
    char why[ERR_LEN];
    int rc = send_page(s, &body, record_dir, record_refresh, page, &pc, why, err);
    if (rc == -2) goto done;
    if (rc < 0) {
        util_fail(err, "%s", why);
        goto done;
    }
    if (!pc.started) es_parser_reset(s->parser, resp.status);
    rc = es_parser_finish(s->parser, &answer, why);
    switch (answer.kind) {
    case ES_ANSWER_OK:
        if (rc < 0) {
            util_fail(err, "%s", why);
            goto done;
        }
        if (answer.timed_out || answer.shards_failed > 0 || es_parse_shards_missing(&answer) > 0) {
            /* A timeline has no place for a partial mark: a hole would read
             * as a drop in traffic. */
            util_fail(err, "%s answered a partial timeline (%s%lld of %lld shards failed or unavailable)%s%.200s",
                      resp.host, answer.timed_out ? "timed out; " : "",
                      (long long)(answer.shards_failed + es_parse_shards_missing(&answer)),
                      (long long)answer.shards_total, answer.shard_reason[0] ? ": " : "", answer.shard_reason);
            goto done;
        }
        if (answer.buckets > (uint64_t)params->page_size || (!answer.after_key && answer.buckets > 0)) {
            util_fail(err, "%s answered %zu buckets to a page of %d%s; stopping the paging", resp.host, answer.buckets,
                      params->page_size, answer.after_key ? "" : " without an after_key");
            goto done;
        }
        if (answer.after_key && answer.buckets > 0) {
            if (!seen_add(s, answer.after_key)) {
                util_fail(err, "%s answered an after_key it had already given in this timeline (page %u)", resp.host,
                          page);
                goto done;
            }
            *next_after = answer.after_key;
            answer.after_key = NULL;
            result = PAGE_NEXT;
        } else {
            result = PAGE_DONE;
        }
        goto done;
    case ES_ANSWER_TOO_MANY_BUCKETS:
        util_fail(err,
                  "%s answered %d too_many_buckets_exception to %d buckets a page: lower es.page_size or ask "
                  "for a longer step (%s)",
                  resp.host, resp.status, params->page_size, answer.error_reason);
        break;
    case ES_ANSWER_ERROR:
        util_fail(err, "%s answered %d %s: %s", resp.host, resp.status,
                  answer.error_type[0] ? answer.error_type : "error", answer.error_reason);
        break;
    case ES_ANSWER_NOT_JSON: {
        char text[SHOWN_TEXT + 1];
        visible_text(pc.snippet, text, SHOWN_TEXT);
        util_fail(err, "%s answered %d with something that is not JSON (a proxy?): \"%s\"", resp.host, resp.status,
                  text);
        break;
    }
    case ES_ANSWER_TRUNCATED:
    case ES_ANSWER_UNEXPECTED:
        util_fail(err, "%s: %s", resp.host, why);
        break;
    }
    count_error(s, answer.kind == ES_ANSWER_TOO_MANY_BUCKETS ? "too_many_buckets" : status_kind(resp.status));
done:
    free(answer.after_key);
    buf_free(&record);
    buf_free(&body);
    return result;
}

/* The timeline (source.h): one composite aggregation with a date_histogram
 * source (es_query.h), paged like a refresh, within the limits limit() set
 * and ES_MAX_PAGES. A cluster in back-off is not asked. */
static int es_timeline(source *src, int64_t from_ms, int64_t to_ms, int64_t step_ms, step_emit_fn emit, void *ctx,
                       char *err) {
    es_src *s = (es_src *)src;
    if (util_monotonic_ms() < s->backoff_till)
        return util_fail(err, "backing off until %s after %s", s->backoff_until, s->backoff_reason);
    /* The parser hands every bucket to forward_row, which calls s->emit. */
    es_timeline_rows rows = {.emit = emit, .ctx = ctx, .step_ms = step_ms};
    s->emit = es_parse_timeline_row;
    s->emit_ctx = &rows;
    s->seen_count = 0;
    hashtab_clear(&s->seen_index);
    es_query_params params = {.flow = s->flow,
                              .start_ms = from_ms,
                              .end_ms = to_ms,
                              .page_size = s->page_size,
                              .timeout_ms = s->cfg->es.timeout_ms,
                              .after_json = NULL};
    char *after = NULL, *record_dir = NULL;
    unsigned long record_refresh = 0;
    int rc = -1;
    if (s->record_dir) {
        char name[96];
        snprintf(name, sizeof name, SOURCE_TIMELINE_RECORD_DIR, (long long)from_ms, (long long)to_ms,
                 (long long)step_ms);
        char why[ERR_LEN];
        if (recording_flow_dir(s->record_dir, name, &record_dir, &record_refresh, why) < 0) {
            util_fail(err, "recording: %s", why);
            count_error(s, "record");
            goto done;
        }
        record_refresh++; /* a timeline recorded again is kept beside the first; replay takes the last */
    }
    for (unsigned page = 1;; page++) {
        if (page > ES_MAX_PAGES) {
            util_fail(err, "more than %d pages in one timeline; stopping", ES_MAX_PAGES);
            break;
        }
        if (s->stop && atomic_load(s->stop)) {
            util_fail(err, "stopped");
            break;
        }
        if (s->deadline_ms > 0 && util_monotonic_ms() >= s->deadline_ms) {
            char budget[32];
            util_format_duration(s->budget_ms, budget, sizeof budget);
            util_fail(err, "missed the deadline (%s) at page %u of the timeline", budget, page);
            break;
        }
        char *next = NULL;
        params.after_json = after;
        page_result r = timeline_page(s, &params, step_ms, page, record_dir, record_refresh, &next, err);
        if (r == PAGE_FAILED) break;
        free(after);
        after = next;
        if (r == PAGE_DONE) {
            rc = 0;
            break;
        }
    }
done:
    free(after);
    free(record_dir);
    s->emit = NULL;
    s->emit_ctx = NULL;
    return rc;
}

const source_ops source_es_ops = {
    .type = "elasticsearch",
    .open = es_open,
    .collect = es_collect,
    .stats = es_stats,
    .degraded = es_degraded,
    .close = es_close,
    .limit = es_limit,
    .timeline = es_timeline,
};
