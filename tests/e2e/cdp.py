"""A small headless Chromium driver over the DevTools protocol, standard library only.

Chromium is started with --remote-debugging-pipe: it reads protocol commands
on its fd 3 and writes responses and events on its fd 4, each message a JSON
object terminated by a NUL byte. Browser() launches it, opens one page
(Target.createTarget, then Target.attachToTarget with flatten: true, so page
commands carry a sessionId) and offers what the end-to-end tests need:
navigate, evaluate, wait_for, click, screenshot, extra HTTP headers, colour
scheme emulation. close() (also on leaving a `with` block, even after a
failure) asks Browser.close, then kills what is left and removes the profile.

All waits poll with a deadline; nothing here sleeps for a fixed time to let
the page "settle".
"""
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"


class CDPError(Exception):
    """A protocol error answer, a JavaScript exception, or a broken pipe."""


def _truthy(value):
    """JavaScript's truthiness of a returned value: an element comes back as {}, which counts."""
    if isinstance(value, CDPError) or value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == value and value != 0      # NaN and 0 are falsy
    return True


class Browser:
    def __init__(self, path=CHROMIUM, width=1280, height=800, extra_args=(), timeout=30.0):
        self.timeout = timeout
        self.proc = None
        self.session = None
        self.events = []           # every event received, in order: (method, params)
        self._answers = {}         # id -> message
        self._unwanted = set()     # ids of commands whose answers nobody waits for
        self._next_id = 0
        self._buf = b""
        self._wfd = self._rfd = -1
        self.profile = tempfile.mkdtemp(prefix="sked-chromium-")
        try:
            self._launch(path, extra_args)
            self._open_page(width, height)
        except BaseException:
            self.close()
            raise

    # ---- process and pipe ------------------------------------------------

    def _launch(self, path, extra_args):
        # Two pipes: we write commands into to_child, Chromium reads them as
        # fd 3; it writes into from_child, which it has as fd 4. pass_fds
        # keeps the child's ends open across exec under their own numbers, so
        # a tiny shell (bash: dash takes one-digit fds only) moves them onto
        # 3 and 4 before it execs Chromium.
        # The child's ends are moved above 9 first: "3<&3 ... 3<&-" would close
        # the very fd it just set up.
        pipe_in, self._wfd = os.pipe()
        self._rfd, pipe_out = os.pipe()
        child_in = fcntl.fcntl(pipe_in, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(pipe_out, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(pipe_in)
        os.close(pipe_out)
        args = [path, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
                *extra_args, "about:blank"]
        script = f'exec "$@" 3<&{child_in} 4>&{child_out} {child_in}<&- {child_out}>&-'
        try:
            self.proc = subprocess.Popen(
                ["/bin/bash", "-c", script, "bash", *args],
                pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            os.close(child_in)
            os.close(child_out)

    def _send(self, method, params=None, session=None):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._wfd, data)
            data = data[n:]
        return self._next_id

    def _pump(self, timeout):
        """Reads what Chromium has written within timeout seconds; files it."""
        ready, _, _ = select.select([self._rfd], [], [], max(0.0, timeout))
        if not ready:
            return
        chunk = os.read(self._rfd, 1 << 20)
        if not chunk:
            raise CDPError("Chromium closed its DevTools pipe (did it crash?)")
        self._buf += chunk
        while b"\0" in self._buf:
            raw, self._buf = self._buf.split(b"\0", 1)
            msg = json.loads(raw)
            if "id" in msg:
                if msg["id"] in self._unwanted:
                    # An automatic reply; it fails harmlessly when the request is
                    # gone already (the page navigated away).
                    self._unwanted.discard(msg["id"])
                else:
                    self._answers[msg["id"]] = msg
            elif msg.get("method") == "Fetch.requestPaused":
                self._unwanted.add(self._send("Fetch.continueRequest",
                                              {"requestId": msg["params"]["requestId"]},
                                              msg.get("sessionId")))
            elif msg.get("method") == "Fetch.authRequired":
                self._unwanted.add(self._send("Fetch.continueWithAuth", {
                    "requestId": msg["params"]["requestId"],
                    "authChallengeResponse": {"response": "CancelAuth"}}, msg.get("sessionId")))
            elif not msg.get("method", "").startswith("Network."):   # too many to keep
                self.events.append((msg.get("method"), msg.get("params", {})))

    def call(self, method, params=None, session=None, timeout=None):
        """Sends one command and returns its result; CDPError on an error answer."""
        ident = self._send(method, params, session)
        deadline = time.monotonic() + (timeout or self.timeout)
        while ident not in self._answers:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no answer to {method} within {timeout or self.timeout}s")
            self._pump(left)
        msg = self._answers.pop(ident)
        if "error" in msg:
            raise CDPError(f"{method}: {msg['error'].get('message')} {msg['error'].get('data', '')}")
        return msg.get("result", {})

    def page(self, method, params=None, timeout=None):
        """A command to the page's session."""
        return self.call(method, params, session=self.session, timeout=timeout)

    def _open_page(self, width, height):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.page(f"{domain}.enable")
        self.set_viewport(width, height)

    def close(self):
        """Closes the browser politely, then by force; removes the profile. Idempotent."""
        if self.proc and self.proc.poll() is None:
            try:
                self._send("Browser.close")
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)   # its own session: helpers too
            except ProcessLookupError:
                pass
            self.proc.wait()
        for fd in (self._wfd, self._rfd):
            if fd >= 0:
                os.close(fd)
        self._wfd = self._rfd = -1
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- page helpers ----------------------------------------------------

    def set_viewport(self, width, height):
        self.page("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def color_scheme(self, scheme):
        """'light' or 'dark': what prefers-color-scheme says from now on."""
        self.page("Emulation.setEmulatedMedia",
                  {"features": [{"name": "prefers-color-scheme", "value": scheme}]})

    def cancel_auth_prompts(self):
        """Answers every HTTP authentication prompt with Cancel, as a user closing the
        login dialog would. (Headless Chromium has no dialog: a request that meets a
        Basic challenge would otherwise wait forever.) Requests are paused and let go
        while this driver reads the pipe, i.e. during any call or wait."""
        self.page("Fetch.enable", {"handleAuthRequests": True, "patterns": [{"urlPattern": "*"}]})

    def set_headers(self, headers):
        """Extra headers sent with every request of the page (Network.setExtraHTTPHeaders)."""
        self.page("Network.setExtraHTTPHeaders", {"headers": dict(headers)})

    def evaluate(self, expression, timeout=None):
        """Evaluates a JS expression in the page (awaiting a promise); returns its value."""
        res = self.page("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                             "returnByValue": True, "userGesture": True},
                        timeout=timeout)
        if "exceptionDetails" in res:
            det = res["exceptionDetails"]
            text = det.get("exception", {}).get("description") or det.get("text")
            raise CDPError(f"JavaScript error in {expression!r}: {text}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression, timeout=20.0, interval=0.1, what=None):
        """Polls a JS expression until it is truthy; returns its value, or fails."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = self.evaluate(expression)
            except CDPError as e:     # e.g. the page is navigating
                last = e
            if _truthy(last):
                return last
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for "
                                     f"{what or expression}; last={last!r}")
            self._pump(interval)      # keep events flowing while we wait

    def navigate(self, url, timeout=30.0):
        """Opens url and waits until the document has loaded."""
        res = self.page("Page.navigate", {"url": url}, timeout=timeout)
        if res.get("errorText"):
            raise CDPError(f"navigate {url}: {res['errorText']}")
        self.wait_for(f"document.readyState === 'complete' && location.href.startsWith({json.dumps(url.split('#')[0])})",
                      timeout=timeout, what=f"{url} to load")

    def click(self, selector, timeout=20.0):
        """Clicks the first element matching selector like a user: real mouse events at its centre."""
        sel = json.dumps(selector)
        box = self.wait_for(
            f"""(() => {{ const e = document.querySelector({sel});
                 if (!e) return null;
                 e.scrollIntoView({{block: 'center', inline: 'center'}});
                 const r = e.getBoundingClientRect();
                 if (r.width === 0 || r.height === 0) return null;
                 return {{x: r.left + r.width / 2, y: r.top + r.height / 2}}; }})()""",
            timeout=timeout, what=f"{selector} to be visible")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent",
                      {"type": kind, "x": box["x"], "y": box["y"], "button": "left",
                       "clickCount": 0 if kind == "mouseMoved" else 1})

    def hover(self, selector, timeout=20.0):
        """Moves the mouse over the centre of the first element matching selector."""
        sel = json.dumps(selector)
        box = self.wait_for(
            f"""(() => {{ const e = document.querySelector({sel});
                 if (!e) return null; const r = e.getBoundingClientRect();
                 return r.width ? {{x: r.left + r.width / 2, y: r.top + r.height / 2}} : null; }})()""",
            timeout=timeout, what=f"{selector} to be visible")
        self.page("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box["x"], "y": box["y"]})

    def type_text(self, selector, text, clear=True):
        """Focuses the element and types text into it, as a keyboard would (Input.insertText)."""
        sel = json.dumps(selector)
        self.wait_for(f"document.querySelector({sel})", what=f"{selector} to exist")
        self.evaluate(f"(() => {{ const e = document.querySelector({sel}); e.focus();"
                      f" if ({'true' if clear else 'false'}) e.select && e.select(); }})()")
        if clear:
            self.page("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Backspace",
                                                 "code": "Backspace", "windowsVirtualKeyCode": 8})
            self.page("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace",
                                                 "code": "Backspace", "windowsVirtualKeyCode": 8})
        if text:
            self.page("Input.insertText", {"text": text})

    def screenshot(self, path, full_page=False):
        """Saves a PNG of the viewport (or of the whole page) to path."""
        params = {"format": "png"}
        if full_page:
            m = self.page("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m["contentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"],
                                "height": size["height"], "scale": 1})
        data = base64.b64decode(self.page("Page.captureScreenshot", params)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return path

    def errors(self):
        """The page's uncaught JavaScript exceptions and console errors seen so far."""
        self._pump(0)
        out = []
        for method, p in self.events:
            if method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(d.get("exception", {}).get("description") or d.get("text"))
            elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        return out
