/*
 * Firing decisions: what to do with the instants of a due job (catch-up,
 * misfire grace, overlap, jitter), and what a wall-clock jump means. Pure
 * functions of the state and the "now" they are handed; the daemon records
 * the intents they produce in the store and acts on them
 * (src/daemon/daemon_fire.c).
 */
#include "sched.h"

void sk_sched_intents_release(sk_sched_intents_t *v)
{
    free(v->items);
    memset(v, 0, sizeof(*v));
}

static sk_sched_intent_t *intents_push(sk_sched_intents_t *v, const sk_sched_job_t *job, int64_t at,
                                       sk_sched_act_t act, bool catchup, const char *reason)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->items = sk_xrealloc(v->items, v->cap * sizeof(*v->items));
    }
    sk_sched_intent_t *it = &v->items[v->n++];
    memset(it, 0, sizeof(*it));
    it->owner = job->owner;
    it->at = at;
    it->act = act;
    it->catchup = catchup;
    it->reason = reason;
    return it;
}

/*
 * every: + jitter: a delay in [0, jitter) for the fire at `at`, from a hash of
 * the job's name and the instant, so that it is the same after a restart.
 */
static int64_t jitter_for(const sk_job_cfg_t *cfg, int64_t at)
{
    if (cfg->jitter_ms <= 0)
        return 0;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = cfg->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= (uint64_t)at;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (int64_t)(h % (uint64_t)cfg->jitter_ms);
}

/* Whether instant t (followed by `succ`, or none) may still start at now. */
static bool within_grace(const sk_job_cfg_t *cfg, int64_t t, int64_t succ, int64_t now)
{
    if (cfg->misfire_grace_ms >= 0)
        return now - t <= cfg->misfire_grace_ms;
    if (cfg->catchup == SK_CATCHUP_ALL)
        return true;                /* "run each": no default limit besides MAX_BACKLOG */
    return succ == 0 || succ > now; /* default: until the next fire */
}

/* One instant that catch-up lets run: start it, unless overlap says no. */
static void start_or_skip(const sk_sched_job_t *job, int64_t at, bool on_time,
                          sk_sched_intents_t *out)
{
    const sk_job_cfg_t *cfg = job->cfg;
    bool catchup = !on_time;
    if (cfg->overlap == SK_OVERLAP_SKIP && (job->active > 0 || job->waiting > 0)) {
        intents_push(out, job, at, SK_SCHED_SKIP, catchup, "the previous run is still going");
    } else if (cfg->overlap == SK_OVERLAP_QUEUE && job->waiting >= SK_SCHED_MAX_QUEUED) {
        intents_push(out, job, at, SK_SCHED_SKIP, catchup,
                     "the queue of runs waiting for the previous one is full (100)");
    } else {
        /* Catch-up runs of one batch queue behind each other in order,
         * whatever the overlap policy: "all" means each of them. */
        sk_sched_intent_t *it = intents_push(out, job, at, SK_SCHED_START, catchup, NULL);
        it->delay = jitter_for(cfg, at);
        it->replace = cfg->overlap == SK_OVERLAP_REPLACE && job->active > 0;
    }
}

void sk_sched_decide(const sk_sched_job_t *job, int64_t now, bool starting, sk_sched_intents_t *out,
                     sk_sched_backlog_t *ret_backlog)
{
    const sk_job_cfg_t *cfg = job->cfg;
    int64_t ring[SK_SCHED_MAX_BACKLOG];
    size_t count = 0, scanned = 0;
    int64_t t = job->last_fire, next;
    sk_sched_backlog_t backlog = {0};

    while (scanned < SK_SCHED_MAX_SCAN && sk_sched_next(cfg, job->anchor, t, &next) == 0 &&
           next <= now) {
        ring[count % SK_SCHED_MAX_BACKLOG] = next;
        count++;
        scanned++;
        t = next;
    }
    if (ret_backlog)
        *ret_backlog = backlog;
    if (count == 0)
        return;
    backlog.capped = scanned == SK_SCHED_MAX_SCAN;
    size_t first = count > SK_SCHED_MAX_BACKLOG ? count - SK_SCHED_MAX_BACKLOG : 0;
    backlog.unrecorded = first;
    if (ret_backlog)
        *ret_backlog = backlog;
    int64_t after_last;
    if (sk_sched_next(cfg, job->anchor, t, &after_last) < 0)
        after_last = 0;

    for (size_t i = first; i < count; i++) {
        int64_t at = ring[i % SK_SCHED_MAX_BACKLOG];
        int64_t succ = i + 1 < count ? ring[(i + 1) % SK_SCHED_MAX_BACKLOG] : after_last;
        bool on_time = !starting && at == job->next_due && i == first;
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
        if (run)
            start_or_skip(job, at, on_time, out);
        else
            intents_push(out, job, at, SK_SCHED_MISS, false,
                         starting ? "sked was not running" : "too late to start");
    }
    out->items[out->n - 1].new_last_fire = t;
}

sk_sched_jump_t sk_sched_clock_jump(int64_t last_wall, int64_t last_mono, int64_t wall,
                                    int64_t mono, int64_t *ret_drift)
{
    int64_t drift = last_mono ? (wall - last_wall) - (mono - last_mono) : 0;
    if (ret_drift)
        *ret_drift = drift;
    if (drift > SK_SCHED_JUMP_MS)
        return SK_SCHED_CLOCK_FORWARD;
    if (drift < -SK_SCHED_JUMP_MS)
        return SK_SCHED_CLOCK_BACK;
    return SK_SCHED_CLOCK_STEADY;
}

bool sk_sched_clock_back(const sk_job_cfg_t *job, int64_t now, int64_t *anchor, int64_t *last_fire)
{
    if (job->trigger != SK_TRIGGER_EVERY || *last_fire <= now)
        return false;
    if (!job->start_ms)
        *anchor = now;
    *last_fire = now;
    return true;
}
