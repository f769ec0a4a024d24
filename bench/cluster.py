#!/usr/bin/python3
"""Throughput of 1, 2 and 3 sked nodes on one PostgreSQL schema, against
one node on SQLite, and the failover time of a two-node cluster.

usage: tests/pg.sh run /usr/bin/python3 bench/cluster.py [--seconds N] [--build DIR]
       [--jobs J] [--max-parallel P] [--warmup W] [--out DIR]

Every configuration runs the same sked.yaml: J jobs (default 2,000) `every: 1s`
running `true`, `max_parallel: P` (default 200), so that one node is at or
near what it can fire. Each PostgreSQL configuration gets a fresh schema;
its nodes each have their own folder and state_dir. The first node starts
alone and is waited for until it leads, then the others start (standbys).

Throughput: after W seconds of warm-up (default 5) the window is N seconds
(default 20). From `sked history --json` after the nodes stopped:
  fires/s   runs whose started_at falls in the window, per second;
  fired %   of the J x N scheduled instants in the window, those recorded by
            a run that started; missed %, skipped % recorded as such; the
            rest (still queued at the end, interrupted, no record) is "other".

Failover: two nodes; the leader (GET /api/v1/status over STATE_DIR/sked.sock,
field "leading") is killed with SIGKILL 3 times, 10 s apart, and started
again 2 s after each kill as a standby. The failover time is kill -> the
first `event=started` line, in a surviving node's log, of a fire scheduled
after the kill.

Writes OUT/cluster.json (default bench/out). Exit 0 when measured (a
measurement, not a test), 1 on a broken run, 2 without SKED_TEST_PG_URL.
"""
import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

from benchlib import sked_revision, one_at_a_time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STARTED = re.compile(r"^(\S+) \S+ event=started job=.* scheduled=(\S+)")


def iso_to_unix(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def psql(url, sql):
    r = subprocess.run(["psql", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s" % r.stderr)
    return r.stdout.strip()


def config_text(store, njobs, max_parallel):
    lines = []
    if store:
        lines.append("store: %s" % json.dumps(store))
    lines += ["max_parallel: %d" % max_parallel, "jobs:"]
    for i in range(njobs):
        lines.append("  j%05d: {every: 1s, run: [\"true\"]}" % i)
    return "\n".join(lines) + "\n"


class Node:
    def __init__(self, sked, folder, text):
        self.sked = sked
        self.dir = folder
        os.makedirs(folder)
        self.config = os.path.join(folder, "sked.yaml")
        with open(self.config, "w") as f:
            f.write(text)
        self.sock = os.path.join(folder, ".sked", "sked.sock")
        self.log_path = os.path.join(folder, "daemon.log")
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.pop("SKED_CONFIG", None)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([self.sked, "run", "-c", self.config, "--node",
                                          os.path.basename(self.dir)], stdout=log,
                                         stderr=log, cwd=self.dir, env=env,
                                         start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=60):
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def status(self, timeout=3.0):
        path = self.sock

        class Conn(http.client.HTTPConnection):
            def connect(conn):
                conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.sock.settimeout(timeout)
                conn.sock.connect(path)
        c = Conn("sked", timeout=timeout)
        try:
            c.request("GET", "/api/v1/status")
            r = c.getresponse()
            return json.loads(r.read()) if r.status == 200 else None
        except (OSError, ValueError, http.client.HTTPException):
            return None
        finally:
            c.close()

    def leading(self):
        st = self.status() if self.alive() else None
        return bool(st and st.get("leading"))

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def first_start_after(self, t):
        """The first start of a fire scheduled after t (one the next leader
        fired: runs dispatched before go on on their nodes meanwhile)."""
        for line in self.log().splitlines():
            m = STARTED.match(line)
            if m:
                x = iso_to_unix(m.group(1))
                if x >= t and iso_to_unix(m.group(2)) > t:
                    return x
        return None


def wait_leading(node, timeout=60, what="node"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not node.alive():
            raise RuntimeError("%s exited (%s):\n%s" % (what, node.proc.returncode,
                                                        node.log()[-3000:]))
        if node.leading():
            return
        time.sleep(0.1)
    raise RuntimeError("%s did not lead within %d s:\n%s" % (what, timeout, node.log()[-3000:]))


def new_schema(url, tag):
    schema = "bench_%s_%s" % (tag, hashlib.sha1(("%s%f" % (tag, time.time())).encode())
                              .hexdigest()[:8])
    psql(url, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s" % (schema, schema))
    store = url + ("&" if "?" in url else "?") + "options=-csearch_path%3D" + schema
    return schema, store


def start_cluster(a, folder, store, n):
    shutil.rmtree(folder, ignore_errors=True)
    text = config_text(store, a.jobs, a.max_parallel)
    nodes = [Node(a.sked, os.path.join(folder, "n%d" % i), text) for i in range(n)]
    nodes[0].start()
    wait_leading(nodes[0], what="node 0")
    for x in nodes[1:]:
        x.start()
    return nodes


def throughput(a, name, folder, store, n):
    print("  running %s ..." % name, flush=True)
    nodes = start_cluster(a, folder, store, n)
    try:
        t0 = time.time() + a.warmup
        t1 = t0 + a.seconds
        time.sleep(t1 + 2.0 - time.time())  # the last instants get recorded
        leaders = sum(1 for x in nodes if x.leading())
        load = open("/proc/loadavg").read().split()[0]
    finally:
        for x in nodes:
            x.stop()
    deaths = [x.proc.returncode for x in nodes if x.proc.returncode not in (0, None)]
    r = subprocess.run([a.sked, "history", "--json", "-n", "1000000", "-c", nodes[0].config],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("sked history failed: %s" % r.stderr)
    runs = json.loads(r.stdout)
    started = sum(1 for x in runs if x.get("started_at")
                  and t0 <= iso_to_unix(x["started_at"]) < t1)
    # One fire record per (job, scheduled instant) in the window.
    counts = {"fired": 0, "missed": 0, "skipped": 0, "other": 0}
    for x in runs:
        if x["trigger"] not in ("schedule", "catchup") or x.get("attempt", 1) != 1:
            continue
        if not (t0 <= iso_to_unix(x["scheduled_at"]) < t1):
            continue
        if x.get("started_at"):
            counts["fired"] += 1
        elif x["status"] in ("missed", "skipped"):
            counts[x["status"]] += 1
        else:
            counts["other"] += 1
    instants = a.jobs * a.seconds
    recorded = sum(counts.values())
    counts["other"] += max(0, instants - recorded)  # instants without any record
    res = {"name": name, "nodes": n, "store": "sqlite" if store is None else "postgres",
           "window_s": a.seconds, "instants": instants, "records": recorded,
           "runs_started": started, "fires_per_s": started / a.seconds,
           "share": {k: v / instants for k, v in counts.items()}, "counts": counts,
           "leaders_at_end": leaders, "abnormal_exits": deaths, "loadavg_end": load}
    return res


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else None


def lateness(a, name, folder, store, n):
    """Below saturation (LJ jobs every 1s): how late runs start after their
    instant, and how the nodes share them."""
    print("  running lateness, %s ..." % name, flush=True)
    b = argparse.Namespace(**vars(a))
    b.jobs, b.max_parallel = a.lateness_jobs, 200
    nodes = start_cluster(b, folder, store, n)
    try:
        t0 = time.time() + a.warmup
        t1 = t0 + a.seconds
        time.sleep(t1 + 2.0 - time.time())
    finally:
        for x in nodes:
            x.stop()
    r = subprocess.run([a.sked, "history", "--json", "-n", "1000000", "-c", nodes[0].config],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("sked history failed: %s" % r.stderr)
    late, per_node = [], {}
    for x in json.loads(r.stdout):
        if x["trigger"] != "schedule" or not x.get("started_at"):
            continue
        sched = iso_to_unix(x["scheduled_at"])
        if t0 <= sched < t1:
            late.append(1000.0 * (iso_to_unix(x["started_at"]) - sched))
            per_node[x.get("node") or "-"] = per_node.get(x.get("node") or "-", 0) + 1
    return {"name": name, "nodes": n, "runs": len(late), "p50_ms": pct(late, 50),
            "p99_ms": pct(late, 99), "max_ms": max(late) if late else None,
            "per_node": per_node}


def failover(a, folder, store, kills=3, pause=10.0):
    print("  running failover (2 nodes, %d kills) ..." % kills, flush=True)
    nodes = start_cluster(a, folder, store, 2)
    out = []
    try:
        time.sleep(a.warmup)
        for k in range(kills):
            leaders = [x for x in nodes if x.leading()]
            deadline = time.time() + 15
            while len(leaders) != 1 and time.time() < deadline:
                time.sleep(0.2)
                leaders = [x for x in nodes if x.leading()]
            if len(leaders) != 1:
                raise RuntimeError("found %d leaders before kill %d" % (len(leaders), k + 1))
            victim = leaders[0]
            others = [x for x in nodes if x is not victim]
            at = time.time()
            victim.kill9()
            time.sleep(2.0)
            victim.start()  # back as a standby, as its supervisor would
            time.sleep(pause - 2.0)
            firsts = [t for t in (x.first_start_after(at) for x in others) if t is not None]
            gap = (min(firsts) - at) if firsts else None
            out.append(gap)
            print("    kill %d: node %d killed; first run on the new leader %s"
                  % (k + 1, nodes.index(victim),
                     "%.2f s later" % gap if gap is not None else "NOT within %.0f s" % pause),
                  flush=True)
    finally:
        for x in nodes:
            x.stop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--max-parallel", type=int, default=200)
    ap.add_argument("--lateness-jobs", type=int, default=100)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    a = ap.parse_args()
    url = os.environ.get("SKED_TEST_PG_URL")
    if not url:
        print("cluster.py: SKED_TEST_PG_URL is not set; run it under tests/pg.sh run",
              file=sys.stderr)
        return 2
    a.sked = os.path.join(os.path.abspath(a.build), "sked")
    if not os.access(a.sked, os.X_OK):
        sys.exit("cluster.py: %s is missing (make)" % a.sked)
    a.out = os.path.abspath(a.out)
    lock = one_at_a_time(os.path.join(a.out, "cluster.json"))  # noqa: F841 (held until exit)
    work = os.path.join(a.out, "cluster")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    print("cluster: %d jobs every: 1s running true, max_parallel %d; %d s window after "
          "%.0f s warm-up; load average before: %s"
          % (a.jobs, a.max_parallel, a.seconds, a.warmup,
             open("/proc/loadavg").read().split()[0]))
    print("sked: %s" % sked_revision(a.sked))
    results, schemas = [], []
    try:
        results.append(throughput(a, "sqlite, 1 node", os.path.join(work, "sqlite"), None, 1))
        for n in (1, 2, 3):
            schema, store = new_schema(url, "n%d" % n)
            schemas.append(schema)
            results.append(throughput(a, "postgres, %d node%s" % (n, "s" if n > 1 else ""),
                                      os.path.join(work, "pg%d" % n), store, n))
        late = [lateness(a, "sqlite, 1 node", os.path.join(work, "lsqlite"), None, 1)]
        for n in (1, 2, 3):
            schema, store = new_schema(url, "l%d" % n)
            schemas.append(schema)
            late.append(lateness(a, "postgres, %d node%s" % (n, "s" if n > 1 else ""),
                                 os.path.join(work, "lpg%d" % n), store, n))
        schema, store = new_schema(url, "fo")
        schemas.append(schema)
        gaps = failover(a, os.path.join(work, "failover"), store)
    except RuntimeError as e:
        print("cluster.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        for s in schemas:
            try:
                psql(url, "DROP SCHEMA IF EXISTS %s CASCADE" % s)
            except RuntimeError:
                pass

    print()
    print("%-20s %8s %9s %8s %8s %8s %8s" % ("configuration", "fires/s", "of ideal", "fired",
                                             "missed", "skipped", "other"))
    for r in results:
        s = r["share"]
        print("%-20s %8.0f %8.1f%% %7.1f%% %7.1f%% %7.1f%% %7.1f%%"
              % (r["name"], r["fires_per_s"], 100.0 * r["fires_per_s"] / a.jobs,
                 100 * s["fired"], 100 * s["missed"], 100 * s["skipped"], 100 * s["other"]))
        notes = []
        if r["leaders_at_end"] != 1:
            notes.append("%d node(s) leading at the end" % r["leaders_at_end"])
        if r["abnormal_exits"]:
            notes.append("exit statuses %s" % r["abnormal_exits"])
        if notes:
            print("    note: %s" % "; ".join(notes))
    print("(ideal: %d fires/s; shares are of the %d scheduled instants in the window, by "
          "their fire record)" % (a.jobs, a.jobs * a.seconds))
    print()
    print("lateness: %d jobs every: 1s (below saturation), start - scheduled instant:"
          % a.lateness_jobs)
    print("%-20s %6s %8s %8s %8s  %s" % ("configuration", "runs", "p50 ms", "p99 ms", "max ms",
                                         "runs per node"))
    for r in late:
        print("%-20s %6d %8.1f %8.1f %8.1f  %s"
              % (r["name"], r["runs"], r["p50_ms"] or 0, r["p99_ms"] or 0, r["max_ms"] or 0,
                 ", ".join("%s %d" % kv for kv in sorted(r["per_node"].items()))))
    good = [g for g in gaps if g is not None]
    print()
    print("failover, 2 nodes on PostgreSQL, leader killed with SIGKILL -> first run started "
          "on the new leader:")
    print("  %s; median %s" % (", ".join("%.2f s" % g if g is not None else "none" for g in gaps),
                               "%.2f s" % statistics.median(good) if good else "-"))
    print("(load average after: %s)" % open("/proc/loadavg").read().split()[0])

    with open(os.path.join(a.out, "cluster.json"), "w") as f:
        json.dump({"sked": sked_revision(a.sked), "jobs": a.jobs,
                   "max_parallel": a.max_parallel, "seconds": a.seconds, "warmup": a.warmup,
                   "throughput": results, "lateness": late,
                   "failover_s": gaps,
                   "failover_median_s": statistics.median(good) if good else None},
                  f, indent=2)
    print("wrote %s" % os.path.relpath(os.path.join(a.out, "cluster.json")))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if good and all(r["runs_started"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
