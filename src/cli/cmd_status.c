/* `sked status [--json] [-c FILE]`: is the daemon up, what runs, what is next. */
#include "cli_daemon.h"

#define STATUS_USAGE "sked status [--json] [-c FILE]"

/* Several nodes on one PostgreSQL store: one line per node of the store,
 *   nodes:
 *     a  leader   alive       1/4 running  labels: gpu (this node)
 *     b  standby  silent 42s  0/4 running  labels: none */
static void print_nodes(const json_t *nodes)
{
    int width = 4;
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        const char *name = json_string_value(json_object_get(n, "name"));
        int len = name ? (int)strlen(name) : 0;
        if (len > width)
            width = SK_MIN(len, 64);
    }
    printf("nodes:\n");
    json_array_foreach(nodes, i, n)
    {
        const char *name = json_string_value(json_object_get(n, "name"));
        char state[48], labels[512] = "";
        if (json_is_true(json_object_get(n, "alive")))
            sk_strlcpy(state, "alive", sizeof(state));
        else
            sk_snprintf(state, sizeof(state), "silent %" JSON_INTEGER_FORMAT "s",
                        json_integer_value(json_object_get(n, "age_ms")) / 1000);
        size_t k;
        json_t *l;
        json_array_foreach(json_object_get(n, "labels"), k, l)
        {
            size_t at = strlen(labels);
            sk_snprintf(labels + at, sizeof(labels) - at, "%s%s", k ? "," : "",
                        json_string_value(l) ? json_string_value(l) : "");
        }
        printf("  %-*s  %-7s  %-11s  %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
               " running  labels: %s%s\n",
               width, name ? name : "?",
               json_is_true(json_object_get(n, "leader")) ? "leader" : "standby", state,
               json_integer_value(json_object_get(n, "running")),
               json_integer_value(json_object_get(n, "max_parallel")), labels[0] ? labels : "none",
               json_is_true(json_object_get(n, "self")) ? " (this node)" : "");
    }
}

int sk_cmd_status(int argc, char **argv)
{
    const char *config = NULL, *json = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}, {"--json", 0, false, &json}};
    if (sk_cli_parse("status", STATUS_USAGE, argc, argv, opts, 2, pos, 0, &npos) < 0)
        return SK_EXIT_USAGE;
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    json_t *reply = NULL, *out = NULL, *nodes = NULL;
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto done;
    sk_err_t err;
    sk_err_clear(&err);
    long status = 0;
    int r = sk_cli_api(cfg->state_dir, "GET", "/api/v1/status", NULL, &status, &reply, &err);
    if (r == 0 && status == 200) {
        out = json_pack("{s:b, s:O, s:O, s:O, s:O}", "running", 1, "pid",
                        json_object_get(reply, "pid"), "jobs", json_object_get(reply, "jobs"),
                        "active_runs", json_object_get(reply, "active_runs"), "next_due",
                        json_object_get(reply, "next_due"));
        /* Several nodes share a PostgreSQL store: who they are. */
        const char *store = json_string_value(json_object_get(reply, "store"));
        long nst = 0;
        sk_err_t nerr;
        sk_err_clear(&nerr);
        if (store && strcmp(store, "postgres") == 0 &&
            sk_cli_api(cfg->state_dir, "GET", "/api/v1/nodes", NULL, &nst, &nodes, &nerr) == 0 &&
            nst == 200 && json_array_size(json_object_get(nodes, "nodes")) > 0)
            json_object_set(out, "nodes", json_object_get(nodes, "nodes"));
        else {
            json_decref(nodes);
            nodes = NULL;
        }
        if (!json) {
            const char *nd = json_string_value(json_object_get(reply, "next_due"));
            const char *nj = json_string_value(json_object_get(reply, "next_job"));
            printf("sked is running (pid %" JSON_INTEGER_FORMAT ") with state folder %s\n",
                   json_integer_value(json_object_get(reply, "pid")), cfg->state_dir);
            printf("jobs: %" JSON_INTEGER_FORMAT ", running: %" JSON_INTEGER_FORMAT
                   ", waiting: %" JSON_INTEGER_FORMAT "\n",
                   json_integer_value(json_object_get(reply, "jobs")),
                   json_integer_value(json_object_get(reply, "active_runs")),
                   json_integer_value(json_object_get(reply, "waiting_runs")));
            printf("next due: %s%s%s\n", nd ? nd : "nothing scheduled", nj ? " " : "",
                   nj ? nj : "");
            if (json_is_false(json_object_get(reply, "leading")))
                printf("this node is a standby: another node leads the store (docs/ha.md)\n");
            if (nodes)
                print_nodes(json_object_get(nodes, "nodes"));
        }
    } else {
        out = json_pack("{s:b, s:n, s:i, s:i, s:n}", "running", 0, "pid", "jobs",
                        (json_int_t)cfg->njobs, "active_runs", 0, "next_due");
        if (!json)
            printf("sked is not running (state folder %s); %zu jobs configured\n", cfg->state_dir,
                   cfg->njobs);
    }
    if (json) {
        char *text = json_dumps(out, JSON_INDENT(2));
        puts(text);
        free(text);
    }
done:
    json_decref(out);
    json_decref(nodes);
    json_decref(reply);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
