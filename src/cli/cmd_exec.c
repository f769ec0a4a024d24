/*
 * `sked exec JOB [-c FILE]`: runs a job once in the foreground and waits for
 * it. Without a daemon it runs here: same interpreter, environment, timeout
 * and log file as a scheduled run, recorded in the store (trigger manual)
 * under the store's shared lock, so that no daemon starts beneath it. When
 * a daemon owns the store, the daemon runs it (one attempt, no retries) and
 * records it; its log is shown from there. Its output is shown as it is
 * written. Exit status: 0 when the run succeeded, the job's own exit code
 * when it failed with one, else 1.
 */
#include "cli_store.h"
#include "../runner/runner.h"
#include "../common/log.h"
#include "../exec/exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#define EXEC_USAGE "sked exec JOB [-c FILE]"

typedef struct {
    uv_timer_t tail;
    uv_signal_t sigint, sigterm;
    sk_proc_t *proc;
    char *log_path;
    int fd;
    off_t off;
    bool done, stopped;
    sk_proc_result_t res;
} exec_t;

static void pump_log(exec_t *x)
{
    if (x->fd < 0)
        x->fd = open(x->log_path, O_RDONLY | O_CLOEXEC);
    if (x->fd < 0)
        return;
    char buf[65536];
    for (;;) {
        ssize_t n = pread(x->fd, buf, sizeof(buf), x->off);
        if (n <= 0)
            break;
        fwrite(buf, 1, (size_t)n, stdout);
        x->off += n;
    }
    fflush(stdout);
}

static void on_tail(uv_timer_t *t)
{
    pump_log(t->data);
}

static void on_exit(sk_proc_t *p, const sk_proc_result_t *res, void *data)
{
    (void)p;
    exec_t *x = data;
    x->res = *res;
    x->done = true;
    x->proc = NULL;
    uv_close((uv_handle_t *)&x->tail, NULL);
    uv_close((uv_handle_t *)&x->sigint, NULL);
    uv_close((uv_handle_t *)&x->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int sig)
{
    exec_t *x = h->data;
    (void)sig;
    if (x->proc && !x->stopped) {
        x->stopped = true;
        sk_proc_stop(x->proc);
    }
}

/* Summary line and exit status of a finished run. */
static int report(const char *job, int64_t id, sk_run_status_t status, int exit_code, int sig,
                  const char *reason)
{
    fprintf(stderr, "sked: exec: %s run %" PRId64 " %s", job, id, sk_run_status_str(status));
    if (exit_code >= 0)
        fprintf(stderr, " (exit %d)", exit_code);
    else if (sig)
        fprintf(stderr, " (signal %d)", sig);
    else if (reason && status != SK_RUN_SUCCEEDED)
        fprintf(stderr, " (%s)", reason);
    fputc('\n', stderr);
    return status == SK_RUN_SUCCEEDED ? 0 : exit_code > 0 ? exit_code : 1;
}

static volatile sig_atomic_t stop_asked;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_asked = 1;
}

/* A daemon owns the store: it runs the job once and records it; its log is
 * copied here as it is written. Ctrl-C (or SIGTERM) cancels the run. */
static int exec_by_daemon(sk_cli_src_t *src, const sk_job_cfg_t *job)
{
    char path[600];
    sk_snprintf(path, sizeof(path), "/api/v1/jobs/%s/trigger", job->name);
    json_t *reply =
        sk_cli_api_call(src->cfg, "exec", "POST", path, json_pack("{s:b}", "once", 1), NULL);
    if (!reply)
        return SK_EXIT_USER;
    sk_run_t run;
    memset(&run, 0, sizeof(run));
    run.id = json_integer_value(json_object_get(reply, "run_id"));
    run.status = SK_RUN_QUEUED;
    json_decref(reply);
    fprintf(stderr, "sked: exec: the daemon that owns the store runs %s as run %" PRId64 "\n",
            job->name, run.id);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sk_run_t end;
    memset(&end, 0, sizeof(end));
    int rc = sk_cli_src_follow(src, &run, true, &stop_asked, &end);
    if (rc == 0 && end.job)
        rc = report(job->name, end.id, end.status, end.exit_code, end.signal, end.reason);
    sk_run_release(&end);
    return rc;
}

/* No daemon owns the store (src holds its shared lock): run job here,
 * record it, show its output as it is written. */
static int exec_here(sk_store_t *st, const sk_config_t *cfg, const sk_job_cfg_t *job)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_run_t rec = {0};
    rec.job = job->name;
    rec.status = SK_RUN_QUEUED;
    rec.trigger = SK_TRIG_MANUAL;
    rec.attempt = 1;
    rec.scheduled_at = rec.queued_at = sk_now_ms();
    rec.exit_code = -1;
    if (st->ops->run_insert(st, &rec, &err) < 0) {
        sk_cli_error("exec: %s", err.msg);
        return SK_EXIT_USER;
    }
    exec_t x;
    memset(&x, 0, sizeof(x));
    x.fd = -1;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc;
    sk_exec_spec_t spec = {.cfg = job,
                           .run_id = rec.id,
                           .attempt = 1,
                           .scheduled_at = rec.scheduled_at,
                           .state_dir = cfg->state_dir};
    /* Its start is on the disk before its process exists, as the daemon
     * does it: a daemon recovering the store after a kill -9 of this command
     * then knows the run may have run. */
    char path[4096];
    sk_exec_log_path(cfg->state_dir, job->name, rec.id, path, sizeof(path));
    if (st->ops->run_start(st, rec.id, sk_now_ms(), 0, path, &err) < 0) {
        /* Not left queued for a daemon to start later. */
        st->ops->run_finish(st, rec.id, SK_RUN_FAILED, sk_now_ms(), -1, 0,
                            "its start could not be recorded", NULL);
        sk_cli_error("exec: %s", err.msg);
        rc = SK_EXIT_USER;
        goto out;
    }
    if (sk_exec_start(&loop, &spec, on_exit, &x, &x.log_path, &x.proc, &err) < 0) {
        st->ops->run_finish(st, rec.id, SK_RUN_FAILED, sk_now_ms(), -1, 0, err.msg, NULL);
        sk_cli_error("exec: %s", err.msg);
        rc = SK_EXIT_USER;
        goto out;
    }
    sk_run_pid_t pid = {rec.id, sk_proc_pid(x.proc)};
    st->ops->run_pids(st, &pid, 1, NULL);
    uv_timer_init(&loop, &x.tail);
    x.tail.data = &x;
    uv_timer_start(&x.tail, on_tail, 100, 100);
    uv_signal_init(&loop, &x.sigint);
    uv_signal_init(&loop, &x.sigterm);
    x.sigint.data = x.sigterm.data = &x;
    uv_signal_start(&x.sigint, on_signal, SIGINT);
    uv_signal_start(&x.sigterm, on_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    pump_log(&x);

    const char *reason;
    sk_run_status_t status =
        sk_exec_status(&x.res, x.stopped ? SK_STOP_USER : SK_STOP_NONE, NULL, &reason);
    if (st->ops->run_finish(st, rec.id, status, x.res.ended_ms, x.res.exit_code, x.res.signal,
                            reason, &err) < 0)
        sk_cli_error("exec: %s", err.msg);
    rc = report(job->name, rec.id, status, x.res.exit_code, x.res.signal, NULL);
out:
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (x.fd >= 0)
        close(x.fd);
    free(x.log_path);
    return rc;
}

int sk_cmd_exec(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    if (sk_cli_parse("exec", EXEC_USAGE, argc, argv, opts, 1, pos, 1, &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "sked: exec: missing the job name\nusage: %s\n", EXEC_USAGE);
        return SK_EXIT_USAGE;
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    sk_cli_src_t src;
    memset(&src, 0, sizeof(src));
    int rc = sk_cli_load_secrets(config, tzc, &cfg);
    if (rc)
        goto out;
    const sk_job_cfg_t *job = sk_cli_job(cfg, "exec", pos[0]);
    if (!job) {
        rc = SK_EXIT_USER;
        goto out;
    }
    if (job->nsteps) {
        sk_cli_error("exec: %s is a workflow; run it through the daemon with `sked trigger %s`",
                     job->name, job->name);
        rc = SK_EXIT_USER;
        goto out;
    }
    /* The state folder first: the store and its lock live there. */
    char logs[4096];
    sk_snprintf(logs, sizeof(logs), "%s/logs/%s", cfg->state_dir, job->name);
    int m = sk_mkdir_p(logs, 0700);
    if (m < 0) {
        sk_cli_error("exec: cannot create %s: %s", logs, strerror(-m));
        rc = SK_EXIT_USER;
        goto out;
    }
    if ((rc = sk_cli_src_open(&src, cfg, tzc, "exec", true)) != 0)
        goto out;
    rc = src.daemon ? exec_by_daemon(&src, job) : exec_here(src.st, cfg, job);
out:
    sk_cli_src_close(&src);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
