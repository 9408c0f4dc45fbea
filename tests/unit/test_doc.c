/*
 * test_doc.c - documents reduced to a flow's fields: nested, flat and mixed
 * keys, arrays, Elasticsearch hits, escapes, numbers, malformed lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "doc.h"
#include "bounds.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

typedef struct {
    flow_config flow;
    condition conds[2];
    doc_schema *schema;
    doc *doc;
    char err[ERR_LEN];
} fixture;

/* A flow reading the usual ECS fields: endpoints, a count, the timestamp,
 * and two fields only its conditions name. */
static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->flow.fields[EP_FROM_SERVICE] = "source.ip";
    f->flow.fields[EP_FROM_REGION] = "";
    f->flow.fields[EP_FROM_HOST] = "";
    f->flow.fields[EP_TO_SERVICE] = "service.name";
    f->flow.fields[EP_TO_REGION] = "cloud.region";
    f->flow.fields[EP_TO_HOST] = "host.name";
    f->flow.count_field = "span.destination.service.response_time.count";
    f->flow.timestamp_field = "@timestamp";
    f->conds[0] = (condition){.kind = COND_EXISTS, .field = "http.response.status_code", .exists = true};
    f->conds[1] = (condition){.kind = COND_PREFIX, .field = "url.path", .prefix = "/"};
    f->flow.where = (condition_list){&f->conds[0], 1};
    f->flow.danger = (condition_list){&f->conds[1], 1};
    f->schema = doc_schema_new(&f->flow);
    f->doc = doc_new(f->schema);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    doc_free(f->doc);
    doc_schema_free(f->schema);
    free(f);
    return 0;
}

static int parse(fixture *f, const char *json) {
    f->err[0] = '\0';
    return doc_parse(f->doc, json, strlen(json), f->err);
}

/* The values of a field joined with '|', strings and numbers as their text,
 * prefixed by a type letter: s, n, b, z (null). */
static const char *values(fixture *f, const char *field) {
    static char out[4096];
    const doc_value *v;
    size_t n = doc_get(f->doc, field, &v);
    out[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char type = "snbz"[v[i].type];
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%c:%s", i ? "|" : "", type, v[i].text);
        assert_int_equal(strlen(v[i].text), v[i].len);
    }
    return out;
}

static void test_nested_flat_mixed(void **state) {
    fixture *f = *state;
    const char *docs[] = {
        "{\"http\":{\"response\":{\"status_code\":200}},\"service\":{\"name\":\"api\"}}",
        "{\"http.response.status_code\":200,\"service.name\":\"api\"}",
        "{\"http.response\":{\"status_code\":200},\"service\":{\"name\":\"api\"}}",
        "{\"http\":{\"response.status_code\":200},\"service.name\":\"api\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        assert_int_equal(parse(f, docs[i]), 0);
        assert_string_equal(values(f, "http.response.status_code"), "n:200");
        assert_string_equal(values(f, "service.name"), "s:api");
        assert_string_equal(values(f, "host.name"), "");
    }
    /* A document holding a field both ways has both values, as a search
     * for either would find it. */
    assert_int_equal(parse(f, "{\"service.name\":\"a\",\"service\":{\"name\":\"b\"}}"), 0);
    assert_string_equal(values(f, "service.name"), "s:a|s:b");
}

/* Lines of the same shape one after the other: the fast reader reuses what
 * a key at the same position led to on the previous lines, which must not
 * outlive a change of the key above it (cloud.name is not service.name). */
static void test_same_shape_lines(void **state) {
    fixture *f = *state;
    const char *lines[][3] = {
        {"{\"service\":{\"name\":\"a\"},\"cloud\":{\"region\":\"r\"}}", "s:a", "s:r"},
        {"{\"cloud\":{\"name\":\"b\"},\"service\":{\"region\":\"q\"}}", "", ""},
        {"{\"service\":{\"name\":\"c\"},\"cloud\":{\"region\":\"r\"}}", "s:c", "s:r"},
        {"{\"_index\":\"i\",\"_source\":{\"service\":{\"name\":\"d\"}}}", "s:d", ""},
        {"{\"service\":{\"name\":\"e\"}}", "s:e", ""},
        {"{\"x\":{\"name\":\"f\"}}", "", ""},
        {"{\"service\":[{\"name\":\"g\"}],\"cloud.region\":\"t\"}", "s:g", "s:t"},
        {"{\"service\":{\"x\":{\"name\":\"h\"}},\"cloud\":{\"region\":\"u\"}}", "", "s:u"},
        {"{\"service\":{\"name\":\"a\\\"b\"}}", "s:a\"b", ""},
        {"{\"service\\u002ename\":\"z\",\"cloud\":{\"region\":\"v\"}}", "s:z", "s:v"},
        {"{\"service\":{\"name\":\"k\"},\"cloud\":{\"region\":\"r\"}}", "s:k", "s:r"},
    };
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
            assert_int_equal(parse(f, lines[i][0]), 0);
            assert_string_equal(values(f, "service.name"), lines[i][1]);
            assert_string_equal(values(f, "cloud.region"), lines[i][2]);
        }
    }
}

static void test_arrays(void **state) {
    fixture *f = *state;
    assert_int_equal(parse(f, "{\"host\":{\"name\":[\"web-1\",\"web-2\"]},\"url\":{\"path\":[]}}"), 0);
    assert_string_equal(values(f, "host.name"), "s:web-1|s:web-2");
    assert_string_equal(values(f, "url.path"), "");

    /* Arrays of objects give each object's values; nested arrays flatten. */
    assert_int_equal(parse(f, "{\"host\":[{\"name\":\"a\",\"ip\":\"1\"},{\"name\":[\"b\",[\"c\"]]},{}],"
                              "\"service\":[{\"x\":1},{\"name\":\"s\"}]}"),
                     0);
    assert_string_equal(values(f, "host.name"), "s:a|s:b|s:c");
    assert_string_equal(values(f, "service.name"), "s:s");
}

static void test_source_unwrapped(void **state) {
    fixture *f = *state;
    /* The envelope's fields (even one named like a schema field) do not
     * count, before or after _source. */
    const char *hit = "{\"_index\":\"filebeat-1\",\"_id\":\"x\",\"host\":{\"name\":\"envelope\"},"
                      "\"_source\":{\"@timestamp\":\"2026-01-01T00:00:00Z\",\"host\":{\"name\":\"web-1\"},"
                      "\"service.name\":\"api\"},\"service\":{\"name\":\"after\"},\"fields\":{\"host.name\":[\"f\"]}}";
    assert_int_equal(parse(f, hit), 0);
    assert_string_equal(values(f, "host.name"), "s:web-1");
    assert_string_equal(values(f, "service.name"), "s:api");
    assert_string_equal(values(f, "@timestamp"), "s:2026-01-01T00:00:00Z");

    /* A _source that is not an object is an ordinary field. */
    assert_int_equal(parse(f, "{\"_source\":\"x\",\"service\":{\"name\":\"plain\"}}"), 0);
    assert_string_equal(values(f, "service.name"), "s:plain");
    /* Only the top-level _source is a hit's. */
    assert_int_equal(parse(f, "{\"service\":{\"_source\":{\"name\":\"inner\"},\"name\":\"outer\"}}"), 0);
    assert_string_equal(values(f, "service.name"), "s:outer");
}

static void test_escapes_and_unicode(void **state) {
    fixture *f = *state;
    assert_int_equal(parse(f, "{\"service\":{\"name\":\"a\\\"b\\\\c\\/d\\n\\t\"},"
                              "\"host\":{\"name\":\"caf\\u00e9 \xe6\x97\xa5 \\ud83d\\ude00\"}}"),
                     0);
    assert_string_equal(values(f, "service.name"), "s:a\"b\\c/d\n\t");
    assert_string_equal(values(f, "host.name"), "s:caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
    /* Escaped keys name the same field. */
    assert_int_equal(parse(f, "{\"serv\\u0069ce\":{\"name\":\"k\"}}"), 0);
    assert_string_equal(values(f, "service.name"), "s:k");
}

/* Issue 18: a "\u0000" inside a value ended it there (values are C
 * strings), so distinct services merged. It is read as U+FFFD. */
static void test_nul_in_strings(void **state) {
    fixture *f = *state;
    assert_int_equal(parse(f, "{\"service\":{\"name\":[\"a\\u0000b\",\"a\\u0000c\",\"\\u0000\",\"a\"]}}"), 0);
    assert_string_equal(values(f, "service.name"), "s:a\xef\xbf\xbd"
                                                   "b|s:a\xef\xbf\xbd"
                                                   "c|s:\xef\xbf\xbd|s:a");
}

static void test_numbers_and_scalars(void **state) {
    fixture *f = *state;
    assert_int_equal(parse(f, "{\"span.destination.service.response_time.count\":[1.50,-0,1e3,12345678901234567890],"
                              "\"service\":{\"name\":true},\"host\":{\"name\":null},\"cloud.region\":false}"),
                     0);
    const doc_value *v;
    size_t n = doc_get(f->doc, "span.destination.service.response_time.count", &v);
    assert_int_equal(n, 4);
    assert_string_equal(v[0].text, "1.50");
    assert_true(v[0].number == 1.5);
    assert_string_equal(v[1].text, "-0");
    assert_string_equal(v[2].text, "1e3");
    assert_true(v[2].number == 1000);
    assert_string_equal(v[3].text, "12345678901234567890");
    assert_true(v[3].number > 1.2e19);
    assert_string_equal(values(f, "service.name"), "b:true");
    assert_string_equal(values(f, "cloud.region"), "b:false");
    assert_string_equal(values(f, "host.name"), "z:");
}

static void test_fields_not_in_schema(void **state) {
    fixture *f = *state;
    assert_int_equal(parse(f, "{\"message\":\"GET / 200\",\"http\":{\"request\":{\"method\":\"GET\"},"
                              "\"response\":{\"body\":{\"bytes\":12}}},\"service\":{\"name\":{\"x\":1}},"
                              "\"url\":5,\"span\":{\"destination\":[{\"service\":{\"resource\":\"db\"}}]}}"),
                     0);
    const doc_value *v;
    assert_int_equal(doc_get(f->doc, "message", &v), 0);
    assert_int_equal(doc_get(f->doc, "http.request.method", &v), 0);
    /* An object where a scalar field was expected, and a scalar where an
     * object was, give no values. */
    assert_string_equal(values(f, "service.name"), "");
    assert_string_equal(values(f, "url.path"), "");
}

static void test_reuse(void **state) {
    fixture *f = *state;
    assert_int_equal(parse(f, "{\"service\":{\"name\":\"first\"},\"host\":{\"name\":\"h\"}}"), 0);
    assert_string_equal(values(f, "host.name"), "s:h");
    assert_int_equal(parse(f, "{\"service\":{\"name\":\"second\"}}"), 0);
    assert_string_equal(values(f, "service.name"), "s:second");
    assert_string_equal(values(f, "host.name"), "");
    /* A failed parse leaves no values behind. */
    assert_int_equal(parse(f, "{\"service\":{\"name\":\"third\"}"), -1);
    assert_string_equal(values(f, "service.name"), "");
    /* Many values and long texts make the arena move; values stay right. */
    char big[70000];
    size_t len = (size_t)snprintf(big, sizeof big, "{\"host\":{\"name\":[");
    for (int i = 0; i < 5000; i++) len += (size_t)snprintf(big + len, sizeof big - len, "%s\"h%d\"", i ? "," : "", i);
    snprintf(big + len, sizeof big - len, "]}}");
    assert_int_equal(parse(f, big), 0);
    const doc_value *v;
    assert_int_equal(doc_get(f->doc, "host.name", &v), 5000);
    assert_string_equal(v[0].text, "h0");
    assert_string_equal(v[4999].text, "h4999");
}

static void test_malformed(void **state) {
    fixture *f = *state;
    const char *bad[] = {
        "",           "   ",   "42",  "\"text\"", "[{\"a\":1}]",      "null",    "{",          "{\"a\":}",
        "{\"a\":1}}", "{} {}", "{}x", "not json", "{\"a\":\"\xff\"}", "{'a':1}", "{\"a\":1,}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(f, bad[i]) != -1) print_error("accepted: %s\n", bad[i]);
        assert_int_equal(parse(f, bad[i]), -1);
        assert_true(f->err[0] != '\0');
    }
    assert_int_equal(parse(f, "[1]"), -1);
    assert_string_equal(f->err, "not a JSON object");

    /* Nesting beyond any real event is refused, not a stack overflow. */
    char deep[6 * 1000 + 16];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) n += (size_t)sprintf(deep + n, "{\"a\":");
    deep[n++] = '1';
    for (int i = 0; i < 1000; i++) deep[n++] = '}';
    deep[n] = '\0';
    assert_int_equal(parse(f, deep), -1);

    assert_int_equal(parse(f, "{}"), 0);
    assert_int_equal(parse(f, " {\"service\":{\"name\":\"ok\"}} \r"), 0);
    assert_string_equal(values(f, "service.name"), "s:ok");
}

static void test_schema_from_conditions(void **state) {
    /* Fields named only inside not/all conditions are kept too. */
    condition inner[] = {
        {.kind = COND_EQUALS,
         .field = "event.outcome",
         .values = (cfg_value[]){{.type = VALUE_STRING, .text = "failure"}},
         .nvalues = 1},
        {.kind = COND_EXISTS, .field = "error.type", .exists = true},
    };
    condition all = {.kind = COND_ALL, .children = inner, .nchildren = 2};
    condition not = {.kind = COND_NOT, .children = &all, .nchildren = 1};
    flow_config flow = {0};
    flow.warning = (condition_list){&not, 1};
    doc_schema *schema = doc_schema_new(&flow);
    doc *d = doc_new(schema);
    char err[ERR_LEN];
    const char *json = "{\"event\":{\"outcome\":\"failure\"},\"error\":{\"type\":\"x\"}}";
    assert_int_equal(doc_parse(d, json, strlen(json), err), 0);
    const doc_value *v;
    assert_int_equal(doc_get(d, "event.outcome", &v), 1);
    assert_int_equal(doc_get(d, "error.type", &v), 1);
    assert_int_equal(doc_get(d, "event", &v), 0);
    doc_free(d);
    doc_schema_free(schema);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nested_flat_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_unwrapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes_and_unicode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_in_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_and_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields_not_in_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_shape_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test(test_schema_from_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
