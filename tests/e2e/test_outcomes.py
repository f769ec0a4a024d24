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
def test_a_run_whose_pid_was_not_recorded_is_found_and_not_run_again(tmp_path, kind):
    """sked records a start (running, no pid), starts the process, then
    records its pid without waiting for the disk: killed in between, the
    store says running with no pid. The restart finds the run's leftovers by
    their environment (its run id and state folder, never another sked's),
    kills them, and ends it interrupted, not run again under on_interrupt:
    fail (a step's row as a job's)."""
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
        # What the store holds when sked dies between the spawn and its pid.
        db = sqlite3.connect(os.path.join(d.state, "sked.db"))
        leftover = db.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        db.execute("UPDATE runs SET pid = NULL WHERE id = ?", (run_id,))
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


@sqlite_only
@pytest.mark.parametrize("kind", ["job", "step"])
def test_a_run_is_recorded_running_before_its_process_exists(tmp_path, kind):
    """The process itself reads its row: the store already says running, so
    a crash at any moment after the spawn leaves a record that it may have
    run (docs/guide.md "What sked promises")."""
    db = tmp_path / ".sked" / "sked.db"
    probe = (f'/usr/bin/python3 -c "import os, sqlite3; print(sqlite3.connect('
             f"'file:{db}?mode=ro', uri=True).execute("
             f"'SELECT status FROM runs WHERE id = ?', (os.environ['SKED_RUN_ID'],))"
             f'.fetchone()[0])"')
    body = f"shell: >-\n{' ' * 18}{probe}"
    jobs = (f"probe:\n                {body}" if kind == "job" else
            f"probe:\n                steps:\n                  look:\n"
            f"                    {body.replace(chr(10) + ' ' * 18, chr(10) + ' ' * 22)}")
    d = Daemon(tmp_path, f"""
        jobs:
          {jobs}
    """)
    try:
        d.cli("trigger", "probe")
        run = wait_for(lambda: [r for r in d.history("probe") if r["status"] == "succeeded"
                                and (r["step"] is not None) == (kind == "step")],
                       what="the probe to succeed")[0]
        out = d.cli("logs", "probe", "--run", str(run["id"])).stdout
        assert "out | running" in out, out
    finally:
        d.stop()


@sqlite_only
def test_nothing_starts_when_its_start_cannot_be_recorded(tmp_path):
    """The store refuses the start (the 4th write here: the job's state, its
    commit, the trigger's record, then the start): the process never starts,
    and sked tries again, saying so, rather than run it unrecorded."""
    mark = tmp_path / "mark"
    d = Daemon(tmp_path, f"""
        jobs:
          m:
            run: [touch, "{mark}"]
    """, env={"SKED_TEST_STORE_FAIL_AFTER": "4"})
    try:
        d.cli("trigger", "m")
        wait_for(lambda: d.log().count("nothing starts without its record; trying again") >= 2,
                 timeout=30, what="the start to be refused, then tried again")
        assert not mark.exists(), "the process started although its start was not recorded"
    finally:
        d.stop()
