"""Shared helpers of the scenario tests: run the real vizfeed binary on
loopback, talk HTTP to it, validate every graph, report TAP.

Each scenario script creates a Tap, runs its checks with tap.check(...), and
ends with tap.done(), which exits non-zero when a check failed. An exception
anywhere (inside tap.run or not) and a script that ends without tap.done()
leave a "not ok" line and a non-zero exit: there is one TAP path.

Daemons are started on 127.0.0.1 with port 0 and --log-format json; the port
is read from the "server.port" field of the startup line (a JSON object), not
from the message's wording, and log() gives the log back as the text format
prints it. Each daemon's folder is removed when it stops. Every wait goes
through wait() (Daemon.wait_for and writes_after are wait() with a daemon).
"""
import atexit
import concurrent.futures
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
SRC = os.environ.get("VIZFEED_SRC", os.path.dirname(TESTS))
VIZFEED = os.environ.get("VIZFEED", os.path.join(SRC, "build", "vizfeed"))
sys.path.insert(0, TESTS)
import vizceral_validator  # noqa: E402


class Tap:
    """Minimal TAP producer: one line per check, a plan at the end."""

    def __init__(self):
        self.count = 0
        self.failed = 0
        self.finished = False
        # An exception that escapes the script: a "not ok" line with its traceback (Python then
        # exits 1), and the plan from the atexit hook.
        previous = sys.excepthook

        def excepthook(kind, value, tb):
            if kind in (KeyboardInterrupt,):
                return previous(kind, value, tb)
            self.check(False, f"the script raised {kind.__name__}",
                       "".join(traceback.format_exception(kind, value, tb)))
        sys.excepthook = excepthook
        atexit.register(self._at_exit)

    def _at_exit(self):
        if self.finished:
            return
        if not self.failed:
            self.check(False, "the script ended without tap.done()")
        print(f"1..{self.count}", flush=True)
        sys.stdout.flush()
        os._exit(1)

    def within(self, pred, name, d=None, timeout=20, every=0.1):
        """A check that something happens: polls pred() through wait() and is "ok" once it gives a
        true value (returned), "not ok" with the timeout's message (the last error, daemon d's log
        tail) when it never does (returns None). Rather than a wait followed by check(True, ...)."""
        return self.completes(lambda: wait(pred, timeout, name, d=d, every=every), name)

    def completes(self, waiter, name):
        """The same for a waiter of the script's own that raises TimeoutError (a poll built on
        wait()): ok with its value when it returns, not ok with its message when it times out."""
        try:
            value = waiter()
        except TimeoutError as e:
            self.check(False, name, str(e))
            return None
        self.check(True, name)
        return value

    def skip(self, name, reason):
        """A check not made here, and why (TAP's SKIP directive)."""
        self.count += 1
        print(f"ok {self.count} - {name} # SKIP {reason}", flush=True)

    def check(self, ok, name, detail=""):
        self.count += 1
        if not ok:
            self.failed += 1
        print(f"{'ok' if ok else 'not ok'} {self.count} - {name}", flush=True)
        if not ok and detail:
            for line in str(detail).splitlines():
                print(f"# {line}", flush=True)
        return ok

    def equal(self, actual, expected, name):
        return self.check(actual == expected, name, f"expected {expected!r}\n     got {actual!r}")

    def run(self, fn, *args):
        """Runs a group of checks; an exception fails the group, not the script."""
        try:
            fn(self, *args)
        except Exception:  # a crash in one group must not hide the others
            self.check(False, f"{fn.__name__} raised", traceback.format_exc())

    def done(self):
        self.finished = True
        print(f"1..{self.count}", flush=True)
        sys.exit(1 if self.failed else 0)


def run(args, timeout=60, **kw):
    """Runs vizfeed with args; returns CompletedProcess with text output."""
    return subprocess.run([VIZFEED] + args, capture_output=True, text=True, timeout=timeout, **kw)


def printed(args):
    """Runs vizfeed with args: (what it printed as bytes without the final newline, or None when
    it failed or printed no whole line; its standard error). What a route that serves a
    command's output must answer, byte for byte."""
    r = run(args)
    return (r.stdout[:-1].encode() if r.returncode == 0 and r.stdout.endswith("\n") else None), r.stderr


def reason_of(status, body, expected):
    """The "reason" of a JSON error answer when status is the expected one, else the whole body
    (so that a check's detail shows what came instead)."""
    return json.loads(body).get("reason", "") if status == expected else body


class Daemon:
    """A vizfeed daemon on 127.0.0.1 with a port of its own choosing."""

    def __init__(self, args, cwd=None, env=None, prefix=(), preexec_fn=None):
        """prefix: a command vizfeed runs under (e.g. setpriv to drop privileges). Unless args
        choose a --log-format, the daemon logs JSON (log() turns it back into text). A test of
        the text format itself passes "--log-format", "text": the port then comes from the
        kernel's table of the process's listening sockets (listening_port)."""
        self.tmp = tempfile.mkdtemp(prefix="vizfeed-test-")
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.log_file = open(self.log_path, "w")
        self.json_log = "--log-format" not in args
        fmt = ["--log-format", "json"] if self.json_log else []
        self.proc = subprocess.Popen(list(prefix) + [VIZFEED, "--listen", "127.0.0.1:0"] + fmt + args,
                                     stdout=self.log_file, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                     preexec_fn=preexec_fn)
        self.port = None
        try:
            text = "--log-format" in args and args[args.index("--log-format") + 1:][:1] == ["text"]
            found = (lambda: listening_port(self.proc.pid)) if text else (lambda: listen_port(self.raw_log()))
            self.port = wait(lambda: found() or self.proc.poll() is not None, 20, "the daemon's port")
        except TimeoutError:
            pass
        if self.port is True or self.port is None:  # exited, or no line in 20 s
            log = self.log()
            self.port = None
            self.stop()
            raise RuntimeError(f"vizfeed did not start: {log}")

    def raw_log(self):
        if self.log_file.closed:
            return self.final_raw
        with open(self.log_path) as f:
            return f.read()

    def log(self):
        """The log as the text format writes it (JSON lines rendered back; other lines, such as a
        sanitizer's report, as they are)."""
        raw = self.raw_log()
        return text_log(raw) if self.json_log else raw

    def request(self, method, path, headers=None, body=None, timeout=10):
        """One request on a new connection: (status, headers dict lower-case, body bytes). A
        request that may wait behind a queue of slow computations takes a longer timeout."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def graph(self):
        """The current graph; every graph a scenario sees goes through the
        Vizceral validator, and a violation fails the check that fetched it."""
        status, headers, body = self.request("GET", "/vizceral.json", {"Accept-Encoding": "gzip"})
        if status != 200:
            raise RuntimeError(f"/vizceral.json answered {status}: {body[:200]!r}")
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        graph = json.loads(body)
        problems = validate(graph)
        if problems:
            raise AssertionError("the served graph breaks Vizceral's rules:\n" + "\n".join(problems[:20]))
        return graph

    def metrics(self):
        """/metrics as {'name{labels}': value}."""
        status, _, body = self.request("GET", "/metrics")
        assert status == 200, f"/metrics answered {status}"
        return parse_metrics(body.decode())

    def wait_for(self, predicate, timeout=20, what="condition"):
        """wait() with this daemon's log in the timeout's message."""
        return wait(predicate, timeout, what, d=self, every=0.1)

    def conditional_get(self, path="/vizceral.json", headers=None, attempts=20):
        """GET path, then GET it again with If-None-Match: the first answer's ETag; returns
        (status, headers, body, etag asked about) of the second request, from a pair between which the graph held still: it
        is a 304, or its ETag is the one asked about (a 200 there is a broken 304). A refresh that
        lands between the two moves the ETag; such pairs are retried, `attempts` times at most,
        and then this raises rather than let a changing graph stand in for a 304."""
        headers = dict(headers or {})
        for _ in range(attempts):
            _, h1, _ = self.request("GET", path, headers)
            etag = h1.get("etag")
            s2, h2, b2 = self.request("GET", path, dict(headers, **{"If-None-Match": etag}))
            if s2 == 304 or h2.get("etag") == etag:
                return s2, h2, b2, etag
        raise AssertionError(f"the ETag of {path} changed between every one of {attempts} request pairs")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log_file.closed:
            self.log_file.close()
            with open(self.log_path) as f:
                self.final_raw = f.read()  # what log() gives after stop(), once the folder is gone
            shutil.rmtree(self.tmp, ignore_errors=True)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def listen_port(raw):
    """The port of the daemon's startup line: its "server.port" field (--log-format json)."""
    for line in raw.splitlines():
        if line.startswith("{") and '"server.port"' in line:
            try:
                return int(json.loads(line)["server.port"])
            except (ValueError, KeyError, TypeError):
                continue
    return None


def listening_port(pid):
    """The TCP port process pid listens on (127.0.0.1), from /proc: the socket inodes among its
    descriptors matched against /proc/PID/net/tcp's LISTEN (state 0A) entries; None before it
    listens."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open(f"/proc/{pid}/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:
                return int(parts[1].split(":")[1], 16)
    return None


def text_log(raw):
    """A --log-format json log as the text format prints it ("TIME LEVEL  message"): the same
    message bytes, since both formats escape the message the same way before JSON's escaping."""
    out = []
    for line in raw.splitlines(True):
        try:
            event = json.loads(line) if line.startswith("{") else None
        except ValueError:
            event = None
        if not isinstance(event, dict) or "message" not in event:
            out.append(line)
            continue
        end = "\n" if line.endswith("\n") else ""
        out.append(f"{event.get('@timestamp', '')} {event.get('log.level', ''):<5} {event['message']}{end}")
    return "".join(out)


def validate(graph, warning=None, danger=None, min_rate=None, latency_warning=None, latency_danger=None):
    """Every SPEC §5 rule the validator knows; returns a list of violations.
    With the configuration's thresholds it also checks every class (latency
    thresholds in ms, None when off)."""
    thresholds = (warning, danger, min_rate, latency_warning, latency_danger) if warning is not None else None
    return vizceral_validator.validate(graph, thresholds)


def find(nodes, name):
    for n in nodes or []:
        if n.get("name") == name:
            return n
    return None


def region(graph, name):
    return find(graph["nodes"], name)


def connection(level, source, target):
    for c in level.get("connections") or []:
        if c["source"] == source and c["target"] == target:
            return c
    return None


def subset_mismatches(expected, actual, path="$"):
    """Differences between an expected partial graph and the actual one.

    Objects match when every expected key matches. Lists of objects with a
    "name" are matched by name, lists of connections by (source, target); the
    key "_absent" lists names (or "source->target") that must not be there.
    Numbers compare with a relative tolerance of 1e-9.
    """
    out = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        for key, value in expected.items():
            if key == "_absent":
                continue
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out += subset_mismatches(value, actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list) and expected and isinstance(expected[0], dict) and isinstance(actual, list):
        def key_of(item):
            if "name" in item:
                return item["name"]
            if "source" in item:
                return f"{item['source']}->{item['target']}"
            return None
        by_key = {key_of(a): a for a in actual if isinstance(a, dict)}
        for item in expected:
            if "_absent" in item:
                for k in item["_absent"]:
                    if k in by_key:
                        out.append(f"{path}[{k}]: should not be there")
                continue
            k = key_of(item)
            if k not in by_key:
                out.append(f"{path}[{k}]: missing (have {sorted(x for x in by_key if x)})")
            else:
                out += subset_mismatches(item, by_key[k], f"{path}[{k}]")
        return out
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if not isinstance(actual, (int, float)) or isinstance(actual, bool) or \
                abs(actual - expected) > 1e-9 * max(1.0, abs(expected)):
            out.append(f"{path}: expected {expected!r}, got {actual!r}")
        return out
    if expected != actual:
        out.append(f"{path}: expected {expected!r}, got {actual!r}")
    return out


def parse_metrics(text):
    """Prometheus text exposition -> {'name{labels}': value}; comments skipped."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def is_stale(node):
    """Whether a graph node is marked stale (its flow stopped answering)."""
    return bool(node and (node.get("metadata") or {}).get("stale"))


def file_counts(d):
    """(vizfeed_output_file_writes_total, vizfeed_output_file_errors_total) of daemon d."""
    m = d.metrics()
    return m.get("vizfeed_output_file_writes_total", 0.0), m.get("vizfeed_output_file_errors_total", 0.0)


def writes_after(d, before, timeout=5):
    """vizfeed_output_file_writes_total of daemon d once it passes `before`, or as it is after
    timeout seconds. The counter follows the rename that replaced the file by a moment, so a test
    that saw the new file asks this rather than file_counts()."""
    try:
        return wait(lambda: (lambda w: w if w > before else None)(file_counts(d)[0]), timeout,
                    "the file writes counter to pass %s" % before, d=d)
    except TimeoutError:
        return file_counts(d)[0]


def wait(pred, timeout, what, d=None, every=0.05):
    """Polls pred() every `every` s for at most timeout seconds and returns its first true value;
    an exception from pred() counts as "not yet". The timeout's error names what was awaited,
    the last exception and the tail of daemon d's log."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 (not there yet)
            last = e
        time.sleep(every)
    tail = "\n".join(d.log().splitlines()[-10:]) if d else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last})\n{tail}")


def poll(pred, timeout, every=0.05):
    """wait() for a caller that checks the outcome itself: pred()'s first true value, or None
    once timeout seconds passed."""
    try:
        return wait(pred, timeout, "a condition", every=every)
    except TimeoutError:
        return None


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def http_exchange(port, data, wait=2.0):
    """Sends raw bytes on a new connection to 127.0.0.1:port and reads until the server closes
    it or is silent for `wait` seconds; returns (status codes seen, closed by the server, raw
    answer). For hostile requests, which http.client would refuse to write."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    out, closed = b"", False
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    finally:
        s.close()
    return [int(c) for c in re.findall(rb"(?m)^HTTP/1\.[01] (\d{3}) ", out)], closed, out


# ---- answers of the history pool (past windows ?at=T, /timeline.json) ----

HISTORY_WORKERS, HISTORY_QUEUE = 2, 4  # VIZ_HISTORY_WORKERS, VIZ_HISTORY_QUEUE (src/bounds.h)


def check_same_as_printed(tap, d, path, args, name):
    """GET path of daemon d answers 200 with the bytes `vizfeed args` prints; returns the
    answer (status, headers, body)."""
    status, headers, body = d.request("GET", path)
    expected, stderr = printed(args)
    tap.check(status == 200 and expected is not None and body == expected, name,
              f"status {status}: {body[:300]!r} vs {(expected or b'')[:300]!r} {stderr}")
    return status, headers, body


def check_bad_requests(tap, d, route, cases):
    """Each (query, why) of cases: GET route?query of daemon d is a 400 whose JSON reason says
    why."""
    for query, why in cases:
        status, _, body = d.request("GET", f"{route}?{query}")
        reason = reason_of(status, body, 400)
        tap.check(status == 400 and why in reason, f"?{query} is a 400 that says '{why}'", f"{status}: {reason}")


def check_history_cache(tap, d, path, kind, what, old):
    """path (answered before) asked again is a cache hit of the history pool (/metrics, by kind:
    "graph" or "timeline"); being `old` (no longer able to change), it is immutable for a year,
    with a strong ETag that gives 304; gzip is its own representation with its own ETag, not a
    304 for the identity's. what names the answer ("a window"). Returns the body."""
    def count(m, name):
        return m.get(f'{name}{{kind="{kind}"}}', 0)
    before = d.metrics()
    status, headers, body = d.request("GET", path)
    after = d.metrics()
    hits = count(after, "vizfeed_history_cache_hits_total") - count(before, "vizfeed_history_cache_hits_total")
    computed = count(after, "vizfeed_history_computed_total") - count(before, "vizfeed_history_computed_total")
    tap.check(status == 200 and hits == 1 and computed == 0, f"a second request for {what} is a cache hit",
              f"hits +{hits}, computed +{computed}")
    tap.check(headers.get("cache-control") == "public, max-age=31536000, immutable", f"{old} is immutable",
              headers.get("cache-control"))
    etag = headers.get("etag", "")
    tap.check(etag.startswith('"') and not etag.startswith("W/"), "with a strong ETag", etag)
    status, headers, empty = d.request("GET", path, {"If-None-Match": etag})
    tap.check(status == 304 and empty == b"" and headers.get("etag") == etag, "If-None-Match: its ETag gives 304",
              f"status {status}")
    status, headers, _ = d.request("GET", path, {"Accept-Encoding": "gzip", "If-None-Match": etag})
    tap.check(status == 200 and headers.get("content-encoding") == "gzip" and headers.get("etag") != etag,
              "gzip is its own representation with its own ETag", headers)
    return body


def check_history_busy(tap, d, es, paths, kind, what):
    """More distinct answers asked at once (paths) than the history pool's workers and queue
    hold, while es (the daemon's FakeElasticsearch) answers every search a second late: the
    rest get 503 "busy" with Retry-After at once, the accepted ones are answered, the live graph
    keeps being served, /metrics counts the 503s by kind. what names the answers ("timelines").
    Returns the answers (status, headers, body) in the order of paths, es answering at once
    again."""
    assert len(paths) > HISTORY_WORKERS + HISTORY_QUEUE
    d.wait_for(lambda: d.request("GET", "/vizceral.json")[0] == 200, what="a first live graph")
    es.inject({"delay": 1, "always": True, "path": "_search"})
    with concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
        futures = [pool.submit(d.request, "GET", path, None, None, 120) for path in paths]
        # While the workers wait for the slow cluster, the live graph is still answered.
        status, _, _ = d.request("GET", "/vizceral.json")
        pending = sum(1 for f in futures if not f.done())
        tap.check(status == 200, f"the live graph is answered while {what} are computed ({pending} pending)")
        answers = [f.result(timeout=240) for f in futures]
    refused = [a for a in answers if a[0] == 503]
    served = [a for a in answers if a[0] == 200]
    tap.check(len(refused) + len(served) == len(paths) and len(served) >= HISTORY_WORKERS + HISTORY_QUEUE and refused,
              f"{len(served)} {what} served, {len(refused)} refused with 503 (workers + queue = "
              f"{HISTORY_WORKERS + HISTORY_QUEUE})", [a[0] for a in answers])
    tap.check(all(a[1].get("retry-after", "").isdigit() and int(a[1]["retry-after"]) >= 1 for a in refused),
              "every 503 says Retry-After in seconds", [a[1].get("retry-after") for a in refused])
    tap.check(all(json.loads(a[2]).get("error") == "busy" for a in refused), "and why, as JSON")
    m = d.metrics()
    tap.equal(m.get(f'vizfeed_history_busy_total{{kind="{kind}"}}'), float(len(refused)), "/metrics counts the 503s")
    es.clear()
    return answers
