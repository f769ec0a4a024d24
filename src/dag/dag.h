/*
 * Workflow graphs: which steps of a workflow run may start, which can never
 * run (and why), and the workflow's outcome, from the steps' states. Pure:
 * no I/O, no allocation; the daemon owns the states and acts on the answer.
 */
#ifndef SK_DAG_H
#define SK_DAG_H

#include "../config/config.h"

typedef enum sk_dag_state {
    SK_DAG_PENDING, /* not started: waits for its needs */
    SK_DAG_ACTIVE,  /* queued or running (including its retries) */
    SK_DAG_SUCCEEDED,
    SK_DAG_FAILED,          /* failed, timed out, killed or interrupted, retries spent */
    SK_DAG_SKIPPED,         /* its condition was false: neutral for what follows */
    SK_DAG_UPSTREAM_FAILED, /* skipped because a step it needs failed (counts as a failure
                             * for `when: failure` below it) */
} sk_dag_state_t;

bool sk_dag_final(sk_dag_state_t s);

typedef struct sk_dag_skip {
    size_t step;
    sk_dag_state_t state; /* SK_DAG_SKIPPED or SK_DAG_UPSTREAM_FAILED */
    char reason[160];     /* "upstream extract failed", "no upstream step failed" */
} sk_dag_skip_t;

/*
 * Evaluates the pending steps of workflow wf against states (wf->nsteps
 * entries). Steps whose condition can no longer hold are set skipped in
 * states and listed in skips (as many as wf->nsteps; *ret_nskip set);
 * this cascades. Steps that may start now are listed in ready (*ret_nready
 * set), in file order; their state is left PENDING for the caller to set.
 *   when success: every needed step succeeded;
 *   when failure: some needed step failed (or was skipped for a failure);
 *   when always:  every needed step is final, whatever its outcome.
 * A step without needs is ready at once (`when: failure` without needs is
 * skipped: nothing it needs can fail).
 */
void sk_dag_eval(const sk_job_cfg_t *wf, sk_dag_state_t *states, size_t *ready, size_t *ret_nready,
                 sk_dag_skip_t *skips, size_t *ret_nskip);

/* Whether every step is final. */
bool sk_dag_done(const sk_job_cfg_t *wf, const sk_dag_state_t *states);
/* A finished workflow's outcome: failed if any step failed, else succeeded. */
bool sk_dag_failed(const sk_job_cfg_t *wf, const sk_dag_state_t *states);

/*
 * Layers for drawing: layer[i] = the length of the longest needs path to
 * step i (0 for steps without needs). Returns the number of layers.
 */
size_t sk_dag_layers(const sk_job_cfg_t *wf, size_t *layer);

/*
 * Replaces each "${{ params.NAME }}" in text (spaces inside the braces
 * optional) by NAME's value from params; unknown names become "". With
 * shell_quote, each value is inserted single-quoted for sh ('it'\''s').
 * New memory.
 */
char *sk_dag_subst(const char *text, const sk_kv_t *params, size_t n, bool shell_quote);

#endif
