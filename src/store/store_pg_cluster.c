/*
 * The PostgreSQL back end's operations for several nodes on one store: the
 * leadership (a session-level advisory lock), heart-beats and the node
 * list, and st->ops->cluster (sk_pg__cluster): dispatch, claim, attach,
 * cancel, settle, evicting a silent leader, and wake-ups over
 * LISTEN/NOTIFY. Separate from the rows every store keeps
 * (store_pg_runs.c): it is docs/internals/cluster.md in SQL, which SQLite
 * has no counterpart for (no cluster table; a leader and a node list of a
 * few lines).
 */
#include "store_pg_int.h"

/* The leadership is a session-level advisory lock keyed by the schema (so
 * that stores in several schemas of one database each have theirs) and
 * "sked" in ASCII. The session that took it only checks that it is alive
 * (taking it again would count the lock up). */
#define LEADER_TRY "SELECT pg_try_advisory_lock(hashtext(current_schema()), 1936417636)"

int sk_pg__leader(sk_store_t *st, bool *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    *ret = false;
    int r = sk_pg__ensure_conn(s, err);
    if (r < 0)
        return r;
    if (s->leader_pid && s->leader_pid != PQbackendPID(s->conn)) {
        /* The session that held it is gone (a reconnect since): another node
         * may have led meanwhile, so the leadership is lost, even if this
         * new session could take it again. The next call tries. */
        s->leader_pid = 0;
        return 0;
    }
    bool held = s->leader_pid != 0;
    PGresult *res = PQexec(s->conn, held ? "SELECT true" : LEADER_TRY);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        r = sk_pg__fail(s, res, "checking the leadership", err);
        s->leader_pid = 0;
    } else {
        *ret = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        s->leader_pid = *ret ? PQbackendPID(s->conn) : 0;
        s->led = s->led || *ret;
    }
    PQclear(res);
    if (r == 0 && *ret && !held) {
        /* The server ends a dead leader's session, freeing the lock, within
         * about 11 s even when no packet says so (a machine gone, a cut
         * network): keepalives every 2 s after 5 s of silence, 3 lost. */
        res = PQexec(s->conn, "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; "
                              "SET tcp_keepalives_count = 3");
        PQclear(res);
    }
    return r;
}

/* ---- clusters ---- */

/* Runs statement id (returning RUN_COLS) into new memory. */
static int fetch_runs(sk_pg_t *s, stmt_id_t id, const params_t *p, sk_run_t **ret, size_t *ret_n,
                      sk_err_t *err)
{
    PGresult *res = NULL;
    int r = sk_pg__exec_stmt(s, id, p, &res, "reading runs", err);
    if (r < 0)
        return r;
    r = sk_pg__read_runs(s, res, ret, ret_n, err);
    PQclear(res);
    return r;
}

int sk_pg__node_beat(sk_store_t *st, const sk_node_t *n, int64_t *server_now, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_node(&s->core, n, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a heart-beat", err);
    if (r < 0)
        return r;
    sk_pg__p_text(&p, n->name);
    sk_pg__p_text(&p, n->labels ? n->labels : "");
    sk_pg__p_i64(&p, n->max_parallel);
    sk_pg__p_text(&p, n->api);
    sk_pg__p_int_or_null(&p, n->pid, 0);
    sk_pg__p_text(&p, n->version);
    sk_pg__p_text(&p, n->leader ? "true" : "false");
    r = sk_pg__exec_write(s, ST_NODE_BEAT, &p, &res, "recording a heart-beat", err);
    if (r < 0)
        return r;
    if (server_now)
        *server_now = sk_pg__get_i64(res, 0, 0);
    PQclear(res);
    if (s->named_pid != PQbackendPID(s->conn) && !s->core.in_batch) {
        /* The session says whose it is (pg_stat_activity, and leader_evict). */
        const char *vals[1] = {n->name};
        res = PQexecParams(s->conn, "SELECT set_config('application_name', 'sked:' || $1, false)",
                           1, NULL, vals, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            s->named_pid = PQbackendPID(s->conn);
        PQclear(res);
    }
    return 0;
}

/* Reads row (NODE_COLS, age, running) into *ret: new strings. */
static void read_node(const PGresult *res, int row, sk_node_t *ret)
{
    sk_node_t n;
    memset(&n, 0, sizeof(n));
    n.name = sk_pg__get_str(res, row, 0);
    n.labels = sk_pg__get_str(res, row, 1);
    n.max_parallel = sk_pg__get_int_or(res, row, 2, 0);
    n.api = sk_pg__get_str(res, row, 3);
    n.pid = sk_pg__get_int_or(res, row, 4, 0);
    n.version = sk_pg__get_str(res, row, 5);
    n.started_at = sk_pg__get_i64(res, row, 6);
    n.seen_at = sk_pg__get_i64(res, row, 7);
    n.leader = sk_streq(PQgetvalue(res, row, 8), "t");
    n.age_ms = sk_pg__get_i64(res, row, 9);
    n.running = sk_pg__get_int_or(res, row, 10, 0);
    if (!n.name)
        n.name = sk_xstrdup("");
    if (!n.labels)
        n.labels = sk_xstrdup("");
    *ret = n;
}

int sk_pg__nodes_list(sk_store_t *st, int64_t forget_ms, sk_node_t **ret, size_t *ret_n,
                      sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    /* Forgetting deletes, in the statement that lists; a reader, or a batch
     * already rolled back, only leaves those rows out. */
    bool forget = forget_ms > 0 && !s->core.readonly && !s->core.batch_failed;
    sk_pg__p_i64(&p, SK_MIN(forget_ms, SK_STORE_FORGET_MAX));
    int r = sk_pg__exec_stmt(s, forget ? ST_NODES_FORGET : ST_NODES_LIST, &p, &res,
                             "reading the nodes", err);
    if (r < 0)
        return r;
    size_t n = (size_t)PQntuples(res);
    sk_node_t *nodes = n ? sk_xcalloc(n, sizeof(*nodes)) : NULL;
    for (size_t i = 0; i < n; i++)
        read_node(res, (int)i, &nodes[i]);
    PQclear(res);
    *ret = nodes;
    *ret_n = n;
    return 0;
}

static int pg_run_dispatch(sk_store_t *st, int64_t id, const char *pin, const char *spec,
                           sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    sk_run_status_t cur;
    int r = sk_store__text_check(&s->core, err, 2, "the pin", pin, "the spec", spec);
    if (r == 0)
        r = sk_pg__lead_gate(s, "dispatching a run", err);
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, id);
    sk_pg__p_text(&p, pin);
    sk_pg__p_text(&p, spec);
    r = sk_pg__update_run(s, ST_DISPATCH, &p, id, "dispatching a run", &cur, err);
    if (r <= 0)
        return r;
    return sk_store__not_queued(&s->core, id, cur, "dispatch", err);
}

static int pg_runs_claim(sk_store_t *st, const char *node, const char *labels, size_t max,
                         int64_t now, sk_run_t **ret, size_t *ret_n, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    if (!node || !*node)
        return sk_err_set(err, -EINVAL, "%s: a claim needs a node name", s->name);
    int r =
        sk_store__text_check(&s->core, err, 2, "the node name", node, "the node's labels", labels);
    if (r < 0)
        return r;
    if (max == 0) {
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    r = sk_store__write_gate(&s->core, "claiming runs", err);
    if (r < 0)
        return r;
    sk_pg__p_text(&p, node);
    sk_pg__p_text(&p, labels ? labels : "");
    sk_pg__p_i64(&p, now);
    sk_pg__p_i64(&p, (int64_t)SK_MIN(max, (size_t)INT64_MAX));
    /* One statement: the rows it picks are locked, changed and committed
     * together (or with the caller's batch). */
    r = sk_pg__exec_write(s, ST_CLAIM, &p, &res, "claiming runs", err);
    if (r < 0)
        return r;
    r = sk_pg__read_runs(s, res, ret, ret_n, err);
    PQclear(res);
    return r;
}

static int pg_run_attach(sk_store_t *st, int64_t id, const char *node, int pid,
                         const char *log_path, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    sk_run_status_t cur;
    if (!node || !*node)
        return sk_err_set(err, -EINVAL, "%s: run %" PRId64 ": attaching needs a node name", s->name,
                          id);
    int r = sk_store__text_check(&s->core, err, 2, "the node name", node, "the log path", log_path);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a start", err);
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, id);
    sk_pg__p_text(&p, node);
    sk_pg__p_int_or_null(&p, pid, 0);
    sk_pg__p_text(&p, log_path);
    r = sk_pg__update_run(s, ST_ATTACH, &p, id, "recording a start", &cur, err);
    if (r <= 0)
        return r;
    if (cur == SK_RUN_RUNNING)
        return sk_err_set(err, -EALREADY, "%s: run %" PRId64 " is running, but not on %s", s->name,
                          id, node);
    return sk_err_set(err, -EALREADY, "%s: run %" PRId64 " is %s: no longer running on %s", s->name,
                      id, sk_run_status_str(cur), node);
}

static int pg_run_cancel(sk_store_t *st, int64_t id, const char *reason, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    sk_run_status_t cur;
    if (!reason)
        return sk_err_set(err, -EINVAL, "%s: run %" PRId64 ": a stop needs a reason", s->name, id);
    int r = sk_store__write_gate(&s->core, "asking a run to stop", err);
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, id);
    sk_pg__p_free_text(&p, reason);
    r = sk_pg__update_run(s, ST_CANCEL, &p, id, "asking a run to stop", &cur, err);
    sk_pg__p_release(&p);
    if (r <= 0)
        return r;
    return sk_store__has_outcome(&s->core, id, cur, err);
}

static int pg_runs_of_node(sk_store_t *st, const char *node, sk_run_t **ret, size_t *ret_n,
                           sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    if (!node)
        return sk_err_set(err, -EINVAL, "%s: runs_of_node needs a node name", s->name);
    if (!sk_store__text_ok(node)) { /* no such node can have claimed anything */
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    sk_pg__p_text(&p, node);
    return fetch_runs(s, ST_OF_NODE, &p, ret, ret_n, err);
}

static int pg_runs_unsettled(sk_store_t *st, sk_run_t **ret, size_t *ret_n, sk_err_t *err)
{
    return fetch_runs((sk_pg_t *)st, ST_UNSETTLED, NULL, ret, ret_n, err);
}

static int pg_runs_ended_unsettled(sk_store_t *st, sk_run_t **ret, size_t *ret_n, sk_err_t *err)
{
    return fetch_runs((sk_pg_t *)st, ST_ENDED_UNSETTLED, NULL, ret, ret_n, err);
}

static int pg_run_settle(sk_store_t *st, int64_t id, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    int r = sk_pg__lead_gate(s, "settling a run", err);
    if (r < 0)
        return r;
    sk_pg__p_i64(&p, id);
    sk_run_status_t cur;
    r = sk_pg__update_run(s, ST_SETTLE, &p, id, "settling a run", &cur, err);
    if (r <= 0)
        return r;
    return sk_err_set(err, -EALREADY, "%s: run %" PRId64 " is settled already", s->name, id);
}

/* Ends the session holding the leadership when it is node's (its
 * application_name, set by node_beat): a leader whose process hangs keeps
 * its session, and with it the lock, alive. */
static int pg_leader_evict(sk_store_t *st, const char *node, bool *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    *ret = false;
    int r = sk_pg__ensure_conn(s, err);
    if (r < 0)
        return r;
    const char *vals[1] = {node};
    PGresult *res = PQexecParams(
        s->conn,
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a "
        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = hashtext(current_schema())::oid AND l.objid = 1936417636::oid "
        "AND l.pid <> pg_backend_pid() AND a.application_name = 'sked:' || $1",
        1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        r = sk_pg__fail(s, res, "ending a silent leader's session", err);
        PQclear(res);
        return r;
    }
    *ret = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

/*
 * Wake-ups: a node that dispatched runs or recorded outcomes notifies the
 * others (pg_notify on a channel named after the schema, so that stores in
 * one database do not wake each other); each node LISTENs on its store
 * connection, and its loop watches the socket.
 */
static int wake_chan(sk_pg_t *s, sk_err_t *err)
{
    if (s->chan)
        return 0;
    int r = sk_pg__ensure_conn(s, err);
    if (r < 0)
        return r;
    PGresult *res = PQexec(s->conn, "SELECT 'sked.' || current_schema()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        r = sk_pg__fail(s, res, "naming the wake-up channel", err);
        PQclear(res);
        return r;
    }
    s->chan = sk_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int pg_wake_fd(sk_store_t *st)
{
    sk_pg_t *s = (sk_pg_t *)st;
    if (s->core.readonly || s->core.in_batch || wake_chan(s, NULL) < 0 ||
        sk_pg__ensure_conn(s, NULL) < 0)
        return -1;
    if (s->listen_pid != PQbackendPID(s->conn)) {
        char *id = PQescapeIdentifier(s->conn, s->chan, strlen(s->chan));
        if (!id)
            return -1;
        char sql[300];
        sk_snprintf(sql, sizeof(sql), "LISTEN %s", id);
        PQfreemem(id);
        PGresult *res = PQexec(s->conn, sql);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok)
            return -1;
        s->listen_pid = PQbackendPID(s->conn);
    }
    return PQsocket(s->conn);
}

static int pg_woken(sk_store_t *st, unsigned *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    *ret = 0;
    if (!PQconsumeInput(s->conn))
        return sk_err_set(err, SK_ESTORE, "%s: reading wake-ups: %s", s->name,
                          PQerrorMessage(s->conn));
    PGnotify *n;
    while ((n = PQnotifies(s->conn))) {
        char c = n->extra ? n->extra[0] : 'd';
        *ret |= c == 'e' ? SK_WAKE_ENDED : c == 'c' ? SK_WAKE_CANCEL : SK_WAKE_DISPATCHED;
        PQfreemem(n);
    }
    return 0;
}

static int pg_wake_others(sk_store_t *st, unsigned what, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    if (s->core.batch_failed)
        return 0;
    int r = wake_chan(s, err);
    if (r == 0)
        r = sk_pg__ensure_conn(s, err);
    if (r < 0)
        return r;
    const char *vals[2] = {s->chan, (what & SK_WAKE_ENDED)    ? "e"
                                    : (what & SK_WAKE_CANCEL) ? "c"
                                                              : "d"};
    PGresult *res = PQexecParams(s->conn, "SELECT pg_notify($1, $2)", 2, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        r = sk_pg__fail(s, res, "waking the other nodes", err);
    PQclear(res);
    return r;
}

const sk_store_cluster_ops_t sk_pg__cluster = {
    .run_dispatch = pg_run_dispatch,
    .runs_claim = pg_runs_claim,
    .run_attach = pg_run_attach,
    .run_cancel = pg_run_cancel,
    .runs_of_node = pg_runs_of_node,
    .runs_unsettled = pg_runs_unsettled,
    .runs_ended_unsettled = pg_runs_ended_unsettled,
    .run_settle = pg_run_settle,
    .leader_evict = pg_leader_evict,
    .wake_fd = pg_wake_fd,
    .woken = pg_woken,
    .wake_others = pg_wake_others,
};
