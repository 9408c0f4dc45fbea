/*
 * source_file.c - a flow whose events are lines of an NDJSON file: Beats'
 * `output.file` documents or Elasticsearch hits (read from their _source).
 *
 * The file is followed like `tail -F`: the descriptor stays open and every
 * collect() reads what was appended since the last one, keeping a partial last
 * line until its newline arrives. When the path names a new file (rotation by
 * rename), the old descriptor is read to its end first and the new file is
 * then read from its start; a file that shrank (truncation) is read again from
 * its start. Size alone cannot tell a file truncated and regrown to the old
 * offset or past it between two collects (copytruncate with a busy writer)
 * from an append, so the first HEAD_BYTES bytes read are kept, with the
 * inode and device (Filebeat's fingerprint idea), and compared with the
 * file's first bytes before each read: when they differ the file is new and
 * is read from its start. The cost is one pread of at most HEAD_BYTES per
 * collect. A rewrite whose first HEAD_BYTES bytes are the old ones, byte for
 * byte, is still taken for an append (NDJSON events start with distinct
 * timestamps, so this needs a rewrite of the same events).
 *
 * Each accepted event is kept in 24 bytes (timestamp, class, count and the id
 * of its endpoint tuple) in a ring of at most VIZ_MAX_FILE_EVENTS. The six
 * endpoint values are interned once per distinct tuple, so memory grows with
 * distinct edges, not with traffic. A collect() first drops the events older
 * than the newest window end asked for minus the window and the baseline
 * (graph.baseline, plus BASELINE_EVERY intervals: the baseline window's grid),
 * so that the refresher's baseline collect and past windows find their
 * events. A collect() for an earlier window is answered from what is still
 * kept; events dropped earlier are gone, and held_from() says since when the
 * source holds every event (the floor, or later when the event limit made
 * room by dropping the oldest).
 *
 * Events are evaluated the way the Elasticsearch source asks Elasticsearch to:
 * `where` must hold (cond_all); danger wins over warning; the count field is
 * summed over its numeric values, missing counting 0, like a sum aggregation;
 * each endpoint is the first non-null value of its field.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cond.h"
#include "doc.h"
#include "bounds.h"
#include "hashtab.h"
#include "source.h"
#include "util.h"

#define READ_CHUNK (256u << 10)
/* The first bytes of the file kept to tell a rewritten file from a grown one:
 * a kilobyte holds several events, hence several timestamps. */
#define HEAD_BYTES    1024
#define MAX_KEY_BYTES (UINT32_MAX - 1u)
/* One tuple's key: per part a flag byte, the value (cut) and a NUL. */
#define KEY_MAX (EP_COUNT * (VIZ_MAX_KEY_VALUE_BYTES + 2))

typedef struct {
    int64_t ts;
    double count;
    uint32_t tuple;
    uint8_t class;
} event;

/* A distinct endpoint tuple. Its key is six parts, each either the byte 0
 * (no value) or the byte 1, the value and a NUL, so that NULL and "" differ
 * and the values can be handed out straight from the key. */
typedef struct {
    uint64_t hash;
    uint32_t off, len; /* key bytes in source.keys */
    uint32_t refs;     /* kept events that use it; 0 = dead, purged later */
} tuple;

typedef struct {
    source base; /* first: the source * the ops get points here (source.h) */
    const flow_config *flow;
    char *path;
    int fd; /* -1 while the file does not exist */
    dev_t dev;
    ino_t ino;
    off_t offset;
    char head[HEAD_BYTES]; /* the file's first bytes as read; head_len = min(offset, HEAD_BYTES) */
    size_t head_len;
    char *chunk;
    buf partial;   /* a line whose newline has not arrived yet */
    bool skipping; /* inside an oversize line: drop bytes up to a newline */
    doc_schema *schema;
    doc *doc;
    int64_t floor;         /* events before this (newest window end - window - keep_extra_ms) are not kept */
    int64_t keep_extra_ms; /* kept beyond the window: baseline + its grid (refresh.h), what may still be asked for */
    int64_t newest_end;    /* the latest window end asked for; INT64_MIN before the first collect */
    int64_t evicted_to;    /* newest timestamp the event limit made room by dropping; INT64_MIN = none */
    /* The date, hour and minute ("2026-01-01T00:00:") of the last timestamp
     * read in the common shape (memo_time()) and its milliseconds at :00.000. */
    char time_prefix[17];
    int64_t time_base;
    bool time_memo;

    event *events; /* ring */
    size_t events_cap, events_head, events_len;
    /* Each event's latency, a ring beside events (same indices); NULL when
     * the flow reads no latency, so such flows keep 24 bytes an event. */
    latency *lats;
    bool has_latency;

    tuple *tuples;
    size_t ntuples, tuples_cap, live_tuples;
    hashtab index; /* of tuples, tagged with their hash */
    buf keys;
    char *key; /* the key being built for the current event, KEY_MAX bytes */
    size_t key_len;

    double (*sums)[CLASS_COUNT]; /* per tuple, during collect() */
    latency *tuple_lats;         /* per tuple, during collect(), when has_latency */
    uint8_t *touched;
    uint32_t *order;
    size_t sums_cap;

    source_stats stats;
} file_src;

/* ---- tuples ---------------------------------------------------------- */

/* Indexes the tuples anew, in slots sized for them (a purge shrinks them). */
static void index_rebuild(file_src *s) {
    hashtab_free(&s->index);
    hashtab_reserve(&s->index, s->ntuples > 512 ? s->ntuples : 512);
    for (size_t id = 0; id < s->ntuples; id++) hashtab_put(&s->index, (uint32_t)s->tuples[id].hash, id);
}

/* Forgets tuples no kept event uses: renumbers the live ones (in their old
 * order), copies their keys and rewrites the events. O(events + tuples),
 * done only once dead tuples outnumber live ones. */
static void purge_tuples(file_src *s) {
    uint32_t *renumber = xmalloc((s->ntuples ? s->ntuples : 1) * sizeof *renumber);
    buf keys;
    buf_init(&keys, MAX_KEY_BYTES);
    size_t live = 0;
    for (size_t id = 0; id < s->ntuples; id++) {
        tuple t = s->tuples[id];
        if (t.refs == 0) continue;
        renumber[id] = (uint32_t)live;
        uint32_t off = (uint32_t)keys.len;
        buf_append(&keys, s->keys.data + t.off, t.len); /* fits: a subset of the old keys */
        t.off = off;
        s->tuples[live++] = t;
    }
    buf_free(&s->keys);
    s->keys = keys;
    s->ntuples = live;
    s->live_tuples = live;
    for (size_t i = 0, j = s->events_head; i < s->events_len; i++) {
        s->events[j].tuple = renumber[s->events[j].tuple];
        if (++j == s->events_cap) j = 0;
    }
    free(renumber);
    index_rebuild(s);
}

static void tuple_release(file_src *s, uint32_t id) {
    if (--s->tuples[id].refs == 0) s->live_tuples--;
}

/* The id of the tuple whose key is in s->key, added if new; -1 when the key
 * store is full. */
static int64_t tuple_intern(file_src *s) {
    const char *key = s->key;
    size_t len = s->key_len;
    uint64_t hash = hashtab_hash_bytes(key, len, HASHTAB_SEED);
    uint32_t tag = (uint32_t)hash;
    for (hashtab_slot *sl = hashtab_first(&s->index, tag); sl->id; sl = hashtab_next(&s->index, sl)) {
        tuple *t = &s->tuples[sl->id - 1];
        if (sl->tag == tag && t->hash == hash && t->len == len && memcmp(s->keys.data + t->off, key, len) == 0) {
            if (t->refs++ == 0) s->live_tuples++;
            return sl->id - 1;
        }
    }
    if (s->ntuples == FILE_MAX_TUPLES) {
        purge_tuples(s);
        if (s->ntuples == FILE_MAX_TUPLES) return -1;
        return tuple_intern(s);
    }
    uint32_t off = (uint32_t)s->keys.len;
    if (buf_append(&s->keys, key, len) < 0) return -1;
    if (s->ntuples == s->tuples_cap) {
        s->tuples_cap = s->tuples_cap ? s->tuples_cap * 2 : 1024;
        s->tuples = xrealloc(s->tuples, s->tuples_cap * sizeof *s->tuples);
    }
    uint32_t id = (uint32_t)s->ntuples++;
    s->tuples[id] = (tuple){.hash = hash, .off = off, .len = (uint32_t)len, .refs = 1};
    s->live_tuples++;
    hashtab_put(&s->index, tag, id);
    return id;
}

static void tuple_values(const file_src *s, uint32_t id, const char *values[EP_COUNT]) {
    const char *p = s->keys.data + s->tuples[id].off;
    for (int i = 0; i < EP_COUNT; i++) {
        if (*p++ == 0) {
            values[i] = NULL;
        } else {
            values[i] = p;
            p += strlen(p) + 1;
        }
    }
}

/* ---- events ---------------------------------------------------------- */

static void events_push(file_src *s, const event *e, const latency *lat) {
    if (s->events_len == s->events_cap) {
        if (s->events_cap == VIZ_MAX_FILE_EVENTS) {
            /* Full: the oldest event makes room. */
            if (s->events[s->events_head].ts > s->evicted_to) s->evicted_to = s->events[s->events_head].ts;
            tuple_release(s, s->events[s->events_head].tuple);
            if (++s->events_head == s->events_cap) s->events_head = 0;
            s->events_len--;
            s->stats.dropped++;
        } else {
            size_t cap = s->events_cap ? s->events_cap * 2 : 4096;
            if (cap > VIZ_MAX_FILE_EVENTS) cap = VIZ_MAX_FILE_EVENTS;
            event *grown = xmalloc(cap * sizeof *grown);
            latency *lats = s->has_latency ? xmalloc(cap * sizeof *lats) : NULL;
            for (size_t i = 0, j = s->events_head; i < s->events_len; i++) {
                grown[i] = s->events[j];
                if (lats) lats[i] = s->lats[j];
                if (++j == s->events_cap) j = 0;
            }
            free(s->events);
            free(s->lats);
            s->events = grown;
            s->lats = lats;
            s->events_cap = cap;
            s->events_head = 0;
        }
    }
    size_t tail = s->events_head + s->events_len;
    if (tail >= s->events_cap) tail -= s->events_cap;
    s->events[tail] = *e;
    if (s->lats) s->lats[tail] = lat ? *lat : (latency){0};
    s->events_len++;
}

/* A number, or a string that is wholly one (as a numeric field coerces it). */
static bool value_number(const doc_value *v, double *out) {
    if (v->type == DOC_NUMBER) {
        *out = v->number;
        return isfinite(*out);
    }
    if (v->type != DOC_STRING || v->len == 0) return false;
    char *end;
    *out = strtod(v->text, &end);
    bool plain = (v->text[0] >= '0' && v->text[0] <= '9') || v->text[0] == '-' || v->text[0] == '.';
    return plain && end == v->text + v->len && isfinite(*out);
}

/* A timestamp in the shape Beats and APM write, "2026-01-01T00:00:31.123Z",
 * whose date, hour and minute are those of the last one: its milliseconds
 * without parsing it all again (util_parse_timestamp_ms() is linear in the
 * seconds and the fraction). false: not this shape, left to event_time(). */
static bool memo_time(file_src *s, const doc_value *v, int64_t *ts) {
    const char *t = v->text;
    if (v->len != 24 || t[16] != ':' || t[19] != '.' || t[23] != 'Z') return false;
    for (int i = 17; i < 23; i++)
        if (i != 19 && (t[i] < '0' || t[i] > '9')) return false;
    int sec = (t[17] - '0') * 10 + (t[18] - '0');
    int frac = (t[20] - '0') * 100 + (t[21] - '0') * 10 + (t[22] - '0');
    if (sec > 60) return false;
    if (s->time_memo && memcmp(t, s->time_prefix, sizeof s->time_prefix) == 0) {
        *ts = s->time_base + sec * 1000 + frac;
        return true;
    }
    if (util_parse_timestamp_ms(t, ts, NULL) != 0) return false;
    memcpy(s->time_prefix, t, sizeof s->time_prefix);
    s->time_base = *ts - sec * 1000 - frac;
    s->time_memo = true;
    return true;
}

static bool event_time(file_src *s, int64_t *ts) {
    const doc_value *v;
    size_t n = doc_get(s->doc, s->flow->timestamp_field, &v);
    for (size_t i = 0; i < n; i++) {
        if (v[i].type == DOC_NULL) continue;
        if (v[i].type == DOC_NUMBER) {
            if (!isfinite(v[i].number) || fabs(v[i].number) > 1e17) return false;
            *ts = (int64_t)floor(v[i].number);
            return true;
        }
        if (v[i].type != DOC_STRING) return false;
        if (memo_time(s, &v[i], ts)) return true;
        if (util_parse_timestamp_ms(v[i].text, ts, NULL) == 0) return true;
        /* A date-time without a zone ("2024-01-15T10:30:00", as in
         * Elasticsearch's own OpenTelemetry tests) is UTC to Elasticsearch's
         * date parser; read it the same way. */
        char utc[64];
        return v[i].len + 2 <= sizeof utc && v[i].len > 10 && (v[i].text[10] == 'T' || v[i].text[10] == ' ') &&
               snprintf(utc, sizeof utc, "%sZ", v[i].text) > 0 && util_parse_timestamp_ms(utc, ts, NULL) == 0;
    }
    return false;
}

static double field_sum(const file_src *s, const char *field) {
    const doc_value *v;
    size_t n = doc_get(s->doc, field, &v);
    double sum = 0, x;
    for (size_t i = 0; i < n; i++)
        if (value_number(&v[i], &x)) sum += x;
    return sum;
}

/* A duration field that holds a histogram ({"values":[v...],"counts":[c...]},
 * how the OTel exporter stores a histogram metric such as the service-graph
 * connector's request_server_seconds), as Elasticsearch's sum, value_count
 * and max read a `histogram` field: sum of v*c, sum of c, largest v. Zero
 * counts are dropped (Elasticsearch does not store them); a histogram whose
 * arrays differ in length, hold a non-number, a negative or fractional count
 * or values out of order is one Elasticsearch refuses to index, so it adds
 * nothing here either. In ms. */
static void histogram_latency(const file_src *s, latency *l) {
    const flow_config *f = s->flow;
    char name[512];
    const doc_value *v, *c;
    snprintf(name, sizeof name, "%s.values", f->latency_field);
    size_t nv = doc_get(s->doc, name, &v);
    snprintf(name, sizeof name, "%s.counts", f->latency_field);
    size_t nc = doc_get(s->doc, name, &c);
    if (nv == 0 || nv != nc) return;
    double x, n, prev = -INFINITY;
    for (size_t i = 0; i < nv; i++) {
        if (!value_number(&v[i], &x) || !value_number(&c[i], &n) || n < 0 || n != floor(n) || x < prev) return;
        prev = x;
    }
    latency h = {0};
    for (size_t i = 0; i < nv; i++) {
        value_number(&v[i], &x);
        value_number(&c[i], &n);
        if (n == 0) continue;
        h.sum_ms += x * n * f->latency_unit_ms;
        if (h.n == 0 || x * f->latency_unit_ms > h.max_ms) h.max_ms = x * f->latency_unit_ms;
        h.n += n;
    }
    *l = h;
}

/* The event's latency as Elasticsearch's sub-aggregations would see it:
 * the duration field's numeric values (sum, how many, the largest), or the
 * pre-aggregated sum and count fields; in milliseconds. */
static latency event_latency(const file_src *s) {
    const flow_config *f = s->flow;
    latency l = {0};
    if (!util_str_empty(f->latency_field)) {
        const doc_value *v;
        size_t n = doc_get(s->doc, f->latency_field, &v);
        double x, durations = 0;
        for (size_t i = 0; i < n; i++) {
            if (!value_number(&v[i], &x)) continue;
            l.sum_ms += x * f->latency_unit_ms;
            if (durations == 0 || x * f->latency_unit_ms > l.max_ms) l.max_ms = x * f->latency_unit_ms;
            durations++;
        }
        l.n = durations;
        if (durations > 0 && !util_str_empty(f->latency_weight_field)) {
            /* latency.weight: as Elasticsearch's weighted_avg (missing 1)
             * times the weights' sum over the documents with a duration. */
            double w = 1;
            const doc_value *wv;
            size_t wn = doc_get(s->doc, f->latency_weight_field, &wv);
            for (size_t i = 0; i < wn; i++)
                if (value_number(&wv[i], &w)) break;
            l.sum_ms = l.sum_ms / durations * w;
            l.n = w;
        }
        if (l.n == 0) histogram_latency(s, &l);
        l.max_n = l.n;
    } else if (!util_str_empty(f->latency_sum_field) && !util_str_empty(f->latency_count_field)) {
        l.sum_ms = field_sum(s, f->latency_sum_field) * f->latency_unit_ms;
        l.n = field_sum(s, f->latency_count_field);
    }
    return l;
}

static double event_count(const file_src *s) {
    if (util_str_empty(s->flow->count_field)) return 1;
    if (s->flow->has_count_missing) {
        /* Like "missing" in a sum aggregation: a document with no value. */
        const doc_value *v;
        size_t n = doc_get(s->doc, s->flow->count_field, &v);
        bool any = false;
        for (size_t i = 0; i < n && !any; i++) any = v[i].type != DOC_NULL;
        if (!any) return s->flow->count_missing;
    }
    return field_sum(s, s->flow->count_field);
}

/* Cuts n bytes of s to at most max without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* The first non-null value of a field, or NULL. */
static const doc_value *first_value(const file_src *s, const char *field) {
    const doc_value *v;
    size_t n = util_str_empty(field) ? 0 : doc_get(s->doc, field, &v);
    for (size_t j = 0; j < n; j++)
        if (v[j].type != DOC_NULL) return &v[j];
    return NULL;
}

/* A value as a key holds it: cut at a "\u0000" (rows carry C strings) and
 * to VIZ_MAX_KEY_VALUE_BYTES, as es_parse.c cuts a bucket key. */
static size_t key_len(const doc_value *v) {
    return utf8_cut(v->text, strnlen(v->text, v->len), VIZ_MAX_KEY_VALUE_BYTES);
}

/* Written straight into a buffer of KEY_MAX bytes, which every key fits
 * (a joined A:B value is cut to one value's length): this runs for every event. */
static void build_key(file_src *s) {
    char *out = s->key;
    for (int i = 0; i < EP_COUNT; i++) {
        const doc_value *v = first_value(s, s->flow->fields[i]);
        int k = 0; /* which field gave it: 0 fields[i], k alt_fields[i][k - 1] */
        /* The part's other fields, in order, while none has given a value. */
        while (!v && k < FLOW_MAX_FIELD_ALTS && !util_str_empty(s->flow->alt_fields[i][k])) {
            v = first_value(s, s->flow->alt_fields[i][k]);
            k++;
        }
        if (!v) {
            *out++ = 0;
            continue;
        }
        *out++ = 1;
        const doc_value *join = first_value(s, s->flow->join_fields[i][k]);
        if (join) {
            /* A:B (host:port) as es_parse.c joins the two bucket keys: each
             * cut, then the whole cut again. */
            char both[2 * VIZ_MAX_KEY_VALUE_BYTES + 2];
            size_t a = key_len(v), b = key_len(join);
            memcpy(both, v->text, a);
            both[a] = ':';
            memcpy(both + a + 1, join->text, b);
            size_t len = utf8_cut(both, a + 1 + b, VIZ_MAX_KEY_VALUE_BYTES);
            memcpy(out, both, len);
            out += len;
        } else {
            size_t len = key_len(v);
            memcpy(out, v->text, len);
            out += len;
        }
        *out++ = 0;
    }
    s->key_len = (size_t)(out - s->key);
    assert(s->key_len <= KEY_MAX);
}

static void handle_line(file_src *s, const char *line, size_t len) {
    if (len > 0 && line[len - 1] == '\r') len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) return; /* blank lines are no events, nor errors */

    if (doc_parse(s->doc, line, len, NULL) < 0) {
        s->stats.malformed++;
        return;
    }
    const flow_config *flow = s->flow;
    if (!cond_all(&flow->where, s->doc)) return;
    event e;
    if (!event_time(s, &e.ts)) {
        s->stats.no_timestamp++;
        return;
    }
    s->stats.events++;
    if (e.ts < s->floor) return;
    e.class = cond_any(&flow->danger, s->doc)    ? CLASS_DANGER
              : cond_any(&flow->warning, s->doc) ? CLASS_WARNING
                                                 : CLASS_NORMAL;
    e.count = event_count(s);
    build_key(s);
    int64_t id = tuple_intern(s);
    if (id < 0) {
        s->stats.dropped++;
        return;
    }
    e.tuple = (uint32_t)id;
    if (!util_str_empty(flow->danger_count_field)) {
        /* One document holds the calls and the failed calls among them
         * (danger_count): as the Elasticsearch source's danger sum, the
         * failed part is danger and the rest normal. */
        event failed = e;
        failed.class = CLASS_DANGER;
        failed.count = field_sum(s, flow->danger_count_field);
        e.count -= failed.count;
        if (failed.count != 0 && (id = tuple_intern(s)) >= 0) events_push(s, &failed, NULL);
    }
    latency lat = s->has_latency ? event_latency(s) : (latency){0};
    events_push(s, &e, &lat);
}

/* Splits bytes into lines; a line may span reads and stays in s->partial
 * until its newline arrives. */
static void consume(file_src *s, const char *p, size_t n) {
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        const char *next = nl ? nl + 1 : end;
        if (s->skipping) {
            s->skipping = !nl;
        } else if (s->partial.len > 0 || !nl) {
            if (s->partial.len + len > VIZ_MAX_LINE_BYTES) {
                s->stats.oversize++;
                buf_reset(&s->partial);
                s->skipping = !nl;
            } else {
                buf_append(&s->partial, p, len);
                if (nl) {
                    handle_line(s, s->partial.data, s->partial.len);
                    buf_reset(&s->partial);
                }
            }
        } else if (len > VIZ_MAX_LINE_BYTES) {
            s->stats.oversize++;
        } else {
            handle_line(s, p, len);
        }
        p = next;
    }
}

/* ---- following the file ---------------------------------------------- */

static void forget_partial(file_src *s) {
    buf_reset(&s->partial);
    s->skipping = false;
}

/* Opens the file at s->path from its start. A missing file is not an error:
 * s->fd stays -1 until it appears. */
static int open_file(file_src *s, char *err) {
    /* O_NONBLOCK: opening a FIFO would otherwise block the thread until a
     * writer appears; anything but a regular file is refused just below. */
    int fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return util_fail(err, "%s: %s", s->path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return util_fail(err, "%s: %s", s->path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        /* A device such as /dev/zero never reaches end of file, a FIFO has no
         * offset to follow: only regular files can be followed. */
        close(fd);
        return util_fail(err, "%s: %s, not a regular file", s->path,
                         S_ISDIR(st.st_mode) ? "a directory" : "a special file");
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    s->fd = fd;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->offset = 0;
    s->head_len = 0;
    forget_partial(s);
    return 0;
}

static int read_to_end(file_src *s, char *err) {
    for (;;) {
        ssize_t n = read(s->fd, s->chunk, READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR) continue;
            return util_fail(err, "%s: read: %s", s->path, strerror(errno));
        }
        if (n == 0) return 0;
        if (s->offset < HEAD_BYTES) {
            size_t take = HEAD_BYTES - (size_t)s->offset < (size_t)n ? HEAD_BYTES - (size_t)s->offset : (size_t)n;
            memcpy(s->head + s->offset, s->chunk, take);
            s->head_len = (size_t)s->offset + take;
        }
        s->offset += n;
        consume(s, s->chunk, (size_t)n);
    }
}

/* Whether the file's first bytes are no longer those read: it was truncated
 * and written again, however far it has grown since. A read error counts as
 * unchanged: the read that follows reports it. */
static bool head_changed(file_src *s) {
    if (s->head_len == 0) return false;
    char now[HEAD_BYTES];
    size_t got = 0;
    while (got < s->head_len) {
        ssize_t n = pread(s->fd, now + got, s->head_len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true; /* shorter than what was read: truncated */
        got += (size_t)n;
    }
    return memcmp(now, s->head, s->head_len) != 0;
}

static int follow(file_src *s, char *err) {
    if (s->fd < 0) {
        if (open_file(s, err) < 0) return -1;
        if (s->fd < 0) return 0;
    }
    struct stat st;
    if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_size < s->offset || head_changed(s))) {
        if (lseek(s->fd, 0, SEEK_SET) < 0) return util_fail(err, "%s: seek: %s", s->path, strerror(errno));
        s->offset = 0;
        s->head_len = 0;
        forget_partial(s);
        s->stats.rotations++;
    }
    if (read_to_end(s, err) < 0) return -1;

    if (stat(s->path, &st) < 0) {
        /* Renamed away and not yet replaced: keep reading the old file. */
        if (errno == ENOENT) return 0;
        return util_fail(err, "%s: %s", s->path, strerror(errno));
    }
    if (st.st_dev == s->dev && st.st_ino == s->ino) return 0;

    /* Rotated: the old file is read to its end; a last line without its
     * newline will get none now, so it is taken as it is. */
    if (s->partial.len > 0 && !s->skipping) handle_line(s, s->partial.data, s->partial.len);
    forget_partial(s);
    close(s->fd);
    s->fd = -1;
    s->stats.rotations++;
    if (open_file(s, err) < 0) return -1;
    return s->fd < 0 ? 0 : read_to_end(s, err);
}

/* ---- source ops ------------------------------------------------------ */

static void file_close(source *src);

static source *file_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    if (util_str_empty(flow->path)) {
        util_fail(err, "a file flow needs a path");
        return NULL;
    }
    /* The file itself may appear later; a directory that does not exist is a
     * mistake in the configuration. */
    const char *slash = strrchr(flow->path, '/');
    if (slash) {
        char *dir = slash == flow->path ? xstrdup("/") : xstrndup(flow->path, (size_t)(slash - flow->path));
        struct stat st;
        int rc = stat(dir, &st);
        int e = errno;
        bool is_dir = rc == 0 && S_ISDIR(st.st_mode);
        if (!is_dir) {
            util_fail(err, "directory %s: %s", dir, rc < 0 ? strerror(e) : "not a directory");
            free(dir);
            return NULL;
        }
        free(dir);
    }

    file_src *s = xcalloc(1, sizeof *s);
    s->base.ops = &source_file_ops;
    s->flow = flow;
    s->has_latency = !util_str_empty(flow->latency_field) ||
                     (!util_str_empty(flow->latency_sum_field) && !util_str_empty(flow->latency_count_field));
    s->path = xstrdup(flow->path);
    s->fd = -1;
    s->floor = INT64_MIN;
    s->newest_end = INT64_MIN;
    s->evicted_to = INT64_MIN;
    /* The baseline window (refresh.h) ends up to BASELINE_EVERY intervals
     * before the live end moved back by the baseline, and past windows
     * (`?at=`) are answered from what is kept too. */
    if (cfg && cfg->graph.baseline_ms > 0)
        s->keep_extra_ms = cfg->graph.baseline_ms + BASELINE_EVERY * cfg->interval_ms;
    s->chunk = xmalloc(READ_CHUNK);
    buf_init(&s->partial, VIZ_MAX_LINE_BYTES);
    buf_init(&s->keys, MAX_KEY_BYTES);
    s->key = xmalloc(KEY_MAX);
    s->schema = doc_schema_new(flow);
    s->doc = doc_new(s->schema);
    index_rebuild(s);

    char why[ERR_LEN];
    if (open_file(s, why) < 0) {
        util_fail(err, "%s", why);
        file_close(&s->base);
        return NULL;
    }
    return &s->base;
}

/* Makes the per-tuple scratch arrays of a pass over the kept events (sums,
 * latencies, first-seen order, touched marks) as long as the tuple table;
 * collect and timeline share them, one pass at a time. */
static void grow_sums(file_src *s) {
    if (s->sums_cap >= s->ntuples) return;
    s->sums_cap = s->ntuples;
    s->sums = xrealloc(s->sums, s->sums_cap * sizeof *s->sums);
    if (s->has_latency) s->tuple_lats = xrealloc(s->tuple_lats, s->sums_cap * sizeof *s->tuple_lats);
    s->order = xrealloc(s->order, s->sums_cap * sizeof *s->order);
    free(s->touched);
    s->touched = xcalloc(s->sums_cap, sizeof *s->touched);
}

/* Adds an event to its tuple's sums; the first event of a tuple since the
 * sums were emitted zeroes them and puts the tuple in s->order, so rows come
 * out in the order tuples first appear. lat: the event's latency, or NULL
 * where latency is not summed (a timeline). */
static void sum_event(file_src *s, const event *e, const latency *lat, size_t *norder) {
    if (!s->touched[e->tuple]) {
        s->touched[e->tuple] = 1;
        s->order[(*norder)++] = e->tuple;
        memset(s->sums[e->tuple], 0, sizeof s->sums[e->tuple]);
        if (lat && s->tuple_lats) s->tuple_lats[e->tuple] = (latency){0};
    }
    s->sums[e->tuple][e->class] += e->count;
    if (lat && s->tuple_lats) latency_add(&s->tuple_lats[e->tuple], lat);
}

static int file_collect(source *src, int64_t start_ms, int64_t end_ms, row_emit_fn emit, void *ctx, char *err) {
    file_src *s = (file_src *)src;
    char why[ERR_LEN];
    /* Keep what a later window or baseline may still ask for: a window and
     * keep_extra_ms back from the newest end asked for. An earlier window is answered from
     * what is kept (held_from says since when) and moves nothing. */
    if (end_ms > s->newest_end) s->newest_end = end_ms;
    /* Any window may be asked for (the fuzz target asks for all time): a
     * floor that would overflow keeps everything. */
    int64_t width, floor;
    if (__builtin_sub_overflow(end_ms, start_ms, &width) || __builtin_sub_overflow(s->newest_end, width, &floor) ||
        __builtin_sub_overflow(floor, s->keep_extra_ms, &floor))
        floor = INT64_MIN;
    if (floor > s->floor) s->floor = floor;
    if (follow(s, why) < 0) return util_fail(err, "%s", why);

    grow_sums(s);
    /* One pass drops what fell out of the window and sums what is in it,
     * per tuple, in the order tuples first appear. */
    size_t kept = 0, norder = 0;
    for (size_t i = 0, j = s->events_head; i < s->events_len; i++) {
        event e = s->events[j];
        latency lat = s->lats ? s->lats[j] : (latency){0};
        if (++j == s->events_cap) j = 0;
        if (e.ts < s->floor) {
            tuple_release(s, e.tuple);
            continue;
        }
        size_t to = s->events_head + kept++;
        if (to >= s->events_cap) to -= s->events_cap;
        s->events[to] = e;
        if (s->lats) s->lats[to] = lat;
        if (e.ts >= end_ms || e.ts < start_ms) continue;
        sum_event(s, &e, &lat, &norder);
    }
    s->events_len = kept;

    int rc = 0;
    for (size_t i = 0; i < norder; i++) {
        uint32_t id = s->order[i];
        s->touched[id] = 0;
        if (rc) continue;
        raw_row row;
        tuple_values(s, id, row.value);
        memcpy(row.count, s->sums[id], sizeof row.count);
        row.lat = s->tuple_lats ? s->tuple_lats[id] : (latency){0};
        if (emit(ctx, &row) != 0) rc = util_fail(err, "collection stopped by its consumer");
    }

    if (s->ntuples > 4096 && s->ntuples - s->live_tuples > s->live_tuples) purge_tuples(s);
    return rc;
}

/* Emits the counts summed per tuple since the last flush, as rows of the
 * step that starts at step_start, and forgets them. */
static int flush_step(file_src *s, size_t *norder, int64_t step_start, step_emit_fn emit, void *ctx, char *err) {
    int rc = 0;
    for (size_t i = 0; i < *norder; i++) {
        uint32_t id = s->order[i];
        s->touched[id] = 0;
        if (rc) continue;
        raw_row row = {0};
        tuple_values(s, id, row.value);
        memcpy(row.count, s->sums[id], sizeof row.count);
        if (emit(ctx, step_start, &row) != 0) rc = util_fail(err, "timeline stopped by its consumer");
    }
    *norder = 0;
    return rc;
}

/* The timeline, from the events kept (what was read is read first, as a
 * collect() would). The window floor is left alone: a timeline keeps
 * nothing and drops nothing, and events older than what the source keeps
 * are not counted (the file source keeps its window and what the floor
 * allows, within VIZ_MAX_FILE_EVENTS). Events are summed per tuple while
 * they stay in one step, and the sums emitted when the step changes: events
 * come in about time order, so a step costs one row per tuple rather than
 * one per event (1M events over 6 hours: 0.3 s instead of 2 s). */
static int file_timeline(source *src, int64_t from_ms, int64_t to_ms, int64_t step_ms, step_emit_fn emit, void *ctx,
                         char *err) {
    file_src *s = (file_src *)src;
    char why[ERR_LEN];
    if (follow(s, why) < 0) return util_fail(err, "%s", why);
    grow_sums(s);
    size_t norder = 0;
    int64_t step = 0;
    int rc = 0;
    for (size_t i = 0, j = s->events_head; i < s->events_len && rc == 0; i++) {
        event e = s->events[j];
        if (++j == s->events_cap) j = 0;
        if (e.ts < from_ms || e.ts >= to_ms) continue;
        int64_t start = util_align_ms(e.ts, step_ms);
        if (start != step && norder > 0) rc = flush_step(s, &norder, step, emit, ctx, err);
        step = start;
        sum_event(s, &e, NULL, &norder);
    }
    if (norder > 0) {
        int flushed = flush_step(s, &norder, step, emit, ctx, err);
        if (rc == 0) rc = flushed;
    }
    return rc;
}

static void file_stats(const source *src, source_stats *out) {
    const file_src *s = (const file_src *)src;
    *out = s->stats;
}

static int64_t file_held_from(const source *src) {
    const file_src *s = (const file_src *)src;
    int64_t from = s->floor;
    if (s->evicted_to != INT64_MIN && s->evicted_to + 1 > from) from = s->evicted_to + 1;
    return from;
}

static void file_close(source *src) {
    file_src *s = (file_src *)src;
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    doc_free(s->doc);
    doc_schema_free(s->schema);
    buf_free(&s->partial);
    buf_free(&s->keys);
    free(s->key);
    free(s->chunk);
    free(s->events);
    free(s->tuples);
    hashtab_free(&s->index);
    free(s->sums);
    free(s->lats);
    free(s->tuple_lats);
    free(s->touched);
    free(s->order);
    free(s->path);
    free(s);
}

const source_ops source_file_ops = {
    .type = "file",
    .open = file_open,
    .collect = file_collect,
    .stats = file_stats,
    .close = file_close,
    .timeline = file_timeline,
    .held_from = file_held_from,
};
