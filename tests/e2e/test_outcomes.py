"""Outcomes are never dropped: a daemon that cannot write a run's end keeps it,
says so, and does not exit until it is written (unless killed); a run whose
end was never recorded is handled at the restart by its job's on_interrupt
policy (docs/guide.md "What sked promises")."""
import os
import signal
import subprocess

import pytest

from conftest import sqlite_only
from harness import Daemon, wait_for


def fill(path):
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
@sqlite_only
def test_disk_full_then_sigterm_keeps_the_outcome(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    ledger = tmp_path / "ledger"
    go = tmp_path / "go"
    try:
        yaml = f"""
            state_dir: {mnt}/state
            jobs:
              pay:
                run: [sh, -c, "while [ ! -e {go} ]; do sleep 0.1; done; echo charged >> {ledger}"]
                retries: 2
                retry_delay: 1s
        """
        d = Daemon(tmp_path, yaml)
        d.state = str(mnt / "state")
        d.cli("trigger", "pay")
        wait_for(lambda: any(r["status"] == "running" for r in d.history("pay")),
                 what="the run to start")
        fill(mnt / "filler")
        go.touch()  # the job charges the ledger and ends: its end cannot be written
        wait_for(lambda: ledger.exists(), what="the job to charge the ledger")
        wait_for(lambda: "event=store_error" in d.log(), timeout=30,
                 what="the daemon to meet the full disk")
        d.signal(signal.SIGTERM)
        # It stays, and says every few seconds why.
        wait_for(lambda: d.log().count("event=outcomes_unwritten") >= 2, timeout=30,
                 what="the daemon to say it holds an unwritten outcome")
        assert d.proc.poll() is None, "the daemon exited with an outcome unwritten:\n" + d.log()
        os.unlink(mnt / "filler")
        assert d.proc.wait(timeout=60) == 0, d.log()
        runs = d.history("pay")
        assert [(r["status"], r["attempt"]) for r in runs] == [("succeeded", 1)], runs
        # A restart finds nothing to repeat.
        d.start()
        d.cli("status")
        d.stop()
        runs = d.history("pay")
        assert [(r["status"], r["attempt"]) for r in runs] == [("succeeded", 1)], runs
        assert ledger.read_text() == "charged\n"
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def crash_while_running(tmp_path, policy, hook):
    """A job whose run is going when the daemon is killed (-9); returns the
    daemon after a restart, once the interrupted run has been dealt with."""
    ledger = tmp_path / "ledger"
    d = Daemon(tmp_path, f"""
        jobs:
          pay:
            run: [sh, -c, "echo charged >> {ledger}; sleep 30"]
            retries: 2
            retry_delay: 1s
            {policy}
            alert: {{on: [failure], webhook: "{hook.url}"}}
    """)
    d.cli("trigger", "pay")
    wait_for(lambda: ledger.exists(), what="the job to charge the ledger")
    d.kill9()
    d.start()
    wait_for(lambda: "event=interrupted" in d.log(), what="the restart to find the run")
    return d, ledger


def test_interrupted_run_is_retried_by_default_and_alerted(tmp_path):
    from receivers import HttpReceiver
    hook = HttpReceiver()
    try:
        d, ledger = crash_while_running(tmp_path, "", hook)
        try:
            wait_for(lambda: ledger.read_text().count("charged") == 2,
                     what="the default on_interrupt: retry to run it again")
            alert = wait_for(lambda: [a for a in hook.json_bodies()
                                      if a["status"] == "interrupted"], what="an alert")[0]
            assert "run again as run" in alert["reason"], alert
            assert "on_interrupt: retry" in alert["reason"]
            runs = d.history("pay")
            assert [(r["status"], r["attempt"]) for r in runs][-1] == ("interrupted", 1), runs
        finally:
            d.stop()
    finally:
        hook.close()


def test_on_interrupt_fail_never_runs_it_again(tmp_path):
    from receivers import HttpReceiver
    hook = HttpReceiver()
    try:
        d, ledger = crash_while_running(tmp_path, "on_interrupt: fail", hook)
        try:
            alert = wait_for(lambda: [a for a in hook.json_bodies()
                                      if a["status"] == "interrupted"], what="an alert")[0]
            assert "not run again (on_interrupt: fail)" in alert["reason"], alert
            d.cli("status")
            runs = d.history("pay")
            assert [(r["status"], r["attempt"]) for r in runs] == [("interrupted", 1)], runs
            assert ledger.read_text() == "charged\n"
        finally:
            d.stop()
        assert ledger.read_text() == "charged\n"
    finally:
        hook.close()


def test_on_interrupt_fail_in_a_workflow_fails_the_step(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    d = Daemon(tmp_path, f"""
        jobs:
          wf:
            on_interrupt: fail
            steps:
              pay: {{run: [sh, -c, "touch {marks}/pay-$SKED_RUN_ID; sleep 30"]}}
              after: {{run: [touch, "{marks}/after"], needs: pay}}
              cleanup: {{run: [touch, "{marks}/cleanup"], needs: pay, when: failure}}
    """)
    try:
        d.cli("trigger", "wf")
        wait_for(lambda: os.listdir(marks), what="the step to start")
        d.kill9()
        d.start()
        wait_for(lambda: (marks / "cleanup").exists(), what="the failure branch to run")
        top = wait_for(lambda: [r for r in d.history("wf") if r["step"] is None and
                                r["status"] not in ("queued", "running")], what="the end")[0]
        assert top["status"] == "failed", top
        assert not (marks / "after").exists()
        assert len([m for m in os.listdir(marks) if m.startswith("pay-")]) == 1
    finally:
        d.stop()


@sqlite_only
@pytest.mark.parametrize("kind", ["job", "step"])
def test_a_start_never_recorded_is_not_run_again(tmp_path, kind):
    """sked starts a process, then records its start: killed in between, the
    store still says queued. The log file, created before the process, tells
    the restart that it may have run: interrupted, its leftovers killed, not
    run again under on_interrupt: fail (a step's row as a job's)."""
    import sqlite3
    marks = tmp_path / "marks"
    marks.mkdir()
    body = f'run: [sh, -c, "touch {marks}/pay-$SKED_RUN_ID; exec sleep 300"]'
    jobs = (f"pay:\n                on_interrupt: fail\n                {body}" if kind == "job" else
            f"pay:\n                on_interrupt: fail\n                steps:\n"
            f"                  charge: {{{body}}}")
    d = Daemon(tmp_path, f"""
        jobs:
          {jobs}
    """)
    try:
        d.cli("trigger", "pay")
        wait_for(lambda: os.listdir(marks), what="the process to start")
        run_id = int(os.listdir(marks)[0].split("-")[1])
        wait_for(lambda: [r for r in d.history("pay")
                          if r["id"] == run_id and r["status"] == "running"],
                 what="its start to be recorded")
        d.kill9()
        # What the store holds when sked dies between the spawn and the commit.
        db = sqlite3.connect(os.path.join(d.state, "sked.db"))
        leftover = db.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        db.execute("UPDATE runs SET status = 'queued', started_at = NULL, pid = NULL, "
                   "log_path = NULL WHERE id = ?", (run_id,))
        db.commit()
        db.close()
        assert leftover and os.path.exists(f"/proc/{leftover}")
        # Another sked's run with the same id (another store) is left alone.
        env = dict(os.environ, SKED_RUN_ID=str(run_id), SKED_STATE_DIR=str(tmp_path / "other"))
        bystander = subprocess.Popen(["sleep", "300"], env=env, start_new_session=True)
        d.start()
        wait_for(lambda: "event=interrupted" in d.log(), what="the restart to find the run")
        row = [r for r in d.history("pay") if r["id"] == run_id][0]
        assert row["status"] == "interrupted", row
        assert "before recording the start" in row["reason"], row
        assert "processes were killed" in row["reason"], row
        wait_for(lambda: not os.path.exists(f"/proc/{leftover}") or
                 open(f"/proc/{leftover}/stat").read().split()[2] == "Z",
                 what="the leftover process to be killed")
        if kind == "step":
            top = wait_for(lambda: [r for r in d.history("pay") if r["step"] is None and
                                    r["status"] not in ("queued", "running")], what="the end")[0]
            assert top["status"] == "failed", top
        d.cli("status")
        assert len(os.listdir(marks)) == 1, os.listdir(marks)
        assert bystander.poll() is None, "another sked's run was killed"
    finally:
        d.stop()
        if "bystander" in locals():
            bystander.kill()
            bystander.wait()
