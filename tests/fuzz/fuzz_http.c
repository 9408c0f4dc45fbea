/*
 * fuzz_http.c - HTTP request handling (http_parse.h): the Accept-Encoding
 * and If-None-Match values a client sends, the raw request target and the
 * decoded path a static file is looked up by.
 *
 * Input: up to five NUL- or newline-separated parts: Accept-Encoding,
 * If-None-Match, the ETag it is compared with, the URL, and a root for the
 * inside-check. The raw bytes (NULs included) are also taken as a header
 * field name, a value and a Host value, and the URL as a request target.
 * Besides not crashing, the answers keep their promises: a
 * path accepted as safe has no "/." segment and no backslash and starts
 * with '/'; "*" matches every ETag; a tag always matches itself; a path
 * inside a root starts with it; the Content-Type and metrics label are
 * among the known ones; an accepted header value has no control byte, an
 * accepted name only token bytes, an accepted Host no space, slash or '@';
 * the path of a target is a suffix of it or "/"; a head with two
 * Content-Length fields is always refused; the query parser (the target's
 * query and the raw bytes as one) keeps every value within its bound and
 * gives a reason when it refuses.
 */
#include <string.h>

#include "fuzz.h"
#include "http_parse.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = xmalloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *part[5] = {"", "", "\"abc\"", "/", "/srv/ui"};
    char *p = copy;
    for (int i = 0; i < 5; i++) {
        part[i] = p;
        char *newline = strchr(p, '\n');
        if (!newline) break;
        *newline = '\0';
        p = newline + 1;
    }
    const char *accept = part[0], *if_none_match = part[1], *etag = part[2], *url = part[3], *root = part[4];

    int gzip = http_accepts_gzip(accept);
    FUZZ_CHECK(gzip == 0 || gzip == 1);
    FUZZ_CHECK(http_accepts_gzip(NULL) == 0);

    int match = http_etag_matches(if_none_match, etag);
    FUZZ_CHECK(match == 0 || match == 1);
    FUZZ_CHECK(http_etag_matches("*", etag) == 1);
    FUZZ_CHECK(http_etag_matches(NULL, etag) == 0);
    if (etag[0] == '"' && strlen(etag) >= 2 && etag[strlen(etag) - 1] == '"' && !strchr(etag + 1, '"')[1] &&
        !strchr(etag, ','))
        FUZZ_CHECK(http_etag_matches(etag, etag) == 1);

    if (http_safe_path(url)) {
        FUZZ_CHECK(url[0] == '/');
        FUZZ_CHECK(!strstr(url, "/."));
        FUZZ_CHECK(!strchr(url, '\\'));
    }
    (void)http_uri_has_nul(url);
    if (strstr(url, "%00") && !strchr(url, '?')) FUZZ_CHECK(http_uri_has_nul(url));

    if (http_path_inside(url, root)) FUZZ_CHECK(strncmp(url, root, strlen(root)) == 0);

    const char *raw = (const char *)data;
    if (http_field_value_valid(raw, size))
        for (size_t i = 0; i < size; i++) FUZZ_CHECK((unsigned char)raw[i] >= 0x20 || raw[i] == '\t');
    if (http_field_name_valid(raw, size))
        for (size_t i = 0; i < size; i++) FUZZ_CHECK(raw[i] > 0x20 && raw[i] < 0x7f && raw[i] != ':');
    if (http_host_valid(raw, size))
        FUZZ_CHECK(!memchr(raw, ' ', size) && !memchr(raw, '/', size) && !memchr(raw, '@', size));
    const char *path = http_target_path(url);
    FUZZ_CHECK(strcmp(path, "/") == 0 || (path >= url && path <= url + strlen(url)));
    const char *query = http_uri_query(url);
    if (query) FUZZ_CHECK(query > url && query[-1] == '?');
    /* The query parser (issue 15) on the target's query and on the raw
     * bytes: bounded values, no NUL inside one, a reason when it refuses. */
    http_query q;
    const char *queries[2] = {query ? query : "", raw};
    size_t lengths[2] = {query ? strlen(query) : 0, size};
    for (int k = 0; k < 2; k++) {
        if (http_query_parse(queries[k], lengths[k], &q) < 0) {
            FUZZ_CHECK(q.error && q.error[0]);
            continue;
        }
        FUZZ_CHECK(q.error == NULL);
        for (int a = 0; a < HTTP_ARG_COUNT; a++) {
            FUZZ_CHECK(strlen(q.value[a]) <= HTTP_MAX_QUERY_VALUE);
            if (!q.present[a]) FUZZ_CHECK(q.value[a][0] == '\0');
        }
        FUZZ_CHECK(strlen(q.first_unknown) < sizeof q.first_unknown);
        FUZZ_CHECK(q.unknown <= HTTP_MAX_QUERY_ARGS);
    }
    http_head head = {.http11 = size > 0 && data[0] & 1,
                      .host_count = size > 1 ? data[1] % 3 : 1,
                      .host_valid = 1,
                      .fields_valid = 1,
                      .length_count = size > 2 ? data[2] % 3 : 0};
    const char *reason;
    unsigned code = http_head_refusal(&head, &reason);
    FUZZ_CHECK(code == 0 || ((code == 400 || code == 414) && reason && reason[0]));
    if (head.length_count > 1) FUZZ_CHECK(code == 400);

    const char *type = http_content_type(url);
    FUZZ_CHECK(type && type[0]);
    const char *label = http_metrics_path(url);
    FUZZ_CHECK(label[0] == '/');
    free(copy);
    return 0;
}
