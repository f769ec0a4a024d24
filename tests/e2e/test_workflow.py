"""Workflows: steps, conditions, outputs, parameters, retry, resume, chaining."""
import json
import os
import time
from datetime import datetime

import pytest

from harness import Daemon, done, wait_for


def ts(s):
    return datetime.fromisoformat(s).timestamp() if s else None


def wf_runs(d, job):
    """The workflow runs of job (newest first), each with its steps by name."""
    rows = d.history(job)
    top = [r for r in rows if r["workflow_run"] is None]
    for t in top:
        t["steps"] = {}
        for r in rows:
            if r["workflow_run"] == t["id"]:
                t["steps"].setdefault(r["step"], []).append(r)
    return top


def wait_wf(d, job, n=1, timeout=60):
    def ready():
        runs = wf_runs(d, job)
        return runs if len(runs) >= n and all(done(r) for r in runs[:n]) else None
    return wait_for(ready, timeout=timeout, interval=0.1, what=f"{n} finished runs of {job}")


DIAMOND = """
    jobs:
      etl:
        max_parallel: 4
        steps:
          a:
            shell: "echo rows=42 >> $SKED_OUTPUT; echo name=first >> $SKED_OUTPUT"
          b:
            shell: "sleep 1; {b_extra}"
            needs: [a]
          c:
            shell: "sleep 1"
            needs: [a]
          d:
            shell: "echo got $SKED_OUT_A_ROWS $SKED_OUT_A_NAME"
            needs: [b, c]
          on_fail:
            shell: "echo cleaning up after failure"
            needs: [d]
            when: failure
          always:
            run: [true]
            needs: [d]
            when: always
"""


def test_diamond_runs_b_and_c_in_parallel_and_passes_outputs(daemon):
    d = daemon(DIAMOND.format(b_extra="true"))
    d.cli("trigger", "etl")
    wf = wait_wf(d, "etl")[0]
    assert wf["status"] == "succeeded", d.log()
    s = {k: v[-1] for k, v in wf["steps"].items()}
    assert {k: v["status"] for k, v in s.items()} == {
        "a": "succeeded", "b": "succeeded", "c": "succeeded", "d": "succeeded",
        "on_fail": "skipped", "always": "succeeded"}
    assert s["on_fail"]["reason"] == "no upstream step failed"
    b0, b1 = ts(s["b"]["started_at"]), ts(s["b"]["ended_at"])
    c0, c1 = ts(s["c"]["started_at"]), ts(s["c"]["ended_at"])
    assert b0 < c1 and c0 < b1, "b and c did not overlap"
    assert ts(s["d"]["started_at"]) >= max(b1, c1) - 0.01
    out = d.cli("logs", "etl", "--run", str(s["d"]["id"])).stdout
    assert "got 42 first" in out


def test_failure_skips_downstream_and_runs_failure_step(daemon):
    d = daemon(DIAMOND.format(b_extra="exit 7"))
    d.cli("trigger", "etl")
    wf = wait_wf(d, "etl")[0]
    assert wf["status"] == "failed"
    assert "step b failed" in wf["reason"]
    s = {k: v[-1] for k, v in wf["steps"].items()}
    assert s["b"]["status"] == "failed" and s["b"]["exit_code"] == 7
    assert s["d"]["status"] == "skipped" and s["d"]["reason"] == "upstream b failed"
    assert s["on_fail"]["status"] == "succeeded"
    assert s["always"]["status"] == "succeeded"


def test_params_from_the_command_line(daemon):
    d = daemon("""
        jobs:
          report:
            params: {region: eu, day: today}
            steps:
              show:
                run: [sh, -c, "echo arg=$1 env=$SKED_PARAM_REGION day=$SKED_PARAM_DAY", x, "${{ params.region }}"]
    """)
    d.cli("trigger", "report")
    wait_wf(d, "report", 1)
    d.cli("trigger", "report", "-p", "region=us", "--param", "day=monday")
    runs = wait_wf(d, "report", 2)
    logs = [d.cli("logs", "report", "--run", str(r["steps"]["show"][-1]["id"])).stdout
            for r in runs[:2]]
    assert "arg=us env=us day=monday" in logs[0]
    assert "arg=eu env=eu day=today" in logs[1]
    r = d.cli("trigger", "report", "-p", "nosuch=1", check=False)
    assert r.returncode == 1 and "no parameter" in r.stderr


def test_retry_reruns_from_failed_steps(daemon, tmp_path):
    flag = tmp_path / "fixed"
    d = daemon(f"""
        jobs:
          wf:
            steps:
              first:
                shell: "echo token=abc >> $SKED_OUTPUT; echo first ran"
              second:
                shell: "test -e {flag} && echo second sees $SKED_OUT_FIRST_TOKEN"
                needs: [first]
              third:
                run: [true]
                needs: [second]
    """)
    d.cli("trigger", "wf")
    wf = wait_wf(d, "wf")[0]
    assert wf["status"] == "failed"
    flag.write_text("")
    out = d.cli("retry", str(wf["id"])).stdout
    assert "retrying run" in out
    runs = wait_wf(d, "wf", 2)
    new = runs[0]
    assert new["status"] == "succeeded" and new["trigger"] == "retry" and new["attempt"] == 2
    first = new["steps"]["first"][-1]
    assert first["status"] == "succeeded" and first["reason"] == f"kept from run {wf['id']}"
    assert first["started_at"] is None, "a kept step must not run again"
    second = new["steps"]["second"][-1]
    assert "second sees abc" in d.cli("logs", "wf", "--run", str(second["id"])).stdout
    r = d.cli("retry", "999999", check=False)
    assert r.returncode == 1 and "no run" in r.stderr


def test_kill9_mid_workflow_resumes_without_rerunning_finished_steps(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    d = Daemon(tmp_path, f"""
        jobs:
          wf:
            steps:
              quick:
                shell: "echo x >> {marks}/quick"
              slow:
                # The first attempt waits to be killed with the daemon; the
                # second fails at once, so no timing decides the outcome.
                shell: 'echo x >> {marks}/slow; [ "$SKED_ATTEMPT" = 1 ] && exec sleep 300; exit 3'
                needs: [quick]
                retries: 1
              last:
                run: [true]
                needs: [slow]
                when: always
    """)
    try:
        d.cli("trigger", "wf")
        wait_for(lambda: (marks / "slow").exists(), what="the slow step to start")
        d.kill9()
        d.start()
        wf = wait_wf(d, "wf", timeout=60)[0]
        assert len((marks / "quick").read_text().split()) == 1, "a finished step ran again"
        slow = wf["steps"]["slow"]
        assert [r["status"] for r in slow] == ["interrupted", "failed"]
        assert len((marks / "slow").read_text().split()) == 2
        assert [r["attempt"] for r in slow] == [1, 2]
        assert wf["steps"]["last"][-1]["status"] == "succeeded"
        assert wf["status"] == "failed"
        assert "event=resumed" in d.log()
    finally:
        d.stop()


def test_after_chains_jobs(daemon):
    d = daemon("""
        jobs:
          upstream:
            run: [true]
          downstream:
            run: [true]
            after: [upstream]
          on_trouble:
            run: [true]
            after: {jobs: [upstream], when: failure}
    """)
    d.cli("trigger", "upstream")
    runs = d.wait_runs("downstream", lambda h: h and done(h[0]))
    assert runs[0]["trigger"] == "upstream" and runs[0]["status"] == "succeeded"
    time.sleep(1)
    assert d.history("on_trouble") == []


def test_after_follows_a_reload(daemon):
    """Who runs after whom is worked out again at each reload: an `after:`
    added or moved by a reload is followed at once, a removed one no more."""
    conf = """
        jobs:
          a:
            run: [true]
          b:
            run: [true]
          follower:
            run: [true]
            after: [%s]
    """
    d = daemon(conf % "a")
    d.cli("trigger", "a")
    d.wait_runs("follower", lambda h: len(h) == 1 and done(h[0]))
    d.write(conf % "b")
    assert "3 jobs" in d.cli("reload").stdout
    d.cli("trigger", "b")
    runs = d.wait_runs("follower", lambda h: len(h) == 2 and done(h[0]))
    assert runs[0]["trigger"] == "upstream"
    # a no longer leads to follower: its run ends, and then one of b's does
    # (runs end in order here: one at a time), so nothing came from a's.
    d.cli("trigger", "a")
    d.wait_runs("a", lambda h: len(h) == 2 and done(h[0]))
    d.cli("trigger", "b")
    d.wait_runs("follower", lambda h: len(h) == 3 and done(h[0]))
    d.wait_runs("b", lambda h: len(h) == 2 and done(h[0]))
    assert len(d.history("follower")) == 3


def test_show_draws_the_step_graph(tmp_path):
    d = Daemon(tmp_path, DIAMOND.format(b_extra="true"), start=False)
    out = d.cli("show", "etl").stdout
    assert "[a]" in out and "[b]   [c]" in out and "[d]" in out
    assert "d <- b, c" in out
    assert "when failure" in out


def test_history_lists_steps_under_their_workflow(daemon):
    d = daemon(DIAMOND.format(b_extra="true"))
    d.cli("trigger", "etl")
    wait_wf(d, "etl")
    text = d.cli("history", "etl").stdout.splitlines()
    assert "etl" in text[1] and "  - a" in text[2]


def test_params_in_shell_commands_cannot_inject(daemon, tmp_path):
    d = daemon("""
        jobs:
          greet:
            params: {name: world}
            steps:
              say:
                shell: "echo hello ${{ params.name }}"
    """)
    d.cli("trigger", "greet", "-p", "name=x'; echo INJECTED; echo '")
    wf = wait_wf(d, "greet")[0]
    out = d.cli("logs", "greet", "--run", str(wf["steps"]["say"][-1]["id"])).stdout
    assert "hello x'; echo INJECTED; echo '" in out
    assert "out | INJECTED" not in out


def test_exec_refuses_a_workflow(tmp_path):
    d = Daemon(tmp_path, """
        jobs:
          wf:
            steps:
              a: {run: [true]}
    """, start=False)
    r = d.cli("exec", "wf", check=False)
    assert r.returncode == 1 and "sked trigger wf" in r.stderr


def test_output_value_not_utf8_keeps_the_outcome(daemon):
    """A value a step writes to $SKED_OUTPUT may hold any bytes. The store
    keeps it with U+FFFD for each byte that is not UTF-8 (store.h), on
    every back end: on PostgreSQL it was refused, and the step's outcome,
    recorded in the same batch, was retried for ever and never written."""
    d = daemon(r"""
        jobs:
          raw:
            steps:
              a:
                shell: "printf 'blob=caf\\351\\n' >> $SKED_OUTPUT"
              b:
                shell: "echo next"
                needs: [a]
    """)
    d.cli("trigger", "raw")
    wf = wait_wf(d, "raw")[0]
    assert wf["status"] == "succeeded", d.log()
    assert {k: v[-1]["status"] for k, v in wf["steps"].items()} == {
        "a": "succeeded", "b": "succeeded"}
    assert "store_error" not in d.log()
