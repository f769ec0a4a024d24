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

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (sk_streq(e->d_name, ".") || sk_streq(e->d_name, ".."))
                continue;
            char sub[PATH_MAX];
            sk_snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
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
     * dies instead of reporting errno, and libuv sees a successful spawn. */
    if (RUNNING_ON_VALGRIND)
        skip();
    /* Passes every check before the fork; execve itself fails. */
    char *prog = fmt(c, "%s/prog", c->dir);
    write_file(prog, "#!/nonexistent/interpreter\n", 0755);
    char *argv[] = {prog, NULL};
    sk_spawn_t spec = spec_for(c, argv);
    start_fails(c, &spec, -ENOENT, fmt(c, "cannot run %s: No such file or directory", prog));
}

static void test_bad_cwd_and_log(void **state)
{
    ctx_t *c = *state;
    char *argv[] = {"/bin/true", NULL};
    sk_spawn_t spec = spec_for(c, argv);
    spec.cwd = fmt(c, "%s/nowhere", c->dir);
    start_fails(c, &spec, -ENOENT, fmt(c, "working directory %s/nowhere", c->dir));
    spec.cwd = c->dir;
    spec.log_path = "/dev/null/sub/run.log";
    start_fails(c, &spec, -ENOTDIR, "log file /dev/null/sub/run.log");
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
        T(test_escaped_process_holding_pipe_does_not_hang_run),
        T(test_output_cap_with_marker),
        T(test_cap_mid_line_keeps_the_part),
        T(test_long_line_is_split),
        T(test_50mb_output_memory_stays_flat),
        T(test_concurrent_runs),
        T(test_missing_program),
        T(test_not_executable),
        T(test_missing_interpreter_fails_in_spawn),
        T(test_bad_cwd_and_log),
        T(test_proc_stop),
        T(test_proc_stop_then_kill_after_grace),
        T(test_log_write_error_is_reported),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
