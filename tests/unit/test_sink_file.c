/* Unit tests of sink_file.c: atomic replacement of the output file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics_internal.h"
#include "sink.h"
#include "util.h"

/* cmocka defines a util_fail() macro: include it after our headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char dir[64];
static char path[128];

static int setup(void **state) {
    metrics_reset();
    metrics_declare_all();
    snprintf(dir, sizeof dir, "/tmp/vizfeed-sink-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/data.json", dir);
    return 0;
}

static int teardown(void **state) {
    chmod(dir, 0755);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    metrics_reset();
    return 0;
}

static snapshot *make(const char *json) {
    char err[ERR_LEN];
    snapshot *s = snapshot_new(xstrdup(json), strlen(json), 0, 0, err);
    assert_non_null(s);
    return s;
}

static char *read_file(const char *p, size_t *len) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    buf b;
    buf_init(&b, 64u << 20);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    return buf_take(&b, len);
}

static int count_dir_entries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int publish(sink *s, const char *json, char *err) {
    snapshot *snap = make(json);
    int rc = s->ops->publish(s, snap, err);
    snapshot_unref(snap);
    return rc;
}

static void publish_writes_the_json_readable_by_all(void **state) {
    char err[ERR_LEN];
    sink *s = sink_file_new(path, err);
    assert_non_null(s);
    assert_string_equal(s->ops->name, "file");
    assert_int_equal(publish(s, "{\"v\":1}", err), 0);
    size_t len;
    char *text = read_file(path, &len);
    assert_non_null(text);
    assert_string_equal(text, "{\"v\":1}");
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(count_dir_entries(), 1); /* no temporary file left */
    assert_int_equal(publish(s, "{\"v\":2}", err), 0);
    text = read_file(path, &len);
    assert_string_equal(text, "{\"v\":2}");
    free(text);
    assert_true(metrics_get("vizfeed_output_file_writes_total", "") == 2);
    assert_true(metrics_get("vizfeed_output_file_errors_total", "") == 0);
    s->ops->close(s);
}

static void same_etag_is_not_rewritten_unless_the_file_vanished(void **state) {
    char err[ERR_LEN];
    sink *s = sink_file_new(path, err);
    assert_int_equal(publish(s, "{\"same\":true}", err), 0);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(publish(s, "{\"same\":true}", err), 0);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino); /* a rewrite would rename a new inode in */
    assert_true(metrics_get("vizfeed_output_file_writes_total", "") == 1);

    unlink(path);
    assert_int_equal(publish(s, "{\"same\":true}", err), 0);
    size_t len;
    char *text = read_file(path, &len);
    assert_non_null(text);
    assert_string_equal(text, "{\"same\":true}");
    free(text);
    assert_true(metrics_get("vizfeed_output_file_writes_total", "") == 2);
    s->ops->close(s);
}

static void unwritable_directory_fails_clearly_and_keeps_the_old_file(void **state) {
    char err[ERR_LEN] = "";
    sink *s = sink_file_new(path, err);
    assert_int_equal(publish(s, "{\"old\":1}", err), 0);
    chmod(dir, 0555);
    int rc;
    if (geteuid() == 0) {
        /* root ignores directory permissions: publish as nobody in a child,
         * which hands back its result and message through a pipe. */
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            if (setgid(65534) < 0 || setuid(65534) < 0) _exit(3);
            int child_rc = publish(s, "{\"new\":1}", err);
            if (write(fds[1], err, strlen(err) + 1) < 0) _exit(4);
            _exit(child_rc == -1 ? 0 : 1);
        }
        close(fds[1]);
        memset(err, 0, sizeof err);
        ssize_t n = read(fds[0], err, sizeof err - 1);
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        assert_true(n > 0);
        assert_true(WIFEXITED(status));
        rc = WEXITSTATUS(status) == 0 ? -1 : 0;
    } else {
        rc = publish(s, "{\"new\":1}", err);
        assert_true(metrics_get("vizfeed_output_file_errors_total", "") == 1);
    }
    chmod(dir, 0755);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(EACCES)));
    assert_null(strchr(err, '\n'));
    size_t len;
    char *text = read_file(path, &len);
    assert_string_equal(text, "{\"old\":1}");
    free(text);
    assert_int_equal(count_dir_entries(), 1);
    s->ops->close(s);
}

/* A write that fails half-way (here: the file size limit, which binds root
 * too) must leave neither a partial file nor a temporary one. */
static void failed_write_removes_the_temporary_file_and_keeps_the_old_one(void **state) {
    char err[ERR_LEN] = "";
    sink *s = sink_file_new(path, err);
    assert_int_equal(publish(s, "{\"old\":1}", err), 0);

    size_t big_len = 1 << 20;
    char *big = xmalloc(big_len + 1);
    memset(big, ' ', big_len);
    big[0] = '{', big[big_len - 1] = '}', big[big_len] = '\0';
    struct rlimit saved, small = {.rlim_cur = 64 << 10, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &saved);
    small.rlim_max = saved.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    int rc = publish(s, big, err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_DFL);
    free(big);

    assert_int_equal(rc, -1);
    /* The path and the cause, once: the caller adds "file output failed: ". */
    assert_int_equal(strncmp(err, path, strlen(path)), 0);
    assert_non_null(strstr(err, strerror(EFBIG)));
    size_t len;
    char *text = read_file(path, &len);
    assert_string_equal(text, "{\"old\":1}");
    free(text);
    assert_int_equal(count_dir_entries(), 1);
    assert_true(metrics_get("vizfeed_output_file_errors_total", "") == 1);

    /* After a failure the same graph is written again, not skipped. */
    assert_int_equal(publish(s, "{\"old\":1}", err), 0);
    assert_true(metrics_get("vizfeed_output_file_writes_total", "") == 2);
    s->ops->close(s);
}

static void constructor_rejects_missing_directories(void **state) {
    char err[ERR_LEN] = "";
    assert_null(sink_file_new("/nonexistent-vizfeed-dir/data.json", err));
    assert_non_null(strstr(err, "/nonexistent-vizfeed-dir"));
    char slash[160];
    snprintf(slash, sizeof slash, "%s/", dir);
    assert_null(sink_file_new(slash, err)); /* names a directory */
    assert_non_null(strstr(err, "directory"));
    assert_null(sink_file_new("", err));
}

static void make_file(const char *name) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("{\"partial", f);
    fclose(f);
}

/* Only a regular file (or nothing) is ever replaced: a device node, a FIFO,
 * a directory or a symbolic link at the path is refused, at open and at
 * every write, and left exactly as it was. /dev/null is only opened, never
 * written: before the fix this test must not turn it into a file. */
static void special_files_are_refused_and_left_alone(void **state) {
    char err[ERR_LEN] = "";
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    sink *s = sink_file_new("/dev/null", err);
    if (s) s->ops->close(s); /* closing writes nothing */
    assert_null(s);
    assert_non_null(strstr(err, "/dev/null"));
    assert_non_null(strstr(err, "character device"));

    assert_int_equal(mkfifo(path, 0600), 0);
    s = sink_file_new(path, err);
    if (s) {
        (void)publish(s, "{\"v\":1}", err);
        s->ops->close(s);
    }
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_null(s);
    assert_non_null(strstr(err, "FIFO"));
    unlink(path);

    char p[256];
    snprintf(p, sizeof p, "%s/elsewhere.json", dir);
    make_file("elsewhere.json");
    assert_int_equal(symlink(p, path), 0);
    assert_null(sink_file_new(path, err));
    assert_non_null(strstr(err, "symbolic link"));
    unlink(path);

    assert_int_equal(mkdir(path, 0755), 0);
    assert_null(sink_file_new(path, err));
    assert_non_null(strstr(err, "a directory"));
    rmdir(path);

    /* Something that appears at the path after the open is refused at the
     * write, counted, and kept; nothing is left beside it. */
    s = sink_file_new(path, err);
    assert_non_null(s);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(publish(s, "{\"v\":2}", err), -1);
    assert_non_null(strstr(err, "FIFO"));
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_true(metrics_get("vizfeed_output_file_errors_total", "") == 1);
    assert_int_equal(count_dir_entries(), 2); /* the FIFO and elsewhere.json */
    unlink(path);
    assert_int_equal(publish(s, "{\"v\":3}", err), 0); /* and writes once it is gone */
    s->ops->close(s);
}

static bool exists(const char *name) {
    char p[256];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

/* A writer killed between mkostemp() and rename() leaves its temporary file;
 * the next sink on the same path removes exactly those: regular files named
 * `data.json.tmp.` plus six letters or digits that no live writer holds. */
static void stale_temporaries_are_removed_and_look_alikes_kept(void **state) {
    const char *stale[] = {"data.json.tmp.AbC123", "data.json.tmp.zzzzzz", "data.json.tmp.000000"};
    const char *kept[] = {
        "data.json.tmp.AbC1234", /* 7 characters */
        "data.json.tmp.AbC12",   /* 5 */
        "data.json.tmp.AbC_12",  /* not a letter or digit */
        "data.json.tmp.",        /* none */
        "xdata.json.tmp.AbC123", /* another prefix */
        "data.jso.tmp.AbC123",   /* another file's */
        "data.json.TMP.AbC123",  /* another infix */
        "data.json.AbC123",      /* no infix */
        "victim",                /* target of the symbolic link below */
    };
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) make_file(stale[i]);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) make_file(kept[i]);
    char p[256], q[256];
    snprintf(p, sizeof p, "%s/data.json.tmp.Link01", dir); /* a symbolic link is never followed nor removed */
    assert_int_equal(symlink("victim", p), 0);
    snprintf(p, sizeof p, "%s/data.json.tmp.Dir001", dir); /* nor a directory */
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/data.json.tmp.Fifo01", dir); /* a FIFO is not even opened (it would block) */
    assert_int_equal(mkfifo(p, 0600), 0);
    make_file("data.json.tmp.Lock01"); /* held by a live writer: its flock */
    snprintf(q, sizeof q, "%s/data.json.tmp.Lock01", dir);
    int held = open(q, O_RDONLY | O_CLOEXEC);
    assert_true(held >= 0);
    assert_int_equal(flock(held, LOCK_EX), 0);

    char err[ERR_LEN];
    sink *s = sink_file_new(path, err);
    assert_non_null(s);
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) assert_false(exists(stale[i]));
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) assert_true(exists(kept[i]));
    assert_true(exists("data.json.tmp.Link01"));
    assert_true(exists("data.json.tmp.Dir001"));
    assert_true(exists("data.json.tmp.Fifo01"));
    assert_true(exists("data.json.tmp.Lock01"));
    size_t len;
    char *text = read_file(q, &len); /* untouched, and so is the link's target */
    assert_string_equal(text, "{\"partial");
    free(text);
    snprintf(q, sizeof q, "%s/victim", dir);
    text = read_file(q, &len);
    assert_string_equal(text, "{\"partial");
    free(text);
    /* The sink writes as before, and its own temporary file is gone after. */
    assert_int_equal(publish(s, "{\"v\":1}", err), 0);
    assert_int_equal(count_dir_entries(), (int)(sizeof kept / sizeof kept[0]) + 5);
    s->ops->close(s);

    /* Once its writer is gone (here: the lock released), the next sink removes it. */
    close(held);
    s = sink_file_new(path, err);
    assert_false(exists("data.json.tmp.Lock01"));
    assert_true(exists("data.json.tmp.Link01"));
    s->ops->close(s);
    snprintf(p, sizeof p, "%s/data.json.tmp.Dir001", dir); /* the teardown removes files only */
    assert_int_equal(rmdir(p), 0);
}

/* A sink opened while another writes the same path (a reload, `once -o`)
 * leaves the other's temporary file alone: the writer holds it locked. */
static void an_open_does_not_remove_a_temporary_file_being_written(void **state) {
    char err[ERR_LEN];
    sink *writer = sink_file_new(path, err);
    assert_int_equal(publish(writer, "{\"v\":1}", err), 0);
    /* A temporary file as replace_file() holds it between mkostemp() and rename(). */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    sink *other = sink_file_new(path, err);
    assert_non_null(other);
    struct stat st;
    assert_int_equal(stat(tmp, &st), 0);
    close(fd);
    other->ops->close(other);
    writer->ops->close(writer);
    sink *later = sink_file_new(path, err);
    assert_int_equal(stat(tmp, &st), -1);
    later->ops->close(later);
}

#define VERSIONS 200

static char *versions[VERSIONS];
static volatile int writer_done;
static int reader_reads, reader_bad;

static void *reader(void *arg) {
    while (!__atomic_load_n(&writer_done, __ATOMIC_ACQUIRE)) {
        size_t len;
        char *text = read_file(path, &len);
        if (!text) continue; /* before the first publish */
        int known = 0;
        for (int i = 0; i < VERSIONS && !known; i++) known = strcmp(text, versions[i]) == 0;
        if (!known) reader_bad++;
        reader_reads++;
        free(text);
    }
    return NULL;
}

static void a_concurrent_reader_never_sees_a_partial_file(void **state) {
    char err[ERR_LEN];
    /* Versions of different sizes, large enough to take several writes. */
    for (int i = 0; i < VERSIONS; i++) {
        buf b;
        buf_init(&b, 1 << 20);
        buf_printf(&b, "{\"version\":%d,\"pad\":\"", i);
        for (int j = 0; j < 2000 + (i % 7) * 3000; j++) buf_putc(&b, (char)('a' + (i + j) % 26));
        buf_puts(&b, "\"}");
        versions[i] = buf_take(&b, NULL);
    }
    sink *s = sink_file_new(path, err);
    pthread_t t;
    writer_done = 0;
    reader_reads = reader_bad = 0;
    pthread_create(&t, NULL, reader, NULL);
    for (int i = 0; i < VERSIONS; i++) assert_int_equal(publish(s, versions[i], err), 0);
    __atomic_store_n(&writer_done, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    assert_int_equal(reader_bad, 0);
    assert_true(reader_reads > 0);
    assert_int_equal(count_dir_entries(), 1);
    for (int i = 0; i < VERSIONS; i++) free(versions[i]);
    s->ops->close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(publish_writes_the_json_readable_by_all, setup, teardown),
        cmocka_unit_test_setup_teardown(same_etag_is_not_rewritten_unless_the_file_vanished, setup, teardown),
        cmocka_unit_test_setup_teardown(unwritable_directory_fails_clearly_and_keeps_the_old_file, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_write_removes_the_temporary_file_and_keeps_the_old_one, setup, teardown),
        cmocka_unit_test_setup_teardown(constructor_rejects_missing_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(special_files_are_refused_and_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(a_concurrent_reader_never_sees_a_partial_file, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_temporaries_are_removed_and_look_alikes_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(an_open_does_not_remove_a_temporary_file_being_written, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
