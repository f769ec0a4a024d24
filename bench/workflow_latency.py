#!/usr/bin/python3
"""Workflow benchmarks: step-to-step latency of a 100-step chain of /bin/true
(the end of one step to the start of the next, median and p99) and a wide
fan-out (one root, 999 steps that need it).

Targets (issue 4): chain median under 2 ms, p99 under 10 ms. Every step is
recorded durably (SQLite, synchronous=FULL) before it starts, so the floor is
one fsync per step; the fsync cost is measured in the same run and printed
beside the figures as the baseline.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import datetime


def ts(s):
    return datetime.fromisoformat(s).timestamp() if s else None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def fsync_cost(folder, n=200):
    path = os.path.join(folder, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        os.write(fd, b"x" * 4096)
        os.fdatasync(fd)
        times.append((time.perf_counter() - t0) * 1000)
    os.close(fd)
    os.unlink(path)
    return statistics.median(times), pct(times, 99)


def run_workflow(sked, folder, yaml_text, job, timeout=300):
    cfg = os.path.join(folder, "sked.yaml")
    with open(cfg, "w") as f:
        f.write(yaml_text)
    log = open(os.path.join(folder, "daemon.log"), "w")
    d = subprocess.Popen([sked, "run", "-c", cfg], stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            if "event=started_daemon" in open(os.path.join(folder, "daemon.log")).read():
                break
            time.sleep(0.05)
        subprocess.run([sked, "trigger", job, "-c", cfg], check=True, capture_output=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            h = json.loads(subprocess.run([sked, "history", job, "--json", "-n", "1", "-c", cfg],
                                          check=True, capture_output=True, text=True).stdout)
            top = [r for r in h if r["workflow_run"] is None]
            if top and top[0]["status"] not in ("queued", "running"):
                return top[0], [r for r in h if r["workflow_run"] == top[0]["id"]]
            time.sleep(0.2)
        raise SystemExit("the workflow did not finish in time")
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=60)


def chain(sked, n):
    steps = ["      s0: {run: [/bin/true]}"]
    steps += [f"      s{i}: {{run: [/bin/true], needs: [s{i - 1}]}}" for i in range(1, n)]
    yaml_text = "jobs:\n  chain:\n    keep_runs: 0\n    steps:\n" + "\n".join(steps) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        wf, rows = run_workflow(sked, folder, yaml_text, "chain")
        fs = fsync_cost(folder)
    by = {r["step"]: r for r in rows}
    gaps = [(ts(by[f"s{i}"]["started_at"]) - ts(by[f"s{i - 1}"]["ended_at"])) * 1000
            for i in range(1, n)]
    return wf, gaps, fs


def fanout(sked, n, parallel):
    steps = ["      root: {run: [/bin/true]}"]
    steps += [f"      leaf{i}: {{run: [/bin/true], needs: [root]}}" for i in range(n)]
    yaml_text = (f"max_parallel: {parallel}\njobs:\n  fan:\n    keep_runs: 0\n"
                 f"    max_parallel: {parallel}\n    steps:\n" + "\n".join(steps) + "\n")
    with tempfile.TemporaryDirectory() as folder:
        wf, rows = run_workflow(sked, folder, yaml_text, "fan", timeout=600)
    root = next(r for r in rows if r["step"] == "root")
    leaves = [r for r in rows if r["step"] != "root"]
    t0 = ts(root["ended_at"])
    last = max(ts(r["ended_at"]) for r in leaves)
    return wf, leaves, (last - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--fan", type=int, default=999)
    ap.add_argument("--parallel", type=int, default=16)
    a = ap.parse_args()
    sked = os.path.abspath(os.path.join(a.build, "sked"))

    wf, gaps, (fs_med, fs_p99) = chain(sked, a.steps)
    med, p99 = statistics.median(gaps), pct(gaps, 99)
    print(f"workflow chain: {a.steps} steps of /bin/true, status {wf['status']}")
    print(f"  step-to-step latency  median {med:6.2f} ms   p99 {p99:6.2f} ms   max {max(gaps):6.2f} ms")
    print(f"  baseline: one 4 KiB append + fdatasync on the same disk  median {fs_med:5.2f} ms"
          f"   p99 {fs_p99:5.2f} ms")
    print(f"  target: median < 2 ms ({'met' if med < 2 else 'MISSED'}), "
          f"p99 < 10 ms ({'met' if p99 < 10 else 'MISSED'})")

    wf, leaves, span = fanout(sked, a.fan, a.parallel)
    ok = sum(1 for r in leaves if r["status"] == "succeeded")
    print(f"workflow fan-out: 1 root + {a.fan} steps, max_parallel {a.parallel}, status {wf['status']}")
    print(f"  {ok}/{len(leaves)} steps succeeded in {span:.2f} s: {len(leaves) / span:.0f} steps/s")


if __name__ == "__main__":
    main()
