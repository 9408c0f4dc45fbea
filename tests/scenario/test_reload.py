"""SIGHUP reloads the configuration; an invalid one is logged with its file
and line, and the daemon keeps serving with the old one."""
import json
import os
import signal
import tempfile
import time

from vizlib import Daemon, Tap, region, write

FLOW = """
refresh: {{ interval: 1s, window: 1m, lag: 0s }}
graph: {{ name: {name} }}
flows:
  - name: access
    type: file
    path: {events}
    to: {{ service: service.name }}
"""


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        events = os.path.join(tmp, "events.ndjson")
        with open(events, "w") as f:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))  # inside the window at once
            for i in range(30):
                f.write(json.dumps({"@timestamp": now, "service": {"name": "checkout"}}) + "\n")
        config = write(os.path.join(tmp, "vizfeed.yml"), FLOW.format(name="first", events=events))
        with Daemon(["-c", config]) as d:
            tap.within(lambda: d.graph()["name"] == "first", "serves the first configuration", d=d)

            write(config, FLOW.format(name="second", events=events))
            d.signal(signal.SIGHUP)
            tap.within(lambda: d.graph()["name"] == "second", "SIGHUP applies a new configuration", d=d)
            tap.check(region(d.graph(), "default") is not None, "the reloaded flow is read")

            write(config, "refresh:\n  interval: soon\nflows: []\n")
            d.signal(signal.SIGHUP)
            d.wait_for(lambda: "reload failed" in d.log(), what="the reload failure in the log")
            line = [l for l in d.log().splitlines() if "reload failed" in l][0]
            tap.check("vizfeed.yml:2:" in line, "the failure names file and line", line)
            time.sleep(1.5)
            tap.check(d.proc.poll() is None, "the daemon keeps running")
            tap.equal(d.graph()["name"], "second", "the old configuration keeps serving")
            metrics = d.request("GET", "/metrics")[2].decode()
            tap.check('vizfeed_config_reloads_total{result="failure"} 1' in metrics, "the failed reload is counted")
            tap.equal(d.stop(), 0, "clean stop after reloads")
    tap.done()


main()
