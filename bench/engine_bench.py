#!/usr/bin/env python3
"""engine_bench.py - vizfeed against a real engine at about 100k edges per preset.

    ./dev bench --engine opensearch [--docs 10000000] [--edges 100000]
    bench/engine_bench.py --vizfeed build/vizfeed --engine opensearch|elasticsearch|elasticsearch9 ...

Starts the engine once (`./dev engine`, tests/engine/README.md), puts the ECS templates of
tests/engine/templates.json, bulk-loads --docs generated documents spread over the seven
presets, each into the data stream or index the real product writes, with --edges distinct
edges per preset (so each preset's composite aggregation pages through about that many
buckets), then runs `vizfeed once` per preset through a recording proxy and prints, per
preset: the composite pages, the engine's `took` summed over them, the bytes of its answers on
the wire, and vizfeed's wall-clock time for the refresh. Loading is bounded by --load-seconds
(what was loaded by then is what is measured, and said). Writes the table between the
"engine-bench:begin/end" markers of docs/PERFORMANCE.md (":elasticsearch" after them for that engine).

    ./dev bench --engine opensearch --incremental [--docs N] [--edges N] [--settle 10s,30s]

measures incremental windows instead (issue 16): --docs documents over --edges edges whose
timestamps fill a 2-minute window and the --steps intervals of 10 s after it, then the daemon
(its wall clock set through tests/faults/fakeclock.c, built as build/tests/libfakeclock.so)
with `window: 2m`, `interval: 10s`, once with `incremental: false` and once per --settle,
stepped through the same window ends. Per refresh: the documents in the range each search asked
for (the engine's _count of it), the engine's `took` summed over the refresh's pages, buckets
and pages; the medians over the steps, and the ratio full / incremental. Writes the table
between the "engine-bench:begin:incremental" and "engine-bench:end:incremental" markers.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "scenario"))
os.environ.setdefault("VIZFEED_SRC", ROOT)
from enginelib import Engine, Recorder  # noqa: E402

AT = "2026-01-01T01:00:00Z"
START_S = 1767225600  # 2026-01-01T00:00:00Z: the documents fill the hour before AT


def ts(i, n):
    s = START_S + (i * 3599) // max(n, 1)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{i % 1000:03d}Z"


def ip(k):
    return f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"


# preset -> (target, data stream?, index pattern, document maker (i, edge) -> JSON text)
def presets():
    return {
        "nginx-access": ("logs-nginx.access-bench", True, "logs-nginx.access-*", lambda i, e, n: (
            f'{{"@timestamp":"{ts(i, n)}","event":{{"dataset":"nginx.access"}},"source":{{"ip":"{ip(e // 100)}"}},'
            f'"host":{{"name":"web-{e % 100}"}},"cloud":{{"region":"r{e % 3}"}},'
            f'"http":{{"response":{{"status_code":{500 if i % 17 == 0 else 200}}}}}}}')),
        "apache-access": ("logs-apache.access-bench", True, "logs-apache.access-*", lambda i, e, n: (
            f'{{"@timestamp":"{ts(i, n)}","event":{{"dataset":"apache.access"}},"source":{{"ip":"{ip(e // 100)}"}},'
            f'"host":{{"name":"app-{e % 100}"}},"cloud":{{"region":"r{e % 3}"}},'
            f'"http":{{"response":{{"status_code":{404 if i % 13 == 0 else 200}}}}}}}')),
        "packetbeat-http": ("logs-network_traffic.http-bench", True, "logs-network_traffic.http-*", lambda i, e, n: (
            f'{{"@timestamp":"{ts(i, n)}","type":"http","source":{{"ip":"{ip(e // 200)}"}},'
            f'"destination":{{"ip":"{ip(100000 + e % 200)}"}},"http":{{"response":{{"status_code":200}}}}}}')),
        "packetbeat-flow": ("logs-network_traffic.flow-bench", True, "logs-network_traffic.flow-*", lambda i, e, n: (
            f'{{"@timestamp":"{ts(i, n)}","type":"flow","flow":{{"final":true}},"source":{{"ip":"{ip(e // 200)}"}},'
            f'"destination":{{"ip":"{ip(100000 + e % 200)}"}}}}')),
        "apm-service-destination": ("metrics-apm.service_destination.1m-bench", True, "metrics-apm.service_destination*",
                                    lambda i, e, n: (
            f'{{"@timestamp":"{ts(i, n)}","metricset":{{"name":"service_destination","interval":"1m"}},'
            f'"service":{{"name":"svc-{e // 100}"}},"cloud":{{"region":"r{e % 3}"}},'
            f'"span":{{"destination":{{"service":{{"resource":"db-{e % 100}:5432",'
            f'"response_time":{{"count":{1 + i % 5},"sum":{{"us":1000}}}}}}}}}},'
            f'"event":{{"outcome":"{"failure" if i % 29 == 0 else "success"}"}}}}')),
        "apm-transaction": ("traces-apm-bench", True, "traces-apm*", lambda i, e, n: (
            f'{{"@timestamp":"{ts(i, n)}","processor":{{"event":"transaction"}},"service":{{"name":"svc-{e // 100}",'
            f'"node":{{"name":"pod-{e % 100}"}}}},"cloud":{{"region":"r{e % 3}"}},'
            f'"http":{{"response":{{"status_code":200}}}},"event":{{"outcome":"success"}}}}')),
        "heartbeat": ("heartbeat-bench", True, "heartbeat-*", lambda i, e, n: (
            f'{{"@timestamp":"{ts(i, n)}","summary":{{"up":1,"down":0}},"observer":{{"geo":{{"name":"loc-{e // 1000}"}}}},'
            f'"url":{{"domain":"site-{e}.example"}},"monitor":{{"ip":"{ip(e)}","status":"up"}}}}')),
    }


def load(eng, target, make, n, edges, deadline):
    """Bulk-loads n documents (edge i % edges) in chunks of 5000 until done or the deadline."""
    conn = http.client.HTTPConnection("127.0.0.1", eng.port, timeout=600)
    head = json.dumps({"create": {"_index": target}})
    done = 0
    while done < n and time.time() < deadline:
        k = min(5000, n - done)
        body = "".join(f"{head}\n{make(done + j, (done + j) % edges, n)}\n" for j in range(k)).encode()
        conn.request("POST", "/_bulk", body=body, headers={"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        if resp.status != 200 or answer.get("errors"):
            bad = next((i for i in answer.get("items", []) if i["create"].get("error")), answer)
            raise RuntimeError(f"bulk into {target}: {json.dumps(bad)[:500]}")
        done += k
    conn.close()
    return done


CONFIG = """refresh: {{ interval: 60s, window: 1h, lag: 0s }}
graph: {{ max_services: 100000, thresholds: {{ warning: 0.05, danger: 0.2, min_rate: 0 }} }}
elasticsearch: {{ hosts: [{url}], timeout: 120s, page_size: {page} }}
flows:
  - name: bench
    type: elasticsearch
    index: "{pattern}"
    preset: {preset}
"""


INCR_CONFIG = """refresh: {{ interval: 10s, window: 2m, lag: 0s, deadline: 300s }}
graph: {{ max_services: 100000, thresholds: {{ warning: 0.05, danger: 0.2, min_rate: 0 }} }}
elasticsearch: {{ hosts: [{url}], timeout: 120s, page_size: {page}, incremental: {incremental}, settle: {settle} }}
flows:
  - name: bench
    type: elasticsearch
    index: bench-calls
    from: {{ service: from }}
    to: {{ service: to }}
    warning: [{{ field: status, gte: 400, lt: 500 }}]
    danger: [{{ field: status, gte: 500 }}]
"""
INCR_T0 = 1767225600000  # the first window ends here (2026-01-01T00:00:00Z)
INCR_WINDOW, INCR_IV = 120000, 10000


def incr_load(eng, n, edges, steps, deadline):
    """n documents over [T0 - window, T0 + steps * interval): document i's time is a
    permutation of i, so whatever prefix the deadline leaves still covers the range evenly."""
    eng.ok("PUT", "/bench-calls", {"settings": {"number_of_shards": 1, "number_of_replicas": 0,
                                                "refresh_interval": "-1"},
                                   "mappings": {"properties": {"@timestamp": {"type": "date"},
                                                               "from": {"type": "keyword"},
                                                               "to": {"type": "keyword"},
                                                               "status": {"type": "short"}}}})
    span = INCR_WINDOW + steps * INCR_IV
    start = INCR_T0 - INCR_WINDOW
    prime = 1_000_003  # coprime with n unless n is a multiple of it
    if n % prime == 0:
        n -= 1

    def make(i):
        e = i % edges
        t = start + ((i * prime) % n) * span // n
        status = 503 if i % 17 == 0 else 404 if i % 23 == 0 else 200
        return f'{{"@timestamp":{t},"from":"svc-{e // 100}","to":"dst-{e % 100}","status":{status}}}'
    conn = http.client.HTTPConnection("127.0.0.1", eng.port, timeout=600)
    head = '{"index":{"_index":"bench-calls"}}'
    done = 0
    while done < n and time.time() < deadline:
        k = min(5000, n - done)
        body = "".join(f"{head}\n{make(done + j)}\n" for j in range(k)).encode()
        conn.request("POST", "/_bulk", body=body, headers={"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        if resp.status != 200 or answer.get("errors"):
            raise RuntimeError(f"bulk: {json.dumps(answer)[:500]}")
        done += k
        if done % 500000 < 5000:
            print(f"loaded {done:,} documents", flush=True)
    conn.close()
    eng.ok("PUT", "/bench-calls/_settings", {"index": {"refresh_interval": "1s"}})
    eng.ok("POST", "/bench-calls/_refresh")
    eng.ok("POST", "/bench-calls/_forcemerge?max_num_segments=1", timeout=1800)
    return done


def set_clock(path, ms):
    with open(path + ".tmp", "w") as f:
        f.write(str(ms))
    os.replace(path + ".tmp", path)


def graph_updated(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/vizceral.json")
        data = conn.getresponse().read()
        conn.close()
        return json.loads(data).get("updated")
    except (OSError, ValueError):
        return None


def incr_run(a, eng, tmp, lib, incremental, settle, steps):
    """One daemon through the window ends T0 .. T0 + steps * interval; per end, what its first
    refresh asked the engine (incr_refresh)."""
    rec = Recorder(eng.port)
    cfg = os.path.join(tmp, f"incr-{incremental}-{settle}.yml")
    with open(cfg, "w") as f:
        f.write(INCR_CONFIG.format(url=rec.url, page=a.page_size, incremental=str(incremental).lower(),
                                   settle=settle))
    clock = os.path.join(tmp, "clock")
    set_clock(clock, INCR_T0)
    log = open(os.path.join(tmp, "daemon.log"), "w")
    env = dict(os.environ, LD_PRELOAD=lib, FAKECLOCK_FILE=clock)
    proc = subprocess.Popen([a.vizfeed, "-c", cfg, "--listen", "127.0.0.1:0", "--log-format", "json"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    port = None
    for _ in range(200):
        time.sleep(0.1)
        for line in open(log.name):
            if line.startswith("{") and '"server.port"' in line:
                try:
                    port = int(json.loads(line)["server.port"])
                except (ValueError, KeyError, TypeError):
                    pass
        if port:
            break
    if not port:
        proc.kill()
        raise RuntimeError("the daemon did not say its port: " + open(log.name).read()[:2000])
    marks = []  # searches recorded before each window end's refresh
    try:
        for k in range(steps + 1):
            end = INCR_T0 + k * INCR_IV
            # The shard request cache would answer a repeated search (one run's full queries are
            # the next run's) from memory.
            eng.ok("POST", "/_cache/clear?request=true")
            marks.append(len(rec.searches()))
            set_clock(clock, end)
            t = time.time()
            while graph_updated(port) != end:
                if time.time() - t > 900:
                    raise RuntimeError(f"no graph for {end}: " + open(log.name).read()[-2000:])
                time.sleep(0.2)
        marks.append(len(rec.searches()))
    finally:
        proc.terminate()
        proc.wait()
        rec.close()
    done = rec.searches()
    return [incr_refresh(eng, done[marks[k]:marks[k + 1]], first=k == 0) for k in range(steps + 1)]


def incr_refresh(eng, searches, first):
    """What one refresh asked: took, buckets and pages summed over its searches, and the documents
    in the ranges they asked for (the engine's _count of each), the slice-count search's apart.
    An incremental daemon's refresh after the first also sends a full query while its ring fills
    (README.md, "Incremental windows"); that search is the full row's and is left out here, so
    the row is what every refresh costs once the ring alone answers."""
    g = {"took": 0, "buckets": 0, "pages": 0, "docs": 0, "count_docs": 0, "count_took": 0, "searches": 0,
         "kind": "full"}
    skipping = False
    for x in searches:
        body = json.loads(x["body"])
        rng = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
        comp = body["aggs"]["edges"]["composite"]
        counts = len(comp["sources"]) == 1 and "slice" in comp["sources"][0]
        answer = json.loads(x["answer"])
        if "after" not in comp:
            whole = rng["lt"] - rng["gte"] >= INCR_WINDOW
            skipping = whole and not first and g["kind"] == "incremental"
            if skipping:
                continue
            if counts:
                g["kind"] = "incremental"
            q = {"query": {"range": {"@timestamp": {"gte": rng["gte"], "lt": rng["lt"], "format": "epoch_millis"}}}}
            n = eng.ok("POST", "/bench-calls/_count", q)["count"]
            g["count_docs" if counts else "docs"] += n
            g["searches"] += not counts
        elif skipping:
            continue
        g["took"] += answer.get("took", 0)
        if counts:
            g["count_took"] += answer.get("took", 0)
            continue
        g["pages"] += 1
        g["buckets"] += len(answer.get("aggregations", {}).get("edges", {}).get("buckets", []))
    return g


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


def main_incremental(a):
    lib = a.fakeclock or os.path.join(os.path.dirname(os.path.abspath(a.vizfeed)), "tests", "libfakeclock.so")
    if not os.path.exists(lib):
        raise SystemExit(f"{lib} is missing: build it (ninja -C build tests/libfakeclock.so)")
    steps = a.steps
    with Engine(nodes=1, kind=a.engine) as eng, tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        loaded = incr_load(eng, a.docs, a.edges, steps, t0 + a.load_seconds)
        load_s = time.time() - t0
        print(f"loaded {loaded:,} documents in {load_s:.0f} s", flush=True)
        version = next(iter(eng.ok("GET", "/_nodes/_local")["nodes"].values()))["version"]
        runs = [("full (incremental: false)", incr_run(a, eng, tmp, lib, False, "30s", steps))]
        for settle in a.settle.split(","):
            runs.append((f"incremental, settle {settle}", incr_run(a, eng, tmp, lib, True, settle, steps)))
    full = runs[0][1]
    full_docs = median([g["docs"] for g in full[2:]])
    full_took = median([g["took"] for g in full[2:]])
    lines = [f"Engine: {a.engine} {version}, 1 node in one JVM with 1 GiB of heap, 1 shard, on the same 2-core machine "
             f"as vizfeed (shared with other work while measured). {loaded:,} documents over {a.edges:,} edges, "
             f"their times spread evenly over {(INCR_WINDOW + steps * INCR_IV) // 1000} s (a 2-minute window and "
             f"{steps} intervals of 10 s after it), bulk-loaded in {load_s:.0f} s"
             f"{'' if loaded >= a.docs else f' (of {a.docs:,} asked: bounded by --load-seconds)'}; "
             f"page_size {a.page_size}. `window: 2m`, `interval: 10s`; the daemon's clock stepped one interval "
             f"at a time through {steps + 1} window ends; per refresh, every search its first refresh of that end "
             "sent (for an incremental daemon, the full query that also answers while its ring fills is left out: "
             "it is the full row's; the searches left are what every refresh sends once the ring alone answers): "
             f"medians over the last {max(steps - 1, 1)} steps. \"documents\" is the engine's `_count` of each "
             "search's range; the slice-count search's are apart, as it only counts them by slice.",
             "",
             "| mode | edge searches per refresh | documents aggregated per refresh | documents counted by slice | "
             "engine `took` per refresh (ms) | of which slice counts (ms) | buckets | pages | "
             "documents ratio (full / this) | `took` ratio (full / this) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rows in runs:
        steady = rows[2:] if len(rows) > 2 else rows
        med = {k: median([g[k] for g in steady]) for k in ("searches", "docs", "count_docs", "took", "count_took",
                                                           "buckets", "pages")}
        lines.append(f"| {name} | {med['searches']} | {med['docs']:,} | {med['count_docs']:,} | {med['took']:,} | "
                     f"{med['count_took']:,} | {med['buckets']:,} | {med['pages']} | "
                     f"{full_docs / med['docs'] if med['docs'] else 0:.1f} | "
                     f"{full_took / med['took'] if med['took'] else 0:.1f} |")
        print(name, json.dumps(rows), flush=True)
    text = "\n".join(lines)
    print(text)
    if a.write:
        with open(a.write) as f:
            doc = f.read()
        begin, end = "<!-- engine-bench:begin:incremental -->", "<!-- engine-bench:end:incremental -->"
        if begin in doc:
            doc = doc[:doc.index(begin) + len(begin)] + "\n" + text + "\n" + doc[doc.index(end):]
            with open(a.write, "w") as f:
                f.write(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vizfeed", required=True)
    ap.add_argument("--engine", default="opensearch")
    ap.add_argument("--docs", type=int, default=10_000_000)
    ap.add_argument("--edges", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=5000)
    ap.add_argument("--load-seconds", type=int, default=900)
    ap.add_argument("--write", default=os.path.join(ROOT, "docs", "PERFORMANCE.md"))
    ap.add_argument("--incremental", action="store_true", help="full against incremental windows instead")
    ap.add_argument("--settle", default="10s,30s", help="--incremental: settle values, comma-separated")
    ap.add_argument("--steps", type=int, default=8, help="--incremental: window ends after the first")
    ap.add_argument("--fakeclock", help="--incremental: libfakeclock.so (default: beside vizfeed in tests/)")
    a = ap.parse_args()
    if a.incremental:
        return main_incremental(a)
    rows = []
    with Engine(nodes=1, kind=a.engine) as eng, tempfile.TemporaryDirectory() as tmp:
        ps = presets()
        per = a.docs // len(ps)
        t0 = time.time()
        deadline = t0 + a.load_seconds
        loaded = {}
        for name, (target, _ds, _pattern, make) in ps.items():
            loaded[name] = load(eng, target, make, per, a.edges, deadline)
            print(f"loaded {loaded[name]} documents into {target} ({time.time() - t0:.0f} s)", flush=True)
        eng.ok("POST", "/_refresh")
        load_s = time.time() - t0
        total = sum(loaded.values())
        version = eng.ok("GET", "/_nodes/_local")["nodes"]
        version = next(iter(version.values()))["version"]
        for name, (target, _ds, pattern, _make) in ps.items():
            # Through the recording proxy once, for pages, took and bytes; then straight to the
            # engine three times for vizfeed's time. The shard request cache would answer a
            # repeated size-0 page from memory: it is emptied before every run.
            rec = Recorder(eng.port)
            cfg = os.path.join(tmp, f"{name}.yml")
            direct = os.path.join(tmp, f"{name}-direct.yml")
            with open(cfg, "w") as f:
                f.write(CONFIG.format(url=rec.url, page=a.page_size, pattern=pattern, preset=name))
            with open(direct, "w") as f:
                f.write(CONFIG.format(url=eng.url, page=a.page_size, pattern=pattern, preset=name))
            eng.ok("POST", "/_cache/clear?request=true")
            r = subprocess.run([a.vizfeed, "once", "-c", cfg, "--at", AT], capture_output=True, text=True, timeout=600)
            rec.close()
            if r.returncode != 0:
                raise RuntimeError(f"{name}: vizfeed once failed: {r.stderr}")
            pages = [json.loads(x["answer"]) for x in rec.exchanges]
            buckets = sum(len(p.get("aggregations", {}).get("edges", {}).get("buckets", [])) for p in pages)
            took = sum(p.get("took", 0) for p in pages)
            wire = sum(len(x["answer"]) for x in rec.exchanges)
            times = []
            for rep in range(3):
                eng.ok("POST", "/_cache/clear?request=true")
                t = time.time()
                r = subprocess.run([a.vizfeed, "once", "-c", direct, "--at", AT], capture_output=True, text=True,
                                   timeout=600)
                times.append(time.time() - t)
                if r.returncode != 0:
                    raise RuntimeError(f"{name}: vizfeed once failed: {r.stderr}")
            times.sort()
            rows.append((name, loaded[name], buckets, len(pages), took, wire, times[1]))
            print(f"{name}: {buckets} edges, {len(pages)} pages, took {took} ms, {wire / 1e6:.1f} MB, "
                  f"vizfeed {times[1]:.2f} s", flush=True)
    lines = [f"Engine: {a.engine} {version}, 1 node in one JVM with 1 GiB of heap, on the same 2-core machine as "
             f"vizfeed. {total:,} documents generated and bulk-loaded in {load_s:.0f} s "
             f"({total / load_s:,.0f} docs/s){'' if total >= per * len(ps) else f' (of {per * len(ps):,} asked: bounded by --load-seconds)'}; "
             f"page_size {a.page_size}; the request cache emptied before every run; `took` summed over the pages of "
             f"one refresh, bytes as the engine sent them (no gzip); vizfeed `once` straight to the engine timed 3 "
             f"times, the median shown (it includes the process start and waiting for the engine).",
             "",
             "| preset | documents | edges (composite buckets) | pages | engine `took` (sum, ms) | bytes on the wire | vizfeed refresh (s) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, docs, buckets, pages, took, wire, t in rows:
        lines.append(f"| {name} | {docs:,} | {buckets:,} | {pages} | {took:,} | {wire:,} | {t:.2f} |")
    text = "\n".join(lines)
    print(text)
    if a.write:
        with open(a.write) as f:
            doc = f.read()
        suffix = "" if a.engine == "opensearch" else f":{a.engine}"
        begin, end = f"<!-- engine-bench:begin{suffix} -->", f"<!-- engine-bench:end{suffix} -->"
        if begin in doc:
            doc = doc[:doc.index(begin) + len(begin)] + "\n" + text + "\n" + doc[doc.index(end):]
            with open(a.write, "w") as f:
                f.write(doc)


if __name__ == "__main__":
    main()
