/*
 * The store: every fire, run attempt and job state that must survive a
 * crash. One interface, two back ends (SQLite, PostgreSQL), each a
 * `const sk_store_ops_t` table like SQLite's VFS, over one shared layer
 * that makes every check below the same for both. Calls are synchronous
 * and made from one thread per sk_store_t.
 *
 * Invariants the engine relies on:
 * - A scheduled fire is recorded (sk_store_run_insert) before its process
 *   starts; a fire of (job, scheduled_at) with trigger schedule, catchup or
 *   missed is recorded at most once: the second insert fails with -EEXIST.
 * - A run's outcome is recorded (sk_store_run_finish) before it is reported.
 * - Runs are never deleted except by pruning (keep_runs / keep_days).
 *
 * Errors: -EEXIST, -EINVAL (a bad argument or a state change the run's
 * current state does not allow), -EALREADY, SK_ENOTFOUND as documented per
 * operation; SK_ESTORE for everything the store itself failed at (disk full,
 * I/O error, corrupt or foreign file, lock held too long), with a message
 * naming the file and saying which. After an SK_ESTORE no transaction is left
 * open: the store keeps working once the cause (e.g. a full disk) is gone.
 *
 * Text: what the store keeps is UTF-8 (RFC 3629) on every back end
 * (PostgreSQL can keep nothing else); strings are C strings, so none holds
 * a NUL. Names and text sked makes itself (job, step and node names,
 * labels, output keys, log paths, params, pins, specs, alert events,
 * channels and payloads, a node's API address and version) that are not
 * UTF-8 are refused with -EINVAL naming the field ("...: the job name is
 * not valid UTF-8"), before anything is written, so a batch goes on. Free
 * text that may carry bytes from outside sked (a run's reason, an output's
 * value, an alert's delivery error) is never refused, so that an outcome
 * is always writable: each byte of it that starts no well-formed sequence
 * is kept as U+FFFD. A read keyed by a name that is not UTF-8 finds
 * nothing, as for any unknown name.
 *
 * Test hook: SKED_TEST_STORE_FAIL_AFTER=N in the environment when a store is
 * opened makes its Nth and later write operations (run_insert, run_start,
 * run_finish, job_state_set, prune, outputs_put, alert_insert, alert_update,
 * commit) fail with SK_ESTORE "injected fault", exactly as a real I/O error
 * would (a batch is rolled back).
 * See docs/internals/store.md.
 */
#ifndef SK_STORE_H
#define SK_STORE_H

#include "../common/common.h"

/* Append only: job_state.last_outcome keeps a status as its number. */
#define SK_RUN_STATUSES(X)                                                                         \
    X(SK_RUN_QUEUED, "queued")                                                                     \
    X(SK_RUN_RUNNING, "running")                                                                   \
    X(SK_RUN_SUCCEEDED, "succeeded")                                                               \
    X(SK_RUN_FAILED, "failed")                                                                     \
    X(SK_RUN_TIMED_OUT, "timed_out")                                                               \
    X(SK_RUN_KILLED, "killed")                                                                     \
    X(SK_RUN_SKIPPED, "skipped")                                                                   \
    X(SK_RUN_MISSED, "missed")                                                                     \
    X(SK_RUN_INTERRUPTED, "interrupted")

typedef enum sk_run_status {
#define SK_X(e, s) e,
    SK_RUN_STATUSES(SK_X)
#undef SK_X
} sk_run_status_t;

#define SK_TRIGGERS(X)                                                                             \
    X(SK_TRIG_SCHEDULE, "schedule")                                                                \
    X(SK_TRIG_MANUAL, "manual")                                                                    \
    X(SK_TRIG_CATCHUP, "catchup")                                                                  \
    X(SK_TRIG_RETRY, "retry")                                                                      \
    X(SK_TRIG_EVENT, "event")                                                                      \
    X(SK_TRIG_UPSTREAM, "upstream")

typedef enum sk_trigger {
#define SK_X(e, s) e,
    SK_TRIGGERS(SK_X)
#undef SK_X
} sk_trigger_t;

/* The spelling of s in the store, the API and the CLI ("timed_out"); a static
 * string, never NULL ("unknown" for a value outside the enum). Any thread. */
const char *sk_run_status_str(sk_run_status_t s);
/* The status spelled s; SK_EPARSE if unknown (s may be NULL), *ret untouched. */
int sk_run_status_parse(const char *s, sk_run_status_t *ret); /* SK_EPARSE if unknown */
/* As sk_run_status_str, for trigger kinds ("schedule"). */
const char *sk_trigger_str(sk_trigger_t t);
/* As sk_run_status_parse, for trigger kinds. */
int sk_trigger_parse(const char *s, sk_trigger_t *ret);
/* succeeded, failed, timed_out, killed, skipped, missed, interrupted */
bool sk_run_status_final(sk_run_status_t s);

/* One attempt of one fire of a job, or of one step of a workflow run. Times are
 * unix milliseconds, 0 when unset. Strings owned by the struct (free with
 * sk_run_release). */
typedef struct sk_run {
    int64_t id;
    char *job;
    char *step; /* NULL for a plain job */
    sk_run_status_t status;
    sk_trigger_t trigger;
    int attempt;          /* 1 for the first */
    int64_t scheduled_at; /* the fire instant (ms); for manual runs, when triggered */
    int64_t queued_at, started_at, ended_at;
    int exit_code; /* -1 when none */
    int signal;    /* 0 when none */
    int pid;       /* 0 when not started */
    char *reason;  /* why it failed/was skipped/missed, or NULL */
    char *log_path;
    int64_t parent_id; /* a step's workflow run; 0 for a plain job or a workflow run */
    char *params;      /* a workflow run's parameters as a JSON object, or NULL */
    char *event;       /* trigger event: the event that started it, "KIND" or "KIND: DETAIL"
                        * ("boot", "start"); NULL for other triggers */
    /* Several nodes (PostgreSQL): */
    char *node;      /* the node that claimed (runs) it, or NULL */
    char *spec;      /* set when dispatched: what the claiming node needs (JSON), or NULL */
    char *cancel;    /* a stop the leader asked for: the reason to end it with, or NULL */
    bool dispatched; /* the leader handed it to the cluster (run_dispatch) */
    bool settled;    /* the leader took in its outcome (run_settle) */
} sk_run_t;

/* Frees r's strings and sets them to NULL (r itself is the caller's); r may be
 * NULL or zeroed. */
void sk_run_release(sk_run_t *r);
/* Releases runs[0..n) and frees the array; runs may be NULL. */
void sk_runs_free(sk_run_t *runs, size_t n);

/* runs_query never returns more rows than this in one call, whatever the
 * filter's limit: page with before_id. */
#define SK_STORE_QUERY_MAX 10000

typedef struct sk_run_filter {
    const char *job;   /* NULL: all */
    int64_t before_id; /* 0: none; for paging, newest first */
    size_t limit;      /* 0: 100; at most SK_STORE_QUERY_MAX */
    bool only_active;  /* queued or running only */
    int64_t parent_id; /* >0: only the steps of this workflow run, oldest first */
    bool top_level;    /* only rows with parent_id 0 (plain jobs and workflow runs) */
    bool status_set;   /* only rows with this status: */
    sk_run_status_t status;
    int64_t since; /* >0: rows queued, started or ended at or after it (ms), or active */
} sk_run_filter_t;

/* Per-job state kept across restarts. */
typedef struct sk_job_state {
    /* The last scheduled instant handled (fired, skipped or missed), ms; 0 none. */
    int64_t last_fire;
    bool paused;
    int last_outcome;       /* sk_run_status_t of the last finished run, -1 none (recovered) */
    int64_t missed_alerted; /* the last missed instant an alert was raised for (once only) */
} sk_job_state_t;

/* A key=value a step wrote to $SKED_OUTPUT, kept with its run. */
typedef struct sk_output {
    char *key;
    char *value;
} sk_output_t;

/* Frees o[0..n)'s strings and the array; o may be NULL. */
void sk_outputs_free(sk_output_t *o, size_t n);

#define SK_ALERT_STATES(X)                                                                         \
    X(SK_ALERTST_PENDING, "pending")                                                               \
    X(SK_ALERTST_DELIVERED, "delivered")                                                           \
    X(SK_ALERTST_FAILED, "failed")                                                                 \
    X(SK_ALERTST_DROPPED, "dropped") /* rate-limited */

typedef enum sk_alert_state {
#define SK_X(e, s) e,
    SK_ALERT_STATES(SK_X)
#undef SK_X
} sk_alert_state_t;

/* As sk_run_status_str and sk_run_status_parse, for alert states. */
const char *sk_alert_state_str(sk_alert_state_t s);
int sk_alert_state_parse(const char *s, sk_alert_state_t *ret);

/* One delivery of one alert through one channel. */
typedef struct sk_alert_rec {
    int64_t id;
    char *job;
    int64_t run_id; /* 0 when not about a run (e.g. missed without a record) */
    char *event;    /* "failure", "timeout", "missed", ... */
    char *channel;  /* "webhook", "slack", "email", "command" */
    char *payload;  /* the JSON document sent (or given on stdin) */
    sk_alert_state_t state;
    int attempts;
    int64_t created_at, next_at, done_at; /* ms */
    char *last_error;
} sk_alert_rec_t;

/* As sk_run_release and sk_runs_free, for alert records. */
void sk_alert_rec_release(sk_alert_rec_t *a);
void sk_alert_recs_free(sk_alert_rec_t *a, size_t n);

/* A running run's process, for run_pids. */
typedef struct sk_run_pid {
    int64_t id;
    int pid;
} sk_run_pid_t;

/* A node of a cluster (several daemons on one store), as it last said. */
typedef struct sk_node {
    char *name;
    char *labels;     /* comma-separated, "" for none */
    int max_parallel; /* its own limit */
    char *api;        /* its HTTP API (http://HOST:PORT), or NULL */
    int pid;
    char *version;
    int64_t started_at; /* ms */
    int64_t seen_at;    /* its last heart-beat, the server's clock (ms) */
    int64_t age_ms;     /* server now - seen_at, when listed */
    bool leader;        /* it said it leads, at its last heart-beat */
    int running;        /* runs it holds now (status running, node = it), when listed */
} sk_node_t;

void sk_node_release(sk_node_t *n);
void sk_nodes_free(sk_node_t *n, size_t count);

typedef struct sk_store sk_store_t;

typedef struct sk_store_ops {
    const char *name;
    /* Opens (creating and migrating when new) the store at url. A file that
     * exists but is not a sked store, or is corrupt, is refused (SK_ESTORE
     * with a message); it is never silently re-created. */
    int (*open)(const char *url, sk_store_t **ret, sk_err_t *err);
    /* Read-only connection for readers (CLI, API). Fails if the store does
     * not exist. */
    int (*open_readonly)(const char *url, sk_store_t **ret, sk_err_t *err);
    void (*close)(sk_store_t *st);

    /* Inserts run (id ignored; on success run->id is set; strings borrowed).
     * -EEXIST when a schedule/catchup fire of (job, scheduled_at) with
     * attempt 1 exists (inside a batch the batch goes on); -EINVAL when job
     * is NULL or empty, attempt < 1 or status/trigger is out of range. Ids
     * grow and are never reused, even after pruning.
     * A workflow step row has parent_id > 0 and a step name; its parent must
     * be a top-level run (parent_id 0) of the same job, else -EINVAL (as for
     * parent_id < 0, or a parent without a step name). Step rows are never
     * subject to the -EEXIST rule. params is stored as given (not parsed). */
    int (*run_insert)(sk_store_t *st, sk_run_t *run, sk_err_t *err);
    /* queued -> running with start time, pid and log path (borrowed; may be
     * NULL). SK_ENOTFOUND if no such run; -EINVAL if it is not queued. */
    int (*run_start)(sk_store_t *st, int64_t id, int64_t started_at, int pid, const char *log_path,
                     sk_err_t *err);
    /* Records the pids of running runs whose start was recorded before their
     * processes existed (pid 0), in a transaction of its own (inside a batch:
     * -EINVAL) that does not wait for the disk: the pids survive a crash of
     * sked (the system has them) but perhaps not a power cut, after which
     * the processes are gone as well. A run no longer running is skipped.
     * SK_ESTORE. */
    int (*run_pids)(sk_store_t *st, const sk_run_pid_t *v, size_t n, sk_err_t *err);
    /* Records the outcome: queued or running -> status, which must be final
     * (else -EINVAL). exit_code -1 and signal 0 mean none; reason (borrowed)
     * NULL keeps the reason the run already has. SK_ENOTFOUND if no such
     * run; -EALREADY if it already has an outcome. */
    int (*run_finish)(sk_store_t *st, int64_t id, sk_run_status_t status, int64_t ended_at,
                      int exit_code, int signal, const char *reason, sk_err_t *err);
    /* *ret is filled with new strings (sk_run_release). */
    int (*run_get)(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err); /* SK_ENOTFOUND */
    /* Newest first (by id). *ret is new memory (sk_runs_free), NULL when
     * nothing matched. f may be NULL (all jobs, first page). The filter's
     * fields combine (AND); with parent_id > 0 the rows come oldest first
     * (before_id still means id < before_id). */
    int (*runs_query)(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret, size_t *ret_n,
                      sk_err_t *err);
    /* The newest run of job (any status) — for "last outcome". Workflow
     * step rows are not considered: the job's own run is. SK_ENOTFOUND if none. */
    int (*run_last)(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err);

    /* A job never seen gets last_fire 0, not paused, last_outcome -1 and
     * missed_alerted 0 (not an error). SK_ESTORE for a stored last_outcome
     * that is no status. */
    int (*job_state_get)(sk_store_t *st, const char *job, sk_job_state_t *ret, sk_err_t *err);
    /* Creates or replaces job's state, every field (read, change, write to
     * keep the others). -EINVAL if last_outcome is neither -1 nor a status. */
    int (*job_state_set)(sk_store_t *st, const char *job, const sk_job_state_t *s, sk_err_t *err);
    /* Marks job's boot trigger as fired for boot boot_id (the machine's
     * /proc/sys/kernel/random/boot_id): 1 when it was not yet (the caller
     * records its run in the same transaction, so that each boot fires it
     * exactly once), 0 when this boot already fired it. The mark is one row
     * per job, never pruned. */
    int (*boot_claim)(sk_store_t *st, const char *job, const char *boot_id, sk_err_t *err);

    /* Deletes job's final top-level runs beyond the newest keep_runs (0: no
     * limit; step rows are not counted) and those that ended before
     * `ended_before` ms (0: no limit). A workflow run goes with its step
     * rows, and every deleted row with its outputs and its alerts that are
     * no longer pending; a workflow run with a queued or running step is
     * kept. Delivered, failed and dropped alerts of job about no run (or a
     * run gone) go too when raised before the newest pruned run ended (or
     * before ended_before). Calls cb with each deleted row's log path (may
     * be NULL) so the caller removes it. Queued and running runs are never
     * deleted. Works in chunks, each its own transaction, calling cb after
     * the chunk is committed (inside a batch: after the chunk is deleted);
     * cb may call the store. */
    int (*prune)(sk_store_t *st, const char *job, size_t keep_runs, int64_t ended_before,
                 void (*cb)(const char *log_path, void *data), void *data, sk_err_t *err);

    /* Outputs of a run (key=value lines from $SKED_OUTPUT): replaces any
     * earlier set for that run, in one transaction (n 0 clears it); o is
     * borrowed. Keys are unique per run: -EINVAL for a NULL, empty or
     * non-UTF-8 key, a NULL value or a key given twice (nothing is
     * changed); values are kept as the text rule above says. SK_ENOTFOUND
     * if there is no such run. Outputs are deleted with their run (prune). */
    int (*outputs_put)(sk_store_t *st, int64_t run_id, const sk_output_t *o, size_t n,
                       sk_err_t *err);
    /* New memory (sk_outputs_free), in key order (bytewise); NULL and 0
     * when the run has none (or does not exist). */
    int (*outputs_get)(sk_store_t *st, int64_t run_id, sk_output_t **ret, size_t *ret_n,
                       sk_err_t *err);

    /* Alerts: one row per (alert, channel); a->id is set (a->id ignored,
     * strings borrowed). -EINVAL when job, event or channel is NULL or
     * empty, payload is NULL, state is out of range, attempts or run_id < 0.
     * Ids grow and are never reused. Times 0 mean unset. */
    int (*alert_insert)(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err);
    /* Records a delivery attempt: new state, attempts, next_at, done_at,
     * error (borrowed; NULL keeps the last error). Any state may follow any
     * other. SK_ENOTFOUND if no such alert; -EINVAL for a state out of
     * range or attempts < 0. */
    int (*alert_update)(sk_store_t *st, int64_t id, sk_alert_state_t state, int attempts,
                        int64_t next_at, int64_t done_at, const char *error, sk_err_t *err);
    /* Every pending alert, oldest (lowest id) first (at start-up: deliver
     * what a crash left). New memory (sk_alert_recs_free), NULL when none. */
    int (*alerts_pending)(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err);
    /* Newest first; job NULL for all; limit 0 = 100, at most
     * SK_STORE_QUERY_MAX. New memory as above. */
    int (*alerts_query)(sk_store_t *st, const char *job, size_t limit, sk_alert_rec_t **ret,
                        size_t *ret_n, sk_err_t *err);

    /* Runs in one transaction: begin/commit let the engine batch writes
     * (e.g. 1,000 fires due in one second). Nested calls are not allowed
     * (-EINVAL). Inside a batch, -EEXIST/-EINVAL/SK_ENOTFOUND/-EALREADY leave
     * the batch going; any SK_ESTORE rolls the whole batch back at once, later
     * writes fail until commit or rollback, and commit then returns SK_ESTORE
     * saying so. commit without begin is -EINVAL. */
    int (*begin)(sk_store_t *st, sk_err_t *err);
    int (*commit)(sk_store_t *st, sk_err_t *err);
    /* Abandons the open transaction (after a failed write); a no-op (0) when
     * none is open, so that cleanup paths may call it unconditionally. */
    int (*rollback)(sk_store_t *st, sk_err_t *err);

    /* Leadership of the store (several nodes on one PostgreSQL database): sets
     * *ret to whether this connection holds it, taking it when it is free.
     * It is held until the connection ends (its session dies with the node
     * or its network), so a node calls this again every few seconds: false
     * after true means it was lost. SQLite: always true (one daemon per file,
     * by the lock file). SK_ESTORE when the server cannot be reached.
     * PostgreSQL: once a store has led, the writes only a leader makes
     * (run_insert, job_state_set, run_dispatch, run_settle) fail with
     * SK_ESTORE whenever it does not hold the lead through the session that
     * took it (lost, or replaced by a reconnect). */
    int (*leader)(sk_store_t *st, bool *ret, sk_err_t *err);

    /* Nodes: every back end keeps their heart-beats (SQLite: its one
     * node's). Creates or updates n's row (by name; strings borrowed; started_at,
     * seen_at, age_ms and running ignored): seen_at becomes the server's now,
     * and *server_now (may be NULL) is set to it. */
    int (*node_beat)(sk_store_t *st, const sk_node_t *n, int64_t *server_now, sk_err_t *err);
    /* Every node row, by name, with age_ms and running filled. New memory
     * (sk_nodes_free), NULL when none. Rows whose seen_at is older than
     * forget_ms (>0) are deleted first. */
    int (*nodes_list)(sk_store_t *st, int64_t forget_ms, sk_node_t **ret, size_t *ret_n,
                      sk_err_t *err);
    /* What only a store that several nodes share can do, or NULL: a daemon
     * on a store without it (SQLite) is a single node and leads always. */
    const struct sk_store_cluster_ops *cluster;
} sk_store_ops_t;

/* The operations of a store several nodes share (PostgreSQL), every one
 * set; st->ops->cluster, or sk_store_cluster(st). Contracts as above. */
typedef struct sk_store_cluster_ops {
    /* The leader hands queued run id to the cluster: dispatched with pin
     * (comma-separated labels a node must all have, or NULL/"" for any) and
     * spec (borrowed JSON text, stored as given). Also clears settled.
     * SK_ENOTFOUND; -EINVAL if it is not queued. */
    int (*run_dispatch)(sk_store_t *st, int64_t id, const char *pin, const char *spec,
                        sk_err_t *err);
    /* Claims up to max dispatched queued runs whose queued_at (their "not
     * before") is <= now and whose pin labels are all in labels (comma-
     * separated, "" none) and that no one asked to stop (run_cancel),
     * oldest id first, skipping rows another
     * transaction holds (FOR UPDATE SKIP LOCKED): each becomes running with
     * node = node and started_at = now (pid 0, no log yet). New memory
     * (sk_runs_free, spec filled), NULL and 0 when none. */
    int (*runs_claim)(sk_store_t *st, const char *node, const char *labels, size_t max, int64_t now,
                      sk_run_t **ret, size_t *ret_n, sk_err_t *err);
    /* A claimed run's process started: pid and log path (borrowed). Only
     * while it is running on node: else -EALREADY (it was ended meanwhile,
     * e.g. its node counted as dead). SK_ENOTFOUND. */
    int (*run_attach)(sk_store_t *st, int64_t id, const char *node, int pid, const char *log_path,
                      sk_err_t *err);
    /* Asks the node running (or about to claim) run id to stop it, ending it
     * with reason (borrowed, not NULL). SK_ENOTFOUND; -EALREADY if final. */
    int (*run_cancel)(sk_store_t *st, int64_t id, const char *reason, sk_err_t *err);
    /* The runs node holds (status running, node = node), oldest first, with
     * cancel filled. New memory, NULL when none. */
    int (*runs_of_node)(sk_store_t *st, const char *node, sk_run_t **ret, size_t *ret_n,
                        sk_err_t *err);
    /* Every dispatched run not yet settled (any status), oldest first: what
     * the leader has handed out and not yet taken back. New memory. */
    int (*runs_unsettled)(sk_store_t *st, sk_run_t **ret, size_t *ret_n, sk_err_t *err);
    /* The same, only those with an outcome (what the leader polls for). */
    int (*runs_ended_unsettled)(sk_store_t *st, sk_run_t **ret, size_t *ret_n, sk_err_t *err);
    /* The leader took in run id's outcome (its retry, its workflow's next
     * steps are recorded in the same transaction). SK_ENOTFOUND; -EALREADY
     * when settled already (by another leader, for a moment two). */
    int (*run_settle)(sk_store_t *st, int64_t id, sk_err_t *err);

    /* Ends the leadership of node (its session) when another node finds it
     * silent for lease_timeout but still holding the lock (its process
     * hangs): *ret says whether a session was ended. */
    int (*leader_evict)(sk_store_t *st, const char *node, bool *ret, sk_err_t *err);

    /* Wake-ups between nodes. wake_fd listens (again after a reconnect)
     * and returns the socket to watch for readability, or -1 (no
     * connection, inside a batch). */
    int (*wake_fd)(sk_store_t *st);
    /* Drains what arrived: *ret gets SK_WAKE_* bits. SK_ESTORE when the
     * connection is lost. */
    int (*woken)(sk_store_t *st, unsigned *ret, sk_err_t *err);
    /* Wakes every node (this one too): at commit inside a batch. */
    int (*wake_others)(sk_store_t *st, unsigned what, sk_err_t *err);
} sk_store_cluster_ops_t;

#define SK_WAKE_DISPATCHED 1u /* runs to claim */
#define SK_WAKE_ENDED 2u      /* outcomes for the leader to settle */
#define SK_WAKE_CANCEL 4u     /* stops for the nodes that run them */

/* Every back end's struct starts with this. */
struct sk_store {
    const sk_store_ops_t *ops;
    /* Called on every SK_ESTORE failure (the daemon counts them); NULL: none. */
    void (*on_error)(void *data);
    void *on_error_data;
};

extern const sk_store_ops_t sk_store_sqlite_ops;

/* Picks the back end from url ("postgres://" or "postgresql://": PostgreSQL;
 * else a SQLite file path) and opens it: *ret is new (sk_store_close). The
 * URL is never echoed in messages (it may hold a password). */
int sk_store_open(const char *url, sk_store_t **ret, sk_err_t *err);
int sk_store_open_readonly(const char *url, sk_store_t **ret, sk_err_t *err);
/*
 * Ownership of a store (DESIGN 1). One process owns a SQLite store at a
 * time: the daemon holds SK_STORE_LOCK_OWN (exclusive) for its whole life.
 * The CLI, when no daemon owns the store, reads it or runs `sked exec`
 * under SK_STORE_LOCK_SHARE, so that no daemon starts beneath it (its
 * recovery would end the CLI's run as interrupted). The lock is flock(2) on
 * "REALPATH.lock" beside the database, which nothing else opens; an OWN
 * holder writes its pid into it.
 */
typedef enum { SK_STORE_LOCK_OWN, SK_STORE_LOCK_SHARE } sk_store_lock_mode_t;
typedef struct sk_store_lock sk_store_lock_t;

/* Who holds a lock that was refused: its pid (0: unknown), whether it holds
 * it exclusively (a daemon), and its command line ("" when unknown). */
typedef struct sk_store_holder {
    long pid;
    bool owner;
    char what[256];
} sk_store_holder_t;

/*
 * Takes the lock of store url in mode, waiting up to wait_ms for holders
 * that are not a live owner (a reader passing by, a process that just
 * died). *ret is new (sk_store_unlock), or NULL for a PostgreSQL store,
 * which has no file: its nodes share it by design. Errors: SK_EBUSY when
 * another process holds it in a conflicting mode (*ret_holder, if not
 * NULL, says who); -errno when the lock file cannot be made or opened.
 * Loop thread or a CLI; it may sleep up to wait_ms.
 */
int sk_store_lock(const char *url, sk_store_lock_mode_t mode, int wait_ms, sk_store_lock_t **ret,
                  sk_store_holder_t *ret_holder, sk_err_t *err);
/* Releases l (NULL: no-op). */
void sk_store_unlock(sk_store_lock_t *l);
/* "pid 812: sked run -c /srv/sked.yaml" for messages. */
void sk_store_holder_text(const sk_store_holder_t *h, char *buf, size_t size);

/* st's cluster operations, or NULL when its back end has none (SQLite):
 * several nodes may share st only when it has them. Any thread. */
static inline const sk_store_cluster_ops_t *sk_store_cluster(const sk_store_t *st)
{
    return st->ops->cluster;
}

/* Closes st (NULL: no-op), rolling back a batch left open. */
static inline void sk_store_close(sk_store_t *st)
{
    if (st)
        st->ops->close(st);
}

/* Shorthands for st->ops->op(st, ...); contracts as in sk_store_ops_t. */
static inline int sk_store_run_insert(sk_store_t *st, sk_run_t *run, sk_err_t *err)
{
    return st->ops->run_insert(st, run, err);
}
static inline int sk_store_run_start(sk_store_t *st, int64_t id, int64_t started_at, int pid,
                                     const char *log_path, sk_err_t *err)
{
    return st->ops->run_start(st, id, started_at, pid, log_path, err);
}
static inline int sk_store_run_finish(sk_store_t *st, int64_t id, sk_run_status_t status,
                                      int64_t ended_at, int exit_code, int signal,
                                      const char *reason, sk_err_t *err)
{
    return st->ops->run_finish(st, id, status, ended_at, exit_code, signal, reason, err);
}
static inline int sk_store_run_get(sk_store_t *st, int64_t id, sk_run_t *ret, sk_err_t *err)
{
    return st->ops->run_get(st, id, ret, err);
}
static inline int sk_store_runs_query(sk_store_t *st, const sk_run_filter_t *f, sk_run_t **ret,
                                      size_t *ret_n, sk_err_t *err)
{
    return st->ops->runs_query(st, f, ret, ret_n, err);
}
static inline int sk_store_run_last(sk_store_t *st, const char *job, sk_run_t *ret, sk_err_t *err)
{
    return st->ops->run_last(st, job, ret, err);
}
static inline int sk_store_job_state_get(sk_store_t *st, const char *job, sk_job_state_t *ret,
                                         sk_err_t *err)
{
    return st->ops->job_state_get(st, job, ret, err);
}
static inline int sk_store_job_state_set(sk_store_t *st, const char *job, const sk_job_state_t *s,
                                         sk_err_t *err)
{
    return st->ops->job_state_set(st, job, s, err);
}
static inline int sk_store_prune(sk_store_t *st, const char *job, size_t keep_runs,
                                 int64_t ended_before, void (*cb)(const char *log_path, void *data),
                                 void *data, sk_err_t *err)
{
    return st->ops->prune(st, job, keep_runs, ended_before, cb, data, err);
}
static inline int sk_store_outputs_put(sk_store_t *st, int64_t run_id, const sk_output_t *o,
                                       size_t n, sk_err_t *err)
{
    return st->ops->outputs_put(st, run_id, o, n, err);
}
static inline int sk_store_outputs_get(sk_store_t *st, int64_t run_id, sk_output_t **ret,
                                       size_t *ret_n, sk_err_t *err)
{
    return st->ops->outputs_get(st, run_id, ret, ret_n, err);
}
static inline int sk_store_alert_insert(sk_store_t *st, sk_alert_rec_t *a, sk_err_t *err)
{
    return st->ops->alert_insert(st, a, err);
}
static inline int sk_store_alert_update(sk_store_t *st, int64_t id, sk_alert_state_t state,
                                        int attempts, int64_t next_at, int64_t done_at,
                                        const char *error, sk_err_t *err)
{
    return st->ops->alert_update(st, id, state, attempts, next_at, done_at, error, err);
}
static inline int sk_store_alerts_pending(sk_store_t *st, sk_alert_rec_t **ret, size_t *ret_n,
                                          sk_err_t *err)
{
    return st->ops->alerts_pending(st, ret, ret_n, err);
}
static inline int sk_store_alerts_query(sk_store_t *st, const char *job, size_t limit,
                                        sk_alert_rec_t **ret, size_t *ret_n, sk_err_t *err)
{
    return st->ops->alerts_query(st, job, limit, ret, ret_n, err);
}
static inline int sk_store_begin(sk_store_t *st, sk_err_t *err)
{
    return st->ops->begin(st, err);
}
static inline int sk_store_commit(sk_store_t *st, sk_err_t *err)
{
    return st->ops->commit(st, err);
}
static inline int sk_store_rollback(sk_store_t *st, sk_err_t *err)
{
    return st->ops->rollback(st, err);
}

#endif
