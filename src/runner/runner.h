/*
 * The runner: turns a job body (python/module/run/shell + args, venv, cwd,
 * env) into an argv and a minimal environment, starts it in its own process
 * group on a libuv loop, streams its stdout and stderr line-stamped into one
 * log file (capped, never held whole in memory), enforces the timeout
 * (SIGTERM to the group, SIGKILL after kill_grace) and reports the outcome
 * once, after the process has exited and its output is fully written.
 *
 * Loop thread only. Depends on common, config's sk_body_t (what a job runs,
 * as sked.yaml says it), tz's civil-time arithmetic (UTC stamps) and libuv,
 * nothing else of sked. See docs/internals/runner.md.
 */
#ifndef SK_RUNNER_H
#define SK_RUNNER_H

#include "../config/config.h"

#include <uv.h>

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
    const char *state_dir; /* SKED_STATE_DIR: whose run it is, or NULL */
} sk_run_info_t;

/*
 * The child's environment: PATH, HOME, LANG (from the daemon's environment or
 * sane defaults), TZ, PYTHONUNBUFFERED=1, the body's env, then SKED_JOB,
 * SKED_RUN_ID, SKED_ATTEMPT, SKED_SCHEDULED_AT (ISO-8601 UTC), SKED_STEP for
 * a step, SKED_STATE_DIR, then info->extra. New memory.
 */
char **sk_runner_env(const sk_body_t *body, const sk_run_info_t *info);

/* ---- secrets: masked by value in everything a run writes (runner_mask.c) ---- */

/* Longer secrets are masked as pieces of at most this many bytes, so that
 * a stream holds back at most this much while it waits for the rest. */
#define SK_MASK_PATTERN_MAX 4096

/*
 * A set of values to mask. Any thread may use a mask it owns; once built it
 * is only read, so streams on several threads may share it.
 */
typedef struct sk_mask sk_mask_t;

sk_mask_t *sk_mask_new(void);
/* Copies are wiped; NULL is a no-op. */
void sk_mask_free(sk_mask_t *m);
/*
 * Masks value (len bytes, copied) wherever it appears, if it has at least
 * SK_SECRET_MIN bytes; a value of several lines also masks each of its
 * lines that has. A value longer than SK_MASK_PATTERN_MAX is masked as
 * consecutive pieces (printed whole, it is masked whole).
 */
void sk_mask_add(sk_mask_t *m, const char *value, size_t len);
/*
 * Masks the password of every URL in text ("scheme://user:PASSWORD@host"),
 * as written and percent-decoded: wherever it appears when it has at least
 * SK_SECRET_MIN bytes, else only where it follows "user:" and precedes '@'.
 */
void sk_mask_add_urls(sk_mask_t *m, const char *text);
/* True when m is NULL or masks nothing. */
bool sk_mask_empty(const sk_mask_t *m);
/* text with every masked value replaced by "***": new memory. */
char *sk_mask_string(const sk_mask_t *m, const char *text);
/* text with the password of every URL in it replaced by "***" (for showing
 * a value that is not a secret: "postgres://app:***@db/x"). New memory. */
char *sk_url_mask(const char *text);

/*
 * The filter for output that arrives in pieces: bytes fed in come out
 * through out (in order, in pieces of any size) with each run of masked
 * bytes written once as "***", also when a secret is split across feeds.
 * Bytes that may be the beginning of a secret are held back until the next
 * feed decides (at most the longest pattern less one byte), so the stream's
 * memory is bounded whatever the input. out is never called with len 0.
 */
typedef struct sk_mask_stream sk_mask_stream_t;
typedef void (*sk_mask_out_cb)(void *data, const char *text, size_t len);

/* m is borrowed: it must outlive the stream. */
sk_mask_stream_t *sk_mask_stream_new(const sk_mask_t *m);
void sk_mask_stream_feed(sk_mask_stream_t *s, const char *d, size_t n, sk_mask_out_cb out,
                         void *data);
/* The input ended: what is held is decided and written out. The stream may
 * be fed again. */
void sk_mask_stream_end(sk_mask_stream_t *s, sk_mask_out_cb out, void *data);
/* Drops (and wipes) what is held without writing it. Not from inside out. */
void sk_mask_stream_drop(sk_mask_stream_t *s);
/* Wipes what it held; NULL is a no-op. */
void sk_mask_stream_free(sk_mask_stream_t *s);

typedef struct sk_proc sk_proc_t;

typedef struct sk_spawn {
    char *const *argv; /* borrowed for the call */
    char *const *envp; /* borrowed for the call; NULL: the daemon's own */
    const char *cwd;
    const char *log_path;  /* created (0600, parents made 0700) at the first line, or appended
                            * to; NULL: none */
    int64_t max_output;    /* bytes of output kept; then a marker, rest discarded; <= 0: no cap */
    int64_t timeout_ms;    /* 0: none */
    int64_t kill_grace_ms; /* SIGTERM -> SIGKILL delay */
    char *const *masked;   /* NULL-terminated values masked in the log (a body's masked),
                            * borrowed for the call; NULL: none. The passwords of URLs in
                            * argv and envp are masked too, always */
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
    /* Wall clock, unix ms: instants to record and show. When the wall clock
     * was set while the process ran (by more than 2 s), ended_ms is
     * started_ms + duration_ms instead of the wall clock at the end: the
     * two instants always bracket the real duration. */
    int64_t started_ms, ended_ms;
    int64_t duration_ms;  /* how long it ran, on a clock the wall clock being set
                           * does not move (Linux: CLOCK_BOOTTIME, which counts
                           * a suspend; else CLOCK_MONOTONIC) */
    int64_t output_bytes; /* bytes the child wrote */
    bool truncated;       /* output beyond max_output was dropped */
    char reason[256];     /* for spawn failures and log write errors */
} sk_proc_result_t;

/* Called once per started process, after exit and the last output byte. The
 * sk_proc_t is freed after the callback returns. */
typedef void (*sk_proc_cb)(sk_proc_t *p, const sk_proc_result_t *res, void *data);

/*
 * Starts spec on loop. On success *ret is the running process and cb will be
 * called exactly once. On spawn failure (missing program, not executable,
 * bad cwd, no pipe) returns the error with a clear message and cb is never
 * called (handles it had opened are closed when the loop next runs). The log
 * file is made at the first line: one that cannot be made costs the output,
 * not the run (res.reason says so).
 * Everything the child writes passes through the run's mask (spec->masked
 * and the passwords of URLs in argv and envp) before it reaches the log;
 * so does the error message. spec and its strings are borrowed for the
 * call only. Loop thread only.
 */
int sk_proc_start(uv_loop_t *loop, const sk_spawn_t *spec, sk_proc_cb cb, void *data,
                  sk_proc_t **ret, sk_err_t *err);
/* The process's pid (also its process group id). */
int sk_proc_pid(const sk_proc_t *p);
/* Stops the run: SIGTERM to the group, SIGKILL after kill_grace. The end
 * is reported as SK_PROC_KILLED. Idempotent. */
void sk_proc_stop(sk_proc_t *p);

#endif
