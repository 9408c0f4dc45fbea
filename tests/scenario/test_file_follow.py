"""A file flow follows its NDJSON file as it grows, through rotation and
truncation; malformed lines are counted, never fatal."""
import json
import os
import tempfile
import time

from vizlib import Daemon, Tap, connection, region, write


def event(service, n=1):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))  # inside the window at once
    return "".join(json.dumps({"@timestamp": now, "service": {"name": service}}) + "\n" for _ in range(n))


def rate(d, service):
    r = region(d.graph(), "default")
    c = connection(r, "INTERNET", service) if r else None
    return c["metrics"].get("normal", 0) if c else 0


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        events = os.path.join(tmp, "events.ndjson")
        write(events, event("alpha", 60))
        config = write(os.path.join(tmp, "vizfeed.yml"), f"""
refresh: {{ interval: 500ms, window: 1m, lag: 0s }}
flows:
  - name: follow
    type: file
    path: {events}
    to: {{ service: service.name }}
""")
        with Daemon(["-c", config]) as d:
            d.wait_for(lambda: rate(d, "alpha") == 1, what="alpha at 1/s")
            tap.check(True, "reads the file at start")

            with open(events, "a") as f:
                f.write(event("alpha", 60))
                f.write('{"not": "closed"\n')
                f.write(event("beta", 30)[:-1])  # a partial last line ...
            d.wait_for(lambda: rate(d, "alpha") == 2, what="alpha at 2/s")
            tap.check(True, "follows appended lines")
            with open(events, "a") as f:
                f.write("\n")  # ... completed later
            d.wait_for(lambda: rate(d, "beta") == 0.5, what="beta at 0.5/s")
            tap.check(True, "a partial last line is read once completed")

            os.rename(events, events + ".1")
            write(events, event("gamma", 60))
            d.wait_for(lambda: rate(d, "gamma") == 1, what="gamma after rotation")
            tap.equal(rate(d, "alpha"), 2, "rotation keeps what was read before")

            with open(events, "w") as f:
                f.write(event("delta", 6))
            d.wait_for(lambda: rate(d, "delta") == 0.1, what="delta after truncation")
            tap.check(True, "truncation is followed")

            metrics = d.request("GET", "/metrics")[2].decode()
            tap.check('vizfeed_source_malformed_lines_total{flow="follow"} 1' in metrics,
                      "the malformed line is counted", [l for l in metrics.splitlines() if "malformed" in l])
            tap.check(d.proc.poll() is None, "still running")
    tap.done()


main()
