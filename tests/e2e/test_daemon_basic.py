"""The daemon end to end: schedules, the runner, logs and the CLI around them."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness import Daemon, done, wait_for

PY = "/usr/bin/python3"


def test_every_job_runs_and_is_recorded(daemon, tmp_path):
    d = daemon("""
        jobs:
          tick:
            every: 1s
            run: [sh, -c, "echo hello from $SKED_JOB run $SKED_RUN_ID"]
    """)
    # On a loaded machine the daemon may wake after two instants are due:
    # the later one then runs as a catch-up. Wait for an on-time one.
    runs = d.wait_runs("tick", lambda h: len([r for r in h if r["status"] == "succeeded"]) >= 2
                       and any(r["trigger"] == "schedule" and r["status"] == "succeeded"
                               for r in h))
    ok = [r for r in runs if r["status"] == "succeeded"]
    assert {r["trigger"] for r in ok} <= {"schedule", "catchup"}, ok
    r = [r for r in ok if r["trigger"] == "schedule"][-1]
    assert r["job"] == "tick" and r["step"] is None and r["attempt"] == 1
    assert r["exit_code"] == 0 and r["signal"] is None
    for key in ("scheduled_at", "started_at", "ended_at"):
        assert r[key] and r[key][19] == "." and r[key][23] in "+-", r  # ISO-8601, ms, offset
    out = d.cli("logs", "tick", "--run", str(r["id"])).stdout
    assert f"hello from tick run {r['id']}" in out
    assert " out | " in out or " out " in out


def test_python_job_uses_the_venv_beside_the_script(daemon, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    subprocess.run([PY, "-m", "venv", "--without-pip", str(proj / ".venv")], check=True)
    (proj / "show.py").write_text("import sys, os\nprint('prefix=' + sys.prefix)\n"
                                  "print('unbuffered=' + os.environ.get('PYTHONUNBUFFERED', ''))\n")
    d = daemon("""
        jobs:
          show:
            python: proj/show.py
    """)
    d.cli("trigger", "show")
    runs = d.wait_runs("show", lambda h: h and done(h[0]))
    assert runs[0]["status"] == "succeeded", d.log()
    out = d.cli("logs", "show").stdout
    assert f"prefix={proj / '.venv'}" in out
    assert "unbuffered=1" in out


def test_explicit_venv(daemon, tmp_path):
    subprocess.run([PY, "-m", "venv", "--without-pip", str(tmp_path / "env1")], check=True)
    (tmp_path / "p.py").write_text("import sys\nprint(sys.prefix)\n")
    d = daemon("""
        jobs:
          p:
            python: p.py
            venv: env1
    """)
    d.cli("trigger", "p")
    d.wait_runs("p", lambda h: h and done(h[0]))
    assert str(tmp_path / "env1") in d.cli("logs", "p").stdout


def test_timeout_kills_grandchildren(daemon, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    d = daemon(f"""
        jobs:
          slow:
            shell: "sleep 1000 & echo $! > {pidfile}; wait"
            timeout: 1s
            kill_grace: 1s
    """)
    d.cli("trigger", "slow")
    runs = d.wait_runs("slow", lambda h: h and done(h[0]))
    assert runs[0]["status"] == "timed_out"
    gpid = int(pidfile.read_text())
    wait_for(lambda: not os.path.exists(f"/proc/{gpid}") or
             open(f"/proc/{gpid}/stat").read().split()[2] == "Z",
             what="the grandchild to die")


def test_child_ignoring_sigterm_is_killed_after_grace(daemon):
    d = daemon("""
        jobs:
          stubborn:
            shell: "trap '' TERM; sleep 100"
            timeout: 500ms
            kill_grace: 1s
    """)
    d.cli("trigger", "stubborn")
    runs = d.wait_runs("stubborn", lambda h: h and done(h[0]))
    assert runs[0]["status"] == "timed_out"


def test_failure_and_missing_program_are_recorded(daemon):
    d = daemon("""
        jobs:
          fails:
            run: [sh, -c, "exit 3"]
          missing:
            run: [/nonexistent/program, --flag]
    """)
    d.cli("trigger", "fails")
    d.cli("trigger", "missing")
    f = d.wait_runs("fails", lambda h: h and done(h[0]))[0]
    assert f["status"] == "failed" and f["exit_code"] == 3
    m = d.wait_runs("missing", lambda h: h and done(h[0]))[0]
    assert m["status"] == "failed"
    assert "/nonexistent/program" in (m.get("reason") or "")


def test_big_output_is_capped_and_memory_stays_flat(daemon, tmp_path):
    d = daemon(f"""
        jobs:
          loud:
            run: [{PY}, -c, "import sys\\nline = 'x' * 99 + '\\\\n'\\nfor _ in range(500000): sys.stdout.write(line)"]
            max_output: 1MB
    """)
    def rss_kb():
        with open(f"/proc/{d.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    before = rss_kb()
    d.cli("trigger", "loud")
    runs = d.wait_runs("loud", lambda h: h and done(h[0]), timeout=60)
    assert runs[0]["status"] == "succeeded", d.log()
    after = rss_kb()
    assert after - before < 20 * 1024, (before, after)
    log = d.cli("logs", "loud").stdout
    assert len(log) < 3 * 1024 * 1024
    assert "truncated" in log


def test_sigterm_interrupts_running_jobs_and_stops(daemon):
    d = daemon("""
        jobs:
          long:
            shell: "sleep 100"
            kill_grace: 1s
    """)
    d.cli("trigger", "long")
    d.wait_runs("long", lambda h: h and h[0]["status"] == "running")
    assert d.stop() == 0
    h = d.history("long")
    assert h[0]["status"] == "interrupted"


def test_list_status_next_json(daemon):
    d = daemon("""
        timezone: America/New_York
        jobs:
          nightly:
            schedule: "30 2 * * *"
            run: [true]
          often:
            every: 1h
            run: [true]
          once:
            at: "2099-01-01T00:00:00Z"
            run: [true]
          manual:
            run: [true]
    """)
    lst = json.loads(d.cli("list", "--json").stdout)
    by = {j["name"]: j for j in lst}
    assert set(by) == {"nightly", "often", "once", "manual"}
    for j in lst:
        assert set(j) == {"name", "trigger", "next", "last_status", "paused"}
    assert by["nightly"]["trigger"] == "30 2 * * *"
    assert by["nightly"]["next"].endswith(("-05:00", "-04:00"))
    assert by["nightly"]["next"][11:16] in ("02:30", "03:00")
    assert by["manual"]["next"] is None
    st = json.loads(d.cli("status", "--json").stdout)
    assert st["running"] is True and st["pid"] == d.proc.pid and st["jobs"] == 4
    assert st["active_runs"] == 0 and st["next_due"]
    nxt = d.cli("next", "nightly", "-n", "3").stdout.split()
    assert len(nxt) == 3
    d.stop()
    st = json.loads(d.cli("status", "--json").stdout)
    assert st["running"] is False and st["pid"] is None


def test_trigger_without_daemon_says_so(tmp_path):
    d = Daemon(tmp_path, """
        jobs:
          x:
            run: [true]
    """, start=False)
    r = d.cli("trigger", "x", check=False)
    assert r.returncode == 1
    assert "sked exec x" in r.stderr
    r = d.cli("trigger", "nope", check=False)
    assert r.returncode == 1 and "no job named" in r.stderr


def test_exec_runs_in_foreground_and_records(tmp_path):
    d = Daemon(tmp_path, """
        jobs:
          hello:
            run: [sh, -c, "echo hi there; exit 4"]
    """, start=False)
    r = d.cli("exec", "hello", check=False)
    assert r.returncode == 4
    assert "hi there" in r.stdout
    h = d.history("hello")
    assert h[0]["status"] == "failed" and h[0]["trigger"] == "manual" and h[0]["exit_code"] == 4


def test_logs_follow_streams_a_running_run(daemon):
    d = daemon("""
        jobs:
          slowprint:
            shell: "for i in 1 2 3; do echo line$i; sleep 0.5; done"
    """)
    d.cli("trigger", "slowprint")
    d.wait_runs("slowprint", lambda h: h and h[0]["status"] in ("running", "succeeded"))
    r = d.cli("logs", "slowprint", "-f", timeout=30)
    assert "line1" in r.stdout and "line3" in r.stdout


def test_second_daemon_on_same_state_dir_refuses(daemon, tmp_path):
    d = daemon("""
        jobs:
          x:
            run: [true]
    """)
    r = subprocess.run([d.proc.args[0], "run", "-c", d.config], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert "already running" in r.stderr and str(d.proc.pid) in r.stderr


def test_a_run_that_prints_nothing_has_no_log_and_logs_says_so(daemon):
    """A run's log is made at its first line: a quiet run leaves no file, and
    `sked logs` (through the daemon, and reading the store without one)
    prints nothing, says so on stderr, and succeeds (through the daemon it
    reads the API's empty log)."""
    d = daemon("""
        jobs:
          quiet:
            run: [true]
    """)
    d.cli("trigger", "quiet")
    run = d.wait_runs("quiet", lambda h: h and done(h[0]))[0]
    assert run["status"] == "succeeded"
    assert not os.path.exists(os.path.join(d.state, "logs", "quiet", f"{run['id']}.log"))
    r = d.cli("logs", "quiet")
    assert r.stdout == "" and f"run {run['id']} printed nothing (succeeded)" in r.stderr, r
    d.stop()
    r = d.cli("logs", "quiet")
    assert r.returncode == 0 and r.stdout == "", r
    assert "printed nothing" in r.stderr, r
