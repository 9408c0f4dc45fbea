/*
 * http_static.c - the files of ui_dir: the web page. Apart from the routing
 * because what makes it safe (no way out of ui_dir, no blocking open, no
 * stall on a file cut short, the page's security policy) is its own
 * concern; see http_static.h.
 */
#include "http_static.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h> /* PATH_MAX: <limits.h> finds our own limits.h when src/ is on the include path */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "http_parse.h"
#include "util.h"

/* A static file is read and sent this much at a time. */
#define HTTP_STATIC_BLOCK (64u << 10)

/* The page's security policy, sent as a header with every file of ui_dir:
 * the same policy ui/src/index.html states in its <meta> tag (scripts from
 * this origin only; Vizceral's blob: workers and data: images; a feed on
 * another origin through ?src=), plus what a <meta> tag cannot say: no
 * other site may frame the page (frame-ancestors; X-Frame-Options for older
 * browsers), so a crafted link cannot show it under someone else's
 * clickjacking overlay. test_http_hostile.py checks it against the <meta>. */
#define PAGE_SECURITY_POLICY                                                                                           \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "                  \
    "worker-src blob: data:; connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'none'; frame-ancestors 'none'"

/* ---- static files ----------------------------------------------------- */

/* Opens the file a URL names under the UI directory, or returns -1. The
 * realpath check is what stops symbolic links pointing out of ui_dir. */
static int open_static(const char *root, const char *url, struct stat *st, char *resolved) {
    char candidate[PATH_MAX];
    const char *tail = url[strlen(url) - 1] == '/' ? "index.html" : "";
    if ((size_t)snprintf(candidate, sizeof candidate, "%s%s%s", root, url, tail) >= sizeof candidate) return -1;
    if (!realpath(candidate, resolved) || !http_path_inside(resolved, root)) return -1;
    if (stat(resolved, st) < 0) return -1;
    if (S_ISDIR(st->st_mode)) {
        if ((size_t)snprintf(candidate, sizeof candidate, "%s/index.html", resolved) >= sizeof candidate) return -1;
        if (!realpath(candidate, resolved) || !http_path_inside(resolved, root)) return -1;
        if (stat(resolved, st) < 0) return -1;
    }
    /* Only regular files are opened. Opening a FIFO for reading blocks
     * until a writer comes, which held an HTTP thread, and with it every
     * connection it served and the shutdown, for good; a device may do
     * anything when opened. The file can still be swapped for one between
     * this look and the open, so the open never blocks either (O_NONBLOCK,
     * which changes nothing for a regular file), and what was opened is
     * checked again. */
    if (!S_ISREG(st->st_mode)) return -1;
    int fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return -1;
    /* Check what was opened, not what was looked at before. */
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > (off_t)HTTP_MAX_STATIC_FILE) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A file of ui_dir being sent. It is read with pread() rather than handed
 * to MHD as a descriptor (which it would send with sendfile()): when a file
 * shrinks under a transfer, as when a page is redeployed with cp over the
 * old files, sendfile() finds nothing more and MHD 0.9.75 then waits, so the
 * client sat 30 s for the promised rest (test_http_hostile.py:
 * file_cut_short). A short read ends the answer at once instead: MHD closes
 * the connection, and the client sees a body shorter than its
 * Content-Length. The copy costs nothing that matters for a page's files. */
typedef struct {
    int fd;
    uint64_t size; /* what Content-Length promised: never more is sent, even if the file grew */
} static_file;

static ssize_t read_static(void *cls, uint64_t pos, char *out, size_t max) {
    static_file *f = cls;
    if (pos >= f->size) return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > f->size - pos) max = (size_t)(f->size - pos);
    ssize_t n;
    do n = pread(f->fd, out, max, (off_t)pos);
    while (n < 0 && errno == EINTR);
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void close_static(void *cls) {
    static_file *f = cls;
    close(f->fd);
    free(f);
}

/* Checks a configured ui_dir. A directory that does not exist (yet) is not
 * an error: a feeder-only container has no page, and a page built after
 * start-up is picked up by the first request that finds it. Returns 0 with
 * *real set (NULL while missing), or -1 with err when the path exists but
 * cannot be served. */
int http_static_resolve_dir(const char *dir, char **real, char *err) {
    char resolved[PATH_MAX];
    struct stat st;
    *real = NULL;
    if (!realpath(dir, resolved)) {
        if (errno == ENOENT) return 0;
        return util_fail(err, "ui_dir %s: %s", dir, strerror(errno));
    }
    if (stat(resolved, &st) < 0) return util_fail(err, "ui_dir %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return util_fail(err, "ui_dir %s: not a directory", dir);
    if (access(resolved, R_OK | X_OK) < 0) return util_fail(err, "ui_dir %s: %s", dir, strerror(errno));
    *real = xstrdup(resolved);
    return 0;
}

enum MHD_Result http_static_serve(http_server *h, struct MHD_Connection *c, const char *url, int url_had_nul) {
    char root[PATH_MAX], configured[PATH_MAX];
    pthread_mutex_lock(&h->lock);
    snprintf(configured, sizeof configured, "%s", h->ui_dir);
    pthread_mutex_unlock(&h->lock);
    /* Resolved at every request, not once: a page deployed by swapping a
     * symbolic link (ui_dir -> releases/2) is served from the new release
     * at once, and one built after start-up is found when it appears. Kept
     * once, the old release was served until a reload, and nothing at all
     * once it was deleted (test_http_hostile.py: page_redeployed). A few
     * system calls per file of the page. */
    char scratch[ERR_LEN], *real = NULL;
    int have_root = configured[0] && http_static_resolve_dir(configured, &real, scratch) == 0 && real;
    snprintf(root, sizeof root, "%s", have_root ? real : "");
    free(real);
    if (!have_root) {
        char reason[PATH_MAX + 64];
        if (configured[0])
            snprintf(reason, sizeof reason, "no web page here: ui_dir %s does not exist", configured);
        else
            snprintf(reason, sizeof reason, "no web page here: ui_dir is not set");
        return http_answer_json(h, c, MHD_HTTP_NOT_FOUND, "/other", "error", "\"not found\"", reason);
    }
    if (url_had_nul || !http_safe_path(url)) return http_answer_not_found(h, c);

    char resolved[PATH_MAX];
    struct stat st;
    int fd = open_static(root, url, &st, resolved);
    if (fd < 0) return http_answer_not_found(h, c);
    static_file *f = xmalloc(sizeof *f);
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    struct MHD_Response *r =
        MHD_create_response_from_callback(f->size, HTTP_STATIC_BLOCK, read_static, f, close_static);
    if (!r) {
        close_static(f);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", http_content_type(resolved));
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", PAGE_SECURITY_POLICY);
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    http_add_cors(h, r);
    return http_queue_once(c, MHD_HTTP_OK, r, "/static");
}
