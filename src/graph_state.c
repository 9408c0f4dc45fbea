/*
 * graph_state.c - a region's maxVolume on steps of 1, 2 and 5 x 10^k
 * (graph_state.h): a function of the view alone.
 */
#include "graph_state.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

/* Kept so that graph.h's API does not change (graph_state.h says why). */
struct graph_state {
    int unused;
};

graph_state *graph_state_new(void) {
    return xcalloc(1, sizeof(graph_state));
}

void graph_state_free(graph_state *st) {
    free(st);
}

double graph_max_volume(double max_rate) {
    double target = MAX_VOLUME_FACTOR * max_rate;
    if (!isfinite(target) || target <= 1.0) return 1.0;
    /* log10 may land a hair off for an exact power of ten: the loop below
     * starts one decade lower, so the step found is still the smallest. */
    double decade = pow(10.0, floor(log10(target)) - 1);
    static const double steps[] = {1, 2, 5};
    for (int k = 0; k < 3; k++, decade *= 10)
        for (int i = 0; i < 3; i++)
            if (steps[i] * decade >= target) return steps[i] * decade;
    return target; /* not reached: 10 x the decade's start is above target */
}
