/*
 * pull_internal.h - what only the tests use of `vizfeed pull`: the backoff
 * between failed polls, a pure function, so its bounds can be checked
 * without waiting for them.
 */
#ifndef VIZ_PULL_INTERNAL_H
#define VIZ_PULL_INTERNAL_H

#include <stdint.h>

#include "pull.h"

/* The wait after `failures` (>= 1) consecutive failed polls: the interval
 * doubled per failure, capped at PULL_BACKOFF_FACTOR intervals and
 * PULL_MAX_BACKOFF_MS (but at least one interval), then shortened by up to a
 * quarter according to jitter (in [0, 1)) so that pullers restarted together
 * do not stay in step. */
int64_t pull_backoff_ms(int64_t interval_ms, unsigned failures, double jitter);

#endif
