"""Every broken configuration of tests/configs/bad gets its own clear error:
`vizfeed check` exits 2 and prints one line that contains the text of the
sibling .expect file (which includes the line and column). Adding a case is
adding two files."""
import glob
import os

from vizlib import TESTS, Tap, run


def main():
    tap = Tap()
    cases = sorted(glob.glob(os.path.join(TESTS, "configs", "bad", "*.yml")))
    tap.check(len(cases) >= 20, f"the corpus has at least 20 broken configurations ({len(cases)})")
    for path in cases:
        name = os.path.basename(path)
        expect = open(path[:-4] + ".expect").read().strip()
        r = run(["check", "-c", path])
        lines = r.stderr.strip().splitlines()
        tap.check(r.returncode == 2 and len(lines) == 1 and expect in lines[0] and r.stdout == "",
                  f"{name}: exit 2 with one line naming {expect!r}", f"exit {r.returncode}: {r.stderr}")
    tap.done()


main()
