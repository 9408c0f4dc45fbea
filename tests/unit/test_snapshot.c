/* Unit tests of snapshot.c: gzip copy, ETags, reference counting. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "snapshot.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static snapshot *make(const char *json) {
    char err[ERR_LEN];
    snapshot *s = snapshot_new(xstrdup(json), strlen(json), 1767225600000, 42, err);
    assert_non_null(s);
    return s;
}

static void gzip_copy_decompresses_to_the_json(void **state) {
    buf big;
    buf_init(&big, 1 << 20);
    buf_puts(&big, "{\"nodes\":[");
    for (int i = 0; i < 2000; i++) buf_printf(&big, "%s{\"name\":\"service-%d\"}", i ? "," : "", i);
    buf_puts(&big, "]}");
    snapshot *s = make(buf_cstr(&big));
    assert_int_equal(s->json_len, big.len);
    assert_memory_equal(s->json, big.data, big.len);
    assert_true(s->gzip_len > 18 && s->gzip_len < s->json_len / 4);
    /* gzip magic, deflate method */
    assert_int_equal((unsigned char)s->gzip[0], 0x1f);
    assert_int_equal((unsigned char)s->gzip[1], 0x8b);
    assert_int_equal(s->gzip[2], 8);

    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    char *out = malloc(s->json_len);
    size_t out_len = 0;
    assert_int_equal(libdeflate_gzip_decompress(d, s->gzip, s->gzip_len, out, s->json_len, &out_len),
                     LIBDEFLATE_SUCCESS);
    assert_int_equal(out_len, s->json_len);
    assert_memory_equal(out, s->json, out_len);
    free(out);
    libdeflate_free_decompressor(d);
    assert_int_equal(s->window_end_ms, 1767225600000);
    assert_int_equal(s->refreshed_mono_ms, 42);
    assert_int_equal(s->refs, 1);
    snapshot_unref(s);
    buf_free(&big);
}

static void etags_are_strong_quoted_and_differ_per_representation(void **state) {
    snapshot *a = make("{\"a\":1}");
    snapshot *a2 = make("{\"a\":1}");
    snapshot *b = make("{\"a\":2}");
    assert_int_equal(strlen(a->etag), 18);
    assert_int_equal(a->etag[0], '"');
    assert_int_equal(a->etag[17], '"');
    assert_int_not_equal(a->etag[0], 'W');
    assert_int_equal(strlen(a->etag_gzip), 21);
    assert_memory_equal(a->etag_gzip + 17, "-gz\"", 4);
    assert_string_not_equal(a->etag, a->etag_gzip);
    /* Same bytes, same ETag; different bytes, different ETag. */
    assert_string_equal(a->etag, a2->etag);
    assert_string_equal(a->etag_gzip, a2->etag_gzip);
    assert_string_not_equal(a->etag, b->etag);
    snapshot_unref(a);
    snapshot_unref(a2);
    snapshot_unref(b);
}

static void empty_json_still_makes_a_snapshot(void **state) {
    snapshot *s = make("");
    assert_int_equal(s->json_len, 0);
    assert_true(s->gzip_len > 0);
    snapshot_unref(s);
}

static void null_json_is_an_error(void **state) {
    char err[ERR_LEN] = "";
    assert_null(snapshot_new(NULL, 0, 0, 0, err));
    assert_true(strlen(err) > 0);
}

static void *ref_unref_many(void *arg) {
    snapshot *s = arg;
    for (int i = 0; i < 100000; i++) snapshot_unref(snapshot_ref(s));
    snapshot_unref(s); /* the reference the main thread took for us */
    return NULL;
}

static void reference_count_is_atomic(void **state) {
    snapshot *s = make("{}");
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, ref_unref_many, snapshot_ref(s));
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    assert_int_equal(s->refs, 1);
    assert_ptr_equal(snapshot_ref(s), s);
    assert_int_equal(s->refs, 2);
    snapshot_unref(s);
    snapshot_unref(s); /* freed here: ASan reports a leak or double free otherwise */
    snapshot_unref(NULL);
    assert_null(snapshot_ref(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gzip_copy_decompresses_to_the_json),
        cmocka_unit_test(etags_are_strong_quoted_and_differ_per_representation),
        cmocka_unit_test(empty_json_still_makes_a_snapshot),
        cmocka_unit_test(null_json_is_an_error),
        cmocka_unit_test(reference_count_is_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
