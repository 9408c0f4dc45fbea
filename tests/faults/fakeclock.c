/*
 * fakeclock.c - an LD_PRELOAD wall clock for tests/scenario/test_incremental.py.
 *
 * The incremental-window test must know which window every refresh of the
 * daemon covers, so it sets the daemon's wall clock itself:
 *
 *   FAKECLOCK_FILE=/abs/file   while this file holds a number, CLOCK_REALTIME
 *                              (and gettimeofday(), time()) read that many
 *                              milliseconds since the epoch
 *
 * The file is read at each call, so the test moves time by rewriting it
 * (write a temporary file and rename it over, so a reader never sees half a
 * number). Without the variable, or while the file is missing or holds no
 * number, the calls go to the C library (dlsym(RTLD_NEXT)). The monotonic
 * clock is never touched: the daemon still sleeps its interval in real time.
 * Not for sanitizer builds (their runtime must come first in the library
 * list); the test skips there.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

/* The fake time in ms, or -1 when there is none. */
static long long fake_ms(void) {
    const char *path = getenv("FAKECLOCK_FILE");
    if (!path) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[32];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = '\0';
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text) return -1;
    return v;
}

int clock_gettime(clockid_t clk, struct timespec *ts) {
    static clock_gettime_fn real;
    if (!real) real = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    if (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE) {
        long long ms = fake_ms();
        if (ms >= 0) {
            ts->tv_sec = (time_t)(ms / 1000);
            ts->tv_nsec = (long)(ms % 1000) * 1000000L;
            return 0;
        }
    }
    return real(clk, ts);
}

/* glibc declares tv nonnull, but callers do pass NULL: the check stays. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"
int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    struct timespec ts;
    (void)tz;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
