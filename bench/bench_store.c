/*
 * What a run costs in the store: rows per second of insert + start + finish
 * written durably (synchronous=FULL, one transaction per call, as the
 * daemon does when runs trickle in) and batched (many calls in one
 * transaction, as it does when many fires are due at once), beside the
 * machine's floor (one 4 KiB append + fdatasync) and synchronous=NORMAL
 * measured in the same run. Also: a history query, opening a grown store
 * (quick_check included), and pruning plain runs and workflow runs (each
 * with its steps and their outputs).
 *
 * usage: bench_store [DIR [SECONDS]]   (default bench/out, 2 s per timed part)
 * DIR should be on the disk the daemon will use: tmpfs makes fsync free.
 */
#include "store/store.h"
#include "store/store_int.h"

#include <fcntl.h>
#include <sys/stat.h>

#define BATCH_RUNS 20000
#define FIRES 1000
#define WORKFLOWS 4000
#define WORKFLOW_STEPS 4
#define KEEP 100

typedef struct {
    char dir[256];
    char db[320];
    double seconds;
} bench_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void remove_store(const bench_t *b)
{
    char p[400];
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < SK_ARRAY_LEN(suffix); i++) {
        sk_snprintf(p, sizeof(p), "%s%s", b->db, suffix[i]);
        unlink(p);
    }
}

static sk_store_t *fresh_store(const bench_t *b)
{
    sk_store_t *st = NULL;
    sk_err_t err;
    remove_store(b);
    if (sk_store_open(b->db, &st, &err) < 0)
        sk_panic("bench_store: %s", err.msg);
    return st;
}

static void check(int rc, const sk_err_t *err)
{
    if (rc < 0)
        sk_panic("bench_store: %s", err->msg);
}

/* One run's life in the store, each call its own transaction unless the
 * caller holds a batch. */
static void one_run(sk_store_t *st, const char *job, int64_t i, double *ret_insert_s)
{
    sk_err_t err;
    sk_run_t r;
    memset(&r, 0, sizeof(r));
    r.job = (char *)job;
    r.status = SK_RUN_QUEUED;
    r.trigger = SK_TRIG_SCHEDULE;
    r.attempt = 1;
    r.scheduled_at = 1700000000000 + i * 1000;
    r.queued_at = r.scheduled_at + 1;
    r.exit_code = -1;
    double t0 = now_s();
    check(sk_store_run_insert(st, &r, &err), &err);
    if (ret_insert_s)
        *ret_insert_s = now_s() - t0;
    char log[64];
    sk_snprintf(log, sizeof(log), "logs/%s/%" PRId64 ".log", job, r.id);
    check(sk_store_run_start(st, r.id, r.queued_at + 2, 4242, log, &err), &err);
    check(sk_store_run_finish(st, r.id, SK_RUN_SUCCEEDED, r.queued_at + 900, 0, 0, NULL, &err),
          &err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The floor: what one durable commit cannot beat on this disk. */
static void bench_fsync(const bench_t *b)
{
    char p[400], page[4096];
    sk_snprintf(p, sizeof(p), "%s/fsync-floor.tmp", b->dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        sk_panic("bench_store: %s: %s", p, strerror(errno));
    memset(page, 'f', sizeof(page));
    long n = 0;
    double t0 = now_s(), t;
    do {
        if (write(fd, page, sizeof(page)) != (ssize_t)sizeof(page) || fdatasync(fd) < 0)
            sk_panic("bench_store: %s: %s", p, strerror(errno));
        n++;
    } while ((t = now_s() - t0) < b->seconds);
    close(fd);
    unlink(p);
    printf("%-48s %9.0f /s   %8.1f us each\n", "floor: 4 KiB append + fdatasync", n / t,
           t / n * 1e6);
}

/* Runs one at a time, each call its own transaction, for b->seconds. */
static void bench_trickle(const bench_t *b, const char *label, const char *sync_pragma)
{
    sk_store_t *st = fresh_store(b);
    if (sync_pragma)
        sqlite3_exec(sk_store_sqlite__db(st), sync_pragma, NULL, NULL, NULL);
    size_t cap = 1 << 16, n = 0;
    double *ins = sk_xmalloc(cap * sizeof(*ins));
    double t0 = now_s(), t;
    do {
        if (n == cap)
            ins = sk_xrealloc(ins, (cap *= 2) * sizeof(*ins));
        one_run(st, "trickle", (int64_t)n, &ins[n]);
        n++;
    } while ((t = now_s() - t0) < b->seconds);
    qsort(ins, n, sizeof(*ins), cmp_double);
    printf("%-48s %9.0f runs/s %6.0f us/run  (insert p50 %.0f us, p99 %.0f us; %zu runs)\n", label,
           n / t, t / n * 1e6, ins[n / 2] * 1e6, ins[n * 99 / 100] * 1e6, n);
    free(ins);
    sk_store_close(st);
}

static void bench_batched(const bench_t *b)
{
    sk_store_t *st = fresh_store(b);
    sk_err_t err;
    double t0 = now_s();
    check(sk_store_begin(st, &err), &err);
    for (int64_t i = 0; i < BATCH_RUNS; i++)
        one_run(st, "batched", i, NULL);
    check(sk_store_commit(st, &err), &err);
    double t = now_s() - t0;
    char label[80];
    sk_snprintf(label, sizeof(label), "batched: %d runs in one transaction", BATCH_RUNS);
    printf("%-48s %9.0f runs/s %6.1f us/run\n", label, BATCH_RUNS / t, t / BATCH_RUNS * 1e6);

    /* 1,000 fires due in the same second: one transaction of inserts. */
    t0 = now_s();
    check(sk_store_begin(st, &err), &err);
    for (int i = 0; i < FIRES; i++) {
        char job[32];
        sk_run_t r;
        memset(&r, 0, sizeof(r));
        sk_snprintf(job, sizeof(job), "job-%d", i);
        r.job = job;
        r.trigger = SK_TRIG_SCHEDULE;
        r.attempt = 1;
        r.scheduled_at = 1800000000000;
        r.exit_code = -1;
        check(sk_store_run_insert(st, &r, &err), &err);
        sk_job_state_t js = {r.scheduled_at, false, -1, 0};
        check(sk_store_job_state_set(st, job, &js, &err), &err);
    }
    check(sk_store_commit(st, &err), &err);
    t = now_s() - t0;
    sk_snprintf(label, sizeof(label), "%d fires + job states, one transaction", FIRES);
    printf("%-48s %9.1f ms\n", label, t * 1e3);

    /* Reading back: `sked history JOB` (newest 100 of one job). */
    sk_run_filter_t f = {.job = "batched", .limit = 100};
    int reps = 200;
    t0 = now_s();
    for (int i = 0; i < reps; i++) {
        sk_run_t *runs;
        size_t n;
        check(sk_store_runs_query(st, &f, &runs, &n, &err), &err);
        sk_runs_free(runs, n);
    }
    t = now_s() - t0;
    sk_snprintf(label, sizeof(label), "history: newest 100 of %d runs", BATCH_RUNS);
    printf("%-48s %9.1f us\n", label, t / reps * 1e6);
    sk_store_close(st);

    /* Opening the grown store: schema check and PRAGMA quick_check. */
    struct stat sb;
    stat(b->db, &sb);
    t0 = now_s();
    sk_store_t *again = NULL;
    check(sk_store_open(b->db, &again, &err), &err);
    t = now_s() - t0;
    sk_store_close(again);
    sk_snprintf(label, sizeof(label), "open with quick_check (%.1f MB file)",
                (double)sb.st_size / 1e6);
    printf("%-48s %9.1f ms\n", label, t * 1e3);
}

static void noop_cb(const char *log_path, void *data)
{
    (void)log_path;
    (*(long *)data)++;
}

/* Pruning all but KEEP of BATCH_RUNS plain runs, then all but KEEP of
 * WORKFLOWS workflow runs of WORKFLOW_STEPS steps, each step with outputs:
 * the daemon's periodic clean-up. */
static void bench_prune(const bench_t *b)
{
    sk_store_t *st = fresh_store(b);
    sk_err_t err;
    char label[96];
    check(sk_store_begin(st, &err), &err);
    for (int64_t i = 0; i < BATCH_RUNS; i++)
        one_run(st, "plain", i, NULL);
    for (int64_t i = 0; i < WORKFLOWS; i++) {
        sk_run_t r;
        memset(&r, 0, sizeof(r));
        r.job = "wf";
        r.status = SK_RUN_SUCCEEDED;
        r.trigger = SK_TRIG_SCHEDULE;
        r.attempt = 1;
        r.scheduled_at = 1700000000000 + i * 1000;
        r.ended_at = r.scheduled_at + 900;
        r.exit_code = 0;
        check(sk_store_run_insert(st, &r, &err), &err);
        int64_t parent = r.id;
        for (int k = 0; k < WORKFLOW_STEPS; k++) {
            static const char *const names[] = {"extract", "transform", "load", "cleanup"};
            static const sk_output_t out[] = {{"rows", "12000"}, {"path", "/tmp/etl/out.csv"}};
            r.step = (char *)names[k % 4];
            r.parent_id = parent;
            check(sk_store_run_insert(st, &r, &err), &err);
            check(sk_store_outputs_put(st, r.id, out, SK_ARRAY_LEN(out), &err), &err);
        }
    }
    check(sk_store_commit(st, &err), &err);

    long calls = 0;
    double t0 = now_s();
    check(sk_store_prune(st, "plain", KEEP, 0, noop_cb, &calls, &err), &err);
    double t = now_s() - t0;
    sk_snprintf(label, sizeof(label), "prune %ld of %d plain runs", calls, BATCH_RUNS);
    printf("%-48s %9.1f ms   %6.1f us/row\n", label, t * 1e3, t / (double)calls * 1e6);
    calls = 0;
    t0 = now_s();
    check(sk_store_prune(st, "wf", KEEP, 0, noop_cb, &calls, &err), &err);
    t = now_s() - t0;
    sk_snprintf(label, sizeof(label), "prune %d workflows (%ld rows + outputs)", WORKFLOWS - KEEP,
                calls);
    printf("%-48s %9.1f ms   %6.1f us/row\n", label, t * 1e3, t / (double)calls * 1e6);
    sk_store_close(st);
}

int main(int argc, char **argv)
{
    bench_t b;
    memset(&b, 0, sizeof(b));
    sk_strlcpy(b.dir, argc > 1 ? argv[1] : "bench/out", sizeof(b.dir));
    b.seconds = argc > 2 ? strtod(argv[2], NULL) : 2.0;
    if (b.seconds <= 0)
        b.seconds = 2.0;
    if (mkdir(b.dir, 0755) < 0 && errno != EEXIST)
        sk_panic("bench_store: %s: %s", b.dir, strerror(errno));
    sk_snprintf(b.db, sizeof(b.db), "%s/bench_store.db", b.dir);
    printf("bench_store: SQLite %s, %s (WAL; one run = insert + start + finish)\n",
           sqlite3_libversion(), b.db);
    bench_fsync(&b);
    bench_trickle(&b, "durable: synchronous=FULL, 1 txn per call", NULL);
    bench_trickle(&b, "for comparison: synchronous=NORMAL (not durable)",
                  "PRAGMA synchronous = NORMAL");
    bench_batched(&b);
    bench_prune(&b);
    remove_store(&b);
    return 0;
}
