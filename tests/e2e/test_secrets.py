"""Secrets through the real daemon: values from env_file, from secrets:
(files, systemd credentials, commands) and the passwords of URLs in a job's
environment are masked by value (`***`) in everything sked stores or shows:
the run log file, `sked logs`, the API's log and job definition, webhook
alert payloads and the daemon's own log. Secrets too short to mask are
refused, and a failing secret command is a clear error that never echoes
what the command printed."""
import json
import os
import subprocess

import pytest

from conftest import SKED
from harness import Daemon, done, http, wait_for
from receivers import HttpReceiver

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture
def hook():
    r = HttpReceiver()
    yield r
    r.close()


def private(path, text):
    """Writes a file of secrets readable by its owner only."""
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def validate(folder, env=None):
    full = {k: v for k, v in os.environ.items() if k != "SKED_CONFIG"}
    full.update(env or {})
    return subprocess.run([SKED, "validate", "-c", str(folder / "sked.yaml")],
                          capture_output=True, text=True, timeout=60, env=full)


def api(d, method, path):
    return http(method, path, sock=os.path.join(d.state, "sked.sock"))


def one_run(d, job):
    """Triggers job and waits for its run to end; returns the run."""
    d.cli("trigger", job)
    runs = d.wait_runs(job, lambda h: h and done(h[0]), what=f"a run of {job} to end")
    return runs[0]


def outputs(d, job, run):
    """What sked keeps and shows of a run's output: the log file, `sked
    logs` and the API's /log."""
    log_file = os.path.join(d.state, "logs", job, f"{run['id']}.log")
    with open(log_file, encoding="utf-8", errors="replace") as f:
        in_file = f.read()
    cli = d.cli("logs", job, "--run", str(run["id"])).stdout
    r = api(d, "GET", f"/api/v1/runs/{run['id']}/log")
    assert r.status == 200, r.body
    return {"file": in_file, "cli": cli, "api": r.body.decode()}


def test_env_file_secret_is_masked_in_log_cli_api_and_webhook(daemon, tmp_path, hook):
    private(tmp_path / "app.env",
            "DB_PASSWORD=hunter22-s3cret\n"
            "API_TOKEN='tok 0123456789'\n"
            "EMPTY=\n")
    (tmp_path / "leak.py").write_text(
        "import os\n"
        "print('password is', os.environ['DB_PASSWORD'], flush=True)\n"
        "print('token=' + os.environ['API_TOKEN'] + '.')\n"
        "import sys; sys.stderr.write('again ' + os.environ['DB_PASSWORD'] + '\\n')\n"
        "sys.exit(1)\n")
    d = daemon(f"""
        jobs:
          leak:
            python: leak.py
            env_file: app.env
            alert: {{on: [failure], webhook: "{hook.url}/hook"}}
    """)
    run = one_run(d, "leak")
    assert run["status"] == "failed"
    for where, text in outputs(d, "leak", run).items():
        assert "hunter22-s3cret" not in text and "0123456789" not in text, where
        assert "out | password is ***" in text, (where, text)
        assert "out | token=***." in text, (where, text)
        assert "err | again ***" in text, (where, text)
    wait_for(lambda: hook.requests, what="the webhook alert")
    raw = hook.requests[0]["body"]
    assert b"hunter22-s3cret" not in raw and b"0123456789" not in raw
    payload = json.loads(raw)
    assert "password is ***" in payload["output"] and "token=***." in payload["output"]
    assert "hunter22-s3cret" not in d.log()


def test_url_password_in_env_is_masked_by_value(daemon, tmp_path):
    (tmp_path / "db.py").write_text(
        "import os\n"
        "print('connecting to', os.environ['DB_URL'])\n"
        "print('cache', os.environ['CACHE_URL'])\n"
        "print('the cache password alone:', os.environ['CACHE_URL'].split(':')[2].split('@')[0])\n")
    d = daemon("""
        jobs:
          db:
            python: db.py
            env:
              DB_URL: "postgres://app:pw@db.example:5432/app"
              CACHE_URL: "redis://cache:Sw0rdf1sh%21@cache.example/0"
          psql:
            run: [echo, "postgres://app:pw@db.example/x"]
    """)
    run = one_run(d, "db")
    assert run["status"] == "succeeded"
    for where, text in outputs(d, "db", run).items():
        assert "app:pw@" not in text and "Sw0rdf1sh" not in text, (where, text)
        assert "connecting to postgres://app:***@db.example:5432/app" in text, (where, text)
        assert "cache redis://cache:***@cache.example/0" in text, (where, text)
        assert "the cache password alone: ***" in text, (where, text)
    # The job's definition in the API shows the URLs without their passwords.
    r = api(d, "GET", "/api/v1/jobs/db")
    assert r.status == 200
    env = r.json()["definition"]["env"]
    assert env["DB_URL"] == "postgres://app:***@db.example:5432/app"
    assert env["CACHE_URL"] == "redis://cache:***@cache.example/0"
    # A URL in the command line: masked in its log, its definition and `sked show`.
    run = one_run(d, "psql")
    for where, text in outputs(d, "psql", run).items():
        assert "out | postgres://app:***@db.example/x" in text, (where, text)
    r = api(d, "GET", "/api/v1/jobs/psql")
    assert r.json()["definition"]["run"] == ["echo", "postgres://app:***@db.example/x"]
    show = d.cli("show", "psql").stdout
    assert "postgres://app:***@db.example/x" in show and "app:pw@" not in show


def test_secret_split_across_pipe_reads_is_masked(daemon, tmp_path):
    secret = "split-s3cret-" + "x" * 40
    private(tmp_path / "app.env", f"SPLIT={secret}\n")
    # Byte by byte with a flush and a pause after each: the daemon reads the
    # secret in many pieces. Also one without a newline at the end.
    (tmp_path / "drip.py").write_text(
        "import os, sys, time\n"
        "s = os.environ['SPLIT']\n"
        "for text in ('a ' + s + ' b\\n', 'tail ' + s):\n"
        "    for c in text:\n"
        "        sys.stdout.write(c); sys.stdout.flush(); time.sleep(0.005)\n")
    d = daemon("""
        jobs:
          drip: {python: drip.py, env_file: app.env}
    """)
    run = one_run(d, "drip")
    assert run["status"] == "succeeded"
    for where, text in outputs(d, "drip", run).items():
        assert "s3cret" not in text, (where, text)
        assert "out | a *** b" in text and "out | tail ***" in text, (where, text)


def test_short_secret_is_refused_at_validate(tmp_path):
    private(tmp_path / "app.env", "API_TOKEN=long-enough\nPIN=123\n")
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a:\n"
        "    run: [\"true\"]\n"
        "    env_file: app.env\n")
    r = validate(tmp_path)
    assert r.returncode == 1
    assert "sked.yaml:4:15: jobs.a.env_file: " in r.stderr, r.stderr
    assert "line 2" in r.stderr and "PIN" in r.stderr and "at least 4" in r.stderr, r.stderr
    assert "123" not in r.stderr.replace("sked.yaml", "")
    # The same from secrets:.
    private(tmp_path / "app.env", "API_TOKEN=long-enough\n")
    private(tmp_path / "pin", "123\n")
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a:\n"
        "    run: [\"true\"]\n"
        "    secrets:\n"
        "      PIN: {file: pin}\n")
    r = validate(tmp_path)
    assert r.returncode == 1
    assert "sked.yaml:5:12: jobs.a.secrets.PIN: " in r.stderr, r.stderr
    assert "at least 4" in r.stderr, r.stderr


def test_secrets_from_file_credential_and_command_reach_the_child_masked(daemon, tmp_path):
    private(tmp_path / "db.pw", "file-s3cret-value\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-token").write_text("cred-s3cret-value")
    (tmp_path / "show.py").write_text(
        "import os\n"
        "want = {'FROM_FILE': 'file-s3cret-value', 'FROM_CRED': 'cred-s3cret-value',\n"
        "        'FROM_CMD': 'cmd-s3cret-value'}\n"
        "for k, v in want.items():\n"
        "    got = os.environ.get(k)\n"
        "    print(k, '=', got, 'match' if got == v else 'MISMATCH')\n")
    d = daemon("""
        defaults:
          secrets:
            FROM_CRED: {credential: api-token}
        jobs:
          show:
            python: show.py
            secrets:
              FROM_FILE: {file: db.pw}
              FROM_CMD: {command: [python3, -c, "print('cmd-s3cret-value')"], timeout: 20s}
    """, env={"CREDENTIALS_DIRECTORY": str(creds)})
    run = one_run(d, "show")
    assert run["status"] == "succeeded"
    for where, text in outputs(d, "show", run).items():
        assert "s3cret" not in text, (where, text)
        for k in ("FROM_FILE", "FROM_CRED", "FROM_CMD"):
            assert f"out | {k} = *** match" in text, (where, text)
    r = api(d, "GET", "/api/v1/jobs/show")
    assert r.status == 200 and b"s3cret" not in r.body
    env = r.json()["definition"]["env"]
    assert env == {"FROM_CRED": "[redacted]", "FROM_FILE": "[redacted]",
                   "FROM_CMD": "[redacted]"}
    assert "s3cret" not in d.log()
    # The CLI's own commands do not need the secrets: no credentials here.
    env = dict(d.env)
    env.pop("CREDENTIALS_DIRECTORY")
    r = subprocess.run([SKED, "list", "-c", d.config], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0 and "show" in r.stdout, r.stderr


def test_failing_secret_command_is_a_clear_error(tmp_path):
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a:\n"
        "    run: [\"true\"]\n"
        "    secrets:\n"
        "      DB_PASSWORD: {command: [sh, -c, \"printf leaked-%s output-text; exit 3\"]}\n")
    r = validate(tmp_path)
    assert r.returncode == 1
    assert "sked.yaml:5:20: jobs.a.secrets.DB_PASSWORD: " in r.stderr, r.stderr
    assert "exited with status 3" in r.stderr, r.stderr
    assert "leaked-output-text" not in r.stderr
    # A command that does not end in time is stopped.
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a:\n"
        "    run: [\"true\"]\n"
        "    secrets:\n"
        "      SLOW: {command: [sleep, \"30\"], timeout: 1s}\n")
    r = validate(tmp_path)
    assert r.returncode == 1
    assert "jobs.a.secrets.SLOW: " in r.stderr and "1s" in r.stderr, r.stderr
    # Without $CREDENTIALS_DIRECTORY a credential cannot be read.
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a:\n"
        "    run: [\"true\"]\n"
        "    secrets:\n"
        "      TOKEN: {credential: api-token}\n")
    r = validate(tmp_path, env={"CREDENTIALS_DIRECTORY": ""})
    assert r.returncode == 1
    assert "jobs.a.secrets.TOKEN.credential: " in r.stderr and "CREDENTIALS_DIRECTORY" in r.stderr, r.stderr
    # A value written in sked.yaml is refused: secrets never go there.
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a:\n"
        "    run: [\"true\"]\n"
        "    secrets:\n"
        "      TOKEN: in-the-file-s3cret\n")
    r = validate(tmp_path)
    assert r.returncode == 1
    assert "jobs.a.secrets.TOKEN: " in r.stderr, r.stderr
    assert "in-the-file-s3cret" not in r.stderr.split("\n")[0]


def test_exec_masks_what_it_prints(tmp_path):
    private(tmp_path / "app.env", "DB_PASSWORD=hunter22-s3cret\n")
    d = Daemon(tmp_path, """
        jobs:
          hello:
            run: [sh, -c, "echo the password is $DB_PASSWORD"]
            env_file: app.env
    """, start=False)
    r = d.cli("exec", "hello")
    assert "the password is ***" in r.stdout and "s3cret" not in r.stdout + r.stderr


def test_docs_secret_command_error_example(tmp_path):
    """The console example of docs/config.md (Secrets), run with a `pass`
    that fails the way the real one does."""
    with open(os.path.join(REPO, "docs", "config.md"), encoding="utf-8") as f:
        doc = f.read()
    block = doc.split("\n## Secrets\n")[1].split("```console\n")[1].split("```")[0]
    lines = block.splitlines()
    assert lines[0] == "$ sked validate -c sked.yaml"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "pass").write_text(
        "#!/bin/sh\necho 'Error: db is not in the password store.' >&2\nexit 1\n")
    os.chmod(bindir / "pass", 0o755)
    (tmp_path / "sked.yaml").write_text(
        "jobs:\n"
        "  a:\n"
        "    run: [\"true\"]\n"
        "    secrets:\n"
        "      DB_PASSWORD: {command: [pass, show, db]}\n")
    env = {k: v for k, v in os.environ.items() if k != "SKED_CONFIG"}
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    r = subprocess.run([SKED, "validate", "-c", "sked.yaml"], capture_output=True, text=True,
                       timeout=60, env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == "\n".join(lines[1:]) + "\n"
