/*
 * source.h - where traffic comes from. Every flow has one source; all plug in
 * through the same small vtable (wrk's net.h idea), so tests plug in their
 * own and the Elasticsearch and replay sources slot in beside file and demo.
 *
 * Calling sequence: src = ops->open(flow, cfg, err); then, once per refresh,
 * ops->collect(src, start, end, emit, ctx, err) calls emit() once per distinct
 * edge with the counts of events whose timestamp t is start <= t < end
 * (the same half-open interval the Elasticsearch range query uses); finally
 * ops->close(src). A source is used by one thread at a time.
 *
 * A raw row holds the six endpoint values exactly as the data has them (NULL
 * when the event lacks the field or the flow does not read it); topology.h
 * turns them into graph endpoints. Pointers in a row are valid only during
 * the emit() call.
 *
 * Errors: open() returns NULL, collect() -1, both with a reason in err. A
 * collect() that fails leaves the source usable for the next refresh.
 * emit() returning non-zero stops the collection (collect() returns -1).
 *
 * Windows: collect() is asked for the next window as time moves on, and also
 * for earlier ones: the baseline window (refresh.h) and, through a history
 * worker's refresher, past windows. A source that cannot answer any window
 * says from when it holds every event (held_from()); an incremental
 * elasticsearch flow reads only the slices a next window adds, and the
 * settle's worth before them again (es_ring.h), and answers any other window
 * with one full query.
 *
 * Time: a source that waits on the network implements limit(); the refresher
 * calls it before every collect() (and timeline.c before every timeline())
 * with the deadline and the process's stop flag. Such a collect() returns -1 with a reason by the
 * deadline, and within about a second once *stop is set, wherever it is
 * waiting. Sources that only read local files have no limit().
 */
#ifndef VIZ_SOURCE_H
#define VIZ_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "latency.h"

typedef struct {
    const char *value[EP_COUNT];
    double count[CLASS_COUNT]; /* events (or summed count field) per class */
    latency lat;               /* all zero when the flow reads no latency */
} raw_row;

typedef int (*row_emit_fn)(void *ctx, const raw_row *row);
/* A timeline's row (timeline.h): its counts fell in the step that starts at
 * step_start_ms. */
typedef int (*step_emit_fn)(void *ctx, int64_t step_start_ms, const raw_row *row);
/* With --record, an elasticsearch flow writes a timeline's pages as a
 * refresh's (recording.h) under this directory of the flow's, named by the
 * timeline's from, to and step in ms; a replay flow answers a timeline from
 * there, and only the timelines recorded so. Not numbered, so a replay's
 * refreshes never include it. */
#define SOURCE_TIMELINE_RECORD_DIR "timeline-%lld-%lld-%lld"

/* Counters a source keeps over its lifetime, for /metrics and logs. */
typedef struct {
    uint64_t events;       /* events read and accepted */
    uint64_t malformed;    /* lines that were not a JSON object */
    uint64_t oversize;     /* lines longer than VIZ_MAX_LINE_BYTES */
    uint64_t no_timestamp; /* events without a readable timestamp */
    uint64_t dropped;      /* events dropped at VIZ_MAX_FILE_EVENTS events or FILE_MAX_TUPLES tuples held */
    uint64_t rotations;    /* file replaced or truncated */
} source_stats;

typedef struct source source;
typedef struct source_ops source_ops;

/* The part every source shares, as every sink embeds `sink` (sink.h): each
 * source's own struct has it as its first member, so open() returns the
 * address of that member and the other ops cast it back. */
struct source {
    const source_ops *ops; /* the table whose open() made it; set by open() */
};

typedef struct {
    int64_t deadline_ms;     /* monotonic ms by which collect() returns; 0 = none */
    int64_t budget_ms;       /* refresh.deadline itself, for messages */
    const atomic_bool *stop; /* set by another thread: give up as soon as possible; NULL = never */
} source_limits;

struct source_ops {
    const char *type;
    /* Required: open, collect and close. */
    source *(*open)(const flow_config *flow, const vizfeed_config *cfg, char *err);
    int (*collect)(source *src, int64_t start_ms, int64_t end_ms, row_emit_fn emit, void *ctx, char *err);
    void (*close)(source *src);
    /* Optional: the source's counters (all zero without it). */
    void (*stats)(const source *src, source_stats *out);
    /* Optional: after a successful collect, why its data may be incomplete
     * ("3 of 12 shards failed"), or NULL when it is whole. The string belongs
     * to the source and lives until the next collect. */
    const char *(*degraded)(const source *src);
    /* Optional: bounds the next collect() in time (see the top). */
    void (*limit)(source *src, const source_limits *limits);
    /* Optional: the timeline (timeline.h). from_ms is a multiple of step_ms
     * and to_ms - from_ms of it too; an event whose timestamp t is
     * from <= t < to lies in the step starting at t rounded down to a
     * multiple of step_ms (as Elasticsearch's date_histogram keys it, offset
     * 0). emit() gets that step's start and a row whose values hold at least
     * EP_TO_SERVICE and EP_TO_REGION (the values that decide the callee's
     * region and service, topology.h; the caller's may be NULL) and whose
     * counts add to those of other rows of the same step and values. Errors
     * as collect(), and a source keeps its collect() state as it was (a
     * timeline is no refresh). A flow whose source lacks it has no timeline. */
    int (*timeline)(source *src, int64_t from_ms, int64_t to_ms, int64_t step_ms, step_emit_fn emit, void *ctx,
                    char *err);
    /* Optional: after a collect, the time from which the source holds every
     * event (a file flow keeps window + baseline, within its event limit);
     * a window starting earlier is answered short. INT64_MIN = all of
     * them; without the op the source can answer any window (demo,
     * Elasticsearch). */
    int64_t (*held_from)(const source *src);
};

extern const source_ops source_file_ops;
extern const source_ops source_demo_ops;
extern const source_ops source_es_ops;     /* elasticsearch flows */
extern const source_ops source_replay_ops; /* replay flows: answers recorded with --record */
/* Any flow with resolve_callee: its type's source twice, callees resolved (source_resolve.c). */
extern const source_ops source_resolve_ops;

/* The ops for a flow's type. */
const source_ops *source_ops_for(flow_type type);
/* The ops a refresh opens for the flow: source_resolve_ops when it has
 * resolve_callee, else its type's. */
const source_ops *source_ops_for_flow(const flow_config *flow);

#endif
