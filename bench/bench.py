#!/usr/bin/env python3
"""bench.py - vizfeed's benchmark: refresh cost by size, against jq and Node.js,
an NDJSON file against Node.js and the parsing limit, HTTP against nginx, and
Elasticsearch's side of a refresh.

    ./dev bench            (installs jq, wrk, nginx-light, time, builds, runs this)
    bench/bench.py --vizfeed build-bench/vizfeed [--sizes 1000,10000,100000,1000000]

Prints each table as it is measured and rewrites the part of
docs/PERFORMANCE.md between the "bench:begin"/"bench:end" markers. Every run
is bounded: jq by --jq-timeout, each wrk run by --wrk-seconds, servers are
started on 127.0.0.1 on free ports and always stopped. The machine is shared
and noisy, so each figure is a median of --reps runs and comparisons are given
as ratios measured in the same run.
"""
import argparse
import ctypes
import json
import os
import platform
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
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_replay  # noqa: E402

AT = "2026-01-01T00:00:00Z"
out_lines = []


def say(line=""):
    print(line, flush=True)
    out_lines.append(line)


def table(head, rows):
    say("| " + " | ".join(head) + " |")
    say("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        say("| " + " | ".join(str(c) for c in r) + " |")
    say()


def human(n):
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


REFRESH_LINE = re.compile(r"refresh done in ([\d.]+)s \(([\d.]+)s CPU\)")


def timed(cmd, timeout, shell=False):
    """Runs cmd under /usr/bin/time; (wall s, CPU s, max RSS MB, refresh wall s, refresh CPU s) or
    None when it timed out. The last two are what `vizfeed once -v` logs of the refresh itself
    (vizfeed's own clocks: CLOCK_MONOTONIC and the thread's CPU time), NaN for other commands.
    The peak RSS is time's %M: a child forked from this Python process would count Python's
    memory in its own. CPU (user + system of everything that ran) is read with wait4() here,
    to the microsecond, where time prints hundredths: a 1k-edge refresh takes milliseconds."""
    argv = ["/usr/bin/time", "-f", "BENCHRSS %M"] + (["bash", "-c", cmd] if shell else cmd)
    started = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            os.killpg(p.pid, signal.SIGKILL)
            os.wait4(p.pid, 0)
            p.returncode = -9
            return None
        time.sleep(0.002)
    wall = time.monotonic() - started
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    rss = re.search(r"BENCHRSS (\d+)", err)
    if p.returncode != 0 or not rss:
        raise SystemExit(f"bench: {cmd} failed ({p.returncode}): {err[-500:]}")
    refresh = REFRESH_LINE.search(err)
    nan = float("nan")
    return (wall, ru.ru_utime + ru.ru_stime, int(rss[1]) / 1024, float(refresh[1]) if refresh else nan,
            float(refresh[2]) if refresh else nan)


def median_runs(cmd, reps, timeout, shell=False):
    return interleaved_runs([cmd], [reps], timeout, shell)[0]


def interleaved_runs(cmds, reps, timeout, shell=False):
    """Runs each of cmds reps[i] times, taking turns (a, b, a, b, ...), so that a change in the
    machine's load falls on all of them alike. Returns per command the medians of what timed()
    measures, or None for one that timed out (it is not run again)."""
    runs = [[] for _ in cmds]
    for rep in range(max(reps)):
        for i, cmd in enumerate(cmds):
            if rep >= reps[i] or runs[i] is None:
                continue
            r = timed(cmd, timeout, shell)
            runs[i] = None if r is None else runs[i] + [r]
    return [None if r is None else tuple(statistics.median(x[k] for x in r) for k in range(len(r[0]))) for r in runs]


def libdeflate_gzip_size(data):
    """The size vizfeed's snapshot gets: libdeflate's gzip at level 6, as snapshot.c does."""
    try:
        lib = ctypes.CDLL("libdeflate.so.0")
    except OSError:
        return None
    lib.libdeflate_alloc_compressor.restype = ctypes.c_void_p
    lib.libdeflate_gzip_compress_bound.restype = ctypes.c_size_t
    lib.libdeflate_gzip_compress_bound.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.libdeflate_gzip_compress.restype = ctypes.c_size_t
    lib.libdeflate_gzip_compress.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                             ctypes.c_size_t]
    lib.libdeflate_free_compressor.argtypes = [ctypes.c_void_p]
    c = lib.libdeflate_alloc_compressor(6)
    bound = lib.libdeflate_gzip_compress_bound(c, len(data))
    out = ctypes.create_string_buffer(bound)
    n = lib.libdeflate_gzip_compress(c, data, len(data), out, bound)
    lib.libdeflate_free_compressor(c)
    return n


def generate(work, size):
    d = os.path.join(work, f"replay-{size}")
    stamp = os.path.join(d, "done")
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(gen_replay.__file__):
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run([sys.executable, gen_replay.__file__, "--edges", str(size), "--out", d], check=True,
                       stdout=subprocess.DEVNULL)
        open(stamp, "w").close()
    return d


def fmt_time(r, bound=None):
    if r is None:
        return f"> {bound:.0f} s"
    return f"{r[0]:.3f} s"


# ---- 1 + 2a: refresh cost ------------------------------------------------------------------

def refresh_costs(a, sizes):
    say("## Refresh cost by size")
    say()
    say("`vizfeed once -v --at ... -c vizfeed.yml` over replayed answers. \"refresh\" is the refresh itself (read +")
    say("parse -> topology -> graph -> JSON -> gzip) as vizfeed's log line gives it, by its own clocks: what the")
    say("daemon spends every interval. \"process\" is the whole command, process start and configuration included,")
    say("by wait4(); jq and Node.js are timed the same way and the ratios compare whole processes (CPU = user +")
    say("system). Medians of the repetitions, vizfeed and Node.js taking turns. jq and Node.js do the same")
    say("transformation from the same pages (see bench/jq/transform.jq for what they leave out).")
    say()
    rows, results = [], {}
    for size in sizes:
        d = generate(a.work, size)
        cfg = os.path.join(d, "vizfeed.yml")
        reps = a.reps if size <= 100000 else max(1, a.reps // 2)
        js = subprocess.run([a.vizfeed, "once", "--at", AT, "-c", cfg], capture_output=True, check=True).stdout
        js = js.rstrip(b"\n")
        gz = libdeflate_gzip_size(js)
        flows = ["edge", "mesh", "net"]
        jq_cmd = ("set -o pipefail; (" + "; ".join(
            f"echo '{{\"flow\":\"{f}\"}}'; tail -q -n +2 {d}/{f}/000001/*.response.json; echo" for f in flows) +
                  f") | jq -n -c --slurpfile rules {d}/bench.json -f {HERE}/jq/transform.jq > /dev/null")
        jq = None
        if size <= a.jq_max:
            jq = median_runs(jq_cmd, 1 if size >= 10000 else 3, a.jq_timeout, shell=True)
        # vizfeed and Node.js take turns, so that both see the same load; Node.js may take long
        # at 1M edges, so it runs once there and vizfeed as often as below that.
        viz, node = interleaved_runs(
            [[a.vizfeed, "once", "-v", "--at", AT, "-c", cfg],
             ["node", f"{HERE}/node/transform.mjs", f"{d}/bench.json"] + [f"{d}/{f}/000001" for f in flows]],
            [reps, reps if size <= 100000 else 1], a.jq_timeout)
        if viz is None:
            raise SystemExit(f"bench: vizfeed took more than {a.jq_timeout} s at {size} edges")
        results[size] = {"viz": viz, "jq": jq, "node": node, "json": len(js), "gzip": gz}
        jq_text = fmt_time(jq, a.jq_timeout) if size <= a.jq_max else "not run"
        viz_cpu = viz[1]
        jq_ratio = (f"{jq[1] / viz_cpu:.0f}x" if jq else
                    (f"> {a.jq_timeout / viz_cpu:.0f}x" if size <= a.jq_max else "-"))
        node_ratio = f"{node[1] / viz_cpu:.1f}x" if node else f"> {a.jq_timeout / viz_cpu:.0f}x"
        rows.append([f"{size:,}", f"{viz[3]:.3f} s", f"{viz[4]:.3f} s", f"{viz[0]:.3f} s", f"{viz[1]:.3f} s",
                     f"{viz[2]:.0f} MB", human(len(js)),
                     human(gz) if gz else "?", jq_text, f"{jq[2]:.0f} MB" if jq else "-", jq_ratio,
                     fmt_time(node, a.jq_timeout), f"{node[2]:.0f} MB" if node else "-", node_ratio])
        print(f"  {size}: {rows[-1]}", flush=True)
    table(["edges", "refresh wall", "refresh CPU", "process wall", "process CPU", "peak RSS", "JSON", "gzip",
           "jq wall", "jq RSS",
           "jq/vizfeed (CPU)", "Node wall", "Node RSS", "Node/vizfeed (CPU)"], rows)
    growth = []
    for small, big in zip(sizes, sizes[1:]):
        if big == small * 10:
            v = results[big]["viz"][4] / results[small]["viz"][4]
            w = results[big]["viz"][3] / results[small]["viz"][3]
            p = results[big]["viz"][1] / results[small]["viz"][1]
            growth.append([f"{small:,} -> {big:,}", f"{v:.1f}x", f"{w:.1f}x", f"{p:.1f}x"])
    if growth:
        say("Growth per 10x edges (target: at most 12x):")
        say()
        table(["step", "refresh CPU", "refresh wall", "process CPU"], growth)
    return results


# ---- 2c: an NDJSON file ----------------------------------------------------------------------

def parse_limit(a, path, fields):
    """MB/s of the parsing limit on this machine (bench/parse_limit.cc): a scan of the bytes for
    newlines and quotes, and simdjson reading the same fields when Debian's libsimdjson-dev is
    installed. {} when no C++ compiler is found."""
    cxx = shutil.which("c++") or shutil.which("g++")
    if not cxx:
        return {}
    exe = os.path.join(a.work, "parse_limit")
    src = os.path.join(HERE, "parse_limit.cc")
    have_simdjson = os.path.exists("/usr/include/simdjson.h")
    cmd = [cxx, "-O3", "-march=native", src, "-o", exe] + (["-lsimdjson"] if have_simdjson else ["-DNO_SIMDJSON"])
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        return {}
    out = subprocess.run([exe, path] + fields, capture_output=True, text=True, timeout=300).stdout
    return {k: float(v) for k, v in (line.split() for line in out.splitlines())}


def ndjson_case(a):
    spans, edges = a.ndjson_spans, a.ndjson_spans // 2
    d = os.path.join(a.work, f"ndjson-{spans}")
    stamp = os.path.join(d, "done")
    gen = os.path.join(HERE, "gen_ndjson.py")
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(gen):
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run([sys.executable, gen, "--spans", str(spans), "--edges", str(edges), "--out", d], check=True)
        open(stamp, "w").close()
    path = os.path.join(d, "spans.ndjson")
    size = os.path.getsize(path)
    mb = size / 1e6
    say(f"## An NDJSON file: {spans:,} APM spans, {edges:,} edges, one file flow")
    say()
    say(f"`bench/gen_ndjson.py` writes {spans:,} span documents ({human(size)}, {size / spans:.0f} bytes a line:"
        " timestamp, caller, region, span id, callee, outcome) whose calls make")
    say(f"{edges:,} distinct edges, resolved by the topology of the replay cases. \"vizfeed\" is the first read of the")
    say("file: `vizfeed once -v --at ... -c vizfeed.yml`, reading, parsing and aggregating every line, then the")
    say("graph as in the replay cases. Node.js is `bench/node/transform.mjs --ndjson`: `JSON.parse` of every line,")
    say("the same window and aggregation, then the same transformation as its replay case. \"reading\" is vizfeed")
    say("on the same file with a `where` that no span meets (vizfeed-read.yml): every line read, parsed and")
    say("tested, no event kept, so no graph; its MB/s are the file's bytes over that refresh's CPU time. The")
    say("limit is `bench/parse_limit.cc` on the same bytes in memory (best of 5): a byte loop counting newlines")
    say("and quotes, and simdjson's DOM parser (Debian's libsimdjson) reading the flow's five fields of each line.")
    say()
    viz, node, read = interleaved_runs(
        [[a.vizfeed, "once", "-v", "--at", AT, "-c", os.path.join(d, "vizfeed.yml")],
         ["node", f"{HERE}/node/transform.mjs", os.path.join(d, "bench.json"), "--ndjson", path],
         [a.vizfeed, "once", "-v", "--at", AT, "-c", os.path.join(d, "vizfeed-read.yml")]],
        [a.reps, a.reps, a.reps], a.jq_timeout)
    if viz is None or read is None:
        raise SystemExit(f"bench: vizfeed took more than {a.jq_timeout} s on the NDJSON file")
    limit = parse_limit(a, path, ["@timestamp", "service.name", "cloud.region", "span.destination.service.resource",
                                  "event.outcome"])
    node_ratio = f"{node[1] / viz[1]:.1f}x" if node else f"> {a.jq_timeout / viz[1]:.0f}x"
    node_wall = f"{node[0] / viz[0]:.1f}x" if node else "-"
    table(["file", "vizfeed refresh wall", "refresh CPU", "process wall", "process CPU", "peak RSS", "Node wall",
           "Node CPU", "Node RSS", "Node/vizfeed (CPU)", "Node/vizfeed (wall)"],
          [[human(size), f"{viz[3]:.3f} s", f"{viz[4]:.3f} s", f"{viz[0]:.3f} s", f"{viz[1]:.3f} s",
            f"{viz[2]:.0f} MB", fmt_time(node, a.jq_timeout), f"{node[1]:.3f} s" if node else "-",
            f"{node[2]:.0f} MB" if node else "-", node_ratio, node_wall]])
    read_mbs = mb / read[4]
    rows = [["vizfeed, reading (refresh CPU)", f"{read[4]:.3f} s", f"{read_mbs:.0f}", "-"],
            ["vizfeed, first read with the graph (refresh CPU)", f"{viz[4]:.3f} s", f"{mb / viz[4]:.0f}", "-"]]
    for name, key in (("scan for newlines and quotes", "scan"), ("simdjson DOM, the five fields", "simdjson")):
        if key in limit:
            rows.append([name, f"{mb / limit[key]:.3f} s", f"{limit[key]:.0f}", f"{read_mbs / limit[key]:.0%}"])
    if not limit:
        say("(no C++ compiler: the limit is not measured)")
        say()
    table(["MB/s on the same bytes", "time", "MB/s", "vizfeed reading / this"], rows)


# ---- 2b: HTTP --------------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_ready(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if fetch(url)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wrk(url, seconds, headers, cpus=None):
    cmd = ["wrk", "-t2", "-c100", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus] + cmd
    for h in headers:
        cmd += ["-H", h]
    p = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", p.stdout)[1])

    def lat(q):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", p.stdout, re.M)
        if not m:
            return float("nan")
        return float(m[1]) * {"us": 0.001, "ms": 1, "s": 1000}[m[2]]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "errors": int(errors[1]) if errors else 0}


def median_wrk(runs):
    """One row out of repeated wrk runs: the median of each figure, the errors summed."""
    row = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
    row["errors"] = sum(r["errors"] for r in runs)
    row["runs"] = [r["rps"] for r in runs]
    return row


def start_vizfeed(a, d, interval, cpus=None):
    port = free_port()
    env = dict(os.environ, BENCH_LISTEN=f"127.0.0.1:{port}", BENCH_INTERVAL=interval)
    cmd = [a.vizfeed, "-q", "-c", os.path.join(d, "vizfeed.yml")]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus] + cmd
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/vizceral.json"
    if not wait_ready(url, 60):
        stop(p)
        raise SystemExit("bench: vizfeed did not serve a graph within 60 s")
    return p, url


def scrape(url, name):
    """The value of one unlabelled metric from vizfeed's /metrics."""
    body = fetch(url.replace("/vizceral.json", "/metrics"))[2].decode()
    return float(re.search(rf"^{name} (\S+)$", body, re.M)[1])


def cpu_seconds(stat_path):
    """User + system CPU seconds from a /proc .../stat file."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def refresher_and_process_cpu(pid):
    """(CPU seconds of the thread called "refresher", of the whole process) so far."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip() == "refresher":
                return cpu_seconds(f"/proc/{pid}/task/{tid}/stat"), cpu_seconds(f"/proc/{pid}/stat")
    raise SystemExit("bench: vizfeed has no thread called refresher")


def start_nginx(tmp, body, gz):
    port = free_port()
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "vizceral.json"), "wb") as f:
        f.write(body)
    with open(os.path.join(www, "vizceral.json.gz"), "wb") as f:
        f.write(gz)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    sendfile on; tcp_nopush on; keepalive_requests 1000000; keepalive_timeout 30s;
    types {{ application/json json; }}
    server {{
        listen 127.0.0.1:{port};
        root {www};
        gzip_static on;
        etag on;
    }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    url = f"http://127.0.0.1:{port}/vizceral.json"
    if not wait_ready(url, 20):
        stop(p)
        raise SystemExit("bench: nginx did not start (see " + tmp + "/error.log)")
    return p, url


def http_bench(a, size):
    say(f"## HTTP: /vizceral.json of the {size:,}-edge graph, vizfeed against nginx")
    say()
    say(f"wrk -t2 -c100 -d{a.wrk_seconds}s (keep-alive, 100 connections) with `Accept-Encoding: gzip`; nginx serves the")
    say("same bytes from a static file and its .gz (gzip_static on, etag on, 2 workers, sendfile). \"304\" sends")
    say(f"If-None-Match with the current ETag. The four runs are interleaved and repeated {a.http_reps} times;")
    say("each figure is the median, with the range of requests/s over the runs.")
    say()
    d = generate(a.work, size)
    tmp = tempfile.mkdtemp(prefix="vizfeed-bench-")
    os.chmod(tmp, 0o755)  # nginx's workers may run as another user (nobody) and must read the files
    procs = []
    runs = {}
    try:
        viz, viz_url = start_vizfeed(a, d, "1h")
        procs.append(viz)
        _, h, body = fetch(viz_url)
        _, hg, gz = fetch(viz_url, {"Accept-Encoding": "gzip"})
        nginx, nginx_url = start_nginx(tmp, body, gz)
        procs.append(nginx)
        _, nh, _ = fetch(nginx_url, {"Accept-Encoding": "gzip"})
        gzip_h = ["Accept-Encoding: gzip"]
        plan = [("vizfeed 200", viz_url, gzip_h), ("nginx 200", nginx_url, gzip_h),
                ("vizfeed 304", viz_url, gzip_h + [f"If-None-Match: {hg['ETag']}"]),
                ("nginx 304", nginx_url, gzip_h + [f"If-None-Match: {nh['ETag']}"])]
        for _ in range(a.http_reps):
            for name, url, headers in plan:
                runs.setdefault(name, []).append(wrk(url, a.wrk_seconds, headers))
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    res = {k: median_wrk(v) for k, v in runs.items()}
    say(f"Body: {human(len(gz))} gzip ({human(len(body))} JSON).")
    say()
    table(["server, answer", "requests/s (median)", "range", "latency p50", "latency p99", "non-2xx/3xx"],
          [[k, f"{v['rps']:,.0f}", f"{min(v['runs']):,.0f}-{max(v['runs']):,.0f}", f"{v['p50']:.2f} ms",
            f"{v['p99']:.2f} ms", v["errors"]] for k, v in res.items()])
    r200 = res["vizfeed 200"]["rps"] / res["nginx 200"]["rps"]
    r304 = res["vizfeed 304"]["rps"] / res["nginx 304"]["rps"]
    table(["ratio of medians", "value", "target"],
          [["vizfeed / nginx, 200 gzip", f"{r200:.2f}", ">= 0.90"],
           ["vizfeed / nginx, 304", f"{r304:.2f}", ">= 0.90"]])
    refresh_meanwhile(a, d, gzip_h)
    return res


def cpu_idle(line):
    """(idle, total) jiffies of one line of /proc/stat: "cpu" for the machine, "cpu0" for one CPU."""
    with open("/proc/stat") as f:
        for row in f:
            fields = row.split()
            if fields[0] == line:
                v = [int(x) for x in fields[1:]]
                return v[3] + v[4], sum(v)
    raise SystemExit(f"bench: /proc/stat has no line {line}")


def meanwhile_run(a, d, headers, interval, viz_cpus, wrk_cpus):
    """One wrk run against vizfeed refreshing every `interval`: requests/s and latencies, plus the
    CPU per second of the HTTP side (vizfeed minus its refresher) and of the refresher, the
    share of vizfeed's CPUs left idle, the refreshes made and the last one's duration."""
    viz, url = start_vizfeed(a, d, interval, viz_cpus)
    try:
        first = scrape(url, "vizfeed_refresh_duration_seconds")
        before = scrape(url, "vizfeed_refreshes_total")
        (r0, p0), i0 = refresher_and_process_cpu(viz.pid), cpu_idle("cpu" + (viz_cpus or ""))
        w = wrk(url, a.wrk_seconds, headers, wrk_cpus)
        (r1, p1), i1 = refresher_and_process_cpu(viz.pid), cpu_idle("cpu" + (viz_cpus or ""))
        w.update(refreshes=scrape(url, "vizfeed_refreshes_total") - before, first=first,
                 last=scrape(url, "vizfeed_refresh_duration_seconds"),
                 http_cpu=((p1 - p0) - (r1 - r0)) / a.wrk_seconds, refresher_cpu=(r1 - r0) / a.wrk_seconds,
                 idle=(i1[0] - i0[0]) / max(1, i1[1] - i0[1]))
        return w
    finally:
        stop(viz)


def refresh_meanwhile(a, d, headers):
    """Throughput of vizfeed with a refresh every second against the same without refreshes, on
    a CPU of its own (the target's case) and on CPUs shared with wrk."""
    say("### HTTP throughput while refreshes run")
    say()
    say("\"refreshing\" is vizfeed with `refresh.interval: 1s`, so a whole refresh of this graph is due every")
    say("second; \"quiet\" is the same graph with `refresh.interval: 1h`; the two alternate, " +
        f"{a.http_reps + 2} pairs. Two setups:")
    say()
    pin = os.cpu_count() >= 2 and shutil.which("taskset") is not None
    setups = []
    if pin:
        say("- **own CPU**: vizfeed pinned to CPU 0 and wrk to CPU 1 (`taskset`), as on a server whose clients")
        say("  are other machines: the refresher competes with the HTTP threads only. The target is held here.")
        setups.append(("own CPU", "0", "1"))
    else:
        say("- **own CPU** was not run: taskset or a second CPU is missing.")
    say("- **shared CPUs**: neither pinned; vizfeed runs in a session of its own (as a service in its own")
    say("  cgroup), so the scheduler splits the CPUs between it and wrk first and looks at the refresher's")
    say("  nice value only within vizfeed. A refresh then takes its CPU from the whole machine, wrk included.")
    say()
    rows, ratios = [], []
    for name, viz_cpus, wrk_cpus in setups + [("shared CPUs", None, None)]:
        quiet, busy = [], []
        for _ in range(a.http_reps + 2):
            quiet.append(meanwhile_run(a, d, headers, "1h", viz_cpus, wrk_cpus))
            busy.append(meanwhile_run(a, d, headers, "1s", viz_cpus, wrk_cpus))
            q, b = quiet[-1], busy[-1]
            print(f"  {name}: quiet {q['rps']:,.0f}/s, HTTP {q['http_cpu']:.2f} CPU; refreshing {b['rps']:,.0f}/s,"
                  f" HTTP {b['http_cpu']:.2f} CPU, refresher {b['refresher_cpu']:.2f} CPU, {b['refreshes']:.0f}"
                  f" refreshes, last {b['last']:.2f} s, idle {b['idle']:.0%}", flush=True)
        med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
        mq, mb = median_wrk(quiet), median_wrk(busy)
        pairs = [b["rps"] / q["rps"] for q, b in zip(quiet, busy)]
        for label, m, runs, took in (("quiet", mq, quiet, f"{med(quiet, 'first'):.2f} s (the first, before wrk)"),
                                     ("refreshing", mb, busy, f"{med(busy, 'last'):.2f} s (the last, under wrk)")):
            rows.append([f"{name}, {label}", f"{m['rps']:,.0f}", f"{min(m['runs']):,.0f}-{max(m['runs']):,.0f}",
                         f"{m['p50']:.2f} ms", f"{m['p99']:.2f} ms", f"{med(runs, 'http_cpu'):.2f}",
                         f"{med(runs, 'refresher_cpu'):.2f}", f"{med(runs, 'idle'):.0%}",
                         f"{med(runs, 'refreshes'):.0f}", took])
        ratios.append([name, f"{mb['rps'] / mq['rps']:.2f}", f"{min(pairs):.2f}-{max(pairs):.2f}",
                       f"{med(busy, 'http_cpu') / med(quiet, 'http_cpu'):.2f}",
                       ">= 0.90" if name == "own CPU" else "(not the target's case)"])
    table(["vizfeed, 200 gzip", "requests/s (median)", "range", "latency p50", "latency p99",
           "HTTP side, CPU/s", "refresher, CPU/s", "idle", f"refreshes in {a.wrk_seconds} s", "one refresh took"],
          rows)
    table(["refreshing / quiet", "requests/s, medians", "each pair", "HTTP side's CPU", "target"], ratios)
    say("\"HTTP side\" is vizfeed's CPU time less its refresher thread's (`/proc/PID/task/TID/stat`; the")
    say("thread is named `refresher`), per second of wrk; \"idle\" is the share of vizfeed's CPUs (CPU 0, or")
    say("the whole machine when shared) that nobody used (`/proc/stat`). While vizfeed's CPU has idle time,")
    say("the HTTP threads get the CPU whenever they want it and the refresher runs in what they leave; when")
    say("it has none, what the refresher takes is lost to the HTTP side, and its CPU ratio shows how much.")
    say()


# ---- 4: Elasticsearch's side ---------------------------------------------------------------

def preset_buckets(preset, n, rng):
    """n buckets in the shape the preset's query gets back (keys and sub-aggregations)."""
    out = []
    for _ in range(n):
        if preset in ("nginx-access", "apache-access"):
            _, b = gen_replay.edge_row(rng)
        elif preset == "apm-service-destination":
            _, b = gen_replay.mesh_row(rng)
        elif preset == "packetbeat-flow":
            _, b = gen_replay.net_row(rng)
        elif preset == "packetbeat-http":
            _, b = gen_replay.net_row(rng)
            c, w, dd = gen_replay.counts(rng)
            b.update({"doc_count": c, "danger": {"doc_count": dd}, "warning": {"doc_count": w}})
        elif preset == "apm-transaction":
            svc = rng.choice(gen_replay.SERVICES)
            region = rng.choice(gen_replay.REGIONS)
            c, w, dd = gen_replay.counts(rng)
            b = {"key": {"to_service": svc, "to_region": region,
                         "to_host": f"{svc}-{rng.randint(1, 40)}-{rng.randrange(16 ** 5):05x}"},
                 "doc_count": c, "danger": {"doc_count": dd}, "warning": {"doc_count": w}}
        else:  # heartbeat
            c, _, dd = gen_replay.counts(rng)
            b = {"key": {"from_service": rng.choice(["Frankfurt", "Virginia", "Oregon", "Singapore", "Tokyo"]),
                         "to_service": f"{rng.choice(gen_replay.WORDS)}{rng.randint(1, 99999)}.example.com",
                         "to_host": gen_replay.public_ip(rng)},
                 "doc_count": c, "danger": {"doc_count": dd}}
        out.append(json.dumps(b, separators=(",", ":")))
    return out


def es_side(a):
    size = 100000
    say(f"## Elasticsearch's side of a {size:,}-edge refresh, per preset")
    say()
    say("Bytes are the answer bodies of the whole paging (the pages plus the empty last one), in the shape each")
    say("preset's query gets back. \"no filter_path\" adds what Elasticsearch writes without it"
        " (`hits` with `max_score` and an empty `hits` array; `size: 0` and `track_total_hits: false` already")
    say("keep the rest out). \"gzip\" is what travels when Elasticsearch compresses (http.compression, level 3,")
    say("which vizfeed asks for with Accept-Encoding).")
    say()
    import random
    rows = []
    presets = ["nginx-access", "apache-access", "packetbeat-http", "packetbeat-flow", "apm-service-destination",
               "apm-transaction", "heartbeat"]
    for preset in presets:
        buckets = preset_buckets(preset, size, random.Random(7))
        per_size = {}
        for page in (1000, 5000, 10000, 50000):
            raw = plain = packed = 0
            pages = [buckets[i:i + page] for i in range(0, size, page)] + [[]]
            for p in pages:
                agg = ('{"after_key":' + json.dumps(json.loads(p[-1])["key"], separators=(",", ":")) +
                       ',"buckets":[' + ",".join(p) + "]}") if p else '{"buckets":[]}'
                body = ('{"took":120,"timed_out":false,' + gen_replay.SHARDS + ',"aggregations":{"edges":' + agg +
                        "}}").encode()
                unfiltered = len(body) + len(',"hits":{"max_score":null,"hits":[]}')
                raw += unfiltered
                plain += len(body)
                packed += len(zlib.compress(body, 3))
            per_size[page] = (len(pages), raw, plain, packed)
        req, raw, plain, packed = per_size[5000]
        rows.append([preset, req, human(raw), human(plain), f"{100 * (raw - plain) / raw:.3f} %", human(packed),
                     f"{plain / packed:.1f}x", per_size[1000][0], per_size[10000][0], per_size[50000][0]])
        print(f"  {preset}: {rows[-1]}", flush=True)
    table(["preset", "requests (page 5000)", "no filter_path", "filter_path", "filter_path saves", "+ gzip",
           "gzip saves", "requests, page 1000", "page 10000", "page 50000"], rows)


def buildtype(binary):
    try:
        p = subprocess.run(["meson", "introspect", "--buildoptions", os.path.dirname(binary)], capture_output=True,
                           text=True)
        return next(o["value"] for o in json.loads(p.stdout) if o["name"] == "buildtype")
    except (OSError, ValueError, StopIteration):
        return "?"


def machine():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip().splitlines()[0]
        except (IndexError, OSError):
            return "?"
    cpu = first("lscpu | sed -n 's/^Model name: *//p'")
    mem = first("awk '/MemTotal/ {printf \"%.1f GB\", $2/1048576}' /proc/meminfo")
    say("## Machine")
    say()
    say(f"- CPU: {cpu}, {os.cpu_count()} cores visible; memory {mem}; {platform.system()} {platform.release()}")
    say(f"- load average at start: {open('/proc/loadavg').read().split()[0]} (a shared machine: read ratios, not"
        " absolute times)")
    say(f"- {first('jq --version')}, node {first('node --version')}, {first('nginx -v 2>&1')},"
        f" {first('wrk --version 2>&1 | head -1')}")
    say(f"- vizfeed: {a_global.vizfeed}, {first('cc --version')}, meson buildtype {buildtype(a_global.vizfeed)}")
    say(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    say()


def write_doc(path):
    text = open(path).read() if os.path.exists(path) else "# Performance\n\n<!-- bench:begin -->\n<!-- bench:end -->\n"
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    if begin not in text or end not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    body = "\n".join(out_lines).rstrip() + "\n"
    with open(path, "w") as f:
        f.write(f"{head}{begin}\n<!-- written by bench/bench.py; edit outside the markers -->\n\n{body}{end}{tail}")


a_global = None


def main():
    global a_global
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vizfeed", default=os.path.join(ROOT, "build-bench", "vizfeed"))
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "vizfeed-bench"),
                    help="where the generated recordings are kept between runs")
    ap.add_argument("--jq-timeout", type=float, default=120, help="seconds one jq or Node.js run may take")
    ap.add_argument("--jq-max", type=int, default=100000, help="largest size jq is tried on")
    ap.add_argument("--wrk-seconds", type=int, default=8)
    ap.add_argument("--http-reps", type=int, default=3, help="how many times each wrk run is repeated")
    ap.add_argument("--http-size", type=int, default=100000)
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "PERFORMANCE.md"))
    ap.add_argument("--skip", default="", help="comma list of: refresh, ndjson, http, es")
    ap.add_argument("--ndjson-spans", type=int, default=200000, help="lines of the NDJSON case (edges: half)")
    a = ap.parse_args()
    a.vizfeed = os.path.abspath(a.vizfeed)
    a_global = a
    os.makedirs(a.work, exist_ok=True)
    skip = set(filter(None, a.skip.split(",")))
    sizes = [int(s) for s in a.sizes.split(",")]
    machine()
    if "refresh" not in skip:
        refresh_costs(a, sizes)
    if "ndjson" not in skip:
        ndjson_case(a)
    if "http" not in skip:
        http_bench(a, a.http_size)
    if "es" not in skip:
        es_side(a)
    say(f"Load average at the end: {open('/proc/loadavg').read().split()[0]}.")
    write_doc(a.doc)
    print(f"bench: wrote {a.doc}")


if __name__ == "__main__":
    main()
