"""`vizfeed init --es URL`: a starting configuration from what a cluster holds.

The test Elasticsearch holds the data of the presets' graph cases where Beats,
Elastic Agent and EDOT write them (items 1 and 2 of issue 17): nginx access
logs in a Filebeat index and in the Agent's data stream, APM service_destination
metrics, OpenTelemetry spans, EDOT service_destination metrics and
service-graph connector counters, plus an index no preset reads. init must
propose one flow per recognised source with the number of documents its preset
keeps (counted here by hand), comment the unmapped index, ask with the given
credentials, and print a configuration that `check` accepts and that draws
the graph of those documents.
"""
import json
import os
import sys
import tempfile

import tlscerts
from vizlib import TESTS, Tap, run, validate

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402
from esdata import es_date_ms, ndjson_docs  # noqa: E402

CASES = os.path.join(TESTS, "cases")
AT = "2024-01-15T10:35:00Z"
END = 1705314900000
HOUR = 3600000


def docs(case):
    return ndjson_docs(os.path.join(CASES, case, "events.ndjson"))


def get(d, path):
    """A dotted field of a document whose keys may be nested or flat (as Elasticsearch reads them)."""
    if path in d:
        return d[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if isinstance(d.get(head), dict):
            v = get(d[head], ".".join(parts[i:]))
            if v is not None:
                return v
    return None


def by_hand():
    """preset -> (documents its where keeps in the last hour before AT, ever), counted from the raw documents."""
    nginx = [d for d in docs("preset-nginx-access") if get(d, "event.dataset") == "nginx.access"]
    apm = [d for d in docs("preset-apm-service-destination")
           if get(d, "metricset.name") == "service_destination" and get(d, "metricset.interval") not in ("10m", "60m")]
    spans = [d for d in docs("preset-otel-spans") if d["kind"].lower() in ("client", "producer")]
    sd = [d for d in docs("preset-otel-service-destination")
          if d["attributes"]["metricset.interval"] not in ("10m", "60m")]
    sg = [d for d in docs("preset-otel-servicegraph") if {"client", "server"} <= set(d.get("attributes", {}))]

    def hour(ds):
        return sum(1 for d in ds if END - HOUR <= es_date_ms(str(d["@timestamp"])) < END)
    return {"nginx-access": (2 * hour(nginx), 2 * len(nginx)),  # Filebeat index and data stream
            "apm-service-destination": (hour(apm), len(apm)),
            "otel-spans": (hour(spans), len(spans)),
            "otel-service-destination": (hour(sd), len(sd)),
            "otel-servicegraph": (hour(sg), len(sg))}


def load(es):
    es.load("filebeat-8.5.0-2022.12.09", docs("preset-nginx-access"))
    es.load("logs-nginx.access-default", docs("preset-nginx-access"))
    es.load("metrics-apm.service_destination.1m-default", docs("preset-apm-service-destination"))
    es.load("traces-generic.otel-default", docs("preset-otel-spans"), {"@timestamp": "date", "duration": "long"})
    es.load("metrics-service_destination.1m.otel-default", docs("preset-otel-service-destination"),
            {"@timestamp": "date"})
    es.load("metrics-servicegraph.otel-default", docs("preset-otel-servicegraph"),
            {"@timestamp": "date", "metrics.traces_service_graph_request_server_seconds": "histogram"})
    es.load("myapp-logs", [{"@timestamp": "2024-01-15T10:31:00Z", "message": "hello"}])


def proposed(text):
    """{preset: (hour, ever)} from the comments above each proposed flow."""
    import re
    out = {}
    for m in re.finditer(r"^  # ([a-z0-9-]+): (\d+) documents in the last hour \((\d+) in all\)", text, re.M):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def tls(tap, want):
    """init against a cluster that speaks HTTPS with a CA of its own (Elasticsearch 8's default):
    --ca-file trusts that CA and is written into the proposal, --insecure skips verification and
    says so in the proposal (verify: false), neither is refused before any request reaches it."""
    if not tlscerts.available():
        tap.skip("init over TLS", "no openssl command (Debian package openssl)")
        return
    with tempfile.TemporaryDirectory(prefix="vizfeed-init-tls-") as tmp:
        certs = tlscerts.make(tmp)
        with FakeElasticsearch(tls_cert=certs.server[0], tls_key=certs.server[1]) as es:
            load(es)
            r = run(["init", "--es", es.url, "--ca-file", certs.ca, "--at", AT])
            tap.check(r.returncode == 0 and proposed(r.stdout) == want,
                      "--ca-file: init trusts the cluster's CA and proposes the same flows as over plain HTTP",
                      f"{r.returncode}\n{r.stderr}\n{r.stdout}")
            tap.check(f'ca_file: "{certs.ca}"' in r.stdout and "verify: false" not in r.stdout,
                      "--ca-file is written into the proposed configuration as elasticsearch.ca_file", r.stdout)
            cfg = os.path.join(tmp, "vizfeed.yml")
            with open(cfg, "w") as f:
                f.write(r.stdout + "refresh: { window: 5m, lag: 0s }\n")
            once = run(["once", "-c", cfg, "--at", AT])
            graph = json.loads(once.stdout) if once.returncode == 0 else {}
            names = {n["name"] for r_ in graph.get("nodes", []) for n in r_.get("nodes", []) or []}
            tap.check(once.returncode == 0 and not validate(graph) and {"checkout", "frontend"} <= names,
                      "the proposal with ca_file draws the graph over HTTPS", f"{sorted(names)}\n{once.stderr}")

            before = len(es.requests)
            r = run(["init", "--es", es.url, "--at", AT])
            tap.check(r.returncode == 1 and "flows:" not in r.stdout and len(es.requests) == before and
                      es.tls_errors,
                      "without --ca-file the unknown CA is refused: exit 1, no request reached the cluster",
                      f"{r.returncode}\n{r.stderr}\n{r.stdout}")
            tap.check(len(r.stderr.strip().splitlines()) == 1 and es.url in r.stderr and
                      ("certificate" in r.stderr.lower() or "tls" in r.stderr.lower()),
                      "the refusal is one line naming the host and the certificate problem", r.stderr)

            r = run(["init", "--es", es.url, "--insecure", "--at", AT])
            tap.check(r.returncode == 0 and proposed(r.stdout) == want and "\n  verify: false\n" in r.stdout,
                      "--insecure: the same flows, and the proposal says verify: false",
                      f"{r.returncode}\n{r.stderr}\n{r.stdout}")

            missing = os.path.join(tmp, "no-such-ca.pem")
            r = run(["init", "--es", es.url, "--ca-file", missing, "--at", AT])
            tap.check(r.returncode != 0 and missing in r.stderr and "flows:" not in r.stdout,
                      "--ca-file naming no file: an error that names it, no proposal", r.stderr + r.stdout)


def main():
    tap = Tap()
    want = by_hand()
    with FakeElasticsearch(user="vizfeed", password="s3cret") as es:
        load(es)
        r = run(["init", "--es", es.url, "--username", "vizfeed", "--password", "s3cret", "--at", AT])
        tap.check(r.returncode == 0, "init exits 0", r.stderr)
        got = proposed(r.stdout)
        tap.check(got == want, "one flow per recognised source, with the documents its preset keeps "
                  "(last hour, all) counted by hand", f"want {want}\ngot  {got}\n{r.stdout}")
        tap.check("# not mapped: index myapp-logs" in r.stdout and "not mapped: data stream" not in r.stdout,
                  "the index no preset reads gets a comment; the recognised data streams do not", r.stdout)
        tap.check("apache-access" not in got and "none of their documents is apache-access data" in r.stdout,
                  "a preset whose index matches but whose where keeps nothing is a comment, not a flow")
        tap.check("s3cret" not in r.stdout and "password: ${ES_PASSWORD}" in r.stdout,
                  "the password is not printed: the configuration reads it from ES_PASSWORD")
        paths = sorted({q["path_only"] for q in es.requests})
        tap.check(any(p.startswith("/_resolve/index/") for p in paths) and
                  any(p.endswith("/_field_caps") for p in paths),
                  "init asks _resolve/index and _field_caps", "\n".join(paths))

        with tempfile.TemporaryDirectory(prefix="vizfeed-init-") as tmp:
            cfg = os.path.join(tmp, "vizfeed.yml")
            with open(cfg, "w") as f:
                f.write(r.stdout)
            env = dict(os.environ, ES_PASSWORD="s3cret")
            chk = run(["check", "-c", cfg], env=env)
            tap.check(chk.returncode == 0, "vizfeed check accepts the proposed configuration", chk.stderr)
            # The cases' data fill [10:30, 10:35): the window a user would set for them.
            with open(cfg, "a") as f:
                f.write("refresh: { window: 5m, lag: 0s }\n")
            once = run(["once", "-c", cfg, "--at", AT], env=env)
            ok = once.returncode == 0
            graph = json.loads(once.stdout) if ok else {}
            names = {n["name"] for r_ in graph.get("nodes", []) for n in r_.get("nodes", []) or []}
            tap.check(ok and not validate(graph) and {"checkout", "payments:8080", "frontend", "postgres"} <= names,
                      "the proposed configuration draws the OpenTelemetry services", f"{sorted(names)}\n{once.stderr}")

        bad = run(["init", "--es", es.url, "--at", AT])
        tap.check(bad.returncode == 1 and "401" in bad.stderr and "s3cret" not in bad.stderr,
                  "without credentials: exit 1 and the cluster's 401 in one line", bad.stderr)

    with FakeElasticsearch() as empty:
        empty.load("myapp-logs", [{"@timestamp": "2024-01-15T10:31:00Z", "message": "hello"}])
        r = run(["init", "--es", empty.url, "--at", AT])
        tap.check(r.returncode == 1 and "# not mapped: index myapp-logs" in r.stdout and "flows:" not in r.stdout,
                  "nothing recognised: exit 1, the comments, no flows", r.stdout + r.stderr)
    tls(tap, want)
    u = run(["init"])
    tap.check(u.returncode == 2 and "--es URL is required" in u.stderr, "init without --es is a usage error", u.stderr)
    tap.done()


if __name__ == "__main__":  # test_engine_init.py imports the counts by hand
    main()
