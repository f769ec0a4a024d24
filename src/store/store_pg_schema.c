/*
 * The PostgreSQL back end's schema: its migrations, and what opening a
 * store does with the schema it finds (sk_pg__schema_open for a writer,
 * sk_pg__schema_check for a reader). Separate from the session
 * (store_pg.c) because it changes with each new schema version (a
 * migration appended here and to store_sqlite.c) and with nothing else.
 */
#include "store_pg_int.h"

/* Taken by pg_advisory_xact_lock around schema creation and migration:
 * "sked" in ASCII, like the SQLite file's application_id. */
#define ADVISORY_KEY "1936418148"
/* How long a migration waits for another node's (the advisory lock). */
#define MIGRATE_LOCK_TIMEOUT "60s"

/*
 * Migrations, oldest first: migrations[i] takes the schema from version i to
 * i + 1, and version N here is the same schema as version N of
 * store_sqlite.c, in PostgreSQL's words: BIGINT for times and ids, ids from
 * identity columns (never reused), BOOLEAN for paused, outputs' keys in the
 * "C" collation so that they sort bytewise and compare as bytes. Each is
 * applied in one transaction with the new meta.schema_version. Never edit a
 * released entry: append a new one, to both back ends.
 */
static const char *const migrations[] = {
    /* 1: runs, job_state, meta. */
    "CREATE TABLE meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE runs (\n"
    "    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    job          TEXT NOT NULL,\n"
    "    step         TEXT,\n"
    "    status       TEXT NOT NULL,\n"
    "    \"trigger\"    TEXT NOT NULL,\n"
    "    attempt      INTEGER NOT NULL CHECK (attempt >= 1),\n"
    "    scheduled_at BIGINT NOT NULL,\n"
    "    queued_at    BIGINT,\n"
    "    started_at   BIGINT,\n"
    "    ended_at     BIGINT,\n"
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
    "    last_fire BIGINT NOT NULL DEFAULT 0,\n"
    "    paused    BOOLEAN NOT NULL DEFAULT false\n"
    ");\n",
    /* 2: workflow steps (parent_id), parameters, step outputs, alerts, and
     * the job state alerts need. */
    "ALTER TABLE runs ADD COLUMN parent_id BIGINT NOT NULL DEFAULT 0,\n"
    "                 ADD COLUMN params TEXT;\n"
    "CREATE INDEX runs_parent ON runs (parent_id, id) WHERE parent_id > 0;\n"
    "ALTER TABLE job_state ADD COLUMN last_outcome INTEGER NOT NULL DEFAULT -1,\n"
    "                      ADD COLUMN missed_alerted BIGINT NOT NULL DEFAULT 0;\n"
    "CREATE TABLE outputs (\n"
    "    run_id BIGINT NOT NULL,\n"
    "    key    TEXT COLLATE \"C\" NOT NULL,\n"
    "    value  TEXT NOT NULL,\n"
    "    PRIMARY KEY (run_id, key)\n"
    ");\n"
    "CREATE TABLE alerts (\n"
    "    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
    "    job        TEXT NOT NULL,\n"
    "    run_id     BIGINT NOT NULL DEFAULT 0,\n"
    "    event      TEXT NOT NULL,\n"
    "    channel    TEXT NOT NULL,\n"
    "    payload    TEXT NOT NULL,\n"
    "    state      TEXT NOT NULL,\n"
    "    attempts   INTEGER NOT NULL DEFAULT 0,\n"
    "    created_at BIGINT NOT NULL,\n"
    "    next_at    BIGINT,\n"
    "    done_at    BIGINT,\n"
    "    last_error TEXT\n"
    ");\n"
    "CREATE INDEX alerts_pending ON alerts (id) WHERE state = 'pending';\n"
    "CREATE INDEX alerts_job ON alerts (job, id);\n"
    "CREATE INDEX alerts_run ON alerts (run_id) WHERE run_id > 0;\n",
    /* 3: several nodes: who holds a run (node), what a node needs to take
     * it (pin, spec), a stop the leader asked for (cancel), the leader's
     * hand-off and take-back (dispatched, settled), and each node's
     * heart-beat (nodes). */
    "ALTER TABLE runs ADD COLUMN node TEXT,\n"
    "                 ADD COLUMN pin TEXT,\n"
    "                 ADD COLUMN spec TEXT,\n"
    "                 ADD COLUMN cancel TEXT,\n"
    "                 ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT false,\n"
    "                 ADD COLUMN settled BOOLEAN NOT NULL DEFAULT false;\n"
    "CREATE INDEX runs_claim ON runs (id) WHERE status = 'queued' AND dispatched;\n"
    "CREATE INDEX runs_unsettled ON runs (id) WHERE dispatched AND NOT settled;\n"
    "CREATE INDEX runs_node ON runs (node) WHERE status = 'running';\n"
    "CREATE TABLE nodes (\n"
    "    name         TEXT COLLATE \"C\" PRIMARY KEY,\n"
    "    labels       TEXT NOT NULL DEFAULT '',\n"
    "    max_parallel INTEGER,\n"
    "    api          TEXT,\n"
    "    pid          INTEGER,\n"
    "    version      TEXT,\n"
    "    started_at   BIGINT,\n"
    "    seen_at      BIGINT,\n"
    "    leader       BOOLEAN NOT NULL DEFAULT false\n"
    ");\n",
    /* 4: event triggers: the event that started a run, and which boot each
     * job's boot trigger last fired for. */
    "ALTER TABLE runs ADD COLUMN event TEXT;\n"
    "CREATE TABLE boot_fires (\n"
    "    job     TEXT COLLATE \"C\" PRIMARY KEY,\n"
    "    boot_id TEXT NOT NULL\n"
    ");\n",
};

#define SCHEMA_VERSION ((int)SK_ARRAY_LEN(migrations))

/*
 * Reads who the tables in the current schema (the first on the search_path
 * that exists) belong to, and the schema version, without writing. Fresh
 * means none of sked's table names is taken there: only then is the schema
 * created. Other tables beside sked's are fine (a shared database).
 */
static int identify(sk_pg_t *s, int64_t *ret_version, bool *ret_fresh, sk_err_t *err)
{
    char schema[128], taken[256];
    PGresult *res = NULL;
    int r = sk_pg__ensure_conn(s, err);
    if (r < 0)
        return r;
    res = PQexec(s->conn,
                 "SELECT current_schema(), "
                 "(SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_catalog.pg_class "
                 "c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
                 "current_schema() AND c.relname IN ('meta', 'runs', 'job_state', 'outputs', "
                 "'alerts', 'nodes')), "
                 "EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                 "AND tablename = 'meta')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        r = sk_pg__fail(s, res, "reading the schema", err);
        goto done;
    }
    if (PQgetisnull(res, 0, 0)) {
        r = sk_err_set(err, SK_ESTORE,
                       "%s: no schema to keep the store in (none of the search_path's schemas "
                       "exists); refusing to use it",
                       s->name);
        goto done;
    }
    sk_strlcpy(schema, PQgetvalue(res, 0, 0), sizeof(schema));
    sk_strlcpy(taken, PQgetvalue(res, 0, 1), sizeof(taken));
    bool has_meta = sk_streq(PQgetvalue(res, 0, 2), "t");
    bool none = PQgetisnull(res, 0, 1);
    PQclear(res);
    res = NULL;
    if (none) {
        *ret_version = 0;
        *ret_fresh = true;
        return 0;
    }
    if (!has_meta) {
        r = sk_err_set(err, SK_ESTORE,
                       "%s: schema %s has tables named like sked's (%s) but is not a sked store; "
                       "refusing to use it",
                       s->name, schema, taken);
        goto done;
    }
    res = PQexec(s->conn, "SELECT (SELECT value FROM meta WHERE key = 'application'), "
                          "(SELECT value FROM meta WHERE key = 'schema_version')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        char detail[200];
        sk_pg__clean(s, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), detail, sizeof(detail));
        r = sk_err_set(err, SK_ESTORE,
                       "%s: schema %s has a table meta that is not a sked store's (%s); refusing "
                       "to use it",
                       s->name, schema, detail);
        if (PQtransactionStatus(s->conn) == PQTRANS_INERROR)
            sk_store__abort(&s->core, err);
        goto done;
    }
    if (!sk_streq(PQgetvalue(res, 0, 0), "sked")) {
        r = sk_err_set(err, SK_ESTORE,
                       "%s: schema %s has a table meta but is not a sked store; refusing to use it",
                       s->name, schema);
        goto done;
    }
    char *end;
    const char *vs = PQgetvalue(res, 0, 1);
    errno = 0;
    long long version = strtoll(vs, &end, 10);
    if (PQgetisnull(res, 0, 1) || errno || *end || end == vs || version < 1) {
        r = sk_err_set(err, SK_ESTORE,
                       "%s: a sked store without a schema version (schema %s); refusing to use it",
                       s->name, schema);
        goto done;
    }
    if (version > SCHEMA_VERSION) {
        r = sk_err_set(err, SK_ESTORE,
                       "%s: schema version %lld is newer than this sked knows (%d); upgrade sked",
                       s->name, version, SCHEMA_VERSION);
        goto done;
    }
    *ret_version = version;
    *ret_fresh = false;
done:
    PQclear(res);
    return r;
}

/* Brings the schema from where it is to SCHEMA_VERSION in one transaction,
 * holding the advisory lock: a node that waited for it finds the work done. */
static int migrate(sk_pg_t *s, sk_err_t *err)
{
    char sql[512];
    int64_t from = 0;
    bool fresh = false;
    int r = sk_pg__exec_sql(s, "BEGIN", "starting the schema transaction", err);
    if (r == 0)
        r = sk_pg__exec_sql(s, "SET LOCAL lock_timeout = '" MIGRATE_LOCK_TIMEOUT "'",
                            "starting the schema transaction", err);
    if (r == 0)
        r = sk_pg__exec_sql(s, "SELECT pg_advisory_xact_lock(" ADVISORY_KEY ")",
                            "waiting for another node's schema change", err);
    /* Again, under the lock: another node may have got here first. */
    if (r == 0)
        r = identify(s, &from, &fresh, err);
    for (int v = (int)from; r == 0 && v < SCHEMA_VERSION; v++)
        r = sk_pg__exec_sql(s, migrations[v], "applying a schema migration", err);
    if (r == 0 && from < SCHEMA_VERSION) {
        sk_snprintf(sql, sizeof(sql),
                    "INSERT INTO meta (key, value) VALUES ('application', 'sked'), "
                    "('schema_version', '%d'), ('written_by', 'sked " SK_VERSION "')%s "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    SCHEMA_VERSION,
                    fresh ? ", ('created_at', to_char(now() AT TIME ZONE 'UTC', "
                            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
                          : "");
        r = sk_pg__exec_sql(s, sql, "writing the schema version", err);
    }
    if (r == 0)
        r = sk_pg__exec_sql(s, "COMMIT", "committing the schema", err);
    if (r < 0 && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return r;
}

int sk_pg__schema_open(sk_pg_t *s, sk_err_t *err)
{
    int64_t version = 0;
    bool fresh = false;
    /* Look before writing anything: a foreign or newer store is left
     * exactly as it is. */
    int r = identify(s, &version, &fresh, err);
    if (r == 0 && (fresh || version < SCHEMA_VERSION))
        r = migrate(s, err);
    return r;
}

int sk_pg__schema_check(sk_pg_t *s, sk_err_t *err)
{
    int64_t version = 0;
    bool fresh = false;
    int r = identify(s, &version, &fresh, err);
    if (r == 0 && fresh)
        r = sk_err_set(err, SK_ESTORE, "%s: the store is empty (the daemon has not set it up yet)",
                       s->name);
    else if (r == 0 && version < SCHEMA_VERSION)
        r = sk_err_set(err, SK_ESTORE,
                       "%s: schema version %" PRId64 " is older than this sked's (%d); start the "
                       "daemon once to upgrade it",
                       s->name, version, SCHEMA_VERSION);
    return r;
}

/* ---- for tests ---- */

int sk_store_pg__schema_version(void)
{
    return SCHEMA_VERSION;
}

const char *sk_store_pg__migration(int to)
{
    return to >= 1 && to <= SCHEMA_VERSION ? migrations[to - 1] : NULL;
}
