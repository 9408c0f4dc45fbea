/*
 * source_resolve.h - the companion flow of a flow with resolve_callee
 * (config.h; README.md and docs/PRESETS.md, "Callees resolved to the service
 * behind an address").
 *
 * The resolve_callee source (source_resolve_ops, source.h) reads the flow's
 * data twice per window: first through this companion, whose rows map each
 * address to the service that served it, then through the flow itself. The
 * companion is a copy of the flow that keeps its place (type, index, path,
 * timestamp field) and nothing else of its reading but the resolve_callee
 * fields:
 *   - name "<flow>.servers": it tells the companion's recording (--record
 *     writes ROOT/NAME.servers beside ROOT/NAME), its X-Opaque-Id and
 *     `vizfeed query`'s heading apart from the flow's;
 *   - a replay flow's path gets ".servers" after it (its trailing '/' cut):
 *     a replay whose path is ROOT/NAME reads the companion from
 *     ROOT/NAME.servers;
 *   - where = resolve_callee.where; the caller's service field =
 *     resolve_callee.service, the callee's service field =
 *     resolve_callee.address (and its join field, A:B); every other field,
 *     alternative and join empty;
 *   - no warning or danger conditions, no count, danger_count or latency
 *     field, and no resolve_callee of its own.
 * Building it here, once, is what lets `vizfeed query` (es_query.h) print
 * exactly the companion search a refresh sends.
 *
 * Calling sequence: source_resolve_companion(flow, &companion), use it, then
 * source_resolve_companion_free(&companion).
 *
 * Ownership: the companion owns its name and, for a replay flow, its path
 * (freed by source_resolve_companion_free()); every other string and
 * condition list is borrowed from the flow, which must outlive it.
 *
 * Errors: none; the flow must have resolve_callee (its resolve_service set).
 */
#ifndef VIZ_SOURCE_RESOLVE_H
#define VIZ_SOURCE_RESOLVE_H

#include "config.h"

void source_resolve_companion(const flow_config *flow, flow_config *out);
void source_resolve_companion_free(flow_config *companion);

#endif
