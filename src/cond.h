/*
 * cond.h - what a condition means, defined once for both places it is used:
 * evaluated on a document in memory (file flows) and translated into
 * Elasticsearch query DSL (elasticsearch flows). The two must agree on every
 * document; tests/unit/test_cond.c checks both on one table of cases.
 *
 * Semantics (those of Elasticsearch's term/terms/range/exists/prefix and
 * bool queries):
 *   equals v   some value of the field equals v. Strings compare exactly; a
 *              number compares numerically with a number or a numeric string
 *              (as a long field matches the term "200"); booleans as
 *              true/false.
 *   in [..]    equals one of the values.
 *   gte/gt/lte/lt  some numeric value lies within all the given bounds.
 *   exists     the field has at least one non-null value (exists: false is
 *              the negation).
 *   prefix p   some string value starts with p.
 *   not c      c does not hold (a missing field makes equals false, so
 *              not-equals true, as must_not does).
 *   all [..]   every part holds.
 *
 * Where the two can still differ, because Elasticsearch's answer depends on
 * the index mapping that a document in memory does not have:
 *   - prefix on a field mapped as a number: Elasticsearch refuses the query
 *     (a 400 the flow reports); in memory only string values match;
 *   - equals on integers beyond 2^53: compared as doubles in memory, exactly
 *     in Elasticsearch;
 *   - exists on an object field (e.g. `source`): true in Elasticsearch, false
 *     in memory, which only sees leaf values: name a leaf field instead.
 *
 * Everything here is pure: it reads the conditions and the document,
 * allocates nothing of its own (cond_to_es writes into the caller's jsonw)
 * and keeps no state, so any thread may call it. Nothing fails; an output
 * over its cap shows in jsonw_failed().
 */
#ifndef VIZ_COND_H
#define VIZ_COND_H

#include <stdbool.h>

#include "config.h"
#include "doc.h"
#include "jsonw.h"

bool cond_eval(const condition *c, const doc *d);
bool cond_all(const condition_list *list, const doc *d); /* true for an empty list */
bool cond_any(const condition_list *list, const doc *d); /* false for an empty list */

/* Writes one query clause, e.g. {"term":{"event.outcome":"failure"}}. */
void cond_to_es(const condition *c, jsonw *w);
/* Writes a bool query that holds when ANY condition of the list holds:
 * {"bool":{"should":[...],"minimum_should_match":1}}. */
void cond_any_to_es(const condition_list *list, jsonw *w);

/* Calls fn for every field a list of conditions reads (for doc_schema). */
void cond_fields(const condition_list *list, void (*fn)(void *ctx, const char *field), void *ctx);

#endif
