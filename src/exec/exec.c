/* The executor: a run's definition to a process, its end to a status. */
#include "exec.h"

#include "../common/log.h"
#include "../dag/dag.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>

/* ${{ params.NAME }} in each argument is replaced by the parameter's value;
 * in a shell: command, by the value quoted for the shell, so that a value
 * can never become a command. */
static void subst_params(char **argv, const sk_kv_t *params, size_t n, bool shell)
{
    for (size_t i = 0; argv && argv[i]; i++) {
        if (!strstr(argv[i], "${{"))
            continue;
        char *out = sk_dag_subst(argv[i], params, n, shell);
        free(argv[i]);
        argv[i] = out;
    }
}

void sk_exec_log_path(const char *state_dir, const char *job, int64_t run_id, char *buf,
                      size_t size)
{
    sk_snprintf(buf, size, "%s/logs/%s/%" PRId64 ".log", state_dir, job, run_id);
}

int sk_exec_start(uv_loop_t *loop, const sk_exec_spec_t *spec, sk_proc_cb cb, void *data,
                  char **log_path, sk_proc_t **ret, sk_err_t *err)
{
    const sk_job_cfg_t *cfg = spec->cfg;
    const sk_step_cfg_t *step = spec->step;
    const sk_body_t *body = step ? &step->body : &cfg->body;
    char path[4096];

    *ret = NULL;
    sk_exec_log_path(spec->state_dir, cfg->name, spec->run_id, path, sizeof(path));
    *log_path = sk_xstrdup(path);
    char **argv = NULL;
    int rc = sk_runner_argv(body, &argv, err);
    if (rc < 0)
        return rc;
    subst_params(argv, spec->params, spec->nparams, body->kind == SK_BODY_SHELL);
    sk_run_info_t info = {.job = cfg->name,
                          .run_id = spec->run_id,
                          .attempt = spec->attempt,
                          .scheduled_at = spec->scheduled_at / 1000,
                          .tz_name = sk_tz_name(cfg->tz),
                          .step = step ? step->name : NULL,
                          .extra = spec->extra,
                          .nextra = spec->nextra,
                          .state_dir = spec->state_dir};
    char **envp = sk_runner_env(body, &info);
    char *cwd = sk_runner_cwd(body);
    sk_spawn_t proc = {
        .argv = argv,
        .envp = envp,
        .cwd = cwd,
        .log_path = *log_path,
        .max_output = step ? step->max_output : cfg->max_output,
        .timeout_ms = step ? step->timeout_ms : cfg->timeout_ms,
        .kill_grace_ms = step ? step->kill_grace_ms : cfg->kill_grace_ms,
        .masked = body->masked,
    };
    rc = sk_proc_start(loop, &proc, cb, data, ret, err);
    free(cwd);
    sk_strv_free(argv);
    sk_strv_free(envp);
    return rc;
}

sk_run_status_t sk_exec_status(const sk_proc_result_t *res, sk_exec_stop_t stop, const char *why,
                               const char **reason)
{
    *reason = res->reason[0] ? res->reason : NULL;
    switch (res->end) {
    case SK_PROC_EXITED:
        return res->exit_code == 0 ? SK_RUN_SUCCEEDED : SK_RUN_FAILED;
    case SK_PROC_SIGNALED:
        return SK_RUN_KILLED;
    case SK_PROC_TIMED_OUT:
        return SK_RUN_TIMED_OUT;
    case SK_PROC_KILLED:
        break;
    case SK_PROC_SPAWN_FAILED:
    default:
        return SK_RUN_FAILED;
    }
    switch (stop) {
    case SK_STOP_CANCEL:
        *reason = why ? why : "cancelled";
        return SK_RUN_KILLED;
    case SK_STOP_REPLACE:
        *reason = "replaced by a newer run";
        return SK_RUN_KILLED;
    case SK_STOP_USER:
        *reason = "interrupted by the user";
        return SK_RUN_KILLED;
    case SK_STOP_SHUTDOWN:
        *reason = "sked stopped while it ran";
        return SK_RUN_INTERRUPTED;
    case SK_STOP_FENCE:
        *reason = "its node lost the store for too long; stopped before another node could "
                  "take it";
        return SK_RUN_INTERRUPTED;
    case SK_STOP_NONE:
    case SK_STOP_GONE:
    default:
        *reason = "stopped";
        return SK_RUN_KILLED;
    }
}

void sk_exec_failed(sk_proc_result_t *res, const char *reason)
{
    memset(res, 0, sizeof(*res));
    res->end = SK_PROC_SPAWN_FAILED;
    res->exit_code = -1;
    res->started_ms = res->ended_ms = sk_now_ms();
    sk_strlcpy(res->reason, reason, sizeof(res->reason));
}

/* Whether environ (NUL-separated, len bytes) holds the string want. */
static bool environ_has(const char *environ_buf, ssize_t len, const char *want)
{
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(environ_buf + i) + 1)
        if (strcmp(environ_buf + i, want) == 0)
            return true;
    return false;
}

bool sk_exec_is_run_process(int pid, const char *state_dir, int64_t run_id)
{
    char id[64], dir[4200], buf[65536];
    sk_snprintf(id, sizeof(id), "SKED_RUN_ID=%" PRId64, run_id);
    sk_snprintf(dir, sizeof(dir), "SKED_STATE_DIR=%s", state_dir);
    ssize_t len = sk_procfs_read(pid, "environ", buf, sizeof(buf));
    return len > 0 && environ_has(buf, len, id) && environ_has(buf, len, dir);
}

typedef struct {
    const char *state_dir;
    int64_t run_id;
} run_ref_t;

/* sk_procfs_each_pid's callback: kills pid (and the group it leads) if it
 * is the run's. */
static bool kill_if_run(int pid, void *data)
{
    const run_ref_t *ref = data;
    if (!sk_exec_is_run_process(pid, ref->state_dir, ref->run_id))
        return false;
    kill(-(pid_t)pid, SIGKILL); /* its group, when it leads one (the run's own) */
    kill((pid_t)pid, SIGKILL);
    return true;
}

int sk_exec_kill_run_processes(const char *state_dir, int64_t run_id)
{
    run_ref_t ref = {state_dir, run_id};
    return sk_procfs_each_pid(kill_if_run, &ref);
}
