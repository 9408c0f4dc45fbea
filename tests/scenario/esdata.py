"""Events shared by the Elasticsearch scenario tests: a small fleet of 40
services in 3 regions whose traffic is known, written once as NDJSON for a
file flow and loaded into the test Elasticsearch for an elasticsearch flow."""
import contextlib
import json
import os
import re
import sys
import urllib.request

from vizlib import TESTS

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402,F401

AT = "2026-01-01T00:02:00Z"  # window end; the window is 2m
INDEX = "filebeat-8.11.0-2026.01.01"


def events():
    """Deterministic events: 40 services, callers by IP or by name, some
    errors, some outside the window, some without a callee."""
    out = []
    regions = ["eu-west-1", "us-east-1", "ap-south-1"]
    for i in range(40):
        svc = f"svc-{i:02d}"
        region = regions[i % 3]
        for j in range(1 + i % 7):
            sec = (i * 7 + j * 13) % 120
            ts = f"2026-01-01T00:{sec // 60:02d}:{sec % 60:02d}.{j:03d}Z"
            caller = "203.0.113.9" if i % 4 == 0 else f"10.0.{i % 5}.{j % 3 + 1}"
            status = 500 if (i + j) % 9 == 0 else 404 if (i + j) % 11 == 0 else 200
            doc = {"@timestamp": ts, "source": {"ip": caller}, "service": {"name": svc},
                   "cloud": {"region": region}, "host": {"name": f"{svc}-{j % 2}"},
                   "http": {"response": {"status_code": status}}, "event": {"dataset": "nginx.access"}}
            out.append(doc)
    # outside the window, another dataset, no callee: must not count
    out.append({"@timestamp": "2025-12-31T23:59:00Z", "source": {"ip": "10.0.0.1"}, "service": {"name": "late"},
                "event": {"dataset": "nginx.access"}})
    out.append({"@timestamp": "2026-01-01T00:01:00Z", "source": {"ip": "10.0.0.1"}, "service": {"name": "other-ds"},
                "event": {"dataset": "apache.access"}})
    out.append({"@timestamp": "2026-01-01T00:01:00Z", "source": {"ip": "10.0.0.1"},
                "event": {"dataset": "nginx.access"}, "http": {"response": {"status_code": 200}}})
    return out


FLOW = """
refresh: {{ interval: {interval}, window: 2m, lag: 0s }}
graph: {{ thresholds: {{ warning: 0.05, danger: 0.2, min_rate: 0.01 }} }}
topology:
  - match: 10.0.0.0/16
    region: eu-west-1
  - match: /^10\\.0\\.([0-9]+)\\.[0-9]+$/
    service: "caller-\\\\1"
{es}
flows:
  - name: access
    {source}
    preset: nginx-access
"""


def config(path, source, es="", interval="10s"):
    with open(path, "w") as f:
        f.write(FLOW.format(source=source, es=es, interval=interval))
    return path


def file_config(tmp, name="file"):
    """A file flow over events(): writes them to tmp/ev.ndjson and the configuration to
    tmp/<name>.yml, whose path it returns."""
    path = write_ndjson(os.path.join(tmp, "ev.ndjson"), events())
    return config(os.path.join(tmp, name + ".yml"), f"type: file\n    path: {path}")


@contextlib.contextmanager
def loaded_es():
    """A FakeElasticsearch holding events() in INDEX, stopped on leaving."""
    with FakeElasticsearch() as es:
        es.load(INDEX, events())
        yield es


def es_config(tmp, name, es, page_size):
    """An elasticsearch flow over filebeat-* of es, page_size buckets a page: the configuration
    tmp/<name>.yml, whose path it returns."""
    return config(os.path.join(tmp, name + ".yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                  es=f"elasticsearch: {{ hosts: [{es.url}], page_size: {page_size} }}")


def ndjson_docs(path):
    """The JSON objects of an NDJSON file (a case's events.ndjson), one a line; lines
    that are not an object (the cases hold some broken ones on purpose) are left out."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict):
                out.append(d)
    return out


def es_date_ms(ts):
    """Milliseconds since the epoch of a document's @timestamp as Elasticsearch reads a date:
    a number (or a string of one) is milliseconds, an ISO 8601 text without a zone is UTC."""
    if isinstance(ts, (int, float)):
        return int(ts)
    if ts.replace(".", "", 1).isdigit():
        return int(ts.split(".")[0])
    import datetime
    t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if t.tzinfo is None:  # no zone: UTC, as Elasticsearch reads it
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000)


CASE_TYPE_FILE = re.compile(r"^(\s*(?:- )?)type:\s*file\s*$")
CASE_PATH = re.compile(r"^(\s*(?:- )?)path:\s*\S.*$")


def case_es_config(text, url, pattern="case-*", page_size=2):
    """The elasticsearch variant of a graph case's config.yml: every file flow reads the
    indices `pattern` of the engine at `url` instead of its path. None when the config
    has not one path per file flow, or already names an elasticsearch section."""
    lines = text.split("\n")
    types = [i for i, line in enumerate(lines) if CASE_TYPE_FILE.match(line)]
    paths = [i for i, line in enumerate(lines) if CASE_PATH.match(line)]
    if not types or len(types) != len(paths) or any(re.match(r"elasticsearch\s*:", line) for line in lines):
        return None
    for i in types:
        lines[i] = CASE_TYPE_FILE.sub(r"\1type: elasticsearch", lines[i])
    for i in paths:
        lines[i] = CASE_PATH.sub(rf'\1index: "{pattern}"', lines[i])
    return "\n".join(lines).rstrip("\n") + f"\nelasticsearch: {{ hosts: [{url}], page_size: {page_size} }}\n"


def write_ndjson(path, docs):
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    return path


ES_AND_SIDE = """
refresh: {{ interval: 1s, window: {window}, lag: 0s }}
graph: {{ thresholds: {{ warning: 0.05, danger: 0.2, min_rate: 0.01 }} }}
elasticsearch:
  hosts: [{hosts}]
  timeout: 1s
  incremental: false  # the faults' canned answers are a full query's (no slice keys): test_incremental.py
flows:
  - name: es
    type: elasticsearch
    index: "filebeat-*"
    preset: nginx-access
  - name: side
    type: file
    path: {side}
    to: {{ service: service.name, region: cloud.region }}
"""


def es_and_side(hosts, side, window):
    """The fault suites' daemon: an "es" flow (nginx-access, refreshed every second with a 1 s
    timeout, so faults show quickly) beside a "side" file flow that must stay unaffected."""
    return ES_AND_SIDE.format(hosts=", ".join(hosts), side=side, window=window)


def run_printed_query(base_url, printed, ctx=None, pages=100):
    """Sends the first request `vizfeed query` printed (its "POST PATH" line and JSON body) as a
    user would by hand, following after_key for at most `pages` pages; returns the sum of the
    composite buckets' doc_count."""
    # Only the first block: the next flows' requests and the baseline's follow after a blank line.
    lines = printed.split("\n\n", 1)[0].split("\n")
    path = lines[1].split(" ", 1)[1]
    body = json.loads("\n".join(lines[2:]))
    total = 0
    for _ in range(pages):
        req = urllib.request.Request(base_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            page = json.load(resp)
        edges = page.get("aggregations", {}).get("edges", {})
        total += sum(b["doc_count"] for b in edges.get("buckets", []))
        if "after_key" not in edges:
            break
        body["aggs"]["edges"]["composite"]["after"] = edges["after_key"]
    return total
