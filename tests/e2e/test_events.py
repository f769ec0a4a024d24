"""Jobs started by events: at each start of sked (on: start) and once per
boot of the machine (on: boot, and cron's @reboot), through the real binary.
A test cannot reboot the machine: SKED_BOOT_ID_FILE points sked at a boot
id file of the test's own."""
import json

from harness import Daemon, assert_job_errors, done, wait_for

BOOT_JOBS = """
    jobs:
      warm:
        schedule: "@reboot"
        run: [true]
      mount:
        on: boot
        run: [true]
      hourly:
        schedule: "0 * * * *"
        on: [boot]
        run: [true]
"""


def boot_env(tmp_path, boot_id):
    path = tmp_path / "boot_id"
    path.write_text(boot_id + "\n")
    return {"SKED_BOOT_ID_FILE": str(path)}


def event_runs(d, job):
    return [r for r in d.history(job) if r["trigger"] == "event"]


def test_boot_jobs_run_once_per_boot(tmp_path):
    env = boot_env(tmp_path, "3f1c1b9e-0d1e-4c39-8a55-6a0e3b1d7c01")
    d = Daemon(tmp_path, BOOT_JOBS, env=env)
    try:
        for job in ("warm", "mount", "hourly"):
            runs = d.wait_runs(job, lambda h: len(h) == 1 and done(h[0]))
            assert runs[0]["trigger"] == "event" and runs[0]["event"] == "boot"
            assert runs[0]["status"] == "succeeded"
        # A crash and a restart in the same boot: not again.
        d.kill9()
        d.start()
        wait_for(lambda: d.log().count("event=not_fired job=") >= 3,
                 what="the restart to pass the boot jobs over")
        for job in ("warm", "mount", "hourly"):
            assert len(event_runs(d, job)) == 1
        d.stop()
        # The machine booted again: once more each.
        (tmp_path / "boot_id").write_text("9a0b7c6d-1e2f-4a5b-8c7d-0e1f2a3b4c5d\n")
        d.start()
        for job in ("warm", "mount", "hourly"):
            d.wait_runs(job, lambda h: len(h) == 2 and all(done(r) for r in h))
        text = d.cli("history", "warm").stdout.splitlines()
        assert " boot " in text[1] and " boot " in text[2]
        assert d.cli("next", "warm").stdout == \
            "warm runs once per boot of the machine, and when triggered\n"
    finally:
        d.stop()


def test_start_jobs_run_at_each_start(tmp_path):
    d = Daemon(tmp_path, """
        jobs:
          announce:
            on: start
            run: [true]
          paused-one:
            on: start
            enabled: false
            run: [true]
    """)
    try:
        runs = d.wait_runs("announce", lambda h: len(h) == 1 and done(h[0]))
        assert runs[0]["trigger"] == "event" and runs[0]["event"] == "start"
        d.stop()
        d.start()
        d.wait_runs("announce", lambda h: len(h) == 2 and all(done(r) for r in h))
        assert d.history("paused-one") == []
        shown = json.loads(d.cli("list", "--json").stdout)
        assert {j["name"]: j["trigger"] for j in shown}["announce"] == "on start"
        assert "announce runs each time sked starts, and when triggered" in \
            d.cli("next", "announce").stdout
    finally:
        d.stop()


def test_on_errors_say_what_and_where(tmp_path):
    cases = [
        ("on: strat", 'sked.yaml:4:9: jobs.a.on: unknown event "strat" (did you mean "start"?); '
                      "sked knows start, boot, file, logon, idle and webhook"),
        ("on: [start, start]", "sked.yaml:4:17: jobs.a.on[1]: start is given twice"),
        ("on: {boot: {delay: 5s}}", "jobs.a.on: boot takes no settings"),
        ("on: []", "jobs.a.on: an empty list: give at least one event"),
        ("on: {logon: {usr: alice}}", "jobs.a.on.logon.usr: unknown setting; logon takes user"),
        ("on: {logon: {user: 'a b'}}", "jobs.a.on.logon.user: expected a user name"),
        ("on: {idle: {for: 0}}", "jobs.a.on.idle.for: for is 1s to 7d"),
        ("on: {idle: {cpu: 150}}", "jobs.a.on.idle.cpu: expected a percentage of CPU use"),
        ("on: {webhook: {}}", "jobs.a.on.webhook: give secret_file"),
        ("on: {watch: {}}", 'jobs.a.on: unknown event "watch"; sked knows start, boot, file, logon, '
                            'idle and webhook'),
    ]
    assert_job_errors(tmp_path, cases)


def test_events_follow_the_overlap_policy(tmp_path):
    """Boot and start come at the same moment: by the job's overlap policy
    the second is skipped (recorded, with the reason) or runs too."""
    env = boot_env(tmp_path, "5d41402a-bc4b-4a2a-8c1e-0f1a2b3c4d5e")
    d = Daemon(tmp_path, """
        jobs:
          once:
            on: [boot, start]
            run: [sleep, "0.5"]
          both:
            on: [boot, start]
            overlap: allow
            run: [true]
    """, env=env)
    try:
        runs = d.wait_runs("once", lambda h: len(h) == 2 and all(done(r) for r in h))
        by_event = {r["event"]: r for r in runs}
        assert by_event["boot"]["status"] == "succeeded"
        assert by_event["start"]["status"] == "skipped"
        assert by_event["start"]["reason"] == "the previous run is still going"
        runs = d.wait_runs("both", lambda h: len(h) == 2 and all(done(r) for r in h))
        assert sorted(r["status"] for r in runs) == ["succeeded", "succeeded"]
    finally:
        d.stop()


def utmp_record(user, line, pid, when):
    """One struct utmp as glibc on x86_64 writes it (384 bytes)."""
    import struct
    return struct.pack("<hhi32s4s32s256shhiii4i20s", 7, 0, pid, line.encode(), b"",
                       user.encode(), b"", 0, 0, 0, int(when), 0, 0, 0, 0, 0, b"")


def test_logon_starts_jobs_for_new_sessions(tmp_path):
    import struct
    assert struct.calcsize("<hhi32s4s32s256shhiii4i20s") == 384
    utmp = tmp_path / "utmp"
    utmp.write_bytes(utmp_record("alice", "pts/0", 100, 1700000000))  # open before sked
    out = tmp_path / "who.txt"
    d = Daemon(tmp_path, """
        jobs:
          greet:
            on: logon
            overlap: queue
            shell: 'echo "$SKED_EVENT $SKED_EVENT_USER" >> "%s"'
          alice-only:
            on: {logon: {user: alice}}
            run: [true]
    """ % out, env={"SKED_UTMP_FILE": str(utmp)})
    try:
        with open(utmp, "ab") as f:
            f.write(utmp_record("bob", "pts/1", 200, 1700000100))
        runs = d.wait_runs("greet", lambda h: len(h) == 1 and done(h[0]))
        assert runs[0]["event"] == "logon: bob"
        assert out.read_text() == "logon bob\n"
        with open(utmp, "ab") as f:
            f.write(utmp_record("alice", "pts/2", 300, 1700000200))
        d.wait_runs("greet", lambda h: len(h) == 2 and all(done(r) for r in h))
        runs = d.wait_runs("alice-only", lambda h: len(h) == 1 and done(h[0]))
        assert runs[0]["event"] == "logon: alice"  # not for bob, not for the session before
        assert out.read_text() == "logon bob\nlogon alice\n"
    finally:
        d.stop()


def test_idle_fires_once_per_idle_period(tmp_path):
    state = tmp_path / "use"
    state.write_text("active\n")
    d = Daemon(tmp_path, """
        jobs:
          tidy:
            on: {idle: {for: 2s}}
            run: [true]
    """, env={"SKED_IDLE_FILE": str(state)})
    try:
        state.write_text("idle\n")
        runs = d.wait_runs("tidy", lambda h: len(h) == 1 and done(h[0]))
        assert runs[0]["trigger"] == "event" and runs[0]["event"] == "idle"
        state.write_text("active\n")
        wait_for(lambda: "event=active" in d.log(), what="the machine in use again")
        assert len(d.history("tidy")) == 1  # once per idle period
        state.write_text("idle\n")
        d.wait_runs("tidy", lambda h: len(h) == 2 and all(done(r) for r in h))
    finally:
        d.stop()
