/*
 * atomic_file.c - replaces a file so that a reader sees the old bytes or the
 * new ones, never a mix: temporary file beside it, fsync, rename, fsync of
 * the directory (atomic_file.h). One implementation, because the output
 * file, `vizfeed pull` and --record all need the same guarantee.
 */
#include "atomic_file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_directory(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    /* Some file systems cannot sync a directory; the rename still happened
     * and there is nothing better to do. */
    if (rc < 0 && saved == EINVAL) rc = 0;
    errno = saved;
    return rc;
}

static const char *kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

int atomic_file_check_target(const char *path, char *err) {
    struct stat st;
    /* lstat: a symbolic link is judged itself, since rename() would replace
     * the link, not what it points at. */
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        return util_fail(err, "cannot look at it: %s", strerror(errno));
    }
    if (S_ISREG(st.st_mode)) return 0;
    return util_fail(err, "it is %s, not a regular file; refusing to replace it", kind_of(st.st_mode));
}

/* Creates the temporary file (tmp ends in XXXXXX) and locks it, which marks
 * it as in use for sweeps. The two steps run under a shared lock on the
 * directory, which a sweep holds exclusively, so no sweep can find the file
 * between them. Should a file system refuse either lock, a swept file is
 * noticed (no link left) and another name is tried. Returns the descriptor,
 * or -1 with errno. */
static int claim_temporary(const char *dir, char *tmp) {
    size_t len = strlen(tmp);
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) (void)flock(dir_fd, LOCK_SH);
    int fd = -1;
    for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
        memcpy(tmp + len - 6, "XXXXXX", 6);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) break;
        struct stat st;
        if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 && st.st_nlink == 0) {
            close(fd); /* swept away meanwhile */
            fd = -1;
            errno = EAGAIN;
        }
    }
    int saved = errno;
    if (dir_fd >= 0) close(dir_fd); /* and with it the directory lock */
    errno = saved;
    return fd;
}

int atomic_file_replace(const char *path, const char *dir, const atomic_part *parts, size_t nparts, char *err) {
    assert(path && dir && (parts || nparts == 0));
    char why[ERR_LEN];
    if (atomic_file_check_target(path, why) < 0) return util_fail(err, "%s", why);
    size_t path_len = strlen(path);
    static const char suffix[] = ATOMIC_TMP_INFIX "XXXXXX";
    char *tmp = xmalloc(path_len + sizeof suffix);
    memcpy(tmp, path, path_len);
    memcpy(tmp + path_len, suffix, sizeof suffix);
    const char *step = "cannot create a temporary file beside it";
    int rc = -1;

    int fd = claim_temporary(dir, tmp);
    if (fd < 0) goto done;
    step = "cannot write the temporary file";
    for (size_t i = 0; i < nparts; i++)
        if (write_all(fd, parts[i].data, parts[i].len) < 0) goto fail;
    step = "cannot sync the temporary file";
    if (fsync(fd) < 0) goto fail;
    /* mkstemp creates the file 0600. */
    step = "cannot make the temporary file readable";
    if (fchmod(fd, ATOMIC_FILE_MODE) < 0) goto fail;
    /* The path may have become something else while this was written (a
     * FIFO, a device, a link): look again just before the rename. */
    if (atomic_file_check_target(path, why) < 0) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return util_fail(err, "%s", why);
    }
    step = "cannot write the temporary file";
    int close_rc = close(fd);
    fd = -1;
    if (close_rc < 0) goto fail;
    step = "cannot rename the temporary file over it";
    if (rename(tmp, path) < 0) goto fail;
    /* From here on the new file is in place: nothing to unlink. */
    step = "cannot sync its directory";
    if (sync_directory(dir) < 0) goto done;
    rc = 0;
    goto done;

fail:;
    int saved = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    errno = saved;
done:
    if (rc < 0) util_fail(err, "%s: %s", step, strerror(errno));
    free(tmp);
    return rc;
}
