/*
 * recording.h - the directory layout that `--record` writes and replay
 * flows read:
 *
 *   ROOT/FLOW/REFRESH/PAGE.request.json   {"method":"POST","path":...,"body":...}
 *   ROOT/FLOW/REFRESH/PAGE.response.json  "HTTP <status>\n", then the body
 *                                          exactly as it came
 *
 * FLOW is the flow's name as one safe path component (characters other than
 * letters, digits, - _ . become _; "", "." and ".." get a leading _), REFRESH
 * a number zero-padded to 6 digits (000001, ...), PAGE one padded to 4
 * (0001, ...); numbers may outgrow their padding and are ordered by value.
 * A request without a response file is a request that got no answer live.
 *
 * Writing (source_es.c): recording_flow_dir() once per flow when the
 * source is opened, creating ROOT/FLOW and returning the last REFRESH
 * already there, so that a second run continues the numbering instead of
 * overwriting; then, per refresh, on the thread that runs the flow
 * (refresh.h), the caller adds one to the number and writes each page with
 * recording_write_page(). Every file is written with
 * atomic_file_replace() (temporary file, fsync, rename, directory fsync).
 *
 * Reading (source_replay.c): recording_list_refreshes() on FLOW's directory
 * (as the flow's path names it), recording_list_pages() on a REFRESH
 * directory; both return names (not paths), sorted by number, which the
 * caller frees with recording_free_names(). recording_response_path() and
 * recording_parse_head() read a page back; recording_refresh_window() says
 * which window a refresh was recorded for.
 *
 * Errors: int functions return 0, or -1 with err (ERR_LEN bytes) naming the
 * path and the system's reason. No state is shared between calls: any
 * thread may call them, on different directories.
 */
#ifndef VIZFEED_RECORDING_H
#define VIZFEED_RECORDING_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "util.h"

/* Makes ROOT/FLOW (and its parents); *dir (malloc'd, the caller's) is its
 * path, *last_refresh the highest REFRESH in it (0 when none). */
int recording_flow_dir(const char *root, const char *flow_name, char **dir, unsigned long *last_refresh, char *err);
/* Writes page `page` of refresh `refresh` under flow_dir: the request
 * (search_path and the body sent) always, the response (status and answer)
 * only when status >= 0, i.e. when an answer arrived. */
int recording_write_page(const char *flow_dir, unsigned long refresh, unsigned page, const char *search_path,
                         const char *body, size_t body_len, int status, const buf *answer, char *err);

/* The numbered subdirectories of flow_dir, at most RECORDING_MAX_REFRESHES. */
int recording_list_refreshes(const char *flow_dir, char ***names, size_t *count, char *err);
/* The PAGE.request.json names in refresh_dir, at most RECORDING_MAX_PAGES. */
int recording_list_pages(const char *refresh_dir, char ***names, size_t *count, char *err);
void recording_free_names(char **names, size_t n);
/* The response file that goes with a request name from recording_list_pages(). */
void recording_response_path(const char *refresh_dir, const char *request_name, char *out, size_t outlen);
/* The length of the "HTTP <status>\n" head at the start of text (NUL-
 * terminated) with *status set, or 0 when text does not start with one. */
size_t recording_parse_head(const char *text, int *status);
/* The window a recorded refresh asked for, from its first page's request:
 * the range filter es_query.c writes first in the search body
 * (query.bool.filter[0].range.<timestamp field>.gte and .lt, epoch ms), so
 * a refresh recorded by --record names its window without a file of its
 * own. 1 with [*start_ms, *end_ms); 0 when the request names none (a
 * recording written by hand or by bench/gen_replay.py, a refresh without
 * pages); -1 with err when the request cannot be read. */
int recording_refresh_window(const char *refresh_dir, int64_t *start_ms, int64_t *end_ms, char *err);

#endif
