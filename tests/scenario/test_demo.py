"""`vizfeed --demo`: the one-command way to see vizfeed working."""
import gzip
import json
import signal

from vizlib import Daemon, Tap, validate


def main():
    tap = Tap()
    with Daemon(["--demo"]) as d:
        graph = d.wait_for(lambda: d.graph(), what="the demo graph")
        problems = validate(graph)
        tap.check(not problems, "the demo graph passes the validator", "\n".join(problems))
        regions = [n for n in graph["nodes"] if n["name"] != graph["entryNode"]]
        tap.check(len(regions) >= 3, f"at least 3 regions ({len(regions)})")
        services = {(r["name"], s["name"]) for r in regions for s in r.get("nodes", []) if s.get("renderer") == "focusedChild"}
        tap.check(len(services) >= 40, f"at least 40 services ({len(services)})")
        hosts = sum(len(s.get("nodes", [])) for r in regions for s in r.get("nodes", []))
        tap.check(hosts >= 40, f"services have hosts ({hosts})")
        cross = [c for c in graph["connections"] if c["source"] != graph["entryNode"]]
        tap.check(cross, "cross-region calls at the global level")
        tap.check(all(r.get("nodes") for r in regions), "three levels: every region has services")
        status, h, body = d.request("GET", "/vizceral.json", {"Accept-Encoding": "gzip"})
        tap.check(status == 200 and json.loads(gzip.decompress(body))["name"] == graph["name"], "served gzip")
        d.signal(signal.SIGINT)
        d.proc.wait(timeout=20)
        tap.equal(d.proc.returncode, 0, "SIGINT: exit code 0")
    tap.done()


main()
