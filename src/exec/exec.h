/*
 * The executor: one way to turn a run of a job (or of one of its workflow
 * steps) into a process and its end into a run status. The daemon, a
 * cluster node's worker and `sked exec` all start and finish processes
 * through these functions, so that what a run executes (argv, parameters,
 * environment, folder, limits, log file) and how its end is read (status
 * and reason) cannot differ between them.
 *
 * Above config, dag and runner; below daemon and cli. No store, no state:
 * the caller records what it returns.
 */
#ifndef SK_EXEC_H
#define SK_EXEC_H

#include "../config/config.h"
#include "../runner/runner.h"
#include "../store/store.h"

#include <uv.h>

/* A run to start: its identity and its definition, all borrowed for the
 * call. */
typedef struct sk_exec_spec {
    const sk_job_cfg_t *cfg;   /* the job */
    const sk_step_cfg_t *step; /* the workflow step it runs, or NULL */
    int64_t run_id;
    int attempt;
    int64_t scheduled_at;  /* unix ms; SKED_SCHEDULED_AT */
    const sk_kv_t *params; /* ${{ params.NAME }} values, or NULL */
    size_t nparams;
    const sk_kv_t *extra; /* environment set last (SKED_OUTPUT, ...), or NULL */
    size_t nextra;
    const char *state_dir; /* the log goes to STATE_DIR/logs/JOB/RUN_ID.log */
} sk_exec_spec_t;

/* Writes run_id's log path (STATE_DIR/logs/JOB/RUN_ID.log) to buf: where
 * the run's output goes once it prints its first line (the daemon records
 * the path with the run's start, before the process exists). */
void sk_exec_log_path(const char *state_dir, const char *job, int64_t run_id, char *buf,
                      size_t size);

/*
 * Starts spec's run on loop: the body's argv with ${{ params.NAME }}
 * replaced (quoted for sh in a shell: body), its environment, its folder
 * and the limits of the step (or job). On success *ret is the process, cb
 * will be called exactly once with its end, and *log_path (new memory, the
 * caller frees it) names its log. On failure (a script or venv missing, a
 * program that cannot start) returns < 0 with
 * err saying what, cb is never called, and *log_path is still set (the run
 * may be recorded as failed with it). Loop thread only.
 */
int sk_exec_start(uv_loop_t *loop, const sk_exec_spec_t *spec, sk_proc_cb cb, void *data,
                  char **log_path, sk_proc_t **ret, sk_err_t *err);

/* Why a run's process was stopped by sked (sk_proc_stop or a kill), which
 * decides what its end means. */
typedef enum sk_exec_stop {
    SK_STOP_NONE,     /* not stopped by sked: it ended, or timed out */
    SK_STOP_CANCEL,   /* the API (or the leader) cancelled it: killed */
    SK_STOP_REPLACE,  /* overlap: replace started a newer run: killed */
    SK_STOP_USER,     /* `sked exec` got Ctrl-C / SIGTERM: killed */
    SK_STOP_SHUTDOWN, /* sked stopped while it ran: interrupted */
    SK_STOP_FENCE,    /* its node lost the store for too long: interrupted */
    SK_STOP_GONE,     /* its run ended elsewhere meanwhile: nothing to record */
} sk_exec_stop_t;

/*
 * The run status of a process's end, and in *reason why (static text, or
 * res->reason or why: borrowed from them; NULL when the status says it
 * all). why, for SK_STOP_CANCEL only, is the reason the canceller gave (NULL:
 * "cancelled"). The same mapping for every caller:
 *   exited 0 -> succeeded; exited non-zero -> failed; timed out ->
 *   timed_out; a signal sked did not send -> killed; could not start ->
 *   failed; stopped by sked -> as stop says (killed or interrupted).
 */
sk_run_status_t sk_exec_status(const sk_proc_result_t *res, sk_exec_stop_t stop, const char *why,
                               const char **reason);

/* Fills *res as the end of a run that could not start, now (wall clock),
 * with reason (copied, cut to fit). */
void sk_exec_failed(sk_proc_result_t *res, const char *reason);

/*
 * Whether process pid belongs to run run_id of the sked whose state folder
 * is state_dir: its environment holds SKED_RUN_ID and SKED_STATE_DIR with
 * those values (run ids alone repeat across stores, so another sked's run
 * never matches). False when /proc cannot tell. Any thread.
 */
bool sk_exec_is_run_process(int pid, const char *state_dir, int64_t run_id);

/* SIGKILL to every process of that run (and each group one of them leads),
 * found by sk_exec_is_run_process: a run that outlived its daemon before
 * its pid was recorded. Returns how many. Any thread. */
int sk_exec_kill_run_processes(const char *state_dir, int64_t run_id);

#endif
