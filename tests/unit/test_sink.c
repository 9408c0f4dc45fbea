/* Unit tests of sink.c: a test plugs its own sinks into a sink_list, the way
 * the daemon plugs in its HTTP server and output file, and checks that every
 * sink gets each snapshot and that one failing sink does not stop the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
#include "util.h"
/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A sink that keeps the last snapshot it was given, or fails on demand. */
typedef struct {
    sink base;
    snapshot *last;
    int published;
    bool broken;
} test_sink;

static int test_publish(sink *s, snapshot *snap, char *err) {
    test_sink *t = (test_sink *)s;
    if (t->broken) {
        snprintf(err, ERR_LEN, "the test sink is broken");
        return -1;
    }
    if (t->last) snapshot_unref(t->last);
    t->last = snapshot_ref(snap);
    t->published++;
    return 0;
}

static void test_close(sink *s) {
    test_sink *t = (test_sink *)s;
    if (t->last) snapshot_unref(t->last);
    t->last = NULL;
}

static const sink_ops test_ops = {.name = "test", .publish = test_publish, .close = test_close};

typedef struct {
    size_t calls;
    size_t index[VIZ_MAX_SINKS];
    char error[VIZ_MAX_SINKS][ERR_LEN]; /* "" when that sink published */
} reports;

static void record(void *ctx, size_t i, const sink *s, const char *error) {
    reports *r = ctx;
    assert_string_equal(s->ops->name, "test");
    assert_true(r->calls < VIZ_MAX_SINKS);
    r->index[r->calls] = i;
    snprintf(r->error[r->calls], ERR_LEN, "%s", error ? error : "");
    r->calls++;
}

static snapshot *make(const char *json) {
    char err[ERR_LEN];
    snapshot *s = snapshot_new(xstrdup(json), strlen(json), 0, 0, err);
    assert_non_null(s);
    return s;
}

static void every_sink_gets_the_snapshot_even_after_one_fails(void **state) {
    (void)state;
    test_sink a = {.base.ops = &test_ops}, broken = {.base.ops = &test_ops, .broken = true},
              c = {.base.ops = &test_ops};
    sink_list l = {0};
    char err[ERR_LEN];
    assert_int_equal(sink_list_add(&l, &a.base, err), 0);
    assert_int_equal(sink_list_add(&l, NULL, err), 0); /* an optional sink that is not configured */
    assert_int_equal(sink_list_add(&l, &broken.base, err), 0);
    assert_int_equal(sink_list_add(&l, &c.base, err), 0);
    assert_int_equal(l.n, 3);

    snapshot *snap = make("{\"v\":1}");
    reports r = {0};
    assert_int_equal(sink_list_publish(&l, snap, record, &r), 1);
    snapshot_unref(snap);

    assert_int_equal(r.calls, 3);
    assert_int_equal(r.index[0], 0);
    assert_string_equal(r.error[0], "");
    assert_int_equal(r.index[1], 1);
    assert_string_equal(r.error[1], "the test sink is broken");
    assert_int_equal(r.index[2], 2);
    assert_string_equal(r.error[2], "");
    /* The sinks that published hold the snapshot after the caller let go. */
    assert_int_equal(a.published, 1);
    assert_int_equal(c.published, 1);
    assert_int_equal(broken.published, 0);
    assert_string_equal(c.last->json, "{\"v\":1}");
    a.base.ops->close(&a.base);
    c.base.ops->close(&c.base);
}

static void a_full_list_refuses_another_sink(void **state) {
    (void)state;
    test_sink t[VIZ_MAX_SINKS + 1];
    sink_list l = {0};
    char err[ERR_LEN];
    for (size_t i = 0; i < VIZ_MAX_SINKS; i++) {
        t[i] = (test_sink){.base.ops = &test_ops};
        assert_int_equal(sink_list_add(&l, &t[i].base, err), 0);
    }
    t[VIZ_MAX_SINKS] = (test_sink){.base.ops = &test_ops};
    assert_int_equal(sink_list_add(&l, &t[VIZ_MAX_SINKS].base, err), -1);
    assert_non_null(strstr(err, "sinks"));
    assert_int_equal(l.n, VIZ_MAX_SINKS);
    /* No report callback: publishing still reaches every sink. */
    snapshot *snap = make("{}");
    assert_int_equal(sink_list_publish(&l, snap, NULL, NULL), 0);
    snapshot_unref(snap);
    for (size_t i = 0; i < VIZ_MAX_SINKS; i++) {
        assert_int_equal(t[i].published, 1);
        t[i].base.ops->close(&t[i].base);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_sink_gets_the_snapshot_even_after_one_fails),
        cmocka_unit_test(a_full_list_refuses_another_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
