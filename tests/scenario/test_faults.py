"""Faults around the daemon rather than inside Elasticsearch's answers (those
are tests/scenario/test_es_faults.py), seen from outside:

  - output.file's directory becomes unwritable, then writable again;
  - the disk of output.file fills up (a small tmpfs, or, where mounting is
    not allowed, RLIMIT_FSIZE on the daemon), then space is freed;
  - one daemon (an elasticsearch flow and a file flow) goes through a
    sequence of Elasticsearch faults: connection refused, 429 with
    Retry-After, 503, too_many_buckets, timed_out, a truncated body, then
    recovery.

The promise (src/sink_file.c, docs/OPERATIONS.md "When things go wrong"): a
failed write of output.file leaves the old file complete and no temporary
file, is logged in one line naming the path and the cause, and is counted in
vizfeed_output_file_errors_total; HTTP keeps serving the fresh graph; the
next refresh after the cause is gone writes the file again. A configuration
replaced by a broken one and SIGHUP is tests/scenario/test_reload.py.

Which mechanism ran (setpriv or a replaced directory; tmpfs or RLIMIT_FSIZE)
is printed as a TAP comment.
"""
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from esdata import es_and_side
from vizlib import (TESTS, VIZFEED, Daemon, Tap, file_counts, find, is_stale, read_bytes, region, validate, wait,
                    write, writes_after)

FAKE_ES = os.path.join(TESTS, "es", "fake_es.py")
NOBODY = 65534
INDEX = "filebeat-8.11.0-faults"
ES_SERVICES = ["web-0", "web-1", "web-2"]


# ---- helpers -------------------------------------------------------------------

class Reader:
    """Reads a file in a loop and parses each read: a partial or empty file is recorded."""

    def __init__(self, path):
        self.path, self.reads, self.bad, self.stop = path, 0, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        end = time.time() + 120  # bounded even if nobody stops it
        while not self.stop.is_set() and time.time() < end:
            try:
                data = read_bytes(self.path)
            except OSError:  # the directory may be replaced for a moment
                time.sleep(0.01)
                continue
            self.reads += 1
            try:
                json.loads(data)["updated"]
            except Exception as e:  # noqa: BLE001
                self.bad.append(f"{len(data)} bytes: {e}")
            time.sleep(0.005)

    def close(self):
        self.stop.set()
        self.thread.join(5)


def leftovers(directory, keep):
    return sorted(f for f in os.listdir(directory) if f not in keep)


# ui_dir "": no page. The daemon may run as an unprivileged user, who cannot
# look into a checkout made with mode 0700 (a fresh clone in a mktemp dir).
DEMO_CONFIG = """
refresh: {{ interval: 500ms, window: 10s, lag: 0s }}
ui_dir: ""
output: {{ file: {out} }}
flows:
  - name: demo
    type: demo
"""


def output_failure_checks(tap, label, d, out, old, log0, e0, w0, cause, directory, keep):
    """While the write keeps failing: the checks common to both file faults.
    old: the file's bytes once the fault was in place."""
    file_updated = json.loads(old)["updated"]
    w_mid, e_mid = file_counts(d)
    g1 = d.graph()
    time.sleep(1.2)
    g2 = d.graph()
    # "updated" has whole seconds: two refreshes 500 ms apart may share it.
    tap.check(g2["updated"] > g1["updated"] >= file_updated and g2["updated"] > file_updated,
              f"{label}: /vizceral.json keeps serving fresh graphs while the file cannot be written",
              f"file {file_updated}, served {g1['updated']} then {g2['updated']}")
    w1, e1 = file_counts(d)
    tap.check(e1 >= e0 + 2 and e1 > e_mid,
              f"{label}: vizfeed_output_file_errors_total increases ({e0:.0f} -> {e1:.0f})")
    tap.check(w1 == w_mid, f"{label}: no write counted while failing ({w_mid:.0f} -> {w1:.0f})")
    lines = [l for l in d.log().splitlines()[log0:] if "file output failed" in l]
    if lines:
        print(f"# {label}: logged: {lines[0]}", flush=True)
    tap.check(lines and all(out in l and cause in l and " error " in f" {l} " for l in lines),
              f"{label}: each failure is one error line naming the path and the cause ({cause})",
              "\n".join(lines[:3]) or d.log()[-2000:])
    now = read_bytes(os.path.join(directory, os.path.basename(out)))
    tap.check(now == old, f"{label}: the old file is untouched while writes fail")
    try:
        graph = json.loads(now)
        problems = validate(graph)
    except ValueError as e:
        problems = [str(e)]
    tap.check(not problems, f"{label}: the old file is a complete, valid graph", "\n".join(problems[:5]))
    tap.check(not leftovers(directory, keep), f"{label}: no temporary file left behind", leftovers(directory, keep))


# ---- output.file: directory unwritable -----------------------------------------

def unwritable_mechanism(tmp):
    """'setpriv' (root: run as nobody, chmod 0555), 'chmod' (not root), or
    'replace' (root without a usable setpriv: the directory replaced by a file)."""
    if os.geteuid() != 0:
        return "chmod", []
    setpriv = shutil.which("setpriv") if not os.environ.get("VIZFEED_FAULTS_NO_SETPRIV") else None
    if setpriv:
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        try:
            r = subprocess.run(prefix + [VIZFEED, "--version"], capture_output=True, timeout=20)
            if r.returncode == 0:
                return "setpriv", prefix
            print(f"# setpriv cannot run vizfeed as uid {NOBODY}: {r.stderr.decode()[:200]}", flush=True)
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"# setpriv unusable: {e}", flush=True)
    return "replace", []


def output_dir_unwritable(tap, tmp):
    label = "unwritable directory"
    base = os.path.join(tmp, "unwritable")
    os.makedirs(base)
    mech, prefix = unwritable_mechanism(tmp)
    print(f"# {label}: mechanism {mech}" + (f" (daemon as uid {NOBODY})" if mech == "setpriv" else ""), flush=True)
    out_dir = os.path.join(base, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "vizceral.json")
    config = write(os.path.join(base, "vizfeed.yml"), DEMO_CONFIG.format(out=out))
    away = out_dir + ".away"
    if mech == "setpriv":
        for p in (tmp, base):
            os.chmod(p, 0o755)
        os.chmod(config, 0o644)
        os.chown(out_dir, NOBODY, NOBODY)
    d = Daemon(["-c", config], prefix=prefix)
    reader = None
    broken = False
    try:
        wait(lambda: os.path.exists(out) and d.graph(), 15, "the first output file", d)
        reader = Reader(out)
        w0, e0 = file_counts(d)
        wait(lambda: file_counts(d)[0] >= w0 + 2, 10, "two more writes", d)
        log0 = len(d.log().splitlines())
        # Break it.
        broken = True
        if mech == "replace":
            os.rename(out_dir, away)
            write(out_dir, "a file where the directory was\n")
            directory, cause = away, "Not a directory"
        else:
            os.chmod(out_dir, 0o555)
            directory, cause = out_dir, "Permission denied"
        w0, e0 = file_counts(d)
        wait(lambda: file_counts(d)[1] >= e0 + 1, 10, "a failed write", d)
        old = read_bytes(os.path.join(directory, "vizceral.json"))
        output_failure_checks(tap, label, d, out, old, log0, e0, w0, cause, directory, {"vizceral.json"})
        tap.check(d.request("GET", "/healthz")[0] == 200 and d.proc.poll() is None, f"{label}: the daemon runs on")
        # Repair it.
        if mech == "replace":
            os.unlink(out_dir)
            os.rename(away, out_dir)
        else:
            os.chmod(out_dir, 0o755)
        broken = False
        w1, _ = file_counts(d)
        wait(lambda: json.loads(read_bytes(out))["updated"] > json.loads(old)["updated"], 10,
             "the file written again", d)
        w2 = writes_after(d, w1)
        tap.check(w2 > w1, f"{label}: after repair the file is replaced again (writes {w1:.0f} -> {w2:.0f})")
        tap.check(not leftovers(out_dir, {"vizceral.json"}), f"{label}: no temporary file after recovery",
                  leftovers(out_dir, {"vizceral.json"}))
        reader.close()
        tap.check(reader.reads > 20 and not reader.bad,
                  f"{label}: a reader never saw a partial or empty file ({reader.reads} reads)", reader.bad[:3])
        tap.equal(d.stop(), 0, f"{label}: exits 0 on SIGTERM")
    finally:
        if reader:
            reader.close()
        d.stop()
        if broken:
            if mech == "replace" and os.path.isdir(away):
                os.unlink(out_dir)
                os.rename(away, out_dir)
            elif os.path.isdir(out_dir):
                os.chmod(out_dir, 0o755)


# ---- output.file: disk full ----------------------------------------------------

def try_mount(directory, size):
    if os.geteuid() != 0 or os.environ.get("VIZFEED_FAULTS_NO_MOUNT"):
        return False, "not root" if os.geteuid() != 0 else "VIZFEED_FAULTS_NO_MOUNT set"
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", directory],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return r.returncode == 0, r.stderr.strip()


def umount(directory):
    r = subprocess.run(["umount", directory], capture_output=True, timeout=20)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", directory], capture_output=True, timeout=20)


def fill(path):
    """Appends to path until the file system is full; returns the bytes written."""
    n = 0
    chunk = b"\0" * 4096
    with open(path, "ab", buffering=0) as f:
        for _ in range(1 << 16):  # at most 256 MiB
            try:
                n += f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    # A last partial block: tmpfs counts pages, so a byte at a time is at most 4095 more tries.
    with open(path, "ab", buffering=0) as f:
        for _ in range(4096):
            try:
                n += f.write(b"\0")
            except OSError:
                break
    return n


def ignore_sigxfsz():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def disk_full(tap, tmp):
    label = "disk full"
    base = os.path.join(tmp, "diskfull")
    out_dir = os.path.join(base, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "vizceral.json")
    filler = os.path.join(out_dir, "filler")
    config = write(os.path.join(base, "vizfeed.yml"), DEMO_CONFIG.format(out=out))
    mounted, why = try_mount(out_dir, "1m")
    mech = "tmpfs" if mounted else "rlimit"
    if mounted:
        print(f"# {label}: mechanism tmpfs of 1 MiB on {out_dir}, filled up", flush=True)
    else:
        print(f"# {label}: mechanism RLIMIT_FSIZE on the daemon, SIGXFSZ ignored (mount failed: {why})", flush=True)
    d = None
    reader = None
    try:
        d = Daemon(["-c", config], preexec_fn=None if mounted else ignore_sigxfsz)
        wait(lambda: os.path.exists(out) and d.graph(), 15, "the first output file", d)
        reader = Reader(out)
        w0, e0 = file_counts(d)
        wait(lambda: file_counts(d)[0] >= w0 + 2, 10, "two more writes", d)
        log0 = len(d.log().splitlines())
        size = len(read_bytes(out))
        w0, e0 = file_counts(d)
        if mounted:
            fill(filler)
            # A write that was under way when the disk filled frees its space when it fails: top up.
            wait(lambda: file_counts(d)[1] >= e0 + 1, 10, "a failed write", d)
            fill(filler)
            st = os.statvfs(out_dir)
            free = st.f_bavail * st.f_frsize
            tap.check(free < size, f"{label}: the graph ({size} bytes) is bigger than the free space ({free} bytes)")
            cause = "No space left on device"
        else:
            limit = size // 2
            soft, hard = resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))
            tap.equal(resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE)[0], limit,
                      f"{label}: RLIMIT_FSIZE of the daemon lowered to {limit} bytes (graph {size} bytes)")
            cause = "File too large"
        wait(lambda: file_counts(d)[1] >= e0 + 2, 10, "failed writes", d)
        old = read_bytes(out)
        output_failure_checks(tap, label, d, out, old, log0, e0, w0, cause, out_dir, {"vizceral.json", "filler"})
        tap.check(d.request("GET", "/healthz")[0] == 200 and d.proc.poll() is None,
                  f"{label}: the daemon runs on" + ("" if mounted else " (SIGXFSZ ignored, write() gets EFBIG)"))
        # Free the space.
        if mounted:
            os.unlink(filler)
        else:
            resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
        w1, _ = file_counts(d)
        wait(lambda: json.loads(read_bytes(out))["updated"] > json.loads(old)["updated"], 10,
             "the file written again", d)
        w2 = writes_after(d, w1)
        tap.check(w2 > w1, f"{label}: once space is freed the file is replaced again (writes {w1:.0f} -> {w2:.0f})")
        tap.check(not leftovers(out_dir, {"vizceral.json"}), f"{label}: no temporary file after recovery",
                  leftovers(out_dir, {"vizceral.json"}))
        reader.close()
        tap.check(reader.reads > 20 and not reader.bad,
                  f"{label}: a reader never saw a partial or empty file ({reader.reads} reads)", reader.bad[:3])
        tap.equal(d.stop(), 0, f"{label}: exits 0 on SIGTERM")
    finally:
        if reader:
            reader.close()
        if d:
            d.stop()
        if mounted:
            umount(out_dir)
    tap.check(mech in ("tmpfs", "rlimit"), f"{label}: ran with {mech}")


# ---- Elasticsearch faults in sequence against one daemon -------------------------

def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


class ProcFake:
    """tests/es/fake_es.py as a process of its own, so that stopping it closes every
    connection (the next connect is refused); restarted on the same port."""

    def __init__(self, data):
        self.data = data
        self.port = 0
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, FAKE_ES, "--port", str(self.port), "--data", self.data],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()  # "listening on 127.0.0.1:PORT", or an error and EOF
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"fake_es did not start: {line}")
        self.port = int(m.group(1))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def control(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status

    def inject(self, faults):
        self.control("/_fake/inject", faults)

    def clear(self):
        self.control("/_fake/clear", {})


def es_fresh(g):
    es, side = region(g, "es-region"), region(g, "side-region")
    return bool(es and side and not is_stale(es) and not is_stale(side)
                and all(find(es.get("nodes"), s) for s in ES_SERVICES))


class Watcher:
    """Polls /vizceral.json (then again with its ETag) and /readyz, recording everything."""

    def __init__(self, d):
        self.d = d
        self.reset()

    def reset(self):
        self.graphs, self.statuses, self.ready, self.n304, self.bad304 = [], [], [], 0, []

    def snapshot(self):
        status, headers, body = self.d.request("GET", "/vizceral.json")
        self.statuses.append(status)
        g = None
        if status == 200:
            g = json.loads(body)
            self.graphs.append(g)
            etag = headers.get("etag")
            s2, h2, _ = self.d.request("GET", "/vizceral.json", {"If-None-Match": etag or '"none"'})
            if s2 == 304:
                self.n304 += 1
            elif not (s2 == 200 and h2.get("etag") != etag):  # 200 only if a refresh came in between
                self.bad304.append((s2, etag, h2.get("etag")))
        rs = self.d.request("GET", "/readyz")[0]
        self.ready.append(rs)
        return g, rs

    def poll(self, cond, timeout, what):
        """The first graph (every answer recorded) for which cond(graph, /readyz status) holds."""
        def step():
            g, rs = self.snapshot()
            return g if g is not None and cond(g, rs) else None
        return wait(step, timeout, what, d=self.d, every=0.1)


def es_errors(d, kind):
    return d.metrics().get(f'vizfeed_es_errors_total{{flow="es",kind="{kind}"}}', 0.0)


def es_sequence(tap, tmp):
    base = os.path.join(tmp, "sequence")
    os.makedirs(base)
    ts = iso(time.time() - 5)
    docs = [{"@timestamp": ts, "event": {"dataset": "nginx.access"}, "source": {"ip": "198.51.100.7"},
             "host": {"name": ES_SERVICES[i % 3]}, "cloud": {"region": "es-region"},
             "http": {"response": {"status_code": 200}}} for i in range(30)]
    data = os.path.join(base, "es.ndjson")
    with open(data, "w") as f:
        f.write("".join(json.dumps(x) + "\n" for x in docs))
    side = os.path.join(base, "side.ndjson")

    def side_lines(service, n):
        return "".join(json.dumps({"@timestamp": iso(time.time() - 5), "service": {"name": service},
                                   "cloud": {"region": "side-region"}}) + "\n" for _ in range(n))

    write(side, side_lines("side-svc", 20))
    es = ProcFake(f"{INDEX}={data}")
    es.start()
    d = None
    try:
        config = write(os.path.join(base, "vizfeed.yml"), es_and_side([es.url], side, "10m"))
        d = Daemon(["-c", config])
        w = Watcher(d)
        w.poll(lambda g, rs: es_fresh(g) and rs == 200, 15, "the first graph with both flows")

        def restart_fake():
            es.start()  # same port
            print(f"# connection refused: fake restarted on port {es.port}", flush=True)

        # label, fault (a callable or faults to inject), error kind, fails the refresh, undo
        steps = [
            ("connection refused", es.stop, "connect", True, restart_fake),
            ("429 with Retry-After", [{"named": "429", "retry_after": 1, "always": True, "path": "_search"}],
             "rate_limited", True, es.clear),
            ("503", [{"named": "503", "always": True, "path": "_search"}], "unavailable", True, es.clear),
            ("too_many_buckets", [{"named": "too_many_buckets", "path": "_search"}], "too_many_buckets", False,
             es.clear),
            ("timed_out", [{"named": "timed_out_partial", "always": True, "path": "_search"}], "partial", False,
             es.clear),
            ("truncated body", [{"named": "truncated", "always": True, "path": "_search"}], "cut", True, es.clear),
        ]
        for label, fault, kind, failing, undo in steps:
            t0 = time.time()
            before = w.graphs[-1]
            k0 = es_errors(d, kind)
            log0 = len(d.log().splitlines())
            w.reset()
            with open(side, "a") as f:
                f.write(side_lines(f"side-{kind}", 3))
            fault() if callable(fault) else es.inject(fault)
            try:
                if failing:
                    w.poll(lambda g, rs: is_stale(region(g, "es-region")) and rs == 503, 20,
                           f"{label}: es-region stale and /readyz 503")
                else:
                    w.poll(lambda g, rs: es_errors(d, kind) > k0, 10, f"{label}: the error counted")
                    if kind == "partial":
                        w.poll(lambda g, rs: (region(g, "es-region") or {}).get("metadata", {}).get("partial"), 5,
                               f"{label}: metadata.partial")
                    for _ in range(8):  # a little longer: the answers stay as they were
                        w.snapshot()
                        time.sleep(0.1)
            finally:
                undo()
            during = list(w.graphs)
            k1 = es_errors(d, kind)
            tap.check(k1 > k0, f'{label}: vizfeed_es_errors_total{{flow="es",kind="{kind}"}} increases '
                      f"({k0:.0f} -> {k1:.0f})")
            tap.check(all(s == 200 for s in w.statuses), f"{label}: /vizceral.json answers 200 throughout",
                      sorted(set(w.statuses)))
            tap.check(w.n304 > 0 and not w.bad304, f"{label}: the same ETag gives 304 ({w.n304} times)",
                      w.bad304[:3])
            # A timed-out answer keeps the rows it has (the first half of the page): web-0 at least.
            want = ES_SERVICES if kind != "partial" else ES_SERVICES[:1]
            tap.check(all(region(g, "es-region") and all(find(region(g, "es-region").get("nodes"), s)
                                                         for s in want) for g in during),
                      f"{label}: the es part is in every graph "
                      f"({'carried over while the flow fails' if failing else 'the rows of the answer'})")
            tap.check(all(region(g, "side-region") and not is_stale(region(g, "side-region")) for g in during)
                      and any(find(region(g, "side-region").get("nodes"), f"side-{kind}") for g in during),
                      f"{label}: the file flow stays fresh and keeps being read")
            if failing:
                lines = [l for l in d.log().splitlines()[log0:] if "flow 'es' failed:" in l]
                tap.check(lines, f"{label}: the failure is logged", "\n".join(d.log().splitlines()[log0:][-5:]))
                if lines:
                    print(f"# {label}: logged: {lines[0][:300]}", flush=True)
                tap.check(503 in w.ready and w.ready[0] == 200,
                          f"{label}: /readyz 200 at first, 503 once the part is stale", w.ready)
                stale = [g for g in during if is_stale(region(g, "es-region"))]
                tap.check(stale and stale[0]["updated"] > before["updated"],
                          f"{label}: es-region marked stale after 3 failed refreshes")
            else:
                tap.check(all(r == 200 for r in w.ready), f"{label}: not a failure: /readyz stays 200",
                          sorted(set(w.ready)))
                tap.check(not any(is_stale(region(g, "es-region")) for g in during), f"{label}: nothing stale")
                if kind == "partial":
                    notes = [n for g in during for n in region(g, "es-region").get("notices") or []
                             if n.get("title") == "partial data from es"]
                    tap.check(notes, f"{label}: es-region says 'partial data from es'")
            # Back to normal before the next fault (429 and 503 back off for up to 10 s).
            w.reset()
            try:
                w.poll(lambda g, rs: es_fresh(g) and rs == 200 and not (
                    region(g, "es-region").get("metadata") or {}).get("partial"), 25, f"{label}: recovery")
                recovered, why = True, ""
            except TimeoutError as e:
                recovered, why = False, str(e)
            tap.check(recovered, f"{label}: recovered ({time.time() - t0:.1f}s for the step)", why)
            if not recovered:  # as before: the next steps would start from a broken state
                raise AssertionError(f"{label}: no recovery")
        # After the whole sequence: a fresh graph, no stale mark, no notice left.
        w.reset()
        w.poll(lambda g, rs: True, 5, "a graph")
        time.sleep(1.2)
        g, rs = w.snapshot()
        es_r, side_r = region(g, "es-region"), region(g, "side-region")
        tap.check(g["updated"] > time.time() * 1000 - 3000, "after the sequence: the graph is fresh",
                  f"updated {g['updated']}")
        tap.check(not any(is_stale(r) for r in g["nodes"] if isinstance(r, dict)) and not any(
            "stale" in (n.get("title") or "") or "partial" in (n.get("title") or "")
            for r in (es_r, side_r) for n in r.get("notices") or []),
            "after the sequence: no stale mark and no stale/partial notice", [es_r.get("notices"), es_r.get("metadata")])
        tap.equal(rs, 200, "after the sequence: /readyz 200")
        problems = validate(g, 0.05, 0.2, 0.01)
        tap.check(not problems, "after the sequence: the graph passes the validator", "\n".join(problems[:5]))
        tap.equal(d.stop(), 0, "after the sequence: exits 0 on SIGTERM")
    finally:
        if d:
            d.stop()
        es.stop()


def main():
    tap = Tap()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for group in (output_dir_unwritable, disk_full, es_sequence):
            t0 = time.time()
            tap.run(group, tmp)
            print(f"# {group.__name__}: {time.time() - t0:.1f}s", flush=True)
    print(f"# total {time.time() - started:.1f}s", flush=True)
    tap.done()


main()
