#!/bin/bash
# Run once by the `setup` service of compose.yml: sets the kibana_system
# password and creates the read-only role and user vizfeed queries with.
set -euo pipefail
es=http://elasticsearch:9200
call() { # METHOD PATH BODY
    curl -fsS -u "elastic:$ELASTIC_PASSWORD" -X "$1" "$es$2" -H 'Content-Type: application/json' -d "$3" >/dev/null
}
call POST /_security/user/kibana_system/_password "{\"password\":\"$KIBANA_PASSWORD\"}"
call PUT /_security/role/vizfeed_reader \
    '{"indices":[{"names":["filebeat-*","logs-*","packetbeat-*","heartbeat-*","metrics-apm*","traces-apm*"],"privileges":["read","view_index_metadata"]}]}'
call PUT /_security/user/vizfeed "{\"password\":\"$VIZFEED_ES_PASSWORD\",\"roles\":[\"vizfeed_reader\"]}"
echo "es-setup: kibana_system password set, user vizfeed created"
