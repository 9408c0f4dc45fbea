"""`meson install` into a temporary prefix, then the installed vizfeed run
from another directory: the page, the man pages, the example configuration
and the systemd unit are where the binary expects them.

A build directory of its own (meson setup --prefix=TMP/prefix), since the
prefix is compiled in: the page's installed directory is the default ui_dir
(meson option ui_dir, empty = <prefix>/share/vizfeed/ui).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import vizlib
from vizlib import SRC, Daemon, Tap


def sh(args, timeout=600, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def main():
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="vizfeed-install-")
    try:
        run(tap, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


def run(tap, tmp):
    prefix, build, elsewhere = (os.path.join(tmp, d) for d in ("prefix", "build", "elsewhere"))
    os.mkdir(elsewhere)
    dist = os.path.join(SRC, "ui", "dist")
    if not tap.check(os.path.isfile(os.path.join(dist, "index.html")), "ui/dist is built (./dev ui)"):
        return
    r = sh(["meson", "setup", build, SRC, f"--prefix={prefix}", "--buildtype=release"])
    if not tap.check(r.returncode == 0, "meson setup with a temporary prefix", r.stdout[-3000:] + r.stderr[-3000:]):
        return
    r = sh(["ninja", "-C", build, "-j2", "vizfeed"])
    if not tap.check(r.returncode == 0, "ninja builds vizfeed", r.stdout[-3000:] + r.stderr[-3000:]):
        return
    r = sh(["meson", "install", "-C", build, "--no-rebuild", "--quiet"])
    tap.check(r.returncode == 0, "meson install", r.stdout[-3000:] + r.stderr[-3000:])
    shutil.rmtree(build)  # the installed files alone from here on

    vizfeed = os.path.join(prefix, "bin", "vizfeed")
    page = os.path.join(prefix, "share", "vizfeed", "ui")
    for rel in ("bin/vizfeed", "share/vizfeed/ui/index.html", "share/vizfeed/ui/app.js",
                "etc/vizfeed/vizfeed.yml", "lib/systemd/system/vizfeed.service",
                "share/man/man1/vizfeed.1", "share/man/man5/vizfeed.yml.5",
                "share/doc/vizfeed/examples/nginx-access.yml"):
        tap.check(os.path.isfile(os.path.join(prefix, rel)), f"installed: {rel}")

    # The unit runs the installed binary on the installed configuration.
    with open(os.path.join(prefix, "lib/systemd/system/vizfeed.service")) as f:
        unit = f.read()
    tap.check(f"ExecStart={vizfeed} -c {prefix}/etc/vizfeed/vizfeed.yml" in unit, "the unit's ExecStart names the installed files",
              [line for line in unit.splitlines() if line.startswith("ExecStart")])
    if shutil.which("systemd-analyze"):
        # The unit's syntax, its ExecStart and its Documentation= man pages.
        r = sh(["systemd-analyze", "verify", os.path.join(prefix, "lib/systemd/system/vizfeed.service")],
               env={**os.environ, "MANPATH": os.path.join(prefix, "share", "man")})
        tap.check(r.returncode == 0 and not r.stderr.strip(), "systemd-analyze verify finds nothing in the unit",
                  r.stdout + r.stderr)
    tap.check("@" + "bindir@" not in unit and "@" + "sysconfdir@" not in unit, "no placeholder left in the unit")

    # The installed example configuration is valid, and names the installed page.
    r = sh([vizfeed, "check", "-c", os.path.join(prefix, "etc/vizfeed/vizfeed.yml")], cwd=elsewhere,
           env={**os.environ, "ES_PASSWORD": "x"})
    tap.check(r.returncode == 0, "vizfeed check accepts the installed configuration", r.stdout + r.stderr)
    tap.check(f"ui_dir: {page}" in r.stdout or f'ui_dir: "{page}"' in r.stdout, "its ui_dir is the installed page",
              [line for line in r.stdout.splitlines() if "ui_dir" in line])

    # The man pages render without a warning (man -l reads the file itself).
    if shutil.which("man"):
        for rel in ("share/man/man1/vizfeed.1", "share/man/man5/vizfeed.yml.5"):
            r = sh(["man", "--warnings", "-l", os.path.join(prefix, rel)], env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
            tap.check(r.returncode == 0 and "vizfeed" in r.stdout and not r.stderr.strip(), f"man -l {rel} renders cleanly",
                      r.stderr[-2000:])
    else:
        tap.skip("man pages render", "man is not installed")

    # The installed binary, started from a directory with no ui/ in it.
    vizlib.VIZFEED = vizfeed
    with Daemon(["--demo"], cwd=elsewhere) as d:
        status, headers, body = d.request("GET", "/")
        with open(os.path.join(dist, "index.html"), "rb") as f:
            want = f.read()
        tap.check(status == 200 and body == want, "GET / from another directory serves the installed page",
                  f"status {status}, {len(body)} bytes; log:\n{d.log()}")
        status, headers, body = d.request("GET", "/app.js")
        tap.check(status == 200 and "javascript" in headers.get("content-type", ""), "GET /app.js", f"status {status} {headers}")
        graph = d.wait_for(lambda: d.graph(), what="the demo graph")
        tap.check(len(graph.get("nodes", [])) >= 3, "the demo graph is served")
        tap.equal(d.stop(), 0, "SIGTERM: exit 0")


main()
