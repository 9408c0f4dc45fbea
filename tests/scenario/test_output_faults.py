"""output.file under faults that tests/scenario/test_faults.py does not make:

  - SIGKILL at varied moments, about two dozen times, with a graph of a few
    MB (bench/gen_replay.py's 50k-edge fleet) so that a write takes
    milliseconds, restarting on the same path each time: output.file is
    absent (before the first write) or a complete, valid graph, never a
    partial one; the temporary files killed writers leave are removed when
    the next daemon opens the file (one info line naming them), and names
    that merely resemble them are left alone;
  - the file system turns read-only (a tmpfs remounted ro) while the daemon
    runs, then writable again;
  - fsync(), write() and rename() fail with EIO, through the LD_PRELOAD
    injector tests/faults/failio.c (built as libfailio.so, found in
    $VIZFEED_FAILIO or beside $VIZFEED in tests/), then work again.

The promise (src/sink_file.c, docs/RELIABILITY.md "Output file"): a failed
write is one error line naming the path, the step and the cause, counted in
vizfeed_output_file_errors_total; the old file stays complete and no
temporary file is left; HTTP keeps serving the fresh graph; the next refresh
after the cause is gone writes the file again, and that is logged once.

The read-only case needs `mount` (root) and the EIO cases a build without
ASan/TSan (their runtime must be the first library loaded); otherwise those
checks are a TAP SKIP naming the reason.
"""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

from vizlib import SRC, VIZFEED, Daemon, Tap, file_counts, poll, read_bytes, validate, wait, write, writes_after

OUT = "vizceral.json"
TMP_RE = re.compile(r"^" + re.escape(OUT) + r"\.tmp\.[A-Za-z0-9]{6}$")  # what mkostemp makes of it
GEN_REPLAY = os.path.join(SRC, "bench", "gen_replay.py")
KILLS = 24
RELOADS = 6
TOTAL_BUDGET = 200  # seconds (TSan's run is the slowest); each group also bounds each of its waits


# ---- helpers -------------------------------------------------------------------

def temporaries(directory):
    """The temporary files of OUT in directory: regular files named like mkostemp's."""
    out = []
    for n in os.listdir(directory):
        try:
            if TMP_RE.match(n) and stat.S_ISREG(os.lstat(os.path.join(directory, n)).st_mode):
                out.append(n)
        except FileNotFoundError:  # renamed meanwhile
            pass
    return sorted(out)


_valid = {}


def graph_problems(data):
    """Why data is not a complete, valid graph ([] when it is); cached by content."""
    key = hashlib.sha256(data).hexdigest()
    if key not in _valid:
        try:
            _valid[key] = validate(json.loads(data))
        except ValueError as e:
            _valid[key] = [f"not JSON ({len(data)} bytes): {e}"]
    return _valid[key]


def updated(data):
    return json.loads(data)["updated"]


def log_lines(d, start=0):
    return d.log().splitlines()[start:]


def skip(tap, name, reason):
    tap.skip(name, reason)


def try_mount(directory, size):
    if os.geteuid() != 0 or os.environ.get("VIZFEED_FAULTS_NO_MOUNT"):
        return False, "not root" if os.geteuid() != 0 else "VIZFEED_FAULTS_NO_MOUNT set"
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", directory],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return r.returncode == 0, r.stderr.strip()


def remount(directory, mode, timeout=5):
    """mount -o remount,MODE; retried while it is busy (ro is refused while a
    file is open for writing, e.g. the daemon's temporary file)."""
    errors = []

    def attempt():
        r = subprocess.run(["mount", "-o", f"remount,{mode}", directory], capture_output=True, text=True, timeout=20)
        errors.append(r.stderr.strip())
        return r.returncode == 0
    if not poll(attempt, timeout, every=0.02):
        raise RuntimeError(f"mount -o remount,{mode} {directory} failed: {errors[-1] if errors else ''}")


def umount(directory):
    r = subprocess.run(["umount", directory], capture_output=True, timeout=20)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", directory], capture_output=True, timeout=20)


TAIL_LINES = 30  # of the daemon's log quoted when it does not exit 0


def sanitizer_reports(pid):
    """The sanitizer reports process pid wrote ($ASAN_OPTIONS/$UBSAN_OPTIONS/$TSAN_OPTIONS
    log_path, as ./dev sets them, names files PATH.PID)."""
    out = []
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
        m = re.search(r"(?:^|:)log_path=([^:]+)", os.environ.get(var, ""))
        path = m and f"{m.group(1)}.{pid}"
        if path and os.path.exists(path):
            with open(path, errors="replace") as f:
                out.append(f"--- {path}:\n{f.read()[-4000:]}")
    return out


def stopped_cleanly(tap, d, name):
    """SIGTERM, then checks the exit status is 0. Otherwise the failure says
    all there is to know (a failed assert() or a library's panic goes to
    stderr, which is the daemon's log, removed with its folder): the status,
    the signal, the log's last lines and any sanitizer report of the process."""
    code = d.stop()
    why = ""
    if code != 0:
        sig = f" ({signal.Signals(-code).name})" if code < 0 and -code in signal.valid_signals() else ""
        lines = d.log().splitlines()
        why = (f"exit status {code}{sig}; the daemon's last {min(TAIL_LINES, len(lines))} log lines "
               f"(stdout and stderr):\n" + "\n".join(lines[-TAIL_LINES:]))
        reports = sanitizer_reports(d.proc.pid)
        why += "\n" + ("\n".join(reports) if reports else "no sanitizer report for pid %d" % d.proc.pid)
    return tap.check(code == 0, name, why)


# The demo fleet: a small graph that changes every second, so a 300 ms
# interval tries a write every second. ui_dir "": no page needed.
DEMO_CONFIG = """
refresh: {{ interval: 300ms, window: 10s, lag: 0s }}
ui_dir: ""
output: {{ file: {out} }}
flows:
  - name: demo
    type: demo
"""


# ---- SIGKILL mid-write, restarts, stale temporaries ------------------------------

# Names that resemble a temporary file of vizceral.json but are not exactly
# one: the sweep must leave every one of them alone.
LOOK_ALIKES = ["vizceral.json.tmp.AbC1234", "vizceral.json.tmp.AbC12", "vizceral.json.tmp.Ab-123",
               "xvizceral.json.tmp.AbC123", "other.json.tmp.AbC123", "vizceral.json.TMP.AbC123"]
LINK = "vizceral.json.tmp.Link01"  # exact pattern, but a symbolic link (to a file outside)
SUBDIR = "vizceral.json.tmp.Dir001"  # exact pattern, but a directory
PLANTED = "vizceral.json.tmp.Plant1"  # exact pattern, a regular file: stale, removed at the first start

# When each kill comes, in turn: right after start-up (before or around the
# first write), at a random moment after the daemon's first complete write
# (so that some kill finds a written file even where a refresh is slow, as
# under TSan), as soon as a temporary file appears (mkostemp done, data going
# in), once it holds bytes (writing or syncing).
KILL_MOMENTS = ["after start-up", "random after a write", "temporary appears", "temporary has bytes"]
LOOP_BUDGET = 100  # seconds for all the kills and restarts (about 45 under TSan)


def big_replay(base):
    """A 50k-edge replay fleet (bench/gen_replay.py): a 2-3 MB graph rebuilt in
    about 0.2 s, whose bytes change every second ("updated")."""
    rec = os.path.join(base, "replay")
    r = subprocess.run([sys.executable, GEN_REPLAY, "--edges", "50000", "--out", rec], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"gen_replay.py failed: {r.stderr[-1000:]}")
    with open(os.path.join(rec, "vizfeed.yml")) as f:
        text = f.read()
    text = text.replace("${BENCH_LISTEN:127.0.0.1:8080}", "127.0.0.1:0").replace("${BENCH_INTERVAL:1h}", "100ms")
    if "${" in text or "\noutput:" in text:
        raise RuntimeError("bench/gen_replay.py's configuration changed; adapt test_output_faults.py")
    return text


def wait_for_temporary(out_dir, timeout=4):
    """Polls every 0.2 ms (a write of the big graph lasts milliseconds) until a
    temporary file appears; returns its name, or None after timeout seconds."""
    names = poll(lambda: temporaries(out_dir), timeout, every=0.0002)
    return names[0] if names else None


def kill_at(d, moment, out_dir, rng):
    """Waits for the moment, then SIGKILLs the daemon and reaps it."""
    pid = d.proc.pid
    if moment == "after start-up":
        time.sleep(rng.uniform(0, 0.25))
    elif moment == "random after a write":
        wait(lambda: file_counts(d)[0] >= 1, 30, "a first write", d)
        time.sleep(rng.uniform(0, 1.5))
    else:
        end = time.time() + 4  # a write comes at least every second
        tmp = wait_for_temporary(out_dir)
        if tmp and moment == "temporary has bytes":
            def has_bytes():
                try:
                    return os.stat(os.path.join(out_dir, tmp)).st_size > 0
                except FileNotFoundError:  # renamed already: kill anyway, between writes
                    return True
            poll(has_bytes, max(0.0, end - time.time()), every=0.0002)
    os.kill(pid, signal.SIGKILL)
    d.proc.wait(timeout=10)


def sigkill_mid_write(tap, tmp):
    label = "SIGKILL"
    base = os.path.join(tmp, "kill")
    out_dir = os.path.join(base, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, OUT)
    config = write(os.path.join(base, "vizfeed.yml"), big_replay(base) + f"output: {{ file: {out} }}\n")
    # The look-alikes, planted before the first start.
    outside = write(os.path.join(base, "link-target"), "not vizfeed's\n")
    for name in LOOK_ALIKES:
        write(os.path.join(out_dir, name), '{"partial')
    os.symlink(outside, os.path.join(out_dir, LINK))
    os.makedirs(os.path.join(out_dir, SUBDIR))
    write(os.path.join(out_dir, SUBDIR, "inside"), "keep\n")
    write(os.path.join(out_dir, PLANTED), '{"nodes": [')
    seed = int(os.environ.get("VIZFEED_KILL_SEED") or random.randrange(1 << 30))
    print(f"# {label}: random moments from seed {seed} (VIZFEED_KILL_SEED={seed} repeats them)", flush=True)
    rng = random.Random(seed)

    bad_file, absent_after_write, leftovers_kept, wrong_logs, piled, kills = [], [], [], [], [], []
    seen_file = False
    previous = [PLANTED]  # temporaries the next start must remove
    d = None
    deadline = time.time() + LOOP_BUDGET
    try:
        for i in range(KILLS):
            if time.time() > deadline:
                break
            moment = KILL_MOMENTS[i % len(KILL_MOMENTS)]
            d = Daemon(["-c", config])
            # The sweep runs when the sink opens, before the port is logged.
            kept = [n for n in previous if os.path.lexists(os.path.join(out_dir, n))]
            if kept:
                leftovers_kept.append((i, kept))
            removed_lines = [l for l in d.log().splitlines() if "stale temporary file" in l]
            if previous and not (len(removed_lines) == 1 and " info " in f" {removed_lines[0]} " and
                                 out in removed_lines[0] and all(n in removed_lines[0] for n in previous)):
                wrong_logs.append((i, previous, removed_lines))
            elif not previous and removed_lines:
                wrong_logs.append((i, previous, removed_lines))
            kill_at(d, moment, out_dir, rng)
            d.stop()
            shutil.rmtree(d.tmp, ignore_errors=True)  # its log, read above
            left = temporaries(out_dir)
            sizes = [os.stat(os.path.join(out_dir, n)).st_size for n in left]
            kills.append((moment, sizes))
            if len(left) > 1:
                piled.append((i, left))
            if os.path.exists(out):
                seen_file = True
                problems = graph_problems(read_bytes(out))
                if problems:
                    bad_file.append((i, moment, problems[:3]))
            elif seen_file:
                absent_after_write.append((i, moment))
            previous = left
        tap.check(len(kills) == KILLS, f"{label}: {len(kills)} kills and restarts within {LOOP_BUDGET}s")
        tap.check(not bad_file and not absent_after_write,
                  f"{label}: after each of {len(kills)} kills output.file was absent (before the first write) or a "
                  "complete graph that parses and passes the validator", (bad_file + absent_after_write)[:3])
        tap.check(seen_file, f"{label}: the daemon got to write the file between kills")
        mid = [s for _, s in kills if s]
        size = len(read_bytes(out)) if os.path.exists(out) else 0
        print(f"# {label}: {len(mid)} of {len(kills)} kills left a temporary file (killed mid-write), sizes "
              f"{sorted(x for s in mid for x in s)} of a {size}-byte graph", flush=True)
        for m in KILL_MOMENTS:
            n = sum(1 for mm, s in kills if mm == m and s)
            print(f"#   {m}: {n} of {sum(1 for mm, _ in kills if mm == m)} mid-write", flush=True)
        tap.check(len(mid) >= KILLS // 4,
                  f"{label}: kills landed mid-write ({len(mid)} left a temporary file, at least {KILLS // 4} needed)")
        tap.check(not piled, f"{label}: temporary files never pile up: at most one after any kill", piled[:3])
        tap.check(not leftovers_kept,
                  f"{label}: each restart removed the temporary files left before it (also the planted {PLANTED})",
                  leftovers_kept[:3])
        tap.check(not wrong_logs, f"{label}: each restart that removed some logged one info line naming them and "
                  "the output file; none logged one otherwise", wrong_logs[:3])
        # One last start: reloads while a write is under way (the new sink's
        # sweep must leave the temporary file being written alone), then a
        # clean stop.
        d = Daemon(["-c", config])
        wait(lambda: file_counts(d)[0] >= 1, 15, "a write after the last restart", d)
        log0 = len(log_lines(d))
        t0 = time.time()
        hups = 0
        # Bounded by count; the time is generous for TSan builds on a busy machine, where
        # a write of this graph is seldom caught under way (15 s was once too short in CI).
        while hups < RELOADS and time.time() < t0 + 60:
            if wait_for_temporary(out_dir, 2):
                d.signal(signal.SIGHUP)
                hups += 1
                wait(lambda: d.log().count("configuration reloaded") >= hups, 10, "the reload", d)
        w0, _ = file_counts(d)
        wait(lambda: file_counts(d)[0] >= w0 + 2, 10, "two writes after the reloads", d)
        _, errors = file_counts(d)
        bad = [l for l in log_lines(d, log0) if "file output failed" in l or "stale temporary" in l]
        print(f"# {label}: reloads took {time.time() - t0:.1f}s", flush=True)
        tap.check(hups == RELOADS and errors == 0 and not bad,
                  f"{label}: {hups} reloads (SIGHUP) while a temporary file was being written: no write failed, "
                  "nothing removed",
                  "\n".join(bad[:3]) or f"{hups} reloads in {time.time() - t0:.0f} s, errors_total {errors}")
        stopped_cleanly(tap, d, f"{label}: the last daemon exits 0 on SIGTERM")
        tap.check(not temporaries(out_dir), f"{label}: no temporary file left at the end", temporaries(out_dir))
        problems = graph_problems(read_bytes(out))
        tap.check(not problems, f"{label}: the file at the end is a complete, valid graph", problems[:3])
        gone = [n for n in LOOK_ALIKES + [LINK, SUBDIR, os.path.join(SUBDIR, "inside")]
                if not os.path.lexists(os.path.join(out_dir, n))]
        tap.check(not gone and os.path.islink(os.path.join(out_dir, LINK)) and
                  os.path.isdir(os.path.join(out_dir, SUBDIR)),
                  f"{label}: look-alikes left alone ({', '.join(LOOK_ALIKES)}; a symbolic link and a directory "
                  "with the exact name)", gone)
        tap.check(read_bytes(outside) == b"not vizfeed's\n", f"{label}: the symbolic link's target is untouched")
        tap.check(all(read_bytes(os.path.join(out_dir, n)) == b'{"partial' for n in LOOK_ALIKES),
                  f"{label}: the look-alikes' contents are untouched")
    finally:
        if d:
            d.proc.poll() is None and d.proc.kill()
            d.stop()


# ---- read-only file system ---------------------------------------------------------

def read_only(tap, tmp):
    label = "read-only file system"
    base = os.path.join(tmp, "erofs")
    out_dir = os.path.join(base, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, OUT)
    config = write(os.path.join(base, "vizfeed.yml"), DEMO_CONFIG.format(out=out))
    mounted, why = try_mount(out_dir, "4m")
    if not mounted:
        skip(tap, label, f"cannot mount a tmpfs to remount read-only ({why})")
        return
    print(f"# {label}: tmpfs of 4 MiB on {out_dir}, remounted ro then rw", flush=True)
    d = None
    ro = False
    try:
        d = Daemon(["-c", config])
        wait(lambda: os.path.exists(out) and file_counts(d)[0] >= 2, 15, "two writes", d)
        log0 = len(log_lines(d))
        remount(out_dir, "ro")
        ro = True
        # Nothing can change the file from here on: it is the last good graph.
        old = read_bytes(out)
        w0, e0 = file_counts(d)
        wait(lambda: file_counts(d)[1] >= e0 + 2, 10, "two failed writes", d)
        w1, e1 = file_counts(d)
        tap.check(e1 >= e0 + 2, f"{label}: vizfeed_output_file_errors_total increases ({e0:.0f} -> {e1:.0f})")
        tap.check(w1 == w0, f"{label}: no write counted while read-only ({w0:.0f} -> {w1:.0f})")
        lines = [l for l in log_lines(d, log0) if "file output failed" in l]
        if lines:
            print(f"# {label}: logged: {lines[0]}", flush=True)
        tap.check(len(lines) == 1 and " error " in f" {lines[0]} " and out in lines[0] and
                  "Read-only file system" in lines[0] and "cannot create a temporary file" in lines[0],
                  f"{label}: one error line (not one per refresh) naming the path, the step and the cause",
                  "\n".join(log_lines(d, log0)[-5:]))
        now = read_bytes(out)
        tap.check(now == old and not graph_problems(now),
                  f"{label}: the old file is intact, complete and valid (the last good graph)")
        served = d.graph()
        tap.check(served["updated"] > updated(old),
                  f"{label}: HTTP keeps serving the current graph (served {served['updated']}, file {updated(old)})")
        tap.check(not temporaries(out_dir) and os.listdir(out_dir) == [OUT], f"{label}: no temporary file left",
                  os.listdir(out_dir))
        # Writable again.
        log1 = len(log_lines(d))
        remount(out_dir, "rw")
        ro = False
        wait(lambda: updated(read_bytes(out)) > updated(old), 10, "the file written again", d)
        w2 = writes_after(d, w1)
        tap.check(w2 > w1, f"{label}: writable again, the next refresh writes (writes {w1:.0f} -> {w2:.0f})")
        time.sleep(0.7)  # two more refreshes: the recovery must not be logged again
        again = [l for l in log_lines(d, log1) if "file output works again" in l]
        tap.check(len(again) == 1 and " info " in f" {again[0]} ", f"{label}: the recovery is logged once",
                  "\n".join(log_lines(d, log1)[-5:]))
        tap.check(not temporaries(out_dir) and not graph_problems(read_bytes(out)),
                  f"{label}: after recovery a valid file and no temporary")
        stopped_cleanly(tap, d, f"{label}: exits 0 on SIGTERM")
    finally:
        if d:
            d.stop()
        if ro:
            subprocess.run(["mount", "-o", "remount,rw", out_dir], capture_output=True, timeout=20)
        umount(out_dir)


# ---- EIO from fsync, write, rename (LD_PRELOAD) -------------------------------------

def failio_library():
    """(path of libfailio.so, None) or (None, why the EIO checks cannot run)."""
    lib = os.environ.get("VIZFEED_FAILIO")
    if not lib:
        beside = os.path.join(os.path.dirname(VIZFEED), "tests", "libfailio.so")
        if not os.path.exists(beside):
            return None, "VIZFEED_FAILIO is not set (the path of tests/faults/failio.c built as libfailio.so)"
        lib = beside
    if not os.path.exists(lib):
        return None, f"VIZFEED_FAILIO={lib} does not exist"
    try:
        linked = subprocess.run(["ldd", VIZFEED], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        linked = ""
    runtime = re.search(r"lib(asan|tsan)\b", linked)
    if not runtime:  # clang links the runtime statically
        data = read_bytes(VIZFEED)
        runtime = re.search(rb"__(asan|tsan)_init", data)
    if runtime:
        name = runtime.group(1)
        name = name.decode() if isinstance(name, bytes) else name
        return None, (f"{VIZFEED} is built with {'ASan' if name == 'asan' else 'TSan'}: LD_PRELOAD of another "
                      "library breaks the sanitizer's runtime")
    return lib, None


# call to fail -> the step the error line names
EIO_CASES = [("fsync", "cannot sync the temporary file"), ("write", "cannot write the temporary file"),
             ("rename", "cannot rename the temporary file over it")]


def eio(tap, tmp):
    label = "EIO"
    lib, why = failio_library()
    if not lib:
        skip(tap, f"{label} from fsync, write and rename", why)
        return
    print(f"# {label}: injected by {lib}", flush=True)
    base = os.path.join(tmp, "eio")
    out_dir = os.path.join(base, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, OUT)
    control = os.path.join(base, "failio.control")  # outside out_dir: its own writes never fail
    config = write(os.path.join(base, "vizfeed.yml"), DEMO_CONFIG.format(out=out))
    env = dict(os.environ, LD_PRELOAD=lib, FAILIO_DIR=out_dir, FAILIO_CONTROL=control)
    d = None
    try:
        d = Daemon(["-c", config], env=env)
        wait(lambda: os.path.exists(out) and file_counts(d)[0] >= 2, 15, "two writes", d)
        for call, step in EIO_CASES:
            name = f"{label} from {call}"
            log0 = len(log_lines(d))
            w0, e0 = file_counts(d)
            write(control, f"{call} EIO\n")
            wait(lambda: file_counts(d)[1] >= e0 + 1, 10, f"{name}: a failed write", d)
            old = read_bytes(out)  # no write can succeed from here on
            w1, e1 = file_counts(d)
            wait(lambda: file_counts(d)[1] >= e1 + 2, 10, f"{name}: two more failed writes", d)
            w2, e2 = file_counts(d)
            tap.check(e2 >= e0 + 3 and w2 == w1,
                      f"{name}: errors_total increases ({e0:.0f} -> {e2:.0f}), no write counted meanwhile")
            lines = [l for l in log_lines(d, log0) if "file output failed" in l]
            if lines:
                print(f"# {name}: logged: {lines[0]}", flush=True)
            tap.check(len(lines) == 1 and " error " in f" {lines[0]} " and out in lines[0] and
                      f"{step}: Input/output error" in lines[0],
                      f"{name}: one error line naming the path, the step ({step}) and the cause",
                      "\n".join(log_lines(d, log0)[-5:]))
            now = read_bytes(out)
            tap.check(now == old and not graph_problems(now), f"{name}: the old file is intact, complete and valid")
            tap.check(d.graph()["updated"] > updated(old),
                      f"{name}: HTTP keeps serving the current graph")
            tap.check(os.listdir(out_dir) == [OUT], f"{name}: the temporary file was removed", os.listdir(out_dir))
            # The fault goes away.
            log1 = len(log_lines(d))
            os.unlink(control)
            wait(lambda: updated(read_bytes(out)) > updated(old), 10, f"{name}: the file written again", d)
            w3 = writes_after(d, w2)
            tap.check(w3 > w2, f"{name}: once the fault is gone the next refresh writes (writes {w2:.0f} -> {w3:.0f})")
            time.sleep(0.7)
            again = [l for l in log_lines(d, log1) if "file output works again" in l]
            tap.check(len(again) == 1, f"{name}: the recovery is logged once", "\n".join(log_lines(d, log1)[-5:]))
            tap.check(os.listdir(out_dir) == [OUT] and not graph_problems(read_bytes(out)),
                      f"{name}: after recovery a valid file and no temporary", os.listdir(out_dir))
        tap.check(d.proc.poll() is None and d.request("GET", "/healthz")[0] == 200, f"{label}: the daemon runs on")
        stopped_cleanly(tap, d, f"{label}: exits 0 on SIGTERM")
    finally:
        if os.path.exists(control):
            os.unlink(control)
        if d:
            d.stop()


def main():
    tap = Tap()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for group in (sigkill_mid_write, read_only, eio):
            t0 = time.time()
            tap.run(group, tmp)
            print(f"# {group.__name__}: {time.time() - t0:.1f}s", flush=True)
    took = time.time() - started
    print(f"# total {took:.1f}s", flush=True)
    tap.check(took < TOTAL_BUDGET, f"the whole test stays within {TOTAL_BUDGET}s ({took:.1f}s)")
    tap.done()


main()
