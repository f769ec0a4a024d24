/*
 * The executor (src/exec/): what a run executes (argv with its parameters,
 * its environment, folder and log) and what its end means (status and
 * reason), the same for the daemon, a cluster worker and `sked exec`.
 * Real processes on a real loop.
 */
#include "common/common.h"
#include "common/log.h"
#include "config/config.h"
#include "exec/exec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

typedef struct {
    char dir[64];
    sk_tz_cache_t *tzc;
    sk_config_t *cfg;
    sk_errs_t errs;
    uv_loop_t loop;
    sk_proc_result_t res;
    int ends;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    sk_strlcpy(fx->dir, "/tmp/sked-exec-XXXXXX", sizeof(fx->dir));
    assert_non_null(mkdtemp(fx->dir));
    fx->tzc = sk_tz_cache_new(NULL);
    sk_errs_init(&fx->errs);
    uv_loop_init(&fx->loop);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    uv_loop_close(&fx->loop);
    sk_config_unref(fx->cfg);
    sk_errs_release(&fx->errs);
    sk_tz_cache_free(fx->tzc);
    rm_rf(fx->dir);
    free(fx);
    return 0;
}

/* The job `name` of a sked.yaml in the fixture's folder. */
static const sk_job_cfg_t *job_of(fixture_t *fx, const char *yaml, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/sked.yaml", fx->dir);
    int r = sk_config_load_text(path, yaml, strlen(yaml), fx->tzc, &fx->cfg, &fx->errs);
    if (r < 0)
        sk_errs_print(&fx->errs, stderr);
    assert_int_equal(r, 0);
    const sk_job_cfg_t *job = sk_config_job(fx->cfg, name);
    assert_non_null(job);
    return job;
}

static void on_end(sk_proc_t *p, const sk_proc_result_t *res, void *data)
{
    (void)p;
    fixture_t *fx = data;
    fx->res = *res;
    fx->ends++;
}

/* Runs spec to its end; returns its log's text (new memory). */
static char *run(fixture_t *fx, sk_exec_spec_t *spec)
{
    char *log_path = NULL;
    sk_proc_t *proc = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    spec->state_dir = fx->dir;
    int r = sk_exec_start(&fx->loop, spec, on_end, fx, &log_path, &proc, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->ends, 1);
    char want[160];
    snprintf(want, sizeof(want), "%s/logs/%s/%lld.log", fx->dir, spec->cfg->name,
             (long long)spec->run_id);
    assert_string_equal(log_path, want);
    char *text = calloc(1, 65536);
    FILE *f = fopen(log_path, "r");
    if (!f) {
        assert_int_equal(errno, ENOENT); /* it printed nothing: no log */
        free(log_path);
        return text;
    }
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    free(log_path);
    return text;
}

static void test_a_run_gets_its_parameters_environment_and_log(void **state)
{
    fixture_t *fx = *state;
    const sk_job_cfg_t *job = job_of(fx,
                                     "jobs:\n"
                                     "  greet:\n"
                                     "    shell: 'echo hi ${{ params.who }} $SKED_JOB "
                                     "$SKED_RUN_ID $SKED_ATTEMPT $EXTRA'\n",
                                     "greet");
    sk_kv_t params[] = {{.key = "who", .value = "a'b; rm -rf /"}};
    sk_kv_t extra[] = {{.key = "EXTRA", .value = "more"}};
    sk_exec_spec_t spec = {.cfg = job,
                           .run_id = 42,
                           .attempt = 3,
                           .scheduled_at = 1700000000000,
                           .params = params,
                           .nparams = 1,
                           .extra = extra,
                           .nextra = 1};
    char *text = run(fx, &spec);
    /* The value reaches the shell as data, quoted: never as a command. */
    assert_non_null(strstr(text, "hi a'b; rm -rf / greet 42 3 more"));
    free(text);
    const char *reason;
    assert_int_equal(sk_exec_status(&fx->res, SK_STOP_NONE, NULL, &reason), SK_RUN_SUCCEEDED);
    assert_null(reason);
}

static void test_exit_code_and_timeout_come_out_as_every_caller_sees_them(void **state)
{
    fixture_t *fx = *state;
    const sk_job_cfg_t *job = job_of(fx,
                                     "jobs:\n"
                                     "  bad: {run: [sh, -c, 'exit 7']}\n"
                                     "  slow: {run: [sleep, '30'], timeout: 1s, "
                                     "kill_grace: 1s}\n",
                                     "bad");
    sk_exec_spec_t spec = {.cfg = job, .run_id = 1, .attempt = 1};
    free(run(fx, &spec));
    const char *reason;
    assert_int_equal(sk_exec_status(&fx->res, SK_STOP_NONE, NULL, &reason), SK_RUN_FAILED);
    assert_int_equal(fx->res.exit_code, 7);

    fx->ends = 0;
    spec.cfg = sk_config_job(fx->cfg, "slow");
    spec.run_id = 2;
    free(run(fx, &spec));
    assert_int_equal(sk_exec_status(&fx->res, SK_STOP_NONE, NULL, &reason), SK_RUN_TIMED_OUT);
}

static void test_a_body_that_cannot_start_is_an_error_not_a_callback(void **state)
{
    fixture_t *fx = *state;
    const sk_job_cfg_t *job = job_of(fx, "jobs:\n  gone: {run: [/nonexistent/program]}\n", "gone");
    sk_exec_spec_t spec = {.cfg = job, .run_id = 5, .attempt = 1, .state_dir = fx->dir};
    char *log_path = NULL;
    sk_proc_t *proc = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    assert_true(sk_exec_start(&fx->loop, &spec, on_end, fx, &log_path, &proc, &err) < 0);
    assert_non_null(strstr(err.msg, "/nonexistent/program"));
    assert_non_null(log_path); /* named, so the failed run can be recorded with it */
    free(log_path);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->ends, 0);
    sk_exec_failed(&fx->res, err.msg);
    const char *reason;
    assert_int_equal(sk_exec_status(&fx->res, SK_STOP_NONE, NULL, &reason), SK_RUN_FAILED);
    assert_non_null(strstr(reason, "/nonexistent/program"));
}

/* Why sked stopped a process decides what its end means, for everyone. */
static void test_stops_map_to_one_status_and_reason(void **state)
{
    (void)state;
    sk_proc_result_t res;
    memset(&res, 0, sizeof(res));
    res.end = SK_PROC_KILLED;
    res.exit_code = -1;
    res.signal = 15;
    static const struct {
        sk_exec_stop_t stop;
        const char *why;
        sk_run_status_t status;
        const char *reason;
    } cases[] = {
        {SK_STOP_NONE, NULL, SK_RUN_KILLED, "stopped"},
        {SK_STOP_CANCEL, NULL, SK_RUN_KILLED, "cancelled"},
        {SK_STOP_CANCEL, "the leader said so", SK_RUN_KILLED, "the leader said so"},
        {SK_STOP_REPLACE, NULL, SK_RUN_KILLED, "replaced by a newer run"},
        {SK_STOP_USER, NULL, SK_RUN_KILLED, "interrupted by the user"},
        {SK_STOP_SHUTDOWN, NULL, SK_RUN_INTERRUPTED, "sked stopped while it ran"},
        {SK_STOP_FENCE, NULL, SK_RUN_INTERRUPTED, NULL},
        {SK_STOP_GONE, NULL, SK_RUN_KILLED, "stopped"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *reason = NULL;
        assert_int_equal(sk_exec_status(&res, cases[i].stop, cases[i].why, &reason),
                         cases[i].status);
        assert_non_null(reason);
        if (cases[i].reason)
            assert_string_equal(reason, cases[i].reason);
    }
    /* A stop that came too late changes nothing: the process had ended. */
    res.end = SK_PROC_EXITED;
    res.exit_code = 0;
    const char *reason;
    assert_int_equal(sk_exec_status(&res, SK_STOP_SHUTDOWN, NULL, &reason), SK_RUN_SUCCEEDED);
    res.end = SK_PROC_TIMED_OUT;
    assert_int_equal(sk_exec_status(&res, SK_STOP_CANCEL, NULL, &reason), SK_RUN_TIMED_OUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_run_gets_its_parameters_environment_and_log, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_exit_code_and_timeout_come_out_as_every_caller_sees_them, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_body_that_cannot_start_is_an_error_not_a_callback,
                                        setup, teardown),
        cmocka_unit_test(test_stops_map_to_one_status_and_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
