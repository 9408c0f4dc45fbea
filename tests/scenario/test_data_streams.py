"""Presets find their data where Beats and where Elastic Agent write it.

A flow that names a preset and no index reads the preset's default index
patterns (docs/PRESETS.md): the Beats (or APM Server) indices and the Elastic
Agent integration's data streams. The test Elasticsearch holds the same
documents of every Beats/APM preset's graph case (tests/cases/preset-*)
twice, once in a Beats index and once in the Agent's data stream, plus a copy
in an index no preset reads; the graph must count each event exactly twice,
i.e. twice the file flow's counts of the same documents.
"""
import copy
import json
import os
import sys
import tempfile

from vizlib import TESTS, Tap, run, validate

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402
from esdata import ndjson_docs  # noqa: E402

CASES = os.path.join(TESTS, "cases")

# preset -> (case directory, Beats-era index, Elastic Agent data stream)
LAYOUTS = {
    "nginx-access": ("preset-nginx-access", "filebeat-8.5.0-2022.12.09", "logs-nginx.access-default"),
    "apm-service-destination": ("preset-apm-service-destination", "apm-7.17.15-metric-000001",
                                "metrics-apm.service_destination.1m-default"),
    "apache-access": ("preset-apache-access", "filebeat-7.17.15-2023.01.01", "logs-apache.access-default"),
    "packetbeat-http": ("preset-packetbeat-http", "packetbeat-8.5.0-2022.02.03", "logs-network_traffic.http-default"),
    "packetbeat-flow": ("preset-packetbeat-flow", "packetbeat-8.5.0-2022.02.03", "logs-network_traffic.flow-default"),
    "apm-transaction": ("preset-apm-transaction", "apm-7.17.15-transaction-000001", "traces-apm-default"),
    "heartbeat": ("preset-heartbeat", "heartbeat-8.5.0-2023.05.10", "synthetics-http-default"),
}


def beats_layout(doc):
    """The same event as Filebeat or APM Server 7.x write it: no data_stream, no elastic_agent."""
    d = copy.deepcopy(doc)
    d.pop("data_stream", None)
    d.pop("elastic_agent", None)
    return d


def edge_counts(graph):
    """{(region, source, target): [normal, warning, danger]} from connection metadata."""
    out = {}
    for r in graph.get("nodes", []):
        for c in r.get("connections", []) or []:
            m = c.get("metadata", {})
            out[(r["name"], c["source"], c["target"])] = [m.get("normal", 0), m.get("warning", 0), m.get("danger", 0)]
    return out


def check(tap, preset, case_dir, beats_index, stream):
    d = os.path.join(CASES, case_dir)
    case = json.load(open(os.path.join(d, "case.json")))
    config = open(os.path.join(d, "config.yml")).read()
    file_run = run(["once", "-c", "config.yml", "--at", case["at"]], cwd=d)
    if not tap.check(file_run.returncode == 0, f"{preset}: file flow runs", file_run.stderr):
        return
    expected = {k: [2 * x for x in v] for k, v in edge_counts(json.loads(file_run.stdout)).items()}
    with FakeElasticsearch() as es:
        docs = ndjson_docs(os.path.join(d, "events.ndjson"))
        es.load(beats_index, [beats_layout(x) for x in docs])
        es.load(stream, docs)
        es.load("other-logs-default", docs)  # read by no preset
        lines = []
        for line in config.split("\n"):
            if line.strip() == "type: file":
                line = line.replace("file", "elasticsearch")
            if line.strip().startswith("path:"):
                continue  # no index: the preset's default
            lines.append(line)
        text = "\n".join(lines) + f"\nelasticsearch: {{ hosts: [{es.url}], page_size: 3 }}\n"
        with tempfile.TemporaryDirectory(prefix="vizfeed-streams-") as tmp:
            cfg = os.path.join(tmp, "config.yml")
            open(cfg, "w").write(text)
            r = run(["once", "-c", cfg, "--at", case["at"]])
        paths = sorted({q["path_only"] for q in es.requests if q["path_only"].endswith("/_search")})
    if not tap.check(r.returncode == 0, f"{preset}: elasticsearch flow without index runs", r.stderr):
        return
    graph = json.loads(r.stdout)
    problems = validate(graph, **case.get("thresholds", {}))
    tap.check(not problems, f"{preset}: passes the Vizceral validator", "\n".join(problems))
    got = edge_counts(graph)
    tap.check(bool(expected) and got == expected,
              f"{preset}: every event counted once in {beats_index} and once in {stream}, none from other indices",
              f"expected {expected}\ngot      {got}\nsearched {paths}")


def main():
    tap = Tap()
    for preset, (case_dir, beats_index, stream) in LAYOUTS.items():
        tap.run(check, preset, case_dir, beats_index, stream)
    tap.done()


main()
