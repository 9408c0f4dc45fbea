/*
 * doc.c - one NDJSON line reduced to the fields a flow reads.
 *
 * A line is read by the fast path below (a reader of its own that skips what
 * the schema does not lead to, without a callback per token) and, when that
 * gives up, by a single yajl pass in callback mode. While either walks the
 * document it keeps the dotted path of the current key in a buffer and looks
 * it up in the schema, which knows both the fields and every prefix of a field
 * ("http", "http.response" for "http.response.status_code"). A key that is
 * neither switches the whole subtree off, so the bulk of a 5 KB Beats event
 * costs one hash lookup per top-level key and nothing else.
 *
 * Memory is reused across lines: value texts go into one arena, values into
 * one array per schema field; both are reset, not freed, by each parse. Texts
 * are recorded as arena offsets while parsing (the arena may move as it
 * grows) and turned into pointers once the line is done.
 */
#include "bounds.h"
#include "doc.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "cond.h"
#include "hashtab.h"
#include "util.h"

enum { ENTRY_FIELD = 1, ENTRY_PREFIX = 2 };

/* Bits of the quick filter that rejects most keys of a live subtree before
 * they are hashed (see may_match()). */
#define FILTER_BITS 4096u

typedef struct {
    char *name;
    size_t len;
    uint64_t hash;
    int flags; /* ENTRY_FIELD and/or ENTRY_PREFIX */
    int field; /* index into doc_schema.fields when ENTRY_FIELD */
} schema_entry;

/* A field name as the flow's configuration holds it: doc_get() is called
 * with these very pointers, a dozen times a line, and finds them without
 * hashing. */
typedef struct {
    const char *name;
    int field;
} field_alias;

struct doc_schema {
    char **fields; /* distinct field names, in first-seen order */
    size_t nfields;
    field_alias *aliases;
    size_t naliases;
    schema_entry *entries; /* fields and prefixes, in the order inserted */
    size_t nentries;
    hashtab index; /* of entries, tagged with the path's hash */
    uint64_t filter[FILTER_BITS / 64];
};

/* Schema lookups run for every key of a live subtree and every condition
 * (ten a line for an APM span): the hash reads at most three 8-byte words,
 * the first, the middle and the last, and the length. Paths that differ
 * only elsewhere share a hash and are told apart by the key comparison; the
 * table holds only the schema's entries, so that costs a few comparisons at
 * most. */
static inline uint64_t path_hash(const char *p, size_t n) {
    uint64_t a = 0, b = 0, c = 0;
    if (n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
        if (n > 16) memcpy(&c, p + n / 2 - 4, 8);
    } else if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        a = lo, b = hi;
    } else {
        for (size_t i = 0; i < n; i++) a = a << 8 | (unsigned char)p[i];
    }
    uint64_t h =
        (a ^ HASHTAB_SEED) * 0x9e3779b97f4a7c15ULL ^ (b + n) * 0xbf58476d1ce4e5b9ULL ^ c * 0xff51afd7ed558ccdULL;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 29;
    return h;
}

/* A path's length, first and last byte pick one filter bit; a path whose
 * bit is clear is in no schema entry. Cheaper than hashing it. */
static size_t filter_bit(const char *p, size_t n) {
    return (n * 131u + (unsigned char)p[0] * 7u + (unsigned char)p[n - 1]) & (FILTER_BITS - 1);
}

static bool may_match(const doc_schema *s, const char *p, size_t n) {
    if (n == 0) return true;
    size_t bit = filter_bit(p, n);
    return (s->filter[bit / 64] >> (bit % 64)) & 1;
}

typedef struct {
    doc_value *values;
    size_t *offsets; /* arena offset of each value's text, until fixed up */
    size_t n, cap;
} field_values;

/* One open object or array. `base` is the path length of the key holding
 * it. `value_field` and `value_prefix` describe the value that comes next:
 * for an object, the value of its last key; for an array, every element
 * (arrays are transparent, so they inherit the state of their key). */
typedef struct {
    bool is_map;
    bool keys_live; /* object: its keys may lead to a schema field */
    size_t base;
    int value_field;   /* schema field receiving scalar values, or -1 */
    bool value_prefix; /* an object value may hold schema fields */
    /* Fast path only (fast_key()): the key memo slot of the key whose value
     * is being read (an array: of the key holding it), and of the key
     * holding this object; -1 for the top (and a hit's _source), whose path
     * is empty; -2 unknown. */
    int slot, parent_slot;
} frame;

/* What the key at one position of the previous lines led to (fast_key()). */
#define KEY_MEMO_SLOTS 64
#define KEY_MEMO_BYTES 32
typedef struct {
    int parent; /* slot of the key holding its object, or -1 */
    int value_field;
    bool value_prefix;
    size_t len;
    char key[KEY_MEMO_BYTES];
} key_memo;

struct doc {
    const doc_schema *schema;
    field_values *slots;
    buf arena;
    char *path;
    size_t path_len, path_cap;
    frame stack[DOC_MAX_DEPTH];
    int depth;
    bool seen_root;
    bool source_key;   /* the last top-level key was "_source" */
    bool in_source;    /* the document is the hit's _source object */
    bool source_done;  /* _source has been read: ignore the rest of the hit */
    const char *error; /* our own reason for cancelling the parse */
    yajl_handle yajl;
    key_memo memo[KEY_MEMO_SLOTS];
    int memo_n; /* slots below this are valid */
    int nkeys;  /* keys of live objects looked up on this line so far */
};

/* ---- schema ---------------------------------------------------------- */

/* memcmp() for the short paths of a schema, without a call. */
static inline bool same_bytes(const char *a, const char *b, size_t n) {
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return false;
    }
    for (; n > 0; a++, b++, n--)
        if (*a != *b) return false;
    return true;
}

/* The entry for name, or NULL. */
static inline schema_entry *schema_find(const doc_schema *s, const char *name, size_t len, uint64_t hash) {
    uint32_t tag = (uint32_t)hash;
    for (hashtab_slot *sl = hashtab_first(&s->index, tag); sl->id; sl = hashtab_next(&s->index, sl)) {
        schema_entry *e = &s->entries[sl->id - 1];
        if (sl->tag == tag && e->hash == hash && e->len == len && same_bytes(e->name, name, len)) return e;
    }
    return NULL;
}

static void schema_insert(doc_schema *s, const char *name, size_t len, int flag, int field) {
    uint64_t hash = path_hash(name, len);
    schema_entry *e = schema_find(s, name, len, hash);
    if (len > 0) {
        size_t bit = filter_bit(name, len);
        s->filter[bit / 64] |= 1ULL << (bit % 64);
    }
    if (!e) {
        e = &s->entries[s->nentries];
        hashtab_put(&s->index, (uint32_t)hash, s->nentries++);
        e->name = xstrndup(name, len);
        e->len = len;
        e->hash = hash;
        e->field = -1;
    }
    e->flags |= flag;
    if (flag == ENTRY_FIELD) e->field = field;
}

/* Collects field names first so that the table can be sized once. */
typedef struct {
    char **names;
    size_t n, cap;
    field_alias *aliases;
    size_t naliases, aliases_cap;
} name_list;

static void add_name(void *ctx, const char *field) {
    name_list *l = ctx;
    if (util_str_empty(field)) return;
    size_t i = 0;
    while (i < l->n && strcmp(l->names[i], field) != 0) i++;
    if (l->naliases == l->aliases_cap) {
        l->aliases_cap = l->aliases_cap ? l->aliases_cap * 2 : 16;
        l->aliases = xrealloc(l->aliases, l->aliases_cap * sizeof *l->aliases);
    }
    l->aliases[l->naliases++] = (field_alias){field, (int)i};
    if (i < l->n) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->names = xrealloc(l->names, l->cap * sizeof *l->names);
    }
    l->names[l->n++] = xstrdup(field);
}

doc_schema *doc_schema_new(const flow_config *flow) {
    name_list l = {0};
    for (int i = 0; i < EP_COUNT; i++) add_name(&l, flow->fields[i]);
    for (int i = 0; i < EP_COUNT; i++)
        for (int k = 0; k < FLOW_MAX_FIELD_ALTS; k++) add_name(&l, flow->alt_fields[i][k]);
    for (int i = 0; i < EP_COUNT; i++)
        for (int k = 0; k <= FLOW_MAX_FIELD_ALTS; k++) add_name(&l, flow->join_fields[i][k]);
    add_name(&l, flow->count_field);
    add_name(&l, flow->timestamp_field);
    add_name(&l, flow->danger_count_field);
    add_name(&l, flow->latency_field);
    if (!util_str_empty(flow->latency_field)) {
        /* A duration field may be a histogram ({"values":[...],"counts":[...]},
         * the OTel exporter's histogram metric): the file source reads both
         * arrays as Elasticsearch's aggregations read a histogram field. */
        char name[512];
        snprintf(name, sizeof name, "%s.values", flow->latency_field);
        add_name(&l, name);
        snprintf(name, sizeof name, "%s.counts", flow->latency_field);
        add_name(&l, name);
    }
    add_name(&l, flow->latency_sum_field);
    add_name(&l, flow->latency_count_field);
    add_name(&l, flow->latency_weight_field);
    cond_fields(&flow->where, add_name, &l);
    cond_fields(&flow->warning, add_name, &l);
    cond_fields(&flow->danger, add_name, &l);

    doc_schema *s = xcalloc(1, sizeof *s);
    s->fields = l.names;
    s->nfields = l.n;
    s->aliases = l.aliases;
    s->naliases = l.naliases;
    /* Each field adds itself and at most one prefix per dot; keep the load
     * under one half. */
    size_t entries = 0;
    for (size_t i = 0; i < l.n; i++) {
        entries++;
        for (const char *p = l.names[i]; *p; p++)
            if (*p == '.') entries++;
    }
    s->entries = xcalloc(entries ? entries : 1, sizeof *s->entries);
    hashtab_reserve(&s->index, entries);
    for (size_t i = 0; i < l.n; i++) {
        const char *name = l.names[i];
        size_t len = strlen(name);
        schema_insert(s, name, len, ENTRY_FIELD, (int)i);
        for (size_t j = 0; j < len; j++)
            if (name[j] == '.') schema_insert(s, name, j, ENTRY_PREFIX, -1);
    }
    return s;
}

void doc_schema_free(doc_schema *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nentries; i++) free(s->entries[i].name);
    for (size_t i = 0; i < s->nfields; i++) free(s->fields[i]);
    free(s->entries);
    free(s->aliases);
    hashtab_free(&s->index);
    free(s->fields);
    free(s);
}

/* ---- document -------------------------------------------------------- */

doc *doc_new(const doc_schema *schema) {
    doc *d = xcalloc(1, sizeof *d);
    d->schema = schema;
    d->slots = xcalloc(schema->nfields ? schema->nfields : 1, sizeof *d->slots);
    buf_init(&d->arena, DOC_MAX_TEXT);
    d->path_cap = 256;
    d->path = xmalloc(d->path_cap);
    return d;
}

void doc_free(doc *d) {
    if (!d) return;
    for (size_t i = 0; i < d->schema->nfields; i++) {
        free(d->slots[i].values);
        free(d->slots[i].offsets);
    }
    free(d->slots);
    buf_free(&d->arena);
    free(d->path);
    if (d->yajl) yajl_free(d->yajl);
    free(d);
}

static void clear_values(doc *d) {
    for (size_t i = 0; i < d->schema->nfields; i++) d->slots[i].n = 0;
    buf_reset(&d->arena);
}

static frame *top(doc *d) {
    return &d->stack[d->depth - 1];
}

/* Records the value whose text was just put in the arena at off. */
static void record_value(doc *d, int field, doc_value_type type, size_t off) {
    field_values *fv = &d->slots[field];
    if (fv->n == fv->cap) {
        fv->cap = fv->cap ? fv->cap * 2 : 4;
        fv->values = xrealloc(fv->values, fv->cap * sizeof *fv->values);
        fv->offsets = xrealloc(fv->offsets, fv->cap * sizeof *fv->offsets);
    }
    doc_value *v = &fv->values[fv->n];
    v->type = type;
    v->len = d->arena.len - off - 1;
    v->text = NULL;
    v->number = type == DOC_NUMBER ? strtod(d->arena.data + off, NULL) : 0;
    fv->offsets[fv->n++] = off;
}

/* add_value() for the fast path, whose texts hold no NUL (a raw control
 * byte is refused) and lie in the line, so that text[len] may be read: the
 * text and one more byte, made the NUL, go in with one append. */
static int add_plain_value(doc *d, doc_value_type type, const char *text, size_t len) {
    int field = top(d)->value_field;
    if (field < 0) return 1;
    size_t off = d->arena.len;
    if (buf_append(&d->arena, text, len + 1) < 0) {
        d->error = "document holds too much text";
        return 0;
    }
    d->arena.data[d->arena.len - 1] = '\0';
    record_value(d, field, type, off);
    return 1;
}

static int add_value(doc *d, doc_value_type type, const char *text, size_t len) {
    int field = top(d)->value_field;
    if (field < 0) return 1;
    size_t off = d->arena.len;
    int rc = 0;
    if (type == DOC_STRING && memchr(text, '\0', len)) {
        /* A "\u0000" in a string becomes U+FFFD: values are read as C
         * strings, and ending one there merged "a\u0000b" with "a\u0000c". */
        for (size_t i = 0; i < len; i++)
            rc |= text[i] ? buf_putc(&d->arena, text[i]) : buf_append(&d->arena, "\xef\xbf\xbd", 3);
    } else {
        rc = buf_append(&d->arena, text, len);
    }
    if (rc < 0 || buf_putc(&d->arena, '\0') < 0) {
        d->error = "document holds too much text";
        return 0;
    }
    record_value(d, field, type, off);
    return 1;
}

/* Every callback first makes sure the line is an object: a scalar or an
 * array at the top is not an event. */
static int require_root(doc *d) {
    if (d->depth > 0) return 1;
    d->error = "not a JSON object";
    return 0;
}

static int on_null(void *ctx) {
    doc *d = ctx;
    return require_root(d) && add_value(d, DOC_NULL, "", 0);
}

static int on_boolean(void *ctx, int b) {
    doc *d = ctx;
    return require_root(d) && add_value(d, DOC_BOOL, b ? "true" : "false", b ? 4 : 5);
}

static int on_number(void *ctx, const char *s, size_t len) {
    doc *d = ctx;
    return require_root(d) && add_value(d, DOC_NUMBER, s, len);
}

static int on_string(void *ctx, const unsigned char *s, size_t len) {
    doc *d = ctx;
    return require_root(d) && add_value(d, DOC_STRING, (const char *)s, len);
}

static int push(doc *d, bool is_map) {
    if (d->depth == DOC_MAX_DEPTH) {
        d->error = "document nested too deeply";
        return 0;
    }
    const frame *parent = d->depth ? top(d) : NULL;
    frame *f = &d->stack[d->depth++];
    f->base = d->path_len;
    f->is_map = is_map;
    f->slot = is_map ? -2 : parent->slot;
    f->parent_slot = !parent ? -1 : parent->slot;
    if (is_map) {
        f->keys_live = parent ? parent->value_prefix : true;
        f->value_field = -1;
        f->value_prefix = false;
    } else {
        f->keys_live = false;
        f->value_field = parent->value_field;
        f->value_prefix = parent->value_prefix;
    }
    return 1;
}

static int on_start_map(void *ctx) {
    doc *d = ctx;
    if (d->depth == 0) {
        if (d->seen_root) {
            d->error = "more than one JSON value on the line";
            return 0;
        }
        d->seen_root = true;
    } else if (d->depth == 1 && d->source_key && !d->source_done) {
        /* An Elasticsearch hit: its _source is the document, and whatever
         * was read from the envelope so far does not count. */
        clear_values(d);
        d->in_source = true;
        d->path_len = 0;
        if (!push(d, true)) return 0;
        top(d)->keys_live = true;
        return 1;
    }
    return push(d, true);
}

static int pop(doc *d) {
    d->path_len = top(d)->base;
    d->depth--;
    return 1;
}

static int on_end_map(void *ctx) {
    doc *d = ctx;
    pop(d);
    if (d->in_source && d->depth == 1) {
        d->in_source = false;
        d->source_done = true;
    }
    return 1;
}

static int on_start_array(void *ctx) {
    doc *d = ctx;
    return require_root(d) && push(d, false);
}

static int on_end_array(void *ctx) {
    return pop(ctx);
}

/* Sets the path of the key (after the frame's base) and looks it up: what
 * its value feeds. false when the key leads nowhere without a lookup (the
 * rest of a hit's envelope, an object whose keys are not live). */
static bool key_path(doc *d, frame *f, const unsigned char *key, size_t len) {
    f->value_field = -1;
    f->value_prefix = false;
    d->path_len = f->base;
    if (d->depth == 1) {
        d->source_key = len == 7 && memcmp(key, "_source", 7) == 0;
        if (d->source_done) return false; /* the rest of a hit's envelope */
    }
    if (!f->keys_live) return false;

    size_t need = d->path_len + 1 + len + 1;
    if (need > d->path_cap) {
        while (d->path_cap < need) d->path_cap *= 2;
        d->path = xrealloc(d->path, d->path_cap);
    }
    if (d->path_len > 0) d->path[d->path_len++] = '.';
    memcpy(d->path + d->path_len, key, len);
    d->path_len += len;
    return true;
}

static void key_lookup(doc *d, frame *f) {
    if (!may_match(d->schema, d->path, d->path_len)) return;
    const schema_entry *e = schema_find(d->schema, d->path, d->path_len, path_hash(d->path, d->path_len));
    if (e) {
        f->value_field = (e->flags & ENTRY_FIELD) ? e->field : -1;
        f->value_prefix = (e->flags & ENTRY_PREFIX) != 0;
    }
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len) {
    doc *d = ctx;
    frame *f = top(d);
    if (key_path(d, f, key, len)) key_lookup(d, f);
    return 1;
}

/* ---- fast path -------------------------------------------------------- */

/* Most of a line is fields the flow never reads: a 250-byte span has 12
 * keys and the flow wants 5 values. yajl tokenizes all of it and calls back
 * for every token; this reader walks the line itself, runs the same
 * callbacks above only where the schema leads, and skips every other value
 * with a validating scan that hands nothing out.
 *
 * It accepts a subset of what yajl accepts and gives the same values for it:
 * RFC 8259 JSON with yajl's UTF-8 rule (a lead byte followed by its
 * continuation bytes; overlong forms pass, as in yajl), white space limited
 * to space, tab, CR and LF, nothing but white space after the object, and
 * strings that the flow reads (a key on the schema's way, a field's value)
 * without escapes. On anything else it gives up and doc_parse() parses the
 * line again with yajl, which then decides, so a line yajl refuses or
 * decodes is read exactly as before, error message included. */

/* The bytes of an 8-byte word that need a look inside a string: '"', '\\',
 * control characters and bytes of UTF-8 sequences, as the high bit of each.
 * A borrow may mark bytes above a marked one too, never below it: the
 * lowest mark is exact (the word is read little-endian). */
static inline uint64_t string_special(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

static inline uint64_t le64(uint64_t w) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

static inline bool hex_digit(unsigned char c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Scans a string whose opening quote is before p: the end of its text (at
 * the closing quote), or NULL when yajl would refuse it. *escapes tells
 * whether it holds a backslash escape (its text then needs decoding). */
static const unsigned char *scan_string(const unsigned char *p, const unsigned char *end, bool *escapes) {
    for (;;) {
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            w = le64(w);
            uint64_t m = string_special(w);
            if (m) {
                p += __builtin_ctzll(m) / 8;
                break;
            }
            p += 8;
        }
        if (p == end) return NULL;
        unsigned char c = *p;
        if (c == '"') return p;
        if (c == '\\') {
            *escapes = true;
            if (end - p < 2) return NULL;
            c = p[1];
            if (c == 'u') {
                if (end - p < 6 || !hex_digit(p[2]) || !hex_digit(p[3]) || !hex_digit(p[4]) || !hex_digit(p[5]))
                    return NULL;
                p += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
                p += 2;
            } else {
                return NULL;
            }
        } else if (c < 0x20) {
            return NULL;
        } else if (c < 0x80) {
            p++;
        } else {
            /* yajl's rule: a lead byte, then as many continuation bytes as
             * it announces. */
            size_t more = (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 0;
            if (more == 0 || (size_t)(end - p) <= more) return NULL;
            for (size_t i = 1; i <= more; i++)
                if ((p[i] >> 6) != 0x2) return NULL;
            p += more + 1;
        }
    }
}

static inline const unsigned char *skip_space(const unsigned char *p, const unsigned char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

static inline bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

/* The end of the number starting at p (yajl's grammar), or NULL. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end) {
    if (p < end && *p == '-') p++;
    if (p == end) return NULL;
    if (*p == '0') {
        p++;
    } else if (is_digit(*p)) {
        while (p < end && is_digit(*p)) p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p == end || !is_digit(*p)) return NULL;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !is_digit(*p)) return NULL;
        while (p < end && is_digit(*p)) p++;
    }
    return p;
}

/* The end of the literal true, false or null at p, or NULL; *type and
 * *text say which. */
static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *end, doc_value_type *type,
                                         const char **text) {
    size_t left = (size_t)(end - p);
    if (left >= 4 && memcmp(p, "true", 4) == 0) {
        *type = DOC_BOOL, *text = "true";
        return p + 4;
    }
    if (left >= 5 && memcmp(p, "false", 5) == 0) {
        *type = DOC_BOOL, *text = "false";
        return p + 5;
    }
    if (left >= 4 && memcmp(p, "null", 4) == 0) {
        *type = DOC_NULL, *text = "";
        return p + 4;
    }
    return NULL;
}

/* Skips the value at p (white space before it already skipped) and
 * validates it as yajl would, handing nothing out: the end of the value, or
 * NULL to give up. depth: the frames open around it, so that nesting past
 * DOC_MAX_DEPTH is left to the slow path, which reports it. */
static const unsigned char *skip_value(const unsigned char *p, const unsigned char *end, int depth) {
    char close[DOC_MAX_DEPTH]; /* the closing byte of each container open here */
    int n = 0;
    bool escapes;
    doc_value_type type;
    const char *text;
value:
    if (p == end) return NULL;
    switch (*p) {
    case '{':
        if (depth + n >= DOC_MAX_DEPTH) return NULL;
        close[n++] = '}';
        p = skip_space(p + 1, end);
        if (p < end && *p == '}') {
            p++;
            n--;
            goto after;
        }
        goto key;
    case '[':
        if (depth + n >= DOC_MAX_DEPTH) return NULL;
        close[n++] = ']';
        p = skip_space(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            n--;
            goto after;
        }
        goto value;
    case '"':
        p = scan_string(p + 1, end, &escapes);
        if (!p) return NULL;
        p++;
        goto after;
    case 't':
    case 'f':
    case 'n':
        p = scan_literal(p, end, &type, &text);
        if (!p) return NULL;
        goto after;
    default:
        p = scan_number(p, end);
        if (!p) return NULL;
        goto after;
    }
key:
    if (p == end || *p != '"') return NULL;
    p = scan_string(p + 1, end, &escapes);
    if (!p) return NULL;
    p = skip_space(p + 1, end);
    if (p == end || *p != ':') return NULL;
    p = skip_space(p + 1, end);
    goto value;
after:
    if (n == 0) return p;
    p = skip_space(p, end);
    if (p == end) return NULL;
    if (*p == ',') {
        p = skip_space(p + 1, end);
        if (close[n - 1] == '}') goto key;
        goto value;
    }
    if (*p != close[n - 1]) return NULL;
    p++;
    n--;
    goto after;
}

/* Whether the value that comes next in the open container is read at all:
 * it feeds a field, may hold one, or is the _source object of a hit. */
static bool value_live(doc *d, unsigned char first) {
    const frame *f = top(d);
    if (f->value_field >= 0) return true;
    if (first == '{') return f->value_prefix || (d->depth == 1 && d->source_key && !d->source_done);
    if (first == '[') return f->value_prefix;
    return false;
}

/* on_map_key() with a memo: the lines of one producer repeat their keys in
 * the same order, so the key looked up at the k-th position of a line is
 * compared with the one at the same position of the previous lines, and
 * when it is the same key under the same parent slot, its path is the same
 * path (by induction from the top, whose path is empty) and the lookup's
 * answer is reused. A lookup at slot k that is stored anew drops the slots
 * above k, whose parents may have been the old key at k. */
static void fast_key(doc *d, const unsigned char *key, size_t len) {
    frame *f = top(d);
    f->slot = -2;
    if (!key_path(d, f, key, len)) return;
    int k = d->nkeys++;
    if (k >= KEY_MEMO_SLOTS || f->parent_slot < -1 || len > KEY_MEMO_BYTES) {
        if (k < d->memo_n) d->memo_n = k;
        key_lookup(d, f);
        return;
    }
    key_memo *m = &d->memo[k];
    f->slot = k;
    if (k < d->memo_n && m->parent == f->parent_slot && m->len == len && same_bytes(m->key, (const char *)key, len)) {
        f->value_field = m->value_field;
        f->value_prefix = m->value_prefix;
        return;
    }
    key_lookup(d, f);
    m->parent = f->parent_slot;
    m->value_field = f->value_field;
    m->value_prefix = f->value_prefix;
    m->len = len;
    memcpy(m->key, key, len);
    d->memo_n = k + 1;
}

/* Parses the line with the callbacks above. 0: parsed; -1: give up (the
 * document's state is then garbage and the caller parses again). */
static int fast_parse(doc *d, const char *json, size_t len) {
    const unsigned char *p = (const unsigned char *)json, *end = p + len;
    p = skip_space(p, end);
    if (p == end || *p != '{') return -1;
    if (!on_start_map(d)) return -1;
    p = skip_space(p + 1, end);
    if (p < end && *p == '}') {
        p++;
        goto closed;
    }
    for (;;) {
        /* A key of the innermost object (live: dead objects are skipped). */
        if (p == end || *p != '"') return -1;
        bool escapes = false;
        const unsigned char *k = p + 1;
        p = scan_string(k, end, &escapes);
        if (!p || escapes) return -1;
        fast_key(d, k, (size_t)(p - k));
        p = skip_space(p + 1, end);
        if (p == end || *p != ':') return -1;
        p = skip_space(p + 1, end);
    value:
        if (p == end) return -1;
        if (!value_live(d, *p)) {
            p = skip_value(p, end, d->depth);
            if (!p) return -1;
        } else if (*p == '{' || *p == '[') {
            bool map = *p == '{';
            bool source = map && d->depth == 1 && d->source_key && !d->source_done;
            if (!(map ? on_start_map(d) : on_start_array(d))) return -1;
            if (source) top(d)->parent_slot = -1; /* a hit's _source: its keys' paths start empty */
            p = skip_space(p + 1, end);
            if (p < end && *p == (map ? '}' : ']')) {
                p++;
                map ? on_end_map(d) : on_end_array(d);
            } else if (map) {
                continue;
            } else {
                goto value;
            }
        } else {
            doc_value_type type;
            const char *text;
            const unsigned char *v = p;
            if (*p == '"') {
                bool esc = false;
                v = p + 1;
                p = scan_string(v, end, &esc);
                if (!p || esc) return -1;
                type = DOC_STRING;
                text = (const char *)v;
                p++;
            } else if (*p == 't' || *p == 'f' || *p == 'n') {
                p = scan_literal(p, end, &type, &text);
                if (!p) return -1;
                v = (const unsigned char *)text;
            } else {
                p = scan_number(p, end);
                if (!p || p == end) return -1; /* a line ending in a number is not an object */
                type = DOC_NUMBER;
                text = (const char *)v;
            }
            size_t n = type == DOC_STRING ? (size_t)(p - 1 - v) : type == DOC_NUMBER ? (size_t)(p - v) : strlen(text);
            if (!add_plain_value(d, type, text, n)) return -1;
        }
        /* After a value: the next key or element, or the end of containers. */
        for (;;) {
            p = skip_space(p, end);
            if (p == end) return -1;
            bool map = top(d)->is_map;
            if (*p == ',') {
                p = skip_space(p + 1, end);
                if (map) break;
                goto value;
            }
            if (*p != (map ? '}' : ']')) return -1;
            p++;
            if (map) {
                on_end_map(d);
                if (d->depth == 0) goto closed;
            } else {
                on_end_array(d);
            }
        }
    }
closed:
    return skip_space(p, end) == end ? 0 : -1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

static void reset(doc *d) {
    clear_values(d);
    d->nkeys = 0;
    d->depth = 0;
    d->path_len = 0;
    d->seen_root = false;
    d->source_key = false;
    d->in_source = false;
    d->source_done = false;
    d->error = NULL;
}

/* Turns the values' arena offsets into pointers, once the arena holds all. */
static void fix_texts(doc *d) {
    for (size_t i = 0; i < d->schema->nfields; i++) {
        field_values *fv = &d->slots[i];
        for (size_t j = 0; j < fv->n; j++) fv->values[j].text = d->arena.data + fv->offsets[j];
    }
}

int doc_parse(doc *d, const char *json, size_t len, char *err) {
    assert(d && (json || len == 0)); /* err may be NULL */
    reset(d);
    if (fast_parse(d, json, len) == 0) {
        fix_texts(d);
        return 0;
    }
    return doc_parse_yajl(d, json, len, err);
}

int doc_parse_yajl(doc *d, const char *json, size_t len, char *err) {
    reset(d);
    /* yajl has no reset: a handle serves one document. Its allocation is a
     * few small blocks that the allocator hands straight back. */
    if (d->yajl) yajl_free(d->yajl);
    d->yajl = yajl_alloc(&callbacks, NULL, d);
    if (!d->yajl) return util_fail(err, "out of memory for the JSON parser");

    yajl_status st = yajl_parse(d->yajl, (const unsigned char *)json, len);
    if (st == yajl_status_ok) st = yajl_complete_parse(d->yajl);
    if (st == yajl_status_ok && !d->seen_root) {
        d->error = "not a JSON object";
        st = yajl_status_client_canceled;
    }
    if (st != yajl_status_ok) {
        if (d->error) {
            util_fail(err, "%s", d->error);
        } else {
            unsigned char *msg = yajl_get_error(d->yajl, 0, (const unsigned char *)json, len);
            size_t n = strlen((const char *)msg);
            while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
            util_fail(err, "invalid JSON: %.*s", (int)n, (const char *)msg);
            yajl_free_error(d->yajl, msg);
        }
        clear_values(d);
        return -1;
    }
    fix_texts(d);
    return 0;
}

size_t doc_get(const doc *d, const char *field, const doc_value **values) {
    assert(d && field && values);
    /* The pointer seen by doc_schema_new() still holding the same name (it
     * is compared, in case the caller's memory changed since). */
    const doc_schema *s = d->schema;
    for (size_t i = 0; i < s->naliases; i++) {
        if (s->aliases[i].name != field) continue;
        const char *name = s->fields[s->aliases[i].field];
        if (strcmp(name, field) != 0) break;
        const field_values *fv = &d->slots[s->aliases[i].field];
        *values = fv->values;
        return fv->n;
    }
    size_t len = strlen(field);
    const schema_entry *e = schema_find(d->schema, field, len, path_hash(field, len));
    if (!e || !(e->flags & ENTRY_FIELD)) {
        *values = NULL;
        return 0;
    }
    const field_values *fv = &d->slots[e->field];
    *values = fv->values;
    return fv->n;
}
