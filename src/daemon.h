#ifndef VIZFEED_DAEMON_H
#define VIZFEED_DAEMON_H

#include <stdbool.h>

#include "config.h"
#include "refresh.h"
#include "snapshot.h"

#define DAEMON_EXIT_RUNTIME 1
#define DAEMON_EXIT_USAGE   2

typedef struct {
    const char *config_path;
    bool demo;
    vizfeed_config *(*load)(void *ctx, char *err);
    void *ctx;
} daemon_options;

int daemon_run(const daemon_options *o);

void log_clamped(const refresh_result *res, bool *said);
void log_regex_skipped(const refresh_result *res, bool *said);
void log_refresh_done(const refresh_result *res, const snapshot *snap);

#endif
