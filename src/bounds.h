/*
 * bounds.h - every hard limit of vizfeed in one place (OpenBSD httpd's habit).
 * Each bounds memory or work that outside input could otherwise grow; when a
 * limit is hit the input is rejected or truncated and the event is counted,
 * never silently ignored.
 */
#ifndef VIZ_BOUNDS_H
#define VIZ_BOUNDS_H

#define VIZ_NAME_MAX              256   /* bytes of a service, region or host name (longer: cut at a UTF-8 boundary) */
#define VIZ_MAX_FLOWS             64    /* flows in one configuration (a flow set is a 64-bit mask) */
#define VIZ_MAX_TOPOLOGY          10000 /* topology entries */
#define VIZ_MAX_REGEX_SIZE        500   /* topology regex pieces, {n} written out */
#define VIZ_MAX_REGEX_EMPTY_LOOPS 8     /* topology regex repetitions of what may match nothing, + and {n} written out */
#define TOPOLOGY_REGEX_BUDGET_MS  5000  /* regexec() time per refresh; then regexes are skipped */
#define VIZ_MAX_CONDITION_DEPTH   16    /* nesting of not/all */
#define VIZ_MAX_CONFIG_BYTES      (4u << 20)   /* a configuration file */
#define VIZ_MAX_CA_FILE_BYTES     (16u << 20)  /* of elasticsearch.ca_file searched for a certificate at load */
#define VIZ_MAX_LINE_BYTES        (1u << 20)   /* one NDJSON line; longer lines are counted and skipped */
#define VIZ_MAX_FILE_EVENTS       4000000u     /* events one file flow keeps for its window */
#define VIZ_MAX_EDGES             2000000u     /* distinct (from, to) pairs in one refresh */
#define VIZ_MAX_HOSTS_PER_SERVICE 1000         /* host sub-nodes listed under one service */
#define VIZ_MAX_GRAPH_JSON        (512u << 20) /* bytes of one rendered graph */
#define VIZ_MAX_NOTICE_LINK       2048         /* bytes of a filled-in notice link */
/* One count of one event or bucket (an NDJSON count field, an Elasticsearch
 * doc_count or sum): larger ones are clamped to it and counted, so that sums
 * and rates stay finite and exact integers (below 2^53) and print as JSON. */
#define VIZ_MAX_COUNT 1e15

#define HTTP_MAX_CONNECTIONS      1024         /* concurrent client connections; more are closed at once */
#define HTTP_CONNECTION_TIMEOUT_S 30           /* a connection that sends and receives nothing this long is closed */
#define HTTP_HEADERS_TIMEOUT_S    30           /* request line + headers due this long after connecting or answering */
#define HTTP_CONNECTION_MEMORY    (32u << 10)  /* per-connection buffer: bounds request line + headers */
#define HTTP_MAX_URI              (8u << 10)   /* request target; longer ones get 414 (nginx's default is 8 KiB too) */
#define PULL_MAX_BODY             (256u << 20) /* decoded bytes of one answer `vizfeed pull` accepts */
#define HTTP_MAX_STATIC_FILE      (64u << 20)  /* a file served from ui_dir */
#define VIZ_MAX_SINKS             4            /* sinks in a sink_list: the HTTP server, the output file, room for tests */

#endif
