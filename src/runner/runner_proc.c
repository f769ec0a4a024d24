/*
 * One running child on the loop: spawned with posix_spawn in its own
 * session and process group (POSIX_SPAWN_SETSID), stdin from /dev/null, stdout and
 * stderr read from two pipes and written to the run's log file one stamped
 * line at a time, capped at max_output; a timeout sends SIGTERM to the group
 * and SIGKILL after kill_grace; when the child exits, what is left of its
 * group is killed. The outcome is reported exactly once, after the child has
 * exited, both pipes are done and the log is written, from the last handle's
 * close callback. Secrets are masked by value on the way in, before lines
 * are cut, so a secret split across reads or across a long line's pieces
 * is masked whole. Exports sk_proc_start, sk_proc_pid and sk_proc_stop.
 * See docs/internals/runner.md.
 */
#define _GNU_SOURCE 1 /* POSIX_SPAWN_SETSID, addchdir_np, pipe2, syscall */

#include "runner.h"
#include "runner_int.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A line longer than this is written as several log lines. */
#define SK_RUNNER_LINE_MAX (64 * 1024)
/* Bytes asked of the kernel per read. */
#define READ_SIZE (64 * 1024)
/* Formatted log lines are batched here and written once per read. */
#define WBUF_SIZE (2 * SK_RUNNER_LINE_MAX)
/* After the child exits, how long its pipes may stay open (held by a
 * process that left the group) before we stop waiting for their EOF. */
#define DRAIN_GRACE_MS 1000
/* At most this much is read from such a pipe on the way out. */
#define DRAIN_READ_MAX (1024 * 1024)
/* execvp's search path when the environment has no PATH. */
#define EXEC_DEFAULT_PATH "/bin:/usr/bin"
/* Without pidfds (Linux before 5.3, or SKED_TEST_NO_PIDFD set), how often
 * the child is asked whether it has exited. */
#define EXIT_POLL_MS 20

typedef struct stream {
    uv_pipe_t pipe; /* first: a handle pointer is a stream pointer */
    sk_proc_t *proc;
    const char *name; /* "out" or "err", as written in the log */
    char *line;       /* the partial line so far (SK_RUNNER_LINE_MAX bytes), masked */
    size_t len;
    sk_mask_stream_t *ms; /* masks the pipe's bytes before they are cut into lines; NULL when
                           * the run has no secrets */
    bool done;            /* EOF seen or given up on; the pipe is closing */
} stream_t;

struct sk_proc {
    uv_loop_t *loop;
    /* The child's exit is seen through exit_poll, readable when pidfd (a
     * descriptor of the child, Linux 5.3) is; without one, exit_timer asks
     * waitpid every EXIT_POLL_MS. One of the two is initialised. */
    uv_poll_t exit_poll;
    uv_timer_t exit_timer;
    int pidfd; /* -1 when exit_timer is used */
    stream_t out, err;
    uv_timer_t kill_timer;  /* the timeout, then the SIGKILL after the grace */
    uv_timer_t drain_timer; /* waiting for EOF after the child exited */
    int nhandles;           /* initialised handles whose close callback is pending */

    sk_proc_cb cb;
    void *data;
    bool report; /* false after a failed spawn: nobody is told */

    int pid;       /* also the process group id */
    int log_fd;    /* -1 until the first line: a run that prints nothing has no file */
    bool log_dead; /* the log could not be created or written: no more tries */
    char *log_path;
    int64_t max_output; /* <= 0: no cap */
    int64_t timeout_ms; /* <= 0: none */
    int64_t kill_grace_ms;
    int64_t kept;    /* bytes of (masked) output that went to the log */
    sk_mask_t *mask; /* the run's secrets; NULL when none */

    bool exited;   /* the child has been reaped */
    bool stopping; /* SIGTERM sent (timeout or sk_proc_stop); stop_end says which */
    bool finished; /* all done; handles are closing */
    bool discard;  /* drop further output: over the cap, or the log failed */
    sk_proc_end_t stop_end;

    char stamp[SK_RUNNER_STAMP_MAX]; /* of the data being handled */
    char *rbuf;                      /* READ_SIZE bytes, shared by both pipes */
    char *wbuf;                      /* WBUF_SIZE bytes of formatted lines, from the first */
    size_t wlen;
    sk_proc_result_t res;
    int64_t mono_start; /* monotonic ms at spawn: res.duration_ms counts from here */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall and monotonic clocks this far apart over one run: the wall clock was
 * set (as the daemon's JUMP_MS). */
#define CLOCK_SET_MS 2000

/* Durations come from here: a clock that setting the wall clock does not
 * move. Linux's CLOCK_BOOTTIME also counts a suspend (a run that spans the
 * night the laptop slept lasted the night, as the wall clock says);
 * elsewhere CLOCK_MONOTONIC. */
static int64_t mono_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_BOOTTIME
    clock_gettime(CLOCK_BOOTTIME, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void update_stamp(sk_proc_t *p)
{
    sk_runner__utc_stamp(wall_ms(), true, p->stamp, sizeof(p->stamp));
}

/* ---- the log file ---- */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The log cannot be written (ENOSPC, EIO...): say so once in the result and
 * discard the rest of the output. The run itself goes on. */
static void log_failed(sk_proc_t *p, int code)
{
    if (!p->res.reason[0])
        sk_snprintf(p->res.reason, sizeof(p->res.reason), "log %s: write failed: %s", p->log_path,
                    sk_strerror(code));
    p->discard = true;
    p->log_dead = true;
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->log_fd = -1;
}

static int open_log(const char *path, int *ret_fd, sk_err_t *err);

/* Opens the log at the run's first line (creating its folder the first
 * time a job runs), so that starting a run touches no file and a run that
 * prints nothing leaves none. False when there is no log to write to. */
static bool log_ready(sk_proc_t *p)
{
    if (p->log_fd >= 0)
        return true;
    if (p->log_dead || !p->log_path[0])
        return false;
    sk_err_t err;
    sk_err_clear(&err);
    int r = open_log(p->log_path, &p->log_fd, &err);
    if (r != 0) {
        if (!p->res.reason[0])
            sk_strlcpy(p->res.reason, err.msg, sizeof(p->res.reason));
        p->discard = true;
        p->log_dead = true;
        return false;
    }
    if (!p->wbuf)
        p->wbuf = sk_xmalloc(WBUF_SIZE);
    return true;
}

static void wflush(sk_proc_t *p)
{
    if (p->wlen > 0 && p->log_fd >= 0) {
        int r = write_all(p->log_fd, p->wbuf, p->wlen);
        if (r != 0)
            log_failed(p, r);
    }
    p->wlen = 0;
}

/* Appends "STAMP NAME | TEXT\n" to the write buffer (len <= LINE_MAX). */
static void emit(sk_proc_t *p, const char *name, const char *text, size_t len)
{
    if (!log_ready(p))
        return;
    size_t slen = strlen(p->stamp), nlen = strlen(name);
    size_t need = slen + 1 + nlen + 3 + len + 1;
    SK_ASSERT(need <= WBUF_SIZE);
    if (p->wlen + need > WBUF_SIZE) {
        wflush(p);
        if (p->log_fd < 0)
            return;
    }
    char *w = p->wbuf + p->wlen;
    memcpy(w, p->stamp, slen);
    w += slen;
    *w++ = ' ';
    memcpy(w, name, nlen);
    w += nlen;
    memcpy(w, " | ", 3);
    w += 3;
    memcpy(w, text, len);
    w += len;
    *w++ = '\n';
    p->wlen += need;
}

/* Writes out a stream's partial line, if any. */
static void flush_partial(sk_proc_t *p, stream_t *s)
{
    if (s->len > 0)
        emit(p, s->name, s->line, s->len);
    s->len = 0;
}

/* Splits data into lines; a line that reaches SK_RUNNER_LINE_MAX bytes
 * without a newline is written as it is and continues on the next line. */
static void feed(sk_proc_t *p, stream_t *s, const char *d, size_t n)
{
    if (!s->line && n > 0)
        s->line = sk_xmalloc(SK_RUNNER_LINE_MAX); /* at its first output */
    while (n > 0) {
        const char *nl = memchr(d, '\n', n);
        size_t seg = nl ? (size_t)(nl - d) : n;
        while (s->len + seg > SK_RUNNER_LINE_MAX) {
            size_t take = SK_RUNNER_LINE_MAX - s->len;
            if (s->len == 0) {
                emit(p, s->name, d, take);
            } else {
                memcpy(s->line + s->len, d, take);
                emit(p, s->name, s->line, SK_RUNNER_LINE_MAX);
                s->len = 0;
            }
            d += take;
            n -= take;
            seg -= take;
        }
        if (nl) {
            if (s->len == 0) {
                emit(p, s->name, d, seg);
            } else {
                memcpy(s->line + s->len, d, seg);
                emit(p, s->name, s->line, s->len + seg);
                s->len = 0;
            }
            d += seg + 1;
            n -= seg + 1;
        } else {
            memcpy(s->line + s->len, d, seg);
            s->len += seg;
            d += seg;
            n -= seg;
        }
    }
}

/* Output on its way to the log, masked already: kept up to the cap, then
 * one marker line and the rest is dropped. */
static void keep_output(sk_proc_t *p, stream_t *s, const char *d, size_t n)
{
    if (p->discard)
        return;
    size_t keep = n;
    bool over = false;
    if (p->max_output > 0 && p->kept + (int64_t)n > p->max_output) {
        keep = (size_t)(p->max_output - p->kept);
        over = true;
    }
    feed(p, s, d, keep);
    p->kept += (int64_t)keep;
    if (over) {
        char marker[96];
        int len = sk_snprintf(marker, sizeof(marker),
                              "... output truncated after %" PRId64 " bytes ...", p->max_output);
        flush_partial(p, &p->out);
        flush_partial(p, &p->err);
        emit(p, "sked", marker, (size_t)len);
        p->res.truncated = true;
        /* From now on nothing reaches the log: what the masks hold back
         * (perhaps the beginning of a secret) is never written. */
        p->discard = true;
    }
}

static void on_masked(void *data, const char *text, size_t len)
{
    stream_t *s = data;
    keep_output(s->proc, s, text, len);
}

/* Takes n bytes the child wrote on s: counted always, masked, kept up to
 * the cap, then dropped (but still read, so the child never blocks on a
 * full pipe). */
static void take(sk_proc_t *p, stream_t *s, const char *d, size_t n)
{
    p->res.output_bytes += (int64_t)n;
    if (p->discard)
        return;
    if (s->ms)
        sk_mask_stream_feed(s->ms, d, n, on_masked, s);
    else
        keep_output(p, s, d, n);
}

/* ---- handles and the end of the run ---- */

static void on_close(uv_handle_t *h)
{
    sk_proc_t *p = h->data;
    SK_ASSERT(p->nhandles > 0);
    if (--p->nhandles > 0)
        return;
    if (p->report && p->cb)
        p->cb(p, &p->res, p->data);
    if (p->pidfd >= 0)
        close(p->pidfd); /* after its poll handle is closed */
    if (p->log_fd >= 0)
        close(p->log_fd);
    free(p->out.line);
    free(p->err.line);
    sk_mask_stream_free(p->out.ms);
    sk_mask_stream_free(p->err.ms);
    if (p->mask)
        sk_secret_wipe(p->rbuf, READ_SIZE); /* the child's raw output */
    sk_mask_free(p->mask);
    free(p->rbuf);
    free(p->wbuf);
    free(p->log_path);
    free(p);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_close);
}

/* The handle that watches for the child's exit. */
static uv_handle_t *exit_handle(sk_proc_t *p)
{
    return p->pidfd >= 0 ? (uv_handle_t *)&p->exit_poll : (uv_handle_t *)&p->exit_timer;
}

/* Reports once everything is in: the child reaped, both pipes done. The
 * callback itself runs from the last close callback, so that when it runs
 * the process holds no handle on the loop any more. */
static void finish_if_done(sk_proc_t *p)
{
    if (p->finished || !p->exited || !p->out.done || !p->err.done)
        return;
    p->finished = true;
    wflush(p);
    if (p->log_fd >= 0 && close(p->log_fd) != 0 && !p->res.reason[0])
        sk_snprintf(p->res.reason, sizeof(p->res.reason), "log %s: close failed: %s", p->log_path,
                    strerror(errno));
    p->log_fd = -1;
    p->res.ended_ms = wall_ms();
    p->res.duration_ms = mono_ms() - p->mono_start;
    /* The wall clock was set while it ran (the two clocks disagree by more
     * than sked's jump threshold): its end is told on the clock of its
     * start, so that the recorded instants never make a negative or a
     * stretched duration. */
    int64_t skew = p->res.ended_ms - p->res.started_ms - p->res.duration_ms;
    if (skew > CLOCK_SET_MS || skew < -CLOCK_SET_MS)
        p->res.ended_ms = p->res.started_ms + p->res.duration_ms;
    close_handle((uv_handle_t *)&p->kill_timer);
    close_handle((uv_handle_t *)&p->drain_timer);
    close_handle(exit_handle(p));
}

/* A pipe hit EOF (or an error, or we gave up on it): its partial line is
 * written and it is closed. */
static void stream_end(sk_proc_t *p, stream_t *s)
{
    if (s->done)
        return;
    s->done = true;
    if (!p->discard) {
        update_stamp(p);
        if (s->ms)
            sk_mask_stream_end(s->ms, on_masked, s);
        flush_partial(p, s);
        wflush(p);
    }
    uv_read_stop((uv_stream_t *)&s->pipe);
    close_handle((uv_handle_t *)&s->pipe);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    /* One buffer serves both pipes: each read is handled in full before
     * libuv asks for the next buffer. */
    sk_proc_t *p = ((stream_t *)h)->proc;
    *buf = uv_buf_init(p->rbuf, READ_SIZE);
}

static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
    stream_t *s = (stream_t *)h;
    sk_proc_t *p = s->proc;
    if (n > 0) {
        if (!p->discard)
            update_stamp(p);
        take(p, s, buf->base, (size_t)n);
        wflush(p);
        return;
    }
    if (n == 0)
        return; /* EAGAIN */
    /* UV_EOF, or a read error: either way, no more data. */
    stream_end(p, s);
    finish_if_done(p);
}

/* Takes what is in the pipe right now without waiting (the fd is
 * non-blocking), bounded; the pipe stays open and watched. */
static void read_ready(sk_proc_t *p, stream_t *s)
{
    uv_os_fd_t fd;
    if (s->done || uv_fileno((uv_handle_t *)&s->pipe, &fd) != 0)
        return;
    update_stamp(p);
    for (size_t total = 0; total < DRAIN_READ_MAX;) {
        ssize_t n = read(fd, p->rbuf, READ_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        take(p, s, p->rbuf, (size_t)n);
        total += (size_t)n;
    }
    wflush(p);
}

/* The same, before the pipe is closed early. */
static void drain_now(sk_proc_t *p, stream_t *s)
{
    if (s->done)
        return;
    uv_read_stop((uv_stream_t *)&s->pipe);
    read_ready(p, s);
}

/* A line of sked's own in the log, "STAMP sked | text": what sked did to
 * the run. Written even past the output cap (there are at most a few). */
static void note(sk_proc_t *p, const char *fmt, ...) SK_PRINTF(2, 3);
static void note(sk_proc_t *p, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* What the child wrote before this moment may still sit in the pipes
     * (the loop sees an exit or a timer before the data, in any order): it
     * goes into the log first, so the log reads in the order things were
     * done. */
    read_ready(p, &p->out);
    read_ready(p, &p->err);
    update_stamp(p);
    emit(p, "sked", text, (size_t)SK_MIN(SK_MAX(n, 0), (int)sizeof(text) - 1));
    wflush(p);
}

static void on_drain_timeout(uv_timer_t *t)
{
    sk_proc_t *p = t->data;
    /* Someone outside the process group (a grandchild that called setsid)
     * holds a pipe open; the run does not wait for it. */
    drain_now(p, &p->out);
    drain_now(p, &p->err);
    note(p,
         "output still open %dms after the child exited (held by a process outside "
         "group %d): closed",
         DRAIN_GRACE_MS, p->pid);
    stream_end(p, &p->out);
    stream_end(p, &p->err);
    finish_if_done(p);
}

/* The child was reaped: status its exit status, or sig the signal that
 * ended it. */
static void child_exited(sk_proc_t *p, int status, int sig)
{
    p->exited = true;
    uv_timer_stop(&p->kill_timer);
    /* Grandchildren die with the run: whatever is left of the group goes.
     * The group id cannot be reused while it has members, and we get here
     * right after reaping, so the window for reuse is negligible. After
     * our own signals the group may still hold dying members: no note then. */
    if (kill(-(pid_t)p->pid, SIGKILL) == 0 && !p->stopping)
        note(p, "the child exited: SIGKILL to what was left of process group %d", p->pid);
    if (sig != 0) {
        p->res.end = SK_PROC_SIGNALED;
        p->res.signal = sig;
        p->res.exit_code = -1;
    } else {
        p->res.end = SK_PROC_EXITED;
        p->res.exit_code = status;
    }
    if (p->stopping)
        p->res.end = p->stop_end;
    if (!p->out.done || !p->err.done)
        uv_timer_start(&p->drain_timer, on_drain_timeout, DRAIN_GRACE_MS, 0);
    finish_if_done(p);
}

/* Reaps the child if it has exited; true when it has. Only its own pid is
 * waited for: other children (a helper command's) are their waiters'. */
static bool reap(sk_proc_t *p)
{
    int st = 0;
    pid_t r;
    do
        r = waitpid((pid_t)p->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return false;
    if (p->pidfd >= 0)
        uv_poll_stop(&p->exit_poll);
    else
        uv_timer_stop(&p->exit_timer);
    if (r < 0) {
        /* ECHILD: someone else took its status (nothing in sked waits for
         * all children; a library might). It ended; how is not known. */
        sk_strlcpy(p->res.reason, "its exit status was lost (reaped elsewhere)",
                   sizeof(p->res.reason));
        child_exited(p, -1, 0);
        return true;
    }
    if (WIFSIGNALED(st))
        child_exited(p, 0, WTERMSIG(st));
    else
        child_exited(p, WEXITSTATUS(st), 0);
    return true;
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    reap(h->data);
}

static void on_exit_poll(uv_timer_t *t)
{
    reap(t->data);
}

static void on_kill_grace(uv_timer_t *t)
{
    sk_proc_t *p = t->data;
    if (p->exited)
        return;
    char grace[32];
    sk_duration_format(p->kill_grace_ms, grace, sizeof(grace));
    note(p, "still running %s after SIGTERM: SIGKILL to process group %d", grace, p->pid);
    kill(-(pid_t)p->pid, SIGKILL);
}

/* SIGTERM to the whole group (and SIGCONT, so that a stopped process sees
 * it), then SIGKILL after the grace unless the child has exited by then. */
static void terminate(sk_proc_t *p, sk_proc_end_t why)
{
    char dur[32];
    p->stopping = true;
    p->stop_end = why;
    if (why == SK_PROC_TIMED_OUT) {
        sk_duration_format(p->timeout_ms, dur, sizeof(dur));
        note(p, "timed out after %s: SIGTERM to process group %d", dur, p->pid);
    } else {
        note(p, "stopped: SIGTERM to process group %d", p->pid);
    }
    kill(-(pid_t)p->pid, SIGTERM);
    kill(-(pid_t)p->pid, SIGCONT);
    uv_timer_start(&p->kill_timer, on_kill_grace, (uint64_t)p->kill_grace_ms, 0);
}

static void on_timeout(uv_timer_t *t)
{
    sk_proc_t *p = t->data;
    if (!p->exited && !p->stopping)
        terminate(p, SK_PROC_TIMED_OUT);
}

/* ---- starting ---- */

/* The value of PATH in envp (the one execvp will search), or NULL. */
static const char *envp_path(char *const *envp)
{
    if (!envp)
        return getenv("PATH");
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            return envp[i] + 5;
    return NULL;
}

/*
 * Checks before spawning what execvp would fail on, to give a clear message:
 * the working folder, and the program (relative to cwd if it has a slash,
 * else searched on the child's PATH, as execvp would: posix_spawnp would
 * search ours). On success exe holds what to execute. posix_spawn reports
 * the same failures, less clearly, if something changes in between.
 */
static int precheck(const sk_spawn_t *spec, char *exe, size_t exe_size, sk_err_t *err)
{
    struct stat st;
    const char *prog = spec->argv ? spec->argv[0] : NULL;
    if (!prog || !prog[0])
        return sk_err_set(err, -EINVAL, "cannot run an empty command");
    if (spec->cwd && spec->cwd[0]) {
        if (stat(spec->cwd, &st) != 0)
            return sk_err_set(err, -errno, "working directory %s: %s", spec->cwd, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return sk_err_set(err, -ENOTDIR, "working directory %s: %s", spec->cwd,
                              strerror(ENOTDIR));
    }
    if (strchr(prog, '/')) {
        char buf[PATH_MAX];
        const char *path = prog;
        if (prog[0] != '/' && spec->cwd && spec->cwd[0]) {
            sk_snprintf(buf, sizeof(buf), "%s/%s", spec->cwd, prog);
            path = buf;
        }
        int r = sk_runner__check_exec(path);
        if (r != 0)
            return sk_err_set(err, r, "cannot run %s: %s", prog, sk_strerror(r));
        sk_strlcpy(exe, prog, exe_size); /* the child resolves it after its chdir */
        return 0;
    }
    const char *search = envp_path(spec->envp);
    if (!search)
        search = EXEC_DEFAULT_PATH;
    int first = -ENOENT;
    for (const char *q = search;;) {
        const char *end = strchr(q, ':');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        char buf[PATH_MAX];
        sk_snprintf(buf, sizeof(buf), "%.*s%s%s", (int)len, q, len ? "/" : "", prog);
        int r = sk_runner__check_exec(buf);
        if (r == 0) {
            sk_strlcpy(exe, buf, exe_size);
            return 0;
        }
        if (r == -EACCES && first == -ENOENT)
            first = r; /* execvp reports EACCES if some candidate had it */
        if (!end)
            break;
        q = end + 1;
    }
    return sk_err_set(err, first, "cannot run %s: %s (PATH=%s)", prog, sk_strerror(first), search);
}

/* The run's mask: spec's values and the passwords of URLs in its argv and
 * environment. NULL when there is nothing to mask. */
static sk_mask_t *build_mask(const sk_spawn_t *spec)
{
    sk_mask_t *m = sk_mask_new();
    for (size_t i = 0; spec->masked && spec->masked[i]; i++)
        sk_mask_add(m, spec->masked[i], strlen(spec->masked[i]));
    for (size_t i = 0; spec->envp && spec->envp[i]; i++) {
        const char *eq = strchr(spec->envp[i], '=');
        sk_mask_add_urls(m, eq ? eq + 1 : spec->envp[i]);
    }
    for (size_t i = 0; spec->argv && spec->argv[i]; i++)
        sk_mask_add_urls(m, spec->argv[i]);
    if (sk_mask_empty(m)) {
        sk_mask_free(m);
        return NULL;
    }
    return m;
}

/* Errors name the program and its folders; none should hold a secret, but
 * they reach the store, the API and alerts, so they are masked too. */
static void masked_err(const sk_mask_t *m, sk_err_t *err)
{
    if (err && m) {
        char *t = sk_mask_string(m, err->msg);
        sk_strlcpy(err->msg, t, sizeof(err->msg));
        free(t);
    }
}

/* mkdir -p of path's folder, each new one 0700. */
static int make_parents(const char *path)
{
    char *d = sk_xstrdup(path);
    char *slash = strrchr(d, '/');
    int r = 0;
    if (slash && slash != d) {
        *slash = '\0';
        r = sk_mkdir_p(d, 0700);
    }
    free(d);
    return r;
}

static int open_log(const char *path, int *ret_fd, sk_err_t *err)
{
    const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY;
    /* The folder exists after a job's first run: try the file first, so a
     * start costs one open instead of a mkdir per path component. */
    int fd = open(path, flags, 0600);
    if (fd >= 0) {
        *ret_fd = fd;
        return 0;
    }
    if (errno != ENOENT)
        return sk_err_set(err, -errno, "log file %s: %s", path, strerror(errno));
    int r = make_parents(path);
    if (r != 0)
        return sk_err_set(err, r, "log file %s: cannot create its folder: %s", path,
                          sk_strerror(r));
    fd = open(path, flags, 0600);
    if (fd < 0)
        return sk_err_set(err, -errno, "log file %s: %s", path, strerror(errno));
    *ret_fd = fd;
    return 0;
}

/* A pipe for one of the child's streams, both ends close-on-exec and above
 * 2, so that dup2 onto 1 or 2 in the child never meets itself (which would
 * keep close-on-exec set). -errno on failure. */
static int out_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] > 2)
            continue;
        int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        int e = errno;
        close(fds[i]);
        fds[i] = moved;
        if (moved < 0) {
            if (fds[1 - i] >= 0)
                close(fds[1 - i]);
            return -e;
        }
    }
    return 0;
}

/*
 * Starts exe with spec's argv, environment and folder, stdin /dev/null and
 * stdout/stderr on the write ends wfd[0], wfd[1]: posix_spawn, which on
 * Linux shares the daemon's memory until the child's exec (a fork would
 * copy its page tables, the dearest part of a start with many jobs loaded),
 * in a new session (its own process group), no blocked signals and default
 * dispositions. A script without #! runs under /bin/sh, as execvp would.
 * 0 with *pid, or -errno (the exec's own error included).
 */
static int spawn_child(const sk_spawn_t *spec, const char *exe, const int wfd[2], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    int r = posix_spawn_file_actions_init(&fa);
    if (r != 0)
        return -r;
    r = posix_spawnattr_init(&attr);
    if (r != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -r;
    }
    sigemptyset(&none);
    sk_child_signal_defaults(&defaults);
    if ((r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) == 0 &&
        (r = posix_spawn_file_actions_adddup2(&fa, wfd[0], 1)) == 0 &&
        (r = posix_spawn_file_actions_adddup2(&fa, wfd[1], 2)) == 0 &&
        (!spec->cwd || !spec->cwd[0] ||
         (r = posix_spawn_file_actions_addchdir_np(&fa, spec->cwd)) == 0) &&
        (r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF)) == 0 &&
        (r = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
        (r = posix_spawnattr_setsigdefault(&attr, &defaults)) == 0) {
        char *const *envp = spec->envp ? (char *const *)spec->envp : environ;
        r = posix_spawn(pid, exe, &fa, &attr, (char *const *)spec->argv, envp);
        if (r == ENOEXEC) {
            size_t n = 0;
            while (spec->argv[n])
                n++;
            char **sh = sk_xcalloc(n + 2, sizeof(*sh));
            sh[0] = "/bin/sh";
            sh[1] = (char *)exe;
            for (size_t i = 1; i < n; i++)
                sh[i + 1] = spec->argv[i];
            r = posix_spawn(pid, "/bin/sh", &fa, &attr, sh, envp);
            free(sh);
        }
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return -r;
}

/* Watches for p's exit on the loop: its pidfd, else a timer asking waitpid. */
static void watch_exit(sk_proc_t *p)
{
    p->pidfd = -1;
#ifdef SYS_pidfd_open
    if (!getenv("SKED_TEST_NO_PIDFD"))
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0); /* close-on-exec */
#endif
    if (p->pidfd >= 0 && uv_poll_init(p->loop, &p->exit_poll, p->pidfd) == 0) {
        p->exit_poll.data = p;
        uv_poll_start(&p->exit_poll, UV_READABLE, on_pidfd);
        return;
    }
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    int r = uv_timer_init(p->loop, &p->exit_timer);
    SK_ASSERT(r == 0);
    p->exit_timer.data = p;
    uv_timer_start(&p->exit_timer, on_exit_poll, EXIT_POLL_MS, EXIT_POLL_MS);
}

int sk_proc_start(uv_loop_t *loop, const sk_spawn_t *spec, sk_proc_cb cb, void *data,
                  sk_proc_t **ret, sk_err_t *err)
{
    char exe[PATH_MAX];
    int pout[2] = {-1, -1}, perr[2] = {-1, -1};
    pid_t pid = 0;
    sk_mask_t *mask = build_mask(spec);
    int r = precheck(spec, exe, sizeof(exe), err);
    if (r == 0 && ((r = out_pipe(pout)) != 0 || (r = out_pipe(perr)) != 0))
        sk_err_set(err, r, "cannot run %s: no pipe for its output: %s", spec->argv[0],
                   sk_strerror(r));
    int64_t started_ms = wall_ms(), mono_start = mono_ms();
    if (r == 0) {
        const int wfd[2] = {pout[1], perr[1]};
        r = spawn_child(spec, exe, wfd, &pid);
        if (r != 0) {
            struct stat st;
            /* execve's ENOENT for a file that exists is about its #! line. */
            bool interp = r == -ENOENT && strchr(spec->argv[0], '/') && stat(exe, &st) == 0;
            sk_err_set(err, r, "cannot run %s: %s%s", spec->argv[0], sk_strerror(r),
                       interp ? " (is its #! interpreter missing?)" : "");
        }
    }
    for (int i = 0; i < 2; i++) {
        int *pp = i == 0 ? pout : perr;
        if (pp[1] >= 0)
            close(pp[1]); /* the child's end: ours would hold its EOF back */
        if (r != 0 && pp[0] >= 0)
            close(pp[0]);
    }
    if (r != 0) {
        masked_err(mask, err);
        sk_mask_free(mask);
        return r;
    }
    sk_proc_t *p = sk_xcalloc(1, sizeof(*p));
    p->mask = mask;
    mask = NULL; /* p took it */
    p->loop = loop;
    p->cb = cb;
    p->data = data;
    p->log_fd = -1; /* opened at the first line (log_ready) */
    p->log_path = sk_xstrdup(spec->log_path ? spec->log_path : "");
    p->max_output = spec->max_output;
    p->timeout_ms = spec->timeout_ms;
    p->kill_grace_ms = SK_MAX(spec->kill_grace_ms, 0);
    p->rbuf = sk_xmalloc(READ_SIZE);
    p->res.exit_code = -1;

    /* These initialisations cannot fail on Unix (they only fill in structs). */
    stream_t *streams[2] = {&p->out, &p->err};
    for (int i = 0; i < 2; i++) {
        stream_t *s = streams[i];
        s->proc = p;
        s->name = i == 0 ? "out" : "err";
        s->ms = p->mask ? sk_mask_stream_new(p->mask) : NULL;
        r = uv_pipe_init(loop, &s->pipe, 0);
        SK_ASSERT(r == 0);
        s->pipe.data = p;
        p->nhandles++;
        if (uv_pipe_open(&s->pipe, i == 0 ? pout[0] : perr[0]) != 0) {
            close(i == 0 ? pout[0] : perr[0]); /* not expected: a pipe is a pipe */
            s->done = true;
            close_handle((uv_handle_t *)&s->pipe);
        }
    }
    r = uv_timer_init(loop, &p->kill_timer);
    SK_ASSERT(r == 0);
    p->kill_timer.data = p;
    p->nhandles++;
    r = uv_timer_init(loop, &p->drain_timer);
    SK_ASSERT(r == 0);
    p->drain_timer.data = p;
    p->nhandles++;

    p->res.started_ms = started_ms;
    p->mono_start = mono_start;
    p->report = true;
    p->pid = (int)pid;
    watch_exit(p);
    p->nhandles++;
    for (int i = 0; i < 2; i++) {
        if (!streams[i]->done &&
            uv_read_start((uv_stream_t *)&streams[i]->pipe, on_alloc, on_read) != 0) {
            streams[i]->done = true;
            close_handle((uv_handle_t *)&streams[i]->pipe);
        }
    }
    /* The loop's cached time may be stale: count the timeout from now. */
    uv_update_time(loop);
    if (p->timeout_ms > 0)
        uv_timer_start(&p->kill_timer, on_timeout, (uint64_t)p->timeout_ms, 0);
    *ret = p;
    return 0;
}

int sk_proc_pid(const sk_proc_t *p)
{
    return p->pid;
}

void sk_proc_stop(sk_proc_t *p)
{
    if (!p || p->exited || p->stopping || p->finished)
        return;
    uv_timer_stop(&p->kill_timer);
    terminate(p, SK_PROC_KILLED);
}
