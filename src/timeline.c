/*
 * timeline.c - requests and errors per step over a range (timeline.h): every
 * flow's source answers per step through its timeline op, each row goes
 * through the topology as a refresh's rows do, and the counts are summed per
 * step and per region (or per service of one region).
 *
 * Memory: per name seen, the three classes of every point (24 bytes a
 * point), so at most VIZ_MAX_TIMELINE_SERIES x VIZ_MAX_TIMELINE_POINTS x 24
 * bytes (35 MB) in the worst case and a few hundred kilobytes for a fleet of
 * a hundred services over a day of minutes.
 */
#include "timeline.h"

#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "jsonw.h"
#include "topology.h"
#include "util.h"

#define OTHER_NAME "other"

typedef struct {
    char *name;
    double *counts; /* points x CLASS_COUNT */
} series;

typedef struct {
    const vizfeed_config *cfg;
    const topology *topo;
    topology_memo *memo;
    const char *region; /* NULL: by region */
    int64_t from_ms, step_ms;
    size_t points;
    double *total; /* points x CLASS_COUNT: the point's own numbers */
    series *series;
    size_t nseries, cap;
    hashtab index; /* of series, by a hash of the name */
    size_t other;  /* index of "other" + 1, once the names are too many */
} tally;

int timeline_range(int64_t *from_ms, int64_t *to_ms, int64_t step_ms, size_t *points, char *err) {
    if (step_ms <= 0) return util_fail(err, "the step must be positive");
    int64_t from = util_align_ms(*from_ms, step_ms), to = util_align_ms(*to_ms, step_ms);
    if (to <= from)
        return util_fail(err, "the range from %lld to %lld ms holds no whole step of %lld ms", (long long)*from_ms,
                         (long long)*to_ms, (long long)step_ms);
    int64_t n = (to - from) / step_ms;
    if (n > VIZ_MAX_TIMELINE_POINTS)
        return util_fail(err,
                         "%lld points of %lld ms: at most %d are allowed; ask for a longer step or a shorter range",
                         (long long)n, (long long)step_ms, VIZ_MAX_TIMELINE_POINTS);
    *from_ms = from;
    *to_ms = to;
    *points = (size_t)n;
    return 0;
}

int64_t timeline_default_step(int64_t from_ms, int64_t to_ms, int64_t interval_ms) {
    int64_t unit = interval_ms > 0 ? interval_ms : 1000;
    int64_t span = to_ms > from_ms ? to_ms - from_ms : 0;
    /* Rounded down to the grid, [from, to) holds at most ceil(span / step)
     * whole steps, wherever it starts. */
    int64_t need = (span + VIZ_MAX_TIMELINE_POINTS - 1) / VIZ_MAX_TIMELINE_POINTS;
    return need <= unit ? unit : (need + unit - 1) / unit * unit;
}

/* The series of a name, made on first sight; past the limit, "other". */
static series *series_for(tally *t, const char *name) {
    size_t len = strlen(name);
    uint64_t h = hashtab_hash_bytes(name, len, HASHTAB_SEED);
    uint32_t tag = (uint32_t)h;
    for (hashtab_slot *sl = hashtab_first(&t->index, tag); sl->id; sl = hashtab_next(&t->index, sl))
        if (sl->tag == tag && strcmp(t->series[sl->id - 1].name, name) == 0) return &t->series[sl->id - 1];
    if (t->nseries >= VIZ_MAX_TIMELINE_SERIES) {
        if (t->other) return &t->series[t->other - 1];
        name = OTHER_NAME;
        h = hashtab_hash_bytes(name, strlen(name), HASHTAB_SEED);
        tag = (uint32_t)h;
        /* A real "other" among the names takes the rest too. */
        for (hashtab_slot *sl = hashtab_first(&t->index, tag); sl->id; sl = hashtab_next(&t->index, sl))
            if (sl->tag == tag && strcmp(t->series[sl->id - 1].name, name) == 0) {
                t->other = sl->id;
                return &t->series[sl->id - 1];
            }
    }
    if (t->nseries == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->series = xrealloc(t->series, t->cap * sizeof *t->series);
    }
    series *s = &t->series[t->nseries];
    s->name = xstrdup(name);
    s->counts = xcalloc(t->points * CLASS_COUNT, sizeof *s->counts);
    hashtab_put(&t->index, tag, t->nseries++);
    if (t->nseries > VIZ_MAX_TIMELINE_SERIES) t->other = t->nseries;
    return s;
}

static int add_step_row(void *ctx, int64_t step_start_ms, const raw_row *row) {
    tally *t = ctx;
    if (step_start_ms < t->from_ms) return 0;
    size_t point = (size_t)((step_start_ms - t->from_ms) / t->step_ms);
    if (point >= t->points) return 0;
    endpoint from, to;
    if (topology_resolve_memo(t->topo, t->memo, &t->cfg->graph, row->value, &from, &to) == RESOLVE_NO_CALLEE) return 0;
    if (t->region && strcmp(to.region, t->region) != 0) return 0;
    series *s = series_for(t, t->region ? to.service : to.region);
    for (int c = 0; c < CLASS_COUNT; c++) {
        double n = row->count[c] > 0 ? row->count[c] : 0;
        if (n > VIZ_MAX_COUNT) n = VIZ_MAX_COUNT;
        s->counts[point * CLASS_COUNT + c] += n;
        t->total[point * CLASS_COUNT + c] += n;
    }
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const series *)a)->name, ((const series *)b)->name);
}

static void write_numbers(jsonw *w, const double *counts, double seconds) {
    double all = counts[CLASS_NORMAL] + counts[CLASS_WARNING] + counts[CLASS_DANGER];
    jsonw_key(w, "rps");
    jsonw_rate(w, all / seconds);
    jsonw_key(w, "error_share");
    jsonw_rate(w, all > 0 ? (counts[CLASS_WARNING] + counts[CLASS_DANGER]) / all : 0);
}

static int render(tally *t, buf *out) {
    if (t->nseries > 1)
        qsort(t->series, t->nseries, sizeof *t->series, by_name); /* series is NULL when there are none */
    double seconds = (double)t->step_ms / 1000.0;
    jsonw w;
    jsonw_init(&w, out);
    jsonw_object_begin(&w);
    jsonw_key(&w, "step_ms");
    jsonw_int(&w, t->step_ms);
    jsonw_key(&w, "points");
    jsonw_array_begin(&w);
    for (size_t p = 0; p < t->points && !jsonw_failed(&w); p++) {
        jsonw_object_begin(&w);
        jsonw_key(&w, "t");
        jsonw_int(&w, t->from_ms + (int64_t)p * t->step_ms);
        write_numbers(&w, &t->total[p * CLASS_COUNT], seconds);
        jsonw_key(&w, t->region ? "services" : "regions");
        jsonw_object_begin(&w);
        for (size_t i = 0; i < t->nseries; i++) {
            jsonw_key(&w, t->series[i].name);
            jsonw_object_begin(&w);
            write_numbers(&w, &t->series[i].counts[p * CLASS_COUNT], seconds);
            jsonw_object_end(&w);
        }
        jsonw_object_end(&w);
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    jsonw_object_end(&w);
    return jsonw_failed(&w) ? -1 : 0;
}

char *timeline_json(refresher *r, int64_t from_ms, int64_t to_ms, int64_t step_ms, const char *region, size_t *len,
                    char *err) {
    const vizfeed_config *cfg = refresher_config(r);
    tally t = {.cfg = cfg, .topo = refresher_topology(r), .region = region, .step_ms = step_ms};
    char *json = NULL;
    if (timeline_range(&from_ms, &to_ms, step_ms, &t.points, err) < 0) return NULL;
    t.from_ms = from_ms;
    t.memo = topology_memo_new(t.topo);
    t.total = xcalloc(t.points * CLASS_COUNT, sizeof *t.total);
    const atomic_bool *stop = refresher_stop_flag(r);
    /* Every flow is checked before any is asked, so that a refused timeline
     * sends no search (as the history pool refuses it, and as `vizfeed
     * query` prints it). */
    for (size_t i = 0; i < cfg->nflows; i++) {
        source *src = refresher_source(r, i);
        if (src && !src->ops->timeline) {
            util_fail(err, "flow '%s': %s flows have no timeline", cfg->flows[i].name, src->ops->type);
            goto done;
        }
    }
    for (size_t i = 0; i < cfg->nflows; i++) {
        source *src = refresher_source(r, i);
        const char *name = cfg->flows[i].name;
        if (!src) break;
        if (atomic_load(stop)) {
            util_fail(err, "stopped");
            goto done;
        }
        if (src->ops->limit) {
            int64_t budget = cfg_refresh_deadline_ms(cfg);
            source_limits limits = {.deadline_ms = util_monotonic_ms() + budget, .budget_ms = budget, .stop = stop};
            src->ops->limit(src, &limits);
        }
        char why[ERR_LEN] = "";
        if (src->ops->timeline(src, from_ms, to_ms, step_ms, add_step_row, &t, why) < 0) {
            util_fail(err, "flow '%s': %s", name, why[0] ? why : "the source stopped without a reason");
            goto done;
        }
    }
    buf out;
    /* Per point: the head and, per name, the name and two numbers. */
    buf_init(&out, VIZ_MAX_GRAPH_JSON);
    if (render(&t, &out) < 0) {
        util_fail(err, "the timeline is larger than %u bytes", VIZ_MAX_GRAPH_JSON);
        buf_free(&out);
        goto done;
    }
    json = buf_take(&out, len);
done:
    for (size_t i = 0; i < t.nseries; i++) {
        free(t.series[i].name);
        free(t.series[i].counts);
    }
    free(t.series);
    hashtab_free(&t.index);
    free(t.total);
    topology_memo_free(t.memo);
    return json;
}
