/*
 * Runs a short helper program to completion and captures what it prints:
 * the commands of `secrets:` ({command: [pass, show, db]}), run while a
 * configuration loads. Synchronous and bounded (a timeout, a cap on the
 * output), with posix_spawn so that it is safe beside other threads.
 * Exports sk_capture_output.
 */
#define _GNU_SOURCE 1 /* posix_spawn_file_actions_addchdir_np (glibc 2.29) */

#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

/* Longest wait between two looks at the child. */
#define SLICE_MS 20

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves fd above 0-2 (keeping close-on-exec), so the child's dup2s cannot
 * overwrite it. */
static int above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return nfd;
}

/* Reads what the pipe has now into *buf. Returns 1 at EOF, 0 when it would
 * block, -EFBIG past max bytes, or -errno. */
static int read_some(int fd, char **buf, size_t *len, size_t *cap, size_t max)
{
    for (;;) {
        if (*len == *cap) {
            size_t ncap = *cap ? *cap * 2 : 4096;
            char *nb = sk_xmalloc(ncap + 1);
            if (*len)
                memcpy(nb, *buf, *len);
            sk_secret_wipe(*buf, *cap); /* realloc would leave the old copy behind */
            free(*buf);
            *buf = nb;
            *cap = ncap;
        }
        ssize_t n = read(fd, *buf + *len, *cap - *len);
        if (n > 0) {
            *len += (size_t)n;
            if (*len > max)
                return -EFBIG;
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

int sk_capture_output(char *const *argv, const char *cwd, int64_t timeout_ms, size_t max,
                      char **ret, size_t *ret_len, sk_err_t *err)
{
    extern char **environ;
    int fds[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    pid_t pid = -1;
    char dur[32];
    int rc;

    sk_duration_format(timeout_ms, dur, sizeof(dur));
    /* Both ends close-on-exec at once: a job spawned meanwhile by another
     * thread must not inherit them; the read end does not block. */
    if (pipe2(fds, O_CLOEXEC) < 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        rc = sk_err_set(err, -errno, "cannot create a pipe: %s", strerror(errno));
        goto out;
    }
    fds[0] = above_stdio(fds[0]);
    fds[1] = above_stdio(fds[1]);
    if (fds[0] < 0 || fds[1] < 0) {
        rc = sk_err_set(err, -errno, "cannot create a pipe: %s", strerror(errno));
        goto out;
    }
    fa_ok = posix_spawn_file_actions_init(&fa) == 0;
    attr_ok = posix_spawnattr_init(&attr) == 0;
    if (!fa_ok || !attr_ok) {
        rc = sk_err_set(err, -ENOMEM, "cannot start %s: out of memory", argv[0]);
        goto out;
    }
    if (cwd && cwd[0])
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    /* What it says on stderr is not shown: it could echo the secret. */
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

    /* Its own process group (a timeout kills it all), no blocked signals,
     * default dispositions for what the daemon ignores or handles. */
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

    rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    if (rc != 0) {
        pid = -1;
        rc = sk_err_set(err, -rc, "cannot run %s: %s", argv[0], strerror(rc));
        goto out;
    }
    close(fds[1]);
    fds[1] = -1;

    int64_t deadline = mono_ms() + timeout_ms;
    int status = 0;
    bool eof = false;
    for (;;) {
        if (!eof) {
            int r = read_some(fds[0], &buf, &len, &cap, max);
            if (r < 0) {
                kill(-pid, SIGKILL);
                rc =
                    r == -EFBIG
                        ? sk_err_set(err, -EFBIG, "%s printed more than %zu bytes: stopped",
                                     argv[0], max)
                        : sk_err_set(err, r, "%s: reading its output: %s", argv[0], sk_strerror(r));
                goto out;
            }
            eof = r == 1;
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            pid = -1;
            /* What it wrote before it exited is in the pipe; a process it
             * left behind may hold the pipe open: take what is there. */
            if (!eof && read_some(fds[0], &buf, &len, &cap, max) == -EFBIG) {
                rc = sk_err_set(err, -EFBIG, "%s printed more than %zu bytes", argv[0], max);
                goto out;
            }
            break;
        }
        if (w < 0 && errno != EINTR) {
            rc = sk_err_set(err, -errno, "%s: waiting for it: %s", argv[0], strerror(errno));
            goto out;
        }
        int64_t now = mono_ms();
        if (now >= deadline) {
            kill(-pid, SIGKILL);
            rc = sk_err_set(err, -ETIMEDOUT, "%s did not finish within %s: stopped", argv[0], dur);
            goto out;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int wait = (int)SK_MIN(deadline - now, (int64_t)SLICE_MS);
        /* With the pipe at EOF, only the exit is awaited: poll is the sleep. */
        if (poll(eof ? NULL : &p, eof ? 0 : 1, wait) < 0 && errno != EINTR)
            (void)poll(NULL, 0, wait);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        buf = buf ? buf : sk_xmalloc(1);
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        buf = NULL;
        rc = 0;
    } else if (WIFEXITED(status)) {
        rc = sk_err_set(err, SK_EPARSE, "%s exited with status %d", argv[0], WEXITSTATUS(status));
    } else {
        rc = sk_err_set(err, SK_EPARSE, "%s was killed by signal %d", argv[0],
                        WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
out:
    if (pid > 0) {
        /* Stopped above: reap it, so no zombie is left. */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    if (buf) {
        sk_secret_wipe(buf, cap);
        free(buf);
    }
    return rc;
}
