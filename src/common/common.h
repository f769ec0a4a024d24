/*
 * The base every sked module builds on: error codes and the located error
 * record (sk_err_t), allocation that aborts on failure, small string helpers
 * and durations. Nothing here touches libuv or global state.
 */
#ifndef SK_COMMON_H
#define SK_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SK_VERSION "0.1.0"

#define SK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SK_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define SK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SK_NORETURN __attribute__((noreturn))
#else
#define SK_PRINTF(f, a)
#define SK_NORETURN
#endif

/* Programmer errors only; user input never reaches an assertion. */
#define SK_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            sk_panic("%s:%d: assertion failed: %s", __FILE__, __LINE__, #cond);                    \
    } while (0)

/*
 * sked's own error codes, negative like -errno and below its range. The
 * X-macro keeps each code and its text in one place.
 */
#define SK_ERRORS(X)                                                                               \
    X(SK_EPARSE, -10001, "syntax error")                                                           \
    X(SK_ERANGE, -10002, "value out of range")                                                     \
    X(SK_ENEVER, -10003, "never fires")                                                            \
    X(SK_ENOZONE, -10004, "unknown time zone")                                                     \
    X(SK_EBADZONE, -10005, "malformed time zone data")                                             \
    X(SK_ECONFIG, -10006, "invalid configuration")                                                 \
    X(SK_ENOTFOUND, -10007, "not found")                                                           \
    X(SK_ESTORE, -10008, "store error")                                                            \
    X(SK_EBUSY, -10009, "busy")

enum {
#define SK_X(name, value, text) name = value,
    SK_ERRORS(SK_X)
#undef SK_X
};

/* The text for 0, a -errno or an SK_E* code. Never NULL. */
const char *sk_strerror(int code);

/*
 * A located, user-facing error. Modules fill it; the edges (cli, daemon,
 * http) print it. `file` is borrowed and must outlive the record; `line` and
 * `col` are 1-based, 0 when unknown; `path` is the YAML key path, if any.
 */
typedef struct sk_err {
    int code;
    const char *file;
    int line;
    int col;
    char path[256];
    char msg[512];
} sk_err_t;

/* Clears *err (err may be NULL). */
void sk_err_clear(sk_err_t *err);
/* Sets code and message; keeps the place. Returns code so callers can
 * `return sk_err_set(err, SK_EPARSE, "...")`. err may be NULL. */
int sk_err_set(sk_err_t *err, int code, const char *fmt, ...) SK_PRINTF(3, 4);
int sk_err_vset(sk_err_t *err, int code, const char *fmt, va_list ap);
/* Sets the column (1-based) at which the error was found. */
void sk_err_at(sk_err_t *err, int col);

/* Prints a message and aborts: for allocation failure and broken invariants. */
SK_NORETURN void sk_panic(const char *fmt, ...) SK_PRINTF(1, 2);

/* Allocation that never returns NULL (aborts with a message instead). */
void *sk_xmalloc(size_t n);
void *sk_xcalloc(size_t n, size_t size);
void *sk_xrealloc(void *p, size_t n);
char *sk_xstrdup(const char *s);
char *sk_xstrndup(const char *s, size_t n);

/* Bounded formatting into buf: always NUL-terminates when size > 0. Returns
 * the length that would have been written (like snprintf). */
int sk_snprintf(char *buf, size_t size, const char *fmt, ...) SK_PRINTF(3, 4);
/* Copies at most size-1 bytes of src and NUL-terminates. Returns strlen(src). */
size_t sk_strlcpy(char *dst, const char *src, size_t size);
bool sk_streq(const char *a, const char *b);
/* ASCII case-insensitive comparison of the first n bytes. */
bool sk_strncaseeq(const char *a, const char *b, size_t n);

/*
 * The proleptic Gregorian calendar on day counts since 1970-01-01 and on
 * seconds since the epoch, with no zone involved (src/common/civil.c). Time
 * zones build on these (src/tz/).
 */
/* Broken-down civil time. month 1-12, day 1-31, wday 0-6 (Sunday = 0). */
typedef struct sk_civil {
    int64_t year;
    int month, day, hour, min, sec;
    int wday;
} sk_civil_t;

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t sk_civil_days_from_date(int64_t year, int month, int day);
void sk_civil_date_from_days(int64_t days, int64_t *ret_year, int *ret_month, int *ret_day);
bool sk_civil_is_leap(int64_t year);
int sk_civil_days_in_month(int64_t year, int month);
/* Weekday (0 = Sunday) of a day count from sk_civil_days_from_date. */
int sk_civil_weekday(int64_t days);
/* Seconds <-> broken-down time, no zone involved. */
void sk_civil_from_seconds(int64_t secs, sk_civil_t *ret);
int64_t sk_civil_to_seconds(const sk_civil_t *c);

/* A growable buffer, always NUL-terminated once written (buf.c). Zero it to
 * start; free(data) or sk_buf_take when done. */
typedef struct sk_buf {
    char *data;
    size_t len, cap;
} sk_buf_t;

/* Room for `more` bytes and the NUL after them without another realloc. */
void sk_buf_reserve(sk_buf_t *b, size_t more);
/* Appends n bytes of s (n may be 0: the buffer then exists, holding ""). */
void sk_buf_add(sk_buf_t *b, const char *s, size_t n);
void sk_buf_adds(sk_buf_t *b, const char *s);
void sk_buf_printf(sk_buf_t *b, const char *fmt, ...) SK_PRINTF(2, 3);
/* s as a JSON string ("..." with escapes; invalid UTF-8 becomes U+FFFD), or
 * null for NULL. */
void sk_buf_json_str(sk_buf_t *b, const char *s);
/* The text (new memory, "" when empty) and its length; b is zeroed. */
char *sk_buf_take(sk_buf_t *b, size_t *len);

/*
 * The length (1-4) of the well-formed UTF-8 sequence that starts at s, given
 * n > 0 readable bytes, or 0 when the bytes there are not one (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF, no truncation).
 */
size_t sk_utf8_seq(const char *s, size_t n);

/*
 * Durations, in milliseconds: "500ms", "90s", "10m", "1h30m", "2d", "1w".
 * Units: ms s m h d w; parts must go from larger to smaller units, each unit
 * once. Whitespace around the text is allowed, inside it is not.
 * Errors (SK_EPARSE, SK_ERANGE) say which character is wrong and set its
 * column. *ret_ms is not written on failure.
 */
int sk_duration_parse(const char *text, int64_t *ret_ms, sk_err_t *err);
/* Formats ms as the shortest duration text ("1h30m", "500ms", "0s"). */
void sk_duration_format(int64_t ms, char *buf, size_t size);

/*
 * Words and string vectors (words.c): NULL-terminated char ** and key/value
 * arrays, as the configuration builds them and the runner passes them to a
 * child. They often hold secrets, so freeing wipes them.
 */
typedef struct sk_kv {
    char *key;
    char *value;
} sk_kv_t;

/* Splits a command string into words like sh would (quotes, backslashes),
 * without expansion. Errors on unbalanced quotes. New memory. */
int sk_split_words(const char *text, char ***ret, sk_err_t *err);
/* Frees v's strings and v; NULL is a no-op. The strings are wiped first:
 * an envp holds secrets. */
void sk_strv_free(char **v);
/* Frees kv[0..n)'s keys and values (values wiped) and the array; kv may be NULL. */
void sk_kv_free(sk_kv_t *kv, size_t n);
size_t sk_strv_len(char *const *v);

/* A secret shorter than this cannot be masked: hiding every "123" of a log
 * would shred it. The configuration refuses such secrets; the runner's mask
 * (src/runner/runner_mask.c) ignores them. */
#define SK_SECRET_MIN 4

/* Overwrites n bytes at p with zeros in a way the compiler keeps, before
 * memory that held a secret is freed (p may be NULL). Any thread. */
void sk_secret_wipe(void *p, size_t n);

/* A helper command (capture.c): a short program run to completion on the
 * calling thread, not a run (runs go through src/exec/). */
typedef struct sk_helper {
    char *const *argv; /* argv[0]: a path, or a name looked up on PATH */
    char *const *envp; /* NULL: this process's environment */
    const char *cwd;   /* NULL: ours */
    const char *input; /* written to its stdin, then closed; NULL: stdin is /dev/null */
    size_t input_len;
    int keep_fd;        /* the stream kept: 1 (stdout) or 2 (stderr); the other goes to
                         * /dev/null */
    size_t keep_max;    /* bytes of it kept */
    bool keep_whole;    /* more than keep_max is an error (-EFBIG); else the rest is
                         * read and dropped */
    int64_t timeout_ms; /* for all of it: writing, reading, waiting */
} sk_helper_t;

typedef enum sk_helper_end {
    SK_HELPER_EXITED,    /* code: its exit status */
    SK_HELPER_SIGNALED,  /* code: the signal */
    SK_HELPER_TIMED_OUT, /* its group was killed at the deadline */
    SK_HELPER_LOST,      /* its exit status was taken by someone else */
} sk_helper_end_t;

typedef struct sk_helper_result {
    sk_helper_end_t end;
    int code;
    char *out; /* what it wrote on keep_fd: new memory, NUL-terminated (it may
                * hold a secret: wipe it before freeing) */
    size_t out_len;
} sk_helper_result_t;

/*
 * Runs h->argv in its own process group with default signal dispositions,
 * feeds it h->input, keeps what it writes on h->keep_fd, and waits for it
 * until h->timeout_ms; past that, SIGKILL to its group. Returns 0 when it
 * ran (res says how it ended; free res->out), or < 0 when it could not
 * start (-ENOENT, -EACCES... for a program missing or not runnable; err
 * names argv[0]) or printed too much (-EFBIG; killed). The child is reaped
 * here. Blocks the calling thread up to timeout_ms. Any thread.
 */
int sk_helper_run(const sk_helper_t *h, sk_helper_result_t *res, sk_err_t *err);

/* The signals a child of sked must start with at their default action
 * (posix_spawnattr_setsigdefault): those the daemon ignores (SIGPIPE) or
 * handles. Handled ones are reset by exec anyway; listing them keeps the
 * set right if that ever changes. Pure; any thread. */
void sk_child_signal_defaults(sigset_t *set);

/*
 * Runs argv (argv[0] searched on PATH) to completion in cwd (NULL: ours)
 * with this process's own environment, stdin from /dev/null, stderr
 * discarded and in its own process group, and captures its stdout
 * (capture.c; for the commands of `secrets:`). Returns 0 with what it
 * printed in *ret (new memory, NUL-terminated, length in *ret_len; it may
 * hold a secret: wipe it before freeing) when it exits with status 0 within
 * timeout_ms having printed at most max bytes. Otherwise kills its group and
 * returns an error whose message names argv[0] and what happened (exit
 * status, signal, timeout, too much output), never what it printed. Blocks
 * the calling thread for up to timeout_ms. Any thread.
 */
int sk_capture_output(char *const *argv, const char *cwd, int64_t timeout_ms, size_t max,
                      char **ret, size_t *ret_len, sk_err_t *err);

/*
 * FNV-1a (Fowler, Noll, Vo), 64 and 32 bits, over n bytes of p, continuing
 * from h (start with SK_FNV64_INIT / SK_FNV32_INIT; feeding data in pieces
 * gives the hash of the whole). For hash tables and stable spreading (H in
 * cron, jitter, a job's digest), never for security. Pure; any thread.
 * Values are part of what sked stores and shows (digests, H minutes): the
 * function must not change.
 */
#define SK_FNV64_INIT 0xcbf29ce484222325ULL
#define SK_FNV32_INIT 2166136261u
uint64_t sk_fnv64(uint64_t h, const void *p, size_t n);
uint32_t sk_fnv32(uint32_t h, const void *p, size_t n);

/* The value of hex digit c (either case), or -1. Pure. */
int sk_hex_digit(char c);

/*
 * What is Linux- or POSIX-specific, in one place (platform.c), so that a
 * port touches this file and its callers keep their logic.
 */
/* mkdir -p: makes dir and each missing parent with mode (an existing folder
 * is fine, and keeps its mode). Returns 0, or -errno of the first step that
 * failed (-ENOTDIR when dir or a parent exists and is not a folder). Any
 * thread. */
int sk_mkdir_p(const char *dir, mode_t mode);
/*
 * Reads /proc/PID/NAME ("environ", "cmdline": NUL-separated) into buf, at
 * most size-1 bytes, NUL-terminated. Returns the bytes read (> 0), or
 * -errno (-ENOENT also where there is no /proc). Any thread.
 */
ssize_t sk_procfs_read(int pid, const char *name, char *buf, size_t size);
/* Whether process pid runs the same executable file as this process
 * (/proc/PID/exe); false when either is unknown. Any thread. */
bool sk_procfs_same_exe(int pid);
/* Calls cb for each process in /proc (every pid but 1 and our own).
 * Returns how many calls returned true, or 0 where there is no /proc. Any
 * thread. */
int sk_procfs_each_pid(bool (*cb)(int pid, void *data), void *data);

/* Last, after every system header that declares a banned name. Modules
 * include common.h before anything else of theirs. */
#include "banned.h"

#endif
