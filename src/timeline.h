/*
 * timeline.h - requests and errors over time, for the page's timeline strip
 * (README.md, "Timeline"): `vizfeed timeline` prints these bytes, and
 * GET /timeline.json serves them, computed by a history worker (history.h).
 *
 *   {"step_ms": N, "points": [{"t": <epoch ms of the step's start>,
 *     "rps": x, "error_share": y,
 *     "regions": {"<region>": {"rps": x, "error_share": y}, ...}}, ...]}
 *
 * With a region, each point has "services" (that region's services) instead
 * of "regions", and its own rps and error_share are the region's.
 *
 * What is counted: every event whose callee resolves to a region and service
 * (topology.h; an event without a callee is dropped, as in the graph) counts
 * for the callee's region and service, the way the graph's connections into
 * that service count it. rps is normal + warning + danger per second of the
 * step; error_share is (warning + danger) / all, 0 without traffic. Numbers
 * are rounded to 4 significant digits like the graph's rates. Names are
 * sorted bytewise; a region or service without traffic in the whole range
 * is absent, one without traffic in a step shows 0 there. Past
 * VIZ_MAX_TIMELINE_SERIES names, the rest are summed under "other".
 *
 * Time: from and to are rounded down to multiples of step, so every step is
 * whole and lies on the grid Elasticsearch's date_histogram keys buckets by
 * (epoch ms, offset 0); a step that has only begun at `to` is left out, since
 * its part count would read as a drop. The points are the steps in between,
 * at most VIZ_MAX_TIMELINE_POINTS (more is an error, never a cut).
 *
 * Cost: one pass over each flow's source through its timeline op
 * (source.h): for Elasticsearch one composite aggregation with a
 * date_histogram source, paged (es_query.h); for files the kept events;
 * for the demo a computation per step.
 *
 * Threads: timeline_json() uses the refresher's sources, topology (with a
 * memo of its own) and configuration, so it runs on the thread that owns
 * that refresher, never beside a refresher_run() of the same refresher:
 * `vizfeed timeline` makes a refresher of its own for it, as a history
 * worker has one. Flows are asked in turn, each within refresh.deadline
 * (through the source's limit(), as a refresh's), and the whole call ends
 * within about a second of refresher_stop().
 *
 * Errors: NULL with a reason in err (range empty or reversed, step not
 * positive, too many points, a flow whose source has no timeline or fails:
 * "flow 'NAME': why", "stopped", or bytes past VIZ_MAX_GRAPH_JSON; a flow
 * without a timeline is found before any flow is asked, so nothing is
 * sent then); the caller owns the returned bytes (free()). An HTTP
 * caller asks timeline_range() first: what it refuses is the request's fault
 * (400), what timeline_json() refuses after it is the sources' (a flow that
 * failed, or a stop).
 */
#ifndef VIZ_TIMELINE_H
#define VIZ_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "refresh.h"

#define TIMELINE_DEFAULT_SPAN_MS (6LL * 3600 * 1000) /* the range when none is given: the last 6 hours */

/* region: NULL for the regions view, else that region's services. */
char *timeline_json(refresher *r, int64_t from_ms, int64_t to_ms, int64_t step_ms, const char *region, size_t *len,
                    char *err);

/* The step a range gets when none is asked for: the refresh interval, or
 * the smallest multiple of it that keeps the points within
 * VIZ_MAX_TIMELINE_POINTS. */
int64_t timeline_default_step(int64_t from_ms, int64_t to_ms, int64_t interval_ms);

/* from and to as timeline_json() rounds them (down, to multiples of step),
 * and the points between; -1 with a reason when the range holds no whole
 * step, the step is not positive or the points are too many. */
int timeline_range(int64_t *from_ms, int64_t *to_ms, int64_t step_ms, size_t *points, char *err);

#endif
