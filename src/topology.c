/*
 * topology.c - compiled topology entries and endpoint resolution.
 *
 * Every entry is compiled once: CIDRs and exact addresses into a network
 * address plus prefix length (an exact address is a full-length prefix, so
 * "::1" and "0:0::0:1" compare equal), regexes with regcomp(). Resolution then
 * scans the entries in order, which is what "first matching entry wins"
 * means literally.
 *
 * Cost: resolution is called once per edge, up to VIZ_MAX_EDGES times per
 * refresh. Our code allocates nothing and stops scanning as soon as the
 * service and (when still needed) the region are known, but the scan is
 * linear in the number of entries. Measured on the 2-core machine: an IPv4
 * CIDR compare is one masked word (~1 ns), an IPv6 one a memcmp() (~7 ns);
 * a regexec() that matches and fills captures ~0.9 us (glibc's backward
 * sift, ~20k instructions), a non-matching one ~0.1 us. glibc's regexec()
 * also takes a lock inside the regex_t and mallocs its match context, so
 * threads resolving through the same regex serialise on it. So the SPEC's
 * three-entry example costs ~1.7 us per edge and 1000 CIDR entries ~9 us.
 * The refresher therefore resolves through a topology_memo: the same few
 * thousand hosts and services recur across a refresh's edges and are looked
 * up once (docs/PERFORMANCE.md: -35 % of a 100k-edge refresh). Values that
 * occur once (client addresses) still pay the scan; a prefix trie for
 * addresses and a hash for exact names would be the next step.
 */
#include "topology.h"

#include <arpa/inet.h>
#include <assert.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_GROUPS 9 /* \1..\9 */

/* A memo holds at most this many values and bytes of them: a refresh of 1M
 * edges sees a few hundred thousand distinct values, most of them client
 * addresses that never repeat. Past the bounds values are looked up as if
 * there were no memo. */
#define TOPOLOGY_MEMO_VALUES (1u << 19)
#define TOPOLOGY_MEMO_BYTES  (32u << 20)
#define TOPOLOGY_MEMO_CHUNK  (256u << 10)

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
    uint32_t net4;   /* ADDRESS, IPv4: the network and its mask as one word, */
    uint32_t mask4;  /* so a compare is one AND instead of a memcmp() call */
    char *name;      /* NAME: the exact value */
    regex_t re;      /* REGEX */
    bool has_re;
    size_t nmatch; /* REGEX: regmatch_t slots the service template needs (0 = none) */
    char *service; /* NULL when the entry sets no service */
    char *region;  /* NULL when the entry sets no region */
} compiled_entry;

struct topology {
    compiled_entry *entries;
    size_t n;
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

static uint32_t ipv4_word(const ip_addr *a) {
    return (uint32_t)a->bytes[0] << 24 | (uint32_t)a->bytes[1] << 16 | (uint32_t)a->bytes[2] << 8 | a->bytes[3];
}

static bool prefix_matches(const ip_addr *network, int prefix, const ip_addr *a) {
    if (network->family != a->family) return false;
    int whole = prefix / 8, rest = prefix % 8;
    if (memcmp(network->bytes, a->bytes, (size_t)whole) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (network->bytes[whole] & mask) == (a->bytes[whole] & mask);
}

/* Text that is plainly meant as an address (digits and dots, or hex digits
 * and colons) must parse as one: "10.1.2.300" is a typo, not a host name. */
static bool looks_like_ip(const char *s) {
    if (strchr(s, ':')) return strspn(s, "0123456789abcdefABCDEF:.") == strlen(s);
    return strchr(s, '.') && strspn(s, "0123456789.") == strlen(s);
}

/* ---- names ---- */

/* Appends n bytes of src to out (holding *len bytes) without passing
 * VIZ_NAME_MAX-1 bytes; a cut never splits a UTF-8 sequence. Returns false
 * once the name is full so that callers stop appending. */
static bool name_append(char out[VIZ_NAME_MAX], size_t *len, const char *src, size_t n) {
    size_t room = VIZ_NAME_MAX - 1 - *len;
    bool fits = n <= room;
    if (!fits) {
        n = room;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
    }
    memcpy(out + *len, src, n);
    *len += n;
    out[*len] = '\0';
    return fits;
}

static void name_copy(char out[VIZ_NAME_MAX], const char *src) {
    size_t len = 0;
    out[0] = '\0';
    name_append(out, &len, src, strlen(src));
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
        return fail(err, "%s: \"%s\" is not an address; expected an IPv4 or IPv6 address or CIDR such as 10.1.0.0/16",
                    where, match);
    /* The prefix counts bits of the address as written: an IPv4-mapped IPv6
     * network is stored as IPv4, so its prefix loses the 96 mapping bits. */
    int written_bits = strchr(text, ':') ? 128 : 32;
    bool mapped = written_bits == 128 && c->network.family == AF_INET;
    int prefix = written_bits;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p) || atoi(p) > written_bits)
            return fail(err, "%s: bad prefix length in \"%s\"; expected a number from 0 to %d", where, match,
                        written_bits);
        prefix = atoi(p);
    }
    if (mapped && prefix < 96)
        return fail(err, "%s: bad prefix length in \"%s\"; expected 96 to 128 for an IPv4-mapped address", where,
                    match);
    c->prefix = mapped ? prefix - 96 : prefix;
    clear_host_bits(&c->network, c->prefix);
    if (c->network.family == AF_INET) {
        c->mask4 = c->prefix == 0 ? 0 : ~(uint32_t)0 << (32 - c->prefix);
        c->net4 = ipv4_word(&c->network);
    }
    c->kind = MATCH_ADDRESS;
    return 0;
}

static int compile_regex(compiled_entry *c, const char *match, int groups_needed, const char *where, char *err) {
    size_t len = strlen(match);
    char *pattern = xstrndup(match + 1, len - 2);
    int rc = -1;
    if (!*pattern) {
        fail(err, "%s: empty regex \"%s\"; expected /PATTERN/", where, match);
        goto done;
    }
    /* Without captures to fill in, REG_NOSUB lets glibc take its faster path. */
    int code = regcomp(&c->re, pattern, REG_EXTENDED | (groups_needed ? 0 : REG_NOSUB));
    if (code != 0) {
        char reason[200];
        regerror(code, &c->re, reason, sizeof reason);
        fail(err, "%s: bad regex %s: %s; expected a POSIX extended regular expression", where, match, reason);
        goto done;
    }
    c->has_re = true;
    if ((size_t)groups_needed > c->re.re_nsub) {
        if (c->re.re_nsub == 0)
            fail(err, "%s: service refers to \\%d but %s has no capture group; expected a (group) in the regex", where,
                 groups_needed, match);
        else
            fail(err, "%s: service refers to \\%d but %s has %zu capture group%s; expected \\1 to \\%zu", where,
                 groups_needed, match, c->re.re_nsub, c->re.re_nsub == 1 ? "" : "s", c->re.re_nsub);
        goto done;
    }
    c->kind = MATCH_REGEX;
    c->nmatch = groups_needed ? (size_t)groups_needed + 1 : 0;
    rc = 0;
done:
    free(pattern);
    return rc;
}

static int compile_entry(compiled_entry *c, const topology_entry *e, const char *file, char *err) {
    char where[300];
    if (e->column > 0)
        snprintf(where, sizeof where, "%s:%d:%d", str_empty(file) ? "topology" : file, e->line, e->column);
    else
        snprintf(where, sizeof where, "%s:%d", str_empty(file) ? "topology" : file, e->line);
    const char *match = or_empty(e->match);
    const char *service = or_empty(e->service);
    size_t len = strlen(match);
    int groups = highest_group(service);
    bool is_regex = len >= 2 && match[0] == '/' && match[len - 1] == '/';

    if (len == 0)
        return fail(err, "%s: empty topology match; expected a CIDR, an IP address, a name or a /regex/", where);
    if (groups > 0 && !is_regex)
        return fail(err,
                    "%s: service \"%s\" uses \\%d but \"%s\" is not a regex; expected match: /PATTERN/ with groups",
                    where, service, groups, match);
    if (is_regex) {
        if (compile_regex(c, match, groups, where, err) < 0) return -1;
    } else if (strchr(match, '/') || looks_like_ip(match)) {
        if (compile_address(c, match, where, err) < 0) return -1;
    } else {
        c->kind = MATCH_NAME;
        c->name = xstrdup(match);
    }
    c->service = *service ? xstrdup(service) : NULL;
    c->region = str_empty(e->region) ? NULL : xstrdup(e->region);
    return 0;
}

static void free_entry(compiled_entry *c) {
    if (c->has_re) regfree(&c->re);
    free(c->name);
    free(c->service);
    free(c->region);
}

topology *topology_new(const topology_entry *entries, size_t n, const char *file, char *err) {
    if (n > VIZ_MAX_TOPOLOGY) {
        fail(err, "%s: %zu topology entries; expected at most %d", str_empty(file) ? "topology" : file, n,
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
    return t;
}

void topology_free(topology *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free_entry(&t->entries[i]);
    free(t->entries);
    free(t);
}

/* ---- resolving ---- */

typedef struct {
    bool is_ip;         /* the value is an IP address */
    bool matched;       /* some entry matched the value */
    bool has_service;   /* service[] was filled by an entry */
    const char *region; /* from the first matching entry that sets one, or NULL */
    char service[VIZ_NAME_MAX];
} lookup_result;

static void lookup(const topology *t, const char *value, bool need_region, lookup_result *r) {
    ip_addr addr;
    regmatch_t m[MAX_GROUPS + 1];

    r->is_ip = may_be_ip(value) && parse_ip(value, &addr);
    bool is_ipv4 = r->is_ip && addr.family == AF_INET;
    uint32_t word = is_ipv4 ? ipv4_word(&addr) : 0;

    r->matched = false;
    r->has_service = false;
    r->region = NULL;
    r->service[0] = '\0';
    for (size_t i = 0; t && i < t->n; i++) {
        if (r->has_service && (r->region || !need_region)) break;
        const compiled_entry *c = &t->entries[i];
        bool want_service = c->service && !r->has_service;
        bool want_region = c->region && !r->region && need_region;
        /* Once something matched, an entry that could add nothing is skipped. */
        if (r->matched && !want_service && !want_region) continue;
        bool hit = false;
        switch (c->kind) {
        case MATCH_ADDRESS:
            if (c->network.family == AF_INET)
                hit = is_ipv4 && (word & c->mask4) == c->net4;
            else
                hit = r->is_ip && prefix_matches(&c->network, c->prefix, &addr);
            break;
        case MATCH_NAME:
            hit = strcmp(c->name, value) == 0;
            break;
        case MATCH_REGEX:
            hit = regexec(&c->re, value, want_service ? c->nmatch : 0, want_service ? m : NULL, 0) == 0;
            break;
        }
        if (!hit) continue;
        r->matched = true;
        if (want_service) {
            expand_template(r->service, c->service, value, m, c->kind == MATCH_REGEX ? c->nmatch : 0);
            r->has_service = true;
        }
        if (c->region && !r->region) r->region = c->region;
    }
}

/* ---- memo ---- */

/* A memo remembers lookup() per raw value. It is filled with need_region set,
 * which only lets the scan go on to find a region: the service, "matched"
 * and "is an address" come out the same either way, and callers that did
 * not need the region ignore it. */
typedef struct {
    uint64_t hash;
    const char *value;   /* NULL: the slot is free */
    const char *service; /* NULL when no entry set one */
    const char *region;  /* the topology's own string, or NULL */
    bool is_ip, matched;
} memo_slot;

typedef struct memo_chunk {
    struct memo_chunk *next;
    size_t used;
    char bytes[];
} memo_chunk;

struct topology_memo {
    const topology *t;
    memo_slot *slots;
    size_t cap; /* a power of two, or 0 before the first value */
    size_t n;
    memo_chunk *chunks; /* the values and services, newest first */
    size_t string_bytes;
};

topology_memo *topology_memo_new(const topology *t) {
    topology_memo *m = xcalloc(1, sizeof *m);
    m->t = t;
    return m;
}

void topology_memo_reset(topology_memo *m) {
    if (!m) return;
    while (m->chunks) {
        memo_chunk *next = m->chunks->next;
        free(m->chunks);
        m->chunks = next;
    }
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = m->string_bytes = 0;
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

/* Doubles the table; the values stay where they are in the chunks. */
static void memo_grow(topology_memo *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    memo_slot *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].value) continue;
        size_t j = (size_t)m->slots[i].hash & (cap - 1);
        while (slots[j].value) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

static void lookup_memo(const topology *t, topology_memo *m, const char *value, bool need_region, lookup_result *r) {
    if (!m) {
        lookup(t, value, need_region, r);
        return;
    }
    assert(m->t == t);
    size_t len = strlen(value);
    uint64_t h = hash_bytes(value, len, HASH_SEED);
    size_t j = 0;
    if (m->cap) {
        for (j = (size_t)h & (m->cap - 1); m->slots[j].value; j = (j + 1) & (m->cap - 1)) {
            const memo_slot *s = &m->slots[j];
            if (s->hash != h || strcmp(s->value, value) != 0) continue;
            r->is_ip = s->is_ip;
            r->matched = s->matched;
            r->has_service = s->service != NULL;
            r->region = s->region;
            r->service[0] = '\0';
            if (s->service) memcpy(r->service, s->service, strlen(s->service) + 1);
            return;
        }
    }
    lookup(t, value, true, r);
    /* Full: the rest of this refresh's values are looked up every time. */
    if (m->n >= TOPOLOGY_MEMO_VALUES || m->string_bytes >= TOPOLOGY_MEMO_BYTES) return;
    if (2 * (m->n + 1) > m->cap) {
        memo_grow(m);
        for (j = (size_t)h & (m->cap - 1); m->slots[j].value; j = (j + 1) & (m->cap - 1)) continue;
    }
    memo_slot *s = &m->slots[j];
    s->hash = h;
    s->value = memo_copy(m, value, len);
    s->service = r->has_service ? memo_copy(m, r->service, strlen(r->service)) : NULL;
    s->region = r->region;
    s->is_ip = r->is_ip;
    s->matched = r->matched;
    m->n++;
}

/* A template whose groups all failed to match leaves nothing; a node needs a
 * name, so the value keeps its own. */
static bool named_by_entry(const lookup_result *r) {
    return r->has_service && r->service[0];
}

static void resolve_region(char out[VIZ_NAME_MAX], const char *raw, const char *from_topology, const graph_config *g) {
    if (!str_empty(raw))
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
    lookup_result r;
    memset(from, 0, sizeof *from);
    memset(to, 0, sizeof *to);

    const char *callee = value[EP_TO_SERVICE];
    if (str_empty(callee)) return RESOLVE_NO_CALLEE;
    lookup_memo(t, memo, callee, str_empty(value[EP_TO_REGION]), &r);
    name_copy(to->service, named_by_entry(&r) ? r.service : callee);
    resolve_region(to->region, value[EP_TO_REGION], r.region, g);
    name_copy(to->host, or_empty(value[EP_TO_HOST]));

    const char *caller = value[EP_FROM_SERVICE];
    name_copy(from->host, or_empty(value[EP_FROM_HOST]));
    bool entry = str_empty(caller);
    if (!entry) {
        lookup_memo(t, memo, caller, str_empty(value[EP_FROM_REGION]), &r);
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
