/*
 * The firing engine. Trigger arithmetic: sk_sched_next answers "when is this
 * job next due after instant T" for cron, every and at triggers, with the one
 * rule for where an `every:` grid starts (sk_sched_anchor); the heap orders
 * jobs by their next due instant so the daemon arms one timer for the
 * earliest; sk_sched_decide turns a due job's instants into intents (start,
 * skip, record missed) by its catch-up, grace, overlap and jitter settings;
 * sk_sched_clock_jump and sk_sched_clock_back classify and absorb wall-clock
 * jumps. Pure: no I/O, no libuv, no store, no clock of its own: every "now"
 * is an argument (the daemon reads it from its sk_clock_t). Loop thread, or
 * any thread that owns the data it passes.
 */
#ifndef SK_SCHED_H
#define SK_SCHED_H

#include "../config/config.h"

/*
 * The first scheduled instant of job strictly after after_ms (unix ms).
 * every: start + k * every (start defaults to anchor_ms, the time the job was
 * first seen); cron: the earliest of its expressions (second precision);
 * at: the instant if it is after after_ms. Returns 0 or SK_ENEVER (no
 * trigger, @reboot only, or nothing left).
 */
int sk_sched_next(const sk_job_cfg_t *job, int64_t anchor_ms, int64_t after_ms, int64_t *ret_ms);

/*
 * Where an `every:` job without `start:` counts from (the anchor_ms of
 * sk_sched_next): its last fire when it has one (last_fire_ms > 0), so that
 * the grid goes on across restarts; else now_ms rounded down to a whole
 * second (a new job, or a new definition, counts from when it is loaded).
 * For other jobs the anchor is unused and this returns the rounded now_ms.
 * The daemon, `sked next` and `sked list` all take the anchor from here.
 */
int64_t sk_sched_anchor(const sk_job_cfg_t *job, int64_t last_fire_ms, int64_t now_ms);

/* One wake looks at most at the newest SK_SCHED_MAX_BACKLOG instants of a
 * job, found in at most SK_SCHED_MAX_SCAN steps; older ones are counted. */
#define SK_SCHED_MAX_BACKLOG 1000
#define SK_SCHED_MAX_SCAN 100000
/* overlap: queue holds at most this many runs of one job waiting. */
#define SK_SCHED_MAX_QUEUED 100
/* A wall clock that moved this far (ms) from the monotonic clock jumped. */
#define SK_SCHED_JUMP_MS 2000

/* What the engine is told of one due job: the caller's state of it. */
typedef struct sk_sched_job {
    const sk_job_cfg_t *cfg; /* borrowed; not NULL */
    void *owner;             /* the caller's job, copied into each intent */
    int64_t anchor;          /* see sk_sched_anchor */
    int64_t last_fire;       /* the last instant handled (ms) */
    int64_t next_due;        /* the instant its timer was armed for (0: none) */
    int active, waiting;     /* its runs running / waiting to start */
} sk_sched_job_t;

typedef enum {
    SK_SCHED_START, /* queue a run (record it queued, then start it) */
    SK_SCHED_SKIP,  /* record it skipped: overlap says no */
    SK_SCHED_MISS,  /* record it missed: too late, or catch-up says no */
} sk_sched_act_t;

/* One decision about one instant of one job. */
typedef struct sk_sched_intent {
    void *owner; /* sk_sched_job_t.owner */
    int64_t at;  /* the scheduled instant (ms) */
    sk_sched_act_t act;
    bool catchup;          /* START, SKIP: a late instant taken up (trigger catchup);
                            * false when on time, and always for MISS */
    const char *reason;    /* SKIP, MISS: why, static text; START: NULL */
    int64_t delay;         /* START: jitter; the run starts no earlier than at + delay */
    bool replace;          /* START: overlap replace and a run is going: stop it first */
    int64_t new_last_fire; /* on the job's last intent of a decide: its new last fire;
                            * 0 on the others */
} sk_sched_intent_t;

/* A growing list of intents; zero-initialise, then sk_sched_intents_release. */
typedef struct sk_sched_intents {
    sk_sched_intent_t *items;
    size_t n, cap;
} sk_sched_intents_t;

void sk_sched_intents_release(sk_sched_intents_t *v);

/* What a decide left out, for the caller to log. */
typedef struct sk_sched_backlog {
    size_t unrecorded; /* instants older than the newest SK_SCHED_MAX_BACKLOG: no intent */
    bool capped;       /* the scan stopped after SK_SCHED_MAX_SCAN instants: the new last
                        * fire is still in the past, so the job is due again at once */
} sk_sched_backlog_t;

/*
 * Decides what to do with each instant of job in (last_fire, now_ms] and
 * appends one intent per instant to out (none when nothing is due), the
 * last one carrying the job's new last fire. starting: the first wake after
 * start-up or promotion, where nothing is on time. Rules (in order):
 *   on time = !starting, the instant is next_due and the first looked at;
 *   grace   = misfire_grace set ? now - t <= grace : catchup all ? yes :
 *             the next instant is still to come; an on-time instant less
 *             than 1 s late is always in grace (timer latency);
 *   catch-up none runs only the on-time instant, latest only the newest,
 *             all each, in grace; the rest are MISS;
 *   overlap skip with a run going or waiting -> SKIP; queue with
 *             SK_SCHED_MAX_QUEUED waiting -> SKIP; else START (replace marks
 *             it when a run is going); instants of one decide never skip
 *             each other (active/waiting are as passed in);
 *   jitter  = a delay in [0, jitter) hashed from the name and the instant,
 *             the same after a restart.
 * Borrows job; out grows (aborts on allocation failure). ret_backlog (may
 * be NULL) is always written.
 */
void sk_sched_decide(const sk_sched_job_t *job, int64_t now_ms, bool starting,
                     sk_sched_intents_t *out, sk_sched_backlog_t *ret_backlog);

typedef enum {
    SK_SCHED_CLOCK_STEADY,  /* wall and monotonic time moved together (within JUMP_MS) */
    SK_SCHED_CLOCK_FORWARD, /* the wall clock jumped ahead */
    SK_SCHED_CLOCK_BACK,    /* the wall clock went back */
} sk_sched_jump_t;

/*
 * Compares the wall and monotonic time elapsed since the last look
 * (last_wall_ms, last_mono_ms; last_mono_ms 0: never looked, STEADY) with
 * now. A stall (SIGSTOP, a busy machine) moves both alike: STEADY, and the
 * instants it passed are late fires for sk_sched_decide. ret_drift_ms (may
 * be NULL): wall elapsed minus monotonic elapsed, 0 when never looked.
 */
sk_sched_jump_t sk_sched_clock_jump(int64_t last_wall_ms, int64_t last_mono_ms, int64_t wall_ms,
                                    int64_t mono_ms, int64_t *ret_drift_ms);

/*
 * The wall clock went back to now_ms: an `every:` job (intervals measure
 * real time) whose last fire is now in the future restarts counting from
 * now_ms (last fire and, without `start:`, anchor = now_ms, not rounded)
 * instead of stalling until the clock catches up. Cron and at jobs keep
 * their last fire, so no instant fires twice. Returns true when it changed
 * *anchor or *last_fire (the caller reschedules the job).
 */
bool sk_sched_clock_back(const sk_job_cfg_t *job, int64_t now_ms, int64_t *anchor,
                         int64_t *last_fire);

/* A node embedded in whatever the heap orders; key is the due instant. */
typedef struct sk_heap_node {
    int64_t key;
    size_t idx; /* position in the heap; SIZE_MAX when not in it */
} sk_heap_node_t;

typedef struct sk_heap {
    sk_heap_node_t **items;
    size_t n, cap;
} sk_heap_t;

void sk_heap_init(sk_heap_t *h);
void sk_heap_release(sk_heap_t *h);
/* Inserts node, or moves it if already in the heap, with the new key. */
void sk_heap_set(sk_heap_t *h, sk_heap_node_t *node, int64_t key);
void sk_heap_remove(sk_heap_t *h, sk_heap_node_t *node);
/* The node with the smallest key, or NULL. */
sk_heap_node_t *sk_heap_top(const sk_heap_t *h);

#define SK_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
