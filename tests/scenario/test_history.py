"""Any past moment (issue 15 item 2): GET /vizceral.json?at=T answers the bytes of
`vizfeed once --at T` with the same configuration, through file, elasticsearch (the test
Elasticsearch) and replay flows (a recorded window answers its refresh, an unrecorded one is a
502 that says so); T is rounded down to the interval's grid; a second request
is a cache hit (/metrics) and If-None-Match gives 304; an old window is immutable; a bad T
is a 400 that says why; past windows beyond the workers and their queue get 503 with
Retry-After while the live graph keeps being answered."""
import datetime
import json
import os
import tempfile
import time

from esdata import AT, config, es_config, file_config, loaded_es
from vizlib import (HISTORY_QUEUE, HISTORY_WORKERS, Daemon, Tap, check_bad_requests, check_history_busy,
                    check_history_cache, check_same_as_printed, printed, reason_of, run, validate)

AT_MS = 1767225720000  # AT in epoch ms


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def past(d, t, headers=None):
    return d.request("GET", "/vizceral.json?at=" + t, headers)


def same_as_once(tap, d, cfg, times, what):
    """Every T of times through ?at= equals `once --at T`, in this order (later windows before
    earlier ones: a worker's refresher must not answer an earlier window from what it dropped)."""
    for t in times:
        status, _, body = check_same_as_printed(tap, d, "/vizceral.json?at=" + t, ["once", "-c", cfg, "--at", t],
                                                f"{what}: ?at={t} is the bytes of once --at {t}")
        if status == 200:
            problems = validate(json.loads(body), 0.05, 0.2, 0.01)
            tap.check(not problems, f"{what}: the past graph of {t} passes the validator", "\n".join(problems[:5]))


def file_flow(tap, tmp):
    cfg = file_config(tmp)
    with Daemon(["-c", cfg]) as d:
        times = [iso(AT_MS + 60000), AT, iso(AT_MS + 70000), iso(AT_MS - 30000), iso(AT_MS + 30000), iso(AT_MS - 50000)]
        same_as_once(tap, d, cfg, times, "file flow")
        # Off the grid: rounded down, the same bytes as the grid point, in every spelling.
        _, _, on_grid = past(d, AT)
        graph = json.loads(on_grid)
        tap.equal(graph["updated"], AT_MS, "the past graph's updated is its window end")
        for t in ("2026-01-01T00:02:07Z", str(AT_MS + 9999), "2026-01-01T01:02:05%2B01:00", "2026-01-01T01:02:05+01:00"):
            status, _, body = past(d, t)
            tap.check(status == 200 and body == on_grid, f"?at={t} is rounded down to the grid point {AT}",
                      f"status {status}: {body[:200]!r}")
        # Caching: a repeated window is a hit; its ETag gives 304; old windows are immutable.
        check_history_cache(tap, d, "/vizceral.json?at=" + AT, "graph", "a window", "a window older than lag + settle")
        # A recent window may still change: a short max-age, not immutable.
        status, headers, _ = past(d, "-1s")
        cc = headers.get("cache-control", "")
        tap.check(status == 200 and "immutable" not in cc and ("max-age=" in cc or cc == "no-cache"),
                  "a recent window is not immutable", cc)
        # The live graph is untouched by all of this.
        live = d.graph()
        tap.check(live["updated"] % 10000 == 0 and live["updated"] > AT_MS, "the live graph is served on its grid",
                  live["updated"])
        bad(tap, d)
        m = d.metrics()
        tap.check(m.get('vizfeed_history_requests_total{kind="graph"}', 0) >= len(times) + 6,
                  "/metrics counts past-window requests", m.get('vizfeed_history_requests_total{kind="graph"}'))
        tap.check(m.get('vizfeed_history_compute_seconds_total{kind="graph"}', 0) > 0,
                  "/metrics counts compute seconds")


def bad(tap, d):
    cases = [("2099-01-01T00:00:00Z", "in the future"), ("now%2B5m", "expected a time"), ("yesterday", "expected a time"),
             ("-60000d", "before 1970"), ("", "empty"), ("-1h&at=-2h", "twice"), ("%zz", "percent")]
    check_bad_requests(tap, d, "/vizceral.json", [("at=" + t, why) for t, why in cases])


def searches_for(es, end_ms):
    out = []
    for r in es.requests:
        if not r["path_only"].endswith("/_search"):
            continue
        rng = json.loads(r["body"])["query"]["bool"]["filter"][0]["range"]["@timestamp"]
        if rng["lt"] == end_ms:
            out.append(r)
    return out


def elasticsearch_flow(tap, tmp):
    with loaded_es() as es:
        cfg = es_config(tmp, "es", es, 4)
        before = len(searches_for(es, AT_MS))
        expected, stderr = printed(["once", "-c", cfg, "--at", AT])
        pages = len(searches_for(es, AT_MS)) - before
        tap.check(expected is not None and pages >= 5, f"once --at pages through the window ({pages} searches)", stderr)
        with Daemon(["-c", cfg]) as d:
            same_as_once(tap, d, cfg, [iso(AT_MS + 60000), AT, iso(AT_MS - 20000)], "elasticsearch flow")
            sent = len(searches_for(es, AT_MS)) - before - 2 * pages  # the second `once` above
            tap.equal(sent, pages, "a past window costs Elasticsearch exactly one window's aggregation")
            for _ in range(3):
                past(d, AT)
            tap.equal(len(searches_for(es, AT_MS)) - before - 2 * pages, pages, "cached windows cost nothing more")


def replay_flow(tap, tmp):
    rec = os.path.join(tmp, "rec")
    with loaded_es() as es:
        live = es_config(tmp, "live", es, 7)
        for t in (AT, iso(AT_MS - 30000)):
            r = run(["once", "-c", live, "--at", t, "--record", rec])
            tap.check(r.returncode == 0, f"the refresh of {t} recorded", r.stderr)
    replay = config(os.path.join(tmp, "replay.yml"), f"type: replay\n    path: {os.path.join(rec, 'access')}")
    with Daemon(["-c", replay]) as d:
        # Each recorded window answers its own refresh, in any order (a replay answered the next
        # recorded refresh, whatever the window, before).
        same_as_once(tap, d, replay, [AT, iso(AT_MS - 30000), AT], "replay flow")
        _, _, a = past(d, AT)
        _, _, b = past(d, iso(AT_MS - 30000))
        tap.check(a != b and json.loads(a)["updated"] == AT_MS, "two recorded windows, two graphs")
        # A window that was not recorded: a clear error, as `once --at` says it, never another graph.
        unrecorded = iso(AT_MS - 60000)
        status, _, body = past(d, unrecorded)
        reason = reason_of(status, body, 502)
        r = run(["once", "-c", replay, "--at", unrecorded])
        tap.check(status == 502 and "flow 'access'" in reason and "was not recorded" in reason
                  and "2 refreshes" in reason, f"?at={unrecorded}, not recorded: 502 with the reason", f"{status}: {reason}")
        tap.check(r.returncode != 0 and "was not recorded" in r.stderr and not r.stdout,
                  "and `once --at` fails with the same reason", r.stderr)
        # The live replay goes on: the daemon's windows are after the recorded ones.
        live_graph = d.graph()
        tap.check(live_graph["updated"] > AT_MS and live_graph.get("nodes"), "the live replay still publishes graphs",
                  live_graph.get("updated"))


def busy(tap, tmp):
    """More distinct past windows at once than workers + queue: the rest get 503 with
    Retry-After at once, the accepted ones are answered, the live graph keeps being served."""
    with loaded_es() as es:
        cfg = es_config(tmp, "slow", es, 1000)
        with Daemon(["-c", cfg]) as d:
            n = HISTORY_WORKERS + HISTORY_QUEUE + 6
            times = [iso(AT_MS - 10000 * k) for k in range(n)]
            answers = check_history_busy(tap, d, es, ["/vizceral.json?at=" + t for t in times], "graph",
                                         "past windows")
            tap.check(all(json.loads(a[2])["updated"] in [AT_MS - 10000 * k for k in range(n)]
                          for a in answers if a[0] == 200), "the served ones are their windows")
            status, _, _ = past(d, times[-1])
            tap.check(status == 200, "once the workers are free, a refused window is served", status)


def once_on_the_grid(tap, tmp):
    """`once --at` and `query --at` round T down to the grid and read relative times."""
    a = run(["once", "--demo", "--at", "2026-03-01T12:00:07Z"])
    b = run(["once", "--demo", "--at", "2026-03-01T12:00:00Z"])
    tap.check(a.returncode == 0 and a.stdout == b.stdout and json.loads(a.stdout)["updated"] == 1772366400000,
              "once --at T is rounded down to the interval's grid", a.stderr)
    before = int(time.time() * 1000)
    r = run(["once", "--demo", "--at", "-15m"])
    end = json.loads(r.stdout)["updated"] if r.returncode == 0 else -1
    tap.check(end % 10000 == 0 and before - 900000 - 10000 < end <= int(time.time() * 1000) - 900000,
              "once --at -15m: fifteen minutes ago, on the grid", f"{end} {r.stderr}")
    r = run(["once", "--demo", "--at", "-15x"])
    tap.check(r.returncode == 2 and "-15x" in r.stderr, "a bad relative --at is a usage error naming it", r.stderr)
    cfg = config(os.path.join(tmp, "q.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                 es="elasticsearch: { hosts: [http://127.0.0.1:9] }")
    q = run(["query", "-c", cfg, "--at", "2026-01-01T00:02:09.999Z"])
    tap.check(q.returncode == 0 and f'"lt":{AT_MS}' in q.stdout.replace(" ", ""), "query --at is on the grid too",
              q.stdout[:300] + q.stderr)


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        tap.run(once_on_the_grid, tmp)
        tap.run(file_flow, tmp)
        tap.run(elasticsearch_flow, tmp)
        tap.run(replay_flow, tmp)
        tap.run(busy, tmp)
    tap.done()


main()
