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
 *
 * This file is the session every other file of the back end goes through
 * (store_pg_int.h): the URL and its secrets, errors, reconnecting, running
 * statements, transactions, opening and closing, and the ops table. The
 * schema (store_pg_schema.c), the rows of runs (store_pg_runs.c) and the
 * cluster's operations (store_pg_cluster.c) each have a file of their own.
 */
#include "store_pg_int.h"

/* Defined at the end of this file; store.c picks it for postgres:// URLs. */
extern const sk_store_ops_t sk_store_pg_ops;

/* Writers wait this long for a row lock, then fail (SQLite's busy_timeout). */
#define LOCK_TIMEOUT_MS 5000
/* A call never blocks the loop for long on a server that vanished: about
 * 4 s to connect, to get a write acknowledged, or to find an idle
 * connection dead. A node of a cluster must notice a cut-off well within
 * a third of lease_timeout (15 s by default) to stop its runs before
 * another node may start them (docs/internals/cluster.md). */
#define CONNECT_TIMEOUT "4"
#define MIN_SERVER_VERSION 100000 /* identity columns */

static const char *const stmt_sql[] = {
#define SK_X(e, sql) [e] = sql,
    STATEMENTS(SK_X)
#undef SK_X
};

/* ---- text ---- */

/* s[0..n) with %XX decoded (bad escapes kept as they are): new memory. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = sk_xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = sk_hex_digit(s[i + 1])) >= 0 &&
            (lo = sk_hex_digit(s[i + 2])) >= 0) {
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
 * sk_pg__clean() can take them out of libpq's messages, which may quote the URL.
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
void sk_pg__clean(const sk_pg_t *s, const char *in, char *out, size_t size)
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
int sk_pg__fail(sk_pg_t *s, const PGresult *res, const char *what, sk_err_t *err)
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
    sk_pg__clean(s, msg, detail, sizeof(detail));
    bool lost = PQstatus(s->conn) != CONNECTION_OK;
    sk_err_set(err, SK_ESTORE, "%s: %s: %s (%s)", s->name, what,
               lost ? "lost the connection to the server" : state_meaning(st), detail);
    if (lost || PQtransactionStatus(s->conn) == PQTRANS_INERROR)
        sk_store__abort(&s->core, err);
    return SK_ESTORE;
}

/* sk_pg__fail + abort_tx, for write paths: a failed write always ends the
 * transaction (and the batch) it was in. */
static int write_fail(sk_pg_t *s, const PGresult *res, const char *what, sk_err_t *err)
{
    sk_err_t local;
    if (!err)
        err = &local;
    sk_pg__fail(s, res, what, err);
    sk_store__abort(&s->core, err);
    return SK_ESTORE;
}

/*
 * The writes only a leader makes (fires, dispatches, settles, job state):
 * once this store has led, refused unless the session that took the
 * leadership is still this one: after a reconnect (or a lost lead) another
 * node may lead, and a leader's writes must not interleave with its. A
 * node that never led is not fenced (it records its new jobs' state at
 * start).
 */
int sk_pg__lead_gate(sk_pg_t *s, const char *what, sk_err_t *err)
{
    int r = sk_store__write_gate(&s->core, what, err);
    if (r == 0 && s->led) {
        r = sk_pg__ensure_conn(s, err);
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
    sk_pg__clean(s, s->conn ? PQerrorMessage(s->conn) : "out of memory", detail, sizeof(detail));
    return sk_err_set(err, SK_ESTORE, "%s: cannot connect to PostgreSQL at %s:%s: %s", s->name,
                      host && *host ? host : "localhost", port && *port ? port : "5432", detail);
}

/* Before every call: a connection that was lost is opened again (the
 * prepared statements go with the old session). A batch does not survive
 * that: sk_pg__fail marked it failed when the loss was noticed, so that writes
 * now stop at write_gate while reads may go on. Should a batch still be
 * live here, the call fails rather than run outside it. */
int sk_pg__ensure_conn(sk_pg_t *s, sk_err_t *err)
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

void sk_pg__p_text(params_t *p, const char *v)
{
    SK_ASSERT(p->n < MAX_PARAMS);
    p->v[p->n++] = v;
}

void sk_pg__p_i64(params_t *p, int64_t v)
{
    SK_ASSERT(p->n < MAX_PARAMS);
    sk_snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

/* Free text as the store keeps it (sk_store__text_repair); a repaired copy
 * lives until sk_pg__p_release. */
void sk_pg__p_free_text(params_t *p, const char *v)
{
    SK_ASSERT(p->n < MAX_PARAMS);
    p->v[p->n] = sk_store__text_repair(v, &p->own[p->n]);
    p->n++;
}

void sk_pg__p_release(params_t *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->own[i]);
}

/* 0 (unset) is stored as NULL. */
void sk_pg__p_time(params_t *p, int64_t v)
{
    if (v)
        sk_pg__p_i64(p, v);
    else
        sk_pg__p_text(p, NULL);
}

void sk_pg__p_int_or_null(params_t *p, int v, int none)
{
    if (v != none)
        sk_pg__p_i64(p, v);
    else
        sk_pg__p_text(p, NULL);
}

/* sk_pg__exec_named, one attempt. */
static int exec_named_once(sk_pg_t *s, const char *name, const char *sql, bool *prepared,
                           const params_t *p, PGresult **ret, const char *what, sk_err_t *err)
{
    int r = sk_pg__ensure_conn(s, err);
    if (r < 0)
        return r;
    if (!*prepared) {
        PGresult *pr = PQprepare(s->conn, name, sql, 0, NULL);
        if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
            r = sk_pg__fail(s, pr, what, err);
            PQclear(pr);
            return r;
        }
        PQclear(pr);
        *prepared = true;
    }
    PGresult *res = PQexecPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        r = sk_pg__fail(s, res, what, err);
        PQclear(res);
        return r;
    }
    *ret = res;
    return 0;
}

/* Runs the statement `sql` (prepared as `name` unless *prepared) with p.
 * On success *ret is the result (PQclear); on failure sk_pg__fail has run. A
 * read-only store (the API's readers, the CLI) tries a statement again once
 * on a new connection when the server ended the old one while it was idle
 * (a database restart): a read has nothing to lose by it, and the first
 * call after a restart is the one that finds out. */
int sk_pg__exec_named(sk_pg_t *s, const char *name, const char *sql, bool *prepared,
                      const params_t *p, PGresult **ret, const char *what, sk_err_t *err)
{
    int r = exec_named_once(s, name, sql, prepared, p, ret, what, err);
    if (r < 0 && s->core.readonly && PQstatus(s->conn) != CONNECTION_OK) {
        sk_err_clear(err);
        r = exec_named_once(s, name, sql, prepared, p, ret, what, err);
    }
    return r;
}

int sk_pg__exec_stmt(sk_pg_t *s, stmt_id_t id, const params_t *p, PGresult **ret, const char *what,
                     sk_err_t *err)
{
    char name[16];
    sk_snprintf(name, sizeof(name), "sked_%d", (int)id);
    return sk_pg__exec_named(s, name, stmt_sql[id], &s->prepared[id], p, ret, what, err);
}

/* sk_pg__exec_stmt for writes: a failure ends the transaction and the batch. */
int sk_pg__exec_write(sk_pg_t *s, stmt_id_t id, const params_t *p, PGresult **ret, const char *what,
                      sk_err_t *err)
{
    sk_err_t local;
    if (!err)
        err = &local;
    int r = sk_pg__exec_stmt(s, id, p, ret, what, err);
    if (r < 0)
        sk_store__abort(&s->core, err);
    return r;
}

/* Runs sql (no parameters; may be several statements). */
int sk_pg__exec_sql(sk_pg_t *s, const char *sql, const char *what, sk_err_t *err)
{
    int r = sk_pg__ensure_conn(s, err);
    if (r < 0)
        return r;
    PGresult *res = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        r = sk_pg__fail(s, res, what, err);
    PQclear(res);
    return r;
}

/* The number of rows an INSERT, UPDATE or DELETE changed. */
long sk_pg__changes(const PGresult *res)
{
    return strtol(PQcmdTuples((PGresult *)res), NULL, 10);
}

int64_t sk_pg__get_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int sk_pg__get_int_or(const PGresult *res, int row, int col, int none)
{
    if (PQgetisnull(res, row, col))
        return none;
    return (int)strtol(PQgetvalue(res, row, col), NULL, 10);
}

char *sk_pg__get_str(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return sk_xstrdup(PQgetvalue(res, row, col));
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
        sk_pg__clean(s, errmsg ? errmsg : "out of memory", detail, sizeof(detail));
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

/* ---- transactions, for the shared layer ---- */

int sk_pg__tx_begin(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    return sk_pg__exec_sql((sk_pg_t *)c, "BEGIN", what, err);
}

int sk_pg__tx_commit(sk_store_core_t *c, const char *what, sk_err_t *err)
{
    sk_pg_t *s = (sk_pg_t *)c;
    sk_err_t local;
    int r = 0;
    if (!err)
        err = &local;
    /* Never on a new session (sk_pg__ensure_conn): the transaction was the old one's. */
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
            r = sk_pg__fail(s, res, what, err);
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
    .begin = sk_pg__tx_begin,
    .commit = sk_pg__tx_commit,
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
    if (r == 0)
        r = sk_pg__schema_open(s, err);
    if (r < 0) {
        pg_close(&s->core.base);
        return r;
    }
    *ret = &s->core.base;
    return 0;
}

static int pg_open_readonly(const char *url, sk_store_t **ret, sk_err_t *err)
{
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
        r = sk_pg__schema_check(s, err);
    if (r < 0) {
        pg_close(&s->core.base);
        return r;
    }
    *ret = &s->core.base;
    return 0;
}

/* ---- for tests ---- */

/* The connection of a store opened by sk_store_pg_ops (borrowed). */
PGconn *sk_store_pg__conn(sk_store_t *st)
{
    SK_ASSERT(st && st->ops == &sk_store_pg_ops);
    return ((sk_pg_t *)st)->conn;
}

const sk_store_ops_t sk_store_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .open_readonly = pg_open_readonly,
    .close = pg_close,
    .run_insert = sk_pg__run_insert,
    .run_start = sk_pg__run_start,
    .run_pids = sk_pg__run_pids,
    .run_finish = sk_pg__run_finish,
    .run_get = sk_pg__run_get,
    .runs_query = sk_pg__runs_query,
    .run_last = sk_pg__run_last,
    .job_state_get = sk_pg__job_state_get,
    .job_state_set = sk_pg__job_state_set,
    .boot_claim = sk_pg__boot_claim,
    .prune = sk_pg__prune,
    .outputs_put = sk_pg__outputs_put,
    .outputs_get = sk_pg__outputs_get,
    .alert_insert = sk_pg__alert_insert,
    .alert_update = sk_pg__alert_update,
    .alerts_pending = sk_pg__alerts_pending,
    .alerts_query = sk_pg__alerts_query,
    .begin = sk_store__batch_begin,
    .commit = sk_store__batch_commit,
    .rollback = sk_store__batch_rollback,
    .leader = sk_pg__leader,
    .node_beat = sk_pg__node_beat,
    .nodes_list = sk_pg__nodes_list,
    .cluster = &sk_pg__cluster,
};
