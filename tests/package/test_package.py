"""The Debian package, built and used as an administrator would: `./dev
package` (suite 'package').

A copy of the source tree (never the tree itself, which other tests read
meanwhile; debian/clean removes ui/dist) is built with
`dpkg-buildpackage -b -us -uc`; lintian must find nothing beyond the
explained overrides (debian/vizfeed.lintian-overrides); `dpkg -i` installs
it; the installed vizfeed --demo, run as the package's system user from an
empty directory, serves the installed page; `man vizfeed` answers; then
`dpkg -r` keeps only the conffile, and `dpkg -P` leaves no file, user or
group behind.

Needs root; the host must not have vizfeed installed already.
"""
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
SRC = os.environ.get("VIZFEED_SRC", os.path.dirname(TESTS))
sys.path.insert(0, os.path.join(TESTS, "scenario"))
import vizlib  # noqa: E402
from vizlib import Daemon, Tap  # noqa: E402

# Where a package could leave something; other paths are not looked at.
WATCHED = ["/etc", "/usr", "/lib", "/var/lib/systemd", "/var/lib/dpkg/info", "/var/log"]


def sh(args, timeout=300, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def dpkg(args):
    """dpkg ARGS, waiting up to 5 minutes while another apt or dpkg holds
    its lock (a shared CI machine installs packages meanwhile)."""
    deadline = time.time() + 300
    while True:
        r = sh(["dpkg", *args])
        if r.returncode == 0 or "lock" not in r.stderr or time.time() > deadline:
            return r
        time.sleep(3)


def traces():
    """Every path under WATCHED whose name mentions vizfeed."""
    r = sh(["find", *[d for d in WATCHED if os.path.isdir(d)], "-xdev", "-name", "*vizfeed*"])
    return set(r.stdout.split())


def installed():
    r = sh(["dpkg-query", "-W", "-f=${Status}", "vizfeed"])
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def copy_tree(dest):
    def ignore(path, names):
        rel = os.path.relpath(path, SRC)
        skip = {".git", "node_modules"} if rel != "." else {".git", "build-reports"}
        skip |= {n for n in names if rel == "." and (n.startswith("build") or n.startswith("obj-"))}
        if rel == "ui":
            skip.add("dist")
        return skip & set(names)
    shutil.copytree(SRC, dest, ignore=ignore, symlinks=True)


def main():
    tap = Tap()
    if installed():
        tap.check(False, "vizfeed is not installed on this host before the test (dpkg -P vizfeed first)")
        tap.done()
    start = time.time()
    before = traces()
    tmp = tempfile.mkdtemp(prefix="vizfeed-package-")
    try:
        run(tap, tmp, before)
    finally:
        if installed():
            dpkg(["-P", "vizfeed"])
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"# the package test took {time.time() - start:.0f} s", flush=True)
    tap.done()


def run(tap, tmp, before):
    tree = os.path.join(tmp, "vizfeed")
    copy_tree(tree)
    t = time.time()
    r = sh(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=tree, timeout=1200)
    debs = glob.glob(os.path.join(tmp, "vizfeed_*.deb"))
    if not tap.check(r.returncode == 0 and len(debs) == 1, f"dpkg-buildpackage -b -us -uc builds vizfeed_*.deb "
                     f"({time.time() - t:.0f} s)", r.stdout[-4000:] + r.stderr[-4000:]):
        return
    deb = debs[0]
    print(f"# {os.path.basename(deb)}: {os.path.getsize(deb)} bytes", flush=True)

    changes = glob.glob(os.path.join(tmp, "vizfeed_*.changes"))
    r = sh(["lintian", "--fail-on", "error,warning", "--display-info", "--show-overrides", *changes], timeout=600)
    complaints = [line for line in r.stdout.splitlines() if line[:2] in ("E:", "W:", "I:")]
    tap.check(r.returncode == 0 and not complaints, "lintian: nothing beyond the explained overrides",
              r.stdout[-4000:] + r.stderr[-2000:])

    listing = sh(["dpkg-deb", "-c", deb]).stdout
    files = {line.split()[5].lstrip(".") for line in listing.splitlines() if line.startswith("-")}
    for want in ("/usr/bin/vizfeed", "/usr/share/vizfeed/ui/index.html", "/usr/share/vizfeed/ui/app.js",
                 "/etc/vizfeed/vizfeed.yml", "/lib/systemd/system/vizfeed.service",
                 "/usr/share/man/man1/vizfeed.1.gz", "/usr/share/man/man5/vizfeed.yml.5.gz",
                 "/usr/share/doc/vizfeed/copyright"):
        tap.check(want in files, f"the package holds {want}")

    r = dpkg(["-i", deb])
    if not tap.check(r.returncode == 0, "dpkg -i", r.stdout[-3000:] + r.stderr[-3000:]):
        return
    conffiles = sh(["dpkg-query", "-W", "-f=${Conffiles}", "vizfeed"]).stdout
    tap.check("/etc/vizfeed/vizfeed.yml" in conffiles, "/etc/vizfeed/vizfeed.yml is a conffile", conffiles)
    try:
        user = pwd.getpwnam("vizfeed")
        tap.check(user.pw_uid < 1000 and user.pw_shell.endswith("nologin"), "a system user vizfeed without a login shell",
                  str(user))
    except KeyError:
        tap.check(False, "a system user vizfeed exists")
        return

    r = sh(["/usr/bin/vizfeed", "check", "-c", "/etc/vizfeed/vizfeed.yml"], env={**os.environ, "ES_PASSWORD": "x"})
    tap.check(r.returncode == 0 and "/usr/share/vizfeed/ui" in r.stdout,
              "vizfeed check accepts /etc/vizfeed/vizfeed.yml; ui_dir is the installed page", r.stdout + r.stderr)
    # Minimal images often tell dpkg to leave man pages out (path-exclude).
    excluded = sh(["sh", "-c", "grep -hs '^path-exclude=*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*"]).stdout.strip()
    if excluded:
        tap.skip("man vizfeed answers", f"dpkg excludes man pages here ({excluded})")
    else:
        r = sh(["man", "-P", "cat", "vizfeed"], env={**os.environ, "MANWIDTH": "80"})
        tap.check(r.returncode == 0 and "vizfeed.yml(5)" in r.stdout, "man vizfeed answers", r.stderr)
        r = sh(["man", "-P", "cat", "5", "vizfeed.yml"], env={**os.environ, "MANWIDTH": "80"})
        tap.check(r.returncode == 0 and "flows" in r.stdout, "man 5 vizfeed.yml answers", r.stderr)

    # The installed daemon as the unit runs it (its user), from a directory without ui/.
    elsewhere = os.path.join(tmp, "elsewhere")
    os.mkdir(elsewhere)
    os.chmod(tmp, 0o755)
    vizlib.VIZFEED = "/usr/bin/vizfeed"
    with Daemon(["--demo"], cwd=elsewhere,
                prefix=["setpriv", "--reuid", "vizfeed", "--regid", "vizfeed", "--clear-groups", "--"]) as d:
        status, headers, body = d.request("GET", "/")
        with open("/usr/share/vizfeed/ui/index.html", "rb") as f:
            tap.check(status == 200 and body == f.read() and b"<html" in body.lower(),
                      "the installed vizfeed --demo serves the installed page at /", f"{status}\n{d.log()}")
        graph = d.wait_for(lambda: d.graph(), what="the demo graph")
        tap.check(len(graph.get("nodes", [])) >= 3, "and its demo graph")
        tap.equal(d.stop(), 0, "SIGTERM: exit 0")

    r = dpkg(["-r", "vizfeed"])
    tap.check(r.returncode == 0 and not os.path.exists("/usr/bin/vizfeed") and os.path.exists("/etc/vizfeed/vizfeed.yml"),
              "dpkg -r removes the program and keeps the conffile", r.stdout + r.stderr)
    with open("/etc/vizfeed/vizfeed.env", "w") as f:  # what an administrator adds (the unit's secrets)
        f.write("ES_PASSWORD=x\n")
    r = dpkg(["-P", "vizfeed"])
    tap.check(r.returncode == 0 and not installed(), "dpkg -P purges it", r.stdout + r.stderr)
    left = sorted(traces() - before)
    tap.check(not left, "nothing of vizfeed is left under " + ", ".join(WATCHED), "\n".join(left))
    tap.check(sh(["getent", "passwd", "vizfeed"]).returncode != 0 and sh(["getent", "group", "vizfeed"]).returncode != 0,
              "the system user and its group are gone")


main()
