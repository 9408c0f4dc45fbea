"""`vizfeed pull URL -o FILE`: FILE follows a live feeder, is replaced
atomically (a reader never sees a partial or empty file), survives the
feeder going away, picks up a new feeder on the same port, and the process
stops promptly on SIGTERM."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from vizlib import VIZFEED, Daemon, Tap, run, validate, write


def free_port():
    """A port that was free a moment ago: the feeders bind it explicitly so
    that a second feeder can come back on the same address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def updated_of(path):
    with open(path, "rb") as f:
        return json.loads(f.read())["updated"]


def wait(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    return False


class Reader(threading.Thread):
    """Keeps reading the file; every read must be one complete graph."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.reads = 0
        self.bad = []
        self.versions = set()
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                with open(self.path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            self.reads += 1
            try:
                self.versions.add(json.loads(data)["updated"])
            except Exception as e:
                self.bad.append(f"{len(data)} bytes: {e}")


def failure_lines(log):
    return [line for line in log.splitlines() if " failed: " in line]


def follow_and_survive(tap, tmp):
    out_dir = os.path.join(tmp, "page")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "vizceral.json")
    config = write(os.path.join(tmp, "vizfeed.yml"), """
refresh: { interval: 1s, window: 10s, lag: 0s }
flows:
  - name: demo
    type: demo
""")
    port = free_port()
    listen = ["-c", config, "--listen", f"127.0.0.1:{port}"]
    pull_log_path = os.path.join(tmp, "pull.log")
    pull_log = open(pull_log_path, "w")
    feeder = Daemon(listen)
    pull = subprocess.Popen([VIZFEED, "pull", f"http://127.0.0.1:{port}/vizceral.json", "-o", out,
                             "--interval", "500ms"], stdout=pull_log, stderr=subprocess.STDOUT)
    reader = Reader(out)

    def pull_log_text():
        with open(pull_log_path) as f:
            return f.read()

    try:
        tap.check(wait(lambda: os.path.exists(out), 15), "pull writes the file", pull_log_text())
        reader.start()
        tap.check(wait(lambda: len(reader.versions) >= 3, 20),
                  f"the file follows the feeder's graph ({len(reader.versions)} versions of `updated`)")
        graph = json.load(open(out))
        problems = validate(graph)
        tap.check(not problems, "the file holds a valid graph", "\n".join(problems))
        tap.equal(oct(os.stat(out).st_mode & 0o777), oct(0o644), "the file is readable by the page server")
        tap.check(not [line for line in pull_log_text().splitlines() if "replaced" in line],
                  "replacements are logged at debug level only")

        # The feeder goes away: the last file stays, pull retries with backoff.
        tap.equal(feeder.stop(), 0, "the feeder stops")
        time.sleep(0.5)  # a poll in flight may still have been answered
        kept = open(out, "rb").read()
        time.sleep(5)
        tap.check(open(out, "rb").read() == kept, "pull keeps the last file while the feeder is down")
        tap.check(pull.poll() is None, "pull does not exit when the feeder is down")
        failures = failure_lines(pull_log_text())
        # Backoff from 0.5 s: tries at about 0, 0.5, 1.5, 3.5 s (jitter shortens
        # each wait by up to a quarter): one line per try, not one per interval.
        tap.check(2 <= len(failures) <= 6, f"one error line per backoff step ({len(failures)} in 5 s)",
                  "\n".join(failures))
        tap.check(all("127.0.0.1" in line and "keeping" in line for line in failures),
                  "each error line names the URL and says the file is kept", "\n".join(failures))

        # A new feeder on the same address: the file follows it again.
        try:
            feeder = Daemon(listen)
        except RuntimeError as e:
            feeder = None
            tap.check(True, f"# SKIP the port {port} was taken meanwhile; cannot restart the feeder there ({e})")
        if feeder:
            last = updated_of(out)
            tap.check(wait(lambda: updated_of(out) != last, 20), "the file is updated again from the new feeder",
                      pull_log_text())
            # One line per recovery: a slow feeder (a sanitizer build on a busy machine) may
            # time out a poll after the first recovery, and that is a second one.
            events = [("ok" if "works again" in line else "failed") for line in pull_log_text().splitlines()
                      if "works again" in line or failure_lines(line)]
            recoveries = [i for i, e in enumerate(events) if e == "ok"]
            tap.check(recoveries and all(i > 0 and events[i - 1] == "failed" for i in recoveries),
                      f"recovery is logged once, after failures ({events.count('ok')} recoveries)", pull_log_text())

        reader.halt.set()
        reader.join()
        tap.check(reader.reads > 50, f"the reader read many times ({reader.reads})")
        tap.check(not reader.bad, "the reader never saw a partial or empty file", "\n".join(reader.bad[:5]))
        leftovers = [f for f in os.listdir(out_dir) if f != "vizceral.json"]
        tap.check(not leftovers, "no temporary file left behind", leftovers)

        started = time.time()
        pull.send_signal(signal.SIGTERM)
        try:
            rc = pull.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.time() - started
        tap.equal(rc, 0, "pull exits 0 on SIGTERM")
        tap.check(took < 2, f"pull exits within 2 s of SIGTERM ({took:.2f} s)")
    finally:
        reader.halt.set()
        if reader.is_alive():
            reader.join()
        if pull.poll() is None:
            pull.kill()
            pull.wait()
        pull_log.close()
        if feeder:
            feeder.stop()


def stops_mid_backoff(tap, tmp):
    """SIGTERM while waiting a long backoff (nothing listens): still prompt."""
    port = free_port()
    out = os.path.join(tmp, "never.json")
    pull = subprocess.Popen([VIZFEED, "pull", f"http://127.0.0.1:{port}/vizceral.json", "-o", out,
                             "--interval", "30s"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        started = time.time()
        pull.send_signal(signal.SIGINT)
        rc = pull.wait(timeout=5)
        took = time.time() - started
        log = pull.stderr.read()
        tap.equal(rc, 0, "pull exits 0 on SIGINT during a backoff")
        tap.check(took < 2, f"... within 2 s ({took:.2f} s)")
        tap.check(re.search(r"failed: .*(connect|refused)", log, re.I) is not None,
                  "the cause of the failure is logged", log)
        tap.check(not os.path.exists(out), "no file is written when nothing answered")
    finally:
        if pull.poll() is None:
            pull.kill()
            pull.wait()


def usage_errors(tap, tmp):
    out = os.path.join(tmp, "x.json")
    cases = [
        (["pull"], "a missing URL"),
        (["pull", "-o", out], "a missing URL with -o"),
        (["pull", "http://127.0.0.1:1/vizceral.json"], "a missing -o"),
        (["pull", "ftp://127.0.0.1/vizceral.json", "-o", out], "a URL that is not http(s)"),
        (["pull", "http://127.0.0.1:1/vizceral.json", "-o", out, "--interval", "soon"], "a bad interval"),
        (["pull", "http://127.0.0.1:1/vizceral.json", "-o", out, "--interval", "0s"], "a zero interval"),
        (["pull", "http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "-o", out], "two URLs"),
        (["once", "--interval", "1s"], "--interval without pull"),
    ]
    for args, what in cases:
        r = run(args, timeout=10)
        lines = r.stderr.strip().splitlines()
        tap.check(r.returncode == 2 and lines and lines[0].startswith("vizfeed: "),
                  f"usage error exits 2 with one clear line: {what}", f"rc {r.returncode}: {r.stderr}")
    r = run(["--help"], timeout=10)
    tap.check("vizfeed pull URL -o FILE" in r.stdout, "--help shows the pull command")


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        tap.run(follow_and_survive, tmp)
        tap.run(stops_mid_backoff, tmp)
        tap.run(usage_errors, tmp)
    tap.done()


main()
