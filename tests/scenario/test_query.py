"""`vizfeed query` prints, for every elasticsearch flow, the exact request of
a refresh's first page, ready to paste into Kibana Dev Tools: with
resolve_callee, the companion search first (src/source_resolve.c), checked
against what `vizfeed once` sends to the test Elasticsearch."""
import json
import os
import sys
import tempfile

from vizlib import TESTS, Tap, run, write

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write(os.path.join(tmp, "vizfeed.yml"), """
elasticsearch:
  hosts: [http://127.0.0.1:9]
  username: elastic
  password: do-not-print-me
  page_size: 250
flows:
  - name: web
    type: elasticsearch
    index: "filebeat-*,-filebeat-old*"
    preset: nginx-access
  - name: mesh
    type: elasticsearch
    index: "metrics-apm*"
    preset: apm-service-destination
  - name: local
    type: demo
""")
        r = run(["query", "-c", cfg, "--at", "2026-01-01T00:00:00Z"])
        tap.equal(r.returncode, 0, "query exits 0 without contacting Elasticsearch")
        # The live window's requests, then the baseline window's (graph.baseline, 1w by default).
        live, _, baseline = r.stdout.partition("\n# baseline (graph.baseline: 1w): the window from ")
        blocks = [b for b in live.split("# flow ") if b.strip()]
        timelines = [b for b in blocks if b.split("\n", 1)[0].endswith(", timeline")]
        blocks = [b for b in blocks if b not in timelines]
        tap.equal([b.split("\n", 1)[0] for b in blocks], ["web", "mesh"], "one request per elasticsearch flow")
        tap.equal([b.split("\n", 1)[0] for b in timelines], ["web, timeline", "mesh, timeline"],
                  "then the timeline request of each (tests/scenario/test_timeline.py checks them)")
        base_blocks = [b for b in baseline.split("# flow ") if b.strip()][1:]
        tap.equal([b.split("\n", 1)[0] for b in base_blocks], ["web", "mesh"],
                  "and one per flow for the baseline window")
        for b in base_blocks:
            name, _, body = b.split("\n", 2)
            rng = json.loads(body)["query"]["bool"]["filter"][0]["range"]["@timestamp"]
            # One week earlier, its end on the grid of 6 intervals (6 x 10s): 2025-12-25T00:00:00Z.
            tap.check(rng == {"gte": 1766620680000, "lt": 1766620800000, "format": "epoch_millis"},
                      f"{name}: the baseline request asks for the window one week before", rng)
        off = write(os.path.join(tmp, "off.yml"), open(cfg).read() + "graph:\n  baseline: off\n")
        r_off = run(["query", "-c", off, "--at", "2026-01-01T00:00:00Z"])
        tap.check(r_off.returncode == 0 and r_off.stdout == live and "# baseline" not in r_off.stdout,
                  "with graph.baseline: off only the live requests", r_off.stdout[-500:])
        for b in blocks:
            name, method_path, body = b.split("\n", 2)
            tap.check(method_path.startswith("POST /") and "/_search?" in method_path, f"{name}: POST /index/_search",
                      method_path)
            try:
                parsed = json.loads(body)
            except ValueError as e:
                tap.check(False, f"{name}: the body is JSON", str(e))
                continue
            tap.check(parsed["aggs"]["edges"]["composite"]["size"] == 250, f"{name}: the configured page size")
            rng = parsed["query"]["bool"]["filter"][0]["range"]["@timestamp"]
            tap.check(rng == {"gte": 1767225480000, "lt": 1767225600000, "format": "epoch_millis"},
                      f"{name}: the window ends at --at and lasts the configured window", rng)
        tap.check("filebeat-*,-filebeat-old*/_search" in r.stdout, "index patterns keep commas and exclusions")
        tap.check("do-not-print-me" not in r.stdout + r.stderr, "no secret is printed")
        tap.check(r.stdout == run(["query", "-c", cfg, "--at", "1767225600000"]).stdout,
                  "the same --at gives the same requests")
        demo = write(os.path.join(tmp, "demo.yml"), "flows:\n  - { name: d, type: demo }\n")
        r = run(["query", "-c", demo])
        tap.check(r.returncode == 1 and "no elasticsearch flow" in r.stderr, "nothing to print: exit 1 and why",
                  r.stderr)
        r = run(["query", "-c", cfg, "--at", "noon"])
        tap.equal(r.returncode, 2, "a bad --at: exit 2")
        resolve_callee_companion(tap, tmp)
    tap.done()


def printed_requests(text):
    """[(head, "POST /path?query", body as parsed JSON)] of every request `vizfeed query` printed, in order;
    comment lines that head no request (the baseline's, a note) are left out."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        if not lines[i].startswith("# flow "):
            i += 1
            continue
        head, request, j = lines[i][len("# flow "):], lines[i + 1], i + 2
        while j < len(lines) and not lines[j].startswith("#"):
            j += 1
        out.append((head, request, json.loads("\n".join(lines[i + 2:j]))))
        i = j
    return out


def span(kind, service, address, port, ts="2024-01-15T10:31:00Z"):
    return {"@timestamp": ts, "kind": kind, "duration": 1000000,
            "attributes": {"server.address": address, "server.port": port},
            "resource": {"attributes": {"service.name": service}}}


def resolve_callee_companion(tap, tmp):
    """A resolve_callee flow sends the companion's search before its own, in the live window and in the
    baseline's: `vizfeed query` prints both, the same paths and bodies in the same order as `vizfeed once`
    sends them (first pages: a later page only adds the after_key). A timeline sends nothing at all (the
    resolve_callee wrapper has no timeline op: GET /timeline.json is a 404 and `vizfeed timeline` fails,
    both before any search, even for the flows before it), so no timeline request is printed either."""
    at = "2024-01-15T10:35:00Z"
    docs = [span("Client", "web", "api.internal", 443), span("Server", "api", "api.internal", 443)]
    with FakeElasticsearch() as es:
        es.load("traces-generic.otel-default", docs, {"@timestamp": "date", "duration": "long"})
        es.load("filebeat-1", [])
        cfg = write(os.path.join(tmp, "resolve.yml"), f"""
refresh: {{ window: 5m, lag: 0s }}
elasticsearch: {{ hosts: [{es.url}], page_size: 100 }}
flows:
  - {{ name: web, type: elasticsearch, index: "filebeat-*", preset: nginx-access }}
  - {{ name: spans, type: elasticsearch, preset: otel-spans }}
""")
        q = run(["query", "-c", cfg, "--at", at])
        tap.equal(q.returncode, 0, "resolve_callee: query exits 0")
        printed = printed_requests(q.stdout)
        heads = [h for h, _, _ in printed]
        tap.check(heads == ["web", "spans.servers (resolve_callee of spans)", "spans"] * 2,
                  "resolve_callee: the companion's request heads the flow's, live and baseline; no timeline", heads)
        tap.check("# timeline: nothing is sent: flow spans (resolve_callee) has no timeline" in q.stdout,
                  "and a note says why no timeline request is printed", q.stdout[-600:])
        r = run(["once", "-c", cfg, "--at", at])
        tap.check(r.returncode == 0, "resolve_callee: once exits 0", r.stderr)
        # Flows are collected on threads of their own (docs/ARCHITECTURE.md), a flow's companion, then
        # itself, then both again for the baseline: so the order is compared per flow, named by the
        # X-Opaque-Id each search carries (the flow's name, NAME.servers for the companion).
        sent, want = {}, {}
        for x in es.requests:
            body = json.loads(x["body"]) if x["path_only"].endswith("/_search") else None
            if body is None or "after" in body["aggs"]["edges"]["composite"]:
                continue
            opaque = x["headers"].get("X-Opaque-Id", "")
            sent.setdefault(opaque.removesuffix(".servers"), []).append((opaque, "POST " + x["path"], body))
        for head, request, body in printed:
            name = head.split(" ")[0]
            want.setdefault(name.removesuffix(".servers"), []).append((name, request, body))
        tap.check(sent == want and set(want) == {"spans", "web"},
                  "resolve_callee: the printed paths and bodies are those once sent, in its order, flow by flow",
                  "\n".join(f"sent {o} {p[:40]} {json.dumps(b)[:200]}" for v in sent.values() for o, p, b in v))
        companion = printed[1][2] if len(printed) > 1 else {}
        composite = companion.get("aggs", {}).get("edges", {}).get("composite", {})
        sources = [list(s)[0] for s in composite.get("sources", [])]
        tap.check(sources == ["from_service", "to_service", "to_service_join"],
                  "the companion reads the server's service and the address it was reached at", sources)
        es.clear_requests()
        t = run(["timeline", "-c", cfg, "--from", "2024-01-15T10:00:00Z", "--to", at])
        tap.check(t.returncode != 0 and "no timeline" in t.stderr
                  and not [x for x in es.requests if x["path_only"].endswith("/_search")],
                  "and a timeline sends no search, not even for the flow before it, as printed", t.stderr)


main()
