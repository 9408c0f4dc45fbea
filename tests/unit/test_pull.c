/* Unit tests of pull.c: pull_run() against an in-process libmicrohttpd
 * server on 127.0.0.1 (a port chosen at run time), in a thread of its own. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libdeflate.h>
#include <microhttpd.h>

#include "log.h"
#include "pull_internal.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* What the test server answers to GET. */
typedef enum {
    ANSWER_JSON,   /* 200 with body and etag; 304 when If-None-Match matches */
    ANSWER_GZIP,   /* the same, gzip-encoded when the client accepts it */
    ANSWER_STATUS, /* status with body, no ETag */
    ANSWER_STALL,  /* hold the request until released */
} answer_kind;

typedef struct {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    answer_kind kind;
    unsigned status;
    char body[256];
    char etag[64];
    int requests;
    int not_modified; /* 304s sent */
    int gzipped;      /* gzip answers sent */
    char if_none_match[128];
    int release; /* ends ANSWER_STALL (atomic) */
} test_server;

static test_server server = {.lock = PTHREAD_MUTEX_INITIALIZER};
static char dir[64];
static char path[128];
static char url[128];

static void set_answer(answer_kind kind, unsigned status, const char *body, const char *etag) {
    pthread_mutex_lock(&server.lock);
    server.kind = kind;
    server.status = status;
    snprintf(server.body, sizeof server.body, "%s", body);
    snprintf(server.etag, sizeof server.etag, "%s", etag);
    pthread_mutex_unlock(&server.lock);
}

static int requests(void) {
    pthread_mutex_lock(&server.lock);
    int n = server.requests;
    pthread_mutex_unlock(&server.lock);
    return n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const void *data, size_t len, const char *etag,
                             bool gzipped) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (etag && *etag) MHD_add_response_header(r, "ETag", etag);
    if (gzipped) MHD_add_response_header(r, "Content-Encoding", "gzip");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url_path, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    static int first_call;
    if (!*con_cls) { /* answer on the second call, once the headers are in */
        *con_cls = &first_call;
        return MHD_YES;
    }
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    pthread_mutex_lock(&server.lock);
    server.requests++;
    snprintf(server.if_none_match, sizeof server.if_none_match, "%s", inm ? inm : "");
    answer_kind kind = server.kind;
    unsigned status = server.status;
    char body[sizeof server.body], etag[sizeof server.etag];
    memcpy(body, server.body, sizeof body);
    memcpy(etag, server.etag, sizeof etag);
    bool match = inm && *etag && strcmp(inm, etag) == 0;
    if (match) server.not_modified++;
    bool gzip = kind == ANSWER_GZIP && accept && strstr(accept, "gzip") && !match;
    if (gzip) server.gzipped++;
    pthread_mutex_unlock(&server.lock);

    if (kind == ANSWER_STALL) {
        for (int i = 0; i < 300 && !__atomic_load_n(&server.release, __ATOMIC_RELAXED); i++) usleep(10000);
        return reply(c, 503, "", 0, NULL, false);
    }
    if (kind == ANSWER_STATUS) return reply(c, status, body, strlen(body), NULL, false);
    if (match) return reply(c, 304, "", 0, etag, false);
    if (!gzip) return reply(c, 200, body, strlen(body), etag, false);
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(6);
    char packed[512];
    size_t n = libdeflate_gzip_compress(z, body, strlen(body), packed, sizeof packed);
    libdeflate_free_compressor(z);
    return reply(c, 200, packed, n, etag, true);
}

/* Listens on 127.0.0.1:port (0 = any free port) and remembers the port. */
static void server_start(int port) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    __atomic_store_n(&server.release, 0, __ATOMIC_RELAXED);
    /* A thread per connection, so that a stalled answer blocks no one. */
    server.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                                     handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    assert_non_null(server.daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_BIND_PORT);
    server.port = info->port;
    assert_true(server.port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/vizceral.json", server.port);
}

static void server_stop(void) {
    __atomic_store_n(&server.release, 1, __ATOMIC_RELAXED);
    if (server.daemon) MHD_stop_daemon(server.daemon);
    server.daemon = NULL;
}

/* pull_run() in a thread of its own, stopped through its flag. */
typedef struct {
    pull_options o;
    volatile sig_atomic_t stop;
    int rc;
    char err[ERR_LEN];
    pthread_t thread;
} runner;

static void *run(void *arg) {
    runner *r = arg;
    r->rc = pull_run(&r->o, &r->stop, r->err);
    return NULL;
}

static void start_pull(runner *r, int64_t interval_ms) {
    memset(r, 0, sizeof *r);
    r->o = (pull_options){.url = url, .output = path, .interval_ms = interval_ms, .timeout_ms = 5000};
    assert_int_equal(pthread_create(&r->thread, NULL, run, r), 0);
}

/* Stops the runner; returns how long it took to return, in ms. */
static int64_t stop_pull(runner *r) {
    int64_t t0 = util_monotonic_ms();
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
    pthread_join(r->thread, NULL);
    int64_t took = util_monotonic_ms() - t0;
    if (r->rc != 0) print_error("pull_run: %s\n", r->err);
    assert_int_equal(r->rc, 0);
    return took;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The file's bytes as a string ("" when missing). */
static const char *file_text(void) {
    static char text[1024];
    text[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return text;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static bool wait_for_file(const char *expected, int64_t timeout_ms) {
    int64_t end = util_monotonic_ms() + timeout_ms;
    while (util_monotonic_ms() < end) {
        if (strcmp(file_text(), expected) == 0) return true;
        sleep_ms(10);
    }
    return false;
}

static void wait_for_requests(int n, int64_t timeout_ms) {
    int64_t end = util_monotonic_ms() + timeout_ms;
    while (requests() < n && util_monotonic_ms() < end) sleep_ms(5);
    assert_true(requests() >= n);
}

static ino_t inode(void) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

static int directory_entries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int setup(void **state) {
    log_setup(LOG_LEVEL_ERROR, 0); /* the retries' warnings would only clutter the TAP output */
    snprintf(dir, sizeof dir, "/tmp/vizfeed-pull-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/vizceral.json", dir);
    pthread_mutex_lock(&server.lock);
    server.requests = server.not_modified = server.gzipped = 0;
    server.if_none_match[0] = '\0';
    pthread_mutex_unlock(&server.lock);
    set_answer(ANSWER_JSON, 200, "{\"v\":1}", "\"one\"");
    server_start(0);
    return 0;
}

static int teardown(void **state) {
    server_stop();
    unlink(path);
    return rmdir(dir) == 0 ? 0 : -1;
}

static void test_first_fetch_writes_the_file(void **state) {
    runner r;
    start_pull(&r, 100);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644); /* readable by the page server */
    stop_pull(&r);
    assert_int_equal(directory_entries(), 1); /* no temporary file left */
}

static void test_not_modified_keeps_the_file(void **state) {
    runner r;
    start_pull(&r, 50);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    ino_t before = inode();
    int seen = requests();
    wait_for_requests(seen + 4, 3000);
    stop_pull(&r);
    pthread_mutex_lock(&server.lock);
    int not_modified = server.not_modified;
    char inm[sizeof server.if_none_match];
    memcpy(inm, server.if_none_match, sizeof inm);
    pthread_mutex_unlock(&server.lock);
    assert_true(not_modified >= 4);
    assert_string_equal(inm, "\"one\"");
    assert_true(inode() == before); /* never rewritten */
}

static void test_a_removed_file_comes_back(void **state) {
    runner r;
    start_pull(&r, 50);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    wait_for_requests(requests() + 2, 3000); /* now answered with 304s */
    assert_int_equal(unlink(path), 0);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    stop_pull(&r);
}

static void test_gzip_is_decoded(void **state) {
    set_answer(ANSWER_GZIP, 200, "{\"v\":\"compressed\"}", "\"gz\"");
    runner r;
    start_pull(&r, 100);
    assert_true(wait_for_file("{\"v\":\"compressed\"}", 3000));
    stop_pull(&r);
    pthread_mutex_lock(&server.lock);
    int gzipped = server.gzipped;
    pthread_mutex_unlock(&server.lock);
    assert_true(gzipped >= 1);
}

static void test_invalid_bodies_keep_the_old_file(void **state) {
    static const char *const bad[] = {
        "{\"nodes\":[{\"name\":\"a\"", /* truncated */
        "[1,2,3]",                     /* not an object */
        "<html>bad gateway</html>",    /* a proxy's page */
        "",                            /* empty */
        "{\"a\":1} {\"b\":2}",         /* two documents */
        "{\"a\":1,}",                  /* invalid */
        "\"text\"",
    };
    runner r;
    start_pull(&r, 30);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    ino_t before = inode();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char etag[32];
        snprintf(etag, sizeof etag, "\"bad%zu\"", i);
        set_answer(ANSWER_JSON, 200, bad[i], etag);
        /* A failed poll backs off from the interval (30 ms) up to 10
         * intervals; a few polls of each body are enough. */
        wait_for_requests(requests() + 2, 3000);
        assert_string_equal(file_text(), "{\"v\":1}");
        assert_true(inode() == before);
    }
    set_answer(ANSWER_JSON, 200, "{\"v\":2}", "\"two\"");
    assert_true(wait_for_file("{\"v\":2}", 3000));
    stop_pull(&r);
    assert_int_equal(directory_entries(), 1);
}

static void test_error_status_backs_off_then_recovers(void **state) {
    runner r;
    start_pull(&r, 100);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    set_answer(ANSWER_STATUS, 503, "{\"error\":\"no graph yet\"}", "");
    int before = requests();
    sleep_ms(2000);
    int failed = requests() - before;
    /* Without backoff 2 s would hold ~20 polls; with it (0.1, 0.2, 0.4,
     * 0.8, 1 s, shortened by up to a quarter) at most 7. */
    assert_true(failed >= 3);
    assert_true(failed <= 7);
    assert_string_equal(file_text(), "{\"v\":1}");
    set_answer(ANSWER_JSON, 200, "{\"v\":3}", "\"three\"");
    assert_true(wait_for_file("{\"v\":3}", 2000));
    /* Back to the interval: ~10 polls a second again. */
    before = requests();
    sleep_ms(1000);
    assert_true(requests() - before >= 5);
    stop_pull(&r);
}

static void test_server_down_then_back(void **state) {
    runner r;
    start_pull(&r, 100);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    int port = server.port;
    server_stop();
    sleep_ms(1200);
    assert_string_equal(file_text(), "{\"v\":1}");
    set_answer(ANSWER_JSON, 200, "{\"v\":\"back\"}", "\"back\"");
    server_start(port);
    assert_int_equal(server.port, port);
    assert_true(wait_for_file("{\"v\":\"back\"}", 3000));
    stop_pull(&r);
}

static void test_stop_ends_a_wait_promptly(void **state) {
    runner r;
    start_pull(&r, 60000);
    assert_true(wait_for_file("{\"v\":1}", 3000));
    sleep_ms(100);
    assert_true(stop_pull(&r) < 500);
    assert_int_equal(requests(), 1);
}

static void test_stop_ends_a_request_promptly(void **state) {
    set_answer(ANSWER_STALL, 200, "", "");
    runner r;
    start_pull(&r, 100);
    wait_for_requests(1, 3000);
    sleep_ms(100);
    assert_true(stop_pull(&r) < 500);
    assert_string_equal(file_text(), ""); /* nothing written */
}

static void test_start_errors(void **state) {
    char err[ERR_LEN] = "";
    volatile sig_atomic_t stop = 0;
    pull_options o = {.url = "ftp://127.0.0.1/x", .output = path, .interval_ms = 100};
    assert_int_equal(pull_run(&o, &stop, err), -1);
    assert_non_null(strstr(err, "http://"));
    o.url = url;
    o.output = "/nonexistent-vizfeed-dir/out.json";
    assert_int_equal(pull_run(&o, &stop, err), -1);
    assert_non_null(strstr(err, "nonexistent-vizfeed-dir"));
    o.output = path;
    o.interval_ms = 0;
    assert_int_equal(pull_run(&o, &stop, err), -1);
}

static void test_backoff_schedule(void **state) {
    assert_int_equal(pull_backoff_ms(1000, 1, 0), 1000);
    assert_int_equal(pull_backoff_ms(1000, 2, 0), 2000);
    assert_int_equal(pull_backoff_ms(1000, 3, 0), 4000);
    assert_int_equal(pull_backoff_ms(1000, 4, 0), 8000);
    assert_int_equal(pull_backoff_ms(1000, 5, 0), 10000); /* 10 intervals */
    assert_int_equal(pull_backoff_ms(1000, 1000, 0), 10000);
    assert_int_equal(pull_backoff_ms(60000, 4, 0), 300000); /* 5 minutes */
    assert_int_equal(pull_backoff_ms(60000, 40, 0), 300000);
    assert_int_equal(pull_backoff_ms(600000, 9, 0), 600000); /* never below the interval */
    /* Jitter shortens by at most a quarter. */
    assert_int_equal(pull_backoff_ms(1000, 2, 0.5), 1750);
    assert_true(pull_backoff_ms(1000, 5, 0.9999) >= 7500);
    assert_int_equal(pull_backoff_ms(1000, 2, -3), 2000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_fetch_writes_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_modified_keeps_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_removed_file_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_is_decoded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_bodies_keep_the_old_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_status_backs_off_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_down_then_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_ends_a_wait_promptly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_ends_a_request_promptly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
