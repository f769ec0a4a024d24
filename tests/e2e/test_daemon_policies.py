"""Catch-up, overlap, retries, bursts and reload, through the real daemon."""
import json
import os
import shutil
import signal
import threading
import time
from datetime import datetime

import pytest

from harness import Daemon, done, http, wait_for


def ts(s):
    return datetime.fromisoformat(s).timestamp() if s else None


def instants(runs):
    """Scheduled instants of the fire records (attempt 1 of schedule/catchup)."""
    return [ts(r["scheduled_at"]) for r in runs
            if r["attempt"] == 1 and r["trigger"] in ("schedule", "catchup")]


def assert_each_instant_once(runs, step=1.0):
    xs = sorted(instants(runs))
    assert len(xs) == len(set(xs)), "an instant was recorded twice"
    for a, b in zip(xs, xs[1:]):
        assert abs((b - a) - step) < 1e-6, f"gap or overlap between {a} and {b}"


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_catchup_after_downtime(tmp_path, policy):
    d = Daemon(tmp_path, f"""
        jobs:
          sec:
            schedule: "* * * * * *"
            run: [true]
            catchup: {policy}
    """)
    try:
        d.wait_runs("sec", lambda h: len(h) >= 2)
        d.stop()
        stopped = d.history("sec")
        time.sleep(4)
        d.start()
        d.wait_runs("sec", lambda h: len(h) >= len(stopped) + 6)
        d.stop()
        runs = d.history("sec")
        assert_each_instant_once(runs)
        last_before = max(ts(r["scheduled_at"]) for r in stopped)
        gap = [r for r in runs if ts(r["scheduled_at"]) > last_before
               and r["trigger"] == "catchup" or r["status"] == "missed"]
        missed = [r for r in runs if r["status"] == "missed"]
        caught = [r for r in runs if r["trigger"] == "catchup"]
        assert gap, "the downtime left no trace"
        if policy == "none":
            assert not caught and len(missed) >= 3
        elif policy == "latest":
            # The downtime's instants are those up to the second start; on a
            # loaded machine a later fire may be late and caught up too.
            restart = [line for line in d.log().splitlines()
                       if "event=started_daemon" in line][1].split()[0]
            downtime = [r for r in caught if ts(r["scheduled_at"]) <= ts(restart)]
            assert len(downtime) == 1 and len(missed) >= 2, (restart, caught)
            assert downtime[0]["status"] == "succeeded"
        else:
            assert len(caught) >= 3 and not missed
            assert all(r["status"] == "succeeded" for r in caught)
    finally:
        d.stop()


def test_kill9_then_restart_accounts_for_every_fire_once(tmp_path):
    # A sleep of its own length: other tests on the machine (this one
    # included, in another checkout) run `sleep 0.7` too.
    nap = "0.7%06d" % (os.getpid() % 1000000)
    d = Daemon(tmp_path, f"""
        jobs:
          sec:
            schedule: "* * * * * *"
            shell: "sleep {nap}"
            overlap: allow
            catchup: all
    """)
    try:
        d.wait_runs("sec", lambda h: any(r["status"] == "running" for r in h) and len(h) >= 3)
        d.kill9()
        time.sleep(2.5)
        d.start()
        d.wait_runs("sec", lambda h: len(h) >= 12)
        d.stop()
        runs = d.history("sec")
        assert not [r for r in runs if r["status"] in ("running", "queued")]
        assert [r for r in runs if r["status"] == "interrupted"], "the kill left no interrupted run"
        assert_each_instant_once(runs)
        # No process of an interrupted run outlives the restart.
        out = os.popen("ps -eo args").read()
        assert f"sleep {nap}" not in out
    finally:
        d.stop()


def test_overlap_skip(daemon):
    d = daemon("""
        jobs:
          busy:
            every: 1s
            shell: "sleep 2.5"
            overlap: skip
    """)
    runs = d.wait_runs("busy", lambda h: len([r for r in h if r["status"] == "skipped"]) >= 2,
                       timeout=30)
    skipped = [r for r in runs if r["status"] == "skipped"]
    assert "still" in skipped[0]["reason"]
    started = sorted((ts(r["started_at"]), ts(r["ended_at"]) or 1e18) for r in runs
                     if r["started_at"])
    for (s1, e1), (s2, e2) in zip(started, started[1:]):
        assert s2 >= e1 - 0.01, "two runs overlapped"


def test_overlap_queue_runs_one_after_another(daemon):
    d = daemon("""
        jobs:
          q:
            every: 1s
            shell: "sleep 1.5"
            overlap: queue
    """)
    runs = d.wait_runs("q", lambda h: len([r for r in h if r["status"] == "succeeded"]) >= 3,
                       timeout=40)
    assert not [r for r in runs if r["status"] == "skipped"]
    started = sorted((ts(r["started_at"]), ts(r["ended_at"])) for r in runs
                     if r["started_at"] and r["ended_at"])
    for (s1, e1), (s2, e2) in zip(started, started[1:]):
        assert s2 >= e1 - 0.01, "two runs overlapped"


def test_overlap_allow_runs_concurrently(daemon):
    d = daemon("""
        jobs:
          a:
            every: 1s
            shell: "sleep 2.5"
            overlap: allow
    """)
    wait_for(lambda: json.loads(d.cli("status", "--json").stdout)["active_runs"] >= 2,
             what="two runs at once")


def test_overlap_replace_kills_the_older_run(daemon):
    d = daemon("""
        jobs:
          r:
            every: 1s
            shell: "sleep 30"
            overlap: replace
            kill_grace: 1s
    """)
    runs = d.wait_runs("r", lambda h: any(r["status"] == "killed" for r in h), timeout=30)
    killed = [r for r in runs if r["status"] == "killed"]
    assert "replaced" in killed[0]["reason"]


def test_retries_with_backoff(daemon, tmp_path):
    counter = tmp_path / "count"
    d = daemon(f"""
        jobs:
          flaky:
            shell: "n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]"
            retries: 3
            retry_delay: 200ms
    """)
    d.cli("trigger", "flaky")
    runs = d.wait_runs("flaky", lambda h: any(r["status"] == "succeeded" for r in h), timeout=30)
    runs = sorted(runs, key=lambda r: r["attempt"])
    assert [r["attempt"] for r in runs] == [1, 2, 3]
    assert [r["status"] for r in runs] == ["failed", "failed", "succeeded"]
    assert [r["trigger"] for r in runs] == ["manual", "retry", "retry"]
    # Exponential: the second wait is about twice the first.
    gap1 = ts(runs[1]["started_at"]) - ts(runs[0]["ended_at"])
    gap2 = ts(runs[2]["started_at"]) - ts(runs[1]["ended_at"])
    assert gap1 >= 0.15 and gap2 >= 0.35


def test_retries_give_up(daemon):
    d = daemon("""
        jobs:
          bad:
            run: [sh, -c, "exit 1"]
            retries: 2
            retry_delay: 100ms
    """)
    d.cli("trigger", "bad")
    runs = d.wait_runs("bad", lambda h: len(h) == 3 and all(done(r) for r in h))
    time.sleep(1)
    assert len(d.history("bad")) == 3


def start_burst(daemon, n, head, lead=4.0):
    """A daemon with n jobs j0.. all `at:` one instant a little after it is
    up. On a loaded machine start-up may take longer than the lead: then
    the instant has passed (the daemon says event=in_past and never fires
    it), so the daemon is stopped, its state removed, and started again
    with twice the lead. Returns the daemon."""
    d = None
    for _ in range(6):
        at = datetime.fromtimestamp(time.time() + lead).astimezone().isoformat(
            timespec="seconds")
        text = f"{head}\ndefaults: {{at: \"{at}\", run: [true]}}\njobs:\n" + "".join(
            f"  j{i}:\n" for i in range(n))
        if d is None:
            d = daemon(text)
        else:
            d.write(text)
            d.start()
        if "event=in_past" not in d.log():
            return d
        d.stop()
        shutil.rmtree(d.state)
        os.replace(d.log_path, d.log_path + ".in_past")
        lead *= 2
    raise AssertionError("the daemon never started before its jobs' instant")


def test_burst_of_1000_jobs_respects_max_parallel(daemon):
    d = start_burst(daemon, 1000, "max_parallel: 8")
    wait_for(lambda: len([r for r in d.history() if r["status"] == "succeeded"]) == 1000,
             timeout=120, interval=0.5, what="1000 runs")
    runs = d.history()
    assert len(runs) == 1000
    assert len({r["job"] for r in runs}) == 1000
    events = []
    for r in runs:
        events.append((ts(r["started_at"]), 1))
        events.append((ts(r["ended_at"]), -1))
    cur = peak = 0
    for _, e in sorted(events, key=lambda x: (x[0], x[1])):
        cur += e
        peak = max(peak, cur)
    assert peak <= 8, peak
    # Still responsive after the burst.
    assert json.loads(d.cli("status", "--json").stdout)["running"] is True


def test_status_answers_during_a_burst_and_agrees_with_it(daemon):
    """1,000 jobs due at one instant, as many slots: the loop has 1,000
    processes to start. The status is answered while it starts them (it
    shows runs still waiting: a read does not wait for the burst to be
    over), every answer is consistent, and every fire is recorded once and
    started in order."""
    n = 1000
    d = start_burst(daemon, n, f"max_parallel: {n}")
    sock = os.path.join(d.state, "sked.sock")
    answers, errors = [], []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            r = http("GET", "/api/v1/status", sock=sock, timeout=60)
            if r.status != 200:
                errors.append(r.status)
            else:
                answers.append(r.json())
            time.sleep(0.01)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        runs = wait_for(lambda: (lambda h: h if len(h) == n and all(done(r) for r in h)
                                 else None)(d.history()),
                        timeout=300, interval=0.5, what=f"{n} runs")
    finally:
        stop.set()
        t.join(60)
    assert not errors, errors
    # Seen mid-burst: some runs started, others still waiting to.
    mid = [a for a in answers if a["waiting_runs"] > 0 and a["active_runs"] > 0]
    assert mid, "no status answer came while the burst was starting its runs"
    waiting = [a["waiting_runs"] for a in answers]
    first = next(i for i, w in enumerate(waiting) if w > 0)
    for a in answers:
        assert a["jobs"] == n
        assert 0 <= a["active_runs"] <= n and 0 <= a["waiting_runs"] <= n, a
        assert a["active_runs"] + a["waiting_runs"] <= n, a
    # Nothing fires after the instant: the queue only drains.
    assert all(b <= a for a, b in zip(waiting[first:], waiting[first + 1:])), waiting
    assert len({r["job"] for r in runs}) == n
    assert all(r["status"] == "succeeded" and r["attempt"] == 1 for r in runs)
    # FIFO: the runs started in the order their fires were recorded.
    by_id = sorted(runs, key=lambda r: r["id"])
    starts = [ts(r["started_at"]) for r in by_id]
    assert starts == sorted(starts), "runs started out of their recorded order"


def test_reload_keeps_state_of_unchanged_jobs(daemon):
    d = daemon("""
        jobs:
          steady:
            every: 1s
            run: [true]
    """)
    d.wait_runs("steady", lambda h: len(h) >= 2)
    d.write("""
        jobs:
          steady:
            every: 1s
            run: [true]
          added:
            every: 1s
            run: [true]
    """)
    d.wait_runs("added", lambda h: len(h) >= 2)
    d.stop()
    runs = d.history("steady")
    # Each instant once, one second apart: the reload kept the job's anchor
    # and its last fire. On a loaded machine a fire may still be late (a
    # catch-up, or missed as "too late to start"); one the reload lost would
    # be missed because "sked was not running".
    assert_each_instant_once(runs)
    assert not [r for r in runs if r["status"] == "missed" and
                r["reason"] != "too late to start"], runs
    assert "event=reloaded" in d.log()


def test_broken_reload_keeps_the_old_configuration(daemon):
    d = daemon("""
        jobs:
          steady:
            every: 1s
            run: [true]
    """)
    d.wait_runs("steady", lambda h: len(h) >= 1)
    d.write("jobs:\n  steady:\n    every: 1s\n    run: [true]\n    bogus_key: 1\n")
    wait_for(lambda: "event=reload_failed" in d.log(), what="the reload to fail")
    assert "bogus_key" in d.log()
    # The old configuration keeps firing (the CLI itself refuses the broken
    # file, so count the daemon's own lines).
    n = d.log().count("event=finished job=steady")
    wait_for(lambda: d.log().count("event=finished job=steady") >= n + 2,
             what="more runs under the old configuration")


def test_sighup_reloads(daemon):
    d = daemon("""
        jobs:
          a:
            run: [true]
    """)
    d.write("""
        jobs:
          a:
            run: [true]
          b:
            run: [true]
    """)
    d.signal(signal.SIGHUP)
    wait_for(lambda: "event=reloaded" in d.log(), what="a reload")
    d.cli("trigger", "b")


def test_jitter_delays_starts_within_the_window(daemon):
    d = daemon("""
        jobs:
          spread:
            every: 2s
            jitter: 1500ms
            run: [true]
    """)
    # A run's queued_at is when it may start: scheduled_at + its jitter, or
    # later if the fire itself was decided late (a loaded machine). Wait for
    # runs whose wait lies inside the window; none may start before it.
    def waits(h):
        return [ts(r["queued_at"]) - ts(r["scheduled_at"]) for r in h if r["started_at"]]

    runs = d.wait_runs("spread", lambda h: len(waits(h)) >= 4 and
                       len({round(x, 2) for x in waits(h) if 0.05 < x < 1.5}) >= 2,
                       timeout=60)
    started = [r for r in runs if r["started_at"]]
    for r in started:
        assert ts(r["queued_at"]) >= ts(r["scheduled_at"]), r
        assert ts(r["started_at"]) >= ts(r["queued_at"]) - 0.01, f"started before its jitter: {r}"
