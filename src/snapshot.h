/*
 * snapshot.h - one published graph: immutable bytes handed to every sink.
 *
 * snapshot_new() takes ownership of the JSON bytes, compresses them once with
 * libdeflate (gzip) and computes a strong ETag for each representation, so
 * that serving a request costs no work at all. Snapshots are reference
 * counted: the refresher drops its reference after publishing; each sink
 * holds one for as long as it serves the bytes. The last snapshot_unref()
 * frees it.
 *
 * Threads: reference counting is atomic. The creator (refresh.c) may still
 * fill in stale, nodes and connections after snapshot_new(), while it holds
 * the only reference; from the moment it hands the snapshot to a sink
 * (sink.h) every field is read-only, so any thread may read a snapshot it
 * holds a reference to.
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

/* Takes json (malloc'd) in every case: it is freed on failure. Returns a
 * snapshot holding one reference, or NULL with err when json is NULL or
 * compression fails. */
snapshot *snapshot_new(char *json, size_t len, int64_t window_end_ms, int64_t refreshed_mono_ms, char *err);
/* Adds a reference and returns s. */
snapshot *snapshot_ref(snapshot *s);
/* Drops a reference; the last one frees the snapshot. */
void snapshot_unref(snapshot *s);

#endif
