"""The page in a real browser: installs and builds ui/ when needed, then runs
tests/ui/test_ui.mjs (Node, playwright-core, Debian's chromium) and relays its TAP.

A missing chromium, node or npm is a failure, not a skip: CI installs them (./dev test).
Screenshots go to the build directory (build/screenshots/), not into docs/: the ones in
docs/screenshots/ are refreshed on purpose with `node tests/ui/test_ui.mjs`.

The tests of issue 15 that need a server part first ask the daemon for it (GET /timeline.json,
GET /vizceral.json?at=, graph.baseline) and, when it is missing, fail with a line that says
"needs the ... server part" and what the daemon answered instead.
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.environ.get("VIZFEED_SRC", os.path.dirname(os.path.dirname(HERE))))
VIZFEED = os.path.abspath(os.environ.get("VIZFEED", os.path.join(SRC, "build", "vizfeed")))
UI = os.path.join(SRC, "ui")
CHROMIUM = "/usr/bin/chromium"


def fail(name, detail):
    print(f"not ok 1 - {name}")
    for line in str(detail).splitlines()[-40:]:
        print(f"# {line}")
    print("1..1", flush=True)
    sys.exit(1)


def step(args, what, timeout):
    """Runs a set-up command in ui/; its output would break the TAP stream, so it is kept
    and shown only when the command fails."""
    try:
        done = subprocess.run(args, cwd=UI, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail(what, e)
    if done.returncode != 0:
        fail(what, done.stdout + done.stderr)


def main():
    if not os.path.exists(CHROMIUM):
        fail("chromium is installed", f"{CHROMIUM} is missing: apt-get install -y chromium (./dev test does it)")
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            fail(f"{tool} is installed", "apt-get install -y nodejs npm (./dev test does it)")
    if not os.path.isdir(os.path.join(UI, "node_modules")):
        step(["npm", "ci", "--no-audit", "--no-fund"], "npm ci in ui/", 600)
    step(["npm", "run", "build"], "npm run build in ui/", 120)

    env = dict(os.environ, VIZFEED=VIZFEED, VIZFEED_SRC=SRC)
    env.setdefault("VIZFEED_SCREENSHOTS", os.path.join(os.path.dirname(VIZFEED), "screenshots"))
    try:
        done = subprocess.run(["node", os.path.join(SRC, "tests", "ui", "test_ui.mjs")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=420)
    except subprocess.TimeoutExpired as e:
        fail("the browser tests finish within 420 s", (e.stdout or b"").decode("utf-8", "replace")
             if isinstance(e.stdout, bytes) else (e.stdout or ""))
    out = done.stdout
    lines = out.splitlines()
    if not any(line.startswith("1..") for line in lines):
        fail("the browser tests report TAP", out)
    for line in lines:
        # Anything that is not TAP (a stray log line) becomes a comment.
        if line.startswith(("ok ", "not ok ", "1..", "#")):
            print(line)
        else:
            print(f"# {line}")
    sys.stdout.flush()
    sys.exit(done.returncode)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 (one TAP path: an exception is a "not ok" line too)
        import traceback
        fail("test_ui.py raised", traceback.format_exc())
