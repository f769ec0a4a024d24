/*
 * GET /api/v1/runs/ID/log: a run's output file, whole or a byte range, or
 * followed live as server-sent events.
 *
 * The file is found through the run's row (never through the URL), and must
 * lie inside STATE_DIR/logs: no path in a request can reach another file.
 * A follower blocks only its own connection thread: it polls the file
 * every 100 ms and the run's status every 500 ms through a store connection
 * of its own, and ends once the run has ended and the file is drained.
 *
 * Several nodes (PostgreSQL): a run's log is on the disk of the node that
 * ran it (its row's `node`). Asked on another node, the request is passed
 * on to that node's API (its heart-beat row's `api`) with libcurl, on this
 * connection's thread, and the answer relayed with X-Sked-Node: NAME; a
 * request that was passed on once (X-Sked-Proxied: 1) never is again.
 * Streams are not relayed: a follower is told where to follow (409).
 */
/* realpath(3) */
#define _XOPEN_SOURCE 700

#include "daemon_api.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define POLL_MS 100
#define STATUS_EVERY_MS 500
#define KEEPALIVE_MS 15000
#define MAX_LINE (64 * 1024)
/* The log of a run on another node, relayed. */
#define PROXY_MAX_BODY (64u * 1024 * 1024)
#define PROXY_CONNECT_TIMEOUT_S 10L
#define PROXY_TIMEOUT_S 300L
#define PROXY_HEADER "X-Sked-Proxied"

/* Opens the log at path if it lies inside state_dir/logs; -1 otherwise. */
static int open_log(const sk_api_t *a, const char *path)
{
    char logs[PATH_MAX], want[PATH_MAX + 8], real[PATH_MAX];
    sk_snprintf(want, sizeof(want), "%s/logs", a->state_dir);
    if (!realpath(want, logs) || !realpath(path, real))
        return -1;
    size_t n = strlen(logs);
    if (strncmp(real, logs, n) != 0 || real[n] != '/')
        return -1;
    return open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* "bytes=A-B", "bytes=A-", "bytes=-N" against size: 1 a range, 0 none (or
 * one we do not serve: several ranges get the whole file), -1 unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    char *end;
    uint64_t a = 0, b = 0;
    bool has_a = false, has_b = false;
    if (*p >= '0' && *p <= '9') {
        a = strtoull(p, &end, 10);
        p = end;
        has_a = true;
    }
    if (*p++ != '-')
        return 0;
    if (*p >= '0' && *p <= '9') {
        b = strtoull(p, &end, 10);
        p = end;
        has_b = true;
    }
    if (*p || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *off = b >= size ? 0 : size - b;
        *len = size - *off;
        return 1;
    }
    if (a >= size || (has_b && b < a))
        return -1;
    *off = a;
    *len = (has_b && b < size ? b + 1 : size) - a;
    return 1;
}

/* ---- another node's log ---- */

/* node's API address from its heart-beat row (through st): *ret new, or
 * NULL when it has none. SK_ENOTFOUND when the store lists no such node. */
static int node_api(sk_api_t *a, sk_store_t *st, const char *node, char **ret, sk_err_t *err)
{
    sk_node_t *nodes = NULL;
    size_t n = 0;
    *ret = NULL;
    int rc = sk_api_nodes_read(a, st, &nodes, &n, err);
    if (rc < 0)
        return rc;
    rc = SK_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(nodes[i].name, node) != 0)
            continue;
        rc = 0;
        if (nodes[i].api && nodes[i].api[0]) {
            *ret = nodes[i].api;
            nodes[i].api = NULL;
            /* http://host:port/ and http://host:port name the same API. */
            size_t len = strlen(*ret);
            while (len > 0 && (*ret)[len - 1] == '/')
                (*ret)[--len] = '\0';
        }
        break;
    }
    sk_nodes_free(nodes, n);
    return rc;
}

static char *follow_url(const char *api, int64_t id)
{
    sk_buf_t b = {0};
    sk_buf_printf(&b, "%s/api/v1/runs/%" PRId64 "/log?follow=1", api, id);
    return sk_buf_take(&b, NULL);
}

/* Answers status with {"error": msg, "node": node[, "url": url]} and X-Sked-Node. */
static void node_error(sk_http_req_t *r, int status, const char *node, const char *url,
                       bool with_url, const char *fmt, ...) SK_PRINTF(6, 7);
static void node_error(sk_http_req_t *r, int status, const char *node, const char *url,
                       bool with_url, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s, s:s}", "error", msg, "node", node);
    if (with_url)
        json_object_set_new(o, "url", url ? json_string(url) : json_null());
    sk_http_json_with(r, status, o, "X-Sked-Node", node);
}

typedef struct proxy {
    sk_http_server_t *server;
    sk_buf_t body;
    bool too_big;
    char ctype[256];
    char crange[128];
} proxy_t;

static size_t on_proxy_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    proxy_t *p = data;
    size_t n = size * nmemb;
    if (p->body.len + n > PROXY_MAX_BODY) {
        p->too_big = true;
        return 0; /* curl stops: CURLE_WRITE_ERROR */
    }
    sk_buf_add(&p->body, ptr, n);
    return n;
}

/* Keeps value of header line buf ("Name: value\r\n") when it is `name`. */
static void header_value(const char *buf, size_t n, const char *name, char *out, size_t size)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(buf, name, k) != 0 || buf[k] != ':')
        return;
    const char *v = buf + k + 1, *e = buf + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t len = (size_t)(e - v);
    if (len >= size)
        return; /* a value this long is not one we relay */
    memcpy(out, v, len);
    out[len] = '\0';
}

static size_t on_proxy_header(char *buf, size_t size, size_t nitems, void *data)
{
    proxy_t *p = data;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) { /* a new response: forget the last */
        p->ctype[0] = p->crange[0] = '\0';
        return n;
    }
    header_value(buf, n, "Content-Type", p->ctype, sizeof(p->ctype));
    header_value(buf, n, "Content-Range", p->crange, sizeof(p->crange));
    return n;
}

static int on_proxy_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                             curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    proxy_t *p = data;
    return sk_http_stopping(p->server) ? 1 : 0; /* the daemon stops: give up */
}

/* GET api/api/v1/runs/ID/log on node `node`, answered with what it says. */
static void proxy_log(sk_api_t *a, sk_http_req_t *r, int64_t id, const char *node, const char *api)
{
    char url[2048], range[256], auth[1024];
    sk_snprintf(url, sizeof(url), "%s/api/v1/runs/%" PRId64 "/log", api, id);
    proxy_t p = {.server = r->server};
    struct curl_slist *hdrs = curl_slist_append(NULL, PROXY_HEADER ": 1");
    hdrs = curl_slist_append(hdrs, "Accept: text/plain");
    const char *v = sk_http_header(r, "Range");
    if (v && strlen(v) < sizeof(range) - 8) {
        sk_snprintf(range, sizeof(range), "Range: %s", v);
        hdrs = curl_slist_append(hdrs, range);
    }
    /* Every node has the same tokens (the same sked.yaml): a TCP request's
     * own credentials go along; one from the control socket (which needs
     * none) shows this node's read token. */
    v = r->tcp ? sk_http_header(r, "Authorization") : NULL;
    auth[0] = '\0';
    if (v && strlen(v) < sizeof(auth) - 32)
        sk_snprintf(auth, sizeof(auth), "Authorization: %s", v);
    else if (!r->tcp && a->proxy_token)
        sk_snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->proxy_token);
    if (auth[0])
        hdrs = curl_slist_append(hdrs, auth);
    for (volatile char *t = auth; *t; t++)
        *t = 0;

    CURL *c = curl_easy_init();
    CURLcode cr = CURLE_FAILED_INIT;
    long status = 0;
    char cerr[CURL_ERROR_SIZE] = "";
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, PROXY_CONNECT_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, PROXY_TIMEOUT_S);
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PROXY_MAX_BODY);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_proxy_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &p);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_proxy_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &p);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_proxy_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &p);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        cr = curl_easy_perform(c);
        if (cr == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
    }
    curl_slist_free_all(hdrs);

    if (cr != CURLE_OK || status < 200 || status > 599) {
        free(p.body.data);
        const char *why = p.too_big || cr == CURLE_FILESIZE_EXCEEDED
                              ? "its answer is larger than 64 MiB"
                          : cerr[0] ? cerr
                                    : curl_easy_strerror(cr);
        sk_log(SK_LOG_WARN, "event=log_proxy_failed run=%" PRId64 " node=%s url=%s msg=\"%s\"", id,
               node, api, why);
        node_error(r, 502, node, NULL, false,
                   "the log of run %" PRId64 " is on node %s, which cannot be reached at %s: %s",
                   id, node, api, why);
        return;
    }
    if (status == 401 || status == 403) {
        free(p.body.data);
        node_error(r, 502, node, NULL, false,
                   "the log of run %" PRId64 " is on node %s, which refused this node's request "
                   "(HTTP %ld): every node needs the same tokens (the same sked.yaml)",
                   id, node, status);
        return;
    }
    size_t len = 0;
    char *body = sk_buf_take(&p.body, &len);
    const char *headers[] = {"Content-Range",
                             p.crange[0] ? p.crange : NULL,
                             "Accept-Ranges",
                             "bytes",
                             "X-Sked-Node",
                             node,
                             NULL};
    sk_http_bytes_with(r, (int)status, p.ctype[0] ? p.ctype : "text/plain; charset=utf-8", body,
                       len, headers);
}

/* Run `run` belongs to another node. Answers and returns true, or returns
 * false when its log is readable here after all (a shared disk). */
static bool elsewhere(sk_api_t *a, sk_http_req_t *r, const sk_run_t *run, bool stream)
{
    if (run->log_path) {
        int fd = open_log(a, run->log_path);
        if (fd >= 0) {
            close(fd);
            return false;
        }
    } else if (!stream) {
        return false; /* "no log yet": the row says so, wherever it runs */
    }
    const char *node = run->node;
    int64_t id = run->id;
    sk_err_t err;
    sk_err_clear(&err);
    char *api = NULL;
    int rc = node_api(a, NULL, node, &api, &err);
    if (rc < 0 && rc != SK_ENOTFOUND) {
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return true;
    }
    if (stream) {
        char *url = api ? follow_url(api, id) : NULL;
        if (url)
            node_error(r, 409, node, url, true,
                       "the log of run %" PRId64 " is on node %s: follow it on node %s: %s", id,
                       node, node, url);
        else
            node_error(r, 409, node, NULL, true,
                       "the log of run %" PRId64 " is on node %s, which has no API address "
                       "(cluster.nodes.%s.api): follow it on node %s",
                       id, node, node, node);
        free(url);
        free(api);
        return true;
    }
    if (sk_http_header(r, PROXY_HEADER)) {
        /* Passed on to us by another node, and not ours either: never again. */
        node_error(r, 404, node, NULL, false,
                   "the log of run %" PRId64 " is on node %s, not on this node (%s), which "
                   "was asked by another node: check cluster.nodes.%s.api",
                   id, node, a->node_name, node);
        free(api);
        return true;
    }
    if (!api) {
        node_error(r, 404, node, NULL, false,
                   "the log of run %" PRId64 " is on node %s, which has no API address "
                   "(cluster.nodes.%s.api)",
                   id, node, node);
        return true;
    }
    proxy_log(a, r, id, node, api);
    free(api);
    return true;
}

typedef struct follow {
    sk_api_t *a;
    sk_http_server_t *server;
    sk_store_t *st;
    int64_t id;
    int fd;
    uint64_t off;
    char *out; /* events ready to send */
    size_t out_len, out_pos, out_cap;
    char *line; /* an incomplete last line */
    size_t line_len;
    int64_t next_check, last_send;
    bool ended, end_sent;
    char status[32];
    bool elsewhere; /* the run went to another node: its log is there */
    char *node, *url;
} follow_t;

static void out_add(follow_t *f, const char *s, size_t n)
{
    if (f->out_pos == f->out_len)
        f->out_pos = f->out_len = 0;
    if (f->out_len + n > f->out_cap) {
        f->out_cap = SK_MAX(f->out_cap * 2, f->out_len + n + 256);
        f->out = sk_xrealloc(f->out, f->out_cap);
    }
    memcpy(f->out + f->out_len, s, n);
    f->out_len += n;
}

/* One log line as an event; its id is the offset after it. */
static void event_line(follow_t *f, const char *s, size_t n, uint64_t end_off)
{
    char head[48];
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    int h = sk_snprintf(head, sizeof(head), "id: %" PRIu64 "\ndata: ", end_off);
    out_add(f, head, (size_t)h);
    /* A stray CR would end the data line early in an EventSource. */
    for (size_t i = 0; i < n; i++)
        out_add(f, s[i] == '\r' ? " " : s + i, 1);
    out_add(f, "\n\n", 2);
}

static void take_bytes(follow_t *f, const char *buf, size_t n)
{
    uint64_t base = f->off - n;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n')
            continue;
        if (f->line_len) {
            f->line = sk_xrealloc(f->line, f->line_len + (i - start) + 1);
            memcpy(f->line + f->line_len, buf + start, i - start);
            event_line(f, f->line, f->line_len + (i - start), base + i + 1);
            f->line_len = 0;
        } else {
            event_line(f, buf + start, i - start, base + i + 1);
        }
        start = i + 1;
    }
    size_t rest = n - start;
    if (rest) {
        if (f->line_len + rest > MAX_LINE) { /* a line without end: send what there is */
            f->line = sk_xrealloc(f->line, f->line_len + rest + 1);
            memcpy(f->line + f->line_len, buf + start, rest);
            event_line(f, f->line, f->line_len + rest, f->off);
            f->line_len = 0;
            return;
        }
        f->line = sk_xrealloc(f->line, f->line_len + rest + 1);
        memcpy(f->line + f->line_len, buf + start, rest);
        f->line_len += rest;
    }
}

/* Looks at the run's row: opens its log once it has one, notes its end. */
static void check_run(follow_t *f)
{
    sk_run_t run = {0};
    sk_err_t err;
    sk_err_clear(&err);
    if (f->st->ops->run_get(f->st, f->id, &run, &err) < 0) {
        f->ended = true;
        sk_strlcpy(f->status, "unknown", sizeof(f->status));
        return;
    }
    if (f->fd < 0 && run.log_path)
        f->fd = open_log(f->a, run.log_path);
    if (f->fd < 0 && run.node && run.node[0] && strcmp(run.node, f->a->node_name) != 0) {
        /* Claimed by another node since the follow began: say where, end. */
        f->elsewhere = true;
        f->ended = true;
        free(f->node);
        f->node = sk_xstrdup(run.node);
        free(f->url);
        f->url = NULL;
        char *api = NULL;
        if (node_api(f->a, f->st, run.node, &api, &err) == 0 && api) {
            f->url = follow_url(api, f->id);
            free(api);
        }
        sk_strlcpy(f->status, sk_run_status_str(run.status), sizeof(f->status));
        sk_run_release(&run);
        return;
    }
    if (sk_run_status_final(run.status)) {
        f->ended = true;
        sk_strlcpy(f->status, sk_run_status_str(run.status), sizeof(f->status));
    }
    sk_run_release(&run);
}

static void nap(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static ssize_t follow_fill(void *data, char *buf, size_t max)
{
    follow_t *f = data;
    for (;;) {
        if (f->out_pos < f->out_len) {
            size_t n = SK_MIN(max, f->out_len - f->out_pos);
            memcpy(buf, f->out + f->out_pos, n);
            f->out_pos += n;
            f->last_send = sk_mono_ms();
            return (ssize_t)n;
        }
        if (f->end_sent || sk_http_stopping(f->server))
            return -1;
        bool was_ended = f->ended;
        if (f->fd >= 0) {
            char chunk[16384];
            ssize_t n = pread(f->fd, chunk, sizeof(chunk), (off_t)f->off);
            if (n > 0) {
                f->off += (uint64_t)n;
                take_bytes(f, chunk, (size_t)n);
                continue;
            }
        }
        if (f->elsewhere) {
            /* event: node, data: {"node": NAME, "url": URL or null}; then the end. */
            sk_buf_t b = {0};
            sk_buf_adds(&b, "event: node\ndata: {\"node\":");
            sk_buf_json_str(&b, f->node);
            sk_buf_adds(&b, ",\"url\":");
            sk_buf_json_str(&b, f->url);
            sk_buf_adds(&b, "}\n\n");
            out_add(f, b.data, b.len);
            free(b.data);
            f->end_sent = true;
            continue;
        }
        if (was_ended) {
            /* Ended, and the file is drained (checked after the end was seen). */
            if (f->line_len)
                event_line(f, f->line, f->line_len, f->off);
            f->line_len = 0;
            char end[96];
            int n = sk_snprintf(end, sizeof(end), "event: end\ndata: {\"status\":\"%s\"}\n\n",
                                f->status);
            out_add(f, end, (size_t)n);
            f->end_sent = true;
            continue;
        }
        int64_t now = sk_mono_ms();
        if (now >= f->next_check) {
            f->next_check = now + STATUS_EVERY_MS;
            check_run(f);
            if (f->ended)
                continue; /* drain what was written before the end */
        }
        if (now - f->last_send >= KEEPALIVE_MS) {
            out_add(f, ": keepalive\n\n", 13);
            continue;
        }
        nap(POLL_MS);
    }
}

static void follow_done(void *data)
{
    follow_t *f = data;
    if (f->fd >= 0)
        close(f->fd);
    sk_store_close(f->st);
    free(f->out);
    free(f->line);
    free(f->node);
    free(f->url);
    free(f);
}

static void follow(sk_api_t *a, sk_http_req_t *r, int64_t id)
{
    sk_err_t err;
    sk_err_clear(&err);
    follow_t *f = sk_xcalloc(1, sizeof(*f));
    f->a = a;
    f->server = r->server;
    f->id = id;
    f->fd = -1;
    /* A follower may last for hours: its own connection, not the pool's. */
    if (sk_store_open_readonly(a->store_url, &f->st, &err) < 0) {
        free(f);
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return;
    }
    const char *last = sk_http_header(r, "Last-Event-ID");
    int64_t from;
    if (last && sk_api_parse_uint(last, INT64_MAX / 2, &from) == 0)
        f->off = (uint64_t)from;
    check_run(f);
    f->last_send = sk_mono_ms();
    f->next_check = f->last_send + STATUS_EVERY_MS;
    out_add(f, "retry: 2000\n\n", 13);
    sk_http_stream(r, "text/event-stream; charset=utf-8", follow_fill, f, follow_done);
}

void sk_api_log(sk_api_t *a, sk_http_req_t *r, int64_t id)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_store_t *st = sk_api_store_get(a, &err);
    sk_run_t run = {0};
    int rc = st ? st->ops->run_get(st, id, &run, &err) : -1;
    sk_api_store_put(a, st);
    if (rc == SK_ENOTFOUND) {
        sk_http_error(r, 404, "no run %" PRId64, id);
        return;
    }
    if (rc < 0) {
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return;
    }
    const char *accept = sk_http_header(r, "Accept");
    const char *fq = sk_http_query(r, "follow");
    bool stream = (accept && strstr(accept, "text/event-stream")) ||
                  (fq && (strcmp(fq, "1") == 0 || strcmp(fq, "true") == 0));
    if (run.node && run.node[0] && strcmp(run.node, a->node_name) != 0 &&
        elsewhere(a, r, &run, stream)) {
        sk_run_release(&run);
        return;
    }
    if (stream) {
        sk_run_release(&run);
        follow(a, r, id);
        return;
    }
    if (!run.log_path) {
        sk_http_error(r, 404, "run %" PRId64 " has no log%s", id,
                      sk_run_status_final(run.status) ? "" : " yet");
        sk_run_release(&run);
        return;
    }
    int fd = open_log(a, run.log_path);
    struct stat sb;
    /* A run makes its log at its first line: one that printed nothing (or
     * nothing yet) has none, and its log is empty. */
    if (fd < 0 && lstat(run.log_path, &sb) < 0 && errno == ENOENT)
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    sk_run_release(&run);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        if (fd >= 0)
            close(fd);
        sk_http_error(r, 404, "the log of run %" PRId64 " is gone (pruned or removed)", id);
        return;
    }
    uint64_t size = (uint64_t)sb.st_size, off = 0, len = size;
    const char *range = sk_http_header(r, "Range");
    int pr = range ? parse_range(range, size, &off, &len) : 0;
    if (pr < 0) {
        close(fd);
        char cr[64];
        sk_snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        sk_http_json_with(r, 416, json_pack("{s:s}", "error", "the range is outside the log"),
                          "Content-Range", cr);
        return;
    }
    if (pr == 1) {
        char cr[96];
        sk_snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1,
                    size);
        sk_http_fd(r, 206, "text/plain; charset=utf-8", fd, off, len, "Content-Range", cr);
        return;
    }
    sk_http_fd(r, 200, "text/plain; charset=utf-8", fd, 0, size, NULL, NULL);
}
