"""The command line of SPEC §3: help, version, exit codes, check, once."""
import json
import os
import tempfile

from vizlib import TESTS, Tap, run, validate, write

BASIC = os.path.join(TESTS, "cases", "basic")


def help_and_version(tap):
    r = run(["--help"])
    tap.equal(r.returncode, 0, "--help exits 0")
    lines = r.stdout.splitlines()
    tap.check(0 < len(lines) <= 40 and max(map(len, lines)) <= 100, "--help fits a terminal",
              f"{len(lines)} lines, widest {max(map(len, lines)) if lines else 0}")
    for word in ("once", "check", "--demo", "--listen", "--at"):
        tap.check(word in r.stdout, f"--help mentions {word}")
    r = run(["--version"])
    tap.check(r.returncode == 0 and r.stdout.startswith("vizfeed "), "--version prints the version", r.stdout)


def usage_errors(tap):
    for args, what in ((["--bogus"], "unknown option"), (["frobnicate"], "unknown command"),
                       (["--at", "2026-01-01T00:00:00Z"], "--at without once"), (["once", "--at"], "missing value"),
                       (["once", "--demo", "--at", "yesterday"], "bad --at"), (["extra", "args"], "stray arguments")):
        r = run(args)
        tap.equal(r.returncode, 2, f"{what}: exit code 2")
        tap.check(r.stderr.startswith("vizfeed: ") and r.stdout == "", f"{what}: one clear error on stderr",
                  r.stderr)


def missing_config(tap):
    with tempfile.TemporaryDirectory() as d:
        r = run(["check"], cwd=d)
        tap.equal(r.returncode, 2, "no vizfeed.yml: exit code 2")
        tap.check("vizfeed.yml" in r.stderr, "no vizfeed.yml: the error names the file", r.stderr)


def check_prints_resolved_flows(tap):
    with tempfile.TemporaryDirectory() as d:
        path = write(os.path.join(d, "vizfeed.yml"), """
elasticsearch:
  hosts: ["https://es.example:9200"]
  username: elastic
  password: ${TEST_SECRET_PASSWORD}
  api_key: "abc:def"
flows:
  - name: edge
    type: elasticsearch
    index: "filebeat-*"
    preset: nginx-access
""")
        env = dict(os.environ, TEST_SECRET_PASSWORD="hunter2-very-secret")
        r = run(["check", "-c", path], env=env)
        tap.equal(r.returncode, 0, "check: valid configuration exits 0")
        tap.check("event.dataset" in r.stdout and "nginx.access" in r.stdout, "check: preset expanded", r.stdout)
        tap.check("hunter2" not in r.stdout + r.stderr and "abc:def" not in r.stdout, "check: secrets masked")
        tap.check("********" in r.stdout, "check: masked secrets are shown as set")


def once_is_deterministic(tap):
    a = run(["once", "--demo", "--at", "2026-03-01T12:00:00Z"])
    b = run(["once", "--demo", "--at", "1772366400000"])
    tap.equal(a.returncode, 0, "once --demo exits 0")
    tap.check(a.stdout == b.stdout and a.stdout, "once: RFC 3339 and epoch ms --at give the same bytes")
    graph = json.loads(a.stdout)
    tap.equal(graph["updated"], 1772366400000, "once: updated is the window end in ms")
    problems = validate(graph)
    tap.check(not problems, "once --demo: graph passes the validator", "\n".join(problems))


def once_writes_a_file(tap):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "graph.json")
        r = run(["once", "-c", "config.yml", "--at", "2026-01-01T00:01:00Z", "-o", out], cwd=BASIC)
        tap.equal(r.returncode, 0, "once -o exits 0")
        tap.check(r.stdout == "", "once -o prints nothing")
        stdout = run(["once", "-c", "config.yml", "--at", "2026-01-01T00:01:00Z"], cwd=BASIC).stdout
        tap.check(open(out).read().strip() == stdout.strip(), "once -o writes the same graph as stdout")
        tap.check(sorted(os.listdir(d)) == ["graph.json"], "once -o leaves no temporary file", os.listdir(d))
        r = run(["once", "-c", "config.yml", "-o", "/nonexistent-dir/graph.json"], cwd=BASIC)
        tap.equal(r.returncode, 1, "once -o into a missing directory: exit code 1")
        tap.check("/nonexistent-dir" in r.stderr, "once -o failure names the path", r.stderr)


def file_size_limit_fails_the_write(tap):
    """Under RLIMIT_FSIZE a write past the limit raises SIGXFSZ, which kills a
    process by default: vizfeed must report the failed write instead."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # as a shell or systemd would start it
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "graph.json")
        r = run(["once", "--demo", "--at", "2026-01-01T00:00:00Z", "-o", out], preexec_fn=limit)
        tap.equal(r.returncode, 1, "a file size limit: exit 1, not killed by SIGXFSZ")
        tap.check("File too large" in r.stderr and out in r.stderr, "a file size limit: the error says so",
                  r.stderr)
        tap.check(sorted(os.listdir(d)) == [], "a file size limit: no partial or temporary file", os.listdir(d))


def main():
    tap = Tap()
    for group in (help_and_version, usage_errors, missing_config, check_prints_resolved_flows, once_is_deterministic,
                  once_writes_a_file, file_size_limit_fails_the_write):
        tap.run(group)
    tap.done()


main()
