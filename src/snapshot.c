/*
 * snapshot.c - one published graph (snapshot.h): compresses the JSON once
 * and computes its ETags at creation, so that the HTTP server answers every
 * request from ready bytes; reference counted across threads.
 */
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <libdeflate.h>

#include "hashtab.h"
#include "util.h"

/* Level 6 is libdeflate's default: within a few percent of level 9's size at
 * a fraction of its time, and a snapshot is compressed once per refresh. */
#define SNAPSHOT_GZIP_LEVEL 6

static int gzip_bytes(const char *in, size_t len, char **out, size_t *out_len, char *err) {
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(SNAPSHOT_GZIP_LEVEL);
    if (!c) return util_fail(err, "cannot allocate a gzip compressor (out of memory)");
    size_t bound = libdeflate_gzip_compress_bound(c, len);
    char *gz = xmalloc(bound);
    size_t n = libdeflate_gzip_compress(c, in, len, gz, bound);
    libdeflate_free_compressor(c);
    if (n == 0) {
        free(gz);
        return util_fail(err, "gzip compression of %zu bytes of graph failed", len);
    }
    /* The bound is generous; give the slack back since the snapshot may live
     * for a long time. */
    *out = xrealloc(gz, n);
    *out_len = n;
    return 0;
}

snapshot *snapshot_new(char *json, size_t len, int64_t window_end_ms, int64_t refreshed_mono_ms, char *err) {
    if (!json) {
        util_fail(err, "no graph bytes to publish");
        return NULL;
    }
    snapshot *s = xcalloc(1, sizeof *s);
    if (gzip_bytes(json, len, &s->gzip, &s->gzip_len, err) < 0) {
        free(json);
        free(s);
        return NULL;
    }
    s->json = json;
    s->json_len = len;
    /* A strong ETag must change whenever the bytes change; a 64-bit hash of
     * the JSON is enough for that (a collision would need two different
     * graphs in a row with the same hash). The gzip bytes derive from the
     * JSON deterministically, so they share the hash with a suffix. */
    uint64_t h = hashtab_hash_bytes(json, len, HASHTAB_SEED);
    snprintf(s->etag, sizeof s->etag, "\"%016" PRIx64 "\"", h);
    snprintf(s->etag_gzip, sizeof s->etag_gzip, "\"%016" PRIx64 "-gz\"", h);
    s->window_end_ms = window_end_ms;
    s->refreshed_mono_ms = refreshed_mono_ms;
    s->refs = 1;
    return s;
}

snapshot *snapshot_ref(snapshot *s) {
    if (s) __atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void snapshot_unref(snapshot *s) {
    if (!s) return;
    /* Release our writes, and acquire everyone else's before freeing. */
    if (__atomic_fetch_sub(&s->refs, 1, __ATOMIC_ACQ_REL) != 1) return;
    free(s->json);
    free(s->gzip);
    free(s);
}
