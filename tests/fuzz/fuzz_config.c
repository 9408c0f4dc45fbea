/*
 * fuzz_config.c - the YAML configuration loader (config.c, libyaml) on any
 * file. A loaded configuration is also printed (`vizfeed check`) and freed;
 * a refused one must say why in one NUL-terminated line. ${VAR} references
 * read the fuzzer's environment, which is fine: any value is input too.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    static FILE *sink;
    if (!path[0]) snprintf(path, sizeof path, "/tmp/vizfeed-fuzz-config-%d.yml", (int)getpid());
    if (!sink) sink = fopen("/dev/null", "w");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    close(fd);

    char err[ERR_LEN];
    err[0] = '\0';
    vizfeed_config *cfg = cfg_load(path, err);
    if (cfg) {
        cfg_print(cfg, sink);
        cfg_free(cfg);
    } else {
        FUZZ_CHECK(memchr(err, 0, ERR_LEN) && err[0] != '\0');
        FUZZ_CHECK(strchr(err, '\n') == NULL);
    }
    unlink(path);
    return 0;
}
