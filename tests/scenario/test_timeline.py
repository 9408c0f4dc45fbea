"""`vizfeed timeline` (issue 15, item 3): requests/s and error share per step, per region or
per service of one region. Its numbers must equal an independent count of the events of a
crafted NDJSON file, made here in Python with the topology rules written out by hand; the
same events in the test Elasticsearch must give the same bytes through one paged composite
aggregation with a date_histogram source; too many points is refused; the demo answers the
last 6 hours in one-minute steps."""
import json
import os
import random
import re
import sys
import tempfile
import time

from vizlib import TESTS, Tap, run, write

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402

FROM_MS = 1767225600000  # 2026-01-01T00:00:00Z
STEP_MS = 300000         # 5m
POINTS = 12              # one hour
INDEX = "access-2026.01.01"

CONFIG = """
refresh: {{ interval: 10s, window: 2m, lag: 0s }}
topology:
  - match: 10.1.0.0/16
    region: eu-west-1
  - match: 10.1.0.5
    service: web
  - match: /^pay-(.*)$/
    service: payments
{es}
flows:
  - name: access
    {source}
    from: {{ service: client }}
    to: {{ service: svc, region: region }}
    warning:
      - {{ field: status, gte: 400, lt: 500 }}
    danger:
      - {{ field: status, gte: 500 }}
"""

CALLEES = ["checkout", "cart", "pay-eu", "pay-us", "10.1.0.5", "10.1.7.7", "10.9.9.9", None]
REGIONS = ["eu-west-1", "us-east-1", None]


def iso(ms):
    s, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:03d}Z"


def crafted_events():
    """Events over the hour and around it, with every rule that decides where a call counts:
    the region field, a region from an address range, a service from an exact address or a
    regex, an unknown address kept as its name, no region at all (default), no callee (not
    counted), and timestamps on step boundaries and on both ends of the range."""
    rnd = random.Random(15)
    times = [FROM_MS - 1, FROM_MS, FROM_MS + STEP_MS - 1, FROM_MS + STEP_MS, FROM_MS + POINTS * STEP_MS - 1,
             FROM_MS + POINTS * STEP_MS]
    times += [FROM_MS - 600000 + rnd.randrange(POINTS * STEP_MS + 1200000) for _ in range(2500)]
    out = []
    for i, t in enumerate(sorted(times)):
        doc = {"@timestamp": iso(t), "client": f"10.2.0.{i % 7}"}
        svc = CALLEES[rnd.randrange(len(CALLEES))]
        region = REGIONS[rnd.randrange(len(REGIONS))]
        if svc is not None:
            doc["svc"] = svc
        if region is not None:
            doc["region"] = region
        # Quiet steps: no traffic at all to us-east-1 in the third step, to show zeros.
        if region == "us-east-1" and FROM_MS + 2 * STEP_MS <= t < FROM_MS + 3 * STEP_MS:
            doc["region"] = "eu-west-1"
        u = rnd.random()
        doc["status"] = 503 if u < 0.06 else 404 if u < 0.15 else 200
        out.append(doc)
    return out


def where(doc):
    """The callee's (region, service) by the rules of README "How the graph is built", written
    out for this configuration; None when the event has no callee."""
    svc = doc.get("svc")
    if not svc:
        return None
    name, topo_region = svc, None
    if re.fullmatch(r"10\.1\.\d+\.\d+", svc):
        topo_region = "eu-west-1"
    if svc == "10.1.0.5":
        name = "web"
    if re.fullmatch(r"pay-.*", svc):
        name = "payments"
    return (doc.get("region") or topo_region or "default", name)


def ms_of(doc):
    import datetime
    return int(datetime.datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def count(docs, region=None, weight=lambda d: 1):
    """{point: {name: [all, errors]}} and {point: [all, errors]} for the point itself; each event
    counts weight(event) calls."""
    per, total = {}, {}
    for d in docs:
        t = ms_of(d)
        w = where(d)
        if w is None or not FROM_MS <= t < FROM_MS + POINTS * STEP_MS:
            continue
        if region is not None and w[0] != region:
            continue
        p = (t - FROM_MS) // STEP_MS
        name = w[1] if region is not None else w[0]
        n = weight(d)
        err = n if d["status"] >= 400 else 0
        cell = per.setdefault(p, {}).setdefault(name, [0, 0])
        cell[0] += n
        cell[1] += err
        tot = total.setdefault(p, [0, 0])
        tot[0] += n
        tot[1] += err
    return per, total


def close(a, b):
    """The timeline rounds to 4 significant digits, as the graph's rates."""
    return abs(a - b) <= 5e-4 * max(abs(b), 1e-12)


def compare(tap, timeline, docs, region, what, weight=lambda d: 1):
    per, total = count(docs, region, weight)
    names = sorted({n for p in per.values() for n in p})
    key = "services" if region else "regions"
    seconds = STEP_MS / 1000
    problems = []
    tap.equal(timeline.get("step_ms"), STEP_MS, f"{what}: step_ms")
    pts = timeline.get("points", [])
    tap.equal([p["t"] for p in pts], [FROM_MS + i * STEP_MS for i in range(POINTS)],
              f"{what}: one point per step, t = the step's start")
    for i, p in enumerate(pts):
        all_, err = total.get(i, [0, 0])
        if not (close(p["rps"], all_ / seconds) and close(p["error_share"], err / all_ if all_ else 0)):
            problems.append(f"point {i}: {p['rps']}/{p['error_share']} vs {all_ / seconds}/{err}/{all_}")
        if sorted(p[key]) != names:
            problems.append(f"point {i}: names {sorted(p[key])} vs {names}")
            continue
        for n in names:
            a, e = per.get(i, {}).get(n, [0, 0])
            got = p[key][n]
            if not (close(got["rps"], a / seconds) and close(got["error_share"], e / a if a else 0)):
                problems.append(f"point {i} {n}: {got} vs {a} calls, {e} errors")
    tap.check(pts and not problems, f"{what}: every point's numbers equal the independent count",
              "\n".join(problems[:10]))
    return names


def searches(es):
    return [r for r in es.requests if r["path_only"].endswith("/_search")]


def main():
    tap = Tap()
    docs = crafted_events()
    rng = ["--from", iso(FROM_MS), "--to", iso(FROM_MS + POINTS * STEP_MS), "--step", "5m"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.ndjson")
        with open(path, "w") as f:
            for d in docs:
                f.write(json.dumps(d) + "\n")
        file_cfg = write(os.path.join(tmp, "file.yml"), CONFIG.format(es="", source=f"type: file\n    path: {path}"))

        r = run(["timeline", "-c", file_cfg] + rng)
        tap.check(r.returncode == 0, "file flow: timeline exits 0", r.stderr)
        by_region = json.loads(r.stdout) if r.returncode == 0 else {}
        names = compare(tap, by_region, docs, None, "file flow, regions")
        tap.check(set(names) == {"eu-west-1", "us-east-1", "default"},
                  "regions from the field, an address range and the default", names)
        quiet = by_region["points"][2]["regions"].get("us-east-1") if by_region else None
        tap.equal(quiet, {"rps": 0, "error_share": 0}, "a region without traffic in a step shows 0 there")

        r = run(["timeline", "-c", file_cfg, "--region", "eu-west-1"] + rng)
        by_service = json.loads(r.stdout) if r.returncode == 0 else {}
        names = compare(tap, by_service, docs, "eu-west-1", "file flow, services of eu-west-1")
        tap.check({"web", "payments", "10.1.7.7", "checkout"} <= set(names),
                  "services named by an exact address, a regex, or kept as an address", names)

        # The same events through the test Elasticsearch, paged 7 buckets at a time.
        with FakeElasticsearch() as es:
            es.load(INDEX, docs)
            es_cfg = write(os.path.join(tmp, "es.yml"), CONFIG.format(
                es=f"elasticsearch: {{ hosts: [{es.url}], page_size: 7 }}",
                source='type: elasticsearch\n    index: "access-*"'))
            r = run(["timeline", "-c", es_cfg] + rng)
            tap.check(r.returncode == 0, "elasticsearch flow: timeline exits 0", r.stderr)
            tap.check(r.stdout == json.dumps(by_region, separators=(",", ":")) + "\n",
                      "elasticsearch flow: the same bytes as the file flow")
            pages = searches(es)
            bodies = [json.loads(p["body"]) for p in pages]
            tap.check(len(pages) >= 3, f"one composite aggregation, paged ({len(pages)} pages of 7 buckets)")
            src = bodies[0]["aggs"]["edges"]["composite"]["sources"][0] if bodies else {}
            tap.check(list(src.values())[0].get("date_histogram") == {"field": "@timestamp", "fixed_interval": "300s"}
                      if src else False, "its first source is a date_histogram of the step", src)
            tap.check(len({json.dumps(b["query"]) for b in bodies}) == 1
                      and bodies[0]["query"]["bool"]["filter"][0]["range"]["@timestamp"]
                      == {"gte": FROM_MS, "lt": FROM_MS + POINTS * STEP_MS, "format": "epoch_millis"},
                      "every page asks for the whole range, as absolute epoch ms")
            r = run(["timeline", "-c", es_cfg, "--region", "eu-west-1"] + rng)
            tap.check(r.returncode == 0 and r.stdout == json.dumps(by_service, separators=(",", ":")) + "\n",
                      "elasticsearch flow, one region: the same bytes as the file flow", r.stderr)

            q = run(["query", "-c", es_cfg, "--at", iso(FROM_MS + 6 * 3600000)])
            # The live requests: the baseline window's follow them (test_query.py).
            live = q.stdout.split("\n# baseline ", 1)[0]
            blocks = [b for b in live.split("# flow ") if b.startswith("access, timeline")]
            tap.check(q.returncode == 0 and len(blocks) == 1, "query prints the timeline request too", q.stdout[:300])
            if blocks:
                body = json.loads(blocks[0].split("\n", 2)[2])
                tl = body["aggs"]["edges"]["composite"]["sources"][0]
                tap.check(body["query"]["bool"]["filter"][0]["range"]["@timestamp"]["lt"] == FROM_MS + 6 * 3600000
                          and list(tl.values())[0]["date_histogram"]["fixed_interval"] == "20s",
                          "the printed timeline covers the 6 hours up to --at, at the smallest step of whole "
                          "intervals within 1440 points (20s)", json.dumps(body)[:300])

            # A cluster that answers in part, refuses the buckets or pages for ever: the timeline
            # fails with the reason (a hole would read as a drop in traffic), nothing printed.
            for fault, words in (("timed_out_partial", "partial timeline"), ("shard_failures", "partial timeline"),
                                 ("too_many_buckets", "too_many_buckets_exception"),
                                 ("cycling_after_key", "already given")):
                es.inject({"named": fault, "always": True})
                r = run(["timeline", "-c", es_cfg] + rng)
                es.clear()
                tap.check(r.returncode == 1 and words in r.stderr and "flow 'access'" in r.stderr and not r.stdout,
                          f"elasticsearch {fault}: exit 1 with the reason, nothing printed", r.stderr)
            r = run(["timeline", "-c", es_cfg] + rng)
            tap.check(r.returncode == 0 and r.stdout == json.dumps(by_region, separators=(",", ":")) + "\n",
                      "and the same timeline once the cluster is well", r.stderr)

            # --record writes the timeline's pages; a replay flow answers that very timeline from
            # them, and refuses any other (a recorded refresh's rows carry no time).
            record = os.path.join(tmp, "record")
            r = run(["timeline", "-c", es_cfg, "--record", record] + rng)
            recorded = r.stdout
            r = run(["once", "-c", es_cfg, "--at", iso(FROM_MS + STEP_MS), "--record", record])
            replay_cfg = write(os.path.join(tmp, "replay.yml"), CONFIG.format(
                es="", source=f"type: replay\n    path: {os.path.join(record, 'access')}"))
            r = run(["timeline", "-c", replay_cfg] + rng)
            tap.check(r.returncode == 0 and r.stdout == recorded == json.dumps(by_region, separators=(",", ":")) + "\n",
                      "replay flow: the recorded timeline, byte for byte", r.stderr)
            r = run(["once", "-c", replay_cfg, "--at", iso(FROM_MS + STEP_MS)])
            tap.check(r.returncode == 0, "replay flow: its refreshes still replay beside the timeline", r.stderr)
            r = run(["timeline", "-c", replay_cfg, "--step", "1m"] + rng[:4])
            tap.check(r.returncode == 1 and "flow 'access'" in r.stderr and "no recording of this timeline" in r.stderr
                      and not r.stdout, "replay flow, a timeline not recorded: exit 1 with the reason", r.stderr)

            # The fake's date_histogram, checked on its own against a count: keys are the epoch
            # ms of each bucket's start, offset 0, including times before a step boundary.
            es.load("neg-1", [{"@timestamp": -1, "svc": "a"}, {"@timestamp": 0, "svc": "a"},
                              {"@timestamp": 299999, "svc": "a"}])
            import urllib.request
            req = urllib.request.Request(es.url + "/neg-1/_search", method="POST", headers={
                "Content-Type": "application/json"}, data=json.dumps({"size": 0, "aggs": {"h": {"composite": {
                    "sources": [{"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "5m"}}}]}}}}).encode())
            with urllib.request.urlopen(req, timeout=10) as resp:
                got = [(b["key"]["t"], b["doc_count"]) for b in json.load(resp)["aggregations"]["h"]["buckets"]]
            tap.equal(got, [(-300000, 1), (0, 2)], "test Elasticsearch: date_histogram keys round down, also before 1970")

        # A flow that sums a count field: each event counts its `n` calls (none without it), the
        # same through the file and the test Elasticsearch's sum sub-aggregations.
        counted = [dict(d, n=i % 4 + 1) if i % 5 else dict(d) for i, d in enumerate(docs)]
        cpath = os.path.join(tmp, "counted.ndjson")
        with open(cpath, "w") as f:
            for d in counted:
                f.write(json.dumps(d) + "\n")
        sums = CONFIG + "    count: n\n"
        cfile = write(os.path.join(tmp, "counted.yml"), sums.format(es="", source=f"type: file\n    path: {cpath}"))
        r = run(["timeline", "-c", cfile] + rng)
        summed = json.loads(r.stdout) if r.returncode == 0 else {}
        compare(tap, summed, counted, None, "count field, file flow", weight=lambda d: d.get("n", 0))
        with FakeElasticsearch() as es:
            es.load(INDEX, counted)
            ces = write(os.path.join(tmp, "counted-es.yml"), sums.format(
                es=f"elasticsearch: {{ hosts: [{es.url}], page_size: 50 }}",
                source='type: elasticsearch\n    index: "access-*"'))
            r = run(["timeline", "-c", ces] + rng)
            tap.check(r.returncode == 0 and summed and r.stdout == json.dumps(summed, separators=(",", ":")) + "\n",
                      "count field, elasticsearch flow: the same bytes as the file flow", r.stderr)

        # Bounds: more than 1440 points is refused with the reason, never cut.
        r = run(["timeline", "-c", file_cfg, "--from", iso(FROM_MS), "--to", iso(FROM_MS + 86400000 + 60000),
                 "--step", "1m"])
        tap.check(r.returncode == 2 and "at most 1440" in r.stderr and not r.stdout,
                  "1441 points: exit 2, the limit named, nothing printed", r.stderr)
        r = run(["timeline", "-c", file_cfg, "--from", iso(FROM_MS), "--to", iso(FROM_MS + 60000), "--step", "5m"])
        tap.check(r.returncode == 2 and "no whole step" in r.stderr, "a range shorter than a step: exit 2", r.stderr)
        r = run(["timeline", "-c", file_cfg, "--from", "noon"])
        tap.check(r.returncode == 2 and "--from" in r.stderr, "a bad --from: exit 2 naming it", r.stderr)
        r = run(["once", "-c", file_cfg, "--step", "1m"])
        tap.check(r.returncode == 2, "--step without timeline: exit 2", r.stderr)

    # The demo: the last 6 hours at one-minute steps, in reasonable time.
    started = time.monotonic()
    r = run(["timeline", "--demo", "--step", "1m"])
    took = time.monotonic() - started
    demo = json.loads(r.stdout) if r.returncode == 0 else {}
    pts = demo.get("points", [])
    tap.check(len(pts) == 360 and all(sorted(p["regions"]) == ["ap-southeast-2", "eu-west-1", "us-east-1"]
                                      and p["rps"] > 0 for p in pts),
              f"demo: 360 one-minute points of its 3 regions ({took:.2f} s)", r.stderr)
    tap.check(all(abs(p["rps"] - sum(v["rps"] for v in p["regions"].values())) <= 1e-3 * p["rps"] for p in pts),
              "demo: a point's rps is the sum of its regions'")
    fixed = ["timeline", "--demo", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T06:00:00Z", "--step", "1m"]
    a, b = run(fixed), run(fixed)
    tap.check(a.returncode == 0 and a.stdout == b.stdout and len(json.loads(a.stdout)["points"]) == 360,
              "demo: a pure function of time, the same range gives the same bytes", a.stderr)
    tap.done()


if __name__ == "__main__":
    main()
