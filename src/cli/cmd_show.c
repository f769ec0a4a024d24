/*
 * `sked show JOB [-c FILE]`: a job's definition at a glance; for a workflow,
 * its steps drawn as a graph in layers (each step below everything it needs),
 * with the edges and conditions spelled out.
 */
#include "cli_daemon.h"
#include "../dag/dag.h"
#include "../runner/runner.h"

#define SHOW_USAGE "sked show JOB [-c FILE]"

static const char *body_text(const sk_body_t *b, char *buf, size_t size)
{
    switch (b->kind) {
    case SK_BODY_PYTHON:
        sk_snprintf(buf, size, "python %s", b->target ? b->target : "");
        break;
    case SK_BODY_MODULE:
        sk_snprintf(buf, size, "python -m %s", b->target ? b->target : "");
        break;
    case SK_BODY_SHELL:
        sk_snprintf(buf, size, "sh -c '%s'", b->target ? b->target : "");
        break;
    case SK_BODY_RUN:
    default: {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; b->run_argv && b->run_argv[i] && len < size; i++)
            len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", i ? " " : "", b->run_argv[i]);
        break;
    }
    }
    char *shown = sk_url_mask(buf); /* never the password of a URL in it */
    sk_strlcpy(buf, shown, size);
    free(shown);
    return buf;
}

int sk_cmd_show(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    if (sk_cli_parse("show", SHOW_USAGE, argc, argv, opts, 1, pos, 1, &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "sked: show: missing the job name\nusage: %s\n", SHOW_USAGE);
        return SK_EXIT_USAGE;
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    const sk_job_cfg_t *job = sk_cli_job(cfg, "show", pos[0]);
    if (!job) {
        rc = SK_EXIT_USER;
        goto out;
    }
    char trig[512], text[1024];
    sk_job_trigger_text(job, trig, sizeof(trig));
    printf("%s: %s (%s)\n", job->name, trig, sk_tz_name(job->tz));
    for (size_t i = 0; i < job->nparams; i++)
        printf("  param %s = %s\n", job->params[i].key, job->params[i].value);
    for (size_t i = 0; i < job->nafter; i++)
        printf("  after %s (when %s)\n", job->after[i], sk_when_str(job->after_when));
    if (!job->nsteps) {
        printf("  runs: %s\n", body_text(&job->body, text, sizeof(text)));
        goto out;
    }
    size_t *layer = sk_xcalloc(job->nsteps, sizeof(size_t));
    size_t nl = sk_dag_layers(job, layer);
    printf("  workflow: %zu steps, at most %d at once\n\n", (size_t)job->nsteps,
           job->step_parallel);
    for (size_t l = 0; l < nl; l++) {
        /* One line of boxes per layer, then who each needs. */
        printf("  ");
        bool first = true;
        for (size_t i = 0; i < job->nsteps; i++) {
            if (layer[i] != l)
                continue;
            printf("%s[%s]", first ? "" : "   ", job->steps[i].name);
            first = false;
        }
        printf("\n");
        if (l + 1 < nl) {
            for (size_t i = 0; i < job->nsteps; i++) {
                if (layer[i] != l + 1)
                    continue;
                printf("     |  %s <- ", job->steps[i].name);
                for (size_t k = 0; k < job->steps[i].nneeds; k++)
                    printf("%s%s", k ? ", " : "", job->steps[job->steps[i].needs[k]].name);
                if (job->steps[i].when != SK_WHEN_SUCCESS)
                    printf("  (when %s)", sk_when_str(job->steps[i].when));
                printf("\n");
            }
            printf("     v\n");
        }
    }
    /* Every edge, including those that skip layers. */
    printf("\n  steps:\n");
    for (size_t i = 0; i < job->nsteps; i++) {
        const sk_step_cfg_t *s = &job->steps[i];
        printf("    %-20s %s", s->name, body_text(&s->body, text, sizeof(text)));
        if (s->nneeds) {
            printf("  needs ");
            for (size_t k = 0; k < s->nneeds; k++)
                printf("%s%s", k ? ", " : "", job->steps[s->needs[k]].name);
        }
        if (s->when != SK_WHEN_SUCCESS)
            printf("  when %s", sk_when_str(s->when));
        printf("\n");
    }
    free(layer);
out:
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
