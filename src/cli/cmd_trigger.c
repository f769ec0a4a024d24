/* `sked trigger JOB [-c FILE]`: asks the running daemon to run a job now. */
#include "cli_daemon.h"

#define TRIGGER_USAGE "sked trigger JOB [-p KEY=VALUE]... [-c FILE]"
#define MAX_PARAMS 100

int sk_cmd_trigger(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    /* -p KEY=VALUE may repeat: take those out before the common parser. */
    char **rest = sk_xcalloc((size_t)argc + 1, sizeof(char *));
    const char *params[MAX_PARAMS];
    size_t nparams = 0;
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "-p") == 0 || strcmp(a, "--param") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sked: trigger: missing KEY=VALUE after %s\nusage: %s\n", a,
                        TRIGGER_USAGE);
                free(rest);
                return SK_EXIT_USAGE;
            }
            v = argv[++i];
        } else if (strncmp(a, "--param=", 8) == 0) {
            v = a + 8;
        } else if (strncmp(a, "-p", 2) == 0 && a[2]) {
            v = a + 2;
        } else {
            rest[nrest++] = argv[i];
            continue;
        }
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || nparams == MAX_PARAMS) {
            fprintf(stderr, "sked: trigger: %s \"%s\": expected KEY=VALUE\nusage: %s\n",
                    nparams == MAX_PARAMS ? "too many parameters at" : "parameter", v,
                    TRIGGER_USAGE);
            free(rest);
            return SK_EXIT_USAGE;
        }
        params[nparams++] = v;
    }
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    int pr = sk_cli_parse("trigger", TRIGGER_USAGE, nrest, rest, opts, 1, pos, 1, &npos);
    free(rest);
    if (pr < 0)
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
    if (!sk_cli_job(cfg, "trigger", pos[0])) {
        rc = SK_EXIT_USER;
        goto out;
    }
    json_t *req = json_object();
    if (nparams) {
        json_t *p = json_object();
        for (size_t i = 0; i < nparams; i++) {
            const char *eq = strchr(params[i], '=');
            char key[128];
            sk_snprintf(key, sizeof(key), "%.*s", (int)(eq - params[i]), params[i]);
            json_object_set_new(p, key, json_string(eq + 1));
        }
        json_object_set_new(req, "params", p);
    }
    char hint[512];
    sk_snprintf(hint, sizeof(hint),
                "start it with `sked run`, or run the job here with `sked exec %s`", pos[0]);
    char path[512];
    sk_snprintf(path, sizeof(path), "/api/v1/jobs/%s/trigger", pos[0]);
    reply = sk_cli_api_call(cfg, "trigger", "POST", path, req, hint);
    if (!reply) {
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
