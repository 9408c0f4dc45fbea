/*
 * topology_internal.h - what only the tests use of topology: a memo whose
 * regex time budget is not TOPOLOGY_REGEX_BUDGET_MS, so a test can spend it
 * without running regexes for seconds.
 */
#ifndef VIZ_TOPOLOGY_INTERNAL_H
#define VIZ_TOPOLOGY_INTERNAL_H

#include "topology.h"

/* Sets m's regex time budget (between resets) to ms. */
void topology_memo_set_budget_ms(topology_memo *m, int64_t ms);

#endif
