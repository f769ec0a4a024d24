"""Several nodes run jobs (`make e2e-pg`): the leader dispatches, every node
claims what its labels allow up to its own max_parallel, a dead node's runs
are interrupted and retried elsewhere, and cancels reach the node that runs
the job."""
import os
import time
from datetime import datetime

import pytest

from harness import Daemon, done, http, pg_store, wait_for

pytestmark = pytest.mark.skipif(not os.environ.get("SKED_TEST_PG_URL"),
                                reason="needs PostgreSQL (make e2e-pg)")


def ts(iso):
    return datetime.fromisoformat(iso).timestamp()


def cluster(tmp_path, yaml, names=("alpha", "beta")):
    store = pg_store(str(tmp_path))
    nodes = []
    try:
        for name in names:
            (tmp_path / name).mkdir()
            nodes.append(Daemon(tmp_path / name, yaml, store=store, env={"SKED_NODE": name}))
            if len(nodes) == 1:
                wait_for(lambda: "event=started_daemon" in nodes[0].log(), what="the leader")
    except BaseException:
        for n in nodes:
            n.stop()
        raise
    return nodes


def stop_all(nodes):
    for n in nodes:
        if n.proc and n.proc.poll() is None:
            n.stop()


def overlaps(runs):
    """The largest number of runs whose [started, ended] intervals overlap."""
    ev = []
    for r in runs:
        if r["started_at"] and r["ended_at"]:
            ev.append((ts(r["started_at"]), 1))
            ev.append((ts(r["ended_at"]), -1))
    best = cur = 0
    for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
        cur += d
        best = max(best, cur)
    return best


PINNED = """
    max_parallel: 8
    cluster:
      lease_timeout: 3s
      nodes:
        alpha: {labels: [gpu], max_parallel: 1}
        beta: {max_parallel: 1}
    jobs:
      pinned: {every: 1s, nodes: [gpu], run: ["true"]}
      spread: {every: 1s, overlap: allow, run: [sleep, "1.5"]}
"""


def test_labels_pin_and_every_node_claims_within_its_limit(tmp_path):
    alpha, beta = cluster(tmp_path, PINNED)
    try:
        alpha.wait_runs("spread", lambda h: len({r.get("node") for r in h if done(r)}) >= 2 and
                        len([r for r in h if done(r)]) >= 6, timeout=40,
                        what="spread to run on both nodes")
        alpha.wait_runs("pinned", lambda h: len([r for r in h if done(r) and r["started_at"]])
                        >= 3)
        # Runs that started (a fire while the last one still waits for
        # alpha's one slot is skipped by overlap, on no node).
        pinned = [r for r in alpha.history("pinned") if r["started_at"]]
        spread = [r for r in alpha.history("spread") if r["started_at"]]
        # Only a node with the label runs the pinned job.
        assert {r["node"] for r in pinned} == {"alpha"}, pinned
        assert {r["node"] for r in spread} >= {"alpha", "beta"}
        # Each node runs one run at a time (its own max_parallel: 1), the
        # pinned job's included.
        for name in ("alpha", "beta"):
            mine = [r for r in pinned + spread if r["node"] == name and done(r)]
            assert overlaps(mine) <= 1, name
        ended = [r for r in pinned + spread if done(r)]
        assert all(r["status"] == "succeeded" for r in ended), \
            [r for r in ended if r["status"] != "succeeded"]
    finally:
        stop_all([beta, alpha])


LIMIT = """
    max_parallel: 1
    cluster: {lease_timeout: 3s}
    jobs:
      a: {every: 1s, overlap: allow, run: [sleep, "0.7"]}
      b: {every: 1s, overlap: allow, run: [sleep, "0.7"]}
"""


def test_max_parallel_holds_across_the_cluster(tmp_path):
    nodes = cluster(tmp_path, LIMIT)
    try:
        nodes[0].wait_runs(None, lambda h: len([r for r in h if done(r)]) >= 6, timeout=40)
        runs = [r for r in nodes[0].history() if done(r)]
        assert overlaps(runs) <= 1
    finally:
        stop_all(nodes[::-1])


DEAD = """
    cluster:
      lease_timeout: 3s
      nodes:
        beta: {labels: [slow]}
        gamma: {labels: [slow]}
    jobs:
      retried: {nodes: [slow], run: [sleep, "600"], retries: 1, retry_delay: 1s}
"""


def test_a_dead_nodes_run_is_interrupted_and_retried_on_another(tmp_path):
    nodes = cluster(tmp_path, DEAD, names=("alpha", "beta", "gamma"))
    byname = dict(zip(("alpha", "beta", "gamma"), nodes))
    alpha = nodes[0]
    try:
        alpha.cli("trigger", "retried")
        first = alpha.wait_runs("retried", lambda h: [r for r in h if r["status"] == "running"],
                                what="retried to run")[0]
        assert first["node"] in ("beta", "gamma")
        victim = byname[first["node"]]
        other = "gamma" if first["node"] == "beta" else "beta"
        killed = time.time()
        victim.kill9()
        # The leader counts the victim dead after the lease (3 s) and retries
        # the run on the other node with the label.
        runs = alpha.wait_runs("retried", lambda h: any(r["attempt"] == 2 and r["status"] ==
                                                         "running" for r in h), timeout=40,
                               what="the retry on a live node")
        a1 = [r for r in runs if r["attempt"] == 1][0]
        a2 = [r for r in runs if r["attempt"] == 2][0]
        assert a1["status"] == "interrupted" and first["node"] in (a1["reason"] or ""), a1
        assert a2["node"] == other, a2
        print(f"dead node: the retry started {ts(a2['started_at']) - killed:.2f} s after the kill")
        # Whoever leads by then saw the node go (on a busy machine the 3 s
        # lease may have moved the lead off alpha meanwhile).
        assert any("event=node_lost" in n.log() for n in nodes)
    finally:
        stop_all(nodes[::-1])


CANCEL = """
    cluster:
      nodes:
        beta: {labels: [there]}
    jobs:
      far: {nodes: [there], run: [sleep, "600"]}
"""


def test_cancel_reaches_the_node_that_runs_it(tmp_path):
    alpha, beta = cluster(tmp_path, CANCEL)
    try:
        alpha.cli("trigger", "far")
        run = alpha.wait_runs("far", lambda h: [r for r in h if r["status"] == "running"])[0]
        assert run["node"] == "beta"
        alpha.cli("cancel", str(run["id"]))
        runs = alpha.wait_runs("far", lambda h: all(done(r) for r in h), timeout=30)
        assert runs[0]["status"] == "killed" and runs[0]["reason"] == "cancelled", runs[0]
        assert "event=cancelling" in beta.log()
    finally:
        stop_all([beta, alpha])


WORKFLOW = """
    cluster:
      nodes:
        beta: {labels: [etl], max_parallel: 4}
    jobs:
      etl:
        nodes: [etl]
        params: {day: monday}
        steps:
          extract: {run: [sh, -c, 'echo rows=42 >> "$SKED_OUTPUT"']}
          load:
            needs: [extract]
            run: [sh, -c, 'test "$SKED_OUT_EXTRACT_ROWS" = 42 && test "$SKED_PARAM_DAY" = friday']
"""


def test_a_workflows_steps_pass_outputs_between_nodes(tmp_path):
    alpha, beta = cluster(tmp_path, WORKFLOW)
    try:
        for _ in range(3):
            alpha.cli("trigger", "etl", "--param", "day=friday")
        # Three workflow runs and their steps, all ended (the history lists both).
        runs = alpha.wait_runs("etl", lambda h: len([r for r in h if not r["step"]]) >= 3 and
                               all(done(r) for r in h), timeout=40)
        assert all(r["status"] == "succeeded" for r in runs), runs
        # The leader (alpha) ran the workflows; beta, the only node with the
        # label, ran every step: outputs went beta -> store -> alpha -> beta.
        steps = [r for r in alpha.history("etl") if r["step"]]
        assert steps and {r["node"] for r in steps} == {"beta"}, steps
        # Each node cleans up the $SKED_OUTPUT files of the steps it ran.
        def leftovers():
            return [os.path.join(dp, f) for n in (alpha, beta)
                    for dp, _, fs in os.walk(os.path.join(n.state, "runs")) for f in fs + [""]
                    if dp != os.path.join(n.state, "runs")]
        wait_for(lambda: not leftovers(), what="the step output folders to go")
    finally:
        stop_all([beta, alpha])


KEEP = """
    jobs:
      long: {run: [sh, -c, "sleep 4; echo done"]}
"""


def tcp_ports_of(pid):
    """The local TCP ports of process pid's sockets (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def psql(sql):
    import subprocess
    return subprocess.run(["psql", "-q", "-At", os.environ["SKED_TEST_PG_URL"], "-c", sql],
                          check=True, capture_output=True, text=True).stdout


def test_a_lost_connection_keeps_the_children_and_records_them_later(tmp_path):
    (alpha,) = cluster(tmp_path, KEEP, names=("alpha",))
    try:
        alpha.cli("trigger", "long")
        run = alpha.wait_runs("long", lambda h: [r for r in h if r["status"] == "running"])[0]
        # Every session of the store's node ends, as in a database restart:
        # alpha's own sessions only, found by their client ports (the
        # server is shared with the tests running beside this one, and
        # ending their sessions made them lose their leaders).
        ports = ",".join(str(p) for p in tcp_ports_of(alpha.proc.pid))
        assert ports, "alpha has no connection to the server"
        psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             f"WHERE client_port IN ({ports}) AND client_addr = '127.0.0.1'")
        runs = alpha.wait_runs("long", lambda h: all(done(r) for r in h), timeout=30)
        assert [(r["id"], r["status"], r["attempt"]) for r in runs] == \
            [(run["id"], "succeeded", 1)], runs
        wait_for(lambda: "event=leading" in alpha.log().split("event=lost_leadership", 1)[-1],
                 timeout=30, what="alpha to lead again")
        assert alpha.proc.poll() is None  # it went on, as a standby, then led again
        # And it still runs jobs.
        alpha.cli("trigger", "long")
        alpha.wait_runs("long", lambda h: len([r for r in h if r["status"] == "succeeded"]) == 2,
                        timeout=30)
    finally:
        stop_all([alpha])


def test_a_second_daemon_with_a_live_nodes_name_is_refused(tmp_path):
    (alpha,) = cluster(tmp_path, LIMIT, names=("alpha",))
    (tmp_path / "twin").mkdir()
    twin = Daemon(tmp_path / "twin", LIMIT, store=alpha.store, env={"SKED_NODE": "alpha"},
                  start=False)
    try:
        twin.start(wait=False)
        assert twin.proc.wait(timeout=30) == 1
        assert "node alpha is already running here" in twin.log(), twin.log()
        assert alpha.proc.poll() is None
    finally:
        stop_all([alpha])


HANG = """
    cluster: {lease_timeout: 3s}
    jobs:
      tick: {every: 1s, run: ["true"], catchup: all}
"""


def leader_of(nodes):
    """The node that leads now, by each one's own GET /api/v1/status."""
    def leads(n):
        return http("GET", "/api/v1/status", sock=os.path.join(n.state, "sked.sock")).json()[
            "leading"]

    def find():
        up = [n for n in nodes if leads(n)]
        return up[0] if len(up) == 1 else None
    return wait_for(find, what="one node to lead")


def lead_state(node):
    """What the node's log last said of the lead: "leading" or "standby" (a
    node that leads from its start says nothing; one that does not says
    event=standby)."""
    last = "leading"
    for line in node.log().splitlines():
        if "event=leading" in line:
            last = "leading"
        elif "event=lost_leadership" in line or "event=standby" in line:
            last = "standby"
    return last


def test_a_hung_leader_is_evicted_and_another_takes_over(tmp_path):
    import signal
    from collections import Counter
    alpha, beta = cluster(tmp_path, HANG)
    names = {id(alpha): "alpha", id(beta): "beta"}
    try:
        alpha.wait_runs("tick", lambda h: len([r for r in h if done(r)]) >= 2)
        wait_for(lambda: "event=standby" in beta.log(), what="beta to stand by")
        # On a busy machine the 3 s lease may move: hang whoever leads, and
        # try again if the lead moved between asking and stopping.
        for _ in range(5):
            hung = leader_of([alpha, beta])
            other = beta if hung is alpha else alpha
            # A leader whose process hangs keeps its database session, and
            # with it the lock: only its silence shows.
            hung.signal(signal.SIGSTOP)
            stopped = time.time()
            mark = len(other.log())
            if lead_state(hung) == "leading" and lead_state(other) != "leading":
                break
            hung.signal(signal.SIGCONT)
        else:
            raise AssertionError("the lead kept moving: no node held it long enough to hang it")
        # The other node ends the silent leader's session (the mechanism
        # alone: test_pg_silent_leader_evicted in tests/unit/test_store.c).
        try:
            wait_for(lambda: f"event=evicted_leader node={names[id(hung)]}" in other.log()[mark:],
                     timeout=30, what="the other node to end the silent leader's session")
        except AssertionError as e:
            def events(n):
                return "\n".join(line for line in n.log().splitlines() if "job=" not in line)
            raise AssertionError(f"{e}\nstopped at {stopped:.3f}\nthe hung node's log:\n"
                                 f"{events(hung)}\nthe other's:\n{events(other)}") from None
        other.wait_runs("tick", lambda h: any(ts(r["scheduled_at"]) > stopped + 1 and done(r)
                                              for r in h), timeout=30)
        took = min(ts(r["started_at"]) for r in other.history("tick")
                   if r["started_at"] and ts(r["scheduled_at"]) > stopped)
        print(f"hung leader: first run of a later fire {took - stopped:.2f} s after SIGSTOP")
        hung.signal(signal.SIGCONT)
        wait_for(lambda: "event=lost_leadership" in hung.log(), timeout=30,
                 what="the hung node to see it lost the lead")
        time.sleep(2)
        assert hung.proc.poll() is None  # it goes on as a standby
        fires = Counter(r["scheduled_at"] for r in other.history("tick")
                        if r["trigger"] in ("schedule", "catchup") and r["attempt"] == 1)
        assert max(fires.values()) == 1, fires.most_common(3)
    finally:
        alpha.signal(signal.SIGCONT)
        beta.signal(signal.SIGCONT)
        stop_all([beta, alpha])


NOWHERE = """
    jobs:
      gpu: {nodes: [gpu], run: ["true"]}
"""


def test_a_job_no_live_node_can_run_waits_and_says_so(tmp_path):
    (alpha,) = cluster(tmp_path, NOWHERE, names=("alpha",))
    try:
        # The leader's first sweep (every 2 s) learns the live nodes' labels.
        time.sleep(2.5)
        alpha.cli("trigger", "gpu")
        wait_for(lambda: "event=no_node job=gpu labels=gpu" in alpha.log(),
                 what="the leader to say no node can run it")
        time.sleep(1.5)
        runs = alpha.history("gpu")
        assert [r["status"] for r in runs] == ["queued"], runs
    finally:
        stop_all([alpha])


def test_a_cancel_its_leader_left_unfinished_is_ended_by_the_next(tmp_path):
    import subprocess
    (alpha,) = cluster(tmp_path, NOWHERE, names=("alpha",))
    try:
        alpha.cli("trigger", "gpu")  # no node has the label: it stays queued
        run = alpha.wait_runs("gpu", lambda h: h)[0]
        alpha.kill9()
        # As if the leader died between asking for the stop and ending it.
        subprocess.run(["psql", "-q", alpha.store, "-c",
                        f"UPDATE runs SET cancel = 'cancelled' WHERE id = {run['id']}"],
                       check=True, capture_output=True)
        alpha.start()
        runs = alpha.wait_runs("gpu", lambda h: all(done(r) for r in h), timeout=30)
        assert [(r["status"], r["reason"]) for r in runs] == [("killed", "cancelled")], runs
    finally:
        stop_all([alpha])
