/*
 * The store module's insides: the layer the back ends share
 * (store_common.c: the state every back end keeps for batches, read-only
 * stores and fault injection, the checks of every argument, the rule for
 * text, the batch operations and the pruning loop), and what tests may
 * reach (the connection behind a store, the schema version this build
 * writes and the migrations' SQL). Not for use outside src/store and tests.
 * docs/internals/store.md draws the layers.
 */
#ifndef SK_STORE_INT_H
#define SK_STORE_INT_H

#include "store.h"

#include <sqlite3.h>

/* libpq's header is not needed to name its connection (C11 allows the
 * typedef again where libpq-fe.h is included too). */
typedef struct pg_conn PGconn;

/* The number of values of each enum kept in the store. */
#define SK_X(e, str) +1
enum {
    SK_STORE_N_STATUSES = 0 SK_RUN_STATUSES(SK_X),
    SK_STORE_N_TRIGGERS = 0 SK_TRIGGERS(SK_X),
    SK_STORE_N_ALERT_STATES = 0 SK_ALERT_STATES(SK_X)
};
#undef SK_X

/* runs_query and alerts_query return this many rows when the caller gives
 * no limit. */
#define SK_STORE_QUERY_DEFAULT 100
/* Pruning deletes this many top-level runs per transaction. */
#define SK_STORE_PRUNE_CHUNK 256

typedef struct sk_store_core sk_store_core_t;

/* A back end's transactions, which the shared layer drives (batches, the
 * transactions of prune and outputs_put). Loop thread of the store. */
typedef struct sk_store_tx_ops {
    /* Opens a transaction (SQLite: BEGIN IMMEDIATE, so that it holds the
     * write lock at once). SK_ESTORE with what in the message. */
    int (*begin)(sk_store_core_t *c, const char *what, sk_err_t *err);
    /* Commits it. SK_ESTORE on failure, the transaction then rolled back
     * (and a batch marked failed, as sk_store__abort does). */
    int (*commit)(sk_store_core_t *c, const char *what, sk_err_t *err);
    /* Rolls back the open transaction, if any, reporting a failure of the
     * back end at it as SK_ESTORE. */
    int (*rollback)(sk_store_core_t *c, const char *what, sk_err_t *err);
    /* Rolls back whatever is open, silently: cleanup after a failure. */
    void (*abort)(sk_store_core_t *c);
} sk_store_tx_ops_t;

/* The part of every back end's store that the shared layer keeps; first in
 * sk_sqlite_t and sk_pg_t, so that the three pointers are one. */
struct sk_store_core {
    sk_store_t base; /* first: the generic store */
    const sk_store_tx_ops_t *tx;
    const char *name; /* what messages call the store (borrowed: the back end keeps it) */
    bool readonly;
    bool in_batch;     /* between begin and commit/rollback */
    bool batch_failed; /* ... and a write failed: the back end's transaction is gone */
    char batch_msg[256];
    long fail_after; /* SKED_TEST_STORE_FAIL_AFTER; 0: off */
    long writes;     /* write operations so far, for fail_after */
};

/* c's store as the core (any back end's; st must not be NULL). */
static inline sk_store_core_t *sk_store__core(sk_store_t *st)
{
    return (sk_store_core_t *)st;
}

/* Sets up c (zeroed by the caller) for a back end: ops, tx and name are
 * borrowed for the store's life. Reads SKED_TEST_STORE_FAIL_AFTER for a
 * writer: SK_ESTORE when it is set and not a count. */
int sk_store__core_init(sk_store_core_t *c, const sk_store_ops_t *ops, const sk_store_tx_ops_t *tx,
                        const char *name, bool readonly, sk_err_t *err);

/* ---- failures and the write gate ---- */

/* Tells the store's owner that an SK_ESTORE happened (st->on_error). */
void sk_store__on_error(sk_store_core_t *c);
/* After a write failed with SK_ESTORE: no transaction stays open. Inside a
 * batch the whole batch is gone; it remembers why (err's message), so that
 * commit says so and later writes do not silently autocommit on their own. */
void sk_store__abort(sk_store_core_t *c, const sk_err_t *err);
/* Every write operation starts here: SK_ESTORE on a read-only store or
 * after the batch failed; counts the write and plays the fault-injection
 * hook (which fails it as a real I/O error would, batch and all). */
int sk_store__write_gate(sk_store_core_t *c, const char *what, sk_err_t *err);

/* ---- batches: the ops tables' begin, commit and rollback ---- */

int sk_store__batch_begin(sk_store_t *st, sk_err_t *err);
int sk_store__batch_commit(sk_store_t *st, sk_err_t *err);
int sk_store__batch_rollback(sk_store_t *st, sk_err_t *err);

/* ---- text (store.h: what the store keeps is UTF-8) ---- */

/* Whether s is NULL or well-formed UTF-8 (RFC 3629). */
bool sk_store__text_ok(const char *s);
/* -EINVAL "NAME: FIELD is not valid UTF-8" for the first of the n (field,
 * value) pairs that follow (const char *, const char *) whose value is
 * neither NULL nor UTF-8; else 0. */
int sk_store__text_check(const sk_store_core_t *c, sk_err_t *err, int n, ...);
/* Text that may carry bytes from outside sked (reasons, output values,
 * delivery errors) as the store keeps it: s itself when it is NULL or
 * UTF-8, else a copy in *tmp (new memory, the caller frees it; NULL
 * otherwise) with each byte that starts no well-formed sequence replaced
 * by U+FFFD. */
const char *sk_store__text_repair(const char *s, char **tmp);
/* The same for the values of o[0..n): o itself, or a repaired copy in *tmp
 * (new memory: sk_outputs_free(*tmp, n)). */
const sk_output_t *sk_store__outputs_repair(const sk_output_t *o, size_t n, sk_output_t **tmp);

/* ---- what the store keeps: checks before anything is written ---- */

bool sk_store__status_valid(sk_run_status_t v);
bool sk_store__trigger_valid(sk_trigger_t v);
bool sk_store__alert_state_valid(sk_alert_state_t v);

/* The checks each write operation makes of its arguments, as store.h
 * states them, the UTF-8 of names included (reasons and other free text
 * are repaired instead): 0, or -EINVAL with a message naming the store,
 * the job or run, and what is wrong. Nothing is written before they pass,
 * so that a batch goes on after a refusal. */
int sk_store__check_run(const sk_store_core_t *c, const sk_run_t *run, sk_err_t *err);
int sk_store__check_finish(const sk_store_core_t *c, int64_t id, sk_run_status_t status,
                           sk_err_t *err);
int sk_store__check_job_state(const sk_store_core_t *c, const char *job, const sk_job_state_t *js,
                              sk_err_t *err);
int sk_store__check_boot(const sk_store_core_t *c, const char *job, const char *boot_id,
                         sk_err_t *err);
int sk_store__check_outputs(const sk_store_core_t *c, int64_t run_id, const sk_output_t *o,
                            size_t n, sk_err_t *err);
int sk_store__check_alert(const sk_store_core_t *c, const sk_alert_rec_t *a, sk_err_t *err);
int sk_store__check_alert_update(const sk_store_core_t *c, int64_t id, sk_alert_state_t state,
                                 int attempts, sk_err_t *err);
int sk_store__check_node(const sk_store_core_t *c, const sk_node_t *n, sk_err_t *err);

/* ---- reading ---- */

/* The rows runs_query and alerts_query return at most for limit. */
size_t sk_store__limit(size_t limit);

/* runs_query's filters as bits: the back ends build one statement per
 * combination. */
enum {
    SK_STORE_Q_JOB = 1,
    SK_STORE_Q_ACTIVE = 2,
    SK_STORE_Q_PARENT = 4,
    SK_STORE_Q_TOP = 8,
    SK_STORE_Q_STATUS = 16,
    SK_STORE_Q_SINCE = 32,
    SK_STORE_Q_COUNT = 64
};

/* Reads f (NULL: all jobs, first page) for runs_query: *ret_which (Q bits)
 * and *ret_limit. -EINVAL for a status out of range; 1 when no row can
 * match (a job name that is not UTF-8: none is stored). */
int sk_store__query_plan(const sk_store_core_t *c, const sk_run_filter_t *f, int *ret_which,
                         size_t *ret_limit, sk_err_t *err);

/* The spellings read back: SK_ESTORE naming the run (or alert) for one
 * that is no status, trigger or alert state; text may be NULL. */
int sk_store__read_status(const sk_store_core_t *c, int64_t id, const char *text,
                          sk_run_status_t *ret, sk_err_t *err);
int sk_store__read_trigger(const sk_store_core_t *c, int64_t id, const char *text,
                           sk_trigger_t *ret, sk_err_t *err);
int sk_store__read_alert_state(const sk_store_core_t *c, int64_t id, const char *text,
                               sk_alert_state_t *ret, sk_err_t *err);
/* job_state.last_outcome read back: SK_ESTORE unless -1 or a status. */
int sk_store__read_outcome(const sk_store_core_t *c, const char *job, int outcome, sk_err_t *err);
/* The state of a job never seen. */
void sk_store__job_state_none(sk_job_state_t *ret);

/* The refusals that follow an UPDATE of run id that changed nothing, the
 * run being in state cur: -EINVAL "is cur, not queued: cannot VERB it", and
 * -EALREADY "already has an outcome (cur)". */
int sk_store__not_queued(const sk_store_core_t *c, int64_t id, sk_run_status_t cur,
                         const char *verb, sk_err_t *err);
int sk_store__has_outcome(const sk_store_core_t *c, int64_t id, sk_run_status_t cur, sk_err_t *err);

/* forget_ms of nodes_list beyond this (about 140,000 years) means the same:
 * it keeps `now - forget_ms` inside 64 bits. */
#define SK_STORE_FORGET_MAX ((int64_t)1 << 52)

/* ---- pruning ---- */

/* A row to delete; its log goes to the caller once it is gone. */
typedef struct sk_store_victim {
    int64_t id;
    char *log_path;
    bool deleted; /* this call deleted it (another node may have been first) */
} sk_store_victim_t;

typedef struct sk_store_victims {
    sk_store_victim_t *v;
    size_t n, cap;
} sk_store_victims_t;

/* Appends a row (log_path taken, may be NULL). */
void sk_store__victims_push(sk_store_victims_t *vs, int64_t id, char *log_path, bool deleted);

/* The three steps of one prune that only a back end can take; each runs
 * inside the transaction sk_store__prune opened (or the caller's batch). */
typedef struct sk_store_prune_ops {
    /* The id of job's keep_runs-th newest final top-level run (everything
     * at or below it goes), or 0 when there are not that many. */
    int (*cutoff)(sk_store_core_t *c, const char *job, size_t keep_runs, int64_t *ret,
                  sk_err_t *err);
    /* Picks up to SK_STORE_PRUNE_CHUNK top-level runs of job (*ret_picked
     * of them) with id <= max_id or that ended before ended_before (> 0),
     * adds their steps, and deletes them all with their outputs and the
     * alerts about them that are no longer pending. vs gets every row
     * meant to go, marked deleted when deleted; *horizon grows to the
     * newest end (or scheduled instant) among the picked runs. */
    int (*chunk)(sk_store_core_t *c, const char *job, int64_t max_id, int64_t ended_before,
                 sk_store_victims_t *vs, size_t *ret_picked, int64_t *horizon, sk_err_t *err);
    /* Deletes job's delivered, failed and dropped alerts that are about no
     * run (any more) and were raised before horizon. */
    int (*alerts)(sk_store_core_t *c, const char *job, int64_t horizon, sk_err_t *err);
} sk_store_prune_ops_t;

/* The prune operation of store.h, chunk by chunk, over ops. */
int sk_store__prune(sk_store_core_t *c, const sk_store_prune_ops_t *ops, const char *job,
                    size_t keep_runs, int64_t ended_before,
                    void (*cb)(const char *log_path, void *data), void *data, sk_err_t *err);

/* ---- tests only ---- */

/* The connection of a store opened by sk_store_sqlite_ops (borrowed; the
 * store keeps owning it), e.g. to simulate a full disk with PRAGMA
 * max_page_count. */
sqlite3 *sk_store_sqlite__db(sk_store_t *st);
/* The schema version this build creates and migrates to. */
int sk_store_sqlite__schema_version(void);
/* The SQL of migration `to` (1..schema version), which takes the schema from
 * version to - 1 to `to`; NULL out of range. Tests keep a frozen copy of
 * released migrations and compare. */
const char *sk_store_sqlite__migration(int to);
/* The same three for a store opened by sk_store_pg_ops. */
PGconn *sk_store_pg__conn(sk_store_t *st);
int sk_store_pg__schema_version(void);
const char *sk_store_pg__migration(int to);

#endif
