#!/usr/bin/env python3
"""Counts every test case meson ran and prints 'N passed, N failed'.

Usage: summary.py TESTLOG.json [TESTLOG.json ...] [--reports DIR ...]

Each TESTLOG.json is one `meson test` run's log (the normal build, then the
sanitizer, valgrind and fuzz runs of `./dev test`); their counts add up to
one line. Unit and scenario tests report TAP, so each test case counts once:
a line 'ok N' passes, 'not ok N' fails ('# SKIP' counts as skipped). A test
program that crashed or timed out before reporting counts as one failure
more, so a broken program can never look green; a program that reports no
TAP at all counts as one test, passed or failed by its exit status.

A log that is missing (a run that could not even start, e.g. its build
failed) counts as one failure. Each file in a --reports DIR is a sanitizer
report (ASan, UBSan, LSan, TSan write them there through log_path) and
counts as one failure too, even when the process that wrote it was a daemon
whose test did not look at its exit code.
"""
import json
import os
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")


def count(path, totals, broken):
    with open(path) as log:
        for line in log:
            test = json.loads(line)
            ok = bad = 0
            for out in (test.get("stdout") or "").splitlines():
                m = TAP.match(out.strip())
                if not m:
                    continue
                if "# SKIP" in m.group(2).upper():
                    totals["skipped"] += 1
                elif m.group(1) == "ok":
                    ok += 1
                else:
                    bad += 1
            totals["passed"] += ok
            totals["failed"] += bad
            good = test["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
            if not good and bad == 0:
                totals["failed"] += 1
                broken.append(f"{test['name']} ({test['result']})")
            elif good and ok + bad == 0:
                totals["passed"] += 1  # a program that reports no TAP counts as one test


def main(argv):
    logs, report_dirs = [], []
    args = iter(argv)
    for a in args:
        if a == "--reports":
            report_dirs.append(next(args))
        else:
            logs.append(a)
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    broken = []
    for path in logs:
        if os.path.exists(path):
            count(path, totals, broken)
        else:
            totals["failed"] += 1
            broken.append(f"{path} (no test log: the run did not happen)")
    for d in report_dirs:
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            totals["failed"] += 1
            broken.append(f"sanitizer report {os.path.join(d, name)}")
    for name in broken:
        print(f"failed without a failing case: {name}")
    passed, failed, skipped = totals["passed"], totals["failed"], totals["skipped"]
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
