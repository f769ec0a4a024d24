/*
 * The configuration loader (src/config/): a table of bad files, each with
 * the line, column, key path and message of its first error; good files and
 * the values they produce (built-in defaults, defaults:, env_file, paths);
 * digests; several nodes (a job's nodes:, cluster:, this node's name); the
 * caps (size, depth, aliases, error count); error printing with
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
               "ESC=\"xx\\nyy\"\n",
               0600);
    write_file(fx->dir, "open.env", "A=1\n", 0644);
    write_file(fx->dir, "broken.env", "A=1111\nthis is not a pair\n", 0600);
    write_file(fx->dir, "smtp.pw", "hunter2\n", 0600);
    write_file(fx->dir, "open.pw", "hunter2\n", 0644);
    write_file(fx->dir, "db.pw", "db-password-1\n", 0600);
    write_file(fx->dir, "short.pw", "abc\n", 0600);
    make_dir(fx->dir, "creds");
    write_file(fx->dir, "creds/api-token", "cred-value-1", 0400);
    fx->tzc = sk_tz_cache_new(NULL);
    sk_errs_init(&fx->errs);
    *state = fx;
    return 0;
}

static void rm_tree(const char *dir)
{
    static const char *const files[] = {
        "sked.yaml", "scripts/job.py", "venv/bin/python", "secret.env",
        "open.env",  "broken.env",     "smtp.pw",         "open.pw",
        "db.pw",     "short.pw",       "creds/api-token", "count",
    };
    static const char *const dirs[] = {"scripts", "work", "venv/bin", "venv", "novenv", "creds"};
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
    {"jobs:\n  a:\n    run: x\n    state_dir: x\n", 4, 5, "jobs.a.state_dir",
     "(it belongs at the top level of the file)", 1},
    {"jobs:\n  a:\n    run: x\n    max_parallel: 2\n", 4, 5, "jobs.a.max_parallel",
     "max_parallel only applies to workflows (jobs with steps:)", 1},
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
    /* workflows: the job */
    {"jobs:\n  a:\n    run: x\n    steps: {b: {run: y}}\n", 3, 5, "jobs.a.run",
     "steps and run cannot be combined: a workflow runs its steps (give run to a step)", 1},
    {"defaults:\n  python: scripts/job.py\njobs:\n  a:\n    steps: {b: {run: y}}\n    args: [x]\n",
     6, 5, "jobs.a.args", "args does not apply to a workflow: give args to its steps", 1},
    {"jobs:\n  a:\n    steps: [b, c]\n", 3, 12, "jobs.a.steps",
     "expected a mapping from step names to steps", 1},
    {"jobs:\n  a:\n    steps: {}\n", 3, 12, "jobs.a.steps",
     "an empty workflow: give at least one step", 1},
    {"jobs:\n  a:\n    steps: {b: {run: y}}\n    max_parallel: 0\n", 4, 19, "jobs.a.max_parallel",
     "0 is out of range 1-1000", 1},
    {"jobs:\n  a:\n    run: x\n    needs: [b]\n", 4, 5, "jobs.a.needs",
     "unknown key \"needs\" (it belongs to a step under steps:; to start when another job ends, "
     "use after:)",
     1},
    {"jobs:\n  a:\n    run: x\n    when: failure\n", 4, 5, "jobs.a.when",
     "(it belongs to a step under steps:, or to after: {jobs: [...], when: ...})", 1},
    {"defaults:\n  steps: {b: {run: y}}\njobs:\n  a: {run: x}\n", 2, 3, "defaults.steps",
     "steps cannot be set in defaults: a workflow belongs to one job", 1},
    {"defaults:\n  after: [a]\njobs:\n  a: {run: x}\n", 2, 3, "defaults.after",
     "after cannot be set in defaults", 1},
    /* workflows: steps */
    {"jobs:\n  a:\n    steps:\n      b: {run: x, needs: [c]}\n      c: {run: y, needs: [b]}\n", 5,
     27, "jobs.a.steps.c.needs[0]", "steps form a cycle: b -> c -> b", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, needs: d}\n      c: {run: y, needs: b}\n"
     "      d: {run: z, needs: [c]}\n",
     5, 26, "jobs.a.steps.c.needs", "steps form a cycle: b -> d -> c -> b", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, needs: b}\n", 4, 26, "jobs.a.steps.b.needs",
     "step \"b\" cannot need itself", 1},
    {"jobs:\n  a:\n    steps:\n      load: {run: x, needs: [lod]}\n", 4, 30,
     "jobs.a.steps.load.needs[0]", "unknown step \"lod\" (did you mean \"load\"?)", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x}\n      c: {run: y, needs: [b, zzz]}\n", 5, 30,
     "jobs.a.steps.c.needs[1]", "unknown step \"zzz\"", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x}\n      c: {run: y, needs: [b, b]}\n", 5, 30,
     "jobs.a.steps.c.needs[1]", "step \"b\" is listed twice", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x}\n      c: {run: y, needs: {b: 1}}\n", 5, 26,
     "jobs.a.steps.c.needs", "expected a step name or a list of them, got a mapping", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x}\n      c: {run: y, needs: [[b]]}\n", 5, 27,
     "jobs.a.steps.c.needs[0]", "expected a step name, got a list", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x}\n      b: {run: y}\n", 5, 7, "jobs.a.steps.b",
     "duplicate key \"b\" (first given at line 4)", 1},
    {"jobs:\n  a:\n    steps:\n      b: [run, x]\n", 4, 10, "jobs.a.steps.b",
     "expected a mapping of step settings like {run: ..., needs: [...]}, got a list", 1},
    {"jobs:\n  a:\n    steps:\n      b:\n", 4, 7, "jobs.a.steps.b",
     "step \"b\" has nothing to run: give one of python, module, run or shell", 1},
    {"jobs:\n  a:\n    steps:\n      -b: {run: x}\n", 4, 7, "jobs.a.steps.-b",
     "step name \"-b\" must be 1-64 letters", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, shell: y}\n", 4, 19, "jobs.a.steps.b.shell",
     "run and shell cannot be combined: a step runs one of python, module, run or shell", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, every: 1h}\n", 4, 19, "jobs.a.steps.b.every",
     "every applies to the whole workflow, not to one step: set it on the job", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, env_file: secret.env}\n", 4, 19,
     "jobs.a.steps.b.env_file", "env_file applies to the whole workflow", 1},
    {"jobs:\n  a:\n    steps:\n      b: {steps: {c: {run: x}}}\n", 4, 7, "jobs.a.steps.b",
     "step \"b\" has nothing to run", 2},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, need: [c]}\n      c: {run: y}\n", 4, 19,
     "jobs.a.steps.b.need", "unknown key \"need\" (did you mean \"needs\"?)", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, when: sometimes}\n", 4, 25, "jobs.a.steps.b.when",
     "\"sometimes\" is not one of success, failure or always", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, when: failure}\n", 4, 25, "jobs.a.steps.b.when",
     "a step with when: failure runs when a step it needs fails: list those steps in needs", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, venv: venv}\n", 4, 19, "jobs.a.steps.b.venv",
     "venv only applies to python: and module: steps", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, retries: 101}\n", 4, 28, "jobs.a.steps.b.retries",
     "101 is out of range 0-100", 1},
    {"jobs:\n  a:\n    env_file: secret.env\n    steps:\n      b: {run: x, env: {API_TOKEN: y}}\n",
     5, 25, "jobs.a.steps.b.env.API_TOKEN",
     "API_TOKEN is also set in the job's env_file \"secret.env\": set it in one place", 1},
    /* secrets: */
    {"jobs:\n  a:\n    run: x\n    secrets: {T: hunter22}\n", 4, 18, "jobs.a.secrets.T",
     "a secret's value never goes in sked.yaml", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: [T]\n", 4, 14, "jobs.a.secrets",
     "expected a mapping like {NAME: {file: PATH}}, got a list", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {1T: {file: db.pw}}\n", 4, 15, "jobs.a.secrets.1T",
     "not a valid variable name", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {SKED_T: {file: db.pw}}\n", 4, 15,
     "jobs.a.secrets.SKED_T", "set by sked itself", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {file: db.pw, command: [x]}}\n", 4, 32,
     "jobs.a.secrets.T.command", "file and command cannot be combined", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {}}\n", 4, 18, "jobs.a.secrets.T",
     "give where the value comes from", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {fil: db.pw}}\n", 4, 19, "jobs.a.secrets.T.fil",
     "unknown key \"fil\" (did you mean \"file\"?)", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {file: db.pw, timeout: 1s}}\n", 4, 41,
     "jobs.a.secrets.T.timeout", "timeout only applies to command:", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {command: [\"true\"], timeout: 0s}}\n", 4, 47,
     "jobs.a.secrets.T.timeout", "0s is out of range 1s-10m", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {command: \"pass show db | head\"}}\n", 4, 42,
     "jobs.a.secrets.T.command", "'|' would reach the program as a plain argument", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {command: []}}\n", 4, 28,
     "jobs.a.secrets.T.command", "an empty command", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {command: [\"false\"]}}\n", 4, 18,
     "jobs.a.secrets.T",
     "command [false]: false exited with status 1 (what it printed is not shown", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {file: nothere.pw}}\n", 4, 25,
     "jobs.a.secrets.T.file", "file \"nothere.pw\" does not exist", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {file: open.pw}}\n", 4, 25, "jobs.a.secrets.T.file",
     "holds secrets but other users may read it (mode 0644)", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {file: short.pw}}\n", 4, 18, "jobs.a.secrets.T",
     "the value from file \"short.pw\" is 3 characters long: a secret needs at least 4", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {credential: a/b}}\n", 4, 31,
     "jobs.a.secrets.T.credential", "\"a/b\" is not a credential's name", 1},
    {"jobs:\n  a:\n    run: x\n    secrets: {T: {file: db.pw}}\n    env: {T: visible}\n", 5, 11,
     "jobs.a.env.T", "T is also set in secrets: set it in one place", 1},
    {"jobs:\n  a:\n    run: x\n    env_file: secret.env\n    secrets: {API_TOKEN: {file: db.pw}}\n",
     5, 15, "jobs.a.secrets.API_TOKEN",
     "API_TOKEN is also set in env_file \"secret.env\": set it in one place", 1},
    {"jobs:\n  a:\n    secrets: {T: {file: db.pw}}\n    steps:\n      b: {run: x, env: {T: y}}\n",
     5, 25, "jobs.a.steps.b.env.T", "T is also set in the job's secrets: set it in one place", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, secrets: {T: {file: db.pw}}}\n", 4, 19,
     "jobs.a.steps.b.secrets", "secrets applies to the whole workflow", 1},
    {"defaults:\n  secrets: {T: {file: short.pw}}\njobs:\n  a: {run: x}\n  b: {run: x}\n", 2, 16,
     "defaults.secrets.T", "is 3 characters long", 1},
    {"jobs:\n  a:\n    steps:\n      b: {python: missing.py}\n", 4, 19, "jobs.a.steps.b.python",
     "python script \"missing.py\" does not exist", 1},
    /* params, expected_duration */
    {"jobs:\n  a:\n    run: x\n    params: [a]\n", 4, 13, "jobs.a.params",
     "expected a mapping like {region: eu}, got a list", 1},
    {"jobs:\n  a:\n    run: x\n    params: {1a: x}\n", 4, 14, "jobs.a.params.1a",
     "\"1a\" is not a valid parameter name", 1},
    {"jobs:\n  a:\n    run: x\n    params: {a: [x]}\n", 4, 17, "jobs.a.params.a",
     "expected a default value as a string, got a list", 1},
    {"jobs:\n  a:\n    run: x\n    expected_duration: soon\n", 4, 24, "jobs.a.expected_duration",
     "expected a number", 1},
    /* after */
    {"jobs:\n  a:\n    run: x\n    after: [a]\n", 4, 13, "jobs.a.after[0]",
     "job \"a\" cannot run after itself", 1},
    {"jobs:\n  a:\n    run: x\n    after: a\n", 4, 12, "jobs.a.after",
     "job \"a\" cannot run after itself", 1},
    {"jobs:\n  extract:\n    run: x\n  load:\n    run: y\n    after: [extrct]\n", 6, 13,
     "jobs.load.after[0]", "unknown job \"extrct\" (did you mean \"extract\"?)", 1},
    {"jobs:\n  a:\n    run: x\n    after: [zzz]\n", 4, 13, "jobs.a.after[0]", "unknown job \"zzz\"",
     1},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: [a, a]\n", 5, 16, "jobs.b.after[1]",
     "job \"a\" is listed twice", 1},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: []\n", 5, 12, "jobs.b.after",
     "an empty list: give at least one job, or remove after:", 1},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: [[a]]\n", 5, 13, "jobs.b.after[0]",
     "expected a job name, got a list", 1},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: {when: failure}\n", 5, 12, "jobs.b.after",
     "after needs jobs: the jobs whose runs start this one", 1},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: {job: [a]}\n", 5, 12, "jobs.b.after",
     "after needs jobs", 2},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: {jobs: [a, b]}\n", 5, 23,
     "jobs.b.after.jobs[1]", "job \"b\" cannot run after itself", 1},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: {jobs: a, when: later}\n", 5, 28,
     "jobs.b.after.when", "\"later\" is not one of success, failure or always", 1},
    {"jobs:\n  a: {run: x}\n  b:\n    run: x\n    after: {jobs: {a: 1}}\n", 5, 19,
     "jobs.b.after.jobs", "expected a job name or a list of them, got a mapping", 1},
    {"jobs:\n  a: {run: x, after: [c]}\n  b: {run: x, after: [a]}\n  c: {run: x, after: b}\n", 3,
     23, "jobs.b.after[0]", "jobs form a cycle through after: a -> c -> b -> a", 1},
    /* alerts */
    {"jobs:\n  a:\n    run: x\n    alert: 5\n", 4, 12, "jobs.a.alert",
     "expected a mapping like {on: [failure], webhook: \"https://...\"}, got \"5\"", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {on: [failure]}\n", 4, 12, "jobs.a.alert",
     "an alert needs at least one channel: give webhook, slack, email or command", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {webhook: ~}\n", 4, 12, "jobs.a.alert",
     "an alert needs at least one channel", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {on: [failur], slack: \"https://h\"}\n", 4, 18,
     "jobs.a.alert.on[0]",
     "\"failur\" is not one of failure, timeout, missed, recovered, late or success (did you "
     "mean \"failure\"?)",
     1},
    {"jobs:\n  a:\n    run: x\n    alert: {on: [], slack: \"https://h\"}\n", 4, 17,
     "jobs.a.alert.on", "an empty list: give at least one of failure", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {on: {a: 1}, slack: \"https://h\"}\n", 4, 17,
     "jobs.a.alert.on", "expected a list of events like [failure, timeout], got a mapping", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {webhook: hooks.example.com}\n", 4, 22,
     "jobs.a.alert.webhook",
     "expected a URL starting with http:// or https://, got \"hooks.example.com\"", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {slack: \"https://\"}\n", 4, 20, "jobs.a.alert.slack",
     "the URL \"https://\" has no host", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {webhook: \"https://h/a b\"}\n", 4, 34,
     "jobs.a.alert.webhook", "a URL cannot contain spaces or control characters", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {webhok: \"https://h\", slack: \"https://s\"}\n", 4, 13,
     "jobs.a.alert.webhok", "unknown key \"webhok\" (did you mean \"webhook\"?)", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {to: a@b, webhook: \"https://h\"}\n", 4, 13,
     "jobs.a.alert.to", "unknown key \"to\" (it belongs under email:)", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {password: x, webhook: \"https://h\"}\n", 4, 13,
     "jobs.a.alert.password", "secrets never go in sked.yaml", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {email: x}\n", 4, 20, "jobs.a.alert.email",
     "expected a mapping like {smtp_url: smtps://mail.example.com, from: ..., to: ...}", 1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email: {smtp_url: \"smtps://m\"}\n", 5, 14,
     "jobs.a.alert.email", "email needs smtp_url, from and to: from, to are missing", 1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email:\n        smtp_url: \"http://m\"\n"
     "        from: a@b\n        to: c@d\n",
     6, 19, "jobs.a.alert.email.smtp_url",
     "expected a URL starting with smtp:// or smtps://, got \"http://m\"", 1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email: {smtp_url: \"smtp://m\", from: nobody, "
     "to: c@d}\n",
     5, 43, "jobs.a.alert.email.from",
     "expected an email address like ops@example.com, got \"nobody\"", 1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email: {smtp_url: \"smtp://m\", from: a@b, to: "
     "[]}\n",
     5, 52, "jobs.a.alert.email.to", "an empty list: give at least one address", 1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email: {smtp_url: \"smtp://m\", from: a@b, to: "
     "[c@d, e]}\n",
     5, 58, "jobs.a.alert.email.to[1]", "expected an email address", 1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email:\n        smtp_url: smtp://m\n"
     "        from: a@b\n        to: c@d\n        password: hunter2\n",
     9, 9, "jobs.a.alert.email.password",
     "secrets never go in sked.yaml: give password_env (the name of an environment variable) "
     "or password_file (a file only its owner can read)",
     1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email:\n        smtp_url: smtp://m\n"
     "        from: a@b\n        to: c@d\n        password_env: 1PW\n",
     9, 23, "jobs.a.alert.email.password_env", "\"1PW\" is not a valid variable name", 1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email:\n        smtp_url: smtp://m\n"
     "        from: a@b\n        to: c@d\n        password_file: nothere.pw\n",
     9, 24, "jobs.a.alert.email.password_file",
     "password_file \"nothere.pw\" does not exist (relative paths start in the config file's "
     "folder)",
     1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email:\n        smtp_url: smtp://m\n"
     "        from: a@b\n        to: c@d\n        password_file: open.pw\n",
     9, 24, "jobs.a.alert.email.password_file",
     "password_file \"open.pw\" holds secrets but other users may read it (mode 0644): run "
     "chmod 600 on it",
     1},
    {"jobs:\n  a:\n    run: x\n    alert:\n      email:\n        smtp_url: smtp://m\n"
     "        from: a@b\n        to: c@d\n        password_env: PW\n"
     "        password_file: smtp.pw\n",
     10, 9, "jobs.a.alert.email.password_file",
     "password_env and password_file cannot be combined: give one", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {command: []}\n", 4, 22, "jobs.a.alert.command",
     "an empty command", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {command: \"notify | mail\"}\n", 4, 30,
     "jobs.a.alert.command",
     "'|' would reach the program as a plain argument: command: uses no shell; write [sh, -c, "
     "\"...\"] for pipes, redirections and $variables",
     1},
    {"jobs:\n  a:\n    run: x\n    alert: {command: \"notify 'x\"}\n", 4, 30,
     "jobs.a.alert.command", "this single quote is never closed", 1},
    {"jobs:\n  a:\n    run: x\n    alert: {command: [notify, {a: 1}]}\n", 4, 31,
     "jobs.a.alert.command[1]", "expected a program or argument, got a mapping", 1},
    {"defaults:\n  alert: {on: [x], webhook: \"https://h\"}\njobs:\n  a: {run: x}\n  b: {run: y}\n",
     2, 16, "defaults.alert.on[0]", "\"x\" is not one of failure", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, alert: {slack: \"ftp://h\"}}\n", 4, 34,
     "jobs.a.steps.b.alert.slack", "expected a URL starting with http:// or https://", 1},
    /* nodes: a job's labels */
    {"jobs:\n  a:\n    run: x\n    nodes: [gpu, \"b c\"]\n", 4, 20, "jobs.a.nodes[1]",
     "\"b c\" is not a valid label: 1-64 letters, digits, '_', '.' or '-'", 1},
    {"jobs:\n  a:\n    run: x\n    nodes: gpu/1\n", 4, 15, "jobs.a.nodes",
     "\"gpu/1\" is not a valid label", 1},
    {"jobs:\n  a:\n    run: x\n    nodes: \"gpu,big\"\n", 4, 16, "jobs.a.nodes",
     "is not a valid label: 1-64 letters, digits, '_', '.' or '-' (give several as a list, "
     "like [gpu, big])",
     1},
    {"jobs:\n  a:\n    run: x\n    nodes: [a2345678901234567890123456789012345678901234567890"
     "12345678901234x]\n",
     4, 13, "jobs.a.nodes[0]", "is not a valid label", 1},
    {"jobs:\n  a:\n    run: x\n    nodes: [gpu, big, gpu]\n", 4, 23, "jobs.a.nodes[2]",
     "label \"gpu\" is listed twice", 1},
    {"jobs:\n  a:\n    run: x\n    nodes: [gpu, [big]]\n", 4, 18, "jobs.a.nodes[1]",
     "expected a label, got a list", 1},
    {"jobs:\n  a:\n    run: x\n    nodes: [gpu, \"\"]\n", 4, 18, "jobs.a.nodes[1]",
     "expected a label, got an empty string", 1},
    {"jobs:\n  a:\n    run: x\n    nodes: {gpu: 1}\n", 4, 12, "jobs.a.nodes",
     "expected a label or a list of labels like [gpu], got a mapping", 1},
    {"defaults:\n  nodes: [\"x y\"]\njobs:\n  a: {run: x}\n  b: {run: y}\n", 2, 13,
     "defaults.nodes[0]", "\"x y\" is not a valid label", 1},
    {"jobs:\n  a:\n    steps:\n      b: {run: x, nodes: [gpu]}\n", 4, 19, "jobs.a.steps.b.nodes",
     "nodes applies to the whole workflow, not to one step: set it on the job", 1},
    {"jobs:\n  a:\n    run: x\n    node: [gpu]\n", 4, 5, "jobs.a.node",
     "unknown key \"node\" (did you mean \"nodes\"?)", 1},
    /* cluster: */
    {"cluster: 5\n", 1, 10, "cluster", "expected a mapping (lease_timeout, nodes), got \"5\"", 1},
    {"cluster:\n  lease_timout: 5s\n", 2, 3, "cluster.lease_timout",
     "unknown key \"lease_timout\" (did you mean \"lease_timeout\"?)", 1},
    {"cluster:\n  leader: n1\n", 2, 3, "cluster.leader", "unknown key \"leader\"", 1},
    {"clustre:\n  lease_timeout: 5s\n", 1, 1, "clustre",
     "unknown key \"clustre\" (did you mean \"cluster\"?)", 1},
    {"nodes: {n1: {}}\n", 1, 1, "nodes",
     "unknown key \"nodes\" at the top level (the nodes of a cluster go under cluster.nodes", 1},
    {"lease_timeout: 5s\n", 1, 1, "lease_timeout", "(it goes under cluster:)", 1},
    {"cluster:\n  lease_timeout: 2s\n", 2, 18, "cluster.lease_timeout",
     "\"2s\" is out of range 3s-10m", 1},
    {"cluster:\n  lease_timeout: 2999ms\n", 2, 18, "cluster.lease_timeout", "out of range 3s-10m",
     1},
    {"cluster:\n  lease_timeout: 10m1s\n", 2, 18, "cluster.lease_timeout",
     "\"10m1s\" is out of range 3s-10m", 1},
    {"cluster:\n  lease_timeout: 0\n", 2, 18, "cluster.lease_timeout",
     "\"0\" is out of range 3s-10m", 1},
    {"cluster:\n  lease_timeout: 15\n", 2, 20, "cluster.lease_timeout", "missing unit after 15", 1},
    {"cluster:\n  lease_timeout: [15s]\n", 2, 18, "cluster.lease_timeout",
     "expected a duration like 15s, got a list", 1},
    {"cluster:\n  nodes: [n1, n2]\n", 2, 10, "cluster.nodes",
     "expected a mapping from node names to nodes", 1},
    {"cluster:\n  nodes:\n    n1: {label: [gpu]}\n", 3, 10, "cluster.nodes.n1.label",
     "unknown key \"label\" (did you mean \"labels\"?)", 1},
    {"cluster:\n  nodes:\n    n1:\n      max_paralel: 2\n", 4, 7, "cluster.nodes.n1.max_paralel",
     "(did you mean \"max_parallel\"?)", 1},
    {"cluster:\n  nodes:\n    \"n 1\": {}\n", 3, 7, "cluster.nodes.n 1",
     "node name \"n 1\" must be 1-64 letters, digits, '_', '.' or '-'", 1},
    {"cluster:\n  nodes:\n    n1: {}\n    n1: {}\n", 4, 5, "cluster.nodes.n1",
     "duplicate key \"n1\" (first given at line 3)", 1},
    {"cluster:\n  nodes:\n    n1: [gpu]\n", 3, 9, "cluster.nodes.n1",
     "expected a mapping (labels, max_parallel, api) like {labels: [gpu]}, got a list", 1},
    {"cluster:\n  nodes:\n    n1: {labels: [gpu, gpu]}\n", 3, 24, "cluster.nodes.n1.labels[1]",
     "label \"gpu\" is listed twice", 1},
    {"cluster:\n  nodes:\n    n1: {labels: \"a:b\"}\n", 3, 20, "cluster.nodes.n1.labels",
     "\"a:b\" is not a valid label", 1},
    {"cluster:\n  nodes:\n    n1: {max_parallel: 0}\n", 3, 24, "cluster.nodes.n1.max_parallel",
     "0 is out of range 1-10000", 1},
    {"cluster:\n  nodes:\n    n1: {max_parallel: 10001}\n", 3, 24, "cluster.nodes.n1.max_parallel",
     "10001 is out of range 1-10000", 1},
    {"cluster:\n  nodes:\n    n1: {max_parallel: two}\n", 3, 24, "cluster.nodes.n1.max_parallel",
     "expected a whole number, got \"two\"", 1},
    {"cluster:\n  nodes:\n    n1: {api: \"ftp://h\"}\n", 3, 15, "cluster.nodes.n1.api",
     "expected a URL starting with http:// or https://", 1},
    {"cluster:\n  nodes:\n    n1: {api: 10.0.0.1:8080}\n", 3, 15, "cluster.nodes.n1.api",
     "expected a URL starting with http:// or https://, like http://10.0.0.2:8080, got "
     "\"10.0.0.1:8080\"",
     1},
    {"cluster:\n  nodes:\n    n1: {api: \"http://\"}\n", 3, 15, "cluster.nodes.n1.api",
     "the URL \"http://\" has no host", 1},
    {"cluster:\n  nodes:\n    n1: {api: \"http://h x\"}\n", 3, 24, "cluster.nodes.n1.api",
     "a URL cannot contain spaces", 1},
    {"cluster:\n  nodes:\n    n1: {api: \"http://h/?a=1\"}\n", 3, 25, "cluster.nodes.n1.api",
     "cannot have a query or a fragment", 1},
    {"cluster:\n  nodes:\n    n1: {api: [x]}\n", 3, 15, "cluster.nodes.n1.api", "got a list", 1},
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
    assert_int_equal(c->cluster.lease_timeout_ms, 15000);
    assert_null(c->cluster.nodes);
    assert_int_equal(c->cluster.nnodes, 0);
    assert_null(sk_config_node(c, "n1"));

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
    assert_null(j->nodes);
    assert_int_equal(j->nnodes, 0);
    assert_null(sk_job_pin(j));
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
                                       "    after: [mod]\n"
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
    assert_string_equal(j->body.env[3].value, "xx\nyy");
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
    assert_non_null(j->alert);
    assert_int_equal(j->alert->on, SK_ALERT_FAILURE);
    assert_string_equal(j->alert->webhook, "https://h");
    assert_int_equal(j->nparams, 1);
    assert_string_equal(j->params[0].key, "a");
    assert_string_equal(j->params[0].value, "1");
    assert_int_equal(j->nafter, 1);
    assert_string_equal(j->after[0], "mod");
    assert_null(j->after[1]);
    assert_int_equal(j->after_when, SK_WHEN_SUCCESS);
    assert_int_equal(j->expected_duration_ms, 300000);
    assert_int_equal(j->nnodes, 1);
    assert_string_equal(j->nodes[0], "n1");
    assert_null(j->nodes[1]);
    assert_null(j->steps);
    assert_int_equal(j->nsteps, 0);
    assert_int_equal(j->step_parallel, 0);

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
/* Several nodes: a job's nodes:, cluster:, this node's name */

static void test_cluster_values(void **state)
{
    fixture_t *fx = *state;
    const sk_config_t *c = load_ok(fx, "max_parallel: 8\n"
                                       "cluster:\n"
                                       "  lease_timeout: 30s\n"
                                       "  nodes:\n"
                                       "    n1:\n"
                                       "      labels: [gpu, big]\n"
                                       "      max_parallel: 2\n"
                                       "      api: \"HTTP://10.0.0.1:8080//\"\n"
                                       "    n2:\n"
                                       "    web-1.example_x: {labels: ssd, api: "
                                       "\"https://[::1]:9000/sked\"}\n"
                                       "    n4: {labels: [], max_parallel: 10000}\n"
                                       "defaults:\n"
                                       "  nodes: gpu\n"
                                       "jobs:\n"
                                       "  a: {run: x, nodes: [gpu, big]}\n"
                                       "  b: {run: x}\n"
                                       "  c: {run: x, nodes: ~}\n"
                                       "  d: {run: x, nodes: []}\n"
                                       "  wf:\n"
                                       "    nodes: [\"0\", A.b_c-9]\n"
                                       "    steps: {s: {run: x}, t: {run: y, needs: s}}\n");
    assert_int_equal(c->cluster.lease_timeout_ms, 30000);
    assert_int_equal(c->cluster.nnodes, 4);

    const sk_node_cfg_t *n = sk_config_node(c, "n1");
    assert_ptr_equal(n, &c->cluster.nodes[0]);
    assert_string_equal(n->name, "n1");
    assert_int_equal(n->nlabels, 2);
    assert_string_equal(n->labels[0], "gpu");
    assert_string_equal(n->labels[1], "big");
    assert_null(n->labels[2]);
    assert_int_equal(n->max_parallel, 2);
    assert_string_equal(n->api, "HTTP://10.0.0.1:8080"); /* trailing '/' dropped */

    n = sk_config_node(c, "n2"); /* null: every default */
    assert_non_null(n);
    assert_null(n->labels);
    assert_int_equal(n->nlabels, 0);
    assert_int_equal(n->max_parallel, 8); /* the top-level max_parallel */
    assert_null(n->api);

    n = sk_config_node(c, "web-1.example_x");
    assert_non_null(n);
    assert_int_equal(n->nlabels, 1); /* one label as a string */
    assert_string_equal(n->labels[0], "ssd");
    assert_string_equal(n->api, "https://[::1]:9000/sked");

    n = sk_config_node(c, "n4");
    assert_null(n->labels);
    assert_int_equal(n->max_parallel, 10000);
    assert_null(sk_config_node(c, "n5"));
    assert_null(sk_config_node(c, NULL));
    assert_null(sk_config_node(NULL, "n1"));

    const sk_job_cfg_t *j = job(fx, "a");
    assert_int_equal(j->nnodes, 2);
    char *pin = sk_job_pin(j);
    assert_string_equal(pin, "gpu,big");
    free(pin);
    j = job(fx, "b"); /* from defaults, as a string */
    assert_int_equal(j->nnodes, 1);
    assert_string_equal(j->nodes[0], "gpu");
    assert_null(j->nodes[1]);
    pin = sk_job_pin(j);
    assert_string_equal(pin, "gpu");
    free(pin);
    j = job(fx, "c"); /* null unsets the default */
    assert_null(j->nodes);
    assert_int_equal(j->nnodes, 0);
    assert_null(sk_job_pin(j));
    j = job(fx, "d"); /* an empty list: no labels either */
    assert_null(j->nodes);
    assert_int_equal(j->nnodes, 0);
    j = job(fx, "wf"); /* a workflow's steps run where the job says */
    assert_int_equal(j->nsteps, 2);
    pin = sk_job_pin(j);
    assert_string_equal(pin, "0,A.b_c-9");
    free(pin);

    /* One label as a string is the one-element list, for the digest too. */
    load_ok(fx, "jobs: {a: {run: x, nodes: gpu}}\n");
    uint64_t d1 = fx->cfg->jobs[0].digest;
    load_ok(fx, "jobs: {a: {run: x, nodes: [gpu]}}\n");
    assert_true(fx->cfg->jobs[0].digest == d1);
}

/* The bounds: 64-character labels and node names, 32 labels, 3s and 10m. */
static void test_cluster_limits(void **state)
{
    fixture_t *fx = *state;
    char label64[65], text[4096];
    memset(label64, 'x', 64);
    label64[64] = '\0';
    size_t n =
        (size_t)sk_snprintf(text, sizeof(text),
                            "cluster:\n  lease_timeout: 3s\n  nodes:\n    %s: {labels: [%s]}\n"
                            "jobs:\n  a:\n    run: x\n    nodes: [",
                            label64, label64);
    for (int i = 0; i < 32; i++)
        n += (size_t)sk_snprintf(text + n, sizeof(text) - n, "%sl%d", i ? ", " : "", i);
    sk_snprintf(text + n, sizeof(text) - n, "]\n");
    const sk_config_t *c = load_ok(fx, text);
    assert_int_equal(c->cluster.lease_timeout_ms, 3000);
    assert_non_null(sk_config_node(c, label64));
    assert_int_equal(job(fx, "a")->nnodes, 32);
    assert_string_equal(job(fx, "a")->nodes[31], "l31");
    assert_null(job(fx, "a")->nodes[32]);
    load_ok(fx, "cluster: {lease_timeout: 10m}\n");
    assert_int_equal(fx->cfg->cluster.lease_timeout_ms, 600000);

    /* 33 labels, on a job and on a node */
    n = (size_t)sk_snprintf(text, sizeof(text), "jobs:\n  a:\n    run: x\n    nodes: [");
    for (int i = 0; i < 33; i++)
        n += (size_t)sk_snprintf(text + n, sizeof(text) - n, "%sl%d", i ? ", " : "", i);
    sk_snprintf(text + n, sizeof(text) - n, "]\n");
    assert_int_equal(load(fx, text), SK_ECONFIG);
    assert_int_equal(fx->errs.n, 1);
    assert_int_equal(fx->errs.items[0].line, 4);
    assert_int_equal(fx->errs.items[0].col, 12);
    assert_string_equal(fx->errs.items[0].path, "jobs.a.nodes");
    assert_string_equal(fx->errs.items[0].msg, "too many labels: 33 (at most 32)");
    n = (size_t)sk_snprintf(text, sizeof(text), "cluster:\n  nodes:\n    n1:\n      labels: [");
    for (int i = 0; i < 33; i++)
        n += (size_t)sk_snprintf(text + n, sizeof(text) - n, "%sl%d", i ? ", " : "", i);
    sk_snprintf(text + n, sizeof(text) - n, "]\n");
    assert_int_equal(load(fx, text), SK_ECONFIG);
    assert_int_equal(fx->errs.n, 1);
    assert_string_equal(fx->errs.items[0].path, "cluster.nodes.n1.labels");
    assert_string_equal(fx->errs.items[0].msg, "too many labels: 33 (at most 32)");

    /* 65 characters */
    sk_snprintf(text, sizeof(text), "cluster:\n  nodes:\n    x%s: {}\n", label64);
    assert_int_equal(load(fx, text), SK_ECONFIG);
    assert_int_equal(fx->errs.n, 1);
    assert_int_equal(fx->errs.items[0].col, 5);
    assert_true(strstr(fx->errs.items[0].msg, "must be 1-64 letters") != NULL);

    /* every error of a cluster: is reported, in file order */
    assert_int_equal(load(fx, "cluster:\n"
                              "  lease_timeout: 1s\n"
                              "  bogus: 1\n"
                              "  nodes:\n"
                              "    n1: {labels: [\"a b\"], max_parallel: 0, api: x, more: 1}\n"
                              "    n2: {max_parallel: 1}\n"),
                     SK_ECONFIG);
    static const char *const want[] = {
        "cluster.lease_timeout",         "cluster.bogus",        "cluster.nodes.n1.labels[0]",
        "cluster.nodes.n1.max_parallel", "cluster.nodes.n1.api", "cluster.nodes.n1.more",
    };
    assert_int_equal(fx->errs.n, SK_ARRAY_LEN(want));
    for (size_t i = 0; i < SK_ARRAY_LEN(want); i++)
        assert_string_equal(fx->errs.items[i].path, want[i]);
}

/* sked's sources never set the environment (banned.h); this test does, for
 * SKED_NODE, and puts it back. */
#undef setenv
static void test_node_name(void **state)
{
    (void)state;
    char buf[SK_NODE_NAME_MAX + 1], host[256];
    sk_err_t err;
    const char *saved = getenv("SKED_NODE");
    char *keep = saved ? sk_xstrdup(saved) : NULL;

    assert_true(sk_node_name_ok("n1"));
    assert_true(sk_node_name_ok("A.b_c-9"));
    assert_true(sk_node_name_ok("-x"));
    assert_false(sk_node_name_ok(""));
    assert_false(sk_node_name_ok(NULL));
    assert_false(sk_node_name_ok("a b"));
    assert_false(sk_node_name_ok("a,b"));
    assert_false(sk_node_name_ok("\xc3\xa9"));

    /* --node wins over SKED_NODE */
    assert_int_equal(setenv("SKED_NODE", "from-env", 1), 0);
    sk_err_clear(&err);
    assert_int_equal(sk_node_name("from-flag", buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "from-flag");
    sk_strlcpy(buf, "untouched", sizeof(buf));
    assert_int_equal(sk_node_name("a b", buf, sizeof(buf), &err), SK_EPARSE);
    assert_string_equal(err.msg, "--node \"a b\" is not a valid node name: 1-64 letters, digits, "
                                 "'_', '.' or '-'");
    assert_string_equal(buf, "untouched");
    assert_int_equal(sk_node_name("", buf, sizeof(buf), &err), SK_EPARSE);

    /* then SKED_NODE */
    assert_int_equal(sk_node_name(NULL, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "from-env");
    assert_int_equal(setenv("SKED_NODE", "bad/name", 1), 0);
    assert_int_equal(sk_node_name(NULL, buf, sizeof(buf), &err), SK_EPARSE);
    assert_string_equal(err.msg, "SKED_NODE \"bad/name\" is not a valid node name: 1-64 letters, "
                                 "digits, '_', '.' or '-'");
    assert_int_equal(sk_node_name(NULL, buf, 4, &err), SK_EPARSE); /* checked before the size */
    assert_int_equal(setenv("SKED_NODE", "from-env", 1), 0);
    assert_int_equal(sk_node_name(NULL, buf, 4, &err), -ENOSPC);

    /* then the host name up to its first '.', or "node" */
    assert_int_equal(setenv("SKED_NODE", "", 1), 0); /* empty counts as unset */
    assert_int_equal(sk_node_name(NULL, buf, sizeof(buf), &err), 0);
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    host[sizeof(host) - 1] = '\0';
    host[strcspn(host, ".")] = '\0';
    assert_string_equal(buf, sk_node_name_ok(host) ? host : "node");
    assert_true(sk_node_name_ok(buf));
    unsetenv("SKED_NODE");
    assert_int_equal(sk_node_name(NULL, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, sk_node_name_ok(host) ? host : "node");

    if (keep)
        setenv("SKED_NODE", keep, 1);
    free(keep);
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
        "jobs:\n  a:\n    run: [x, y]\n    schedule: \"0 2 * * *\"\n    nodes: []\n",
        "jobs:\n  a:\n    run: [x, y]\n    schedule: \"0 2 * * *\"\n    nodes: ~\n",
        ("cluster: {lease_timeout: 1m, nodes: {n1: {labels: [gpu]}}}\n"
         "jobs:\n  a:\n    run: [x, y]\n    schedule: \"0 2 * * *\"\n"),
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    expected_duration: 0\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    after: ~\n    params: ~\n",
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
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    expected_duration: 1m\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    params: {p: v}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    params: {p: w}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    after: b\n  b: {run: z}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n"
        "    after: {jobs: b, when: always}\n  b: {run: z}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n"
        "    alert: {webhook: \"https://h\"}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n"
        "    alert: {on: success, webhook: \"https://h\"}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n"
        "    alert: {command: notify}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    steps: {b: {run: [x, y]}}\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    nodes: [n1]\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    nodes: n1\n",
        "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n    nodes: [n1, n2]\n",
        ("defaults: {nodes: gpu}\n"
         "jobs:\n  a:\n    schedule: \"0 2 * * *\"\n    run: [x, y]\n"),
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(other); i++) {
        if (digest_of(fx, other[i]) == d)
            fail_msg("digest unchanged for:\n%s", other[i]);
    }
    /* A secret's value does not enter the digest (it may be shown); its key does. */
    const char *with_secret = "jobs:\n  a:\n    run: x\n    env_file: secret.env\n";
    uint64_t s1 = digest_of(fx, with_secret);
    write_file(fx->dir, "secret.env", "API_TOKEN=other\nDB_URL=xxxx\nQUOTED=yyyy\nESC=zzzz\n",
               0600);
    assert_true(digest_of(fx, with_secret) == s1);
    write_file(fx->dir, "secret.env", "API_TOKEN2=other\nDB_URL=xxxx\nQUOTED=yyyy\nESC=zzzz\n",
               0600);
    assert_true(digest_of(fx, with_secret) != s1);
}

/* -------------------------------------------------------------------------------------------- */
/* Workflows */

static const sk_step_cfg_t *step(const sk_job_cfg_t *j, const char *name)
{
    for (size_t i = 0; i < j->nsteps; i++) {
        if (strcmp(j->steps[i].name, name) == 0)
            return &j->steps[i];
    }
    fail_msg("no step %s in %s", name, j->name);
    return NULL;
}

/* A diamond: a; b and c need a; d needs both. Forward references resolve too. */
static void test_workflow_diamond(void **state)
{
    fixture_t *fx = *state;
    load_ok(fx, "jobs:\n"
                "  wf:\n"
                "    schedule: \"0 2 * * *\"\n"
                "    max_parallel: 2\n"
                "    steps:\n"
                "      d: {run: [echo, d], needs: [b, c], when: always}\n"
                "      a: {run: echo a}\n"
                "      b: {run: echo b, needs: a}\n"
                "      c: {run: echo c, needs: [a], when: failure}\n");
    const sk_job_cfg_t *j = job(fx, "wf");
    assert_int_equal(j->nsteps, 4);
    assert_int_equal(j->step_parallel, 2);
    /* in file order, needs as indexes */
    assert_string_equal(j->steps[0].name, "d");
    assert_string_equal(j->steps[1].name, "a");
    assert_int_equal(j->steps[0].nneeds, 2);
    assert_int_equal(j->steps[0].needs[0], 2);
    assert_int_equal(j->steps[0].needs[1], 3);
    assert_int_equal(j->steps[0].when, SK_WHEN_ALWAYS);
    assert_int_equal(j->steps[0].line, 6);
    assert_int_equal(j->steps[0].col, 7);
    assert_int_equal(j->steps[1].nneeds, 0);
    assert_int_equal(j->steps[1].when, SK_WHEN_SUCCESS);
    assert_int_equal(j->steps[2].nneeds, 1);
    assert_int_equal(j->steps[2].needs[0], 1);
    assert_int_equal(j->steps[3].when, SK_WHEN_FAILURE);
    assert_string_equal(j->steps[0].body.run_argv[1], "d");
    assert_string_equal(j->steps[1].body.run_argv[0], "echo");
    assert_string_equal(j->steps[1].body.run_argv[1], "a");
    /* the workflow's own body stays empty */
    assert_int_equal(j->body.kind, 0);
    assert_null(j->body.target);
    assert_null(j->body.run_argv);
    assert_null(j->body.config_dir);
    assert_int_equal(j->body.nenv, 0);

    /* max_parallel defaults to 4 for a workflow */
    load_ok(fx, "jobs:\n  wf:\n    steps: {one: {run: x}}\n");
    assert_int_equal(job(fx, "wf")->step_parallel, 4);
}

/* secrets: from a file, a credential and a command, merged under defaults:,
 * after env_file's values and before env:'s; what a run masks. A command in
 * defaults runs once per load however many jobs inherit it, and not at all
 * with SK_CONFIG_SKIP_SECRETS. */
static void test_secrets_sources(void **state)
{
    fixture_t *fx = *state;
    char creds[300], count[300], *text = NULL;
    size_t len = 0;
    sk_snprintf(creds, sizeof(creds), "%s/creds", fx->dir);
    sk_snprintf(count, sizeof(count), "%s/count", fx->dir);
    const char *saved = getenv("CREDENTIALS_DIRECTORY");
    char *keep = saved ? sk_xstrdup(saved) : NULL;
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
    const char *yaml =
        "defaults:\n"
        "  secrets:\n"
        "    FROM_CMD: {command: [sh, -c, \"echo run >> count; echo cmd-value-1\"]}\n"
        "jobs:\n"
        "  a:\n"
        "    run: x\n"
        "    env_file: secret.env\n"
        "    secrets:\n"
        "      FROM_FILE: {file: db.pw}\n"
        "      FROM_CRED: {credential: api-token}\n"
        "    env: {PLAIN: visible, MY_TOKEN: named-token, SHORT_KEY: ab}\n"
        "  b: {run: x}\n"
        "  c: {run: x, secrets: ~}\n"
        "  wf:\n"
        "    steps:\n"
        "      s1: {run: x}\n"
        "      s2: {run: x, env: {EXTRA_SECRET: step-value-1}}\n";
    load_ok(fx, yaml);
    const sk_job_cfg_t *j = job(fx, "a");
    static const char *const keys[] = {"API_TOKEN", "DB_URL",    "QUOTED", "ESC",      "FROM_CMD",
                                       "FROM_FILE", "FROM_CRED", "PLAIN",  "MY_TOKEN", "SHORT_KEY"};
    assert_int_equal(j->body.nenv, SK_ARRAY_LEN(keys));
    for (size_t i = 0; i < SK_ARRAY_LEN(keys); i++)
        assert_string_equal(j->body.env[i].key, keys[i]);
    assert_int_equal(j->body.nsecret, 7);
    assert_int_equal(j->nsecret_env, 7);
    assert_string_equal(j->body.env[4].value, "cmd-value-1");
    assert_string_equal(j->body.env[5].value, "db-password-1");
    assert_string_equal(j->body.env[6].value, "cred-value-1");
    /* masked: the 7 secrets and MY_TOKEN (named like one); not SHORT_KEY (too short) */
    assert_int_equal(sk_strv_len(j->body.masked), 8);
    assert_string_equal(j->body.masked[7], "named-token");
    /* b inherits the command's value; c unsets the defaults' secrets */
    assert_int_equal(job(fx, "b")->body.nsecret, 1);
    assert_string_equal(job(fx, "b")->body.env[0].value, "cmd-value-1");
    assert_int_equal(job(fx, "c")->body.nsecret, 0);
    assert_null(job(fx, "c")->body.masked);
    /* steps share the workflow's secrets; a step's env named like one is masked too */
    const sk_job_cfg_t *wf = job(fx, "wf");
    assert_int_equal(wf->steps[0].body.nsecret, 1);
    assert_int_equal(sk_strv_len(wf->steps[0].body.masked), 1);
    assert_int_equal(wf->steps[1].body.nsecret, 1);
    assert_int_equal(sk_strv_len(wf->steps[1].body.masked), 2);
    /* the command ran once for the whole file */
    assert_int_equal(sk_config__read_file(count, 4096, &text, &len), 0);
    assert_string_equal(text, "run\n");
    free(text);
    unlink(count);

    /* Without secrets: nothing is read or run, the values are empty. */
    sk_config_unref(fx->cfg);
    fx->cfg = NULL;
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_int_equal(
        sk_config_load_opts(fx->yaml, SK_CONFIG_SKIP_SECRETS, fx->tzc, &fx->cfg, &fx->errs), 0);
    j = job(fx, "a");
    assert_int_equal(j->body.nsecret, 7);
    assert_string_equal(j->body.env[4].value, "");
    assert_string_equal(j->body.env[6].value, "");
    assert_int_equal(access(count, F_OK), -1);
    /* ...while a full load needs the credentials */
    assert_int_equal(load(fx, yaml), SK_ECONFIG);
    assert_non_null(strstr(fx->errs.items[0].msg, "$CREDENTIALS_DIRECTORY is not set"));
    unlink(count);

    if (keep)
        setenv("CREDENTIALS_DIRECTORY", keep, 1);
    free(keep);
}

/* Steps inherit the job's venv, cwd, env (merged, the step winning) and run limits. */
static void test_workflow_inheritance(void **state)
{
    fixture_t *fx = *state;
    load_ok(fx, "defaults:\n"
                "  retries: 2\n"
                "  env: {D: d}\n"
                "jobs:\n"
                "  wf:\n"
                "    venv: venv\n"
                "    cwd: work\n"
                "    env_file: secret.env\n"
                "    env: {A: job, B: job}\n"
                "    timeout: 1h\n"
                "    kill_grace: 5s\n"
                "    retry_delay: 1m\n"
                "    max_output: 1MiB\n"
                "    alert: {webhook: \"https://hooks.example.com/x\"}\n"
                "    steps:\n"
                "      py: {python: scripts/job.py, args: [--x]}\n"
                "      mod:\n"
                "        module: pkg.tool\n"
                "        venv: ~\n"
                "        cwd: scripts\n"
                "        env: {B: step, C: step}\n"
                "        timeout: 0\n"
                "        kill_grace: 1s\n"
                "        retries: 0\n"
                "        retry_delay: 2s\n"
                "        max_output: 1KiB\n"
                "        alert: {on: [success], slack: \"https://hooks.slack.com/y\"}\n"
                "        needs: [py]\n"
                "      sh: {shell: \"echo hi | wc -c\", needs: [mod]}\n");
    const sk_job_cfg_t *j = job(fx, "wf");
    char want[256];
    assert_int_equal(j->nsecret_env, 4);
    assert_string_equal(j->env_file, "secret.env");
    assert_int_equal(j->retries, 2);

    const sk_step_cfg_t *s = step(j, "py");
    assert_int_equal(s->body.kind, SK_BODY_PYTHON);
    sk_snprintf(want, sizeof(want), "%s/scripts/job.py", fx->dir);
    assert_string_equal(s->body.target, want);
    assert_string_equal(s->body.args[0], "--x");
    sk_snprintf(want, sizeof(want), "%s/venv", fx->dir);
    assert_string_equal(s->body.venv, want);
    sk_snprintf(want, sizeof(want), "%s/work", fx->dir);
    assert_string_equal(s->body.cwd, want);
    assert_string_equal(s->body.config_dir, fx->dir);
    /* env_file's 4 secrets, then defaults' D, then the job's A and B */
    assert_int_equal(s->body.nenv, 7);
    assert_string_equal(s->body.env[0].key, "API_TOKEN");
    assert_string_equal(s->body.env[4].key, "D");
    assert_string_equal(s->body.env[5].key, "A");
    assert_string_equal(s->body.env[6].value, "job");
    assert_int_equal(s->timeout_ms, 3600000);
    assert_int_equal(s->kill_grace_ms, 5000);
    assert_int_equal(s->retries, 2);
    assert_int_equal(s->retry_delay_ms, 60000);
    assert_int_equal(s->max_output, MIB);
    assert_null(s->alert); /* the job's */
    assert_int_equal(s->nneeds, 0);

    s = step(j, "mod");
    assert_int_equal(s->body.kind, SK_BODY_MODULE);
    assert_string_equal(s->body.target, "pkg.tool");
    sk_snprintf(want, sizeof(want), "%s/venv", fx->dir);
    assert_string_equal(s->body.venv, want); /* null is "not given": inherited */
    sk_snprintf(want, sizeof(want), "%s/scripts", fx->dir);
    assert_string_equal(s->body.cwd, want);
    assert_int_equal(s->body.nenv, 8);
    assert_string_equal(s->body.env[5].key, "A");
    assert_string_equal(s->body.env[5].value, "job");
    assert_string_equal(s->body.env[6].key, "B");
    assert_string_equal(s->body.env[6].value, "step");
    assert_string_equal(s->body.env[7].key, "C");
    assert_int_equal(s->timeout_ms, 0);
    assert_int_equal(s->kill_grace_ms, 1000);
    assert_int_equal(s->retries, 0);
    assert_int_equal(s->retry_delay_ms, 2000);
    assert_int_equal(s->max_output, 1024);
    assert_non_null(s->alert);
    assert_int_equal(s->alert->on, SK_ALERT_SUCCESS);
    assert_null(s->alert->webhook);
    assert_string_equal(s->alert->slack, "https://hooks.slack.com/y");

    s = step(j, "sh");
    assert_int_equal(s->body.kind, SK_BODY_SHELL);
    assert_null(s->body.venv); /* only python and module steps take the venv */
    assert_int_equal(s->body.nenv, 7);
    assert_ptr_equal(s->body.env, step(j, "py")->body.env); /* shared, not copied */
}

static void test_workflow_cycles(void **state)
{
    fixture_t *fx = *state;
    /* each cycle is reported once, at the needs entry that closes it */
    assert_int_equal(load(fx, "jobs:\n"
                              "  wf:\n"
                              "    steps:\n"
                              "      a: {run: x, needs: [b]}\n"
                              "      b: {run: x, needs: [a, c]}\n"
                              "      c: {run: x, needs: [c2]}\n"
                              "      c2: {run: x, needs: c}\n"),
                     SK_ECONFIG);
    assert_int_equal(fx->errs.n, 2);
    assert_int_equal(fx->errs.items[0].line, 5);
    assert_int_equal(fx->errs.items[0].col, 27);
    assert_string_equal(fx->errs.items[0].msg, "steps form a cycle: a -> b -> a");
    assert_string_equal(fx->errs.items[1].path, "jobs.wf.steps.c2.needs");
    assert_string_equal(fx->errs.items[1].msg, "steps form a cycle: c -> c2 -> c");

    /* a long cycle is shortened in the middle */
    char text[4096];
    size_t n = (size_t)sk_snprintf(text, sizeof(text), "jobs:\n  wf:\n    steps:\n");
    for (int i = 0; i < 30; i++)
        n += (size_t)sk_snprintf(text + n, sizeof(text) - n, "      s%d: {run: x, needs: s%d}\n", i,
                                 (i + 1) % 30);
    assert_int_equal(load(fx, text), SK_ECONFIG);
    assert_int_equal(fx->errs.n, 1);
    assert_string_equal(fx->errs.items[0].path, "jobs.wf.steps.s29.needs");
    assert_string_equal(fx->errs.items[0].msg,
                        "steps form a cycle: s0 -> s1 -> s2 -> ... -> s29 -> s0");

    /* a chain of 1000 steps is no cycle, and costs no deep recursion */
    size_t cap = 1000 * 48 + 64;
    char *big = sk_xmalloc(cap);
    n = (size_t)sk_snprintf(big, cap, "jobs:\n  wf:\n    steps:\n      s0: {run: x}\n");
    for (int i = 1; i < 1000; i++)
        n += (size_t)sk_snprintf(big + n, cap - n, "      s%d: {run: x, needs: s%d}\n", i, i - 1);
    load_ok(fx, big);
    assert_int_equal(job(fx, "wf")->nsteps, 1000);
    assert_int_equal(job(fx, "wf")->steps[999].needs[0], 998);

    /* 1001 steps are too many */
    sk_snprintf(big + n, cap - n, "      s1000: {run: x}\n");
    assert_int_equal(load(fx, big), SK_ECONFIG);
    assert_int_equal(fx->errs.n, 1);
    assert_string_equal(fx->errs.items[0].path, "jobs.wf.steps");
    assert_string_equal(fx->errs.items[0].msg,
                        "too many steps: 1001 (a workflow has at most 1000)");
    free(big);
}

static void test_workflow_digest(void **state)
{
    fixture_t *fx = *state;
    const char *base = "jobs:\n  a:\n    steps:\n      x: {run: x}\n      y: {run: y, needs: x}\n";
    uint64_t d = digest_of(fx, base);
    assert_true(
        digest_of(fx, "jobs:\n  a:\n    steps: {x: {run: \"x\"}, y: {needs: [x], run: [y]}}\n") ==
        d);
    static const char *const other[] = {
        "jobs:\n  a:\n    steps:\n      x: {run: x}\n      y: {run: z, needs: x}\n",
        "jobs:\n  a:\n    steps:\n      x: {run: x}\n      y: {run: y}\n",
        "jobs:\n  a:\n    steps:\n      y: {run: y, needs: x}\n      x: {run: x}\n",
        "jobs:\n  a:\n    steps:\n      x: {run: x}\n      z: {run: y, needs: x}\n",
        "jobs:\n  a:\n    steps:\n      x: {run: x}\n      y: {run: y, needs: x, when: always}\n",
        "jobs:\n  a:\n    steps:\n      x: {run: x, timeout: 1m}\n      y: {run: y, needs: x}\n",
        "jobs:\n  a:\n    steps:\n      x: {run: x, env: {A: b}}\n      y: {run: y, needs: x}\n",
        "jobs:\n  a:\n    max_parallel: 1\n    steps:\n      x: {run: x}\n      y: {run: y, needs: "
        "x}\n",
        "jobs:\n  a:\n    steps:\n      x: {run: x, alert: {command: [n]}}\n"
        "      y: {run: y, needs: x}\n",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(other); i++) {
        if (digest_of(fx, other[i]) == d)
            fail_msg("digest unchanged for:\n%s", other[i]);
    }
}

/* -------------------------------------------------------------------------------------------- */
/* Alerts, params, after */

static void test_alerts(void **state)
{
    fixture_t *fx = *state;
    load_ok(fx, "defaults:\n"
                "  alert: {webhook: \"https://hooks.example.com/default\"}\n"
                "jobs:\n"
                "  plain: {run: x}\n"
                "  quiet: {run: x, alert: ~}\n"
                "  all:\n"
                "    run: x\n"
                "    alert:\n"
                "      on: [failure, timeout, missed, recovered, late, success, failure]\n"
                "      webhook: HTTPS://hooks.example.com/T0/B0\n"
                "      slack: \"http://slack.example.com/x?y=1#z\"\n"
                "      command: \"notify-send --urgency 'very high'\"\n"
                "      email:\n"
                "        smtp_url: smtps://mail.example.com:465\n"
                "        from: Sked <sked@example.com>\n"
                "        to: ops@example.com\n"
                "        username: sked\n"
                "        password_file: smtp.pw\n"
                "  list:\n"
                "    run: x\n"
                "    alert:\n"
                "      on: late\n"
                "      command: [/usr/local/bin/page, --team, ops]\n"
                "      email: {smtp_url: \"smtp://localhost:25\", from: a@b, to: [c@d, e@f],\n"
                "              password_env: SMTP_PASSWORD}\n");
    const sk_job_cfg_t *j = job(fx, "plain");
    assert_non_null(j->alert);
    assert_int_equal(j->alert->on, SK_ALERT_FAILURE | SK_ALERT_TIMEOUT | SK_ALERT_MISSED);
    assert_string_equal(j->alert->webhook, "https://hooks.example.com/default");
    assert_null(j->alert->slack);
    assert_null(j->alert->command);
    assert_false(j->alert->has_email);

    assert_null(job(fx, "quiet")->alert);

    j = job(fx, "all");
    assert_int_equal(j->alert->on, 0x3f);
    assert_string_equal(j->alert->webhook, "HTTPS://hooks.example.com/T0/B0");
    assert_string_equal(j->alert->slack, "http://slack.example.com/x?y=1#z");
    assert_string_equal(j->alert->command[0], "notify-send");
    assert_string_equal(j->alert->command[2], "very high");
    assert_null(j->alert->command[3]);
    assert_true(j->alert->has_email);
    assert_string_equal(j->alert->email.smtp_url, "smtps://mail.example.com:465");
    assert_string_equal(j->alert->email.from, "Sked <sked@example.com>");
    assert_string_equal(j->alert->email.to[0], "ops@example.com");
    assert_null(j->alert->email.to[1]);
    assert_string_equal(j->alert->email.username, "sked");
    assert_null(j->alert->email.password_env);
    char want[256];
    sk_snprintf(want, sizeof(want), "%s/smtp.pw", fx->dir);
    assert_string_equal(j->alert->email.password_file, want);

    j = job(fx, "list");
    assert_int_equal(j->alert->on, SK_ALERT_LATE);
    assert_null(j->alert->webhook);
    assert_string_equal(j->alert->command[2], "ops");
    assert_string_equal(j->alert->email.to[1], "e@f");
    assert_null(j->alert->email.to[2]);
    assert_null(j->alert->email.username);
    assert_string_equal(j->alert->email.password_env, "SMTP_PASSWORD");
    assert_null(j->alert->email.password_file);

    /* the event and when names */
    assert_string_equal(sk_alert_event_str(SK_ALERT_FAILURE), "failure");
    assert_string_equal(sk_alert_event_str(SK_ALERT_SUCCESS), "success");
    assert_null(sk_alert_event_str(0));
    assert_null(sk_alert_event_str(SK_ALERT_FAILURE | SK_ALERT_LATE));
    assert_string_equal(sk_when_str(SK_WHEN_SUCCESS), "success");
    assert_string_equal(sk_when_str(SK_WHEN_ALWAYS), "always");
}

static void test_params_and_after(void **state)
{
    fixture_t *fx = *state;
    load_ok(fx, "defaults:\n"
                "  params: {region: eu}\n"
                "jobs:\n"
                "  extract:\n"
                "    run: x\n"
                "    params: {date: \"2026-01-01\", limit: 10, empty: ~, _x1: ''}\n"
                "  load: {run: x, after: extract}\n"
                "  report: {run: x, after: [extract, load]}\n"
                "  on-fail: {run: x, after: {jobs: [load], when: failure}}\n"
                "  always: {run: x, after: {jobs: load, when: always}, params: ~}\n"
                "  a: {run: x, after: b}\n"
                "  b: {run: x, after: c}\n"
                "  c: {run: x}\n");
    const sk_job_cfg_t *j = job(fx, "extract");
    assert_int_equal(j->nparams, 4);
    assert_string_equal(j->params[0].key, "date");
    assert_string_equal(j->params[0].value, "2026-01-01");
    assert_string_equal(j->params[1].value, "10");
    assert_string_equal(j->params[2].key, "empty");
    assert_string_equal(j->params[2].value, "");
    assert_string_equal(j->params[3].key, "_x1");
    assert_int_equal(j->nafter, 0);
    assert_null(j->after);

    j = job(fx, "load");
    assert_int_equal(j->nparams, 1);
    assert_string_equal(j->params[0].key, "region");
    assert_int_equal(j->nafter, 1);
    assert_string_equal(j->after[0], "extract");
    assert_null(j->after[1]);
    assert_int_equal(j->after_when, SK_WHEN_SUCCESS);

    j = job(fx, "report");
    assert_int_equal(j->nafter, 2);
    assert_string_equal(j->after[1], "load");

    j = job(fx, "on-fail");
    assert_int_equal(j->nafter, 1);
    assert_int_equal(j->after_when, SK_WHEN_FAILURE);

    j = job(fx, "always");
    assert_int_equal(j->after_when, SK_WHEN_ALWAYS);
    assert_int_equal(j->nparams, 0);

    /* after: names any job of the file, even one that has errors itself */
    assert_int_equal(load(fx, "jobs:\n  a: {run: x, after: b}\n  b: {retries: x}\n"), SK_ECONFIG);
    assert_int_equal(fx->errs.n, 2);
    assert_string_equal(fx->errs.items[0].path, "jobs.b");
    assert_string_equal(fx->errs.items[1].path, "jobs.b.retries");

    /* at most 100 params */
    char text[4096];
    size_t n = (size_t)sk_snprintf(text, sizeof(text), "jobs:\n  a:\n    run: x\n    params:\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)sk_snprintf(text + n, sizeof(text) - n, "      p%d: v\n", i);
    assert_int_equal(load(fx, text), SK_ECONFIG);
    assert_int_equal(fx->errs.n, 1);
    assert_string_equal(fx->errs.items[0].msg, "too many params: 101 (at most 100)");
    text[n - strlen("      p100: v\n")] = '\0';
    load_ok(fx, text);
    assert_int_equal(job(fx, "a")->nparams, 100);
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

    /* 16 MiB and one byte */
    size_t big = SK_CONFIG_MAX_FILE_BYTES + 1;
    char *text = sk_xmalloc(big + 1);
    memset(text, '#', big);
    text[big] = '\0';
    assert_int_equal(load(fx, text), SK_ECONFIG);
    assert_string_equal(fx->errs.items[0].msg, "the file is larger than 16 MiB");
    assert_int_equal(sk_config_load_text("x.yaml", text, big, fx->tzc, &c, &fx->errs), SK_ECONFIG);
    text[big - 1] = '\0'; /* exactly 16 MiB of comment is fine */
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

    /* "billion laughs": aliases multiply to more than four million nodes */
    char lol[2048];
    size_t n = (size_t)sk_snprintf(lol, sizeof(lol), "x-0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++) {
        n += (size_t)sk_snprintf(lol + n, sizeof(lol) - n, "x-%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++)
            n += (size_t)sk_snprintf(lol + n, sizeof(lol) - n, "%s*a%d", k ? ", " : "", i - 1);
        n += (size_t)sk_snprintf(lol + n, sizeof(lol) - n, "]\n");
    }
    assert_int_equal(load(fx, lol), SK_ECONFIG);
    assert_true(strstr(fx->errs.items[0].msg, "more than 4000000 nodes") != NULL);

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
        {"A=1111\nB=two words  \n", {"A", "1111", "B", "two words"}},
        {"  # c\n\nexport  A=1111\r\n", {"A", "1111"}},
        {"A = 'xxxx'  # trailing\n", {"A", "xxxx"}},
        {"A=\"a\\\"b\\\\c\\nd\\q\"\n", {"A", "a\"b\\c\nd\\q"}},
        {"A=1111\nA=2222\n", {"A", "2222"}},
        {"A=\nB=#xyz", {"A", "", "B", "#xyz"}},
        {"export=1111", {"export", "1111"}},
        /* every value is a secret: one too short to mask is refused */
        {"A=123\n", {"!"}},
        {"A=long enough\nB='abc'\n", {"!"}},
        {"A=\"a\\nb\"\n", {"!"}},
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
        cmocka_unit_test_setup_teardown(test_cluster_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_limits, setup, teardown),
        cmocka_unit_test(test_node_name),
        cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_diamond, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_inheritance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_cycles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workflow_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params_and_after, setup, teardown),
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
