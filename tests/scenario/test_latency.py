"""Latency on edges: metadata.latency_ms {avg, max} equals an independent
count over the documents, through a file and through the test Elasticsearch
(same bytes), merged exactly across flows and into `other`; the latency
thresholds colour edges that the error share leaves normal, with a notice.

The data are the documents of tests/cases/preset-otel-spans (span durations
in ns) and preset-otel-service-destination (pre-aggregated sum.us and count).
"""
import json
import os
import sys
import tempfile

from vizlib import TESTS, Tap, run, validate

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402
from esdata import es_date_ms  # noqa: E402

CASES = os.path.join(TESTS, "cases")
START, END = 1705314600000, 1705314900000  # [10:30, 10:35) of 2024-01-15
AT = "2024-01-15T10:35:00Z"


def docs(case):
    return [json.loads(line) for line in open(os.path.join(CASES, case, "events.ndjson")) if line.strip()]


def expected_spans(spans):
    """(caller, callee) -> [sum_ms, n, max_ms] over exit spans in the window, counted here by hand;
    each span weighs its representative count (1 without one): the traffic's average, not the samples'.
    A callee that is an address some Server span of the window was reached at is that span's service
    (the one with the most such spans, ties to the smaller name), as resolve_callee does."""
    served = {}
    for d in spans:
        a = d["attributes"]
        if d["kind"].lower() != "server" or "server.address" not in a or not START <= es_date_ms(d["@timestamp"]) < END:
            continue
        addr = a["server.address"] + (f":{a['server.port']}" if "server.port" in a else "")
        svc = d["resource"]["attributes"]["service.name"]
        served.setdefault(addr, {}).setdefault(svc, 0)
        served[addr][svc] += 1
    resolve = {addr: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for addr, c in served.items()}
    out = {}
    for d in spans:
        if d["kind"].lower() not in ("client", "producer") or not START <= es_date_ms(d["@timestamp"]) < END:
            continue
        a = d["attributes"]
        field = next(k for k in ("service.target.name", "span.destination.service.resource", "peer.service",
                                 "server.address") if k in a)
        callee = a[field]
        if field == "server.address" and "server.port" in a:  # host:port, as the preset joins them
            callee = f"{callee}:{a['server.port']}"
        callee = resolve.get(callee, callee)
        key = (d["resource"]["attributes"]["service.name"], callee)
        ms = d["duration"] / 1e6
        w = a.get("span.representative_count", 1)
        acc = out.setdefault(key, [0.0, 0, 0.0])
        acc[0] += ms * w
        acc[1] += w
        acc[2] = max(acc[2], ms)
    return out


def connections(graph):
    out = {}
    for r in graph["nodes"]:
        for c in r.get("connections") or []:
            out[(r["name"], c["source"], c["target"])] = c
    return out


def nodes(graph, region):
    for r in graph["nodes"]:
        if r["name"] == region:
            return {n["name"]: n for n in r.get("nodes") or []}
    return {}


def close(a, b):
    return abs(a - b) <= 0.0005 + 1e-9 * abs(b)


def write_config(tmp, text):
    path = os.path.join(tmp, "config.yml")
    with open(path, "w") as f:
        f.write(text)
    return path


def flows_yaml(*flows):
    return "flows:\n" + "".join(f"  - {{ name: {n}, type: file, path: {p}, preset: {preset} }}\n"
                                for n, p, preset in flows)


HEAD = "refresh: { interval: 30s, window: 5m, lag: 0s }\n"


def check_spans(tap):
    spans = docs("preset-otel-spans")
    want = expected_spans(spans)
    src = os.path.join(CASES, "preset-otel-spans", "events.ndjson")
    with tempfile.TemporaryDirectory(prefix="vizfeed-lat-") as tmp:
        cfg = write_config(tmp, HEAD + "graph: { thresholds: { min_rate: 0.001 } }\n" +
                           flows_yaml(("spans", src, "otel-spans")))
        r = run(["once", "-c", cfg, "--at", AT])
        if not tap.check(r.returncode == 0, "otel-spans: once exits 0", r.stderr):
            return
        graph = json.loads(r.stdout)
        conns = connections(graph)
        bad = []
        for (caller, callee), (s, n, mx) in sorted(want.items()):
            c = conns.get(("eu-west-1", caller, callee))
            lat = (c or {}).get("metadata", {}).get("latency_ms")
            if not lat or not close(lat["avg"], s / n) or not close(lat["max"], mx):
                bad.append(f"{caller}->{callee}: want avg {s / n} max {mx}, got {lat}")
        tap.check(want and not bad, f"otel-spans: latency of {len(want)} edges equals the count by hand", "\n".join(bad))
        ns = nodes(graph, "eu-west-1")
        incoming = {}
        for (caller, callee), (s, n, mx) in want.items():
            acc = incoming.setdefault(callee, [0.0, 0, 0.0])
            acc[0] += s
            acc[1] += n
            acc[2] = max(acc[2], mx)
        bad = [f"{svc}: want {s / n}/{mx}, got {ns.get(svc, {}).get('metadata', {}).get('latency_ms')}"
               for svc, (s, n, mx) in incoming.items()
               if not (ns.get(svc, {}).get("metadata", {}).get("latency_ms") or {}).get("avg") or
               not close(ns[svc]["metadata"]["latency_ms"]["avg"], s / n) or
               not close(ns[svc]["metadata"]["latency_ms"]["max"], mx)]
        tap.check(not bad, "otel-spans: each service's latency is that of its incoming calls", "\n".join(bad))
        tap.check("latency_ms" not in ns.get("frontend", {}).get("metadata", {}),
                  "otel-spans: a service nobody calls has no latency")

        # Two flows holding halves of the data: averages merge from sums and counts. Each flow
        # resolves its callees from its own Server spans, so both halves get all of them.
        servers = [d for d in spans if d["kind"].lower() == "server"]
        exits = [d for d in spans if d["kind"].lower() != "server"]
        half = len(exits) // 2
        for i, part in enumerate((exits[:half] + servers, exits[half:] + servers)):
            with open(os.path.join(tmp, f"part{i}.ndjson"), "w") as f:
                f.write("".join(json.dumps(d) + "\n" for d in part))
        cfg2 = write_config(tmp, HEAD + "graph: { thresholds: { min_rate: 0.001 } }\n" +
                            flows_yaml(("a", "part0.ndjson", "otel-spans"), ("b", "part1.ndjson", "otel-spans")))
        r2 = run(["once", "-c", cfg2, "--at", AT], cwd=tmp)
        merged = {k: c["metadata"].get("latency_ms") for k, c in connections(json.loads(r2.stdout)).items()}
        whole = {k: c["metadata"].get("latency_ms") for k, c in conns.items()}
        tap.check(r2.returncode == 0 and merged == whole,
                  "otel-spans: two flows with half the spans each give the same latency as one",
                  f"{merged}\n{whole}\n{r2.stderr}")

        # other: max_services 2 merges all but the busiest; its edges' latency is the merged sum / count.
        cfg3 = write_config(tmp, HEAD + "graph: { max_services: 2, thresholds: { min_rate: 0.001 } }\n" +
                            flows_yaml(("spans", src, "otel-spans")))
        r3 = run(["once", "-c", cfg3, "--at", AT])
        g3 = json.loads(r3.stdout)
        kept = set(nodes(g3, "eu-west-1"))
        acc = {}
        for (caller, callee), (s, n, mx) in want.items():
            a = caller if caller in kept else "other"
            b = callee if callee in kept else "other"
            if a == b:
                continue
            x = acc.setdefault((a, b), [0.0, 0, 0.0])
            x[0] += s
            x[1] += n
            x[2] = max(x[2], mx)
        got = {(s, t): c["metadata"].get("latency_ms") for (_, s, t), c in connections(g3).items() if _ == "eu-west-1"}
        bad = [f"{k}: want {v[0] / v[1]}/{v[2]}, got {got.get(k)}" for k, v in acc.items()
               if not got.get(k) or not close(got[k]["avg"], v[0] / v[1]) or not close(got[k]["max"], v[2])]
        tap.check("other" in kept and any("other" in k for k in acc) and not bad,
                  f"otel-spans: edges into and out of other carry the merged latency ({sorted(kept)})", "\n".join(bad))

        # Thresholds: an edge the error share leaves normal is coloured by its average latency.
        for level, sev, th, lw, ld in (("warning", 1, "latency_warning: 40ms, latency_danger: 1s", 40, 1000),
                                       ("danger", 2, "latency_warning: 10ms, latency_danger: 40ms", 10, 40)):
            cfg4 = write_config(tmp, HEAD + f"graph: {{ thresholds: {{ min_rate: 0.001, {th} }} }}\n" +
                                flows_yaml(("spans", src, "otel-spans")))
            r4 = run(["once", "-c", cfg4, "--at", AT])
            g4 = json.loads(r4.stdout)
            problems = validate(g4, warning=0.03, danger=0.1, min_rate=0.001, latency_warning=lw, latency_danger=ld)
            wrong = validate(g4, warning=0.03, danger=0.1, min_rate=0.001)
            c4 = connections(g4)
            fc = c4[("eu-west-1", "frontend", "checkout")]
            topic = c4[("eu-west-1", "checkout", "orders-topic")]
            pay = c4[("eu-west-1", "checkout", "payments:8080")]
            tap.check(fc["class"] == level and fc["notices"] == [{"title": "avg 50 ms over 5m",
                                                                 "subtitle": "from frontend to checkout",
                                                                 "severity": sev}]
                      and topic["class"] == "normal" and "notices" not in topic
                      and pay["class"] == "danger" and pay["notices"][0]["title"].startswith("errors 50.0%")
                      and not problems and wrong,
                      f"thresholds ({th}): frontend->checkout (avg 50 ms) is {level} with a notice; "
                      "1.5 ms stays normal; an edge coloured by errors keeps its error notice",
                      f"{fc}\n{topic}\n{pay}\n{problems}")
        cfg5 = write_config(tmp, HEAD + "graph: { thresholds: { min_rate: 0.001 } }\n" +
                            flows_yaml(("spans", src, "otel-spans")))
        g5 = json.loads(run(["once", "-c", cfg5, "--at", AT]).stdout)
        tap.check(connections(g5)[("eu-west-1", "frontend", "checkout")]["class"] == "normal",
                  "thresholds: latency colours nothing unless latency_warning or latency_danger is set")


def check_service_destination(tap):
    metrics = docs("preset-otel-service-destination")
    want = {}
    for d in metrics:
        a = d["attributes"]
        if a.get("metricset.interval") in ("10m", "60m") or not START <= es_date_ms(d["@timestamp"]) < END:
            continue
        key = (d["resource"]["attributes"]["service.name"], a["span.destination.service.resource"])
        x = want.setdefault(key, [0.0, 0])
        x[0] += d["metrics"]["span.destination.service.response_time.sum.us"] / 1000
        x[1] += d["metrics"]["span.destination.service.response_time.count"]
    src = os.path.join(CASES, "preset-otel-service-destination", "events.ndjson")
    with tempfile.TemporaryDirectory(prefix="vizfeed-lat-") as tmp:
        cfg = write_config(tmp, HEAD + flows_yaml(("deps", src, "otel-service-destination")))
        r = run(["once", "-c", cfg, "--at", AT])
        conns = connections(json.loads(r.stdout))
    bad = []
    for (caller, callee), (s, n) in want.items():
        lat = conns.get(("eu-west-1", caller, callee), {}).get("metadata", {}).get("latency_ms")
        if not lat or not close(lat["avg"], s / n) or "max" in lat:
            bad.append(f"{caller}->{callee}: want avg {s / n} and no max, got {lat}")
    tap.check(want and not bad, "otel-service-destination: average = summed sum.us / summed count; no max "
              "(pre-aggregated data has none)", "\n".join(bad))


def check_elasticsearch_query(tap):
    """Elasticsearch computes the latency: the query asks for weighted_avg (weight: the representative
    count, 1 where missing), the weight of the spans that have a duration, and max sub-aggregations."""
    with FakeElasticsearch() as es:
        es.load("traces-generic.otel-default", docs("preset-otel-spans"), {"@timestamp": "date", "duration": "long"})
        with tempfile.TemporaryDirectory(prefix="vizfeed-lat-") as tmp:
            cfg = write_config(tmp, HEAD + "graph: { thresholds: { min_rate: 0.001 } }\n"
                               f"elasticsearch: {{ hosts: [{es.url}], page_size: 1 }}\n"
                               "flows:\n  - { name: spans, type: elasticsearch, preset: otel-spans }\n")
            r = run(["once", "-c", cfg, "--at", AT])
        bodies = [json.loads(q["body"]) for q in es.requests if q["path_only"].endswith("/_search")]
    # the flow's own pages (the companion query of resolve_callee has no sub-aggregations)
    bodies = [b for b in bodies if "aggs" in b["aggs"]["edges"]]
    aggs = bodies[0]["aggs"]["edges"]["aggs"] if bodies else {}
    weight = {"field": "attributes.span.representative_count", "missing": 1}
    tap.check(aggs.get("lat_avg") == {"weighted_avg": {"value": {"field": "duration"}, "weight": weight}} and
              aggs.get("lat_w") == {"filter": {"exists": {"field": "duration"}}, "aggs": {"count": {"sum": weight}}} and
              aggs.get("lat_max") == {"max": {"field": "duration"}} and "lat_sum" not in aggs and
              all(b["size"] == 0 for b in bodies),
              "elasticsearch: latency comes from weighted_avg, a weight sum and max sub-aggregations, no documents",
              json.dumps(aggs))
    g = json.loads(r.stdout) if r.returncode == 0 else {}
    want = expected_spans(docs("preset-otel-spans"))
    conns = connections(g) if g else {}
    bad = [k for k, (s, n, mx) in want.items()
           if not close(conns.get(("eu-west-1",) + k, {}).get("metadata", {}).get("latency_ms", {}).get("avg", -1), s / n)]
    tap.check(r.returncode == 0 and len(bodies) > len(want) and not bad,
              f"elasticsearch: one bucket a page ({len(bodies)} pages), latency equals the count by hand", f"{bad}")


def main():
    tap = Tap()
    tap.run(check_spans)
    tap.run(check_service_destination)
    tap.run(check_elasticsearch_query)
    tap.done()


main()
