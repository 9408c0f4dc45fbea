#!/usr/bin/env python3
"""Checks a vizfeed graph against the rules of SPEC §5 (and the reasons for
them in reference/vizceral.md §12).

    python3 tests/vizceral_validator.py FILE [--thresholds W,D,MIN]
    python3 tests/vizceral_validator.py --self-test

Exits 1 listing every violation, 0 when the graph is clean. As a module:
validate(graph, thresholds=None) -> list of violation strings.

Thresholds (warning share, danger share, minimum rate) enable the check that
each class matches the raw counts in the connection metadata; without them
only the form of the class is checked. Standard library only.
"""

import copy
import json
import math
import re
import sys

CLASSES = ("normal", "warning", "danger")
ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v):
    return _is_number(v) and math.isfinite(v)


def _byte_key(s):
    return s.encode("utf-8", "surrogatepass") if isinstance(s, str) else b""


class _Checker:
    def __init__(self, thresholds):
        self.errors = []
        self.thresholds = thresholds

    def err(self, where, msg):
        self.errors.append("%s: %s" % (where, msg))

    # --- pieces shared by every level ---

    def html_text(self, where, field, text):
        if not isinstance(text, str):
            self.err(where, "%s is not a string" % field)
            return
        if "<" in text or ">" in text:
            self.err(where, "%s holds a raw '<' or '>' (must be HTML-escaped): %r" % (field, text))
        for i, ch in enumerate(text):
            if ch == "&" and not ENTITY.match(text, i):
                self.err(where, "%s holds an unescaped '&': %r" % (field, text))
                break
        if '"' in text or "'" in text:
            self.err(where, "%s holds a raw quote (must be an entity): %r" % (field, text))

    def notices(self, where, obj):
        if "notices" not in obj:
            return []
        notices = obj["notices"]
        if not isinstance(notices, list):
            self.err(where, "notices is not an array")
            return []
        for i, n in enumerate(notices):
            w = "%s.notices[%d]" % (where, i)
            if not isinstance(n, dict):
                self.err(w, "notice is not an object")
                continue
            for key in n:
                if key not in ("title", "subtitle", "link", "severity"):
                    self.err(w, "unknown key %r" % key)
            if "title" not in n or not isinstance(n["title"], str) or not n["title"]:
                self.err(w, "title missing or empty")
            else:
                self.html_text(w, "title", n["title"])
            if "subtitle" in n:
                self.html_text(w, "subtitle", n["subtitle"])
            if "link" in n:
                link = n["link"]
                if not isinstance(link, str) or not re.match(r"(?i)https?://", link):
                    self.err(w, "link is not an http(s) URL: %r" % (link,))
                elif any(c in link for c in ' "<>\'`'):
                    self.err(w, "link holds characters that must be URL-encoded: %r" % link)
            sev = n.get("severity")
            if isinstance(sev, bool) or not isinstance(sev, int) or not 1 <= sev <= 2:
                self.err(w, "severity must be the integer 1 or 2, got %r" % (sev,))
        return [n for n in notices if isinstance(n, dict)]

    def klass(self, where, obj, required=True):
        if "class" not in obj:
            if required:
                self.err(where, "class missing")
            return "normal"
        c = obj["class"]
        if c not in CLASSES:
            self.err(where, "class %r is not one of %s" % (c, "/".join(CLASSES)))
            return "normal"
        return c

    def class_notice(self, where, cls, notices):
        """A coloured node or edge says why in a notice of matching severity."""
        if cls == "normal":
            return
        want = 1 if cls == "warning" else 2
        if not any(n.get("severity") == want and not str(n.get("title", "")).startswith("data stale")
                   for n in notices):
            self.err(where, "class %s without a notice of severity %d" % (cls, want))

    def metrics(self, where, metrics, allow_empty):
        if not isinstance(metrics, dict):
            self.err(where, "metrics is not an object")
            return 0.0
        if not metrics and not allow_empty:
            self.err(where, "metrics is empty (a connection without traffic must not exist)")
        total = 0.0
        for key, v in metrics.items():
            if key not in CLASSES:
                self.err(where, "metrics key %r is not normal/warning/danger" % key)
            if not _is_number(v):
                self.err(where, "metrics.%s is not a JSON number: %r" % (key, v))
                continue
            if not math.isfinite(v) or v < 0:
                self.err(where, "metrics.%s is not finite and >= 0: %r" % (key, v))
                continue
            if v == 0:
                self.err(where, "metrics.%s is zero (zero keys must be omitted)" % key)
            total += v
        return total

    def unique_names(self, where, nodes):
        seen = set()
        for n in nodes:
            name = n.get("name") if isinstance(n, dict) else None
            if not isinstance(name, str) or not name:
                self.err(where, "node without a name: %r" % (n,))
                continue
            if name in seen:
                self.err(where, "node name %r is not unique" % name)
            seen.add(name)
        return seen

    def connections(self, where, level, obj, names, entry, allow_empty_from_entry=False):
        conns = obj.get("connections")
        if not isinstance(conns, list):
            self.err(where, "connections missing or not an array")
            return []
        keys = []
        for i, c in enumerate(conns):
            w = "%s.connections[%d]" % (where, i)
            if not isinstance(c, dict):
                self.err(w, "connection is not an object")
                continue
            src, dst = c.get("source"), c.get("target")
            w = "%s (%s -> %s)" % (w, src, dst)
            if not isinstance(src, str) or not isinstance(dst, str):
                self.err(w, "source and target must be strings")
                continue
            if src not in names:
                self.err(w, "source %r is not a node of this level" % src)
            if dst not in names:
                self.err(w, "target %r is not a node of this level" % dst)
            if src == dst:
                self.err(w, "self-loop")
            meta = c.get("metadata")
            # A gone edge (baseline, SPEC: "Baseline and change") is drawn
            # without traffic: empty metrics, class warning, a notice.
            gone = isinstance(meta, dict) and meta.get("change") == "gone"
            if "metrics" not in c:
                self.err(w, "metrics missing")
            else:
                self.metrics(w, c["metrics"], (allow_empty_from_entry and src == entry) or gone)
                if gone and c["metrics"]:
                    self.err(w, "a gone connection carries traffic")
            cls = self.klass(w, c)
            notices = self.notices(w, c)
            self.class_notice(w, cls, notices)
            if meta is not None and not isinstance(meta, dict):
                self.err(w, "metadata is not an object")
            elif isinstance(meta, dict):
                for k in CLASSES:
                    if k in meta and (not _finite(meta[k]) or meta[k] < 0):
                        self.err(w, "metadata.%s is not a finite count >= 0" % k)
                self.latency_check(w, meta)
                self.change_check(w, cls, meta, notices)
                if gone:
                    if cls != "warning":
                        self.err(w, "a gone connection is class %s, not warning" % cls)
                else:
                    self.threshold_check(w, cls, meta)
            keys.append((_byte_key(src), _byte_key(dst)))
        if len(set(keys)) != len(keys):
            self.err(where, "duplicate (source, target) connections")
        if keys != sorted(keys):
            self.err(where, "connections are not sorted by (source, target)")
        return [c for c in conns if isinstance(c, dict)]

    def threshold_check(self, where, cls, counts, window_s=None):
        if not self.thresholds or not isinstance(counts, dict):
            return
        if window_s is None:
            window_s = self.window_s
        n = [counts.get(k, 0) for k in CLASSES]
        if not all(_finite(x) for x in n) or not window_s:
            return
        warning, danger, min_rate = self.thresholds[:3]
        total = sum(n)
        want = "normal"
        if total > 0 and n[2] > 0 and total / window_s >= min_rate:
            share = n[2] / total
            want = "danger" if share >= danger else "warning" if share >= warning else "normal"
        # Latency thresholds (ms, None = off) colour what the error share leaves normal.
        lat_warning, lat_danger = (tuple(self.thresholds[3:5]) + (None, None))[:2]
        lat = counts.get("latency_ms")
        if want == "normal" and isinstance(lat, dict) and _finite(lat.get("avg")) and total > 0 and \
                total / window_s >= min_rate:
            if lat_danger is not None and lat["avg"] >= lat_danger:
                want = "danger"
            elif lat_warning is not None and lat["avg"] >= lat_warning:
                want = "warning"
        if cls != want:
            self.err(where, "class %s but the counts %r give %s" % (cls, n, want))

    def change_check(self, where, cls, meta, notices):
        """metadata.change / baseline_rate, when present (graph.baseline)."""
        if "baseline_rate" in meta and (not _finite(meta["baseline_rate"]) or meta["baseline_rate"] < 0):
            self.err(where, "metadata.baseline_rate is not a finite rate >= 0")
        ch = meta.get("change")
        if ch is None:
            return
        if ch not in ("new", "gone", "surge", "drop"):
            self.err(where, "metadata.change %r is not new/gone/surge/drop" % (ch,))
            return
        if ch == "new" and meta.get("baseline_rate", 0) != 0:
            self.err(where, "a new connection has a baseline rate")
        if ch == "gone" and not (meta.get("baseline_rate", 0) > 0):
            self.err(where, "a gone connection without a baseline rate")
        if not any(n.get("severity") == 1 for n in notices):
            self.err(where, "change %s without a notice of severity 1" % ch)

    def latency_check(self, where, meta):
        """metadata.latency_ms, when present: {"avg": ms >= 0, "max": ms >= avg (optional)}."""
        if "latency_ms" not in meta:
            return
        lat = meta["latency_ms"]
        if not isinstance(lat, dict) or set(lat) - {"avg", "max"} or "avg" not in lat:
            self.err(where, "metadata.latency_ms is not {avg, max}")
            return
        if not _finite(lat["avg"]) or lat["avg"] < 0:
            self.err(where, "metadata.latency_ms.avg is not a finite duration >= 0")
        if "max" in lat and (not _finite(lat["max"]) or lat["max"] < lat["avg"] - 0.001):
            self.err(where, "metadata.latency_ms.max is below the average or not finite")

    def connected(self, where, nodes, conns, exempt=()):
        used = set()
        for c in conns:
            used.add(c.get("source"))
            used.add(c.get("target"))
        for n in nodes:
            if isinstance(n, dict) and n.get("name") not in used and n.get("name") not in exempt:
                self.err(where, "node %r has no connection" % n.get("name"))

    def timestamp(self, where, obj, key):
        v = obj.get(key)
        if not _is_number(v) or not math.isfinite(v) or v <= 1e12:
            self.err(where, "%s must be epoch milliseconds (> 1e12), got %r" % (key, v))

    # --- the three levels ---

    def service(self, where, node, region_view):
        if node.get("renderer") != "focusedChild":
            self.err(where, "renderer must be focusedChild, got %r" % (node.get("renderer"),))
        cls = self.klass(where, node)
        notices = self.notices(where, node)
        self.class_notice(where, cls, notices)
        meta = node.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            self.err(where, "metadata is not an object")
        elif isinstance(meta, dict):
            for k, v in meta.items():
                if _is_number(v) and (not math.isfinite(v) or v < 0):
                    self.err(where, "metadata.%s is not finite and >= 0" % k)
        hosts = node.get("nodes", [])
        if not isinstance(hosts, list):
            self.err(where, "nodes (hosts) is not an array")
            return
        self.unique_names(where + ".nodes", hosts)
        names = []
        for j, h in enumerate(hosts):
            w = "%s.nodes[%d]" % (where, j)
            if not isinstance(h, dict):
                self.err(w, "host is not an object")
                continue
            names.append(_byte_key(h.get("name")))
            if "metrics" in h:
                self.metrics(w, h["metrics"], True)
        if names != sorted(names):
            self.err(where, "hosts are not sorted by name")

    def region(self, where, node, entry):
        if node.get("renderer") != "region":
            self.err(where, "renderer must be region, got %r" % (node.get("renderer"),))
        mv = node.get("maxVolume")
        if not _finite(mv) or mv <= 0:
            self.err(where, "maxVolume must be a finite number > 0, got %r" % (mv,))
        self.timestamp(where, node, "updated")
        cls = self.klass(where, node)
        notices = self.notices(where, node)
        self.class_notice(where, cls, notices)
        meta = node.get("metadata")
        if not isinstance(meta, dict):
            self.err(where, "metadata missing")
            meta = {}
        else:
            if not _finite(meta.get("window_s")) or meta.get("window_s") <= 0:
                self.err(where, "metadata.window_s must be a number > 0")
            if not isinstance(meta.get("flows"), list) or not all(isinstance(f, str) for f in meta["flows"]):
                self.err(where, "metadata.flows must be an array of flow names")
            hs = meta.get("hidden_services")
            if isinstance(hs, bool) or not isinstance(hs, int) or hs < 0:
                self.err(where, "metadata.hidden_services must be an integer >= 0")
            if "stale" in meta and meta["stale"] is not True:
                self.err(where, "metadata.stale must be true or absent")
        stale_notice = any(n.get("severity") == 2 and str(n.get("title", "")).startswith("data stale since")
                           for n in notices)
        if meta.get("stale") is True and not stale_notice:
            self.err(where, "stale region without a 'data stale since' notice of severity 2")
        if stale_notice and meta.get("stale") is not True:
            self.err(where, "'data stale since' notice but metadata.stale is not true")
        nodes = node.get("nodes")
        if not isinstance(nodes, list) or not nodes:
            self.err(where, "a region needs at least one child node (else Vizceral shows it loading)")
            return
        names = self.unique_names(where, nodes)
        has_entry = entry in names
        if has_entry:
            if node.get("entryNode") != entry:
                self.err(where, "entry node present but entryNode is %r" % (node.get("entryNode"),))
            if nodes[0].get("name") != entry:
                self.err(where, "the entry node must come first")
            if nodes[0].get("class", "normal") != "normal":
                self.err(where, "the entry node must be normal")
        elif "entryNode" in node:
            self.err(where, "entryNode %r set but that node is absent (Vizceral divides by zero)"
                     % (node["entryNode"],))
        rest = nodes[1:] if has_entry and nodes[0].get("name") == entry else nodes
        services, standins, kinds = [], [], []
        for n in rest:
            if not isinstance(n, dict):
                continue
            is_standin = isinstance(n.get("metadata"), dict) and n["metadata"].get("region") is True
            kinds.append(is_standin)
            (standins if is_standin else services).append(_byte_key(n.get("name")))
        if kinds != sorted(kinds):
            self.err(where, "services must come before the nodes standing for other regions")
        if services != sorted(services):
            self.err(where, "services are not sorted by name")
        if standins != sorted(standins):
            self.err(where, "region stand-ins are not sorted by name")
        for i, n in enumerate(nodes):
            if not isinstance(n, dict):
                self.err("%s.nodes[%d]" % (where, i), "node is not an object")
                continue
            w = "%s.nodes[%d] %r" % (where, i, n.get("name"))
            if n.get("name") == entry and has_entry:
                if n.get("renderer") != "focusedChild":
                    self.err(w, "renderer must be focusedChild")
                continue
            self.service(w, n, node)
        conns = self.connections(where, "region", node, names, entry)
        if has_entry and not any(c.get("source") == entry for c in conns):
            self.err(where, "the entry node has no outgoing connection")
        if any(c.get("target") == entry for c in conns):
            self.err(where, "a connection goes into the entry node")
        self.connected(where, nodes, conns)

    def root(self, g):
        where = "root"
        if not isinstance(g, dict):
            self.err(where, "the graph is not a JSON object")
            return
        if g.get("renderer") != "global":
            self.err(where, "renderer must be global, got %r" % (g.get("renderer"),))
        if not isinstance(g.get("name"), str) or not g.get("name"):
            self.err(where, "name must be a non-empty string")
        entry = g.get("entryNode")
        if not isinstance(entry, str) or not entry:
            self.err(where, "entryNode must be a non-empty string")
        self.timestamp(where, g, "updated")
        self.timestamp(where, g, "serverUpdateTime")
        meta = g.get("metadata", {})
        self.window_s = meta.get("window_s") if isinstance(meta, dict) else None
        nodes = g.get("nodes")
        if not isinstance(nodes, list) or not nodes:
            self.err(where, "nodes must be a non-empty array (at least the entry node)")
            return
        names = self.unique_names(where, nodes)
        first = nodes[0] if isinstance(nodes[0], dict) else {}
        if first.get("name") != entry:
            self.err(where, "the first node must be the entry node %r" % (entry,))
        else:
            if first.get("renderer") != "region":
                self.err(where + ".nodes[0]", "the entry node needs renderer region")
            if first.get("class", "normal") != "normal":
                self.err(where + ".nodes[0]", "the entry node must be normal")
            if first.get("nodes"):
                self.err(where + ".nodes[0]", "the entry node has no children")
        regions = nodes[1:] if first.get("name") == entry else nodes
        order = [_byte_key(n.get("name")) for n in regions if isinstance(n, dict)]
        if order != sorted(order):
            self.err(where, "regions are not sorted by name")
        for i, n in enumerate(regions):
            w = "region %r" % (n.get("name") if isinstance(n, dict) else i,)
            if not isinstance(n, dict):
                self.err(w, "node is not an object")
                continue
            self.region(w, n, entry)
        conns = self.connections(where, "root", g, names, entry, allow_empty_from_entry=True)
        if any(c.get("target") == entry for c in conns):
            self.err(where, "a connection goes into the entry node")
        self.connected(where, nodes, conns, exempt=(entry,) if len(nodes) == 1 else ())
        for n in regions:
            if isinstance(n, dict) and not any(c.get("source") == entry and c.get("target") == n.get("name")
                                               for c in conns):
                self.err(where, "region %r has no %s -> region connection (reference §12.2)" % (n.get("name"), entry))


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def validate(graph, thresholds=None):
    """Every violation of SPEC §5 in graph (a dict), as readable strings."""
    checker = _Checker(thresholds)
    checker.window_s = None
    checker.root(graph)
    return checker.errors


def validate_text(text, thresholds=None):
    try:
        graph = json.loads(text, parse_constant=_reject_constant)
    except ValueError as e:
        return ["not valid JSON: %s" % e]
    return validate(graph, thresholds)


# --- self-test ---


def _good_graph():
    """A small graph that follows every rule: two regions, ingress, a
    cross-region call, a warning edge with a notice, hosts, a stale region."""
    return {
        "renderer": "global", "name": "edge", "entryNode": "INTERNET",
        "updated": 1767225600000, "serverUpdateTime": 1767225600000,
        "metadata": {"window_s": 120, "dropped": 0},
        "nodes": [
            {"renderer": "region", "name": "INTERNET", "class": "normal"},
            {"renderer": "region", "name": "eu", "displayName": "eu", "class": "normal", "maxVolume": 50,
             "updated": 1767225600000, "entryNode": "INTERNET",
             "metadata": {"window_s": 120, "flows": ["web"], "hidden_services": 0},
             "nodes": [
                 {"renderer": "focusedChild", "name": "INTERNET", "class": "normal"},
                 {"renderer": "focusedChild", "name": "api", "class": "warning",
                  "notices": [{"title": "5xx 5.0% (0.5/s) over 2m", "subtitle": "into api in eu",
                               "link": "https://kibana.example/app?q=a%20b", "severity": 1}],
                  "metadata": {"rate_in": 10, "rate_out": 2, "error_share": 0.05},
                  "nodes": [{"name": "api-1", "metrics": {"normal": 5}}, {"name": "api-2", "metrics": {"normal": 4.5, "danger": 0.5}}]},
                 {"renderer": "focusedChild", "name": "web", "class": "normal",
                  "metadata": {"rate_in": 10, "rate_out": 10, "error_share": 0}},
                 {"renderer": "focusedChild", "name": "us", "displayName": "us", "class": "normal",
                  "metadata": {"region": True, "rate_in": 2, "rate_out": 0, "error_share": 0}},
             ],
             "connections": [
                 {"source": "INTERNET", "target": "web", "metrics": {"normal": 10}, "class": "normal",
                  "metadata": {"normal": 1200, "warning": 0, "danger": 0}},
                 {"source": "api", "target": "us", "metrics": {"normal": 2}, "class": "normal",
                  "metadata": {"normal": 240, "warning": 0, "danger": 0}},
                 {"source": "web", "target": "api", "metrics": {"normal": 9.5, "danger": 0.5}, "class": "warning",
                  "notices": [{"title": "5xx 5.0% (0.5/s) over 2m", "subtitle": "from web to api &amp; more",
                               "severity": 1}],
                  "metadata": {"normal": 1140, "warning": 0, "danger": 60}},
             ]},
            {"renderer": "region", "name": "us", "displayName": "us", "class": "normal", "maxVolume": 10,
             "updated": 1767225500000,
             "notices": [{"title": "data stale since 2026-01-01T00:00:00.000Z", "severity": 2}],
             "metadata": {"window_s": 120, "flows": ["web"], "hidden_services": 0, "stale": True},
             "nodes": [
                 {"renderer": "focusedChild", "name": "db", "class": "normal",
                  "metadata": {"rate_in": 2, "rate_out": 0, "error_share": 0}},
                 {"renderer": "focusedChild", "name": "eu", "displayName": "eu", "class": "normal",
                  "metadata": {"region": True, "rate_in": 0, "rate_out": 2, "error_share": 0}},
             ],
             "connections": [
                 {"source": "eu", "target": "db", "metrics": {"normal": 2}, "class": "normal",
                  "metadata": {"normal": 240, "warning": 0, "danger": 0}},
             ]},
        ],
        "connections": [
            {"source": "INTERNET", "target": "eu", "metrics": {"normal": 10}, "class": "normal",
             "metadata": {"normal": 1200, "warning": 0, "danger": 0}},
            {"source": "INTERNET", "target": "us", "metrics": {}, "class": "normal",
             "metadata": {"normal": 0, "warning": 0, "danger": 0}},
            {"source": "eu", "target": "us", "metrics": {"normal": 2}, "class": "normal",
             "metadata": {"normal": 240, "warning": 0, "danger": 0}},
        ],
    }


def _region(g, name):
    return next(n for n in g["nodes"] if n["name"] == name)


def _node(g, region, name):
    return next(n for n in _region(g, region)["nodes"] if n["name"] == name)


def _conn(obj, src, dst):
    return next(c for c in obj["connections"] if c["source"] == src and c["target"] == dst)


def _broken_graphs():
    """(description, function that breaks a good graph in place)."""
    def drop(key):
        return lambda g: g.pop(key)

    def setf(fn):
        return fn

    return [
        ("root renderer", lambda g: g.update(renderer="region")),
        ("root name missing", drop("name")),
        ("entryNode missing", drop("entryNode")),
        ("updated in seconds", lambda g: g.update(updated=1767225600)),
        ("serverUpdateTime a string", lambda g: g.update(serverUpdateTime="1767225600000")),
        ("entry not first", lambda g: g["nodes"].reverse()),
        ("regions unsorted", lambda g: g["nodes"].__setitem__(slice(1, 3), [g["nodes"][2], g["nodes"][1]])),
        ("region renderer", lambda g: _region(g, "eu").update(renderer="focusedChild")),
        ("maxVolume missing", lambda g: _region(g, "eu").pop("maxVolume")),
        ("maxVolume zero", lambda g: _region(g, "eu").update(maxVolume=0)),
        ("maxVolume string", lambda g: _region(g, "eu").update(maxVolume="50")),
        ("region without children", lambda g: (_region(g, "us").update(nodes=[], connections=[]))),
        ("region updated missing", lambda g: _region(g, "us").pop("updated")),
        ("entryNode without entry node", lambda g: _region(g, "us").update(entryNode="INTERNET")),
        ("entry node present without entryNode", lambda g: _region(g, "eu").pop("entryNode")),
        ("service renderer", lambda g: _node(g, "eu", "web").pop("renderer")),
        ("dangling target", lambda g: _conn(_region(g, "eu"), "web", "api").update(target="nope")),
        ("dangling source at root", lambda g: _conn(g, "eu", "us").update(source="asia")),
        ("self-loop", lambda g: _conn(_region(g, "eu"), "api", "us").update(target="api")),
        ("duplicate names", lambda g: _node(g, "eu", "web").update(name="api")),
        ("metrics string", lambda g: _conn(_region(g, "eu"), "INTERNET", "web").update(metrics={"normal": "10"})),
        ("metrics negative", lambda g: _conn(_region(g, "eu"), "INTERNET", "web").update(metrics={"normal": -1})),
        ("metrics zero key", lambda g: _conn(_region(g, "eu"), "INTERNET", "web").update(metrics={"normal": 10, "danger": 0})),
        ("metrics unknown key", lambda g: _conn(_region(g, "eu"), "INTERNET", "web").update(metrics={"ok": 10})),
        ("metrics bool", lambda g: _conn(_region(g, "eu"), "INTERNET", "web").update(metrics={"normal": True})),
        ("metrics empty in a region", lambda g: _conn(_region(g, "eu"), "INTERNET", "web").update(metrics={})),
        ("bad class", lambda g: _node(g, "eu", "api").update(**{"class": "fuzzy"})),
        ("severity 3", lambda g: _node(g, "eu", "api")["notices"][0].update(severity=3)),
        ("severity 0", lambda g: _node(g, "eu", "api")["notices"][0].update(severity=0)),
        ("severity string", lambda g: _node(g, "eu", "api")["notices"][0].update(severity="1")),
        ("raw < in title", lambda g: _node(g, "eu", "api")["notices"][0].update(title="<img src=x onerror=alert(1)>")),
        ("raw & in subtitle", lambda g: _node(g, "eu", "api")["notices"][0].update(subtitle="a & b")),
        ("javascript link", lambda g: _node(g, "eu", "api")["notices"][0].update(link="javascript:alert(1)")),
        ("warning without notice", lambda g: _node(g, "eu", "api").pop("notices")),
        ("isolated service", lambda g: _region(g, "eu")["nodes"].insert(3, {"renderer": "focusedChild", "name": "solo", "class": "normal"})),
        ("region without entry connection", lambda g: g["connections"].pop(1)),

        ("services unsorted", lambda g: _region(g, "eu")["nodes"].__setitem__(slice(1, 3), [_node(g, "eu", "web"), _node(g, "eu", "api")])),
        ("stand-in before services", lambda g: _region(g, "us")["nodes"].reverse()),
        ("connections unsorted", lambda g: _region(g, "eu")["connections"].reverse()),
        ("duplicate connection", lambda g: _region(g, "eu")["connections"].append(copy.deepcopy(_region(g, "eu")["connections"][-1]))),
        ("stale without notice", lambda g: _region(g, "us").pop("notices")),
        ("stale notice without flag", lambda g: _region(g, "us")["metadata"].pop("stale")),
        ("hidden_services missing", lambda g: _region(g, "eu")["metadata"].pop("hidden_services")),
        ("hosts unsorted", lambda g: _node(g, "eu", "api")["nodes"].reverse()),
        ("connection into entry", lambda g: _region(g, "eu")["connections"].insert(1, {"source": "api", "target": "INTERNET", "metrics": {"normal": 1}, "class": "normal"})),
        ("entry node coloured", lambda g: g["nodes"][0].update(**{"class": "danger"})),
        ("metadata count infinite", lambda g: _conn(g, "eu", "us")["metadata"].update(normal=float("inf"))),
        ("latency not {avg, max}", lambda g: _conn(g, "eu", "us")["metadata"].update(latency_ms=12)),
        ("latency max below avg", lambda g: _conn(g, "eu", "us")["metadata"].update(latency_ms={"avg": 10, "max": 5})),
        ("latency negative", lambda g: _conn(g, "eu", "us")["metadata"].update(latency_ms={"avg": -1})),
    ]


def self_test():
    failures = []
    good = _good_graph()
    errs = validate(good, (0.03, 0.10, 0.1))
    if errs:
        failures.append("the good example is rejected: " + "; ".join(errs))
    # The same graph through JSON text, as files arrive.
    if validate_text(json.dumps(good)):
        failures.append("the good example is rejected after a JSON round trip")
    if not validate_text('{"renderer": "global", "maxVolume": NaN}'):
        failures.append("NaN accepted")
    for name, breaker in _broken_graphs():
        g = copy.deepcopy(good)
        breaker(g)
        if not validate(g):
            failures.append("not caught: " + name)
    # Thresholds: a 5% danger share must be warning, not normal.
    g = copy.deepcopy(good)
    c = _conn(_region(g, "eu"), "web", "api")
    c["class"] = "normal"
    c.pop("notices")
    if not validate(g, (0.03, 0.10, 0.1)):
        failures.append("not caught: class inconsistent with thresholds")
    # Latency thresholds (ms): a normal connection whose average reaches one must be coloured.
    g = copy.deepcopy(good)
    slow = _conn(_region(g, "eu"), "INTERNET", "web")
    slow["metadata"] = dict(slow.get("metadata") or {}, latency_ms={"avg": 900, "max": 1500})
    if validate(g, (0.03, 0.10, 0.1)) or not validate(g, (0.03, 0.10, 0.1, None, 500)):
        failures.append("latency: a well-formed latency_ms rejected, or a danger latency not required")
    # Baseline: a gone edge (no traffic, class warning, a notice) is drawn; one that carries
    # traffic, is normal or has no baseline rate is caught.
    g = copy.deepcopy(good)
    _region(g, "eu")["connections"].append(
        {"source": "web", "target": "us", "metrics": {}, "class": "warning",
         "notices": [{"title": "no traffic now: 12/s 1w ago", "severity": 1}],
         "metadata": {"normal": 0, "warning": 0, "danger": 0, "baseline_rate": 12, "change": "gone"}})
    if validate(g, (0.03, 0.10, 0.1)):
        failures.append("baseline: a well-formed gone connection rejected: " + "; ".join(validate(g, (0.03, 0.10, 0.1))))
    for name, breaker in (("gone with traffic", lambda c: c.update(metrics={"normal": 1})),
                          ("gone but normal", lambda c: c.update(**{"class": "normal"})),
                          ("gone without baseline", lambda c: c["metadata"].pop("baseline_rate")),
                          ("change unknown", lambda c: c["metadata"].update(change="odd")),
                          ("empty metrics without change", lambda c: c["metadata"].pop("change"))):
        b = copy.deepcopy(g)
        breaker(_region(b, "eu")["connections"][-1])
        if not validate(b, (0.03, 0.10, 0.1)):
            failures.append("not caught: " + name)
    n = len(_broken_graphs()) + 11
    for f in failures:
        print("self-test: " + f)
    print("self-test: %d checks, %d failed" % (n, len(failures)))
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "--self-test":
        return self_test()
    thresholds = None
    files = []
    i = 1
    while i < len(argv):
        if argv[i] == "--thresholds" and i + 1 < len(argv):
            try:
                thresholds = tuple(float(x) for x in argv[i + 1].split(","))
                if len(thresholds) != 3:
                    raise ValueError
            except ValueError:
                print("--thresholds wants WARNING,DANGER,MIN_RATE", file=sys.stderr)
                return 2
            i += 2
        elif argv[i].startswith("-") and argv[i] != "-":
            print("usage: vizceral_validator.py [--thresholds W,D,MIN] FILE | --self-test", file=sys.stderr)
            return 2
        else:
            files.append(argv[i])
            i += 1
    if len(files) != 1:
        print("usage: vizceral_validator.py [--thresholds W,D,MIN] FILE | --self-test", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.read() if files[0] == "-" else open(files[0], encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as e:
        print("%s: %s" % (files[0], e), file=sys.stderr)
        return 1
    errors = validate_text(text, thresholds)
    for e in errors:
        print("%s: %s" % (files[0], e))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
