#include "preset.h"

#include <string.h>

/*
 * The field choices follow reference/elasticsearch.md §2 (ECS 8.x names) and
 * are explained, with the older field names they do not cover, in
 * docs/PRESETS.md. Keep the two in step.
 *
 * Every threshold is written as a range over the numeric status code rather
 * than as event.outcome where the two differ: Filebeat marks 4xx as
 * "failure", so event.outcome alone cannot tell a warning from a danger.
 */
static const flow_preset presets[] = {
    {"nginx-access", "where:\n"
                     "  - { field: event.dataset, equals: nginx.access }\n"
                     "from: { service: source.ip }\n"
                     "to: { service: host.name, region: cloud.region, host: host.name }\n"
                     "warning:\n"
                     "  - { field: http.response.status_code, gte: 400, lt: 500 }\n"
                     "danger:\n"
                     "  - { field: http.response.status_code, gte: 500 }\n"
                     "warning_label: 4xx\n"
                     "danger_label: 5xx\n"},
    {"apache-access", "where:\n"
                      "  - { field: event.dataset, equals: apache.access }\n"
                      "from: { service: source.ip }\n"
                      "to: { service: host.name, region: cloud.region, host: host.name }\n"
                      "warning:\n"
                      "  - { field: http.response.status_code, gte: 400, lt: 500 }\n"
                      "danger:\n"
                      "  - { field: http.response.status_code, gte: 500 }\n"
                      "warning_label: 4xx\n"
                      "danger_label: 5xx\n"},
    /* Packetbeat sets status "Error" for responses >= 400 and for requests
     * that never got a response; only the latter lack a status code, and
     * those are the ones a 5xx range cannot see. */
    {"packetbeat-http", "where:\n"
                        "  - { field: type, equals: http }\n"
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
                        "danger_label: 5xx\n"},
    /* A connection is reported every flow period while it lasts; only the
     * final record counts it once. */
    {"packetbeat-flow", "where:\n"
                        "  - { field: type, equals: flow }\n"
                        "  - { field: flow.final, equals: true }\n"
                        "from: { service: source.ip }\n"
                        "to: { service: destination.ip, host: destination.ip }\n"
                        "count: \"\"\n"
                        "danger_label: errors\n"},
    /* One metric document stands for many calls: sum their count. APM
     * Server 8.7+ writes the same calls again as 10m and 60m roll-ups
     * (metricset.interval, data streams ...service_destination.10m/.60m):
     * counting those too would count each call up to three times. Documents
     * without metricset.interval (older servers) are kept. The document's
     * cloud.region is the caller's; the callee is assumed to live in the
     * same region unless the flow overrides to.region. */
    {"apm-service-destination", "where:\n"
                                "  - { field: metricset.name, equals: service_destination }\n"
                                "  - not: { field: metricset.interval, in: [10m, 60m] }\n"
                                "from: { service: service.name, region: cloud.region }\n"
                                "to: { service: span.destination.service.resource, region: cloud.region }\n"
                                "count: span.destination.service.response_time.count\n"
                                "danger:\n"
                                "  - { field: event.outcome, equals: failure }\n"
                                "danger_label: failures\n"},
    /* The caller of a transaction is not recorded on it: the entry node. */
    {"apm-transaction", "where:\n"
                        "  - { field: processor.event, equals: transaction }\n"
                        "from: { service: \"\", region: \"\", host: \"\" }\n"
                        "to: { service: service.name, region: cloud.region, host: service.node.name }\n"
                        "warning:\n"
                        "  - { field: http.response.status_code, gte: 400, lt: 500 }\n"
                        "danger:\n"
                        "  - { field: event.outcome, equals: failure }\n"
                        "warning_label: 4xx\n"
                        "danger_label: failures\n"},
    /* summary.up is written only on the last event of a check, so counting
     * documents that have it counts checks, not attempts. */
    {"heartbeat", "where:\n"
                  "  - { field: summary.up, exists: true }\n"
                  "from: { service: observer.geo.name }\n"
                  "to: { service: url.domain, host: monitor.ip }\n"
                  "danger:\n"
                  "  - { field: monitor.status, equals: down }\n"
                  "danger_label: down\n"},
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
           "apm-transaction, heartbeat";
}
