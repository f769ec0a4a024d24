/* The workflow graph: readiness, skip cascades, outcomes and layers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "dag/dag.h"

/* A workflow built from a table: name, needs (indexes, -1 ends), when. */
typedef struct {
    const char *name;
    int needs[4];
    sk_when_t when;
} spec_t;

static sk_step_cfg_t steps[16];
static size_t needs[16][4];

static sk_job_cfg_t make(const spec_t *spec, size_t n)
{
    sk_job_cfg_t wf;
    memset(&wf, 0, sizeof(wf));
    memset(steps, 0, sizeof(steps));
    for (size_t i = 0; i < n; i++) {
        steps[i].name = (char *)spec[i].name;
        steps[i].when = spec[i].when;
        steps[i].needs = needs[i];
        for (size_t k = 0; k < 4 && spec[i].needs[k] >= 0; k++)
            needs[i][steps[i].nneeds++] = (size_t)spec[i].needs[k];
    }
    wf.steps = steps;
    wf.nsteps = n;
    return wf;
}

/* a -> b, a -> c, b + c -> d, d -> e (when failure), d -> f (always) */
static const spec_t diamond[] = {
    {"a", {-1}, SK_WHEN_SUCCESS},    {"b", {0, -1}, SK_WHEN_SUCCESS},
    {"c", {0, -1}, SK_WHEN_SUCCESS}, {"d", {1, 2, -1}, SK_WHEN_SUCCESS},
    {"e", {3, -1}, SK_WHEN_FAILURE}, {"f", {3, -1}, SK_WHEN_ALWAYS},
};

static void eval(const sk_job_cfg_t *wf, sk_dag_state_t *st, size_t *ready, size_t *nready,
                 sk_dag_skip_t *skips, size_t *nskip)
{
    sk_dag_eval(wf, st, ready, nready, skips, nskip);
}

static void test_diamond_all_succeed(void **state)
{
    (void)state;
    sk_job_cfg_t wf = make(diamond, 6);
    sk_dag_state_t st[6] = {0};
    size_t ready[6], nr, ns;
    sk_dag_skip_t skips[6];
    eval(&wf, st, ready, &nr, skips, &ns);
    assert_int_equal(nr, 1);
    assert_int_equal(ready[0], 0);
    st[0] = SK_DAG_SUCCEEDED;
    eval(&wf, st, ready, &nr, skips, &ns);
    assert_int_equal(nr, 2); /* b and c run in parallel */
    assert_int_equal(ready[0], 1);
    assert_int_equal(ready[1], 2);
    st[1] = SK_DAG_SUCCEEDED;
    st[2] = SK_DAG_ACTIVE;
    eval(&wf, st, ready, &nr, skips, &ns);
    assert_int_equal(nr, 0); /* d waits for c */
    st[2] = SK_DAG_SUCCEEDED;
    eval(&wf, st, ready, &nr, skips, &ns);
    assert_int_equal(nr, 1);
    assert_int_equal(ready[0], 3);
    st[3] = SK_DAG_SUCCEEDED;
    eval(&wf, st, ready, &nr, skips, &ns);
    assert_int_equal(nr, 1); /* f always; e skipped: nothing failed */
    assert_int_equal(ready[0], 5);
    assert_int_equal(ns, 1);
    assert_int_equal(skips[0].step, 4);
    assert_int_equal(st[4], SK_DAG_SKIPPED);
    assert_string_equal(skips[0].reason, "no upstream step failed");
    st[5] = SK_DAG_SUCCEEDED;
    assert_true(sk_dag_done(&wf, st));
    assert_false(sk_dag_failed(&wf, st));
}

static void test_failure_skips_downstream_and_runs_failure_handler(void **state)
{
    (void)state;
    sk_job_cfg_t wf = make(diamond, 6);
    sk_dag_state_t st[6] = {SK_DAG_SUCCEEDED, SK_DAG_FAILED, SK_DAG_ACTIVE, 0, 0, 0};
    size_t ready[6], nr, ns;
    sk_dag_skip_t skips[6];
    eval(&wf, st, ready, &nr, skips, &ns);
    /* d is skipped at once (b failed) although c still runs; e runs; f runs. */
    assert_int_equal(st[3], SK_DAG_UPSTREAM_FAILED);
    assert_string_equal(skips[0].reason, "upstream b failed");
    assert_int_equal(nr, 2);
    assert_int_equal(ready[0], 4);
    assert_int_equal(ready[1], 5);
    st[2] = SK_DAG_SUCCEEDED;
    st[4] = SK_DAG_SUCCEEDED;
    st[5] = SK_DAG_SUCCEEDED;
    assert_true(sk_dag_done(&wf, st));
    assert_true(sk_dag_failed(&wf, st));
}

static void test_skip_cascades_through_a_chain(void **state)
{
    (void)state;
    static const spec_t chain[] = {
        {"x", {-1}, SK_WHEN_SUCCESS},
        {"y", {0, -1}, SK_WHEN_SUCCESS},
        {"z", {1, -1}, SK_WHEN_SUCCESS},
        {"on_fail", {2, -1}, SK_WHEN_FAILURE},
    };
    sk_job_cfg_t wf = make(chain, 4);
    sk_dag_state_t st[4] = {SK_DAG_FAILED, 0, 0, 0};
    size_t ready[4], nr, ns;
    sk_dag_skip_t skips[4];
    eval(&wf, st, ready, &nr, skips, &ns);
    assert_int_equal(ns, 2);
    assert_int_equal(st[1], SK_DAG_UPSTREAM_FAILED);
    assert_int_equal(st[2], SK_DAG_UPSTREAM_FAILED);
    assert_string_equal(skips[1].reason, "upstream y did not run (failure upstream)");
    /* A failure two levels up still reaches the `when: failure` step. */
    assert_int_equal(nr, 1);
    assert_int_equal(ready[0], 3);
}

static void test_failure_step_without_needs_is_skipped(void **state)
{
    (void)state;
    static const spec_t lone[] = {{"only_on_failure", {-1}, SK_WHEN_FAILURE}};
    sk_job_cfg_t wf = make(lone, 1);
    sk_dag_state_t st[1] = {0};
    size_t ready[1], nr, ns;
    sk_dag_skip_t skips[1];
    eval(&wf, st, ready, &nr, skips, &ns);
    assert_int_equal(nr, 0);
    assert_int_equal(ns, 1);
    assert_true(sk_dag_done(&wf, st));
    assert_false(sk_dag_failed(&wf, st));
}

static void test_layers(void **state)
{
    (void)state;
    sk_job_cfg_t wf = make(diamond, 6);
    size_t layer[6];
    assert_int_equal(sk_dag_layers(&wf, layer), 4);
    assert_int_equal(layer[0], 0);
    assert_int_equal(layer[1], 1);
    assert_int_equal(layer[2], 1);
    assert_int_equal(layer[3], 2);
    assert_int_equal(layer[4], 3);
    assert_int_equal(layer[5], 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diamond_all_succeed),
        cmocka_unit_test(test_failure_skips_downstream_and_runs_failure_handler),
        cmocka_unit_test(test_skip_cascades_through_a_chain),
        cmocka_unit_test(test_failure_step_without_needs_is_skipped),
        cmocka_unit_test(test_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
