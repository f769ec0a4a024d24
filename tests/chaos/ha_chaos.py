#!/usr/bin/python3
"""Chaos run for several sked nodes on one PostgreSQL store (docs/ha.md).

    tests/pg.sh run /usr/bin/python3 tests/chaos/ha_chaos.py [--seconds N] [--nodes 3] [--jobs 200]

Starts N nodes (each in its own folder and state_dir, one sked.yaml, one
store), supervises them (a node that exits is started again after 1 s),
kills the leader with SIGKILL every 20 s (started again 2 s later) and
restarts the PostgreSQL server once in the middle. Then stops every node,
starts one once more (so that it recovers what the others left), stops it,
and checks the store and the logs:

- every scheduled instant in the checked window has exactly one fire record;
- each fire ends succeeded, or interrupted/killed and retried, or by policy
  (missed, skipped);
- no run is left queued or running;
- no run id was started by two nodes;
- prints the failover gaps (kill -> next run start on any node).

Exits 0 when every invariant holds, 1 otherwise (with examples).
"""
import argparse
import glob
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
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKED = os.environ.get("SKED_BIN") or os.path.join(ROOT, "build", "sked")
MARGIN = 15.0       # seconds cut from both ends of the checked window
RETRIES = 2
T0 = time.time()


def say(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def ts(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# --- PostgreSQL -------------------------------------------------------------

def psql(url, sql):
    r = subprocess.run(["psql", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr}")
    return r.stdout.strip()


def pg_bin():
    if os.environ.get("PG_BIN"):
        return os.environ["PG_BIN"]
    best, best_v = None, -1
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        v = os.path.basename(os.path.dirname(d))
        v = int(v) if v.isdigit() else 0
        if os.access(os.path.join(d, "pg_ctl"), os.X_OK) and v >= best_v:
            best, best_v = d, v
    if best:
        return best
    return os.path.dirname(shutil.which("pg_ctl") or "pg_ctl")


def as_owner(cmd):
    if os.getuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def pg_restart(url):
    """pg_ctl restart of the test server (its data folder from the server)."""
    data = os.environ.get("SKED_TEST_PG_DIR")
    data = os.path.join(data, "data") if data else psql(url, "SHOW data_directory")
    logfile = os.path.join(os.path.dirname(data), "server.log")
    r = subprocess.run(as_owner([os.path.join(pg_bin(), "pg_ctl"), "-D", data, "-l", logfile,
                                 "-m", "fast", "-w", "-t", "60", "restart"]),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"pg_ctl restart failed: {r.stdout}{r.stderr}")


# --- nodes ------------------------------------------------------------------

class Node:
    def __init__(self, idx, folder):
        self.idx = idx
        self.dir = folder
        self.config = os.path.join(folder, "sked.yaml")
        self.sock = os.path.join(folder, ".sked", "sked.sock")
        self.log_path = os.path.join(folder, "daemon.log")
        self.proc = None
        self.restart_at = None     # when the supervisor starts it again
        self.exits = Counter()     # exit status -> count (not counting our kills/stops)
        self.starts = 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        with open(self.log_path, "a") as logf:
            self.proc = subprocess.Popen([SKED, "run", "-c", self.config, "--node",
                                          f"node{self.idx}"], stdout=logf,
                                         stderr=logf, cwd=self.dir, start_new_session=True)
        self.starts += 1
        self.restart_at = None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=60):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            say(f"node{self.idx}: did not stop on SIGTERM in {timeout}s; SIGKILL")
            self.kill9()
            return "timeout"

    def status(self, timeout=3.0):
        class Conn(http.client.HTTPConnection):
            def connect(conn):
                conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                conn.sock.settimeout(timeout)
                conn.sock.connect(self.sock)
        c = Conn("sked", timeout=timeout)
        try:
            c.request("GET", "/api/v1/status")
            r = c.getresponse()
            return json.loads(r.read()) if r.status == 200 else None
        except (OSError, ValueError, http.client.HTTPException):
            return None
        finally:
            c.close()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def config_text(store, njobs):
    lines = [f'store: "{store}"', "jobs:"]
    for i in range(njobs):
        every = 2 + i % 4                               # 2, 3, 4, 5 s
        run = '["true"]' if i % 3 else '[sleep, "0.5"]'
        lines.append(f"  j{i:03d}: {{every: {every}s, run: {run}, catchup: all, "
                     f"retries: {RETRIES}, retry_delay: 1s}}")
    return "\n".join(lines) + "\n"


def find_leader(nodes):
    leaders = []
    for n in nodes:
        if n.alive():
            st = n.status()
            if st and st.get("leading"):
                leaders.append(n)
    return leaders


def supervise(nodes, until, killed=None):
    """Runs the supervisor loop until time `until` (time.time())."""
    while time.time() < until:
        now = time.time()
        for n in nodes:
            if n.proc is not None and n.proc.poll() is not None and n.restart_at is None:
                rc = n.proc.returncode
                n.exits[rc] += 1
                say(f"node{n.idx}: exited with {rc}; restarting in 1 s")
                n.restart_at = now + 1.0
            if n.restart_at is not None and now >= n.restart_at:
                n.start()
                say(f"node{n.idx}: started (pid {n.proc.pid})")
        time.sleep(0.1)


# --- log parsing ------------------------------------------------------------

STARTED = re.compile(r'^(\S+) \S+ event=started job=(\S+) run=(\d+) attempt=(\d+) '
                     r'trigger=(\S+)(?: scheduled=(\S+))?')


FINISHED = re.compile(r'^(\S+) \S+ event=finished job=\S+ run=(\d+) ')


def started_lines(node):
    out = []
    for line in node.log().splitlines():
        m = STARTED.match(line)
        if m:
            out.append((ts(m.group(1)), int(m.group(3)), m.group(2), line))
    return out


# --- the run ----------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the nodes' folders")
    args = ap.parse_args()

    url = os.environ.get("SKED_TEST_PG_URL")
    if not url:
        print("ha_chaos.py: SKED_TEST_PG_URL is not set; run it under tests/pg.sh run",
              file=sys.stderr)
        return 2
    if not os.access(SKED, os.X_OK):
        print(f"ha_chaos.py: {SKED} not built (make)", file=sys.stderr)
        return 2

    # Short folder: the control socket's path must fit in sun_path.
    top = tempfile.mkdtemp(prefix="skc-")
    schema = "chaos_" + hashlib.sha1(top.encode()).hexdigest()[:12]
    psql(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    store = url + ("&" if "?" in url else "?") + "options=-csearch_path%3D" + schema
    text = config_text(store, args.jobs)
    nodes = []
    for i in range(args.nodes):
        d = os.path.join(top, f"n{i}")
        os.makedirs(d)
        with open(os.path.join(d, "sked.yaml"), "w") as f:
            f.write(text)
        nodes.append(Node(i, d))
    say(f"{args.nodes} nodes, {args.jobs} jobs, {args.seconds} s, folders in {top}, "
        f"schema {schema}")

    kills = []          # (time, node idx)
    pg_restart_at = None
    events = []
    try:
        # The first node first, so that it leads; then the others.
        nodes[0].start()
        deadline = time.time() + 30
        while time.time() < deadline and "event=started_daemon" not in nodes[0].log():
            time.sleep(0.1)
        for n in nodes[1:]:
            n.start()
        start = time.time()
        end = start + args.seconds
        kill_times = [start + k for k in range(20, args.seconds, 20)]
        pg_time = start + (args.seconds // 2 // 20) * 20 + 10
        pg_done = False
        while time.time() < end:
            supervise(nodes, min(time.time() + 0.5, end))
            now = time.time()
            if not pg_done and now >= pg_time:
                pg_done = True
                say("restarting PostgreSQL")
                pg_restart_at = time.time()
                try:
                    pg_restart(url)
                    say(f"PostgreSQL restarted ({time.time() - pg_restart_at:.1f} s)")
                except Exception as e:  # noqa: BLE001 - reported as a failure of the run
                    events.append(f"PostgreSQL restart failed: {e}")
                    say(events[-1])
            if kill_times and now >= kill_times[0]:
                leaders = find_leader(nodes)
                if len(leaders) != 1:
                    say(f"found {len(leaders)} leaders: {[n.idx for n in leaders]}")
                if not leaders:
                    if now - kill_times[0] > 10:
                        events.append(f"no leader found for 10 s at {now - start:.0f} s")
                        kill_times.pop(0)
                    continue
                kill_times.pop(0)
                victim = leaders[0]
                at = time.time()
                victim.kill9()
                victim.restart_at = at + 2.0
                kills.append((at, victim.idx))
                say(f"killed leader node{victim.idx} (SIGKILL); back in 2 s")
        chaos_end = time.time()

        say("stopping every node (SIGTERM)")
        stop_rc = {n.idx: n.stop() for n in nodes}
        for n in nodes:
            n.restart_at = None
        say(f"stopped: {stop_rc}")
        # One more leader start: it marks what was left running interrupted.
        last = nodes[0]
        final_start = time.time()
        last.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            st = last.status()
            if st and st.get("leading"):
                break
            if not last.alive():
                break
            time.sleep(0.2)
        else:
            events.append("the final node did not lead within 60 s")
        say("final node leading; letting it work for 8 s")
        time.sleep(8)
        rc = last.stop()
        say(f"final node stopped ({rc})")
        if rc not in (0, None):
            events.append(f"the final node exited with {rc}")
    finally:
        for n in nodes:
            if n.alive():
                n.kill9()

    ok = check(nodes, store, start, chaos_end, final_start, kills, pg_restart_at, events, args)
    if args.keep or not ok:
        say(f"folders kept in {top}")
    else:
        shutil.rmtree(top, ignore_errors=True)
        psql(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return 0 if ok else 1


def check(nodes, store, start, chaos_end, final_start, kills, pg_restart_at, events, args):
    cats_final = Counter()
    violations = defaultdict(list)
    for e in events:
        violations["run"].append(e)
    r = subprocess.run([SKED, "history", "--json", "-n", "1000000", "-c", nodes[0].config],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        print(f"sked history failed ({r.returncode}): {r.stderr}")
        return False
    runs = json.loads(r.stdout)
    by_id = {x["id"]: x for x in runs}
    every = {f"j{i:03d}": 2 + i % 4 for i in range(args.jobs)}

    # Fires and their attempts, by (job, instant).
    fires = defaultdict(list)
    chains = defaultdict(list)
    for x in runs:
        key = (x["job"], round(ts(x["scheduled_at"]) * 1000))
        chains[key].append(x)
        if x["trigger"] in ("schedule", "catchup") and x["attempt"] == 1:
            fires[key].append(x)
        elif x["trigger"] not in ("retry",):
            violations["unexpected trigger"].append(f"run {x['id']}: {x['trigger']}")

    # 1. No duplicate fire, anywhere.
    for key, xs in fires.items():
        if len(xs) > 1:
            violations["duplicate fire"].append(
                f"{key[0]} @ {xs[0]['scheduled_at']}: runs {[x['id'] for x in xs]}")

    # 2. No gap in the window.
    if not fires:
        print("no fire at all")
        return False
    first = min(k[1] for k in fires) / 1000
    w0, w1 = first + MARGIN, chaos_end - MARGIN
    # Per job, consecutive fire instants must be exactly `every` apart: more
    # is a gap, less an extra instant off the schedule (a shifted phase).
    per_job = defaultdict(list)
    for job, ms in fires:
        per_job[job].append(ms)
    expected = []
    for job, iv in every.items():
        ms = sorted(per_job.get(job, []))
        if not ms:
            violations["job never fired"].append(job)
            continue
        inside = [t for t in ms if w0 * 1000 <= t <= w1 * 1000]
        expected += [(job, t) for t in inside]
        for x, y in zip(ms, ms[1:]):
            if y < w0 * 1000 or x > w1 * 1000:
                continue
            d = y - x
            iso = lambda t: datetime.fromtimestamp(t / 1000).isoformat(timespec="milliseconds")
            if d > iv * 1000 + 1:
                violations["gap (instants without a fire record)"].append(
                    f"{job} every {iv}s: {iso(x)} then {iso(y)} (runs "
                    f"{fires[(job, x)][0]['id']}, {fires[(job, y)][0]['id']})")
            elif d < iv * 1000 - 1:
                violations["fire off the schedule (extra instant, shifted phase)"].append(
                    f"{job} every {iv}s: {iso(x)} (run {fires[(job, x)][0]['id']} "
                    f"{fires[(job, x)][0]['status']}) then {iso(y)} (run "
                    f"{fires[(job, y)][0]['id']} {fires[(job, y)][0]['status']})")

    # 3. The outcome of each fire in the window.
    cats = Counter()
    retryable = ("interrupted", "killed", "failed", "timed_out")
    for key in expected:
        chain = sorted(chains.get(key, []), key=lambda x: (x["attempt"], x["id"]))
        if not chain:
            continue
        atts = [x["attempt"] for x in chain]
        if atts != list(range(1, len(atts) + 1)):
            violations["attempts not 1..k once each"].append(
                f"{key[0]} @ {chain[0]['scheduled_at']}: "
                f"{[(x['id'], x['attempt'], x['status']) for x in chain]}")
            continue
        a1, last = chain[0], chain[-1]
        for x in chain[:-1]:
            if x["status"] not in retryable:
                violations["retry after a non-retryable outcome"].append(
                    f"run {x['id']} {x['status']} then run {chain[chain.index(x) + 1]['id']}")
        if a1["status"] in ("missed", "skipped"):
            cats[a1["status"]] += 1
        elif last["status"] == "succeeded":
            cats["succeeded" if len(chain) == 1 else
                 f"{a1['status']}, retried, succeeded (attempt {len(chain)})"] += 1
        elif last["status"] in retryable and last["attempt"] <= RETRIES:
            violations["not retried"].append(
                f"run {last['id']} {key[0]} attempt {last['attempt']} {last['status']} "
                f"reason={last.get('reason')!r}")
        else:
            cats[f"ended {last['status']} after {len(chain)} attempts"] += 1
            if last["status"] != "succeeded":
                violations["fire ended without success"].append(
                    f"runs {[(x['id'], x['status'], x.get('reason')) for x in chain]}")

    # 4. Nothing left queued or running.
    for x in runs:
        if x["status"] == "queued" and ts(x["scheduled_at"]) >= final_start:
            cats_final["queued at the final stop (fired by the final node)"] += 1
        elif x["status"] in ("queued", "running"):
            violations["left queued/running"].append(
                f"run {x['id']} {x['job']} {x['status']} attempt {x['attempt']} "
                f"scheduled {x['scheduled_at']}")

    # 5. No run started by two nodes (nor twice).
    starters = defaultdict(list)
    all_starts = []
    for n in nodes:
        for t, rid, job, line in started_lines(n):
            starters[rid].append((n.idx, line))
            m = STARTED.match(line)
            sched = ts(m.group(6)) if m.group(6) else t
            all_starts.append((t, n.idx, rid, sched))
    for rid, who in starters.items():
        if len(who) > 1:
            violations["run started more than once"].append(
                f"run {rid}: " + " | ".join(f"node{i}: {l}" for i, l in who))
    for rid in starters:
        if rid not in by_id:
            violations["started run not in the store"].append(str(rid))

    # 5b. An attempt's retry must not start on another node before that
    # node's log says the attempt ended.
    ended = {}
    started_on = {}
    for n in nodes:
        for line in n.log().splitlines():
            m = FINISHED.match(line)
            if m:
                ended[int(m.group(2))] = (ts(m.group(1)), n.idx)
        for t, rid, job, line in started_lines(n):
            started_on[rid] = (t, n.idx)
    for key, chain in chains.items():
        chain = sorted(chain, key=lambda x: x["attempt"])
        for p, q in zip(chain, chain[1:]):
            if p["id"] in started_on and q["id"] in started_on and p["id"] in ended:
                (tq, nq), (te, ne) = started_on[q["id"]], ended[p["id"]]
                if nq != ne and te > tq:
                    violations["retry started while the attempt still ran elsewhere"].append(
                        f"run {p['id']} on node{ne} ended {te - tq:.2f} s after its retry "
                        f"run {q['id']} started on node{nq}")

    # 6. Failover gaps: from the kill to the first start of a fire scheduled
    # after it (fired by the next leader; runs dispatched earlier go on on
    # their nodes meanwhile).
    all_starts.sort()
    gaps = []
    for at, idx in kills:
        nxt = next(((t, i) for t, i, _, sc in all_starts if t > at and sc > at), None)
        if nxt is None:
            violations["no run after a kill"].append(f"kill of node{idx} at {at:.1f}")
        else:
            gaps.append(nxt[0] - at)
            if nxt[1] == idx and nxt[0] < at + 2.0:
                violations["killed node started a run first"].append(f"node{idx}")
    pg_gap = None
    if pg_restart_at:
        nxt = next((t for t, _, _, _ in all_starts if t > pg_restart_at), None)
        pg_gap = nxt - pg_restart_at if nxt else None

    # Summary.
    print()
    print("=== sked HA chaos summary ===")
    print(f"nodes {args.nodes}, jobs {args.jobs}, chaos {chaos_end - start:.0f} s; "
          f"{len(runs)} runs in the store, {len(fires)} fire records")
    print(f"leader kills: {len(kills)} ({', '.join(f'node{i}' for _, i in kills)}); "
          f"PostgreSQL restarted: {'yes' if pg_restart_at else 'no'}")
    for n in nodes:
        lg = n.log()
        print(f"  node{n.idx}: {n.starts} starts, unplanned exits {dict(n.exits)}, "
              f"leading {lg.count('event=leading')}x, standby {lg.count('event=standby')}x, "
              f"lost_leadership {lg.count('event=lost_leadership')}x, "
              f"duplicate {lg.count('event=duplicate')}x, "
              f"runs started {sum(1 for _ in started_lines(n))}")
    print(f"checked window: {datetime.fromtimestamp(w0).isoformat(timespec='seconds')} .. "
          f"{datetime.fromtimestamp(w1).isoformat(timespec='seconds')} "
          f"({w1 - w0:.0f} s), {len(expected)} scheduled instants")
    print("outcomes of the fires in the window:")
    for c, k in sorted(cats.items(), key=lambda kv: -kv[1]):
        print(f"  {k:6d}  {c}")
    for c, k in cats_final.items():
        print(f"  (info) {k} {c}")
    st = Counter(x["status"] for x in runs)
    print(f"all runs by status: {dict(st)}")
    if gaps:
        print(f"failover (kill -> next run start): min {min(gaps):.2f} s, "
              f"median {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s "
              f"({', '.join(f'{g:.2f}' for g in gaps)})")
    if pg_restart_at:
        print("PostgreSQL restart -> next run start: "
              + (f"{pg_gap:.2f} s" if pg_gap is not None else "never"))
    if violations:
        print("\nVIOLATIONS:")
        for k, xs in violations.items():
            print(f"  {k}: {len(xs)}")
            for x in xs[:5]:
                print(f"    {x}")
        print("FAIL")
        return False
    print("all invariants hold: OK")
    return True


if __name__ == "__main__":
    sys.exit(main())
