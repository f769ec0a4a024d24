"""The web dashboard, end to end: the real daemon serving it on a loopback
port, driven in headless Chromium over the DevTools protocol (cdp.py).

test_dashboard_jobs_runs_timeline_workflow clicks through what a user does:
the jobs list, Trigger, the run page with its live log, the timeline, a
workflow run's step graph. test_dashboard_tokens checks what a read token
and an admin token see, and that a refused request shows a banner instead of
a blank page. Screenshots (light and dark) go to build/artifacts/web/ and
are kept as test artifacts. Skipped without /usr/bin/chromium, and under
sanitizers (SKED_SANITIZED): Chromium under ASan's wrapper is too slow.
"""
import contextlib
import json
import os
import socket
import urllib.error
import urllib.request

import pytest

import cdp
from harness import wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARTIFACTS = os.path.join(ROOT, "build", "artifacts", "web")

pytestmark = [
    pytest.mark.skipif(not os.access(cdp.CHROMIUM, os.X_OK),
                       reason=f"{cdp.CHROMIUM} is not installed (Debian package chromium)"),
    pytest.mark.skipif(bool(os.environ.get("SKED_SANITIZED")),
                       reason="no browser tests under sanitizers (SKED_SANITIZED is set)"),
]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, headers=None):
    """(status, body text) of a GET; errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def start(daemon, yaml_text):
    """Starts the daemon; returns it and its base URL once GET /api/v1/health answers."""
    port = free_port()
    d = daemon(yaml_text.replace("PORT", str(port)))
    base = f"http://127.0.0.1:{port}/"
    wait_for(lambda: http_get(base + "api/v1/health")[0] == 200, timeout=20, interval=0.1,
             what=f"{base}api/v1/health to answer; daemon log:\n{d.log()}")
    return d, base


@pytest.fixture
def browser():
    b = cdp.Browser(width=1280, height=800)
    try:
        yield b
    finally:
        b.close()


def snap(b, name, schemes=("light", "dark")):
    """Screenshots of the page in each colour scheme: build/artifacts/web/NAME-SCHEME.png."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    paths = []
    for scheme in schemes:
        b.color_scheme(scheme)
        # Let the page restyle and paint before the picture.
        b.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        paths.append(b.screenshot(os.path.join(ARTIFACTS, f"{name}-{scheme}.png")))
    b.color_scheme("light")
    for p in paths:
        assert os.path.getsize(p) > 1000, f"{p} looks empty"
    return paths


@contextlib.contextmanager
def explained(b, d, name):
    """On failure: a screenshot, the page's text and errors, and the daemon log in the message."""
    try:
        yield
    except Exception as e:
        extra = []
        try:
            os.makedirs(ARTIFACTS, exist_ok=True)
            extra.append("screenshot: " + b.screenshot(os.path.join(ARTIFACTS, f"FAILED-{name}.png")))
            extra.append("page: " + str(b.evaluate("location.href + '\\n' + document.body.innerText")))
            extra.append("page errors: " + repr(b.errors()))
        except Exception as inner:      # the browser itself may be the problem
            extra.append(f"(no page details: {inner})")
        extra.append("daemon log:\n" + d.log()[-4000:])
        raise AssertionError(f"{e}\n\n" + "\n".join(extra)) from e


def q(selector):
    """A JS expression: the first element matching selector (CSS, JSON-quoted)."""
    return f"document.querySelector({json.dumps(selector)})"


def text_of(selector):
    return f"({q(selector)} ? {q(selector)}.textContent : '')"


DASHBOARD_YAML = """\
http: {listen: "127.0.0.1:PORT"}
jobs:
  hello: {run: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.4; done"]}
  nightly: {schedule: "0 3 * * *", run: ["true"]}
  flow:
    steps:
      a: {run: ["true"]}
      b: {run: ["true"], needs: [a]}
"""


def test_dashboard_jobs_runs_timeline_workflow(daemon, browser):
    d, base = start(daemon, DASHBOARD_YAML)
    b = browser
    with explained(b, d, "dashboard"):
        # The jobs list: every job, its trigger, the admin buttons (no tokens: admin).
        b.navigate(base)
        b.wait_for(f"{q('tr[data-job=hello]')} && {q('tr[data-job=nightly]')} && {q('tr[data-job=flow]')}",
                   what="the three jobs in the table")
        b.wait_for(q("tr[data-job=hello] button.trigger"), what="the admin's Trigger button")
        assert "0 3 * * *" in b.evaluate(text_of("tr[data-job=nightly]"))
        nxt = b.evaluate(f"{q('tr[data-job=nightly] time')}?.getAttribute('title') || ''")
        assert nxt, "the next run of nightly has its absolute time as a tooltip"
        assert b.evaluate(text_of("tr[data-job=nightly] time")).startswith("in ")
        assert "workflow" in b.evaluate(text_of("tr[data-job=flow]"))
        assert b.evaluate("document.documentElement.scrollWidth <= innerWidth"), "no sideways scroll at 1280"

        # The filter box narrows the list by name, on the client.
        b.type_text("#filter", "nigh")
        b.wait_for("document.querySelectorAll('tbody tr[data-job]').length === 1", what="the filter")
        assert b.evaluate(q("tr[data-job=nightly]")) is not None
        b.type_text("#filter", "")
        b.wait_for("document.querySelectorAll('tbody tr[data-job]').length === 3", what="the filter cleared")
        snap(b, "jobs")

        # Trigger hello; its run page streams the log while it runs.
        b.click("tr[data-job=hello] button.trigger")
        b.wait_for(f"{text_of('#toast')}.includes('hello')", what="the triggered notice")
        run_id = int(b.evaluate(f"{q('#toast .toast-run')}.getAttribute('href')").split("/")[-1])
        b.click("#toast .toast-run")
        b.wait_for(f"location.hash === '#/runs/{run_id}'", what="the run page")
        b.wait_for(f"{text_of('#log')}.includes('line 3')", timeout=30, what="line 3 in the log")
        assert b.evaluate(f"{q('#log')}.dataset.mode") == "stream", \
            "the log of a running run comes from the event stream"
        b.wait_for(q("h1 .badge.st-succeeded"), timeout=30, what="the run to succeed")
        b.wait_for(f"{text_of('#log')}.includes('line 8') && {text_of('#log-state')}.includes('ended')",
                   timeout=15, what="the whole log and the stream's end")
        log = b.evaluate(text_of("#log"))
        assert log.count("line 3") == 1, f"each line once (no replay on reconnect):\n{log}"
        facts = b.evaluate(text_of(".facts"))
        assert "manual" in facts and "hello" in facts
        snap(b, "run")

        # The timeline has the run as a bar; hovering it tells which run it is.
        b.click("nav a[data-nav=timeline]")
        bar = f"#gantt a.run[data-run='{run_id}']"
        b.wait_for(q(bar), timeout=20, what="the run's bar on the timeline")
        b.hover(bar + " rect")
        b.wait_for(f"!{q('#tip')}.hidden && {text_of('#tip')}.includes('#{run_id}')",
                   what="the hover card of the bar")
        snap(b, "timeline")

        # A workflow run: two steps, one edge, both succeeded; a step opens its run.
        b.click("nav a[data-nav=jobs]")
        b.click("tr[data-job=flow] button.trigger")
        b.wait_for(f"{text_of('#toast')}.includes('flow')", what="the triggered notice for flow")
        b.click("#toast .toast-run")
        b.wait_for("document.querySelectorAll('.graph .step.st-succeeded').length === 2",
                   timeout=30, what="both steps coloured succeeded")
        assert b.evaluate("document.querySelectorAll('.graph .edge').length") == 1
        assert b.evaluate(f"{q('.graph .edge')}.dataset.from + '>' + {q('.graph .edge')}.dataset.to") == "a>b"
        b.wait_for(q("h1 .badge.st-succeeded"), timeout=30, what="the workflow run to succeed")
        snap(b, "workflow-run")
        b.click(".graph a.step[data-step=b]")
        b.wait_for(f"{text_of('h1')}.includes('step b')", what="the run page of step b")

        # A narrow screen: no sideways scrolling, the buttons still there.
        b.navigate(base + "#/")
        b.set_viewport(390, 800)
        b.wait_for(q("tr[data-job=hello] button.trigger"), what="the jobs list on a phone")
        assert b.evaluate("document.documentElement.scrollWidth <= innerWidth + 1"), "fits 390 px"
        snap(b, "jobs-narrow", schemes=("light",))
        b.set_viewport(1280, 800)

        assert b.errors() == [], "no JavaScript errors"


def write_token(path, token):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


def test_dashboard_tokens(daemon, browser, tmp_path):
    admin = "admin-" + os.urandom(8).hex()
    read = "read-" + os.urandom(8).hex()
    admin_file = write_token(str(tmp_path / "admin.token"), admin)
    read_file = write_token(str(tmp_path / "read.token"), read)
    d, base = start(daemon, f"""\
http: {{listen: "127.0.0.1:PORT", admin_token_file: "{admin_file}", read_token_file: "{read_file}"}}
jobs:
  nightly: {{schedule: "0 3 * * *", run: ["true"]}}
""")
    assert http_get(base)[0] == 401, "the dashboard itself needs a token"
    b = browser
    with explained(b, d, "tokens"):
        # A read token: the jobs, but no buttons, and a read-only mark.
        b.set_headers({"Authorization": f"Bearer {read}"})
        b.navigate(base)
        b.wait_for(q("tr[data-job=nightly]"), what="the job with a read token")
        b.wait_for(f"{text_of('#daemon')}.includes('read-only')", what="the read-only mark")
        assert b.evaluate(q("button.trigger")) is None, "no Trigger button for a read token"
        assert b.evaluate(q("button.pause")) is None, "no Pause button for a read token"
        snap(b, "jobs-read-token", schemes=("light",))

        # A token that stopped working: a banner over the last good page, never a blank one.
        # (A browser then asks for the token in its login dialog; here, "Cancel".)
        b.cancel_auth_prompts()
        b.set_headers({"Authorization": "Bearer wrong"})
        b.wait_for(f"!{q('#banner')}.hidden && {text_of('#banner')}.includes('401')",
                   timeout=20, what="the 401 banner")
        assert b.evaluate(q("tr[data-job=nightly]")) is not None, "the table stays"

        # The admin token: the buttons work.
        b.set_headers({"Authorization": f"Bearer {admin}"})
        b.navigate(base + "?admin")
        b.wait_for(q("tr[data-job=nightly] button.trigger"), what="the Trigger button for the admin")
        assert b.evaluate(f"{q('#banner')}.hidden"), "no error banner"
        b.click("tr[data-job=nightly] button.pause")
        b.wait_for(f"{q('tr[data-job=nightly] button.resume')} && {text_of('tr[data-job=nightly]')}.includes('paused')",
                   timeout=20, what="nightly paused")
        b.click("tr[data-job=nightly] button.resume")
        b.wait_for(q("tr[data-job=nightly] button.pause"), timeout=20, what="nightly resumed")
        assert b.errors() == [], "no JavaScript errors"


def test_dashboard_job_page_params_and_cancel(daemon, browser):
    d, base = start(daemon, """\
http: {listen: "127.0.0.1:PORT"}
jobs:
  report:
    params: {day: "2026-11-01"}
    run: ["sh", "-c", "echo day=$SKED_PARAM_DAY"]
  slow: {run: ["sleep", "60"]}
""")
    b = browser
    with explained(b, d, "job-page"):
        # The job page: facts, definition, a form for its parameters.
        b.navigate(base + "#/jobs/report")
        b.wait_for(f"{text_of('pre.code')}.includes('SKED_PARAM_DAY')", what="the definition")
        b.wait_for(f"{q('form.params input[name=day]')}?.value === '2026-11-01'", what="the params form")
        assert "manual" in b.evaluate(text_of(".facts"))
        b.type_text("form.params input[name=day]", "2026-11-26")
        b.click("form.params button[type=submit]")
        b.wait_for(f"{text_of('#toast')}.includes('report')", what="the triggered notice")
        b.click("#toast .toast-run")
        b.wait_for(q("h1 .badge.st-succeeded"), timeout=30, what="the report run to succeed")
        b.wait_for(f"{text_of('#log')}.includes('day=2026-11-26')", what="the parameter in the output")
        assert "2026-11-26" in b.evaluate(text_of(".facts")), "the run's params are shown"
        b.click("a[href='#/jobs/report']")
        b.wait_for(f"{q('#view table.list tbody a')}", what="the job's runs")
        snap(b, "job")

        # Cancel a running run: the button asks once more, then the run is killed.
        b.navigate(base + "#/jobs/slow")
        b.click("#view .actions button.trigger")
        b.wait_for(f"{text_of('#toast')}.includes('slow')", what="the triggered notice")
        b.click("#toast .toast-run")
        b.wait_for(q("h1 .badge.st-running"), timeout=20, what="the slow run to be running")
        b.click("button.cancel")
        b.wait_for(f"{text_of('button.cancel')}.startsWith('Really')", what="the confirmation")
        b.click("button.cancel")
        b.wait_for(q("h1 .badge.st-killed"), timeout=30, what="the run killed")
        assert "cancelled" in b.evaluate(text_of(".facts"))
        assert b.evaluate(q("button.cancel")) is None, "no Cancel for a finished run"
        assert b.errors() == [], "no JavaScript errors"
