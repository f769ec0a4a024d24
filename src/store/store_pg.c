/*
 * The PostgreSQL back end of the store (sk_store_pg_ops), for several nodes
 * sharing one schedule: the tables, indexes, schema versions, messages and
 * semantics of store_sqlite.c, over libpq, synchronously, one connection per
 * store with its statements prepared on first use. Creating or migrating the
 * schema is one transaction under a transaction-level advisory lock, so
 * nodes that start together do it once; a read-only store is a session with
 * default_transaction_read_only=on. A password in the URL never reaches a
 * message: the store names itself postgres://user:***@host/db. A lost
 * connection fails the call in progress and is re-opened by the next one.
 * docs/internals/store.md describes the schema and the reasons.
 */
#include "store.h"
#include "store_int.h"

#include <libpq-fe.h>

/* Defined at the end of this file; store.c picks it for postgres:// URLs. */
extern const sk_store_ops_t sk_store_pg_ops;

/* Taken by pg_advisory_xact_lock around schema creation and migration:
 * "sked" in ASCII, like the SQLite file's application_id. */
#define ADVISORY_KEY "1936418148"
/* How long a migration waits for another node's (the advisory lock). */
#define MIGRATE_LOCK_TIMEOUT "60s"
/* Writers wait this long for a row lock, then fail (SQLite's busy_timeout). */
#define LOCK_TIMEOUT_MS 5000
/* A call never blocks the loop for long on a server that vanished: about
 * 4 s to connect, to get a write acknowledged, or to find an idle
 * connection dead. A node of a cluster must notice a cut-off well within
 * a third of lease_timeout (15 s by default) to stop its runs before
 * another node may start them (docs/internals/cluster.md). */
#define CONNECT_TIMEOUT "4"
#define MIN_SERVER_VERSION 100000 /* identity columns */
#define MAX_PARAMS 16

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
};

#define SCHEMA_VERSION ((int)SK_ARRAY_LEN(migrations))

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
    "dispatched, settled"
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
      "started_at, ended_at, exit_code, signal, pid, reason, log_path, parent_id, params) "        \
      "SELECT $1::text, $2::text, $3::text, $4::text, $5::integer, $6::bigint, $7::bigint, "       \
      "$8::bigint, $9::bigint, $10::integer, $11::integer, $12::integer, $13::text, $14::text, "   \
      "$15::bigint, $16::text "                                                                    \
      "WHERE ($15::bigint = 0 OR EXISTS (SELECT 1 FROM runs WHERE id = $15::bigint "               \
      "AND parent_id = 0 AND job = $1::text)) AND NOT ($5::integer = 1 AND $2::text IS NULL "      \
      "AND $4::text IN ('schedule', 'catchup') AND EXISTS (SELECT 1 FROM runs WHERE job = "        \
      "$1::text AND scheduled_at = $6::bigint AND attempt = 1 AND step IS NULL AND \"trigger\" "   \
      "IN ('schedule', 'catchup'))) "                                                              \
      "ON CONFLICT DO NOTHING RETURNING id")                                                       \
    X(ST_START, "UPDATE runs SET status = 'running', started_at = $2::bigint, pid = $3::integer, " \
                "log_path = $4::text WHERE id = $1::bigint AND status = 'queued'")                 \
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

/* ---- text ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..n) with %XX decoded (bad escapes kept as they are): new memory. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = sk_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

static bool is_secret(const sk_pg_t *s, const char *v)
{
    for (size_t i = 0; i < s->nsecrets; i++)
        if (sk_streq(s->secrets[i], v))
            return true;
    return false;
}

/* Keeps v[0..n) as written and percent-decoded. */
static void add_secret(sk_pg_t *s, const char *v, size_t n)
{
    char *forms[2] = {sk_xstrndup(v, n), pct_decode(v, n)};
    for (size_t i = 0; i < 2; i++) {
        if (!*forms[i] || is_secret(s, forms[i])) {
            free(forms[i]);
            continue;
        }
        s->secrets = sk_xrealloc(s->secrets, (s->nsecrets + 1) * sizeof(*s->secrets));
        s->secrets[s->nsecrets++] = forms[i];
    }
}

static bool is_secret_key(const char *k, size_t n)
{
    return (n == 8 && strncmp(k, "password", 8) == 0) ||
           (n == 11 && strncmp(k, "sslpassword", 11) == 0);
}

/*
 * Sets s->name to url with its passwords replaced by *** (the one in
 * user:password@, and password= or sslpassword= in the query), and keeps
 * the passwords in s->secrets, as written and percent-decoded, so that
 * clean() can take them out of libpq's messages, which may quote the URL.
 * libpq ends the credentials at the last '@' before the first '/'; here it
 * is the last '@' before the first '/' or the first '?', whichever comes
 * later, so that a password holding an unencoded '/' or '?' is still
 * found (pg_connect then refuses the URL, since libpq reads it otherwise).
 */
static void name_store(sk_pg_t *s, const char *url)
{
    sk_buf_t b = {0};
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    sk_buf_add(&b, url, (size_t)(auth - url));
    const char *limit = auth + SK_MAX(strcspn(auth, "/"), strcspn(auth, "?"));
    const char *at = NULL;
    for (const char *p = auth; p < limit; p++)
        if (*p == '@')
            at = p;
    const char *rest = auth;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            sk_buf_add(&b, auth, (size_t)(colon - auth));
            sk_buf_adds(&b, ":***");
            add_secret(s, colon + 1, (size_t)(at - colon - 1));
            s->url_password = true;
            rest = at;
        }
    }
    const char *q = strchr(rest, '?');
    if (!q) {
        sk_buf_adds(&b, rest);
    } else {
        sk_buf_add(&b, rest, (size_t)(q + 1 - rest));
        const char *p = q + 1;
        while (*p) {
            size_t len = strcspn(p, "&");
            const char *eq = memchr(p, '=', len);
            if (eq && is_secret_key(p, (size_t)(eq - p))) {
                sk_buf_add(&b, p, (size_t)(eq + 1 - p));
                sk_buf_adds(&b, "***");
                add_secret(s, eq + 1, len - (size_t)(eq + 1 - p));
            } else {
                sk_buf_add(&b, p, len);
            }
            p += len;
            if (*p == '&') {
                sk_buf_add(&b, "&", 1);
                p++;
            }
        }
    }
    s->name = sk_buf_take(&b, NULL);
}

/* Copies a libpq message into out[size] as one line (its newlines and tabs
 * become single spaces, the ends trimmed), with every secret as ***. */
static void clean(const sk_pg_t *s, const char *in, char *out, size_t size)
{
    sk_buf_t b = {0};
    bool space = false;
    if (!in)
        in = "";
    while (*in) {
        size_t hit = 0; /* the longest secret that starts here */
        for (size_t i = 0; i < s->nsecrets; i++) {
            size_t n = strlen(s->secrets[i]);
            if (n > hit && strncmp(in, s->secrets[i], n) == 0)
                hit = n;
        }
        if (hit) {
            if (space)
                sk_buf_add(&b, " ", 1);
            space = false;
            sk_buf_adds(&b, "***");
            in += hit;
        } else if (*in == ' ' || *in == '\n' || *in == '\t' || *in == '\r') {
            space = b.len > 0;
            in++;
        } else {
            if (space)
                sk_buf_add(&b, " ", 1);
            space = false;
            sk_buf_add(&b, in, 1);
            in++;
        }
    }
    char *t = sk_buf_take(&b, NULL);
    sk_strlcpy(out, t, size);
    free(t);
}

/* ---- errors ---- */

/* What an SQLSTATE means to the person reading the log. */
static const char *state_meaning(const char *st)
{
    static const struct {
        const char *prefix, *meaning;
    } rows[] = {
        {"53100", "disk full"},
        {"53200", "the server is out of memory"},
        {"53300", "too many connections"},
        {"53", "the server is out of resources"},
        {"08", "lost the connection to the server"},
        {"57P", "the server is shutting down or restarting"},
        {"57014", "took too long (statement timeout)"},
        {"55P03", "locked by another session for too long"},
        {"40", "conflict with a concurrent transaction"},
        {"25006", "cannot write (read-only transaction or standby server)"},
        {"42501", "permission denied"},
        {"42P01", "a table is missing (was the schema changed by hand?)"},
        {"42703", "a column is missing (was the schema changed by hand?)"},
        {"XX001", "the database is corrupt"},
        {"XX002", "the database is corrupt"},
        {"58", "I/O error"},
        {"22", "data the server refuses"},
    };
    for (size_t i = 0; st && i < SK_ARRAY_LEN(rows); i++)
        if (strncmp(st, rows[i].prefix, strlen(rows[i].prefix)) == 0)
            return rows[i].meaning;
    return "store error";
}

/* Fills err for a failed libpq call (res may be NULL) and returns SK_ESTORE:
 * "NAME: WHAT: disk full (could not extend file ...)". A failed statement
 * aborts PostgreSQL's transaction, and a lost connection takes it along:
 * either way it is rolled back here, with the batch it belonged to. */
static int pg_fail(sk_pg_t *s, const PGresult *res, const char *what, sk_err_t *err)
{
    char detail[300];
    sk_err_t local;
    if (!err)
        err = &local;
    sk_store__on_error(&s->core);
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(s->conn);
    clean(s, msg, detail, sizeof(detail));
    bool lost = PQstatus(s->conn) != CONNECTION_OK;
    sk_err_set(err, SK_ESTORE, "%s: %s: %s (%s)", s->name, what,
               lost ? "lost the connection to the server" : state_meaning(st), detail);
    if (lost || PQtransactionStatus(s->conn) == PQTRANS_INERROR)
        sk_store__abort(&s->core, err);
    return SK_ESTORE;
}

/* pg_fail + abort_tx, for write paths: a failed write always ends the
 * transaction (and the batch) it was in. */
static int write_fail(sk_pg_t *s, const PGresult *res, const char *what, sk_err_t *err)
{
    sk_err_t local;
    if (!err)
        err = &local;
    pg_fail(s, res, what, err);
    sk_store__abort(&s->core, err);
    return SK_ESTORE;
}

static int ensure_conn(sk_pg_t *s, sk_err_t *err);

/*
 * The writes only a leader makes (fires, dispatches, settles, job state):
 * once this store has led, refused unless the session that took the
 * leadership is still this one: after a reconnect (or a lost lead) another
 * node may lead, and a leader's writes must not interleave with its. A
 * node that never led is not fenced (it records its new jobs' state at
 * start).
 */
static int lead_gate(sk_pg_t *s, const char *what, sk_err_t *err)
{
    int r = sk_store__write_gate(&s->core, what, err);
    if (r == 0 && s->led) {
        r = ensure_conn(s, err);
        if (r == 0 && s->leader_pid != PQbackendPID(s->conn)) {
            sk_err_t local;
            if (!err)
                err = &local;
            sk_err_set(err, SK_ESTORE,
                       "%s: %s: this node's leadership ended with its lost connection", s->name,
                       what);
            sk_store__abort(&s->core, err);
            r = SK_ESTORE;
        }
    }
    return r;
}

/* "cannot connect to PostgreSQL at HOST:PORT: why". */
static int connect_fail(sk_pg_t *s, sk_err_t *err)
{
    char detail[300];
    const char *host = s->conn ? PQhost(s->conn) : NULL;
    const char *port = s->conn ? PQport(s->conn) : NULL;
    sk_store__on_error(&s->core);
    clean(s, s->conn ? PQerrorMessage(s->conn) : "out of memory", detail, sizeof(detail));
    return sk_err_set(err, SK_ESTORE, "%s: cannot connect to PostgreSQL at %s:%s: %s", s->name,
                      host && *host ? host : "localhost", port && *port ? port : "5432", detail);
}

/* Before every call: a connection that was lost is opened again (the
 * prepared statements go with the old session). A batch does not survive
 * that: pg_fail marked it failed when the loss was noticed, so that writes
 * now stop at write_gate while reads may go on. Should a batch still be
 * live here, the call fails rather than run outside it. */
static int ensure_conn(sk_pg_t *s, sk_err_t *err)
{
    if (PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    bool live_batch = s->core.in_batch && !s->core.batch_failed;
    PQreset(s->conn);
    memset(s->prepared, 0, sizeof(s->prepared));
    memset(s->qprepared, 0, sizeof(s->qprepared));
    if (PQstatus(s->conn) != CONNECTION_OK)
        return connect_fail(s, err);
    if (live_batch) {
        sk_store__on_error(&s->core);
        sk_err_set(err, SK_ESTORE,
                   "%s: the batch was rolled back: lost the connection to the "
                   "server",
                   s->name);
        sk_store__abort(&s->core, err);
        return SK_ESTORE;
    }
    return 0;
}

/* ---- statements ---- */

/* Parameters in text form; NULL is SQL NULL. */
typedef struct {
    int n;
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    char *own[MAX_PARAMS]; /* repaired free text (p_free_text); p_release frees it */
} params_t;

static void p_text(params_t *p, const char *v)
{
    SK_ASSERT(p->n < MAX_PARAMS);
    p->v[p->n++] = v;
}

static void p_i64(params_t *p, int64_t v)
{
    SK_ASSERT(p->n < MAX_PARAMS);
    sk_snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

/* Free text as the store keeps it (sk_store__text_repair); a repaired copy
 * lives until p_release. */
static void p_free_text(params_t *p, const char *v)
{
    SK_ASSERT(p->n < MAX_PARAMS);
    p->v[p->n] = sk_store__text_repair(v, &p->own[p->n]);
    p->n++;
}

static void p_release(params_t *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->own[i]);
}

/* 0 (unset) is stored as NULL. */
static void p_time(params_t *p, int64_t v)
{
    if (v)
        p_i64(p, v);
    else
        p_text(p, NULL);
}

static void p_int_or_null(params_t *p, int v, int none)
{
    if (v != none)
        p_i64(p, v);
    else
        p_text(p, NULL);
}

/* exec_named, one attempt. */
static int exec_named_once(sk_pg_t *s, const char *name, const char *sql, bool *prepared,
                           const params_t *p, PGresult **ret, const char *what, sk_err_t *err)
{
    int r = ensure_conn(s, err);
    if (r < 0)
        return r;
    if (!*prepared) {
        PGresult *pr = PQprepare(s->conn, name, sql, 0, NULL);
        if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
            r = pg_fail(s, pr, what, err);
            PQclear(pr);
            return r;
        }
        PQclear(pr);
        *prepared = true;
    }
    PGresult *res = PQexecPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        r = pg_fail(s, res, what, err);
        PQclear(res);
        return r;
    }
    *ret = res;
    return 0;
}

/* Runs the statement `sql` (prepared as `name` unless *prepared) with p.
 * On success *ret is the result (PQclear); on failure pg_fail has run. A
 * read-only store (the API's readers, the CLI) tries a statement again once
 * on a new connection when the server ended the old one while it was idle
 * (a database restart): a read has nothing to lose by it, and the first
 * call after a restart is the one that finds out. */
static int exec_named(sk_pg_t *s, const char *name, const char *sql, bool *prepared,
                      const params_t *p, PGresult **ret, const char *what, sk_err_t *err)
{
    int r = exec_named_once(s, name, sql, prepared, p, ret, what, err);
    if (r < 0 && s->core.readonly && PQstatus(s->conn) != CONNECTION_OK) {
        sk_err_clear(err);
        r = exec_named_once(s, name, sql, prepared, p, ret, what, err);
    }
    return r;
}

static int exec_stmt(sk_pg_t *s, stmt_id_t id, const params_t *p, PGresult **ret, const char *what,
                     sk_err_t *err)
{
    char name[16];
    sk_snprintf(name, sizeof(name), "sked_%d", (int)id);
    return exec_named(s, name, stmt_sql[id], &s->prepared[id], p, ret, what, err);
}

/* exec_stmt for writes: a failure ends the transaction and the batch. */
static int exec_write(sk_pg_t *s, stmt_id_t id, const params_t *p, PGresult **ret, const char *what,
                      sk_err_t *err)
{
    sk_err_t local;
    if (!err)
        err = &local;
    int r = exec_stmt(s, id, p, ret, what, err);
    if (r < 0)
        sk_store__abort(&s->core, err);
    return r;
}

/* Runs sql (no parameters; may be several statements). */
static int exec_sql(sk_pg_t *s, const char *sql, const char *what, sk_err_t *err)
{
    int r = ensure_conn(s, err);
    if (r < 0)
        return r;
    PGresult *res = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        r = pg_fail(s, res, what, err);
    PQclear(res);
    return r;
}

/* The number of rows an INSERT, UPDATE or DELETE changed. */
static long changes(const PGresult *res)
{
    return strtol(PQcmdTuples((PGresult *)res), NULL, 10);
}

static int64_t get_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int get_int_or(const PGresult *res, int row, int col, int none)
{
    if (PQgetisnull(res, row, col))
        return none;
    return (int)strtol(PQgetvalue(res, row, col), NULL, 10);
}

static char *get_str(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return sk_xstrdup(PQgetvalue(res, row, col));
}

/* Reads row (RUN_COLS) into *ret: new strings. */
static int read_run(sk_pg_t *s, const PGresult *res, int row, sk_run_t *ret, sk_err_t *err)
{
    sk_run_t r;
    memset(&r, 0, sizeof(r));
    r.id = get_i64(res, row, 0);
    int rc = sk_store__read_status(&s->core, r.id, PQgetvalue(res, row, 3), &r.status, err);
    if (rc == 0)
        rc = sk_store__read_trigger(&s->core, r.id, PQgetvalue(res, row, 4), &r.trigger, err);
    if (rc < 0)
        return rc;
    r.job = get_str(res, row, 1);
    r.step = get_str(res, row, 2);
    r.attempt = get_int_or(res, row, 5, 0);
    r.scheduled_at = get_i64(res, row, 6);
    r.queued_at = get_i64(res, row, 7);
    r.started_at = get_i64(res, row, 8);
    r.ended_at = get_i64(res, row, 9);
    r.exit_code = get_int_or(res, row, 10, -1);
    r.signal = get_int_or(res, row, 11, 0);
    r.pid = get_int_or(res, row, 12, 0);
    r.reason = get_str(res, row, 13);
    r.log_path = get_str(res, row, 14);
    r.parent_id = get_i64(res, row, 15);
    r.params = get_str(res, row, 16);
    r.node = get_str(res, row, 17);
    r.spec = get_str(res, row, 18);
    r.cancel = get_str(res, row, 19);
    r.dispatched = sk_streq(PQgetvalue(res, row, 20), "t");
    r.settled = sk_streq(PQgetvalue(res, row, 21), "t");
    if (!r.job)
        r.job = sk_xstrdup("");
    *ret = r;
    return 0;
}

/* ---- opening ---- */

static void pg_close(sk_store_t *st)
{
    sk_pg_t *s = (sk_pg_t *)st;
    if (!s)
        return;
    if (s->conn) {
        if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
            PQclear(PQexec(s->conn, "ROLLBACK"));
        PQfinish(s->conn);
    }
    for (size_t i = 0; i < s->nsecrets; i++)
        free(s->secrets[i]);
    free(s->secrets);
    free(s->name);
    free(s->chan);
    free(s);
}

/* NOTICE and WARNING messages would go to stderr; the store says what it
 * has to say through its errors. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/*
 * Connects with the URL's settings, and these of ours: a connect timeout
 * (unless the URL or PGCONNECT_TIMEOUT sets one) and TCP keepalives and a
 * user timeout, so that a server that vanished without a word costs about
 * 4 s, not the kernel's two hours (the URL may override all four);
 * UTF-8 on the wire; and server options before the URL's own (which may
 * override them): lock_timeout (a writer does not wait forever for another
 * node's row lock) and synchronous_commit=on (a write acknowledged is on
 * the disk); after them, for a reader, default_transaction_read_only=on.
 */
static int pg_connect(sk_pg_t *s, const char *url, sk_err_t *err)
{
    static const char hint[] = "percent-encode characters such as @ : / ? in its user name, "
                               "password and database name";
    char *errmsg = NULL, detail[300];
    PQconninfoOption *opts = PQconninfoParse(url, &errmsg);
    if (!opts) {
        /* libpq's message quotes the URL, and a password it did not find
         * where we did would be in it whole or in parts. */
        clean(s, errmsg ? errmsg : "out of memory", detail, sizeof(detail));
        PQfreemem(errmsg);
        if (s->nsecrets)
            return sk_err_set(err, SK_ESTORE, "%s: not a valid PostgreSQL URL: %s", s->name, hint);
        return sk_err_set(err, SK_ESTORE, "%s: not a valid PostgreSQL URL: %s", s->name, detail);
    }
    const char *user_opts = getenv("PGOPTIONS");
    const char *password = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (sk_streq(o->keyword, "options") && o->val && *o->val)
            user_opts = o->val;
        if (sk_streq(o->keyword, "password") && o->val && *o->val)
            password = o->val;
    }
    /* libpq found a password elsewhere than we did, or none where we found
     * one: our name for the store could show it, so it shows nothing. */
    if ((password && !is_secret(s, password)) || (s->url_password && !password)) {
        PQconninfoFree(opts);
        free(s->name);
        s->name = sk_xstrdup("store");
        s->core.name = s->name;
        return sk_err_set(err, SK_ESTORE,
                          "store: not a valid PostgreSQL URL: %s (it is not "
                          "repeated here: it may hold a password)",
                          hint);
    }
    sk_buf_t b = {0};
    char mine[64];
    sk_snprintf(mine, sizeof(mine), "-c lock_timeout=%d -c synchronous_commit=on", LOCK_TIMEOUT_MS);
    sk_buf_adds(&b, mine);
    if (user_opts && *user_opts) {
        sk_buf_adds(&b, " ");
        sk_buf_adds(&b, user_opts);
    }
    if (s->core.readonly)
        sk_buf_adds(&b, " -c default_transaction_read_only=on");
    char *options = sk_buf_take(&b, NULL);
    PQconninfoFree(opts);

    const char *timeout = getenv("PGCONNECT_TIMEOUT") ? "" : CONNECT_TIMEOUT;
    /* Before dbname, the URL's own settings override ours; after it, ours
     * win. */
    const struct {
        const char *key, *val;
    } kv[] = {
        {"connect_timeout", timeout},
        {"keepalives_idle", "2"},
        {"keepalives_interval", "1"},
        {"keepalives_count", "2"},
        {"tcp_user_timeout", "4000"},
        {"fallback_application_name", "sked"},
        {"dbname", url},
        {"options", options},
        {"client_encoding", "UTF8"},
    };
    const char *keys[SK_ARRAY_LEN(kv) + 1], *vals[SK_ARRAY_LEN(kv) + 1];
    for (size_t i = 0; i < SK_ARRAY_LEN(kv); i++) {
        keys[i] = kv[i].key;
        vals[i] = kv[i].val;
    }
    keys[SK_ARRAY_LEN(kv)] = vals[SK_ARRAY_LEN(kv)] = NULL;
    s->conn = PQconnectdbParams(keys, vals, 1);
    free(options);
    if (!s->conn)
        sk_panic("%s: libpq is out of memory", s->name);
    PQsetNoticeProcessor(s->conn, quiet, NULL);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return connect_fail(s, err);
    int v = PQserverVersion(s->conn);
    if (v < MIN_SERVER_VERSION)
        return sk_err_set(err, SK_ESTORE, "%s: PostgreSQL %d.%d is too old: sked needs 10 or newer",
                          s->name, v / 10000, v % 10000 / 100);
    /* Text is sent as UTF-8; a database in another encoding could refuse
     * some of it, and only in the middle of a batch. */
    const char *enc = PQparameterStatus(s->conn, "server_encoding");
    if (!sk_streq(enc, "UTF8") && !sk_streq(enc, "SQL_ASCII"))
        return sk_err_set(err, SK_ESTORE,
                          "%s: the database's encoding is %s; sked needs UTF8 (CREATE DATABASE "
                          "... ENCODING 'UTF8')",
                          s->name, enc ? enc : "unknown");
    return 0;
}

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
    int r = ensure_conn(s, err);
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
        r = pg_fail(s, res, "reading the schema", err);
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
        clean(s, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), detail, sizeof(detail));
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
    int r = exec_sql(s, "BEGIN", "starting the schema transaction", err);
    if (r == 0)
        r = exec_sql(s, "SET LOCAL lock_timeout = '" MIGRATE_LOCK_TIMEOUT "'",
                     "starting the schema transaction", err);
    if (r == 0)
        r = exec_sql(s, "SELECT pg_advisory_xact_lock(" ADVISORY_KEY ")",
                     "waiting for another node's schema change", err);
    /* Again, under the lock: another node may have got here first. */
    if (r == 0)
        r = identify(s, &from, &fresh, err);
    for (int v = (int)from; r == 0 && v < SCHEMA_VERSION; v++)
        r = exec_sql(s, migrations[v], "applying a schema migration", err);
    if (r == 0 && from < SCHEMA_VERSION) {
        sk_snprintf(sql, sizeof(sql),
                    "INSERT INTO meta (key, value) VALUES ('application', 'sked'), "
                    "('schema_version', '%d'), ('written_by', 'sked " SK_VERSION "')%s "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    SCHEMA_VERSION,
                    fresh ? ", ('created_at', to_char(now() AT TIME ZONE 'UTC', "
                            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
                          : "");
        r = exec_sql(s, sql, "writing the schema version", err);
    }
    if (r == 0)
        r = exec_sql(s, "COMMIT", "committing the schema", err);
    if (r < 0 && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    return r;
}

/* ---- transactions, for the shared layer ---- */

static int pg_tx_begin(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    return exec_sql((sk_pg_t *)c, "BEGIN", what, err);
}

static int pg_tx_commit(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)c;
    sk_err_t local;
    int r = 0;
    if (!err)
        err = &local;
    /* Never on a new session (ensure_conn): the transaction was the old one's. */
    PGresult *res = PQexec(s->conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        r = write_fail(s, res, what, err);
    } else if (!sk_streq(PQcmdStatus(res), "COMMIT")) {
        /* COMMIT of a transaction that had failed says ROLLBACK; every
         * failure rolls back at once, so this is a bug. */
        sk_store__on_error(&s->core);
        r = sk_err_set(err, SK_ESTORE, "%s: %s: the server rolled the transaction back", s->name,
                       what);
        sk_store__abort(&s->core, err);
    }
    PQclear(res);
    return r;
}

static int pg_tx_rollback(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)c;
    int r = 0;
    PGTransactionStatusType ts = PQtransactionStatus(s->conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        PGresult *res = PQexec(s->conn, "ROLLBACK");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            r = pg_fail(s, res, what, err);
        PQclear(res);
    }
    return r;
}

static void pg_tx_abort(sk_store_core_t *c)
{
    sk_pg_t *s = (sk_pg_t *)c;
    PGTransactionStatusType ts = PQtransactionStatus(s->conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

static const sk_store_tx_ops_t pg_tx = {
    .begin = pg_tx_begin,
    .commit = pg_tx_commit,
    .rollback = pg_tx_rollback,
    .abort = pg_tx_abort,
};

/* A store for url, not yet connected: SK_ESTORE from the fault-injection
 * hook's setting (the store is then closed). */
static int pg_new(const char *url, bool readonly, sk_pg_t **ret, sk_err_t *err)
{
    sk_pg_t *s = sk_xcalloc(1, sizeof(*s));
    name_store(s, url);
    int r = sk_store__core_init(&s->core, &sk_store_pg_ops, &pg_tx, s->name, readonly, err);
    if (r < 0) {
        pg_close(&s->core.base);
        return r;
    }
    *ret = s;
    return 0;
}

static int pg_open(const char *url, sk_store_t **ret, sk_err_t *err)
{
    int64_t version = 0;
    bool fresh = false;
    sk_err_t local;
    if (!err)
        err = &local;
    if (!url || !*url)
        return sk_err_set(err, SK_ESTORE, "no store path given");
    sk_pg_t *s = NULL;
    int r = pg_new(url, false, &s, err);
    if (r < 0)
        return r;
    r = pg_connect(s, url, err);
    /* Look before writing anything: a foreign or newer store is left
     * exactly as it is. */
    if (r == 0)
        r = identify(s, &version, &fresh, err);
    if (r == 0 && (fresh || version < SCHEMA_VERSION))
        r = migrate(s, err);
    if (r < 0) {
        pg_close(&s->core.base);
        return r;
    }
    *ret = &s->core.base;
    return 0;
}

static int pg_open_readonly(const char *url, sk_store_t **ret, sk_err_t *err)
{
    int64_t version = 0;
    bool fresh = false;
    sk_err_t local;
    if (!err)
        err = &local;
    if (!url || !*url)
        return sk_err_set(err, SK_ESTORE, "no store path given");
    sk_pg_t *s = NULL;
    int r = pg_new(url, true, &s, err);
    if (r < 0)
        return r;
    r = pg_connect(s, url, err);
    if (r == 0)
        r = identify(s, &version, &fresh, err);
    if (r == 0 && fresh)
        r = sk_err_set(err, SK_ESTORE, "%s: the store is empty (the daemon has not set it up yet)",
                       s->name);
    else if (r == 0 && version < SCHEMA_VERSION)
        r = sk_err_set(err, SK_ESTORE,
                       "%s: schema version %" PRId64 " is older than this sked's (%d); start the "
                       "daemon once to upgrade it",
                       s->name, version, SCHEMA_VERSION);
    if (r < 0) {
        pg_close(&s->core.base);
        return r;
    }
    *ret = &s->core.base;
    return 0;
}

/* ---- runs ---- */

static int pg_run_insert(sk_store_t *st, sk_run_t *run, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_run(&s->core, run, err);
    if (r == 0)
        r = lead_gate(s, "recording a run", err);
    if (r < 0)
        return r;
    p_text(&p, run->job);
    p_text(&p, run->step);
    p_text(&p, sk_run_status_str(run->status));
    p_text(&p, sk_trigger_str(run->trigger));
    p_i64(&p, run->attempt);
    p_i64(&p, run->scheduled_at);
    p_time(&p, run->queued_at);
    p_time(&p, run->started_at);
    p_time(&p, run->ended_at);
    p_int_or_null(&p, run->exit_code, -1);
    p_int_or_null(&p, run->signal, 0);
    p_int_or_null(&p, run->pid, 0);
    p_free_text(&p, run->reason);
    p_text(&p, run->log_path);
    p_i64(&p, run->parent_id);
    p_text(&p, run->params);
    r = exec_write(s, ST_INSERT, &p, &res, "recording a run", err);
    p_release(&p);
    if (r < 0)
        return r;
    int rows = PQntuples(res);
    int64_t id = rows > 0 ? get_i64(res, 0, 0) : 0;
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
static int run_status(sk_pg_t *s, int64_t id, sk_run_status_t *ret_status, sk_err_t *err)
{
    PGresult *res = NULL;
    params_t p = {0};
    p_i64(&p, id);
    int r = exec_stmt(s, ST_STATUS, &p, &res, "reading a run", err);
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

static int pg_run_start(sk_store_t *st, int64_t id, int64_t started_at, int pid,
                        const char *log_path, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    sk_run_status_t cur;
    int r = sk_store__text_check(&s->core, err, 1, "the log path", log_path);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a start", err);
    if (r < 0)
        return r;
    p_i64(&p, id);
    p_time(&p, started_at);
    p_int_or_null(&p, pid, 0);
    p_text(&p, log_path);
    r = exec_write(s, ST_START, &p, &res, "recording a start", err);
    if (r < 0)
        return r;
    long changed = changes(res);
    PQclear(res);
    if (changed > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
        return r;
    return sk_store__not_queued(&s->core, id, cur, "start", err);
}

static int pg_run_finish(sk_store_t *st, int64_t id, sk_run_status_t status, int64_t ended_at,
                         int exit_code, int signal, const char *reason, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    sk_run_status_t cur;
    int r = sk_store__check_finish(&s->core, id, status, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an outcome", err);
    if (r < 0)
        return r;
    p_i64(&p, id);
    p_text(&p, sk_run_status_str(status));
    p_time(&p, ended_at);
    p_int_or_null(&p, exit_code, -1);
    p_int_or_null(&p, signal, 0);
    p_free_text(&p, reason);
    r = exec_write(s, ST_FINISH, &p, &res, "recording an outcome", err);
    p_release(&p);
    if (r < 0)
        return r;
    long changed = changes(res);
    PQclear(res);
    if (changed > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
        return r;
    return sk_store__has_outcome(&s->core, id, cur, err);
}

/* Runs statement id (returning RUN_COLS) and reads its one row into *ret;
 * SK_ENOTFOUND with what_missing when there is none. */
static int fetch_one(sk_pg_t *s, stmt_id_t id, const params_t *p, sk_run_t *ret,
                     const char *what_missing, sk_err_t *err)
{
    PGresult *res = NULL;
    int r = exec_stmt(s, id, p, &res, "reading runs", err);
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
static int read_runs(sk_pg_t *s, const PGresult *res, sk_run_t **ret, size_t *ret_n, sk_err_t *err)
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

/* Runs statement id (returning RUN_COLS) into new memory. */
static int fetch_runs(sk_pg_t *s, stmt_id_t id, const params_t *p, sk_run_t **ret, size_t *ret_n,
                      sk_err_t *err)
{
    PGresult *res = NULL;
    int r = exec_stmt(s, id, p, &res, "reading runs", err);
    if (r < 0)
        return r;
    r = read_runs(s, res, ret, ret_n, err);
    PQclear(res);
    return r;
}

static int pg_run_get(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    char missing[64];
    p_i64(&p, id);
    sk_snprintf(missing, sizeof(missing), "no run %" PRId64, id);
    return fetch_one(s, ST_GET, &p, ret, missing, err);
}

static int pg_run_last(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    params_t p = {0};
    char missing[300];
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: run_last needs a job", s->name);
    if (!sk_store__text_ok(job))
        return sk_err_set(err, SK_ENOTFOUND, "job %s has no runs", job);
    p_text(&p, job);
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

static int pg_runs_query(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret, size_t *ret_n,
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
    p_i64(&p, f->before_id > 0 ? f->before_id : INT64_MAX);
    p_i64(&p, (int64_t)limit);
    if (which & Q_JOB)
        p_text(&p, f->job);
    if (which & Q_PARENT)
        p_i64(&p, f->parent_id);
    if (which & Q_STATUS)
        p_text(&p, sk_run_status_str(f->status));
    if (which & Q_SINCE)
        p_i64(&p, f->since);
    query_sql(which, sql, sizeof(sql));
    sk_snprintf(name, sizeof(name), "sked_q%d", which);
    r = exec_named(s, name, sql, &s->qprepared[which], &p, &res, "reading runs", err);
    if (r < 0)
        return r;
    r = read_runs(s, res, ret, ret_n, err);
    PQclear(res);
    return r;
}

/* ---- job state ---- */

static int pg_job_state_get(sk_store_t *st, const char *job, sk_job_state_t *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    if (!job)
        return sk_err_set(err, -EINVAL, "%s: job_state_get needs a job", s->name);
    int r = 0;
    if (sk_store__text_ok(job)) { /* else never seen: it could not be stored */
        p_text(&p, job);
        r = exec_stmt(s, ST_STATE_GET, &p, &res, "reading a job's state", err);
        if (r < 0)
            return r;
    }
    if (res && PQntuples(res) > 0) {
        int outcome = get_int_or(res, 0, 2, -1);
        r = sk_store__read_outcome(&s->core, job, outcome, err);
        if (r == 0) {
            ret->last_fire = get_i64(res, 0, 0);
            ret->paused = sk_streq(PQgetvalue(res, 0, 1), "t");
            ret->last_outcome = outcome;
            ret->missed_alerted = get_i64(res, 0, 3);
        }
    } else {
        sk_store__job_state_none(ret);
    }
    PQclear(res);
    return r;
}

static int pg_job_state_set(sk_store_t *st, const char *job, const sk_job_state_t *js,
                            sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_job_state(&s->core, job, js, err);
    if (r == 0)
        r = lead_gate(s, "recording a job's state", err);
    if (r < 0)
        return r;
    p_text(&p, job);
    p_i64(&p, js->last_fire);
    p_text(&p, js->paused ? "true" : "false");
    p_i64(&p, js->last_outcome);
    p_i64(&p, js->missed_alerted);
    r = exec_write(s, ST_STATE_SET, &p, &res, "recording a job's state", err);
    PQclear(res);
    return r;
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
    p_text(&p, job);
    p_i64(&p, (int64_t)SK_MIN(keep_runs, (size_t)INT64_MAX));
    int r = exec_stmt(s, ST_PRUNE_KEEP, &p, &res, "pruning runs", err);
    if (r < 0)
        return r;
    if (PQntuples(res) > 0)
        *ret = get_i64(res, 0, 0); /* the first one to delete */
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
    p_text(&p, job);
    p_i64(&p, max_id);
    p_i64(&p, ended_before > 0 ? ended_before : INT64_MIN);
    p_i64(&p, SK_STORE_PRUNE_CHUNK);
    int r = exec_stmt(s, ST_PRUNE_PICK, &p, &res, "pruning runs", err);
    if (r < 0)
        return r;
    size_t picked = (size_t)PQntuples(res);
    for (size_t i = 0; i < picked; i++) {
        sk_store__victims_push(vs, get_i64(res, (int)i, 0), get_str(res, (int)i, 1), false);
        *horizon = SK_MAX(*horizon, get_i64(res, (int)i, 2));
    }
    PQclear(res);
    res = NULL;
    *ret_picked = picked;
    if (picked == 0)
        return 0;
    /* The steps of the picked runs, which are vs[0..picked). */
    ids = id_array(vs, 0);
    p = (params_t){0};
    p_text(&p, ids);
    r = exec_stmt(s, ST_PRUNE_STEPS, &p, &res, "pruning runs", err);
    if (r < 0)
        goto done;
    for (int i = 0; i < PQntuples(res); i++)
        sk_store__victims_push(vs, get_i64(res, i, 0), get_str(res, i, 1), false);
    PQclear(res);
    res = NULL;
    free(ids);
    ids = id_array(vs, 0);
    p = (params_t){0};
    p_text(&p, ids);
    r = exec_stmt(s, ST_PRUNE_OUTPUTS, &p, &res, "pruning outputs", err);
    PQclear(res);
    res = NULL;
    if (r == 0)
        r = exec_stmt(s, ST_PRUNE_RUN_ALERTS, &p, &res, "pruning alerts", err);
    PQclear(res);
    res = NULL;
    if (r == 0)
        r = exec_stmt(s, ST_PRUNE_DELETE, &p, &res, "pruning runs", err);
    if (r < 0)
        goto done;
    size_t n = (size_t)PQntuples(res);
    gone = sk_xmalloc((n ? n : 1) * sizeof(*gone));
    for (size_t i = 0; i < n; i++)
        gone[i] = get_i64(res, (int)i, 0);
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
    p_text(&p, job);
    p_i64(&p, horizon);
    int r = exec_stmt(s, ST_PRUNE_ALERTS, &p, &res, "pruning alerts", err);
    PQclear(res);
    return r;
}

static const sk_store_prune_ops_t pg_prune_ops = {
    .cutoff = prune_cutoff,
    .chunk = prune_chunk,
    .alerts = prune_alerts,
};

static int pg_prune(sk_store_t *st, const char *job, size_t keep_runs, int64_t ended_before,
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
    p_i64(&p, id);
    int r = exec_stmt(s, ST_EXISTS, &p, &res, "reading a run", err);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0)
        r = sk_err_set(err, SK_ENOTFOUND, "%s: no run %" PRId64, s->name, id);
    PQclear(res);
    return r;
}

static int pg_outputs_put(sk_store_t *st, int64_t run_id, const sk_output_t *o, size_t n,
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
        r = pg_tx_begin(&s->core, "recording outputs", err);
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
    p_i64(&p, run_id);
    if (r == 0)
        r = exec_stmt(s, ST_OUT_DELETE, &p, &res, "recording outputs", err);
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
        p_text(&p, keys);
        p_text(&p, values);
        r = exec_stmt(s, ST_OUT_INSERT, &p, &res, "recording outputs", err);
        PQclear(res);
        res = NULL;
    }
    if (r == 0 && own_tx)
        r = pg_tx_commit(&s->core, "recording outputs", err);
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

static int pg_outputs_get(sk_store_t *st, int64_t run_id, sk_output_t **ret, size_t *ret_n,
                          sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    p_i64(&p, run_id);
    int r = exec_stmt(s, ST_OUT_GET, &p, &res, "reading outputs", err);
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
    a.id = get_i64(res, row, 0);
    int r = sk_store__read_alert_state(&s->core, a.id, PQgetvalue(res, row, 6), &a.state, err);
    if (r < 0)
        return r;
    a.job = get_str(res, row, 1);
    a.run_id = get_i64(res, row, 2);
    a.event = get_str(res, row, 3);
    a.channel = get_str(res, row, 4);
    a.payload = get_str(res, row, 5);
    a.attempts = get_int_or(res, row, 7, 0);
    a.created_at = get_i64(res, row, 8);
    a.next_at = get_i64(res, row, 9);
    a.done_at = get_i64(res, row, 10);
    a.last_error = get_str(res, row, 11);
    *ret = a;
    return 0;
}

/* Runs statement id (returning ALERT_COLS) into new memory. */
static int fetch_alerts(sk_pg_t *s, stmt_id_t id, const params_t *p, sk_alert_rec_t **ret,
                        size_t *ret_n, sk_err_t *err)
{
    PGresult *res = NULL;
    int r = exec_stmt(s, id, p, &res, "reading alerts", err);
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

static int pg_alert_insert(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_alert(&s->core, a, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording an alert", err);
    if (r < 0)
        return r;
    p_text(&p, a->job);
    p_i64(&p, a->run_id);
    p_text(&p, a->event);
    p_text(&p, a->channel);
    p_text(&p, a->payload);
    p_text(&p, sk_alert_state_str(a->state));
    p_i64(&p, a->attempts);
    p_i64(&p, a->created_at);
    p_time(&p, a->next_at);
    p_time(&p, a->done_at);
    p_free_text(&p, a->last_error);
    r = exec_write(s, ST_ALERT_INSERT, &p, &res, "recording an alert", err);
    p_release(&p);
    if (r < 0)
        return r;
    a->id = get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

static int pg_alert_update(sk_store_t *st, int64_t id, sk_alert_state_t state, int attempts,
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
    p_i64(&p, id);
    p_text(&p, sk_alert_state_str(state));
    p_i64(&p, attempts);
    p_time(&p, next_at);
    p_time(&p, done_at);
    p_free_text(&p, error);
    r = exec_write(s, ST_ALERT_UPDATE, &p, &res, "recording an alert delivery", err);
    p_release(&p);
    if (r < 0)
        return r;
    long changed = changes(res);
    PQclear(res);
    if (changed == 0)
        return sk_err_set(err, SK_ENOTFOUND, "%s: no alert %" PRId64, s->name, id);
    return 0;
}

static int pg_alerts_pending(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err)
{
    return fetch_alerts((sk_pg_t *)st, ST_ALERT_PENDING, NULL, ret, ret_n, err);
}

static int pg_alerts_query(sk_store_t *st, const char *job, size_t limit, sk_alert_rec_t **ret,
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
        p_text(&p, job);
    p_i64(&p, (int64_t)limit);
    return fetch_alerts(s, job ? ST_ALERT_QUERY_JOB : ST_ALERT_QUERY_ALL, &p, ret, ret_n, err);
}

/* ---- for tests ---- */

/* The connection of a store opened by sk_store_pg_ops (borrowed). */
PGconn *sk_store_pg__conn(sk_store_t *st)
{
    SK_ASSERT(st && st->ops == &sk_store_pg_ops);
    return ((sk_pg_t *)st)->conn;
}

int sk_store_pg__schema_version(void)
{
    return SCHEMA_VERSION;
}

const char *sk_store_pg__migration(int to)
{
    return to >= 1 && to <= SCHEMA_VERSION ? migrations[to - 1] : NULL;
}

/* The leadership is a session-level advisory lock keyed by the schema (so
 * that stores in several schemas of one database each have theirs) and
 * "sked" in ASCII. The session that took it only checks that it is alive
 * (taking it again would count the lock up). */
#define LEADER_TRY "SELECT pg_try_advisory_lock(hashtext(current_schema()), 1936417636)"

static int pg_leader(sk_store_t *st, bool *ret, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    *ret = false;
    int r = ensure_conn(s, err);
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
        r = pg_fail(s, res, "checking the leadership", err);
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

static int pg_node_beat(sk_store_t *st, const sk_node_t *n, int64_t *server_now, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    int r = sk_store__check_node(&s->core, n, err);
    if (r == 0)
        r = sk_store__write_gate(&s->core, "recording a heart-beat", err);
    if (r < 0)
        return r;
    p_text(&p, n->name);
    p_text(&p, n->labels ? n->labels : "");
    p_i64(&p, n->max_parallel);
    p_text(&p, n->api);
    p_int_or_null(&p, n->pid, 0);
    p_text(&p, n->version);
    p_text(&p, n->leader ? "true" : "false");
    r = exec_write(s, ST_NODE_BEAT, &p, &res, "recording a heart-beat", err);
    if (r < 0)
        return r;
    if (server_now)
        *server_now = get_i64(res, 0, 0);
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
    n.name = get_str(res, row, 0);
    n.labels = get_str(res, row, 1);
    n.max_parallel = get_int_or(res, row, 2, 0);
    n.api = get_str(res, row, 3);
    n.pid = get_int_or(res, row, 4, 0);
    n.version = get_str(res, row, 5);
    n.started_at = get_i64(res, row, 6);
    n.seen_at = get_i64(res, row, 7);
    n.leader = sk_streq(PQgetvalue(res, row, 8), "t");
    n.age_ms = get_i64(res, row, 9);
    n.running = get_int_or(res, row, 10, 0);
    if (!n.name)
        n.name = sk_xstrdup("");
    if (!n.labels)
        n.labels = sk_xstrdup("");
    *ret = n;
}

static int pg_nodes_list(sk_store_t *st, int64_t forget_ms, sk_node_t **ret, size_t *ret_n,
                         sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
    params_t p = {0};
    /* Forgetting deletes, in the statement that lists; a reader, or a batch
     * already rolled back, only leaves those rows out. */
    bool forget = forget_ms > 0 && !s->core.readonly && !s->core.batch_failed;
    p_i64(&p, SK_MIN(forget_ms, SK_STORE_FORGET_MAX));
    int r =
        exec_stmt(s, forget ? ST_NODES_FORGET : ST_NODES_LIST, &p, &res, "reading the nodes", err);
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
    PGresult *res = NULL;
    params_t p = {0};
    sk_run_status_t cur;
    int r = sk_store__text_check(&s->core, err, 2, "the pin", pin, "the spec", spec);
    if (r == 0)
        r = lead_gate(s, "dispatching a run", err);
    if (r < 0)
        return r;
    p_i64(&p, id);
    p_text(&p, pin);
    p_text(&p, spec);
    r = exec_write(s, ST_DISPATCH, &p, &res, "dispatching a run", err);
    if (r < 0)
        return r;
    long changed = changes(res);
    PQclear(res);
    if (changed > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
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
    p_text(&p, node);
    p_text(&p, labels ? labels : "");
    p_i64(&p, now);
    p_i64(&p, (int64_t)SK_MIN(max, (size_t)INT64_MAX));
    /* One statement: the rows it picks are locked, changed and committed
     * together (or with the caller's batch). */
    r = exec_write(s, ST_CLAIM, &p, &res, "claiming runs", err);
    if (r < 0)
        return r;
    r = read_runs(s, res, ret, ret_n, err);
    PQclear(res);
    return r;
}

static int pg_run_attach(sk_store_t *st, int64_t id, const char *node, int pid,
                         const char *log_path, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)st;
    PGresult *res = NULL;
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
    p_i64(&p, id);
    p_text(&p, node);
    p_int_or_null(&p, pid, 0);
    p_text(&p, log_path);
    r = exec_write(s, ST_ATTACH, &p, &res, "recording a start", err);
    if (r < 0)
        return r;
    long changed = changes(res);
    PQclear(res);
    if (changed > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
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
    PGresult *res = NULL;
    params_t p = {0};
    sk_run_status_t cur;
    if (!reason)
        return sk_err_set(err, -EINVAL, "%s: run %" PRId64 ": a stop needs a reason", s->name, id);
    int r = sk_store__write_gate(&s->core, "asking a run to stop", err);
    if (r < 0)
        return r;
    p_i64(&p, id);
    p_free_text(&p, reason);
    r = exec_write(s, ST_CANCEL, &p, &res, "asking a run to stop", err);
    p_release(&p);
    if (r < 0)
        return r;
    long changed = changes(res);
    PQclear(res);
    if (changed > 0)
        return 0;
    r = run_status(s, id, &cur, err);
    if (r < 0)
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
    p_text(&p, node);
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
    PGresult *res = NULL;
    params_t p = {0};
    int r = lead_gate(s, "settling a run", err);
    if (r < 0)
        return r;
    p_i64(&p, id);
    r = exec_write(s, ST_SETTLE, &p, &res, "settling a run", err);
    if (r < 0)
        return r;
    long changed = changes(res);
    PQclear(res);
    if (changed > 0)
        return 0;
    sk_run_status_t cur;
    r = run_status(s, id, &cur, err);
    if (r < 0)
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
    int r = ensure_conn(s, err);
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
        r = pg_fail(s, res, "ending a silent leader's session", err);
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
    int r = ensure_conn(s, err);
    if (r < 0)
        return r;
    PGresult *res = PQexec(s->conn, "SELECT 'sked.' || current_schema()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        r = pg_fail(s, res, "naming the wake-up channel", err);
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
    if (s->core.readonly || s->core.in_batch || wake_chan(s, NULL) < 0 || ensure_conn(s, NULL) < 0)
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
        r = ensure_conn(s, err);
    if (r < 0)
        return r;
    const char *vals[2] = {s->chan, (what & SK_WAKE_ENDED)    ? "e"
                                    : (what & SK_WAKE_CANCEL) ? "c"
                                                              : "d"};
    PGresult *res = PQexecParams(s->conn, "SELECT pg_notify($1, $2)", 2, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        r = pg_fail(s, res, "waking the other nodes", err);
    PQclear(res);
    return r;
}

static const sk_store_cluster_ops_t pg_cluster = {
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

const sk_store_ops_t sk_store_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .open_readonly = pg_open_readonly,
    .close = pg_close,
    .run_insert = pg_run_insert,
    .run_start = pg_run_start,
    .run_finish = pg_run_finish,
    .run_get = pg_run_get,
    .runs_query = pg_runs_query,
    .run_last = pg_run_last,
    .job_state_get = pg_job_state_get,
    .job_state_set = pg_job_state_set,
    .prune = pg_prune,
    .outputs_put = pg_outputs_put,
    .outputs_get = pg_outputs_get,
    .alert_insert = pg_alert_insert,
    .alert_update = pg_alert_update,
    .alerts_pending = pg_alerts_pending,
    .alerts_query = pg_alerts_query,
    .begin = sk_store__batch_begin,
    .commit = sk_store__batch_commit,
    .rollback = sk_store__batch_rollback,
    .leader = pg_leader,
    .node_beat = pg_node_beat,
    .nodes_list = pg_nodes_list,
    .cluster = &pg_cluster,
};
