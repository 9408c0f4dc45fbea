"""Windows on a grid (issue 15 item 1): two daemons with the same configuration, started at
different moments, serve the same bytes and the same ETag for the same window. The window
end is now - lag rounded down to a multiple of the interval, and nothing in the graph depends
on what a process saw before: the second daemon starts after a burst of traffic has left the
window, which the first one saw (a maxVolume remembered from it would differ)."""
import json
import os
import tempfile
import time

from vizlib import Daemon, Tap, poll, validate, write

INTERVAL_MS = 2000
CONFIG = """
refresh: { interval: 2s, window: 4s, lag: 0s }
topology:
  - match: /^(web|api|db)$/
    service: "\\\\1"
    region: dc1
flows:
  - name: access
    type: file
    path: events.ndjson
    from: { service: source.service }
    to: { service: destination.service }
"""


def stamp(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def event(ms, src, dst):
    return json.dumps({"@timestamp": stamp(ms), "source": {"service": src}, "destination": {"service": dst}})


def max_volume(body):
    return next(n["maxVolume"] for n in json.loads(body)["nodes"] if n.get("name") == "dc1")


def identity(d):
    status, headers, body = d.request("GET", "/vizceral.json")
    return (json.loads(body)["updated"], body, headers.get("etag")) if status == 200 else None


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        now = int(time.time() * 1000)
        lines = []
        # Steady traffic from a minute ago to two minutes ahead, 5 calls a second each way...
        for ms in range(now - 60000, now + 120000, 200):
            lines.append(event(ms, "web", "api"))
            lines.append(event(ms + 100, "api", "db"))
        # ...and a burst of 2,000 calls in the second after now, which only the first daemon sees.
        burst_end = now + 1000
        for i in range(2000):
            lines.append(event(now + i // 2, "web", "api"))
        write(os.path.join(tmp, "events.ndjson"), "\n".join(lines) + "\n")
        write(os.path.join(tmp, "vizfeed.yml"), CONFIG)
        with Daemon(["-c", "vizfeed.yml"], cwd=tmp) as a:
            seen = tap.within(lambda: (lambda g: g and burst_end < g[0] <= burst_end + 4000 and g)(identity(a)),
                              "the first daemon serves a window with the burst", a)
            # The burst falls out of the first daemon's window before the second starts.
            tap.within(lambda: (lambda g: g and g[0] - 4000 > burst_end)(identity(a)),
                       "the burst leaves the first daemon's window", a, timeout=30)
            with Daemon(["-c", "vizfeed.yml"], cwd=tmp) as b:
                def same_window():
                    x, y = identity(a), identity(b)
                    return x and y and x[0] == y[0] and (x, y)

                pair = tap.within(same_window, "both daemons serve the same window", b, timeout=30)
                if pair:
                    (end, body_a, etag_a), (_, body_b, etag_b) = pair
                    tap.check(end % INTERVAL_MS == 0, "its end is on the interval's grid", end)
                    tap.check(body_a == body_b, "the same bytes",
                              f"{body_a[:300]!r}\n{body_b[:300]!r}")
                    tap.check(etag_a == etag_b and etag_a, "the same ETag", f"{etag_a} {etag_b}")
                    problems = validate(json.loads(body_a))
                    tap.check(not problems, "the graph passes the validator", "\n".join(problems[:5]))
                # A later window too: they move on the grid together.
                later = poll(lambda: (lambda p: p and p[0][0] > (pair[0][0] if pair else 0) and p)(same_window()), 30)
                tap.check(bool(later) and later[0][1] == later[1][1], "a later window: the same bytes again")
            if seen and pair:
                tap.check(max_volume(seen[1]) > max_volume(pair[0][1]),
                          "the burst raised the first daemon's maxVolume then (what a decay would have kept)",
                          f"{max_volume(seen[1])} then, {max_volume(pair[0][1])} now")
    tap.done()


main()
