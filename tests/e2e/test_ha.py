"""Several nodes on one PostgreSQL store (`make e2e-pg`): one leads and
fires, the others wait; when the leader dies another takes over and every
scheduled instant is fired once."""
import os
import time
from collections import Counter
from datetime import datetime

import pytest

from harness import Daemon, done, pg_store, wait_for

pytestmark = pytest.mark.skipif(not os.environ.get("SKED_TEST_PG_URL"),
                                reason="needs PostgreSQL (make e2e-pg)")

YAML = """
    jobs:
      tick: {every: 1s, run: ["true"], catchup: all}
"""


def ts(iso):
    return datetime.fromisoformat(iso).timestamp()


def test_one_leader_fires_and_another_takes_over(tmp_path):
    store = pg_store(str(tmp_path))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Daemon(tmp_path / "a", YAML, store=store)
    b = None
    try:
        a.wait_runs("tick", lambda h: len([r for r in h if done(r)]) >= 2)
        b = Daemon(tmp_path / "b", YAML, store=store)
        wait_for(lambda: "event=standby" in b.log(), what="b to stand by")
        # The standby does not run jobs itself, and says why.
        r = b.cli("trigger", "tick", check=False)
        assert r.returncode == 1 and "standby" in r.stderr
        assert "this node is a standby" in b.cli("status").stdout
        assert "this node is a standby" not in a.cli("status").stdout
        time.sleep(2)
        killed_at = time.time()
        a.kill9()
        wait_for(lambda: "event=leading" in b.log(), timeout=30, what="b to take over")
        b.wait_runs("tick", lambda h: any(ts(r["scheduled_at"]) > killed_at + 1 and done(r)
                                          for r in h), timeout=30)
        time.sleep(2)
        runs = b.history("tick")
        fires = Counter(r["scheduled_at"] for r in runs
                        if r["trigger"] in ("schedule", "catchup") and r["attempt"] == 1)
        assert fires and max(fires.values()) == 1, fires.most_common(3)
        # Every instant from the first fire until now has its fire (catchup: all).
        instants = sorted(ts(s) for s in fires)
        gaps = [y - x for x, y in zip(instants, instants[1:])]
        assert max(gaps) <= 1.001, gaps
        after = [ts(r["started_at"]) for r in runs if r["started_at"] and
                 ts(r["started_at"]) > killed_at]
        print(f"failover: first run on the new leader {min(after) - killed_at:.2f} s "
              "after the old one was killed")
        assert b.proc.poll() is None
    finally:
        if b:
            b.stop()
        if a.proc.poll() is None:
            a.stop()
