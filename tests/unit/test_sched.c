/*
 * The firing engine (src/sched/) driven by a fake clock: the `every:` anchor
 * rule, catch-up none/latest/all after downtime, misfire grace, overlap
 * skip/queue/allow/replace, jitter, DST gaps and repeats, wall-clock jumps
 * both ways, stalls (SIGSTOP: both clocks move at once) and the backlog
 * caps. A small loop below stands in for the daemon's: it reads the fake
 * clock once per wake, classifies a jump, decides for each due job, applies
 * the intents as the daemon does after its commit (new last fire, next
 * instant) and keeps every intent for the test to check. No store, no
 * libuv, no sleeping: each test runs in milliseconds.
 */
#include "common/clock.h"
#include "sched/sched.h"
#include "tz/tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define ZONEINFO "/usr/share/zoneinfo"
#define SEC 1000LL
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)

/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z" as unix ms, by civil day arithmetic. */
static int64_t utc(const char *s)
{
    int y, mo, d, h, mi, se, ms = 0;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &se, &ms) < 6)
        fail_msg("bad test time \"%s\"", s);
    return (sk_civil_days_from_date(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * SEC + ms;
}

static const char *text(int64_t ms, char *buf, size_t size)
{
    sk_tz_format_iso_ms(sk_tz_utc(), ms, buf, size);
    return buf;
}

static int setup(void **state)
{
    *state = sk_tz_cache_new(ZONEINFO);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    sk_tz_cache_free(*state);
    return 0;
}

/* ---- a job and the loop that stands in for the daemon's ---- */

typedef struct {
    sk_job_cfg_t cfg;
    sk_cron_t cron;
    int64_t anchor, last_fire, next_due;
    int active, waiting;
} tjob_t;

#define MAX_LOG 4096

typedef struct {
    sk_fake_clock_t fc;
    const sk_clock_t *clock; /* what the loop reads: &fc.clock */
    int64_t last_wall, last_mono;
    bool starting;
    tjob_t *jobs[4];
    size_t njobs;
    sk_sched_intent_t log[MAX_LOG]; /* every intent of every wake, in order */
    size_t nlog;
    sk_sched_jump_t jump; /* of the last wake */
    int64_t drift;
    sk_sched_backlog_t backlog; /* of the last decide */
} world_t;

static void job_defaults(tjob_t *j, const char *name)
{
    memset(j, 0, sizeof(*j));
    j->cfg.name = (char *)name;
    j->cfg.tz = sk_tz_utc();
    j->cfg.catchup = SK_CATCHUP_LATEST;
    j->cfg.overlap = SK_OVERLAP_SKIP;
    j->cfg.misfire_grace_ms = -1;
    j->cfg.enabled = true;
}

static void every_job(tjob_t *j, const char *name, int64_t every_ms)
{
    job_defaults(j, name);
    j->cfg.trigger = SK_TRIGGER_EVERY;
    j->cfg.every_ms = every_ms;
}

static void cron_job(tjob_t *j, const char *name, const char *expr, const sk_tz_t *tz)
{
    job_defaults(j, name);
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_cron_parse(expr, name, &j->cron, &err) != 0)
        fail_msg("%s: %s", expr, err.msg);
    j->cfg.trigger = SK_TRIGGER_CRON;
    j->cfg.crons = &j->cron;
    j->cfg.ncron = 1;
    j->cfg.tz = tz;
}

static void schedule(tjob_t *j)
{
    int64_t next;
    j->next_due = sk_sched_next(&j->cfg, j->anchor, j->last_fire, &next) == 0 ? next : 0;
}

static void wake(world_t *w);

/*
 * The daemon starts at wall_ms: each job continues from its stored last fire
 * (0: a new job, which counts from now), and the first wake, at once, is a
 * start-up wake (nothing on time).
 */
static void world_start(world_t *w, int64_t wall_ms)
{
    sk_fake_clock_init(&w->fc, wall_ms, 5 * SEC);
    w->clock = &w->fc.clock;
    w->last_wall = w->last_mono = 0;
    w->starting = true;
    w->nlog = 0;
    int64_t now = sk_clock_wall_ms(w->clock);
    for (size_t i = 0; i < w->njobs; i++) {
        tjob_t *j = w->jobs[i];
        j->anchor = sk_sched_anchor(&j->cfg, j->last_fire, now);
        if (j->last_fire <= 0)
            j->last_fire = now;
        schedule(j);
    }
    wake(w);
}

static void world_add(world_t *w, tjob_t *j)
{
    SK_ASSERT(w->njobs < SK_ARRAY_LEN(w->jobs));
    w->jobs[w->njobs++] = j;
}

/* One wake, as sk_daemon__on_tick: "now" read once, then passed down. */
static void wake(world_t *w)
{
    int64_t now = sk_clock_wall_ms(w->clock), mono = sk_clock_mono_ms(w->clock);
    w->jump = sk_sched_clock_jump(w->last_wall, w->last_mono, now, mono, &w->drift);
    if (w->jump == SK_SCHED_CLOCK_BACK)
        for (size_t i = 0; i < w->njobs; i++)
            if (sk_sched_clock_back(&w->jobs[i]->cfg, now, &w->jobs[i]->anchor,
                                    &w->jobs[i]->last_fire))
                schedule(w->jobs[i]);
    w->last_wall = now;
    w->last_mono = mono;
    for (size_t i = 0; i < w->njobs; i++) {
        tjob_t *j = w->jobs[i];
        if (!j->next_due || j->next_due > now)
            continue;
        sk_sched_job_t sj = {&j->cfg,     j,         j->anchor, j->last_fire,
                             j->next_due, j->active, j->waiting};
        sk_sched_intents_t v = {0};
        sk_sched_decide(&sj, now, w->starting, &v, &w->backlog);
        for (size_t k = 0; k < v.n; k++) {
            assert_ptr_equal(v.items[k].owner, j);
            if (v.items[k].new_last_fire)
                j->last_fire = v.items[k].new_last_fire;
            assert_true(w->nlog < MAX_LOG);
            w->log[w->nlog++] = v.items[k];
        }
        sk_sched_intents_release(&v);
        schedule(j);
    }
    w->starting = false;
}

/* Time passes to until_ms with the timer waking at each due instant, late
 * by latency_ms; the clocks move together. */
static void run_until(world_t *w, int64_t until_ms, int64_t latency_ms)
{
    for (;;) {
        int64_t now = sk_clock_wall_ms(w->clock), due = INT64_MAX;
        for (size_t i = 0; i < w->njobs; i++)
            if (w->jobs[i]->next_due && w->jobs[i]->next_due < due)
                due = w->jobs[i]->next_due;
        if (due == INT64_MAX || due + latency_ms > until_ms) {
            if (until_ms > now)
                sk_fake_clock_advance(&w->fc, until_ms - now);
            return;
        }
        if (due + latency_ms > now)
            sk_fake_clock_advance(&w->fc, due + latency_ms - now);
        wake(w);
    }
}

/* An intent as a short word: START/CATCHUP (a run), SKIP, MISS. */
static const char *word(const sk_sched_intent_t *it)
{
    switch (it->act) {
    case SK_SCHED_START:
        return it->catchup ? "catchup" : "start";
    case SK_SCHED_SKIP:
        return "skip";
    case SK_SCHED_MISS:
    default:
        return "miss";
    }
}

/* Checks the log against `n` rows of (instant, word); prints all mismatches. */
typedef struct {
    const char *at;
    const char *what;
} want_t;

static void check_log(const world_t *w, const want_t *want, size_t n)
{
    char a[64], b[64];
    int bad = w->nlog != n;
    for (size_t i = 0; i < SK_MAX(n, w->nlog); i++) {
        const char *got_at = i < w->nlog ? text(w->log[i].at, a, sizeof(a)) : "-";
        const char *got_w = i < w->nlog ? word(&w->log[i]) : "-";
        int64_t want_at = i < n ? utc(want[i].at) : 0;
        bool ok =
            i < n && i < w->nlog && w->log[i].at == want_at && strcmp(got_w, want[i].what) == 0;
        if (!ok) {
            print_error("row %zu: got %s %s, want %s %s\n", i, got_at, got_w,
                        i < n ? text(want_at, b, sizeof(b)) : "-", i < n ? want[i].what : "-");
            bad = 1;
        }
    }
    assert_int_equal(bad, 0);
}

static size_t count_of(const world_t *w, const char *what)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nlog; i++)
        n += strcmp(word(&w->log[i]), what) == 0;
    return n;
}

/* No instant was decided twice. */
static void assert_each_once(const world_t *w)
{
    for (size_t i = 0; i < w->nlog; i++)
        for (size_t k = i + 1; k < w->nlog; k++)
            if (w->log[i].owner == w->log[k].owner && w->log[i].at == w->log[k].at) {
                char a[64];
                fail_msg("%s decided twice", text(w->log[i].at, a, sizeof(a)));
            }
}

/* ---- the clock ---- */

static void test_fake_clock_moves_only_when_told(void **state)
{
    (void)state;
    sk_fake_clock_t f;
    sk_fake_clock_init(&f, utc("2026-01-01T00:00:00Z"), 1000);
    const sk_clock_t *c = &f.clock;
    assert_int_equal(sk_clock_wall_ms(c), utc("2026-01-01T00:00:00Z"));
    assert_int_equal(sk_clock_mono_ms(c), 1000);
    sk_fake_clock_advance(&f, 1500);
    assert_int_equal(sk_clock_wall_ms(c), utc("2026-01-01T00:00:01.500Z"));
    assert_int_equal(sk_clock_mono_ms(c), 2500);
    assert_int_equal(sk_clock_mono_ns(c), 2500 * 1000000LL);
    sk_fake_clock_set_wall(&f, utc("2025-12-31T23:00:00Z"));
    assert_int_equal(sk_clock_wall_ms(c), utc("2025-12-31T23:00:00Z"));
    assert_int_equal(sk_clock_mono_ms(c), 2500);
    /* Before 1970, ms still round down. */
    sk_fake_clock_set_wall(&f, -1);
    assert_int_equal(sk_clock_wall_ms(c), -1);
}

static void test_real_clock_reads_the_system(void **state)
{
    (void)state;
    const sk_clock_t *c = sk_clock_real();
    int64_t w = sk_clock_wall_ms(c), m1 = sk_clock_mono_ms(c), m2 = sk_clock_mono_ms(c);
    assert_true(m2 >= m1);
    int64_t t = (int64_t)time(NULL) * 1000;
    assert_true(w > t - 5000 && w < t + 5000);
    assert_int_equal(sk_clock_wall_ms(c) / 1000000, sk_clock_wall_ns(c) / 1000000000000LL);
}

/* ---- the anchor rule ---- */

static void test_anchor_rule(void **state)
{
    const sk_tz_t *tz = sk_tz_utc();
    (void)state;
    tjob_t e, s, c;
    every_job(&e, "e", 10 * SEC);
    every_job(&s, "s", 10 * SEC);
    s.cfg.start_ms = utc("2026-01-01T00:00:00Z");
    cron_job(&c, "c", "* * * * *", tz);
    int64_t now = utc("2026-03-01T12:00:07.250Z"), lf = utc("2026-03-01T11:59:58.500Z");
    /* every without start: from its last fire, else from now's whole second */
    assert_int_equal(sk_sched_anchor(&e.cfg, lf, now), lf);
    assert_int_equal(sk_sched_anchor(&e.cfg, 0, now), utc("2026-03-01T12:00:07Z"));
    /* start: and other triggers do not use it: the rounded now */
    assert_int_equal(sk_sched_anchor(&s.cfg, lf, now), utc("2026-03-01T12:00:07Z"));
    assert_int_equal(sk_sched_anchor(&c.cfg, lf, now), utc("2026-03-01T12:00:07Z"));
    assert_int_equal(sk_sched_anchor(&e.cfg, 0, -1), -1000);
    /* the grid goes on from the last fire across a restart */
    int64_t next;
    assert_int_equal(sk_sched_next(&e.cfg, sk_sched_anchor(&e.cfg, lf, now), now, &next), 0);
    assert_int_equal(next, utc("2026-03-01T12:00:08.500Z"));
}

/* ---- catch-up after downtime: the worked table of docs/internals/sched.md ---- */

typedef struct {
    sk_catchup_t catchup;
    int64_t grace_ms;    /* -1: default */
    const char *what[4]; /* for 26, 28, 30, 32 */
} catchup_row_t;

static void test_catchup_after_downtime(void **state)
{
    (void)state;
    static const catchup_row_t rows[] = {
        {SK_CATCHUP_NONE, -1, {"miss", "miss", "miss", "miss"}},
        {SK_CATCHUP_LATEST, -1, {"miss", "miss", "miss", "catchup"}},
        {SK_CATCHUP_LATEST, 1000, {"miss", "miss", "miss", "miss"}},
        {SK_CATCHUP_ALL, -1, {"catchup", "catchup", "catchup", "catchup"}},
        {SK_CATCHUP_ALL, 5000, {"miss", "miss", "catchup", "catchup"}},
    };
    for (size_t r = 0; r < SK_ARRAY_LEN(rows); r++) {
        world_t w = {0};
        tjob_t j;
        every_job(&j, "two", 2 * SEC);
        j.cfg.catchup = rows[r].catchup;
        j.cfg.misfire_grace_ms = rows[r].grace_ms;
        j.last_fire = utc("2026-05-01T10:00:24Z"); /* stored: sked stopped after it */
        world_add(&w, &j);
        world_start(&w, utc("2026-05-01T10:00:33.200Z"));
        want_t want[4];
        static const char *at[4] = {"2026-05-01T10:00:26Z", "2026-05-01T10:00:28Z",
                                    "2026-05-01T10:00:30Z", "2026-05-01T10:00:32Z"};
        for (int i = 0; i < 4; i++)
            want[i] = (want_t){at[i], rows[r].what[i]};
        check_log(&w, want, 4);
        for (size_t i = 0; i < w.nlog; i++)
            if (w.log[i].act == SK_SCHED_MISS)
                assert_string_equal(w.log[i].reason, "sked was not running");
        /* the last intent carries the new last fire; the next is on the grid */
        assert_int_equal(w.log[3].new_last_fire, utc("2026-05-01T10:00:32Z"));
        assert_int_equal(w.log[0].new_last_fire, 0);
        assert_int_equal(j.next_due, utc("2026-05-01T10:00:34Z"));
        /* then it runs on time */
        w.nlog = 0;
        run_until(&w, utc("2026-05-01T10:00:36.500Z"), 3);
        want_t later[] = {{"2026-05-01T10:00:34Z", "start"}, {"2026-05-01T10:00:36Z", "start"}};
        check_log(&w, later, 2);
    }
}

/* A job that never fired (no stored last fire) has nothing to catch up. */
static void test_new_job_catches_up_nothing(void **state)
{
    (void)state;
    world_t w = {0};
    tjob_t j;
    every_job(&j, "new", 10 * SEC);
    j.cfg.catchup = SK_CATCHUP_ALL;
    world_add(&w, &j);
    world_start(&w, utc("2026-05-01T10:00:03.700Z"));
    assert_int_equal(w.nlog, 0);
    assert_int_equal(j.next_due, utc("2026-05-01T10:00:13Z"));
}

/* A tick a little late is on time (trigger schedule), even with grace 0. */
static void test_timer_latency_is_not_late(void **state)
{
    (void)state;
    for (int grace = -1; grace <= 0; grace++) {
        world_t w = {0};
        tjob_t j;
        every_job(&j, "lat", 2 * SEC);
        j.cfg.catchup = SK_CATCHUP_NONE;
        j.cfg.misfire_grace_ms = grace;
        world_add(&w, &j);
        world_start(&w, utc("2026-05-01T10:00:00Z"));
        run_until(&w, utc("2026-05-01T10:00:06.500Z"), 10);
        want_t want[] = {{"2026-05-01T10:00:02Z", "start"},
                         {"2026-05-01T10:00:04Z", "start"},
                         {"2026-05-01T10:00:06Z", "start"}};
        check_log(&w, want, 3);
    }
}

/* ---- overlap ---- */

typedef struct {
    sk_overlap_t overlap;
    int active, waiting;
    sk_sched_act_t act;
    bool replace;
    const char *reason;
} overlap_row_t;

static void test_overlap_decisions(void **state)
{
    (void)state;
    static const overlap_row_t rows[] = {
        {SK_OVERLAP_SKIP, 0, 0, SK_SCHED_START, false, NULL},
        {SK_OVERLAP_SKIP, 1, 0, SK_SCHED_SKIP, false, "the previous run is still going"},
        {SK_OVERLAP_SKIP, 0, 1, SK_SCHED_SKIP, false, "the previous run is still going"},
        {SK_OVERLAP_QUEUE, 1, 99, SK_SCHED_START, false, NULL},
        {SK_OVERLAP_QUEUE, 1, 100, SK_SCHED_SKIP, false,
         "the queue of runs waiting for the previous one is full (100)"},
        {SK_OVERLAP_ALLOW, 3, 7, SK_SCHED_START, false, NULL},
        {SK_OVERLAP_REPLACE, 1, 0, SK_SCHED_START, true, NULL},
        {SK_OVERLAP_REPLACE, 0, 2, SK_SCHED_START, false, NULL},
    };
    for (size_t r = 0; r < SK_ARRAY_LEN(rows); r++) {
        world_t w = {0};
        tjob_t j;
        every_job(&j, "ov", MINUTE);
        j.cfg.overlap = rows[r].overlap;
        world_add(&w, &j);
        world_start(&w, utc("2026-05-01T10:00:00Z"));
        j.active = rows[r].active;
        j.waiting = rows[r].waiting;
        run_until(&w, utc("2026-05-01T10:01:00.005Z"), 5);
        assert_int_equal(w.nlog, 1);
        const sk_sched_intent_t *it = &w.log[0];
        if (it->act != rows[r].act || it->replace != rows[r].replace || it->catchup)
            fail_msg("row %zu: act %d replace %d catchup %d", r, it->act, it->replace, it->catchup);
        if (rows[r].reason)
            assert_string_equal(it->reason, rows[r].reason);
        else
            assert_null(it->reason);
    }
}

/* The instants of one wake never skip each other: with catch-up all after
 * downtime, every one starts, whatever the overlap policy. */
static void test_overlap_never_skips_within_a_batch(void **state)
{
    (void)state;
    for (sk_overlap_t o = SK_OVERLAP_SKIP; o <= SK_OVERLAP_REPLACE; o++) {
        world_t w = {0};
        tjob_t j;
        every_job(&j, "batch", MINUTE);
        j.cfg.overlap = o;
        j.cfg.catchup = SK_CATCHUP_ALL;
        j.last_fire = utc("2026-05-01T10:00:00Z");
        world_add(&w, &j);
        world_start(&w, utc("2026-05-01T10:05:30Z"));
        assert_int_equal(w.nlog, 5);
        assert_int_equal(count_of(&w, "catchup"), 5);
        for (size_t i = 0; i < w.nlog; i++)
            assert_false(w.log[i].replace);
    }
}

/* ---- jitter ---- */

static void test_jitter_is_stable_and_bounded(void **state)
{
    (void)state;
    world_t w = {0}, again = {0};
    tjob_t j, k;
    every_job(&j, "jit", 10 * SEC);
    j.cfg.jitter_ms = 3 * SEC;
    every_job(&k, "jit", 10 * SEC);
    k.cfg.jitter_ms = 3 * SEC;
    world_add(&w, &j);
    world_add(&again, &k);
    world_start(&w, utc("2026-05-01T10:00:00Z"));
    world_start(&again, utc("2026-05-01T10:00:00Z"));
    run_until(&w, utc("2026-05-01T10:10:00.500Z"), 1);
    run_until(&again, utc("2026-05-01T10:10:00.500Z"), 1);
    assert_int_equal(w.nlog, 60);
    assert_int_equal(again.nlog, 60);
    bool differ = false;
    for (size_t i = 0; i < w.nlog; i++) {
        /* jitter delays the run; the instant stays on the grid */
        assert_int_equal(w.log[i].at % (10 * SEC), 0);
        assert_true(w.log[i].delay >= 0 && w.log[i].delay < 3 * SEC);
        assert_int_equal(w.log[i].delay, again.log[i].delay); /* as after a restart */
        differ |= w.log[i].delay != w.log[0].delay;
    }
    assert_true(differ);
}

/* ---- DST ---- */

static const sk_tz_t *zone(void **state, const char *name)
{
    const sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_tz_cache_get(*state, name, &tz, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    return tz;
}

/* Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z. A fixed time
 * in the gap fires once, when the gap ends; a wild one's times there never
 * come. Nothing is late: each fire is on time. */
static void test_dst_gap_fires_fixed_once_at_gap_end(void **state)
{
    const sk_tz_t *tz = zone(state, "Europe/Berlin");
    world_t w = {0};
    tjob_t fixed, wild;
    cron_job(&fixed, "fixed", "30 2 * * *", tz);
    cron_job(&wild, "wild", "*/30 2 * * *", tz);
    world_add(&w, &fixed);
    world_add(&w, &wild);
    world_start(&w, utc("2026-03-28T12:00:00Z"));
    run_until(&w, utc("2026-03-30T12:00:00Z"), 2);
    want_t want[] = {
        {"2026-03-29T01:00:00Z", "start"}, /* fixed: 02:30 is in the gap; 03:00 CEST */
        {"2026-03-30T00:00:00Z", "start"}, /* wild: 02:00 CEST */
        {"2026-03-30T00:30:00Z", "start"}, /* fixed: 02:30 CEST */
        {"2026-03-30T00:30:00Z", "start"}, /* wild: 02:30 CEST */
    };
    check_log(&w, want, SK_ARRAY_LEN(want));
    assert_ptr_equal(w.log[0].owner, &fixed);
    assert_ptr_equal(w.log[1].owner, &wild);
    assert_each_once(&w);
}

/* Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z; 02:00-03:00
 * happens twice. A fixed time fires in the first pass only, a wild one in
 * both. */
static void test_dst_repeat_fires_fixed_once_wild_twice(void **state)
{
    const sk_tz_t *tz = zone(state, "Europe/Berlin");
    world_t w = {0};
    tjob_t fixed, wild;
    cron_job(&fixed, "fixed", "30 2 * * *", tz);
    cron_job(&wild, "wild", "*/30 2 * * *", tz);
    world_add(&w, &fixed);
    world_add(&w, &wild);
    world_start(&w, utc("2026-10-24T12:00:00Z"));
    run_until(&w, utc("2026-10-25T12:00:00Z"), 2);
    want_t want[] = {
        {"2026-10-25T00:00:00Z", "start"}, /* wild: 02:00 CEST */
        {"2026-10-25T00:30:00Z", "start"}, /* fixed: 02:30 CEST, first pass */
        {"2026-10-25T00:30:00Z", "start"}, /* wild: 02:30 CEST */
        {"2026-10-25T01:00:00Z", "start"}, /* wild: 02:00 CET, second pass */
        {"2026-10-25T01:30:00Z", "start"}, /* wild: 02:30 CET */
    };
    check_log(&w, want, SK_ARRAY_LEN(want));
    assert_ptr_equal(w.log[1].owner, &fixed);
    assert_each_once(&w);
}

/* New York: sked is down across both changes of 2026 and catches up all:
 * the gap's fixed time once (at the gap's end), the fold's wild times in
 * both passes, each once. */
static void test_dst_catchup_across_changes_new_york(void **state)
{
    const sk_tz_t *tz = zone(state, "America/New_York");
    world_t w = {0};
    tjob_t gap, fold;
    cron_job(&gap, "gap", "30 2 8 3 *", tz);      /* 2026-03-08 02:00 EST -> 03:00 EDT */
    cron_job(&fold, "fold", "*/30 1 1 11 *", tz); /* 2026-11-01 02:00 EDT -> 01:00 EST */
    gap.cfg.catchup = fold.cfg.catchup = SK_CATCHUP_ALL;
    gap.last_fire = fold.last_fire = utc("2026-03-01T00:00:00Z");
    world_add(&w, &gap);
    world_add(&w, &fold);
    world_start(&w, utc("2026-11-02T00:00:00Z"));
    want_t want[] = {
        {"2026-03-08T07:00:00Z", "catchup"}, /* 03:00 EDT, the end of the gap */
        {"2026-11-01T05:00:00Z", "catchup"}, /* 01:00 EDT */
        {"2026-11-01T05:30:00Z", "catchup"}, /* 01:30 EDT */
        {"2026-11-01T06:00:00Z", "catchup"}, /* 01:00 EST */
        {"2026-11-01T06:30:00Z", "catchup"}, /* 01:30 EST */
    };
    check_log(&w, want, SK_ARRAY_LEN(want));
    assert_int_equal(gap.last_fire, utc("2026-03-08T07:00:00Z"));
    assert_int_equal(fold.last_fire, utc("2026-11-01T06:30:00Z"));
}

/* ---- clock jumps and stalls ---- */

typedef struct {
    int64_t last_wall, last_mono, wall, mono;
    sk_sched_jump_t want;
    int64_t drift;
} jump_row_t;

static void test_clock_jump_classification(void **state)
{
    (void)state;
    static const jump_row_t rows[] = {
        {0, 0, 5000, 123, SK_SCHED_CLOCK_STEADY, 0}, /* never looked */
        {1000, 1000, 3000, 3000, SK_SCHED_CLOCK_STEADY, 0},
        {1000, 1000, 5000, 3000, SK_SCHED_CLOCK_STEADY, 2000}, /* at the limit */
        {1000, 1000, 5001, 3000, SK_SCHED_CLOCK_FORWARD, 2001},
        {1000, 1000, 999, 3000, SK_SCHED_CLOCK_BACK, -2001},
        {1000, 1000, 1000 + HOUR, 1000 + HOUR, SK_SCHED_CLOCK_STEADY, 0}, /* a stall */
        {1000, 1000, 1000 - HOUR, 1001, SK_SCHED_CLOCK_BACK, -HOUR - 1},
    };
    for (size_t r = 0; r < SK_ARRAY_LEN(rows); r++) {
        int64_t drift = 42;
        sk_sched_jump_t j = sk_sched_clock_jump(rows[r].last_wall, rows[r].last_mono, rows[r].wall,
                                                rows[r].mono, &drift);
        if (j != rows[r].want || drift != rows[r].drift)
            fail_msg("row %zu: got %d drift %" PRId64, r, j, drift);
    }
}

/* The wall clock jumps an hour ahead: the instants it skipped are late fires
 * (catch-up applies: `too late to start`), nothing fires twice, and the job
 * goes on on its grid. */
static void test_clock_jump_forward(void **state)
{
    (void)state;
    world_t w = {0};
    tjob_t ev, cr;
    every_job(&ev, "ev", 10 * SEC);
    cron_job(&cr, "cr", "*/15 * * * *", sk_tz_utc());
    cr.cfg.catchup = SK_CATCHUP_NONE;
    world_add(&w, &ev);
    world_add(&w, &cr);
    world_start(&w, utc("2026-05-01T10:00:00Z"));
    run_until(&w, utc("2026-05-01T10:00:30.500Z"), 1);
    assert_int_equal(count_of(&w, "start"), 3);
    w.nlog = 0;
    sk_fake_clock_set_wall(&w.fc, utc("2026-05-01T11:00:30.500Z"));
    wake(&w); /* the daemon ticks at once when the two clocks part */
    assert_int_equal(w.jump, SK_SCHED_CLOCK_FORWARD);
    assert_int_equal(w.drift, HOUR);
    /* ev: 10:00:40 .. 11:00:30 is 360 instants; latest runs the newest */
    /* cr: 10:15, 10:30, 10:45, 11:00, none of them run */
    assert_int_equal(w.nlog, 360 + 4);
    assert_int_equal(count_of(&w, "catchup"), 1);
    assert_int_equal(count_of(&w, "miss"), 359 + 4);
    for (size_t i = 0; i < w.nlog; i++)
        if (w.log[i].act == SK_SCHED_MISS)
            assert_string_equal(w.log[i].reason, "too late to start");
    assert_int_equal(ev.next_due, utc("2026-05-01T11:00:40Z"));
    assert_int_equal(cr.next_due, utc("2026-05-01T11:15:00Z"));
    w.nlog = 0;
    run_until(&w, utc("2026-05-01T11:15:00.500Z"), 1);
    assert_int_equal(count_of(&w, "start"), 87 + 1);
    assert_int_equal(w.nlog, 88);
}

/* The wall clock goes back an hour: an interval restarts counting from the
 * jump instead of stalling for an hour; a cron job fires no instant twice and
 * resumes when the clock passes its last fire. */
static void test_clock_jump_back(void **state)
{
    (void)state;
    world_t w = {0};
    tjob_t ev, cr;
    every_job(&ev, "ev", 10 * SEC);
    cron_job(&cr, "cr", "* * * * *", sk_tz_utc());
    world_add(&w, &ev);
    world_add(&w, &cr);
    world_start(&w, utc("2026-05-01T10:00:00Z"));
    run_until(&w, utc("2026-05-01T10:05:00.500Z"), 1);
    size_t before = w.nlog;
    assert_int_equal(before, 30 + 5);
    sk_fake_clock_set_wall(&w.fc, utc("2026-05-01T09:05:00.500Z"));
    wake(&w);
    assert_int_equal(w.jump, SK_SCHED_CLOCK_BACK);
    assert_int_equal(w.drift, -HOUR);
    assert_int_equal(w.nlog, before); /* nothing due at the jump itself */
    assert_int_equal(ev.last_fire, utc("2026-05-01T09:05:00.500Z"));
    assert_int_equal(ev.anchor, utc("2026-05-01T09:05:00.500Z")); /* not rounded */
    assert_int_equal(ev.next_due, utc("2026-05-01T09:05:10.500Z"));
    assert_int_equal(cr.last_fire, utc("2026-05-01T10:05:00Z")); /* kept */
    run_until(&w, utc("2026-05-01T10:07:00.700Z"), 1);
    /* ev: every 10 s from 09:05:10.5 to 10:07:00.5, all on time */
    size_t ev_n = 0, cr_n = 0;
    for (size_t i = before; i < w.nlog; i++) {
        assert_string_equal(word(&w.log[i]), "start");
        if (w.log[i].owner == &ev)
            ev_n++;
        else
            assert_true(w.log[i].at > utc("2026-05-01T10:05:00Z")), cr_n++;
    }
    assert_int_equal(ev_n, 372);
    assert_int_equal(cr_n, 2); /* 10:06 and 10:07 only */
    assert_each_once(&w);
}

/* SIGSTOP for a minute: both clocks move at once, so no jump is seen; the
 * minute's instants are late fires and catch-up decides. */
typedef struct {
    sk_catchup_t catchup;
    size_t start, catchup_n, miss;
} stall_row_t;

static void test_stall_moves_both_clocks(void **state)
{
    (void)state;
    static const stall_row_t rows[] = {
        {SK_CATCHUP_NONE, 0, 0, 60},
        {SK_CATCHUP_LATEST, 0, 1, 59},
        {SK_CATCHUP_ALL, 1, 59, 0}, /* the first is the one the timer was for */
    };
    for (size_t r = 0; r < SK_ARRAY_LEN(rows); r++) {
        world_t w = {0};
        tjob_t j;
        every_job(&j, "sec", SEC);
        j.cfg.catchup = rows[r].catchup;
        world_add(&w, &j);
        world_start(&w, utc("2026-05-01T10:00:00Z"));
        run_until(&w, utc("2026-05-01T10:00:05.500Z"), 0);
        assert_int_equal(w.nlog, 5);
        w.nlog = 0;
        sk_fake_clock_advance(&w.fc, 60 * SEC); /* stopped, then continued */
        wake(&w);
        assert_int_equal(w.jump, SK_SCHED_CLOCK_STEADY);
        assert_int_equal(w.drift, 0);
        assert_int_equal(w.nlog, 60);
        if (count_of(&w, "start") != rows[r].start ||
            count_of(&w, "catchup") != rows[r].catchup_n || count_of(&w, "miss") != rows[r].miss)
            fail_msg("row %zu: start %zu catchup %zu miss %zu", r, count_of(&w, "start"),
                     count_of(&w, "catchup"), count_of(&w, "miss"));
        assert_int_equal(j.last_fire, utc("2026-05-01T10:01:05Z"));
        assert_int_equal(j.next_due, utc("2026-05-01T10:01:06Z"));
    }
}

/* ---- the backlog caps ---- */

static void test_backlog_keeps_the_newest_and_resumes(void **state)
{
    (void)state;
    world_t w = {0};
    tjob_t j;
    /* 2,000 instants: the newest 1,000 get intents, the rest are counted */
    every_job(&j, "sec", SEC);
    j.cfg.catchup = SK_CATCHUP_ALL;
    j.last_fire = utc("2026-05-01T10:00:00Z");
    world_add(&w, &j);
    world_start(&w, utc("2026-05-01T10:33:20Z"));
    assert_int_equal(w.nlog, SK_SCHED_MAX_BACKLOG);
    assert_int_equal(w.backlog.unrecorded, 1000);
    assert_false(w.backlog.capped);
    assert_int_equal(w.log[0].at, utc("2026-05-01T10:16:41Z"));
    assert_int_equal(j.last_fire, utc("2026-05-01T10:33:20Z"));

    /* 150,000 instants: the scan stops at 100,000, the job is due again at
     * once and the next wake goes on from there */
    world_t v = {0};
    tjob_t k;
    every_job(&k, "ms", 1);
    k.cfg.catchup = SK_CATCHUP_ALL;
    k.last_fire = utc("2026-05-01T10:00:00Z");
    world_add(&v, &k);
    world_start(&v, utc("2026-05-01T10:02:30Z"));
    assert_true(v.backlog.capped);
    assert_int_equal(v.backlog.unrecorded, SK_SCHED_MAX_SCAN - SK_SCHED_MAX_BACKLOG);
    assert_int_equal(k.last_fire, utc("2026-05-01T10:01:40Z"));
    assert_true(k.next_due <= sk_clock_wall_ms(v.clock));
    wake(&v);
    assert_false(v.backlog.capped);
    assert_int_equal(v.backlog.unrecorded, 49000);
    assert_int_equal(v.nlog, 2 * SK_SCHED_MAX_BACKLOG);
    assert_int_equal(k.last_fire, utc("2026-05-01T10:02:30Z"));
    assert_each_once(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_clock_moves_only_when_told),
        cmocka_unit_test(test_real_clock_reads_the_system),
        cmocka_unit_test(test_anchor_rule),
        cmocka_unit_test(test_catchup_after_downtime),
        cmocka_unit_test(test_new_job_catches_up_nothing),
        cmocka_unit_test(test_timer_latency_is_not_late),
        cmocka_unit_test(test_overlap_decisions),
        cmocka_unit_test(test_overlap_never_skips_within_a_batch),
        cmocka_unit_test(test_jitter_is_stable_and_bounded),
        cmocka_unit_test(test_dst_gap_fires_fixed_once_at_gap_end),
        cmocka_unit_test(test_dst_repeat_fires_fixed_once_wild_twice),
        cmocka_unit_test(test_dst_catchup_across_changes_new_york),
        cmocka_unit_test(test_clock_jump_classification),
        cmocka_unit_test(test_clock_jump_forward),
        cmocka_unit_test(test_clock_jump_back),
        cmocka_unit_test(test_stall_moves_both_clocks),
        cmocka_unit_test(test_backlog_keeps_the_newest_and_resumes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
