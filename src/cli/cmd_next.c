/* `sked next JOB [-n N] [-c FILE]`: a job's next fire instants, in its zone. */
#include "cli_daemon.h"
#include "../sched/sched.h"

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
    sk_store_t *st = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    const sk_job_cfg_t *job = sk_cli_job(cfg, "next", pos[0]);
    if (!job) {
        rc = SK_EXIT_USER;
        goto out;
    }
    int64_t now = sk_now_ms(), anchor = now, t = now;
    if ((rc = sk_cli_open_store(cfg, &st)) != 0)
        goto out;
    if (st) {
        sk_job_state_t js;
        if (st->ops->job_state_get(st, job->name, &js, NULL) == 0 && js.last_fire) {
            if (job->trigger == SK_TRIGGER_EVERY)
                anchor = js.last_fire;
        }
    }
    if (!job->enabled)
        fprintf(stderr, "sked: next: %s is disabled (enabled: false); these instants apply once "
                        "it is enabled\n",
                job->name);
    if (job->trigger == SK_TRIGGER_NONE) {
        printf("%s runs only when triggered%s\n", job->name, job->reboot ? " and at start-up" : "");
        goto out;
    }
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
    sk_store_close(st);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
