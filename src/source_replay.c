/*
 * source_replay.c - a flow that answers from what `--record` wrote: the
 * directory <path> holds one directory per refresh, each with the pages of
 * that refresh; recording.h describes the layout and lists it.
 *
 * Which refresh a collect() replays depends on its window (a refresh knows
 * the window it was recorded for: recording_refresh_window()):
 *   - a window recorded: that refresh (the last one recorded for it), so a
 *     past window (GET /vizceral.json?at=T, `once --at T`) or a baseline
 *     recorded live is answered as the cluster answered it;
 *   - a window after every recorded one, not earlier than the last such
 *     collect (a live refresh's: a baseline's is earlier): the live replay,
 *     the next refresh in turn,
 *     whatever its window (after the last one, the last one again), as a
 *     daemon replaying a recording does; so is every collect of a
 *     recording whose refreshes name no window (written by hand or by
 *     bench/gen_replay.py);
 *   - any other window (one before or between the recorded ones, or an
 *     earlier one than the replay has reached): an error naming the window
 *     and what was recorded, never another window's graph.
 * A refresh is replayed page after page through the same es_parse code the
 * live source uses, so a recording gives the graph the cluster gave.
 *
 * Answers are judged as the live source judged them: a too_many_buckets page
 * was followed by the same page asked again with fewer buckets (the next
 * recorded page), so it is skipped; any other error, or a request that got
 * no answer, fails the collect as it failed live.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bounds.h"
#include "es_client.h"
#include "es_parse.h"
#include "source.h"
#include "recording.h"
#include "util.h"

#define FEED_CHUNK (64u << 10)

typedef struct {
    source base; /* first: the source * the ops get points here (source.h) */
    const flow_config *flow;
    es_parser *parser;
    char **refreshes; /* directory paths, in refresh order */
    size_t nrefreshes, next;
    /* Per refresh, the window it was recorded for (known[i] false: none
     * named), read at the first collect. */
    int64_t *win_start, *win_end;
    bool *known;
    bool windows_read;
    bool any_known;
    int64_t last_recorded_end; /* the latest recorded window end */
    int64_t first_recorded_end;
    int64_t last_live_end; /* of the last collect answered by the live replay; INT64_MIN before */
    row_emit_fn emit;
    void *emit_ctx;
    source_stats stats;
    char degraded[SOURCE_DEGRADED_LEN];
    bool is_degraded;
} replay_src;

static int forward_row(void *ctx, const raw_row *row) {
    replay_src *s = ctx;
    return s->emit(s->emit_ctx, row);
}

static void replay_close(source *src) {
    replay_src *s = (replay_src *)src;
    if (!s) return;
    es_parser_free(s->parser);
    recording_free_names(s->refreshes, s->nrefreshes);
    free(s->win_start);
    free(s->win_end);
    free(s->known);
    free(s);
}

static source *replay_open(const flow_config *flow, const vizfeed_config *cfg, char *err) {
    replay_src *s = xcalloc(1, sizeof *s);
    s->base.ops = &source_replay_ops;
    s->flow = flow;
    char **names = NULL;
    size_t n = 0;
    char why[ERR_LEN];
    if (recording_list_refreshes(flow->path, &names, &n, why) < 0) {
        util_fail(err, "replay directory: %s", why);
        goto fail;
    }
    if (n == 0) {
        util_fail(err,
                  "replay directory %s holds no recorded refresh (expected 000001/0001.response.json, as --record "
                  "writes them)",
                  flow->path);
        goto fail;
    }
    s->refreshes = xcalloc(n, sizeof *s->refreshes);
    for (size_t i = 0; i < n; i++) {
        buf p;
        buf_init(&p, 8192);
        buf_printf(&p, "%s/%s", flow->path, names[i]);
        s->refreshes[i] = buf_take(&p, NULL);
    }
    s->nrefreshes = n;
    s->last_live_end = INT64_MIN;
    recording_free_names(names, n);
    s->parser = es_parser_new(flow, forward_row, s);
    return &s->base;
fail:
    recording_free_names(names, n);
    replay_close(&s->base);
    return NULL;
}

static void add_degraded(replay_src *s, const char *what) {
    size_t len = strlen(s->degraded);
    if (strstr(s->degraded, what)) return;
    snprintf(s->degraded + len, sizeof s->degraded - len, "%s%s", len ? "; " : "", what);
    s->is_degraded = true;
}

/* Replays one recorded page. Returns 0 when the collect goes on, -1 when it
 * fails as the live one did. The file is fed to the parser in chunks as it is
 * read, as curl hands a live answer over: the parser sees what it sees live,
 * and a page costs no more memory than one chunk. */
static int replay_page(replay_src *s, const char *dir, const char *request_name, char *err) {
    char path[8192];
    recording_response_path(dir, request_name, path, sizeof path);
    struct stat st;
    if (stat(path, &st) < 0)
        return util_fail(err, "%s/%s got no answer when it was recorded (the request failed)", dir, request_name);
    FILE *f = fopen(path, "rb");
    if (!f) return util_fail(err, "cannot open %s: %s", path, strerror(errno));
    int rc = -1;
    char chunk[FEED_CHUNK + 1];
    size_t n = fread(chunk, 1, FEED_CHUNK, f), total = n;
    chunk[n] = '\0';
    int status = 0;
    size_t head = recording_parse_head(chunk, &status);
    if (head == 0) {
        util_fail(err, "%s does not start with \"HTTP <status>\"", path);
        goto done;
    }
    es_parser_reset(s->parser, status);
    bool feeding = es_parser_feed(s->parser, chunk + head, n - head) == 0;
    while (feeding && (n = fread(chunk, 1, FEED_CHUNK, f)) > 0) {
        if ((total += n) > (size_t)ES_MAX_ANSWER) {
            util_fail(err, "%s is larger than an answer may be", path);
            goto done;
        }
        feeding = es_parser_feed(s->parser, chunk, n) == 0;
    }
    if (ferror(f)) {
        util_fail(err, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    es_answer answer;
    char why[ERR_LEN];
    int parsed = es_parser_finish(s->parser, &answer, why);
    free(answer.after_key);
    switch (answer.kind) {
    case ES_ANSWER_OK:
        if (parsed < 0) {
            util_fail(err, "%s", why);
            goto done;
        }
        s->stats.events += answer.buckets;
        if (answer.timed_out) add_degraded(s, "timed out: partial results");
        if (answer.shards_failed > 0) {
            char text[400];
            snprintf(text, sizeof text, "%lld of %lld shards failed%s%.300s", (long long)answer.shards_failed,
                     (long long)answer.shards_total, answer.shard_reason[0] ? ": " : "", answer.shard_reason);
            add_degraded(s, text);
        }
        if (es_parse_shards_missing(&answer) > 0) {
            char text[120];
            snprintf(text, sizeof text, "%lld of %lld shards unavailable", (long long)es_parse_shards_missing(&answer),
                     (long long)answer.shards_total);
            add_degraded(s, text);
        }
        rc = 0;
        break;
    case ES_ANSWER_TOO_MANY_BUCKETS:
        rc = 0; /* the live source asked again: that is the next page */
        break;
    case ES_ANSWER_ERROR:
        util_fail(err, "%s: recorded answer %d %s: %s", path, status,
                  answer.error_type[0] ? answer.error_type : "error", answer.error_reason);
        break;
    default:
        util_fail(err, "%s: %s", path, why);
        break;
    }
done:
    fclose(f);
    return rc;
}

/* Reads the window of every refresh, once. */
static int read_windows(replay_src *s, char *err) {
    if (s->windows_read) return 0;
    s->win_start = xcalloc(s->nrefreshes, sizeof *s->win_start);
    s->win_end = xcalloc(s->nrefreshes, sizeof *s->win_end);
    s->known = xcalloc(s->nrefreshes, sizeof *s->known);
    for (size_t i = 0; i < s->nrefreshes; i++) {
        int rc = recording_refresh_window(s->refreshes[i], &s->win_start[i], &s->win_end[i], err);
        if (rc < 0) return -1;
        s->known[i] = rc == 1;
        if (!s->known[i]) continue;
        if (!s->any_known || s->win_end[i] > s->last_recorded_end) s->last_recorded_end = s->win_end[i];
        if (!s->any_known || s->win_end[i] < s->first_recorded_end) s->first_recorded_end = s->win_end[i];
        s->any_known = true;
    }
    s->windows_read = true;
    return 0;
}

/* The refresh directory that answers [start_ms, end_ms), or NULL with err. */
static const char *pick_refresh(replay_src *s, int64_t start_ms, int64_t end_ms, char *err) {
    if (read_windows(s, err) < 0) return NULL;
    for (size_t i = s->nrefreshes; i-- > 0;)
        if (s->known[i] && s->win_start[i] == start_ms && s->win_end[i] == end_ms) return s->refreshes[i];
    if (!s->any_known || (end_ms > s->last_recorded_end && end_ms >= s->last_live_end)) {
        const char *dir = s->refreshes[s->next];
        if (s->next + 1 < s->nrefreshes) s->next++;
        s->last_live_end = end_ms;
        return dir;
    }
    char from[32], to[32], first[32], last[32];
    util_format_time_ms(start_ms, from, sizeof from);
    util_format_time_ms(end_ms, to, sizeof to);
    util_format_time_ms(s->first_recorded_end, first, sizeof first);
    util_format_time_ms(s->last_recorded_end, last, sizeof last);
    if (end_ms > s->last_recorded_end)
        util_fail(err,
                  "the window %s to %s was not recorded in %s, and the replay of its refreshes in turn has "
                  "reached a later window",
                  from, to, s->flow->path);
    else
        util_fail(err,
                  "the window %s to %s was not recorded in %s (%zu refreshes, windows ending %s to %s): a replay "
                  "flow answers the windows it recorded, and replays its refreshes in turn only for windows after "
                  "the last",
                  from, to, s->flow->path, s->nrefreshes, first, last);
    return NULL;
}

static int replay_collect(source *src, int64_t start_ms, int64_t end_ms, row_emit_fn emit, void *ctx, char *err) {
    replay_src *s = (replay_src *)src;
    s->degraded[0] = '\0';
    s->is_degraded = false;
    const char *dir = pick_refresh(s, start_ms, end_ms, err);
    if (!dir) return -1;
    char **pages = NULL;
    size_t npages = 0;
    if (recording_list_pages(dir, &pages, &npages, err) < 0) return -1;
    s->emit = emit;
    s->emit_ctx = ctx;
    int rc = 0;
    if (npages == 0) rc = util_fail(err, "%s holds no recorded page", dir);
    for (size_t i = 0; i < npages && rc == 0; i++) rc = replay_page(s, dir, pages[i], err);
    recording_free_names(pages, npages);
    s->emit = NULL;
    s->emit_ctx = NULL;
    return rc;
}

static void replay_stats(const source *src, source_stats *out) {
    const replay_src *s = (const replay_src *)src;
    *out = s->stats;
}

static const char *replay_degraded(const source *src) {
    const replay_src *s = (const replay_src *)src;
    return s->is_degraded ? s->degraded : NULL;
}

/* A replay flow answers a timeline only when the live flow recorded that
 * very one (the same from, to and step: SOURCE_TIMELINE_RECORD_DIR), from its
 * last recording, page after page as a refresh is replayed. Any other
 * timeline is refused with the reason: a recorded refresh's rows carry no
 * time. A recorded answer that was partial fails as it failed live. */
static int replay_timeline(source *src, int64_t from_ms, int64_t to_ms, int64_t step_ms, step_emit_fn emit, void *ctx,
                           char *err) {
    replay_src *s = (replay_src *)src;
    char name[96], dir[8192];
    snprintf(name, sizeof name, SOURCE_TIMELINE_RECORD_DIR, (long long)from_ms, (long long)to_ms, (long long)step_ms);
    snprintf(dir, sizeof dir, "%s/%s", s->flow->path, name);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return util_fail(err,
                         "%s holds no recording of this timeline (%s, as `vizfeed timeline --record` writes it); "
                         "a replay flow answers only the refreshes and timelines recorded",
                         s->flow->path, name);
    char **runs = NULL, **pages = NULL;
    size_t nruns = 0, npages = 0;
    if (recording_list_refreshes(dir, &runs, &nruns, err) < 0) return -1;
    int rc = -1;
    if (nruns == 0) {
        util_fail(err, "%s holds no recorded timeline", dir);
        goto done;
    }
    char run[8192 + 32];
    snprintf(run, sizeof run, "%s/%s", dir, runs[nruns - 1]);
    if (recording_list_pages(run, &pages, &npages, err) < 0) goto done;
    es_timeline_rows rows = {.emit = emit, .ctx = ctx, .step_ms = step_ms};
    s->emit = es_parse_timeline_row;
    s->emit_ctx = &rows;
    s->degraded[0] = '\0';
    s->is_degraded = false;
    rc = npages ? 0 : util_fail(err, "%s holds no recorded page", run);
    for (size_t i = 0; i < npages && rc == 0; i++) rc = replay_page(s, run, pages[i], err);
    if (rc == 0 && s->is_degraded) rc = util_fail(err, "%s: the recorded timeline is partial: %s", run, s->degraded);
    s->emit = NULL;
    s->emit_ctx = NULL;
    s->is_degraded = false;
done:
    recording_free_names(pages, npages);
    recording_free_names(runs, nruns);
    return rc;
}

const source_ops source_replay_ops = {
    .type = "replay",
    .open = replay_open,
    .collect = replay_collect,
    .stats = replay_stats,
    .degraded = replay_degraded,
    .close = replay_close,
    .timeline = replay_timeline,
};
