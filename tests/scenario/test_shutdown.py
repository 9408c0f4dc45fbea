"""SIGTERM while HTTP connections come and go: the daemon exits 0, every time.

The daemon stops accepting at SIGTERM, before it waits for the refresh in
progress. It used libmicrohttpd's MHD_quiesce_daemon() for that, which in
0.9.75 (and later 0.9.x) races with its own thread pool in epoll mode: the
main thread and a worker woken by any event both remove the listening socket
from the worker's epoll set, and whichever comes second gets ENOENT, which
libmicrohttpd treats as fatal ("Fatal error in GNU libmicrohttpd ...: Failed
to remove listen FD from epoll set", abort(), exit status -6, no sanitizer
report). CI hit it once in test_output_faults.py, whose last request comes
just before its SIGTERM. The window is a few instructions wide, so:

  - "widened": tests/faults/slowdel.c (LD_PRELOAD; built as libslowdel.so
    beside $VIZFEED in tests/) holds the main thread's epoll_ctl(DEL) for
    a while and the test connects meanwhile, which woke a worker into the
    race every time before the fix (needs a build without ASan/TSan and at
    least two CPUs, for libmicrohttpd's thread pool; a TAP SKIP otherwise);
  - "as in CI": rounds of a request answered and closed, then SIGTERM at
    once, on every build (sanitizers included).

Each round also checks that the log holds no fatal error, and the widened
rounds that no connection made while the daemon stops is left hanging.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

from vizlib import VIZFEED, Daemon, Tap, read_bytes, write

CONFIG = """
refresh: { interval: 300ms, window: 10s, lag: 0s }
ui_dir: ""
flows:
  - name: demo
    type: demo
"""
WIDENED_ROUNDS = 4
SLOWDEL_MS = 300  # how long the main thread's epoll_ctl(DEL) waits
CI_ROUNDS = 12
TAIL_LINES = 20


def slowdel_library():
    """(path of libslowdel.so, None) or (None, why the widened rounds cannot run)."""
    lib = os.path.join(os.path.dirname(VIZFEED), "tests", "libslowdel.so")
    if not os.path.exists(lib):
        return None, f"{lib} is not built (tests/faults/slowdel.c)"
    try:
        linked = subprocess.run(["ldd", VIZFEED], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        linked = ""
    if re.search(r"lib(asan|tsan)\b", linked) or re.search(rb"__(asan|tsan)_init", read_bytes(VIZFEED)):
        return None, f"{VIZFEED} is built with a sanitizer: LD_PRELOAD of another library breaks its runtime"
    if len(os.sched_getaffinity(0)) < 2:
        return None, "one CPU: libmicrohttpd runs no thread pool, where the race lives"
    return lib, None


def knock(port):
    """Connects and asks for the graph. What came back: 'served' (an HTTP
    answer), 'closed' (closed or reset without one), 'refused' (not
    listening any more), 'hanging' (nothing within 5 s) or the error."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return f"cannot connect: {e}"
    try:
        s.sendall(b"GET /vizceral.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
        return "served" if data.startswith(b"HTTP/") else "closed"
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        return "hanging"
    finally:
        s.close()


def ask_and_close(port):
    """One whole request on its own connection, closed by the client: what
    test_output_faults.py's /metrics polling does just before its SIGTERM."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
    finally:
        s.close()


def verdict(d, code):
    """'' when the daemon exited 0 with no fatal error in its log, else why not."""
    lines = d.log().splitlines()
    fatal = [l for l in lines if "Fatal error" in l or "Assertion" in l]
    if code == 0 and not fatal:
        return ""
    sig = f" ({signal.Signals(-code).name})" if code < 0 and -code in signal.valid_signals() else ""
    return f"exit status {code}{sig}; last log lines:\n" + "\n".join(lines[-TAIL_LINES:])


def widened(tap, config):
    label = "SIGTERM, race widened"
    lib, why = slowdel_library()
    if not lib:
        tap.skip(label, why)
        return
    env = dict(os.environ, LD_PRELOAD=lib, SLOWDEL_MS=str(SLOWDEL_MS))
    failures, answers = [], []
    for i in range(WIDENED_ROUNDS):
        d = Daemon(["-c", config], env=env)
        try:
            ask_and_close(d.port)
            d.signal(signal.SIGTERM)
            # Within the held epoll_ctl(DEL): wake the workers with connections.
            end = time.time() + SLOWDEL_MS / 1000
            while time.time() < end:
                answers.append(knock(d.port))
                time.sleep(0.005)
            code = d.proc.wait(timeout=30)  # one SIGTERM: stop() would send another
        finally:
            d.stop()
        why = verdict(d, code)
        if why:
            failures.append(f"round {i + 1}: {why}")
    counts = {a: answers.count(a) for a in sorted(set(answers))}
    print(f"# {label}: connections made meanwhile: {counts}", flush=True)
    tap.check(not failures, f"{label}: {WIDENED_ROUNDS} daemons, each connected to while the main thread was held in "
              f"epoll_ctl(DEL) for {SLOWDEL_MS} ms, exit 0 with no fatal error", "\n".join(failures[:2]))
    tap.check(answers.count("hanging") == 0, f"{label}: no connection made while stopping was left hanging", counts)


def as_in_ci(tap, config):
    label = "SIGTERM right after a request"
    failures = []
    for i in range(CI_ROUNDS):
        d = Daemon(["-c", config])
        try:
            ask_and_close(d.port)
            code = d.stop(timeout=30)
        finally:
            d.stop()
        why = verdict(d, code)
        if why:
            failures.append(f"round {i + 1}: {why}")
    tap.check(not failures, f"{label}: {CI_ROUNDS} daemons stopped just after answering exit 0 with no fatal error",
              "\n".join(failures[:2]))


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        config = write(os.path.join(tmp, "vizfeed.yml"), CONFIG)
        tap.run(widened, config)
        tap.run(as_in_ci, config)
    tap.done()


main()
