/*
 * sink_file.c - the output-file sink (sink.h): writes every published
 * snapshot to output.file through atomic_file.c, skipping a write when the
 * bytes (their ETag) did not change, and removing the temporary files an
 * earlier writer left behind.
 */
#include "sink.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* The output file is replaced by atomic_file_replace() (atomic_file.h): a
 * temporary file beside the target, fsync, rename, fsync of the directory. A
 * reader therefore sees the old graph or the new one, and a crash leaves one
 * of them, never a truncated file.
 *
 * A writer killed between creating its temporary file and the rename leaves
 * that file behind, and every write picks a new name, so opening the sink
 * sweeps the leftovers (see sweep_stale_temporaries). A writer holds an
 * flock on its temporary file while it works on it: the sweep of another
 * sink on the same path (a reload, `once -o`, a second process) leaves a
 * file alone while someone holds it, and a killed writer's lock is gone.
 * The moment between creating the file and locking it is covered by a lock
 * on the directory (atomic_file.h describes the protocol). */

/* The names atomic_file_replace() gives its temporary files (atomic_file.h). */
#define TMP_PREFIX  ATOMIC_TMP_INFIX
#define TMP_RANDOM  ATOMIC_TMP_RANDOM
#define SWEEP_NAMES 200 /* bytes of removed names quoted in the log line */

typedef struct {
    sink base;
    char *path;
    char *dir;          /* directory holding path, fsync'ed after rename */
    char last_etag[40]; /* ETag of the bytes last written, "" when none */
} file_sink;

static int replace_file(file_sink *f, const void *bytes, size_t len, char *err) {
    char why[ERR_LEN];
    atomic_part part = {bytes, len};
    if (atomic_file_replace(f->path, f->dir, &part, 1, why) < 0)
        return util_fail(err, "%s: %s", f->path, why); /* the daemon says "file output failed" */
    return 0;
}

/* True for exactly `<base>.tmp.` followed by TMP_RANDOM letters or digits:
 * the names replace_file() creates, nothing that merely resembles them. */
static bool is_own_temporary(const char *name, const char *base, size_t base_len) {
    if (strncmp(name, base, base_len) != 0) return false;
    name += base_len;
    if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0) return false;
    name += strlen(TMP_PREFIX);
    for (int i = 0; i < TMP_RANDOM; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
    }
    return name[TMP_RANDOM] == '\0';
}

/* Removes dir/name if it is a regular file (never through a symbolic link,
 * never a device or a FIFO, which are not even opened) that no live writer
 * holds locked. Returns whether it was removed. */
static bool remove_if_stale(int dir_fd, const char *name) {
    struct stat st, opened;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) return false;
    int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return false; /* gone meanwhile, or another user's */
    bool removed = fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode) && opened.st_dev == st.st_dev &&
                   opened.st_ino == st.st_ino && flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dir_fd, name, 0) == 0;
    close(fd);
    return removed;
}

/* Removes the temporary files that writers of this path left when they were
 * killed mid-write, and logs one info line naming them. Best effort: a
 * directory that cannot be listed is left to the first write to report. */
static void sweep_stale_temporaries(const file_sink *f) {
    const char *slash = strrchr(f->path, '/');
    const char *base = slash ? slash + 1 : f->path;
    size_t base_len = strlen(base);
    DIR *d = opendir(f->dir);
    if (!d) {
        log_debug("output file %s: cannot look for stale temporary files: %s", f->path, strerror(errno));
        return;
    }
    /* Writers hold this lock shared from creating a temporary file to
     * locking it (claim_temporary). */
    (void)flock(dirfd(d), LOCK_EX);
    unsigned removed = 0;
    char names[SWEEP_NAMES] = "";
    size_t used = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_own_temporary(e->d_name, base, base_len) || !remove_if_stale(dirfd(d), e->d_name)) continue;
        removed++;
        if (used < sizeof names) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", removed > 1 ? ", " : "", e->d_name);
            used = n < 0 ? sizeof names : used + (size_t)n;
        }
    }
    closedir(d);
    if (removed)
        log_info("output file %s: removed %u stale temporary file(s) left by an interrupted write: %s%s", f->path,
                 removed, names, used >= sizeof names ? "..." : "");
}

static int file_publish(sink *s, snapshot *snap, char *err) {
    file_sink *f = (file_sink *)s;
    /* Most refreshes of a quiet fleet produce the same bytes; skip the disk
     * work then, unless someone removed the file meanwhile. */
    struct stat st;
    if (f->last_etag[0] && strcmp(f->last_etag, snap->etag) == 0 && stat(f->path, &st) == 0) return 0;
    if (replace_file(f, snap->json, snap->json_len, err) < 0) {
        f->last_etag[0] = '\0';
        metrics_add("vizfeed_output_file_errors_total", "", 1);
        return -1;
    }
    memcpy(f->last_etag, snap->etag, sizeof f->last_etag);
    metrics_add("vizfeed_output_file_writes_total", "", 1);
    return 0;
}

static void file_close(sink *s) {
    file_sink *f = (file_sink *)s;
    if (!f) return;
    free(f->path);
    free(f->dir);
    free(f);
}

static const sink_ops file_sink_ops = {
    .name = "file",
    .publish = file_publish,
    .close = file_close,
};

int sink_file_write(sink *s, const void *bytes, size_t len, char *err) {
    assert(s && s->ops == &file_sink_ops);
    file_sink *f = (file_sink *)s;
    /* The file no longer holds the last published snapshot. */
    f->last_etag[0] = '\0';
    return replace_file(f, bytes, len, err);
}

sink *sink_file_new(const char *path, char *err) {
    if (util_str_empty(path)) {
        util_fail(err, "output file: empty path");
        return NULL;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        util_fail(err, "output file %s: names a directory, expected a file name", path);
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = xstrdup(".");
    else if (slash == path)
        dir = xstrdup("/");
    else
        dir = xstrndup(path, (size_t)(slash - path));
    /* Catch a mistyped directory at start-up rather than at the first
     * refresh; permissions are left to the first write, which may run after
     * the administrator fixed them. */
    struct stat st;
    const char *problem = NULL;
    if (stat(dir, &st) < 0)
        problem = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        problem = "not a directory";
    if (problem) {
        util_fail(err, "output file %s: directory %s: %s", path, dir, problem);
        free(dir);
        return NULL;
    }
    /* A device, a FIFO, a directory or a link at the path is refused now,
     * as it would be at every write (atomic_file.h says why). */
    char why[ERR_LEN];
    if (atomic_file_check_target(path, why) < 0) {
        util_fail(err, "output file %s: %s", path, why);
        free(dir);
        return NULL;
    }
    file_sink *f = xcalloc(1, sizeof *f);
    f->base.ops = &file_sink_ops;
    f->path = xstrdup(path);
    f->dir = dir;
    sweep_stale_temporaries(f);
    return &f->base;
}
