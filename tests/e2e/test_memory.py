"""What a daemon of many jobs holds. Start-up builds each job as the YAML
reader meets it and drops the job's nodes (docs/internals/config.md), so
its peak is what it keeps, not that plus the node tree of the whole file
(which for jobs written out in full is larger than the jobs themselves)."""
import os

import pytest

from harness import wait_for


def status_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


@pytest.mark.skipif(bool(os.environ.get("SKED_SANITIZED")),
                    reason="a sanitizer's shadow memory and quarantine are not sked's")
def test_start_up_peak_is_what_the_daemon_keeps(daemon):
    # Disabled: nothing fires, whatever the date; each is still parsed,
    # built and scheduled in full.
    text = "jobs:\n" + "".join(
        f'  j{i:05d}: {{schedule: "H H * * *", enabled: false, run: [/bin/true, "{i:05d}"]}}\n'
        for i in range(20000))
    d = daemon(text)
    wait_for(lambda: "jobs=20000" in d.log(), what="the started line")
    st = status_kib(d.proc.pid)
    # The whole tree of these 20,000 jobs would be about 16 MiB on top.
    assert st["VmHWM"] <= st["VmRSS"] * 1.2, st
