/*
 * sink_http.h - /vizceral.json: the HTTP sink the refresher publishes to,
 * and the prebuilt responses requests are answered from.
 *
 * Calling sequence: http_start() sets h->sink.ops = &sink_http_ops; the
 * refresher publishes through sink_list_publish() (sink.h; one thread at a
 * time, any thread: it is the refresher's); MHD threads call
 * sink_http_serve() for every GET or HEAD of /vizceral.json, any number at
 * once; http_update_options() rebuilds the responses with
 * sink_http_responses_build() when the CORS origin changes, and http_stop()
 * frees them with sink_http_responses_free().
 *
 * A request takes h->lock only to queue one prebuilt response (MHD takes its
 * own reference); publishing builds the new set outside the lock and swaps
 * it in, so no request waits for a refresh and none sees half a graph.
 * Each response holds a reference to its snapshot until MHD destroys it.
 *
 * Errors: sink_http_responses_build() and publish return -1 with err when a
 * response cannot be made (out of memory); the old graph is then kept.
 */
#ifndef VIZ_SINK_HTTP_H
#define VIZ_SINK_HTTP_H

#include "http_internal.h"

extern const sink_ops sink_http_ops;

/* Answers /vizceral.json: 200 (gzip when accepted), 304 when If-None-Match
 * names the current ETag, 503 with Retry-After before the first graph.
 * With ?at=T (req, the request's state, NULL without a query): the past
 * window's graph from h->history, made for this request (the connection is
 * suspended while a worker computes it, and the handler is called again
 * when it is resumed); 400 for a T that cannot be read or answered, 503
 * with Retry-After when the history workers are busy, 502 when a flow
 * failed for that window. Arguments other than at= are ignored, as every
 * query was before. */
enum MHD_Result sink_http_serve(http_server *h, struct MHD_Connection *c, http_request *req);

/* Builds the four responses of s (identity, gzip, and their 304s) carrying
 * cors; g holds a reference to s. 0, or -1 with err (g is then empty). */
int sink_http_responses_build(graph_responses *g, snapshot *s, const char *cors, char *err);
/* Drops g's responses and snapshot reference; g is left empty. */
void sink_http_responses_free(graph_responses *g);

#endif
