"""vizfeed against a real OpenSearch 2.19.6 (`./dev engine`, tests/engine/), started once for
this script: real ECS index templates, data streams with .ds- backing indices, aliases, the
engine's own ordering of composite keys and nulls, its own errors and limits.

- every graph case that has an elasticsearch variant and every preset: the events loaded into
  the data stream or index the real product writes, the graph byte-identical to the file flow's
  at page_size 2 (several pages);
- nulls: events missing the caller, the callee, the region, at page size 1;
- an index pattern matching nothing, a closed index, a missing index: an empty graph, exit 0;
- a `text` field as an endpoint: one configuration error naming the flow and field and
  suggesting `.keyword`; the daemon does not retry it in a loop;
- search.max_buckets set low: the page size is lowered and the graph is complete;
- `vizfeed query`'s request pasted to the engine counts what the graph counts;
- the fake (tests/es/fake_es.py), given the same documents and mappings, answers every search
  this script sent with the engine's answer, once took, shard counts and node names are
  normalised (docs/TEST_ELASTICSEARCH.md lists what it took to get there).
"""
import json
import os
import re
import sys
import tempfile
import time

from enginelib import Engine, Recorder, skip_unless_runnable
from esdata import AT, FakeElasticsearch, case_es_config, config, events, ndjson_docs, run_printed_query, write_ndjson
from vizlib import TESTS, Daemon, Tap, run, validate

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import LoadError  # noqa: E402

CASES = os.path.join(TESTS, "cases")

# Where each case's events live on a real cluster: (target, index pattern of the flow, data stream?)
TARGETS = {
    "preset-nginx-access": ("logs-nginx.access-default", "logs-nginx.access-*", True),
    "preset-apache-access": ("logs-apache.access-default", "logs-apache.access-*", True),
    "preset-packetbeat-http": ("logs-network_traffic.http-default", "logs-network_traffic.http-*", True),
    "preset-packetbeat-flow": ("logs-network_traffic.flow-default", "logs-network_traffic.flow-*", True),
    "preset-apm-service-destination": ("metrics-apm.service_destination.1m-default",
                                       "metrics-apm.service_destination*", True),
    "preset-apm-transaction": ("traces-apm-default", "traces-apm*", True),
    "preset-heartbeat": ("heartbeat-8.11.0", "heartbeat-*", True),
    # OTel-native data streams as the collector's Elasticsearch exporter (mapping mode otel) and
    # EDOT's elasticapm connector write them; the flows use the presets' own index patterns
    "preset-otel-spans": ("traces-generic.otel-default", "traces-*.otel-*", True),
    "preset-otel-service-destination": ("metrics-service_destination.1m.otel-default",
                                        "metrics-service_destination.1m.otel-*", True),
    "preset-otel-servicegraph": ("metrics-servicegraph.otel-default", "metrics-*.otel-*", True),
    # a rollover index behind its write alias, the flow naming the alias
    "basic": ("case-basic", "case-basic", False),
}


# Every exchange of the scenarios below, for the comparison with the fake:
# (label, recorder exchange, {target: docs}, index patterns to take mappings from)
EXCHANGES = []


def es_variant(text, pattern, url, page_size):
    out = case_es_config(text, url, pattern, page_size)
    assert out is not None, "the case's config has one path per file flow"
    return out


def graph_cases(tap, eng, tmp):
    cases = sorted(c for c in os.listdir(CASES)
                   if json.load(open(os.path.join(CASES, c, "case.json"))).get("elasticsearch"))
    tap.check(set(cases) == set(TARGETS), "every case with an elasticsearch variant has a place on the engine",
              f"cases {cases}, placed {sorted(TARGETS)}")
    eng.ok("PUT", "/case-basic-000001", {"aliases": {"case-basic": {"is_write_index": True}}})
    paged = 0
    for name in cases:
        target, pattern, ds = TARGETS.get(name, (None, None, None))
        if not target:
            continue
        d = os.path.join(CASES, name)
        case = json.load(open(os.path.join(d, "case.json")))
        docs = ndjson_docs(os.path.join(d, "events.ndjson"))
        try:
            eng.bulk(target, docs, data_stream=ds)
        except Exception as e:
            tap.check(False, f"{name}: the engine takes every event of the case", str(e))
            continue
        cfg = os.path.join(tmp, f"{name}.yml")
        with open(os.path.join(d, "config.yml")) as f:
            text = f.read()
        rec = Recorder(eng.port)
        try:
            with open(cfg, "w") as f:
                f.write(es_variant(text, pattern, rec.url, 2))
            a = run(["once", "-c", "config.yml", "--at", case["at"]], cwd=d)
            b = run(["once", "-c", cfg, "--at", case["at"]], cwd=d)
        finally:
            rec.close()
        searches = rec.searches()
        paged += len(searches) > 2
        for e in searches:
            EXCHANGES.append((name, e, {target: docs}, target))
        tap.check(a.returncode == 0 and b.returncode == 0 and a.stdout,
                  f"{name}: file and engine flows answer ({len(searches)} searches of {pattern})",
                  a.stderr + b.stderr)
        if name in NO_HISTOGRAM:
            # no histogram field type on these engines: the service-graph latency is not there, the rest is
            want = a.stdout
            try:
                want = json.dumps(without_latency(json.loads(a.stdout)), separators=(",", ":"))
                got = json.dumps(json.loads(b.stdout), separators=(",", ":"))
            except ValueError:
                got = b.stdout
            tap.check("latency_ms" in a.stdout and "latency_ms" not in b.stdout and want == got,
                      f"{name}: without a histogram field type, the file flow's graph but for its latency",
                      first_difference(want, got))
            continue
        tap.check(a.stdout == b.stdout, f"{name}: byte-identical graphs through a file and the real engine",
                  first_difference(a.stdout, b.stdout))
        if name.startswith("preset-otel-"):
            # one bucket a page: every edge and outcome on a page of its own, latency merged across them
            rec = Recorder(eng.port)
            try:
                with open(cfg, "w") as f:
                    f.write(es_variant(text, pattern, rec.url, 1))
                c = run(["once", "-c", cfg, "--at", case["at"]], cwd=d)
            finally:
                rec.close()
            n = len(rec.searches())
            tap.check(c.returncode == 0 and c.stdout == a.stdout and n >= 3,
                      f"{name}: the same bytes, latency included, at page size 1 ({n} pages)",
                      c.stderr + first_difference(a.stdout, c.stdout))
    tap.check(paged >= 3, f"{paged} cases took several composite pages at page_size 2")
    # (through a search: Elasticsearch's GET _data_stream is in x-pack, which is not on Maven Central)
    hits = eng.ok("POST", "/logs-nginx.access-default/_search", {"size": 100})["hits"]["hits"]
    backing = sorted({h["_index"] for h in hits})
    tap.check(backing and all(b.startswith(".ds-logs-nginx.access-default-") for b in backing),
              "events went to a data stream with .ds- backing indices", backing)
    aliases = eng.ok("GET", "/_alias/case-basic")
    tap.check(list(aliases) == ["case-basic-000001"], "the basic case was read through its write alias", aliases)
    otel_attributes(tap, eng)


def otel_attributes(tap, eng):
    """The OTel attribute maps as each engine holds them: passthrough objects on Elasticsearch
    (the short name service.name answers too, as in Elasticsearch's own templates), plain objects on
    OpenSearch (only the full path answers); the presets name the full path, which both answer."""
    m = eng.ok("GET", "/traces-generic.otel-default/_mapping")
    props = next(iter(m.values()))["mappings"]["properties"]
    kinds = (props["attributes"].get("type", "object"), props["resource"]["properties"]["attributes"].get("type", "object"))
    want = ("object", "object") if eng.kind == "opensearch" else ("passthrough", "passthrough")
    tap.check(kinds == want, f"{eng.kind}: attributes and resource.attributes are {want[0]} objects", kinds)

    def services(field):
        a = eng.ok("POST", "/traces-*.otel-*/_search", {"size": 0, "aggs": {"s": {"terms": {"field": field}}}})
        return sorted(b["key"] for b in a["aggregations"]["s"]["buckets"])
    full, short = services("resource.attributes.service.name"), services("service.name")
    tap.check(full and (short == full if eng.kind != "opensearch" else short == []),
              f"{eng.kind}: the full path names {full}; the short name service.name "
              f"{'answers the same (passthrough)' if eng.kind != 'opensearch' else 'answers nothing'}",
              f"short {short}")


# Cases whose latency is a histogram field: OpenSearch has no such type, and Elasticsearch's is in
# its x-pack analytics plugin, which is not on Maven Central (the engines here are built from it);
# the fake reads it as Elasticsearch documents it (docs/PRESETS.md)
NO_HISTOGRAM = {"preset-otel-servicegraph"}


def without_latency(v):
    if isinstance(v, dict):
        return {k: without_latency(x) for k, x in v.items() if k != "latency_ms"}
    if isinstance(v, list):
        return [without_latency(x) for x in v]
    return v


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"at byte {i}: file ...{a[max(0, i - 80):i + 80]!r}\nengine ...{b[max(0, i - 80):i + 80]!r}"
    return f"lengths {len(a)} and {len(b)}"


NULLS_FLOW = """
refresh: {{ interval: 10s, window: 2m, lag: 0s }}
graph: {{ thresholds: {{ warning: 0.05, danger: 0.2, min_rate: 0.001 }} }}
flows:
  - name: nulls
    {source}
    preset: nginx-access
"""


def null_events():
    """Every combination of a missing caller (source.ip), callee (host.name) and region, with
    values on both sides of them in the sort order, so that pages end right at the nulls."""
    out = []
    for i in range(48):
        d = {"@timestamp": f"2026-01-01T00:01:{i % 60:02d}.000Z", "event": {"dataset": "nginx.access"},
             "http": {"response": {"status_code": 500 if i % 5 == 0 else 200}}}
        if i % 2:
            d["source"] = {"ip": ["10.0.0.1", "203.0.113.5", "::1", "10.0.0.10"][i % 4]}
        if i % 3:
            d["host"] = {"name": ["a", "Z", "m-1"][i % 3]}
        if i % 4 > 1:
            d["cloud"] = {"region": ["eu", "us"][i % 2]}
        out.append(d)
    return out


def nulls_and_missing(tap, eng, tmp):
    docs = null_events()
    eng.bulk("logs-nginx.access-nulls", docs, data_stream=True)
    f = os.path.join(tmp, "nulls.yml")
    with open(f, "w") as fh:
        fh.write(NULLS_FLOW.format(source=f"type: file\n    path: {write_ndjson(os.path.join(tmp, 'n.ndjson'), docs)}"))
    rec = Recorder(eng.port)
    e = os.path.join(tmp, "nulls-es.yml")
    with open(e, "w") as fh:
        fh.write(NULLS_FLOW.format(source='type: elasticsearch\n    index: "logs-nginx.access-nulls"')
                 + f"elasticsearch: {{ hosts: [{rec.url}], page_size: 1 }}\n")
    a = run(["once", "-c", f, "--at", AT])
    b = run(["once", "-c", e, "--at", AT])
    rec.close()
    for x in rec.searches():
        EXCHANGES.append(("nulls", x, {"logs-nginx.access-nulls": docs}, "logs-nginx.access-nulls"))
    tap.check(a.returncode == 0 and b.returncode == 0, "nulls: both flows answer", a.stderr + b.stderr)
    tap.check(a.stdout == b.stdout, f"nulls: missing callers, callees and regions give the file flow's graph "
              f"at page size 1 ({len(rec.searches())} pages)", first_difference(a.stdout, b.stdout))
    keys = [json.loads(x["answer"]).get("aggregations", {}).get("edges", {}).get("buckets", [{}]) for x in
            rec.searches()]
    firsts = [k[0]["key"] for k in keys if k]
    tap.check(firsts and all(v is None for v in firsts[0].values()),
              "the engine sorts the null key first (missing_bucket)", firsts[:2])

    # An index pattern that matches nothing, a closed index, a missing one: an empty graph.
    eng.ok("PUT", "/closed-logs-1", {})
    eng.bulk("closed-logs-1", docs[:5])
    eng.ok("POST", "/closed-logs-1/_close")
    empty = os.path.join(tmp, "empty.ndjson")
    open(empty, "w").close()
    with open(f, "w") as fh:
        fh.write(NULLS_FLOW.format(source=f"type: file\n    path: {empty}"))
    want = run(["once", "-c", f, "--at", AT])
    for what, pattern in (("an index pattern matching nothing", "nomatch-*"), ("a closed index", "closed-logs-1"),
                          ("a pattern matching only a closed index", "closed-*"),
                          ("a missing index", "missing-index")):
        rec = Recorder(eng.port)
        with open(e, "w") as fh:
            fh.write(NULLS_FLOW.format(source=f'type: elasticsearch\n    index: "{pattern}"')
                     + f"elasticsearch: {{ hosts: [{rec.url}] }}\n")
        r = run(["once", "-c", e, "--at", AT])
        rec.close()
        for x in rec.searches():
            EXCHANGES.append((what, x, {}, None))
        tap.check(r.returncode == 0 and r.stdout == want.stdout and not r.stderr,
                  f"{what}: exit 0, the empty graph, nothing said", r.stderr + r.stdout[:300])


def text_field(tap, eng, tmp):
    # No template matches legacy-*: the engine maps strings as text with a .keyword sub-field.
    docs = [dict(d, **{"event": {"dataset": "nginx.access"}}) for d in events()[:30]]
    eng.bulk("legacy-2026.01.01", docs)
    m = eng.mapping_types("legacy-2026.01.01")
    tap.check(m.get("host.name") == "text" and m.get("host.name.keyword") == "keyword",
              "the engine's own mapping: host.name text, host.name.keyword keyword", m.get("host.name"))
    cfg = config(os.path.join(tmp, "legacy.yml"), 'type: elasticsearch\n    index: "legacy-*"',
                 es=f"elasticsearch: {{ hosts: [{eng.url}] }}", interval="1s")
    r = run(["once", "-c", cfg, "--at", AT])
    lines = r.stderr.strip().split("\n")
    tap.check(r.returncode != 0 and len(lines) == 1, "a text field as endpoint: one error line", r.stderr)
    # The engine names the first text field the query meets: source.ip (a term source) here.
    field = re.search(r"field '([^']+)' is of type text", r.stderr)
    tap.check(field and field.group(1) in ("source.ip", "host.name", "cloud.region", "event.dataset")
              and "flow 'access'" in r.stderr and f"{field.group(1)}.keyword" in r.stderr
              and "configuration" in r.stderr, "it names the flow and the field and suggests FIELD.keyword",
              r.stderr)
    rec = Recorder(eng.port)
    cfg = config(os.path.join(tmp, "legacy.yml"), 'type: elasticsearch\n    index: "legacy-*"',
                 es=f"elasticsearch: {{ hosts: [{rec.url}] }}", interval="1s")
    with Daemon(["-c", cfg]) as d:
        d.wait_for(lambda: ".keyword'" in d.log(), timeout=30, what="the configuration error")
        time.sleep(8)  # eight refresh intervals
        log = d.log()
    rec.close()
    said = [line for line in log.split("\n") if ".keyword'" in line]
    n = len(rec.searches())
    # said when it fails and once more when the back-off (about a minute) starts
    tap.check(1 <= len(said) <= 2 and n == 1, f"the daemon says it and does not retry in a loop "
              f"({len(said)} lines, {n} search in 8 s at a 1 s interval)", log[-1500:])
    for x in rec.searches()[:1]:
        EXCHANGES.append(("text field", x, {"legacy-2026.01.01": docs}, "legacy-2026.01.01"))
    # With the .keyword sub-fields the same index gives the file flow's graph.
    kw = config(os.path.join(tmp, "legacy-kw.yml"),
                'type: elasticsearch\n    index: "legacy-*"\n    from: { service: source.ip.keyword }\n'
                '    to: { service: host.name.keyword, region: cloud.region.keyword, host: host.name.keyword }\n'
                '    where: [ { field: event.dataset.keyword, equals: nginx.access } ]',
                es=f"elasticsearch: {{ hosts: [{eng.url}], page_size: 3 }}")
    fl = config(os.path.join(tmp, "legacy-file.yml"),
                f"type: file\n    path: {write_ndjson(os.path.join(tmp, 'legacy.ndjson'), docs)}")
    a, b = run(["once", "-c", fl, "--at", AT]), run(["once", "-c", kw, "--at", AT])
    tap.check(b.returncode == 0 and a.stdout == b.stdout,
              "with the .keyword sub-fields the graph is the file flow's", b.stderr + first_difference(a.stdout,
                                                                                                       b.stdout))


def filebeat_7(eng):
    """esdata's fleet as Filebeat 7 writes it with ILM: a rollover index behind a write alias."""
    docs = events()
    eng.ok("PUT", "/filebeat-7.17.0-2026.01.01-000001", {"aliases": {"filebeat-7.17.0": {"is_write_index": True}}})
    eng.bulk("filebeat-7.17.0", docs)
    return docs


def max_buckets_and_query(tap, eng, tmp, docs):
    file_cfg = config(os.path.join(tmp, "fb-file.yml"),
                      f"type: file\n    path: {write_ndjson(os.path.join(tmp, 'fb.ndjson'), docs)}")
    want = run(["once", "-c", file_cfg, "--at", AT])
    rec = Recorder(eng.port)
    es_cfg = config(os.path.join(tmp, "fb-es.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                    es=f"elasticsearch: {{ hosts: [{rec.url}], page_size: 4 }}")
    b = run(["once", "-c", es_cfg, "--at", AT])
    tap.check(b.returncode == 0 and b.stdout == want.stdout and not validate(json.loads(b.stdout), 0.05, 0.2, 0.01),
              f"Filebeat 7 indices behind an alias: the file flow's graph ({len(rec.searches())} pages of 4)",
              b.stderr + first_difference(want.stdout, b.stdout))
    for x in rec.searches():
        EXCHANGES.append(("filebeat-7", x, {"filebeat-7.17.0-2026.01.01-000001": docs}, "filebeat-*"))
    rec.close()

    eng.ok("PUT", "/_cluster/settings", {"persistent": {"search.max_buckets": 30}})
    try:
        rec = Recorder(eng.port)
        es_cfg = config(os.path.join(tmp, "fb-es.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                        es=f"elasticsearch: {{ hosts: [{rec.url}], page_size: 1000 }}")
        b = run(["once", "-c", es_cfg, "--at", AT])
        rec.close()
        statuses = [x["status"] for x in rec.searches()]
        refused = [json.loads(x["answer"])["error"]["root_cause"][0]["type"] for x in rec.searches()
                   if x["status"] != 200]
        tap.check(statuses and statuses[0] != 200 and refused[:1] == ["too_many_buckets_exception"],
                  f"search.max_buckets 30: the engine refuses the first page ({statuses[:1]} {refused[:1]})")
        tap.check(b.returncode == 0 and b.stdout == want.stdout,
                  f"the page size is lowered and the graph is complete ({len(statuses)} requests)",
                  b.stderr + first_difference(want.stdout, b.stdout))
        for x in rec.searches():
            EXCHANGES.append(("max_buckets 30", x, {"filebeat-7.17.0-2026.01.01-000001": docs}, "filebeat-*",
                              30))
    finally:
        eng.ok("PUT", "/_cluster/settings", {"persistent": {"search.max_buckets": None}})

    cfg = config(os.path.join(tmp, "q.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                 es=f"elasticsearch: {{ hosts: [{eng.url}] }}")
    q = run(["query", "-c", cfg, "--at", AT])
    tap.check(q.returncode == 0 and q.stdout.startswith("# flow access\nPOST /"), "vizfeed query prints the request",
              q.stdout[:200] + q.stderr)
    total = run_printed_query(eng.url, q.stdout)
    expected = sum(1 for d in docs if d["event"]["dataset"] == "nginx.access"
                   and "2026-01-01T00:00:00" <= d["@timestamp"] < "2026-01-01T00:02:00")
    tap.equal(total, expected, "the printed request, pasted to the engine, counts the window's events")
    graph = json.loads(run(["once", "-c", cfg, "--at", AT]).stdout)
    counted = graph.get("metadata", {}).get("dropped", 0)
    for reg in graph["nodes"][1:]:
        standins = {n["name"] for n in reg.get("nodes", []) if n.get("metadata", {}).get("region") is True}
        for c in reg.get("connections", []):
            if c["source"] not in standins:
                counted += sum(c.get("metadata", {}).get(k, 0) for k in ("normal", "warning", "danger"))
        for n in reg.get("nodes", []):
            counted += n.get("metadata", {}).get("self_call_rate", 0) * 120
    tap.check(abs(counted - total) < 1e-6, f"the graph accounts for the same events ({counted} of {total})")


NORMALISE = {"took"}


def normalise(v, path=""):
    """What legitimately differs between two engines: took, shard counts and failures' node ids."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k in NORMALISE or (path.endswith("_shards") and k in ("total", "successful", "skipped", "failed")):
                continue
            if k == "node" and isinstance(x, str):
                continue
            out[k] = normalise(x, path + "." + k)
        return out
    if isinstance(v, list):
        return [normalise(x, path) for x in v]
    return v


def timeline(tap, eng, tmp):
    """`vizfeed timeline` (issue 15): the crafted events of test_timeline.py in an index of the
    engine give the file flow's bytes and the independent count, through the engine's own
    composite date_histogram source; its pages go to fake_agrees like every search here."""
    import test_timeline as tl
    docs = tl.crafted_events()
    eng.ok("PUT", "/timeline-1", {"mappings": {"properties": {
        "@timestamp": {"type": "date"}, "svc": {"type": "keyword"}, "region": {"type": "keyword"},
        "client": {"type": "keyword"}, "status": {"type": "long"}}}})
    eng.bulk("timeline-1", docs)
    path = write_ndjson(os.path.join(tmp, "timeline.ndjson"), docs)
    f = os.path.join(tmp, "timeline-file.yml")
    with open(f, "w") as fh:
        fh.write(tl.CONFIG.format(es="", source=f"type: file\n    path: {path}"))
    rec = Recorder(eng.port)
    e = os.path.join(tmp, "timeline-es.yml")
    with open(e, "w") as fh:
        fh.write(tl.CONFIG.format(es=f"elasticsearch: {{ hosts: [{rec.url}], page_size: 40 }}",
                                  source='type: elasticsearch\n    index: "timeline-*"'))
    rng = ["--from", tl.iso(tl.FROM_MS), "--to", tl.iso(tl.FROM_MS + tl.POINTS * tl.STEP_MS), "--step", "5m"]
    a = run(["timeline", "-c", f] + rng)
    b = run(["timeline", "-c", e] + rng)
    rec.close()
    for x in rec.searches():
        EXCHANGES.append(("timeline", x, {"timeline-1": docs}, "timeline-1"))
    tap.check(a.returncode == 0 and b.returncode == 0, "timeline: both flows answer", a.stderr + b.stderr)
    tap.check(a.stdout == b.stdout and a.stdout, f"timeline: the engine gives the file flow's bytes "
              f"({len(rec.searches())} pages of 40)", first_difference(a.stdout, b.stdout))
    if b.returncode == 0:
        tl.compare(tap, json.loads(b.stdout), docs, None, "timeline through the engine")


def past_and_baseline(tap, eng, tmp):
    """Issue 15 on a real engine: the crafted week-apart data set of test_baseline.py gives the file
    flow's bytes through the engine, surge, drop, new and gone marks included (`once --at` collects
    the window and its baseline window), and a daemon's GET /vizceral.json?at=T answers exactly
    those bytes, computed by a history worker."""
    data = os.path.join(TESTS, "data", "baseline")
    at = "2026-01-08T00:10:00Z"
    docs = ndjson_docs(os.path.join(data, "events.ndjson"))
    eng.ok("PUT", "/baseline-1", {"mappings": {"properties": {
        "@timestamp": {"type": "date"}, "src": {"type": "keyword"}, "dst": {"type": "keyword"},
        "region": {"type": "keyword"}, "n": {"type": "long"}, "status": {"type": "long"}}}})
    eng.bulk("baseline-1", docs)
    text = open(os.path.join(data, "config.yml")).read()
    a = run(["once", "-c", os.path.join(data, "config.yml"), "--at", at], cwd=data)
    e = os.path.join(tmp, "baseline-es.yml")
    with open(e, "w") as fh:
        fh.write(case_es_config(text, eng.url, pattern="baseline-*", page_size=3))
    b = run(["once", "-c", e, "--at", at])
    tap.check(a.returncode == 0 and b.returncode == 0, "baseline: both flows answer", a.stderr + b.stderr)
    tap.check(a.stdout == b.stdout and '"change":"gone"' in b.stdout and '"change":"new"' in b.stdout
              and '"change":"surge"' in b.stdout and '"change":"drop"' in b.stdout,
              "baseline: the engine gives the file flow's bytes, with its new, gone, surge and drop marks",
              first_difference(a.stdout, b.stdout))
    with Daemon(["-c", e]) as d:
        status, headers, body = d.request("GET", "/vizceral.json?at=" + at)
        for _ in range(60):  # a 503 would say the history workers are busy: ask again
            if status != 503:
                break
            time.sleep(1)
            status, headers, body = d.request("GET", "/vizceral.json?at=" + at)
    # `once` ends its output with a newline; the HTTP body is the graph alone.
    tap.check(status == 200 and body.decode() + "\n" == b.stdout,
              "?at=T through the engine: the bytes of once --at T",
              (status, first_difference(b.stdout, body.decode() + "\n")))


def fake_agrees(tap, eng):
    """Every search above put to the fake loaded with the same documents and the engine's own
    mappings: the same answer, normalised."""
    differ = []
    for entry in EXCHANGES:
        label, x, loads, pattern = entry[:4]
        max_buckets = entry[4] if len(entry) > 4 else None
        with FakeElasticsearch(flavor=eng.fake_flavor) as fake:
            if max_buckets:
                fake.max_buckets = max_buckets
            mappings = eng.mapping_types(pattern) if pattern else {}
            try:
                for target, docs in loads.items():
                    fake.load(target, docs, mappings)
            except LoadError as e:
                differ.append(f"{label}: the fake refuses a document the engine took: {e}")
                continue
            import urllib.request
            req = urllib.request.Request(fake.url + x["path"], data=x["body"].encode(), method=x["method"],
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    status, body = resp.status, resp.read().decode()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read().decode()
        real = normalise(json.loads(x["answer"]))
        got = normalise(json.loads(body)) if body.strip().startswith("{") else body
        if status != x["status"] or real != got:
            a, b = json.dumps(real), json.dumps(got)
            i = next((i for i, (p, q) in enumerate(zip(a, b)) if p != q), min(len(a), len(b)))
            differ.append(f"{label}: {x['method']} {x['path']}\n  engine {x['status']} ...{a[max(0, i - 200):i + 300]}\n"
                          f"  fake   {status} ...{b[max(0, i - 200):i + 300]}")
    tap.check(EXCHANGES and not differ, f"the fake answers the {len(EXCHANGES)} searches as the engine did "
              f"({len(differ)} differ)", "\n".join(differ[:8]))


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    return type(v).__name__


def root_agrees(tap, eng):
    if eng.kind != "opensearch":
        # Elastic does not publish the rest-root module (GET /) on Maven Central.
        status, _ = eng.request("GET", "/")
        tap.check(status == 405, f"GET /: {eng.kind} without rest-root answers 405 (not compared)")
        return
    _root_agrees(tap, eng)


def _root_agrees(tap, eng):
    """GET /, which vizfeed asks once to tell the product: the fake's opensearch2 answer has the
    engine's keys and types, the same distribution and tagline, and no X-Elastic-Product."""
    import urllib.request
    answers = []
    for url in (eng.url, None):
        if url is None:
            fake = FakeElasticsearch(flavor=eng.fake_flavor)
            fake.start()
            url = fake.url
        with urllib.request.urlopen(url + "/", timeout=30) as resp:
            answers.append((json.load(resp), resp.headers.get("X-Elastic-Product")))
        if url != eng.url:
            fake.stop()
    (real, real_product), (got, got_product) = answers
    tap.check(shape(real) == shape(got) and real["version"]["distribution"] == got["version"]["distribution"]
              and real["tagline"] == got["tagline"] and real_product is None and got_product is None,
              f"GET /: the fake's opensearch2 answer has the engine's shape (engine {real['version']['number']}, "
              f"fake {got['version']['number']})", f"engine {json.dumps(real)}\nfake {json.dumps(got)}")


def main():
    skip_unless_runnable()
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp, Engine(nodes=1) as eng:
        tap.check(True, f"the engine ({eng.kind}) is up at {eng.url}")
        tap.run(graph_cases, eng, tmp)
        tap.run(nulls_and_missing, eng, tmp)
        tap.run(text_field, eng, tmp)
        docs = filebeat_7(eng)
        tap.run(max_buckets_and_query, eng, tmp, docs)
        tap.run(timeline, eng, tmp)
        tap.run(past_and_baseline, eng, tmp)
        tap.run(fake_agrees, eng)
        tap.run(root_agrees, eng)
    tap.done()


main()
