"""The HTTP server's limits, from outside (src/bounds.h, src/http.c "connections"):

  - the connection limit: with RLIMIT_NOFILE at 400 the daemon says at start
    that it serves at most 200 connections; the 201st is closed at once (not
    left waiting in the listen queue), that is logged, and a slot freed is
    usable again;
  - slow clients: a client that sends its headers one byte every 2 s (slow
    loris), one that connects and sends nothing, and a keep-alive connection
    left idle after an answer are all closed about HTTP_HEADERS_TIMEOUT_S
    (30 s) after they started waiting; one that asks for the graph 400 times
    (pipelined) and never reads, so that megabytes of answers wait in the
    server's socket, is closed about HTTP_CONNECTION_TIMEOUT_S (30 s) after
    the last byte moved; other clients are answered throughout;
  - request headers larger than the 32 KiB per-connection buffer get an error
    status and a closed connection, and the daemon goes on.

Bounded: about 40 s in all, every socket with a timeout or closed by the test.
"""
import http.client
import os
import re
import resource
import socket
import tempfile
import threading
import time

from vizlib import Daemon, Tap, poll, write

NOFILE = 400
ALLOWED = NOFILE // 2  # src/http.c connections_allowed(): half, when under 2 x HTTP_RESERVED_FDS
HEADERS_TIMEOUT = 30   # HTTP_HEADERS_TIMEOUT_S
CONNECTION_TIMEOUT = 30  # HTTP_CONNECTION_TIMEOUT_S
PIPELINED = 400        # requests of the client that never reads (the demo graph is ~110 kB)
SLACK = 8              # the watchdog's 1 s period, and a slow machine


def limit_files():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    return s


def get(s, path="/healthz"):
    """One keep-alive request on socket s; returns the status line, or what went wrong."""
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return "closed"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                return "closed mid-body"
            rest += chunk
        return head.split(b"\r\n", 1)[0].decode()
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return f"error {e}"


def closed_by_server(s, timeout):
    """Whether the server closes s (EOF or reset) within timeout seconds."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def server_side(port, client_port):
    """(state, bytes waiting to be sent) of the server's end of a connection, from /proc/net/tcp,
    without touching the client's socket; None once the kernel has forgotten it."""
    with open("/proc/net/tcp") as f:
        for row in f.readlines()[1:]:
            fields = row.split()
            local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
            if int(local, 16) == port and int(remote, 16) == client_port:
                return fields[3], int(fields[4].split(":")[0], 16)
    return None


ESTABLISHED = "01"


def connection_limit(tap, d):
    tap.check(f"at most {ALLOWED} connections" in d.log(),
              f"at start, the lowered connection limit is said ({ALLOWED} with {NOFILE} open files)", d.log()[-800:])
    held = []
    try:
        for _ in range(ALLOWED):
            s = connect(d.port)
            held.append(s)
        statuses = [get(s) for s in held]
        bad = [x for x in statuses if x != "HTTP/1.1 200 OK"]
        tap.check(not bad, f"{ALLOWED} connections open at once are each answered", bad[:5])
        t0 = time.time()
        extra = connect(d.port)
        result = get(extra)
        took = time.time() - t0
        extra.close()
        tap.check(result.startswith(("closed", "error")) and took < 5,
                  f"connection {ALLOWED + 1} is closed at once ({result!r} after {took:.1f} s), not left waiting")
        tap.check(d.wait_for(lambda: "connections are open, the limit" in d.log(), 5, what="the refusal logged"),
                  "the refusal is logged")
        for s in held[:10]:
            s.close()
        del held[:10]
        answers = []

        def answered():  # MHD notices the closed ones at its next look
            s = connect(d.port)
            answers.append(get(s))
            s.close()
            return answers[-1] == "HTTP/1.1 200 OK"
        poll(answered, 10, every=0.2)
        tap.equal(answers[-1] if answers else None, "HTTP/1.1 200 OK", "once connections close, a new one is answered")
    finally:
        for s in held:
            s.close()


def slow_clients(tap, d):
    results = {}

    def loris(s):
        """Sends a request line and then a header one byte every 2 s, never ending it."""
        try:
            s.sendall(b"GET /vizceral.json HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            end = time.time() + HEADERS_TIMEOUT + SLACK + 5
            while time.time() < end:
                time.sleep(2)
                s.sendall(b"a")
        except OSError:
            pass

    def watch(name, s, started):
        closed = closed_by_server(s, HEADERS_TIMEOUT + SLACK + 5)
        results[name] = (closed, time.time() - started)

    def watch_unread(name, s, started):
        """Looks at the server's end only: reading would take the answers."""
        client_port, queued, end = s.getsockname()[1], 0, started + CONNECTION_TIMEOUT + SLACK + 5
        while time.time() < end:
            seen = server_side(d.port, client_port)
            if seen is None or seen[0] != ESTABLISHED:
                results[name] = (True, time.time() - started)
                results["queued"] = queued
                return
            queued = max(queued, seen[1])
            time.sleep(0.5)
        results[name] = (False, time.time() - started)
        results["queued"] = queued

    clients = {}
    started = time.time()
    clients["slow loris (a header byte every 2 s)"] = connect(d.port)
    clients["silent (connects, sends nothing)"] = connect(d.port)
    idle = connect(d.port)
    first = get(idle)
    tap.equal(first, "HTTP/1.1 200 OK", "the keep-alive connection is answered before it idles")
    clients["keep-alive, idle after its answer"] = idle
    unread = "never reads its answers"
    clients[unread] = socket.socket()
    clients[unread].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    clients[unread].connect(("127.0.0.1", d.port))
    clients[unread].sendall(b"GET /vizceral.json HTTP/1.1\r\nHost: t\r\n\r\n" * PIPELINED)
    threads = [threading.Thread(target=loris, args=(clients["slow loris (a header byte every 2 s)"],), daemon=True)]
    threads += [threading.Thread(target=watch_unread if n == unread else watch, args=(n, s, started), daemon=True)
                for n, s in clients.items()]
    for t in threads:
        t.start()
    answered, asked = 0, 0
    while any(t.is_alive() for t in threads[1:]) and time.time() - started < HEADERS_TIMEOUT + SLACK + 10:
        asked += 1
        answered += d.request("GET", "/healthz")[0] == 200
        time.sleep(1)
    for t in threads:
        t.join(5)
    for name, s in clients.items():
        closed, after = results.get(name, (False, None))
        limit = CONNECTION_TIMEOUT if name == unread else HEADERS_TIMEOUT
        tap.check(closed and limit - 2 <= after <= limit + SLACK,
                  f"{name}: closed by vizfeed after {after or 0:.1f} s (expected {limit}-{limit + SLACK} s)")
        s.close()
    tap.check(results.get("queued", 0) > 1 << 20,
              f"{unread}: its answers really waited, unsent, in the server's socket "
              f"({results.get('queued', 0):,} bytes at most)")
    tap.check(answered == asked and asked >= HEADERS_TIMEOUT - 2,
              f"other clients are answered meanwhile ({answered} of {asked})")


def oversized_headers(tap, d):
    s = connect(d.port)
    try:
        s.sendall(b"GET /vizceral.json HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"a" * (40 << 10) + b"\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    finally:
        s.close()
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    tap.check(re.match(r"HTTP/1\.1 4(31|13|00) ", status) is not None,
              f"40 KiB of headers: an error status and the connection closed ({status!r})")
    tap.equal(d.request("GET", "/healthz")[0], 200, "after oversized headers the daemon answers as before")


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        config = write(os.path.join(tmp, "vizfeed.yml"), """
refresh: { interval: 1s }
flows:
  - name: demo
    type: demo
""")
        with Daemon(["-c", config], preexec_fn=limit_files) as d:
            d.wait_for(lambda: d.request("GET", "/vizceral.json")[0] == 200, what="the first graph")
            for group in (connection_limit, oversized_headers, slow_clients):
                t0 = time.time()
                tap.run(group, d)
                print(f"# {group.__name__}: {time.time() - t0:.1f}s", flush=True)
            tap.equal(d.stop(), 0, "SIGTERM: exit code 0")
    tap.done()


main()
