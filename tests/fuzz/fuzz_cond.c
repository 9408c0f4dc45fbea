/*
 * fuzz_cond.c - the condition evaluator (cond.c) and its translation to
 * Elasticsearch query DSL, on conditions and documents built from bytes.
 *
 * Input: a small program that builds one to three conditions the way
 * config.c could (fields and prefixes non-empty UTF-8, finite numbers,
 * not/all nested at most VIZ_MAX_CONDITION_DEPTH deep, `in` and `all`
 * never empty), then, after the program's bytes, one JSON document. Every
 * condition is evaluated on the document, and its query DSL must be one
 * complete, valid JSON document (checked with yajl, which also checks
 * UTF-8).
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "bounds.h"
#include "cond.h"
#include "doc.h"
#include "fuzz.h"
#include "jsonw.h"
#include "util.h"

typedef struct {
    const uint8_t *p, *end;
} reader;

static uint8_t next_byte(reader *r) {
    return r->p < r->end ? *r->p++ : 0;
}

static bool valid_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = u[i] < 0x80             ? 1
                     : (u[i] & 0xe0) == 0xc0 ? 2
                     : (u[i] & 0xf0) == 0xe0 ? 3
                     : (u[i] & 0xf8) == 0xf0 ? 4
                                             : 0;
        if (len == 0 || i + len > n) return false;
        if (len == 2 && u[i] < 0xc2) return false;
        for (size_t k = 1; k < len; k++)
            if ((u[i + k] & 0xc0) != 0x80) return false;
        if (len == 3 && u[i] == 0xe0 && u[i + 1] < 0xa0) return false;
        if (len == 3 && u[i] == 0xed && u[i + 1] >= 0xa0) return false; /* surrogates */
        if (len == 4 && (u[i] > 0xf4 || (u[i] == 0xf0 && u[i + 1] < 0x90) || (u[i] == 0xf4 && u[i + 1] >= 0x90)))
            return false;
        i += len;
    }
    return true;
}

/* A string: one of a few field-like names, or bytes from the input when
 * they are what a YAML file could hold (UTF-8 without NUL). */
static char *next_string(reader *r) {
    static const char *const pool[] = {
        "a",           "a.b",   "a.b.c",        "n", "event.outcome", "http.response.status_code", "x y",
        "caf\xc3\xa9", "q\"\\", "a.b.c.d.e.f.g"};
    uint8_t pick = next_byte(r);
    if (pick < 0xc0) return xstrdup(pool[pick % (sizeof pool / sizeof pool[0])]);
    size_t len = pick - 0xc0 + 1, avail = (size_t)(r->end - r->p);
    if (len > avail) len = avail;
    const char *text = (const char *)r->p;
    r->p += len;
    if (len == 0 || memchr(text, 0, len) || !valid_utf8(text, len)) return xstrdup("bad");
    return xstrndup(text, len);
}

/* Canonical text, as config.c prints numbers. */
static char *number_text(double d) {
    char text[40];
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(text, sizeof text, "%.0f", d);
    } else {
        for (int precision = 1; precision <= 17; precision++) {
            snprintf(text, sizeof text, "%.*g", precision, d);
            if (strtod(text, NULL) == d) break;
        }
    }
    return xstrdup(text);
}

static double next_number(reader *r) {
    uint8_t kind = next_byte(r);
    if (kind < 0xe0) return (double)(int)(kind % 0x70) * (kind & 1 ? 100 : 1) - 8;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = bits << 8 | next_byte(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return isfinite(d) ? d : 0.5;
}

static void next_value(reader *r, cfg_value *v) {
    switch (next_byte(r) % 3) {
    case 0:
        v->type = VALUE_STRING;
        v->text = next_string(r);
        break;
    case 1:
        v->type = VALUE_NUMBER;
        v->number = next_number(r);
        v->text = number_text(v->number);
        break;
    default:
        v->type = VALUE_BOOL;
        v->boolean = next_byte(r) & 1;
        v->text = xstrdup(v->boolean ? "true" : "false");
        break;
    }
}

static void build(reader *r, condition *c, int depth) {
    memset(c, 0, sizeof *c);
    uint8_t op = next_byte(r);
    c->kind = (cond_kind)((op & 0x0f) % 7); /* the high nibble holds flags */
    if (depth >= VIZ_MAX_CONDITION_DEPTH && (c->kind == COND_NOT || c->kind == COND_ALL)) c->kind = COND_EXISTS;
    switch (c->kind) {
    case COND_NOT:
    case COND_ALL:
        c->nchildren = c->kind == COND_NOT ? 1 : 1 + (op >> 4) % 3;
        c->children = xcalloc(c->nchildren, sizeof *c->children);
        for (size_t i = 0; i < c->nchildren; i++) build(r, &c->children[i], depth + 1);
        return;
    case COND_EQUALS:
    case COND_IN:
        c->nvalues = c->kind == COND_EQUALS ? 1 : 1 + (op >> 4) % 4;
        c->values = xcalloc(c->nvalues, sizeof *c->values);
        for (size_t i = 0; i < c->nvalues; i++) next_value(r, &c->values[i]);
        break;
    case COND_RANGE:
        for (int b = 0; b < BOUND_COUNT; b++) {
            c->has_bound[b] = (op >> (4 + b)) & 1;
            if (c->has_bound[b]) c->bound[b] = next_number(r);
        }
        break;
    case COND_EXISTS:
        c->exists = op & 0x10;
        break;
    case COND_PREFIX:
        c->prefix = next_string(r);
        break;
    }
    c->field = next_string(r);
}

static void release(condition *c) {
    for (size_t i = 0; i < c->nchildren; i++) release(&c->children[i]);
    free(c->children);
    for (size_t i = 0; i < c->nvalues; i++) free(c->values[i].text);
    free(c->values);
    free(c->field);
    free(c->prefix);
}

static void check_json(const buf *b) {
    yajl_handle y = yajl_alloc(NULL, NULL, NULL);
    FUZZ_CHECK(y != NULL);
    int ok = yajl_parse(y, (const unsigned char *)b->data, b->len) == yajl_status_ok &&
             yajl_complete_parse(y) == yajl_status_ok;
    if (!ok) fprintf(stderr, "invalid query DSL: %.*s\n", (int)b->len, b->data);
    FUZZ_CHECK(ok);
    yajl_free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, data + size};
    condition items[3];
    size_t n = 1 + next_byte(&r) % 3;
    for (size_t i = 0; i < n; i++) build(&r, &items[i], 1);

    flow_config flow = {.name = "fuzz", .type = FLOW_FILE, .count_field = "", .timestamp_field = "@timestamp"};
    for (int i = 0; i < EP_COUNT; i++) flow.fields[i] = "";
    flow.where = (condition_list){items, n};
    doc_schema *schema = doc_schema_new(&flow);
    doc *d = doc_new(schema);
    char err[ERR_LEN];
    if (doc_parse(d, (const char *)r.p, (size_t)(r.end - r.p), err) == 0) {
        bool all = true, any = false;
        for (size_t i = 0; i < n; i++) {
            bool holds = cond_eval(&items[i], d);
            all = all && holds;
            any = any || holds;
        }
        FUZZ_CHECK(cond_all(&flow.where, d) == all);
        FUZZ_CHECK(cond_any(&flow.where, d) == any);
    }
    doc_free(d);
    doc_schema_free(schema);

    buf out;
    buf_init(&out, 1u << 24);
    for (size_t i = 0; i < n; i++) {
        jsonw w;
        buf_reset(&out);
        jsonw_init(&w, &out);
        cond_to_es(&items[i], &w);
        FUZZ_CHECK(!jsonw_failed(&w));
        check_json(&out);
    }
    jsonw w;
    buf_reset(&out);
    jsonw_init(&w, &out);
    cond_any_to_es(&flow.where, &w);
    FUZZ_CHECK(!jsonw_failed(&w));
    check_json(&out);
    buf_free(&out);

    for (size_t i = 0; i < n; i++) release(&items[i]);
    return 0;
}
