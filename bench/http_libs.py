#!/usr/bin/env python3
"""http_libs.py - the measurements behind issue 18, item 6: guard libmicrohttpd inside vizfeed, or
serve HTTP with something else? (docs/PERFORMANCE.md, "HTTP framing: guard or replace")

    bench/http_libs.py --vizfeed build/vizfeed [--before OLD/vizfeed] [--seconds 5] [--reps 2]

Each candidate serves the demo graph (the bytes vizfeed --demo serves, ~110 kB, ~15 kB gzip) on
127.0.0.1 with two threads or processes (the machine's CPU count):

  - vizfeed (libmicrohttpd 0.9.75 with vizfeed's guards) and, with --before, a build without them;
  - libevent 2.1.12's evhttp (bench/evhttp_server.c, compiled here; needs libevent-dev);
  - nginx 1.22 as a reverse proxy in front of vizfeed (the "pre-parser in front" option);
  - nginx serving the same bytes as static files (the reference of bench.py).

For each: wrk -t2 -c100 (keep-alive) on /vizceral.json with gzip and on /healthz, the median of
--reps runs of --seconds; the resident memory of the serving processes after the runs; and how
many of the hostile request heads of issue 18 get the answer the rule asks for (400/414/431 and
a closed connection, nothing after a bad request answered: each is followed by a good request on
the same connection, so [400, 200] means the request after it was answered, and [400, 400] on
libmicrohttpd means its error header block came twice). Every server is stopped at the end.
"""
import argparse
import gzip
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "scenario"))
from vizlib import http_exchange  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.1)
    return False


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])
        except (OSError, TypeError):
            pass
    return total


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]
    except OSError:
        return []


def cpu_seconds(pids):
    """User + system CPU of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def wrk(url, seconds, headers=(), pids=(), cpus=None):
    cmd = ["wrk", "-t2", "-c100", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus] + cmd
    for h in headers:
        cmd += ["-H", h]
    cpu0 = cpu_seconds(pids)
    p = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30)
    cpu = cpu_seconds(pids) - cpu0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)[1])
    requests = int(re.search(r"(\d+) requests in", p.stdout)[1])

    def lat(q):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", p.stdout, re.M)
        return float(m[1]) * {"us": 0.001, "ms": 1, "s": 1000}[m[2]] if m else float("nan")

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "errors": int(errors[1]) if errors else 0,
            "cpu_us": cpu / max(requests, 1) * 1e6}


# Hostile request heads and what the rule asks for: (name, bytes, expected first status, closed).
def hostile_cases():
    def req(extra=b"", host=b"Host: t\r\n", target=b"/healthz", version=b"HTTP/1.1"):
        return b"GET " + target + b" " + version + b"\r\n" + host + extra + b"\r\n"
    good = req()
    return [
        ("two Content-Length", req(b"Content-Length: 0\r\nContent-Length: 34\r\n") + good, 400),
        ("Content-Length -1", req(b"Content-Length: -1\r\n") + good, 400),
        ("Content-Length +34", req(b"Content-Length: +34\r\n") + good, 400),
        ("Content-Length 0, 34", req(b"Content-Length: 0, 34\r\n") + good, 400),
        ("Content-Length 10^23", req(b"Content-Length: 1" + b"0" * 23 + b"\r\n") + good, 400),
        ("Transfer-Encoding + Content-Length", req(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n")
         + b"0\r\n\r\n" + good, 400),
        ("HTTP/1.1 without Host", req(host=b"") + good, 400),
        ("two Host", req(b"Host: u\r\n") + good, 400),
        ("control byte in a value", req(b"X: a\x01b\r\n") + good, 400),
        ("space in a field name", req(b"Bad Name: x\r\n") + good, 400),
        ("3,000 query arguments", req(target=b"/healthz?" + b"&".join(b"a" for _ in range(3000))), 200),
        ("9 KiB target", req(target=b"/" + b"a" * 9000) + good, 414),
        ("3,000 header fields", req(b"".join(b"X-%d: v\r\n" % i for i in range(3000))) + good, 431),
    ]


def hostile_score(port):
    met, missed = 0, []
    for name, data, want in hostile_cases():
        codes, closed, _ = http_exchange(port, data)
        ok = codes == [want] and (closed or want == 200)
        met += ok
        if not ok:
            missed.append(f"{name}: {codes}{'' if closed else ' open'}")
    return met, missed


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def start(cmd, url, **kw):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **kw)
    if not wait_ready(url, 30):
        stop(p)
        logs = [open(os.path.join(d, f)).read()[-500:] for d in [os.path.dirname(cmd[2])] if len(cmd) > 2 and
                os.path.isdir(d) for f in os.listdir(d) if f.endswith(".log")]
        raise SystemExit(f"http_libs: {cmd[0]} did not answer {url}\n" + "\n".join(logs))
    return p


WORKERS = 2


def nginx_conf(tmp, name, port, body):
    conf = os.path.join(tmp, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes {WORKERS};
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    sendfile on; tcp_nopush on; keepalive_requests 1000000; keepalive_timeout 30s;
    types {{ application/json json; }}
    {body.replace("PORT", str(port))}
}}
""")
    return conf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vizfeed", required=True)
    ap.add_argument("--before", help="a vizfeed build without the guards, for comparison")
    ap.add_argument("--before-label", default="vizfeed, libmicrohttpd 0.9.75, no guards",
                    help="the --before build's row name (e.g. which guards it lacks)")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--pin", action="store_true", help="servers on CPU 0 (one thread or worker), wrk on CPU 1")
    a = ap.parse_args()
    global WORKERS
    pin = ["taskset", "-c", "0"] if a.pin else []
    WORKERS = 1 if a.pin else 2
    workers = "1" if a.pin else "2"
    tmp = tempfile.mkdtemp(prefix="vizfeed-http-libs-")
    os.chmod(tmp, 0o755)  # nginx's workers run as another user when started as root
    procs = []
    try:
        servers = []  # (name, port, pids function)
        for name, binary in [("vizfeed, libmicrohttpd 0.9.75 + guards", a.vizfeed),
                             (a.before_label, a.before)]:
            if not binary:
                continue
            port = free_port()
            # A long interval: the graph stays the same bytes while it is measured.
            conf = os.path.join(tmp, f"demo-{port}.yml")
            with open(conf, "w") as f:
                f.write("refresh: { interval: 1h }\nflows:\n  - { name: demo, type: demo }\n")
            p = start(pin + [os.path.abspath(binary), "-q", "-c", conf, "--listen", f"127.0.0.1:{port}"],
                      f"http://127.0.0.1:{port}/vizceral.json", cwd=tmp)
            procs.append(p)
            servers.append((name, port, lambda p=p: [p.pid]))
        viz_port = servers[0][1]
        with urllib.request.urlopen(f"http://127.0.0.1:{viz_port}/vizceral.json") as r:
            body = r.read()
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        with open(os.path.join(www, "vizceral.json"), "wb") as f:
            f.write(body)
        with open(os.path.join(www, "vizceral.json.gz"), "wb") as f:
            f.write(gzip.compress(body, 6))
        with open(os.path.join(www, "healthz"), "w") as f:
            f.write('{"status":"ok"}\n')

        if shutil.which("cc") and os.path.exists("/usr/include/event2/http.h"):
            exe = os.path.join(tmp, "evhttp_server")
            subprocess.run(["cc", "-O2", os.path.join(HERE, "evhttp_server.c"), "-o", exe, "-levent", "-lpthread"],
                           check=True)
            port = free_port()
            p = start(pin + [exe, str(port), workers, os.path.join(www, "vizceral.json"), os.path.join(www, "vizceral.json.gz")],
                      f"http://127.0.0.1:{port}/healthz")
            procs.append(p)
            servers.append(("libevent 2.1.12 evhttp", port, lambda p=p: [p.pid]))
        else:
            print("(libevent-dev not installed: evhttp left out)", file=sys.stderr)

        if shutil.which("nginx"):
            port = free_port()
            conf = nginx_conf(tmp, "proxy", port, f"""upstream viz {{ server 127.0.0.1:{viz_port}; keepalive 64; }}
    server {{ listen 127.0.0.1:PORT;
        location / {{ proxy_pass http://viz; proxy_http_version 1.1; proxy_set_header Connection "";
                      proxy_buffering on; }} }}""")
            p = start(pin + ["nginx", "-c", conf, "-p", tmp], f"http://127.0.0.1:{port}/healthz")
            procs.append(p)
            vp = procs[0].pid
            servers.append(("nginx 1.22 proxy in front of vizfeed", port,
                            lambda p=p, vp=vp: [p.pid] + children(p.pid) + [vp]))
            port = free_port()
            conf = nginx_conf(tmp, "static", port, f"""server {{ listen 127.0.0.1:PORT; root {www};
        gzip_static on; location = /healthz {{ default_type application/json; }} }}""")
            p = start(pin + ["nginx", "-c", conf, "-p", tmp], f"http://127.0.0.1:{port}/healthz")
            procs.append(p)
            servers.append(("nginx 1.22, the same bytes as static files", port,
                            lambda p=p: [p.pid] + children(p.pid)))

        runs = {}
        for rep in range(a.reps):  # interleaved, so that the machine's moods fall on all alike
            for name, port, pids in servers:
                for route, headers in [("/vizceral.json", ["Accept-Encoding: gzip"]), ("/healthz", [])]:
                    runs.setdefault((name, route), []).append(wrk(f"http://127.0.0.1:{port}{route}", a.seconds,
                                                                  headers, pids(), "1" if a.pin else None))
        print(f"wrk -t2 -c100 -d{a.seconds}s, keep-alive, median of {a.reps}"
              f"{'; server on CPU 0, wrk on CPU 1' if a.pin else ''}; server CPU per request; RSS after the runs; "
              f"hostile heads answered as the rule asks (of {len(hostile_cases())})\n")
        print("| server | graph (gzip) req/s | p50 | p99 | CPU/req | /healthz req/s | p50 | p99 | CPU/req | RSS "
              "| rule met | missed |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name, port, pids in servers:
            cells = [name]
            for route in ["/vizceral.json", "/healthz"]:
                r = runs[(name, route)]
                cells += [f"{statistics.median(x['rps'] for x in r):,.0f}",
                          f"{statistics.median(x['p50'] for x in r):.2f} ms",
                          f"{statistics.median(x['p99'] for x in r):.2f} ms",
                          f"{statistics.median(x['cpu_us'] for x in r):.1f} µs"]
                if sum(x["errors"] for x in r):
                    cells[-4] += f" ({sum(x['errors'] for x in r)} non-2xx)"
            cells.append(f"{rss_kib(pids()) / 1024:.1f} MiB")
            met, missed = hostile_score(port)
            cells += [f"{met}/{len(hostile_cases())}", "; ".join(missed) or "-"]
            print("| " + " | ".join(cells) + " |", flush=True)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
