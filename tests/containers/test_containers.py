"""The container images, built and run: `./dev containers` (suite 'containers').

On a private Docker daemon this test starts itself (Debian's docker.io,
data root, socket and state under a temporary directory; stopped at the end
whatever happens), it:
  - makes the base image debian:12-slim with debootstrap (there is no
    registry to pull from), with the host's extra CA certificates in it;
  - builds deploy/Dockerfile (the feeder) and deploy/Dockerfile.page (the
    page; ui/dist must be built, ./dev ui) and measures them: each at most
    60 MB, no compiler, node or package manager inside, a non-root user;
  - runs both read-only on a private network and checks from the host the
    feeder's /vizceral.json and its headers, the page's / and its
    /vizceral.json equal to the feeder's bytes within two pull intervals,
    and that both stop on SIGTERM with exit status 0;
  - starts deploy/compose.demo.yml with Debian's docker-compose and fetches
    the page and the graph through its published port;
  - checks deploy/compose.yml (the full stack, whose Elastic images cannot be
    pulled here) structurally, and that docker-compose accepts it.
Everything it creates (containers, networks, images, the daemon, its data)
is removed at the end, even after a failure or a SIGTERM from meson.

A host with IPv4 forwarding off fails at once with one line saying so:
containers would get no network (docker run's warning "IPv4 forwarding is
disabled. Networking will not work."). The daemon is started with
--ip-forward=false, so that it does not switch the host setting on behind
the operator's back; docs/OPERATIONS.md "Docker hosts" says how to set it.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
SRC = os.environ.get("VIZFEED_SRC", os.path.dirname(TESTS))
sys.path.insert(0, os.path.join(TESTS, "scenario"))
from vizlib import Tap, validate  # noqa: E402

MAX_IMAGE_BYTES = 60 * 1000 * 1000
PULL_SECONDS = 5
# Debian's docker.io and docker-compose, not another docker client on PATH.
DOCKER = "/usr/bin/docker"
COMPOSE = "/usr/bin/docker-compose"
MIRROR = os.environ.get("VIZFEED_DEBIAN_MIRROR", "http://deb.debian.org/debian")
TAG = f"vizfeed-test-{os.getpid()}"
FEEDER_IMAGE, PAGE_IMAGE = "vizfeed:latest", "vizfeed-page:latest"


class Stop(Exception):
    pass


def on_term(signum, frame):
    raise Stop(f"signal {signum}")


class Env:
    """The private daemon and everything made on it, undone by close()."""

    def __init__(self, work):
        self.work = work
        self.sock = os.path.join(work, "docker.sock")
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_BUILDKIT": "1",
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_CONFIG": os.path.join(work, "client")}
        self.dockerd = None
        self.containers, self.networks, self.compose_projects = [], [], []
        self.had_docker0 = os.path.exists("/sys/class/net/docker0")
        self.had_docker_rules = "DOCKER" in iptables_save()
        # What dockerd makes outside its data and exec roots: its identity key,
        # its plugin directory, and the directory of its managed containerd.
        self.host_leftovers = [p for p in ("/etc/docker/key.json", "/run/docker", "/run/containerd")
                               if not os.path.exists(p)]

    def run(self, args, timeout=300, check=False, **kw):
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=self.env, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def docker(self, *args, timeout=300, check=False):
        return self.run([DOCKER, *args], timeout=timeout, check=check)

    def start(self):
        self.log = open(os.path.join(self.work, "dockerd.log"), "w")
        self.dockerd = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(self.work, "data"), "--exec-root", os.path.join(self.work, "exec"),
             "--pidfile", os.path.join(self.work, "dockerd.pid"), "--host", f"unix://{self.sock}",
             "--ip-forward=false", "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.dockerd.poll() is not None:
                raise RuntimeError(f"dockerd exited {self.dockerd.returncode}:\n{self.dockerd_log()}")
            if os.path.exists(self.sock) and self.docker("version", timeout=20).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError(f"dockerd did not answer within 60 s:\n{self.dockerd_log()}")

    def dockerd_log(self):
        with open(os.path.join(self.work, "dockerd.log")) as f:
            return f.read()[-4000:]

    def close(self):
        for project, files in self.compose_projects:
            self.run([COMPOSE, "-p", project, *files, "down", "-v", "--remove-orphans", "-t", "5"], timeout=120)
        if self.dockerd and self.dockerd.poll() is None:
            for c in self.containers:
                self.docker("rm", "-f", "-v", c, timeout=60)
            for n in self.networks:
                self.docker("network", "rm", n, timeout=60)
            # Images, the build cache and the base go with the data root below.
            self.dockerd.send_signal(signal.SIGTERM)
            try:
                self.dockerd.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.dockerd.pid, signal.SIGKILL)
                self.dockerd.wait()
        # A daemon killed mid-way may leave overlay or netns mounts behind.
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(self.work)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        if not self.had_docker0 and os.path.exists("/sys/class/net/docker0"):
            subprocess.run(["ip", "link", "delete", "docker0"], capture_output=True)
        # dockerd leaves its iptables chains and rules when it stops; on a host
        # that had none, take them away again (all other rules are kept).
        if not self.had_docker_rules:
            rules = iptables_save()
            kept = [line for line in rules.splitlines() if not re.search(r"DOCKER|docker0", line)]
            if kept != rules.splitlines():
                subprocess.run(["iptables-restore"], input="\n".join(kept) + "\n", text=True, capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
        for p in self.host_leftovers:
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.exists(p):
                os.unlink(p)


def iptables_save():
    try:
        return subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return ""


def http_get(host, port, path, timeout=10):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_for(fn, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what} (last error: {last})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_forwarding(tap):
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        on = f.read().strip() == "1"
    if not on:
        tap.check(False, "IPv4 forwarding is off on this host (net.ipv4.ip_forward = 0): containers get no network "
                  "(docker: \"WARNING: IPv4 forwarding is disabled. Networking will not work.\"); "
                  "set net.ipv4.ip_forward = 1 (docs/OPERATIONS.md, \"Docker hosts\")")
        tap.done()


def compose_structure(tap):
    """The full stack file: what can be checked without its images."""
    import yaml

    path = os.path.join(SRC, "deploy", "compose.yml")
    with open(path) as f:
        doc = yaml.safe_load(f)
    tap.check("name" not in doc, "compose.yml: no top-level name: (docker-compose 1.29 rejects it)")
    services = doc.get("services", {})
    tap.check({"elasticsearch", "kibana", "filebeat", "vizfeed", "page"} <= set(services),
              "compose.yml: Elasticsearch, Kibana, Filebeat, vizfeed and the page", sorted(services))
    declared = set((doc.get("volumes") or {}).keys())
    problems = []
    port_re = re.compile(r"^(127\.0\.0\.1:)?(\$\{[A-Z_]+(:-\d+)?\}|\d{1,5}):\d{1,5}(/(tcp|udp))?$")
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            problems.append(f"{name}: neither image nor build")
        build = svc.get("build")
        if build:
            ctx = os.path.normpath(os.path.join(SRC, "deploy", build["context"]))
            if not os.path.isdir(ctx) or not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
                problems.append(f"{name}: build context {ctx} or its Dockerfile is missing")
        for p in svc.get("ports", []):
            if not isinstance(p, str) or not port_re.match(p):
                problems.append(f"{name}: port {p!r} is not HOST:CONTAINER as a quoted string")
            elif not p.startswith("127.0.0.1:"):
                problems.append(f"{name}: port {p!r} is published on every address")
        for v in svc.get("volumes", []):
            parts = v.split(":") if isinstance(v, str) else []
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                problems.append(f"{name}: volume {v!r} is not SOURCE:TARGET[:ro]")
            elif parts[0].startswith("."):
                if not os.path.exists(os.path.join(SRC, "deploy", parts[0])):
                    problems.append(f"{name}: bind source {parts[0]} does not exist")
            elif parts[0] not in declared:
                problems.append(f"{name}: named volume {parts[0]} is not declared")
            if len(parts) > 1 and not parts[1].startswith("/"):
                problems.append(f"{name}: volume target {parts[1]} is not absolute")
        one_shot = str(svc.get("restart", "")) == "no"
        if not one_shot and "healthcheck" not in svc:
            problems.append(f"{name}: no healthcheck")
        for dep, cond in (svc.get("depends_on") or {}).items() if isinstance(svc.get("depends_on"), dict) else []:
            if dep not in services:
                problems.append(f"{name}: depends on unknown {dep}")
            if cond.get("condition") == "service_healthy" and "healthcheck" not in services.get(dep, {}):
                problems.append(f"{name}: waits for {dep} to be healthy, which has no healthcheck")
    tap.check(not problems, "compose.yml: images or build contexts exist, ports and volumes well-formed, health checks",
              "\n".join(problems))
    # docker-compose 1.29 parses and resolves it (the example .env's values).
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    with open(os.path.join(SRC, "deploy", "compose.env.example")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.strip().split("=", 1)
                env[k] = v
    for f in ("compose.yml", "compose.demo.yml"):
        r = subprocess.run([COMPOSE, "-f", os.path.join(SRC, "deploy", f), "config", "-q"], capture_output=True,
                           text=True, env=env, timeout=60)
        tap.check(r.returncode == 0, f"docker-compose 1.29 accepts {f}", r.stdout + r.stderr)


def make_base(tap, e):
    """debian:12-slim from debootstrap, with the host's extra CA certificates
    (a TLS-inspecting proxy's among them) so builds can fetch through it."""
    root = os.path.join(e.work, "rootfs")
    start = time.time()
    e.run(["debootstrap", "--variant=minbase", "--include=ca-certificates", "bookworm", root, MIRROR],
          timeout=600, check=True)
    extra = "/usr/local/share/ca-certificates"
    if os.path.isdir(extra):
        shutil.copytree(extra, root + extra, dirs_exist_ok=True)
        e.run(["chroot", root, "update-ca-certificates"], check=True)
    e.run(["chroot", root, "apt-get", "clean"], check=True)
    shutil.rmtree(os.path.join(root, "var/lib/apt/lists"), ignore_errors=True)
    os.makedirs(os.path.join(root, "var/lib/apt/lists/partial"))
    tar = subprocess.Popen(["tar", "-C", root, "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    imp = subprocess.run([DOCKER, "import", "-", "debian:12-slim"], stdin=tar.stdout, capture_output=True, text=True,
                         env=e.env, timeout=300)
    tar.stdout.close()
    tar.wait()
    shutil.rmtree(root)
    tap.check(imp.returncode == 0 and tar.returncode == 0, f"base image debian:12-slim from debootstrap "
              f"({time.time() - start:.0f} s)", imp.stderr)


def build(tap, e, dockerfile, image):
    start = time.time()
    r = e.docker("build", "-f", os.path.join(SRC, "deploy", dockerfile), "-t", image, SRC, timeout=1200)
    ok = tap.check(r.returncode == 0, f"docker build -f deploy/{dockerfile} ({time.time() - start:.0f} s)",
                   r.stdout[-4000:] + r.stderr[-4000:])
    if not ok:
        return False
    info = json.loads(e.docker("image", "inspect", image, check=True).stdout)[0]
    size = info["Size"]
    print(f"# image {image}: {size} bytes ({size / 1e6:.1f} MB)", flush=True)
    tap.check(size <= MAX_IMAGE_BYTES, f"{image} is {size / 1e6:.1f} MB (at most {MAX_IMAGE_BYTES / 1e6:.0f} MB)")
    user = info["Config"].get("User", "")
    tap.check(user not in ("", "0", "root") and not user.startswith("0:"), f"{image} runs as a non-root user ({user!r})")
    # What is inside: no compiler, no node or npm, no package manager.
    cid = e.docker("create", image, check=True).stdout.strip()
    try:
        exp = subprocess.Popen([DOCKER, "export", cid], stdout=subprocess.PIPE, env=e.env)
        names = subprocess.run(["tar", "-t"], stdin=exp.stdout, capture_output=True, text=True, timeout=120).stdout
        exp.wait()
    finally:
        e.docker("rm", cid)
    bad = [n for n in names.splitlines()
           if re.search(r"(^|/)(gcc[^/]*|cc1|ld|as|node|npm|apt|apt-get|dpkg|perl)$", n.rstrip("/"))]
    tap.check(names and not bad, f"{image}: no compiler, node, npm or package manager inside", "\n".join(bad[:20]))
    return True


def run_pair(tap, e):
    net = TAG
    e.docker("network", "create", net, check=True)
    e.networks.append(net)
    hardening = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    feeder, page = f"{TAG}-feeder", f"{TAG}-page"
    e.containers += [feeder, page]
    # The feeder also gets the page mounted where its default ui_dir points.
    e.docker("run", "-d", "--name", feeder, "--network", net, "--network-alias", "feeder", *hardening,
             "-v", f"{os.path.join(SRC, 'ui', 'dist')}:/srv/www:ro", FEEDER_IMAGE, "--demo", "--listen", "0.0.0.0:8080", check=True)
    e.docker("run", "-d", "--name", page, "--network", net, *hardening,
             "--tmpfs", "/run/page:uid=10001,gid=10001,mode=0755",
             "-e", "FEEDER_URL=http://feeder:8080/vizceral.json", "-e", f"PULL_INTERVAL={PULL_SECONDS}s",
             PAGE_IMAGE, check=True)

    def ip(c):
        return e.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c,
                        check=True).stdout.strip()

    fip, pip = ip(feeder), ip(page)
    for c in (feeder, page):
        r = e.docker("exec", c, "/usr/local/bin/busybox", "id", "-u")
        tap.check(r.returncode == 0 and r.stdout.strip() == "10001", f"{c.split('-')[-1]}: the process runs as uid 10001",
                  r.stdout + r.stderr)
        r = e.docker("exec", c, "/usr/local/bin/busybox", "touch", "/etc/x")
        tap.check(r.returncode != 0, f"{c.split('-')[-1]}: the root filesystem is read-only")

    status, headers, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(http_get(fip, 8080, "/vizceral.json")),
                                     90, "the feeder's first graph")
    tap.check(headers.get("content-type", "").startswith("application/json") and headers.get("etag")
              and headers.get("cache-control") == "no-cache" and headers.get("access-control-allow-origin") == "*",
              "feeder: /vizceral.json with Content-Type, ETag, Cache-Control, CORS", headers)
    problems = validate(json.loads(body))
    tap.check(not problems, "feeder: the demo graph passes the validator", "\n".join(problems[:10]))

    with open(os.path.join(SRC, "ui", "dist", "index.html"), "rb") as f:
        index = f.read()
    status, headers, body = http_get(fip, 8080, "/")
    tap.check(status == 200 and body == index, "feeder: a page mounted on /srv/www (the image's ui_dir) is served at /",
              f"{status} {body[:200]!r}")
    status, headers, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(http_get(pip, 8080, "/")), 60,
                                     "the page container's /")
    tap.check(body == index and "text/html" in headers.get("content-type", ""), "page: / is ui/dist/index.html", headers)

    # The page's copy equals the feeder's bytes within two pull intervals of
    # its first copy (the feeder's graph changes every 10 s; the copy follows).
    wait_for(lambda: http_get(pip, 8080, "/vizceral.json")[0] == 200, 90, "the page's first copy of the graph")
    same, deadline, seen = False, time.time() + 2 * PULL_SECONDS, 0
    while not same and time.time() < deadline:
        f_status, _, f_body = http_get(fip, 8080, "/vizceral.json")
        p_status, p_headers, p_body = http_get(pip, 8080, "/vizceral.json")
        seen += 1
        same = f_status == 200 and p_status == 200 and f_body == p_body
        time.sleep(0.5)
    tap.check(same, f"page: /vizceral.json equals the feeder's bytes within {2 * PULL_SECONDS} s ({seen} comparisons)")
    tap.check(p_headers.get("content-type", "").startswith("application/json"), "page: vizceral.json is application/json",
              p_headers)

    for c in (feeder, page):
        e.docker("stop", "-t", "30", c, timeout=90)
        state = json.loads(e.docker("inspect", c, check=True).stdout)[0]["State"]
        logs = e.docker("logs", "--tail", "20", c)
        tap.check(not state["Running"] and state["ExitCode"] == 0 and not state.get("OOMKilled"),
                  f"{c.split('-')[-1]}: SIGTERM (docker stop) exits 0", f"{state}\n{logs.stdout}{logs.stderr}")


def run_compose(tap, e):
    port = free_port()
    project, files = f"{TAG}-compose", ["-f", os.path.join(SRC, "deploy", "compose.demo.yml")]
    e.compose_projects.append((project, files))
    e.env["VIZFEED_PAGE_PORT"] = str(port)
    e.env["PULL_INTERVAL"] = f"{PULL_SECONDS}s"
    r = e.run([COMPOSE, "-p", project, *files, "up", "-d", "--no-build"], timeout=300)
    if not tap.check(r.returncode == 0, "docker-compose up of compose.demo.yml", r.stdout[-3000:] + r.stderr[-3000:]):
        return
    status, headers, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        http_get("127.0.0.1", port, "/vizceral.json")), 120, "the compose page's graph")
    problems = validate(json.loads(body))
    tap.check(not problems, f"compose: the page's graph on 127.0.0.1:{port} passes the validator", problems[:10])
    status, _, body = http_get("127.0.0.1", port, "/")
    tap.check(status == 200 and b"<html" in body.lower(), "compose: the page at /")
    health = wait_for(lambda: (lambda s: s if "starting" not in s else None)(
        e.run([COMPOSE, "-p", project, *files, "ps"]).stdout), 120, "health checks")
    tap.check(health.count("(healthy)") == 2, "compose: both services healthy", health)
    r = e.run([COMPOSE, "-p", project, *files, "down", "-t", "30"], timeout=120)
    tap.check(r.returncode == 0, "docker-compose down", r.stderr[-2000:])


def main():
    tap = Tap()
    check_forwarding(tap)
    signal.signal(signal.SIGTERM, on_term)
    start = time.time()
    compose_structure(tap)
    work = tempfile.mkdtemp(prefix="vizfeed-containers-", dir="/tmp")
    e = Env(work)
    try:
        if not tap.check(os.path.isfile(os.path.join(SRC, "ui", "dist", "index.html")), "ui/dist is built (./dev ui)"):
            return
        e.start()
        tap.check(True, "a private dockerd answers on its own socket")
        make_base(tap, e)
        if build(tap, e, "Dockerfile", FEEDER_IMAGE) and build(tap, e, "Dockerfile.page", PAGE_IMAGE):
            run_pair(tap, e)
            run_compose(tap, e)
    except Exception as ex:  # a failure or meson's SIGTERM: report it, then clean up
        import traceback
        tap.check(False, f"the container test stopped: {ex}", traceback.format_exc())
        if e.dockerd:
            print("# dockerd log:\n# " + e.dockerd_log().replace("\n", "\n# "), flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # cleanup must finish
        e.close()
        tap.check(not os.path.exists(work), "cleanup: the daemon's data and the temporary files are gone")
        tap.check(e.had_docker_rules or "DOCKER" not in iptables_save(), "cleanup: no Docker iptables rules left")
        left = [p for p in e.host_leftovers if os.path.exists(p)]
        tap.check(not left, "cleanup: nothing of dockerd left outside its directory", left)
        print(f"# ./dev containers took {time.time() - start:.0f} s", flush=True)
        tap.done()


main()
