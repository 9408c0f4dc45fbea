/*
 * doc.h - one event document (a line of NDJSON) reduced to the fields a flow
 * reads.
 *
 * Calling sequence: doc_schema_new(flow) once per flow collects every field
 * the flow names (endpoints, conditions, count, timestamp); doc_new(schema)
 * makes a reusable document; doc_parse() fills it from one JSON line,
 * keeping only the schema's fields, so a 5 KB Beats event costs a handful of
 * small values (and the bytes of the rest are only scanned, not handed
 * over). What it accepts, and the error it gives, are yajl's.
 *
 * Field names are ECS dotted paths. A document may hold them nested
 * ({"http":{"response":{"status_code":200}}}), flat
 * ({"http.response.status_code":200}) or mixed; all give the same value, as
 * in Elasticsearch. Arrays are transparent: ["a","b"] gives two values and an
 * array of objects gives each object's values (Elasticsearch flattens them
 * the same way). A line that is an Elasticsearch hit ({"_index":...,
 * "_source":{...}}) is read from its _source.
 *
 * Values point into the document and stay valid until the next doc_parse()
 * or doc_free(). Errors: doc_parse() returns -1 with yajl's reason in err.
 *
 * Ownership and threads: the schema copies the field names it needs and
 * must outlive every doc made from it; it is read-only after
 * doc_schema_new(), so threads may share it. A doc belongs to one thread at
 * a time (the file source reuses one per flow).
 */
#ifndef VIZ_DOC_H
#define VIZ_DOC_H

#include <stddef.h>

#include "config.h"

typedef enum { DOC_STRING, DOC_NUMBER, DOC_BOOL, DOC_NULL } doc_value_type;

typedef struct {
    doc_value_type type;
    const char *text; /* NUL-terminated (a NUL inside a string is U+FFFD); numbers keep their JSON text, booleans
                         "true"/"false" */
    size_t len;
    double number; /* DOC_NUMBER */
} doc_value;

typedef struct doc_schema doc_schema;
typedef struct doc doc;

doc_schema *doc_schema_new(const flow_config *flow);
void doc_schema_free(doc_schema *schema);

doc *doc_new(const doc_schema *schema);
void doc_free(doc *d);
int doc_parse(doc *d, const char *json, size_t len, char *err);
/* doc_parse() by yajl alone, without its own fast reader: the reference the
 * fast reader must agree with (tests/fuzz/fuzz_doc.c checks that it does). */
int doc_parse_yajl(doc *d, const char *json, size_t len, char *err);
/* The values of a field (0 when absent); field must be one the schema knows. */
size_t doc_get(const doc *d, const char *field, const doc_value **values);

#endif
