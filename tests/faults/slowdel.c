/*
 * slowdel.c - an LD_PRELOAD library for tests/scenario/test_shutdown.py that
 * widens a race inside libmicrohttpd so that a test can make it happen every
 * time instead of once in many CI runs.
 *
 *   SLOWDEL_MS=N   epoll_ctl(EPOLL_CTL_DEL) called by the process's main
 *                  thread waits N milliseconds before it is made
 *
 * libmicrohttpd 0.9.75's MHD_quiesce_daemon(), called by the main thread,
 * marks each worker of its thread pool as quiesced and then removes the
 * listening socket from that worker's epoll set; the worker, woken by any
 * event meanwhile, sees the mark and removes the socket itself. Whichever
 * comes second gets ENOENT, and both sides treat that as fatal (MHD_PANIC:
 * "Failed to remove listen FD from epoll set", then abort()). The window is a
 * few instructions wide; this library holds the main thread inside it.
 *
 * Every other call, and every call when SLOWDEL_MS is unset, goes to the C
 * library unchanged (dlsym(RTLD_NEXT)). Not for sanitizer builds: their
 * runtime must come first in the library list.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

typedef int (*epoll_ctl_fn)(int, int, int, struct epoll_event *);

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
    static epoll_ctl_fn real;
    if (!real) real = (epoll_ctl_fn)dlsym(RTLD_NEXT, "epoll_ctl");
    const char *ms = getenv("SLOWDEL_MS");
    if (op == EPOLL_CTL_DEL && ms && gettid() == getpid()) {
        long n = atol(ms);
        struct timespec ts = {.tv_sec = n / 1000, .tv_nsec = (n % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return real(epfd, op, fd, event);
}
