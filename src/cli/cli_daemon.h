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
 * printing its errors. Returns 0 or an exit status. The values of
 * secrets: are not read (no credential, no command): a command that runs
 * no job does not need them. */
int sk_cli_load(const char *opt_config, sk_tz_cache_t *tzc, sk_config_t **ret);
/* The same with the values of secrets: read, for a command that runs jobs. */
int sk_cli_load_secrets(const char *opt_config, sk_tz_cache_t *tzc, sk_config_t **ret);

/* Opens the store read-only; a store that does not exist yet is not an
 * error: *ret is NULL. Other failures print and return an exit status. */
int sk_cli_open_store(const sk_config_t *cfg, sk_store_t **ret);

/* Calls the API of the daemon of state_dir on its control socket (docs/api.md):
 * method and path ("/api/v1/status"), body (borrowed; NULL for none). Sets
 * the HTTP status and the reply's JSON (new reference). -ENOENT /
 * -ECONNREFUSED when no daemon is running. */
int sk_cli_api(const char *state_dir, const char *method, const char *path, json_t *body,
               long *ret_status, json_t **ret, sk_err_t *err);

/* GET path on the same API, for an answer that need not be JSON (a run's
 * log): sets the HTTP status and the body as it came (new, NUL-terminated,
 * *ret_len bytes without the NUL; at most 64 MiB). Errors as sk_cli_api's;
 * outputs are not written on failure. */
int sk_cli_api_get_raw(const char *state_dir, const char *path, long *ret_status, char **ret_body,
                       size_t *ret_len, sk_err_t *err);

/* The same from byte from on (a Range request: 206 with the bytes from
 * there, 416 when there are none yet); from < 0: the whole body. */
int sk_cli_api_get_from(const char *state_dir, const char *path, int64_t from, long *ret_status,
                        char **ret_body, size_t *ret_len, sk_err_t *err);

/* The job called name, or NULL after printing "sked: CMD: no job named ...". */
const sk_job_cfg_t *sk_cli_job(const sk_config_t *cfg, const char *cmd, const char *name);

/* Calls the API (body taken; may be NULL) and returns a successful (2xx)
 * reply (new reference), or NULL after printing the error: the daemon's
 * {"error"}, or "sked: CMD: no sked daemon is running ...; HINT". */
json_t *sk_cli_api_call(const sk_config_t *cfg, const char *cmd, const char *method,
                        const char *path, json_t *body, const char *hint);

/* "2026-03-08T03:00:00-04:00" in zone tz for unix ms, or "-" for 0. */
void sk_cli_iso(const sk_tz_t *tz, int64_t ms, char *buf, size_t size);

/* The same with milliseconds: 2026-03-08T03:00:00.250-04:00 (history). */
void sk_cli_iso_ms(const sk_tz_t *tz, int64_t ms, char *buf, size_t size);

int sk_cmd_run(int argc, char **argv);
int sk_cmd_list(int argc, char **argv);
int sk_cmd_next(int argc, char **argv);
int sk_cmd_trigger(int argc, char **argv);
int sk_cmd_exec(int argc, char **argv);
int sk_cmd_history(int argc, char **argv);
int sk_cmd_logs(int argc, char **argv);
int sk_cmd_status(int argc, char **argv);
int sk_cmd_retry(int argc, char **argv);
int sk_cmd_cancel(int argc, char **argv);
int sk_cmd_pause(int argc, char **argv);
int sk_cmd_resume(int argc, char **argv);
int sk_cmd_reload(int argc, char **argv);
int sk_cmd_show(int argc, char **argv);
int sk_cmd_alerts(int argc, char **argv);

#endif
