"""Declarative graph cases: each directory of tests/cases holds config.yml,
its data, and case.json with the window end ("at") and the expected graph
(a partial graph matched by name, see vizlib.subset_mismatches). Adding a case
is adding a directory.

For each case: `vizfeed once --at` exits 0; the graph passes the Vizceral
validator; it matches the expectations; a second run gives the same bytes;
every notice link contains what the case says.

A case whose case.json has "elasticsearch": true is also run through an
elasticsearch flow against the test Elasticsearch (tests/es/fake_es.py): its
events are loaded into the index "case-<name>" of a FakeElasticsearch of its
own, and the output of `vizfeed once --at` must be byte-identical to the file
flow's. The elasticsearch variant of config.yml is made by a line-based rewrite
(there is no YAML parser here), with this rule:
  - every line `type: file` (block style, optionally after `- `) becomes
    `type: elasticsearch`;
  - every line `path: X` becomes `index: "case-*"` with the same indentation;
  - there must be as many `path:` lines as `type: file` lines, and no
    top-level `elasticsearch:` section, else the check fails (the case needs a
    config the rule understands);
  - `elasticsearch: { hosts: [URL], page_size: 2 }` is appended (page_size 2
    makes even a small case page through the composite aggregation).
Lines of events.ndjson that are blank or not a JSON object are not loaded (an
Elasticsearch could not hold them); every other line must be accepted (a
document the fake refuses, as Elasticsearch would, fails the case: its data
could never be in Elasticsearch), and the flow must have searched. case.json's
optional "mappings" ({dotted field: type}) are the index's explicit mappings,
as an index template would set them (the OpenTelemetry @timestamp is a date
even when written as "1705314600000.0").
"""
import json
import os
import sys
import tempfile

from vizlib import TESTS, Tap, run, subset_mismatches, validate

sys.path.insert(0, os.path.join(TESTS, "es"))
from fake_es import FakeElasticsearch, LoadError  # noqa: E402
from esdata import case_es_config, ndjson_docs  # noqa: E402

CASES = os.path.join(TESTS, "cases")


def links(node):
    for n in node.get("notices") or []:
        if "link" in n:
            yield n["link"]
    for child in node.get("nodes") or []:
        yield from links(child)
    for c in node.get("connections") or []:
        yield from links(c)


def check_through_elasticsearch(tap, name, d, case, file_output):
    config = open(os.path.join(d, "config.yml")).read()
    with FakeElasticsearch() as es:
        text = case_es_config(config, es.url)
        if not tap.check(text is not None, f"{name}: config.yml can be rewritten for an elasticsearch flow"):
            return
        refused = []
        for doc in ndjson_docs(os.path.join(d, "events.ndjson")):
            try:
                es.load(f"case-{name}", [doc], case.get("mappings"))
            except LoadError as e:
                refused.append(f"{e}: {json.dumps(doc)[:300]}")
        tap.check(not refused, f"{name}: Elasticsearch accepts every event", "\n".join(refused))
        with tempfile.TemporaryDirectory(prefix="vizfeed-case-") as tmp:
            cfg = os.path.join(tmp, "config.yml")
            with open(cfg, "w") as f:
                f.write(text)
            r = run(["once", "-c", cfg, "--at", case["at"]], cwd=d)
        searches = [q for q in es.requests if q["path_only"].endswith("/_search")]
        if not tap.check(r.returncode == 0, f"{name}: elasticsearch flow: once exits 0", r.stderr):
            return
        tap.check(bool(searches) and r.stdout == file_output, f"{name}: elasticsearch flow gives the file flow's bytes "
                  f"({len(searches)} searches)",
                  f"file:          {file_output}\nelasticsearch: {r.stdout}\n{r.stderr}")


def check_case(tap, name, outputs):
    d = os.path.join(CASES, name)
    case = json.load(open(os.path.join(d, "case.json")))
    first = run(["once", "-c", "config.yml", "--at", case["at"]], cwd=d)
    if not tap.check(first.returncode == 0, f"{name}: once exits 0", first.stderr):
        return
    graph = json.loads(first.stdout)
    outputs[name] = first.stdout
    problems = validate(graph, **case.get("thresholds", {}))
    tap.check(not problems, f"{name}: passes the Vizceral validator", "\n".join(problems))
    mismatches = subset_mismatches(case["expect"], graph)
    tap.check(not mismatches, f"{name}: graph is the one expected", "\n".join(mismatches))
    second = run(["once", "-c", "config.yml", "--at", case["at"]], cwd=d)
    tap.check(second.stdout == first.stdout, f"{name}: same input and --at give the same bytes")
    found = list(links(graph))
    if "link_contains" in case:
        tap.check(found and all(all(part in link for part in case["link_contains"]) for link in found),
                  f"{name}: notice links are filled in", f"links: {found}")
    if "same_as" in case and case["same_as"] in outputs:
        tap.check(outputs[case["same_as"]] == first.stdout, f"{name}: byte-identical to {case['same_as']}")
    if case.get("elasticsearch"):
        check_through_elasticsearch(tap, name, d, case, first.stdout)


def main():
    tap = Tap()
    outputs = {}
    names = sorted(os.listdir(CASES), key=lambda n: (os.path.exists(os.path.join(CASES, n, "case.json")) and
                                                      "same_as" in open(os.path.join(CASES, n, "case.json")).read(), n))
    for name in names:
        tap.run(check_case, name, outputs)
    tap.done()


main()
