/*
 * yaml_read.c - loading a YAML configuration and reading its nodes as typed
 * values with ${VAR} expansion; the contract is in yaml_read.h. Kept apart
 * from config.c so that the schema reads as a list of keys and their
 * meanings, and so that a message's file:line:col comes from one place.
 */
#include "yaml_read.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "util.h"

/*
 * The file is parsed twice: first as a stream of events, which is cheap and
 * lets us refuse what the tree builder would handle badly (libyaml's composer
 * recurses once per nesting level, and an alias can make a small file stand
 * for an exponential tree), then with libyaml's document API, whose nodes
 * carry the line and column that every error message names. A condition
 * tree of the deepest allowed kind takes two levels per condition (a mapping
 * and a list) plus the few levels above the flow list.
 */
#define DURATION_EXAMPLE "a duration such as 500ms, 10s, 2m or 1h"

/* ---- messages -------------------------------------------------------- */

/* User text inside a message: bounded and free of line breaks, so that an
 * error stays one line whatever the file holds. */
const char *yr_shown(const char *s, char *out, size_t outlen) {
    size_t i = 0;
    for (; s[i] && i + 4 < outlen; i++) out[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

int yr_fail(yr_parser *p, const yaml_node_t *n, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int yr_fail(yr_parser *p, const yaml_node_t *n, const char *expected, const char *fmt, ...) {
    char what[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return util_fail(p->err, "%s:%zu:%zu: %s; expected %s", p->file, n->start_mark.line + 1, n->start_mark.column + 1,
                     what, expected);
}

void yr_join_keys(const char *const keys[], char *out, size_t outlen) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; keys[i]; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", keys[i]);
        if (n < 0 || (size_t)n >= outlen - used) return;
        used += (size_t)n;
    }
}

/* ---- nodes ----------------------------------------------------------- */

yaml_node_t *yr_node(yr_parser *p, int id) {
    return yaml_document_get_node(p->doc, id);
}

const char *yr_text(const yaml_node_t *n) {
    return (const char *)n->data.scalar.value;
}

bool yr_is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* An unquoted empty value, ~ or null: YAML's null, which we read as "not
 * written" for sections and lists and as "" for strings. */
bool yr_is_null(const yaml_node_t *n) {
    if (!yr_is_plain(n)) return false;
    const char *v = yr_text(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

const char *yr_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return yr_is_null(n) ? "empty" : "a single value";
    }
}

size_t yr_mapping_size(const yaml_node_t *n) {
    return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

size_t yr_sequence_size(const yaml_node_t *n) {
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *yr_item(yr_parser *p, const yaml_node_t *n, size_t i) {
    return yr_node(p, n->data.sequence.items.start[i]);
}

yaml_node_t *yr_get(yr_parser *p, const yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        const yaml_node_t *k = yr_node(p, pair->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(yr_text(k), key)) return yr_node(p, pair->value);
    }
    return NULL;
}

/* Every key a scalar, known, and written once. */
int yr_check_keys(yr_parser *p, const yaml_node_t *map, const char *what, const char *const keys[]) {
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        const yaml_node_t *k = yr_node(p, pair->key);
        char list[512], name[80];
        yr_join_keys(keys, list, sizeof list);
        if (k->type != YAML_SCALAR_NODE) {
            char expected[600];
            snprintf(expected, sizeof expected, "one of %s", list);
            return yr_fail(p, k, expected, "a key in %s is %s", what, yr_kind(k));
        }
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++) known = !strcmp(keys[i], yr_text(k));
        if (!known) {
            char expected[600];
            snprintf(expected, sizeof expected, "one of %s", list);
            return yr_fail(p, k, expected, "unknown key '%s' in %s", yr_shown(yr_text(k), name, sizeof name), what);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
            const yaml_node_t *first = yr_node(p, q->key);
            if (first->type == YAML_SCALAR_NODE && !strcmp(yr_text(first), yr_text(k)))
                return yr_fail(p, k, "each key once", "duplicate key '%s' in %s (first written at line %zu)",
                               yr_shown(yr_text(k), name, sizeof name), what, first->start_mark.line + 1);
        }
    }
    return 0;
}

/* A section that may be left out or empty: *out is NULL then. */
int yr_section(yr_parser *p, const yaml_node_t *n, const char *what, const char *const keys[],
               const yaml_node_t **out) {
    *out = NULL;
    if (!n || yr_is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) {
        char list[512], expected[600];
        yr_join_keys(keys, list, sizeof list);
        snprintf(expected, sizeof expected, "a mapping with keys %s", list);
        return yr_fail(p, n, expected, "%s is %s", what, yr_kind(n));
    }
    if (yr_check_keys(p, n, what, keys) < 0) return -1;
    *out = n;
    return 0;
}

/* ---- scalars --------------------------------------------------------- */

/* Copies a scalar with ${VAR} and ${VAR:default} replaced from the
 * environment; $${ stands for a literal ${ (which is how cfg_print writes
 * one back). A variable that is set, even to "", wins over the default. */
int yr_expand(yr_parser *p, const yaml_node_t *n, char **out) {
    const char *s = yr_text(n);
    if (strlen(s) != n->data.scalar.length)
        return yr_fail(p, n, "text without NUL characters", "a value contains a NUL character");
    buf b;
    buf_init(&b, VIZ_MAX_CONFIG_BYTES);
    int rc = 0;
    size_t i = 0;
    while (s[i]) {
        if (s[i] == '$' && s[i + 1] == '$' && s[i + 2] == '{') {
            rc |= buf_puts(&b, "${");
            i += 3;
            continue;
        }
        if (s[i] != '$' || s[i + 1] != '{') {
            rc |= buf_putc(&b, s[i++]);
            continue;
        }
        const char *name = s + i + 2;
        size_t len = 0;
        while (isalnum((unsigned char)name[len]) || name[len] == '_') len++;
        if (len == 0 || len > 128 || isdigit((unsigned char)name[0]) || (name[len] != '}' && name[len] != ':')) {
            buf_free(&b);
            return yr_fail(
                p, n, "${NAME} or ${NAME:default} with NAME made of letters, digits and _ (or $${ for a literal ${)",
                "malformed variable reference in a value");
        }
        char var[130], shown_var[80];
        memcpy(var, name, len);
        var[len] = '\0';
        const char *end = name + len;
        const char *fallback = NULL;
        if (*end == ':') {
            fallback = end + 1;
            end = strchr(fallback, '}');
            if (!end) {
                buf_free(&b);
                return yr_fail(p, n, "a closing } after the default",
                               "unterminated ${%s:", yr_shown(var, shown_var, sizeof shown_var));
            }
        }
        const char *value = getenv(var);
        if (value)
            rc |= buf_puts(&b, value);
        else if (fallback)
            rc |= buf_append(&b, fallback, (size_t)(end - fallback));
        else {
            buf_free(&b);
            yr_shown(var, shown_var, sizeof shown_var);
            char expected[300];
            snprintf(expected, sizeof expected, "%s to be set, or a default as in ${%s:default}", shown_var, shown_var);
            return yr_fail(p, n, expected, "environment variable %s is not set", shown_var);
        }
        i = (size_t)(end - s) + 1;
    }
    if (rc) {
        buf_free(&b);
        return yr_fail(p, n, "a shorter value", "value is longer than %u bytes after ${} expansion",
                       VIZ_MAX_CONFIG_BYTES);
    }
    *out = buf_take(&b, NULL);
    return 0;
}

int yr_string(yr_parser *p, const yaml_node_t *n, const char *what, char **out) {
    if (n->type != YAML_SCALAR_NODE) return yr_fail(p, n, "a string", "%s is %s", what, yr_kind(n));
    if (yr_is_null(n)) {
        *out = xstrdup("");
        return 0;
    }
    return yr_expand(p, n, out);
}

/* A number as JSON writes it (no hex, inf, nan or leading zeros), so that
 * numbers in conditions mean the same thing to Elasticsearch. */
bool yr_parse_number(const char *s, double *out) {
    const char *q = s;
    if (*q == '-') q++;
    if (!isdigit((unsigned char)*q)) return false;
    if (q[0] == '0' && isdigit((unsigned char)q[1])) return false;
    while (isdigit((unsigned char)*q)) q++;
    if (*q == '.') {
        q++;
        if (!isdigit((unsigned char)*q)) return false;
        while (isdigit((unsigned char)*q)) q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-') q++;
        if (!isdigit((unsigned char)*q)) return false;
        while (isdigit((unsigned char)*q)) q++;
    }
    if (*q) return false;
    errno = 0;
    double d = strtod(s, NULL);
    if (errno == ERANGE || !isfinite(d)) return false;
    *out = d;
    return true;
}

/* Numbers, booleans and durations may be written quoted, as environment
 * references often are; only condition values give quotes a meaning. */
int yr_double(yr_parser *p, const yaml_node_t *n, const char *what, double min, double max, double *out) {
    char *s;
    if (n->type != YAML_SCALAR_NODE || yr_is_null(n)) return yr_fail(p, n, "a number", "%s is %s", what, yr_kind(n));
    if (yr_expand(p, n, &s) < 0) return -1;
    double d;
    char expected[96], text[80];
    if (min <= -DBL_MAX / 2 && max >= DBL_MAX / 2)
        snprintf(expected, sizeof expected, "a number");
    else
        snprintf(expected, sizeof expected, "a number from %g to %g", min, max);
    bool ok = yr_parse_number(s, &d);
    yr_shown(s, text, sizeof text);
    free(s);
    if (!ok) return yr_fail(p, n, expected, "%s '%s' is not a number", what, text);
    if (d < min || d > max) return yr_fail(p, n, expected, "%s %s is out of range", what, text);
    *out = d;
    return 0;
}

int yr_int(yr_parser *p, const yaml_node_t *n, const char *what, long long min, long long max, long long *out) {
    char *s;
    char expected[96], text[80];
    snprintf(expected, sizeof expected, "a whole number from %lld to %lld", min, max);
    if (n->type != YAML_SCALAR_NODE || yr_is_null(n)) return yr_fail(p, n, expected, "%s is %s", what, yr_kind(n));
    if (yr_expand(p, n, &s) < 0) return -1;
    yr_shown(s, text, sizeof text);
    const char *q = s[0] == '-' ? s + 1 : s;
    bool digits = *q != '\0';
    for (; *q; q++) digits = digits && isdigit((unsigned char)*q);
    errno = 0;
    long long v = digits ? strtoll(s, NULL, 10) : 0;
    free(s);
    if (!digits) return yr_fail(p, n, expected, "%s '%s' is not a whole number", what, text);
    if (errno == ERANGE || v < min || v > max) return yr_fail(p, n, expected, "%s %s is out of range", what, text);
    *out = v;
    return 0;
}

int yr_u64(yr_parser *p, const yaml_node_t *n, const char *what, uint64_t *out) {
    char *s;
    char text[80];
    const char *expected = "a whole number from 0 to 18446744073709551615";
    if (n->type != YAML_SCALAR_NODE || yr_is_null(n)) return yr_fail(p, n, expected, "%s is %s", what, yr_kind(n));
    if (yr_expand(p, n, &s) < 0) return -1;
    yr_shown(s, text, sizeof text);
    bool digits = *s != '\0';
    for (const char *q = s; *q; q++) digits = digits && isdigit((unsigned char)*q);
    errno = 0;
    unsigned long long v = digits ? strtoull(s, NULL, 10) : 0;
    free(s);
    if (!digits || errno == ERANGE) return yr_fail(p, n, expected, "%s '%s' is not a whole number", what, text);
    *out = v;
    return 0;
}

/* Only true and false: YAML 1.1's yes/no/on/off surprise people (Norway). */
int yr_bool(yr_parser *p, const yaml_node_t *n, const char *what, bool *out) {
    char *s;
    char text[80];
    if (n->type != YAML_SCALAR_NODE || yr_is_null(n))
        return yr_fail(p, n, "true or false", "%s is %s", what, yr_kind(n));
    if (yr_expand(p, n, &s) < 0) return -1;
    int v = !strcmp(s, "true") ? 1 : !strcmp(s, "false") ? 0 : -1;
    yr_shown(s, text, sizeof text);
    free(s);
    if (v < 0) return yr_fail(p, n, "true or false", "%s '%s' is not a boolean", what, text);
    *out = v == 1;
    return 0;
}

int yr_duration(yr_parser *p, const yaml_node_t *n, const char *what, int64_t min, int64_t *out) {
    char *s;
    char text[80];
    if (n->type != YAML_SCALAR_NODE || yr_is_null(n))
        return yr_fail(p, n, DURATION_EXAMPLE, "%s is %s", what, yr_kind(n));
    if (yr_expand(p, n, &s) < 0) return -1;
    int64_t ms;
    char ignored[ERR_LEN];
    int rc = util_parse_duration_ms(s, &ms, ignored);
    yr_shown(s, text, sizeof text);
    free(s);
    if (rc < 0) return yr_fail(p, n, DURATION_EXAMPLE, "%s '%s' is not a duration", what, text);
    if (ms < min || ms > CFG_MAX_DURATION_MS)
        return yr_fail(p, n, min > 0 ? "a duration above 0 and at most 366d" : "a duration of at most 366d",
                       "%s %s is out of range", what, text);
    *out = ms;
    return 0;
}

int yr_nonempty(yr_parser *p, const yaml_node_t *n, const char *what, const char *expected, char **out) {
    if (yr_string(p, n, what, out) < 0) return -1;
    if (!**out) {
        free(*out);
        *out = NULL;
        return yr_fail(p, n, expected, "%s is empty", what);
    }
    return 0;
}

/* ---- loading --------------------------------------------------------- */

/* libyaml reports reader errors (bad UTF-8) by byte offset only. */
static void offset_to_mark(const char *text, size_t len, size_t offset, yaml_mark_t *mark) {
    mark->line = mark->column = 0;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n')
            mark->line++, mark->column = 0;
        else
            mark->column++;
    }
}

static int syntax_error(const char *file, const char *text, size_t len, const yaml_parser_t *ps, char *err) {
    yaml_mark_t mark = ps->problem_mark;
    if (ps->error == YAML_READER_ERROR) offset_to_mark(text, len, ps->problem_offset, &mark);
    char context[128] = "";
    if (ps->context) snprintf(context, sizeof context, " (%s at line %zu)", ps->context, ps->context_mark.line + 1);
    return util_fail(err, "%s:%zu:%zu: invalid YAML: %s%s; expected well-formed YAML (check indentation and quoting)",
                     file, mark.line + 1, mark.column + 1, ps->problem ? ps->problem : "unreadable input", context);
}

/* The cheap first pass: structure limits that libyaml itself does not set. */
static int check_stream(const char *file, const char *text, size_t len, char *err) {
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps))
        return util_fail(err, "%s: cannot initialise the YAML parser; expected memory", file);
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    int rc = -1, depth = 0, documents = 0;
    char depth_limit[64];
    snprintf(depth_limit, sizeof depth_limit, "at most %d levels", CFG_MAX_YAML_DEPTH);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev)) {
            syntax_error(file, text, len, &ps, err);
            break;
        }
        yaml_event_type_t type = ev.type;
        yaml_mark_t mark = ev.start_mark;
        yaml_event_delete(&ev);
        const char *problem = NULL, *expected = NULL;
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_MAX_YAML_DEPTH) problem = "lists and mappings nested too deeply", expected = depth_limit;
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (type == YAML_ALIAS_EVENT) {
            problem = "YAML aliases (*name) are not supported", expected = "the value written out";
        } else if (type == YAML_DOCUMENT_START_EVENT) {
            if (++documents > 1) problem = "a second YAML document", expected = "one document per file";
        } else if (type == YAML_STREAM_END_EVENT) {
            rc = 0;
            break;
        }
        if (problem) {
            util_fail(err, "%s:%zu:%zu: %s; expected %s", file, mark.line + 1, mark.column + 1, problem, expected);
            break;
        }
    }
    yaml_parser_delete(&ps);
    return rc;
}

int yr_load(const char *file, const char *text, size_t len, yaml_document_t *doc, char *err) {
    if (check_stream(file, text, len, err) < 0) return -1;
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps))
        return util_fail(err, "%s: cannot initialise the YAML parser; expected memory", file);
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&ps, doc)) rc = syntax_error(file, text, len, &ps, err);
    yaml_parser_delete(&ps);
    return rc;
}

char *yr_read_file(const char *path, size_t *len, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        util_fail(err, "%s: cannot open: %s; expected a readable configuration file", path, strerror(errno));
        return NULL;
    }
    char *text = xmalloc(VIZ_MAX_CONFIG_BYTES + 1);
    size_t n = fread(text, 1, VIZ_MAX_CONFIG_BYTES + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        util_fail(err, "%s: cannot read: %s; expected a readable configuration file", path, strerror(errno));
        free(text);
        return NULL;
    }
    if (n > VIZ_MAX_CONFIG_BYTES) {
        util_fail(err, "%s: the file is larger than %u bytes; expected a smaller configuration", path,
                  VIZ_MAX_CONFIG_BYTES);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}
