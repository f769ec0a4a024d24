/*
 * Helper commands: short programs sked runs to completion on the calling
 * thread, as opposed to runs (src/exec/, on the loop). Two users: the
 * commands of `secrets:` (what they print on stdout is the value) and the
 * `command:` alert sink (the alert on its stdin, the first line of its
 * stderr into the error). One engine for both: posix_spawn (safe beside
 * other threads), its own process group, default signal dispositions, one
 * deadline for writing stdin, reading the output and waiting, and SIGKILL
 * to the whole group past it. The child is always reaped here, by its pid:
 * libuv's SIGCHLD handling on the loop only waits for the pids it spawned,
 * so the two never race. Exports sk_helper_run and sk_capture_output.
 */
#define _GNU_SOURCE 1 /* posix_spawn_file_actions_addchdir_np (glibc 2.29) */

#include "common.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Longest wait between two looks at the child. */
#define SLICE_MS 20
/* After the child exits, at most this much more output is read (a process
 * it left behind may still hold the pipe and write). */
#define DRAIN_MAX (256 * 1024)

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

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
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
    const char *path = getenv("PATH");
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

typedef struct {
    char *data;
    size_t len, cap;
} keep_t;

/*
 * Reads what fd has now into k by h's rules, at most *budget bytes (counted
 * down). Returns 1 at EOF, 0 when it would block (or the budget is spent),
 * -EFBIG when h->keep_whole and more than keep_max came, or -errno.
 */
static int take(int fd, keep_t *k, const sk_helper_t *h, size_t *budget)
{
    char chunk[4096];
    int rc = 0;
    while (*budget > 0) {
        ssize_t n = read(fd, chunk, SK_MIN(sizeof(chunk), *budget));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n == 0 ? 1 : errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
            break;
        }
        *budget -= (size_t)n;
        size_t room = h->keep_max - k->len;
        if ((size_t)n > room && h->keep_whole) {
            rc = -EFBIG;
            break;
        }
        size_t t = SK_MIN((size_t)n, room);
        if (k->len + t + 1 > k->cap) {
            size_t ncap = SK_MAX(k->cap * 2, k->len + t + 1);
            char *nb = sk_xmalloc(ncap);
            if (k->len)
                memcpy(nb, k->data, k->len);
            sk_secret_wipe(k->data, k->cap); /* realloc would leave the old copy behind */
            free(k->data);
            k->data = nb;
            k->cap = ncap;
        }
        memcpy(k->data + k->len, chunk, t);
        k->len += t;
    }
    sk_secret_wipe(chunk, sizeof(chunk));
    return rc;
}

void sk_child_signal_defaults(sigset_t *set)
{
    static const int reset[] = {SIGPIPE, SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,
                                SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM};
    sigemptyset(set);
    for (size_t i = 0; i < SK_ARRAY_LEN(reset); i++)
        sigaddset(set, reset[i]);
}

/* The child's stdio and attributes; false when out of memory. */
static bool spawn_setup(const sk_helper_t *h, int in_fd, int keep_fd,
                        posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr)
{
    if (h->cwd && h->cwd[0])
        posix_spawn_file_actions_addchdir_np(fa, h->cwd);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(fa, in_fd, 0);
    else
        posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    /* The stream not kept is not shown (a secrets command could echo its
     * value on stderr). */
    posix_spawn_file_actions_adddup2(fa, keep_fd, h->keep_fd);
    posix_spawn_file_actions_addopen(fa, h->keep_fd == 1 ? 2 : 1, "/dev/null", O_WRONLY, 0);

    /* Its own process group (a timeout kills it all), no blocked signals,
     * default dispositions for what the daemon ignores or handles. */
    sigset_t none, defaults;
    sigemptyset(&none);
    sk_child_signal_defaults(&defaults);
    return posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF) == 0 &&
           posix_spawnattr_setpgroup(attr, 0) == 0 &&
           posix_spawnattr_setsigmask(attr, &none) == 0 &&
           posix_spawnattr_setsigdefault(attr, &defaults) == 0;
}

/* Feeds stdin, reads the kept stream and waits for pid until it exits or
 * the deadline passes. 0 with res's end and code set, or -EFBIG. */
static int supervise(const sk_helper_t *h, pid_t pid, int *in, int *out, keep_t *k,
                     sk_helper_result_t *res)
{
    const char *w = h->input;
    size_t left = h->input ? h->input_len : 0;
    if (left == 0)
        close_fd(in);
    int64_t deadline = mono_ms() + h->timeout_ms;
    size_t unlimited = SIZE_MAX;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno == ECHILD) {
            res->end = SK_HELPER_LOST; /* someone else reaped it */
            return 0;
        }
        int64_t now = mono_ms();
        if (now >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            res->end = SK_HELPER_TIMED_OUT;
            return 0;
        }
        struct pollfd p[2];
        nfds_t np = 0;
        int wi = -1, ri = -1;
        if (*in >= 0) {
            wi = (int)np;
            p[np++] = (struct pollfd){.fd = *in, .events = POLLOUT};
        }
        if (*out >= 0) {
            ri = (int)np;
            p[np++] = (struct pollfd){.fd = *out, .events = POLLIN};
        }
        /* With both pipes done, only the exit is awaited: poll is the sleep. */
        int wait = (int)SK_MIN(deadline - now, (int64_t)SLICE_MS);
        if (poll(p, np, wait) < 0) {
            if (errno != EINTR)
                (void)poll(NULL, 0, wait); /* ENOMEM: wait, then look again */
            continue;
        }
        if (wi >= 0 && p[wi].revents) {
            ssize_t n = write(*in, w, SK_MIN(left, (size_t)65536));
            if (n > 0) {
                w += n;
                left -= (size_t)n;
                if (left == 0)
                    close_fd(in); /* EOF: the command may now act */
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                close_fd(in); /* EPIPE: it does not read stdin; fine */
            }
        }
        if (ri >= 0 && p[ri].revents) {
            int t = take(*out, k, h, &unlimited);
            if (t == -EFBIG) {
                kill(-pid, SIGKILL);
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                    ;
                return -EFBIG;
            }
            if (t != 0)
                close_fd(out); /* EOF, or an error: nothing more to read */
        }
    }
    /* What it wrote just before it exited is in the pipe. */
    size_t budget = DRAIN_MAX;
    if (*out >= 0 && take(*out, k, h, &budget) == -EFBIG)
        return -EFBIG;
    res->end = WIFEXITED(status) ? SK_HELPER_EXITED : SK_HELPER_SIGNALED;
    res->code = WIFEXITED(status)     ? WEXITSTATUS(status)
                : WIFSIGNALED(status) ? WTERMSIG(status)
                                      : 0;
    return 0;
}

int sk_helper_run(const sk_helper_t *h, sk_helper_result_t *res, sk_err_t *err)
{
    extern char **environ;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    keep_t k = {0};
    char prog[PATH_MAX];
    pid_t pid;
    int rc;

    memset(res, 0, sizeof(*res));
    /* Both ends close-on-exec at once: a job spawned meanwhile by another
     * thread must not inherit them; our ends do not block. */
    if ((h->input && (pipe2(in, O_CLOEXEC) < 0 || fcntl(in[1], F_SETFL, O_NONBLOCK) < 0)) ||
        pipe2(out, O_CLOEXEC) < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        rc = sk_err_set(err, -errno, "cannot create a pipe: %s", strerror(errno));
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        in[i] = above_stdio(in[i]);
        out[i] = above_stdio(out[i]);
    }
    if ((h->input && (in[0] < 0 || in[1] < 0)) || out[0] < 0 || out[1] < 0) {
        rc = sk_err_set(err, -errno, "cannot create a pipe: %s", strerror(errno));
        goto out;
    }
    fa_ok = posix_spawn_file_actions_init(&fa) == 0;
    attr_ok = posix_spawnattr_init(&attr) == 0;
    if (!fa_ok || !attr_ok || !spawn_setup(h, in[0], out[1], &fa, &attr)) {
        rc = sk_err_set(err, -ENOMEM, "cannot start %s: out of memory", h->argv[0]);
        goto out;
    }
    if ((rc = find_program(h->argv[0], prog, sizeof(prog))) < 0) {
        sk_err_set(err, rc, "cannot run %s: %s", h->argv[0], strerror(-rc));
        goto out;
    }
    rc = posix_spawn(&pid, prog, &fa, &attr, h->argv, h->envp ? h->envp : environ);
    if (rc != 0) {
        rc = sk_err_set(err, -rc, "cannot run %s: %s", h->argv[0], strerror(rc));
        goto out;
    }
    close_fd(&in[0]);
    close_fd(&out[1]);
    rc = supervise(h, pid, &in[1], &out[0], &k, res);
    if (rc == -EFBIG)
        sk_err_set(err, -EFBIG, "%s printed more than %zu bytes: stopped", h->argv[0], h->keep_max);
out:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
    }
    if (rc == 0) {
        res->out = k.data ? k.data : sk_xmalloc(1);
        res->out[k.len] = '\0';
        res->out_len = k.len;
    } else {
        sk_secret_wipe(k.data, k.cap);
        free(k.data);
    }
    return rc;
}

int sk_capture_output(char *const *argv, const char *cwd, int64_t timeout_ms, size_t max,
                      char **ret, size_t *ret_len, sk_err_t *err)
{
    sk_helper_t h = {.argv = argv,
                     .cwd = cwd,
                     .keep_fd = 1,
                     .keep_max = max,
                     .keep_whole = true,
                     .timeout_ms = timeout_ms};
    sk_helper_result_t res;
    int rc = sk_helper_run(&h, &res, err);
    if (rc < 0)
        return rc;
    if (res.end == SK_HELPER_EXITED && res.code == 0) {
        *ret = res.out;
        *ret_len = res.out_len;
        return 0;
    }
    char dur[32];
    sk_duration_format(timeout_ms, dur, sizeof(dur));
    if (res.end == SK_HELPER_TIMED_OUT)
        rc = sk_err_set(err, -ETIMEDOUT, "%s did not finish within %s: stopped", argv[0], dur);
    else if (res.end == SK_HELPER_EXITED)
        rc = sk_err_set(err, SK_EPARSE, "%s exited with status %d", argv[0], res.code);
    else if (res.end == SK_HELPER_SIGNALED)
        rc = sk_err_set(err, SK_EPARSE, "%s was killed by signal %d", argv[0], res.code);
    else
        rc = sk_err_set(err, SK_EPARSE, "%s: its exit status was lost", argv[0]);
    sk_secret_wipe(res.out, res.out_len);
    free(res.out);
    return rc;
}
