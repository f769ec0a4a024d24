#!/usr/bin/python3
"""How fast does sked get through a burst of fires? 1,000 jobs due at the
same instant, against a bare fork/exec loop, in the same run.

usage: /usr/bin/python3 bench/launch_throughput.py [--build DIR] [--jobs N]
                           [--parallel P[,P...]] [--repeat R] [--out DIR]
       (defaults: 1000 jobs; max_parallel 16 and 64; 3 rounds)

sked: a daemon whose N jobs all have the same `at:` instant a few seconds
ahead (after start-up), each running /bin/true, with max_parallel P. Once
every job has finished (counted from the daemon's event=finished lines, so
that the CLI does not compete for the CPU meanwhile), `sked history --json`
gives the figures: runs per second = N / (last ended_at - the due instant),
and the check that every job ran exactly once, succeeded, on time
(trigger=schedule, scheduled_at = the instant): no fire dropped or doubled.

Baseline: BUILD/forkexec_limit N P, a C loop that fork()s and execv()s
/bin/true N times with at most P in flight (waitpid frees a slot), timed
from the first fork to the last reap. Its rate is the floor: no store, no
logs, no pipes. Target: sked's rate >= 80% of the baseline's.

Peer: APScheduler 3 (Debian's python3-apscheduler), in a child Python:
the same N one-off jobs (DateTrigger at the instant, misfire_grace_time
None so that none is dropped for being late), its ThreadPoolExecutor with
P workers, each job running /bin/true with subprocess.run (it waits for the
exit, as sked does for an outcome); runs per second = N / (last end - the
instant), with the check that each job ran once. It keeps nothing: no
store, no log. Target: sked's rate >= 1.5x APScheduler's.

Each max_parallel gets R rounds of (baseline, APScheduler, sked), in turn, so that
both sides see the same noise; the medians are compared. The daemon's own
CPU time over the burst (utime+stime from /proc) is shown per run, and the
median of 40 fdatasyncs on the same disk just before each sked round (the
machine's state: sked's store syncs are on its path).

The state folders (bench/out/launch_throughput/pP-rR, kept until the next
run) are on the real disk: sked writes each start and each end to its store
with fsync (batched per loop turn), and a tmpfs would hide that. (A run's
log file is made at its first line, so these silent runs make no files.)
Exit status 0 even when the target is
missed; 1 if a fire was dropped or doubled or the run broke.
"""
import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from benchlib import sked_revision, fsync_floor, one_at_a_time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = 0.80
PEER_TARGET = 1.5  # sked's rate / APScheduler's
LEAD_S = 4  # the due instant: this long after the config is written, at least
TRUE = "/bin/true"
STALL_S = 20  # no run finished for this long after the due instant: sked is stuck


def cpu_s(pid):
    """utime + stime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def iso_to_unix(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def baseline(a, par):
    out = subprocess.run([a.forkexec, str(a.jobs), str(par), TRUE], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"seconds=([\d.]+) rate=([\d.]+)/s", out)
    return float(m.group(2)), float(m.group(1))


def run_aps(a, par):
    """APScheduler 3 on the same burst, in a child Python: (rate, span, ran)."""
    due = time.time() + LEAD_S
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--aps-child",
                          str(a.jobs), str(par), "%.6f" % due],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"span=([\d.]+) ran=(\d+) once=(\d+)", out)
    span, ran, once = float(m.group(1)), int(m.group(2)), int(m.group(3))
    return a.jobs / span if span > 0 else float("nan"), span, ran == a.jobs and once == a.jobs


def aps_child(n, par, due):
    """Runs n one-off APScheduler jobs due at `due` on a pool of par threads;
    prints the span from `due` to the last end and how many ran (once)."""
    import logging
    import threading
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    logging.basicConfig(level=logging.ERROR)
    lock = threading.Lock()
    ends, counts = [], {}
    done = threading.Event()

    def job(i):
        subprocess.run([TRUE], check=True)
        with lock:
            ends.append(time.time())
            counts[i] = counts.get(i, 0) + 1
            if len(ends) == n:
                done.set()

    sched = BackgroundScheduler(executors={"default": ThreadPoolExecutor(par)},
                                job_defaults={"misfire_grace_time": None, "coalesce": False})
    when = dt.datetime.fromtimestamp(due, dt.timezone.utc)
    for i in range(n):
        sched.add_job(job, "date", run_date=when, args=[i], id="j%d" % i)
    sched.start()
    done.wait(timeout=600)
    sched.shutdown(wait=False)
    print("span=%.6f ran=%d once=%d" % (max(ends) - due, len(ends),
                                         sum(1 for c in counts.values() if c == 1)))


def run_sked(a, par, rnd):
    work = os.path.join(a.out, "p%d-r%d" % (par, rnd))
    os.makedirs(work)
    config = os.path.join(work, "sked.yaml")
    due = int(time.time()) + LEAD_S + 1
    due_iso = dt.datetime.fromtimestamp(due, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    width = len(str(a.jobs - 1))
    with open(config, "w") as f:
        f.write("max_parallel: %d\nstate_dir: .sked\njobs:\n" % par)
        for i in range(a.jobs):
            f.write('  j%0*d: {at: "%s", run: [%s]}\n' % (width, i, due_iso, TRUE))
    log_path = os.path.join(work, "daemon.log")
    env = dict(os.environ)
    env.pop("SKED_CONFIG", None)
    t_exec = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([a.sked, "run", "-c", config], stdout=log, stderr=log, env=env,
                                cwd=work)
    mark = "event=started_daemon pid=%d " % proc.pid
    finished, seen, text = 0, 0, ""
    started_at = None
    stuck = None
    cpu_start = 0.0
    last_progress = time.monotonic()
    with open(log_path) as lf:
        while finished < a.jobs:
            chunk = lf.read()
            if chunk:
                text += chunk
                # Count only whole lines.
                cut = text.rfind("\n") + 1
                done_part, text = text[:cut], text[cut:]
                if started_at is None and mark in done_part:
                    started_at = time.time()
                    cpu_start = cpu_s(proc.pid)
                n = done_part.count(" event=finished ")
                if n:
                    finished += n
                    last_progress = time.monotonic()
                seen += done_part.count(" event=started ")
            if proc.poll() is not None:
                sys.exit("launch_throughput: sked exited:\n" + open(log_path).read()[-4000:])
            if time.time() > due and time.monotonic() - last_progress > STALL_S:
                st = subprocess.run([a.sked, "status", "--json", "-c", config],
                                    capture_output=True, text=True, env=env).stdout
                stuck = ("only %d of %d runs finished (%d started); nothing more for %d s; "
                         "sked status: %s" % (finished, a.jobs, seen, STALL_S,
                                              " ".join(st.split())))
                break
            time.sleep(0.05)
    cpu_end = cpu_s(proc.pid)
    hist = subprocess.run([a.sked, "history", "--json", "-n", str(10 * a.jobs), "-c", config],
                          check=True, capture_output=True, text=True, env=env).stdout
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    runs = json.loads(hist)

    problems = [stuck] if stuck else []
    if started_at is None or started_at - t_exec > due - t_exec:
        problems.append("the daemon was not ready before the due instant")
    per_job = {}
    for r in runs:
        per_job.setdefault(r["job"], []).append(r)
    names = ["j%0*d" % (width, i) for i in range(a.jobs)]
    missing = [n for n in names if n not in per_job]
    doubled = [n for n in names if len(per_job.get(n, [])) > 1]
    bad = [r for r in runs if r["status"] != "succeeded" or r["trigger"] != "schedule"
           or abs(iso_to_unix(r["scheduled_at"]) - due) > 0.0005]
    if missing:
        problems.append("%d job(s) never ran (e.g. %s)" % (len(missing), missing[0]))
    if doubled:
        problems.append("%d job(s) ran more than once (e.g. %s)" % (len(doubled), doubled[0]))
    if bad:
        problems.append("%d run(s) not succeeded/schedule/on the instant (e.g. %s)"
                        % (len(bad), json.dumps(bad[0])))
    ended = [iso_to_unix(r["ended_at"]) for r in runs if r["ended_at"]]
    started = [iso_to_unix(r["started_at"]) for r in runs if r["started_at"]]
    if not ended or not started:
        ended = started = [float("nan")]
    span = max(ended) - due
    return {
        "rate": a.jobs / span if span > 0 else float("nan"),
        "span": span,
        "first_start": min(started) - due,
        "last_start": max(started) - due,
        "runs": len(runs),
        "ok": not (missing or doubled or bad),
        "problems": problems,
        "ready": (started_at - t_exec) if started_at else float("nan"),
        "cpu_ms_per_run": 1000.0 * (cpu_end - cpu_start) / a.jobs,
        "log": log_path,
    }


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--parallel", default="16,64")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of (baseline, sked) per max_parallel; medians are compared")
    ap.add_argument("--out", default=os.path.join(HERE, "out", "launch_throughput"))
    ap.add_argument("--aps-child", nargs=3, metavar=("N", "P", "DUE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.aps_child:
        aps_child(int(a.aps_child[0]), int(a.aps_child[1]), float(a.aps_child[2]))
        return 0
    b = os.path.abspath(a.build)
    a.sked, a.forkexec = os.path.join(b, "sked"), os.path.join(b, "forkexec_limit")
    a.out = os.path.abspath(a.out)
    lock = one_at_a_time(a.out)  # noqa: F841 (held until exit)
    # The previous run's folders go now, not between rounds: ext4 skips inodes
    # freed in the last minutes when it allocates, so deleting thousands of
    # files between rounds would make each round's mkdir/open dearer.
    shutil.rmtree(a.out, ignore_errors=True)
    for p in (a.sked, a.forkexec):
        if not os.access(p, os.X_OK):
            sys.exit("launch_throughput: %s is missing (make bench builds it)" % p)
    pars = [int(x) for x in a.parallel.split(",")]

    print("launch throughput: %d jobs due at one `at:` instant, each %s; sked vs fork/exec "
          "loop, %d round(s) each, alternating; load average before: %s"
          % (a.jobs, TRUE, a.repeat, open("/proc/loadavg").read().split()[0]))
    print("sked: %s" % sked_revision(a.sked))
    rows, broken = [], False
    for par in pars:
        rounds = []
        for k in range(a.repeat):
            print("  max_parallel %d, round %d: baseline, APScheduler, sked ..." % (par, k + 1),
                  flush=True)
            base_rate, base_s = baseline(a, par)
            aps_rate, aps_s, aps_ok = run_aps(a, par)
            disk = fsync_floor(a.out)
            s = run_sked(a, par, k + 1)
            s["disk"] = disk
            s["aps"] = (aps_rate, aps_s, aps_ok)
            if not aps_ok:
                s["problems"].append("APScheduler did not run every job exactly once")
            rounds.append((base_rate, base_s, s))
            broken |= not s["ok"]
        rows.append((par, rounds))

    print()
    print("%-13s %5s %12s %13s %8s %14s %9s   %s"
          % ("max_parallel", "round", "sked runs/s", "fork/exec /s", "ratio", "APScheduler /s",
             "sked/APS", "sked detail"))
    verdicts = []
    for par, rounds in rows:
        for k, (base_rate, base_s, s) in enumerate(rounds):
            aps = s["aps"][0]
            print("%-13d %5d %12.1f %13.1f %7.1f%% %14.1f %8.2fx   due->last end %.3f s "
                  "(baseline %.3f s, APScheduler %.3f s); first start +%.1f ms; daemon CPU "
                  "%.2f ms/run; fdatasync %.2f ms"
                  % (par, k + 1, s["rate"], base_rate, 100 * s["rate"] / base_rate, aps,
                     s["rate"] / aps, s["span"], base_s, s["aps"][1], 1000 * s["first_start"],
                     s["cpu_ms_per_run"], s["disk"][0]))
        ms, mb = median([r[2]["rate"] for r in rounds]), median([r[0] for r in rounds])
        ma = median([r[2]["aps"][0] for r in rounds])
        verdicts.append((par, ms, mb, ma))
        print("%-13d %5s %12.1f %13.1f %7.1f%% %14.1f %8.2fx"
              % (par, "median", ms, mb, 100 * ms / mb, ma, ms / ma))
    print()
    for par, ms, mb, ma in verdicts:
        ratio = ms / mb
        print("target max_parallel %d: sked >= %d%% of the fork/exec loop: %.1f / %.1f runs/s "
              "= %.1f%% -> %s" % (par, 100 * TARGET, ms, mb, 100 * ratio,
                                  "met" if ratio >= TARGET else "NOT MET"))
        print("target max_parallel %d: sked >= %.1fx APScheduler 3: %.1f / %.1f runs/s = %.2fx "
              "-> %s" % (par, PEER_TARGET, ms, ma, ms / ma,
                         "met" if ms / ma >= PEER_TARGET else "NOT MET"))
    print()
    for par, rounds in rows:
        problems = [(k, p) for k, (_, _, s) in enumerate(rounds) for p in s["problems"]]
        for k, p in problems:
            print("max_parallel %d, round %d: PROBLEM: %s" % (par, k + 1, p))
        if not problems:
            print("max_parallel %d: in every round, each of the %d jobs ran exactly once, "
                  "succeeded, trigger=schedule at the due instant (no fire dropped)"
                  % (par, a.jobs))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
