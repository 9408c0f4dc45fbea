"""Baseline and change (graph.baseline, README.md "Baseline and change").

A crafted data set (tests/data/baseline/): one file flow with two periods one
week apart. Against the baseline window, web -> api surges (1/s -> 5/s),
web -> payments drops (5/s -> 1/s), web -> fraud-v2 is new and web -> legacy
is gone; INTERNET -> web is unchanged. `vizfeed once --at` must give exactly
those notices, classes and metadata (and nothing else marked), pass the
Vizceral validator, and give the same bytes twice. With `graph.baseline: off`
the graph is today's byte for byte (expected-off.json was written by vizfeed
before the baseline existed; only its maxVolume changed since, to the 1-2-5
steps windows on a grid brought, graph_state.h). Through an elasticsearch flow (the test
Elasticsearch) the same data gives the file flow's bytes, and the live daemon
asks it for each baseline window once: at most one baseline aggregation per
flow per BASELINE_EVERY (6) refreshes. A baseline that fails only takes the
change marks away.
"""
import json
import os
import re
import sys
import tempfile
import time

from vizlib import TESTS, Daemon, Tap, run, validate, write

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402
from esdata import case_es_config, ndjson_docs  # noqa: E402

DATA = os.path.join(TESTS, "data", "baseline")
AT = "2026-01-08T00:10:00Z"
BASELINE_EVERY = 6  # src/bounds.h


def config_text(extra=""):
    return open(os.path.join(DATA, "config.yml")).read() + extra


def once(tap, cfg, what, at=AT):
    r = run(["once", "-c", cfg, "--at", at], cwd=DATA)
    tap.check(r.returncode == 0, f"{what}: once exits 0", r.stderr)
    return r


def marks(g):
    """Every notice title and change mark of the graph, by where it is."""
    out = {}

    def note(where, obj):
        titles = [n["title"] for n in obj.get("notices") or []]
        change = (obj.get("metadata") or {}).get("change")
        if titles or change:
            out[where] = (obj.get("class"), change, titles)

    for n in g["nodes"]:
        note(n["name"], n)
        for c in n.get("nodes") or []:
            note(f"{n['name']}/{c['name']}", c)
        for c in n.get("connections") or []:
            note(f"{n['name']}/{c['source']}->{c['target']}", c)
    for c in g["connections"]:
        note(f"{c['source']}->{c['target']}", c)
    return out


def crafted_data_set(tap, tmp):
    cfg = write(os.path.join(tmp, "on.yml"), config_text().replace("path: events.ndjson",
                                                                   f"path: {DATA}/events.ndjson"))
    r = once(tap, cfg, "baseline 1w")
    g = json.loads(r.stdout)
    problems = validate(g, 0.03, 0.10, 0.1)
    tap.check(not problems, "the graph with changes obeys the Vizceral rules", "\n".join(problems))
    surge = "traffic 5.0\u00d7 the usual: 5/s now, 1/s 1w ago"
    drop = "traffic 0.2\u00d7 the usual: 1/s now, 5/s 1w ago"
    want = {
        "eu/api": ("normal", "surge", [surge]),
        "eu/payments": ("normal", "drop", [drop]),
        "eu/fraud-v2": ("normal", "new", ["new since 1w ago"]),
        "eu/legacy": ("normal", "gone", ["no traffic now: 1/s 1w ago"]),
        "eu/web->api": ("normal", "surge", [surge]),
        "eu/web->payments": ("normal", "drop", [drop]),
        "eu/web->fraud-v2": ("normal", "new", ["new since 1w ago"]),
        "eu/web->legacy": ("warning", "gone", ["no traffic now: 1/s 1w ago"]),
    }
    got = marks(g)
    tap.check(got == want, "exactly the surge, drop, new and gone marks",
              json.dumps(got, indent=1, ensure_ascii=False))
    eu = next(n for n in g["nodes"] if n["name"] == "eu")
    rates = {(c["source"], c["target"]): c["metadata"].get("baseline_rate") for c in eu["connections"]}
    tap.check(rates == {("INTERNET", "web"): 1, ("web", "api"): 1, ("web", "fraud-v2"): 0, ("web", "legacy"): 1,
                        ("web", "payments"): 5}, "every connection carries its baseline rate", rates)
    legacy = next(c for c in eu["connections"] if c["target"] == "legacy")
    tap.check(legacy["metrics"] == {} and legacy["notices"][0]["severity"] == 1,
              "the gone edge is drawn with no traffic and a severity-1 notice", legacy)
    tap.check(g["metadata"].get("baseline") == "1w" and eu["metadata"].get("baseline") == "1w"
              and "baseline_error" not in g["metadata"], "root and region say the baseline", g["metadata"])
    tap.check(once(tap, cfg, "again").stdout == r.stdout, "once --at twice gives the same bytes")

    # One day back there is no traffic at all: no baseline, no marks, and the root says why.
    day = write(os.path.join(tmp, "1d.yml"), open(cfg).read().replace("baseline: 1w", "baseline: 1d"))
    g1 = json.loads(once(tap, day, "baseline 1d").stdout)
    tap.check(not marks(g1) and "no traffic at all in the baseline window" in g1["metadata"].get("baseline_error", "")
              and "baseline_rate" not in json.dumps(g1),
              "an empty baseline window marks nothing and says so", g1["metadata"])

    off = write(os.path.join(tmp, "off.yml"), open(cfg).read().replace("baseline: 1w", "baseline: off"))
    r_off = once(tap, off, "baseline off")
    expected = open(os.path.join(DATA, "expected-off.json")).read()
    tap.check(r_off.stdout == expected, "baseline off gives today's graph byte for byte",
              f"expected {expected}\n     got {r_off.stdout}")
    return r.stdout


def hidden_services_and_a_gone_region(tap):
    """Gone edges count against max_services (their services merge into `other` first, having no
    traffic now), and a region whose every edge is gone is still drawn, whole and valid."""
    d = os.path.join(DATA, "other")
    r = run(["once", "-c", os.path.join(d, "config.yml"), "--at", AT], cwd=d)
    tap.check(r.returncode == 0, "other: once exits 0", r.stderr)
    g = json.loads(r.stdout)
    problems = validate(g, 0.03, 0.10, 0.1)
    tap.check(not problems, "other: the graph obeys the Vizceral rules", "\n".join(problems))
    eu = next(n for n in g["nodes"] if n["name"] == "eu")
    us = next(n for n in g["nodes"] if n["name"] == "us")
    names = [n["name"] for n in eu["nodes"]]
    tap.check(names == ["INTERNET", "api", "other", "svc4", "web", "us"] and eu["metadata"]["hidden_services"] == 9,
              "the services limit holds with gone services, which merge into other", (names, eu["metadata"]))
    other = next(c for c in eu["connections"] if c["target"] == "other")
    tap.check(other["metadata"]["baseline_rate"] == 15 and "change" not in other["metadata"],
              "other's connection sums its services' baseline rates (10/s now, 15/s then: no mark)", other)
    tap.check(us["metadata"].get("change") == "gone" and us["metadata"]["flows"] == ["calls"]
              and all(c["metrics"] == {} and c["class"] == "warning" for c in us["connections"]),
              "a region with no traffic left is drawn gone, with its flow named", us)
    # An entry node with no traffic now would make Vizceral divide by zero: its gone ingress is
    # left to the root, unless it is all the region has (ap: only its ingress, gone).
    tap.check("entryNode" not in us and [(c["source"], c["target"]) for c in us["connections"]] == [("eu", "shop")],
              "a gone ingress beside other gone calls is shown at the root only", us["connections"])
    ap = next(n for n in g["nodes"] if n["name"] == "ap")
    tap.check(ap.get("entryNode") == "INTERNET" and [c["metadata"].get("change") for c in ap["connections"]] == ["gone"],
              "a region whose only edge was its ingress still draws it", ap)
    root = {(c["source"], c["target"]): c["metadata"].get("change") for c in g["connections"]}
    tap.check(root == {("INTERNET", "ap"): "gone", ("INTERNET", "eu"): None, ("INTERNET", "us"): "gone",
                       ("eu", "us"): "gone"}, "the root's connections into them are gone too", root)


def first_pages(es):
    """(gte, lt) of every search that starts a collect (no after_key)."""
    out = []
    for q in es.requests:
        if not q["path_only"].endswith("/_search"):
            continue
        body = json.loads(q["body"])
        if body["aggs"]["edges"]["composite"].get("after"):
            continue
        rng = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
        out.append((int(rng["gte"]), int(rng["lt"])))
    return out


def through_elasticsearch(tap, tmp, file_bytes):
    with FakeElasticsearch() as es:
        es.load("case-baseline", ndjson_docs(os.path.join(DATA, "events.ndjson")))
        text = case_es_config(config_text(), es.url, page_size=100)
        cfg = write(os.path.join(tmp, "es.yml"), text)
        r = once(tap, cfg, "elasticsearch flow")
        tap.check(r.stdout == file_bytes, "the elasticsearch flow gives the file flow's bytes",
                  f"file: {file_bytes}\nes:   {r.stdout}")
        at_ms = 1767831000000
        week = 7 * 86400000
        tap.check(sorted(set(first_pages(es))) == [(at_ms - week - 60000, at_ms - week), (at_ms - 60000, at_ms)],
                  "once asks for the window and its baseline, one aggregation each", first_pages(es))

        # A failing baseline: the graph is still published, without change marks, and says why.
        # The live window's pages (as many as the first run took) pass, the baseline's first fails.
        live_pages = sum(1 for q in es.requests if q["path_only"].endswith("/_search")
                         and f'"lt":{at_ms},' in q["body"].replace(" ", ""))
        es.clear_requests()
        es.inject([{"delay": 0, "path": "_search"}] * live_pages + [{"named": "503", "path": "_search"}])
        r = once(tap, cfg, "a failing baseline")
        g = json.loads(r.stdout)
        tap.check(not marks(g) and "baseline window" in g["metadata"].get("baseline_error", ""),
                  "a failing baseline leaves the graph without change marks", g["metadata"])
        # A partial baseline (failed shards) would show drops that are not there: none instead,
        # and the live window, which was whole, is not called partial.
        es.clear()
        es.inject([{"delay": 0, "path": "_search"}] * live_pages + [{"named": "shard_failures", "path": "_search"}])
        g = json.loads(once(tap, cfg, "a partial baseline").stdout)
        tap.check(not marks(g) and "baseline window" in g["metadata"].get("baseline_error", "")
                  and "partial" not in json.dumps(g), "a partial baseline is no baseline; the live data stays whole",
                  g["metadata"])
        es.clear()


def daemon_fetches_each_baseline_once(tap, tmp):
    """The live daemon: a baseline window is collected once, then reused until it moves (every
    BASELINE_EVERY intervals), so Elasticsearch sees few baseline aggregations."""
    now = int(time.time() * 1000)
    docs = []
    for back in (0, 7 * 86400000):
        for s in range(0, 120, 2):
            ts = now - back - s * 1000
            docs.append({"@timestamp": ts, "src": "web", "dst": "api", "region": "eu", "n": 1, "status": 200})
    with FakeElasticsearch() as es:
        es.load("case-live", docs)
        text = case_es_config(config_text(), es.url, pattern="case-live", page_size=100)
        text = text.replace("interval: 10s", "interval: 1s").replace("lag: 0s", "lag: 2s")
        cfg = write(os.path.join(tmp, "live.yml"), text)
        with Daemon(["-c", cfg]) as d:
            d.wait_for(lambda: d.metrics().get("vizfeed_refreshes_total", 0) >= 3 * BASELINE_EVERY, timeout=120,
                       what=f"{3 * BASELINE_EVERY} refreshes")
            m = d.metrics()
            g = d.graph()
        refreshes = int(m["vizfeed_refreshes_total"])
        pages = first_pages(es)
        week = 7 * 86400000
        baseline = [p for p in pages if p[1] < now - week / 2]
        live = [p for p in pages if p[1] >= now - week / 2]
        tap.check(len(baseline) == len(set(baseline)), "no baseline window is asked for twice", baseline)
        tap.check(len(live) >= 3 * BASELINE_EVERY and len(baseline) <= len(live) // BASELINE_EVERY + 2,
                  f"at most one baseline aggregation per {BASELINE_EVERY} refreshes "
                  f"({len(baseline)} for {len(live)} live windows, {refreshes} refreshes)")
        tap.check(all((e - 60000) % 6000 == 0 for _, e in baseline) or all(e % 6000 == 0 for _, e in baseline),
                  "baseline window ends sit on the grid of 6 intervals", baseline)
        collects = sum(v for k, v in m.items() if k.startswith("vizfeed_baseline_collects_total"))
        tap.check(collects == len(baseline), "/metrics counts the baseline collects", (collects, len(baseline)))
        tap.check(g["metadata"].get("baseline") == "1w", "the live graph names its baseline", g["metadata"])


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="vizfeed-baseline-") as tmp:
        file_bytes = crafted_data_set(tap, tmp)
        tap.run(hidden_services_and_a_gone_region)
        tap.run(through_elasticsearch, tmp, file_bytes)
        tap.run(daemon_fetches_each_baseline_once, tmp)
    tap.done()


if __name__ == "__main__":
    main()
