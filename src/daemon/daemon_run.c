/*
 * Runs: from a recorded fire to a recorded outcome. Runs wait in one FIFO
 * until their time (retries), their job (overlap) and a free slot
 * (max_parallel) allow them; outcomes of all runs that ended in one loop
 * turn are recorded in one transaction before they are logged, retried or
 * pruned.
 */
#include "daemon_int.h"

#include "../exec/exec.h"

#include <fcntl.h>
#include <signal.h>

#define RETRY_CAP_MS (3600 * 1000LL)
/* The pump starts runs for at most this long in one loop turn, then yields
 * (a tick at 0 ms continues): a burst of thousands of due runs must not
 * hold the loop for seconds while the API, child exits and output wait. */
#define PUMP_SLICE_MS 20
/* Runs whose starts one commit records before their processes start: the
 * spawns that follow the commit are not cut by the slice, so this bounds
 * them (64 spawns: ~10-30 ms). */
#define PUMP_BATCH_MAX 64

int64_t sk_daemon__mono_of(int64_t wall_ms)
{
    int64_t wall = sk_now_ms(), mono = sk_mono_ms();
    return mono + (wall_ms - wall);
}

static sk_runrt_t *run_alloc(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *rec)
{
    sk_runrt_t *r = sk_xcalloc(1, sizeof(*r));
    r->d = d;
    r->job = j;
    r->snap = sk_config_ref(d->config);
    r->cfg = j->cfg;
    r->id = rec->id;
    r->attempt = rec->attempt;
    r->trigger = rec->trigger;
    r->scheduled_at = rec->scheduled_at;
    r->event = rec->event ? sk_xstrdup(rec->event) : NULL;
    /* Its wait is converted once, now: from here on only the monotonic
     * clock counts it down (the stored queued_at is for a restart). */
    r->due_mono = sk_daemon__mono_of(rec->queued_at);
    return r;
}

/*
 * d->waiting is a FIFO with a tail pointer and a count, so that queueing
 * 10,000 fires is linear, not quadratic, and nothing walks the list just to
 * count it. Every change to the list goes through these three.
 */
static void enqueue(sk_daemon_t *d, sk_runrt_t *r)
{
    if (!d->waiting_tail || !d->waiting)
        d->waiting_tail = &d->waiting;
    r->next = NULL;
    *d->waiting_tail = r;
    d->waiting_tail = &r->next;
    d->nwaiting++;
    r->later = r->due_mono > sk_mono_ms();
    d->nlater += r->later;
}

/* Takes *pp (a link of d->waiting) off the list. */
static void waiting_take(sk_daemon_t *d, sk_runrt_t **pp)
{
    sk_runrt_t *r = *pp;
    *pp = r->next;
    if (!r->next)
        d->waiting_tail = pp;
    r->next = NULL;
    d->nwaiting--;
    d->nlater -= r->later;
    r->later = false;
}

static void waiting_unlink(sk_daemon_t *d, sk_runrt_t *r)
{
    for (sk_runrt_t **pp = &d->waiting; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            waiting_take(d, pp);
            return;
        }
    }
}

sk_runrt_t *sk_daemon__run_new(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *rec)
{
    sk_runrt_t *r = run_alloc(d, j, rec);
    r->is_workflow = j->cfg && j->cfg->nsteps > 0;
    sk_params_build(j->cfg, rec->params, &r->params);
    enqueue(d, r);
    j->waiting++;
    return r;
}

sk_runrt_t *sk_daemon__step_new(sk_daemon_t *d, sk_wfrt_t *w, size_t step, const sk_run_t *rec)
{
    sk_runrt_t *r = run_alloc(d, w->job, rec);
    sk_config_unref(r->snap);
    r->snap = sk_config_ref(w->snap);
    r->cfg = w->cfg;
    r->wf = w;
    r->step_idx = step;
    r->step = &w->cfg->steps[step];
    w->queued++;
    w->step_attempt[step] = rec->attempt;
    w->states[step] = SK_DAG_ACTIVE;
    enqueue(d, r);
    return r;
}

void sk_daemon__run_free(sk_runrt_t *r)
{
    sk_config_unref(r->snap);
    sk_params_release(&r->params);
    free(r->log_path);
    free(r->remote_reason);
    free(r->event);
    free(r);
}

static void run_free(sk_runrt_t *r)
{
    sk_daemon__run_free(r);
}

static void unlink_from(sk_runrt_t **list, sk_runrt_t *r)
{
    for (sk_runrt_t **pp = list; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            r->next = NULL;
            return;
        }
    }
}

/* r, taken off d->waiting, runs somewhere in the cluster now. */
static void remote_running(sk_daemon_t *d, sk_runrt_t *r)
{
    r->remote = true;
    if (r->wf)
        r->wf->running++;
    else
        r->job->active++;
    if (!r->started_ms)
        r->started_ms = sk_now_ms();
    r->started_mono = sk_daemon__mono_of(r->started_ms);
    d->nrunning++;
    r->next = d->running;
    d->running = r;
}

sk_runrt_t *sk_daemon__run_adopt(sk_daemon_t *d, sk_jobrt_t *j, sk_wfrt_t *w, size_t step,
                                 const sk_run_t *row)
{
    sk_runrt_t *r = w ? sk_daemon__step_new(d, w, step, row) : sk_daemon__run_new(d, j, row);
    waiting_unlink(d, r);
    if (w)
        w->queued--;
    else
        j->waiting--;
    r->started_ms = row->started_at;
    remote_running(d, r);
    return r;
}

static void on_exit(sk_proc_t *p, const sk_proc_result_t *res, void *data);

void sk_daemon__run_remote_ended(sk_daemon_t *d, sk_runrt_t *r, const sk_run_t *row)
{
    sk_proc_result_t res;
    memset(&res, 0, sizeof(res));
    res.end = row->status == SK_RUN_SUCCEEDED || row->status == SK_RUN_FAILED ? SK_PROC_EXITED
              : row->status == SK_RUN_TIMED_OUT                               ? SK_PROC_TIMED_OUT
                                                                              : SK_PROC_KILLED;
    res.exit_code = row->exit_code;
    res.signal = row->signal;
    res.started_ms = row->started_at;
    res.ended_ms = row->ended_at;
    /* Its node measured it on its own clocks; the row holds only instants. */
    res.duration_ms =
        row->started_at && row->ended_at > row->started_at ? row->ended_at - row->started_at : 0;
    r->remote_status = row->status;
    free(r->remote_reason);
    r->remote_reason = row->reason ? sk_xstrdup(row->reason) : NULL;
    if (row->log_path && !r->log_path)
        r->log_path = sk_xstrdup(row->log_path);
    (void)d;
    on_exit(NULL, &res, r);
}

static void on_exit(sk_proc_t *p, const sk_proc_result_t *res, void *data)
{
    (void)p;
    sk_runrt_t *r = data;
    sk_daemon_t *d = r->d;
    r->result = *res;
    r->proc = NULL;
    unlink_from(&d->running, r);
    if (r->wf)
        r->wf->running--;
    else
        r->job->active--;
    d->nrunning--;
    r->next = d->finished;
    d->finished = r;
    uv_timer_start(&d->flush, sk_daemon__on_flush, 0, 0);
}

static void finish_early(sk_daemon_t *d, sk_runrt_t *r, const char *reason)
{
    sk_exec_failed(&r->result, reason);
    r->next = d->finished;
    d->finished = r;
    uv_timer_start(&d->flush, sk_daemon__on_flush, 0, 0);
}

/* r leaves the waiting runs' counts (its job's, or its workflow's). */
static void uncount_waiting(sk_runrt_t *r)
{
    if (!r->wf)
        r->job->waiting--;
    else
        r->wf->queued--;
}

static void count_waiting(sk_runrt_t *r)
{
    if (!r->wf)
        r->job->waiting++;
    else
        r->wf->queued++;
}

/* Cluster: some node's worker claims r (daemon_worker.c). */
static void dispatch_run(sk_daemon_t *d, sk_runrt_t *r, bool *in_tx)
{
    sk_err_t err;
    sk_err_clear(&err);
    uncount_waiting(r);
    if (!*in_tx && d->store->ops->begin(d->store, NULL) == 0)
        *in_tx = true;
    if (sk_daemon__dispatch(d, r, &err) < 0) {
        /* Not the run's failure: it waits, and the store (or the next
         * leader, if this node lost the lead) decides. */
        sk_log(SK_LOG_ERROR,
               "event=store_error job=%s run=%" PRId64 " msg=\"%s\" "
               "note=\"dispatching again in 1 s\"",
               r->job->name, r->id, err.msg);
        r->due_mono = sk_mono_ms() + 1000;
        count_waiting(r);
        enqueue(d, r);
        return;
    }
    remote_running(d, r);
    d->dispatched = true;
}

/*
 * A local run starts in two steps. First its start is recorded (running,
 * pid 0, its log's path) in the pump's transaction; only once that is
 * committed does its process start (start_proc), and the pids follow in a
 * transaction that does not wait for the disk (run_pids). So a run the
 * store calls queued never had a process, and one it calls running may
 * have: recovery kills what is left of it (by pid, else by environment) and
 * its job's on_interrupt decides. A store error here fails the pump's
 * batch: its runs wait and try again (requeue_front).
 */
static void record_start(sk_daemon_t *d, sk_runrt_t *r, bool *in_tx)
{
    sk_err_t err;
    sk_err_clear(&err);
    char path[4096];
    uncount_waiting(r);
    if (r->start_recorded)
        return; /* with its fire, a moment ago */
    if (!*in_tx && d->store->ops->begin(d->store, NULL) == 0)
        *in_tx = true;
    sk_exec_log_path(d->state_dir, r->cfg->name, r->id, path, sizeof(path));
    if (d->store->ops->run_start(d->store, r->id, sk_now_ms(), 0, path, &err) < 0)
        sk_log(SK_LOG_ERROR, "event=store_error job=%s run=%" PRId64 " msg=\"%s\"", r->job->name,
               r->id, err.msg);
}

/* Puts chain (runs linked by next, in order, their start not recorded) back
 * at the head of d->waiting, due again at due_mono. */
static void requeue_front(sk_daemon_t *d, sk_runrt_t *chain, int64_t due_mono)
{
    sk_runrt_t *last = NULL;
    for (sk_runrt_t *r = chain; r; r = r->next) {
        count_waiting(r);
        r->due_mono = due_mono;
        r->later = true;
        d->nlater++;
        d->nwaiting++;
        last = r;
    }
    if (!last)
        return;
    last->next = d->waiting;
    if (!d->waiting)
        d->waiting_tail = &last->next;
    d->waiting = chain;
}

/* Starts r's process, its start recorded already. Returns its pid, or 0
 * when it could not start (r then goes to d->finished as failed). */
static int start_proc(sk_daemon_t *d, sk_runrt_t *r)
{
    const sk_job_cfg_t *cfg = r->cfg;
    sk_err_t err;
    sk_err_clear(&err);
    sk_kv_t *extra = NULL;
    size_t nextra = 0;
    sk_daemon__run_extra_env(d, r, &extra, &nextra);
    const sk_params_t *params = r->wf ? &r->wf->params : &r->params;
    sk_exec_spec_t spec = {.cfg = cfg,
                           .step = r->step,
                           .run_id = r->id,
                           .attempt = r->attempt,
                           .scheduled_at = r->scheduled_at,
                           .params = params->kv,
                           .nparams = params->n,
                           .extra = extra,
                           .nextra = nextra,
                           .state_dir = d->state_dir};
    int rc = sk_exec_start(d->loop, &spec, on_exit, r, &r->log_path, &r->proc, &err);
    sk_kv_free(extra, nextra);
    if (rc < 0) {
        sk_log(SK_LOG_ERROR, "event=failed job=%s%s%s run=%" PRId64 " attempt=%d reason=\"%s\"",
               r->job->name, r->step ? " step=" : "", r->step ? r->step->name : "", r->id,
               r->attempt, err.msg);
        finish_early(d, r, err.msg);
        return 0;
    }
    if (r->wf)
        r->wf->running++;
    else
        r->job->active++;
    r->started_ms = sk_now_ms();
    r->started_mono = sk_mono_ms();
    if (r->trigger == SK_TRIG_SCHEDULE && r->attempt == 1 && !r->wf)
        sk_metrics_fire(d->metrics, r->job->metrics,
                        (double)(r->started_ms - r->scheduled_at) / 1000.0);
    d->nrunning++;
    r->next = d->running;
    d->running = r;
    char sched[40];
    sk_format_utc_ms(r->scheduled_at, sched, sizeof(sched));
    sk_log(SK_LOG_INFO,
           "event=started job=%s%s%s run=%" PRId64 " attempt=%d trigger=%s scheduled=%s pid=%d",
           r->job->name, r->step ? " step=" : "", r->step ? r->step->name : "", r->id, r->attempt,
           sk_trigger_str(r->trigger), sched, sk_proc_pid(r->proc));
    return sk_proc_pid(r->proc);
}

/* Starts the processes of chain (their starts committed), then records
 * their pids. */
static void start_procs(sk_daemon_t *d, sk_runrt_t *chain, size_t n)
{
    sk_run_pid_t *pids = sk_xcalloc(n ? n : 1, sizeof(*pids));
    size_t npids = 0;
    for (sk_runrt_t *r = chain, *next; r; r = next) {
        next = r->next;
        int pid = start_proc(d, r);
        if (pid > 0)
            pids[npids++] = (sk_run_pid_t){r->id, pid};
    }
    sk_err_t err;
    sk_err_clear(&err);
    if (npids && d->store->ops->run_pids(d->store, pids, npids, &err) < 0)
        sk_log(SK_LOG_ERROR,
               "event=store_error msg=\"%s\" note=\"the runs go on; after a crash their "
               "processes are found by their environment\"",
               err.msg);
    free(pids);
}

void sk_daemon__pump(sk_daemon_t *d, int64_t now)
{
    bool again = true;
    (void)now; /* the caller's wall clock: waits are counted on the monotonic one */
    int64_t slice_end = sk_mono_ms() + PUMP_SLICE_MS;
    int started = 0;
    d->pump_deferred = false;
    while (again && !d->stopping && !d->pump_deferred) {
        bool in_tx = false, started_wf = false;
        sk_runrt_t **pp = &d->waiting;
        sk_runrt_t *batch = NULL, **batch_tail = &batch;
        size_t nbatch = 0;
        int64_t mono = sk_mono_ms();
        again = false;
        while (*pp && !d->stopping) {
            sk_runrt_t *r = *pp;
            bool wait;
            if (r->wf) /* a step: its workflow's own limit */
                wait = r->wf->running + r->wf->starting >= r->cfg->step_parallel;
            else
                wait = (r->job->active > 0 || r->job->starting > 0) &&
                       r->cfg->overlap != SK_OVERLAP_ALLOW;
            if (!r->is_workflow && d->nrunning + (int)nbatch >= d->config->max_parallel)
                break;
            if (r->due_mono > mono || wait) {
                pp = &r->next;
                continue;
            }
            if (nbatch >= PUMP_BATCH_MAX) {
                again = true; /* after this batch's spawns, if the slice allows */
                break;
            }
            if (started > 0 && sk_mono_ms() >= slice_end) {
                /* The rest in the next loop turn, after what else is ready
                 * (API calls, exits, output) had its turn. */
                d->pump_deferred = true;
                break;
            }
            started++;
            waiting_take(d, pp);
            if (r->is_workflow) {
                if (!in_tx && d->store->ops->begin(d->store, NULL) == 0)
                    in_tx = true;
                r->job->waiting--;
                sk_daemon__wf_start(d, r); /* takes r; no process of its own */
                started_wf = true;
                continue;
            }
            if (d->cluster) {
                dispatch_run(d, r, &in_tx);
                continue;
            }
            record_start(d, r, &in_tx);
            if (r->wf)
                r->wf->starting++;
            else
                r->job->starting++;
            *batch_tail = r;
            batch_tail = &r->next;
            nbatch++;
        }
        bool committed = !in_tx;
        if (in_tx) {
            sk_err_t err;
            sk_err_clear(&err);
            if (d->dispatched && d->store->ops->cluster)
                d->store->ops->cluster->wake_others(d->store, SK_WAKE_DISPATCHED, NULL);
            d->dispatched = false;
            if (d->store->ops->commit(d->store, &err) < 0)
                sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"%s", err.msg,
                       nbatch ? " note=\"nothing starts without its record; trying again in 1 s\""
                              : "");
            else
                committed = true;
            if (d->cluster)
                sk_daemon__work_kick(d, SK_WORK_CLAIM); /* this node takes its share */
        }
        for (sk_runrt_t *r = batch; r; r = r->next) {
            if (r->wf)
                r->wf->starting--;
            else
                r->job->starting--;
        }
        if (batch && committed) {
            start_procs(d, batch, nbatch);
            if (again && sk_mono_ms() >= slice_end)
                d->pump_deferred = true; /* the rest in the next loop turn */
        } else if (batch) {
            requeue_front(d, batch, sk_mono_ms() + 1000);
            d->pump_deferred = false;
            break;
        }
        if (started_wf) {
            /* Their first steps are recorded in a transaction of their own, and
             * start only once it is committed. */
            sk_daemon__wf_kick(d);
            again = true;
        }
    }
    if (d->pump_deferred)
        uv_timer_start(&d->tick, sk_daemon__on_tick, 0, 0); /* sk_daemon__arm keeps it at 0 */
    sk_metrics_gauges(d->metrics, d->nrunning, d->nwaiting, (int)d->config->njobs);
}

int64_t sk_daemon__earliest_wait(sk_daemon_t *d)
{
    int64_t best = 0, now = sk_mono_ms();
    /* Only runs queued with a wait can be waiting for time: none during a
     * burst of fires due now, and then this walk (after every pump) is
     * skipped. */
    for (sk_runrt_t *r = d->nlater ? d->waiting : NULL; r; r = r->next)
        if (r->due_mono > now && (!best || r->due_mono < best))
            best = r->due_mono;
    /* `late`: a run still going after its job's expected duration. */
    for (sk_runrt_t *r = d->running; r; r = r->next) {
        int64_t exp = r->cfg ? r->cfg->expected_duration_ms : 0;
        if (!exp || r->late_alerted || !r->started_ms)
            continue;
        int64_t at = SK_MAX(r->started_mono + exp, now + 1);
        if (!best || at < best)
            best = at;
    }
    return best;
}

void sk_daemon__check_late(sk_daemon_t *d, int64_t mono)
{
    for (sk_runrt_t *r = d->running; r; r = r->next) {
        int64_t exp = r->cfg ? r->cfg->expected_duration_ms : 0;
        if (!exp || r->late_alerted || !r->started_ms || mono < r->started_mono + exp)
            continue;
        r->late_alerted = true;
        sk_log(SK_LOG_WARN, "event=late job=%s run=%" PRId64 " running_ms=%" PRId64, r->job->name,
               r->id, mono - r->started_mono);
        sk_daemon__alert_late(d, r);
    }
}

static sk_run_status_t outcome(const sk_runrt_t *r, const char **reason)
{
    const sk_proc_result_t *res = &r->result;
    if (r->remote && res->end != SK_PROC_SPAWN_FAILED) {
        *reason = r->remote_reason;
        return r->remote_status;
    }
    return sk_exec_status(res, r->stop, NULL, reason);
}

static bool retryable(const sk_runrt_t *r, sk_run_status_t st)
{
    if (r->stop != SK_STOP_NONE || r->once || !r->cfg || !r->job->cfg)
        return false; /* a removed job is not retried, a cancelled run neither */
    int retries = r->step ? r->step->retries : r->cfg->retries;
    if (st == SK_RUN_INTERRUPTED && r->cfg->on_interrupt == SK_ON_INTERRUPT_FAIL)
        return false; /* it may have done its work: the job says never again */
    if (st == SK_RUN_INTERRUPTED && r->remote && r->wf)
        return true; /* as at a restart: a stop is not the step's failure */
    /* In a cluster, a run its node could not finish (it died, or stopped)
     * follows its retry policy: another node may take it. */
    return (st == SK_RUN_FAILED || st == SK_RUN_TIMED_OUT || st == SK_RUN_KILLED ||
            (st == SK_RUN_INTERRUPTED && r->remote)) &&
           r->attempt <= retries;
}

static int64_t retry_delay(const sk_runrt_t *r)
{
    int64_t delay = r->step ? r->step->retry_delay_ms : r->cfg->retry_delay_ms;
    for (int i = 1; i < r->attempt && delay < RETRY_CAP_MS; i++)
        delay *= 2;
    return SK_MIN(delay, RETRY_CAP_MS);
}

static void remove_log(const char *path, void *data)
{
    (void)data;
    if (path)
        unlink(path);
    sk_daemon__event_file_unlink(path); /* a webhook's payload beside it */
}

void sk_daemon__retry_rec(sk_run_t *rec, const char *job, const char *step, int64_t parent_id,
                          int prev_attempt, int64_t scheduled_at, int64_t due)
{
    memset(rec, 0, sizeof(*rec));
    rec->job = (char *)job;
    rec->step = (char *)step;
    rec->parent_id = parent_id;
    rec->status = SK_RUN_QUEUED;
    rec->trigger = SK_TRIG_RETRY;
    rec->attempt = prev_attempt + 1;
    rec->scheduled_at = scheduled_at;
    rec->queued_at = due; /* also its "not before" */
    rec->exit_code = -1;
}

void sk_daemon__prune(sk_daemon_t *d, sk_jobrt_t *j, const sk_job_cfg_t *cfg)
{
    if (cfg->keep_runs <= 0 && cfg->keep_days_ms <= 0)
        return;
    sk_err_t err;
    sk_err_clear(&err);
    int64_t cutoff = cfg->keep_days_ms > 0 ? sk_now_ms() - cfg->keep_days_ms : 0;
    if (d->store->ops->prune(d->store, j->name, (size_t)cfg->keep_runs, cutoff, remove_log, NULL,
                             &err) < 0)
        sk_log(SK_LOG_WARN, "event=prune_failed job=%s msg=\"%s\"", j->name, err.msg);
}

typedef struct {
    sk_runrt_t *r;
    sk_run_t rec;
} retry_t;

/* Saved workflow states, to undo a flush whose transaction failed. */
typedef struct {
    sk_wfrt_t *w;
    sk_dag_state_t *states;
    int *attempts;
} wf_snap_t;

/* How long r ran, in seconds, from the monotonic clock; -1 when it never
 * started (metrics count it without a duration). */
static double run_duration_s(const sk_runrt_t *r)
{
    if (!r->result.started_ms || !r->result.ended_ms)
        return -1;
    return (double)r->result.duration_ms / 1000.0;
}

static void log_finished(const sk_runrt_t *r, sk_run_status_t st, const char *reason)
{
    int64_t dur = r->result.duration_ms;
    sk_log(st == SK_RUN_SUCCEEDED ? SK_LOG_INFO : SK_LOG_WARN,
           "event=finished job=%s%s%s run=%" PRId64 " attempt=%d status=%s exit=%d signal=%d "
           "duration_ms=%" PRId64 "%s%s%s",
           r->job->name, r->step ? " step=" : "", r->step ? r->step->name : "", r->id, r->attempt,
           sk_run_status_str(st), r->result.exit_code, r->result.signal, dur < 0 ? 0 : dur,
           reason ? " reason=\"" : "", reason ? reason : "", reason ? "\"" : "");
}

/* One flush: the ended runs it records in one transaction, and what it
 * must undo if that transaction fails. */
typedef struct {
    sk_runrt_t *list; /* the ended runs */
    retry_t *retries; /* the retries inserted */
    size_t nretry, cap;
    wf_snap_t *snaps; /* workflows whose steps ended, as they were */
    size_t nsnap;
    sk_wf_action_t *acts; /* what the workflows do next */
    size_t nacts;
    int64_t now;
} flush_t;

/* Workflows whose steps ended: keep their state to undo a failed write. */
static void flush_snapshot(flush_t *f)
{
    for (sk_runrt_t *r = f->list; r; r = r->next) {
        if (!r->wf)
            continue;
        bool seen = false;
        for (size_t i = 0; i < f->nsnap && !seen; i++)
            seen = f->snaps[i].w == r->wf;
        if (seen)
            continue;
        f->snaps = sk_xrealloc(f->snaps, (f->nsnap + 1) * sizeof(*f->snaps));
        size_t n = r->wf->cfg->nsteps;
        wf_snap_t *sn = &f->snaps[f->nsnap++];
        sn->w = r->wf;
        sn->states = sk_xmalloc(n * sizeof(sk_dag_state_t));
        sn->attempts = sk_xmalloc(n * sizeof(int));
        memcpy(sn->states, r->wf->states, n * sizeof(sk_dag_state_t));
        memcpy(sn->attempts, r->wf->step_attempt, n * sizeof(int));
    }
}

/* Inserts r's next attempt (in the flush's transaction). */
static int flush_retry(sk_daemon_t *d, flush_t *f, sk_runrt_t *r, sk_err_t *err)
{
    if (f->nretry == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->retries = sk_xrealloc(f->retries, f->cap * sizeof(*f->retries));
    }
    retry_t *rt = &f->retries[f->nretry];
    rt->r = r;
    sk_daemon__retry_rec(&rt->rec, r->job->name, r->step ? r->step->name : NULL,
                         r->wf ? r->wf->id : 0, r->attempt, r->scheduled_at,
                         f->now + retry_delay(r));
    if (!r->wf && r->params.n)
        rt->rec.params = sk_params_json(&r->params);
    rt->rec.event = r->event; /* a retry of a file's run is about the same file */
    int rc = d->store->ops->run_insert(d->store, &rt->rec, err);
    if (rc == 0) {
        f->nretry++;
        if (r->wf)
            r->wf->step_attempt[r->step_idx] = rt->rec.attempt;
    } else {
        free(rt->rec.params);
    }
    return rc;
}

/* Records one ended run (in the flush's transaction): its outcome, its
 * settling when remote, its outputs, its retry; then what follows in
 * memory. */
static int flush_record_one(sk_daemon_t *d, flush_t *f, sk_runrt_t *r, sk_err_t *err)
{
    const sk_store_ops_t *ops = d->store->ops;
    const char *reason;
    sk_run_status_t st = outcome(r, &reason);
    if (r->stop == SK_STOP_SHUTDOWN && d->exit_code == SK_EXIT_LOST_LEAD)
        return 0; /* left running: the next leader marks it interrupted and retries it */
    if (r->remote && d->stopping)
        return 0; /* left unsettled: the next leader takes in its outcome */
    int rc = ops->run_finish(d->store, r->id, st, r->result.ended_ms ? r->result.ended_ms : f->now,
                             r->result.exit_code, r->result.signal, reason, err);
    if (rc == -EALREADY)
        rc = 0; /* recorded by an earlier flush whose commit we saw fail, or remote */
    if (rc == 0 && r->remote) {
        rc = ops->cluster->run_settle(d->store, r->id, err);
        if (rc == -EALREADY) {
            /* Two leaders for a moment: the other one took it in. */
            r->settled_elsewhere = true;
            return 0;
        }
    }
    if (rc == 0 && r->wf)
        rc = sk_daemon__wf_collect_outputs(d, r, err);
    if (rc < 0)
        return rc;
    if (retryable(r, st) && !d->stopping) {
        rc = flush_retry(d, f, r, err);
    } else if (r->wf && !d->stopping) {
        sk_daemon__wf_step_final(d, r, st);
    } else if (!r->wf && r->stop != SK_STOP_SHUTDOWN) {
        r->prev_outcome = r->job->last_outcome;
        r->job->last_outcome = (int)st;
    }
    if (!r->wf && r->stop != SK_STOP_SHUTDOWN)
        sk_metrics_run_ended(d->metrics, r->job->metrics, sk_run_status_str(st), run_duration_s(r));
    return rc;
}

/* Records every ended run, and what the workflows do next, in one
 * transaction. */
static int flush_record(sk_daemon_t *d, flush_t *f, sk_err_t *err)
{
    const sk_store_ops_t *ops = d->store->ops;
    int rc = ops->begin(d->store, err);
    for (sk_runrt_t *r = f->list; r && rc == 0; r = r->next)
        rc = flush_record_one(d, f, r, err);
    if (rc == 0 && !d->stopping)
        rc = sk_daemon__wf_advance_all(d, &f->acts, &f->nacts, err);
    if (rc == 0)
        rc = ops->commit(d->store, err);
    return rc;
}

/* The transaction failed: undo what the flush changed in memory and keep
 * the outcomes to try again in a second. None is ever dropped, not even to
 * stop: a stop waits for them (maybe_exit sees d->finished), since a run
 * whose end is lost would be ended as interrupted at the next start, and
 * maybe run again. Only a kill ends the daemon before, and it says so
 * every few seconds. */
static void flush_undo(sk_daemon_t *d, flush_t *f, const sk_err_t *err)
{
    d->store->ops->rollback(d->store, NULL);
    sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\" note=\"outcomes kept; retrying\"", err->msg);
    for (size_t i = 0; i < f->nsnap; i++) {
        size_t n = f->snaps[i].w->cfg->nsteps;
        memcpy(f->snaps[i].w->states, f->snaps[i].states, n * sizeof(sk_dag_state_t));
        memcpy(f->snaps[i].w->step_attempt, f->snaps[i].attempts, n * sizeof(int));
        f->snaps[i].w->done = false; /* its end was not recorded either */
        f->snaps[i].w->dirty = true;
    }
    for (size_t i = 0; i < f->nretry; i++)
        free(f->retries[i].rec.params);
    for (size_t i = 0; i < f->nacts; i++)
        free(f->acts[i].rec.params);
    free(f->acts);
    size_t held;
    sk_runrt_t *tail = f->list;
    for (held = 1; tail->next; held++)
        tail = tail->next;
    tail->next = d->finished;
    d->finished = f->list;
    int64_t mono = sk_mono_ms();
    if (d->stopping && (!d->unwritten_said || mono - d->unwritten_said >= 5000)) {
        d->unwritten_said = mono;
        sk_log(SK_LOG_ERROR,
               "event=outcomes_unwritten count=%zu msg=\"not exiting while the store refuses "
               "how these runs ended; retrying every second (kill -9 gives up: the next "
               "start ends them by their job's on_interrupt)\"",
               held);
    }
    uv_timer_start(&d->flush, sk_daemon__on_flush, 1000, 0);
}

/* Recorded: log, alert and chain each run, prune its job's history. */
static void flush_report(sk_daemon_t *d, flush_t *f)
{
    for (sk_runrt_t *r = f->list; r; r = r->next) {
        const char *reason;
        sk_run_status_t st = outcome(r, &reason);
        if (r->settled_elsewhere)
            continue;
        log_finished(r, st, reason);
        bool retried = false;
        for (size_t i = 0; i < f->nretry && !retried; i++)
            retried = f->retries[i].r == r;
        if (!retried && r->stop != SK_STOP_SHUTDOWN && r->stop != SK_STOP_CANCEL && !d->stopping) {
            const sk_alert_cfg_t *acfg =
                r->wf ? (r->step->alert != r->cfg->alert ? r->step->alert : NULL) : r->cfg->alert;
            sk_alert_outcome_t o = {
                .step = r->step ? r->step->name : NULL,
                .run_id = r->id,
                .status = st,
                .prev_outcome = r->wf ? -1 : r->prev_outcome,
                .exit_code = r->result.exit_code,
                .signal = r->result.signal,
                .attempt = r->attempt,
                .max_attempts = 1 + (r->step ? r->step->retries : r->cfg->retries),
                .scheduled_at = r->scheduled_at,
                .started_at = r->result.started_ms,
                .ended_at = r->result.ended_ms,
                .reason = reason,
                .log_path = r->log_path,
            };
            sk_daemon__alert_outcome(d, r->job, r->snap, acfg, &o);
            if (!r->wf)
                sk_daemon__after(d, r->job, st);
        }
        if (!r->wf && r->cfg)
            sk_daemon__prune(d, r->job, r->cfg);
    }
}

/* Recorded: queue the retries the flush inserted. */
static void flush_queue_retries(sk_daemon_t *d, flush_t *f)
{
    for (size_t i = 0; i < f->nretry; i++) {
        sk_runrt_t *r = f->retries[i].r;
        char at[40];
        sk_format_utc_ms(f->retries[i].rec.queued_at, at, sizeof(at));
        sk_log(SK_LOG_INFO, "event=retry_scheduled job=%s%s%s run=%" PRId64 " attempt=%d at=%s",
               r->job->name, r->step ? " step=" : "", r->step ? r->step->name : "",
               f->retries[i].rec.id, f->retries[i].rec.attempt, at);
        if (r->wf)
            sk_daemon__step_new(d, r->wf, r->step_idx, &f->retries[i].rec);
        else if (r->job->cfg)
            sk_daemon__run_new(d, r->job, &f->retries[i].rec);
        free(f->retries[i].rec.params);
    }
}

/*
 * The runs that ended since the last flush: record them in one transaction
 * (outcomes, retries, workflow steps), then report and chain them. A failed
 * transaction keeps them for the next flush (flush_undo).
 */
void sk_daemon__on_flush(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    flush_t f = {.list = d->finished, .now = sk_now_ms()};
    sk_err_t err;

    if (!f.list)
        return;
    d->finished = NULL;
    sk_err_clear(&err);
    if (d->cluster && !d->leading) {
        /* Lost the lead meanwhile: the next leader takes these in. */
        for (sk_runrt_t *r = f.list, *next; r; r = next) {
            next = r->next;
            run_free(r);
        }
        sk_daemon__maybe_exit(d);
        return;
    }
    flush_snapshot(&f);
    if (flush_record(d, &f, &err) < 0) {
        flush_undo(d, &f, &err);
    } else {
        if (d->store_backoff) {
            sk_log(SK_LOG_INFO, "event=store_recovered");
            d->store_backoff = 0;
        }
        flush_report(d, &f);
        flush_queue_retries(d, &f);
        sk_daemon__wf_apply(d, f.acts, f.nacts);
        for (sk_runrt_t *r = f.list, *next; r; r = next) {
            next = r->next;
            run_free(r);
        }
        sk_daemon__pump(d, f.now);
        sk_daemon__arm(d);
        sk_daemon__maybe_exit(d);
    }
    for (size_t i = 0; i < f.nsnap; i++) {
        free(f.snaps[i].states);
        free(f.snaps[i].attempts);
    }
    free(f.snaps);
    free(f.retries);
}

/* Cluster: this node stops leading or stops: the runs it dispatched go on
 * on their nodes, and the next leader takes them up from the store. */
static void drop_remote(sk_daemon_t *d)
{
    for (sk_runrt_t **pp = &d->running; *pp;) {
        sk_runrt_t *r = *pp;
        if (!r->remote) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (r->wf)
            r->wf->running--;
        else
            r->job->active--;
        d->nrunning--;
        run_free(r);
    }
    for (sk_runrt_t **pp = &d->finished; *pp;) {
        sk_runrt_t *r = *pp;
        if (!r->remote && !d->cluster) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        run_free(r);
    }
}

/* Waiting runs stay queued in the store: the next start (or leader)
 * takes them up. */
static void drop_waiting(sk_daemon_t *d)
{
    for (sk_runrt_t *r = d->waiting, *next; r; r = next) {
        next = r->next;
        if (r->wf)
            r->wf->queued--;
        else
            r->job->waiting--;
        run_free(r);
    }
    d->waiting = NULL;
    d->waiting_tail = &d->waiting;
    d->nwaiting = 0;
    d->nlater = 0;
}

void sk_daemon__release(sk_daemon_t *d)
{
    d->adopted = false;
    drop_remote(d);
    drop_waiting(d);
    sk_daemon__wf_free_all(d);
}

void sk_daemon__stop_all(sk_daemon_t *d, bool hard)
{
    if (d->cluster) {
        drop_remote(d);
        sk_daemon__work_stop_all(d, hard, "shutdown");
    }
    for (sk_runrt_t *r = d->running; r; r = r->next) {
        r->stop = SK_STOP_SHUTDOWN; /* whatever stopped it before: it is interrupted */
        if (!r->proc)
            continue;
        if (hard)
            kill(-sk_proc_pid(r->proc), SIGKILL);
        else
            sk_proc_stop(r->proc);
    }
    drop_waiting(d);
}

bool sk_daemon__end_leftover(const sk_daemon_t *d, const sk_run_t *row, const char **reason)
{
    static const char killed[] = "sked stopped while it ran; its processes were killed at restart";
    if (row->status == SK_RUN_QUEUED) {
        char path[4096];
        sk_exec_log_path(d->state_dir, row->job, row->id, path, sizeof(path));
        if (access(path, F_OK) != 0)
            return false; /* never started: the log comes before the process */
        *reason = sk_exec_kill_run_processes(d->state_dir, row->id) > 0
                      ? "sked stopped after starting it, before recording the start; its "
                        "processes were killed at restart"
                      : "sked stopped after starting it, before recording the start";
        return true;
    }
    *reason = "sked stopped while it ran";
    if (row->pid > 0 && sk_exec_is_run_process(row->pid, d->state_dir, row->id)) {
        /* It outlived its daemon: end it and its group now. */
        kill(-row->pid, SIGKILL);
        kill(row->pid, SIGKILL);
        *reason = killed;
    } else if (row->pid <= 0 && sk_exec_kill_run_processes(d->state_dir, row->id) > 0) {
        *reason = killed; /* started, its pid not yet recorded */
    }
    return true;
}

static void recover_one(sk_daemon_t *d, sk_run_t *run, int64_t now)
{
    const sk_store_ops_t *ops = d->store->ops;
    sk_err_t err;
    sk_err_clear(&err);
    sk_jobrt_t *j = sk_daemon__job(d, run->job);
    if (run->step || run->parent_id)
        return; /* steps are resumed with their workflow run */
    if (run->dispatched && !run->settled)
        return; /* in a node's hands: adopted (sk_daemon__adopt) */
    if (j && j->cfg && j->cfg->nsteps > 0) {
        sk_daemon__wf_recover(d, j, run, now);
        return;
    }
    /* A workflow run of a job that is gone or no longer a workflow: end its
     * steps with it. (A plain run has no children: nothing happens.) */
    sk_daemon__wf_end_children(d, run->id, now, "its workflow is no longer in the configuration");
    /* A queued run with a log was started, but sked died (or the store
     * failed) before its start was recorded: it may have run, so it is
     * interrupted, not started again. */
    const char *reason = "its job is no longer in the configuration";
    bool started = sk_daemon__end_leftover(d, run, &reason);
    if (run->status == SK_RUN_QUEUED && !started && j && j->cfg) {
        sk_daemon__run_new(d, j, run);
        return;
    }
    if (ops->run_finish(d->store, run->id, SK_RUN_INTERRUPTED, now, -1, 0, reason, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        return;
    }
    /* A run that may have done its work, its end never recorded: run again
     * only when the job allows it (on_interrupt: retry, the default, within
     * its retries), and never silently: logged and alerted either way. */
    bool again = started && j && j->cfg && j->cfg->on_interrupt == SK_ON_INTERRUPT_RETRY &&
                 run->attempt <= j->cfg->retries;
    sk_run_t rec;
    memset(&rec, 0, sizeof(rec));
    if (again) {
        sk_daemon__retry_rec(&rec, j->name, NULL, 0, run->attempt, run->scheduled_at, now);
        rec.params = run->params;
        if (ops->run_insert(d->store, &rec, &err) < 0) {
            sk_log(SK_LOG_ERROR, "event=store_error job=%s msg=\"%s\"", j->name, err.msg);
            again = false;
        }
    }
    char note[512];
    if (again)
        sk_snprintf(note, sizeof(note), "%s; run again as run %" PRId64 " (on_interrupt: retry)",
                    reason, rec.id);
    else if (started && j && j->cfg && j->cfg->on_interrupt == SK_ON_INTERRUPT_FAIL)
        sk_snprintf(note, sizeof(note), "%s; not run again (on_interrupt: fail)", reason);
    else
        sk_snprintf(note, sizeof(note), "%s", reason);
    sk_log(SK_LOG_WARN, "event=interrupted job=%s run=%" PRId64 " attempt=%d reason=\"%s\"",
           run->job, run->id, run->attempt, note);
    if (again) {
        sk_log(SK_LOG_WARN,
               "event=retry_scheduled job=%s run=%" PRId64 " attempt=%d msg=\"run %" PRId64
               " may have finished before sked lost it; running it again (on_interrupt: "
               "retry)\"",
               j->name, rec.id, rec.attempt, run->id);
        sk_daemon__run_new(d, j, &rec);
    }
    if (started && j && j->cfg) {
        sk_alert_outcome_t o = {
            .run_id = run->id,
            .status = SK_RUN_INTERRUPTED,
            .prev_outcome = j->last_outcome,
            .exit_code = -1,
            .attempt = run->attempt,
            .max_attempts = 1 + j->cfg->retries,
            .scheduled_at = run->scheduled_at,
            .started_at = run->started_at,
            .ended_at = now,
            .reason = note,
            .log_path = run->log_path,
        };
        sk_daemon__alert_outcome(d, j, d->config, j->cfg->alert, &o);
    }
}

void sk_daemon__recover(sk_daemon_t *d, int64_t now)
{
    const sk_store_ops_t *ops = d->store->ops;
    sk_run_t *all = NULL;
    size_t nall = 0;
    int64_t before = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->cluster)
        sk_daemon__adopt(d, now);
    /* Page through every unfinished run, newest first... */
    for (;;) {
        sk_run_filter_t f = {.only_active = true,
                             .limit = SK_STORE_QUERY_MAX,
                             .before_id = before,
                             .top_level = true};
        sk_run_t *runs = NULL;
        size_t n = 0;
        if (ops->runs_query(d->store, &f, &runs, &n, &err) < 0) {
            sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
            break;
        }
        if (n == 0) {
            free(runs);
            break;
        }
        all = sk_xrealloc(all, (nall + n) * sizeof(*all));
        memcpy(all + nall, runs, n * sizeof(*runs));
        nall += n;
        before = runs[n - 1].id;
        free(runs);
    }
    /* ...and resume them oldest first, so that queues keep their order. */
    for (size_t k = nall; k-- > 0;)
        recover_one(d, &all[k], now);
    sk_runs_free(all, nall);
    sk_daemon__wf_kick(d);
}

/* Ends waiting run r (taken off d->waiting) as cancelled before it started. */
static int cancel_waiting(sk_daemon_t *d, sk_runrt_t *r, sk_err_t *err)
{
    int rc = d->store->ops->run_finish(d->store, r->id, SK_RUN_KILLED, sk_now_ms(), -1, 0,
                                       "cancelled before it started", err);
    if (rc < 0 && rc != -EALREADY)
        return rc;
    waiting_unlink(d, r);
    sk_log(SK_LOG_INFO, "event=cancelled job=%s run=%" PRId64 " msg=\"before it started\"",
           r->job->name, r->id);
    if (r->wf) {
        r->wf->queued--;
        sk_daemon__wf_step_final(d, r, SK_RUN_KILLED);
    } else {
        r->job->waiting--;
    }
    run_free(r);
    return 0;
}

int sk_daemon__cancel(sk_daemon_t *d, int64_t id, sk_err_t *err)
{
    sk_wfrt_t *w = NULL;
    for (sk_wfrt_t *x = d->workflows; x && !w; x = x->next)
        if (x->id == id && !x->done)
            w = x;
    bool found = w != NULL;
    for (sk_runrt_t *r = d->running; r; r = r->next) {
        if ((w && r->wf == w) || (!w && r->id == id)) {
            found = true;
            if (r->stop == SK_STOP_NONE)
                r->stop = SK_STOP_CANCEL;
            if (r->remote) {
                sk_log(SK_LOG_INFO, "event=cancelling job=%s run=%" PRId64, r->job->name, r->id);
                sk_daemon__cancel_remote(d, r, "cancelled");
            }
            if (r->proc) {
                sk_log(SK_LOG_INFO, "event=cancelling job=%s run=%" PRId64, r->job->name, r->id);
                sk_proc_stop(r->proc);
            }
        }
    }
    for (sk_runrt_t *r = d->waiting, *next; r; r = next) {
        next = r->next;
        if ((w && r->wf == w) || (!w && r->id == id)) {
            found = true;
            int rc = cancel_waiting(d, r, err);
            if (rc < 0)
                return rc;
        }
    }
    if (w) {
        w->cancelled = true;
        w->dirty = true;
        sk_log(SK_LOG_INFO, "event=cancelling job=%s run=%" PRId64 " workflow=%zu", w->job->name,
               w->id, (size_t)w->cfg->nsteps);
        sk_daemon__wf_kick(d);
    }
    if (!found)
        return sk_err_set(err, SK_ENOTFOUND, "run %" PRId64 " is not active", id);
    sk_daemon__pump(d, sk_now_ms());
    sk_daemon__arm(d);
    return 0;
}

int sk_daemon__pause(sk_daemon_t *d, sk_jobrt_t *j, bool paused, sk_err_t *err)
{
    int64_t now = sk_now_ms();
    int64_t last_fire = j->last_fire;
    /* Fires that fell in the pause are not missed: the user chose so. */
    if (!paused && j->paused && last_fire < now)
        last_fire = now;
    sk_job_state_t st = {.last_fire = last_fire,
                         .paused = paused,
                         .last_outcome = j->last_outcome,
                         .missed_alerted = j->missed_alerted};
    int rc = d->store->ops->job_state_set(d->store, j->name, &st, err);
    if (rc < 0)
        return rc;
    if (j->paused != paused)
        sk_log(SK_LOG_INFO, "event=%s job=%s", paused ? "paused" : "resumed", j->name);
    j->paused = paused;
    j->last_fire = last_fire;
    j->unsaved = false;
    sk_daemon__schedule_job(d, j);
    sk_metrics_paused(d->metrics, j->metrics, paused);
    sk_daemon__arm(d);
    return 0;
}
