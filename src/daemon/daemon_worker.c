/*
 * The worker of a cluster node (PostgreSQL store): every node, the leader
 * included, claims the runs the leader dispatched (FOR UPDATE SKIP LOCKED,
 * only those its labels allow, up to its own max_parallel), runs them and
 * records their outcomes; the leader reads them back (daemon_cluster.c).
 *
 * A node that cannot reach the store keeps its children and records their
 * outcomes when it is back, unless it stayed silent for two thirds of the
 * lease: then the leader is about to count it dead and hand its runs to
 * others, so it stops them first (fencing). docs/ha.md has the reasoning.
 */
#include "daemon_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WORK_POLL_MS 500
/* Runs claimed at once: nodes woken together take turns, spreading the load. */
#define CLAIM_BATCH 16

struct sk_work {
    sk_daemon_t *d;
    sk_run_t row; /* as claimed (owns its strings) */
    sk_proc_t *proc;
    char *log_path;
    char *out_path; /* a step's $SKED_OUTPUT; NULL for a plain job */
    sk_proc_result_t result;
    sk_exec_stop_t stop; /* why it was stopped */
    char *why;           /* SK_STOP_CANCEL: the reason the leader gave */
    bool ended;          /* its process is gone (or never started): outcome to record */
    sk_work_t *next;
};

static void work_free(sk_work_t *w)
{
    sk_run_release(&w->row);
    free(w->log_path);
    if (w->out_path) {
        unlink(w->out_path);
        char *slash = strrchr(w->out_path, '/');
        *slash = '\0';
        rmdir(w->out_path); /* the workflow run's folder, once its last step here ends */
    }
    free(w->out_path);
    free(w->why);
    free(w);
}

static const char *step_of(const sk_work_t *w)
{
    return w->row.step ? w->row.step : "";
}

static void on_work_timer(uv_timer_t *t);

static void on_work_exit(sk_proc_t *p, const sk_proc_result_t *res, void *data)
{
    (void)p;
    sk_work_t *w = data;
    sk_daemon_t *d = w->d;
    w->result = *res;
    w->proc = NULL;
    w->ended = true;
    d->nwork--;
    /* Next loop turn: the outcomes of runs ending together go in one
     * transaction. */
    sk_daemon__work_kick(d, SK_WORK_RECORD | SK_WORK_CLAIM | SK_WORK_SETTLE);
}

static void end_early(sk_work_t *w, const char *reason)
{
    sk_exec_failed(&w->result, reason);
    w->ended = true;
}

static sk_run_status_t work_outcome(const sk_work_t *w, const char **reason)
{
    return sk_exec_status(&w->result, w->stop, w->why ? w->why : "stopped", reason);
}

/* The step's definition in this node's configuration, or NULL. */
static const sk_step_cfg_t *find_step(const sk_job_cfg_t *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->nsteps; i++)
        if (strcmp(cfg->steps[i].name, name) == 0)
            return &cfg->steps[i];
    return NULL;
}

/* spec: {"params": {NAME: VALUE}, "env": {NAME: VALUE}} as the leader wrote it. */
static void spec_read(const char *text, const char *member, sk_kv_t **ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    json_t *o = root ? json_object_get(root, member) : NULL;
    if (json_is_object(o) && json_object_size(o)) {
        size_t n = 0;
        const char *k;
        json_t *v;
        sk_kv_t *kv = sk_xcalloc(json_object_size(o), sizeof(*kv));
        json_object_foreach(o, k, v)
        {
            if (!json_is_string(v))
                continue;
            kv[n].key = sk_xstrdup(k);
            kv[n].value = sk_xstrdup(json_string_value(v));
            n++;
        }
        *ret = kv;
        *ret_n = n;
    }
    json_decref(root);
}

static void start_work(sk_daemon_t *d, sk_work_t *w)
{
    const sk_run_t *row = &w->row;
    const sk_job_cfg_t *cfg = sk_config_job(d->config, row->job);
    const sk_step_cfg_t *step = find_step(cfg, row->step);
    char msg[256], path[4096];
    sk_err_t err;
    sk_err_clear(&err);
    if (!cfg || (row->step && !step)) {
        sk_snprintf(msg, sizeof(msg), "%s%s%s is not in node %s's sked.yaml", row->job,
                    row->step ? " step " : "", row->step ? row->step : "", d->node_name);
        end_early(w, msg);
        return;
    }
    sk_kv_t *params, *extra;
    size_t nparams, nextra;
    spec_read(row->spec, "params", &params, &nparams);
    spec_read(row->spec, "env", &extra, &nextra);
    if (row->step) {
        /* A fresh, empty $SKED_OUTPUT in this node's state folder. */
        sk_snprintf(path, sizeof(path), "%s/runs/%" PRId64, d->state_dir, row->parent_id);
        (void)sk_mkdir_p(path, 0700); /* else the open fails, and so does the step */
        sk_snprintf(path, sizeof(path), "%s/runs/%" PRId64 "/%s.%" PRId64 ".out", d->state_dir,
                    row->parent_id, row->step, row->id);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
        w->out_path = sk_xstrdup(path);
        extra = sk_xrealloc(extra, (nextra + 1) * sizeof(*extra));
        extra[nextra].key = sk_xstrdup("SKED_OUTPUT");
        extra[nextra].value = sk_xstrdup(path);
        nextra++;
    }
    sk_exec_spec_t spec = {.cfg = cfg,
                           .step = step,
                           .run_id = row->id,
                           .attempt = row->attempt,
                           .scheduled_at = row->scheduled_at,
                           .params = params,
                           .nparams = nparams,
                           .extra = extra,
                           .nextra = nextra,
                           .state_dir = d->state_dir};
    int rc = sk_exec_start(d->loop, &spec, on_work_exit, w, &w->log_path, &w->proc, &err);
    sk_kv_free(params, nparams);
    sk_kv_free(extra, nextra);
    if (rc < 0) {
        end_early(w, err.msg);
        return;
    }
    d->nwork++;
    int pid = sk_proc_pid(w->proc);
    rc =
        d->store->ops->cluster->run_attach(d->store, row->id, d->node_name, pid, w->log_path, &err);
    if (rc == -EALREADY || rc == SK_ENOTFOUND) {
        /* Ended meanwhile (cancelled before it started, or this node was
         * counted as dead): it must not run. */
        w->stop = SK_STOP_GONE;
        kill(-pid, SIGKILL);
    } else if (rc < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error job=%s run=%" PRId64 " msg=\"%s\"", row->job,
               row->id, err.msg);
    }
    sk_jobrt_t *j = sk_daemon__job(d, row->job);
    if (j && row->trigger == SK_TRIG_SCHEDULE && row->attempt == 1 && !row->step)
        sk_metrics_fire(d->metrics, j->metrics, (double)(sk_now_ms() - row->scheduled_at) / 1000.0);
    char sched[40];
    sk_format_utc_ms(row->scheduled_at, sched, sizeof(sched));
    sk_log(SK_LOG_INFO,
           "event=started job=%s%s%s run=%" PRId64 " attempt=%d trigger=%s scheduled=%s pid=%d "
           "node=%s",
           row->job, row->step ? " step=" : "", step_of(w), row->id, row->attempt,
           sk_trigger_str(row->trigger), sched, pid, d->node_name);
}

/* Records the outcomes of ended runs in one transaction. False when the
 * store failed (they are kept for the next try). */
static bool record_ended(sk_daemon_t *d)
{
    const sk_store_ops_t *ops = d->store->ops;
    sk_err_t err;
    bool any = false;
    for (sk_work_t *w = d->work; w && !any; w = w->next)
        any = w->ended;
    if (!any)
        return true;
    sk_err_clear(&err);
    int rc = ops->begin(d->store, &err);
    for (sk_work_t *w = d->work; w && rc == 0; w = w->next) {
        if (!w->ended)
            continue;
        const char *reason;
        sk_run_status_t st = work_outcome(w, &reason);
        rc = ops->run_finish(d->store, w->row.id, st,
                             w->result.ended_ms ? w->result.ended_ms : sk_now_ms(),
                             w->result.exit_code, w->result.signal, reason, &err);
        if (rc == -EALREADY || rc == SK_ENOTFOUND) {
            rc = 0; /* ended by the leader meanwhile (this node counted as dead) */
            continue;
        }
        if (rc == 0 && w->out_path && st != SK_RUN_INTERRUPTED) {
            sk_output_t *o = NULL;
            size_t n = 0;
            sk_daemon__read_outputs(w->out_path, &o, &n);
            if (n)
                rc = ops->outputs_put(d->store, w->row.id, o, n, &err);
            sk_outputs_free(o, n);
        }
    }
    if (rc == 0) /* the leader settles them */
        rc = ops->cluster->wake_others(d->store, SK_WAKE_ENDED, &err);
    if (rc == 0)
        rc = ops->commit(d->store, &err);
    if (rc < 0) {
        ops->rollback(d->store, NULL);
        if (!d->work_unrecorded)
            sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\" note=\"outcomes kept; retrying\"",
                   err.msg);
        d->work_unrecorded = true;
        return false;
    }
    if (d->work_unrecorded)
        sk_log(SK_LOG_INFO, "event=store_recovered msg=\"outcomes recorded\"");
    d->work_unrecorded = false;
    for (sk_work_t **pp = &d->work; *pp;) {
        sk_work_t *w = *pp;
        if (!w->ended) {
            pp = &w->next;
            continue;
        }
        const char *reason;
        sk_run_status_t st = work_outcome(w, &reason);
        int64_t dur = w->result.duration_ms; /* monotonic: a clock change does not bend it */
        sk_log(st == SK_RUN_SUCCEEDED ? SK_LOG_INFO : SK_LOG_WARN,
               "event=finished job=%s%s%s run=%" PRId64 " attempt=%d status=%s exit=%d signal=%d "
               "duration_ms=%" PRId64 " node=%s%s%s%s",
               w->row.job, w->row.step ? " step=" : "", step_of(w), w->row.id, w->row.attempt,
               sk_run_status_str(st), w->result.exit_code, w->result.signal, dur < 0 ? 0 : dur,
               d->node_name, reason ? " reason=\"" : "", reason ? reason : "", reason ? "\"" : "");
        *pp = w->next;
        work_free(w);
    }
    return true;
}

/* Cancels the leader asked for; runs ended by others (this node counted as
 * dead) are stopped at once. */
static void check_cancels(sk_daemon_t *d)
{
    bool any = false;
    for (sk_work_t *w = d->work; w && !any; w = w->next)
        any = w->proc != NULL;
    if (!any)
        return;
    sk_run_t *rows = NULL;
    size_t n = 0;
    if (d->store->ops->cluster->runs_of_node(d->store, d->node_name, &rows, &n, NULL) < 0)
        return;
    for (sk_work_t *w = d->work; w; w = w->next) {
        if (!w->proc || w->stop != SK_STOP_NONE)
            continue;
        const sk_run_t *row = NULL;
        for (size_t i = 0; i < n && !row; i++)
            if (rows[i].id == w->row.id)
                row = &rows[i];
        if (!row) {
            sk_log(SK_LOG_WARN,
                   "event=run_taken job=%s run=%" PRId64 " msg=\"the store ended "
                   "it while this node ran it; killing it\"",
                   w->row.job, w->row.id);
            w->stop = SK_STOP_GONE;
            kill(-sk_proc_pid(w->proc), SIGKILL);
        } else if (row->cancel) {
            sk_log(SK_LOG_INFO, "event=cancelling job=%s run=%" PRId64 " reason=\"%s\"", w->row.job,
                   w->row.id, row->cancel);
            w->stop = SK_STOP_CANCEL;
            w->why = sk_xstrdup(row->cancel);
            sk_proc_stop(w->proc);
        }
    }
    sk_runs_free(rows, n);
}

static void claim(sk_daemon_t *d)
{
    if (d->fenced || d->stopping || d->work_unrecorded)
        return;
    int room = SK_MIN(d->node_max - d->nwork, CLAIM_BATCH);
    if (room <= 0)
        return;
    sk_run_t *rows = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->cluster->runs_claim(d->store, d->node_name, d->node_labels, (size_t)room,
                                           sk_now_ms(), &rows, &n, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\" note=\"not claiming\"", err.msg);
        return;
    }
    /* Their processes' pids and logs go in one transaction. */
    bool tx = n > 1 && d->store->ops->begin(d->store, NULL) == 0;
    for (size_t i = 0; i < n; i++) {
        sk_work_t *w = sk_xcalloc(1, sizeof(*w));
        w->d = d;
        w->row = rows[i];
        w->next = d->work;
        d->work = w;
        start_work(d, w);
    }
    free(rows); /* the rows' strings now belong to the works */
    if (tx && d->store->ops->commit(d->store, &err) < 0)
        sk_log(SK_LOG_ERROR,
               "event=store_error msg=\"%s\" note=\"the runs go on; their pids "
               "are not recorded\"",
               err.msg);
    if (n && !record_ended(d)) /* some could not start */
        return;
    if (n == CLAIM_BATCH)
        sk_daemon__work_kick(d, SK_WORK_CLAIM); /* maybe more: after the other nodes' turn */
}

/*
 * Wake-ups: the store connection's socket, duplicated (so that a reconnect,
 * which closes libpq's, never leaves the loop watching a reused number), is
 * watched for the notifications other nodes send after a dispatch or an
 * outcome. The 0.5 s poll stays as the fallback.
 */
struct sk_wake {
    uv_poll_t h;
    int fd;
    ino_t ino; /* of the socket it duplicates */
};

static void on_wake_closed(uv_handle_t *h)
{
    struct sk_wake *w = h->data;
    close(w->fd);
    free(w);
}

static void wake_close(sk_daemon_t *d)
{
    if (!d->wake)
        return;
    uv_poll_stop(&d->wake->h);
    d->wake->h.data = d->wake;
    uv_close((uv_handle_t *)&d->wake->h, on_wake_closed);
    d->wake = NULL;
}

static void on_wake(uv_poll_t *h, int status, int events)
{
    (void)events;
    sk_daemon_t *d = h->data;
    unsigned bits = 0;
    if (status < 0 || d->store->ops->cluster->woken(d->store, &bits, NULL) < 0) {
        wake_close(d); /* watched again at the next poll, once the store is back */
        return;
    }
    sk_daemon__work_kick(d, ((bits & SK_WAKE_DISPATCHED) ? SK_WORK_CLAIM : 0) |
                                ((bits & SK_WAKE_ENDED) ? SK_WORK_SETTLE : 0) |
                                ((bits & SK_WAKE_CANCEL) ? SK_WORK_CANCELS : 0));
}

static void wake_watch(sk_daemon_t *d)
{
    const sk_store_ops_t *ops = d->store->ops;
    if (!ops->cluster || d->closed || d->stopping)
        return;
    unsigned bits;
    ops->cluster->woken(d->store, &bits, NULL); /* drained here: this poll covers them */
    int fd = ops->cluster->wake_fd(d->store);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        wake_close(d);
        return;
    }
    if (d->wake && d->wake->ino == sb.st_ino)
        return;
    wake_close(d);
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dupfd < 0)
        return;
    struct sk_wake *w = sk_xcalloc(1, sizeof(*w));
    w->fd = dupfd;
    w->ino = sb.st_ino;
    if (uv_poll_init(d->loop, &w->h, dupfd) < 0) {
        close(dupfd);
        free(w);
        return;
    }
    w->h.data = d;
    uv_poll_start(&w->h, UV_READABLE, on_wake);
    d->wake = w;
}

/* Does what `what` (SK_WORK_*) asks: every poll records what ended; the
 * others cost a query each, so a kick asks only for what it is about and
 * the 0.5 s tick for all. */
static void work_poll(sk_daemon_t *d, unsigned what)
{
    if (!d->cluster || d->closed)
        return;
    bool recorded = record_ended(d);
    if (recorded && (what & SK_WORK_CANCELS))
        check_cancels(d);
    if (recorded && (what & SK_WORK_CLAIM))
        claim(d);
    if (d->leading && !d->stopping && (what & SK_WORK_SETTLE))
        sk_daemon__settle_poll(d);
    wake_watch(d);
    if (d->stopping && !recorded && d->nwork == 0) {
        /* Stopping and the store refuses: keep them (maybe_exit waits for
         * d->work) and go on trying at each poll, as the daemon does for
         * its own outcomes; only a kill gives up on them. */
        int64_t mono = sk_mono_ms();
        if (!d->unwritten_said || mono - d->unwritten_said >= 5000) {
            size_t held = 0;
            for (sk_work_t *w = d->work; w; w = w->next)
                held++;
            d->unwritten_said = mono;
            sk_log(SK_LOG_ERROR,
                   "event=outcomes_unwritten count=%zu msg=\"not exiting while the store refuses "
                   "how these runs ended; retrying (kill -9 gives up: the leader ends them as "
                   "interrupted)\"",
                   held);
        }
    }
    sk_daemon__maybe_exit(d);
}

void sk_daemon__work_poll(sk_daemon_t *d)
{
    work_poll(d, SK_WORK_ALL);
}

static void on_work_timer(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    unsigned what = d->work_due;
    int64_t now = sk_mono_ms();
    /* Kicks restart the timer: under load the full poll would never come. */
    if (!what || now >= d->work_full_at) {
        what = SK_WORK_ALL;
        d->work_full_at = now + WORK_POLL_MS;
    }
    d->work_due = 0;
    work_poll(d, what);
}

void sk_daemon__work_kick(sk_daemon_t *d, unsigned what)
{
    if (!d->work_timer_on || !what)
        return;
    d->work_due |= what;
    uv_timer_start(&d->work_timer, on_work_timer, 0, WORK_POLL_MS);
}

void sk_daemon__work_start(sk_daemon_t *d)
{
    if (!d->cluster)
        return;
    uv_timer_init(d->loop, &d->work_timer);
    d->work_timer.data = d;
    d->work_timer_on = true;
    d->beat_ok_mono = sk_mono_ms();
    uv_timer_start(&d->work_timer, on_work_timer, 0, WORK_POLL_MS);
}

void sk_daemon__work_close(sk_daemon_t *d)
{
    wake_close(d);
    if (d->work_timer_on) {
        uv_timer_stop(&d->work_timer);
        uv_close((uv_handle_t *)&d->work_timer, NULL);
        d->work_timer_on = false;
    }
    for (sk_work_t *w = d->work, *next; w; w = next) {
        next = w->next;
        work_free(w);
    }
    d->work = NULL;
}

void sk_daemon__work_stop_all(sk_daemon_t *d, bool hard, const char *why)
{
    sk_exec_stop_t kind = why && strcmp(why, "fence") == 0 ? SK_STOP_FENCE : SK_STOP_SHUTDOWN;
    for (sk_work_t *w = d->work; w; w = w->next) {
        if (!w->proc)
            continue;
        if (w->stop == SK_STOP_NONE)
            w->stop = kind;
        if (hard || kind == SK_STOP_FENCE)
            kill(-sk_proc_pid(w->proc), SIGKILL);
        else
            sk_proc_stop(w->proc);
    }
}

bool sk_daemon__work_beat(sk_daemon_t *d)
{
    if (!d->cluster)
        return true;
    sk_node_t me = {
        .name = d->node_name,
        .labels = d->node_labels,
        .max_parallel = d->node_max,
        .api = d->node_api,
        .pid = (int)getpid(),
        .version = (char *)SK_VERSION,
        .leader = d->leading,
    };
    sk_err_t err;
    sk_err_clear(&err);
    int64_t mono = sk_mono_ms();
    if (d->store->ops->node_beat(d->store, &me, NULL, &err) == 0) {
        d->beat_ok_mono = mono;
        if (d->fenced)
            sk_log(SK_LOG_INFO, "event=store_back node=%s msg=\"claiming runs again\"",
                   d->node_name);
        d->fenced = false;
        return true;
    }
    if (!d->fenced && mono - d->beat_ok_mono > d->lease_ms * 2 / 3) {
        d->fenced = true;
        sk_log(SK_LOG_ERROR,
               "event=fenced node=%s silent_ms=%" PRId64 " running=%d msg=\"cannot reach the "
               "store; stopping this node's runs before the leader hands them to another node\"",
               d->node_name, mono - d->beat_ok_mono, d->nwork);
        sk_daemon__work_stop_all(d, true, "fence");
    }
    return false;
}

bool sk_daemon__work_name_taken(sk_daemon_t *d)
{
    sk_node_t *nodes = NULL;
    size_t n = 0;
    if (d->store->ops->nodes_list(d->store, 0, &nodes, &n, NULL) < 0)
        return false;
    bool taken = false;
    for (size_t i = 0; i < n && !taken; i++) {
        const sk_node_t *x = &nodes[i];
        if (strcmp(x->name, d->node_name) != 0 || x->pid == (int)getpid() ||
            x->age_ms > d->lease_ms || x->pid <= 0)
            continue;
        if (kill(x->pid, 0) == 0 && sk_procfs_same_exe(x->pid)) {
            fprintf(stderr,
                    "sked: run: node %s is already running here (pid %d, heart-beat %" PRId64
                    " ms ago); give this one another name with --node NAME or SKED_NODE\n",
                    x->name, x->pid, x->age_ms);
            taken = true;
        }
    }
    sk_nodes_free(nodes, n);
    return taken;
}

void sk_daemon__work_recover(sk_daemon_t *d)
{
    if (!d->cluster)
        return;
    sk_run_t *rows = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->cluster->runs_of_node(d->store, d->node_name, &rows, &n, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        return;
    }
    int64_t now = sk_now_ms();
    for (size_t i = 0; i < n; i++) {
        const sk_run_t *r = &rows[i];
        const char *reason = "sked stopped while it ran";
        sk_daemon__end_leftover(d, r, &reason);
        if (d->store->ops->run_finish(d->store, r->id, SK_RUN_INTERRUPTED, now, -1, 0, reason,
                                      &err) == 0)
            sk_log(SK_LOG_WARN,
                   "event=interrupted job=%s%s%s run=%" PRId64 " attempt=%d node=%s "
                   "reason=\"%s\"",
                   r->job, r->step ? " step=" : "", r->step ? r->step : "", r->id, r->attempt,
                   d->node_name, reason);
    }
    sk_runs_free(rows, n);
}
