/*
 * topology.c - compiled topology entries and endpoint resolution.
 *
 * Every entry is compiled once: CIDRs and exact addresses into a network
 * address plus prefix length (an exact address is a full-length prefix, so
 * "::1" and "0:0::0:1" compare equal), regexes with regcomp(). Resolution gives
 * what a scan of the entries in order would give ("first matching entry
 * wins"), through the indexes below rather than by scanning.
 *
 * Cost: resolution is called once per edge, up to VIZ_MAX_EDGES times per
 * refresh, and allocates nothing. The entries are indexed at topology_new()
 * so that a lookup does not scan them all:
 *  - address entries (CIDRs and exact addresses) go into one binary trie per
 *    family, whose nodes keep the index of the first entry ending there that
 *    sets a service, a region, or anything: an address walks at most 33 (IPv4)
 *    or 129 (IPv6) nodes whatever the number of entries (~0.1 us), where the
 *    linear scan compared every CIDR entry (~1 ns each for IPv4, ~7 ns for
 *    IPv6: ~1 us per unknown client address with the bench's 124 entries);
 *  - exact names go into a hash table with the same three indexes;
 *  - regexes are still tried in order, but only while their index is lower
 *    than what the trie and the table already found, so "first matching entry
 *    wins" holds exactly. Each carries a cheap filter worked out from its
 *    pattern (the bytes a match can start with, and for a pattern anchored at
 *    both ends the bytes it can contain), so that, say, a client address is
 *    not handed to /^([a-z]+)-.../ at all. A regexec() that matches and fills
 *    captures costs ~0.9 us (glibc's backward sift, ~20k instructions), a
 *    rejected one ~0.1 us; glibc's regexec() also takes a lock inside the
 *    regex_t and mallocs its match context, so threads resolving through the
 *    same regex serialise on it. For ^(GROUP)REST$ with a \1 template,
 *    \1 is usually found by two small automata instead (see "captures
 *    without regexec()" below: ~100 instructions per byte).
 * The index costs memory at load: at most one trie node per prefix bit (20
 * bytes each: 10000 IPv6 /128 entries would take 25 MB, a typical list a few
 * kB; ~14 kB per regex with a capture automaton). The refresher also
 * resolves through a topology_memo: the same few thousand hosts and services
 * recur across a refresh's edges and are looked up once (docs/PERFORMANCE.md).
 */
#include "bounds.h"
#include "topology_internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hashtab.h"
#include "jsonw.h"
#include "regex_match.h"
#include "util.h"

#define MAX_GROUPS 9 /* \1..\9 */

/* A memo holds at most TOPOLOGY_MEMO_VALUES values and TOPOLOGY_MEMO_BYTES
 * bytes of them (bounds.h), its text grown by this chunk: a refresh of 1M
 * edges sees a few hundred thousand distinct values, most of them client
 * addresses that never repeat. Past the bounds values are looked up as if
 * there were no memo. */
#define TOPOLOGY_MEMO_CHUNK (256u << 10)

typedef enum { MATCH_ADDRESS, MATCH_NAME, MATCH_REGEX } match_kind;

/* An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
 * stored as IPv4 so that a dual-stack socket's view of a client matches the
 * IPv4 CIDR the operator wrote. */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
} ip_addr;

typedef struct {
    match_kind kind;
    ip_addr network; /* ADDRESS: host bits cleared */
    int prefix;      /* ADDRESS: bits compared; 32 or 128 for an exact address */
    char *name;      /* NAME: the exact value */
    regex_t re;      /* REGEX */
    bool has_re;
    size_t nmatch; /* REGEX: regmatch_t slots the service template needs (0 = none) */
    char *service; /* NULL when the entry sets no service */
    char *region;  /* NULL when the entry sets no region */
    /* REGEX: what the pattern allows, so that regexec() is skipped for values
     * that cannot match, and \1 found without it (regex_match.h). */
    regex_match *rx;
} compiled_entry;

/* The first entry (by index, NO_ENTRY when none) that sets a service, sets a
 * region, or is any entry at all, among a set of entries that match. */
#define NO_ENTRY UINT32_MAX
typedef struct {
    uint32_t service, region, any;
} first_entries;

/* A binary trie of address prefixes: the node at depth d stands for one
 * d-bit prefix. Node 0 is the root (the /0), so 0 also means "no child". */
typedef struct {
    uint32_t child[2];
    first_entries first; /* entries whose prefix ends here */
} trie_node;

typedef struct {
    trie_node *nodes;
    size_t n, cap;
} address_trie;

typedef struct {
    const char *name; /* the entry's own string */
    first_entries first;
} name_entry;

struct topology {
    compiled_entry *entries;
    size_t n;
    address_trie ipv4, ipv6;
    name_entry *names; /* one per distinct name, in the order of the entries */
    size_t nnames;
    hashtab names_index; /* of names, tagged with the name's hash */
    uint32_t *regexes;   /* indexes of the REGEX entries, in order */
    size_t nregexes;
};

/* ---- addresses ---- */

static bool parse_ip(const char *s, ip_addr *out) {
    memset(out, 0, sizeof *out);
    if (strchr(s, ':')) {
        if (inet_pton(AF_INET6, s, out->bytes) != 1) return false;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out->bytes, mapped, sizeof mapped) == 0) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = AF_INET;
        } else {
            out->family = AF_INET6;
        }
        return true;
    }
    if (inet_pton(AF_INET, s, out->bytes) != 1) return false;
    out->family = AF_INET;
    return true;
}

/* Cheap test that a value could be an address before calling inet_pton():
 * most values on the hot path are host or service names. */
static bool may_be_ip(const char *s) {
    char c = s[0];
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':';
}

static void clear_host_bits(ip_addr *a, int prefix) {
    for (int bit = prefix; bit < 128; bit++) a->bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

/* Text that is plainly meant as an address (digits and dots, or hex digits
 * and colons) must parse as one: "10.1.2.300" is a typo, not a host name. */
static bool looks_like_ip(const char *s) {
    if (strchr(s, ':')) return strspn(s, "0123456789abcdefABCDEF:.") == strlen(s);
    return strchr(s, '.') && strspn(s, "0123456789.") == strlen(s);
}

/* ---- names ---- */

/* Appends n bytes of src to out (holding *len bytes) without passing
 * VIZ_NAME_MAX-1 bytes; a cut never splits a UTF-8 sequence. A byte that is
 * not UTF-8 (an overlong form, a surrogate, a stray continuation byte; yajl
 * and jsonr let overlong forms through) becomes U+FFFD here, as the writer
 * would show it: names that differ only there are then one node, where they
 * used to be several nodes of the same displayed name in one region.
 * Returns false once the name is full so that callers stop appending. */
/* How many bytes of s, from its start, are ASCII: 8 at a time, as every
 * endpoint value of every row goes through here and nearly all are ASCII. */
static size_t ascii_prefix(const char *s, size_t n) {
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL) break;
    }
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    return i;
}

static bool name_append(char out[VIZ_NAME_MAX], size_t *len, const char *src, size_t n) {
    size_t room = VIZ_NAME_MAX - 1 - *len;
    size_t i = 0;
    bool fits = true;
    while (i < n) {
        size_t run = i + ascii_prefix(src + i, n - i); /* plain ASCII in one go */
        size_t take = run - i;
        if (take > room) take = room, fits = false;
        memcpy(out + *len, src + i, take);
        *len += take;
        room -= take;
        i += take;
        if (!fits || i == n) break;
        size_t seq = jsonw_utf8_sequence_length((const unsigned char *)src + i, n - i);
        const char *piece = seq ? src + i : "\xef\xbf\xbd";
        size_t plen = seq ? seq : 3;
        if (plen > room) {
            fits = false;
            break;
        }
        memcpy(out + *len, piece, plen);
        *len += plen;
        room -= plen;
        i += seq ? seq : 1;
    }
    out[*len] = '\0';
    return fits;
}

/* Whether s is valid UTF-8 (ASCII passes at once). */
static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        i += ascii_prefix(s + i, n - i);
        if (i == n) break;
        size_t seq = jsonw_utf8_sequence_length((const unsigned char *)s + i, n - i);
        if (!seq) return false;
        i += seq;
    }
    return true;
}

static void name_copy(char out[VIZ_NAME_MAX], const char *src) {
    size_t len = 0;
    out[0] = '\0';
    name_append(out, &len, src, strlen(src));
}

/* value, or what the graph shows of it copied into out: its first
 * VIZ_NAME_MAX - 1 bytes, U+FFFD for bytes that are not UTF-8 (NULL stays
 * NULL). */
static const char *cut_name(char out[VIZ_NAME_MAX], const char *value) {
    if (!value) return value;
    size_t n = strnlen(value, VIZ_NAME_MAX);
    if (n < VIZ_NAME_MAX && valid_utf8(value, n)) return value;
    name_copy(out, value);
    return out;
}

/* Highest \N a service template refers to (0 when none). */
static int highest_group(const char *tmpl) {
    int high = 0;
    for (const char *p = tmpl; *p; p++)
        if (p[0] == '\\' && p[1] >= '1' && p[1] <= '9') {
            int g = p[1] - '0';
            if (g > high) high = g;
            p++;
        }
    return high;
}

static void expand_template(char out[VIZ_NAME_MAX], const char *tmpl, const char *value, const regmatch_t *m,
                            size_t nmatch) {
    size_t len = 0;
    out[0] = '\0';
    const char *literal = tmpl;
    for (const char *p = tmpl;; p++) {
        bool group = p[0] == '\\' && p[1] >= '1' && p[1] <= '9';
        if (!group && *p) continue;
        if (!name_append(out, &len, literal, (size_t)(p - literal))) return;
        if (!*p) return;
        size_t g = (size_t)(p[1] - '0');
        if (g < nmatch && m[g].rm_so >= 0 &&
            !name_append(out, &len, value + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so)))
            return;
        p++;
        literal = p + 1;
    }
}

/* ---- compiling ---- */

static const char *or_empty(const char *s) {
    return s ? s : "";
}

static int compile_address(compiled_entry *c, const char *match, const char *where, char *err) {
    char text[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(match, '/');
    size_t addr_len = slash ? (size_t)(slash - match) : strlen(match);
    if (addr_len < sizeof text) {
        memcpy(text, match, addr_len);
        text[addr_len] = '\0';
    }
    if (addr_len >= sizeof text || !parse_ip(text, &c->network))
        return util_fail(err,
                         "%s: \"%s\" is not an address; expected an IPv4 or IPv6 address or CIDR such as 10.1.0.0/16",
                         where, match);
    /* The prefix counts bits of the address as written: an IPv4-mapped IPv6
     * network is stored as IPv4, so its prefix loses the 96 mapping bits. */
    int written_bits = strchr(text, ':') ? 128 : 32;
    bool mapped = written_bits == 128 && c->network.family == AF_INET;
    int prefix = written_bits;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p) || atoi(p) > written_bits)
            return util_fail(err, "%s: bad prefix length in \"%s\"; expected a number from 0 to %d", where, match,
                             written_bits);
        prefix = atoi(p);
    }
    if (mapped && prefix < 96)
        return util_fail(err, "%s: bad prefix length in \"%s\"; expected 96 to 128 for an IPv4-mapped address", where,
                         match);
    c->prefix = mapped ? prefix - 96 : prefix;
    clear_host_bits(&c->network, c->prefix);
    c->kind = MATCH_ADDRESS;
    return 0;
}

static int compile_regex(compiled_entry *c, const char *match, int groups_needed, const char *where, char *err) {
    size_t len = strlen(match);
    char *pattern = xstrndup(match + 1, len - 2);
    int rc = -1;
    if (!*pattern) {
        util_fail(err, "%s: empty regex \"%s\"; expected /PATTERN/", where, match);
        goto done;
    }
    int ref = regex_match_back_reference(pattern);
    if (ref) {
        util_fail(err,
                  "%s: regex %s uses the back-reference \\%d, which is matched by backtracking and can take minutes on "
                  "one name; expected a regex without \\1..\\9 (the service may use them)",
                  where, match, ref);
        goto done;
    }
    if (regex_match_repeated_anchor(pattern)) {
        util_fail(err,
                  "%s: regex %s has an anchor (^, $, \\<, \\>, \\b, \\B, \\`, \\') inside a repeated group, on which "
                  "glibc's matcher can loop forever; expected the anchor outside the repeated group",
                  where, match);
        goto done;
    }
    double size = regex_match_expanded_size(pattern);
    if (size > VIZ_MAX_REGEX_SIZE) {
        util_fail(err,
                  "%s: regex %s is too large: with its repetitions written out it has %.0f pieces; expected at most %d "
                  "(a smaller {n} or a * instead)",
                  where, match, size, VIZ_MAX_REGEX_SIZE);
        goto done;
    }
    double loops = regex_match_empty_loops(pattern);
    if (loops > VIZ_MAX_REGEX_EMPTY_LOOPS) {
        util_fail(err,
                  "%s: regex %s repeats what may match nothing %.0f times (such as (x*)* or (x?)+, with + and {n} "
                  "written out), which takes regcomp() exponential time; expected at most %d",
                  where, match, loops, VIZ_MAX_REGEX_EMPTY_LOOPS);
        goto done;
    }
    /* Without captures to fill in, REG_NOSUB lets glibc take its faster path. */
    int code = regcomp(&c->re, pattern, REG_EXTENDED | (groups_needed ? 0 : REG_NOSUB));
    if (code != 0) {
        char reason[200];
        regerror(code, &c->re, reason, sizeof reason);
        util_fail(err, "%s: bad regex %s: %s; expected a POSIX extended regular expression", where, match, reason);
        goto done;
    }
    c->has_re = true;
    if ((size_t)groups_needed > c->re.re_nsub) {
        if (c->re.re_nsub == 0)
            util_fail(err, "%s: service refers to \\%d but %s has no capture group; expected a (group) in the regex",
                      where, groups_needed, match);
        else
            util_fail(err, "%s: service refers to \\%d but %s has %zu capture group%s; expected \\1 to \\%zu", where,
                      groups_needed, match, c->re.re_nsub, c->re.re_nsub == 1 ? "" : "s", c->re.re_nsub);
        goto done;
    }
    c->kind = MATCH_REGEX;
    c->nmatch = groups_needed ? (size_t)groups_needed + 1 : 0;
    c->rx = regex_match_new(pattern, c->nmatch == 2);
    rc = 0;
done:
    free(pattern);
    return rc;
}

static int compile_entry(compiled_entry *c, const topology_entry *e, const char *file, char *err) {
    char where[300];
    if (e->column > 0)
        snprintf(where, sizeof where, "%s:%d:%d", util_str_empty(file) ? "topology" : file, e->line, e->column);
    else
        snprintf(where, sizeof where, "%s:%d", util_str_empty(file) ? "topology" : file, e->line);
    const char *match = or_empty(e->match);
    const char *service = or_empty(e->service);
    size_t len = strlen(match);
    int groups = highest_group(service);
    bool is_regex = len >= 2 && match[0] == '/' && match[len - 1] == '/';

    if (len == 0)
        return util_fail(err, "%s: empty topology match; expected a CIDR, an IP address, a name or a /regex/", where);
    if (groups > 0 && !is_regex)
        return util_fail(
            err, "%s: service \"%s\" uses \\%d but \"%s\" is not a regex; expected match: /PATTERN/ with groups", where,
            service, groups, match);
    if (is_regex) {
        if (compile_regex(c, match, groups, where, err) < 0) return -1;
    } else if (strchr(match, '/') || looks_like_ip(match)) {
        if (compile_address(c, match, where, err) < 0) return -1;
    } else {
        c->kind = MATCH_NAME;
        c->name = xstrdup(match);
    }
    c->service = *service ? xstrdup(service) : NULL;
    c->region = util_str_empty(e->region) ? NULL : xstrdup(e->region);
    return 0;
}

static void free_entry(compiled_entry *c) {
    regex_match_free(c->rx);
    if (c->has_re) regfree(&c->re);
    free(c->name);
    free(c->service);
    free(c->region);
}

/* ---- indexes ---- */

static void first_clear(first_entries *f) {
    f->service = f->region = f->any = NO_ENTRY;
}

/* Entries are added in index order, so the first one added stays. */
static void first_add(first_entries *f, const compiled_entry *c, uint32_t i) {
    if (f->any == NO_ENTRY) f->any = i;
    if (c->service && f->service == NO_ENTRY) f->service = i;
    if (c->region && f->region == NO_ENTRY) f->region = i;
}

static void first_merge(first_entries *into, const first_entries *f) {
    if (f->service < into->service) into->service = f->service;
    if (f->region < into->region) into->region = f->region;
    if (f->any < into->any) into->any = f->any;
}

static uint32_t trie_node_new(address_trie *t) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->nodes = xrealloc(t->nodes, t->cap * sizeof *t->nodes);
    }
    trie_node *node = &t->nodes[t->n];
    node->child[0] = node->child[1] = 0;
    first_clear(&node->first);
    return (uint32_t)t->n++;
}

static int bit_at(const uint8_t *bytes, int bit) {
    return bytes[bit / 8] >> (7 - bit % 8) & 1;
}

static void trie_insert(address_trie *t, const compiled_entry *c, uint32_t i) {
    if (t->n == 0) trie_node_new(t);
    uint32_t node = 0;
    for (int bit = 0; bit < c->prefix; bit++) {
        int b = bit_at(c->network.bytes, bit);
        if (!t->nodes[node].child[b]) {
            uint32_t added = trie_node_new(t); /* may move t->nodes */
            t->nodes[node].child[b] = added;
        }
        node = t->nodes[node].child[b];
    }
    first_add(&t->nodes[node].first, c, i);
}

/* Merges into f what the entries whose prefix contains the address say. */
static void trie_lookup(const address_trie *t, const uint8_t *bytes, int bits, first_entries *f) {
    if (t->n == 0) return;
    uint32_t node = 0;
    for (int bit = 0;; bit++) {
        first_merge(f, &t->nodes[node].first);
        if (bit == bits) return;
        node = t->nodes[node].child[bit_at(bytes, bit)];
        if (!node) return;
    }
}

static name_entry *name_find(const topology *t, const char *name, uint64_t h) {
    uint32_t tag = (uint32_t)h;
    for (hashtab_slot *s = hashtab_first(&t->names_index, tag); s->id; s = hashtab_next(&t->names_index, s))
        if (s->tag == tag && strcmp(t->names[s->id - 1].name, name) == 0) return &t->names[s->id - 1];
    return NULL;
}

static void build_indexes(topology *t) {
    size_t nnames = 0;
    for (size_t i = 0; i < t->n; i++) {
        nnames += t->entries[i].kind == MATCH_NAME;
        t->nregexes += t->entries[i].kind == MATCH_REGEX;
    }
    if (nnames) {
        t->names = xcalloc(nnames, sizeof *t->names);
        hashtab_reserve(&t->names_index, nnames);
    }
    t->regexes = xcalloc(t->nregexes ? t->nregexes : 1, sizeof *t->regexes);
    size_t k = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        const compiled_entry *c = &t->entries[i];
        switch (c->kind) {
        case MATCH_ADDRESS:
            trie_insert(c->network.family == AF_INET ? &t->ipv4 : &t->ipv6, c, i);
            break;
        case MATCH_NAME: {
            uint64_t h = hashtab_hash_bytes(c->name, strlen(c->name), HASHTAB_SEED);
            name_entry *e = name_find(t, c->name, h);
            if (!e) {
                e = &t->names[t->nnames];
                e->name = c->name;
                first_clear(&e->first);
                hashtab_put(&t->names_index, (uint32_t)h, t->nnames++);
            }
            first_add(&e->first, c, i);
            break;
        }
        case MATCH_REGEX:
            t->regexes[k++] = i;
            break;
        }
    }
}

topology *topology_new(const topology_entry *entries, size_t n, const char *file, char *err) {
    assert(entries || n == 0);
    if (n > VIZ_MAX_TOPOLOGY) {
        util_fail(err, "%s: %zu topology entries; expected at most %d", util_str_empty(file) ? "topology" : file, n,
                  VIZ_MAX_TOPOLOGY);
        return NULL;
    }
    topology *t = xcalloc(1, sizeof *t);
    t->entries = xcalloc(n ? n : 1, sizeof *t->entries);
    for (size_t i = 0; i < n; i++) {
        /* Counting the failed entry too lets topology_free() release what it
         * compiled before the failure. */
        t->n = i + 1;
        if (compile_entry(&t->entries[i], &entries[i], file, err) < 0) {
            topology_free(t);
            return NULL;
        }
    }
    build_indexes(t);
    return t;
}

void topology_free(topology *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free_entry(&t->entries[i]);
    free(t->entries);
    free(t->ipv4.nodes);
    free(t->ipv6.nodes);
    free(t->names);
    hashtab_free(&t->names_index);
    free(t->regexes);
    free(t);
}

/* ---- resolving ---- */

typedef struct {
    bool is_ip;         /* the value is an IP address */
    bool matched;       /* some entry matched the value */
    bool has_service;   /* service[] was filled by an entry */
    bool costly;        /* a regex ran on the value (see lookup_memo) */
    bool skipped;       /* a regex was not tried: the refresh's regex time ran out */
    const char *region; /* from the first matching entry that sets one, or NULL */
    char service[VIZ_NAME_MAX];
} lookup_result;

/* The entries are indexed (see the top of this file): the trie and the name
 * table give the first address and name entries that match, then a regex is
 * tried only while its index is lower than an entry already found for what
 * it would set, or while nothing matched at all. The outcome is what a scan
 * of the entries in order gives: the service of the first matching entry
 * that sets one, the region of the first that sets one (when need_region;
 * otherwise r->region is left to the caller to ignore), and whether any
 * entry matched. */
static bool regex_time_left(const topology_memo *m);
static void regex_time_add(topology_memo *m, int64_t started_ns);
static int64_t now_ns(void);

static void lookup(const topology *t, const char *value, bool need_region, lookup_result *r, topology_memo *memo) {
    ip_addr addr;
    regmatch_t m[MAX_GROUPS + 1];
    size_t group_end = 0;
    first_entries first;

    first_clear(&first);
    r->is_ip = may_be_ip(value) && parse_ip(value, &addr);
    r->matched = false;
    r->has_service = false;
    r->costly = false;
    r->skipped = false;
    r->region = NULL;
    r->service[0] = '\0';
    if (!t) return;
    if (r->is_ip) {
        bool v4 = addr.family == AF_INET;
        trie_lookup(v4 ? &t->ipv4 : &t->ipv6, addr.bytes, v4 ? 32 : 128, &first);
    }
    if (t->nnames) {
        const name_entry *e = name_find(t, value, hashtab_hash_bytes(value, strlen(value), HASHTAB_SEED));
        if (e) first_merge(&first, &e->first);
    }
    for (size_t k = 0; k < t->nregexes; k++) {
        uint32_t i = t->regexes[k];
        const compiled_entry *c = &t->entries[i];
        bool want_service = c->service && i < first.service;
        bool want_region = c->region && need_region && i < first.region;
        bool want_match = first.any == NO_ENTRY;
        if (!want_service && !want_region && !want_match) {
            /* Regexes come in index order: past both, none can add anything. */
            if (i > first.service && (i > first.region || !need_region)) break;
            continue;
        }
        if (!regex_match_may_match(c->rx, value)) continue;
        r->costly = true;
        int quick = want_service ? regex_match_first_group(c->rx, value, &group_end) : -1;
        if (quick == 0) continue;
        if (quick == 1) {
            m[0] = (regmatch_t){.rm_so = 0, .rm_eo = (regoff_t)strlen(value)};
            m[1] = (regmatch_t){.rm_so = 0, .rm_eo = (regoff_t)group_end};
        } else {
            if (!regex_time_left(memo)) {
                r->skipped = true;
                continue;
            }
            int64_t started = memo ? now_ns() : 0;
            int rc = regexec(&c->re, value, want_service ? c->nmatch : 0, want_service ? m : NULL, 0);
            regex_time_add(memo, started);
            if (rc != 0) continue;
        }
        if (i < first.any) first.any = i;
        if (want_service) {
            expand_template(r->service, c->service, value, m, c->nmatch);
            r->has_service = true;
            first.service = i;
        }
        if (c->region && i < first.region) first.region = i;
    }
    /* An address or name entry's service has no \N: it is copied as is. */
    if (first.service != NO_ENTRY && !r->has_service) {
        expand_template(r->service, t->entries[first.service].service, value, NULL, 0);
        r->has_service = true;
    }
    r->region = first.region != NO_ENTRY ? t->entries[first.region].region : NULL;
    r->matched = first.any != NO_ENTRY;
}

/* ---- memo ---- */

/* A memo remembers lookup() per raw value. It is filled with need_region set,
 * which only lets the scan go on to find a region: the service, "matched"
 * and "is an address" come out the same either way, and callers that did
 * not need the region ignore it.
 *
 * At 100k edges a refresh meets a few hundred thousand distinct values, so
 * the table's size is what costs: every page it touches is a page fault and
 * its random probes are cache misses. The open-addressing slots therefore
 * hold 8 bytes (a hash tag and an index), and the entries sit in a dense
 * array filled in order, which only grows as far as it is used. */
typedef struct {
    const char *value;
    const char *service; /* NULL when no entry set one */
    const char *region;  /* the topology's own string, or NULL */
    bool is_ip, matched;
} memo_entry;

typedef struct memo_chunk {
    struct memo_chunk *next;
    size_t used;
    char bytes[];
} memo_chunk;

struct topology_memo {
    const topology *t;
    hashtab index; /* of entries, tagged with the value's hash */
    memo_entry *entries;
    size_t n, entries_cap;
    memo_chunk *chunks; /* the values and services, newest first */
    size_t string_bytes;
    /* The regex time of this refresh (see topology_memo_skipped()). */
    int64_t regex_ns, budget_ns;
    uint64_t skipped;
};

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Without a memo (tests, `topology_resolve`) there is no budget. */
static bool regex_time_left(const topology_memo *m) {
    return !m || m->regex_ns < m->budget_ns;
}

static void regex_time_add(topology_memo *m, int64_t started_ns) {
    if (m) m->regex_ns += now_ns() - started_ns;
}

topology_memo *topology_memo_new(const topology *t) {
    topology_memo *m = xcalloc(1, sizeof *m);
    m->t = t;
    m->budget_ns = (int64_t)TOPOLOGY_REGEX_BUDGET_MS * 1000000;
    return m;
}

void topology_memo_reset(topology_memo *m) {
    if (!m) return;
    while (m->chunks) {
        memo_chunk *next = m->chunks->next;
        free(m->chunks);
        m->chunks = next;
    }
    hashtab_free(&m->index);
    free(m->entries);
    m->entries = NULL;
    m->n = m->entries_cap = m->string_bytes = 0;
    m->regex_ns = 0;
    m->skipped = 0;
}

uint64_t topology_memo_skipped(const topology_memo *m) {
    return m ? m->skipped : 0;
}

void topology_memo_set_budget_ms(topology_memo *m, int64_t ms) {
    m->budget_ns = ms * 1000000;
}

void topology_memo_free(topology_memo *m) {
    topology_memo_reset(m);
    free(m);
}

static const char *memo_copy(topology_memo *m, const char *s, size_t len) {
    memo_chunk *c = m->chunks;
    if (!c || TOPOLOGY_MEMO_CHUNK - c->used < len + 1) {
        size_t size = len + 1 > TOPOLOGY_MEMO_CHUNK ? len + 1 : TOPOLOGY_MEMO_CHUNK;
        c = xmalloc(sizeof *c + size);
        c->used = 0;
        c->next = m->chunks;
        m->chunks = c;
    }
    char *out = c->bytes + c->used;
    memcpy(out, s, len);
    out[len] = '\0';
    c->used += len + 1;
    m->string_bytes += len + 1;
    return out;
}

/* The entry of value (hash h), or NULL. */
static memo_entry *memo_find(const topology_memo *m, const char *value, uint64_t h) {
    uint32_t tag = (uint32_t)h;
    for (hashtab_slot *s = hashtab_first(&m->index, tag); s->id; s = hashtab_next(&m->index, s))
        if (s->tag == tag && strcmp(m->entries[s->id - 1].value, value) == 0) return &m->entries[s->id - 1];
    return NULL;
}

static void lookup_memo(const topology *t, topology_memo *m, const char *value, bool need_region, lookup_result *r) {
    if (!m) {
        lookup(t, value, need_region, r, NULL);
        return;
    }
    assert(m->t == t);
    size_t len = strlen(value);
    uint64_t h = hashtab_hash_bytes(value, len, HASHTAB_SEED);
    const memo_entry *e = memo_find(m, value, h);
    if (e) {
        r->is_ip = e->is_ip;
        r->matched = e->matched;
        r->has_service = e->service != NULL;
        r->region = e->region;
        r->service[0] = '\0';
        if (e->service) memcpy(r->service, e->service, strlen(e->service) + 1);
        return;
    }
    lookup(t, value, true, r, m);
    /* An answer some regex was not asked for is not remembered, and says so. */
    if (r->skipped) {
        m->skipped++;
        return;
    }
    /* Only what took a regex is remembered: an address found in the trie, a
     * name found in the exact-name table or turned away by every regex's
     * prefilter costs less to look up again than to keep (./dev bench: a
     * memo of every value made a 100k-edge refresh 15 % slower). Full: the
     * rest of this refresh's values are looked up every time. */
    if (!r->costly || m->n >= TOPOLOGY_MEMO_VALUES || m->string_bytes >= TOPOLOGY_MEMO_BYTES) return;
    if (m->n == m->entries_cap) {
        m->entries_cap = m->entries_cap ? m->entries_cap * 2 : 512;
        m->entries = xrealloc(m->entries, m->entries_cap * sizeof *m->entries);
    }
    memo_entry *added = &m->entries[m->n];
    added->value = memo_copy(m, value, len);
    added->service = r->has_service ? memo_copy(m, r->service, strlen(r->service)) : NULL;
    added->region = r->region;
    added->is_ip = r->is_ip;
    added->matched = r->matched;
    hashtab_put(&m->index, (uint32_t)h, m->n++);
}

/* A template whose groups all failed to match leaves nothing; a node needs a
 * name, so the value keeps its own. */
static bool named_by_entry(const lookup_result *r) {
    return r->has_service && r->service[0];
}

static void resolve_region(char out[VIZ_NAME_MAX], const char *raw, const char *from_topology, const graph_config *g) {
    if (!util_str_empty(raw))
        name_copy(out, raw);
    else if (from_topology)
        name_copy(out, from_topology);
    else
        name_copy(out, g && g->default_region ? g->default_region : "default");
}

resolve_result topology_resolve(const topology *t, const graph_config *g, const char *const value[EP_COUNT],
                                endpoint *from, endpoint *to) {
    return topology_resolve_memo(t, NULL, g, value, from, to);
}

resolve_result topology_resolve_memo(const topology *t, topology_memo *memo, const graph_config *g,
                                     const char *const value[EP_COUNT], endpoint *from, endpoint *to) {
    assert(g && value && from && to); /* t may be NULL: no topology */
    lookup_result r;
    memset(from, 0, sizeof *from);
    memset(to, 0, sizeof *to);

    /* Names are cut before they are matched, as they are in the graph: a
     * regex never sees more than VIZ_NAME_MAX - 1 bytes. */
    char callee_cut[VIZ_NAME_MAX], caller_cut[VIZ_NAME_MAX];
    const char *callee = cut_name(callee_cut, value[EP_TO_SERVICE]);
    if (util_str_empty(callee)) return RESOLVE_NO_CALLEE;
    lookup_memo(t, memo, callee, util_str_empty(value[EP_TO_REGION]), &r);
    name_copy(to->service, named_by_entry(&r) ? r.service : callee);
    resolve_region(to->region, value[EP_TO_REGION], r.region, g);
    name_copy(to->host, or_empty(value[EP_TO_HOST]));

    const char *caller = cut_name(caller_cut, value[EP_FROM_SERVICE]);
    name_copy(from->host, or_empty(value[EP_FROM_HOST]));
    bool entry = util_str_empty(caller);
    if (!entry) {
        lookup_memo(t, memo, caller, util_str_empty(value[EP_FROM_REGION]), &r);
        entry = r.is_ip && !r.matched;
    }
    if (entry) {
        from->is_entry = true;
        name_copy(from->service, g && g->entry ? g->entry : "INTERNET");
        memcpy(from->region, to->region, sizeof from->region);
        return RESOLVE_OK;
    }
    name_copy(from->service, named_by_entry(&r) ? r.service : caller);
    resolve_region(from->region, value[EP_FROM_REGION], r.region, g);

    if (strcmp(from->service, to->service) == 0 && strcmp(from->region, to->region) == 0) return RESOLVE_SELF_CALL;
    return RESOLVE_OK;
}
