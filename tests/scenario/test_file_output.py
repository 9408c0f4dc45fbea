"""output.file is replaced atomically: a reader that keeps reading while the
daemon rewrites it every half second never sees a partial or empty file."""
import json
import os
import tempfile
import threading

from vizlib import Daemon, Tap, poll, validate, write


def main():
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = os.path.join(tmp, "out")
        os.makedirs(out_dir)
        out = os.path.join(out_dir, "vizceral.json")
        config = write(os.path.join(tmp, "vizfeed.yml"), f"""
refresh: {{ interval: 500ms, window: 10s, lag: 0s }}
output: {{ file: {out} }}
flows:
  - name: demo
    type: demo
""")
        reads, bad, versions = [0], [], set()
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    with open(out, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                reads[0] += 1
                try:
                    versions.add(json.loads(data)["updated"])
                except Exception as e:
                    bad.append(f"{len(data)} bytes: {e}")

        with Daemon(["-c", config]) as d:
            d.wait_for(lambda: os.path.exists(out), what="the output file")
            t = threading.Thread(target=reader)
            t.start()
            poll(lambda: len(versions) >= 6, 30, every=0.1)
            stop.set()
            t.join()
            tap.check(len(versions) >= 6, f"the file was replaced at least 5 times while read ({len(versions)} versions)")
            tap.check(reads[0] > 20, f"the reader read many times ({reads[0]})")
            tap.check(not bad, "never a partial or empty file", "\n".join(bad[:5]))
            leftovers = [f for f in os.listdir(out_dir) if f != "vizceral.json"]
            tap.check(not leftovers, "no temporary file left behind", leftovers)
            graph = json.load(open(out))
            problems = validate(graph)
            tap.check(not problems, "the file holds a valid graph", "\n".join(problems))
            tap.equal(oct(os.stat(out).st_mode & 0o777), oct(0o644), "the file is readable by the page server")
    tap.done()


main()
