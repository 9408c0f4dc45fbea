"""Node loss for real: a 3-node OpenSearch 2.19.6 cluster in one JVM (`./dev engine --nodes 3`),
an index of 3 primaries and no replicas spread one per node, a vizfeed daemon refreshing every
second. A data node is stopped between two refreshes, and once in the middle of a refresh (its
pages slowed down by the recording proxy); what the engine really answers while its shard is
gone must give the promised behaviour, checked from outside: the graph stays served and not
stale, with the rows of the shards still there and the notice "partial data from es" on the
region, the partial count in /metrics, one log line; and when the node is back the complete
graph returns (with a line saying so).

The engine answers a search over a lost shard in two ways, both exercised here: while the
cluster still routes to the stopped node, a shard failure (`_shards.failed`); once the shard is
unassigned, `_shards.successful` less than `_shards.total` with `failed` 0 and no failures listed
(OpenSearch does not report a shard that has no copy as failed).
"""
import datetime
import json
import tempfile
import time

from enginelib import Engine, Recorder, skip_unless_runnable
from vizlib import Daemon, Tap

WINDOW_S = 1800
INDEX = "filebeat-7.17.0-2026.12.06"  # the Filebeat 7 template (tests/engine/templates.json)

CONFIG = """
refresh: {{ interval: 1s, window: 30m, lag: 0s }}
graph: {{ thresholds: {{ warning: 0.05, danger: 0.2, min_rate: 0.00001 }} }}
elasticsearch: {{ hosts: [{url}], timeout: 20s, page_size: {page} }}
flows:
  - name: es
    type: elasticsearch
    index: "filebeat-7.17.0-*"
    preset: nginx-access
"""


def docs_now(n=240):
    """n calls in the last five minutes: 24 callers, 30 hosts in 3 regions."""
    now = datetime.datetime.now(datetime.timezone.utc)
    out = []
    for i in range(n):
        ts = (now - datetime.timedelta(seconds=(i * 7) % 300 + 5)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out.append({"@timestamp": ts, "event": {"dataset": "nginx.access"},
                    "source": {"ip": f"198.51.100.{i % 24}"}, "host": {"name": f"web-{i % 30:02d}"},
                    "cloud": {"region": ["eu", "us", "ap"][i % 3]},
                    "http": {"response": {"status_code": 500 if i % 13 == 0 else 200}}})
    return out


def counted(graph):
    """Events the graph accounts for: every connection's counts (region stand-ins aside), what
    was dropped, self calls."""
    total = graph.get("metadata", {}).get("dropped", 0)
    for reg in graph["nodes"][1:]:
        standins = {n["name"] for n in reg.get("nodes", []) if n.get("metadata", {}).get("region") is True}
        for c in reg.get("connections", []):
            if c["source"] not in standins:
                total += sum(c.get("metadata", {}).get(k, 0) for k in ("normal", "warning", "danger"))
        for nd in reg.get("nodes", []):
            total += nd.get("metadata", {}).get("self_call_rate", 0) * WINDOW_S
    return round(total, 6)


def partial_notes(graph):
    out = []
    for reg in graph["nodes"][1:]:
        out += [n for n in reg.get("notices") or [] if n.get("title") == "partial data from es"]
    return out


def is_partial(graph):
    return any((reg.get("metadata") or {}).get("partial") for reg in graph["nodes"][1:])


def stale(graph):
    return any((reg.get("metadata") or {}).get("stale") for reg in graph["nodes"][1:])


def partial_count(d):
    return d.metrics().get('vizfeed_es_errors_total{flow="es",kind="partial"}', 0.0)


def shards_per_node(eng):
    out = {}
    for s in eng.ok("GET", f"/_cat/shards/{INDEX}?format=json&bytes=b"):
        if s["state"] == "STARTED":
            out[s["node"]] = out.get(s["node"], 0) + int(s["docs"])
    return out


def missing(x):
    """Whether an exchange is a 200 answer with shards missing (failed or unavailable)."""
    if x["status"] != 200:
        return False
    s = json.loads(x["answer"]).get("_shards", {})
    return s.get("successful", 0) + s.get("skipped", 0) < s.get("total", 0)


def node_loss(tap, eng, d, rec, label, during_refresh):
    full = d.wait_for(lambda: (lambda g: g if not is_partial(g) and counted(g) == 240 else None)(d.graph()),
                      timeout=60, what=f"{label}: the complete graph")
    tap.check(not stale(full) and counted(full) == 240, f"{label}: before, the graph counts all 240 calls")
    docs = shards_per_node(eng)
    kept = docs.get("node-0", 0) + docs.get("node-2", 0)
    tap.check(docs.get("node-1", 0) > 0 and kept > 0, f"{label}: node-1 holds {docs.get('node-1')} of the calls",
              docs)
    p0 = partial_count(d)
    log0 = d.log().count("\n")
    if during_refresh:
        # Wait until a refresh is past its first page, then stop the node under it.
        n0 = len(rec.searches())
        deadline = time.time() + 60
        while time.time() < deadline:
            s = rec.searches()[n0:]
            if s and '"after"' in s[-1]["body"]:
                break
            time.sleep(0.02)
        before = len(rec.searches())
    t0 = time.time()
    answer = eng.command("stop 1")
    tap.equal(answer, "stopped 1", f"{label}: the engine stops node-1 (in {time.time() - t0:.1f} s)")
    if during_refresh:
        # The refresh under way when the node went: its first pages complete, its later ones not.
        d.wait_for(lambda: len([x for x in rec.searches()[before:] if '"after"' not in x["body"]]) >= 1,
                   timeout=60, what="the next refresh")
        pages = rec.searches()[n0:]
        refreshes, cur = [], []
        for x in pages:
            if '"after"' not in x["body"] and cur:
                refreshes.append(cur)
                cur = []
            cur.append(x)
        mixed = [r for r in refreshes if len({missing(x) for x in r}) == 2]
        tap.check(mixed, f"{label}: one refresh had complete pages before the stop and partial ones after "
                  f"({[sum(map(missing, r)) for r in refreshes]} partial pages per refresh)")
    g = d.wait_for(lambda: (lambda g: g if is_partial(g) and counted(g) == kept else None)(d.graph()),
                   timeout=60, what=f"{label}: the partial graph")
    tap.check(True, f"{label}: partial graph after {time.time() - t0:.1f} s, counting the {kept} calls of the "
              f"shards still there")
    notes = partial_notes(g)
    tap.check(notes and "shard" in (notes[0].get("subtitle") or ""),
              f"{label}: the region's notice 'partial data from es' says shards are missing", notes[:1])
    tap.check(not stale(g), f"{label}: the graph stays served and fresh, not stale")
    tap.check(partial_count(d) > p0, f"{label}: vizfeed_es_errors_total{{kind=\"partial\"}} counts it")
    status = d.request("GET", "/readyz")[0]
    tap.equal(status, 200, f"{label}: /readyz stays 200 (degraded, not failed)")
    # What the engine really answered, as seen on the wire.
    shards = [json.loads(x["answer"]).get("_shards", {}) for x in rec.searches()[-40:] if x["status"] == 200]
    kinds = {("failed" if s.get("failed") else "unavailable") for s in shards
             if s.get("successful", 0) + s.get("skipped", 0) < s.get("total", 0)}
    tap.check(kinds, f"{label}: the engine answered 200 with shards missing ({', '.join(sorted(kinds))})",
              shards[-3:])
    time.sleep(3)  # three more refreshes while the node is away
    lines = d.log().split("\n")[log0:]
    said = [line for line in lines if "flow 'es'" in line and "partial" in line]
    tap.check(len(said) == 1 and "shards" in said[0] and " warn " in said[0],
              f"{label}: one warning while degraded: {said[0].split(' ', 1)[1] if said else None}",
              "\n".join(lines[-10:]))

    answer = eng.command("start 1")
    tap.equal(answer, "started 1", f"{label}: node-1 comes back with its shard")
    g = d.wait_for(lambda: (lambda g: g if not is_partial(g) and counted(g) == 240 else None)(d.graph()),
                   timeout=60, what=f"{label}: the complete graph again")
    tap.check(not partial_notes(g) and not stale(g), f"{label}: recovered: all 240 calls, no notice")
    lines = d.log().split("\n")[log0:]
    tap.check(any("flow 'es'" in line and "complete" in line for line in lines),
              f"{label}: a line says the answers are complete again", "\n".join(lines[-10:]))


def main():
    skip_unless_runnable()
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp, Engine(nodes=3) as eng:
        tap.check(True, f"a 3-node engine is up at {eng.url}")
        eng.ok("PUT", f"/{INDEX}", {"settings": {"number_of_shards": 3, "number_of_replicas": 0,
                                                  "index.routing.allocation.total_shards_per_node": 1}})
        eng.bulk(INDEX, docs_now())
        per = shards_per_node(eng)
        tap.check(sorted(per) == ["node-0", "node-1", "node-2"], "one primary on each node", per)
        rec = Recorder(eng.port)
        cfg = f"{tmp}/nodes.yml"
        with open(cfg, "w") as f:
            f.write(CONFIG.format(url=rec.url, page=10))
        try:
            with Daemon(["-c", cfg]) as d:
                tap.run(node_loss, eng, d, rec, "between refreshes", False)
                if eng.command("ports").split()[2] == "-":
                    eng.command("start 1")  # the first part failed half-way: the second starts whole
                rec.delay = 0.4  # a refresh now takes 5 s: the stop lands inside one
                tap.run(node_loss, eng, d, rec, "during a refresh", True)
        finally:
            rec.close()
    tap.done()


main()
