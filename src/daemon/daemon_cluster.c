/*
 * The leader's side of a cluster (several nodes on one PostgreSQL store).
 * The leader decides what runs when, as a single node does (overlap,
 * max_parallel cluster-wide, retries, workflows), but instead of starting a
 * process it dispatches the run: any node whose labels fit claims it
 * (daemon_worker.c). The leader reads the outcomes back from the store and
 * settles each one in the transaction that records what follows from it (a
 * retry, a workflow's next steps), so a leader that dies in between leaves
 * it unsettled for the next one. docs/ha.md has the whole protocol.
 */
#include "daemon_int.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

/* Whether a node with labels (comma-separated) may run a job pinned to pin. */
static bool labels_cover(const char *labels, const char *pin)
{
    for (const char *p = pin; *p;) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (const char *l = labels; *l && !found;) {
            size_t m = strcspn(l, ",");
            found = m == n && strncmp(l, p, n) == 0;
            l += m + (l[m] == ',');
        }
        if (!found)
            return false;
        p += n + (p[n] == ',');
    }
    return true;
}

/* A job pinned to labels no live node has: its runs wait; say so once. */
static void warn_unrunnable(sk_daemon_t *d, sk_jobrt_t *j, const char *pin)
{
    if (!pin || !d->live_labels)
        return;
    bool any = false;
    for (char **l = d->live_labels; *l && !any; l++)
        any = labels_cover(*l, pin);
    if (!any && !j->pin_warned)
        sk_log(SK_LOG_WARN,
               "event=no_node job=%s labels=%s msg=\"no live node has these "
               "labels; its runs wait for one\"",
               j->name, pin);
    j->pin_warned = !any;
}

int sk_daemon__dispatch(sk_daemon_t *d, sk_runrt_t *r, sk_err_t *err)
{
    json_t *root = json_object(), *params = json_object(), *env = json_object();
    const sk_params_t *p = r->wf ? &r->wf->params : &r->params;
    for (size_t i = 0; i < p->n; i++)
        json_object_set_new(params, p->kv[i].key, json_string(p->kv[i].value));
    sk_kv_t *extra = NULL;
    size_t nextra = 0;
    sk_daemon__run_extra_env(d, r, &extra, &nextra);
    for (size_t i = 0; i < nextra; i++) /* the node makes its own $SKED_OUTPUT */
        if (strcmp(extra[i].key, "SKED_OUTPUT") != 0)
            json_object_set_new(env, extra[i].key, json_string(extra[i].value));
    sk_kv_free(extra, nextra);
    json_object_set_new(root, "params", params);
    json_object_set_new(root, "env", env);
    char *spec = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    char *pin = sk_job_pin(r->cfg);
    warn_unrunnable(d, r->job, pin);
    int rc = d->store->ops->cluster->run_dispatch(d->store, r->id, pin, spec ? spec : "{}", err);
    free(spec);
    free(pin);
    if (rc == -EINVAL) {
        /* Not queued any more: a node claimed it under an earlier leader,
         * or it was ended; the settle poll takes it from there. */
        rc = 0;
    }
    if (rc == 0)
        sk_log(SK_LOG_DEBUG, "event=dispatched job=%s%s%s run=%" PRId64 " attempt=%d", r->job->name,
               r->step ? " step=" : "", r->step ? r->step->name : "", r->id, r->attempt);
    return rc;
}

void sk_daemon__cancel_remote(sk_daemon_t *d, sk_runrt_t *r, const char *reason)
{
    sk_err_t err;
    sk_err_clear(&err);
    /* A run asked to stop is never claimed; one already claimed is stopped
     * by its node, which records the outcome. */
    int rc = d->store->ops->cluster->run_cancel(d->store, r->id, reason, &err);
    if (rc == 0) /* its node stops it at once */
        d->store->ops->cluster->wake_others(d->store, SK_WAKE_CANCEL, NULL);
    if (rc < 0) {
        if (rc != -EALREADY)
            sk_log(SK_LOG_ERROR, "event=store_error job=%s run=%" PRId64 " msg=\"%s\"",
                   r->job->name, r->id, err.msg);
        return;
    }
    sk_run_t row = {0};
    if (d->store->ops->run_get(d->store, r->id, &row, &err) == 0 && row.status == SK_RUN_QUEUED)
        d->store->ops->run_finish(d->store, r->id, SK_RUN_KILLED, sk_now_ms(), -1, 0, reason, NULL);
    sk_run_release(&row);
}

void sk_daemon__settle_poll(sk_daemon_t *d)
{
    if (!d->running)
        return;
    sk_run_t *rows = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->cluster->runs_ended_unsettled(d->store, &rows, &n, &err) < 0)
        return; /* the next poll tries again; the store error is logged by the beat */
    for (size_t i = 0; i < n; i++) {
        const sk_run_t *row = &rows[i];
        sk_runrt_t *r = d->running;
        while (r && !(r->remote && r->id == row->id))
            r = r->next;
        if (!r) {
            /* Ended and taken in by no one (its job or step is gone, or it
             * was ended after its leader forgot it): nothing follows. */
            sk_runrt_t *f = d->finished;
            while (f && f->id != row->id)
                f = f->next;
            if (!f && d->adopted)
                d->store->ops->cluster->run_settle(d->store, row->id, NULL);
            continue;
        }
        sk_daemon__run_remote_ended(d, r, row);
    }
    sk_runs_free(rows, n);
}

void sk_daemon__sweep_dead(sk_daemon_t *d)
{
    sk_node_t *nodes = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    /* Rows of nodes silent for a week are forgotten. */
    if (d->store->ops->nodes_list(d->store, 7 * 86400 * 1000LL, &nodes, &n, &err) < 0)
        return;
    int64_t now = sk_now_ms();
    sk_strv_free(d->live_labels);
    d->live_labels = sk_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0, k = 0; i < n; i++)
        if (nodes[i].age_ms <= d->lease_ms || strcmp(nodes[i].name, d->node_name) == 0)
            d->live_labels[k++] = sk_xstrdup(nodes[i].labels ? nodes[i].labels : "");
    for (size_t i = 0; i < n; i++) {
        const sk_node_t *nd = &nodes[i];
        if (nd->age_ms <= d->lease_ms || nd->running == 0 || strcmp(nd->name, d->node_name) == 0)
            continue;
        sk_run_t *rows = NULL;
        size_t nrows = 0;
        if (d->store->ops->cluster->runs_of_node(d->store, nd->name, &rows, &nrows, &err) < 0)
            break;
        char reason[200];
        sk_snprintf(reason, sizeof(reason),
                    "node %s stopped heart-beating (silent for %" PRId64 " s)", nd->name,
                    nd->age_ms / 1000);
        sk_log(SK_LOG_WARN, "event=node_lost node=%s silent_ms=%" PRId64 " runs=%zu", nd->name,
               nd->age_ms, nrows);
        for (size_t k = 0; k < nrows; k++) {
            if (d->store->ops->run_finish(d->store, rows[k].id, SK_RUN_INTERRUPTED, now, -1, 0,
                                          reason, &err) == 0)
                sk_log(SK_LOG_WARN,
                       "event=interrupted job=%s%s%s run=%" PRId64 " attempt=%d node=%s "
                       "reason=\"%s\"",
                       rows[k].job, rows[k].step ? " step=" : "", rows[k].step ? rows[k].step : "",
                       rows[k].id, rows[k].attempt, nd->name, reason);
        }
        sk_runs_free(rows, nrows);
    }
    sk_nodes_free(nodes, n);
}

void sk_daemon__adopt_row(sk_daemon_t *d, sk_jobrt_t *j, sk_wfrt_t *w, size_t step, sk_run_t *row)
{
    if (row->status == SK_RUN_QUEUED && row->cancel) {
        /* Asked to stop before any node took it, and its leader died before
         * ending it: no node will ever claim it. */
        int64_t now = sk_now_ms();
        if (d->store->ops->run_finish(d->store, row->id, SK_RUN_KILLED, now, -1, 0, row->cancel,
                                      NULL) == 0) {
            row->status = SK_RUN_KILLED;
            row->ended_at = now;
            free(row->reason);
            row->reason = sk_xstrdup(row->cancel);
        }
    }
    sk_runrt_t *r = sk_daemon__run_adopt(d, j, w, step, row);
    if (sk_run_status_final(row->status))
        sk_daemon__run_remote_ended(d, r, row);
}

void sk_daemon__adopt(sk_daemon_t *d, int64_t now)
{
    (void)now;
    /* Runs of nodes that died meanwhile end first: they are then taken in
     * as interrupted, and retried by policy. */
    sk_daemon__sweep_dead(d);
    sk_run_t *rows = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->cluster->runs_unsettled(d->store, &rows, &n, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        return;
    }
    size_t adopted = 0;
    for (size_t i = 0; i < n; i++) {
        sk_run_t *row = &rows[i];
        if (row->parent_id || row->step)
            continue; /* steps: with their workflow run (sk_daemon__wf_recover) */
        sk_jobrt_t *j = sk_daemon__job(d, row->job);
        if (!j || !j->cfg || j->cfg->nsteps > 0) {
            /* Its job is gone (or is a workflow now): stop it, settle it. */
            if (!sk_run_status_final(row->status)) {
                const char *why = "its job is no longer in the configuration";
                if (row->status == SK_RUN_QUEUED)
                    d->store->ops->run_finish(d->store, row->id, SK_RUN_KILLED, sk_now_ms(), -1, 0,
                                              why, NULL);
                else
                    d->store->ops->cluster->run_cancel(d->store, row->id, why, NULL);
            }
            d->store->ops->cluster->run_settle(d->store, row->id, NULL);
            continue;
        }
        sk_daemon__adopt_row(d, j, NULL, 0, row);
        adopted++;
    }
    sk_runs_free(rows, n);
    d->adopted = true;
    if (adopted)
        sk_log(SK_LOG_INFO, "event=adopted runs=%zu msg=\"runs dispatched by an earlier leader\"",
               adopted);
}

void sk_daemon__evict_silent_leader(sk_daemon_t *d)
{
    const sk_store_ops_t *ops = d->store->ops;
    if (!ops->cluster)
        return;
    sk_node_t *nodes = NULL;
    size_t n = 0;
    if (ops->nodes_list(d->store, 0, &nodes, &n, NULL) < 0)
        return;
    const sk_node_t *silent = NULL;
    bool fresh = false;
    for (size_t i = 0; i < n; i++) {
        if (!nodes[i].leader || strcmp(nodes[i].name, d->node_name) == 0)
            continue;
        if (nodes[i].age_ms <= d->lease_ms)
            fresh = true;
        else if (!silent || nodes[i].age_ms < silent->age_ms)
            silent = &nodes[i];
    }
    bool ended = false;
    sk_err_t err;
    sk_err_clear(&err);
    /* Only when no node says it leads now: a new leader's first beat may
     * not say so yet, and an old row of a dead leader must not count. */
    if (silent && !fresh && ops->cluster->leader_evict(d->store, silent->name, &ended, &err) == 0 &&
        ended)
        sk_log(SK_LOG_WARN,
               "event=evicted_leader node=%s silent_ms=%" PRId64 " msg=\"it held "
               "the leadership without heart-beating; its session was ended\"",
               silent->name, silent->age_ms);
    sk_nodes_free(nodes, n);
}
