/*
 * replay_main.c - a main() for a fuzz target without libFuzzer: runs the
 * target once on every file named, or in a directory named, and reports one
 * TAP test. A crashing input aborts the program (the test fails with the
 * sanitizer's report in its log); so does a missing or empty corpus, which
 * would otherwise make the test pass without running anything.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, len = 0, n;
    uint8_t *data = malloc(cap);
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data) return -1;
    /* A copy of exactly the input's size, so that ASan sees a read past
     * its end as libFuzzer would. */
    uint8_t *exact = malloc(len ? len : 1);
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int replay_path(const char *path, size_t *count) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        if (replay_file(path) < 0) return -1;
        (*count)++;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        rc = replay_path(child, count);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv) {
    size_t count = 0;
    printf("1..1\n");
    for (int i = 1; i < argc; i++) {
        if (replay_path(argv[i], &count) < 0) {
            printf("not ok 1 - cannot read %s\n", argv[i]);
            return 1;
        }
    }
    if (count == 0) {
        printf("not ok 1 - no input to replay\n");
        return 1;
    }
    printf("ok 1 - %s: %zu inputs replayed\n", argc > 1 ? argv[1] : "", count);
    return 0;
}
