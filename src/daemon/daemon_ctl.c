/*
 * The control socket: a unix socket `sked.sock` in the state folder (mode
 * 0600: only the daemon's user may talk to it). A client sends one JSON
 * object on one line ({"cmd": "trigger", "job": "backup"}) and gets one JSON
 * object back, then the connection closes. Commands: trigger, status,
 * reload. Requests are capped at 64 KiB.
 */
#include "daemon_int.h"

#include <jansson.h>
#include <sys/stat.h>

#define CTL_MAX_REQUEST 65536

typedef struct {
    uv_pipe_t pipe;
    sk_daemon_t *d;
    char *buf;
    size_t len;
    bool replied;
} ctl_conn_t;

typedef struct {
    uv_write_t req;
    char *data;
    ctl_conn_t *conn;
} ctl_write_t;

static void conn_closed(uv_handle_t *h)
{
    ctl_conn_t *c = h->data;
    free(c->buf);
    free(c);
}

static void conn_close(ctl_conn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->pipe))
        uv_close((uv_handle_t *)&c->pipe, conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
    ctl_write_t *w = (ctl_write_t *)req;
    (void)status;
    conn_close(w->conn);
    free(w->data);
    free(w);
}

static void reply(ctl_conn_t *c, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text) {
        conn_close(c);
        return;
    }
    size_t n = strlen(text);
    char *line = sk_xmalloc(n + 2);
    memcpy(line, text, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    free(text);
    ctl_write_t *w = sk_xcalloc(1, sizeof(*w));
    w->data = line;
    w->conn = c;
    c->replied = true;
    uv_buf_t b = uv_buf_init(line, (unsigned)(n + 1));
    uv_read_stop((uv_stream_t *)&c->pipe);
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
        free(line);
        free(w);
        conn_close(c);
    }
}

static json_t *error_obj(const char *msg)
{
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *status_obj(sk_daemon_t *d)
{
    int64_t next = 0;
    const char *next_job = NULL;
    sk_heap_node_t *top = sk_heap_top(&d->heap);
    if (top) {
        next = top->key;
        next_job = SK_CONTAINER_OF(top, sk_jobrt_t, node)->name;
    }
    json_t *o = json_pack("{s:b, s:b, s:i, s:i, s:i, s:i}", "ok", 1, "running", 1, "pid",
                          (json_int_t)getpid(), "jobs", (json_int_t)d->config->njobs,
                          "active_runs", (json_int_t)d->nrunning, "waiting_runs",
                          (json_int_t)0);
    json_int_t waiting = 0;
    for (sk_runrt_t *r = d->waiting; r; r = r->next)
        waiting++;
    json_object_set_new(o, "waiting_runs", json_integer(waiting));
    if (next) {
        char iso[64];
        sk_tz_format_iso(sk_tz_utc(), next / 1000, iso, sizeof(iso));
        json_object_set_new(o, "next_due", json_string(iso));
        json_object_set_new(o, "next_job", json_string(next_job));
    } else {
        json_object_set_new(o, "next_due", json_null());
        json_object_set_new(o, "next_job", json_null());
    }
    return o;
}

static void handle(ctl_conn_t *c, const char *line)
{
    sk_daemon_t *d = c->d;
    json_error_t jerr;
    json_t *req = json_loads(line, 0, &jerr);
    if (!req || !json_is_object(req)) {
        json_decref(req);
        reply(c, error_obj("the request is not a JSON object"));
        return;
    }
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (!cmd) {
        reply(c, error_obj("missing \"cmd\""));
    } else if (strcmp(cmd, "status") == 0) {
        reply(c, status_obj(d));
    } else if (strcmp(cmd, "trigger") == 0) {
        const char *name = json_string_value(json_object_get(req, "job"));
        sk_jobrt_t *j = name ? sk_daemon__job(d, name) : NULL;
        if (!name) {
            reply(c, error_obj("missing \"job\""));
        } else if (!j || !j->cfg) {
            char msg[512];
            sk_snprintf(msg, sizeof(msg), "no job named \"%s\"", name);
            reply(c, error_obj(msg));
        } else if (d->stopping) {
            reply(c, error_obj("sked is stopping"));
        } else {
            sk_err_t err;
            sk_err_clear(&err);
            json_t *params = json_object_get(req, "params");
            char *pj = NULL;
            if (json_is_object(params)) {
                /* Only parameters the job declares: a typo is an error, not a no-op. */
                const char *key;
                json_t *v;
                json_object_foreach(params, key, v)
                {
                    bool known = false;
                    for (size_t i = 0; i < j->cfg->nparams && !known; i++)
                        known = strcmp(j->cfg->params[i].key, key) == 0;
                    if (!known) {
                        char msg[300];
                        sk_snprintf(msg, sizeof(msg), "job \"%s\" has no parameter \"%.64s\"",
                                    name, key);
                        reply(c, error_obj(msg));
                        json_decref(req);
                        return;
                    }
                }
                pj = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
            }
            int64_t id = sk_daemon__trigger(d, j, pj, SK_TRIG_MANUAL, &err);
            free(pj);
            if (id < 0)
                reply(c, error_obj(err.msg[0] ? err.msg : "store error"));
            else
                reply(c, json_pack("{s:b, s:I}", "ok", 1, "run_id", (json_int_t)id));
        }
    } else if (strcmp(cmd, "retry") == 0) {
        json_t *idv = json_object_get(req, "run_id");
        if (!json_is_integer(idv)) {
            reply(c, error_obj("missing \"run_id\""));
        } else {
            sk_err_t err;
            sk_err_clear(&err);
            int64_t id = sk_daemon__retry(d, json_integer_value(idv), &err);
            if (id < 0)
                reply(c, error_obj(err.msg[0] ? err.msg : "cannot retry"));
            else
                reply(c, json_pack("{s:b, s:I}", "ok", 1, "run_id", (json_int_t)id));
        }
    } else if (strcmp(cmd, "reload") == 0) {
        uv_kill(getpid(), SIGHUP);
        reply(c, json_pack("{s:b}", "ok", 1));
    } else {
        char msg[256];
        sk_snprintf(msg, sizeof(msg), "unknown command \"%.64s\"", cmd);
        reply(c, error_obj(msg));
    }
    json_decref(req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[4096]; /* loop thread only; consumed before the next read */
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ctl_conn_t *c = s->data;
    if (c->replied)
        return;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (c->len + (size_t)nread > CTL_MAX_REQUEST) {
        reply(c, error_obj("request too large"));
        return;
    }
    c->buf = sk_xrealloc(c->buf, c->len + (size_t)nread + 1);
    memcpy(c->buf + c->len, buf->base, (size_t)nread);
    c->len += (size_t)nread;
    c->buf[c->len] = '\0';
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl) {
        *nl = '\0';
        handle(c, c->buf);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    sk_daemon_t *d = server->data;
    if (status < 0)
        return;
    ctl_conn_t *c = sk_xcalloc(1, sizeof(*c));
    c->d = d;
    uv_pipe_init(d->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 ||
        uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0) {
        conn_close(c);
        return;
    }
}

int sk_daemon__ctl_start(sk_daemon_t *d, sk_err_t *err)
{
    char path[4096];
    sk_snprintf(path, sizeof(path), "%s/%s", d->state_dir, SK_SOCKET_NAME);
    d->sock_path = sk_xstrdup(path);
    if (strlen(path) >= 108)
        return sk_err_set(err, -ENAMETOOLONG,
                          "control socket path %s is too long for a unix socket (max 107); "
                          "use a shorter state_dir",
                          path);
    unlink(path); /* a stale socket of a dead daemon: we hold the lock */
    uv_pipe_init(d->loop, &d->server, 0);
    d->server.data = d;
    d->server_open = true;
    mode_t old = umask(0077);
    int r = uv_pipe_bind(&d->server, path);
    umask(old);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&d->server, 64, on_connection);
    if (r < 0)
        return sk_err_set(err, r, "cannot listen on %s: %s", path, uv_strerror(r));
    chmod(path, 0600);
    return 0;
}

void sk_daemon__ctl_stop(sk_daemon_t *d)
{
    if (!d->server_open)
        return;
    d->server_open = false;
    uv_close((uv_handle_t *)&d->server, NULL);
    if (d->sock_path)
        unlink(d->sock_path);
}
