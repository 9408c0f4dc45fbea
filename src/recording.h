#ifndef VIZFEED_RECORDING_H
#define VIZFEED_RECORDING_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define RECORDING_MAX_REQUEST ((4u << 20) + 8192)

int recording_flow_dir(const char *root, const char *flow_name, char **dir, unsigned long *last_refresh, char *err);
int recording_write_page(const char *flow_dir, unsigned long refresh, unsigned page, const char *search_path,
                         const char *body, size_t body_len, int status, const buf *answer, char *err);
int list_numbered(const char *dir, const char *suffix, size_t max, char ***out, size_t *count, char *err);
void free_names(char **names, size_t n);

#endif
