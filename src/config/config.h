/*
 * sked.yaml: loaded with libyaml into nodes that remember their line and
 * column, validated in full (every error reported, each at its node), and
 * turned into an immutable configuration snapshot. Reload builds a new
 * snapshot and swaps it only if it is valid (nginx-style); runs keep the
 * snapshot they started with (sk_config_ref/unref).
 */
#ifndef SK_CONFIG_H
#define SK_CONFIG_H

#include "../common/common.h"
#include "../cron/cron.h"
#include "../tz/tz.h"

typedef enum sk_body_kind {
    SK_BODY_PYTHON, /* python: script.py  -> PY script.py args... */
    SK_BODY_MODULE, /* module: pkg.mod    -> PY -m pkg.mod args... */
    SK_BODY_RUN,    /* run: [argv...] or "words" -> argv, no shell */
    SK_BODY_SHELL,  /* shell: "text"      -> /bin/sh -c text */
} sk_body_kind_t;

/*
 * What a job or a workflow step runs, as sked.yaml says it (python:, module:,
 * run:, shell: and what goes with them). All strings are owned by the
 * struct's owner (the configuration snapshot); the runner, which turns a
 * body into a process, borrows them.
 */
typedef struct sk_body {
    sk_body_kind_t kind;
    uint32_t nsecret; /* the first nsecret entries of env are secrets (env_file, secrets:):
                       * never shown, masked in output */
    char *target;     /* python: script path; module: module name; shell: the text */
    char **run_argv;  /* run: NULL-terminated argv (a string is split like a shell would) */
    char **args;      /* NULL-terminated extra arguments (python, module, run) */
    char *venv;       /* NULL: look for .venv/venv beside the script and up to config_dir */
    char *cwd;        /* NULL: config_dir */
    sk_kv_t *env;     /* the job's env: plus env_file's values, already merged */
    size_t nenv;
    char **masked;    /* NULL-terminated values masked in the run's output: the secrets'
                       * and those of env: variables named like secrets; NULL: none */
    char *config_dir; /* absolute folder of sked.yaml: relative paths start here */
} sk_body_t;

#define SK_OVERLAPS(X)                                                                             \
    X(SK_OVERLAP_SKIP, "skip")                                                                     \
    X(SK_OVERLAP_QUEUE, "queue")                                                                   \
    X(SK_OVERLAP_ALLOW, "allow")                                                                   \
    X(SK_OVERLAP_REPLACE, "replace")

typedef enum sk_overlap {
#define SK_X(e, s) e,
    SK_OVERLAPS(SK_X)
#undef SK_X
} sk_overlap_t;

#define SK_CATCHUPS(X)                                                                             \
    X(SK_CATCHUP_NONE, "none")                                                                     \
    X(SK_CATCHUP_LATEST, "latest")                                                                 \
    X(SK_CATCHUP_ALL, "all")

typedef enum sk_catchup {
#define SK_X(e, s) e,
    SK_CATCHUPS(SK_X)
#undef SK_X
} sk_catchup_t;

/* What sked does with a run it interrupted (a stop) or lost (a crash, kill
 * -9, power loss: it may have finished, its end unrecorded). */
#define SK_ON_INTERRUPTS(X)                                                                        \
    X(SK_ON_INTERRUPT_RETRY, "retry")                                                              \
    X(SK_ON_INTERRUPT_FAIL, "fail")

typedef enum sk_on_interrupt {
#define SK_X(e, s) e,
    SK_ON_INTERRUPTS(SK_X)
#undef SK_X
} sk_on_interrupt_t;

const char *sk_on_interrupt_str(sk_on_interrupt_t o);
const char *sk_overlap_str(sk_overlap_t o);
const char *sk_catchup_str(sk_catchup_t c);

#define SK_WHENS(X)                                                                                \
    X(SK_WHEN_SUCCESS, "success")                                                                  \
    X(SK_WHEN_FAILURE, "failure")                                                                  \
    X(SK_WHEN_ALWAYS, "always")

typedef enum sk_when {
#define SK_X(e, s) e,
    SK_WHENS(SK_X)
#undef SK_X
} sk_when_t;

const char *sk_when_str(sk_when_t w);

/* Alert events (bits of sk_alert_cfg_t.on), spelled in sked.yaml and payloads. */
#define SK_ALERT_EVENTS(X)                                                                         \
    X(SK_ALERT_FAILURE, 1u << 0, "failure")                                                        \
    X(SK_ALERT_TIMEOUT, 1u << 1, "timeout")                                                        \
    X(SK_ALERT_MISSED, 1u << 2, "missed")                                                          \
    X(SK_ALERT_RECOVERED, 1u << 3, "recovered")                                                    \
    X(SK_ALERT_LATE, 1u << 4, "late")                                                              \
    X(SK_ALERT_SUCCESS, 1u << 5, "success")

enum {
#define SK_X(e, v, s) e = v,
    SK_ALERT_EVENTS(SK_X)
#undef SK_X
};

/* The text of one event bit ("failure"), or NULL. */
const char *sk_alert_event_str(unsigned event);

/*
 * alert: on a job, a step or in defaults. Any of the channels may be set;
 * an alert goes to each. Secrets never come from sked.yaml: the SMTP password
 * is read from the named environment variable or file when sending.
 */
typedef struct sk_alert_cfg {
    unsigned on;    /* SK_ALERT_* bits; default failure | timeout | missed */
    char *webhook;  /* URL: POST the alert as JSON */
    char *slack;    /* URL: POST {"text": ...} */
    char **command; /* NULL-terminated argv: the alert as JSON on stdin */
    struct {
        char *smtp_url; /* smtp://host:port or smtps://... */
        char *from;
        char **to;           /* NULL-terminated */
        char *username;      /* optional */
        char *password_env;  /* name of an environment variable, or NULL */
        char *password_file; /* path (absolute), or NULL; must be 0600 */
    } email;
    bool has_email;
} sk_alert_cfg_t;

/* One step of a workflow (a job with steps:). */
typedef struct sk_step_cfg {
    char *name;     /* the rules of job names; unique in the workflow */
    int line, col;  /* where the step's key is in the file */
    sk_body_t body; /* inherits the job's venv (python and module steps), cwd and
                     * env (merged, the step winning; the first nsecret_env entries
                     * are the job's env_file's, as in a job) unless set */
    size_t *needs;  /* indexes into the job's steps */
    size_t nneeds;
    sk_when_t when;     /* default success: every needed step succeeded */
    int64_t timeout_ms; /* each of these inherits the job's value */
    int64_t kill_grace_ms;
    int retries;
    int64_t retry_delay_ms;
    int64_t max_output;
    sk_alert_cfg_t *alert; /* NULL: the job's */
} sk_step_cfg_t;

typedef enum sk_trigger_kind {
    SK_TRIGGER_NONE,  /* only runs when triggered by hand */
    SK_TRIGGER_CRON,  /* schedule: one or more cron expressions */
    SK_TRIGGER_EVERY, /* every: fixed interval in real time */
    SK_TRIGGER_AT,    /* at: one instant */
} sk_trigger_kind_t;

/* Events that start a job besides its clock (on:). */
#define SK_ON_START 1u    /* each time the daemon starts */
#define SK_ON_BOOT 2u     /* once per boot of the machine (schedule: "@reboot" too) */
#define SK_ON_FILE 4u     /* files in a folder (sk_job_cfg_t.file) */
#define SK_ON_LOGON 8u    /* a user's session starts (sk_job_cfg_t.logon_user) */
#define SK_ON_IDLE 16u    /* the machine has been idle a while (idle_ms, idle_cpu) */
#define SK_ON_WEBHOOK 32u /* a signed POST /hooks/NAME (sk_job_cfg_t.webhook) */

/* on: {webhook: {...}}: the job runs when POST /hooks/NAME comes with the
 * HMAC-SHA256 of its body under this secret (docs/api.md). */
typedef struct sk_webhook_cfg {
    char *secret_file; /* absolute; checked to exist, be a regular file and not be
                        * readable by others */
    char *secret;      /* its content, one trailing line end dropped, at least
                        * SK_CONFIG_TOKEN_MIN bytes, no NUL; in the pool, wiped when the
                        * snapshot is freed; "" when loaded with SK_CONFIG_SKIP_SECRETS */
    size_t secret_len;
} sk_webhook_cfg_t;

/* What happens to a file that on: file listens for (events:). */
#define SK_FILE_CREATED 1u      /* a name appears (IN_CREATE) */
#define SK_FILE_CLOSED_WRITE 2u /* a file opened for writing is closed (IN_CLOSE_WRITE) */
#define SK_FILE_MOVED_IN 4u     /* a file is moved (renamed) into the folder (IN_MOVED_TO) */
#define SK_FILE_MODIFIED 8u     /* a file is written to (IN_MODIFY) */
#define SK_FILE_DELETED 16u     /* a name goes (IN_DELETE) */
#define SK_FILE_MOVED_OUT 32u   /* a file is moved out (IN_MOVED_FROM) */

/* on: {file: ...}: files in a folder start the job. */
typedef struct sk_file_watch_cfg {
    char *path;        /* the folder, absolute; it existed when the file was read */
    char *glob;        /* names that count (fnmatch, the name alone); NULL: all */
    unsigned events;   /* SK_FILE_*; default created, closed_write, moved_in */
    int64_t settle_ms; /* a file fires once nothing happened to it for this long; default 1s */
    bool recursive;    /* sub-folders too, also those made later */
    bool existing;     /* at start, each matching file already there fires once */
} sk_file_watch_cfg_t;

/* A job as sked.yaml defines it. 100,000 of them are held at once: fields
 * are paired by size so that the struct has no holes, and counts are 32
 * bits (each is capped far below that); see docs/internals/config.md
 * before adding one. */
typedef struct sk_job_cfg {
    char *name;
    int line, col; /* where the job's key is in the file */

    sk_trigger_kind_t trigger;
    uint32_t ncron;
    sk_cron_t *crons;          /* schedule: parsed with the job's name (H); @reboot is not here.
                                * Shared with other jobs of the snapshot that parse the same */
    char **cron_texts;         /* as written, NULL-terminated, parallel to crons; shared too */
    bool reboot;               /* schedule: "@reboot", which is on: boot (once per boot of the
                                * machine); a schedule of only @reboot has trigger
                                * SK_TRIGGER_CRON and ncron 0 */
    bool enabled;              /* default true */
    unsigned on;               /* on: the events that start it too (SK_ON_*); 0 when none */
    int idle_cpu;              /* on: {idle: ...}: and CPU use below this percent (default 10) */
    sk_file_watch_cfg_t *file; /* on: file, else NULL */
    char *logon_user;          /* on: {logon: {user: NAME}}; NULL: anyone's session */
    int64_t idle_ms;           /* on: {idle: {for: D}}: idle this long (default 10m) */
    sk_webhook_cfg_t *webhook; /* on: webhook's settings; NULL without SK_ON_WEBHOOK */
    int64_t every_ms;          /* every */
    int64_t jitter_ms;         /* every: a random delay in [0, jitter) per fire */
    int64_t start_ms;          /* every: first fire (unix ms); 0 = when the job is first loaded */
    int64_t at_ms;             /* at: the instant (unix ms) */
    const sk_tz_t *tz;         /* the job's zone, borrowed from the tz cache */

    sk_body_t body; /* paths in it (python target, venv, cwd) are absolute */

    int64_t timeout_ms;             /* 0: none */
    int64_t kill_grace_ms;          /* default 10s */
    int retries;                    /* default 0 */
    sk_overlap_t overlap;           /* default skip */
    int64_t retry_delay_ms;         /* default 10s; doubles per attempt, capped at 1h */
    sk_catchup_t catchup;           /* default latest */
    sk_on_interrupt_t on_interrupt; /* default retry (within retries; steps always) */
    int64_t misfire_grace_ms;       /* -1 (default): until the next fire */
    int keep_runs;                  /* default 100; 0: no limit */
    sk_when_t after_when;           /* after: default success */
    int64_t keep_days_ms;           /* default 0: no limit */
    int64_t max_output;             /* bytes; default 10 MiB */
    char *env_file;                 /* as written; its values are merged into body.env */
    uint32_t nsecret_env; /* the first nsecret_env entries of body.env came from env_file */

    /* Workflows (issue 4): steps in file order, checked acyclic, names unique.
     * A workflow's own body is all zero: its steps say what runs, and its
     * timeout, kill_grace, retries, retry_delay, max_output are also each
     * step's default. */
    int step_parallel;    /* max_parallel inside the workflow, 1-1000; default 4; 0 for a
                           * plain job */
    sk_step_cfg_t *steps; /* NULL for a plain job (body is used); at most 1000 */
    uint32_t nsteps;
    uint32_t nparams;
    sk_kv_t *params; /* params: name -> default value (as text; null is ""); at most
                      * 100, names like variables; NULL when none */
    char **after;    /* after: jobs whose run ending starts this one, NULL-terminated
                      * (NULL when none); each another job of the file, once; no
                      * cycles */
    uint32_t nafter;
    uint32_t nnodes;
    char **nodes;                 /* nodes: labels a node must all have to run the job (its steps
                                   * too), NULL-terminated, in file order; NULL when none (any node).
                                   * Each a label (sk_node_name_ok), at most 32, each once */
    sk_alert_cfg_t *alert;        /* NULL: no alerts */
    int64_t expected_duration_ms; /* 0: none; a run still going after it is "late" */

    /* A digest of everything that defines the job; equal digests mean an
     * unchanged job across reloads. */
    uint64_t digest;
} sk_job_cfg_t;

/* Whether a file's name (not its path) counts for on: file. */
bool sk_file_watch_match(const sk_file_watch_cfg_t *f, const char *name);

/* Whether job fires once per boot: on: boot, or schedule: "@reboot". */
static inline bool sk_job_on_boot(const sk_job_cfg_t *job)
{
    return job->reboot || (job->on & SK_ON_BOOT);
}

/* Where a setting is written in the file (1-based), for the errors of checks
 * made after loading (sk_config_preflight); line 0: not in the file (a
 * default, or the environment). */
typedef struct sk_config_at {
    int line, col;
} sk_config_at_t;

/* http.allowed_hosts holds at most this many names. */
#define SK_CONFIG_MAX_ALLOWED_HOSTS 100
/* An API token has at least this many characters. */
#define SK_CONFIG_TOKEN_MIN 16

/* http: where the API listens on TCP, and its tokens (issue 5). The control
 * socket in state_dir always serves the API; TCP only when listen is set. */
typedef struct sk_http_cfg {
    char *listen;           /* as written ("127.0.0.1:8080"); NULL: no TCP */
    char *host;             /* an IP literal ("127.0.0.1", "::1", "0.0.0.0") */
    int port;               /* 1-65535 */
    char *admin_token_file; /* absolute; checked to exist with mode 0600 */
    char *read_token_file;
    char **allowed_hosts; /* host names (not IPs) a request's Host may give besides
                           * localhost and this machine's name, lower case, in file
                           * order, NULL-terminated; NULL when none */
    size_t nallowed_hosts;
    sk_config_at_t listen_at, admin_token_file_at, read_token_file_at; /* their values */
} sk_http_cfg_t;

/* One node of cluster.nodes: (several daemons on one PostgreSQL store). */
typedef struct sk_node_cfg {
    char *name;    /* the node's name (sk_node_name_ok); unique */
    char **labels; /* NULL-terminated, in file order; NULL when none; at most 32 */
    size_t nlabels;
    int max_parallel; /* runs at once on this node, 1-10000; default the top-level max_parallel */
    char *api;        /* http:// or https:// base URL of its API for other nodes (no trailing
                       * '/'), or NULL */
} sk_node_cfg_t;

/* cluster: settings shared by every node of one store (the same sked.yaml everywhere). */
typedef struct sk_cluster_cfg {
    int64_t lease_timeout_ms; /* 3s-10m; default 15s */
    sk_node_cfg_t *nodes;     /* in file order; NULL when none; at most 1000 */
    size_t nnodes;
} sk_cluster_cfg_t;

typedef struct sk_config {
    _Atomic int refs;                      /* API threads hold snapshots too */
    char *path;                            /* absolute path of sked.yaml */
    char *dir;                             /* its folder */
    char *state_dir;                       /* absolute; default <dir>/.sked */
    char *store_url;                       /* default <state_dir>/sked.db */
    sk_config_at_t state_dir_at, store_at; /* their values; line 0 for the defaults */
    const sk_tz_t *tz;
    int max_parallel; /* all jobs together; default 16 */
    sk_http_cfg_t http;
    sk_cluster_cfg_t cluster;
    bool log_json;      /* log_format: json (default text) */
    bool log_syslog;    /* syslog: true */
    sk_job_cfg_t *jobs; /* in file order */
    size_t njobs;
    struct sk_pool *pool; /* owns the snapshot, this struct included (config_pool.c) */
} sk_config_t;

/* A list of located errors: `sked validate` prints them all. */
typedef struct sk_errs {
    sk_err_t *items;
    size_t n, cap;
    size_t dropped; /* errors past the cap (1000), counted but not kept */
} sk_errs_t;

void sk_errs_init(sk_errs_t *e);
void sk_errs_release(sk_errs_t *e);
/* Appends an error at file:line:col with the key path and message. file is
 * borrowed: it must outlive e (and be readable for sk_errs_print's source
 * lines). Past 1000 errors, only counts them. */
void sk_errs_add(sk_errs_t *e, const char *file, int line, int col, const char *path, int code,
                 const char *fmt, ...) SK_PRINTF(7, 8);
/* Prints each as "FILE:LINE:COL: PATH: message" (": PATH" only when there is
 * one; "FILE: message" when there is no line), then the source line and a
 * caret when the file can be read. */
void sk_errs_print(const sk_errs_t *e, FILE *out);

/*
 * Loads and validates path. Zones come from tzc (which must outlive the
 * config). On success *ret is a new snapshot with one reference. On failure
 * returns SK_ECONFIG and errs holds every error found (file, line, col, key
 * path, message); nothing is half-built.
 * Checks (DESIGN section 3): unknown keys (with "did you mean"), wrong types,
 * bad cron expressions, durations, zones, enums; exactly one of python,
 * module, run, shell or steps; missing scripts; world-readable or missing
 * env_files and SMTP password_files; secrets: that cannot be read (a
 * missing or world-readable file, no $CREDENTIALS_DIRECTORY, a command that
 * fails or times out); env_file and secrets: values shorter than
 * SK_SECRET_MIN (they could not be masked); a password written in the
 * file, or a secrets: value written there; steps'
 * needs (unknown, itself, twice, cycles, shown as "a -> b -> a"); after:
 * (unknown jobs, itself, cycles); alert URLs, addresses and channels; node
 * labels (a job's nodes:, cluster.nodes.NAME.labels: well-formed, each
 * once, at most 32) and node names; cluster.lease_timeout (3s-10m), a
 * node's max_parallel (1-10000) and api (an http:// or https:// URL); YAML
 * syntax errors, duplicate keys (so duplicate step and node names); caps on
 * size (1 MiB), depth (64), nodes with aliases expanded (10^6), steps per
 * workflow (1000), params per job (100) and cluster nodes (1000).
 * Errors are sorted by line and column; at most 1000 are kept.
 * Rules where DESIGN is silent: an empty file, or one without jobs, is valid
 * (zero jobs); defaults: may hold any job key but steps and after (they
 * belong to one job), a job's own trigger key (schedule, every, at) or body
 * key (python, module, run, shell, steps) replaces that whole group of
 * defaults, env mappings merge (the job wins per variable), and a null value
 * (`timeout: ~`) unsets a key, defaults included (so `alert: ~` turns a
 * default alert off; in a step it means the job's); top-level keys starting
 * with "x-" are ignored (a place for YAML anchors); a step with `when:
 * failure` must have needs; a step may not set again a variable of the job's
 * env_file; a job's nodes: (labels) is a list or one label, and `nodes: []`
 * means no labels (like null); cluster.nodes.NAME may be null (a node with
 * every default).
 * Loop thread only (tzc belongs to one thread).
 */
int sk_config_load(const char *path, sk_tz_cache_t *tzc, sk_config_t **ret, sk_errs_t *errs);

/* Flags of sk_config_load_opts. */
#define SK_CONFIG_SKIP_SECRETS                                                                     \
    1u /* check secrets: entries, but read and run none of them: each                              \
        * value is "" (for commands that run no job) */
/* sk_config_load with flags: sk_config_load is sk_config_load_opts(path, 0, ...). */
int sk_config_load_opts(const char *path, unsigned flags, sk_tz_cache_t *tzc, sk_config_t **ret,
                        sk_errs_t *errs);
/*
 * The same for a file's text already in memory (len bytes; a NUL inside is
 * a YAML error): path names the file in errors and its folder is where
 * relative paths start; it is not read. For tests, fuzzing and the API:
 * text from there runs no command, so secrets: are checked but not read
 * (as with SK_CONFIG_SKIP_SECRETS).
 */
int sk_config_load_text(const char *path, const char *text, size_t len, sk_tz_cache_t *tzc,
                        sk_config_t **ret, sk_errs_t *errs);
/* Snapshots are shared between the loop and the runs it starts; loop thread only. */
sk_config_t *sk_config_ref(sk_config_t *c);
void sk_config_unref(sk_config_t *c);
/* The job called name, or NULL. */
const sk_job_cfg_t *sk_config_job(const sk_config_t *c, const char *name);
/* The node called name under cluster.nodes, or NULL when it is not listed
 * (such a node has no labels and the top-level max_parallel). Borrows. */
const sk_node_cfg_t *sk_config_node(const sk_config_t *c, const char *name);

/*
 * The checks `sked run` makes before it starts anything, on what a loaded
 * file names on this machine and in this environment (sk_config_load checks
 * the file itself). `sked validate` runs them too: a file it passes starts.
 * - the state folder exists as a folder this user may write, or can be made;
 * - an SQLite store's folder exists and may be written (unless it is the
 *   state folder, made at start);
 * - the control socket's path, STATE_DIR/socket_name, fits a unix socket;
 * - the API's tokens, as sk_config_http_tokens reads them.
 * Each problem is added to errs at the setting that causes it (file names
 * the configuration in messages, as sk_config_load's path; borrowed: it must
 * outlive errs), sorted; returns 0 or SK_ECONFIG. Reads files and the
 * environment, writes nothing. Any thread.
 */
int sk_config_preflight(const sk_config_t *c, const char *file, const char *socket_name,
                        sk_errs_t *errs);
/*
 * The API's tokens as the daemon uses them: each from its file
 * (http.admin_token_file, http.read_token_file: the first line, line break
 * and trailing blanks dropped), else from the environment
 * ($SKED_ADMIN_TOKEN, $SKED_READ_TOKEN), else none. Errors, added to errs at
 * the setting (file as for sk_config_preflight): a token file that cannot
 * be read, a token shorter than SK_CONFIG_TOKEN_MIN, the same token for
 * both, and a TCP listen address other than loopback without any token.
 * On success returns 0 and *ret_admin, *ret_read are new strings or NULL
 * (secrets: the caller wipes them before freeing); on failure returns
 * SK_ECONFIG and sets both to NULL. Any thread.
 */
int sk_config_http_tokens(const sk_config_t *c, const char *file, char **ret_admin, char **ret_read,
                          sk_errs_t *errs);

/* Node names and labels: 1-64 of [A-Za-z0-9_.-]. */
#define SK_NODE_NAME_MAX 64
bool sk_node_name_ok(const char *s);
/*
 * This node's name, into buf (size at least SK_NODE_NAME_MAX + 1): flag
 * (`sked run --node NAME`) when not NULL, else $SKED_NODE when set and not
 * empty, else the host name up to its first '.', else "node" when that is
 * not a valid name. A bad flag or $SKED_NODE is an error (SK_EPARSE, the
 * message naming --node or SKED_NODE); -ENOSPC when size is too small.
 * buf is not written on failure. Any thread.
 */
int sk_node_name(const char *flag, char *buf, size_t size, sk_err_t *err);
/* The job's labels joined with ',' ("gpu,big"): new memory (free), or NULL
 * when the job has none. */
char *sk_job_pin(const sk_job_cfg_t *job);

/* Sizes: "10MB", "512KiB", "1G", "4096" (bytes). Units, case-insensitive: B;
 * K M G T and KiB MiB GiB TiB (powers of 1024); KB MB GB TB (powers of
 * 1000). Whole numbers, at most 1 PiB. Errors set err->col. */
/* The trigger as written ("0 3 * * *", "every 5m", "at ...", "manual"). */
void sk_job_trigger_text(const sk_job_cfg_t *job, char *buf, size_t size);
/* The trigger in plain English ("At 03:00, every day"). */
void sk_job_trigger_explain(const sk_job_cfg_t *job, char *buf, size_t size);
/* Whether an environment variable named key holds a secret by its name
 * (*TOKEN*, *SECRET*, *PASSWORD*, *KEY*, any case): redacted when shown. */
bool sk_secret_name(const char *key);

int sk_size_parse(const char *text, int64_t *ret, sk_err_t *err);

#endif
