"""The daemon's own log: log_format: json (one object per line) and
syslog: true (also sent to syslog)."""
import json
import os
import socket

import pytest

from harness import done


def test_json_log_lines(daemon):
    d = daemon("""
        log_format: json
        jobs:
          hello: {run: ["sh", "-c", "echo hi; exit 3"]}
    """)
    d.cli("trigger", "hello")
    d.wait_runs("hello", lambda h: h and done(h[0]))
    d.stop()
    lines = [l for l in d.log().splitlines() if l.strip()]
    assert lines
    events = [json.loads(l) for l in lines]  # every line is one JSON object
    for e in events:
        assert e["ts"].endswith("Z") and e["level"] in ("debug", "info", "warn", "error")
    started = [e for e in events if e.get("event") == "started_daemon"]
    assert started and started[0]["pid"] == d.proc.pid  # numbers stay numbers
    finished = [e for e in events if e.get("event") == "finished" and e.get("job") == "hello"]
    assert finished and finished[0]["status"] == "failed" and finished[0]["exit"] == 3


@pytest.mark.skipif(os.path.exists("/dev/log") or os.geteuid() != 0,
                    reason="needs root and no syslog daemon (the test stands in for one)")
def test_syslog_gets_the_events(daemon):
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind("/dev/log")
    sink.settimeout(10)
    try:
        d = daemon("""
            syslog: true
            jobs:
              hello: {run: ["true"]}
        """)
        d.cli("trigger", "hello")
        d.wait_runs("hello", lambda h: h and done(h[0]))
        got = []
        while not any("event=finished" in m for m in got):
            got.append(sink.recv(65536).decode(errors="replace"))
        assert any("sked[" in m and "event=started_daemon" in m for m in got), got
        # stderr keeps its lines too.
        assert "event=finished" in d.log()
    finally:
        sink.close()
        os.unlink("/dev/log")
