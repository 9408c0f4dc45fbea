"""The HTTP server against hostile and odd clients, from outside (issue 18, items 2, 6, 8, 9, 10).

Raw sockets throughout: an HTTP library would normalise exactly what is tested here (duplicate
headers, odd bytes, framing). Each case sends one request head, reads until the server closes or
2 s pass, and looks at every status line that came back and whether the connection was closed:

  - framing: two Content-Length headers, Transfer-Encoding with Content-Length, an HTTP/1.1
    request without Host or with two, an invalid Host, a control byte in a header: 400 and close,
    nothing after the bad request answered (the body of a second Content-Length is not taken for
    a request); a target over HTTP_MAX_URI: 414 and close; 3,000 query arguments: answered at once
    (libmicrohttpd 0.9.75 ran out of connection memory on them and held the connection 30 s
    without a word); headers over the connection buffer: 431 and close;
  - every byte 0x00-0xFF in a header value and in a header name;
  - methods, targets and versions: odd methods 405, absolute-form served, `*`, HTTP/1.0 with and
    without keep-alive, HTTP/0.9 and HTTP/2.0 request lines, pipelining (2,000 requests in one
    write, twice the connection buffer);
  - `/vizceral.json%00` and other encoded NULs: 404 on every route;
  - a FIFO (and a socket) in ui_dir: 404 at once, however many clients ask, other routes keep
    answering, SIGTERM stops the daemon; a file truncated while a slow client downloads it: the
    connection closed at once (it was held 30 s); ui_dir a symbolic link swapped to a new release:
    served from the new one at once, also after the old one is deleted;
  - the page's Content-Security-Policy as a header on the static files, the <meta> policy of
    ui/src/index.html plus frame-ancestors 'none', and X-Frame-Options: DENY;
  - a reload of `auth` applies when "configuration reloaded" is logged, while a refresh against a
    slow Elasticsearch is still waiting: the old password is refused at once.

Bounded: every socket has a timeout; about 40 s in all.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time

from vizlib import SRC, Daemon, Tap, http_exchange, write
from esdata import INDEX, FakeElasticsearch, events

MAX_URI = 8192  # HTTP_MAX_URI of src/bounds.h


def req(head, host=b"Host: t\r\n", target=b"/healthz", version=b"HTTP/1.1", method=b"GET"):
    return method + b" " + target + b" " + version + b"\r\n" + host + head + b"\r\n"


def framing(tap, d):
    p = d.port
    refused = [
        ("two different Content-Length headers",
         req(b"Content-Length: 0\r\nContent-Length: 34\r\n") + b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("the same Content-Length twice", req(b"Content-Length: 0\r\nContent-Length: 0\r\n")),
        ("Transfer-Encoding with Content-Length",
         req(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n") + b"0\r\n\r\n"),
        ("Transfer-Encoding twice", req(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")),
        ("HTTP/1.1 without Host", req(b"", host=b"")),
        ("two Host headers", req(b"Host: u\r\n")),
        ("a Host with a space and a slash", req(b"", host=b"Host: a b/c\r\n")),
        ("a Host with a user", req(b"", host=b"Host: user@t\r\n")),
        ("a control byte in a header value", req(b"X-A: a\x01b\r\n")),
        ("a space in a header name", req(b"Bad Name: x\r\n")),
    ]
    for what, data in refused:
        codes, closed, out = http_exchange(p, data + req(b""))  # a good request after it must not be answered
        tap.check(codes == [400] and closed, f"{what}: 400 and close, nothing after it answered",
                  f"{codes} closed={closed} {out[:300]!r}")
        tap.check(b'"error":"bad request"' in out, f"{what}: a JSON body says why", out[-200:])

    codes, closed, out = http_exchange(p, req(b"", target=b"/" + b"a" * (MAX_URI + 100)))
    tap.check(codes == [414] and closed, "a 8 KiB+ target: 414 and close", f"{codes} {closed}")
    codes, closed, _ = http_exchange(p, req(b"", target=b"/" + b"a" * 40000))
    tap.check(codes == [414] and closed, "a 40 KiB target: 414 and close", f"{codes} {closed}")
    t0 = time.time()
    target = b"/healthz?" + b"&".join(b"a" for _ in range(3000))
    codes, closed, _ = http_exchange(p, req(b"Connection: close\r\n", target=target), wait=10)
    tap.check(codes == [200] and closed, "3,000 query arguments: answered at once", f"{codes} closed={closed} "
              f"after {time.time() - t0:.1f} s")
    codes, closed, _ = http_exchange(p, req(b"".join(b"X-%d: v\r\n" % i for i in range(3000))))
    tap.check(codes == [431] and closed, "3,000 header fields: 431 and close", f"{codes} {closed}")
    codes, closed, _ = http_exchange(p, req(b"X: " + b"v" * 40000 + b"\r\n"))
    tap.check(codes == [431] and closed, "a 40 KiB header line: 431 and close", f"{codes} {closed}")
    codes, closed, _ = http_exchange(p, req(b"".join(b"X-%d: v\r\n" % i for i in range(100))))
    tap.check(codes == [200], "100 header fields are fine", codes)
    invalid_length(tap, d)


def one_refusal(out):
    """The problems with `out` (everything read until close) as vizfeed's one 400 for bad framing:
    exactly one status line, Connection: close, a JSON body of its Content-Length that says why."""
    problems = []
    if len(re.findall(rb"HTTP/1\.[01] \d{3} ", out)) != 1:
        problems.append("not exactly one status line")
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 400 "):
        problems.append(f"status line {lines[0][:60]!r}")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    if fields.get(b"connection") != [b"close"]:
        problems.append(f"Connection {fields.get(b'connection')}")
    if fields.get(b"content-length") != [str(len(body)).encode()]:
        problems.append(f"Content-Length {fields.get(b'content-length')} for {len(body)} bytes (something after it?)")
    try:
        doc = json.loads(body)
        if doc.get("error") != "bad request" or "Content-Length" not in doc.get("reason", ""):
            problems.append(f"JSON {doc}")
    except ValueError:
        problems.append(f"body is not JSON: {body[:120]!r}")
    return problems


def invalid_length(tap, d):
    """An invalid Content-Length: libmicrohttpd 0.9.75 rejected these itself, before any hook of
    vizfeed ran, and sent its error header block twice (the second inside the body the first
    announced); src/http_guard.c now answers them from the bytes libmicrohttpd reads."""
    p = d.port
    key = 'vizfeed_http_requests_total{path="/other",code="400"}'
    before = d.metrics().get(key, 0)
    cases = [(b"Content-Length: " + v + b"\r\n", "Content-Length " + v.decode())
             for v in [b"-1", b"+34", b"0, 34", b"1" + b"0" * 23, b"abc", b"", b"34 ", b"0" * 30 + b"1"]]
    # libmicrohttpd joins a folded line to the one before without a space: "3" + " 4" was served
    # as a length of 34 (200, the connection then held for the body).
    cases.append((b"Content-Length: 3\r\n 4\r\n", "Content-Length folded onto a second line"))
    for head, what in cases:
        codes, closed, out = http_exchange(p, req(head) + req(b""))  # a good request after it must not be answered
        problems = one_refusal(out)
        tap.check(codes == [400] and closed and not problems,
                  f"{what}: one 400 with a JSON reason and Connection: close, closed, nothing after it answered",
                  f"{codes} closed={closed} {problems} {out[:400]!r}")
    # Pipelined: the good requests before it are answered, in order, then the refusal, then close.
    codes, closed, out = http_exchange(p, req(b"") + req(b"") + req(b"Content-Length: -1\r\n") + req(b""))
    tail = out[out.rfind(b"HTTP/1.1 "):]
    tap.check(codes == [200, 200, 400] and closed and not one_refusal(tail),
              "two good requests then Content-Length -1 in one write: 200, 200, then the 400 and close",
              f"{codes} closed={closed} {one_refusal(tail)} {out[-300:]!r}")
    # The graph (110 kB) before it: the refusal waits until the answers are sent.
    # (The graph ends without a line feed: its next status line is not at a line start.)
    _, closed, out = http_exchange(p, req(b"", target=b"/vizceral.json") * 2 + req(b"Content-Length: abc\r\n"))
    codes = [int(c) for c in re.findall(rb"HTTP/1\.1 (\d{3}) [A-Z]", out)]
    tail = out[out.rfind(b"HTTP/1.1 "):]
    tap.check(codes == [200, 200, 400] and closed and not one_refusal(tail),
              "two graphs then Content-Length abc: both graphs, then the 400 and close",
              f"{codes} closed={closed} {one_refusal(tail)}")
    # Valid lengths are not refused by it: 0 is served, a body closes the connection after the answer.
    codes, closed, _ = http_exchange(p, req(b"Content-Length: 0\r\n") + req(b"Content-Length: 00\r\n") + req(b""))
    tap.check(codes == [200, 200, 200], "Content-Length 0 and 00: served, the connection kept", codes)
    codes, closed, _ = http_exchange(p, req(b"Content-Length: 5\r\n", method=b"POST") + b"hello" + req(b""))
    tap.check(codes == [405] and closed, "a POST with a body: 405 and close", f"{codes} {closed}")
    refused = len(cases) + 2
    after = d.metrics().get(key, 0)
    tap.check(after - before == refused, f"the {refused} refusals counted in {key}", f"{before} -> {after}")
    log = d.log()
    tap.check("refused a request with a Content-Length" in log, "the refusal is logged", log[-600:])


def header_bytes(tap, d):
    """Every byte in a header value and in a header name."""
    wrong_value, wrong_name = [], []
    for b in range(256):
        if b in (0x0A, 0x0D):
            continue  # line ends: a header line of their own, covered in framing
        ch = bytes([b])
        codes, closed, _ = http_exchange(d.port, req(b"X-V: a" + ch + b"b\r\nConnection: close\r\n"))
        allowed = b == 0x09 or 0x20 <= b <= 0x7E or b >= 0x80
        # A NUL ends the value inside libmicrohttpd, which hands over "a": the request is good.
        expected = [200] if allowed or b == 0 else [400]
        if codes != expected or not closed:
            wrong_value.append((hex(b), codes, closed))
        if b in (0x00, ord(":")):
            continue
        codes, closed, _ = http_exchange(d.port, req(b"X" + ch + b"N: v\r\nConnection: close\r\n"))
        token = chr(b).isascii() and (chr(b).isalnum() or chr(b) in "!#$%&'*+-.^_`|~")
        if codes != ([200] if token else [400]) or not closed:
            wrong_name.append((hex(b), codes, closed))
    tap.check(not wrong_value, "every byte in a header value: control bytes 400 and close, the rest 200", wrong_value)
    tap.check(not wrong_name, "every byte in a header name: non-token bytes 400 and close, the rest 200", wrong_name)


def methods_targets_versions(tap, d):
    p = d.port
    cases = [
        ("POST with a body", req(b"Content-Length: 5\r\n", method=b"POST") + b"hello" + req(b""), [405], True),
        ("lower-case get", req(b"", method=b"get"), [405], False),
        ("an unknown method", req(b"", method=b"FOO"), [405], False),
        ("CONNECT", req(b"", method=b"CONNECT", target=b"t:443", host=b"Host: t:443\r\n"), [405], False),
        ("TRACE", req(b"", method=b"TRACE"), [405], False),
        ("absolute-form target", req(b"", target=b"http://t/healthz"), [200], False),
        ("absolute-form, another host", req(b"", target=b"HTTP://other:1/healthz"), [200], False),
        # An absolute-form target without a path asks for "/" (RFC 9112 §3.2.2): the same answer as "/".
        ("absolute-form without a path", req(b"", target=b"http://t"), http_exchange(p, req(b"", target=b"/"))[0], False),
        ("OPTIONS *", req(b"", method=b"OPTIONS", target=b"*"), [204], False),
        ("HTTP/1.0 without Host", req(b"", host=b"", version=b"HTTP/1.0"), [200], True),
        ("a Host with spaces and tabs around it", req(b"", host=b"Host: \t t:80 \t\r\n"), [200], False),
        ("a lower-case host field", req(b"", host=b"hOsT: t\r\n"), [200], False),
        ("an empty Host (an empty reg-name)", req(b"", host=b"Host:\r\n"), [200], False),
        ("Upgrade: h2c and websocket are ignored", req(b"Connection: Upgrade\r\nUpgrade: h2c, websocket\r\n")
         + req(b""), [200, 200], False),
        ("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [505], True),
        ("Expect: 100-continue on a POST", req(b"Content-Length: 5\r\nExpect: 100-continue\r\n", method=b"POST"),
         [405], True),
        ("Connection: keep-alive, close", req(b"Connection: keep-alive, close\r\n") + req(b""), [200], True),
        ("a 5,000-byte method", req(b"", method=b"A" * 5000), [405], False),
        ("an empty target", b"GET  HTTP/1.1\r\nHost: t\r\n\r\n", [400], True),
        # libmicrohttpd closes a request line with tabs at once, without an answer: nothing is served.
        ("tabs in the request line", b"GET\t/healthz\tHTTP/1.1\r\nHost: t\r\n\r\n", [], True),
        ("two spaces between the parts", b"GET  /healthz  HTTP/1.1\r\nHost: t\r\n\r\n", [404], False),
        ("a control byte in the target", req(b"", target=b"/healthz\x01"), [404], False),
        ("bad percent-encoding", req(b"", target=b"/%zz%4"), [404], False),
        ("a fragment", req(b"", target=b"/healthz#x"), [404], False),
        ("UTF-8 in the target", req(b"", target=b"/\xc3\xa9"), [404], False),
        ("HTTP/1.0 keep-alive, two requests", req(b"Connection: keep-alive\r\n", version=b"HTTP/1.0")
         + req(b"", version=b"HTTP/1.0"), [200, 200], True),
        ("HTTP/0.9 request line", b"GET /healthz\r\n\r\n", [400], True),
        ("HTTP/2.0 request line", req(b"", version=b"HTTP/2.0"), [505], True),
        ("a malformed version", req(b"", version=b"HTTP/1.x"), [400], True),
        ("empty lines before the request", b"\r\n\r\n" + req(b""), [200], False),
        ("three pipelined requests", req(b"") * 3, [200, 200, 200], False),
        ("pipelined, the last one closing", req(b"") * 2 + req(b"Connection: close\r\n"), [200, 200, 200], True),
        ("a GET with Transfer-Encoding: chunked", req(b"Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n" + req(b""),
         [200], True),
    ]
    for what, data, expected, closes in cases:
        codes, closed, out = http_exchange(p, data)
        ok = codes == expected and (closed or not closes)
        tap.check(ok, f"{what}: {expected}{' and close' if closes else ''}", f"{codes} closed={closed} {out[:200]!r}")


def pipelining_beyond_the_buffer(tap, d):
    """2,000 requests in one write (68 kB, twice the 32 KiB connection buffer), read as they come."""
    n = 2000
    data = req(b"") * (n - 1) + req(b"Connection: close\r\n")
    s = socket.create_connection(("127.0.0.1", d.port), timeout=20)
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    out, closed = b"", False
    try:
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    finally:
        sender.join(20)
        s.close()
    answers = len(re.findall(rb"(?m)^HTTP/1\.1 200 ", out))
    tap.check(answers == n and closed, f"{n} pipelined requests in one 68 kB write: {n} answers in order, then closed",
              f"{answers} answers, closed={closed}")


def encoded_nul(tap, d):
    for target in [b"/vizceral.json%00", b"/vizceral.json%00.html", b"/healthz%00", b"/metrics%00x",
                   b"/readyz%00", b"http://t/vizceral.json%00"]:
        codes, _, out = http_exchange(d.port, req(b"Connection: close\r\n", target=target))
        tap.check(codes == [404], f"{target.decode()}: 404", f"{codes} {out[:120]!r}")
    codes, _, _ = http_exchange(d.port, req(b"Connection: close\r\n", target=b"/vizceral.json?x=%00"))
    tap.check(codes == [200], "an encoded NUL in the query is no concern: 200", codes)


def special_files(tap, tmp):
    ui = os.path.join(tmp, "ui-special")
    os.makedirs(ui)
    write(os.path.join(ui, "index.html"), "<!doctype html><title>t</title>\n")
    os.mkfifo(os.path.join(ui, "feed.json"))
    os.mkfifo(os.path.join(ui, "fifo.html"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(ui, "socket.js"))
    config = write(os.path.join(tmp, "special.yml"),
                   f"refresh: {{ interval: 1s }}\nui_dir: {ui}\nflows:\n  - {{ name: demo, type: demo }}\n")
    d = Daemon(["-c", config])
    try:
        results = []

        def ask(path):
            results.append((path, http_exchange(d.port, req(b"Connection: close\r\n", target=path), wait=10)[0]))

        # More clients than HTTP threads (at most 4), each one its own connection.
        threads = [threading.Thread(target=ask, args=(p,)) for p in [b"/feed.json", b"/fifo.html", b"/socket.js"] * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        tap.check(len(results) == 12 and all(codes == [404] for _, codes in results),
                  "a FIFO or socket in ui_dir: 404 for each of 12 clients at once", results)
        codes, _, _ = http_exchange(d.port, req(b"Connection: close\r\n", target=b"/index.html"))
        tap.check(codes == [200], "the page's regular files are still served", codes)
        codes, _, _ = http_exchange(d.port, req(b"Connection: close\r\n"))
        tap.check(codes == [200], "other routes keep answering", codes)
        t0 = time.time()
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(10)
        except Exception:
            rc = None
        tap.check(rc == 0, "SIGTERM stops the daemon (exit 0) within 10 s", f"{rc} after {time.time() - t0:.1f} s")
    finally:
        d.stop()
        sock.close()


def file_cut_short(tap, tmp):
    """A file of ui_dir truncated while a slow client downloads it (a page redeployed with cp)."""
    ui = os.path.join(tmp, "ui-cut")
    os.makedirs(ui)
    big = os.path.join(ui, "big.js")
    with open(big, "wb") as f:
        f.write(os.urandom(1 << 20) * 20)
    config = write(os.path.join(tmp, "cut.yml"),
                   f"refresh: {{ interval: 1h }}\nui_dir: {ui}\nflows:\n  - {{ name: demo, type: demo }}\n")
    with Daemon(["-c", config]) as d:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the server's sends wait for this reader
        s.settimeout(45)
        s.connect(("127.0.0.1", d.port))
        s.sendall(req(b"", target=b"/big.js"))
        got = b""
        while len(got) < (1 << 20):
            got += s.recv(65536)
        os.truncate(big, 0)
        t0, end = time.time(), "timeout"
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    end = "closed"
                    break
                got += chunk
        except ConnectionResetError:
            end = "reset"
        except socket.timeout:
            pass
        waited = time.time() - t0
        s.close()
        length = int(re.search(rb"(?i)content-length: *(\d+)", got)[1])
        body = len(got.partition(b"\r\n\r\n")[2])
        tap.check(end in ("closed", "reset") and waited < 15 and body < length,
                  "a file truncated while it is sent: the connection is closed at once, the body short of its "
                  "Content-Length (not held 30 s)", f"{end} after {waited:.1f} s, {body} of {length} bytes")
        codes, _, _ = http_exchange(d.port, req(b"Connection: close\r\n"))
        tap.check(codes == [200], "other clients are answered", codes)


def page_redeployed(tap, tmp):
    """ui_dir is a symbolic link swapped to a new release, the old one then deleted (a common deploy)."""
    base = os.path.join(tmp, "ui-releases")
    for release in ["r1", "r2"]:
        os.makedirs(os.path.join(base, release))
        write(os.path.join(base, release, "index.html"), f"<!doctype html><title>{release}</title>\n")
    current = os.path.join(base, "current")
    os.symlink("r1", current)
    config = write(os.path.join(tmp, "releases.yml"),
                   f"refresh: {{ interval: 1h }}\nui_dir: {current}\nflows:\n  - {{ name: demo, type: demo }}\n")
    with Daemon(["-c", config]) as d:
        tap.check(b"r1" in d.request("GET", "/")[2], "the first release is served")
        os.symlink("r2", current + ".new")
        os.replace(current + ".new", current)  # rename(2): the swap is atomic
        status, _, body = d.request("GET", "/")
        tap.check(status == 200 and b"r2" in body, "after the link is swapped, the new release at once", body[:80])
        shutil.rmtree(os.path.join(base, "r1"))
        status, _, body = d.request("GET", "/index.html")
        tap.check(status == 200 and b"r2" in body, "after the old release is deleted, still the new one",
                  f"{status} {body[:80]!r}")


def page_policy(tap, tmp):
    ui = os.path.join(tmp, "ui-policy")
    os.makedirs(ui)
    with open(os.path.join(SRC, "ui", "src", "index.html")) as f:
        page = f.read()
    write(os.path.join(ui, "index.html"), page)
    write(os.path.join(ui, "app.js"), "void 0;\n")
    meta = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]*)"', page)[1]

    def directives(policy):
        return {d.strip().split()[0]: sorted(d.strip().split()[1:]) for d in policy.split(";") if d.strip()}

    config = write(os.path.join(tmp, "policy.yml"),
                   f"refresh: {{ interval: 1s }}\nui_dir: {ui}\nflows:\n  - {{ name: demo, type: demo }}\n")
    with Daemon(["-c", config]) as d:
        for path in ["/", "/index.html", "/app.js"]:
            status, h, _ = d.request("GET", path)
            policy = h.get("content-security-policy", "")
            want = dict(directives(meta), **{"frame-ancestors": ["'none'"]})
            tap.check(status == 200 and directives(policy) == want,
                      f"{path}: the page's <meta> policy as a header, plus frame-ancestors 'none'",
                      f"{status}\n header: {policy}\n meta:   {meta}")
            tap.equal(h.get("x-frame-options"), "DENY", f"{path}: X-Frame-Options: DENY")


def reload_applies_at_once(tap, tmp):
    """A slow cluster holds a refresh; a reloaded password applies when the reload is logged."""
    es = FakeElasticsearch().start()
    try:
        es.load(INDEX, events())
        config = os.path.join(tmp, "auth.yml")
        text = ("refresh: {{ interval: 1s, window: 2m, lag: 0s }}\n"
                "elasticsearch: {{ hosts: [{url}], timeout: 60s }}\n"
                "auth: {{ username: viewer, password: {password} }}\n"
                "flows:\n  - {{ name: access, type: elasticsearch, index: \"filebeat-*\", preset: nginx-access }}\n")
        write(config, text.format(url=es.url, password="old-secret-1"))
        old = {"Authorization": "Basic " + base64.b64encode(b"viewer:old-secret-1").decode()}
        new = {"Authorization": "Basic " + base64.b64encode(b"viewer:new-secret-2").decode()}
        with Daemon(["-c", config]) as d:
            d.wait_for(lambda: d.request("GET", "/vizceral.json", old)[0] == 200, what="a first graph")
            t_inject = time.time()
            es.inject({"delay": 12, "always": True})
            # A request sent after the fault is in place: the refresh is now waiting for the cluster.
            d.wait_for(lambda: any(r["time"] > t_inject for r in es.requests), timeout=10,
                       what="a request of the next refresh")
            refreshes = d.request("GET", "/metrics", old)[2]
            before = re.search(rb"(?m)^vizfeed_refreshes_total (\S+)", refreshes)[1]
            write(config, text.format(url=es.url, password="new-secret-2"))
            logged = d.log().count("configuration reloaded")
            d.signal(signal.SIGHUP)
            d.wait_for(lambda: d.log().count("configuration reloaded") > logged, timeout=5, what="the reload line")
            status_old = d.request("GET", "/vizceral.json", old)[0]
            status_new = d.request("GET", "/vizceral.json", new)[0]
            after = re.search(rb"(?m)^vizfeed_refreshes_total (\S+)", d.request("GET", "/metrics", new)[2])
            tap.equal(status_old, 401, "right after 'configuration reloaded': the old password is refused")
            tap.equal(status_new, 200, "right after 'configuration reloaded': the new password works")
            tap.check(after is not None and after[1] == before, "meanwhile the refresh was still waiting for the cluster",
                      f"refreshes_total {before} then {after and after[1]}")
            es.clear()
    finally:
        es.stop()


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        with Daemon(["--demo"]) as d:
            tap.run(framing, d)
            tap.run(header_bytes, d)
            tap.run(methods_targets_versions, d)
            tap.run(pipelining_beyond_the_buffer, d)
            tap.run(encoded_nul, d)
            tap.check(d.proc.poll() is None, "the daemon went through all of it")
        tap.run(special_files, tmp)
        tap.run(file_cut_short, tmp)
        tap.run(page_redeployed, tmp)
        tap.run(page_policy, tmp)
        tap.run(reload_applies_at_once, tmp)
    tap.done()


main()
