/* Unit tests of topology resolution: every rule of SPEC §2 "Endpoints" as a
 * table of cases, plus compile errors, name cutting and concurrent use. */
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topology_internal.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define FILE_NAME "vizfeed.yml"

static graph_config test_graph(void) {
    graph_config g = {0};
    g.name = "edge";
    g.entry = "INTERNET";
    g.default_region = "default";
    g.max_services = 100;
    g.warning = 0.03;
    g.danger = 0.10;
    g.min_rate = 0.1;
    g.notice_link = "";
    return g;
}

static topology *compile_ok(const topology_entry *e, size_t n) {
    char err[ERR_LEN] = "";
    topology *t = topology_new(e, n, FILE_NAME, err);
    if (!t) print_error("unexpected error: %s\n", err);
    assert_non_null(t);
    return t;
}

typedef struct {
    const char *region, *service, *host; /* host NULL: "" */
    bool entry;
} expected_endpoint;

/* One resolution and what it must give; NULL expected fields are not checked
 * (a NO_CALLEE case has no endpoints). */
typedef struct {
    const char *what;
    const char *value[EP_COUNT];
    resolve_result result;
    expected_endpoint from, to;
} resolve_case;

static void check_endpoint(const endpoint *got, const expected_endpoint *want) {
    assert_string_equal(got->region, want->region);
    assert_string_equal(got->service, want->service);
    assert_string_equal(got->host, want->host ? want->host : "");
    assert_int_equal(got->is_entry, want->entry);
}

/* Every case three times: without a memo, through a memo that has not seen
 * the values yet, and through the same memo again (every value remembered,
 * some of them from a case that did or did not need the region). */
static void run_cases(const topology *t, const resolve_case *cases, size_t n) {
    graph_config g = test_graph();
    topology_memo *memo = topology_memo_new(t);
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < n; i++) {
            const resolve_case *c = &cases[i];
            endpoint from, to;
            resolve_result r = pass == 0 ? topology_resolve(t, &g, c->value, &from, &to)
                                         : topology_resolve_memo(t, memo, &g, c->value, &from, &to);
            print_message("# case: %s (pass %d)\n", c->what, pass);
            assert_int_equal(r, c->result);
            if (r == RESOLVE_NO_CALLEE) continue;
            check_endpoint(&from, &c->from);
            check_endpoint(&to, &c->to);
        }
    }
    topology_memo_free(memo);
}

/* The SPEC §2 example topology, followed by entries for the other kinds. */
static const topology_entry spec_entries[] = {
    {.match = "10.1.0.0/16", .service = "", .region = "eu-west-1", .line = 10},
    {.match = "10.1.2.10", .service = "postgres", .region = "", .line = 12},
    {.match = "/^(web|api)-[0-9]+$/", .service = "\\1", .region = "", .line = 14},
};

static void spec_example(void **state) {
    topology *t = compile_ok(spec_entries, 3);
    const resolve_case cases[] = {
        {"region from the /16, service from the exact IP",
         {"10.1.2.10", NULL, NULL, "web-07", "us-east-1", "web-07"},
         RESOLVE_OK,
         {"eu-west-1", "postgres", NULL, false},
         {"us-east-1", "web", "web-07", false}},
        {"callee IP: exact IP gives service, /16 gives region",
         {"api-3", "us-east-1", "api-3", "10.1.2.10", NULL, "db-host"},
         RESOLVE_OK,
         {"us-east-1", "api", "api-3", false},
         {"eu-west-1", "postgres", "db-host", false}},
        {"IP matched only by the region entry keeps the address as service",
         {"10.1.9.9", NULL, NULL, "web-1", "", NULL},
         RESOLVE_OK,
         {"eu-west-1", "10.1.9.9", NULL, false},
         {"default", "web", NULL, false}},
        {"unknown IP caller is the entry node in the callee's region",
         {"203.0.113.7", NULL, NULL, "web-1", "us-east-1", "web-1"},
         RESOLVE_OK,
         {"us-east-1", "INTERNET", NULL, true},
         {"us-east-1", "web", "web-1", false}},
        {"unknown IP callee keeps its address",
         {"web-1", "r1", NULL, "198.51.100.4", NULL, NULL},
         RESOLVE_OK,
         {"r1", "web", NULL, false},
         {"default", "198.51.100.4", NULL, false}},
        {"name no entry matches keeps its name",
         {"batch-runner", NULL, NULL, "web-2", "r1", NULL},
         RESOLVE_OK,
         {"default", "batch-runner", NULL, false},
         {"r1", "web", NULL, false}},
        {"regex must match as anchored: web-1x is a plain name",
         {"web-1x", "r1", NULL, "web-1", "r1", NULL},
         RESOLVE_OK,
         {"r1", "web-1x", NULL, false},
         {"r1", "web", NULL, false}},
        {"same service and region is a self call",
         {"web-01", "r1", NULL, "web-02", "r1", NULL},
         RESOLVE_SELF_CALL,
         {"r1", "web", NULL, false},
         {"r1", "web", NULL, false}},
        {"same service in two regions is an edge",
         {"web-01", "r1", NULL, "web-02", "r2", NULL},
         RESOLVE_OK,
         {"r1", "web", NULL, false},
         {"r2", "web", NULL, false}},
        {"self call through the default region",
         {"api-1", NULL, NULL, "api-2", NULL, NULL},
         RESOLVE_SELF_CALL,
         {"default", "api", NULL, false},
         {"default", "api", NULL, false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);
}

static void entry_node_and_missing_values(void **state) {
    topology *t = compile_ok(spec_entries, 3);
    const resolve_case cases[] = {
        {"NULL caller is the entry node",
         {NULL, NULL, "lb-1", "web-1", "eu-west-1", "web-1"},
         RESOLVE_OK,
         {"eu-west-1", "INTERNET", "lb-1", true},
         {"eu-west-1", "web", "web-1", false}},
        {"empty caller is the entry node, even with a region field",
         {"", "ap-south-1", NULL, "web-1", "eu-west-1", NULL},
         RESOLVE_OK,
         {"eu-west-1", "INTERNET", NULL, true},
         {"eu-west-1", "web", NULL, false}},
        {"entry node takes the callee's topology region",
         {NULL, NULL, NULL, "10.1.2.10", NULL, NULL},
         RESOLVE_OK,
         {"eu-west-1", "INTERNET", NULL, true},
         {"eu-west-1", "postgres", NULL, false}},
        {"entry node takes the default region of the callee",
         {"8.8.8.8", NULL, NULL, "search", NULL, NULL},
         RESOLVE_OK,
         {"default", "INTERNET", NULL, true},
         {"default", "search", NULL, false}},
        {"entry node calling a service named like it is no self call",
         {NULL, NULL, NULL, "INTERNET", NULL, NULL},
         RESOLVE_OK,
         {"default", "INTERNET", NULL, true},
         {"default", "INTERNET", NULL, false}},
        {"unknown IPv6 caller is the entry node",
         {"2001:db8::1", NULL, NULL, "web-1", "r1", NULL},
         RESOLVE_OK,
         {"r1", "INTERNET", NULL, true},
         {"r1", "web", NULL, false}},
        {.what = "NULL callee is dropped",
         .value = {"web-1", NULL, NULL, NULL, "r1", NULL},
         .result = RESOLVE_NO_CALLEE},
        {.what = "empty callee is dropped", .value = {NULL, NULL, NULL, "", "r1", NULL}, .result = RESOLVE_NO_CALLEE},
        {"empty region field falls back to the default",
         {"api-1", "", "", "web-1", "", ""},
         RESOLVE_OK,
         {"default", "api", NULL, false},
         {"default", "web", NULL, false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);
}

static void empty_topology(void **state) {
    topology *t = compile_ok(NULL, 0);
    const resolve_case cases[] = {
        {"without entries every IP caller is the entry node",
         {"10.0.0.1", NULL, NULL, "10.0.0.2", NULL, "h"},
         RESOLVE_OK,
         {"default", "INTERNET", NULL, true},
         {"default", "10.0.0.2", "h", false}},
        {"names pass through",
         {"a", "x", "ha", "b", "y", "hb"},
         RESOLVE_OK,
         {"x", "a", "ha", false},
         {"y", "b", "hb", false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);
}

static void addresses_cidr_and_spellings(void **state) {
    const topology_entry entries[] = {
        {.match = "fd00::/8", .service = "", .region = "ap-southeast-2", .line = 1},
        {.match = "0:0::0:1", .service = "loopback6", .region = "", .line = 2},
        {.match = "2001:db8:0:0:0:0:0:5", .service = "v6-exact", .region = "lab", .line = 3},
        {.match = "127.0.0.1", .service = "loopback4", .region = "", .line = 4},
        {.match = "192.168.7.99/20", .service = "office", .region = "hq", .line = 5}, /* host bits ignored */
        {.match = "0.0.0.0/0", .service = "", .region = "anywhere", .line = 6},
        {.match = "::/0", .service = "", .region = "anywhere6", .line = 7},
    };
    topology *t = compile_ok(entries, sizeof entries / sizeof entries[0]);
    const resolve_case cases[] = {
        {"::1 equals 0:0::0:1",
         {"::1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"anywhere6", "loopback6", NULL, false},
         {"r", "x", NULL, false}},
        {"full spelling equals 0:0::0:1",
         {"0000:0:0:0:0:0:0:0001", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"anywhere6", "loopback6", NULL, false},
         {"r", "x", NULL, false}},
        {"compressed spelling equals the full one",
         {"2001:DB8::5", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"lab", "v6-exact", NULL, false},
         {"r", "x", NULL, false}},
        {"IPv6 CIDR",
         {"fd12:3456::9", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"ap-southeast-2", "fd12:3456::9", NULL, false},
         {"r", "x", NULL, false}},
        {"IPv4 exact",
         {"127.0.0.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"anywhere", "loopback4", NULL, false},
         {"r", "x", NULL, false}},
        {"IPv4-mapped IPv6 matches the IPv4 entry",
         {"::ffff:127.0.0.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"anywhere", "loopback4", NULL, false},
         {"r", "x", NULL, false}},
        {"IPv4 CIDR with host bits written",
         {"192.168.0.200", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"hq", "office", NULL, false},
         {"r", "x", NULL, false}},
        {"just outside the /20",
         {"192.168.16.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"anywhere", "192.168.16.1", NULL, false},
         {"r", "x", NULL, false}},
        {"IPv4 never matches IPv6 entries",
         {"10.0.0.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"anywhere", "10.0.0.1", NULL, false},
         {"r", "x", NULL, false}},
        {"callee in a CIDR gets its region",
         {NULL, NULL, NULL, "fd00::1", NULL, NULL},
         RESOLVE_OK,
         {"ap-southeast-2", "INTERNET", NULL, true},
         {"ap-southeast-2", "fd00::1", NULL, false}},
        {"region field beats topology",
         {"127.0.0.1", "eu", NULL, "fd00::1", "us", NULL},
         RESOLVE_OK,
         {"eu", "loopback4", NULL, false},
         {"us", "fd00::1", NULL, false}},
        {"a name that is not an address ignores CIDRs",
         {"db", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "db", NULL, false},
         {"r", "x", NULL, false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);
}

static void names_and_regex_captures(void **state) {
    const topology_entry entries[] = {
        {.match = "legacy-db", .service = "oracle", .region = "us-west-2", .line = 1},
        {.match = "/^([a-z]+)-([a-z]+)\\.internal$/", .service = "\\2-\\1", .region = "", .line = 2},
        {.match = "/^shard-([a-z]+)?([0-9]+)$/", .service = "s\\1\\2", .region = "", .line = 3},
        {.match = "/^(x)?y$/", .service = "\\1", .region = "", .line = 4},
        {.match = "/kafka/", .service = "kafka", .region = "", .line = 5},
        {.match = "/^pay/", .service = "", .region = "payments-region", .line = 6},
        {.match = "/\\\\/", .service = "backslash", .region = "", .line = 7},
    };
    topology *t = compile_ok(entries, sizeof entries / sizeof entries[0]);
    const resolve_case cases[] = {
        {"exact name sets service and region",
         {"legacy-db", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"us-west-2", "oracle", NULL, false},
         {"r", "x", NULL, false}},
        {"exact name is case sensitive",
         {"Legacy-db", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "Legacy-db", NULL, false},
         {"r", "x", NULL, false}},
        {"two captures reordered",
         {"orders-eu.internal", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "eu-orders", NULL, false},
         {"r", "x", NULL, false}},
        {"unmatched optional group gives \"\"",
         {"shard-7", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "s7", NULL, false},
         {"r", "x", NULL, false}},
        {"matched optional group",
         {"shard-ab12", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "sab12", NULL, false},
         {"r", "x", NULL, false}},
        {"a template that expands to nothing keeps the value",
         {"y", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "y", NULL, false},
         {"r", "x", NULL, false}},
        {"unanchored regex matches inside",
         {"eu-kafka-03", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "kafka", NULL, false},
         {"r", "x", NULL, false}},
        {"regex setting only a region",
         {"payroll", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"payments-region", "payroll", NULL, false},
         {"r", "x", NULL, false}},
        {"regex with an escaped backslash",
         {"a\\b", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "backslash", NULL, false},
         {"r", "x", NULL, false}},
        {"regex applies to callees",
         {NULL, NULL, NULL, "shard-3", NULL, "shard-3"},
         RESOLVE_OK,
         {"default", "INTERNET", NULL, true},
         {"default", "s3", "shard-3", false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);
}

/* The address trie must give what a scan in entry order gives: overlapping
 * prefixes in both orders, /0, /32, /128, exact duplicates and IPv4-mapped
 * networks, with a regex after them still filling a missing service. */
static void address_trie_keeps_entry_order(void **state) {
    const topology_entry entries[] = {
        {.match = "10.0.0.0/8", .service = "wide", .region = "", .line = 1},
        {.match = "10.9.0.0/16", .service = "narrow", .region = "r16", .line = 2},
        {.match = "192.168.1.0/24", .service = "", .region = "r24", .line = 3},
        {.match = "192.168.0.0/16", .service = "", .region = "r16b", .line = 4},
        {.match = "192.168.1.7", .service = "host7", .region = "", .line = 5},
        {.match = "192.168.1.7/32", .service = "dup", .region = "rdup", .line = 6},
        {.match = "0.0.0.0/0", .service = "", .region = "v4-all", .line = 7},
        {.match = "2001:db8::/32", .service = "doc6", .region = "", .line = 8},
        {.match = "2001:db8::1/128", .service = "one6", .region = "r128", .line = 9},
        {.match = "::/0", .service = "", .region = "v6-all", .line = 10},
        {.match = "::ffff:172.16.0.0/108", .service = "mapped", .region = "", .line = 11},
        {.match = "/^[0-9.]+$/", .service = "digits-after", .region = "late", .line = 12},
    };
    topology *t = compile_ok(entries, sizeof entries / sizeof entries[0]);
    const resolve_case cases[] = {
        {"the wider /8 comes first and wins the service; the /16 gives the region",
         {"10.9.1.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r16", "wide", NULL, false},
         {"r", "x", NULL, false}},
        {"the narrower /24 comes first and wins the region",
         {"192.168.1.5", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r24", "digits-after", NULL, false},
         {"r", "x", NULL, false}},
        {"outside the /24, the later /16",
         {"192.168.2.5", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r16b", "digits-after", NULL, false},
         {"r", "x", NULL, false}},
        {"an exact address and the same /32 later: the first of each field",
         {"192.168.1.7", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r24", "host7", NULL, false},
         {"r", "x", NULL, false}},
        {"/0 matches every IPv4 address; a later regex still gives the service",
         {"8.8.8.8", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"v4-all", "digits-after", NULL, false},
         {"r", "x", NULL, false}},
        {"/0 and /32 include 255.255.255.255",
         {"255.255.255.255", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"v4-all", "digits-after", NULL, false},
         {"r", "x", NULL, false}},
        {"IPv6 /32 first gives the service, the /128 the region",
         {"2001:db8::1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r128", "doc6", NULL, false},
         {"r", "x", NULL, false}},
        {"next to the /128, only the /32 and ::/0",
         {"2001:db8::2", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"v6-all", "doc6", NULL, false},
         {"r", "x", NULL, false}},
        {"::/0 matches any IPv6 address, which keeps its name",
         {"fe80::1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"v6-all", "fe80::1", NULL, false},
         {"r", "x", NULL, false}},
        {"an IPv4-mapped network matches the IPv4 spelling",
         {"172.20.1.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"v4-all", "mapped", NULL, false},
         {"r", "x", NULL, false}},
        {"and the mapped spelling",
         {"::ffff:172.31.255.255", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"v4-all", "mapped", NULL, false},
         {"r", "x", NULL, false}},
        {"just outside the mapped /12",
         {"172.32.0.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"v4-all", "digits-after", NULL, false},
         {"r", "x", NULL, false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);

    const topology_entry regex_first[] = {
        {.match = "/^10\\./", .service = "", .region = "regex-region", .line = 1},
        {.match = "10.0.0.0/8", .service = "ten", .region = "cidr-region", .line = 2},
        {.match = "10.1.1.1/32", .service = "one", .region = "", .line = 3},
        {.match = "db", .service = "database", .region = "", .line = 4},
        {.match = "db", .service = "again", .region = "db-region", .line = 5},
    };
    t = compile_ok(regex_first, sizeof regex_first / sizeof regex_first[0]);
    const resolve_case regex_cases[] = {
        {"a regex before the CIDR gives the region",
         {"10.1.1.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"regex-region", "ten", NULL, false},
         {"r", "x", NULL, false}},
        {"an address nothing matches is the entry node",
         {"11.1.1.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r", "INTERNET", NULL, true},
         {"r", "x", NULL, false}},
        {"a name listed twice: service from the first, region from the second",
         {"db", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"db-region", "database", NULL, false},
         {"r", "x", NULL, false}},
    };
    run_cases(t, regex_cases, sizeof regex_cases / sizeof regex_cases[0]);
    topology_free(t);
}

/* A regex is skipped when its pattern shows the value cannot match; every
 * shape that must not be skipped (optional first atoms and groups, "|", ".",
 * negated brackets, classes, non-ASCII) still matches. */
static void regex_filters_never_skip_a_match(void **state) {
    const topology_entry entries[] = {
        {.match = "/^([a-z]+-[a-z]+)-[0-9]+$/", .service = "\\1", .region = "", .line = 1},
        {.match = "/^(ab)?c[0-9]+$/", .service = "optional-group", .region = "", .line = 2},
        {.match = "/^x*y$/", .service = "star", .region = "", .line = 3},
        {.match = "/^a{0,2}b$/", .service = "interval", .region = "", .line = 4},
        {.match = "/^(q|r)z$/", .service = "alternative", .region = "", .line = 5},
        {.match = "/^\\.dot$/", .service = "escaped-dot", .region = "", .line = 6},
        {.match = "/^[^0-9]x$/", .service = "negated", .region = "", .line = 7},
        {.match = "/^[]a-]+$/", .service = "bracket", .region = "", .line = 8},
        {.match = "/^[[:digit:]]+$/", .service = "class", .region = "", .line = 9},
        {.match = "/^\xc3\xa9$/", .service = "accent", .region = "", .line = 10},
        {.match = "/^m.n$/", .service = "any", .region = "", .line = 11},
        {.match = "/^(k+)+w$/", .service = "nested", .region = "", .line = 12},
    };
    topology *t = compile_ok(entries, sizeof entries / sizeof entries[0]);
    const resolve_case cases[] = {
        {"captured",
         {"cart-worker-12", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "cart-worker", NULL, false},
         {"r", "x", NULL, false}},
        {"a byte outside the alphabet",
         {"cart-worker-12.ns", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "cart-worker-12.ns", NULL, false},
         {"r", "x", NULL, false}},
        {"optional group first",
         {"c12", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "optional-group", NULL, false},
         {"r", "x", NULL, false}},
        {"starred first atom",
         {"y", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "star", NULL, false},
         {"r", "x", NULL, false}},
        {"interval from zero",
         {"b", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "interval", NULL, false},
         {"r", "x", NULL, false}},
        {"alternative",
         {"rz", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "alternative", NULL, false},
         {"r", "x", NULL, false}},
        {"escaped dot",
         {".dot", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "escaped-dot", NULL, false},
         {"r", "x", NULL, false}},
        {"negated bracket",
         {"zx", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "negated", NULL, false},
         {"r", "x", NULL, false}},
        {"']' and '-' in a bracket",
         {"]-a", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "bracket", NULL, false},
         {"r", "x", NULL, false}},
        {"character class",
         {"123", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "class", NULL, false},
         {"r", "x", NULL, false}},
        {"non-ASCII",
         {"\xc3\xa9", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "accent", NULL, false},
         {"r", "x", NULL, false}},
        {"any byte",
         {"m:n", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "any", NULL, false},
         {"r", "x", NULL, false}},
        {"nested groups",
         {"kkw", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "nested", NULL, false},
         {"r", "x", NULL, false}},
        {"nothing matches",
         {"2x", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"default", "2x", NULL, false},
         {"r", "x", NULL, false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);
}

/* \1 of ^(GROUP)REST$ is found without regexec() when only one split of
 * the value works: compared here with what regexec() itself captures, for
 * patterns of that shape over every short value of a small alphabet. */
static void captures_agree_with_regexec(void **state) {
    static const char *const patterns[] = {
        "^([a-z]+-[a-z]+)-[0-9]+\\.([a-z0-9-]+)\\.svc:[0-9]+$",
        "^([a-z]+-[a-z]+)-[0-9]+$",
        "^(a*)(a*)b$",
        "^([a-b]+)-?([a-b-]*)$",
        "^(a?b+)(b*)a?$",
        "^((ab)*b)+a$",
        "^(a|b)-$",
        "^(a{1,2})b$",
        "^(.+)a$",
    };
    const char alphabet[] = "ab-0.";
    graph_config g = test_graph();
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        char match[128];
        snprintf(match, sizeof match, "/%s/", patterns[p]);
        const topology_entry entry = {.match = match, .service = "\\1", .region = "", .line = 1};
        topology *t = compile_ok(&entry, 1);
        regex_t re;
        assert_int_equal(regcomp(&re, patterns[p], REG_EXTENDED), 0);
        /* Every value of 1 to 6 bytes over the alphabet: 5^6 + ... = 19530. */
        for (int len = 1; len <= 6; len++) {
            int total = 1;
            for (int i = 0; i < len; i++) total *= 5;
            for (int code = 0; code < total; code++) {
                char value[8];
                for (int i = 0, rest = code; i < len; i++, rest /= 5) value[i] = alphabet[rest % 5];
                value[len] = '\0';
                regmatch_t m[2];
                char want[16];
                snprintf(want, sizeof want, "%s", value);
                if (regexec(&re, value, 2, m, 0) == 0 && m[1].rm_so >= 0 && m[1].rm_eo > m[1].rm_so)
                    snprintf(want, sizeof want, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), value + m[1].rm_so);
                const char *values[EP_COUNT] = {value, "r", NULL, "callee", "r", NULL};
                endpoint from, to;
                topology_resolve(t, &g, values, &from, &to);
                if (strcmp(from.service, want) != 0)
                    print_error("%s on \"%s\": \"%s\", regexec gives \"%s\"\n", patterns[p], value, from.service, want);
                assert_string_equal(from.service, want);
            }
        }
        regfree(&re);
        topology_free(t);
    }
}

static void first_entry_wins_per_field(void **state) {
    const topology_entry entries[] = {
        {.match = "/^pay-/", .service = "", .region = "r-first", .line = 1},
        {.match = "pay-1", .service = "payments", .region = "r-second", .line = 2},
        {.match = "/^pay/", .service = "not-this", .region = "r-third", .line = 3},
        {.match = "10.1.0.0/16", .service = "", .region = "eu", .line = 4},
        {.match = "10.0.0.0/8", .service = "ten", .region = "us", .line = 5},
        {.match = "10.1.2.3", .service = "too-late", .region = "", .line = 6},
    };
    topology *t = compile_ok(entries, sizeof entries / sizeof entries[0]);
    const resolve_case cases[] = {
        {"region from the first entry, service from the second",
         {"pay-1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r-first", "payments", NULL, false},
         {"r", "x", NULL, false}},
        {"a later entry fills what earlier ones left",
         {"pay-2", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r-first", "not-this", NULL, false},
         {"r", "x", NULL, false}},
        {"only the third matches",
         {"payroll", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"r-third", "not-this", NULL, false},
         {"r", "x", NULL, false}},
        {"narrow CIDR first gives region, wide one gives service",
         {"10.1.2.3", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"eu", "ten", NULL, false},
         {"r", "x", NULL, false}},
        {"wide CIDR alone",
         {"10.9.0.1", NULL, NULL, "x", "r", NULL},
         RESOLVE_OK,
         {"us", "ten", NULL, false},
         {"r", "x", NULL, false}},
    };
    run_cases(t, cases, sizeof cases / sizeof cases[0]);
    topology_free(t);
}

static void default_region_and_entry_name_come_from_graph(void **state) {
    topology *t = compile_ok(NULL, 0);
    graph_config g = test_graph();
    g.entry = "WORLD";
    g.default_region = "dc1";
    const char *v[EP_COUNT] = {NULL, NULL, NULL, "web", NULL, NULL};
    endpoint from, to;
    assert_int_equal(topology_resolve(t, &g, v, &from, &to), RESOLVE_OK);
    assert_string_equal(from.service, "WORLD");
    assert_string_equal(from.region, "dc1");
    assert_string_equal(to.region, "dc1");
    topology_free(t);
}

/* A name of n bytes: 'a's followed by the UTF-8 character ch. */
static void make_name(char *out, size_t ascii, const char *ch) {
    memset(out, 'a', ascii);
    strcpy(out + ascii, ch);
}

static void long_names_cut_at_utf8_boundary(void **state) {
    static char caller[1024], callee[1024], region[1024], host[1024], capture[1024];
    make_name(caller, 254, "\xc3\xa9");         /* é straddles byte 255: cut before it */
    make_name(callee, 253, "\xe2\x82\xac");     /* € straddles: cut to 253 */
    make_name(region, 255, "\xf0\x9f\x98\x80"); /* 😀 starts at 255: cut to 255 */
    make_name(host, 300, "");
    make_name(capture, 252, "\xe2\x82\xacz"); /* through a regex capture */
    const topology_entry entries[] = {
        {.match = "/^(a+.*z)$/", .service = "\\1", .region = "", .line = 1},
    };
    topology *t = compile_ok(entries, 1);
    graph_config g = test_graph();
    endpoint from, to;
    const char *v[EP_COUNT] = {caller, region, host, callee, "r", host};
    assert_int_equal(topology_resolve(t, &g, v, &from, &to), RESOLVE_OK);
    assert_int_equal(strlen(from.service), 254);
    assert_int_equal(strlen(to.service), 253);
    assert_int_equal(strlen(from.region), 255);
    assert_int_equal(strlen(from.host), VIZ_NAME_MAX - 1);
    assert_int_equal(strlen(to.host), VIZ_NAME_MAX - 1);
    assert_memory_equal(from.service, caller, 254);

    const char *w[EP_COUNT] = {capture, "r", NULL, "b", "r", NULL};
    assert_int_equal(topology_resolve(t, &g, w, &from, &to), RESOLVE_OK);
    assert_int_equal(strlen(from.service), 255);
    assert_string_equal(from.service + 252, "\xe2\x82\xac");

    /* A name exactly VIZ_NAME_MAX-1 bytes long is kept whole. */
    char exact[VIZ_NAME_MAX];
    make_name(exact, VIZ_NAME_MAX - 3, "\xc3\xa9");
    const char *x[EP_COUNT] = {exact, "r", NULL, "b", "r", NULL};
    assert_int_equal(topology_resolve(t, &g, x, &from, &to), RESOLVE_OK);
    assert_string_equal(from.service, exact);
    topology_free(t);
}

typedef struct {
    const char *match, *service;
    int line;
    const char *expected; /* the whole message */
} bad_case;

static void invalid_entries_are_reported_with_file_and_line(void **state) {
    const bad_case cases[] = {
        {"10.1.0.0/33", "", 7, FILE_NAME ":7: bad prefix length in \"10.1.0.0/33\"; expected a number from 0 to 32"},
        {"fd00::/129", "", 8, FILE_NAME ":8: bad prefix length in \"fd00::/129\"; expected a number from 0 to 128"},
        {"10.1.0.0/", "", 9, FILE_NAME ":9: bad prefix length in \"10.1.0.0/\"; expected a number from 0 to 32"},
        {"10.1.0.0/1x", "", 9, FILE_NAME ":9: bad prefix length in \"10.1.0.0/1x\"; expected a number from 0 to 32"},
        {"10.1.0.0/-1", "", 9, FILE_NAME ":9: bad prefix length in \"10.1.0.0/-1\"; expected a number from 0 to 32"},
        {"::ffff:10.0.0.0/90", "", 9,
         FILE_NAME ":9: bad prefix length in \"::ffff:10.0.0.0/90\"; expected 96 to 128 for an IPv4-mapped address"},
        {"10.1.2.300", "", 10,
         FILE_NAME ":10: \"10.1.2.300\" is not an address; expected an IPv4 or IPv6 address or CIDR such as "
                   "10.1.0.0/16"},
        {"300.1.0.0/16", "", 11,
         FILE_NAME ":11: \"300.1.0.0/16\" is not an address; expected an IPv4 or IPv6 address or CIDR such as "
                   "10.1.0.0/16"},
        {"fd00:::1", "", 12,
         FILE_NAME ":12: \"fd00:::1\" is not an address; expected an IPv4 or IPv6 address or CIDR such as "
                   "10.1.0.0/16"},
        {"web/16", "", 13,
         FILE_NAME ":13: \"web/16\" is not an address; expected an IPv4 or IPv6 address or CIDR such as "
                   "10.1.0.0/16"},
        {"", "x", 14, FILE_NAME ":14: empty topology match; expected a CIDR, an IP address, a name or a /regex/"},
        {"//", "x", 15, FILE_NAME ":15: empty regex \"//\"; expected /PATTERN/"},
        {"/^(a)-(b)$/", "\\3", 16,
         FILE_NAME ":16: service refers to \\3 but /^(a)-(b)$/ has 2 capture groups; expected \\1 to \\2"},
        {"/^(a)$/", "\\2", 17,
         FILE_NAME ":17: service refers to \\2 but /^(a)$/ has 1 capture group; expected \\1 to \\1"},
        {"/^a$/", "x\\1", 18,
         FILE_NAME ":18: service refers to \\1 but /^a$/ has no capture group; expected a (group) in the regex"},
        {"web", "\\1", 19,
         FILE_NAME ":19: service \"\\1\" uses \\1 but \"web\" is not a regex; expected match: /PATTERN/ with groups"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* A valid entry first, so that the error path frees compiled work. */
        topology_entry e[2] = {
            {.match = "/^ok-([0-9])$/", .service = "\\1", .region = "", .line = 1},
            {.match = (char *)cases[i].match, .service = (char *)cases[i].service, .region = "", .line = cases[i].line},
        };
        char err[ERR_LEN] = "";
        print_message("# case: %s\n", cases[i].match);
        assert_null(topology_new(e, 2, FILE_NAME, err));
        assert_string_equal(err, cases[i].expected);
    }
}

static void bad_regex_reports_regerror(void **state) {
    topology_entry e = {.match = "/(unclosed/", .service = "", .region = "", .line = 21};
    char err[ERR_LEN] = "";
    assert_null(topology_new(&e, 1, "/etc/vizfeed.yml", err));
    const char *prefix = "/etc/vizfeed.yml:21: bad regex /(unclosed/: ";
    assert_memory_equal(err, prefix, strlen(prefix));
    assert_non_null(strstr(err, "; expected a POSIX extended regular expression"));
    assert_true(strlen(err) > strlen(prefix) + strlen("; expected a POSIX extended regular expression"));
}

/* Issue 18: /(a*)*\1!b/ took 0.2 s, 3.4 s, 10 s on one name of 100, 200,
 * 250 bytes. A back-reference is refused where it is written; what only
 * looks like one (in brackets, after an escaped backslash) is not. */
static void back_references_are_refused(void **state) {
    static const struct {
        const char *match;
        int ref; /* 0: accepted */
    } cases[] = {
        {"/(a*)*\\1!b/", 1}, {"/^(x)(y)\\2$/", 2}, {"/[a]\\3/", 3}, {"/[]\\]\\1/", 1},       {"/[[:alpha:]]\\9/", 9},
        {"/[\\1]x/", 0},     {"/a\\\\1/", 0},      {"/[]\\1]/", 0}, {"/[[:digit:]\\1]/", 0}, {"/^web-([0-9]+)$/", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        topology_entry e = {.match = (char *)cases[i].match, .service = "", .region = "", .line = 12, .column = 14};
        char err[ERR_LEN] = "";
        topology *t = topology_new(&e, 1, FILE_NAME, err);
        print_message("# case: %s\n", cases[i].match);
        if (!cases[i].ref) {
            if (!t) fail_msg("%s refused: %s", cases[i].match, err);
            topology_free(t);
            continue;
        }
        assert_null(t);
        char want[300];
        snprintf(want, sizeof want,
                 FILE_NAME ":12:14: regex %s uses the back-reference \\%d, which is matched by backtracking and can "
                           "take minutes on one name; expected a regex without \\1..\\9 (the service may use them)",
                 cases[i].match, cases[i].ref);
        assert_string_equal(err, want);
    }
}

/* Counted repetitions are written out by regcomp(): /((a?){100}){100}/ took
 * 800 MB to compile and /((a?){1000}){1000}/ crashed `vizfeed check`. */
static void oversized_repetitions_are_refused(void **state) {
    static const struct {
        const char *match;
        const char *pieces; /* NULL: accepted */
    } cases[] = {
        {"/((a?){1000}){1000}/", "2001001"},
        {"/((a?){100}){100}/", "20101"},
        {"/((a*)*){600}b/", "1802"},
        {"/(a?){250}/", "501"},
        {"/x{3000,}/", "3001"},
        {"/s+++++++++/", "1023"}, /* fuzz_regex_match: 50 of them took all memory */
        {"/s{1,}{1,}{1,}{1,}{1,}{1,}{1,}{1,}{1,}/", "1023"},
        {"/s+++++++/", NULL},
        {"/(a?){249}/", NULL},
        {"/^[a-z0-9]{1,63}(\\.[a-z0-9]{1,63}){0,3}$/", NULL},
        {"/^web-([0-9]+)$/", NULL},
        {"/a{,5}/", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        topology_entry e = {.match = (char *)cases[i].match, .service = "", .region = "", .line = 3, .column = 5};
        char err[ERR_LEN] = "";
        print_message("# case: %s\n", cases[i].match);
        topology *t = topology_new(&e, 1, FILE_NAME, err);
        if (!cases[i].pieces) {
            if (!t) fail_msg("%s refused: %s", cases[i].match, err);
            topology_free(t);
            continue;
        }
        assert_null(t);
        char want[300];
        snprintf(want, sizeof want,
                 FILE_NAME ":3:5: regex %s is too large: with its repetitions written out it has %s pieces; expected "
                           "at most %d (a smaller {n} or a * instead)",
                 cases[i].match, cases[i].pieces, VIZ_MAX_REGEX_SIZE);
        assert_string_equal(err, want);
    }
}

/* Found by fuzz_regex_match: glibc's regexec() never returns for
 * /(^a|)+$/ on "ba" when it fills captures (an anchor in a repeated group
 * with an empty alternative; \< does it too), so one name held the
 * refresher for good. An anchor inside a repeated group is refused where it
 * is written; one outside it, or in a group that is not repeated, is not. */
static void anchors_in_repeated_groups_are_refused(void **state) {
    static const struct {
        const char *match;
        bool refused;
    } cases[] = {
        {"/(^a|)+$/", true},      {"/(x|\\<a|)+$/", true},
        {"/((^a)|b)*$/", true},   {"/(a|$){2}/", true},
        {"/(\\ba|)?x/", true},    {"/^(a|)+$/", false},
        {"/(^|\\.)web$/", false}, {"/([$^]a|)+$/", false},
        {"/(\\^a|)+$/", false},   {"/^postgres(ql)?(/.*)?$/", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        topology_entry e = {.match = (char *)cases[i].match, .service = "\\1", .region = "", .line = 4, .column = 9};
        char err[ERR_LEN] = "";
        topology *t = topology_new(&e, 1, FILE_NAME, err);
        print_message("# case: %s\n", cases[i].match);
        if (!cases[i].refused) {
            assert_non_null(t);
            topology_free(t);
            continue;
        }
        assert_null(t);
        char want[400];
        snprintf(want, sizeof want,
                 FILE_NAME ":4:9: regex %s has an anchor (^, $, \\<, \\>, \\b, \\B, \\`, \\') inside a repeated group, "
                           "on which glibc's matcher can loop forever; expected the anchor outside the repeated group",
                 cases[i].match);
        assert_string_equal(err, want);
    }
}

/* Found by fuzz_regex_match: regcomp() never returned for /^(x?)+++++y/,
 * nor for twenty (x*)+ in a row: its work doubles with each repetition of
 * something that may match nothing. More than VIZ_MAX_REGEX_EMPTY_LOOPS are
 * refused where they are written. */
static void repeated_empty_matches_are_refused(void **state) {
    static const struct {
        const char *match;
        const char *loops; /* NULL: accepted */
    } cases[] = {
        {"/^(x?)+++++y/", "31"},
        {"/^(x*)*(x*)*(x*)*(x*)*(x*)*(x*)*(x*)*(x*)*(x*)*$/", "9"},
        {"/^((((x*|y*|z*)+)+)+)+$/", "15"},
        {"/^((x*)*){9}$/", "10"},
        {"/^(x*)*(x*)*(x*)*(x*)*(x*)*(x*)*(x*)*(x*)*$/", NULL},
        {"/^(x?)+++y$/", NULL},
        {"/^([a-z]+-?)*$/", NULL},
        {"/^([a-z-]+):[0-9]+$/", NULL},
        {"/^postgres(ql)?(\\/.*)?$/", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        topology_entry e = {.match = (char *)cases[i].match, .service = "s", .region = "", .line = 6, .column = 3};
        char err[ERR_LEN] = "";
        print_message("# case: %s\n", cases[i].match);
        topology *t = topology_new(&e, 1, FILE_NAME, err);
        if (!cases[i].loops) {
            assert_non_null(t);
            topology_free(t);
            continue;
        }
        assert_null(t);
        char want[400];
        snprintf(want, sizeof want,
                 FILE_NAME ":6:3: regex %s repeats what may match nothing %s times (such as (x*)* or (x?)+, with + "
                           "and {n} written out), which takes regcomp() exponential time; expected at most %d",
                 cases[i].match, cases[i].loops, VIZ_MAX_REGEX_EMPTY_LOOPS);
        assert_string_equal(err, want);
    }
}

/* Issue 18: names longer than the name limit reached regexec() whole. They
 * are cut first, as the graph cuts them: /^a+$/ matches 300 a's and a tail,
 * since only the first VIZ_NAME_MAX - 1 bytes (all a's) are looked at. */
static void names_are_cut_before_they_are_matched(void **state) {
    topology_entry e[] = {{.match = "/^a+$/", .service = "only-a", .region = "r", .line = 1}};
    topology *t = compile_ok(e, 1);
    graph_config g = test_graph();
    char name[400];
    memset(name, 'a', 300);
    strcpy(name + 300, "-and-a-tail");
    const char *v[EP_COUNT] = {[EP_FROM_SERVICE] = name, [EP_TO_SERVICE] = name};
    endpoint from, to;
    assert_int_equal(topology_resolve(t, &g, v, &from, &to), RESOLVE_SELF_CALL);
    assert_string_equal(to.service, "only-a");
    assert_string_equal(to.region, "r");
    assert_string_equal(from.service, "only-a");
    /* Through the memo too, and a name of exactly the limit is not cut. */
    topology_memo *memo = topology_memo_new(t);
    assert_int_equal(topology_resolve_memo(t, memo, &g, v, &from, &to), RESOLVE_SELF_CALL);
    assert_string_equal(to.service, "only-a");
    name[VIZ_NAME_MAX - 2] = 'b';
    name[VIZ_NAME_MAX - 1] = '\0';
    assert_int_equal(topology_resolve_memo(t, memo, &g, v, &from, &to), RESOLVE_SELF_CALL);
    assert_int_equal(strlen(to.service), VIZ_NAME_MAX - 1);
    topology_memo_free(memo);
    topology_free(t);
}

/* A regex within the size limit can still be slow on long names: glibc
 * takes ~10 ms per 240-byte name for /^(a?){248}$/ with a capture to fill
 * (0.07 s for other names). A memo bounds the regex time of a refresh: past
 * its budget the remaining values are resolved without the regex, counted,
 * and the next refresh (a reset) starts afresh. No time is asserted: with a
 * budget of 0 every regex is skipped, and with 1 ms some of 2000 distinct
 * names (each a match of a few microseconds at the least) are. */
static void a_refresh_bounds_its_regex_time(void **state) {
    topology_entry e[] = {{.match = "/^(a?){248}$/", .service = "slow-\\1", .region = "", .line = 1},
                          {.match = "web", .service = "named", .region = "", .line = 2}};
    topology *t = compile_ok(e, 2);
    graph_config g = test_graph();
    topology_memo *memo = topology_memo_new(t);
    char name[300];
    for (int budget = 0; budget <= 1; budget++) {
        topology_memo_set_budget_ms(memo, budget);
        int renamed = 0, n = budget ? 2000 : 20;
        for (int i = 0; i < n; i++) {
            memset(name, 'a', 200 + i % 40);
            snprintf(name + 200 + i % 40, sizeof name - 240, "%c%c", 'a' + i / 40 % 26, 'a' + i / 1040);
            const char *v[EP_COUNT] = {[EP_TO_SERVICE] = name};
            endpoint from, to;
            assert_int_equal(topology_resolve_memo(t, memo, &g, v, &from, &to), RESOLVE_OK);
            if (strncmp(to.service, "slow-", 5) == 0)
                renamed++;
            else
                assert_string_equal(to.service, name); /* skipped (or no match): the name stays */
        }
        if (budget == 0) {
            assert_int_equal(renamed, 0);
            assert_int_equal(topology_memo_skipped(memo), n);
        } else {
            assert_true(renamed >= 1);
            assert_true(topology_memo_skipped(memo) >= 1);
        }
        /* An exact name is found without a regex, also once the time is up. */
        const char *v[EP_COUNT] = {[EP_TO_SERVICE] = "web"};
        endpoint from, to;
        topology_resolve_memo(t, memo, &g, v, &from, &to);
        assert_string_equal(to.service, "named");
        topology_memo_reset(memo);
        assert_int_equal(topology_memo_skipped(memo), 0);
    }
    topology_memo_free(memo);
    topology_free(t);
}

/* Names that differ only in bytes that are not UTF-8 are shown alike (each
 * such byte as U+FFFD), so they are one name: several nodes of the same
 * displayed name in one region broke the graph. Also on the way to a regex. */
static void invalid_utf8_in_names_is_replaced_before_use(void **state) {
    topology_entry e[] = {{.match = "/^x\xef\xbf\xbdy$/", .service = "replaced", .region = "", .line = 1}};
    topology *t = compile_ok(e, 1);
    graph_config g = test_graph();
    static const char *const names[] = {"a\xc0\x80"
                                        "b",
                                        "a\xc1\x81"
                                        "b",
                                        "a\xef\xbf\xbd\xef\xbf\xbd"
                                        "b"};
    for (size_t i = 0; i < 3; i++) {
        const char *v[EP_COUNT] = {[EP_TO_SERVICE] = names[i], [EP_TO_HOST] = names[i], [EP_TO_REGION] = names[i]};
        endpoint from, to;
        assert_int_equal(topology_resolve(t, &g, v, &from, &to), RESOLVE_OK);
        assert_string_equal(to.service, "a\xef\xbf\xbd\xef\xbf\xbd"
                                        "b");
        assert_string_equal(to.host, "a\xef\xbf\xbd\xef\xbf\xbd"
                                     "b");
        assert_string_equal(to.region, "a\xef\xbf\xbd\xef\xbf\xbd"
                                       "b");
    }
    /* The regex sees the name as shown: U+FFFD for the stray byte. */
    const char *v[EP_COUNT] = {[EP_TO_SERVICE] = "x\xff"
                                                 "y"};
    endpoint from, to;
    topology_resolve(t, &g, v, &from, &to);
    assert_string_equal(to.service, "replaced");
    topology_free(t);
}

static void too_many_entries(void **state) {
    char err[ERR_LEN] = "";
    topology_entry e = {.match = "x", .service = "", .region = "", .line = 1};
    assert_null(topology_new(&e, VIZ_MAX_TOPOLOGY + 1, FILE_NAME, err));
    assert_non_null(strstr(err, "expected at most"));
}

/* Threads resolve the same values at once and must all see the same answers
 * (regexec() on a shared regex_t, no static buffers). */
typedef struct {
    const topology *t;
    int mismatches;
} thread_arg;

static void *resolve_many(void *p) {
    thread_arg *a = p;
    graph_config g = test_graph();
    char name[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "web-%d", i);
        const char *v[EP_COUNT] = {"10.1.2.10", NULL, NULL, name, NULL, name};
        endpoint from, to;
        if (topology_resolve(a->t, &g, v, &from, &to) != RESOLVE_OK || strcmp(from.service, "postgres") != 0 ||
            strcmp(from.region, "eu-west-1") != 0 || strcmp(to.service, "web") != 0 || strcmp(to.host, name) != 0)
            a->mismatches++;
    }
    return NULL;
}

static void concurrent_resolution(void **state) {
    topology *t = compile_ok(spec_entries, 3);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){t, 0};
        assert_int_equal(pthread_create(&th[i], NULL, resolve_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].mismatches, 0);
    }
    topology_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_example),
        cmocka_unit_test(entry_node_and_missing_values),
        cmocka_unit_test(empty_topology),
        cmocka_unit_test(addresses_cidr_and_spellings),
        cmocka_unit_test(names_and_regex_captures),
        cmocka_unit_test(first_entry_wins_per_field),
        cmocka_unit_test(address_trie_keeps_entry_order),
        cmocka_unit_test(regex_filters_never_skip_a_match),
        cmocka_unit_test(captures_agree_with_regexec),
        cmocka_unit_test(default_region_and_entry_name_come_from_graph),
        cmocka_unit_test(long_names_cut_at_utf8_boundary),
        cmocka_unit_test(invalid_entries_are_reported_with_file_and_line),
        cmocka_unit_test(bad_regex_reports_regerror),
        cmocka_unit_test(back_references_are_refused),
        cmocka_unit_test(oversized_repetitions_are_refused),
        cmocka_unit_test(anchors_in_repeated_groups_are_refused),
        cmocka_unit_test(repeated_empty_matches_are_refused),
        cmocka_unit_test(names_are_cut_before_they_are_matched),
        cmocka_unit_test(a_refresh_bounds_its_regex_time),
        cmocka_unit_test(invalid_utf8_in_names_is_replaced_before_use),
        cmocka_unit_test(too_many_entries),
        cmocka_unit_test(concurrent_resolution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
