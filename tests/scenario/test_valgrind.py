"""valgrind memcheck on the real binary: the daemon (--demo, and a file flow
with file output, static files and a reload) refreshes a few times, answers
requests, and stops on SIGTERM with exit code 0, no memory error and no
definite or indirect leak; `once` and `check` likewise.

Leaks "still reachable" at exit (libcurl's and OpenSSL's global state) and
"possibly lost" ones (thread stacks of libraries) are not errors: only
definite and indirect leaks are, as in libuv's "valgrind-clean" tests.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from vizlib import SRC, TESTS, VIZFEED, Tap, listen_port, poll, wait

VALGRIND_ERROR = 99  # valgrind's exit code when it found an error, apart from vizfeed's own 0/1/2
VALGRIND = ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", f"--error-exitcode={VALGRIND_ERROR}",
            "--track-fds=no", "--num-callers=30"]
TIMEOUT = 240  # valgrind slows vizfeed 20-50x


def memcheck(args, log, **kw):
    return subprocess.run(VALGRIND + [f"--log-file={log}", VIZFEED] + args, capture_output=True, text=True,
                          timeout=TIMEOUT, **kw)


def report(path):
    try:
        with open(path) as f:
            return f.read()[-6000:]
    except OSError:
        return ""


def get(port, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def metric(port, name):
    _, _, body = get(port, "/metrics")
    m = re.search(rf"^{name} (\S+)$", body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


def daemon(tap, name, args, tmp, cwd, refreshes, reload=False):
    """Runs the daemon under memcheck until it refreshed `refreshes` times,
    sends requests, optionally SIGHUP, then SIGTERM; checks exit and report."""
    log, out = os.path.join(tmp, f"{name}.valgrind"), os.path.join(tmp, f"{name}.log")
    with open(out, "w") as out_file:
        proc = subprocess.Popen(VALGRIND + [f"--log-file={log}", VIZFEED, "--listen", "127.0.0.1:0", "--log-format",
                                            "json"] + args, stdout=out_file, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            deadline = time.time() + TIMEOUT
            try:  # the startup line's "server.port" field (vizlib.listen_port)
                port = wait(lambda: listen_port(open(out).read()) or proc.poll() is not None, TIMEOUT,
                            "the startup line", every=0.2)
            except TimeoutError:
                port = None
            port = None if port is True else port
            if not tap.check(port is not None, f"{name}: starts under valgrind", open(out).read()[-2000:]):
                return
            poll(lambda: metric(port, "vizfeed_refreshes_total") >= refreshes, max(0, deadline - time.time()), every=0.5)
            tap.check(metric(port, "vizfeed_refreshes_total") >= refreshes, f"{name}: {refreshes} refreshes")
            # A refresh in between may change the graph and its ETag: such pairs are asked again (at
            # most 20 times); the conditional GET must then be a 304, never excused.
            for _ in range(20):
                status, headers, _ = get(port, "/vizceral.json", {"Accept-Encoding": "gzip"})
                etag = headers.get("ETag", "")
                cond, again, _ = get(port, "/vizceral.json", {"Accept-Encoding": "gzip", "If-None-Match": etag})
                if cond == 304 or again.get("ETag") == etag:
                    break
            tap.equal(status, 200, f"{name}: GET /vizceral.json (gzip)")
            tap.check(cond == 304, f"{name}: conditional GET", f"status {cond}, ETag {again.get('ETag')} asked {etag}")
            codes = [get(port, p)[0] for p in ("/healthz", "/readyz", "/metrics", "/", "/no/such/file", "/../x")]
            tap.check(codes[0] == 200 and codes[4] == 404 and codes[5] == 404, f"{name}: other routes ({codes})")
            if reload:
                before = metric(port, "vizfeed_refreshes_total")
                proc.send_signal(signal.SIGHUP)
                poll(lambda: metric(port, "vizfeed_refreshes_total") >= before + 2, max(0, deadline - time.time()),
                     every=0.5)
                tap.check(metric(port, "vizfeed_refreshes_total") >= before + 2, f"{name}: refreshes after SIGHUP")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    tap.check(proc.returncode == 0, f"{name}: SIGTERM: exit 0, no memory error, no leak (exit {proc.returncode})",
              report(log) + open(out).read()[-2000:])


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="vizfeed-valgrind-")
    ui = os.path.join(tmp, "ui")
    os.mkdir(ui)
    with open(os.path.join(ui, "index.html"), "w") as f:
        f.write("<!doctype html><title>vizfeed</title>\n")
    events = os.path.join(TESTS, "cases", "basic", "events.ndjson")
    config = os.path.join(tmp, "vizfeed.yml")
    with open(config, "w") as f:
        f.write(f"""refresh: {{ interval: 1s, window: 5m, lag: 0s }}
ui_dir: {ui}
output: {{ file: {tmp}/out/vizceral.json }}
topology:
  - match: 10.1.0.0/16
    region: eu
flows:
  - name: access
    type: file
    path: {events}
    from: {{ service: source.ip }}
    to: {{ service: service.name, region: cloud.region, host: host.name }}
    danger:
      - {{ field: http.response.status_code, gte: 500 }}
  - name: fleet
    type: demo
""")
    os.mkdir(os.path.join(tmp, "out"))

    tap.run(lambda t: daemon(t, "demo", ["--demo"], tmp, SRC, refreshes=1))
    tap.run(lambda t: daemon(t, "file flow", ["-c", config], tmp, tmp, refreshes=3, reload=True))

    def once(t):
        log = os.path.join(tmp, "once.valgrind")
        r = memcheck(["once", "-c", config, "--at", "2026-01-01T00:01:00Z", "-o", os.path.join(tmp, "once.json")],
                     log, cwd=tmp)
        t.check(r.returncode == 0, f"once: exit 0, clean (exit {r.returncode})", report(log) + r.stderr[-2000:])
        log = os.path.join(tmp, "once-demo.valgrind")
        r = memcheck(["once", "--demo", "--at", "2026-01-01T00:01:00Z"], log)
        t.check(r.returncode == 0 and r.stdout.startswith("{"), f"once --demo: exit 0, clean (exit {r.returncode})",
                report(log) + r.stderr[-2000:])

    def check(t):
        log = os.path.join(tmp, "check.valgrind")
        r = memcheck(["check", "-c", config], log, cwd=tmp)
        t.check(r.returncode == 0, f"check: exit 0, clean (exit {r.returncode})", report(log) + r.stderr[-2000:])
        bad = os.path.join(TESTS, "configs", "bad", "duplicate_flow_names.yml")
        log = os.path.join(tmp, "check-bad.valgrind")
        r = memcheck(["check", "-c", bad], log)
        t.check(r.returncode == 2, f"check of a bad file: exit 2, clean (exit {r.returncode})",
                report(log) + r.stderr[-2000:])

    tap.run(once)
    tap.run(check)
    shutil.rmtree(tmp, ignore_errors=True)  # after the checks: their details quote the reports in it
    tap.done()


main()
