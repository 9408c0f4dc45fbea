/*
 * recording.c - the directory layout of `--record` and of replay flows, in
 * one place: source_es.c writes pages through recording_write_page() (one
 * atomic writer: a reader or a crash never leaves half a file), and
 * source_replay.c lists and reads them back. The contract, with the layout,
 * is in recording.h.
 */
#include "recording.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"

/* ---- recording ------------------------------------------------------- */

/* A flow name as one safe path component. */
static void safe_component(const char *name, buf *out) {
    if (!strcmp(name, ".") || !strcmp(name, "..") || !*name) buf_putc(out, '_');
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.';
        buf_putc(out, ok ? c : '_');
    }
}

static int make_dirs(const char *path, char *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return util_fail(err, "path too long: %.100s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return util_fail(err, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return util_fail(err, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

/* Writes head then body to path with the one atomic writer (temporary
 * file, fsync, rename, directory fsync), so a reader never sees half a file
 * and a crash keeps what was recorded. */
static int write_atomic(const char *dir, const char *path, const char *head, size_t head_len, const char *body,
                        size_t body_len, char *err) {
    char why[ERR_LEN];
    atomic_part parts[] = {{head, head_len}, {body, body_len}};
    if (atomic_file_replace(path, dir, parts, 2, why) < 0) return util_fail(err, "cannot write %s: %s", path, why);
    return 0;
}

static void json_string(buf *out, const char *s) {
    buf_putc(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf_printf(out, "\\%c", c);
        else if (c < 0x20)
            buf_printf(out, "\\u%04x", c);
        else
            buf_putc(out, (char)c);
    }
    buf_putc(out, '"');
}

/* The request always; the answer when one arrived (a request without an
 * answer file tells the replay that the live request failed). */
int recording_write_page(const char *flow_dir, unsigned long refresh, unsigned page, const char *search_path,
                         const char *body, size_t body_len, int status, const buf *answer, char *err) {
    char dir[4096], path[4150];
    snprintf(dir, sizeof dir, "%s/%06lu", flow_dir, refresh);
    if (make_dirs(dir, err) < 0) return -1;
    buf request;
    buf_init(&request, RECORDING_MAX_REQUEST);
    buf_puts(&request, "{\"method\":\"POST\",\"path\":");
    json_string(&request, search_path);
    buf_puts(&request, ",\"body\":");
    buf_append(&request, body, body_len);
    buf_puts(&request, "}\n");
    if (buf_failed(&request)) {
        buf_free(&request);
        util_fail(err, "recording %s/%04u: the request is longer than %d bytes", dir, page, RECORDING_MAX_REQUEST);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%04u.request.json", dir, page);
    int rc = write_atomic(dir, path, request.data, request.len, "", 0, err);
    buf_free(&request);
    if (rc < 0 || status < 0) return rc;
    char head[32];
    int head_len = snprintf(head, sizeof head, "HTTP %d\n", status);
    snprintf(path, sizeof path, "%s/%04u.response.json", dir, page);
    return write_atomic(dir, path, head, (size_t)head_len, answer->data ? answer->data : "", answer->len, err);
}

/* Continues the numbering of an earlier run into the same directory rather
 * than overwriting its refreshes. */
static unsigned long last_recorded_refresh(const char *dir) {
    unsigned long last = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        unsigned long n = strtoul(e->d_name, &end, 10);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && !*end && n > last) last = n;
    }
    closedir(d);
    return last;
}

int recording_flow_dir(const char *root, const char *flow_name, char **dir, unsigned long *last_refresh, char *err) {
    buf b;
    buf_init(&b, 64 << 10);
    buf_puts(&b, root);
    buf_putc(&b, '/');
    safe_component(flow_name, &b);
    if (buf_failed(&b)) {
        buf_free(&b);
        *dir = NULL;
        util_fail(err, "recording directory for flow '%s' is too long", flow_name);
        return -1;
    }
    *dir = buf_take(&b, NULL);
    buf_free(&b);
    if (make_dirs(*dir, err) < 0) {
        free(*dir);
        *dir = NULL;
        return -1;
    }
    *last_refresh = last_recorded_refresh(*dir);
    return 0;
}

/* ---- replaying ------------------------------------------------------- */

static bool digits_only(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* Numbers may outgrow their zero padding: shorter first, then by text. */
static int compare_numbered(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strspn(x, "0123456789"), ly = strspn(y, "0123456789");
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x, y);
}

/* Names of dir's entries that are a number followed by suffix ("" = a
 * directory named by a number), sorted by that number. */
static int list_numbered(const char *dir, const char *suffix, size_t max, char ***out, size_t *count, char *err) {
    DIR *d = opendir(dir);
    if (!d) return util_fail(err, "cannot open %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    size_t suffix_len = strlen(suffix);
    int rc = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name), digits = len - (len >= suffix_len ? suffix_len : len);
        if (len < suffix_len || strcmp(e->d_name + digits, suffix) || !digits_only(e->d_name, digits)) continue;
        if (!*suffix) {
            char p[4096];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) continue;
        }
        if (n == max) {
            rc = util_fail(err, "%s holds more than %zu recorded entries", dir, max);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        return -1;
    }
    if (n) qsort(names, n, sizeof *names, compare_numbered);
    *out = names;
    *count = n;
    return 0;
}

void recording_free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

int recording_list_refreshes(const char *flow_dir, char ***names, size_t *count, char *err) {
    return list_numbered(flow_dir, "", RECORDING_MAX_REFRESHES, names, count, err);
}

int recording_list_pages(const char *refresh_dir, char ***names, size_t *count, char *err) {
    return list_numbered(refresh_dir, ".request.json", RECORDING_MAX_PAGES, names, count, err);
}

void recording_response_path(const char *refresh_dir, const char *request_name, char *out, size_t outlen) {
    size_t digits = strspn(request_name, "0123456789");
    snprintf(out, outlen, "%s/%.*s.response.json", refresh_dir, (int)digits, request_name);
}

size_t recording_parse_head(const char *text, int *status) {
    int head = 0;
    if (sscanf(text, "HTTP %d\n%n", status, &head) < 1 || head == 0) return 0;
    return (size_t)head;
}
