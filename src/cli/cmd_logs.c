/*
 * `sked logs JOB [--run ID] [-f] [-c FILE]`: prints a run's output log (the
 * newest run's by default); -f follows it while the run is still going.
 *
 * Several nodes (PostgreSQL): a run's log is a file on the disk of the node
 * that ran it (its row's `node`). A log that is not in this state_dir's
 * logs/ and belongs to a node other than the local daemon's is fetched
 * through the local daemon's API (GET /api/v1/runs/ID/log), which passes the
 * request on to that node. That is never followed: the daemon says where.
 */
/* realpath(3) */
#define _XOPEN_SOURCE 700

#include "cli_store.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>

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

/* Whether path lies inside state_dir/logs, as the daemon serves logs. */
static bool in_state_dir(const char *state_dir, const char *path)
{
    char want[PATH_MAX + 8], logs[PATH_MAX], real[PATH_MAX];
    sk_snprintf(want, sizeof(want), "%s/logs", state_dir);
    size_t w = strlen(want);
    if (!realpath(path, real)) {
        /* No file: the run printed nothing (its log is made at its first
         * line). The path sked recorded names the folder it meant. */
        return errno == ENOENT && strncmp(path, want, w) == 0 && path[w] == '/' &&
               !strstr(path + w, "/../");
    }
    if (!realpath(want, logs))
        return false;
    size_t n = strlen(logs);
    return strncmp(real, logs, n) == 0 && real[n] == '/';
}

enum { LOG_HERE, LOG_ELSEWHERE, LOG_NO_DAEMON };

/* Where run's log is to be read: LOG_HERE (the file, as always), LOG_ELSEWHERE
 * (another node's: through the local daemon), LOG_NO_DAEMON (another node's
 * maybe, and no daemon here to ask). */
static int log_place(const sk_config_t *cfg, const sk_run_t *run)
{
    /* A SQLite store has one node: every log in it is this one's. */
    if (!run->node || !run->node[0] || strncmp(cfg->store_url, "postgres", 8) != 0 ||
        in_state_dir(cfg->state_dir, run->log_path))
        return LOG_HERE;
    json_t *reply = NULL;
    long status = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_cli_api(cfg->state_dir, "GET", "/api/v1/status", NULL, &status, &reply, &err) < 0)
        return LOG_NO_DAEMON;
    const char *mine = json_string_value(json_object_get(reply, "node"));
    /* The local daemon's own run, with its file elsewhere (state_dir moved). */
    int place = status == 200 && mine && strcmp(mine, run->node) == 0 ? LOG_HERE : LOG_ELSEWHERE;
    json_decref(reply);
    return place;
}

/* Prints the log of run (another node's) as the local daemon gives it: the
 * same bytes as the file. With follow, a run still going is refused: the
 * daemon's answer says on which node (and at which URL) to follow it. */
static int print_elsewhere(const sk_config_t *cfg, const sk_run_t *run, bool follow)
{
    char path[128];
    bool stream = follow && !sk_run_status_final(run->status);
    sk_snprintf(path, sizeof(path), "/api/v1/runs/%" PRId64 "/log%s", run->id,
                stream ? "?follow=1" : "");
    long status = 0;
    char *body = NULL;
    size_t len = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_cli_api_get_raw(cfg->state_dir, path, &status, &body, &len, &err) < 0) {
        if (err.code == -ENOENT || err.code == -ECONNREFUSED)
            sk_cli_error("logs: the log of run %" PRId64 " is on node %s; start the daemon "
                         "here or run `sked logs` on %s",
                         run->id, run->node, run->node);
        else
            sk_cli_error("logs: %s", err.msg);
        return SK_EXIT_USER;
    }
    int rc = SK_EXIT_OK;
    if (status == 200 && !stream) {
        fwrite(body, 1, len, stdout);
        fflush(stdout);
    } else {
        json_error_t jerr;
        json_t *o = json_loadb(body, len, 0, &jerr);
        const char *m = json_string_value(json_object_get(o, "error"));
        if (m)
            sk_cli_error("logs: %s", m);
        else
            sk_cli_error("logs: the log of run %" PRId64 " is on node %s; the daemon answered "
                         "HTTP %ld",
                         run->id, run->node, status);
        json_decref(o);
        rc = SK_EXIT_USER;
    }
    free(body);
    return rc;
}

/* The run to show: run_id, or the job's newest run that has (or will
 * have) output. 0 with *ret filled, or an exit status (said). */
static int find_run(sk_cli_src_t *src, const char *job, int64_t run_id, sk_run_t *ret)
{
    bool have = false;
    int rc = 0;
    if (run_id) {
        int r = sk_cli_src_run_get(src, run_id, ret);
        if (r != 0 && r != SK_ENOTFOUND)
            return r;
        have = r == 0;
        if (have && strcmp(ret->job, job) != 0) {
            sk_cli_error("logs: run %" PRId64 " belongs to job \"%s\", not \"%s\"", run_id,
                         ret->job, job);
            sk_run_release(ret);
            return SK_EXIT_USER;
        }
    } else {
        /* A step's run counts too. */
        sk_cli_page_t page;
        if ((rc = sk_cli_src_page(src, job, 0, 50, SK_CLI_FLAT, &page)) != 0)
            return rc;
        for (size_t i = 0; i < page.n && !have; i++) {
            if (page.runs[i].log_path) {
                *ret = page.runs[i];
                memset(&page.runs[i], 0, sizeof(page.runs[i]));
                have = true;
            }
        }
        sk_cli_page_release(&page);
    }
    if (!have) {
        if (run_id)
            sk_cli_error("logs: no run %" PRId64, run_id);
        else
            sk_cli_error("logs: job \"%s\" has no run with output yet", job);
        return SK_EXIT_USER;
    }
    if (!ret->log_path) {
        sk_cli_error("logs: run %" PRId64 " has no output (%s)", ret->id,
                     sk_run_status_str(ret->status));
        sk_run_release(ret);
        return SK_EXIT_USER;
    }
    return 0;
}

/* Copies run's log file here; with follow, until the run ends (or no
 * daemon is left to end it). */
static int show_file(const sk_config_t *cfg, sk_cli_src_t *src, sk_run_t *run, bool follow)
{
    int fd = -1, rc = 0;
    off_t off = 0;
    unsigned polls = 0;
    int open_err = 0;
    for (;;) {
        if (fd < 0) {
            fd = open(run->log_path, O_RDONLY | O_CLOEXEC);
            open_err = fd < 0 ? errno : 0;
        }
        if (fd >= 0)
            copy_out(fd, &off);
        if (!follow || sk_run_status_final(run->status))
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
                             run->id);
                rc = SK_EXIT_USER;
                break;
            }
        }
        sk_run_t again;
        if (sk_cli_src_run_get(src, run->id, &again) == 0) {
            run->status = again.status;
            sk_run_release(&again);
        }
        if (sk_run_status_final(run->status) && fd >= 0)
            copy_out(fd, &off); /* the last lines written before the end */
        if (sk_run_status_final(run->status))
            break;
    }
    if (fd < 0 && !follow && open_err != ENOENT) {
        sk_cli_error("logs: cannot open %s: %s", run->log_path, strerror(open_err));
        rc = SK_EXIT_USER;
    } else if (off == 0 && rc == 0 && sk_run_status_final(run->status)) {
        /* A run makes its log at its first line: none, or an empty one,
         * means it printed nothing. Said, so that silence is not a puzzle. */
        sk_cli_error("logs: run %" PRId64 " printed nothing (%s)", run->id,
                     sk_run_status_str(run->status));
    }
    if (fd >= 0)
        close(fd);
    return rc;
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
    sk_cli_src_t src;
    sk_run_t run;
    bool have = false;
    memset(&src, 0, sizeof(src));
    memset(&run, 0, sizeof(run));
    int rc = sk_cli_load(config, tzc, &cfg);
    if (rc)
        goto out;
    if (!sk_cli_job(cfg, "logs", pos[0])) {
        rc = SK_EXIT_USER;
        goto out;
    }
    if ((rc = sk_cli_src_open(&src, cfg, tzc, "logs", false)) != 0)
        goto out;
    if ((rc = find_run(&src, pos[0], run_id, &run)) != 0)
        goto out;
    have = true;
    if (src.daemon) {
        /* The daemon that owns the store serves the log, another node's too. */
        rc = sk_cli_src_follow(&src, &run, follow != NULL, NULL, NULL);
        goto out;
    }
    int place = log_place(cfg, &run);
    if (place == LOG_ELSEWHERE || (place == LOG_NO_DAEMON && access(run.log_path, R_OK) != 0)) {
        /* Not here, or no daemon to say whose it is and no file to read. */
        rc = print_elsewhere(cfg, &run, follow != NULL);
        goto out;
    }
    rc = show_file(cfg, &src, &run, follow != NULL);
out:
    if (have)
        sk_run_release(&run);
    sk_cli_src_close(&src);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return rc;
}
