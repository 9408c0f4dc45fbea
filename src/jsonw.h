/*
 * jsonw.h - a streaming JSON writer into a bounded buf.
 *
 * The writer inserts commas and colons itself; the caller only says what
 * comes next. Strings are escaped and their UTF-8 validated (an invalid byte
 * becomes U+FFFD), since service names come from data. Numbers that are not
 * finite are written as 0: a graph must never carry NaN or Infinity.
 *
 * Errors are sticky: once the buffer's cap is hit (or nesting passes
 * JSONW_MAX_DEPTH) every later call does nothing and jsonw_failed() is true,
 * so a caller checks once at the end.
 *
 * Calling sequence: jsonw_init(&w, &out) on a buf the caller initialised
 * with its cap; the writer borrows out (the bytes stay the buf's, taken with
 * buf_take() as usual) and owns nothing, so there is nothing to free. A
 * writer belongs to one thread; the helpers that take no jsonw are pure.
 */
#ifndef VIZ_JSONW_H
#define VIZ_JSONW_H

#include <stdbool.h>
#include <stdint.h>

#include "bounds.h"
#include "util.h"

typedef struct {
    buf *out;
    int depth;
    bool first[JSONW_MAX_DEPTH]; /* no element written yet at this depth */
    bool after_key;
    bool failed;
} jsonw;

void jsonw_init(jsonw *w, buf *out);
void jsonw_object_begin(jsonw *w);
void jsonw_object_end(jsonw *w);
void jsonw_array_begin(jsonw *w);
void jsonw_array_end(jsonw *w);
void jsonw_key(jsonw *w, const char *key);
void jsonw_string(jsonw *w, const char *s);
void jsonw_string_n(jsonw *w, const char *s, size_t n);
void jsonw_int(jsonw *w, int64_t v);
void jsonw_double(jsonw *w, double v); /* shortest text that reads back the same */
void jsonw_rate(jsonw *w, double v);   /* rounded to 4 significant digits, plain notation */
void jsonw_bool(jsonw *w, bool v);
void jsonw_null(jsonw *w);
/* A value that is already valid JSON text (the caller guarantees it). */
void jsonw_raw(jsonw *w, const char *json, size_t n);
bool jsonw_failed(const jsonw *w);

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when the
 * bytes are not UTF-8 (overlong forms, surrogates, past U+10FFFF). */
size_t jsonw_utf8_sequence_length(const unsigned char *s, size_t n);
/* Escapes s for JSON into out without quotes (used by logs and metrics).
 * Returns -1 when out's cap was reached. */
int jsonw_escape(buf *out, const char *s, size_t n);
/* The text jsonw_rate() writes (4 significant digits, plain notation below
 * 1e21 and "%.4g" above, "0" for what is not a positive finite number);
 * returns its length. */
size_t jsonw_format_rate(double v, char *out, size_t n);
/* Rounds v to `digits` significant digits. */
double jsonw_round_significant(double v, int digits);

#endif
