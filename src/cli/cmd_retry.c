/* `sked retry RUN_ID [-c FILE]`: runs a finished run again through the daemon;
 * a workflow run restarts from its failed steps, keeping those that succeeded. */
#include "cli_daemon.h"

#define RETRY_USAGE "sked retry RUN_ID [-c FILE]"

int sk_cmd_retry(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    if (sk_cli_parse("retry", RETRY_USAGE, argc, argv, opts, 1, pos, 1, &npos) < 0)
        return SK_EXIT_USAGE;
    char *end = NULL;
    long long id = npos == 1 ? strtoll(pos[0], &end, 10) : 0;
    if (npos != 1 || !end || *end || id < 1) {
        fprintf(stderr, "sked: retry: %s\nusage: %s\n",
                npos != 1 ? "missing the run number" : "the run number must be a positive integer",
                RETRY_USAGE);
        return SK_EXIT_USAGE;
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    json_t *reply = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    json_t *req = json_pack("{s:s, s:I}", "cmd", "retry", "run_id", (json_int_t)id);
    reply = sk_cli_ctl_call(cfg, "retry", req, "start it with `sked run`");
    if (!reply) {
        rc = SK_EXIT_USER;
        goto out;
    }
    printf("retrying run %lld: run %" JSON_INTEGER_FORMAT "\n", id,
           json_integer_value(json_object_get(reply, "run_id")));
out:
    json_decref(reply);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
