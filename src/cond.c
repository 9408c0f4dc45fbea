/*
 * cond.c - conditions evaluated on a document and written as Elasticsearch
 * query DSL. The semantics are those written in cond.h; every rule below
 * mirrors what Elasticsearch does with the clause cond_to_es() writes for
 * the same condition, so that a file flow and an Elasticsearch flow agree.
 */
#include "cond.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* True when s (len bytes) is a JSON-style decimal number ("-12", "3.5e2").
 * strtod alone would also take " 12", "0x1f", "inf" and "nan", none of which
 * Elasticsearch reads as a number. */
static bool numeric_text(const char *s, size_t len) {
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) i++;
    size_t digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
    }
    if (digits == 0) return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) i++;
        size_t exp = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++, exp++;
        if (exp == 0) return false;
    }
    return i == len;
}

/* The numeric value of a document value: numbers, and strings that are
 * wholly a number (a numeric field coerces "200" to 200 at index time). */
static bool doc_number(const doc_value *v, double *out) {
    if (v->type == DOC_NUMBER) {
        *out = v->number;
        return isfinite(*out);
    }
    if (v->type != DOC_STRING || !numeric_text(v->text, v->len)) return false;
    *out = strtod(v->text, NULL);
    return isfinite(*out);
}

static bool value_matches(const cfg_value *want, const doc_value *v) {
    double n;
    switch (want->type) {
    case VALUE_NUMBER:
        return (v->type == DOC_NUMBER || v->type == DOC_STRING) && doc_number(v, &n) && n == want->number;
    case VALUE_BOOL:
        if (v->type == DOC_BOOL || v->type == DOC_STRING)
            return strcmp(v->text, want->boolean ? "true" : "false") == 0 && v->len == (want->boolean ? 4u : 5u);
        return false;
    case VALUE_STRING:
        if (v->type == DOC_STRING) return v->len == strlen(want->text) && memcmp(v->text, want->text, v->len) == 0;
        if (v->type == DOC_NUMBER) {
            size_t len = strlen(want->text);
            return numeric_text(want->text, len) && strtod(want->text, NULL) == v->number;
        }
        if (v->type == DOC_BOOL) return strcmp(v->text, want->text) == 0;
        return false;
    }
    return false;
}

static bool in_range(const condition *c, double n) {
    if (c->has_bound[BOUND_GTE] && !(n >= c->bound[BOUND_GTE])) return false;
    if (c->has_bound[BOUND_GT] && !(n > c->bound[BOUND_GT])) return false;
    if (c->has_bound[BOUND_LTE] && !(n <= c->bound[BOUND_LTE])) return false;
    if (c->has_bound[BOUND_LT] && !(n < c->bound[BOUND_LT])) return false;
    return true;
}

bool cond_eval(const condition *c, const doc *d) {
    const doc_value *v = NULL;
    size_t n = 0;
    if (c->kind != COND_NOT && c->kind != COND_ALL) n = doc_get(d, c->field, &v);

    switch (c->kind) {
    case COND_EQUALS:
    case COND_IN: {
        size_t nwant = c->kind == COND_EQUALS ? 1 : c->nvalues;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < nwant; j++)
                if (value_matches(&c->values[j], &v[i])) return true;
        return false;
    }
    case COND_RANGE:
        for (size_t i = 0; i < n; i++) {
            double x;
            if (doc_number(&v[i], &x) && in_range(c, x)) return true;
        }
        return false;
    case COND_EXISTS: {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) found = v[i].type != DOC_NULL;
        return found == c->exists;
    }
    case COND_PREFIX: {
        size_t plen = strlen(c->prefix);
        for (size_t i = 0; i < n; i++)
            if (v[i].type == DOC_STRING && v[i].len >= plen && memcmp(v[i].text, c->prefix, plen) == 0) return true;
        return false;
    }
    case COND_NOT:
        return !cond_eval(&c->children[0], d);
    case COND_ALL:
        for (size_t i = 0; i < c->nchildren; i++)
            if (!cond_eval(&c->children[i], d)) return false;
        return true;
    }
    return false;
}

bool cond_all(const condition_list *list, const doc *d) {
    for (size_t i = 0; i < list->n; i++)
        if (!cond_eval(&list->items[i], d)) return false;
    return true;
}

bool cond_any(const condition_list *list, const doc *d) {
    for (size_t i = 0; i < list->n; i++)
        if (cond_eval(&list->items[i], d)) return true;
    return false;
}

/* A term value: numbers as JSON numbers (their written text when it is one,
 * so that large integers keep every digit), booleans as booleans, the rest as
 * strings. */
static void write_value(jsonw *w, const cfg_value *v) {
    switch (v->type) {
    case VALUE_NUMBER:
        if (v->text && numeric_text(v->text, strlen(v->text)) && v->text[0] != '+')
            jsonw_raw(w, v->text, strlen(v->text));
        else
            jsonw_double(w, v->number);
        return;
    case VALUE_BOOL:
        jsonw_bool(w, v->boolean);
        return;
    case VALUE_STRING:
        jsonw_string(w, v->text);
        return;
    }
}

/* {"<query>":{"<field>": ...}} opened up to the field's value. */
static void begin_field_query(jsonw *w, const char *query, const char *field) {
    jsonw_object_begin(w);
    jsonw_key(w, query);
    jsonw_object_begin(w);
    jsonw_key(w, field);
}

static void end_field_query(jsonw *w) {
    jsonw_object_end(w);
    jsonw_object_end(w);
}

static void write_exists(jsonw *w, const char *field) {
    jsonw_object_begin(w);
    jsonw_key(w, "exists");
    jsonw_object_begin(w);
    jsonw_key(w, "field");
    jsonw_string(w, field);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

/* {"bool":{"<occur>":[ ... ]}} opened up to the array's contents. */
static void begin_bool(jsonw *w, const char *occur) {
    jsonw_object_begin(w);
    jsonw_key(w, "bool");
    jsonw_object_begin(w);
    jsonw_key(w, occur);
    jsonw_array_begin(w);
}

static void end_bool(jsonw *w) {
    jsonw_array_end(w);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

void cond_to_es(const condition *c, jsonw *w) {
    static const char *const bound_names[BOUND_COUNT] = {"gte", "gt", "lte", "lt"};
    switch (c->kind) {
    case COND_EQUALS:
        begin_field_query(w, "term", c->field);
        write_value(w, &c->values[0]);
        end_field_query(w);
        return;
    case COND_IN:
        begin_field_query(w, "terms", c->field);
        jsonw_array_begin(w);
        for (size_t i = 0; i < c->nvalues; i++) write_value(w, &c->values[i]);
        jsonw_array_end(w);
        end_field_query(w);
        return;
    case COND_RANGE:
        begin_field_query(w, "range", c->field);
        jsonw_object_begin(w);
        for (int b = 0; b < BOUND_COUNT; b++) {
            if (!c->has_bound[b]) continue;
            jsonw_key(w, bound_names[b]);
            jsonw_double(w, c->bound[b]);
        }
        jsonw_object_end(w);
        end_field_query(w);
        return;
    case COND_EXISTS:
        if (c->exists) {
            write_exists(w, c->field);
        } else {
            begin_bool(w, "must_not");
            write_exists(w, c->field);
            end_bool(w);
        }
        return;
    case COND_PREFIX:
        begin_field_query(w, "prefix", c->field);
        jsonw_string(w, c->prefix);
        end_field_query(w);
        return;
    case COND_NOT:
        begin_bool(w, "must_not");
        cond_to_es(&c->children[0], w);
        end_bool(w);
        return;
    case COND_ALL:
        begin_bool(w, "filter");
        for (size_t i = 0; i < c->nchildren; i++) cond_to_es(&c->children[i], w);
        end_bool(w);
        return;
    }
}

void cond_any_to_es(const condition_list *list, jsonw *w) {
    if (list->n == 0) {
        /* An empty "should" with minimum_should_match 1 matches nothing too,
         * but saying so outright is clearer in `vizfeed query` output. */
        jsonw_object_begin(w);
        jsonw_key(w, "match_none");
        jsonw_object_begin(w);
        jsonw_object_end(w);
        jsonw_object_end(w);
        return;
    }
    jsonw_object_begin(w);
    jsonw_key(w, "bool");
    jsonw_object_begin(w);
    jsonw_key(w, "should");
    jsonw_array_begin(w);
    for (size_t i = 0; i < list->n; i++) cond_to_es(&list->items[i], w);
    jsonw_array_end(w);
    jsonw_key(w, "minimum_should_match");
    jsonw_int(w, 1);
    jsonw_object_end(w);
    jsonw_object_end(w);
}

static void condition_fields(const condition *c, void (*fn)(void *ctx, const char *field), void *ctx) {
    if (c->kind == COND_NOT || c->kind == COND_ALL) {
        size_t n = c->kind == COND_NOT ? 1 : c->nchildren;
        for (size_t i = 0; i < n; i++) condition_fields(&c->children[i], fn, ctx);
        return;
    }
    fn(ctx, c->field);
}

void cond_fields(const condition_list *list, void (*fn)(void *ctx, const char *field), void *ctx) {
    for (size_t i = 0; i < list->n; i++) condition_fields(&list->items[i], fn, ctx);
}
