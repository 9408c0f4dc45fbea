"""--record stores every request and answer; a replay flow answers from
them and gives the same graph as the live flow; no credential is recorded."""
import glob
import json
import os
import tempfile

from esdata import AT, INDEX, FakeElasticsearch, config, events, ndjson_docs
from vizlib import TESTS, Tap, run

OTEL_AT = "2024-01-15T10:35:00Z"
OTEL = """refresh: {{ window: 5m, lag: 0s }}
graph: {{ thresholds: {{ min_rate: 0.001 }} }}
{es}flows:
  - {{ name: spans, {flow}, preset: otel-spans }}
"""


def resolved(tap, tmp):
    """otel-spans resolves callees through a second query (resolve_callee): --record keeps its pages
    in ROOT/spans.servers beside ROOT/spans, and a replay of ROOT/spans reads them from there."""
    docs = ndjson_docs(os.path.join(TESTS, "cases", "preset-otel-spans", "events.ndjson"))
    rec = os.path.join(tmp, "otel-rec")
    with FakeElasticsearch() as es:
        es.load("traces-generic.otel-default", docs, {"@timestamp": "date", "duration": "long"})
        live = os.path.join(tmp, "otel-live.yml")
        with open(live, "w") as f:
            f.write(OTEL.format(es=f"elasticsearch: {{ hosts: [{es.url}] }}\n", flow="type: elasticsearch"))
        a = run(["once", "-c", live, "--at", OTEL_AT, "--record", rec])
    tap.check(a.returncode == 0 and sorted(os.listdir(rec)) == ["spans", "spans.servers"],
              "resolve_callee: the companion query is recorded beside its flow", a.stderr + str(os.listdir(rec)))
    replay = os.path.join(tmp, "otel-replay.yml")
    with open(replay, "w") as f:
        f.write(OTEL.format(es="", flow=f"type: replay, path: {json.dumps(os.path.join(rec, 'spans'))}"))
    b = run(["once", "-c", replay, "--at", OTEL_AT])
    tap.check(b.returncode == 0 and a.stdout == b.stdout and '"target":"inventory"' in b.stdout,
              "resolve_callee: the replay gives the live graph, callees resolved, byte for byte", b.stderr)


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        rec = os.path.join(tmp, "rec")
        with FakeElasticsearch(user="elastic", password="rec-secret") as es:
            es.load(INDEX, events())
            live = config(os.path.join(tmp, "live.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                          es=f"elasticsearch:\n  hosts: [{es.url}]\n  page_size: 7\n  username: elastic\n"
                             f"  password: rec-secret")
            a = run(["once", "-c", live, "--at", AT, "--record", rec])
            tap.check(a.returncode == 0, "a live refresh with --record", a.stderr)
            sent = len([r for r in es.requests if r["path_only"].endswith("/_search")])
        files = sorted(glob.glob(os.path.join(rec, "**", "*"), recursive=True))
        requests = [f for f in files if f.endswith(".request.json")]
        tap.equal(len(requests), sent, "one recorded request per request sent")
        tap.check(all(os.path.exists(f.replace(".request.json", ".response.json")) for f in requests),
                  "every request has its answer")
        blob = b"".join(open(f, "rb").read() for f in files if os.path.isfile(f))
        tap.check(b"rec-secret" not in blob and b"Authorization" not in blob, "no credential is recorded")
        if requests:
            req = json.load(open(requests[0]))
            tap.check(req.get("method") == "POST" and "/_search" in req.get("path", "") and isinstance(req.get("body"), dict),
                      "a recorded request has method, path and body", req)
        flow_dir = os.path.dirname(os.path.dirname(requests[0])) if requests else rec
        replay = config(os.path.join(tmp, "replay.yml"), f"type: replay\n    path: {flow_dir}")
        b = run(["once", "-c", replay, "--at", AT])
        tap.check(b.returncode == 0, "the replay flow answers", b.stderr)
        tap.check(a.stdout == b.stdout and a.stdout, "replay gives the live graph byte for byte")
        missing = config(os.path.join(tmp, "missing.yml"), f"type: replay\n    path: {tmp}/nowhere")
        c = run(["once", "-c", missing, "--at", AT])
        # A configuration error (README: exit codes): 2, not just "not 0" (a crash is not 0 either).
        tap.check(c.returncode == 2 and "nowhere" in c.stderr, "a missing recording is a clear error (exit 2)",
                  f"exit {c.returncode}: {c.stderr}")
        resolved(tap, tmp)
    tap.done()


main()
