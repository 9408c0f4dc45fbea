"""A real OpenSearch for the engine scenarios (tests/engine/README.md): started once per test
script through `./dev engine`, its templates put from tests/engine/templates.json, documents
bulk-loaded, and a recording proxy that keeps every request vizfeed sends and the engine's
answer, so that the same requests can be put to the fake (tests/es/fake_es.py) afterwards."""
import gzip
import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vizlib import TESTS

SRC = os.environ.get("VIZFEED_SRC", os.path.dirname(TESTS))
TEMPLATES = os.path.join(SRC, "tests", "engine", "templates.json")
# A JVM's start on a busy two-core machine, three nodes, the first Maven resolution.
START_TIMEOUT = 300


def _strip_comments(v):
    if isinstance(v, dict):
        return {k: _strip_comments(x) for k, x in v.items() if k != "_comment"}
    if isinstance(v, list):
        return [_strip_comments(x) for x in v]
    return v


class EngineError(Exception):
    pass


def java21_found():
    """Elasticsearch 9 needs a Java 21+ JDK; Debian 12 packages 17 only (dev looks the same way)."""
    for jdk in sorted(os.listdir("/usr/lib/jvm")) if os.path.isdir("/usr/lib/jvm") else []:
        java = os.path.join("/usr/lib/jvm", jdk, "bin", "java")
        if os.access(java, os.X_OK) and os.access(java + "c", os.X_OK):
            out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
            m = re.search(r'version "(\d+)', out)
            if m and int(m.group(1)) >= 21:
                return True
    return False


def skip_unless_runnable():
    """TAP's whole-script skip when the engine asked for cannot run on this machine."""
    if os.environ.get("VIZFEED_ENGINE") == "elasticsearch9" and not java21_found():
        print("1..0 # SKIP Elasticsearch 9 needs a Java 21+ JDK under /usr/lib/jvm", flush=True)
        sys.exit(0)


class Engine:
    """`./dev engine KIND --nodes N` in a process group of its own; stopped at exit."""

    def __init__(self, nodes=1, kind=None):
        # VIZFEED_ENGINE: opensearch (default), elasticsearch (8.x) or elasticsearch9.
        self.kind = kind or os.environ.get("VIZFEED_ENGINE", "opensearch")
        self.fake_flavor = {"opensearch": "opensearch2", "elasticsearch": "es8", "elasticsearch9": "es9"}[self.kind]
        self.log = tempfile.NamedTemporaryFile(prefix="vizfeed-engine-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([os.path.join(SRC, "dev"), "engine", self.kind, "--nodes", str(nodes),
                                      "--exit-on-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, start_new_session=True, cwd=SRC)
        line = self._line(START_TIMEOUT)
        if not line.startswith("ready http://127.0.0.1:"):
            self.stop()
            raise EngineError(f"the engine did not start: {line!r}; its log:\n{self.log_text()[-3000:]}")
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.put_templates()

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def _line(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                return self.proc.stdout.readline().strip()
            if self.proc.poll() is not None:
                return f"(exited {self.proc.returncode})"
        return "(no answer in time)"

    def command(self, line, timeout=240):
        """A line to the launcher's stdin (stop I, start I, ports); its one-line answer."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line(timeout)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        os.unlink(self.log.name)

    def request(self, method, path, body=None, ndjson=False, timeout=120):
        """(status, parsed JSON answer)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None
            headers = {}
            if body is not None:
                data = body if isinstance(body, (bytes, str)) else json.dumps(body)
                data = data.encode() if isinstance(data, str) else data
                headers["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw.decode(errors="replace")
        finally:
            conn.close()

    def ok(self, method, path, body=None, **kw):
        status, answer = self.request(method, path, body, **kw)
        if status >= 300:
            raise EngineError(f"{method} {path}: {status} {json.dumps(answer)[:600]}")
        return answer

    def put_templates(self):
        with open(TEMPLATES) as f:
            t = _strip_comments(json.load(f))
        for name, body in t["component_templates"].items():
            # Elasticsearch's own body where it differs (passthrough objects; OpenSearch has none)
            es_body = body.pop("_elasticsearch", None)
            if es_body is not None and self.kind != "opensearch":
                body = es_body
            self.ok("PUT", f"/_component_template/{name}", body)
        for name, body in t["index_templates"].items():
            self.ok("PUT", f"/_index_template/{name}", body)

    def bulk(self, target, docs, data_stream=False):
        """Loads docs into target (an index, alias or data stream: data streams take `create`
        only) and refreshes; raises with the first item the engine refused."""
        op = "create" if data_stream else "index"
        lines = []
        for d in docs:
            lines.append(json.dumps({op: {"_index": target}}))
            lines.append(json.dumps(d))
        for start in range(0, len(lines), 20000):
            answer = self.ok("POST", "/_bulk?refresh=true", "\n".join(lines[start:start + 20000]) + "\n", ndjson=True)
            if answer.get("errors"):
                bad = next(i for i in answer["items"] if i[op].get("error"))
                raise EngineError(f"the engine refused a document of {target}: {json.dumps(bad)[:600]}")

    def mapping_types(self, pattern):
        """{dotted field: type} of every index pattern matches (for the fake's load)."""
        out = {}

        def walk(props, prefix):
            for k, v in props.items():
                if "properties" in v:
                    walk(v["properties"], prefix + k + ".")
                elif v.get("type", "object") not in ("object", "nested"):
                    out[prefix + k] = v["type"]
                    for sub, sv in (v.get("fields") or {}).items():
                        out[prefix + k + "." + sub] = sv.get("type")

        for idx in self.ok("GET", f"/{pattern}/_mapping?expand_wildcards=all").values():
            walk(idx["mappings"].get("properties", {}), "")
        return out


class Recorder:
    """An HTTP proxy on 127.0.0.1 in front of the engine that keeps every exchange:
    [{"method", "path", "body" (text), "status", "answer" (text, decompressed)}]."""

    def __init__(self, target_port):
        self.exchanges = []
        self.delay = 0.0  # seconds each search waits before it is forwarded (a slow cluster)
        self.lock = threading.Lock()
        rec = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "content-encoding", "accept-encoding",
                                                "connection")}
                if rec.delay and self.path.split("?")[0].endswith("/_search"):
                    time.sleep(rec.delay)
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, rheaders = resp.status, resp.getheaders()
                except OSError:
                    self.close_connection = True
                    return
                finally:
                    conn.close()
                with rec.lock:
                    rec.exchanges.append({"method": self.command, "path": self.path, "body": body.decode(),
                                          "status": status, "answer": data.decode(errors="replace")})
                self.send_response(status)
                for k, v in rheaders:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_PUT = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def searches(self):
        with self.lock:
            return [e for e in self.exchanges if urllib.parse.urlsplit(e["path"]).path.endswith("/_search")]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
