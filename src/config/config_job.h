/*
 * The job checker's pieces, shared by config_job*.c only: the table of job
 * keys, the context one job (or step, or defaults:) is checked in, and the
 * helpers the files call across. config_job.c checks a job and reads its
 * typed values; config_job_body.c what it runs and with what environment;
 * config_job_steps.c a workflow's steps; config_job_graph.c after: and the
 * name index and cycle search it shares with needs:; config_job_digest.c
 * the digest. Nothing here leaves the config module.
 */
#ifndef SK_CONFIG_JOB_H
#define SK_CONFIG_JOB_H

#include "config_int.h"

#define MAX_JOB_NAME 64
#define MAX_STEPS 1000       /* per workflow (STYLE: every size a user controls has a cap) */
#define MAX_STEP_ENV 1000000 /* variables copied into the steps of one workflow */

/* Where a key may be written. */
#define F_JOB 1u  /* in a job */
#define F_DEF 2u  /* under defaults: */
#define F_STEP 4u /* in a step of a workflow's steps: */
#define F_JD (F_JOB | F_DEF)
#define F_ALL (F_JOB | F_DEF | F_STEP)

/*
 * The job keys, with where each may be written. A step takes the keys of a
 * body and of how it runs, plus needs and when; steps and after belong to
 * one job, never to defaults. nodes (labels a node must have to run the
 * job) is the job's, so its steps run where it does.
 */
#define JOB_KEYS(X)                                                                                \
    X(K_SCHEDULE, "schedule", F_JD)                                                                \
    X(K_EVERY, "every", F_JD)                                                                      \
    X(K_JITTER, "jitter", F_JD)                                                                    \
    X(K_START, "start", F_JD)                                                                      \
    X(K_AT, "at", F_JD)                                                                            \
    X(K_ON, "on", F_JD)                                                                            \
    X(K_PYTHON, "python", F_ALL)                                                                   \
    X(K_MODULE, "module", F_ALL)                                                                   \
    X(K_RUN, "run", F_ALL)                                                                         \
    X(K_SHELL, "shell", F_ALL)                                                                     \
    X(K_ARGS, "args", F_ALL)                                                                       \
    X(K_VENV, "venv", F_ALL)                                                                       \
    X(K_CWD, "cwd", F_ALL)                                                                         \
    X(K_ENV, "env", F_ALL)                                                                         \
    X(K_ENV_FILE, "env_file", F_JD)                                                                \
    X(K_SECRETS, "secrets", F_JD)                                                                  \
    X(K_TIMEOUT, "timeout", F_ALL)                                                                 \
    X(K_KILL_GRACE, "kill_grace", F_ALL)                                                           \
    X(K_RETRIES, "retries", F_ALL)                                                                 \
    X(K_RETRY_DELAY, "retry_delay", F_ALL)                                                         \
    X(K_OVERLAP, "overlap", F_JD)                                                                  \
    X(K_CATCHUP, "catchup", F_JD)                                                                  \
    X(K_ON_INTERRUPT, "on_interrupt", F_JD)                                                        \
    X(K_MISFIRE_GRACE, "misfire_grace", F_JD)                                                      \
    X(K_KEEP_RUNS, "keep_runs", F_JD)                                                              \
    X(K_KEEP_DAYS, "keep_days", F_JD)                                                              \
    X(K_MAX_OUTPUT, "max_output", F_ALL)                                                           \
    X(K_ENABLED, "enabled", F_JD)                                                                  \
    X(K_TIMEZONE, "timezone", F_JD)                                                                \
    X(K_STEPS, "steps", F_JOB)                                                                     \
    X(K_MAX_PARALLEL, "max_parallel", F_JD)                                                        \
    X(K_NEEDS, "needs", F_STEP)                                                                    \
    X(K_WHEN, "when", F_STEP)                                                                      \
    X(K_ALERT, "alert", F_ALL)                                                                     \
    X(K_PARAMS, "params", F_JD)                                                                    \
    X(K_AFTER, "after", F_JOB)                                                                     \
    X(K_NODES, "nodes", F_JD)                                                                      \
    X(K_EXPECTED_DURATION, "expected_duration", F_JD)

enum {
#define SK_X(e, s, f) e,
    JOB_KEYS(SK_X)
#undef SK_X
        K_COUNT
};

/* Each key's name as written in sked.yaml, by K_* (config_job.c). */
extern const char *const sk_config__job_keys[K_COUNT];

/* Names sorted for bsearch, each with its index in file order. */
typedef struct name_ix {
    const char *name;
    size_t ix;
} name_ix_t;

typedef struct names {
    name_ix_t *v;      /* sorted by name */
    const char **list; /* in file order, for "did you mean" */
    size_t n;
} names_t;

/* Where one resolved needs: or after: entry is written, for errors found later. */
typedef struct ref_at {
    const sk_ynode_t *node;
    char sub[40]; /* appended to the key's path: "", "[2]", ".jobs[0]" */
} ref_at_t;

/* One effective job key: written in the job, or inherited from defaults. */
typedef struct ent {
    const sk_ynode_t *key; /* NULL: not given */
    const sk_ynode_t *val; /* NULL: not given, or null (unset) */
    bool def;              /* from defaults: */
} ent_t;

typedef struct jctx {
    sk_config_ctx_t *L;
    const char *name;   /* the job's (or step's) name; "" in the defaults pass */
    const char *prefix; /* "jobs.NAME", "jobs.NAME.steps.STEP" */
    const char *noun;   /* "job" or "step", for messages */
    unsigned scope;     /* F_JOB, F_DEF or F_STEP: where this mapping is */
    bool defaults_pass;
    ent_t e[K_COUNT];
    const sk_ynode_t *env_def;     /* defaults' env, merged under the job's */
    const sk_ynode_t *secrets_def; /* defaults' secrets, merged under the job's */
    size_t nfile;                  /* out: how many of the body's secrets came from env_file */
    const names_t *jobs;           /* every job name in the file, for after: */
    ref_at_t *after_at;            /* out: where each of the job's after: entries is (malloc) */
} jctx_t;

/* config_job.c: the job, its keys and their typed values. */

/*
 * An error about job key k at node n (col 0: the node's column); sub is
 * appended to the key path ("[2]", ".NAME"). Errors in values inherited
 * from defaults were reported once, by the defaults pass: not again here.
 */
void sk_config__job_err(jctx_t *j, int k, const sk_ynode_t *n, int col, const char *sub,
                        const char *fmt, ...) SK_PRINTF(6, 7);
/* A duration (0, or like 30s) at node v of key k, sub appended to its path;
 * false after reporting. */
bool sk_config__job_duration_at(jctx_t *j, int k, const sk_ynode_t *v, const char *sub,
                                int64_t *ret);
/* The value of key k as a non-empty string (the node's text), or NULL after
 * reporting that it is not what (named in the message). */
const char *sk_config__job_text(jctx_t *j, int k, const char *what);
/* The value of key k as a path that must exist: a regular file (dir false)
 * or a folder (dir true), named what in messages. Returns it absolute (in
 * L's pool), or NULL after reporting. */
char *sk_config__job_path(jctx_t *j, int k, const char *what, bool dir);
/* A when: value (success, failure or always) at node v of key k, sub
 * appended to its path; its sk_when_t in *ret, or false after reporting. */
bool sk_config__job_when(jctx_t *j, int k, const sk_ynode_t *v, const char *sub, int *ret);
/* How many keys of group (n of them) have values; the first two in *first
 * and *second (-1 when fewer), for "cannot be combined". */
int sk_config__job_count_group(const jctx_t *j, const int *group, size_t n, int *first,
                               int *second);
/* Reports key k, given where it does not apply, as "KEY why"; nothing when it
 * is unset or from defaults, or in the defaults pass. */
void sk_config__job_not_applicable(jctx_t *j, int k, const char *why);
/*
 * Fills j->e from the job's mapping over the defaults' one. A null value
 * unsets a key (and hides its default). Writing any trigger key (schedule,
 * every, at) or body key (python, module, run, shell) in the job replaces
 * that whole group from defaults; env mappings merge, the job's entries
 * winning; every other key simply replaces its default. Reports unknown
 * and misplaced keys.
 */
void sk_config__job_gather(jctx_t *j, const sk_ynode_t *map, const sk_ynode_t *defaults);
/* timeout, kill_grace, retries, retry_delay and max_output: each written only when given. */
void sk_config__job_limits(jctx_t *j, int64_t *timeout_ms, int64_t *kill_grace_ms, int *retries,
                           int64_t *retry_delay_ms, int64_t *max_output);
/* alert: checked where it is written (defaults' once, in the defaults pass);
 * in L's pool, or NULL when it has errors. */
sk_alert_cfg_t *sk_config__job_alert(jctx_t *j);
/* True for a job's or a step's name: 1-MAX_JOB_NAME letters, digits, '_',
 * '.' or '-', not starting with '.' or '-'. */
bool sk_config__job_name_ok(const char *s);

/* config_job_events.c: on:, the events that start a job besides its clock
 * (J->on, J->file). */
void sk_config__job_events(jctx_t *j, sk_job_cfg_t *J);

/* config_job_body.c: what a job or step runs, and its environment. */

/*
 * What a job or a step runs (one of python, module, run, shell) and with
 * what: args, venv, cwd; "nothing to run" is reported at keynode. A step
 * inherits the venv and cwd of parent (the workflow's). For a workflow job
 * (workflow true), none of the four may be given and B only collects the
 * venv and cwd its steps inherit.
 */
void sk_config__job_body(jctx_t *j, const sk_ynode_t *keynode, const sk_body_t *parent,
                         bool workflow, sk_body_t *B);
/* B->env: env_file's values first, then secrets:'s (B->nsecret of them in
 * all), then env:'s. B is the job's body, or for a workflow the one its
 * steps inherit. All in L's pool. Returns false after reporting; on success
 * also sets J->nsecret_env and j->nfile (and J->env_file once it is read). */
bool sk_config__job_env(jctx_t *j, sk_job_cfg_t *J, sk_body_t *B);
/*
 * A step's env: the workflow's (env_file's values first, then secrets:'s,
 * then env:'s), with the step's own env: over it, the step winning per
 * variable. A secret may not be set again: the first nsecret entries stay
 * the secrets, as in a job (nfile of them from env_file). A step without
 * env: shares the workflow's arrays; the copies the others make count
 * against *budget (a 1 MiB env_file times 1000 steps must not take
 * gigabytes). Returns false after reporting.
 */
bool sk_config__job_step_env(jctx_t *s, const sk_body_t *parent, const sk_job_cfg_t *J,
                             size_t nfile, size_t *budget, sk_body_t *B);

/* config_job_steps.c: a workflow. */

/* steps: in file order, with needs resolved to indexes and checked for
 * cycles, into J->steps; parent is what the steps inherit. */
void sk_config__job_steps(jctx_t *j, sk_job_cfg_t *J, const sk_body_t *parent);

/* config_hook.c: on: webhook. */
/*
 * The settings opts of on:'s webhook (name: its key; sub: the on: entry's
 * path suffix, "[0]" or NULL): secret_file checked and read (config_hook.c
 * has the rules). Returns them in L's pool, or NULL after reporting.
 */
sk_webhook_cfg_t *sk_config__job_webhook(jctx_t *j, const sk_ynode_t *name, const sk_ynode_t *opts,
                                         const char *sub);
/* Adds J's webhook secret to the values its runs mask in their output: its
 * body's, or each step's (each masked list is replaced by a copy in pool). */
void sk_config__webhook_mask(sk_pool_t *pool, sk_job_cfg_t *J);

/* config_job_graph.c: names, after: and cycles. */

/* Indexes n names (borrowed, none NULL). Free with sk_config__names_release. */
void sk_config__names_init(names_t *ns, const char **list, size_t n);
void sk_config__names_release(names_t *ns);
/* The file-order index of name, or -1. */
long sk_config__names_find(const names_t *ns, const char *name);

typedef void (*cycle_cb)(void *ctx, const size_t *path, size_t npath, size_t edge);
/*
 * Depth-first search over n nodes whose edges are adj[i][0..nadj[i]), from
 * each node in order and along each node's edges in order. For each edge
 * that leads back to a node on the current path, calls found with the
 * cycle: path[0..npath) from that node to the edge's source, and the
 * edge's index among its source's edges. Iterative: a chain of 1000 steps
 * costs no stack.
 */
void sk_config__find_cycles(size_t n, size_t *const *adj, const size_t *nadj, cycle_cb found,
                            void *ctx);
/* "a -> b -> a" for a cycle's path, shortened in the middle when long. */
void sk_config__cycle_text(const char *const *names, const size_t *path, size_t npath, char *buf,
                           size_t size);
/*
 * after: [a, b], one name, or {jobs: [a, b], when: failure}. Names must be
 * jobs of the file (j->jobs), not this one, each once. Where each entry is
 * written goes to j->after_at (malloc: the caller frees it), for the cycle
 * check once every job is built. On errors J->after and j->after_at stay
 * unset.
 */
void sk_config__job_after(jctx_t *j, sk_job_cfg_t *J);
/* Reports each cycle of after: between the jobs built (c->jobs; at[i]: where
 * job i's entries are written): a cycle would start runs for ever. */
void sk_config__after_cycles(sk_config_ctx_t *L, const sk_config_t *c, ref_at_t *const *at);

/* config_job_digest.c: the digest. */

/* Sets J->digest from everything that defines the job. */
void sk_config__job_digest(sk_job_cfg_t *J);

#endif
