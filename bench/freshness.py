#!/usr/bin/env python3
"""freshness.py - how long an event takes from its timestamp to /vizceral.json (issue 16, item 5).

    python3 bench/freshness.py [--vizfeed build/vizfeed] [--interval 2s] [--lag 3s] [--events 12]

Starts the test Elasticsearch (tests/es/fake_es.py, where a document is searchable the moment it
is loaded) and a daemon with an elasticsearch flow (incremental windows on, the default), then,
one at a time, loads an event stamped with the current time on an edge of its own and polls
/vizceral.json every 20 ms until that edge is in it. Prints, per event, the time from its
timestamp to its first appearance, and the minimum, median and maximum against the bound
lag + interval (when the window end passes the event) + interval (until the next refresh) +
the refresh's own time. A real cluster adds its index refresh (1 s by default) and the
shipper's batching before a document is searchable: `lag` must cover those.
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "es"))
from fake_es import FakeElasticsearch  # noqa: E402

CONFIG = """refresh: {{ interval: {interval}, window: 1m, lag: {lag} }}
graph: {{ thresholds: {{ min_rate: 0 }} }}
elasticsearch: {{ hosts: [{url}] }}
flows:
  - {{ name: calls, type: elasticsearch, index: calls, from: {{ service: from }}, to: {{ service: to }} }}
"""


def seconds(text):
    return float(text[:-1]) * (60 if text.endswith("m") else 1)


def edges(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/vizceral.json")
        g = json.loads(conn.getresponse().read())
    except (OSError, ValueError):
        return set()
    finally:
        conn.close()
    out = set()
    for r in g.get("nodes", []):
        for c in r.get("connections") or []:
            out.add((c["source"], c["target"]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vizfeed", default=os.path.join(ROOT, "build", "vizfeed"))
    ap.add_argument("--interval", default="2s")
    ap.add_argument("--lag", default="3s")
    ap.add_argument("--events", type=int, default=12)
    a = ap.parse_args()
    rng = random.Random(5)
    with FakeElasticsearch() as es, tempfile.TemporaryDirectory() as tmp:
        es.load("calls", [], {"@timestamp": "date", "from": "keyword", "to": "keyword"})
        cfg = os.path.join(tmp, "c.yml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(interval=a.interval, lag=a.lag, url=es.url))
        log = open(os.path.join(tmp, "log"), "w")
        proc = subprocess.Popen([a.vizfeed, "-c", cfg, "--listen", "127.0.0.1:0", "--log-format", "json"],
                                stdout=log, stderr=subprocess.STDOUT)
        port = None
        for _ in range(200):
            time.sleep(0.1)
            for line in open(log.name):
                if line.startswith("{") and '"server.port"' in line:
                    port = int(json.loads(line)["server.port"])
            if port:
                break
        delays = []
        try:
            for i in range(a.events):
                time.sleep(rng.uniform(0, seconds(a.interval)))  # events at any phase of the interval
                ts = int(time.time() * 1000)
                es.load("calls", [{"@timestamp": ts, "from": f"ev{i}", "to": "sink"}])
                while ("ev%d" % i, "sink") not in edges(port):
                    if time.time() * 1000 - ts > 120000:
                        raise SystemExit(f"event {i} never appeared")
                    time.sleep(0.02)
                delays.append(time.time() - ts / 1000)
                print(f"event {i}: {delays[-1]:.2f} s", flush=True)
        finally:
            proc.terminate()
            proc.wait()
    delays.sort()
    bound = seconds(a.lag) + 2 * seconds(a.interval)
    print(f"interval {a.interval}, lag {a.lag}: from timestamp to /vizceral.json min {delays[0]:.2f} s, median "
          f"{delays[len(delays) // 2]:.2f} s, max {delays[-1]:.2f} s (lag + 2 x interval = {bound:.1f} s, "
          f"plus the refresh's own time)")


if __name__ == "__main__":
    main()
