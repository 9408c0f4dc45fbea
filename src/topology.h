/*
 * topology.h - turns the raw endpoint values of an event (addresses, host
 * names, service names) into graph endpoints: (region, service, host).
 *
 * Rules (README.md, "How the graph is built"):
 *  - Entries are tried in order. An entry matches an IP value by CIDR or exact
 *    address, any value by exact name or /regex/. The service comes from the
 *    first matching entry that sets one (regex captures \1..\9 filled in), the
 *    region from the first matching entry that sets one; so a /16 giving the
 *    region and a later exact IP giving the service combine.
 *  - Caller: no service value, or an IP address that no entry matches, is the
 *    entry node (graph.entry) and lands in the callee's region.
 *  - Callee: no service value drops the event (RESOLVE_NO_CALLEE); an address
 *    no entry matches keeps the address as its name.
 *  - Region: the region field's value, else the topology's, else
 *    graph.default_region.
 *  - Same service and region on both sides: RESOLVE_SELF_CALL.
 * Names longer than VIZ_NAME_MAX-1 bytes are cut at a UTF-8 boundary.
 *
 * A topology is immutable after topology_new() and safe to share between
 * threads.
 */
#ifndef VIZ_TOPOLOGY_H
#define VIZ_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "graph_config.h"
#include "rows.h"
#include "topology_config.h"

typedef struct topology topology;

typedef enum { RESOLVE_OK, RESOLVE_NO_CALLEE, RESOLVE_SELF_CALL } resolve_result;

/* Compiles the entries (CIDRs, regexes). NULL with a "FILE:LINE: what is
 * wrong" reason in err when an entry is invalid (file names the
 * configuration, entries carry their line). */
topology *topology_new(const topology_entry *entries, size_t n, const char *file, char *err);
void topology_free(topology *t);

/* value[EP_*] are the raw values of one event or bucket, NULL when absent. */
resolve_result topology_resolve(const topology *t, const graph_config *g, const char *const value[EP_COUNT],
                                endpoint *from, endpoint *to);

/*
 * A memo of what the entries said about each raw value a regex had to look
 * at, for one thread that resolves many rows through one topology: the same
 * values recur across a refresh's edges, and a regex with captures costs
 * ~1 us. Values the address trie, the exact names or the regex prefilters
 * settle are cheaper to look up again than to remember, and are not kept.
 * topology_resolve_memo() gives exactly what topology_resolve() gives.
 *
 *   memo = topology_memo_new(t);
 *   per refresh: topology_resolve_memo(t, memo, ...) for every row, then
 *                topology_memo_reset(memo) (it forgets, so memory follows one
 *                refresh's distinct values, at most 512k values / 32 MB);
 *   topology_memo_free(memo) before topology_free(t).
 *
 * A memo serves the topology it was made for only, and is not thread-safe.
 * memo may be NULL: then nothing is remembered.
 */
typedef struct topology_memo topology_memo;

topology_memo *topology_memo_new(const topology *t);
void topology_memo_reset(topology_memo *m);
void topology_memo_free(topology_memo *m);
resolve_result topology_resolve_memo(const topology *t, topology_memo *memo, const graph_config *g,
                                     const char *const value[EP_COUNT], endpoint *from, endpoint *to);

/* A memo also bounds the time regexes take per refresh (between resets):
 * after TOPOLOGY_REGEX_BUDGET_MS of regexec(), the rest of the refresh's
 * values are resolved without the regexes that would need one (as if they
 * did not match), so no pattern can hold a refresh for long; a size limit
 * and refusing back-references (topology_new) keep one match short. This
 * counts the values resolved so since the last reset. */
uint64_t topology_memo_skipped(const topology_memo *m);

#endif
