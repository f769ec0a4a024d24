/*
 * `sked alerts test JOB [-c FILE]`: sends a sample alert about JOB through
 * each channel its `alert:` configures, here and now (no daemon needed), and
 * says for each whether it arrived. Exit 1 if any channel failed.
 */
#include "cli_daemon.h"
#include "../alert/alert.h"

#define ALERTS_USAGE "sked alerts test JOB [-c FILE]"

typedef struct {
    const char *name;
    bool done, ok;
    char error[256];
} probe_t;

static void on_result(void *data, const sk_alert_result_t *res)
{
    probe_t *p = data;
    p->done = true;
    p->ok = res->ok;
    sk_strlcpy(p->error, res->error, sizeof(p->error));
}

int sk_cmd_alerts(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[2];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    if (sk_cli_parse("alerts", ALERTS_USAGE, argc, argv, opts, 1, pos, 2, &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != 2 || strcmp(pos[0], "test") != 0) {
        fprintf(stderr, "sked: alerts: %s\nusage: %s\n",
                npos == 0 || strcmp(pos[0], "test") != 0 ? "expected `test JOB`"
                                                         : "missing the job name",
                ALERTS_USAGE);
        return SK_EXIT_USAGE;
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    const sk_job_cfg_t *job = sk_cli_job(cfg, "alerts", pos[1]);
    if (!job) {
        rc = SK_EXIT_USER;
        goto out;
    }
    const sk_alert_cfg_t *a = job->alert;
    if (!a) {
        sk_cli_error("alerts: job \"%s\" has no alert: configured", job->name);
        rc = SK_EXIT_USER;
        goto out;
    }
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    int64_t now = sk_now_ms();
    sk_alert_event_t ev = {
        .job = job->name,
        .event = "failure",
        .status = "failed",
        .exit_code = 1,
        .attempt = 1,
        .max_attempts = 1 + job->retries,
        .scheduled_at = now,
        .started_at = now,
        .ended_at = now,
        .reason = "this is a test alert sent by `sked alerts test`",
        .output_tail = "(the last lines of the run's output appear here)\n",
        .hostname = host,
    };
    char *json = sk_alert_json(&ev), *slack = sk_alert_slack_json(&ev);
    probe_t probes[4] = {
        {"webhook", 0, 0, ""}, {"slack", 0, 0, ""}, {"email", 0, 0, ""}, {"command", 0, 0, ""}};
    bool on[4] = {a->webhook != NULL, a->slack != NULL, a->has_email, a->command != NULL};
    uv_loop_t loop;
    uv_loop_init(&loop);
    sk_alert_global_init();
    for (int c = 0; c < 4; c++) {
        if (!on[c])
            continue;
        if (sk_alert_deliver(&loop, a, (sk_alert_channel_t)c, c == SK_CHANNEL_SLACK ? slack : json,
                             20000, on_result, &probes[c]) < 0) {
            probes[c].done = true;
            sk_strlcpy(probes[c].error, "could not start the delivery", sizeof(probes[c].error));
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    sk_alert_global_cleanup();
    for (int c = 0; c < 4; c++) {
        if (!on[c])
            continue;
        if (probes[c].ok) {
            printf("%-8s delivered\n", probes[c].name);
        } else {
            printf("%-8s failed: %s\n", probes[c].name, probes[c].error);
            rc = SK_EXIT_USER;
        }
    }
    free(json);
    free(slack);
out:
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
