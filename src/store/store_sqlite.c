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
 *
 * This file keeps the database file and its connection (errors,
 * statements, opening, the schema and its migrations, transactions), the
 * node row and the ops table; store_sqlite_runs.c keeps the rows of runs,
 * job state, pruning, outputs and alerts, over the helpers
 * store_sqlite_int.h shares.
 */
#include "store_sqlite_int.h"

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
    /* 4: event triggers: the event that started a run, and which boot each
     * job's boot trigger last fired for. Additive only. */
    "ALTER TABLE runs ADD COLUMN event TEXT;\n"
    "CREATE TABLE boot_fires (\n"
    "    job     TEXT PRIMARY KEY,\n"
    "    boot_id TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n",
};

#define SCHEMA_VERSION ((int)SK_ARRAY_LEN(migrations))

static const char *const stmt_sql[] = {
#define SK_X(e, sql) [e] = sql,
    STATEMENTS(SK_X)
#undef SK_X
};

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
int sk_sqlite__fail(sk_sqlite_t *s, int rc, const char *what, sk_err_t *err)
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

/* sk_sqlite__fail + sk_store__abort, for write paths. */
int sk_sqlite__write_fail(sk_sqlite_t *s, int rc, const char *what, sk_err_t *err)
{
    sk_err_t local;
    if (!err)
        err = &local;
    sk_sqlite__fail(s, rc, what, err);
    sk_store__abort(&s->core, err);
    return SK_ESTORE;
}

/* ---- statements ---- */

int sk_sqlite__stmt_get(sk_sqlite_t *s, stmt_id_t id, sqlite3_stmt **ret, sk_err_t *err)
{
    if (!s->stmt[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            s->stmt[id] = NULL;
            return sk_sqlite__fail(s, rc, "preparing a statement", err);
        }
    }
    *ret = s->stmt[id];
    return 0;
}

/* Resets st so that it holds no read snapshot or lock between calls. */
void sk_sqlite__stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void sk_sqlite__bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Binds free text as the store keeps it (sk_store__text_repair): a
 * repaired copy is SQLite's to keep (SQLITE_TRANSIENT). */
void sk_sqlite__bind_free_text(sqlite3_stmt *st, int i, const char *v)
{
    char *tmp;
    v = sk_store__text_repair(v, &tmp);
    if (!tmp) {
        sk_sqlite__bind_text(st, i, v);
        return;
    }
    sqlite3_bind_text(st, i, tmp, -1, SQLITE_TRANSIENT);
    free(tmp);
}

/* 0 (unset) is stored as NULL. */
void sk_sqlite__bind_time(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

void sk_sqlite__bind_int_or_null(sqlite3_stmt *st, int i, int v, int none)
{
    if (v != none)
        sqlite3_bind_int(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

char *sk_sqlite__col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? sk_xstrdup((const char *)t) : NULL;
}

int sk_sqlite__col_int_or(sqlite3_stmt *st, int i, int none)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return none;
    return sqlite3_column_int(st, i);
}

/* Runs sql (no rows) on the connection; SK_ESTORE with what on failure. */
static int exec_sql(sk_sqlite_t *s, const char *sql, const char *what, sk_err_t *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sk_sqlite__fail(s, rc, what, err);
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
    int r = rc == SQLITE_OK ? 0 : sk_sqlite__fail(s, rc, what, err);
    sqlite3_finalize(st);
    return r;
}

/* Runs the one-parameter statement `id` with v bound to ?1. */
int sk_sqlite__exec_id(sk_sqlite_t *s, stmt_id_t id, int64_t v, const char *what, sk_err_t *err)
{
    sqlite3_stmt *q = NULL;
    int r = sk_sqlite__stmt_get(s, id, &q, err);
    if (r < 0)
        return r;
    sqlite3_bind_int64(q, 1, v);
    int rc = sqlite3_step(q);
    sk_sqlite__stmt_done(q);
    return rc == SQLITE_DONE ? 0 : sk_sqlite__fail(s, rc, what, err);
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

int sk_sqlite__tx_begin(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    /* IMMEDIATE takes the write lock now, so that no write in the
     * transaction can fail later for want of it. */
    return exec_sql((sk_sqlite_t *)c, "BEGIN IMMEDIATE", what, err);
}

int sk_sqlite__tx_commit(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sk_sqlite__write_fail(s, rc, what, err);
}

static int sq_tx_rollback(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    if (!s->db || sqlite3_get_autocommit(s->db))
        return 0;
    int rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sk_sqlite__fail(s, rc, what, err);
}

static void sq_tx_abort(sk_store_core_t *c)
{
    sk_sqlite_t *s = (sk_sqlite_t *)c;
    if (s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static const sk_store_tx_ops_t sq_tx = {
    .begin = sk_sqlite__tx_begin,
    .commit = sk_sqlite__tx_commit,
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
        return sk_sqlite__fail(s, rc, "opening the store", err);
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* Defensive: no writable_schema or similar ways to corrupt the file
     * through SQL, and no functions called from a schema we did not write. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    return 0;
}

/* Appends "; refusing to use it" to the message sk_sqlite__fail left in err. */
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
        sk_sqlite__fail(s, rc, "checking the file", err);
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
    r = rc == SQLITE_OK ? 0 : sk_sqlite__fail(s, rc, "switching to WAL mode", err);
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
        r = sk_sqlite__stmt_get(s, ST_NODE_BEAT, &q, err);
    if (r < 0)
        return r;
    int64_t now = sk_now_ms();
    sk_sqlite__bind_text(q, 1, n->name);
    sk_sqlite__bind_text(q, 2, n->labels ? n->labels : "");
    sqlite3_bind_int(q, 3, n->max_parallel);
    sk_sqlite__bind_text(q, 4, n->api);
    sk_sqlite__bind_int_or_null(q, 5, n->pid, 0);
    sk_sqlite__bind_text(q, 6, n->version);
    sqlite3_bind_int64(q, 7, now);
    sqlite3_bind_int(q, 8, n->leader ? 1 : 0);
    int rc = sqlite3_step(q);
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE)
        return sk_sqlite__write_fail(s, rc, "recording a heart-beat", err);
    if (server_now)
        *server_now = now;
    return 0;
}

/* Reads the current row (NODE_COLS, age, running) into *ret: new strings. */
static void read_node(sqlite3_stmt *q, sk_node_t *ret)
{
    sk_node_t n;
    memset(&n, 0, sizeof(n));
    n.name = sk_sqlite__col_strdup(q, 0);
    n.labels = sk_sqlite__col_strdup(q, 1);
    n.max_parallel = sk_sqlite__col_int_or(q, 2, 0);
    n.api = sk_sqlite__col_strdup(q, 3);
    n.pid = sk_sqlite__col_int_or(q, 4, 0);
    n.version = sk_sqlite__col_strdup(q, 5);
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
        int r = sk_sqlite__stmt_get(s, ST_NODES_FORGET, &q, err);
        if (r < 0)
            return r;
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, forget_ms);
        int rc = sqlite3_step(q);
        sk_sqlite__stmt_done(q);
        if (rc != SQLITE_DONE)
            return sk_sqlite__write_fail(s, rc, "forgetting silent nodes", err);
    }
    int r = sk_sqlite__stmt_get(s, ST_NODES_LIST, &q, err);
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
    sk_sqlite__stmt_done(q);
    if (rc != SQLITE_DONE) {
        sk_nodes_free(nodes, n);
        return sk_sqlite__fail(s, rc, "reading the nodes", err);
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
    .run_insert = sk_sqlite__run_insert,
    .run_start = sk_sqlite__run_start,
    .run_pids = sk_sqlite__run_pids,
    .run_finish = sk_sqlite__run_finish,
    .run_get = sk_sqlite__run_get,
    .runs_query = sk_sqlite__runs_query,
    .run_last = sk_sqlite__run_last,
    .job_state_get = sk_sqlite__job_state_get,
    .job_state_set = sk_sqlite__job_state_set,
    .boot_claim = sk_sqlite__boot_claim,
    .prune = sk_sqlite__prune,
    .outputs_put = sk_sqlite__outputs_put,
    .outputs_get = sk_sqlite__outputs_get,
    .alert_insert = sk_sqlite__alert_insert,
    .alert_update = sk_sqlite__alert_update,
    .alerts_pending = sk_sqlite__alerts_pending,
    .alerts_query = sk_sqlite__alerts_query,
    .begin = sk_store__batch_begin,
    .commit = sk_store__batch_commit,
    .rollback = sk_store__batch_rollback,
    .leader = sq_leader,
    .node_beat = sq_node_beat,
    .nodes_list = sq_nodes_list,
    .cluster = NULL, /* one node per file (the lock file) */
};
