/*
 * A job's digest: FNV-1a, 64 bits, over length-prefixed fields in a fixed
 * order, so a reload can tell a job that changed from one that did not.
 * Exports sk_config__job_digest to config_job.c.
 */
#include "config_job.h"

typedef struct {
    uint64_t h;
} fnv_t;

static void fnv_bytes(fnv_t *f, const void *p, size_t n)
{
    f->h = sk_fnv64(f->h, p, n);
}

static void fnv_i64(fnv_t *f, int64_t v)
{
    unsigned char b[8];
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (8 * i)); /* fixed byte order on every host */
    fnv_bytes(f, b, sizeof(b));
}

static void fnv_str(fnv_t *f, const char *s)
{
    if (!s) {
        fnv_i64(f, -1);
        return;
    }
    size_t n = strlen(s);
    fnv_i64(f, (int64_t)n);
    fnv_bytes(f, s, n);
}

static void fnv_strv(fnv_t *f, char *const *v)
{
    size_t n = sk_strv_len(v);
    fnv_i64(f, v ? (int64_t)n : -1);
    for (size_t i = 0; i < n; i++)
        fnv_str(f, v[i]);
}

/* A parsed cron expression, field by field (not its text: formatting
 * 100,000 of them was a tenth of start-up; not its bytes: padding). */
_Static_assert(sizeof(sk_cron_t) == 48, "a new field of sk_cron_t must enter fnv_cron");

static void fnv_cron(fnv_t *f, const sk_cron_t *c)
{
    unsigned char b[88];
    size_t n = 0;
    uint64_t wide[] = {c->sec, c->min, c->hour,     c->dom,        c->dom_last, c->dom_near,
                       c->mon, c->dow, c->dow_last, c->dom_lastwd, c->flags};
    for (size_t i = 0; i < SK_ARRAY_LEN(wide); i++)
        for (int k = 0; k < 8; k++)
            b[n++] = (unsigned char)(wide[i] >> (8 * k)); /* fixed byte order */
    fnv_bytes(f, b, n);
    fnv_bytes(f, c->dow_nth, sizeof(c->dow_nth));
}

/* A body; its first nsecret env values enter by key only. */
static void fnv_body(fnv_t *f, const sk_body_t *B, size_t nsecret)
{
    fnv_i64(f, B->kind);
    fnv_str(f, B->target);
    fnv_strv(f, B->run_argv);
    fnv_strv(f, B->args);
    fnv_str(f, B->venv);
    fnv_str(f, B->cwd);
    fnv_str(f, B->config_dir);
    fnv_i64(f, (int64_t)B->nenv);
    for (size_t i = 0; i < B->nenv; i++) {
        fnv_str(f, B->env[i].key);
        fnv_str(f, i < nsecret ? NULL : B->env[i].value);
    }
}

static void fnv_alert(fnv_t *f, const sk_alert_cfg_t *a)
{
    if (!a) {
        fnv_i64(f, -1);
        return;
    }
    fnv_i64(f, a->on);
    fnv_str(f, a->webhook);
    fnv_str(f, a->slack);
    fnv_strv(f, a->command);
    fnv_i64(f, a->has_email);
    fnv_str(f, a->email.smtp_url);
    fnv_str(f, a->email.from);
    fnv_strv(f, a->email.to);
    fnv_str(f, a->email.username);
    fnv_str(f, a->email.password_env);
    fnv_str(f, a->email.password_file);
}

/*
 * Everything that defines the job. Cron expressions enter in canonical form,
 * so spacing changes do not count. Values from env_file enter by key only:
 * the digest may be shown and must not help anyone guess a secret; the new
 * snapshot carries changed secrets to the next run anyway.
 */
void sk_config__job_digest(sk_job_cfg_t *J)
{
    fnv_t f = {SK_FNV64_INIT};
    fnv_str(&f, "sked-job-2");
    fnv_str(&f, J->name);
    fnv_i64(&f, J->trigger);
    fnv_i64(&f, (int64_t)J->ncron);
    for (size_t i = 0; i < J->ncron; i++)
        fnv_cron(&f, &J->crons[i]);
    fnv_i64(&f, J->reboot);
    fnv_i64(&f, J->on);
    fnv_str(&f, J->logon_user);
    fnv_i64(&f, J->idle_ms);
    fnv_i64(&f, J->idle_cpu);
    if (J->file) {
        fnv_str(&f, J->file->path);
        fnv_str(&f, J->file->glob);
        fnv_i64(&f, J->file->events);
        fnv_i64(&f, J->file->settle_ms);
        fnv_i64(&f, J->file->recursive);
        fnv_i64(&f, J->file->existing);
    }
    fnv_i64(&f, J->every_ms);
    fnv_i64(&f, J->jitter_ms);
    fnv_i64(&f, J->start_ms);
    fnv_i64(&f, J->at_ms);
    fnv_str(&f, J->tz ? sk_tz_name(J->tz) : NULL);
    fnv_body(&f, &J->body, J->nsecret_env);
    fnv_str(&f, J->env_file);
    fnv_i64(&f, (int64_t)J->nsecret_env);
    fnv_i64(&f, J->timeout_ms);
    fnv_i64(&f, J->kill_grace_ms);
    fnv_i64(&f, J->retries);
    fnv_i64(&f, J->retry_delay_ms);
    fnv_i64(&f, J->overlap);
    fnv_i64(&f, J->catchup);
    fnv_i64(&f, J->misfire_grace_ms);
    fnv_i64(&f, J->keep_runs);
    fnv_i64(&f, J->keep_days_ms);
    fnv_i64(&f, J->max_output);
    fnv_i64(&f, J->enabled);
    fnv_i64(&f, (int64_t)J->nsteps);
    for (size_t i = 0; i < J->nsteps; i++) {
        const sk_step_cfg_t *S = &J->steps[i];
        fnv_str(&f, S->name);
        fnv_body(&f, &S->body, J->nsecret_env);
        fnv_i64(&f, (int64_t)S->nneeds);
        for (size_t k = 0; k < S->nneeds; k++)
            fnv_i64(&f, (int64_t)S->needs[k]);
        fnv_i64(&f, S->when);
        fnv_i64(&f, S->timeout_ms);
        fnv_i64(&f, S->kill_grace_ms);
        fnv_i64(&f, S->retries);
        fnv_i64(&f, S->retry_delay_ms);
        fnv_i64(&f, S->max_output);
        fnv_alert(&f, S->alert);
    }
    fnv_i64(&f, J->step_parallel);
    fnv_i64(&f, (int64_t)J->nparams);
    for (size_t i = 0; i < J->nparams; i++) {
        fnv_str(&f, J->params[i].key);
        fnv_str(&f, J->params[i].value);
    }
    fnv_i64(&f, (int64_t)J->nafter);
    for (size_t i = 0; i < J->nafter; i++)
        fnv_str(&f, J->after[i]);
    fnv_i64(&f, J->after_when);
    fnv_alert(&f, J->alert);
    fnv_i64(&f, J->expected_duration_ms);
    fnv_strv(&f, J->nodes);
    J->digest = f.h;
}
