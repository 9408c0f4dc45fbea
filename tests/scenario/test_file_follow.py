"""A file flow follows its NDJSON file as it grows, through rotation and
truncation; malformed lines are counted, never fatal. copytruncate-style
rewrites (the same inode truncated and written again between two reads, to
less than, as much as and more than was read) are read whole from their
start, without a fragment taken for a malformed line."""
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


def rewrite_in_place(path, text):
    """What logrotate's copytruncate and a busy writer do within one interval: the same inode,
    truncated and written again, in one go."""
    with open(path, "r+") as f:
        f.truncate(0)
        f.write(text)
    return os.path.getsize(path)


def malformed(d):
    return d.metrics().get('vizfeed_source_malformed_lines_total{flow="follow"}', 0.0)


def copytruncate_speeds(tap, tmp):
    events = os.path.join(tmp, "copytruncate.ndjson")
    size = os.path.getsize(write(events, event("aaa", 60)))
    config = write(os.path.join(tmp, "copytruncate.yml"), f"""
refresh: {{ interval: 500ms, window: 2m, lag: 0s }}
flows:
  - name: follow
    type: file
    path: {events}
    to: {{ service: service.name }}
""")
    with Daemon(["-c", config]) as d:
        # A window of 2 minutes, so that every event stays in it however slow the machine: rate = n / 120.
        d.wait_for(lambda: rate(d, "aaa") == 0.5, what="aaa at 0.5/s")
        # As many bytes as were read: 60 events of a name as long. Taken for "nothing new" before.
        tap.equal(rewrite_in_place(events, event("bbb", 60)), size, "the rewrite is as long as what was read")
        tap.within(lambda: rate(d, "bbb") == 0.5,
                   "copytruncate regrown to exactly the old offset: every new line read (bbb at 0.5/s)", d=d)
        # More than was read: the old offset falls inside a line. Before: the head was skipped and
        # the fragment at the old offset counted as malformed.
        before = os.path.getsize(events)
        tap.check(rewrite_in_place(events, event("dddd", 90)) > before, "the rewrite is longer than what was read")
        tap.within(lambda: rate(d, "dddd") == 0.75,
                   "copytruncate regrown past the old offset: every new line read (dddd at 0.75/s)", d=d)
        # Less than was read: plain truncation.
        rewrite_in_place(events, event("ee", 30))
        tap.within(lambda: rate(d, "ee") == 0.25,
                   "copytruncate regrown to less than the old offset: every new line read (ee at 0.25/s)", d=d)
        with open(events, "a") as f:
            f.write(event("ee", 30))
        d.wait_for(lambda: rate(d, "ee") == 0.5, what="ee at 0.5/s after an append")
        time.sleep(1.5)  # three more refreshes: an append must not be read twice
        tap.equal(rate(d, "ee"), 0.5, "an append is read once, not from the start")
        os.rename(events, events + ".1")
        write(events, event("ff", 60))
        d.wait_for(lambda: rate(d, "ff") == 0.5, what="ff after a rename rotation")
        tap.equal([rate(d, s) for s in ("aaa", "bbb", "dddd", "ee")], [0.5, 0.5, 0.75, 0.5],
                  "rotation by rename still works; what was read before stays")
        tap.equal(malformed(d), 0, "no fragment was taken for a malformed line")


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
            tap.within(lambda: rate(d, "alpha") == 1, "reads the file at start (alpha at 1/s)", d=d)

            with open(events, "a") as f:
                f.write(event("alpha", 60))
                f.write('{"not": "closed"\n')
                f.write(event("beta", 30)[:-1])  # a partial last line ...
            tap.within(lambda: rate(d, "alpha") == 2, "follows appended lines (alpha at 2/s)", d=d)
            with open(events, "a") as f:
                f.write("\n")  # ... completed later
            tap.within(lambda: rate(d, "beta") == 0.5, "a partial last line is read once completed (beta at 0.5/s)",
                       d=d)

            os.rename(events, events + ".1")
            write(events, event("gamma", 60))
            d.wait_for(lambda: rate(d, "gamma") == 1, what="gamma after rotation")
            tap.equal(rate(d, "alpha"), 2, "rotation keeps what was read before")

            with open(events, "w") as f:
                f.write(event("delta", 6))
            tap.within(lambda: rate(d, "delta") == 0.1, "truncation is followed (delta at 0.1/s)", d=d)

            metrics = d.request("GET", "/metrics")[2].decode()
            tap.check('vizfeed_source_malformed_lines_total{flow="follow"} 1' in metrics,
                      "the malformed line is counted", [l for l in metrics.splitlines() if "malformed" in l])
            tap.check(d.proc.poll() is None, "still running")
        tap.run(copytruncate_speeds, tmp)
    tap.done()


main()
