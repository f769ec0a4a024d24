/*
 * The logic both store back ends share, written once (store_int.h): the
 * write gate, batches and their failure, the fault-injection hook, the
 * checks of every argument store.h states, reading the stored spellings
 * back, and the pruning loop. The back ends keep only what speaks their
 * database's language (statements, binding, result codes), so that the
 * two behave the same wherever store.h promises something.
 */
#include "store_int.h"

/* ---- the core ---- */

int sk_store__core_init(sk_store_core_t *c, const sk_store_ops_t *ops, const sk_store_tx_ops_t *tx,
                        const char *name, bool readonly, sk_err_t *err)
{
    c->base.ops = ops;
    c->tx = tx;
    c->name = name;
    c->readonly = readonly;
    if (readonly)
        return 0;
    const char *v = getenv("SKED_TEST_STORE_FAIL_AFTER");
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 0)
        return sk_err_set(err, SK_ESTORE, "SKED_TEST_STORE_FAIL_AFTER=%s: not a count", v);
    c->fail_after = n;
    return 0;
}

void sk_store__on_error(sk_store_core_t *c)
{
    if (c->base.on_error)
        c->base.on_error(c->base.on_error_data);
}

void sk_store__abort(sk_store_core_t *c, const sk_err_t *err)
{
    c->tx->abort(c);
    if (c->in_batch && !c->batch_failed) {
        c->batch_failed = true;
        sk_strlcpy(c->batch_msg, err ? err->msg : "a write failed", sizeof(c->batch_msg));
    }
}

int sk_store__write_gate(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    if (c->readonly)
        return sk_err_set(err, SK_ESTORE, "%s: %s: the store is open read-only", c->name, what);
    if (c->batch_failed)
        return sk_err_set(err, SK_ESTORE,
                          "%s: %s: the batch was rolled back after an earlier error (%s)", c->name,
                          what, c->batch_msg);
    c->writes++;
    if (c->fail_after > 0 && c->writes >= c->fail_after) {
        sk_err_t local;
        if (!err)
            err = &local;
        sk_err_set(err, SK_ESTORE, "%s: %s: injected fault (SKED_TEST_STORE_FAIL_AFTER=%ld)",
                   c->name, what, c->fail_after);
        sk_store__abort(c, err);
        return SK_ESTORE;
    }
    return 0;
}

/* ---- batches ---- */

static void batch_end(sk_store_core_t *c)
{
    c->in_batch = false;
    c->batch_failed = false;
    c->batch_msg[0] = '\0';
}

int sk_store__batch_begin(sk_store_t *st, sk_err_t *err)
{
    sk_store_core_t *c = sk_store__core(st);
    if (c->readonly)
        return sk_err_set(err, SK_ESTORE, "%s: begin: the store is open read-only", c->name);
    if (c->in_batch)
        return sk_err_set(err, -EINVAL, "%s: begin: a batch is already open", c->name);
    int r = c->tx->begin(c, "starting a batch", err);
    if (r < 0)
        return r;
    batch_end(c);
    c->in_batch = true;
    return 0;
}

int sk_store__batch_commit(sk_store_t *st, sk_err_t *err)
{
    sk_store_core_t *c = sk_store__core(st);
    sk_err_t local;
    if (!err)
        err = &local;
    if (!c->in_batch)
        return sk_err_set(err, -EINVAL, "%s: commit without begin", c->name);
    int r;
    if (c->batch_failed) {
        r = sk_err_set(err, SK_ESTORE, "%s: the batch was rolled back: %s", c->name, c->batch_msg);
    } else {
        r = sk_store__write_gate(c, "committing a batch", err);
        if (r == 0)
            r = c->tx->commit(c, "committing a batch", err);
    }
    c->tx->abort(c); /* whatever happened, no transaction stays open */
    batch_end(c);
    return r;
}

int sk_store__batch_rollback(sk_store_t *st, sk_err_t *err)
{
    sk_store_core_t *c = sk_store__core(st);
    if (!c->in_batch)
        return 0;
    int r = c->tx->rollback(c, "rolling back a batch", err);
    batch_end(c);
    return r;
}

/* ---- text ---- */

bool sk_store__text_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0) {
        size_t k = sk_utf8_seq(s, n);
        if (k == 0)
            return false;
        s += k;
        n -= k;
    }
    return true;
}

int sk_store__text_check(const sk_store_core_t *c, sk_err_t *err, int n, ...)
{
    va_list ap;
    int r = 0;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *field = va_arg(ap, const char *);
        const char *v = va_arg(ap, const char *);
        if (r == 0 && !sk_store__text_ok(v))
            r = sk_err_set(err, -EINVAL, "%s: %s is not valid UTF-8", c->name, field);
    }
    va_end(ap);
    return r;
}

const char *sk_store__text_repair(const char *s, char **tmp)
{
    *tmp = NULL;
    if (sk_store__text_ok(s))
        return s;
    sk_buf_t b = {0};
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = sk_utf8_seq(s + i, n - i);
        if (k == 0) {
            sk_buf_adds(&b, "\xef\xbf\xbd"); /* U+FFFD REPLACEMENT CHARACTER */
            i++;
        } else {
            sk_buf_add(&b, s + i, k);
            i += k;
        }
    }
    *tmp = sk_buf_take(&b, NULL);
    return *tmp;
}

const sk_output_t *sk_store__outputs_repair(const sk_output_t *o, size_t n, sk_output_t **tmp)
{
    size_t i = 0;
    *tmp = NULL;
    while (i < n && sk_store__text_ok(o[i].value))
        i++;
    if (i == n)
        return o;
    sk_output_t *copy = sk_xcalloc(n, sizeof(*copy));
    for (i = 0; i < n; i++) {
        char *fixed;
        const char *v = sk_store__text_repair(o[i].value, &fixed);
        copy[i].key = sk_xstrdup(o[i].key);
        copy[i].value = fixed ? fixed : sk_xstrdup(v);
    }
    *tmp = copy;
    return copy;
}

/* ---- checks ---- */

bool sk_store__status_valid(sk_run_status_t v)
{
    return (int)v >= 0 && (int)v < SK_STORE_N_STATUSES;
}

bool sk_store__trigger_valid(sk_trigger_t v)
{
    return (int)v >= 0 && (int)v < SK_STORE_N_TRIGGERS;
}

bool sk_store__alert_state_valid(sk_alert_state_t v)
{
    return (int)v >= 0 && (int)v < SK_STORE_N_ALERT_STATES;
}

int sk_store__check_run(const sk_store_core_t *c, const sk_run_t *run, sk_err_t *err)
{
    if (!run || !run->job || !*run->job)
        return sk_err_set(err, -EINVAL, "%s: a run needs a job name", c->name);
    if (run->attempt < 1 || !sk_store__status_valid(run->status) ||
        !sk_store__trigger_valid(run->trigger))
        return sk_err_set(err, -EINVAL, "%s: job %s: bad attempt, status or trigger", c->name,
                          run->job);
    /* A step row always names its step: that is also what keeps runs_fire
     * (step IS NULL) from ever applying to it. */
    if (run->parent_id < 0 || (run->parent_id > 0 && (!run->step || !*run->step)))
        return sk_err_set(err, -EINVAL, "%s: job %s: a step row needs a step name and a parent",
                          c->name, run->job);
    return sk_store__text_check(c, err, 5, "the job name", run->job, "the step name", run->step,
                                "the log path", run->log_path, "params", run->params, "the event",
                                run->event);
}

int sk_store__check_finish(const sk_store_core_t *c, int64_t id, sk_run_status_t status,
                           sk_err_t *err)
{
    if (!sk_store__status_valid(status) || !sk_run_status_final(status))
        return sk_err_set(err, -EINVAL, "%s: run %" PRId64 ": '%s' is not an outcome", c->name, id,
                          sk_run_status_str(status));
    return 0;
}

int sk_store__check_job_state(const sk_store_core_t *c, const char *job, const sk_job_state_t *js,
                              sk_err_t *err)
{
    if (!job || !*job || !js)
        return sk_err_set(err, -EINVAL, "%s: job_state_set needs a job and a state", c->name);
    if (js->last_outcome < -1 || js->last_outcome >= SK_STORE_N_STATUSES)
        return sk_err_set(err, -EINVAL, "%s: job %s: last outcome %d is not a run status", c->name,
                          job, js->last_outcome);
    return sk_store__text_check(c, err, 1, "the job name", job);
}

int sk_store__check_boot(const sk_store_core_t *c, const char *job, const char *boot_id,
                         sk_err_t *err)
{
    if (!job || !*job || !boot_id || !*boot_id)
        return sk_err_set(err, -EINVAL, "%s: boot_claim needs a job and a boot id", c->name);
    return sk_store__text_check(c, err, 2, "the job name", job, "the boot id", boot_id);
}

static int cmp_output_key(const void *a, const void *b)
{
    const sk_output_t *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

/* Every key is non-empty, UTF-8 and unique, every value set: checked
 * before anything is written, so that a bad set never half-replaces a good
 * one. Values are repaired, not checked. */
int sk_store__check_outputs(const sk_store_core_t *c, int64_t run_id, const sk_output_t *o,
                            size_t n, sk_err_t *err)
{
    int r = 0;
    if (n && !o)
        return sk_err_set(err, -EINVAL, "%s: run %" PRId64 ": no outputs given", c->name, run_id);
    for (size_t i = 0; i < n; i++) {
        if (!o[i].key || !*o[i].key || !o[i].value)
            return sk_err_set(err, -EINVAL, "%s: run %" PRId64 ": output %zu has no key or value",
                              c->name, run_id, i);
        if (!sk_store__text_ok(o[i].key))
            return sk_err_set(err, -EINVAL,
                              "%s: run %" PRId64 ": the key of output %zu is not valid UTF-8",
                              c->name, run_id, i);
    }
    if (n < 2)
        return 0;
    const sk_output_t **sorted = sk_xmalloc(n * sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = &o[i];
    qsort(sorted, n, sizeof(*sorted), cmp_output_key);
    for (size_t i = 1; i < n && r == 0; i++)
        if (sk_streq(sorted[i - 1]->key, sorted[i]->key))
            r = sk_err_set(err, -EINVAL, "%s: run %" PRId64 ": output %s given twice", c->name,
                           run_id, sorted[i]->key);
    free(sorted);
    return r;
}

int sk_store__check_alert(const sk_store_core_t *c, const sk_alert_rec_t *a, sk_err_t *err)
{
    if (!a || !a->job || !*a->job || !a->event || !*a->event || !a->channel || !*a->channel ||
        !a->payload)
        return sk_err_set(err, -EINVAL,
                          "%s: an alert needs a job, an event, a channel and a payload", c->name);
    if (!sk_store__alert_state_valid(a->state) || a->attempts < 0 || a->run_id < 0)
        return sk_err_set(err, -EINVAL, "%s: job %s: bad alert state, attempts or run", c->name,
                          a->job);
    return sk_store__text_check(c, err, 4, "the job name", a->job, "the event", a->event,
                                "the channel", a->channel, "the payload", a->payload);
}

int sk_store__check_alert_update(const sk_store_core_t *c, int64_t id, sk_alert_state_t state,
                                 int attempts, sk_err_t *err)
{
    if (!sk_store__alert_state_valid(state) || attempts < 0)
        return sk_err_set(err, -EINVAL, "%s: alert %" PRId64 ": bad state or attempts", c->name,
                          id);
    return 0;
}

int sk_store__check_node(const sk_store_core_t *c, const sk_node_t *n, sk_err_t *err)
{
    if (!n || !n->name || !*n->name)
        return sk_err_set(err, -EINVAL, "%s: a heart-beat needs a node name", c->name);
    return sk_store__text_check(c, err, 4, "the node name", n->name, "the node's labels", n->labels,
                                "the node's API address", n->api, "the node's version", n->version);
}

/* ---- reading ---- */

size_t sk_store__limit(size_t limit)
{
    return limit ? SK_MIN(limit, (size_t)SK_STORE_QUERY_MAX) : SK_STORE_QUERY_DEFAULT;
}

int sk_store__query_plan(const sk_store_core_t *c, const sk_run_filter_t *f, int *ret_which,
                         size_t *ret_limit, sk_err_t *err)
{
    static const sk_run_filter_t none;
    if (!f)
        f = &none;
    if (f->status_set && !sk_store__status_valid(f->status))
        return sk_err_set(err, -EINVAL, "%s: runs_query: status %d is out of range", c->name,
                          (int)f->status);
    *ret_which = (f->job ? SK_STORE_Q_JOB : 0) | (f->only_active ? SK_STORE_Q_ACTIVE : 0) |
                 (f->parent_id > 0 ? SK_STORE_Q_PARENT : 0) | (f->top_level ? SK_STORE_Q_TOP : 0) |
                 (f->status_set ? SK_STORE_Q_STATUS : 0) | (f->since > 0 ? SK_STORE_Q_SINCE : 0);
    *ret_limit = sk_store__limit(f->limit);
    return sk_store__text_ok(f->job) ? 0 : 1;
}

int sk_store__read_status(const sk_store_core_t *c, int64_t id, const char *text,
                          sk_run_status_t *ret, sk_err_t *err)
{
    if (sk_run_status_parse(text, ret) < 0)
        return sk_err_set(err, SK_ESTORE, "%s: run %" PRId64 " has an unknown status '%s'", c->name,
                          id, text ? text : "");
    return 0;
}

int sk_store__read_trigger(const sk_store_core_t *c, int64_t id, const char *text,
                           sk_trigger_t *ret, sk_err_t *err)
{
    if (sk_trigger_parse(text, ret) < 0)
        return sk_err_set(err, SK_ESTORE, "%s: run %" PRId64 " has an unknown trigger '%s'",
                          c->name, id, text ? text : "");
    return 0;
}

int sk_store__read_alert_state(const sk_store_core_t *c, int64_t id, const char *text,
                               sk_alert_state_t *ret, sk_err_t *err)
{
    if (sk_alert_state_parse(text, ret) < 0)
        return sk_err_set(err, SK_ESTORE, "%s: alert %" PRId64 " has an unknown state '%s'",
                          c->name, id, text ? text : "");
    return 0;
}

int sk_store__read_outcome(const sk_store_core_t *c, const char *job, int outcome, sk_err_t *err)
{
    if (outcome < -1 || outcome >= SK_STORE_N_STATUSES)
        return sk_err_set(err, SK_ESTORE, "%s: job %s has an unknown last outcome %d", c->name, job,
                          outcome);
    return 0;
}

void sk_store__job_state_none(sk_job_state_t *ret)
{
    ret->last_fire = 0;
    ret->paused = false;
    ret->last_outcome = -1;
    ret->missed_alerted = 0;
}

int sk_store__not_queued(const sk_store_core_t *c, int64_t id, sk_run_status_t cur,
                         const char *verb, sk_err_t *err)
{
    return sk_err_set(err, -EINVAL, "%s: run %" PRId64 " is %s, not queued: cannot %s it", c->name,
                      id, sk_run_status_str(cur), verb);
}

int sk_store__has_outcome(const sk_store_core_t *c, int64_t id, sk_run_status_t cur, sk_err_t *err)
{
    return sk_err_set(err, -EALREADY, "%s: run %" PRId64 " already has an outcome (%s)", c->name,
                      id, sk_run_status_str(cur));
}

/* ---- pruning ---- */

void sk_store__victims_push(sk_store_victims_t *vs, int64_t id, char *log_path, bool deleted)
{
    if (vs->n == vs->cap) {
        vs->cap = vs->cap ? vs->cap * 2 : SK_STORE_PRUNE_CHUNK;
        vs->v = sk_xrealloc(vs->v, vs->cap * sizeof(*vs->v));
    }
    vs->v[vs->n].id = id;
    vs->v[vs->n].log_path = log_path; /* taken */
    vs->v[vs->n].deleted = deleted;
    vs->n++;
}

static void victims_clear(sk_store_victims_t *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        free(vs->v[i].log_path);
    vs->n = 0;
}

int sk_store__prune(sk_store_core_t *c, const sk_store_prune_ops_t *ops, const char *job,
                    size_t keep_runs, int64_t ended_before,
                    void (*cb)(const char *log_path, void *data), void *data, sk_err_t *err)
{
    sk_store_victims_t vs = {NULL, 0, 0};
    size_t picked = 0;
    int64_t max_id = 0;
    int64_t horizon = ended_before > 0 ? ended_before : INT64_MIN;
    bool own_tx = false, have_cutoff = false;
    sk_err_t local;

    if (!err)
        err = &local;
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: prune needs a job", c->name);
    int r = sk_store__write_gate(c, "pruning runs", err);
    if (r < 0)
        return r;
    /* Nothing to prune (a name that is not UTF-8 was never stored). */
    if ((keep_runs == 0 && ended_before <= 0) || !sk_store__text_ok(job))
        return 0;
    for (;;) {
        own_tx = !c->in_batch;
        if (own_tx) {
            r = c->tx->begin(c, "pruning runs", err);
            if (r < 0)
                goto fail;
        }
        /* The cut-off is read once, in the transaction that first uses it:
         * later chunks only delete rows older than it. */
        r = have_cutoff ? 0 : ops->cutoff(c, job, keep_runs, &max_id, err);
        have_cutoff = r == 0;
        if (r == 0)
            r = ops->chunk(c, job, max_id, ended_before, &vs, &picked, &horizon, err);
        /* The last chunk also takes the alerts left about no run. */
        if (r == 0 && picked < SK_STORE_PRUNE_CHUNK && horizon != INT64_MIN)
            r = ops->alerts(c, job, horizon, err);
        if (r == 0 && own_tx)
            r = c->tx->commit(c, "pruning runs", err);
        if (r < 0)
            goto fail;
        own_tx = false;
        for (size_t i = 0; i < vs.n && cb; i++)
            if (vs.v[i].deleted)
                cb(vs.v[i].log_path, data);
        victims_clear(&vs);
        if (picked < SK_STORE_PRUNE_CHUNK)
            break;
    }
    free(vs.v);
    return 0;
fail:
    /* Chunks already committed stay pruned (their logs were handed out);
     * this one is rolled back whole, with the batch around it if any. */
    sk_store__abort(c, err);
    victims_clear(&vs);
    free(vs.v);
    return r;
}
