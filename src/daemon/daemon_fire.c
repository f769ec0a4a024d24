/*
 * Firing: the single timer, what is due when it wakes, and the catch-up and
 * overlap policies. Each wake decides first, records every decision in one
 * store transaction, and only then acts: a fire is in the store before its
 * process starts, and a failed write starts nothing and is retried later.
 */
#include "daemon_int.h"

#ifdef __linux__
#include <sys/timerfd.h>
#endif

/* At most this many past instants are looked at for one job in one wake;
 * the rest are counted and logged, not recorded one by one. */
#define MAX_BACKLOG 1000
#define MAX_SCAN 100000
/* overlap: queue holds at most this many runs of one job waiting. */
#define MAX_QUEUED 100
/* A wall clock that moved this far from the monotonic clock jumped. */
#define JUMP_MS 2000
/* The longest the timer sleeps: a day (then it looks again). */
#define MAX_SLEEP_MS (86400 * 1000LL)

typedef struct {
    sk_jobrt_t *job;
    sk_run_t rec;
    int64_t new_last_fire;
    int64_t delay; /* jitter: the run may not start before scheduled_at + delay */
    bool dup;
} intent_t;

typedef struct {
    intent_t *items;
    size_t n, cap;
} intents_t;

static void intents_push(intents_t *v, sk_jobrt_t *j, int64_t at, sk_trigger_t trig,
                         sk_run_status_t status, const char *reason)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->items = sk_xrealloc(v->items, v->cap * sizeof(*v->items));
    }
    intent_t *it = &v->items[v->n++];
    memset(it, 0, sizeof(*it));
    it->job = j;
    it->rec.job = j->name;
    it->rec.status = status;
    it->rec.trigger = trig;
    it->rec.attempt = 1;
    it->rec.scheduled_at = at;
    it->rec.exit_code = -1;
    it->rec.reason = (char *)reason;
}

sk_jobrt_t *sk_daemon__job(sk_daemon_t *d, const char *name)
{
    for (size_t i = 0; i < d->njobs; i++)
        if (strcmp(d->jobs[i]->name, name) == 0)
            return d->jobs[i];
    return NULL;
}

/* Puts job in the heap at its next instant after last_fire, or takes it out. */
void sk_daemon__schedule_job(sk_daemon_t *d, sk_jobrt_t *j, int64_t now)
{
    (void)now;
    int64_t next;
    if (d->leading && j->cfg && j->cfg->enabled && !j->paused &&
        sk_sched_next(j->cfg, j->anchor, j->last_fire, &next) == 0) {
        j->next_due = next;
        sk_heap_set(&d->heap, &j->node, next);
    } else {
        j->next_due = 0;
        sk_heap_remove(&d->heap, &j->node);
    }
    sk_metrics_next_fire(d->metrics, j->metrics, j->next_due);
}

/*
 * every: + jitter: a delay in [0, jitter) for the fire at `at`, from a hash of
 * the job's name and the instant, so that it is the same after a restart.
 */
static int64_t jitter_for(const sk_jobrt_t *j, int64_t at)
{
    if (j->cfg->jitter_ms <= 0)
        return 0;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = j->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= (uint64_t)at;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (int64_t)(h % (uint64_t)j->cfg->jitter_ms);
}

/* Whether instant t (followed by `succ`, or none) may still start at now. */
static bool within_grace(const sk_job_cfg_t *cfg, int64_t t, int64_t succ, int64_t now)
{
    if (cfg->misfire_grace_ms >= 0)
        return now - t <= cfg->misfire_grace_ms;
    if (cfg->catchup == SK_CATCHUP_ALL)
        return true; /* "run each": no default limit besides MAX_BACKLOG */
    return succ == 0 || succ > now; /* default: until the next fire */
}

/* Decides what to do with job's instants in (last_fire, now]. */
static void decide(sk_daemon_t *d, sk_jobrt_t *j, int64_t now, intents_t *out)
{
    const sk_job_cfg_t *cfg = j->cfg;
    int64_t ring[MAX_BACKLOG];
    size_t count = 0, scanned = 0;
    int64_t t = j->last_fire, next;

    while (scanned < MAX_SCAN && sk_sched_next(cfg, j->anchor, t, &next) == 0 && next <= now) {
        ring[count % MAX_BACKLOG] = next;
        count++;
        scanned++;
        t = next;
    }
    if (count == 0)
        return;
    if (scanned == MAX_SCAN)
        sk_log(SK_LOG_WARN, "event=backlog job=%s msg=\"more than %d fires were missed; the "
                            "oldest are not recorded one by one\"",
               j->name, MAX_SCAN);
    size_t first = count > MAX_BACKLOG ? count - MAX_BACKLOG : 0;
    if (first > 0)
        sk_log(SK_LOG_WARN, "event=missed job=%s count=%zu msg=\"not recorded one by one\"",
               j->name, first);
    int64_t after_last;
    if (sk_sched_next(cfg, j->anchor, t, &after_last) < 0)
        after_last = 0;

    for (size_t i = first; i < count; i++) {
        int64_t at = ring[i % MAX_BACKLOG];
        int64_t succ = i + 1 < count ? ring[(i + 1) % MAX_BACKLOG] : after_last;
        bool on_time = !d->starting && at == j->next_due && i == first;
        bool last = i + 1 == count;
        /* The fire the timer was armed for is never late by the timer's own
         * latency, however small misfire_grace is. */
        bool grace = within_grace(cfg, at, succ, now) || (on_time && now - at < 1000);
        bool run;
        switch (cfg->catchup) {
        case SK_CATCHUP_NONE:
            run = on_time && grace;
            break;
        case SK_CATCHUP_LATEST:
            run = last && grace;
            break;
        case SK_CATCHUP_ALL:
        default:
            run = grace;
            break;
        }
        sk_trigger_t trig = on_time ? SK_TRIG_SCHEDULE : SK_TRIG_CATCHUP;
        if (!run) {
            intents_push(out, j, at, SK_TRIG_SCHEDULE, SK_RUN_MISSED,
                         d->starting ? "sked was not running" : "too late to start");
        } else if (cfg->overlap == SK_OVERLAP_SKIP && (j->active > 0 || j->waiting > 0)) {
            intents_push(out, j, at, trig, SK_RUN_SKIPPED, "the previous run is still going");
        } else if (cfg->overlap == SK_OVERLAP_QUEUE && j->waiting >= MAX_QUEUED) {
            intents_push(out, j, at, trig, SK_RUN_SKIPPED,
                         "the queue of runs waiting for the previous one is full (100)");
        } else {
            /* Catch-up runs of one batch queue behind each other in order,
             * whatever the overlap policy: "all" means each of them. */
            intents_push(out, j, at, trig, SK_RUN_QUEUED, NULL);
            out->items[out->n - 1].delay = jitter_for(j, at);
        }
    }
    out->items[out->n - 1].new_last_fire = t;
}

/* Writes the intents in one transaction. On failure nothing is kept. */
static int persist(sk_daemon_t *d, intents_t *v, int64_t now, sk_err_t *err)
{
    const sk_store_ops_t *ops = d->store->ops;
    int r = ops->begin(d->store, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < v->n; i++) {
        intent_t *it = &v->items[i];
        /* queued_at is also "not before": due now, or later by its jitter. */
        it->rec.queued_at = SK_MAX(now, it->rec.scheduled_at + it->delay);
        r = ops->run_insert(d->store, &it->rec, err);
        if (r == -EEXIST) {
            it->dup = true; /* already recorded by an earlier life: never twice */
            r = 0;
        }
        if (r < 0)
            goto fail;
        if (it->new_last_fire) {
            sk_job_state_t st = {.last_fire = it->new_last_fire,
                                 .paused = it->job->paused,
                                 .last_outcome = it->job->last_outcome,
                                 .missed_alerted = it->job->missed_alerted};
            r = ops->job_state_set(d->store, it->job->name, &st, err);
            if (r < 0)
                goto fail;
        }
    }
    return ops->commit(d->store, err);
fail:
    if (ops->rollback)
        ops->rollback(d->store, NULL);
    return r;
}

static void act(sk_daemon_t *d, intents_t *v, int64_t now)
{
    /* Each job's new last fire first: what follows writes job states too. */
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].new_last_fire)
            v->items[i].job->last_fire = v->items[i].new_last_fire;
    for (size_t i = 0; i < v->n; i++) {
        intent_t *it = &v->items[i];
        sk_jobrt_t *j = it->job;
        char at[40];
        sk_format_utc_ms(it->rec.scheduled_at, at, sizeof(at));
        if (it->new_last_fire)
            j->last_fire = it->new_last_fire;
        if (it->dup) {
            sk_log(SK_LOG_INFO, "event=duplicate job=%s scheduled=%s msg=\"already recorded\"",
                   j->name, at);
            continue;
        }
        if (it->rec.status == SK_RUN_MISSED || it->rec.status == SK_RUN_SKIPPED) {
            bool missed = it->rec.status == SK_RUN_MISSED;
            sk_metrics_run_ended(d->metrics, j->metrics, missed ? "missed" : "skipped", -1);
            sk_log(missed ? SK_LOG_WARN : SK_LOG_INFO,
                   "event=%s job=%s run=%" PRId64 " scheduled=%s reason=\"%s\"",
                   missed ? "missed" : "skipped", j->name, it->rec.id, at, it->rec.reason);
            /* The dead man's switch: one alert for the newest such instant of
             * the job in this batch. */
            bool newest = true;
            for (size_t k = i + 1; k < v->n && newest; k++)
                newest = !(v->items[k].job == j && (v->items[k].rec.status == SK_RUN_MISSED ||
                                                    v->items[k].rec.status == SK_RUN_SKIPPED));
            if (newest)
                sk_daemon__alert_missed(d, j, it->rec.id, it->rec.scheduled_at, it->rec.reason);
            continue;
        }
        if (j->cfg->overlap == SK_OVERLAP_REPLACE && j->active > 0) {
            for (sk_runrt_t *r = d->running; r; r = r->next) {
                if (r->job == j && (r->proc || r->remote) && !r->replaced) {
                    r->replaced = true;
                    sk_log(SK_LOG_INFO, "event=replacing job=%s run=%" PRId64 " by=%" PRId64,
                           j->name, r->id, it->rec.id);
                    if (r->remote)
                        sk_daemon__cancel_remote(d, r, "replaced by a newer run");
                    else
                        sk_proc_stop(r->proc);
                }
            }
        }
        sk_daemon__run_new(d, j, &it->rec);
    }
    (void)now;
}

static void handle_due(sk_daemon_t *d, int64_t now)
{
    intents_t v = {0};
    sk_jobrt_t **due = NULL;
    size_t ndue = 0, cap = 0;

    /* Collect every job due now, earliest first. */
    for (;;) {
        sk_heap_node_t *top = sk_heap_top(&d->heap);
        if (!top || top->key > now)
            break;
        sk_jobrt_t *j = SK_CONTAINER_OF(top, sk_jobrt_t, node);
        sk_heap_remove(&d->heap, top);
        if (ndue == cap) {
            cap = cap ? cap * 2 : 64;
            due = sk_xrealloc(due, cap * sizeof(*due));
        }
        due[ndue++] = j;
    }
    for (size_t i = 0; i < ndue; i++)
        decide(d, due[i], now, &v);

    if (v.n > 0) {
        sk_err_t err;
        sk_err_clear(&err);
        if (persist(d, &v, now, &err) < 0) {
            d->store_backoff = d->store_backoff ? SK_MIN(d->store_backoff * 2, 30000) : 1000;
            d->store_retry_mono = sk_clock_mono_ms(d->clock) + d->store_backoff;
            sk_log(SK_LOG_ERROR,
                   "event=store_error msg=\"%s\" fires=%zu retry_in_ms=%" PRId64
                   " note=\"nothing starts without its record\"",
                   err.msg, v.n, d->store_backoff);
            /* Put the jobs back exactly as they were: they are still due. */
            for (size_t i = 0; i < ndue; i++)
                sk_heap_set(&d->heap, &due[i]->node, due[i]->next_due ? due[i]->next_due : now);
            free(v.items);
            free(due);
            return;
        }
        if (d->store_backoff)
            sk_log(SK_LOG_INFO, "event=store_recovered");
        d->store_backoff = 0;
        act(d, &v, now);
    }
    for (size_t i = 0; i < ndue; i++)
        sk_daemon__schedule_job(d, due[i], now);
    free(v.items);
    free(due);
}

/*
 * How long until the earliest thing due, in ns (<= 0: now), or INT64_MAX for
 * nothing. Two clocks meet here: the heap holds fire instants, which are
 * wall-clock facts (cron, every, at), and is compared with the wall clock;
 * run waits (retry delays, jitter, `late`) and the store's back-off are
 * monotonic deadlines, compared with the monotonic clock. Either way the
 * result is a delay, and delays are armed on a monotonic timer.
 */
static int64_t next_wait_ns(sk_daemon_t *d)
{
    int64_t wall_ns = sk_clock_wall_ns(d->clock), mono_ns = sk_clock_mono_ns(d->clock);
    int64_t wait = INT64_MAX;
    sk_heap_node_t *top = sk_heap_top(&d->heap);
    if (top) /* an `at:` centuries away would overflow ns: wake daily and look again */
        wait = SK_MIN(top->key - wall_ns / 1000000, MAX_SLEEP_MS) * 1000000 - wall_ns % 1000000;
    int64_t w = sk_daemon__earliest_wait(d);
    if (w && w * 1000000 - mono_ns < wait)
        wait = w * 1000000 - mono_ns;
    int64_t backoff = d->store_retry_mono * 1000000 - mono_ns;
    if (backoff > 0 && wait < backoff)
        wait = backoff;
    if (d->pump_deferred)
        wait = 0; /* runs are due now: the pump yielded one loop turn */
    /* The wall clock jumped since the last tick (the clock watch is not
     * told of every change, and a jump back would make the wait for the
     * heap's instant an hour long): tick now, and on_tick sorts it out. */
    int64_t drift = (wall_ns / 1000000 - d->last_wall) - (mono_ns / 1000000 - d->last_mono);
    if (d->last_mono && (drift > JUMP_MS || drift < -JUMP_MS))
        wait = 0;
    return wait;
}

void sk_daemon__arm(sk_daemon_t *d)
{
    if (d->stopping)
        return;
    int64_t wait = next_wait_ns(d);
#ifdef __linux__
    if (d->tick_fd >= 0) {
        /* Wake at the due instant to the nanosecond: libuv's timers count
         * whole milliseconds of a cached loop clock, a millisecond or two
         * late. The timer is monotonic and relative, so a clock change does
         * not move it (clock_went_back and the clock watch handle those). */
        struct itimerspec its;
        memset(&its, 0, sizeof(its));
        uv_timer_stop(&d->tick);
        if (wait <= 0) {
            uv_timer_start(&d->tick, sk_daemon__on_tick, 0, 0);
        } else if (wait != INT64_MAX) {
            its.it_value.tv_sec = wait / 1000000000;
            its.it_value.tv_nsec = wait % 1000000000;
        }
        timerfd_settime(d->tick_fd, 0, &its, NULL);
        return;
    }
#endif
    if (wait == INT64_MAX) {
        uv_timer_stop(&d->tick); /* nothing due, ever: sleep until told */
        return;
    }
    int64_t delay = wait <= 0 ? 0 : (wait + 999999) / 1000000;
    uv_timer_start(&d->tick, sk_daemon__on_tick, (uint64_t)delay, 0);
}

/*
 * The wall clock went back. Cron and at instants are wall-clock facts: their
 * last handled instant stays, so nothing already handled fires again (a wild
 * cron job resumes when the clock passes its last fire). Intervals measure
 * real time: they restart counting from now instead of stalling.
 */
static void clock_went_back(sk_daemon_t *d, int64_t now)
{
    for (size_t i = 0; i < d->njobs; i++) {
        sk_jobrt_t *j = d->jobs[i];
        if (j->cfg && j->cfg->trigger == SK_TRIGGER_EVERY && j->last_fire > now) {
            if (!j->cfg->start_ms)
                j->anchor = now;
            j->last_fire = now;
            sk_daemon__schedule_job(d, j, now);
        }
    }
}

void sk_daemon__on_tick(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    /* "now" is read once per wake and passed down. */
    int64_t now = sk_clock_wall_ms(d->clock), mono = sk_clock_mono_ms(d->clock);
    if (d->stopping)
        return;
    if (d->last_mono) {
        int64_t drift = (now - d->last_wall) - (mono - d->last_mono);
        if (drift > JUMP_MS || drift < -JUMP_MS)
            sk_log(SK_LOG_WARN, "event=clock_jump delta_ms=%" PRId64
                                " msg=\"the wall clock moved; fires are checked against it\"",
                   drift);
        if (drift < -JUMP_MS)
            clock_went_back(d, now);
    }
    d->last_wall = now;
    d->last_mono = mono;
    if (mono >= d->store_retry_mono)
        handle_due(d, now);
    d->starting = false;
    sk_daemon__check_late(d, mono);
    sk_daemon__pump(d, now);
    sk_daemon__arm(d);
}

int64_t sk_daemon__trigger(sk_daemon_t *d, sk_jobrt_t *j, const char *params_json,
                           sk_trigger_t trig, bool once, sk_err_t *err)
{
    sk_run_t rec = {0};
    rec.job = j->name;
    rec.status = SK_RUN_QUEUED;
    rec.trigger = trig;
    rec.attempt = 1;
    rec.scheduled_at = rec.queued_at = sk_clock_wall_ms(d->clock);
    rec.exit_code = -1;
    rec.params = (char *)params_json;
    int r = d->store->ops->run_insert(d->store, &rec, err);
    if (r < 0)
        return r;
    sk_log(SK_LOG_INFO, "event=triggered job=%s run=%" PRId64 " trigger=%s", j->name, rec.id,
           sk_trigger_str(trig));
    sk_runrt_t *run = sk_daemon__run_new(d, j, &rec);
    run->once = once;
    sk_daemon__pump(d, sk_clock_wall_ms(d->clock));
    sk_daemon__arm(d);
    return rec.id;
}
