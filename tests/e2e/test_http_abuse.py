"""Hostile HTTP clients against the TCP listener (docs/api.md, "What the
HTTP listener promises"): pages of other sites (CSRF), DNS rebinding, and
slow clients that try to hold every connection (slowloris).

The setup is the README's: a loopback address and no tokens, so that the
only guard is what the HTTP layer itself checks."""
import base64
import http.client as httpc
import json
import os
import socket
import threading
import time
from datetime import datetime

import pytest

from harness import free_port, http, recv_until, wait_for

ADMIN = "admin-token-0123456789abcdef"

LOOPBACK = """
http:
  listen: "127.0.0.1:%(port)d"
%(extra)s
jobs:
  hello: {run: ["true"]}
"""


def start(daemon, extra=""):
    port = free_port()
    d = daemon(LOOPBACK % {"port": port, "extra": extra})
    d.port = port
    d.sock = os.path.join(d.state, "sked.sock")
    wait_for(lambda: raw(port, "GET", "/api/v1/health").status == 200,
             what="the API on TCP")
    return d


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def raw(port, method, path, body=None, headers=None, host=None, timeout=30):
    """One request over TCP with exactly the headers given (Host defaults to
    127.0.0.1:PORT, as a browser or curl sends it)."""
    conn = httpc.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {"Host": host if host is not None else f"127.0.0.1:{port}"}
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def runs_of(d, job):
    return d.history(job)


# ---- cross-site requests (CSRF) ----

def test_cross_site_post_does_not_run_a_job(daemon):
    d = start(daemon)
    port = d.port
    evil = {"Origin": "http://evil.example"}
    # The request of the report: a page of another site posts a "simple" request.
    r = raw(port, "POST", "/api/v1/jobs/hello/trigger", "{}",
            {**evil, "Content-Type": "text/plain"})
    assert r.status == 403, (r.status, r.body)
    # As docs/api.md shows it.
    assert r.json() == {"error": 'refused: the request comes from a page of another origin '
                                 f'(Origin "http://evil.example", this server is "127.0.0.1:{port}")'}
    # Whatever it claims to send, and whatever it asks for.
    for path in ["/api/v1/jobs/hello/trigger", "/api/v1/jobs/hello/pause", "/api/v1/reload",
                 "/api/v1/runs/1/cancel"]:
        for headers in [evil,
                        {**evil, "Content-Type": "application/json"},
                        {"Origin": "null"},
                        {"Origin": f"http://127.0.0.1:{free_port()}"},   # same site, other port
                        {"Origin": f"http://127.0.0.1:{port}.evil.example"},
                        {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site"},
                        {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "cross-site"}]:
            body = "{}" if "Content-Type" in headers else None
            r = raw(port, "POST", path, body, headers)
            assert r.status == 403, (path, headers, r.status, r.body)
            assert r.headers["content-type"] == "application/json"
            assert "error" in r.json()
    assert runs_of(d, "hello") == []
    assert not json.loads(d.cli("list", "--json").stdout)[0]["paused"]
    # The control socket is not reachable from a page: unchanged.
    r = http("POST", "/api/v1/jobs/hello/trigger", "{}",
             {**evil, "Content-Type": "text/plain"}, sock=d.sock)
    assert r.status == 202


def test_simple_content_types_cannot_reach_a_handler(daemon):
    """Without Origin (an old browser, a form): a body that is not JSON is
    refused, so no "simple" cross-site request gets to run anything."""
    d = start(daemon)
    for ctype in ["text/plain", "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x", "text/plain; charset=utf-8", None]:
        headers = {"Content-Type": ctype} if ctype else {}
        r = raw(d.port, "POST", "/api/v1/jobs/hello/trigger", '{"params": {}}', headers)
        assert r.status == 415, (ctype, r.status, r.body)
        assert "application/json" in r.json()["error"]
    assert runs_of(d, "hello") == []
    r = raw(d.port, "POST", "/api/v1/jobs/hello/trigger", "{}",
            {"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status == 202, r.body
    # No body at all (curl -X POST): nothing to check.
    assert raw(d.port, "POST", "/api/v1/jobs/hello/trigger").status == 202


def test_same_origin_and_command_line_requests_work(daemon):
    d = start(daemon)
    port = d.port
    ok = [
        {},  # curl, scripts: no Origin
        {"Origin": f"http://127.0.0.1:{port}"},  # the dashboard, as Chromium sends its POSTs
        {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed by the user
    ]
    for headers in ok:
        r = raw(port, "POST", "/api/v1/jobs/hello/trigger", "{}",
                {**headers, "Content-Type": "application/json"})
        assert r.status == 202, (headers, r.status, r.body)
    r = raw(port, "POST", "/api/v1/jobs/hello/trigger", "{}",
            {"Origin": f"http://localhost:{port}", "Content-Type": "application/json"},
            host=f"localhost:{port}")
    assert r.status == 202, r.body
    # Reads carry no Origin check (a page cannot read the answer anyway).
    assert raw(port, "GET", "/api/v1/jobs", headers={"Origin": "http://evil.example"}).status == 200
    d.wait_runs("hello", lambda h: len(h) == len(ok) + 1)


# ---- DNS rebinding ----

def test_foreign_host_name_is_refused(daemon):
    """A page of attacker.example whose name now resolves to 127.0.0.1 is
    same-origin with itself: its requests carry Host: attacker.example."""
    d = start(daemon)
    port = d.port
    d.cli("trigger", "hello")
    run = d.wait_runs("hello", lambda h: h and h[0]["status"] == "succeeded")[0]
    for path in ["/api/v1/runs", f"/api/v1/runs/{run['id']}/log", "/", "/app.js",
                 "/api/v1/health", "/metrics", "/api/v1/status"]:
        for host in [f"attacker.example:{port}", "attacker.example", "localhost.attacker.example",
                     "127.0.0.1.attacker.example", f"sked.local:{port}"]:
            r = raw(port, "GET", path, host=host)
            assert r.status == 421, (path, host, r.status, r.body[:200])
            err = r.json()["error"]
            assert host.split(":")[0] in err and "http.allowed_hosts" in err
    r = raw(port, "POST", "/api/v1/jobs/hello/trigger", "{}",
            {"Origin": f"http://attacker.example:{port}", "Content-Type": "application/json"},
            host=f"attacker.example:{port}")
    assert r.status == 421
    assert len(runs_of(d, "hello")) == 1
    # Names of this server: IP addresses (any port, as behind a forwarded
    # port), localhost, this machine's own host name.
    for host in [f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST",
                 f"[::1]:{port}", "127.0.0.2:80", "10.1.2.3:8080", socket.gethostname()]:
        r = raw(port, "GET", "/api/v1/health", host=host)
        assert r.status == 200, (host, r.status, r.body)


def test_allowed_hosts_name_this_server(daemon):
    d = start(daemon, "  allowed_hosts: [sked.example.com, Ops.Example.ORG]")
    port = d.port
    for host in ["sked.example.com", f"sked.example.com:{port}", "ops.example.org:443"]:
        assert raw(port, "GET", "/api/v1/jobs", host=host).status == 200, host
    assert raw(port, "GET", "/api/v1/jobs", host="other.example.com").status == 421
    # A page of that name posting to itself, directly or behind a TLS proxy.
    for origin, host in [(f"http://sked.example.com:{port}", f"sked.example.com:{port}"),
                         ("https://sked.example.com", "sked.example.com")]:
        r = raw(port, "POST", "/api/v1/jobs/hello/trigger", "{}",
                {"Origin": origin, "Content-Type": "application/json"}, host=host)
        assert r.status == 202, (origin, r.status, r.body)
    # The same name, another origin: not the same origin.
    r = raw(port, "POST", "/api/v1/jobs/hello/trigger", "{}",
            {"Origin": f"http://ops.example.org:{port}", "Content-Type": "application/json"},
            host=f"sked.example.com:{port}")
    assert r.status == 403


def test_tokens_do_not_exempt_cross_site_requests(daemon, tmp_path):
    """A browser that stored the Basic login for sked sends it along with a
    cross-site request: the token is no proof of intent."""
    token = tmp_path / "admin.token"
    token.write_text(ADMIN + "\n")
    token.chmod(0o600)
    d = start(daemon, f"  admin_token_file: {token}")
    basic = "Basic " + base64.b64encode(f"me:{ADMIN}".encode()).decode()
    for auth in [f"Bearer {ADMIN}", basic]:
        r = raw(d.port, "POST", "/api/v1/jobs/hello/trigger", "{}",
                {"Authorization": auth, "Origin": "http://evil.example",
                 "Content-Type": "application/json"})
        assert r.status == 403, (auth, r.status, r.body)
        r = raw(d.port, "GET", "/api/v1/jobs", headers={"Authorization": auth},
                host="attacker.example")
        assert r.status == 421
    r = raw(d.port, "POST", "/api/v1/jobs/hello/trigger", "{}",
            {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    assert r.status == 202
    assert len(runs_of(d, "hello")) == 1


# ---- slow clients (slowloris) ----

SLOW = """
http:
  listen: "127.0.0.1:%(port)d"
  admin_token_file: %(token)s
jobs:
  tick: {every: 1s, run: ["true"], keep_runs: 1000}
"""


class Trickler:
    """n connections from address src, each sending a request head one
    header line at a time, every `every` seconds, and reconnecting when the
    server closes it (as a real attacker does)."""

    HEAD = b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    def __init__(self, port, src, n, every):
        self.port, self.src, self.n, self.every = port, src, n, every
        self.socks = [None] * n
        self.connects = 0
        self.closed_by_server = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, i):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(5)
        try:
            s.bind((self.src, 0))
            s.connect(("127.0.0.1", self.port))
            s.sendall(self.HEAD)
            s.setblocking(False)
            self.connects += 1
            self.socks[i] = s
        except OSError:
            s.close()
            self.socks[i] = None

    def alive(self, s):
        """False once the server has closed the connection."""
        try:
            return s.recv(4096) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def run(self):
        for i in range(self.n):
            if self.stop.is_set():
                return
            self.open(i)
        while not self.stop.wait(self.every):
            for i in range(self.n):
                s = self.socks[i]
                if s is not None and self.alive(s):
                    try:
                        s.send(b"X-Slow-%d: %d\r\n" % (i, time.monotonic_ns()))
                        continue
                    except OSError:
                        pass
                if s is not None:
                    self.closed_by_server += 1
                    s.close()
                self.open(i)

    def start(self):
        self.thread.start()
        return self

    def close(self):
        self.stop.set()
        self.thread.join(timeout=60)
        for s in self.socks:
            if s is not None:
                s.close()


@pytest.fixture
def slow_target(daemon, tmp_path):
    token = tmp_path / "admin.token"
    token.write_text(ADMIN + "\n")
    token.chmod(0o600)
    port = free_port()
    d = daemon(SLOW % {"port": port, "token": token})
    d.port = port
    wait_for(lambda: raw(port, "GET", "/api/v1/health").status == 200, what="the API on TCP")
    return d


def valid_client(port, seconds, every=0.5):
    """Requests GET /api/v1/status with the admin token from 127.0.0.1 for
    `seconds`; returns (answered, failed, slowest answer in seconds)."""
    answered, failed, slowest = 0, [], 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            r = raw(port, "GET", "/api/v1/status",
                    headers={"Authorization": f"Bearer {ADMIN}"}, timeout=20)
            if r.status == 200 and r.json()["running"]:
                answered += 1
            else:
                failed.append(r.status)
        except OSError as e:
            failed.append(type(e).__name__)
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(every)
    return answered, failed, slowest


def test_slowloris_from_one_address_does_not_lock_others_out(slow_target):
    """400 connections from 127.0.0.2 trickle their request heads; a client
    with a valid token on 127.0.0.1 is answered all along, and the jobs keep
    firing."""
    d = slow_target
    attacker = Trickler(d.port, "127.0.0.2", 400, every=8).start()
    try:
        wait_for(lambda: attacker.connects >= 400, timeout=60, what="the attacker's connections")
        t0 = time.time()
        answered, failed, slowest = valid_client(d.port, 25)
        t1 = time.time()
    finally:
        attacker.close()
    # Scheduling went on: `tick` (every 1 s) fired through the attack.
    fired = [r for r in d.history("tick")
             if t0 <= datetime.fromisoformat(r["scheduled_at"]).timestamp() <= t1]
    late = [datetime.fromisoformat(r["started_at"]).timestamp() -
            datetime.fromisoformat(r["scheduled_at"]).timestamp()
            for r in fired if r["started_at"]]
    print(f"\nslowloris from 127.0.0.2: attacker connects={attacker.connects} "
          f"closed by the server={attacker.closed_by_server}; valid client: answered={answered} "
          f"failed={len(failed)} {failed[:5]} slowest={slowest:.2f}s; "
          f"tick fired {len(fired)} times in {t1 - t0:.0f}s, "
          f"latest start {max(late, default=0):.3f}s after its instant")
    assert not failed, failed
    assert answered >= 10
    # The head deadline cut the attacker's trickling connections.
    assert attacker.closed_by_server > 0
    assert len(fired) >= (t1 - t0) / 3, len(fired)


def test_slow_request_head_is_cut_at_its_deadline(slow_target):
    """Connections from the client's own address, each sending a header line
    every second (the idle timeout never strikes): the server ends each
    before its head is complete, and the client is answered afterwards."""
    d = slow_target
    flood = Trickler(d.port, "127.0.0.1", 20, every=1).start()
    try:
        wait_for(lambda: flood.connects >= 20, timeout=60, what="the connections")
        wait_for(lambda: flood.closed_by_server >= 20, timeout=60,
                 what="the server to end every trickling connection")
    finally:
        flood.close()
    print(f"\nsame-address trickle: connects={flood.connects} "
          f"closed by the server={flood.closed_by_server}")
    r = raw(d.port, "GET", "/api/v1/status", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status == 200
    assert "event=http_slow_request" in d.log()


def test_long_answers_and_kept_alive_connections_are_not_cut(daemon):
    """The deadline is for receiving a request: a log followed for longer
    than it, and a kept-alive connection that asks again every 2 s, keep
    going."""
    port = free_port()
    d = daemon(f"""
        http: {{listen: "127.0.0.1:{port}"}}
        jobs:
          slow: {{run: ["sh", "-c", "for i in $(seq 1 14); do echo tick $i; sleep 1; done"]}}
    """)
    wait_for(lambda: raw(port, "GET", "/api/v1/health").status == 200, what="the API on TCP")
    r = http("POST", "/api/v1/jobs/slow/trigger", sock=os.path.join(d.state, "sked.sock"))
    run_id = r.json()["run_id"]
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(f"GET /api/v1/runs/{run_id}/log?follow=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
              .encode())
    # Meanwhile one kept-alive connection asks every 2 s for 14 s.
    conn = httpc.HTTPConnection("127.0.0.1", port, timeout=30)
    answered = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 14:
        conn.request("GET", "/api/v1/health", headers={"Host": "127.0.0.1"})
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 200
        answered += 1
        time.sleep(2)
    conn.close()
    buf = recv_until(s, b"event: end")
    s.close()
    assert b"tick 14" in buf and b"event: end" in buf, buf[-300:]
    assert answered >= 5
