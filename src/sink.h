/*
 * sink.h - where snapshots go. The HTTP server and the output file plug in
 * the same way; tests plug in their own.
 *
 * publish() is called by the daemon's refresher thread after every refresh
 * (also after a failed one, with the re-rendered stale graph), or once by
 * `vizfeed once` on the main thread; one thread at a time per sink. It
 * takes its own reference if it keeps the snapshot. It returns 0 or -1 with
 * err; a failing sink never affects the others, and the refresher logs and
 * counts it.
 *
 * Ownership: a sink belongs to whoever made it: close() releases it (the
 * daemon closes the output file's; http_stop() ends the HTTP sink, whose
 * close does nothing). No publish may run during or after close().
 */
#ifndef VIZ_SINK_H
#define VIZ_SINK_H

#include <stddef.h>

#include "bounds.h"
#include "snapshot.h"

typedef struct sink sink;

typedef struct {
    const char *name;
    int (*publish)(sink *s, snapshot *snap, char *err);
    void (*close)(sink *s);
} sink_ops;

struct sink {
    const sink_ops *ops;
};

/* The sinks one snapshot goes to, in order: the daemon's HTTP server and
 * output file, or a test's own. The list does not own its sinks: whoever
 * added one closes it. Used by one thread at a time. */
typedef struct {
    sink *item[VIZ_MAX_SINKS];
    size_t n;
} sink_list;

/* Appends s; a NULL s is ignored, so an optional sink needs no test at the
 * caller. Returns 0, or -1 with err when the list already holds
 * VIZ_MAX_SINKS sinks. */
int sink_list_add(sink_list *l, sink *s, char *err);

/* Called after each sink's publish() with its position in the list and its
 * error, or NULL when it published. */
typedef void (*sink_report_fn)(void *ctx, size_t i, const sink *s, const char *error);

/* Publishes snap to every sink of l in order; one that fails does not keep
 * the snapshot from the others. Calls report (if not NULL) after each.
 * Returns how many failed. */
size_t sink_list_publish(const sink_list *l, snapshot *snap, sink_report_fn report, void *ctx);

/* Output file: replaced atomically after every publish (temporary file in the
 * same directory, fsync, rename, fsync of the directory), so a reader sees
 * the old or the new graph, never a partial one. The constructor also removes
 * the temporary files an earlier writer killed mid-write left beside the file
 * (exactly `<file>.tmp.` and six letters or digits, regular files no live
 * writer holds) and logs one info line naming them. NULL with err when the
 * path cannot be an output file (empty, its directory missing, or refused by
 * atomic_file_check_target()). */
sink *sink_file_new(const char *path, char *err);
/* Replaces the file of a sink_file_new() sink with bytes that are not a
 * snapshot (`vizfeed pull` copies a feeder's answer), the same atomic way.
 * Counts no metric. Returns 0 or -1 with err. */
int sink_file_write(sink *s, const void *bytes, size_t len, char *err);

#endif
