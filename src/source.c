/*
 * source.c - picks the source implementation for a flow type. Each source
 * lives in its own file (source_file.c, source_demo.c, source_es.c,
 * source_replay.c, and source_resolve.c around any of them); this is the
 * one place that knows them all.
 */
#include "source.h"

#include <stddef.h>

#include "util.h"

const source_ops *source_ops_for(flow_type type) {
    switch (type) {
    case FLOW_FILE:
        return &source_file_ops;
    case FLOW_DEMO:
        return &source_demo_ops;
    case FLOW_ELASTICSEARCH:
        return &source_es_ops;
    case FLOW_REPLAY:
        return &source_replay_ops;
    }
    return NULL;
}

const source_ops *source_ops_for_flow(const flow_config *flow) {
    return util_str_empty(flow->resolve_service) ? source_ops_for(flow->type) : &source_resolve_ops;
}
