/* `sked list [--json] [-c FILE]`: jobs, their triggers, next run, last outcome. */
#include "cli_daemon.h"
#include "../sched/sched.h"

#define LIST_USAGE "sked list [--json] [-c FILE]"

int sk_cmd_list(int argc, char **argv)
{
    const char *config = NULL, *json = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}, {"--json", 0, false, &json}};
    if (sk_cli_parse("list", LIST_USAGE, argc, argv, opts, 2, pos, 0, &npos) < 0)
        return SK_EXIT_USAGE;
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    sk_store_t *st = NULL;
    json_t *arr = json_array();
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc || (rc = sk_cli_open_store(cfg, &st)) != 0)
        goto out;
    int64_t now = sk_now_ms();
    if (!json)
        printf("%-24s %-24s %-26s %s\n", "JOB", "TRIGGER", "NEXT", "LAST");
    for (size_t i = 0; i < cfg->njobs; i++) {
        const sk_job_cfg_t *job = &cfg->jobs[i];
        sk_job_state_t js = {.last_outcome = -1};
        sk_run_t last;
        bool has_last = false;
        if (st) {
            st->ops->job_state_get(st, job->name, &js, NULL);
            has_last = st->ops->run_last(st, job->name, &last, NULL) == 0;
        }
        int64_t anchor = js.last_fire && job->trigger == SK_TRIGGER_EVERY ? js.last_fire : now;
        int64_t next = 0;
        if (!job->enabled || js.paused || sk_sched_next(job, anchor, now, &next) < 0)
            next = 0;
        char trig[512], iso[64];
        sk_job_trigger_text(job, trig, sizeof(trig));
        sk_cli_iso(job->tz, next, iso, sizeof(iso));
        const char *ls = has_last ? sk_run_status_str(last.status) : NULL;
        if (json) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:o, s:o, s:b}", "name", job->name, "trigger", trig,
                               "next", next ? json_string(iso) : json_null(), "last_status",
                               ls ? json_string(ls) : json_null(), "paused", js.paused));
        } else {
            printf("%-24s %-24s %-26s %s%s%s\n", job->name, trig,
                   !job->enabled ? "(disabled)" : js.paused ? "(paused)" : iso, ls ? ls : "-",
                   "", "");
        }
        if (has_last)
            sk_run_release(&last);
    }
    if (json) {
        char *text = json_dumps(arr, JSON_INDENT(2));
        puts(text);
        free(text);
    }
out:
    json_decref(arr);
    sk_store_close(st);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
