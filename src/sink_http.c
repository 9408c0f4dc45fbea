/*
 * sink_http.c - /vizceral.json, the HTTP sink: the refresher publishes a
 * snapshot, from which four responses are prebuilt (identity and gzip,
 * and their 304s), and every request queues one of them. Apart from the
 * routing because it is the one part on the graph's path from the
 * refresher to the clients (sources -> rows -> topology -> graph ->
 * snapshot -> sinks); see sink_http.h.
 */
#include "sink_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "util.h"

static int64_t retry_after_seconds(int64_t interval_ms) {
    int64_t s = (interval_ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

/* ---- /vizceral.json --------------------------------------------------- */

void sink_http_responses_free(graph_responses *g) {
    struct MHD_Response *all[] = {g->identity, g->gzip, g->identity_not_modified, g->gzip_not_modified};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) MHD_destroy_response(all[i]);
    snapshot_unref(g->snap);
    memset(g, 0, sizeof *g);
}

int sink_http_responses_build(graph_responses *g, snapshot *s, const char *cors, char *err) {
    memset(g, 0, sizeof *g);
    g->snap = snapshot_ref(s);
    g->identity = http_snapshot_response(s, 0, 0, cors, "no-cache");
    g->gzip = http_snapshot_response(s, 1, 0, cors, "no-cache");
    g->identity_not_modified = http_snapshot_response(s, 0, 1, cors, "no-cache");
    g->gzip_not_modified = http_snapshot_response(s, 1, 1, cors, "no-cache");
    if (g->identity && g->gzip && g->identity_not_modified && g->gzip_not_modified) return 0;
    sink_http_responses_free(g);
    return util_fail(err, "cannot create responses for a graph of %zu bytes (out of memory)", s->json_len);
}

/* ---- /vizceral.json?at=T: a past window ------------------------------ */

static enum MHD_Result serve_past(http_server *h, struct MHD_Connection *c, http_request *req) {
    if (http_request_answered(req)) /* resumed, or answered from the cache */
        return http_answer_history(h, c, req, HISTORY_READY, NULL, 0, "/vizceral.json", "past window");
    if (!h->history) return http_answer_not_found(h, c);
    char err[ERR_LEN], reason[ERR_LEN + 16];
    int64_t now = util_now_ms(), t, retry = 0;
    if (util_parse_time_at_ms(req->query.value[HTTP_ARG_AT], now, &t, err) < 0) {
        snprintf(reason, sizeof reason, "at=: %s", err);
        return http_answer_json_error(h, c, MHD_HTTP_BAD_REQUEST, "/vizceral.json", "bad request", reason, 0);
    }
    history_result res;
    /* Held across the request: the answer's callback cannot resume the
     * connection before it is suspended. */
    pthread_mutex_lock(&req->lock);
    history_answer a = history_graph(h->history, t, now, http_request_done, req, &res, &retry, err);
    http_request_wait(c, req, a, &res);
    pthread_mutex_unlock(&req->lock);
    return http_answer_history(h, c, req, a, err, retry, "/vizceral.json", "past window");
}

enum MHD_Result sink_http_serve(http_server *h, struct MHD_Connection *c, http_request *req) {
    if (req && req->query.error)
        return http_answer_json_error(h, c, MHD_HTTP_BAD_REQUEST, "/vizceral.json", "bad request", req->query.error, 0);
    if (req && req->query.present[HTTP_ARG_AT]) return serve_past(h, c, req);
    int gzip = http_accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding"));
    const char *if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");

    pthread_mutex_lock(&h->lock);
    const graph_responses *g = &h->graph;
    if (!g->snap) {
        int64_t retry = retry_after_seconds(h->interval_ms);
        pthread_mutex_unlock(&h->lock);
        buf body;
        buf_init(&body, 256);
        buf_puts(&body, "{\"error\":\"no graph yet\",\"reason\":\"the first refresh has not completed yet\"}\n");
        struct MHD_Response *r = http_copied_response(buf_cstr(&body), body.len, "application/json");
        buf_free(&body);
        if (!r) return MHD_NO;
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%lld", (long long)retry);
        MHD_add_response_header(r, "Retry-After", seconds);
        http_add_cors(h, r);
        return http_queue_once(c, MHD_HTTP_SERVICE_UNAVAILABLE, r, "/vizceral.json");
    }
    unsigned code = MHD_HTTP_OK;
    struct MHD_Response *r = gzip ? g->gzip : g->identity;
    if (http_etag_matches(if_none_match, gzip ? g->snap->etag_gzip : g->snap->etag)) {
        code = MHD_HTTP_NOT_MODIFIED;
        r = gzip ? g->gzip_not_modified : g->identity_not_modified;
    }
    /* Queued under the lock: MHD_queue_response takes MHD's reference, after
     * which a concurrent publish() may drop ours. */
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    pthread_mutex_unlock(&h->lock);
    http_count_request("/vizceral.json", code);
    return ret;
}

static int http_publish(sink *s, snapshot *snap, char *err) {
    http_server *h = (http_server *)s;
    graph_responses fresh, old;
    pthread_mutex_lock(&h->lock);
    char *cors = xstrdup(h->cors_origin);
    pthread_mutex_unlock(&h->lock);
    /* Built outside the lock: requests keep being answered from the old
     * snapshot meanwhile. */
    int rc = sink_http_responses_build(&fresh, snap, cors, err);
    free(cors);
    if (rc < 0) return -1;
    pthread_mutex_lock(&h->lock);
    old = h->graph;
    h->graph = fresh;
    pthread_mutex_unlock(&h->lock);
    sink_http_responses_free(&old);
    return 0;
}

static void http_sink_close(sink *s) {
    /* The server owns its sink; http_stop() frees both. */
    (void)s;
}

const sink_ops sink_http_ops = {
    .name = "http",
    .publish = http_publish,
    .close = http_sink_close,
};
