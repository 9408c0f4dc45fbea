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

import vizlib  # noqa: E402
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
    """Whether predicate() became true within timeout seconds (vizlib.poll)."""
    return bool(vizlib.poll(predicate, timeout))


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
            tap.skip("the file is updated again from the new feeder",
                     f"the port {port} was taken meanwhile; cannot restart the feeder there ({e})")
        if feeder:
            last = updated_of(out)
            tap.check(wait(lambda: updated_of(out) != last, 20), "the file is updated again from the new feeder",
                      pull_log_text())
            # pull writes the file, then logs "works again" (src/pull.c): give the line its moment
            # rather than read the log between the two (seen once on this busy machine).
            wait(lambda: "works again" in pull_log_text(), 10)
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


class LyingFeeder:
    """A feeder that lies, on 127.0.0.1 at a port of its own: each path is one
    lie. /oversized answers a gzip body that decodes to more than pull
    accepts (300 MB of spaces in ~300 KB); /always304 answers 304 whether or
    not the request was conditional; /good answers a small graph."""

    GOOD = b'{"renderer":"global","name":"edge","nodes":[{"name":"INTERNET"}],"connections":[]}'

    def __init__(self):
        import gzip
        import http.server
        import io
        chunk = b" " * (1 << 20)
        raw = io.BytesIO()
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as z:
            z.write(b"{")
            for _ in range(300):
                z.write(chunk)
        bomb = raw.getvalue()
        truncated = gzip.compress(LyingFeeder.GOOD)[:-12]  # cut inside the stream, before its trailer
        feeder = self
        self.requests = []
        self.served_once = False

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                feeder.requests.append((self.path, self.headers.get("If-None-Match")))
                if self.path == "/oversized":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    try:
                        self.wfile.write(bomb)
                    except OSError:
                        pass  # pull hung up at its limit, as it should
                elif self.path == "/badgzip":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(truncated)))
                    self.end_headers()
                    self.wfile.write(truncated)
                elif self.path == "/once-then-304" and feeder.served_once:
                    self.send_response(304)  # to every request, conditional or not: a broken cache
                    self.send_header("ETag", '"v1"')
                    self.end_headers()
                elif self.path == "/always304":
                    self.send_response(304)
                    self.send_header("ETag", '"x"')
                    self.end_headers()
                else:
                    feeder.served_once = feeder.served_once or self.path == "/once-then-304"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("ETag", '"v1"')
                    self.send_header("Content-Length", str(len(LyingFeeder.GOOD)))
                    self.end_headers()
                    self.wfile.write(LyingFeeder.GOOD)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def start_pull(url, out, log_path, interval="1s"):
    log = open(log_path, "w")
    proc = subprocess.Popen([VIZFEED, "pull", url, "-o", out, "--interval", interval],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop_pull(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def lying_feeders(tap, tmp):
    """A feeder that lies: an oversized answer must not stay in pull's memory;
    a 304 to an unconditional request is an error, logged, not "unchanged"."""
    feeder = LyingFeeder()
    try:
        out = os.path.join(tmp, "big.json")
        log_path = os.path.join(tmp, "pull-big.log")
        pull = start_pull(feeder.url("/oversized"), out, log_path, interval="60s")
        try:
            refused = wait(lambda: "larger than" in open(log_path).read(), 60)
            tap.check(refused, "an oversized answer is refused and logged", open(log_path).read())
            # The buffer is given back right after the refused poll; allow the
            # logging line to be written before it, then measure.
            time.sleep(1)
            kb = rss_kb(pull.pid) if pull.poll() is None else None
            tap.check(kb is not None and kb < 64 * 1024,
                      f"after an oversized answer pull holds {kb} KB (VmRSS), not the refused ~256 MB",
                      open(log_path).read())
            tap.check(not os.path.exists(out), "the oversized answer wrote no file")
        finally:
            stop_pull(pull)

        out = os.path.join(tmp, "never304.json")
        log_path = os.path.join(tmp, "pull-304.log")
        pull = start_pull(feeder.url("/always304"), out, log_path, interval="500ms")
        try:
            logged = wait(lambda: "304" in open(log_path).read() and "If-None-Match" in open(log_path).read(), 20)
            text = open(log_path).read()
            tap.check(logged and failure_lines(text),
                      "a 304 to a request without If-None-Match is logged as a failure", text)
            tap.check(not os.path.exists(out), "... and writes nothing")
            sent = [inm for path, inm in feeder.requests if path == "/always304"]
            tap.check(sent and all(inm is None for inm in sent), "pull never had an ETag to send", sent)
        finally:
            stop_pull(pull)

        # The file is removed while a cache on the way answers 304 to everything: pull asks
        # again without a condition, and that 304 is an error, not "unchanged" (the file used to
        # stay missing without a word).
        out = os.path.join(tmp, "removed.json")
        log_path = os.path.join(tmp, "pull-removed.log")
        pull = start_pull(feeder.url("/once-then-304"), out, log_path, interval="300ms")
        try:
            tap.check(wait(lambda: os.path.exists(out), 20), "the first answer is written", open(log_path).read())
            time.sleep(1)  # conditional polls, answered 304: unchanged, rightly
            os.unlink(out)
            logged = wait(lambda: "without If-None-Match" in open(log_path).read(), 20)
            text = open(log_path).read()
            tap.check(logged and "removed" in text,
                      "file removed, every answer 304: the unconditional 304 is logged as a failure", text)
        finally:
            stop_pull(pull)

        # A gzip stream cut before its end, with a Content-Length that matches what was sent.
        out = os.path.join(tmp, "badgzip.json")
        log_path = os.path.join(tmp, "pull-badgzip.log")
        pull = start_pull(feeder.url("/badgzip"), out, log_path, interval="500ms")
        try:
            logged = wait(lambda: failure_lines(open(log_path).read()), 20)
            text = open(log_path).read()
            tap.check(logged, "a truncated gzip answer is a failure with its cause logged", text)
            tap.check(not os.path.exists(out), "... and writes nothing")
        finally:
            stop_pull(pull)
    finally:
        feeder.close()


def refuses_special_files(tap, tmp):
    """-o naming a device, a FIFO, a directory or a symbolic link: refused with a
    clear line and exit 1 (as a missing directory), and left exactly as it was."""
    import stat as st
    feeder = LyingFeeder()
    try:
        fifo = os.path.join(tmp, "fifo.json")
        os.mkfifo(fifo)
        link_target = write(os.path.join(tmp, "target.json"), "keep\n")
        link = os.path.join(tmp, "link.json")
        os.symlink(link_target, link)
        directory = os.path.join(tmp, "a-directory")
        os.makedirs(directory)
        cases = [(fifo, st.S_ISFIFO, "FIFO"), (link, st.S_ISLNK, "symbolic link"),
                 (directory, st.S_ISDIR, "directory")]
        if os.geteuid() == 0:
            # A node of /dev/null's device made here, so that a regression
            # damages a file of this test, not the system's /dev/null.
            device = os.path.join(tmp, "null.json")
            os.mknod(device, 0o666 | st.S_IFCHR, os.makedev(1, 3))
            cases.insert(0, (device, st.S_ISCHR, "character device"))
        else:
            tap.skip("character device", "a device node needs root to make")
        for path, kind, word in cases:
            r = run(["pull", feeder.url("/good"), "-o", path, "--interval", "1s"], timeout=20)
            tap.check(r.returncode == 1 and word in r.stderr and path in r.stderr,
                      f"pull -o {word}: exit 1 with a line naming it", f"rc {r.returncode}: {r.stderr}")
            tap.check(kind(os.lstat(path).st_mode), f"pull -o {word}: still a {word} afterwards")
            r = run(["once", "--demo", "-o", path], timeout=60)
            tap.check(r.returncode == 1 and word in r.stderr, f"once -o {word}: exit 1 with a line naming it",
                      f"rc {r.returncode}: {r.stderr}")
            tap.check(kind(os.lstat(path).st_mode), f"once -o {word}: still a {word} afterwards")
        tap.equal(open(link_target).read(), "keep\n", "the link's target is untouched")
    finally:
        feeder.close()


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
        tap.run(lying_feeders, tmp)
        tap.run(refuses_special_files, tmp)
    tap.done()


main()
