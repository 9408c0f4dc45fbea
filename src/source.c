/*
 * source.c - picks the source implementation for a flow type. Each source
 * lives in its own file (source_file.c, source_demo.c); this is the one place
 * that knows them all.
 */
#include "source.h"

#include <stddef.h>

const source_ops *source_ops_for(flow_type type) {
    switch (type) {
    case FLOW_FILE:
        return &source_file_ops;
    case FLOW_DEMO:
        return &source_demo_ops;
    case FLOW_ELASTICSEARCH:
        return NULL; /* not implemented yet */
    }
    return NULL;
}
