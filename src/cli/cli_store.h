/*
 * Where a command reads runs and job state (DESIGN 1): from the store,
 * under the store's shared lock, when no daemon owns it; else through the
 * daemon that owns it (its control socket). The commands print the same
 * either way.
 */
#ifndef SK_CLI_STORE_H
#define SK_CLI_STORE_H

#include "cli_daemon.h"

#include <signal.h>

typedef struct sk_cli_src {
    const sk_config_t *cfg; /* borrowed */
    sk_tz_cache_t *tzc;     /* borrowed */
    const char *cmd;        /* "history": for messages */
    sk_store_t *st;         /* read directly; NULL when there is no store yet */
    sk_store_lock_t *lock;  /* held while reading directly */
    bool daemon;            /* through the daemon's API */
} sk_cli_src_t;

/* Decides where cmd reads from and opens it: a SQLite store whose lock is
 * free is read directly under a shared lock (so that no daemon starts
 * beneath the reader); one that a daemon owns is read through it, waiting
 * up to 10 s for a daemon that is starting or stopping. A PostgreSQL store
 * is read through the local daemon when one answers, else directly. With
 * write (`sked exec`), a store read directly is opened for writing (and
 * created when missing). Returns 0, or an exit status after printing why
 * not. */
int sk_cli_src_open(sk_cli_src_t *s, const sk_config_t *cfg, sk_tz_cache_t *tzc, const char *cmd,
                    bool write);
/* Closes the store and releases the lock; s may be zeroed. */
void sk_cli_src_close(sk_cli_src_t *s);

/* One page of top-level runs, newest first, and each one's steps (oldest
 * first) when asked for. */
typedef struct sk_cli_page {
    sk_run_t *runs;
    size_t n;
    sk_run_t **steps; /* [n]: the steps of runs[i] */
    size_t *nsteps;
} sk_cli_page_t;

typedef enum {
    SK_CLI_TOP,    /* top-level runs only (plain jobs and workflow runs) */
    SK_CLI_NESTED, /* top-level runs, each with its steps in ret->steps */
    SK_CLI_FLAT,   /* every row, steps too, newest first */
} sk_cli_rows_t;

/* Runs of job (NULL: all) with ids below before (0: the newest), at most
 * limit (the daemon gives 1,000 at a time: page). Returns 0 or an exit
 * status after printing the error. *ret is the caller's
 * (sk_cli_page_release). */
int sk_cli_src_page(sk_cli_src_t *s, const char *job, int64_t before, size_t limit,
                    sk_cli_rows_t rows, sk_cli_page_t *ret);
void sk_cli_page_release(sk_cli_page_t *p);

/* The run id: 0, SK_ENOTFOUND (nothing printed), or an exit status after
 * printing. Through the daemon, a run with a log has log_path "" (the
 * daemon serves it: GET /api/v1/runs/ID/log). */
int sk_cli_src_run_get(sk_cli_src_t *s, int64_t id, sk_run_t *ret);

/* Through the daemon only: GET /api/v1/jobs?recent=1, and GET
 * /api/v1/jobs/NAME?next=COUNT (new references), or NULL after printing. */
json_t *sk_cli_src_jobs(sk_cli_src_t *s);
json_t *sk_cli_src_job(sk_cli_src_t *s, const char *name, long count);

/* Through the daemon: prints run's log from its start (GET
 * /api/v1/runs/ID/log, in ranges); with follow, goes on until the run has
 * ended, and when *stop turns nonzero (a signal handler's flag; stop may be
 * NULL) asks the daemon once to cancel it. *ret_final, when not NULL, gets
 * the run as it ended (sk_run_release). Returns 0 or an exit status after
 * printing. */
int sk_cli_src_follow(sk_cli_src_t *s, const sk_run_t *run, bool follow,
                      volatile sig_atomic_t *stop, sk_run_t *ret_final);

/* An API run object as a run (new strings; sk_run_release). SK_EPARSE when
 * it lacks id, job, status or trigger. */
int sk_cli_run_from_json(json_t *o, sk_run_t *ret);
/* Unix ms of an API instant (ISO 8601 with milliseconds); 0 for null. */
int64_t sk_cli_instant(json_t *v);

#endif
