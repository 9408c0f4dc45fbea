"""Every route and header of SPEC §4 against the real daemon (demo flow)."""
import gzip
import http.client
import json
import os
import tempfile

from vizlib import Daemon, Tap, parse_metrics, validate, write


def graph_route(tap, d):
    status, h, body = d.request("GET", "/vizceral.json")
    tap.equal(status, 200, "GET /vizceral.json: 200")
    tap.equal(h.get("content-type"), "application/json", "Content-Type: application/json")
    tap.equal(h.get("access-control-allow-origin"), "*", "Access-Control-Allow-Origin: *")
    tap.equal(h.get("cache-control"), "no-cache", "Cache-Control: no-cache")
    tap.check("accept-encoding" in h.get("vary", "").lower(), "Vary: Accept-Encoding", h.get("vary"))
    etag = h.get("etag", "")
    tap.check(etag.startswith('"') and etag.endswith('"'), "strong ETag", etag)
    tap.check("content-encoding" not in h, "identity without Accept-Encoding")
    graph = json.loads(body)
    problems = validate(graph)
    tap.check(not problems, "served graph passes the validator", "\n".join(problems))

    status, hz, zbody = d.request("GET", "/vizceral.json", {"Accept-Encoding": "gzip, deflate"})
    tap.equal(hz.get("content-encoding"), "gzip", "gzip when accepted")
    tap.check(json.loads(gzip.decompress(zbody)).get("renderer") == "global", "gzip body is the graph")
    tap.check(hz.get("etag") != etag, "the gzip representation has its own ETag", f"{hz.get('etag')} vs {etag}")
    tap.check(len(zbody) < len(body), "gzip is smaller", f"{len(zbody)} vs {len(body)}")
    status, hq, _ = d.request("GET", "/vizceral.json", {"Accept-Encoding": "gzip;q=0, identity"})
    tap.check("content-encoding" not in hq, "gzip;q=0 means identity")

    # Asked again until the graph held still between the two requests (a refresh may move the
    # ETag); the 304 is always checked, never excused.
    status, h304, b304, _ = d.conditional_get()
    tap.equal(status, 304, "If-None-Match with the current ETag: 304")
    tap.equal(b304, b"", "304 has no body")
    tap.equal(h304.get("access-control-allow-origin"), "*", "304 carries the CORS header")
    status, hh, hb = d.request("HEAD", "/vizceral.json")
    tap.equal(status, 200, "HEAD /vizceral.json: 200")
    tap.equal(hb, b"", "HEAD has no body")
    tap.equal(hh.get("content-type"), "application/json", "HEAD has the headers")


def conditional_on_a_stable_graph(tap, d):
    # The demo graph changes every refresh; ask twice quickly and accept the
    # pair only when the ETag did not move in between.
    s2, h2, b2, etag = d.conditional_get(headers={"Accept-Encoding": "gzip"})
    tap.check(s2 == 304 and b2 == b"" and h2.get("etag") == etag, "304 for the gzip ETag too",
              f"status {s2}, etag {h2.get('etag')} asked {etag}")


def other_routes(tap, d):
    status, h, body = d.request("OPTIONS", "/vizceral.json", {"Origin": "http://elsewhere.example",
                                                              "Access-Control-Request-Method": "GET"})
    tap.equal(status, 204, "OPTIONS: 204")
    tap.check("GET" in h.get("access-control-allow-methods", "") and "OPTIONS" in h.get(
        "access-control-allow-methods", ""), "OPTIONS: Allow-Methods", h)
    tap.check("if-none-match" in h.get("access-control-allow-headers", "").lower(), "OPTIONS: Allow-Headers", h)
    status, _, body = d.request("OPTIONS", "/anything/else")
    tap.equal(status, 204, "OPTIONS on any path: 204")

    status, _, body = d.request("GET", "/healthz")
    tap.equal(status, 200, "GET /healthz: 200")
    status, _, body = d.request("GET", "/readyz")
    tap.equal(status, 200, "GET /readyz after a refresh: 200")

    status, h, body = d.request("GET", "/metrics")
    text = body.decode()
    tap.equal(status, 200, "GET /metrics: 200")
    tap.check(h.get("content-type", "").startswith("text/plain"), "metrics are text/plain", h.get("content-type"))
    for name in ("vizfeed_refreshes_total", "vizfeed_graph_nodes", "vizfeed_graph_connections",
                 "vizfeed_snapshot_age_seconds", "vizfeed_http_requests_total", "vizfeed_refresh_duration_seconds"):
        tap.check(f"\n{name}" in "\n" + text, f"/metrics has {name}")
    m = parse_metrics(text)
    wall, cpu = m.get("vizfeed_refresh_duration_seconds", -1), m.get("vizfeed_refresh_cpu_seconds", -1)
    tap.check(0 < cpu <= wall + 0.005, f"the last refresh's CPU time is above 0 and at most its wall time ({cpu} <= {wall})")
    tap.check('vizfeed_http_requests_total{path="/healthz",code="200"}' in text or
              'vizfeed_http_requests_total{code="200",path="/healthz"}' in text,
              "/metrics counts requests by path and code")

    status, h, body = d.request("GET", "/no/such/thing")
    tap.equal(status, 404, "unknown path: 404")
    tap.check(json.loads(body).get("error"), "404 has a JSON body", body)
    tap.equal(h.get("access-control-allow-origin"), "*", "404 carries the CORS header")
    for method in ("POST", "PUT", "DELETE"):
        status, h, body = d.request(method, "/vizceral.json", body=b"x")
        tap.equal(status, 405, f"{method}: 405")
        tap.check("GET" in h.get("allow", ""), f"{method}: Allow header", h)


def static_files(tap, d, ui):
    status, h, body = d.request("GET", "/")
    tap.equal(status, 200, "GET / serves index.html")
    tap.check(b"vizfeed test page" in body and h.get("content-type", "").startswith("text/html"), "index.html type")
    status, h, body = d.request("GET", "/app.js")
    tap.check(status == 200 and "javascript" in h.get("content-type", ""), "a .js file with its type", h)
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/link-out/secret.txt"):
        status, _, body = d.request("GET", path)
        tap.check(status in (400, 403, 404) and b"top secret" not in body, f"no escape from ui_dir: {path}",
                  f"{status} {body[:80]!r}")
    status, _, body = d.request("GET", "/sub/")
    tap.check(status in (403, 404) or b"<a href" not in body, "no directory listing", body[:100])


def keep_alive(tap, d):
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    try:
        for i in range(3):
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            tap.equal(r.status, 200, f"keep-alive request {i + 1} on one connection")
    finally:
        conn.close()


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        ui = os.path.join(tmp, "ui")
        os.makedirs(os.path.join(ui, "sub"))
        write(os.path.join(ui, "index.html"), "<!doctype html><title>vizfeed test page</title>")
        write(os.path.join(ui, "app.js"), "console.log('hi');")
        write(os.path.join(tmp, "secret.txt"), "top secret")
        os.symlink(tmp, os.path.join(ui, "link-out"))
        config = write(os.path.join(tmp, "vizfeed.yml"), f"""
ui_dir: {ui}
refresh: {{ interval: 1s }}
flows:
  - name: demo
    type: demo
""")
        with Daemon(["-c", config]) as d:
            d.wait_for(lambda: d.request("GET", "/vizceral.json")[0] == 200, what="the first graph")
            for group in (graph_route, conditional_on_a_stable_graph, other_routes, keep_alive):
                tap.run(group, d)
            tap.run(static_files, d, ui)
            code = d.stop()
            tap.equal(code, 0, "SIGTERM: exit code 0")
            tap.check("stopping" in d.log(), "SIGTERM is logged", d.log()[-500:])
    tap.done()


main()
