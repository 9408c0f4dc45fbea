/*
 * es_client.c - the libcurl side of talking to Elasticsearch.
 *
 * One easy handle is kept for the client's lifetime: libcurl then keeps the
 * connection (and the TLS session) to the host in use alive between pages
 * and refreshes, which saves a handshake per request. The host in use stays
 * the same until it fails; a failed host is skipped for ES_HOST_COOLDOWN_MS
 * so that a dead node costs one failed attempt per cooldown, not one per
 * request.
 *
 * A request moves to the next host only while nothing of the answer has been
 * handed to on_data: once the caller's parser has seen bytes, a second answer
 * cannot be streamed into it, so the request fails instead.
 */
#include "bounds.h"
#include "es_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "util.h"

/* Connecting is a part of the whole-request timeout, but a blackholed host
 * must not eat all of it when another host could answer. */
#define CONNECT_TIMEOUT_MS 10000

typedef struct {
    char *url;            /* base URL as configured, no trailing '/' */
    char shown[256];      /* the same without user:password@, for messages */
    int64_t cooling_till; /* monotonic ms; 0 = usable */
} es_host;

struct es_client {
    CURL *curl;
    es_host *hosts;
    size_t nhosts;
    size_t current;      /* the host used last, tried first */
    char *authorization; /* "Authorization: ..." header line, NULL when none; secret */
    int64_t timeout_ms;
    int64_t deadline_ms;     /* es_client_set_limits(); 0 = none */
    const atomic_bool *stop; /* es_client_set_limits(); NULL = never */
    char curl_error[CURL_ERROR_SIZE];

    /* State of the request in flight. */
    es_data_fn on_data;
    void *ctx;
    es_response *resp;
    bool too_large;
    bool reader_stopped;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

/* curl_global_init is not thread-safe on every libcurl build; running it
 * once, before the first handle, keeps that off every caller's mind. */
static void init_curl(void) {
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *es_client_failure_name(es_failure f) {
    switch (f) {
    case ES_FAIL_NONE:
        return "none";
    case ES_FAIL_RESOLVE:
        return "resolve";
    case ES_FAIL_CONNECT:
        return "connect";
    case ES_FAIL_TLS:
        return "tls";
    case ES_FAIL_TIMEOUT:
        return "timeout";
    case ES_FAIL_CUT:
        return "cut";
    case ES_FAIL_TOO_LARGE:
        return "too_large";
    case ES_FAIL_DEADLINE:
        return "deadline";
    case ES_FAIL_STOPPED:
        return "stopped";
    case ES_FAIL_OTHER:
        break;
    }
    return "other";
}

/* ---- cloud_id --------------------------------------------------------- */

static bool all_digits(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* "label:base64(host[:port]$es_uuid[:port][$kibana_uuid])" -> "https://es_uuid.host:port"
 * (the scheme Elastic's own clients use). */
static int decode_cloud_id(const char *cloud_id, char **url, char *err) {
    const char *colon = strchr(cloud_id, ':');
    const char *encoded = colon ? colon + 1 : cloud_id;
    buf decoded;
    buf_init(&decoded, 4096);
    int rc = -1;
    char *parts[3] = {NULL, NULL, NULL};
    if (util_base64_decode(encoded, &decoded) < 0) {
        util_fail(err, "elasticsearch.cloud_id is not valid: the part after ':' is not base64");
        goto done;
    }
    char *text = xstrdup(buf_cstr(&decoded));
    char *rest = text;
    for (int i = 0; i < 3 && rest; i++) {
        char *dollar = strchr(rest, '$');
        if (dollar) *dollar = '\0';
        parts[i] = rest;
        rest = dollar ? dollar + 1 : NULL;
    }
    char port[8] = "443";
    if (!parts[1] || !*parts[0] || !*parts[1]) {
        util_fail(err, "elasticsearch.cloud_id is not valid: expected host$es_uuid$kibana_uuid inside");
        goto free_text;
    }
    for (int i = 0; i < 2; i++) {
        char *p = strrchr(parts[i], ':');
        if (!p) continue;
        *p++ = '\0';
        if (!all_digits(p) || strlen(p) > 5 || atoi(p) > 65535) {
            util_fail(err, "elasticsearch.cloud_id is not valid: port '%.8s' is not a number", p);
            goto free_text;
        }
        snprintf(port, sizeof port, "%s", p);
    }
    if (!*parts[0] || !*parts[1]) {
        util_fail(err, "elasticsearch.cloud_id is not valid: empty host");
        goto free_text;
    }
    buf u;
    buf_init(&u, 1024);
    buf_printf(&u, "https://%s.%s:%s", parts[1], parts[0], port);
    if (buf_failed(&u)) {
        buf_free(&u);
        util_fail(err, "elasticsearch.cloud_id is not valid: the URL it names is too long");
        goto free_text;
    }
    *url = buf_take(&u, NULL);
    rc = 0;
free_text:
    free(text);
done:
    buf_free(&decoded);
    return rc;
}

/* ---- construction ---------------------------------------------------- */

static bool has_line_break(const char *s) {
    return strpbrk(s, "\r\n") != NULL;
}

/* The URL as it may be shown: user:password@ taken out, cut to fit. */
static void shown_url(const char *url, char *out, size_t outlen) {
    const char *scheme_end = strstr(url, "://");
    const char *authority = scheme_end ? scheme_end + 3 : url;
    size_t authority_len = strcspn(authority, "/?#");
    const char *at = memchr(authority, '@', authority_len);
    if (at)
        snprintf(out, outlen, "%.*s%s", (int)(authority - url), url, at + 1);
    else
        snprintf(out, outlen, "%s", url);
}

static void add_host(es_client *c, const char *url) {
    es_host *h = &c->hosts[c->nhosts++];
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') n--;
    h->url = xstrndup(url, n);
    shown_url(h->url, h->shown, sizeof h->shown);
}

/* Builds the one Authorization header; the secret lives only here and in
 * libcurl's copy of the header list. */
static int build_authorization(es_client *c, const es_config *cfg, char *err) {
    buf h;
    buf_init(&h, 16384);
    int rc = -1;
    bool cut = false; /* a piece of the header did not fit */
    if (!util_str_empty(cfg->api_key)) {
        if (has_line_break(cfg->api_key)) {
            util_fail(err, "elasticsearch.api_key contains a line break");
            goto done;
        }
        buf_puts(&h, "Authorization: ApiKey ");
        /* "id:key" is what the create-API-key answer lists as id and api_key;
         * the server wants base64 of it (the answer's "encoded"). */
        if (strchr(cfg->api_key, ':'))
            util_base64_encode(&h, (const unsigned char *)cfg->api_key, strlen(cfg->api_key));
        else
            buf_puts(&h, cfg->api_key);
    } else if (!util_str_empty(cfg->bearer_token)) {
        if (has_line_break(cfg->bearer_token)) {
            util_fail(err, "elasticsearch.bearer_token contains a line break");
            goto done;
        }
        buf_puts(&h, "Authorization: Bearer ");
        buf_puts(&h, cfg->bearer_token);
    } else if (!util_str_empty(cfg->username)) {
        buf pair;
        buf_init(&pair, 8192);
        buf_printf(&pair, "%s:%s", cfg->username, cfg->password ? cfg->password : "");
        buf_puts(&h, "Authorization: Basic ");
        cut = buf_failed(&pair);
        util_base64_encode(&h, (const unsigned char *)buf_cstr(&pair), pair.len);
        /* Wipe the plain pair: a core dump should not hand it out. */
        if (pair.data) memset(pair.data, 0, pair.len);
        buf_free(&pair);
    }
    /* A cut header would send a wrong secret and read as a refused login. */
    if (cut || buf_failed(&h)) {
        if (h.data) memset(h.data, 0, h.len);
        util_fail(err, "elasticsearch credentials are too long for one Authorization header");
        goto done;
    }
    if (h.len) c->authorization = buf_take(&h, NULL);
    rc = 0;
done:
    buf_free(&h);
    return rc;
}

/* Called by libcurl while a transfer runs (at least once a second even when
 * nothing moves, also while resolving and connecting): non-zero aborts it
 * with CURLE_ABORTED_BY_CALLBACK. */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    es_client *c = userp;
    return c->stop && atomic_load(c->stop) ? 1 : 0;
}

void es_client_set_limits(es_client *c, int64_t deadline_ms, const atomic_bool *stop) {
    c->deadline_ms = deadline_ms;
    c->stop = stop;
}

es_client *es_client_new(const es_config *cfg, char *err) {
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        util_fail(err, "libcurl could not start: %s", curl_easy_strerror(curl_init_result));
        return NULL;
    }
    es_client *c = xcalloc(1, sizeof *c);
    c->hosts = xcalloc(cfg->nhosts + 1, sizeof *c->hosts);
    if (!util_str_empty(cfg->cloud_id)) {
        char *url;
        if (decode_cloud_id(cfg->cloud_id, &url, err) < 0) goto fail;
        add_host(c, url);
        free(url);
    }
    for (size_t i = 0; i < cfg->nhosts; i++) add_host(c, cfg->hosts[i]);
    if (c->nhosts == 0) {
        util_fail(err, "no Elasticsearch host is configured (elasticsearch.hosts or cloud_id)");
        goto fail;
    }
    if (!util_str_empty(cfg->username) && has_line_break(cfg->username)) {
        util_fail(err, "elasticsearch.username contains a line break");
        goto fail;
    }
    if (build_authorization(c, cfg, err) < 0) goto fail;
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 20000;

    c->curl = curl_easy_init();
    if (!c->curl) {
        util_fail(err, "libcurl could not create a handle");
        goto fail;
    }
    /* Options that hold for every request; per-request ones are set in
     * es_client_request. */
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(c->timeout_ms < CONNECT_TIMEOUT_MS ? c->timeout_ms : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding this libcurl decodes */
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vizfeed/" VIZFEED_VERSION);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, cfg->verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, cfg->verify ? 2L : 0L);
    if (!util_str_empty(cfg->ca_file)) curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
    return c;
fail:
    es_client_free(c);
    return NULL;
}

void es_client_free(es_client *c) {
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    for (size_t i = 0; i < c->nhosts; i++) free(c->hosts[i].url);
    free(c->hosts);
    if (c->authorization) {
        memset(c->authorization, 0, strlen(c->authorization));
        free(c->authorization);
    }
    free(c);
}

/* ---- callbacks ------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    es_client *c = userp;
    size_t n = size * nmemb;
    es_response *resp = c->resp;
    if (resp->bytes == 0 && resp->status == 0) {
        /* The caller's parser needs the status before the body's first byte. */
        long code = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
        resp->status = (int)code;
    }
    if (n > ES_MAX_ANSWER - resp->bytes) {
        c->too_large = true;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    if (n == 0) return 0;
    if (c->on_data && c->on_data(c->ctx, data, n) != 0) {
        c->reader_stopped = true;
        return 0;
    }
    resp->bytes += n;
    return n;
}

/* Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
static int64_t parse_retry_after(const char *value) {
    while (*value == ' ' || *value == '\t') value++;
    char text[128];
    size_t n = strcspn(value, "\r\n");
    if (n == 0 || n >= sizeof text) return -1;
    memcpy(text, value, n);
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t')) text[--n] = '\0';
    if (all_digits(text)) {
        if (n > 9) return (int64_t)999999999 * 1000; /* absurd, but a delay: cap it */
        return (int64_t)atol(text) * 1000;
    }
    time_t when = curl_getdate(text, NULL);
    if (when == (time_t)-1) return -1;
    int64_t delta = (int64_t)when * 1000 - util_now_ms();
    return delta > 0 ? delta : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp) {
    es_client *c = userp;
    size_t n = size * nmemb;
    /* A new status line starts a new answer (after "100 Continue"). */
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
        c->resp->retry_after_ms = -1;
        return n;
    }
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && !strncasecmp(data, name, sizeof name - 1)) {
        char line[160];
        size_t len = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, data, len);
        line[len] = '\0';
        c->resp->retry_after_ms = parse_retry_after(line + sizeof name - 1);
    }
    return n;
}

/* ---- requests -------------------------------------------------------- */

static es_failure classify(es_client *c, CURLcode rc) {
    switch (rc) {
    case CURLE_OK:
        return ES_FAIL_NONE;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return ES_FAIL_RESOLVE;
    case CURLE_COULDNT_CONNECT:
        return ES_FAIL_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return ES_FAIL_TLS;
    case CURLE_OPERATION_TIMEDOUT:
        return ES_FAIL_TIMEOUT;
    case CURLE_ABORTED_BY_CALLBACK:
        return ES_FAIL_STOPPED;
    case CURLE_WRITE_ERROR:
        return c->too_large ? ES_FAIL_TOO_LARGE : ES_FAIL_OTHER;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return ES_FAIL_CUT;
    default:
        return ES_FAIL_OTHER;
    }
}

static const char *failure_text(es_failure f) {
    switch (f) {
    case ES_FAIL_RESOLVE:
        return "host name does not resolve";
    case ES_FAIL_CONNECT:
        return "cannot connect";
    case ES_FAIL_TLS:
        return "TLS handshake failed";
    case ES_FAIL_TIMEOUT:
        return "no complete answer in time";
    case ES_FAIL_CUT:
        return "connection closed before the answer was complete";
    case ES_FAIL_TOO_LARGE:
        return "answer too large";
    case ES_FAIL_DEADLINE:
        return "no complete answer before the refresh deadline";
    case ES_FAIL_STOPPED:
        return "stopped";
    default:
        return "request failed";
    }
}

/* Whether a failure says the host, not the request, is the problem, so that
 * another host may do better. */
static bool host_failure(es_failure f) {
    return f == ES_FAIL_RESOLVE || f == ES_FAIL_CONNECT || f == ES_FAIL_TLS || f == ES_FAIL_TIMEOUT || f == ES_FAIL_CUT;
}

/* Removes curl's measurements (" after 12 ms") from its error text: the same
 * failure must read the same every time, or the log cannot tell a repeat. */
static void drop_measurements(char *text) {
    char *p;
    while ((p = strstr(text, " after ")) != NULL) {
        char *q = p + 7;
        if (!isdigit((unsigned char)*q)) break;
        while (isdigit((unsigned char)*q)) q++;
        if (strncmp(q, " ms", 3) != 0) break;
        memmove(p, q + 3, strlen(q + 3) + 1);
    }
}

/* One attempt against one host. Returns the failure (ES_FAIL_NONE when an
 * HTTP answer arrived whole) and writes a message on failure. */
static es_failure attempt(es_client *c, es_host *host, const char *method, const char *path, const char *body,
                          size_t body_len, struct curl_slist *headers, char *err) {
    CURL *h = c->curl;
    buf url;
    buf_init(&url, 16384 + 2048);
    if (buf_puts(&url, host->url) < 0 || buf_puts(&url, path[0] == '/' ? "" : "/") < 0 || buf_puts(&url, path) < 0) {
        buf_free(&url);
        util_fail(err, "%s: request path too long", host->shown);
        return ES_FAIL_OTHER;
    }
    c->too_large = false;
    c->reader_stopped = false;
    c->curl_error[0] = '\0';
    c->resp->status = 0;
    c->resp->retry_after_ms = -1;
    c->resp->bytes = 0;
    /* The deadline shortens this attempt's timeout to the time left; the
     * failure then says which of the two limits ended it. */
    int64_t timeout_ms = c->timeout_ms;
    bool deadline_first = false;
    if (c->stop && atomic_load(c->stop)) {
        buf_free(&url);
        util_fail(err, "%s: stopped", host->shown);
        return ES_FAIL_STOPPED;
    }
    if (c->deadline_ms > 0) {
        int64_t left = c->deadline_ms - util_monotonic_ms();
        if (left <= 0) {
            buf_free(&url);
            util_fail(err, "%s: %s", host->shown, failure_text(ES_FAIL_DEADLINE));
            return ES_FAIL_DEADLINE;
        }
        if (left < timeout_ms) timeout_ms = left, deadline_first = true;
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : CONNECT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_URL, buf_cstr(&url));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    if (!strcmp(method, "GET") && !body) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
    }
    CURLcode rc = curl_easy_perform(h);
    buf_free(&url);

    es_failure f = classify(c, rc);
    if (f == ES_FAIL_TIMEOUT && deadline_first) f = ES_FAIL_DEADLINE;
    if (f == ES_FAIL_NONE) {
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        c->resp->status = (int)code;
        return f;
    }
    if (c->reader_stopped) {
        util_fail(err, "%s: the answer's reader stopped the transfer", host->shown);
        return ES_FAIL_OTHER;
    }
    char detail[CURL_ERROR_SIZE];
    snprintf(detail, sizeof detail, "%s", c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc));
    size_t dl = strlen(detail);
    while (dl > 0 && (detail[dl - 1] == '\n' || detail[dl - 1] == '\r')) detail[--dl] = '\0';
    drop_measurements(detail);
    if (f == ES_FAIL_TOO_LARGE) {
        util_fail(err, "%s: answer larger than %u MiB", host->shown, ES_MAX_ANSWER >> 20);
    } else if (f == ES_FAIL_DEADLINE || f == ES_FAIL_STOPPED) {
        util_fail(err, "%s: %s", host->shown, failure_text(f));
    } else if (f == ES_FAIL_TIMEOUT) {
        char limit[32];
        util_format_duration(c->timeout_ms, limit, sizeof limit);
        util_fail(err, "%s: %s (timeout %s)", host->shown, failure_text(f), limit);
    } else {
        util_fail(err, "%s: %s (%s)", host->shown, failure_text(f), detail);
    }
    return f;
}

int es_client_request(es_client *c, const char *method, const char *path, const char *body, size_t body_len,
                      const char *opaque_id, es_data_fn on_data, void *ctx, es_response *resp, char *err) {
    memset(resp, 0, sizeof *resp);
    resp->retry_after_ms = -1;
    c->on_data = on_data;
    c->ctx = ctx;
    c->resp = resp;

    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    /* libcurl would wait for "100 Continue" before sending a large body;
     * Elasticsearch answers at once, so the wait only adds latency. */
    headers = curl_slist_append(headers, "Expect:");
    if (c->authorization) headers = curl_slist_append(headers, c->authorization);
    if (!util_str_empty(opaque_id) && !has_line_break(opaque_id)) {
        char line[300];
        snprintf(line, sizeof line, "X-Opaque-Id: %s", opaque_id);
        headers = curl_slist_append(headers, line);
    }

    /* Hosts in order from the one that worked last; cooling ones are left
     * for last, so that a request still has a chance when every host has
     * failed recently (they may all be back). */
    int64_t now = util_monotonic_ms();
    size_t order[64];
    size_t norder = 0;
    size_t limit = c->nhosts < 64 ? c->nhosts : 64;
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < limit; k++) {
            size_t i = (c->current + k) % c->nhosts;
            bool cooling = c->hosts[i].cooling_till > now;
            if (cooling == (pass == 1)) order[norder++] = i;
        }

    int rc = -1;
    char last_err[ERR_LEN] = "";
    size_t tried = 0;
    for (size_t k = 0; k < norder; k++) {
        es_host *host = &c->hosts[order[k]];
        /* Past the usable hosts, one cooling host is enough of a try. */
        if (host->cooling_till > now && tried > 0) break;
        tried++;
        snprintf(resp->host, sizeof resp->host, "%s", host->shown);
        es_failure f = attempt(c, host, method, path, body, body_len, headers, last_err);
        resp->failure = f;
        if (f == ES_FAIL_NONE) {
            host->cooling_till = 0;
            c->current = order[k];
            rc = 0;
            break;
        }
        if (host_failure(f)) host->cooling_till = util_monotonic_ms() + ES_HOST_COOLDOWN_MS;
        if (!host_failure(f) || resp->bytes > 0) break;
    }
    if (rc < 0) {
        if (tried > 1)
            util_fail(err, "%zu hosts tried, last: %s", tried, last_err);
        else
            util_fail(err, "%s", last_err);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    c->on_data = NULL;
    c->ctx = NULL;
    c->resp = NULL;
    return rc;
}

/* ---- GET / ----------------------------------------------------------- */

static int collect_body(void *ctx, const char *data, size_t len) {
    buf *b = ctx;
    return buf_append(b, data, len) < 0;
}

int es_client_detect(es_client *c, es_flavor *flavor, int *major, char *err) {
    *flavor = ES_FLAVOR_UNKNOWN;
    *major = 0;
    buf body;
    buf_init(&body, ES_DETECT_MAX_BYTES);
    es_response resp;
    int rc = -1;
    yajl_val root = NULL;
    if (es_client_request(c, "GET", "/", NULL, 0, "vizfeed", collect_body, &body, &resp, err) < 0) goto done;
    char yerr[256] = "";
    root = yajl_tree_parse(buf_cstr(&body), yerr, sizeof yerr);
    if (resp.status != 200) {
        const char *path_type[] = {"error", "type", NULL};
        const char *path_reason[] = {"error", "reason", NULL};
        yajl_val type = root ? yajl_tree_get(root, path_type, yajl_t_string) : NULL;
        yajl_val reason = root ? yajl_tree_get(root, path_reason, yajl_t_string) : NULL;
        if (type && reason)
            util_fail(err, "%s answered %d %s: %.200s", resp.host, resp.status, type->u.string, reason->u.string);
        else
            util_fail(err, "%s answered %d to GET /", resp.host, resp.status);
        goto done;
    }
    if (!root) {
        util_fail(err, "%s answered GET / with something that is not JSON", resp.host);
        goto done;
    }
    const char *path_number[] = {"version", "number", NULL};
    const char *path_distribution[] = {"version", "distribution", NULL};
    yajl_val number = yajl_tree_get(root, path_number, yajl_t_string);
    yajl_val distribution = yajl_tree_get(root, path_distribution, yajl_t_string);
    if (!number) {
        util_fail(err, "%s answered GET / without version.number: not Elasticsearch?", resp.host);
        goto done;
    }
    *major = atoi(number->u.string); /* yajl_tree_get checked the type */
    *flavor =
        distribution && !strcmp(distribution->u.string, "opensearch") ? ES_FLAVOR_OPENSEARCH : ES_FLAVOR_ELASTICSEARCH;
    rc = 0;
done:
    yajl_tree_free(root);
    buf_free(&body);
    return rc;
}
