/*
 * The metrics registry (src/metrics/): counting, which series appear when,
 * histogram bucket boundaries (le is inclusive) for both histograms, label
 * escaping (quote, backslash, line feed, broken UTF-8), job removal and the
 * hash map under many insertions and removals, the empty registry, the
 * order of jobs, a render of 100,000 jobs against a time budget, a smoke
 * test with one thread updating while another renders, and promtool: when
 * /usr/bin/promtool exists, every rendered text here is fed to
 * `promtool check metrics`, which must print nothing and exit 0.
 */
#include "metrics/metrics.h"
#include "common/log.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define PROMTOOL "/usr/bin/promtool"
#define START_MS 1764216306123LL

/* ---- helpers ---- */

static char *render(sk_metrics_t *m, int64_t now_ms)
{
    size_t len = 0;
    char *t = sk_metrics_render(m, now_ms, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    assert_true(len > 0 && t[len - 1] == '\n');
    return t;
}

/* The value of the series written exactly as `series` (name and labels),
 * or NAN when the text has no such line. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return NAN;
}

static bool has_series(const char *text, const char *series)
{
    return !isnan(value_of(text, series));
}

/* How often needle occurs in text. (Not strstr in a loop: ASan's strstr
 * measures the whole haystack on every call.) */
static size_t count_lines_with(const char *text, const char *needle)
{
    size_t k = 0, n = strlen(needle);
    for (const char *p = text; *p; p++)
        if (*p == needle[0] && strncmp(p, needle, n) == 0)
            k++;
    return k;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = sk_xrealloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        if (r == 0)
            break;
        len += r;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/*
 * Feeds text to `promtool check metrics` on its stdin (fork, dup2, execv: no
 * shell). Skipped when promtool is not installed. Fails the test with
 * promtool's complaints unless it exits 0 and says nothing.
 */
static void promtool_check(const char *text)
{
    if (access(PROMTOOL, X_OK) != 0)
        return;
    char in[] = "/tmp/sked-metrics-in-XXXXXX", out[] = "/tmp/sked-metrics-out-XXXXXX";
    int fin = mkstemp(in), fout = mkstemp(out);
    assert_true(fin >= 0 && fout >= 0);
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fin, text + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    assert_int_equal(lseek(fin, 0, SEEK_SET), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char *argv[] = {"promtool", "check", "metrics", NULL};
        if (dup2(fin, 0) < 0 || dup2(fout, 1) < 0 || dup2(fout, 2) < 0)
            _exit(126);
        execv(PROMTOOL, argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    close(fin);
    close(fout);
    char *said = slurp(out);
    unlink(in);
    unlink(out);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && said[0] == '\0';
    if (!ok)
        print_error("promtool (status %d) said:\n%s\n", status, said);
    free(said);
    assert_true(ok);
}

/* ---- tests ---- */

static void test_empty_registry(void **state)
{
    (void)state;
    sk_metrics_t *m = sk_metrics_new("0.1.0", START_MS);
    char *t = render(m, START_MS + 90500);
    assert_int_equal(value_of(t, "sked_build_info{version=\"0.1.0\"}"), 1);
    assert_true(strstr(t, "\nsked_start_time_seconds 1764216306.123\n") != NULL);
    assert_true(strstr(t, "\nsked_uptime_seconds 90.5\n") != NULL);
    assert_int_equal(value_of(t, "sked_jobs"), 0);
    assert_int_equal(value_of(t, "sked_runs_running"), 0);
    assert_int_equal(value_of(t, "sked_runs_waiting"), 0);
    assert_int_equal(value_of(t, "sked_store_errors_total"), 0);
    assert_int_equal(value_of(t, "sked_fire_lateness_seconds_count"), 0);
    assert_int_equal(value_of(t, "sked_fire_lateness_seconds_sum"), 0);
    assert_int_equal(value_of(t, "sked_fire_lateness_seconds_bucket{le=\"+Inf\"}"), 0);
    assert_int_equal(value_of(t, "sked_api_requests_total{code=\"5xx\"}"), 0);
    assert_int_equal(
        value_of(t, "sked_alert_deliveries_total{channel=\"command\",state=\"retried\"}"), 0);
    assert_null(strstr(t, "job=\""));
    /* every family once, with HELP and TYPE, even when it has no series */
    static const char *const families[] = {
        "sked_build_info",
        "sked_start_time_seconds",
        "sked_uptime_seconds",
        "sked_jobs",
        "sked_runs_running",
        "sked_runs_waiting",
        "sked_runs_total",
        "sked_fires_total",
        "sked_run_duration_seconds",
        "sked_fire_lateness_seconds",
        "sked_job_next_fire_timestamp_seconds",
        "sked_job_paused",
        "sked_alert_deliveries_total",
        "sked_store_errors_total",
        "sked_api_requests_total",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(families); i++) {
        char help[128], type[128];
        sk_snprintf(help, sizeof(help), "# HELP %s ", families[i]);
        sk_snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
        assert_int_equal(count_lines_with(t, help), 1);
        assert_int_equal(count_lines_with(t, type), 1);
    }
    assert_int_equal(count_lines_with(t, "# HELP "), SK_ARRAY_LEN(families));
    /* an uptime never goes negative (a clock set back) */
    char *t2 = render(m, START_MS - 5000);
    assert_true(strstr(t2, "\nsked_uptime_seconds 0\n") != NULL);
    promtool_check(t);
    free(t);
    free(t2);
    sk_metrics_free(m);
    sk_metrics_free(NULL);
}

static void test_null_registry_is_a_no_op(void **state)
{
    (void)state;
    assert_null(sk_metrics_job(NULL, "x"));
    sk_metrics_run_ended(NULL, NULL, "succeeded", 1);
    sk_metrics_fire(NULL, NULL, 1);
    sk_metrics_next_fire(NULL, NULL, 1);
    sk_metrics_paused(NULL, NULL, true);
    sk_metrics_gauges(NULL, 1, 2, 3);
    sk_metrics_alert(NULL, "slack", "failed");
    sk_metrics_store_error(NULL);
    sk_metrics_api_request(NULL, 200);
    sk_metrics_job_remove(NULL, NULL);
    assert_null(sk_metrics_render(NULL, 0, NULL));
}

static void test_counting(void **state)
{
    (void)state;
    sk_metrics_t *m = sk_metrics_new("1.2.3", START_MS);
    sk_metrics_job_t *a = sk_metrics_job(m, "alpha");
    sk_metrics_job_t *b = sk_metrics_job(m, "beta");
    assert_ptr_equal(sk_metrics_job(m, "alpha"), a);
    assert_ptr_not_equal(a, b);

    for (int i = 0; i < 3; i++)
        sk_metrics_run_ended(m, a, "succeeded", 2.0);
    sk_metrics_run_ended(m, a, "failed", 0.25);
    sk_metrics_run_ended(m, a, "skipped", -1);
    sk_metrics_run_ended(m, a, "missed", -1);
    sk_metrics_run_ended(m, a, "missed", NAN);
    sk_metrics_run_ended(m, a, "no_such_outcome", 1); /* ignored */
    sk_metrics_run_ended(m, a, NULL, 1);              /* ignored */
    sk_metrics_run_ended(m, NULL, "succeeded", 1);    /* no job: nothing */
    sk_metrics_fire(m, a, 0.002);
    sk_metrics_fire(m, a, 0.002);
    sk_metrics_fire(m, NULL, 0.5); /* lateness only */
    sk_metrics_next_fire(m, b, 1764216400000LL);
    sk_metrics_paused(m, b, true);
    sk_metrics_gauges(m, 4, 5, 2);
    sk_metrics_alert(m, "webhook", "delivered");
    sk_metrics_alert(m, "webhook", "delivered");
    sk_metrics_alert(m, "email", "dropped");
    sk_metrics_alert(m, "pigeon", "delivered"); /* ignored */
    sk_metrics_alert(m, "slack", "lost");       /* ignored */
    sk_metrics_store_error(m);
    sk_metrics_store_error(m);
    static const int statuses[] = {200, 201, 299, 304, 400, 404, 404, 500, 503, 199, 600, 0, -1};
    for (size_t i = 0; i < SK_ARRAY_LEN(statuses); i++)
        sk_metrics_api_request(m, statuses[i]);

    char *t = render(m, START_MS + 1000);
    assert_int_equal(value_of(t, "sked_build_info{version=\"1.2.3\"}"), 1);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"alpha\",outcome=\"succeeded\"}"), 3);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"alpha\",outcome=\"failed\"}"), 1);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"alpha\",outcome=\"skipped\"}"), 1);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"alpha\",outcome=\"missed\"}"), 2);
    assert_false(has_series(t, "sked_runs_total{job=\"alpha\",outcome=\"timed_out\"}"));
    assert_false(has_series(t, "sked_runs_total{job=\"alpha\",outcome=\"killed\"}"));
    assert_false(has_series(t, "sked_runs_total{job=\"alpha\",outcome=\"interrupted\"}"));
    /* succeeded and failed are there from the start */
    assert_int_equal(value_of(t, "sked_runs_total{job=\"beta\",outcome=\"succeeded\"}"), 0);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"beta\",outcome=\"failed\"}"), 0);
    assert_int_equal(count_lines_with(t, "sked_runs_total{job=\"beta\""), 2);
    /* only runs with a duration are observed */
    assert_int_equal(value_of(t, "sked_run_duration_seconds_count{job=\"alpha\"}"), 4);
    assert_true(value_of(t, "sked_run_duration_seconds_sum{job=\"alpha\"}") == 6.25);
    assert_false(has_series(t, "sked_run_duration_seconds_count{job=\"beta\"}"));
    assert_int_equal(value_of(t, "sked_fires_total{job=\"alpha\"}"), 2);
    assert_int_equal(value_of(t, "sked_fires_total{job=\"beta\"}"), 0);
    assert_int_equal(value_of(t, "sked_fire_lateness_seconds_count"), 3);
    assert_true(fabs(value_of(t, "sked_fire_lateness_seconds_sum") - 0.504) < 1e-12);
    assert_false(has_series(t, "sked_job_next_fire_timestamp_seconds{job=\"alpha\"}"));
    assert_true(strstr(t, "\nsked_job_next_fire_timestamp_seconds{job=\"beta\"} 1764216400\n"));
    assert_int_equal(value_of(t, "sked_job_paused{job=\"alpha\"}"), 0);
    assert_int_equal(value_of(t, "sked_job_paused{job=\"beta\"}"), 1);
    assert_int_equal(value_of(t, "sked_runs_running"), 4);
    assert_int_equal(value_of(t, "sked_runs_waiting"), 5);
    assert_int_equal(value_of(t, "sked_jobs"), 2);
    assert_int_equal(value_of(t, "sked_uptime_seconds"), 1);
    assert_int_equal(
        value_of(t, "sked_alert_deliveries_total{channel=\"webhook\",state=\"delivered\"}"), 2);
    assert_int_equal(
        value_of(t, "sked_alert_deliveries_total{channel=\"email\",state=\"dropped\"}"), 1);
    assert_int_equal(value_of(t, "sked_alert_deliveries_total{channel=\"slack\",state=\"failed\"}"),
                     0);
    assert_int_equal(count_lines_with(t, "\nsked_alert_deliveries_total{"), 16);
    assert_int_equal(value_of(t, "sked_store_errors_total"), 2);
    assert_int_equal(value_of(t, "sked_api_requests_total{code=\"2xx\"}"), 3);
    assert_int_equal(value_of(t, "sked_api_requests_total{code=\"3xx\"}"), 1);
    assert_int_equal(value_of(t, "sked_api_requests_total{code=\"4xx\"}"), 3);
    assert_int_equal(value_of(t, "sked_api_requests_total{code=\"5xx\"}"), 2);
    promtool_check(t);
    free(t);

    /* the next fire goes away again, the pause is lifted, an odd ms */
    sk_metrics_next_fire(m, b, 0);
    sk_metrics_paused(m, b, false);
    sk_metrics_next_fire(m, a, 1764216400050LL);
    t = render(m, START_MS);
    assert_false(has_series(t, "sked_job_next_fire_timestamp_seconds{job=\"beta\"}"));
    assert_true(strstr(t, "\nsked_job_next_fire_timestamp_seconds{job=\"alpha\"} 1764216400.05\n"));
    assert_int_equal(value_of(t, "sked_job_paused{job=\"beta\"}"), 0);
    free(t);
    sk_metrics_free(m);
}

/* Each row: one observation, and the first bound whose bucket counts it
 * (NULL: only +Inf). le is inclusive: a value equal to a bound is in it. */
typedef struct {
    double v;
    const char *first_le;
} bucket_case_t;

static const bucket_case_t dur_cases[] = {
    {0, "0.1"},     {0.05, "0.1"},    {0.1, "0.1"},     {0.1000001, "0.5"}, {0.5, "0.5"},
    {0.75, "1"},    {1, "1"},         {1.0000001, "5"}, {5, "5"},           {10, "10"},
    {29.999, "30"}, {30, "30"},       {60, "60"},       {60.001, "300"},    {300, "300"},
    {900, "900"},   {900.5, "3600"},  {3600, "3600"},   {3600.001, NULL},   {86400, NULL},
    {1e300, NULL},  {INFINITY, NULL},
};
static const char *const dur_bounds[] = {"0.1", "0.5", "1",   "5",    "10",  "30",
                                         "60",  "300", "900", "3600", "+Inf"};

static const bucket_case_t late_cases[] = {
    {-3, "0.001"},     {0, "0.001"},   {0.0005, "0.001"}, {0.001, "0.001"}, {0.0011, "0.005"},
    {0.005, "0.005"},  {0.01, "0.01"}, {0.02, "0.05"},    {0.05, "0.05"},   {0.1, "0.1"},
    {0.3, "0.5"},      {0.5, "0.5"},   {1, "1"},          {1.5, "5"},       {5, "5"},
    {5.0000001, NULL}, {3600, NULL},
};
static const char *const late_bounds[] = {"0.001", "0.005", "0.01", "0.05", "0.1",
                                          "0.5",   "1",     "5",    "+Inf"};

/* Checks that a single observation shows as 0 below first_le and 1 from it
 * on (every +Inf bucket counts it). */
static int check_buckets(const char *t, const char *prefix, const char *const *bounds, size_t nb,
                         const bucket_case_t *c)
{
    int nfail = 0;
    bool in = false;
    for (size_t i = 0; i < nb; i++) {
        if (c->first_le ? strcmp(bounds[i], c->first_le) == 0 : strcmp(bounds[i], "+Inf") == 0)
            in = true;
        char series[256];
        sk_snprintf(series, sizeof(series), "%sle=\"%s\"}", prefix, bounds[i]);
        double got = value_of(t, series);
        if (got != (in ? 1 : 0)) {
            print_error("value %.17g: %s is %g, want %d\n", c->v, series, got, in ? 1 : 0);
            nfail++;
        }
    }
    return nfail;
}

static void test_histogram_bounds(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(dur_cases); i++) {
        sk_metrics_t *m = sk_metrics_new("x", 0);
        sk_metrics_job_t *j = sk_metrics_job(m, "j");
        sk_metrics_run_ended(m, j, "succeeded", dur_cases[i].v);
        char *t = render(m, 0);
        nfail += check_buckets(t, "sked_run_duration_seconds_bucket{job=\"j\",", dur_bounds,
                               SK_ARRAY_LEN(dur_bounds), &dur_cases[i]);
        if (value_of(t, "sked_run_duration_seconds_count{job=\"j\"}") != 1) {
            print_error("value %g: count is not 1\n", dur_cases[i].v);
            nfail++;
        }
        double sum = value_of(t, "sked_run_duration_seconds_sum{job=\"j\"}");
        if (sum != dur_cases[i].v) { /* printed exactly: the text round-trips */
            print_error("value %.17g: sum is %.17g\n", dur_cases[i].v, sum);
            nfail++;
        }
        if (i == 0 || isinf(dur_cases[i].v))
            promtool_check(t);
        free(t);
        sk_metrics_free(m);
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(late_cases); i++) {
        sk_metrics_t *m = sk_metrics_new("x", 0);
        sk_metrics_fire(m, NULL, late_cases[i].v);
        char *t = render(m, 0);
        nfail += check_buckets(t, "sked_fire_lateness_seconds_bucket{", late_bounds,
                               SK_ARRAY_LEN(late_bounds), &late_cases[i]);
        double want = late_cases[i].v > 0 ? late_cases[i].v : 0;
        if (value_of(t, "sked_fire_lateness_seconds_sum") != want) {
            print_error("lateness %.17g: sum is wrong\n", late_cases[i].v);
            nfail++;
        }
        free(t);
        sk_metrics_free(m);
    }
    /* NaN lateness counts the fire but is not observed */
    sk_metrics_t *m = sk_metrics_new("x", 0);
    sk_metrics_job_t *j = sk_metrics_job(m, "j");
    sk_metrics_fire(m, j, NAN);
    char *t = render(m, 0);
    assert_int_equal(value_of(t, "sked_fires_total{job=\"j\"}"), 1);
    assert_int_equal(value_of(t, "sked_fire_lateness_seconds_count"), 0);
    free(t);
    sk_metrics_free(m);

    /* cumulative counts over several observations */
    m = sk_metrics_new("x", 0);
    j = sk_metrics_job(m, "j");
    static const double obs[] = {0.1, 0.1, 0.3, 2, 7, 7, 7, 45, 4000};
    for (size_t i = 0; i < SK_ARRAY_LEN(obs); i++)
        sk_metrics_run_ended(m, j, "failed", obs[i]);
    t = render(m, 0);
    static const int cum[] = {2, 3, 3, 4, 7, 7, 8, 8, 8, 8, 9};
    for (size_t i = 0; i < SK_ARRAY_LEN(dur_bounds); i++) {
        char series[128];
        sk_snprintf(series, sizeof(series), "sked_run_duration_seconds_bucket{job=\"j\",le=\"%s\"}",
                    dur_bounds[i]);
        if (value_of(t, series) != cum[i]) {
            print_error("%s is %g, want %d\n", series, value_of(t, series), cum[i]);
            nfail++;
        }
    }
    assert_int_equal(value_of(t, "sked_runs_total{job=\"j\",outcome=\"failed\"}"), 9);
    promtool_check(t);
    free(t);
    sk_metrics_free(m);
    assert_int_equal(nfail, 0);
}

static void test_label_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *label; /* as it must appear between the quotes */
    } cases[] = {
        {"plain", "plain"},
        {"say \"hi\"", "say \\\"hi\\\""},
        {"back\\slash", "back\\\\slash"},
        {"two\nlines", "two\\nlines"},
        {"\\n", "\\\\n"},
        {"tab\there", "tab\there"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"bad\xff", "bad\xef\xbf\xbd"},
        {"trunc\xe2\x82", "trunc\xef\xbf\xbd\xef\xbf\xbd"},
        {"overlong\xc0\xaf", "overlong\xef\xbf\xbd\xef\xbf\xbd"},
        {"surrogate\xed\xa0\x80", "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"", ""},
    };
    sk_metrics_t *m = sk_metrics_new("v\"1\\\n", 0);
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++)
        sk_metrics_paused(m, sk_metrics_job(m, cases[i].name), true);
    char *t = render(m, 0);
    assert_int_equal(value_of(t, "sked_build_info{version=\"v\\\"1\\\\\\n\"}"), 1);
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        char series[256];
        sk_snprintf(series, sizeof(series), "sked_job_paused{job=\"%s\"}", cases[i].label);
        if (value_of(t, series) != 1) {
            print_error("no line %s\n", series);
            nfail++;
        }
    }
    assert_int_equal(nfail, 0);
    promtool_check(t);
    free(t);
    sk_metrics_free(m);
}

static void test_jobs_sorted_by_name(void **state)
{
    (void)state;
    sk_metrics_t *m = sk_metrics_new("x", 0);
    static const char *const names[] = {"zeta", "alpha", "mid", "alpha2", "Alpha", "a"};
    for (size_t i = 0; i < SK_ARRAY_LEN(names); i++)
        sk_metrics_job(m, names[i]);
    char *t = render(m, 0);
    static const char *const want[] = {"Alpha", "a", "alpha", "alpha2", "mid", "zeta"};
    const char *p = strstr(t, "\nsked_fires_total{");
    for (size_t i = 0; i < SK_ARRAY_LEN(want); i++) {
        char line[64];
        sk_snprintf(line, sizeof(line), "\nsked_fires_total{job=\"%s\"} 0\n", want[i]);
        assert_non_null(p);
        assert_true(strncmp(p, line, strlen(line)) == 0);
        p = strchr(p + 1, '\n');
    }
    free(t);
    sk_metrics_free(m);
}

static void test_job_removal(void **state)
{
    (void)state;
    sk_metrics_t *m = sk_metrics_new("x", 0);
    sk_metrics_job_t *a = sk_metrics_job(m, "a");
    sk_metrics_job_t *b = sk_metrics_job(m, "b");
    sk_metrics_job_t *c = sk_metrics_job(m, "c");
    sk_metrics_run_ended(m, b, "killed", 3);
    sk_metrics_next_fire(m, b, 1000);
    sk_metrics_fire(m, b, 0.01);
    sk_metrics_job_remove(m, b);
    sk_metrics_job_remove(m, NULL);
    char *t = render(m, 0);
    assert_null(strstr(t, "job=\"b\""));
    assert_true(has_series(t, "sked_job_paused{job=\"a\"}"));
    assert_true(has_series(t, "sked_job_paused{job=\"c\"}"));
    /* the global lateness histogram keeps what b's fire observed */
    assert_int_equal(value_of(t, "sked_fire_lateness_seconds_count"), 1);
    free(t);

    /* the name again: a new series from zero */
    b = sk_metrics_job(m, "b");
    t = render(m, 0);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"b\",outcome=\"succeeded\"}"), 0);
    assert_false(has_series(t, "sked_runs_total{job=\"b\",outcome=\"killed\"}"));
    assert_false(has_series(t, "sked_run_duration_seconds_count{job=\"b\"}"));
    assert_false(has_series(t, "sked_job_next_fire_timestamp_seconds{job=\"b\"}"));
    assert_int_equal(value_of(t, "sked_fires_total{job=\"b\"}"), 0);
    free(t);

    sk_metrics_job_remove(m, a);
    sk_metrics_job_remove(m, b);
    sk_metrics_job_remove(m, c);
    t = render(m, 0);
    assert_null(strstr(t, "job=\""));
    promtool_check(t);
    free(t);
    sk_metrics_free(m);
}

/* The hash map through growth and many removals: every name maps to its
 * own handle, removed names are gone, the rest survive. */
static void test_many_jobs_add_remove(void **state)
{
    (void)state;
    enum { N = 20000 };
    sk_metrics_t *m = sk_metrics_new("x", 0);
    sk_metrics_job_t **js = sk_xcalloc(N, sizeof(*js));
    char name[32];
    for (int i = 0; i < N; i++) {
        sk_snprintf(name, sizeof(name), "job%d", i);
        js[i] = sk_metrics_job(m, name);
        sk_metrics_run_ended(m, js[i], "succeeded", -1);
    }
    for (int i = 0; i < N; i += 3) {
        sk_metrics_job_remove(m, js[i]);
        js[i] = NULL;
    }
    for (int i = 0; i < N; i++) {
        sk_snprintf(name, sizeof(name), "job%d", i);
        sk_metrics_job_t *j = sk_metrics_job(m, name);
        if (js[i]) {
            assert_ptr_equal(j, js[i]);
        } else {
            js[i] = j; /* a fresh one */
        }
    }
    char *t = render(m, 0);
    assert_int_equal(count_lines_with(t, "\nsked_fires_total{"), N);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"job0\",outcome=\"succeeded\"}"), 0);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"job1\",outcome=\"succeeded\"}"), 1);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"job19998\",outcome=\"succeeded\"}"), 0);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"job19999\",outcome=\"succeeded\"}"), 1);
    free(t);
    free(js);
    sk_metrics_free(m);
}

static bool under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

static int64_t thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 100,000 jobs, each with runs, a next fire and a duration histogram:
 * every series is rendered and the text passes promtool. How fast is
 * bench/'s business (SKED_TEST_VERBOSE prints it): a timed assertion fails
 * on a busy machine. */
static void test_render_100k_jobs(void **state)
{
    (void)state;
    bool slow = under_valgrind() || getenv("SKED_SANITIZED");
    int n = under_valgrind() ? 10000 : 100000;
    sk_metrics_t *m = sk_metrics_new(SK_VERSION, START_MS);
    char name[48];
    for (int i = 0; i < n; i++) {
        sk_snprintf(name, sizeof(name), "team-%d/nightly-job-%06d", i % 50, i);
        sk_metrics_job_t *j = sk_metrics_job(m, name);
        sk_metrics_run_ended(m, j, i % 7 ? "succeeded" : "failed", (double)(i % 5000) / 3);
        sk_metrics_fire(m, j, (double)(i % 100) / 1000);
        sk_metrics_next_fire(m, j, START_MS + 60000 + i);
    }
    sk_metrics_gauges(m, 0, 0, n);
    /* CPU time, not wall time: a busy machine must not fail the test */
    int64_t w0 = sk_mono_ms(), c0 = thread_cpu_ms();
    size_t len = 0;
    char *t = sk_metrics_render(m, START_MS + 1000, &len);
    int64_t cpu = thread_cpu_ms() - c0, wall = sk_mono_ms() - w0;
    assert_non_null(t);
    if (getenv("SKED_TEST_VERBOSE"))
        print_message("rendered %d jobs, %zu bytes, in %" PRId64 " ms CPU, %" PRId64 " ms\n", n,
                      len, cpu, wall);
    assert_int_equal(count_lines_with(t, "\nsked_job_paused{"), (size_t)n);
    assert_int_equal(count_lines_with(t, "\nsked_run_duration_seconds_count{"), (size_t)n);
    if (!slow)
        promtool_check(t);
    free(t);
    sk_metrics_free(m);
}

/* ---- one thread updates, one renders ---- */

typedef struct {
    sk_metrics_t *m;
    int rounds;
} updater_t;

static void *updater(void *arg)
{
    updater_t *u = arg;
    char name[32];
    sk_metrics_job_t *keep = sk_metrics_job(u->m, "steady");
    for (int r = 0; r < u->rounds; r++) {
        sk_snprintf(name, sizeof(name), "churn%d", r % 50);
        sk_metrics_job_t *j = sk_metrics_job(u->m, name);
        sk_metrics_run_ended(u->m, j, "succeeded", r % 10);
        sk_metrics_fire(u->m, j, 0.001 * (r % 7));
        sk_metrics_next_fire(u->m, j, 1000 + r);
        if (r % 3 == 0)
            sk_metrics_job_remove(u->m, j);
        sk_metrics_run_ended(u->m, keep, "succeeded", 1);
        sk_metrics_gauges(u->m, r % 5, r % 3, 51);
        sk_metrics_alert(u->m, "slack", "delivered");
        sk_metrics_api_request(u->m, 200);
    }
    return NULL;
}

static void test_threads_update_and_render(void **state)
{
    (void)state;
    enum { ROUNDS = 20000 };
    updater_t u = {sk_metrics_new("x", 0), ROUNDS};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, updater, &u), 0);
    int renders = 0;
    double last = 0;
    for (;;) {
        char *t = render(u.m, 0);
        /* the counter never goes backwards between renders */
        double now = value_of(t, "sked_runs_total{job=\"steady\",outcome=\"succeeded\"}");
        if (!isnan(now)) {
            assert_true(now >= last);
            last = now;
        }
        assert_non_null(strstr(t, "# TYPE sked_api_requests_total counter\n"));
        free(t);
        renders++;
        if (last == ROUNDS && renders > 3)
            break;
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    char *t = render(u.m, 0);
    assert_int_equal(value_of(t, "sked_runs_total{job=\"steady\",outcome=\"succeeded\"}"), ROUNDS);
    assert_int_equal(value_of(t, "sked_api_requests_total{code=\"2xx\"}"), ROUNDS);
    assert_int_equal(
        value_of(t, "sked_alert_deliveries_total{channel=\"slack\",state=\"delivered\"}"), ROUNDS);
    promtool_check(t);
    free(t);
    sk_metrics_free(u.m);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_registry),
        cmocka_unit_test(test_null_registry_is_a_no_op),
        cmocka_unit_test(test_counting),
        cmocka_unit_test(test_histogram_bounds),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_jobs_sorted_by_name),
        cmocka_unit_test(test_job_removal),
        cmocka_unit_test(test_many_jobs_add_remove),
        cmocka_unit_test(test_render_100k_jobs),
        cmocka_unit_test(test_threads_update_and_render),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
