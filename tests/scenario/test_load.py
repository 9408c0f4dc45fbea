"""Load: wrk against /vizceral.json with 200 keep-alive connections while the
graph is refreshed every second and the test Elasticsearch keeps failing in
every way it can.

  - a warm-up (two wrk parts of 8 s, the second with faults) settles the
    process; its resident memory (VmRSS) after the second half is the baseline;
  - the main part (VIZFEED_LOAD_SECONDS, 20 s by default) runs wrk with
    tests/load/vizceral.lua (Accept-Encoding: gzip, every other request with
    If-None-Match, every status counted) while a thread injects faults into
    the test Elasticsearch in a loop;
  - then: only 200 and 304 were answered, wrk saw no socket error (connect,
    read, write, timeout) and no status >= 400, enough requests were
    answered, VmRSS is within 10% of the baseline, /healthz answers, and
    SIGTERM ends the daemon with exit 0.

Only the normal build runs it (meson suite 'load'): the sanitizers' memory
and speed would distort it. `./dev soak [minutes]` runs it for longer.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from esdata import FakeElasticsearch
from vizlib import TESTS, Daemon, Tap, region, validate, write

CONNECTIONS = 200
THREADS = 2
WARMUP_SECONDS = 8  # each of the two warm-up halves
MAIN_SECONDS = int(os.environ.get("VIZFEED_LOAD_SECONDS") or 20)
MIN_REQUESTS_PER_SECOND = 200  # a sane floor: a 2-core machine answers thousands
RSS_TOLERANCE = 0.10
SCRIPT = os.path.join(TESTS, "load", "vizceral.lua")

CONFIG = r"""
refresh: { interval: 1s, window: 10m, lag: 0s }
# baseline off: the faults are meant for the live searches, whose errors the test counts by kind;
# a baseline search would take some of them (test_baseline.py covers a failing baseline).
graph: { baseline: off, thresholds: { warning: 0.05, danger: 0.2, min_rate: 0.001 } }
topology:
  - match: 10.0.0.0/16
    region: load-region
  - match: /^10\.0\.([0-9]+)\.1$/
    service: "caller-\\1"
elasticsearch:
  hosts: [%s]
  timeout: 1s
flows:
  - name: es
    type: elasticsearch
    index: "filebeat-load-*"
    preset: nginx-access
  - name: demo
    type: demo
"""

# One fault at a time, each answering one search (the next search is normal).
FAULTS = [
    {"named": "429", "retry_after": 1},
    {"named": "503"},
    {"named": "timed_out_partial"},
    {"named": "truncated"},
    {"delay": 1.5},  # over elasticsearch.timeout
    {"named": "too_many_buckets"},
    {"named": "shard_failures"},
    {"close": True},
    {"named": "empty"},
    {"named": "proxy_html_502"},
]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def es_docs():
    """300 distinct edges in one region: 15 callers x 20 of 30 services, 2 events each."""
    ts = iso(time.time() - 5)
    docs = []
    for a in range(15):
        for b in range(30):
            if (a * 7 + b) % 3 == 0:
                continue
            for k in range(2):
                docs.append({"@timestamp": ts, "event": {"dataset": "nginx.access"},
                             "source": {"ip": f"10.0.{a}.1"}, "service": {"name": f"svc-{b:02d}"},
                             "host": {"name": f"svc-{b:02d}"}, "cloud": {"region": "load-region"},
                             "http": {"response": {"status_code": 500 if (a + b + k) % 17 == 0 else 200}}})
    return docs


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def run_wrk(port, seconds, out):
    """Runs wrk for seconds; returns (exit code, stdout, parsed summary)."""
    env = dict(os.environ, VIZFEED_WRK_OUT=out)
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s", SCRIPT,
           f"http://127.0.0.1:{port}/vizceral.json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, env=env)
    summary = {"status": {}, "errors": {}, "latency": {}}
    if os.path.exists(out):
        with open(out) as f:
            for line in f:
                parts = line.split()
                if parts[0] in ("status", "errors", "latency"):
                    summary[parts[0]][parts[1]] = int(parts[2])
                else:
                    summary[parts[0]] = int(parts[1])
    return p.returncode, p.stdout + p.stderr, summary


class FaultLoop:
    """Injects FAULTS one after the other into the test Elasticsearch, one every
    1.5 s, and keeps the documents inside the window (a soak outlives it)."""

    def __init__(self, es, index):
        self.es, self.index = es, index
        self.injected = 0
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            generation, reloaded = 0, time.time()
            while not self.stop.is_set():
                # One pending fault at most: during a back-off nothing is asked, and faults must not pile up.
                self.es.clear()
                self.es.inject([dict(FAULTS[self.injected % len(FAULTS)], path="_search")])
                self.injected += 1
                self.stop.wait(1.5)
                if time.time() - reloaded > 120:  # fresh timestamps: new index first, then drop the old
                    generation += 1
                    new = f"{self.index}-{generation}"
                    self.es.load(new, es_docs())
                    self.es.delete_index(self.index if generation == 1 else f"{self.index}-{generation - 1}")
                    reloaded = time.time()
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.error = repr(e)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
        self.es.clear()


def wrk_checks(tap, label, rc, out, s, seconds):
    statuses = s["status"]
    tap.check(rc == 0, f"{label}: wrk ran", out[-1500:])
    other = {k: v for k, v in statuses.items() if k not in ("200", "304")}
    tap.check(statuses.get("200", 0) > 0 and statuses.get("304", 0) > 0 and not other,
              f"{label}: only 200 and 304 answered ({statuses})", out[-1500:])
    errors = s["errors"]
    tap.check(errors and all(v == 0 for v in errors.values()),
              f"{label}: no socket error and no status >= 400 ({errors})", out[-1500:])
    n = s.get("requests", 0)
    tap.check(n >= MIN_REQUESTS_PER_SECOND * seconds,
              f"{label}: {n} requests in {seconds}s ({n / max(seconds, 1):.0f}/s; floor "
              f"{MIN_REQUESTS_PER_SECOND}/s), latency p50 {s['latency'].get('p50', 0) / 1000:.1f} ms, "
              f"p99 {s['latency'].get('p99', 0) / 1000:.1f} ms, max {s['latency'].get('max', 0) / 1000:.1f} ms")
    tap.check(sum(statuses.values()) >= n, f"{label}: every answer was counted by status")


def load(tap, tmp):
    if True:
        es = FakeElasticsearch()
        es.start()
        d = None
        try:
            es.load("filebeat-load-0", es_docs())
            config = write(os.path.join(tmp, "vizfeed.yml"), CONFIG % es.url)
            d = Daemon(["-c", config])

            metrics = d.metrics

            def es_edges():
                g = d.graph()
                return len(region(g, "load-region").get("connections") or [])

            edges = d.wait_for(lambda: es_edges() >= 250 and es_edges(), 20, what="the es flow's edges")
            g = d.graph()
            problems = validate(g)
            tap.check(not problems, f"the graph is valid: {edges} edges of the es flow in load-region, "
                      f"{sum(len(r.get('connections') or []) for r in g['nodes'] if isinstance(r, dict))} in all",
                      "\n".join(problems[:5]))

            # Warm-up in two halves, the second with faults too (so that their code
            # paths have run once); the baseline is the RSS after the second.
            rss = [rss_kb(d.proc.pid)]
            for half in (1, 2):
                if half == 1:
                    rc, out, s = run_wrk(d.port, WARMUP_SECONDS, os.path.join(tmp, f"warmup{half}.txt"))
                else:
                    with FaultLoop(es, "filebeat-load-0"):
                        rc, out, s = run_wrk(d.port, WARMUP_SECONDS, os.path.join(tmp, f"warmup{half}.txt"))
                wrk_checks(tap, f"warm-up {half}", rc, out, s, WARMUP_SECONDS)
                rss.append(rss_kb(d.proc.pid))
            base = rss[-1]
            print(f"# VmRSS at start {rss[0]} kB, after warm-up halves {rss[1]} kB, {rss[2]} kB", flush=True)

            m0 = metrics()
            with FaultLoop(es, "filebeat-load-0") as faults:
                t0 = time.time()
                rc, out, s = run_wrk(d.port, MAIN_SECONDS, os.path.join(tmp, "main.txt"))
                wall = time.time() - t0
            print("# " + "\n# ".join(out.strip().splitlines()), flush=True)
            wrk_checks(tap, "main part", rc, out, s, MAIN_SECONDS)
            after = rss_kb(d.proc.pid)
            m1 = metrics()
            tap.check(faults.error is None and faults.injected >= MAIN_SECONDS // 2,
                      f"faults injected during the main part: {faults.injected}", faults.error)
            kinds = {k.split('kind="')[1].rstrip('"}'): v - m0.get(k, 0) for k, v in m1.items()
                     if k.startswith('vizfeed_es_errors_total{flow="es"') and v > m0.get(k, 0)}
            print(f"# Elasticsearch errors during the main part, by kind: {kinds}", flush=True)
            tap.check(len(kinds) >= 5, f"the faults reached vizfeed ({len(kinds)} kinds of error counted)", kinds)
            refreshes = m1.get("vizfeed_refreshes_total", 0) - m0.get("vizfeed_refreshes_total", 0)
            tap.check(refreshes >= 0.8 * wall - 1, f"refreshes kept running every second under load "
                      f"({refreshes:.0f} in {wall:.0f}s)")
            delta = (after - base) / base
            tap.check(abs(delta) <= RSS_TOLERANCE,
                      f"VmRSS after the main part {after} kB is within 10% of the baseline {base} kB "
                      f"({delta * 100:+.1f}%)")
            tap.equal(d.request("GET", "/healthz")[0], 200, "/healthz answers after the load")
            g = d.graph()
            tap.check(region(g, "load-region") is not None and not validate(g), "a valid graph is served after the load")
            tap.equal(d.stop(), 0, "exits 0 on SIGTERM")
            log = d.log()
            errors = [l for l in log.splitlines() if re.match(r"\S+Z error ", l)]
            tap.check(not errors, "nothing logged at level error", "\n".join(errors[:10]))
        finally:
            if d:
                d.stop()
            es.stop()


def main():
    tap = Tap()
    if not shutil.which("wrk"):
        tap.skip("load test", "wrk is not installed (./dev test installs it)")
        tap.done()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tap.run(load, tmp)
    print(f"# total {time.time() - started:.1f}s", flush=True)
    tap.done()


main()
