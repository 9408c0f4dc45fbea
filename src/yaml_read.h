/*
 * yaml_read.h - reading a YAML configuration: loading a file into a libyaml
 * document within the limits we set, and typed reads of its nodes with
 * ${VAR} expansion, each failing with a message that names file:line:col.
 * config.c builds the schema (which keys mean what) from these; this module
 * knows nothing of vizfeed's keys.
 *
 * Calling sequence: yr_read_file(path) -> text; yr_load(file, text, ...) ->
 * a yaml_document_t (the caller deletes it with yaml_document_delete());
 * then a yr_parser {file, &doc, err} is passed to every read. `file` is what
 * messages name: the path, or "preset NAME" for a built-in preset.
 *
 * Messages: every failure is one line in p->err (ERR_LEN bytes), of the form
 * "FILE:LINE:COL: WHAT; expected EXPECTED", LINE and COL 1-based from the
 * node's start mark; user text inside a message goes through yr_shown().
 * The wording is part of the product (tests/configs/bad/ checks it).
 *
 * Scalars: numbers, booleans and durations may be written quoted (as
 * environment references often are); every scalar read expands ${NAME} and
 * ${NAME:default} from the environment ($${ is a literal ${, which is how
 * config_print.c writes one back). A variable that is set, even to "", wins
 * over its default; an unset one without a default is an error.
 *
 * Ownership: strings returned through `char **out` are the caller's (free).
 * Nodes belong to the document. Errors: int functions return 0, or -1 with
 * p->err set; yr_read_file returns NULL with err set.
 *
 * Threads: no state of its own besides the parser; getenv() is read, so a
 * load must not race a setenv() (vizfeed loads from the main thread).
 */
#ifndef VIZFEED_YAML_READ_H
#define VIZFEED_YAML_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

typedef struct {
    const char *file; /* for messages: the path, or "preset NAME" */
    yaml_document_t *doc;
    char *err;
} yr_parser;

/* ---- files ---- */

/* The whole file, NUL-terminated, at most VIZ_MAX_CONFIG_BYTES; *len its size. */
char *yr_read_file(const char *path, size_t *len, char *err);
/* Parses text into doc after a cheap event pass that refuses aliases, a
 * second document and nesting deeper than the schema can use (libyaml's
 * composer recurses per level). On -1 doc needs no delete. */
int yr_load(const char *file, const char *text, size_t len, yaml_document_t *doc, char *err);

/* ---- messages ---- */

/* User text bounded to outlen and without control characters, so a message
 * stays one line; returns out. */
const char *yr_shown(const char *s, char *out, size_t outlen);
/* Writes "FILE:LINE:COL: WHAT; expected EXPECTED" for node n; returns -1. */
int yr_fail(yr_parser *p, const yaml_node_t *n, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "a, b, c" from a NULL-terminated list (truncated to outlen). */
void yr_join_keys(const char *const keys[], char *out, size_t outlen);

/* ---- nodes ---- */

yaml_node_t *yr_node(yr_parser *p, int id);
const char *yr_text(const yaml_node_t *n); /* a scalar's text, unexpanded */
bool yr_is_plain(const yaml_node_t *n);    /* an unquoted scalar */
/* Unquoted empty, ~ or null: read as "not written" for sections and lists,
 * as "" for strings. */
bool yr_is_null(const yaml_node_t *n);
const char *yr_kind(const yaml_node_t *n); /* "a mapping", "a list", "empty", "a single value" */
size_t yr_mapping_size(const yaml_node_t *n);
size_t yr_sequence_size(const yaml_node_t *n);
yaml_node_t *yr_item(yr_parser *p, const yaml_node_t *n, size_t i);
/* map[key], or NULL when map is not a mapping or has no such key. */
yaml_node_t *yr_get(yr_parser *p, const yaml_node_t *map, const char *key);
/* Every key of map a scalar, one of keys (NULL-terminated), written once;
 * `what` names the section in messages. */
int yr_check_keys(yr_parser *p, const yaml_node_t *map, const char *what, const char *const keys[]);
/* A section that may be left out or null (*out NULL then), else a mapping
 * whose keys pass yr_check_keys. */
int yr_section(yr_parser *p, const yaml_node_t *n, const char *what, const char *const keys[], const yaml_node_t **out);

/* ---- scalars (all expand ${VAR}) ---- */

int yr_expand(yr_parser *p, const yaml_node_t *n, char **out);
int yr_string(yr_parser *p, const yaml_node_t *n, const char *what, char **out); /* null reads as "" */
int yr_nonempty(yr_parser *p, const yaml_node_t *n, const char *what, const char *expected, char **out);
/* A number as JSON writes it (no hex, inf, nan, leading zeros), finite. */
bool yr_parse_number(const char *s, double *out);
int yr_double(yr_parser *p, const yaml_node_t *n, const char *what, double min, double max, double *out);
int yr_int(yr_parser *p, const yaml_node_t *n, const char *what, long long min, long long max, long long *out);
int yr_u64(yr_parser *p, const yaml_node_t *n, const char *what, uint64_t *out);
int yr_bool(yr_parser *p, const yaml_node_t *n, const char *what, bool *out); /* only true and false */
/* A duration (500ms, 10s, 2m, 1h, ...) of at least min and at most 366 days. */
int yr_duration(yr_parser *p, const yaml_node_t *n, const char *what, int64_t min, int64_t *out);

#endif
