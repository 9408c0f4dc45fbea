/*
 * http_scan.c - request head framing, scanned byte by byte as it arrives
 * (see http_scan.h). A small state machine: nothing is buffered but a
 * Content-Length value, so a head split anywhere gives the same verdict.
 */
#include "http_scan.h"

#include <string.h>

#include "http_parse.h"

/* Where in a head the next byte goes. */
enum {
    BEFORE_HEAD,  /* empty lines before a request line are skipped */
    REQUEST_LINE, /* the rest of the request line */
    LINE_START,   /* the first byte of a field line, or the empty line ending the head */
    NAME,         /* a field name that may still be a framing one */
    OTHER_LINE,   /* the rest of a line that is not a framing field */
    VALUE,        /* a Content-Length value */
};

enum { FIELD_NONE, FIELD_LENGTH, FIELD_TRANSFER };

static const char length_name[] = "content-length";
static const char transfer_name[] = "transfer-encoding";

void http_scan_init(http_scan *s) {
    memset(s, 0, sizeof *s);
    s->verdict = HTTP_SCAN_MORE;
    s->where = BEFORE_HEAD;
}

static void refuse(http_scan *s, const char *reason) {
    s->verdict = HTTP_SCAN_REFUSE;
    s->reason = reason;
}

/* A Content-Length line ended: its value (leading blanks skipped, the CR
 * of a CRLF dropped) decides. */
static void end_length(http_scan *s) {
    unsigned long long length;
    const char *reason;
    if (s->value_too_long)
        refuse(s, "a Content-Length too long to be a length");
    else if (http_content_length_parse(s->value, s->value_len, &length, &reason) < 0)
        refuse(s, reason);
    else if (length > 0)
        s->body = true;
}

static void keep_value_byte(http_scan *s, char ch) {
    if (s->value_len == sizeof s->value)
        s->value_too_long = true;
    else
        s->value[s->value_len++] = ch;
}

/* The field name a line starts with, one byte at a time, without case. */
static void name_byte(http_scan *s, unsigned char ch) {
    const char *name = s->field == FIELD_LENGTH ? length_name : transfer_name;
    size_t name_len = s->field == FIELD_LENGTH ? sizeof length_name - 1 : sizeof transfer_name - 1;
    if (ch == ':' && s->matched == name_len) {
        if (s->field == FIELD_LENGTH) {
            s->where = VALUE;
            s->value_len = 0;
            s->value_too_long = false;
        } else {
            s->body = true; /* chunked or not: vizfeed closes after the answer */
            s->where = OTHER_LINE;
        }
        return;
    }
    unsigned char lower = ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + ('a' - 'A')) : ch;
    if (s->matched < name_len && lower == (unsigned char)name[s->matched])
        s->matched++;
    else
        s->where = OTHER_LINE;
}

http_scan_verdict http_scan_feed(http_scan *s, const char *data, size_t n, size_t *head_start) {
    *head_start = 0;
    size_t start = 0; /* where the current head started in data */
    for (size_t i = 0; i < n && s->verdict == HTTP_SCAN_MORE; i++) {
        if (s->where == REQUEST_LINE || s->where == OTHER_LINE) {
            /* Most bytes of a head are in lines that decide nothing: skip
             * to the line's end at memchr's speed (a byte-wise walk cost
             * 4 ns a byte, 1.2 us for a browser's 300-byte head). */
            const char *line_end = memchr(data + i, '\n', n - i);
            if (!line_end) {
                s->cr = data[n - 1] == '\r';
                break;
            }
            i = (size_t)(line_end - data);
        }
        unsigned char ch = (unsigned char)data[i];
        bool cr = s->cr;
        s->cr = ch == '\r';
        if (ch == '\n') {
            /* A line ends (a CR right before it is part of the CRLF). */
            switch (s->where) {
            case BEFORE_HEAD:
                break;
            case LINE_START:
                /* The empty line: the head is complete. */
                if (s->body) {
                    s->verdict = HTTP_SCAN_PASS;
                } else {
                    s->where = BEFORE_HEAD;
                    s->after_length = false;
                    start = i + 1;
                }
                break;
            case VALUE:
                end_length(s);
                s->after_length = true;
                s->where = LINE_START;
                break;
            default:
                s->after_length = false;
                s->where = LINE_START;
                break;
            }
            continue;
        }
        /* A CR is held back until the next byte tells whether it ends the
         * line; any other byte makes a held CR part of the line. */
        switch (s->where) {
        case BEFORE_HEAD:
            if (ch != '\r') s->where = REQUEST_LINE;
            break;
        case REQUEST_LINE:
        case OTHER_LINE:
            break;
        case LINE_START:
            if (ch == '\r' && !cr) break; /* perhaps the empty line's CRLF */
            if (!cr && (ch == ' ' || ch == '\t')) {
                /* A folded line: libmicrohttpd appends it to the value
                 * before, without even a space. */
                if (s->after_length) refuse(s, "a Content-Length folded onto a second line");
                s->where = OTHER_LINE;
                break;
            }
            s->after_length = false;
            if (cr) {
                s->where = OTHER_LINE; /* a line starting with a bare CR names no field */
                break;
            }
            s->field = ch == 'c' || ch == 'C' ? FIELD_LENGTH : ch == 't' || ch == 'T' ? FIELD_TRANSFER : FIELD_NONE;
            s->matched = 0;
            if (s->field == FIELD_NONE) {
                s->where = OTHER_LINE;
                break;
            }
            s->where = NAME;
            name_byte(s, ch);
            break;
        case NAME:
            if (cr) {
                s->where = OTHER_LINE;
                break;
            }
            if (ch != '\r') name_byte(s, ch);
            break;
        case VALUE:
            if (cr) keep_value_byte(s, '\r');
            if (ch == '\r') break;
            /* libmicrohttpd drops the blanks before a value, not after. */
            if (s->value_len == 0 && !s->value_too_long && (ch == ' ' || ch == '\t')) break;
            keep_value_byte(s, (char)ch);
            break;
        }
    }
    if (s->verdict == HTTP_SCAN_REFUSE) *head_start = start;
    return s->verdict;
}
