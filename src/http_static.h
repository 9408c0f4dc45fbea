/*
 * http_static.h - the files of ui_dir (the web page), served at every path
 * no other route takes.
 *
 * Threads: http_static_resolve_dir() is called by http_start() (the main
 * thread) and http_update_options() (the main thread on a reload, the
 * refresher when it adopts the reloaded configuration) to check a
 * configured ui_dir;
 * http_static_serve() by MHD threads, any number at once. ui_dir is resolved
 * again at every request (h->ui_dir read under h->lock), so a page deployed
 * by swapping a symbolic link, or built after start-up, is served at once.
 *
 * Only regular files inside the resolved ui_dir are opened (no symbolic link
 * leads out of it, no FIFO or device is opened, opening never blocks), at
 * most HTTP_MAX_STATIC_FILE bytes, read with pread() so that a file cut
 * short under a transfer ends the answer at once. Each carries the page's
 * Content-Security-Policy and X-Frame-Options: DENY.
 */
#ifndef VIZ_HTTP_STATIC_H
#define VIZ_HTTP_STATIC_H

#include "http_internal.h"

/* Checks a configured ui_dir: 0 with *real the resolved path (malloc'ed),
 * or *real NULL while the directory does not exist (not an error: a page
 * built later is found then); -1 with err when it exists but cannot be
 * served. */
int http_static_resolve_dir(const char *dir, char **real, char *err);

/* Answers url from ui_dir (index.html for a directory); 404 for anything
 * else, with a reason when no page is configured or present. url_had_nul:
 * the raw target held an encoded NUL (always a 404). */
enum MHD_Result http_static_serve(http_server *h, struct MHD_Connection *c, const char *url, int url_had_nul);

#endif
