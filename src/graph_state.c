/*
 * graph_state.c - the decaying maximum volume per region (graph_state.h),
 * kept between renders so that particle density does not jump.
 */
#include "graph_state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DECAY_HALF_LIFE_MS (15.0 * 60 * 1000)
#define STATE_FORGET_MS    (60 * 60 * 1000)

typedef struct {
    char *name;
    double volume;
    int64_t end_ms;
} state_entry;

struct graph_state {
    state_entry *entries; /* sorted by name */
    size_t n;
};

graph_state *graph_state_new(void) {
    return xcalloc(1, sizeof(graph_state));
}

static void state_entries_free(state_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) free(e[i].name);
    free(e);
}

void graph_state_free(graph_state *st) {
    if (!st) return;
    state_entries_free(st->entries, st->n);
    free(st);
}

static int state_cmp(const void *a, const void *b) {
    return strcmp(((const state_entry *)a)->name, ((const state_entry *)b)->name);
}

static const state_entry *state_find(const graph_state *st, const char *name) {
    state_entry probe = {.name = (char *)name};
    return st->n ? bsearch(&probe, st->entries, st->n, sizeof probe, state_cmp) : NULL;
}

double graph_state_decayed_max(const graph_state *st, const char *name, double target, int64_t end_ms) {
    const state_entry *prev = state_find(st, name);
    if (!prev) return target;
    double kept = prev->volume;
    int64_t dt = end_ms - prev->end_ms;
    if (dt > 0) kept *= pow(0.5, (double)dt / DECAY_HALF_LIFE_MS);
    return isfinite(kept) && kept > target ? kept : target;
}

void graph_state_commit(graph_state *st, const char *const *names, const double *volumes, size_t nregions,
                        int64_t end_ms) {
    state_entry *next = xmalloc((nregions + st->n + 1) * sizeof *next);
    size_t n = 0;
    for (size_t i = 0; i < nregions; i++) next[n++] = (state_entry){xstrdup(names[i]), volumes[i], end_ms};
    qsort(next, n, sizeof *next, state_cmp);
    size_t fresh = n;
    for (size_t i = 0; i < st->n; i++) {
        state_entry probe = {.name = st->entries[i].name};
        if (fresh && bsearch(&probe, next, fresh, sizeof probe, state_cmp)) continue;
        if (end_ms - st->entries[i].end_ms >= STATE_FORGET_MS) continue;
        next[n++] = (state_entry){xstrdup(st->entries[i].name), st->entries[i].volume, st->entries[i].end_ms};
    }
    qsort(next, n, sizeof *next, state_cmp);
    state_entries_free(st->entries, st->n);
    st->entries = next;
    st->n = n;
}
