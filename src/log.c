#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jsonw.h"
#include "util.h"

static log_level min_level = LOG_INFO;
static int json_format;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level level, int json) {
    min_level = level;
    json_format = json;
}

void log_msg(log_level level, const char *fmt, ...) {
    if (level < min_level) return;
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' '; /* one event, one line */
    char stamp[32];
    format_time_ms(now_ms(), stamp, sizeof stamp);

    buf line;
    /* Escaping can make the message up to 6 times longer (\u00XX); the cap
     * must allow that, or the closing "} and newline would be lost. */
    buf_init(&line, 6 * sizeof message + 128);
    if (json_format) {
        buf_printf(&line, "{\"@timestamp\":\"%s\",\"log.level\":\"%s\",\"message\":\"", stamp, level_names[level]);
        json_escape(&line, message, strlen(message));
        buf_puts(&line, "\"}\n");
    } else {
        buf_printf(&line, "%s %-5s %s\n", stamp, level_names[level], message);
    }
    ssize_t ignored = write(STDERR_FILENO, line.data, line.len);
    (void)ignored;
    buf_free(&line);
}
