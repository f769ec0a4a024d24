/* The daemon's state, shared by its source files only. */
#ifndef SK_DAEMON_INT_H
#define SK_DAEMON_INT_H

#include "daemon.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../config/config.h"
#include "../dag/dag.h"
#include "../exec/exec.h"
#include "../runner/runner.h"
#include "../sched/sched.h"
#include "../store/store.h"
#include "../metrics/metrics.h"

/* `sked run` lost the leadership of its store and stopped (EX_TEMPFAIL):
 * its supervisor starts it again, as a standby. */
#define SK_EXIT_LOST_LEAD 75

typedef struct sk_daemon sk_daemon_t;
typedef struct sk_jobrt sk_jobrt_t;
typedef struct sk_runrt sk_runrt_t;
typedef struct sk_wfrt sk_wfrt_t;
typedef struct sk_alertjob sk_alertjob_t;
typedef struct sk_work sk_work_t;
typedef struct sk_files sk_files_t;
typedef struct sk_logon sk_logon_t;
typedef struct sk_idle sk_idle_t;
struct sk_alert_event;

/* A job's runtime state: survives reloads while the job exists. One per
 * job (100,000 of them): fields grouped by size, no holes; the name is
 * stored right after the struct, in the same allocation. */
struct sk_jobrt {
    char *name;              /* points just past the struct */
    const sk_job_cfg_t *cfg; /* in d->config; NULL once removed */
    sk_heap_node_t node;     /* keyed by next_due */
    int64_t next_due;        /* next scheduled instant (ms); 0 none */
    int64_t last_fire;       /* last scheduled instant handled (ms) */
    int64_t anchor;          /* first seen (ms): where `every` counts from */
    int64_t missed_alerted;  /* the last missed instant an alert was raised for */
    int active;              /* its runs that are running */
    int starting;            /* its runs in the pump's batch: start recorded, no process yet */
    int waiting;             /* its runs waiting to start */
    int last_outcome;        /* sk_run_status_t of its last finished run; -1 none */
    bool paused;
    bool pin_warned; /* cluster: said that no live node has its labels */
    bool unsaved;    /* its state is not in the store yet */
    /* Rate limits: per alert event, when one was last sent, for the job's
     * own alerts [0..5] and its steps' [6..11]. Allocated on first alert:
     * most of 100,000 jobs never raise one. */
    int64_t *last_alert;            /* monotonic ms */
    struct sk_metrics_job *metrics; /* its series in d->metrics */
    /* The jobs whose `after:` names this one (sk_daemon__link_jobs), so a
     * run's end finds them without a look at every job. */
    sk_jobrt_t **down;
    size_t ndown, down_cap;
};

/* Parameters of one run: the job's defaults overridden by the trigger. */
typedef struct sk_params {
    sk_kv_t *kv;
    size_t n;
} sk_params_t;

/* A workflow run in progress: its steps' states and what they produced. */
struct sk_wfrt {
    sk_daemon_t *d;
    sk_jobrt_t *job;
    sk_config_t *snap; /* the snapshot it started with (a reference) */
    const sk_job_cfg_t *cfg;
    int64_t id; /* the workflow's own run row */
    int attempt;
    sk_trigger_t trigger;
    int64_t scheduled_at;
    sk_params_t params;
    char *event;            /* what started it (its run's event), or NULL: its steps see it */
    sk_dag_state_t *states; /* per step */
    int *step_attempt;      /* per step: the latest attempt number (0: none yet) */
    sk_kv_t **outputs;      /* per step: what it wrote to $SKED_OUTPUT */
    size_t *noutputs;
    int running;  /* steps with a process */
    int starting; /* steps in the pump's batch: start recorded, no process yet */
    int queued;   /* steps recorded and waiting to start */
    bool dirty;   /* needs an evaluation */
    bool done;
    bool cancelled;       /* by the API: start nothing more, end as killed */
    int64_t started_ms;   /* when this daemon took it up (wall ms) */
    int64_t started_mono; /* the same moment on the monotonic clock: its duration */
    sk_wfrt_t *next;      /* in d->workflows */
};

/* One attempt, from its record in the store to its recorded outcome. */
struct sk_runrt {
    sk_daemon_t *d;
    sk_jobrt_t *job;
    sk_config_t *snap; /* the snapshot it started with (a reference) */
    const sk_job_cfg_t *cfg;
    int64_t id;
    int attempt;
    sk_trigger_t trigger;
    int64_t scheduled_at;
    /* Monotonic ms before which it may not start (a retry's delay, jitter):
     * converted once from the stored wall instant (queued_at), so that a
     * wall clock set back or forward later neither stalls nor hurries it. */
    int64_t due_mono;
    bool later; /* waiting, and due_mono was ahead when it was queued */
    sk_proc_t *proc;
    char *log_path;
    /* Why sked stopped it (SK_STOP_NONE: it did not). A stop because the
     * daemon stops overrides any other; replace overrides cancel. */
    sk_exec_stop_t stop;
    bool once;           /* never retried: `sked exec` asked the daemon for one attempt */
    bool start_recorded; /* its start (running, pid 0) is committed already: the fire's own
                          * transaction recorded it (daemon_fire.c persist) */
    sk_proc_result_t result;
    sk_wfrt_t *wf;             /* for a step: its workflow run; NULL otherwise */
    size_t step_idx;           /* for a step: its index in cfg->steps */
    const sk_step_cfg_t *step; /* for a step: its definition; NULL otherwise */
    bool is_workflow;          /* the top-level run of a workflow (no process) */
    sk_params_t params;        /* top-level runs: their parameters */
    int64_t retry_of;          /* a workflow retry: keep the steps that succeeded there */
    int64_t started_ms;        /* when its process started (wall: an instant to show) */
    int64_t started_mono;      /* the same moment, monotonic: for `late` */
    bool late_alerted;         /* `late` was raised for it */
    int prev_outcome;          /* its job's last outcome before this run's */
    /* Cluster (PostgreSQL): the leader dispatched it; some node's worker runs
     * it and records its outcome, which the leader reads back (settle). */
    bool remote;
    sk_run_status_t remote_status; /* when it ended: as the node recorded it */
    char *remote_reason;
    bool settled_elsewhere; /* another leader took in its outcome: nothing follows here */
    char *event;            /* trigger event: its event ("file: PATH", "webhook: ID"), else NULL */
    sk_runrt_t *next;       /* in d->waiting, d->running or d->finished */
};

struct sk_daemon {
    uv_loop_t *loop;
    sk_tz_cache_t *tzc;
    sk_config_t *config;
    sk_store_t *store;
    char *config_path;
    char *state_dir;
    char *sock_path;
    int lock_fd;
    sk_store_lock_t *store_lock; /* the store is this daemon's alone (DESIGN 1) */

    sk_jobrt_t **jobs;
    size_t njobs, jobs_cap;
    /* d->jobs by name (daemon_index.c): open addressing, a power of two
     * slots at least twice njobs; NULL slots empty. */
    sk_jobrt_t **by_name;
    size_t by_name_mask;
    sk_files_t *files; /* on: file watches (daemon_files.c); NULL when no job has one */
    sk_logon_t *logon; /* on: logon, the utmp watch (daemon_logon.c); NULL when none */
    sk_idle_t *idle;   /* on: idle, its timer (daemon_idle.c); NULL when never any */
    sk_heap_t heap;

    sk_runrt_t *waiting;       /* FIFO of runs recorded but not started (daemon_run.c's enqueue) */
    sk_runrt_t **waiting_tail; /* its last link (NULL: &waiting) */
    int nwaiting;              /* its length */
    int nlater;                /* of them, queued with a wait (sk_runrt_t.later) */
    bool pump_deferred;        /* the pump yielded with runs left to start: tick at once */
    sk_runrt_t *running;
    sk_runrt_t *finished; /* ended, outcome not yet recorded */
    int nrunning;
    sk_wfrt_t *workflows;  /* workflow runs in progress */
    sk_alertjob_t *alerts; /* deliveries waiting or in flight */
    int alerts_in_flight;
    uv_timer_t alert_timer;
    bool alerts_stopped;

    uv_timer_t tick; /* the single timer for the earliest due thing (and "now") */
    int tick_fd;     /* Linux: a monotonic timerfd for precise wake-ups, or -1 */
    uv_poll_t tick_poll;
    bool tick_polling;
    uv_timer_t flush; /* 0 ms: record finished runs in one transaction */
    uv_timer_t reload_debounce;
    uv_signal_t sigterm, sigint, sighup;
    struct sk_api *api; /* daemon_api.c */
    struct sk_metrics *metrics;
    int64_t started_at;   /* wall ms: shown as started_at */
    int64_t started_mono; /* monotonic ms: uptime counts from here */
    uv_fs_event_t watch;
    bool watching;
    /* sked.yaml as the watcher last saw it (all 0: absent), to tell whether
     * it is still being written when the quiet time ends. */
    int64_t watch_size, watch_mtime_ns, watch_ctime_ns;
    uint64_t watch_ino;
    int clock_fd;         /* Linux: a timerfd that fires when the wall clock is set */
    uv_poll_t clock_poll; /* or jumps on resume from suspend */
    bool clock_watching;

    const sk_clock_t *clock;      /* "now" for firing (sk_clock_real(); borrowed) */
    int64_t last_wall, last_mono; /* to see clock jumps */
    int64_t store_retry_mono;     /* after a store error: back off until then (monotonic) */
    int64_t store_backoff;
    int64_t unwritten_said; /* stopping with outcomes the store refused: last said (mono ms) */
    bool starting;          /* first pass after start-up: catch up */
    bool reading_states;    /* start-up reads the jobs' states in one transaction */
    bool leading;           /* this node fires (always, but for a standby node of a
                             * PostgreSQL store whose leadership another node holds) */
    uv_timer_t lead_timer;  /* PostgreSQL: checks the leadership every 2 s */
    bool lead_timer_on;
    int exit_code; /* of `sked run` after a clean stop: 0, or SK_EXIT_LOST_LEAD */

    /* Several nodes on one PostgreSQL store (docs/ha.md). */
    bool cluster;          /* the leader dispatches, every node's worker claims and runs */
    char *node_name;       /* this node's name (--node, SKED_NODE, the host name) */
    char *node_labels;     /* comma-separated, "" none */
    int node_max;          /* runs this node runs at once */
    char *node_api;        /* where other nodes reach this node's API, or NULL */
    int64_t lease_ms;      /* a node silent this long counts as dead */
    sk_work_t *work;       /* the runs this node's worker runs (claimed) */
    int nwork;             /* of them, with a process */
    uv_timer_t work_timer; /* claims, cancels, outcome records */
    bool work_timer_on;
    int64_t beat_ok_mono; /* last heart-beat that reached the store (monotonic ms) */
    bool fenced;          /* silent too long: this node's runs were stopped; no claims */
    bool work_unrecorded; /* outcomes not yet in the store */
    bool adopted;         /* leading, and took up what the store held (sk_daemon__adopt) */
    struct sk_wake *wake; /* the watched wake-up socket (daemon_worker.c), or NULL */
    bool dispatched;      /* runs dispatched in the pump's transaction: wake the nodes */
    char **live_labels;   /* leader: each live node's labels (comma-separated), NULL-ended */
    unsigned work_due;    /* SK_WORK_* asked for by kicks since the last poll */
    int64_t work_full_at; /* monotonic ms: the next poll does everything */
    bool stopping;
    bool closed; /* handles closed: the loop is ending */
};

/* daemon_fire.c; all on the loop thread. */
/* Re-arms the single timer for the earliest thing due (fire, wait, back-off),
 * reading d->clock; a no-op once stopping. */
void sk_daemon__arm(sk_daemon_t *d);
/* The timer's callback: one wake (clock-jump check, due fires, pump, arm). */
void sk_daemon__on_tick(uv_timer_t *t);
/* daemon_files.c; on the loop thread. */
/* Watches the folders of the jobs with on: file as configured now (after a
 * load or a reload; at_start: matching files already there fire, for jobs
 * with existing: true). Paths waiting to settle stay across a reload for
 * jobs that keep a file trigger. */
void sk_daemon__files_update(sk_daemon_t *d, bool at_start);
/* Stops watching; the memory goes once the loop closed the handles. */
void sk_daemon__files_close(sk_daemon_t *d);
struct inotify_event;
/* Reads inotify fd (non-blocking) until it is empty, into buf (size bytes,
 * aligned for struct inotify_event), calling each for every event. */
void sk_daemon__inotify_read(int fd, void *buf, size_t size,
                             void (*each)(void *ctx, const struct inotify_event *ev), void *ctx);

/* daemon_logon.c; on the loop thread. */
/* Starts watching for sessions when a job has on: logon (sessions open
 * now do not count); a no-op when watching already or when none has. */
void sk_daemon__logon_update(sk_daemon_t *d);
void sk_daemon__logon_close(sk_daemon_t *d);
/* The utmp file sessions are read from (SKED_UTMP_FILE: the tests' seam). */
const char *sk_daemon__utmp_path(void);

/* daemon_idle.c; on the loop thread. */
/* Looks at the machine's use every quarter of the shortest idle `for` (1 to
 * 30 s) while a job has on: idle; no timer otherwise. */
void sk_daemon__idle_update(sk_daemon_t *d);
void sk_daemon__idle_close(sk_daemon_t *d);

/* daemon_index.c; on the loop thread. */
/* The job named name (borrowed), also a removed one, or NULL. Constant time. */
sk_jobrt_t *sk_daemon__job(sk_daemon_t *d, const char *name);
/* Appends j (new, its name unique) to d->jobs and the name index. */
void sk_daemon__jobs_add(sk_daemon_t *d, sk_jobrt_t *j);
/* Rebuilds each job's `down` list from the current definitions: after a
 * load and after each reload. */
void sk_daemon__link_jobs(sk_daemon_t *d);
/* Frees every job and the index (at the end). */
void sk_daemon__jobs_free(sk_daemon_t *d);
/* Puts j in the heap at its next instant after its last fire (a function of
 * its definition, anchor and last fire only: no clock), or takes it out when
 * it has none, is removed, disabled, paused, or this node does not lead. */
void sk_daemon__schedule_job(sk_daemon_t *d, sk_jobrt_t *j);
/* Records and queues a run of j started by an event (trigger event; event
 * "boot" or "start", the run's event), by j's overlap policy as for a
 * fire: skip records it skipped while a run of j is going or waiting,
 * replace stops the running ones, and at most SK_SCHED_MAX_QUEUED wait
 * (beyond: skipped). With boot_id, only when this boot of the machine has
 * not fired j yet (marked in the same transaction: once per boot, across
 * restarts and crashes). Returns the run id, 0 when this boot had fired
 * it, <0 on a store error (err set; nothing recorded). */
int64_t sk_daemon__fire_event(sk_daemon_t *d, sk_jobrt_t *j, const char *event, const char *boot_id,
                              sk_err_t *err);
/* sk_daemon__fire_event with more: the run's params (params, JSON object
 * text of declared names, or NULL) and payload, a file of the caller's
 * (under STATE_DIR) that becomes the run's $SKED_EVENT_FILE
 * (sk_daemon__event_file) before the run can start, or is removed when the
 * run is skipped or cannot be recorded. *ret_skipped tells whether the run
 * was recorded as skipped (ret_skipped may be NULL). */
int64_t sk_daemon__fire_event_with(sk_daemon_t *d, sk_jobrt_t *j, const char *event,
                                   const char *boot_id, const char *params, const char *payload,
                                   bool *ret_skipped, sk_err_t *err);
/* Where run run_id of job keeps its event's payload:
 * STATE_DIR/logs/JOB/RUN_ID.event, beside its log, pruned with it. */
void sk_daemon__event_file(const char *state_dir, const char *job, int64_t run_id, char *buf,
                           size_t size);
/* Removes the event file beside the run log at log_path (".log" becomes
 * ".event"), if there is one: the run's record is pruned. NULL is a no-op. */
void sk_daemon__event_file_unlink(const char *log_path);
/* Records a manual run of job and queues it; once: it is not retried (`sked
 * exec` through the daemon). Returns the run id or <0. */
int64_t sk_daemon__trigger(sk_daemon_t *d, sk_jobrt_t *j, const char *params_json,
                           sk_trigger_t trig, bool once, sk_err_t *err);

/* daemon_run.c */
/*
 * Clock rules (docs/internals/sched.md): instants (scheduled_at, started_at,
 * ended_at, a retry's queued_at) are wall-clock and stored; waits and
 * durations are monotonic. sk_daemon__mono_of maps a wall instant to the
 * monotonic clock as the two clocks stand now: a wait taken up from the
 * store is converted once, and then follows the monotonic clock only.
 * Loop thread (reads both clocks; no state).
 */
int64_t sk_daemon__mono_of(int64_t wall_ms);
/* A run recorded in the store, now waiting to start. params: taken (may be NULL). */
sk_runrt_t *sk_daemon__run_new(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *rec);
sk_runrt_t *sk_daemon__step_new(sk_daemon_t *d, sk_wfrt_t *w, size_t step, const sk_run_t *rec);
void sk_daemon__run_free(sk_runrt_t *r);
void sk_daemon__pump(sk_daemon_t *d, int64_t now);
void sk_daemon__stop_all(sk_daemon_t *d, bool hard);
void sk_daemon__recover(sk_daemon_t *d, int64_t now);
/* The earliest monotonic ms at which a waiting run becomes due or a running
 * one becomes `late`; 0 when there is none. */
int64_t sk_daemon__earliest_wait(sk_daemon_t *d);
/* rec becomes the queued next attempt (trigger retry) of a run of job (step
 * and parent_id as given) fired for scheduled_at, due at `due`. Strings are
 * borrowed. */
void sk_daemon__retry_rec(sk_run_t *rec, const char *job, const char *step, int64_t parent_id,
                          int prev_attempt, int64_t scheduled_at, int64_t due);
/* Prunes j's old runs (and their logs) by cfg's keep_runs and keep_days. */
void sk_daemon__prune(sk_daemon_t *d, sk_jobrt_t *j, const sk_job_cfg_t *cfg);
/* Raises `late` for runs past their job's expected duration (mono: the
 * monotonic clock now). */
void sk_daemon__check_late(sk_daemon_t *d, int64_t mono);
void sk_daemon__on_flush(uv_timer_t *t);
void sk_daemon__maybe_exit(sk_daemon_t *d);
/* Cancels run id (API): a running process is stopped (SIGTERM, then
 * SIGKILL after kill_grace), a waiting run ends at once, a workflow run
 * starts nothing more and stops its steps. SK_ENOTFOUND when the run is not
 * active in this daemon; other errors are the store's. */
int sk_daemon__cancel(sk_daemon_t *d, int64_t id, sk_err_t *err);
/* Pauses or resumes job j (kept in the store). Resuming does not catch up
 * the fires that fell in the pause. */
int sk_daemon__pause(sk_daemon_t *d, sk_jobrt_t *j, bool paused, sk_err_t *err);
/* At recovery, for an unfinished row (a run or a step): whether a process
 * of it may have run while sked lost it, the row running or queued with a
 * log file (sked died after starting it, before recording the start). Kills
 * what is left of such a process (its recorded pid's group, else every
 * process whose environment names the run and this state folder:
 * sk_exec_kill_run_processes) and points *reason at static
 * text saying what was found; a queued row without a log is left as it is
 * (false). */
bool sk_daemon__end_leftover(const sk_daemon_t *d, const sk_run_t *row, const char **reason);

/* daemon_worker.c: every node of a cluster claims dispatched runs and runs them */
void sk_daemon__work_start(sk_daemon_t *d);
/* Claims what this node may run now and records ended runs' outcomes. */
void sk_daemon__work_poll(sk_daemon_t *d);
/* Part of it (SK_WORK_*) at the next loop turn (after a dispatch, an exit,
 * a wake-up). */
#define SK_WORK_RECORD 1u  /* outcomes of ended runs (every poll does it) */
#define SK_WORK_CLAIM 2u   /* dispatched runs */
#define SK_WORK_CANCELS 4u /* stops the leader asked for */
#define SK_WORK_SETTLE 8u  /* leader: outcomes to take in */
#define SK_WORK_ALL 15u
void sk_daemon__work_kick(sk_daemon_t *d, unsigned what);
/* The daemon stops (hard: SIGKILL now); or the node was silent too long (fence). */
void sk_daemon__work_stop_all(sk_daemon_t *d, bool hard, const char *why);
/* Heart-beat (every node, every few seconds): false when it failed. */
bool sk_daemon__work_beat(sk_daemon_t *d);
/* At start: whether another live daemon on this machine uses this node's
 * name (said on stderr): two nodes of one name would end each other's runs. */
bool sk_daemon__work_name_taken(sk_daemon_t *d);
/* At start: this node's runs a previous life left running are ended. */
void sk_daemon__work_recover(sk_daemon_t *d);
void sk_daemon__work_close(sk_daemon_t *d);
/* Leader: hands run r to the cluster instead of starting it here. */
int sk_daemon__dispatch(sk_daemon_t *d, sk_runrt_t *r, sk_err_t *err);
/* Leader: takes in what nodes did with the runs it dispatched. */
void sk_daemon__settle_poll(sk_daemon_t *d);
/* Standby: ends the session of a leader that holds the lock but stopped
 * heart-beating (a hung process), so that another node can lead. */
void sk_daemon__evict_silent_leader(sk_daemon_t *d);
/* Leader: ends the runs of nodes that stopped heart-beating. */
void sk_daemon__sweep_dead(sk_daemon_t *d);
/* Leader: one unsettled dispatched row becomes a remote run (w NULL: a
 * top-level run of j; else step `step` of w), taken in at once if ended. */
void sk_daemon__adopt_row(sk_daemon_t *d, sk_jobrt_t *j, sk_wfrt_t *w, size_t step, sk_run_t *row);
/* Leader: the dispatched runs the store holds become this leader's (promotion/start). */
void sk_daemon__adopt(sk_daemon_t *d, int64_t now);
/* Leader lost the store: forget what it orchestrated (the nodes keep running it). */
void sk_daemon__release(sk_daemon_t *d);
/* Leader: asks remote run r's node to stop it, ending it with reason. */
void sk_daemon__cancel_remote(sk_daemon_t *d, sk_runrt_t *r, const char *reason);

/* daemon_run.c, for the cluster */
/* A dispatched row (w NULL: a top-level run of j; else step `step` of w)
 * becomes a remote run of this leader. */
sk_runrt_t *sk_daemon__run_adopt(sk_daemon_t *d, sk_jobrt_t *j, sk_wfrt_t *w, size_t step,
                                 const sk_run_t *row);
/* Remote run r ended as row says (recorded by its node). */
void sk_daemon__run_remote_ended(sk_daemon_t *d, sk_runrt_t *r, const sk_run_t *row);

/* daemon_wf.c */
/* key=value lines of a $SKED_OUTPUT file; *ret NULL when it cannot be read. */
void sk_daemon__read_outputs(const char *path, sk_output_t **ret, size_t *ret_n);
void sk_params_release(sk_params_t *p);
/* The job's defaults overridden by `over` (JSON object text or NULL). */
void sk_params_build(const sk_job_cfg_t *cfg, const char *json, sk_params_t *ret);
char *sk_params_json(const sk_params_t *p);
/* Starts workflow run r (already picked by the pump): no process of its own. */
void sk_daemon__wf_start(sk_daemon_t *d, sk_runrt_t *r);
/* Reads a finished step's $SKED_OUTPUT file into its workflow and the store. */
int sk_daemon__wf_collect_outputs(sk_daemon_t *d, sk_runrt_t *r, sk_err_t *err);
/* A step's final outcome (no retry left): updates its workflow's state. */
void sk_daemon__wf_step_final(sk_daemon_t *d, sk_runrt_t *r, sk_run_status_t st);
/* Evaluates dirty workflows inside the caller's transaction; returns the
 * runs to queue after commit in *ret (sk_run_t with job/step set). */
typedef struct sk_wf_action {
    sk_wfrt_t *wf;
    size_t step;
    sk_run_t rec;
} sk_wf_action_t;
int sk_daemon__wf_advance_all(sk_daemon_t *d, sk_wf_action_t **ret, size_t *ret_n, sk_err_t *err);
/* After commit: queue the recorded steps, close finished workflows. */
void sk_daemon__wf_apply(sk_daemon_t *d, sk_wf_action_t *acts, size_t n);
/* Frees the workflow runs still in memory (at exit: they stay running in the
 * store and resume at the next start). */
void sk_daemon__wf_free_all(sk_daemon_t *d);
/* Records and queues the steps of workflows that need an evaluation. */
void sk_daemon__wf_kick(sk_daemon_t *d);
/* Ends (interrupted) every unfinished step of workflow run parent, killing
 * processes that outlived their daemon: for workflows whose job is gone. */
void sk_daemon__wf_end_children(sk_daemon_t *d, int64_t parent, int64_t now, const char *reason);
/* At start-up, for a workflow run left running or queued by an earlier life. */
void sk_daemon__wf_recover(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *row, int64_t now);
/* `sked retry RUN`: a finished workflow run again from its failed steps, or a
 * plain job's run again. Returns the new run id or <0. */
int64_t sk_daemon__retry(sk_daemon_t *d, int64_t run_id, sk_err_t *err);
/* The environment additions and argv substitution for a step (or job) run. */
void sk_daemon__run_extra_env(sk_daemon_t *d, const sk_runrt_t *r, sk_kv_t **ret, size_t *ret_n);
/* after: a top-level run of j ended with st: start the jobs that follow it. */
void sk_daemon__after(sk_daemon_t *d, sk_jobrt_t *j, sk_run_status_t st);

/* daemon_alert.c */
/* A final outcome, as alerts need it. */
typedef struct sk_alert_outcome {
    const char *step;
    int64_t run_id;
    sk_run_status_t status;
    int prev_outcome; /* the job's last outcome before this one (recovered) */
    int exit_code, signal, attempt, max_attempts;
    int64_t scheduled_at, started_at, ended_at;
    const char *reason;
    const char *log_path;
} sk_alert_outcome_t;
/* snap is the snapshot cfg belongs to: kept while the delivery may be retried. */
void sk_daemon__alert(sk_daemon_t *d, sk_jobrt_t *j, sk_config_t *snap, const sk_alert_cfg_t *cfg,
                      unsigned event, struct sk_alert_event *ev, const char *log_path);
void sk_daemon__alert_outcome(sk_daemon_t *d, sk_jobrt_t *j, sk_config_t *snap,
                              const sk_alert_cfg_t *cfg, const sk_alert_outcome_t *o);
/* A fire that should have started and did not: once per instant. */
void sk_daemon__alert_missed(sk_daemon_t *d, sk_jobrt_t *j, int64_t run_id, int64_t at,
                             const char *reason);
void sk_daemon__alert_late(sk_daemon_t *d, sk_runrt_t *r);
/* Starts the alert queue; the leader also takes up the deliveries a crash
 * (or the previous leader) left pending. */
void sk_daemon__alerts_start(sk_daemon_t *d);
/* Takes up the pending deliveries in the store (a node that became leader). */
void sk_daemon__alerts_resume(sk_daemon_t *d);
void sk_daemon__alerts_stop(sk_daemon_t *d);

/* daemon.c */
/* Re-reads sked.yaml and applies it, whatever it removes (SIGHUP, the API:
 * the user asked for it; the file watcher's reloads may hold a file back).
 * On errors keeps the running configuration and puts the first error in
 * msg. Returns 0 or -1. Loop thread. */
int sk_daemon__reload(sk_daemon_t *d, const char *why, char *msg, size_t size);

/* daemon_api.c: the HTTP API (control socket and TCP) */
int sk_daemon__api_start(sk_daemon_t *d, sk_err_t *err);
/* Ends the API: waiting requests get 503; joins the server's threads. */
void sk_daemon__api_stop(sk_daemon_t *d);

#endif
