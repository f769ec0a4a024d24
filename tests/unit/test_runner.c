/*
 * The runner (src/runner/): argv for each body kind, venv resolution with
 * fake interpreters in temporary folders, the child's environment, and real
 * children on a real loop: stamped log lines per stream, exit codes,
 * signals, timeouts that end in SIGTERM or SIGKILL, grandchildren that die
 * with the group, output caps and long lines, flat memory for 50 MB of
 * output, spawn failures, sk_proc_stop. Every test ends with
 * uv_loop_close() == 0 (checked in the teardown). Timing assertions are
 * lower bounds or generous upper bounds: the machine may be slow.
 */
#include "runner/runner.h"
#include "tz/tz.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "unit.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define MAX_ALLOCS 256
#define MAX_LINES 4096

typedef struct ctx {
    uv_loop_t loop;
    char dir[64]; /* a fresh temporary folder, removed by the teardown */
    char *allocs[MAX_ALLOCS];
    size_t nallocs;
    /* what the run callback saw */
    int calls;
    int cb_pid;
    sk_proc_result_t res;
    sk_proc_t *proc;
    /* log lines as "STREAM|TEXT", filled by read_log */
    char *lines[MAX_LINES];
    size_t nlines;
} ctx_t;

/* ---- helpers ---- */

static char *keep(ctx_t *c, char *s)
{
    SK_ASSERT(c->nallocs < MAX_ALLOCS);
    c->allocs[c->nallocs++] = s;
    return s;
}

static char *fmt(ctx_t *c, const char *f, ...) SK_PRINTF(2, 3);
static char *fmt(ctx_t *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = sk_xmalloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return keep(c, s);
}

static void mkdirs(const char *path)
{
    char *d = sk_xstrdup(path);
    for (char *q = d + 1; *q; q++) {
        if (*q == '/') {
            *q = '\0';
            mkdir(d, 0755);
            *q = '/';
        }
    }
    mkdir(d, 0755);
    free(d);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    char *d = sk_xstrdup(path);
    *strrchr(d, '/') = '\0';
    mkdirs(d);
    free(d);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

/* A stand-in interpreter at DIR/bin/python. */
static void fake_python(const char *dir, mode_t mode)
{
    char path[PATH_MAX];
    sk_snprintf(path, sizeof(path), "%s/bin/python", dir);
    write_file(path, "#!/bin/sh\nexit 0\n", mode);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Gone, or a zombie waiting for whoever adopted it to reap it. */
static bool pid_dead(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[512];
    sk_snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static bool wait_dead(pid_t pid, int ms)
{
    for (int waited = 0; waited < ms; waited += 20) {
        if (pid_dead(pid))
            return true;
        sleep_ms(20);
    }
    return pid_dead(pid);
}

static void assert_argv(char **argv, const char *const *want)
{
    size_t i = 0;
    for (; want[i]; i++) {
        assert_non_null(argv[i]);
        assert_string_equal(argv[i], want[i]);
    }
    assert_null(argv[i]);
}

/* The value of key in envp, or NULL; fails if key is there twice. */
static const char *env_get(char **envp, const char *key)
{
    const char *found = NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; envp[i]; i++) {
        if (strncmp(envp[i], key, klen) == 0 && envp[i][klen] == '=') {
            assert_null(found);
            found = envp[i] + klen + 1;
        }
    }
    return found;
}

/* ---- fixture ---- */

static int setup(void **state)
{
    ctx_t *c = sk_xcalloc(1, sizeof(*c));
    assert_int_equal(uv_loop_init(&c->loop), 0);
    sk_strlcpy(c->dir, "/tmp/sk-runner-XXXXXX", sizeof(c->dir));
    assert_non_null(mkdtemp(c->dir));
    alarm(180); /* a hung test fails instead of hanging the suite */
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx_t *c = *state;
    alarm(0);
    int r = uv_loop_close(&c->loop);
    rm_rf(c->dir);
    for (size_t i = 0; i < c->nallocs; i++)
        free(c->allocs[i]);
    free(c);
    assert_int_equal(r, 0);
    return 0;
}

/* ---- running ---- */

static char *const min_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL};

static void on_done(sk_proc_t *p, const sk_proc_result_t *res, void *data)
{
    ctx_t *c = data;
    c->calls++;
    c->cb_pid = sk_proc_pid(p);
    c->res = *res;
    sk_proc_stop(p); /* after the end: a no-op */
}

static sk_spawn_t spec_for(ctx_t *c, char *const *argv)
{
    sk_spawn_t s = {
        .argv = argv,
        .envp = min_env,
        .cwd = c->dir,
        .log_path = fmt(c, "%s/logs/job/1.log", c->dir),
        .max_output = 0,
        .timeout_ms = 0,
        .kill_grace_ms = 300,
    };
    return s;
}

/* Starts spec, runs the loop until nothing is left and checks that the
 * callback ran exactly once, for this process. */
static void run(ctx_t *c, const sk_spawn_t *spec)
{
    sk_err_t err;
    sk_err_clear(&err);
    int r = sk_proc_start(&c->loop, spec, on_done, c, &c->proc, &err);
    if (r != 0)
        print_error("sk_proc_start: %s\n", err.msg);
    assert_int_equal(r, 0);
    int pid = sk_proc_pid(c->proc);
    assert_true(pid > 0);
    assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->cb_pid, pid);
    assert_true(c->res.started_ms <= c->res.ended_ms);
}

static int64_t elapsed(const ctx_t *c)
{
    return c->res.ended_ms - c->res.started_ms;
}

/* Checks a log stamp "YYYY-MM-DDTHH:MM:SS.mmmZ" and returns its unix ms. */
static int64_t check_stamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd')
            assert_true(s[i] >= '0' && s[i] <= '9');
        else
            assert_int_equal(s[i], shape[i]);
    }
    sk_civil_t cv = {0};
    cv.year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    cv.month = (s[5] - '0') * 10 + (s[6] - '0');
    cv.day = (s[8] - '0') * 10 + (s[9] - '0');
    cv.hour = (s[11] - '0') * 10 + (s[12] - '0');
    cv.min = (s[14] - '0') * 10 + (s[15] - '0');
    cv.sec = (s[17] - '0') * 10 + (s[18] - '0');
    int ms = (s[20] - '0') * 100 + (s[21] - '0') * 10 + (s[22] - '0');
    return sk_civil_to_seconds(&cv) * 1000 + ms;
}

/* Reads the log into c->lines as "STREAM|TEXT", checking every line's
 * shape and that its stamp lies within the run (give or take 5 s). */
static void read_log(ctx_t *c, const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *buf = keep(c, sk_xmalloc((size_t)st.st_size + 1));
    assert_int_equal(read(fd, buf, (size_t)st.st_size), (ssize_t)st.st_size);
    close(fd);
    buf[st.st_size] = '\0';
    c->nlines = 0;
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl); /* every line is complete */
        *nl = '\0';
        int64_t t = check_stamp(line);
        assert_true(t >= c->res.started_ms - 5000 && t <= c->res.ended_ms + 5000);
        assert_int_equal(line[24], ' ');
        char *bar = strstr(line + 25, " | ");
        assert_non_null(bar);
        *bar = '|';
        memmove(bar + 1, bar + 3, strlen(bar + 3) + 1);
        SK_ASSERT(c->nlines < MAX_LINES);
        c->lines[c->nlines++] = line + 25;
        line = nl + 1;
    }
}

static bool has_line(const ctx_t *c, const char *want)
{
    for (size_t i = 0; i < c->nlines; i++)
        if (sk_streq(c->lines[i], want))
            return true;
    return false;
}

/* ---- argv ---- */

static void test_argv_python(void **state)
{
    ctx_t *c = *state;
    char *proj = fmt(c, "%s/proj", c->dir);
    write_file(fmt(c, "%s/scripts/job.py", proj), "print('hi')\n", 0644);
    fake_python(fmt(c, "%s/.venv", proj), 0755);
    char *args[] = {"--region", "eu", NULL};
    sk_body_t body = {
        .kind = SK_BODY_PYTHON, .target = "scripts/job.py", .args = args, .config_dir = proj};
    char **argv = NULL;
    sk_err_t err;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    const char *want[] = {fmt(c, "%s/.venv/bin/python", proj), fmt(c, "%s/scripts/job.py", proj),
                          "--region", "eu", NULL};
    assert_argv(argv, want);
    assert_int_equal(sk_strv_len(argv), 4);
    sk_strv_free(argv);

    /* A path with "." and ".." is cleaned; an absolute one is kept. */
    body.target = "./scripts/../scripts/job.py";
    body.args = NULL;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    assert_string_equal(argv[1], fmt(c, "%s/scripts/job.py", proj));
    assert_null(argv[2]);
    sk_strv_free(argv);
    body.target = fmt(c, "%s/scripts/job.py", proj);
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    assert_string_equal(argv[1], fmt(c, "%s/scripts/job.py", proj));
    sk_strv_free(argv);
}

static void test_argv_python_missing_script(void **state)
{
    ctx_t *c = *state;
    sk_body_t body = {.kind = SK_BODY_PYTHON, .target = "scripts/nope.py", .config_dir = c->dir};
    char **argv = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_runner_argv(&body, &argv, &err), -ENOENT);
    assert_null(argv);
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, fmt(c, "%s/scripts/nope.py", c->dir)));
    assert_non_null(strstr(err.msg, "No such file or directory"));
}

static void test_argv_module(void **state)
{
    ctx_t *c = *state;
    fake_python(fmt(c, "%s/envs/one", c->dir), 0755);
    char *args[] = {"a", NULL};
    sk_body_t body = {.kind = SK_BODY_MODULE,
                      .target = "pkg.mod",
                      .args = args,
                      .venv = "envs/one",
                      .config_dir = c->dir};
    char **argv = NULL;
    sk_err_t err;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    const char *want[] = {fmt(c, "%s/envs/one/bin/python", c->dir), "-m", "pkg.mod", "a", NULL};
    assert_argv(argv, want);
    sk_strv_free(argv);

    body.target = "";
    assert_int_equal(sk_runner_argv(&body, &argv, &err), -EINVAL);
}

static void test_argv_run(void **state)
{
    ctx_t *c = *state;
    char *run_argv[] = {"/bin/echo", "a b", NULL};
    char *args[] = {"c", NULL};
    sk_body_t body = {
        .kind = SK_BODY_RUN, .run_argv = run_argv, .args = args, .config_dir = c->dir};
    char **argv = NULL;
    sk_err_t err;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    const char *want[] = {"/bin/echo", "a b", "c", NULL};
    assert_argv(argv, want);
    sk_strv_free(argv);

    char *empty[] = {NULL};
    body.run_argv = empty;
    sk_err_clear(&err);
    assert_int_equal(sk_runner_argv(&body, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
    body.run_argv = NULL;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), -EINVAL);

    /* An explicit venv that does not exist is an error for any kind. */
    body.run_argv = run_argv;
    body.venv = "nowhere";
    assert_int_equal(sk_runner_argv(&body, &argv, &err), -ENOENT);
    assert_non_null(strstr(err.msg, fmt(c, "%s/nowhere/bin/python", c->dir)));
}

static void test_argv_shell(void **state)
{
    ctx_t *c = *state;
    sk_body_t body = {.kind = SK_BODY_SHELL, .target = "echo hi | wc -c", .config_dir = c->dir};
    char **argv = NULL;
    sk_err_t err;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    const char *want[] = {"/bin/sh", "-c", "echo hi | wc -c", NULL};
    assert_argv(argv, want);
    sk_strv_free(argv);

    /* Extra args become $1...; $0 is "sh". */
    char *args[] = {"x", "y z", NULL};
    body.args = args;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    const char *want2[] = {"/bin/sh", "-c", "echo hi | wc -c", "sh", "x", "y z", NULL};
    assert_argv(argv, want2);
    sk_strv_free(argv);

    body.target = NULL;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), -EINVAL);
}

static void test_cwd(void **state)
{
    ctx_t *c = *state;
    sk_body_t body = {.kind = SK_BODY_SHELL, .target = "true", .config_dir = c->dir};
    char *cwd = keep(c, sk_runner_cwd(&body));
    assert_string_equal(cwd, c->dir);
    body.cwd = "work/../data/";
    cwd = keep(c, sk_runner_cwd(&body));
    assert_string_equal(cwd, fmt(c, "%s/data", c->dir));
    body.cwd = "/srv";
    cwd = keep(c, sk_runner_cwd(&body));
    assert_string_equal(cwd, "/srv");
}

/* ---- venv resolution ---- */

static void test_venv_explicit(void **state)
{
    ctx_t *c = *state;
    write_file(fmt(c, "%s/job.py", c->dir), "", 0644);
    fake_python(fmt(c, "%s/v", c->dir), 0755);
    sk_body_t body = {
        .kind = SK_BODY_PYTHON, .target = "job.py", .venv = "v", .config_dir = c->dir};
    char *py = NULL;
    sk_err_t err;
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/v/bin/python", c->dir));

    /* Absolute. */
    body.venv = fmt(c, "%s/v", c->dir);
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/v/bin/python", c->dir));

    /* Missing: the error names the interpreter's path. */
    body.venv = "missing";
    py = NULL;
    sk_err_clear(&err);
    assert_int_equal(sk_runner_python(&body, &py, &err), -ENOENT);
    assert_null(py);
    assert_non_null(strstr(err.msg, fmt(c, "%s/missing/bin/python", c->dir)));
    assert_non_null(strstr(err.msg, "does not exist"));

    /* Present but not executable (even root needs an x bit). */
    fake_python(fmt(c, "%s/noexec", c->dir), 0644);
    body.venv = "noexec";
    sk_err_clear(&err);
    assert_int_equal(sk_runner_python(&body, &py, &err), -EACCES);
    assert_non_null(strstr(err.msg, fmt(c, "%s/noexec/bin/python", c->dir)));
    assert_non_null(strstr(err.msg, "not an executable"));

    /* An explicit venv wins over one beside the script. */
    fake_python(fmt(c, "%s/.venv", c->dir), 0755);
    body.venv = "v";
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/v/bin/python", c->dir));
}

static void test_venv_discovery(void **state)
{
    ctx_t *c = *state;
    char *proj = fmt(c, "%s/proj", c->dir);
    write_file(fmt(c, "%s/a/b/job.py", proj), "", 0644);
    sk_body_t body = {.kind = SK_BODY_PYTHON, .target = "a/b/job.py", .config_dir = proj};
    char *py = NULL;
    sk_err_t err;

    /* Above config_dir does not count: python3 from PATH. */
    fake_python(fmt(c, "%s/.venv", c->dir), 0755);
    sk_err_clear(&err);
    int r = sk_runner_python(&body, &py, &err);
    if (r == 0) {
        keep(c, py);
        assert_false(has_prefix(py, c->dir));
        assert_string_equal(strrchr(py, '/'), "/python3");
        assert_int_equal(access(py, X_OK), 0);
    } else {
        assert_int_equal(r, SK_ENOTFOUND); /* a machine without python3 */
        assert_non_null(strstr(err.msg, "python3"));
    }

    /* In config_dir itself, two levels up from the script. */
    fake_python(fmt(c, "%s/.venv", proj), 0755);
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/.venv/bin/python", proj));

    /* A nearer one, named venv, wins. */
    fake_python(fmt(c, "%s/a/venv", proj), 0755);
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/a/venv/bin/python", proj));

    /* One whose bin/python is not executable is passed over. */
    fake_python(fmt(c, "%s/a/b/venv", proj), 0644);
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/a/venv/bin/python", proj));

    /* Beside the script; .venv before venv in the same folder. */
    fake_python(fmt(c, "%s/a/b/.venv", proj), 0755);
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/a/b/.venv/bin/python", proj));
    fake_python(fmt(c, "%s/a/.venv", proj), 0755);
    body.target = "a/job2.py";
    assert_int_equal(sk_runner_python(&body, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/a/.venv/bin/python", proj));

    /* A module searches from its working folder up. */
    sk_body_t mod = {.kind = SK_BODY_MODULE, .target = "pkg", .cwd = "a/b", .config_dir = proj};
    assert_int_equal(sk_runner_python(&mod, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/a/b/.venv/bin/python", proj));
    mod.cwd = NULL;
    assert_int_equal(sk_runner_python(&mod, &py, &err), 0);
    assert_string_equal(keep(c, py), fmt(c, "%s/.venv/bin/python", proj));
}

/* ---- environment ---- */

static void test_env_contents(void **state)
{
    ctx_t *c = *state;
    char *run_argv[] = {"true", NULL};
    sk_kv_t env[] = {
        {"A", "1"}, {"LANG", "de_DE.UTF-8"}, {"A", "2"}, {"SKED_JOB", "evil"}, {"EMPTY", ""}};
    sk_body_t body = {.kind = SK_BODY_RUN,
                      .run_argv = run_argv,
                      .env = env,
                      .nenv = SK_ARRAY_LEN(env),
                      .config_dir = c->dir};
    sk_run_info_t info = {.job = "fetch",
                          .run_id = 42,
                          .attempt = 2,
                          .scheduled_at = 1772953200,
                          .tz_name = "Europe/Berlin"};
    char **envp = sk_runner_env(&body, &info);
    const char *path = getenv("PATH");
    assert_string_equal(env_get(envp, "PATH"),
                        path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin");
    assert_non_null(env_get(envp, "HOME"));
    assert_string_equal(env_get(envp, "LANG"), "de_DE.UTF-8");
    assert_string_equal(env_get(envp, "TZ"), "Europe/Berlin");
    assert_string_equal(env_get(envp, "PYTHONUNBUFFERED"), "1");
    assert_string_equal(env_get(envp, "A"), "2");
    assert_string_equal(env_get(envp, "EMPTY"), "");
    assert_string_equal(env_get(envp, "SKED_JOB"), "fetch");
    assert_string_equal(env_get(envp, "SKED_RUN_ID"), "42");
    assert_string_equal(env_get(envp, "SKED_ATTEMPT"), "2");
    assert_string_equal(env_get(envp, "SKED_SCHEDULED_AT"), "2026-03-08T07:00:00Z");
    assert_null(env_get(envp, "VIRTUAL_ENV"));
    /* Minimal: nothing else of the daemon's environment. */
    assert_int_equal(sk_strv_len(envp), 11);
    sk_strv_free(envp);

    /* Not scheduled: present and empty. Defaults for LANG. */
    body.nenv = 0;
    info.scheduled_at = 0;
    envp = sk_runner_env(&body, &info);
    assert_string_equal(env_get(envp, "SKED_SCHEDULED_AT"), "");
    const char *lang = getenv("LANG");
    assert_string_equal(env_get(envp, "LANG"), lang && lang[0] ? lang : "C.UTF-8");
    sk_strv_free(envp);
}

static void test_env_venv_activation(void **state)
{
    ctx_t *c = *state;
    write_file(fmt(c, "%s/job.py", c->dir), "", 0644);
    fake_python(fmt(c, "%s/.venv", c->dir), 0755);
    sk_body_t body = {.kind = SK_BODY_PYTHON, .target = "job.py", .config_dir = c->dir};
    sk_run_info_t info = {.job = "j", .run_id = 1, .attempt = 1, .tz_name = "UTC"};
    char **envp = sk_runner_env(&body, &info);
    assert_string_equal(env_get(envp, "VIRTUAL_ENV"), fmt(c, "%s/.venv", c->dir));
    assert_true(has_prefix(env_get(envp, "PATH"), fmt(c, "%s/.venv/bin:", c->dir)));
    sk_strv_free(envp);
}

/* ---- runs ---- */

static void test_run_log_lines(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "echo hello; echo oops >&2; echo; printf partial", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 0);
    assert_int_equal(c->res.signal, 0);
    assert_int_equal(c->res.output_bytes, 6 + 5 + 1 + 7);
    assert_false(c->res.truncated);
    assert_string_equal(c->res.reason, "");
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 4);
    assert_true(has_line(c, "out|hello"));
    assert_true(has_line(c, "err|oops"));
    assert_true(has_line(c, "out|"));
    assert_true(has_line(c, "out|partial")); /* flushed at EOF */

    /* Private: the file 0600, the folders made for it 0700. */
    struct stat st;
    assert_int_equal(stat(spec.log_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(fmt(c, "%s/logs/job", c->dir), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(fmt(c, "%s/logs", c->dir), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* A second run appends. */
    c->calls = 0;
    run(c, &spec);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 8);
}

static void test_run_env_and_cwd_reach_child(void **state)
{
    ctx_t *c = *state;
    char *run_argv[] = {"/bin/sh", "-c", "echo \"$SKED_JOB $SKED_ATTEMPT $TZ $A\"; pwd", NULL};
    sk_kv_t env[] = {{"A", "b c"}};
    sk_body_t body = {
        .kind = SK_BODY_RUN, .run_argv = run_argv, .env = env, .nenv = 1, .config_dir = c->dir};
    sk_run_info_t info = {.job = "fetch", .run_id = 7, .attempt = 3, .tz_name = "Asia/Tokyo"};
    char **envp = sk_runner_env(&body, &info);
    char **argv = NULL;
    sk_err_t err;
    assert_int_equal(sk_runner_argv(&body, &argv, &err), 0);
    mkdirs(fmt(c, "%s/work", c->dir));
    sk_spawn_t spec = spec_for(c, argv);
    spec.envp = envp;
    spec.cwd = fmt(c, "%s/work", c->dir);
    run(c, &spec);
    sk_strv_free(envp);
    sk_strv_free(argv);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    read_log(c, spec.log_path);
    assert_true(has_line(c, "out|fetch 3 Asia/Tokyo b c"));
    assert_true(has_line(c, fmt(c, "out|%s/work", c->dir)));
}

static void test_stdin_is_dev_null(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "cat; echo done", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.timeout_ms = 30000; /* a safety net: cat must see EOF at once */
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 1);
    assert_true(has_line(c, "out|done"));
}

static void test_exit_code_3(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 3);
    assert_int_equal(c->res.signal, 0);
    assert_int_equal(c->res.output_bytes, 0);
}

static void test_killed_by_own_signal(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "kill -SEGV $$", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_SIGNALED);
    assert_int_equal(c->res.signal, SIGSEGV);
    assert_int_equal(c->res.exit_code, -1);
}

static void test_timeout_sigterm(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"sleep", "30", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.timeout_ms = 200;
    spec.kill_grace_ms = 20000;
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_TIMED_OUT);
    assert_int_equal(c->res.signal, SIGTERM);
    assert_true(elapsed(c) >= 150);
    assert_true(elapsed(c) < 15000); /* SIGTERM did it, not the grace */
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 1);
    assert_string_equal(
        c->lines[0], fmt(c, "sked|timed out after 200ms: SIGTERM to process group %d", c->cb_pid));
}

static void test_timeout_ignores_term_ends_by_kill(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30; exit 0", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.timeout_ms = 200;
    spec.kill_grace_ms = 300;
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_TIMED_OUT);
    assert_int_equal(c->res.signal, SIGKILL);
    assert_int_equal(c->res.exit_code, -1);
    assert_true(elapsed(c) >= 400); /* timeout + grace, give or take a tick */
    assert_true(elapsed(c) < 20000);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 2);
    assert_string_equal(
        c->lines[0], fmt(c, "sked|timed out after 200ms: SIGTERM to process group %d", c->cb_pid));
    assert_string_equal(
        c->lines[1],
        fmt(c, "sked|still running 300ms after SIGTERM: SIGKILL to process group %d", c->cb_pid));
}

/* The background sleep's pid, which the scripts below print first. */
static pid_t printed_pid(ctx_t *c, const char *log_path)
{
    read_log(c, log_path);
    assert_true(c->nlines >= 1);
    assert_true(has_prefix(c->lines[0], "out|"));
    long pid = strtol(c->lines[0] + 4, NULL, 10);
    assert_true(pid > 1);
    return (pid_t)pid;
}

static void test_grandchild_dies_on_timeout(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "sleep 1000 & echo $!; sleep 1000", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.timeout_ms = 200;
    spec.kill_grace_ms = 300;
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_TIMED_OUT);
    assert_true(elapsed(c) < 20000);
    pid_t gpid = printed_pid(c, spec.log_path);
    assert_true(wait_dead(gpid, 10000));
}

static void test_background_process_dies_when_child_exits(void **state)
{
    ctx_t *c = *state;
    /* The sleep keeps stdout open: the run must not wait for it. */
    char *argv[] = {"/bin/sh", "-c", "sleep 1000 & echo $!; exit 0", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 0);
    assert_true(elapsed(c) < 20000);
    pid_t gpid = printed_pid(c, spec.log_path);
    assert_true(wait_dead(gpid, 10000));
    assert_true(
        has_line(c, fmt(c, "sked|the child exited: SIGKILL to what was left of process group %d",
                        c->cb_pid)));
}

/* The loop may see the child's exit before the data it wrote last: the log
 * still has the data first, then sked's line. A race, so tried many times
 * (before the fix, about one run in fifty had the lines swapped). */
static void test_output_comes_before_the_exit_note(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "sleep 1000 & echo last; exit 0", NULL};
    for (int i = 0; i < 60; i++) {
        sk_spawn_t spec = spec_for(c, argv);
        spec.log_path = fmt(c, "%s/logs/job/%d.log", c->dir, i + 2);
        c->calls = 0;
        run(c, &spec);
        read_log(c, spec.log_path);
        assert_int_equal(c->nlines, 2);
        assert_string_equal(c->lines[0], "out|last");
        assert_true(has_prefix(c->lines[1], "sked|the child exited: SIGKILL"));
    }
}

static bool on_path(const char *name)
{
    const char *dirs[] = {"/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"};
    for (size_t i = 0; i < SK_ARRAY_LEN(dirs); i++) {
        char p[256];
        sk_snprintf(p, sizeof(p), "%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return true;
    }
    return false;
}

static void test_escaped_process_holding_pipe_does_not_hang_run(void **state)
{
    ctx_t *c = *state;
    if (!on_path("setsid"))
        skip();
    /* A grandchild leaves the group (setsid) and keeps stdout open; the
     * run ends after the drain grace all the same. */
    char *pidfile = fmt(c, "%s/escaped.pid", c->dir);
    char *script = fmt(c,
                       "setsid sh -c 'echo $$ > %s; exec sleep 1000' & "
                       "while [ ! -s %s ]; do sleep 0.05; done; echo bye; exit 0",
                       pidfile, pidfile);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    sk_spawn_t spec = spec_for(c, argv);
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 0);
    assert_true(elapsed(c) >= 900); /* it did wait out the drain grace (1 s) */
    assert_true(elapsed(c) < 20000);
    read_log(c, spec.log_path);
    assert_true(has_line(c, "out|bye"));
    assert_true(has_prefix(c->lines[c->nlines - 1], "sked|output still open 1000ms after"));
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    assert_true(pid > 1);
    kill((pid_t)pid, SIGKILL); /* escaped the group: ours to clean up */
    assert_true(wait_dead((pid_t)pid, 10000));
}

static void test_output_cap_with_marker(void **state)
{
    ctx_t *c = *state;
    /* 1 MiB of 10-byte lines, 10 KiB kept. */
    char *argv[] = {"/bin/sh", "-c", "yes 123456789 | head -c 1048576", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.max_output = 10240;
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 0);
    assert_true(c->res.truncated);
    assert_int_equal(c->res.output_bytes, 1048576);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 1024 + 1);
    for (size_t i = 0; i < 1024; i++)
        assert_string_equal(c->lines[i], "out|123456789");
    assert_string_equal(c->lines[1024], "sked|... output truncated after 10240 bytes ...");
}

static void test_cap_mid_line_keeps_the_part(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "echo abcdefgh; echo ijklmnop", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.max_output = 12;
    run(c, &spec);
    assert_true(c->res.truncated);
    assert_int_equal(c->res.output_bytes, 18);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 3);
    assert_string_equal(c->lines[0], "out|abcdefgh");
    assert_string_equal(c->lines[1], "out|ijk");
    assert_string_equal(c->lines[2], "sked|... output truncated after 12 bytes ...");
}

static void test_long_line_is_split(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\000' a", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    run(c, &spec);
    assert_int_equal(c->res.output_bytes, 200000);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 4);
    size_t want[] = {65536, 65536, 65536, 200000 - 3 * 65536};
    for (size_t i = 0; i < 4; i++) {
        assert_true(has_prefix(c->lines[i], "out|"));
        assert_int_equal(strlen(c->lines[i] + 4), want[i]);
        assert_int_equal(strspn(c->lines[i] + 4, "a"), want[i]);
    }
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_50mb_output_memory_stays_flat(void **state)
{
    ctx_t *c = *state;
    /* 50 MiB in 101-byte lines, all of it to the log: nothing is held. */
    char *argv[] = {"/bin/sh", "-c", "yes \"$(printf %0100d 0)\" | head -c 52428800", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    long before = max_rss_kb();
    run(c, &spec);
    long after = max_rss_kb();
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.output_bytes, 52428800);
    assert_false(c->res.truncated);
    struct stat st;
    assert_int_equal(stat(spec.log_path, &st), 0);
    assert_true(st.st_size > 52428800);
    print_message("max RSS %ld KiB -> %ld KiB\n", before, after);
    assert_true(after - before < 20 * 1024);
}

static void test_concurrent_runs(void **state)
{
    ctx_t *c = *state;
    enum { N = 6 };
    char *argv[] = {"/bin/sh", "-c", "echo $$", NULL};
    sk_proc_t *procs[N];
    for (int i = 0; i < N; i++) {
        sk_spawn_t spec = spec_for(c, argv);
        spec.log_path = fmt(c, "%s/logs/many/%d.log", c->dir, i);
        sk_err_t err;
        assert_int_equal(sk_proc_start(&c->loop, &spec, on_done, c, &procs[i], &err), 0);
    }
    assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c->calls, N);
}

/* ---- spawn failures: an error, no callback ---- */

static void start_fails(ctx_t *c, sk_spawn_t *spec, int code, const char *msg)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_proc_t *p = NULL;
    int r = sk_proc_start(&c->loop, spec, on_done, c, &p, &err);
    assert_int_equal(r, code);
    assert_null(p);
    if (!has_prefix(err.msg, msg))
        print_error("message: %s\n", err.msg);
    assert_true(has_prefix(err.msg, msg));
    assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c->calls, 0);
}

static void test_missing_program(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/x/y", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    start_fails(c, &spec, -ENOENT, "cannot run /x/y: No such file or directory");
    char *argv2[] = {"sk-no-such-program", NULL};
    spec.argv = argv2;
    start_fails(c, &spec, -ENOENT, "cannot run sk-no-such-program: No such file or directory");
    /* Nothing was spawned, so no log either. */
    assert_int_not_equal(access(spec.log_path, F_OK), 0);
}

static void test_not_executable(void **state)
{
    ctx_t *c = *state;
    char *prog = fmt(c, "%s/prog.sh", c->dir);
    write_file(prog, "#!/bin/sh\necho hi\n", 0644);
    char *argv[] = {prog, NULL};
    sk_spawn_t spec = spec_for(c, argv);
    start_fails(c, &spec, -EACCES, fmt(c, "cannot run %s: Permission denied", prog));
    char *argv2[] = {c->dir, NULL};
    spec.argv = argv2;
    start_fails(c, &spec, -EISDIR, fmt(c, "cannot run %s: Is a directory", c->dir));
}

static void test_missing_interpreter_fails_in_spawn(void **state)
{
    ctx_t *c = *state;
    /* valgrind cannot survive a failed execve in a forked child: the child
     * dies instead of reporting errno, and the spawn looks successful. */
    if (RUNNING_ON_VALGRIND)
        skip();
    /* Passes every check before the fork; execve itself fails. */
    char *prog = fmt(c, "%s/prog", c->dir);
    write_file(prog, "#!/nonexistent/interpreter\n", 0755);
    char *argv[] = {prog, NULL};
    sk_spawn_t spec = spec_for(c, argv);
    start_fails(c, &spec, -ENOENT, fmt(c, "cannot run %s: No such file or directory", prog));
}

/* execvp ran a program without #! under /bin/sh; runs keep doing so. */
static void test_script_without_shebang_runs_under_sh(void **state)
{
    ctx_t *c = *state;
    /* The exec's ENOEXEC reaches us only when the child shares our memory
     * until its exec; valgrind turns that into a fork (as above). */
    if (RUNNING_ON_VALGRIND)
        skip();
    char *prog = fmt(c, "%s/plain", c->dir);
    write_file(prog, "echo \"plain $1\"\n", 0755);
    char *argv[] = {prog, "arg", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 0);
    read_log(c, spec.log_path);
    assert_true(has_line(c, "out|plain arg"));
}

/* The program is looked up on the child's PATH, not the daemon's. */
static void test_program_found_on_the_childs_path(void **state)
{
    ctx_t *c = *state;
    char *bin = fmt(c, "%s/own-bin", c->dir);
    mkdirs(bin);
    write_file(fmt(c, "%s/sk-only-here", bin), "#!/bin/sh\necho found\n", 0755);
    char *argv[] = {"sk-only-here", NULL};
    char *envp[] = {fmt(c, "PATH=%s:/usr/bin:/bin", bin), NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.envp = envp;
    run(c, &spec);
    assert_int_equal(c->res.exit_code, 0);
    read_log(c, spec.log_path);
    assert_true(has_line(c, "out|found"));
}

static void test_bad_cwd(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/true", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.cwd = fmt(c, "%s/nowhere", c->dir);
    start_fails(c, &spec, -ENOENT, fmt(c, "working directory %s/nowhere", c->dir));
}

/* The log is made at the first line: a run that prints nothing leaves no
 * file (nor folder), and one whose log cannot be made runs, says why in its
 * reason and loses only its output. */
static void test_log_made_at_the_first_line(void **state)
{
    ctx_t *c = *state;
    char *quiet[] = {"/bin/true", NULL};
    sk_spawn_t spec = spec_for(c, quiet);
    spec.log_path = fmt(c, "%s/logs/quiet/1.log", c->dir);
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 0);
    assert_string_equal(c->res.reason, "");
    assert_int_not_equal(access(fmt(c, "%s/logs/quiet", c->dir), F_OK), 0);

    char *talk[] = {"/bin/sh", "-c", "echo hi; exit 4", NULL};
    spec = spec_for(c, talk);
    spec.log_path = "/dev/null/sub/run.log";
    c->calls = 0;
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 4);
    assert_int_equal(c->res.output_bytes, 3);
    assert_true(has_prefix(c->res.reason, "log file /dev/null/sub/run.log"));
}

/* ---- stopping and log errors ---- */

static void stop_soon(uv_timer_t *t)
{
    ctx_t *c = t->data;
    sk_proc_stop(c->proc);
    sk_proc_stop(c->proc); /* idempotent */
    uv_close((uv_handle_t *)t, NULL);
}

static void test_proc_stop(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"sleep", "30", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.kill_grace_ms = 20000;
    sk_err_t err;
    assert_int_equal(sk_proc_start(&c->loop, &spec, on_done, c, &c->proc, &err), 0);
    uv_timer_t t;
    uv_timer_init(&c->loop, &t);
    t.data = c;
    uv_timer_start(&t, stop_soon, 100, 0);
    assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->res.end, SK_PROC_KILLED);
    assert_int_equal(c->res.signal, SIGTERM);
    assert_true(elapsed(c) < 15000);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 1);
    assert_string_equal(c->lines[0],
                        fmt(c, "sked|stopped: SIGTERM to process group %d", c->cb_pid));
}

static void test_proc_stop_then_kill_after_grace(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30; exit 0", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.kill_grace_ms = 300;
    spec.timeout_ms = 60000; /* stop comes first and decides the outcome */
    sk_err_t err;
    assert_int_equal(sk_proc_start(&c->loop, &spec, on_done, c, &c->proc, &err), 0);
    uv_timer_t t;
    uv_timer_init(&c->loop, &t);
    t.data = c;
    uv_timer_start(&t, stop_soon, 100, 0);
    assert_int_equal(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->res.end, SK_PROC_KILLED);
    assert_int_equal(c->res.signal, SIGKILL);
    assert_true(elapsed(c) >= 300);
    assert_true(elapsed(c) < 20000);
}

static void test_log_write_error_is_reported(void **state)
{
    ctx_t *c = *state;
    if (access("/dev/full", W_OK) != 0)
        skip();
    char *argv[] = {"/bin/sh", "-c", "echo one; echo two; exit 4", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.log_path = "/dev/full"; /* every write: ENOSPC */
    run(c, &spec);
    assert_int_equal(c->res.end, SK_PROC_EXITED);
    assert_int_equal(c->res.exit_code, 4);
    assert_int_equal(c->res.output_bytes, 8);
    assert_non_null(strstr(c->res.reason, "/dev/full"));
    assert_non_null(strstr(c->res.reason, "No space left on device"));
}

/* ---- masking secrets ---- */

static void to_buf(void *data, const char *text, size_t len)
{
    assert_true(len > 0);
    sk_buf_add(data, text, len);
}

/* in through a stream of m, fed in pieces of `piece` bytes (0: whole; -1:
 * pieces of pseudo-random sizes). New memory. */
static char *masked(const sk_mask_t *m, const char *in, long piece)
{
    sk_buf_t b = {0};
    sk_buf_add(&b, "", 0);
    sk_mask_stream_t *s = sk_mask_stream_new(m);
    size_t n = strlen(in), off = 0;
    unsigned seed = 12345;
    while (off < n) {
        size_t take = n - off;
        if (piece > 0)
            take = SK_MIN(take, (size_t)piece);
        else if (piece < 0) {
            seed = seed * 1103515245u + 12345u;
            take = SK_MIN(take, (size_t)(seed >> 16) % 7 + 1);
        }
        sk_mask_stream_feed(s, in + off, take, to_buf, &b);
        off += take;
    }
    sk_mask_stream_end(s, to_buf, &b);
    sk_mask_stream_free(s);
    return sk_buf_take(&b, NULL);
}

static void test_mask_table(void **state)
{
    (void)state;
    static const struct {
        const char *secrets[4];
        const char *urls; /* text whose URL passwords are masked, or NULL */
        const char *in, *want;
    } cases[] = {
        {{"hunter22"}, NULL, "pw is hunter22.", "pw is ***."},
        {{"hunter22"}, NULL, "hunter22hunter22 and hunter22", "*** and ***"},
        /* a prefix at the end is not the secret; a near miss neither */
        {{"hunter22"}, NULL, "the end: hunt", "the end: hunt"},
        {{"hunter22"}, NULL, "hunter2hunter22", "hunter2***"},
        /* the longest first, and one that contains another */
        {{"secret", "my-secret-value"}, NULL, "a my-secret-value b secret c", "a *** b *** c"},
        {{"my-secret-value", "secret"}, NULL, "a my-secret-value b secret c", "a *** b *** c"},
        /* overlapping secrets are masked as one */
        {{"abcd", "bcdefgh"}, NULL, "xabcdefghy", "x***y"},
        {{"aaaa", "bbbb"}, NULL, "aaaabbbb", "***"},
        {{"abab"}, NULL, "ababababx", "***x"},
        /* too short to mask: ignored (the configuration refuses it) */
        {{"abc"}, NULL, "abc abc", "abc abc"},
        /* a value of several lines: whole, and each line */
        {{"line-one\nline-two"}, NULL, "x line-one\nline-two y", "x *** y"},
        {{"line-one\r\nline-two"}, NULL, "x line-two y", "x *** y"},
        /* URL passwords: long ones anywhere, short ones in their URL */
        {{NULL},
         "postgres://app:pw@db.example/x",
         "conn postgres://app:pw@db.example/x pw",
         "conn postgres://app:***@db.example/x pw"},
        {{NULL},
         "redis://u:Sw0rdf1sh%21@h/0",
         "Sw0rdf1sh! Sw0rdf1sh%21 redis://u:Sw0rdf1sh%21@h",
         "*** *** redis://u:***@h"},
        {{NULL},
         "https://example.com/a?b=c user@host a:b",
         "https://example.com/a?b=c",
         "https://example.com/a?b=c"},
        {{"tok-1234"}, "x://k:tok-1234@h", "k:tok-1234@h", "k:***@h"},
    };
    static const long pieces[] = {0, 1, 2, 3, 5, -1};
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        sk_mask_t *m = sk_mask_new();
        for (size_t k = 0; k < 4 && cases[i].secrets[k]; k++)
            sk_mask_add(m, cases[i].secrets[k], strlen(cases[i].secrets[k]));
        if (cases[i].urls)
            sk_mask_add_urls(m, cases[i].urls);
        for (size_t p = 0; p < SK_ARRAY_LEN(pieces); p++) {
            char *got = masked(m, cases[i].in, pieces[p]);
            if (strcmp(got, cases[i].want) != 0) {
                print_error("case %zu, pieces %ld: [%s] -> [%s], want [%s]\n", i, pieces[p],
                            cases[i].in, got, cases[i].want);
                nfail++;
            }
            free(got);
        }
        /* Every cut of the input into two feeds gives the same. */
        size_t n = strlen(cases[i].in);
        for (size_t cut = 0; cut <= n; cut++) {
            sk_buf_t b = {0};
            sk_buf_add(&b, "", 0);
            sk_mask_stream_t *s = sk_mask_stream_new(m);
            sk_mask_stream_feed(s, cases[i].in, cut, to_buf, &b);
            sk_mask_stream_feed(s, cases[i].in + cut, n - cut, to_buf, &b);
            sk_mask_stream_end(s, to_buf, &b);
            sk_mask_stream_free(s);
            if (strcmp(b.data, cases[i].want) != 0) {
                print_error("case %zu, cut at %zu: got [%s]\n", i, cut, b.data);
                nfail++;
            }
            free(b.data);
        }
        char *str = sk_mask_string(m, cases[i].in);
        if (strcmp(str, cases[i].want) != 0)
            nfail++;
        free(str);
        sk_mask_free(m);
    }
    assert_int_equal(nfail, 0);
    assert_true(sk_mask_empty(NULL));
    sk_mask_free(NULL);
    sk_mask_stream_free(NULL);
}

/* The filter against the obvious definition (mark every occurrence of
 * every secret, overlapping ones too; write each run of marked bytes as
 * "***"), on random text over three letters, where secrets overlap,
 * contain each other and recur all the time, fed in random pieces. Also
 * many secrets at once (the index grows, buckets collide). */
static void test_mask_matches_the_definition(void **state)
{
    (void)state;
    unsigned seed = 42;
#define RND() ((seed = seed * 1103515245u + 12345u) >> 16)
    for (int round = 0; round < 300; round++) {
        size_t nsec = 1 + RND() % (round < 250 ? 5 : 400);
        char **sec = sk_xcalloc(nsec, sizeof(*sec));
        sk_mask_t *m = sk_mask_new();
        for (size_t k = 0; k < nsec; k++) {
            size_t len = 4 + RND() % (round < 250 ? 5 : 12);
            sec[k] = sk_xmalloc(len + 1);
            for (size_t i = 0; i < len; i++)
                sec[k][i] = (char)('a' + RND() % 3);
            sec[k][len] = '\0';
            sk_mask_add(m, sec[k], len);
        }
        char in[301];
        size_t n = RND() % 300;
        for (size_t i = 0; i < n; i++)
            in[i] = (char)('a' + RND() % 3);
        in[n] = '\0';
        bool cov[300] = {false};
        for (size_t k = 0; k < nsec; k++) {
            size_t len = strlen(sec[k]);
            for (size_t i = 0; i + len <= n; i++)
                if (memcmp(in + i, sec[k], len) == 0)
                    for (size_t j = i; j < i + len; j++)
                        cov[j] = true;
        }
        sk_buf_t want = {0};
        sk_buf_add(&want, "", 0);
        for (size_t i = 0; i < n; i++) {
            if (!cov[i])
                sk_buf_add(&want, in + i, 1);
            else if (i == 0 || !cov[i - 1])
                sk_buf_adds(&want, "***");
        }
        char *got = masked(m, in, -1);
        if (strcmp(got, want.data) != 0)
            fail_msg("round %d: [%s] -> [%s], want [%s]", round, in, got, want.data);
        free(got);
        free(want.data);
        for (size_t k = 0; k < nsec; k++)
            free(sec[k]);
        free(sec);
        sk_mask_free(m);
    }
#undef RND
}

/* A secret longer than a pattern is masked in pieces; printed whole, it is
 * masked whole. The stream holds back less than a pattern meanwhile. */
static void test_mask_long_secret(void **state)
{
    (void)state;
    size_t n = 3 * SK_MASK_PATTERN_MAX + 100;
    char *secret = sk_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        secret[i] = (char)('a' + (i * 7 + i / 26) % 26);
    secret[n] = '\0';
    sk_mask_t *m = sk_mask_new();
    sk_mask_add(m, secret, n);
    sk_buf_t in = {0};
    sk_buf_printf(&in, "<%s>", secret);
    for (long piece = 1; piece <= 4097; piece += 1024) {
        char *got = masked(m, in.data, piece);
        assert_string_equal(got, "<***>");
        free(got);
    }
    free(in.data);
    sk_mask_free(m);
    sk_secret_wipe(secret, n);
    free(secret);
}

/* Output that only ever looks like the start of a secret is not held back
 * beyond the pattern's length: every byte comes out. */
static void test_mask_stream_holds_little(void **state)
{
    (void)state;
    sk_mask_t *m = sk_mask_new();
    sk_mask_add(m, "aaaaaaab", 8);
    sk_buf_t b = {0};
    sk_buf_add(&b, "", 0);
    sk_mask_stream_t *s = sk_mask_stream_new(m);
    char chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    for (int i = 0; i < 1000; i++) {
        sk_mask_stream_feed(s, chunk, sizeof(chunk), to_buf, &b);
        assert_true(b.len + 7 >= (size_t)(i + 1) * sizeof(chunk)); /* at most 7 held */
    }
    sk_mask_stream_drop(s);
    assert_int_equal(b.len, 1000 * sizeof(chunk) - 7);
    sk_mask_stream_free(s);
    free(b.data);
    sk_mask_free(m);
}

static void test_url_mask(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"postgres://app:pw@db/x", "postgres://app:***@db/x"},
        {"a https://u:p%40ss@h:5432/db?x=1 b ftp://v:w@k",
         "a https://u:***@h:5432/db?x=1 b ftp://v:***@k"},
        {"https://h/x user:pw@host", "https://h/x user:pw@host"},
        {"smtp://user@host", "smtp://user@host"},
        {"x://:@h", "x://:@h"},
        {"s3://k:a@b@host/p", "s3://k:***@host/p"},
        {"", ""},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        char *got = sk_url_mask(cases[i][0]);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
}

static char *const secret_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "S=hunter22-secret",
                                   "DB_URL=postgres://app:pw@db.example/x", NULL};
static char *const secret_list[] = {"hunter22-secret", NULL};

/* A secret that the child writes in two pieces, with a pause between (two
 * reads of the pipe), and on stderr too. */
static void test_run_log_masks_secret_split_across_reads(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c",
                    "printf 'a hun'; sleep 0.3; printf 'ter22-secret b\\n'; echo \"$S\" >&2; "
                    "echo \"$DB_URL\"",
                    NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.envp = secret_env;
    spec.masked = secret_list;
    run(c, &spec);
    assert_int_equal(c->res.exit_code, 0);
    read_log(c, spec.log_path);
    assert_true(has_line(c, "out|a *** b"));
    assert_true(has_line(c, "err|***"));
    assert_true(has_line(c, "out|postgres://app:***@db.example/x"));
    assert_int_equal(c->nlines, 3);
}

/* A line longer than SK_RUNNER_LINE_MAX is cut into log lines; a secret
 * where it is cut is masked whole (masking comes before the cut). */
static void test_run_log_masks_secret_where_a_long_line_is_cut(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c",
                    "head -c 65535 /dev/zero | tr '\\000' x; printf %s \"$S\"; echo", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.envp = secret_env;
    spec.masked = secret_list;
    run(c, &spec);
    read_log(c, spec.log_path);
    assert_int_equal(c->nlines, 2);
    sk_buf_t all = {0};
    sk_buf_adds(&all, c->lines[0] + 4);
    sk_buf_adds(&all, c->lines[1] + 4);
    assert_int_equal(all.len, 65535 + 3);
    assert_int_equal(strspn(all.data, "x"), 65535);
    assert_string_equal(all.data + 65535, "***");
    free(all.data);
}

/* The cap counts what is written: a secret is never cut in half by it. */
static void test_output_cap_never_writes_part_of_a_secret(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/sh", "-c", "printf 'abcdefgh-%s-and more' \"$S\"", NULL};
    for (int64_t cap = 8; cap <= 14; cap++) {
        sk_spawn_t spec = spec_for(c, argv);
        spec.envp = secret_env;
        spec.masked = secret_list;
        spec.max_output = cap;
        spec.log_path = fmt(c, "%s/logs/job/cap%d.log", c->dir, (int)cap);
        c->calls = 0;
        run(c, &spec);
        assert_true(c->res.truncated);
        read_log(c, spec.log_path);
        for (size_t i = 0; i < c->nlines; i++) {
            assert_null(strstr(c->lines[i], "hunt"));
            assert_null(strstr(c->lines[i], "secret"));
        }
    }
}

static void test_spawn_error_is_masked(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/nonexistent/hunter22-secret/prog", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.masked = secret_list;
    sk_err_t err;
    sk_err_clear(&err);
    assert_true(sk_proc_start(&c->loop, &spec, on_done, c, &c->proc, &err) < 0);
    assert_null(strstr(err.msg, "hunter22"));
    assert_non_null(strstr(err.msg, "/nonexistent/***/prog"));
    uv_run(&c->loop, UV_RUN_DEFAULT);
}

/* ---- capturing a helper's output (secrets: commands) ---- */

static void test_capture(void **state)
{
    ctx_t *c = *state;
    char *out = NULL;
    size_t len = 0;
    sk_err_t err;
    sk_err_clear(&err);
    char *ok[] = {"sh", "-c", "printf 'the-value\\n'; echo noise >&2; pwd", NULL};
    assert_int_equal(sk_capture_output(ok, c->dir, 10000, 4096, &out, &len, &err), 0);
    char *want = fmt(c, "the-value\n%s\n", c->dir);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);

    char *fails[] = {"sh", "-c", "echo the-output; exit 3", NULL};
    assert_true(sk_capture_output(fails, NULL, 10000, 4096, &out, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "sh exited with status 3"));
    assert_null(strstr(err.msg, "the-output"));

    char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
    assert_true(sk_capture_output(killed, NULL, 10000, 4096, &out, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "killed by signal 9"));

    char *slow[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    assert_true(sk_capture_output(slow, NULL, 300, 4096, &out, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "did not finish within 300ms"));

    char *loud[] = {"sh", "-c", "yes", NULL};
    assert_true(sk_capture_output(loud, NULL, 10000, 4096, &out, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "more than 4096 bytes"));

    char *missing[] = {"no-such-program-sked", NULL};
    assert_true(sk_capture_output(missing, NULL, 10000, 4096, &out, &len, &err) < 0);
    assert_non_null(strstr(err.msg, "no-such-program-sked"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_argv_python),
        T(test_argv_python_missing_script),
        T(test_argv_module),
        T(test_argv_run),
        T(test_argv_shell),
        T(test_cwd),
        T(test_venv_explicit),
        T(test_venv_discovery),
        T(test_env_contents),
        T(test_env_venv_activation),
        T(test_run_log_lines),
        T(test_run_env_and_cwd_reach_child),
        T(test_stdin_is_dev_null),
        T(test_exit_code_3),
        T(test_killed_by_own_signal),
        T(test_timeout_sigterm),
        T(test_timeout_ignores_term_ends_by_kill),
        T(test_grandchild_dies_on_timeout),
        T(test_background_process_dies_when_child_exits),
        T(test_output_comes_before_the_exit_note),
        T(test_escaped_process_holding_pipe_does_not_hang_run),
        T(test_output_cap_with_marker),
        T(test_cap_mid_line_keeps_the_part),
        T(test_long_line_is_split),
        T(test_50mb_output_memory_stays_flat),
        T(test_concurrent_runs),
        T(test_missing_program),
        T(test_not_executable),
        T(test_missing_interpreter_fails_in_spawn),
        T(test_script_without_shebang_runs_under_sh),
        T(test_program_found_on_the_childs_path),
        T(test_bad_cwd),
        T(test_log_made_at_the_first_line),
        T(test_proc_stop),
        T(test_proc_stop_then_kill_after_grace),
        T(test_log_write_error_is_reported),
        T(test_mask_table),
        T(test_mask_matches_the_definition),
        T(test_mask_long_secret),
        T(test_mask_stream_holds_little),
        T(test_url_mask),
        T(test_run_log_masks_secret_split_across_reads),
        T(test_run_log_masks_secret_where_a_long_line_is_cut),
        T(test_output_cap_never_writes_part_of_a_secret),
        T(test_spawn_error_is_masked),
        T(test_capture),
#undef T
    };
    /* SKED_TEST_FILTER=NAME runs one test (a glob), e.g. to repeat it. */
    if (getenv("SKED_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SKED_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
