/*
 * es_parse.c - one search answer, read while it streams in.
 *
 * The JSON reader (jsonr.h) calls back for every token; the parser keeps a stack of the
 * containers it is in, each tagged with what that container is (the root,
 * _shards, the first shard failure, a composite bucket, its key, ...), so a
 * token is understood from the tag of its container and the key it sits
 * under. Only what the answer says about the page is kept: the current
 * bucket (cut to bounded values), the after_key, a few envelope fields and
 * the error's type and reason. A bucket becomes a raw row the moment its
 * object closes, so a page of 100k buckets never exists in memory at once.
 */
#include "es_parse.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "es_query.h"
#include "jsonr.h"
#include "jsonw.h"
#include "util.h"

static const char tmb_type[] = "too_many_buckets_exception";

/* What a container is; decides how the tokens inside it are read. */
typedef enum {
    AT_IGNORED, /* nothing inside matters (hits, took, unknown keys) */
    AT_ROOT,
    AT_SHARDS,
    AT_FAILURES,       /* _shards.failures */
    AT_FAILURE,        /* _shards.failures[0] */
    AT_FAILURE_REASON, /* _shards.failures[0].reason */
    AT_AGGREGATIONS,
    AT_EDGES,     /* aggregations.edges */
    AT_AFTER_KEY, /* copied as JSON, containers inside too */
    AT_BUCKETS,
    AT_BUCKET,
    AT_KEY,           /* bucket.key: keys are composite source names */
    AT_DANGER,        /* bucket.danger */
    AT_WARNING,       /* bucket.warning */
    AT_COUNT,         /* bucket.count (a sum: "value") */
    AT_DANGER_COUNT,  /* bucket.danger.count */
    AT_WARNING_COUNT, /* bucket.warning.count */
    AT_LAT_SUM,       /* bucket.lat_sum, lat_n, lat_max: latency (es_query.c) */
    AT_LAT_N,
    AT_LAT_MAX,
    AT_LAT_AVG, /* bucket.lat_avg (weighted_avg) and lat_w.count: weighted latency (es_query.c) */
    AT_LAT_W,
    AT_LAT_W_COUNT,
    AT_ERROR,       /* error, when an object */
    AT_ROOT_CAUSES, /* error.root_cause */
    AT_ROOT_CAUSE,  /* error.root_cause[0] */
    AT_CAUSED_BY,   /* error.caused_by */
    AT_ERROR_DEEP,  /* anything else under error: scanned for too_many_buckets */
} place;

/* The keys the parser acts on. In AT_KEY the key is a source index instead. */
typedef enum {
    K_OTHER = -1,
    K_SHARDS = EP_COUNT, /* above every source index */
    K_TIMED_OUT,
    K_AGGREGATIONS,
    K_ERROR,
    K_TOTAL,
    K_FAILED,
    K_SUCCESSFUL,
    K_SKIPPED,
    K_FAILURES,
    K_REASON,
    K_TYPE,
    K_EDGES,
    K_AFTER_KEY,
    K_BUCKETS,
    K_KEY,
    K_DOC_COUNT,
    K_DANGER,
    K_WARNING,
    K_COUNT,
    K_VALUE,
    K_ROOT_CAUSE,
    K_CAUSED_BY,
    K_MAX_BUCKETS,
    K_LAT_SUM,
    K_LAT_N,
    K_LAT_MAX,
    K_LAT_AVG,
    K_LAT_W,
    K_TOOK,
    K_SLICE,            /* AT_KEY: the date_histogram source of a slice-count search (es_query.h) */
    K_ALT_BASE = 1000,  /* AT_KEY: K_ALT_BASE + part * FLOW_MAX_FIELD_ALTS + k */
    K_JOIN_BASE = 2000, /* AT_KEY: K_JOIN_BASE + part * (1 + FLOW_MAX_FIELD_ALTS) + k, k 0 the part's field */
} key_id;

#define KEY(name, id)                                                                                                  \
    { name, sizeof name - 1, id }
static const struct {
    const char *name;
    size_t len;
    key_id id;
} known_keys[] = {
    KEY("_shards", K_SHARDS),
    KEY("timed_out", K_TIMED_OUT),
    KEY("aggregations", K_AGGREGATIONS),
    KEY("error", K_ERROR),
    KEY("total", K_TOTAL),
    KEY("failed", K_FAILED),
    KEY("successful", K_SUCCESSFUL),
    KEY("skipped", K_SKIPPED),
    KEY("failures", K_FAILURES),
    KEY("reason", K_REASON),
    KEY("type", K_TYPE),
    KEY(ES_AGG_NAME, K_EDGES),
    KEY("after_key", K_AFTER_KEY),
    KEY("buckets", K_BUCKETS),
    KEY("key", K_KEY),
    KEY("doc_count", K_DOC_COUNT),
    KEY("danger", K_DANGER),
    KEY("warning", K_WARNING),
    KEY("count", K_COUNT),
    KEY("value", K_VALUE),
    KEY("root_cause", K_ROOT_CAUSE),
    KEY("caused_by", K_CAUSED_BY),
    KEY("max_buckets", K_MAX_BUCKETS),
    KEY("lat_sum", K_LAT_SUM),
    KEY("lat_n", K_LAT_N),
    KEY("lat_max", K_LAT_MAX),
    KEY("lat_avg", K_LAT_AVG),
    KEY("lat_w", K_LAT_W),
    KEY("took", K_TOOK),
};

typedef struct {
    place at;
    bool is_map;
    int key;      /* map: the key of the value being read (key_id or source index) */
    size_t index; /* array: elements seen so far */
} frame;

/* The composite bucket being read. */
typedef struct {
    char value[EP_COUNT][VIZ_MAX_KEY_VALUE_BYTES + 1];
    bool present[EP_COUNT];
    char alt_value[EP_COUNT][FLOW_MAX_FIELD_ALTS][VIZ_MAX_KEY_VALUE_BYTES + 1];
    bool alt_present[EP_COUNT][FLOW_MAX_FIELD_ALTS];
    /* The B of a field written A:B, per part and field (0: fields[], k: alt k - 1). */
    char join_value[EP_COUNT][1 + FLOW_MAX_FIELD_ALTS][VIZ_MAX_KEY_VALUE_BYTES + 1];
    bool join_present[EP_COUNT][1 + FLOW_MAX_FIELD_ALTS];
    char joined[EP_COUNT][2 * VIZ_MAX_KEY_VALUE_BYTES + 2]; /* the row's A:B values */
    double doc_count, danger_docs, warning_docs;
    double sum, danger_sum, warning_sum;
    double lat_sum, lat_n, lat_max;
    bool has_lat_max;
    double lat_avg; /* weighted: the average, lat_n its weight */
    bool has_lat_avg;
    int64_t slice; /* the "slice" key (epoch ms of the slice's start), when has_slice */
    bool has_slice;
} bucket;

/* An error cause: a type and a reason, cut to what es_answer holds. */
typedef struct {
    char type[128];
    char reason[512];
} cause;

struct es_parser {
    const flow_config *flow;
    bool sums;                   /* the flow sums a count field */
    size_t source_len[EP_COUNT]; /* of es_query_source_names: keys are looked up for every bucket */
    row_emit_fn emit;
    void *ctx;

    jsonr *json;
    int status;
    size_t fed;        /* body bytes received */
    size_t last_token; /* offset in the body where the last token ended */
    bool started;      /* the first non-space byte was seen */
    bool root_done;    /* the root container closed */
    char snippet[ES_PARSE_SNIPPET_BYTES + 1];
    size_t snippet_len;

    /* Set once the body is known to be unusable; later feeds are ignored. */
    bool failed;
    es_answer_kind fail_kind;
    char fail_reason[ERR_LEN];
    bool stopped; /* emit() asked to stop */

    frame stack[ES_PARSE_MAX_DEPTH];
    int depth;

    bucket row;
    buf after; /* after_key as JSON, while and after it is read */
    jsonw after_w;
    bool has_after;

    bool has_shards, root_is_array;
    bool has_error, error_is_string, too_many_buckets;
    cause top, root_cause, caused_by;
    es_answer answer;
};

es_parser *es_parser_new(const flow_config *flow, row_emit_fn emit, void *ctx) {
    es_parser *p = xcalloc(1, sizeof *p);
    for (int i = 0; i < EP_COUNT; i++) p->source_len[i] = strlen(es_query_source_names[i]);
    p->flow = flow;
    p->sums = !util_str_empty(flow->count_field);
    p->emit = emit;
    p->ctx = ctx;
    buf_init(&p->after, ES_MAX_AFTER_KEY_BYTES);
    es_parser_reset(p, 0);
    return p;
}

void es_parser_free(es_parser *p) {
    if (!p) return;
    jsonr_free(p->json);
    buf_free(&p->after);
    free(p);
}

/* Copies n bytes of s into dst (cap bytes with the NUL), cut so that no
 * UTF-8 sequence is split; a NUL inside s ends the copy (C strings). */
static size_t copy_cut(char *dst, size_t cap, const char *s, size_t n) {
    n = strnlen(s, n);
    if (n > cap - 1) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return n;
}

/* copy_cut() for a name from the answer: a NUL inside it (a "\u0000")
 * becomes U+FFFD. Names are C strings, and ending the copy there merged
 * "a\u0000b" with "a\u0000c" (and with "a") into one service. */
static void copy_name(char *dst, size_t cap, const char *s, size_t n) {
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '\0') {
            if (cap - 1 - out < 3) break;
            memcpy(dst + out, "\xef\xbf\xbd", 3);
            out += 3;
            i++;
            continue;
        }
        /* copy_cut() without its strnlen(): the run holds no NUL. */
        size_t run = strnlen(s + i, n - i), take = run;
        if (take > cap - 1 - out) {
            take = cap - 1 - out;
            while (take > 0 && ((unsigned char)s[i + take] & 0xC0) == 0x80) take--;
        }
        memcpy(dst + out, s + i, take);
        out += take;
        if (take < run) break; /* full */
        i += run;
    }
    dst[out] = '\0';
}

static int stop(es_parser *p, es_answer_kind kind, const char *reason) {
    if (!p->failed) {
        p->failed = true;
        p->fail_kind = kind;
        snprintf(p->fail_reason, sizeof p->fail_reason, "%s", reason);
        /* A reason is one line. */
        for (char *c = p->fail_reason; *c; c++)
            if (*c == '\n') *c = ' ';
        size_t n = strlen(p->fail_reason);
        while (n > 0 && p->fail_reason[n - 1] == ' ') p->fail_reason[--n] = '\0';
    }
    return 1; /* the reader: stop (util.h callback convention) */
}

static frame *top(es_parser *p) {
    return &p->stack[p->depth - 1];
}

static int lookup_key(const es_parser *p, place at, const char *s, size_t n) {
    if (at == AT_KEY) {
        for (int i = 0; i < EP_COUNT; i++)
            if (p->source_len[i] == n && es_query_source_names[i][0] == s[0] &&
                memcmp(es_query_source_names[i], s, n) == 0)
                return i;
        /* "<source>_altK": a part's K-th other field (es_query.c). */
        for (int i = 0; i < EP_COUNT; i++) {
            size_t m = p->source_len[i];
            if (n == m + 5 && memcmp(es_query_source_names[i], s, m) == 0 && memcmp(s + m, "_alt", 4) == 0 &&
                s[m + 4] >= '1' && s[m + 4] < '1' + FLOW_MAX_FIELD_ALTS)
                return K_ALT_BASE + i * FLOW_MAX_FIELD_ALTS + (s[m + 4] - '1');
        }
        /* "<source>_join", "<source>_altK_join": the B of a field A:B. */
        for (int i = 0; i < EP_COUNT; i++) {
            size_t m = p->source_len[i];
            if (n == m + 5 && memcmp(es_query_source_names[i], s, m) == 0 && memcmp(s + m, "_join", 5) == 0)
                return K_JOIN_BASE + i * (1 + FLOW_MAX_FIELD_ALTS);
            if (n == m + 10 && memcmp(es_query_source_names[i], s, m) == 0 && memcmp(s + m, "_alt", 4) == 0 &&
                s[m + 4] >= '1' && s[m + 4] < '1' + FLOW_MAX_FIELD_ALTS && memcmp(s + m + 5, "_join", 5) == 0)
                return K_JOIN_BASE + i * (1 + FLOW_MAX_FIELD_ALTS) + (s[m + 4] - '0');
        }
        if (n == sizeof ES_SLICE_SOURCE - 1 && memcmp(s, ES_SLICE_SOURCE, n) == 0) return K_SLICE;
        return K_OTHER;
    }
    for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
        if (known_keys[i].len == n && known_keys[i].name[0] == s[0] && memcmp(known_keys[i].name, s, n) == 0)
            return known_keys[i].id;
    return K_OTHER;
}

/* Every token callback goes through here: it records where in the body the
 * token ended, for the ES_MAX_TOKEN_BYTES check in es_parser_feed(). */
static void token_seen(es_parser *p) {
    p->last_token = jsonr_offset(p->json);
}

/* The number in a token's text; 0 for anything unusable. One past double's
 * range (1e400) is infinite, not 0: the graph clamps it and counts that it
 * did (graph.h), where 0 dropped the bucket's traffic without a word. */
static double number_value(const char *s, size_t n) {
    /* Counts are plain integers: read them without strtod's generality. */
    if (n > 0 && n <= 15) {
        double v = 0;
        size_t i = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        if (i == n) return v;
    }
    char tmp[64];
    copy_cut(tmp, sizeof tmp, s, n);
    double v = strtod(tmp, NULL);
    return isnan(v) ? 0 : v;
}

/* An integer field (shard counts, max_buckets) as int64_t: clamped to
 * 0..2^53, since converting a double outside int64_t's range is undefined
 * behaviour and a negative count means nothing. */
static int64_t count_value(const char *s, size_t n) {
    double v = number_value(s, n);
    if (!(v > 0)) return 0;
    return v < 9007199254740992.0 ? (int64_t)v : INT64_C(9007199254740992);
}

/* max_buckets from "... Must be less than or equal to: [65536] ..." (§1.8),
 * for answers whose cause lacks the max_buckets field. */
static void scan_max_buckets(es_parser *p, const char *s, size_t n) {
    static const char marker[] = "less than or equal to: [";
    size_t m = sizeof marker - 1;
    for (size_t i = 0; i + m < n; i++) {
        if (memcmp(s + i, marker, m) != 0) continue;
        int64_t v = 0;
        size_t j = i + m;
        while (j < n && isdigit((unsigned char)s[j]) && v < INT64_MAX / 10) v = v * 10 + (s[j++] - '0');
        if (j < n && s[j] == ']' && j > i + m && p->answer.max_buckets == 0) p->answer.max_buckets = v;
        return;
    }
}

static bool in_error(place at) {
    return at == AT_ERROR || at == AT_ROOT_CAUSES || at == AT_ROOT_CAUSE || at == AT_CAUSED_BY || at == AT_ERROR_DEEP;
}

static cause *cause_of(es_parser *p, place at) {
    switch (at) {
    case AT_ERROR:
        return &p->top;
    case AT_ROOT_CAUSE:
        return &p->root_cause;
    case AT_CAUSED_BY:
        return &p->caused_by;
    default:
        return NULL;
    }
}

/* A string or number inside the error object. */
static void error_scalar(es_parser *p, place at, int key, const char *s, size_t n, bool is_string) {
    cause *c = cause_of(p, at);
    if (key == K_TYPE && is_string) {
        if (n == sizeof tmb_type - 1 && memcmp(s, tmb_type, n) == 0) p->too_many_buckets = true;
        if (c) copy_cut(c->type, sizeof c->type, s, n);
    } else if (key == K_REASON && is_string) {
        scan_max_buckets(p, s, n);
        if (c) copy_cut(c->reason, sizeof c->reason, s, n);
    } else if (key == K_MAX_BUCKETS && !is_string && p->answer.max_buckets == 0) {
        p->answer.max_buckets = count_value(s, n);
    }
}

/* A scalar inside after_key, copied into its JSON. */
static int after_key_scalar(es_parser *p, const char *text, size_t n, bool is_string) {
    if (!text)
        jsonw_null(&p->after_w);
    else if (is_string)
        jsonw_string_n(&p->after_w, text, n);
    else
        jsonw_raw(&p->after_w, text, n); /* numbers and booleans as they came, to the last digit */
    if (jsonw_failed(&p->after_w)) return stop(p, ES_ANSWER_UNEXPECTED, "after_key too large");
    return 0;
}

/* Handles one scalar (string, number, boolean or null). text is the JSON
 * number's text, the string's bytes, or "true"/"false"; NULL for null. */
static int scalar(es_parser *p, const char *text, size_t n, bool is_string, bool is_number, bool truth) {
    token_seen(p);
    if (p->depth == 0) return stop(p, ES_ANSWER_NOT_JSON, "a bare JSON value");
    frame *f = top(p);
    if (!f->is_map) {
        f->index++;
        if (f->at == AT_AFTER_KEY) return after_key_scalar(p, text, n, is_string);
        return 0; /* no array of scalars matters */
    }
    switch (f->at) {
    case AT_ROOT:
        if (f->key == K_TIMED_OUT) p->answer.timed_out = !is_string && !is_number && truth;
        if (f->key == K_TOOK && is_number) {
            p->answer.took_ms = count_value(text, n);
            p->answer.has_took = true;
        }
        if (f->key == K_ERROR && is_string) {
            p->has_error = p->error_is_string = true;
            copy_cut(p->top.reason, sizeof p->top.reason, text, n);
        }
        return 0;
    case AT_SHARDS:
        if (is_number && f->key == K_TOTAL) p->answer.shards_total = count_value(text, n);
        if (is_number && f->key == K_FAILED) p->answer.shards_failed = count_value(text, n);
        if (is_number && f->key == K_SUCCESSFUL) {
            p->answer.shards_successful = count_value(text, n);
            p->answer.has_successful = true;
        }
        if (is_number && f->key == K_SKIPPED) p->answer.shards_skipped = count_value(text, n);
        return 0;
    case AT_FAILURE_REASON:
        /* The reason's text says more than its type; the type stands in
         * when there is no text. */
        if (is_string && f->key == K_REASON)
            copy_cut(p->answer.shard_reason, sizeof p->answer.shard_reason, text, n);
        else if (is_string && f->key == K_TYPE && p->answer.shard_reason[0] == '\0')
            copy_cut(p->answer.shard_reason, sizeof p->answer.shard_reason, text, n);
        return 0;
    case AT_AFTER_KEY:
        return after_key_scalar(p, text, n, is_string);
    case AT_KEY:
        if (f->key >= 0 && f->key < EP_COUNT) {
            /* null is a missing_bucket: the event lacked the field. */
            p->row.present[f->key] = text != NULL;
            if (text) copy_name(p->row.value[f->key], sizeof p->row.value[f->key], text, n);
        } else if (f->key >= K_ALT_BASE && f->key < K_ALT_BASE + EP_COUNT * FLOW_MAX_FIELD_ALTS) {
            int part = (f->key - K_ALT_BASE) / FLOW_MAX_FIELD_ALTS, k = (f->key - K_ALT_BASE) % FLOW_MAX_FIELD_ALTS;
            p->row.alt_present[part][k] = text != NULL;
            if (text) copy_name(p->row.alt_value[part][k], sizeof p->row.alt_value[part][k], text, n);
        } else if (f->key >= K_JOIN_BASE && f->key < K_JOIN_BASE + EP_COUNT * (1 + FLOW_MAX_FIELD_ALTS)) {
            int part = (f->key - K_JOIN_BASE) / (1 + FLOW_MAX_FIELD_ALTS),
                k = (f->key - K_JOIN_BASE) % (1 + FLOW_MAX_FIELD_ALTS);
            p->row.join_present[part][k] = text != NULL;
            if (text) copy_name(p->row.join_value[part][k], sizeof p->row.join_value[part][k], text, n);
        } else if (f->key == K_SLICE && is_number) {
            /* Epoch ms, an integer as date_histogram keys are (negative before 1970). */
            char tmp[32];
            copy_cut(tmp, sizeof tmp, text, n);
            char *end;
            long long v = strtoll(tmp, &end, 10);
            if (*end == '\0') {
                p->row.slice = v;
                p->row.has_slice = true;
            }
        }
        return 0;
    case AT_BUCKET:
        if (is_number && f->key == K_DOC_COUNT) p->row.doc_count = number_value(text, n);
        return 0;
    case AT_DANGER:
    case AT_WARNING:
        if (is_number && f->key == K_DOC_COUNT)
            *(f->at == AT_DANGER ? &p->row.danger_docs : &p->row.warning_docs) = number_value(text, n);
        return 0;
    case AT_COUNT:
    case AT_DANGER_COUNT:
    case AT_WARNING_COUNT:
        /* A sum over no document is 0; a null value counts the same. */
        if (is_number && f->key == K_VALUE) {
            double v = number_value(text, n);
            if (f->at == AT_COUNT) p->row.sum = v;
            if (f->at == AT_DANGER_COUNT) p->row.danger_sum = v;
            if (f->at == AT_WARNING_COUNT) p->row.warning_sum = v;
        }
        return 0;
    case AT_LAT_SUM:
    case AT_LAT_N:
    case AT_LAT_MAX:
    case AT_LAT_AVG:
    case AT_LAT_W_COUNT:
        /* max (and weighted_avg) over no value is null: none then. */
        if (is_number && f->key == K_VALUE) {
            double v = number_value(text, n);
            if (f->at == AT_LAT_SUM) p->row.lat_sum = v;
            if (f->at == AT_LAT_N || f->at == AT_LAT_W_COUNT) p->row.lat_n = v;
            if (f->at == AT_LAT_AVG) {
                p->row.lat_avg = v;
                p->row.has_lat_avg = true;
            }
            if (f->at == AT_LAT_MAX) {
                p->row.lat_max = v;
                p->row.has_lat_max = true;
            }
        }
        return 0;
    default:
        if (in_error(f->at) && (is_string || is_number)) error_scalar(p, f->at, f->key, text, n, is_string);
        return 0;
    }
}

static int on_null(void *ctx) {
    return scalar(ctx, NULL, 0, false, false, false);
}

static int on_boolean(void *ctx, int b) {
    return scalar(ctx, b ? "true" : "false", b ? 4 : 5, false, false, b != 0);
}

static int on_number(void *ctx, const char *s, size_t len) {
    return scalar(ctx, s, len, false, true, false);
}

static int on_string(void *ctx, const unsigned char *s, size_t len) {
    return scalar(ctx, (const char *)s, len, true, false, false);
}

/* What a container opened under the current position is. */
static place child_place(es_parser *p, bool is_map) {
    if (p->depth == 0) return is_map ? AT_ROOT : AT_IGNORED;
    const frame *f = top(p);
    int key = f->is_map ? f->key : K_OTHER;
    bool first = !f->is_map && f->index == 0;
    switch (f->at) {
    case AT_ROOT:
        if (is_map && key == K_SHARDS) return AT_SHARDS;
        if (is_map && key == K_AGGREGATIONS) return AT_AGGREGATIONS;
        if (is_map && key == K_ERROR) return AT_ERROR;
        return AT_IGNORED;
    case AT_SHARDS:
        return !is_map && key == K_FAILURES ? AT_FAILURES : AT_IGNORED;
    case AT_FAILURES:
        return is_map && first ? AT_FAILURE : AT_IGNORED;
    case AT_FAILURE:
        return is_map && key == K_REASON ? AT_FAILURE_REASON : AT_IGNORED;
    case AT_AGGREGATIONS:
        return is_map && key == K_EDGES ? AT_EDGES : AT_IGNORED;
    case AT_EDGES:
        if (is_map && key == K_AFTER_KEY) return AT_AFTER_KEY;
        if (!is_map && key == K_BUCKETS) return AT_BUCKETS;
        return AT_IGNORED;
    case AT_AFTER_KEY:
        return AT_AFTER_KEY;
    case AT_BUCKETS:
        return is_map ? AT_BUCKET : AT_IGNORED;
    case AT_BUCKET:
        if (!is_map) return AT_IGNORED;
        if (key == K_KEY) return AT_KEY;
        if (key == K_DANGER) return AT_DANGER;
        if (key == K_WARNING) return AT_WARNING;
        if (key == K_COUNT) return AT_COUNT;
        if (key == K_LAT_SUM) return AT_LAT_SUM;
        if (key == K_LAT_N) return AT_LAT_N;
        if (key == K_LAT_MAX) return AT_LAT_MAX;
        if (key == K_LAT_AVG) return AT_LAT_AVG;
        if (key == K_LAT_W) return AT_LAT_W;
        return AT_IGNORED;
    case AT_LAT_W:
        return is_map && key == K_COUNT ? AT_LAT_W_COUNT : AT_IGNORED;
    case AT_DANGER:
        return is_map && key == K_COUNT ? AT_DANGER_COUNT : AT_IGNORED;
    case AT_WARNING:
        return is_map && key == K_COUNT ? AT_WARNING_COUNT : AT_IGNORED;
    case AT_ERROR:
        if (!is_map && key == K_ROOT_CAUSE) return AT_ROOT_CAUSES;
        if (is_map && key == K_CAUSED_BY) return AT_CAUSED_BY;
        return AT_ERROR_DEEP;
    case AT_ROOT_CAUSES:
        return is_map && first ? AT_ROOT_CAUSE : AT_ERROR_DEEP;
    case AT_ROOT_CAUSE:
    case AT_CAUSED_BY:
    case AT_ERROR_DEEP:
        return AT_ERROR_DEEP;
    default:
        return AT_IGNORED;
    }
}

static int open_container(es_parser *p, bool is_map) {
    token_seen(p);
    if (p->depth == ES_PARSE_MAX_DEPTH) return stop(p, ES_ANSWER_UNEXPECTED, "JSON nested too deeply");
    if (p->depth == 0 && p->root_done) return stop(p, ES_ANSWER_NOT_JSON, "more than one JSON value");
    place at = child_place(p, is_map);
    if (p->depth > 0 && !top(p)->is_map) top(p)->index++;
    if (p->depth == 0 && !is_map) p->root_is_array = true;

    switch (at) {
    case AT_SHARDS:
        p->has_shards = true;
        break;
    case AT_AGGREGATIONS:
        p->answer.has_aggregations = true;
        break;
    case AT_ERROR:
        p->has_error = true;
        break;
    case AT_AFTER_KEY:
        if (p->stack[p->depth - 1].at != AT_AFTER_KEY) {
            buf_reset(&p->after);
            jsonw_init(&p->after_w, &p->after);
            p->has_after = false;
        }
        if (is_map)
            jsonw_object_begin(&p->after_w);
        else
            jsonw_array_begin(&p->after_w);
        if (jsonw_failed(&p->after_w)) return stop(p, ES_ANSWER_UNEXPECTED, "after_key too large or too deep");
        break;
    case AT_BUCKET:
        memset(p->row.present, 0, sizeof p->row.present);
        memset(p->row.alt_present, 0, sizeof p->row.alt_present);
        memset(p->row.join_present, 0, sizeof p->row.join_present);
        p->row.doc_count = p->row.danger_docs = p->row.warning_docs = 0;
        p->row.sum = p->row.danger_sum = p->row.warning_sum = 0;
        p->row.lat_sum = p->row.lat_n = p->row.lat_max = 0;
        p->row.has_lat_max = false;
        p->row.lat_avg = 0;
        p->row.has_lat_avg = false;
        p->row.has_slice = false;
        break;
    default:
        break;
    }
    frame *f = &p->stack[p->depth++];
    f->at = at;
    f->is_map = is_map;
    f->key = K_OTHER;
    f->index = 0;
    return 0;
}

/* A complete bucket: its raw row, with normal = total - warning - danger.
 * Rows of an answer that is not a 200 are never emitted, whatever it holds. */
/* A value and the B of its field A:B as "A:B", cut to VIZ_MAX_KEY_VALUE_BYTES
 * at a UTF-8 boundary (each part was cut when read): what the file source
 * makes of the same event (source_file.c build_key). */
static const char *join_value(char *out, const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b), n = na + 1 + nb;
    memcpy(out, a, na);
    out[na] = ':';
    memcpy(out + na + 1, b, nb);
    if (n > VIZ_MAX_KEY_VALUE_BYTES) {
        n = VIZ_MAX_KEY_VALUE_BYTES;
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80) n--;
    }
    out[n] = 0;
    return out;
}

static int emit_bucket(es_parser *p) {
    p->answer.buckets++;
    if (p->status != 200) return 0;
    bucket *b = &p->row;
    raw_row row;
    for (int i = 0; i < EP_COUNT; i++) {
        row.value[i] = b->present[i] ? b->value[i] : NULL;
        int from = 0; /* which field gave it: 0 fields[], k alt k - 1 */
        /* The first of the part's other fields that the bucket has. */
        for (int k = 0; !row.value[i] && k < FLOW_MAX_FIELD_ALTS; k++)
            if (b->alt_present[i][k]) {
                row.value[i] = b->alt_value[i][k];
                from = k + 1;
            }
        if (row.value[i] && b->join_present[i][from])
            row.value[i] = join_value(b->joined[i], row.value[i], b->join_value[i][from]);
    }
    double total = p->sums ? b->sum : b->doc_count;
    double danger = p->sums ? b->danger_sum : b->danger_docs;
    double warning = p->sums ? b->warning_sum : b->warning_docs;
    double normal = total - warning - danger;
    row.count[CLASS_NORMAL] = normal > 0 ? normal : 0;
    row.count[CLASS_WARNING] = warning > 0 ? warning : 0;
    row.count[CLASS_DANGER] = danger > 0 ? danger : 0;
    /* Durations in the flow's unit; the graph works in milliseconds. */
    double unit = p->flow->latency_unit_ms;
    row.lat = (latency){0};
    /* Weighted (latency.weight): weighted_avg times the weight it covers. */
    double lat_sum = util_str_empty(p->flow->latency_weight_field) ? b->lat_sum
                     : b->has_lat_avg                              ? b->lat_avg * b->lat_n
                                                                   : 0;
    if (b->lat_n > 0 && (util_str_empty(p->flow->latency_weight_field) || b->has_lat_avg)) {
        row.lat.sum_ms = lat_sum * unit;
        row.lat.n = b->lat_n;
        if (b->has_lat_max) {
            row.lat.max_ms = b->lat_max * unit;
            row.lat.max_n = b->lat_n;
        }
    }
    if (p->emit(p->ctx, &row) != 0) {
        p->stopped = true;
        return stop(p, ES_ANSWER_OK, "the row receiver stopped the page");
    }
    return 0;
}

static int close_container(es_parser *p, bool is_map) {
    token_seen(p);
    const frame *f = top(p);
    p->depth--;
    if (p->depth == 0) p->root_done = true;
    if (f->at == AT_AFTER_KEY) {
        if (is_map)
            jsonw_object_end(&p->after_w);
        else
            jsonw_array_end(&p->after_w);
        if (jsonw_failed(&p->after_w)) return stop(p, ES_ANSWER_UNEXPECTED, "after_key too large");
        if (p->depth > 0 && top(p)->at != AT_AFTER_KEY) p->has_after = true;
        return 0;
    }
    if (f->at == AT_BUCKET) return emit_bucket(p);
    return 0;
}

static int on_start_map(void *ctx) {
    return open_container(ctx, true);
}

static int on_end_map(void *ctx) {
    return close_container(ctx, true);
}

static int on_start_array(void *ctx) {
    return open_container(ctx, false);
}

static int on_end_array(void *ctx) {
    return close_container(ctx, false);
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len) {
    es_parser *p = ctx;
    token_seen(p);
    frame *f = top(p);
    if (f->at == AT_AFTER_KEY) {
        /* jsonw takes C strings; a key cut at a NUL would not page right. */
        char name[VIZ_NAME_MAX];
        if (len >= sizeof name || memchr(key, 0, len)) return stop(p, ES_ANSWER_UNEXPECTED, "odd after_key name");
        memcpy(name, key, len);
        name[len] = '\0';
        jsonw_key(&p->after_w, name);
        return 0;
    }
    f->key = lookup_key(p, f->at, (const char *)key, len);
    return 0;
}

static const jsonr_callbacks callbacks = {
    .on_null = on_null,
    .on_boolean = on_boolean,
    .on_number = on_number,
    .on_string = on_string,
    .on_start_map = on_start_map,
    .on_map_key = on_map_key,
    .on_end_map = on_end_map,
    .on_start_array = on_start_array,
    .on_end_array = on_end_array,
};

void es_parser_reset(es_parser *p, int http_status) {
    if (p->json)
        jsonr_reset(p->json);
    else
        p->json = jsonr_new(&callbacks, p);
    p->status = http_status;
    p->fed = p->last_token = 0;
    p->started = p->root_done = false;
    p->snippet_len = 0;
    p->failed = p->stopped = false;
    p->fail_kind = ES_ANSWER_OK;
    p->fail_reason[0] = '\0';
    p->depth = 0;
    buf_reset(&p->after);
    p->has_after = false;
    p->has_shards = p->root_is_array = false;
    p->has_error = p->error_is_string = p->too_many_buckets = false;
    memset(&p->top, 0, sizeof p->top);
    memset(&p->root_cause, 0, sizeof p->root_cause);
    memset(&p->caused_by, 0, sizeof p->caused_by);
    memset(&p->answer, 0, sizeof p->answer);
    p->answer.status = http_status;
}

/* Keeps the first bytes of the body, printable, for the NOT_JSON reason. */
static void keep_snippet(es_parser *p, const char *data, size_t len) {
    for (size_t i = 0; i < len && p->snippet_len < ES_PARSE_SNIPPET_BYTES; i++) {
        unsigned char c = (unsigned char)data[i];
        p->snippet[p->snippet_len++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    p->snippet[p->snippet_len] = '\0';
}

int es_parser_feed(es_parser *p, const char *data, size_t len) {
    keep_snippet(p, data, len); /* also after a failure: a proxy's page arrives in pieces */
    if (p->failed) return -1;
    if (!p->started) {
        size_t i = 0;
        while (i < len && isspace((unsigned char)data[i])) i++;
        if (i < len) {
            p->started = true;
            if (data[i] != '{' && data[i] != '[') {
                stop(p, ES_ANSWER_NOT_JSON, "");
                return -1;
            }
        }
    }
    jsonr_status st = jsonr_feed(p->json, data, len);
    p->fed += len;
    if (st == JSONR_STOPPED) return -1;
    if (st != JSONR_OK) {
        stop(p, ES_ANSWER_NOT_JSON, jsonr_error(p->json));
        return -1;
    }
    if (p->fed - p->last_token > ES_MAX_TOKEN_BYTES) {
        stop(p, ES_ANSWER_UNEXPECTED, "a JSON token longer than 1 MiB");
        return -1;
    }
    return 0;
}

/* The error's reason for a person: the top-level one, and for a search
 * phase failure ("all shards failed", or "" at reduce time) its first cause,
 * which is what went wrong. */
static void describe_error(es_parser *p) {
    es_answer *a = &p->answer;
    copy_cut(a->error_type, sizeof a->error_type, p->top.type, sizeof p->top.type);
    const cause *inner = p->root_cause.type[0] ? &p->root_cause : p->caused_by.type[0] ? &p->caused_by : NULL;
    if (inner && strcmp(p->top.type, "search_phase_execution_exception") == 0) {
        char text[sizeof p->top.reason + sizeof inner->type + sizeof inner->reason + 8]; /* never cut here */
        if (p->top.reason[0])
            snprintf(text, sizeof text, "%s: %s: %s", p->top.reason, inner->type, inner->reason);
        else
            snprintf(text, sizeof text, "%s: %s", inner->type, inner->reason);
        copy_cut(a->error_reason, sizeof a->error_reason, text, sizeof text);
    } else {
        copy_cut(a->error_reason, sizeof a->error_reason, p->top.reason, sizeof p->top.reason);
    }
    if (p->too_many_buckets)
        a->kind = ES_ANSWER_TOO_MANY_BUCKETS;
    else
        a->kind = ES_ANSWER_ERROR;
}

int es_parser_finish(es_parser *p, es_answer *out, char *err) {
    es_answer *a = &p->answer;
    int rc = 0;
    if (!p->failed) {
        if (!p->started) {
            stop(p, ES_ANSWER_TRUNCATED, "");
        } else {
            /* A body that parsed so far but cannot be completed ended early. */
            jsonr_status st = jsonr_finish(p->json);
            if (!p->failed && st == JSONR_ERROR) stop(p, ES_ANSWER_NOT_JSON, jsonr_error(p->json));
            if (!p->failed && st != JSONR_OK) stop(p, ES_ANSWER_TRUNCATED, "");
        }
    }

    if (p->failed && !p->stopped) {
        a->kind = p->fail_kind;
        switch (p->fail_kind) {
        case ES_ANSWER_NOT_JSON:
            rc = util_fail(err, "answer is not JSON (HTTP %d%s%s): \"%s\"", p->status, p->fail_reason[0] ? ", " : "",
                           p->fail_reason, p->snippet);
            break;
        case ES_ANSWER_TRUNCATED:
            if (p->fed == 0 || !p->started)
                rc = util_fail(err, "empty answer (HTTP %d)", p->status);
            else
                rc = util_fail(err, "answer ends inside its JSON after %zu bytes (HTTP %d)", p->fed, p->status);
            break;
        default:
            rc = util_fail(err, "unexpected answer (HTTP %d): %s", p->status, p->fail_reason);
            break;
        }
    } else if (p->stopped) {
        a->kind = ES_ANSWER_OK;
        rc = util_fail(err, "%s", p->fail_reason);
    } else if (p->has_error) {
        describe_error(p);
        if (a->kind == ES_ANSWER_TOO_MANY_BUCKETS)
            rc = util_fail(err, "too many buckets (HTTP %d, search.max_buckets %lld): %s", p->status,
                           (long long)a->max_buckets, a->error_reason);
        else if (a->error_type[0])
            rc = util_fail(err, "Elasticsearch error (HTTP %d): %s: %s", p->status, a->error_type, a->error_reason);
        else
            rc = util_fail(err, "Elasticsearch error (HTTP %d): %s", p->status, a->error_reason);
    } else if (p->status != 200) {
        a->kind = ES_ANSWER_UNEXPECTED;
        rc = util_fail(err, "unexpected answer (HTTP %d) without an error object", p->status);
    } else if (p->root_is_array || (!a->has_aggregations && !p->has_shards)) {
        a->kind = ES_ANSWER_UNEXPECTED;
        rc = util_fail(err, "unexpected answer (HTTP 200): neither aggregations nor _shards");
    } else {
        a->kind = ES_ANSWER_OK;
        if (p->has_after) {
            size_t n;
            a->after_key = buf_take(&p->after, &n);
        }
    }

    *out = *a;
    a->after_key = NULL;
    return rc;
}

bool es_parser_row_slice(const es_parser *p, int64_t *slice_ms, double *docs) {
    if (!p->row.has_slice) return false;
    *slice_ms = p->row.slice;
    *docs = p->row.doc_count;
    return true;
}

int es_parse_timeline_row(void *rows, const raw_row *row) {
    es_timeline_rows *t = rows;
    const char *key = row->value[EP_FROM_HOST];
    char *end = NULL;
    double v = key ? strtod(key, &end) : 0;
    /* Within int64_t's range (and not NaN), so the conversion is defined. */
    if (!key || end == key || *end || v != v || v < -9.2e18 || v > 9.2e18) return 0;
    raw_row r = *row;
    r.value[EP_FROM_SERVICE] = r.value[EP_FROM_REGION] = r.value[EP_FROM_HOST] = NULL;
    return t->emit(t->ctx, util_align_ms((int64_t)v, t->step_ms), &r);
}

int64_t es_parse_shards_missing(const es_answer *a) {
    if (!a->has_successful) return 0;
    int64_t missing = a->shards_total - a->shards_successful - a->shards_skipped - a->shards_failed;
    return missing > 0 ? missing : 0;
}
