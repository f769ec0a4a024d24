/*
 * The PostgreSQL back end's insides, shared by its files only: the store
 * struct (sk_pg_t), the statements every file runs by id, and the helpers
 * more than one file calls. The files are store_pg.c (the session: URL and
 * secrets, errors, reconnecting, running statements, transactions, open
 * and close, the ops table), store_pg_schema.c (creating and migrating the
 * schema), store_pg_runs.c (runs, job state, pruning, outputs, alerts) and
 * store_pg_cluster.c (leadership, heart-beats and st->ops->cluster). Not for
 * use outside them; tests reach the back end through store_int.h.
 */
#ifndef SK_STORE_PG_INT_H
#define SK_STORE_PG_INT_H

#include "store.h"
#include "store_int.h"

#include <libpq-fe.h>

/* Spelled as in the migrations, so that the planner can use the partial
 * indexes runs_active, runs_parent, alerts_run, runs_claim, runs_unsettled
 * and runs_node. */
#define SQL_ACTIVE "status IN ('queued', 'running')"
#define SQL_CLAIMABLE "status = 'queued' AND dispatched"
#define SQL_UNSETTLED "dispatched AND NOT settled"
#define SQL_HELD_BY(node) "status = 'running' AND node = " node
/* The server's clock in unix ms: one clock for every node's heart-beat. */
#define SQL_NOW "(extract(epoch from clock_timestamp()) * 1000)::bigint"
#define RUN_COLS                                                                                   \
    "id, job, step, status, \"trigger\", attempt, scheduled_at, queued_at, started_at, "           \
    "ended_at, exit_code, signal, pid, reason, log_path, parent_id, params, node, spec, cancel, "  \
    "dispatched, settled, event"
#define NODE_COLS "name, labels, max_parallel, api, pid, version, started_at, seen_at, leader"
/* nodes_list's columns: NODE_COLS, age_ms, running; t.ms is the server's now. */
#define NODE_LIST_COLS                                                                             \
    NODE_COLS ", t.ms - n.seen_at, (SELECT count(*) FROM runs WHERE " SQL_HELD_BY("n.name") ")"
#define ALERT_COLS                                                                                 \
    "id, job, run_id, event, channel, payload, state, attempts, created_at, next_at, done_at, "    \
    "last_error"

/* The statements, prepared on first use per connection. Every parameter is
 * cast, so that the server never has to guess a type. ST_INSERT checks a
 * step's parent itself, and turns a second fire of the same instant into no
 * row instead of an error, which would end the caller's batch (PostgreSQL
 * cannot undo one failed statement alone): NOT EXISTS finds the fire
 * without drawing an id from the sequence, ON CONFLICT DO NOTHING catches
 * the one another node records at the same moment. The prune statements
 * take arrays of ids: one round trip per chunk, not per row. */
#define STATEMENTS(X)                                                                              \
    X(ST_INSERT,                                                                                   \
      "INSERT INTO runs (job, step, status, \"trigger\", attempt, scheduled_at, queued_at, "       \
      "started_at, ended_at, exit_code, signal, pid, reason, log_path, parent_id, params, event) " \
      "SELECT $1::text, $2::text, $3::text, $4::text, $5::integer, $6::bigint, $7::bigint, "       \
      "$8::bigint, $9::bigint, $10::integer, $11::integer, $12::integer, $13::text, $14::text, "   \
      "$15::bigint, $16::text, $17::text "                                                         \
      "WHERE ($15::bigint = 0 OR EXISTS (SELECT 1 FROM runs WHERE id = $15::bigint "               \
      "AND parent_id = 0 AND job = $1::text)) AND NOT ($5::integer = 1 AND $2::text IS NULL "      \
      "AND $4::text IN ('schedule', 'catchup') AND EXISTS (SELECT 1 FROM runs WHERE job = "        \
      "$1::text AND scheduled_at = $6::bigint AND attempt = 1 AND step IS NULL AND \"trigger\" "   \
      "IN ('schedule', 'catchup'))) "                                                              \
      "ON CONFLICT DO NOTHING RETURNING id")                                                       \
    X(ST_START, "UPDATE runs SET status = 'running', started_at = $2::bigint, pid = $3::integer, " \
                "log_path = $4::text WHERE id = $1::bigint AND status = 'queued'")                 \
    X(ST_PID, "UPDATE runs SET pid = $2::integer WHERE id = $1::bigint AND status = 'running'")    \
    X(ST_FINISH, "UPDATE runs SET status = $2::text, ended_at = $3::bigint, exit_code = "          \
                 "$4::integer, signal = $5::integer, reason = COALESCE($6::text, reason) "         \
                 "WHERE id = $1::bigint AND " SQL_ACTIVE)                                          \
    X(ST_STATUS, "SELECT status FROM runs WHERE id = $1::bigint")                                  \
    X(ST_GET, "SELECT " RUN_COLS " FROM runs WHERE id = $1::bigint")                               \
    X(ST_LAST, "SELECT " RUN_COLS " FROM runs WHERE job = $1::text AND step IS NULL "              \
               "AND parent_id = 0 ORDER BY id DESC LIMIT 1")                                       \
    X(ST_EXISTS, "SELECT 1 FROM runs WHERE id = $1::bigint")                                       \
    X(ST_STATE_GET, "SELECT last_fire, paused, last_outcome, missed_alerted FROM job_state "       \
                    "WHERE job = $1::text")                                                        \
    X(ST_STATE_SET,                                                                                \
      "INSERT INTO job_state (job, last_fire, paused, last_outcome, missed_alerted) "              \
      "VALUES ($1::text, $2::bigint, $3::boolean, $4::integer, $5::bigint) "                       \
      "ON CONFLICT (job) DO UPDATE SET last_fire = excluded.last_fire, "                           \
      "paused = excluded.paused, last_outcome = excluded.last_outcome, "                           \
      "missed_alerted = excluded.missed_alerted")                                                  \
    X(ST_BOOT_CLAIM, "INSERT INTO boot_fires (job, boot_id) VALUES ($1::text, $2::text) "          \
                     "ON CONFLICT (job) DO UPDATE SET boot_id = excluded.boot_id "                 \
                     "WHERE boot_fires.boot_id <> excluded.boot_id RETURNING 1")                   \
    X(ST_PRUNE_KEEP,                                                                               \
      "SELECT id FROM runs WHERE job = $1::text AND parent_id = 0 AND NOT (" SQL_ACTIVE            \
      ") ORDER BY id DESC LIMIT 1 OFFSET $2::bigint")                                              \
    X(ST_PRUNE_PICK,                                                                               \
      "SELECT id, log_path, COALESCE(ended_at, scheduled_at) FROM runs AS r "                      \
      "WHERE job = $1::text AND parent_id = 0 AND NOT (" SQL_ACTIVE ") "                           \
      "AND (id <= $2::bigint OR COALESCE(ended_at, scheduled_at) < $3::bigint) "                   \
      "AND NOT EXISTS (SELECT 1 FROM runs WHERE parent_id = r.id AND parent_id > 0 "               \
      "AND " SQL_ACTIVE ") ORDER BY id LIMIT $4::integer")                                         \
    X(ST_PRUNE_STEPS, "SELECT id, log_path FROM runs WHERE parent_id = ANY($1::bigint[]) "         \
                      "AND parent_id > 0 ORDER BY parent_id, id")                                  \
    X(ST_PRUNE_OUTPUTS, "DELETE FROM outputs WHERE run_id = ANY($1::bigint[])")                    \
    X(ST_PRUNE_RUN_ALERTS, "DELETE FROM alerts WHERE run_id = ANY($1::bigint[]) AND run_id > 0 "   \
                           "AND state <> 'pending'")                                               \
    X(ST_PRUNE_DELETE, "DELETE FROM runs WHERE id = ANY($1::bigint[]) RETURNING id")               \
    X(ST_PRUNE_ALERTS, "DELETE FROM alerts WHERE job = $1::text AND state <> 'pending' "           \
                       "AND created_at < $2::bigint AND (run_id = 0 OR NOT EXISTS "                \
                       "(SELECT 1 FROM runs WHERE runs.id = alerts.run_id))")                      \
    X(ST_OUT_DELETE, "DELETE FROM outputs WHERE run_id = $1::bigint")                              \
    X(ST_OUT_INSERT, "INSERT INTO outputs (run_id, key, value) SELECT $1::bigint, k, v "           \
                     "FROM unnest($2::text[], $3::text[]) AS t (k, v)")                            \
    X(ST_OUT_GET, "SELECT key, value FROM outputs WHERE run_id = $1::bigint ORDER BY key")         \
    X(ST_ALERT_INSERT, "INSERT INTO alerts (job, run_id, event, channel, payload, state, "         \
                       "attempts, created_at, next_at, done_at, last_error) VALUES ($1::text, "    \
                       "$2::bigint, $3::text, $4::text, $5::text, $6::text, $7::integer, "         \
                       "$8::bigint, $9::bigint, $10::bigint, $11::text) RETURNING id")             \
    X(ST_ALERT_UPDATE, "UPDATE alerts SET state = $2::text, attempts = $3::integer, "              \
                       "next_at = $4::bigint, done_at = $5::bigint, "                              \
                       "last_error = COALESCE($6::text, last_error) WHERE id = $1::bigint")        \
    X(ST_ALERT_PENDING, "SELECT " ALERT_COLS " FROM alerts WHERE state = 'pending' ORDER BY id")   \
    X(ST_ALERT_QUERY_ALL, "SELECT " ALERT_COLS " FROM alerts ORDER BY id DESC LIMIT $1::bigint")   \
    X(ST_ALERT_QUERY_JOB, "SELECT " ALERT_COLS " FROM alerts WHERE job = $1::text "                \
                          "ORDER BY id DESC LIMIT $2::bigint")                                     \
    X(ST_NODE_BEAT,                                                                                \
      "INSERT INTO nodes AS n (" NODE_COLS ") SELECT $1::text, $2::text, $3::integer, $4::text, "  \
      "$5::integer, $6::text, t.ms, t.ms, $7::boolean FROM (SELECT " SQL_NOW " AS ms) AS t "       \
      "ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, "                                \
      "max_parallel = excluded.max_parallel, api = excluded.api, pid = excluded.pid, "             \
      "version = excluded.version, started_at = CASE WHEN n.pid IS NOT DISTINCT FROM "             \
      "excluded.pid THEN n.started_at ELSE excluded.started_at END, "                              \
      "seen_at = excluded.seen_at, leader = excluded.leader RETURNING seen_at")                    \
    X(ST_NODES_LIST, "SELECT " NODE_LIST_COLS " FROM nodes AS n, (SELECT " SQL_NOW " AS ms) AS t " \
                     "WHERE $1::bigint <= 0 OR n.seen_at >= t.ms - $1::bigint ORDER BY n.name")    \
    X(ST_NODES_FORGET,                                                                             \
      "WITH t AS (SELECT " SQL_NOW " AS ms), gone AS (DELETE FROM nodes WHERE seen_at < "          \
      "(SELECT ms FROM t) - $1::bigint) SELECT " NODE_LIST_COLS " FROM nodes AS n, t "             \
      "WHERE n.seen_at >= t.ms - $1::bigint ORDER BY n.name")                                      \
    X(ST_DISPATCH, "UPDATE runs SET dispatched = true, settled = false, pin = $2::text, "          \
                   "spec = $3::text WHERE id = $1::bigint AND status = 'queued'")                  \
    X(ST_CLAIM,                                                                                    \
      "WITH c AS (UPDATE runs SET status = 'running', node = $1::text, started_at = $3::bigint "   \
      "WHERE id IN (SELECT id FROM runs WHERE " SQL_CLAIMABLE " AND COALESCE(queued_at, 0) <= "    \
      "$3::bigint AND cancel IS NULL AND (pin IS NULL OR pin = '' OR string_to_array(pin, ',') "   \
      "<@ "                                                                                        \
      "string_to_array($2::text, ',')) ORDER BY id LIMIT $4::bigint FOR UPDATE SKIP LOCKED) "      \
      "RETURNING " RUN_COLS ") SELECT " RUN_COLS " FROM c ORDER BY id")                            \
    X(ST_ATTACH, "UPDATE runs SET pid = $3::integer, log_path = $4::text WHERE id = $1::bigint "   \
                 "AND " SQL_HELD_BY("$2::text"))                                                   \
    X(ST_CANCEL, "UPDATE runs SET cancel = $2::text WHERE id = $1::bigint AND " SQL_ACTIVE)        \
    X(ST_OF_NODE, "SELECT " RUN_COLS " FROM runs WHERE " SQL_HELD_BY("$1::text") " ORDER BY id")   \
    X(ST_UNSETTLED, "SELECT " RUN_COLS " FROM runs WHERE " SQL_UNSETTLED " ORDER BY id")           \
    X(ST_ENDED_UNSETTLED, "SELECT " RUN_COLS " FROM runs WHERE " SQL_UNSETTLED                     \
                          " AND status NOT IN ('queued', 'running') ORDER BY id")                  \
    X(ST_SETTLE, "UPDATE runs SET settled = true WHERE id = $1::bigint AND NOT settled")

typedef enum {
#define SK_X(e, sql) e,
    STATEMENTS(SK_X)
#undef SK_X
        ST_COUNT
} stmt_id_t;

/* runs_query's statements are built from the filter: one per combination
 * of these bits, prepared on first use like the others. */
enum {
    Q_JOB = SK_STORE_Q_JOB,
    Q_ACTIVE = SK_STORE_Q_ACTIVE,
    Q_PARENT = SK_STORE_Q_PARENT,
    Q_TOP = SK_STORE_Q_TOP,
    Q_STATUS = SK_STORE_Q_STATUS,
    Q_SINCE = SK_STORE_Q_SINCE,
    Q_COUNT = SK_STORE_Q_COUNT
};

typedef struct sk_pg {
    sk_store_core_t core; /* first: the generic store and the shared layer's state */
    PGconn *conn;
    char *name;     /* the URL with any password as ***: what messages call the store */
    char **secrets; /* passwords as written and decoded: never printed */
    size_t nsecrets;
    bool url_password; /* the URL has user:password@ */
    bool prepared[ST_COUNT];
    bool qprepared[Q_COUNT]; /* runs_query, one per combination of filters */
    int leader_pid; /* the server process of the session that holds the leadership; 0 none */
    bool led;       /* this store led once: from then on, leader writes need the lead */
    int named_pid;  /* the server process whose application_name names this node; 0 none */
    int listen_pid; /* the server process of the session that LISTENs for wake-ups; 0 none */
    char *chan;     /* the wake-up channel: "sked." and the schema */
} sk_pg_t;

/* Parameters in text form; NULL is SQL NULL. */
#define MAX_PARAMS 20
typedef struct {
    int n;
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    char *own[MAX_PARAMS]; /* repaired free text: sk_pg__p_release frees it */
} params_t;

/* All of the functions below run on the loop thread of the store they are
 * given, like the store's operations. */

/* ---- the session (store_pg.c) ---- */

/* Copies a libpq message into out[size] as one line, with every secret of
 * s as ***. */
void sk_pg__clean(const sk_pg_t *s, const char *in, char *out, size_t size);
/* Fills err (may be NULL) for a failed libpq call (res may be NULL) and
 * returns SK_ESTORE; a failed statement or a lost connection rolls back the
 * transaction and the batch it belonged to. */
int sk_pg__fail(sk_pg_t *s, const PGresult *res, const char *what, sk_err_t *err);
/* sk_store__write_gate, and for a store that has led, SK_ESTORE unless the
 * session that took the leadership is still its connection: the gate of
 * the writes only a leader makes. */
int sk_pg__lead_gate(sk_pg_t *s, const char *what, sk_err_t *err);
/* Before every call: opens a lost connection again (forgetting what was
 * prepared on it); SK_ESTORE when that fails or a live batch went with it. */
int sk_pg__ensure_conn(sk_pg_t *s, sk_err_t *err);

/* Pushing parameters: text (borrowed: it must outlive the call that runs
 * the statement), a number, free text repaired to UTF-8 (a repaired copy
 * lives until sk_pg__p_release), a time (0: NULL), an int (none: NULL). */
void sk_pg__p_text(params_t *p, const char *v);
void sk_pg__p_i64(params_t *p, int64_t v);
void sk_pg__p_free_text(params_t *p, const char *v);
void sk_pg__p_release(params_t *p);
void sk_pg__p_time(params_t *p, int64_t v);
void sk_pg__p_int_or_null(params_t *p, int v, int none);

/* Runs `sql`, prepared as `name` unless *prepared, with p (may be NULL).
 * On success *ret is a new result (PQclear it); on failure sk_pg__fail has
 * run. A read-only store tries once more on a new connection. */
int sk_pg__exec_named(sk_pg_t *s, const char *name, const char *sql, bool *prepared,
                      const params_t *p, PGresult **ret, const char *what, sk_err_t *err);
/* sk_pg__exec_named for statement id of STATEMENTS. */
int sk_pg__exec_stmt(sk_pg_t *s, stmt_id_t id, const params_t *p, PGresult **ret, const char *what,
                     sk_err_t *err);
/* sk_pg__exec_stmt for writes: a failure ends the transaction and the batch. */
int sk_pg__exec_write(sk_pg_t *s, stmt_id_t id, const params_t *p, PGresult **ret, const char *what,
                      sk_err_t *err);
/* Runs sql (no parameters; may be several statements); no result. */
int sk_pg__exec_sql(sk_pg_t *s, const char *sql, const char *what, sk_err_t *err);

/* Reading results: the rows an INSERT, UPDATE or DELETE changed; a column
 * as a number (NULL: 0, or none) or as a new string (NULL: NULL). */
long sk_pg__changes(const PGresult *res);
int64_t sk_pg__get_i64(const PGresult *res, int row, int col);
int sk_pg__get_int_or(const PGresult *res, int row, int col, int none);
char *sk_pg__get_str(const PGresult *res, int row, int col);

/* The transaction table's begin and commit (sk_store_tx_ops_t), for an
 * operation that needs its own transaction outside a batch. */
int sk_pg__tx_begin(sk_store_core_t *c, const char *what, sk_err_t *err);
int sk_pg__tx_commit(sk_store_core_t *c, const char *what, sk_err_t *err);

/* ---- the schema (store_pg_schema.c) ---- */

/* For a writer, once connected: reads what the current schema holds before
 * writing anything (a foreign or newer store is refused and left as it
 * is), then creates or migrates it to this build's version. SK_ESTORE. */
int sk_pg__schema_open(sk_pg_t *s, sk_err_t *err);
/* For a reader: SK_ESTORE unless the schema is a sked store of this
 * build's version; writes nothing. */
int sk_pg__schema_check(sk_pg_t *s, sk_err_t *err);

/* ---- runs and what hangs off them (store_pg_runs.c) ---- */

/* Reads every row of res (RUN_COLS) into new memory (NULL when none). */
int sk_pg__read_runs(sk_pg_t *s, const PGresult *res, sk_run_t **ret, size_t *ret_n, sk_err_t *err);
/* After an UPDATE of run id changed nothing: SK_ENOTFOUND, or the run's
 * status in *ret_status. */
int sk_pg__run_status(sk_pg_t *s, int64_t id, sk_run_status_t *ret_status, sk_err_t *err);
/* Runs the UPDATE stmt (params p) of run id: 0 when it changed a row, 1
 * when it changed none (*ret_status then says what the run is, for the
 * caller to explain why), or < 0 (err; SK_ENOTFOUND for no such run). */
int sk_pg__update_run(sk_pg_t *s, stmt_id_t stmt, const params_t *p, int64_t id, const char *what,
                      sk_run_status_t *ret_status, sk_err_t *err);

/* The operations of sk_store_ops_t of the same names; store.h has their
 * contracts. */
int sk_pg__run_insert(sk_store_t *st, sk_run_t *run, sk_err_t *err);
int sk_pg__run_pids(sk_store_t *st, const sk_run_pid_t *v, size_t n, sk_err_t *err);
int sk_pg__run_start(sk_store_t *st, int64_t id, int64_t started_at, int pid, const char *log_path,
                     sk_err_t *err);
int sk_pg__run_finish(sk_store_t *st, int64_t id, sk_run_status_t status, int64_t ended_at,
                      int exit_code, int signal, const char *reason, sk_err_t *err);
int sk_pg__run_get(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err);
int sk_pg__run_last(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err);
int sk_pg__runs_query(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret, size_t *ret_n,
                      sk_err_t *err);
int sk_pg__job_state_get(sk_store_t *st, const char *job, sk_job_state_t *ret, sk_err_t *err);
int sk_pg__job_state_set(sk_store_t *st, const char *job, const sk_job_state_t *js, sk_err_t *err);
int sk_pg__boot_claim(sk_store_t *st, const char *job, const char *boot_id, sk_err_t *err);
int sk_pg__prune(sk_store_t *st, const char *job, size_t keep_runs, int64_t ended_before,
                 void (*cb)(const char *log_path, void *data), void *data, sk_err_t *err);
int sk_pg__outputs_put(sk_store_t *st, int64_t run_id, const sk_output_t *o, size_t n,
                       sk_err_t *err);
int sk_pg__outputs_get(sk_store_t *st, int64_t run_id, sk_output_t **ret, size_t *ret_n,
                       sk_err_t *err);
int sk_pg__alert_insert(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err);
int sk_pg__alert_update(sk_store_t *st, int64_t id, sk_alert_state_t state, int attempts,
                        int64_t next_at, int64_t done_at, const char *error, sk_err_t *err);
int sk_pg__alerts_pending(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err);
int sk_pg__alerts_query(sk_store_t *st, const char *job, size_t limit, sk_alert_rec_t **ret,
                        size_t *ret_n, sk_err_t *err);

/* ---- several nodes (store_pg_cluster.c) ---- */

/* The operations of sk_store_ops_t of the same names; store.h has their
 * contracts. */
int sk_pg__leader(sk_store_t *st, bool *ret, sk_err_t *err);
int sk_pg__node_beat(sk_store_t *st, const sk_node_t *n, int64_t *server_now, sk_err_t *err);
int sk_pg__nodes_list(sk_store_t *st, int64_t forget_ms, sk_node_t **ret, size_t *ret_n,
                      sk_err_t *err);
/* st->ops->cluster of a PostgreSQL store: every entry filled. */
extern const sk_store_cluster_ops_t sk_pg__cluster;

#endif
