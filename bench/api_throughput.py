#!/usr/bin/python3
"""The HTTP API under load, with a large store: requests per second of the
endpoints a dashboard uses, and whether the scheduler still fires on time
while they are hammered.

usage: /usr/bin/python3 bench/api_throughput.py [--build DIR] [--seconds S]
           [--jobs N] [--runs R] [--threads T] [--connections C] [--quick]
           [--restart-each] [--no-probe] [--out DIR]
       (defaults: 10,000 jobs, 1,000,000 runs, 10 s per window, wrk -t2 -c32;
        --quick: 1,000 jobs, 50,000 runs, 2 s)

The daemon: N jobs in one sked.yaml. TICKS of them (`tick00`...) are
`every: 1s` and run BUILD/stamp, whose process start this script measures;
the others are cron jobs that only fire in a month about half a year away
(so nothing else fires during the run), manual jobs, and one in a hundred a
manual three-step workflow; all run `true`. `keep_runs: 0` for every job, so
nothing is pruned. The store holds R finished top-level runs spread over the
non-tick jobs (a tenth of the jobs get half of them), plus three step rows
and an output for each workflow run. It is filled directly with Python's
sqlite3 in one transaction, after the daemon has created the schema itself
(started once with no jobs, then stopped), and cached in OUT/seed/ for the
next run with the same N, R and schema.

Then the daemon runs with `http: {listen: 127.0.0.1:PORT}` and, for each
endpoint below, one after the other:
  quiet    S seconds with no requests;
  loaded   `wrk -tT -cC -dS --latency --timeout 10s URL`: requests/s, latency
           p50/p99/max, errors (socket errors and non-2xx answers).
  (a) jobs        GET /api/v1/jobs                    every job
  (b) jobs page   GET /api/v1/jobs?limit=50&recent=20 one dashboard page
  (c) run page    GET /api/v1/runs/ID                 a workflow run with its steps
  (d) job runs    GET /api/v1/runs?job=NAME&limit=50  the job with the most runs
  (e) health      GET /api/v1/health                  the HTTP stack alone
Fire lateness is measured as in fire_precision.py: stamp reads
CLOCK_REALTIME first thing in main; lateness is that minus the run's
scheduled_at (read from the store afterwards, joined through SKED_RUN_ID).
Every fire whose instant is inside a window counts for that window. The
TICKS jobs fire together at each whole second, so a window's figures include
starting TICKS processes in a row; the quiet window has the same. Alongside
the daemon, BUILD/limit_loop (the C floor of fire_precision.py) fires stamp
once a second all through, so each window also shows what a bare C loop
gets on this machine under the same load.

One daemon serves all five endpoints, in that order (--restart-each: a
fresh one for each), so a quiet window also shows what the loads before it
left behind (memory the API kept makes every later fork slower).

Evidence for where lateness comes from, per window: the loop thread's CPU,
run-queue wait and preemptions (/proc/PID/task/PID/schedstat, status), and
a sampler thread of ours (LoopProbe, every 5 ms; --no-probe turns it off)
that records what the loop thread is doing: idle in epoll, waiting in
uv_spawn for a forked child to exec, in the store's fsync, running; and
how long such children wait for a CPU before their exec.

Target (fire_precision.py's, p99(sked) <= 1.5 x p99(C loop)): here, loaded
p99 <= 1.5 x quiet p99 of the same run, and loaded p99 <= 1.5 x the C loop's
p99 in the same loaded window. wrk runs on the same machine and takes CPU
too: the CPU columns show how much each side used, and the processes of
others busy before and after the run are listed.

Prints the tables and writes OUT.json (bench/out/api_throughput.json), with
wrk's own output and every figure. Exit status 0 even when a target is
missed (this is a measurement, not a test); 1 on a broken run (the daemon
died, an endpoint answered wrongly, no fires measured).
"""
import argparse
import datetime as dt
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

from benchlib import fsync_floor, sked_revision, one_at_a_time
from fire_precision import percentile, read_stamps

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
SEED_FORMAT = 1       # bump when the seeded rows change
TICKS = 20            # `every: 1s` jobs whose lateness is measured
WORKFLOW_EVERY = 100  # one job in this many is a workflow
STEPS = ("extract", "transform", "load")
SETTLE_S = 1.0        # between a load window and the next quiet one
READY_TIMEOUT_S = 300
WRK_TIMEOUT = "10s"   # the daemon's own deadline for a loop call is 10 s

# Runs table columns this script fills; the schema must have them all and
# nothing else that is required.
RUN_COLS = ("id", "job", "step", "status", "trigger", "attempt", "scheduled_at", "queued_at",
            "started_at", "ended_at", "exit_code", "signal", "pid", "reason", "log_path",
            "parent_id")


def log(msg):
    print(msg, flush=True)


def die(msg):
    sys.exit("api_throughput: " + msg)


# ---- the jobs ----

def far_month():
    """A month about half a year from now: cron jobs limited to it never
    fire during a run, whatever today's date."""
    return (dt.date.today().month - 1 + 6) % 12 + 1


def job_plan(njobs, ticks):
    """[(name, kind)] in file order; kind is tick, cron, manual or workflow."""
    plan = [("tick%02d" % i, "tick") for i in range(ticks)]
    for i in range(njobs - ticks):
        kind = ("workflow" if i % WORKFLOW_EVERY == 0 else "manual" if i % 3 == 1 else "cron")
        plan.append(("j%05d" % i, kind))
    return plan


def write_config(path, plan, state, stamp, stamps, port):
    m = far_month()
    crons = ['"H H 15 %d *"' % m, '"H H H %d *"' % m, '"30 H * %d 1-5"' % m]
    with open(path, "w") as f:
        f.write("state_dir: %s\n" % json.dumps(state))
        if port:
            f.write('http: {listen: "127.0.0.1:%d"}\n' % port)
        f.write("defaults: {keep_runs: 0}\njobs:\n")
        for n, (name, kind) in enumerate(plan):
            if kind == "tick":
                f.write("  %s: {every: 1s, run: [%s, %s]}\n"
                        % (name, json.dumps(stamp), json.dumps(stamps)))
            elif kind == "cron":
                f.write("  %s: {schedule: %s, run: [true]}\n" % (name, crons[n % len(crons)]))
            elif kind == "manual":
                f.write("  %s: {run: [true]}\n" % name)
            else:
                f.write("  %s: {steps: {extract: {run: [true]}, transform: {run: [true], "
                        "needs: extract}, load: {run: [true], needs: transform}}}\n" % name)
    return os.path.getsize(path)


# ---- the daemon ----

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    def __init__(self, sked, config, log_path):
        self.log_path = log_path
        env = dict(os.environ)
        env.pop("SKED_CONFIG", None)
        for k in ("SKED_ADMIN_TOKEN", "SKED_READ_TOKEN"):
            env.pop(k, None)
        self.t0 = time.monotonic()
        with open(log_path, "w") as f:
            self.proc = subprocess.Popen([sked, "run", "-c", config], stdout=f, stderr=f,
                                         stdin=subprocess.DEVNULL, env=env,
                                         cwd=os.path.dirname(config))
        self.pid = self.proc.pid

    def log_text(self, start=0):
        with open(self.log_path, errors="replace") as f:
            f.seek(start)
            return f.read()

    def log_size(self):
        return os.path.getsize(self.log_path)

    def wait_ready(self):
        """Seconds from exec to the daemon's started line."""
        mark = "event=started_daemon pid=%d " % self.pid
        deadline = time.monotonic() + READY_TIMEOUT_S
        while mark not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                die("sked did not start:\n" + self.log_text()[-3000:])
            time.sleep(0.02)
        return time.monotonic() - self.t0

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def loop_thread(pid):
    """The daemon's main thread, which runs the event loop: CPU and run-queue
    wait (ms, from /proc/PID/task/PID/schedstat) and context switches."""
    with open("/proc/%d/task/%d/schedstat" % (pid, pid)) as f:
        on_cpu, waited, _ = (int(x) for x in f.read().split())
    vol = invol = 0
    with open("/proc/%d/task/%d/status" % (pid, pid)) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                vol = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                invol = int(line.split()[1])
    return {"cpu_ms": on_cpu / 1e6, "runqueue_wait_ms": waited / 1e6, "voluntary": vol,
            "involuntary": invol}


def machine_cpu():
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        xs = [int(x) for x in f.readline().split()[1:]]
    idle = xs[3] + xs[4]
    return sum(xs) - idle, sum(xs)


class Sampler:
    """What the daemon, its loop thread and the machine did between start()
    and stop()."""

    def __init__(self, pid, probe):
        self.pid = pid
        self.probe = LoopProbe(pid) if probe else None

    def start(self):
        if self.probe:
            self.probe.start()
        self.t0 = time.time()
        self.cpu0 = proc_cpu_s(self.pid)
        self.loop0 = loop_thread(self.pid)
        self.mach0 = machine_cpu()
        self.ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)

    def stop(self, alive=True):
        t1 = time.time()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        mach1 = machine_cpu()
        out = {"t0": self.t0, "t1": t1,
               "children_cpu_s": (ru1.ru_utime + ru1.ru_stime)
               - (self.ru0.ru_utime + self.ru0.ru_stime),
               "machine_busy": ((mach1[0] - self.mach0[0]) / (mach1[1] - self.mach0[1])
                                if mach1[1] > self.mach0[1] else None)}
        if alive:
            out["daemon_cpu_s"] = proc_cpu_s(self.pid) - self.cpu0
            loop1 = loop_thread(self.pid)
            out["loop_thread"] = {k: loop1[k] - self.loop0[k] for k in loop1}
        else:
            out["daemon_cpu_s"] = None
            out["loop_thread"] = None
        if self.probe:
            out["loop_probe"] = self.probe.stop()
        return out


# x86_64 system call numbers, for naming what the loop thread waits in.
SYSCALLS = {"0": "read", "7": "poll", "74": "fsync", "75": "fdatasync", "202": "futex",
            "232": "epoll_wait", "281": "epoll_pwait", "56": "clone", "57": "fork",
            "435": "clone3", "61": "wait4"}


class LoopProbe:
    """Samples the daemon's loop thread every PROBE_S from a thread of ours:
    what it is doing (idle in epoll, waiting for a spawned child to exec,
    syncing the store, running, ...), and how long children that have not
    exec'd yet wait for a CPU (schedstat's run-queue time). Evidence for
    where fire lateness comes from; it costs a few % of one CPU, in quiet and
    loaded windows alike."""
    PROBE_S = 0.005

    def __init__(self, pid):
        self.pid = pid
        self.comm = self._read("/proc/%d/comm" % pid).strip()
        self.thread = None

    @staticmethod
    def _read(path):
        with open(path) as f:
            return f.read()

    def _classify(self):
        base = "/proc/%d/task/%d/" % (self.pid, self.pid)
        state = self._read(base + "stat").rsplit(")", 1)[1].split()[0]
        sc = self._read(base + "syscall").split()[0]
        wchan = self._read(base + "wchan")
        if state == "R" or sc == "running":
            return "running or runnable"
        if sc in ("232", "281"):
            return "idle (epoll)"
        if "pipe_read" in wchan:
            return "spawn: waiting for the child's exec"
        if sc in ("74", "75"):
            return "store: fsync"
        return "other: %s %s" % (SYSCALLS.get(sc, "syscall " + sc), wchan or state)

    def _children(self):
        try:
            kids = self._read("/proc/%d/task/%d/children" % (self.pid, self.pid)).split()
        except OSError:
            return
        for k in kids:
            try:
                if self._read("/proc/%s/comm" % k).strip() != self.comm:
                    continue  # already exec'd
                self.kids[k] = int(self._read("/proc/%s/schedstat" % k).split()[1]) / 1e6
            except (OSError, ValueError, IndexError):
                pass

    def _run(self):
        while not self.done:
            try:
                what = self._classify()
                self.states[what] = self.states.get(what, 0) + 1
                if what.startswith("spawn"):
                    self._children()
            except (OSError, IndexError):
                pass
            time.sleep(self.PROBE_S)

    def start(self):
        import threading
        self.states, self.kids, self.done = {}, {}, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self):
        self.done = True
        self.thread.join()
        n = sum(self.states.values()) or 1
        waits = sorted(self.kids.values())
        return {"samples": n,
                "share": {k: v / n for k, v in sorted(self.states.items(), key=lambda kv: -kv[1])},
                "children_pre_exec_seen": len(waits),
                "child_runqueue_wait_max_ms": waits[-1] if waits else None,
                "child_runqueue_wait_p50_ms": percentile(waits, 50) if waits else None}


def busy_processes(skip=()):
    """[(name, pid, share of one CPU)] of processes that used more than 20%
    of a CPU over one second: what else is running on this machine."""
    def sample():
        out = {}
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) in skip:
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    text = f.read()
            except OSError:
                continue
            name = text[text.index("(") + 1:text.rindex(")")]
            rest = text.rsplit(")", 1)[1].split()
            out[int(p)] = (name, int(rest[11]) + int(rest[12]))
        return out
    s0 = sample()
    time.sleep(1.0)
    s1 = sample()
    busy = [(s1[p][0], p, (s1[p][1] - s0[p][1]) / CLK_TCK) for p in s1 if p in s0]
    return sorted([b for b in busy if b[2] > 0.2], key=lambda b: -b[2])


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return {"rss_mib": int(out["VmRSS"].split()[0]) / 1024.0,
            "hwm_mib": int(out["VmHWM"].split()[0]) / 1024.0,
            "threads": int(out["Threads"])}


# ---- the store ----

def schema_signature(db):
    c = sqlite3.connect(db)
    try:
        version = c.execute("PRAGMA user_version").fetchone()[0]
        sql = [r[0] or "" for r in c.execute("SELECT sql FROM sqlite_schema ORDER BY name")]
    finally:
        c.close()
    return "v%d-%s" % (version, hashlib.sha1("\n".join(sql).encode()).hexdigest()[:16])


def run_statuses():
    """Run statuses in their enum order (src/store/store.h's X-macro table):
    job_state.last_outcome stores the index."""
    names = []
    try:
        with open(os.path.join(ROOT, "src", "store", "store.h")) as f:
            names = re.findall(r'X\(SK_RUN_[A-Z_]+,\s*"([a-z_]+)"\)', f.read())
    except OSError:
        pass
    return names or ["queued", "running", "succeeded", "failed", "timed_out", "killed",
                     "skipped", "missed", "interrupted"]


def check_columns(c, table, filled):
    """Fails unless `table` has every column in filled and every required
    column of it is in filled: the schema moved on, and this script with it."""
    cols = {r[1]: r for r in c.execute("PRAGMA table_info(%s)" % table)}
    missing = [k for k in filled if k not in cols]
    required = [k for k, r in cols.items() if r[3] and r[4] is None and not r[5]
                and k not in filled]
    if missing or required:
        die("the store's %s table is not what this script knows (missing %s, unfilled required "
            "%s): update seed_store()" % (table, missing, required))


def seed_store(db, plan, nruns, state):
    """Fills a freshly created store with nruns finished top-level runs (and
    workflow steps) in one transaction. Returns what it wrote."""
    rng = random.Random(20261127)
    statuses = run_statuses()
    bulk = [(name, kind) for name, kind in plan if kind != "tick"]
    nheavy = max(1, len(bulk) // 10)
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - 3600 * 1000
    span_ms = 90 * 86400 * 1000
    step_ms = max(1, span_ms // max(1, nruns))
    start_ms = end_ms - step_ms * nruns

    c = sqlite3.connect(db, isolation_level=None)
    check_columns(c, "runs", RUN_COLS)
    check_columns(c, "job_state", ("job", "last_fire", "last_outcome"))
    has_outputs = c.execute("SELECT 1 FROM sqlite_schema WHERE name = 'outputs'").fetchone()
    if has_outputs:
        check_columns(c, "outputs", ("run_id", "key", "value"))
    if c.execute("SELECT count(*) FROM runs").fetchone()[0]:
        die("%s already holds runs" % db)
    c.execute("PRAGMA journal_mode = DELETE")
    c.execute("PRAGMA synchronous = OFF")
    c.execute("BEGIN")
    last = {}
    counts = {}
    per_job = {}
    outputs = []
    ids = [0]

    def rows():
        for k in range(nruns):
            if rng.random() < 0.5:
                name, kind = bulk[rng.randrange(nheavy)]
            else:
                name, kind = bulk[rng.randrange(len(bulk))]
            sched = start_ms + k * step_ms
            u = rng.random()
            status = ("succeeded" if u < 0.90 else "failed" if u < 0.95 else
                      "timed_out" if u < 0.97 else "killed" if u < 0.98 else
                      "skipped" if u < 0.99 else "missed")
            trig = "schedule" if kind == "cron" else "manual"
            ids[0] += 1
            rid = ids[0]
            started = ended = exit_code = sig = pid = reason = logp = None
            if status not in ("skipped", "missed"):
                started = sched + rng.randint(1, 20)
                ended = started + int(rng.expovariate(1 / 5000.0)) + 1
                pid = rng.randint(1000, 4000000)
                logp = os.path.join(state, "logs", name, "%d.log" % rid)
                if status == "succeeded":
                    exit_code = 0
                elif status == "failed":
                    exit_code = 1
                elif status == "timed_out":
                    sig, reason = 15, "timed out"
                else:
                    sig, reason = 9, "cancelled"
            else:
                reason = ("the previous run is still going" if status == "skipped"
                          else "sked was not running")
            last[name] = status
            counts[status] = counts.get(status, 0) + 1
            per_job[name] = per_job.get(name, 0) + 1
            yield (rid, name, None, status, trig, 1, sched, sched, started, ended, exit_code, sig,
                   pid, reason, logp, 0)
            if kind == "workflow" and started is not None:
                t = started
                for s in STEPS:
                    ids[0] += 1
                    sid = ids[0]
                    s_end = t + rng.randint(50, 3000)
                    outputs.append((sid, "ROWS", str(rng.randint(1, 100000))))
                    yield (sid, name, s, "succeeded", trig, 1, sched, t, t, s_end, 0, None,
                           rng.randint(1000, 4000000), None,
                           os.path.join(state, "logs", name, "%d.log" % sid), rid)
                    t = s_end

    cols = ", ".join('"%s"' % k for k in RUN_COLS)
    marks = ", ".join("?" * len(RUN_COLS))
    c.executemany("INSERT INTO runs (%s) VALUES (%s)" % (cols, marks), rows())
    if has_outputs:
        c.executemany("INSERT INTO outputs (run_id, key, value) VALUES (?, ?, ?)", outputs)
    # last_fire 0: the daemon takes each job as new (nothing before now is
    # its to run, so no catch-up) but keeps its last outcome.
    c.executemany("INSERT OR REPLACE INTO job_state (job, last_fire, last_outcome) "
                  "VALUES (?, 0, ?)",
                  [(name, statuses.index(st)) for name, st in last.items()])
    c.execute("COMMIT")
    c.execute("PRAGMA journal_mode = WAL")
    total = c.execute("SELECT count(*) FROM runs").fetchone()[0]
    c.close()
    heaviest = max(per_job.items(), key=lambda kv: kv[1])
    return {"top_level_runs": nruns, "rows": total, "step_rows": total - nruns,
            "statuses": counts, "jobs_with_runs": len(per_job),
            "heaviest_job": heaviest[0], "heaviest_job_runs": heaviest[1],
            "span_days": round(span_ms / 86400e3, 1)}


def prepare_store(a, work, plan, state):
    """state/sked.db holding the seeded runs: from the cache when it matches
    this schema, else seeded now (and cached). Returns (store info, seconds
    spent, from_cache)."""
    init = os.path.join(work, "init")
    os.makedirs(init)
    cfg = os.path.join(init, "sked.yaml")
    with open(cfg, "w") as f:
        f.write("state_dir: %s\n" % json.dumps(state))
    d = Daemon(a.sked, cfg, os.path.join(init, "daemon.log"))
    d.wait_ready()
    if d.stop() != 0:
        die("sked exited with %s after creating the store:\n%s" % (d.proc.returncode,
                                                                    d.log_text()[-2000:]))
    db = os.path.join(state, "sked.db")
    sig = schema_signature(db)
    seed_dir = os.path.join(a.out, "seed")
    key = "seed-f%d-j%d-t%d-r%d" % (SEED_FORMAT, a.jobs, a.ticks, a.runs)
    seed_db = os.path.join(seed_dir, key + ".db")
    meta_path = os.path.join(seed_dir, key + ".json")
    t = time.monotonic()
    meta = None
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        pass
    if (meta and meta.get("schema") == sig and meta.get("state") == state
            and os.path.exists(seed_db)):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)
        shutil.copyfile(seed_db, db)
        os.chmod(db, 0o600)
        return meta["info"], time.monotonic() - t, True
    log("  seeding the store: %s runs over %s jobs (once; cached in %s) ..."
        % ("{:,}".format(a.runs), "{:,}".format(a.jobs), os.path.relpath(seed_dir, ROOT)))
    info = seed_store(db, plan, a.runs, state)
    os.makedirs(seed_dir, exist_ok=True)
    for old in os.listdir(seed_dir):
        if old.startswith("seed-f%d-j%d-t%d-r%d." % (SEED_FORMAT, a.jobs, a.ticks, a.runs)):
            os.unlink(os.path.join(seed_dir, old))
    shutil.copyfile(db, seed_db + ".tmp")
    os.replace(seed_db + ".tmp", seed_db)
    with open(meta_path, "w") as f:
        json.dump({"schema": sig, "state": state, "info": info}, f, indent=1)
    return info, time.monotonic() - t, False


def pick_run_page(db):
    """(id, steps) of the newest workflow run with steps, else of the newest run."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        row = c.execute("SELECT parent_id, count(*) FROM runs WHERE parent_id > 0 "
                        "GROUP BY parent_id ORDER BY parent_id DESC LIMIT 1").fetchone()
        if row:
            return row[0], row[1]
        return c.execute("SELECT max(id) FROM runs").fetchone()[0], 0
    finally:
        c.close()


# ---- HTTP ----

def http_get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def wait_http(base, d):
    deadline = time.monotonic() + 60
    while True:
        try:
            if http_get(base + "/api/v1/health", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        if not d.alive() or time.monotonic() > deadline:
            die("the API did not answer on %s:\n%s" % (base, d.log_text()[-2000:]))
        time.sleep(0.05)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def parse_wrk(out):
    """wrk's report as numbers (latencies in ms)."""
    r = {"requests": 0, "rps": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan"),
         "max_ms": float("nan"), "connect_errors": 0, "read_errors": 0, "write_errors": 0,
         "timeouts": 0, "non_2xx": 0}
    m = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        r["avg_ms"], r["max_ms"] = to_ms(m.group(1)), to_ms(m.group(3))
    for pct, key in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s*%s(?:\.0+)?%%\s+(\S+)" % pct, out, re.M)
        if m:
            r[key] = to_ms(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        (r["connect_errors"], r["read_errors"], r["write_errors"],
         r["timeouts"]) = (int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non_2xx"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    if m:
        r["transfer_per_s"] = m.group(1) + m.group(2)
    r["errors"] = (r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
                   + r["non_2xx"])
    return r


# ---- lateness ----

def stats(xs):
    xs = sorted(xs)
    if not xs:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"n": len(xs), "p50": percentile(xs, 50), "p99": percentile(xs, 99), "max": xs[-1]}


def whole_seconds(t0, t1):
    """Whole-second instants (ms) in [t0, t1)."""
    first = int(t0) + (0 if t0 == int(t0) else 1)
    return [s * 1000 for s in range(first, int(t1) + (0 if t1 == int(t1) else 1))]


def window_lateness(win, fires, runs, limit_pairs, ticks):
    """Figures for one window {t0, t1} (unix s)."""
    lo, hi = win["t0"] * 1000.0, win["t1"] * 1000.0
    inside = [f for f in fires if lo <= f["sched"] < hi]
    late = [f["late"] for f in inside]
    by_instant = {}
    for f in inside:
        by_instant.setdefault(f["sched"], []).append(f["late"])
    first = [min(v) for v in by_instant.values()]
    daemon = [r["started"] - r["sched"] for r in runs
              if lo <= r["sched"] < hi and r["started"] is not None]
    noticed = [r["queued"] - r["sched"] for r in runs
               if lo <= r["sched"] < hi and r["queued"] is not None]
    launch = [r["started"] - r["queued"] for r in runs
              if lo <= r["sched"] < hi and r["started"] is not None and r["queued"] is not None]
    odd = {}
    for r in runs:
        if lo <= r["sched"] < hi and r["status"] not in ("succeeded", "running", "queued"):
            odd[r["status"]] = odd.get(r["status"], 0) + 1
    expected = ticks * len(whole_seconds(win["t0"], win["t1"]))
    lim = [l for i, l in limit_pairs if lo <= i < hi]
    return {"stamp": stats(late), "first_of_instant": stats(first),
            "daemon_started_at": stats(daemon), "daemon_queued_at": stats(noticed),
            "daemon_queued_to_started": stats(launch), "expected": expected,
            "missing": max(0, expected - len(inside)), "odd_statuses": odd,
            "limit": stats(lim)}


def collect_fires(db, stamps):
    """[{sched, late}] of tick fires joined to their stamps; and the tick
    runs from the store [{sched, started, status}] (ms)."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        rows = c.execute("SELECT id, status, scheduled_at, started_at, queued_at FROM runs "
                         "WHERE job LIKE 'tick%' AND parent_id = 0").fetchall()
    finally:
        c.close()
    by_id = {str(r[0]): r for r in rows}
    fires, unmatched = [], 0
    for t, tag in read_stamps(stamps):
        r = by_id.get(tag)
        if r is None:
            unmatched += 1
            continue
        fires.append({"sched": r[2], "late": t * 1000.0 - r[2]})
    runs = [{"sched": r[2], "started": r[3], "status": r[1], "queued": r[4]} for r in rows]
    return fires, runs, unmatched


# ---- the run ----

def endpoints(job, run_id):
    return [("jobs", "/api/v1/jobs"),
            ("jobs page", "/api/v1/jobs?limit=50&recent=20"),
            ("run page", "/api/v1/runs/%d" % run_id),
            ("job runs", "/api/v1/runs?job=%s&limit=50" % job),
            ("health", "/api/v1/health")]


def check_answer(name, body, a, run_steps):
    """None, or what is wrong with an endpoint's answer."""
    try:
        o = json.loads(body)
    except ValueError as e:
        return "not JSON: %s" % e
    if name == "jobs" and (o.get("total") != a.jobs or len(o.get("jobs", [])) != a.jobs):
        return "total %s, %d jobs listed; expected %d" % (o.get("total"), len(o.get("jobs", [])),
                                                         a.jobs)
    if name == "jobs page":
        js = o.get("jobs", [])
        if len(js) != 50 or not any(j.get("recent") for j in js):
            return "%d jobs, %d with recent runs" % (len(js), sum(1 for j in js if j.get("recent")))
    if name == "run page" and len(o.get("steps", [])) != run_steps:
        return "%d steps; expected %d" % (len(o.get("steps", [])), run_steps)
    if name == "job runs" and len(o.get("runs", [])) != 50:
        return "%d runs; expected 50" % len(o.get("runs", []))
    if name == "health" and o.get("status") != "ok":
        return "status %r" % o.get("status")
    return None


def measure(a, work):
    state = os.path.join(work, "state")
    cfgdir = os.path.join(work, "config")
    os.makedirs(cfgdir)
    stamps = os.path.join(work, "stamps.txt")
    limit_stamps = os.path.join(work, "limit_stamps.txt")
    plan = job_plan(a.jobs, a.ticks)
    info, seed_s, cached = prepare_store(a, work, plan, state)
    db = os.path.join(state, "sked.db")
    run_id, run_steps = pick_run_page(db)
    log("  store: %s runs (%s rows with workflow steps), %.0f MB, %s in %.1f s"
        % ("{:,}".format(info["top_level_runs"]), "{:,}".format(info["rows"]),
           os.path.getsize(db) / 1e6, "copied from the cache" if cached else "seeded", seed_s))

    port = free_port()
    config = os.path.join(cfgdir, "sked.yaml")
    yaml_bytes = write_config(config, plan, state, a.stamp, stamps, port)
    v = subprocess.run([a.sked, "validate", "-c", config], capture_output=True, text=True)
    if v.returncode != 0:
        die("the generated sked.yaml does not validate:\n" + v.stdout + v.stderr)
    res = {"store": info, "store_mb": os.path.getsize(db) / 1e6, "seed_s": seed_s,
           "seed_cached": cached, "yaml_bytes": yaml_bytes, "run_page_id": run_id,
           "run_page_steps": run_steps, "endpoints": []}
    base = "http://127.0.0.1:%d" % port

    def start(n):
        d = Daemon(a.sked, config, os.path.join(work, "daemon%s.log" % (n or "")))
        up = d.wait_ready()
        wait_http(base, d)
        return d, up, time.monotonic() - d.t0

    d, res["startup_s"], res["startup_http_s"] = start(0)
    limit = None
    try:
        # The checks the store must pass before anything is measured.
        h = subprocess.run([a.sked, "history", "--json", "-n", "1", "-c", config],
                           capture_output=True, text=True, timeout=60)
        try:
            hist = json.loads(h.stdout)
            assert h.returncode == 0 and len(hist) == 1
        except (ValueError, AssertionError):
            die("sked history --json -n 1 failed (exit %d):\n%s%s"
                % (h.returncode, h.stdout[:2000], h.stderr[:2000]))
        st, body = http_get(base + "/api/v1/runs")
        runs0 = json.loads(body).get("runs", [])
        if st != 200 or len(runs0) != 50:
            die("GET /api/v1/runs: status %d, %d runs" % (st, len(runs0)))
        res["status_after_start"] = proc_status(d.pid)
        log("  daemon up: started line %.2f s after exec, API %.2f s; RSS %.1f MiB, %d threads"
            % (res["startup_s"], res["startup_http_s"], res["status_after_start"]["rss_mib"],
               res["status_after_start"]["threads"]))

        eps = endpoints(info["heaviest_job"], run_id)
        sampler = Sampler(d.pid, not a.no_probe)
        total = int(len(eps) * (2 * a.seconds + SETTLE_S + 8)) + 60
        limit = subprocess.Popen([a.limit_loop, str(total), a.stamp, limit_stamps],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(SETTLE_S)
        for n, (name, path) in enumerate(eps):
            if a.restart_each and n:
                if d.stop() != 0:
                    die("sked exited with %s when stopped:\n%s" % (d.proc.returncode,
                                                                    d.log_text()[-2000:]))
                d = start(n)[0]
                sampler = Sampler(d.pid, not a.no_probe)
            url = base + path
            t = time.monotonic()
            st, body = http_get(url)
            probe_s = time.monotonic() - t
            wrong = check_answer(name, body, a, run_steps) if st == 200 else "status %d" % st
            if wrong:
                die("GET %s answered wrongly: %s" % (path, wrong))
            ep = {"name": name, "path": path, "response_bytes": len(body),
                  "single_request_ms": probe_s * 1000.0, "daemon_pid": d.pid,
                  "status_before": proc_status(d.pid)}
            log("  %-10s %s (%s bytes) ..." % (name, path, "{:,}".format(len(body))))
            # quiet
            time.sleep(SETTLE_S)
            sampler.start()
            time.sleep(a.seconds)
            ep["quiet_window"] = sampler.stop()
            # loaded: wrk is the only child reaped in this window, so the
            # children's CPU time is wrk's
            log0 = d.log_size()
            sampler.start()
            w = subprocess.run([a.wrk, "-t%d" % a.threads, "-c%d" % a.connections,
                                "-d%ds" % a.seconds, "--latency", "--timeout", WRK_TIMEOUT, url],
                               capture_output=True, text=True)
            alive = d.alive()
            ep["load_window"] = sampler.stop(alive)
            ep["wrk"] = parse_wrk(w.stdout)
            ep["wrk"]["exit"] = w.returncode
            ep["wrk_output"] = w.stdout + w.stderr
            ep["daemon_alive"] = alive
            warned = [l for l in d.log_text(log0).splitlines() if " warn " in l or " error " in l]
            ep["daemon_log_warning_count"] = len(warned)
            ep["daemon_log_warnings"] = warned[:20]
            if alive:
                ep["status_after"] = proc_status(d.pid)
            res["endpoints"].append(ep)
            if not alive:
                log("    the daemon DIED during the load (exit %s); its log ends:\n%s"
                    % (d.proc.returncode, d.log_text()[-3000:]))
                break
            if w.returncode != 0 or ep["wrk"]["requests"] == 0:
                log("    wrk failed (exit %d):\n%s%s" % (w.returncode, w.stdout, w.stderr))
            time.sleep(SETTLE_S)
        res["daemon_alive_at_end"] = d.alive()
        if d.alive():
            res["status_at_end"] = proc_status(d.pid)
    finally:
        if limit and limit.poll() is None:
            limit.send_signal(signal.SIGTERM)
            limit.wait()
        res["daemon_exit"] = d.stop()
    res["daemon_log_tail"] = d.log_text()[-2000:]

    fires, runs, unmatched = collect_fires(db, stamps)
    limit_pairs = [(int(tag), t * 1000.0 - int(tag)) for t, tag in read_stamps(limit_stamps)]
    res["stamps_without_run"] = unmatched
    for ep in res["endpoints"]:
        ep["lateness"] = {w: window_lateness(ep[w + "_window"], fires, runs, limit_pairs, a.ticks)
                          for w in ("quiet", "load")}
    return res


def no_nan(x):
    """x with NaN floats as None (JSON has no NaN)."""
    if isinstance(x, float):
        return None if x != x else x
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [no_nan(v) for v in x]
    return x


def fmt(x, digits=2):
    if x is None or x != x:
        return "-"
    return "%.*f" % (digits, x)


def pct(x, dur):
    return fmt(100.0 * x / dur, 0) if x is not None and dur > 0 else "-"


def report(a, res):
    log("")
    log("HTTP, wrk -t%d -c%d --timeout %s, %d s per endpoint (latency in ms; errors: socket "
        "errors + non-2xx;" % (a.threads, a.connections, WRK_TIMEOUT, a.seconds))
    log("CPU: %% of one core used by sked and by wrk in the window; machine: %% of all %d CPUs "
        "busy; the daemon's VmRSS after the window)" % os.cpu_count())
    log("%-10s %9s %8s %8s %8s %8s %6s %10s %5s %5s %7s %8s" % (
        "endpoint", "req/s", "p50", "p99", "max", "requests", "errors", "bytes/resp",
        "sked", "wrk", "machine", "RSS MiB"))
    for ep in res["endpoints"]:
        w, lw = ep["wrk"], ep["load_window"]
        dur = lw["t1"] - lw["t0"]
        log("%-10s %9s %8s %8s %8s %8d %6d %10s %4s%% %4s%% %6s%% %8s" % (
            ep["name"], fmt(w["rps"], 1), fmt(w["p50_ms"]), fmt(w["p99_ms"]), fmt(w["max_ms"]),
            w["requests"], w["errors"], "{:,}".format(ep["response_bytes"]),
            pct(lw["daemon_cpu_s"], dur), pct(lw["children_cpu_s"], dur),
            fmt(100 * lw["machine_busy"], 0) if lw["machine_busy"] is not None else "-",
            fmt(ep["status_after"]["rss_mib"], 0) if ep.get("status_after") else "-"))
    for ep in res["endpoints"]:
        w = ep["wrk"]
        if w["errors"]:
            log("  %s: connect %d, read %d, write %d, timeout %d, non-2xx %d" % (
                ep["name"], w["connect_errors"], w["read_errors"], w["write_errors"],
                w["timeouts"], w["non_2xx"]))
        if ep["daemon_log_warnings"]:
            log("  %s: the daemon logged %d warning/error line(s) under load, e.g.: %s"
                % (ep["name"], ep["daemon_log_warning_count"], ep["daemon_log_warnings"][0]))
        if not ep["daemon_alive"]:
            log("  %s: THE DAEMON DIED (exit %s)" % (ep["name"], res["daemon_exit"]))

    log("")
    log("fire lateness of %d `every: 1s` jobs in ms: process start (stamp) - scheduled instant; "
        "C loop: limit_loop's, same window;" % a.ticks)
    log("noticed: the store's queued_at - scheduled_at (when the loop took the fire); loop "
        "thread: its CPU and run-queue wait (ms) and preemptions in the window")
    log("%-10s %-6s %5s %6s %8s %8s %8s %6s %8s %8s %8s %7s %7s" % (
        "endpoint", "window", "fires", "missed", "p50", "p99", "max", "p99 x", "C p99",
        "noticed", "loop CPU", "rq wait", "preempt"))
    verdicts = []
    for ep in res["endpoints"]:
        q, l = ep["lateness"]["quiet"], ep["lateness"]["load"]
        for label, x, win in (("quiet", q, ep["quiet_window"]), ("loaded", l, ep["load_window"])):
            ratio = (l["stamp"]["p99"] / q["stamp"]["p99"]
                     if label == "loaded" and q["stamp"]["p99"] else None)
            lt = win.get("loop_thread") or {}
            log("%-10s %-6s %5d %6d %8s %8s %8s %6s %8s %8s %8s %7s %7s" % (
                ep["name"] if label == "quiet" else "", label, x["stamp"]["n"], x["missing"],
                fmt(x["stamp"]["p50"]), fmt(x["stamp"]["p99"]), fmt(x["stamp"]["max"]),
                fmt(ratio) if ratio is not None else "", fmt(x["limit"]["p99"]),
                fmt(x["daemon_queued_at"]["p99"], 0), fmt(lt.get("cpu_ms"), 0),
                fmt(lt.get("runqueue_wait_ms"), 0),
                "%d" % lt["involuntary"] if "involuntary" in lt else "-"))
            if x["odd_statuses"]:
                log("%-17s runs: %s" % ("", ", ".join("%s=%d" % kv for kv in
                                                      sorted(x["odd_statuses"].items()))))
        bound_q = 1.5 * q["stamp"]["p99"]
        bound_c = 1.5 * l["limit"]["p99"]
        ok_q = l["stamp"]["p99"] <= bound_q
        ok_c = l["stamp"]["p99"] <= bound_c
        ep["target"] = {"loaded_p99_ms": l["stamp"]["p99"], "bound_quiet_ms": bound_q,
                        "met_vs_quiet": ok_q, "bound_c_loop_ms": bound_c, "met_vs_c_loop": ok_c,
                        "ratio_loaded_over_quiet": (l["stamp"]["p99"] / q["stamp"]["p99"]
                                                    if q["stamp"]["p99"] else None)}
        verdicts.append((ep["name"], l["stamp"]["p99"], bound_q, ok_q, bound_c, ok_c))
    log("(a window's fires: those whose instant is inside it; the %d jobs fire together each "
        "second, so p50 and p99 include starting %d processes in a row; missed: expected fires "
        "with no stamp)" % (a.ticks, a.ticks))
    log("(first start of each instant, p99 quiet/loaded: %s)" % "; ".join(
        "%s %s/%s" % (ep["name"], fmt(ep["lateness"]["quiet"]["first_of_instant"]["p99"]),
                      fmt(ep["lateness"]["load"]["first_of_instant"]["p99"]))
        for ep in res["endpoints"]))
    if any(ep["quiet_window"].get("loop_probe") for ep in res["endpoints"]):
        log("")
        log("the loop thread, sampled every %.0f ms: share of the window spent idle, waiting for "
            "a spawned child to exec (uv_spawn blocks until it does), in the store's fsync, "
            "running or runnable, other;" % (LoopProbe.PROBE_S * 1000))
        log("child wait: the longest run-queue wait (ms) of a forked child before its exec")
        log("%-10s %-6s %6s %6s %6s %8s %6s %11s" % (
            "endpoint", "window", "idle", "spawn", "fsync", "running", "other", "child wait"))
        for ep in res["endpoints"]:
            for label, win in (("quiet", ep["quiet_window"]), ("loaded", ep["load_window"])):
                pr = win.get("loop_probe")
                if not pr:
                    continue
                sh = pr["share"]
                other = sum(v for k, v in sh.items() if k.startswith("other"))
                log("%-10s %-6s %5s%% %5s%% %5s%% %7s%% %5s%% %11s" % (
                    ep["name"] if label == "quiet" else "", label,
                    fmt(100 * sh.get("idle (epoll)", 0), 0),
                    fmt(100 * sh.get("spawn: waiting for the child's exec", 0), 0),
                    fmt(100 * sh.get("store: fsync", 0), 0),
                    fmt(100 * sh.get("running or runnable", 0), 0), fmt(100 * other, 0),
                    fmt(pr["child_runqueue_wait_max_ms"], 0)))
    log("")
    for name, p99, bq, okq, bc, okc in verdicts:
        log("target %-10s loaded p99 %s ms <= 1.5 x quiet p99 = %s ms -> %s; "
            "<= 1.5 x C loop p99 (loaded) = %s ms -> %s"
            % (name + ":", fmt(p99), fmt(bq), "met" if okq else "NOT MET", fmt(bc),
               "met" if okc else "NOT MET"))
    st0, st1 = res.get("status_after_start"), res.get("status_at_end")
    if st0 and st1:
        log("daemon memory: VmRSS %.1f MiB after start, %.1f MiB at the end (peak %.1f MiB); "
            "%d threads at the end; started in %.2f s with this store (quick_check included)"
            % (st0["rss_mib"], st1["rss_mib"], st1["hwm_mib"], st1["threads"], res["startup_s"]))
    log("disk: 4 KiB append + fdatasync in %s, median/max of 40: before %.2f/%.2f ms, "
        "after %.2f/%.2f ms" % (os.path.relpath(a.out, ROOT), res["fsync_ms_before"][0],
                                res["fsync_ms_before"][1], res["fsync_ms_after"][0],
                                res["fsync_ms_after"][1]))
    for when, busy in (("before", res.get("busy_before")), ("after", res.get("busy_after"))):
        if busy:
            log("other busy processes %s the run (%% of one CPU over 1 s): %s" % (when, ", ".join(
                "%s[%d] %.0f%%" % (n, p, 100 * c) for n, p, c in busy)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=int, help="length of each window (default 10; --quick 2)")
    ap.add_argument("--jobs", type=int, help="jobs in sked.yaml (default 10000; --quick 1000)")
    ap.add_argument("--runs", type=int,
                    help="top-level runs in the store (default 1000000; --quick 50000)")
    ap.add_argument("--ticks", type=int, default=TICKS, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    ap.add_argument("--connections", type=int, default=32, help="wrk -c (default 32)")
    ap.add_argument("--quick", action="store_true", help="a small smoke run")
    ap.add_argument("--restart-each", action="store_true",
                    help="a fresh daemon for each endpoint (default: one for all, so what one "
                         "endpoint's load leaves behind shows in the next quiet window)")
    ap.add_argument("--no-probe", action="store_true",
                    help="do not sample the loop thread's state (see LoopProbe)")
    ap.add_argument("--out", default=os.path.join(HERE, "out", "api_throughput"))
    ap.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    a = ap.parse_args()
    a.seconds = a.seconds or (2 if a.quick else 10)
    a.jobs = a.jobs or (1000 if a.quick else 10000)
    a.runs = a.runs or (50000 if a.quick else 1000000)
    if a.jobs < a.ticks + WORKFLOW_EVERY:
        die("--jobs must be at least %d" % (a.ticks + WORKFLOW_EVERY))
    b = os.path.abspath(a.build)
    a.sked, a.stamp, a.limit_loop = (os.path.join(b, x) for x in ("sked", "stamp", "limit_loop"))
    a.out = os.path.abspath(a.out)
    for p in (a.sked, a.stamp, a.limit_loop):
        if not os.access(p, os.X_OK):
            die("%s is missing (make bench builds it)" % p)
    if not os.access(a.wrk, os.X_OK):
        die("wrk is missing (apt-get install wrk)")
    lock = one_at_a_time(a.out)  # noqa: F841 (held until exit)
    work = os.path.join(a.out, "run")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    load_before = open("/proc/loadavg").read().split()[0]
    log("api throughput: %s jobs (%d every 1s), %s runs in the store, wrk -t%d -c%d, %d s per "
        "window, %s; %d CPUs, load average before: %s"
        % ("{:,}".format(a.jobs), a.ticks, "{:,}".format(a.runs), a.threads, a.connections,
           a.seconds, "a fresh daemon per endpoint" if a.restart_each else "one daemon",
           os.cpu_count(), load_before))
    log("sked: %s" % sked_revision(a.sked))
    log("wrk: %s" % subprocess.run([a.wrk, "--version"], capture_output=True,
                                   text=True).stdout.splitlines()[0].strip())
    busy_before = busy_processes(skip={os.getpid()})
    disk_before = fsync_floor(work)
    res = measure(a, work)
    res["busy_before"] = busy_before
    res["busy_after"] = busy_processes(skip={os.getpid()})
    res["fsync_ms_before"] = disk_before
    res["fsync_ms_after"] = fsync_floor(work)
    report(a, res)

    out_json = a.out + ".json"
    doc = {"bench": "api_throughput",
           "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "sked": sked_revision(a.sked), "cpus": os.cpu_count(),
           "load_average_before": float(load_before),
           "load_average_after": float(open("/proc/loadavg").read().split()[0]),
           "params": {"jobs": a.jobs, "ticks": a.ticks, "runs": a.runs, "seconds": a.seconds,
                      "wrk_threads": a.threads, "wrk_connections": a.connections,
                      "wrk_timeout": WRK_TIMEOUT, "quick": a.quick,
                      "restart_each": a.restart_each, "probe": not a.no_probe},
           "target": "loaded p99 lateness <= 1.5 x quiet p99 (same run) and <= 1.5 x the C "
                     "loop's p99 in the loaded window (fire_precision.py: p99(sked) <= 1.5 x "
                     "p99(limit))"}
    doc.update(res)
    with open(out_json, "w") as f:
        json.dump(no_nan(doc), f, indent=1, allow_nan=False)
        f.write("\n")
    log("")
    log("wrote %s" % os.path.relpath(out_json, ROOT))

    broken = []
    if not res.get("daemon_alive_at_end"):
        broken.append("the daemon died")
    for ep in res["endpoints"]:
        if ep["wrk"]["requests"] == 0:
            broken.append("%s: no requests completed" % ep["name"])
        if ep["lateness"]["load"]["stamp"]["n"] == 0:
            broken.append("%s: no fires measured under load" % ep["name"])
    if len(res["endpoints"]) < 5:
        broken.append("only %d of 5 endpoints measured" % len(res["endpoints"]))
    if broken:
        log("BROKEN RUN: " + "; ".join(broken))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
