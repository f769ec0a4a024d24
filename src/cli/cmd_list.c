/* `sked list [--json] [-c FILE]`: jobs, their triggers, next run, last outcome. */
#include "cli_store.h"
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
    sk_cli_src_t src;
    memset(&src, 0, sizeof(src));
    json_t *arr = json_array(), *jobs = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc || (rc = sk_cli_src_open(&src, cfg, tzc, "list", false)) != 0)
        goto out;
    if (src.daemon && !(jobs = sk_cli_src_jobs(&src))) {
        rc = SK_EXIT_USER;
        goto out;
    }
    sk_store_t *st = src.st;
    int64_t now = sk_now_ms();
    if (!json)
        printf("%-24s %-24s %-26s %s\n", "JOB", "TRIGGER", "NEXT", "LAST");
    /* Through the daemon: the jobs it schedules, as it sees them; else the
     * file's, with what the store says. */
    json_t *items = json_object_get(jobs, "jobs");
    size_t count = jobs ? json_array_size(items) : cfg->njobs;
    for (size_t i = 0; i < count; i++) {
        const char *name, *trig_s, *ls = NULL;
        char trig[512], iso[64];
        const sk_tz_t *tz = cfg->tz;
        int64_t next = 0;
        bool paused, enabled;
        sk_run_t last;
        bool has_last = false;
        if (jobs) {
            json_t *o = json_array_get(items, i);
            name = json_string_value(json_object_get(o, "name"));
            trig_s = json_string_value(json_object_get(o, "trigger"));
            const char *zone = json_string_value(json_object_get(o, "timezone"));
            if (!name || !trig_s || (zone && sk_tz_cache_get(tzc, zone, &tz, NULL) < 0))
                continue;
            next = sk_cli_instant(json_object_get(o, "next"));
            paused = json_is_true(json_object_get(o, "paused"));
            enabled = !json_is_false(json_object_get(o, "enabled"));
            json_t *recent = json_object_get(o, "recent");
            ls = json_string_value(json_object_get(json_array_get(recent, 0), "status"));
            sk_strlcpy(trig, trig_s, sizeof(trig));
        } else {
            const sk_job_cfg_t *job = &cfg->jobs[i];
            sk_job_state_t js = {.last_outcome = -1};
            if (st) {
                st->ops->job_state_get(st, job->name, &js, NULL);
                has_last = st->ops->run_last(st, job->name, &last, NULL) == 0;
            }
            int64_t anchor = sk_sched_anchor(job, js.last_fire, now);
            if (!job->enabled || js.paused || sk_sched_next(job, anchor, now, &next) < 0)
                next = 0;
            name = job->name;
            tz = job->tz;
            paused = js.paused;
            enabled = job->enabled;
            sk_job_trigger_text(job, trig, sizeof(trig));
            ls = has_last ? sk_run_status_str(last.status) : NULL;
        }
        sk_cli_iso(tz, next, iso, sizeof(iso));
        if (json) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:o, s:o, s:b}", "name", name, "trigger", trig, "next",
                               next ? json_string(iso) : json_null(), "last_status",
                               ls ? json_string(ls) : json_null(), "paused", paused));
        } else {
            printf("%-24s %-24s %-26s %s\n", name, trig,
                   !enabled ? "(disabled)"
                   : paused ? "(paused)"
                            : iso,
                   ls ? ls : "-");
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
    json_decref(jobs);
    sk_cli_src_close(&src);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
