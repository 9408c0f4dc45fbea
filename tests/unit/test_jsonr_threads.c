/* jsonr's byte tables are filled once per process, by whichever thread makes
 * the first reader: several Elasticsearch flows and the history workers do
 * at the same time. A program of its own, since the tables are filled only
 * once per process: its one test makes the first readers of the process on
 * many threads released together, and each reads a document with every
 * class of byte the tables sort (quote, backslash, control escape, UTF-8).
 * In suite 'daemon' too, so that the TSan run (./dev tsan) sees the threads:
 * the old lazy fill without a lock was a data race it reports. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define THREADS 8

static const char DOC[] = "{\"k\\\"ey\":\"a\\\\b\\n\xc3\xa9\",\"n\":[1,\"\"]}";
static const char WANT[] = "k\"ey|a\\b\n\xc3\xa9|n|1||";

typedef struct {
    pthread_barrier_t *start;
    char got[128];
    int status;
} reader_job;

static void add(reader_job *j, const char *s, size_t n) {
    size_t len = strlen(j->got);
    snprintf(j->got + len, sizeof j->got - len, "%.*s|", (int)n, s);
}
static int on_null(void *ctx) {
    (void)ctx;
    return 0;
}
static int on_boolean(void *ctx, int v) {
    (void)ctx, (void)v;
    return 0;
}
static int on_number(void *ctx, const char *s, size_t n) {
    add(ctx, s, n);
    return 0;
}
static int on_string(void *ctx, const unsigned char *s, size_t n) {
    add(ctx, (const char *)s, n);
    return 0;
}
static int on_key(void *ctx, const unsigned char *s, size_t n) {
    add(ctx, (const char *)s, n);
    return 0;
}
static int on_other(void *ctx) {
    (void)ctx;
    return 0;
}

static const jsonr_callbacks CALLBACKS = {on_null, on_boolean, on_number, on_string, on_other,
                                          on_key,  on_other,   on_other,  on_other};

static void *read_one(void *arg) {
    reader_job *j = arg;
    pthread_barrier_wait(j->start);
    jsonr *r = jsonr_new(&CALLBACKS, j);
    j->status = jsonr_feed(r, DOC, sizeof DOC - 1);
    if (j->status == JSONR_OK) j->status = jsonr_finish(r);
    jsonr_free(r);
    return NULL;
}

static void first_readers_on_many_threads_at_once(void **state) {
    (void)state;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    reader_job jobs[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].start = &start;
        assert_int_equal(pthread_create(&threads[i], NULL, read_one, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(jobs[i].status, JSONR_OK);
        assert_string_equal(jobs[i].got, WANT);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_readers_on_many_threads_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
