/*
 * failio.c - an LD_PRELOAD fault injector for tests/scenario/test_output_faults.py.
 *
 * A real EIO from fsync() needs a failing device (dm-flakey, a yanked disk);
 * this library makes the calls of the process it is loaded into fail instead,
 * on demand and only for the files a test names:
 *
 *   FAILIO_DIR=/abs/dir          only calls on files directly or deeper under this directory
 *   FAILIO_CONTROL=/abs/control  while this file exists, each of its lines "CALL ERRNO"
 *                                (e.g. "fsync EIO"; CALL is fsync, fdatasync, write or
 *                                rename; ERRNO a name below or a number) makes that call
 *                                return -1 with that errno
 *
 * Without both variables, without the control file, or for any other file,
 * every call goes to the C library unchanged (found with dlsym(RTLD_NEXT)).
 * The control file is read at each call, so a test switches a fault on and
 * off by writing and removing it; its cost (one access() per call) is
 * irrelevant in a test. Calls the C library makes internally (stdio's
 * buffered writes) do not pass through here; vizfeed's output file code
 * calls write(), fsync() and rename() directly.
 *
 * The wrappers only call open/read/close/access/readlink/realpath/getcwd,
 * none of which is wrapped, so there is no recursion. Not for sanitizer
 * builds: their runtime must come first in the library list.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*sync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);

static write_fn real_write;
static sync_fn real_fsync, real_fdatasync;
static rename_fn real_rename;
static char fault_dir[PATH_MAX]; /* FAILIO_DIR resolved, "" when unset or missing */
static const char *control;      /* FAILIO_CONTROL, NULL when unset */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void) {
    real_write = (write_fn)dlsym(RTLD_NEXT, "write");
    real_fsync = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    real_rename = (rename_fn)dlsym(RTLD_NEXT, "rename");
    const char *dir = getenv("FAILIO_DIR");
    if (!dir || !realpath(dir, fault_dir)) fault_dir[0] = '\0';
    control = getenv("FAILIO_CONTROL");
}

static const struct {
    const char *name;
    int value;
} errnos[] = {{"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EROFS", EROFS}, {"EDQUOT", EDQUOT},
              {"EFBIG", EFBIG}, {"EACCES", EACCES}, {"EPERM", EPERM}, {"ENOENT", ENOENT},
              {"EBUSY", EBUSY}, {"EXDEV", EXDEV},   {"EINTR", EINTR}, {"EAGAIN", EAGAIN}};

static int errno_of(const char *word) {
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        if (strcmp(word, errnos[i].name) == 0) return errnos[i].value;
    char *end;
    long n = strtol(word, &end, 10);
    return *word && !*end && n > 0 && n < 4096 ? (int)n : 0;
}

/* The errno the control file asks `call` to fail with, or 0. */
static int armed(const char *call) {
    pthread_once(&once, init);
    if (!control || !fault_dir[0] || access(control, F_OK) != 0) return 0;
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[1024];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[32], err[32];
        if (sscanf(line, "%31s %31s", name, err) == 2 && strcmp(name, call) == 0) return errno_of(err);
    }
    return 0;
}

static bool under_fault_dir(const char *path) {
    size_t len = strlen(fault_dir);
    return strncmp(path, fault_dir, len) == 0 && path[len] == '/';
}

static bool fd_under_fault_dir(int fd) {
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return false;
    path[n] = '\0';
    return under_fault_dir(path);
}

/* A rename's source may be relative, and its directory a symbolic link:
 * resolve the directory part, keep the last component. */
static bool path_under_fault_dir(const char *path) {
    char dir[PATH_MAX], resolved[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        if (!getcwd(resolved, sizeof resolved)) return false;
    } else {
        size_t len = slash == path ? 1 : (size_t)(slash - path);
        if (len >= sizeof dir) return false;
        memcpy(dir, path, len);
        dir[len] = '\0';
        if (!realpath(dir, resolved)) return false;
    }
    size_t len = strlen(resolved);
    if (len + 2 > sizeof resolved) return false;
    resolved[len] = '/', resolved[len + 1] = '\0';
    size_t dir_len = strlen(fault_dir);
    return strncmp(resolved, fault_dir, dir_len) == 0 && resolved[dir_len] == '/';
}

ssize_t write(int fd, const void *data, size_t len) {
    int e = armed("write");
    if (e && fd_under_fault_dir(fd)) {
        errno = e;
        return -1;
    }
    return real_write(fd, data, len);
}

int fsync(int fd) {
    int e = armed("fsync");
    if (e && fd_under_fault_dir(fd)) {
        errno = e;
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd) {
    int e = armed("fdatasync");
    if (e && fd_under_fault_dir(fd)) {
        errno = e;
        return -1;
    }
    return real_fdatasync(fd);
}

int rename(const char *from, const char *to) {
    int e = armed("rename");
    if (e && (path_under_fault_dir(from) || path_under_fault_dir(to))) {
        errno = e;
        return -1;
    }
    return real_rename(from, to);
}
