/*
 * regex_match.h - the prefilter, the \1 matcher and the refusals that go
 * with a topology regex (a POSIX extended regex compiled by regcomp()).
 *
 * The caller keeps its regex_t and asks this module first:
 *
 *   if (regex_match_back_reference(p) || regex_match_repeated_anchor(p) ||
 *       regex_match_expanded_size(p) > VIZ_MAX_REGEX_SIZE ||
 *       regex_match_empty_loops(p) > VIZ_MAX_REGEX_EMPTY_LOOPS)
 *       refuse the pattern (before regcomp(): see why below);
 *   regcomp(&re, p, REG_EXTENDED ...);
 *   regex_match *rm = regex_match_new(p, template uses \1 only);
 *   per value:
 *       if (!regex_match_may_match(rm, v)) -> regexec() would not match;
 *       switch (regex_match_first_group(rm, v, &end)) {
 *       case 1:  matched, \0 = [0, strlen(v)), \1 = [0, end);
 *       case 0:  regexec() would not match;
 *       case -1: ask regexec();
 *       }
 *   regex_match_free(rm);
 *
 * Promise (what tests/fuzz/fuzz_regex_match.c checks against glibc): for a
 * pattern that regcomp(REG_EXTENDED) accepts, vizfeed's C locale and any
 * NUL-terminated value, may_match() is false only when regexec() does not
 * match, and first_group() answers 0 or 1 only where regexec() gives that
 * same answer and the same \1. What this module does not model (".", "|",
 * negated brackets, classes, GNU escapes, {m,n} in the matcher, non-ASCII
 * bytes) leaves it without a filter or a matcher, never with a wrong one.
 *
 * Ownership: regex_match_new() copies what it needs from pattern; the
 * regex_match belongs to the caller (regex_match_free(), NULL is fine).
 * Errors: none; a pattern the module cannot model gives a regex_match that
 * filters nothing and answers -1.
 * Threads: a regex_match is read-only after regex_match_new(); any number of
 * threads may call may_match() and first_group() on it at once (they allocate
 * nothing and take no lock, unlike glibc's regexec()).
 */
#ifndef VIZ_REGEX_MATCH_H
#define VIZ_REGEX_MATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct regex_match regex_match;

/* The first back-reference (\1..\9 outside a bracket expression) of an
 * extended regex, or 0. Callers refuse them: glibc can only match them by
 * backtracking, which can take minutes on one name. */
int regex_match_back_reference(const char *pattern);

/* Whether an anchor (^, $, or GNU's \<, \>, \b, \B, \`, \') stands
 * inside a parenthesized group that a quantifier repeats. Callers refuse
 * them: glibc's regexec() never returns for /(^a|)+$/ on "ba" when it fills
 * captures (found by tests/fuzz/fuzz_regex_match.c), and the shape has no
 * use in a topology. */
bool regex_match_repeated_anchor(const char *pattern);

/* How many elementary pieces pattern stands for once its counted
 * repetitions ({m,n}) are written out, as regcomp() writes them out
 * (saturating at 1e18). Callers refuse more than VIZ_MAX_REGEX_SIZE
 * (src/bounds.h): compiling and matching grow faster than it. */
double regex_match_expanded_size(const char *pattern);

/* How many repetitions of something that may match nothing pattern holds
 * ((x*)*, (x?)+, (|a){3}), with + and {m,n} written out as regcomp() writes
 * them (saturating at 1e18). Callers refuse more than
 * VIZ_MAX_REGEX_EMPTY_LOOPS (src/bounds.h): regcomp()'s time doubles with
 * each; /(x?)+++++y/ never finished compiling. */
double regex_match_empty_loops(const char *pattern);

/* Works out the prefilter of pattern (the text between the slashes) and,
 * when first_group (the caller needs \1 and nothing else), the matcher of
 * ^(GROUP)REST$. Never NULL. */
regex_match *regex_match_new(const char *pattern, bool first_group);

/* False when regexec() would not match value. */
bool regex_match_may_match(const regex_match *rm, const char *value);

/* 1: value matches with \1 = [0, *end) (and \0 the whole value); 0: it does
 * not match; -1: no answer here (no matcher, several candidate ends, or a
 * value longer than 256 bytes), ask regexec(). */
int regex_match_first_group(const regex_match *rm, const char *value, size_t *end);

void regex_match_free(regex_match *rm);

#endif
