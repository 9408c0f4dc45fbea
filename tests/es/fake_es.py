#!/usr/bin/env python3
"""fake_es.py - a small test Elasticsearch for vizfeed's tests (Python 3 stdlib only).

It holds documents in memory and answers the part of the Elasticsearch REST API
vizfeed uses (GET /, POST|GET /<pattern>/_search with the query DSL subset and
the composite/filter/sum aggregations of src/es_query.h) with the shapes of
/work/shared/reference/elasticsearch.md. Whatever it does not implement is
refused with a 400 error in Elasticsearch's error envelope, never silently
ignored. See docs/TEST_ELASTICSEARCH.md.

CLI:    python3 tests/es/fake_es.py --port 0 --data INDEX=FILE.ndjson ... [--tls-cert PEM --tls-key PEM]
Module: es = FakeElasticsearch(flavor="es8"); es.start(); es.load("idx", docs)
        ... es.url ... es.inject([{"named": "503"}]) ... es.requests ... es.stop()
"""
import argparse
import base64
import bisect
import collections
import datetime
import decimal
import gzip
import ipaddress
import json
import math
import re
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ---------------------------------------------------------------------------
# Flavors: what GET / says and the version-dependent behaviour (reference §1.8,
# §3.3, §3.5).

FLAVORS = {
    "es7": {
        "number": "7.17.15", "lucene": "8.11.1", "wire": "6.8.0", "index": "6.0.0-beta1",
        "build_hash": "0b8ecfb4378335f4689c4223d1f1115f16bef3ba", "build_date": "2023-11-10T22:03:46.987399016Z",
        "distribution": None, "product_header": True, "max_buckets": 65536, "tmb_status": 503,
        "tmb_reduce_old_message": False, "doc_type": True, "auth401": "es7", "compat_major": None,
    },
    "es8": {
        "number": "8.11.1", "lucene": "9.8.0", "wire": "7.17.0", "index": "7.0.0",
        "build_hash": "6f9ff581fbcde658e6f69d6ce03050f060d1fd0c", "build_date": "2023-11-11T10:05:59.421038163Z",
        "distribution": None, "product_header": True, "max_buckets": 65536, "tmb_status": 400,
        "fielddata_prefix": True, "spe_caused_by": "java",
        "tmb_reduce_old_message": False, "doc_type": False, "auth401": "es8", "compat_major": 8,
    },
    "es9": {
        "number": "9.0.3", "lucene": "10.1.0", "wire": "8.18.0", "index": "8.0.0",
        "build_hash": "cc7302afc8499e83262ba2ceaa96451681f0609d", "build_date": "2025-06-18T22:09:56.772581489Z",
        "distribution": None, "product_header": True, "max_buckets": 65536, "tmb_status": 400,
        "fielddata_prefix": True, "spe_caused_by": "java",
        "tmb_reduce_old_message": False, "doc_type": False, "auth401": "es8", "compat_major": 9,
    },
    "opensearch2": {
        "number": "2.11.0", "lucene": "9.7.0", "wire": "7.10.0", "index": "7.0.0",
        "build_hash": "4dcad6dd1fd45b6bd91f041a041829c8687278fa", "build_date": "2023-10-13T02:55:55.511945994Z",
        "distribution": "opensearch", "product_header": False, "max_buckets": 65535, "tmb_status": 503,
        "spe_caused_by": "always",
        "tmb_reduce_old_message": True, "doc_type": False, "auth401": "opensearch", "compat_major": None,
    },
}

CLUSTER_UUID = "5QaxoN0pRZuOmWSxstBBwQ"
NODE_ID = "pKbNDYClRwScKwbg6YVluQ"
WWW_AUTH_ES8 = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]
WWW_AUTH_ES7 = 'Basic realm="security" charset="UTF-8"'

# Every URL parameter the search endpoint of Elasticsearch knows (candidates for
# "did you mean"), and the subset this fake implements.
SEARCH_PARAMS_KNOWN = sorted([
    "allow_no_indices", "allow_partial_search_results", "analyze_wildcard", "analyzer", "batched_reduce_size",
    "ccs_minimize_roundtrips", "default_operator", "df", "docvalue_fields", "error_trace", "expand_wildcards",
    "explain", "filter_path", "from", "human", "ignore_throttled", "ignore_unavailable", "include_named_queries_score",
    "lenient", "max_concurrent_shard_requests", "pre_filter_shard_size", "preference", "pretty", "q",
    "request_cache", "rest_total_hits_as_int", "routing", "scroll", "search_type", "seq_no_primary_term", "size",
    "sort", "_source", "_source_excludes", "_source_includes", "stats", "stored_fields", "suggest_field",
    "suggest_mode", "suggest_size", "suggest_text", "terminate_after", "timeout", "track_scores",
    "track_total_hits", "typed_keys", "version", "force_synthetic_source", "format",
])
SEARCH_PARAMS_DONE = {
    "allow_no_indices", "ignore_unavailable", "filter_path", "pretty", "human", "error_trace", "typed_keys",
    "rest_total_hits_as_int", "track_total_hits", "size", "from", "timeout", "request_cache", "preference",
    "allow_partial_search_results", "batched_reduce_size", "max_concurrent_shard_requests",
    "pre_filter_shard_size", "ccs_minimize_roundtrips", "expand_wildcards", "search_type", "ignore_throttled",
}
QUERY_NAMES_KNOWN = sorted([
    "bool", "boosting", "combined_fields", "constant_score", "dis_max", "distance_feature", "exists", "function_score",
    "fuzzy", "geo_bounding_box", "geo_distance", "geo_grid", "geo_polygon", "geo_shape", "has_child", "has_parent",
    "ids", "intervals", "knn", "match", "match_all", "match_bool_prefix", "match_none", "match_phrase",
    "match_phrase_prefix", "more_like_this", "multi_match", "nested", "parent_id", "percolate", "pinned", "prefix",
    "query_string", "range", "rank_feature", "regexp", "script", "script_score", "shape", "simple_query_string",
    "span_containing", "span_field_masking", "span_first", "span_multi", "span_near", "span_not", "span_or",
    "span_term", "span_within", "term", "terms", "terms_set", "text_expansion", "weighted_tokens", "wildcard",
    "wrapper", "sparse_vector", "semantic", "rule", "field_masking_span",
])
QUERY_NAMES_DONE = {"bool", "term", "terms", "range", "exists", "prefix", "match_all", "match_none"}
AGG_NAMES_KNOWN = sorted([
    "adjacency_matrix", "auto_date_histogram", "avg", "boxplot", "cardinality", "categorize_text", "children",
    "composite", "cumulative_cardinality", "date_histogram", "date_range", "diversified_sampler", "extended_stats",
    "filter", "filters", "frequent_item_sets", "geo_bounds", "geo_centroid", "geo_distance", "geohash_grid",
    "geo_line", "geotile_grid", "global", "histogram", "ip_prefix", "ip_range", "matrix_stats", "max",
    "median_absolute_deviation", "min", "missing", "multi_terms", "nested", "parent", "percentile_ranks",
    "percentiles", "random_sampler", "range", "rare_terms", "rate", "reverse_nested", "sampler", "scripted_metric",
    "significant_terms", "significant_text", "stats", "string_stats", "sum", "t_test", "terms", "time_series",
    "top_hits", "top_metrics", "value_count", "variable_width_histogram", "weighted_avg", "avg_bucket",
    "bucket_script", "bucket_selector", "bucket_sort", "derivative", "max_bucket", "min_bucket", "sum_bucket",
    "moving_fn", "serial_diff", "stats_bucket", "percentiles_bucket", "cumulative_sum",
])
BODY_KEYS_DONE = {"size", "from", "query", "aggs", "aggregations", "track_total_hits", "timeout", "_source"}
BODY_KEYS_KNOWN = {
    "post_filter", "sort", "search_after", "highlight", "pit", "runtime_mappings", "fields", "docvalue_fields",
    "stored_fields", "explain", "version", "seq_no_primary_term", "min_score", "indices_boost", "suggest", "rescore",
    "collapse", "profile", "stats", "ext", "knn", "track_scores", "script_fields", "slice", "terminate_after",
    "retriever", "rank", "sub_searches", "point_in_time",
}


# ---------------------------------------------------------------------------
# Errors

class EsError(Exception):
    """An answer other than 200: status, body (dict, or str for a bare-string error), extra headers."""

    def __init__(self, status, body, headers=None):
        super().__init__(str(body)[:200])
        self.status = status
        self.body = body
        self.headers = headers or []


class ShardFailure(Exception):
    """A failure that real Elasticsearch raises on each shard (bad value for a field type,
    too many buckets at aggregator creation): becomes search_phase_execution_exception."""

    def __init__(self, reason, status, inner=None):
        super().__init__(reason.get("reason"))
        self.reason = reason
        self.status = status
        self.inner = inner  # the cause's own cause, shown in the top-level caused_by (opensearch2)


def cause(type_, reason, **meta):
    d = {"type": type_, "reason": reason}
    d.update(meta)
    return d


def error_body(type_, reason, status, root=None, caused_by=None, **meta):
    top = cause(type_, reason, **meta)
    if caused_by is not None:
        top["caused_by"] = caused_by
    return {"error": {"root_cause": root if root is not None else [cause(type_, reason, **meta)], **top},
            "status": status}


def es_error(type_, reason, status=400, caused_by=None, **meta):
    return EsError(status, error_body(type_, reason, status, caused_by=caused_by, **meta))


def not_implemented(what):
    """Something real Elasticsearch accepts but this fake does not: refuse it loudly."""
    return es_error("illegal_argument_exception", f"[fake_es] {what} is not implemented by the test Elasticsearch")


def lucene_levenshtein(a, b):
    """Lucene's LevenshteinDistance.getDistance: 1 - edits / max(len)."""
    if not a and not b:
        return 1.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return 1.0 - prev[len(b)] / max(len(a), len(b))


def suggestions(unknown, candidates):
    scored = [(lucene_levenshtein(unknown, c), c) for c in candidates]
    scored = [s for s in scored if s[0] > 0.5]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [c for _, c in scored]


def did_you_mean(unknown, candidates, arrow=False):
    keys = suggestions(unknown, candidates)
    if not keys:
        return ""
    body = f"[{keys[0]}]" if len(keys) == 1 else "any of [" + ", ".join(keys) + "]"
    return (" -> did you mean " if arrow else " did you mean ") + body + "?"


# ---------------------------------------------------------------------------
# JSON in (with token positions, for line/col in parsing errors) and out (Java style)

class JObj(dict):
    pos = 0

    def __init__(self):
        super().__init__()
        self.kpos = {}
        self.vpos = {}


class JArr(list):
    pos = 0

    def __init__(self):
        super().__init__()
        self.ipos = []


class JsonSyntax(Exception):
    def __init__(self, pos, msg):
        super().__init__(msg)
        self.pos = pos
        self.msg = msg


_NUM = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WS = " \t\r\n"


class PosJson:
    """A strict JSON parser that remembers where every key and value starts."""

    def __init__(self, text):
        self.s = text
        self.lines = [0] + [m.end() for m in re.finditer("\n", text)]

    def loc(self, pos):
        line = bisect.bisect_right(self.lines, pos)
        return line, pos - self.lines[line - 1] + 1

    def parse(self):
        i = self.ws(0)
        if i >= len(self.s):
            raise JsonSyntax(i, "Unexpected end-of-input")
        v, i = self.value(i)
        i = self.ws(i)
        if i < len(self.s):
            raise JsonSyntax(i, f"Unexpected character ('{self.s[i]}' (code {ord(self.s[i])})): expected end-of-input")
        return v

    def ws(self, i):
        while i < len(self.s) and self.s[i] in _WS:
            i += 1
        return i

    def value(self, i):
        s = self.s
        if i >= len(s):
            raise JsonSyntax(i, "Unexpected end-of-input")
        c = s[i]
        if c == "{":
            return self.obj(i)
        if c == "[":
            return self.arr(i)
        if c == '"':
            return self.string(i)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, i):
                return val, i + len(word)
        m = _NUM.match(s, i)
        if m:
            t = m.group(0)
            if m.group(1) or m.group(2):
                return float(t), m.end()
            return int(t), m.end()
        raise JsonSyntax(i, f"Unexpected character ('{c}' (code {ord(c)})): expected a valid value "
                            "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')")

    def string(self, i):
        j = i + 1
        out = []
        s = self.s
        while True:
            if j >= len(s):
                raise JsonSyntax(j, "Unexpected end-of-input in VALUE_STRING")
            c = s[j]
            if c == '"':
                return "".join(out), j + 1
            if c == "\\":
                if j + 1 >= len(s):
                    raise JsonSyntax(j, "Unexpected end-of-input in VALUE_STRING")
                e = s[j + 1]
                if e == "u":
                    h = s[j + 2:j + 6]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", h):
                        raise JsonSyntax(j, "Unexpected character in Unicode escape")
                    cp = int(h, 16)
                    j += 6
                    if 0xD800 <= cp < 0xDC00 and s.startswith("\\u", j):
                        lo = int(s[j + 2:j + 6], 16)
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        j += 6
                    out.append(chr(cp))
                    continue
                m = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
                if e not in m:
                    raise JsonSyntax(j, f"Unrecognized character escape '{e}' (code {ord(e)})")
                out.append(m[e])
                j += 2
                continue
            if ord(c) < 0x20:
                raise JsonSyntax(j, f"Illegal unquoted character ((CTRL-CHAR, code {ord(c)})): "
                                    "has to be escaped using backslash to be included in string value")
            out.append(c)
            j += 1

    def obj(self, i):
        o = JObj()
        o.pos = i
        i = self.ws(i + 1)
        if i < len(self.s) and self.s[i] == "}":
            return o, i + 1
        while True:
            if i >= len(self.s):
                raise JsonSyntax(i, "Unexpected end-of-input: expected close marker for Object")
            if self.s[i] != '"':
                raise JsonSyntax(i, f"Unexpected character ('{self.s[i]}' (code {ord(self.s[i])})): "
                                    "was expecting double-quote to start field name")
            kp = i
            k, i = self.string(i)
            i = self.ws(i)
            if i >= len(self.s) or self.s[i] != ":":
                raise JsonSyntax(i, "Unexpected character: was expecting a colon to separate field name and value")
            i = self.ws(i + 1)
            vp = i
            v, i = self.value(i)
            if k in o:
                raise JsonSyntax(kp, f"Duplicate field '{k}'")
            o[k] = v
            o.kpos[k] = kp
            o.vpos[k] = vp
            i = self.ws(i)
            if i >= len(self.s):
                raise JsonSyntax(i, "Unexpected end-of-input: expected close marker for Object")
            if self.s[i] == "}":
                return o, i + 1
            if self.s[i] != ",":
                raise JsonSyntax(i, f"Unexpected character ('{self.s[i]}' (code {ord(self.s[i])})): "
                                    "was expecting comma to separate Object entries")
            i = self.ws(i + 1)

    def arr(self, i):
        a = JArr()
        a.pos = i
        i = self.ws(i + 1)
        if i < len(self.s) and self.s[i] == "]":
            return a, i + 1
        while True:
            i = self.ws(i)
            a.ipos.append(i)
            v, i = self.value(i)
            a.append(v)
            i = self.ws(i)
            if i >= len(self.s):
                raise JsonSyntax(i, "Unexpected end-of-input: expected close marker for Array")
            if self.s[i] == "]":
                return a, i + 1
            if self.s[i] != ",":
                raise JsonSyntax(i, f"Unexpected character ('{self.s[i]}' (code {ord(self.s[i])})): "
                                    "was expecting comma to separate Array entries")
            i += 1


def java_double(d):
    """Double.toString as Jackson writes doubles: 5.0, 0.001, 1.0E7, 1.2345E-4."""
    if math.isnan(d):
        return '"NaN"'
    if math.isinf(d):
        return '"Infinity"' if d > 0 else '"-Infinity"'
    if d == 0:
        return "-0.0" if math.copysign(1, d) < 0 else "0.0"
    sign, digits, exp = decimal.Decimal(repr(float(d))).as_tuple()
    digits = "".join(map(str, digits)).lstrip("0") or "0"
    exp10 = len(digits) + exp - 1  # position of the first significant digit
    digits = digits.rstrip("0") or "0"
    neg = "-" if sign else ""
    if 1e-3 <= abs(d) < 1e7:
        if exp10 >= 0:
            ip = digits[:exp10 + 1].ljust(exp10 + 1, "0")
            fp = digits[exp10 + 1:] or "0"
        else:
            ip = "0"
            fp = "0" * (-exp10 - 1) + digits
        return f"{neg}{ip}.{fp}"
    return f"{neg}{digits[0]}.{digits[1:] or '0'}E{exp10}"


def _esc(s):
    out = ['"']
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def dumps(v, pretty=False, _ind=0):
    """JSON as Elasticsearch writes it: compact, UTF-8, doubles in Java notation;
    ?pretty gives Jackson's pretty printer (2 spaces, " : ")."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return java_double(v)
    if isinstance(v, str):
        return _esc(v)
    if isinstance(v, dict):
        if not v:
            return "{ }" if pretty else "{}"
        if pretty:
            pad = "  " * (_ind + 1)
            items = [f"{pad}{_esc(str(k))} : {dumps(x, True, _ind + 1)}" for k, x in v.items()]
            return "{\n" + ",\n".join(items) + "\n" + "  " * _ind + "}"
        return "{" + ",".join(f"{_esc(str(k))}:{dumps(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        if not v:
            return "[ ]" if pretty else "[]"
        if pretty:
            pad = "  " * (_ind + 1)
            return "[\n" + ",\n".join(pad + dumps(x, True, _ind + 1) for x in v) + "\n" + "  " * _ind + "]"
        return "[" + ",".join(dumps(x) for x in v) + "]"
    raise TypeError(f"cannot serialise {type(v)}")


# ---------------------------------------------------------------------------
# Dates (strict_date_optional_time || epoch_millis, simple date math)

_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                   r"(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$")
_DATE_DETECT = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$")


def parse_date(s):
    """strict_date_optional_time -> epoch millis (UTC when no zone), or None."""
    m = _DATE.match(s)
    if not m:
        return None
    y, mo, d, h, mi, se, frac, tz = m.groups()
    try:
        dt = datetime.datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(se or 0),
                               tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    ms = int(dt.timestamp()) * 1000 + (int((frac or "0").ljust(3, "0")[:3]))
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hh = int(tz[1:3])
        mm = int(tz[-2:]) if len(tz) > 3 else 0
        ms -= sign * (hh * 60 + mm) * 60000
    return ms


_UNITS = {"y": None, "M": None, "w": 7 * 86400000, "d": 86400000, "h": 3600000, "H": 3600000,
          "m": 60000, "s": 1000}


def _round(ms, unit, up):
    dt = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    if unit == "y":
        start = dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1)
    elif unit == "M":
        start = dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    else:
        size = _UNITS[unit]
        base = ms - (ms % size) if unit != "w" else ms - ((ms + 3 * 86400000) % size)
        return base + size - 1 if up else base
    s = int(start.timestamp() * 1000)
    return int(end.timestamp() * 1000) - 1 if up else s


def date_math(expr, up, now_ms):
    """now-5m/m, 2024-06-01||+1d, plain dates and epoch millis. None when unparseable."""
    if "||" in expr:
        anchor, rest = expr.split("||", 1)
        base = parse_date(anchor)
        if base is None and re.fullmatch(r"-?\d+", anchor):
            base = int(anchor)
    elif expr.startswith("now"):
        base, rest = now_ms, expr[3:]
    else:
        return None
    if base is None:
        return None
    for op, num, unit in re.findall(r"([+\-/])(\d*)([yMwdhHms])", rest):
        if op == "/":
            base = _round(base, unit, up)
            continue
        n = int(num or 1) * (1 if op == "+" else -1)
        if unit in ("y", "M"):
            dt = datetime.datetime.fromtimestamp(base / 1000, datetime.timezone.utc)
            months = dt.year * 12 + dt.month - 1 + (n * 12 if unit == "y" else n)
            dt = dt.replace(year=months // 12, month=months % 12 + 1)
            base = int(dt.timestamp() * 1000)
        else:
            base += n * _UNITS[unit]
    if re.sub(r"([+\-/])(\d*)([yMwdhHms])", "", rest):
        return None
    return base


# ---------------------------------------------------------------------------
# Indices: documents, dynamic mapping, value coercion

NUMERIC = ("long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long")
INTEGRAL = ("long", "integer", "short", "byte", "unsigned_long")


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def _numtext(s):
    return isinstance(s, str) and re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", s) is not None


class LoadError(Exception):
    pass


def flatten(obj, prefix, out, objects):
    """Leaf values per dotted path; arrays of objects flattened as Elasticsearch's object type does."""
    if isinstance(obj, dict):
        if prefix:
            objects.add(prefix)
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else k, out, objects)
    elif isinstance(obj, list):
        for x in obj:
            flatten(x, prefix, out, objects)
    elif obj is not None:
        out.setdefault(prefix, []).append(obj)


def java_number_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return repr(v)


def infer_type(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "float"
    if _DATE_DETECT.match(v) and parse_date(v) is not None:
        return "date"
    return "keyword"


def coerce_index(v, t, field):
    """The value Elasticsearch indexes for JSON value v in a field of type t (or LoadError)."""
    if t in INTEGRAL:
        if isinstance(v, bool):
            raise LoadError(f"failed to parse field [{field}] of type [{t}]: Current token (VALUE_TRUE) not numeric")
        if isinstance(v, (int, float)):
            return int(v)
        if _numtext(v):
            return int(float(v))
        raise LoadError(f"failed to parse field [{field}] of type [{t}]: For input string: \"{v}\"")
    if t in NUMERIC:
        if isinstance(v, bool) or not (isinstance(v, (int, float)) or _numtext(v)):
            raise LoadError(f"failed to parse field [{field}] of type [{t}]")
        x = float(v)
        return f32(x) if t in ("float", "half_float") else x
    if t == "boolean":
        if isinstance(v, bool):
            return v
        if v in ("true", "false", ""):
            return v == "true"
        raise LoadError(f"failed to parse field [{field}] of type [boolean]: "
                        f"Failed to parse value [{v}] as only [true] or [false] are allowed.")
    if t == "date":
        if isinstance(v, bool):
            raise LoadError(f"failed to parse field [{field}] of type [date]")
        if isinstance(v, (int, float)):
            return int(v)
        ms = parse_date(v)
        if ms is None and re.fullmatch(r"-?\d+", v):
            ms = int(v)
        if ms is None and re.fullmatch(r"\d+\.\d+", v):
            ms = int(v.split(".")[0])  # epoch_millis with a fraction, as the OTel exporter writes it
        if ms is None:
            raise LoadError(f"failed to parse field [{field}] of type [date]: failed to parse date field [{v}] "
                            "with format [strict_date_optional_time||epoch_millis]")
        return ms
    if t == "ip":
        # Stored as 16 bytes and shown in the canonical form: "::ffff:10.0.0.1" comes back as
        # "10.0.0.1", "2001:DB8::0:1" as "2001:db8::1".
        try:
            a = ipaddress.ip_address(v if isinstance(v, str) else java_number_text(v))
        except ValueError:
            raise LoadError(f"failed to parse field [{field}] of type [ip]: '{v}' is not an IP string literal.")
        if a.version == 6 and a.ipv4_mapped:
            a = a.ipv4_mapped
        return str(a)
    # keyword / constant_keyword / wildcard
    if isinstance(v, str):
        return v
    return java_number_text(v)


class Index:
    def __init__(self, name, mappings=None):
        self.name = name
        self.mapping = dict(mappings or {})
        self.objects = set()
        # a data stream's backing index carries its creation day in Elasticsearch's naming
        self.created = time.strftime("%Y.%m.%d", time.gmtime())
        self.docs = []  # (id, source, {field: [typed values]})

    def add(self, doc, doc_id=None):
        if isinstance(doc, dict) and "_source" in doc and isinstance(doc["_source"], dict):
            doc_id = doc.get("_id", doc_id)
            doc = doc["_source"]
        if not isinstance(doc, dict):
            raise LoadError("document must be a JSON object")
        leaves, objects = {}, set()
        flatten(doc, "", leaves, objects)
        for path in list(leaves) + list(objects):
            parts = path.split(".")
            for i in range(1, len(parts)):
                objects.add(".".join(parts[:i]))
        for path in leaves:
            if path in self.objects or path in objects:
                raise LoadError(f"object mapping for [{path}] tried to parse field [{path}] as object, "
                                "but found a concrete value")
        for path in objects:
            if path in self.mapping:
                raise LoadError(f"failed to parse field [{path}] of type [{self.mapping[path]}]: "
                                "tried to parse an object as a value")
        typed = {}
        new_types = {}
        for path, vals in leaves.items():
            t = self.mapping.get(path) or new_types.get(path) or infer_type(vals[0])
            new_types.setdefault(path, t)
            typed[path] = [coerce_index(v, t, path) for v in vals]
        for path, t in new_types.items():
            self.mapping.setdefault(path, t)
        self.objects |= objects
        if doc_id is None:
            raw = struct.pack(">II", zlib.crc32(self.name.encode()), len(self.docs)) + b"fakees"
            doc_id = base64.urlsafe_b64encode(raw).decode().rstrip("=")[:20]
        self.docs.append((str(doc_id), doc, typed))


# ---------------------------------------------------------------------------
# Query DSL: parse (syntax, as Elasticsearch's parsers) then bind per index

class Ctx:
    def __init__(self, pj):
        self.pj = pj

    def loc(self, pos):
        return self.pj.loc(pos) if self.pj else (1, 1)

    def parsing(self, pos, reason, caused_by=None):
        line, col = self.loc(pos)
        return es_error("parsing_exception", reason, 400, caused_by=caused_by, line=line, col=col)

    def xcontent(self, pos, reason):
        line, col = self.loc(pos)
        return es_error("x_content_parse_exception", f"[{line}:{col}] {reason}", 400)


def _token(v):
    if isinstance(v, dict):
        return "START_OBJECT"
    if isinstance(v, list):
        return "START_ARRAY"
    if isinstance(v, bool):
        return "VALUE_BOOLEAN"
    if isinstance(v, (int, float)):
        return "VALUE_NUMBER"
    if v is None:
        return "VALUE_NULL"
    return "VALUE_STRING"


def _pos(o, k):
    return getattr(o, "vpos", {}).get(k, getattr(o, "pos", 0))


def _kpos(o, k):
    return getattr(o, "kpos", {}).get(k, getattr(o, "pos", 0))


def parse_query(q, ctx, pos=0):
    if not isinstance(q, dict):
        raise ctx.parsing(pos, f"[_na] query malformed, must start with start_object")
    if not q:
        raise es_error("illegal_argument_exception", "query malformed, empty clause found at [%d:%d]" % ctx.loc(pos))
    keys = list(q)
    name = keys[0]
    body = q[name]
    bpos = _pos(q, name)
    if len(keys) > 1:
        raise ctx.parsing(_kpos(q, keys[1]),
                          f"[{name}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
    if name not in QUERY_NAMES_KNOWN:
        line, col = ctx.loc(bpos)
        raise ctx.parsing(bpos, f"unknown query [{name}]{did_you_mean(name, QUERY_NAMES_KNOWN)}",
                          caused_by=cause("named_object_not_found_exception", f"[{line}:{col}] unknown field [{name}]"))
    if name not in QUERY_NAMES_DONE:
        raise not_implemented(f"query [{name}]")
    if not isinstance(body, dict):
        raise ctx.parsing(bpos, f"[{name}] query malformed, no start_object after query name")
    return QUERY_PARSERS[name](body, ctx, bpos)


def _common(name, k, v, ctx, o):
    if k == "boost":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ctx.parsing(_pos(o, k), f"[{name}] query does not support [{k}]")
        return True
    return k == "_name"


def _single_field(name, body, ctx, pos, value_keys):
    """term/prefix/range style: {field: value} or {field: {...}} plus boost/_name."""
    field = None
    for k, v in body.items():
        if k in ("boost", "_name") and not isinstance(v, dict):
            continue
        if field is not None:
            raise ctx.parsing(_kpos(body, k), f"[{name}] query doesn't support multiple fields, found [{field}] and [{k}]")
        field = k
    if field is None:
        raise ctx.parsing(pos, f"[{name}] query requires a field" if name != "range" else
                          "[range] query malformed, no field to indicate field name")
    return field, body[field]


def p_term(body, ctx, pos, name="term"):
    field, v = _single_field(name, body, ctx, pos, ())
    opts = {}
    if isinstance(v, dict):
        inner = v
        v = None
        for k, x in inner.items():
            if k == "value":
                v = x
            elif k == "case_insensitive":
                if x is True:
                    raise not_implemented(f"[{name}] case_insensitive")
            elif not _common(name, k, x, ctx, inner):
                raise ctx.parsing(_kpos(inner, k), f"[{name}] query does not support [{k}]")
        if "value" not in inner:
            raise ctx.parsing(pos, f"No value specified for {name} query")
    if v is None or isinstance(v, (dict, list)):
        if v is None:
            raise es_error("illegal_argument_exception", "value cannot be null")
        raise ctx.parsing(_pos(body, field), f"[{name}] query does not support array of values"
                          if isinstance(v, list) else f"[{name}] query malformed")
    return (name, field, v) if not opts else (name, field, v, opts)


def p_prefix(body, ctx, pos):
    q = p_term(body, ctx, pos, "prefix")
    if not isinstance(q[2], str):
        q = ("prefix", q[1], java_number_text(q[2]))
    return q


def p_terms(body, ctx, pos):
    field = None
    for k, v in body.items():
        if k in ("boost", "_name"):
            continue
        if field is not None:
            raise ctx.parsing(_kpos(body, k), f"[terms] query does not support multiple fields")
        field = k
    if field is None:
        raise ctx.parsing(pos, "[terms] query requires a field")
    vals = body[field]
    if isinstance(vals, dict):
        raise not_implemented("terms lookup")
    if not isinstance(vals, list):
        raise ctx.parsing(_pos(body, field), f"[terms] query does not support [{field}]")
    for x in vals:
        if x is None:
            raise es_error("illegal_argument_exception", "No value specified for terms query")
        if isinstance(x, (dict, list)):
            raise ctx.parsing(_pos(body, field), "[terms] query does not support array of values")
    return ("terms", field, list(vals))


RANGE_KEYS = {"gte", "gt", "lte", "lt", "from", "to", "include_lower", "include_upper", "format", "time_zone",
              "relation", "boost", "_name"}


def p_range(body, ctx, pos):
    field, spec = _single_field("range", body, ctx, pos, ())
    if not isinstance(spec, dict):
        raise ctx.parsing(_pos(body, field), f"[range] query does not support [{field}]")
    bounds = {}
    fmt = None
    inc_lo, inc_hi = True, True
    frm = to = None
    for k, v in spec.items():
        if k not in RANGE_KEYS:
            raise ctx.parsing(_kpos(spec, k), f"[range] query does not support [{k}]")
        if k in ("gte", "gt", "lte", "lt"):
            if isinstance(v, (dict, list)):
                raise ctx.parsing(_pos(spec, k), f"[range] query does not support [{k}]")
            if v is not None:
                bounds[k] = v
        elif k == "from":
            frm = v
        elif k == "to":
            to = v
        elif k == "include_lower":
            inc_lo = bool(v)
        elif k == "include_upper":
            inc_hi = bool(v)
        elif k == "format":
            if not isinstance(v, str):
                raise ctx.parsing(_pos(spec, k), "[range] query does not support [format]")
            for f in v.split("||"):
                if f not in ("epoch_millis", "strict_date_optional_time", "date_optional_time", "epoch_second"):
                    raise not_implemented(f"date format [{f}]")
            fmt = v
        elif k == "time_zone":
            if v not in ("UTC", "Z", "+00:00", "Etc/UTC"):
                raise not_implemented(f"range time_zone [{v}]")
        elif k == "relation":
            if str(v).lower() not in ("intersects", "within", "contains"):
                raise es_error("illegal_argument_exception", f"[range] query does not support relation [{v}]")
    if frm is not None:
        bounds["gte" if inc_lo else "gt"] = frm
    if to is not None:
        bounds["lte" if inc_hi else "lt"] = to
    return ("range", field, bounds, fmt)


def p_exists(body, ctx, pos):
    field = None
    for k, v in body.items():
        if k == "field":
            if not isinstance(v, str):
                raise ctx.parsing(_pos(body, k), "[exists] unknown token [%s] after [field]" % _token(v))
            field = v
        elif not _common("exists", k, v, ctx, body):
            raise ctx.parsing(_kpos(body, k), f"[exists] query does not support [{k}]")
    if field is None:
        raise ctx.parsing(pos, "[exists] must be provided with a [field]")
    return ("exists", field)


def p_match_all(body, ctx, pos, name="match_all"):
    for k, v in body.items():
        if not _common(name, k, v, ctx, body):
            raise ctx.parsing(_kpos(body, k), f"[{name}] query does not support [{k}]")
    return (name,)


def p_bool(body, ctx, pos):
    clauses = {"must": [], "filter": [], "should": [], "must_not": []}
    msm = None
    for k, v in body.items():
        if k in clauses:
            vp = _pos(body, k)
            if isinstance(v, list):
                for i, x in enumerate(v):
                    clauses[k].append(parse_query(x, ctx, v.ipos[i] if hasattr(v, "ipos") else vp))
            elif isinstance(v, dict):
                clauses[k].append(parse_query(v, ctx, vp))
            else:
                raise ctx.parsing(vp, f"[bool] query does not support [{k}]")
        elif k == "minimum_should_match":
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                raise ctx.parsing(_pos(body, k), f"[bool] query does not support [{k}]")
            if isinstance(v, str) and not re.fullmatch(r"-?\d+%?", v):
                raise not_implemented(f"minimum_should_match [{v}]")
            msm = v
        elif k == "adjust_pure_negative":
            continue
        elif not _common("bool", k, v, ctx, body):
            raise ctx.parsing(_kpos(body, k), f"[bool] query does not support [{k}]")
    return ("bool", clauses, msm)


QUERY_PARSERS = {"term": p_term, "terms": p_terms, "range": p_range, "exists": p_exists, "prefix": p_prefix,
                 "match_all": p_match_all, "match_none": lambda b, c, p: p_match_all(b, c, p, "match_none"),
                 "bool": p_bool}


def _msm(spec, n):
    if spec is None:
        return None
    if isinstance(spec, int):
        m = spec
    elif spec.endswith("%"):
        pct = int(spec[:-1])
        m = int(n * pct / 100) if pct >= 0 else n - int(n * -pct / 100)
    else:
        m = int(spec)
    if m < 0:
        m = n + m
    return m


def _shard_qfail(reason_type, reason, status=400):
    return ShardFailure(cause(reason_type, reason), status)


def query_value(field, t, v, index_name):
    """Converts a query value to the field's type, as the field mapper's termQuery does.
    Returns None when the value cannot match (long term with a decimal part)."""
    try:
        if t in INTEGRAL:
            if isinstance(v, bool):
                raise ValueError(f"Cannot convert value [{java_number_text(v)}] to long")
            x = float(v) if isinstance(v, str) else v
            if isinstance(v, str) and not _numtext(v):
                raise ValueError(f'For input string: "{v}"')
            if isinstance(x, float) and x != int(x):
                return ("decimal", x)
            return int(x)
        if t in NUMERIC:
            if isinstance(v, bool) or (isinstance(v, str) and not _numtext(v)):
                raise ValueError(f'For input string: "{v}"')
            x = float(v)
            return f32(x) if t in ("float", "half_float") else x
        if t == "boolean":
            if isinstance(v, bool):
                return v
            if v in ("true", "false", ""):
                return v == "true"
            raise ValueError(f"Can't parse boolean value [{v}], expected [true] or [false]")
        if t == "date":
            return v
        return v if isinstance(v, str) else java_number_text(v)
    except ValueError as e:
        raise ShardFailure(cause("query_shard_exception", f"failed to create query: {e}",
                                 index_uuid="_na_", index=index_name), 400)


def date_bound(v, fmt, up, field, now_ms):
    fmts = (fmt or "strict_date_optional_time||epoch_millis").split("||")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "epoch_millis" in fmts:
            return int(v)
        if "epoch_second" in fmts:
            return int(v * 1000)
        v = java_number_text(v)
    if isinstance(v, str):
        if "now" in v or "||" in v:
            r = date_math(v, up, now_ms)
            if r is not None:
                return r
        for f in fmts:
            if f in ("strict_date_optional_time", "date_optional_time"):
                ms = parse_date(v)
                if ms is not None:
                    return ms
            elif f == "epoch_millis" and re.fullmatch(r"-?\d+(\.\d+)?", v):
                return int(float(v))
            elif f == "epoch_second" and re.fullmatch(r"-?\d+(\.\d+)?", v):
                return int(float(v) * 1000)
    raise ShardFailure(cause("parse_exception", f"failed to parse date field [{v}] with format "
                                                f"[{fmt or 'strict_date_optional_time||epoch_millis'}]: "
                                                f"[failed to parse date field [{v}] with format "
                                                f"[{fmt or 'strict_date_optional_time||epoch_millis'}]]"), 400)


def bind_query(q, index, now_ms):
    """A predicate over a document's typed fields for this index's mapping."""
    kind = q[0]
    mp = index.mapping
    if kind == "match_all":
        return lambda f: True
    if kind == "match_none":
        return lambda f: False
    if kind == "bool":
        clauses, msm_spec = q[1], q[2]
        must = [bind_query(c, index, now_ms) for c in clauses["must"] + clauses["filter"]]
        must_not = [bind_query(c, index, now_ms) for c in clauses["must_not"]]
        should = [bind_query(c, index, now_ms) for c in clauses["should"]]
        m = _msm(msm_spec, len(should))
        if m is None:
            m = 1 if should and not must else 0
        if m > len(should):
            return lambda f: False

        def pred(f):
            for p in must:
                if not p(f):
                    return False
            for p in must_not:
                if p(f):
                    return False
            if m:
                hits = 0
                for p in should:
                    if p(f):
                        hits += 1
                        if hits >= m:
                            return True
                return False
            return True
        return pred
    field = q[1]
    if kind == "exists":
        sub = field + "."
        subs = [p for p in mp if p.startswith(sub)]
        return lambda f: field in f or any(p in f for p in subs)
    t = mp.get(field)
    if t is None:  # unmapped: matches nothing
        return lambda f: False
    if kind == "prefix":
        if t not in ("keyword", "ip", "wildcard", "constant_keyword", "text"):
            raise ShardFailure(cause("query_shard_exception",
                                     f"Can only use prefix queries on keyword, text and wildcard fields - not on "
                                     f"[{field}] which is of type [{t}]", index_uuid="_na_", index=index.name), 400)
        pre = q[2]
        return lambda f: any(isinstance(x, str) and x.startswith(pre) for x in f.get(field, ()))
    if kind in ("term", "terms"):
        vals = [q[2]] if kind == "term" else q[2]
        want = set()
        for v in vals:
            if t == "date":
                want.add(date_bound(v, None, False, field, now_ms))
                continue
            x = query_value(field, t, v, index.name)
            if isinstance(x, tuple):
                continue  # a decimal never equals a long
            want.add(x)
        return lambda f: any(x in want for x in f.get(field, ()))
    if kind == "range":
        bounds, fmt = q[2], q[3]
        conv = {}
        for k, v in bounds.items():
            if t == "date":
                conv[k] = date_bound(v, fmt, k in ("gt", "lte"), field, now_ms)
            elif t in NUMERIC:
                x = query_value(field, t, v, index.name)
                conv[k] = x[1] if isinstance(x, tuple) else x
            elif t == "boolean":
                conv[k] = query_value(field, t, v, index.name)
            else:
                conv[k] = v if isinstance(v, str) else java_number_text(v)
        lo_k = "gt" if "gt" in conv else ("gte" if "gte" in conv else None)
        hi_k = "lt" if "lt" in conv else ("lte" if "lte" in conv else None)

        def inrange(x):
            if lo_k == "gt" and not x > conv["gt"]:
                return False
            if lo_k == "gte" and not x >= conv["gte"]:
                return False
            if hi_k == "lt" and not x < conv["lt"]:
                return False
            if hi_k == "lte" and not x <= conv["lte"]:
                return False
            return True
        return lambda f: any(inrange(x) for x in f.get(field, ()))
    raise AssertionError(kind)


# ---------------------------------------------------------------------------
# Aggregations: composite (terms sources), filter, sum

AGG_NAME_RE = re.compile(r"[^\[\]>]+$")


def parse_aggs(aggs, ctx, pos, parent=None):
    if not isinstance(aggs, dict):
        raise ctx.parsing(pos, f"Unexpected token {_token(aggs)} in [aggs].")
    out = []
    for name, spec in aggs.items():
        npos = _kpos(aggs, name)
        if not AGG_NAME_RE.match(name):
            raise ctx.parsing(npos, f"Invalid aggregation name [{name}]. Aggregation names can contain any "
                                    "character except '[', ']', and '>'")
        if not isinstance(spec, dict):
            raise ctx.parsing(_pos(aggs, name), f"Expected [START_OBJECT] under [{name}], but got a "
                                                f"[{_token(spec)}] in [{name}]")
        kind = body = None
        subs = []
        meta = None
        for k, v in spec.items():
            kp = _kpos(spec, k)
            if k in ("aggs", "aggregations"):
                if subs:
                    raise ctx.parsing(kp, f"Found two sub aggregation definitions under [{name}]")
                subs = None if v is None else v
                continue
            if k == "meta":
                meta = v
                continue
            if kind is not None:
                raise ctx.parsing(kp, f"Found two aggregation type definitions in [{name}]: [{kind}] and [{k}]")
            if k not in AGG_NAMES_KNOWN:
                vpos = _pos(spec, k)
                line, col = ctx.loc(vpos)
                raise ctx.parsing(vpos, f"Unknown aggregation type [{k}]{did_you_mean(k, AGG_NAMES_KNOWN)}",
                                  caused_by=cause("named_object_not_found_exception",
                                                  f"[{line}:{col}] unknown field [{k}]"))
            if k not in ("composite", "filter", "sum", "max", "value_count"):
                raise not_implemented(f"aggregation [{k}]")
            kind, body = k, v
        if kind is None:
            raise ctx.parsing(_pos(aggs, name), f"Missing definition for aggregation [{name}]")
        if meta is not None:
            raise not_implemented("aggregation meta")
        sub_parsed = parse_aggs(subs, ctx, _pos(spec, "aggs"), kind) if subs else []
        bpos = _pos(spec, kind)
        if kind == "composite":
            if parent is not None:
                if parent == "filter":
                    raise not_implemented("[composite] under a [filter] aggregation")
                raise es_error("illegal_argument_exception",
                               f"[composite] aggregation cannot be used with a parent aggregation of type: "
                               f"[{parent.capitalize()}AggregatorFactory]")
            parsed = parse_composite(body, ctx, bpos, name)
        elif kind == "filter":
            parsed = parse_query(body, ctx, bpos) if body != {} else ("match_all",)
        else:
            # max and value_count (latency) take the same body as sum here
            parsed = parse_sum(body, ctx, bpos)
            if sub_parsed:
                raise EsError(400, error_body("aggregation_initialization_exception",
                                              f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations",
                                              400))
        out.append((name, kind, parsed, sub_parsed))
    return out


def _object_parser_unknown(ctx, o, k, parser, fields):
    raise ctx.xcontent(_kpos(o, k), f"[{parser}] unknown field [{k}]{did_you_mean(k, fields)}")


def parse_sum(body, ctx, pos):
    if not isinstance(body, dict):
        raise ctx.xcontent(pos, "[sum] expected object")
    field, missing = None, None
    for k, v in body.items():
        if k == "field":
            field = v
        elif k == "missing":
            missing = v
        elif k in ("script", "format", "value_type"):
            raise not_implemented(f"[sum] {k}")
        else:
            _object_parser_unknown(ctx, body, k, "sum", ["field", "missing", "script", "format", "value_type"])
    if field is None:
        raise es_error("illegal_argument_exception", "Required one of fields [field, script], but none were specified.")
    return {"field": field, "missing": missing}


COMPOSITE_FIELDS = ["after", "size", "sources"]
TERMS_SOURCE_FIELDS = ["field", "format", "missing_bucket", "missing_order", "order", "script", "value_type",
                       "user_value_type"]


def parse_composite(body, ctx, pos, name):
    if not isinstance(body, dict):
        raise ctx.xcontent(pos, "[composite] expected object")
    size, sources, after = 10, None, None
    for k, v in body.items():
        if k == "size":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ctx.xcontent(_pos(body, k), f"[composite] failed to parse field [size]")
            size = v
        elif k == "sources":
            sources = v
        elif k == "after":
            if not isinstance(v, dict):
                raise ctx.xcontent(_pos(body, k), "[composite] failed to parse field [after]")
            after = v
        else:
            _object_parser_unknown(ctx, body, k, "composite", COMPOSITE_FIELDS)
    if sources is None:
        raise es_error("illegal_argument_exception", "Required [sources]")
    if not isinstance(sources, list):
        raise ctx.xcontent(_pos(body, "sources"), "[composite] sources doesn't support values of type: "
                                                  + _token(sources))
    if size < 1:
        raise es_error("illegal_argument_exception", f"[size] must be greater than 0. Found [{size}] in [{name}]")
    srcs = []
    for i, s in enumerate(sources):
        spos = sources.ipos[i] if hasattr(sources, "ipos") else pos
        if not isinstance(s, dict) or len(s) != 1:
            raise ctx.parsing(spos, "Expected [START_OBJECT] with a single key for a composite source")
        sname = next(iter(s))
        sv = s[sname]
        if not isinstance(sv, dict) or len(sv) != 1:
            raise ctx.parsing(_pos(s, sname), f"Expected a single value source type under [{sname}]")
        stype = next(iter(sv))
        if stype == "date_histogram":
            srcs.append(parse_date_histogram_source(sname, sv[stype], ctx, _pos(sv, stype)))
            continue
        if stype in ("histogram", "geotile_grid"):
            raise not_implemented(f"composite source type [{stype}]")
        if stype != "terms":
            raise ctx.parsing(_pos(sv, stype), f"invalid source type: {stype}")
        spec = sv[stype]
        if not isinstance(spec, dict):
            raise ctx.xcontent(_pos(sv, stype), "[terms] expected object")
        src = {"name": sname, "field": None, "missing_bucket": False, "order": "asc", "missing_order": "default"}
        for k, v in spec.items():
            if k == "field":
                src["field"] = v
            elif k == "missing_bucket":
                if not isinstance(v, bool):
                    raise ctx.xcontent(_pos(spec, k), "[terms] failed to parse field [missing_bucket]")
                src["missing_bucket"] = v
            elif k == "order":
                if str(v).lower() not in ("asc", "desc"):
                    raise es_error("illegal_argument_exception", f"Unknown order direction [{v}]")
                src["order"] = str(v).lower()
            elif k == "missing_order":
                if str(v).lower() not in ("first", "last", "default"):
                    raise es_error("illegal_argument_exception", f"Unknown MissingOrder value [{v}]")
                src["missing_order"] = str(v).lower()
            elif k in ("script", "format", "value_type", "user_value_type"):
                raise not_implemented(f"composite terms source [{k}]")
            else:
                _object_parser_unknown(ctx, spec, k, "terms", TERMS_SOURCE_FIELDS)
        if src["field"] is None:
            raise es_error("illegal_argument_exception", f"Composite [sources] [{sname}] requires a field or a script")
        if src["missing_order"] != "default" and not src["missing_bucket"]:
            raise es_error("illegal_argument_exception",
                           "missingOrder can only be set if missingBucket is true")
        srcs.append(src)
    names = [s["name"] for s in srcs]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise es_error("illegal_argument_exception",
                       f"Composite source names must be unique, found duplicates: [{', '.join(dups)}]")
    if after is not None:
        if len(after) != len(srcs):
            raise es_error("illegal_argument_exception",
                           f"[after] has {len(after)} value(s) but [sources] has {len(srcs)}")
        for s in srcs:
            if s["name"] not in after:
                raise es_error("illegal_argument_exception", f"Missing value for [after.{s['name']}]")
            v = after[s["name"]]
            if v is None and not s["missing_bucket"]:
                raise es_error("illegal_argument_exception",
                               f"Cannot set missing after key for [{s['name']}] when [missing_bucket] is false")
            if isinstance(v, (dict, list)):
                raise es_error("illegal_argument_exception", f"Invalid value for [after.{s['name']}]")
    return {"size": size, "sources": srcs, "after": after}


DATE_HISTOGRAM_SOURCE_FIELDS = ["calendar_interval", "field", "fixed_interval", "format", "interval", "missing_bucket",
                                "missing_order", "offset", "order", "script", "time_zone", "value_type"]
_FIXED_UNITS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def parse_date_histogram_source(sname, spec, ctx, pos):
    """A composite date_histogram source with a fixed_interval (what an incremental vizfeed query sends):
    its key is the bucket's start in epoch ms, floor(t / interval) * interval, counted from the epoch in
    UTC as Elasticsearch's fixed intervals are."""
    if not isinstance(spec, dict):
        raise ctx.xcontent(pos, "[date_histogram] expected object")
    src = {"name": sname, "field": None, "missing_bucket": False, "order": "asc", "missing_order": "default",
           "interval_ms": None}
    for k, v in spec.items():
        if k == "field":
            src["field"] = v
        elif k == "fixed_interval":
            m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", v) if isinstance(v, str) else None
            if not m or int(m.group(1)) == 0:
                # Elasticsearch's words for a fixed_interval it cannot read
                raise es_error("illegal_argument_exception",
                               f"failed to parse setting [date_histogram.fixedInterval] with value [{v}] as a time "
                               "value: unit is missing or unrecognized" if not m else
                               "Zero or negative time interval not supported")
            src["interval_ms"] = int(m.group(1)) * _FIXED_UNITS[m.group(2)]
        elif k == "missing_bucket":
            if not isinstance(v, bool):
                raise ctx.xcontent(_pos(spec, k), "[date_histogram] failed to parse field [missing_bucket]")
            src["missing_bucket"] = v
        elif k == "order":
            if str(v).lower() not in ("asc", "desc"):
                raise es_error("illegal_argument_exception", f"Unknown order direction [{v}]")
            src["order"] = str(v).lower()
        elif k in ("calendar_interval", "interval", "format", "offset", "time_zone", "script", "value_type",
                   "missing_order"):
            raise not_implemented(f"composite date_histogram source [{k}]")
        else:
            _object_parser_unknown(ctx, spec, k, "date_histogram", DATE_HISTOGRAM_SOURCE_FIELDS)
    if src["field"] is None:
        raise es_error("illegal_argument_exception", f"Composite [sources] [{sname}] requires a field or a script")
    if src["interval_ms"] is None:
        raise es_error("illegal_argument_exception", "Invalid interval specified, must be non-null and non-empty")
    return src


class Bucketer:
    def __init__(self, max_buckets):
        self.count = 0
        self.max = max_buckets


def _cmp_key(v, t):
    """Sort rank within one source: numbers numerically, strings bytewise (= code point order),
    ip addresses by their 16 bytes, IPv4 as IPv4-mapped IPv6, so that "::1" comes before
    "10.0.0.1" (seen on OpenSearch 2.19.6, tests/scenario/test_engine.py)."""
    if t == "ip" and isinstance(v, str):
        return (1, _ip_bytes(v))
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, (int, float)):
        return (0, v)
    return (1, v)


def _ip_bytes(v):
    try:
        a = ipaddress.ip_address(v)
    except ValueError:
        return v.encode()
    return (ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + a.packed) if a.version == 4 else a).packed


def _src_sort(v, src, t=None):
    nulls_first = src["missing_order"] == "first" or (src["missing_order"] == "default" and src["order"] == "asc")
    desc = src["order"] == "desc"
    if v is None:
        return (0 if nulls_first else 2,)
    k = _cmp_key(v, t)
    if desc:
        k = (-k[0],) + ((-k[1],) if k[0] == 0 else (_Rev(k[1]),))
    return (1, k)


class _Rev:
    __slots__ = ("s",)

    def __init__(self, s):
        self.s = s

    def __lt__(self, o):
        return self.s > o.s

    def __gt__(self, o):
        return self.s < o.s

    def __eq__(self, o):
        return self.s == o.s

    def __le__(self, o):
        return self.s >= o.s

    def __ge__(self, o):
        return self.s <= o.s


def _after_value(v, t):
    if v is None:
        return None
    if t in INTEGRAL or t == "date":
        try:
            return int(v) if not isinstance(v, str) else int(float(v))
        except ValueError:
            raise es_error("illegal_argument_exception", f'For input string: "{v}"')
    if t in NUMERIC:
        return float(v)
    if t == "boolean":
        return v if isinstance(v, bool) else v == "true"
    return v if isinstance(v, str) else java_number_text(v)


def run_aggs(aggs, docs, now_ms, bk, typed_keys, after_check=True):
    """docs: list of (index, typed fields). Returns the rendered aggregations dict."""
    out = {}
    for name, kind, spec, subs in aggs:
        key = f"{kind}#{name}" if typed_keys else name
        if kind == "sum":
            field, missing = spec["field"], spec["missing"]
            total = 0.0
            for index, f in docs:
                t = index.mapping.get(field)
                if t is not None and t not in NUMERIC and t not in ("date", "boolean"):
                    raise ShardFailure(cause("illegal_argument_exception",
                                             f"Field [{field}] of type [{t}] is not supported for aggregation [sum]"),
                                       400)
                vals = f.get(field)
                if vals:
                    total += sum(float(v) for v in vals)
                elif missing is not None:
                    total += float(missing)
            out[key] = {"value": float(total)}
        elif kind in ("max", "value_count"):
            # Elasticsearch: max over no value is null; value_count counts values (an array counts each).
            field = spec["field"]
            vals = []
            for index, f in docs:
                t = index.mapping.get(field)
                if kind == "max" and t is not None and t not in NUMERIC and t not in ("date", "boolean"):
                    raise ShardFailure(cause("illegal_argument_exception",
                                             f"Field [{field}] of type [{t}] is not supported for aggregation [max]"),
                                       400)
                vals += f.get(field) or []
            if kind == "max":
                out[key] = {"value": max(float(v) for v in vals) if vals else None}
            else:
                out[key] = {"value": len(vals)}
        elif kind == "filter":
            sel = []
            preds = {}
            for index, f in docs:
                p = preds.get(index.name)
                if p is None:
                    p = preds[index.name] = bind_query(spec, index, now_ms)
                if p(f):
                    sel.append((index, f))
            body = {"doc_count": len(sel)}
            body.update(run_aggs(subs, sel, now_ms, bk, typed_keys))
            out[key] = body
        else:
            out[key] = run_composite(spec, subs, docs, now_ms, bk, typed_keys)
    return out


def run_composite(spec, subs, docs, now_ms, bk, typed_keys):
    sources = spec["sources"]
    groups = {}
    for index, f in docs:
        per = []
        for s in sources:
            vals = f.get(s["field"])
            if vals and s.get("interval_ms"):
                # date_histogram: each value's bucket start (floor, also before 1970)
                step = s["interval_ms"]
                per.append(list(dict.fromkeys(int(v) // step * step for v in vals)))
            elif vals:
                per.append(list(dict.fromkeys(vals)))
            elif s["missing_bucket"]:
                per.append([None])
            else:
                per = None
                break
        if per is None:
            continue
        combos = [()]
        for vals in per:
            combos = [c + (v,) for c in combos for v in vals]
        for c in combos:
            groups.setdefault(c, []).append((index, f))

    types = {}
    for index, _ in docs:
        for s in sources:
            if types.get(s["name"]) is None:
                types[s["name"]] = index.mapping.get(s["field"])

    def sortkey(k):
        return tuple(_src_sort(v, s, types.get(s["name"])) for v, s in zip(k, sources))
    keys = sorted(groups, key=sortkey)
    if spec["after"] is not None:
        after = tuple(_after_value(spec["after"][s["name"]], types.get(s["name"])) for s in sources)
        ak = sortkey(after)
        keys = [k for k in keys if sortkey(k) > ak]
    keys = keys[:spec["size"]]
    bk.count += len(keys)
    buckets = []
    for k in keys:
        b = {"key": {s["name"]: v for s, v in zip(sources, k)}, "doc_count": len(groups[k])}
        b.update(run_aggs(subs, groups[k], now_ms, bk, typed_keys))
        buckets.append(b)
    res = {}
    if buckets:
        res["after_key"] = dict(buckets[-1]["key"])
    res["buckets"] = buckets
    return res


def check_aggs(aggs, index, now_ms, fielddata_prefix=False):
    """What each shard checks when it creates the aggregators (field types, filter queries).
    fielddata_prefix: the flavor names field and index before a text field's refusal."""
    for name, kind, spec, subs in aggs:
        if kind == "composite":
            # A terms source needs doc values, which a text field has not (fielddata is off): the
            # words of OpenSearch 2.19.6 and Elasticsearch 7-9, as the engine test saw them.
            for src in spec["sources"]:
                t = index.mapping.get(src["field"])
                if src.get("interval_ms") and t is not None and t != "date" and t not in NUMERIC:
                    raise ShardFailure(cause("illegal_argument_exception",
                                             f"Field [{src['field']}] of type [{t}] is not supported for aggregation "
                                             "[date_histogram]"), 400)
                if index.mapping.get(src["field"]) == "text":
                    # Elasticsearch 8.19 and 9.5 say first which field of which index
                    prefix = (f"Fielddata is disabled on [{src['field']}] in [{index.name}]. "
                              if fielddata_prefix else "")
                    failure = ShardFailure(cause(
                        "illegal_argument_exception",
                        prefix + "Text fields are not optimised for operations that require per-document field data like "
                        "aggregations and sorting, so these operations are disabled by default. Please use a keyword "
                        f"field instead. Alternatively, set fielddata=true on [{src['field']}] in order to load field "
                        "data by uninverting the inverted index. Note that this can use significant memory."), 400)
                    failure.inner = dict(failure.reason)
                    raise failure
        if kind == "sum":
            t = index.mapping.get(spec["field"])
            if t is not None and t not in NUMERIC and t not in ("date", "boolean"):
                raise ShardFailure(cause("illegal_argument_exception",
                                         f"Field [{spec['field']}] of type [{t}] is not supported for aggregation "
                                         "[sum]"), 400)
        elif kind == "filter":
            bind_query(spec, index, now_ms)
        check_aggs(subs, index, now_ms, fielddata_prefix)


def composite_sizes(aggs):
    for name, kind, spec, subs in aggs:
        if kind == "composite":
            yield spec["size"]
        yield from composite_sizes(subs)


# ---------------------------------------------------------------------------
# filter_path (common-options "Response Filtering")

def _seg_match(seg, key):
    if "*" not in seg:
        return seg == key
    return re.fullmatch(".*".join(re.escape(p) for p in seg.split("*")), key) is not None


def _step(patterns, key):
    out = []
    for p in patterns:
        s = p[0]
        if s == "**":
            out.append(p)
            if len(p) > 1:
                out.extend(_step([p[1:]], key))
        elif _seg_match(s, key):
            out.append(p[1:])
    return out


_DROP = object()


def _include(node, patterns):
    """Keeps what the include patterns select. A fully matched node is kept whole (empty arrays
    and objects included); elsewhere containers left empty are dropped (elastic/elasticsearch#63842)."""
    if any(len(p) == 0 for p in patterns):
        return node
    if isinstance(node, dict):
        res = {}
        for k, v in node.items():
            nxt = _step(patterns, k)
            if nxt:
                r = _include(v, nxt)
                if r is not _DROP:
                    res[k] = r
        return res if res else _DROP
    if isinstance(node, list):
        res = [r for r in (_include(v, patterns) for v in node) if r is not _DROP]
        return res if res else _DROP
    return node if any(p == ["**"] for p in patterns) else _DROP


def _exclude(node, patterns):
    if isinstance(node, dict):
        res = {}
        for k, v in node.items():
            nxt = _step(patterns, k)
            if any(len(p) == 0 for p in nxt):
                continue
            res[k] = _exclude(v, nxt) if nxt else v
        return res
    if isinstance(node, list):
        return [_exclude(v, patterns) for v in node]
    return node


def filter_path(body, spec):
    inc, exc = [], []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("-"):
            exc.append(part[1:].split("."))
        else:
            inc.append(part.split("."))
    if inc:
        body = _include(body, inc)
        if body is _DROP:
            body = {}
    if exc:
        body = _exclude(body, exc)
    return body


# ---------------------------------------------------------------------------
# The server

def _html_502():
    return ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n"
            "</body>\r\n</html>\r\n")


CANNED_NAMES = {"too_many_buckets", "timed_out_partial", "shard_failures", "proxy_html_502", "empty", "truncated",
                "not_found", "unauthorized", "forbidden", "bad_request", "429", "503", "cycling_after_key"}

FORBIDDEN_BODY = {"error": {"root_cause": [{"type": "security_exception", "reason": "action [indices:data/read/search] is unauthorized for user [feeder] with effective roles [feeder_role] on indices [packetbeat-8.12.0], this action is granted by the index privileges [read,all]"}], "type": "security_exception", "reason": "action [indices:data/read/search] is unauthorized for user [feeder] with effective roles [feeder_role] on indices [packetbeat-8.12.0], this action is granted by the index privileges [read,all]"}, "status": 403}  # noqa: E501  reference §3.3 (CONSTRUCTED there)
PARSING_BODY = '{"error":{"root_cause":[{"type":"parsing_exception","reason":"unknown query [termm] did you mean any of [term, terms]?","line":2,"col":11}],"type":"parsing_exception","reason":"unknown query [termm] did you mean any of [term, terms]?","line":2,"col":11,"caused_by":{"type":"named_object_not_found_exception","reason":"[2:11] unknown field [termm]"}},"status":400}'  # noqa: E501  reference §3.3 VERBATIM
CIRCUIT_BODY = '{"error":{"root_cause":[{"type":"circuit_breaking_exception","reason":"[parent] Data too large, data for [<http_request>] would be [511827536/488.1mb], which is larger than the limit of [510027366/486.3mb], real usage: [511827256/488.1mb], new bytes reserved: [280/280b], usages [request=0/0b, fielddata=0/0b, in_flight_requests=280/280b, accounting=30448/29.7kb]","bytes_wanted":511827536,"bytes_limit":510027366,"durability":"PERMANENT"}],"type":"circuit_breaking_exception","reason":"[parent] Data too large, data for [<http_request>] would be [511827536/488.1mb], which is larger than the limit of [510027366/486.3mb], real usage: [511827256/488.1mb], new bytes reserved: [280/280b], usages [request=0/0b, fielddata=0/0b, in_flight_requests=280/280b, accounting=30448/29.7kb]","bytes_wanted":511827536,"bytes_limit":510027366,"durability":"PERMANENT"},"status":429}'  # noqa: E501  reference §3.3 VERBATIM
ALL_SHARDS_503 = {"error": {"root_cause": [], "type": "search_phase_execution_exception", "reason": "all shards failed",
                            "phase": "query", "grouped": True, "failed_shards": []}, "status": 503}


class Answer:
    def __init__(self, status, body=b"", headers=None, ctype="application/json", es=True):
        self.es = es  # False: not Elasticsearch speaking (a proxy, a raw injected answer)
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        self.ctype = ctype


class FakeElasticsearch:
    """The test Elasticsearch. start() binds 127.0.0.1:port (0 = any), url is its base URL.
    With tls_cert and tls_key (PEM chain and key) it serves HTTPS only; failed handshakes go to tls_errors."""

    def __init__(self, port=0, flavor="es8", max_buckets=None, user=None, password=None, api_key=None,
                 bearer=None, log_limit=1000, body_log_limit=1 << 20, tls_cert=None, tls_key=None):
        if flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}; one of {sorted(FLAVORS)}")
        self.port = port
        self.flavor = flavor
        self.fl = FLAVORS[flavor]
        self.max_buckets = max_buckets if max_buckets is not None else self.fl["max_buckets"]
        self.user, self.password, self.bearer = user, password, bearer
        self.api_key = None
        if api_key:
            self.api_key = (base64.b64encode(api_key.encode()).decode() if ":" in api_key else api_key)
        self.indices = {}
        self.lock = threading.RLock()
        self.faults = []
        self._requests = collections.deque(maxlen=log_limit)
        self.body_log_limit = body_log_limit
        self.httpd = None
        self.thread = None
        self.now_ms = None  # fixed "now" for date math; None = the clock
        # TLS: the certificate chain (PEM, server first) and its key; both or neither.
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self._tls_errors = collections.deque(maxlen=log_limit)

    # -- module API --------------------------------------------------------
    def start(self):
        ctx = None
        if self.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls_cert, self.tls_key)  # before binding: a bad file leaves no socket open
            ctx.set_alpn_protocols(["http/1.1"])
        self.httpd = _Server(("127.0.0.1", self.port), _Handler)
        self.httpd.fake = self
        self.port = self.httpd.server_address[1]
        if ctx:
            # The handshake waits for the handler's thread (do_handshake_on_connect=False):
            # a client that fails it, or never sends a ClientHello, must not hold up accept().
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"{'https' if self.tls_cert else 'http'}://127.0.0.1:{self.port}"

    def load(self, index, docs, mappings=None):
        """Adds documents (dicts: Beats documents, or hits with _source) to index (created if needed).
        mappings: optional {dotted field: type}. Raises LoadError as Elasticsearch would refuse the doc."""
        with self.lock:
            idx = self.indices.get(index)
            if idx is None:
                if not re.fullmatch(r"[^A-Z\\/*?\"<>| ,#:]+", index) or index[0] in "-_+":
                    raise LoadError(f"Invalid index name [{index}]")
                idx = self.indices[index] = Index(index, mappings)
            elif mappings:
                for k, v in mappings.items():
                    if idx.mapping.get(k, v) != v:
                        raise LoadError(f"mapper [{k}] cannot be changed from type [{idx.mapping[k]}] to [{v}]")
                    idx.mapping[k] = v
            for d in docs:
                idx.add(d)
        return self

    def load_ndjson(self, index, path, mappings=None):
        docs = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        docs.append(json.loads(line))
                    except ValueError as e:
                        raise LoadError(f"{path}:{n}: {e}")
        return self.load(index, docs, mappings)

    def delete_index(self, index):
        with self.lock:
            self.indices.pop(index, None)

    def inject(self, faults):
        """Queues faults (a dict or a list); each is used by one request, or by every request while
        'always' is true, until clear()."""
        if isinstance(faults, dict):
            faults = [faults]
        with self.lock:
            for f in faults:
                validate_fault(f)
                self.faults.append(dict(f))

    def clear(self):
        with self.lock:
            self.faults.clear()

    def clear_requests(self):
        with self.lock:
            self._requests.clear()
            self._tls_errors.clear()

    @property
    def requests(self):
        with self.lock:
            return [dict(r) for r in self._requests]

    @property
    def tls_errors(self):
        """The TLS handshakes that failed, oldest first: [{time, peer, error}]. The error is
        OpenSSL's reason code, e.g. "TLSV1_ALERT_UNKNOWN_CA" when the client rejected the certificate."""
        with self.lock:
            return [dict(e) for e in self._tls_errors]

    def tls_failed(self, peer, e):
        reason = getattr(e, "reason", None) or str(e) or type(e).__name__
        with self.lock:
            self._tls_errors.append({"time": time.time(), "peer": f"{peer[0]}:{peer[1]}", "error": reason})
        print(f"fake_es: TLS handshake with {peer[0]}:{peer[1]} failed: {reason}", file=sys.stderr, flush=True)

    def _next_fault(self, path):
        with self.lock:
            for i, f in enumerate(self.faults):
                if f.get("path") and not re.search(f["path"], path):
                    continue
                if not f.get("always"):
                    del self.faults[i]
                return f
        return None

    # -- request handling --------------------------------------------------
    def now(self):
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    def banner(self):
        fl = self.fl
        if fl["distribution"]:
            version = {"distribution": fl["distribution"], "number": fl["number"], "build_type": "tar",
                       "build_hash": fl["build_hash"], "build_date": fl["build_date"], "build_snapshot": False,
                       "lucene_version": fl["lucene"], "minimum_wire_compatibility_version": fl["wire"],
                       "minimum_index_compatibility_version": fl["index"]}
            tagline = "The OpenSearch Project: https://opensearch.org/"
        else:
            version = {"number": fl["number"], "build_flavor": "default", "build_type": "docker",
                       "build_hash": fl["build_hash"], "build_date": fl["build_date"], "build_snapshot": False,
                       "lucene_version": fl["lucene"], "minimum_wire_compatibility_version": fl["wire"],
                       "minimum_index_compatibility_version": fl["index"]}
            tagline = "You Know, for Search"
        return {"name": "fake-es-0", "cluster_name": "vizfeed-test", "cluster_uuid": CLUSTER_UUID,
                "version": version, "tagline": tagline}

    def auth_error(self, uri, header):
        if not (self.user or self.api_key or self.bearer):
            return None
        scheme, _, cred = (header or "").partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self.user is not None:
            try:
                u, _, p = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
            except Exception:
                u, p = None, None
            if u == self.user and p == self.password:
                return None
            reason = f"unable to authenticate user [{u}] for REST request [{uri}]"
        elif scheme == "apikey" and self.api_key is not None and cred.strip() == self.api_key:
            return None
        elif scheme == "bearer" and self.bearer is not None and cred.strip() == self.bearer:
            return None
        elif header:
            reason = ("unable to authenticate with provided credentials and anonymous access is not allowed "
                      "for this request")
        else:
            reason = f"missing authentication credentials for REST request [{uri}]"
        return self.unauthorized(uri, reason)

    def unauthorized(self, uri, reason=None):
        reason = reason or f"missing authentication credentials for REST request [{uri}]"
        style = self.fl["auth401"]
        if style == "opensearch":
            return Answer(401, b"Unauthorized", [("WWW-Authenticate", 'Basic realm="OpenSearch Security"')],
                          "text/plain; charset=UTF-8")
        hv = WWW_AUTH_ES7 if style == "es7" else WWW_AUTH_ES8
        body = error_body("security_exception", reason, 401, header={"WWW-Authenticate": hv})
        hdrs = [("WWW-Authenticate", h) for h in (hv if isinstance(hv, list) else [hv])]
        return Answer(401, body, hdrs)

    def tmb_shard(self, size):
        msg = (f"Trying to create too many buckets. Must be less than or equal to: [{self.max_buckets}] but was "
               f"[{size}]. This limit can be set by changing the [search.max_buckets] cluster level setting.")
        return ShardFailure(cause("too_many_buckets_exception", msg, max_buckets=self.max_buckets),
                            self.fl["tmb_status"])

    def tmb_reduce(self, count=None):
        st = self.fl["tmb_status"]
        if self.fl["tmb_reduce_old_message"]:
            msg = (f"Trying to create too many buckets. Must be less than or equal to: [{self.max_buckets}] but was "
                   f"[{count or self.max_buckets + 1}]. This limit can be set by changing the [search.max_buckets] "
                   "cluster level setting.")
        else:
            msg = (f"Trying to create too many buckets. Must be less than or equal to: [{self.max_buckets}] but this "
                   "number of buckets was exceeded. This limit can be set by changing the [search.max_buckets] "
                   "cluster level setting.")
        return EsError(st, {"error": {"root_cause": [], "type": "search_phase_execution_exception", "reason": "",
                                      "phase": "fetch", "grouped": True, "failed_shards": [],
                                      "caused_by": cause("too_many_buckets_exception", msg,
                                                         max_buckets=self.max_buckets)},
                            "status": st})

    def index_not_found(self, name):
        body = error_body("index_not_found_exception", f"no such index [{name}]", 404,
                          **{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_",
                             "index": name})
        return EsError(404, body, [("es.index_uuid", "_na_"), ("es.resource.type", "index_or_alias"),
                                   ("es.resource.id", name), ("es.index", name)])

    def resolve(self, expr, ignore_unavailable, allow_no_indices):
        """Multi-target syntax: comma list, * wildcards, -exclusions, _all."""
        names = sorted(self.indices)
        result = []
        parts = [p for p in expr.split(",")] if expr else ["_all"]
        wildcard_seen = False
        for i, p in enumerate(parts):
            if p == "":
                continue
            if p.startswith("-") and wildcard_seen:
                pat = p[1:]
                result = [n for n in result if not _seg_match(pat, n)]
                continue
            if p in ("_all", "*"):
                wildcard_seen = True
                result += [n for n in names if not n.startswith(".") and n not in result]
                continue
            if "*" in p:
                wildcard_seen = True
                hits = [n for n in names if _seg_match(p, n) and (p.startswith(".") or not n.startswith("."))]
                if not hits and not allow_no_indices:
                    raise self.index_not_found(p)
                result += [n for n in hits if n not in result]
                continue
            if p in self.indices:
                if p not in result:
                    result.append(p)
            elif not ignore_unavailable:
                raise self.index_not_found(p)
        if not result and not allow_no_indices:
            raise self.index_not_found(expr or "_all")
        return result


def _bool_param(q, name, default):
    if name not in q:
        return default
    v = q[name]
    if v in ("", "true"):
        return True
    if v == "false":
        return False
    raise es_error("illegal_argument_exception",
                   f"Failed to parse value [{v}] as only [true] or [false] are allowed.")


_TIME_RE = re.compile(r"(-1|0|\d+(\.\d+)?(nanos|micros|ms|s|m|h|d))$")


# Data streams are not modelled as such: an index named like one (logs-, metrics-,
# traces- or synthetics-, then a dataset and a namespace; or a Beats 8 data stream,
# filebeat-8.5.0) is reported by
# GET /_resolve/index as a data stream with one hidden backing index, which is
# what vizfeed init needs to tell the two apart.
_DATA_STREAM = re.compile(r"(logs|metrics|traces|synthetics)-[^-]+(-[^-]+)+$"
                          r"|(filebeat|metricbeat|packetbeat|heartbeat|auditbeat)-8\.\d+\.\d+$")


def backing_index(fake, name):
    """The one backing index of the data stream `name`, named as the real product names it:
    OpenSearch .ds-NAME-000001, Elasticsearch .ds-NAME-YYYY.MM.DD-000001 (the creation day)."""
    if fake.flavor.startswith("opensearch"):
        return f".ds-{name}-000001"
    return f".ds-{name}-{fake.indices[name].created}-000001"


def resolve_index(fake, pattern, query=None):
    """GET /_resolve/index/<pattern>: {"indices": [...], "aliases": [], "data_streams": [...]}.
    As on the real engines, hidden backing indices are listed only when expand_wildcards asks
    for hidden ones (all, hidden); the data streams are listed either way."""
    expand = set((query or {}).get("expand_wildcards", "open").split(","))
    hidden = bool(expand & {"all", "hidden"})
    with fake.lock:
        names = fake.resolve(pattern, True, True)
        indices, streams = [], []
        for n in names:
            if _DATA_STREAM.match(n):
                backing = backing_index(fake, n)
                streams.append({"name": n, "backing_indices": [backing], "timestamp_field": "@timestamp"})
                if hidden:
                    indices.append({"name": backing, "attributes": ["hidden", "open"], "data_stream": n})
            else:
                indices.append({"name": n, "attributes": ["open"]})
    return {"indices": indices, "aliases": [], "data_streams": streams}


def field_caps(fake, pattern, query):
    """GET /<pattern>/_field_caps?fields=a,b*: the mapped fields of the matching indices and their
    types. As on the real engines: `indices` names concrete indices (a data stream's backing
    index), each matching field's parent objects are listed as type object, and OpenSearch
    answers without the metadata_field key."""
    for k in query:
        if k not in ("fields", "ignore_unavailable", "allow_no_indices", "expand_wildcards"):
            raise not_implemented(f"_field_caps URL parameter [{k}]")
    if "fields" not in query:
        raise es_error("illegal_argument_exception", "specified fields can't be null or empty")
    wanted = query["fields"].split(",")
    opensearch = fake.flavor.startswith("opensearch")

    def caps(t, searchable, aggregatable):
        c = {"type": t, "metadata_field": False, "searchable": searchable, "aggregatable": aggregatable}
        if opensearch:
            del c["metadata_field"]
        return c
    with fake.lock:
        names = fake.resolve(pattern, _bool_param(query, "ignore_unavailable", False),
                             _bool_param(query, "allow_no_indices", True))
        fields = {}
        for n in names:
            for f, t in fake.indices[n].mapping.items():
                if any(_seg_match(w, f) if "*" in w else w == f for w in wanted):
                    fields.setdefault(f, {}).setdefault(t, caps(t, True, t != "text"))
                    parts = f.split(".")
                    for i in range(1, len(parts)):
                        parent = ".".join(parts[:i])
                        if parent not in fake.indices[n].mapping:  # not a multi-field's parent
                            fields.setdefault(parent, {}).setdefault("object", caps("object", False, False))
        concrete = [backing_index(fake, n) if _DATA_STREAM.match(n) else n for n in names]
    return {"indices": concrete, "fields": fields}


def search(fake, pattern, query, raw_body, uri_path):
    """Runs one search; returns (status 200, body dict) or raises EsError."""
    t0 = time.monotonic()
    unknown = sorted(k for k in query if k not in SEARCH_PARAMS_KNOWN)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        parts = [f"[{u}]{did_you_mean(u, SEARCH_PARAMS_KNOWN, arrow=True)}" for u in unknown]
        raise es_error("illegal_argument_exception",
                       f"request [{uri_path}] contains unrecognized parameter{plural}: " + ", ".join(parts))
    for k in query:
        if k not in SEARCH_PARAMS_DONE:
            raise not_implemented(f"URL parameter [{k}]")
    if query.get("expand_wildcards", "open") not in ("open", "all", "open,hidden", "open,closed"):
        raise not_implemented(f"expand_wildcards [{query['expand_wildcards']}]")
    ignore_unavailable = _bool_param(query, "ignore_unavailable", False)
    allow_no_indices = _bool_param(query, "allow_no_indices", True)
    typed_keys = _bool_param(query, "typed_keys", False)
    as_int = _bool_param(query, "rest_total_hits_as_int", False)
    for k in ("pretty", "human", "error_trace", "request_cache", "allow_partial_search_results",
              "ccs_minimize_roundtrips", "ignore_throttled"):
        _bool_param(query, k, False)

    body = JObj()
    pj = None
    if raw_body.strip():
        try:
            text = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            raise es_error("x_content_parse_exception", "[1:1] Invalid UTF-8 start byte")
        pj = PosJson(text)
        try:
            body = pj.parse()
        except JsonSyntax as e:
            line, col = pj.loc(e.pos)
            raise es_error("x_content_parse_exception", f"[{line}:{col}] {e.msg}")
        if not isinstance(body, dict):
            raise es_error("parsing_exception", f"Expected [START_OBJECT] but found [{_token(body)}]", line=1, col=1)
    ctx = Ctx(pj)
    size, frm, tth, q, aggs = 10, 0, 10000, ("match_all",), []
    source_on = True
    for k, v in body.items():
        vp = _pos(body, k)
        if k not in BODY_KEYS_DONE:
            if k in BODY_KEYS_KNOWN:
                raise not_implemented(f"search body key [{k}]")
            raise ctx.parsing(vp, f"Unknown key for a {_token(v)} in [{k}].")
        if k in ("size", "from"):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ctx.parsing(vp, f"Unknown key for a {_token(v)} in [{k}].") if isinstance(v, (dict, list)) \
                    else ctx.xcontent(vp, f"[{k}] failed to parse")
            if v < 0:
                raise es_error("illegal_argument_exception", f"[{k}] parameter cannot be negative, found [{v}]")
            if k == "size":
                size = v
            else:
                frm = v
        elif k == "query":
            if not isinstance(v, dict):
                raise ctx.parsing(vp, f"Unknown key for a {_token(v)} in [query].")
            q = parse_query(v, ctx, vp)
        elif k in ("aggs", "aggregations"):
            aggs = parse_aggs(v, ctx, vp)
        elif k == "track_total_hits":
            if isinstance(v, bool) or (isinstance(v, int) and v >= -1):
                tth = v
            else:
                raise ctx.parsing(vp, "Unknown key for a %s in [track_total_hits]." % _token(v))
        elif k == "timeout":
            if not isinstance(v, str) or not _TIME_RE.match(v):
                raise es_error("parse_exception", f"failed to parse setting [timeout] with value [{v}] as a time "
                                                  "value: unit is missing or unrecognized")
        elif k == "_source":
            if not isinstance(v, bool):
                raise not_implemented("_source filtering")
            source_on = v
    if "size" in query:
        try:
            size = int(query["size"])
        except ValueError:
            raise es_error("illegal_argument_exception",
                           f"Failed to parse int parameter [size] with value [{query['size']}]",
                           caused_by=cause("number_format_exception", f'For input string: "{query["size"]}"'))
    if "from" in query:
        frm = int(query["from"])
    if "track_total_hits" in query:
        v = query["track_total_hits"]
        tth = True if v in ("", "true") else False if v == "false" else int(v)
    if "timeout" in query and not _TIME_RE.match(query["timeout"]):
        raise es_error("parse_exception", f"failed to parse setting [timeout] with value [{query['timeout']}] as a "
                                          "time value: unit is missing or unrecognized")
    if frm + size > 10000:
        raise es_error("illegal_argument_exception",
                       f"Result window is too large, from + size must be less than or equal to: [10000] but was "
                       f"[{frm + size}]. See the scroll api for a more efficient way to request large data sets. "
                       "This limit can be set by changing the [index.max_result_window] index level setting.")
    if as_int and isinstance(tth, int) and not isinstance(tth, bool) and tth != 10000 and tth >= 0:
        raise es_error("illegal_argument_exception",
                       f"[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, "
                       f"got {tth}")
    if as_int and tth == 10000 and "track_total_hits" not in body and "track_total_hits" not in query:
        tth = True

    with fake.lock:
        names = fake.resolve(pattern, ignore_unavailable, allow_no_indices)
        indices = [fake.indices[n] for n in names]
        now_ms = fake.now()
        matched = []
        failures = []
        max_b = fake.max_buckets
        for idx in indices:
            try:
                for s in composite_sizes(aggs):
                    if s > max_b:
                        raise fake.tmb_shard(s)
                pred = bind_query(q, idx, now_ms)
                mine = [(idx, d) for d in idx.docs if pred(d[2])]
                check_aggs(aggs, idx, now_ms, fake.fl.get("fielddata_prefix", False))
                matched.extend(mine)
            except ShardFailure as sf:
                failures.append((idx, sf))
    if indices and len(failures) == len(indices):
        first = failures[0][1]
        roots, seen = [], set()
        for _, sf in failures:
            key = dumps(sf.reason)
            if key not in seen:
                seen.add(key)
                roots.append(sf.reason)
        body = {"error": {"root_cause": roots, "type": "search_phase_execution_exception",
                          "reason": "all shards failed", "phase": "query", "grouped": True,
                          "failed_shards": [{"shard": 0, "index": i.name, "node": NODE_ID, "reason": sf.reason}
                                            for i, sf in failures]},
                "status": first.status}
        # The first shard's failure again as the cause of the whole, as the engine test saw:
        # OpenSearch 2.19.6 always; Elasticsearch 8.19/9.5 only when that failure is a plain Java
        # exception (a text field's IllegalArgumentException), not for too_many_buckets; the
        # Elasticsearch 7 answer of the reference has none.
        how = fake.fl.get("spe_caused_by")
        if how == "always" or (how == "java" and first.inner):
            body["error"]["caused_by"] = dict(first.reason, **({"caused_by": first.inner} if first.inner else {}))
        raise EsError(first.status, body)
    bk = Bucketer(fake.max_buckets)
    aggregations = run_aggs(aggs, [(i, d[2]) for i, d in matched], now_ms, bk, typed_keys) if indices else None
    if bk.count > fake.max_buckets:
        raise fake.tmb_reduce(bk.count)

    total = len(matched)
    hits = {}
    if tth is not False:
        if as_int:
            hits["total"] = total if (tth is True or total <= tth) else tth
        elif tth is True or total <= tth:
            hits["total"] = {"value": total, "relation": "eq"}
        else:
            hits["total"] = {"value": tth, "relation": "gte"}
    elif as_int:
        hits["total"] = -1
    scoring = _scores(q)
    page = matched[frm:frm + size]
    if not indices:
        hits["max_score"] = 0.0
    else:
        hits["max_score"] = (scoring if page else None) if size > 0 else None
    hl = []
    for idx, (doc_id, src, _) in page:
        h = {"_index": idx.name}
        if fake.fl["doc_type"]:
            h["_type"] = "_doc"
        h["_id"] = doc_id
        h["_score"] = scoring
        if source_on:
            h["_source"] = src
        hl.append(h)
    hits["hits"] = hl
    out = {"took": int((time.monotonic() - t0) * 1000), "timed_out": False,
           "_shards": {"total": len(indices), "successful": len(indices) - len(failures), "skipped": 0,
                       "failed": len(failures)}}
    if fake.flavor in ("es8", "es9") and size == 0 and not aggs and tth is True:
        # Elasticsearch 8.19 and 9 (seen in test_engine_init.py) say so of a counting search
        # (size 0, every hit counted, no aggregation): their shards count from the index
        # statistics and answer terminated_early false; OpenSearch 2.19 does not.
        out["terminated_early"] = False
    if failures:
        out["_shards"]["failures"] = [{"shard": 0, "index": i.name, "node": NODE_ID, "reason": sf.reason}
                                      for i, sf in failures]
    out["hits"] = hits
    if aggregations is not None and aggs:
        out["aggregations"] = aggregations
    return out


def _scores(q):
    """Constant scores: 1.0 when the query has a scoring clause, 0.0 for pure filter context."""
    if q[0] == "bool":
        c = q[1]
        if c["must"] or c["should"]:
            return 1.0
        if c["filter"] or c["must_not"]:
            return 0.0
        return 1.0
    return 1.0


def validate_fault(f):
    if not isinstance(f, dict):
        raise ValueError("a fault is a JSON object")
    known = {"status", "body", "named", "headers", "content_type", "delay", "cut_after", "close", "big", "always",
             "path", "retry_after", "trickle"}
    bad = set(f) - known
    if bad:
        raise ValueError(f"unknown fault keys {sorted(bad)}; known: {sorted(known)}")
    if "named" in f and f["named"] not in CANNED_NAMES:
        raise ValueError(f"unknown named fault {f['named']!r}; one of {sorted(CANNED_NAMES)}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-es"
    sys_version = ""
    timeout = 30

    def log_message(self, *a):
        pass

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError) as e:
                # As Elasticsearch does: one line in the log, the connection dropped, the server goes on.
                self.server.fake.tls_failed(self.client_address, e)
                self.close_connection = True
                return
        super().handle()

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_HEAD(self):
        self.handle_any("HEAD")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_OPTIONS(self):
        self.handle_any("OPTIONS")

    # -- plumbing ------------------------------------------------------------
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                n = int(line.strip().split(b";")[0] or b"0", 16)
                if n == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(n)
                self.rfile.readline()
            return data
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def handle_any(self, method):
        fake = self.server.fake
        try:
            raw = self.read_body()
        except Exception:
            self.close_connection = True
            return
        if self.headers.get("Content-Encoding", "").lower() == "gzip" and raw:
            try:
                raw = gzip.decompress(raw)
            except Exception:
                return self.send(Answer(400, {"error": "failed to decompress the request body", "status": 400}))
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        if path.startswith("/_fake/"):
            return self.send(self.control(method, path, query, raw))
        with fake.lock:
            fake._requests.append({
                "time": time.time(), "method": method, "path": self.path, "path_only": path, "query": query,
                "headers": {k: v for k, v in self.headers.items()},
                "body": raw[:fake.body_log_limit].decode("utf-8", "replace"),
            })
        fault = fake._next_fault(self.path)
        pretty = "pretty" in query and query.get("pretty") != "false"
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault and fault.get("close"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault and fault.get("big"):
            return self.send_big(int(fault["big"]))
        try:
            ans = self.answer_with_fault(fault, method, path, query, raw) if fault else None
            if ans is None:
                ans = self.route(method, path, query, raw)
        except EsError as e:
            ans = Answer(e.status, e.body, e.headers)
        except Exception as e:  # a bug here must be visible, and in an ES shape
            ans = Answer(500, error_body("fake_es_internal_error", f"{type(e).__name__}: {e}", 500))
        if fault and "headers" in fault:
            ans.headers += list(fault["headers"].items())
        cut = None
        if fault:
            if fault.get("named") == "truncated":
                cut = "half"
            if fault.get("cut_after") is not None:
                cut = int(fault["cut_after"])
        self.send(ans, method == "HEAD", pretty, cut, float(fault.get("trickle", 0)) if fault else 0)

    def send(self, ans, head=False, pretty=False, cut=None, trickle=0):
        fake = self.server.fake
        body = ans.body
        if isinstance(body, (dict, list)):
            body = dumps(body, pretty).encode("utf-8")
            if pretty:
                body += b"\n"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = list(ans.headers)
        if fake.fl["product_header"] and ans.status != 401 and ans.es:
            hdrs.append(("X-elastic-product", "Elasticsearch"))
        if body and "gzip" in self.headers.get("Accept-Encoding", "").lower():
            body = gzip.compress(body)
            hdrs.append(("Content-Encoding", "gzip"))
        try:
            self.send_response(ans.status)
            if ans.ctype is not None and (body or ans.status != 200 or True):
                self.send_header("Content-Type", ans.ctype)
            for k, v in hdrs:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            if head:
                return
            if cut is not None:
                n = len(body) // 2 if cut == "half" else min(cut, len(body))
                self.wfile.write(body[:n])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if trickle:  # an answer that never seems to end: one byte every `trickle` seconds
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(trickle)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_big(self, size):
        """200 with a valid search answer of at least `size` bytes, streamed in 64 KiB writes."""
        head = b'{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},' \
               b'"aggregations":{"edges":{"buckets":['
        tail = b"]}}}"
        bucket = b'{"key":{"from_service":"svc-big-padding-padding-padding","to_service":"x"},"doc_count":1},'
        n = max(1, (size - len(head) - len(tail)) // len(bucket) + 1)
        total = len(head) + n * len(bucket) - 1 + len(tail)
        deadline = time.monotonic() + 60
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            self.wfile.write(head)
            chunk = bucket * max(1, 65536 // len(bucket))
            per = 65536 // len(bucket) or 1
            left = n
            while left > 0 and time.monotonic() < deadline:
                k = min(per, left)
                data = chunk[:k * len(bucket)]
                if k == left:
                    data = data[:-1]
                self.wfile.write(data)
                left -= k
            self.wfile.write(tail)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True

    # -- routes ----------------------------------------------------------------
    def content_type_error(self, raw):
        if not raw:
            return None
        ct = self.headers.get("Content-Type")
        if ct is None:
            return Answer(406, {"error": "Content-Type header is missing", "status": 406})
        base = ct.split(";")[0].strip().lower()
        if base in ("application/json", "application/x-ndjson"):
            return None
        m = re.match(r"application/vnd\.elasticsearch\+(json|x-ndjson)\s*;\s*compatible-with\s*=\s*(\d+)", ct.lower())
        cm = self.server.fake.fl["compat_major"]
        if m and cm and int(m.group(2)) in (cm, cm - 1):
            return None
        if m and cm:
            return Answer(400, error_body("media_type_header_exception",
                                          "Invalid media-type value on headers [Content-Type, Accept]", 400))
        if base in ("application/yaml", "application/cbor", "application/smile"):
            return Answer(400, error_body("illegal_argument_exception",
                                          f"[fake_es] request body format [{base}] is not implemented", 400))
        return Answer(406, {"error": f"Content-Type header [{ct}] is not supported", "status": 406})

    def route(self, method, path, query, raw):
        fake = self.server.fake
        bad = fake.auth_error(self.path, self.headers.get("Authorization"))
        if bad is not None:
            return bad
        ct = self.content_type_error(raw)
        if ct is not None:
            return ct
        segs = [urllib.parse.unquote(s) for s in path.split("/")[1:]] if path != "/" else []
        if not segs:
            if method in ("GET", "HEAD"):
                return Answer(200, fake.banner())
            return self.bad_method(path, method, ["GET", "HEAD"])
        # `vizfeed init`'s discovery requests (resolve_index, field_caps below).
        if len(segs) == 3 and segs[:2] == ["_resolve", "index"]:
            if method != "GET":
                return self.bad_method(path, method, ["GET"])
            return Answer(200, resolve_index(fake, segs[2], query))
        if segs[-1] == "_field_caps" and len(segs) <= 2:
            if method not in ("GET", "POST"):
                return self.bad_method(path, method, ["GET", "POST"])
            return Answer(200, field_caps(fake, segs[0] if len(segs) == 2 else "", query))
        if segs[-1] == "_search" and len(segs) <= 2:
            if method not in ("GET", "POST"):
                return self.bad_method(path, method, ["GET", "POST"])
            pattern = segs[0] if len(segs) == 2 else ""
            body = search(fake, pattern, query, raw, path)
            if "filter_path" in query:
                body = filter_path(body, query["filter_path"])
            return Answer(200, body)
        return Answer(400, {"error": f"no handler found for uri [{self.path}] and method [{method}]", "status": 400})

    def bad_method(self, path, method, allowed):
        return Answer(405, {"error": f"Incorrect HTTP method for uri [{self.path}] and method [{method}], "
                                     f"allowed: [{', '.join(allowed)}]", "status": 405},
                      [("Allow", ",".join(allowed))])

    def answer_with_fault(self, f, method, path, query, raw):
        fake = self.server.fake
        name = f.get("named")
        if name is None:
            if "status" not in f and "body" not in f:
                return None  # only delay / cut_after: the normal answer
            body = f.get("body", "")
            ctype = f.get("content_type", "application/json")
            return Answer(int(f.get("status", 200)), body, [], ctype, es=False)
        if name == "too_many_buckets":
            e = fake.tmb_reduce()
            return Answer(e.status, e.body)
        if name in ("timed_out_partial", "shard_failures"):
            try:
                ans = self.route(method, path, {k: v for k, v in query.items() if k != "filter_path"}, raw)
            except EsError as e:
                return Answer(e.status, e.body, e.headers)
            if ans.status != 200 or not isinstance(ans.body, dict):
                return ans
            b = ans.body
            if name == "timed_out_partial":
                b["timed_out"] = True
                for agg in (b.get("aggregations") or {}).values():
                    if isinstance(agg, dict) and "buckets" in agg:
                        keep = agg["buckets"][:len(agg["buckets"]) // 2]
                        agg["buckets"] = keep
                        agg.pop("after_key", None)
                        if keep:
                            new = {"after_key": dict(keep[-1]["key"])}
                            new.update(agg)
                            agg.clear()
                            agg.update(new)
            else:
                sh = b["_shards"]
                sh["total"] += 1
                sh["failed"] += 1
                sh["failures"] = [{"shard": 2, "index": ".ds-traces-apm-default-2024.06.01-000007",
                                   "node": NODE_ID, "reason": cause(
                                       "illegal_argument_exception",
                                       "Text fields are not optimised for operations that require per-document "
                                       "field data like aggregations and sorting, so these operations are disabled "
                                       "by default. Please use a keyword field instead. Alternatively, set "
                                       "fielddata=true on [nginx.ingress_controller.upstream.name] in order to load "
                                       "field data by uninverting the inverted index. Note that this can use "
                                       "significant memory.")}]
            if "filter_path" in query:
                b = filter_path(b, query["filter_path"])
            return Answer(200, b)
        if name == "cycling_after_key":
            # A broken cluster or proxy: every page is the first one again (the same buckets),
            # its composite after_key alternating between the keys of its first two buckets
            # (A, B, A, B...), so paging never ends and only a set of the keys seen tells.
            req = json.loads(raw or b"{}")
            comp = ((req.get("aggs") or {}).get("edges") or {}).get("composite") or {}
            after = comp.pop("after", None)
            ans = self.route(method, path, query, json.dumps(req).encode())
            for agg in (ans.body.get("aggregations") or {}).values() if isinstance(ans.body, dict) else ():
                b = agg.get("buckets") if isinstance(agg, dict) else None
                if b and len(b) >= 2:
                    a_key, b_key = dict(b[0]["key"]), dict(b[1]["key"])
                    agg["after_key"] = b_key if after == a_key else a_key
            return ans
        if name == "proxy_html_502":
            return Answer(502, _html_502(), [], "text/html", es=False)
        if name == "empty":
            return Answer(int(f.get("status", 200)), b"", [], "application/json")
        if name == "truncated":
            try:
                return self.route(method, path, query, raw)
            except EsError as e:
                return Answer(e.status, e.body, e.headers)
        if name == "not_found":
            segs = path.split("/")
            target = urllib.parse.unquote(segs[1]) if len(segs) > 2 else "_all"
            e = fake.index_not_found(target.split(",")[0])
            return Answer(e.status, e.body, e.headers)
        if name == "unauthorized":
            return fake.unauthorized(self.path)
        if name == "forbidden":
            return Answer(403, FORBIDDEN_BODY)
        if name == "bad_request":
            return Answer(400, PARSING_BODY)
        if name == "429":
            return Answer(429, CIRCUIT_BODY, [("Retry-After", str(f.get("retry_after", 1)))])
        if name == "503":
            return Answer(503, ALL_SHARDS_503)
        raise AssertionError(name)

    def control(self, method, path, query, raw):
        fake = self.server.fake
        try:
            data = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            return Answer(400, {"error": f"bad JSON: {e}", "status": 400})
        try:
            if path == "/_fake/inject" and method == "POST":
                fake.inject(data if data is not None else [])
                return Answer(200, {"acknowledged": True, "queued": len(fake.faults)})
            if path == "/_fake/clear" and method == "POST":
                fake.clear()
                if (data or {}).get("requests") or query.get("requests") == "true":
                    fake.clear_requests()
                return Answer(200, {"acknowledged": True})
            if path == "/_fake/requests" and method == "GET":
                return Answer(200, {"requests": fake.requests, "tls_errors": fake.tls_errors})
            if path == "/_fake/load" and method == "POST":
                fake.load(data["index"], data.get("docs", []), data.get("mappings"))
                return Answer(200, {"acknowledged": True, "index": data["index"],
                                    "count": len(fake.indices[data["index"]].docs)})
            if path == "/_fake/delete" and method == "POST":
                fake.delete_index(data["index"])
                return Answer(200, {"acknowledged": True})
            if path == "/_fake/config" and method == "POST":
                if "max_buckets" in data:
                    fake.max_buckets = int(data["max_buckets"])
                if "now" in data:
                    fake.now_ms = data["now"]
                return Answer(200, {"acknowledged": True, "max_buckets": fake.max_buckets})
        except (LoadError, ValueError, KeyError, TypeError) as e:
            return Answer(400, {"error": f"{type(e).__name__}: {e}", "status": 400})
        return Answer(404, {"error": f"unknown control endpoint {method} {path}", "status": 404})


def main(argv=None):
    ap = argparse.ArgumentParser(description="test Elasticsearch for vizfeed (see docs/TEST_ELASTICSEARCH.md)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--data", action="append", default=[], metavar="INDEX=FILE.ndjson")
    ap.add_argument("--mappings", action="append", default=[], metavar="INDEX=FILE.json",
                    help='explicit field types: {"field.name": "long", ...}')
    ap.add_argument("--flavor", default="es8", choices=sorted(FLAVORS))
    ap.add_argument("--max-buckets", type=int)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--api-key", metavar="ID:KEY")
    ap.add_argument("--bearer", metavar="TOKEN")
    ap.add_argument("--now", help="fixed 'now' for date math (epoch ms or RFC 3339)")
    ap.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate chain (server first)")
    ap.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    a = ap.parse_args(argv)
    if (a.user is None) != (a.password is None):
        ap.error("--user and --password go together")
    if (a.tls_cert is None) != (a.tls_key is None):
        ap.error("--tls-cert and --tls-key go together")
    fake = FakeElasticsearch(a.port, a.flavor, a.max_buckets, a.user, a.password, a.api_key, a.bearer,
                             tls_cert=a.tls_cert, tls_key=a.tls_key)
    if a.now:
        fake.now_ms = int(a.now) if a.now.isdigit() else parse_date(a.now)
    maps = {}
    for m in a.mappings:
        idx, _, path = m.partition("=")
        with open(path) as f:
            maps[idx] = json.load(f)
    try:
        for d in a.data:
            idx, sep, path = d.partition("=")
            if not sep:
                ap.error(f"--data wants INDEX=FILE, got {d!r}")
            fake.load_ndjson(idx, path, maps.get(idx))
    except (LoadError, OSError) as e:
        print(f"fake_es: {e}", file=sys.stderr)
        return 2
    try:
        fake.start()
    except (ssl.SSLError, OSError) as e:
        print(f"fake_es: cannot listen: {e}", file=sys.stderr)
        return 2
    print(f"listening on 127.0.0.1:{fake.port}", flush=True)
    stop = threading.Event()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
