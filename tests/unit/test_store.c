/*
 * Unit tests for the store (src/store): the status and trigger spellings,
 * the SQLite back end's contract (fire uniqueness, start/finish, queries,
 * job state, pruning, batches), its refusals (garbage, corrupt, foreign,
 * newer and missing files) and its failures (injected faults, a full disk
 * that empties again). Each test works in its own temporary folder.
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
#include <setjmp.h>
#include <sys/stat.h>

#include <cmocka.h>

typedef struct {
    char dir[256];
    char db[300];
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
    sk_run_release(&r);
    assert_null(r.job);
    assert_null(r.reason);
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
    sk_job_state_t js = {60000, true};
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
        {"postgres://u:secret@db/sked", "PostgreSQL support is not built yet"},
        {"postgresql://db/sked", "PostgreSQL support is not built yet"},
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
        {"all, default limit", {NULL, 0, 0, false}, {29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
                                                     18, 17, 16, 15, 14, 13, 12, 11, 10, 9,  8,
                                                     7,  6,  5,  4,  3,  2,  1,  0,  -1}},
        {"limit 3", {NULL, 0, 3, false}, {29, 28, 27, -1}},
        {"job a, limit 4", {"a", 0, 4, false}, {28, 26, 24, 22, -1}},
        {"job b", {"b", 0, 0, false}, {29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, -1}},
        {"active", {NULL, 0, 0, true}, {27, 24, 21, 18, 15, 12, 9, 6, 3, 0, -1}},
        {"active of a", {"a", 0, 0, true}, {24, 18, 12, 6, 0, -1}},
        {"page after 10", {NULL, -1, 4, false}, {9, 8, 7, 6, -1}},
        {"job a page", {"a", -1, 2, true}, {6, 0, -1}},
        {"no such job", {"zzz", 0, 0, false}, {-1}},
        {"before the first", {NULL, -2, 0, false}, {-1}},
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

/* ---- job state ---- */

static void test_job_state(void **state)
{
    fixture_t *fx = *state;
    sk_store_t *st = open_ok(fx->db);
    sk_job_state_t js = {123, true};
    assert_int_equal(sk_store_job_state_get(st, "never-seen", &js, NULL), 0);
    assert_int_equal(js.last_fire, 0);
    assert_false(js.paused);

    static const sk_job_state_t seq[] = {
        {1000, false}, {2000, true}, {2000, false}, {0, false}, {INT64_MAX, true}};
    for (size_t i = 0; i < SK_ARRAY_LEN(seq); i++) {
        assert_int_equal(sk_store_job_state_set(st, "j", &seq[i], NULL), 0);
        sk_job_state_t got;
        assert_int_equal(sk_store_job_state_get(st, "j", &got, NULL), 0);
        assert_int_equal(got.last_fire, seq[i].last_fire);
        assert_int_equal(got.paused, seq[i].paused);
    }
    assert_int_equal(sk_store_job_state_get(st, "never-seen", &js, NULL), 0);
    assert_int_equal(js.last_fire, 0);
    assert_int_equal(sk_store_job_state_set(st, "", &seq[0], NULL), -EINVAL);
    assert_int_equal(sk_store_job_state_set(st, NULL, &seq[0], NULL), -EINVAL);
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
        unlink(fx->db);
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
        sk_job_state_t js = {at, false};
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

static void test_readonly(void **state)
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
    unlink(fx->db);

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
    sk_job_state_t js = {1, false};
    assert_int_equal(sk_store_run_insert(ro, &r, &err), SK_ESTORE);
    assert_non_null(strstr(err.msg, "read-only"));
    assert_int_equal(sk_store_run_start(ro, id, 1, 1, NULL, &err), SK_ESTORE);
    assert_int_equal(sk_store_run_finish(ro, id, SK_RUN_FAILED, 1, 1, 0, NULL, &err), SK_ESTORE);
    assert_int_equal(sk_store_job_state_set(ro, "a", &js, &err), SK_ESTORE);
    assert_int_equal(sk_store_prune(ro, "a", 1, 0, NULL, NULL, &err), SK_ESTORE);
    assert_int_equal(sk_store_begin(ro, &err), SK_ESTORE);
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
        unlink(fx->db);
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
            sk_job_state_t js = {1, false};
            assert_int_equal(sk_store_job_state_set(st, "f", &js, NULL), SK_ESTORE);
            assert_int_equal(sk_store_run_start(st, 1, 1, 1, NULL, NULL), SK_ESTORE);
            assert_int_equal(sk_store_run_finish(st, 1, SK_RUN_FAILED, 1, 1, 0, NULL, NULL),
                             SK_ESTORE);
            assert_int_equal(sk_store_prune(st, "f", 1, 0, NULL, NULL, NULL), SK_ESTORE);
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
    sk_job_state_t js = {2000, false};
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_spellings),
        cmocka_unit_test(test_trigger_spellings),
        cmocka_unit_test(test_run_release_zeroed),
        T(test_open_creates_missing_file),
        T(test_open_empty_file_is_created),
        T(test_open_empty_sqlite_db_is_initialised),
        T(test_reopen_keeps_data),
        T(test_open_bad_urls),
        T(test_open_directory_refused),
        T(test_garbage_file_refused),
        T(test_corrupt_store_refused),
        T(test_foreign_sqlite_refused),
        T(test_newer_schema_refused),
        T(test_fds_close_on_exec),
        T(test_insert_fire_uniqueness),
        T(test_insert_invalid),
        T(test_start_finish),
        T(test_get_missing),
        T(test_query),
        T(test_query_limits),
        T(test_run_last),
        T(test_job_state),
        T(test_prune),
        T(test_prune_many_and_null_logs),
        T(test_batch_1000_inserts),
        T(test_close_rolls_back_open_batch),
        T(test_readonly),
        T(test_injected_faults),
        T(test_injected_fault_rolls_back_batch),
        T(test_disk_full_then_space_returns),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
