/*
 * bounds.h - every hard limit of vizfeed in one place (OpenBSD httpd's habit).
 * Each bounds memory or work that outside input could otherwise grow; when a
 * limit is hit the input is rejected or truncated and the event is counted,
 * never silently ignored. Not here: what paces retries (back-off steps in
 * source_es.c and pull.h) and what sizes an algorithm's own work without
 * refusing any input (regex_match.c's automaton, past which regexec()
 * decides; the HTTP thread count in http.c).
 */
#ifndef VIZ_BOUNDS_H
#define VIZ_BOUNDS_H

#define VIZ_NAME_MAX              256   /* bytes of a service, region or host name (longer: cut at a UTF-8 boundary) */
#define VIZ_MAX_FLOWS             64    /* flows in one configuration (a flow set is a 64-bit mask) */
#define VIZ_MAX_TOPOLOGY          10000 /* topology entries */
#define VIZ_MAX_REGEX_SIZE        500   /* topology regex pieces, {n} written out */
#define VIZ_MAX_REGEX_EMPTY_LOOPS 8    /* topology regex repetitions of what may match nothing, + and {n} written out */
#define TOPOLOGY_REGEX_BUDGET_MS  5000 /* regexec() time per refresh; then regexes are skipped */
#define VIZ_MAX_CONDITION_DEPTH   16   /* nesting of not/all */
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
#define PULL_MAX_ETAG             256          /* bytes of an ETag `pull` sends back; longer: not used */
#define HTTP_MAX_STATIC_FILE      (64u << 20)  /* a file served from ui_dir */
#define VIZ_MAX_SINKS             4 /* sinks in a sink_list: the HTTP server, the output file, room for tests */
/* Issue 15: query arguments (/vizceral.json?at=T, /timeline.json?from=&to=&step=&region=), read by a parser of
 * our own before libmicrohttpd sees them (http.c, inspect_raw_uri). */
#define HTTP_MAX_QUERY_ARGS  16           /* arguments of one query; more is a 400 */
#define HTTP_MAX_QUERY_VALUE VIZ_NAME_MAX /* decoded bytes of one argument's value (a region name fits) */
/* Issue 15: past windows (history.h). */
#define VIZ_HISTORY_WORKERS   2  /* threads computing past windows, each with its own refresher */
#define VIZ_HISTORY_QUEUE     4  /* distinct past windows waiting for a worker; beyond: 503 + Retry-After */
#define VIZ_HISTORY_CACHE     64 /* past graphs kept (least recently used goes); a graph of 1 MB keeps 64 MB at most */
#define VIZ_HISTORY_SETTLE_MS (5 * 60 * 1000) /* after lag + this, a window's data no longer changes: immutable */

/* Moved here from the modules that use them (issue 12 item 5). */
#define CFG_MAX_SERVICES_LIMIT 100000 /* largest services limit a configuration may set */
#define DOC_MAX_DEPTH                                                                                                  \
    256 /* nesting of one NDJSON event; no real event is this deep, the frame stack stays a fixed array */
#define DOC_MAX_TEXT                                                                                                   \
    (64u << 20) /* kept value text of one line; above VIZ_MAX_LINE_BYTES, so the file source never reaches it */
#define ES_DETECT_MAX_BYTES                                                                                            \
    (64u << 10) /* answer to GET /; it is a few hundred bytes, more means something else answered */
#define ES_MAX_ANSWER      (256u << 20) /* bytes of one Elasticsearch answer, decompressed */
#define ES_PARSE_MAX_DEPTH 64 /* nesting of an answer: ours nest about 8 deep, caused_by chains a little more */
#define VIZ_MAX_KEY_VALUE_BYTES                                                                                        \
    (4 * VIZ_NAME_MAX) /* key value cut at read, by both sources alike, so topology sees and cuts a long name the same \
                          way */
#define ES_MAX_AFTER_KEY_BYTES                                                                                         \
    (256u << 10) /* after_key is sent back verbatim so cannot be cut; six 32766-byte keywords fit */
#define ES_MAX_TOKEN_BYTES     (1u << 20) /* bytes that pass without a token completing (one huge string) in an answer */
#define ES_PARSE_SNIPPET_BYTES 48         /* what a NOT_JSON reason quotes of a body (a proxy's HTML page) */
#define HTTP_MAX_METRICS_BYTES (4u << 20) /* /metrics output; a few hundred series take a few tens of kilobytes */
#define INIT_MAX_ANSWER                                                                                                \
    (64u << 20) /* discovery answer; tens of thousands of indices still fit _resolve/index in a few MB */
#define JSONR_MAX_PENDING                                                                                              \
    (16u << 20) /* token gathered across chunks; es_parse refuses 1 MiB already, this bounds the reader alone */
#define JSONR_MAX_DEPTH         256 /* nesting the JSON reader follows */
#define JSONW_MAX_DEPTH         64  /* nesting the JSON writer tracks (one flag per level); the graph nests far less */
#define METRICS_MAX_DECLARED    256 /* metric families; the set is closed, reaching it is a bug */
#define METRICS_MAX_SERIES      20000 /* label series; label values come from small closed sets, more are dropped */
#define METRICS_MAX_LABEL_VALUE 128   /* bytes of a label value, longer ones get ~ and 8 hex digits of their hash */
#define DEMO_MAX_WINDOW_MS      (31LL * 24 * 3600 * 1000) /* window the demo accepts: a month of made-up traffic */
#define ES_MAX_LOWERINGS        8                         /* page size lowerings in one collect; each halves the page */
#define ES_MAX_PAGES            100000     /* pages of one collect: ends a server that never stops paging */
#define ES_MAX_SEARCH_BODY      (4u << 20) /* a search body we send; larger is refused before sending */
#define ES_SNIPPET_BYTES        2048       /* start of an answer body kept for messages */
#define SOURCE_DEGRADED_LEN     512        /* a source's degraded reason shown on the page */
#define FILE_MAX_TUPLES                                                                                                \
    (2u * VIZ_MAX_FILE_EVENTS) /* interned tuples, live and dead, before dead ones are purged; live ones are at most   \
                                  the events */
#define TOPOLOGY_MEMO_VALUES (1u << 19)  /* values the per-refresh memo keeps; 100k edges see a few hundred thousand */
#define TOPOLOGY_MEMO_BYTES  (32u << 20) /* bytes of memo text; past either bound values are looked up without it */
#define CFG_MAX_YAML_DEPTH                                                                                             \
    (2 * VIZ_MAX_CONDITION_DEPTH +                                                                                     \
     8) /* two levels per condition (mapping and list) plus the levels above the flow list */
#define CFG_MAX_DURATION_MS                                                                                            \
    (366LL * 86400000)                 /* longer durations are typos (a 400d window asks for a year on every refresh) */
#define RECORDING_MAX_REFRESHES 100000 /* refresh directories one replay flow lists */
#define RECORDING_MAX_PAGES     100000 /* pages of one recorded refresh, as ES_MAX_PAGES */
#define RECORDING_MAX_REQUEST   (ES_MAX_SEARCH_BODY + 8192) /* a request file: the largest search body and its path */
/* (address, service) pairs resolve_callee learns in one collect (source_resolve.c): a fleet has a
 * few thousand; past this the rest resolve nothing and the flow says it is degraded. */
#define RESOLVE_MAX_PAIRS       100000
#define VIZ_MAX_TIMELINE_POINTS 1440 /* steps of one timeline: a day of minutes; more is refused, never cut */
#define VIZ_MAX_TIMELINE_SERIES                                                                                        \
    1000 /* regions (or one region's services) one timeline tells apart; the rest are summed as "other" */

/* Baseline and change (graph.baseline, refresh.h). */
#define CFG_DEFAULT_BASELINE_MS (7LL * 86400000)  /* graph.baseline when unset: one week */
#define CFG_MAX_BASELINE_MS     (35LL * 86400000) /* longest graph.baseline (5w): bounds a file flow's retention */
#define BASELINE_EVERY          6 /* baseline window ends sit on a grid of this many intervals: refetched once per 6 */

/* Incremental windows of elasticsearch flows (es_ring.h, source_es.c). */
#define ES_SETTLE_INTERVALS 3 /* elasticsearch.settle's default, in refresh intervals (PERFORMANCE.md: its cost) */
#define ES_MAX_RING_CELLS                                                                                              \
    4000000u /* (slice, edge) cells one flow keeps: 100k edges in 40 slices; about 32 bytes each (64 with latency)     \
                plus the names; above it the flow uses full queries */
#define ES_MAX_RING_SLICES     100000 /* slices of an incremental window (window / interval); more: full queries */
#define ES_RING_RETRY_COLLECTS 360    /* full queries after passing ES_MAX_RING_CELLS, before the ring is tried again */

/* Issue 18 item 6: request heads checked as libmicrohttpd reads them (http_scan.h, http_guard.h). */
#define HTTP_MAX_CONTENT_LENGTH                                                                                        \
    0x7fffffffffffffffull /* 2^63-1; larger: 400, not a length (nginx: the same for a signed 64-bit off_t) */
#define HTTP_MAX_CONTENT_LENGTH_BYTES 24        /* bytes of a Content-Length value; longer (zeros first): 400 */
#define HTTP_GUARD_MAX_FD             (1 << 16) /* descriptors the guard can watch; a connection above: closed at once */

#endif
