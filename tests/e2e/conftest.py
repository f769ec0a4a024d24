"""Shared fixtures for the end-to-end tests: they drive the real build/sked."""
import os
import subprocess

import pytest

SKED = os.environ.get("SKED_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "sked")


def run_sked(*args, env=None, timeout=60, input=None):
    """Runs sked with args; returns the CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([SKED, *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, input=input)


# Tests about the SQLite file itself (its corruption, a full disk under it,
# editing it by hand) do not apply to `make e2e-pg`.
sqlite_only = pytest.mark.skipif(bool(os.environ.get("SKED_TEST_PG_URL")),
                                 reason="about the SQLite store file")


@pytest.fixture
def sked():
    return run_sked


@pytest.fixture
def daemon(tmp_path):
    """Factory: daemon(yaml_text, **kw) -> a started harness.Daemon, stopped at the end."""
    from harness import Daemon
    started = []

    def make(yaml_text, **kw):
        d = Daemon(tmp_path, yaml_text, **kw)
        started.append(d)
        return d

    yield make
    reports = []
    for d in started:
        try:
            d.stop()
        except Exception:
            if d.proc and d.proc.poll() is None:
                d.proc.kill()
        # Under `make asan` a daemon's sanitizer reports land in its log:
        # they fail the test even when the daemon kept going.
        log = d.log()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if mark in log:
                at = log.index(mark)
                reports.append(log[max(0, at - 200):at + 3000])
    assert not reports, "sanitizer report from the daemon:\n" + "\n---\n".join(reports)
