/*
 * The SQLite back end of the store (sk_store_sqlite_ops): one file, WAL
 * journal, synchronous=FULL so that a write acknowledged is on the disk, a
 * schema versioned by PRAGMA user_version and upgraded by an ordered list of
 * migrations, and prepared statements cached per connection. Files that are
 * not sked's, corrupt, or from a newer sked are refused, never re-created; a
 * file it creates is private to its owner (0600). Besides runs and job
 * state it keeps workflow step rows (runs.parent_id), step outputs and the
 * alert delivery queue. docs/internals/store.md describes the schema and the
 * reasons.
 */
#include "store.h"
#include "store_int.h"

#include "../common/log.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

/* "sked" in ASCII: PRAGMA application_id marks the file as ours (the
 * `file` command and sqlite3's .dbinfo show it). */
#define APP_ID 0x736b6564
#define BUSY_TIMEOUT_MS 5000
#define JOURNAL_LIMIT (16 * 1024 * 1024)

/*
 * Migrations, oldest first: migrations[i] takes the schema from version i to
 * i + 1. Each is applied in one transaction with the new user_version, so a
 * crash leaves the old version or the new one. Never edit a released entry:
 * append a new one. The status and trigger spellings here must match the
 * X-macro tables in store.h (tests check that they do).
 */
static const char *const migrations[] = {
    /* 1: runs, job_state, meta. */
    "CREATE TABLE meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE runs (\n"
    "    id           INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    job          TEXT NOT NULL,\n"
    "    step         TEXT,\n"
    "    status       TEXT NOT NULL,\n"
    "    \"trigger\"    TEXT NOT NULL,\n"
    "    attempt      INTEGER NOT NULL CHECK (attempt >= 1),\n"
    "    scheduled_at INTEGER NOT NULL,\n"
    "    queued_at    INTEGER,\n"
    "    started_at   INTEGER,\n"
    "    ended_at     INTEGER,\n"
    "    exit_code    INTEGER,\n"
    "    signal       INTEGER,\n"
    "    pid          INTEGER,\n"
    "    reason       TEXT,\n"
    "    log_path     TEXT\n"
    ");\n"
    "CREATE UNIQUE INDEX runs_fire ON runs (job, scheduled_at)\n"
    "    WHERE attempt = 1 AND step IS NULL AND \"trigger\" IN ('schedule', 'catchup');\n"
    "CREATE INDEX runs_job ON runs (job, id DESC);\n"
    "CREATE INDEX runs_active ON runs (id) WHERE status IN ('queued', 'running');\n"
    "CREATE TABLE job_state (\n"
    "    job       TEXT PRIMARY KEY,\n"
    "    last_fire INTEGER NOT NULL DEFAULT 0,\n"
    "    paused    INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1))\n"
    ") WITHOUT ROWID;\n",
    /* 2: workflow steps (parent_id), parameters, step outputs, alerts, and
     * the job state alerts need. Additive only: a version-1 file keeps its
     * rows, which get the columns' defaults. runs_fire is unchanged: step
     * rows always have a step name (run_insert says so), so it never
     * applies to them. */
    "ALTER TABLE runs ADD COLUMN parent_id INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE runs ADD COLUMN params TEXT;\n"
    "CREATE INDEX runs_parent ON runs (parent_id, id) WHERE parent_id > 0;\n"
    "ALTER TABLE job_state ADD COLUMN last_outcome INTEGER NOT NULL DEFAULT -1;\n"
    "ALTER TABLE job_state ADD COLUMN missed_alerted INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE TABLE outputs (\n"
    "    run_id INTEGER NOT NULL,\n"
    "    key    TEXT NOT NULL,\n"
    "    value  TEXT NOT NULL,\n"
    "    PRIMARY KEY (run_id, key)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE alerts (\n"
    "    id         INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    job        TEXT NOT NULL,\n"
    "    run_id     INTEGER NOT NULL DEFAULT 0,\n"
    "    event      TEXT NOT NULL,\n"
    "    channel    TEXT NOT NULL,\n"
    "    payload    TEXT NOT NULL,\n"
    "    state      TEXT NOT NULL,\n"
    "    attempts   INTEGER NOT NULL DEFAULT 0,\n"
    "    created_at INTEGER NOT NULL,\n"
    "    next_at    INTEGER,\n"
    "    done_at    INTEGER,\n"
    "    last_error TEXT\n"
    ");\n"
    "CREATE INDEX alerts_pending ON alerts (id) WHERE state = 'pending';\n"
    "CREATE INDEX alerts_job ON alerts (job, id);\n"
    "CREATE INDEX alerts_run ON alerts (run_id) WHERE run_id > 0;\n",
    /* 3: several nodes (PostgreSQL, whose version 3 this mirrors): who holds
     * a run (node), what a node needs to take it (pin, spec), a stop the
     * leader asked for (cancel), the leader's hand-off and take-back
     * (dispatched, settled), and each node's heart-beat (nodes, which a
     * SQLite store fills too, with its one node). Additive only. */
    "ALTER TABLE runs ADD COLUMN node TEXT;\n"
    "ALTER TABLE runs ADD COLUMN pin TEXT;\n"
    "ALTER TABLE runs ADD COLUMN spec TEXT;\n"
    "ALTER TABLE runs ADD COLUMN cancel TEXT;\n"
    "ALTER TABLE runs ADD COLUMN dispatched INTEGER NOT NULL DEFAULT 0\n"
    "    CHECK (dispatched IN (0, 1));\n"
    "ALTER TABLE runs ADD COLUMN settled INTEGER NOT NULL DEFAULT 0 CHECK (settled IN (0, 1));\n"
    "CREATE INDEX runs_claim ON runs (id) WHERE status = 'queued' AND dispatched = 1;\n"
    "CREATE INDEX runs_unsettled ON runs (id) WHERE dispatched = 1 AND settled = 0;\n"
    "CREATE INDEX runs_node ON runs (node) WHERE status = 'running';\n"
    "CREATE TABLE nodes (\n"
    "    name         TEXT PRIMARY KEY,\n"
    "    labels       TEXT NOT NULL DEFAULT '',\n"
    "    max_parallel INTEGER,\n"
    "    api          TEXT,\n"
    "    pid          INTEGER,\n"
    "    version      TEXT,\n"
    "    started_at   INTEGER,\n"
    "    seen_at      INTEGER,\n"
    "    leader       INTEGER NOT NULL DEFAULT 0 CHECK (leader IN (0, 1))\n"
    ") WITHOUT ROWID;\n",
};

#define SCHEMA_VERSION ((int)SK_ARRAY_LEN(migrations))

/* Spelled as in the migrations, so the planner can use runs_active,
 * runs_parent, alerts_run and runs_node (a partial index serves a query
 * only when the query repeats its WHERE term). */
#define SQL_ACTIVE "status IN ('queued', 'running')"
#define SQL_STEP_OF(col) "parent_id = " col " AND parent_id > 0"
#define SQL_HELD_BY(node) "status = 'running' AND node = " node
#define RUN_COLS                                                                                   \
    "id, job, step, status, \"trigger\", attempt, scheduled_at, queued_at, started_at, "           \
    "ended_at, exit_code, signal, pid, reason, log_path, parent_id, params, node, spec, cancel, "  \
    "dispatched, settled"
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
                 "parent_id, params) "                                                             \
                 "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16 "   \
                 "WHERE ?15 = 0 OR EXISTS (SELECT 1 FROM runs WHERE id = ?15 AND parent_id = 0 "   \
                 "AND job = ?1)")                                                                  \
    X(ST_START, "UPDATE runs SET status = 'running', started_at = ?2, pid = ?3, log_path = ?4 "    \
                "WHERE id = ?1 AND status = 'queued'")                                             \
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

static const char *const stmt_sql[] = {
#define SK_X(e, sql) [e] = sql,
    STATEMENTS(SK_X)
#undef SK_X
};

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

/* ---- errors ---- */

/* What a result code means to the person reading the log. */
static const char *rc_meaning(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return "disk full";
    case SQLITE_IOERR:
        return "I/O error";
    case SQLITE_CORRUPT:
        return "the database file is corrupt";
    case SQLITE_NOTADB:
        return "not a SQLite database";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "locked by another process for too long";
    case SQLITE_READONLY:
        return "cannot write (read-only file or folder)";
    case SQLITE_CANTOPEN:
        return "cannot open the file";
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return "permission denied";
    case SQLITE_NOLFS:
        return "file too large";
    case SQLITE_PROTOCOL:
        return "locking protocol error";
    default:
        return "store error";
    }
}

/* Fills err for a failed SQLite call and returns SK_ESTORE:
 * "PATH: WHAT: disk full (database or disk is full)". Aborts on SQLITE_NOMEM
 * like every allocation failure in sked. */
static int db_fail(sk_sqlite_t *s, int rc, const char *what, sk_err_t *err)
{
    if ((rc & 0xff) == SQLITE_NOMEM)
        sk_panic("%s: %s: SQLite is out of memory", s->path, what);
    sk_store__on_error(&s->core);
    const char *detail = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    int sys = s->db ? sqlite3_system_errno(s->db) : 0;
    if (sys && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN ||
                (rc & 0xff) == SQLITE_FULL))
        return sk_err_set(err, SK_ESTORE, "%s: %s: %s (%s: %s)", s->path, what, rc_meaning(rc),
                          detail, strerror(sys));
    return sk_err_set(err, SK_ESTORE, "%s: %s: %s (%s)", s->path, what, rc_meaning(rc), detail);
}

/* db_fail + sk_store__abort, for write paths. */
static int write_fail(sk_sqlite_t *s, int rc, const char *what, sk_err_t *err)
{
    sk_err_t local;
    if (!err)
        err = &local;
    db_fail(s, rc, what, err);
    sk_store__abort(&s->core, err);
    return SK_ESTORE;
}

/* ---- statements ---- */

static int stmt_get(sk_sqlite_t *s, stmt_id_t id, sqlite3_stmt **ret, sk_err_t *err)
{
    if (!s->stmt[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            s->stmt[id] = NULL;
            return db_fail(s, rc, "preparing a statement", err);
        }
    }
    *ret = s->stmt[id];
    return 0;
}

/* Resets st so that it holds no read snapshot or lock between calls. */
static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Binds free text as the store keeps it (sk_store__text_repair): a
 * repaired copy is SQLite's to keep (SQLITE_TRANSIENT). */
static void bind_free_text(sqlite3_stmt *st, int i, const char *v)
{
    char *tmp;
    v = sk_store__text_repair(v, &tmp);
    if (!tmp) {
        bind_text(st, i, v);
        return;
    }
    sqlite3_bind_text(st, i, tmp, -1, SQLITE_TRANSIENT);
    free(tmp);
}

/* 0 (unset) is stored as NULL. */
static void bind_time(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_int_or_null(sqlite3_stmt *st, int i, int v, int none)
{
    if (v != none)
        sqlite3_bind_int(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? sk_xstrdup((const char *)t) : NULL;
}

static int col_int_or(sqlite3_stmt *st, int i, int none)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return none;
    return sqlite3_column_int(st, i);
}

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
    r.job = col_strdup(st, 1);
    r.step = col_strdup(st, 2);
    r.attempt = sqlite3_column_int(st, 5);
    r.scheduled_at = sqlite3_column_int64(st, 6);
    r.queued_at = sqlite3_column_int64(st, 7);
    r.started_at = sqlite3_column_int64(st, 8);
    r.ended_at = sqlite3_column_int64(st, 9);
    r.exit_code = col_int_or(st, 10, -1);
    r.signal = col_int_or(st, 11, 0);
    r.pid = col_int_or(st, 12, 0);
    r.reason = col_strdup(st, 13);
    r.log_path = col_strdup(st, 14);
    r.parent_id = sqlite3_column_int64(st, 15);
    r.params = col_strdup(st, 16);
    r.node = col_strdup(st, 17);
    r.spec = col_strdup(st, 18);
    r.cancel = col_strdup(st, 19);
    r.dispatched = sqlite3_column_int(st, 20) != 0;
    r.settled = sqlite3_column_int(st, 21) != 0;
    if (!r.job)
        r.job = sk_xstrdup("");
    *ret = r;
    return 0;
}

/* Runs sql (no rows) on the connection; SK_ESTORE with what on failure. */
static int exec_sql(sk_sqlite_t *s, const char *sql, const char *what, sk_err_t *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(s, rc, what, err);
}

/* The integer a one-row PRAGMA or SELECT returns. */
static int query_int(sk_sqlite_t *s, const char *sql, int64_t *ret, const char *what, sk_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *ret = 0;
        rc = SQLITE_OK;
    }
    int r = rc == SQLITE_OK ? 0 : db_fail(s, rc, what, err);
    sqlite3_finalize(st);
    return r;
}

/* ---- opening ---- */

static void sq_close(sk_store_t *st)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    if (!s)
        return;
    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    for (size_t i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->query[i]);
    if (s->db) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close_v2(s->db);
    }
    free(s->path);
    free(s);
}

/* Where the file stands before SQLite touches it. */
typedef enum { FILE_MISSING, FILE_EMPTY, FILE_PRESENT } file_state_t;

/*
 * Classifies path by stat(2) alone. Nothing here opens the database file:
 * closing any descriptor of a file drops every POSIX lock the process holds
 * on it, SQLite's included, and a daemon's API opens readers beside its
 * writer. A non-empty file's header is checked through SQLite's own
 * descriptor once it is open (check_magic).
 */
static int file_state(const char *path, file_state_t *ret, sk_err_t *err)
{
    struct stat sb;
    if (stat(path, &sb) < 0) {
        if (errno == ENOENT) {
            *ret = FILE_MISSING;
            return 0;
        }
        return sk_err_set(err, SK_ESTORE, "%s: cannot open the store: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode))
        return sk_err_set(err, SK_ESTORE, "%s: the store is not a regular file", path);
    *ret = sb.st_size == 0 ? FILE_EMPTY : FILE_PRESENT;
    return 0;
}

/* A non-empty file must start with SQLite's magic: SQLite itself takes a
 * 1-byte file for an empty database (a work-around in its unix VFS), and we
 * must not initialise over someone's byte. Reads through the connection's
 * own file handle, before any statement runs. */
static int check_magic(sk_sqlite_t *s, sk_err_t *err)
{
    static const char magic[16] = "SQLite format 3";
    char head[sizeof(magic)];
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods)
        return sk_err_set(err, SK_ESTORE, "%s: cannot read the store", s->path);
    int rc = f->pMethods->xRead(f, head, (int)sizeof(head), 0);
    if (rc == SQLITE_IOERR_SHORT_READ ||
        (rc == SQLITE_OK && memcmp(head, magic, sizeof(magic)) != 0))
        return sk_err_set(err, SK_ESTORE, "%s: not a SQLite database; refusing to use it", s->path);
    if (rc != SQLITE_OK)
        return sk_err_set(err, SK_ESTORE, "%s: cannot read the store (SQLite error %d)", s->path,
                          rc);
    return 0;
}

/* Creates the missing store file empty and private to its owner (0600, less
 * what the umask takes), so that SQLite opens it instead of creating it with
 * its default 0644; SQLite gives the -wal and -shm files the database
 * file's mode. The state folder is 0700 already: this is defence in depth,
 * for a store put elsewhere with `store:`. Leaves *fs FILE_EMPTY, or
 * whatever another process that got there first made of it. */
/* (The descriptor closed here is of a file that did not exist: no lock of
 * this process can be on it.) */
static int create_file(const char *path, file_state_t *fs, sk_err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
        *fs = FILE_EMPTY;
        return 0;
    }
    if (errno == EEXIST)
        return file_state(path, fs, err);
    return sk_err_set(err, SK_ESTORE, "%s: cannot create the store: %s", path, strerror(errno));
}

/* ---- transactions, for the shared layer ---- */

static int sq_tx_begin(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    /* IMMEDIATE takes the write lock now, so that no write in the
     * transaction can fail later for want of it. */
    return exec_sql((sk_sqlite_t *)c, "BEGIN IMMEDIATE", what, err);
}

static int sq_tx_commit(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : write_fail(s, rc, what, err);
}

static int sq_tx_rollback(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    if (!s->db || sqlite3_get_autocommit(s->db))
        return 0;
    int rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(s, rc, what, err);
}

static void sq_tx_abort(sk_store_core_t *c)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static const sk_store_tx_ops_t sq_tx = {
    .begin = sq_tx_begin,
    .commit = sq_tx_commit,
    .rollback = sq_tx_rollback,
    .abort = sq_tx_abort,
};

/* A store for path, not yet connected: SK_ESTORE from the fault-injection
 * hook's setting (the store is then closed). */
static int sqlite_new(const char *path, bool readonly, sk_sqlite_t **ret, sk_err_t *err)
{
    sk_sqlite_t *s = sk_xcalloc(1, sizeof(*s));
    s->path = sk_xstrdup(path);
    int r = sk_store__core_init(&s->core, &sk_store_sqlite_ops, &sq_tx, s->path, readonly, err);
    if (r < 0) {
        sq_close(&s->core.base);
        return r;
    }
    *ret = s;
    return 0;
}

static int db_connect(sk_sqlite_t *s, int flags, sk_err_t *err)
{
    int rc = sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_fail(s, rc, "opening the store", err);
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* Defensive: no writable_schema or similar ways to corrupt the file
     * through SQL, and no functions called from a schema we did not write. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    return 0;
}

/* Appends "; refusing to use it" to the message db_fail left in err. */
static int refuse(sk_err_t *err)
{
    char msg[sizeof(err->msg)];
    sk_strlcpy(msg, err->msg, sizeof(msg));
    return sk_err_set(err, SK_ESTORE, "%s; refusing to use it", msg);
}

/* Reads who the file belongs to and its schema version, without writing.
 * *ret_fresh is set for an empty database (no schema objects, no id): only
 * such a file may be initialised. */
static int identify(sk_sqlite_t *s, int64_t *ret_version, bool *ret_fresh, sk_err_t *err)
{
    int64_t app_id, version, objects;
    int r = query_int(s, "PRAGMA application_id", &app_id, "reading the file header", err);
    if (r == 0)
        r = query_int(s, "PRAGMA user_version", &version, "reading the file header", err);
    if (r == 0)
        r = query_int(s, "SELECT count(*) FROM sqlite_schema", &objects, "reading the schema", err);
    if (r < 0)
        return refuse(err);
    if (app_id == 0 && version == 0 && objects == 0) {
        *ret_version = 0;
        *ret_fresh = true;
        return 0;
    }
    if (app_id != APP_ID)
        return sk_err_set(err, SK_ESTORE,
                          "%s: a SQLite database that is not a sked store (application_id "
                          "0x%08" PRIx64 "); refusing to use it",
                          s->path, (uint64_t)(uint32_t)app_id);
    if (version < 1)
        return sk_err_set(err, SK_ESTORE,
                          "%s: a sked store without a schema version; refusing to use it", s->path);
    if (version > SCHEMA_VERSION)
        return sk_err_set(err, SK_ESTORE,
                          "%s: schema version %" PRId64 " is newer than this sked knows (%d); "
                          "upgrade sked",
                          s->path, version, SCHEMA_VERSION);
    *ret_version = version;
    *ret_fresh = false;
    return 0;
}

/* PRAGMA quick_check: a corrupt file is refused before anything writes. */
static int check_integrity(sk_sqlite_t *s, sk_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int r = 0;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (!sk_streq(res, "ok"))
            r = sk_err_set(err, SK_ESTORE,
                           "%s: the database file is corrupt (quick_check: %s); refusing to use "
                           "it",
                           s->path, res ? res : "?");
    } else if (rc != SQLITE_DONE) {
        db_fail(s, rc, "checking the file", err);
        r = refuse(err);
    }
    sqlite3_finalize(st);
    return r;
}

/* Brings the schema from `from` to SCHEMA_VERSION in one transaction. */
static int migrate(sk_sqlite_t *s, sk_err_t *err)
{
    char sql[160];
    int64_t from;
    bool fresh;
    int r = exec_sql(s, "BEGIN IMMEDIATE", "starting the schema transaction", err);
    if (r < 0)
        return r;
    /* Again, under the write lock: another process may have got here first. */
    r = identify(s, &from, &fresh, err);
    if (r < 0)
        goto fail;
    for (int v = (int)from; v < SCHEMA_VERSION; v++) {
        r = exec_sql(s, migrations[v], "applying a schema migration", err);
        if (r < 0)
            goto fail;
    }
    if (from < SCHEMA_VERSION) {
        sk_snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
                    APP_ID, SCHEMA_VERSION);
        r = exec_sql(s, sql, "writing the schema version", err);
        if (r < 0)
            goto fail;
        sk_snprintf(sql, sizeof(sql),
                    "INSERT OR REPLACE INTO meta (key, value) VALUES "
                    "('schema_version', '%d'), ('written_by', 'sked " SK_VERSION "')",
                    SCHEMA_VERSION);
        r = exec_sql(s, sql, "writing the schema version", err);
        if (r < 0)
            goto fail;
        if (fresh) {
            r = exec_sql(s,
                         "INSERT OR REPLACE INTO meta (key, value) VALUES "
                         "('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                         "writing the schema version", err);
            if (r < 0)
                goto fail;
        }
    }
    r = exec_sql(s, "COMMIT", "committing the schema", err);
    if (r < 0)
        goto fail;
    return 0;
fail:
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

/* The connection settings of a writer; docs/internals/store.md says why. */
static int configure(sk_sqlite_t *s, sk_err_t *err)
{
    char sql[64], mode[16] = "";
    int64_t ignored;
    sqlite3_stmt *st = NULL;

    /* synchronous=FULL: in WAL mode, NORMAL may lose the last commits on
     * power loss; a fire recorded must survive it. fullfsync matters on
     * macOS only, where plain fsync() does not flush the drive's cache. */
    int r = exec_sql(s,
                     "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA fullfsync = ON; "
                     "PRAGMA checkpoint_fullfsync = ON",
                     "setting up the connection", err);
    if (r < 0)
        return r;
    sk_snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d", JOURNAL_LIMIT);
    r = query_int(s, sql, &ignored, "setting up the connection", err);
    if (r < 0)
        return r;

    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        sk_strlcpy(mode, m ? m : "?", sizeof(mode));
        rc = SQLITE_OK;
    }
    r = rc == SQLITE_OK ? 0 : db_fail(s, rc, "switching to WAL mode", err);
    sqlite3_finalize(st);
    if (r == 0 && !sk_streq(mode, "wal"))
        r = sk_err_set(err, SK_ESTORE,
                       "%s: cannot use WAL mode here (the journal mode stays '%s'); is it on a "
                       "network file system?",
                       s->path, mode);
    return r;
}

static int sq_open(const char *url, sk_store_t **ret, sk_err_t *err)
{
    sk_sqlite_t *s = NULL;
    file_state_t fs;
    int64_t version;
    bool fresh;
    sk_err_t local;

    if (!err)
        err = &local;
    if (!url || !*url)
        return sk_err_set(err, SK_ESTORE, "no store path given");
    int r = sqlite_new(url, false, &s, err);
    if (r < 0)
        return r;
    r = file_state(url, &fs, err);
    if (r == 0 && fs == FILE_MISSING)
        r = create_file(url, &fs, err);
    if (r == 0)
        r = db_connect(s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
    /* Look before writing anything: a foreign, newer or corrupt file is
     * left exactly as it was. */
    if (r == 0 && fs == FILE_PRESENT)
        r = check_magic(s, err);
    if (r == 0)
        r = identify(s, &version, &fresh, err);
    if (r == 0 && fs == FILE_PRESENT)
        r = check_integrity(s, err);
    if (r < 0)
        goto fail;

    r = configure(s, err);
    if (r < 0)
        goto fail;
    if (fresh || version < SCHEMA_VERSION) {
        r = migrate(s, err);
        if (r < 0)
            goto fail;
    }
    *ret = &s->core.base;
    return 0;
fail:
    sq_close(&s->core.base);
    return r;
}

static int sq_open_readonly(const char *url, sk_store_t **ret, sk_err_t *err)
{
    sk_sqlite_t *s = NULL;
    file_state_t fs;
    int64_t version;
    bool fresh;
    sk_err_t local;

    if (!err)
        err = &local;
    if (!url || !*url)
        return sk_err_set(err, SK_ESTORE, "no store path given");
    int r = sqlite_new(url, true, &s, err);
    if (r < 0)
        return r;
    r = file_state(url, &fs, err);
    if (r < 0)
        goto fail;
    if (fs == FILE_MISSING) {
        r = sk_err_set(err, SK_ESTORE,
                       "%s: no store here (the daemon creates it when it first starts)", url);
        goto fail;
    }
    r = db_connect(s, SQLITE_OPEN_READONLY, err);
    if (r == 0 && fs == FILE_PRESENT)
        r = check_magic(s, err);
    if (r == 0)
        r = identify(s, &version, &fresh, err);
    if (r < 0)
        goto fail;
    if (fresh) {
        r = sk_err_set(err, SK_ESTORE, "%s: the store is empty (the daemon has not set it up yet)",
                       url);
        goto fail;
    }
    if (version < SCHEMA_VERSION) {
        r = sk_err_set(err, SK_ESTORE,
                       "%s: schema version %" PRId64 " is older than this sked's (%d); start the "
                       "daemon once to upgrade it",
                       url, version, SCHEMA_VERSION);
        goto fail;
    }
    *ret = &s->core.base;
    return 0;
fail:
    sq_close(&s->core.base);
    return r;
}

/* ---- runs ---- */

static int sq_run_insert(sk_store_t *st, sk_run_t *run, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_run(&s->core, run, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a run", err);
    if (r == 0)
        r = stmt_get(s, ST_INSERT, &q, err);
    if (r < 0)
        return r;
    bind_text(q, 1, run->job);
    bind_text(q, 2, run->step);
    bind_text(q, 3, sk_run_status_str(run->status));
    bind_text(q, 4, sk_trigger_str(run->trigger));
    sqlite3_bind_int(q, 5, run->attempt);
    sqlite3_bind_int64(q, 6, run->scheduled_at);
    bind_time(q, 7, run->queued_at);
    bind_time(q, 8, run->started_at);
    bind_time(q, 9, run->ended_at);
    bind_int_or_null(q, 10, run->exit_code, -1);
    bind_int_or_null(q, 11, run->signal, 0);
    bind_int_or_null(q, 12, run->pid, 0);
    bind_free_text(q, 13, run->reason);
    bind_text(q, 14, run->log_path);
    sqlite3_bind_int64(q, 15, run->parent_id);
    bind_text(q, 16, run->params);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    stmt_done(q);
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
    return write_fail(s, rc, "recording a run", err);
}

/* After an UPDATE of run id changed nothing: SK_ENOTFOUND, or the run's
 * status in *ret_status. */
static int run_status(sk_sqlite_t *s, int64_t id, sk_run_status_t *ret_status, sk_err_t *err)
{
    sqlite3_stmt *q = NULL;
    int r = stmt_get(s, ST_STATUS, &q, err);
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
        r = db_fail(s, rc, "reading a run", err);
    }
    stmt_done(q);
    return r;
}

static int sq_run_start(sk_store_t *st, int64_t id, int64_t started_at, int pid,
                        const char *log_path, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    sk_run_status_t cur;
    int r = sk_store__text_check(&s->core, err, 1, "the log path", log_path);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a start", err);
    if (r == 0)
        r = stmt_get(s, ST_START, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    bind_time(q, 2, started_at);
    bind_int_or_null(q, 3, pid, 0);
    bind_text(q, 4, log_path);
    int rc = sqlite3_step(q);
    stmt_done(q);
    if (rc != SQLITE_DONE)
        return write_fail(s, rc, "recording a start", err);
    if (sqlite3_changes(s->db) > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
        return r;
    return sk_store__not_queued(&s->core, id, cur, "start", err);
}

static int sq_run_finish(sk_store_t *st, int64_t id, sk_run_status_t status, int64_t ended_at,
                         int exit_code, int signal, const char *reason, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    sk_run_status_t cur;
    int r = sk_store__check_finish(&s->core, id, status, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an outcome", err);
    if (r == 0)
        r = stmt_get(s, ST_FINISH, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    bind_text(q, 2, sk_run_status_str(status));
    bind_time(q, 3, ended_at);
    bind_int_or_null(q, 4, exit_code, -1);
    bind_int_or_null(q, 5, signal, 0);
    bind_free_text(q, 6, reason);
    int rc = sqlite3_step(q);
    stmt_done(q);
    if (rc != SQLITE_DONE)
        return write_fail(s, rc, "recording an outcome", err);
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
        r = db_fail(s, rc, "reading runs", err);
    stmt_done(q);
    return r;
}

static int sq_run_get(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    char missing[64];
    int r = stmt_get(s, ST_GET, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    sk_snprintf(missing, sizeof(missing), "no run %" PRId64, id);
    return fetch_one(s, q, ret, missing, err);
}

static int sq_run_last(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    char missing[300];
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: run_last needs a job", s->path);
    sk_snprintf(missing, sizeof(missing), "job %s has no runs", job);
    if (!sk_store__text_ok(job)) /* never stored */
        return sk_err_set(err, SK_ENOTFOUND, "%s", missing);
    int r = stmt_get(s, ST_LAST, &q, err);
    if (r < 0)
        return r;
    bind_text(q, 1, job);
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
            return db_fail(s, rc, "preparing a statement", err);
        }
    }
    *ret = s->query[which];
    return 0;
}

static int sq_runs_query(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret, size_t *ret_n,
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
        bind_text(q, 1, f->job);
    sqlite3_bind_int64(q, 2, f->before_id > 0 ? f->before_id : INT64_MAX);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)limit);
    if (f->parent_id > 0)
        sqlite3_bind_int64(q, 4, f->parent_id);
    if (which & Q_STATUS)
        bind_text(q, 5, sk_run_status_str(f->status));
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
        r = db_fail(s, rc, "reading runs", err);
        goto fail;
    }
    stmt_done(q);
    *ret = runs;
    *ret_n = n;
    return 0;
fail:
    stmt_done(q);
    sk_runs_free(runs, n);
    return r;
}

/* ---- job state ---- */

static int sq_job_state_get(sk_store_t *st, const char *job, sk_job_state_t *ret, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: job_state_get needs a job", s->path);
    if (!sk_store__text_ok(job)) { /* never stored: never seen */
        sk_store__job_state_none(ret);
        return 0;
    }
    int r = stmt_get(s, ST_STATE_GET, &q, err);
    if (r < 0)
        return r;
    bind_text(q, 1, job);
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
        r = db_fail(s, rc, "reading a job's state", err);
    }
    stmt_done(q);
    return r;
}

static int sq_job_state_set(sk_store_t *st, const char *job, const sk_job_state_t *js,
                            sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_job_state(&s->core, job, js, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a job's state", err);
    if (r == 0)
        r = stmt_get(s, ST_STATE_SET, &q, err);
    if (r < 0)
        return r;
    bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, js->last_fire);
    sqlite3_bind_int(q, 3, js->paused ? 1 : 0);
    sqlite3_bind_int(q, 4, js->last_outcome);
    sqlite3_bind_int64(q, 5, js->missed_alerted);
    int rc = sqlite3_step(q);
    stmt_done(q);
    if (rc != SQLITE_DONE)
        return write_fail(s, rc, "recording a job's state", err);
    return 0;
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
    int r = stmt_get(s, ST_PRUNE_KEEP, &q, err);
    if (r < 0)
        return r;
    bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)SK_MIN(keep_runs, (size_t)INT64_MAX));
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(q, 0); /* the first one to delete */
    else if (rc != SQLITE_DONE)
        r = db_fail(s, rc, "pruning runs", err);
    stmt_done(q);
    return r;
}

/* Runs the one-parameter statement `id` with v bound to ?1. */
static int exec_id(sk_sqlite_t *s, stmt_id_t id, int64_t v, const char *what, sk_err_t *err)
{
    sqlite3_stmt *q = NULL;
    int r = stmt_get(s, id, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, v);
    int rc = sqlite3_step(q);
    stmt_done(q);
    return rc == SQLITE_DONE ? 0 : db_fail(s, rc, what, err);
}

/* Appends the step rows of workflow run parent to vs. */
static int prune_steps(sk_sqlite_t *s, int64_t parent, sk_store_victims_t *vs, sk_err_t *err)
{
    sqlite3_stmt *q = NULL;
    int r = stmt_get(s, ST_PRUNE_STEPS, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, parent);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        sk_store__victims_push(vs, sqlite3_column_int64(q, 0), col_strdup(q, 1), true);
    stmt_done(q);
    return rc == SQLITE_DONE ? 0 : db_fail(s, rc, "pruning runs", err);
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
    int r = stmt_get(s, ST_PRUNE_PICK, &pick, err);
    if (r < 0)
        return r;
    bind_text(pick, 1, job);
    sqlite3_bind_int64(pick, 2, max_id);
    sqlite3_bind_int64(pick, 3, ended_before > 0 ? ended_before : INT64_MIN);
    sqlite3_bind_int(pick, 4, SK_STORE_PRUNE_CHUNK);
    int rc;
    while ((rc = sqlite3_step(pick)) == SQLITE_ROW) {
        sk_store__victims_push(vs, sqlite3_column_int64(pick, 0), col_strdup(pick, 1), true);
        *horizon = SK_MAX(*horizon, (int64_t)sqlite3_column_int64(pick, 2));
        picked++;
    }
    stmt_done(pick);
    *ret_picked = picked;
    if (rc != SQLITE_DONE)
        return db_fail(s, rc, "pruning runs", err);
    /* The steps of the picked runs: vs[0..picked) are the parents. */
    for (size_t i = 0; i < picked && r == 0; i++)
        r = prune_steps(s, vs->v[i].id, vs, err);
    for (size_t i = 0; i < vs->n && r == 0; i++) {
        r = exec_id(s, ST_OUT_DELETE, vs->v[i].id, "pruning outputs", err);
        if (r == 0)
            r = exec_id(s, ST_DELETE_RUN_ALERTS, vs->v[i].id, "pruning alerts", err);
        if (r == 0)
            r = exec_id(s, ST_DELETE, vs->v[i].id, "pruning runs", err);
    }
    return r;
}

/* Deletes job's delivered, failed and dropped alerts that are about no
 * run (any more) and were raised before horizon. */
static int prune_alerts(sk_store_core_t *c, const char *job, int64_t horizon, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    sqlite3_stmt *q = NULL;
    int r = stmt_get(s, ST_PRUNE_ALERTS, &q, err);
    if (r < 0)
        return r;
    bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, horizon);
    int rc = sqlite3_step(q);
    stmt_done(q);
    return rc == SQLITE_DONE ? 0 : db_fail(s, rc, "pruning alerts", err);
}

static const sk_store_prune_ops_t sq_prune_ops = {
    .cutoff = prune_cutoff,
    .chunk = prune_chunk,
    .alerts = prune_alerts,
};

static int sq_prune(sk_store_t *st, const char *job, size_t keep_runs, int64_t ended_before,
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
    int r = stmt_get(s, ST_EXISTS, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        r = sk_err_set(err, SK_ENOTFOUND, "%s: no run %" PRId64, s->path, id);
    else if (rc != SQLITE_ROW)
        r = db_fail(s, rc, "reading a run", err);
    stmt_done(q);
    return r;
}

static int sq_outputs_put(sk_store_t *st, int64_t run_id, const sk_output_t *o, size_t n,
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
        r = sq_tx_begin(&s->core, "recording outputs", err);
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
        r = exec_id(s, ST_OUT_DELETE, run_id, "recording outputs", err);
    if (r == 0)
        r = stmt_get(s, ST_OUT_INSERT, &ins, err);
    for (size_t i = 0; i < n && r == 0; i++) {
        sqlite3_bind_int64(ins, 1, run_id);
        bind_text(ins, 2, o[i].key);
        bind_free_text(ins, 3, o[i].value);
        int rc = sqlite3_step(ins);
        stmt_done(ins);
        if (rc != SQLITE_DONE)
            r = db_fail(s, rc, "recording outputs", err);
    }
    if (r == 0 && own_tx)
        r = sq_tx_commit(&s->core, "recording outputs", err);
    if (r < 0)
        goto fail;
    return 0;
fail:
    sk_store__abort(&s->core, err);
    return r;
}

static int sq_outputs_get(sk_store_t *st, int64_t run_id, sk_output_t **ret, size_t *ret_n,
                          sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    sk_output_t *o = NULL;
    size_t n = 0, cap = 0;
    int r = stmt_get(s, ST_OUT_GET, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, run_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            o = sk_xrealloc(o, cap * sizeof(*o));
        }
        o[n].key = col_strdup(q, 0);
        o[n].value = col_strdup(q, 1);
        if (!o[n].key)
            o[n].key = sk_xstrdup("");
        if (!o[n].value)
            o[n].value = sk_xstrdup("");
        n++;
    }
    stmt_done(q);
    if (rc != SQLITE_DONE) {
        sk_outputs_free(o, n);
        return db_fail(s, rc, "reading outputs", err);
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
    a.job = col_strdup(st, 1);
    a.run_id = sqlite3_column_int64(st, 2);
    a.event = col_strdup(st, 3);
    a.channel = col_strdup(st, 4);
    a.payload = col_strdup(st, 5);
    a.attempts = sqlite3_column_int(st, 7);
    a.created_at = sqlite3_column_int64(st, 8);
    a.next_at = sqlite3_column_int64(st, 9);
    a.done_at = sqlite3_column_int64(st, 10);
    a.last_error = col_strdup(st, 11);
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
        r = db_fail(s, rc, "reading alerts", err);
    stmt_done(q);
    if (r < 0) {
        sk_alert_recs_free(a, n);
        return r;
    }
    *ret = a;
    *ret_n = n;
    return 0;
}

static int sq_alert_insert(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_alert(&s->core, a, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an alert", err);
    if (r == 0)
        r = stmt_get(s, ST_ALERT_INSERT, &q, err);
    if (r < 0)
        return r;
    bind_text(q, 1, a->job);
    sqlite3_bind_int64(q, 2, a->run_id);
    bind_text(q, 3, a->event);
    bind_text(q, 4, a->channel);
    bind_text(q, 5, a->payload);
    bind_text(q, 6, sk_alert_state_str(a->state));
    sqlite3_bind_int(q, 7, a->attempts);
    sqlite3_bind_int64(q, 8, a->created_at);
    bind_time(q, 9, a->next_at);
    bind_time(q, 10, a->done_at);
    bind_free_text(q, 11, a->last_error);
    int rc = sqlite3_step(q);
    stmt_done(q);
    if (rc != SQLITE_DONE)
        return write_fail(s, rc, "recording an alert", err);
    a->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int sq_alert_update(sk_store_t *st, int64_t id, sk_alert_state_t state, int attempts,
                           int64_t next_at, int64_t done_at, const char *error, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_alert_update(&s->core, id, state, attempts, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an alert delivery", err);
    if (r == 0)
        r = stmt_get(s, ST_ALERT_UPDATE, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, id);
    bind_text(q, 2, sk_alert_state_str(state));
    sqlite3_bind_int(q, 3, attempts);
    bind_time(q, 4, next_at);
    bind_time(q, 5, done_at);
    bind_free_text(q, 6, error);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    stmt_done(q);
    if (rc != SQLITE_DONE)
        return write_fail(s, rc, "recording an alert delivery", err);
    if (changed == 0)
        return sk_err_set(err, SK_ENOTFOUND, "%s: no alert %" PRId64, s->path, id);
    return 0;
}

static int sq_alerts_pending(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = stmt_get(s, ST_ALERT_PENDING, &q, err);
    if (r < 0)
        return r;
    return fetch_alerts(s, q, ret, ret_n, err);
}

static int sq_alerts_query(sk_store_t *st, const char *job, size_t limit, sk_alert_rec_t **ret,
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
    int r = stmt_get(s, job ? ST_ALERT_QUERY_JOB : ST_ALERT_QUERY_ALL, &q, err);
    if (r < 0)
        return r;
    if (job)
        bind_text(q, 1, job);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)limit);
    return fetch_alerts(s, q, ret, ret_n, err);
}

/* ---- for tests ---- */

sqlite3 *sk_store_sqlite__db(sk_store_t *st)
{
    SK_ASSERT(st && st->ops == &sk_store_sqlite_ops);
    return ((sk_sqlite_t *)st)->db;
}

int sk_store_sqlite__schema_version(void)
{
    return SCHEMA_VERSION;
}

const char *sk_store_sqlite__migration(int to)
{
    return to >= 1 && to <= SCHEMA_VERSION ? migrations[to - 1] : NULL;
}

/* One daemon per file already (its lock file): it always leads. */
static int sq_leader(sk_store_t *st, bool *ret, sk_err_t *err)
{
    (void)st;
    (void)err;
    *ret = true;
    return 0;
}

/* ---- nodes (one: the cluster operations are PostgreSQL's) ---- */

/* The node's clock is the server's here: seen_at is this process's now. */
static int sq_node_beat(sk_store_t *st, const sk_node_t *n, int64_t *server_now, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    int r = sk_store__check_node(&s->core, n, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a heart-beat", err);
    if (r == 0)
        r = stmt_get(s, ST_NODE_BEAT, &q, err);
    if (r < 0)
        return r;
    int64_t now = sk_now_ms();
    bind_text(q, 1, n->name);
    bind_text(q, 2, n->labels ? n->labels : "");
    sqlite3_bind_int(q, 3, n->max_parallel);
    bind_text(q, 4, n->api);
    bind_int_or_null(q, 5, n->pid, 0);
    bind_text(q, 6, n->version);
    sqlite3_bind_int64(q, 7, now);
    sqlite3_bind_int(q, 8, n->leader ? 1 : 0);
    int rc = sqlite3_step(q);
    stmt_done(q);
    if (rc != SQLITE_DONE)
        return write_fail(s, rc, "recording a heart-beat", err);
    if (server_now)
        *server_now = now;
    return 0;
}

/* Reads the current row (NODE_COLS, age, running) into *ret: new strings. */
static void read_node(sqlite3_stmt *q, sk_node_t *ret)
{
    sk_node_t n;
    memset(&n, 0, sizeof(n));
    n.name = col_strdup(q, 0);
    n.labels = col_strdup(q, 1);
    n.max_parallel = col_int_or(q, 2, 0);
    n.api = col_strdup(q, 3);
    n.pid = col_int_or(q, 4, 0);
    n.version = col_strdup(q, 5);
    n.started_at = sqlite3_column_int64(q, 6);
    n.seen_at = sqlite3_column_int64(q, 7);
    n.leader = sqlite3_column_int(q, 8) != 0;
    n.age_ms = sqlite3_column_int64(q, 9);
    n.running = sqlite3_column_int(q, 10);
    if (!n.name)
        n.name = sk_xstrdup("");
    if (!n.labels)
        n.labels = sk_xstrdup("");
    *ret = n;
}

static int sq_nodes_list(sk_store_t *st, int64_t forget_ms, sk_node_t **ret, size_t *ret_n,
                         sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)st;
    sqlite3_stmt *q = NULL;
    sk_node_t *nodes = NULL;
    size_t n = 0, cap = 0;
    int64_t now = sk_now_ms();
    forget_ms = SK_MIN(forget_ms, SK_STORE_FORGET_MAX);
    /* Forgetting deletes; a reader, or a batch already rolled back, only
     * leaves those rows out. */
    if (forget_ms > 0 && !s->core.readonly && !s->core.batch_failed) {
        int r = stmt_get(s, ST_NODES_FORGET, &q, err);
        if (r < 0)
            return r;
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, forget_ms);
        int rc = sqlite3_step(q);
        stmt_done(q);
        if (rc != SQLITE_DONE)
            return write_fail(s, rc, "forgetting silent nodes", err);
    }
    int r = stmt_get(s, ST_NODES_LIST, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, now);
    sqlite3_bind_int64(q, 2, forget_ms);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            nodes = sk_xrealloc(nodes, cap * sizeof(*nodes));
        }
        read_node(q, &nodes[n++]);
    }
    stmt_done(q);
    if (rc != SQLITE_DONE) {
        sk_nodes_free(nodes, n);
        return db_fail(s, rc, "reading the nodes", err);
    }
    *ret = nodes;
    *ret_n = n;
    return 0;
}

const sk_store_ops_t sk_store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .open_readonly = sq_open_readonly,
    .close = sq_close,
    .run_insert = sq_run_insert,
    .run_start = sq_run_start,
    .run_finish = sq_run_finish,
    .run_get = sq_run_get,
    .runs_query = sq_runs_query,
    .run_last = sq_run_last,
    .job_state_get = sq_job_state_get,
    .job_state_set = sq_job_state_set,
    .prune = sq_prune,
    .outputs_put = sq_outputs_put,
    .outputs_get = sq_outputs_get,
    .alert_insert = sq_alert_insert,
    .alert_update = sq_alert_update,
    .alerts_pending = sq_alerts_pending,
    .alerts_query = sq_alerts_query,
    .begin = sk_store__batch_begin,
    .commit = sk_store__batch_commit,
    .rollback = sk_store__batch_rollback,
    .leader = sq_leader,
    .node_beat = sq_node_beat,
    .nodes_list = sq_nodes_list,
    .cluster = NULL, /* one node per file (the lock file) */
};
