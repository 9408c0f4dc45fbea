"""Secrets stay secret, vizfeed's own `auth` guards its endpoints, and the
daemon listens on loopback unless told otherwise.

The daemon runs with every kind of credential SPEC §2 knows (Elasticsearch
username/password, api_key, bearer_token, a password inside a host URL) and
with vizfeed's own Basic or Bearer auth, at debug level, with JSON logs and
--record; then the log, `vizfeed check` and `vizfeed query` output, /metrics,
/vizceral.json, /readyz and every recorded file are searched for each secret
in every form it travels in (raw, base64 as in a Basic or ApiKey header, URL
encoded): none may appear."""
import base64
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.parse

from esdata import INDEX, FakeElasticsearch, events
from vizlib import VIZFEED, Daemon, Tap, poll, run, write

ES_USER, ES_PASS = "elastic", "es-Pa55-7f3c1d"
ES_API_KEY = "kid9:kval-5e8b2a"
ES_BEARER = "esbearer-0c4d9f"
HOST_PASS = "hostpw-a1b2c3"
VZ_USER, VZ_PASS = "viewer", "vz-pass-9d8e7f"
VZ_TOKEN = "vz-token-6a5b4c"
ENV = {"T_ES_PASS": ES_PASS, "T_ES_API_KEY": ES_API_KEY, "T_ES_BEARER": ES_BEARER, "T_HOST_PASS": HOST_PASS,
       "T_VZ_PASS": VZ_PASS, "T_VZ_TOKEN": VZ_TOKEN}


def b64(s):
    return base64.b64encode(s.encode()).decode()


def forms():
    """Every way a secret could leak: as written, base64 alone, as the
    credentials of a Basic or ApiKey header, URL encoded."""
    out = {}
    for s in [ES_PASS, ES_API_KEY, ES_API_KEY.split(":")[1], ES_BEARER, HOST_PASS, VZ_PASS, VZ_TOKEN]:
        out[s] = s
        out[f"base64({s})"] = b64(s)
        out[f"urlencoded({s})"] = urllib.parse.quote(s, safe="")
    out["Basic es"] = b64(f"{ES_USER}:{ES_PASS}")
    out["Basic host"] = b64(f"reader:{HOST_PASS}")
    out["Basic vizfeed"] = b64(f"{VZ_USER}:{VZ_PASS}")
    return out


def leaks(text):
    return [name for name, value in forms().items() if value in text]


CONFIG = """
refresh: {{ interval: 1s, window: 2m, lag: 0s }}
{auth}
elasticsearch:
  hosts: [{hosts}]
  {credentials}
  timeout: 2s
flows:
  - name: access
    type: elasticsearch
    index: "filebeat-*"
    preset: nginx-access
"""

BASIC = "auth: { username: viewer, password: \"${T_VZ_PASS}\" }"
BEARER = "auth: { bearer_token: \"${T_VZ_TOKEN}\" }"


def closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_tree(root):
    text, count = "", 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                text += f.read().decode("utf-8", "replace") + "\n"
            count += 1
    return text, count


def secrets_never_leak(tap, tmp):
    env = dict(os.environ, **ENV)
    docs = events()[:30]
    cases = [
        ("es password, vizfeed Basic", dict(user=ES_USER, password=ES_PASS),
         f"username: {ES_USER}\n  password: \"${{T_ES_PASS}}\"", BASIC, "Basic " + b64(f"{VZ_USER}:{VZ_PASS}"), True),
        ("es api_key, vizfeed Bearer", dict(api_key=ES_API_KEY), "api_key: \"${T_ES_API_KEY}\"", BEARER,
         "Bearer " + VZ_TOKEN, True),
        ("es bearer_token", dict(bearer=ES_BEARER), "bearer_token: \"${T_ES_BEARER}\"", BASIC,
         "Basic " + b64(f"{VZ_USER}:{VZ_PASS}"), True),
        ("es refuses the password", dict(user=ES_USER, password="something-else"),
         f"username: {ES_USER}\n  password: \"${{T_ES_PASS}}\"", BEARER, "Bearer " + VZ_TOKEN, False),
        ("es refuses the api_key", dict(api_key="other:key"), "api_key: \"${T_ES_API_KEY}\"", BASIC,
         "Basic " + b64(f"{VZ_USER}:{VZ_PASS}"), False),
        ("es unreachable, password in the host URL", None, f"username: {ES_USER}\n  password: \"${{T_ES_PASS}}\"",
         BEARER, "Bearer " + VZ_TOKEN, False),
    ]
    for name, server_auth, credentials, auth, good_header, accepted in cases:
        es = FakeElasticsearch(**server_auth) if server_auth is not None else None
        try:
            if es:
                es.start()
                es.load(INDEX, docs)
                host = es.url
            else:
                host = f"http://reader:${{T_HOST_PASS}}@127.0.0.1:{closed_port()}"
            slug = re.sub(r"[^a-z]+", "-", name)
            cfg = write(os.path.join(tmp, f"{slug}.yml"), CONFIG.format(hosts=f"\"{host}\"", credentials=credentials,
                                                                         auth=auth))
            record = os.path.join(tmp, f"record-{slug}")
            outputs = []
            r = run(["check", "-c", cfg], env=env)
            tap.check(r.returncode == 0, f"{name}: check accepts the configuration", r.stderr)
            outputs.append(("check", r.stdout + r.stderr))
            r = run(["query", "-c", cfg, "--at", "2026-01-01T00:02:00Z"], env=env)
            outputs.append(("query", r.stdout + r.stderr))
            r = run(["once", "-v", "--log-format", "json", "-c", cfg, "--at", "2026-01-01T00:02:00Z", "--record",
                     record + "-once"], env=env)
            outputs.append(("once", r.stdout + r.stderr))
            with Daemon(["-c", cfg, "-v", "--log-format", "json", "--record", record], env=env) as d:
                good = {"Authorization": good_header}
                if accepted:
                    d.wait_for(lambda: d.request("GET", "/vizceral.json", good)[0] == 200, what="a graph")
                    d.wait_for(lambda: re.search(r"vizfeed_es_requests_total\{flow=\"access\"\} [3-9]",
                                                 d.request("GET", "/metrics", good)[2].decode()),
                               what="three refreshes")
                else:
                    d.wait_for(lambda: 'kind="' in d.request("GET", "/metrics", good)[2].decode(),
                               what="an Elasticsearch error counted")
                    time.sleep(1.5)
                for path in ["/vizceral.json", "/metrics", "/readyz", "/healthz"]:
                    status, headers, body = d.request("GET", path, good)
                    outputs.append((path, "\n".join(f"{k}: {v}" for k, v in headers.items()) + "\n" +
                                    body.decode("utf-8", "replace")))
                d.request("GET", "/vizceral.json", {"Authorization": "Basic " + b64(f"{VZ_USER}:guess")})
                d.signal(signal.SIGHUP)
                d.wait_for(lambda: "reload" in d.log(), what="the reload logged")
                time.sleep(0.3)
                code = d.stop()
                log = d.log()
            tap.check(code == 0, f"{name}: the daemon ran and stopped cleanly", log[-2000:])
            lines = [line for line in log.splitlines() if line.strip()]
            tap.check(lines and all(line.startswith("{") and line.endswith("}") for line in lines),
                      f"{name}: --log-format json writes one JSON object per line", "\n".join(lines[:5]))
            if accepted:
                tap.check(any('"debug"' in line for line in lines), f"{name}: debug messages were logged (-v)")
            else:
                tap.check(any('"warn' in line for line in lines), f"{name}: the failure was logged", log[-1000:])
            outputs.append(("log", log))
            recorded, files = read_tree(record)
            more, more_files = read_tree(record + "-once")
            outputs.append(("recorded files", recorded + more))
            tap.check(files + more_files > 0, f"{name}: --record wrote {files + more_files} files")
            if es:
                sent = [q["headers"].get("Authorization", "") for q in es.requests]
                tap.check(sent and all(sent), f"{name}: the credentials were really sent to Elasticsearch")
            for where, text in outputs:
                found = leaks(text)
                tap.check(not found, f"{name}: no secret in {where}", f"found {found}")
        finally:
            if es:
                es.stop()


def auth_guards_the_endpoints(tap, tmp):
    env = dict(os.environ, **ENV)
    for scheme, auth, right, wrong, challenge in [
            ("Basic", BASIC, "Basic " + b64(f"{VZ_USER}:{VZ_PASS}"), "Basic " + b64(f"{VZ_USER}:{VZ_PASS}x"),
             'Basic realm="vizfeed", charset="UTF-8"'),
            ("Bearer", BEARER, "Bearer " + VZ_TOKEN, "Bearer " + VZ_TOKEN[:-1], 'Bearer realm="vizfeed"')]:
        cfg = write(os.path.join(tmp, f"auth-{scheme}.yml"),
                    f"refresh: {{ interval: 1s }}\ncors_origin: https://viz.example\n{auth}\n"
                    "flows:\n  - { name: demo, type: demo }\n")
        with Daemon(["-c", cfg], env=env) as d:
            d.wait_for(lambda: d.request("GET", "/vizceral.json", {"Authorization": right})[0] == 200,
                       what="a graph")
            for what, headers in [("no credentials", {}), ("wrong credentials", {"Authorization": wrong}),
                                  ("the other scheme", {"Authorization": ("Bearer " if scheme == "Basic" else "Basic ")
                                                        + right.split(" ", 1)[1]})]:
                status, h, body = d.request("GET", "/vizceral.json", headers)
                tap.check(status == 401 and h.get("www-authenticate") == challenge
                          and h.get("access-control-allow-origin") == "https://viz.example"
                          and h.get("content-type") == "application/json" and b'"unauthorized"' in body,
                          f"{scheme}: {what}: 401 with {challenge}, CORS and a JSON body", f"{status} {h} {body!r}")
            for path in ["/vizceral.json", "/metrics", "/readyz", "/", "/index.html"]:
                status, _, _ = d.request("GET", path)
                tap.check(status == 401, f"{scheme}: {path} needs credentials", status)
            status, h, body = d.request("GET", "/vizceral.json", {"Authorization": right})
            tap.check(status == 200 and body.startswith(b"{"), f"{scheme}: the right credentials get the graph",
                      status)
            status, _, _ = d.request("GET", "/healthz")
            tap.check(status == 200, f"{scheme}: /healthz stays open for liveness probes", status)
            status, h, _ = d.request("OPTIONS", "/vizceral.json", {"Origin": "https://viz.example",
                                                                    "Access-Control-Request-Headers": "authorization"})
            tap.check(status == 204 and "Authorization" in h.get("access-control-allow-headers", ""),
                      f"{scheme}: a CORS preflight is answered without credentials and allows Authorization",
                      f"{status} {h}")
            metrics = d.request("GET", "/metrics", {"Authorization": right})[2].decode()
            tap.check('vizfeed_http_requests_total{path="/vizceral.json",code="401"} 4' in metrics,
                      f"{scheme}: refused requests are counted with code 401",
                      [m for m in metrics.splitlines() if "401" in m])


def listens_on_loopback_by_default(tap, tmp):
    cfg = write(os.path.join(tmp, "nolisten.yml"), "flows:\n  - { name: demo, type: demo }\n")
    r = run(["check", "-c", cfg])
    tap.check(r.returncode == 0 and 'listen: "127.0.0.1:8080"' in r.stdout,
              "check shows the default listen address 127.0.0.1:8080", r.stdout[:300])

    log_path = os.path.join(tmp, "demo.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([VIZFEED, "--demo"], stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        poll(lambda: "listening on" in open(log_path).read() or proc.poll() is not None, 10)
        text = open(log_path).read()
        if proc.poll() is not None and "8080" in text:
            # Another program holds 127.0.0.1:8080 (a developer's own demo): the
            # bind failed, so what matters is that it was loopback it tried.
            tap.check("127.0.0.1:8080" in text, "# SKIP port 8080 is busy here; the demo tried 127.0.0.1:8080",
                      text)
            return
        tap.check("listening on 127.0.0.1:8080" in text, "the demo says it listens on 127.0.0.1:8080", text)
        addresses = listening_addresses(proc.pid)
        tap.check(addresses == {("127.0.0.1", 8080)}, "the demo's only listening socket is 127.0.0.1:8080 "
                  "(nothing on 0.0.0.0 or ::)", addresses)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def listening_addresses(pid):
    """(address, port) of the process's listening TCP sockets, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    found = set()
    for table, v6 in [("/proc/net/tcp", False), ("/proc/net/tcp6", True)]:
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_addr)
            if v6:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                import ipaddress
                addr = str(ipaddress.IPv6Address(words))
            else:
                addr = ".".join(str(b) for b in raw[::-1])
            found.add((addr, int(hex_port, 16)))
    return found


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory(prefix="vizfeed-secrets-") as tmp:
        tap.run(secrets_never_leak, tmp)
        tap.run(auth_guards_the_endpoints, tmp)
        tap.run(listens_on_loopback_by_default, tmp)
    tap.done()


main()
