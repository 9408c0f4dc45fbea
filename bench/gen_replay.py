#!/usr/bin/env python3
"""gen_replay.py - recorded Elasticsearch answers for vizfeed's benchmark.

Writes, under OUT, what `vizfeed --record` would have written for one refresh
of a fleet with EDGES distinct composite buckets (raw edges), spread over
three flows the way a real deployment splits them:

  edge  nginx-access preset     clients (public and internal IPs) -> web hosts
  mesh  apm-service-destination services -> dependencies (pod:port, databases)
  net   packetbeat-flow preset  internal IP -> internal IP

  OUT/<flow>/000001/NNNN.request.json    {"method":"POST","path":...,"body":...}
  OUT/<flow>/000001/NNNN.response.json   "HTTP 200\\n" + the answer's body
  OUT/vizfeed.yml                         replay flows + the topology
  OUT/bench.json                          the same rules for bench/jq and bench/node

The topology resolves for real: 4 region /16s, 30 service /24s per region,
exact database addresses, and regexes with capture groups for host and pod
names. Pages hold --page-size buckets (vizfeed's default, 5000) and the last
page is the empty one without after_key that ends a composite paging.
Deterministic for a given --seed. Python 3 standard library only.
"""
import argparse
import json
import os
import random

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"]
WORDS = ["checkout", "cart", "payments", "search", "catalog", "inventory", "auth", "users", "orders",
         "shipping", "pricing", "reviews", "recommend", "notify", "email", "billing", "ledger", "fraud",
         "geo", "media", "ads", "analytics", "session", "profile", "coupons"]
KINDS = ["api", "svc", "worker", "gateway", "cache"]
SERVICES = [f"{w}-{k}" for w in WORDS for k in KINDS]  # 125
FRONT = [s for s in SERVICES if s.endswith("-api") or s.endswith("-gateway")]  # 50 take outside traffic
SUBNETS = 30  # service /24s per region: 10.<region>.<1..30>.0/24
DATABASES = ["postgresql", "redis", "elasticsearch", "kafka", "mysql"]
SHARES = [("edge", 0.40), ("mesh", 0.35), ("net", 0.25)]
FLOW_INDEX = {"edge": "filebeat-*", "mesh": "metrics-apm.service_destination*", "net": "packetbeat-*"}
FLOW_PRESET = {"edge": "nginx-access", "mesh": "apm-service-destination", "net": "packetbeat-flow"}


def topology():
    t = []
    for r, region in enumerate(REGIONS, 1):
        t.append({"match": f"10.{r}.0.0/16", "region": region})
    for r in range(1, len(REGIONS) + 1):
        for s in range(1, SUBNETS + 1):
            t.append({"match": f"10.{r}.{s}.0/24", "service": SERVICES[(s * 7) % len(SERVICES)]})
    for r in range(1, len(REGIONS) + 1):
        t.append({"match": f"10.{r}.250.10", "service": "postgres"})
        t.append({"match": f"10.{r}.250.11", "service": "redis"})
    t.append({"match": "/^([a-z]+-[a-z]+)-[0-9]+$/", "service": "\\1"})
    t.append({"match": "/^([a-z]+-[a-z]+)-[0-9]+\\.([a-z0-9-]+)\\.svc:[0-9]+$/", "service": "\\1"})
    t.append({"match": "/^postgres(ql)?(/.*)?$/", "service": "postgres"})
    return t


def counts(rng):
    """doc_count, warning docs, danger docs: mostly healthy, a few sick edges."""
    n = int(rng.paretovariate(1.2) * 3) + 1
    roll = rng.random()
    if roll < 0.01:
        d, w = n // 3, n // 20
    elif roll < 0.04:
        d, w = 0, n // 8
    else:
        d, w = (1 if rng.random() < 0.05 else 0), (1 if rng.random() < 0.1 else 0)
    d, w = min(d, n), min(w, n - min(d, n))
    return n, w, d


def public_ip(rng):
    while True:
        a = rng.randint(1, 223)
        if a not in (10, 127, 100, 169, 172, 192):
            return f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def internal_ip(rng, r, host_max):
    return f"10.{r}.{rng.randint(1, SUBNETS)}.{rng.randint(1, host_max)}"


def edge_row(rng):
    r = rng.randint(1, len(REGIONS))
    svc = rng.choice(FRONT)
    host = f"{svc}-{rng.randint(1, 12):02d}"
    client = public_ip(rng) if rng.random() < 0.75 else internal_ip(rng, r, 250)
    key = {"from_service": client, "to_service": host, "to_region": REGIONS[r - 1], "to_host": host}
    n, w, d = counts(rng)
    bucket = {"key": key, "doc_count": n, "danger": {"doc_count": d}, "warning": {"doc_count": w}}
    return (client, host, r), bucket


def mesh_row(rng):
    r = rng.randint(1, len(REGIONS))
    region = REGIONS[r - 1]
    caller = rng.choice(SERVICES)
    if rng.random() < 0.05:
        resource = rng.choice(DATABASES)
    else:
        resource = f"{rng.choice(SERVICES)}-{rng.randint(1, 40)}.{region}.svc:{rng.choice((8080, 8443, 9000))}"
    key = {"from_service": caller, "from_region": region, "to_service": resource, "to_region": region}
    n, w, d = counts(rng)
    per = rng.randint(1, 60)  # calls one metric document stands for
    bucket = {"key": key, "doc_count": n, "count": {"value": n * per},
              "danger": {"doc_count": d, "count": {"value": (d + w) * per}}}
    return (caller, resource, r), bucket


def net_row(rng):
    r = rng.randint(1, len(REGIONS))
    src = internal_ip(rng, r if rng.random() < 0.9 else rng.randint(1, len(REGIONS)), 250)
    dst = internal_ip(rng, r, 20) if rng.random() < 0.97 else f"10.{r}.250.{rng.choice((10, 11))}"
    key = {"from_service": src, "to_service": dst, "to_host": dst}
    n, _, _ = counts(rng)
    return (src, dst), {"key": key, "doc_count": n}


ROW = {"edge": edge_row, "mesh": mesh_row, "net": net_row}


def request(flow, page_size, after):
    body = {"size": 0, "track_total_hits": False, "timeout": "20s",
            "aggs": {"edges": {"composite": {"size": page_size}}}}
    if after is not None:
        body["aggs"]["edges"]["composite"]["after"] = after
    path = (f"/{FLOW_INDEX[flow]}/_search?filter_path=took,timed_out,_shards,hits.total,"
            "aggregations.edges.after_key,aggregations.edges.buckets&ignore_unavailable=true&allow_no_indices=true")
    return json.dumps({"method": "POST", "path": path, "body": body}, separators=(",", ":")) + "\n"


SHARDS = '"_shards":{"total":6,"successful":6,"skipped":0,"failed":0}'


def write_flow(out, flow, n, page_size, rng):
    d = os.path.join(out, flow, "000001")
    os.makedirs(d, exist_ok=True)
    seen = set()
    make = ROW[flow]
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    page, after, bytes_out = 1, None, 0
    left = n
    while True:
        buckets = []
        take = min(page_size, left)
        while len(buckets) < take:
            ident, bucket = make(rng)
            if ident in seen:
                continue
            seen.add(ident)
            buckets.append(dumps(bucket))
        left -= take
        with open(os.path.join(d, f"{page:04d}.request.json"), "w") as f:
            f.write(request(flow, page_size, after))
        if buckets:
            after = json.loads(buckets[-1])["key"]
            agg = '{"after_key":' + dumps(after) + ',"buckets":[' + ",".join(buckets) + "]}"
        else:
            agg = '{"buckets":[]}'
        body = '{"took":%d,"timed_out":false,%s,"aggregations":{"edges":%s}}' % (rng.randint(20, 400), SHARDS, agg)
        with open(os.path.join(d, f"{page:04d}.response.json"), "w") as f:
            f.write("HTTP 200\n")
            f.write(body)
        bytes_out += len(body)
        page += 1
        if not buckets:
            return page - 1, bytes_out


def yaml_string(s):
    return json.dumps(s)  # a JSON string is a YAML double-quoted scalar


def write_config(out, topo):
    lines = ["# Written by bench/gen_replay.py: replay flows over generated recordings.",
             "listen: ${BENCH_LISTEN:127.0.0.1:8080}",
             "refresh:", "  interval: ${BENCH_INTERVAL:1h}", "  window: 1m", "  lag: 0s",
             "graph:", "  max_services: 100", "topology:"]
    for e in topo:
        lines.append(f"  - match: {yaml_string(e['match'])}")
        for k in ("service", "region"):
            if k in e:
                lines.append(f"    {k}: {yaml_string(e[k])}")
    lines.append("flows:")
    for flow, _ in SHARES:
        lines += [f"  - name: {flow}", "    type: replay", f"    path: {yaml_string(os.path.join(out, flow))}",
                  f"    index: {yaml_string(FLOW_INDEX[flow])}", f"    preset: {FLOW_PRESET[flow]}"]
    with open(os.path.join(out, "vizfeed.yml"), "w") as f:
        f.write("\n".join(lines) + "\n")
    rules = {"window_s": 60, "entry": "INTERNET", "default_region": "default",
             "thresholds": {"warning": 0.03, "danger": 0.10, "min_rate": 0.1}, "topology": topo,
             "flows": [{"name": flow, "sum": flow == "mesh"} for flow, _ in SHARES]}
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(rules, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edges", type=int, required=True, help="distinct composite buckets over all flows")
    ap.add_argument("--out", required=True, help="directory to write (created)")
    ap.add_argument("--page-size", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    rng = random.Random(a.seed)
    left = a.edges
    summary = {}
    for i, (flow, share) in enumerate(SHARES):
        n = left if i == len(SHARES) - 1 else int(a.edges * share)
        left -= n
        pages, size = write_flow(out, flow, n, a.page_size, rng)
        summary[flow] = {"edges": n, "pages": pages, "bytes": size}
    write_config(out, topology())
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
