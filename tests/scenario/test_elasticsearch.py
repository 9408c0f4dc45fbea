"""An elasticsearch flow against the test Elasticsearch: the same events give
byte-identical graphs through a file flow and an elasticsearch flow (paged
over many composite pages); the configured credentials and X-Opaque-Id
arrive; a slow Elasticsearch never delays an HTTP answer."""
import json
import os
import tempfile
import time

from esdata import AT, INDEX, FakeElasticsearch, config, events, run_printed_query, write_ndjson
from vizlib import Daemon, Tap, run, validate


def searches(es):
    return [r for r in es.requests if r["path_only"].endswith("/_search")]


def same_graph_through_file_and_elasticsearch(tap, tmp):
    docs = events()
    file_cfg = config(os.path.join(tmp, "file.yml"), f"type: file\n    path: {write_ndjson(os.path.join(tmp, 'ev.ndjson'), docs)}")
    with FakeElasticsearch() as es:
        es.load(INDEX, docs)
        es_cfg = config(os.path.join(tmp, "es.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                        es=f"elasticsearch: {{ hosts: [{es.url}], page_size: 4 }}")
        a = run(["once", "-c", file_cfg, "--at", AT])
        b = run(["once", "-c", es_cfg, "--at", AT])
        tap.check(a.returncode == 0 and b.returncode == 0, "both flows answer", a.stderr + b.stderr)
        pages = len(searches(es))
        tap.check(pages >= 5, f"the composite aggregation was paged ({pages} requests at page_size 4)")
        tap.check(a.stdout == b.stdout and a.stdout, "file and elasticsearch flows give byte-identical graphs",
                  f"file {len(a.stdout)} bytes, elasticsearch {len(b.stdout)} bytes")
        graph = json.loads(b.stdout)
        problems = validate(graph, 0.05, 0.2, 0.01)
        tap.check(not problems, "the graph passes the validator", "\n".join(problems))
        first = searches(es)[0]
        body = json.loads(first["body"])
        rng = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
        tap.check(rng["gte"] == 1767225600000 and rng["lt"] == 1767225720000,
                  "the window is an absolute epoch-ms range", rng)
        # The window's pages (the baseline window's follow, graph.baseline being on by default).
        live = [r for r in searches(es)
                if json.loads(r["body"])["query"]["bool"]["filter"][0]["range"]["@timestamp"]["lt"] == 1767225720000]
        windows = {json.dumps(json.loads(r["body"])["query"]) for r in live}
        tap.check(len(windows) == 1, "every page asks for the same window and filters")
        tap.check(body.get("size") == 0 and body.get("track_total_hits") is False, "size 0, no total hits")
        tap.check("filter_path=" in first["path"] and "ignore_unavailable=true" in first["path"]
                  and "allow_no_indices=true" in first["path"], "filter_path, ignore_unavailable, allow_no_indices",
                  first["path"])
        tap.check(first["headers"].get("X-Opaque-Id") == "access" or first["headers"].get("x-opaque-id") == "access",
                  "X-Opaque-Id names the flow", first["headers"])
        afters = [json.loads(r["body"])["aggs"]["edges"]["composite"].get("after") for r in live]
        tap.check(afters[0] is None and all(afters[1:]), "pages follow after_key")


def credentials_arrive(tap, tmp):
    docs = events()[:20]
    cases = [("basic", dict(user="elastic", password="s3cret"), "username: elastic\n  password: s3cret", "Basic "),
             ("api key", dict(api_key="kid:kval"), "api_key: kid:kval", "ApiKey "),
             ("bearer", dict(bearer="tok123"), "bearer_token: tok123", "Bearer ")]
    for name, server_auth, yaml_auth, scheme in cases:
        with FakeElasticsearch(**server_auth) as es:
            es.load(INDEX, docs)
            cfg = config(os.path.join(tmp, f"auth-{scheme.strip()}.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                         es=f"elasticsearch:\n  hosts: [{es.url}]\n  {yaml_auth}")
            r = run(["once", "-c", cfg, "--at", AT])
            tap.check(r.returncode == 0, f"{name}: the cluster accepts the configured credentials", r.stderr)
            auth = [q["headers"].get("Authorization", "") for q in searches(es)]
            tap.check(auth and all(a.startswith(scheme) for a in auth), f"{name}: Authorization: {scheme}...")
            tap.check("s3cret" not in r.stderr + r.stdout and "tok123" not in r.stderr + r.stdout,
                      f"{name}: no secret in the output")
        with FakeElasticsearch(**server_auth) as es:
            es.load(INDEX, docs)
            cfg = config(os.path.join(tmp, "wrong.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                         es=f"elasticsearch:\n  hosts: [{es.url}]\n  username: elastic\n  password: wrong")
            r = run(["once", "-c", cfg, "--at", AT])
            tap.check(r.returncode == 1 and "401" in r.stderr and es.url in r.stderr,
                      f"{name}: wrong credentials: exit 1, the error names the host and the 401", r.stderr)


def query_numbers_match_the_graph(tap, tmp):
    docs = events()
    with FakeElasticsearch() as es:
        es.load(INDEX, docs)
        cfg = config(os.path.join(tmp, "q.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                     es=f"elasticsearch: {{ hosts: [{es.url}] }}")
        q = run(["query", "-c", cfg, "--at", AT])
        tap.check(q.returncode == 0 and q.stdout.startswith("# flow access\nPOST /"), "query prints the request",
                  q.stdout[:200] + q.stderr)
        total = run_printed_query(es.url, q.stdout)
        expected = sum(1 for d in docs if d["event"]["dataset"] == "nginx.access"
                       and "2026-01-01T00:00:00" <= d["@timestamp"] < "2026-01-01T00:02:00")
        tap.equal(total, expected, "the printed request, run by hand, counts the events of the window")
        graph = json.loads(run(["once", "-c", cfg, "--at", AT]).stdout)
        counted = graph.get("metadata", {}).get("dropped", 0)
        for region in graph["nodes"][1:]:
            for c in region.get("connections", []):
                if not region_standin(region, c["source"]):
                    counted += sum(c.get("metadata", {}).get(k, 0) for k in ("normal", "warning", "danger"))
            for n in region.get("nodes", []):
                counted += n.get("metadata", {}).get("self_call_rate", 0) * 120
        tap.check(abs(counted - total) < 1e-6, f"the graph accounts for every counted event ({counted} of {total})")


def region_standin(region, name):
    for n in region.get("nodes", []):
        if n["name"] == name:
            return n.get("metadata", {}).get("region") is True
    return False


def slow_elasticsearch_never_delays_http(tap, tmp):
    docs = events()
    with FakeElasticsearch() as es:
        es.load(INDEX, docs)
        cfg = config(os.path.join(tmp, "slow.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                     es=f"elasticsearch: {{ hosts: [{es.url}], timeout: 10s }}", interval="1s")
        with Daemon(["-c", cfg]) as d:
            d.wait_for(lambda: d.request("GET", "/vizceral.json")[0] == 200, what="the first graph")
            es.inject([{"delay": 3, "always": True}])
            time.sleep(1.5)  # a refresh is now waiting on the slow cluster
            worst = 0.0
            for _ in range(20):
                t0 = time.time()
                status = d.request("GET", "/vizceral.json")[0]
                worst = max(worst, time.time() - t0)
                tap_ok = status == 200
            tap.check(tap_ok, "the graph keeps being served while Elasticsearch is slow")
            tap.check(worst < 0.5, f"no answer waited for the refresh (slowest {worst * 1000:.0f} ms)")
            es.clear()


def product_is_detected(tap, tmp):
    """GET / tells Elasticsearch from OpenSearch; the requests are the same."""
    for flavor, product, major in (("es8", "elasticsearch", "8"), ("opensearch2", "opensearch", "2")):
        with FakeElasticsearch(flavor=flavor) as es:
            es.load(INDEX, events()[:20])
            cfg = config(os.path.join(tmp, f"{flavor}.yml"), 'type: elasticsearch\n    index: "filebeat-*"',
                         es=f"elasticsearch: {{ hosts: [{es.url}] }}", interval="1s")
            with Daemon(["-c", cfg]) as d:
                series = f'vizfeed_es_cluster_info{{flow="access",product="{product}",major="{major}"}} 1'
                tap.within(lambda: series in d.request("GET", "/metrics")[2].decode(),
                           f"{flavor}: /metrics names the product and major version", d=d)
                roots = [r for r in es.requests if r["path_only"] == "/"]
                tap.equal(len(roots), 1, f"{flavor}: GET / is asked once")


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        for group in (same_graph_through_file_and_elasticsearch, credentials_arrive, query_numbers_match_the_graph,
                      slow_elasticsearch_never_delays_http, product_is_detected):
            tap.run(group, tmp)
    tap.done()


main()
