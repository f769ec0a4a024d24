"""One owner for a store: a second daemon on the same SQLite file is refused,
and the CLI reaches a store that a daemon owns only through that daemon
(DESIGN 1; docs/guide.md "What sked promises")."""
import json
import os
import subprocess

from conftest import SKED, run_sked, sqlite_only
from harness import Daemon, wait_for


def wal(d):
    return os.path.join(d.state, "sked.db-wal")


@sqlite_only
def test_cli_exec_beside_daemon_keeps_its_wal(tmp_path):
    # The report: an API call, then `sked exec`, deleted the daemon's WAL;
    # history then stopped seeing new runs.
    d = Daemon(tmp_path, """
        jobs:
          tick:
            every: 1s
            run: [true]
          once:
            run: [echo, hello from once]
    """)
    try:
        d.wait_runs("tick", lambda h: len(h) >= 2)
        d.cli("status")
        r = d.cli("exec", "once", check=False)
        assert r.returncode == 0, r.stderr
        assert "hello from once" in r.stdout
        assert os.path.exists(wal(d)), "the daemon's WAL was deleted"
        # The exec's run is in the history, and new fires keep appearing.
        runs = d.history()
        assert any(x["job"] == "once" and x["status"] == "succeeded" for x in runs)
        top = max(x["id"] for x in runs)
        d.wait_runs("tick", lambda h: max(x["id"] for x in h) > top,
                    what="fires after the exec to be seen")
    finally:
        d.stop()
    # After a crash-free stop, every run that succeeded is still recorded so.
    ran = [x for x in d.history() if x["status"] == "succeeded"]
    assert any(x["job"] == "once" for x in ran)


@sqlite_only
def test_second_daemon_on_the_same_store_is_refused(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    marks = tmp_path / "marks"
    marks.mkdir()
    first = Daemon(a, f"""
        jobs:
          slow:
            run: [sh, -c, "sleep 3; touch {marks}/done"]
    """)
    try:
        first.cli("trigger", "slow")
        wait_for(lambda: any(x["status"] == "running" for x in first.history("slow")),
                 what="the run to start")
        # Another sked.yaml with its own state_dir, pointing at the same file
        # (by another path: through a symbolic link to the folder).
        os.symlink(first.state, tmp_path / "link")
        other = os.path.join(str(tmp_path / "link"), "sked.db")
        (b / "sked.yaml").write_text(f"store: {other}\njobs:\n  slow:\n    run: [true]\n")
        r = subprocess.run([SKED, "run", "-c", str(b / "sked.yaml")], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        assert f"pid {first.proc.pid}" in r.stderr, r.stderr
        assert "in use" in r.stderr
        wait_for(lambda: os.path.exists(marks / "done"), what="the first daemon's run to end")
        run = wait_for(lambda: [x for x in first.history("slow") if x["status"] != "running"],
                       what="the run's outcome")[0]
        assert run["status"] == "succeeded", run
        assert first.proc.poll() is None
    finally:
        first.stop()


@sqlite_only
def test_readers_go_through_the_daemon(tmp_path):
    d = Daemon(tmp_path, """
        jobs:
          hello:
            run: [echo, hi there]
          wf:
            steps:
              a: {run: [echo, step a]}
              b: {run: [echo, step b], needs: a}
    """)
    try:
        d.cli("trigger", "hello")
        d.cli("trigger", "wf")
        d.wait_runs("wf", lambda h: h and h[0]["status"] == "succeeded" and len(h) == 3)
        # While the daemon owns the store, a reader cannot open the file: its
        # answers come from the daemon, in the same shapes as without it.
        with_daemon = {
            "history": json.loads(d.cli("history", "--json").stdout),
            "list": json.loads(d.cli("list", "--json").stdout),
            "logs": d.cli("logs", "hello").stdout,
            "next": d.cli("next", "hello").stdout,
            "table": d.cli("history").stdout,
        }
        assert "hi there" in with_daemon["logs"]
    finally:
        d.stop()
    alone = {
        "history": json.loads(d.cli("history", "--json").stdout),
        "list": json.loads(d.cli("list", "--json").stdout),
        "logs": d.cli("logs", "hello").stdout,
        "next": d.cli("next", "hello").stdout,
        "table": d.cli("history").stdout,
    }
    assert with_daemon == alone


@sqlite_only
def test_daemon_refused_while_exec_runs(tmp_path):
    import signal
    d = Daemon(tmp_path, """
        jobs:
          slow:
            run: [sh, -c, "echo started; sleep 60"]
    """, start=False)
    ex = subprocess.Popen([SKED, "exec", "slow", "-c", d.config], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        # Its first line: the exec holds the store's lock and its run is going.
        assert "started" in ex.stdout.readline()
        r = subprocess.run([SKED, "run", "-c", d.config], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1
        assert f"pid {ex.pid}" in r.stderr and "exec" in r.stderr, r.stderr
        ex.send_signal(signal.SIGINT)
        out, err = ex.communicate(timeout=60)
        assert ex.returncode == 1, err
    finally:
        if ex.poll() is None:
            ex.kill()
    runs = json.loads(run_sked("history", "--json", "-c", d.config).stdout)
    assert [(x["status"], x["reason"]) for x in runs] == [("killed", "interrupted by the user")]


def test_exec_through_the_daemon_one_attempt_and_ctrl_c(tmp_path):
    d = Daemon(tmp_path, """
        jobs:
          bad:
            run: [sh, -c, "echo bad; exit 3"]
            retries: 2
            retry_delay: 1s
          slow:
            run: [sh, -c, "echo go; sleep 60"]
    """)
    try:
        r = d.cli("exec", "bad", check=False)
        assert r.returncode == 3, r.stderr
        assert "bad" in r.stdout
        assert "the daemon that owns the store runs bad as run" in r.stderr
        assert "failed (exit 3)" in r.stderr
        # One attempt: sked exec never retries, through the daemon neither.
        runs = d.history("bad")
        assert [(x["status"], x["attempt"]) for x in runs] == [("failed", 1)], runs

        import signal
        ex = subprocess.Popen([SKED, "exec", "slow", "-c", d.config], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=d.env)
        try:
            assert "go" in ex.stdout.readline()
            ex.send_signal(signal.SIGINT)
            out, err = ex.communicate(timeout=60)
        finally:
            if ex.poll() is None:
                ex.kill()
        assert ex.returncode == 1, err
        assert "killed" in err, err
        run = d.history("slow")[0]
        assert run["status"] == "killed" and run["reason"] == "cancelled", run
    finally:
        d.stop()
