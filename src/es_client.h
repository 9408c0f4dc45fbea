/*
 * es_client.h - the HTTP connection to an Elasticsearch cluster (libcurl).
 *
 * One easy handle, reused, so the connection is kept alive across requests
 * and refreshes. hosts are tried in turn: a host that fails to connect,
 * resolve, handshake or answer in time is skipped for ES_HOST_COOLDOWN_MS
 * and the next one is tried within the same request. cloud_id is decoded
 * into its https host. Authentication: Basic (username/password), ApiKey
 * (api_key, "id:key" is base64-encoded here) or Bearer. TLS verification is
 * on unless es.verify is false; ca_file replaces the system CAs. The timeout
 * covers the whole request. Answers may be compressed (Accept-Encoding: gzip).
 * No CURLOPT_FAILONERROR: error bodies are read and parsed like any answer.
 *
 * The body streams into on_data() as it arrives and at most ES_MAX_ANSWER
 * bytes are accepted (more fails the request with ES_FAIL_TOO_LARGE).
 * resp->status is already set when on_data() is first called, so a parser
 * can be reset with it before the first byte. on_data may be NULL (the body
 * is then counted and dropped). A host is only left for the next one while
 * nothing has been handed to on_data; es.timeout applies to each attempt.
 * Credentials never appear in err, logs or recordings.
 *
 * Calling sequence: es_client_new() (keeps no pointer into cfg; NULL with
 * err when it cannot be used), optionally es_client_set_limits() before a
 * refresh, then es_client_request() per page; es_client_free() (NULL is
 * fine). A client is used by one thread at a time: on_data runs on that
 * thread. Errors: es_client_new() returns NULL with err;
 * es_client_request() returns -1 with err and resp->failure set when no
 * complete HTTP answer was received (an HTTP error status is not a failure
 * here: resp->status carries it and the body was streamed).
 */
#ifndef VIZ_ES_CLIENT_H
#define VIZ_ES_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "config.h"

#define ES_HOST_COOLDOWN_MS 30000

typedef enum {
    ES_FAIL_NONE,
    ES_FAIL_RESOLVE,   /* host name does not resolve */
    ES_FAIL_CONNECT,   /* refused, unreachable */
    ES_FAIL_TLS,       /* handshake or certificate */
    ES_FAIL_TIMEOUT,   /* no complete answer within es.timeout */
    ES_FAIL_CUT,       /* connection closed mid-answer */
    ES_FAIL_TOO_LARGE, /* answer over ES_MAX_ANSWER */
    ES_FAIL_DEADLINE,  /* the deadline of es_client_set_limits() came first */
    ES_FAIL_STOPPED,   /* the stop flag of es_client_set_limits() was set */
    ES_FAIL_OTHER,
} es_failure;

/* A short stable name for metrics labels: "resolve", "connect", "tls", ... */
const char *es_client_failure_name(es_failure f);

typedef enum { ES_FLAVOR_UNKNOWN, ES_FLAVOR_ELASTICSEARCH, ES_FLAVOR_OPENSEARCH } es_flavor;

typedef struct {
    int status;             /* HTTP status; 0 when no answer */
    int64_t retry_after_ms; /* from Retry-After; -1 when absent */
    size_t bytes;           /* body bytes delivered to on_data */
    es_failure failure;
    char host[256]; /* base URL of the host that was used (no credentials) */
} es_response;

/* Takes the next len bytes of the body; returns 0 to go on, nonzero to stop
 * the request (util.h callback convention). */
typedef int (*es_data_fn)(void *ctx, const char *data, size_t len);

typedef struct es_client es_client;

es_client *es_client_new(const es_config *cfg, char *err);
void es_client_free(es_client *c);
/* opaque_id goes out as X-Opaque-Id (the flow's name), so slow queries can be
 * traced back in Elasticsearch's logs. body may be NULL for GET. */
int es_client_request(es_client *c, const char *method, const char *path, const char *body, size_t body_len,
                      const char *opaque_id, es_data_fn on_data, void *ctx, es_response *resp, char *err);
/* Bounds the requests that follow: none lasts past deadline_ms (monotonic
 * ms; 0 = no deadline), each one's timeout being shortened to the time left,
 * and each gives up within about a second once *stop is set (libcurl's
 * progress callback, called at least once a second even while nothing
 * moves). A request so cut fails with ES_FAIL_DEADLINE or ES_FAIL_STOPPED
 * and its host is not blamed. stop may be NULL. */
void es_client_set_limits(es_client *c, int64_t deadline_ms, const atomic_bool *stop);
/* GET / once: which product answers (version.distribution "opensearch", else
 * Elasticsearch) and its major version (version.number). Returns 0, or -1
 * with err when the request fails, the status is not 200 (Elasticsearch's
 * error type and reason quoted) or the body has no version.number. */
int es_client_detect(es_client *c, es_flavor *flavor, int *major, char *err);

#endif
