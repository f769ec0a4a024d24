/*
 * Alerts (src/alert/): the JSON and Slack payloads (fields, nulls, escaping
 * of quotes, newlines, control characters, Unicode and broken UTF-8 in a
 * job's output, the output cap), the one-line text, the RFC 5322 message,
 * and real deliveries on a real loop against receivers on 127.0.0.1 that a
 * Python helper (/usr/bin/python3: http.server and aiosmtpd) runs on
 * ephemeral ports and that write what they received to a folder: webhook
 * status classes, timeouts, refused connections, redirects, Slack, SMTP with
 * and without a password, and commands (stdin, failures, a hanging group
 * killed at the timeout). While a delivery runs the loop keeps turning (a
 * 10 ms ticker counts). Every test ends with uv_loop_close() == 0. Timing
 * assertions are generous: the machine may be slow. The helper is killed and
 * reaped at the end, and exits by itself if this process dies (its stdin is
 * a pipe only we hold). SKED_TEST_VERBOSE=1 prints each delivery's result.
 */
#include "alert/alert.h"
#include "alert/alert_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The test sets one variable, before any pool thread reads the environment,
 * for the password_env case; sked itself never does (banned.h). */
#undef setenv

extern char **environ;

#define SECRET "s3cret-pw!"

/* ---- the receivers: one Python process, shared by the tests ---- */

static const char RECEIVER_PY[] =
    "import asyncio, email, json, logging, os, sys, threading, time\n"
    "from email import policy\n"
    "from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler\n"
    "from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword\n"
    "logging.disable(logging.CRITICAL)\n"
    "def lifeline():\n"
    "    sys.stdin.buffer.read()\n"
    "    os._exit(0)\n"
    "threading.Thread(target=lifeline, daemon=True).start()\n"
    "out = sys.argv[1]\n"
    "def save(name, obj):\n"
    "    tmp = os.path.join(out, '.' + name + '.tmp')\n"
    "    with open(tmp, 'w') as f:\n"
    "        json.dump(obj, f)\n"
    "    os.rename(tmp, os.path.join(out, name))\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "    def do_POST(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        body = self.rfile.read(n)\n"
    "        parts = self.path.strip('/').split('/')\n"
    "        tag, action = parts[1], parts[2]\n"
    "        arg = int(parts[3]) if len(parts) > 3 else 0\n"
    "        if action == 'redirect' and arg > 0:\n"
    "            self.send_response(302)\n"
    "            self.send_header('Location', '/t/%s/redirect/%d' % (tag, arg "
    "- 1))\n"
    "            self.send_header('Content-Length', '0')\n"
    "            self.end_headers()\n"
    "            return\n"
    "        save(tag + '.http', {'path': self.path, 'method': self.command,\n"
    "             'headers': {k.lower(): v for k, v in self.headers.items()},\n"
    "             'body': body.decode('utf-8', 'replace')})\n"
    "        if action == 'hang':\n"
    "            time.sleep(120)\n"
    "            return\n"
    "        status = arg if action == 'status' else 200\n"
    "        msg = b'' if status == 204 else ('status %d\\nsecond line\\n' % "
    "status).encode()\n"
    "        self.send_response(status)\n"
    "        self.send_header('Content-Type', 'text/plain')\n"
    "        self.send_header('Content-Length', str(len(msg)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(msg)\n"
    "class Mail:\n"
    "    async def handle_DATA(self, server, session, envelope):\n"
    "        raw = envelope.original_content\n"
    "        m = email.message_from_bytes(raw, policy=policy.default)\n"
    "        defects = [str(d) for d in m.defects]\n"
    "        for k, v in m.items():\n"
    "            defects += [str(d) for d in getattr(v, 'defects', [])]\n"
    "        date = m['Date']\n"
    "        save(envelope.rcpt_tos[0].split('@')[0] + '.mail', {\n"
    "            'mail_from': envelope.mail_from, 'rcpt_tos': "
    "envelope.rcpt_tos,\n"
    "            'from': str(m['From']), 'to': str(m['To']), 'subject': "
    "str(m['Subject']),\n"
    "            'date_ok': date is not None and date.datetime is not None,\n"
    "            'message_id': str(m['Message-ID']), 'content_type': "
    "m.get_content_type(),\n"
    "            'charset': m.get_content_charset(),\n"
    "            'body': m.get_content().replace('\\r\\n', '\\n'),\n"
    "            'raw': raw.decode('utf-8', 'replace'), 'defects': defects,\n"
    "            'login': session.auth_data.login.decode() if "
    "session.authenticated else None})\n"
    "        return '250 OK'\n"
    "def auth(server, session, envelope, mechanism, data):\n"
    "    ok = (isinstance(data, LoginPassword) and data.login == b'alice'\n"
    "          and data.password == b'" SECRET "')\n"
    "    return AuthResult(success=ok, handled=False, auth_data=data if ok "
    "else None)\n"
    "async def main():\n"
    "    loop = asyncio.get_running_loop()\n"
    "    srv = await loop.create_server(lambda: SMTP(Mail(), "
    "authenticator=auth,\n"
    "        auth_required=False, auth_require_tls=False), '127.0.0.1', 0)\n"
    "    httpd = ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "    httpd.daemon_threads = True\n"
    "    threading.Thread(target=httpd.serve_forever, daemon=True).start()\n"
    "    print('READY %d %d' % (httpd.server_address[1], "
    "srv.sockets[0].getsockname()[1]),\n"
    "          flush=True)\n"
    "    await asyncio.Event().wait()\n"
    "asyncio.run(main())\n";

static struct {
    pid_t pid;
    int lifeline; /* the helper's stdin: it exits when this closes, even if we
                     crash */
    int http_port, smtp_port;
    char dir[64]; /* what the receivers got, and the tests' own files */
} rx = {.pid = -1, .lifeline = -1};

static int64_t mono_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000u);
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (sk_streq(e->d_name, ".") || sk_streq(e->d_name, ".."))
            continue;
        char p[512];
        sk_snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void receivers_stop(void)
{
    if (rx.pid > 0) {
        kill(rx.pid, SIGKILL);
        while (waitpid(rx.pid, NULL, 0) < 0 && errno == EINTR)
            ;
        rx.pid = -1;
    }
    if (rx.lifeline >= 0)
        close(rx.lifeline);
    rx.lifeline = -1;
}

static int group_setup(void **state)
{
    (void)state;
    alarm(120); /* a watchdog: a hung test ends the run instead of the CI job */
    sk_alert_global_init();
    if (setenv("SKED_TEST_SMTP_PW", SECRET, 1) != 0)
        return -1;
    /* the receivers are on 127.0.0.1: no proxy of the environment in between */
    static const char *const proxies[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                          "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < SK_ARRAY_LEN(proxies); i++)
        unsetenv(proxies[i]);
    sk_strlcpy(rx.dir, "/tmp/sked-alert-XXXXXX", sizeof(rx.dir));
    if (!mkdtemp(rx.dir))
        return -1;

    /* both pipes close-on-exec: the commands the tests run must not hold them */
    int out[2], life[2];
    if (uv_pipe(out, 0, 0) != 0 || uv_pipe(life, 0, 0) != 0)
        return -1;
    rx.lifeline = life[1];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, life[0], 0);
    char *argv[] = {"/usr/bin/python3", "-c", (char *)RECEIVER_PY, rx.dir, NULL};
    int rc = posix_spawn(&rx.pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(life[0]);
    if (rc != 0) {
        fprintf(stderr, "cannot start %s: %s\n", argv[0], strerror(rc));
        rx.pid = -1;
        close(out[0]);
        receivers_stop();
        return -1;
    }

    /* wait for "READY HTTP SMTP": the ports are bound before it is printed */
    char line[128];
    size_t len = 0;
    int64_t deadline = mono_ms() + 30000;
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        int64_t left = deadline - mono_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "READY %d %d", &rx.http_port, &rx.smtp_port) != 2) {
        fprintf(stderr, "the receivers did not start (got \"%s\")\n", line);
        receivers_stop();
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    receivers_stop();
    rm_dir(rx.dir);
    sk_alert_global_cleanup();
    alarm(0);
    return 0;
}

/* ---- per test: a loop, and what the callbacks saw ---- */

typedef struct got {
    int calls;
    sk_alert_result_t res;
    int64_t started, took_ms;
    uv_timer_t ticker; /* turns every 10 ms while the delivery runs */
    bool has_ticker;
    int ticks;
    int *pending; /* deliveries still out, shared by a batch */
} got_t;

static int setup(void **state)
{
    uv_loop_t *loop = sk_xmalloc(sizeof(*loop));
    if (uv_loop_init(loop) != 0)
        return -1;
    *state = loop;
    alarm(60);
    return 0;
}

static int teardown(void **state)
{
    uv_loop_t *loop = *state;
    uv_run(loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(loop);
    free(loop);
    assert_int_equal(rc, 0);
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    got_t *g = t->data;
    g->ticks++;
}

static void on_result(void *data, const sk_alert_result_t *res)
{
    got_t *g = data;
    g->calls++;
    g->res = *res;
    g->took_ms = mono_ms() - g->started;
    if (g->pending)
        --*g->pending;
    if (g->has_ticker) {
        uv_timer_stop(&g->ticker);
        uv_close((uv_handle_t *)&g->ticker, NULL);
    }
}

/* Delivers and runs the loop until the callback has run; returns what it saw.
 */
static got_t deliver(uv_loop_t *loop, const sk_alert_cfg_t *cfg, sk_alert_channel_t ch,
                     const char *payload, int64_t timeout_ms)
{
    got_t g = {0};
    uv_timer_init(loop, &g.ticker);
    g.ticker.data = &g;
    g.has_ticker = true;
    uv_timer_start(&g.ticker, on_tick, 10, 10);
    g.started = mono_ms();
    assert_int_equal(sk_alert_deliver(loop, cfg, ch, payload, timeout_ms, on_result, &g), 0);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(g.calls, 1);
    if (!g.res.ok)
        assert_true(g.res.error[0] != '\0');
    if (getenv("SKED_TEST_VERBOSE"))
        fprintf(stderr, "    %s: ok=%d retryable=%d %dms error=%s\n", sk_alert_channel_str(ch),
                g.res.ok, g.res.retryable, (int)g.took_ms, g.res.error);
    return g;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sk_buf_t b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sk_buf_add(&b, buf, n);
    fclose(f);
    return sk_buf_take(&b, NULL);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

/* What a receiver recorded under name (TAG.http, LOCAL.mail), parsed. */
static json_t *record(const char *name)
{
    char path[256];
    sk_snprintf(path, sizeof(path), "%s/%s", rx.dir, name);
    json_t *j = json_load_file(path, 0, NULL);
    if (!j)
        fail_msg("no record %s", path);
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *url(const char *tag, const char *action, int arg)
{
    char *u = sk_xmalloc(256);
    sk_snprintf(u, 256, "http://127.0.0.1:%d/t/%s/%s/%d", rx.http_port, tag, action, arg);
    return u;
}

/* A port nothing listens on (bound, then released). */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static sk_alert_event_t sample_event(void)
{
    return (sk_alert_event_t){
        .job = "backup",
        .run_id = 42,
        .event = "failure",
        .status = "failed",
        .exit_code = 3,
        .signal = 0,
        .attempt = 2,
        .max_attempts = 3,
        .scheduled_at = 1795752300000,
        .started_at = 1795752306123,
        .ended_at = 1795752368500,
        .output_tail = "copying /srv\nerror: disk full\n",
        .link = "http://127.0.0.1:8080/runs/42",
        .hostname = "host1",
    };
}

/* ---- payloads ---- */

static void test_json_fields(void **state)
{
    (void)state;
    sk_alert_event_t ev = sample_event();
    char *s = sk_alert_json(&ev);
    json_error_t e;
    json_t *o = json_loads(s, 0, &e);
    assert_non_null(o);
    assert_string_equal(jstr(o, "job"), "backup");
    assert_true(json_is_null(json_object_get(o, "step")));
    assert_int_equal(json_integer_value(json_object_get(o, "run_id")), 42);
    assert_string_equal(jstr(o, "event"), "failure");
    assert_string_equal(jstr(o, "status"), "failed");
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 3);
    assert_true(json_is_null(json_object_get(o, "signal")));
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "max_attempts")), 3);
    assert_string_equal(jstr(o, "scheduled_at"), "2026-11-27T04:05:00.000Z");
    assert_string_equal(jstr(o, "started_at"), "2026-11-27T04:05:06.123Z");
    assert_string_equal(jstr(o, "ended_at"), "2026-11-27T04:06:08.500Z");
    assert_true(json_is_null(json_object_get(o, "reason")));
    assert_string_equal(jstr(o, "output"), "copying /srv\nerror: disk full\n");
    assert_string_equal(jstr(o, "link"), "http://127.0.0.1:8080/runs/42");
    assert_string_equal(jstr(o, "host"), "host1");
    assert_string_equal(jstr(o, "text"),
                        "sked: job backup failed (exit 3) on host1, run 42, attempt 2/3");
    assert_int_equal(json_object_size(o), 17);
    json_decref(o);
    free(s);
}

static void test_json_nulls(void **state)
{
    (void)state;
    sk_alert_event_t ev = {.job = "j", .event = "missed", .exit_code = -1, .attempt = 1};
    char *s = sk_alert_json(&ev);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    static const char *const nulls[] = {
        "step",       "run_id",   "status", "exit_code", "signal", "max_attempts", "scheduled_at",
        "started_at", "ended_at", "reason", "output",    "link",   "host"};
    for (size_t i = 0; i < SK_ARRAY_LEN(nulls); i++)
        if (!json_is_null(json_object_get(o, nulls[i])))
            fail_msg("%s is not null in %s", nulls[i], s);
    assert_string_equal(jstr(o, "text"), "sked: job j missed a run");
    json_decref(o);
    free(s);
}

static void test_json_escaping(void **state)
{
    (void)state;
    sk_alert_event_t ev = sample_event();
    ev.job = "say \"hi\" \\ now";
    ev.step = "st\tep";
    ev.reason = "line one\nline two";
    ev.output_tail = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\xa5\n"
                     "bell\x01 esc\x1b del\x7f\n"
                     "bad \xff\xfe end \xe6\x97\n";
    char *s = sk_alert_json(&ev);
    /* one line of JSON: every newline is escaped */
    assert_null(strchr(s, '\n'));
    assert_non_null(strstr(s, "\\\"hi\\\" \\\\ now"));
    assert_non_null(strstr(s, "\\u0001"));
    json_error_t e;
    json_t *o = json_loads(s, 0, &e);
    if (!o)
        fail_msg("invalid JSON (%s): %s", e.text, s);
    assert_string_equal(jstr(o, "job"), "say \"hi\" \\ now");
    assert_string_equal(jstr(o, "step"), "st\tep");
    assert_string_equal(jstr(o, "reason"), "line one\nline two");
    assert_string_equal(jstr(o, "output"), "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\xa5\n"
                                           "bell\x01 esc\x1b del\x7f\n"
                                           "bad \xef\xbf\xbd\xef\xbf\xbd end \xef\xbf\xbd\n");
    /* the sentence is one line whatever the fields hold */
    assert_string_equal(jstr(o, "text"), "sked: step st ep of job say \"hi\" \\ now failed "
                                         "(exit 3) on host1, run 42, attempt 2/3: line one "
                                         "line two");
    json_decref(o);
    free(s);
}

static void test_json_output_capped(void **state)
{
    (void)state;
    size_t n = 200 * 1024;
    char *big = sk_xmalloc(n + 32);
    for (size_t i = 0; i < n; i++)
        big[i] = (i % 80 == 79) ? '\n' : (i % 3 ? 'x' : '\xc3');
    /* 'x' after 0xc3 is invalid UTF-8 on purpose; the cut must stay valid */
    memcpy(big + n, "LAST LINE\n", 11);
    sk_alert_event_t ev = sample_event();
    ev.output_tail = big;
    char *s = sk_alert_json(&ev);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    const char *out = jstr(o, "output");
    assert_true(strncmp(out, "[...]\n", 6) == 0);
    assert_true(strlen(out) <= 3 * SK_ALERT_OUTPUT_MAX + 6); /* U+FFFD is 3 bytes */
    assert_string_equal(out + strlen(out) - 10, "LAST LINE\n");
    json_decref(o);
    free(s);
    free(big);
}

static void test_text_sentences(void **state)
{
    (void)state;
    static const struct {
        const char *event, *step, *status, *reason;
        int exit_code, signal, attempt, max_attempts;
        int64_t run_id, started, ended;
        const char *want;
    } cases[] = {
        {"failure", NULL, "failed", NULL, 3, 0, 2, 3, 42, 0, 0,
         "sked: job backup failed (exit 3) on host1, run 42, attempt 2/3"},
        {"failure", NULL, "failed", NULL, 1, 0, 1, 1, 7, 0, 0,
         "sked: job backup failed (exit 1) on host1, run 7"},
        {"failure", NULL, "killed", NULL, -1, 9, 1, 0, 7, 0, 0,
         "sked: job backup failed (killed by SIGKILL) on host1, run 7"},
        {"failure", NULL, "interrupted", NULL, -1, 0, 3, 0, 7, 0, 0,
         "sked: job backup failed (interrupted) on host1, run 7, attempt 3"},
        {"failure", "load", "failed", "upstream transform failed", 2, 0, 1, 1, 9, 0, 0,
         "sked: step load of job backup failed (exit 2) on host1, run 9: "
         "upstream transform "
         "failed"},
        {"timeout", NULL, "timed_out", NULL, -1, 15, 1, 1, 5, 1000, 601000,
         "sked: job backup timed out after 10m on host1, run 5"},
        {"missed", NULL, "missed", "the daemon was down", -1, 0, 1, 1, 0, 0, 0,
         "sked: job backup missed its run due at 2026-11-27T04:05:00Z on host1: "
         "the daemon "
         "was down"},
        {"recovered", NULL, "succeeded", NULL, 0, 0, 1, 1, 43, 0, 0,
         "sked: job backup recovered on host1, run 43"},
        {"late", NULL, "running", NULL, -1, 0, 1, 1, 44, 0, 0,
         "sked: job backup is running late on host1, run 44"},
        {"success", NULL, "succeeded", NULL, 0, 0, 1, 1, 45, 1000, 63500,
         "sked: job backup succeeded in 1m2s on host1, run 45"},
        {"custom", NULL, NULL, NULL, -1, 0, 1, 1, 0, 0, 0, "sked: job backup: custom on host1"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        sk_alert_event_t ev = {
            .job = "backup",
            .step = cases[i].step,
            .event = cases[i].event,
            .status = cases[i].status,
            .reason = cases[i].reason,
            .exit_code = cases[i].exit_code,
            .signal = cases[i].signal,
            .attempt = cases[i].attempt,
            .max_attempts = cases[i].max_attempts,
            .run_id = cases[i].run_id,
            .scheduled_at = 1795752300000,
            .started_at = cases[i].started,
            .ended_at = cases[i].ended,
            .hostname = "host1",
        };
        char *t = sk_alert_text(&ev);
        if (!sk_streq(t, cases[i].want))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, t, cases[i].want);
        free(t);
    }
}

static void test_slack_payload(void **state)
{
    (void)state;
    sk_alert_event_t ev = sample_event();
    ev.job = "a<b>&c";
    ev.output_tail = "x < y && z\n";
    ev.link = "http://ui/runs/42?a=1|2";
    char *s = sk_alert_slack_json(&ev);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 1);
    assert_string_equal(jstr(o, "text"), "sked: job a&lt;b&gt;&amp;c failed (exit 3) on host1, "
                                         "run 42, attempt 2/3\n"
                                         "<http://ui/runs/42?a=1%7C2|Open the run>\n"
                                         "```\nx &lt; y &amp;&amp; z\n```");
    json_decref(o);
    free(s);

    ev.output_tail = NULL;
    ev.link = NULL;
    s = sk_alert_slack_json(&ev);
    o = json_loads(s, 0, NULL);
    assert_string_equal(jstr(o, "text"), "sked: job a&lt;b&gt;&amp;c failed (exit 3) on host1, "
                                         "run 42, attempt 2/3");
    json_decref(o);
    free(s);
}

static void test_channel_names(void **state)
{
    (void)state;
    assert_string_equal(sk_alert_channel_str(SK_CHANNEL_WEBHOOK), "webhook");
    assert_string_equal(sk_alert_channel_str(SK_CHANNEL_SLACK), "slack");
    assert_string_equal(sk_alert_channel_str(SK_CHANNEL_EMAIL), "email");
    assert_string_equal(sk_alert_channel_str(SK_CHANNEL_COMMAND), "command");
}

static void test_addr_spec(void **state)
{
    (void)state;
    char b[64];
    assert_int_equal(sk_alert__addr_spec("a@b.c", b, sizeof(b)), 0);
    assert_string_equal(b, "a@b.c");
    assert_int_equal(sk_alert__addr_spec("  Ops Team <ops@b.c> ", b, sizeof(b)), 0);
    assert_string_equal(b, "ops@b.c");
    assert_int_equal(sk_alert__addr_spec("a@b.c\r\nBcc: x@y", b, sizeof(b)), -EINVAL);
    assert_int_equal(sk_alert__addr_spec("", b, sizeof(b)), -EINVAL);
    assert_int_equal(sk_alert__addr_spec("Name <>", b, sizeof(b)), -EINVAL);
    assert_int_equal(sk_alert__addr_spec("Name <a@b", b, sizeof(b)), -EINVAL);
    assert_int_equal(sk_alert__addr_spec("a b@c", b, sizeof(b)), -EINVAL);
}

/* Every line of msg ends with CRLF and is at most max bytes long. */
static void assert_lines(const char *msg, size_t len, size_t max)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\n') {
            assert_true(i > 0 && msg[i - 1] == '\r');
            assert_true(i - 1 - start <= max);
            start = i + 1;
        } else if (msg[i] == '\r') {
            assert_true(i + 1 < len && msg[i + 1] == '\n');
        }
    }
    assert_int_equal(start, len); /* ends with CRLF */
}

static void test_mail_message_ascii(void **state)
{
    (void)state;
    char *to[] = {"ops@example.org", "Second <two@example.org>", NULL};
    char *msg = NULL;
    size_t len = 0;
    assert_int_equal(sk_alert__mail_message("sked <sked@example.com>", to, "sked: job x failed",
                                            "sked: job x failed\n\nout\n", 1795752306123, "id1",
                                            &msg, &len),
                     0);
    assert_int_equal(strlen(msg), len);
    assert_lines(msg, len, 78);
    assert_non_null(strstr(msg, "Date: Fri, 27 Nov 2026 04:05:06 +0000\r\n"));
    assert_non_null(strstr(msg, "\r\nFrom: sked <sked@example.com>\r\n"));
    assert_non_null(strstr(msg, "\r\nTo: ops@example.org,\r\n Second <two@example.org>\r\n"));
    assert_non_null(strstr(msg, "\r\nSubject: sked: job x failed\r\n"));
    assert_non_null(strstr(msg, "\r\nMessage-ID: <id1@example.com>\r\n"));
    assert_non_null(strstr(msg, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    assert_non_null(strstr(msg, "\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
                                "sked: job x failed\r\n\r\nout\r\n"));
    free(msg);

    char *bad[] = {"x@y\nBcc: evil@z", NULL};
    msg = NULL;
    assert_int_equal(sk_alert__mail_message("a@b", bad, "s", "b", 0, "id", &msg, &len), -EINVAL);
    assert_null(msg);
}

static void test_mail_message_utf8(void **state)
{
    (void)state;
    char *to[] = {"ops@example.org", NULL};
    char *msg = NULL;
    size_t len = 0;
    sk_buf_t body = {0};
    sk_buf_adds(&body, "caf\xc3\xa9 = ok\nlong:");
    for (int i = 0; i < 300; i++)
        sk_buf_adds(&body, "ab ");
    sk_buf_adds(&body, "\ntrailing space \n");
    assert_int_equal(sk_alert__mail_message("a@b.c", to, "sked: job caf\xc3\xa9 failed\nnow",
                                            body.data, 0, "id", &msg, &len),
                     0);
    assert_lines(msg, len, 78);
    assert_non_null(strstr(msg, "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"));
    assert_non_null(strstr(msg, "Subject: =?utf-8?B?"));
    assert_non_null(strstr(msg, "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                                "caf=C3=A9 =3D ok\r\n"));
    assert_non_null(strstr(msg, "\r\ntrailing space=20\r\n"));
    free(msg);
    free(body.data);
}

static void test_deliver_rejects_unconfigured(void **state)
{
    uv_loop_t *loop = *state;
    sk_alert_cfg_t none = {0};
    got_t g = {0};
    assert_int_equal(sk_alert_deliver(loop, &none, SK_CHANNEL_WEBHOOK, "{}", 0, on_result, &g),
                     -EINVAL);
    assert_int_equal(sk_alert_deliver(loop, &none, SK_CHANNEL_SLACK, "{}", 0, on_result, &g),
                     -EINVAL);
    assert_int_equal(sk_alert_deliver(loop, &none, SK_CHANNEL_EMAIL, "{}", 0, on_result, &g),
                     -EINVAL);
    assert_int_equal(sk_alert_deliver(loop, &none, SK_CHANNEL_COMMAND, "{}", 0, on_result, &g),
                     -EINVAL);
    char *to[] = {"a@b", NULL};
    sk_alert_cfg_t mail = {.has_email = true,
                           .email = {.smtp_url = "smtp://127.0.0.1:1", .from = "a@b", .to = to}};
    /* email needs the JSON's "text" */
    assert_int_equal(sk_alert_deliver(loop, &mail, SK_CHANNEL_EMAIL, "not json", 0, on_result, &g),
                     -EINVAL);
    assert_int_equal(sk_alert_deliver(loop, &mail, (sk_alert_channel_t)99, "{}", 0, on_result, &g),
                     -EINVAL);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(g.calls, 0);
}

/* ---- webhook and Slack ---- */

static void test_webhook_posts_json(void **state)
{
    uv_loop_t *loop = *state;
    sk_alert_event_t ev = sample_event();
    char *payload = sk_alert_json(&ev);
    sk_alert_cfg_t cfg = {.webhook = url("post", "status", 200)};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, payload, 10000);
    assert_true(g.res.ok);
    json_t *r = record("post.http");
    assert_string_equal(jstr(r, "method"), "POST");
    json_t *h = json_object_get(r, "headers");
    assert_string_equal(jstr(h, "content-type"), "application/json");
    assert_string_equal(jstr(h, "user-agent"), "sked/" SK_VERSION);
    assert_string_equal(jstr(r, "body"), payload);
    json_decref(r);
    free(cfg.webhook);
    free(payload);
}

static void test_webhook_status_classes(void **state)
{
    uv_loop_t *loop = *state;
    static const struct {
        int status;
        bool ok, retryable;
    } cases[] = {
        {200, true, false},  {201, true, false},  {204, true, false}, {400, false, false},
        {401, false, false}, {404, false, false}, {408, false, true}, {429, false, true},
        {500, false, true},  {502, false, true},  {503, false, true},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        char tag[32], want[32];
        sk_snprintf(tag, sizeof(tag), "class%d", cases[i].status);
        sk_alert_cfg_t cfg = {.webhook = url(tag, "status", cases[i].status)};
        got_t g = deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, "{\"text\":\"hi\"}", 10000);
        if (g.res.ok != cases[i].ok || (!g.res.ok && g.res.retryable != cases[i].retryable))
            fail_msg("HTTP %d: ok=%d retryable=%d error=%s", cases[i].status, g.res.ok,
                     g.res.retryable, g.res.error);
        if (!cases[i].ok) {
            /* the status, and the first line of what the server said */
            sk_snprintf(want, sizeof(want), "HTTP %d: status %d", cases[i].status, cases[i].status);
            assert_string_equal(g.res.error, want);
        }
        free(cfg.webhook);
    }
}

static void test_webhook_timeout_is_retryable(void **state)
{
    uv_loop_t *loop = *state;
    sk_alert_cfg_t cfg = {.webhook = url("hang", "hang", 0)};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, "{}", 500);
    assert_false(g.res.ok);
    assert_true(g.res.retryable);
    assert_non_null(strstr(g.res.error, "timed out"));
    assert_true(g.took_ms >= 450);
    assert_true(g.took_ms < 10000);
    /* the loop was free the whole time */
    assert_true(g.ticks >= 10);
    free(cfg.webhook);
}

static void test_webhook_refused_is_retryable(void **state)
{
    uv_loop_t *loop = *state;
    char u[64];
    sk_snprintf(u, sizeof(u), "http://127.0.0.1:%d/x", closed_port());
    sk_alert_cfg_t cfg = {.webhook = u};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, "{}", 5000);
    assert_false(g.res.ok);
    assert_true(g.res.retryable);
}

static void test_webhook_bad_url_is_not_retryable(void **state)
{
    uv_loop_t *loop = *state;
    sk_alert_cfg_t cfg = {.webhook = "ftp://127.0.0.1/x"};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, "{}", 5000);
    assert_false(g.res.ok);
    assert_false(g.res.retryable);
}

static void test_webhook_redirects(void **state)
{
    uv_loop_t *loop = *state;
    /* two hops: followed, still a POST with the body */
    sk_alert_cfg_t cfg = {.webhook = url("redir", "redirect", 2)};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, "{\"a\":1}", 10000);
    assert_true(g.res.ok);
    json_t *r = record("redir.http");
    assert_string_equal(jstr(r, "method"), "POST");
    assert_string_equal(jstr(r, "body"), "{\"a\":1}");
    assert_string_equal(jstr(r, "path"), "/t/redir/redirect/0");
    json_decref(r);
    free(cfg.webhook);

    /* more than three: given up, for good */
    cfg.webhook = url("loop", "redirect", 10);
    g = deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, "{}", 10000);
    assert_false(g.res.ok);
    assert_false(g.res.retryable);
    assert_non_null(strstr(g.res.error, "edirect"));
    free(cfg.webhook);
}

static void test_webhooks_in_parallel(void **state)
{
    uv_loop_t *loop = *state;
    enum { N = 8 };
    got_t g[N];
    char payload[N][32];
    int pending = N;
    memset(g, 0, sizeof(g));
    for (int i = 0; i < N; i++) {
        char tag[16];
        sk_snprintf(tag, sizeof(tag), "par%d", i);
        sk_alert_cfg_t cfg = {.webhook = url(tag, "status", 200)};
        sk_snprintf(payload[i], sizeof(payload[i]), "{\"n\":%d}", i);
        g[i].pending = &pending;
        g[i].started = mono_ms();
        assert_int_equal(
            sk_alert_deliver(loop, &cfg, SK_CHANNEL_WEBHOOK, payload[i], 10000, on_result, &g[i]),
            0);
        free(cfg.webhook); /* the copies are taken: the caller's may go at once */
    }
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(pending, 0);
    for (int i = 0; i < N; i++) {
        char tag[16];
        assert_int_equal(g[i].calls, 1);
        if (!g[i].res.ok)
            fail_msg("webhook %d: %s", i, g[i].res.error);
        sk_snprintf(tag, sizeof(tag), "par%d.http", i);
        json_t *r = record(tag);
        assert_string_equal(jstr(r, "body"), payload[i]);
        json_decref(r);
    }
}

static void test_slack_posts_text(void **state)
{
    uv_loop_t *loop = *state;
    sk_alert_event_t ev = sample_event();
    char *payload = sk_alert_slack_json(&ev);
    sk_alert_cfg_t cfg = {.slack = url("slack", "status", 200)};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_SLACK, payload, 10000);
    assert_true(g.res.ok);
    json_t *r = record("slack.http");
    assert_string_equal(jstr(r, "body"), payload);
    assert_string_equal(jstr(json_object_get(r, "headers"), "content-type"), "application/json");
    json_decref(r);
    free(cfg.slack);
    free(payload);
}

/* ---- email ---- */

static sk_alert_cfg_t mail_cfg(char *smtp_url, char **to)
{
    return (sk_alert_cfg_t){
        .has_email = true,
        .email = {.smtp_url = smtp_url, .from = "sked alerts <sked@example.com>", .to = to},
    };
}

static void test_email_delivers(void **state)
{
    uv_loop_t *loop = *state;
    char smtp[64];
    sk_snprintf(smtp, sizeof(smtp), "smtp://127.0.0.1:%d", rx.smtp_port);
    char *to[] = {"plain@example.org", "Ops Two <two@example.org>", NULL};
    sk_alert_cfg_t cfg = mail_cfg(smtp, to);
    sk_alert_event_t ev = sample_event();
    ev.job = "caf\xc3\xa9-backup";
    ev.output_tail = "r\xc3\xa9sum\xc3\xa9 \xf0\x9f\x94\xa5\n.a line with a dot\nlast\n";
    char *payload = sk_alert_json(&ev);
    got_t g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, payload, 10000);
    if (!g.res.ok)
        fail_msg("email: %s", g.res.error);

    json_t *r = record("plain.mail");
    assert_string_equal(jstr(r, "mail_from"), "sked@example.com");
    json_t *rcpt = json_object_get(r, "rcpt_tos");
    assert_int_equal(json_array_size(rcpt), 2);
    assert_string_equal(json_string_value(json_array_get(rcpt, 0)), "plain@example.org");
    assert_string_equal(json_string_value(json_array_get(rcpt, 1)), "two@example.org");
    assert_string_equal(jstr(r, "from"), "sked alerts <sked@example.com>");
    assert_string_equal(jstr(r, "to"), "plain@example.org, Ops Two <two@example.org>");
    assert_string_equal(jstr(r, "subject"), "sked: job caf\xc3\xa9-backup failed (exit 3) on "
                                            "host1, run 42, attempt 2/3");
    assert_true(json_is_true(json_object_get(r, "date_ok")));
    const char *mid = jstr(r, "message_id");
    assert_true(mid[0] == '<' && strstr(mid, "@example.com>"));
    assert_string_equal(jstr(r, "content_type"), "text/plain");
    assert_string_equal(jstr(r, "charset"), "utf-8");
    assert_int_equal(json_array_size(json_object_get(r, "defects")), 0);
    assert_true(json_is_null(json_object_get(r, "login")));
    assert_string_equal(jstr(r, "body"),
                        "sked: job caf\xc3\xa9-backup failed (exit 3) on host1, run 42, attempt "
                        "2/3\n\nhttp://127.0.0.1:8080/runs/42\n\nLast output:\n\n"
                        "r\xc3\xa9sum\xc3\xa9 \xf0\x9f\x94\xa5\n.a line with a dot\nlast\n");
    json_decref(r);
    free(payload);
}

static void test_email_password_env(void **state)
{
    uv_loop_t *loop = *state;
    char smtp[64];
    sk_snprintf(smtp, sizeof(smtp), "smtp://127.0.0.1:%d", rx.smtp_port);
    char *to[] = {"envauth@example.org", NULL};
    sk_alert_cfg_t cfg = mail_cfg(smtp, to);
    cfg.email.username = "alice";
    cfg.email.password_env = "SKED_TEST_SMTP_PW";
    got_t g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, "{\"text\":\"hello\"}", 10000);
    if (!g.res.ok)
        fail_msg("email: %s", g.res.error);
    json_t *r = record("envauth.mail");
    assert_string_equal(jstr(r, "login"), "alice");
    assert_string_equal(jstr(r, "subject"), "hello");
    assert_string_equal(jstr(r, "body"), "hello\n");
    json_decref(r);

    /* unset: refused for good, and said which variable */
    cfg.email.password_env = "SKED_TEST_NO_SUCH_VARIABLE";
    g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, "{\"text\":\"hello\"}", 10000);
    assert_false(g.res.ok);
    assert_false(g.res.retryable);
    assert_string_equal(g.res.error, "password_env SKED_TEST_NO_SUCH_VARIABLE is not set");
}

static void test_email_password_file(void **state)
{
    uv_loop_t *loop = *state;
    char smtp[64], pw[128];
    sk_snprintf(smtp, sizeof(smtp), "smtp://127.0.0.1:%d", rx.smtp_port);
    sk_snprintf(pw, sizeof(pw), "%s/pw", rx.dir);
    char *to[] = {"fileauth@example.org", NULL};
    sk_alert_cfg_t cfg = mail_cfg(smtp, to);
    cfg.email.username = "alice";
    cfg.email.password_file = pw;

    write_text(pw, SECRET "\n", 0600);
    got_t g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, "{\"text\":\"via file\"}", 10000);
    if (!g.res.ok)
        fail_msg("email: %s", g.res.error);
    json_t *r = record("fileauth.mail");
    assert_string_equal(jstr(r, "login"), "alice");
    json_decref(r);

    /* readable by others: refused before anything is sent */
    write_text(pw, SECRET "\n", 0644);
    g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, "{\"text\":\"via file\"}", 10000);
    assert_false(g.res.ok);
    assert_false(g.res.retryable);
    assert_non_null(strstr(g.res.error, "chmod 600"));
    assert_null(strstr(g.res.error, SECRET));

    /* the wrong password: the server says no, for good; the error keeps it secret
     */
    write_text(pw, "wrong-pass-123\n", 0600);
    g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, "{\"text\":\"via file\"}", 10000);
    assert_false(g.res.ok);
    if (g.res.retryable)
        fail_msg("wrong password: retryable: %s", g.res.error);
    assert_null(strstr(g.res.error, "wrong-pass-123"));
    unlink(pw);

    /* missing */
    g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, "{\"text\":\"via file\"}", 10000);
    assert_false(g.res.ok);
    assert_false(g.res.retryable);
    assert_non_null(strstr(g.res.error, "password_file"));
}

static void test_email_refused_is_retryable(void **state)
{
    uv_loop_t *loop = *state;
    char smtp[64];
    sk_snprintf(smtp, sizeof(smtp), "smtp://127.0.0.1:%d", closed_port());
    char *to[] = {"x@example.org", NULL};
    sk_alert_cfg_t cfg = mail_cfg(smtp, to);
    got_t g = deliver(loop, &cfg, SK_CHANNEL_EMAIL, "{\"text\":\"t\"}", 5000);
    assert_false(g.res.ok);
    assert_true(g.res.retryable);
}

/* ---- command ---- */

static void test_command_gets_json_on_stdin(void **state)
{
    uv_loop_t *loop = *state;
    char file[128];
    sk_snprintf(file, sizeof(file), "%s/stdin.json", rx.dir);
    char *argv[] = {"sh", "-c", "cat > \"$0\"", file, NULL};
    sk_alert_cfg_t cfg = {.command = argv};
    sk_alert_event_t ev = sample_event();
    char *payload = sk_alert_json(&ev);
    got_t g = deliver(loop, &cfg, SK_CHANNEL_COMMAND, payload, 10000);
    if (!g.res.ok)
        fail_msg("command: %s", g.res.error);
    char *got = read_text(file);
    assert_non_null(got);
    assert_string_equal(got, payload);
    free(got);
    free(payload);
}

static void test_command_environment_is_small(void **state)
{
    uv_loop_t *loop = *state;
    char file[128];
    sk_snprintf(file, sizeof(file), "%s/env.txt", rx.dir);
    char *argv[] = {"sh", "-c", "env > \"$0\"", file, NULL};
    sk_alert_cfg_t cfg = {.command = argv};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_COMMAND, "{}", 10000);
    if (!g.res.ok)
        fail_msg("command: %s", g.res.error);
    char *env = read_text(file);
    assert_non_null(env);
    assert_non_null(strstr(env, "SKED_ALERT=1\n"));
    assert_non_null(strstr(env, "PATH="));
    /* the daemon's secrets stay with the daemon */
    assert_null(strstr(env, "SKED_TEST_SMTP_PW"));
    free(env);
}

static void test_command_failure_is_retryable(void **state)
{
    uv_loop_t *loop = *state;
    char *argv[] = {"sh", "-c", "cat >/dev/null; echo '  first line' >&2; echo second >&2; exit 3",
                    NULL};
    sk_alert_cfg_t cfg = {.command = argv};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_COMMAND, "{}", 10000);
    assert_false(g.res.ok);
    assert_true(g.res.retryable);
    assert_string_equal(g.res.error, "sh exited with status 3: first line");

    char *sig[] = {"sh", "-c", "kill -TERM $$", NULL};
    cfg.command = sig;
    g = deliver(loop, &cfg, SK_CHANNEL_COMMAND, "{}", 10000);
    assert_false(g.res.ok);
    assert_true(g.res.retryable);
    assert_string_equal(g.res.error, "sh was killed by signal 15");
}

/* Whether pid is gone (or a zombie nobody reaps, as in a container). */
static bool gone(pid_t pid)
{
    char path[64];
    sk_snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *stat = read_text(path);
    if (!stat)
        return true;
    const char *paren = strrchr(stat, ')');
    bool zombie = paren && (paren[2] == 'Z' || paren[2] == 'X');
    free(stat);
    return zombie;
}

static void test_command_timeout_kills_group(void **state)
{
    uv_loop_t *loop = *state;
    char file[128];
    sk_snprintf(file, sizeof(file), "%s/sleep.pid", rx.dir);
    /* a grandchild that holds stderr open: killed with its group */
    char *argv[] = {"sh", "-c", "sleep 30 & echo $! > \"$0\"; wait", file, NULL};
    sk_alert_cfg_t cfg = {.command = argv};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_COMMAND, "{}", 400);
    assert_false(g.res.ok);
    assert_true(g.res.retryable);
    assert_string_equal(g.res.error, "sh timed out after 400ms and was killed");
    assert_true(g.took_ms >= 350);
    assert_true(g.took_ms < 10000);
    assert_true(g.ticks >= 10);
    char *text = read_text(file);
    assert_non_null(text);
    pid_t pid = (pid_t)strtol(text, NULL, 10);
    free(text);
    assert_true(pid > 0);
    int64_t deadline = mono_ms() + 5000;
    while (!gone(pid) && mono_ms() < deadline)
        (void)poll(NULL, 0, 20);
    assert_true(gone(pid));
}

static void test_command_missing_is_not_retryable(void **state)
{
    uv_loop_t *loop = *state;
    char *argv[] = {"/nonexistent/sked-alert-command", NULL};
    sk_alert_cfg_t cfg = {.command = argv};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_COMMAND, "{}", 10000);
    assert_false(g.res.ok);
    assert_false(g.res.retryable);
    assert_non_null(strstr(g.res.error, "cannot run /nonexistent/sked-alert-command"));
}

static void test_command_not_reading_stdin(void **state)
{
    uv_loop_t *loop = *state;
    /* 1 MiB nobody reads: the write fails with EPIPE, SIGPIPE must not end
     * this process (whose SIGPIPE is at its default) */
    size_t n = 1024 * 1024;
    char *big = sk_xmalloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    char *argv[] = {"true", NULL};
    sk_alert_cfg_t cfg = {.command = argv};
    got_t g = deliver(loop, &cfg, SK_CHANNEL_COMMAND, big, 10000);
    if (!g.res.ok)
        fail_msg("command: %s", g.res.error);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_json_nulls),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_output_capped),
        cmocka_unit_test(test_text_sentences),
        cmocka_unit_test(test_slack_payload),
        cmocka_unit_test(test_channel_names),
        cmocka_unit_test(test_addr_spec),
        cmocka_unit_test(test_mail_message_ascii),
        cmocka_unit_test(test_mail_message_utf8),
        cmocka_unit_test_setup_teardown(test_deliver_rejects_unconfigured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_posts_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_status_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_timeout_is_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_refused_is_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_bad_url_is_not_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_redirects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhooks_in_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slack_posts_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_email_delivers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_email_password_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_email_password_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_email_refused_is_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_gets_json_on_stdin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_environment_is_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_failure_is_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_timeout_kills_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_missing_is_not_retryable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_not_reading_stdin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
