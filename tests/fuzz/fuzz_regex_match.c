/*
 * fuzz_regex_match.c - regex_match.c (the topology regexes' prefilter and
 * \1 matcher) against glibc's regexec(), which it stands in for.
 *
 * Input: a pattern, then values, each ended by a NUL byte (the last one by
 * the end of the input). A pattern that topology.c would refuse (a
 * back-reference, an anchor in a repeated group, too large once expanded,
 * too many repetitions of what may match nothing,
 * longer than a test needs) or that
 * regcomp(REG_EXTENDED) refuses is skipped. For every value: when the
 * prefilter says "cannot match", regexec() must not match; when the matcher
 * answers 0, regexec() must not match; when it answers 1, regexec() must
 * match the whole value with \1 = [0, end). The matcher is built as for a
 * service template that uses \1 only, so that it is tried on every pattern
 * with a group.
 *
 * A hang is a finding too: crash-07e51b4d..., /(^a|)+$/ on "ba", never
 * returned from glibc's regexec() until topology.c refused anchors in
 * repeated groups; crash-88031e71..., /^(x?)+++++y/, never returned from
 * regcomp() until it refused repetitions of what may match nothing;
 * crash-6a65038e..., s followed by fifty +, took all memory in regcomp()
 * until the size counted + as the two copies regcomp() makes.
 */
#include <regex.h>
#include <string.h>

#include "bounds.h"
#include "fuzz.h"
#include "regex_match.h"

#define MAX_PATTERN 96 /* enough for every shape; keeps regcomp() fast */
#define MAX_VALUES  16

static void check_value(const regex_t *re, const regex_match *rm, const char *value) {
    regmatch_t m[2];
    int rc = regexec(re, value, 2, m, 0);
    if (!regex_match_may_match(rm, value)) FUZZ_CHECK(rc != 0);
    size_t end = 0;
    int quick = regex_match_first_group(rm, value, &end);
    if (quick == 0) FUZZ_CHECK(rc != 0);
    if (quick == 1) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(re->re_nsub >= 1);
        FUZZ_CHECK(m[0].rm_so == 0 && (size_t)m[0].rm_eo == strlen(value));
        FUZZ_CHECK(m[1].rm_so == 0 && (size_t)m[1].rm_eo == end);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    if (plen == 0 || plen > MAX_PATTERN) return 0;
    char pattern[MAX_PATTERN + 1];
    memcpy(pattern, data, plen);
    pattern[plen] = '\0';
    if (regex_match_back_reference(pattern) || regex_match_repeated_anchor(pattern) ||
        regex_match_expanded_size(pattern) > VIZ_MAX_REGEX_SIZE ||
        regex_match_empty_loops(pattern) > VIZ_MAX_REGEX_EMPTY_LOOPS)
        return 0;
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED) != 0) return 0;
    regex_match *rm = regex_match_new(pattern, true);

    /* The values: NUL-terminated pieces of the rest, as a C string is. */
    char *rest = malloc(size - plen + 1);
    size_t rlen = nul ? size - plen - 1 : 0;
    memcpy(rest, nul ? (const char *)nul + 1 : "", rlen);
    rest[rlen] = '\0';
    const char *v = rest;
    for (int k = 0; k < MAX_VALUES; k++) {
        check_value(&re, rm, v);
        size_t n = strlen(v);
        if (v + n >= rest + rlen) break;
        v += n + 1;
    }
    free(rest);
    regex_match_free(rm);
    regfree(&re);
    return 0;
}
