/*
 * GET /api/v1/runs/ID/log: a run's output file, whole or a byte range, or
 * followed live as server-sent events.
 *
 * The file is found through the run's row (never through the URL), and must
 * lie inside STATE_DIR/logs: no path in a request can reach another file.
 * A follower blocks only its own connection thread: it polls the file
 * every 100 ms and the run's status every 500 ms through a store connection
 * of its own, and ends once the run has ended and the file is drained.
 */
/* realpath(3) */
#define _XOPEN_SOURCE 700

#include "daemon_api.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define POLL_MS 100
#define STATUS_EVERY_MS 500
#define KEEPALIVE_MS 15000
#define MAX_LINE (64 * 1024)

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
    sk_run_release(&run);
    struct stat sb;
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
        sk_http_json_with(r, 416,
                          json_pack("{s:s}", "error", "the range is outside the log"),
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
