"""The HTTP API (docs/api.md) through the real daemon: every endpoint, its
errors, authentication on TCP, redaction, and that a slow client does not
delay fires."""
import json
import os
import socket
import sqlite3
import time

import pytest

from conftest import sqlite_only
from harness import done, free_port, http, recv_until, wait_for

ADMIN = "admin-token-0123456789abcdef"
READER = "read-token-0123456789abcdef"

BASIC = """
http: {listen: "127.0.0.1:%(port)d"}
jobs:
  hello:
    run: ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done"]
  nightly:
    schedule: "0 3 * * *"
    run: ["true"]
    env: {API_TOKEN: "tok-secret-value", DB_PASSWORD: "pw-secret-value", PLAIN: "visible"}
    alert: {on: [failure], webhook: "https://hooks.example.com/T0/secret-path"}
  sleeper:
    run: ["sleep", "60"]
    kill_grace: 1s
  report:
    params: {day: "today"}
    run: ["echo", "day=${{ params.day }}"]
  flow:
    steps:
      a: {run: ["true"]}
      b: {run: ["sh", "-c", "echo rows=3 >> $SKED_OUTPUT"], needs: [a]}
"""


@pytest.fixture
def api(daemon, tmp_path):
    port = free_port()
    d = daemon(BASIC % {"port": port})
    sock = os.path.join(d.state, "sked.sock")

    def call(method, path, body=None, headers=None, tcp=False):
        if tcp:
            return http(method, path, body, headers, port=port)
        return http(method, path, body, headers, sock=sock)
    call.daemon = d
    call.port = port
    return call


def wait_run(api, run_id, timeout=30):
    return wait_for(lambda: (lambda r: r if done(r) else None)(
        api("GET", f"/api/v1/runs/{run_id}").json()), timeout=timeout,
        what=f"run {run_id} to end")


def test_health_status_and_jobs(api):
    r = api("GET", "/api/v1/health")
    assert r.status == 200 and r.json() == {"status": "ok"}
    s = api("GET", "/api/v1/status").json()
    assert s["running"] is True and s["pid"] == api.daemon.proc.pid
    assert s["jobs"] == 5 and s["role"] == "admin"
    assert s["next_job"] == "nightly" and s["next_due"].endswith("T03:00:00.000+00:00")
    jobs = api("GET", "/api/v1/jobs").json()
    assert jobs["total"] == 5
    names = [j["name"] for j in jobs["jobs"]]
    assert names == ["hello", "nightly", "sleeper", "report", "flow"]
    nightly = jobs["jobs"][1]
    assert nightly["trigger"] == "0 3 * * *"
    assert "03:00" in nightly["trigger_text"]
    assert nightly["kind"] == "job" and jobs["jobs"][4]["kind"] == "workflow"
    assert nightly["paused"] is False and nightly["last_status"] is None
    # Filter and paging.
    assert [j["name"] for j in api("GET", "/api/v1/jobs?q=l").json()["jobs"]] == [
        "hello", "nightly", "sleeper", "flow"]
    page = api("GET", "/api/v1/jobs?offset=1&limit=2").json()
    assert page["total"] == 5 and [j["name"] for j in page["jobs"]] == ["nightly", "sleeper"]
    # Over TCP too (no tokens configured: loopback only, full access).
    assert api("GET", "/api/v1/jobs", tcp=True).json()["total"] == 5


def test_job_detail_redacts_secrets(api):
    r = api("GET", "/api/v1/jobs/nightly")
    assert r.status == 200
    text = r.body.decode()
    assert "tok-secret-value" not in text and "pw-secret-value" not in text
    assert "secret-path" not in text
    j = r.json()
    env = j["definition"]["env"]
    assert env == {"API_TOKEN": "[redacted]", "DB_PASSWORD": "[redacted]", "PLAIN": "visible"}
    assert j["definition"]["alert"]["webhook"] == "[redacted]"
    assert len(j["upcoming"]) == 5 and all("T03:00:00" in u for u in j["upcoming"])
    flow = api("GET", "/api/v1/jobs/flow").json()
    assert [(s["name"], s["needs"]) for s in flow["steps"]] == [("a", []), ("b", ["a"])]
    r = api("GET", "/api/v1/jobs/nope")
    assert r.status == 404 and "nope" in r.json()["error"]


def test_trigger_run_log_and_stream(api):
    r = api("POST", "/api/v1/jobs/hello/trigger")
    assert r.status == 202
    run_id = r.json()["run_id"]
    # Follow the log live while it runs: lines arrive before the end event.
    s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
    s.sendall(f"GET /api/v1/runs/{run_id}/log HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    buf = recv_until(s, b"event: end")
    s.close()
    text = buf.decode()
    assert "text/event-stream" in text.split("\r\n\r\n")[0]
    for i in range(1, 6):
        assert f"line {i}" in text
    assert text.index("line 5") < text.index("event: end")
    assert '"status":"succeeded"' in text
    run = wait_run(api, run_id)
    assert run["status"] == "succeeded" and run["trigger"] == "manual"
    assert run["exit_code"] == 0 and run["has_log"] and run["duration"] > 0
    # The whole log, then ranges.
    log = api("GET", f"/api/v1/runs/{run_id}/log")
    assert log.status == 200 and log.headers["content-type"].startswith("text/plain")
    assert log.body.count(b"\n") == 5
    part = api("GET", f"/api/v1/runs/{run_id}/log", headers={"Range": "bytes=0-9"})
    assert part.status == 206 and part.body == log.body[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(log.body)}"
    tail = api("GET", f"/api/v1/runs/{run_id}/log", headers={"Range": "bytes=-7"})
    assert tail.status == 206 and tail.body == log.body[-7:]
    bad = api("GET", f"/api/v1/runs/{run_id}/log",
              headers={"Range": f"bytes={len(log.body) + 5}-"})
    assert bad.status == 416 and bad.headers["content-range"] == f"bytes */{len(log.body)}"
    # Resuming a stream from an offset skips what was seen.
    first_id = int(text.split("id: ")[1].split("\n")[0])
    again = api("GET", f"/api/v1/runs/{run_id}/log?follow=1",
                headers={"Last-Event-ID": str(first_id)}).body.decode()
    assert "line 1" not in again and "line 5" in again and "event: end" in again


def test_trigger_with_params_and_errors(api):
    r = api("POST", "/api/v1/jobs/report/trigger", {"params": {"day": "2026-11-26"}})
    assert r.status == 202
    run = wait_run(api, r.json()["run_id"])
    assert run["params"] == {"day": "2026-11-26"}
    log = api("GET", f"/api/v1/runs/{run['id']}/log").body.decode()
    assert "day=2026-11-26" in log
    cases = [
        ({"params": {"nope": "1"}}, 400, "no parameter"),
        ({"params": "day"}, 400, "params"),
        ({"params": {"day": {"x": 1}}}, 400, "params.day"),
        ({"other": 1}, 400, "unknown field"),
        ("{not json", 400, "not a JSON object"),
        ("[1, 2]", 400, "not a JSON object"),
    ]
    for body, status, words in cases:
        r = api("POST", "/api/v1/jobs/report/trigger", body)
        assert r.status == status, (body, r.status, r.body)
        assert words in r.json()["error"], (body, r.json())
    assert api("POST", "/api/v1/jobs/ghost/trigger").status == 404
    r = api("GET", "/api/v1/jobs/report/trigger")
    assert r.status == 405 and r.headers["allow"] == "POST"


def test_runs_list_filters_and_paging(api):
    ids = [api("POST", "/api/v1/jobs/report/trigger").json()["run_id"] for _ in range(5)]
    for i in ids:
        wait_run(api, i)
    wf = api("POST", "/api/v1/jobs/flow/trigger").json()["run_id"]
    wait_run(api, wf)
    runs = api("GET", "/api/v1/runs?job=report&limit=2").json()
    assert [r["id"] for r in runs["runs"]] == ids[::-1][:2]
    assert runs["next_before"] == ids[3]
    more = api("GET", f"/api/v1/runs?job=report&limit=10&before={runs['next_before']}").json()
    assert [r["id"] for r in more["runs"]] == ids[::-1][2:]
    assert more["next_before"] is None
    assert all(r["status"] == "succeeded" for r in more["runs"])
    # Top-level only by default; steps on request.
    top = api("GET", "/api/v1/runs").json()["runs"]
    assert all(r["step"] is None for r in top)
    with_steps = api("GET", "/api/v1/runs?steps=1").json()["runs"]
    assert {r["step"] for r in with_steps} >= {"a", "b"}
    assert api("GET", "/api/v1/runs?status=failed").json()["runs"] == []
    since = api("GET", "/api/v1/runs?since=2000-01-01T00:00:00Z").json()["runs"]
    assert len(since) == 6
    assert api("GET", "/api/v1/runs?since=2999-01-01T00:00:00Z").json()["runs"] == []
    # A workflow run with its steps and outputs.
    detail = api("GET", f"/api/v1/runs/{wf}").json()
    assert detail["status"] == "succeeded"
    assert [s["step"] for s in detail["steps"]] == ["a", "b"]
    b = [s for s in detail["steps"] if s["step"] == "b"][0]
    assert api("GET", f"/api/v1/runs/{b['id']}").json()["outputs"] == {"rows": "3"}
    for query, words in [("status=bogus", "status"), ("limit=0", "limit"),
                         ("limit=5000", "limit"), ("before=x", "before"),
                         ("since=yesterday", "since")]:
        r = api("GET", "/api/v1/runs?" + query)
        assert r.status == 400 and words in r.json()["error"], query


def test_pause_resume_cancel_retry_reload(api):
    r = api("POST", "/api/v1/jobs/nightly/pause")
    assert r.status == 200 and r.json() == {"name": "nightly", "paused": True}
    j = api("GET", "/api/v1/jobs/nightly").json()
    assert j["paused"] is True and j["next"] is None and j["upcoming"] == []
    assert api("GET", "/api/v1/status").json()["next_job"] is None
    # Kept across a restart.
    api.daemon.stop()
    api.daemon.start()
    assert api("GET", "/api/v1/jobs/nightly").json()["paused"] is True
    assert api("POST", "/api/v1/jobs/nightly/resume").json()["paused"] is False
    assert api("GET", "/api/v1/jobs/nightly").json()["next"] is not None
    # Cancel a running run: killed, reason cancelled, no retry.
    run_id = api("POST", "/api/v1/jobs/sleeper/trigger").json()["run_id"]
    wait_for(lambda: api("GET", f"/api/v1/runs/{run_id}").json()["status"] == "running",
             what="sleeper to start")
    r = api("POST", f"/api/v1/runs/{run_id}/cancel")
    assert r.status == 202 and r.json()["status"] == "cancelling"
    run = wait_run(api, run_id)
    assert run["status"] == "killed" and run["reason"] == "cancelled"
    r = api("POST", f"/api/v1/runs/{run_id}/cancel")
    assert r.status == 409 and "not queued or running" in r.json()["error"]
    assert api("POST", "/api/v1/runs/99999/cancel").status == 404
    # Retry it.
    r = api("POST", f"/api/v1/runs/{run_id}/retry")
    assert r.status == 202
    again = r.json()["run_id"]
    assert again > run_id
    api("POST", f"/api/v1/runs/{again}/cancel")
    wait_run(api, again)
    # Reload: a good file, then a broken one (the old one stays).
    d = api.daemon
    with open(d.config) as f:
        text = f.read()
    d.write(text + "  extra: {run: [\"true\"]}\n")
    r = api("POST", "/api/v1/reload")
    assert r.status == 200 and r.json()["jobs"] == 6
    d.write(text + "  broken: {run: 5, schedule: \"61 * * * *\"}\n")
    r = api("POST", "/api/v1/reload")
    assert r.status == 400 and "sked.yaml" in r.json()["error"]
    assert api("GET", "/api/v1/status").json()["jobs"] == 6


def test_cancel_workflow_stops_its_steps(daemon):
    port = free_port()
    d = daemon(f"""
        http: {{listen: "127.0.0.1:{port}"}}
        jobs:
          wf:
            steps:
              slow: {{run: ["sleep", "60"], kill_grace: 1s}}
              after: {{run: ["true"], needs: [slow], when: always}}
    """)
    run_id = http("POST", "/api/v1/jobs/wf/trigger", port=port).json()["run_id"]
    wait_for(lambda: any(s["status"] == "running" for s in
                         http("GET", f"/api/v1/runs/{run_id}", port=port).json().get("steps", [])),
             what="the slow step to run")
    assert http("POST", f"/api/v1/runs/{run_id}/cancel", port=port).status == 202
    run = wait_for(lambda: (lambda r: r if done(r) else None)(
        http("GET", f"/api/v1/runs/{run_id}", port=port).json()), what="the workflow to end")
    assert run["status"] == "killed" and run["reason"] == "cancelled"
    steps = {s["step"]: s for s in run["steps"]}
    assert steps["slow"]["status"] == "killed"
    # `when: always` does not run after a cancel.
    assert steps["after"]["status"] == "skipped"


def test_cli_pause_cancel_reload(api):
    d = api.daemon
    assert d.cli("pause", "nightly").stdout.strip() == "paused nightly"
    assert d.cli("resume", "nightly").stdout.strip() == "resumed nightly"
    r = d.cli("pause", "ghost", check=False)
    assert r.returncode == 1 and "no job named" in r.stderr
    run_id = api("POST", "/api/v1/jobs/sleeper/trigger").json()["run_id"]
    wait_for(lambda: api("GET", f"/api/v1/runs/{run_id}").json()["status"] == "running")
    assert d.cli("cancel", str(run_id)).stdout.strip() == f"cancelling run {run_id}"
    wait_run(api, run_id)
    r = d.cli("cancel", str(run_id), check=False)
    assert r.returncode == 1 and "not queued or running" in r.stderr
    assert "5 jobs" in d.cli("reload").stdout
    r = d.cli("cancel", "abc", check=False)
    assert r.returncode == 2


def test_oversized_body_is_read_before_the_413(api):
    """A client writing a body a little over 64 KiB gets its 413, not a
    closed connection half-way through (EPIPE, and no reason)."""
    import select
    s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
    body = json.dumps({"params": {"day": "x" * 70000}}).encode()
    s.sendall(b"POST /api/v1/jobs/report/trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    # No answer before the body: the server reads it first. (Waiting a
    # little can only miss a wrong early answer, never fail a right one.)
    early, _, _ = select.select([s], [], [], 0.5)
    assert not early, s.recv(300)
    s.sendall(body)
    reply = recv_until(s, b"\r\n\r\n")
    s.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_errors_and_limits(api):
    r = api("GET", "/api/v1/nope")
    assert r.status == 404 and "no such endpoint" in r.json()["error"]
    assert api("GET", "/nope.html").status == 404
    r = api("POST", "/api/v1/jobs")
    assert r.status == 405 and "GET" in r.headers["allow"]
    for path in ["/api/v1/runs/abc", "/api/v1/runs/0", "/api/v1/runs/-1",
                 "/api/v1/runs/99999999999999999999"]:
        assert api("GET", path).status == 400, path
    assert api("GET", "/api/v1/runs/424242").status == 404
    assert api("GET", "/api/v1/runs/424242/log").status == 404
    # Oversized bodies: by Content-Length, and sent in chunks without one.
    big = json.dumps({"params": {"day": "x" * 70000}})
    r = api("POST", "/api/v1/jobs/report/trigger", big)
    assert r.status == 413 and "64 KiB" in r.json()["error"]
    s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
    s.sendall(b"POST /api/v1/jobs/report/trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
    chunk = b"x" * 8192
    try:
        for _ in range(12):
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close early
    reply = s.recv(65536).decode(errors="replace")
    s.close()
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    # Garbage instead of HTTP does not hurt the daemon.
    for junk in [b"\x00\x01\x02 hello\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"GET /api/v1/health HTTP/1.1\r\n" + b"X: " + b"y" * 100000 + b"\r\n\r\n"]:
        s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
        try:
            s.sendall(junk)
            s.recv(100)  # an error answer or a close; or nothing (then the timeout)
        except OSError:
            pass
        s.close()
    assert api("GET", "/api/v1/health").status == 200


@sqlite_only
def test_log_paths_cannot_escape_the_state_folder(api):
    run_id = api("POST", "/api/v1/jobs/report/trigger").json()["run_id"]
    wait_run(api, run_id)
    for path in ["/api/v1/runs/../../../../etc/passwd", "/api/v1/runs/%2e%2e/log",
                 f"/api/v1/runs/{run_id}/../../../etc/passwd",
                 "/../../../../etc/passwd", "/api/v1/runs/1%2F..%2F..%2Fetc/log"]:
        r = api("GET", path)
        assert r.status in (400, 404), (path, r.status)
        assert b"root:" not in r.body
    # Even a log path pointing outside (a tampered store) is not served.
    db = sqlite3.connect(os.path.join(api.daemon.state, "sked.db"))
    db.execute("UPDATE runs SET log_path = '/etc/passwd' WHERE id = ?", (run_id,))
    db.commit()
    db.close()
    r = api("GET", f"/api/v1/runs/{run_id}/log")
    assert r.status == 404 and b"root:" not in r.body


def test_alerts_endpoint(api):
    r = api("GET", "/api/v1/alerts")
    assert r.status == 200 and r.json() == {"alerts": []}
    assert api("GET", "/api/v1/alerts?limit=0").status == 400


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in\n{text}")


def test_metrics_pass_promtool(daemon, tmp_path):
    import shutil
    import subprocess
    port = free_port()
    d = daemon(f"""
        http: {{listen: "127.0.0.1:{port}"}}
        jobs:
          tick: {{every: 1s, run: ["true"]}}
          bad: {{run: ["false"]}}
          nightly: {{schedule: "0 3 * * *", run: ["true"]}}
    """)
    http("POST", "/api/v1/jobs/bad/trigger", port=port)
    http("POST", "/api/v1/jobs/nightly/pause", port=port)
    # Two on-time fires (sked_fires_total counts those; on a loaded
    # machine a late one runs as a catch-up).
    d.wait_runs("tick", lambda h: len([r for r in h if done(r) and
                                       r["trigger"] == "schedule"]) >= 2)
    d.wait_runs("bad", lambda h: h and done(h[0]))
    time.sleep(0.3)
    m = http("GET", "/metrics", port=port)
    assert m.status == 200 and m.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = m.body.decode()
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    assert metric(text, 'sked_runs_total{job="bad",outcome="failed"}') == 1
    assert metric(text, 'sked_runs_total{job="tick",outcome="succeeded"}') >= 2
    assert metric(text, 'sked_fires_total{job="tick"}') >= 2
    assert metric(text, "sked_fire_lateness_seconds_count") >= 2
    assert metric(text, 'sked_job_paused{job="nightly"}') == 1
    assert 'sked_job_next_fire_timestamp_seconds{job="tick"}' in text
    assert metric(text, "sked_jobs") == 3
    assert 'sked_build_info{version="' in text
    assert metric(text, 'sked_api_requests_total{code="2xx"}') >= 2


def test_web_page_is_served(api):
    r = api("GET", "/", tcp=True)
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert b"<html" in r.body.lower()
    assert api("GET", "/app.js", tcp=True).headers["content-type"].startswith("text/javascript")
    assert api("HEAD", "/api/v1/health").status == 200


@pytest.fixture
def secured(daemon, tmp_path):
    port = free_port()
    admin = tmp_path / "admin.token"
    reader = tmp_path / "read.token"
    for path, token in [(admin, ADMIN), (reader, READER)]:
        path.write_text(token + "\n")
        path.chmod(0o600)
    d = daemon(f"""
        http:
          listen: "127.0.0.1:{port}"
          admin_token_file: {admin}
          read_token_file: {reader}
        jobs:
          hello: {{run: ["true"]}}
    """)
    d.port = port
    return d


def test_tokens(secured):
    port = secured.port

    def call(method, path, token=None, body=None):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        return http(method, path, body, h, port=port)

    # Health is open and says nothing more.
    r = call("GET", "/api/v1/health")
    assert r.status == 200 and r.json() == {"status": "ok"}
    for method, path in [("GET", "/api/v1/jobs"), ("GET", "/api/v1/status"), ("GET", "/metrics"),
                         ("GET", "/"), ("GET", "/app.js"), ("GET", "/api/v1/runs/1/log"),
                         ("POST", "/api/v1/jobs/hello/trigger"), ("GET", "/api/v1/nope")]:
        for token in [None, "wrong-token-0123456789abcdef", ADMIN[:-1], ADMIN + "x"]:
            r = call(method, path, token)
            assert r.status == 401, (method, path, token, r.status)
            assert r.json() == {"error": "a valid token is required"}
            assert "www-authenticate" in r.headers
    # The read token reads, and may not act.
    assert call("GET", "/api/v1/jobs", READER).status == 200
    assert call("GET", "/api/v1/status", READER).json()["role"] == "read"
    assert call("GET", "/metrics", READER).status == 200
    r = call("POST", "/api/v1/jobs/hello/trigger", READER)
    assert r.status == 403 and "only read" in r.json()["error"]
    assert call("POST", "/api/v1/reload", READER).status == 403
    # The admin token does everything.
    assert call("GET", "/api/v1/status", ADMIN).json()["role"] == "admin"
    assert call("POST", "/api/v1/jobs/hello/trigger", ADMIN).status == 202
    # A browser's Basic login carries the token as its password.
    import base64
    basic = base64.b64encode(f"me:{READER}".encode()).decode()
    r = http("GET", "/api/v1/jobs", headers={"Authorization": f"Basic {basic}"}, port=port)
    assert r.status == 200
    r = http("GET", "/", port=port)
    assert r.status == 401 and r.headers["www-authenticate"].startswith("Basic")
    # The control socket needs no token (its file mode guards it).
    sock = os.path.join(secured.state, "sked.sock")
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"
    assert http("POST", "/api/v1/jobs/hello/trigger", sock=sock).status == 202
    assert secured.cli("trigger", "hello").returncode == 0


def test_token_settings_are_checked(daemon, tmp_path, sked):
    loose = tmp_path / "loose.token"
    loose.write_text(ADMIN)
    loose.chmod(0o644)
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f'http: {{listen: "127.0.0.1:{free_port()}", admin_token_file: {loose}}}\n'
                   'jobs: {a: {run: ["true"]}}\n')
    r = sked("validate", "-c", str(cfg))
    assert r.returncode == 1 and "chmod 600" in r.stderr and "t.yaml:1:" in r.stderr
    # No token and a public address: refused at start.
    cfg.write_text(f'http: {{listen: "0.0.0.0:{free_port()}"}}\njobs: {{a: {{run: ["true"]}}}}\n')
    r = sked("run", "-c", str(cfg), timeout=30)
    assert r.returncode == 1 and "not a loopback address" in r.stderr
    # A short token from the environment is refused too.
    r = sked("run", "-c", str(cfg), env={"SKED_ADMIN_TOKEN": "short"}, timeout=30)
    assert r.returncode == 1 and "at least 16" in r.stderr
    for listen, words in [("127.0.0.1", "host:port"), ("127.0.0.1:0", "1-65535"),
                          ("example.com:80", "not an IP address")]:
        cfg.write_text(f'http: {{listen: "{listen}"}}\njobs: {{a: {{run: ["true"]}}}}\n')
        r = sked("validate", "-c", str(cfg))
        assert r.returncode == 1 and words in r.stderr, (listen, r.stderr)


def test_slow_reader_does_not_delay_fires(daemon, tmp_path):
    """A client that never reads its (large) answer, and many idle
    connections, while a burst of jobs fires every second: every job goes
    on firing meanwhile, and the API answers. (How late fires are under
    such clients is bench/api_throughput.py's business: a timed assertion
    fails on a busy machine.)"""
    port = free_port()
    jobs = "\n".join(f'  j{i}: {{every: 1s, run: ["true"], keep_runs: 50}}' for i in range(50))
    d = daemon(f'http: {{listen: "127.0.0.1:{port}"}}\njobs:\n{jobs}\n')
    d.wait_runs(None, lambda h: len({r["job"] for r in h}) == 50, what="every job to fire")
    stalled = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.sendall(b"GET /api/v1/jobs?recent=50 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        stalled.append(s)
    for _ in range(20):  # half-sent requests
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /api/v1/jobs HTTP/1.1\r\nHost")
        stalled.append(s)
    try:
        top = max(r["id"] for r in d.history())
        # Every job fires again, three times, while the clients stall.
        d.wait_runs(None, lambda h: all(
            len([r for r in h if r["job"] == f"j{i}" and r["id"] > top and r["started_at"]]) >= 3
            for i in range(50)), timeout=120, what="every job to keep firing")
        assert api_ok(port)
    finally:
        for s in stalled:
            s.close()


def api_ok(port):
    return http("GET", "/api/v1/health", port=port).status == 200
