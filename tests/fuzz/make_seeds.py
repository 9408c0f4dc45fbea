#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the project's
own test data: Elasticsearch answers (tests/data/es, tests/es/fixtures),
configurations (tests/configs, examples), event lines (tests/cases), the
condition cases (tests/data/cond_cases.json) and HTTP header samples.

Run it from anywhere; it only adds or replaces files named seed-*, so inputs
saved from crashes (named crash-*, kept as regression tests) stay.
"""
import glob
import hashlib
import json
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STATUSES = [200, 200, 200, 200, 400, 401, 403, 404, 406, 429, 500, 502, 503]  # as fuzz_es_parse.c


def put(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def es_parse():
    files = sorted(glob.glob(f"{ROOT}/tests/data/es/*.json") + glob.glob(f"{ROOT}/tests/data/es/*.html")
                   + glob.glob(f"{ROOT}/tests/es/fixtures/*.json"))
    for path in files:
        body = open(path, "rb").read()
        m = re.search(r"(?:^|[-_])([1-5]\d\d)(?:[-_.]|$)", os.path.basename(path))
        status = int(m.group(1)) if m and int(m.group(1)) in STATUSES else 200
        selector = STATUSES.index(status)
        if b"response_time" in body:
            selector |= 0x80  # the flow that sums a count field
        put("es_parse", bytes([selector, 0]) + body)
        if status == 200:
            put("es_parse", bytes([selector, 7]) + body)  # fed in 7-byte chunks


def jsonr():
    """The reader against yajl: the same answers, whole and in 7- and 1-byte
    chunks, and documents at the edges of the grammar."""
    files = sorted(glob.glob(f"{ROOT}/tests/data/es/*.json") + glob.glob(f"{ROOT}/tests/es/fixtures/*.json"))
    for path in files:
        body = open(path, "rb").read()
        put("jsonr", bytes([0]) + body)
        put("jsonr", bytes([7]) + body)
    for doc in [b'["\\u00e9\\ud83d\\ude00\\u0000", "\xc3\xa9", -0.5e+3, 0, true, false, null]',
                b'{"a":{"b":[[],{}]}}', b"\v\f 12 ", b'"\\"\\\\\\/\\b\\f\\n\\r\\t"',
                b"[01]", b"[1.]", b'["\xff"]', b"{} x", b'["\\q"]']:
        put("jsonr", bytes([0]) + doc)
        put("jsonr", bytes([1]) + doc)


def ndjson():
    for path in sorted(glob.glob(f"{ROOT}/tests/cases/*/events.ndjson")):
        lines = open(path, "rb").read().splitlines(keepends=True)
        for start in range(0, min(len(lines), 24), 8):
            put("ndjson", bytes([128]) + b"".join(lines[start:start + 8]))


def config():
    for path in sorted(glob.glob(f"{ROOT}/tests/configs/*/*.yml") + glob.glob(f"{ROOT}/examples/*.yml")):
        put("config", open(path, "rb").read())


# fuzz_cond.c's little language: kind = op % 7 (equals, in, range, exists,
# prefix, not, all) = (op & 15) % 7, flags in op >> 4; strings are a pool index (< 0xc0) or 0xc0 + len - 1 and
# the bytes; values are a type byte (0 string, 1 number, 2 bool) and the value.
def cstring(s):
    b = s.encode()
    return bytes([0xC0 + len(b) - 1]) + b


def cnumber(x):
    return bytes([0xE0]) + struct.pack(">d", float(x))


def cvalue(v):
    if isinstance(v, bool):
        return bytes([2, int(v)])
    if isinstance(v, (int, float)):
        return bytes([1]) + cnumber(v)
    return bytes([0]) + cstring(str(v))


def ccond(c):
    kind, body = next(iter(c.items()))
    if kind == "term":
        field, v = next(iter(body.items()))
        return bytes([0]) + cvalue(v) + cstring(field)
    if kind == "terms":
        field, vs = next(iter(body.items()))
        vs = vs[:4]
        return bytes([1 | (len(vs) - 1) << 4]) + b"".join(map(cvalue, vs)) + cstring(field)
    if kind == "range":
        field, bounds = next(iter(body.items()))
        op, out = 2, b""
        for i, name in enumerate(["gte", "gt", "lte", "lt"]):
            if name in bounds:
                op |= 1 << (4 + i)
                out += cnumber(bounds[name])
        return bytes([op]) + out + cstring(field)
    if kind == "exists":
        return bytes([3 | 0x10]) + cstring(body["field"])
    if kind == "prefix":
        field, p = next(iter(body.items()))
        return bytes([4]) + cstring(p) + cstring(field)
    return b""


def cond():
    cases = json.load(open(f"{ROOT}/tests/data/cond_cases.json"))
    for case in cases:
        program = ccond(case["condition"])
        if program:
            put("cond", bytes([0]) + program + json.dumps(case["doc"]).encode())
    put("cond", bytes([0, 5, 6 | 0x10, 3, 0, 4, 1, 2, 0]) + b'{"a":{"b":"x"}}')  # not all[exists, prefix]


def http():
    samples = [
        b"gzip\n\n\"abc\"\n/vizceral.json\n/srv/ui",
        b"gzip, deflate, br\n\"abc\"\n\"abc\"\n/index.html\n/srv/ui",
        b"br;q=1.0, gzip;q=0.8, *;q=0.1\nW/\"abc\", \"def\"\n\"def\"\n/js/app.js\n/srv/ui",
        b"gzip;q=0\n*\n\"abc\"\n/../etc/passwd\n/srv/ui",
        b"*\n\"a\",\"b\" , W/\"c\"\n\"c\"\n/a%00b.html?x=%00\n/",
        b"x-gzip;Q=0.001\n\"unterminated\n\"x\"\n/.git/config\n/srv/ui",
        b"identity\n\"abc\"\n\"abc\"\n/srv/uix/secret\n/srv/ui",
        b"GZIP ; q=1\n\"abc\"\n\"abc\"\n/a\\b.css\n/srv/ui",
        # query strings (issue 15): known arguments, escapes, '+', repeats, empty pieces
        b"gzip\n\n\"abc\"\n/vizceral.json?at=2026-05-04T09:12:00%2B02:00&step=1m&region=eu-west-1&src=x\n/srv/ui",
        b"\n\n\"abc\"\n/vizceral.json?at=-15m;;&at=now&from=%zz&to=%4&region=\n/",
    ]
    for s in samples:
        put("http", s)


def graph():
    """Edge programs for fuzz_graph.c: counts at the edges of double."""
    def edge(a, b, flow, *counts):
        out = bytes([0x20, a, b, flow])
        for c in counts:
            if isinstance(c, float):
                out += bytes([0xe0]) + struct.pack(">d", c)
            else:
                out += bytes([c])  # an index into the target's special values
        return out
    put("graph", edge(0x08, 0x11, 0, 13, 0, 0) + edge(0xc0, 0x08, 1, 14, 0, 14))  # 1e60, 1e300
    put("graph", edge(0x08, 0x91, 0, 3, 4, 6) + edge(0x10, 0x19, 1, 8, 9, 7))  # NaN, Inf, DBL_MAX, subnormals
    put("graph", edge(0x08, 0x11, 0, 10, 11, 12) + edge(0x08, 0x08, 0, 24, 0, 0))  # near 1e15, a self-call
    put("graph", bytes([0x05, 0, 0, 0, 5]) + edge(0x08, 0x12, 1, 1, 1, 1))  # dropped 1e60-ish, a plain edge
    put("graph", bytes([0xa0, 5]) + b"a\x00b\xff\xc0" + bytes([0xa0, 4]) + b"\x1b[2J"
        + edge(0x00, 0x09, 0, 25, 26, 27))  # raw bytes in names
    # Two callees whose names differ only in bytes that are not UTF-8 (shown alike).
    put("graph", bytes([0xa0, 4]) + b"a\xc0\x80b" + bytes([0xa0, 4]) + b"a\xc1\x81b"
        + edge(0x08, 0x00, 0, 25, 0, 0) + edge(0x08, 0x08, 0, 26, 0, 0))
    for x in (1e21, 9.999e20, 1.7976931348623157e308, 5e-324, -0.0, 123456789.123):
        put("graph", edge(0x08, 0x11, 0, x, x, x))


def regex_match():
    """Topology regexes of the examples and tests, with values that match
    them, almost match them, and do not."""
    cases = [
        (r"^([a-z-]+):[0-9]+$", ["checkout:8080", "a-b:1", "checkout:", ":80", "Checkout:80"]),
        (r"^(web|api)-[0-9]+$", ["web-1", "api-22", "web-", "db-1"]),
        (r"^10\.0\.([0-9]+)\.1$", ["10.0.7.1", "10.0.7.2", "10.0..1"]),
        (r"^postgres(ql)?(/.*)?$", ["postgres", "postgresql/db", "postgre"]),
        (r"^([a-z]+-[a-z]+)-[0-9]+\.([a-z0-9-]+)\.svc:[0-9]+$",
         ["cart-api-12.shop.svc:80", "cart-api-12.shop.svc", "a-b-c-1.x.svc:1"]),
        (r"^(a+)(a*)b?$", ["aaa", "aab", "b", ""]),
        (r"^([a-z]*)([a-z]*)$", ["abc", ""]),
        (r"^((ab)*c?)+x$", ["ababcx", "x", "abx", "cx"]),
        (r"^(x?)+y[0-9]{2}$", ["y12", "xxy99", "y1"]),
        (r"^([^.]+)\.internal$", ["db.internal", ".internal"]),
        (r"^(10|20)\.[0-9.]+$", ["10.1.2.3", "30.1"]),
        (r"(^a|b)+$", ["ab", "bb", "ba"]),
        (r"^([[:alpha:]]+)-1$", ["abc-1", "1-1"]),
    ]
    for pattern, values in cases:
        put("regex_match", pattern.encode() + b"\0" + b"\0".join(v.encode() for v in values))


def http_scan():
    """Request heads as a connection sends them, after two bytes choosing how they are split."""
    good = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    heads = [
        good + good,
        good + b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n" + good,
        b"GET / HTTP/1.1\nContent-Length: 0, 34\n\n",
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\n 4\r\n\r\n",
        b"\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\ncontent-length:\t 100000000000000000000000\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 5\rx\r\n\r\n",
    ]
    for i, h in enumerate(heads):
        put("http_scan", bytes([(i * 37) & 0xff, (i * 91) & 0xff]) + h)


if __name__ == "__main__":
    es_parse()
    jsonr()
    ndjson()
    config()
    cond()
    http()
    graph()
    regex_match()
    http_scan()
