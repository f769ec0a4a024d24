"""Workflows at their edges: reloads and restarts in the middle of them."""
import os
import signal
import time

from harness import Daemon, done, wait_for
from receivers import HttpReceiver
from test_workflow import wait_wf, wf_runs


def test_queued_workflow_of_a_removed_job_does_not_crash_the_daemon(daemon):
    d = daemon("""
        jobs:
          wf:
            overlap: queue
            steps:
              a: {run: [sleep, "2"]}
              b: {run: [true], needs: [a]}
          other:
            run: [true]
    """)
    d.cli("trigger", "wf")
    d.cli("trigger", "wf")
    d.write("""
        jobs:
          other:
            run: [true]
    """)
    wait_for(lambda: "event=reloaded" in d.log(), what="the reload")
    time.sleep(4)
    assert d.proc.poll() is None, "the daemon died:\n" + d.log()
    d.cli("trigger", "other")
    d.wait_runs("other", lambda h: h and done(h[0]))


def test_workflow_turned_into_a_plain_job_while_steps_wait(daemon):
    d = daemon("""
        jobs:
          wf:
            overlap: queue
            max_parallel: 1
            steps:
              a: {run: [sleep, "1"]}
              b: {run: [sleep, "1"]}
    """)
    d.cli("trigger", "wf")
    d.cli("trigger", "wf")
    d.write("""
        jobs:
          wf:
            run: [sleep, "1"]
    """)
    wait_for(lambda: "event=reloaded" in d.log(), what="the reload")
    runs = wait_for(lambda: (lambda h: h if len(h) >= 2 and all(done(r) for r in h) else None)(
        d.history("wf")), timeout=30, what="every run of wf to finish")
    assert all(r["status"] != "running" for r in runs)


def test_renamed_step_after_kill9_is_ended_and_its_process_killed(tmp_path):
    pidfile = tmp_path / "a.pid"
    d = Daemon(tmp_path, f"""
        jobs:
          wf:
            steps:
              a: {{shell: "echo $$ > {pidfile}; exec sleep 60"}}
    """)
    try:
        d.cli("trigger", "wf")
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="step a")
        pid = int(pidfile.read_text())
        d.kill9()
        d.write("""
            jobs:
              wf:
                steps:
                  a2: {run: [true]}
        """)
        d.start()
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the old step's process to die")
        rows = d.history("wf")
        old = [r for r in rows if r["step"] == "a"]
        assert old and old[0]["status"] == "interrupted"
        # On PostgreSQL the node that ran it ends it first, as its own.
        assert ("no longer in the configuration" in old[0]["reason"] or
                d.store and "killed at restart" in old[0]["reason"]), old[0]
    finally:
        d.stop()


def test_retry_keeps_succeeded_steps_across_a_restart(tmp_path):
    flag = tmp_path / "fixed"
    count = tmp_path / "a.count"
    d = Daemon(tmp_path, f"""
        jobs:
          wf:
            overlap: queue
            steps:
              a: {{shell: "echo x >> {count}"}}
              b: {{shell: "test -e {flag}", needs: [a]}}
              hold: {{shell: "test -e {flag} || true", needs: [b], when: always}}
    """)
    try:
        d.cli("trigger", "wf")
        first = wait_wf(d, "wf")[0]
        assert first["status"] == "failed"
        flag.write_text("")
        d.stop()
        # Record the retry while no daemon runs it: start, retry, kill at once.
        d.start()
        d.cli("retry", str(first["id"]))
        d.kill9()
        d.start()
        runs = wait_wf(d, "wf", 2)
        assert runs[0]["status"] == "succeeded"
        assert runs[0]["steps"]["a"][-1]["reason"] == f"kept from run {first['id']}"
        assert len(count.read_text().split()) == 1, "a succeeded step ran again"
    finally:
        d.stop()


def test_step_alert_does_not_silence_the_workflow_alert(daemon):
    http = HttpReceiver()
    try:
        d = daemon(f"""
            jobs:
              wf:
                alert: {{webhook: {http.url}/wf}}
                steps:
                  b:
                    run: [sh, -c, "exit 1"]
                    alert: {{webhook: {http.url}/step}}
        """)
        d.cli("trigger", "wf")
        wait_for(lambda: {r["path"] for r in http.requests} >= {"/wf", "/step"},
                 what="both alerts")
    finally:
        http.close()
