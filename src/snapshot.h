/*
 * snapshot.h - one published graph: immutable bytes handed to every sink.
 *
 * snapshot_new() takes ownership of the JSON bytes, compresses them once with
 * libdeflate (gzip) and computes a strong ETag for each representation, so
 * that serving a request costs no work at all. Snapshots are reference
 * counted: the refresher drops its reference after publishing; each sink
 * holds one for as long as it serves the bytes. The last snapshot_unref()
 * frees it. Reference counting is atomic; everything else is read-only after
 * creation, so any thread may read a snapshot it holds a reference to.
 */
#ifndef VIZ_SNAPSHOT_H
#define VIZ_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct snapshot {
    char *json;
    size_t json_len;
    char *gzip;
    size_t gzip_len;
    char etag[40];             /* "\"<16 hex digits>\"" of the JSON */
    char etag_gzip[44];        /* "\"<16 hex digits>-gz\"": a different representation needs its own strong ETag */
    int64_t window_end_ms;     /* window end of the data (epoch ms) */
    int64_t refreshed_mono_ms; /* monotonic time of the last refresh in which every flow answered */
    int stale;                 /* some region is marked stale */
    unsigned nodes, connections;
    int refs; /* atomic */
} snapshot;

/* Takes json (malloc'd) in every case. NULL with err when compression fails. */
snapshot *snapshot_new(char *json, size_t len, int64_t window_end_ms, int64_t refreshed_mono_ms, char *err);
snapshot *snapshot_ref(snapshot *s);
void snapshot_unref(snapshot *s);

#endif
