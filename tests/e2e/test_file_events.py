"""on: file — files written into a watched folder start a job, through the
real binary and the kernel's inotify."""
import collections
import os
import time

from harness import Daemon, assert_job_errors, done, wait_for


def file_job(tmp_path, settings, extra=""):
    (tmp_path / "inbox").mkdir(exist_ok=True)
    return """
        jobs:
          ingest:
            on: {file: {%s}}
            shell: 'echo "$SKED_EVENT $SKED_EVENT_PATH" >> "%s"'
            keep_runs: 0
            %s
    """ % (settings, tmp_path / "seen.txt", extra)


def seen(tmp_path):
    try:
        return (tmp_path / "seen.txt").read_text().splitlines()
    except FileNotFoundError:
        return []


def test_a_file_written_starts_the_job(tmp_path):
    d = Daemon(tmp_path, file_job(tmp_path, 'path: inbox, glob: "*.csv", settle: 200ms'))
    try:
        inbox = tmp_path / "inbox"
        (inbox / "notes.txt").write_text("not a csv\n")  # first, and never matches
        (inbox / ".a.csv.swp").write_text("hidden\n")    # * does not match a leading dot
        (inbox / "a.csv").write_text("x,y\n")
        runs = d.wait_runs("ingest", lambda h: len(h) == 1 and done(h[0]))
        path = str(inbox / "a.csv")
        assert runs[0]["trigger"] == "event" and runs[0]["event"] == "file: " + path
        assert runs[0]["status"] == "succeeded"
        assert seen(tmp_path) == ["file " + path]
        # A file moved in counts too, and a second write of the same file.
        (tmp_path / "b.csv").write_text("1\n")
        os.rename(tmp_path / "b.csv", inbox / "b.csv")
        d.wait_runs("ingest", lambda h: len(h) == 2 and done(h[0]))
        (inbox / "a.csv").write_text("x,y\n1,2\n")
        d.wait_runs("ingest", lambda h: len(h) == 3 and done(h[0]))
        assert seen(tmp_path)[1:] == ["file " + str(inbox / "b.csv"), "file " + path]
        text = d.cli("history", "ingest").stdout.splitlines()
        assert " file " in text[1]
    finally:
        d.stop()


def test_a_file_written_slowly_fires_once(tmp_path):
    d = Daemon(tmp_path, file_job(tmp_path, "path: inbox, settle: 2s", "overlap: queue"))
    try:
        inbox = tmp_path / "inbox"
        with open(inbox / "big.dat", "w") as f:
            for _ in range(5):
                f.write("part\n")
                f.flush()
                time.sleep(0.3)   # a writer slower than nothing, much faster than settle
        (inbox / "after.dat").write_text("sentinel\n")  # settles after big.dat
        runs = d.wait_runs("ingest", lambda h: len(h) == 2 and all(done(r) for r in h))
        assert [r["event"] for r in reversed(runs)] == [
            "file: " + str(inbox / "big.dat"), "file: " + str(inbox / "after.dat")]
    finally:
        d.stop()


def test_a_thousand_files_follow_the_overlap_policy(tmp_path):
    d = Daemon(tmp_path, file_job(tmp_path, "path: inbox, settle: 300ms"))
    try:
        inbox = tmp_path / "inbox"
        for i in range(1000):
            (inbox / ("f%04d" % i)).write_text("%d\n" % i)
        state = {}

        def all_ended():
            h = d.history("ingest")
            state["seen"] = (len(h), collections.Counter(r["status"] for r in h),
                             len(set(r["event"] for r in h)))
            return h if len(h) == 1000 and all(done(r) for r in h) else None
        try:
            runs = wait_for(all_ended, timeout=120, interval=0.5)
        except AssertionError:
            raise AssertionError("runs, statuses, distinct files: %r\n%s" % (state, d.log()[-3000:]))
        assert sorted(r["event"] for r in runs) == \
            sorted("file: " + str(inbox / ("f%04d" % i)) for i in range(1000))
        ran = [r for r in runs if r["status"] == "succeeded"]
        skipped = [r for r in runs if r["status"] == "skipped"]
        assert len(ran) >= 1 and len(ran) + len(skipped) == 1000
        assert all(r["reason"] == "the previous run is still going" for r in skipped)
        assert len(seen(tmp_path)) == len(ran)
    finally:
        d.stop()


def test_existing_files_and_new_sub_folders(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "old.csv").write_text("there before sked\n")
    d = Daemon(tmp_path, file_job(
        tmp_path, 'path: inbox, glob: "*.csv", settle: 200ms, recursive: true, existing: true',
        "overlap: queue"))
    try:
        d.wait_runs("ingest", lambda h: len(h) == 1 and done(h[0]))
        sub = tmp_path / "inbox" / "2026" / "12"
        sub.mkdir(parents=True)
        (sub / "new.csv").write_text("made later\n")
        d.wait_runs("ingest", lambda h: len(h) == 2 and all(done(r) for r in h))
        assert seen(tmp_path) == ["file " + str(tmp_path / "inbox" / "old.csv"),
                                  "file " + str(sub / "new.csv")]
    finally:
        d.stop()


def test_file_trigger_errors_say_what_and_where(tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "plain").write_text("")
    cases = [
        ("on: {file: {glob: '*.csv'}}", "jobs.a.on.file: path is missing"),
        ("on: {file: {path: nowhere}}", 'jobs.a.on.file.path: folder "nowhere" does not exist'),
        ("on: {file: {path: plain}}", 'jobs.a.on.file.path: folder "plain" is not a folder'),
        ("on: {file: {path: inbox, globb: x}}",
         'jobs.a.on.file.globb: unknown setting (did you mean "glob"?)'),
        ("on: {file: {path: inbox, events: [creatd]}}",
         'jobs.a.on.file.events[0]: "creatd" is not one of created, closed_write, moved_in, '
         'modified, deleted or moved_out (did you mean "created"?)'),
        ("on: {file: {path: inbox, glob: 'x/*.csv'}}",
         "jobs.a.on.file.glob: a glob matches a file's name, not a path"),
        ("on: {file: {path: inbox, settle: 2h}}", "jobs.a.on.file.settle: settle is at most 1h"),
        ("on: [start, {file: {path: inbox, recursive: yes}}]",
         "jobs.a.on[1].file.recursive: expected true or false"),
    ]
    assert_job_errors(tmp_path, cases)


def test_a_workflows_steps_see_the_file(tmp_path):
    (tmp_path / "inbox").mkdir()
    out = tmp_path / "steps.txt"
    d = Daemon(tmp_path, """
        jobs:
          etl:
            on: {file: {path: inbox, settle: 200ms}}
            steps:
              extract:
                shell: 'echo "extract $SKED_EVENT $SKED_EVENT_PATH" >> "%s"'
              load:
                needs: [extract]
                shell: 'echo "load $SKED_EVENT_PATH" >> "%s"'
    """ % (out, out))
    try:
        (tmp_path / "inbox" / "day.csv").write_text("1\n")
        d.wait_runs("etl", lambda h: len(h) >= 1 and h[0]["step"] is None and done(h[0]))
        path = str(tmp_path / "inbox" / "day.csv")
        assert out.read_text().splitlines() == ["extract file " + path, "load " + path]
    finally:
        d.stop()


def test_a_reload_moves_the_watch(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    conf = """
        jobs:
          ingest:
            on: {file: {path: %s, settle: 200ms}}
            overlap: queue
            run: [true]
          sentinel:
            on: {file: {path: c, settle: 200ms}}
            run: [true]
    """
    d = Daemon(tmp_path, conf % "a")
    try:
        (tmp_path / "a" / "1").write_text("x")
        d.wait_runs("ingest", lambda h: len(h) == 1 and done(h[0]))
        d.write(conf % "b")
        assert "2 jobs" in d.cli("reload").stdout
        (tmp_path / "a" / "2").write_text("x")   # no longer watched
        (tmp_path / "b" / "3").write_text("x")
        runs = d.wait_runs("ingest", lambda h: len(h) == 2 and all(done(r) for r in h))
        assert runs[0]["event"] == "file: " + str(tmp_path / "b" / "3")
        # a/2 came before b/3 and settles as fast: had it counted, it would be here.
        (tmp_path / "c" / "stop").write_text("x")
        d.wait_runs("sentinel", lambda h: len(h) == 1 and done(h[0]))
        assert len(d.history("ingest")) == 2
    finally:
        d.stop()
