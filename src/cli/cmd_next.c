/* `sked next JOB [-n N] [-c FILE]`: a job's next fire instants, in its zone. */
#include "cli_store.h"
#include "../sched/sched.h"
#include <ctype.h>

#define NEXT_USAGE "sked next JOB [-n N] [-c FILE]"

int sk_cmd_next(int argc, char **argv)
{
    const char *config = NULL, *count_s = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}, {"--count", 'n', true, &count_s}};
    if (sk_cli_parse("next", NEXT_USAGE, argc, argv, opts, 2, pos, 1, &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "sked: next: missing the job name\nusage: %s\n", NEXT_USAGE);
        return SK_EXIT_USAGE;
    }
    long count = 5;
    if (count_s) {
        char *end;
        count = strtol(count_s, &end, 10);
        if (*end || end == count_s || count < 1 || count > 100000) {
            fprintf(stderr, "sked: next: -n must be a number from 1 to 100000\nusage: %s\n",
                    NEXT_USAGE);
            return SK_EXIT_USAGE;
        }
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    sk_cli_src_t src;
    memset(&src, 0, sizeof(src));
    json_t *reply = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    const sk_job_cfg_t *job = sk_cli_job(cfg, "next", pos[0]);
    if (!job) {
        rc = SK_EXIT_USER;
        goto out;
    }
    if ((rc = sk_cli_src_open(&src, cfg, tzc, "next", false)) != 0)
        goto out;
    if (!job->enabled)
        fprintf(stderr,
                "sked: next: %s is disabled (enabled: false); these instants apply once "
                "it is enabled\n",
                job->name);
    if (job->trigger == SK_TRIGGER_NONE || (job->trigger == SK_TRIGGER_CRON && job->ncron == 0)) {
        char why[256] = "";
        if (job->on || job->reboot) {
            sk_job_trigger_explain(job, why, sizeof(why));
            why[0] = (char)tolower((unsigned char)why[0]);
        }
        if (why[0])
            printf("%s runs %s, and when triggered\n", job->name, why);
        else
            printf("%s runs only when triggered\n", job->name);
        goto out;
    }
    if (src.daemon) {
        /* The daemon knows where the job's interval counts from. */
        if (!(reply = sk_cli_src_job(&src, job->name, count))) {
            rc = SK_EXIT_USER;
            goto out;
        }
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(reply, "next_instants"), i, v)
        {
            char iso[64];
            sk_cli_iso(job->tz, sk_cli_instant(v), iso, sizeof(iso));
            puts(iso);
        }
        goto out;
    }
    int64_t now = sk_now_ms(), t = now;
    sk_job_state_t js = {.last_outcome = -1}; /* left as is if the store fails */
    if (src.st)
        src.st->ops->job_state_get(src.st, job->name, &js, NULL);
    /* Where the daemon would count an interval from, by the same rule. */
    int64_t anchor = sk_sched_anchor(job, js.last_fire, now);
    for (long i = 0; i < count; i++) {
        int64_t next;
        if (sk_sched_next(job, anchor, t, &next) < 0)
            break;
        char iso[64];
        sk_cli_iso(job->tz, next, iso, sizeof(iso));
        puts(iso);
        t = next;
    }
out:
    json_decref(reply);
    sk_cli_src_close(&src);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
