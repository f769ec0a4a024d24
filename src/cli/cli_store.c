/*
 * Where the commands that read runs (history, logs, list, next) and `sked
 * exec` get them (DESIGN 1): the store itself, under its shared lock, when
 * no daemon owns it; otherwise the daemon that owns it, through its control
 * socket, so that nothing but the owner opens the file. The daemon's API
 * answers in JSON; the runs it gives are turned back into sk_run_t here so
 * that each command prints the same thing either way.
 */
#include "cli_store.h"
#include "../daemon/daemon.h"

#include <time.h>

/* How long a command waits for a daemon that holds the store but does not
 * answer yet (starting) or any more (stopping), or for its lock to go. */
#define SETTLE_MS 10000

static bool is_postgres(const char *url)
{
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

/* Whether the daemon of state_dir answers on its control socket. */
static bool daemon_answers(const char *state_dir)
{
    json_t *reply = NULL;
    long status = 0;
    sk_err_t err;
    sk_err_clear(&err);
    bool up = sk_cli_api(state_dir, "GET", "/api/v1/health", NULL, &status, &reply, &err) == 0 &&
              status == 200;
    json_decref(reply);
    return up;
}

static void nap(void)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
}

/* The store, opened directly: read-only, or for writing (`sked exec`). A
 * SQLite file that does not exist yet is no store (*ret NULL) for a reader. */
static int open_direct(sk_cli_src_t *s, bool write)
{
    if (!write)
        return sk_cli_open_store(s->cfg, &s->st);
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_store_open(s->cfg->store_url, &s->st, &err) < 0) {
        sk_cli_error("%s: %s", s->cmd, err.msg);
        return SK_EXIT_USER;
    }
    return 0;
}

int sk_cli_src_open(sk_cli_src_t *s, const sk_config_t *cfg, sk_tz_cache_t *tzc, const char *cmd,
                    bool write)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->tzc = tzc;
    s->cmd = cmd;
    /* Several nodes on PostgreSQL share the store by design: no lock; a
     * daemon here still answers for it when it runs. */
    if (is_postgres(cfg->store_url)) {
        if (daemon_answers(cfg->state_dir)) {
            s->daemon = true;
            return 0;
        }
        return open_direct(s, write);
    }
    sk_store_holder_t h;
    sk_err_t err;
    for (int waited = 0;; waited += 100) {
        memset(&h, 0, sizeof(h));
        sk_err_clear(&err);
        int r = sk_store_lock(cfg->store_url, SK_STORE_LOCK_SHARE, 0, &s->lock, &h, &err);
        if (r == 0)
            break;
        if (r != SK_EBUSY) {
            /* No folder yet: no store, no runs. */
            if (r == -ENOENT && !write)
                return 0;
            sk_cli_error("%s: %s", cmd, err.msg);
            return SK_EXIT_USER;
        }
        if (daemon_answers(cfg->state_dir)) {
            s->daemon = true;
            return 0;
        }
        if (waited >= SETTLE_MS) {
            char who[320];
            sk_store_holder_text(&h, who, sizeof(who));
            sk_cli_error("%s: the store %s is owned by a daemon (%s) that does not answer on "
                         "%s/%s; is it another configuration's daemon?",
                         cmd, cfg->store_url, who, cfg->state_dir, SK_SOCKET_NAME);
            return SK_EXIT_USER;
        }
        nap(); /* a daemon starting (its socket is not up yet) or stopping */
    }
    int rc = open_direct(s, write);
    if (rc) {
        sk_store_unlock(s->lock);
        s->lock = NULL;
    }
    return rc;
}

void sk_cli_src_close(sk_cli_src_t *s)
{
    sk_store_close(s->st);
    s->st = NULL;
    sk_store_unlock(s->lock); /* after the store's connection is gone */
    s->lock = NULL;
}

/* ---- runs from the API's JSON ---- */

/* Unix ms of an ISO-8601 instant with an offset and milliseconds, as the
 * API writes them (2026-11-28T03:00:00.250+01:00); 0 for null. */
static int64_t instant(json_t *v)
{
    const char *text = json_string_value(v);
    if (!text)
        return 0;
    char buf[80];
    int64_t frac = 0;
    size_t n = 0;
    /* sk_tz_parse_iso drops the fraction: take it apart here. */
    for (const char *p = text; *p && n + 1 < sizeof(buf); p++) {
        if (*p == '.') {
            int digits = 0;
            for (p++; *p >= '0' && *p <= '9'; p++) {
                if (digits++ < 3)
                    frac = frac * 10 + (*p - '0');
            }
            for (; digits < 3; digits++)
                frac *= 10;
            p--;
            continue;
        }
        buf[n++] = *p;
    }
    buf[n] = '\0';
    int64_t sec;
    if (sk_tz_parse_iso(sk_tz_utc(), buf, &sec, NULL) < 0)
        return 0;
    return sec * 1000 + frac;
}

static char *text_or_null(json_t *v)
{
    const char *s = json_string_value(v);
    return s ? sk_xstrdup(s) : NULL;
}

int sk_cli_run_from_json(json_t *o, sk_run_t *ret)
{
    sk_run_t r;
    memset(&r, 0, sizeof(r));
    const char *job = json_string_value(json_object_get(o, "job"));
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *trigger = json_string_value(json_object_get(o, "trigger"));
    if (!json_is_integer(json_object_get(o, "id")) || !job || !status || !trigger ||
        sk_run_status_parse(status, &r.status) < 0 || sk_trigger_parse(trigger, &r.trigger) < 0)
        return SK_EPARSE;
    r.id = json_integer_value(json_object_get(o, "id"));
    r.job = sk_xstrdup(job);
    r.step = text_or_null(json_object_get(o, "step"));
    r.attempt = (int)json_integer_value(json_object_get(o, "attempt"));
    r.scheduled_at = instant(json_object_get(o, "scheduled_at"));
    r.queued_at = instant(json_object_get(o, "queued_at"));
    r.started_at = instant(json_object_get(o, "started_at"));
    r.ended_at = instant(json_object_get(o, "ended_at"));
    json_t *ec = json_object_get(o, "exit_code");
    r.exit_code = json_is_integer(ec) ? (int)json_integer_value(ec) : -1;
    r.signal = (int)json_integer_value(json_object_get(o, "signal"));
    r.pid = (int)json_integer_value(json_object_get(o, "pid"));
    r.reason = text_or_null(json_object_get(o, "reason"));
    r.parent_id = json_integer_value(json_object_get(o, "parent_id"));
    json_t *params = json_object_get(o, "params");
    if (json_is_object(params))
        r.params = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    r.node = text_or_null(json_object_get(o, "node"));
    r.event = text_or_null(json_object_get(o, "event"));
    /* The daemon serves the log: "" says that there is one. */
    if (json_is_true(json_object_get(o, "has_log")))
        r.log_path = sk_xstrdup("");
    *ret = r;
    return 0;
}

/* GET path on the daemon: its JSON answer (new) with status 200, else NULL
 * after printing what went wrong (*ret_status says which status, 0 for no
 * answer). */
static json_t *api_get(sk_cli_src_t *s, const char *path, long *ret_status)
{
    json_t *reply = NULL;
    long status = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (ret_status)
        *ret_status = 0;
    if (sk_cli_api(s->cfg->state_dir, "GET", path, NULL, &status, &reply, &err) < 0) {
        sk_cli_error("%s: %s", s->cmd, err.msg);
        return NULL;
    }
    if (ret_status)
        *ret_status = status;
    if (status != 200) {
        const char *m = json_string_value(json_object_get(reply, "error"));
        if (status != 404 || !ret_status)
            sk_cli_error("%s: %s", s->cmd, m ? m : "the daemon refused");
        json_decref(reply);
        return NULL;
    }
    return reply;
}

/* Appends the RUN objects of array arr to *runs (n of them so far). */
static int runs_from_array(json_t *arr, sk_run_t **runs, size_t *n)
{
    size_t i;
    json_t *v;
    *runs = sk_xrealloc(*runs, (*n + json_array_size(arr) + 1) * sizeof(**runs));
    json_array_foreach(arr, i, v)
    {
        if (sk_cli_run_from_json(v, &(*runs)[*n]) < 0)
            return SK_EPARSE;
        (*n)++;
    }
    return 0;
}

/* Appends to b "?k=v" or "&k=v", the value URL-safe (job names are). */
static void query_add(sk_buf_t *b, const char *key, const char *value)
{
    sk_buf_adds(b, strchr(b->data ? b->data : "", '?') ? "&" : "?");
    sk_buf_adds(b, key);
    sk_buf_adds(b, "=");
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            sk_buf_add(b, (const char *)p, 1);
        else
            sk_buf_printf(b, "%%%02X", *p);
    }
}

void sk_cli_page_release(sk_cli_page_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        sk_runs_free(p->steps[i], p->nsteps[i]);
    sk_runs_free(p->runs, p->n);
    free(p->steps);
    free(p->nsteps);
    memset(p, 0, sizeof(*p));
}

int sk_cli_src_page(sk_cli_src_t *s, const char *job, int64_t before, size_t limit,
                    sk_cli_rows_t rows, sk_cli_page_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (s->daemon) {
        char num[32];
        sk_buf_t b = {0};
        sk_buf_adds(&b, "/api/v1/runs");
        if (job)
            query_add(&b, "job", job);
        sk_snprintf(num, sizeof(num), "%zu", SK_MIN(limit, (size_t)1000));
        query_add(&b, "limit", num);
        if (before) {
            sk_snprintf(num, sizeof(num), "%" PRId64, before);
            query_add(&b, "before", num);
        }
        if (rows != SK_CLI_TOP)
            query_add(&b, rows == SK_CLI_NESTED ? "with_steps" : "steps", "1");
        char *path = sk_buf_take(&b, NULL);
        json_t *reply = api_get(s, path, NULL);
        free(path);
        if (!reply)
            return SK_EXIT_USER;
        json_t *arr = json_object_get(reply, "runs");
        int rc = runs_from_array(arr, &ret->runs, &ret->n);
        ret->steps = sk_xcalloc(ret->n + 1, sizeof(*ret->steps));
        ret->nsteps = sk_xcalloc(ret->n + 1, sizeof(*ret->nsteps));
        for (size_t i = 0; rc == 0 && i < ret->n; i++) {
            json_t *st = json_object_get(json_array_get(arr, i), "steps");
            if (json_is_array(st))
                rc = runs_from_array(st, &ret->steps[i], &ret->nsteps[i]);
        }
        json_decref(reply);
        if (rc < 0) {
            sk_cli_error("%s: the daemon's answer is not a list of runs", s->cmd);
            sk_cli_page_release(ret);
            return SK_EXIT_USER;
        }
        return 0;
    }
    if (!s->st)
        return 0;
    sk_err_t err;
    sk_err_clear(&err);
    sk_run_filter_t f = {.job = job,
                         .limit = SK_MIN(limit, (size_t)SK_STORE_QUERY_MAX),
                         .top_level = rows != SK_CLI_FLAT,
                         .before_id = before};
    if (s->st->ops->runs_query(s->st, &f, &ret->runs, &ret->n, &err) < 0) {
        sk_cli_error("%s: %s", s->cmd, err.msg);
        return SK_EXIT_USER;
    }
    ret->steps = sk_xcalloc(ret->n + 1, sizeof(*ret->steps));
    ret->nsteps = sk_xcalloc(ret->n + 1, sizeof(*ret->nsteps));
    for (size_t i = 0; rows == SK_CLI_NESTED && i < ret->n; i++) {
        /* A workflow run's steps, in the order they were recorded (whatever
         * the job is now: the store knows its children). */
        sk_run_filter_t sf = {.parent_id = ret->runs[i].id, .limit = SK_STORE_QUERY_MAX};
        if (s->st->ops->runs_query(s->st, &sf, &ret->steps[i], &ret->nsteps[i], NULL) < 0) {
            ret->steps[i] = NULL;
            ret->nsteps[i] = 0;
        }
    }
    return 0;
}

int sk_cli_src_run_get(sk_cli_src_t *s, int64_t id, sk_run_t *ret)
{
    if (s->daemon) {
        char path[64];
        long status = 0;
        sk_snprintf(path, sizeof(path), "/api/v1/runs/%" PRId64, id);
        json_t *reply = api_get(s, path, &status);
        if (!reply)
            return status == 404 ? SK_ENOTFOUND : SK_EXIT_USER;
        int rc = sk_cli_run_from_json(reply, ret);
        json_decref(reply);
        if (rc < 0) {
            sk_cli_error("%s: the daemon's answer is not a run", s->cmd);
            return SK_EXIT_USER;
        }
        return 0;
    }
    if (!s->st)
        return SK_ENOTFOUND;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = s->st->ops->run_get(s->st, id, ret, &err);
    if (rc < 0 && rc != SK_ENOTFOUND) {
        sk_cli_error("%s: %s", s->cmd, err.msg);
        return SK_EXIT_USER;
    }
    return rc;
}

json_t *sk_cli_src_jobs(sk_cli_src_t *s)
{
    return api_get(s, "/api/v1/jobs?recent=1", NULL);
}

json_t *sk_cli_src_job(sk_cli_src_t *s, const char *name, long count)
{
    char num[32];
    sk_buf_t b = {0};
    sk_buf_adds(&b, "/api/v1/jobs/");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            sk_buf_add(&b, (const char *)p, 1);
        else
            sk_buf_printf(&b, "%%%02X", *p);
    }
    sk_snprintf(num, sizeof(num), "%ld", count);
    query_add(&b, "next", num);
    char *path = sk_buf_take(&b, NULL);
    json_t *reply = api_get(s, path, NULL);
    free(path);
    return reply;
}

int64_t sk_cli_instant(json_t *v)
{
    return instant(v);
}

/* Fetches run id's log from *off on and prints it. Returns 1 when bytes
 * came, 0 when none did (yet; *missing is set when the run has no log
 * yet), -1 after printing an error (unless quiet). */
static int fetch_log(sk_cli_src_t *s, int64_t id, int64_t *off, bool *missing, bool quiet)
{
    char path[96];
    long status = 0;
    char *body = NULL;
    size_t len = 0;
    sk_err_t err;
    sk_err_clear(&err);
    *missing = false;
    sk_snprintf(path, sizeof(path), "/api/v1/runs/%" PRId64 "/log", id);
    if (sk_cli_api_get_from(s->cfg->state_dir, path, *off ? *off : -1, &status, &body, &len, &err) <
        0) {
        if (!quiet)
            sk_cli_error("%s: %s", s->cmd, err.msg);
        return -1;
    }
    int rc = 0;
    if (status == 200 || status == 206) {
        /* A 200 is the whole file: from the start, whatever was asked. */
        size_t skip = status == 200 ? (size_t)SK_MIN((uint64_t)*off, (uint64_t)len) : 0;
        fwrite(body + skip, 1, len - skip, stdout);
        fflush(stdout);
        *off += (int64_t)(len - skip);
        rc = len > skip;
    } else if (status == 404) {
        *missing = true;
    } else if (status != 416) {
        json_error_t jerr;
        json_t *o = json_loadb(body, len, 0, &jerr);
        const char *m = json_string_value(json_object_get(o, "error"));
        sk_cli_error("%s: %s", s->cmd, m ? m : "the daemon could not give the log");
        json_decref(o);
        rc = -1;
    }
    free(body);
    return rc;
}

static bool cancel_run(sk_cli_src_t *s, int64_t id)
{
    char path[96];
    json_t *reply = NULL;
    long status = 0;
    sk_err_t err;
    sk_err_clear(&err);
    sk_snprintf(path, sizeof(path), "/api/v1/runs/%" PRId64 "/cancel", id);
    int rc = sk_cli_api(s->cfg->state_dir, "POST", path, NULL, &status, &reply, &err);
    json_decref(reply);
    return rc == 0 && (status == 202 || status == 409);
}

int sk_cli_src_follow(sk_cli_src_t *s, const sk_run_t *run, bool follow,
                      volatile sig_atomic_t *stop, sk_run_t *ret_final)
{
    int64_t off = 0;
    bool missing = false, final = sk_run_status_final(run->status), cancelled = false;
    sk_run_t now;
    memset(&now, 0, sizeof(now));
    for (;;) {
        if (fetch_log(s, run->id, &off, &missing, false) < 0)
            return SK_EXIT_USER;
        if (!follow || final)
            break;
        if (stop && *stop && !cancelled)
            cancelled = cancel_run(s, run->id);
        nap();
        sk_run_release(&now);
        int r = sk_cli_src_run_get(s, run->id, &now);
        if (r == SK_EXIT_USER) {
            sk_cli_error("%s: sked stopped answering; run %" PRId64
                         " is marked interrupted when it starts again",
                         s->cmd, run->id);
            return SK_EXIT_USER;
        }
        final = r == 0 && sk_run_status_final(now.status);
        /* The last lines written before the end come with the next fetch. */
    }
    if (missing && !follow) {
        sk_cli_error("%s: run %" PRId64 " has no output yet (%s)", s->cmd, run->id,
                     sk_run_status_str(run->status));
        sk_run_release(&now);
        return SK_EXIT_USER;
    }
    if (off == 0 && final && !ret_final) /* said, so that silence is not a puzzle */
        sk_cli_error("%s: run %" PRId64 " printed nothing (%s)", s->cmd, run->id,
                     sk_run_status_str(now.job ? now.status : run->status));
    if (ret_final) {
        if (now.job)
            *ret_final = now;
        else
            sk_cli_src_run_get(s, run->id, ret_final);
    } else {
        sk_run_release(&now);
    }
    return 0;
}
