"""`vizfeed query` prints, for every elasticsearch flow, the exact request of
a refresh's first page, ready to paste into Kibana Dev Tools."""
import json
import os
import tempfile

from vizlib import Tap, run, write


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write(os.path.join(tmp, "vizfeed.yml"), """
elasticsearch:
  hosts: [http://127.0.0.1:9]
  username: elastic
  password: do-not-print-me
  page_size: 250
flows:
  - name: web
    type: elasticsearch
    index: "filebeat-*,-filebeat-old*"
    preset: nginx-access
  - name: mesh
    type: elasticsearch
    index: "metrics-apm*"
    preset: apm-service-destination
  - name: local
    type: demo
""")
        r = run(["query", "-c", cfg, "--at", "2026-01-01T00:00:00Z"])
        tap.equal(r.returncode, 0, "query exits 0 without contacting Elasticsearch")
        # The live window's requests, then the baseline window's (graph.baseline, 1w by default).
        live, _, baseline = r.stdout.partition("\n# baseline (graph.baseline: 1w): the window from ")
        blocks = [b for b in live.split("# flow ") if b.strip()]
        timelines = [b for b in blocks if b.split("\n", 1)[0].endswith(", timeline")]
        blocks = [b for b in blocks if b not in timelines]
        tap.equal([b.split("\n", 1)[0] for b in blocks], ["web", "mesh"], "one request per elasticsearch flow")
        tap.equal([b.split("\n", 1)[0] for b in timelines], ["web, timeline", "mesh, timeline"],
                  "then the timeline request of each (tests/scenario/test_timeline.py checks them)")
        base_blocks = [b for b in baseline.split("# flow ") if b.strip()][1:]
        tap.equal([b.split("\n", 1)[0] for b in base_blocks], ["web", "mesh"],
                  "and one per flow for the baseline window")
        for b in base_blocks:
            name, _, body = b.split("\n", 2)
            rng = json.loads(body)["query"]["bool"]["filter"][0]["range"]["@timestamp"]
            # One week earlier, its end on the grid of 6 intervals (6 x 10s): 2025-12-25T00:00:00Z.
            tap.check(rng == {"gte": 1766620680000, "lt": 1766620800000, "format": "epoch_millis"},
                      f"{name}: the baseline request asks for the window one week before", rng)
        off = write(os.path.join(tmp, "off.yml"), open(cfg).read() + "graph:\n  baseline: off\n")
        r_off = run(["query", "-c", off, "--at", "2026-01-01T00:00:00Z"])
        tap.check(r_off.returncode == 0 and r_off.stdout == live and "# baseline" not in r_off.stdout,
                  "with graph.baseline: off only the live requests", r_off.stdout[-500:])
        for b in blocks:
            name, method_path, body = b.split("\n", 2)
            tap.check(method_path.startswith("POST /") and "/_search?" in method_path, f"{name}: POST /index/_search",
                      method_path)
            try:
                parsed = json.loads(body)
            except ValueError as e:
                tap.check(False, f"{name}: the body is JSON", str(e))
                continue
            tap.check(parsed["aggs"]["edges"]["composite"]["size"] == 250, f"{name}: the configured page size")
            rng = parsed["query"]["bool"]["filter"][0]["range"]["@timestamp"]
            tap.check(rng == {"gte": 1767225480000, "lt": 1767225600000, "format": "epoch_millis"},
                      f"{name}: the window ends at --at and lasts the configured window", rng)
        tap.check("filebeat-*,-filebeat-old*/_search" in r.stdout, "index patterns keep commas and exclusions")
        tap.check("do-not-print-me" not in r.stdout + r.stderr, "no secret is printed")
        tap.check(r.stdout == run(["query", "-c", cfg, "--at", "1767225600000"]).stdout,
                  "the same --at gives the same requests")
        demo = write(os.path.join(tmp, "demo.yml"), "flows:\n  - { name: d, type: demo }\n")
        r = run(["query", "-c", demo])
        tap.check(r.returncode == 1 and "no elasticsearch flow" in r.stderr, "nothing to print: exit 1 and why",
                  r.stderr)
        r = run(["query", "-c", cfg, "--at", "noon"])
        tap.equal(r.returncode, 2, "a bad --at: exit 2")
    tap.done()


main()
