"""Incremental windows on a real engine (issue 16, item 2): the check of test_incremental.py
(a daemon with a clock the test sets, documents that keep arriving, some late within settle
and some beyond, every refresh compared byte for byte with `vizfeed once` and
`incremental: false`) against OpenSearch 2.19 or Elasticsearch 8.19 ($VIZFEED_ENGINE, through
`./dev engine`), so that the date_histogram composite source, its keys and its after_key are the
engine's own. Index `calls` holds every document; `calls-seen` the same but those later than
settle, for the full query to compare with.
"""
import json
import os
import tempfile

from enginelib import Engine, Recorder, skip_unless_runnable
from test_incremental import MAPPINGS, Store, check_incremental, fakeclock_library, sliced  # noqa: F401
from vizlib import Tap


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
            store = Store(rec.url, "calls", lambda docs: eng.bulk("calls", docs) if docs else None,
                          eng.url, "calls-seen", lambda docs: eng.bulk("calls-seen", docs) if docs else None)

            def searches():
                return [json.loads(x["body"]) for x in rec.searches() if x["body"]]
            # A slower machine: more time per refresh; the same steps.
            check_incremental(tap, store, searches, tmp, lib, label=f"{eng.kind}: ", timeout=120)
            bodies = searches()
            keys = [b for b in bodies if sliced(b)]
            tap.check(keys and all(x["status"] == 200 for x in rec.searches()),
                      f"{eng.kind}: the engine accepted every sliced search ({len(keys)} pages)")
        finally:
            rec.close()
    tap.done()


main()
