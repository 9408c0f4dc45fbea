/* Unit tests of http.c: every route of SPEC §4 over real loopback HTTP,
 * with libcurl as the client. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libdeflate.h>

#include "http.h"
#include "bounds.h"
#include "metrics_internal.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char tmp[64];     /* holds ui/ and outside/ */
static char ui_dir[128]; /* served at / */

typedef struct {
    long code;
    buf body;
    buf headers;
    long num_connects;
} reply;

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
    return buf_append(userdata, data, size * n) == 0 ? size * n : 0;
}

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int make_tree(void **state) {
    metrics_reset();
    metrics_declare_all();
    snprintf(tmp, sizeof tmp, "/tmp/vizfeed-http-XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    snprintf(ui_dir, sizeof ui_dir, "%s/ui", tmp);
    char p[256];
    mkdir(ui_dir, 0755);
    snprintf(p, sizeof p, "%s/ui/sub", tmp), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/ui/empty", tmp), mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/outside", tmp), mkdir(p, 0755);
    write_file("ui/index.html", "<!doctype html><title>vizfeed</title>");
    write_file("ui/app.js", "console.log('hi');");
    write_file("ui/style.css", "body{}");
    write_file("ui/logo.svg", "<svg/>");
    write_file("ui/sub/index.html", "sub index");
    write_file("ui/.hidden", "private");
    write_file("ui/file..name.txt", "dots inside a name are fine");
    write_file("outside/secret.txt", "secret");
    write_file("ui/empty.txt", "");
    write_file("ui/huge.bin", "");
    snprintf(p, sizeof p, "%s/ui/huge.bin", tmp);
    if (truncate(p, (off_t)HTTP_MAX_STATIC_FILE + 1) < 0) return -1; /* sparse: costs no disk */
    char target[256];
    snprintf(target, sizeof target, "%s/outside", tmp);
    snprintf(p, sizeof p, "%s/ui/escape", tmp);
    if (symlink(target, p) < 0) return -1;
    snprintf(target, sizeof target, "%s/outside/secret.txt", tmp);
    snprintf(p, sizeof p, "%s/ui/secret-link.txt", tmp);
    if (symlink(target, p) < 0) return -1;
    snprintf(p, sizeof p, "%s/ui/inner-link.js", tmp);
    if (symlink("app.js", p) < 0) return -1;
    return 0;
}

static int remove_tree(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    int rc = system(cmd);
    metrics_reset();
    return rc == 0 ? 0 : -1;
}

static int fresh_metrics(void **state) {
    metrics_reset();
    metrics_declare_all();
    return 0;
}

static http_server *start(int64_t interval_ms) {
    http_options o = {
        .listen = "127.0.0.1:0", .cors_origin = "https://viz.example", .ui_dir = ui_dir, .interval_ms = interval_ms};
    char err[ERR_LEN] = "";
    http_server *h = http_start(&o, err);
    if (!h) print_error("http_start: %s\n", err);
    assert_non_null(h);
    assert_true(http_port(h) > 0);
    return h;
}

static void publish_json(http_server *h, const char *json, int64_t refreshed_mono_ms) {
    char err[ERR_LEN];
    snapshot *s = snapshot_new(xstrdup(json), strlen(json), 1767225600000, refreshed_mono_ms, err);
    assert_non_null(s);
    sink *k = http_sink(h);
    assert_int_equal(k->ops->publish(k, s, err), 0);
    snapshot_unref(s);
}

/* One request on handle c; extra is a NULL-terminated list of headers. */
static void request(CURL *c, http_server *h, const char *method, const char *path, const char *const *extra, reply *r) {
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_port(h), path);
    buf_init(&r->body, 64u << 20);
    buf_init(&r->headers, 1 << 20);
    struct curl_slist *list = NULL;
    for (int i = 0; extra && extra[i]; i++) list = curl_slist_append(list, extra[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* send ../ as written */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    else if (strcmp(method, "GET") == 0)
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L), curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) print_error("%s %s: %s\n", method, path, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->num_connects);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(list);
}

static void fetch(http_server *h, const char *method, const char *path, const char *const *extra, reply *r) {
    CURL *c = curl_easy_init();
    request(c, h, method, path, extra, r);
    curl_easy_cleanup(c);
}

static void reply_free(reply *r) {
    buf_free(&r->body);
    buf_free(&r->headers);
}

/* The value of a response header ("" when absent), copied into out. */
static const char *header(const reply *r, const char *name, char *out, size_t outlen) {
    out[0] = '\0';
    size_t n = strlen(name);
    const char *p = r->headers.data;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol) break;
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ') v++;
            snprintf(out, outlen, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return out;
}

static int has_header(const reply *r, const char *name) {
    char v[512];
    header(r, name, v, sizeof v);
    /* Present with an empty value is not something any route sends. */
    return v[0] != '\0';
}

#define assert_header(r, name, expected)                                                                               \
    do {                                                                                                               \
        char value_[1024];                                                                                             \
        assert_string_equal(header((r), (name), value_, sizeof value_), (expected));                                   \
    } while (0)

static void before_the_first_graph_the_json_is_503_with_retry_after(void **state) {
    http_server *h = start(10000);
    reply r;
    fetch(h, "GET", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 503);
    assert_header(&r, "Retry-After", "10");
    assert_header(&r, "Content-Type", "application/json");
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    assert_non_null(strstr(buf_cstr(&r.body), "\"error\":\"no graph yet\""));
    assert_non_null(strstr(buf_cstr(&r.body), "\"reason\":"));
    reply_free(&r);
    fetch(h, "GET", "/readyz", NULL, &r);
    assert_int_equal(r.code, 503);
    assert_non_null(strstr(buf_cstr(&r.body), "\"ready\":false"));
    reply_free(&r);
    /* Retry-After is whole seconds, at least one. */
    http_options o = {.listen = "", .cors_origin = "*", .ui_dir = ui_dir, .interval_ms = 1500};
    http_update_options(h, &o);
    fetch(h, "HEAD", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 503);
    assert_header(&r, "Retry-After", "2");
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    reply_free(&r);
    http_stop(h);
}

static void the_graph_is_served_identity_and_gzip_with_every_header(void **state) {
    http_server *h = start(10000);
    buf json;
    buf_init(&json, 1 << 20);
    buf_puts(&json, "{\"renderer\":\"global\",\"nodes\":[");
    for (int i = 0; i < 3000; i++) buf_printf(&json, "%s{\"name\":\"svc-%d\"}", i ? "," : "", i);
    buf_puts(&json, "]}");
    publish_json(h, buf_cstr(&json), util_monotonic_ms());

    reply r;
    fetch(h, "GET", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body.len, json.len);
    assert_memory_equal(r.body.data, json.data, json.len);
    assert_header(&r, "Content-Type", "application/json");
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    assert_header(&r, "Cache-Control", "no-cache");
    assert_header(&r, "Vary", "Accept-Encoding");
    assert_false(has_header(&r, "Content-Encoding"));
    char etag[128];
    header(&r, "ETag", etag, sizeof etag);
    assert_int_equal(strlen(etag), 18);
    assert_int_equal(etag[0], '"'); /* strong: no W/ */
    reply_free(&r);

    const char *const gzip[] = {"Accept-Encoding: gzip, deflate", NULL};
    fetch(h, "GET", "/vizceral.json", gzip, &r);
    assert_int_equal(r.code, 200);
    assert_header(&r, "Content-Encoding", "gzip");
    assert_header(&r, "Content-Type", "application/json");
    assert_header(&r, "Vary", "Accept-Encoding");
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    assert_header(&r, "Cache-Control", "no-cache");
    char etag_gzip[128];
    header(&r, "ETag", etag_gzip, sizeof etag_gzip);
    assert_string_not_equal(etag, etag_gzip);
    assert_true(r.body.len < json.len / 4);
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    char *plain = xmalloc(json.len);
    size_t plain_len = 0;
    assert_int_equal(libdeflate_gzip_decompress(d, r.body.data, r.body.len, plain, json.len, &plain_len),
                     LIBDEFLATE_SUCCESS);
    assert_int_equal(plain_len, json.len);
    assert_memory_equal(plain, json.data, json.len);
    free(plain);
    libdeflate_free_decompressor(d);
    reply_free(&r);
    buf_free(&json);
    http_stop(h);
}

static void accept_encoding_q_values_are_honoured(void **state) {
    http_server *h = start(10000);
    publish_json(h, "{\"a\":1}", util_monotonic_ms());
    static const struct {
        const char *header;
        int gzip;
    } cases[] = {
        {"Accept-Encoding: gzip", 1},
        {"Accept-Encoding: GZIP;q=0.5", 1},
        {"Accept-Encoding: br, gzip;q=0.001", 1},
        {"Accept-Encoding: gzip;q=0", 0},
        {"Accept-Encoding: gzip; q=0.000", 0},
        {"Accept-Encoding: *", 1},
        {"Accept-Encoding: *;q=0", 0},
        {"Accept-Encoding: gzip;q=0, *", 0},
        {"Accept-Encoding: identity", 0},
        {"Accept-Encoding: deflate, br", 0},
        {"Accept-Encoding: x-gzip", 1},
        {"Accept-Encoding: gzipx", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const extra[] = {cases[i].header, NULL};
        reply r;
        fetch(h, "GET", "/vizceral.json", extra, &r);
        assert_int_equal(r.code, 200);
        if (has_header(&r, "Content-Encoding") != cases[i].gzip) print_error("case: %s\n", cases[i].header);
        assert_int_equal(has_header(&r, "Content-Encoding"), cases[i].gzip);
        reply_free(&r);
    }
    http_stop(h);
}

static void matching_if_none_match_answers_304_per_representation(void **state) {
    http_server *h = start(10000);
    publish_json(h, "{\"v\":1}", util_monotonic_ms());
    reply r;
    char etag[128], etag_gzip[128], line[300];
    fetch(h, "GET", "/vizceral.json", NULL, &r);
    header(&r, "ETag", etag, sizeof etag);
    reply_free(&r);
    const char *const gzip[] = {"Accept-Encoding: gzip", NULL};
    fetch(h, "GET", "/vizceral.json", gzip, &r);
    header(&r, "ETag", etag_gzip, sizeof etag_gzip);
    reply_free(&r);

    /* identity */
    snprintf(line, sizeof line, "If-None-Match: %s", etag);
    const char *const inm[] = {line, NULL};
    fetch(h, "GET", "/vizceral.json", inm, &r);
    assert_int_equal(r.code, 304);
    assert_int_equal(r.body.len, 0);
    assert_header(&r, "ETag", etag);
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    assert_header(&r, "Vary", "Accept-Encoding");
    reply_free(&r);
    /* the gzip ETag does not validate the identity representation */
    snprintf(line, sizeof line, "If-None-Match: %s", etag_gzip);
    fetch(h, "GET", "/vizceral.json", inm, &r);
    assert_int_equal(r.code, 200);
    reply_free(&r);
    /* gzip, in a list, weak form */
    snprintf(line, sizeof line, "If-None-Match: \"nope\", W/%s", etag_gzip);
    const char *const inm_gzip[] = {line, "Accept-Encoding: gzip", NULL};
    fetch(h, "GET", "/vizceral.json", inm_gzip, &r);
    assert_int_equal(r.code, 304);
    assert_header(&r, "ETag", etag_gzip);
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    reply_free(&r);
    /* "*" matches whatever is current */
    const char *const star[] = {"If-None-Match: *", NULL};
    fetch(h, "GET", "/vizceral.json", star, &r);
    assert_int_equal(r.code, 304);
    reply_free(&r);
    /* HEAD validates too */
    snprintf(line, sizeof line, "If-None-Match: %s", etag);
    fetch(h, "HEAD", "/vizceral.json", inm, &r);
    assert_int_equal(r.code, 304);
    reply_free(&r);
    /* a new graph makes the old ETag stale */
    publish_json(h, "{\"v\":2}", util_monotonic_ms());
    fetch(h, "GET", "/vizceral.json", inm, &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(buf_cstr(&r.body), "{\"v\":2}");
    char etag2[128];
    assert_string_not_equal(header(&r, "ETag", etag2, sizeof etag2), etag);
    reply_free(&r);
    http_stop(h);
}

static void head_has_the_headers_and_no_body(void **state) {
    http_server *h = start(10000);
    publish_json(h, "{\"head\":true}", util_monotonic_ms());
    reply r;
    fetch(h, "HEAD", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body.len, 0);
    assert_header(&r, "Content-Length", "13");
    assert_header(&r, "Content-Type", "application/json");
    assert_true(has_header(&r, "ETag"));
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    reply_free(&r);
    http_stop(h);
}

static void options_is_a_cors_preflight_on_any_path(void **state) {
    http_server *h = start(10000);
    const char *paths[] = {"/vizceral.json", "/anything/else", "/"};
    for (size_t i = 0; i < 3; i++) {
        reply r;
        const char *const extra[] = {"Origin: https://other.example", "Access-Control-Request-Method: GET", NULL};
        fetch(h, "OPTIONS", paths[i], extra, &r);
        assert_int_equal(r.code, 204);
        assert_int_equal(r.body.len, 0);
        assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
        assert_header(&r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
        assert_header(&r, "Access-Control-Allow-Headers", "If-None-Match, Content-Type, Authorization");
        assert_header(&r, "Access-Control-Max-Age", "600");
        reply_free(&r);
    }
    http_stop(h);
}

static void health_readiness_and_metrics(void **state) {
    http_server *h = start(50); /* readiness limit: 150 ms */
    reply r;
    fetch(h, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(buf_cstr(&r.body), "{\"status\":\"ok\"}\n");
    assert_header(&r, "Content-Type", "application/json");
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    reply_free(&r);

    publish_json(h, "{}", util_monotonic_ms());
    fetch(h, "GET", "/readyz", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "\"ready\":true"));
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    reply_free(&r);
    usleep(200 * 1000);
    fetch(h, "GET", "/readyz", NULL, &r);
    assert_int_equal(r.code, 503);
    assert_non_null(strstr(buf_cstr(&r.body), "\"ready\":false"));
    assert_non_null(strstr(buf_cstr(&r.body), "\"reason\":\"last successful refresh"));
    assert_header(&r, "Content-Type", "application/json");
    reply_free(&r);
    /* a fresh refresh makes it ready again */
    publish_json(h, "{}", util_monotonic_ms());
    fetch(h, "GET", "/readyz", NULL, &r);
    assert_int_equal(r.code, 200);
    reply_free(&r);

    /* stale snapshot: age ~10 s */
    publish_json(h, "{}", util_monotonic_ms() - 10000);
    fetch(h, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    const char *text = buf_cstr(&r.body);
    assert_non_null(strstr(text, "# TYPE vizfeed_http_requests_total counter\n"));
    assert_non_null(strstr(text, "vizfeed_http_requests_total{path=\"/healthz\",code=\"200\"} 1\n"));
    assert_non_null(strstr(text, "vizfeed_http_requests_total{path=\"/readyz\",code=\"200\"} 2\n"));
    assert_non_null(strstr(text, "vizfeed_http_requests_total{path=\"/readyz\",code=\"503\"} 1\n"));
    const char *age = strstr(text, "\nvizfeed_snapshot_age_seconds ");
    assert_non_null(age);
    double seconds = strtod(age + strlen("\nvizfeed_snapshot_age_seconds "), NULL);
    assert_true(seconds >= 10 && seconds < 60);
    reply_free(&r);
    fetch(h, "GET", "/metrics", NULL, &r);
    assert_non_null(strstr(buf_cstr(&r.body), "vizfeed_http_requests_total{path=\"/metrics\",code=\"200\"} 1\n"));
    reply_free(&r);
    http_stop(h);
}

static void unknown_paths_are_404_and_other_methods_405(void **state) {
    http_server *h = start(10000);
    reply r;
    fetch(h, "GET", "/nope", NULL, &r);
    assert_int_equal(r.code, 404);
    assert_header(&r, "Content-Type", "application/json");
    assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
    assert_string_equal(buf_cstr(&r.body), "{\"error\":\"not found\"}\n");
    reply_free(&r);
    const char *methods[] = {"DELETE", "PUT", "PATCH", "TRACE"};
    for (size_t i = 0; i < 4; i++) {
        fetch(h, methods[i], "/vizceral.json", NULL, &r);
        assert_int_equal(r.code, 405);
        assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
        assert_header(&r, "Content-Type", "application/json");
        assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
        assert_non_null(strstr(buf_cstr(&r.body), "\"error\":\"method not allowed\""));
        reply_free(&r);
    }
    /* A request with a body is refused before the body is read. */
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "a=1&b=2");
    request(c, h, "POST", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 405);
    assert_header(&r, "Allow", "GET, HEAD, OPTIONS");
    reply_free(&r);
    curl_easy_cleanup(c);
    assert_true(metrics_get("vizfeed_http_requests_total", "path=\"/vizceral.json\",code=\"405\"") == 5);
    assert_true(metrics_get("vizfeed_http_requests_total", "path=\"/other\",code=\"404\"") == 1);
    http_stop(h);
}

static void static_files_are_served_from_ui_dir(void **state) {
    http_server *h = start(10000);
    static const struct {
        const char *path, *body, *type;
    } ok[] = {
        {"/", "<!doctype html><title>vizfeed</title>", "text/html; charset=utf-8"},
        {"/index.html", "<!doctype html><title>vizfeed</title>", "text/html; charset=utf-8"},
        {"/app.js", "console.log('hi');", "text/javascript; charset=utf-8"},
        {"/style.css", "body{}", "text/css; charset=utf-8"},
        {"/logo.svg", "<svg/>", "image/svg+xml"},
        {"/sub/", "sub index", "text/html; charset=utf-8"},
        {"/sub", "sub index", "text/html; charset=utf-8"},
        {"/file..name.txt", "dots inside a name are fine", "text/plain; charset=utf-8"},
        {"/inner-link.js", "console.log('hi');", "text/javascript; charset=utf-8"},
        {"/app.js?v=123", "console.log('hi');", "text/javascript; charset=utf-8"},
        {"/empty.txt", "", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        reply r;
        fetch(h, "GET", ok[i].path, NULL, &r);
        if (r.code != 200) print_error("path %s\n", ok[i].path);
        assert_int_equal(r.code, 200);
        assert_string_equal(buf_cstr(&r.body), ok[i].body);
        assert_header(&r, "Content-Type", ok[i].type);
        assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
        reply_free(&r);
    }
    reply r;
    fetch(h, "HEAD", "/app.js", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body.len, 0);
    assert_header(&r, "Content-Length", "18");
    reply_free(&r);
    assert_true(metrics_get("vizfeed_http_requests_total", "path=\"/static\",code=\"200\"") == 12);
    http_stop(h);
}

static void paths_cannot_escape_ui_dir(void **state) {
    http_server *h = start(10000);
    const char *refused[] = {
        "/../outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/sub/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%2foutside/secret.txt",
        "/%2e%2e%2foutside%2fsecret.txt",
        "/escape/secret.txt",
        "/secret-link.txt",
        "/.hidden",
        "/index.html%00.png",
        "/empty/",
        "/missing.js",
        "/sub/..",
        "/..",
        "/app.js/",
        "/huge.bin",
        "/..\\outside\\secret.txt",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        reply r;
        fetch(h, "GET", refused[i], NULL, &r);
        if (r.code != 404) print_error("path %s answered %ld\n", refused[i], r.code);
        assert_int_equal(r.code, 404);
        assert_null(strstr(buf_cstr(&r.body), "secret"));
        assert_null(strstr(buf_cstr(&r.body), "private"));
        reply_free(&r);
    }
    http_stop(h);
}

static void no_ui_dir_means_404_for_pages(void **state) {
    http_options o = {.listen = "127.0.0.1:0", .cors_origin = "*", .ui_dir = "", .interval_ms = 1000};
    char err[ERR_LEN];
    http_server *h = http_start(&o, err);
    assert_non_null(h);
    reply r;
    fetch(h, "GET", "/", NULL, &r);
    assert_int_equal(r.code, 404);
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    reply_free(&r);
    http_stop(h);
}

/* A missing ui_dir is not fatal (a feeder-only deployment has no page);
 * the page is served as soon as the directory appears. */
static void a_missing_ui_dir_is_picked_up_when_it_appears(void **state) {
    char later[256], p[300];
    snprintf(later, sizeof later, "%s/later", tmp);
    http_options o = {.listen = "127.0.0.1:0", .cors_origin = "*", .ui_dir = later, .interval_ms = 1000};
    char err[ERR_LEN];
    http_server *h = http_start(&o, err);
    assert_non_null(h);
    reply r;
    fetch(h, "GET", "/", NULL, &r);
    assert_int_equal(r.code, 404);
    assert_non_null(strstr(buf_cstr(&r.body), "does not exist"));
    reply_free(&r);
    fetch(h, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.code, 200);
    reply_free(&r);
    mkdir(later, 0755);
    write_file("later/index.html", "built later");
    fetch(h, "GET", "/", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(buf_cstr(&r.body), "built later");
    reply_free(&r);
    http_stop(h);
    snprintf(p, sizeof p, "%s/index.html", later);
    unlink(p);
    rmdir(later);
}

static void keep_alive_reuses_the_connection(void **state) {
    http_server *h = start(10000);
    publish_json(h, "{\"k\":1}", util_monotonic_ms());
    CURL *c = curl_easy_init();
    reply r;
    request(c, h, "GET", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.num_connects, 1);
    reply_free(&r);
    const char *paths[] = {"/vizceral.json", "/healthz", "/app.js", "/nope", "/metrics"};
    for (size_t i = 0; i < 5; i++) {
        request(c, h, "GET", paths[i], NULL, &r);
        if (r.num_connects != 0) print_error("new connection for %s\n", paths[i]);
        assert_int_equal(r.num_connects, 0);
        reply_free(&r);
    }
    curl_easy_cleanup(c);
    http_stop(h);
}

static void cors_origin_changes_on_update(void **state) {
    http_server *h = start(10000);
    publish_json(h, "{\"c\":1}", util_monotonic_ms());
    http_options o = {
        .listen = "127.0.0.1:0", .cors_origin = "https://new.example", .ui_dir = ui_dir, .interval_ms = 10000};
    http_update_options(h, &o);
    reply r;
    fetch(h, "GET", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 200);
    assert_header(&r, "Access-Control-Allow-Origin", "https://new.example");
    reply_free(&r);
    /* an unusable ui_dir (here a file) keeps the old one */
    char file[256];
    snprintf(file, sizeof file, "%s/app.js", ui_dir);
    o.ui_dir = file;
    http_update_options(h, &o);
    fetch(h, "GET", "/app.js", NULL, &r);
    assert_int_equal(r.code, 200);
    reply_free(&r);
    http_stop(h);
}

static void bad_addresses_and_dirs_fail_with_a_reason(void **state) {
    char err[ERR_LEN] = "";
    http_options o = {.listen = "nonsense", .cors_origin = "*", .ui_dir = "", .interval_ms = 1000};
    assert_null(http_start(&o, err));
    assert_non_null(strstr(err, "nonsense"));
    o.listen = "127.0.0.1:99999";
    assert_null(http_start(&o, err));
    assert_non_null(strstr(err, "port"));
    o.listen = "127.0.0.1:0";
    char file[256];
    snprintf(file, sizeof file, "%s/app.js", ui_dir);
    o.ui_dir = file;
    assert_null(http_start(&o, err));
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, "not a directory"));

    /* port in use */
    o.ui_dir = "";
    http_server *first = http_start(&o, err);
    assert_non_null(first);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", http_port(first));
    o.listen = taken;
    assert_null(http_start(&o, err));
    assert_non_null(strstr(err, taken));
    http_stop(first);
}

static void other_listen_forms_work(void **state) {
    char err[ERR_LEN] = "";
    http_options o = {.listen = ":0", .cors_origin = "*", .ui_dir = "", .interval_ms = 1000};
    http_server *h = http_start(&o, err);
    assert_non_null(h);
    reply r;
    fetch(h, "GET", "/healthz", NULL, &r); /* reached over 127.0.0.1 */
    assert_int_equal(r.code, 200);
    reply_free(&r);
    http_stop(h);

    o.listen = "localhost:0";
    h = http_start(&o, err);
    assert_non_null(h);
    http_stop(h);

    o.listen = "[::1]:0";
    h = http_start(&o, err);
    if (!h) {
        print_message("# no IPv6 loopback here: %s\n", err);
        return;
    }
    CURL *c = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://[::1]:%d/healthz", http_port(h));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long code;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    assert_int_equal(code, 200);
    curl_easy_cleanup(c);
    http_stop(h);
}

/* ---- publishing while requests are in flight ---------------------------- */

#define VERSIONS 20
#define CLIENTS  4

static char *versions[VERSIONS];
static size_t version_len[VERSIONS];
static http_server *busy_server;
static int stop_clients;
static int client_bad, client_ok;
static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;

static void *client(void *arg) {
    int use_gzip = (int)(intptr_t)arg;
    CURL *c = curl_easy_init();
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    char *plain = xmalloc(4u << 20);
    const char *const gzip[] = {"Accept-Encoding: gzip", NULL};
    while (!__atomic_load_n(&stop_clients, __ATOMIC_ACQUIRE)) {
        reply r;
        request(c, busy_server, "GET", "/vizceral.json", use_gzip ? gzip : NULL, &r);
        const char *body = r.body.data;
        size_t len = r.body.len;
        if (use_gzip && r.code == 200) {
            if (libdeflate_gzip_decompress(d, r.body.data, r.body.len, plain, 4u << 20, &len) != LIBDEFLATE_SUCCESS)
                len = 0;
            body = plain;
        }
        int known = 0;
        for (int i = 0; i < VERSIONS && !known; i++)
            known = r.code == 200 && len == version_len[i] && memcmp(body, versions[i], len) == 0;
        pthread_mutex_lock(&client_lock);
        if (known)
            client_ok++;
        else
            client_bad++;
        pthread_mutex_unlock(&client_lock);
        reply_free(&r);
    }
    free(plain);
    libdeflate_free_decompressor(d);
    curl_easy_cleanup(c);
    return NULL;
}

static void publishing_while_requests_are_in_flight_is_safe(void **state) {
    for (int i = 0; i < VERSIONS; i++) {
        buf b;
        buf_init(&b, 8u << 20);
        buf_printf(&b, "{\"version\":%d,\"nodes\":[", i);
        for (int j = 0; j < 8000 + i * 1000; j++) buf_printf(&b, "%s%d", j ? "," : "", (i * 7919 + j) % 100000);
        buf_puts(&b, "]}");
        versions[i] = buf_take(&b, &version_len[i]);
    }
    busy_server = start(10000);
    char err[ERR_LEN];
    publish_json(busy_server, versions[0], util_monotonic_ms());
    stop_clients = 0;
    client_bad = client_ok = 0;
    pthread_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) pthread_create(&t[i], NULL, client, (void *)(intptr_t)(i % 2));
    sink *k = http_sink(busy_server);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < VERSIONS; i++) {
            /* the snapshot takes its own copy of the bytes */
            snapshot *s =
                snapshot_new(xstrndup(versions[i], version_len[i]), version_len[i], 0, util_monotonic_ms(), err);
            assert_int_equal(k->ops->publish(k, s, err), 0);
            snapshot_unref(s);
            usleep(2000);
        }
    }
    __atomic_store_n(&stop_clients, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < CLIENTS; i++) pthread_join(t[i], NULL);
    http_stop(busy_server);
    assert_int_equal(client_bad, 0);
    assert_true(client_ok > 0);
    print_message("# %d answers while publishing %d snapshots\n", client_ok, 4 * VERSIONS);
    for (int i = 0; i < VERSIONS; i++) free(versions[i]);
}

/* With auth set, everything but /healthz and preflights needs the exact
 * credentials; a 401 carries the challenge, CORS and a JSON reason. */
static void auth_guards_every_route_but_healthz_and_preflight(void **state) {
    http_options o = {.listen = "127.0.0.1:0",
                      .cors_origin = "https://viz.example",
                      .ui_dir = ui_dir,
                      .interval_ms = 10000,
                      .auth_username = "viewer",
                      .auth_password = "open sesame"};
    char err[ERR_LEN] = "";
    http_server *h = http_start(&o, err);
    assert_non_null(h);
    publish_json(h, "{\"c\":1}", util_monotonic_ms());
    /* base64("viewer:open sesame") */
    const char *const right[] = {"Authorization: Basic dmlld2VyOm9wZW4gc2VzYW1l", NULL};
    const char *const lower[] = {"Authorization: basic   dmlld2VyOm9wZW4gc2VzYW1l ", NULL};
    const char *const wrong[] = {"Authorization: Basic dmlld2VyOm9wZW4gc2VzYW1m", NULL};
    const char *const prefix[] = {"Authorization: Basic dmlld2VyOm9wZW4gc2VzYW1", NULL};
    const char *const longer[] = {"Authorization: Basic dmlld2VyOm9wZW4gc2VzYW1lAA==", NULL};
    const char *const scheme[] = {"Authorization: Bearer dmlld2VyOm9wZW4gc2VzYW1l", NULL};
    const char *const *refused[] = {NULL, wrong, prefix, longer, scheme};
    reply r;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        fetch(h, "GET", "/vizceral.json", refused[i], &r);
        assert_int_equal(r.code, 401);
        assert_header(&r, "WWW-Authenticate", "Basic realm=\"vizfeed\", charset=\"UTF-8\"");
        assert_header(&r, "Access-Control-Allow-Origin", "https://viz.example");
        assert_header(&r, "Content-Type", "application/json");
        assert_non_null(strstr(buf_cstr(&r.body), "{\"error\":\"unauthorized\""));
        assert_null(strstr(buf_cstr(&r.body), "{\"c\":1}"));
        reply_free(&r);
    }
    static const char *const guarded[] = {"/vizceral.json", "/readyz", "/metrics", "/", "/app.js", "/nope"};
    for (size_t i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
        fetch(h, "GET", guarded[i], NULL, &r);
        if (r.code != 401) print_error("%s: %ld\n", guarded[i], r.code);
        assert_int_equal(r.code, 401);
        reply_free(&r);
        fetch(h, "GET", guarded[i], right, &r);
        assert_int_not_equal(r.code, 401);
        reply_free(&r);
    }
    fetch(h, "POST", "/vizceral.json", NULL, &r); /* no hint of which methods exist */
    assert_int_equal(r.code, 401);
    reply_free(&r);
    fetch(h, "GET", "/vizceral.json", lower, &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(buf_cstr(&r.body), "{\"c\":1}");
    reply_free(&r);
    fetch(h, "GET", "/healthz", NULL, &r);
    assert_int_equal(r.code, 200);
    reply_free(&r);
    fetch(h, "OPTIONS", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 204);
    assert_non_null(strstr(header(&r, "Access-Control-Allow-Headers", err, sizeof err), "Authorization"));
    reply_free(&r);
    fetch(h, "GET", "/metrics", right, &r);
    assert_non_null(strstr(buf_cstr(&r.body), "vizfeed_http_requests_total{path=\"/vizceral.json\",code=\"401\"} 7\n"));
    assert_non_null(strstr(buf_cstr(&r.body), "vizfeed_http_requests_total{path=\"/other\",code=\"401\"} 3\n"));
    reply_free(&r);

    /* A reload switches to Bearer, then opens everything. */
    o.auth_username = o.auth_password = "";
    o.auth_bearer_token = "tok-3f9a";
    http_update_options(h, &o);
    const char *const bearer[] = {"Authorization: Bearer tok-3f9a", NULL};
    fetch(h, "GET", "/vizceral.json", right, &r);
    assert_int_equal(r.code, 401);
    assert_header(&r, "WWW-Authenticate", "Bearer realm=\"vizfeed\"");
    reply_free(&r);
    fetch(h, "GET", "/vizceral.json", bearer, &r);
    assert_int_equal(r.code, 200);
    reply_free(&r);
    o.auth_bearer_token = NULL;
    http_update_options(h, &o);
    fetch(h, "GET", "/vizceral.json", NULL, &r);
    assert_int_equal(r.code, 200);
    reply_free(&r);
    http_stop(h);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(before_the_first_graph_the_json_is_503_with_retry_after),
        cmocka_unit_test(the_graph_is_served_identity_and_gzip_with_every_header),
        cmocka_unit_test(accept_encoding_q_values_are_honoured),
        cmocka_unit_test(matching_if_none_match_answers_304_per_representation),
        cmocka_unit_test(head_has_the_headers_and_no_body),
        cmocka_unit_test(options_is_a_cors_preflight_on_any_path),
        cmocka_unit_test_setup(health_readiness_and_metrics, fresh_metrics),
        cmocka_unit_test_setup(unknown_paths_are_404_and_other_methods_405, fresh_metrics),
        cmocka_unit_test_setup(static_files_are_served_from_ui_dir, fresh_metrics),
        cmocka_unit_test(paths_cannot_escape_ui_dir),
        cmocka_unit_test(no_ui_dir_means_404_for_pages),
        cmocka_unit_test(a_missing_ui_dir_is_picked_up_when_it_appears),
        cmocka_unit_test(keep_alive_reuses_the_connection),
        cmocka_unit_test(cors_origin_changes_on_update),
        cmocka_unit_test_setup(auth_guards_every_route_but_healthz_and_preflight, fresh_metrics),
        cmocka_unit_test(bad_addresses_and_dirs_fail_with_a_reason),
        cmocka_unit_test(other_listen_forms_work),
        cmocka_unit_test(publishing_while_requests_are_in_flight_is_safe),
    };
    int rc = cmocka_run_group_tests(tests, make_tree, remove_tree);
    curl_global_cleanup();
    return rc;
}
