/*
 * test_cond.c - one table of cases: a condition, a document, whether the
 * condition holds on it, and the Elasticsearch DSL it translates to. Both
 * cond_eval() and cond_to_es() are checked against every row, so the two
 * meanings cannot drift apart.
 *
 * The same table lives in tests/data/cond_cases.json ({"condition": DSL,
 * "doc": {...}, "match": bool}) for a test Elasticsearch to check that its
 * own evaluation of the DSL agrees. The file is generated from this table:
 * run with VIZ_UPDATE_TEST_DATA=1 to rewrite it after changing a case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cond.h"
#include "doc.h"
#include "jsonw.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define CASES_FILE "data/cond_cases.json"

/* Conditions are built as static data, as the configuration loader would
 * build them. */
#define STR(s)                                                                                                         \
    { .type = VALUE_STRING, .text = s }
#define NUM(n)                                                                                                         \
    { .type = VALUE_NUMBER, .text = #n, .number = n }
#define BOOL(b)                                                                                                        \
    { .type = VALUE_BOOL, .text = #b, .boolean = b }
#define EQ(f, v)                                                                                                       \
    { .kind = COND_EQUALS, .field = f, .values = (cfg_value[]){v}, .nvalues = 1 }
#define IN(f, ...)                                                                                                     \
    {                                                                                                                  \
        .kind = COND_IN, .field = f, .values = (cfg_value[]){__VA_ARGS__},                                             \
        .nvalues = sizeof((cfg_value[]){__VA_ARGS__}) / sizeof(cfg_value)                                              \
    }
#define GTE(x) .has_bound[BOUND_GTE] = true, .bound[BOUND_GTE] = x
#define GT(x)  .has_bound[BOUND_GT] = true, .bound[BOUND_GT] = x
#define LTE(x) .has_bound[BOUND_LTE] = true, .bound[BOUND_LTE] = x
#define LT(x)  .has_bound[BOUND_LT] = true, .bound[BOUND_LT] = x
#define RANGE(f, ...)                                                                                                  \
    { .kind = COND_RANGE, .field = f, __VA_ARGS__ }
#define EXISTS(f, b)                                                                                                   \
    { .kind = COND_EXISTS, .field = f, .exists = b }
#define PREFIX(f, p)                                                                                                   \
    { .kind = COND_PREFIX, .field = f, .prefix = p }
#define NOT(...)                                                                                                       \
    { .kind = COND_NOT, .children = (condition[]){__VA_ARGS__}, .nchildren = 1 }
#define ALL(...)                                                                                                       \
    {                                                                                                                  \
        .kind = COND_ALL, .children = (condition[]){__VA_ARGS__},                                                      \
        .nchildren = sizeof((condition[]){__VA_ARGS__}) / sizeof(condition)                                            \
    }
#define ALL_EMPTY                                                                                                      \
    { .kind = COND_ALL, .children = NULL, .nchildren = 0 }

typedef struct {
    condition cond;
    const char *doc;
    bool match;
    const char *dsl;
} cond_case;

#define OUTCOME_FAILURE     EQ("event.outcome", STR("failure"))
#define OUTCOME_FAILURE_DSL "{\"term\":{\"event.outcome\":\"failure\"}}"
#define STATUS              "http.response.status_code"
#define STATUS_4XX          RANGE(STATUS, GTE(400), LT(500))
#define STATUS_4XX_DSL      "{\"range\":{\"http.response.status_code\":{\"gte\":400,\"lt\":500}}}"

static const cond_case cases[] = {
    /* equals, strings */
    {OUTCOME_FAILURE, "{\"event\":{\"outcome\":\"failure\"}}", true, OUTCOME_FAILURE_DSL},
    {OUTCOME_FAILURE, "{\"event.outcome\":\"failure\"}", true, OUTCOME_FAILURE_DSL},
    {OUTCOME_FAILURE, "{\"event\":{\"outcome\":\"success\"}}", false, OUTCOME_FAILURE_DSL},
    {OUTCOME_FAILURE, "{\"event\":{\"outcome\":\"Failure\"}}", false, OUTCOME_FAILURE_DSL},
    {OUTCOME_FAILURE, "{}", false, OUTCOME_FAILURE_DSL},
    {OUTCOME_FAILURE, "{\"event\":{\"outcome\":[\"success\",\"failure\"]}}", true, OUTCOME_FAILURE_DSL},
    {OUTCOME_FAILURE, "{\"event\":{\"outcome\":null}}", false, OUTCOME_FAILURE_DSL},
    {OUTCOME_FAILURE, "{\"event\":{\"kind\":\"failure\"}}", false, OUTCOME_FAILURE_DSL},
    {EQ("service.name", STR("caf\xc3\xa9")), "{\"service\":{\"name\":\"caf\\u00e9\"}}", true,
     "{\"term\":{\"service.name\":\"caf\xc3\xa9\"}}"},
    {EQ("service.name", STR("a\"b")), "{\"service\":{\"name\":\"a\\\"b\"}}", true,
     "{\"term\":{\"service.name\":\"a\\\"b\"}}"},
    {EQ("destination.ip", STR("10.0.0.2")), "{\"destination\":[{\"ip\":\"10.0.0.1\"},{\"ip\":\"10.0.0.2\"}]}", true,
     "{\"term\":{\"destination.ip\":\"10.0.0.2\"}}"},
    {EQ("kubernetes.pod.labels.app", STR("web")),
     "{\"kubernetes\":{\"pod\":{\"labels\":{\"app\":\"web\",\"tier\":\"front\"},\"name\":\"web-1\"}}}", true,
     "{\"term\":{\"kubernetes.pod.labels.app\":\"web\"}}"},

    /* equals, numbers and their coercion */
    {EQ(STATUS, NUM(200)), "{\"http\":{\"response\":{\"status_code\":200}}}", true,
     "{\"term\":{\"http.response.status_code\":200}}"},
    {EQ(STATUS, NUM(200)), "{\"http.response.status_code\":200}", true,
     "{\"term\":{\"http.response.status_code\":200}}"},
    {EQ(STATUS, NUM(200)), "{\"http.response\":{\"status_code\":200}}", true,
     "{\"term\":{\"http.response.status_code\":200}}"},
    {EQ(STATUS, NUM(200)), "{\"http\":{\"response.status_code\":200}}", true,
     "{\"term\":{\"http.response.status_code\":200}}"},
    {EQ(STATUS, NUM(200)), "{\"http\":{\"response\":{\"status_code\":200.0}}}", true,
     "{\"term\":{\"http.response.status_code\":200}}"},
    {EQ(STATUS, NUM(200)), "{\"http\":{\"response\":{\"status_code\":\"200\"}}}", true,
     "{\"term\":{\"http.response.status_code\":200}}"},
    {EQ(STATUS, NUM(200)), "{\"http\":{\"response\":{\"status_code\":201}}}", false,
     "{\"term\":{\"http.response.status_code\":200}}"},
    {EQ(STATUS, STR("200")), "{\"http\":{\"response\":{\"status_code\":200}}}", true,
     "{\"term\":{\"http.response.status_code\":\"200\"}}"},
    {EQ(STATUS, STR("200")), "{\"http\":{\"response\":{\"status_code\":\"200\"}}}", true,
     "{\"term\":{\"http.response.status_code\":\"200\"}}"},
    {EQ(STATUS, STR("200")), "{\"http\":{\"response\":{\"status_code\":404}}}", false,
     "{\"term\":{\"http.response.status_code\":\"200\"}}"},
    {EQ("event.duration", NUM(1.5)), "{\"event\":{\"duration\":1.5}}", true, "{\"term\":{\"event.duration\":1.5}}"},

    /* equals, booleans */
    {EQ("tls.established", BOOL(true)), "{\"tls\":{\"established\":true}}", true,
     "{\"term\":{\"tls.established\":true}}"},
    {EQ("tls.established", BOOL(true)), "{\"tls\":{\"established\":false}}", false,
     "{\"term\":{\"tls.established\":true}}"},
    {EQ("tls.established", BOOL(true)), "{\"tls\":{\"established\":\"true\"}}", true,
     "{\"term\":{\"tls.established\":true}}"},
    {EQ("tls.established", BOOL(false)), "{\"tls\":{\"established\":false}}", true,
     "{\"term\":{\"tls.established\":false}}"},

    /* in */
    {IN("http.request.method", STR("GET"), STR("HEAD")), "{\"http\":{\"request\":{\"method\":\"HEAD\"}}}", true,
     "{\"terms\":{\"http.request.method\":[\"GET\",\"HEAD\"]}}"},
    {IN("http.request.method", STR("GET"), STR("HEAD")), "{\"http\":{\"request\":{\"method\":\"POST\"}}}", false,
     "{\"terms\":{\"http.request.method\":[\"GET\",\"HEAD\"]}}"},
    {IN(STATUS, NUM(502), NUM(503)), "{\"http\":{\"response\":{\"status_code\":503}}}", true,
     "{\"terms\":{\"http.response.status_code\":[502,503]}}"},
    {IN(STATUS, NUM(502), NUM(503)), "{\"http\":{\"response\":{\"status_code\":\"502\"}}}", true,
     "{\"terms\":{\"http.response.status_code\":[502,503]}}"},
    {IN(STATUS, NUM(502), NUM(503)), "{}", false, "{\"terms\":{\"http.response.status_code\":[502,503]}}"},

    /* range */
    {STATUS_4XX, "{\"http\":{\"response\":{\"status_code\":404}}}", true, STATUS_4XX_DSL},
    {STATUS_4XX, "{\"http\":{\"response\":{\"status_code\":400}}}", true, STATUS_4XX_DSL},
    {STATUS_4XX, "{\"http\":{\"response\":{\"status_code\":499.5}}}", true, STATUS_4XX_DSL},
    {STATUS_4XX, "{\"http\":{\"response\":{\"status_code\":500}}}", false, STATUS_4XX_DSL},
    {STATUS_4XX, "{\"http\":{\"response\":{\"status_code\":399}}}", false, STATUS_4XX_DSL},
    {STATUS_4XX, "{\"http\":{\"response\":{\"status_code\":\"404\"}}}", true, STATUS_4XX_DSL},
    {STATUS_4XX, "{\"http.response.status_code\":[200,404]}", true, STATUS_4XX_DSL},
    {STATUS_4XX, "{\"http\":{\"response\":{\"status_code\":[200,503]}}}", false, STATUS_4XX_DSL},
    {STATUS_4XX, "{}", false, STATUS_4XX_DSL},
    {RANGE("event.duration", GT(0.5), LTE(1)), "{\"event\":{\"duration\":0.5}}", false,
     "{\"range\":{\"event.duration\":{\"gt\":0.5,\"lte\":1}}}"},
    {RANGE("event.duration", GT(0.5), LTE(1)), "{\"event\":{\"duration\":1}}", true,
     "{\"range\":{\"event.duration\":{\"gt\":0.5,\"lte\":1}}}"},
    {RANGE("event.duration", GT(0.5), LTE(1)), "{\"event\":{\"duration\":1.25}}", false,
     "{\"range\":{\"event.duration\":{\"gt\":0.5,\"lte\":1}}}"},
    {RANGE("spans.duration", GTE(10)), "{\"spans\":[{\"duration\":5},{\"duration\":50}]}", true,
     "{\"range\":{\"spans.duration\":{\"gte\":10}}}"},
    {RANGE("spans.duration", GTE(10)), "{\"spans\":[{\"duration\":5},{\"duration\":7}]}", false,
     "{\"range\":{\"spans.duration\":{\"gte\":10}}}"},
    {RANGE("event.duration", GTE(-3)), "{\"event\":{\"duration\":-2}}", true,
     "{\"range\":{\"event.duration\":{\"gte\":-3}}}"},

    /* exists */
    {EXISTS("destination.ip", true), "{\"destination\":{\"ip\":\"10.0.0.1\"}}", true,
     "{\"exists\":{\"field\":\"destination.ip\"}}"},
    {EXISTS("destination.ip", true), "{\"destination.ip\":\"10.0.0.1\"}", true,
     "{\"exists\":{\"field\":\"destination.ip\"}}"},
    {EXISTS("destination.ip", true), "{\"destination\":{\"port\":80}}", false,
     "{\"exists\":{\"field\":\"destination.ip\"}}"},
    {EXISTS("destination.ip", true), "{\"destination\":{\"ip\":null}}", false,
     "{\"exists\":{\"field\":\"destination.ip\"}}"},
    {EXISTS("destination.ip", true), "{\"destination\":{\"ip\":[]}}", false,
     "{\"exists\":{\"field\":\"destination.ip\"}}"},
    {EXISTS("destination.ip", true), "{\"destination\":{\"ip\":[null,\"10.0.0.1\"]}}", true,
     "{\"exists\":{\"field\":\"destination.ip\"}}"},
    {EXISTS("destination.ip", false), "{}", true,
     "{\"bool\":{\"must_not\":[{\"exists\":{\"field\":\"destination.ip\"}}]}}"},
    {EXISTS("destination.ip", false), "{\"destination\":{\"ip\":null}}", true,
     "{\"bool\":{\"must_not\":[{\"exists\":{\"field\":\"destination.ip\"}}]}}"},
    {EXISTS("destination.ip", false), "{\"destination\":{\"ip\":\"10.0.0.1\"}}", false,
     "{\"bool\":{\"must_not\":[{\"exists\":{\"field\":\"destination.ip\"}}]}}"},

    /* prefix */
    {PREFIX("url.path", "/api/"), "{\"url\":{\"path\":\"/api/v1/users\"}}", true,
     "{\"prefix\":{\"url.path\":\"/api/\"}}"},
    {PREFIX("url.path", "/api/"), "{\"url\":{\"path\":\"/static/app.js\"}}", false,
     "{\"prefix\":{\"url.path\":\"/api/\"}}"},
    {PREFIX("url.path", "/api/"), "{\"url\":{\"path\":\"/api\"}}", false, "{\"prefix\":{\"url.path\":\"/api/\"}}"},
    {PREFIX("url.path", "/api/"), "{\"url\":{\"path\":[\"/static\",\"/api/x\"]}}", true,
     "{\"prefix\":{\"url.path\":\"/api/\"}}"},
    {PREFIX("url.path", "/api/"), "{}", false, "{\"prefix\":{\"url.path\":\"/api/\"}}"},

    /* not: a missing field makes the inner clause false, so not holds */
    {NOT(OUTCOME_FAILURE), "{\"event\":{\"outcome\":\"success\"}}", true,
     "{\"bool\":{\"must_not\":[" OUTCOME_FAILURE_DSL "]}}"},
    {NOT(OUTCOME_FAILURE), "{}", true, "{\"bool\":{\"must_not\":[" OUTCOME_FAILURE_DSL "]}}"},
    {NOT(OUTCOME_FAILURE), "{\"event\":{\"outcome\":\"failure\"}}", false,
     "{\"bool\":{\"must_not\":[" OUTCOME_FAILURE_DSL "]}}"},
    {NOT(OUTCOME_FAILURE), "{\"event\":{\"outcome\":[\"success\",\"failure\"]}}", false,
     "{\"bool\":{\"must_not\":[" OUTCOME_FAILURE_DSL "]}}"},
    {NOT(STATUS_4XX), "{}", true, "{\"bool\":{\"must_not\":[" STATUS_4XX_DSL "]}}"},
    {NOT(NOT(OUTCOME_FAILURE)), "{\"event\":{\"outcome\":\"failure\"}}", true,
     "{\"bool\":{\"must_not\":[{\"bool\":{\"must_not\":[" OUTCOME_FAILURE_DSL "]}}]}}"},

    /* all, and deeper nesting */
    {ALL(EQ("event.dataset", STR("nginx.access")), RANGE(STATUS, GTE(500))),
     "{\"event\":{\"dataset\":\"nginx.access\"},\"http\":{\"response\":{\"status_code\":502}}}", true,
     "{\"bool\":{\"filter\":[{\"term\":{\"event.dataset\":\"nginx.access\"}},"
     "{\"range\":{\"http.response.status_code\":{\"gte\":500}}}]}}"},
    {ALL(EQ("event.dataset", STR("nginx.access")), RANGE(STATUS, GTE(500))),
     "{\"event.dataset\":\"nginx.access\",\"http\":{\"response\":{\"status_code\":200}}}", false,
     "{\"bool\":{\"filter\":[{\"term\":{\"event.dataset\":\"nginx.access\"}},"
     "{\"range\":{\"http.response.status_code\":{\"gte\":500}}}]}}"},
    {ALL_EMPTY, "{}", true, "{\"bool\":{\"filter\":[]}}"},
    {ALL(EXISTS("url.path", true), NOT(ALL(PREFIX("url.path", "/health"), NOT(EQ(STATUS, NUM(500)))))),
     "{\"url\":{\"path\":\"/healthz\"},\"http\":{\"response\":{\"status_code\":200}}}", false,
     "{\"bool\":{\"filter\":[{\"exists\":{\"field\":\"url.path\"}},{\"bool\":{\"must_not\":[{\"bool\":{\"filter\":["
     "{\"prefix\":{\"url.path\":\"/health\"}},{\"bool\":{\"must_not\":[{\"term\":{\"http.response.status_code\":500}}"
     "]}}]}}]}}]}}"},
    {ALL(EXISTS("url.path", true), NOT(ALL(PREFIX("url.path", "/health"), NOT(EQ(STATUS, NUM(500)))))),
     "{\"url\":{\"path\":\"/healthz\"},\"http\":{\"response\":{\"status_code\":500}}}", true,
     "{\"bool\":{\"filter\":[{\"exists\":{\"field\":\"url.path\"}},{\"bool\":{\"must_not\":[{\"bool\":{\"filter\":["
     "{\"prefix\":{\"url.path\":\"/health\"}},{\"bool\":{\"must_not\":[{\"term\":{\"http.response.status_code\":500}}"
     "]}}]}}]}}]}}"},
    {ALL(EXISTS("url.path", true), NOT(ALL(PREFIX("url.path", "/health"), NOT(EQ(STATUS, NUM(500)))))),
     "{\"url\":{\"path\":\"/api\"},\"http\":{\"response\":{\"status_code\":200}}}", true,
     "{\"bool\":{\"filter\":[{\"exists\":{\"field\":\"url.path\"}},{\"bool\":{\"must_not\":[{\"bool\":{\"filter\":["
     "{\"prefix\":{\"url.path\":\"/health\"}},{\"bool\":{\"must_not\":[{\"term\":{\"http.response.status_code\":500}}"
     "]}}]}}]}}]}}"},
};

#define NCASES (sizeof cases / sizeof cases[0])

/* Evaluates one condition on one document through the same schema path a
 * file flow uses. */
static bool eval_case(const cond_case *tc, char *err) {
    flow_config flow = {0};
    flow.where.items = (condition *)&tc->cond;
    flow.where.n = 1;
    doc_schema *schema = doc_schema_new(&flow);
    doc *d = doc_new(schema);
    int rc = doc_parse(d, tc->doc, strlen(tc->doc), err);
    bool result = rc == 0 && cond_eval(&tc->cond, d);
    doc_free(d);
    doc_schema_free(schema);
    return rc == 0 ? result : !tc->match; /* a parse error always reports a mismatch */
}

static void test_eval_table(void **state) {
    char err[ERR_LEN] = "";
    for (size_t i = 0; i < NCASES; i++) {
        bool got = eval_case(&cases[i], err);
        if (got != cases[i].match)
            print_error("case %zu: %s on %s: expected %s (%s)\n", i, cases[i].dsl, cases[i].doc,
                        cases[i].match ? "match" : "no match", err);
        assert_int_equal(got, cases[i].match);
    }
}

static void test_dsl_table(void **state) {
    for (size_t i = 0; i < NCASES; i++) {
        buf out;
        buf_init(&out, 1 << 16);
        jsonw w;
        jsonw_init(&w, &out);
        cond_to_es(&cases[i].cond, &w);
        assert_false(jsonw_failed(&w));
        if (strcmp(buf_cstr(&out), cases[i].dsl) != 0) print_error("case %zu: got %s\n", i, buf_cstr(&out));
        assert_string_equal(buf_cstr(&out), cases[i].dsl);
        buf_free(&out);
    }
}

static void test_lists(void **state) {
    condition items[] = {OUTCOME_FAILURE, STATUS_4XX};
    condition_list list = {items, 2}, empty = {NULL, 0};
    flow_config flow = {0};
    flow.where = list;
    doc_schema *schema = doc_schema_new(&flow);
    doc *d = doc_new(schema);
    char err[ERR_LEN];

    const char *neither = "{\"event\":{\"outcome\":\"success\"},\"http\":{\"response\":{\"status_code\":200}}}";
    const char *one = "{\"event\":{\"outcome\":\"failure\"},\"http\":{\"response\":{\"status_code\":200}}}";
    const char *both = "{\"event\":{\"outcome\":\"failure\"},\"http\":{\"response\":{\"status_code\":404}}}";
    assert_int_equal(doc_parse(d, neither, strlen(neither), err), 0);
    assert_false(cond_any(&list, d));
    assert_false(cond_all(&list, d));
    assert_int_equal(doc_parse(d, one, strlen(one), err), 0);
    assert_true(cond_any(&list, d));
    assert_false(cond_all(&list, d));
    assert_int_equal(doc_parse(d, both, strlen(both), err), 0);
    assert_true(cond_any(&list, d));
    assert_true(cond_all(&list, d));
    assert_true(cond_all(&empty, d));
    assert_false(cond_any(&empty, d));

    buf out;
    buf_init(&out, 1 << 16);
    jsonw w;
    jsonw_init(&w, &out);
    cond_any_to_es(&list, &w);
    assert_string_equal(buf_cstr(&out), "{\"bool\":{\"should\":[" OUTCOME_FAILURE_DSL "," STATUS_4XX_DSL
                                        "],\"minimum_should_match\":1}}");
    buf_reset(&out);
    jsonw_init(&w, &out);
    cond_any_to_es(&empty, &w);
    assert_string_equal(buf_cstr(&out), "{\"match_none\":{}}");
    buf_free(&out);
    doc_free(d);
    doc_schema_free(schema);
}

static void collect_field(void *ctx, const char *field) {
    buf *b = ctx;
    buf_puts(b, field);
    buf_putc(b, ' ');
}

static void test_fields(void **state) {
    condition items[] = {
        OUTCOME_FAILURE,
        NOT(ALL(PREFIX("url.path", "/x"), EXISTS("a.b", false))),
        IN("c", STR("1")),
    };
    condition_list list = {items, 3};
    buf out;
    buf_init(&out, 1024);
    cond_fields(&list, collect_field, &out);
    assert_string_equal(buf_cstr(&out), "event.outcome url.path a.b c ");
    buf_free(&out);
}

/* The JSON file a test Elasticsearch reads: one case per line. */
static void render_cases(buf *out) {
    buf_puts(out, "[\n");
    for (size_t i = 0; i < NCASES; i++) {
        buf_printf(out, "  {\"condition\": %s, \"doc\": %s, \"match\": %s}%s\n", cases[i].dsl, cases[i].doc,
                   cases[i].match ? "true" : "false", i + 1 < NCASES ? "," : "");
    }
    buf_puts(out, "]\n");
}

static void test_cases_file(void **state) {
    buf want;
    buf_init(&want, 1 << 20);
    render_cases(&want);
    if (getenv("VIZ_UPDATE_TEST_DATA")) {
        FILE *f = fopen(CASES_FILE, "w");
        assert_non_null(f);
        fwrite(want.data, 1, want.len, f);
        fclose(f);
    }
    FILE *f = fopen(CASES_FILE, "r");
    if (!f) print_error("%s missing: run this test with VIZ_UPDATE_TEST_DATA=1\n", CASES_FILE);
    assert_non_null(f);
    char *have = calloc(1, want.len + 2);
    size_t n = fread(have, 1, want.len + 1, f);
    fclose(f);
    if (n != want.len || memcmp(have, want.data, n) != 0)
        print_error("%s differs from the table: run this test with VIZ_UPDATE_TEST_DATA=1\n", CASES_FILE);
    assert_int_equal(n, want.len);
    assert_memory_equal(have, want.data, n);
    free(have);
    buf_free(&want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table), cmocka_unit_test(test_dsl_table),  cmocka_unit_test(test_lists),
        cmocka_unit_test(test_fields),     cmocka_unit_test(test_cases_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
