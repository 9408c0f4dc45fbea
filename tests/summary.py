#!/usr/bin/env python3
"""Counts every test case meson ran and prints 'N passed, N failed'.

Unit and scenario tests report TAP, so each test case counts once: a line
'ok N' passes, 'not ok N' fails ('# SKIP' counts as skipped). A test program
that crashed or timed out before reporting counts as one failure more, so a
broken program can never look green; a program that reports no TAP at all
counts as one test, passed or failed by its exit status.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")


def main(path):
    passed = failed = skipped = 0
    broken = []
    with open(path) as log:
        for line in log:
            test = json.loads(line)
            ok = bad = 0
            for out in (test.get("stdout") or "").splitlines():
                m = TAP.match(out.strip())
                if not m:
                    continue
                if "# SKIP" in m.group(2).upper():
                    skipped += 1
                elif m.group(1) == "ok":
                    ok += 1
                else:
                    bad += 1
            passed += ok
            failed += bad
            good = test["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
            if not good and bad == 0:
                failed += 1
                broken.append(f"{test['name']} ({test['result']})")
            elif good and ok + bad == 0:
                passed += 1  # a program that reports no TAP counts as one test
    for name in broken:
        print(f"test program failed without a failing case: {name}")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
