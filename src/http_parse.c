/*
 * http_parse.c - the decisions about an HTTP request that need no socket:
 * whether gzip is accepted, whether an ETag matches, whether a path is safe
 * and a header field valid. Kept pure so the unit tests and the fuzzer
 * drive them without a server (http_parse.h).
 */
#include "http_parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Whether an Accept-Encoding value allows gzip (RFC 9110 §12.5.3): an
 * explicit "gzip" (or legacy "x-gzip") decides by its q-value; otherwise
 * "*" does; otherwise no. */
int http_accepts_gzip(const char *value) {
    if (!value) return 0;
    int gzip_q = -1, star_q = -1; /* -1: not mentioned; else q in thousandths */
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *name = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') p++;
        size_t name_len = (size_t)(p - name);
        int q = 1000;
        while (*p && *p != ',') {
            /* Parameters: only q matters. */
            while (*p == ' ' || *p == '\t' || *p == ';') p++;
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                p += 2;
                q = 0;
                if (*p == '1')
                    q = 1000;
                else if (*p == '0' && p[1] == '.') {
                    int scale = 100;
                    for (const char *d = p + 2; isdigit((unsigned char)*d) && scale > 0; d++, scale /= 10)
                        q += (*d - '0') * scale;
                }
            }
            while (*p && *p != ',' && *p != ';') p++;
        }
        if (name_len == 4 && strncasecmp(name, "gzip", 4) == 0)
            gzip_q = q;
        else if (name_len == 6 && strncasecmp(name, "x-gzip", 6) == 0)
            gzip_q = q;
        else if (name_len == 1 && *name == '*')
            star_q = q;
    }
    if (gzip_q >= 0) return gzip_q > 0;
    return star_q > 0;
}

/* A comma-separated list of entity tags or "*", compared weakly (a W/
 * prefix is ignored) as RFC 9110 §13.1.2 asks for this header. */
int http_etag_matches(const char *list, const char *etag) {
    if (!list) return 0;
    size_t etag_len = strlen(etag);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        if (*p == '*') return 1;
        if (p[0] == 'W' && p[1] == '/') p += 2;
        const char *start = p;
        if (*p == '"') {
            const char *close = strchr(p + 1, '"');
            p = close ? close + 1 : p + strlen(p);
        } else {
            while (*p && *p != ',') p++;
        }
        size_t len = (size_t)(p - start);
        while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t')) len--;
        if (len == etag_len && memcmp(start, etag, len) == 0) return 1;
        while (*p && *p != ',') p++;
    }
    return 0;
}

/* Refuses ".." (and any segment starting with a dot, which also keeps
 * files such as .git or .env private) and backslashes, before touching the
 * file system. MHD hands over the URL already percent-decoded, so
 * "%2e%2e" arrives here as "..". */
int http_safe_path(const char *url) {
    if (url[0] != '/') return 0;
    for (const char *p = url; *p; p++) {
        if (*p == '\\') return 0;
        if (*p == '/' && p[1] == '.') return 0;
    }
    return 1;
}

int http_path_inside(const char *resolved, const char *root) {
    size_t n = strlen(root);
    if (strncmp(resolved, root, n) != 0) return 0;
    return resolved[n] == '/' || resolved[n] == '\0' || (n == 1 && root[0] == '/');
}

int http_uri_has_nul(const char *uri) {
    size_t path_len = strcspn(uri, "?");
    for (size_t i = 0; i + 2 < path_len; i++)
        if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0') return 1;
    return 0;
}

const char *http_target_path(const char *target) {
    size_t scheme = strncasecmp(target, "http://", 7) == 0 ? 7 : strncasecmp(target, "https://", 8) == 0 ? 8 : 0;
    if (!scheme) return target;
    const char *path = strchr(target + scheme, '/');
    return path ? path : "/";
}

const char *http_uri_query(const char *uri) {
    const char *q = strchr(uri, '?');
    return q ? q + 1 : NULL;
}

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
 * "_" / "`" / "|" / "~" / DIGIT / ALPHA (RFC 9110 §5.6.2). */
static int is_tchar(unsigned char ch) {
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

int http_field_name_valid(const char *name, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)name[i])) return 0;
    return 1;
}

int http_field_value_valid(const char *value, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 0;
    }
    return 1;
}

int http_host_valid(const char *value, size_t n) {
    size_t i = 0;
    if (n > 0 && value[0] == '[') {
        /* IP-literal: IPv6 (with a zone such as %25eth0, RFC 6874) or
         * IPvFuture: letters, digits, colons, dots and a few more. */
        for (i = 1; i < n && value[i] != ']'; i++)
            if (!isalnum((unsigned char)value[i]) && !(value[i] && strchr(":.-_~%!$&'()*+,;=", value[i]))) return 0;
        if (i == n || i == 1) return 0;
        i++;
    } else {
        /* reg-name: unreserved / pct-encoded / sub-delims. */
        for (; i < n && value[i] != ':'; i++) {
            unsigned char ch = (unsigned char)value[i];
            if (!isalnum(ch) && !(ch && strchr("-._~%!$&'()*+,;=", ch))) return 0;
        }
    }
    if (i == n) return 1;
    if (value[i] != ':') return 0;
    for (i++; i < n; i++)
        if (!isdigit((unsigned char)value[i])) return 0;
    return 1;
}

int http_content_length_parse(const char *value, size_t n, unsigned long long *length, const char **reason) {
    unsigned long long v = 0;
    if (n == 0) return *reason = "an empty Content-Length", -1;
    for (size_t i = 0; i < n; i++) {
        if (value[i] < '0' || value[i] > '9')
            return *reason = "a Content-Length that is not a number (expected digits only)", -1;
        unsigned digit = (unsigned)(value[i] - '0');
        if (v > (HTTP_MAX_CONTENT_LENGTH - digit) / 10)
            return *reason = "a Content-Length too large to be a length", -1;
        v = v * 10 + digit;
    }
    *length = v;
    return 0;
}

unsigned http_head_refusal(const http_head *h, const char **reason) {
    if (h->uri_too_long) {
        *reason = "the request target is too long";
        return 414;
    }
    if (!h->fields_valid) {
        *reason = "a header field has an invalid name or a control byte in its value";
        return 400;
    }
    if (h->length_count > 1) {
        *reason = "more than one Content-Length header";
        return 400;
    }
    if (h->transfer_count > 1 || (h->transfer_count && h->length_count)) {
        *reason = "Transfer-Encoding repeated or with Content-Length";
        return 400;
    }
    if (h->host_count > 1) {
        *reason = "more than one Host header";
        return 400;
    }
    if (h->http11 && h->host_count == 0) {
        *reason = "an HTTP/1.1 request without a Host header";
        return 400;
    }
    if (!h->host_valid) {
        *reason = "an invalid Host header";
        return 400;
    }
    *reason = NULL;
    return 0;
}

const char *http_content_type(const char *path) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"wasm", "application/wasm"},
        {"txt", "text/plain; charset=utf-8"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
    }
    return "application/octet-stream";
}

/* Served UI files are counted as "/static" where they are answered. */
const char *http_metrics_path(const char *url) {
    static const char *const known[] = {"/vizceral.json", "/timeline.json", "/healthz", "/readyz", "/metrics"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(url, known[i]) == 0) return known[i];
    return "/other";
}

/* ---- query strings ---------------------------------------------------- */

static const char *const arg_names[HTTP_ARG_COUNT] = {"at", "from", "to", "step", "region"};

const char *http_arg_name(http_arg a) {
    return a < HTTP_ARG_COUNT ? arg_names[a] : "?";
}

static int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes in[0..n) into out (cap bytes and a NUL). 0, or -1 with
 * *why: too long, a broken escape, an encoded NUL. */
static int query_decode(const char *in, size_t n, char *out, size_t cap, const char **why) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch == '%') {
            int hi = i + 1 < n ? hex_value(in[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) return *why = "a query argument has a broken percent escape (expected %XX)", -1;
            ch = (char)(hi * 16 + lo);
            if (ch == '\0') return *why = "a query argument holds an encoded NUL (%00)", -1;
            i += 2;
        }
        if (o == cap) return *why = "a query argument's value is too long", -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

int http_query_parse(const char *query, size_t n, http_query *q) {
    memset(q, 0, sizeof *q);
    unsigned count = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && query[end] != '&' && query[end] != ';') end++;
        if (end > i) {
            if (++count > HTTP_MAX_QUERY_ARGS) return q->error = "too many query arguments", -1;
            size_t eq = i;
            while (eq < end && query[eq] != '=') eq++;
            size_t name_len = eq - i;
            int known = -1;
            for (int a = 0; a < HTTP_ARG_COUNT; a++)
                if (strlen(arg_names[a]) == name_len && memcmp(query + i, arg_names[a], name_len) == 0) known = a;
            if (known < 0) {
                if (q->unknown++ == 0) {
                    size_t keep = name_len < sizeof q->first_unknown - 1 ? name_len : sizeof q->first_unknown - 1;
                    memcpy(q->first_unknown, query + i, keep);
                    q->first_unknown[keep] = '\0';
                }
            } else {
                if (q->present[known]) return q->error = "a query argument is given twice", -1;
                const char *value = eq < end ? query + eq + 1 : query + end;
                size_t value_len = eq < end ? end - eq - 1 : 0;
                if (query_decode(value, value_len, q->value[known], HTTP_MAX_QUERY_VALUE, &q->error) < 0) return -1;
                q->present[known] = 1;
            }
        }
        i = end + 1;
    }
    return 0;
}
