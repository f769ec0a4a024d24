/*
 * The SQLite back end's rows of runs and what hangs off them: runs
 * (record, start, finish, read, query), each job's state, pruning (the
 * back end's three steps under the shared loop), a run's outputs and the
 * alert queue. Separate from the database file and its connection
 * (store_sqlite.c) because it is the SQL of store.h's main operations and
 * nothing of opening, the schema or the connection; store_pg_runs.c is its
 * PostgreSQL twin.
 */
#include "store_sqlite_int.h"

/* ---- runs ---- */

/* Reads the current row (RUN_COLS) into *ret: new strings. */
static int read_run(sk_sqlite_t *s, sqlite3_stmt *st, sk_run_t *ret, sk_err_t *err)
{
    sk_run_t r;
    memset(&r, 0, sizeof(r));
    r.id = sqlite3_column_int64(st, 0);
    const char *status = (const char *)sqlite3_column_text(st, 3);
    const char *trigger = (const char *)sqlite3_column_text(st, 4);
    int rc = sk_store__read_status(&s->core, r.id, status, &r.status, err);
    if (rc == 0)
        rc = sk_store__read_trigger(&s->core, r.id, trigger, &r.trigger, err);
    if (rc < 0)
        return rc;
    r.job = sk_sqlite__col_strdup(st, 1);
    r.step = sk_sqlite__col_strdup(st, 2);
    r.attempt = sqlite3_column_int(st, 5);
    r.scheduled_at = sqlite3_column_int64(st, 6);
    r.queued_at = sqlite3_column_int64(st, 7);
    r.started_at = sqlite3_column_int64(st, 8);
    r.ended_at = sqlite3_column_int64(st, 9);
    r.exit_code = sk_sqlite__col_int_or(st, 10, -1);
    r.signal = sk_sqlite__col_int_or(st, 11, 0);
    r.pid = sk_sqlite__col_int_or(st, 12, 0);
    r.reason = sk_sqlite__col_strdup(st, 13);
    r.log_path = sk_sqlite__col_strdup(st, 14);
    r.parent_id = sqlite3_column_int64(st, 15);
    r.params = sk_sqlite__col_strdup(st, 16);
    r.node = sk_sqlite__col_strdup(st, 17);
    r.spec = sk_sqlite__col_strdup(st, 18);
    r.cancel = sk_sqlite__col_strdup(st, 19);
    r.dispatched = sqlite3_column_int(st, 20) != 0;
    r.settled = sqlite3_column_int(st, 21) != 0;
    r.event = sk_sqlite__col_strdup(st, 22);
    if (!r.job)
        r.job = sk_xstrdup("");
    *ret = r;
    return 0;
}

int sk_sqlite__run_insert(sk_store_t *st, sk_run_t *run, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_run(&s->core, run, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a run", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_INSERT, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, run->job);
    sk_sqlite__bind_text(q, 2, run->step);
    sk_sqlite__bind_text(q, 3, sk_run_status_str(run->status));
    sk_sqlite__bind_text(q, 4, sk_trigger_str(run->trigger));
    sqlite3_bind_int(q, 5, run->attempt);
    sqlite3_bind_int64(q, 6, run->scheduled_at);
    sk_sqlite__bind_time(q, 7, run->queued_at);
    sk_sqlite__bind_time(q, 8, run->started_at);
    sk_sqlite__bind_time(q, 9, run->ended_at);
    sk_sqlite__bind_int_or_null(q, 10, run->exit_code, -1);
    sk_sqlite__bind_int_or_null(q, 11, run->signal, 0);
    sk_sqlite__bind_int_or_null(q, 12, run->pid, 0);
    sk_sqlite__bind_free_text(q, 13, run->reason);
    sk_sqlite__bind_text(q, 14, run->log_path);
    sqlite3_bind_int64(q, 15, run->parent_id);
    sk_sqlite__bind_text(q, 16, run->params);
    sk_sqlite__bind_text(q, 17, run->event);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    sk_sqlite__stmt_done(q);
    if (rc == SQLITE_DONE && changed == 0)
        return sk_err_set(err, -EINVAL,
                          "%s: job %s: step %s: parent run %" PRId64
                          " is not a top-level run of that job",
                          s->path, run->job, run->step, run->parent_id);
    if (rc == SQLITE_DONE) {
        run->id = sqlite3_last_insert_rowid(s->db);
        return 0;
    }
    /* A constraint failure undoes this statement only: a batch goes on. */
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return sk_err_set(err, -EEXIST, "%s: job %s already has a fire at %" PRId64 " (attempt 1)",
                          s->path, run->job, run->scheduled_at);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return sk_err_set(err, -EINVAL, "%s: job %s: %s", s->path, run->job, sqlite3_errmsg(s->db));
    return sk_sqlite__write_fail(s, rc, "recording a run", err);
}

/* After an UPDATE of run id changed nothing: SK_ENOTFOUND, or the run's
 * status in *ret_status. */
static int run_status(sk_sqlite_t *s, int64_t id, sk_run_status_t *ret_status, sk_err_t *err)
{
    sqlite3_stmt *q = NULL;
    int r = sk_sqlite__stmt_get(s, ST_STATUS, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        r = sk_store__read_status(&s->core, id, t, ret_status, err);
    } else if (rc == SQLITE_DONE) {
        r = sk_err_set(err, SK_ENOTFOUND, "%s: no run %" PRId64, s->path, id);
    } else {
        r = sk_sqlite__fail(s, rc, "reading a run", err);
    }
    sk_sqlite__stmt_done(q);
    return r;
}

int sk_sqlite__run_start(sk_store_t *st, int64_t id, int64_t started_at, int pid,
                         const char *log_path, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    sk_run_status_t cur;
    int r = sk_store__text_check(&s->core, err, 1, "the log path", log_path);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a start", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_START, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    sk_sqlite__bind_time(q, 2, started_at);
    sk_sqlite__bind_int_or_null(q, 3, pid, 0);
    sk_sqlite__bind_text(q, 4, log_path);
    int rc = sqlite3_step(q);
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE)
        return sk_sqlite__write_fail(s, rc, "recording a start", err);
    if (sqlite3_changes(s->db) > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
        return r;
    return sk_store__not_queued(&s->core, id, cur, "start", err);
}

int sk_sqlite__run_pids(sk_store_t *st, const sk_run_pid_t *v, size_t n, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    if (s->core.in_batch)
        return sk_err_set(err, -EINVAL, "%s: run_pids inside a batch", s->path);
    int r = sk_store__write_gate(&s->core, "recording pids", err);
    if (r < 0)
        return r;
    /* synchronous=NORMAL for this commit only: in WAL mode it is then
     * written to the log without an fsync, which a crash of sked does not
     * undo (the system holds it) and a power cut may. */
    sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    r = sk_sqlite__tx_begin(&s->core, "recording pids", err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        sqlite3_stmt *q = NULL;
        r = sk_sqlite__stmt_get(s, ST_PID, &q, err);
        if (r < 0)
            break;
        sqlite3_bind_int64(q, 1, v[i].id);
        sqlite3_bind_int(q, 2, v[i].pid);
        int rc = sqlite3_step(q);
        sk_sqlite__stmt_done(q);
        if (rc != SQLITE_DONE)
            r = sk_sqlite__write_fail(s, rc, "recording pids", err);
    }
    if (r == 0)
        r = sk_sqlite__tx_commit(&s->core, "recording pids", err);
    s->core.tx->abort(&s->core); /* whatever happened, no transaction stays open */
    sqlite3_exec(s->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    return r;
}

int sk_sqlite__run_finish(sk_store_t *st, int64_t id, sk_run_status_t status, int64_t ended_at,
                          int exit_code, int signal, const char *reason, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    sk_run_status_t cur;
    int r = sk_store__check_finish(&s->core, id, status, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an outcome", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_FINISH, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    sk_sqlite__bind_text(q, 2, sk_run_status_str(status));
    sk_sqlite__bind_time(q, 3, ended_at);
    sk_sqlite__bind_int_or_null(q, 4, exit_code, -1);
    sk_sqlite__bind_int_or_null(q, 5, signal, 0);
    sk_sqlite__bind_free_text(q, 6, reason);
    int rc = sqlite3_step(q);
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE)
        return sk_sqlite__write_fail(s, rc, "recording an outcome", err);
    if (sqlite3_changes(s->db) > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
        return r;
    return sk_store__has_outcome(&s->core, id, cur, err);
}

/* Steps q (bound, returning RUN_COLS) once into *ret; SK_ENOTFOUND with
 * what_missing when there is no row. */
static int fetch_one(sk_sqlite_t *s, sqlite3_stmt *q, sk_run_t *ret, const char *what_missing,
                     sk_err_t *err)
{
    int r;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        r = read_run(s, q, ret, err);
    else if (rc == SQLITE_DONE)
        r = sk_err_set(err, SK_ENOTFOUND, "%s", what_missing);
    else
        r = sk_sqlite__fail(s, rc, "reading runs", err);
    sk_sqlite__stmt_done(q);
    return r;
}

int sk_sqlite__run_get(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    char missing[64];
    int r = sk_sqlite__stmt_get(s, ST_GET, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    sk_snprintf(missing, sizeof(missing), "no run %" PRId64, id);
    return fetch_one(s, q, ret, missing, err);
}

int sk_sqlite__run_last(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    char missing[300];
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: run_last needs a job", s->path);
    sk_snprintf(missing, sizeof(missing), "job %s has no runs", job);
    if (!sk_store__text_ok(job)) /* never stored */
        return sk_err_set(err, SK_ENOTFOUND, "%s", missing);
    int r = sk_sqlite__stmt_get(s, ST_LAST, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, job);
    return fetch_one(s, q, ret, missing, err);
}

/* The runs_query statement for a combination of Q_* bits. Parameters: ?1
 * job, ?2 before_id, ?3 limit, ?4 parent_id, ?5 status, ?6 since. A
 * workflow's steps come oldest first (the order they ran in), everything
 * else newest first. */
static int query_get(sk_sqlite_t *s, int which, sqlite3_stmt **ret, sk_err_t *err)
{
    char sql[768];
    if (!s->query[which]) {
        sk_snprintf(
            sql, sizeof(sql), "SELECT " RUN_COLS " FROM runs WHERE id < ?2%s%s%s%s%s%s%s",
            which & Q_JOB ? " AND job = ?1" : "", which & Q_ACTIVE ? " AND " SQL_ACTIVE : "",
            which & Q_PARENT ? " AND " SQL_STEP_OF("?4") : "",
            which & Q_TOP ? " AND parent_id = 0" : "", which & Q_STATUS ? " AND status = ?5" : "",
            which & Q_SINCE ? " AND (started_at >= ?6 OR ended_at >= ?6 OR "
                              "queued_at >= ?6 OR " SQL_ACTIVE ")"
                            : "",
            which & Q_PARENT ? " ORDER BY id LIMIT ?3" : " ORDER BY id DESC LIMIT ?3");
        int rc =
            sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->query[which], NULL);
        if (rc != SQLITE_OK) {
            s->query[which] = NULL;
            return sk_sqlite__fail(s, rc, "preparing a statement", err);
        }
    }
    *ret = s->query[which];
    return 0;
}

int sk_sqlite__runs_query(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret, size_t *ret_n,
                          sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    static const sk_run_filter_t none;
    sqlite3_stmt *q = NULL;
    sk_run_t *runs = NULL;
    size_t n = 0, cap = 0, limit;
    int which;

    if (!f)
        f = &none;
    int r = sk_store__query_plan(&s->core, f, &which, &limit, err);
    if (r == 1) { /* no row can match */
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (r == 0)
        r = query_get(s, which, &q, err);
    if (r < 0)
        return r;
    if (f->job)
        sk_sqlite__bind_text(q, 1, f->job);
    sqlite3_bind_int64(q, 2, f->before_id > 0 ? f->before_id : INT64_MAX);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)limit);
    if (f->parent_id > 0)
        sqlite3_bind_int64(q, 4, f->parent_id);
    if (which & Q_STATUS)
        sk_sqlite__bind_text(q, 5, sk_run_status_str(f->status));
    if (which & Q_SINCE)
        sqlite3_bind_int64(q, 6, f->since);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : SK_MIN(limit, (size_t)16);
            runs = sk_xrealloc(runs, cap * sizeof(*runs));
        }
        r = read_run(s, q, &runs[n], err);
        if (r < 0)
            goto fail;
        n++;
    }
    if (rc != SQLITE_DONE) {
        r = sk_sqlite__fail(s, rc, "reading runs", err);
        goto fail;
    }
    sk_sqlite__stmt_done(q);
    *ret = runs;
    *ret_n = n;
    return 0;
fail:
    sk_sqlite__stmt_done(q);
    sk_runs_free(runs, n);
    return r;
}

/* ---- job state ---- */

int sk_sqlite__job_state_get(sk_store_t *st, const char *job, sk_job_state_t *ret, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: job_state_get needs a job", s->path);
    if (!sk_store__text_ok(job)) { /* never stored: never seen */
        sk_store__job_state_none(ret);
        return 0;
    }
    int r = sk_sqlite__stmt_get(s, ST_STATE_GET, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, job);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int outcome = sqlite3_column_int(q, 2);
        r = sk_store__read_outcome(&s->core, job, outcome, err);
        if (r == 0) {
            ret->last_fire = sqlite3_column_int64(q, 0);
            ret->paused = sqlite3_column_int(q, 1) != 0;
            ret->last_outcome = outcome;
            ret->missed_alerted = sqlite3_column_int64(q, 3);
        }
    } else if (rc == SQLITE_DONE) {
        sk_store__job_state_none(ret);
    } else {
        r = sk_sqlite__fail(s, rc, "reading a job's state", err);
    }
    sk_sqlite__stmt_done(q);
    return r;
}

int sk_sqlite__job_state_set(sk_store_t *st, const char *job, const sk_job_state_t *js,
                             sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_job_state(&s->core, job, js, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a job's state", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_STATE_SET, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, js->last_fire);
    sqlite3_bind_int(q, 3, js->paused ? 1 : 0);
    sqlite3_bind_int(q, 4, js->last_outcome);
    sqlite3_bind_int64(q, 5, js->missed_alerted);
    int rc = sqlite3_step(q);
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE)
        return sk_sqlite__write_fail(s, rc, "recording a job's state", err);
    return 0;
}

int sk_sqlite__boot_claim(sk_store_t *st, const char *job, const char *boot_id, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_boot(&s->core, job, boot_id, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a boot fire", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_BOOT_CLAIM, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, job);
    sk_sqlite__bind_text(q, 2, boot_id);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE)
        return sk_sqlite__write_fail(s, rc, "recording a boot fire", err);
    return changed > 0 ? 1 : 0;
}

/* ---- pruning (the loop is sk_store__prune) ---- */

/* The id of job's keep_runs-th newest final top-level run (everything at or
 * below it beyond that goes), or 0 when there are not that many. */
static int prune_cutoff(sk_store_core_t *c, const char *job, size_t keep_runs, int64_t *ret,
                        sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    sqlite3_stmt *q = NULL;
    *ret = 0;
    if (keep_runs == 0)
        return 0;
    int r = sk_sqlite__stmt_get(s, ST_PRUNE_KEEP, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)SK_MIN(keep_runs, (size_t)INT64_MAX));
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(q, 0); /* the first one to delete */
    else if (rc != SQLITE_DONE)
        r = sk_sqlite__fail(s, rc, "pruning runs", err);
    sk_sqlite__stmt_done(q);
    return r;
}

/* Appends the step rows of workflow run parent to vs. */
static int prune_steps(sk_sqlite_t *s, int64_t parent, sk_store_victims_t *vs, sk_err_t *err)
{
    sqlite3_stmt *q = NULL;
    int r = sk_sqlite__stmt_get(s, ST_PRUNE_STEPS, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, parent);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        sk_store__victims_push(vs, sqlite3_column_int64(q, 0), sk_sqlite__col_strdup(q, 1), true);
    sk_sqlite__stmt_done(q);
    return rc == SQLITE_DONE ? 0 : sk_sqlite__fail(s, rc, "pruning runs", err);
}

/* As sk_store_prune_ops_t says. Every row is marked deleted as it is
 * picked: one connection holds the write lock, so whatever is picked goes
 * (or the transaction is rolled back and no log is handed out). */
static int prune_chunk(sk_store_core_t *c, const char *job, int64_t max_id, int64_t ended_before,
                       sk_store_victims_t *vs, size_t *ret_picked, int64_t *horizon, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    sqlite3_stmt *pick = NULL;
    size_t picked = 0;
    *ret_picked = 0;
    int r = sk_sqlite__stmt_get(s, ST_PRUNE_PICK, &pick, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(pick, 1, job);
    sqlite3_bind_int64(pick, 2, max_id);
    sqlite3_bind_int64(pick, 3, ended_before > 0 ? ended_before : INT64_MIN);
    sqlite3_bind_int(pick, 4, SK_STORE_PRUNE_CHUNK);
    int rc;
    while ((rc = sqlite3_step(pick)) == SQLITE_ROW) {
        sk_store__victims_push(vs, sqlite3_column_int64(pick, 0), sk_sqlite__col_strdup(pick, 1),
                               true);
        *horizon = SK_MAX(*horizon, (int64_t)sqlite3_column_int64(pick, 2));
        picked++;
    }
    sk_sqlite__stmt_done(pick);
    *ret_picked = picked;
    if (rc != SQLITE_DONE)
        return sk_sqlite__fail(s, rc, "pruning runs", err);
    /* The steps of the picked runs: vs[0..picked) are the parents. */
    for (size_t i = 0; i < picked && r == 0; i++)
        r = prune_steps(s, vs->v[i].id, vs, err);
    for (size_t i = 0; i < vs->n && r == 0; i++) {
        r = sk_sqlite__exec_id(s, ST_OUT_DELETE, vs->v[i].id, "pruning outputs", err);
        if (r == 0)
            r = sk_sqlite__exec_id(s, ST_DELETE_RUN_ALERTS, vs->v[i].id, "pruning alerts", err);
        if (r == 0)
            r = sk_sqlite__exec_id(s, ST_DELETE, vs->v[i].id, "pruning runs", err);
    }
    return r;
}

/* Deletes job's delivered, failed and dropped alerts that are about no
 * run (any more) and were raised before horizon. */
static int prune_alerts(sk_store_core_t *c, const char *job, int64_t horizon, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    sqlite3_stmt *q = NULL;
    int r = sk_sqlite__stmt_get(s, ST_PRUNE_ALERTS, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, horizon);
    int rc = sqlite3_step(q);
    sk_sqlite__stmt_done(q);
    return rc == SQLITE_DONE ? 0 : sk_sqlite__fail(s, rc, "pruning alerts", err);
}

static const sk_store_prune_ops_t sq_prune_ops = {
    .cutoff = prune_cutoff,
    .chunk = prune_chunk,
    .alerts = prune_alerts,
};

int sk_sqlite__prune(sk_store_t *st, const char *job, size_t keep_runs, int64_t ended_before,
                     void (*cb)(const char *log_path, void *data), void *data, sk_err_t *err)
{
    return sk_store__prune(sk_store__core(st), &sq_prune_ops, job, keep_runs, ended_before, cb,
                           data, err);
}

/* ---- outputs ---- */

/* SK_ENOTFOUND unless run id exists. */
static int run_exists(sk_sqlite_t *s, int64_t id, sk_err_t *err)
{
    sqlite3_stmt *q = NULL;
    int r = sk_sqlite__stmt_get(s, ST_EXISTS, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        r = sk_err_set(err, SK_ENOTFOUND, "%s: no run %" PRId64, s->path, id);
    else if (rc != SQLITE_ROW)
        r = sk_sqlite__fail(s, rc, "reading a run", err);
    sk_sqlite__stmt_done(q);
    return r;
}

int sk_sqlite__outputs_put(sk_store_t *st, int64_t run_id, const sk_output_t *o, size_t n,
                           sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *ins = NULL;
    bool own_tx = false;
    int r = sk_store__check_outputs(&s->core, run_id, o, n, err);
    if (r < 0)
        return r;
    r = sk_store__write_gate(&s->core, "recording outputs", err);
    if (r < 0)
        return r;
    /* The old set goes and the new one comes in one transaction. */
    own_tx = !s->core.in_batch;
    if (own_tx) {
        r = sk_sqlite__tx_begin(&s->core, "recording outputs", err);
        if (r < 0)
            goto fail;
    }
    r = run_exists(s, run_id, err);
    if (r == SK_ENOTFOUND) {
        /* Nothing written: a batch goes on; our own transaction ends. */
        if (own_tx)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    if (r == 0)
        r = sk_sqlite__exec_id(s, ST_OUT_DELETE, run_id, "recording outputs", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_OUT_INSERT, &ins, err);
    for (size_t i = 0; i < n && r == 0; i++) {
        sqlite3_bind_int64(ins, 1, run_id);
        sk_sqlite__bind_text(ins, 2, o[i].key);
        sk_sqlite__bind_free_text(ins, 3, o[i].value);
        int rc = sqlite3_step(ins);
        sk_sqlite__stmt_done(ins);
        if (rc != SQLITE_DONE)
            r = sk_sqlite__fail(s, rc, "recording outputs", err);
    }
    if (r == 0 && own_tx)
        r = sk_sqlite__tx_commit(&s->core, "recording outputs", err);
    if (r < 0)
        goto fail;
    return 0;
fail:
    sk_store__abort(&s->core, err);
    return r;
}

int sk_sqlite__outputs_get(sk_store_t *st, int64_t run_id, sk_output_t **ret, size_t *ret_n,
                           sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    sk_output_t *o = NULL;
    size_t n = 0, cap = 0;
    int r = sk_sqlite__stmt_get(s, ST_OUT_GET, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, run_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            o = sk_xrealloc(o, cap * sizeof(*o));
        }
        o[n].key = sk_sqlite__col_strdup(q, 0);
        o[n].value = sk_sqlite__col_strdup(q, 1);
        if (!o[n].key)
            o[n].key = sk_xstrdup("");
        if (!o[n].value)
            o[n].value = sk_xstrdup("");
        n++;
    }
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE) {
        sk_outputs_free(o, n);
        return sk_sqlite__fail(s, rc, "reading outputs", err);
    }
    *ret = o;
    *ret_n = n;
    return 0;
}

/* ---- alerts ---- */

/* Reads the current row (ALERT_COLS) into *ret: new strings. */
static int read_alert(sk_sqlite_t *s, sqlite3_stmt *st, sk_alert_rec_t *ret, sk_err_t *err)
{
    sk_alert_rec_t a;
    memset(&a, 0, sizeof(a));
    a.id = sqlite3_column_int64(st, 0);
    const char *state = (const char *)sqlite3_column_text(st, 6);
    int r = sk_store__read_alert_state(&s->core, a.id, state, &a.state, err);
    if (r < 0)
        return r;
    a.job = sk_sqlite__col_strdup(st, 1);
    a.run_id = sqlite3_column_int64(st, 2);
    a.event = sk_sqlite__col_strdup(st, 3);
    a.channel = sk_sqlite__col_strdup(st, 4);
    a.payload = sk_sqlite__col_strdup(st, 5);
    a.attempts = sqlite3_column_int(st, 7);
    a.created_at = sqlite3_column_int64(st, 8);
    a.next_at = sqlite3_column_int64(st, 9);
    a.done_at = sqlite3_column_int64(st, 10);
    a.last_error = sk_sqlite__col_strdup(st, 11);
    *ret = a;
    return 0;
}

/* Steps q (bound, returning ALERT_COLS) to the end into new memory. */
static int fetch_alerts(sk_sqlite_t *s, sqlite3_stmt *q, sk_alert_rec_t **ret, size_t *ret_n,
                        sk_err_t *err)
{
    sk_alert_rec_t *a = NULL;
    size_t n = 0, cap = 0;
    int r = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            a = sk_xrealloc(a, cap * sizeof(*a));
        }
        r = read_alert(s, q, &a[n], err);
        if (r < 0)
            break;
        n++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sk_sqlite__fail(s, rc, "reading alerts", err);
    sk_sqlite__stmt_done(q);
    if (r < 0) {
        sk_alert_recs_free(a, n);
        return r;
    }
    *ret = a;
    *ret_n = n;
    return 0;
}

int sk_sqlite__alert_insert(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_alert(&s->core, a, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an alert", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_ALERT_INSERT, &q, err);
    if (r < 0)
        return r;
    sk_sqlite__bind_text(q, 1, a->job);
    sqlite3_bind_int64(q, 2, a->run_id);
    sk_sqlite__bind_text(q, 3, a->event);
    sk_sqlite__bind_text(q, 4, a->channel);
    sk_sqlite__bind_text(q, 5, a->payload);
    sk_sqlite__bind_text(q, 6, sk_alert_state_str(a->state));
    sqlite3_bind_int(q, 7, a->attempts);
    sqlite3_bind_int64(q, 8, a->created_at);
    sk_sqlite__bind_time(q, 9, a->next_at);
    sk_sqlite__bind_time(q, 10, a->done_at);
    sk_sqlite__bind_free_text(q, 11, a->last_error);
    int rc = sqlite3_step(q);
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE)
        return sk_sqlite__write_fail(s, rc, "recording an alert", err);
    a->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int sk_sqlite__alert_update(sk_store_t *st, int64_t id, sk_alert_state_t state, int attempts,
                            int64_t next_at, int64_t done_at, const char *error, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_alert_update(&s->core, id, state, attempts, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an alert delivery", err);
    if (r == 0)
        r = sk_sqlite__stmt_get(s, ST_ALERT_UPDATE, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    sk_sqlite__bind_text(q, 2, sk_alert_state_str(state));
    sqlite3_bind_int(q, 3, attempts);
    sk_sqlite__bind_time(q, 4, next_at);
    sk_sqlite__bind_time(q, 5, done_at);
    sk_sqlite__bind_free_text(q, 6, error);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE)
        return sk_sqlite__write_fail(s, rc, "recording an alert delivery", err);
    if (changed == 0)
        return sk_err_set(err, SK_ENOTFOUND, "%s: no alert %" PRId64, s->path, id);
    return 0;
}

int sk_sqlite__alerts_pending(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_sqlite__stmt_get(s, ST_ALERT_PENDING, &q, err);
    if (r < 0)
        return r;
    return fetch_alerts(s, q, ret, ret_n, err);
}

int sk_sqlite__alerts_query(sk_store_t *st, const char *job, size_t limit, sk_alert_rec_t **ret,
                            size_t *ret_n, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    limit = sk_store__limit(limit);
    if (!sk_store__text_ok(job)) { /* no such job can have been stored */
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    int r = sk_sqlite__stmt_get(s, job ? ST_ALERT_QUERY_JOB : ST_ALERT_QUERY_ALL, &q, err);
    if (r < 0)
        return r;
    if (job)
        sk_sqlite__bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)limit);
    return fetch_alerts(s, q, ret, ret_n, err);
}
