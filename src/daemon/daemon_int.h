/* The daemon's state, shared by its source files only. */
#ifndef SK_DAEMON_INT_H
#define SK_DAEMON_INT_H

#include "daemon.h"
#include "../common/log.h"
#include "../config/config.h"
#include "../runner/runner.h"
#include "../sched/sched.h"
#include "../store/store.h"

typedef struct sk_daemon sk_daemon_t;
typedef struct sk_jobrt sk_jobrt_t;
typedef struct sk_runrt sk_runrt_t;

/* A job's runtime state: survives reloads while the job exists. */
struct sk_jobrt {
    char *name;
    const sk_job_cfg_t *cfg; /* in d->config; NULL once removed */
    sk_heap_node_t node;     /* keyed by next_due */
    int64_t next_due;        /* next scheduled instant (ms); 0 none */
    int64_t last_fire;       /* last scheduled instant handled (ms) */
    int64_t anchor;          /* first seen (ms): where `every` counts from */
    int active;              /* its runs that are running */
    int waiting;             /* its runs waiting to start */
    bool paused;
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
    int64_t scheduled_at, not_before;
    sk_proc_t *proc;
    char *log_path;
    bool replaced;  /* stopped by overlap: replace */
    bool shutdown;  /* stopped because the daemon stops */
    sk_proc_result_t result;
    sk_runrt_t *next; /* in d->waiting, d->running or d->finished */
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

    sk_jobrt_t **jobs;
    size_t njobs, jobs_cap;
    sk_heap_t heap;

    sk_runrt_t *waiting; /* FIFO of runs recorded but not started */
    sk_runrt_t *running;
    sk_runrt_t *finished; /* ended, outcome not yet recorded */
    int nrunning;

    uv_timer_t tick;    /* the single timer for the earliest due thing */
    uv_timer_t flush;   /* 0 ms: record finished runs in one transaction */
    uv_timer_t reload_debounce;
    uv_signal_t sigterm, sigint, sighup;
    uv_pipe_t server;
    uv_fs_event_t watch;
    bool watching;
    int clock_fd;          /* Linux: a timerfd that fires when the wall clock is set */
    uv_poll_t clock_poll;  /* or jumps on resume from suspend */
    bool clock_watching;
    bool server_open;

    int64_t last_wall, last_mono; /* to see clock jumps */
    int64_t store_retry_at;       /* after a store error: back off until then */
    int64_t store_backoff;
    bool starting;                /* first pass after start-up: catch up */
    bool stopping;
    int exit_code;
};

/* daemon_fire.c */
void sk_daemon__arm(sk_daemon_t *d);
void sk_daemon__on_tick(uv_timer_t *t);
sk_jobrt_t *sk_daemon__job(sk_daemon_t *d, const char *name);
void sk_daemon__schedule_job(sk_daemon_t *d, sk_jobrt_t *j, int64_t now);
/* Records a manual run of job and queues it. Returns the run id or <0. */
int64_t sk_daemon__trigger(sk_daemon_t *d, sk_jobrt_t *j, sk_err_t *err);

/* daemon_run.c */
sk_runrt_t *sk_daemon__run_new(sk_daemon_t *d, sk_jobrt_t *j, const sk_run_t *rec);
void sk_daemon__pump(sk_daemon_t *d, int64_t now);
void sk_daemon__stop_all(sk_daemon_t *d, bool hard);
void sk_daemon__recover(sk_daemon_t *d, int64_t now);
int64_t sk_daemon__earliest_wait(sk_daemon_t *d);
void sk_daemon__on_flush(uv_timer_t *t);
void sk_daemon__maybe_exit(sk_daemon_t *d);

/* daemon_ctl.c */
int sk_daemon__ctl_start(sk_daemon_t *d, sk_err_t *err);
void sk_daemon__ctl_stop(sk_daemon_t *d);

#endif
