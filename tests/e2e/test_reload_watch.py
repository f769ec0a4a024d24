"""The file watcher: an edit is applied once the file has settled, and a file
that looks cut short (it would remove most jobs) waits for `sked reload`."""
import re
import signal
import textwrap
import time

import pytest

from harness import wait_for


def jobs_yaml(names, extra=""):
    """A sked.yaml with one manual-only job per name (extra: more job text)."""
    text = "jobs:\n"
    for n in names:
        text += f"  {n}:\n    run: [true]\n"
    return text + textwrap.indent(textwrap.dedent(extra).lstrip("\n"), "  ")


def write_in_place(d, parts, pause=0.0):
    """Writes sked.yaml as many editors do: truncate, then write the parts,
    with a pause between them (the file is seen half-written meanwhile)."""
    prefix = f'store: "{d.store}"\n' if d.store else ""
    with open(d.config, "w") as f:
        for i, part in enumerate(parts):
            if i:
                time.sleep(pause)
            f.write((prefix if i == 0 else "") + part)
            f.flush()


def reload_lines(d, trigger):
    return [l for l in d.log().splitlines()
            if f"event=reloaded trigger={trigger} " in l]


def counts(line):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)
            if k in ("jobs", "added", "changed", "removed", "unchanged")}


def barrier(d):
    """SIGHUP and wait for its reload: any file reload pending before it has
    been logged by then (the daemon handles events in order)."""
    n = len(reload_lines(d, "sighup"))
    d.signal(signal.SIGHUP)
    wait_for(lambda: len(reload_lines(d, "sighup")) > n, what="the SIGHUP reload")


def test_file_written_in_two_steps_is_applied_once_without_removal(daemon):
    names = [f"job{i}" for i in range(10)]
    d = daemon(jobs_yaml(names))
    # The same ten jobs, the last one changed; written 3 jobs first, a
    # 0.6 s pause, then the rest.
    new = jobs_yaml(names[:9]) + "  job9:\n    run: [\"false\"]\n"
    cut = new.index("  job3:")
    write_in_place(d, [new[:cut], new[cut:]], pause=0.6)
    wait_for(lambda: reload_lines(d, "file"), what="the file reload")
    barrier(d)
    lines = reload_lines(d, "file")
    assert len(lines) == 1, "the file was applied more than once:\n" + "\n".join(lines)
    assert counts(lines[0]) == {"jobs": 10, "added": 0, "changed": 1, "removed": 0,
                                "unchanged": 9}, lines[0]


@pytest.mark.parametrize("content", ["empty", "truncated"])
def test_file_cut_short_is_held_back_until_sked_reload(daemon, content):
    d = daemon(jobs_yaml(["a", "b", "c"], """
        tick:
          every: 1s
          run: [true]
    """))
    text = "" if content == "empty" else jobs_yaml(["a"])
    write_in_place(d, [text])
    seen = wait_for(lambda: [l for l in d.log().splitlines()
                             if "event=reload_held" in l or "event=reloaded" in l],
                    what="the file change to be handled")
    assert "event=reload_held" in seen[0], "the cut file was applied:\n" + seen[0]
    gone = 4 if content == "empty" else 3
    assert f"would_remove={gone} " in seen[0], seen[0]
    assert "sked reload" in seen[0], seen[0]
    # The jobs keep running under the configuration in force.
    n = d.log().count("event=finished job=tick ")
    wait_for(lambda: d.log().count("event=finished job=tick ") >= n + 2,
             what="tick to keep running while the file is held back")
    assert not reload_lines(d, "file")
    # An explicit reload applies what is there.
    r = d.cli("reload")
    assert f"{4 - gone} jobs" in r.stdout, r.stdout
    line = wait_for(lambda: reload_lines(d, "api"), what="the explicit reload")[0]
    assert counts(line)["removed"] == gone, line


def test_ordinary_edits_still_apply_automatically(daemon):
    d = daemon(jobs_yaml(["a", "b", "c", "d"]))
    # Half of the jobs removed: applied.
    d.write(jobs_yaml(["a", "b"]))
    line = wait_for(lambda: reload_lines(d, "file"), what="the first edit")[0]
    assert counts(line)["removed"] == 2, line
    d.write(jobs_yaml(["a"]))
    wait_for(lambda: len(reload_lines(d, "file")) >= 2, what="the second edit")
    assert counts(reload_lines(d, "file")[1])["removed"] == 1
    # The only job renamed: it removes every job, but adds as many.
    d.write(jobs_yaml(["renamed"]))
    wait_for(lambda: len(reload_lines(d, "file")) >= 3, what="the rename")
    line = reload_lines(d, "file")[2]
    assert (counts(line)["added"], counts(line)["removed"]) == (1, 1), line
    assert "event=reload_held" not in d.log()
