/*
 * log.c - writes one line per event to stderr, as text or JSON (log.h),
 * each with a single write() so lines from different threads never
 * interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jsonw.h"
#include "util.h"

static log_level min_level = LOG_LEVEL_INFO;
static int json_format;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level level, int json) {
    min_level = level;
    json_format = json;
}

/* The code point of the valid UTF-8 sequence at s (at most n bytes) and its
 * length in *len; *len is 0 when the bytes are not UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included). */
static unsigned utf8_decode(const unsigned char *s, size_t n, size_t *len) {
    unsigned char c = s[0];
    unsigned cp;
    size_t k;
    *len = 0;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4, cp = c & 0x07;
    else
        return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    *len = k;
    return cp;
}

/* Characters a terminal or a log viewer acts on instead of showing: C1
 * controls (U+009B is CSI on many terminals), the line and paragraph
 * separators, and the invisible and direction-changing marks that can make
 * a line read differently from what it holds. */
static bool acts_on_display(unsigned cp) {
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

void log_escape(buf *out, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = 1;
        if (c == '\n' || c == '\r' || c == '\t') {
            buf_putc(out, ' '); /* one event, one line; a multi-line reason reads on as one */
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(out, "\\x%02x", c); /* ESC and the other controls, shown, never acted on */
        } else if (c < 0x80) {
            buf_putc(out, (char)c);
        } else {
            unsigned cp = utf8_decode(s + i, n - i, &len);
            if (len == 0) {
                len = 1;
                buf_printf(out, "\\x%02x", c); /* not UTF-8: the byte's value */
            } else if (acts_on_display(cp)) {
                buf_printf(out, "\\u%04x", cp);
            } else {
                buf_append(out, s + i, len);
            }
        }
        i += len;
    }
}

/* One line, one write(2): lines of different threads never interleave. */
static void write_line(const buf *line) {
    ssize_t ignored = write(STDERR_FILENO, line->data, line->len);
    (void)ignored;
}

/* key: NULL, or a field written after "message" in the JSON format only. */
static void log_vmsg(log_level level, const char *key, long value, const char *fmt, va_list ap) {
    char message[2048];
    vsnprintf(message, sizeof message, fmt, ap);
    char stamp[32];
    util_format_time_ms(util_now_ms(), stamp, sizeof stamp);

    /* Escaping makes the message at most 6 times longer (\u202e for 3
     * bytes, \x1b for 1, then JSON's \\ for each backslash); the caps allow
     * that, or the closing "} and newline would be lost. */
    buf text, line;
    buf_init(&text, 4 * sizeof message + 64);
    buf_init(&line, 6 * sizeof message + 128);
    log_escape(&text, message, strlen(message));
    if (json_format) {
        buf_printf(&line, "{\"@timestamp\":\"%s\",\"log.level\":\"%s\",\"message\":\"", stamp, level_names[level]);
        jsonw_escape(&line, text.data ? text.data : "", text.len);
        buf_putc(&line, '"');
        if (key) buf_printf(&line, ",\"%s\":%ld", key, value);
        buf_puts(&line, "}\n");
    } else {
        buf_printf(&line, "%s %-5s ", stamp, level_names[level]);
        buf_append(&line, text.data ? text.data : "", text.len);
        buf_putc(&line, '\n');
    }
    write_line(&line);
    buf_free(&text);
    buf_free(&line);
}

void log_msg(log_level level, const char *fmt, ...) {
    if (level < min_level) return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_msg_field(log_level level, const char *key, long value, const char *fmt, ...) {
    if (level < min_level) return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, key, value, fmt, ap);
    va_end(ap);
}

void log_plain(const char *fmt, ...) {
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    buf line;
    buf_init(&line, 4 * sizeof message + 16);
    buf_puts(&line, "vizfeed: ");
    log_escape(&line, message, strlen(message));
    buf_putc(&line, '\n');
    write_line(&line);
    buf_free(&line);
}
