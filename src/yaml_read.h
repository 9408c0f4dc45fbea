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
} parser;

const char *shown(const char *s, char *out, size_t outlen);
int fail_at(parser *p, const yaml_node_t *n, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void join_keys(const char *const keys[], char *out, size_t outlen);
yaml_node_t *node_at(parser *p, int id);
const char *scalar_text(const yaml_node_t *n);
bool is_plain(const yaml_node_t *n);
bool is_null(const yaml_node_t *n);
const char *kind_name(const yaml_node_t *n);
size_t mapping_size(const yaml_node_t *n);
size_t sequence_size(const yaml_node_t *n);
yaml_node_t *sequence_item(parser *p, const yaml_node_t *n, size_t i);
yaml_node_t *get(parser *p, const yaml_node_t *map, const char *key);
int check_keys(parser *p, const yaml_node_t *map, const char *what, const char *const keys[]);
int get_section(parser *p, const yaml_node_t *n, const char *what, const char *const keys[], const yaml_node_t **out);
int expand(parser *p, const yaml_node_t *n, char **out);
int get_string(parser *p, const yaml_node_t *n, const char *what, char **out);
bool parse_number(const char *s, double *out);
int get_double(parser *p, const yaml_node_t *n, const char *what, double min, double max, double *out);
int get_int(parser *p, const yaml_node_t *n, const char *what, long long min, long long max, long long *out);
int get_u64(parser *p, const yaml_node_t *n, const char *what, uint64_t *out);
int get_bool(parser *p, const yaml_node_t *n, const char *what, bool *out);
int get_duration(parser *p, const yaml_node_t *n, const char *what, int64_t min, int64_t *out);
int get_nonempty(parser *p, const yaml_node_t *n, const char *what, const char *expected, char **out);
int load_document(const char *file, const char *text, size_t len, yaml_document_t *doc, char *err);
char *read_file(const char *path, size_t *len, char *err);

#endif
