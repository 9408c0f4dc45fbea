"""vizfeed against an Elasticsearch that speaks HTTPS, as Elasticsearch 8 does
by default with a CA of its own: the test Elasticsearch in TLS mode, with
certificates made at test time by tlscerts.py, checked from outside through
the real daemon (/vizceral.json, /readyz, /metrics, the log) and through
`once`, `check` and `query`.

The promise (SPEC §2 elasticsearch.ca_file and verify, es_client.c):

  - with ca_file naming the cluster's CA the graph is the one plain HTTP
    gives, byte for byte;
  - verification is on by default: a certificate of an unknown CA, a
    self-signed one, one for another name or an expired one fails every
    attempt as kind "tls", no request (so no credential) reaches the server,
    and one log line names the host and the certificate problem;
  - verify: false serves the graph, and the daemon warns about it at every
    start and reload;
  - a ca_file that cannot be read or holds no PEM certificate is a
    configuration error naming the file, line and column (`check`, start,
    reload), not a TLS failure per refresh;
  - a daemon fixed by adding ca_file and SIGHUP recovers.
"""
import calendar
from datetime import datetime, timedelta, timezone
import os
import re
import signal
import ssl
import tempfile
import time

from esdata import AT, INDEX, FakeElasticsearch, config, events, run_printed_query, write_ndjson
import tlscerts
from vizlib import Daemon, Tap, region, run, validate, write

CONFIG = """
refresh: {{ interval: 1s, window: 1h, lag: 0s }}
graph: {{ thresholds: {{ warning: 0.05, danger: 0.2, min_rate: 0.01 }} }}
topology:
  - match: 10.0.0.0/16
    region: eu-west-1
  - match: /^10\\.0\\.([0-9]+)\\.[0-9]+$/
    service: "caller-\\\\1"
elasticsearch:
  hosts: [{host}]
  username: elastic
  password: s3cret
  timeout: 5s
{tls}flows:
  - name: access
    type: elasticsearch
    index: "filebeat-*"
    preset: nginx-access
"""

FAILED = "flow 'access' failed:"
WARNING = "elasticsearch.verify is false"


def live_events():
    """esdata's events moved to 8-11 minutes ago: inside the daemons' 1 h window for the whole test."""
    shift = timedelta(seconds=int(time.time()) - 660 - calendar.timegm((2026, 1, 1, 0, 0, 0)))
    out = []
    for doc in events():
        t = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")) + shift
        out.append(dict(doc, **{"@timestamp": t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}))
    return out


def daemon_config(path, host, tls=""):
    """tls: YAML lines of the elasticsearch section (ca_file, verify), each "  key: value\\n"."""
    return write(path, CONFIG.format(host=host, tls=tls))


def metrics(d):
    status, _, body = d.request("GET", "/metrics")
    assert status == 200, f"/metrics answered {status}"
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def tls_errors(m):
    return m.get('vizfeed_es_errors_total{flow="access",kind="tls"}', 0.0)


def failures(m):
    return m.get('vizfeed_refresh_failures_total{flow="access"}', 0.0)


def other_errors(m):
    return {k: v for k, v in m.items()
            if k.startswith('vizfeed_es_errors_total{flow="access"') and 'kind="tls"' not in k and v}


def position(cfg, key):
    """LINE:COLUMN of key's value in a configuration file, as vizfeed's errors give it."""
    with open(cfg) as f:
        for n, line in enumerate(f, 1):
            m = re.match(rf"(\s*{key}:\s*)\S", line)
            if m:
                return f"{n}:{len(m.group(1)) + 1}"
    raise AssertionError(f"{key} is not in {cfg}")


def searches(es):
    return [r for r in es.requests if r["path_only"].endswith("/_search")]


def graph_body(d):
    """The served graph's bytes with its window end ("updated", "serverUpdateTime") blanked: two
    daemons may end their windows a second apart."""
    status, _, body = d.request("GET", "/vizceral.json")
    assert status == 200, f"/vizceral.json answered {status}"
    return re.sub(rb'"(updated|serverUpdateTime)":\d+', rb'"\1":0', body)


def served(d):
    return d.request("GET", "/vizceral.json")[0] == 200 and d.request("GET", "/readyz")[0] == 200


def log_lines(d, text):
    return [line for line in d.log().splitlines() if text in line]


# ---- cases ---------------------------------------------------------------------

def same_graph_over_tls(tap, tmp, certs):
    """(a) ca_file = the test CA: the same bytes as plain HTTP and as a file flow."""
    label = "ca_file"
    docs = events()
    file_cfg = config(os.path.join(tmp, "once-file.yml"), f"type: file\n    path: "
                      f"{write_ndjson(os.path.join(tmp, 'events.ndjson'), docs)}")
    with FakeElasticsearch() as plain, FakeElasticsearch(tls_cert=certs.server[0], tls_key=certs.server[1]) as es:
        plain.load(INDEX, docs)
        es.load(INDEX, docs)
        plain_cfg = config(os.path.join(tmp, "once-plain.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                           es=f"elasticsearch: {{ hosts: [{plain.url}], page_size: 7 }}")
        tls_cfg = config(os.path.join(tmp, "once-tls.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                         es=f"elasticsearch: {{ hosts: [{es.url}], page_size: 7, ca_file: {certs.ca} }}")
        a, b, c = (run(["once", "-c", cfg, "--at", AT], timeout=30) for cfg in (file_cfg, plain_cfg, tls_cfg))
        tap.check(a.returncode == b.returncode == c.returncode == 0 and c.stdout,
                  f"{label}: `once` answers through a file, plain HTTP and HTTPS", a.stderr + b.stderr + c.stderr)
        tap.check(c.stdout == b.stdout == a.stdout, f"{label}: `once --at` gives byte-identical graphs over HTTPS, "
                  f"plain HTTP and a file ({len(c.stdout)} bytes)")
        tap.check(len(searches(es)) >= 5 and not es.tls_errors,
                  f"{label}: the HTTPS fake answered {len(searches(es))} composite pages, no failed handshake",
                  es.tls_errors)


def daemon_over_tls(tap, tmp, certs):
    """(a) through the daemon, beside a plain-HTTP daemon on the same events;
    then (f) a reload to a ca_file that is missing keeps the running configuration."""
    label = "daemon with ca_file"
    docs = live_events()
    with FakeElasticsearch() as plain, FakeElasticsearch(tls_cert=certs.server[0], tls_key=certs.server[1]) as es:
        plain.load(INDEX, docs)
        es.load(INDEX, docs)
        # verify: false on plain HTTP changes nothing and is not worth a warning.
        plain_cfg = daemon_config(os.path.join(tmp, "plain.yml"), plain.url, "  verify: false\n")
        tls_cfg = daemon_config(os.path.join(tmp, "tls.yml"), es.url, f"  ca_file: {certs.ca}\n")
        with Daemon(["-c", plain_cfg]) as p, Daemon(["-c", tls_cfg]) as d:
            tap.within(lambda: served(d) and served(p), f"{label}: /vizceral.json 200 and /readyz 200", d=d,
                       timeout=30)
            graph = d.graph()
            problems = validate(graph, 0.05, 0.2, 0.01)
            tap.check(not problems and region(graph, "eu-west-1") and region(graph, "ap-south-1"),
                      f"{label}: the graph has the fleet's regions and passes the validator", "\n".join(problems[:5]))
            mine, theirs = graph_body(d), graph_body(p)
            tap.check(mine == theirs, f"{label}: the served graph is byte-identical to the plain-HTTP daemon's "
                      f"(window end aside, {len(mine)} bytes)", f"{mine[:300]!r}\n{theirs[:300]!r}")
            series = 'vizfeed_es_cluster_info{flow="access",product="elasticsearch",major="8"}'
            d.wait_for(lambda: metrics(d).get(series) == 1, timeout=5, what=series)
            m = metrics(d)
            tap.check(tls_errors(m) == 0 and failures(m) == 0 and not other_errors(m),
                      f"{label}: no error and no failed refresh counted; GET / answered over TLS too",
                      {k: v for k, v in m.items() if 'flow="access"' in k and v})
            auth = [r["headers"].get("Authorization", "") for r in searches(es)]
            tap.check(auth and all(a.startswith("Basic ") for a in auth) and not es.tls_errors,
                      f"{label}: the searches arrive with their credentials, no failed handshake", es.tls_errors)
            tap.check(not log_lines(d, FAILED) and not log_lines(d, WARNING) and not log_lines(p, WARNING),
                      f"{label}: nothing logged as a failure; no warning about verification (on here; "
                      "and off but unused over plain HTTP)", d.log() + p.log())

            # (f) at reload: the running configuration stays.
            missing = os.path.join(tmp, "gone", "ca.pem")
            daemon_config(tls_cfg, es.url, f"  ca_file: {missing}\n")
            d.signal(signal.SIGHUP)
            line = d.wait_for(lambda: log_lines(d, "reload failed"), timeout=5, what="the failed reload")[0]
            print(f"# logged: {line}", flush=True)
            want = f"{tls_cfg}:{position(tls_cfg, 'ca_file')}: elasticsearch.ca_file '{missing}' cannot be read: " \
                   "No such file or directory"
            tap.check(want in line, "missing ca_file at reload: 'reload failed, keeping the running configuration' "
                      "with file, line and column", line)
            n0 = len(searches(es))
            time.sleep(1.5)
            m = metrics(d)
            tap.check(served(d) and len(searches(es)) > n0 and tls_errors(m) == 0
                      and m.get('vizfeed_config_reloads_total{result="failure"}') == 1,
                      "missing ca_file at reload: the old configuration keeps refreshing over TLS; the failed "
                      "reload is counted")
            tap.equal(d.stop(), 0, f"{label}: clean stop")


def verification_off(tap, tmp, certs):
    """(c) verify: false against a self-signed certificate (Elasticsearch 8's default setup)."""
    label = "verify: false"
    with FakeElasticsearch(tls_cert=certs.self_signed[0], tls_key=certs.self_signed[1]) as es:
        es.load(INDEX, live_events())
        cfg = daemon_config(os.path.join(tmp, "noverify.yml"), es.url, "  verify: false\n")
        with Daemon(["-c", cfg]) as d:
            d.wait_for(lambda: served(d), timeout=15, what="the graph with verify: false")
            m = metrics(d)
            tap.check(region(d.graph(), "eu-west-1") and tls_errors(m) == 0 and failures(m) == 0,
                      f"{label}: a self-signed certificate is accepted; the graph is served, /readyz 200")
            warned = log_lines(d, WARNING)
            if warned:
                print(f"# logged: {warned[0]}", flush=True)
            tap.check(len(warned) == 1 and " warn " in warned[0] and cfg in warned[0]
                      and "certificate is not checked" in warned[0],
                      f"{label}: one warning at startup says that the certificate is not checked", d.log())
            d.signal(signal.SIGHUP)
            d.wait_for(lambda: log_lines(d, "configuration reloaded"), timeout=5, what="the reload")
            tap.equal(len(log_lines(d, WARNING)), 2, f"{label}: said again at a reload")


def failing_case(tap, tmp, label, cert, tls, cause, alert, fix=None):
    """Every attempt fails its handshake: kind tls, counted once per attempt,
    one log line with host and cause, nothing served, no request reaches the
    server. alert: the TLS alert the server gets from libcurl, None when the
    handshake completes and libcurl hangs up after it (its host name check
    comes after the handshake). fix: YAML for a reload (SIGHUP) that must
    bring the graph back."""
    with FakeElasticsearch(tls_cert=cert[0], tls_key=cert[1]) as es:
        es.load(INDEX, live_events())
        cfg = daemon_config(os.path.join(tmp, re.sub(r"\W+", "-", label) + ".yml"), es.url, tls)
        with Daemon(["-c", cfg]) as d:
            statuses, ready = set(), set()

            def attempts(n):
                statuses.add(d.request("GET", "/vizceral.json")[0])
                ready.add(d.request("GET", "/readyz")[0])
                return failures(metrics(d)) >= n

            d.wait_for(lambda: attempts(3), timeout=10, what="3 failed refreshes")
            tap.check(statuses == {503} and ready == {503},
                      f"{label}: no graph (/vizceral.json 503) and /readyz 503 while it fails",
                      f"{statuses} {ready}")

            def counts_agree():
                """The counter, the failed refreshes and the handshakes the server saw, between two refreshes."""
                m = metrics(d)
                server = len(es.tls_errors) if alert else failures(m)  # a name mismatch fails after the handshake
                return m if tls_errors(m) == failures(m) == server else None

            try:
                m, agreed = d.wait_for(counts_agree, timeout=3, what="counts that agree"), True
            except TimeoutError:
                m, agreed = metrics(d), False
            tap.check(agreed and not other_errors(m),
                      f"{label}: kind tls, counted once per attempt ({tls_errors(m):.0f} errors, {failures(m):.0f} "
                      f"failed refreshes, {len(es.tls_errors)} handshakes failed at the server)",
                      f"other kinds {other_errors(m)}")
            alerts = sorted({e["error"] for e in es.tls_errors})
            tap.equal(alerts, [alert] if alert else [], f"{label}: libcurl's alert as the server saw it")
            tap.check(not es.requests, f"{label}: no request reached the server (the credentials were never sent)",
                      [r["path"] for r in es.requests[:3]])
            lines = log_lines(d, FAILED)
            if lines:
                print(f"# logged: {lines[0]}", flush=True)
            tap.check(len(lines) == 1 and " warn " in lines[0]
                      and f"{es.url}: TLS handshake failed ({cause})" in lines[0],
                      f"{label}: one log line (not one per refresh) names the host and the cause '{cause}'",
                      "\n".join(lines[:3]) or d.log())
            if fix is None:
                return
            daemon_config(cfg, es.url, fix)
            d.signal(signal.SIGHUP)
            d.wait_for(lambda: served(d), timeout=10, what="the graph after the fix")
            graph = d.graph()
            tap.check(region(graph, "eu-west-1") and region(graph, "ap-south-1"),
                      f"{label}, then ca_file added and SIGHUP: the graph appears, /readyz 200")
            m0 = metrics(d)
            time.sleep(1.5)
            m1 = metrics(d)
            auth = [r["headers"].get("Authorization", "") for r in searches(es)]
            tap.check(tls_errors(m1) == tls_errors(m0) and failures(m1) == failures(m0) and auth
                      and all(a.startswith("Basic ") for a in auth) and m1.get(
                          'vizfeed_config_reloads_total{result="success"}') == 1,
                      f"{label}, then fixed: no more failures; the searches (and credentials) now go out")
            tap.equal(d.stop(), 0, f"{label}, then fixed: clean stop")


def certificate_problems(tap, tmp, certs):
    ca = f"  ca_file: {certs.ca}\n"
    # (b) then (g): the default, verification on, without the cluster's CA; fixed by a reload.
    failing_case(tap, tmp, "unknown CA (no ca_file)", certs.server, "",
                 "SSL certificate problem: unable to get local issuer certificate", "TLSV1_ALERT_UNKNOWN_CA", fix=ca)
    failing_case(tap, tmp, "self-signed (no ca_file)", certs.self_signed, "",
                 "SSL certificate problem: self-signed certificate", "TLSV1_ALERT_UNKNOWN_CA")
    # (d) and (e): the right CA, the wrong certificate.
    failing_case(tap, tmp, "hostname mismatch", certs.other_name, ca,
                 "SSL: no alternative certificate subject name matches target host name '127.0.0.1'", None)
    failing_case(tap, tmp, "expired", certs.expired, ca, "SSL certificate problem: certificate has expired",
                 "SSLV3_ALERT_CERTIFICATE_EXPIRED")


def unreadable_ca_file(tap, tmp, certs):
    """(f) a ca_file that cannot be read, or holds no PEM certificate (empty, a key, DER), is a
    configuration error with file, line and column; a CA bundle with CRLF line ends is one."""
    def written(name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    with open(certs.ca, "rb") as f:
        pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    with open(certs.server[1], "rb") as f:
        key = f.read()
    none = "holds no certificate (no -----BEGIN CERTIFICATE----- line)"
    crlf = written("ca-crlf.pem", b"# the test CA, written on Windows\r\n" + pem.replace(b"\n", b"\r\n"))
    cfg = daemon_config(os.path.join(tmp, "crlf-ca.yml"), "https://127.0.0.1:9", f"  ca_file: {crlf}\n")
    r = run(["check", "-c", cfg], timeout=10)
    tap.check(r.returncode == 0, "a CA file with CRLF line ends and a comment before it passes `check`", r.stderr)
    # vizfeed reads the file 64 KiB at a time: a BEGIN line cut by that boundary is still seen.
    cut = written("ca-cut.pem", b"#" * (65536 - 6) + b"\n" + pem)
    cfg = daemon_config(os.path.join(tmp, "cut-ca.yml"), "https://127.0.0.1:9", f"  ca_file: {cut}\n")
    r = run(["check", "-c", cfg], timeout=10)
    tap.check(r.returncode == 0, "a CA file whose BEGIN line straddles 64 KiB passes `check`", r.stderr)
    for label, path, why in (("missing ca_file", os.path.join(tmp, "no-such-ca.pem"),
                              "cannot be read: No such file or directory"),
                             ("ca_file is a directory", tmp, "cannot be read: it is a directory"),
                             ("empty ca_file", written("empty.pem", b""), none),
                             ("ca_file holding a private key", written("key-only.pem", key), none),
                             ("ca_file in DER", written("ca.der", der), none)):
        cfg = daemon_config(os.path.join(tmp, "bad-ca.yml"), "https://127.0.0.1:9", f"  ca_file: {path}\n")
        want = f"{cfg}:{position(cfg, 'ca_file')}: elasticsearch.ca_file '{path}' {why}; " \
               "expected a PEM file of CA certificates"
        r = run(["check", "-c", cfg], timeout=10)
        tap.check(r.returncode == 2 and r.stderr.strip().splitlines() == [f"vizfeed: {want}"] and not r.stdout,
                  f"{label}: `check` exits 2 with one line naming file, line and column", r.stderr)
        r = run(["once", "-c", cfg], timeout=10)
        tap.check(r.returncode == 2 and want in r.stderr, f"{label}: `once` exits 2 with the same line", r.stderr)
        r = run(["--listen", "127.0.0.1:0", "-c", cfg], timeout=10)
        out = r.stdout + r.stderr
        tap.check(r.returncode == 2 and want in out and "listening" not in out,
                  f"{label}: the daemon does not start (exit 2) and says why", out)


def query_over_tls(tap, tmp, certs):
    """(h) `vizfeed query` prints the requests (it sends nothing); sent by hand over HTTPS with
    the CA they count the window's events."""
    label = "query"
    docs = events()
    with FakeElasticsearch(tls_cert=certs.server[0], tls_key=certs.server[1]) as es:
        es.load(INDEX, docs)
        cfg = config(os.path.join(tmp, "query.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                     es=f"elasticsearch: {{ hosts: [{es.url}], ca_file: {certs.ca} }}")
        q = run(["query", "-c", cfg, "--at", AT], timeout=10)
        tap.check(q.returncode == 0 and q.stdout.startswith("# flow access\nPOST /"),
                  f"{label}: with ca_file, prints the request", q.stdout[:200] + q.stderr)
        tap.check(not es.requests and not es.tls_errors, f"{label}: contacts nobody")
        total = run_printed_query(es.url, q.stdout, ssl.create_default_context(cafile=certs.ca))
        expected = sum(1 for d in docs if d["event"]["dataset"] == "nginx.access"
                       and "2026-01-01T00:00:00" <= d["@timestamp"] < "2026-01-01T00:02:00")
        tap.equal(total, expected, f"{label}: the printed request, sent over HTTPS with the CA, counts the window's "
                  "events")
        missing = config(os.path.join(tmp, "query-missing.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                         es=f"elasticsearch: {{ hosts: [{es.url}], ca_file: {os.path.join(tmp, 'nope.pem')} }}")
        q = run(["query", "-c", missing, "--at", AT], timeout=10)
        tap.check(q.returncode == 0 and q.stdout.startswith("# flow access\n"),
                  f"{label}: prints even when ca_file is missing here (it opens no connection)", q.stderr)


def main():
    tap = Tap()
    started = time.time()
    if not tlscerts.available():
        tap.skip("TLS scenarios", "no openssl command (Debian package openssl)")
        tap.done()
    with tempfile.TemporaryDirectory() as tmp:
        certs = tlscerts.make(tmp)
        for group in (same_graph_over_tls, daemon_over_tls, verification_off, certificate_problems,
                      unreadable_ca_file, query_over_tls):
            t0 = time.time()
            tap.run(group, tmp, certs)
            print(f"# {group.__name__}: {time.time() - t0:.1f}s", flush=True)
    print(f"# total {time.time() - started:.1f}s", flush=True)
    tap.done()


main()
