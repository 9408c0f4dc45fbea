"""GET /timeline.json (issue 15 item 3) through the history pool: its bytes are those of
`vizfeed timeline` with the same arguments (file flow, the test Elasticsearch), by region and
by service; defaults (to=now, from=to-6h, the default step) and relative times; a range the
timeline refuses is a 400 that says why; a second request is a cache hit in /metrics, its ETag
gives 304, an old timeline is immutable and a recent one is not; a flow that fails is a 502
with the reason; timelines beyond the workers and their queue get 503 with Retry-After."""
import concurrent.futures
import http.client
import json
import os
import tempfile
import time
import urllib.parse

from esdata import INDEX, FakeElasticsearch, config, events, write_ndjson
from vizlib import Daemon, Tap, run

FROM, TO = "2026-01-01T00:00:00Z", "2026-01-01T00:02:00Z"  # the events of esdata.events()
FROM_MS = 1767225600000
HOUR = 3600 * 1000
WORKERS, QUEUE = 2, 4  # VIZ_HISTORY_WORKERS, VIZ_HISTORY_QUEUE (src/bounds.h)


def get(d, query, headers=None):
    return d.request("GET", "/timeline.json" + ("?" + query if query else ""), headers)


def cli(cfg, args):
    r = run(["timeline", "-c", cfg] + args)
    return (r.stdout[:-1].encode() if r.returncode == 0 and r.stdout.endswith("\n") else None), r.stderr


def q(**kw):
    return urllib.parse.urlencode(kw)


def same_as_cli(tap, d, cfg, what, **kw):
    args = []
    for k, v in kw.items():
        args += ["--" + k, v]
    status, headers, body = get(d, q(**kw))
    expected, stderr = cli(cfg, args)
    tap.check(status == 200 and expected is not None and body == expected,
              f"{what}: /timeline.json?{q(**kw)} is the bytes of `timeline {' '.join(args)}`",
              f"status {status}: {body[:300]!r} vs {(expected or b'')[:300]!r} {stderr}")
    return status, headers, body


def file_flow(tap, tmp):
    path = write_ndjson(os.path.join(tmp, "ev.ndjson"), events())
    cfg = config(os.path.join(tmp, "file.yml"), f"type: file\n    path: {path}")
    with Daemon(["-c", cfg]) as d:
        status, headers, body = same_as_cli(tap, d, cfg, "file flow", **{"from": FROM, "to": TO, "step": "10s"})
        tl = json.loads(body) if status == 200 else {}
        tap.check(tl.get("step_ms") == 10000 and len(tl.get("points", [])) == 12
                  and tl["points"][0]["t"] == FROM_MS and sum(p["rps"] for p in tl["points"]) > 0,
                  "twelve points of 10 s from `from`, with traffic", str(tl)[:300])
        tap.check(headers.get("content-type") == "application/json" and headers.get("access-control-allow-origin") == "*",
                  "Content-Type application/json, CORS as the graph", headers)
        same_as_cli(tap, d, cfg, "file flow, one region", **{"from": FROM, "to": TO, "step": "30s",
                                                            "region": "eu-west-1"})
        same_as_cli(tap, d, cfg, "file flow, the default step", **{"from": FROM, "to": TO})

        # Caching: the same timeline again is a hit; its ETag gives 304; an old one is immutable.
        query = q(**{"from": FROM, "to": TO, "step": "10s"})
        before = d.metrics()
        status, headers, first = get(d, query)
        after = d.metrics()
        hits = after['vizfeed_history_cache_hits_total{kind="timeline"}'] - before['vizfeed_history_cache_hits_total{kind="timeline"}']
        computed = (after['vizfeed_history_computed_total{kind="timeline"}']
                    - before['vizfeed_history_computed_total{kind="timeline"}'])
        tap.check(status == 200 and hits == 1 and computed == 0, "a second request for a timeline is a cache hit",
                  f"hits +{hits}, computed +{computed}")
        tap.check(headers.get("cache-control") == "public, max-age=31536000, immutable",
                  "a timeline whose `to` is older than lag + settle is immutable", headers.get("cache-control"))
        etag = headers.get("etag", "")
        tap.check(etag.startswith('"') and not etag.startswith("W/"), "with a strong ETag", etag)
        status, headers, body = get(d, query, {"If-None-Match": etag})
        tap.check(status == 304 and body == b"" and headers.get("etag") == etag, "If-None-Match: its ETag gives 304",
                  f"status {status}")
        status, headers, gz = get(d, query, {"Accept-Encoding": "gzip"})
        tap.check(status == 200 and headers.get("content-encoding") == "gzip" and headers.get("etag") != etag,
                  "gzip is its own representation with its own ETag", headers)
        # A different rounding of the same range is the same timeline (and a hit).
        status, _, again = get(d, q(**{"from": "2026-01-01T00:00:07Z", "to": "2026-01-01T00:02:09.999Z",
                                        "step": "10s"}))
        tap.check(status == 200 and again == first, "from and to are rounded down to the step", again[:200])

        # Relative times and the defaults.
        now = int(time.time() * 1000)
        status, headers, body = get(d, q(**{"from": "-3h", "to": "-30m", "step": "30m"}))
        later = int(time.time() * 1000)
        tl = json.loads(body) if status == 200 else {}
        starts = [p["t"] for p in tl.get("points", [])]
        ok = any(starts == list(range((t - 3 * HOUR) // 1800000 * 1800000, (t - HOUR // 2) // 1800000 * 1800000,
                                      1800000)) for t in (now, later))
        tap.check(status == 200 and ok and len(starts) == 5, "from=-3h&to=-30m: relative to now, rounded to the step",
                  f"{status} {starts} {body[:200]!r}")
        status, headers, body = get(d, q(**{"from": "-10m", "to": "now", "step": "1m"}))
        cc = headers.get("cache-control", "")
        tap.check(status == 200 and "immutable" not in cc and ("max-age=" in cc or cc == "no-cache"),
                  "a recent timeline is not immutable", cc)
        status, _, body = get(d, "")
        tl = json.loads(body) if status == 200 else {}
        # 6 h in 1440 points at most: 15 s, the next multiple of the 10 s interval is 20 s.
        tap.check(status == 200 and tl.get("step_ms") == 20000 and len(tl.get("points", [])) == 1080,
                  "no query: the last 6 hours in steps of the interval's smallest fitting multiple",
                  f"{status} step {tl.get('step_ms')} {len(tl.get('points', []))} points {body[:200]!r}")

        bad(tap, d)
        m = d.metrics()
        tap.check(m.get('vizfeed_http_requests_total{path="/timeline.json",code="200"}', 0) >= 8
                  and m.get('vizfeed_http_requests_total{path="/timeline.json",code="400"}', 0) >= 8,
                  "/metrics counts /timeline.json answers by status",
                  {k: v for k, v in m.items() if "timeline" in k})
        tap.check(m.get('vizfeed_history_compute_seconds_total{kind="timeline"}', 0) > 0,
                  "/metrics counts the timelines' compute seconds")


def bad(tap, d):
    cases = [(q(step="0s"), "positive"), (q(step="soon"), "positive duration"),
             (q(**{"from": TO, "to": FROM}), "no whole step"), (q(**{"from": "-2d", "step": "1m"}), "at most 1440"),
             (q(to="2099-01-01T00:00:00Z"), "in the future"), (q(**{"from": "yesterday"}), "expected a time"),
             (q(at="-1h"), "at= is for /vizceral.json"), ("region=", "empty"), ("from=-1h&from=-2h", "twice"),
             ("to=%zz", "percent")]
    for query, why in cases:
        status, headers, body = get(d, query)
        reason = json.loads(body).get("reason", "") if status == 400 else body
        tap.check(status == 400 and why in reason, f"?{query} is a 400 that says '{why}'", f"{status}: {reason}")


def elasticsearch_flow(tap, tmp):
    with FakeElasticsearch() as es:
        es.load(INDEX, events())
        cfg = config(os.path.join(tmp, "es.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                     es=f"elasticsearch: {{ hosts: [{es.url}], page_size: 4 }}")
        with Daemon(["-c", cfg]) as d:
            same_as_cli(tap, d, cfg, "elasticsearch flow", **{"from": FROM, "to": TO, "step": "20s"})
            same_as_cli(tap, d, cfg, "elasticsearch flow, one region", **{"from": FROM, "to": TO, "step": "20s",
                                                                         "region": "us-east-1"})
            es.inject({"named": "shard_failures", "always": True})
            status, _, body = get(d, q(**{"from": FROM, "to": TO, "step": "40s"}))
            es.clear()
            reason = json.loads(body).get("reason", "") if status == 502 else body
            tap.check(status == 502 and "flow 'access'" in reason, "a flow that fails: 502 with the reason",
                      f"{status}: {reason}")


def no_timeline(tap, tmp):
    """A flow whose source has no timeline (otel-spans resolves callees through a companion
    query): 404 with the reason, as a vizfeed without the route, said before any work."""
    spans = os.path.join(tmp, "spans.ndjson")
    open(spans, "w").close()
    cfg = os.path.join(tmp, "spans.yml")
    with open(cfg, "w") as f:
        f.write("refresh: { interval: 2s, window: 5m, lag: 0s }\nflows:\n"
                f"  - {{ name: spans, type: file, path: {json.dumps(spans)}, preset: otel-spans }}\n")
    with Daemon(["-c", cfg]) as d:
        status, _, body = get(d, "")
        reason = json.loads(body).get("reason", "") if status == 404 else body
        tap.check(status == 404 and "flow 'spans' (resolve_callee)" in reason,
                  "a flow without a timeline: 404 that names it", f"{status}: {reason}")
        m = d.metrics()
        tap.equal(m.get('vizfeed_history_computed_total{kind="timeline"}', 0), 0, "and nothing was computed")


def slow_get(d, path, timeout=120):
    """d.request with room for a queue of slow computations (its own timeout is 10 s)."""
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def busy(tap, tmp):
    """More distinct timelines at once than workers + queue: the rest get 503 with Retry-After
    at once, the accepted ones are answered, the live graph keeps being served."""
    with FakeElasticsearch() as es:
        es.load(INDEX, events())
        cfg = config(os.path.join(tmp, "slow.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                     es=f"elasticsearch: {{ hosts: [{es.url}], page_size: 1000 }}")
        with Daemon(["-c", cfg]) as d:
            d.wait_for(lambda: d.request("GET", "/vizceral.json")[0] == 200, what="a first live graph")
            es.inject({"delay": 1, "always": True, "path": "_search"})
            n = WORKERS + QUEUE + 6
            queries = [q(**{"from": FROM, "to": TO, "step": f"{10 + k}s"}) for k in range(n)]
            with concurrent.futures.ThreadPoolExecutor(n) as pool:
                futures = [pool.submit(slow_get, d, "/timeline.json?" + query) for query in queries]
                status, _, _ = d.request("GET", "/vizceral.json")
                tap.check(status == 200, "the live graph is answered while timelines are computed")
                answers = [f.result(timeout=240) for f in futures]
            refused = [a for a in answers if a[0] == 503]
            served = [a for a in answers if a[0] == 200]
            tap.check(len(refused) + len(served) == n and len(served) >= WORKERS + QUEUE and refused,
                      f"{len(served)} timelines served, {len(refused)} refused with 503 (workers + queue = "
                      f"{WORKERS + QUEUE})", [a[0] for a in answers])
            tap.check(all(a[1].get("retry-after", "").isdigit() and int(a[1]["retry-after"]) >= 1 for a in refused)
                      and all(json.loads(a[2]).get("error") == "busy" for a in refused),
                      "every 503 says Retry-After in seconds, and why", [a[1].get("retry-after") for a in refused])
            m = d.metrics()
            tap.equal(m.get('vizfeed_history_busy_total{kind="timeline"}'), float(len(refused)),
                      "/metrics counts the 503s")
            es.clear()


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        tap.run(file_flow, tmp)
        tap.run(elasticsearch_flow, tmp)
        tap.run(no_timeline, tmp)
        tap.run(busy, tmp)
    tap.done()


main()
