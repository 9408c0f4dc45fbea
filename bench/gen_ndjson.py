#!/usr/bin/env python3
"""gen_ndjson.py - an NDJSON file of APM spans for vizfeed's file-flow benchmark.

Writes, under OUT, SPANS span documents (one JSON object a line, in the
Elastic APM span layout, ECS field names, nested objects) whose exit calls
make EDGES distinct edges (caller, callee, region), each edge seen
SPANS/EDGES times on average, in random order, their timestamps spread over
the minute before --at:

  OUT/spans.ndjson   the documents
  OUT/vizfeed.yml    one `type: file` flow over them + gen_replay's topology
  OUT/vizfeed-read.yml  the same, with a `where` no span meets (reading alone)
  OUT/bench.json     the same rules for bench/node/transform.mjs --ndjson

The callee is a pod address (service-N.region.svc:port) or a database, so
the topology's regexes resolve it as they do the mesh flow of gen_replay.py.
Deterministic for a given --seed. Python 3 standard library only.
"""
import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_replay  # noqa: E402

AT_MS = 1767225600000  # 2026-01-01T00:00:00Z, bench.py's --at


def iso(ms):
    s, ms = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{ms:03d}Z"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spans", type=int, default=200000)
    ap.add_argument("--edges", type=int, default=100000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    rng = random.Random(a.seed)
    edges, seen = [], set()
    while len(edges) < a.edges:
        (caller, resource, r), _ = gen_replay.mesh_row(rng)
        if (caller, resource, r) not in seen:
            seen.add((caller, resource, r))
            edges.append((caller, resource, gen_replay.REGIONS[r - 1]))
    picks = list(range(len(edges))) + [rng.randrange(len(edges)) for _ in range(a.spans - len(edges))]
    rng.shuffle(picks)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with open(os.path.join(out, "spans.ndjson"), "w") as f:
        for i in picks:
            caller, resource, region = edges[i]
            ts = AT_MS - 60000 + rng.randrange(60000)
            outcome = "failure" if rng.random() < 0.03 else "success"
            f.write(dumps({"@timestamp": iso(ts), "service": {"name": caller}, "cloud": {"region": region},
                           "span": {"id": f"{rng.getrandbits(64):016x}",
                                    "destination": {"service": {"resource": resource}}},
                           "event": {"outcome": outcome}}) + "\n")
    topo = gen_replay.topology()
    lines = ["# Written by bench/gen_ndjson.py: one file flow over generated APM spans.",
             "refresh:", "  interval: 1h", "  window: 1m", "  lag: 0s",
             "graph:", "  max_services: 100", "topology:"]
    for e in topo:
        lines.append(f"  - match: {json.dumps(e['match'])}")
        for k in ("service", "region"):
            if k in e:
                lines.append(f"    {k}: {json.dumps(e[k])}")
    lines += ["flows:", "  - name: spans", "    type: file", f"    path: {json.dumps(os.path.join(out, 'spans.ndjson'))}",
              "    from: { service: service.name, region: cloud.region }",
              "    to: { service: span.destination.service.resource, region: cloud.region }",
              "    danger:", "      - { field: event.outcome, equals: failure }"]
    with open(os.path.join(out, "vizfeed.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # The same flow with a `where` no span meets: every line is read and
    # parsed, no event is kept, so the run is the reading alone.
    with open(os.path.join(out, "vizfeed-read.yml"), "w") as f:
        f.write("\n".join(lines + ["    where:", "      - { field: event.outcome, equals: none }"]) + "\n")
    rules = {"window_s": 60, "entry": "INTERNET", "default_region": "default",
             "thresholds": {"warning": 0.03, "danger": 0.10, "min_rate": 0.1}, "topology": topo,
             "flows": [{"name": "spans", "sum": False}],
             "ndjson": {"start_ms": AT_MS - 60000, "end_ms": AT_MS,
                        "from_service": "service.name", "from_region": "cloud.region",
                        "to_service": "span.destination.service.resource", "to_region": "cloud.region",
                        "danger": {"field": "event.outcome", "equals": "failure"}}}
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(rules, f, indent=1)


if __name__ == "__main__":
    main()
