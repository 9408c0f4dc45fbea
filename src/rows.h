/*
 * rows.h - the shared vocabulary of rows, from a source's raw values to the
 * graph's endpoints.
 *
 * A row names six endpoint parts (EP_*) in a fixed order: every array of raw
 * values (sources, topology_resolve) is indexed by them. Its counts come in
 * three traffic classes (CLASS_*), in this order in every count[CLASS_COUNT]
 * array. topology.h turns the raw values into two `endpoint`s, which
 * graph.h counts.
 *
 * Plain types only: nothing here allocates, and every module along the
 * pipeline may include it without pulling in the configuration.
 */
#ifndef VIZ_ROWS_H
#define VIZ_ROWS_H

#include <stdbool.h>

#include "bounds.h"

/* The six endpoint fields of a flow, in this order everywhere (raw rows too). */
enum { EP_FROM_SERVICE, EP_FROM_REGION, EP_FROM_HOST, EP_TO_SERVICE, EP_TO_REGION, EP_TO_HOST, EP_COUNT };

/* Traffic classes, in this order in every count[3] array. */
enum { CLASS_NORMAL, CLASS_WARNING, CLASS_DANGER, CLASS_COUNT };

/* One side of a call once topology has resolved it. Names are cut to
 * VIZ_NAME_MAX-1 bytes at a UTF-8 boundary. */
typedef struct {
    char region[VIZ_NAME_MAX];
    char service[VIZ_NAME_MAX];
    char host[VIZ_NAME_MAX]; /* "" when unknown */
    bool is_entry;           /* the caller is the entry node */
} endpoint;

#endif
