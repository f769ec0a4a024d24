/*
 * Helpers shared by the runner's source files and nothing else: venv
 * resolution (used by both argv and environment building) and the UTC
 * time stamps of SKED_SCHEDULED_AT and of run log lines.
 */
#ifndef SK_RUNNER_INT_H
#define SK_RUNNER_INT_H

#include "runner.h"

/* Room for "-292277026596-12-04T15:30:07.999Z" and its NUL. */
#define SK_RUNNER_STAMP_MAX 40

/*
 * The virtual environment body runs in: the explicit venv (any body kind;
 * relative to config_dir; VENV/bin/python must be an executable file), else
 * for python/module bodies a discovered .venv or venv folder, else none.
 * Returns 0 with *ret_dir new absolute folder or NULL when no venv applies;
 * on a bad explicit venv returns -ENOENT/-EACCES with a message naming the
 * interpreter's path and leaves *ret_dir alone.
 */
int sk_runner__venv(const sk_body_t *body, char **ret_dir, sk_err_t *err);

/* Formats unix milliseconds as ISO-8601 UTC: 2026-03-08T07:00:00Z, or with
 * milliseconds 2026-03-08T07:00:00.123Z. size >= SK_RUNNER_STAMP_MAX. */
void sk_runner__utc_stamp(int64_t ms, bool with_ms, char *buf, size_t size);

/* 0 if path is a regular file we may execute, else -errno (runner_python.c). */
int sk_runner__check_exec(const char *path);

#endif
