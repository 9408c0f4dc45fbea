/*
 * pull.c - `vizfeed pull URL -o FILE` (pull.h): fetches a feeder's
 * /vizceral.json with libcurl, checks it is a complete JSON object, and
 * replaces FILE atomically, so a page server beside it always has a whole
 * graph to serve.
 */
#include "pull.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yajl/yajl_parse.h>

#include "log.h"
#include "sink.h"
#include "util.h"

#define PULL_BODY_SAMPLE 120 /* bytes of an error answer quoted in the log */
/* Room kept for the next answer between polls. A larger buffer (a big graph,
 * or an answer refused at PULL_MAX_BODY) is given back after its poll:
 * otherwise one oversized answer would leave pull holding ~256 MB for good. */
#define PULL_KEEP_BODY (8u << 20)

typedef enum { POLL_REPLACED, POLL_UNCHANGED, POLL_FAILED, POLL_STOPPED } poll_outcome;

typedef struct {
    const pull_options *o;
    volatile sig_atomic_t *stop;
    bool curl_ready; /* curl_global_init() succeeded */
    CURLM *multi;    /* one multi + easy pair for the whole run keeps the connection alive */
    CURL *easy;
    sink *file;
    buf body;
    bool oversized;                   /* the answer passed PULL_MAX_BODY */
    char etag[PULL_MAX_ETAG];         /* ETag of the answer being received, "" when none */
    char last_etag[PULL_MAX_ETAG];    /* ETag of the bytes in the file, "" when unknown */
    char curl_error[CURL_ERROR_SIZE]; /* libcurl's detailed cause */
    uint64_t rng;                     /* jitter of the backoff */
} puller;

int64_t pull_backoff_ms(int64_t interval_ms, unsigned failures, double jitter) {
    int64_t cap = interval_ms * PULL_BACKOFF_FACTOR;
    if (cap > PULL_MAX_BACKOFF_MS) cap = PULL_MAX_BACKOFF_MS;
    if (cap < interval_ms) cap = interval_ms;
    int64_t delay = interval_ms;
    for (unsigned i = 1; i < failures && delay < cap; i++) delay *= 2;
    if (delay > cap) delay = cap;
    if (!(jitter >= 0)) jitter = 0; /* also catches NaN */
    if (jitter >= 1) jitter = 0.999;
    return delay - (int64_t)((double)delay * jitter / 4);
}

static double next_jitter(puller *p) {
    /* xorshift64: statistical quality is irrelevant here, only that two
     * processes started together draw different numbers. */
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return (double)(p->rng >> 11) / (double)(1ULL << 53);
}

/* A relaxed atomic load: race-free when another thread sets the flag with
 * __atomic_store_n, and a plain read for a signal handler's store. */
static bool stopping(const puller *p) {
    return __atomic_load_n(p->stop, __ATOMIC_RELAXED) != 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
    puller *p = userdata;
    if (buf_append(&p->body, data, size * n) < 0) {
        p->oversized = true;
        return 0; /* makes libcurl abort the transfer with CURLE_WRITE_ERROR */
    }
    return size * n;
}

/* Keeps the ETag of the final answer; a new status line (after a 100
 * Continue, say) starts over. */
static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
    puller *p = userdata;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        p->etag[0] = '\0';
        return len;
    }
    if (len < 5 || strncasecmp(data, "etag:", 5) != 0) return len;
    const char *v = data + 5, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t vlen = (size_t)(end - v);
    /* The value goes back out in a request header: refuse control bytes
     * rather than let a server inject headers. */
    for (const char *c = v; c < end; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) return len;
    if (vlen == 0 || vlen >= sizeof p->etag) return len;
    memcpy(p->etag, v, vlen);
    p->etag[vlen] = '\0';
    return len;
}

/* The answer must be one complete JSON document with an object at the top:
 * anything else (a proxy's HTML error page, a truncated transfer) would
 * break the page that reads the file. */
static int check_json_object(const char *data, size_t len, char *err) {
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) i++;
    if (i == len) return util_fail(err, "empty answer");
    if (data[i] != '{') return util_fail(err, "the answer is not a JSON object");
    /* No callbacks: yajl only checks the syntax (and UTF-8), building nothing. */
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h) return util_fail(err, "cannot allocate a JSON parser");
    int rc = 0;
    if (yajl_parse(h, (const unsigned char *)data, len) != yajl_status_ok || yajl_complete_parse(h) != yajl_status_ok) {
        unsigned char *why = yajl_get_error(h, 0, (const unsigned char *)data, len);
        rc = util_fail(err, "the answer is not complete JSON (%s)", why ? (const char *)why : "parse error");
        if (why) yajl_free_error(h, why);
    }
    yajl_free(h);
    return rc;
}

/* "HTTP 503: {"error":...}" with the first bytes of the body, printable. */
static void describe_status(long code, const buf *body, char *err) {
    char sample[PULL_BODY_SAMPLE + 4];
    size_t n = 0;
    for (size_t i = 0; i < body->len && n < PULL_BODY_SAMPLE; i++) {
        unsigned char c = (unsigned char)body->data[i];
        sample[n++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
    }
    if (body->len > PULL_BODY_SAMPLE) memcpy(sample + n, "...", 3), n += 3;
    sample[n] = '\0';
    if (n)
        util_fail(err, "HTTP %ld: %s", code, sample);
    else
        util_fail(err, "HTTP %ld", code);
}

/* Runs the prepared request to its end, or until *stop. */
static poll_outcome transfer(puller *p, CURLcode *result) {
    if (curl_multi_add_handle(p->multi, p->easy) != CURLM_OK) {
        *result = CURLE_FAILED_INIT;
        return POLL_FAILED;
    }
    poll_outcome outcome = POLL_FAILED;
    *result = CURLE_FAILED_INIT;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(p->multi, &running) != CURLM_OK) break;
        if (!running) {
            int left;
            CURLMsg *m;
            while ((m = curl_multi_info_read(p->multi, &left)))
                if (m->msg == CURLMSG_DONE && m->easy_handle == p->easy) *result = m->data.result;
            break;
        }
        if (stopping(p)) {
            outcome = POLL_STOPPED;
            break;
        }
        /* A bounded wait rather than a signal-driven wake-up: simple, and a
         * stop request never waits longer than PULL_STOP_LATENCY_MS. */
        if (curl_multi_poll(p->multi, NULL, 0, PULL_STOP_LATENCY_MS, NULL) != CURLM_OK) break;
    }
    /* Removing an unfinished handle abandons its transfer. */
    curl_multi_remove_handle(p->multi, p->easy);
    return outcome;
}

static poll_outcome poll_once(puller *p, char *err) {
    buf_reset(&p->body);
    p->oversized = false;
    p->etag[0] = '\0';
    p->curl_error[0] = '\0';
    struct curl_slist *headers = NULL;
    if (p->last_etag[0]) {
        char line[sizeof p->last_etag + 32];
        snprintf(line, sizeof line, "If-None-Match: %s", p->last_etag);
        headers = curl_slist_append(NULL, line);
    }
    curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, headers);
    CURLcode result;
    poll_outcome outcome = transfer(p, &result);
    curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, NULL);
    bool conditional = headers != NULL;
    curl_slist_free_all(headers);
    if (outcome == POLL_STOPPED) return outcome;

    if (result != CURLE_OK) {
        if (p->oversized)
            util_fail(err, "the answer is larger than %u MB", PULL_MAX_BODY >> 20);
        else
            util_fail(err, "%s", p->curl_error[0] ? p->curl_error : curl_easy_strerror(result));
        return POLL_FAILED;
    }
    long code = 0;
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code == 304 && !conditional) {
        /* Nothing was asked conditionally, so "not modified" refers to
         * nothing: a broken cache or proxy on the way. Taking it as
         * "unchanged" would leave FILE missing or old without a word. */
        util_fail(err, "HTTP 304 Not Modified to a request without If-None-Match");
        return POLL_FAILED;
    }
    if (code == 304) {
        /* Someone removed the file: it must come back even though the feeder
         * has nothing new, so ask again without a condition. */
        struct stat st;
        if (p->last_etag[0] && stat(p->o->output, &st) < 0 && errno == ENOENT) {
            log_warn("%s was removed; fetching it again", p->o->output);
            p->last_etag[0] = '\0';
            return poll_once(p, err);
        }
        return POLL_UNCHANGED;
    }
    if (code != 200) {
        describe_status(code, &p->body, err);
        return POLL_FAILED;
    }
    if (check_json_object(p->body.data, p->body.len, err) < 0) return POLL_FAILED;
    if (sink_file_write(p->file, p->body.data, p->body.len, err) < 0) {
        p->last_etag[0] = '\0';
        return POLL_FAILED;
    }
    memcpy(p->last_etag, p->etag, sizeof p->last_etag);
    log_debug("replaced %s: %zu bytes, ETag %s", p->o->output, p->body.len, p->last_etag[0] ? p->last_etag : "none");
    return POLL_REPLACED;
}

/* One poll, then the body's memory back to the system when it grew past
 * PULL_KEEP_BODY (buf_free: glibc unmaps a block that large at once). */
static poll_outcome poll_and_release(puller *p, char *err) {
    poll_outcome outcome = poll_once(p, err);
    if (p->body.cap > PULL_KEEP_BODY) {
        size_t max = p->body.max;
        buf_free(&p->body);
        buf_init(&p->body, max);
    }
    return outcome;
}

/* Sleeps until the monotonic time due, or until *stop. */
static void wait_until(puller *p, int64_t due) {
    for (;;) {
        if (stopping(p)) return;
        int64_t left = due - util_monotonic_ms();
        if (left <= 0) return;
        if (left > PULL_STOP_LATENCY_MS) left = PULL_STOP_LATENCY_MS;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        nanosleep(&ts, NULL); /* EINTR (a signal) just re-checks *stop sooner */
    }
}

static int setup_curl(puller *p, char *err) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return util_fail(err, "cannot initialise libcurl");
    p->curl_ready = true;
    p->multi = curl_multi_init();
    p->easy = curl_easy_init();
    if (!p->multi || !p->easy) return util_fail(err, "cannot initialise libcurl");
    CURL *c = p->easy;
    int64_t timeout = p->o->timeout_ms > 0 ? p->o->timeout_ms : PULL_DEFAULT_TIMEOUT_MS;
    CURLcode rc = CURLE_OK;
    rc |= curl_easy_setopt(c, CURLOPT_URL, p->o->url);
    rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip"); /* libcurl decodes it */
    rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "vizfeed-pull/" VIZFEED_VERSION);
    rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    /* Content-Length is the compressed size, so this only catches the
     * obvious; the write callback enforces the decoded bound. */
    rc |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PULL_MAX_BODY);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    rc |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    rc |= curl_easy_setopt(c, CURLOPT_HEADERDATA, p);
    rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->curl_error);
    if (rc != CURLE_OK) return util_fail(err, "cannot configure libcurl for %s", p->o->url);
    return 0;
}

static bool is_http_url(const char *url) {
    return url && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

int pull_run(const pull_options *o, volatile sig_atomic_t *stop, char *err) {
    if (!is_http_url(o->url)) return util_fail(err, "pull: the URL must start with http:// or https://");
    if (o->interval_ms <= 0) return util_fail(err, "pull: the interval must be positive");
    puller p = {.o = o, .stop = stop};
    p.rng = (uint64_t)util_now_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    if (!p.rng) p.rng = 1;
    buf_init(&p.body, PULL_MAX_BODY);
    int rc = -1;
    p.file = sink_file_new(o->output, err);
    if (!p.file) goto done;
    if (setup_curl(&p, err) < 0) goto done;

    char every[32];
    util_format_duration(o->interval_ms, every, sizeof every);
    log_info("pulling %s into %s every %s", o->url, o->output, every);
    unsigned failures = 0;
    char cause[ERR_LEN];
    while (!stopping(&p)) {
        int64_t started = util_monotonic_ms();
        poll_outcome outcome = poll_and_release(&p, cause);
        if (outcome == POLL_STOPPED) break;
        int64_t due;
        if (outcome == POLL_FAILED) {
            failures++;
            int64_t wait = pull_backoff_ms(o->interval_ms, failures, next_jitter(&p));
            /* One line per attempt; the backoff bounds how often that is. */
            log_warn("pull %s failed: %s; keeping %s, next try in %.1fs", o->url, cause, o->output, wait / 1000.0);
            due = util_monotonic_ms() + wait;
        } else {
            if (failures)
                log_info("pull %s works again after %u failed attempt(s); %s is current", o->url, failures, o->output);
            failures = 0;
            due = started + o->interval_ms;
        }
        wait_until(&p, due);
    }
    rc = 0;
done:
    if (p.easy) curl_easy_cleanup(p.easy);
    if (p.multi) curl_multi_cleanup(p.multi);
    if (p.curl_ready) curl_global_cleanup();
    if (p.file) p.file->ops->close(p.file);
    buf_free(&p.body);
    return rc;
}
