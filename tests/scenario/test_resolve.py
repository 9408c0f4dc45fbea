"""resolve_callee (otel-spans): a callee named by an address becomes the service whose Server spans
of the same window were reached at that address (src/source_resolve.c).

- the choice does not depend on the order of the documents: the most Server spans win, ties go to
  the bytewise smaller service name, through a file and through the test Elasticsearch alike (same
  bytes), the documents once in one order and once reversed;
- `resolve_callee: null` turns it off: the addresses are drawn as they are;
- at most RESOLVE_MAX_PAIRS (src/bounds.h) address/service pairs are learned per refresh: the rest
  stay unresolved and the region says the data are partial, with how many were left out.
"""
import json
import os
import sys
import tempfile

from vizlib import TESTS, Tap, run, validate

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402

AT = "2024-01-15T10:35:00Z"
MAX_PAIRS = 100000  # RESOLVE_MAX_PAIRS


def span(kind, service, ts="2024-01-15T10:31:00Z", address=None, port=None, target=None):
    a = {}
    if address is not None:
        a["server.address"] = address
    if port is not None:
        a["server.port"] = port
    if target is not None:
        a["service.target.name"] = target
    return {"@timestamp": ts, "kind": kind, "duration": 1000000, "attributes": a,
            "resource": {"attributes": {"service.name": service}}}


def documents():
    return ([span("Client", "web", address="api.internal", port=443),   # api.internal:443
             span("Client", "web", target="db:5432"),                     # an enriched callee resolves too
             span("Client", "web", address="tie", port=1),
             span("Client", "web", address="nobody", port=80)]           # no Server span: kept
            + [span("Server", "api", address="api.internal", port=443)] * 3
            + [span("SERVER", "api-canary", address="api.internal", port=443)] * 2
            + [span("Server", "postgres", address="db", port=5432)]
            + [span("Server", "zeta", address="tie", port=1), span("Server", "alpha", address="tie", port=1)]
            + [span("Server", "late", address="nobody", port=80, ts="2024-01-15T10:36:00Z")])


def targets(out):
    g = json.loads(out)
    return sorted((c["source"], c["target"]) for r in g["nodes"] for c in r.get("connections") or []), g


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


HEAD = "refresh: { window: 5m, lag: 0s }\ngraph: { thresholds: { min_rate: 0.0001 } }\n"


def main():
    tap = Tap()
    want = sorted([("web", "api"), ("web", "postgres"), ("web", "alpha"), ("web", "nobody:80")])
    with tempfile.TemporaryDirectory(prefix="vizfeed-resolve-") as tmp:
        outs = []
        for name, docs in (("forward", documents()), ("reversed", documents()[::-1])):
            path = write(os.path.join(tmp, f"{name}.ndjson"), "".join(json.dumps(d) + "\n" for d in docs))
            cfg = write(os.path.join(tmp, f"{name}.yml"),
                        HEAD + f"flows:\n  - {{ name: spans, type: file, path: {json.dumps(path)}, preset: otel-spans }}\n")
            r = run(["once", "-c", cfg, "--at", AT])
            got, g = targets(r.stdout) if r.returncode == 0 else ([], {})
            tap.check(got == want and not validate(g),
                      f"file, {name}: most Server spans win, ties to the smaller name, an address nobody serves "
                      "stays", f"{got}\n{r.stderr}")
            outs.append(r.stdout)
            with FakeElasticsearch() as es:
                es.load("traces-generic.otel-default", docs, {"@timestamp": "date", "duration": "long"})
                cfg = write(os.path.join(tmp, f"{name}-es.yml"),
                            HEAD + f"elasticsearch: {{ hosts: [{es.url}], page_size: 1 }}\n"
                            "flows:\n  - { name: spans, type: elasticsearch, preset: otel-spans }\n")
                r = run(["once", "-c", cfg, "--at", AT])
            tap.check(r.returncode == 0 and r.stdout == outs[0],
                      f"elasticsearch, {name}, one bucket a page: the file flow's bytes", r.stderr)
        tap.check(outs[0] == outs[1], "the order of the documents changes nothing")

        path = os.path.join(tmp, "forward.ndjson")
        cfg = write(os.path.join(tmp, "off.yml"),
                    HEAD + f"flows:\n  - {{ name: spans, type: file, path: {json.dumps(path)}, preset: otel-spans,"
                    " resolve_callee: null }\n")
        r = run(["once", "-c", cfg, "--at", AT])
        got = targets(r.stdout)[0] if r.returncode == 0 else []
        tap.check(got == sorted([("web", "api.internal:443"), ("web", "db:5432"), ("web", "tie:1"),
                                 ("web", "nobody:80")]),
                  "resolve_callee: null draws the addresses as they are", f"{got}\n{r.stderr}")

        # One pair more than the bound, and three: the first MAX_PAIRS learned, the rest left out.
        many = os.path.join(tmp, "many.ndjson")
        with open(many, "w") as f:
            for i in range(MAX_PAIRS + 3):
                f.write(json.dumps(span("Server", f"s{i}", address=f"h{i}")) + "\n")
            f.write(json.dumps(span("Client", "caller", address="h0")) + "\n")
            f.write(json.dumps(span("Client", "caller", address=f"h{MAX_PAIRS + 2}")) + "\n")
        cfg = write(os.path.join(tmp, "many.yml"),
                    HEAD + f"flows:\n  - {{ name: spans, type: file, path: {json.dumps(many)}, preset: otel-spans }}\n")
        r = run(["once", "-c", cfg, "--at", AT])
        got, g = targets(r.stdout) if r.returncode == 0 else ([], {})
        notices = [n for reg in g.get("nodes", []) for n in reg.get("notices") or []]
        tap.check(got == [("caller", f"h{MAX_PAIRS + 2}"), ("caller", "s0")],
                  f"past {MAX_PAIRS} pairs the rest stay unresolved", f"{got}\n{r.stderr}")
        tap.check(any("3 server address pairs past 100000 left unresolved" in n.get("subtitle", "") for n in notices),
                  "and the region says the data are partial, with how many were left out", notices)
    tap.done()


main()
