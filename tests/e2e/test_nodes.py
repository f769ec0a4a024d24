"""Nodes: GET /api/v1/nodes, the node in status and runs, `sked status`'s
nodes section, and a run's log fetched through another node's API.

The SQLite test runs everywhere; the others need PostgreSQL (`make e2e-pg`,
or tests/pg.sh run ... with SKED_TEST_PG_URL) and skip without it.
"""
import http.client as http_client
import json
import os
import re
import signal
import subprocess
import threading

import pytest

from conftest import SKED
from harness import Daemon, done, free_port, http, pg_store, wait_for

needs_pg = pytest.mark.skipif(not os.environ.get("SKED_TEST_PG_URL"),
                              reason="needs PostgreSQL (make e2e-pg)")

ADMIN = "admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def sock_of(d):
    return os.path.join(d.state, "sked.sock")


def api(d, path, headers=None):
    return http("GET", path, sock=sock_of(d), headers=headers)


def finish(*daemons):
    """Stops the daemons; under `make asan` their sanitizer reports fail the test."""
    reports = []
    for d in daemons:
        if d is None:
            continue
        if d.proc and d.proc.poll() is None:
            d.stop()
        log = d.log()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if mark in log:
                at = log.index(mark)
                reports.append(log[max(0, at - 200):at + 3000])
    assert not reports, "sanitizer report from a daemon:\n" + "\n---\n".join(reports)


def trigger(d, job):
    out = d.cli("trigger", job).stdout
    return int(re.search(r"run (\d+)", out).group(1))


def test_nodes_on_sqlite_one_node_itself_leading(tmp_path):
    # A SQLite store whatever SKED_TEST_PG_URL says: one node per file.
    d = Daemon(tmp_path, """
        jobs:
          hello: {run: [echo, hi]}
    """, store=str(tmp_path / "store.db"), args=["--node", "solo"])
    try:
        r = api(d, "/api/v1/nodes")
        assert r.status == 200, r.body
        body = r.json()
        assert body["node"] == "solo" and body["lease_ms"] > 0
        assert len(body["nodes"]) == 1
        n = body["nodes"][0]
        assert n["name"] == "solo" and n["self"] is True and n["leader"] is True
        assert n["alive"] is True and n["pid"] == d.proc.pid and n["labels"] == []
        assert n["max_parallel"] >= 1 and n["running"] == 0 and n["api"] is None
        assert set(n) == {"name", "labels", "max_parallel", "api", "pid", "version",
                          "started_at", "seen_at", "age_ms", "alive", "leader", "running",
                          "self"}
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", n["started_at"])

        st = api(d, "/api/v1/status").json()
        assert st["node"] == "solo" and st["nodes"] == 1 and st["store"] == "sqlite"

        run_id = trigger(d, "hello")
        wait_for(lambda: done(api(d, f"/api/v1/runs/{run_id}").json()), what="the run to end")
        run = api(d, f"/api/v1/runs/{run_id}").json()
        assert "node" in run and run["node"] is None
        assert all("node" in x for x in api(d, "/api/v1/runs").json()["runs"])
        log = api(d, f"/api/v1/runs/{run_id}/log")
        assert log.status == 200 and b"hi" in log.body and "x-sked-node" not in log.headers

        # One node on SQLite: no nodes section, the output as it was.
        out = d.cli("status").stdout
        assert "nodes:" not in out and out.startswith("sked is running (pid ")
        assert "nodes" not in json.loads(d.cli("status", "--json").stdout)
        # Only GET.
        assert http("POST", "/api/v1/nodes", sock=sock_of(d)).status == 405
    finally:
        finish(d)


@needs_pg
def test_two_nodes_listed_one_leader_and_status_shows_them(tmp_path):
    store = pg_store(str(tmp_path))
    yaml = """
        cluster:
          nodes:
            b: {labels: [gpu, big], max_parallel: 3}
        jobs:
          idle: {run: ["true"]}
    """
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Daemon(tmp_path / "a", yaml, store=store, args=["--node", "a"])
    b = None
    try:
        b = Daemon(tmp_path / "b", yaml, store=store, args=["--node", "b"])

        def both():
            r = api(a, "/api/v1/nodes").json()
            return r if {n["name"] for n in r["nodes"]} == {"a", "b"} else None
        body = wait_for(both, what="both nodes in a's list")
        assert body["node"] == "a"
        by = {n["name"]: n for n in body["nodes"]}
        assert [n["name"] for n in body["nodes"]] == ["a", "b"]
        assert by["a"]["self"] is True and by["b"]["self"] is False
        assert by["b"]["labels"] == ["gpu", "big"] and by["b"]["max_parallel"] == 3
        assert by["b"]["pid"] == b.proc.pid and by["a"]["pid"] == a.proc.pid
        assert all(n["alive"] for n in body["nodes"])
        # a started first: it leads (its heart-beat says so within a beat).
        wait_for(lambda: [n["leader"] for n in api(b, "/api/v1/nodes").json()["nodes"]]
                 == [True, False], what="a to be the one leader")
        bb = api(b, "/api/v1/nodes").json()
        assert bb["node"] == "b" and [n["self"] for n in bb["nodes"]] == [False, True]

        st = api(a, "/api/v1/status").json()
        assert st["node"] == "a" and st["nodes"] == 2 and st["store"] == "postgres"

        out = a.cli("status").stdout
        assert "nodes:" in out, out
        lines = out[out.index("nodes:"):].splitlines()[1:]
        la = next(x for x in lines if x.split()[0] == "a")
        lb = next(x for x in lines if x.split()[0] == "b")
        assert "leader" in la and "alive" in la and "(this node)" in la
        assert "standby" in lb and "alive" in lb and "0/3" in lb and "gpu,big" in lb
        assert out.startswith("sked is running (pid ")
        js = json.loads(a.cli("status", "--json").stdout)
        assert {n["name"] for n in js["nodes"]} == {"a", "b"}

        # A node that stops beating is shown silent once the lease is over.
        b.kill9()
        wait_for(lambda: not next(n for n in api(a, "/api/v1/nodes").json()["nodes"]
                                  if n["name"] == "b")["alive"], timeout=40,
                 what="b to count as silent")
        assert re.search(r"^\s+b\s+standby\s+silent \d+s", a.cli("status").stdout, re.M)
        assert api(a, "/api/v1/status").json()["nodes"] == 1
    finally:
        finish(b, a)


def cluster_yaml(port, pa, pb, b_api=True, b_labels="[onlyb]"):
    """The same sked.yaml on both nodes but for http.listen (none: port None)."""
    b_line = f"api: http://127.0.0.1:{pb}, " if b_api else ""
    listen = f'http: {{listen: "127.0.0.1:{port}"}}' if port else ""
    return f"""
        {listen}
        cluster:
          nodes:
            a: {{api: "http://127.0.0.1:{pa}"}}
            b: {{{b_line}labels: {b_labels}}}
        jobs:
          pinned:
            run: [sh, -c, "for i in 1 2 3; do echo hello-from-b $i; done"]
            nodes: [onlyb]
          later: {{run: [echo, later], nodes: [late]}}
    """


@needs_pg
def test_log_of_a_run_on_another_node_is_fetched_from_it(tmp_path):
    store = pg_store(str(tmp_path))
    pa, pb = free_port(), free_port()
    env = {"SKED_ADMIN_TOKEN": ADMIN}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Daemon(tmp_path / "a", cluster_yaml(pa, pa, pb), store=store, env=env,
               args=["--node", "a"])
    b = None
    try:
        b = Daemon(tmp_path / "b", cluster_yaml(pb, pa, pb), store=store, env=env,
                   args=["--node", "b"])
        wait_for(lambda: len(api(a, "/api/v1/nodes").json()["nodes"]) == 2,
                 what="both nodes to beat")
        run_id = trigger(a, "pinned")
        run = wait_for(lambda: (lambda r: r if done(r) else None)(
            api(a, f"/api/v1/runs/{run_id}").json()), timeout=30, what="the pinned run to end")
        assert run["status"] == "succeeded", run
        assert run["node"] == "b" and run["has_log"] is True

        # b has the file: it answers itself.
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pb, headers=AUTH)
        assert r.status == 200 and b"hello-from-b 3" in r.body
        assert "x-sked-node" not in r.headers
        whole = r.body

        # a fetches it from b: over TCP with the caller's token ...
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pa, headers=AUTH)
        assert r.status == 200, r.body
        assert r.body == whole and r.headers["x-sked-node"] == "b"
        assert r.headers["content-type"].startswith("text/plain")
        # ... with a range ...
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pa,
                 headers={**AUTH, "Range": "bytes=0-9"})
        assert r.status == 206 and r.body == whole[:10]
        assert r.headers["content-range"] == f"bytes 0-9/{len(whole)}"
        assert r.headers["x-sked-node"] == "b"
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pa,
                 headers={**AUTH, "Range": f"bytes={len(whole) + 5}-"})
        assert r.status == 416 and r.headers["x-sked-node"] == "b"
        # ... and over its control socket (no token there: a shows its own).
        r = api(a, f"/api/v1/runs/{run_id}/log")
        assert r.status == 200 and r.body == whole and r.headers["x-sked-node"] == "b"
        # Without a token a refuses before anything else.
        assert http("GET", f"/api/v1/runs/{run_id}/log", port=pa).status == 401

        # A live stream is not relayed: a says where to follow it.
        r = http("GET", f"/api/v1/runs/{run_id}/log?follow=1", port=pa, headers=AUTH)
        assert r.status == 409, r.body
        body = r.json()
        assert body["node"] == "b"
        assert body["url"] == f"http://127.0.0.1:{pb}/api/v1/runs/{run_id}/log?follow=1"
        assert "node b" in body["error"] and body["url"] in body["error"]
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pa,
                 headers={**AUTH, "Accept": "text/event-stream"})
        assert r.status == 409

        # A follower that started before the run went to a node: told where it is.
        later = trigger(a, "later")  # pinned to a label no node has yet: it waits
        got = {}

        def follow():
            conn = http_client.HTTPConnection("127.0.0.1", pa, timeout=60)
            conn.request("GET", f"/api/v1/runs/{later}/log", headers={
                **AUTH, "Accept": "text/event-stream"})
            resp = got["resp"] = conn.getresponse()
            data = b""
            while b"event: node" not in data or not data.endswith(b"\n\n"):
                chunk = resp.read1(4096)
                if not chunk:
                    break
                data += chunk
            got["data"] = data.decode()
            conn.close()
        t = threading.Thread(target=follow, daemon=True)
        t.start()
        wait_for(lambda: "resp" in got, what="the follow stream to open")
        assert got["resp"].status == 200
        b.write(cluster_yaml(pb, pa, pb, b_labels="[onlyb, late]"))
        b.signal(signal.SIGHUP)
        t.join(60)
        assert not t.is_alive(), "the follower of a run claimed by b ended"
        assert "event: node" in got["data"], got["data"]
        ev = json.loads(got["data"].split("event: node\ndata: ", 1)[1].split("\n", 1)[0])
        assert ev == {"node": "b",
                      "url": f"http://127.0.0.1:{pb}/api/v1/runs/{later}/log?follow=1"}

        # A request another node passed on is never passed on again.
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pa,
                 headers={**AUTH, "X-Sked-Proxied": "1"})
        assert r.status == 404 and r.json()["node"] == "b"

        # b is gone: a says where the log is, and that b cannot be reached.
        b.stop()
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pa, headers=AUTH)
        assert r.status == 502, r.body
        body = r.json()
        assert body["node"] == "b" and "node b" in body["error"], body
        assert f"127.0.0.1:{pb}" in body["error"]

        # b again, without an API address: a says so.
        b.write(cluster_yaml(None, pa, pb, b_api=False))
        b.start()
        wait_for(lambda: next(n for n in api(a, "/api/v1/nodes").json()["nodes"]
                              if n["name"] == "b")["api"] is None,
                 what="b to beat without an API address")
        r = http("GET", f"/api/v1/runs/{run_id}/log", port=pa, headers=AUTH)
        assert r.status == 404, r.body
        body = r.json()
        assert body["node"] == "b"
        assert body["error"] == (f"the log of run {run_id} is on node b, which has no API "
                                 "address (cluster.nodes.b.api)")
        r = http("GET", f"/api/v1/runs/{run_id}/log?follow=1", port=pa, headers=AUTH)
        assert r.status == 409 and r.json()["url"] is None
    finally:
        finish(b, a)


@needs_pg
@pytest.mark.skipif(bool(os.environ.get("SKED_SANITIZED")), reason="no browser under sanitizers")
def test_dashboard_shows_nodes_and_a_run_on_another_node(tmp_path):
    cdp = pytest.importorskip("cdp")
    if not os.access(cdp.CHROMIUM, os.X_OK):
        pytest.skip(f"{cdp.CHROMIUM} is not installed")
    store = pg_store(str(tmp_path))
    pa, pb = free_port(), free_port()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    short = "cluster:\n          lease_timeout: 3s\n"  # b turns silent soon

    def yaml(port):
        return cluster_yaml(port, pa, pb).replace("cluster:\n", short)
    a = Daemon(tmp_path / "a", yaml(pa), store=store, args=["--node", "a"])
    b = None
    browser = None
    try:
        b = Daemon(tmp_path / "b", yaml(pb), store=store, args=["--node", "b"])
        wait_for(lambda: len(api(a, "/api/v1/nodes").json()["nodes"]) == 2, what="both nodes")
        run_id = trigger(a, "pinned")
        wait_for(lambda: done(api(a, f"/api/v1/runs/{run_id}").json()), timeout=30,
                 what="the pinned run to end")
        base = f"http://127.0.0.1:{pa}/"
        browser = cdp.Browser(width=1280, height=800)
        br = browser
        br.navigate(base)
        br.wait_for("document.querySelectorAll('#nodes tr[data-node]').length === 2",
                    what="the nodes panel with a and b")
        row_a = "(document.querySelector('#nodes tr[data-node=a]').textContent)"
        row_b = "(document.querySelector('#nodes tr[data-node=b]').textContent)"
        br.wait_for(f"{row_a}.includes('leader')", what="a shown as the leader")
        assert "this node" in br.evaluate(row_a)
        assert "standby" in br.evaluate(row_b) and "onlyb" in br.evaluate(row_b)
        assert br.evaluate("document.querySelector('#nodes .tag.silent')") is None

        # The run page: its node, and its output fetched from b.
        br.navigate(base + f"#/runs/{run_id}")
        br.wait_for("document.querySelector('#log') && "
                    "document.querySelector('#log').textContent.includes('hello-from-b 3')",
                    timeout=20, what="b's output on a's run page")
        assert "from node b" in br.evaluate("document.querySelector('#log-state').textContent")
        facts = br.evaluate("document.querySelector('.facts').textContent")
        assert "Node" in facts and "b" in facts

        # b stops beating: its row turns silent.
        b.kill9()
        br.navigate(base)
        br.wait_for("!!document.querySelector('#nodes tr.silent[data-node=b] .tag.silent')",
                    timeout=30, what="b shown silent")
        art = os.path.join(os.path.dirname(__file__), "..", "..", "build", "artifacts", "web")
        os.makedirs(art, exist_ok=True)
        br.screenshot(os.path.join(art, "nodes-light.png"))
        assert br.errors() == [], "no JavaScript errors"
    finally:
        if browser:
            browser.close()
        finish(b, a)


@needs_pg
def test_sked_logs_prints_a_run_of_another_node(tmp_path):
    store = pg_store(str(tmp_path))
    pa, pb = free_port(), free_port()
    env = {"SKED_ADMIN_TOKEN": ADMIN}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    slow = """
          slowb:
            run: [sh, -c, "echo slow-start; sleep 60"]
            nodes: [onlyb]
    """

    def yaml(port):
        return cluster_yaml(port, pa, pb).rstrip() + "\n" + slow.strip("\n") + "\n"
    a = Daemon(tmp_path / "a", yaml(pa), store=store, env=env, args=["--node", "a"])
    b = None
    try:
        b = Daemon(tmp_path / "b", yaml(pb), store=store, env=env, args=["--node", "b"])
        wait_for(lambda: len(api(a, "/api/v1/nodes").json()["nodes"]) == 2,
                 what="both nodes to beat")
        run_id = trigger(a, "pinned")
        run = wait_for(lambda: (lambda r: r if done(r) else None)(
            api(a, f"/api/v1/runs/{run_id}").json()), timeout=30, what="the pinned run to end")
        assert run["status"] == "succeeded" and run["node"] == "b", run

        # On b the file is local; on a it comes through a's daemon from b: the same bytes.
        here = b.cli("logs", "pinned", "--run", str(run_id)).stdout
        assert "hello-from-b 3" in here
        r = a.cli("logs", "pinned", "--run", str(run_id))
        assert r.stdout == here and r.stderr == ""
        assert a.cli("logs", "pinned").stdout == here  # the newest run with a log
        # -f on a run that has ended: nothing to follow, the log is printed.
        assert a.cli("logs", "pinned", "--run", str(run_id), "-f").stdout == here

        # -f on a run still going on b: a's daemon relays it, range by range,
        # until the run ends.
        going = trigger(a, "slowb")
        wait_for(lambda: api(a, f"/api/v1/runs/{going}").json()["status"] == "running",
                 timeout=30, what="the slow run to start on b")
        # Claimed is "running" before b has attached its log ("no output"
        # until then): ask again until the line is there.
        wait_for(lambda: "slow-start" in a.cli("logs", "slowb", "--run", str(going),
                                               check=False).stdout,
                 what="the slow run's first line, read from a")
        follower = subprocess.Popen([SKED, "logs", "slowb", "--run", str(going), "-f", "-c",
                                     a.config], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=a.env)
        try:
            first = follower.stdout.readline()
            assert "slow-start" in first, first
            a.cli("cancel", str(going))
            out, err = follower.communicate(timeout=60)
        finally:
            if follower.poll() is None:
                follower.kill()
        assert follower.returncode == 0, err
        wait_for(lambda: done(api(a, f"/api/v1/runs/{going}").json()), timeout=30,
                 what="the slow run to be cancelled")

        # b stopped: a's daemon cannot reach it, and the command says so.
        b.stop()
        r = a.cli("logs", "pinned", "--run", str(run_id), check=False)
        assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
        assert f"run {run_id} is on node b" in r.stderr, r.stderr
        assert f"127.0.0.1:{pb}" in r.stderr

        # No daemon on a either, and no file here: start one, or ask b.
        a.stop()
        path = os.path.join(b.state, "logs", "pinned", f"{run_id}.log")
        os.rename(path, path + ".away")
        try:
            r = a.cli("logs", "pinned", "--run", str(run_id), check=False)
        finally:
            os.rename(path + ".away", path)
        assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
        assert r.stderr == (f"sked: logs: the log of run {run_id} is on node b; start the "
                            "daemon here or run `sked logs` on b\n"), r.stderr
        # The file on this disk after all (the same machine): read as it is.
        assert a.cli("logs", "pinned", "--run", str(run_id)).stdout == here
    finally:
        finish(b, a)
