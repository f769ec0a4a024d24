"""Jobs started by a signed webhook (on: {webhook: ...}): POST /hooks/NAME on
the HTTP listener, authenticated by an HMAC-SHA256 of the body with the
job's secret, through the real binary. The body reaches the run as
$SKED_EVENT_FILE, declared JSON members as its params."""
import hashlib
import hmac
import json
import os
import re
import subprocess
import textwrap

from conftest import SKED, run_sked
from harness import Daemon, done, free_port, http

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = b"It's a Secret to Everybody"
ADMIN = "admin-token-0123456789abcdef"


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def start_daemon(tmp_path, jobs, secret=SECRET):
    """A daemon on a free port with an admin token (which hooks do not
    need) and deploy.secret beside sked.yaml."""
    port = free_port()
    (tmp_path / "deploy.secret").write_bytes(secret + b"\n")
    (tmp_path / "deploy.secret").chmod(0o600)
    (tmp_path / "admin.token").write_text(ADMIN + "\n")
    (tmp_path / "admin.token").chmod(0o600)
    jobs = textwrap.indent(textwrap.dedent(jobs), "  ")
    d = Daemon(tmp_path, f'http: {{listen: "127.0.0.1:{port}", admin_token_file: admin.token}}\n'
               "jobs:\n" + jobs)
    return d, port


def hook(port, name, body, headers=None, sig=True):
    h = {"Content-Type": "application/json"}
    if sig:
        h["X-Sked-Signature-256"] = sign(body)
    h.update(headers or {})
    return http("POST", "/hooks/" + name, body=body, headers=h, port=port)


DEPLOY = """
      deploy:
        on: {webhook: {secret_file: deploy.secret}}
        params: {ref: "", count: "", flag: "", ratio: ""}
        shell: 'cat "$SKED_EVENT_FILE" > payload.out; echo "$SKED_EVENT|$SKED_PARAM_REF|$SKED_PARAM_COUNT|$SKED_PARAM_FLAG|$SKED_PARAM_RATIO" > env.out'
      plain:
        run: [true]
"""


def test_signed_webhook_runs_with_its_payload(tmp_path):
    d, port = start_daemon(tmp_path, DEPLOY)
    try:
        body = json.dumps({"ref": "main", "count": 3, "flag": True, "other": "ignored",
                           "ratio": 0.1}).encode()
        r = hook(port, "deploy", body)
        assert r.status == 202, r.body
        run_id = r.json()["run_id"]
        assert r.json()["status"] == "queued"
        runs = d.wait_runs("deploy", lambda h: len(h) == 1 and done(h[0]))
        assert runs[0]["id"] == run_id and runs[0]["status"] == "succeeded", runs
        assert runs[0]["trigger"] == "event" and runs[0]["event"].startswith("webhook")
        assert (tmp_path / "payload.out").read_bytes() == body
        assert (tmp_path / "env.out").read_text() == "webhook|main|3|true|0.1\n"

        # GitHub's header, and a delivery id that names the event.
        body2 = b'{"ref": "dev"}'
        r = hook(port, "deploy", body2, sig=False,
                 headers={"X-Hub-Signature-256": sign(body2),
                          "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                          "X-GitHub-Event": "push"})
        assert r.status == 202, r.body
        runs = d.wait_runs("deploy", lambda h: len(h) == 2 and all(done(x) for x in h))
        assert runs[0]["event"] == "webhook: 72d3162e-cc78-11e3-81ab-4c9367dc0958"
        assert (tmp_path / "env.out").read_text() == "webhook|dev|||\n"
        text = d.cli("history", "deploy").stdout
        assert "webhook" in text
        assert SECRET.decode() not in d.log()
    finally:
        d.stop()


def test_unsigned_or_wrongly_signed_hooks_run_nothing(tmp_path):
    d, port = start_daemon(tmp_path, DEPLOY)
    try:
        body = b'{"ref": "main"}'
        r = hook(port, "deploy", body, sig=False)
        assert r.status == 401 and "X-Sked-Signature-256" in r.json()["error"], r.body
        r = hook(port, "deploy", body, headers={"X-Sked-Signature-256": sign(body, b"wrong")})
        assert r.status == 401 and "does not match" in r.json()["error"], r.body
        assert sign(body)[7:] not in r.body.decode()
        r = hook(port, "deploy", body, headers={"X-Sked-Signature-256": "sha1=abcd"})
        assert r.status == 401, r.body
        r = hook(port, "deploy", body, headers={"X-Sked-Signature-256": "sha256=zz"})
        assert r.status == 401, r.body
        # A captured delivery replayed with another body: its signature fails.
        replay = {"X-Sked-Signature-256": sign(body)}
        r = hook(port, "deploy", b'{"ref": "evil"}', sig=False, headers=replay)
        assert r.status == 401, r.body
        # No such hook; a job without one.
        assert hook(port, "nope", body).status == 404
        r = hook(port, "plain", body)
        assert r.status == 404 and "webhook" in r.json()["error"], r.body
        # Another method.
        assert http("GET", "/hooks/deploy", port=port).status == 405
        # A page of another site cannot drive it, signature or not.
        r = hook(port, "deploy", body, headers={"Origin": "http://evil.example"})
        assert r.status == 403, r.body
        assert d.history("deploy") == []
        # The API's token is still needed everywhere else.
        assert http("POST", "/api/v1/jobs/deploy/trigger", port=port).status == 401
    finally:
        d.stop()


def test_paused_or_disabled_hooks_are_refused(tmp_path):
    d, port = start_daemon(tmp_path, DEPLOY + """
      off:
        on: {webhook: {secret_file: deploy.secret}}
        enabled: false
        run: [true]
""")
    try:
        body = b"{}"
        d.cli("pause", "deploy")
        r = hook(port, "deploy", body)
        assert r.status == 409 and "paused" in r.json()["error"], r.body
        r = hook(port, "off", body)
        assert r.status == 409 and "disabled" in r.json()["error"], r.body
        d.cli("resume", "deploy")
        assert hook(port, "deploy", body).status == 202
        d.wait_runs("deploy", lambda h: len(h) == 1 and done(h[0]))
        assert d.history("off") == []
    finally:
        d.stop()


def test_large_hook_body_is_refused(tmp_path):
    d, port = start_daemon(tmp_path, DEPLOY)
    try:
        big = b'{"ref": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        r = hook(port, "deploy", big)
        assert r.status == 413 and "1 MiB" in r.json()["error"], r.body
        # Just under the cap: fine (not a JSON object: no params).
        ok = b"y" * (1024 * 1024 - 1)
        r = hook(port, "deploy", ok, headers={"Content-Type": "text/plain"})
        assert r.status == 202, r.body
        runs = d.wait_runs("deploy", lambda h: len(h) == 1 and done(h[0]))
        assert runs[0]["status"] == "succeeded"
        assert (tmp_path / "payload.out").read_bytes() == ok
    finally:
        d.stop()


def test_hook_over_the_control_socket(tmp_path):
    d, port = start_daemon(tmp_path, DEPLOY)
    try:
        body = b'{"ref": "sock"}'
        sock = os.path.join(d.state, "sked.sock")
        r = http("POST", "/hooks/deploy", body=body, sock=sock,
                 headers={"X-Sked-Signature-256": sign(body)})
        assert r.status == 202, r.body
        r = http("POST", "/hooks/deploy", body=body, sock=sock)
        assert r.status == 401, r.body
        d.wait_runs("deploy", lambda h: len(h) == 1 and done(h[0]))
    finally:
        d.stop()


def validate(tmp_path, yaml_text):
    (tmp_path / "sked.yaml").write_text(yaml_text)
    return run_sked("validate", "-c", str(tmp_path / "sked.yaml"))


def test_webhook_config_errors_say_where(tmp_path):
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: {webhook: {secret_file: gone.secret}}\n"
                           "    run: [true]\n")
    assert r.returncode == 1
    assert re.search(r"sked\.yaml:3:33: jobs\.deploy\.on\.webhook\.secret_file: .*gone\.secret.* "
                     r"does not exist", r.stderr), r.stderr
    (tmp_path / "loose.secret").write_text("a-long-enough-secret\n")
    (tmp_path / "loose.secret").chmod(0o644)
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: {webhook: {secret_file: loose.secret}}\n"
                           "    run: [true]\n")
    assert r.returncode == 1
    assert re.search(r"sked\.yaml:3:33: .*other users may read it \(mode 0644\)", r.stderr), \
        r.stderr
    (tmp_path / "loose.secret").chmod(0o600)
    r = validate(tmp_path, "jobs:\n  deploy:\n    on:\n      - webhook: {secret_file: loose.secret,"
                           " secrte: x}\n    run: [true]\n")
    assert r.returncode == 1
    assert re.search(r"sked\.yaml:4:46: jobs\.deploy\.on\[0\]\.webhook\.secrte: unknown key", r.stderr), \
        r.stderr
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: webhook\n    run: [true]\n")
    assert r.returncode == 1 and "secret_file" in r.stderr, r.stderr
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: [start, {webhook: {secret_file: loose.secret}}]\n"
                           "    run: [true]\n")
    assert r.returncode == 0, r.stderr


def test_guide_webhook_example(tmp_path):
    """docs/guide.md "Webhooks": its shell example, run as written."""
    with open(os.path.join(ROOT, "docs", "guide.md")) as f:
        guide = f.read()
    section = guide.split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    script = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    d, port = start_daemon(tmp_path, DEPLOY)
    try:
        bindir = os.path.dirname(os.path.abspath(SKED))
        env = dict(d.env, SKED_URL=f"http://127.0.0.1:{port}",
                   PATH=bindir + os.pathsep + os.environ["PATH"])
        r = subprocess.run(["sh", "-e", "-c", script], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert '"run_id"' in r.stdout, r.stdout
        runs = d.wait_runs("deploy", lambda h: len(h) == 1 and done(h[0]))
        assert runs[0]["status"] == "succeeded"
        assert (tmp_path / "env.out").read_text().startswith("webhook|main|")
        # docs/api.md's example, on this daemon's port.
        with open(os.path.join(ROOT, "docs", "api.md")) as f:
            api = f.read().split("\n### `POST /hooks/NAME`\n", 1)[1].split("\n### ", 1)[0]
        script = re.search(r"```sh\n(.*?)```", api, re.S).group(1).replace(":8080/", f":{port}/")
        r = subprocess.run(["sh", "-e", "-c", script], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and '"status":"queued"' in r.stdout, r.stdout + r.stderr
        d.wait_runs("deploy", lambda h: len(h) == 2 and all(done(x) for x in h))
    finally:
        d.stop()


def test_overlap_skips_and_payload_reaches_steps_and_secret_is_masked(tmp_path):
    """A delivery while a run is going is recorded as skipped (overlap:
    skip) and says so; a workflow's steps get the payload; the secret is
    masked in the output; the job lists its webhook."""
    d, port = start_daemon(tmp_path, """
      slow:
        on: {webhook: {secret_file: deploy.secret}}
        shell: 'cat deploy.secret; while [ ! -e go ]; do sleep 0.05; done'
      flow:
        on: {webhook: {secret_file: deploy.secret}}
        params: {ref: ""}
        steps:
          first:
            shell: 'cp "$SKED_EVENT_FILE" step.out; echo "$SKED_EVENT $SKED_PARAM_REF" > step.env; cat deploy.secret'
          second:
            env: {COLOR: blue}
            shell: 'cat deploy.secret'
            needs: [first]
""")
    try:
        r = hook(port, "slow", b"{}")
        assert r.status == 202 and r.json()["status"] == "queued", r.body
        first = r.json()["run_id"]
        d.wait_runs("slow", lambda h: h and h[0]["status"] == "running")
        r = hook(port, "slow", b"{}")
        assert r.status == 202 and r.json()["status"] == "skipped", r.body
        assert "overlap" in r.json()["reason"]
        (tmp_path / "go").write_text("")
        runs = d.wait_runs("slow", lambda h: len(h) == 2 and all(done(x) for x in h))
        by_id = {x["id"]: x for x in runs}
        assert by_id[first]["status"] == "succeeded"
        assert by_id[r.json()["run_id"]]["status"] == "skipped"
        log = d.cli("logs", "slow", "--run", str(first)).stdout
        assert "***" in log and SECRET.decode() not in log, log
        # A skipped delivery keeps no payload.
        events = os.listdir(os.path.join(d.state, "logs", "slow"))
        assert events.count(f"{first}.event") == 1 and len([e for e in events if
                                                             e.endswith(".event")]) == 1

        body = b'{"ref": "v1.2"}'
        assert hook(port, "flow", body).status == 202
        runs = d.wait_runs("flow", lambda h: h and done(h[0]))
        assert runs[0]["status"] == "succeeded", runs
        assert (tmp_path / "step.out").read_bytes() == body
        assert (tmp_path / "step.env").read_text() == "webhook v1.2\n"
        # Every step masks the secret, one with an env: of its own too.
        logs = os.path.join(d.state, "logs", "flow")
        texts = [open(os.path.join(logs, f)).read() for f in os.listdir(logs) if f.endswith(".log")]
        assert len([t for t in texts if "***" in t]) == 2, texts
        assert not [t for t in texts if SECRET.decode() in t], texts

        shown = {j["name"]: j["trigger"] for j in json.loads(d.cli("list", "--json").stdout)}
        assert shown["slow"] == "on webhook"
        assert "when its webhook is called" in d.cli("next", "slow").stdout
    finally:
        d.stop()
