"""Incremental windows (issue 16, items 1-2): a daemon whose wall clock the test sets
(tests/faults/fakeclock.c, LD_PRELOAD) reads the test Elasticsearch with
`elasticsearch.incremental` on, while documents keep arriving: in time, late within
`settle` and late beyond it. Refresh after refresh, its /vizceral.json is compared with
`vizfeed once --at <the same window end>` with `incremental: false` (one full query): on
every document when a full query answered it (the first refresh, and while the ring fills),
else on the documents the ring could have seen: all but those that came later than `settle`.
The two must be the same graph, maxVolume included (a pure function of the window since
windows sit on a grid, graph_state.h). The clock makes steps of one interval, of several, and one
longer than the window (after which the ring fills again); the searches the daemon sent show
what it asked: a slice-count search over [last end - settle, end), then one search per slice,
and a slice read again only when documents arrived in it since it was read.
"""
import json
import os
import random
import sys
import tempfile

from vizlib import TESTS, Daemon, Tap, run, wait

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402

IV, WINDOW, LAG, SETTLE = 1000, 8000, 2000, 3000
T0 = 1767225600000  # 2026-01-01T00:00:00Z, on the grid
SERVICES = ["web", "api", "db", "cache", "auth", "search"]
MAPPINGS = {"@timestamp": "date", "status": "long", "duration": "double", "from": "keyword", "to": "keyword"}

CONFIG = """refresh: {{ interval: 1s, window: 8s, lag: 2s }}
graph: {{ thresholds: {{ min_rate: 0.001 }} }}
elasticsearch:
  hosts: [{url}]
  page_size: 7
  incremental: {incremental}
  settle: 3s
flows:
  - name: calls
    type: elasticsearch
    index: calls
    from: {{ service: from }}
    to: {{ service: to }}
    warning: [{{ field: status, gte: 400, lt: 500 }}]
    danger: [{{ field: status, gte: 500 }}]
    latency: {{ field: duration, unit: ms }}
"""


def fakeclock_library():
    """(path, None) or (None, why the daemon's clock cannot be set)."""
    lib = os.environ.get("VIZFEED_FAKECLOCK")
    if not lib or not os.path.exists(lib):
        return None, "VIZFEED_FAKECLOCK is not set to the built tests/faults/fakeclock.c"
    vizfeed = os.environ.get("VIZFEED", "")
    try:
        data = open(vizfeed, "rb").read()
    except OSError:
        data = b""
    if b"__asan_init" in data or b"__tsan_init" in data:
        return None, "vizfeed is built with a sanitizer: LD_PRELOAD of another library breaks its runtime"
    return lib, None


def doc(rng, ts):
    a, b = rng.sample(SERVICES, 2)
    status = rng.choice([200] * 8 + [404, 503])
    return {"@timestamp": ts, "from": a, "to": b, "status": status,
            "duration": round(rng.uniform(0.5, 300.0), 1)}


def set_clock(path, ms):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(ms))
    os.replace(tmp, path)


def search_bodies(es):
    return [json.loads(q["body"]) for q in es.requests if q["path_only"].endswith("/_search") and q["body"]]


def window_of(body):
    r = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
    return r["gte"], r["lt"]


def kind(body):
    """"counts" (the slice-count search), "slice" (one slice of the ring) or "full"."""
    sources = body["aggs"]["edges"]["composite"]["sources"]
    if len(sources) == 1 and "slice" in sources[0]:
        return "counts"
    lo, hi = window_of(body)
    return "slice" if hi - lo < WINDOW else "full"


def unneeded_rereads(bodies, loads):
    """Searches of a slice already read, with no document loaded into it since:
    (list of them, number of re-reads). loads: (searches sent before, slices loaded) in order."""
    read, dirty, unneeded, rereads, li = set(), set(), [], 0, 0
    for i, b in enumerate(bodies):
        while li < len(loads) and loads[li][0] <= i:
            dirty |= loads[li][1]
            li += 1
        if kind(b) != "slice" or "after" in b["aggs"]["edges"]["composite"]:
            continue  # only a search's first page
        t = window_of(b)[0]
        if t in read:
            rereads += 1
            if t not in dirty:
                unneeded.append(t)
        read.add(t)
        dirty.discard(t)
    return unneeded, rereads


class Store:
    """Where the documents go: load_all(docs) for what the daemon reads, load_seen(docs) for the
    copy without the documents later than settle; urls and indices for the two configs."""

    def __init__(self, url_all, index_all, load_all, url_seen, index_seen, load_seen):
        self.url_all, self.index_all, self.load_all = url_all, index_all, load_all
        self.url_seen, self.index_seen, self.load_seen = url_seen, index_seen, load_seen


def config(url, index, incremental):
    return CONFIG.replace("index: calls", f"index: {index}").format(url=url, incremental=incremental)


def check_incremental(tap, store, searches, tmp, lib, label="", steps=None, timeout=30):
    """Steps the daemon's clock, feeds documents, compares every refresh (see the top)."""
    rng = random.Random(16)
    clock = os.path.join(tmp, "clock")
    now = T0 + LAG
    set_clock(clock, now)
    first = [doc(rng, T0 - WINDOW + rng.randrange(WINDOW + 3 * IV)) for _ in range(60)]
    store.load_all(first)
    store.load_seen(first)
    inc_cfg = os.path.join(tmp, "incremental.yml")
    full_cfg = os.path.join(tmp, "full.yml")
    all_cfg = os.path.join(tmp, "all.yml")
    with open(inc_cfg, "w") as f:
        f.write(config(store.url_all, store.index_all, "true"))
    with open(full_cfg, "w") as f:
        f.write(config(store.url_seen, store.index_seen, "false"))
    with open(all_cfg, "w") as f:
        f.write(config(store.url_all, store.index_all, "false"))
    env = dict(os.environ, LD_PRELOAD=lib, FAKECLOCK_FILE=clock)
    with Daemon(["-c", inc_cfg], env=env) as d:
        # Steps of the clock, in intervals: mostly one, some of several, one longer than the
        # window (the ring fills again), then more single steps.
        steps = steps or [1, 1, 1, 2, 1, 3, 1, 1, 12, 1, 1, 2, 1, 1, 1, 1, 4, 1, 1, 1]
        mismatches, compared, beyond_total, late_total, by_ring = [], 0, 0, 0, 0
        loads = []  # (searches sent before, slices given documents), for unneeded_rereads
        for k, step in enumerate(steps + [None]):
            end = now - LAG
            graph = d.wait_for(lambda: (lambda g: g if g.get("updated") == end else None)(d.graph()),
                               timeout=timeout, what=f"a graph of the window ending at {end}")
            if k >= 1:
                # A refresh answered by a full query (the first, and while the ring fills: after
                # the start and after the gap) is the full graph of everything; one answered by
                # the ring is the full graph of what it could see.
                full_answer = any(kind(b) == "full" and window_of(b)[1] == end for b in searches())
                by_ring += not full_answer
                r = run(["once", "-c", all_cfg if full_answer else full_cfg, "--at", str(end)])
                if r.returncode != 0:
                    mismatches.append(f"end {end}: once failed: {r.stderr}")
                else:
                    compared += 1
                    a = json.dumps(graph)
                    b = json.dumps(json.loads(r.stdout))
                    if a != b:
                        mismatches.append(f"end {end} (step {k}): incremental {a[:600]}\n   full {b[:600]}")
            if step is None:
                break
            nxt = end + step * IV
            # Documents arriving now: in time (in the slices the next window adds, and a few
            # ahead of it), late within settle (slices already read, re-read next time), and,
            # after the first refreshes, late beyond settle (for the daemon only).
            in_time = [doc(rng, end + rng.randrange(step * IV + 2 * IV)) for _ in range(rng.randrange(5, 25))]
            late = [doc(rng, end - 1 - rng.randrange(SETTLE)) for _ in range(rng.randrange(1, 6))]
            beyond = [doc(rng, end - SETTLE - 1 - rng.randrange(WINDOW - SETTLE)) for _ in range(2)] \
                if k >= 3 else []
            late_total += len(late)
            beyond_total += len(beyond)
            store.load_all(in_time + late + beyond)
            store.load_seen(in_time + late)
            loads.append((len(searches()), {d["@timestamp"] // IV * IV for d in in_time + late + beyond}))
            now = nxt + LAG
            set_clock(clock, now)
        tap.check(compared == len(steps) and by_ring >= 10 and not mismatches,
                  f"{label}{compared} refreshes ({by_ring} answered by the ring): the incremental graph is the "
                  f"full query's, byte for byte ({late_total} documents late within settle, {beyond_total} beyond "
                  "it left out)", "\n".join(mismatches[:5]))

        bodies = searches()
        kinds = [(kind(b), window_of(b)) for b in bodies]
        slices = [w for k, w in kinds if k == "slice"]
        counts = [w for k, w in kinds if k == "counts"]
        tap.check(slices and counts and all(w[1] - w[0] == IV and w[0] % IV == 0 for w in slices)
                  and all(w[1] - w[0] <= SETTLE + 4 * IV for w in counts),
                  f"{label}{len(counts)} slice-count searches asked only for [last end - settle, new end), "
                  f"{len(slices)} slice searches for one slice each", json.dumps(kinds[:12]))
        tap.check(kinds[0][0] == "full" and all(w[1] - w[0] < WINDOW for w in counts),
                  f"{label}the first refresh is one full query; then the ring fills from small ranges (never the "
                  "whole window by slices)", json.dumps(kinds[:4]))
        unneeded, rereads = unneeded_rereads(bodies, loads)
        tap.check(not unneeded and rereads > 0,
                  f"{label}{rereads} slices read again, each after documents arrived in it; none read again "
                  "without", json.dumps(unneeded[:10]))
        m = d.metrics()
        n_inc = sum(v for k, v in m.items() if k.startswith("vizfeed_es_queries_total") and 'kind="incremental"' in k)
        took = [v for k, v in m.items() if k.startswith("vizfeed_es_took_seconds_total")]
        tap.check(n_inc >= 15 and took, f"{label}/metrics counts {n_inc:.0f} incremental searches and the "
                  "engine's took", json.dumps({k: v for k, v in m.items() if "vizfeed_es_" in k}))

        # The full query of everything (beyond-settle documents included) differs: those documents
        # are what incremental windows give up, and the comparison above would see them.
        end = now - LAG
        r_all = run(["once", "-c", all_cfg, "--at", str(end)])
        r_seen = run(["once", "-c", full_cfg, "--at", str(end)])
        tap.check(r_all.returncode == 0 and r_seen.returncode == 0 and r_all.stdout != r_seen.stdout,
                  f"{label}documents later than settle would change the full graph (the comparison can fail)")


def main():
    tap = Tap()
    lib, why = fakeclock_library()
    if not lib:
        tap.skip("incremental graph equals the full query refresh after refresh", why)
        tap.done()
        return
    # es_all: what the daemon reads. es_seen: the same documents minus those that arrived
    # later than settle, which the incremental daemon by design never reads again.
    with FakeElasticsearch() as es_all, FakeElasticsearch() as es_seen, \
            tempfile.TemporaryDirectory(prefix="vizfeed-incr-") as tmp:
        es_all.load("calls", [], MAPPINGS)
        es_seen.load("calls", [], MAPPINGS)
        store = Store(es_all.url, "calls", lambda docs: es_all.load("calls", docs),
                      es_seen.url, "calls", lambda docs: es_seen.load("calls", docs))
        check_incremental(tap, store, lambda: search_bodies(es_all), tmp, lib)
    tap.done()


if __name__ == "__main__":
    main()
