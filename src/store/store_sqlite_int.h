/*
 * The SQLite back end's insides, shared by its two files only: the store
 * struct (sk_sqlite_t), the statements both run by id, and the helpers
 * both call. store_sqlite.c keeps the database file and its connection
 * (errors, statements, opening, the schema and its migrations,
 * transactions), the node row and the ops table; store_sqlite_runs.c keeps
 * runs, job state, pruning, outputs and alerts. Not for use outside them; tests reach the
 * back end through store_int.h.
 */
#ifndef SK_STORE_SQLITE_INT_H
#define SK_STORE_SQLITE_INT_H

#include "store.h"
#include "store_int.h"

#include <sqlite3.h>

/* Spelled as in the migrations, so the planner can use runs_active,
 * runs_parent, alerts_run and runs_node (a partial index serves a query
 * only when the query repeats its WHERE term). */
#define SQL_ACTIVE "status IN ('queued', 'running')"
#define SQL_STEP_OF(col) "parent_id = " col " AND parent_id > 0"
#define SQL_HELD_BY(node) "status = 'running' AND node = " node
#define RUN_COLS                                                                                   \
    "id, job, step, status, \"trigger\", attempt, scheduled_at, queued_at, started_at, "           \
    "ended_at, exit_code, signal, pid, reason, log_path, parent_id, params, node, spec, cancel, "  \
    "dispatched, settled, event"
#define NODE_COLS "name, labels, max_parallel, api, pid, version, started_at, seen_at, leader"
/* The runs the node of the current nodes row holds. */
#define NODE_RUNNING "(SELECT count(*) FROM runs WHERE " SQL_HELD_BY("nodes.name") ")"
#define ALERT_COLS                                                                                 \
    "id, job, run_id, event, channel, payload, state, attempts, created_at, next_at, done_at, "    \
    "last_error"

/* The statements, prepared on first use and kept for the connection's life.
 * ST_INSERT checks a step's parent itself: it must be a top-level run of the
 * same job, else no row is inserted (-EINVAL). Pruning counts and picks
 * top-level runs; their steps go with them (ST_PRUNE_STEPS). */
#define STATEMENTS(X)                                                                              \
    X(ST_INSERT, "INSERT INTO runs (job, step, status, \"trigger\", attempt, scheduled_at, "       \
                 "queued_at, started_at, ended_at, exit_code, signal, pid, reason, log_path, "     \
                 "parent_id, params, event) "                                                      \
                 "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "  \
                 "?17 "                                                                            \
                 "WHERE ?15 = 0 OR EXISTS (SELECT 1 FROM runs WHERE id = ?15 AND parent_id = 0 "   \
                 "AND job = ?1)")                                                                  \
    X(ST_START, "UPDATE runs SET status = 'running', started_at = ?2, pid = ?3, log_path = ?4 "    \
                "WHERE id = ?1 AND status = 'queued'")                                             \
    X(ST_PID, "UPDATE runs SET pid = ?2 WHERE id = ?1 AND status = 'running'")                     \
    X(ST_FINISH, "UPDATE runs SET status = ?2, ended_at = ?3, exit_code = ?4, signal = ?5, "       \
                 "reason = COALESCE(?6, reason) WHERE id = ?1 AND " SQL_ACTIVE)                    \
    X(ST_STATUS, "SELECT status FROM runs WHERE id = ?1")                                          \
    X(ST_GET, "SELECT " RUN_COLS " FROM runs WHERE id = ?1")                                       \
    X(ST_LAST, "SELECT " RUN_COLS " FROM runs WHERE job = ?1 AND step IS NULL AND parent_id = 0 "  \
               "ORDER BY id DESC LIMIT 1")                                                         \
    X(ST_EXISTS, "SELECT 1 FROM runs WHERE id = ?1")                                               \
    X(ST_STATE_GET, "SELECT last_fire, paused, last_outcome, missed_alerted FROM job_state "       \
                    "WHERE job = ?1")                                                              \
    X(ST_STATE_SET,                                                                                \
      "INSERT INTO job_state (job, last_fire, paused, last_outcome, missed_alerted) "              \
      "VALUES (?1, ?2, ?3, ?4, ?5) "                                                               \
      "ON CONFLICT (job) DO UPDATE SET last_fire = excluded.last_fire, "                           \
      "paused = excluded.paused, last_outcome = excluded.last_outcome, "                           \
      "missed_alerted = excluded.missed_alerted")                                                  \
    X(ST_BOOT_CLAIM, "INSERT INTO boot_fires (job, boot_id) VALUES (?1, ?2) "                      \
                     "ON CONFLICT (job) DO UPDATE SET boot_id = excluded.boot_id "                 \
                     "WHERE boot_fires.boot_id <> excluded.boot_id")                               \
    X(ST_PRUNE_KEEP, "SELECT id FROM runs WHERE job = ?1 AND parent_id = 0 AND NOT " SQL_ACTIVE    \
                     " ORDER BY id DESC LIMIT 1 OFFSET ?2")                                        \
    X(ST_PRUNE_PICK,                                                                               \
      "SELECT id, log_path, COALESCE(ended_at, scheduled_at) FROM runs AS r "                      \
      "WHERE job = ?1 AND parent_id = 0 AND NOT " SQL_ACTIVE                                       \
      " AND (id <= ?2 OR COALESCE(ended_at, scheduled_at) < ?3) "                                  \
      "AND NOT EXISTS (SELECT 1 FROM runs WHERE " SQL_STEP_OF("r.id") " AND " SQL_ACTIVE           \
                                                                      ") ORDER BY id LIMIT ?4")    \
    X(ST_PRUNE_STEPS, "SELECT id, log_path FROM runs WHERE " SQL_STEP_OF("?1") " ORDER BY id")     \
    X(ST_PRUNE_ALERTS, "DELETE FROM alerts WHERE job = ?1 AND state <> 'pending' "                 \
                       "AND created_at < ?2 AND (run_id = 0 OR NOT EXISTS "                        \
                       "(SELECT 1 FROM runs WHERE runs.id = alerts.run_id))")                      \
    X(ST_DELETE, "DELETE FROM runs WHERE id = ?1")                                                 \
    X(ST_DELETE_RUN_ALERTS, "DELETE FROM alerts WHERE run_id = ?1 AND run_id > 0 "                 \
                            "AND state <> 'pending'")                                              \
    X(ST_OUT_DELETE, "DELETE FROM outputs WHERE run_id = ?1")                                      \
    X(ST_OUT_INSERT, "INSERT INTO outputs (run_id, key, value) VALUES (?1, ?2, ?3)")               \
    X(ST_OUT_GET, "SELECT key, value FROM outputs WHERE run_id = ?1 ORDER BY key")                 \
    X(ST_ALERT_INSERT, "INSERT INTO alerts (job, run_id, event, channel, payload, state, "         \
                       "attempts, created_at, next_at, done_at, last_error) "                      \
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")                    \
    X(ST_ALERT_UPDATE, "UPDATE alerts SET state = ?2, attempts = ?3, next_at = ?4, done_at = ?5, " \
                       "last_error = COALESCE(?6, last_error) WHERE id = ?1")                      \
    X(ST_ALERT_PENDING, "SELECT " ALERT_COLS " FROM alerts WHERE state = 'pending' ORDER BY id")   \
    X(ST_ALERT_QUERY_ALL, "SELECT " ALERT_COLS " FROM alerts ORDER BY id DESC LIMIT ?2")           \
    X(ST_ALERT_QUERY_JOB, "SELECT " ALERT_COLS " FROM alerts WHERE job = ?1 "                      \
                          "ORDER BY id DESC LIMIT ?2")                                             \
    X(ST_NODE_BEAT,                                                                                \
      "INSERT INTO nodes (" NODE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) "             \
      "ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, "                                \
      "max_parallel = excluded.max_parallel, api = excluded.api, pid = excluded.pid, "             \
      "version = excluded.version, started_at = CASE WHEN nodes.pid IS excluded.pid "              \
      "THEN nodes.started_at ELSE excluded.started_at END, seen_at = excluded.seen_at, "           \
      "leader = excluded.leader")                                                                  \
    X(ST_NODES_FORGET, "DELETE FROM nodes WHERE seen_at < ?1 - ?2")                                \
    X(ST_NODES_LIST, "SELECT " NODE_COLS ", ?1 - seen_at, " NODE_RUNNING " FROM nodes "            \
                     "WHERE ?2 <= 0 OR seen_at >= ?1 - ?2 ORDER BY name")

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

typedef struct sk_sqlite {
    sk_store_core_t core; /* first: the generic store and the shared layer's state */
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[ST_COUNT];
    sqlite3_stmt *query[Q_COUNT]; /* runs_query, one per combination of filters */
} sk_sqlite_t;

/* All of the functions below run on the loop thread of the store they are
 * given, like the store's operations. */

/* ---- the connection (store_sqlite.c) ---- */

/* Fills err (may be NULL) for a failed SQLite call and returns SK_ESTORE,
 * naming the store and what; aborts on SQLITE_NOMEM. */
int sk_sqlite__fail(sk_sqlite_t *s, int rc, const char *what, sk_err_t *err);
/* sk_sqlite__fail, and the transaction and batch end (sk_store__abort):
 * for write paths. */
int sk_sqlite__write_fail(sk_sqlite_t *s, int rc, const char *what, sk_err_t *err);
/* Statement id of STATEMENTS, prepared on first use and kept for the
 * connection's life (borrowed); SK_ESTORE when it cannot be prepared. */
int sk_sqlite__stmt_get(sk_sqlite_t *s, stmt_id_t id, sqlite3_stmt **ret, sk_err_t *err);
/* Resets st and its bindings after each use. */
void sk_sqlite__stmt_done(sqlite3_stmt *st);
/* Binding parameter i: text (NULL: NULL; borrowed until the statement is
 * done), free text repaired to UTF-8, a time (0: NULL), an int (none:
 * NULL). */
void sk_sqlite__bind_text(sqlite3_stmt *st, int i, const char *v);
void sk_sqlite__bind_free_text(sqlite3_stmt *st, int i, const char *v);
void sk_sqlite__bind_time(sqlite3_stmt *st, int i, int64_t v);
void sk_sqlite__bind_int_or_null(sqlite3_stmt *st, int i, int v, int none);
/* Column i of the current row as a new string (NULL: NULL), or an int
 * (NULL: none). */
char *sk_sqlite__col_strdup(sqlite3_stmt *st, int i);
int sk_sqlite__col_int_or(sqlite3_stmt *st, int i, int none);
/* Runs the one-parameter statement id (no rows) with v bound to ?1. */
int sk_sqlite__exec_id(sk_sqlite_t *s, stmt_id_t id, int64_t v, const char *what, sk_err_t *err);

/* The transaction table's begin and commit (sk_store_tx_ops_t), for an
 * operation that needs its own transaction outside a batch. */
int sk_sqlite__tx_begin(sk_store_core_t *c, const char *what, sk_err_t *err);
int sk_sqlite__tx_commit(sk_store_core_t *c, const char *what, sk_err_t *err);

/* ---- runs and what hangs off them (store_sqlite_runs.c) ---- */

/* The operations of sk_store_ops_t of the same names; store.h has their
 * contracts. */
int sk_sqlite__run_insert(sk_store_t *st, sk_run_t *run, sk_err_t *err);
int sk_sqlite__run_pids(sk_store_t *st, const sk_run_pid_t *v, size_t n, sk_err_t *err);
int sk_sqlite__run_start(sk_store_t *st, int64_t id, int64_t started_at, int pid,
                         const char *log_path, sk_err_t *err);
int sk_sqlite__run_finish(sk_store_t *st, int64_t id, sk_run_status_t status, int64_t ended_at,
                          int exit_code, int signal, const char *reason, sk_err_t *err);
int sk_sqlite__run_get(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err);
int sk_sqlite__run_last(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err);
int sk_sqlite__runs_query(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret, size_t *ret_n,
                          sk_err_t *err);
int sk_sqlite__job_state_get(sk_store_t *st, const char *job, sk_job_state_t *ret, sk_err_t *err);
int sk_sqlite__boot_claim(sk_store_t *st, const char *job, const char *boot_id, sk_err_t *err);
int sk_sqlite__job_state_set(sk_store_t *st, const char *job, const sk_job_state_t *js,
                             sk_err_t *err);
int sk_sqlite__prune(sk_store_t *st, const char *job, size_t keep_runs, int64_t ended_before,
                     void (*cb)(const char *log_path, void *data), void *data, sk_err_t *err);
int sk_sqlite__outputs_put(sk_store_t *st, int64_t run_id, const sk_output_t *o, size_t n,
                           sk_err_t *err);
int sk_sqlite__outputs_get(sk_store_t *st, int64_t run_id, sk_output_t **ret, size_t *ret_n,
                           sk_err_t *err);
int sk_sqlite__alert_insert(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err);
int sk_sqlite__alert_update(sk_store_t *st, int64_t id, sk_alert_state_t state, int attempts,
                            int64_t next_at, int64_t done_at, const char *error, sk_err_t *err);
int sk_sqlite__alerts_pending(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err);
int sk_sqlite__alerts_query(sk_store_t *st, const char *job, size_t limit, sk_alert_rec_t **ret,
                            size_t *ret_n, sk_err_t *err);

#endif
