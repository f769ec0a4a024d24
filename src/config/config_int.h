/*
 * Inside the config module: a pool that owns every allocation of one
 * configuration snapshot (freed at once), the YAML node tree that
 * config_yaml.c builds with each node's line and column, and the helpers the
 * loader shares with it. Nothing here is part of sked's public interface.
 */
#ifndef SK_CONFIG_INT_H
#define SK_CONFIG_INT_H

#include "config.h"

/* Caps on what a user controls (STYLE: every size has a cap). */
/* sked.yaml: room for 100,000 jobs written out in full (~5 MB) and more,
 * still bounded (the node cap bounds the parse tree). */
#define SK_CONFIG_MAX_FILE_BYTES (16 * 1024 * 1024)
#define SK_CONFIG_MAX_FILE_TEXT "16 MiB"
#define SK_CONFIG_MAX_ENV_BYTES (1024 * 1024) /* an env_file */
#define SK_CONFIG_MAX_DEPTH 64                /* nested lists and mappings */
#define SK_CONFIG_MAX_NODES 4000000           /* nodes, with aliases expanded */
#define SK_CONFIG_MAX_ERRORS 1000             /* errors kept; the rest are counted */
#define SK_CONFIG_MAX_LABELS 32               /* labels of a job's nodes: or of one node */
#define SK_CONFIG_MAX_CLUSTER_NODES 1000      /* entries of cluster.nodes */

/*
 * A pool: allocations carved from 64 KiB chunks (under a sanitizer, each
 * its own malloc block, so that ASan sees every overflow), all released at
 * once by sk_config__pool_free. Loop thread, or whichever thread loads.
 */
typedef struct sk_pool sk_pool_t;

sk_pool_t *sk_config__pool_new(void);
/* Frees every block and the pool; NULL is a no-op. */
void sk_config__pool_free(sk_pool_t *p);
/* Zeroed memory owned by the pool, aligned for pointers and 64-bit
 * integers (not for long double); never NULL. */
void *sk_config__alloc(sk_pool_t *p, size_t n);
/* The pool takes block (from malloc) and frees it with itself. */
void sk_config__pool_own(sk_pool_t *p, void *block);

/* A point in a pool's history: sk_config__pool_release frees what was
 * allocated after it (the YAML reader drops a built job's nodes). Only for
 * a pool nobody else allocates from meanwhile. */
typedef struct sk_pool_mark {
    void *block;
    size_t used;
} sk_pool_mark_t;

sk_pool_mark_t sk_config__pool_mark(const sk_pool_t *p);
void sk_config__pool_release(sk_pool_t *p, sk_pool_mark_t m);
char *sk_config__strndup(sk_pool_t *p, const char *s, size_t n);
/* The same for a secret: the copy is wiped when the pool is freed. */
char *sk_config__secret_strndup(sk_pool_t *p, const char *s, size_t n);
char *sk_config__strdup(sk_pool_t *p, const char *s);
char *sk_config__printf(sk_pool_t *p, const char *fmt, ...) SK_PRINTF(2, 3);

typedef enum sk_ynode_kind {
    SK_YNODE_SCALAR,
    SK_YNODE_SEQ,
    SK_YNODE_MAP,
} sk_ynode_kind_t;

typedef enum sk_ystyle {
    SK_YSTYLE_PLAIN,
    SK_YSTYLE_SINGLE, /* 'quoted' */
    SK_YSTYLE_DOUBLE, /* "quoted" */
    SK_YSTYLE_BLOCK,  /* | or > */
} sk_ystyle_t;

typedef struct sk_ynode sk_ynode_t;
struct sk_yaml_hooks;

typedef struct sk_ypair {
    sk_ynode_t *key; /* always a scalar */
    sk_ynode_t *val;
} sk_ypair_t;

/*
 * One YAML node. Lines and columns are 1-based and count characters (as
 * libyaml does); end_col is the column just after the node. Aliases point
 * to the anchored node, so a node may have several parents: read-only.
 */
struct sk_ynode {
    sk_ynode_kind_t kind;
    int line, col;
    int end_line, end_col;
    sk_ystyle_t style; /* scalars */
    char *text;        /* scalars: the value, NUL-terminated (never contains NUL) */
    size_t len;
    sk_ynode_t **items; /* sequences */
    size_t nitems;
    sk_ypair_t *pairs; /* mappings, in file order, duplicate keys removed */
    size_t npairs;
    size_t weight; /* nodes in this subtree, aliases expanded */
};

/*
 * Parses text (len bytes) as one YAML document into a node tree allocated
 * in pool. *ret_root is NULL for an empty document. Errors go to errs at
 * file (borrowed: it must outlive errs): syntax errors, the depth and node
 * caps, unknown aliases and a second document stop the parse and return
 * SK_ECONFIG; duplicate and non-scalar keys are reported and dropped (the
 * first of duplicates is kept) and the parse goes on (returns 0).
 */
int sk_config__yaml_parse(const char *file, const char *text, size_t len, sk_pool_t *pool,
                          const struct sk_yaml_hooks *hooks, sk_ynode_t **ret_root,
                          sk_errs_t *errs);

/* What sk_config__yaml_parse hands to the loader while it reads, so that
 * 100,000 jobs never need their node trees at once (the tree of a job
 * written out in full is several times the job's own size). */
typedef enum sk_yaml_take {
    SK_YAML_LEAVE,      /* the pair stays in the tree */
    SK_YAML_TAKEN,      /* the loader is done with it: its nodes may be freed */
    SK_YAML_TAKEN_KEEP, /* out of the mapping, but its nodes must stay (kept pointers) */
} sk_yaml_take_t;

typedef struct sk_yaml_hooks {
    void *ctx;
    /* A pair of the top-level mapping is complete (duplicates included:
     * the first of them is the one that counts). */
    void (*top)(void *ctx, const sk_ynode_t *key, const sk_ynode_t *val);
    /* The value of the first top-level jobs: key is a mapping (no anchor)
     * starting at byte offset off: may its pairs go to job() one by one? */
    bool (*stream)(void *ctx, size_t off);
    /* One complete pair of that mapping whose key is a scalar. Pairs taken
     * are not in the tree: duplicate keys are the loader's to report. */
    sk_yaml_take_t (*job)(void *ctx, const sk_ynode_t *key, const sk_ynode_t *val);
} sk_yaml_hooks_t;

/* True for a plain null scalar: empty, "~", "null", "Null", "NULL". */
bool sk_config__is_null(const sk_ynode_t *n);

/*
 * The column in the file of the byte at offset off (0-based) inside the
 * scalar's value, when the value sits on one line as written (plain, or
 * quoted without escapes); else the node's own column.
 */
int sk_config__inner_col(const sk_ynode_t *n, size_t off);

/*
 * The length of the line break at p (before end), or 0: "\r\n", "\r", "\n",
 * and in UTF-8 NEL, LS and PS, the breaks libyaml counts lines by.
 */
size_t sk_config__line_break(const char *p, const char *end);

/* Number of UTF-8 characters in the first n bytes of s. */
size_t sk_config__utf8_len(const char *s, size_t n);

/* Appends more's errors to e (past the cap, counts them), and its dropped count. */
void sk_config__errs_append(sk_errs_t *e, const sk_errs_t *more);

/* Sorts errs->items[from..] by line and column, keeping the order of ties. */
void sk_config__errs_sort(sk_errs_t *errs, size_t from);

/*
 * Reads a whole regular file of at most max bytes into new memory
 * (NUL-terminated). Returns 0, -errno, or -EFBIG when it is larger.
 */
int sk_config__read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/*
 * Parses an env_file's text: KEY=VALUE lines, blank lines and # comments, an
 * optional "export " prefix, values optionally in '' or "" (the latter with
 * \n \" \\ escapes); unquoted values run to the end of the line, trailing
 * blanks trimmed. Later duplicates replace earlier ones. Entries go to pool
 * (values wiped when it is freed). Every value is a secret: one that is not
 * empty but shorter than SK_SECRET_MIN is an error (it could not be masked
 * in output). On error returns SK_EPARSE with err->msg naming the line (and
 * the key, never the value).
 */
int sk_config__env_parse(const char *text, size_t len, sk_pool_t *pool, sk_kv_t **ret,
                         size_t *ret_n, sk_err_t *err);

/*
 * Checks a file of secrets (env_file, an SMTP password_file) at abs, written
 * as text in sked.yaml: it exists, is a regular file, and neither its group
 * nor others may read or write it. On failure returns false with a message
 * ("WHAT \"TEXT\" ...") in msg.
 */
bool sk_config__secret_file_ok(const char *what, const char *text, const char *abs, char *msg,
                               size_t size);

/* What the loader carries while it checks one file. */
typedef struct sk_config_ctx {
    const char *file; /* as given: errors name it (borrowed) */
    char *dir;        /* absolute folder of the file */
    sk_pool_t *pool;  /* the snapshot's */
    sk_errs_t *errs;
    sk_tz_cache_t *tzc;
    const sk_tz_t *tz;                    /* the file's zone */
    unsigned flags;                       /* SK_CONFIG_* of sk_config_load_opts */
    struct sk_config__secrets *secrets;   /* secrets: entries read so far (config_secret.c) */
    struct sk_config__interned *interned; /* what sk_config__intern shares (config_pool.c) */
} sk_config_ctx_t;

/*
 * One entry of secrets: at v, the value of a variable whose key path is
 * path ("jobs.NAME.secrets.VAR"): {file: PATH} (relative to the file's
 * folder; private to its owner, like an env_file), {credential: NAME}
 * ($CREDENTIALS_DIRECTORY/NAME) or {command: ARGV, timeout: DURATION}
 * (run in the file's folder with sked's environment, default timeout 10s,
 * at most 10m; its stdout). One trailing line end is dropped; a value
 * that is empty, holds a NUL, is larger than 64 KiB or shorter than
 * SK_SECRET_MIN is an error. Returns the value in L's pool (wiped when the
 * pool is freed), or NULL after reporting errors (none when quiet: an entry
 * inherited from defaults, reported there). With SK_CONFIG_SKIP_SECRETS
 * the entry is checked but nothing is read or run, and the value is "".
 * Each node is read once per load (a cache in L, freed by
 * sk_config__secrets_release). Messages never hold a value or what a
 * command printed.
 */
const char *sk_config__secret(sk_config_ctx_t *L, const sk_ynode_t *v, const char *path,
                              bool quiet);
void sk_config__secrets_release(sk_config_ctx_t *L);

/*
 * A copy of p[0..n) in L's pool, shared with every identical copy made so
 * far in this load (n 0: NULL). For what many jobs hold alike and nobody
 * changes: the texts and parsed forms of their schedules. The index is
 * freed by sk_config__intern_release; the copies stay with the pool.
 */
const void *sk_config__intern(sk_config_ctx_t *L, const void *p, size_t n);
void sk_config__intern_release(sk_config_ctx_t *L);

/* Adds an error at node n (line 0 when n is NULL); col 0 means the node's column. */
void sk_config__err(sk_config_ctx_t *L, const sk_ynode_t *n, int col, const char *path,
                    const char *fmt, ...) SK_PRINTF(5, 6);
/* For "expected X, got Y": "a list", "a mapping", "nothing", or the scalar
 * quoted and shortened (into buf). */
const char *sk_config__got(const sk_ynode_t *n, char *buf, size_t size);
/* The closest of names to key within a small edit distance, or NULL. */
const char *sk_config__closest(const char *key, const char *const *names, size_t n);
/* Reports unknown key k: with extra (where such a key belongs) when given,
 * else with "did you mean" among names when one is close. */
void sk_config__unknown_key(sk_config_ctx_t *L, const sk_ynode_t *k, const char *path,
                            const char *const *names, size_t n, const char *extra);
/* An absolute, lexically cleaned path for p: as is when absolute, else under base. */
char *sk_config__path_abs(sk_pool_t *pool, const char *base, const char *p);
/* The value of key in a mapping; NULL when absent or null. */
const sk_ynode_t *sk_config__map_get(const sk_ynode_t *map, const char *key);
/* Parses a whole number ("-" allowed): 0, -1 when it is not one, -2 when it
 * does not fit in 64 bits. */
int sk_config__parse_int(const char *t, int64_t *ret);
bool sk_config__is_top_key(const char *name);
bool sk_config__is_job_key(const char *name);
/* True for a name made of letters, digits and _, not starting with a digit
 * (environment variables, params). */
bool sk_config__is_var_name(const char *s);
/* Where a string of words (run:, an alert's command:) would need a shell: the
 * offset of the first unquoted operator or expansion, or -1. Follows the
 * quoting of sk_split_words. */
long sk_config__shell_syntax_at(const char *s);
/*
 * Checks an alert: mapping (config_alert.c) at v, whose key path is path
 * ("jobs.NAME.alert"). Returns it in L's pool, or NULL when it has errors.
 * quiet: report nothing (a value inherited from defaults: its errors were
 * reported once, there).
 */
sk_alert_cfg_t *sk_config__alert(sk_config_ctx_t *L, const sk_ynode_t *v, const char *path,
                                 bool quiet);
/*
 * Checks a list of node labels, or one label, at v (not NULL, not null),
 * whose key path is path ("jobs.NAME.nodes"): each well-formed
 * (sk_node_name_ok), once, at most SK_CONFIG_MAX_LABELS (config_cluster.c).
 * On success returns true with a NULL-terminated vector in L's pool in *ret
 * (NULL for an empty list) and its length in *ret_n; on error returns false
 * and writes neither. quiet: report nothing (a value inherited from
 * defaults: its errors were reported once, there).
 */
bool sk_config__labels(sk_config_ctx_t *L, const sk_ynode_t *v, const char *path, bool quiet,
                       char ***ret, size_t *ret_n);
/* Checks the top-level cluster: mapping v (NULL when absent or null) and
 * fills c->cluster; c->max_parallel must be set already (a node's default). */
void sk_config__load_cluster(sk_config_ctx_t *L, const sk_ynode_t *v, sk_config_t *c);
/*
 * The jobs of one load (config_job.c; the files that check jobs share
 * config_job.h), built pair by pair as the YAML reader hands them over
 * (sk_config__jobs_pair, with defaults: given before the first) or from
 * the tree, then finished by sk_config__load_jobs. L and c must outlive it.
 */
typedef struct sk_config_jobs sk_config_jobs_t;

/* yaml_errs: the list the YAML reader reports to (a duplicate job name is
 * its kind of error). */
sk_config_jobs_t *sk_config__jobs_new(sk_config_ctx_t *L, sk_config_t *c, sk_errs_t *yaml_errs);
void sk_config__jobs_free(sk_config_jobs_t *S);
/* Checks defaults: (the first such value; NULL when none) once, as if it
 * were a job, so that its errors are said once; later calls do nothing. */
void sk_config__jobs_defaults(sk_config_jobs_t *S, const sk_ynode_t *defaults);
/* One pair of jobs: (its key a scalar): reports a duplicate name, else
 * takes a slot in file order and builds the job, or keeps it for the end
 * when it has after:. Says whether its nodes may be freed. */
sk_yaml_take_t sk_config__jobs_pair(sk_config_jobs_t *S, const sk_ynode_t *k, const sk_ynode_t *v);
/* Checks defaults: (unless given already) and jobs: of root, building
 * every pair of jobs: unless streamed (the reader handed them over), then
 * the jobs kept for the end and the after: cycles, and sets c->jobs (in
 * c's pool) and c->njobs. */
void sk_config__load_jobs(sk_config_jobs_t *S, const sk_ynode_t *root, bool streamed);

/* The Damerau-Levenshtein (optimal string alignment) distance, capped at cap+1. */
size_t sk_config__edit_distance(const char *a, const char *b, size_t cap);

#endif
