/*
 * Unit tests for the store (src/store): the status, trigger and alert state
 * spellings, the back ends' contract (fire uniqueness, start/finish,
 * queries, workflow steps, outputs, alerts, job state, pruning, batches,
 * readers, injected faults, node heart-beats, the cluster columns and the
 * text rule: names that are not UTF-8 refused, reasons repaired), run
 * against SQLite and, when SKED_TEST_PG_URL is set (tests/pg.sh run sets
 * it), a second time against PostgreSQL, each test in a schema of its own.
 * SQLite alone: its schema migrations (version-1 and version-2 files built
 * here are upgraded in place), the new file's mode, its refusals (garbage,
 * corrupt, foreign, newer and missing files), a full disk that empties
 * again, and no cluster operations. PostgreSQL alone:
 * the schema (the same as SQLite's), nodes creating it at once, foreign and
 * newer schemas, its migrations from versions 1 and 2, a lost connection,
 * two nodes recording one fire, passwords kept out of messages, and
 * the cluster: dispatch, claims (pins, max, not-before, concurrent
 * claimers, batches), attach, cancel and settle. Each test works in its
 * own temporary folder.
 */

/* The fault-injection tests set SKED_TEST_STORE_FAIL_AFTER. banned.h (pulled
 * in by store.h) forbids setenv in sked's code, so the one call lives here,
 * above it. */
#include <stdlib.h>
static int test_setenv(const char *name, const char *value)
{
    return setenv(name, value, 1);
}

#include "store/store.h"
#include "store/store_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

typedef struct {
    char dir[256];
    char db[1024]; /* SQLite: DIR/sked.db; PostgreSQL: a URL whose search_path is `schema` */
    bool pg;
    char schema[64];
    bool role; /* made a role named after the schema (test_pg_server_away) */
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = sk_xcalloc(1, sizeof(*fx));
    const char *tmp = getenv("TMPDIR");
    sk_snprintf(fx->dir, sizeof(fx->dir), "%s/sked-test-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir))
        return -1;
    sk_snprintf(fx->db, sizeof(fx->db), "%s/sked.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    DIR *d = opendir(fx->dir);
    if (d) {
        struct dirent *e;
        char path[600];
        while ((e = readdir(d))) {
            if (sk_streq(e->d_name, ".") || sk_streq(e->d_name, ".."))
                continue;
            sk_snprintf(path, sizeof(path), "%s/%s", fx->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(fx->dir);
    free(fx);
    unsetenv("SKED_TEST_STORE_FAIL_AFTER");
    return 0;
}

/* ---- PostgreSQL fixtures ---- */

/* The test server (SKED_TEST_PG_URL) and a connection to it for creating
 * and dropping each test's schema. */
static const char *pg_url;
static PGconn *pg_admin;
static int pg_serial;

static bool is_pg(const char *url)
{
    return url && strncmp(url, "postgres", 8) == 0;
}

/* Runs sql on c; 0, or -1 after printing why. */
static int pg_try(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int r = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (r < 0)
        print_error("%s: %s\n", sql, PQerrorMessage(c));
    PQclear(res);
    return r;
}

/* NOTICEs (DROP ... CASCADE lists what it drops) are noise here. */
static void pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *pg_connect_ok(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("%s: %s", url, PQerrorMessage(c));
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    return c;
}

/* Runs sql (no result wanted) on a connection of its own to url, whose
 * search_path is the test's schema. */
static void pg_exec(const char *url, const char *sql)
{
    PGconn *c = pg_connect_ok(url);
    int r = pg_try(c, sql);
    PQfinish(c);
    if (r < 0)
        fail_msg("%s failed", sql);
}

/* The integer the one-row sql returns (-1 for NULL or no row). */
static int64_t pg_int(const char *url, const char *sql)
{
    PGconn *c = pg_connect_ok(url);
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    int64_t v =
        PQntuples(res) && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    PQfinish(c);
    return v;
}

static int pg_group_setup(void **state)
{
    (void)state;
    pg_admin = PQconnectdb(pg_url);
    if (PQstatus(pg_admin) != CONNECTION_OK) {
        print_error("SKED_TEST_PG_URL: %s\n", PQerrorMessage(pg_admin));
        return -1;
    }
    PQsetNoticeProcessor(pg_admin, pg_quiet, NULL);
    /* A test that failed with a store still open must not hang the next
     * one's DROP SCHEMA. */
    return pg_try(pg_admin, "SET lock_timeout = '10s'");
}

static int pg_group_teardown(void **state)
{
    (void)state;
    PQfinish(pg_admin);
    pg_admin = NULL;
    return 0;
}

/* A fresh schema per test; fx->db is the server's URL with its search_path
 * set to it, so that the store's tables land there. */
static int pg_setup(void **state)
{
    char sql[128];
    if (setup(state) < 0)
        return -1;
    fixture_t *fx = *state;
    fx->pg = true;
    sk_snprintf(fx->schema, sizeof(fx->schema), "sked_t%d_%d", (int)getpid(), ++pg_serial);
    sk_snprintf(fx->db, sizeof(fx->db), "%s%soptions=-csearch_path%%3D%s", pg_url,
                strchr(pg_url, '?') ? "&" : "?", fx->schema);
    sk_snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", fx->schema,
                fx->schema);
    return pg_try(pg_admin, sql);
}

static int pg_teardown(void **state)
{
    fixture_t *fx = *state;
    char sql[200];
    sk_snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE%s%s%s", fx->schema,
                fx->role ? "; DROP ROLE IF EXISTS " : "", fx->role ? fx->schema : "",
                fx->role ? "_r" : "");
    int r = pg_try(pg_admin, sql);
    teardown(state);
    return r;
}

/* Empties the test's store (closed): the file goes, or the schema is made
 * anew. */
static void store_reset(fixture_t *fx)
{
    if (fx->pg) {
        char sql[128];
        sk_snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE; CREATE SCHEMA %s", fx->schema,
                    fx->schema);
        assert_int_equal(pg_try(pg_admin, sql), 0);
    } else {
        unlink(fx->db);
    }
}

static bool store_is_pg(sk_store_t *st)
{
    return sk_streq(st->ops->name, "postgres");
}

/* Runs sql (the same in both dialects) on the store's own connection, as
 * someone editing the store by hand would. */
static void store_exec(sk_store_t *st, const char *sql)
{
    if (store_is_pg(st)) {
        assert_int_equal(pg_try(sk_store_pg__conn(st), sql), 0);
    } else {
        char *msg = NULL;
        if (sqlite3_exec(sk_store_sqlite__db(st), sql, NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("%s: %s", sql, msg ? msg : "?");
    }
}

/* No transaction is left open on the store's connection. */
static void assert_no_tx(sk_store_t *st)
{
    if (store_is_pg(st))
        assert_int_equal(PQtransactionStatus(sk_store_pg__conn(st)), PQTRANS_IDLE);
    else
        assert_true(sqlite3_get_autocommit(sk_store_sqlite__db(st)));
}

/* ---- helpers ---- */

static sk_store_t *open_ok(const char *path)
{
    sk_store_t *st = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    int r = sk_store_open(path, &st, &err);
    if (r != 0)
        fail_msg("open %s: %d %s", path, r, err.msg);
    return st;
}

static sk_run_t mkrun(const char *job, sk_trigger_t trig, int64_t at)
{
    sk_run_t r;
    memset(&r, 0, sizeof(r));
    r.job = (char *)job;
    r.status = SK_RUN_QUEUED;
    r.trigger = trig;
    r.attempt = 1;
    r.scheduled_at = at;
    r.queued_at = at;
    r.exit_code = -1;
    return r;
}

/* A step row of workflow run parent, fired at `at` like its parent. */
static sk_run_t mkstep(const char *job, const char *step, int64_t parent, int64_t at)
{
    sk_run_t r = mkrun(job, SK_TRIG_SCHEDULE, at);
    r.step = (char *)step;
    r.parent_id = parent;
    return r;
}

static sk_alert_rec_t mkalert(const char *job, int64_t run_id, sk_alert_state_t state, int64_t at)
{
    sk_alert_rec_t a;
    memset(&a, 0, sizeof(a));
    a.job = (char *)job;
    a.run_id = run_id;
    a.event = "failure";
    a.channel = "webhook";
    a.payload = "{\"job\": \"x\"}";
    a.state = state;
    a.created_at = at;
    return a;
}

static int64_t insert_alert_ok(sk_store_t *st, sk_alert_rec_t *a)
{
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_store_alert_insert(st, a, &err);
    if (rc != 0)
        fail_msg("alert %s: %d %s", a->job, rc, err.msg);
    assert_true(a->id > 0);
    return a->id;
}

/* The ids runs_query returns for f, or fails naming the case. want ends
 * with 0. */
static void assert_query(sk_store_t *st, const char *name, const sk_run_filter_t *f,
                         const int64_t *want)
{
    sk_run_t *runs = NULL;
    size_t n = 0, want_n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_store_runs_query(st, f, &runs, &n, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    while (want[want_n])
        want_n++;
    if (n != want_n)
        fail_msg("%s: %zu rows, want %zu", name, n, want_n);
    for (size_t k = 0; k < n; k++)
        if (runs[k].id != want[k])
            fail_msg("%s: row %zu is run %" PRId64 ", want %" PRId64, name, k, runs[k].id, want[k]);
    sk_runs_free(runs, n);
}

static int64_t insert_ok(sk_store_t *st, sk_run_t *r)
{
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_store_run_insert(st, r, &err);
    if (rc != 0)
        fail_msg("insert %s@%" PRId64 ": %d %s", r->job, r->scheduled_at, rc, err.msg);
    assert_true(r->id > 0);
    return r->id;
}

/* A run of job that went queued -> running -> final, ending at `end`. */
static int64_t finished_run(sk_store_t *st, const char *job, int64_t at, int64_t end,
                            const char *log)
{
    sk_run_t r = mkrun(job, SK_TRIG_SCHEDULE, at);
    int64_t id = insert_ok(st, &r);
    assert_int_equal(sk_store_run_start(st, id, at + 1, 4242, log, NULL), 0);
    assert_int_equal(sk_store_run_finish(st, id, SK_RUN_SUCCEEDED, end, 0, 0, NULL, NULL), 0);
    return id;
}

static int64_t count_runs(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t n = -1;
    if (is_pg(path))
        return pg_int(path, "SELECT count(*) FROM runs");
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM runs", -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Reads the whole (small) file into new memory. */
static char *read_file(const char *path, size_t *ret_n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = sk_xmalloc(1 << 20);
    *ret_n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* Opening path must fail with SK_ESTORE, naming the file, mentioning `what`,
 * and leave the file byte for byte as it was. */
static void assert_refused(const char *path, const char *what)
{
    size_t n0, n1;
    char *before = read_file(path, &n0);
    sk_store_t *st = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_store_open(path, &st, &err), SK_ESTORE);
    assert_null(st);
    assert_int_equal(err.code, SK_ESTORE);
    if (!strstr(err.msg, path) || !strstr(err.msg, what))
        fail_msg("message \"%s\" should name %s and say \"%s\"", err.msg, path, what);
    char *after = read_file(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    char wal[400];
    sk_snprintf(wal, sizeof(wal), "%s-wal", path);
    assert_int_equal(access(wal, F_OK), -1);
}

/* ---- spellings ---- */

static void test_status_spellings(void **state)
{
    (void)state;
    static const struct {
        sk_run_status_t s;
        const char *text;
        bool final;
    } rows[] = {
        {SK_RUN_QUEUED, "queued", false},          {SK_RUN_RUNNING, "running", false},
        {SK_RUN_SUCCEEDED, "succeeded", true},     {SK_RUN_FAILED, "failed", true},
        {SK_RUN_TIMED_OUT, "timed_out", true},     {SK_RUN_KILLED, "killed", true},
        {SK_RUN_SKIPPED, "skipped", true},         {SK_RUN_MISSED, "missed", true},
        {SK_RUN_INTERRUPTED, "interrupted", true},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_run_status_t back = SK_RUN_QUEUED;
        assert_string_equal(sk_run_status_str(rows[i].s), rows[i].text);
        assert_int_equal(sk_run_status_parse(rows[i].text, &back), 0);
        assert_int_equal(back, rows[i].s);
        assert_int_equal(sk_run_status_final(rows[i].s), rows[i].final);
    }
    sk_run_status_t keep = SK_RUN_KILLED;
    assert_int_equal(sk_run_status_parse("done", &keep), SK_EPARSE);
    assert_int_equal(sk_run_status_parse("", &keep), SK_EPARSE);
    assert_int_equal(sk_run_status_parse(NULL, &keep), SK_EPARSE);
    assert_int_equal(sk_run_status_parse("Queued", &keep), SK_EPARSE);
    assert_int_equal(keep, SK_RUN_KILLED);
    assert_string_equal(sk_run_status_str((sk_run_status_t)99), "unknown");
}

static void test_trigger_spellings(void **state)
{
    (void)state;
    static const struct {
        sk_trigger_t t;
        const char *text;
    } rows[] = {
        {SK_TRIG_SCHEDULE, "schedule"}, {SK_TRIG_MANUAL, "manual"}, {SK_TRIG_CATCHUP, "catchup"},
        {SK_TRIG_RETRY, "retry"},       {SK_TRIG_EVENT, "event"},   {SK_TRIG_UPSTREAM, "upstream"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_trigger_t back = SK_TRIG_MANUAL;
        assert_string_equal(sk_trigger_str(rows[i].t), rows[i].text);
        assert_int_equal(sk_trigger_parse(rows[i].text, &back), 0);
        assert_int_equal(back, rows[i].t);
    }
    sk_trigger_t keep = SK_TRIG_EVENT;
    assert_int_equal(sk_trigger_parse("cron", &keep), SK_EPARSE);
    assert_int_equal(sk_trigger_parse(NULL, &keep), SK_EPARSE);
    assert_int_equal(keep, SK_TRIG_EVENT);
    assert_string_equal(sk_trigger_str((sk_trigger_t)-1), "unknown");
}

static void test_alert_state_spellings(void **state)
{
    (void)state;
    /* 'pending' also appears in SQL (alerts_pending, pruning). */
    static const struct {
        sk_alert_state_t s;
        const char *text;
    } rows[] = {
        {SK_ALERTST_PENDING, "pending"},
        {SK_ALERTST_DELIVERED, "delivered"},
        {SK_ALERTST_FAILED, "failed"},
        {SK_ALERTST_DROPPED, "dropped"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_alert_state_t back = SK_ALERTST_DROPPED;
        assert_string_equal(sk_alert_state_str(rows[i].s), rows[i].text);
        assert_int_equal(sk_alert_state_parse(rows[i].text, &back), 0);
        assert_int_equal(back, rows[i].s);
    }
    sk_alert_state_t keep = SK_ALERTST_FAILED;
    assert_int_equal(sk_alert_state_parse("sent", &keep), SK_EPARSE);
    assert_int_equal(sk_alert_state_parse(NULL, &keep), SK_EPARSE);
    assert_int_equal(keep, SK_ALERTST_FAILED);
    assert_string_equal(sk_alert_state_str((sk_alert_state_t)17), "unknown");
}

/* job_state.last_outcome keeps a status as its number: the numbers are part
 * of the file format (SK_RUN_STATUSES is append-only). */
static void test_status_numbers_frozen(void **state)
{
    (void)state;
    static const struct {
        sk_run_status_t s;
        int n;
    } rows[] = {
        {SK_RUN_QUEUED, 0},  {SK_RUN_RUNNING, 1},   {SK_RUN_SUCCEEDED, 2},
        {SK_RUN_FAILED, 3},  {SK_RUN_TIMED_OUT, 4}, {SK_RUN_KILLED, 5},
        {SK_RUN_SKIPPED, 6}, {SK_RUN_MISSED, 7},    {SK_RUN_INTERRUPTED, 8},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++)
        assert_int_equal((int)rows[i].s, rows[i].n);
}

static void test_run_release_zeroed(void **state)
{
    (void)state;
    sk_run_t r;
    memset(&r, 0, sizeof(r));
    sk_run_release(&r);
    sk_run_release(NULL);
    sk_runs_free(NULL, 3);
    r.job = sk_xstrdup("a");
    r.reason = sk_xstrdup("b");
    r.params = sk_xstrdup("{}");
    sk_run_release(&r);
    assert_null(r.job);
    assert_null(r.reason);
    assert_null(r.params);

    sk_outputs_free(NULL, 4);
    sk_output_t *o = sk_xcalloc(2, sizeof(*o));
    o[0].key = sk_xstrdup("k");
    o[0].value = sk_xstrdup("v");
    sk_outputs_free(o, 2); /* the second is zeroed */

    sk_alert_rec_t a;
    memset(&a, 0, sizeof(a));
    sk_alert_rec_release(&a);
    sk_alert_rec_release(NULL);
    sk_alert_recs_free(NULL, 2);
    a.job = sk_xstrdup("j");
    a.payload = sk_xstrdup("{}");
    a.last_error = sk_xstrdup("e");
    sk_alert_rec_release(&a);
    assert_null(a.job);
    assert_null(a.payload);
    assert_null(a.last_error);
}

/* ---- opening ---- */

static void test_open_creates_missing_file(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    assert_string_equal(st->ops->name, "sqlite");
    sqlite3 *db = sk_store_sqlite__db(st);
    static const struct {
        const char *sql;
        const char *want;
    } rows[] = {
        {"PRAGMA application_id", "1936418148"}, /* 0x736b6564, "sked" */
        {"PRAGMA journal_mode", "wal"},
        {"PRAGMA synchronous", "2"}, /* FULL */
        {"PRAGMA foreign_keys", "1"},
        {"SELECT value FROM meta WHERE key = 'schema_version'", NULL},
    };
    char version[16];
    sk_snprintf(version, sizeof(version), "%d", sk_store_sqlite__schema_version());
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(db, rows[i].sql, -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(q, 0),
                            rows[i].want ? rows[i].want : version);
        sqlite3_finalize(q);
    }
    sk_store_close(st);
    sk_store_close(NULL);
}

static void test_open_empty_file_is_created(void **state)
{
    fixture_t *fx = *state;
    write_file(fx->db, "", 0);
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("a", SK_TRIG_SCHEDULE, 1000);
    insert_ok(st, &r);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 1);
}

static void test_open_empty_sqlite_db_is_initialised(void **state)
{
    fixture_t *fx = *state;
    /* What a crash between the WAL switch and the first schema commit
     * leaves: a valid header, no schema, no application id. */
    raw_exec(fx->db, "PRAGMA journal_mode = WAL");
    sk_store_t *st = open_ok(fx->db);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 0);
}

static void test_reopen_keeps_data(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    int64_t id = finished_run(st, "backup", 60000, 61000, "logs/backup/1.log");
    sk_job_state_t js = {60000, true, -1, 0};
    assert_int_equal(sk_store_job_state_set(st, "backup", &js, NULL), 0);
    sk_store_close(st);

    for (int pass = 0; pass < 2; pass++) {
        st = open_ok(fx->db);
        sk_run_t got;
        assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
        assert_string_equal(got.job, "backup");
        assert_int_equal(got.status, SK_RUN_SUCCEEDED);
        assert_string_equal(got.log_path, "logs/backup/1.log");
        sk_run_release(&got);
        sk_job_state_t js2;
        assert_int_equal(sk_store_job_state_get(st, "backup", &js2, NULL), 0);
        assert_int_equal(js2.last_fire, 60000);
        assert_true(js2.paused);
        /* The same fire is still known: a restart never fires it twice. */
        sk_run_t again = mkrun("backup", SK_TRIG_SCHEDULE, 60000);
        assert_int_equal(sk_store_run_insert(st, &again, NULL), -EEXIST);
        sk_store_close(st);
    }
}

static void test_open_bad_urls(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *msg;
    } rows[] = {
        /* Nothing listens on port 1: refused at once, no server needed. */
        {"postgres://u:secret@127.0.0.1:1/sked", "cannot connect to PostgreSQL at 127.0.0.1:1"},
        {"postgres://u:secret@127.0.0.1:1/sked", "postgres://u:***@127.0.0.1:1/sked: "},
        {"postgres://u:se%63r%65t@127.0.0.1:1/sked", "postgres://u:***@127.0.0.1:1/sked: "},
        {"postgresql://127.0.0.1:1/sked?password=secret&connect_timeout=5",
         "postgresql://127.0.0.1:1/sked?password=***&connect_timeout=5: cannot connect"},
        /* libpq quotes a URL it cannot parse: only one without a password
         * is shown. */
        {"postgres://u:secret@[::1/sked", "postgres://u:***@[::1/sked: not a valid PostgreSQL "
                                          "URL: percent-encode"},
        {"postgres://[::1/sked", "\"postgres://[::1/sked\""},
        /* An unencoded '/' ends the password early for libpq (it reads a
         * host "u" and a port "sec"): the URL is refused, unrepeated. A '?'
         * does not: libpq reads the password whole, and so do we. */
        {"postgres://u:sec/ret@127.0.0.1:1/sked", "store: not a valid PostgreSQL URL"},
        {"postgres://u:sec?ret@127.0.0.1:1/sked", "postgres://u:***@127.0.0.1:1/sked: cannot"},
        {"postgres://u:secret@127.0.0.1:1/sked?password=secret2", "password=***"},
        {"", "no store path"},
        {NULL, "no store path"},
        {"/nonexistent-dir-for-sked-tests/sked.db", "/nonexistent-dir-for-sked-tests/sked.db"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        for (int ro = 0; ro < 2; ro++) {
            sk_store_t *st = NULL;
            sk_err_t err;
            sk_err_clear(&err);
            int r = ro ? sk_store_open_readonly(rows[i].url, &st, &err)
                       : sk_store_open(rows[i].url, &st, &err);
            assert_int_equal(r, SK_ESTORE);
            assert_null(st);
            if (!strstr(err.msg, rows[i].msg))
                fail_msg("%s: \"%s\" lacks \"%s\"", rows[i].url ? rows[i].url : "NULL", err.msg,
                         rows[i].msg);
            assert_null(strstr(err.msg, "secret"));
            assert_null(strstr(err.msg, "sec"));
            assert_null(strstr(err.msg, "ret@"));
            assert_null(strstr(err.msg, "se%63r%65t"));
        }
    }
}

static void test_open_directory_refused(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open(fx->dir, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, fx->dir));
}

static void test_garbage_file_refused(void **state)
{
    fixture_t *fx = *state;
    char junk[8192];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (char)(x >> 16);
    }
    char fake[4096];
    memset(fake, 0xee, sizeof(fake));
    memcpy(fake, "SQLite format 3", 16); /* the magic, then nonsense */
    static const char text[] = "jobs:\n  backup:\n    every: 6h\n";
    static const struct {
        size_t off, n;
        int which; /* 0 junk, 1 text, 2 fake header */
    } rows[] = {{0, 1, 0},   {0, 5, 1},    {0, sizeof(text) - 1, 1},
                {0, 100, 0}, {0, 8192, 0}, {0, 4096, 2}};
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        const char *src = rows[i].which == 0 ? junk : rows[i].which == 1 ? text : fake;
        write_file(fx->db, src + rows[i].off, rows[i].n);
        assert_refused(fx->db, rows[i].which == 2 ? "refusing" : "not a SQLite database");
    }
}

static void test_corrupt_store_refused(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    char reason[200];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    assert_int_equal(sk_store_begin(st, NULL), 0);
    for (int i = 0; i < 200; i++) {
        sk_run_t r = mkrun("etl", SK_TRIG_SCHEDULE, 1000 + i);
        r.reason = reason;
        insert_ok(st, &r);
    }
    assert_int_equal(sk_store_commit(st, NULL), 0);
    sk_store_close(st);

    /* Scribble over the middle of the file: pages of the runs table. */
    int fd = open(fx->db, O_WRONLY);
    assert_true(fd >= 0);
    char bad[4096];
    memset(bad, 0x5a, sizeof(bad));
    assert_int_equal(pwrite(fd, bad, sizeof(bad), 4096 * 3), (ssize_t)sizeof(bad));
    close(fd);
    assert_refused(fx->db, "corrupt");
}

static void test_foreign_sqlite_refused(void **state)
{
    fixture_t *fx = *state;
    static const char *const setups[] = {
        "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')",
        "PRAGMA application_id = 42",
        "PRAGMA user_version = 3",
        "PRAGMA application_id = 42; CREATE TABLE runs (id INTEGER PRIMARY KEY)",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(setups); i++) {
        unlink(fx->db);
        raw_exec(fx->db, setups[i]);
        assert_refused(fx->db, "not a sked store");
    }
}

static void test_newer_schema_refused(void **state)
{
    fixture_t *fx = *state;
    sk_store_close(open_ok(fx->db));
    raw_exec(fx->db, "PRAGMA user_version = 999");
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open(fx->db, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "newer"));
    assert_non_null(strstr(err.msg, fx->db));
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "newer"));
}

static void test_fds_close_on_exec(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("a", SK_TRIG_MANUAL, 1);
    insert_ok(st, &r); /* opens the WAL and shm files too */
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        sk_store_close(st);
        skip();
    }
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[64], target[512];
        sk_snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strncmp(target, fx->dir, strlen(fx->dir)) != 0)
            continue;
        seen++;
        int flags = fcntl((int)strtol(e->d_name, NULL, 10), F_GETFD);
        if (!(flags & FD_CLOEXEC))
            fail_msg("%s is inherited by children (no FD_CLOEXEC)", target);
    }
    closedir(d);
    assert_true(seen >= 1);
    sk_store_close(st);
}

/*
 * Closing any descriptor of a file drops every POSIX lock its process holds
 * on it, and SQLite's locks are POSIX locks. A reader opened and closed
 * beside a writer (the daemon's API does so on every request) must leave
 * the writer's locks alone: otherwise another process's writer believes it
 * is the last connection when it closes, checkpoints and deletes the WAL
 * the first writer still writes into (commits then vanish).
 */
static const char *self_path; /* argv[0]: this test program */

static void test_reader_keeps_writers_locks(void **state)
{
    fixture_t *fx = *state;
    /* A store with pages in its main file (a close checkpoints), written
     * to again. */
    sk_store_t *rw = open_ok(fx->db);
    sk_run_t r = mkrun("a", SK_TRIG_MANUAL, 1);
    insert_ok(rw, &r);
    sk_store_close(rw);
    rw = open_ok(fx->db);
    sk_run_t r1 = mkrun("a", SK_TRIG_MANUAL, 1);
    insert_ok(rw, &r1);
    for (int i = 0; i < 3; i++) {
        sk_store_t *ro = NULL;
        assert_int_equal(sk_store_open_readonly(fx->db, &ro, NULL), 0);
        sk_store_close(ro);
    }
    /* Another process writes and closes: it must see that it is not alone. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A new process image: SQLite's state must not be a fork's copy. */
        execl(self_path, self_path, "--other-writer", fx->db, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char wal[1100];
    sk_snprintf(wal, sizeof(wal), "%s-wal", fx->db);
    if (access(wal, F_OK) != 0)
        fail_msg("the writer's WAL was deleted by another process's close");
    /* What the first writer commits now is seen by a new reader. */
    sk_run_t r3 = mkrun("c", SK_TRIG_MANUAL, 1);
    insert_ok(rw, &r3);
    sk_store_t *ro = NULL;
    sk_run_t got;
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, NULL), 0);
    assert_int_equal(sk_store_run_last(ro, "c", &got, NULL), 0);
    sk_run_release(&got);
    sk_store_close(ro);
    sk_store_close(rw);
}

/* One owner per store file: the lock is the file's, whatever path names
 * it, and another descriptor of the process cannot drop it. */
static void test_store_lock(void **state)
{
    fixture_t *fx = *state;
    sk_store_lock_t *own = NULL, *other = NULL, *r1 = NULL, *r2 = NULL;
    sk_store_holder_t h;
    sk_err_t err;
    assert_int_equal(sk_store_lock(fx->db, SK_STORE_LOCK_OWN, 0, &own, &h, &err), 0);
    assert_non_null(own);
    /* Another path to the same file: through a link to its folder. */
    char link[1100], via[1200], lockfile[1100];
    sk_snprintf(link, sizeof(link), "%s/link", fx->dir);
    assert_int_equal(symlink(fx->dir, link), 0);
    sk_snprintf(via, sizeof(via), "%s/sked.db", link);
    memset(&h, 0, sizeof(h));
    assert_int_equal(sk_store_lock(via, SK_STORE_LOCK_OWN, 0, &other, &h, &err), SK_EBUSY);
    assert_null(other);
    assert_int_equal(h.pid, (long)getpid());
    assert_true(h.owner);
    assert_non_null(strstr(h.what, "test_store"));
    assert_int_equal(sk_store_lock(fx->db, SK_STORE_LOCK_SHARE, 0, &r1, &h, &err), SK_EBUSY);
    /* Opening and closing the lock file elsewhere keeps the lock. */
    sk_snprintf(lockfile, sizeof(lockfile), "%s/sked.db.lock", fx->dir);
    int fd = open(lockfile, O_RDONLY);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sk_store_lock(fx->db, SK_STORE_LOCK_SHARE, 0, &r1, &h, &err), SK_EBUSY);
    char text[400];
    sk_store_holder_text(&h, text, sizeof(text));
    assert_non_null(strstr(text, "pid "));
    sk_store_unlock(own);
    /* Readers share; an owner waits for them, then gives up. */
    assert_int_equal(sk_store_lock(fx->db, SK_STORE_LOCK_SHARE, 0, &r1, &h, &err), 0);
    assert_int_equal(sk_store_lock(via, SK_STORE_LOCK_SHARE, 0, &r2, &h, &err), 0);
    memset(&h, 0, sizeof(h));
    assert_int_equal(sk_store_lock(fx->db, SK_STORE_LOCK_OWN, 100, &own, &h, &err), SK_EBUSY);
    assert_false(h.owner);
    sk_store_unlock(r1);
    sk_store_unlock(r2);
    assert_int_equal(sk_store_lock(fx->db, SK_STORE_LOCK_OWN, 0, &own, &h, &err), 0);
    sk_store_unlock(own);
    unlink(link);
    /* A PostgreSQL store has no file to lock. */
    assert_int_equal(sk_store_lock("postgres://u@h/db", SK_STORE_LOCK_OWN, 0, &own, &h, &err), 0);
    assert_null(own);
    /* A store whose folder does not exist: the lock says so. */
    assert_int_equal(
        sk_store_lock("/nonexistent-sked-dir/x/sked.db", SK_STORE_LOCK_SHARE, 0, &r1, &h, &err),
        -ENOENT);
}

/* ---- runs ---- */

static void test_insert_fire_uniqueness(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *name;
        sk_trigger_t trig;
        sk_run_status_t status;
        int attempt;
        const char *step;
        int64_t at;
        int want;
    } rows[] = {
        {"first fire", SK_TRIG_SCHEDULE, SK_RUN_QUEUED, 1, NULL, 1000, 0},
        {"same fire again", SK_TRIG_SCHEDULE, SK_RUN_QUEUED, 1, NULL, 1000, -EEXIST},
        {"recorded missed", SK_TRIG_SCHEDULE, SK_RUN_MISSED, 1, NULL, 1000, -EEXIST},
        {"recorded skipped", SK_TRIG_SCHEDULE, SK_RUN_SKIPPED, 1, NULL, 1000, -EEXIST},
        {"catch-up of it", SK_TRIG_CATCHUP, SK_RUN_QUEUED, 1, NULL, 1000, -EEXIST},
        {"manual", SK_TRIG_MANUAL, SK_RUN_QUEUED, 1, NULL, 1000, 0},
        {"manual again", SK_TRIG_MANUAL, SK_RUN_QUEUED, 1, NULL, 1000, 0},
        {"retry", SK_TRIG_RETRY, SK_RUN_QUEUED, 2, NULL, 1000, 0},
        {"attempt 2 as schedule", SK_TRIG_SCHEDULE, SK_RUN_QUEUED, 2, NULL, 1000, 0},
        {"a step of it", SK_TRIG_SCHEDULE, SK_RUN_QUEUED, 1, "extract", 1000, 0},
        {"event", SK_TRIG_EVENT, SK_RUN_QUEUED, 1, NULL, 1000, 0},
        {"next fire", SK_TRIG_SCHEDULE, SK_RUN_QUEUED, 1, NULL, 2000, 0},
        {"catch-up first", SK_TRIG_CATCHUP, SK_RUN_QUEUED, 1, NULL, 3000, 0},
        {"then schedule", SK_TRIG_SCHEDULE, SK_RUN_QUEUED, 1, NULL, 3000, -EEXIST},
        {"missed first", SK_TRIG_SCHEDULE, SK_RUN_MISSED, 1, NULL, 4000, 0},
        {"then schedule", SK_TRIG_SCHEDULE, SK_RUN_QUEUED, 1, NULL, 4000, -EEXIST},
    };
    sk_store_t *st = open_ok(fx->db);
    int64_t last_id = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_run_t r = mkrun("job", rows[i].trig, rows[i].at);
        r.status = rows[i].status;
        r.attempt = rows[i].attempt;
        r.step = (char *)rows[i].step;
        sk_err_t err;
        sk_err_clear(&err);
        int got = sk_store_run_insert(st, &r, &err);
        if (got != rows[i].want)
            fail_msg("%s: got %d (%s), want %d", rows[i].name, got, err.msg, rows[i].want);
        if (got == 0) {
            assert_true(r.id > last_id); /* ids grow */
            last_id = r.id;
        } else {
            assert_non_null(strstr(err.msg, "already has a fire"));
        }
    }
    /* Another job may fire at the same instant. */
    sk_run_t other = mkrun("other", SK_TRIG_SCHEDULE, 1000);
    insert_ok(st, &other);
    sk_store_close(st);
}

static void test_insert_invalid(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    static const struct {
        const char *job;
        int attempt;
        int status, trigger;
    } rows[] = {
        {NULL, 1, SK_RUN_QUEUED, SK_TRIG_MANUAL},
        {"", 1, SK_RUN_QUEUED, SK_TRIG_MANUAL},
        {"a", 0, SK_RUN_QUEUED, SK_TRIG_MANUAL},
        {"a", -3, SK_RUN_QUEUED, SK_TRIG_MANUAL},
        {"a", 1, 42, SK_TRIG_MANUAL},
        {"a", 1, SK_RUN_QUEUED, 42},
        {"a", 1, -1, SK_TRIG_MANUAL},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_run_t r = mkrun(rows[i].job, (sk_trigger_t)rows[i].trigger, 5);
        r.attempt = rows[i].attempt;
        r.status = (sk_run_status_t)rows[i].status;
        sk_err_t err;
        assert_int_equal(sk_store_run_insert(st, &r, &err), -EINVAL);
        assert_int_equal(r.id, 0);
    }
    assert_int_equal(sk_store_run_insert(st, NULL, NULL), -EINVAL);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 0);
}

/* A start recorded before its process exists (pid 0), its pid after, in a
 * transaction of its own; runs no longer running are skipped. */
static void test_run_pids(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_err_t err;
    sk_run_t a = mkrun("fetch", SK_TRIG_SCHEDULE, 400000);
    sk_run_t b = mkrun("fetch", SK_TRIG_SCHEDULE, 401000);
    sk_run_t c = mkrun("other", SK_TRIG_SCHEDULE, 402000);
    int64_t ia = insert_ok(st, &a), ib = insert_ok(st, &b), ic = insert_ok(st, &c);
    assert_int_equal(sk_store_run_start(st, ia, 400001, 0, "logs/fetch/a.log", NULL), 0);
    assert_int_equal(sk_store_run_start(st, ib, 401001, 0, "logs/fetch/b.log", NULL), 0);
    assert_int_equal(sk_store_run_finish(st, ib, SK_RUN_SUCCEEDED, 401002, 0, 0, NULL, NULL), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, ia, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_RUNNING);
    assert_int_equal(got.pid, 0);
    sk_run_release(&got);

    sk_run_pid_t pids[] = {{ia, 4242}, {ib, 4343}, {ic, 4444}, {ic + 100, 1}};
    assert_int_equal(st->ops->run_pids(st, pids, SK_ARRAY_LEN(pids), &err), 0);
    assert_int_equal(sk_store_run_get(st, ia, &got, NULL), 0);
    assert_int_equal(got.pid, 4242); /* running: recorded */
    assert_string_equal(got.log_path, "logs/fetch/a.log");
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, ib, &got, NULL), 0);
    assert_int_equal(got.pid, 0); /* ended meanwhile: skipped */
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, ic, &got, NULL), 0);
    assert_int_equal(got.pid, 0); /* still queued: skipped */
    sk_run_release(&got);
    assert_int_equal(st->ops->run_pids(st, pids, 0, &err), 0);

    /* Not inside a batch: it is a transaction of its own. */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    assert_int_equal(st->ops->run_pids(st, pids, 1, &err), -EINVAL);
    assert_int_equal(sk_store_commit(st, NULL), 0);
    sk_store_close(st);
}

static void test_start_finish(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_err_t err;
    sk_run_t r = mkrun("fetch", SK_TRIG_SCHEDULE, 300000);
    r.queued_at = 300005;
    int64_t id = insert_ok(st, &r);

    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
    assert_int_equal(got.id, id);
    assert_string_equal(got.job, "fetch");
    assert_null(got.step);
    assert_int_equal(got.status, SK_RUN_QUEUED);
    assert_int_equal(got.trigger, SK_TRIG_SCHEDULE);
    assert_int_equal(got.attempt, 1);
    assert_int_equal(got.scheduled_at, 300000);
    assert_int_equal(got.queued_at, 300005);
    assert_int_equal(got.started_at, 0);
    assert_int_equal(got.ended_at, 0);
    assert_int_equal(got.exit_code, -1);
    assert_int_equal(got.signal, 0);
    assert_int_equal(got.pid, 0);
    assert_null(got.reason);
    assert_null(got.log_path);
    sk_run_release(&got);

    assert_int_equal(sk_store_run_finish(st, id, SK_RUN_RUNNING, 1, -1, 0, NULL, &err), -EINVAL);
    assert_int_equal(sk_store_run_start(st, id, 300010, 777, "logs/fetch/1.log", NULL), 0);
    assert_int_equal(sk_store_run_start(st, id, 300011, 778, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "running"));
    assert_int_equal(sk_store_run_start(st, id + 100, 1, 1, NULL, &err), SK_ENOTFOUND);

    assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_RUNNING);
    assert_int_equal(got.started_at, 300010);
    assert_int_equal(got.pid, 777);
    assert_string_equal(got.log_path, "logs/fetch/1.log");
    sk_run_release(&got);

    assert_int_equal(
        sk_store_run_finish(st, id, SK_RUN_KILLED, 300900, -1, 9, "killed by signal 9", NULL), 0);
    assert_int_equal(sk_store_run_finish(st, id, SK_RUN_FAILED, 300901, 1, 0, NULL, &err),
                     -EALREADY);
    assert_int_equal(sk_store_run_finish(st, id + 100, SK_RUN_FAILED, 1, 1, 0, NULL, &err),
                     SK_ENOTFOUND);
    assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_KILLED);
    assert_int_equal(got.ended_at, 300900);
    assert_int_equal(got.exit_code, -1);
    assert_int_equal(got.signal, 9);
    assert_string_equal(got.reason, "killed by signal 9");
    sk_run_release(&got);

    /* Outcomes straight from queued; a NULL reason keeps the one given at
     * insert, exit code 0 is a real exit code. */
    static const struct {
        sk_run_status_t status;
        int exit_code;
        const char *reason;
    } rows[] = {
        {SK_RUN_SUCCEEDED, 0, NULL},         {SK_RUN_FAILED, 3, "exit status 3"},
        {SK_RUN_TIMED_OUT, -1, "timeout"},   {SK_RUN_SKIPPED, -1, NULL},
        {SK_RUN_INTERRUPTED, -1, "restart"}, {SK_RUN_MISSED, -1, NULL},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_run_t q = mkrun("fetch", SK_TRIG_MANUAL, 400000);
        q.reason = "queued with a reason";
        int64_t qid = insert_ok(st, &q);
        assert_int_equal(sk_store_run_finish(st, qid, rows[i].status, 400001, rows[i].exit_code, 0,
                                             rows[i].reason, NULL),
                         0);
        assert_int_equal(sk_store_run_get(st, qid, &got, NULL), 0);
        assert_int_equal(got.status, rows[i].status);
        assert_int_equal(got.exit_code, rows[i].exit_code);
        assert_string_equal(got.reason, rows[i].reason ? rows[i].reason : "queued with a reason");
        sk_run_release(&got);
    }
    sk_store_close(st);
}

static void test_get_missing(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_run_t got;
    memset(&got, 0x7f, sizeof(got));
    sk_err_t err;
    assert_int_equal(sk_store_run_get(st, 12345, &got, &err), SK_ENOTFOUND);
    assert_int_equal(err.code, SK_ENOTFOUND);
    assert_int_equal(got.id, 0x7f7f7f7f7f7f7f7f); /* not written on failure */
    assert_int_equal(sk_store_run_last(st, "nobody", &got, &err), SK_ENOTFOUND);
    sk_store_close(st);
}

static void test_query(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    int64_t ids[30];
    /* 30 runs: a, b, a, b...; every third one still active. */
    for (int i = 0; i < 30; i++) {
        sk_run_t r = mkrun(i % 2 ? "b" : "a", SK_TRIG_SCHEDULE, 1000 * (i + 1));
        ids[i] = insert_ok(st, &r);
        if (i % 3 != 0)
            assert_int_equal(sk_store_run_finish(st, ids[i], SK_RUN_SUCCEEDED, 1000 * (i + 1) + 5,
                                                 0, 0, NULL, NULL),
                             0);
    }
    static const struct {
        const char *name;
        sk_run_filter_t f;
        int want[31]; /* indexes into ids, newest first; -1 ends */
    } rows[] = {
        {"all, default limit",
         {NULL, 0, 0, false, 0, false, false, 0, 0},
         {29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14,
          13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  -1}},
        {"limit 3", {NULL, 0, 3, false, 0, false, false, 0, 0}, {29, 28, 27, -1}},
        {"job a, limit 4", {"a", 0, 4, false, 0, false, false, 0, 0}, {28, 26, 24, 22, -1}},
        {"job b",
         {"b", 0, 0, false, 0, false, false, 0, 0},
         {29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, -1}},
        {"active",
         {NULL, 0, 0, true, 0, false, false, 0, 0},
         {27, 24, 21, 18, 15, 12, 9, 6, 3, 0, -1}},
        {"active of a", {"a", 0, 0, true, 0, false, false, 0, 0}, {24, 18, 12, 6, 0, -1}},
        {"page after 10", {NULL, -1, 4, false, 0, false, false, 0, 0}, {9, 8, 7, 6, -1}},
        {"job a page", {"a", -1, 2, true, 0, false, false, 0, 0}, {6, 0, -1}},
        {"no such job", {"zzz", 0, 0, false, 0, false, false, 0, 0}, {-1}},
        {"before the first", {NULL, -2, 0, false, 0, false, false, 0, 0}, {-1}},
        {"queued",
         {NULL, 0, 0, false, 0, false, true, SK_RUN_QUEUED, 0},
         {27, 24, 21, 18, 15, 12, 9, 6, 3, 0, -1}},
        {"succeeded of b, limit 3",
         {"b", 0, 3, false, 0, false, true, SK_RUN_SUCCEEDED, 0},
         {29, 25, 23, -1}},
        {"since the 25th ended, or active",
         {NULL, 0, 0, false, 0, false, false, 0, 25005},
         {29, 28, 27, 26, 25, 24, 21, 18, 15, 12, 9, 6, 3, 0, -1}},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_run_filter_t f = rows[i].f;
        if (f.before_id == -1)
            f.before_id = ids[10];
        else if (f.before_id == -2)
            f.before_id = ids[0];
        sk_run_t *runs = (sk_run_t *)&f; /* must be overwritten */
        size_t n = 99;
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_store_runs_query(st, &f, &runs, &n, &err) != 0)
            fail_msg("%s: %s", rows[i].name, err.msg);
        size_t want_n = 0;
        while (rows[i].want[want_n] >= 0)
            want_n++;
        if (n != want_n)
            fail_msg("%s: %zu rows, want %zu", rows[i].name, n, want_n);
        for (size_t k = 0; k < n; k++) {
            if (runs[k].id != ids[rows[i].want[k]])
                fail_msg("%s: row %zu is run %" PRId64 ", want %" PRId64, rows[i].name, k,
                         runs[k].id, ids[rows[i].want[k]]);
            if (f.job)
                assert_string_equal(runs[k].job, f.job);
        }
        if (n == 0)
            assert_null(runs);
        sk_runs_free(runs, n);
    }
    /* A NULL filter is the first page of everything. */
    sk_run_t *runs;
    size_t n;
    assert_int_equal(sk_store_runs_query(st, NULL, &runs, &n, NULL), 0);
    assert_int_equal(n, 30);
    assert_int_equal(runs[0].id, ids[29]);
    sk_runs_free(runs, n);
    sk_store_close(st);
}

static void test_query_limits(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    assert_int_equal(sk_store_begin(st, NULL), 0);
    for (int i = 0; i < SK_STORE_QUERY_MAX + 50; i++) {
        sk_run_t r = mkrun("many", SK_TRIG_SCHEDULE, i + 1);
        insert_ok(st, &r);
    }
    assert_int_equal(sk_store_commit(st, NULL), 0);
    static const struct {
        size_t limit, want;
    } rows[] = {{0, 100},
                {1, 1},
                {SK_STORE_QUERY_MAX, SK_STORE_QUERY_MAX},
                {SK_STORE_QUERY_MAX + 1, SK_STORE_QUERY_MAX},
                {SIZE_MAX, SK_STORE_QUERY_MAX}};
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_run_filter_t f = {.job = "many", .limit = rows[i].limit};
        sk_run_t *runs;
        size_t n;
        assert_int_equal(sk_store_runs_query(st, &f, &runs, &n, NULL), 0);
        assert_int_equal(n, rows[i].want);
        sk_runs_free(runs, n);
    }
    sk_store_close(st);
}

static void test_run_last(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_run_t got;
    assert_int_equal(sk_store_run_last(st, "etl", &got, NULL), SK_ENOTFOUND);
    finished_run(st, "etl", 1000, 1500, NULL);
    sk_run_t r2 = mkrun("etl", SK_TRIG_SCHEDULE, 2000);
    int64_t id2 = insert_ok(st, &r2);
    sk_run_t step = mkrun("etl", SK_TRIG_SCHEDULE, 2000);
    step.step = "extract";
    insert_ok(st, &step);
    sk_run_t other = mkrun("zzz", SK_TRIG_SCHEDULE, 3000);
    insert_ok(st, &other);

    assert_int_equal(sk_store_run_last(st, "etl", &got, NULL), 0);
    assert_int_equal(got.id, id2); /* newest, any status, not the step */
    assert_int_equal(got.status, SK_RUN_QUEUED);
    assert_null(got.step);
    sk_run_release(&got);
    sk_store_close(st);
}

/* ---- workflow steps ---- */

static void test_workflow_steps(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    /* A workflow fire with its parameters; its steps share its instant,
     * trigger and attempt 1, which never makes them -EEXIST; a plain job and
     * a second fire in between, and a late step of the first fire. */
    sk_run_t w1 = mkrun("etl", SK_TRIG_SCHEDULE, 1000);
    w1.params = "{\"day\": \"2026-03-01\", \"full\": true}";
    int64_t p1 = insert_ok(st, &w1);
    sk_run_t r = mkstep("etl", "extract", p1, 1000);
    int64_t s1 = insert_ok(st, &r);
    r = mkrun("backup", SK_TRIG_SCHEDULE, 1000);
    int64_t plain = insert_ok(st, &r);
    assert_int_equal(sk_store_run_finish(st, plain, SK_RUN_SUCCEEDED, 1100, 0, 0, NULL, NULL), 0);
    r = mkstep("etl", "transform", p1, 1000);
    int64_t s2 = insert_ok(st, &r);
    r = mkstep("etl", "transform", p1, 1000);
    r.attempt = 2;
    r.trigger = SK_TRIG_RETRY;
    int64_t s2b = insert_ok(st, &r);
    r = mkrun("etl", SK_TRIG_SCHEDULE, 2000);
    int64_t p2 = insert_ok(st, &r);
    r = mkstep("etl", "extract", p2, 2000);
    int64_t s3 = insert_ok(st, &r);
    r = mkstep("etl", "load", p1, 1000);
    int64_t s4 = insert_ok(st, &r);
    assert_int_equal(sk_store_run_finish(st, s1, SK_RUN_SUCCEEDED, 1200, 0, 0, NULL, NULL), 0);
    assert_int_equal(sk_store_run_finish(st, s2, SK_RUN_FAILED, 1300, 1, 0, NULL, NULL), 0);
    assert_int_equal(sk_store_run_finish(st, s2b, SK_RUN_SUCCEEDED, 1400, 0, 0, NULL, NULL), 0);
    assert_int_equal(sk_store_run_finish(st, s4, SK_RUN_SUCCEEDED, 1500, 0, 0, NULL, NULL), 0);
    assert_int_equal(sk_store_run_start(st, s3, 2001, 9, "s3.log", NULL), 0);

    /* The workflow's own fire is still once only. */
    sk_run_t again = mkrun("etl", SK_TRIG_SCHEDULE, 1000);
    assert_int_equal(sk_store_run_insert(st, &again, NULL), -EEXIST);

    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, p1, &got, NULL), 0);
    assert_int_equal(got.parent_id, 0);
    assert_null(got.step);
    assert_string_equal(got.params, w1.params);
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, s2b, &got, NULL), 0);
    assert_int_equal(got.parent_id, p1);
    assert_string_equal(got.step, "transform");
    assert_int_equal(got.attempt, 2);
    assert_null(got.params);
    sk_run_release(&got);

    const struct {
        const char *name;
        sk_run_filter_t f;
        int64_t want[8]; /* ids in order; 0 ends */
    } rows[] = {
        {"steps of w1, oldest first", {.parent_id = p1}, {s1, s2, s2b, s4}},
        {"steps of w1, limit 2", {.parent_id = p1, .limit = 2}, {s1, s2}},
        {"steps of w1 before s4", {.parent_id = p1, .before_id = s4}, {s1, s2, s2b}},
        {"steps of w1 of job etl", {.job = "etl", .parent_id = p1}, {s1, s2, s2b, s4}},
        {"steps of w1 of another job", {.job = "backup", .parent_id = p1}, {0}},
        {"active steps of w1", {.parent_id = p1, .only_active = true}, {0}},
        {"active steps of w2", {.parent_id = p2, .only_active = true}, {s3}},
        {"steps of a step", {.parent_id = s1}, {0}},
        {"steps of a plain run", {.parent_id = plain}, {0}},
        {"steps of no run", {.parent_id = s4 + 100}, {0}},
        {"negative parent: no filter", {.job = "backup", .parent_id = -5}, {plain}},
        {"top level", {.top_level = true}, {p2, plain, p1}},
        {"top level of etl", {.job = "etl", .top_level = true}, {p2, p1}},
        {"top level, active", {.top_level = true, .only_active = true}, {p2, p1}},
        {"top level, limit 1", {.top_level = true, .limit = 1}, {p2}},
        {"top level and steps: nothing", {.parent_id = p1, .top_level = true}, {0}},
        {"all of etl, newest first", {.job = "etl"}, {s4, s3, p2, s2b, s2, s1, p1}},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++)
        assert_query(st, rows[i].name, &rows[i].f, rows[i].want);

    /* "Last outcome" is about the workflow's own runs, never a step. */
    assert_int_equal(sk_store_run_last(st, "etl", &got, NULL), 0);
    assert_int_equal(got.id, p2);
    sk_run_release(&got);
    sk_store_close(st);
}

static void test_step_insert_invalid(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("wf", SK_TRIG_MANUAL, 1);
    int64_t p = insert_ok(st, &r);
    r = mkstep("wf", "a", p, 1);
    int64_t s = insert_ok(st, &r);
    r = mkrun("other", SK_TRIG_MANUAL, 1);
    int64_t other = insert_ok(st, &r);
    const struct {
        const char *name, *job, *step;
        int64_t parent;
        const char *msg;
    } rows[] = {
        {"negative parent", "wf", "a", -1, "needs a step name"},
        {"no step name", "wf", NULL, p, "needs a step name"},
        {"empty step name", "wf", "", p, "needs a step name"},
        {"no such parent", "wf", "a", other + 1000, "not a top-level run"},
        {"a step as parent", "wf", "b", s, "not a top-level run"},
        {"parent of another job", "wf", "a", other, "not a top-level run"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_run_t bad = mkstep(rows[i].job, rows[i].step, rows[i].parent, 1);
        sk_err_t err;
        sk_err_clear(&err);
        int got = sk_store_run_insert(st, &bad, &err);
        if (got != -EINVAL || !strstr(err.msg, rows[i].msg))
            fail_msg("%s: got %d \"%s\", want -EINVAL \"%s\"", rows[i].name, got, err.msg,
                     rows[i].msg);
        assert_int_equal(bad.id, 0);
    }
    /* Inside a batch a bad step fails alone. */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    sk_run_t bad = mkstep("wf", "a", other + 1000, 1);
    assert_int_equal(sk_store_run_insert(st, &bad, NULL), -EINVAL);
    r = mkstep("wf", "b", p, 1);
    insert_ok(st, &r);
    assert_int_equal(sk_store_commit(st, NULL), 0);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 4);
}

/* ---- outputs ---- */

/* Asserts run's outputs are exactly want (key, value pairs in key order,
 * NULL-terminated). */
static void assert_outputs(sk_store_t *st, int64_t run, const char *const *want)
{
    sk_output_t *o = (sk_output_t *)&run; /* must be overwritten */
    size_t n = 99, want_n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_store_outputs_get(st, run, &o, &n, &err) != 0)
        fail_msg("outputs of %" PRId64 ": %s", run, err.msg);
    while (want[2 * want_n])
        want_n++;
    assert_int_equal(n, want_n);
    if (n == 0)
        assert_null(o);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(o[i].key, want[2 * i]);
        assert_string_equal(o[i].value, want[2 * i + 1]);
    }
    sk_outputs_free(o, n);
}

static void test_outputs(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    int64_t run = finished_run(st, "etl", 1000, 2000, NULL);
    int64_t run2 = finished_run(st, "etl", 3000, 4000, NULL);
    static const char *const none[] = {NULL};
    assert_outputs(st, run, none);

    static const sk_output_t set1[] = {
        {"rows", "1200"}, {"path", "/tmp/out=1"}, {"empty", ""}, {"multi", "a\nb"}, {"Z", "up"},
    };
    static const char *const want1[] = {"Z",    "up",         "empty", "",     "multi", "a\nb",
                                        "path", "/tmp/out=1", "rows",  "1200", NULL};
    assert_int_equal(sk_store_outputs_put(st, run, set1, SK_ARRAY_LEN(set1), NULL), 0);
    assert_outputs(st, run, want1);
    assert_outputs(st, run2, none);

    /* A new set replaces the old one whole. */
    static const sk_output_t set2[] = {{"rows", "7"}};
    static const char *const want2[] = {"rows", "7", NULL};
    assert_int_equal(sk_store_outputs_put(st, run, set2, 1, NULL), 0);
    assert_outputs(st, run, want2);
    assert_int_equal(sk_store_outputs_put(st, run2, set1, SK_ARRAY_LEN(set1), NULL), 0);
    assert_outputs(st, run, want2);

    /* Refusals change nothing. */
    static const sk_output_t dup[] = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
    static const sk_output_t no_key[] = {{"a", "1"}, {NULL, "2"}};
    static const sk_output_t empty_key[] = {{"", "1"}};
    static const sk_output_t no_value[] = {{"a", NULL}};
    static const struct {
        const sk_output_t *o;
        size_t n;
        const char *msg;
    } bad[] = {
        {dup, SK_ARRAY_LEN(dup), "output a given twice"},
        {no_key, SK_ARRAY_LEN(no_key), "no key or value"},
        {empty_key, 1, "no key or value"},
        {no_value, 1, "no key or value"},
        {NULL, 1, "no outputs"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(bad); i++) {
        sk_err_t err;
        sk_err_clear(&err);
        assert_int_equal(sk_store_outputs_put(st, run, bad[i].o, bad[i].n, &err), -EINVAL);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("\"%s\" lacks \"%s\"", err.msg, bad[i].msg);
        assert_outputs(st, run, want2);
    }
    sk_err_t err;
    assert_int_equal(sk_store_outputs_put(st, run2 + 100, set2, 1, &err), SK_ENOTFOUND);
    assert_no_tx(st);
    assert_outputs(st, run2 + 100, none);

    /* In a batch: a missing run fails alone; a rollback takes the set back. */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    assert_int_equal(sk_store_outputs_put(st, run2 + 100, set2, 1, NULL), SK_ENOTFOUND);
    assert_int_equal(sk_store_outputs_put(st, run, set1, SK_ARRAY_LEN(set1), NULL), 0);
    assert_outputs(st, run, want1);
    assert_int_equal(sk_store_rollback(st, NULL), 0);
    assert_outputs(st, run, want2);
    assert_int_equal(sk_store_begin(st, NULL), 0);
    assert_int_equal(sk_store_outputs_put(st, run, set1, SK_ARRAY_LEN(set1), NULL), 0);
    assert_int_equal(sk_store_commit(st, NULL), 0);
    assert_outputs(st, run, want1);

    /* An empty set clears; many keys come back sorted. */
    assert_int_equal(sk_store_outputs_put(st, run, NULL, 0, NULL), 0);
    assert_outputs(st, run, none);
    enum { MANY = 1000 };
    sk_output_t *many = sk_xcalloc(MANY, sizeof(*many));
    for (int i = 0; i < MANY; i++) {
        char k[16];
        sk_snprintf(k, sizeof(k), "k%04d", (i * 7919) % MANY);
        many[i].key = sk_xstrdup(k);
        many[i].value = sk_xstrdup(k + 1);
    }
    assert_int_equal(sk_store_outputs_put(st, run, many, MANY, NULL), 0);
    sk_outputs_free(many, MANY);
    sk_output_t *o;
    size_t n;
    assert_int_equal(sk_store_outputs_get(st, run, &o, &n, NULL), 0);
    assert_int_equal(n, MANY);
    for (size_t i = 0; i < n; i++) {
        char k[16];
        sk_snprintf(k, sizeof(k), "k%04zu", i);
        assert_string_equal(o[i].key, k);
        assert_string_equal(o[i].value, k + 1);
    }
    sk_outputs_free(o, n);
    sk_store_close(st);
}

static void set_room(sk_store_t *st, int64_t extra);

/* A set that does not fit leaves the old one, outside a batch too. */
static void test_outputs_disk_full(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    int64_t run = finished_run(st, "etl", 1000, 2000, NULL);
    static const sk_output_t old[] = {{"rows", "7"}};
    static const char *const want_old[] = {"rows", "7", NULL};
    assert_int_equal(sk_store_outputs_put(st, run, old, 1, NULL), 0);
    char big[3000];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    enum { N = 100 };
    sk_output_t *o = sk_xcalloc(N, sizeof(*o));
    char keys[N][8];
    for (int i = 0; i < N; i++) {
        sk_snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        o[i].key = keys[i];
        o[i].value = big;
    }
    set_room(st, 4);
    sk_err_t err;
    assert_int_equal(sk_store_outputs_put(st, run, o, N, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "disk full"));
    assert_true(sqlite3_get_autocommit(sk_store_sqlite__db(st)));
    assert_outputs(st, run, want_old);
    set_room(st, -1);
    assert_int_equal(sk_store_outputs_put(st, run, o, N, NULL), 0);
    free(o);
    sk_store_close(st);
}

/* ---- alerts ---- */

/* Asserts the ids of alerts[0..n) are want (0-terminated) and frees them. */
static void assert_alert_ids(sk_alert_rec_t *alerts, size_t n, const int64_t *want)
{
    size_t want_n = 0;
    while (want[want_n])
        want_n++;
    assert_int_equal(n, want_n);
    if (n == 0)
        assert_null(alerts);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(alerts[i].id, want[i]);
    sk_alert_recs_free(alerts, n);
}

static void test_alerts(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    int64_t rid = finished_run(st, "a", 500, 900, NULL);
    sk_alert_rec_t *got;
    size_t n;
    assert_int_equal(sk_store_alerts_pending(st, &got, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_null(got);

    sk_alert_rec_t a1 = mkalert("a", rid, SK_ALERTST_PENDING, 1000);
    a1.next_at = 1000;
    int64_t id1 = insert_alert_ok(st, &a1);
    sk_alert_rec_t a2 = mkalert("b", 0, SK_ALERTST_PENDING, 2000);
    a2.event = "missed";
    a2.channel = "slack";
    a2.payload = "{\"text\": \"b missed its 02:00 run\"}";
    int64_t id2 = insert_alert_ok(st, &a2);
    sk_alert_rec_t a3 = mkalert("a", rid, SK_ALERTST_DROPPED, 3000);
    a3.done_at = 3000;
    a3.last_error = "rate limited";
    int64_t id3 = insert_alert_ok(st, &a3);
    assert_true(id1 < id2 && id2 < id3);

    /* Pending, oldest first, every field back. */
    assert_int_equal(sk_store_alerts_pending(st, &got, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].id, id1);
    assert_string_equal(got[0].job, "a");
    assert_int_equal(got[0].run_id, rid);
    assert_string_equal(got[0].event, "failure");
    assert_string_equal(got[0].channel, "webhook");
    assert_string_equal(got[0].payload, a1.payload);
    assert_int_equal(got[0].state, SK_ALERTST_PENDING);
    assert_int_equal(got[0].attempts, 0);
    assert_int_equal(got[0].created_at, 1000);
    assert_int_equal(got[0].next_at, 1000);
    assert_int_equal(got[0].done_at, 0);
    assert_null(got[0].last_error);
    assert_int_equal(got[1].id, id2);
    assert_int_equal(got[1].run_id, 0);
    assert_string_equal(got[1].event, "missed");
    assert_string_equal(got[1].channel, "slack");
    assert_string_equal(got[1].payload, a2.payload);
    sk_alert_recs_free(got, n);

    /* A failed attempt to retry later, then success: the error stays. */
    assert_int_equal(
        sk_store_alert_update(st, id1, SK_ALERTST_PENDING, 1, 31000, 0, "HTTP 500", NULL), 0);
    assert_int_equal(sk_store_alerts_pending(st, &got, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].attempts, 1);
    assert_int_equal(got[0].next_at, 31000);
    assert_string_equal(got[0].last_error, "HTTP 500");
    sk_alert_recs_free(got, n);
    assert_int_equal(sk_store_alert_update(st, id1, SK_ALERTST_DELIVERED, 2, 0, 32000, NULL, NULL),
                     0);
    assert_int_equal(
        sk_store_alert_update(st, id2, SK_ALERTST_FAILED, 5, 0, 99000, "gave up: timeout", NULL),
        0);
    assert_int_equal(sk_store_alerts_pending(st, &got, &n, NULL), 0);
    assert_int_equal(n, 0);

    assert_int_equal(sk_store_alerts_query(st, NULL, 0, &got, &n, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(got[2].id, id1);
    assert_int_equal(got[2].state, SK_ALERTST_DELIVERED);
    assert_int_equal(got[2].attempts, 2);
    assert_int_equal(got[2].next_at, 0);
    assert_int_equal(got[2].done_at, 32000);
    assert_string_equal(got[2].last_error, "HTTP 500");
    assert_int_equal(got[1].state, SK_ALERTST_FAILED);
    assert_string_equal(got[1].last_error, "gave up: timeout");
    assert_int_equal(got[0].state, SK_ALERTST_DROPPED);
    assert_string_equal(got[0].last_error, "rate limited");
    assert_alert_ids(got, n, (const int64_t[]){id3, id2, id1, 0});
    assert_int_equal(sk_store_alerts_query(st, "a", 0, &got, &n, NULL), 0);
    assert_alert_ids(got, n, (const int64_t[]){id3, id1, 0});
    assert_int_equal(sk_store_alerts_query(st, "a", 1, &got, &n, NULL), 0);
    assert_alert_ids(got, n, (const int64_t[]){id3, 0});
    assert_int_equal(sk_store_alerts_query(st, "zzz", 0, &got, &n, NULL), 0);
    assert_alert_ids(got, n, (const int64_t[]){0});

    sk_err_t err;
    assert_int_equal(sk_store_alert_update(st, id3 + 1, SK_ALERTST_DELIVERED, 1, 0, 1, NULL, &err),
                     SK_ENOTFOUND);
    assert_int_equal(sk_store_alert_update(st, id1, (sk_alert_state_t)9, 1, 0, 1, NULL, &err),
                     -EINVAL);
    assert_int_equal(sk_store_alert_update(st, id1, (sk_alert_state_t)-1, 1, 0, 1, NULL, &err),
                     -EINVAL);
    assert_int_equal(sk_store_alert_update(st, id1, SK_ALERTST_FAILED, -1, 0, 1, NULL, &err),
                     -EINVAL);

    for (int i = 0; i < 10; i++) {
        sk_alert_rec_t b = mkalert("a", rid, SK_ALERTST_PENDING, 1);
        switch (i) {
        case 0:
            b.job = NULL;
            break;
        case 1:
            b.job = "";
            break;
        case 2:
            b.event = NULL;
            break;
        case 3:
            b.event = "";
            break;
        case 4:
            b.channel = NULL;
            break;
        case 5:
            b.channel = "";
            break;
        case 6:
            b.payload = NULL;
            break;
        case 7:
            b.state = (sk_alert_state_t)4;
            break;
        case 8:
            b.attempts = -1;
            break;
        case 9:
            b.run_id = -1;
            break;
        }
        assert_int_equal(sk_store_alert_insert(st, &b, &err), -EINVAL);
        assert_int_equal(b.id, 0);
    }
    assert_int_equal(sk_store_alert_insert(st, NULL, &err), -EINVAL);

    /* The default limit, and the cap. */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    for (int i = 0; i < 150; i++) {
        sk_alert_rec_t b = mkalert("many", 0, SK_ALERTST_DELIVERED, i);
        insert_alert_ok(st, &b);
    }
    assert_int_equal(sk_store_commit(st, NULL), 0);
    assert_int_equal(sk_store_alerts_query(st, "many", 0, &got, &n, NULL), 0);
    assert_int_equal(n, 100);
    assert_int_equal(got[0].created_at, 149);
    sk_alert_recs_free(got, n);
    assert_int_equal(sk_store_alerts_query(st, NULL, SIZE_MAX, &got, &n, NULL), 0);
    assert_int_equal(n, 153);
    sk_alert_recs_free(got, n);

    /* A state spelled by something else is an error, not a guess. */
    char sql[96];
    sk_snprintf(sql, sizeof(sql), "UPDATE alerts SET state = 'sent' WHERE id = %" PRId64, id3);
    store_exec(st, sql);
    got = (sk_alert_rec_t *)&err;
    n = 42;
    assert_int_equal(sk_store_alerts_query(st, "a", 0, &got, &n, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "unknown state 'sent'"));
    assert_int_equal(n, 42);
    sk_store_close(st);
}

/* ---- job state ---- */

/* A run started by an event keeps the event; a boot fires each job's boot
 * trigger once per boot id, and the mark goes with a rolled-back batch. */
static void test_event_runs_and_boot_claims(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("j", SK_TRIG_EVENT, 1000);
    r.event = "boot: 8d2c";
    assert_int_equal(sk_store_run_insert(st, &r, NULL), 0);
    sk_run_t plain = mkrun("j", SK_TRIG_MANUAL, 2000);
    assert_int_equal(sk_store_run_insert(st, &plain, NULL), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, r.id, &got, NULL), 0);
    assert_int_equal(got.trigger, SK_TRIG_EVENT);
    assert_string_equal(got.event, "boot: 8d2c");
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, plain.id, &got, NULL), 0);
    assert_null(got.event);
    sk_run_release(&got);

    const sk_store_ops_t *ops = st->ops;
    assert_int_equal(ops->boot_claim(st, "j", "boot-1", NULL), 1);
    assert_int_equal(ops->boot_claim(st, "j", "boot-1", NULL), 0);
    assert_int_equal(ops->boot_claim(st, "k", "boot-1", NULL), 1); /* per job */
    assert_int_equal(ops->boot_claim(st, "j", "boot-2", NULL), 1);
    assert_int_equal(ops->boot_claim(st, "j", "boot-2", NULL), 0);
    assert_int_equal(sk_store_begin(st, NULL), 0);
    assert_int_equal(ops->boot_claim(st, "j", "boot-3", NULL), 1);
    assert_int_equal(sk_store_rollback(st, NULL), 0);
    assert_int_equal(ops->boot_claim(st, "j", "boot-3", NULL), 1); /* not kept */
    sk_err_t err;
    assert_int_equal(ops->boot_claim(st, "", "boot-1", &err), -EINVAL);
    assert_int_equal(ops->boot_claim(st, "j", NULL, &err), -EINVAL);
    sk_store_close(st);
}

static void test_job_state(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_job_state_t js = {123, true, SK_RUN_FAILED, 77};
    assert_int_equal(sk_store_job_state_get(st, "never-seen", &js, NULL), 0);
    assert_int_equal(js.last_fire, 0);
    assert_false(js.paused);
    assert_int_equal(js.last_outcome, -1);
    assert_int_equal(js.missed_alerted, 0);

    static const sk_job_state_t seq[] = {
        {1000, false, -1, 0},
        {2000, true, SK_RUN_FAILED, 0},
        {2000, false, SK_RUN_SUCCEEDED, 1500},
        {0, false, SK_RUN_INTERRUPTED, 0},
        {INT64_MAX, true, -1, INT64_MAX},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(seq); i++) {
        assert_int_equal(sk_store_job_state_set(st, "j", &seq[i], NULL), 0);
        sk_job_state_t got;
        assert_int_equal(sk_store_job_state_get(st, "j", &got, NULL), 0);
        assert_int_equal(got.last_fire, seq[i].last_fire);
        assert_int_equal(got.paused, seq[i].paused);
        assert_int_equal(got.last_outcome, seq[i].last_outcome);
        assert_int_equal(got.missed_alerted, seq[i].missed_alerted);
    }
    assert_int_equal(sk_store_job_state_get(st, "never-seen", &js, NULL), 0);
    assert_int_equal(js.last_fire, 0);
    assert_int_equal(sk_store_job_state_set(st, "", &seq[0], NULL), -EINVAL);
    assert_int_equal(sk_store_job_state_set(st, NULL, &seq[0], NULL), -EINVAL);
    /* An outcome must be a status, or -1. */
    static const int bad_outcomes[] = {-2, SK_RUN_INTERRUPTED + 1, 99, INT32_MIN};
    for (size_t i = 0; i < SK_ARRAY_LEN(bad_outcomes); i++) {
        sk_job_state_t bad = {5, false, bad_outcomes[i], 0};
        sk_err_t err;
        assert_int_equal(sk_store_job_state_set(st, "j", &bad, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "last outcome"));
    }
    sk_job_state_t got;
    assert_int_equal(sk_store_job_state_get(st, "j", &got, NULL), 0);
    assert_int_equal(got.last_fire, INT64_MAX); /* unchanged */
    /* One written by something else is refused on reading, not guessed at. */
    store_exec(st, "UPDATE job_state SET last_outcome = 42 WHERE job = 'j'");
    sk_err_t err;
    memset(&got, 0x7f, sizeof(got));
    assert_int_equal(sk_store_job_state_get(st, "j", &got, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "unknown last outcome 42"));
    assert_int_equal(got.last_fire, 0x7f7f7f7f7f7f7f7f); /* not written on failure */
    sk_store_close(st);
}

/* ---- pruning ---- */

typedef struct {
    int calls, nulls;
    char seen[2048];
} pruned_t;

static void on_pruned(const char *log_path, void *data)
{
    pruned_t *p = data;
    p->calls++;
    if (!log_path) {
        p->nulls++;
        return;
    }
    size_t len = strlen(p->seen);
    sk_snprintf(p->seen + len, sizeof(p->seen) - len, "%s;", log_path);
}

static void test_prune(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *name;
        size_t keep;
        int64_t before;
        const char *want_seen; /* the deleted runs' logs, oldest first */
        int want_left;         /* of job a */
    } rows[] = {
        {"nothing asked", 0, 0, "", 11},
        {"keep 3", 3, 0, "l1;l2;l3;l4;l5;l6;l7;", 4},
        {"keep 20", 20, 0, "", 11},
        {"ended before 5500", 0, 5500, "l1;l2;l3;l4;", 7},
        {"both", 8, 4500, "l1;l2;l3;", 8},
        {"keep 1, all old", 1, INT64_MAX, "l1;l2;l3;l4;l5;l6;l7;l8;l9;l10;", 1},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        store_reset(fx);
        sk_store_t *st = open_ok(fx->db);
        /* Job a: ten finished runs l1..l10 ending at 1500, 2500, ...; one
         * still running; job b: one old finished run. */
        for (int k = 1; k <= 10; k++) {
            char log[16];
            sk_snprintf(log, sizeof(log), "l%d", k);
            finished_run(st, "a", 1000 * k, 1000 * k + 500, log);
        }
        sk_run_t running = mkrun("a", SK_TRIG_MANUAL, 500);
        int64_t rid = insert_ok(st, &running);
        assert_int_equal(sk_store_run_start(st, rid, 501, 1, "running.log", NULL), 0);
        finished_run(st, "b", 100, 200, "b1");

        pruned_t p;
        memset(&p, 0, sizeof(p));
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_store_prune(st, "a", rows[i].keep, rows[i].before, on_pruned, &p, &err) != 0)
            fail_msg("%s: %s", rows[i].name, err.msg);
        if (!sk_streq(p.seen, rows[i].want_seen))
            fail_msg("%s: pruned \"%s\", want \"%s\"", rows[i].name, p.seen, rows[i].want_seen);
        sk_run_filter_t f = {.job = "a"};
        sk_run_t *runs;
        size_t n;
        assert_int_equal(sk_store_runs_query(st, &f, &runs, &n, NULL), 0);
        assert_int_equal(n, rows[i].want_left);
        assert_int_equal(runs[0].id, rid); /* the running one always stays */
        sk_runs_free(runs, n);
        f.job = "b";
        assert_int_equal(sk_store_runs_query(st, &f, &runs, &n, NULL), 0);
        assert_int_equal(n, 1);
        sk_runs_free(runs, n);
        sk_store_close(st);
    }
}

static void test_prune_many_and_null_logs(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    assert_int_equal(sk_store_begin(st, NULL), 0);
    for (int i = 0; i < 1000; i++) {
        sk_run_t r = mkrun("big", SK_TRIG_SCHEDULE, i + 1);
        r.status = SK_RUN_MISSED; /* final without a log or an end */
        insert_ok(st, &r);
    }
    assert_int_equal(sk_store_commit(st, NULL), 0);
    pruned_t p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_store_prune(st, "big", 10, 0, on_pruned, &p, NULL), 0);
    assert_int_equal(p.calls, 990);
    assert_int_equal(p.nulls, 990);
    /* Age uses the scheduled instant when a run has no end. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_store_prune(st, "big", 0, 996, on_pruned, &p, NULL), 0);
    assert_int_equal(p.calls, 5);
    assert_int_equal(sk_store_prune(st, "big", 1, 0, NULL, NULL, NULL), 0);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 1);

    /* Ids are never reused, even when the newest row was pruned. */
    st = open_ok(fx->db);
    assert_int_equal(sk_store_prune(st, "big", 0, INT64_MAX, NULL, NULL, NULL), 0);
    sk_run_t r = mkrun("big", SK_TRIG_MANUAL, 1);
    assert_true(insert_ok(st, &r) > 1000);
    sk_store_close(st);
}

/* A workflow run of job "wf" fired at `at` with `nsteps` steps, all
 * finished; logs are named "wK" and "wK.sN" (K = at / 1000). Returns the
 * workflow run's id, its steps' ids in steps[] (may be NULL). */
static int64_t finished_workflow(sk_store_t *st, int64_t at, int nsteps, int64_t *steps)
{
    char log[32];
    sk_run_t r = mkrun("wf", SK_TRIG_SCHEDULE, at);
    int64_t p = insert_ok(st, &r);
    sk_snprintf(log, sizeof(log), "w%" PRId64, at / 1000);
    assert_int_equal(sk_store_run_start(st, p, at + 1, 1, log, NULL), 0);
    for (int k = 1; k <= nsteps; k++) {
        char step[16];
        sk_snprintf(step, sizeof(step), "s%d", k);
        sk_run_t sr = mkstep("wf", step, p, at);
        int64_t id = insert_ok(st, &sr);
        sk_snprintf(log, sizeof(log), "w%" PRId64 ".s%d", at / 1000, k);
        assert_int_equal(sk_store_run_start(st, id, at + 2, 2, log, NULL), 0);
        assert_int_equal(
            sk_store_run_finish(st, id, SK_RUN_SUCCEEDED, at + 100 + k, 0, 0, NULL, NULL), 0);
        static const sk_output_t out[] = {{"n", "1"}};
        assert_int_equal(sk_store_outputs_put(st, id, out, 1, NULL), 0);
        if (steps)
            steps[k - 1] = id;
    }
    static const sk_output_t pout[] = {{"p", "1"}};
    assert_int_equal(sk_store_outputs_put(st, p, pout, 1, NULL), 0);
    assert_int_equal(sk_store_run_finish(st, p, SK_RUN_SUCCEEDED, at + 500, 0, 0, NULL, NULL), 0);
    return p;
}

static size_t count_outputs(sk_store_t *st, int64_t run)
{
    sk_output_t *o;
    size_t n;
    assert_int_equal(sk_store_outputs_get(st, run, &o, &n, NULL), 0);
    sk_outputs_free(o, n);
    return n;
}

static bool has_alert(sk_store_t *st, const char *job, int64_t id)
{
    sk_alert_rec_t *a;
    size_t n;
    bool found = false;
    assert_int_equal(sk_store_alerts_query(st, job, 0, &a, &n, NULL), 0);
    for (size_t i = 0; i < n; i++)
        found = found || a[i].id == id;
    sk_alert_recs_free(a, n);
    return found;
}

static void test_prune_workflow(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    /* w0: the oldest, finished, but one of its steps still runs (only after
     * a crash could that be): never pruned while the step is active. */
    sk_run_t r = mkrun("wf", SK_TRIG_SCHEDULE, 500);
    int64_t w0 = insert_ok(st, &r);
    r = mkstep("wf", "s1", w0, 500);
    int64_t w0s = insert_ok(st, &r);
    assert_int_equal(sk_store_run_start(st, w0s, 501, 3, "w0.s1", NULL), 0);
    assert_int_equal(sk_store_run_finish(st, w0, SK_RUN_INTERRUPTED, 600, -1, 0, NULL, NULL), 0);
    /* w1..w5 with three steps each, ending at 1500, 2500, ... */
    int64_t w[6], s1[3], s4[3];
    for (int k = 1; k <= 5; k++)
        w[k] = finished_workflow(st, 1000 * k, 3, k == 1 ? s1 : k == 4 ? s4 : NULL);

    sk_alert_rec_t al;
    al = mkalert("wf", s1[0], SK_ALERTST_DELIVERED, 1200);
    int64_t al_step_done = insert_alert_ok(st, &al);
    al = mkalert("wf", s1[1], SK_ALERTST_PENDING, 1200);
    int64_t al_step_pending = insert_alert_ok(st, &al);
    al = mkalert("wf", w[1], SK_ALERTST_FAILED, 1600);
    int64_t al_w1 = insert_alert_ok(st, &al);
    al = mkalert("wf", 0, SK_ALERTST_DELIVERED, 3400); /* "missed", about no run */
    int64_t al_none_old = insert_alert_ok(st, &al);
    al = mkalert("wf", 0, SK_ALERTST_DELIVERED, 3600);
    int64_t al_none_new = insert_alert_ok(st, &al);
    al = mkalert("wf", 0, SK_ALERTST_PENDING, 100);
    int64_t al_none_pending = insert_alert_ok(st, &al);
    al = mkalert("other", 0, SK_ALERTST_DELIVERED, 100);
    int64_t al_other = insert_alert_ok(st, &al);
    al = mkalert("wf", w[5], SK_ALERTST_DELIVERED, 5600);
    int64_t al_w5 = insert_alert_ok(st, &al);
    int64_t rows_before = count_runs(fx->db);

    /* keep 2 counts workflow runs, not rows: w1..w3 go with their steps. */
    pruned_t p;
    memset(&p, 0, sizeof(p));
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_store_prune(st, "wf", 2, 0, on_pruned, &p, &err) != 0)
        fail_msg("prune: %s", err.msg);
    assert_int_equal(p.calls, 3 * 4);
    assert_int_equal(p.nulls, 0);
    static const char *const gone[] = {"w1;", "w1.s1;", "w1.s2;", "w1.s3;",
                                       "w2;", "w2.s3;", "w3;",    "w3.s1;"};
    for (size_t i = 0; i < SK_ARRAY_LEN(gone); i++)
        if (!strstr(p.seen, gone[i]))
            fail_msg("pruned \"%s\" lacks %s", p.seen, gone[i]);
    assert_null(strstr(p.seen, "w4"));
    assert_null(strstr(p.seen, "w0"));
    assert_int_equal(count_runs(fx->db), rows_before - 12);

    sk_run_filter_t f = {.job = "wf", .top_level = true};
    assert_query(st, "left", &f, (const int64_t[]){w[5], w[4], w0, 0});
    f = (sk_run_filter_t){.parent_id = w[4]};
    assert_query(st, "steps of w4", &f, (const int64_t[]){s4[0], s4[1], s4[2], 0});
    f = (sk_run_filter_t){.parent_id = w[1]};
    assert_query(st, "steps of w1", &f, (const int64_t[]){0});
    f = (sk_run_filter_t){.parent_id = w0};
    assert_query(st, "steps of w0", &f, (const int64_t[]){w0s, 0});
    /* Outputs went with their runs. */
    assert_int_equal(count_outputs(st, w[1]), 0);
    assert_int_equal(count_outputs(st, s1[0]), 0);
    assert_int_equal(count_outputs(st, w[4]), 1);
    assert_int_equal(count_outputs(st, s4[2]), 1);
    store_exec(st, "SELECT 1");
    /* Alerts about the pruned runs went, unless still to be delivered; those
     * about no run went when older than the pruned runs (w3 ended at 3500). */
    assert_false(has_alert(st, "wf", al_step_done));
    assert_false(has_alert(st, "wf", al_w1));
    assert_true(has_alert(st, "wf", al_step_pending));
    assert_false(has_alert(st, "wf", al_none_old));
    assert_true(has_alert(st, "wf", al_none_new));
    assert_true(has_alert(st, "wf", al_none_pending));
    assert_true(has_alert(st, "wf", al_w5));
    assert_true(has_alert(st, "other", al_other));

    /* The alert left pending is delivered later; pruning by age then takes
     * it (its run is gone), and everything final, w0 still excepted. */
    assert_int_equal(
        sk_store_alert_update(st, al_step_pending, SK_ALERTST_DELIVERED, 1, 0, 9000, NULL, NULL),
        0);
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_store_prune(st, "wf", 0, 7000, on_pruned, &p, NULL), 0);
    assert_int_equal(p.calls, 2 * 4);
    assert_false(has_alert(st, "wf", al_step_pending));
    assert_false(has_alert(st, "wf", al_none_new));
    assert_false(has_alert(st, "wf", al_w5));
    assert_true(has_alert(st, "wf", al_none_pending));
    assert_true(has_alert(st, "other", al_other));
    f = (sk_run_filter_t){.job = "wf"};
    assert_query(st, "only w0 left", &f, (const int64_t[]){w0s, w0, 0});

    /* Once its step has an outcome, w0 goes too. */
    assert_int_equal(sk_store_run_finish(st, w0s, SK_RUN_INTERRUPTED, 700, -1, 0, NULL, NULL), 0);
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_store_prune(st, "wf", 0, 7000, on_pruned, &p, NULL), 0);
    assert_int_equal(p.calls, 2);
    assert_string_equal(p.seen, "w0.s1;");
    assert_int_equal(p.nulls, 1); /* w0 had no log */
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 0);
}

/* Many workflows: chunks count workflow runs, their steps come along. */
static void test_prune_many_workflows(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    assert_int_equal(sk_store_begin(st, NULL), 0);
    for (int i = 0; i < 600; i++) {
        sk_run_t r = mkrun("wf", SK_TRIG_SCHEDULE, i + 1);
        r.status = SK_RUN_SUCCEEDED;
        int64_t p = insert_ok(st, &r);
        for (int k = 0; k < 4; k++) {
            static const char *const names[] = {"a", "b", "c", "d"};
            sk_run_t sr = mkstep("wf", names[k], p, i + 1);
            sr.status = SK_RUN_SUCCEEDED;
            insert_ok(st, &sr);
        }
    }
    assert_int_equal(sk_store_commit(st, NULL), 0);
    pruned_t p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sk_store_prune(st, "wf", 10, 0, on_pruned, &p, NULL), 0);
    assert_int_equal(p.calls, 590 * 5);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 10 * 5);
}

/* ---- migrations, the file ---- */

/* Migration 1 exactly as sked 0.1 released it. A released migration never
 * changes: the test below fails if someone edits it. */
static const char v1_schema[] =
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
    ") WITHOUT ROWID;\n";

static void test_migration_1_frozen(void **state)
{
    (void)state;
    assert_true(sk_store_sqlite__schema_version() >= 2);
    assert_string_equal(sk_store_sqlite__migration(1), v1_schema);
    assert_null(sk_store_sqlite__migration(0));
    assert_null(sk_store_sqlite__migration(sk_store_sqlite__schema_version() + 1));
    assert_non_null(sk_store_sqlite__migration(sk_store_sqlite__schema_version()));
}

/* A store as sked 0.1 left it: schema 1, WAL, some history, and job state.
 * Run 5 was pruned (so the id sequence is ahead of the rows). */
static void make_v1_store(const char *path)
{
    raw_exec(path, "PRAGMA journal_mode = WAL");
    raw_exec(path, v1_schema);
    raw_exec(path,
             "PRAGMA application_id = 1936418148; PRAGMA user_version = 1;"
             "INSERT INTO meta (key, value) VALUES ('schema_version', '1'),"
             " ('written_by', 'sked 0.1.0'), ('created_at', '2026-01-01T00:00:00Z');"
             "INSERT INTO runs (id, job, step, status, \"trigger\", attempt, scheduled_at,"
             " queued_at, started_at, ended_at, exit_code, signal, pid, reason, log_path) VALUES"
             " (1, 'backup', NULL, 'succeeded', 'schedule', 1, 60000, 60000, 60001, 61000, 0,"
             "  NULL, 11, NULL, 'logs/backup/1.log'),"
             " (2, 'etl', NULL, 'failed', 'schedule', 1, 120000, 120000, 120001, 121000, 3,"
             "  NULL, 12, 'exit status 3', 'logs/etl/2.log'),"
             " (3, 'etl', 'extract', 'succeeded', 'schedule', 1, 120000, 120000, 120002,"
             "  120500, 0, NULL, 13, NULL, 'logs/etl/3.log'),"
             " (4, 'backup', NULL, 'running', 'manual', 1, 130000, 130000, 130001, NULL, NULL,"
             "  NULL, 14, NULL, 'logs/backup/4.log'),"
             " (5, 'backup', NULL, 'killed', 'retry', 2, 60000, 62000, 62001, 63000, NULL, 9,"
             "  15, NULL, NULL);"
             "DELETE FROM runs WHERE id = 5;"
             "INSERT INTO job_state (job, last_fire, paused) VALUES ('backup', 60000, 0),"
             " ('etl', 120000, 1);");
}

static int64_t pragma_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* What a version-1 store (make_v1_store, make_pg_v1_store) holds once
 * migrated: pass 0 just migrated, adding rows; pass 1 opened again. */
static void v1_store_checks(sk_store_t *st, int pass)
{
    /* Every row is there, with the new columns' defaults. */
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, 1, &got, NULL), 0);
    assert_string_equal(got.job, "backup");
    assert_int_equal(got.status, SK_RUN_SUCCEEDED);
    assert_int_equal(got.ended_at, 61000);
    assert_int_equal(got.exit_code, 0);
    assert_int_equal(got.pid, 11);
    assert_string_equal(got.log_path, "logs/backup/1.log");
    assert_int_equal(got.parent_id, 0);
    assert_null(got.params);
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, 2, &got, NULL), 0);
    assert_string_equal(got.reason, "exit status 3");
    assert_int_equal(got.exit_code, 3);
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, 3, &got, NULL), 0);
    assert_string_equal(got.step, "extract");
    assert_int_equal(got.parent_id, 0);
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, 5, &got, NULL), SK_ENOTFOUND);
    sk_run_filter_t f = {.only_active = true};
    if (pass == 0)
        assert_query(st, "active", &f, (const int64_t[]){4, 0});
    else /* with the two runs pass 0 added */
        assert_query(st, "active", &f, (const int64_t[]){7, 6, 4, 0});
    assert_int_equal(sk_store_run_last(st, "etl", &got, NULL), 0);
    assert_int_equal(got.id, 2);
    sk_run_release(&got);

    sk_job_state_t js;
    assert_int_equal(sk_store_job_state_get(st, "backup", &js, NULL), 0);
    assert_int_equal(js.last_fire, 60000);
    assert_false(js.paused);
    assert_int_equal(js.last_outcome, -1);
    assert_int_equal(js.missed_alerted, 0);
    assert_int_equal(sk_store_job_state_get(st, "etl", &js, NULL), 0);
    assert_int_equal(js.last_fire, 120000);
    assert_true(js.paused);
    assert_int_equal(js.last_outcome, pass == 0 ? -1 : SK_RUN_FAILED); /* set in pass 0 */

    /* Old fires stay once only; ids go on past the pruned one. */
    sk_run_t again = mkrun("backup", SK_TRIG_SCHEDULE, 60000);
    assert_int_equal(sk_store_run_insert(st, &again, NULL), -EEXIST);
    if (pass == 0) {
        sk_run_t r = mkrun("backup", SK_TRIG_MANUAL, 200000);
        assert_int_equal(insert_ok(st, &r), 6);
        /* The new things work on old rows. */
        r = mkstep("etl", "load", 2, 120000);
        assert_int_equal(insert_ok(st, &r), 7);
        static const sk_output_t out[] = {{"rows", "3"}};
        assert_int_equal(sk_store_outputs_put(st, 3, out, 1, NULL), 0);
        sk_alert_rec_t al = mkalert("etl", 2, SK_ALERTST_PENDING, 121000);
        insert_alert_ok(st, &al);
        js.last_outcome = SK_RUN_FAILED;
        assert_int_equal(sk_store_job_state_set(st, "etl", &js, NULL), 0);
    }
    sk_run_filter_t steps = {.parent_id = 2};
    assert_query(st, "steps of 2", &steps, (const int64_t[]){7, 0});
    assert_int_equal(count_outputs(st, 3), 1);
}

static void test_migration_from_v1(void **state)
{
    fixture_t *fx = *state;
    make_v1_store(fx->db);
    struct stat before;
    assert_int_equal(stat(fx->db, &before), 0);

    /* A reader does not migrate. */
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "older"));
    assert_int_equal(pragma_int(fx->db, "PRAGMA user_version"), 1);

    for (int pass = 0; pass < 2; pass++) { /* migrated, then opened as is */
        st = open_ok(fx->db);
        assert_int_equal(pragma_int(fx->db, "PRAGMA user_version"),
                         sk_store_sqlite__schema_version());
        assert_int_equal(pragma_int(fx->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
                                            "'schema_version'"),
                         sk_store_sqlite__schema_version());
        assert_int_equal(pragma_int(fx->db, "SELECT count(*) FROM meta WHERE key = 'created_at' "
                                            "AND value = '2026-01-01T00:00:00Z'"),
                         1);
        assert_int_equal(pragma_int(fx->db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                                            "('outputs', 'alerts', 'runs_parent', "
                                            "'alerts_pending', 'runs_fire')"),
                         5);

        v1_store_checks(st, pass);
        sk_store_close(st);
    }
    /* Readers open it now; the file kept its mode (only new files are made
     * private). */
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), 0);
    sk_store_close(st);
    struct stat after;
    assert_int_equal(stat(fx->db, &after), 0);
    assert_int_equal(after.st_mode & 0777, before.st_mode & 0777);
}

/* A migration that fails leaves the file at the old version, data intact. */
static void test_migration_failure_rolls_back(void **state)
{
    fixture_t *fx = *state;
    make_v1_store(fx->db);
    /* Something made a table the migration wants to create. */
    raw_exec(fx->db, "CREATE TABLE alerts (x)");
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open(fx->db, &st, &err), SK_ESTORE);
    assert_null(st);
    if (!strstr(err.msg, fx->db) || !strstr(err.msg, "migration"))
        fail_msg("\"%s\" should name the file and the migration", err.msg);
    assert_int_equal(pragma_int(fx->db, "PRAGMA user_version"), 1);
    assert_int_equal(pragma_int(fx->db, "SELECT count(*) FROM pragma_table_info('runs') WHERE "
                                        "name = 'parent_id'"),
                     0);
    assert_int_equal(pragma_int(fx->db, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                        "'outputs'"),
                     0);
    assert_int_equal(count_runs(fx->db), 4);
    /* Once the obstacle is gone, it upgrades. */
    raw_exec(fx->db, "DROP TABLE alerts");
    st = open_ok(fx->db);
    sk_store_close(st);
    assert_int_equal(pragma_int(fx->db, "PRAGMA user_version"), sk_store_sqlite__schema_version());
    assert_int_equal(count_runs(fx->db), 4);
}

/* Migration 2 exactly as released (the schema clusters start from). A
 * released migration never changes: the test below fails if someone edits
 * it. */
static const char v2_migration[] =
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
    "CREATE INDEX alerts_run ON alerts (run_id) WHERE run_id > 0;\n";

static void test_migration_2_frozen(void **state)
{
    (void)state;
    assert_true(sk_store_sqlite__schema_version() >= 3);
    assert_string_equal(sk_store_sqlite__migration(2), v2_migration);
}

/* A store as the release before clusters left it: the history of
 * make_v1_store upgraded by migration 2 as released, plus rows of what
 * version 2 added (outputs, a delivered alert). */
static void make_v2_store(const char *path)
{
    make_v1_store(path);
    raw_exec(path, v2_migration);
    raw_exec(path, "PRAGMA user_version = 2;"
                   "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
                   "INSERT INTO outputs (run_id, key, value) VALUES (2, 'rows', '7'),"
                   " (2, 'skipped', '0');"
                   "INSERT INTO alerts (job, run_id, event, channel, payload, state, attempts,"
                   " created_at, done_at) VALUES ('etl', 2, 'failure', 'webhook', '{}',"
                   " 'delivered', 1, 121000, 121500);");
}

/* What a version-2 store (make_v2_store, make_pg_v2_store) holds once
 * migrated: everything v1_store_checks looks for, version 2's rows, the
 * cluster columns' defaults on old rows, and the new operations working on
 * them. pass 0 just migrated; pass 1 opened again. */
static void v2_store_checks(sk_store_t *st, int pass)
{
    v1_store_checks(st, pass);
    assert_int_equal(count_outputs(st, 2), 2);
    sk_alert_rec_t *a = NULL;
    size_t n = 0;
    assert_int_equal(sk_store_alerts_query(st, "etl", 0, &a, &n, NULL), 0);
    assert_int_equal(n, 2); /* the old one and the one pass 0 added */
    assert_int_equal(a[1].state, SK_ALERTST_DELIVERED);
    assert_int_equal(a[1].done_at, 121500);
    sk_alert_recs_free(a, n);
    for (int64_t id = 1; id <= 4; id++) {
        sk_run_t got;
        assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
        assert_null(got.node);
        assert_null(got.spec);
        assert_null(got.cancel);
        assert_false(got.dispatched);
        assert_false(got.settled);
        sk_run_release(&got);
    }
    sk_node_t *nodes = NULL;
    assert_int_equal(st->ops->nodes_list(st, 0, &nodes, &n, NULL), 0);
    assert_int_equal(n, (size_t)pass);
    sk_nodes_free(nodes, n);
    if (pass == 0) {
        sk_node_t me = {.name = "n1", .labels = "", .pid = 1};
        assert_int_equal(st->ops->node_beat(st, &me, NULL, NULL), 0);
    }
    if (!store_is_pg(st))
        return;
    /* A run of the old schema's era can be handed out and claimed. */
    sk_run_t *runs = NULL;
    if (pass == 0) {
        assert_int_equal(st->ops->cluster->run_dispatch(st, 6, NULL, "{}", NULL), 0);
        assert_int_equal(st->ops->cluster->runs_claim(st, "n1", "", 5, 300000, &runs, &n, NULL), 0);
    } else {
        assert_int_equal(st->ops->cluster->runs_of_node(st, "n1", &runs, &n, NULL), 0);
    }
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, 6);
    assert_string_equal(runs[0].node, "n1");
    assert_true(runs[0].dispatched);
    sk_runs_free(runs, n);
}

static void test_migration_from_v2(void **state)
{
    fixture_t *fx = *state;
    make_v2_store(fx->db);
    /* Something in the migration's way: it fails, the file stays at 2. */
    raw_exec(fx->db, "CREATE TABLE nodes (x)");
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open(fx->db, &st, &err), SK_ESTORE);
    assert_null(st);
    if (!strstr(err.msg, fx->db) || !strstr(err.msg, "migration"))
        fail_msg("\"%s\" should name the file and the migration", err.msg);
    assert_int_equal(pragma_int(fx->db, "PRAGMA user_version"), 2);
    assert_int_equal(pragma_int(fx->db, "SELECT count(*) FROM pragma_table_info('runs') WHERE "
                                        "name = 'node'"),
                     0);
    raw_exec(fx->db, "DROP TABLE nodes");
    /* A reader does not migrate. */
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "older"));

    for (int pass = 0; pass < 2; pass++) { /* migrated, then opened as is */
        st = open_ok(fx->db);
        assert_int_equal(pragma_int(fx->db, "PRAGMA user_version"),
                         sk_store_sqlite__schema_version());
        assert_int_equal(pragma_int(fx->db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
                                            "'schema_version'"),
                         sk_store_sqlite__schema_version());
        assert_int_equal(pragma_int(fx->db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                                            "('nodes', 'runs_claim', 'runs_unsettled', "
                                            "'runs_node')"),
                         4);
        v2_store_checks(st, pass);
        sk_store_close(st);
    }
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), 0);
    sk_store_close(st);
}

static mode_t file_mode(const char *dir, const char *name)
{
    char path[400];
    struct stat sb;
    sk_snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &sb) < 0)
        fail_msg("%s: %s", path, strerror(errno));
    return sb.st_mode & 07777;
}

static void test_new_store_file_is_private(void **state)
{
    fixture_t *fx = *state;
    mode_t old = umask(022);
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("a", SK_TRIG_MANUAL, 1);
    insert_ok(st, &r); /* the -wal and -shm files exist while it is open */
    assert_int_equal(file_mode(fx->dir, "sked.db"), 0600);
    assert_int_equal(file_mode(fx->dir, "sked.db-wal"), 0600);
    assert_int_equal(file_mode(fx->dir, "sked.db-shm"), 0600);
    sk_store_close(st);
    assert_int_equal(file_mode(fx->dir, "sked.db"), 0600);

    /* A file that exists keeps the mode its owner gave it. */
    unlink(fx->db);
    write_file(fx->db, "", 0);
    assert_int_equal(chmod(fx->db, 0640), 0);
    st = open_ok(fx->db);
    insert_ok(st, &r);
    assert_int_equal(file_mode(fx->dir, "sked.db"), 0640);
    assert_int_equal(file_mode(fx->dir, "sked.db-wal"), 0640);
    sk_store_close(st);
    umask(old);

    /* A folder we cannot write to: the message says so. */
    char sub[320];
    sk_snprintf(sub, sizeof(sub), "%s/ro", fx->dir);
    assert_int_equal(mkdir(sub, 0500), 0);
    char path[400];
    sk_snprintf(path, sizeof(path), "%s/sked.db", sub);
    sk_err_t err;
    int rc = sk_store_open(path, &st, &err);
    rmdir(sub);
    if (geteuid() == 0) { /* root writes anyway */
        if (rc == 0)
            sk_store_close(st);
        return;
    }
    assert_int_equal(rc, SK_ESTORE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "Permission denied"));
}

/* ---- batches ---- */

static void test_batch_1000_inserts(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_err_t err;
    assert_int_equal(sk_store_begin(st, NULL), 0);
    assert_int_equal(sk_store_begin(st, &err), -EINVAL); /* no nesting */
    for (int i = 0; i < 1000; i++) {
        char job[16];
        sk_snprintf(job, sizeof(job), "job%d", i % 7);
        int64_t at = 60000 * (i / 7 + 1); /* 7 jobs, ~143 fires each */
        sk_run_t r = mkrun(job, SK_TRIG_SCHEDULE, at);
        insert_ok(st, &r);
        /* A duplicate inside the batch fails alone; the batch goes on. */
        if (i == 500) {
            sk_run_t again = mkrun(job, SK_TRIG_SCHEDULE, at);
            assert_int_equal(sk_store_run_insert(st, &again, &err), -EEXIST);
        }
        sk_job_state_t js = {at, false, -1, 0};
        assert_int_equal(sk_store_job_state_set(st, job, &js, NULL), 0);
    }
    assert_int_equal(count_runs(fx->db), 0); /* not visible before commit */
    assert_int_equal(sk_store_commit(st, NULL), 0);
    assert_int_equal(sk_store_commit(st, &err), -EINVAL);
    assert_int_equal(sk_store_rollback(st, NULL), 0); /* none open: no-op */
    assert_int_equal(count_runs(fx->db), 1000);

    /* A rolled-back batch leaves nothing. */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    sk_run_t r = mkrun("gone", SK_TRIG_MANUAL, 1);
    insert_ok(st, &r);
    assert_int_equal(sk_store_rollback(st, NULL), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, r.id, &got, NULL), SK_ENOTFOUND);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 1000);
}

static void test_close_rolls_back_open_batch(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    assert_int_equal(sk_store_begin(st, NULL), 0);
    sk_run_t r = mkrun("a", SK_TRIG_MANUAL, 1);
    insert_ok(st, &r);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 0);
}

/* ---- read-only ---- */

static void test_readonly_refusals(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *ro = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), SK_ESTORE);
    assert_null(ro);
    assert_non_null(strstr(err.msg, fx->db));
    assert_non_null(strstr(err.msg, "no store"));
    assert_int_equal(access(fx->db, F_OK), -1); /* and it was not created */

    write_file(fx->db, "", 0);
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "empty"));
    write_file(fx->db, "garbage!", 8);
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "not a SQLite database"));
}

static void test_readonly(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *ro = NULL;
    sk_err_t err;

    /* A reader sees what the writer commits, while both are open. */
    sk_store_t *rw = open_ok(fx->db);
    sk_err_clear(&err);
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_last(ro, "a", &got, NULL), SK_ENOTFOUND);
    int64_t id = finished_run(rw, "a", 1000, 2000, "x.log");
    assert_int_equal(sk_store_run_last(ro, "a", &got, NULL), 0);
    assert_int_equal(got.id, id);
    sk_run_release(&got);

    /* ...and cannot write. */
    sk_run_t r = mkrun("a", SK_TRIG_MANUAL, 1);
    sk_job_state_t js = {1, false, -1, 0};
    assert_int_equal(sk_store_run_insert(ro, &r, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "read-only"));
    assert_int_equal(sk_store_run_start(ro, id, 1, 1, NULL, &err), SK_ESTORE);
    assert_int_equal(sk_store_run_finish(ro, id, SK_RUN_FAILED, 1, 1, 0, NULL, &err), SK_ESTORE);
    assert_int_equal(sk_store_job_state_set(ro, "a", &js, &err), SK_ESTORE);
    assert_int_equal(sk_store_prune(ro, "a", 1, 0, NULL, NULL, &err), SK_ESTORE);
    assert_int_equal(sk_store_begin(ro, &err), SK_ESTORE);
    sk_output_t out = {"k", "v"};
    assert_int_equal(sk_store_outputs_put(ro, id, &out, 1, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "read-only"));
    sk_alert_rec_t al = mkalert("a", id, SK_ALERTST_PENDING, 5);
    assert_int_equal(sk_store_alert_insert(ro, &al, &err), SK_ESTORE);
    assert_int_equal(sk_store_alert_update(ro, 1, SK_ALERTST_DELIVERED, 1, 0, 9, NULL, &err),
                     SK_ESTORE);
    /* ...but reads what the writer wrote. */
    assert_int_equal(sk_store_outputs_put(rw, id, &out, 1, NULL), 0);
    insert_alert_ok(rw, &al);
    sk_output_t *outs;
    sk_alert_rec_t *alerts;
    size_t n;
    assert_int_equal(sk_store_outputs_get(ro, id, &outs, &n, NULL), 0);
    assert_int_equal(n, 1);
    sk_outputs_free(outs, n);
    assert_int_equal(sk_store_alerts_pending(ro, &alerts, &n, NULL), 0);
    assert_int_equal(n, 1);
    sk_alert_recs_free(alerts, n);
    assert_int_equal(sk_store_alerts_query(ro, NULL, 0, &alerts, &n, NULL), 0);
    assert_int_equal(n, 1);
    sk_alert_recs_free(alerts, n);
    sk_store_close(rw);

    /* With the writer gone (WAL checkpointed and removed), still readable. */
    sk_store_close(ro);
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), 0);
    assert_int_equal(sk_store_run_get(ro, id, &got, NULL), 0);
    sk_run_release(&got);
    sk_store_close(ro);
}

/* ---- failures ---- */

static void test_injected_faults(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *value;
        int ok_writes; /* writes that succeed before the first failure */
    } rows[] = {{"1", 0}, {"3", 2}, {"0", 1000}, {"", 1000}};
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        store_reset(fx);
        test_setenv("SKED_TEST_STORE_FAIL_AFTER", rows[i].value);
        sk_store_t *st = open_ok(fx->db);
        unsetenv("SKED_TEST_STORE_FAIL_AFTER"); /* read once, at open */
        int ok = 0;
        for (int k = 0; k < 6; k++) {
            sk_run_t r = mkrun("f", SK_TRIG_MANUAL, k + 1);
            sk_err_t err;
            sk_err_clear(&err);
            int rc = sk_store_run_insert(st, &r, &err);
            if (k < rows[i].ok_writes) {
                assert_int_equal(rc, 0);
                ok++;
            } else {
                assert_int_equal(rc, SK_ESTORE);
                assert_non_null(strstr(err.msg, "injected fault"));
                assert_non_null(strstr(err.msg, fx->db));
            }
        }
        /* Later writes of every kind fail too; reads keep working. */
        if (rows[i].ok_writes < 6) {
            sk_job_state_t js = {1, false, -1, 0};
            assert_int_equal(sk_store_job_state_set(st, "f", &js, NULL), SK_ESTORE);
            assert_int_equal(sk_store_run_start(st, 1, 1, 1, NULL, NULL), SK_ESTORE);
            assert_int_equal(sk_store_run_finish(st, 1, SK_RUN_FAILED, 1, 1, 0, NULL, NULL),
                             SK_ESTORE);
            assert_int_equal(sk_store_prune(st, "f", 1, 0, NULL, NULL, NULL), SK_ESTORE);
            sk_output_t out = {"k", "v"};
            assert_int_equal(sk_store_outputs_put(st, 1, &out, 1, NULL), SK_ESTORE);
            sk_alert_rec_t al = mkalert("f", 0, SK_ALERTST_PENDING, 1);
            assert_int_equal(sk_store_alert_insert(st, &al, NULL), SK_ESTORE);
            assert_int_equal(sk_store_alert_update(st, 1, SK_ALERTST_FAILED, 1, 0, 1, "x", NULL),
                             SK_ESTORE);
            assert_int_equal(sk_store_begin(st, NULL), 0);
            assert_int_equal(sk_store_commit(st, NULL), SK_ESTORE);
        }
        sk_run_filter_t f = {.job = "f"};
        sk_run_t *runs;
        size_t n;
        assert_int_equal(sk_store_runs_query(st, &f, &runs, &n, NULL), 0);
        assert_int_equal(n, ok);
        sk_runs_free(runs, n);
        sk_store_close(st);
    }
    test_setenv("SKED_TEST_STORE_FAIL_AFTER", "banana");
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open(fx->db, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "SKED_TEST_STORE_FAIL_AFTER"));
}

static void test_injected_fault_rolls_back_batch(void **state)
{
    fixture_t *fx = *state;
    /* Writes 1-3 work, the 4th (inside the batch) fails. */
    test_setenv("SKED_TEST_STORE_FAIL_AFTER", "4");
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("b", SK_TRIG_SCHEDULE, 1000);
    insert_ok(st, &r); /* write 1, committed on its own */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    sk_run_t r2 = mkrun("b", SK_TRIG_SCHEDULE, 2000);
    insert_ok(st, &r2); /* 2 */
    sk_job_state_t js = {2000, false, -1, 0};
    assert_int_equal(sk_store_job_state_set(st, "b", &js, NULL), 0); /* 3 */
    sk_run_t r3 = mkrun("b", SK_TRIG_SCHEDULE, 3000);
    sk_err_t err;
    assert_int_equal(sk_store_run_insert(st, &r3, &err), SK_ESTORE); /* 4 */
    /* Once failed, the batch takes no more writes... */
    sk_run_t r4 = mkrun("b", SK_TRIG_SCHEDULE, 4000);
    assert_int_equal(sk_store_run_insert(st, &r4, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "rolled back"));
    /* ...and commit says it was rolled back, then the store is usable. */
    assert_int_equal(sk_store_commit(st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "injected fault"));
    assert_int_equal(sk_store_begin(st, NULL), 0);
    assert_int_equal(sk_store_rollback(st, NULL), 0);
    sk_store_close(st);
    unsetenv("SKED_TEST_STORE_FAIL_AFTER");
    assert_int_equal(count_runs(fx->db), 1);
    st = open_ok(fx->db);
    assert_int_equal(sk_store_job_state_get(st, "b", &js, NULL), 0);
    assert_int_equal(js.last_fire, 0);
    sk_store_close(st);
}

/* The new write operations count for the hook, and fail like the others. */
static void test_injected_faults_new_writes(void **state)
{
    fixture_t *fx = *state;
    test_setenv("SKED_TEST_STORE_FAIL_AFTER", "4");
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("f", SK_TRIG_MANUAL, 1);
    int64_t id = insert_ok(st, &r); /* 1 */
    static const sk_output_t out[] = {{"k", "v"}};
    assert_int_equal(sk_store_outputs_put(st, id, out, 1, NULL), 0); /* 2 */
    sk_alert_rec_t al = mkalert("f", id, SK_ALERTST_PENDING, 1);
    int64_t aid = insert_alert_ok(st, &al); /* 3 */
    sk_err_t err;
    assert_int_equal(
        sk_store_alert_update(st, aid, SK_ALERTST_DELIVERED, 1, 0, 2, NULL, &err), /* 4 */
        SK_ESTORE);
    assert_non_null(strstr(err.msg, "injected fault"));
    assert_int_equal(sk_store_outputs_put(st, id, NULL, 0, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "injected fault"));
    assert_no_tx(st);
    /* Reads still work, and show nothing changed. */
    sk_alert_rec_t *a;
    size_t n;
    assert_int_equal(sk_store_alerts_pending(st, &a, &n, NULL), 0);
    assert_int_equal(n, 1);
    sk_alert_recs_free(a, n);
    assert_int_equal(count_outputs(st, id), 1);
    sk_store_close(st);
}

/* Shrinks the file's room to `extra` pages beyond what it uses now. */
static void set_room(sk_store_t *st, int64_t extra)
{
    sqlite3 *db = sk_store_sqlite__db(st);
    char sql[96];
    sqlite3_stmt *q;
    int64_t pages = 0;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    pages = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sk_snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64,
                extra < 0 ? (int64_t)1073741823 : pages + extra);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static void test_disk_full_then_space_returns(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sqlite3 *db = sk_store_sqlite__db(st);
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    int64_t kept = finished_run(st, "d", 1, 2, "d.log");

    /* Alone: each write fails with "disk full" and leaves no transaction. */
    set_room(st, 3);
    int fails = 0, ok = 0;
    for (int i = 0; i < 20; i++) {
        sk_run_t r = mkrun("d", SK_TRIG_SCHEDULE, 100 + i);
        r.reason = big;
        sk_err_t err;
        sk_err_clear(&err);
        int rc = sk_store_run_insert(st, &r, &err);
        if (rc == 0) {
            ok++;
            continue;
        }
        assert_int_equal(rc, SK_ESTORE);
        assert_non_null(strstr(err.msg, "disk full"));
        assert_non_null(strstr(err.msg, fx->db));
        assert_true(sqlite3_get_autocommit(db));
        fails++;
    }
    assert_true(fails > 0);

    /* In a batch: the whole batch goes, commit says so. */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++) {
        sk_run_t r = mkrun("d", SK_TRIG_SCHEDULE, 1000 + i);
        r.reason = big;
        rc = sk_store_run_insert(st, &r, NULL);
    }
    assert_int_equal(rc, SK_ESTORE);
    assert_true(sqlite3_get_autocommit(db));
    sk_err_t err;
    assert_int_equal(sk_store_commit(st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "disk full"));

    /* Space returns: everything works again, and nothing was lost. */
    set_room(st, -1);
    assert_int_equal(sk_store_begin(st, NULL), 0);
    for (int i = 0; i < 20; i++) {
        sk_run_t r = mkrun("d", SK_TRIG_SCHEDULE, 1000 + i);
        r.reason = big;
        insert_ok(st, &r);
    }
    assert_int_equal(sk_store_commit(st, NULL), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, kept, &got, NULL), 0);
    assert_string_equal(got.log_path, "d.log");
    sk_run_release(&got);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 1 + ok + 20);
    sk_store_close(open_ok(fx->db)); /* and the file is still sound */
}

/* ---- PostgreSQL only ---- */

/* A URL for the test server with another user, password or database (NULL:
 * the server URL's own, none, its own) and the server URL's query with
 * `query` (may be NULL) added. */
static void pg_url_for(const char *user, const char *password, const char *db, const char *query,
                       char *out, size_t size)
{
    const char *base_query = strchr(pg_url, '?');
    base_query = base_query ? base_query + 1 : "";
    PQconninfoOption *o = PQconninfoParse(pg_url, NULL);
    const char *host = "127.0.0.1", *port = "5432", *u = "sked", *d = "sked";
    for (PQconninfoOption *p = o; p && p->keyword; p++) {
        if (!p->val || !*p->val)
            continue;
        if (sk_streq(p->keyword, "host"))
            host = p->val;
        else if (sk_streq(p->keyword, "port"))
            port = p->val;
        else if (sk_streq(p->keyword, "user"))
            u = p->val;
        else if (sk_streq(p->keyword, "dbname"))
            d = p->val;
    }
    if (!query)
        query = "";
    sk_snprintf(out, size, "postgres://%s%s%s@%s:%s/%s%s%s%s%s", user ? user : u,
                password ? ":" : "", password ? password : "", host, port, db ? db : d,
                *base_query || *query ? "?" : "", base_query, *base_query && *query ? "&" : "",
                query);
    PQconninfoFree(o);
}

/* The search_path's schema, with a store in it: what `open` made. */
static void test_pg_open_creates_schema(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    assert_string_equal(st->ops->name, "postgres");
    assert_non_null(sk_store_cluster(st));
    /* The same version numbers mean the same schema in both back ends. */
    assert_int_equal(sk_store_pg__schema_version(), sk_store_sqlite__schema_version());
    char sql[256];
    sk_snprintf(sql, sizeof(sql),
                "SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND tablename IN "
                "('meta', 'runs', 'job_state', 'outputs', 'alerts', 'nodes')",
                fx->schema);
    assert_int_equal(pg_int(pg_url, sql), 6);
    static const struct {
        const char *sql;
        int64_t want; /* -2: the schema version */
    } rows[] = {
        {"SELECT count(*) FROM meta WHERE key = 'application' AND value = 'sked'", 1},
        {"SELECT value::bigint FROM meta WHERE key = 'schema_version'", -2},
        {"SELECT count(*) FROM meta WHERE key = 'written_by' AND value LIKE 'sked %'", 1},
        {"SELECT count(*) FROM meta WHERE key = 'created_at' AND value LIKE '2%Z'", 1},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++)
        assert_int_equal(pg_int(fx->db, rows[i].sql),
                         rows[i].want == -2 ? sk_store_pg__schema_version() : rows[i].want);
    /* The session: durable commits, a bounded wait for row locks, and a
     * socket the children sked spawns do not inherit. */
    PGconn *c = sk_store_pg__conn(st);
    static const struct {
        const char *name, *want;
    } settings[] = {{"synchronous_commit", "on"},
                    {"lock_timeout", "5s"},
                    {"default_transaction_read_only", "off"},
                    {"client_encoding", "UTF8"},
                    {"application_name", "sked"}};
    for (size_t i = 0; i < SK_ARRAY_LEN(settings); i++) {
        sk_snprintf(sql, sizeof(sql), "SHOW %s", settings[i].name);
        PGresult *res = PQexec(c, sql);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        if (!sk_streq(PQgetvalue(res, 0, 0), settings[i].want))
            fail_msg("%s is %s, want %s", settings[i].name, PQgetvalue(res, 0, 0),
                     settings[i].want);
        PQclear(res);
    }
    assert_true(fcntl(PQsocket(c), F_GETFD) & FD_CLOEXEC);
    sk_store_close(st);

    /* Opening it again changes nothing. */
    int64_t created = pg_int(fx->db, "SELECT count(*) FROM meta");
    st = open_ok(fx->db);
    sk_store_close(st);
    assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM meta"), created);

    /* A reader's session is read-only on the server's side too. */
    sk_store_t *ro = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), 0);
    c = sk_store_pg__conn(ro);
    PGresult *res = PQexec(c, "SHOW default_transaction_read_only");
    assert_string_equal(PQgetvalue(res, 0, 0), "on");
    PQclear(res);
    res = PQexec(c, "INSERT INTO meta (key, value) VALUES ('x', 'y')");
    assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "25006");
    PQclear(res);
    assert_true(fcntl(PQsocket(c), F_GETFD) & FD_CLOEXEC);
    sk_store_close(ro);
}

/* The rows of sql, one per line, on a SQLite connection. */
static void sqlite_lines(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *q;
    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        size_t len = strlen(out);
        sk_snprintf(out + len, size - len, "%s\n", (const char *)sqlite3_column_text(q, 0));
    }
    sqlite3_finalize(q);
}

/* The same, on a PostgreSQL connection. */
static void pg_lines(PGconn *c, const char *sql, char *out, size_t size)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    out[0] = '\0';
    for (int i = 0; i < PQntuples(res); i++) {
        size_t len = strlen(out);
        sk_snprintf(out + len, size - len, "%s\n", PQgetvalue(res, i, 0));
    }
    PQclear(res);
}

/* One schema, two back ends: every table has the same columns in the same
 * order, and the same indexes exist (besides primary keys). */
static void test_pg_schema_matches_sqlite(void **state)
{
    fixture_t *fx = *state;
    char path[400], sql[300], want[2048], got[2048];
    sk_snprintf(path, sizeof(path), "%s/sked.db", fx->dir);
    sk_store_t *lite = open_ok(path);
    sk_store_t *pg = open_ok(fx->db);
    static const char *const tables[] = {"meta", "runs", "job_state", "outputs", "alerts", "nodes"};
    for (size_t i = 0; i < SK_ARRAY_LEN(tables); i++) {
        sk_snprintf(sql, sizeof(sql), "SELECT name FROM pragma_table_info('%s') ORDER BY cid",
                    tables[i]);
        sqlite_lines(sk_store_sqlite__db(lite), sql, want, sizeof(want));
        sk_snprintf(sql, sizeof(sql),
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = '%s' ORDER BY ordinal_position",
                    tables[i]);
        pg_lines(sk_store_pg__conn(pg), sql, got, sizeof(got));
        assert_true(*want);
        if (!sk_streq(want, got))
            fail_msg("table %s: SQLite has columns\n%sPostgreSQL has\n%s", tables[i], want, got);
    }
    sqlite_lines(sk_store_sqlite__db(lite),
                 "SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE "
                 "'sqlite_%' ORDER BY name",
                 want, sizeof(want));
    pg_lines(sk_store_pg__conn(pg),
             "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND "
             "indexname NOT LIKE '%\\_pkey' ORDER BY indexname COLLATE \"C\"",
             got, sizeof(got));
    if (!sk_streq(want, got))
        fail_msg("SQLite has indexes\n%sPostgreSQL has\n%s", want, got);
    sk_store_close(lite);
    sk_store_close(pg);
}

typedef struct {
    const char *url;
    pthread_barrier_t *start;
    int rc;
    char msg[512];
} opener_t;

static void *opener(void *arg)
{
    opener_t *o = arg;
    sk_store_t *st = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    pthread_barrier_wait(o->start);
    o->rc = sk_store_open(o->url, &st, &err);
    sk_strlcpy(o->msg, err.msg, sizeof(o->msg));
    sk_store_close(st);
    return NULL;
}

/* Nodes that start at once create the schema once (the advisory lock): none
 * of them trips over another's half-made tables. */
static void test_pg_nodes_create_schema_at_once(void **state)
{
    fixture_t *fx = *state;
    enum { NODES = 8, ROUNDS = 3 };
    for (int round = 0; round < ROUNDS; round++) {
        store_reset(fx);
        pthread_barrier_t start;
        pthread_t t[NODES];
        opener_t o[NODES];
        assert_int_equal(pthread_barrier_init(&start, NULL, NODES), 0);
        for (int i = 0; i < NODES; i++) {
            o[i] = (opener_t){fx->db, &start, -1, ""};
            assert_int_equal(pthread_create(&t[i], NULL, opener, &o[i]), 0);
        }
        for (int i = 0; i < NODES; i++)
            assert_int_equal(pthread_join(t[i], NULL), 0);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < NODES; i++)
            if (o[i].rc != 0)
                fail_msg("round %d, node %d: %d %s", round, i, o[i].rc, o[i].msg);
        assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM meta"), 4);
    }
}

/* The relations of the test's schema, for "nothing changed". */
static int64_t pg_relations(const fixture_t *fx)
{
    char sql[200];
    sk_snprintf(sql, sizeof(sql),
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = '%s'",
                fx->schema);
    return pg_int(pg_url, sql);
}

/* A schema that holds something else, or a newer sked's store, is refused
 * and left as it was; both kinds of opener say why. */
static void test_pg_foreign_refused(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *setup, *want;
    } rows[] = {
        {"CREATE TABLE runs (x integer)", "not a sked store"},
        {"CREATE TABLE alerts (x integer); CREATE TABLE notes (body text)", "not a sked store"},
        {"CREATE VIEW job_state AS SELECT 1 AS x", "not a sked store"},
        {"CREATE TABLE meta (key text, value text)", "not a sked store"},
        {"CREATE TABLE meta (key text, value text); INSERT INTO meta VALUES ('application', "
         "'other')",
         "not a sked store"},
        {"CREATE TABLE meta (a integer)", "not a sked store"},
        {"CREATE TABLE meta (key text, value text); INSERT INTO meta VALUES ('application', "
         "'sked')",
         "without a schema version"},
        {"CREATE TABLE meta (key text, value text); INSERT INTO meta VALUES ('application', "
         "'sked'), ('schema_version', 'two')",
         "without a schema version"},
        {"CREATE TABLE meta (key text, value text); INSERT INTO meta VALUES ('application', "
         "'sked'), ('schema_version', '999')",
         "schema version 999 is newer than this sked knows"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        store_reset(fx);
        pg_exec(fx->db, rows[i].setup);
        int64_t before = pg_relations(fx);
        for (int ro = 0; ro < 2; ro++) {
            sk_store_t *st = NULL;
            sk_err_t err;
            sk_err_clear(&err);
            int r =
                ro ? sk_store_open_readonly(fx->db, &st, &err) : sk_store_open(fx->db, &st, &err);
            if (r != SK_ESTORE || !strstr(err.msg, rows[i].want) || !strstr(err.msg, fx->db))
                fail_msg("%s: got %d \"%s\", want \"%s\"", rows[i].setup, r, err.msg, rows[i].want);
            assert_null(st);
        }
        assert_int_equal(pg_relations(fx), before);
    }
    /* Unrelated tables beside sked's are fine (a shared database). */
    store_reset(fx);
    pg_exec(fx->db, "CREATE TABLE notes (body text); CREATE TABLE runs_archive (x integer)");
    sk_store_close(open_ok(fx->db));
}

static void test_pg_readonly_refusals(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *ro = NULL;
    sk_err_t err;
    /* Nothing set up yet: said so, and nothing is created. */
    int64_t before = pg_relations(fx);
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), SK_ESTORE);
    assert_null(ro);
    assert_non_null(strstr(err.msg, "empty"));
    assert_non_null(strstr(err.msg, fx->db));
    assert_int_equal(pg_relations(fx), before);
    /* A database that does not exist: the server says so, and the
     * password stays out of it. */
    char url[1200];
    pg_url_for(NULL, "pw-s3cret", "sked_no_such_db", NULL, url, sizeof(url));
    for (int w = 0; w < 2; w++) {
        int r = w ? sk_store_open(url, &ro, &err) : sk_store_open_readonly(url, &ro, &err);
        assert_int_equal(r, SK_ESTORE);
        assert_null(ro);
        if (!strstr(err.msg, "cannot connect to PostgreSQL at") || strstr(err.msg, "pw-s3cret") ||
            !strstr(err.msg, ":***@"))
            fail_msg("\"%s\"", err.msg);
    }
}

/* Migration 1 exactly as this back end first shipped it: a released
 * migration never changes. */
static const char pg_v1_schema[] =
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
    ");\n";

static void test_pg_migration_1_frozen(void **state)
{
    (void)state;
    assert_string_equal(sk_store_pg__migration(1), pg_v1_schema);
    assert_null(sk_store_pg__migration(0));
    assert_null(sk_store_pg__migration(sk_store_pg__schema_version() + 1));
    assert_non_null(sk_store_pg__migration(sk_store_pg__schema_version()));
}

/* The version-1 store of make_v1_store, in PostgreSQL: the same rows, run 5
 * pruned (the id sequence ahead of the rows). */
static void make_pg_v1_store(const char *url)
{
    pg_exec(url, pg_v1_schema);
    pg_exec(url, "INSERT INTO meta (key, value) VALUES ('application', 'sked'),"
                 " ('schema_version', '1'), ('written_by', 'sked 0.1.0'),"
                 " ('created_at', '2026-01-01T00:00:00Z');"
                 "INSERT INTO runs (id, job, step, status, \"trigger\", attempt, scheduled_at,"
                 " queued_at, started_at, ended_at, exit_code, signal, pid, reason, log_path)"
                 " OVERRIDING SYSTEM VALUE VALUES"
                 " (1, 'backup', NULL, 'succeeded', 'schedule', 1, 60000, 60000, 60001, 61000, 0,"
                 "  NULL, 11, NULL, 'logs/backup/1.log'),"
                 " (2, 'etl', NULL, 'failed', 'schedule', 1, 120000, 120000, 120001, 121000, 3,"
                 "  NULL, 12, 'exit status 3', 'logs/etl/2.log'),"
                 " (3, 'etl', 'extract', 'succeeded', 'schedule', 1, 120000, 120000, 120002,"
                 "  120500, 0, NULL, 13, NULL, 'logs/etl/3.log'),"
                 " (4, 'backup', NULL, 'running', 'manual', 1, 130000, 130000, 130001, NULL, NULL,"
                 "  NULL, 14, NULL, 'logs/backup/4.log'),"
                 " (5, 'backup', NULL, 'killed', 'retry', 2, 60000, 62000, 62001, 63000, NULL, 9,"
                 "  15, NULL, NULL);"
                 "SELECT setval(pg_get_serial_sequence('runs', 'id'), 5);"
                 "DELETE FROM runs WHERE id = 5;"
                 "INSERT INTO job_state (job, last_fire, paused) VALUES ('backup', 60000, false),"
                 " ('etl', 120000, true);");
}

static void test_pg_migration_from_v1(void **state)
{
    fixture_t *fx = *state;
    make_pg_v1_store(fx->db);
    static const char version_sql[] = "SELECT value::bigint FROM meta WHERE key = "
                                      "'schema_version'";

    /* A reader does not migrate. */
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "older"));
    assert_int_equal(pg_int(fx->db, version_sql), 1);

    for (int pass = 0; pass < 2; pass++) { /* migrated, then opened as is */
        st = open_ok(fx->db);
        assert_int_equal(pg_int(fx->db, version_sql), sk_store_pg__schema_version());
        assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM meta WHERE key = 'created_at' AND "
                                        "value = '2026-01-01T00:00:00Z'"),
                         1);
        assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM pg_class WHERE relnamespace = "
                                        "current_schema()::regnamespace AND relname IN "
                                        "('outputs', 'alerts', 'runs_parent', 'alerts_pending', "
                                        "'runs_fire')"),
                         5);
        v1_store_checks(st, pass);
        sk_store_close(st);
    }
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), 0);
    sk_store_close(st);
}

/* A migration that fails leaves the schema at the old version, data intact
 * (PostgreSQL's DDL is transactional). */
static void test_pg_migration_failure_rolls_back(void **state)
{
    fixture_t *fx = *state;
    make_pg_v1_store(fx->db);
    pg_exec(fx->db, "CREATE TABLE alerts (x integer)"); /* in the migration's way */
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open(fx->db, &st, &err), SK_ESTORE);
    assert_null(st);
    if (!strstr(err.msg, fx->db) || !strstr(err.msg, "migration"))
        fail_msg("\"%s\" should name the store and the migration", err.msg);
    assert_int_equal(pg_int(fx->db, "SELECT value::bigint FROM meta WHERE key = 'schema_version'"),
                     1);
    assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM information_schema.columns WHERE "
                                    "table_schema = current_schema() AND table_name = 'runs' AND "
                                    "column_name = 'parent_id'"),
                     0);
    assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                    "current_schema() AND tablename = 'outputs'"),
                     0);
    assert_int_equal(count_runs(fx->db), 4);
    pg_exec(fx->db, "DROP TABLE alerts");
    st = open_ok(fx->db);
    sk_store_close(st);
    assert_int_equal(pg_int(fx->db, "SELECT value::bigint FROM meta WHERE key = 'schema_version'"),
                     sk_store_pg__schema_version());
    assert_int_equal(count_runs(fx->db), 4);
}

/* Migration 2 exactly as this back end released it. */
static const char pg_v2_migration[] =
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
    "CREATE INDEX alerts_run ON alerts (run_id) WHERE run_id > 0;\n";

static void test_pg_migration_2_frozen(void **state)
{
    (void)state;
    assert_true(sk_store_pg__schema_version() >= 3);
    assert_string_equal(sk_store_pg__migration(2), pg_v2_migration);
}

/* make_v2_store, in PostgreSQL. */
static void make_pg_v2_store(const char *url)
{
    make_pg_v1_store(url);
    pg_exec(url, pg_v2_migration);
    pg_exec(url, "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
                 "INSERT INTO outputs (run_id, key, value) VALUES (2, 'rows', '7'),"
                 " (2, 'skipped', '0');"
                 "INSERT INTO alerts (job, run_id, event, channel, payload, state, attempts,"
                 " created_at, done_at) VALUES ('etl', 2, 'failure', 'webhook', '{}',"
                 " 'delivered', 1, 121000, 121500);");
}

static void test_pg_migration_from_v2(void **state)
{
    fixture_t *fx = *state;
    static const char version_sql[] = "SELECT value::bigint FROM meta WHERE key = "
                                      "'schema_version'";
    make_pg_v2_store(fx->db);
    /* Something in the migration's way: it fails, the schema stays at 2. */
    pg_exec(fx->db, "CREATE TABLE nodes (x integer)");
    sk_store_t *st = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open(fx->db, &st, &err), SK_ESTORE);
    assert_null(st);
    if (!strstr(err.msg, fx->db) || !strstr(err.msg, "migration"))
        fail_msg("\"%s\" should name the store and the migration", err.msg);
    assert_int_equal(pg_int(fx->db, version_sql), 2);
    assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM information_schema.columns WHERE "
                                    "table_schema = current_schema() AND table_name = 'runs' AND "
                                    "column_name = 'node'"),
                     0);
    pg_exec(fx->db, "DROP TABLE nodes");
    /* A reader does not migrate. */
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "older"));

    for (int pass = 0; pass < 2; pass++) { /* migrated, then opened as is */
        st = open_ok(fx->db);
        assert_int_equal(pg_int(fx->db, version_sql), sk_store_pg__schema_version());
        assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM pg_class WHERE relnamespace = "
                                        "current_schema()::regnamespace AND relname IN "
                                        "('nodes', 'runs_claim', 'runs_unsettled', 'runs_node')"),
                         4);
        v2_store_checks(st, pass);
        sk_store_close(st);
    }
    assert_int_equal(sk_store_open_readonly(fx->db, &st, &err), 0);
    sk_store_close(st);
}

static void count_error(void *data)
{
    (*(int *)data)++;
}

/* Ends the store's server session, as a server restart or a network cut
 * would, and waits until it is gone. */
static void pg_kill(sk_store_t *st)
{
    char sql[96];
    sk_snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 10000)",
                PQbackendPID(sk_store_pg__conn(st)));
    assert_int_equal(pg_try(pg_admin, sql), 0);
}

/* A lost connection fails the call in progress (SK_ESTORE, counted) and the
 * next call connects again; a batch it interrupted is gone, as after any
 * SK_ESTORE. */
static void test_pg_lost_connection(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    int errors = 0;
    st->on_error = count_error;
    st->on_error_data = &errors;
    sk_run_t r = mkrun("a", SK_TRIG_SCHEDULE, 1000);
    int64_t first = insert_ok(st, &r);

    pg_kill(st);
    sk_err_t err;
    r = mkrun("a", SK_TRIG_SCHEDULE, 2000);
    assert_int_equal(sk_store_run_insert(st, &r, &err), SK_ESTORE);
    if (!strstr(err.msg, "lost the connection") || !strstr(err.msg, fx->db))
        fail_msg("\"%s\"", err.msg);
    assert_int_equal(errors, 1);
    insert_ok(st, &r); /* connected again */
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, first, &got, NULL), 0);
    sk_run_release(&got);

    /* Between calls, while reading. */
    pg_kill(st);
    assert_int_equal(sk_store_run_get(st, first, &got, &err), SK_ESTORE);
    assert_int_equal(sk_store_run_get(st, first, &got, NULL), 0);
    sk_run_release(&got);

    /* In a batch. */
    assert_int_equal(sk_store_begin(st, NULL), 0);
    r = mkrun("a", SK_TRIG_SCHEDULE, 3000);
    insert_ok(st, &r);
    pg_kill(st);
    r = mkrun("a", SK_TRIG_SCHEDULE, 4000);
    assert_int_equal(sk_store_run_insert(st, &r, &err), SK_ESTORE);
    r = mkrun("a", SK_TRIG_SCHEDULE, 5000);
    assert_int_equal(sk_store_run_insert(st, &r, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "rolled back"));
    assert_int_equal(sk_store_commit(st, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "lost the connection"));
    assert_int_equal(sk_store_begin(st, NULL), 0);
    r = mkrun("a", SK_TRIG_SCHEDULE, 3000); /* not recorded by the lost batch */
    insert_ok(st, &r);
    assert_int_equal(sk_store_commit(st, NULL), 0);
    assert_int_equal(count_runs(fx->db), 3);
    assert_true(errors >= 3);
    sk_store_close(st);
}

/* A server that refuses the new connection: "cannot connect", call after
 * call, until it lets us in again. The store logs in as a role of its own,
 * which the test then forbids to log in. */
static void test_pg_server_away(void **state)
{
    fixture_t *fx = *state;
    char role[80], sql[300], url[1200];
    sk_snprintf(role, sizeof(role), "%s_r", fx->schema);
    sk_snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN; GRANT ALL ON SCHEMA %s TO %s", role,
                fx->schema, role);
    if (pg_try(pg_admin, sql) < 0)
        skip(); /* a test server where we may not create roles */
    fx->role = true;
    char query[128];
    sk_snprintf(query, sizeof(query), "options=-csearch_path%%3D%s", fx->schema);
    pg_url_for(role, NULL, NULL, query, url, sizeof(url));
    sk_store_t *st = open_ok(url);
    int errors = 0;
    st->on_error = count_error;
    st->on_error_data = &errors;
    sk_run_t r = mkrun("a", SK_TRIG_SCHEDULE, 1000);
    int64_t id = insert_ok(st, &r);
    sk_snprintf(sql, sizeof(sql), "ALTER ROLE %s NOLOGIN", role);
    assert_int_equal(pg_try(pg_admin, sql), 0);
    pg_kill(st);
    sk_run_t got;
    sk_err_t err;
    assert_int_equal(sk_store_run_get(st, id, &got, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "lost the connection"));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sk_store_run_get(st, id, &got, &err), SK_ESTORE);
        if (!strstr(err.msg, "cannot connect to PostgreSQL at") || !strstr(err.msg, role))
            fail_msg("\"%s\"", err.msg);
    }
    assert_int_equal(errors, 3);
    sk_snprintf(sql, sizeof(sql), "ALTER ROLE %s LOGIN", role);
    assert_int_equal(pg_try(pg_admin, sql), 0);
    assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
    sk_run_release(&got);
    sk_store_close(st);
}

typedef struct {
    sk_store_t *st;
    int64_t at;
    int rc;
    atomic_int done;
} node_t;

static void *insert_fire(void *arg)
{
    node_t *n = arg;
    sk_run_t r = mkrun("shared", SK_TRIG_SCHEDULE, n->at);
    n->rc = sk_store_run_insert(n->st, &r, NULL);
    atomic_store(&n->done, 1);
    return NULL;
}

/* Two nodes record the same fire: the second waits for the first's batch,
 * then gets -EEXIST if it committed, or records the fire if it rolled back. */
static void test_pg_two_nodes_fire_once(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *a = open_ok(fx->db);
    sk_store_t *b = open_ok(fx->db);
    for (int commit = 1; commit >= 0; commit--) {
        int64_t at = commit ? 1000 : 2000;
        assert_int_equal(sk_store_begin(a, NULL), 0);
        sk_run_t r = mkrun("shared", SK_TRIG_SCHEDULE, at);
        insert_ok(a, &r);
        node_t n = {b, at, 99, 0};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, insert_fire, &n), 0);
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(atomic_load(&n.done), 0); /* waiting for a */
        if (commit)
            assert_int_equal(sk_store_commit(a, NULL), 0);
        else
            assert_int_equal(sk_store_rollback(a, NULL), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(n.rc, commit ? -EEXIST : 0);
    }
    sk_store_close(a);
    sk_store_close(b);
    assert_int_equal(count_runs(fx->db), 2);
}

/* One leader per store: the first session takes it, the second waits
 * until the first is gone; a session that holds it keeps saying so. */
static void test_pg_one_leader(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *a = open_ok(fx->db);
    sk_store_t *b = open_ok(fx->db);
    bool la = false, lb = true;
    assert_int_equal(a->ops->leader(a, &la, NULL), 0);
    assert_int_equal(b->ops->leader(b, &lb, NULL), 0);
    assert_true(la);
    assert_false(lb);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a->ops->leader(a, &la, NULL), 0);
        assert_int_equal(b->ops->leader(b, &lb, NULL), 0);
        assert_true(la);
        assert_false(lb);
    }
    sk_store_close(a); /* the node dies: its session ends */
    for (int i = 0; i < 50 && !lb; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(b->ops->leader(b, &lb, NULL), 0);
    }
    assert_true(lb);
    sk_store_close(b);
}

/* Both back ends keep text as UTF-8 (store.h). A name or other text sked
 * made itself that is not UTF-8 is refused (-EINVAL naming the field)
 * before anything is written, so that a batch goes on; reading with such
 * a name finds nothing, as for any unknown job. */
static void test_text_names_must_be_utf8(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_err_t err;
    int64_t id = finished_run(st, "u", 1000, 2000, "u.log");
    int64_t queued = insert_ok(st, &(sk_run_t){.job = "u",
                                               .status = SK_RUN_QUEUED,
                                               .trigger = SK_TRIG_MANUAL,
                                               .attempt = 1,
                                               .scheduled_at = 3000,
                                               .exit_code = -1});
    assert_int_equal(sk_store_begin(st, NULL), 0);
    sk_run_t r = mkrun("\xff", SK_TRIG_MANUAL, 5);
    assert_int_equal(sk_store_run_insert(st, &r, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "the job name is not valid UTF-8"));
    r = mkrun("u", SK_TRIG_MANUAL, 5);
    r.params = "{\"p\": \"\xc3(\"}";
    assert_int_equal(sk_store_run_insert(st, &r, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "params is not valid UTF-8"));
    assert_int_equal(sk_store_run_start(st, queued, 3500, 7, "logs/\xe9.log", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "the log path is not valid UTF-8"));
    static const sk_output_t bad[] = {{"ok", "fine"}, {"k\xc3(", "v"}};
    assert_int_equal(sk_store_outputs_put(st, id, bad, 2, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "UTF-8"));
    sk_job_state_t js = {1, false, -1, 0};
    assert_int_equal(sk_store_job_state_set(st, "\xed\xa0\x80", &js, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "the job name is not valid UTF-8"));
    sk_alert_rec_t a = mkalert("u", id, SK_ALERTST_PENDING, 1000);
    a.channel = "web\x80hook";
    assert_int_equal(sk_store_alert_insert(st, &a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "the channel is not valid UTF-8"));
    sk_node_t me = {.name = "n\xff", .labels = "", .pid = 1};
    assert_int_equal(st->ops->node_beat(st, &me, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "the node name is not valid UTF-8"));
    /* The batch went on. */
    r = mkrun("u", SK_TRIG_MANUAL, 6);
    r.reason = "caf\xc3\xa9 \xe2\x9c\x93";
    int64_t ok = insert_ok(st, &r);
    assert_int_equal(sk_store_commit(st, NULL), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, ok, &got, NULL), 0);
    assert_string_equal(got.reason, r.reason);
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, queued, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_QUEUED);
    sk_run_release(&got);

    /* Reading with such a name finds nothing, as for any unknown job. */
    sk_run_filter_t f = {.job = "\xff"};
    sk_run_t *runs = NULL;
    size_t n = 9;
    assert_int_equal(sk_store_runs_query(st, &f, &runs, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_null(runs);
    assert_int_equal(sk_store_run_last(st, "\xff", &got, NULL), SK_ENOTFOUND);
    assert_int_equal(sk_store_job_state_get(st, "\xff", &js, NULL), 0);
    assert_int_equal(js.last_outcome, -1);
    sk_alert_rec_t *alerts = NULL;
    n = 9;
    assert_int_equal(sk_store_alerts_query(st, "\xff", 0, &alerts, &n, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sk_store_prune(st, "\xff", 1, 0, NULL, NULL, NULL), 0);
    sk_store_close(st);
    assert_int_equal(count_runs(fx->db), 3);
}

/* Free text that may carry bytes from outside sked (a failure reason, a
 * value a step wrote to $SKED_OUTPUT, a delivery error) is never refused:
 * a run's outcome must always be writable. Each byte that is not part of
 * well-formed UTF-8 is kept as U+FFFD, the same on both back ends. */
static void test_text_reasons_repaired(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_err_t err;
    sk_run_t got;
    assert_int_equal(sk_store_begin(st, NULL), 0);
    sk_run_t r = mkrun("u", SK_TRIG_MANUAL, 5);
    r.reason = "caf\xe9";
    int64_t a = insert_ok(st, &r);
    r = mkrun("u", SK_TRIG_MANUAL, 6);
    int64_t b = insert_ok(st, &r);
    /* A reason cut in the middle of a character, and a stray byte. */
    assert_int_equal(sk_store_run_finish(st, b, SK_RUN_FAILED, 10, 1, 0, "log caf\xc3", &err), 0);
    assert_int_equal(sk_store_run_finish(st, a, SK_RUN_FAILED, 11, -1, 9, "\x80 killed", &err), 0);
    static const sk_output_t out[] = {{"k", "v\xff\xfe!"}, {"plain", "ok"}};
    assert_int_equal(sk_store_outputs_put(st, b, out, 2, &err), 0);
    sk_alert_rec_t al = mkalert("u", b, SK_ALERTST_PENDING, 1000);
    al.last_error = "HTTP 500: \xe2\x82";
    int64_t alert = insert_alert_ok(st, &al);
    assert_int_equal(sk_store_commit(st, &err), 0);

    assert_int_equal(sk_store_run_get(st, a, &got, NULL), 0);
    assert_string_equal(got.reason, "\xef\xbf\xbd killed");
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, b, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_FAILED);
    assert_string_equal(got.reason, "log caf\xef\xbf\xbd");
    sk_run_release(&got);
    sk_output_t *o = NULL;
    size_t n = 0;
    assert_int_equal(sk_store_outputs_get(st, b, &o, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(o[0].key, "k");
    assert_string_equal(o[0].value, "v\xef\xbf\xbd\xef\xbf\xbd!");
    assert_string_equal(o[1].value, "ok");
    sk_outputs_free(o, n);
    assert_int_equal(
        sk_store_alert_update(st, alert, SK_ALERTST_FAILED, 1, 0, 2000, "bad \xc0\xaf", &err), 0);
    sk_alert_rec_t *alerts = NULL;
    assert_int_equal(sk_store_alerts_query(st, "u", 0, &alerts, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(alerts[0].last_error, "bad \xef\xbf\xbd\xef\xbf\xbd");
    sk_alert_recs_free(alerts, n);
    /* The first insert's reason too. */
    r = mkrun("u", SK_TRIG_MANUAL, 7);
    r.reason = "\xf5";
    int64_t c = insert_ok(st, &r);
    assert_int_equal(sk_store_run_get(st, c, &got, NULL), 0);
    assert_string_equal(got.reason, "\xef\xbf\xbd");
    sk_run_release(&got);
    sk_store_close(st);
}

/* Outputs keep bytes that mean something to array literals and SQL. */
static void test_pg_outputs_any_text(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    int64_t id = finished_run(st, "o", 1000, 2000, NULL);
    static const sk_output_t set[] = {
        {"{", "}"},
        {"quote\"", "\"a\",\"b\""},
        {"back\\slash", "\\\\"},
        {"NULL", "NULL"},
        {"comma,key", "x,y"},
        {"sp ace", " lead and trail "},
        {"'", "'; --"},
        {"\xc3\xa9t\xc3\xa9", "\xe2\x82\xac"},
        {"nl", "a\nb\r\n"},
    };
    assert_int_equal(sk_store_outputs_put(st, id, set, SK_ARRAY_LEN(set), NULL), 0);
    sk_output_t *o;
    size_t n;
    assert_int_equal(sk_store_outputs_get(st, id, &o, &n, NULL), 0);
    assert_int_equal(n, SK_ARRAY_LEN(set));
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            assert_true(strcmp(o[i - 1].key, o[i].key) < 0); /* bytewise */
        size_t k = 0;
        while (!sk_streq(set[k].key, o[i].key))
            k++;
        assert_string_equal(o[i].value, set[k].value);
    }
    sk_outputs_free(o, n);
    sk_store_close(st);
}

/* ---- clusters ---- */

static sk_node_t mknode(const char *name, const char *labels, int pid)
{
    sk_node_t n;
    memset(&n, 0, sizeof(n));
    n.name = (char *)name;
    n.labels = (char *)labels;
    n.max_parallel = 4;
    n.api = "http://127.0.0.1:7070";
    n.pid = pid;
    n.version = "sked test";
    return n;
}

/* node_beat, failing the test on error; the server's now. */
static int64_t beat_ok(sk_store_t *st, const sk_node_t *n)
{
    int64_t now = 0;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = st->ops->node_beat(st, n, &now, &err);
    if (rc != 0)
        fail_msg("beat %s: %d %s", n->name, rc, err.msg);
    assert_true(now > 0);
    return now;
}

/* A leader whose process hangs keeps its session and the lock: another
 * node ends that session (leader_evict), by the name its beats gave it,
 * and may then lead; the hung one sees it lost the lead. Only a session
 * that holds the lock is ended. */
static void test_pg_silent_leader_evicted(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *a = open_ok(fx->db);
    sk_store_t *b = open_ok(fx->db);
    sk_node_t alpha = mknode("alpha", "", 1), beta = mknode("beta", "", 2);
    bool la = false, lb = true, ended = true;
    assert_int_equal(a->ops->leader(a, &la, NULL), 0);
    assert_true(la);
    alpha.leader = true;
    beat_ok(a, &alpha); /* names a's session */
    beat_ok(b, &beta);
    assert_int_equal(b->ops->leader(b, &lb, NULL), 0);
    assert_false(lb);
    /* beta holds nothing: evicting it ends nothing. */
    assert_int_equal(sk_store_cluster(a)->leader_evict(a, "beta", &ended, NULL), 0);
    assert_false(ended);
    assert_int_equal(sk_store_cluster(b)->leader_evict(b, "alpha", &ended, NULL), 0);
    assert_true(ended);
    for (int i = 0; i < 50 && !lb; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(b->ops->leader(b, &lb, NULL), 0);
    }
    assert_true(lb);
    /* The hung node wakes: its first call finds its session ended (an
     * error: not leading), the next reconnects and does not lead. */
    la = true;
    if (a->ops->leader(a, &la, NULL) == 0)
        assert_false(la);
    assert_int_equal(a->ops->leader(a, &la, NULL), 0);
    assert_false(la);
    sk_store_close(a);
    sk_store_close(b);
}

/* nodes_list, failing the test on error. */
static sk_node_t *list_ok(sk_store_t *st, int64_t forget_ms, size_t *ret_n)
{
    sk_node_t *nodes = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = st->ops->nodes_list(st, forget_ms, &nodes, ret_n, &err);
    if (rc != 0)
        fail_msg("nodes_list: %d %s", rc, err.msg);
    assert_true(*ret_n == 0 ? nodes == NULL : nodes != NULL);
    return nodes;
}

/* A heart-beat is an upsert by name; the list comes by name with each
 * node's age and the runs it holds; a silent node is forgotten. Times are
 * the store's clock: ages are checked against bounds, never slept for. */
static void test_nodes(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    size_t n = 9;
    sk_node_t *nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 0);

    sk_node_t b = mknode("b", "gpu,ssd", 100);
    b.leader = true;
    int64_t t_b = beat_ok(st, &b);
    sk_node_t a = mknode("a", NULL, 200);
    a.api = a.version = NULL;
    a.max_parallel = 1;
    int64_t t_a = beat_ok(st, &a);
    assert_true(t_a >= t_b);
    nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0].name, "a");
    assert_string_equal(nodes[0].labels, "");
    assert_null(nodes[0].api);
    assert_null(nodes[0].version);
    assert_int_equal(nodes[0].max_parallel, 1);
    assert_int_equal(nodes[0].pid, 200);
    assert_false(nodes[0].leader);
    assert_int_equal(nodes[0].seen_at, t_a);
    assert_int_equal(nodes[0].started_at, t_a);
    assert_string_equal(nodes[1].name, "b");
    assert_string_equal(nodes[1].labels, "gpu,ssd");
    assert_string_equal(nodes[1].api, "http://127.0.0.1:7070");
    assert_string_equal(nodes[1].version, "sked test");
    assert_int_equal(nodes[1].max_parallel, 4);
    assert_int_equal(nodes[1].pid, 100);
    assert_true(nodes[1].leader);
    assert_int_equal(nodes[1].seen_at, t_b);
    assert_int_equal(nodes[1].started_at, t_b);
    for (size_t i = 0; i < n; i++) {
        assert_true(nodes[i].age_ms >= 0 && nodes[i].age_ms < 60000);
        assert_int_equal(nodes[i].running, 0);
    }
    sk_nodes_free(nodes, n);

    /* A beat rewrites the row; the start stays while the pid does. */
    store_exec(st, "UPDATE nodes SET started_at = 5, seen_at = seen_at - 1000000 WHERE name = 'b'");
    b.labels = "gpu";
    b.leader = false;
    b.max_parallel = 8;
    int64_t t_b2 = beat_ok(st, &b);
    nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[1].labels, "gpu");
    assert_false(nodes[1].leader);
    assert_int_equal(nodes[1].max_parallel, 8);
    assert_int_equal(nodes[1].started_at, 5);
    assert_int_equal(nodes[1].seen_at, t_b2);
    assert_true(nodes[1].age_ms >= 0 && nodes[1].age_ms < 60000);
    sk_nodes_free(nodes, n);
    /* A new pid is a restart: it started now. */
    b.pid = 101;
    int64_t t_b3 = beat_ok(st, &b);
    nodes = list_ok(st, 0, &n);
    assert_int_equal(nodes[1].pid, 101);
    assert_int_equal(nodes[1].started_at, t_b3);
    sk_nodes_free(nodes, n);

    /* running: the runs a node holds (running, on it), nothing else. */
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        sk_run_t r = mkrun("j", SK_TRIG_MANUAL, 1000 * (i + 1));
        ids[i] = insert_ok(st, &r);
        if (i < 3)
            assert_int_equal(sk_store_run_start(st, ids[i], 1, 1, NULL, NULL), 0);
    }
    assert_int_equal(sk_store_run_finish(st, ids[2], SK_RUN_SUCCEEDED, 2, 0, 0, NULL, NULL), 0);
    char sql[200];
    sk_snprintf(sql, sizeof(sql),
                "UPDATE runs SET node = 'b' WHERE id IN (%" PRId64 ", %" PRId64 ", %" PRId64
                ", %" PRId64 ")",
                ids[0], ids[1], ids[2], ids[3]);
    store_exec(st, sql);
    nodes = list_ok(st, 0, &n);
    assert_int_equal(nodes[0].running, 0);
    assert_int_equal(nodes[1].running, 2);
    sk_nodes_free(nodes, n);

    /* a's last beat is 100 s old. */
    store_exec(st, "UPDATE nodes SET seen_at = seen_at - 100000 WHERE name = 'a'");
    nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 2);
    assert_true(nodes[0].age_ms >= 100000 && nodes[0].age_ms < 160000);
    sk_nodes_free(nodes, n);
    /* A reader leaves it out and deletes nothing, nor may it beat. */
    sk_store_t *ro = NULL;
    sk_err_t err;
    assert_int_equal(sk_store_open_readonly(fx->db, &ro, &err), 0);
    nodes = list_ok(ro, 50000, &n);
    assert_int_equal(n, 1);
    assert_string_equal(nodes[0].name, "b");
    sk_nodes_free(nodes, n);
    assert_int_equal(ro->ops->node_beat(ro, &a, NULL, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "read-only"));
    sk_store_close(ro);
    nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 2);
    sk_nodes_free(nodes, n);
    /* The writer forgets it. */
    nodes = list_ok(st, 50000, &n);
    assert_int_equal(n, 1);
    assert_string_equal(nodes[0].name, "b");
    sk_nodes_free(nodes, n);
    nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 1);
    sk_nodes_free(nodes, n);
    /* Its next beat brings it back, as new. */
    int64_t t_a2 = beat_ok(st, &a);
    nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0].name, "a");
    assert_int_equal(nodes[0].started_at, t_a2);
    sk_nodes_free(nodes, n);
    /* A huge forget_ms forgets nothing (and does not overflow). */
    nodes = list_ok(st, INT64_MAX, &n);
    assert_int_equal(n, 2);
    sk_nodes_free(nodes, n);

    /* A beat needs a name; *server_now is optional. */
    sk_node_t bad = mknode("", "", 1);
    assert_int_equal(st->ops->node_beat(st, &bad, NULL, &err), -EINVAL);
    bad.name = NULL;
    assert_int_equal(st->ops->node_beat(st, &bad, NULL, &err), -EINVAL);
    assert_int_equal(st->ops->node_beat(st, NULL, NULL, &err), -EINVAL);
    assert_int_equal(st->ops->node_beat(st, &a, NULL, &err), 0);
    sk_store_close(st);
}

/* The cluster columns come back from every read of a run. */
static void test_run_cluster_fields(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_run_t r = mkrun("c", SK_TRIG_MANUAL, 1000);
    int64_t id = insert_ok(st, &r);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
    assert_null(got.node);
    assert_null(got.spec);
    assert_null(got.cancel);
    assert_false(got.dispatched);
    assert_false(got.settled);
    sk_run_release(&got);
    char sql[200];
    sk_snprintf(sql, sizeof(sql),
                "UPDATE runs SET node = 'n1', spec = '{\"cmd\": \"x\"}', cancel = 'stop', "
                "dispatched = TRUE, settled = TRUE WHERE id = %" PRId64,
                id);
    store_exec(st, sql);
    sk_run_t *runs = NULL;
    size_t n = 0;
    sk_run_filter_t f = {.job = "c"};
    assert_int_equal(sk_store_runs_query(st, &f, &runs, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
    sk_run_t last;
    assert_int_equal(sk_store_run_last(st, "c", &last, NULL), 0);
    const sk_run_t *seen[] = {&got, &runs[0], &last};
    for (size_t i = 0; i < SK_ARRAY_LEN(seen); i++) {
        assert_string_equal(seen[i]->node, "n1");
        assert_string_equal(seen[i]->spec, "{\"cmd\": \"x\"}");
        assert_string_equal(seen[i]->cancel, "stop");
        assert_true(seen[i]->dispatched);
        assert_true(seen[i]->settled);
    }
    sk_run_release(&got);
    sk_run_release(&last);
    sk_runs_free(runs, n);
    sk_store_close(st);
}

/* The cluster's write operations count for the hook and fail like the
 * others; reads go on. */
static void test_injected_faults_cluster(void **state)
{
    fixture_t *fx = *state;
    test_setenv("SKED_TEST_STORE_FAIL_AFTER", "3");
    sk_store_t *st = open_ok(fx->db);
    unsetenv("SKED_TEST_STORE_FAIL_AFTER");
    sk_node_t me = mknode("n1", "", 1);
    beat_ok(st, &me); /* 1 */
    sk_run_t r = mkrun("f", SK_TRIG_MANUAL, 1);
    int64_t id = insert_ok(st, &r); /* 2 */
    sk_err_t err;
    assert_int_equal(st->ops->node_beat(st, &me, NULL, &err), SK_ESTORE); /* 3 */
    assert_non_null(strstr(err.msg, "injected fault"));
    size_t n;
    sk_node_t *nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 1);
    sk_nodes_free(nodes, n);
    if (store_is_pg(st)) {
        sk_run_t *runs = NULL;
        assert_int_equal(st->ops->cluster->run_dispatch(st, id, NULL, "{}", &err), SK_ESTORE);
        assert_non_null(strstr(err.msg, "injected fault"));
        assert_int_equal(st->ops->cluster->runs_claim(st, "n1", "", 1, 10, &runs, &n, &err),
                         SK_ESTORE);
        assert_non_null(strstr(err.msg, "injected fault"));
        assert_int_equal(st->ops->cluster->run_attach(st, id, "n1", 1, NULL, &err), SK_ESTORE);
        assert_int_equal(st->ops->cluster->run_cancel(st, id, "x", &err), SK_ESTORE);
        assert_int_equal(st->ops->cluster->run_settle(st, id, &err), SK_ESTORE);
        assert_non_null(strstr(err.msg, "injected fault"));
        assert_int_equal(st->ops->cluster->runs_unsettled(st, &runs, &n, NULL), 0);
        assert_int_equal(n, 0);
    }
    assert_no_tx(st);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, id, &got, NULL), 0);
    assert_false(got.dispatched);
    assert_null(got.cancel);
    sk_run_release(&got);
    sk_store_close(st);
}

/* A SQLite store has one node: no cluster operations at all (the daemon
 * tests that one pointer), while its node heart-beats still work. */
static void test_sqlite_has_no_cluster_ops(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    assert_null(sk_store_cluster(st));
    assert_null(st->ops->cluster);
    assert_non_null(st->ops->leader);
    assert_non_null(st->ops->node_beat);
    assert_non_null(st->ops->nodes_list);
    bool lead = false;
    assert_int_equal(st->ops->leader(st, &lead, NULL), 0);
    assert_true(lead);
    sk_store_close(st);
}

/* ---- PostgreSQL only: clusters ---- */

/* A queued run of job handed to the cluster. */
static int64_t dispatched_run(sk_store_t *st, const char *job, int64_t at, const char *pin,
                              const char *spec)
{
    sk_run_t r = mkrun(job, SK_TRIG_MANUAL, at);
    int64_t id = insert_ok(st, &r);
    sk_err_t err;
    sk_err_clear(&err);
    int rc = st->ops->cluster->run_dispatch(st, id, pin, spec, &err);
    if (rc != 0)
        fail_msg("dispatch %" PRId64 ": %d %s", id, rc, err.msg);
    return id;
}

/* runs are want (ends with 0), in that order. */
static void assert_run_ids(const char *name, const sk_run_t *runs, size_t n, const int64_t *want)
{
    size_t want_n = 0;
    while (want[want_n])
        want_n++;
    if (n != want_n)
        fail_msg("%s: %zu rows, want %zu", name, n, want_n);
    if (n == 0 && runs)
        fail_msg("%s: no rows, but not NULL", name);
    for (size_t k = 0; k < n; k++)
        if (runs[k].id != want[k])
            fail_msg("%s: row %zu is run %" PRId64 ", want %" PRId64, name, k, runs[k].id, want[k]);
}

/* runs_claim returns want (ends with 0), each now running on node since now. */
static void assert_claim(sk_store_t *st, const char *name, const char *node, const char *labels,
                         size_t max, int64_t now, const int64_t *want)
{
    sk_run_t *runs = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = st->ops->cluster->runs_claim(st, node, labels, max, now, &runs, &n, &err);
    if (rc != 0)
        fail_msg("%s: %d %s", name, rc, err.msg);
    assert_run_ids(name, runs, n, want);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(runs[k].status, SK_RUN_RUNNING);
        assert_string_equal(runs[k].node, node);
        assert_int_equal(runs[k].started_at, now);
        assert_true(runs[k].dispatched);
        assert_false(runs[k].settled);
    }
    sk_runs_free(runs, n);
}

static void assert_of_node(sk_store_t *st, const char *node, const int64_t *want)
{
    sk_run_t *runs = NULL;
    size_t n = 0;
    assert_int_equal(st->ops->cluster->runs_of_node(st, node, &runs, &n, NULL), 0);
    assert_run_ids(node, runs, n, want);
    sk_runs_free(runs, n);
}

static void assert_unsettled(sk_store_t *st, const int64_t *want)
{
    sk_run_t *runs = NULL;
    size_t n = 0;
    assert_int_equal(st->ops->cluster->runs_unsettled(st, &runs, &n, NULL), 0);
    assert_run_ids("unsettled", runs, n, want);
    sk_runs_free(runs, n);
}

static void assert_ended_unsettled(sk_store_t *st, const int64_t *want)
{
    sk_run_t *runs = NULL;
    size_t n = 0;
    assert_int_equal(st->ops->cluster->runs_ended_unsettled(st, &runs, &n, NULL), 0);
    assert_run_ids("ended unsettled", runs, n, want);
    sk_runs_free(runs, n);
}

/* The leader dispatches, nodes claim what their labels allow, oldest
 * first, never before a run's time, at most max. */
static void test_pg_dispatch_claim(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_err_t err;
    const int64_t now = 1000000;
    int64_t free1 = dispatched_run(st, "c", 1000, NULL, "{\"n\": 1}");
    int64_t gpu = dispatched_run(st, "c", 2000, "gpu", "{\"n\": 2}");
    int64_t both = dispatched_run(st, "c", 3000, "gpu,ssd", "{\"n\": 3}");
    sk_run_t r = mkrun("c", SK_TRIG_RETRY, 4000);
    r.queued_at = now + 60000; /* a retry not before a minute from now */
    int64_t later = insert_ok(st, &r);
    assert_int_equal(st->ops->cluster->run_dispatch(st, later, NULL, NULL, NULL), 0);
    r = mkrun("c", SK_TRIG_MANUAL, 5000);
    int64_t local = insert_ok(st, &r); /* never dispatched */
    int64_t free2 = dispatched_run(st, "c", 6000, "", "{\"n\": 6}");

    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, gpu, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_QUEUED);
    assert_true(got.dispatched);
    assert_false(got.settled);
    assert_string_equal(got.spec, "{\"n\": 2}");
    assert_null(got.node);
    sk_run_release(&got);
    assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM runs WHERE pin = 'gpu,ssd'"), 1);
    /* Only queued runs are dispatched. */
    int64_t done = finished_run(st, "c", 7000, 7100, NULL);
    assert_int_equal(st->ops->cluster->run_dispatch(st, done, NULL, "{}", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not queued"));
    assert_int_equal(st->ops->cluster->run_dispatch(st, 999999, NULL, "{}", &err), SK_ENOTFOUND);
    /* Dispatching again takes back a settle. */
    assert_int_equal(st->ops->cluster->run_settle(st, free2, NULL), 0);
    assert_int_equal(sk_store_run_get(st, free2, &got, NULL), 0);
    assert_true(got.settled);
    sk_run_release(&got);
    assert_int_equal(st->ops->cluster->run_dispatch(st, free2, "", "{\"n\": 6}", NULL), 0);
    assert_int_equal(sk_store_run_get(st, free2, &got, NULL), 0);
    assert_false(got.settled);
    sk_run_release(&got);

    assert_claim(st, "max 0", "n1", "", 0, now, (const int64_t[]){0});
    assert_claim(st, "one", "n1", "", 1, now, (const int64_t[]){free1, 0});
    assert_claim(st, "unpinned", "n1", "", 10, now, (const int64_t[]){free2, 0});
    assert_claim(st, "lacks gpu", "n2", "ssd", 10, now, (const int64_t[]){0});
    assert_claim(st, "gpu, not ssd", "n2", "gpu", 10, now, (const int64_t[]){gpu, 0});
    assert_claim(st, "every label", "n3", "arm,ssd,gpu", 10, now, (const int64_t[]){both, 0});
    assert_claim(st, "not yet", "n3", "", 10, now, (const int64_t[]){0});
    assert_claim(st, "its time", "n3", "", 10, now + 60000, (const int64_t[]){later, 0});
    assert_int_equal(sk_store_run_get(st, local, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_QUEUED);
    assert_null(got.node);
    sk_run_release(&got);
    assert_int_equal(sk_store_run_get(st, both, &got, NULL), 0);
    assert_string_equal(got.spec, "{\"n\": 3}");
    assert_string_equal(got.node, "n3");
    sk_run_release(&got);

    assert_of_node(st, "n1", (const int64_t[]){free1, free2, 0});
    assert_of_node(st, "n2", (const int64_t[]){gpu, 0});
    assert_of_node(st, "nobody", (const int64_t[]){0});
    assert_of_node(st, "\xff", (const int64_t[]){0});
    /* nodes_list counts what each holds. */
    sk_node_t n1 = mknode("n1", "", 1), n2 = mknode("n2", "gpu", 2);
    beat_ok(st, &n1);
    beat_ok(st, &n2);
    size_t n;
    sk_node_t *nodes = list_ok(st, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(nodes[0].running, 2);
    assert_int_equal(nodes[1].running, 1);
    sk_nodes_free(nodes, n);

    /* max is respected, oldest first. */
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = dispatched_run(st, "m", 10000 + i, NULL, NULL);
    assert_claim(st, "max 2", "n4", "", 2, now, (const int64_t[]){ids[0], ids[1], 0});
    assert_claim(st, "the rest", "n4", "", 10, now, (const int64_t[]){ids[2], ids[3], ids[4], 0});
    assert_claim(st, "none left", "n4", "", 10, now, (const int64_t[]){0});

    sk_run_t *runs = NULL;
    assert_int_equal(st->ops->cluster->runs_claim(st, NULL, "", 1, now, &runs, &n, &err), -EINVAL);
    assert_int_equal(st->ops->cluster->runs_claim(st, "", "", 1, now, &runs, &n, &err), -EINVAL);
    sk_store_close(st);
}

typedef struct {
    sk_store_t *st;
    char node[16];
    pthread_barrier_t *start;
    int64_t *ids;
    size_t n, cap;
    int rc;
    bool wrong_node;
    char msg[512];
} claimer_t;

static void *claimer(void *arg)
{
    claimer_t *c = arg;
    pthread_barrier_wait(c->start);
    for (;;) {
        sk_run_t *runs = NULL;
        size_t n = 0;
        sk_err_t err;
        sk_err_clear(&err);
        c->rc = c->st->ops->cluster->runs_claim(c->st, c->node, "", 7, 1000000, &runs, &n, &err);
        if (c->rc != 0) {
            sk_strlcpy(c->msg, err.msg, sizeof(c->msg));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 64;
                c->ids = sk_xrealloc(c->ids, c->cap * sizeof(*c->ids));
            }
            c->ids[c->n++] = runs[i].id;
            if (!sk_streq(runs[i].node, c->node))
                c->wrong_node = true;
        }
        sk_runs_free(runs, n);
        if (n == 0)
            break;
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nodes claiming at once never get the same run, and together get all. */
static void test_pg_claim_concurrent(void **state)
{
    fixture_t *fx = *state;
    enum { NODES = 4, RUNS = 400 };
    sk_store_t *st = open_ok(fx->db);
    int64_t first = 0;
    assert_int_equal(sk_store_begin(st, NULL), 0);
    for (int i = 0; i < RUNS; i++) {
        int64_t id = dispatched_run(st, "p", 1000 + i, NULL, "{}");
        if (i == 0)
            first = id;
    }
    assert_int_equal(sk_store_commit(st, NULL), 0);
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, NODES), 0);
    pthread_t t[NODES];
    claimer_t c[NODES];
    for (int i = 0; i < NODES; i++) {
        c[i] = (claimer_t){.st = open_ok(fx->db), .start = &start};
        sk_snprintf(c[i].node, sizeof(c[i].node), "n%d", i);
        assert_int_equal(pthread_create(&t[i], NULL, claimer, &c[i]), 0);
    }
    for (int i = 0; i < NODES; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
    int64_t *all = sk_xmalloc(RUNS * NODES * sizeof(*all));
    size_t total = 0;
    for (int i = 0; i < NODES; i++) {
        if (c[i].rc != 0)
            fail_msg("node %d: %d %s", i, c[i].rc, c[i].msg);
        assert_false(c[i].wrong_node);
        for (size_t k = 0; k < c[i].n && total < RUNS * NODES; k++)
            all[total++] = c[i].ids[k];
        free(c[i].ids);
        sk_store_close(c[i].st);
    }
    assert_int_equal(total, RUNS);
    qsort(all, total, sizeof(*all), cmp_id);
    for (size_t k = 0; k < total; k++)
        assert_int_equal(all[k], first + (int64_t)k); /* each once */
    free(all);
    assert_int_equal(pg_int(fx->db, "SELECT count(*) FROM runs WHERE status = 'running' AND node "
                                    "LIKE 'n_'"),
                     RUNS);
    sk_store_close(st);
}

/* A claim inside a batch goes with it; a row one node holds in its open
 * transaction is skipped by another, which does not wait for it. */
static void test_pg_claim_in_batch(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *a = open_ok(fx->db);
    sk_store_t *b = open_ok(fx->db);
    int64_t x = dispatched_run(a, "b", 1000, NULL, "{}");
    assert_int_equal(sk_store_begin(a, NULL), 0);
    assert_claim(a, "in a batch", "na", "", 5, 5000, (const int64_t[]){x, 0});
    assert_int_equal(sk_store_rollback(a, NULL), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(a, x, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_QUEUED);
    assert_null(got.node);
    assert_int_equal(got.started_at, 0);
    sk_run_release(&got);

    int64_t y = dispatched_run(a, "b", 2000, NULL, "{}");
    assert_int_equal(sk_store_begin(a, NULL), 0);
    assert_claim(a, "a takes one", "na", "", 1, 5000, (const int64_t[]){x, 0});
    /* b skips x (a holds it, uncommitted) at once, and takes y. */
    assert_claim(b, "b skips", "nb", "", 5, 5000, (const int64_t[]){y, 0});
    assert_int_equal(a->ops->cluster->run_attach(a, x, "na", 4242, "x.log", NULL), 0);
    assert_int_equal(sk_store_commit(a, NULL), 0);
    assert_claim(b, "nothing left", "nb", "", 5, 5000, (const int64_t[]){0});
    assert_int_equal(sk_store_run_get(b, x, &got, NULL), 0);
    assert_string_equal(got.node, "na");
    assert_int_equal(got.pid, 4242);
    sk_run_release(&got);
    sk_store_close(a);
    sk_store_close(b);
}

/* A claimed run's life: attach by its holder only, a stop asked for, the
 * leader ending it for a dead node, settling. */
static void test_pg_attach_cancel_settle(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_err_t err;
    int64_t a = dispatched_run(st, "w", 1000, NULL, "{\"cmd\": \"a\"}");
    int64_t b = dispatched_run(st, "w", 2000, NULL, "{\"cmd\": \"b\"}");
    int64_t c = dispatched_run(st, "w", 3000, NULL, NULL);
    /* A run asked to stop before any node claimed it is never claimed:
     * the leader ends it. */
    assert_int_equal(st->ops->cluster->run_cancel(st, c, "cancelled before it started", NULL), 0);
    sk_run_t *runs = NULL;
    size_t n = 0;
    assert_int_equal(st->ops->cluster->runs_claim(st, "n1", "", 10, 5000, &runs, &n, NULL), 0);
    assert_run_ids("claim", runs, n, (const int64_t[]){a, b, 0});
    assert_null(runs[0].cancel);
    assert_string_equal(runs[0].spec, "{\"cmd\": \"a\"}");
    assert_int_equal(runs[0].pid, 0);
    assert_null(runs[0].log_path);
    sk_runs_free(runs, n);

    /* Only the node holding it attaches. */
    assert_int_equal(st->ops->cluster->run_attach(st, a, "n2", 77, "x.log", &err), -EALREADY);
    assert_int_equal(st->ops->cluster->run_attach(st, a, "n1", 4242, "logs/w/a.log", NULL), 0);
    sk_run_t got;
    assert_int_equal(sk_store_run_get(st, a, &got, NULL), 0);
    assert_int_equal(got.pid, 4242);
    assert_string_equal(got.log_path, "logs/w/a.log");
    assert_int_equal(got.status, SK_RUN_RUNNING);
    assert_int_equal(got.started_at, 5000);
    sk_run_release(&got);
    assert_int_equal(st->ops->cluster->run_attach(st, 999999, "n1", 1, NULL, &err), SK_ENOTFOUND);
    assert_int_equal(st->ops->cluster->run_attach(st, a, NULL, 1, NULL, &err), -EINVAL);

    /* A stop: the holder sees it in its runs. */
    assert_int_equal(st->ops->cluster->run_cancel(st, a, "stopped by alice", NULL), 0);
    assert_int_equal(st->ops->cluster->runs_of_node(st, "n1", &runs, &n, NULL), 0);
    assert_run_ids("n1", runs, n, (const int64_t[]){a, b, 0});
    assert_string_equal(runs[0].cancel, "stopped by alice");
    assert_null(runs[1].cancel);
    sk_runs_free(runs, n);

    /* The leader counts n1 dead and ends b: n1's late attach is refused,
     * and changes nothing. */
    assert_int_equal(
        sk_store_run_finish(st, b, SK_RUN_INTERRUPTED, 6000, -1, 0, "node n1 went silent", NULL),
        0);
    assert_int_equal(st->ops->cluster->run_attach(st, b, "n1", 99, "late.log", &err), -EALREADY);
    assert_non_null(strstr(err.msg, "interrupted"));
    assert_int_equal(sk_store_run_get(st, b, &got, NULL), 0);
    assert_int_equal(got.pid, 0);
    assert_null(got.log_path);
    assert_string_equal(got.reason, "node n1 went silent");
    sk_run_release(&got);
    assert_int_equal(sk_store_run_finish(st, b, SK_RUN_FAILED, 6500, 1, 0, NULL, &err), -EALREADY);
    assert_int_equal(st->ops->cluster->run_cancel(st, b, "too late", &err), -EALREADY);
    assert_int_equal(st->ops->cluster->run_cancel(st, 999999, "x", &err), SK_ENOTFOUND);
    assert_int_equal(st->ops->cluster->run_cancel(st, a, NULL, &err), -EINVAL);
    /* The holder ends a, as any running run ends. */
    assert_int_equal(sk_store_run_finish(st, a, SK_RUN_KILLED, 7000, -1, 15, NULL, NULL), 0);
    assert_of_node(st, "n1", (const int64_t[]){0});

    /* Unsettled: everything dispatched and not taken back, any status. */
    sk_run_t r = mkrun("w", SK_TRIG_MANUAL, 8000);
    insert_ok(st, &r); /* not dispatched */
    assert_unsettled(st, (const int64_t[]){a, b, c, 0});
    assert_ended_unsettled(st, (const int64_t[]){a, b, 0}); /* c is still queued */
    assert_int_equal(st->ops->cluster->run_settle(st, a, NULL), 0);
    assert_int_equal(st->ops->cluster->run_settle(st, b, NULL), 0);
    assert_int_equal(st->ops->cluster->run_settle(st, b, &err), -EALREADY); /* once only */
    assert_int_equal(st->ops->cluster->run_settle(st, 999999, &err), SK_ENOTFOUND);
    assert_unsettled(st, (const int64_t[]){c, 0});
    assert_ended_unsettled(st, (const int64_t[]){0});

    /* Every cluster field round-trips. */
    assert_int_equal(sk_store_run_get(st, a, &got, NULL), 0);
    assert_int_equal(got.status, SK_RUN_KILLED);
    assert_int_equal(got.signal, 15);
    assert_string_equal(got.node, "n1");
    assert_string_equal(got.spec, "{\"cmd\": \"a\"}");
    assert_string_equal(got.cancel, "stopped by alice");
    assert_true(got.dispatched);
    assert_true(got.settled);
    sk_run_release(&got);
    sk_store_close(st);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define P(f) cmocka_unit_test_setup_teardown(f, pg_setup, pg_teardown)

/* The contract, the same for every back end. */
#define SHARED_TESTS(X)                                                                            \
    X(test_reopen_keeps_data), X(test_insert_fire_uniqueness), X(test_insert_invalid),             \
        X(test_start_finish), X(test_run_pids), X(test_get_missing), X(test_query),                \
        X(test_query_limits), X(test_run_last), X(test_workflow_steps),                            \
        X(test_step_insert_invalid), X(test_outputs), X(test_alerts), X(test_job_state),           \
        X(test_event_runs_and_boot_claims), X(test_prune), X(test_prune_many_and_null_logs),       \
        X(test_prune_workflow), X(test_prune_many_workflows), X(test_batch_1000_inserts),          \
        X(test_close_rolls_back_open_batch), X(test_readonly), X(test_injected_faults),            \
        X(test_injected_fault_rolls_back_batch), X(test_injected_faults_new_writes),               \
        X(test_nodes), X(test_run_cluster_fields), X(test_injected_faults_cluster),                \
        X(test_text_names_must_be_utf8), X(test_text_reasons_repaired)

/* test_reader_keeps_writers_locks's other process: one write, then close. */
static int other_writer(const char *path)
{
    sk_store_t *st = NULL;
    sk_run_t r = mkrun("b", SK_TRIG_MANUAL, 1);
    int bad = sk_store_open(path, &st, NULL) < 0 || sk_store_run_insert(st, &r, NULL) < 0;
    sk_store_close(st);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--other-writer") == 0)
        return other_writer(argv[2]);
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_spellings),
        cmocka_unit_test(test_trigger_spellings),
        cmocka_unit_test(test_alert_state_spellings),
        cmocka_unit_test(test_status_numbers_frozen),
        cmocka_unit_test(test_run_release_zeroed),
        cmocka_unit_test(test_migration_1_frozen),
        cmocka_unit_test(test_pg_migration_1_frozen),
        cmocka_unit_test(test_migration_2_frozen),
        cmocka_unit_test(test_pg_migration_2_frozen),
        T(test_open_creates_missing_file),
        T(test_open_empty_file_is_created),
        T(test_open_empty_sqlite_db_is_initialised),
        T(test_open_bad_urls),
        T(test_open_directory_refused),
        T(test_garbage_file_refused),
        T(test_corrupt_store_refused),
        T(test_foreign_sqlite_refused),
        T(test_newer_schema_refused),
        T(test_migration_from_v1),
        T(test_migration_failure_rolls_back),
        T(test_migration_from_v2),
        T(test_sqlite_has_no_cluster_ops),
        T(test_new_store_file_is_private),
        T(test_fds_close_on_exec),
        T(test_reader_keeps_writers_locks),
        T(test_store_lock),
        T(test_outputs_disk_full),
        T(test_readonly_refusals),
        T(test_disk_full_then_space_returns),
        SHARED_TESTS(T),
    };
    const struct CMUnitTest pg_tests[] = {
        P(test_pg_open_creates_schema),
        P(test_pg_schema_matches_sqlite),
        P(test_pg_nodes_create_schema_at_once),
        P(test_pg_foreign_refused),
        P(test_pg_readonly_refusals),
        P(test_pg_migration_from_v1),
        P(test_pg_migration_failure_rolls_back),
        P(test_pg_lost_connection),
        P(test_pg_server_away),
        P(test_pg_two_nodes_fire_once),
        P(test_pg_one_leader),
        P(test_pg_silent_leader_evicted),
        P(test_pg_outputs_any_text),
        P(test_pg_migration_from_v2),
        P(test_pg_dispatch_claim),
        P(test_pg_claim_concurrent),
        P(test_pg_claim_in_batch),
        P(test_pg_attach_cancel_settle),
        SHARED_TESTS(P),
    };
    int failed = cmocka_run_group_tests_name("store", tests, NULL, NULL);
    pg_url = getenv("SKED_TEST_PG_URL");
    if (pg_url && *pg_url)
        failed +=
            cmocka_run_group_tests_name("store_pg", pg_tests, pg_group_setup, pg_group_teardown);
    else
        print_message("[  SKIPPED ] store_pg: SKED_TEST_PG_URL is not set (make unit-pg, or "
                      "tests/pg.sh run ..., sets it)\n");
    return failed;
}
