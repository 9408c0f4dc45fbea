/*
 * atomic_file.h - the one way vizfeed replaces a file: the output file
 * (sink_file.c), `vizfeed pull`'s copy (through sink_file_write) and the
 * answers `--record DIR` keeps (recording.c).
 *
 * It commits the way git's lockfile does: write a temporary file beside the
 * target, fsync it, rename it over the target (atomic within one file
 * system), then fsync the directory so that the rename survives a crash. A
 * reader sees the old content or the new one, and a crash leaves one of
 * them, never a truncated or empty file.
 *
 * Calling sequence: atomic_file_check_target() when a path is configured (to
 * refuse it at start-up), then atomic_file_replace() for every new content.
 *
 * What may be replaced: a regular file, or nothing (the file is created).
 * Anything else at the path - a device such as /dev/null, a FIFO, a socket,
 * a directory, a symbolic link - is refused with a clear error and left as it
 * is: renaming over it would turn a device node into a regular file (as root)
 * or silently cut a link. The check runs again before every rename, since
 * the path may change between writes.
 *
 * Temporary files are named `<target>.tmp.` plus ATOMIC_TMP_RANDOM letters or
 * digits (mkostemp), created 0600 and made ATOMIC_FILE_MODE before the
 * rename. While a writer works on one it holds an exclusive flock on it; it
 * creates and locks it under a shared flock on the directory. That is the
 * protocol a sweep of leftovers relies on (sink_file.c): take the directory
 * lock exclusively, then remove only the temporaries nobody holds.
 *
 * Errors: 0, or -1 with a reason in err (ERR_LEN bytes) of the form
 * "<what failed>: <strerror>", without the path, so that the caller can say
 * which file it was ("output file X: ..."). On failure the target is
 * untouched and no temporary file is left behind.
 *
 * Threads: no state is kept between calls, so any thread may call them.
 * Concurrent writers of one target, in this process or another, each use
 * their own temporary file: the target ends up holding the content of the
 * last rename, never a mix.
 */
#ifndef VIZ_ATOMIC_FILE_H
#define VIZ_ATOMIC_FILE_H

#include <stddef.h>

#define ATOMIC_TMP_INFIX  ".tmp."
#define ATOMIC_TMP_RANDOM 6    /* characters mkostemp chooses (glibc: ASCII letters and digits) */
#define ATOMIC_FILE_MODE  0644 /* the graph is read by web servers running as other users */

/* One piece of the new content; the pieces are written in order. */
typedef struct {
    const void *data;
    size_t len;
} atomic_part;

/* 0 when path names a regular file or nothing; -1 with err when it names
 * something atomic_file_replace() refuses to replace. */
int atomic_file_check_target(const char *path, char *err);

/* Replaces path with the concatenation of parts[0..nparts). dir is the
 * directory holding path (the caller knows it already; "." for a bare
 * name). */
int atomic_file_replace(const char *path, const char *dir, const atomic_part *parts, size_t nparts, char *err);

#endif
