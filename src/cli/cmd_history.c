/* `sked history [JOB] [--json] [-n N] [-c FILE]`: past runs, newest first. */
#include "cli_store.h"

#define HISTORY_USAGE "sked history [JOB] [--json] [-n N] [-c FILE]"

static json_t *iso_or_null(const sk_tz_t *tz, int64_t ms)
{
    char iso[64];
    if (!ms)
        return json_null();
    sk_cli_iso_ms(tz, ms, iso, sizeof(iso));
    return json_string(iso);
}

/* One row: a JSON object appended to arr, or a table line (steps indented). */
static void emit(json_t *arr, const sk_tz_t *tz, const sk_run_t *r, bool json, int depth)
{
    if (json) {
        json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:i, s:s}", "id", (json_int_t)r->id, "job",
                              r->job, "step", r->step ? json_string(r->step) : json_null(),
                              "status", sk_run_status_str(r->status), "attempt", r->attempt,
                              "trigger", sk_trigger_str(r->trigger));
        json_object_set_new(o, "scheduled_at", iso_or_null(tz, r->scheduled_at));
        json_object_set_new(o, "queued_at", iso_or_null(tz, r->queued_at));
        json_object_set_new(o, "started_at", iso_or_null(tz, r->started_at));
        json_object_set_new(o, "ended_at", iso_or_null(tz, r->ended_at));
        json_object_set_new(o, "exit_code",
                            r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
        json_object_set_new(o, "signal", r->signal ? json_integer(r->signal) : json_null());
        json_object_set_new(o, "reason", r->reason ? json_string(r->reason) : json_null());
        json_object_set_new(o, "workflow_run",
                            r->parent_id ? json_integer(r->parent_id) : json_null());
        json_object_set_new(o, "node", r->node ? json_string(r->node) : json_null());
        json_object_set_new(o, "event", r->event ? json_string(r->event) : json_null());
        json_array_append_new(arr, o);
        return;
    }
    char sched[64], dur[32] = "-", exitb[32] = "-", name[96];
    sk_cli_iso(tz, r->scheduled_at, sched, sizeof(sched));
    if (r->started_at && r->ended_at >= r->started_at) /* not when the clock went back */
        sk_duration_format(r->ended_at - r->started_at, dur, sizeof(dur));
    if (r->exit_code >= 0)
        sk_snprintf(exitb, sizeof(exitb), "%d", r->exit_code);
    else if (r->signal)
        sk_snprintf(exitb, sizeof(exitb), "signal %d", r->signal);
    if (depth)
        sk_snprintf(name, sizeof(name), "  - %s", r->step ? r->step : "?");
    else
        sk_snprintf(name, sizeof(name), "%s", r->job);
    /* An event run says which event: "boot", "start". */
    char trig[32];
    sk_snprintf(trig, sizeof(trig), "%.*s", r->event ? (int)strcspn(r->event, ":") : 31,
                r->event ? r->event : sk_trigger_str(r->trigger));
    printf("%-8" PRId64 " %-24s %-11s %-3d %-9s %-26s %-9s %s%s%s\n", r->id, name,
           sk_run_status_str(r->status), r->attempt, trig, sched, dur, exitb, r->reason ? "  " : "",
           r->reason ? r->reason : "");
}

int sk_cmd_history(int argc, char **argv)
{
    const char *config = NULL, *json = NULL, *count_s = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config},
                           {"--json", 0, false, &json},
                           {"--count", 'n', true, &count_s}};
    if (sk_cli_parse("history", HISTORY_USAGE, argc, argv, opts, 3, pos, 1, &npos) < 0)
        return SK_EXIT_USAGE;
    long count = 50;
    if (count_s) {
        char *end;
        count = strtol(count_s, &end, 10);
        if (*end || end == count_s || count < 1 || count > 1000000) {
            fprintf(stderr, "sked: history: -n must be a number from 1 to 1000000\nusage: %s\n",
                    HISTORY_USAGE);
            return SK_EXIT_USAGE;
        }
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    sk_cli_src_t src;
    memset(&src, 0, sizeof(src));
    json_t *arr = json_array();
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    if (npos == 1 && !sk_cli_job(cfg, "history", pos[0])) {
        rc = SK_EXIT_USER;
        goto out;
    }
    if ((rc = sk_cli_src_open(&src, cfg, tzc, "history", false)) != 0)
        goto out;
    const sk_tz_t *tz = cfg->tz;
    if (!json)
        printf("%-8s %-24s %-11s %-3s %-9s %-26s %-9s %s\n", "RUN", "JOB", "STATUS", "TRY",
               "TRIGGER", "SCHEDULED", "DURATION", "EXIT");
    /* Page by run id: the store answers at most SK_STORE_QUERY_MAX rows at a
     * time, the daemon 1,000. */
    int64_t before = 0;
    for (size_t n = 0; n < (size_t)count;) {
        size_t want = (size_t)count - n;
        sk_cli_page_t page;
        if ((rc = sk_cli_src_page(&src, npos ? pos[0] : NULL, before, want, SK_CLI_NESTED,
                                  &page)) != 0)
            goto out;
        for (size_t i = 0; i < page.n; i++) {
            emit(arr, tz, &page.runs[i], json != NULL, 0);
            /* A workflow run's steps follow it, in the order they were
             * recorded. */
            for (size_t k = 0; k < page.nsteps[i]; k++)
                emit(arr, tz, &page.steps[i][k], json != NULL, 1);
        }
        n += page.n;
        before = page.n ? page.runs[page.n - 1].id : 0;
        size_t got = page.n;
        sk_cli_page_release(&page);
        if (!got || before <= 1)
            break;
    }
    if (json) {
        char *text = json_dumps(arr, JSON_INDENT(2));
        puts(text);
        free(text);
    }
out:
    json_decref(arr);
    sk_cli_src_close(&src);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
