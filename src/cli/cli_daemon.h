/*
 * Helpers shared by the commands that read a configuration, its store or
 * talk to a running daemon, and those commands' entry points.
 */
#ifndef SK_CLI_DAEMON_H
#define SK_CLI_DAEMON_H

#include "cli.h"
#include "../common/log.h"
#include "../config/config.h"
#include "../store/store.h"

#include <jansson.h>

/* Loads the configuration named by -c (or $SKED_CONFIG, ./sked.yaml),
 * printing its errors. Returns 0 or an exit status. */
int sk_cli_load(const char *opt_config, sk_tz_cache_t *tzc, sk_config_t **ret);

/* Opens the store read-only; a store that does not exist yet is not an
 * error: *ret is NULL. Other failures print and return an exit status. */
int sk_cli_open_store(const sk_config_t *cfg, sk_store_t **ret);

/* Sends one request to the daemon of state_dir and returns its reply.
 * -ENOENT / -ECONNREFUSED when no daemon is running. */
int sk_cli_ctl(const char *state_dir, json_t *request, json_t **ret, sk_err_t *err);

/* The job called name, or NULL after printing "sked: CMD: no job named ...". */
const sk_job_cfg_t *sk_cli_job(const sk_config_t *cfg, const char *cmd, const char *name);

/* Sends request (taken) to the daemon and returns its successful reply (new
 * reference), or NULL after printing the error ("sked: CMD: ...; HINT"). */
json_t *sk_cli_ctl_call(const sk_config_t *cfg, const char *cmd, json_t *request,
                        const char *hint);

/* "2026-03-08T03:00:00-04:00" in zone tz for unix ms, or "-" for 0. */
void sk_cli_iso(const sk_tz_t *tz, int64_t ms, char *buf, size_t size);

/* The same with milliseconds: 2026-03-08T03:00:00.250-04:00 (history). */
void sk_cli_iso_ms(const sk_tz_t *tz, int64_t ms, char *buf, size_t size);

/* A job's trigger as written: the cron text, "every 6h", "at ISO", "manual". */
void sk_cli_trigger_text(const sk_job_cfg_t *job, char *buf, size_t size);

int sk_cmd_run(int argc, char **argv);
int sk_cmd_list(int argc, char **argv);
int sk_cmd_next(int argc, char **argv);
int sk_cmd_trigger(int argc, char **argv);
int sk_cmd_exec(int argc, char **argv);
int sk_cmd_history(int argc, char **argv);
int sk_cmd_logs(int argc, char **argv);
int sk_cmd_status(int argc, char **argv);
int sk_cmd_retry(int argc, char **argv);
int sk_cmd_show(int argc, char **argv);
int sk_cmd_alerts(int argc, char **argv);

#endif
