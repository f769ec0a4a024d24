#!/usr/bin/python3
"""The fault suite: the real build/sked (SKED_BIN) against the faults a
scheduler meets in the field, one scenario after the other, on the SQLite
store. Prints one row per scenario (scenario, expected, observed, result) and
ends with `N passed, N failed`; exits 1 if any scenario failed.

    tests/faults/faults.py [-k TEXT] [--list] [--keep]

Each scenario runs in a folder of its own under a temporary root and waits
for events (log lines, records, files), never for a fixed time, except where
the length of the fault itself is the point (how long the daemon stays
stopped, how often a slow client sends a byte) and where sked must *not* do
something (exit, leave a run waiting): there a generous window passes.
Scenarios that need root (a tmpfs) or libfaketime say SKIP when they cannot
run. `make faults` runs it; docs/guide.md lists the scenarios.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
os.environ.pop("SKED_TEST_PG_URL", None)  # these are the SQLite store's faults
os.environ.pop("SKED_CONFIG", None)

from conftest import SKED, run_sked  # noqa: E402
from harness import Daemon, done, free_port, http, wait_for  # noqa: E402

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
SANITIZED = bool(os.environ.get("SKED_SANITIZED"))


class Failed(Exception):
    """The scenario ran and sked did not do what it promises."""


class Skipped(Exception):
    """The scenario cannot run here (not root, no libfaketime)."""


class Timeout(Exception):
    pass


# ---------------------------------------------------------------- framework

SCENARIOS = []


def scenario(name, expected, limit=180):
    """Registers fn(ctx) -> observed (a short text) as a scenario; it raises
    Failed(observed) when sked misbehaves. limit: seconds before it is
    abandoned (a FAIL), so that one hung scenario cannot stall the suite."""
    def deco(fn):
        SCENARIOS.append((name, expected, fn, limit))
        return fn
    return deco


class Ctx:
    """One scenario's folder, and what must be cleaned up after it."""

    def __init__(self, root, name):
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
        self.dir = tempfile.mkdtemp(prefix=slug + "-", dir=root)
        self.daemons = []
        self.procs = []
        self.mounts = []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def daemon(self, yaml_text, sub=None, start=True, **kw):
        folder = self.path(sub) if sub else self.dir
        os.makedirs(folder, exist_ok=True)
        d = Daemon(folder, yaml_text, start=False, **kw)
        self.daemons.append(d)
        if start:
            d.start()
        return d

    def popen(self, *args, **kw):
        p = subprocess.Popen(*args, **kw)
        self.procs.append(p)
        return p

    def tmpfs(self, name, size):
        if os.geteuid() != 0:
            raise Skipped("mounting a tmpfs needs root")
        mnt = self.path(name)
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:  # root without CAP_SYS_ADMIN (a container)
            raise Skipped("cannot mount a tmpfs: " + r.stderr.strip()[:100])
        self.mounts.append(mnt)
        return mnt

    def cleanup(self, keep):
        for d in self.daemons:
            if d.proc and d.proc.poll() is None:
                d.proc.send_signal(signal.SIGTERM)
                try:
                    d.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    d.proc.kill()
                    d.proc.wait()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for pid in tagged_pids(self.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for mnt in self.mounts:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def on_alarm(signum, frame):
    raise Timeout()


def run_one(root, name, expected, fn, limit, keep_failed):
    ctx = Ctx(root, name)
    t0 = time.monotonic()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        observed, result = fn(ctx), "PASS"
    except Failed as e:
        observed, result = str(e), "FAIL"
    except Skipped as e:
        observed, result = str(e), "SKIP"
    except Timeout:
        observed, result = f"did not finish within {limit} s", "FAIL"
    except Exception as e:  # a wait that timed out, a CLI that failed
        text = " / ".join(l.strip() for l in str(e).strip().splitlines() if l.strip())
        observed, result = (text or type(e).__name__)[:300], "FAIL"
        if os.environ.get("FAULTS_DEBUG"):
            traceback.print_exc()
    finally:
        signal.alarm(0)
    # Under a sanitizer (SKED_BIN=build-asan/sked) its reports land in the
    # daemon's log: they fail the scenario even when the daemon kept going.
    for d in ctx.daemons:
        log = d.log()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if mark in log and result != "SKIP":
                at = log.index(mark)
                observed, result = f"sanitizer report: {log[at:at + 200]!r}", "FAIL"
    try:
        ctx.cleanup(keep_failed and result == "FAIL")
    except Exception as e:
        observed += f" (cleanup: {e})"
    if keep_failed and result == "FAIL":
        observed += f" [kept: {ctx.dir}]"
    return observed, result, time.monotonic() - t0


def wrap(text, width):
    lines = []
    for para in str(text).splitlines() or [""]:
        lines += textwrap.wrap(para, width) or [""]
    return lines


def table(rows):
    widths = (28, 40, 56, 6)
    heads = ("scenario", "expected", "observed", "result")
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [sep, "| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths)) + " |", sep]
    for row in rows:
        cells = [wrap(c, w) for c, w in zip(row, widths)]
        for i in range(max(len(c) for c in cells)):
            out.append("| " + " | ".join((c[i] if i < len(c) else "").ljust(w)
                                         for c, w in zip(cells, widths)) + " |")
        out.append(sep)
    return "\n".join(out)


# ---------------------------------------------------------------- helpers

def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None


def tagged_pids(tag):
    """Processes whose command line or working folder is under tag (our
    daemons, their jobs and leftovers), not counting this process."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
            cwd = os.readlink(f"/proc/{p}/cwd")
        except OSError:
            continue
        if tag.encode() in cmd or cwd == tag or cwd.startswith(tag + "/"):
            out.append(int(p))
    return out


def zombies_of(ppid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] == "Z" and int(fields[1]) == ppid:
            out.append(int(p))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_pid(path):
    def get():
        try:
            with open(path) as f:
                text = f.read().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None
    return wait_for(get, what=f"the pid in {os.path.basename(path)}")


def fires(runs):
    """The fire records (first attempts of scheduled instants, whatever their
    status: ran, missed, skipped, interrupted)."""
    return [r for r in runs if r["attempt"] == 1 and r["trigger"] in ("schedule", "catchup")]


def instants_check(runs, step=1.0):
    """(number of fire records, instants recorded twice, instants missing
    between the first and the last one)."""
    xs = sorted(round(ts(r["scheduled_at"]), 3) for r in fires(runs))
    dups = len(xs) - len(set(xs))
    u = sorted(set(xs))
    gaps = sum(int(round((b - a) / step)) - 1 for a, b in zip(u, u[1:]))
    return len(xs), dups, gaps


def marks_check(folder, runs):
    """Job scripts write their run id to folder/SCHEDULED_AT: (instants that
    ran twice, run ids that ran without a record)."""
    ids = {r["id"] for r in runs}
    twice, unrecorded = 0, 0
    for name in os.listdir(folder):
        with open(os.path.join(folder, name)) as f:
            lines = [l for l in f.read().split() if l]
        twice += len(lines) > 1
        unrecorded += sum(int(l) not in ids for l in lines)
    return twice, unrecorded


MARK = 'echo $SKED_RUN_ID >> "{marks}/$SKED_SCHEDULED_AT"'


def count(d, text):
    return d.log().count(text)


def wait_count(d, text, n, timeout=60.0, what=None):
    return wait_for(lambda: count(d, text) >= n, timeout=timeout, interval=0.05,
                    what=what or f"{n} x {text!r} in the log")


def write_in_place(d, text):
    with open(d.config, "w") as f:
        f.write(textwrap.dedent(text))


def fill_disk(mnt):
    path = os.path.join(mnt, "filler")
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return path


def expect(ok, observed):
    if not ok:
        raise Failed(observed)
    return observed


# ---------------------------------------------------------------- scenarios

@scenario("kill -9 mid-run",
          "restart marks the run interrupted and kills its process; every fire recorded "
          "once, nothing ran without a record")
def kill9_mid_run(ctx):
    marks = ctx.path("marks")
    os.makedirs(marks)
    d = ctx.daemon(f"""
        jobs:
          slow:
            shell: "echo $$ > {ctx.path('slow.pid')}; exec sleep 300"
          tick:
            schedule: "* * * * * *"
            shell: '{MARK.format(marks=marks)}'
    """)
    d.cli("trigger", "slow")
    pid = read_pid(ctx.path("slow.pid"))
    n0 = count(d, "event=finished job=tick ")
    wait_count(d, "event=finished job=tick ", n0 + 2)
    d.kill9()
    survived = alive(pid)
    d.start()
    wait_for(lambda: not alive(pid), what="the orphaned run's process to be killed")
    slow = d.wait_runs("slow", lambda h: h and done(h[0]), what="the slow run to be ended")
    n1 = count(d, "event=finished job=tick ")
    wait_count(d, "event=finished job=tick ", n1 + 3)
    d.stop()
    runs = d.history("tick")
    n, dups, gaps = instants_check(runs)
    twice, unrec = marks_check(marks, runs)
    obs = (f"run {slow[0]['status']} ({len(slow)} record); its process "
           f"{'outlived the daemon and ' if survived else ''}was killed at restart; "
           f"tick: {n} fires, {dups} twice, {gaps} lost, {twice} ran twice, {unrec} unrecorded")
    return expect(slow[0]["status"] == "interrupted" and len(slow) == 1 and not dups
                  and not gaps and not twice and not unrec, obs)


@scenario("50 start/kill -9 loops",
          "no fire lost or doubled; nothing ran twice or unrecorded; no leftover or zombie "
          "process", limit=300)
def start_kill_loops(ctx):
    marks = ctx.path("marks")
    os.makedirs(marks)
    d = ctx.daemon(f"""
        jobs:
          sec:
            schedule: "* * * * * *"
            catchup: all
            keep_runs: 0
            shell: '{MARK.format(marks=marks)}; sleep 0.3'
    """, start=False)
    for i in range(50):
        d.start()
        if i % 2 == 0:  # killed while it runs; else right after start-up
            n = count(d, "event=started job=sec ")
            wait_count(d, "event=started job=sec ", n + 1)
        d.kill9()
    d.start()
    n = count(d, "event=finished job=sec ")
    wait_count(d, "event=finished job=sec ", n + 3)
    pid = d.proc.pid
    wait_for(lambda: not zombies_of(pid), timeout=10, what="no zombie children of the daemon")
    d.stop()
    left = wait_for(lambda: (lambda p: "none" if not p else None)(tagged_pids(ctx.dir)),
                    timeout=15, what="no leftover processes")
    runs = d.history("sec")
    n, dups, gaps = instants_check(runs)
    twice, unrec = marks_check(marks, runs)
    zomb = zombies_of(os.getpid())
    obs = (f"{n} fires over 51 lives: {dups} twice, {gaps} lost; {twice} ran twice, "
           f"{unrec} unrecorded; leftovers: {left}; zombies: {len(zomb)}")
    return expect(not dups and not gaps and not twice and not unrec and not zomb, obs)


@scenario("kill -9 during writes, 100 jobs every second",
          "the store stays intact (integrity_check ok); no fire lost or doubled", limit=300)
def kill9_during_writes(ctx):
    jobs = "".join(f"  j{i:03d}:\n    schedule: \"* * * * * *\"\n    run: [\"true\"]\n"
                   for i in range(100))
    d = ctx.daemon("max_parallel: 100\ndefaults:\n  catchup: all\n  keep_runs: 0\njobs:\n" + jobs,
                   start=False)
    for i in range(4):
        d.start()
        # Killed in the middle of a burst of records, or of the first one
        # after start-up (catch-up of the instants it was down).
        n = count(d, "event=finished job=")
        wait_count(d, "event=finished job=", n + (200 if i % 2 == 0 else 1))
        d.kill9()
    d.start()
    n = count(d, "event=finished job=")
    wait_count(d, "event=finished job=", n + 150)
    d.stop()
    con = sqlite3.connect(f"file:{d.state}/sked.db?mode=ro", uri=True)
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    runs = d.history()
    per_job = {}
    for r in runs:
        per_job.setdefault(r["job"], []).append(r)
    dups = gaps = 0
    for rs in per_job.values():
        _, a, b = instants_check(rs)
        dups, gaps = dups + a, gaps + b
    stuck = sum(r["status"] in ("running",) for r in runs)
    obs = (f"integrity_check: {integrity}; {len(runs)} records of {len(per_job)} jobs over 5 "
           f"lives: {dups} instants twice, {gaps} lost, {stuck} left running")
    return expect(integrity == "ok" and len(per_job) == 100 and not dups and not gaps
                  and not stuck, obs)


@scenario("SIGTERM mid-run",
          "the run is stopped and recorded interrupted, sked exits 0, no retry at restart")
def sigterm_mid_run(ctx):
    d = ctx.daemon(f"""
        jobs:
          slow:
            shell: "echo $$ > {ctx.path('slow.pid')}; exec sleep 300"
            retries: 2
          tick:
            schedule: "* * * * * *"
            run: ["true"]
    """)
    d.cli("trigger", "slow")
    pid = read_pid(ctx.path("slow.pid"))
    d.signal(signal.SIGTERM)
    rc = d.proc.wait(timeout=60)
    gone = wait_for(lambda: not alive(pid), timeout=10, what="the run's process to end")
    d.start()
    n = count(d, "event=finished job=tick ")
    wait_count(d, "event=finished job=tick ", n + 1)  # recovery and the queue are past
    runs = d.history("slow")
    d.stop()
    obs = (f"exit {rc}; process {'gone' if gone else 'alive'}; slow: "
           + ", ".join(f"attempt {r['attempt']} {r['status']}" for r in runs))
    return expect(rc == 0 and len(runs) == 1 and runs[0]["status"] == "interrupted", obs)


@scenario("a child that ignores SIGTERM",
          "timeout: SIGTERM, then SIGKILL after kill_grace; recorded timed_out; process gone")
def ignores_sigterm(ctx):
    d = ctx.daemon(f"""
        jobs:
          stubborn:
            shell: "trap '' TERM; echo $$ > {ctx.path('pid')}; while :; do sleep 0.2; done"
            timeout: 1s
            kill_grace: 2s
    """)
    d.cli("trigger", "stubborn")
    pid = read_pid(ctx.path("pid"))
    run = d.wait_runs("stubborn", lambda h: h and done(h[0]), what="the run to end")[0]
    took = ts(run["ended_at"]) - ts(run["started_at"])
    gone = wait_for(lambda: not alive(pid), timeout=10, what="the stubborn process to die")
    log = d.cli("logs", "stubborn", "--run", str(run["id"]), check=False).stdout
    d.stop()
    obs = (f"{run['status']} after {took:.1f} s (signal {run['signal']}); "
           f"SIGKILL {'noted' if 'SIGKILL' in log else 'not noted'} in the run log; "
           f"process {'gone' if gone else 'alive'}")
    return expect(run["status"] == "timed_out" and took >= 2.9 and run["signal"] == 9, obs)


@scenario("orphaned grandchildren",
          "killed with the run's process group, when the run ends and at a timeout")
def grandchildren(ctx):
    d = ctx.daemon(f"""
        jobs:
          quits:
            shell: "sleep 300 & echo $! > {ctx.path('a.pid')}; (sleep 300 & echo $! > {ctx.path('b.pid')}; wait) & while [ ! -s {ctx.path('b.pid')} ]; do sleep 0.05; done; exit 0"
          hangs:
            shell: "sleep 300 & echo $! > {ctx.path('c.pid')}; sleep 300"
            timeout: 1s
            kill_grace: 1s
    """)
    d.cli("trigger", "quits")
    d.cli("trigger", "hangs")
    pids = [read_pid(ctx.path(f"{x}.pid")) for x in "abc"]
    q = d.wait_runs("quits", lambda h: h and done(h[0]))[0]
    h = d.wait_runs("hangs", lambda h: h and done(h[0]))[0]
    wait_for(lambda: not any(alive(p) for p in pids), timeout=15,
             what="the grandchildren to be killed")
    d.stop()
    return f"quits: {q['status']}, hangs: {h['status']}; all 3 grandchildren killed"


@scenario("a process that escapes with setsid",
          "NOT guaranteed (documented): it may outlive its run")
def setsid_escape(ctx):
    d = ctx.daemon(f"""
        jobs:
          escape:
            shell: "setsid sh -c 'echo $$ > {ctx.path('e.pid')}; exec sleep 300' </dev/null >/dev/null 2>&1 & while [ ! -s {ctx.path('e.pid')} ]; do sleep 0.05; done"
    """)
    d.cli("trigger", "escape")
    pid = read_pid(ctx.path("e.pid"))
    run = d.wait_runs("escape", lambda h: h and done(h[0]))[0]
    d.stop()
    survived = alive(pid)
    return (f"run {run['status']}; the escaped process "
            + ("outlived it, as documented (the suite killed it)" if survived else "was killed"))


@scenario("2 GB of output",
          "the log is capped (max_output) with a marker; the daemon's RSS stays bounded",
          limit=300)
def big_output(ctx):
    d = ctx.daemon("""
        jobs:
          flood:
            shell: "yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c 2147483648"
            max_output: 10MiB
    """)
    pid = d.proc.pid
    base = rss_kb(pid)
    peak = [base]
    d.cli("trigger", "flood")

    def sample():
        peak[0] = max(peak[0], rss_kb(pid))
        return (lambda h: h if h and done(h[0]) else None)(d.history("flood"))
    run = wait_for(sample, timeout=240, interval=0.1, what="the flood to end")[0]
    logs = ctx.path(".sked", "logs", "flood")
    size = sum(os.path.getsize(os.path.join(logs, f)) for f in os.listdir(logs))
    tail = d.cli("logs", "flood", "--run", str(run["id"])).stdout[-2000:]
    d.stop()
    grown = (peak[0] - base) / 1024
    obs = (f"{run['status']}; log {size / 2**20:.1f} MiB, marker "
           f"{'present' if 'output truncated' in tail else 'missing'}; RSS {base / 1024:.0f} -> "
           f"peak {peak[0] / 1024:.0f} MiB")
    return expect(run["status"] == "succeeded" and size < 24 * 2**20 and
                  "output truncated" in tail and grown < 64, obs)


@scenario("retry storm",
          "every failure retried exactly as configured, with its back-off; status answers "
          "during the storm", limit=240)
def retry_storm(ctx):
    jobs = "".join(f"  f{i:02d}:\n    every: 1s\n    shell: \"exit 3\"\n" for i in range(40))
    d = ctx.daemon("max_parallel: 64\ndefaults:\n  retries: 3\n  retry_delay: 200ms\n"
                   "  overlap: allow\n  keep_runs: 0\njobs:\n" + jobs)
    n = count(d, "status=failed")
    slow = 0.0
    while count(d, "status=failed") < n + 600:
        t = time.monotonic()
        d.cli("status", "--json")
        slow = max(slow, time.monotonic() - t)
        wait_count(d, "status=failed", min(n + 600, count(d, "status=failed") + 50))
    d.stop()
    runs = d.history()
    chains = {}
    for r in runs:
        chains.setdefault((r["job"], r["scheduled_at"]), []).append(r)
    bad_attempts = early = 0
    for rs in chains.values():
        rs.sort(key=lambda r: r["attempt"])
        if [r["attempt"] for r in rs] != list(range(1, len(rs) + 1)) or len(rs) > 4:
            bad_attempts += 1
        for a, b in zip(rs, rs[1:]):
            if a["ended_at"] and b["started_at"]:
                delay = 0.2 * 2 ** (a["attempt"] - 1)
                early += ts(b["started_at"]) - ts(a["ended_at"]) < delay - 0.01
    most = max(len(rs) for rs in chains.values())
    obs = (f"{len(runs)} runs in {len(chains)} fires, at most {most} attempts; "
           f"{bad_attempts} fires with wrong attempts, {early} retries early; "
           f"slowest `sked status` {slow:.2f} s")
    return expect(not bad_attempts and not early, obs)


@scenario("10,000 jobs due at once", "each recorded and run exactly once", limit=420)
def ten_thousand(ctx):
    n = 10000
    probe = ctx.path("probe.yaml")
    body = "".join(f"  j{i:05d}: {{at: \"AT\", run: [\"true\"]}}\n" for i in range(n))
    with open(probe, "w") as f:
        f.write("jobs:\n" + body.replace("AT", "2099-01-01T00:00:00Z"))
    t = time.monotonic()
    run_sked("validate", "-c", probe, timeout=120)
    load = time.monotonic() - t
    # Due soon after start-up (loading is measured above), when the daemon
    # is up and idle. A machine slower than that margin: again, with more.
    margin = max(8.0, 4 * load + 5)
    for attempt in range(3):
        at = datetime.fromtimestamp(int(time.time() + margin) + 1, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        d = ctx.daemon("max_parallel: 64\njobs:\n" + body.replace("AT", at), sub=f"try{attempt}")
        late = "event=in_past" in d.log()
        if not late:
            break
        d.stop()
        margin *= 2
    wait_count(d, "event=finished job=", n, timeout=360, what=f"{n} runs to finish")
    runs = d.history(n=2 * n)
    d.stop()
    jobs = {r["job"] for r in runs}
    ok = sum(r["status"] == "succeeded" for r in runs)
    obs = (f"{len(runs)} records of {len(jobs)} jobs, {ok} succeeded"
           + ("; the daemon started after the instant" if late else ""))
    return expect(len(runs) == n and len(jobs) == n and ok == n and not late, obs)


@scenario("disk full (3 MB tmpfs)",
          "runs stop without records while full, nothing runs unrecorded, runs resume when "
          "space returns")
def disk_full(ctx):
    mnt = ctx.tmpfs("small", "3m")
    marks = ctx.path("marks")
    os.makedirs(marks)
    d = ctx.daemon(f"""
        state_dir: {mnt}/state
        jobs:
          tick:
            every: 1s
            shell: "touch {marks}/$SKED_RUN_ID; echo some output"
    """)
    d.state = os.path.join(mnt, "state")
    d.wait_runs("tick", lambda h: len(h) >= 2)
    filler = fill_disk(mnt)
    n = count(d, "event=store_error")
    wait_count(d, "event=store_error", n + 3, what="the daemon to report the full disk")
    os.unlink(filler)
    n0 = len(os.listdir(marks))
    wait_for(lambda: len(os.listdir(marks)) >= n0 + 3, timeout=60,
             what="runs to resume once space returns")
    d.stop()
    ids = {r["id"] for r in d.history("tick")}
    unrec = [m for m in os.listdir(marks) if int(m) not in ids]
    obs = f"store_error logged; runs resumed; {len(unrec)} ran without a record"
    return expect(not unrec, obs)


@scenario("disk full, then SIGTERM",
          "sked does not exit while it holds an unrecorded outcome; once space returns the "
          "succeeded run is recorded once and not run again", limit=240)
def disk_full_sigterm(ctx):
    mnt = ctx.tmpfs("small", "3m")
    ledger, go = ctx.path("ledger"), ctx.path("go")
    d = ctx.daemon(f"""
        state_dir: {mnt}/state
        jobs:
          charge:
            shell: "while [ ! -e {go} ]; do sleep 0.05; done; echo $SKED_RUN_ID >> {ledger}"
            retries: 1
          probe:
            run: ["true"]
    """)
    d.state = os.path.join(mnt, "state")
    d.cli("trigger", "charge")
    wait_count(d, "event=started job=charge ", 1)
    filler = fill_disk(mnt)
    n = count(d, "event=store_error")
    open(go, "w").close()
    wait_for(lambda: os.path.exists(ledger) and open(ledger).read().strip(),
             what="the run to charge the ledger")
    wait_count(d, "event=store_error", n + 1, what="the outcome's write to fail")
    d.signal(signal.SIGTERM)
    mark = len(d.log())

    def after_stop():
        if d.proc.poll() is not None:
            return "exited"
        tail = d.log()[mark:]
        said = [l for l in tail.splitlines() if " warn " in l or " error " in l]
        return "waits" if len(said) >= 2 else None
    try:
        state = wait_for(after_stop, timeout=30, what="the daemon to exit or to say it waits")
    except AssertionError:
        state = "waits"  # still up, quietly: it did not exit
    held = state == "waits"
    rc = d.proc.returncode
    os.unlink(filler)
    if held:
        try:
            rc = d.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise Failed("did not record the outcome and exit after space returned")
    d.start()
    d.cli("trigger", "probe")
    d.wait_runs("probe", lambda h: h and done(h[0]))
    runs = d.wait_runs("charge", lambda h: h and all(done(r) for r in h))
    charged = open(ledger).read().split()
    d.stop()
    obs = (("stayed up after SIGTERM while the outcome was unrecorded"
            if held else f"exited {rc} at once after SIGTERM") + "; after restart: "
           + ", ".join(f"run {r['id']} {r['status']}" for r in runs)
           + f"; ledger charged {len(charged)}x")
    return expect(held and len(runs) == 1 and runs[0]["status"] == "succeeded"
                  and len(charged) == 1, obs)


@scenario("corrupt config at start",
          "refused with FILE:LINE:COL, exit 1, nothing starts")
def corrupt_config(ctx):
    bad = {"syntax": "jobs:\n  a:\n    run: [true\n  b: {run: [true]}\n",
           "schema": "jobs:\n  a:\n    schedule: \"61 * * * *\"\n    run: [\"true\"]\n"}
    seen = []
    for kind, text in bad.items():
        cfg = ctx.path(f"{kind}.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        r = run_sked("run", "-c", cfg, timeout=30)
        m = re.search(re.escape(cfg) + r":(\d+):(\d+): ", r.stderr)
        seen.append(f"{kind}: exit {r.returncode}, " + (f"{os.path.basename(cfg)}:{m.group(1)}:"
                                                         f"{m.group(2)}" if m else "no place"))
        if r.returncode != 1 or not m or os.path.exists(ctx.path(".sked", "sked.db")):
            raise Failed("; ".join(seen) + ": " + r.stderr.strip()[:120])
    return "; ".join(seen)


@scenario("half-written config at reload",
          "refused with FILE:LINE:COL; the old configuration keeps running")
def half_written_config(ctx):
    full = textwrap.dedent("""
        jobs:
          tick:
            every: 1s
            run: ["true"]
          other:
            run: ["true", "--with", "arguments"]
    """)
    d = ctx.daemon(full)
    n = count(d, "event=finished job=tick ")
    wait_count(d, "event=finished job=tick ", n + 1)
    write_in_place(d, full[:full.index("--with")])
    wait_count(d, "event=reload_failed", 1, what="the reload to fail")
    m = re.search(r"event=config_error at=(\S+):(\d+):(\d+)", d.log())
    n = count(d, "event=finished job=tick ")
    wait_count(d, "event=finished job=tick ", n + 2, what="the old configuration to keep firing")
    r = d.cli("reload", check=False)
    m2 = re.search(r"sked\.yaml:(\d+):(\d+): ", r.stderr)
    d.stop()
    obs = (f"reload_failed at sked.yaml:{m.group(2)}:{m.group(3)}" if m else "no place logged")
    obs += f"; tick kept firing; `sked reload`: exit {r.returncode}"
    obs += f" at sked.yaml:{m2.group(1)}:{m2.group(2)}" if m2 else " without a place"
    return expect(m and m2 and r.returncode == 1 and "event=reloaded" not in d.log(), obs)


@scenario("corrupt store", "refused naming the file; the file is left untouched")
def corrupt_store(ctx):
    d = ctx.daemon("jobs:\n  x:\n    run: [\"true\"]\n", start=False)
    os.makedirs(d.state)
    db = os.path.join(d.state, "sked.db")
    junk = b"this is not a database, it is a precious file\n" * 100
    with open(db, "wb") as f:
        f.write(junk)
    r = run_sked("run", "-c", d.config, timeout=30)
    with open(db, "rb") as f:
        same = f.read() == junk
    obs = (f"exit {r.returncode}; {'names' if 'sked.db' in r.stderr else 'does not name'} the "
           f"file; file {'untouched' if same else 'CHANGED'}")
    return expect(r.returncode == 1 and "sked.db" in r.stderr and same, obs)


@scenario("a second daemon on the same store",
          "refused naming the owner's pid; the first daemon's run is left alone")
def second_daemon(ctx):
    a = ctx.daemon(f"""
        jobs:
          slow:
            shell: "echo $$ > {ctx.path('slow.pid')}; exec sleep 300"
    """, sub="a")
    a.cli("trigger", "slow")
    pid = read_pid(ctx.path("slow.pid"))
    b = ctx.daemon(f"""
        store: {a.state}/sked.db
        jobs:
          other:
            run: ["true"]
    """, sub="b", start=False)
    b.start(wait=False)
    started = wait_for(lambda: "exited" if b.proc.poll() is not None else
                       ("started" if "event=started_daemon" in b.log() else None),
                       what="the second daemon to start or give up")
    said = b.log().strip()
    msg = said.splitlines()[-1] if said else ""
    if started == "started":
        b.stop()  # its recovery, which runs before its start line, is done
    runs = a.history("slow")
    still = alive(pid)
    a.stop()
    about = re.search(r"\(pid \d+[^)]*\)", msg)
    obs = (f"second daemon {'started' if started == 'started' else 'refused'}"
           + (": " + (about.group(0) if about else msg[-90:]).replace(ctx.dir, "…")
              if started != "started" else "")
           + f"; first run {runs[0]['status'] if runs else '?'}, process "
           + ("alive" if still else "killed"))
    names_pid = re.search(rf"\b{a.proc.pid}\b", said) is not None
    return expect(started == "exited" and names_pid and still
                  and runs and runs[0]["status"] == "running", obs)


def faked(ctx):
    if not os.path.exists(FAKETIME):
        raise Skipped("libfaketime is not installed (Debian: faketime)")
    if SANITIZED:
        raise Skipped("libfaketime cannot be preloaded into an ASan binary")
    f = ctx.path("faketime")
    with open(f, "w") as fh:
        fh.write("+0s\n")
    env = {"LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": f, "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1"}
    return f, env


def set_offset(f, text):
    with open(f, "w") as fh:
        fh.write(text + "\n")


@scenario("clock jump forward (+2 h)",
          "skipped instants recorded missed (the newest caught up), no storm, none twice")
def clock_forward(ctx):
    f, env = faked(ctx)
    d = ctx.daemon("""
        jobs:
          sec:
            every: 1s
            run: ["true"]
            keep_runs: 0
    """, env=env)
    d.wait_runs("sec", lambda h: len(h) >= 2)
    set_offset(f, "+2h")
    wait_count(d, "event=clock_jump", 1, what="the jump to be seen")
    n = count(d, "event=finished job=sec ")
    wait_count(d, "event=finished job=sec ", n + 3)
    d.stop()
    runs = d.history("sec")
    started = sum(1 for r in runs if r["started_at"])
    missed = sum(1 for r in runs if r["status"] == "missed")
    caught = sum(1 for r in runs if r["trigger"] == "catchup")
    _, dups, _ = instants_check(runs)
    obs = f"{missed} missed recorded, {caught} caught up, {started} ran, {dups} twice"
    return expect(missed >= 999 and caught <= 1 and started < 30 and not dups, obs)


@scenario("clock jump back (-1 h)",
          "nothing fires twice; every: jobs keep running; a cron job does not storm")
def clock_back(ctx):
    f, env = faked(ctx)
    d = ctx.daemon("""
        jobs:
          sec:
            every: 1s
            run: ["true"]
          wild:
            schedule: "* * * * * *"
            run: ["true"]
    """, env=env)
    d.wait_runs("sec", lambda h: len(h) >= 2)
    n = count(d, "event=finished job=sec ")
    set_offset(f, "-1h")
    try:
        wait_count(d, "event=finished job=sec ", n + 4, what="every: to keep running")
        kept = "sec kept running"
    except AssertionError:
        kept = "sec stalled (no run for 60 s)"
    seen = "seen" if "event=clock_jump" in d.log() else "not seen"
    d.stop()
    dups = sum(instants_check(d.history(j))[1] for j in ("sec", "wild"))
    wild = len(d.history("wild"))
    obs = f"{kept}; the jump {seen}; {dups} instants twice; wild: {wild} records"
    return expect(kept == "sec kept running" and not dups and wild < 30, obs)


@scenario("clock jump back with a queued run",
          "the queued run starts when the running one ends, not an hour later; durations "
          "are not negative", limit=120)
def clock_back_queue(ctx):
    f, env = faked(ctx)
    d = ctx.daemon(f"""
        max_parallel: 1
        jobs:
          long:
            shell: "while [ ! -e {ctx.path('go')} ]; do sleep 0.05; done"
          short:
            run: ["true"]
    """, env=env)
    d.cli("trigger", "long")
    wait_count(d, "event=started job=long ", 1)
    d.cli("trigger", "short")
    set_offset(f, "-1h")
    # Idle until the long run ends: the daemon sees the jump when it wakes.
    open(ctx.path("go"), "w").close()
    long_run = d.wait_runs("long", lambda h: h and done(h[0]))[0]
    try:
        d.wait_runs("short", lambda h: h and done(h[0]), timeout=30)
        queued = "started after the long run"
    except AssertionError:
        queued = "still waiting 30 s after the long run ended"
    sock = os.path.join(d.state, "sked.sock")
    dur = http("GET", f"/api/v1/runs/{long_run['id']}", sock=sock).json().get("duration")
    span = ts(long_run["ended_at"]) - ts(long_run["started_at"])
    d.stop()
    obs = (f"queued run {queued}; long run: ended_at - started_at = {span:.0f} s, "
           f"API duration {dur}")
    return expect(queued.startswith("started") and span >= 0 and dur is not None, obs)


@scenario("SIGSTOP / SIGCONT of the daemon",
          "the instants of the pause recorded (missed or caught up), none twice; a run "
          "that ended meanwhile is recorded")
def stop_cont(ctx):
    marks = ctx.path("marks")
    os.makedirs(marks)
    d = ctx.daemon(f"""
        jobs:
          sec:
            schedule: "* * * * * *"
            shell: '{MARK.format(marks=marks)}'
          slow:
            run: [sleep, "1"]
    """)
    n = count(d, "event=finished job=sec ")
    wait_count(d, "event=finished job=sec ", n + 2)
    d.cli("trigger", "slow")
    wait_count(d, "event=started job=slow ", 1)
    d.signal(signal.SIGSTOP)
    time.sleep(4)  # the fault itself: the daemon frozen for 4 s
    d.signal(signal.SIGCONT)
    slow = d.wait_runs("slow", lambda h: h and done(h[0]))[0]
    n = count(d, "event=finished job=sec ")
    wait_count(d, "event=finished job=sec ", n + 3)
    d.stop()
    runs = d.history("sec")
    nf, dups, gaps = instants_check(runs)
    twice, unrec = marks_check(marks, runs)
    missed = sum(r["status"] == "missed" for r in runs)
    obs = (f"{nf} fires ({missed} missed): {dups} twice, {gaps} lost, {twice} ran twice; "
           f"slow {slow['status']}")
    return expect(not dups and not gaps and not twice and not unrec
                  and slow["status"] == "succeeded", obs)


@scenario("CLI beside the daemon: status, then exec",
          "the daemon's sked.db-wal is not deleted; `sked history` sees the daemon's new runs")
def cli_beside_daemon(ctx):
    d = ctx.daemon("""
        jobs:
          j:
            run: ["true"]
    """)
    d.cli("status")
    r = d.cli("exec", "j", check=False)
    # The daemon's files of the store: none may be unlinked under it.
    fds = f"/proc/{d.proc.pid}/fd"
    links = []
    for fd in os.listdir(fds):
        try:
            links.append(os.readlink(os.path.join(fds, fd)))
        except OSError:
            pass  # closed meanwhile
    deleted = [l for l in links if "sked.db" in l and l.endswith("(deleted)")]
    wal_there = os.path.exists(os.path.join(d.state, "sked.db-wal"))
    out = d.cli("trigger", "j").stdout
    rid = int(re.search(r"run (\d+)", out).group(1))
    try:
        wait_for(lambda: any(x["id"] == rid for x in d.history("j")), timeout=15)
        seen = True
    except AssertionError:
        seen = False
    d.stop()
    obs = (f"exec exit {r.returncode}; sked.db-wal "
           + ("deleted under the daemon" if deleted or not wal_there else "intact")
           + f"; history {'sees' if seen else 'does not see'} run {rid}")
    return expect(not deleted and wal_there and seen, obs)


def api_daemon(ctx, env=None):
    port = free_port()
    d = ctx.daemon(f"""
        http:
          listen: "127.0.0.1:{port}"
        jobs:
          target:
            run: ["true"]
    """, env=env)
    wait_count(d, "event=http_listening", 1)
    return d, port


@scenario("HTTP: cross-origin POST",
          "a trigger from another origin (text/plain, no token) is refused and nothing runs")
def http_csrf(ctx):
    d, port = api_daemon(ctx)
    # What a page's fetch(..., {mode: "no-cors"}) can send: a "simple" request.
    r = http("POST", "/api/v1/jobs/target/trigger", body="{}", port=port,
             headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    runs = d.history("target")
    own = http("POST", "/api/v1/jobs/target/trigger", body={}, port=port,
               headers={"Origin": f"http://127.0.0.1:{port}"})
    d.stop()
    obs = (f"evil.example: {r.status}, {len(runs)} run(s); the dashboard's own origin: "
           f"{own.status}")
    return expect(400 <= r.status < 500 and not runs and 200 <= own.status < 300, obs)


@scenario("HTTP: foreign Host header",
          "a request for Host: attacker.example (DNS rebinding) is refused")
def http_host(ctx):
    d, port = api_daemon(ctx)
    r = http("GET", "/api/v1/runs", port=port, headers={"Host": "attacker.example"})
    own = http("GET", "/api/v1/runs", port=port, headers={"Host": f"127.0.0.1:{port}"})
    d.stop()
    obs = f"Host attacker.example: {r.status}; Host 127.0.0.1:{port}: {own.status}"
    return expect(400 <= r.status < 500 and own.status == 200, obs)


@scenario("HTTP: slowloris from 127.0.0.2",
          "400 slow connections from one client do not lock out a valid client", limit=120)
def http_slowloris(ctx):
    token = "faults-admin-token-0123456789abcdef"
    d, port = api_daemon(ctx, env={"SKED_ADMIN_TOKEN": token})
    auth = {"Authorization": f"Bearer {token}"}
    before = http("GET", "/api/v1/status", port=port, headers=auth).status
    socks, stop = [], threading.Event()
    for _ in range(400):
        try:
            s = socket.socket()
            s.settimeout(2)
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        except OSError:
            s.close()

    def drip():
        while not stop.wait(8):
            for s in socks:
                try:
                    s.sendall(b"X-a: b\r\n")
                except OSError:
                    pass
    t = threading.Thread(target=drip, daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        try:
            r = http("GET", "/api/v1/status", port=port, headers=auth, timeout=20)
            during = f"{r.status} in {time.monotonic() - t0:.1f} s"
            ok = r.status == 200
        except OSError as e:
            during = f"no answer in {time.monotonic() - t0:.0f} s ({type(e).__name__})"
            ok = False
    finally:
        stop.set()
        for s in socks:
            s.close()
    d.stop()
    obs = f"{len(socks)} slow connections open; valid client before: {before}, during: {during}"
    return expect(ok, obs)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", action="append", default=[],
                    help="run only scenarios whose name contains this text (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--keep", action="store_true", help="keep the folders of failed scenarios")
    args = ap.parse_args()
    chosen = [s for s in SCENARIOS
              if not args.k or any(k.lower() in s[0].lower() for k in args.k)]
    if args.list:
        for name, expected, _, _ in chosen:
            print(f"{name}: {expected}")
        return 0
    if not os.access(SKED, os.X_OK):
        print(f"faults: no sked binary at {SKED} (run make, or set SKED_BIN)", file=sys.stderr)
        return 2
    root = tempfile.mkdtemp(prefix="sked-faults-")
    rows, t0 = [], time.monotonic()
    print(f"faults: {len(chosen)} scenarios with {os.path.abspath(SKED)}", flush=True)
    try:
        for i, (name, expected, fn, limit) in enumerate(chosen, 1):
            observed, result, secs = run_one(root, name, expected, fn, limit, args.keep)
            rows.append((name, expected, observed, result))
            print(f"[{i:2d}/{len(chosen)}] {result} {name} ({secs:.0f} s): {observed}",
                  flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        elif not os.listdir(root):
            os.rmdir(root)  # nothing failed: nothing to keep
    print()
    print(table(rows))
    passed = sum(r[3] == "PASS" for r in rows)
    failed = sum(r[3] == "FAIL" for r in rows)
    skipped = sum(r[3] == "SKIP" for r in rows)
    print(f"took {time.monotonic() - t0:.0f} s" + (f"; {skipped} skipped" if skipped else ""))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
