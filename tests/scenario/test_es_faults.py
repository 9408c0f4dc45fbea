"""Every answer Elasticsearch (or what stands between us and it) can give,
checked from outside: the HTTP answers of /vizceral.json, /readyz and
/metrics, the requests the test Elasticsearch received, and the daemon's log.

Each case runs its own short-lived daemon (refresh 1s, window 2m, lag 0s)
with two flows: "es", an elasticsearch flow on the test Elasticsearch, whose
services sit in region es-region, and "side", a file flow in region
side-region that keeps answering. The promise (source_es.c, refresh.c,
docs/METRICS.md, SPEC §4/§5):

  - a degraded answer (timed_out, failed shards) keeps its rows: region
    notice "partial data from es", metadata.partial, errors kind partial;
  - too_many_buckets (400 or 503) lowers the page size and asks again;
  - no aggregations (a pattern matching no index) is an empty part, and
    every form of hits.total is accepted;
  - every failure is one log line naming the flow, the host and the cause
    (Elasticsearch's own type and reason), counted by kind; 429/5xx back off
    with jitter and honour Retry-After; other 4xx back off for a minute;
  - a failing flow never poisons the other: the graph keeps being served,
    the failed part is carried over, marked stale after 3 failed refreshes
    (and /readyz says 503), and all of it goes away when the cluster is back.
"""
import calendar
import contextlib
from datetime import datetime
import json
import os
import re
import socket
import tempfile
import threading
import time

from esdata import FakeElasticsearch, es_and_side
from fake_es import FORBIDDEN_BODY  # noqa: E402 (esdata puts tests/es on the path)
from vizlib import Daemon, Tap, connection, find, is_stale, region, validate, wait

INDEX = "filebeat-8.11.0-faults"
ES_SERVICES = ["web-0", "web-1", "web-2"]
STALE_AFTER = 3  # REFRESH_STALE_AFTER

def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def es_docs():
    """30 events 5 s ago, inside the live window: INTERNET -> web-0/1/2 in es-region."""
    ts = iso(time.time() - 5)
    return [{"@timestamp": ts, "event": {"dataset": "nginx.access"}, "source": {"ip": "198.51.100.7"},
             "host": {"name": ES_SERVICES[i % 3]}, "cloud": {"region": "es-region"},
             "http": {"response": {"status_code": 200}}} for i in range(30)]


def side_line(service, n=1):
    ts = iso(time.time() - 5)
    return "".join(json.dumps({"@timestamp": ts, "service": {"name": service}, "cloud": {"region": "side-region"}})
                   + "\n" for _ in range(n))


def stale_since_ms(node):
    """Epoch ms of the "data stale since ..." notice of a region, or None."""
    for n in node.get("notices") or []:
        m = re.match(r"data stale since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{3}))?Z", n.get("title", ""))
        if m:
            t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1000
            return t + int(m.group(2) or 0)
    return None


class Feeder:
    """One daemon with the "es" and "side" flows, and the test Elasticsearch behind it."""

    def __init__(self, es, daemon, side_path, hosts):
        self.es = es
        self.d = daemon
        self.side_path = side_path
        self.hosts = hosts
        self.history = []  # every graph seen, in order
        self.statuses = []  # every /vizceral.json status
        self.ready = []  # (time, /readyz status)
        self.n304 = 0
        self.bad304 = []

    def reset(self):
        """Forgets the answers seen so far (those before the first graph), keeping the last graph."""
        self.history = self.history[-1:]
        self.statuses, self.ready, self.n304, self.bad304 = [], [], 0, []

    # -- what the daemon shows ------------------------------------------------
    def metrics(self):
        return self.d.metrics()

    def errors(self, kind, m=None):
        m = m if m is not None else self.metrics()
        return m.get(f'vizfeed_es_errors_total{{flow="es",kind="{kind}"}}', 0.0)

    def all_errors(self, m=None):
        m = m if m is not None else self.metrics()
        return {k: v for k, v in m.items() if k.startswith('vizfeed_es_errors_total{flow="es"')}

    def failures(self, flow="es", m=None):
        m = m if m is not None else self.metrics()
        return m.get(f'vizfeed_refresh_failures_total{{flow="{flow}"}}', 0.0)

    def log_lines(self):
        return self.d.log().splitlines()

    def searches(self):
        return [r for r in self.es.requests if r["path_only"].endswith("/_search")]

    def snapshot(self):
        """GET /vizceral.json (and once more with If-None-Match) and /readyz; returns (graph, readyz status)."""
        status, headers, body = self.d.request("GET", "/vizceral.json")
        self.statuses.append(status)
        graph = None
        if status == 200:
            graph = json.loads(body)
            self.history.append(graph)
            etag = headers.get("etag")
            s2, h2, _ = self.d.request("GET", "/vizceral.json", {"If-None-Match": etag or '"none"'})
            if s2 == 304:
                self.n304 += 1
            elif not (s2 == 200 and h2.get("etag") != etag):  # 200 only when a refresh came in between
                self.bad304.append((s2, etag, h2.get("etag")))
        rs = self.d.request("GET", "/readyz")[0]
        self.ready.append((time.time(), rs))
        return graph, rs

    def poll(self, cond, timeout, what):
        """The first graph (every answer recorded) for which cond(graph, /readyz status) holds."""
        def step():
            graph, rs = self.snapshot()
            return graph if graph is not None and cond(graph, rs) else None
        return wait(step, timeout, what, d=self.d, every=0.1)

    def watch(self, seconds):
        """Keeps polling for a while (every answer is recorded)."""
        end = time.time() + seconds
        while time.time() < end:
            self.snapshot()
            time.sleep(0.1)

    def add_side(self, service):
        with open(self.side_path, "a") as f:
            f.write(side_line(service, 3))


def both_fresh(graph, rs):
    es, side = region(graph, "es-region"), region(graph, "side-region")
    return (es and side and not is_stale(es) and not is_stale(side) and rs == 200
            and all(find(es.get("nodes"), s) for s in ES_SERVICES))


@contextlib.contextmanager
def feeder(tmp, name, flavor="es8", extra_hosts_before=(), es_hosts=None, wait_first=True):
    """A fresh test Elasticsearch and daemon; always stopped."""
    es = FakeElasticsearch(flavor=flavor)
    es.start()
    daemon = None
    try:
        es.load(INDEX, es_docs())
        side = os.path.join(tmp, f"{name}.side.ndjson")
        with open(side, "w") as f:
            f.write(side_line("side-svc", 20))
        hosts = list(extra_hosts_before) + [es.url] if es_hosts is None else list(es_hosts)
        cfg = os.path.join(tmp, f"{name}.yml")
        with open(cfg, "w") as f:
            f.write(es_and_side(hosts, side, "2m"))
        daemon = Daemon(["-c", cfg])
        fd = Feeder(es, daemon, side, hosts)
        if wait_first:
            fd.poll(both_fresh, 15, "the first graph with both flows")
        else:
            fd.poll(lambda g, rs: region(g, "side-region"), 15, "the first graph")
        fd.reset()
        yield fd
    finally:
        if daemon is not None:
            daemon.stop()
        es.stop()


def not_repeated(lines):
    """True when the es flow's failures were logged and no identical one twice
    (vizfeed repeats an unchanged failure only after a minute)."""
    texts = [l.split("flow 'es' failed:", 1)[1] for l in lines if "flow 'es' failed:" in l]
    return bool(texts) and len(texts) == len(set(texts))


def cause_lines(lines):
    """The log lines that report a failed request of the es flow (not the back-off reminders)."""
    return [l for l in lines if "flow 'es' failed:" in l and "backing off" not in l]


# ---- the generic failing case ------------------------------------------------

def failing_case(tap, f, label, faults, kind, causes, recover=True, host=None, on_stale=None, per_request=True):
    """Injects faults that make every request of the es flow fail, then checks the
    carry-over, the stale marks after 3 failures, /readyz, the log line and the
    metric; with recover, clears the faults and checks that everything comes back.
    causes: substrings the failure's log line must contain besides the flow and host.
    Returns (times of the failed requests, log cause lines)."""
    host = host or f.es.url
    m0 = f.metrics()
    err0, fail0, side_fail0 = f.errors(kind, m0), f.failures("es", m0), f.failures("side", m0)
    base = f.history[-1]
    base_conn = connection(region(base, "es-region"), "INTERNET", "web-0")
    log0 = len(f.log_lines())
    req0 = len(f.searches())
    first_seen = len(f.history)
    f.es.inject(faults)
    f.add_side(f"side-{label}")

    stale = f.poll(lambda g, rs: is_stale(region(g, "es-region")), 20, f"{label}: es-region marked stale")
    stale_graph_index = len(f.history) - 1
    try:
        f.poll(lambda g, rs: rs == 503, 3, f"{label}: /readyz 503")
        ready_503 = True
    except TimeoutError:
        ready_503 = False
    if on_stale:
        on_stale()
    t_clear = time.time()
    if recover:
        f.es.clear()
        recovered = f.poll(lambda g, rs: both_fresh(g, rs) and g["updated"] > stale["updated"], 20,
                           f"{label}: recovery")
        f.watch(0.3)
    else:
        f.watch(1.5)
        recovered = None
    failing = f.history[first_seen:stale_graph_index + 1]

    # The graph keeps being served; conditional GETs work.
    tap.check(all(s == 200 for s in f.statuses), f"{label}: /vizceral.json answers 200 throughout",
              sorted(set(f.statuses)))
    tap.check(f.n304 > 0 and not f.bad304, f"{label}: If-None-Match with the last ETag gives 304",
              f"304s {f.n304}, wrong answers {f.bad304[:3]}")

    # Carried over: the es part stays, the same numbers.
    es_parts = [region(g, "es-region") for g in failing]
    tap.check(all(r and all(find(r.get("nodes"), s) for s in ES_SERVICES) for r in es_parts),
              f"{label}: the es flow's services are carried over while it fails")
    tap.check(all(connection(r, "INTERNET", "web-0") == base_conn for r in es_parts if r),
              f"{label}: the carried-over part keeps its rates", base_conn)

    # The other flow stays fresh and keeps being read.
    tap.check(all(region(g, "side-region") and not is_stale(region(g, "side-region")) for g in f.history),
              f"{label}: side-region is never stale")
    tap.check(any(find(region(g, "side-region").get("nodes"), f"side-{label}") for g in failing),
              f"{label}: the side flow keeps refreshing while es fails (its new service appears)")

    # Stale after exactly 3 failed refreshes, with the notice, only on the es regions.
    es_stale = region(stale, "es-region")
    since = stale_since_ms(es_stale)
    notice = [n for n in es_stale.get("notices") or [] if n.get("title", "").startswith("data stale since")]
    tap.check(since is not None and notice and notice[0].get("severity") == 2,
              f"{label}: es-region has a severity-2 'data stale since' notice", es_stale.get("notices"))
    if since is not None:
        interval = 1000
        early = [g["updated"] for g in f.history[first_seen:stale_graph_index]
                 if since <= g["updated"] < since + (STALE_AFTER - 1) * interval]
        tap.check(stale["updated"] - since >= (STALE_AFTER - 1) * interval,
                  f"{label}: stale only from the 3rd failed refresh on",
                  f"stale since {since}, first stale graph at {stale['updated']}")
        tap.check(all(not is_stale(region(g, "es-region")) for g in f.history[first_seen:stale_graph_index]),
                  f"{label}: the 1st and 2nd failed refreshes are carried over but not yet stale",
                  f"graphs of those refreshes: {early}")
        tap.check(since <= stale["updated"] and since > base["updated"] - 1000 and since - base["updated"] <= 10000,
                  f"{label}: 'stale since' is the window end of the first failed refresh",
                  f"since {since}, last good {base['updated']}")
    tap.check(ready_503, f"{label}: /readyz answers 503 while the es flow fails")
    problems = validate(stale, 0.05, 0.2, 0.01)
    tap.check(not problems, f"{label}: the stale graph passes the validator", "\n".join(problems[:5]))

    # Metric and log.
    m1 = f.metrics()
    lines = f.log_lines()[log0:]
    causes_logged = cause_lines(lines)
    if causes_logged:
        print(f"# {label}: logged: {causes_logged[0][:400]}", flush=True)
    tap.check(f.errors(kind, m1) > err0,
              f"{label}: vizfeed_es_errors_total{{flow=\"es\",kind=\"{kind}\"}} increases",
              f"before {err0}, now {f.all_errors(m1)}")
    tap.check(causes_logged and all(host in l and all(c in l for c in causes) for l in causes_logged),
              f"{label}: each failure is logged with the flow, the host and the cause",
              f"want {host!r} and {causes!r} in:\n" + "\n".join(causes_logged[:3] or lines[:5]))
    if per_request:
        failed_requests = int(f.errors(kind, m1) - err0)
        tap.check(1 <= len(causes_logged) <= failed_requests,
                  f"{label}: failed requests are logged ({len(causes_logged)} lines for {failed_requests}, {kind})")
    if recover:
        tap.check(not_repeated(lines), f"{label}: an identical failure is logged once, not once per refresh "
                  "(it repeats only after a minute)", "\n".join(lines[:6]))
    tap.check(not any("flow 'side' failed" in l for l in lines) and f.failures("side", m1) == side_fail0,
              f"{label}: the side flow never fails")
    if recovered is not None:
        r = region(recovered, "es-region")
        tap.check(not is_stale(r) and stale_since_ms(r) is None and not any(
            "stale" in (n.get("title") or "") for n in r.get("notices") or []),
                  f"{label}: after recovery the stale mark and notice are gone")
        tap.check(f.ready[-1][1] == 200, f"{label}: /readyz is 200 again after recovery")
        tap.check(len(f.searches()) > req0, f"{label}: requests resumed")
        problems = validate(recovered, 0.05, 0.2, 0.01)
        tap.check(not problems, f"{label}: the recovered graph passes the validator", "\n".join(problems[:5]))
    times = [r["time"] for r in f.searches()[req0:] if r["time"] < t_clear]
    return times, causes_logged


# ---- cases ---------------------------------------------------------------------

def degraded_answers(tap, tmp):
    for named, kind_text in (("timed_out_partial", "timed out"), ("shard_failures", "shards failed")):
        label = named
        with feeder(tmp, named) as f:
            m0 = f.metrics()
            p0, fail0 = f.errors("partial", m0), f.failures("es", m0)
            log0 = len(f.log_lines())
            f.es.inject([{"named": named, "always": True}])
            g = f.poll(lambda g, rs: (region(g, "es-region") or {}).get("metadata", {}).get("partial"), 10,
                       f"{label}: metadata.partial")
            f.watch(1.5)
            es = region(g, "es-region")
            notes = [n for n in es.get("notices") or [] if n.get("title") == "partial data from es"]
            tap.check(notes and notes[0].get("severity") == 1 and kind_text in (notes[0].get("subtitle") or ""),
                      f"{label}: es-region has the notice 'partial data from es' saying why", es.get("notices"))
            tap.check(es["metadata"].get("partial") is True and not is_stale(es),
                      f"{label}: metadata.partial true, not stale")
            tap.check(find(es.get("nodes"), "web-0") is not None, f"{label}: the rows of the degraded answer are kept")
            side = region(g, "side-region")
            tap.check(not (side.get("metadata") or {}).get("partial") and not side.get("notices"),
                      f"{label}: side-region is not marked")
            m1 = f.metrics()
            tap.check(f.errors("partial", m1) > p0, f"{label}: errors kind partial increases",
                      f.all_errors(m1))
            tap.check(f.failures("es", m1) == fail0 and all(rs == 200 for _, rs in f.ready),
                      f"{label}: not a failure: no failed refresh, /readyz stays 200")
            tap.check(not cause_lines(f.log_lines()[log0:]), f"{label}: nothing logged as a failure")
            problems = validate(g, 0.05, 0.2, 0.01)
            tap.check(not problems, f"{label}: the degraded graph passes the validator", "\n".join(problems[:5]))
            f.es.clear()
            g = f.poll(lambda g, rs: both_fresh(g, rs) and not region(g, "es-region")["metadata"].get("partial"), 10,
                       f"{label}: partial mark gone")
            tap.check(not any(n.get("title") == "partial data from es" for n in region(g, "es-region").get(
                "notices") or []), f"{label}: the partial notice goes away with a complete answer")


def too_many_buckets(tap, tmp):
    for flavor, status in (("es8", 400), ("es7", 503)):
        label = f"too_many_buckets {status} ({flavor})"
        with feeder(tmp, f"tmb-{flavor}", flavor=flavor) as f:
            tap.equal(f.es.fl["tmb_status"], status, f"{label}: the fake answers too_many_buckets with {status}")
            m0 = f.metrics()
            t0, fail0 = f.errors("too_many_buckets", m0), f.failures("es", m0)
            log0 = len(f.log_lines())
            n0 = len(f.searches())
            f.es.inject([{"named": "too_many_buckets"}])
            f.poll(lambda g, rs: len(f.searches()) >= n0 + 5, 10, f"{label}: later refreshes")
            f.watch(0.5)
            sizes = [(json.loads(r["body"])["aggs"]["edges"]["composite"]["size"],
                      json.loads(r["body"])["aggs"]["edges"]["composite"].get("after")) for r in f.searches()[n0:]]
            tap.check(sizes[0][0] == 5000 and sizes[1][0] < 5000 and sizes[1][1] == sizes[0][1],
                      f"{label}: the same page is asked again at once with a smaller composite size", sizes[:3])
            tap.check(all(s < 5000 and s == sizes[1][0] for s, _ in sizes[1:]),
                      f"{label}: the lower size is kept for later refreshes", sizes)
            m1 = f.metrics()
            tap.equal(f.errors("too_many_buckets", m1) - t0, 1, f"{label}: counted once as kind too_many_buckets")
            tap.check(f.failures("es", m1) == fail0 and all(rs == 200 for _, rs in f.ready)
                      and not cause_lines(f.log_lines()[log0:]),
                      f"{label}: not a failed refresh: /readyz 200, no failure logged")
            tap.check(all(both_fresh(g, 200) for g in f.history), f"{label}: the graph stays fresh and complete")


def too_many_buckets_persisting(tap, tmp):
    """A too_many_buckets that lowering the page size cannot cure: the flow fails (bounded), then recovers."""
    label = "too_many_buckets that persists"
    with feeder(tmp, "tmb-persist") as f:
        times, _ = failing_case(tap, f, label, [{"named": "too_many_buckets", "always": True}], "too_many_buckets",
                                ["too_many_buckets_exception even with", "search.max_buckets"], per_request=False)
        bursts = []
        for t in times:
            if bursts and t - bursts[-1][-1] < 0.5:
                bursts[-1].append(t)
            else:
                bursts.append([t])
        tap.check(all(len(b) <= 9 for b in bursts), f"{label}: at most 8 lowerings per refresh",
                  [len(b) for b in bursts])
        sizes = sorted({json.loads(r["body"])["aggs"]["edges"]["composite"]["size"] for r in f.searches()[-3:]})
        print(f"# {label}: composite size after recovery: {sizes} (configured 5000)", flush=True)


def no_aggregations(tap, tmp):
    label = "no aggregations"
    with feeder(tmp, "noaggs") as f:
        m0 = f.metrics()
        e0, fail0 = f.all_errors(m0), f.failures("es", m0)
        log0 = len(f.log_lines())
        n0 = len(f.searches())
        f.es.delete_index(INDEX)  # filebeat-* now matches no index: 200 without "aggregations"
        g = f.poll(lambda g, rs: region(g, "es-region") is None, 10, f"{label}: es-region gone")
        f.watch(1.5)
        raw = f.es.requests[-1]
        tap.check(len(f.searches()) > n0, f"{label}: the flow kept asking", raw["path"])
        tap.check(region(g, "side-region") is not None and all(rs == 200 for _, rs in f.ready),
                  f"{label}: an empty part, not an error: side-region there, /readyz 200")
        m1 = f.metrics()
        tap.check(f.failures("es", m1) == fail0 and f.all_errors(m1) == e0 and not cause_lines(f.log_lines()[log0:]),
                  f"{label}: no failure, no error counted, nothing logged", f.all_errors(m1))
        tap.check(all(region(x, "es-region") is None or not is_stale(region(x, "es-region")) for x in f.history),
                  f"{label}: nothing marked stale")
        f.es.load(INDEX, es_docs())
        tap.completes(lambda: f.poll(both_fresh, 10, f"{label}: es-region back once the index exists"),
                      f"{label}: the es part comes back with the index")


def hits_total_forms(tap, tmp):
    label = "hits.total"
    with feeder(tmp, "hits") as f:
        m0 = f.metrics()
        e0, fail0 = f.all_errors(m0), f.failures("es", m0)
        log0 = len(f.log_lines())
        forms = [("integer", 7), ("object", {"value": 7, "relation": "eq"}), ("minus one", -1),
                 ("gte object", {"value": 10000, "relation": "gte"}), ("absent", None)]
        for name, total in forms:
            service = "total-" + name.replace(" ", "-")
            hits = {"max_score": None, "hits": []}
            if total is not None:
                hits["total"] = total
            key = {"from_service": "198.51.100.7", "to_service": service, "to_region": "es-region",
                   "to_host": service}
            shards = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
            body = {"took": 1, "timed_out": False, "_shards": shards, "hits": hits,
                    "aggregations": {"edges": {"after_key": key, "buckets": [
                        {"key": key, "doc_count": 12, "danger": {"doc_count": 0},
                         "warning": {"doc_count": 0}}]}}}
            # As Elasticsearch pages: a page with buckets has an after_key; the empty page ends.
            last = {"took": 1, "timed_out": False, "_shards": shards, "hits": hits,
                    "aggregations": {"edges": {"buckets": []}}}
            f.es.inject([{"status": 200, "body": body}, {"status": 200, "body": last}])
            try:
                g = f.poll(lambda g, rs: find(region(g, "es-region").get("nodes"), service), 10,
                           f"{label} {name}: its service in the graph")
                c = connection(region(g, "es-region"), "INTERNET", service)
                tap.check(c and c["metadata"].get("normal") == 12, f"{label} {name}: accepted, its bucket counted")
            except TimeoutError as e:
                tap.check(False, f"{label} {name}: accepted, its bucket counted", str(e)[:2000])
        m1 = f.metrics()
        tap.check(f.failures("es", m1) == fail0 and f.all_errors(m1) == e0 and not cause_lines(f.log_lines()[log0:])
                  and all(rs == 200 for _, rs in f.ready),
                  f"{label}: no form is an error (no failure, nothing counted or logged, /readyz 200)",
                  "\n".join(cause_lines(f.log_lines()[log0:])[:5]))


def unusable_answers(tap, tmp):
    """Failures that are not the cluster's fault or choice: no back-off, the next refresh asks again."""
    cut_body = ('{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},'
                '"aggregations":{"edges":{"buckets":[{"key":{"from_service":"198.51')
    cases = [
        ("empty body", [{"named": "empty", "always": True}], "truncated", ["empty answer (HTTP 200)"]),
        ("truncated body (connection cut)", [{"named": "truncated", "always": True}], "cut",
         ["connection closed before the answer was complete"]),
        ("truncated JSON", [{"status": 200, "body": cut_body, "always": True}], "truncated",
         ["answer ends inside its JSON"]),
        ("connection closed without answer", [{"close": True, "always": True}], "cut",
         ["connection closed before the answer was complete"]),
        ("proxy HTML page with 200", [{"status": 200, "content_type": "text/html", "always": True,
                                       "body": "<html><head><title>Portal</title></head><body><h1>Please log in"
                                               "</h1></body></html>"}], "not_json",
         ["answered 200 with something that is not JSON", "Please log in"]),
        ("slower than elasticsearch.timeout", [{"delay": 2.5, "always": True}], "timeout",
         ["no complete answer in time", "(timeout 1s)"]),
    ]
    for label, faults, kind, causes in cases:
        with feeder(tmp, re.sub(r"\W+", "-", label)) as f:
            times, _ = failing_case(tap, f, label, faults, kind, causes)
            # libcurl sends a request again, once, when a reused connection closes without an answer.
            bursts = []
            for t in times:
                if bursts and t - bursts[-1][-1] < 0.3:
                    bursts[-1].append(t)
                else:
                    bursts.append([t])
            gaps = [b[0] - a[0] for a, b in zip(bursts, bursts[1:])]
            tap.check(len(bursts) >= STALE_AFTER and all(g > 0.7 for g in gaps) and all(len(b) <= 2 for b in bursts),
                      f"{label}: asked again once per refresh (no back-off needed, no hot loop)",
                      f"{len(times)} requests in bursts of {[len(b) for b in bursts]}, "
                      f"{[round(g, 2) for g in gaps]}s apart")


def busy_cluster(tap, tmp):
    """429 and 502/503: back off with jitter, at least Retry-After."""
    cases = [
        ("429 Retry-After 2", [{"named": "429", "retry_after": 2, "always": True}], "rate_limited",
         ["answered 429 circuit_breaking_exception", "[parent] Data too large"], 2.0,
         {"named": "429", "retry_after": 7}),
        ("503", [{"named": "503", "always": True}], "unavailable",
         ["answered 503 search_phase_execution_exception", "all shards failed"], 0,
         {"named": "503", "headers": {"Retry-After": "7"}}),
        ("proxy HTML 502", [{"named": "proxy_html_502", "always": True}], "not_json",
         ["answered 502 with something that is not JSON", "502 Bad Gateway"], 0, None),
    ]
    for label, faults, kind, causes, retry_after, long_retry in cases:
        with feeder(tmp, re.sub(r"\W+", "-", label)) as f:
            times, logged = failing_case(tap, f, label, faults, kind, causes)
            after = [r["time"] for r in f.searches() if r["time"] > times[0]] if times else []
            gap = after[0] - times[0] if after else None
            tap.check(gap is not None and max(2.4, retry_after) <= gap <= 6.5,
                      f"{label}: backs off: the next request {gap and round(gap, 2)}s later "
                      f"(5s with equal jitter: 2.5..5s{', at least Retry-After' if retry_after else ''})")
            reminders = [l for l in f.log_lines() if "backing off until" in l]
            secs = backoff_seconds(reminders)
            tap.check(secs and max(secs) <= 5, f"{label}: the refreshes during the back-off say so (<= 5 s)",
                      reminders[:2])
            if long_retry:
                # A Retry-After longer than the longest jittered first back-off (5 s) must win.
                f.watch(1)
                n0 = len(f.searches())
                f.es.inject([long_retry])
                f.poll(lambda g, rs: len(f.searches()) >= n0 + 2, 15, "the request after a Retry-After: 7")
                reqs = f.searches()[n0:]
                gap = reqs[1]["time"] - reqs[0]["time"]
                # 7 s from the end of the answer, measured here from the arrival of the request on
                # another clock: a few milliseconds of slack (a run measured 6.99 s once).
                tap.check(6.95 <= gap <= 9.0, f"{label.split()[0]} with Retry-After 7: no request before it expires "
                          f"({gap:.2f}s)")
                f.poll(both_fresh, 5, "recovery after Retry-After: 7")


def backoff_seconds(lines):
    """Seconds from each log line's own time to the deadline it names:
    'TIME warn flow 'es' failed: backing off until DEADLINE after ...'."""
    out = []
    for line in lines:
        stamp = re.match(r"(\S+Z) ", line)
        until = re.search(r"backing off until (\S+Z) after", line)
        if stamp and until:
            delta = datetime.fromisoformat(until.group(1)) - datetime.fromisoformat(stamp.group(1))
            out.append(round(delta.total_seconds()))
    return out


def configuration_errors(tap, tmp):
    """401/403/404/400: one line with Elasticsearch's own type and reason, a minute of back-off."""
    probe = FakeElasticsearch()
    search_uri = None
    cases = [
        ("401", "unauthorized", "unauthorized", "security_exception", None),
        ("403", "forbidden", "forbidden", "security_exception", None),
        ("404 index_not_found", "not_found", "not_found", "index_not_found_exception", "no such index [filebeat-*]"),
        ("400 parsing_exception", "bad_request", "bad_request", "parsing_exception",
         "unknown query [termm] did you mean any of [term, terms]?"),
    ]
    for label, named, kind, etype, reason in cases:
        with feeder(tmp, f"config-{named}") as f:
            search_uri = search_uri or f.searches()[0]["path"]
            if named == "unauthorized":
                reason = probe.unauthorized(search_uri).body["error"]["reason"]
            elif named == "forbidden":
                body = FORBIDDEN_BODY if isinstance(FORBIDDEN_BODY, dict) else json.loads(FORBIDDEN_BODY)
                reason = body["error"]["reason"]
            status = label.split()[0]
            n0 = len(f.searches())
            times, logged = failing_case(tap, f, label, [{"named": named, "always": True}], kind,
                                         [f"answered {status} {etype}: {reason}", "flow 'es'"], recover=False)
            faulted = f.searches()[n0:]
            tap.check(len(faulted) == 1, f"{label}: no retry loop: one request in "
                      f"{faulted and round(time.time() - faulted[0]['time'], 1)}s of failing ({len(faulted)} sent)")
            tap.equal(len(logged), 1, f"{label}: exactly one line gives the cause")
            reminders = [l for l in f.log_lines() if "backing off until" in l]
            secs = backoff_seconds(reminders)
            tap.check(secs and min(secs) >= 50, f"{label}: later refreshes say it backs off for about a minute",
                      reminders[:1])


def host_failover(tap, tmp):
    label = "refused host, then a closing host, then a working one"
    # A closed port (connection refused) and a port that accepts and closes at once (counted).
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    refused = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    closer = socket.socket()
    closer.bind(("127.0.0.1", 0))
    closer.listen(16)
    closer.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = closer.accept()
            except OSError:
                continue
            accepted.append(time.time())
            c.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        closing = f"http://127.0.0.1:{closer.getsockname()[1]}"
        with feeder(tmp, "failover", extra_hosts_before=[refused, closing]) as f:
            f.watch(4)
            m = f.metrics()
            tap.check(all(both_fresh(g, 200) for g in f.history) and all(rs == 200 for _, rs in f.ready),
                      f"{label}: the graph is fresh from the first refresh on, /readyz 200")
            tap.check(f.failures("es", m) == 0 and not cause_lines(f.log_lines()),
                      f"{label}: no failed refresh, nothing logged as a failure")
            tap.check(len(f.searches()) >= 8, f"{label}: the working host answers every page",
                      len(f.searches()))
            tap.equal(len(accepted), 1, f"{label}: the dead hosts are skipped on later requests "
                      f"(the closing host was tried once in {len(f.history)} graphs)")
    finally:
        stop.set()
        th.join(2)
        closer.close()


def unresolvable_host(tap, tmp):
    label = "unresolvable host"
    host = "http://nonexistent.invalid:9200"
    with feeder(tmp, "unresolvable", es_hosts=[host], wait_first=False) as f:
        g = f.poll(lambda g, rs: f.failures("es") >= STALE_AFTER + 1, 15, f"{label}: failed refreshes")
        f.watch(0.5)
        m = f.metrics()
        lines = cause_lines(f.log_lines())
        tap.check(lines and all(host in l and "does not resolve" in l for l in lines),
                  f"{label}: each failure logged with the flow, the host and 'does not resolve'", "\n".join(lines[:2]))
        tap.check(int(f.errors("resolve", m)) >= STALE_AFTER and not_repeated(f.log_lines()),
                  f"{label}: counted as kind resolve; the unchanged failure logged once")
        # A flow that never answered feeds no region of its own, so after three
        # failures every region says data may be missing.
        tap.check(all(s == 200 for s in f.statuses) and region(g, "side-region") and is_stale(
            region(g, "side-region")), f"{label}: the side flow's graph is served, marked stale for the missing flow")
        tap.check(region(g, "es-region") is None, f"{label}: the flow never answered: no es part to carry over")
        tap.check(all(rs == 503 for _, rs in f.ready), f"{label}: /readyz 503 (a flow has never answered)")


def body_over_size_cap(tap, tmp):
    # ES_MAX_ANSWER (256 MiB, src/es_client.h) is a compile-time constant with no configuration key;
    # streaming 256 MiB through the fake would take minutes.
    tap.skip("body over the size cap", "ES_MAX_ANSWER is 256 MiB and not configurable; "
             "covered by tests/unit/test_es_client.c test_answer_too_large (kind too_large)")


def main():
    tap = Tap()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for group in (degraded_answers, too_many_buckets, too_many_buckets_persisting, no_aggregations,
                      hits_total_forms, unusable_answers, busy_cluster, configuration_errors, host_failover,
                      unresolvable_host, body_over_size_cap):
            t0 = time.time()
            tap.run(group, tmp)
            print(f"# {group.__name__}: {time.time() - t0:.1f}s", flush=True)
    print(f"# total {time.time() - started:.1f}s", flush=True)
    tap.done()


main()
