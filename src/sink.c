/*
 * sink.c - the list of sinks a snapshot is published to. The daemon keeps
 * its HTTP server and output file in one, so publishing, and reporting each
 * sink's failure apart from the others, is written once; tests add their
 * own sinks to it (sink.h).
 */
#include "sink.h"

#include <assert.h>

#include "util.h"

int sink_list_add(sink_list *l, sink *s, char *err) {
    assert(l && l->n <= VIZ_MAX_SINKS);
    if (!s) return 0;
    assert(s->ops && s->ops->publish);
    if (l->n == VIZ_MAX_SINKS) return util_fail(err, "more than %d sinks", VIZ_MAX_SINKS);
    l->item[l->n++] = s;
    return 0;
}

size_t sink_list_publish(const sink_list *l, snapshot *snap, sink_report_fn report, void *ctx) {
    assert(l && l->n <= VIZ_MAX_SINKS && snap);
    size_t failed = 0;
    for (size_t i = 0; i < l->n; i++) {
        char err[ERR_LEN];
        sink *s = l->item[i];
        bool ok = s->ops->publish(s, snap, err) == 0;
        if (!ok) failed++;
        if (report) report(ctx, i, s, ok ? NULL : err);
    }
    return failed;
}
