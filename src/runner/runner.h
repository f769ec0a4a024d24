/*
 * The runner: turns a job body (python/module/run/shell + args, venv, cwd,
 * env) into an argv and a minimal environment, starts it in its own process
 * group on a libuv loop, streams its stdout and stderr line-stamped into one
 * log file (capped, never held whole in memory), enforces the timeout
 * (SIGTERM to the group, SIGKILL after kill_grace) and reports the outcome
 * once, after the process has exited and its output is fully written.
 *
 * Loop thread only. Depends on common, tz's civil-time arithmetic (UTC
 * stamps) and libuv, nothing else of sked. See docs/internals/runner.md.
 */
#ifndef SK_RUNNER_H
#define SK_RUNNER_H

#include "../common/common.h"

#include <uv.h>

typedef enum sk_body_kind {
    SK_BODY_PYTHON, /* python: script.py  -> PY script.py args... */
    SK_BODY_MODULE, /* module: pkg.mod    -> PY -m pkg.mod args... */
    SK_BODY_RUN,    /* run: [argv...] or "words" -> argv, no shell */
    SK_BODY_SHELL,  /* shell: "text"      -> /bin/sh -c text */
} sk_body_kind_t;

typedef struct sk_kv {
    char *key;
    char *value;
} sk_kv_t;

/*
 * What a job (or, later, a workflow step) runs. All strings are owned by the
 * struct's owner (the configuration snapshot); the runner borrows them.
 */
typedef struct sk_body {
    sk_body_kind_t kind;
    char *target;      /* python: script path; module: module name; shell: the text */
    char **run_argv;   /* run: NULL-terminated argv (a string is split like a shell would) */
    char **args;       /* NULL-terminated extra arguments (python, module, run) */
    char *venv;        /* NULL: look for .venv/venv beside the script and up to config_dir */
    char *cwd;         /* NULL: config_dir */
    sk_kv_t *env;      /* the job's env: plus env_file's values, already merged */
    size_t nenv;
    char *config_dir;  /* absolute folder of sked.yaml: relative paths start here */
} sk_body_t;

/*
 * Resolves the interpreter for a python/module body (DESIGN section 5):
 * VENV/bin/python if venv is set (relative to config_dir); else a .venv or
 * venv folder beside the script or in a parent up to config_dir; else
 * "python3" looked up on PATH. Returns new memory in *ret.
 */
int sk_runner_python(const sk_body_t *body, char **ret, sk_err_t *err);

/* Builds the NULL-terminated argv for body; returns new memory (free with
 * sk_strv_free). Errors: missing script, bad venv, empty run. */
int sk_runner_argv(const sk_body_t *body, char ***ret, sk_err_t *err);

/* The folder the body runs in: cwd made absolute against config_dir, or
 * config_dir itself. New memory. */
char *sk_runner_cwd(const sk_body_t *body);

/* Per-run facts exported to the child as SKED_* variables. */
typedef struct sk_run_info {
    const char *job;
    int64_t run_id;
    int attempt;
    int64_t scheduled_at; /* unix seconds; 0 when not scheduled */
    const char *tz_name;  /* the job's zone, exported as TZ */
    const char *step;     /* a workflow step's name (SKED_STEP), or NULL */
    const sk_kv_t *extra; /* set last (SKED_OUTPUT, SKED_OUT_*, SKED_PARAM_*), or NULL */
    size_t nextra;
} sk_run_info_t;

/*
 * The child's environment: PATH, HOME, LANG (from the daemon's environment or
 * sane defaults), TZ, PYTHONUNBUFFERED=1, the body's env, then SKED_JOB,
 * SKED_RUN_ID, SKED_ATTEMPT, SKED_SCHEDULED_AT (ISO-8601 UTC), SKED_STEP for
 * a step, then info->extra. New memory.
 */
char **sk_runner_env(const sk_body_t *body, const sk_run_info_t *info);

/* Splits a command string into words like sh would (quotes, backslashes),
 * without expansion. Errors on unbalanced quotes. New memory. */
int sk_split_words(const char *text, char ***ret, sk_err_t *err);
void sk_strv_free(char **v);
/* Frees kv[0..n)'s keys and values and the array; kv may be NULL. */
void sk_kv_free(sk_kv_t *kv, size_t n);
size_t sk_strv_len(char *const *v);

typedef struct sk_proc sk_proc_t;

typedef struct sk_spawn {
    char *const *argv;  /* borrowed for the call */
    char *const *envp;  /* borrowed for the call; NULL: the daemon's own */
    const char *cwd;
    const char *log_path;  /* created (0600, parents made 0700) or appended to; NULL: none */
    int64_t max_output;    /* bytes of output kept; then a marker, rest discarded; <= 0: no cap */
    int64_t timeout_ms;    /* 0: none */
    int64_t kill_grace_ms; /* SIGTERM -> SIGKILL delay */
} sk_spawn_t;

typedef enum sk_proc_end {
    SK_PROC_EXITED,    /* normal exit: see exit_code */
    SK_PROC_SIGNALED,  /* killed by a signal it did not get from us */
    SK_PROC_TIMED_OUT, /* we stopped it: timeout */
    SK_PROC_KILLED,    /* we stopped it: sk_proc_stop */
    SK_PROC_SPAWN_FAILED,
} sk_proc_end_t;

typedef struct sk_proc_result {
    sk_proc_end_t end;
    int exit_code; /* -1 unless exited */
    int signal;    /* 0 unless killed by a signal */
    int64_t started_ms, ended_ms; /* wall clock, unix ms */
    int64_t output_bytes;         /* bytes the child wrote */
    bool truncated;               /* output beyond max_output was dropped */
    char reason[256];             /* for spawn failures and log write errors */
} sk_proc_result_t;

/* Called once per started process, after exit and the last output byte. The
 * sk_proc_t is freed after the callback returns. */
typedef void (*sk_proc_cb)(sk_proc_t *p, const sk_proc_result_t *res, void *data);

/*
 * Starts spec on loop. On success *ret is the running process and cb will be
 * called exactly once. On spawn failure (missing program, not executable,
 * bad cwd, log file unwritable) returns the error with a clear message and cb
 * is never called (handles it had opened are closed when the loop next runs).
 * spec and its strings are borrowed for the call only. Loop thread only.
 */
int sk_proc_start(uv_loop_t *loop, const sk_spawn_t *spec, sk_proc_cb cb, void *data,
                  sk_proc_t **ret, sk_err_t *err);
/* The process's pid (also its process group id). */
int sk_proc_pid(const sk_proc_t *p);
/* Stops the run: SIGTERM to the group, SIGKILL after kill_grace. The end
 * is reported as SK_PROC_KILLED. Idempotent. */
void sk_proc_stop(sk_proc_t *p);

#endif
