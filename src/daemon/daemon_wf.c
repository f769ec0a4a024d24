/*
 * Workflows in the daemon: a workflow run has no process of its own; its
 * steps are runs (rows with parent_id set) that wait, start and end like any
 * other. After steps end, the graph is evaluated (src/dag/) inside the same
 * transaction that records their outcomes, and the steps it makes ready are
 * queued only once that transaction is committed. Also here: parameters,
 * step outputs ($SKED_OUTPUT), `after:` chaining, `sked retry`, and resuming
 * workflows that a stopped or killed daemon left half done.
 */
#include "daemon_int.h"

#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>

#define OUTPUT_MAX (64 * 1024) /* bytes of $SKED_OUTPUT read per step */
#define OUTPUT_KEYS_MAX 100

/* ---- parameters ---- */

void sk_params_release(sk_params_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->kv[i].key);
        free(p->kv[i].value);
    }
    free(p->kv);
    p->kv = NULL;
    p->n = 0;
}

static void params_set(sk_params_t *p, const char *key, const char *value)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->kv[i].key, key) == 0) {
            free(p->kv[i].value);
            p->kv[i].value = sk_xstrdup(value);
            return;
        }
    }
    p->kv = sk_xrealloc(p->kv, (p->n + 1) * sizeof(*p->kv));
    p->kv[p->n].key = sk_xstrdup(key);
    p->kv[p->n].value = sk_xstrdup(value);
    p->n++;
}

void sk_params_build(const sk_job_cfg_t *cfg, const char *json, sk_params_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (size_t i = 0; cfg && i < cfg->nparams; i++)
        params_set(ret, cfg->params[i].key, cfg->params[i].value ? cfg->params[i].value : "");
    if (!json || !*json)
        return;
    json_error_t jerr;
    json_t *o = json_loads(json, 0, &jerr);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (json_is_string(v)) {
            params_set(ret, key, json_string_value(v));
        } else if (!json_is_null(v)) {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            params_set(ret, key, text ? text : "");
            free(text);
        }
    }
    json_decref(o);
}

char *sk_params_json(const sk_params_t *p)
{
    json_t *o = json_object();
    for (size_t i = 0; i < p->n; i++)
        json_object_set_new(o, p->kv[i].key, json_string(p->kv[i].value));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* ---- workflow runs ---- */

/* cfg belongs to snap (the snapshot the run was recorded under): a reload
 * may since have removed or changed the job. */
static sk_wfrt_t *wf_alloc(sk_daemon_t *d, sk_jobrt_t *j, sk_config_t *snap,
                           const sk_job_cfg_t *cfg, int64_t id, int attempt, sk_trigger_t trig,
                           int64_t scheduled_at)
{
    sk_wfrt_t *w = sk_xcalloc(1, sizeof(*w));
    size_t n = cfg->nsteps;
    w->d = d;
    w->job = j;
    w->snap = sk_config_ref(snap);
    w->cfg = cfg;
    w->id = id;
    w->attempt = attempt;
    w->trigger = trig;
    w->scheduled_at = scheduled_at;
    w->started_ms = sk_now_ms();
    w->started_mono = sk_mono_ms();
    w->states = sk_xcalloc(n, sizeof(*w->states));
    w->step_attempt = sk_xcalloc(n, sizeof(int));
    w->outputs = sk_xcalloc(n, sizeof(*w->outputs));
    w->noutputs = sk_xcalloc(n, sizeof(size_t));
    w->dirty = true;
    w->next = d->workflows;
    d->workflows = w;
    j->active++; /* the workflow holds its job, for overlap */
    return w;
}

static void wf_free(sk_daemon_t *d, sk_wfrt_t *w)
{
    for (sk_wfrt_t **pp = &d->workflows; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    w->job->active--;
    for (size_t i = 0; i < w->cfg->nsteps; i++)
        sk_kv_free(w->outputs[i], w->noutputs[i]);
    free(w->outputs);
    free(w->noutputs);
    free(w->states);
    free(w->step_attempt);
    sk_params_release(&w->params);
    sk_config_unref(w->snap);
    free(w->event);
    free(w);
}

void sk_daemon__wf_free_all(sk_daemon_t *d)
{
    while (d->workflows)
        wf_free(d, d->workflows);
}

static size_t step_index(const sk_job_cfg_t *cfg, const char *name)
{
    for (size_t i = 0; name && i < cfg->nsteps; i++)
        if (strcmp(cfg->steps[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

static void out_path(const sk_daemon_t *d, int64_t wf_id, const char *step, char *buf, size_t size)
{
    sk_snprintf(buf, size, "%s/runs/%" PRId64 "/%s.out", d->state_dir, wf_id, step);
}

/* Step i's outputs become n pairs from o; keys and values are taken (o's are
 * set to NULL), the array stays the caller's. */
static void set_outputs(sk_wfrt_t *w, size_t i, sk_output_t *o, size_t n)
{
    sk_kv_free(w->outputs[i], w->noutputs[i]);
    w->outputs[i] = sk_xcalloc(n ? n : 1, sizeof(sk_kv_t));
    w->noutputs[i] = n;
    for (size_t k = 0; k < n; k++) {
        w->outputs[i][k].key = o[k].key;
        w->outputs[i][k].value = o[k].value;
        o[k].key = o[k].value = NULL;
    }
}

/* Copies the outputs of step `from` of run `from_run` to w's step i (retry). */
static void keep_outputs(sk_daemon_t *d, sk_wfrt_t *w, size_t i, int64_t from_run, int64_t to_run)
{
    sk_output_t *o = NULL;
    size_t n = 0;
    if (d->store->ops->outputs_get(d->store, from_run, &o, &n, NULL) < 0)
        return;
    if (to_run && n)
        d->store->ops->outputs_put(d->store, to_run, o, n, NULL);
    set_outputs(w, i, o, n);
    sk_outputs_free(o, n);
}

/* The steps a retry keeps: those that succeeded in run `base`. */
static void keep_succeeded(sk_daemon_t *d, sk_wfrt_t *w, int64_t base)
{
    sk_run_filter_t f = {.parent_id = base, .limit = SK_STORE_QUERY_MAX};
    sk_run_t *rows = NULL;
    size_t n = 0;
    if (d->store->ops->runs_query(d->store, &f, &rows, &n, NULL) < 0)
        return;
    int64_t *ok_run = sk_xcalloc(w->cfg->nsteps, sizeof(int64_t));
    for (size_t k = 0; k < n; k++) { /* oldest first: the last attempt wins */
        size_t i = step_index(w->cfg, rows[k].step);
        if (i != SIZE_MAX)
            ok_run[i] = rows[k].status == SK_RUN_SUCCEEDED ? rows[k].id : 0;
    }
    for (size_t i = 0; i < w->cfg->nsteps; i++) {
        /* Only work steps are kept: `when: always` and `when: failure`
         * steps react to this run's outcome and run again if due. */
        if (!ok_run[i] || w->cfg->steps[i].when != SK_WHEN_SUCCESS)
            continue;
        char reason[64];
        sk_snprintf(reason, sizeof(reason), "kept from run %" PRId64, base);
        sk_run_t rec = {0};
        rec.job = w->job->name;
        rec.step = w->cfg->steps[i].name;
        rec.parent_id = w->id;
        rec.status = SK_RUN_SUCCEEDED;
        rec.trigger = SK_TRIG_RETRY;
        rec.attempt = 1;
        rec.scheduled_at = w->scheduled_at;
        rec.queued_at = sk_now_ms();
        rec.exit_code = 0;
        rec.reason = reason;
        if (d->store->ops->run_insert(d->store, &rec, NULL) == 0) {
            w->states[i] = SK_DAG_SUCCEEDED;
            w->step_attempt[i] = 1;
            keep_outputs(d, w, i, ok_run[i], rec.id);
        }
    }
    free(ok_run);
    sk_runs_free(rows, n);
}

void sk_daemon__wf_start(sk_daemon_t *d, sk_runrt_t *r)
{
    sk_wfrt_t *w =
        wf_alloc(d, r->job, r->snap, r->cfg, r->id, r->attempt, r->trigger, r->scheduled_at);
    w->params = r->params;
    memset(&r->params, 0, sizeof(r->params));
    w->event = r->event;
    r->event = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->run_start(d->store, r->id, sk_now_ms(), 0, NULL, &err) < 0)
        sk_log(SK_LOG_ERROR, "event=store_error job=%s run=%" PRId64 " msg=\"%s\"", r->job->name,
               r->id, err.msg);
    if (r->retry_of)
        keep_succeeded(d, w, r->retry_of);
    sk_log(SK_LOG_INFO, "event=started job=%s run=%" PRId64 " attempt=%d trigger=%s workflow=%zu",
           r->job->name, r->id, r->attempt, sk_trigger_str(r->trigger), (size_t)w->cfg->nsteps);
    sk_daemon__run_free(r);
}

void sk_daemon__wf_step_final(sk_daemon_t *d, sk_runrt_t *r, sk_run_status_t st)
{
    (void)d;
    sk_wfrt_t *w = r->wf;
    w->states[r->step_idx] = st == SK_RUN_SUCCEEDED ? SK_DAG_SUCCEEDED
                             : st == SK_RUN_SKIPPED ? SK_DAG_SKIPPED
                                                    : SK_DAG_FAILED;
    w->dirty = true;
}

static bool key_ok(const char *k, size_t n)
{
    if (n == 0 || n > 64 || (k[0] >= '0' && k[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

void sk_daemon__read_outputs(const char *path, sk_output_t **ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char *buf = sk_xmalloc(OUTPUT_MAX + 1);
    ssize_t len = read(fd, buf, OUTPUT_MAX);
    close(fd);
    if (len < 0)
        len = 0;
    buf[len] = '\0';
    sk_output_t *o = sk_xcalloc(OUTPUT_KEYS_MAX, sizeof(*o));
    size_t n = 0;
    for (char *line = buf; line && *line && n < OUTPUT_KEYS_MAX;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *eq = strchr(line, '=');
        if (eq && key_ok(line, (size_t)(eq - line))) {
            *eq = '\0';
            char *v = eq + 1;
            size_t vl = strlen(v);
            if (vl && v[vl - 1] == '\r')
                v[vl - 1] = '\0';
            size_t k = 0;
            while (k < n && strcmp(o[k].key, line) != 0)
                k++;
            if (k == n) {
                o[n].key = sk_xstrdup(line);
                n++;
            } else {
                free(o[k].value); /* a later line wins */
            }
            o[k].value = sk_xstrdup(v);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
    *ret = o;
    *ret_n = n;
}

int sk_daemon__wf_collect_outputs(sk_daemon_t *d, sk_runrt_t *r, sk_err_t *err)
{
    sk_wfrt_t *w = r->wf;
    sk_output_t *o = NULL;
    size_t n = 0;
    if (r->remote) {
        /* The node that ran it recorded them. */
        keep_outputs(d, w, r->step_idx, r->id, 0);
        return 0;
    }
    char path[4096];
    out_path(d, w->id, r->step->name, path, sizeof(path));
    /* The file goes with its folder when the workflow ends, after commit. */
    sk_daemon__read_outputs(path, &o, &n);
    if (!o)
        return 0;
    int rc = 0;
    if (n)
        rc = d->store->ops->outputs_put(d->store, r->id, o, n, err);
    set_outputs(w, r->step_idx, o, n);
    free(o);
    return rc;
}

/* Records what the graph decides for w; appends the steps to queue to acts. */
static int advance(sk_daemon_t *d, sk_wfrt_t *w, sk_wf_action_t **acts, size_t *nacts, size_t *cap,
                   sk_err_t *err)
{
    const sk_store_ops_t *ops = d->store->ops;
    size_t n = w->cfg->nsteps, nready = 0, nskip = 0;
    size_t *ready = sk_xcalloc(n, sizeof(size_t));
    sk_dag_skip_t *skips = sk_xcalloc(n, sizeof(*skips));
    int64_t now = sk_now_ms();
    int rc = 0;

    w->dirty = false;
    if (w->cancelled) {
        /* Start nothing more: what has not started is skipped. */
        for (size_t i = 0; i < n; i++) {
            if (w->states[i] != SK_DAG_PENDING)
                continue;
            w->states[i] = SK_DAG_SKIPPED;
            skips[nskip].step = i;
            skips[nskip].state = SK_DAG_SKIPPED;
            sk_strlcpy(skips[nskip].reason, "the workflow run was cancelled",
                       sizeof(skips[nskip].reason));
            nskip++;
        }
    } else {
        sk_dag_eval(w->cfg, w->states, ready, &nready, skips, &nskip);
    }
    for (size_t k = 0; k < nskip && rc == 0; k++) {
        sk_run_t rec = {0};
        rec.job = w->job->name;
        rec.step = w->cfg->steps[skips[k].step].name;
        rec.parent_id = w->id;
        rec.status = SK_RUN_SKIPPED;
        rec.trigger = w->trigger;
        rec.attempt = 1;
        rec.scheduled_at = w->scheduled_at;
        rec.queued_at = rec.ended_at = now;
        rec.exit_code = -1;
        rec.reason = skips[k].reason;
        rc = ops->run_insert(d->store, &rec, err);
        if (rc == 0)
            sk_log(SK_LOG_INFO, "event=skipped job=%s step=%s run=%" PRId64 " reason=\"%s\"",
                   w->job->name, rec.step, rec.id, skips[k].reason);
    }
    for (size_t k = 0; k < nready && rc == 0; k++) {
        if (*nacts == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *acts = sk_xrealloc(*acts, *cap * sizeof(**acts));
        }
        sk_wf_action_t *a = &(*acts)[*nacts];
        memset(a, 0, sizeof(*a));
        a->wf = w;
        a->step = ready[k];
        a->rec.job = w->job->name;
        a->rec.step = w->cfg->steps[ready[k]].name;
        a->rec.parent_id = w->id;
        a->rec.status = SK_RUN_QUEUED;
        a->rec.trigger = w->trigger;
        a->rec.attempt = 1;
        a->rec.scheduled_at = w->scheduled_at;
        a->rec.queued_at = now;
        a->rec.exit_code = -1;
        rc = ops->run_insert(d->store, &a->rec, err);
        if (rc == 0) {
            w->states[ready[k]] = SK_DAG_ACTIVE;
            (*nacts)++;
        }
    }
    if (rc == 0 && sk_dag_done(w->cfg, w->states)) {
        bool failed = sk_dag_failed(w->cfg, w->states) || w->cancelled;
        char reason[200] = "";
        if (w->cancelled)
            sk_strlcpy(reason, "cancelled", sizeof(reason));
        for (size_t i = 0; failed && i < n && !reason[0]; i++)
            if (w->states[i] == SK_DAG_FAILED)
                sk_snprintf(reason, sizeof(reason), "step %s failed", w->cfg->steps[i].name);
        sk_run_status_t end = w->cancelled ? SK_RUN_KILLED
                              : failed     ? SK_RUN_FAILED
                                           : SK_RUN_SUCCEEDED;
        rc = ops->run_finish(d->store, w->id, end, now, -1, 0, failed ? reason : NULL, err);
        if (rc == 0) {
            if (*nacts == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                *acts = sk_xrealloc(*acts, *cap * sizeof(**acts));
            }
            sk_wf_action_t *a = &(*acts)[(*nacts)++];
            memset(a, 0, sizeof(*a));
            a->wf = w;
            a->step = SIZE_MAX; /* the workflow is done */
            a->rec.status = end;
            w->done = true;
        }
    }
    free(ready);
    free(skips);
    return rc;
}

int sk_daemon__wf_advance_all(sk_daemon_t *d, sk_wf_action_t **ret, size_t *ret_n, sk_err_t *err)
{
    size_t cap = 0;
    *ret = NULL;
    *ret_n = 0;
    for (sk_wfrt_t *w = d->workflows; w; w = w->next) {
        if (!w->dirty || w->done)
            continue;
        int rc = advance(d, w, ret, ret_n, &cap, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void sk_daemon__wf_apply(sk_daemon_t *d, sk_wf_action_t *acts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sk_wfrt_t *w = acts[i].wf;
        if (acts[i].step != SIZE_MAX) {
            sk_daemon__step_new(d, w, acts[i].step, &acts[i].rec);
            continue;
        }
        sk_run_status_t st = acts[i].rec.status;
        sk_log(st == SK_RUN_SUCCEEDED ? SK_LOG_INFO : SK_LOG_WARN,
               "event=finished job=%s run=%" PRId64 " attempt=%d status=%s workflow=%zu",
               w->job->name, w->id, w->attempt, sk_run_status_str(st), (size_t)w->cfg->nsteps);
        char dir[4096], path[4096];
        for (size_t k = 0; k < w->cfg->nsteps; k++) {
            out_path(d, w->id, w->cfg->steps[k].name, path, sizeof(path));
            unlink(path); /* collected and committed */
        }
        sk_snprintf(dir, sizeof(dir), "%s/runs/%" PRId64, d->state_dir, w->id);
        rmdir(dir);
        sk_jobrt_t *j = w->job;
        sk_alert_outcome_t o = {
            .run_id = w->id,
            .status = st,
            .prev_outcome = j->last_outcome,
            .exit_code = -1,
            .attempt = w->attempt,
            .scheduled_at = w->scheduled_at,
            .ended_at = sk_now_ms(),
            .reason = st == SK_RUN_SUCCEEDED ? NULL : "a step failed",
        };
        j->last_outcome = (int)st;
        sk_metrics_run_ended(d->metrics, j->metrics, sk_run_status_str(st),
                             (double)(sk_mono_ms() - w->started_mono) / 1000.0);
        bool cancelled = w->cancelled;
        if (!d->stopping && !cancelled)
            sk_daemon__alert_outcome(d, j, w->snap, w->cfg->alert, &o);
        sk_daemon__prune(d, j, w->cfg);
        wf_free(d, w);
        if (!cancelled)
            sk_daemon__after(d, j, st);
    }
    free(acts);
}

/* Evaluates dirty workflows in a transaction of their own, then acts. */
static void kick(sk_daemon_t *d)
{
    sk_wf_action_t *acts = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = d->store->ops->begin(d->store, &err);
    if (rc == 0)
        rc = sk_daemon__wf_advance_all(d, &acts, &n, &err);
    if (rc == 0)
        rc = d->store->ops->commit(d->store, &err);
    if (rc < 0) {
        d->store->ops->rollback(d->store, NULL);
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        for (sk_wfrt_t *w = d->workflows; w; w = w->next)
            if (!w->done)
                w->dirty = true; /* evaluated again at the next flush */
        free(acts);
        return;
    }
    sk_daemon__wf_apply(d, acts, n);
}

void sk_daemon__wf_kick(sk_daemon_t *d)
{
    for (sk_wfrt_t *w = d->workflows; w; w = w->next)
        if (w->dirty && !w->done) {
            kick(d);
            return;
        }
}

void sk_daemon__run_extra_env(sk_daemon_t *d, const sk_runrt_t *r, sk_kv_t **ret, size_t *ret_n)
{
    sk_kv_t *kv = NULL;
    size_t n = 0, cap = 0;
#define PUSH(k, v)                                                                                 \
    do {                                                                                           \
        if (n == cap) {                                                                            \
            cap = cap ? cap * 2 : 16;                                                              \
            kv = sk_xrealloc(kv, cap * sizeof(*kv));                                               \
        }                                                                                          \
        kv[n].key = (k);                                                                           \
        kv[n].value = (v);                                                                         \
        n++;                                                                                       \
    } while (0)
    /* A step sees what started its workflow. */
    const char *event = r->wf ? r->wf->event : r->event;
    if (event) {
        /* "KIND" or "KIND: DETAIL" (daemon_files.c writes "file: PATH"). */
        size_t klen = strcspn(event, ":");
        PUSH(sk_xstrdup("SKED_EVENT"), sk_xstrndup(event, klen));
        if (strncmp(event, "file: ", 6) == 0)
            PUSH(sk_xstrdup("SKED_EVENT_PATH"), sk_xstrdup(event + 6));
        if (strncmp(event, "logon: ", 7) == 0)
            PUSH(sk_xstrdup("SKED_EVENT_USER"), sk_xstrdup(event + 7));
    }
    const sk_params_t *params = r->wf ? &r->wf->params : &r->params;
    for (size_t i = 0; i < params->n; i++) {
        char name[160];
        sk_snprintf(name, sizeof(name), "SKED_PARAM_%s", params->kv[i].key);
        for (char *p = name; *p; p++)
            *p = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        PUSH(sk_xstrdup(name), sk_xstrdup(params->kv[i].value));
    }
    if (r->wf) {
        sk_wfrt_t *w = r->wf;
        char path[4096], num[32];
        out_path(d, w->id, r->step->name, path, sizeof(path));
        /* A fresh, empty file for each attempt, in a folder only we can read. */
        char *slash = strrchr(path, '/');
        *slash = '\0';
        (void)sk_mkdir_p(path, 0700); /* else the open fails, and so does the step */
        *slash = '/';
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        PUSH(sk_xstrdup("SKED_OUTPUT"), sk_xstrdup(path));
        sk_snprintf(num, sizeof(num), "%" PRId64, w->id);
        PUSH(sk_xstrdup("SKED_WORKFLOW_RUN_ID"), sk_xstrdup(num));
        for (size_t s = 0; s < w->cfg->nsteps; s++) {
            for (size_t k = 0; k < w->noutputs[s]; k++) {
                char name[256];
                sk_snprintf(name, sizeof(name), "SKED_OUT_%s_%s", w->cfg->steps[s].name,
                            w->outputs[s][k].key);
                for (char *p = name; *p; p++) {
                    if (*p >= 'a' && *p <= 'z')
                        *p = (char)(*p - 'a' + 'A');
                    else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
                        *p = '_';
                }
                PUSH(sk_xstrdup(name), sk_xstrdup(w->outputs[s][k].value));
            }
        }
    }
    /* A webhook's payload, kept under its top-level run's id: a workflow's
     * steps share it. */
    char ev[4096];
    sk_daemon__event_file(d->state_dir, r->job->name, r->wf ? r->wf->id : r->id, ev, sizeof(ev));
    if (event && access(ev, F_OK) == 0)
        PUSH(sk_xstrdup("SKED_EVENT_FILE"), sk_xstrdup(ev));
#undef PUSH
    *ret = kv;
    *ret_n = n;
}

void sk_daemon__after(sk_daemon_t *d, sk_jobrt_t *j, sk_run_status_t st)
{
    bool ok = st == SK_RUN_SUCCEEDED;
    bool bad = st == SK_RUN_FAILED || st == SK_RUN_TIMED_OUT || st == SK_RUN_KILLED ||
               st == SK_RUN_INTERRUPTED;
    if (d->stopping || (!ok && !bad))
        return;
    for (size_t i = 0; i < j->ndown; i++) {
        sk_jobrt_t *k = j->down[i];
        if (!k->cfg || !k->cfg->enabled || k->paused)
            continue;
        sk_when_t when = k->cfg->after_when;
        if ((when == SK_WHEN_SUCCESS && !ok) || (when == SK_WHEN_FAILURE && !bad))
            continue;
        sk_err_t err;
        sk_err_clear(&err);
        int64_t id = sk_daemon__trigger(d, k, NULL, SK_TRIG_UPSTREAM, false, &err);
        if (id < 0)
            sk_log(SK_LOG_ERROR, "event=store_error job=%s msg=\"%s\"", k->name, err.msg);
        else
            sk_log(SK_LOG_INFO, "event=chained job=%s after=%s status=%s run=%" PRId64, k->name,
                   j->name, sk_run_status_str(st), id);
    }
}

/* Ends one unfinished step row: its process first, if it outlived its daemon. */
static void end_step_row(sk_daemon_t *d, const sk_run_t *s, int64_t now, const char *reason)
{
    const char *found = NULL;
    sk_daemon__end_leftover(d, s, &found);
    d->store->ops->run_finish(d->store, s->id, SK_RUN_INTERRUPTED, now, -1, 0, reason, NULL);
    if (s->dispatched && !s->settled && d->store->ops->cluster)
        d->store->ops->cluster->run_settle(d->store, s->id, NULL); /* nothing follows from it */
    sk_log(SK_LOG_WARN, "event=interrupted job=%s step=%s run=%" PRId64 " reason=\"%s\"", s->job,
           s->step ? s->step : "?", s->id, reason);
}

void sk_daemon__wf_end_children(sk_daemon_t *d, int64_t parent, int64_t now, const char *reason)
{
    sk_run_filter_t f = {.parent_id = parent, .limit = SK_STORE_QUERY_MAX};
    sk_run_t *rows = NULL;
    size_t n = 0;
    if (d->store->ops->runs_query(d->store, &f, &rows, &n, NULL) < 0)
        return;
    for (size_t k = 0; k < n; k++)
        if (!sk_run_status_final(rows[k].status))
            end_step_row(d, &rows[k], now, reason);
    sk_runs_free(rows, n);
}

void sk_daemon__wf_recover(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *row, int64_t now)
{
    const sk_store_ops_t *ops = d->store->ops;
    if (row->status == SK_RUN_QUEUED) {
        sk_runrt_t *r = sk_daemon__run_new(d, j, row);
        long long base = 0;
        if (row->reason && sscanf(row->reason, "retry of run %lld", &base) == 1)
            r->retry_of = base; /* which steps to keep survives a restart */
        return;
    }
    sk_wfrt_t *w =
        wf_alloc(d, j, d->config, j->cfg, row->id, row->attempt, row->trigger, row->scheduled_at);
    sk_params_build(j->cfg, row->params, &w->params);
    w->event = row->event ? sk_xstrdup(row->event) : NULL;
    sk_run_filter_t f = {.parent_id = row->id, .limit = SK_STORE_QUERY_MAX};
    sk_run_t *rows = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (ops->runs_query(d->store, &f, &rows, &n, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        return;
    }
    /* Oldest first: the latest attempt of each step decides its state. */
    sk_run_t **latest = sk_xcalloc(w->cfg->nsteps, sizeof(*latest));
    for (size_t k = 0; k < n; k++) {
        size_t i = step_index(w->cfg, rows[k].step);
        if (i != SIZE_MAX)
            latest[i] = &rows[k];
        else if (!sk_run_status_final(rows[k].status))
            end_step_row(d, &rows[k], now, "the step is no longer in the configuration");
        else if (rows[k].dispatched && !rows[k].settled && ops->cluster)
            ops->cluster->run_settle(d->store, rows[k].id, NULL); /* nothing follows from it */
    }
    for (size_t i = 0; i < w->cfg->nsteps; i++) {
        sk_run_t *s = latest[i];
        const sk_step_cfg_t *sc = &w->cfg->steps[i];
        if (!s)
            continue;
        w->step_attempt[i] = s->attempt;
        if (d->cluster && s->dispatched && !s->settled) {
            /* In a node's hands, or ended there and not yet taken in. */
            sk_daemon__adopt_row(d, j, w, i, s);
            continue;
        }
        switch (s->status) {
        case SK_RUN_SUCCEEDED:
            w->states[i] = SK_DAG_SUCCEEDED;
            keep_outputs(d, w, i, s->id, 0);
            break;
        case SK_RUN_SKIPPED:
            /* The reasons sk_dag_eval writes: "upstream X failed" and "...
             * (failure upstream)" are failures; "was skipped" and "no
             * upstream step failed" are not. */
            w->states[i] = s->reason && strncmp(s->reason, "upstream ", 9) == 0 &&
                                   (strstr(s->reason, "(failure upstream)") ||
                                    (strlen(s->reason) > 7 &&
                                     strcmp(s->reason + strlen(s->reason) - 7, " failed") == 0))
                               ? SK_DAG_UPSTREAM_FAILED
                               : SK_DAG_SKIPPED;
            break;
        case SK_RUN_QUEUED:
        case SK_RUN_RUNNING:
        case SK_RUN_INTERRUPTED: {
            const char *reason = "sked stopped while it ran";
            if (s->status == SK_RUN_QUEUED && !sk_daemon__end_leftover(d, s, &reason)) {
                sk_daemon__step_new(d, w, i, s); /* never started: it waits again */
                break;
            }
            if (s->status != SK_RUN_INTERRUPTED) {
                if (s->status == SK_RUN_RUNNING)
                    sk_daemon__end_leftover(d, s, &reason);
                ops->run_finish(d->store, s->id, SK_RUN_INTERRUPTED, now, -1, 0, reason, NULL);
                sk_log(SK_LOG_WARN,
                       "event=interrupted job=%s step=%s run=%" PRId64 " attempt=%d reason=\"%s\"",
                       j->name, sc->name, s->id, s->attempt, reason);
            }
            /* sked itself interrupted it: it gets another attempt whatever
             * its retries (a stop is not the step's failure), unless the job
             * says a step that may have done its work must not run again. */
            if (j->cfg->on_interrupt == SK_ON_INTERRUPT_FAIL) {
                sk_log(SK_LOG_WARN,
                       "event=not_retried job=%s step=%s run=%" PRId64
                       " msg=\"interrupted; not run again (on_interrupt: fail)\"",
                       j->name, sc->name, s->id);
                w->states[i] = SK_DAG_FAILED;
                break;
            }
            sk_run_t rec;
            sk_daemon__retry_rec(&rec, j->name, sc->name, w->id, s->attempt, s->scheduled_at, now);
            if (ops->run_insert(d->store, &rec, &err) == 0) {
                sk_log(SK_LOG_INFO,
                       "event=retry_scheduled job=%s step=%s run=%" PRId64 " attempt=%d", j->name,
                       sc->name, rec.id, rec.attempt);
                sk_daemon__step_new(d, w, i, &rec);
            } else {
                w->states[i] = SK_DAG_FAILED;
            }
            break;
        }
        default: /* failed, timed out, killed, missed: retries were spent */
            w->states[i] = SK_DAG_FAILED;
            break;
        }
    }
    free(latest);
    sk_runs_free(rows, n);
    sk_log(SK_LOG_INFO, "event=resumed job=%s run=%" PRId64 " workflow=%zu", j->name, w->id,
           (size_t)w->cfg->nsteps);
}

int64_t sk_daemon__retry(sk_daemon_t *d, int64_t run_id, sk_err_t *err)
{
    const sk_store_ops_t *ops = d->store->ops;
    sk_run_t row;
    int rc = ops->run_get(d->store, run_id, &row, err);
    if (rc < 0)
        return sk_err_set(err, rc, "no run %" PRId64, run_id);
    int64_t id = -1;
    sk_jobrt_t *j = sk_daemon__job(d, row.job);
    if (row.parent_id || row.step) {
        id = sk_err_set(err, SK_EPARSE,
                        "run %" PRId64 " is a step of workflow run %" PRId64
                        "; retry the workflow run",
                        run_id, row.parent_id);
    } else if (!sk_run_status_final(row.status)) {
        id = sk_err_set(err, -EBUSY, "run %" PRId64 " has not finished (%s)", run_id,
                        sk_run_status_str(row.status));
    } else if (!j || !j->cfg) {
        id = sk_err_set(err, SK_ENOTFOUND, "job \"%s\" is no longer in the configuration", row.job);
    } else if (d->stopping) {
        id = sk_err_set(err, -EBUSY, "sked is stopping");
    } else {
        sk_run_t rec;
        sk_daemon__retry_rec(&rec, j->name, NULL, 0, row.attempt, row.scheduled_at, sk_now_ms());
        rec.params = row.params;
        char why[64];
        sk_snprintf(why, sizeof(why), "retry of run %" PRId64, run_id);
        rec.reason = why;
        rc = ops->run_insert(d->store, &rec, err);
        if (rc < 0) {
            id = rc;
        } else {
            sk_runrt_t *r = sk_daemon__run_new(d, j, &rec);
            if (r->is_workflow)
                r->retry_of = run_id;
            id = rec.id;
            sk_log(SK_LOG_INFO, "event=retry job=%s run=%" PRId64 " of=%" PRId64, j->name, id,
                   run_id);
            sk_daemon__pump(d, sk_now_ms());
            sk_daemon__arm(d);
        }
    }
    sk_run_release(&row);
    return id;
}
