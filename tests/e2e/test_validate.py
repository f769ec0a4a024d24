"""`sked validate` through the real binary.

Golden files: each tests/data/config/bad/NAME.yaml has NAME.err, the exact
stderr of `sked validate -c tests/data/config/bad/NAME.yaml` run from the
repository's root (so the paths in it are relative to the root). Every file
in tests/data/config/good/ must validate. To refresh a golden file after a
deliberate change of message, run that command and review the diff.
"""
import glob
import os
import stat
import subprocess

import pytest

from conftest import SKED

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join("tests", "data", "config")
BAD = sorted(glob.glob(os.path.join(REPO, DATA, "bad", "*.yaml")))
GOOD = sorted(glob.glob(os.path.join(REPO, DATA, "good", "*.yaml")))
SKED_ABS = os.path.abspath(SKED)


# Settings from the environment that change what a file means.
UNSET = ("TZDIR", "SKED_CONFIG", "SKED_ADMIN_TOKEN", "SKED_READ_TOKEN")


def sked_cmd(cmd, *args, cwd=REPO, env=None, timeout=60):
    """Runs `sked CMD ARGS` in cwd, with TZDIR unset so that messages naming
    the zone folder are the same everywhere, and no tokens from outside."""
    full_env = {k: v for k, v in os.environ.items() if k not in UNSET}
    full_env.update(env or {})
    return subprocess.run([SKED_ABS, cmd, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=full_env)


def validate(*args, cwd=REPO, env=None):
    return sked_cmd("validate", *args, cwd=cwd, env=env)


@pytest.fixture(scope="module", autouse=True)
def secret_file_modes():
    """git keeps no permissions beyond +x: set the modes the files stand for.
    Files of secrets are *.env (env_file), *.pw (an SMTP password_file) and
    *.token (an API token file): *.open.env and *.open.pw are readable by
    others (an error); the others are 0600."""
    for ext in ("env", "pw", "token"):
        for path in glob.glob(os.path.join(REPO, DATA, "**", "*." + ext), recursive=True):
            os.chmod(path, 0o644 if path.endswith(".open." + ext) else 0o600)


def rel(path):
    return os.path.relpath(path, REPO)


def test_there_are_golden_files():
    assert len(BAD) >= 30
    assert len(GOOD) >= 5


@pytest.mark.parametrize("path", BAD, ids=lambda p: os.path.basename(p)[:-5])
def test_bad_file_gives_its_golden_errors(path):
    with open(path[:-5] + ".err", encoding="utf-8") as f:
        want = f.read()
    r = validate("-c", rel(path))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == want


@pytest.mark.parametrize("path", GOOD, ids=lambda p: os.path.basename(p)[:-5])
def test_good_file_validates(path):
    r = validate("-c", rel(path))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith(rel(path) + ": ok (")


def test_job_counts_are_reported():
    r = validate("-c", os.path.join(DATA, "good", "design.yaml"))
    assert r.stdout == os.path.join(DATA, "good", "design.yaml") + ": ok (4 jobs)\n"
    r = validate("-c", os.path.join(DATA, "good", "minimal.yaml"))
    assert r.stdout.endswith(": ok (1 job)\n")
    r = validate("-c", os.path.join(DATA, "good", "empty.yaml"))
    assert r.stdout.endswith(": ok (0 jobs)\n")


def test_every_error_starts_with_file_line_col():
    r = validate("-c", os.path.join(DATA, "bad", "many_errors.yaml"))
    heads = [l for l in r.stderr.splitlines() if not l.startswith(" ")]
    assert len(heads) == 5
    for line in heads:
        file, lineno, col, rest = line.split(":", 3)
        assert file == os.path.join(DATA, "bad", "many_errors.yaml")
        assert int(lineno) > 0 and int(col) > 0
        assert rest.startswith(" jobs.")


def test_config_file_resolution(tmp_path):
    (tmp_path / "sked.yaml").write_text("jobs: {a: {run: x}}\n")
    (tmp_path / "other.yaml").write_text("jobs: {a: {run: x}, b: {run: y}}\n")
    # ./sked.yaml by default
    r = validate(cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "sked.yaml: ok (1 job)\n")
    # $SKED_CONFIG next
    r = validate(cwd=tmp_path, env={"SKED_CONFIG": "other.yaml"})
    assert (r.returncode, r.stdout) == (0, "other.yaml: ok (2 jobs)\n")
    # -c wins, anywhere among the arguments, in each spelling
    for args in (["-c", "sked.yaml"], ["--config", "sked.yaml"], ["--config=sked.yaml"],
                 ["-csked.yaml"]):
        r = validate(*args, cwd=tmp_path, env={"SKED_CONFIG": "other.yaml"})
        assert (r.returncode, r.stdout) == (0, "sked.yaml: ok (1 job)\n"), args


def test_missing_file_is_a_user_error(tmp_path):
    r = validate(cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == "sked.yaml: cannot read the file: No such file or directory\n"
    r = validate("-c", "nope.yaml", cwd=tmp_path)
    assert r.stderr == "nope.yaml: cannot read the file: No such file or directory\n"


def test_relative_paths_start_in_the_files_folder(tmp_path):
    sub = tmp_path / "conf"
    (sub / "scripts").mkdir(parents=True)
    (sub / "scripts" / "job.py").write_text("print(1)\n")
    (sub / "sked.yaml").write_text("jobs: {a: {python: scripts/job.py}}\n")
    r = validate("-c", "conf/sked.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_env_file_mode_is_checked(tmp_path):
    env = tmp_path / "secret.env"
    env.write_text("TOKEN=xyz-token\n")
    (tmp_path / "sked.yaml").write_text("jobs: {a: {run: x, env_file: secret.env}}\n")
    os.chmod(env, 0o600)
    assert validate(cwd=tmp_path).returncode == 0
    os.chmod(env, 0o640)
    r = validate(cwd=tmp_path)
    assert r.returncode == 1
    assert "other users may read it (mode 0640)" in r.stderr
    assert "TOKEN" not in r.stderr  # never echo a secret file's content


def test_password_file_mode_is_checked(tmp_path):
    pw = tmp_path / "smtp.pw"
    pw.write_text("hunter2\n")
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n  a:\n    run: x\n    alert:\n      email: {smtp_url: smtp://localhost, "
        "from: a@example.com, to: b@example.com, password_file: smtp.pw}\n")
    os.chmod(pw, 0o600)
    assert validate(cwd=tmp_path).returncode == 0
    os.chmod(pw, 0o604)
    r = validate(cwd=tmp_path)
    assert r.returncode == 1
    assert "other users may read it (mode 0604)" in r.stderr
    assert "hunter2" not in r.stderr  # never echo a secret


def test_workflow_errors_are_all_reported(tmp_path):
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  wf:\n"
        "    steps:\n"
        "      a: {run: x, needs: [c]}\n"
        "      b: {run: x, needs: [a, nope]}\n"
        "      c: {run: x, needs: b, when: sometimes}\n"
        "  other: {run: x, after: [wf, wf2]}\n")
    r = validate(cwd=tmp_path)
    assert r.returncode == 1
    heads = [l for l in r.stderr.splitlines() if not l.startswith(" ")]
    assert heads == [
        "sked.yaml:5:27: jobs.wf.steps.b.needs[0]: steps form a cycle: a -> c -> b -> a",
        "sked.yaml:5:30: jobs.wf.steps.b.needs[1]: unknown step \"nope\"",
        "sked.yaml:6:35: jobs.wf.steps.c.when: \"sometimes\" is not one of success, failure or "
        "always",
        "sked.yaml:7:31: jobs.other.after[1]: unknown job \"wf2\" (did you mean \"wf\"?)",
    ]


@pytest.mark.parametrize("args", [
    ["extra"],
    ["-c"],
    ["--bogus"],
    ["-c", ""],
])
def test_usage_errors_exit_2(args):
    r = validate(*args)
    assert r.returncode == 2
    assert "usage: sked validate [-c FILE]" in r.stderr


def test_listed_in_help():
    r = subprocess.run([SKED_ABS, "help"], capture_output=True, text=True, timeout=60)
    assert "validate [-c FILE]" in r.stdout


# Files `sked run` refuses at start for what they name on this machine or
# in the environment (sk_config_preflight): validate refuses them too.
PREFLIGHT = ["http_listen_public_no_token", "http_token_short", "http_token_empty",
             "http_tokens_same", "state_dir_not_a_folder", "state_dir_socket_too_long",
             "store_folder_missing"]


@pytest.fixture
def short_tmp():
    """A short folder of its own: under a long temporary path (parallel
    workers, a long TMPDIR) the control socket's path would be too long,
    an error the golden files do not expect."""
    import pathlib
    import shutil
    import tempfile
    path = pathlib.Path(tempfile.mkdtemp(prefix="skv", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("name", PREFLIGHT)
def test_run_refuses_what_validate_refuses_with_the_same_message(name, short_tmp):
    """The same golden message from `sked run` as from `sked validate`, and
    nothing is started or made. The files are copied so that a daemon that
    did start would not write into the repository; the relative path (and
    so the message) stays the same."""
    import shutil
    tmp_path = short_tmp
    bad = os.path.join(REPO, DATA, "bad")
    copy = tmp_path / DATA / "bad"
    copy.mkdir(parents=True)
    shutil.copy(os.path.join(bad, name + ".yaml"), copy)
    for token in glob.glob(os.path.join(bad, "*.token")):
        shutil.copy(token, copy)
        os.chmod(copy / os.path.basename(token), 0o600)
    with open(os.path.join(bad, name + ".err"), encoding="utf-8") as f:
        want = f.read()
    rel_path = os.path.join(DATA, "bad", name + ".yaml")
    v = validate("-c", rel_path, cwd=tmp_path)
    assert (v.returncode, v.stderr) == (1, want)
    try:
        r = sked_cmd("run", "-c", rel_path, cwd=tmp_path, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("sked run started with a file validate refuses")
    assert r.returncode == 1
    assert r.stderr == want
    assert not (copy / ".sked").exists()


def test_tokens_from_the_environment_are_checked_by_validate(tmp_path):
    (tmp_path / "sked.yaml").write_text('http: {listen: "0.0.0.0:8080"}\njobs: {a: {run: x}}\n')
    short = {"SKED_ADMIN_TOKEN": "short"}
    v = validate(cwd=tmp_path, env=short)
    assert v.returncode == 1
    assert v.stderr == ("sked.yaml: SKED_ADMIN_TOKEN (in the environment) is too short: a token "
                        "has at least 16 characters (make one with `head -c 32 /dev/urandom | "
                        "base64`)\n")
    r = sked_cmd("run", cwd=tmp_path, env=short, timeout=30)
    assert (r.returncode, r.stderr) == (1, v.stderr)
    # A good token from the environment makes a public address acceptable.
    v = validate(cwd=tmp_path, env={"SKED_ADMIN_TOKEN": "env-token-0123456789abcdef"})
    assert v.returncode == 0, v.stderr
    # A token file wins over the environment, and is checked.
    (tmp_path / "admin.token").write_text("too-short\n")
    (tmp_path / "admin.token").chmod(0o600)
    (tmp_path / "sked.yaml").write_text('http: {listen: "0.0.0.0:8080", admin_token_file: '
                                        'admin.token}\njobs: {a: {run: x}}\n')
    v = validate(cwd=tmp_path, env={"SKED_ADMIN_TOKEN": "env-token-0123456789abcdef"})
    assert v.returncode == 1 and "too short" in v.stderr
    assert "too-short" not in v.stderr  # never echo a secret


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_state_folder_permissions_are_checked_for_this_user(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    (tmp_path / "sked.yaml").write_text("state_dir: locked/state\njobs: {a: {run: x}}\n")
    try:
        v = validate(cwd=tmp_path)
        assert v.returncode == 1
        assert "does not let this user create folders in it" in v.stderr
        r = sked_cmd("run", cwd=tmp_path, timeout=30)
        assert (r.returncode, r.stderr) == (1, v.stderr)
    finally:
        locked.chmod(0o700)


def test_a_file_of_many_jobs_written_out_in_full_loads(tmp_path):
    """30,000 jobs, each with its own schedule and command (3.5 MB): beyond
    the old 1 MiB cap, within the 16 MiB one; an error at the end of it is
    still shown with its line."""
    lines = ["jobs:"]
    for i in range(30000):
        lines += [f"  j{i:05d}:", '    schedule: "H H * * *"',
                  f'    run: [/usr/bin/python3, /srv/app/jobs/task.py, --id, "{i}"]']
    (tmp_path / "sked.yaml").write_text("\n".join(lines) + "\n")
    v = validate(cwd=tmp_path)
    assert v.returncode == 0, v.stderr
    (tmp_path / "sked.yaml").write_text("\n".join(lines) + "\n  last:\n    tiemout: 5m\n")
    v = validate(cwd=tmp_path)
    assert v.returncode == 1
    assert f"sked.yaml:{len(lines) + 2}:5: jobs.last.tiemout" in v.stderr, v.stderr
    assert "tiemout: 5m" in v.stderr, v.stderr


# A file is read job by job: each job is built as soon as its mapping ends
# and its nodes are dropped (docs/internals/config.md). What a job inherits
# from the top of the file must not depend on where the file says it.

TOP_FIRST = """timezone: Asia/Tokyo
defaults: {run: [/bin/true], timeout: 5m}
jobs:
  a: {schedule: "0 9 * * *"}
  b: {at: "2099-01-02 03:04"}
"""


def next_fires(tmp_path, text):
    (tmp_path / "sked.yaml").write_text(text)
    out = []
    for job in ("a", "b"):
        r = sked_cmd("next", job, "-n", "2", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        out.append(r.stdout)
    return out


def test_defaults_and_timezone_after_jobs_apply_as_before_them(tmp_path):
    first = next_fires(tmp_path, TOP_FIRST)
    assert "2099-01-02" in first[1]
    lines = TOP_FIRST.splitlines(keepends=True)
    after = "".join(lines[2:] + lines[:2])
    assert next_fires(tmp_path, after) == first
    # Spelled with an escape, no "defaults" or "timezone" in the text after
    # jobs: can give it away before the key itself comes.
    escaped = "".join(lines[2:]) + '"time\\x7Aone": Asia/Tokyo\n"def\\x61ults": ' + \
        lines[1].split(": ", 1)[1]
    assert next_fires(tmp_path, escaped) == first


def test_an_anchor_in_one_job_serves_the_jobs_after_it(tmp_path):
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a: {schedule: \"0 9 * * *\", run: &cmd [/bin/echo, hello]}\n"
        + "".join(f"  j{i}: {{schedule: \"H * * * *\", run: *cmd}}\n" for i in range(200))
        + "  z: &whole {every: 1h, shell: \"echo z\"}\n"
        "  y: *whole\n")
    v = validate(cwd=tmp_path)
    assert v.returncode == 0, v.stderr
    assert "203 jobs" in v.stdout + v.stderr


def test_a_duplicate_job_is_reported_once_at_its_key(tmp_path):
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a: {schedule: \"0 9 * * *\", run: [/bin/true]}\n"
        "  b: {schedule: \"0 9 * * *\", run: [/bin/true]}\n"
        "  a: {schedule: \"not a cron\", run: [/bin/true], tiemout: 5m}\n")
    v = validate(cwd=tmp_path)
    assert v.returncode == 1
    errors = [l for l in v.stderr.splitlines() if l.startswith("sked.yaml:")]
    assert errors == ['sked.yaml:4:3: jobs.a: duplicate key "a" (first given at line 2)'], \
        v.stderr


def test_a_duplicate_job_is_reported_beside_a_later_yaml_error(tmp_path):
    """A duplicate key is the YAML reader's error: it stays when the file
    breaks further down, as every duplicate key does."""
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a: {every: 1h, run: [/bin/true]}\n"
        "  a: {every: 2h, run: [/bin/true]}\n"
        "max_parallel: [unclosed\n")
    v = validate(cwd=tmp_path)
    assert v.returncode == 1
    errors = [l for l in v.stderr.splitlines() if l.startswith("sked.yaml:")]
    assert len(errors) == 2, v.stderr
    assert errors[0] == 'sked.yaml:3:3: jobs.a: duplicate key "a" (first given at line 2)'
    assert errors[1].startswith("sked.yaml:4:15: YAML syntax error")


def test_a_yaml_error_after_bad_jobs_is_the_only_error(tmp_path):
    """Jobs built before the YAML reader meets a syntax error say nothing:
    the file is not read as far as its jobs."""
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a: {schedule: \"not a cron\", run: [/bin/true]}\n"
        "  b: {every: 1h, run: [/bin/true]}\n"
        "  c: [unclosed\n")
    v = validate(cwd=tmp_path)
    assert v.returncode == 1
    errors = [l for l in v.stderr.splitlines() if l.startswith("sked.yaml:")]
    assert len(errors) == 1 and "YAML syntax error" in errors[0], v.stderr


def test_after_names_a_job_further_down(tmp_path):
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  first: {after: [second], run: [/bin/true]}\n"
        "  second: {schedule: \"0 9 * * *\", run: [/bin/true]}\n"
        "  third: {after: secnod, run: [/bin/true]}\n")
    v = validate(cwd=tmp_path)
    assert v.returncode == 1
    errors = [l for l in v.stderr.splitlines() if l.startswith("sked.yaml:")]
    assert len(errors) == 1 and errors[0].startswith("sked.yaml:4:18: jobs.third.after"), v.stderr
    assert 'did you mean "second"' in errors[0], v.stderr
