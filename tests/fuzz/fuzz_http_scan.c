/*
 * fuzz_http_scan.c - the request head scanner (http_scan.h) that decides,
 * from the bytes libmicrohttpd reads, which head vizfeed refuses.
 *
 * Input: two bytes that choose how the rest is split, then the bytes of a
 * connection. The stream is scanned whole, then again in pieces (each piece
 * copied into a buffer of its exact size, so that a read past its end is a
 * sanitizer report). The verdict must be the same both ways; a refusal
 * must place the refused head where the whole scan did (inside the piece
 * that refused, or before it); and the bytes before a refused head, which
 * http_guard.c hands to libmicrohttpd, must not themselves be refused.
 */
#include <string.h>

#include "fuzz.h"
#include "http_scan.h"
#include "util.h"

/* Scans data in pieces whose sizes come from the 16-bit pattern: the
 * verdict, and on a refusal the offset of the piece that refused and the
 * head start it reported. */
static http_scan_verdict scan_split(const uint8_t *data, size_t size, unsigned pattern, size_t *off, size_t *at) {
    http_scan s;
    http_scan_init(&s);
    http_scan_verdict v = HTTP_SCAN_MORE;
    *off = *at = 0;
    unsigned step = 0;
    for (size_t o = 0; o < size;) {
        /* Pieces of 1 to 16 bytes, or the rest when the pattern's bit says so. */
        unsigned bits = (pattern >> (step++ % 4 * 4)) & 0xf;
        size_t len = bits == 0xf ? size - o : (size_t)bits + 1;
        if (len > size - o) len = size - o;
        char *piece = xmalloc(len ? len : 1);
        memcpy(piece, data + o, len);
        v = http_scan_feed(&s, piece, len, at);
        free(piece);
        if (v == HTTP_SCAN_REFUSE) {
            FUZZ_CHECK(s.reason != NULL);
            FUZZ_CHECK(*at <= len);
            *off = o;
            return v;
        }
        if (v == HTTP_SCAN_PASS) return v;
        o += len;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    unsigned pattern = (unsigned)data[0] | (unsigned)data[1] << 8;
    data += 2, size -= 2;

    http_scan whole;
    http_scan_init(&whole);
    char *copy = xmalloc(size ? size : 1);
    memcpy(copy, data, size);
    size_t start;
    http_scan_verdict v = http_scan_feed(&whole, copy, size, &start);
    free(copy);
    FUZZ_CHECK(v == HTTP_SCAN_MORE || v == HTTP_SCAN_PASS || v == HTTP_SCAN_REFUSE);
    if (v == HTTP_SCAN_REFUSE) FUZZ_CHECK(whole.reason != NULL && start <= size);

    size_t off, at;
    http_scan_verdict split = scan_split(data, size, pattern, &off, &at);
    FUZZ_CHECK(split == v);
    if (v == HTTP_SCAN_REFUSE) {
        if (at > 0)
            FUZZ_CHECK(off + at == start);
        else
            FUZZ_CHECK(start <= off);
        /* What is handed over before the refused head passes. */
        size_t prefix_off, prefix_at;
        FUZZ_CHECK(scan_split(data, start, pattern, &prefix_off, &prefix_at) != HTTP_SCAN_REFUSE);
    }
    return 0;
}
