"""A real sked daemon in a temporary folder, driven through its command line.

Daemon(tmp_path, yaml_text) writes sked.yaml, starts `sked run`, and offers
helpers to run CLI commands against it and to wait for conditions. Waits are
generous (the test machine is slow and noisy); nothing asserts a duration
upper bound tighter than several seconds.
"""
import json
import os
import signal
import subprocess
import textwrap
import time

from conftest import SKED, run_sked


def wait_for(pred, timeout=20.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; returns it, or fails."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")


def assert_job_errors(folder, cases):
    """For each (line, want): sked.yaml with one job `a` holding that line
    (and `run: [true]`) fails `sked validate` with want in its errors."""
    path = os.path.join(str(folder), "sked.yaml")
    for line, want in cases:
        with open(path, "w") as f:
            f.write("state_dir: .sked\njobs:\n  a:\n    %s\n    run: [true]\n" % line)
        r = run_sked("validate", "-c", path)
        assert r.returncode == 1, (line, r.stdout, r.stderr)
        assert want in r.stderr, (line, r.stderr)


def pg_store(folder):
    """With SKED_TEST_PG_URL set (tests/pg.sh), a fresh schema on that server
    for the daemon of folder, as a store URL; else None (SQLite)."""
    url = os.environ.get("SKED_TEST_PG_URL")
    if not url:
        return None
    import hashlib
    schema = "e2e_" + hashlib.sha1(folder.encode()).hexdigest()[:16]
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
                    f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"],
                   check=True, capture_output=True)
    return url + ("&" if "?" in url else "?") + "options=-csearch_path%3D" + schema


class Daemon:
    def __init__(self, folder, yaml_text, env=None, start=True, wrap=None, store=None,
                 args=None):
        self.dir = str(folder)
        self.config = os.path.join(self.dir, "sked.yaml")
        self.state = os.path.join(self.dir, ".sked")
        self.env = dict(os.environ)
        self.env.pop("SKED_CONFIG", None)
        # Every daemon of a test is a node of its own (on PostgreSQL, nodes
        # share a store and must have distinct names).
        import hashlib
        self.env["SKED_NODE"] = (os.path.basename(self.dir)[:40] + "-" +
                                 hashlib.sha1(self.dir.encode()).hexdigest()[:8])
        if env:
            self.env.update(env)
        self.wrap = wrap or []
        self.args = list(args or [])  # more arguments for `sked run` (e.g. ["--node", "a"])
        self.proc = None
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.store = store or pg_store(self.dir)
        self.write(yaml_text)
        if start:
            self.start()

    def write(self, yaml_text):
        text = textwrap.dedent(yaml_text)
        line = f'store: "{self.store}"\n'
        if self.store and not text.startswith(line):  # `make e2e-pg`: the same tests on PostgreSQL
            text = line + text
        tmp = self.config + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config)

    def start(self, wait=True):
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.wrap + [SKED, "run", "-c", self.config] + self.args,
                                     stdout=self.logf, stderr=self.logf, env=self.env,
                                     cwd=self.dir)
        if wait:
            # The socket of a killed daemon may still be there: wait for this
            # daemon's own start line instead.
            marks = (f"event=started_daemon pid={self.proc.pid} ",
                     f'"event":"started_daemon","pid":{self.proc.pid},')  # log_format: json
            try:
                wait_for(lambda: any(m in self.log() for m in marks) or
                         self.proc.poll() is not None, what="the daemon to start")
            except AssertionError:
                self.proc.kill()  # never leave a half-started daemon behind
                self.proc.wait()
                raise AssertionError("the daemon did not start in time:\n" + self.log())
            assert self.proc.poll() is None, f"daemon exited early:\n{self.log()}"
        return self

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cli(self, *args, check=True, timeout=60):
        r = run_sked(*args, "-c", self.config, env=self.env, timeout=timeout)
        if check:
            assert r.returncode == 0, f"sked {' '.join(args)} failed ({r.returncode}):\n{r.stderr}"
        return r

    def history(self, job=None, n=100000):
        args = ["history", "--json", "-n", str(n)]
        if job:
            args.insert(1, job)
        return json.loads(self.cli(*args).stdout)

    def wait_runs(self, job, pred, timeout=30.0, what=None):
        return wait_for(lambda: (lambda h: h if pred(h) else None)(self.history(job)),
                        timeout=timeout, interval=0.1, what=what or f"runs of {job}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("daemon did not stop on SIGTERM:\n" + self.log())
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()


def done(run):
    return run["status"] not in ("queued", "running")


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_until(sock, marker):
    """Reads from sock until marker has arrived or the peer closed; all of it."""
    buf = b""
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def http(method, path, body=None, headers=None, port=None, sock=None, timeout=30):
    """One HTTP request to the daemon's API over TCP (port) or its control
    socket (sock); returns a Reply whatever the status."""
    import http.client
    import socket

    if sock:
        class UnixConnection(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(sock)
        conn = UnixConnection("sked", timeout=timeout)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()
