/*
 * log.h - one line per event on stderr, as text (default) or JSON with
 * ECS-style keys ("@timestamp", "log.level", "message").
 *
 * Only main.c and the daemon's long-running loops log; library modules return
 * errors to their caller instead. Thread-safe: each line is written with one
 * write(2) call, so lines of different threads never interleave.
 */
#ifndef VIZ_LOG_H
#define VIZ_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_setup(log_level min_level, int json);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
