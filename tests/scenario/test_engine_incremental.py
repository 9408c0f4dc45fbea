"""Incremental windows on a real engine (issue 16, item 2): the check of test_incremental.py
(a daemon with a clock the test sets, documents that keep arriving, some late within settle
and some beyond, every refresh compared byte for byte with `vizfeed once` and
`incremental: false`) against OpenSearch 2.19 or Elasticsearch 8.19 ($VIZFEED_ENGINE, through
`./dev engine`), so that the slice-count search (a date_histogram composite source), its keys
and its after_key, and the searches of one slice each, are the engine's own. Index `calls` holds every document; `calls-seen` the same but those later than
settle, for the full query to compare with.
"""
import json
import os
import sys
import tempfile
import urllib.request

from enginelib import Engine, Recorder, skip_unless_runnable
from test_incremental import MAPPINGS, Store, check_incremental, fakeclock_library, kind  # noqa: F401
from vizlib import TESTS, Tap

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch  # noqa: E402


def fake_agrees(tap, eng, all_docs, bodies):
    """The last incremental searches put again to the engine and to the fake holding the same
    documents: the same buckets, keys (slice starts) and after_key."""
    differ = []
    with FakeElasticsearch(flavor=eng.fake_flavor) as fake:
        fake.load("calls", all_docs, MAPPINGS)
        for body in bodies:
            _, real = eng.request("POST", "/calls/_search", body)
            req = urllib.request.Request(fake.url + "/calls/_search", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                got = json.loads(resp.read())
            a = json.dumps(real.get("aggregations"), sort_keys=True)
            b = json.dumps(got.get("aggregations"), sort_keys=True)
            if a != b:
                differ.append(f"engine {a[:400]}\n  fake {b[:400]}")
    tap.check(bodies and not differ, f"{eng.kind}: the fake answers {len(bodies)} incremental searches as the engine "
              "does (date_histogram keys, buckets, after_key)", "\n".join(differ[:3]))


def main():
    skip_unless_runnable()
    tap = Tap()
    lib, why = fakeclock_library()
    if not lib:
        tap.skip("incremental graph equals the full query on the engine", why)
        tap.done()
        return
    with tempfile.TemporaryDirectory(prefix="vizfeed-engine-incr-") as tmp, Engine(nodes=1) as eng:
        props = {k: {"type": v} for k, v in MAPPINGS.items()}
        for index in ("calls", "calls-seen"):
            eng.ok("PUT", f"/{index}", {"settings": {"number_of_shards": 2, "number_of_replicas": 0},
                                        "mappings": {"properties": props}})
        rec = Recorder(eng.port)
        try:
            all_docs = []

            def load_all(docs):
                all_docs.extend(docs)
                if docs:
                    eng.bulk("calls", docs)
            store = Store(rec.url, "calls", load_all,
                          eng.url, "calls-seen", lambda docs: eng.bulk("calls-seen", docs) if docs else None)

            def searches():
                return [json.loads(x["body"]) for x in rec.searches() if x["body"]]
            # A slower machine: more time per refresh; the same steps.
            check_incremental(tap, store, searches, tmp, lib, label=f"{eng.kind}: ", timeout=120)
            bodies = searches()
            counts = [b for b in bodies if kind(b) == "counts"]
            slices = [b for b in bodies if kind(b) == "slice"]
            failed = [x["answer"][:300] for x in rec.searches()
                      if x["status"] != 200 or json.loads(x["answer"]).get("_shards", {}).get("failed")]
            tap.check(counts and slices and not failed,
                      f"{eng.kind}: the engine answered every search whole, no shard failed ({len(counts)} "
                      f"slice-count and {len(slices)} slice search pages)", "\n".join(failed[:3]))
            fake_agrees(tap, eng, all_docs, counts[-3:] + slices[-3:])
        finally:
            rec.close()
    tap.done()


main()
