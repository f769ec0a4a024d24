/*
 * The configuration loader (src/config/): a table of bad files, each with
 * the line, column, key path and message of its first error; good files and
 * the values they produce (built-in defaults, defaults:, env_file, paths);
 * digests; the caps (size, depth, aliases, error count); error printing with
 * the caret; and the helpers (sizes, word splitting, env files, edit
 * distance). Files are written to a fresh temporary folder per test.
 */
#include "config/config_int.h"
#include "runner/runner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#define ROW_FAIL(nfail, ...) (print_error(__VA_ARGS__), print_error("\n"), (nfail)++)
#define MIB (1024LL * 1024)

/* -------------------------------------------------------------------------------------------- */
/* A temporary folder with a few files the configurations refer to. */

typedef struct fixture {
    char dir[64];
    char yaml[128];
    sk_tz_cache_t *tzc;
    sk_errs_t errs;
    sk_config_t *cfg;
} fixture_t;

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[256];
    sk_snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void make_dir(const char *dir, const char *name)
{
    char path[256];
    sk_snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
    fixture_t *fx = sk_xcalloc(1, sizeof(*fx));
    sk_strlcpy(fx->dir, "/tmp/sked-test-config-XXXXXX", sizeof(fx->dir));
    if (!mkdtemp(fx->dir))
        return -1;
    sk_snprintf(fx->yaml, sizeof(fx->yaml), "%s/sked.yaml", fx->dir);
    make_dir(fx->dir, "scripts");
    make_dir(fx->dir, "work");
    make_dir(fx->dir, "venv");
    make_dir(fx->dir, "venv/bin");
    make_dir(fx->dir, "novenv");
    write_file(fx->dir, "scripts/job.py", "print('hi')\n", 0644);
    write_file(fx->dir, "venv/bin/python", "#!/bin/sh\n", 0755);
    write_file(fx->dir, "secret.env",
               "# the job's secrets\n"
               "API_TOKEN=abc123\n"
               "export DB_URL = \"postgres://u:p@h/db\"\n"
               "\n"
               "QUOTED='a b # c'\n"
               "ESC=\"x\\ny\"\n",
               0600);
    write_file(fx->dir, "open.env", "A=1\n", 0644);
    write_file(fx->dir, "broken.env", "A=1\nthis is not a pair\n", 0600);
    fx->tzc = sk_tz_cache_new(NULL);
    sk_errs_init(&fx->errs);
    *state = fx;
    return 0;
}

static void rm_tree(const char *dir)
{
    static const char *const files[] = {
        "sked.yaml", "scripts/job.py", "venv/bin/python", "secret.env", "open.env", "broken.env",
    };
    static const char *const dirs[] = {"scripts", "work", "venv/bin", "venv", "novenv"};
    char path[256];
    for (size_t i = 0; i < SK_ARRAY_LEN(files); i++) {
        sk_snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(dirs); i++) {
        sk_snprintf(path, sizeof(path), "%s/%s", dir, dirs[i]);
        rmdir(path);
    }
    rmdir(dir);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    sk_config_unref(fx->cfg);
    sk_errs_release(&fx->errs);
    sk_tz_cache_free(fx->tzc);
    rm_tree(fx->dir);
    free(fx);
    return 0;
}

/* Writes text as sked.yaml and loads it; returns sk_config_load's result. */
static int load(fixture_t *fx, const char *text)
{
    sk_config_unref(fx->cfg);
    fx->cfg = NULL;
    sk_errs_release(&fx->errs);
    sk_errs_init(&fx->errs);
    write_file(fx->dir, "sked.yaml", text, 0644);
    return sk_config_load(fx->yaml, fx->tzc, &fx->cfg, &fx->errs);
}

/* Loads text that must be valid; fails the test with the errors otherwise. */
static const sk_config_t *load_ok(fixture_t *fx, const char *text)
{
    if (load(fx, text) < 0) {
        for (size_t i = 0; i < fx->errs.n; i++)
            print_error("%d:%d: %s: %s\n", fx->errs.items[i].line, fx->errs.items[i].col,
                        fx->errs.items[i].path, fx->errs.items[i].msg);
        fail_msg("a valid configuration was rejected");
    }
    return fx->cfg;
}

static const sk_job_cfg_t *job(fixture_t *fx, const char *name)
{
    const sk_job_cfg_t *j = sk_config_job(fx->cfg, name);
    if (!j)
        fail_msg("no job %s", name);
    return j;
}

/* -------------------------------------------------------------------------------------------- */
/* Bad files: the first error's place, path and message. */

typedef struct bad_case {
    const char *yaml;
    int line, col;
    const char *path;
    const char *msg; /* a part of the message */
    size_t nerr;     /* how many errors in all */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    /* YAML itself */
    {"jobs:\n  a: {run: x\n  b: 1\n", 3, 4, "", "did not find expected ',' or '}'", 1},
    {"jobs:\n  a:\n    run: \"abc\n", 3, 10, "", "quoted scalar that starts here", 1},
    {"jobs:\n\ta: 1\n", 2, 1, "", "a tab character here; YAML indents with spaces only", 1},
    {"jobs: {}\n---\njobs: {}\n", 2, 1, "", "only one YAML document", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: */5 * * * *\n", 4, 15, "",
     "an unquoted * starts an alias; quote a value that starts with *", 1},
    {"jobs:\n  a: *nope\n", 2, 6, "jobs.a", "unknown alias *nope", 1},
    {"jobs:\n  a: &x [*x]\n", 2, 10, "jobs.a[0]", "unknown alias *x", 1},
    {"- a\n- b\n", 1, 1, "", "expected a mapping of settings", 1},
    {"just text\n", 1, 1, "", "got \"just text\"", 1},
    {"jobs:\n  a:\n    run: x\n    run: y\n", 4, 5, "jobs.a.run",
     "duplicate key \"run\" (first given at line 3)", 1},
    {"jobs:\n  a: {run: x}\n  a: {run: y}\n", 3, 3, "jobs.a", "duplicate key \"a\"", 1},
    {"jobs:\n  [a]: {run: x}\n", 2, 3, "jobs", "a key must be a plain string, not a list", 1},
    {"jobs:\n  a:\n    run: \"x\\0y\"\n", 3, 10, "jobs.a.run", "NUL character", 1},
    /* top-level keys */
    {"job:\n  a: {run: x}\n", 1, 1, "job", "unknown key \"job\" (did you mean \"jobs\"?)", 1},
    {"schedule: \"* * * * *\"\n", 1, 1, "schedule",
     "unknown key \"schedule\" at the top level (job settings go under jobs.NAME or defaults)", 1},
    {"frobnicate: 1\n", 1, 1, "frobnicate", "unknown key \"frobnicate\"", 1},
    {"<<: {a: 1}\n", 1, 1, "<<", "merge keys (<<) are not supported", 1},
    {"timezone: Mars/Olympus\n", 1, 11, "timezone", "unknown time zone \"Mars/Olympus\"", 1},
    {"timezone: [UTC]\n", 1, 11, "timezone", "expected a zone name like Europe/Berlin, got a list",
     1},
    {"state_dir: {a: 1}\n", 1, 12, "state_dir", "expected a path, got a mapping", 1},
    {"store: mysql://x/y\n", 1, 8, "store", "unsupported store \"mysql://\"", 1},
    {"max_parallel: 0\n", 1, 15, "max_parallel", "0 is out of range 1-10000", 1},
    {"max_parallel: lots\n", 1, 15, "max_parallel", "expected a whole number, got \"lots\"", 1},
    {"jobs: [a, b]\n", 1, 7, "jobs", "expected a mapping from job names to jobs", 1},
    {"defaults: 5\n", 1, 11, "defaults", "expected a mapping of job settings, got \"5\"", 1},
    /* job names and shapes */
    {"jobs:\n  my job: {run: x}\n", 2, 3, "jobs.my job", "job name \"my job\" must be", 1},
    {"jobs:\n  ..: {run: x}\n", 2, 3, "jobs...", "not starting with '.' or '-'", 1},
    {"jobs:\n  -x: {run: x}\n", 2, 3, "jobs.-x", "job name", 1},
    {"jobs:\n  "
     "a234567890123456789012345678901234567890123456789012345678901234x: {run: x}\n",
     2, 3, NULL, "must be 1-64", 1},
    {"jobs:\n  a: [run, x]\n", 2, 6, "jobs.a", "expected a mapping of job settings, got a list", 1},
    {"jobs:\n  a:\n", 2, 3, "jobs.a", "job \"a\" has nothing to run", 1},
    {"jobs:\n  a: {every: 5m}\n", 2, 3, "jobs.a",
     "has nothing to run: give one of python, module, run or shell", 1},
    {"jobs:\n  a:\n    run: x\n    shedule: \"* * * * *\"\n", 4, 5, "jobs.a.shedule",
     "unknown key \"shedule\" (did you mean \"schedule\"?)", 1},
    {"jobs:\n  a:\n    run: x\n    Timeout: 5s\n", 4, 5, "jobs.a.Timeout",
     "(did you mean \"timeout\"?)", 1},
    {"jobs:\n  a:\n    run: x\n    retires: 1\n", 4, 5, "jobs.a.retires",
     "(did you mean \"retries\"?)", 1},
    {"jobs:\n  a:\n    run: x\n    max_parallel: 2\n", 4, 5, "jobs.a.max_parallel",
     "(it belongs at the top level of the file)", 1},
    {"jobs:\n  a:\n    run: x\n    steps: {b: {run: y}}\n", 4, 5, "jobs.a.steps",
     "workflows (steps) are not supported yet", 1},
    {"jobs:\n  a:\n    steps: {b: {run: y}}\n", 3, 5, "jobs.a.steps",
     "workflows (steps) are not supported yet", 1},
    /* triggers */
    {"jobs:\n  a:\n    run: x\n    schedule: \"61 * * * *\"\n", 4, 16, "jobs.a.schedule",
     "minute field: 61 is out of range 0-59", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: 0 25 * * *\n", 4, 17, "jobs.a.schedule", "hour field",
     1},
    {"jobs:\n  a:\n    run: x\n    schedule: '0 0 * * FOO'\n", 4, 24, "jobs.a.schedule", "FOO", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: [\"@daily\", \"0 0 31 2 *\"]\n", 4, 31,
     "jobs.a.schedule[1]", "never", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: \"0 \\t0 32 * *\"\n", 4, 15, "jobs.a.schedule",
     "day-of-month", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: [\"* * * * *\", [1]]\n", 4, 29, "jobs.a.schedule[1]",
     "expected a cron expression", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: []\n", 4, 15, "jobs.a.schedule", "an empty list", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: {m: 1}\n", 4, 15, "jobs.a.schedule", "got a mapping",
     1},
    {"jobs:\n  a:\n    run: x\n    every: 5m\n    at: 2026-01-01\n", 5, 5, "jobs.a.at",
     "every and at cannot be combined", 1},
    {"jobs:\n  a:\n    run: x\n    every: 500ms\n", 4, 12, "jobs.a.every",
     "every must be at least 1s", 1},
    {"jobs:\n  a:\n    run: x\n    every: 5 m\n", 4, 13, "jobs.a.every", "missing unit after 5", 1},
    {"jobs:\n  a:\n    run: x\n    every: [5m]\n", 4, 12, "jobs.a.every",
     "expected a duration like 30s, got a list", 1},
    {"jobs:\n  a:\n    run: x\n    every: 1h\n    jitter: 1h\n", 5, 13, "jobs.a.jitter",
     "jitter (1h) must be shorter than every (1h)", 1},
    {"jobs:\n  a:\n    run: x\n    schedule: \"@daily\"\n    jitter: 1m\n", 5, 5, "jobs.a.jitter",
     "jitter only applies to every:", 1},
    {"jobs:\n  a:\n    run: x\n    start: 2026-01-01\n", 4, 5, "jobs.a.start",
     "start only applies to every:", 1},
    {"jobs:\n  a:\n    run: x\n    every: 1h\n    start: 2026-01-01X\n", 5, 22, "jobs.a.start",
     "time \"2026-01-01X\"", 1},
    {"jobs:\n  a:\n    run: x\n    at: \"2026-02-30T00:00\"\n", 4, 18, "jobs.a.at",
     "no such day in that month", 1},
    /* bodies */
    {"jobs:\n  a:\n    run: x\n    shell: y\n", 4, 5, "jobs.a.shell",
     "run and shell cannot be combined", 1},
    {"jobs:\n  a:\n    python: missing.py\n", 3, 13, "jobs.a.python",
     "python script \"missing.py\" does not exist (relative paths start in the config file's "
     "folder)",
     1},
    {"jobs:\n  a:\n    python: scripts\n", 3, 13, "jobs.a.python", "is a folder, not a file", 1},
    {"jobs:\n  a:\n    python: \"\"\n", 3, 13, "jobs.a.python", "got an empty string", 1},
    {"jobs:\n  a:\n    module: pkg..mod\n", 3, 13, "jobs.a.module", "not a Python module name", 1},
    {"jobs:\n  a:\n    run: []\n", 3, 10, "jobs.a.run", "an empty command", 1},
    {"jobs:\n  a:\n    run: \"  \"\n", 3, 10, "jobs.a.run", "an empty command", 1},
    {"jobs:\n  a:\n    run: [x, [y]]\n", 3, 14, "jobs.a.run[1]", "expected a program or argument",
     1},
    {"jobs:\n  a:\n    run: \"echo 'unclosed\"\n", 3, 16, "jobs.a.run",
     "this single quote is never closed", 1},
    {"jobs:\n  a:\n    run: echo $HOME\n", 3, 15, "jobs.a.run",
     "'$' would reach the program as a plain argument", 1},
    {"jobs:\n  a:\n    run: a && b\n", 3, 12, "jobs.a.run", "'&'", 1},
    {"jobs:\n  a:\n    run: sort < in\n", 3, 15, "jobs.a.run", "use shell:", 1},
    {"jobs:\n  a:\n    shell: \"\"\n", 3, 12, "jobs.a.shell", "empty string", 1},
    {"jobs:\n  a:\n    run: x\n    args: --full\n", 4, 11, "jobs.a.args",
     "expected a list like [--region, eu], got \"--full\"", 1},
    {"jobs:\n  a:\n    shell: x\n    args: [1]\n", 4, 5, "jobs.a.args",
     "args does not apply to shell", 1},
    {"jobs:\n  a:\n    run: x\n    venv: venv\n", 4, 5, "jobs.a.venv",
     "venv only applies to python: and module: jobs", 1},
    {"jobs:\n  a:\n    module: m\n    venv: novenv\n", 4, 11, "jobs.a.venv",
     "venv \"novenv\" has no bin/python", 1},
    {"jobs:\n  a:\n    module: m\n    venv: nothere\n", 4, 11, "jobs.a.venv",
     "venv \"nothere\" does not exist", 1},
    {"jobs:\n  a:\n    run: x\n    cwd: scripts/job.py\n", 4, 10, "jobs.a.cwd",
     "cwd \"scripts/job.py\" is not a folder", 1},
    /* environment */
    {"jobs:\n  a:\n    run: x\n    env: [A=1]\n", 4, 10, "jobs.a.env",
     "expected a mapping like {NAME: value}, got a list", 1},
    {"jobs:\n  a:\n    run: x\n    env: {1A: x}\n", 4, 11, "jobs.a.env.1A",
     "not a valid variable name", 1},
    {"jobs:\n  a:\n    run: x\n    env: {SKED_JOB: x}\n", 4, 11, "jobs.a.env.SKED_JOB",
     "set by sked itself", 1},
    {"jobs:\n  a:\n    run: x\n    env: {A: [1]}\n", 4, 14, "jobs.a.env.A",
     "expected a value as a string, got a list", 1},
    {"jobs:\n  a:\n    run: x\n    env_file: nothere.env\n", 4, 15, "jobs.a.env_file",
     "env_file \"nothere.env\" does not exist", 1},
    {"jobs:\n  a:\n    run: x\n    env_file: open.env\n", 4, 15, "jobs.a.env_file",
     "other users may read it (mode 0644): run chmod 600 on it", 1},
    {"jobs:\n  a:\n    run: x\n    env_file: work\n", 4, 15, "jobs.a.env_file",
     "not a regular file", 1},
    {"jobs:\n  a:\n    run: x\n    env_file: broken.env\n", 4, 15, "jobs.a.env_file",
     "env_file \"broken.env\": line 2: expected KEY=VALUE", 1},
    {"jobs:\n  a:\n    run: x\n    env_file: secret.env\n    env: {API_TOKEN: x}\n", 5, 11,
     "jobs.a.env.API_TOKEN", "API_TOKEN is also set in env_file \"secret.env\"", 1},
    /* policies */
    {"jobs:\n  a:\n    run: x\n    timeout: 10\n", 4, 16, "jobs.a.timeout", "missing unit after 10",
     1},
    {"jobs:\n  a:\n    run: x\n    kill_grace: -1s\n", 4, 17, "jobs.a.kill_grace",
     "cannot be negative", 1},
    {"jobs:\n  a:\n    run: x\n    retries: 101\n", 4, 14, "jobs.a.retries",
     "101 is out of range 0-100", 1},
    {"jobs:\n  a:\n    run: x\n    retries: -1\n", 4, 14, "jobs.a.retries",
     "-1 is out of range 0-100", 1},
    {"jobs:\n  a:\n    run: x\n    retries: three\n", 4, 14, "jobs.a.retries",
     "expected a whole number, got \"three\"", 1},
    {"jobs:\n  a:\n    run: x\n    retries: 99999999999999999999\n", 4, 14, "jobs.a.retries",
     "out of range", 1},
    {"jobs:\n  a:\n    run: x\n    overlap: skp\n", 4, 14, "jobs.a.overlap",
     "\"skp\" is not one of skip, queue, allow or replace (did you mean \"skip\"?)", 1},
    {"jobs:\n  a:\n    run: x\n    catchup: sometimes\n", 4, 14, "jobs.a.catchup",
     "\"sometimes\" is not one of none, latest or all", 1},
    {"jobs:\n  a:\n    run: x\n    misfire_grace: soon\n", 4, 20, "jobs.a.misfire_grace",
     "expected a number", 1},
    {"jobs:\n  a:\n    run: x\n    keep_runs: 1.5\n", 4, 16, "jobs.a.keep_runs",
     "expected a whole number", 1},
    {"jobs:\n  a:\n    run: x\n    keep_days: 40000\n", 4, 16, "jobs.a.keep_days",
     "40000 is out of range 0-36500", 1},
    {"jobs:\n  a:\n    run: x\n    keep_days: 3x\n", 4, 17, "jobs.a.keep_days",
     "unknown unit \"x\"", 1},
    {"jobs:\n  a:\n    run: x\n    max_output: 10 XB\n", 4, 20, "jobs.a.max_output",
     "unknown unit \"XB\"", 1},
    {"jobs:\n  a:\n    run: x\n    enabled: yes\n", 4, 14, "jobs.a.enabled",
     "expected true or false, got \"yes\"", 1},
    {"jobs:\n  a:\n    run: x\n    timezone: Nowhere/Town\n", 4, 15, "jobs.a.timezone",
     "unknown time zone", 1},
    /* defaults: reported once, at their place */
    {"defaults:\n  timeout: 5x\njobs:\n  a: {run: x}\n  b: {run: y}\n", 2, 13, "defaults.timeout",
     "unknown unit", 1},
    {"defaults:\n  shedule: x\njobs:\n  a: {run: x}\n", 2, 3, "defaults.shedule",
     "did you mean \"schedule\"?", 1},
    {"defaults:\n  run: x\n  shell: y\njobs:\n  a: {}\n", 3, 3, "defaults.shell",
     "run and shell cannot be combined", 1},
    {"defaults:\n  jitter: 5m\njobs:\n  a: {run: x, every: 1m}\n", 4, 22, "jobs.a.every",
     "every (1m) must be longer than the jitter from defaults (5m)", 1},
    {"defaults:\n  env: {API_TOKEN: x}\njobs:\n  a: {run: x, env_file: secret.env}\n", 4, 25,
     "jobs.a.env_file", "API_TOKEN is also set in env: under defaults", 1},
    /* several errors, all reported, in file order */
    {"jobs:\n  a:\n    run: x\n    retries: 101\n    timeout: x\n  b:\n    bogus: 1\n", 4, 14,
     "jobs.a.retries", "out of range", 4},
    {"jobs:\n  b:\n    every: 1h\n    schedule: '61 * * * *'\n", 2, 3, "jobs.b", "nothing to run",
     3},
};

static void test_bad_files(void **state)
{
    fixture_t *fx = *state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(bad_cases); i++) {
        const bad_case_t *c = &bad_cases[i];
        if (load(fx, c->yaml) != SK_ECONFIG) {
            ROW_FAIL(nfail, "row %zu: loaded fine:\n%s", i, c->yaml);
            continue;
        }
        if (fx->cfg) {
            ROW_FAIL(nfail, "row %zu: *ret written on failure", i);
            continue;
        }
        const sk_err_t *e = &fx->errs.items[0];
        if (fx->errs.n == 0 || e->line != c->line || e->col != c->col ||
            (c->path && strcmp(e->path, c->path) != 0) || !strstr(e->msg, c->msg) ||
            fx->errs.n != c->nerr || strcmp(e->file, fx->yaml) != 0) {
            ROW_FAIL(nfail, "row %zu:\n%s\n  want %d:%d: %s: ...%s... (%zu errors)", i, c->yaml,
                     c->line, c->col, c->path ? c->path : "*", c->msg, c->nerr);
            for (size_t k = 0; k < fx->errs.n; k++)
                print_error("  got  %d:%d: %s: %s\n", fx->errs.items[k].line, fx->errs.items[k].col,
                            fx->errs.items[k].path, fx->errs.items[k].msg);
        }
    }
    assert_int_equal(nfail, 0);
}

/* Errors are sorted by place and each job's problems are all found. */
static void test_all_errors_in_order(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(load(fx, "jobs:\n"
                              "  b:\n"
                              "    schedule: [\"61 * * * *\", \"* 24 * * *\"]\n"
                              "    every: 5x\n"
                              "    python: missing.py\n"
                              "    run: x\n"
                              "  a:\n"
                              "    retries: x\n"),
                     SK_ECONFIG);
    static const struct {
        int line, col;
        const char *path;
    } want[] = {
        {3, 17, "jobs.b.schedule[0]"},
        {3, 33, "jobs.b.schedule[1]"},
        {4, 5, "jobs.b.every"},
        {4, 13, "jobs.b.every"},
        {5, 13, "jobs.b.python"},
        {6, 5, "jobs.b.run"},
        {7, 3, "jobs.a"},
        {8, 14, "jobs.a.retries"},
    };
    assert_int_equal(fx->errs.n, SK_ARRAY_LEN(want));
    for (size_t i = 0; i < SK_ARRAY_LEN(want); i++) {
        assert_int_equal(fx->errs.items[i].line, want[i].line);
        assert_int_equal(fx->errs.items[i].col, want[i].col);
        assert_string_equal(fx->errs.items[i].path, want[i].path);
    }
}

/* -------------------------------------------------------------------------------------------- */
/* Good files */

static void test_empty_files_have_no_jobs(void **state)
{
    fixture_t *fx = *state;
    static const char *const texts[] = {"",        "# only a comment\n", "---\n",
                                        "jobs:\n", "jobs: {}\n",         "~\n"};
    for (size_t i = 0; i < SK_ARRAY_LEN(texts); i++) {
        const sk_config_t *c = load_ok(fx, texts[i]);
        assert_int_equal(c->njobs, 0);
    }
}

static void test_builtin_defaults(void **state)
{
    fixture_t *fx = *state;
    const sk_config_t *c = load_ok(fx, "jobs:\n  a:\n    run: /bin/true\n");
    char want[256];
    assert_int_equal(c->refs, 1);
    assert_string_equal(c->path, fx->yaml);
    assert_string_equal(c->dir, fx->dir);
    sk_snprintf(want, sizeof(want), "%s/.sked", fx->dir);
    assert_string_equal(c->state_dir, want);
    sk_snprintf(want, sizeof(want), "%s/.sked/sked.db", fx->dir);
    assert_string_equal(c->store_url, want);
    assert_int_equal(c->max_parallel, 16);
    assert_non_null(c->tz);

    const sk_job_cfg_t *j = job(fx, "a");
    assert_string_equal(j->name, "a");
    assert_int_equal(j->line, 2);
    assert_int_equal(j->col, 3);
    assert_int_equal(j->trigger, SK_TRIGGER_NONE);
    assert_ptr_equal(j->tz, c->tz);
    assert_int_equal(j->body.kind, SK_BODY_RUN);
    assert_string_equal(j->body.run_argv[0], "/bin/true");
    assert_null(j->body.run_argv[1]);
    assert_null(j->body.args);
    assert_null(j->body.venv);
    assert_null(j->body.cwd);
    assert_int_equal(j->body.nenv, 0);
    assert_string_equal(j->body.config_dir, fx->dir);
    assert_int_equal(j->timeout_ms, 0);
    assert_int_equal(j->kill_grace_ms, 10000);
    assert_int_equal(j->retries, 0);
    assert_int_equal(j->retry_delay_ms, 10000);
    assert_int_equal(j->overlap, SK_OVERLAP_SKIP);
    assert_int_equal(j->catchup, SK_CATCHUP_LATEST);
    assert_int_equal(j->misfire_grace_ms, -1);
    assert_int_equal(j->keep_runs, 100);
    assert_int_equal(j->keep_days_ms, 0);
    assert_int_equal(j->max_output, 10 * MIB);
    assert_true(j->enabled);
    assert_null(j->env_file);
    assert_int_equal(j->nsecret_env, 0);
    assert_null(sk_config_job(c, "b"));
    assert_null(sk_config_job(c, NULL));
}

/* Every key with a value, and the anchor-and-alias way of sharing settings. */
static void test_every_key_values(void **state)
{
    fixture_t *fx = *state;
    const sk_config_t *c = load_ok(fx, "timezone: UTC\n"
                                       "state_dir: ./state/\n"
                                       "store: /var/lib/sked/x.db\n"
                                       "max_parallel: 3\n"
                                       "http: {listen: 127.0.0.1:8080}\n"
                                       "log_format: json\n"
                                       "x-shared: &common {timeout: 1m, run: x}\n"
                                       "jobs:\n"
                                       "  py:\n"
                                       "    schedule: \"*/5 * * * *\"\n"
                                       "    python: scripts/job.py\n"
                                       "    args: [--region, eu, 3]\n"
                                       "    venv: venv\n"
                                       "    cwd: work\n"
                                       "    env: {API_URL: \"https://x\", EMPTY: }\n"
                                       "    env_file: secret.env\n"
                                       "    timeout: 10m\n"
                                       "    kill_grace: 0\n"
                                       "    retries: 3\n"
                                       "    retry_delay: 30s\n"
                                       "    overlap: queue\n"
                                       "    catchup: all\n"
                                       "    misfire_grace: 5m\n"
                                       "    keep_runs: 0\n"
                                       "    keep_days: 7\n"
                                       "    max_output: 512KiB\n"
                                       "    enabled: false\n"
                                       "    timezone: America/New_York\n"
                                       "    alert: {on: [failure], webhook: \"https://h\"}\n"
                                       "    params: {a: 1}\n"
                                       "    after: [other]\n"
                                       "    nodes: [n1]\n"
                                       "    expected_duration: 5m\n"
                                       "  mod:\n"
                                       "    every: 6h\n"
                                       "    jitter: 5m\n"
                                       "    start: 2026-01-01T00:00:00+01:00\n"
                                       "    module: pkg.tool\n"
                                       "    keep_days: 2w\n"
                                       "  sh:\n"
                                       "    at: 2026-12-01T02:00:00Z\n"
                                       "    shell: \"find /tmp -delete | wc -l\"\n"
                                       "  words:\n"
                                       "    at: \"2026-12-01 02:00\"\n"
                                       "    timezone: Europe/Berlin\n"
                                       "    run: \"backup.sh --label 'two words' a\\\\ b\"\n"
                                       "  shared: *common\n");
    char want[256];
    assert_int_equal(c->njobs, 5);
    sk_snprintf(want, sizeof(want), "%s/state", fx->dir);
    assert_string_equal(c->state_dir, want);
    assert_string_equal(c->store_url, "/var/lib/sked/x.db");
    assert_int_equal(c->max_parallel, 3);
    assert_string_equal(sk_tz_name(c->tz), "UTC");
    assert_string_equal(c->jobs[0].name, "py");
    assert_string_equal(c->jobs[4].name, "shared");

    const sk_job_cfg_t *j = job(fx, "py");
    assert_int_equal(j->trigger, SK_TRIGGER_CRON);
    assert_int_equal(j->ncron, 1);
    assert_string_equal(j->cron_texts[0], "*/5 * * * *");
    assert_null(j->cron_texts[1]);
    assert_false(j->reboot);
    assert_int_equal(j->body.kind, SK_BODY_PYTHON);
    sk_snprintf(want, sizeof(want), "%s/scripts/job.py", fx->dir);
    assert_string_equal(j->body.target, want);
    assert_string_equal(j->body.args[0], "--region");
    assert_string_equal(j->body.args[2], "3");
    assert_null(j->body.args[3]);
    sk_snprintf(want, sizeof(want), "%s/venv", fx->dir);
    assert_string_equal(j->body.venv, want);
    sk_snprintf(want, sizeof(want), "%s/work", fx->dir);
    assert_string_equal(j->body.cwd, want);
    /* env_file's values first, then env:'s */
    assert_string_equal(j->env_file, "secret.env");
    assert_int_equal(j->nsecret_env, 4);
    assert_int_equal(j->body.nenv, 6);
    assert_string_equal(j->body.env[0].key, "API_TOKEN");
    assert_string_equal(j->body.env[0].value, "abc123");
    assert_string_equal(j->body.env[1].key, "DB_URL");
    assert_string_equal(j->body.env[1].value, "postgres://u:p@h/db");
    assert_string_equal(j->body.env[2].value, "a b # c");
    assert_string_equal(j->body.env[3].value, "x\ny");
    assert_string_equal(j->body.env[4].key, "API_URL");
    assert_string_equal(j->body.env[5].key, "EMPTY");
    assert_string_equal(j->body.env[5].value, "");
    assert_int_equal(j->timeout_ms, 600000);
    assert_int_equal(j->kill_grace_ms, 0);
    assert_int_equal(j->retries, 3);
    assert_int_equal(j->retry_delay_ms, 30000);
    assert_int_equal(j->overlap, SK_OVERLAP_QUEUE);
    assert_int_equal(j->catchup, SK_CATCHUP_ALL);
    assert_int_equal(j->misfire_grace_ms, 300000);
    assert_int_equal(j->keep_runs, 0);
    assert_int_equal(j->keep_days_ms, 7 * 86400000LL);
    assert_int_equal(j->max_output, 512 * 1024);
    assert_false(j->enabled);
    assert_string_equal(sk_tz_name(j->tz), "America/New_York");

    j = job(fx, "mod");
    assert_int_equal(j->trigger, SK_TRIGGER_EVERY);
    assert_int_equal(j->every_ms, 6 * 3600000LL);
    assert_int_equal(j->jitter_ms, 300000);
    assert_int_equal(j->start_ms, 1767222000000LL); /* 2025-12-31T23:00:00Z */
    assert_int_equal(j->body.kind, SK_BODY_MODULE);
    assert_string_equal(j->body.target, "pkg.tool");
    assert_int_equal(j->keep_days_ms, 14 * 86400000LL);

    j = job(fx, "sh");
    assert_int_equal(j->trigger, SK_TRIGGER_AT);
    assert_int_equal(j->at_ms, 1796090400000LL); /* 2026-12-01T02:00:00Z */
    assert_int_equal(j->body.kind, SK_BODY_SHELL);
    assert_string_equal(j->body.target, "find /tmp -delete | wc -l");

    j = job(fx, "words");
    assert_int_equal(j->at_ms, 1796090400000LL - 3600000LL); /* 02:00 in Berlin is 01:00Z */
    assert_int_equal(j->body.kind, SK_BODY_RUN);
    assert_string_equal(j->body.run_argv[0], "backup.sh");
    assert_string_equal(j->body.run_argv[1], "--label");
    assert_string_equal(j->body.run_argv[2], "two words");
    assert_string_equal(j->body.run_argv[3], "a b");
    assert_null(j->body.run_argv[4]);

    j = job(fx, "shared");
    assert_int_equal(j->timeout_ms, 60000);
}

static void test_schedule_lists_and_reboot(void **state)
{
    fixture_t *fx = *state;
    load_ok(fx, "jobs:\n"
                "  a:\n"
                "    run: x\n"
                "    schedule: [\"@reboot\", \"0 2 * * *\", \"H * * * *\", \"30 0 0 * * *\"]\n"
                "  b:\n"
                "    run: x\n"
                "    schedule: \"@REBOOT\"\n");
    const sk_job_cfg_t *j = job(fx, "a");
    assert_int_equal(j->trigger, SK_TRIGGER_CRON);
    assert_true(j->reboot);
    assert_int_equal(j->ncron, 3);
    assert_string_equal(j->cron_texts[0], "0 2 * * *");
    assert_string_equal(j->cron_texts[2], "30 0 0 * * *");
    assert_true(j->crons[2].flags & SK_CRON_SECONDS);
    sk_cron_t h;
    assert_int_equal(sk_cron_parse("H * * * *", "a", &h, NULL), 0);
    assert_true(sk_cron_equal(&j->crons[1], &h)); /* H is seeded with the job's name */

    j = job(fx, "b");
    assert_int_equal(j->trigger, SK_TRIGGER_CRON);
    assert_true(j->reboot);
    assert_int_equal(j->ncron, 0);
}

static void test_defaults_merge(void **state)
{
    fixture_t *fx = *state;
    load_ok(fx, "defaults:\n"
                "  schedule: \"@hourly\"\n"
                "  run: /bin/default\n"
                "  timeout: 5m\n"
                "  retries: 2\n"
                "  jitter: 1m\n"
                "  env: {A: \"1\", B: \"2\"}\n"
                "jobs:\n"
                "  plain: {}\n"
                "  manual: {schedule: ~}\n"
                "  own-trigger: {every: 1h, python: scripts/job.py}\n"
                "  unset: {timeout: null, env: ~}\n"
                "  merged: {env: {B: \"3\", C: \"4\"}, retries: 0}\n");
    const sk_job_cfg_t *j = job(fx, "plain");
    assert_int_equal(j->trigger, SK_TRIGGER_CRON);
    assert_int_equal(j->body.kind, SK_BODY_RUN);
    assert_string_equal(j->body.run_argv[0], "/bin/default");
    assert_int_equal(j->timeout_ms, 300000);
    assert_int_equal(j->retries, 2);
    assert_int_equal(j->jitter_ms, 0); /* jitter is for every: only */
    assert_int_equal(j->body.nenv, 2);

    j = job(fx, "manual");
    assert_int_equal(j->trigger, SK_TRIGGER_NONE);
    assert_int_equal(j->body.kind, SK_BODY_RUN);

    j = job(fx, "own-trigger");
    assert_int_equal(j->trigger, SK_TRIGGER_EVERY); /* not "schedule and every" */
    assert_int_equal(j->jitter_ms, 60000);
    assert_int_equal(j->body.kind, SK_BODY_PYTHON); /* not "run and python" */
    assert_null(j->body.run_argv);

    j = job(fx, "unset");
    assert_int_equal(j->timeout_ms, 0);
    assert_int_equal(j->body.nenv, 0);

    j = job(fx, "merged");
    assert_int_equal(j->retries, 0);
    assert_int_equal(j->body.nenv, 3);
    assert_string_equal(j->body.env[0].key, "A");
    assert_string_equal(j->body.env[1].key, "B");
    assert_string_equal(j->body.env[1].value, "3");
    assert_string_equal(j->body.env[2].key, "C");
}

static void test_relative_config_path(void **state)
{
    fixture_t *fx = *state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    write_file(fx->dir, "sked.yaml", "jobs: {a: {python: scripts/job.py}}\n", 0644);
    char real[4096]; /* the folder as getcwd() names it */
    assert_int_equal(chdir(fx->dir), 0);
    assert_non_null(getcwd(real, sizeof(real)));
    int r = sk_config_load("./sked.yaml", fx->tzc, &fx->cfg, &fx->errs);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(r, 0);
    char want[4200];
    sk_snprintf(want, sizeof(want), "%s/sked.yaml", real);
    assert_string_equal(fx->cfg->path, want);
    assert_string_equal(fx->cfg->dir, real);
    sk_snprintf(want, sizeof(want), "%s/scripts/job.py", real);
    assert_string_equal(fx->cfg->jobs[0].body.target, want);
}

static void test_missing_file(void **state)
{
    fixture_t *fx = *state;
    sk_config_t *c = NULL;
    assert_int_equal(sk_config_load("/nonexistent/sked.yaml", fx->tzc, &c, &fx->errs), SK_ECONFIG);
    assert_null(c);
    assert_int_equal(fx->errs.n, 1);
    assert_int_equal(fx->errs.items[0].line, 0);
    assert_string_equal(fx->errs.items[0].msg, "cannot read the file: No such file or directory");
    sk_errs_release(&fx->errs);
    assert_int_equal(sk_config_load(fx->dir, fx->tzc, &c, &fx->errs), SK_ECONFIG);
    assert_string_equal(fx->errs.items[0].msg, "cannot read the file: Is a directory");
}

/* -------------------------------------------------------------------------------------------- */
/* Digests */

static uint64_t digest_of(fixture_t *fx, const char *text)
{
    load_ok(fx, text);
    return fx->cfg->jobs[0].digest;
}

static void test_digest(void **state)
{
    fixture_t *fx = *state;
    const char *base = "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n";
    uint64_t d = digest_of(fx, base);
    assert_int_not_equal(d, 0);
    /* the same job written differently */
    static const char *const same[] = {
        "jobs:\n  a:\n    schedule: \"0  2 * * *\"\n    run: [x, y]\n",
        "# a comment\njobs:\n  a: {run: \"x y\", schedule: '0 2 * * *'}\n",
        "jobs:\n  a:\n    run: [x, y]\n    schedule: \"0 2 * * *\"\n    alert: {on: [x]}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    timeout: 0\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n  b: {run: z}\n",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(same); i++) {
        if (digest_of(fx, same[i]) != d)
            fail_msg("digest changed for:\n%s", same[i]);
    }
    /* a changed job */
    static const char *const other[] = {
        "jobs:\n  b:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n",
        "jobs:\n  a:\n    schedule: \"0 3 * * *\"\n    run: [x, y]\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y, z]\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [xy]\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x]\n    args: [y]\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    timeout: 1s\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    enabled: false\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    timezone: Asia/Tokyo\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    env: {A: b}\n",
        "jobs:\n  a:\n    schedule: [\"0 2 * * *\", \"@reboot\"]\n    run: [x, y]\n",
        "jobs:\n  a:\n    every: 1h\n    run: [x, y]\n",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(other); i++) {
        if (digest_of(fx, other[i]) == d)
            fail_msg("digest unchanged for:\n%s", other[i]);
    }
    /* A secret's value does not enter the digest (it may be shown); its key does. */
    const char *with_secret = "jobs:\n  a:\n    run: x\n    env_file: secret.env\n";
    uint64_t s1 = digest_of(fx, with_secret);
    write_file(fx->dir, "secret.env", "API_TOKEN=other\nDB_URL=x\nQUOTED=y\nESC=z\n", 0600);
    assert_true(digest_of(fx, with_secret) == s1);
    write_file(fx->dir, "secret.env", "API_TOKEN2=other\nDB_URL=x\nQUOTED=y\nESC=z\n", 0600);
    assert_true(digest_of(fx, with_secret) != s1);
}

static void test_ref_unref(void **state)
{
    fixture_t *fx = *state;
    load_ok(fx, "jobs: {a: {run: x}}\n");
    sk_config_t *c = fx->cfg;
    assert_ptr_equal(sk_config_ref(c), c);
    assert_int_equal(c->refs, 2);
    sk_config_unref(c);
    assert_int_equal(c->refs, 1);
    assert_string_equal(sk_config_job(c, "a")->name, "a");
    sk_config_unref(NULL);
    assert_null(sk_config_ref(NULL));
    assert_string_equal(sk_overlap_str(SK_OVERLAP_REPLACE), "replace");
    assert_string_equal(sk_catchup_str(SK_CATCHUP_NONE), "none");
}

/* What sk_errs_print writes, as a new string. (A temporary file rather
 * than open_memstream: gcc -O2 takes that for a dangling pointer.) */
static char *print_errs(const sk_errs_t *e)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    sk_errs_print(e, f);
    long len = ftell(f);
    assert_true(len >= 0);
    char *out = sk_xmalloc((size_t)len + 1);
    rewind(f);
    assert_int_equal(fread(out, 1, (size_t)len, f), (size_t)len);
    out[len] = '\0';
    fclose(f);
    return out;
}

/* -------------------------------------------------------------------------------------------- */
/* Caps */

static void test_caps(void **state)
{
    fixture_t *fx = *state;
    sk_config_t *c = NULL;

    /* 1 MiB and one byte */
    size_t big = SK_CONFIG_MAX_BYTES + 1;
    char *text = sk_xmalloc(big + 1);
    memset(text, '#', big);
    text[big] = '\0';
    assert_int_equal(load(fx, text), SK_ECONFIG);
    assert_string_equal(fx->errs.items[0].msg, "the file is larger than 1 MiB");
    assert_int_equal(sk_config_load_text("x.yaml", text, big, fx->tzc, &c, &fx->errs), SK_ECONFIG);
    text[big - 1] = '\0'; /* exactly 1 MiB of comment is fine */
    load_ok(fx, text);
    free(text);

    /* nesting: 63 levels under the root mapping are fine, 64 are not */
    char deep[400];
    for (int levels = 63; levels <= 64; levels++) {
        size_t n = (size_t)sk_snprintf(deep, sizeof(deep), "x-deep: ");
        for (int i = 0; i < levels; i++)
            deep[n++] = '[';
        for (int i = 0; i < levels; i++)
            deep[n++] = ']';
        deep[n] = '\0';
        if (levels == 63) {
            load_ok(fx, deep);
        } else {
            assert_int_equal(load(fx, deep), SK_ECONFIG);
            assert_true(strstr(fx->errs.items[0].msg, "nested more than 64 deep") != NULL);
        }
    }

    /* "billion laughs": aliases multiply to more than a million nodes */
    char lol[2048];
    size_t n = (size_t)sk_snprintf(lol, sizeof(lol), "x-0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++) {
        n += (size_t)sk_snprintf(lol + n, sizeof(lol) - n, "x-%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++)
            n += (size_t)sk_snprintf(lol + n, sizeof(lol) - n, "%s*a%d", k ? ", " : "", i - 1);
        n += (size_t)sk_snprintf(lol + n, sizeof(lol) - n, "]\n");
    }
    assert_int_equal(load(fx, lol), SK_ECONFIG);
    assert_true(strstr(fx->errs.items[0].msg, "more than 1000000 nodes") != NULL);

    /* at most 1000 errors are kept; the rest are counted */
    size_t cap = 1200 * 16 + 64;
    text = sk_xmalloc(cap);
    n = (size_t)sk_snprintf(text, cap, "jobs:\n  a:\n    run: x\n");
    for (int i = 0; i < 1200; i++)
        n += (size_t)sk_snprintf(text + n, cap - n, "    bad%d: 1\n", i);
    assert_int_equal(load(fx, text), SK_ECONFIG);
    free(text);
    assert_int_equal(fx->errs.n, 1000);
    assert_int_equal(fx->errs.dropped, 200);
    char *out = print_errs(&fx->errs);
    assert_true(strstr(out, "\n... and 200 more errors\n") != NULL);
    free(out);
}

static void test_nul_in_text(void **state)
{
    fixture_t *fx = *state;
    sk_config_t *c = NULL;
    static const char text[] = "jobs: {}\n\0jobs: {}\n";
    assert_int_equal(sk_config_load_text("t.yaml", text, sizeof(text) - 1, fx->tzc, &c, &fx->errs),
                     SK_ECONFIG);
    assert_null(c);
    assert_int_equal(fx->errs.items[0].line, 2);
    assert_int_equal(fx->errs.items[0].col, 1);
    assert_true(strstr(fx->errs.items[0].msg, "control characters are not allowed") != NULL);
}

/* -------------------------------------------------------------------------------------------- */
/* Printing */

static void test_print_with_caret(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(load(fx, "jobs:\n"
                              "  a:\n"
                              "    run: x\t# a tab before a comment is fine\n"
                              "    schedule: \"61 * * * *\"\n"
                              "  b:\n"
                              "    run: \"é ü\"\n"
                              "    every: 5q\n"),
                     SK_ECONFIG);
    char *out = print_errs(&fx->errs);
    char want[2048];
    sk_snprintf(want, sizeof(want),
                "%s:4:16: jobs.a.schedule: minute field: 61 is out of range 0-59\n"
                "    4 |     schedule: \"61 * * * *\"\n"
                "      |                ^\n"
                "%s:7:13: jobs.b.every: duration \"5q\": unknown unit \"q\" (use ms, s, m, h, d "
                "or w)\n"
                "    7 |     every: 5q\n"
                "      |             ^\n",
                fx->yaml, fx->yaml);
    assert_string_equal(out, want);
    free(out);

    /* Tabs before the column stay tabs; columns count characters, not bytes. */
    sk_errs_t e;
    sk_errs_init(&e);
    write_file(fx->dir, "sked.yaml", "\tx: \"é\" y\n", 0644);
    sk_errs_add(&e, fx->yaml, 1, 9, "", SK_ECONFIG, "here");
    sk_errs_add(&e, fx->yaml, 3, 1, "p", SK_ECONFIG, "past the end");
    sk_errs_add(&e, fx->yaml, 0, 0, "", SK_ECONFIG, "no place");
    sk_errs_add(&e, "/nonexistent", 2, 3, "k", SK_ECONFIG, "unreadable");
    out = print_errs(&e);
    sk_snprintf(want, sizeof(want),
                "%s:1:9: here\n"
                "    1 | \tx: \"é\" y\n"
                "      | \t       ^\n"
                "%s:3:1: p: past the end\n"
                "%s: no place\n"
                "/nonexistent:2:3: k: unreadable\n",
                fx->yaml, fx->yaml, fx->yaml);
    assert_string_equal(out, want);
    free(out);
    sk_errs_release(&e);

    /* Lines are counted as libyaml counts them: a lone CR breaks a line too. */
    assert_int_equal(load(fx, "jobs:\r  a:\r    run: x\r\n    every: 5q\n"), SK_ECONFIG);
    out = print_errs(&fx->errs);
    sk_snprintf(want, sizeof(want),
                "%s:4:13: jobs.a.every: duration \"5q\": unknown unit \"q\" (use ms, s, m, h, d "
                "or w)\n"
                "    4 |     every: 5q\n"
                "      |             ^\n",
                fx->yaml);
    assert_string_equal(out, want);
    free(out);

    /* A long line is shown as a window around the column. */
    char line[1100];
    memset(line, 'a', 1000);
    sk_strlcpy(line + 1000, "\n", 2);
    write_file(fx->dir, "sked.yaml", line, 0644);
    sk_errs_init(&e);
    sk_errs_add(&e, fx->yaml, 1, 500, "", SK_ECONFIG, "far");
    out = print_errs(&e);
    const char *src = strchr(out, '\n') + 1;
    assert_true(strncmp(src, "    1 | ...", 11) == 0);
    const char *caret = strchr(src, '\n') + 1;
    assert_int_equal(strlen(src) - strlen(caret), 8 + 3 + 160 + 3 + 1);
    assert_int_equal(strlen(caret), 8 + 3 + 80 + 2);
    free(out);
    sk_errs_release(&e);
}

/* -------------------------------------------------------------------------------------------- */
/* Helpers */

static void test_size_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t bytes; /* -1: error */
        int col;
    } cases[] = {
        {"4096", 4096, 0},
        {"0", 0, 0},
        {"10B", 10, 0},
        {"1K", 1024, 0},
        {"1k", 1024, 0},
        {"512KiB", 512 * 1024, 0},
        {"1KB", 1000, 0},
        {"10MB", 10000000, 0},
        {"10MiB", 10 * MIB, 0},
        {"10m", 10 * MIB, 0},
        {"1G", 1024 * MIB, 0},
        {"2GB", 2000000000LL, 0},
        {"1T", 1024 * 1024 * MIB, 0},
        {"3TB", 3000000000000LL, 0},
        {" 10 MB ", 10000000, 0},
        {"1024TiB", 1024LL * 1024 * 1024 * MIB, 0},
        {"", -1, 1},
        {"MB", -1, 1},
        {"-1", -1, 1},
        {"1.5MB", -1, 2},
        {"10XB", -1, 3},
        {"10 M B", -1, 6},
        {"1025TiB", -1, 1},
        {"99999999999999999999", -1, 1},
    };
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        int64_t v = -42;
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_size_parse(cases[i].text, &v, &err);
        if (cases[i].bytes >= 0 && (r != 0 || v != cases[i].bytes))
            ROW_FAIL(nfail, "\"%s\": got %d %" PRId64 " (%s)", cases[i].text, r, v, err.msg);
        if (cases[i].bytes < 0 && (r == 0 || v != -42 || err.col != cases[i].col))
            ROW_FAIL(nfail, "\"%s\": want an error at column %d, got %d col %d (%s)", cases[i].text,
                     cases[i].col, r, err.col, err.msg);
    }
    assert_int_equal(nfail, 0);
}

static void test_split_words(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *words[6]; /* NULL-terminated; words[0] "!" means an error at col */
        int col;
    } cases[] = {
        {"a b  c", {"a", "b", "c"}, 0},
        {"  lead trail  ", {"lead", "trail"}, 0},
        {"", {NULL}, 0},
        {" \t\n", {NULL}, 0},
        {"'a b' \"c d\"", {"a b", "c d"}, 0},
        {"x'y'\"z\"", {"xyz"}, 0},
        {"'' \"\"", {"", ""}, 0},
        {"a\\ b", {"a b"}, 0},
        {"a\\\nb", {"ab"}, 0},
        {"\"a\\\"b\\\\c\\d\"", {"a\"b\\c\\d"}, 0},
        {"'a\\b'", {"a\\b"}, 0},
        {"\"$HOME\" '*'", {"$HOME", "*"}, 0},
        {"a # comment", {"a"}, 0},
        {"a#b", {"a#b"}, 0},
        {"#x\nb", {"b"}, 0},
        {"'open", {"!"}, 1},
        {"a \"open", {"!"}, 3},
        {"a\\", {"!"}, 2},
    };
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        char **v = NULL;
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_split_words(cases[i].text, &v, &err);
        bool want_err = cases[i].words[0] && strcmp(cases[i].words[0], "!") == 0;
        if (want_err) {
            if (r != SK_EPARSE || err.col != cases[i].col)
                ROW_FAIL(nfail, "[%s]: want an error at %d, got %d at %d", cases[i].text,
                         cases[i].col, r, err.col);
            continue;
        }
        size_t n = 0;
        while (cases[i].words[n])
            n++;
        bool ok = r == 0 && sk_strv_len(v) == n;
        for (size_t k = 0; ok && k < n; k++)
            ok = strcmp(v[k], cases[i].words[k]) == 0;
        if (!ok)
            ROW_FAIL(nfail, "[%s]: got %d, %zu words", cases[i].text, r, sk_strv_len(v));
        sk_strv_free(v);
    }
    assert_int_equal(nfail, 0);
    sk_strv_free(NULL);
    assert_int_equal(sk_strv_len(NULL), 0);
}

static void test_env_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *kv[8]; /* key, value, ... NULL; kv[0] "!" means an error */
    } cases[] = {
        {"A=1\nB=two words  \n", {"A", "1", "B", "two words"}},
        {"  # c\n\nexport  A=1\r\n", {"A", "1"}},
        {"A = 'x'  # trailing\n", {"A", "x"}},
        {"A=\"a\\\"b\\\\c\\nd\\q\"\n", {"A", "a\"b\\c\nd\\q"}},
        {"A=1\nA=2\n", {"A", "2"}},
        {"A=\nB=#x", {"A", "", "B", "#x"}},
        {"export=1", {"export", "1"}},
        {"A", {"!"}},
        {"1A=2", {"!"}},
        {"A='open", {"!"}},
        {"A=\"x\" y", {"!"}},
        {"=1", {"!"}},
    };
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        sk_pool_t *pool = sk_config__pool_new();
        sk_kv_t *kv = NULL;
        size_t n = 0;
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_config__env_parse(cases[i].text, strlen(cases[i].text), pool, &kv, &n, &err);
        if (strcmp(cases[i].kv[0], "!") == 0) {
            if (r != SK_EPARSE || !strstr(err.msg, "line "))
                ROW_FAIL(nfail, "[%s]: want an error, got %d", cases[i].text, r);
        } else {
            size_t want = 0;
            while (cases[i].kv[2 * want])
                want++;
            bool ok = r == 0 && n == want;
            for (size_t k = 0; ok && k < n; k++)
                ok = strcmp(kv[k].key, cases[i].kv[2 * k]) == 0 &&
                     strcmp(kv[k].value, cases[i].kv[2 * k + 1]) == 0;
            if (!ok)
                ROW_FAIL(nfail, "[%s]: got %d with %zu entries (%s)", cases[i].text, r, n, err.msg);
        }
        sk_config__pool_free(pool);
    }
    assert_int_equal(nfail, 0);
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(sk_config__edit_distance("schedule", "schedule", 2), 0);
    assert_int_equal(sk_config__edit_distance("shedule", "schedule", 2), 1);
    assert_int_equal(sk_config__edit_distance("scheduel", "schedule", 2), 1); /* transposition */
    assert_int_equal(sk_config__edit_distance("retry", "retries", 2), 3);
    assert_int_equal(sk_config__edit_distance("retires", "retries", 2), 1);
    assert_int_equal(sk_config__edit_distance("abc", "xyz", 2), 3);
    assert_int_equal(sk_config__edit_distance("a", "abcdef", 2), 3);
    assert_int_equal(sk_config__edit_distance("", "ab", 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_errors_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_files_have_no_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_key_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schedule_lists_and_reboot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_config_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ref_unref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_in_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_with_caret, setup, teardown),
        cmocka_unit_test(test_size_parse),
        cmocka_unit_test(test_split_words),
        cmocka_unit_test(test_env_parse),
        cmocka_unit_test(test_edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
