"""`vizfeed init --es URL` against a real OpenSearch 2.19.6 / Elasticsearch 8.19.21 (`./dev engine`,
issue 17 item 4): the Beats index, the Elastic Agent data streams and the OTel data streams of the
presets' graph cases loaded where the products write them (tests/engine/templates.json), init must

- propose one flow per recognised source with the documents its preset keeps, the same counts
  test_init.py works out by hand for the fake, and comment the index no preset reads;
- print a configuration that `vizfeed check` accepts and that draws the graph, with the
  OpenTelemetry services in it;
- give the same configuration (but the URL) and the same graph as against the fake
  (tests/es/fake_es.py) loaded with the same documents: _resolve/index, _field_caps and the
  counting searches answered alike where it matters to init.
"""
import json
import os
import sys
import tempfile

from enginelib import Engine, Recorder, skip_unless_runnable
from test_init import AT, by_hand, docs, load, proposed
from vizlib import TESTS, Tap, run, validate

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402

# (target, case, data stream?): where the products write the cases' documents
LOADS = [
    ("filebeat-8.5.0", "preset-nginx-access", True),  # Filebeat 8: a data stream of its own
    ("logs-nginx.access-default", "preset-nginx-access", True),
    ("metrics-apm.service_destination.1m-default", "preset-apm-service-destination", True),
    ("traces-generic.otel-default", "preset-otel-spans", True),
    ("metrics-service_destination.1m.otel-default", "preset-otel-service-destination", True),
    ("metrics-servicegraph.otel-default", "preset-otel-servicegraph", True),
]


def draw(text, tmp, name):
    cfg = os.path.join(tmp, name)
    with open(cfg, "w") as f:
        # The cases' data fill [10:30, 10:35): the window a user would set for them.
        f.write(text + "refresh: { window: 5m, lag: 0s }\n")
    chk = run(["check", "-c", cfg])
    once = run(["once", "-c", cfg, "--at", AT])
    return chk, once


def normalise(v):
    """What legitimately differs: took, shard counts, and the order of keys in a field caps map."""
    if isinstance(v, dict):
        return {k: normalise(x) for k, x in v.items() if k not in ("took", "_shards")}
    if isinstance(v, list):
        return [normalise(x) for x in v]
    return v


def fake_answers_alike(tap, eng, exchanges):
    """Every request init sent to the engine put to the fake holding the same documents under the
    same names, with the engine's mappings: the same answer (docs/TEST_ELASTICSEARCH.md lists what
    this comparison found)."""
    import urllib.error
    import urllib.request
    differ = []
    with FakeElasticsearch(flavor=eng.fake_flavor) as fake:
        for target, case, _ in LOADS:
            fake.load(target, docs(case), eng.mapping_types(target))
        fake.load("myapp-logs", [{"@timestamp": "2024-01-15T10:31:00Z", "message": "hello"}],
                  eng.mapping_types("myapp-logs"))
        for x in exchanges:
            req = urllib.request.Request(fake.url + x["path"], data=x["body"].encode() if x["body"] else None,
                                         method=x["method"], headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    status, body = resp.status, resp.read().decode()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read().decode()
            real, got = normalise(json.loads(x["answer"])), normalise(json.loads(body))
            if status != x["status"] or real != got:
                differ.append(f"{x['method']} {x['path']}\n  engine {x['status']} {json.dumps(real)[:900]}\n"
                              f"  fake   {status} {json.dumps(got)[:900]}")
    tap.check(exchanges and not differ, f"the fake answers init's {len(exchanges)} requests (_resolve/index, "
              f"_field_caps, counting searches) as the engine did ({len(differ)} differ)", "\n".join(differ[:6]))


def main():
    skip_unless_runnable()
    tap = Tap()
    want = by_hand()
    with tempfile.TemporaryDirectory() as tmp, Engine(nodes=1) as eng:
        tap.check(True, f"the engine ({eng.kind}) is up at {eng.url}")
        for target, case, ds in LOADS:
            eng.bulk(target, docs(case), data_stream=ds)
        eng.bulk("myapp-logs", [{"@timestamp": "2024-01-15T10:31:00Z", "message": "hello"}])
        rec = Recorder(eng.port)
        r = run(["init", "--es", rec.url, "--at", AT], timeout=120)
        rec.close()
        tap.check(r.returncode == 0, "init against the engine exits 0", r.stderr)
        got = proposed(r.stdout)
        tap.check(got == want, "one flow per recognised source with the documents its preset keeps "
                  "(last hour, all), as counted by hand", f"want {want}\ngot  {got}\n{r.stdout}")
        tap.check("# not mapped: index myapp-logs" in r.stdout and "not mapped: data stream" not in r.stdout
                  and ".ds-" not in r.stdout,
                  "the index no preset reads gets a comment; data streams, not their backing indices, are named",
                  r.stdout)
        paths = [x["path"] for x in rec.exchanges]
        tap.check(any(p.startswith("/_resolve/index/") for p in paths) and any("/_field_caps" in p for p in paths)
                  and all(x["status"] == 200 for x in rec.exchanges),
                  f"init asked _resolve/index and _field_caps and the engine answered all {len(paths)} requests",
                  "\n".join(f"{x['status']} {x['path']}" for x in rec.exchanges))
        text = r.stdout.replace(rec.url, eng.url)
        chk, once = draw(text, tmp, "engine.yml")
        tap.check(chk.returncode == 0, "vizfeed check accepts the configuration init proposed", chk.stderr)
        ok = once.returncode == 0
        graph = json.loads(once.stdout) if ok else {}
        names = {n["name"] for r_ in graph.get("nodes", []) for n in r_.get("nodes", []) or []}
        tap.check(ok and not validate(graph) and {"checkout", "payments:8080", "frontend", "postgres"} <= names,
                  "it draws the graph through the engine, the OpenTelemetry services in it",
                  f"{sorted(names)}\n{once.stderr}")

        fake_answers_alike(tap, eng, rec.exchanges)
        with FakeElasticsearch(flavor=eng.fake_flavor) as fake:
            load(fake)
            f = run(["init", "--es", fake.url, "--at", AT], timeout=120)
            ftext = f.stdout.replace(fake.url, eng.url)
            # test_init loads nginx into filebeat-8.5.0-2022.12.09 (an index); here Filebeat 8's data stream
            ftext = ftext.replace("filebeat-8.5.0-2022.12.09", "filebeat-8.5.0")
            tap.check(f.returncode == 0 and proposed(f.stdout) == got,
                      "the fake with the same documents gets the same proposals", f.stdout + f.stderr)
            tap.check(ftext == text, "and prints the same configuration (but the URL)",
                      f"engine:\n{text}\nfake:\n{ftext}")
            _, fonce = draw(ftext, tmp, "fake.yml")
            tap.check(fonce.returncode == 0 and fonce.stdout == once.stdout,
                      "the fake's configuration, pointed at the engine, draws the same graph bytes",
                      fonce.stdout[:300] + fonce.stderr)
    tap.done()


main()
