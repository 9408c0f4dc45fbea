/*
 * regex_match.c - what vizfeed works out from a topology regex's text so
 * that most values never reach regexec(): a prefilter (the bytes a match can
 * start with and, for a pattern anchored at both ends, the bytes it can
 * contain), a matcher that finds \1 of ^(GROUP)REST$ with two small automata,
 * and the refusals made before regcomp() (back-references, anchors in a
 * repeated group, patterns too large once their repetitions are written
 * out).
 *
 * Why apart from topology.c: this is a small regex engine of its own whose
 * answers must agree with glibc's regexec() exactly (a filter may only skip
 * calls that would fail; the matcher may only answer where every correct
 * engine answers the same). Kept apart it can be fuzzed against regexec()
 * directly (tests/fuzz/fuzz_regex_match.c), and topology.c keeps addresses,
 * names, indexes, resolving and the memo.
 */
#include "regex_match.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A set of bytes, one bit each. */
typedef struct {
    uint64_t bits[4];
} byte_set;

static void byte_set_add(byte_set *s, unsigned char c) {
    s->bits[c >> 6] |= (uint64_t)1 << (c & 63);
}

static bool byte_set_has(const byte_set *s, unsigned char c) {
    return s->bits[c >> 6] >> (c & 63) & 1;
}

static void byte_set_union(byte_set *into, const byte_set *s) {
    for (int i = 0; i < 4; i++) into->bits[i] |= s->bits[i];
}

/* What regex_match_new() worked out; see the header. */
struct regex_match {
    bool has_first_set, has_alphabet;
    byte_set first_set;              /* a match must start at the value's first byte, one of these */
    byte_set alphabet;               /* a match spans the whole value: every byte is one of these */
    struct capture_matcher *capture; /* finds \1 without regexec(), or NULL */
};

/* ---- regex filters ---- */

/* A regex is only handed to regexec() when the value could match it. What a
 * pattern allows is worked out from its text for the simple, common shapes
 * (literals, bracket expressions of ASCII bytes, groups, quantifiers,
 * anchors); anything else (".", "|", negated brackets, classes, GNU escapes,
 * non-ASCII bytes) leaves the regex without a filter, so the filter can only
 * ever skip calls that would have failed. vizfeed never calls setlocale(),
 * so ranges such as [a-z] are byte ranges, as glibc compares them here. */
typedef enum {
    TOKEN_ATOM,       /* one byte out of a set */
    TOKEN_ANY,        /* "." */
    TOKEN_OPEN,       /* "(" */
    TOKEN_CLOSE,      /* ")" */
    TOKEN_MAYBE_NONE, /* "*", "?", "{m,n}": the atom may match nothing */
    TOKEN_ONE_OR_MORE,
    TOKEN_ALTERNATIVE,
    TOKEN_START,
    TOKEN_END
} token_kind;

typedef struct {
    token_kind kind;
    char op;      /* quantifiers: '*', '+', '?' or '{' */
    byte_set set; /* ATOM */
} regex_token;

/* Reads the bracket expression after '[' at *p into set, moving *p past its
 * ']'; false for what the filters do not model. */
static bool read_bracket(const char **p, byte_set *set) {
    const unsigned char *s = (const unsigned char *)*p;
    if (*s == '^') return false;
    for (bool first = true;; first = false) {
        unsigned char c = s[0];
        if (c == '\0' || c >= 0x80) return false;
        if (c == ']' && !first) break;
        if (c == '[' && (s[1] == ':' || s[1] == '=' || s[1] == '.')) return false;
        if (s[1] == '-' && s[2] != ']' && s[2] != '\0') {
            unsigned char high = s[2];
            if (high >= 0x80 || high == '[' || high < c) return false;
            for (unsigned v = c; v <= high; v++) byte_set_add(set, (unsigned char)v);
            s += 3;
        } else {
            byte_set_add(set, c);
            s++;
        }
    }
    *p = (const char *)s + 1;
    return true;
}

/* "{m}", "{m,}" or "{m,n}" after the '{' at *p. */
static bool read_interval(const char **p) {
    const char *s = *p;
    if (!isdigit((unsigned char)*s)) return false;
    while (isdigit((unsigned char)*s)) s++;
    if (*s == ',') s++;
    while (isdigit((unsigned char)*s)) s++;
    if (*s != '}') return false;
    *p = s + 1;
    return true;
}

static bool is_quantifier(token_kind k) {
    return k == TOKEN_MAYBE_NONE || k == TOKEN_ONE_OR_MORE;
}

/* Splits an extended regex into at most strlen(pattern) tokens; false for
 * what the filters do not model, or for a quantifier with nothing before it
 * or unbalanced parentheses (glibc's reading of those is not ours to guess). */
static bool tokenize(const char *p, regex_token *out, size_t *n) {
    size_t k = 0;
    int depth = 0;
    while (*p) {
        regex_token *t = &out[k];
        memset(t, 0, sizeof *t);
        unsigned char c = (unsigned char)*p++;
        switch (c) {
        case '\\':
            /* Only the escapes of ERE's own special characters are literals;
             * glibc gives \w, \<, \` and the like other meanings. */
            if (!*p || !strchr(".[]()*+?{}|^$\\/-", *p)) return false;
            t->kind = TOKEN_ATOM;
            byte_set_add(&t->set, (unsigned char)*p++);
            break;
        case '[':
            t->kind = TOKEN_ATOM;
            if (!read_bracket(&p, &t->set)) return false;
            break;
        case '.':
            t->kind = TOKEN_ANY;
            break;
        case '(':
            t->kind = TOKEN_OPEN;
            depth++;
            break;
        case ')':
            t->kind = TOKEN_CLOSE;
            if (--depth < 0) return false;
            break;
        case '|':
            t->kind = TOKEN_ALTERNATIVE;
            break;
        case '^':
            t->kind = TOKEN_START;
            break;
        case '$':
            t->kind = TOKEN_END;
            break;
        case '*':
        case '?':
        case '+':
        case '{':
            if (k == 0 || !(out[k - 1].kind == TOKEN_ATOM || out[k - 1].kind == TOKEN_ANY ||
                            out[k - 1].kind == TOKEN_CLOSE || is_quantifier(out[k - 1].kind)))
                return false;
            if (c == '{' && !read_interval(&p)) return false;
            t->kind = c == '+' ? TOKEN_ONE_OR_MORE : TOKEN_MAYBE_NONE;
            t->op = (char)c;
            break;
        default:
            if (c >= 0x80) return false;
            t->kind = TOKEN_ATOM;
            byte_set_add(&t->set, c);
            break;
        }
        k++;
    }
    *n = k;
    return depth == 0;
}

/* True when the quantifiers after token i (if any) may repeat it zero times. */
static bool may_be_skipped(const regex_token *tok, size_t n, size_t i) {
    for (size_t j = i + 1; j < n && is_quantifier(tok[j].kind); j++)
        if (tok[j].kind == TOKEN_MAYBE_NONE) return true;
    return false;
}

/* Fills c's filters from pattern (the text between the slashes). A pattern
 * anchored at its start with no alternative has a first byte: the first atom,
 * provided neither it nor a group around it may be skipped. One anchored at
 * both ends without "." spans the whole value, which can then contain only
 * the bytes of its atoms. */
static void regex_filter(regex_match *c, const regex_token *tok, size_t n) {
    if (n < 2 || tok[0].kind != TOKEN_START) return;
    bool plain = true; /* no alternative, no "." and no anchor inside */
    for (size_t i = 1; i < n; i++)
        if (tok[i].kind == TOKEN_ALTERNATIVE || tok[i].kind == TOKEN_ANY || tok[i].kind == TOKEN_START ||
            (tok[i].kind == TOKEN_END && i != n - 1))
            plain = false;
    for (size_t i = 1; i < n; i++)
        if (tok[i].kind == TOKEN_ALTERNATIVE || tok[i].kind == TOKEN_START) return;

    size_t atom = 1;
    while (atom < n && tok[atom].kind == TOKEN_OPEN) atom++;
    bool first_known = atom < n && tok[atom].kind == TOKEN_ATOM && !may_be_skipped(tok, n, atom);
    for (size_t open = 1; first_known && open < atom; open++) {
        size_t close = open + 1;
        for (int depth = 1; close < n; close++) {
            depth += tok[close].kind == TOKEN_OPEN ? 1 : tok[close].kind == TOKEN_CLOSE ? -1 : 0;
            if (depth == 0) break;
        }
        if (close >= n || may_be_skipped(tok, n, close)) first_known = false;
    }
    if (first_known) {
        c->first_set = tok[atom].set;
        c->has_first_set = true;
    }
    if (plain && tok[n - 1].kind == TOKEN_END) {
        for (size_t i = 1; i < n; i++)
            if (tok[i].kind == TOKEN_ATOM) byte_set_union(&c->alphabet, &tok[i].set);
        c->has_alphabet = true;
    }
}

/* False when the filters prove that regexec() would not match value. */
bool regex_match_may_match(const regex_match *c, const char *value) {
    if (c->has_first_set && !byte_set_has(&c->first_set, (unsigned char)value[0])) return false;
    if (c->has_alphabet)
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            if (!byte_set_has(&c->alphabet, *p)) return false;
    return true;
}

/* ---- captures without regexec() ---- */

/* A capturing regexec() that matches costs ~30k instructions on a 25-byte
 * value (glibc's backward sift), a third of a 100k-edge refresh for
 * /^([a-z]+-[a-z]+)-[0-9]+\.([a-z0-9-]+)\.svc:[0-9]+$/ and the like. For the
 * shape ^(GROUP)REST$ with a service template using \1 only, and GROUP and
 * REST made of what the filters model (byte sets, groups, *, + and ?), \1 is
 * found here instead: any match spans the whole value and \1 starts at 0, so
 * \1 ends at some k where value[0..k) matches GROUP and value[k..] matches
 * REST. Two automata find every such k, one forwards over GROUP and one
 * backwards over REST, in ~100 instructions per byte. When there is exactly
 * one k, every correct engine returns [0, k), so this is regexec()'s answer;
 * none means no match; with several (which one POSIX picks is subtle), and
 * for values longer than CAPTURE_MAX_VALUE, regexec() decides as before. */
#define NFA_MAX_STATES    128
#define CAPTURE_MAX_VALUE 256

typedef struct {
    byte_set set;   /* the bytes that lead to next */
    int16_t next;   /* -1: no byte transition */
    int16_t eps[2]; /* transitions on no byte, -1 when unused */
} nfa_state;

typedef struct {
    uint64_t bits[NFA_MAX_STATES / 64];
} state_set;

typedef struct {
    nfa_state states[NFA_MAX_STATES];
    int n, start, accept;
    /* closure[s]: s and every state reached from it on no byte, worked out
     * once so that a step is a few ORs (2 kB per automaton). */
    state_set closure[NFA_MAX_STATES];
} nfa;

typedef struct capture_matcher {
    nfa group;     /* GROUP, forwards */
    nfa rest_back; /* REST, reversed, run from the value's end */
} capture_matcher;

static int nfa_state_new(nfa *a) {
    if (a->n == NFA_MAX_STATES) return -1;
    nfa_state *s = &a->states[a->n];
    memset(s, 0, sizeof *s);
    s->next = s->eps[0] = s->eps[1] = -1;
    return a->n++;
}

/* Index just past the element (an atom or a group, with its quantifiers)
 * that starts at token i. */
static size_t element_end(const regex_token *tok, size_t hi, size_t i) {
    size_t j = i + 1;
    if (tok[i].kind == TOKEN_OPEN)
        for (int depth = 1; j < hi && depth > 0; j++)
            depth += tok[j].kind == TOKEN_OPEN ? 1 : tok[j].kind == TOKEN_CLOSE ? -1 : 0;
    while (j < hi && is_quantifier(tok[j].kind)) j++;
    return j;
}

/* Builds tokens [lo, hi) (elements in reverse order when backwards) as a
 * fragment from *entry to *exit, where *exit has no transitions yet.
 * Thompson's construction; false when the states run out or a token is not
 * an atom, a group or a quantifier. */
static bool nfa_sequence(nfa *a, const regex_token *tok, size_t lo, size_t hi, bool backwards, int *entry, int *exit);

static bool nfa_element(nfa *a, const regex_token *tok, size_t i, size_t end, bool backwards, int *entry, int *exit) {
    size_t base_end = end;
    while (base_end > i + 1 && is_quantifier(tok[base_end - 1].kind)) base_end--;
    if (tok[i].kind == TOKEN_ATOM && base_end == i + 1) {
        *entry = nfa_state_new(a);
        *exit = nfa_state_new(a);
        if (*exit < 0) return false;
        a->states[*entry].set = tok[i].set;
        a->states[*entry].next = (int16_t)*exit;
    } else if (tok[i].kind == TOKEN_OPEN && tok[base_end - 1].kind == TOKEN_CLOSE) {
        if (!nfa_sequence(a, tok, i + 1, base_end - 1, backwards, entry, exit)) return false;
    } else {
        return false;
    }
    for (size_t q = base_end; q < end; q++) {
        char op = tok[q].op;
        if (op != '*' && op != '+' && op != '?') return false; /* {m,n} */
        int before = op == '+' ? *entry : nfa_state_new(a), after = nfa_state_new(a);
        if (before < 0 || after < 0) return false;
        if (op != '+') { /* may be skipped */
            a->states[before].eps[0] = (int16_t)*entry;
            a->states[before].eps[1] = (int16_t)after;
        }
        a->states[*exit].eps[0] = (int16_t)(op == '?' ? after : *entry); /* may repeat */
        if (op != '?') a->states[*exit].eps[1] = (int16_t)after;
        *entry = before;
        *exit = after;
    }
    return true;
}

static bool nfa_sequence(nfa *a, const regex_token *tok, size_t lo, size_t hi, bool backwards, int *entry, int *exit) {
    size_t starts[NFA_MAX_STATES], n = 0;
    for (size_t i = lo; i < hi; i = element_end(tok, hi, i)) {
        if (n == NFA_MAX_STATES) return false;
        starts[n++] = i;
    }
    *entry = *exit = nfa_state_new(a);
    if (*entry < 0) return false;
    for (size_t k = 0; k < n; k++) {
        size_t e = backwards ? n - 1 - k : k;
        size_t end = e + 1 < n ? starts[e + 1] : hi;
        int first, last;
        if (!nfa_element(a, tok, starts[e], end, backwards, &first, &last)) return false;
        a->states[*exit].eps[0] = (int16_t)first;
        *exit = last;
    }
    return true;
}

static void state_add(const nfa *a, state_set *set, int s) {
    while (s >= 0 && !(set->bits[s / 64] >> (s % 64) & 1)) {
        set->bits[s / 64] |= (uint64_t)1 << (s % 64);
        const nfa_state *st = &a->states[s];
        if (st->eps[1] >= 0) state_add(a, set, st->eps[1]);
        s = st->eps[0];
    }
}

static bool nfa_build(nfa *a, const regex_token *tok, size_t lo, size_t hi, bool backwards) {
    a->n = 0;
    if (!nfa_sequence(a, tok, lo, hi, backwards, &a->start, &a->accept)) return false;
    for (int s = 0; s < a->n; s++) {
        memset(&a->closure[s], 0, sizeof a->closure[s]);
        state_add(a, &a->closure[s], s);
    }
    return true;
}

static void state_union(state_set *into, const state_set *set) {
    for (int w = 0; w < NFA_MAX_STATES / 64; w++) into->bits[w] |= set->bits[w];
}

static bool state_has(const state_set *set, int s) {
    return set->bits[s / 64] >> (s % 64) & 1;
}

/* Runs a over len bytes of value, forwards or backwards from the end, and
 * sets ends[k] when a accepts after k bytes. */
static void nfa_run(const nfa *a, const unsigned char *value, size_t len, bool backwards, bool *ends) {
    state_set set = a->closure[a->start];
    for (size_t k = 0;; k++) {
        ends[k] = state_has(&set, a->accept);
        if (k == len) return;
        unsigned char c = value[backwards ? len - 1 - k : k];
        state_set next = {{0}};
        bool any = false;
        for (int w = 0; w < NFA_MAX_STATES / 64; w++)
            for (uint64_t bits = set.bits[w]; bits; bits &= bits - 1) {
                const nfa_state *st = &a->states[w * 64 + __builtin_ctzll(bits)];
                if (st->next >= 0 && byte_set_has(&st->set, c)) {
                    state_union(&next, &a->closure[st->next]);
                    any = true;
                }
            }
        if (!any) {
            for (k++; k <= len; k++) ends[k] = false;
            return;
        }
        set = next;
    }
}

/* 1: value matches with \1 = [0, *end); 0: it does not match; -1: ask
 * regexec(). */
static int capture_first_group(const capture_matcher *cm, const char *value, size_t *end) {
    size_t len = strlen(value);
    if (len > CAPTURE_MAX_VALUE) return -1;
    bool group_ends[CAPTURE_MAX_VALUE + 1], rest_lengths[CAPTURE_MAX_VALUE + 1];
    nfa_run(&cm->group, (const unsigned char *)value, len, false, group_ends);
    nfa_run(&cm->rest_back, (const unsigned char *)value, len, true, rest_lengths);
    int found = 0;
    for (size_t k = 0; k <= len; k++)
        if (group_ends[k] && rest_lengths[len - k]) {
            if (found) return -1;
            found = 1;
            *end = k;
        }
    return found;
}

/* Sets c->capture for a pattern of the shape ^(GROUP)REST$ (tokens tok[0..n))
 * whose template uses \1 only. */
static void capture_compile(regex_match *c, const regex_token *tok, size_t n) {
    if (n < 4 || tok[0].kind != TOKEN_START || tok[n - 1].kind != TOKEN_END || tok[1].kind != TOKEN_OPEN) return;
    size_t close = element_end(tok, n - 1, 1);
    if (tok[close - 1].kind != TOKEN_CLOSE) return; /* the group has a quantifier */
    capture_matcher *cm = xmalloc(sizeof *cm);
    if (nfa_build(&cm->group, tok, 2, close - 1, false) && nfa_build(&cm->rest_back, tok, close, n - 1, true))
        c->capture = cm;
    else
        free(cm);
}

/* Works out the filters and the capture matcher from pattern (the text
 * between the slashes); a pattern the tokens do not model gets neither. */
regex_match *regex_match_new(const char *pattern, bool first_group) {
    regex_match *c = xcalloc(1, sizeof *c);
    size_t len = strlen(pattern), n = 0;
    regex_token *tok = xcalloc(len ? len : 1, sizeof *tok);
    if (tokenize(pattern, tok, &n)) {
        regex_filter(c, tok, n);
        if (first_group) capture_compile(c, tok, n);
    }
    free(tok);
    return c;
}

int regex_match_first_group(const regex_match *c, const char *value, size_t *end) {
    return c->capture ? capture_first_group(c->capture, value, end) : -1;
}

void regex_match_free(regex_match *c) {
    if (!c) return;
    free(c->capture);
    free(c);
}

/* The first back-reference (\1..\9 outside a bracket expression) of an
 * extended regex, or 0. glibc takes them in EREs and can only match them by
 * backtracking: /(a*)*\1!b/ took 10 s on one 250-byte name, over a minute at
 * 400. Without them glibc's matcher is automaton-based, and its work is
 * bounded by the pattern's size times the name's (VIZ_NAME_MAX bytes). */
int regex_match_back_reference(const char *pattern) {
    for (const char *p = pattern; *p; p++) {
        if (*p == '\\') {
            if (p[1] >= '1' && p[1] <= '9') return p[1] - '0';
            if (p[1]) p++;
        } else if (*p == '[') {
            /* A bracket expression: ']' first is a member, and [:class:],
             * [=x=] and [.x.] hold a ']' of their own. A backslash is a
             * member here, not an escape. */
            p++;
            if (*p == '^') p++;
            if (*p == ']') p++;
            while (*p && *p != ']') {
                if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
                    const char *close = strchr(p + 2, p[1]);
                    while (close && close[1] != ']') close = strchr(close + 1, p[1]);
                    if (!close) return 0; /* regcomp() refuses it */
                    p = close + 2;
                } else {
                    p++;
                }
            }
            if (!*p) return 0;
        }
    }
    return 0;
}

/* Moves p, at the '[' of a bracket expression, to its closing ']' (or to
 * the end of an unterminated one, which regcomp() refuses). */
static const char *bracket_end(const char *p) {
    p++;
    if (*p == '^') p++;
    if (*p == ']') p++;
    while (*p && *p != ']') {
        if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
            const char *close = strchr(p + 2, p[1]);
            while (close && close[1] != ']') close = strchr(close + 1, p[1]);
            if (!close) return p + strlen(p);
            p = close + 2;
        } else {
            p++;
        }
    }
    return p;
}

bool regex_match_repeated_anchor(const char *pattern) {
    size_t len = strlen(pattern), depth = 0;
    bool *holds = xcalloc(len + 2, sizeof *holds); /* holds[d]: the group open at depth d has an anchor */
    bool found = false;
    for (const char *p = pattern; *p && !found; p++) {
        if (*p == '\\') {
            if (p[1] && strchr("<>bB`'", p[1])) holds[depth] = true;
            if (p[1]) p++;
        } else if (*p == '[') {
            p = bracket_end(p);
            if (!*p) break;
        } else if (*p == '^' || *p == '$') {
            holds[depth] = true;
        } else if (*p == '(') {
            holds[++depth] = false;
        } else if (*p == ')' && depth > 0) {
            if (holds[depth--]) {
                holds[depth] = true;
                found = p[1] && strchr("*+?{", p[1]);
            }
        }
    }
    free(holds);
    return found;
}

/* How many elementary pieces pattern stands for once its counted
 * repetitions are written out, as glibc's regcomp() writes them out. Both
 * compiling and matching grow with it, and faster than linearly for nested
 * repetitions: /((a?){100}){100}/ (10101) took 800 MB to compile,
 * /((a?){1000}){1000}/ crashed `vizfeed check`, /((a*)*){600}b/ (1801) took
 * 17 s to compile and /(a?){999}/ 1.8 s to match one name. At the limit
 * (500) the worst we found took 0.7 s to compile and 0.07 s per name. A
 * recursive descent over the ERE, saturating at 1e18; what regcomp() would
 * refuse is counted as written (it is refused there). *p advances past what
 * was read. */
static double expanded_alternatives(const char **p, int depth);

static double expanded_piece(const char **p, int depth) {
    double size;
    const char *s = *p;
    if (*s == '(') {
        *p = s + 1;
        size = expanded_alternatives(p, depth + 1);
        if (**p == ')') (*p)++;
    } else if (*s == '[') {
        s++;
        if (*s == '^') s++;
        if (*s == ']') s++;
        while (*s && *s != ']') s += s[0] == '[' && (s[1] == ':' || s[1] == '=' || s[1] == '.') && s[2] ? 2 : 1;
        *p = *s ? s + 1 : s;
        size = 1;
    } else {
        *p = s + (s[0] == '\\' && s[1] ? 2 : 1);
        size = 1;
    }
    for (;;) { /* quantifiers, possibly several */
        s = *p;
        if (*s == '*' || *s == '?') {
            *p = s + 1;
            size += 1;
        } else if (*s == '+') { /* written E E*: s+++... doubles, 50 of them took all memory */
            *p = s + 1;
            size = 2 * size + 1;
        } else if (*s == '{' && s[1] >= '0' && s[1] <= '9') {
            char *end;
            double low = strtod(s + 1, &end), high = low;
            bool unbounded = false;
            if (*end == ',') {
                unbounded = !(end[1] >= '0' && end[1] <= '9');
                high = unbounded ? (end++, low) : strtod(end + 1, &end);
            }
            const char *close = strchr(end, '}');
            *p = close ? close + 1 : end;
            /* {m,} is m copies and a starred one: at least two, like +. */
            double copies = high > low ? high : low > 1 ? low : 1;
            if (unbounded && low >= 1 && copies < 2) copies = 2;
            size = size * copies + 1;
        } else {
            break;
        }
        if (size > 1e18) size = 1e18;
    }
    return size;
}

static double expanded_alternatives(const char **p, int depth) {
    double size = 0;
    while (**p && !(**p == ')' && depth > 0)) {
        if (**p == '|') {
            (*p)++;
            size += 1;
            continue;
        }
        size += expanded_piece(p, depth);
        if (size > 1e18) size = 1e18;
    }
    return size;
}

double regex_match_expanded_size(const char *pattern) {
    double size = 0;
    const char *p = pattern;
    while (*p) {
        size += expanded_alternatives(&p, 0);
        if (*p == ')') p++; /* unbalanced: regcomp() refuses it */
    }
    return size;
}

/* Counts the repetitions of something that may match nothing, such as
 * (x*)* or (x?)+, once "+" and "{m,n}" are written out as regcomp() writes
 * them (E+ is E E*: the copy doubles what E holds). regcomp()'s work on
 * such loops doubles with each one, sequential or nested: /(x?)+++++y/ (31)
 * and twenty (x*)+ in a row never finished compiling, fifteen took 0.3 s,
 * eight a few milliseconds (found by tests/fuzz/fuzz_regex_match.c). A
 * recursive descent over the ERE like the size's above, saturating at 1e18. */
typedef struct {
    double loops;
    bool nullable; /* may match the empty string */
} empty_loops;

static empty_loops loops_alternatives(const char **p, int depth);

static empty_loops loops_piece(const char **p, int depth) {
    empty_loops r = {0, false};
    const char *s = *p;
    if (*s == '(') {
        *p = s + 1;
        r = loops_alternatives(p, depth + 1);
        if (**p == ')') (*p)++;
    } else if (*s == '[') {
        s = bracket_end(s);
        *p = *s ? s + 1 : s;
    } else if (*s == '\\') {
        r.nullable = s[1] && strchr("<>bB`'", s[1]);
        *p = s + (s[1] ? 2 : 1);
    } else {
        r.nullable = *s == '^' || *s == '$';
        *p = s + 1;
    }
    for (;;) { /* quantifiers, possibly several */
        s = *p;
        if (*s == '*' || *s == '?') {
            *p = s + 1;
            if (r.nullable) r.loops += 1;
            r.nullable = true;
        } else if (*s == '+') {
            *p = s + 1;
            r.loops = 2 * r.loops + (r.nullable ? 1 : 0);
        } else if (*s == '{' && s[1] >= '0' && s[1] <= '9') {
            char *end;
            double low = strtod(s + 1, &end), high = low;
            bool unbounded = false;
            if (*end == ',') {
                unbounded = !(end[1] >= '0' && end[1] <= '9');
                high = unbounded ? (end++, low) : strtod(end + 1, &end);
            }
            const char *close = strchr(end, '}');
            *p = close ? close + 1 : end;
            double copies = high > low ? high : low > 1 ? low : 1;
            if (unbounded && low >= 1 && copies < 2) copies = 2; /* {m,}: like + */
            r.loops = r.loops * copies + (r.nullable ? 1 : 0);
            r.nullable = r.nullable || low == 0;
        } else {
            break;
        }
        if (r.loops > 1e18) r.loops = 1e18;
    }
    return r;
}

static empty_loops loops_alternatives(const char **p, int depth) {
    empty_loops all = {0, false}, branch = {0, true};
    while (**p && !(**p == ')' && depth > 0)) {
        if (**p == '|') {
            (*p)++;
            all.loops += branch.loops;
            all.nullable = all.nullable || branch.nullable;
            branch = (empty_loops){0, true};
            continue;
        }
        empty_loops piece = loops_piece(p, depth);
        branch.loops += piece.loops;
        branch.nullable = branch.nullable && piece.nullable;
        if (branch.loops > 1e18) branch.loops = 1e18;
    }
    all.loops += branch.loops;
    all.nullable = all.nullable || branch.nullable;
    if (all.loops > 1e18) all.loops = 1e18;
    return all;
}

double regex_match_empty_loops(const char *pattern) {
    double loops = 0;
    const char *p = pattern;
    while (*p) {
        loops += loops_alternatives(&p, 0).loops;
        if (*p == ')') p++; /* unbalanced: regcomp() refuses it */
    }
    return loops > 1e18 ? 1e18 : loops;
}
