/*
 * `sked logs JOB [--run ID] [-f] [-c FILE]`: prints a run's output log (the
 * newest run's by default); -f follows it while the run is still going.
 */
#include "cli_daemon.h"

#include <fcntl.h>

#define LOGS_USAGE "sked logs JOB [--run ID] [-f] [-c FILE]"

/* Copies fd from *off to its end onto stdout. */
static void copy_out(int fd, off_t *off)
{
    char buf[65536];
    if (fd < 0)
        return;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), *off);
        if (n <= 0)
            break;
        fwrite(buf, 1, (size_t)n, stdout);
        *off += n;
    }
    fflush(stdout);
}

int sk_cmd_logs(int argc, char **argv)
{
    const char *config = NULL, *run_s = NULL, *follow = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config},
                           {"--run", 0, true, &run_s},
                           {"--follow", 'f', false, &follow}};
    if (sk_cli_parse("logs", LOGS_USAGE, argc, argv, opts, 3, pos, 1, &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "sked: logs: missing the job name\nusage: %s\n", LOGS_USAGE);
        return SK_EXIT_USAGE;
    }
    int64_t run_id = 0;
    if (run_s) {
        char *end;
        long long v = strtoll(run_s, &end, 10);
        if (*end || end == run_s || v < 1) {
            fprintf(stderr, "sked: logs: --run must be a run number\nusage: %s\n", LOGS_USAGE);
            return SK_EXIT_USAGE;
        }
        run_id = v;
    }
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    sk_store_t *st = NULL;
    sk_run_t run;
    bool have = false;
    int fd = -1;
    sk_err_t err;
    sk_err_clear(&err);
    memset(&run, 0, sizeof(run));
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc || (rc = sk_cli_open_store(cfg, &st)) != 0)
        goto out;
    if (!sk_cli_job(cfg, "logs", pos[0])) {
        rc = SK_EXIT_USER;
        goto out;
    }
    if (st && run_id) {
        have = st->ops->run_get(st, run_id, &run, &err) == 0;
        if (have && strcmp(run.job, pos[0]) != 0) {
            sk_cli_error("logs: run %" PRId64 " belongs to job \"%s\", not \"%s\"", run_id,
                         run.job, pos[0]);
            rc = SK_EXIT_USER;
            goto out;
        }
    } else if (st) {
        /* The newest run that has (or will have) output. */
        sk_run_filter_t f = {.job = pos[0], .limit = 50};
        sk_run_t *runs = NULL;
        size_t n = 0;
        if (st->ops->runs_query(st, &f, &runs, &n, &err) == 0) {
            for (size_t i = 0; i < n && !have; i++) {
                if (runs[i].log_path) {
                    run = runs[i];
                    memset(&runs[i], 0, sizeof(runs[i]));
                    have = true;
                }
            }
            sk_runs_free(runs, n);
        }
    }
    if (!have) {
        if (run_id)
            sk_cli_error("logs: no run %" PRId64, run_id);
        else
            sk_cli_error("logs: job \"%s\" has no run with output yet", pos[0]);
        rc = SK_EXIT_USER;
        goto out;
    }
    if (!run.log_path) {
        sk_cli_error("logs: run %" PRId64 " has no output (%s)", run.id,
                     sk_run_status_str(run.status));
        rc = SK_EXIT_USER;
        goto out;
    }
    off_t off = 0;
    unsigned polls = 0;
    for (;;) {
        if (fd < 0)
            fd = open(run.log_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            copy_out(fd, &off);
        if (!follow || sk_run_status_final(run.status))
            break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        /* Every 2 s: is there still a daemon to finish this run? */
        if (++polls % 10 == 0) {
            json_t *reply = NULL;
            long status = 0;
            sk_err_t cerr;
            sk_err_clear(&cerr);
            int up = sk_cli_api(cfg->state_dir, "GET", "/api/v1/health", NULL, &status, &reply,
                                &cerr) == 0;
            json_decref(reply);
            if (!up) {
                copy_out(fd >= 0 ? fd : -1, &off);
                sk_cli_error("logs: sked is not running; run %" PRId64
                             " will be marked interrupted when it starts again",
                             run.id);
                rc = SK_EXIT_USER;
                break;
            }
        }
        sk_run_t again;
        if (st->ops->run_get(st, run.id, &again, &err) == 0) {
            run.status = again.status;
            sk_run_release(&again);
        }
        if (sk_run_status_final(run.status) && fd >= 0)
            copy_out(fd, &off); /* the last lines written before the end */
        if (sk_run_status_final(run.status))
            break;
    }
    if (fd < 0 && !follow) {
        sk_cli_error("logs: cannot open %s: %s", run.log_path, strerror(errno));
        rc = SK_EXIT_USER;
    }
out:
    if (fd >= 0)
        close(fd);
    if (have)
        sk_run_release(&run);
    sk_store_close(st);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
