/*
 * The command sink: runs the configured argv (no shell) with the alert's
 * JSON on its stdin, on a pool thread. The child gets its own process group,
 * default signal dispositions, a small environment (PATH, HOME, LANG...,
 * SKED_ALERT=1), stdout on /dev/null and stderr on a pipe whose first line
 * goes into the error. Writing stdin, reading stderr and waiting
 * share one deadline; past it the whole group gets SIGKILL. The child is
 * always reaped here, by its pid: libuv's SIGCHLD handling on the loop only
 * waits for the pids it spawned, so the two never race.
 */
#include "alert.h"
#include "alert_int.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* How much of stderr is kept (only its first line is reported). */
#define STDERR_KEEP 1024
/* Longest sleep between checks for the child's exit. */
#define WAIT_SLICE_MS 10
/* After the child exits, at most this much more stderr is read. */
#define DRAIN_MAX (256 * 1024)

static int64_t mono_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000u);
}

/* Moves fd above 0-2 (keeping close-on-exec), so that the dup2s that set
 * up the child's stdio cannot overwrite one of our own pipe ends. */
static int above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Reads what stderr has now: keeps the start, drops the rest; closes the
 * fd at EOF or on an error. */
static void read_stderr(int *fd, char *keep, size_t *kept, size_t *total)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n > 0) {
            size_t room = STDERR_KEEP - 1 - *kept;
            size_t take = SK_MIN((size_t)n, room);
            memcpy(keep + *kept, buf, take);
            *kept += take;
            *total += (size_t)n;
            if (*total > DRAIN_MAX)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close_fd(fd); /* EOF or error */
        return;
    }
}

/*
 * The program argv0 names, looked up on PATH like execvp would (default
 * /usr/bin:/bin), into buf. Done here rather than by posix_spawnp so that a
 * missing program is always an error we see (-ENOENT, -EACCES), not an exit
 * status 127 from a child that could not exec, as some posix_spawn
 * implementations (and valgrind) report it.
 */
static int find_program(const char *argv0, char *buf, size_t size)
{
    struct stat st;
    if (strchr(argv0, '/')) {
        if (sk_strlcpy(buf, argv0, size) >= size)
            return -ENAMETOOLONG;
        if (stat(buf, &st) < 0)
            return -errno;
        return S_ISREG(st.st_mode) && access(buf, X_OK) == 0 ? 0 : -EACCES;
    }
    const char *path = getenv("PATH"); /* the child's PATH too (KEPT_ENV) */
    if (!path || !*path)
        path = "/usr/bin:/bin";
    int rc = -ENOENT;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        /* an empty entry means the current folder, as for execvp */
        int len = n ? sk_snprintf(buf, size, "%.*s/%s", (int)n, path, argv0)
                    : sk_snprintf(buf, size, "./%s", argv0);
        if (len > 0 && (size_t)len < size && stat(buf, &st) == 0) {
            if (S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
                return 0;
            rc = -EACCES;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return rc;
}

static bool spawn_error_retryable(int e)
{
    /* a missing or unrunnable program stays so */
    return !(e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR || e == ELOOP ||
             e == ENAMETOOLONG || e == EPERM || e == EISDIR);
}

static void command_send(sk_alert__job_t *job, sk_alert_result_t *res)
{
    int in[2] = {-1, -1}, err[2] = {-1, -1};
    char keep[STDERR_KEEP];
    size_t kept = 0, total = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    pid_t pid = -1;
    int rc;

    /* uv_pipe makes both ends close-on-exec atomically: the loop thread may
     * be spawning a job at this very moment and must not inherit them */
    if ((rc = uv_pipe(in, 0, UV_NONBLOCK_PIPE)) < 0 ||
        (rc = uv_pipe(err, UV_NONBLOCK_PIPE, 0)) < 0) {
        sk_alert__fail(res, true, "cannot create a pipe: %s", uv_strerror(rc));
        goto done;
    }
    for (int i = 0; i < 2; i++) {
        in[i] = above_stdio(in[i]);
        err[i] = above_stdio(err[i]);
    }
    if (in[0] < 0 || in[1] < 0 || err[0] < 0 || err[1] < 0) {
        sk_alert__fail(res, true, "cannot create a pipe: %s", uv_strerror(-errno));
        goto done;
    }

    fa_ok = posix_spawn_file_actions_init(&fa) == 0;
    attr_ok = posix_spawnattr_init(&attr) == 0;
    if (!fa_ok || !attr_ok) {
        sk_alert__fail(res, true, "cannot start %s: out of memory", job->argv[0]);
        goto done;
    }
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);

    /* its own process group (a timeout kills it all), no blocked signals,
     * and default dispositions for what the daemon ignores or handles */
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    static const int reset[] = {SIGPIPE, SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,
                                SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM};
    for (size_t i = 0; i < SK_ARRAY_LEN(reset); i++)
        sigaddset(&defaults, reset[i]);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);

    char prog[PATH_MAX];
    rc = find_program(job->argv[0], prog, sizeof(prog));
    if (rc < 0) {
        sk_alert__fail(res, spawn_error_retryable(-rc), "cannot run %s: %s", job->argv[0],
                       uv_strerror(rc));
        goto done;
    }
    rc = posix_spawn(&pid, prog, &fa, &attr, job->argv, job->envp);
    if (rc != 0) {
        pid = -1;
        sk_alert__fail(res, spawn_error_retryable(rc), "cannot run %s: %s", job->argv[0],
                       uv_strerror(-rc));
        goto done;
    }
    close_fd(&in[0]);
    close_fd(&err[1]);

    const char *w = job->payload;
    size_t left = job->payload_len;
    if (left == 0)
        close_fd(&in[1]);
    int64_t deadline = mono_ms() + job->timeout_ms;
    bool exited = false, timed_out = false;
    int wstatus = 0;

    for (;;) {
        pid_t r = waitpid(pid, &wstatus, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            exited = r == pid;
            break;
        }
        int64_t now = mono_ms();
        if (now >= deadline) {
            kill(-pid, SIGKILL);
            timed_out = true;
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
            exited = true;
            break;
        }
        struct pollfd p[2];
        nfds_t np = 0;
        int wi = -1, ri = -1;
        if (in[1] >= 0) {
            wi = (int)np;
            p[np++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
        }
        if (err[0] >= 0) {
            ri = (int)np;
            p[np++] = (struct pollfd){.fd = err[0], .events = POLLIN};
        }
        /* with both pipes done, only the exit is awaited: poll is the sleep */
        int wait = (int)SK_MIN(deadline - now, (int64_t)(np ? 50 : WAIT_SLICE_MS));
        if (poll(p, np, wait) < 0) {
            if (errno != EINTR)
                (void)poll(NULL, 0, WAIT_SLICE_MS); /* ENOMEM: wait, then look again */
            continue;
        }
        if (wi >= 0 && p[wi].revents) {
            ssize_t n = write(in[1], w, SK_MIN(left, (size_t)65536));
            if (n > 0) {
                w += n;
                left -= (size_t)n;
                if (left == 0)
                    close_fd(&in[1]); /* EOF: the command may now act */
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                close_fd(&in[1]); /* EPIPE: it does not read stdin; fine */
            }
        }
        if (ri >= 0 && p[ri].revents)
            read_stderr(&err[0], keep, &kept, &total);
    }
    /* what the child wrote just before it exited */
    if (err[0] >= 0 && !timed_out)
        read_stderr(&err[0], keep, &kept, &total);
    keep[kept] = '\0';

    if (timed_out) {
        char d[32];
        sk_duration_format(job->timeout_ms, d, sizeof(d));
        sk_alert__fail(res, true, "%s timed out after %s and was killed", job->argv[0], d);
    } else if (!exited) {
        sk_alert__fail(res, true, "%s: its exit status was lost", job->argv[0]);
    } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        res->ok = true;
    } else if (WIFEXITED(wstatus)) {
        sk_alert__fail(res, true, "%s exited with status %d", job->argv[0], WEXITSTATUS(wstatus));
    } else {
        sk_alert__fail(res, true, "%s was killed by signal %d", job->argv[0],
                       WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
    }
    if (!res->ok)
        sk_alert__append_detail(res->error, sizeof(res->error), keep, kept);

done:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&err[0]);
    close_fd(&err[1]);
}

/* Of the daemon's environment, the command gets only these (as a job does,
 * it gets no secret the daemon was started with, such as an SMTP password). */
static const char *const KEPT_ENV[] = {"PATH", "HOME",    "LANG",   "LC_ALL", "TZ",
                                       "USER", "LOGNAME", "TMPDIR", "SHELL"};

static int command_prepare(sk_alert__job_t *job, const sk_alert_cfg_t *cfg, const char *payload)
{
    if (!cfg->command || !cfg->command[0] || !*cfg->command[0])
        return -EINVAL;
    job->argv = sk_alert__strv_dup(cfg->command);
    job->envp = sk_xcalloc(SK_ARRAY_LEN(KEPT_ENV) + 2, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(KEPT_ENV); i++) {
        const char *v = getenv(KEPT_ENV[i]);
        if (!v)
            continue;
        size_t len = strlen(KEPT_ENV[i]) + strlen(v) + 2;
        job->envp[n] = sk_xmalloc(len);
        sk_snprintf(job->envp[n++], len, "%s=%s", KEPT_ENV[i], v);
    }
    job->envp[n] = sk_xstrdup("SKED_ALERT=1");
    job->payload = sk_xstrdup(payload);
    job->payload_len = strlen(payload);
    return 0;
}

const sk_alert__sink_ops_t sk_alert__command_ops = {"command", command_prepare, command_send};
