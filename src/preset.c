/*
 * preset.c - the built-in flow presets (preset.h): the field choices and
 * thresholds a flow gets from `preset: NAME`.
 */
#include "preset.h"

#include <string.h>

/*
 * The field choices follow the ECS 8.x field names and
 * are explained, with the older field names they do not cover, in
 * docs/PRESETS.md. Keep the two in step.
 *
 * Every threshold is written as a range over the numeric status code rather
 * than as event.outcome where the two differ: Filebeat marks 4xx as
 * "failure", so event.outcome alone cannot tell a warning from a danger.
 */
static const flow_preset presets[] = {
    {"nginx-access",
     "where:\n"
     "  - { field: event.dataset, equals: nginx.access }\n"
     "from: { service: source.ip }\n"
     "to: { service: host.name, region: cloud.region, host: host.name }\n"
     "warning:\n"
     "  - { field: http.response.status_code, gte: 400, lt: 500 }\n"
     "danger:\n"
     "  - { field: http.response.status_code, gte: 500 }\n"
     "warning_label: 4xx\n"
     "danger_label: 5xx\n",
     "filebeat-*,logs-nginx.access-*"},
    {"apache-access",
     "where:\n"
     "  - { field: event.dataset, equals: apache.access }\n"
     "from: { service: source.ip }\n"
     "to: { service: host.name, region: cloud.region, host: host.name }\n"
     "warning:\n"
     "  - { field: http.response.status_code, gte: 400, lt: 500 }\n"
     "danger:\n"
     "  - { field: http.response.status_code, gte: 500 }\n"
     "warning_label: 4xx\n"
     "danger_label: 5xx\n",
     "filebeat-*,logs-apache.access-*"},
    /* Packetbeat sets status "Error" for responses >= 400 and for requests
     * that never got a response; only the latter lack a status code, and
     * those are the ones a 5xx range cannot see. */
    {"packetbeat-http",
     "where:\n"
     "  - { field: type, equals: http }\n"
     "latency: { field: event.duration, unit: ns }\n"
     "from: { service: source.ip }\n"
     "to: { service: destination.ip, host: destination.ip }\n"
     "warning:\n"
     "  - { field: http.response.status_code, gte: 400, lt: 500 }\n"
     "danger:\n"
     "  - { field: http.response.status_code, gte: 500 }\n"
     "  - all:\n"
     "      - { field: status, equals: Error }\n"
     "      - { field: http.response.status_code, exists: false }\n"
     "warning_label: 4xx\n"
     "danger_label: 5xx\n",
     "packetbeat-*,logs-network_traffic.http-*"},
    /* A connection is reported every flow period while it lasts; only the
     * final record counts it once. */
    {"packetbeat-flow",
     "where:\n"
     "  - { field: type, equals: flow }\n"
     "  - { field: flow.final, equals: true }\n"
     "from: { service: source.ip }\n"
     "to: { service: destination.ip, host: destination.ip }\n"
     "count: \"\"\n"
     "danger_label: errors\n",
     "packetbeat-*,logs-network_traffic.flow-*"},
    /* One metric document stands for many calls: sum their count. APM
     * Server 8.7+ writes the same calls again as 10m and 60m roll-ups
     * (metricset.interval, data streams ...service_destination.10m/.60m):
     * counting those too would count each call up to three times. Documents
     * without metricset.interval (older servers) are kept. The document's
     * cloud.region is the caller's; the callee is assumed to live in the
     * same region unless the flow overrides to.region. */
    {"apm-service-destination",
     "where:\n"
     "  - { field: metricset.name, equals: service_destination }\n"
     "  - not: { field: metricset.interval, in: [10m, 60m] }\n"
     "from: { service: service.name, region: cloud.region }\n"
     "to: { service: span.destination.service.resource, region: cloud.region }\n"
     "count: span.destination.service.response_time.count\n"
     "latency:\n"
     "  sum: span.destination.service.response_time.sum.us\n"
     "  count: span.destination.service.response_time.count\n"
     "  unit: us\n"
     "danger:\n"
     "  - { field: event.outcome, equals: failure }\n"
     "danger_label: failures\n",
     "metrics-apm.service_destination.1m-*,metrics-apm.internal-*,apm-*-metric*"},
    /* The caller of a transaction is not recorded on it: the entry node. */
    {"apm-transaction",
     "where:\n"
     "  - { field: processor.event, equals: transaction }\n"
     "from: { service: \"\", region: \"\", host: \"\" }\n"
     "to: { service: service.name, region: cloud.region, host: service.node.name }\n"
     "latency: { field: transaction.duration.us, unit: us }\n"
     "warning:\n"
     "  - { field: http.response.status_code, gte: 400, lt: 500 }\n"
     "danger:\n"
     "  - { field: event.outcome, equals: failure }\n"
     "warning_label: 4xx\n"
     "danger_label: failures\n",
     "traces-apm*,apm-*-transaction*"},
    /* summary.up is written only on the last event of a check, so counting
     * documents that have it counts checks, not attempts. */
    {"heartbeat",
     "where:\n"
     "  - { field: summary.up, exists: true }\n"
     "from: { service: observer.geo.name }\n"
     "to: { service: url.domain, host: monitor.ip }\n"
     "latency: { field: monitor.duration.us, unit: us }\n"
     "danger:\n"
     "  - { field: monitor.status, equals: down }\n"
     "danger_label: down\n",
     "heartbeat-*,synthetics-*"},
    /* OpenTelemetry spans as the Elasticsearch exporter stores them (EDOT,
     * data streams traces-*.otel-*). Every field is named by its full path
     * (resource.attributes.service.name, attributes.service.target.name):
     * that is where the raw document holds it (flat dotted keys inside the
     * attribute maps), and Elasticsearch indexes the same path under its
     * passthrough objects, so a file of the raw documents and the cluster
     * answer alike. The short passthrough names (service.name) exist only in
     * Elasticsearch. Exit spans only: a client or producer span names its
     * caller (its own service) and callee: the elasticapm processor's
     * service.target.name (itself from peer.service, db, messaging, rpc or
     * host:port), else span.destination.service.resource, else the plain
     * attributes peer.service and server.address of an unenriched span. kind and status.code are listed in each
     * spelling the exporter, Elasticsearch's tests and OTLP JSON use. A span counts as many calls as its representative
     * count (sampling weight, set by the enrichment), 1 where the span does not carry one,
     * and its duration weighs as much in the average latency (latency.weight).
     * A callee that is an address (host:port, from the enrichment or joined
     * here) becomes the service whose Server spans of the same window were
     * reached at that address (resolve_callee, source_resolve.c). */
    {"otel-spans",
     "where:\n"
     "  - { field: kind, in: [Client, CLIENT, client, SPAN_KIND_CLIENT,"
     " Producer, PRODUCER, producer, SPAN_KIND_PRODUCER] }\n"
     "from: { service: resource.attributes.service.name, region: resource.attributes.cloud.region }\n"
     "to:\n"
     "  service: [attributes.service.target.name, attributes.span.destination.service.resource,"
     " attributes.peer.service, \"attributes.server.address:attributes.server.port\"]\n"
     "  region: resource.attributes.cloud.region\n"
     "count: attributes.span.representative_count\n"
     "count_missing: 1\n"
     "latency: { field: duration, unit: ns, weight: attributes.span.representative_count }\n"
     "resolve_callee:\n"
     "  where:\n"
     "    - { field: kind, in: [Server, SERVER, server, SPAN_KIND_SERVER] }\n"
     "  address: \"attributes.server.address:attributes.server.port\"\n"
     "  service: resource.attributes.service.name\n"
     "danger:\n"
     "  - { field: status.code, in: [Error, ERROR, error, STATUS_CODE_ERROR] }\n"
     "  - { field: attributes.event.outcome, equals: failure }\n"
     "  - { field: attributes.http.response.status_code, gte: 500 }\n"
     "  - { field: attributes.http.status_code, gte: 500 }\n"
     "danger_label: errors\n",
     "traces-*.otel-*"},
    /* The elasticapm connector's pre-aggregated exit-span metrics (data
     * streams metrics-service_destination.1m.otel-*): values in `metrics`,
     * dimensions in `attributes`, the service in resource.attributes. The
     * 10m and 60m resolutions hold the same calls again: the index reads
     * the 1m streams only, and the where clause keeps them out should a
     * wider pattern be written. */
    {"otel-service-destination",
     "where:\n"
     "  - { field: attributes.metricset.name, equals: service_destination }\n"
     "  - not: { field: attributes.metricset.interval, in: [10m, 60m] }\n"
     "from: { service: resource.attributes.service.name, region: resource.attributes.cloud.region }\n"
     "to: { service: attributes.span.destination.service.resource, region: resource.attributes.cloud.region }\n"
     "count: metrics.span.destination.service.response_time.count\n"
     "latency:\n"
     "  sum: metrics.span.destination.service.response_time.sum.us\n"
     "  count: metrics.span.destination.service.response_time.count\n"
     "  unit: us\n"
     "danger:\n"
     "  - { field: attributes.event.outcome, equals: failure }\n"
     "danger_label: failures\n",
     "metrics-service_destination.1m.otel-*"},
    /* The collector's service-graph connector, stored by the Elasticsearch
     * exporter (metrics-*.otel-*): one document per client/server pair and
     * interval holds both counters. Delta temporality (EDOT's default) is
     * assumed: each document's value is the calls of its interval, so the
     * window's calls are the sum. Cumulative counters would be counted again
     * at every export; docs/PRESETS.md says what that looks like. The
     * latency is the server-side histogram (request_server_seconds), which
     * the exporter writes into a document of its own (another unit, so
     * another document): the where keeps the connector's request metrics
     * by their two labels (unpaired_spans has one, dropped_spans none), and
     * a histogram document adds latency but no calls (the count sums
     * request_total only, so no other document can add calls). An exists
     * on the histogram field itself would not do: Elasticsearch sees a
     * field, a file an object. Elasticsearch's sum, value_count and max
     * read a histogram field as values times counts, the counts' total and
     * the largest value (the file source the same). */
    {"otel-servicegraph",
     "where:\n"
     "  - { field: attributes.client, exists: true }\n"
     "  - { field: attributes.server, exists: true }\n"
     "from: { service: attributes.client }\n"
     "to: { service: attributes.server }\n"
     "count: metrics.traces_service_graph_request_total\n"
     "latency: { field: metrics.traces_service_graph_request_server_seconds, unit: s }\n"
     "danger_count: metrics.traces_service_graph_request_failed_total\n"
     "danger_label: failures\n",
     "metrics-*.otel-*"},
};

const flow_preset *preset_find(const char *name) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

size_t preset_count(void) {
    return sizeof presets / sizeof presets[0];
}

const flow_preset *preset_at(size_t i) {
    return i < preset_count() ? &presets[i] : NULL;
}

const char *preset_names(void) {
    return "nginx-access, apache-access, packetbeat-http, packetbeat-flow, apm-service-destination, "
           "apm-transaction, heartbeat, otel-spans, otel-service-destination, otel-servicegraph";
}
