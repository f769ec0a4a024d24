/*
 * The command sink: runs the configured argv (no shell) with the alert's
 * JSON on its stdin, on a pool thread, through the helper-command engine
 * (sk_helper_run, src/common/capture.c): its own process group, default
 * signal dispositions, one deadline for stdin, stderr and the wait. The
 * child gets a small environment (PATH, HOME, LANG..., SKED_ALERT=1),
 * stdout on /dev/null, and the first line of its stderr goes into the
 * error.
 */
#include "alert.h"
#include "alert_int.h"

/* How much of stderr is kept (only its first line is reported). */
#define STDERR_KEEP 1024

static bool spawn_error_retryable(int e)
{
    /* a missing or unrunnable program stays so */
    return !(e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR || e == ELOOP ||
             e == ENAMETOOLONG || e == EPERM || e == EISDIR);
}

static void command_send(sk_alert__job_t *job, sk_alert_result_t *res)
{
    sk_helper_t h = {.argv = job->argv,
                     .envp = job->envp,
                     .input = job->payload,
                     .input_len = job->payload_len,
                     .keep_fd = 2,
                     .keep_max = STDERR_KEEP - 1,
                     .timeout_ms = job->timeout_ms};
    sk_helper_result_t out;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_helper_run(&h, &out, &err);
    if (rc < 0) {
        sk_alert__fail(res, spawn_error_retryable(-rc), "%s", err.msg);
        return;
    }
    if (out.end == SK_HELPER_TIMED_OUT) {
        char d[32];
        sk_duration_format(job->timeout_ms, d, sizeof(d));
        sk_alert__fail(res, true, "%s timed out after %s and was killed", job->argv[0], d);
    } else if (out.end == SK_HELPER_LOST) {
        sk_alert__fail(res, true, "%s: its exit status was lost", job->argv[0]);
    } else if (out.end == SK_HELPER_EXITED && out.code == 0) {
        res->ok = true;
    } else if (out.end == SK_HELPER_EXITED) {
        sk_alert__fail(res, true, "%s exited with status %d", job->argv[0], out.code);
    } else {
        sk_alert__fail(res, true, "%s was killed by signal %d", job->argv[0], out.code);
    }
    if (!res->ok)
        sk_alert__append_detail(res->error, sizeof(res->error), out.out, out.out_len);
    free(out.out);
}

/* Of the daemon's environment, the command gets only these (as a job does,
 * it gets no secret the daemon was started with, such as an SMTP password). */
static const char *const KEPT_ENV[] = {"PATH", "HOME",    "LANG",   "LC_ALL", "TZ",
                                       "USER", "LOGNAME", "TMPDIR", "SHELL"};

static int command_prepare(sk_alert__job_t *job, const sk_alert_cfg_t *cfg, const char *payload)
{
    if (!cfg->command || !cfg->command[0] || !*cfg->command[0])
        return -EINVAL;
    job->argv = sk_alert__strv_dup(cfg->command);
    job->envp = sk_xcalloc(SK_ARRAY_LEN(KEPT_ENV) + 2, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(KEPT_ENV); i++) {
        const char *v = getenv(KEPT_ENV[i]);
        if (!v)
            continue;
        size_t len = strlen(KEPT_ENV[i]) + strlen(v) + 2;
        job->envp[n] = sk_xmalloc(len);
        sk_snprintf(job->envp[n++], len, "%s=%s", KEPT_ENV[i], v);
    }
    job->envp[n] = sk_xstrdup("SKED_ALERT=1");
    job->payload = sk_xstrdup(payload);
    job->payload_len = strlen(payload);
    return 0;
}

const sk_alert__sink_ops_t sk_alert__command_ops = {"command", command_prepare, command_send};
