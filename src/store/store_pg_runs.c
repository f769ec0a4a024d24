/*
 * The PostgreSQL back end's rows of runs and what hangs off them: runs
 * (record, start, finish, read, query), each job's state, pruning (the
 * back end's three steps under the shared loop), a run's outputs and the
 * alert queue. Separate from the session (store_pg.c) because it is the
 * SQL of store.h's main operations and nothing of the connection; the
 * cluster's operations on the same rows are in store_pg_cluster.c.
 */
#include "store_pg_int.h"

/* ---- runs ---- */

/* Reads row (RUN_COLS) into *ret: new strings. */
static int read_run(sk_pg_t *s, const PGresult *res, int row, sk_run_t *ret, sk_err_t *err)
{
    sk_run_t r;
    memset(&r, 0, sizeof(r));
    r.id = sk_pg__get_i64(res, row, 0);
    int rc = sk_store__read_status(&s->core, r.id, PQgetvalue(res, row, 3), &r.status, err);
    if (rc == 0)
        rc = sk_store__read_trigger(&s->core, r.id, PQgetvalue(res, row, 4), &r.trigger, err);
    if (rc < 0)
        return rc;
    r.job = sk_pg__get_str(res, row, 1);
    r.step = sk_pg__get_str(res, row, 2);
    r.attempt = sk_pg__get_int_or(res, row, 5, 0);
    r.scheduled_at = sk_pg__get_i64(res, row, 6);
    r.queued_at = sk_pg__get_i64(res, row, 7);
    r.started_at = sk_pg__get_i64(res, row, 8);
    r.ended_at = sk_pg__get_i64(res, row, 9);
    r.exit_code = sk_pg__get_int_or(res, row, 10, -1);
    r.signal = sk_pg__get_int_or(res, row, 11, 0);
    r.pid = sk_pg__get_int_or(res, row, 12, 0);
    r.reason = sk_pg__get_str(res, row, 13);
    r.log_path = sk_pg__get_str(res, row, 14);
    r.parent_id = sk_pg__get_i64(res, row, 15);
    r.params = sk_pg__get_str(res, row, 16);
    r.node = sk_pg__get_str(res, row, 17);
    r.spec = sk_pg__get_str(res, row, 18);
    r.cancel = sk_pg__get_str(res, row, 19);
    r.dispatched = sk_streq(PQgetvalue(res, row, 20), "t");
    r.settled = sk_streq(PQgetvalue(res, row, 21), "t");
    r.event = sk_pg__get_str(res, row, 22);
    if (!r.job)
        r.job = sk_xstrdup("");
    *ret = r;
    return 0;
}

int sk_pg__run_insert(sk_store_t *st, sk_run_t *run, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_run(&s->core, run, err);
    if (r == 0)
        r = sk_pg__lead_gate(s, "recording a run", err);
    if (r < 0)
        return r;
    sk_pg__p_text(&p, run->job);
    sk_pg__p_text(&p, run->step);
    sk_pg__p_text(&p, sk_run_status_str(run->status));
    sk_pg__p_text(&p, sk_trigger_str(run->trigger));
    sk_pg__p_i64(&p, run->attempt);
    sk_pg__p_i64(&p, run->scheduled_at);
    sk_pg__p_time(&p, run->queued_at);
    sk_pg__p_time(&p, run->started_at);
    sk_pg__p_time(&p, run->ended_at);
    sk_pg__p_int_or_null(&p, run->exit_code, -1);
    sk_pg__p_int_or_null(&p, run->signal, 0);
    sk_pg__p_int_or_null(&p, run->pid, 0);
    sk_pg__p_free_text(&p, run->reason);
    sk_pg__p_text(&p, run->log_path);
    sk_pg__p_i64(&p, run->parent_id);
    sk_pg__p_text(&p, run->params);
    sk_pg__p_text(&p, run->event);
    r = sk_pg__exec_write(s, ST_INSERT, &p, &res, "recording a run", err);
    sk_pg__p_release(&p);
    if (r < 0)
        return r;
    int rows = PQntuples(res);
    int64_t id = rows > 0 ? sk_pg__get_i64(res, 0, 0) : 0;
    PQclear(res);
    if (rows > 0) {
        run->id = id;
        return 0;
    }
    /* No row: a step's parent failed the check, or (steps never conflict)
     * runs_fire already holds this fire. Either way the batch goes on. */
    if (run->parent_id > 0)
        return sk_err_set(err, -EINVAL,
                          "%s: job %s: step %s: parent run %" PRId64
                          " is not a top-level run of that job",
                          s->name, run->job, run->step, run->parent_id);
    return sk_err_set(err, -EEXIST, "%s: job %s already has a fire at %" PRId64 " (attempt 1)",
                      s->name, run->job, run->scheduled_at);
}

/* After an UPDATE of run id changed nothing: SK_ENOTFOUND, or the run's
 * status in *ret_status. */
int sk_pg__run_status(sk_pg_t *s, int64_t id, sk_run_status_t *ret_status, sk_err_t *err)
{
    PGresult *res = NULL;
    params_t p = {0};
    sk_pg__p_i64(&p, id);
    int r = sk_pg__exec_stmt(s, ST_STATUS, &p, &res, "reading a run", err);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0) {
        r = sk_err_set(err, SK_ENOTFOUND, "%s: no run %" PRId64, s->name, id);
    } else {
        r = sk_store__read_status(&s->core, id, PQgetvalue(res, 0, 0), ret_status, err);
    }
    PQclear(res);
    return r;
}

int sk_pg__update_run(sk_pg_t *s, stmt_id_t stmt, const params_t *p, int64_t id, const char *what,
                      sk_run_status_t *ret_status, sk_err_t *err)
{
    PGresult *res = NULL;
    int r = sk_pg__exec_write(s, stmt, p, &res, what, err);
    if (r < 0)
        return r;
    long changed = sk_pg__changes(res);
    PQclear(res);
    if (changed > 0)
        return 0;
    r = sk_pg__run_status(s, id, ret_status, err);
    return r < 0 ? r : 1;
}

int sk_pg__run_start(sk_store_t *st, int64_t id, int64_t started_at, int pid, const char *log_path,
                     sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    sk_run_status_t cur;
    int r = sk_store__text_check(&s->core, err, 1, "the log path", log_path);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a start", err);
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, id);
    sk_pg__p_time(&p, started_at);
    sk_pg__p_int_or_null(&p, pid, 0);
    sk_pg__p_text(&p, log_path);
    r = sk_pg__update_run(s, ST_START, &p, id, "recording a start", &cur, err);
    if (r <= 0)
        return r;
    return sk_store__not_queued(&s->core, id, cur, "start", err);
}

int sk_pg__run_pids(sk_store_t *st, const sk_run_pid_t *v, size_t n, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    if (s->core.in_batch)
        return sk_err_set(err, -EINVAL, "%s: run_pids inside a batch", s->name);
    int r = sk_store__write_gate(&s->core, "recording pids", err);
    if (r == 0)
        r = s->core.tx->begin(&s->core, "recording pids", err);
    /* The commit does not wait for the server's disk (nor its standbys):
     * the pids matter only while this machine runs the processes. */
    if (r == 0)
        r = sk_pg__exec_sql(s, "SET LOCAL synchronous_commit TO off", "recording pids", err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        PGresult *res = NULL;
        params_t p = {0};
        sk_pg__p_i64(&p, v[i].id);
        sk_pg__p_int_or_null(&p, v[i].pid, 0);
        r = sk_pg__exec_write(s, ST_PID, &p, &res, "recording pids", err);
        if (r == 0)
            PQclear(res);
    }
    if (r == 0)
        r = s->core.tx->commit(&s->core, "recording pids", err);
    s->core.tx->abort(&s->core); /* whatever happened, no transaction stays open */
    return r;
}

int sk_pg__run_finish(sk_store_t *st, int64_t id, sk_run_status_t status, int64_t ended_at,
                      int exit_code, int signal, const char *reason, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    sk_run_status_t cur;
    int r = sk_store__check_finish(&s->core, id, status, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an outcome", err);
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, id);
    sk_pg__p_text(&p, sk_run_status_str(status));
    sk_pg__p_time(&p, ended_at);
    sk_pg__p_int_or_null(&p, exit_code, -1);
    sk_pg__p_int_or_null(&p, signal, 0);
    sk_pg__p_free_text(&p, reason);
    r = sk_pg__update_run(s, ST_FINISH, &p, id, "recording an outcome", &cur, err);
    sk_pg__p_release(&p);
    if (r <= 0)
        return r;
    return sk_store__has_outcome(&s->core, id, cur, err);
}

/* Runs statement id (returning RUN_COLS) and reads its one row into *ret;
 * SK_ENOTFOUND with what_missing when there is none. */
static int fetch_one(sk_pg_t *s, stmt_id_t id, const params_t *p, sk_run_t *ret,
                     const char *what_missing, sk_err_t *err)
{
    PGresult *res = NULL;
    int r = sk_pg__exec_stmt(s, id, p, &res, "reading runs", err);
    if (r < 0)
        return r;
    if (PQntuples(res) > 0)
        r = read_run(s, res, 0, ret, err);
    else
        r = sk_err_set(err, SK_ENOTFOUND, "%s", what_missing);
    PQclear(res);
    return r;
}

/* Reads every row of res (RUN_COLS) into new memory (NULL when none). */
int sk_pg__read_runs(sk_pg_t *s, const PGresult *res, sk_run_t **ret, size_t *ret_n, sk_err_t *err)
{
    size_t n = (size_t)PQntuples(res);
    sk_run_t *runs = n ? sk_xcalloc(n, sizeof(*runs)) : NULL;
    for (size_t i = 0; i < n; i++) {
        int r = read_run(s, res, (int)i, &runs[i], err);
        if (r < 0) {
            sk_runs_free(runs, i);
            return r;
        }
    }
    *ret = runs;
    *ret_n = n;
    return 0;
}

int sk_pg__run_get(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    char missing[64];
    sk_pg__p_i64(&p, id);
    sk_snprintf(missing, sizeof(missing), "no run %" PRId64, id);
    return fetch_one(s, ST_GET, &p, ret, missing, err);
}

int sk_pg__run_last(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    char missing[300];
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: run_last needs a job", s->name);
    if (!sk_store__text_ok(job))
        return sk_err_set(err, SK_ENOTFOUND, "job %s has no runs", job);
    sk_pg__p_text(&p, job);
    sk_snprintf(missing, sizeof(missing), "job %s has no runs", job);
    return fetch_one(s, ST_LAST, &p, ret, missing, err);
}

/* The runs_query statement for a combination of Q_* bits, its parameters
 * numbered in the order runs_query pushes them: before_id, limit, then job,
 * parent_id, status and since as the bits ask. A workflow's steps come
 * oldest first (the order they ran in), everything else newest first. */
static void query_sql(int which, char *sql, size_t size)
{
    int n = 2;
    char job[32] = "", parent[64] = "", status[32] = "", since[160] = "";
    if (which & Q_JOB)
        sk_snprintf(job, sizeof(job), " AND job = $%d::text", ++n);
    if (which & Q_PARENT) {
        n++;
        sk_snprintf(parent, sizeof(parent), " AND parent_id = $%d::bigint AND parent_id > 0", n);
    }
    if (which & Q_STATUS)
        sk_snprintf(status, sizeof(status), " AND status = $%d::text", ++n);
    if (which & Q_SINCE) {
        n++;
        sk_snprintf(since, sizeof(since),
                    " AND (started_at >= $%d::bigint OR ended_at >= $%d::bigint OR "
                    "queued_at >= $%d::bigint OR " SQL_ACTIVE ")",
                    n, n, n);
    }
    sk_snprintf(sql, size, "SELECT " RUN_COLS " FROM runs WHERE id < $1::bigint%s%s%s%s%s%s%s", job,
                which & Q_ACTIVE ? " AND " SQL_ACTIVE : "", parent,
                which & Q_TOP ? " AND parent_id = 0" : "", status, since,
                which & Q_PARENT ? " ORDER BY id LIMIT $2::bigint"
                                 : " ORDER BY id DESC LIMIT $2::bigint");
}

int sk_pg__runs_query(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret, size_t *ret_n,
                      sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    static const sk_run_filter_t none;
    PGresult *res = NULL;
    params_t p = {0};
    char sql[1024], name[16];
    size_t limit;
    int which;

    if (!f)
        f = &none;
    int r = sk_store__query_plan(&s->core, f, &which, &limit, err);
    if (r == 1) { /* no row can match */
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, f->before_id > 0 ? f->before_id : INT64_MAX);
    sk_pg__p_i64(&p, (int64_t)limit);
    if (which & Q_JOB)
        sk_pg__p_text(&p, f->job);
    if (which & Q_PARENT)
        sk_pg__p_i64(&p, f->parent_id);
    if (which & Q_STATUS)
        sk_pg__p_text(&p, sk_run_status_str(f->status));
    if (which & Q_SINCE)
        sk_pg__p_i64(&p, f->since);
    query_sql(which, sql, sizeof(sql));
    sk_snprintf(name, sizeof(name), "sked_q%d", which);
    r = sk_pg__exec_named(s, name, sql, &s->qprepared[which], &p, &res, "reading runs", err);
    if (r < 0)
        return r;
    r = sk_pg__read_runs(s, res, ret, ret_n, err);
    PQclear(res);
    return r;
}

/* ---- job state ---- */

int sk_pg__job_state_get(sk_store_t *st, const char *job, sk_job_state_t *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: job_state_get needs a job", s->name);
    int r = 0;
    if (sk_store__text_ok(job)) { /* else never seen: it could not be stored */
        sk_pg__p_text(&p, job);
        r = sk_pg__exec_stmt(s, ST_STATE_GET, &p, &res, "reading a job's state", err);
        if (r < 0)
            return r;
    }
    if (res && PQntuples(res) > 0) {
        int outcome = sk_pg__get_int_or(res, 0, 2, -1);
        r = sk_store__read_outcome(&s->core, job, outcome, err);
        if (r == 0) {
            ret->last_fire = sk_pg__get_i64(res, 0, 0);
            ret->paused = sk_streq(PQgetvalue(res, 0, 1), "t");
            ret->last_outcome = outcome;
            ret->missed_alerted = sk_pg__get_i64(res, 0, 3);
        }
    } else {
        sk_store__job_state_none(ret);
    }
    PQclear(res);
    return r;
}

int sk_pg__job_state_set(sk_store_t *st, const char *job, const sk_job_state_t *js, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_job_state(&s->core, job, js, err);
    if (r == 0)
        r = sk_pg__lead_gate(s, "recording a job's state", err);
    if (r < 0)
        return r;
    sk_pg__p_text(&p, job);
    sk_pg__p_i64(&p, js->last_fire);
    sk_pg__p_text(&p, js->paused ? "true" : "false");
    sk_pg__p_i64(&p, js->last_outcome);
    sk_pg__p_i64(&p, js->missed_alerted);
    r = sk_pg__exec_write(s, ST_STATE_SET, &p, &res, "recording a job's state", err);
    PQclear(res);
    return r;
}

int sk_pg__boot_claim(sk_store_t *st, const char *job, const char *boot_id, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_boot(&s->core, job, boot_id, err);
    if (r == 0)
        r = sk_pg__lead_gate(s, "recording a boot fire", err);
    if (r < 0)
        return r;
    sk_pg__p_text(&p, job);
    sk_pg__p_text(&p, boot_id);
    r = sk_pg__exec_write(s, ST_BOOT_CLAIM, &p, &res, "recording a boot fire", err);
    sk_pg__p_release(&p);
    if (r < 0)
        return r;
    int rows = PQntuples(res);
    PQclear(res);
    return rows > 0 ? 1 : 0;
}

/* ---- pruning (the loop is sk_store__prune) ---- */

/* vs's ids from `from` on as an array literal: "{1,2,3}", new memory. */
static char *id_array(const sk_store_victims_t *vs, size_t from)
{
    sk_buf_t b = {0};
    char num[24];
    sk_buf_adds(&b, "{");
    for (size_t i = from; i < vs->n; i++) {
        sk_snprintf(num, sizeof(num), "%s%" PRId64, i > from ? "," : "", vs->v[i].id);
        sk_buf_adds(&b, num);
    }
    sk_buf_adds(&b, "}");
    return sk_buf_take(&b, NULL);
}

/* The id of job's keep_runs-th newest final top-level run (everything at or
 * below it beyond that goes), or 0 when there are not that many. */
static int prune_cutoff(sk_store_core_t *c, const char *job, size_t keep_runs, int64_t *ret,
                        sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)c;
    PGresult *res = NULL;
    params_t p = {0};
    *ret = 0;
    if (keep_runs == 0)
        return 0;
    sk_pg__p_text(&p, job);
    sk_pg__p_i64(&p, (int64_t)SK_MIN(keep_runs, (size_t)INT64_MAX));
    int r = sk_pg__exec_stmt(s, ST_PRUNE_KEEP, &p, &res, "pruning runs", err);
    if (r < 0)
        return r;
    if (PQntuples(res) > 0)
        *ret = sk_pg__get_i64(res, 0, 0); /* the first one to delete */
    PQclear(res);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* As sk_store_prune_ops_t says. A row is marked deleted only when this
 * call's DELETE returned it: another node pruning the same job may have
 * been first. */
static int prune_chunk(sk_store_core_t *c, const char *job, int64_t max_id, int64_t ended_before,
                       sk_store_victims_t *vs, size_t *ret_picked, int64_t *horizon, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)c;
    PGresult *res = NULL;
    params_t p = {0};
    char *ids = NULL;
    int64_t *gone = NULL;
    *ret_picked = 0;
    sk_pg__p_text(&p, job);
    sk_pg__p_i64(&p, max_id);
    sk_pg__p_i64(&p, ended_before > 0 ? ended_before : INT64_MIN);
    sk_pg__p_i64(&p, SK_STORE_PRUNE_CHUNK);
    int r = sk_pg__exec_stmt(s, ST_PRUNE_PICK, &p, &res, "pruning runs", err);
    if (r < 0)
        return r;
    size_t picked = (size_t)PQntuples(res);
    for (size_t i = 0; i < picked; i++) {
        sk_store__victims_push(vs, sk_pg__get_i64(res, (int)i, 0), sk_pg__get_str(res, (int)i, 1),
                               false);
        *horizon = SK_MAX(*horizon, sk_pg__get_i64(res, (int)i, 2));
    }
    PQclear(res);
    res = NULL;
    *ret_picked = picked;
    if (picked == 0)
        return 0;
    /* The steps of the picked runs, which are vs[0..picked). */
    ids = id_array(vs, 0);
    p = (params_t){0};
    sk_pg__p_text(&p, ids);
    r = sk_pg__exec_stmt(s, ST_PRUNE_STEPS, &p, &res, "pruning runs", err);
    if (r < 0)
        goto done;
    for (int i = 0; i < PQntuples(res); i++)
        sk_store__victims_push(vs, sk_pg__get_i64(res, i, 0), sk_pg__get_str(res, i, 1), false);
    PQclear(res);
    res = NULL;
    free(ids);
    ids = id_array(vs, 0);
    p = (params_t){0};
    sk_pg__p_text(&p, ids);
    r = sk_pg__exec_stmt(s, ST_PRUNE_OUTPUTS, &p, &res, "pruning outputs", err);
    PQclear(res);
    res = NULL;
    if (r == 0)
        r = sk_pg__exec_stmt(s, ST_PRUNE_RUN_ALERTS, &p, &res, "pruning alerts", err);
    PQclear(res);
    res = NULL;
    if (r == 0)
        r = sk_pg__exec_stmt(s, ST_PRUNE_DELETE, &p, &res, "pruning runs", err);
    if (r < 0)
        goto done;
    size_t n = (size_t)PQntuples(res);
    gone = sk_xmalloc((n ? n : 1) * sizeof(*gone));
    for (size_t i = 0; i < n; i++)
        gone[i] = sk_pg__get_i64(res, (int)i, 0);
    qsort(gone, n, sizeof(*gone), cmp_i64);
    for (size_t i = 0; i < vs->n; i++)
        vs->v[i].deleted = bsearch(&vs->v[i].id, gone, n, sizeof(*gone), cmp_i64) != NULL;
done:
    PQclear(res);
    free(ids);
    free(gone);
    return r;
}

/* Deletes job's delivered, failed and dropped alerts that are about no
 * run (any more) and were raised before horizon. */
static int prune_alerts(sk_store_core_t *c, const char *job, int64_t horizon, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)c;
    PGresult *res = NULL;
    params_t p = {0};
    sk_pg__p_text(&p, job);
    sk_pg__p_i64(&p, horizon);
    int r = sk_pg__exec_stmt(s, ST_PRUNE_ALERTS, &p, &res, "pruning alerts", err);
    PQclear(res);
    return r;
}

static const sk_store_prune_ops_t pg_prune_ops = {
    .cutoff = prune_cutoff,
    .chunk = prune_chunk,
    .alerts = prune_alerts,
};

int sk_pg__prune(sk_store_t *st, const char *job, size_t keep_runs, int64_t ended_before,
                 void (*cb)(const char *log_path, void *data), void *data, sk_err_t *err)
{
    return sk_store__prune(sk_store__core(st), &pg_prune_ops, job, keep_runs, ended_before, cb,
                           data, err);
}

/* ---- outputs ---- */

/* Appends v to b as an element of an array literal: quoted, with " and \
 * escaped, so that braces, commas and newlines in it mean nothing. */
static void array_elem(sk_buf_t *b, const char *v, bool first)
{
    if (!first)
        sk_buf_add(b, ",", 1);
    sk_buf_add(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        size_t n = strcspn(p, "\"\\");
        sk_buf_add(b, p, n);
        p += n;
        if (!*p)
            break;
        sk_buf_add(b, "\\", 1);
        sk_buf_add(b, p, 1);
    }
    sk_buf_add(b, "\"", 1);
}

/* SK_ENOTFOUND unless run id exists. */
static int run_exists(sk_pg_t *s, int64_t id, sk_err_t *err)
{
    PGresult *res = NULL;
    params_t p = {0};
    sk_pg__p_i64(&p, id);
    int r = sk_pg__exec_stmt(s, ST_EXISTS, &p, &res, "reading a run", err);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0)
        r = sk_err_set(err, SK_ENOTFOUND, "%s: no run %" PRId64, s->name, id);
    PQclear(res);
    return r;
}

int sk_pg__outputs_put(sk_store_t *st, int64_t run_id, const sk_output_t *o, size_t n,
                       sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    char *keys = NULL, *values = NULL;
    bool own_tx = false;
    sk_err_t local;
    if (!err)
        err = &local;
    int r = sk_store__check_outputs(&s->core, run_id, o, n, err);
    if (r < 0)
        return r;
    r = sk_store__write_gate(&s->core, "recording outputs", err);
    if (r < 0)
        return r;
    /* The old set goes and the new one comes in one transaction. */
    own_tx = !s->core.in_batch;
    if (own_tx) {
        r = sk_pg__tx_begin(&s->core, "recording outputs", err);
        if (r < 0)
            goto fail;
    }
    r = run_exists(s, run_id, err);
    if (r == SK_ENOTFOUND) {
        /* Nothing written: a batch goes on; our own transaction ends. */
        if (own_tx)
            PQclear(PQexec(s->conn, "ROLLBACK"));
        return r;
    }
    sk_pg__p_i64(&p, run_id);
    if (r == 0)
        r = sk_pg__exec_stmt(s, ST_OUT_DELETE, &p, &res, "recording outputs", err);
    PQclear(res);
    res = NULL;
    if (r == 0 && n > 0) {
        sk_buf_t kb = {0}, vb = {0};
        sk_buf_add(&kb, "{", 1);
        sk_buf_add(&vb, "{", 1);
        for (size_t i = 0; i < n; i++) {
            char *tmp;
            array_elem(&kb, o[i].key, i == 0);
            array_elem(&vb, sk_store__text_repair(o[i].value, &tmp), i == 0);
            free(tmp);
        }
        sk_buf_add(&kb, "}", 1);
        sk_buf_add(&vb, "}", 1);
        keys = sk_buf_take(&kb, NULL);
        values = sk_buf_take(&vb, NULL);
        sk_pg__p_text(&p, keys);
        sk_pg__p_text(&p, values);
        r = sk_pg__exec_stmt(s, ST_OUT_INSERT, &p, &res, "recording outputs", err);
        PQclear(res);
        res = NULL;
    }
    if (r == 0 && own_tx)
        r = sk_pg__tx_commit(&s->core, "recording outputs", err);
    if (r < 0)
        goto fail;
    free(keys);
    free(values);
    return 0;
fail:
    sk_store__abort(&s->core, err);
    free(keys);
    free(values);
    return r;
}

int sk_pg__outputs_get(sk_store_t *st, int64_t run_id, sk_output_t **ret, size_t *ret_n,
                       sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    sk_pg__p_i64(&p, run_id);
    int r = sk_pg__exec_stmt(s, ST_OUT_GET, &p, &res, "reading outputs", err);
    if (r < 0)
        return r;
    size_t n = (size_t)PQntuples(res);
    sk_output_t *o = n ? sk_xcalloc(n, sizeof(*o)) : NULL;
    for (size_t i = 0; i < n; i++) {
        o[i].key = sk_xstrdup(PQgetvalue(res, (int)i, 0));
        o[i].value = sk_xstrdup(PQgetvalue(res, (int)i, 1));
    }
    PQclear(res);
    *ret = o;
    *ret_n = n;
    return 0;
}

/* ---- alerts ---- */

/* Reads row (ALERT_COLS) into *ret: new strings. */
static int read_alert(sk_pg_t *s, const PGresult *res, int row, sk_alert_rec_t *ret, sk_err_t *err)
{
    sk_alert_rec_t a;
    memset(&a, 0, sizeof(a));
    a.id = sk_pg__get_i64(res, row, 0);
    int r = sk_store__read_alert_state(&s->core, a.id, PQgetvalue(res, row, 6), &a.state, err);
    if (r < 0)
        return r;
    a.job = sk_pg__get_str(res, row, 1);
    a.run_id = sk_pg__get_i64(res, row, 2);
    a.event = sk_pg__get_str(res, row, 3);
    a.channel = sk_pg__get_str(res, row, 4);
    a.payload = sk_pg__get_str(res, row, 5);
    a.attempts = sk_pg__get_int_or(res, row, 7, 0);
    a.created_at = sk_pg__get_i64(res, row, 8);
    a.next_at = sk_pg__get_i64(res, row, 9);
    a.done_at = sk_pg__get_i64(res, row, 10);
    a.last_error = sk_pg__get_str(res, row, 11);
    *ret = a;
    return 0;
}

/* Runs statement id (returning ALERT_COLS) into new memory. */
static int fetch_alerts(sk_pg_t *s, stmt_id_t id, const params_t *p, sk_alert_rec_t **ret,
                        size_t *ret_n, sk_err_t *err)
{
    PGresult *res = NULL;
    int r = sk_pg__exec_stmt(s, id, p, &res, "reading alerts", err);
    if (r < 0)
        return r;
    size_t n = (size_t)PQntuples(res);
    sk_alert_rec_t *a = n ? sk_xcalloc(n, sizeof(*a)) : NULL;
    for (size_t i = 0; i < n; i++) {
        r = read_alert(s, res, (int)i, &a[i], err);
        if (r < 0) {
            sk_alert_recs_free(a, i);
            PQclear(res);
            return r;
        }
    }
    PQclear(res);
    *ret = a;
    *ret_n = n;
    return 0;
}

int sk_pg__alert_insert(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_alert(&s->core, a, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an alert", err);
    if (r < 0)
        return r;
    sk_pg__p_text(&p, a->job);
    sk_pg__p_i64(&p, a->run_id);
    sk_pg__p_text(&p, a->event);
    sk_pg__p_text(&p, a->channel);
    sk_pg__p_text(&p, a->payload);
    sk_pg__p_text(&p, sk_alert_state_str(a->state));
    sk_pg__p_i64(&p, a->attempts);
    sk_pg__p_i64(&p, a->created_at);
    sk_pg__p_time(&p, a->next_at);
    sk_pg__p_time(&p, a->done_at);
    sk_pg__p_free_text(&p, a->last_error);
    r = sk_pg__exec_write(s, ST_ALERT_INSERT, &p, &res, "recording an alert", err);
    sk_pg__p_release(&p);
    if (r < 0)
        return r;
    a->id = sk_pg__get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

int sk_pg__alert_update(sk_store_t *st, int64_t id, sk_alert_state_t state, int attempts,
                        int64_t next_at, int64_t done_at, const char *error, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_alert_update(&s->core, id, state, attempts, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an alert delivery", err);
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, id);
    sk_pg__p_text(&p, sk_alert_state_str(state));
    sk_pg__p_i64(&p, attempts);
    sk_pg__p_time(&p, next_at);
    sk_pg__p_time(&p, done_at);
    sk_pg__p_free_text(&p, error);
    r = sk_pg__exec_write(s, ST_ALERT_UPDATE, &p, &res, "recording an alert delivery", err);
    sk_pg__p_release(&p);
    if (r < 0)
        return r;
    long changed = sk_pg__changes(res);
    PQclear(res);
    if (changed == 0)
        return sk_err_set(err, SK_ENOTFOUND, "%s: no alert %" PRId64, s->name, id);
    return 0;
}

int sk_pg__alerts_pending(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err)
{
    return fetch_alerts((sk_pg_t *)st, ST_ALERT_PENDING, NULL, ret, ret_n, err);
}

int sk_pg__alerts_query(sk_store_t *st, const char *job, size_t limit, sk_alert_rec_t **ret,
                        size_t *ret_n, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    limit = sk_store__limit(limit);
    if (job && !sk_store__text_ok(job)) { /* no such job can have been stored */
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (job)
        sk_pg__p_text(&p, job);
    sk_pg__p_i64(&p, (int64_t)limit);
    return fetch_alerts(s, job ? ST_ALERT_QUERY_JOB : ST_ALERT_QUERY_ALL, &p, ret, ret_n, err);
}
