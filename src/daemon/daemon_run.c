/*
 * Runs: from a recorded fire to a recorded outcome. Runs wait in one FIFO
 * until their time (retries), their job (overlap) and a free slot
 * (max_parallel) allow them; outcomes of all runs that ended in one loop
 * turn are recorded in one transaction before they are logged, retried or
 * pruned.
 */
#include "daemon_int.h"

#include <fcntl.h>
#include <signal.h>

#define RETRY_CAP_MS (3600 * 1000LL)

sk_runrt_t *sk_daemon__run_new(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *rec)
{
    sk_runrt_t *r = sk_xcalloc(1, sizeof(*r));
    r->d = d;
    r->job = j;
    r->snap = sk_config_ref(d->config);
    r->cfg = j->cfg;
    r->id = rec->id;
    r->attempt = rec->attempt;
    r->trigger = rec->trigger;
    r->scheduled_at = rec->scheduled_at;
    r->not_before = rec->queued_at;
    sk_runrt_t **pp = &d->waiting;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    j->waiting++;
    return r;
}

static void run_free(sk_runrt_t *r)
{
    sk_config_unref(r->snap);
    free(r->log_path);
    free(r);
}

static void unlink_from(sk_runrt_t **list, sk_runrt_t *r)
{
    for (sk_runrt_t **pp = list; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            r->next = NULL;
            return;
        }
    }
}

static void on_exit(sk_proc_t *p, const sk_proc_result_t *res, void *data)
{
    (void)p;
    sk_runrt_t *r = data;
    sk_daemon_t *d = r->d;
    r->result = *res;
    r->proc = NULL;
    unlink_from(&d->running, r);
    r->job->active--;
    d->nrunning--;
    r->next = d->finished;
    d->finished = r;
    uv_timer_start(&d->flush, sk_daemon__on_flush, 0, 0);
}

static void finish_early(sk_daemon_t *d, sk_runrt_t *r, const char *reason)
{
    memset(&r->result, 0, sizeof(r->result));
    r->result.end = SK_PROC_SPAWN_FAILED;
    r->result.exit_code = -1;
    r->result.started_ms = r->result.ended_ms = sk_now_ms();
    sk_strlcpy(r->result.reason, reason, sizeof(r->result.reason));
    r->next = d->finished;
    d->finished = r;
    uv_timer_start(&d->flush, sk_daemon__on_flush, 0, 0);
}

static void start_run(sk_daemon_t *d, sk_runrt_t *r, bool *in_tx)
{
    const sk_job_cfg_t *cfg = r->cfg;
    sk_err_t err;
    char **argv = NULL, **envp = NULL;
    char path[4096];

    sk_err_clear(&err);
    r->job->waiting--;
    if (sk_runner_argv(&cfg->body, &argv, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=failed job=%s run=%" PRId64 " attempt=%d reason=\"%s\"",
               r->job->name, r->id, r->attempt, err.msg);
        finish_early(d, r, err.msg);
        return;
    }
    char sched[40];
    sk_format_utc_ms(r->scheduled_at, sched, sizeof(sched));
    sk_run_info_t info = {r->job->name, r->id, r->attempt, r->scheduled_at / 1000,
                          sk_tz_name(cfg->tz)};
    envp = sk_runner_env(&cfg->body, &info);
    sk_snprintf(path, sizeof(path), "%s/logs/%s/%" PRId64 ".log", d->state_dir, r->job->name,
                r->id);
    r->log_path = sk_xstrdup(path);
    char *cwd = sk_runner_cwd(&cfg->body);
    sk_spawn_t spec = {
        .argv = argv,
        .envp = envp,
        .cwd = cwd,
        .log_path = r->log_path,
        .max_output = cfg->max_output,
        .timeout_ms = cfg->timeout_ms,
        .kill_grace_ms = cfg->kill_grace_ms,
    };
    int rc = sk_proc_start(d->loop, &spec, on_exit, r, &r->proc, &err);
    sk_strv_free(argv);
    sk_strv_free(envp);
    free(cwd);
    if (rc < 0) {
        sk_log(SK_LOG_ERROR, "event=failed job=%s run=%" PRId64 " attempt=%d reason=\"%s\"",
               r->job->name, r->id, r->attempt, err.msg);
        finish_early(d, r, err.msg);
        return;
    }
    r->job->active++;
    d->nrunning++;
    r->next = d->running;
    d->running = r;
    if (!*in_tx && d->store->ops->begin(d->store, NULL) == 0)
        *in_tx = true;
    if (d->store->ops->run_start(d->store, r->id, sk_now_ms(), sk_proc_pid(r->proc), r->log_path,
                                 &err) < 0)
        sk_log(SK_LOG_ERROR, "event=store_error job=%s run=%" PRId64 " msg=\"%s\"", r->job->name,
               r->id, err.msg);
    sk_log(SK_LOG_INFO,
           "event=started job=%s run=%" PRId64 " attempt=%d trigger=%s scheduled=%s pid=%d",
           r->job->name, r->id, r->attempt, sk_trigger_str(r->trigger), sched,
           sk_proc_pid(r->proc));
}

void sk_daemon__pump(sk_daemon_t *d, int64_t now)
{
    bool in_tx = false;
    sk_runrt_t **pp = &d->waiting;
    now = SK_MAX(now, sk_now_ms());
    while (*pp && !d->stopping) {
        sk_runrt_t *r = *pp;
        if (d->nrunning >= d->config->max_parallel)
            break;
        bool job_busy = r->job->active > 0 && r->cfg->overlap != SK_OVERLAP_ALLOW;
        if (r->not_before > now || job_busy) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        r->next = NULL;
        start_run(d, r, &in_tx);
    }
    if (in_tx) {
        sk_err_t err;
        sk_err_clear(&err);
        if (d->store->ops->commit(d->store, &err) < 0)
            sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
    }
}

int64_t sk_daemon__earliest_wait(sk_daemon_t *d)
{
    int64_t best = 0, now = sk_now_ms();
    for (sk_runrt_t *r = d->waiting; r; r = r->next)
        if (r->not_before > now && (!best || r->not_before < best))
            best = r->not_before;
    return best;
}

static sk_run_status_t outcome(const sk_runrt_t *r, const char **reason)
{
    const sk_proc_result_t *res = &r->result;
    *reason = res->reason[0] ? res->reason : NULL;
    switch (res->end) {
    case SK_PROC_EXITED:
        return res->exit_code == 0 ? SK_RUN_SUCCEEDED : SK_RUN_FAILED;
    case SK_PROC_SIGNALED:
        return SK_RUN_KILLED;
    case SK_PROC_TIMED_OUT:
        return SK_RUN_TIMED_OUT;
    case SK_PROC_KILLED:
        if (r->shutdown) {
            *reason = "sked stopped while it ran";
            return SK_RUN_INTERRUPTED;
        }
        *reason = r->replaced ? "replaced by a newer run" : "stopped";
        return SK_RUN_KILLED;
    case SK_PROC_SPAWN_FAILED:
    default:
        return SK_RUN_FAILED;
    }
}

static bool retryable(const sk_runrt_t *r, sk_run_status_t st)
{
    if (r->replaced || r->shutdown)
        return false;
    return (st == SK_RUN_FAILED || st == SK_RUN_TIMED_OUT || st == SK_RUN_KILLED) &&
           r->cfg && r->attempt <= r->cfg->retries;
}

static int64_t retry_delay(const sk_job_cfg_t *cfg, int attempt)
{
    int64_t delay = cfg->retry_delay_ms;
    for (int i = 1; i < attempt && delay < RETRY_CAP_MS; i++)
        delay *= 2;
    return SK_MIN(delay, RETRY_CAP_MS);
}

static void remove_log(const char *path, void *data)
{
    (void)data;
    if (path)
        unlink(path);
}

void sk_daemon__on_flush(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    sk_runrt_t *list = d->finished;
    const sk_store_ops_t *ops = d->store->ops;
    sk_err_t err;
    sk_run_t retries[64];
    size_t nretry = 0;
    int64_t now = sk_now_ms();

    if (!list)
        return;
    d->finished = NULL;
    sk_err_clear(&err);
    int rc = ops->begin(d->store, &err);
    for (sk_runrt_t *r = list; r && rc == 0; r = r->next) {
        const char *reason;
        sk_run_status_t st = outcome(r, &reason);
        rc = ops->run_finish(d->store, r->id, st, r->result.ended_ms ? r->result.ended_ms : now,
                             r->result.exit_code, r->result.signal, reason, &err);
        if (rc == -EALREADY)
            rc = 0; /* recorded by an earlier flush whose commit we saw fail */
        if (rc == 0 && retryable(r, st) && !d->stopping && nretry < SK_ARRAY_LEN(retries)) {
            sk_run_t *rec = &retries[nretry];
            memset(rec, 0, sizeof(*rec));
            rec->job = r->job->name;
            rec->status = SK_RUN_QUEUED;
            rec->trigger = SK_TRIG_RETRY;
            rec->attempt = r->attempt + 1;
            rec->scheduled_at = r->scheduled_at;
            rec->queued_at = now + retry_delay(r->cfg, r->attempt);
            rec->exit_code = -1;
            rc = ops->run_insert(d->store, rec, &err);
            if (rc == 0)
                nretry++;
        }
    }
    if (rc == 0)
        rc = ops->commit(d->store, &err);
    if (rc < 0) {
        if (ops->rollback)
            ops->rollback(d->store, NULL);
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\" note=\"outcomes kept; retrying\"",
               err.msg);
        /* Keep the outcomes and try again shortly: none is ever dropped. */
        sk_runrt_t *tail = list;
        while (tail->next)
            tail = tail->next;
        tail->next = d->finished;
        d->finished = list;
        uv_timer_start(&d->flush, sk_daemon__on_flush, 1000, 0);
        return;
    }
    for (sk_runrt_t *r = list, *next; r; r = next) {
        next = r->next;
        const char *reason;
        sk_run_status_t st = outcome(r, &reason);
        int64_t dur = r->result.ended_ms - r->result.started_ms;
        sk_log(st == SK_RUN_SUCCEEDED ? SK_LOG_INFO : SK_LOG_WARN,
               "event=finished job=%s run=%" PRId64 " attempt=%d status=%s exit=%d signal=%d "
               "duration_ms=%" PRId64 "%s%s%s",
               r->job->name, r->id, r->attempt, sk_run_status_str(st), r->result.exit_code,
               r->result.signal, dur < 0 ? 0 : dur, reason ? " reason=\"" : "",
               reason ? reason : "", reason ? "\"" : "");
        if (r->cfg && (r->cfg->keep_runs > 0 || r->cfg->keep_days_ms > 0)) {
            int64_t cutoff = r->cfg->keep_days_ms > 0 ? now - r->cfg->keep_days_ms : 0;
            if (ops->prune(d->store, r->job->name, (size_t)r->cfg->keep_runs, cutoff, remove_log,
                           NULL, &err) < 0)
                sk_log(SK_LOG_WARN, "event=prune_failed job=%s msg=\"%s\"", r->job->name,
                       err.msg);
        }
        run_free(r);
    }
    for (size_t i = 0; i < nretry; i++) {
        sk_jobrt_t *j = sk_daemon__job(d, retries[i].job);
        char at[40];
        sk_format_utc_ms(retries[i].queued_at, at, sizeof(at));
        sk_log(SK_LOG_INFO, "event=retry_scheduled job=%s run=%" PRId64 " attempt=%d at=%s",
               retries[i].job, retries[i].id, retries[i].attempt, at);
        if (j && j->cfg)
            sk_daemon__run_new(d, j, &retries[i]);
    }
    sk_daemon__pump(d, now);
    sk_daemon__arm(d);
    sk_daemon__maybe_exit(d);
}

void sk_daemon__stop_all(sk_daemon_t *d, bool hard)
{
    for (sk_runrt_t *r = d->running; r; r = r->next) {
        r->shutdown = true;
        if (!r->proc)
            continue;
        if (hard)
            kill(-sk_proc_pid(r->proc), SIGKILL);
        else
            sk_proc_stop(r->proc);
    }
    /* Waiting runs stay queued in the store and resume at the next start. */
    for (sk_runrt_t *r = d->waiting, *next; r; r = next) {
        next = r->next;
        r->job->waiting--;
        run_free(r);
    }
    d->waiting = NULL;
}

/* Whether pid is still the process of run id (its environment says so). */
static bool is_our_process(int pid, int64_t id)
{
    char path[64], want[64];
    sk_snprintf(path, sizeof(path), "/proc/%d/environ", pid);
    int n = sk_snprintf(want, sizeof(want), "SKED_RUN_ID=%" PRId64, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[65536];
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return false;
    buf[len] = '\0';
    for (ssize_t i = 0; i < len;) {
        if (strncmp(buf + i, want, (size_t)n) == 0 && (buf[i + n] == '\0'))
            return true;
        i += (ssize_t)strlen(buf + i) + 1;
    }
    return false;
}

void sk_daemon__recover(sk_daemon_t *d, int64_t now)
{
    const sk_store_ops_t *ops = d->store->ops;
    sk_run_filter_t f = {.only_active = true, .limit = 100000};
    sk_run_t *runs = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (ops->runs_query(d->store, &f, &runs, &n, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        return;
    }
    /* Oldest first, so queues resume in their order. */
    for (size_t k = n; k-- > 0;) {
        sk_run_t *run = &runs[k];
        sk_jobrt_t *j = sk_daemon__job(d, run->job);
        if (run->status == SK_RUN_QUEUED && j && j->cfg && !run->step) {
            sk_daemon__run_new(d, j, run);
            continue;
        }
        const char *reason = "sked stopped while it ran";
        if (run->status == SK_RUN_RUNNING && run->pid > 0 && is_our_process(run->pid, run->id)) {
            /* It outlived its daemon: end it and its group now. */
            kill(-run->pid, SIGKILL);
            kill(run->pid, SIGKILL);
            reason = "sked stopped while it ran; its processes were killed at restart";
        } else if (run->status == SK_RUN_QUEUED) {
            reason = "its job is no longer in the configuration";
        }
        if (ops->run_finish(d->store, run->id, SK_RUN_INTERRUPTED, now, -1, 0, reason, &err) < 0) {
            sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
            continue;
        }
        sk_log(SK_LOG_WARN, "event=interrupted job=%s run=%" PRId64 " attempt=%d reason=\"%s\"",
               run->job, run->id, run->attempt, reason);
        if (run->status == SK_RUN_RUNNING && j && j->cfg && run->attempt <= j->cfg->retries) {
            sk_run_t rec = {0};
            rec.job = j->name;
            rec.status = SK_RUN_QUEUED;
            rec.trigger = SK_TRIG_RETRY;
            rec.attempt = run->attempt + 1;
            rec.scheduled_at = run->scheduled_at;
            rec.queued_at = now;
            rec.exit_code = -1;
            if (ops->run_insert(d->store, &rec, &err) == 0) {
                sk_log(SK_LOG_INFO, "event=retry_scheduled job=%s run=%" PRId64 " attempt=%d",
                       j->name, rec.id, rec.attempt);
                sk_daemon__run_new(d, j, &rec);
            }
        }
    }
    sk_runs_free(runs, n);
}
