"""Declarative graph cases: each directory of tests/cases holds config.yml,
its data, and case.json with the window end ("at") and the expected graph
(a partial graph matched by name, see vizlib.subset_mismatches). Adding a case
is adding a directory.

For each case: `vizfeed once --at` exits 0; the graph passes the Vizceral
validator; it matches the expectations; a second run gives the same bytes;
every notice link contains what the case says.
"""
import json
import os

from vizlib import TESTS, Tap, run, subset_mismatches, validate

CASES = os.path.join(TESTS, "cases")


def links(node):
    for n in node.get("notices") or []:
        if "link" in n:
            yield n["link"]
    for child in node.get("nodes") or []:
        yield from links(child)
    for c in node.get("connections") or []:
        yield from links(c)


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


def main():
    tap = Tap()
    outputs = {}
    names = sorted(os.listdir(CASES), key=lambda n: (os.path.exists(os.path.join(CASES, n, "case.json")) and
                                                      "same_as" in open(os.path.join(CASES, n, "case.json")).read(), n))
    for name in names:
        tap.run(check_case, name, outputs)
    tap.done()


main()
