/*
 * The cron benchmark: how many next-fire instants sked computes per second
 * over a realistic mix of expressions and zones (bench/cron_mix.tsv, each
 * expression from the same fixed set of start instants), and the per-call
 * latency of chosen worst cases. bench/cron_vs_croniter.py runs it beside
 * croniter on the same mix and the same starts, and prints both.
 *
 * usage: bench_cron [--mix FILE] [--seconds S] [--starts N] [--base T] [--stride S]
 *                   [--worst EXPR ZONE]...
 * Output lines are stable: the Python side parses them.
 */
#include "cron/cron.h"
#include "tz/tz.h"

#define MAX_WORST 16

typedef struct entry {
    char *expr;
    char *zone;
    sk_cron_t cron;
    const sk_tz_t *tz;
} entry_t;

typedef struct bench {
    sk_tz_cache_t *cache;
    entry_t *entries;
    size_t n, cap;
    int64_t *starts;
    size_t nstarts;
    uint64_t sink; /* every result goes in here, so that no call is optimised away */
} bench_t;

/*
 * The process's CPU time: on a machine shared with other work, time spent
 * preempted is not counted (the Python side measures the same way).
 */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cron [--mix FILE] [--seconds S] [--starts N] [--base T] "
                    "[--stride S] [--worst EXPR ZONE]...\n");
    exit(2);
}

/* Parses expr in zone into *e; on failure prints why and returns -1. */
static int entry_init(bench_t *b, entry_t *e, const char *expr, const char *zone,
                      const char *where)
{
    sk_err_t err;
    sk_err_clear(&err);
    memset(e, 0, sizeof(*e));
    if (sk_cron_parse(expr, "bench", &e->cron, &err) < 0) {
        fprintf(stderr, "bench_cron: %s: \"%s\": %s\n", where, expr, err.msg);
        return -1;
    }
    if (sk_tz_cache_get(b->cache, zone, &e->tz, &err) < 0) {
        fprintf(stderr, "bench_cron: %s: %s\n", where, err.msg);
        return -1;
    }
    e->expr = sk_xstrdup(expr);
    e->zone = sk_xstrdup(zone);
    return 0;
}

/* Reads FILE: "expr<TAB>zone" lines, '#' comments, blank lines. */
static int load_mix(bench_t *b, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_cron: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    int lineno = 0, r = 0;
    while ((len = getline(&line, &size, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *tab = strrchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "bench_cron: %s:%d: expected expr<TAB>zone\n", path, lineno);
            r = -1;
            break;
        }
        *tab = '\0';
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 64;
            b->entries = sk_xrealloc(b->entries, b->cap * sizeof(*b->entries));
        }
        char where[512];
        sk_snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (entry_init(b, &b->entries[b->n], line, tab + 1, where) < 0) {
            r = -1;
            break;
        }
        b->n++;
    }
    free(line);
    fclose(f);
    if (r == 0 && b->n == 0) {
        fprintf(stderr, "bench_cron: %s: no expressions\n", path);
        r = -1;
    }
    return r;
}

/* One call per start for entry e; returns the calls made. */
static size_t run_entry(bench_t *b, const entry_t *e)
{
    for (size_t i = 0; i < b->nstarts; i++) {
        int64_t next = 0;
        if (sk_cron_next(&e->cron, e->tz, b->starts[i], &next) < 0)
            sk_panic("bench_cron: \"%s\" %s: no next fire", e->expr, e->zone);
        b->sink += (uint64_t)next;
    }
    return b->nstarts;
}

/* Median of n latencies (sorts them). */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(v[0]), cmp_double);
    return v[n / 2];
}

#define BATCHES 9

/*
 * The mix: whole sweeps (every entry from every start) until `seconds` of
 * CPU time pass, timed per sweep; then each entry alone (median of BATCHES
 * rounds over its starts) to name the slowest.
 */
static void bench_mix(bench_t *b, double seconds)
{
    uint64_t calls = 0, sweeps = 0;
    double t0 = now_s(), t;
    do {
        for (size_t k = 0; k < b->n; k++)
            calls += run_entry(b, &b->entries[k]);
        sweeps++;
        t = now_s();
    } while (t - t0 < seconds);
    double el = t - t0;
    printf("sked: %zu computations per sweep, %" PRIu64 " sweeps in %.3f s: %.0f computations/s, "
           "%.1f ns/call\n",
           b->n * b->nstarts, sweeps, el, (double)calls / el, el * 1e9 / (double)calls);

    size_t worst = 0;
    double worst_ns = 0, lat[BATCHES];
    for (size_t k = 0; k < b->n; k++) {
        for (int r = 0; r < BATCHES; r++) {
            double s = now_s();
            size_t n = run_entry(b, &b->entries[k]);
            lat[r] = (now_s() - s) * 1e9 / (double)n;
        }
        double ns = median(lat, BATCHES);
        if (ns > worst_ns) {
            worst_ns = ns;
            worst = k;
        }
    }
    printf("sked: slowest in mix: \"%s\" %s %.1f ns/call\n", b->entries[worst].expr,
           b->entries[worst].zone, worst_ns);
}

/*
 * A worst case: for each start, BATCHES batches of BATCH identical calls,
 * each batch timed; that start's latency is its median batch (robust to a
 * stray interruption). Reports the mean over the starts and the slowest.
 */
#define BATCH 256

static void bench_worst(bench_t *b, const entry_t *e)
{
    double sum = 0, max = 0, lat[BATCHES];
    int64_t max_at = 0;
    for (size_t i = 0; i < b->nstarts; i++) {
        for (int k = 0; k < BATCHES; k++) {
            double t0 = now_s();
            for (int j = 0; j < BATCH; j++) {
                int64_t next = 0;
                if (sk_cron_next(&e->cron, e->tz, b->starts[i], &next) < 0)
                    sk_panic("bench_cron: \"%s\" %s: no next fire", e->expr, e->zone);
                b->sink += (uint64_t)next;
            }
            lat[k] = (now_s() - t0) * 1e9 / BATCH;
        }
        double ns = median(lat, BATCHES);
        sum += ns;
        if (ns > max) {
            max = ns;
            max_at = b->starts[i];
        }
    }
    char iso[64];
    sk_tz_format_iso(e->tz, max_at, iso, sizeof(iso));
    printf("worst: \"%s\" %s mean %.1f ns/call, slowest start %.1f ns/call (from %s)\n", e->expr,
           e->zone, sum / (double)b->nstarts, max, iso);
}

static double parse_num(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        usage();
    return v;
}

int main(int argc, char **argv)
{
    const char *mix = "bench/cron_mix.tsv";
    double seconds = 1.0;
    long nstarts = 64;
    int64_t base = 1767225600; /* 2026-01-01T00:00:00Z */
    int64_t stride = 457997;   /* 5d 7h 13m 17s: 64 starts cover a year, both DST changes */
    const char *worst[MAX_WORST][2];
    size_t nworst = 0;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mix") == 0 && i + 1 < argc) {
            mix = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = parse_num(argv[++i]);
        } else if (strcmp(argv[i], "--starts") == 0 && i + 1 < argc) {
            nstarts = (long)parse_num(argv[++i]);
        } else if (strcmp(argv[i], "--base") == 0 && i + 1 < argc) {
            base = (int64_t)parse_num(argv[++i]);
        } else if (strcmp(argv[i], "--stride") == 0 && i + 1 < argc) {
            stride = (int64_t)parse_num(argv[++i]);
        } else if (strcmp(argv[i], "--worst") == 0 && i + 2 < argc && nworst < MAX_WORST) {
            worst[nworst][0] = argv[i + 1];
            worst[nworst][1] = argv[i + 2];
            nworst++;
            i += 2;
        } else {
            usage();
        }
    }
    if (nstarts < 1 || nstarts > 100000 || seconds <= 0)
        usage();

    bench_t b;
    memset(&b, 0, sizeof(b));
    b.cache = sk_tz_cache_new(NULL);
    b.nstarts = (size_t)nstarts;
    b.starts = sk_xcalloc(b.nstarts, sizeof(*b.starts));
    for (size_t i = 0; i < b.nstarts; i++)
        b.starts[i] = base + (int64_t)i * stride;
    entry_t *w = sk_xcalloc(nworst ? nworst : 1, sizeof(*w));
    size_t nw = 0;

    if (load_mix(&b, mix) < 0)
        goto out;
    for (; nw < nworst; nw++)
        if (entry_init(&b, &w[nw], worst[nw][0], worst[nw][1], "--worst") < 0)
            goto out;

    printf("bench_cron: %s: %zu expressions, %zu starts each (from %" PRId64 " every %" PRId64
           " s)\n",
           mix, b.n, b.nstarts, base, stride);
    bench_mix(&b, seconds);
    for (size_t i = 0; i < nw; i++)
        bench_worst(&b, &w[i]);
    printf("sink: %" PRIu64 "\n", b.sink); /* keeps every call */
    status = 0;
out:
    for (size_t i = 0; i < nw; i++) {
        free(w[i].expr);
        free(w[i].zone);
    }
    free(w);
    for (size_t i = 0; i < b.n; i++) {
        free(b.entries[i].expr);
        free(b.entries[i].zone);
    }
    free(b.entries);
    free(b.starts);
    sk_tz_cache_free(b.cache);
    return status;
}
