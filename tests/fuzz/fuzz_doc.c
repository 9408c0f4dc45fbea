/*
 * fuzz_doc.c - doc_parse()'s own fast reader against yajl (doc_parse_yajl()),
 * on any bytes.
 *
 * Input: lines (split at '\n'), parsed in order by one document with
 * doc_parse() and by another with doc_parse_yajl(), so that the fast
 * reader's memo of the previous lines' keys is exercised too. For every
 * line both must return the same, with the same error message, and the
 * same values (type, text bytes, number) for every field of a schema that
 * holds nested, flat, prefix-sharing and odd names ("", ".a", "a.", _source).
 */
#include <math.h>
#include <string.h>

#include "doc.h"
#include "fuzz.h"
#include "util.h"

static flow_config flow = {
    .name = "fuzz",
    .type = FLOW_FILE,
    .fields = {"service.name", "cloud.region", "source.ip", "span.destination.service.resource", "a", "a.b"},
    .alt_fields = {{"a.b.c", "", "x"}, {".a", "a."}, {"_source", "_index"}, {"b.c", "service"}},
    .count_field = "event.count",
    .timestamp_field = "@timestamp",
    .latency_field = "span.duration.us",
};

static void same_values(const doc_schema *schema, const doc *x, const doc *y, const char *field) {
    (void)schema;
    const doc_value *a, *b;
    size_t n = doc_get(x, field, &a), m = doc_get(y, field, &b);
    FUZZ_CHECK(n == m);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(a[i].type == b[i].type);
        FUZZ_CHECK(a[i].len == b[i].len);
        FUZZ_CHECK(memcmp(a[i].text, b[i].text, a[i].len + 1) == 0);
        FUZZ_CHECK(a[i].number == b[i].number || (isnan(a[i].number) && isnan(b[i].number)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static doc_schema *schema;
    if (!schema) schema = doc_schema_new(&flow); /* read-only: shared by every input */
    doc *fast = doc_new(schema), *ref = doc_new(schema);
    const char *fields[] = {"service.name",
                            "cloud.region",
                            "source.ip",
                            "span.destination.service.resource",
                            "a",
                            "a.b",
                            "a.b.c",
                            "x",
                            ".a",
                            "a.",
                            "_source",
                            "_index",
                            "b.c",
                            "service",
                            "event.count",
                            "@timestamp",
                            "span.duration.us"};
    const char *p = (const char *)data, *end = p + size;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        char e1[ERR_LEN] = "", e2[ERR_LEN] = "";
        int r1 = doc_parse(fast, p, len, e1);
        int r2 = doc_parse_yajl(ref, p, len, e2);
        FUZZ_CHECK(r1 == r2);
        FUZZ_CHECK(strcmp(e1, e2) == 0);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) same_values(schema, fast, ref, fields[i]);
        if (!nl) break;
        p = nl + 1;
    }
    doc_free(fast);
    doc_free(ref);
    return 0;
}
