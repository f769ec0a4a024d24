/*
 * The commands that ask the running daemon to act, through its API on the
 * control socket: `sked retry RUN_ID`, `sked cancel RUN_ID`,
 * `sked pause JOB`, `sked resume JOB`, `sked reload`.
 */
#include "cli_daemon.h"

typedef enum { ARG_NONE, ARG_RUN, ARG_JOB } arg_kind_t;

typedef struct action {
    const char *cmd;
    const char *usage;
    arg_kind_t arg;
    const char *path; /* with %s for the argument */
} action_t;

static const action_t actions[] = {
    {"retry", "sked retry RUN_ID [-c FILE]", ARG_RUN, "/api/v1/runs/%s/retry"},
    {"cancel", "sked cancel RUN_ID [-c FILE]", ARG_RUN, "/api/v1/runs/%s/cancel"},
    {"pause", "sked pause JOB [-c FILE]", ARG_JOB, "/api/v1/jobs/%s/pause"},
    {"resume", "sked resume JOB [-c FILE]", ARG_JOB, "/api/v1/jobs/%s/resume"},
    {"reload", "sked reload [-c FILE]", ARG_NONE, "/api/v1/reload%s"},
};

static int act(const action_t *a, int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    size_t want = a->arg == ARG_NONE ? 0 : 1;
    if (sk_cli_parse(a->cmd, a->usage, argc, argv, opts, 1, pos, want, &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != want) {
        fprintf(stderr, "sked: %s: missing the %s\nusage: %s\n", a->cmd,
                a->arg == ARG_RUN ? "run number" : "job name", a->usage);
        return SK_EXIT_USAGE;
    }
    if (a->arg == ARG_RUN) {
        char *end = NULL;
        long long id = strtoll(pos[0], &end, 10);
        if (!end || *end || id < 1) {
            fprintf(stderr, "sked: %s: the run number must be a positive integer\nusage: %s\n",
                    a->cmd, a->usage);
            return SK_EXIT_USAGE;
        }
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    json_t *reply = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    if (a->arg == ARG_JOB && !sk_cli_job(cfg, a->cmd, pos[0])) {
        rc = SK_EXIT_USER;
        goto out;
    }
    char path[512];
    sk_snprintf(path, sizeof(path), a->path, want ? pos[0] : "");
    reply = sk_cli_api_call(cfg, a->cmd, "POST", path, NULL, "start it with `sked run`");
    if (!reply) {
        rc = SK_EXIT_USER;
        goto out;
    }
    if (strcmp(a->cmd, "retry") == 0)
        printf("retrying run %s: run %" JSON_INTEGER_FORMAT "\n", pos[0],
               json_integer_value(json_object_get(reply, "run_id")));
    else if (strcmp(a->cmd, "cancel") == 0)
        printf("cancelling run %s\n", pos[0]);
    else if (a->arg == ARG_JOB)
        printf("%s %s\n", json_is_true(json_object_get(reply, "paused")) ? "paused" : "resumed",
               pos[0]);
    else
        printf("reloaded %s: %" JSON_INTEGER_FORMAT " jobs\n", cfg->path,
               json_integer_value(json_object_get(reply, "jobs")));
out:
    json_decref(reply);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}

static int act_named(const char *cmd, int argc, char **argv)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(actions); i++)
        if (strcmp(actions[i].cmd, cmd) == 0)
            return act(&actions[i], argc, argv);
    return SK_EXIT_USAGE;
}

int sk_cmd_retry(int argc, char **argv)
{
    return act_named("retry", argc, argv);
}

int sk_cmd_cancel(int argc, char **argv)
{
    return act_named("cancel", argc, argv);
}

int sk_cmd_pause(int argc, char **argv)
{
    return act_named("pause", argc, argv);
}

int sk_cmd_resume(int argc, char **argv)
{
    return act_named("resume", argc, argv);
}

int sk_cmd_reload(int argc, char **argv)
{
    return act_named("reload", argc, argv);
}
