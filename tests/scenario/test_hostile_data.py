"""Hostile data, strings and configuration values (issue 18), checked from
outside as a user would: whatever the events, the Elasticsearch answers or
the configuration hold, /vizceral.json and `once` print JSON that parses,
/metrics parses with a real exposition-format parser, every log line stays
one line with no terminal control in it, and what cannot be used is a
configuration error at its line (exit 2).

The stand-in Elasticsearch here answers every search with one fixed body and
status; the graph rules themselves are tested in tests/unit.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vizlib import Daemon, Tap, VIZFEED, find, region, run, wait, write

# Debian's python3-prometheus-client (./dev installs it); a pyenv Python does
# not look in Debian's directory by itself.
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families

AT = "2026-01-01T00:00:30Z"
TS = "2026-01-01T00:00:00.000Z"


def recent():
    """A timestamp inside the daemon's window (which ends now)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 5))


class StubElasticsearch:
    """Answers every request with (status, body), except that a composite
    page asked for with "after" gets the empty last page; records nothing."""

    def __init__(self, status, body):
        self.status, self.body = status, body.encode() if isinstance(body, str) else body
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                request = self.rfile.read(n) if n else b""
                body = stub.body
                if stub.status == 200 and b'"after"' in request:
                    body = b'{"_shards": {"total": 1, "failed": 0}, "aggregations": {"edges": {"buckets": []}}}'
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def es_config(d, url, extra=""):
    return write(os.path.join(d, "vizfeed.yml"), f"""
refresh: {{ interval: 1s, window: 1m, lag: 0s }}
elasticsearch: {{ hosts: ["{url}"], timeout: 5s }}
flows:
  - name: es
    type: elasticsearch
    index: "logs-*"
    from: {{ service: source.service }}
    to: {{ service: destination.service }}
{extra}""")


def file_config(d, events, extra_top="", count=""):
    path = write(os.path.join(d, "events.ndjson"), "".join(json.dumps(e) + "\n" for e in events))
    return write(os.path.join(d, "vizfeed.yml"), f"""
refresh: {{ interval: 1s, window: 10m, lag: 0s }}
{extra_top}
flows:
  - name: events
    type: file
    path: {path}
    {count}
    from: {{ service: f }}
    to: {{ service: t }}
""")


def one_safe_line_each(text):
    """Every line of text: no control byte (ESC first), no C1 control."""
    bad = [line for line in text.split("\n") if any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in line)]
    return not bad, bad


def extreme_counts(tap):
    """Issue 18 item 1: counts of 1e60 and 1e300 made "maxVolume":, and the
    graph was served and written that way."""
    with tempfile.TemporaryDirectory() as d:
        events = [{"@timestamp": TS, "f": "a", "t": "b", "n": 1e60},
                  {"@timestamp": TS, "f": "a", "t": "c", "n": 1e300},
                  {"@timestamp": TS, "f": "a", "t": "d", "n": 5e-324},
                  {"@timestamp": TS, "f": "a", "t": "e", "n": 3}]
        cfg = file_config(d, events, count="count: n")
        r = run(["once", "-c", cfg, "--at", AT])
        tap.equal(r.returncode, 0, "once with counts of 1e60 and 1e300: exit 0")
        graph, problem = None, "no output"
        try:
            graph = json.loads(r.stdout)
        except ValueError as e:
            problem = f"{e}: {r.stdout[:400]}"
        if not tap.check(isinstance(graph, dict), "once with counts of 1e60 and 1e300: the graph parses", problem):
            return
        tap.equal(graph["metadata"].get("clamped_counts"), 2, "the clamped counts are counted in the root metadata")
        conns = {(c["source"], c["target"]): c for c in region(graph, "default")["connections"]}
        tap.equal(conns[("a", "b")]["metadata"]["normal"], 1e15, "a count of 1e60 is clamped to 1e15")
        tap.equal(conns[("a", "e")]["metadata"]["normal"], 3, "an ordinary count beside it is untouched")
        warn = [line for line in r.stderr.splitlines() if "clamped" in line]
        tap.check(len(warn) == 1 and " warn " in warn[0] and "2 count(s)" in warn[0],
                  "once says once in the log that counts were clamped", r.stderr)
        out = os.path.join(d, "graph.json")
        r = run(["once", "-c", cfg, "--at", AT, "-o", out])
        tap.check(r.returncode == 0 and json.load(open(out))["metadata"]["clamped_counts"] == 2,
                  "once -o writes a file that parses", r.stderr)

        # The daemon: /vizceral.json parses (Daemon.graph() also runs the Vizceral validator), /metrics says
        # how many, and the warning is logged once, not at every refresh.
        for e in events:
            e["@timestamp"] = recent()
        cfg = file_config(d, events, count="count: n")
        with Daemon(["-c", cfg]) as dm:
            dm.wait_for(lambda: dm.graph()["metadata"].get("clamped_counts") == 2, what="a graph with clamped counts")
            wait(lambda: dm.metrics().get("vizfeed_graph_clamped_counts") == 2, 20, "the clamped-counts gauge", dm)
            refreshes = dm.metrics().get("vizfeed_refreshes_total", 0)
            wait(lambda: dm.metrics().get("vizfeed_refreshes_total", 0) >= refreshes + 2, 30, "two more refreshes", dm)
            graph = dm.graph()
            tap.check(region(graph, "default") is not None, "the daemon serves the graph as valid JSON")
            lines = [line for line in dm.log().splitlines() if "clamped" in line]
            tap.equal(len(lines), 1, "the daemon logs the clamped counts once over several refreshes")

    # An Elasticsearch doc_count of 1e300, and one past double (1e400, read as infinity).
    body = json.dumps({"_shards": {"total": 1, "failed": 0}, "aggregations": {"edges": {"buckets": [
        {"key": {"from_service": "a", "to_service": "b"}, "doc_count": 1e300},
        {"key": {"from_service": "a", "to_service": "c"}, "doc_count": 7}],
        "after_key": {"from_service": "a", "to_service": "d"}}}}).replace("1e+300", "1e300")
    body = body.replace('"doc_count": 7', '"doc_count": 7}, {"key": {"from_service": "a", "to_service": "d"}, '
                        '"doc_count": 1e400')
    es = StubElasticsearch(200, body)
    try:
        with tempfile.TemporaryDirectory() as d:
            r = run(["once", "-c", es_config(d, es.url), "--at", AT])
            ok = r.returncode == 0
            try:
                graph = json.loads(r.stdout)
            except ValueError:
                ok, graph = False, None
            tap.check(ok and graph["metadata"].get("clamped_counts") == 2,
                      "Elasticsearch doc_count of 1e300 and 1e400: the graph parses, both clamped",
                      r.stderr + r.stdout[:300])
    finally:
        es.close()


HOSTILE_REASON = ("no such index\n2026-01-01T00:00:00.000Z info  configuration reloaded\r"
                  "\x1b[31mred\x1b[2J\x1b]0;owned\x07 \u009b1m \u202eevil \u2028")


def log_injection(tap):
    """Issue 18 item 5: an error reason with a line feed and ESC forged a
    second log line (once) and reached the terminal raw (daemon's text log)."""
    body = json.dumps({"error": {"root_cause": [{"type": "index_not_found_exception", "reason": HOSTILE_REASON}],
                                 "type": "index_not_found_exception", "reason": HOSTILE_REASON}, "status": 404})
    es = StubElasticsearch(404, body)
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = es_config(d, es.url)
            r = run(["once", "-c", cfg, "--at", AT])
            lines = r.stderr.split("\n")
            tap.check(r.returncode != 0 and len([x for x in lines if x]) == 1 and "no such index" in r.stderr,
                      "once: the failure is one line on stderr", repr(r.stderr))
            ok, bad = one_safe_line_each(r.stderr)
            tap.check(ok, "once: no control character reaches stderr", repr(bad))
            tap.check("\\x1b[31mred" in r.stderr and "\\u202eevil" in r.stderr,
                      "once: the escape sequences are shown escaped", repr(r.stderr))
            for json_logs in (False, True):
                args = ["-c", cfg, "--log-format", "json" if json_logs else "text"]
                what = "JSON" if json_logs else "text"
                try:
                    dm = Daemon(args)
                except RuntimeError as e:
                    tap.check(False, f"daemon ({what} log) starts", str(e))
                    continue
                with dm:
                    wait(lambda: "no such index" in dm.log(), 30, "the failure in the log", dm)
                log = dm.log()
                ok, bad = one_safe_line_each(log)
                tap.check(ok, f"daemon, {what} log: no control character in any line", repr(bad))
                forged = [x for x in log.splitlines() if x.startswith("2026-01-01T00:00:00.000Z")]
                tap.check(not forged, f"daemon, {what} log: no forged line", repr(forged))
                if json_logs:
                    tap.check(all(json.loads(x) for x in log.splitlines() if x.strip()),
                              "daemon, JSON log: every line is a JSON object")
    finally:
        es.close()


def unusable_listen(tap):
    """Issue 18 item 8: check accepted a listen address the daemon could not use."""
    with tempfile.TemporaryDirectory() as d:
        for listen, why in (("no-such-host.invalid:8080", "cannot be resolved"),
                            ("192.0.2.1:8080", "is not an address of this machine"),
                            ("::1:8080", "cannot be read")):
            cfg = write(os.path.join(d, "vizfeed.yml"),
                        f"# listen\nlisten: \"{listen}\"\nflows:\n  - {{ name: demo, type: demo }}\n")
            r = run(["check", "-c", cfg])
            tap.check(r.returncode == 2 and f"vizfeed.yml:2:9: listen address '{listen}'" in r.stderr and why in r.stderr,
                      f"check: listen {listen} is a configuration error at its line", r.stderr)
            p = subprocess.run([VIZFEED, "-c", cfg], capture_output=True, text=True, timeout=60)
            tap.check(p.returncode == 2 and why in p.stderr, f"daemon: listen {listen} exits 2 (not 1)", p.stderr)
        r = run(["check", "--demo", "--listen", "192.0.2.1:8080"])
        tap.check(r.returncode == 2 and "--listen address '192.0.2.1:8080'" in r.stderr,
                  "--listen that is not local: exit 2 naming --listen", r.stderr)
        cfg = write(os.path.join(d, "vizfeed.yml"), "listen: \"no-such-host.invalid:8080\"\n"
                    "flows:\n  - { name: demo, type: demo }\n")
        r = run(["once", "-c", cfg, "--at", AT])
        tap.equal(r.returncode, 0, "once does not listen: an unusable listen does not stop it")


def topology_regexes(tap):
    """Issue 18 item 7: a back-reference took seconds to minutes on one name."""
    with tempfile.TemporaryDirectory() as d:
        for match, why in (("/(a*)*\\\\1!b/", "uses the back-reference \\1"),
                           ("/((a?){1000}){1000}/", "is too large")):
            cfg = write(os.path.join(d, "vizfeed.yml"), "topology:\n  - service: x\n"
                        f"    match: \"{match}\"\nflows:\n  - {{ name: demo, type: demo }}\n")
            r = run(["check", "-c", cfg])
            lines = r.stderr.strip().splitlines()
            tap.check(r.returncode == 2 and len(lines) == 1 and "vizfeed.yml:3:12: regex" in lines[0] and why in lines[0]
                      and "; expected " in lines[0], f"check: {match} is refused at its line ({why})", r.stderr)
        # A 400-byte name through a regex: cut to the name limit first, so
        # the whole name cannot reach the matcher (it matches on the cut).
        events = [{"@timestamp": TS, "f": "client", "t": "a" * 300 + "-tail"}]
        cfg = file_config(d, events, extra_top="topology:\n  - { match: \"/^a+$/\", service: only-a }")
        r = run(["once", "-c", cfg, "--at", AT])
        graph = json.loads(r.stdout)
        tap.check(find(region(graph, "default")["nodes"], "only-a") is not None,
                  "a name over the limit is cut before it is matched", r.stdout[:400])


def nul_in_names(tap):
    """Issue 18 item 8: "a\\u0000b" and "a\\u0000c" merged into one service "a"."""
    with tempfile.TemporaryDirectory() as d:
        events = [{"@timestamp": TS, "f": "client", "t": t} for t in ("a\u0000b", "a\u0000c", "a")]
        r = run(["once", "-c", file_config(d, events), "--at", AT])
        graph = json.loads(r.stdout)
        names = sorted(n["name"] for n in region(graph, "default")["nodes"])
        tap.equal(names, ["a", "a\ufffdb", "a\ufffdc", "client"], "NUL in names: three services, NUL read as U+FFFD")

        # Bytes that are not UTF-8 but pass the JSON readers (overlong forms):
        # the graph shows each as U+FFFD, so these three names look alike and
        # used to be three nodes of one displayed name in one region.
        lines = b"".join(b'{"@timestamp":"%s","f":"client","t":"a%sb"}\n' % (TS.encode(), raw)
                         for raw in (b"\xc0\x80", b"\xc1\x81", "\ufffd\ufffd".encode()))
        with open(os.path.join(d, "events.ndjson"), "wb") as f:
            f.write(lines)
        r = run(["once", "-c", os.path.join(d, "vizfeed.yml"), "--at", AT])
        names = [n["name"] for n in region(json.loads(r.stdout), "default")["nodes"]]
        tap.check(sorted(names) == ["a\ufffd\ufffdb", "client"],
                  "names alike once shown (overlong UTF-8) are one node, not several of one name", repr(names))


def metrics_parse(tap):
    """Issue 18 item 8: a long flow name made /metrics unreadable."""
    with tempfile.TemporaryDirectory() as d:
        path = write(os.path.join(d, "events.ndjson"), "")
        long_a, long_b = "f" + "x" * 2000, "f" + "x" * 1999 + "y"
        odd = "q\"\\\nz\t\r\u001b[31m\u00e9 \u202e"
        cfg = write(os.path.join(d, "vizfeed.yml"), f"""
refresh: {{ interval: 1s, window: 1m, lag: 0s }}
flows:
  - {{ name: {json.dumps(long_a)}, type: file, path: {path}, to: {{ service: t }} }}
  - {{ name: {json.dumps(long_b)}, type: file, path: {path}, to: {{ service: t }} }}
  - {{ name: {json.dumps(odd)}, type: file, path: {path}, to: {{ service: t }} }}
""")
        with Daemon(["-c", cfg]) as dm:
            wait(lambda: dm.metrics().get("vizfeed_refreshes_total", 0) >= 1, 30, "a refresh", dm)
            status, _, body = dm.request("GET", "/metrics")
        try:
            families = list(text_string_to_metric_families(body.decode()))
        except Exception as e:  # the parser's own error says where
            tap.check(False, "/metrics parses with prometheus_client", f"{e!r}")
            return
        tap.check(status == 200 and len(families) > 20, "/metrics parses with prometheus_client")
        flows = {s.labels["flow"] for f in families for s in f.samples if "flow" in s.labels}
        tap.equal(len(flows), 3, "three flows, three label values (the two long ones kept apart)")
        tap.check(all(len(v.encode()) <= 128 + 9 for v in flows), "label values are bounded", repr(flows))
        tap.check(any(v.startswith('q"\\\nz') for v in flows), "quote, backslash and newline survive escaped",
                  repr(flows))


def main():
    tap = Tap()
    for group in (extreme_counts, log_injection, unusable_listen, topology_regexes, nul_in_names, metrics_parse):
        tap.run(group)
    tap.done()


main()
