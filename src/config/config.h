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
#include "../runner/runner.h"
#include "../tz/tz.h"

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

const char *sk_overlap_str(sk_overlap_t o);
const char *sk_catchup_str(sk_catchup_t c);

typedef enum sk_trigger_kind {
    SK_TRIGGER_NONE,  /* only runs when triggered by hand */
    SK_TRIGGER_CRON,  /* schedule: one or more cron expressions */
    SK_TRIGGER_EVERY, /* every: fixed interval in real time */
    SK_TRIGGER_AT,    /* at: one instant */
} sk_trigger_kind_t;

typedef struct sk_job_cfg {
    char *name;
    int line, col; /* where the job's key is in the file */

    sk_trigger_kind_t trigger;
    sk_cron_t *crons;  /* schedule: parsed with the job's name (H); @reboot is not here */
    char **cron_texts; /* as written, NULL-terminated, parallel to crons */
    size_t ncron;
    bool reboot;       /* schedule: "@reboot" (runs once at daemon start); a schedule of
                        * only @reboot has trigger SK_TRIGGER_CRON and ncron 0 */
    int64_t every_ms;  /* every */
    int64_t jitter_ms; /* every: a random delay in [0, jitter) per fire */
    int64_t start_ms;  /* every: first fire (unix ms); 0 = when the job is first loaded */
    int64_t at_ms;     /* at: the instant (unix ms) */
    const sk_tz_t *tz; /* the job's zone, borrowed from the tz cache */

    sk_body_t body; /* paths in it (python target, venv, cwd) are absolute */

    int64_t timeout_ms;       /* 0: none */
    int64_t kill_grace_ms;    /* default 10s */
    int retries;              /* default 0 */
    int64_t retry_delay_ms;   /* default 10s; doubles per attempt, capped at 1h */
    sk_overlap_t overlap;     /* default skip */
    sk_catchup_t catchup;     /* default latest */
    int64_t misfire_grace_ms; /* -1 (default): until the next fire */
    int keep_runs;            /* default 100; 0: no limit */
    int64_t keep_days_ms;     /* default 0: no limit */
    int64_t max_output;       /* bytes; default 10 MiB */
    bool enabled;             /* default true */
    char *env_file;           /* as written; its values are merged into body.env */
    size_t nsecret_env;       /* the first nsecret_env entries of body.env came from env_file */

    /* A digest of everything that defines the job; equal digests mean an
     * unchanged job across reloads. */
    uint64_t digest;
} sk_job_cfg_t;

typedef struct sk_config {
    int refs;
    char *path;      /* absolute path of sked.yaml */
    char *dir;       /* its folder */
    char *state_dir; /* absolute; default <dir>/.sked */
    char *store_url; /* default <state_dir>/sked.db */
    const sk_tz_t *tz;
    int max_parallel;   /* all jobs together; default 16 */
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
 * module, run, shell (steps: "not supported yet"); missing scripts;
 * world-readable or missing env_files; YAML syntax errors, duplicate keys;
 * caps on size (1 MiB), depth (64) and nodes with aliases expanded (10^6).
 * Errors are sorted by line and column; at most 1000 are kept.
 * Rules where DESIGN is silent: an empty file, or one without jobs, is valid
 * (zero jobs); defaults: may hold any job key, a job's own trigger key
 * (schedule, every, at) or body key (python, module, run, shell) replaces
 * that whole group of defaults, env mappings merge (the job wins per
 * variable), and a null value (`timeout: ~`) unsets a key, defaults
 * included; top-level keys starting with "x-" are ignored (a place for YAML
 * anchors); http, log_format and the job keys alert, params, after, nodes,
 * expected_duration are accepted and ignored until their features exist.
 * Loop thread only (tzc belongs to one thread).
 */
int sk_config_load(const char *path, sk_tz_cache_t *tzc, sk_config_t **ret, sk_errs_t *errs);
/*
 * The same for a file's text already in memory (len bytes; a NUL inside is
 * a YAML error): path names the file in errors and its folder is where
 * relative paths start; it is not read. For tests, fuzzing and the API.
 */
int sk_config_load_text(const char *path, const char *text, size_t len, sk_tz_cache_t *tzc,
                        sk_config_t **ret, sk_errs_t *errs);
/* Snapshots are shared between the loop and the runs it starts; loop thread only. */
sk_config_t *sk_config_ref(sk_config_t *c);
void sk_config_unref(sk_config_t *c);
/* The job called name, or NULL. */
const sk_job_cfg_t *sk_config_job(const sk_config_t *c, const char *name);

/* Sizes: "10MB", "512KiB", "1G", "4096" (bytes). Units, case-insensitive: B;
 * K M G T and KiB MiB GiB TiB (powers of 1024); KB MB GB TB (powers of
 * 1000). Whole numbers, at most 1 PiB. Errors set err->col. */
int sk_size_parse(const char *text, int64_t *ret, sk_err_t *err);

#endif
