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
#include "jsonr.h"

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

/* ---- a refresh's window ---------------------------------------------- */

/* Where in the request the reader is: per open container, the key being
 * read (a map's, cut) or the index of the value being read (an array's). */
#define WINDOW_DEPTH 8 /* request(1) body(2) query(3) bool(4) filter(5) [0](6) range(7) field(8) */

typedef struct {
    int depth;
    bool is_map[WINDOW_DEPTH + 1];
    char key[WINDOW_DEPTH + 1][8];
    long index[WINDOW_DEPTH + 1];
    bool have_start, have_end;
    int64_t start_ms, end_ms;
} window_reader;

/* A value starts in the current container: an array counts it. */
static void value_starts(window_reader *w) {
    if (w->depth >= 1 && w->depth <= WINDOW_DEPTH && !w->is_map[w->depth]) w->index[w->depth]++;
}

static bool key_is(const window_reader *w, int depth, const char *key) {
    return w->is_map[depth] && strcmp(w->key[depth], key) == 0;
}

/* Inside request.body.query.bool.filter[0].range.<field>. */
static bool in_range(const window_reader *w) {
    return w->depth == WINDOW_DEPTH && key_is(w, 1, "body") && key_is(w, 2, "query") && key_is(w, 3, "bool") &&
           key_is(w, 4, "filter") && !w->is_map[5] && w->index[5] == 0 && key_is(w, 6, "range") && w->is_map[7] &&
           w->is_map[8];
}

static int window_number(void *ctx, const char *text, size_t len) {
    window_reader *w = ctx;
    value_starts(w);
    if (!in_range(w) || len >= 24) return 0;
    char digits[24], *end;
    memcpy(digits, text, len);
    digits[len] = '\0';
    errno = 0;
    long long v = strtoll(digits, &end, 10);
    if (*end || errno) return 0;
    if (strcmp(w->key[8], "gte") == 0) w->have_start = true, w->start_ms = v;
    if (strcmp(w->key[8], "lt") == 0) w->have_end = true, w->end_ms = v;
    return w->have_start && w->have_end; /* both read: stop */
}

static int window_scalar(void *ctx) {
    value_starts(ctx);
    return 0;
}
static int window_boolean(void *ctx, int v) {
    (void)v;
    value_starts(ctx);
    return 0;
}
static int window_string(void *ctx, const unsigned char *s, size_t n) {
    (void)s, (void)n;
    value_starts(ctx);
    return 0;
}
static int window_open(window_reader *w, bool map) {
    value_starts(w);
    w->depth++;
    if (w->depth <= WINDOW_DEPTH) {
        w->is_map[w->depth] = map;
        w->key[w->depth][0] = '\0';
        w->index[w->depth] = -1;
    }
    return 0;
}
static int window_start_map(void *ctx) {
    return window_open(ctx, true);
}
static int window_start_array(void *ctx) {
    return window_open(ctx, false);
}
static int window_close(void *ctx) {
    window_reader *w = ctx;
    w->depth--;
    return 0;
}
static int window_key(void *ctx, const unsigned char *key, size_t n) {
    window_reader *w = ctx;
    if (w->depth >= 1 && w->depth <= WINDOW_DEPTH)
        snprintf(w->key[w->depth], sizeof w->key[w->depth], "%.*s", n < sizeof w->key[0] ? (int)n : 0,
                 (const char *)key); /* a longer key matches none: "" */
    return 0;
}

static const jsonr_callbacks window_callbacks = {
    .on_null = window_scalar,
    .on_boolean = window_boolean,
    .on_number = window_number,
    .on_string = window_string,
    .on_start_map = window_start_map,
    .on_map_key = window_key,
    .on_end_map = window_close,
    .on_start_array = window_start_array,
    .on_end_array = window_close,
};

int recording_refresh_window(const char *refresh_dir, int64_t *start_ms, int64_t *end_ms, char *err) {
    char **pages = NULL;
    size_t npages = 0;
    if (recording_list_pages(refresh_dir, &pages, &npages, err) < 0) return -1;
    if (npages == 0) {
        recording_free_names(pages, npages);
        return 0;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", refresh_dir, pages[0]);
    recording_free_names(pages, npages);
    FILE *f = fopen(path, "rb");
    if (!f) return util_fail(err, "cannot open %s: %s", path, strerror(errno));
    window_reader w = {0};
    jsonr *r = jsonr_new(&window_callbacks, &w);
    char chunk[16384];
    size_t n, total = 0;
    jsonr_status st = JSONR_OK;
    while (st == JSONR_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0 && (total += n) <= RECORDING_MAX_REQUEST)
        st = jsonr_feed(r, chunk, n);
    int rc = ferror(f) ? util_fail(err, "cannot read %s: %s", path, strerror(errno)) : 0;
    fclose(f);
    jsonr_free(r);
    if (rc < 0) return -1;
    if (!w.have_start || !w.have_end) return 0; /* not JSON, or no such range: a window we cannot tell */
    *start_ms = w.start_ms;
    *end_ms = w.end_ms;
    return 1;
}
