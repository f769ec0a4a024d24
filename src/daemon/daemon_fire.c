/*
 * Firing: the single timer, what is due when it wakes, and carrying out the
 * firing engine's decisions (src/sched/: catch-up, overlap, jitter, clock
 * jumps). Each wake asks the engine first, records every intent in one
 * store transaction, and only then acts: a fire is in the store before its
 * process starts, and a failed write starts nothing and is retried later.
 * Time is read only from the daemon's clock (d->clock), once per wake.
 */
#include "daemon_int.h"
#include "../exec/exec.h"

#ifdef __linux__
#include <sys/timerfd.h>
#endif

/* The longest the timer sleeps: a day (then it looks again). */
#define MAX_SLEEP_MS (86400 * 1000LL)

/* One of the engine's intents on its way to the store. */
typedef struct {
    const sk_sched_intent_t *in;
    sk_jobrt_t *job;
    sk_run_t rec;
    bool dup;     /* the store had it already */
    bool started; /* its start is recorded with it: the pump starts it at once */
} fire_t;

static const sk_run_status_t status_of[] = {
    [SK_SCHED_START] = SK_RUN_QUEUED,
    [SK_SCHED_SKIP] = SK_RUN_SKIPPED,
    [SK_SCHED_MISS] = SK_RUN_MISSED,
};

/* The records of v's intents: returns a new array (free it) that borrows
 * v's items, which must outlive it. */
static fire_t *fires_of(const sk_sched_intents_t *v)
{
    fire_t *f = sk_xcalloc(v->n ? v->n : 1, sizeof(*f));
    for (size_t i = 0; i < v->n; i++) {
        const sk_sched_intent_t *in = &v->items[i];
        f[i].in = in;
        f[i].job = in->owner;
        f[i].rec.job = f[i].job->name;
        f[i].rec.status = status_of[in->act];
        f[i].rec.trigger = in->catchup ? SK_TRIG_CATCHUP : SK_TRIG_SCHEDULE;
        f[i].rec.attempt = 1;
        f[i].rec.scheduled_at = in->at;
        f[i].rec.exit_code = -1;
        f[i].rec.reason = (char *)in->reason;
    }
    return f;
}

/* Puts job in the heap at its next instant after last_fire, or takes it out. */
void sk_daemon__schedule_job(sk_daemon_t *d, sk_jobrt_t *j)
{
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

/* The engine's decisions for due job j; logs what it left out. */
static void decide(sk_daemon_t *d, sk_jobrt_t *j, int64_t now, sk_sched_intents_t *out)
{
    sk_sched_job_t sj = {.cfg = j->cfg,
                         .owner = j,
                         .anchor = j->anchor,
                         .last_fire = j->last_fire,
                         .next_due = j->next_due,
                         .active = j->active,
                         .waiting = j->waiting};
    sk_sched_backlog_t bl;
    sk_sched_decide(&sj, now, d->starting, out, &bl);
    if (bl.capped)
        sk_log(SK_LOG_WARN,
               "event=backlog job=%s msg=\"more than %d fires were missed; the "
               "oldest are not recorded one by one\"",
               j->name, SK_SCHED_MAX_SCAN);
    if (bl.unrecorded > 0)
        sk_log(SK_LOG_WARN, "event=missed job=%s count=%zu msg=\"not recorded one by one\"",
               j->name, bl.unrecorded);
}

/*
 * Whether fire it will start the moment it is committed: due now, nothing
 * queued ahead of it, a free slot (taken counts the fires of this batch
 * that took one) and no run of its job in the way. Then its start is
 * recorded in the fire's own transaction, and the instant costs one commit,
 * not two, before the process starts (the pump's record_start skips it).
 */
static bool starts_at_once(const sk_daemon_t *d, const fire_t *it, int64_t now, int taken)
{
    const sk_jobrt_t *j = it->job;
    if (it->in->act != SK_SCHED_START || d->cluster || d->stopping || d->nwaiting > 0 ||
        it->rec.queued_at > now || !j->cfg || j->cfg->nsteps > 0 || it->in->replace ||
        d->nrunning + taken >= d->config->max_parallel)
        return false;
    return (j->active == 0 && j->starting == 0 && j->waiting == 0) ||
           j->cfg->overlap == SK_OVERLAP_ALLOW;
}

/* Writes the n fires in one transaction. On failure nothing is kept. */
static int persist(sk_daemon_t *d, fire_t *v, size_t n, int64_t now, sk_err_t *err)
{
    const sk_store_ops_t *ops = d->store->ops;
    const sk_jobrt_t *last_taken = NULL;
    int taken = 0;
    int r = ops->begin(d->store, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        fire_t *it = &v[i];
        /* queued_at is also "not before": due now, or later by its jitter. */
        it->rec.queued_at = SK_MAX(now, it->rec.scheduled_at + it->in->delay);
        r = ops->run_insert(d->store, &it->rec, err);
        if (r == -EEXIST) {
            it->dup = true; /* already recorded by an earlier life: never twice */
            r = 0;
        }
        if (r < 0)
            goto fail;
        /* One fire of a job per batch takes the short way (the next would
         * find this one in its way); a job's fires are next to each other
         * (decide appends them job by job), so the last one taken says. */
        bool once = !it->dup && starts_at_once(d, it, now, taken) &&
                    (it->job != last_taken || it->job->cfg->overlap == SK_OVERLAP_ALLOW);
        if (once) {
            char path[4096];
            sk_exec_log_path(d->state_dir, it->job->cfg->name, it->rec.id, path, sizeof(path));
            r = ops->run_start(d->store, it->rec.id, now, 0, path, err);
            if (r < 0)
                goto fail;
            it->started = true;
            last_taken = it->job;
            taken++;
        }
        if (it->in->new_last_fire) {
            sk_job_state_t st = {.last_fire = it->in->new_last_fire,
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

/* A missed or skipped fire: counted, logged, and alerted once per batch. */
static void act_not_run(sk_daemon_t *d, const fire_t *v, size_t n, size_t i)
{
    const fire_t *it = &v[i];
    sk_jobrt_t *j = it->job;
    char at[40];
    sk_format_utc_ms(it->rec.scheduled_at, at, sizeof(at));
    bool missed = it->rec.status == SK_RUN_MISSED;
    sk_metrics_run_ended(d->metrics, j->metrics, missed ? "missed" : "skipped", -1);
    sk_log(missed ? SK_LOG_WARN : SK_LOG_INFO,
           "event=%s job=%s run=%" PRId64 " scheduled=%s reason=\"%s\"",
           missed ? "missed" : "skipped", j->name, it->rec.id, at, it->rec.reason);
    /* The dead man's switch: one alert for the newest such instant of
     * the job in this batch. */
    bool newest = true;
    for (size_t k = i + 1; k < n && newest; k++)
        newest = !(v[k].job == j && v[k].in->act != SK_SCHED_START);
    if (newest)
        sk_daemon__alert_missed(d, j, it->rec.id, it->rec.scheduled_at, it->rec.reason);
}

/* overlap: replace: stop j's running runs for the newer run `by`. */
static void replace_runs(sk_daemon_t *d, sk_jobrt_t *j, int64_t by)
{
    for (sk_runrt_t *r = d->running; r; r = r->next) {
        if (r->job == j && (r->proc || r->remote) &&
            (r->stop == SK_STOP_NONE || r->stop == SK_STOP_CANCEL)) {
            r->stop = SK_STOP_REPLACE;
            sk_log(SK_LOG_INFO, "event=replacing job=%s run=%" PRId64 " by=%" PRId64, j->name,
                   r->id, by);
            if (r->remote)
                sk_daemon__cancel_remote(d, r, "replaced by a newer run");
            else
                sk_proc_stop(r->proc);
        }
    }
}

/* Acts on the n committed fires. */
static void act(sk_daemon_t *d, fire_t *v, size_t n)
{
    /* Each job's new last fire first: what follows writes job states too. */
    for (size_t i = 0; i < n; i++)
        if (v[i].in->new_last_fire)
            v[i].job->last_fire = v[i].in->new_last_fire;
    for (size_t i = 0; i < n; i++) {
        fire_t *it = &v[i];
        sk_jobrt_t *j = it->job;
        if (it->dup) {
            char at[40];
            sk_format_utc_ms(it->rec.scheduled_at, at, sizeof(at));
            sk_log(SK_LOG_INFO, "event=duplicate job=%s scheduled=%s msg=\"already recorded\"",
                   j->name, at);
            continue;
        }
        if (it->in->act != SK_SCHED_START) {
            act_not_run(d, v, n, i);
            continue;
        }
        if (it->in->replace)
            replace_runs(d, j, it->rec.id);
        sk_daemon__run_new(d, j, &it->rec)->start_recorded = it->started;
    }
}

static void handle_due(sk_daemon_t *d, int64_t now)
{
    sk_sched_intents_t v = {0};
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
        fire_t *fires = fires_of(&v);
        if (persist(d, fires, v.n, now, &err) < 0) {
            d->store_backoff = d->store_backoff ? SK_MIN(d->store_backoff * 2, 30000) : 1000;
            d->store_retry_mono = sk_clock_mono_ms(d->clock) + d->store_backoff;
            sk_log(SK_LOG_ERROR,
                   "event=store_error msg=\"%s\" fires=%zu retry_in_ms=%" PRId64
                   " note=\"nothing starts without its record\"",
                   err.msg, v.n, d->store_backoff);
            /* Put the jobs back exactly as they were: they are still due. */
            for (size_t i = 0; i < ndue; i++)
                sk_heap_set(&d->heap, &due[i]->node, due[i]->next_due ? due[i]->next_due : now);
            free(fires);
            sk_sched_intents_release(&v);
            free(due);
            return;
        }
        if (d->store_backoff)
            sk_log(SK_LOG_INFO, "event=store_recovered");
        d->store_backoff = 0;
        act(d, fires, v.n);
        free(fires);
    }
    for (size_t i = 0; i < ndue; i++)
        sk_daemon__schedule_job(d, due[i]);
    sk_sched_intents_release(&v);
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
    if (sk_sched_clock_jump(d->last_wall, d->last_mono, wall_ns / 1000000, mono_ns / 1000000,
                            NULL) != SK_SCHED_CLOCK_STEADY)
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

/* The wall clock went back: the engine says which jobs restart counting. */
static void clock_went_back(sk_daemon_t *d, int64_t now)
{
    for (size_t i = 0; i < d->njobs; i++) {
        sk_jobrt_t *j = d->jobs[i];
        if (j->cfg && sk_sched_clock_back(j->cfg, now, &j->anchor, &j->last_fire))
            sk_daemon__schedule_job(d, j);
    }
}

void sk_daemon__on_tick(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    /* "now" is read once per wake and passed down. */
    int64_t now = sk_clock_wall_ms(d->clock), mono = sk_clock_mono_ms(d->clock);
    if (d->stopping)
        return;
    int64_t drift;
    sk_sched_jump_t jump = sk_sched_clock_jump(d->last_wall, d->last_mono, now, mono, &drift);
    if (jump != SK_SCHED_CLOCK_STEADY)
        sk_log(SK_LOG_WARN,
               "event=clock_jump delta_ms=%" PRId64
               " msg=\"the wall clock moved; fires are checked against it\"",
               drift);
    if (jump == SK_SCHED_CLOCK_BACK)
        clock_went_back(d, now);
    d->last_wall = now;
    d->last_mono = mono;
    if (mono >= d->store_retry_mono)
        handle_due(d, now);
    d->starting = false;
    sk_daemon__check_late(d, mono);
    sk_daemon__pump(d, now);
    sk_daemon__arm(d);
}

/* A run of j to record now, not yet in the store. */
static sk_run_t new_rec(sk_daemon_t *d, const sk_jobrt_t *j, sk_trigger_t trig)
{
    sk_run_t rec = {0};
    rec.job = j->name;
    rec.status = SK_RUN_QUEUED;
    rec.trigger = trig;
    rec.attempt = 1;
    rec.scheduled_at = rec.queued_at = sk_clock_wall_ms(d->clock);
    rec.exit_code = -1;
    return rec;
}

/* rec was recorded: it is said and queued, and starts when it can. */
static int64_t queue_recorded(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *rec, bool once)
{
    sk_log(SK_LOG_INFO, "event=triggered job=%s run=%" PRId64 " trigger=%s%s%s%s", j->name, rec->id,
           sk_trigger_str(rec->trigger), rec->event ? " on=\"" : "", rec->event ? rec->event : "",
           rec->event ? "\"" : "");
    sk_runrt_t *run = sk_daemon__run_new(d, j, rec);
    run->once = once;
    sk_daemon__pump(d, sk_clock_wall_ms(d->clock));
    sk_daemon__arm(d);
    return rec->id;
}

int64_t sk_daemon__trigger(sk_daemon_t *d, sk_jobrt_t *j, const char *params_json,
                           sk_trigger_t trig, bool once, sk_err_t *err)
{
    sk_run_t rec = new_rec(d, j, trig);
    rec.params = (char *)params_json;
    int r = d->store->ops->run_insert(d->store, &rec, err);
    if (r < 0)
        return r;
    return queue_recorded(d, j, &rec, once);
}

/* Why an event's run of j cannot go ahead by its overlap policy (as for a
 * fire: sk_sched's start_or_skip), or NULL. Events that come faster than
 * the job runs are bounded like fires: at most SK_SCHED_MAX_QUEUED wait. */
static const char *event_blocked(const sk_jobrt_t *j)
{
    int busy = j->active + j->starting;
    if (j->cfg->overlap == SK_OVERLAP_SKIP && (busy > 0 || j->waiting > 0))
        return "the previous run is still going";
    if (j->waiting >= SK_SCHED_MAX_QUEUED)
        return "the queue of runs waiting for the previous one is full (100)";
    return NULL;
}

void sk_daemon__event_file(const char *state_dir, const char *job, int64_t run_id, char *buf,
                           size_t size)
{
    sk_snprintf(buf, size, "%s/logs/%s/%" PRId64 ".event", state_dir, job, run_id);
}

void sk_daemon__event_file_unlink(const char *log_path)
{
    size_t n = log_path ? strlen(log_path) : 0;
    char ev[4096];
    if (n > 4 && n < sizeof(ev) - 2 && strcmp(log_path + n - 4, ".log") == 0) {
        sk_snprintf(ev, sizeof(ev), "%.*s.event", (int)(n - 4), log_path);
        unlink(ev);
    }
}

/* The payload file becomes run id's event file, before the run can start
 * (it is queued after this): the run finds it whatever it does first. */
static void place_payload(sk_daemon_t *d, sk_jobrt_t *j, int64_t id, const char *payload)
{
    char path[4096];
    sk_daemon__event_file(d->state_dir, j->name, id, path, sizeof(path));
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int r = sk_mkdir_p(path, 0700);
    *slash = '/';
    if (r < 0 || rename(payload, path) < 0) {
        int e = r < 0 ? -r : errno;
        sk_log(SK_LOG_WARN,
               "event=payload_lost job=%s run=%" PRId64 " msg=\"cannot keep the event's payload "
               "as %s: %s; the run has no $SKED_EVENT_FILE\"",
               j->name, id, path, strerror(e));
        unlink(payload);
    }
}

int64_t sk_daemon__fire_event(sk_daemon_t *d, sk_jobrt_t *j, const char *event, const char *boot_id,
                              sk_err_t *err)
{
    return sk_daemon__fire_event_with(d, j, event, boot_id, NULL, NULL, NULL, err);
}

int64_t sk_daemon__fire_event_with(sk_daemon_t *d, sk_jobrt_t *j, const char *event,
                                   const char *boot_id, const char *params, const char *payload,
                                   bool *ret_skipped, sk_err_t *err)
{
    const sk_store_ops_t *ops = d->store->ops;
    sk_run_t rec = new_rec(d, j, SK_TRIG_EVENT);
    rec.event = (char *)event;
    rec.params = (char *)params;
    const char *blocked = j->cfg ? event_blocked(j) : NULL;
    if (ret_skipped)
        *ret_skipped = blocked != NULL;
    if (blocked) {
        rec.status = SK_RUN_SKIPPED;
        rec.reason = (char *)blocked;
    }
    int r = ops->begin(d->store, err);
    int claimed = 1;
    if (r == 0 && boot_id)
        r = claimed = ops->boot_claim(d->store, j->name, boot_id, err);
    if (r >= 0 && claimed)
        r = ops->run_insert(d->store, &rec, err);
    if (r >= 0)
        r = ops->commit(d->store, err);
    if (r < 0) {
        ops->rollback(d->store, NULL);
        if (payload)
            unlink(payload);
        return r;
    }
    if (!claimed) {
        sk_log(SK_LOG_INFO,
               "event=not_fired job=%s trigger=event on=%s msg=\"this boot of the machine "
               "already ran it\"",
               j->name, event);
        return 0;
    }
    if (blocked) {
        if (payload)
            unlink(payload); /* nothing runs: nothing reads it */
        sk_metrics_run_ended(d->metrics, j->metrics, "skipped", -1);
        sk_log(SK_LOG_INFO,
               "event=skipped job=%s run=%" PRId64 " trigger=event on=\"%s\" reason=\"%s\"",
               j->name, rec.id, event, blocked);
        return rec.id;
    }
    if (payload)
        place_payload(d, j, rec.id, payload);
    if (j->cfg->overlap == SK_OVERLAP_REPLACE && j->active > 0)
        replace_runs(d, j, rec.id);
    return queue_recorded(d, j, &rec, false);
}
