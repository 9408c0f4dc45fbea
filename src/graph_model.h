/*
 * graph_model.h - internal to the graph module: the layout of a graph_model
 * (graph.h), which the renderer reads directly.
 *
 * All three tables are the same open-addressing "record" table: a key of up
 * to four name ids (graph_intern.h), the counts of the three classes, the
 * 64-bit mask of contributing flows and, for edges, the latency. Records sit
 * in a dense array, recs[0 .. n), in the order they were made; readers
 * iterate over that array and never touch the slots. Only graph_model.c
 * writes a model.
 */
#ifndef VIZ_GRAPH_MODEL_H
#define VIZ_GRAPH_MODEL_H

#include "graph.h"
#include "graph_intern.h"
#include "hashtab.h"
#include "latency.h"
#include "rows.h"

typedef struct {
    uint32_t key[4];
    uint64_t flows;
    double count[CLASS_COUNT];
    latency lat; /* edges only */
    double base; /* edges only: all calls in the baseline window (graph_model_set_baseline) */
} record;

/* Records sit in a dense array in the order they were made; the open-
 * addressing slots hold 8 bytes each (a hash tag and an index). At 100k edges
 * the tables are what a refresh's memory is made of, and every page a table
 * touches for the first time is a page fault: dense records touch only what
 * is used, and the sparse part stays a sixth of what inline records made it.
 * Iterating over the records visits no empty slot. */
typedef struct {
    record *recs;
    size_t n, cap; /* records in use, room in recs */
    hashtab index; /* of recs, tagged with the key's hash */
} rectab;

struct graph_model {
    strtab names;
    rectab edges; /* from region, from service (ENTRY_ID), to region, to service */
    rectab hosts; /* to region, to service, host, 0 */
    rectab self;  /* region, service, 0, 0 */
    double dropped;
    uint64_t dropped_flows;
    double hosts_untracked;
    uint64_t clamped;      /* counts clamped to VIZ_MAX_COUNT */
    bool has_base;         /* graph_model_set_baseline() was called: render the change marks */
    double base_untracked; /* baseline calls of edges left out at VIZ_MAX_EDGES */
    /* The id last interned at each endpoint position: sources emit rows
     * grouped by caller and region, so most names repeat the previous row's
     * and a strcmp replaces a hash and a probe. NO_ID when unset. */
    uint32_t last[EP_COUNT];
};

#endif
