"""Alerts through the real daemon to real local receivers."""
import json
import os
import socket
import time

import pytest

from harness import Daemon, done, wait_for
from harness import http as http_call
from receivers import HttpReceiver, SmtpReceiver


def api_get(sock, path):
    r = http_call("GET", path, sock=sock)
    assert r.status == 200, r.body
    return r.json()


@pytest.fixture
def http():
    r = HttpReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp():
    r = SmtpReceiver()
    yield r
    r.close()


def test_failure_reaches_webhook_slack_email_and_command(daemon, http, smtp, tmp_path):
    sink = tmp_path / "command-got.json"
    d = daemon(f"""
        jobs:
          nightly:
            run: [sh, -c, "echo line one; echo 'the end \\"quoted\\"'; exit 3"]
            alert:
              on: [failure]
              webhook: {http.url}/hook
              slack: {http.url}/slack
              email: {{smtp_url: "smtp://127.0.0.1:{smtp.port}", from: sked@example.com, to: ops@example.com}}
              command: [sh, -c, "cat > {sink}"]
    """)
    d.cli("trigger", "nightly")
    wait_for(lambda: len(http.requests) >= 2 and smtp.messages and sink.exists()
             and sink.stat().st_size > 0, what="all four channels")
    bodies = {r["path"]: json.loads(r["body"]) for r in http.requests}
    hook = bodies["/hook"]
    run = d.history("nightly")[0]
    assert hook["job"] == "nightly" and hook["event"] == "failure"
    assert hook["status"] == "failed" and hook["exit_code"] == 3
    assert hook["run_id"] == run["id"]
    assert 'the end "quoted"' in hook["output"] and "line one" in hook["output"]
    assert hook["scheduled_at"] and hook["started_at"] and hook["ended_at"]
    assert set(bodies["/slack"]) == {"text"} and "nightly" in bodies["/slack"]["text"]
    mail = smtp.messages[0]
    assert mail["to"] == ["ops@example.com"] and "nightly" in mail["data"]
    assert json.loads(sink.read_text())["event"] == "failure"
    assert "event=alert_delivered" in d.log()
    # The API lists the four deliveries of this alert, newest first.
    sock = os.path.join(d.state, "sked.sock")
    alerts = wait_for(lambda: (lambda a: a if len(a) == 4 and all(
        x["state"] == "delivered" for x in a) else None)(
        api_get(sock, "/api/v1/alerts?job=nightly")["alerts"]), what="four delivered alerts")
    assert {a["channel"] for a in alerts} == {"webhook", "slack", "email", "command"}
    assert all(a["run_id"] == run["id"] and a["event"] == "failure" for a in alerts)
    assert [a["id"] for a in alerts] == sorted((a["id"] for a in alerts), reverse=True)


def test_success_and_recovered(daemon, http, tmp_path):
    flag = tmp_path / "ok"
    d = daemon(f"""
        jobs:
          flaky:
            shell: "test -e {flag}"
            alert: {{on: [failure, recovered], webhook: {http.url}}}
    """)
    d.cli("trigger", "flaky")
    wait_for(lambda: len(http.requests) == 1, what="the failure alert")
    flag.write_text("")
    d.cli("trigger", "flaky")
    wait_for(lambda: len(http.requests) == 2, what="the recovered alert")
    assert [b["event"] for b in http.json_bodies()] == ["failure", "recovered"]
    d.cli("trigger", "flaky")
    d.wait_runs("flaky", lambda h: len(h) == 3 and done(h[0]))
    time.sleep(1)
    assert len(http.requests) == 2, "success was not asked for"


def test_receiver_down_then_up_gets_the_alert_once(daemon, http):
    http.status = 503
    d = daemon(f"""
        jobs:
          bad:
            run: [sh, -c, "exit 1"]
            alert: {{webhook: {http.url}}}
    """)
    d.cli("trigger", "bad")
    wait_for(lambda: "event=alert_retry" in d.log(), what="a failed delivery")
    http.status = 200
    wait_for(lambda: len(http.requests) == 1, timeout=30, what="the retried delivery")
    time.sleep(3)
    assert len(http.requests) == 1


def test_rate_limit_prevents_a_storm(daemon, http):
    d = daemon(f"""
        jobs:
          failing:
            every: 1s
            run: [sh, -c, "exit 1"]
            alert: {{webhook: {http.url}}}
    """)
    d.wait_runs("failing", lambda h: len([r for r in h if done(r)]) >= 6, timeout=30)
    time.sleep(1)
    assert len(http.requests) == 1
    assert "event=alert_dropped" in d.log()


def test_missed_alert_once_not_on_every_restart(tmp_path, http):
    d = Daemon(tmp_path, f"""
        jobs:
          sec:
            schedule: "* * * * * *"
            run: [true]
            catchup: none
            alert: {{on: [missed], webhook: {http.url}}}
    """)
    try:
        d.wait_runs("sec", lambda h: len(h) >= 2)
        d.stop()
        time.sleep(3)
        d.start()
        wait_for(lambda: len(http.requests) == 1, what="the missed alert")
        body = http.json_bodies()[0]
        assert body["event"] == "missed" and body["job"] == "sec"
        d.stop()
        d.start()  # a quick restart: the same instants are not alerted again
        time.sleep(2)
        d.stop()
        missed_after = [b for b in http.json_bodies() if b["event"] == "missed"]
        assert len(missed_after) <= 2
        assert len({b["scheduled_at"] for b in missed_after}) == len(missed_after)
    finally:
        d.stop()


def test_late_alert(daemon, http):
    d = daemon(f"""
        jobs:
          slow:
            shell: "sleep 3"
            expected_duration: 1s
            alert: {{on: [late], webhook: {http.url}}}
    """)
    d.cli("trigger", "slow")
    wait_for(lambda: len(http.requests) == 1, what="the late alert")
    body = http.json_bodies()[0]
    assert body["event"] == "late" and body["status"] == "running"
    assert d.history("slow")[0]["status"] == "running", "late must come while it runs"


def test_workflow_step_failure_alerts_the_job(daemon, http):
    d = daemon(f"""
        jobs:
          wf:
            alert: {{webhook: {http.url}}}
            steps:
              a: {{run: [sh, -c, "exit 2"]}}
              b: {{run: [true], needs: [a]}}
    """)
    d.cli("trigger", "wf")
    wait_for(lambda: len(http.requests) >= 1, what="the workflow's alert")
    body = http.json_bodies()[0]
    assert body["job"] == "wf" and body["event"] == "failure" and body["step"] is None


def test_alerts_test_command(tmp_path, http):
    d = Daemon(tmp_path, f"""
        jobs:
          x:
            run: [true]
            alert: {{webhook: {http.url}, slack: {http.url}/s, command: [sh, -c, "cat >/dev/null"]}}
          none:
            run: [true]
    """, start=False)
    r = d.cli("alerts", "test", "x")
    assert "webhook  delivered" in r.stdout and "slack    delivered" in r.stdout
    assert "command  delivered" in r.stdout
    assert len(http.requests) == 2
    r = d.cli("alerts", "test", "none", check=False)
    assert r.returncode == 1 and "no alert" in r.stderr
    http.status = 500
    r = d.cli("alerts", "test", "x", check=False)
    assert r.returncode == 1 and "failed" in r.stdout
