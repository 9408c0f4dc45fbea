/*
 * log.h - one line per event on stderr, as text (default) or JSON with
 * ECS-style keys ("@timestamp", "log.level", "message").
 *
 * Only main.c and what runs in long-running loops log: the daemon and its
 * refresher (a flow's partial answers, the output file's leftovers), the
 * HTTP server (libmicrohttpd's own messages) and `vizfeed pull`. Library
 * modules return errors to their caller instead.
 *
 * Calling sequence: log_setup() once, from main() before any other thread
 * starts (it sets plain globals); until then, info and above are written as
 * text. Afterwards every function is thread-safe: each line is written with
 * one write(2) call, so lines of different threads never interleave.
 *
 * Messages carry text from outside (Elasticsearch's error reasons, file
 * names, configuration values, request paths), so every message is escaped
 * here, whatever the format, before it reaches stderr (log_escape): a line
 * feed or carriage return becomes a space, so an event stays one line and no
 * line can be forged; other control bytes (ESC first) become \xHH, C1
 * controls, line separators and bidirectional or invisible marks \uHHHH, and
 * bytes that are not UTF-8 \xHH, so nothing reaches a terminal that it would
 * act on rather than show. The JSON format escapes the result for JSON.
 */
#ifndef VIZ_LOG_H
#define VIZ_LOG_H

#include <stddef.h>

#include "util.h"

typedef enum { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level;

void log_setup(log_level min_level, int json);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_msg plus one integer field for programs to read: in the JSON format
 * "key":value follows "message" on the same line; the text format shows the
 * message alone. key is the caller's constant (not escaped). The daemon's
 * startup line carries "server.port", the port it bound (--listen ADDR:0). */
void log_msg_field(log_level level, const char *key, long value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "vizfeed: MESSAGE" on stderr, escaped as above: the error line of the
 * commands (check, once, query) and of usage errors. */
void log_plain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends s escaped for a log line (see above) to out. */
void log_escape(buf *out, const char *s, size_t n);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
