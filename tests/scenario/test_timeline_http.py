"""GET /timeline.json (issue 15 item 3) through the history pool: its bytes are those of
`vizfeed timeline` with the same arguments (file flow, the test Elasticsearch), by region and
by service; defaults (to=now, from=to-6h, the default step) and relative times; a range the
timeline refuses is a 400 that says why; a second request is a cache hit in /metrics, its ETag
gives 304, an old timeline is immutable and a recent one is not; a flow that fails is a 502
with the reason; timelines beyond the workers and their queue get 503 with Retry-After."""
import json
import os
import tempfile
import time
import urllib.parse

from esdata import es_config, file_config, loaded_es
from vizlib import (HISTORY_QUEUE, HISTORY_WORKERS, Daemon, Tap, check_bad_requests, check_history_busy,
                    check_history_cache, check_same_as_printed, reason_of)

FROM, TO = "2026-01-01T00:00:00Z", "2026-01-01T00:02:00Z"  # the events of esdata.events()
FROM_MS = 1767225600000
HOUR = 3600 * 1000


def get(d, query, headers=None):
    return d.request("GET", "/timeline.json" + ("?" + query if query else ""), headers)


def q(**kw):
    return urllib.parse.urlencode(kw)


def same_as_cli(tap, d, cfg, what, **kw):
    args = []
    for k, v in kw.items():
        args += ["--" + k, v]
    return check_same_as_printed(tap, d, "/timeline.json?" + q(**kw), ["timeline", "-c", cfg] + args,
                                 f"{what}: /timeline.json?{q(**kw)} is the bytes of `timeline {' '.join(args)}`")


def file_flow(tap, tmp):
    cfg = file_config(tmp)
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
        first = check_history_cache(tap, d, "/timeline.json?" + q(**{"from": FROM, "to": TO, "step": "10s"}),
                                    "timeline", "a timeline", "a timeline whose `to` is older than lag + settle")
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
    check_bad_requests(tap, d, "/timeline.json", cases)


def elasticsearch_flow(tap, tmp):
    with loaded_es() as es:
        cfg = es_config(tmp, "es", es, 4)
        with Daemon(["-c", cfg]) as d:
            same_as_cli(tap, d, cfg, "elasticsearch flow", **{"from": FROM, "to": TO, "step": "20s"})
            same_as_cli(tap, d, cfg, "elasticsearch flow, one region", **{"from": FROM, "to": TO, "step": "20s",
                                                                         "region": "us-east-1"})
            es.inject({"named": "shard_failures", "always": True})
            status, _, body = get(d, q(**{"from": FROM, "to": TO, "step": "40s"}))
            es.clear()
            reason = reason_of(status, body, 502)
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
        reason = reason_of(status, body, 404)
        tap.check(status == 404 and "flow 'spans' (resolve_callee)" in reason,
                  "a flow without a timeline: 404 that names it", f"{status}: {reason}")
        m = d.metrics()
        tap.equal(m.get('vizfeed_history_computed_total{kind="timeline"}', 0), 0, "and nothing was computed")


def busy(tap, tmp):
    """More distinct timelines at once than workers + queue: the rest get 503 with Retry-After
    at once, the accepted ones are answered, the live graph keeps being served."""
    with loaded_es() as es:
        cfg = es_config(tmp, "slow", es, 1000)
        with Daemon(["-c", cfg]) as d:
            n = HISTORY_WORKERS + HISTORY_QUEUE + 6
            paths = ["/timeline.json?" + q(**{"from": FROM, "to": TO, "step": f"{10 + k}s"}) for k in range(n)]
            check_history_busy(tap, d, es, paths, "timeline", "timelines")


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        tap.run(file_flow, tmp)
        tap.run(elasticsearch_flow, tmp)
        tap.run(no_timeline, tmp)
        tap.run(busy, tmp)
    tap.done()


main()
