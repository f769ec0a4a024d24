/* `sked trigger JOB [-c FILE]`: asks the running daemon to run a job now. */
#include "cli_daemon.h"

#define TRIGGER_USAGE "sked trigger JOB [-c FILE]"

int sk_cmd_trigger(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    if (sk_cli_parse("trigger", TRIGGER_USAGE, argc, argv, opts, 1, pos, 1, &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "sked: trigger: missing the job name\nusage: %s\n", TRIGGER_USAGE);
        return SK_EXIT_USAGE;
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    json_t *reply = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    if (!sk_config_job(cfg, pos[0])) {
        sk_cli_error("trigger: no job named \"%s\" in %s", pos[0], cfg->path);
        rc = SK_EXIT_USER;
        goto out;
    }
    sk_err_t err;
    sk_err_clear(&err);
    json_t *req = json_pack("{s:s, s:s}", "cmd", "trigger", "job", pos[0]);
    int r = sk_cli_ctl(cfg->state_dir, req, &reply, &err);
    json_decref(req);
    if (r < 0) {
        sk_cli_error("trigger: %s; start it with `sked run`, or run the job here with "
                     "`sked exec %s`",
                     err.msg, pos[0]);
        rc = SK_EXIT_USER;
        goto out;
    }
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *m = json_string_value(json_object_get(reply, "error"));
        sk_cli_error("trigger: %s", m ? m : "the daemon refused");
        rc = SK_EXIT_USER;
        goto out;
    }
    printf("triggered %s: run %" JSON_INTEGER_FORMAT "\n", pos[0],
           json_integer_value(json_object_get(reply, "run_id")));
out:
    json_decref(reply);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
