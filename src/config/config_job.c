/*
 * The jobs of sked.yaml: checks every job key (DESIGN section 3), merges in
 * defaults:, reports each problem at its node, and fills sk_job_cfg_t with
 * its digest. The defaults: mapping is checked once as if it were a job, so
 * that its errors are reported once, at their place, not once per job. A
 * workflow's steps are checked with the same code as a job's body, then
 * their needs: are resolved and checked for cycles; after: names are
 * resolved against every job of the file, and checked for cycles too.
 * Exports sk_config__load_jobs and sk_config__is_job_key to config_load.c.
 */
#include "config_int.h"

#include <sys/stat.h>

/* Defaults for what a job does not say (config.h documents each). */
#define DEF_KILL_GRACE_MS 10000
#define DEF_RETRY_DELAY_MS 10000
#define DEF_KEEP_RUNS 100
#define DEF_MAX_OUTPUT (10LL * 1024 * 1024)
#define MAX_RETRIES 100
#define MAX_KEEP_RUNS 1000000
#define MAX_KEEP_DAYS 36500
#define MAX_JOB_NAME 64
#define MAX_STEPS 1000 /* per workflow (STYLE: every size a user controls has a cap) */
#define DEF_STEP_PARALLEL 4
#define MAX_PARAMS 100
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

static const char *const job_keys[K_COUNT] = {
#define SK_X(e, s, f) s,
    JOB_KEYS(SK_X)
#undef SK_X
};

static const unsigned key_flags[K_COUNT] = {
#define SK_X(e, s, f) f,
    JOB_KEYS(SK_X)
#undef SK_X
};

static const char *const whens[] = {
#define SK_X(e, s) s,
    SK_WHENS(SK_X)
#undef SK_X
};

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

typedef struct ix_pair {
    size_t a, b;
} ix_pair_t;

static int ix_pair_cmp(const void *x, const void *y)
{
    const ix_pair_t *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

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

/*
 * An error about job key k at node n (col 0: the node's column); sub is
 * appended to the key path ("[2]", ".NAME"). Errors in values inherited
 * from defaults were reported once, by the defaults pass: not again here.
 */
static void jerr(jctx_t *j, int k, const sk_ynode_t *n, int col, const char *sub, const char *fmt,
                 ...) SK_PRINTF(6, 7);
static void jerr(jctx_t *j, int k, const sk_ynode_t *n, int col, const char *sub, const char *fmt,
                 ...)
{
    if (j->e[k].def && !j->defaults_pass)
        return;
    char path[300], msg[512];
    sk_snprintf(path, sizeof(path), "%s.%s%s", j->e[k].def ? "defaults" : j->prefix, job_keys[k],
                sub ? sub : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_config__err(j->L, n, col, path, "%s", msg);
}

static int job_key_index(const char *name)
{
    for (int k = 0; k < K_COUNT; k++) {
        if (strcmp(job_keys[k], name) == 0)
            return k;
    }
    return -1;
}

bool sk_config__is_job_key(const char *name)
{
    int k = job_key_index(name);
    return k >= 0 && (key_flags[k] & F_JOB);
}

static int name_ix_cmp(const void *a, const void *b)
{
    return strcmp(((const name_ix_t *)a)->name, ((const name_ix_t *)b)->name);
}

/* Indexes n names (borrowed, none NULL). Free with names_release. */
static void names_init(names_t *ns, const char **list, size_t n)
{
    ns->v = sk_xmalloc((n ? n : 1) * sizeof(*ns->v));
    ns->list = list;
    ns->n = n;
    for (size_t i = 0; i < n; i++)
        ns->v[i] = (name_ix_t){list[i], i};
    qsort(ns->v, ns->n, sizeof(*ns->v), name_ix_cmp);
}

static void names_release(names_t *ns)
{
    free(ns->v);
    memset(ns, 0, sizeof(*ns));
}

/* The file-order index of name, or -1. */
static long names_find(const names_t *ns, const char *name)
{
    name_ix_t want = {name, 0};
    const name_ix_t *hit = bsearch(&want, ns->v, ns->n, sizeof(*ns->v), name_ix_cmp);
    return hit ? (long)hit->ix : -1;
}

/* -------------------------------------------------------------------------------------------- */
/* Values */

/* The value of key k as a scalar's text, or NULL after reporting what was expected. */
static const char *scalar(jctx_t *j, int k, const char *what)
{
    const sk_ynode_t *v = j->e[k].val;
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR) {
        jerr(j, k, v, 0, NULL, "expected %s, got %s", what, sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    return v->text;
}

static bool parse_duration_at(jctx_t *j, int k, const sk_ynode_t *v, int64_t *ret)
{
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR) {
        jerr(j, k, v, 0, NULL, "expected a duration like 30s, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return false;
    }
    if (strcmp(v->text, "0") == 0) {
        *ret = 0; /* zero needs no unit */
        return true;
    }
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_duration_parse(v->text, ret, &err) < 0) {
        int col = err.col > 0 ? sk_config__inner_col(v, (size_t)err.col - 1) : 0;
        jerr(j, k, v, col, NULL, "%s", err.msg);
        return false;
    }
    return true;
}

static bool duration(jctx_t *j, int k, int64_t *ret)
{
    return parse_duration_at(j, k, j->e[k].val, ret);
}

static bool integer(jctx_t *j, int k, int64_t lo, int64_t hi, int64_t *ret)
{
    const char *t = scalar(j, k, "a whole number");
    if (!t)
        return false;
    const sk_ynode_t *v = j->e[k].val;
    char buf[64];
    int64_t n = 0;
    int r = sk_config__parse_int(t, &n);
    if (r == -1) {
        jerr(j, k, v, 0, NULL, "expected a whole number, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return false;
    }
    if (r < 0 || n < lo || n > hi) {
        jerr(j, k, v, 0, NULL, "%s is out of range %" PRId64 "-%" PRId64, t, lo, hi);
        return false;
    }
    *ret = n;
    return true;
}

static bool boolean(jctx_t *j, int k, bool *ret)
{
    const char *t = scalar(j, k, "true or false");
    if (!t)
        return false;
    if (strcmp(t, "true") == 0 || strcmp(t, "True") == 0 || strcmp(t, "TRUE") == 0) {
        *ret = true;
        return true;
    }
    if (strcmp(t, "false") == 0 || strcmp(t, "False") == 0 || strcmp(t, "FALSE") == 0) {
        *ret = false;
        return true;
    }
    char buf[64];
    jerr(j, k, j->e[k].val, 0, NULL, "expected true or false, got %s",
         sk_config__got(j->e[k].val, buf, sizeof(buf)));
    return false;
}

/* One of names (n of them, listed in the message) at node v of key k (sub
 * appended to its path); the index in *ret. */
static bool enumeration_at(jctx_t *j, int k, const sk_ynode_t *v, const char *sub,
                           const char *const *names, size_t n, int *ret)
{
    char list[200] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)sk_snprintf(list + used, sizeof(list) - SK_MIN(used, sizeof(list)), "%s%s",
                                    i ? (i + 1 == n ? " or " : ", ") : "", names[i]);
    char what[240], buf[64];
    sk_snprintf(what, sizeof(what), "one of %s", list);
    if (v->kind != SK_YNODE_SCALAR) {
        jerr(j, k, v, 0, sub, "expected %s, got %s", what, sk_config__got(v, buf, sizeof(buf)));
        return false;
    }
    const char *t = v->text;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t, names[i]) == 0) {
            *ret = (int)i;
            return true;
        }
    }
    const char *hint = sk_config__closest(t, names, n);
    if (hint)
        jerr(j, k, v, 0, sub, "%s is not %s (did you mean \"%s\"?)",
             sk_config__got(v, buf, sizeof(buf)), what, hint);
    else
        jerr(j, k, v, 0, sub, "%s is not %s", sk_config__got(v, buf, sizeof(buf)), what);
    return false;
}

static bool enumeration(jctx_t *j, int k, const char *const *names, size_t n, int *ret)
{
    return enumeration_at(j, k, j->e[k].val, NULL, names, n, ret);
}

static bool instant(jctx_t *j, int k, const sk_tz_t *tz, int64_t *ret_ms)
{
    const char *t = scalar(j, k, "a time like 2026-12-01T02:00:00Z");
    if (!t)
        return false;
    sk_err_t err;
    sk_err_clear(&err);
    int64_t secs;
    if (sk_tz_parse_iso(tz, t, &secs, &err) < 0) {
        /* The file's column replaces the message's column inside the text. */
        char *at = strstr(err.msg, " at column ");
        if (at) {
            const char *rest = at + strlen(" at column ");
            rest += strspn(rest, "0123456789");
            memmove(at, rest, strlen(rest) + 1);
        }
        int col = err.col > 0 ? sk_config__inner_col(j->e[k].val, (size_t)err.col - 1) : 0;
        jerr(j, k, j->e[k].val, col, NULL, "%s", err.msg);
        return false;
    }
    if (secs > INT64_MAX / 1000 || secs < INT64_MIN / 1000) {
        jerr(j, k, j->e[k].val, 0, NULL, "time \"%s\" is out of range", t);
        return false;
    }
    *ret_ms = secs * 1000;
    return true;
}

/* A non-empty string value. */
static const char *text(jctx_t *j, int k, const char *what)
{
    const char *t = scalar(j, k, what);
    if (t && !t[0]) {
        jerr(j, k, j->e[k].val, 0, NULL, "expected %s, got an empty string", what);
        return NULL;
    }
    return t;
}

/* A path that must exist: a regular file (dir false) or a folder (dir true). */
static char *existing_path(jctx_t *j, int k, const char *what, bool dir)
{
    const char *t = text(j, k, "a path");
    if (!t)
        return NULL;
    char *abs = sk_config__path_abs(j->L->pool, j->L->dir, t);
    struct stat st;
    if (stat(abs, &st) < 0) {
        jerr(j, k, j->e[k].val, 0, NULL, "%s \"%s\" %s%s", what, t,
             errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno),
             t[0] == '/' ? "" : " (relative paths start in the config file's folder)");
        return NULL;
    }
    if (dir && !S_ISDIR(st.st_mode)) {
        jerr(j, k, j->e[k].val, 0, NULL, "%s \"%s\" is not a folder", what, t);
        return NULL;
    }
    if (!dir && S_ISDIR(st.st_mode)) {
        jerr(j, k, j->e[k].val, 0, NULL, "%s \"%s\" is a folder, not a file", what, t);
        return NULL;
    }
    return abs;
}

/* -------------------------------------------------------------------------------------------- */
/* Job parts */

static bool schedule(jctx_t *j, sk_job_cfg_t *J)
{
    const sk_ynode_t *v = j->e[K_SCHEDULE].val;
    const sk_ynode_t *one[1] = {v};
    const sk_ynode_t *const *items = one;
    size_t n = 1;
    bool ok = true;
    char buf[64];

    if (v->kind == SK_YNODE_MAP) {
        jerr(j, K_SCHEDULE, v, 0, NULL,
             "expected a cron expression like \"*/5 * * * *\" or a list of them, got a mapping");
        return false;
    }
    if (v->kind == SK_YNODE_SEQ) {
        items = (const sk_ynode_t *const *)v->items;
        n = v->nitems;
        if (n == 0) {
            jerr(j, K_SCHEDULE, v, 0, NULL,
                 "an empty list: give at least one cron expression, or remove schedule: for a "
                 "job that only runs by hand");
            return false;
        }
    }
    J->crons = sk_config__alloc(j->L->pool, n * sizeof(*J->crons));
    J->cron_texts = sk_config__alloc(j->L->pool, (n + 1) * sizeof(*J->cron_texts));
    for (size_t i = 0; i < n; i++) {
        const sk_ynode_t *it = items[i];
        char sub[32] = "";
        if (v->kind == SK_YNODE_SEQ)
            sk_snprintf(sub, sizeof(sub), "[%zu]", i);
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it)) {
            jerr(j, K_SCHEDULE, it, 0, sub,
                 "expected a cron expression like \"*/5 * * * *\", "
                 "got %s",
                 sk_config__got(it, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        sk_cron_t c;
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_cron_parse(it->text, j->name, &c, &err) < 0) {
            int col = err.col > 0 ? sk_config__inner_col(it, (size_t)err.col - 1) : 0;
            jerr(j, K_SCHEDULE, it, col, sub, "%s", err.msg);
            ok = false;
            continue;
        }
        if (c.flags & SK_CRON_REBOOT) {
            J->reboot = true; /* not a time: kept out of crons */
            continue;
        }
        J->crons[J->ncron] = c;
        J->cron_texts[J->ncron] = sk_config__strdup(j->L->pool, it->text);
        J->ncron++;
    }
    return ok;
}

long sk_config__shell_syntax_at(const char *s)
{
    char q = 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (q == '\'') {
            if (c == '\'')
                q = 0;
            continue;
        }
        if (c == '\\' && s[i + 1]) {
            i++;
            continue;
        }
        if (q == '"') {
            if (c == '"')
                q = 0;
            else if (c == '$' || c == '`')
                return (long)i;
            continue;
        }
        if (c == '\'' || c == '"') {
            q = c;
            continue;
        }
        if (strchr("|&;<>()`", c))
            return (long)i;
        if (c == '$' && s[i + 1] &&
            (strchr("{(_", s[i + 1]) || (s[i + 1] >= 'A' && s[i + 1] <= 'Z') ||
             (s[i + 1] >= 'a' && s[i + 1] <= 'z')))
            return (long)i;
    }
    return -1;
}

/* Copies a NULL-terminated heap vector into the pool. */
static char **pool_strv(sk_pool_t *pool, char **v, size_t n)
{
    char **out = sk_config__alloc(pool, (n + 1) * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = sk_config__strdup(pool, v[i]);
    return out;
}

/* A list of scalars (run:, args:) into a NULL-terminated vector in the pool. */
static char **scalar_list(jctx_t *j, int k, const sk_ynode_t *v, const char *what)
{
    bool ok = true;
    char buf[64];
    char **out = sk_config__alloc(j->L->pool, (v->nitems + 1) * sizeof(*out));
    for (size_t i = 0; i < v->nitems; i++) {
        const sk_ynode_t *it = v->items[i];
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it)) {
            char sub[32];
            sk_snprintf(sub, sizeof(sub), "[%zu]", i);
            jerr(j, k, it, 0, sub, "expected %s, got %s", what,
                 sk_config__got(it, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        out[i] = sk_config__strdup(j->L->pool, it->text);
    }
    return ok ? out : NULL;
}

static bool run_body(jctx_t *j, sk_body_t *B)
{
    const sk_ynode_t *v = j->e[K_RUN].val;
    char buf[64];
    if (v->kind == SK_YNODE_MAP) {
        jerr(j, K_RUN, v, 0, NULL,
             "expected a command as a string or a list like [backup.sh, --full], got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return false;
    }
    if (v->kind == SK_YNODE_SEQ) {
        if (v->nitems == 0) {
            jerr(j, K_RUN, v, 0, NULL, "an empty command: give the program and its arguments");
            return false;
        }
        B->run_argv = scalar_list(j, K_RUN, v, "a program or argument");
        return B->run_argv != NULL;
    }
    long at = sk_config__shell_syntax_at(v->text);
    if (at >= 0) {
        jerr(j, K_RUN, v, sk_config__inner_col(v, (size_t)at), NULL,
             "'%c' would reach the program as a plain argument: run: uses no shell; use "
             "shell: for pipes, redirections and $variables",
             v->text[at]);
        return false;
    }
    char **words = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_split_words(v->text, &words, &err) < 0) {
        int col = err.col > 0 ? sk_config__inner_col(v, (size_t)err.col - 1) : 0;
        jerr(j, K_RUN, v, col, NULL, "%s", err.msg);
        return false;
    }
    size_t n = sk_strv_len(words);
    if (n == 0) {
        sk_strv_free(words);
        jerr(j, K_RUN, v, 0, NULL, "an empty command: give the program and its arguments");
        return false;
    }
    B->run_argv = pool_strv(j->L->pool, words, n);
    sk_strv_free(words);
    return true;
}

static bool is_module_name(const char *s)
{
    bool start = true;
    for (; *s; s++) {
        char c = *s;
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (c == '.' && !start) {
            start = true;
            continue;
        }
        if (!(alpha || (digit && !start)))
            return false;
        start = false;
    }
    return !start;
}

bool sk_config__is_var_name(const char *s)
{
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (const char *p = s + 1; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    }
    return true;
}

/* env: entries being merged, each remembering the key node it came from. */
typedef struct kvent {
    sk_kv_t kv;
    const sk_ynode_t *at;
    bool def; /* from defaults' env */
} kvent_t;

typedef struct kvlist {
    kvent_t *e;
    size_t n, cap;
} kvlist_t;

static void kv_put(kvlist_t *l, char *key, char *value, const sk_ynode_t *at, bool def)
{
    size_t i = 0;
    while (i < l->n && strcmp(l->e[i].kv.key, key) != 0)
        i++;
    if (i == l->n) {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 8;
            l->e = sk_xrealloc(l->e, l->cap * sizeof(*l->e));
        }
        l->n++;
    }
    l->e[i].kv.key = key;
    l->e[i].kv.value = value;
    l->e[i].at = at;
    l->e[i].def = def;
}

/* Adds one env: mapping's entries to l, checking names. from_def: the defaults' own. */
static bool env_map(jctx_t *j, const sk_ynode_t *v, bool from_def, kvlist_t *l)
{
    char buf[64];
    bool saved = j->e[K_ENV].def, ok = true;
    j->e[K_ENV].def = from_def; /* so errors name (or skip) the right place */
    if (v->kind != SK_YNODE_MAP) {
        jerr(j, K_ENV, v, 0, NULL, "expected a mapping like {NAME: value}, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        ok = false;
        goto out;
    }
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *key = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300];
        sk_snprintf(sub, sizeof(sub), ".%s", key->text);
        if (!sk_config__is_var_name(key->text)) {
            jerr(j, K_ENV, key, 0, sub,
                 "\"%s\" is not a valid variable name (letters, digits and _, not starting "
                 "with a digit)",
                 key->text);
            ok = false;
            continue;
        }
        if (strncmp(key->text, "SKED_", 5) == 0) {
            jerr(j, K_ENV, key, 0, sub, "SKED_* variables are set by sked itself");
            ok = false;
            continue;
        }
        if (val->kind != SK_YNODE_SCALAR) {
            jerr(j, K_ENV, val, 0, sub, "expected a value as a string, got %s",
                 sk_config__got(val, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        kv_put(l, sk_config__strdup(j->L->pool, key->text),
               sk_config__is_null(val) ? sk_config__strdup(j->L->pool, "")
                                       : sk_config__strdup(j->L->pool, val->text),
               key, from_def);
    }
out:
    j->e[K_ENV].def = saved;
    return ok;
}

/* Reads and checks env_file: exists, private, well-formed. */
static bool env_file(jctx_t *j, sk_job_cfg_t *J, sk_kv_t **ret, size_t *ret_n)
{
    const sk_ynode_t *v = j->e[K_ENV_FILE].val;
    const char *t = text(j, K_ENV_FILE, "a path");
    char *buf = NULL;
    size_t len = 0;
    bool ok = false;
    if (!t)
        return false;
    char *abs = sk_config__path_abs(j->L->pool, j->L->dir, t);
    char msg[512];
    if (!sk_config__secret_file_ok("env_file", t, abs, msg, sizeof(msg))) {
        jerr(j, K_ENV_FILE, v, 0, NULL, "%s", msg);
        return false;
    }
    int r = sk_config__read_file(abs, SK_CONFIG_MAX_BYTES, &buf, &len);
    if (r < 0) {
        jerr(j, K_ENV_FILE, v, 0, NULL, "env_file \"%s\": %s", t,
             r == -EFBIG ? "larger than 1 MiB" : sk_strerror(r));
        goto out;
    }
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_config__env_parse(buf, len, j->L->pool, ret, ret_n, &err) < 0) {
        jerr(j, K_ENV_FILE, v, 0, NULL, "env_file \"%s\": %s", t, err.msg);
        goto out;
    }
    J->env_file = sk_config__strdup(j->L->pool, t);
    ok = true;
out:
    if (buf)
        sk_secret_wipe(buf, len);
    free(buf);
    return ok;
}

/* Adds one secrets: mapping's entries to l, reading each value.
 * from_def: the defaults' own (read once, by the defaults pass). */
static bool secrets_map(jctx_t *j, const sk_ynode_t *v, bool from_def, kvlist_t *l)
{
    char buf[64];
    bool saved = j->e[K_SECRETS].def, ok = true;
    j->e[K_SECRETS].def = from_def; /* so errors name (or skip) the right place */
    if (v->kind != SK_YNODE_MAP) {
        jerr(j, K_SECRETS, v, 0, NULL, "expected a mapping like {NAME: {file: PATH}}, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        ok = false;
        goto out;
    }
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *key = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300], path[600];
        sk_snprintf(sub, sizeof(sub), ".%s", key->text);
        if (!sk_config__is_var_name(key->text)) {
            jerr(j, K_SECRETS, key, 0, sub,
                 "\"%s\" is not a valid variable name (letters, digits and _, not starting "
                 "with a digit)",
                 key->text);
            ok = false;
            continue;
        }
        if (strncmp(key->text, "SKED_", 5) == 0) {
            jerr(j, K_SECRETS, key, 0, sub, "SKED_* variables are set by sked itself");
            ok = false;
            continue;
        }
        sk_snprintf(path, sizeof(path), "%s.secrets.%s", from_def ? "defaults" : j->prefix,
                    key->text);
        const char *value = sk_config__secret(j->L, val, path, from_def && !j->defaults_pass);
        if (!value) {
            ok = false;
            continue;
        }
        kv_put(l, sk_config__strdup(j->L->pool, key->text), (char *)value, key, from_def);
    }
out:
    j->e[K_SECRETS].def = saved;
    return ok;
}

/* Reports variable key set in two places, where the job wrote it: at the
 * entry `at` of key k when it is the job's own (not from defaults), else
 * at the other place's key other_k (a clash inside defaults was reported by
 * the defaults pass). */
static void clash(jctx_t *j, int k, const kvent_t *at, int other_k, const sk_ynode_t *other_at,
                  const char *where)
{
    char sub[300];
    sk_snprintf(sub, sizeof(sub), ".%s", at->kv.key);
    bool saved = j->e[k].def, saved_o = j->e[other_k].def;
    if (!at->def) {
        j->e[k].def = false;
        jerr(j, k, at->at, 0, sub, "%s is also set in %s: set it in one place", at->kv.key, where);
    } else {
        jerr(j, other_k, other_at, 0, NULL,
             "%s is also set in %s under defaults: set it in one place", at->kv.key, job_keys[k]);
    }
    j->e[k].def = saved;
    j->e[other_k].def = saved_o;
}

/* The values a run's output masks (sk_body_t.masked): every secret (the
 * first B->nsecret entries), and the value of an env: variable named like
 * a secret when it is long enough to mask. NULL when there are none. */
static char **masked_values(sk_pool_t *pool, const sk_body_t *B)
{
    size_t n = 0;
    for (size_t i = 0; i < B->nenv; i++) {
        const char *v = B->env[i].value;
        if (v && v[0] &&
            (i < B->nsecret || (sk_secret_name(B->env[i].key) && strlen(v) >= SK_SECRET_MIN)))
            n++;
    }
    if (n == 0)
        return NULL;
    char **out = sk_config__alloc(pool, (n + 1) * sizeof(*out));
    n = 0;
    for (size_t i = 0; i < B->nenv; i++) {
        char *v = B->env[i].value;
        if (v && v[0] &&
            (i < B->nsecret || (sk_secret_name(B->env[i].key) && strlen(v) >= SK_SECRET_MIN)))
            out[n++] = v;
    }
    return out;
}

/* B->env: env_file's values first, then secrets:'s (B->nsecret of them in
 * all), then env:'s. B is the job's body, or for a workflow the one its
 * steps inherit. */
static bool environment(jctx_t *j, sk_job_cfg_t *J, sk_body_t *B)
{
    kvlist_t l = {0}, sl = {0};
    sk_kv_t *secret = NULL;
    size_t nsecret = 0;
    bool ok = true;

    if (j->e[K_ENV_FILE].val)
        ok = env_file(j, J, &secret, &nsecret) && ok;
    if (j->secrets_def)
        ok = secrets_map(j, j->secrets_def, true, &sl) && ok;
    if (j->e[K_SECRETS].val && !(j->e[K_SECRETS].def && j->secrets_def == j->e[K_SECRETS].val))
        ok = secrets_map(j, j->e[K_SECRETS].val, j->e[K_SECRETS].def, &sl) && ok;
    if (j->env_def)
        ok = env_map(j, j->env_def, true, &l) && ok;
    if (j->e[K_ENV].val && !(j->e[K_ENV].def && j->env_def == j->e[K_ENV].val))
        ok = env_map(j, j->e[K_ENV].val, j->e[K_ENV].def, &l) && ok;

    /*
     * A variable in two of env_file, secrets: and env: is a mistake waiting
     * to happen (which one wins?): say so where the job wrote it.
     */
    char where[300];
    sk_snprintf(where, sizeof(where), "env_file \"%s\"", J->env_file ? J->env_file : "");
    for (size_t i = 0; i < l.n && ok; i++) {
        for (size_t s = 0; s < nsecret; s++) {
            if (strcmp(secret[s].key, l.e[i].kv.key) == 0) {
                if (!l.e[i].def)
                    clash(j, K_ENV, &l.e[i], K_ENV_FILE, j->e[K_ENV_FILE].val, where);
                else
                    jerr(j, K_ENV_FILE, j->e[K_ENV_FILE].val, 0, NULL,
                         "%s is also set in env: under defaults: set it in one place",
                         l.e[i].kv.key);
                ok = false;
            }
        }
        for (size_t s = 0; s < sl.n; s++) {
            if (strcmp(sl.e[s].kv.key, l.e[i].kv.key) == 0) {
                if (!l.e[i].def)
                    clash(j, K_ENV, &l.e[i], K_SECRETS, sl.e[s].at, "secrets");
                else
                    clash(j, K_SECRETS, &sl.e[s], K_ENV, l.e[i].at, "env: under defaults");
                ok = false;
            }
        }
    }
    for (size_t s = 0; s < sl.n && ok; s++) {
        for (size_t f = 0; f < nsecret; f++) {
            if (strcmp(secret[f].key, sl.e[s].kv.key) == 0) {
                clash(j, K_SECRETS, &sl.e[s], K_ENV_FILE, j->e[K_ENV_FILE].val, where);
                ok = false;
            }
        }
    }
    if (ok) {
        size_t n = nsecret + sl.n + l.n;
        B->env = sk_config__alloc(j->L->pool, (n ? n : 1) * sizeof(*B->env));
        if (nsecret)
            memcpy(B->env, secret, nsecret * sizeof(*secret));
        for (size_t i = 0; i < sl.n; i++)
            B->env[nsecret + i] = sl.e[i].kv;
        for (size_t i = 0; i < l.n; i++)
            B->env[nsecret + sl.n + i] = l.e[i].kv;
        B->nenv = n;
        B->nsecret = nsecret + sl.n;
        B->masked = masked_values(j->L->pool, B);
        J->nsecret_env = B->nsecret;
        j->nfile = nsecret;
    }
    free(l.e);
    free(sl.e);
    return ok;
}

/*
 * A step's env: the workflow's (env_file's values first, then secrets:'s,
 * then env:'s), with the step's own env: over it, the step winning per
 * variable. A secret may not be set again: the first nsecret entries stay
 * the secrets, as in a job (nfile of them from env_file). A step without
 * env: shares the workflow's arrays; the copies the others make count
 * against *budget (a 1 MiB env_file times 1000 steps must not take
 * gigabytes).
 */
static bool step_environment(jctx_t *s, const sk_body_t *parent, const sk_job_cfg_t *J,
                             size_t nfile, size_t *budget, sk_body_t *B)
{
    kvlist_t own = {0}, l = {0};
    bool ok = true;
    B->nsecret = parent->nsecret;
    if (!s->e[K_ENV].val) {
        B->env = parent->env;
        B->nenv = parent->nenv;
        B->masked = parent->masked;
        return true;
    }
    ok = env_map(s, s->e[K_ENV].val, false, &own);
    if (parent->nenv + own.n > *budget) {
        jerr(s, K_ENV, s->e[K_ENV].val, 0, NULL,
             "the steps' environments are too large (more than %d variables in all): set "
             "shared variables once, on the job",
             MAX_STEP_ENV);
        ok = false;
    } else {
        *budget -= parent->nenv + own.n;
    }
    for (size_t i = 0; i < own.n; i++) {
        for (size_t k = 0; k < parent->nsecret && k < parent->nenv; k++) {
            if (strcmp(parent->env[k].key, own.e[i].kv.key) != 0)
                continue;
            char sub[300];
            sk_snprintf(sub, sizeof(sub), ".%s", own.e[i].kv.key);
            if (k < nfile)
                jerr(s, K_ENV, own.e[i].at, 0, sub,
                     "%s is also set in the job's env_file \"%s\": set it in one place",
                     own.e[i].kv.key, J->env_file);
            else
                jerr(s, K_ENV, own.e[i].at, 0, sub,
                     "%s is also set in the job's secrets: set it in one place", own.e[i].kv.key);
            ok = false;
        }
    }
    if (ok) {
        l.cap = l.n = parent->nenv;
        l.e = sk_xmalloc((l.cap ? l.cap : 1) * sizeof(*l.e));
        for (size_t i = 0; i < parent->nenv; i++)
            l.e[i] = (kvent_t){.kv = parent->env[i]};
        for (size_t i = 0; i < own.n; i++)
            kv_put(&l, own.e[i].kv.key, own.e[i].kv.value, own.e[i].at, false);
        B->env = sk_config__alloc(s->L->pool, (l.n ? l.n : 1) * sizeof(*B->env));
        for (size_t i = 0; i < l.n; i++)
            B->env[i] = l.e[i].kv;
        B->nenv = l.n;
        B->masked = masked_values(s->L->pool, B);
    }
    free(own.e);
    free(l.e);
    return ok;
}

/* -------------------------------------------------------------------------------------------- */
/* Jobs */

static bool in_group(int k, const int *group, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (group[i] == k)
            return true;
    }
    return false;
}

static const int trigger_keys[] = {K_SCHEDULE, K_EVERY, K_AT};
static const int body_keys[] = {K_PYTHON, K_MODULE, K_RUN, K_SHELL};
/* What a job does: writing one of these in a job hides all of them in defaults. */
static const int doing_keys[] = {K_PYTHON, K_MODULE, K_RUN, K_SHELL, K_STEPS};

/* Reports key k (known, but not allowed where j is). */
static void misplaced(jctx_t *j, const sk_ynode_t *key, int k)
{
    char path[300];
    sk_snprintf(path, sizeof(path), "%s.%s", j->prefix, key->text);
    if (j->scope == F_STEP && k == K_STEPS)
        sk_config__err(j->L, key, 0, path,
                       "steps cannot be nested: a step runs one of python, module, run or shell");
    else if (j->scope == F_STEP)
        sk_config__err(j->L, key, 0, path,
                       "%s applies to the whole workflow, not to one step: set it on the job",
                       job_keys[k]);
    else if (j->scope == F_DEF && k == K_STEPS)
        sk_config__err(j->L, key, 0, path,
                       "steps cannot be set in defaults: a workflow belongs to one job");
    else if (j->scope == F_DEF && k == K_AFTER)
        sk_config__err(j->L, key, 0, path,
                       "after cannot be set in defaults: give each job the jobs it follows");
    else if (k == K_NEEDS)
        sk_config__unknown_key(j->L, key, path, NULL, 0,
                               " (it belongs to a step under steps:; to start when another job "
                               "ends, use after:)");
    else
        sk_config__unknown_key(j->L, key, path, NULL, 0,
                               " (it belongs to a step under steps:, or to after: {jobs: [...], "
                               "when: ...})");
}

/* Reports a key that is no key at all, with "did you mean" among the keys allowed where j is. */
static void unknown_job_key(jctx_t *j, const sk_ynode_t *key)
{
    const char *names[K_COUNT];
    size_t n = 0;
    for (int k = 0; k < K_COUNT; k++) {
        if (key_flags[k] & j->scope)
            names[n++] = job_keys[k];
    }
    char path[300];
    sk_snprintf(path, sizeof(path), "%s.%s", j->prefix, key->text);
    bool top = j->scope != F_STEP && sk_config__is_top_key(key->text);
    sk_config__unknown_key(j->L, key, path, names, n,
                           top ? " (it belongs at the top level of the file)" : NULL);
}

/*
 * Fills j->e from the job's mapping over the defaults' one. A null value
 * unsets a key (and hides its default). Writing any trigger key (schedule,
 * every, at) or body key (python, module, run, shell) in the job replaces
 * that whole group from defaults; env mappings merge, the job's entries
 * winning; every other key simply replaces its default.
 */
static void gather(jctx_t *j, const sk_ynode_t *map, const sk_ynode_t *defaults)
{
    bool own_trigger = false, own_body = false;
    for (size_t i = 0; i < map->npairs; i++) {
        const sk_ynode_t *key = map->pairs[i].key;
        int k = job_key_index(key->text);
        if (k < 0) {
            unknown_job_key(j, key);
            continue;
        }
        if (!(key_flags[k] & j->scope)) {
            misplaced(j, key, k);
            continue;
        }
        j->e[k].key = key;
        j->e[k].val = sk_config__is_null(map->pairs[i].val) ? NULL : map->pairs[i].val;
        own_trigger |= in_group(k, trigger_keys, SK_ARRAY_LEN(trigger_keys));
        own_body |= in_group(k, doing_keys, SK_ARRAY_LEN(doing_keys));
    }
    if (!defaults)
        return;
    for (size_t i = 0; i < defaults->npairs; i++) {
        int k = job_key_index(defaults->pairs[i].key->text);
        if (k < 0 || j->e[k].key || !(key_flags[k] & F_DEF))
            continue; /* unknown and misplaced keys were reported by the defaults pass */
        if ((own_trigger && in_group(k, trigger_keys, SK_ARRAY_LEN(trigger_keys))) ||
            (own_body && in_group(k, doing_keys, SK_ARRAY_LEN(doing_keys))))
            continue;
        const sk_ynode_t *v = defaults->pairs[i].val;
        j->e[k].key = defaults->pairs[i].key;
        j->e[k].val = sk_config__is_null(v) ? NULL : v;
        j->e[k].def = true;
    }
    /* Defaults' env and secrets merge under the job's own (unless the job
     * unsets them with a null). */
    for (size_t i = 0; i < defaults->npairs; i++) {
        const char *k = defaults->pairs[i].key->text;
        const sk_ynode_t *v = defaults->pairs[i].val;
        if (sk_config__is_null(v))
            continue;
        if (strcmp(k, "env") == 0 && !(j->e[K_ENV].key && !j->e[K_ENV].def && !j->e[K_ENV].val))
            j->env_def = v;
        if (strcmp(k, "secrets") == 0 &&
            !(j->e[K_SECRETS].key && !j->e[K_SECRETS].def && !j->e[K_SECRETS].val))
            j->secrets_def = v;
    }
}

/* The first two keys of group that have values, for "cannot be combined". */
static int count_group(const jctx_t *j, const int *group, size_t n, int *first, int *second)
{
    int c = 0;
    *first = *second = -1;
    for (size_t i = 0; i < n; i++) {
        if (!j->e[group[i]].val)
            continue;
        if (c == 0)
            *first = group[i];
        else if (c == 1)
            *second = group[i];
        c++;
    }
    return c;
}

static void not_applicable(jctx_t *j, int k, const char *why)
{
    if (j->defaults_pass || j->e[k].def || !j->e[k].val)
        return;
    jerr(j, k, j->e[k].key, 0, NULL, "%s %s", job_keys[k], why);
}

static void digest_job(sk_job_cfg_t *J);
static bool job_name_ok(const char *s);

/*
 * What a job or a step runs (one of python, module, run, shell) and with
 * what: args, venv, cwd. A step inherits the venv and cwd of parent (the
 * workflow's). For a workflow job (workflow true), none of the four may be
 * given and B only collects the venv and cwd its steps inherit.
 */
static void body(jctx_t *j, const sk_ynode_t *keynode, const sk_body_t *parent, bool workflow,
                 sk_body_t *B)
{
    sk_config_ctx_t *L = j->L;
    int b1, b2;
    int nbody = count_group(j, body_keys, SK_ARRAY_LEN(body_keys), &b1, &b2);
    B->config_dir = L->dir;
    if (workflow && nbody > 0) {
        jerr(j, b1, j->e[b1].key, 0, NULL,
             "steps and %s cannot be combined: a workflow runs its steps (give %s to a step)",
             job_keys[b1], job_keys[b1]);
    } else if (nbody > 1) {
        jerr(j, b2, j->e[b2].key, 0, NULL,
             "%s and %s cannot be combined: a %s runs one of python, module, run or shell",
             job_keys[b1], job_keys[b2], j->noun);
    } else if (nbody == 0 && !j->defaults_pass && !workflow) {
        sk_config__err(L, keynode, 0, j->prefix,
                       "%s \"%s\" has nothing to run: give one of python, module, run or shell",
                       j->noun, j->name);
    }
    if (j->e[K_PYTHON].val)
        B->target = existing_path(j, K_PYTHON, "python script", false);
    if (j->e[K_MODULE].val) {
        const char *t = text(j, K_MODULE, "a module name like pkg.tool");
        if (t && !is_module_name(t))
            jerr(j, K_MODULE, j->e[K_MODULE].val, 0, NULL,
                 "\"%s\" is not a Python module name (like pkg.tool)", t);
        else if (t)
            B->target = sk_config__strdup(L->pool, t);
    }
    if (j->e[K_RUN].val)
        run_body(j, B);
    if (j->e[K_SHELL].val) {
        const char *t = text(j, K_SHELL, "a shell command as a string");
        if (t)
            B->target = sk_config__strdup(L->pool, t);
    }
    B->kind = b1 == K_MODULE  ? SK_BODY_MODULE
              : b1 == K_RUN   ? SK_BODY_RUN
              : b1 == K_SHELL ? SK_BODY_SHELL
                              : SK_BODY_PYTHON;
    bool python = nbody == 1 && (b1 == K_PYTHON || b1 == K_MODULE);
    if (j->e[K_ARGS].val && (j->defaults_pass || (nbody == 1 && b1 != K_SHELL))) {
        const sk_ynode_t *v = j->e[K_ARGS].val;
        char buf[64];
        if (v->kind != SK_YNODE_SEQ)
            jerr(j, K_ARGS, v, 0, NULL, "expected a list like [--region, eu], got %s",
                 sk_config__got(v, buf, sizeof(buf)));
        else
            B->args = scalar_list(j, K_ARGS, v, "an argument");
    }
    if (workflow)
        not_applicable(j, K_ARGS, "does not apply to a workflow: give args to its steps");
    else if (nbody == 1 && b1 == K_SHELL)
        not_applicable(j, K_ARGS, "does not apply to shell: put the arguments in the command");
    if (j->e[K_VENV].val && (python || workflow || j->defaults_pass)) {
        char *venv = existing_path(j, K_VENV, "venv", true);
        if (venv) {
            char *py = sk_config__printf(L->pool, "%s/bin/python", venv);
            if (access(py, X_OK) < 0)
                jerr(j, K_VENV, j->e[K_VENV].val, 0, NULL, "venv \"%s\" has no bin/python",
                     j->e[K_VENV].val->text);
            else
                B->venv = venv;
        }
    } else if (parent && python) {
        B->venv = parent->venv;
    }
    if (nbody == 1 && !python && !workflow)
        not_applicable(j, K_VENV,
                       j->scope == F_STEP ? "only applies to python: and module: steps"
                                          : "only applies to python: and module: jobs");
    if (j->e[K_CWD].val)
        B->cwd = existing_path(j, K_CWD, "cwd", true);
    else if (parent)
        B->cwd = parent->cwd;
}

/* timeout, kill_grace, retries, retry_delay and max_output: each written only when given. */
static void run_limits(jctx_t *j, int64_t *timeout_ms, int64_t *kill_grace_ms, int *retries,
                       int64_t *retry_delay_ms, int64_t *max_output)
{
    int64_t n;
    if (j->e[K_TIMEOUT].val)
        duration(j, K_TIMEOUT, timeout_ms);
    if (j->e[K_KILL_GRACE].val)
        duration(j, K_KILL_GRACE, kill_grace_ms);
    if (j->e[K_RETRIES].val && integer(j, K_RETRIES, 0, MAX_RETRIES, &n))
        *retries = (int)n;
    if (j->e[K_RETRY_DELAY].val)
        duration(j, K_RETRY_DELAY, retry_delay_ms);
    if (j->e[K_MAX_OUTPUT].val) {
        const char *t = scalar(j, K_MAX_OUTPUT, "a size like 10MB");
        sk_err_t err;
        sk_err_clear(&err);
        if (t && sk_size_parse(t, max_output, &err) < 0) {
            int col =
                err.col > 0 ? sk_config__inner_col(j->e[K_MAX_OUTPUT].val, (size_t)err.col - 1) : 0;
            jerr(j, K_MAX_OUTPUT, j->e[K_MAX_OUTPUT].val, col, NULL, "%s", err.msg);
        }
    }
}

/* alert: checked where it is written (defaults' once, in the defaults pass). */
static sk_alert_cfg_t *alert(jctx_t *j)
{
    char path[300];
    sk_snprintf(path, sizeof(path), "%s.alert", j->e[K_ALERT].def ? "defaults" : j->prefix);
    return sk_config__alert(j->L, j->e[K_ALERT].val, path, j->e[K_ALERT].def && !j->defaults_pass);
}

/* params: a mapping from names to default values (scalars). */
static void params(jctx_t *j, sk_job_cfg_t *J)
{
    const sk_ynode_t *v = j->e[K_PARAMS].val;
    char buf[64];
    if (v->kind != SK_YNODE_MAP) {
        jerr(j, K_PARAMS, v, 0, NULL, "expected a mapping like {region: eu}, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    if (v->npairs > MAX_PARAMS) {
        jerr(j, K_PARAMS, v, 0, NULL, "too many params: %zu (at most %d)", v->npairs, MAX_PARAMS);
        return;
    }
    bool ok = true;
    sk_kv_t *kv = sk_config__alloc(j->L->pool, (v->npairs ? v->npairs : 1) * sizeof(*kv));
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *key = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300];
        sk_snprintf(sub, sizeof(sub), ".%s", key->text);
        if (!sk_config__is_var_name(key->text)) {
            jerr(j, K_PARAMS, key, 0, sub,
                 "\"%s\" is not a valid parameter name (letters, digits and _, not starting "
                 "with a digit)",
                 key->text);
            ok = false;
            continue;
        }
        if (val->kind != SK_YNODE_SCALAR) {
            jerr(j, K_PARAMS, val, 0, sub, "expected a default value as a string, got %s",
                 sk_config__got(val, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        kv[i].key = sk_config__strdup(j->L->pool, key->text);
        kv[i].value = sk_config__strdup(j->L->pool, sk_config__is_null(val) ? "" : val->text);
    }
    if (ok) {
        J->params = kv;
        J->nparams = v->npairs;
    }
}

/*
 * after: [a, b], one name, or {jobs: [a, b], when: failure}. Names must be
 * jobs of the file (j->jobs), not this one, each once. Where each entry is
 * written goes to j->after_at, for the cycle check once every job is built.
 */
static void after(jctx_t *j, sk_job_cfg_t *J)
{
    static const char *const after_keys[] = {"jobs", "when"};
    const sk_ynode_t *v = j->e[K_AFTER].val, *list = v;
    const char *base = "";
    char buf[64];
    if (v->kind == SK_YNODE_MAP) {
        list = NULL;
        base = ".jobs";
        for (size_t i = 0; i < v->npairs; i++) {
            const sk_ynode_t *k = v->pairs[i].key, *val = v->pairs[i].val;
            char path[300];
            int e;
            if (strcmp(k->text, "jobs") == 0) {
                list = sk_config__is_null(val) ? NULL : val;
            } else if (strcmp(k->text, "when") == 0) {
                if (!sk_config__is_null(val) &&
                    enumeration_at(j, K_AFTER, val, ".when", whens, SK_ARRAY_LEN(whens), &e))
                    J->after_when = (sk_when_t)e;
            } else {
                sk_snprintf(path, sizeof(path), "%s.after.%s", j->prefix, k->text);
                sk_config__unknown_key(j->L, k, path, after_keys, SK_ARRAY_LEN(after_keys), NULL);
            }
        }
        if (!list) {
            jerr(j, K_AFTER, v, 0, NULL,
                 "after needs jobs: the jobs whose runs start this one, like {jobs: [extract], "
                 "when: failure}");
            return;
        }
    }
    if (list->kind == SK_YNODE_MAP) {
        jerr(j, K_AFTER, list, 0, base, "expected a job name or a list of them, got a mapping");
        return;
    }
    bool seq = list->kind == SK_YNODE_SEQ;
    size_t n = seq ? list->nitems : 1;
    if (n == 0) {
        jerr(j, K_AFTER, list, 0, base, "an empty list: give at least one job, or remove after:");
        return;
    }
    bool ok = true;
    char **names = sk_config__alloc(j->L->pool, (n + 1) * sizeof(*names));
    ref_at_t *at = sk_xcalloc(n, sizeof(*at));
    ix_pair_t *seen = sk_xmalloc(n * sizeof(*seen)); /* (job, place) of each good entry */
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++) {
        const sk_ynode_t *it = seq ? list->items[i] : list;
        if (seq)
            sk_snprintf(at[i].sub, sizeof(at[i].sub), "%s[%zu]", base, i);
        else
            sk_strlcpy(at[i].sub, base, sizeof(at[i].sub));
        at[i].node = it;
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it) || !it->text[0]) {
            jerr(j, K_AFTER, it, 0, at[i].sub, "expected a job name, got %s",
                 it->kind == SK_YNODE_SCALAR && !sk_config__is_null(it)
                     ? "an empty string"
                     : sk_config__got(it, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        if (strcmp(it->text, j->name) == 0) {
            jerr(j, K_AFTER, it, 0, at[i].sub, "job \"%s\" cannot run after itself", it->text);
            ok = false;
            continue;
        }
        long t = names_find(j->jobs, it->text);
        if (t < 0) {
            const char *hint = sk_config__closest(it->text, j->jobs->list, j->jobs->n);
            if (hint)
                jerr(j, K_AFTER, it, 0, at[i].sub, "unknown job \"%s\" (did you mean \"%s\"?)",
                     it->text, hint);
            else
                jerr(j, K_AFTER, it, 0, at[i].sub, "unknown job \"%s\"", it->text);
            ok = false;
            continue;
        }
        names[i] = sk_config__strdup(j->L->pool, it->text);
        seen[nseen++] = (ix_pair_t){(size_t)t, i};
    }
    /* Each job once: sorted by job then place, the later of two equal ones is reported. */
    qsort(seen, nseen, sizeof(*seen), ix_pair_cmp);
    for (size_t k = 1; k < nseen; k++) {
        if (seen[k].a != seen[k - 1].a)
            continue;
        const ref_at_t *r = &at[seen[k].b];
        jerr(j, K_AFTER, r->node, 0, r->sub, "job \"%s\" is listed twice", r->node->text);
        ok = false;
    }
    free(seen);
    if (!ok) {
        free(at);
        return;
    }
    J->after = names;
    J->nafter = n;
    j->after_at = at;
}

/* -------------------------------------------------------------------------------------------- */
/* Cycles (needs: between steps, after: between jobs) */

typedef void (*cycle_cb)(void *ctx, const size_t *path, size_t npath, size_t edge);

/*
 * Depth-first search over n nodes whose edges are adj[i][0..nadj[i]), from
 * each node in order and along each node's edges in order. For each edge
 * that leads back to a node on the current path, calls found with the
 * cycle: path[0..npath) from that node to the edge's source, and the
 * edge's index among its source's edges. Iterative: a chain of 1000 steps
 * costs no stack.
 */
static void find_cycles(size_t n, size_t *const *adj, const size_t *nadj, cycle_cb found, void *ctx)
{
    unsigned char *color = sk_xcalloc(n ? n : 1, 1); /* 0 new, 1 on the path, 2 done */
    size_t *path = sk_xmalloc((n ? n : 1) * sizeof(*path));
    size_t *next = sk_xcalloc(n ? n : 1, sizeof(*next)); /* each node's next edge */
    size_t *depth = sk_xmalloc((n ? n : 1) * sizeof(*depth));
    for (size_t root = 0; root < n; root++) {
        if (color[root])
            continue;
        size_t top = 0;
        path[top++] = root;
        color[root] = 1;
        depth[root] = 0;
        while (top > 0) {
            size_t u = path[top - 1];
            if (next[u] == nadj[u]) {
                color[u] = 2;
                top--;
                continue;
            }
            size_t e = next[u]++, v = adj[u][e];
            if (color[v] == 0) {
                color[v] = 1;
                depth[v] = top;
                path[top++] = v;
            } else if (color[v] == 1) {
                found(ctx, path + depth[v], top - depth[v], e);
            }
        }
    }
    free(color);
    free(path);
    free(next);
    free(depth);
}

/* "a -> b -> a" for a cycle's path, shortened in the middle when long. */
static void cycle_text(const char *const *names, const size_t *path, size_t npath, char *buf,
                       size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < npath; i++) {
        if (npath > 5 && i == 3) {
            used += (size_t)sk_snprintf(buf + used, size - SK_MIN(used, size), " -> ...");
            i = npath - 1;
        }
        used += (size_t)sk_snprintf(buf + used, size - SK_MIN(used, size), "%s%.64s",
                                    i ? " -> " : "", names[path[i]]);
    }
    sk_snprintf(buf + SK_MIN(used, size), size - SK_MIN(used, size), " -> %.64s", names[path[0]]);
}

/* -------------------------------------------------------------------------------------------- */
/* Workflows */

/* What a step leaves for the workflow to check once every step is known. */
typedef struct step_aux {
    char prefix[300];        /* "jobs.NAME.steps.STEP" */
    const sk_ynode_t *needs; /* its needs: value, or NULL */
    const sk_ynode_t *when;  /* its when: value, or NULL */
    ref_at_t *at;            /* where each resolved need is written, parallel to needs (malloc) */
} step_aux_t;

/* One step: a body like a job's, inheriting the workflow's values (J, parent). */
static void build_step(jctx_t *wj, const sk_job_cfg_t *J, const sk_body_t *parent,
                       size_t *env_budget, const sk_ynode_t *key, const sk_ynode_t *map,
                       sk_step_cfg_t *S, step_aux_t *aux)
{
    sk_config_ctx_t *L = wj->L;
    char buf[64];
    sk_snprintf(aux->prefix, sizeof(aux->prefix), "%s.steps.%s", wj->prefix, key->text);
    S->name = sk_config__strdup(L->pool, key->text);
    S->line = key->line;
    S->col = key->col;
    S->body.config_dir = L->dir;
    S->when = SK_WHEN_SUCCESS;
    S->timeout_ms = J->timeout_ms;
    S->kill_grace_ms = J->kill_grace_ms;
    S->retries = J->retries;
    S->retry_delay_ms = J->retry_delay_ms;
    S->max_output = J->max_output;
    if (!job_name_ok(key->text))
        sk_config__err(L, key, 0, aux->prefix,
                       "step name \"%s\" must be 1-%d letters, digits, '_', '.' or '-', not "
                       "starting with '.' or '-'",
                       key->text, MAX_JOB_NAME);
    static const sk_ynode_t empty = {.kind = SK_YNODE_MAP};
    if (sk_config__is_null(map)) {
        map = &empty; /* reported as "nothing to run" */
    } else if (map->kind != SK_YNODE_MAP) {
        sk_config__err(L, map, 0, aux->prefix,
                       "expected a mapping of step settings like {run: ..., needs: [...]}, got %s",
                       sk_config__got(map, buf, sizeof(buf)));
        return;
    }
    jctx_t s = {.L = L, .name = key->text, .prefix = aux->prefix, .noun = "step", .scope = F_STEP};
    gather(&s, map, NULL);
    body(&s, key, parent, false, &S->body);
    step_environment(&s, parent, J, wj->nfile, env_budget, &S->body);
    run_limits(&s, &S->timeout_ms, &S->kill_grace_ms, &S->retries, &S->retry_delay_ms,
               &S->max_output);
    if (s.e[K_ALERT].val)
        S->alert = alert(&s);
    int e;
    if (s.e[K_WHEN].val && enumeration(&s, K_WHEN, whens, SK_ARRAY_LEN(whens), &e))
        S->when = (sk_when_t)e;
    aux->needs = s.e[K_NEEDS].val;
    aux->when = s.e[K_WHEN].val;
}

/* needs: one step name or a list of them, each another step of the workflow, once. */
static void resolve_needs(sk_config_ctx_t *L, sk_step_cfg_t *S, step_aux_t *aux, size_t i,
                          const names_t *ix, size_t *stamp)
{
    const sk_ynode_t *v = aux->needs;
    char buf[64], path[400];
    if (v->kind == SK_YNODE_MAP) {
        sk_snprintf(path, sizeof(path), "%s.needs", aux->prefix);
        sk_config__err(L, v, 0, path, "expected a step name or a list of them, got a mapping");
        return;
    }
    bool seq = v->kind == SK_YNODE_SEQ;
    size_t m = seq ? v->nitems : 1;
    S->needs = sk_config__alloc(L->pool, (m ? m : 1) * sizeof(*S->needs));
    aux->at = sk_xcalloc(m ? m : 1, sizeof(*aux->at));
    for (size_t k = 0; k < m; k++) {
        const sk_ynode_t *it = seq ? v->items[k] : v;
        char sub[40] = "";
        if (seq)
            sk_snprintf(sub, sizeof(sub), "[%zu]", k);
        sk_snprintf(path, sizeof(path), "%s.needs%s", aux->prefix, sub);
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it) || !it->text[0]) {
            sk_config__err(L, it, 0, path, "expected a step name, got %s",
                           it->kind == SK_YNODE_SCALAR && !sk_config__is_null(it)
                               ? "an empty string"
                               : sk_config__got(it, buf, sizeof(buf)));
            continue;
        }
        if (strcmp(it->text, S->name) == 0) {
            sk_config__err(L, it, 0, path, "step \"%s\" cannot need itself", it->text);
            continue;
        }
        long t = names_find(ix, it->text);
        if (t < 0) {
            const char *hint = sk_config__closest(it->text, ix->list, ix->n);
            if (hint)
                sk_config__err(L, it, 0, path, "unknown step \"%s\" (did you mean \"%s\"?)",
                               it->text, hint);
            else
                sk_config__err(L, it, 0, path, "unknown step \"%s\"", it->text);
            continue;
        }
        if (stamp[t] == i) {
            sk_config__err(L, it, 0, path, "step \"%s\" is listed twice", it->text);
            continue;
        }
        stamp[t] = i;
        aux->at[S->nneeds].node = it;
        sk_strlcpy(aux->at[S->nneeds].sub, sub, sizeof(aux->at[S->nneeds].sub));
        S->needs[S->nneeds++] = (size_t)t;
    }
}

typedef struct step_cycles {
    sk_config_ctx_t *L;
    const char *const *names;
    const step_aux_t *aux;
} step_cycles_t;

static void step_cycle_found(void *ctx, const size_t *path, size_t npath, size_t edge)
{
    step_cycles_t *c = ctx;
    const step_aux_t *from = &c->aux[path[npath - 1]];
    char text[400], where[400];
    cycle_text(c->names, path, npath, text, sizeof(text));
    sk_snprintf(where, sizeof(where), "%s.needs%s", from->prefix, from->at[edge].sub);
    sk_config__err(c->L, from->at[edge].node, 0, where, "steps form a cycle: %s", text);
}

/* steps: in file order, with needs resolved to indexes and checked for cycles. */
static void workflow_steps(jctx_t *j, sk_job_cfg_t *J, const sk_body_t *parent)
{
    sk_config_ctx_t *L = j->L;
    const sk_ynode_t *v = j->e[K_STEPS].val;
    char buf[64];
    if (v->kind != SK_YNODE_MAP) {
        jerr(j, K_STEPS, v, 0, NULL,
             "expected a mapping from step names to steps, like {extract: {python: x.py}, load: "
             "{python: y.py, needs: [extract]}}, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    if (v->npairs == 0) {
        jerr(j, K_STEPS, v, 0, NULL, "an empty workflow: give at least one step");
        return;
    }
    if (v->npairs > MAX_STEPS) {
        jerr(j, K_STEPS, v, 0, NULL, "too many steps: %zu (a workflow has at most %d)", v->npairs,
             MAX_STEPS);
        return;
    }
    size_t n = v->npairs;
    sk_step_cfg_t *S = sk_config__alloc(L->pool, n * sizeof(*S));
    step_aux_t *aux = sk_xcalloc(n, sizeof(*aux));
    const char **list = sk_xmalloc(n * sizeof(*list));
    size_t *stamp = sk_xmalloc(n * sizeof(*stamp));
    size_t **adj = sk_xmalloc(n * sizeof(*adj));
    size_t *nadj = sk_xmalloc(n * sizeof(*nadj));
    size_t env_budget = MAX_STEP_ENV;
    for (size_t i = 0; i < n; i++) {
        build_step(j, J, parent, &env_budget, v->pairs[i].key, v->pairs[i].val, &S[i], &aux[i]);
        list[i] = S[i].name;
        stamp[i] = SIZE_MAX;
    }
    names_t ix;
    names_init(&ix, list, n);
    for (size_t i = 0; i < n; i++) {
        if (aux[i].needs)
            resolve_needs(L, &S[i], &aux[i], i, &ix, stamp);
        bool no_needs =
            !aux[i].needs || (aux[i].needs->kind == SK_YNODE_SEQ && aux[i].needs->nitems == 0);
        if (S[i].when == SK_WHEN_FAILURE && no_needs) {
            char path[400];
            sk_snprintf(path, sizeof(path), "%s.when", aux[i].prefix);
            sk_config__err(L, aux[i].when, 0, path,
                           "a step with when: failure runs when a step it needs fails: list "
                           "those steps in needs");
        }
        adj[i] = S[i].needs;
        nadj[i] = S[i].nneeds;
    }
    step_cycles_t cyc = {.L = L, .names = list, .aux = aux};
    find_cycles(n, adj, nadj, step_cycle_found, &cyc);
    J->steps = S;
    J->nsteps = n;
    names_release(&ix);
    for (size_t i = 0; i < n; i++)
        free(aux[i].at);
    free(aux);
    free(list);
    free(stamp);
    free(adj);
    free(nadj);
}

/* -------------------------------------------------------------------------------------------- */
/* Jobs */

/*
 * Checks one job (or, when j->defaults_pass, the defaults mapping as if it
 * were a job) and fills *J. Returns false when it reported an error.
 */
static bool build_job(jctx_t *j, const sk_ynode_t *keynode, const sk_ynode_t *map,
                      const sk_ynode_t *defaults, sk_job_cfg_t *J)
{
    sk_config_ctx_t *L = j->L;
    size_t nerr = L->errs->n + L->errs->dropped;

    gather(j, map, defaults);

    J->name = sk_config__strdup(L->pool, j->name);
    J->line = keynode ? keynode->line : 0;
    J->col = keynode ? keynode->col : 0;
    J->tz = L->tz;
    J->kill_grace_ms = DEF_KILL_GRACE_MS;
    J->retry_delay_ms = DEF_RETRY_DELAY_MS;
    J->overlap = SK_OVERLAP_SKIP;
    J->catchup = SK_CATCHUP_LATEST;
    J->on_interrupt = SK_ON_INTERRUPT_RETRY;
    J->misfire_grace_ms = -1;
    J->keep_runs = DEF_KEEP_RUNS;
    J->max_output = DEF_MAX_OUTPUT;
    J->enabled = true;
    J->after_when = SK_WHEN_SUCCESS;
    bool workflow = j->e[K_STEPS].val != NULL;
    J->step_parallel = workflow ? DEF_STEP_PARALLEL : 0;

    if (j->e[K_TIMEZONE].val) {
        const char *t = scalar(j, K_TIMEZONE, "a zone name like Europe/Berlin");
        sk_err_t err;
        sk_err_clear(&err);
        if (t && sk_tz_cache_get(L->tzc, t, &J->tz, &err) < 0)
            jerr(j, K_TIMEZONE, j->e[K_TIMEZONE].val, 0, NULL, "%s", err.msg);
    }

    /* What starts it. */
    int t1, t2;
    int ntrig = count_group(j, trigger_keys, SK_ARRAY_LEN(trigger_keys), &t1, &t2);
    if (ntrig > 1) {
        jerr(j, t2, j->e[t2].key, 0, NULL,
             "%s and %s cannot be combined: give one of schedule, every or at (or none, for a "
             "job that only runs by hand)",
             job_keys[t1], job_keys[t2]);
    }
    /* Each given value is checked, combined or not: every error counts. */
    if (j->e[K_SCHEDULE].val)
        schedule(j, J);
    if (j->e[K_EVERY].val && duration(j, K_EVERY, &J->every_ms) && J->every_ms < 1000)
        jerr(j, K_EVERY, j->e[K_EVERY].val, 0, NULL, "every must be at least 1s");
    if (j->e[K_AT].val)
        instant(j, K_AT, J->tz, &J->at_ms);
    J->trigger = t1 == K_SCHEDULE ? SK_TRIGGER_CRON
                 : t1 == K_EVERY  ? SK_TRIGGER_EVERY
                 : t1 == K_AT     ? SK_TRIGGER_AT
                                  : SK_TRIGGER_NONE;
    bool every = J->trigger == SK_TRIGGER_EVERY || j->defaults_pass;
    if (j->e[K_JITTER].val && every && duration(j, K_JITTER, &J->jitter_ms) && J->every_ms > 0 &&
        J->jitter_ms >= J->every_ms) {
        char a[32], b[32];
        sk_duration_format(J->jitter_ms, a, sizeof(a));
        sk_duration_format(J->every_ms, b, sizeof(b));
        /* Said where the job wrote it: a default jitter can clash with one job's every. */
        if (j->e[K_JITTER].def && !j->e[K_EVERY].def)
            jerr(j, K_EVERY, j->e[K_EVERY].val, 0, NULL,
                 "every (%s) must be longer than the jitter from defaults (%s)", b, a);
        else
            jerr(j, K_JITTER, j->e[K_JITTER].val, 0, NULL,
                 "jitter (%s) must be shorter than every (%s)", a, b);
    }
    if (j->e[K_START].val && every)
        instant(j, K_START, J->tz, &J->start_ms);
    if (J->trigger != SK_TRIGGER_EVERY) {
        J->jitter_ms = 0;
        J->start_ms = 0;
        not_applicable(j, K_JITTER, "only applies to every:");
        not_applicable(j, K_START, "only applies to every:");
    }

    /* What it runs. A workflow's own body stays empty: the steps inherit its
     * venv, cwd and env from `shared`. */
    sk_body_t shared;
    memset(&shared, 0, sizeof(shared));
    sk_body_t *B = workflow ? &shared : &J->body;
    body(j, keynode, NULL, workflow, B);
    environment(j, J, B);

    /* How it runs. */
    int64_t n;
    int e;
    run_limits(j, &J->timeout_ms, &J->kill_grace_ms, &J->retries, &J->retry_delay_ms,
               &J->max_output);
    static const char *const overlaps[] = {
#define SK_X(en, s) s,
        SK_OVERLAPS(SK_X)
#undef SK_X
    };
    static const char *const catchups[] = {
#define SK_X(en, s) s,
        SK_CATCHUPS(SK_X)
#undef SK_X
    };
    if (j->e[K_OVERLAP].val && enumeration(j, K_OVERLAP, overlaps, SK_ARRAY_LEN(overlaps), &e))
        J->overlap = (sk_overlap_t)e;
    if (j->e[K_CATCHUP].val && enumeration(j, K_CATCHUP, catchups, SK_ARRAY_LEN(catchups), &e))
        J->catchup = (sk_catchup_t)e;
    static const char *const on_interrupts[] = {
#define SK_X(en, s) s,
        SK_ON_INTERRUPTS(SK_X)
#undef SK_X
    };
    if (j->e[K_ON_INTERRUPT].val &&
        enumeration(j, K_ON_INTERRUPT, on_interrupts, SK_ARRAY_LEN(on_interrupts), &e))
        J->on_interrupt = (sk_on_interrupt_t)e;
    if (j->e[K_MISFIRE_GRACE].val)
        duration(j, K_MISFIRE_GRACE, &J->misfire_grace_ms);
    if (j->e[K_KEEP_RUNS].val && integer(j, K_KEEP_RUNS, 0, MAX_KEEP_RUNS, &n))
        J->keep_runs = (int)n;
    if (j->e[K_KEEP_DAYS].val) {
        const sk_ynode_t *v = j->e[K_KEEP_DAYS].val;
        bool digits =
            v->kind == SK_YNODE_SCALAR && v->len > 0 && strspn(v->text, "0123456789") == v->len;
        if (digits && integer(j, K_KEEP_DAYS, 0, MAX_KEEP_DAYS, &n))
            J->keep_days_ms = n * 86400000LL;
        else if (!digits)
            duration(j, K_KEEP_DAYS, &J->keep_days_ms);
    }
    if (j->e[K_ENABLED].val)
        boolean(j, K_ENABLED, &J->enabled);
    if (j->e[K_MAX_PARALLEL].val && (workflow || j->defaults_pass) &&
        integer(j, K_MAX_PARALLEL, 1, MAX_STEPS, &n))
        J->step_parallel = (int)n;
    if (!workflow)
        not_applicable(j, K_MAX_PARALLEL, "only applies to workflows (jobs with steps:)");
    if (j->e[K_EXPECTED_DURATION].val)
        duration(j, K_EXPECTED_DURATION, &J->expected_duration_ms);
    if (j->e[K_NODES].val) {
        char path[300];
        sk_snprintf(path, sizeof(path), "%s.nodes", j->e[K_NODES].def ? "defaults" : j->prefix);
        sk_config__labels(L, j->e[K_NODES].val, path, j->e[K_NODES].def && !j->defaults_pass,
                          &J->nodes, &J->nnodes);
    }

    /* What it tells, takes and follows. */
    if (j->e[K_ALERT].val)
        J->alert = alert(j);
    if (j->e[K_PARAMS].val)
        params(j, J);
    if (j->e[K_AFTER].val)
        after(j, J);
    if (workflow)
        workflow_steps(j, J, &shared);

    digest_job(J);
    return L->errs->n + L->errs->dropped == nerr;
}

static bool job_name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > MAX_JOB_NAME)
        return false;
    /* The name is a folder under state_dir/logs and a CLI argument: no
     * leading '.' or '-', so no "..", no hidden folders, no option look-alikes. */
    if (s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* -------------------------------------------------------------------------------------------- */
/* Digest: FNV-1a, 64 bits, over length-prefixed fields in a fixed order. */

typedef struct {
    uint64_t h;
} fnv_t;

static void fnv_bytes(fnv_t *f, const void *p, size_t n)
{
    f->h = sk_fnv64(f->h, p, n);
}

static void fnv_i64(fnv_t *f, int64_t v)
{
    unsigned char b[8];
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (8 * i)); /* fixed byte order on every host */
    fnv_bytes(f, b, sizeof(b));
}

static void fnv_str(fnv_t *f, const char *s)
{
    if (!s) {
        fnv_i64(f, -1);
        return;
    }
    size_t n = strlen(s);
    fnv_i64(f, (int64_t)n);
    fnv_bytes(f, s, n);
}

static void fnv_strv(fnv_t *f, char *const *v)
{
    size_t n = sk_strv_len(v);
    fnv_i64(f, v ? (int64_t)n : -1);
    for (size_t i = 0; i < n; i++)
        fnv_str(f, v[i]);
}

/* A body; its first nsecret env values enter by key only. */
static void fnv_body(fnv_t *f, const sk_body_t *B, size_t nsecret)
{
    fnv_i64(f, B->kind);
    fnv_str(f, B->target);
    fnv_strv(f, B->run_argv);
    fnv_strv(f, B->args);
    fnv_str(f, B->venv);
    fnv_str(f, B->cwd);
    fnv_str(f, B->config_dir);
    fnv_i64(f, (int64_t)B->nenv);
    for (size_t i = 0; i < B->nenv; i++) {
        fnv_str(f, B->env[i].key);
        fnv_str(f, i < nsecret ? NULL : B->env[i].value);
    }
}

static void fnv_alert(fnv_t *f, const sk_alert_cfg_t *a)
{
    if (!a) {
        fnv_i64(f, -1);
        return;
    }
    fnv_i64(f, a->on);
    fnv_str(f, a->webhook);
    fnv_str(f, a->slack);
    fnv_strv(f, a->command);
    fnv_i64(f, a->has_email);
    fnv_str(f, a->email.smtp_url);
    fnv_str(f, a->email.from);
    fnv_strv(f, a->email.to);
    fnv_str(f, a->email.username);
    fnv_str(f, a->email.password_env);
    fnv_str(f, a->email.password_file);
}

/*
 * Everything that defines the job. Cron expressions enter in canonical form,
 * so spacing changes do not count. Values from env_file enter by key only:
 * the digest may be shown and must not help anyone guess a secret; the new
 * snapshot carries changed secrets to the next run anyway.
 */
static void digest_job(sk_job_cfg_t *J)
{
    fnv_t f = {SK_FNV64_INIT};
    char buf[256];
    fnv_str(&f, "sked-job-2");
    fnv_str(&f, J->name);
    fnv_i64(&f, J->trigger);
    fnv_i64(&f, (int64_t)J->ncron);
    for (size_t i = 0; i < J->ncron; i++) {
        sk_cron_format(&J->crons[i], buf, sizeof(buf));
        fnv_str(&f, buf);
    }
    fnv_i64(&f, J->reboot);
    fnv_i64(&f, J->every_ms);
    fnv_i64(&f, J->jitter_ms);
    fnv_i64(&f, J->start_ms);
    fnv_i64(&f, J->at_ms);
    fnv_str(&f, J->tz ? sk_tz_name(J->tz) : NULL);
    fnv_body(&f, &J->body, J->nsecret_env);
    fnv_str(&f, J->env_file);
    fnv_i64(&f, (int64_t)J->nsecret_env);
    fnv_i64(&f, J->timeout_ms);
    fnv_i64(&f, J->kill_grace_ms);
    fnv_i64(&f, J->retries);
    fnv_i64(&f, J->retry_delay_ms);
    fnv_i64(&f, J->overlap);
    fnv_i64(&f, J->catchup);
    fnv_i64(&f, J->misfire_grace_ms);
    fnv_i64(&f, J->keep_runs);
    fnv_i64(&f, J->keep_days_ms);
    fnv_i64(&f, J->max_output);
    fnv_i64(&f, J->enabled);
    fnv_i64(&f, (int64_t)J->nsteps);
    for (size_t i = 0; i < J->nsteps; i++) {
        const sk_step_cfg_t *S = &J->steps[i];
        fnv_str(&f, S->name);
        fnv_body(&f, &S->body, J->nsecret_env);
        fnv_i64(&f, (int64_t)S->nneeds);
        for (size_t k = 0; k < S->nneeds; k++)
            fnv_i64(&f, (int64_t)S->needs[k]);
        fnv_i64(&f, S->when);
        fnv_i64(&f, S->timeout_ms);
        fnv_i64(&f, S->kill_grace_ms);
        fnv_i64(&f, S->retries);
        fnv_i64(&f, S->retry_delay_ms);
        fnv_i64(&f, S->max_output);
        fnv_alert(&f, S->alert);
    }
    fnv_i64(&f, J->step_parallel);
    fnv_i64(&f, (int64_t)J->nparams);
    for (size_t i = 0; i < J->nparams; i++) {
        fnv_str(&f, J->params[i].key);
        fnv_str(&f, J->params[i].value);
    }
    fnv_i64(&f, (int64_t)J->nafter);
    for (size_t i = 0; i < J->nafter; i++)
        fnv_str(&f, J->after[i]);
    fnv_i64(&f, J->after_when);
    fnv_alert(&f, J->alert);
    fnv_i64(&f, J->expected_duration_ms);
    fnv_strv(&f, J->nodes);
    J->digest = f.h;
}

typedef struct job_cycles {
    sk_config_ctx_t *L;
    const char *const *names; /* the built jobs' */
    ref_at_t *const *at;      /* per built job: where each after: entry is written */
    size_t *const *orig;      /* per built job: edge -> index in its after: */
} job_cycles_t;

static void job_cycle_found(void *ctx, const size_t *path, size_t npath, size_t edge)
{
    job_cycles_t *c = ctx;
    size_t from = path[npath - 1];
    const ref_at_t *r = &c->at[from][c->orig[from][edge]];
    char text[400], where[400];
    cycle_text(c->names, path, npath, text, sizeof(text));
    sk_snprintf(where, sizeof(where), "jobs.%s.after%s", c->names[from], r->sub);
    sk_config__err(c->L, r->node, 0, where, "jobs form a cycle through after: %s", text);
}

/* after: between the jobs built: a cycle would start runs for ever. */
static void after_cycles(sk_config_ctx_t *L, const sk_config_t *c, ref_at_t *const *at)
{
    size_t n = c->njobs;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = c->jobs[i].nafter > 0;
    if (!any)
        return;
    const char **list = sk_xmalloc(n * sizeof(*list));
    for (size_t i = 0; i < n; i++)
        list[i] = c->jobs[i].name;
    names_t ix;
    names_init(&ix, list, n);
    size_t **adj = sk_xcalloc(n, sizeof(*adj)), **orig = sk_xcalloc(n, sizeof(*orig));
    size_t *nadj = sk_xcalloc(n, sizeof(*nadj));
    for (size_t i = 0; i < n; i++) {
        const sk_job_cfg_t *J = &c->jobs[i];
        adj[i] = sk_xmalloc((J->nafter ? J->nafter : 1) * sizeof(**adj));
        orig[i] = sk_xmalloc((J->nafter ? J->nafter : 1) * sizeof(**orig));
        for (size_t k = 0; k < J->nafter; k++) {
            long t = names_find(&ix, J->after[k]);
            if (t < 0)
                continue; /* a job with errors: reported already */
            adj[i][nadj[i]] = (size_t)t;
            orig[i][nadj[i]++] = k;
        }
    }
    job_cycles_t cyc = {.L = L, .names = list, .at = at, .orig = orig};
    find_cycles(n, adj, nadj, job_cycle_found, &cyc);
    for (size_t i = 0; i < n; i++) {
        free(adj[i]);
        free(orig[i]);
    }
    free(adj);
    free(orig);
    free(nadj);
    names_release(&ix);
    free(list);
}

void sk_config__load_jobs(sk_config_ctx_t *L, const sk_ynode_t *root, sk_config_t *c)
{
    char buf[64];
    const sk_ynode_t *defaults = sk_config__map_get(root, "defaults");
    if (defaults && defaults->kind != SK_YNODE_MAP) {
        sk_config__err(L, defaults, 0, "defaults", "expected a mapping of job settings, got %s",
                       sk_config__got(defaults, buf, sizeof(buf)));
        defaults = NULL;
    }
    if (defaults) {
        jctx_t j = {.L = L,
                    .name = "",
                    .prefix = "defaults",
                    .noun = "job",
                    .scope = F_DEF,
                    .defaults_pass = true};
        sk_job_cfg_t scratch;
        memset(&scratch, 0, sizeof(scratch));
        build_job(&j, NULL, defaults, NULL, &scratch);
    }

    const sk_ynode_t *jobs = sk_config__map_get(root, "jobs");
    if (!jobs)
        return;
    if (jobs->kind != SK_YNODE_MAP) {
        sk_config__err(
            L, jobs, 0, "jobs",
            "expected a mapping from job names to jobs (name: {schedule: ..., run: ...}), "
            "got %s",
            sk_config__got(jobs, buf, sizeof(buf)));
        return;
    }
    /* Every well-named job, built or not, is a name after: may use. */
    const char **list = sk_xmalloc((jobs->npairs ? jobs->npairs : 1) * sizeof(*list));
    size_t nlist = 0;
    for (size_t i = 0; i < jobs->npairs; i++) {
        if (job_name_ok(jobs->pairs[i].key->text))
            list[nlist++] = jobs->pairs[i].key->text;
    }
    names_t names;
    names_init(&names, list, nlist);
    ref_at_t **after_at = sk_xcalloc(jobs->npairs ? jobs->npairs : 1, sizeof(*after_at));

    c->jobs = sk_config__alloc(L->pool, (jobs->npairs ? jobs->npairs : 1) * sizeof(*c->jobs));
    for (size_t i = 0; i < jobs->npairs; i++) {
        const sk_ynode_t *k = jobs->pairs[i].key, *v = jobs->pairs[i].val;
        char path[300];
        sk_snprintf(path, sizeof(path), "jobs.%s", k->text);
        if (!job_name_ok(k->text)) {
            sk_config__err(L, k, 0, path,
                           "job name \"%s\" must be 1-%d letters, digits, '_', '.' or '-', not "
                           "starting with '.' or '-'",
                           k->text, MAX_JOB_NAME);
            continue;
        }
        static const sk_ynode_t empty = {.kind = SK_YNODE_MAP};
        if (sk_config__is_null(v)) {
            v = &empty; /* reported as "nothing to run" */
        } else if (v->kind != SK_YNODE_MAP) {
            sk_config__err(L, v, 0, path, "expected a mapping of job settings, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
            continue;
        }
        jctx_t j = {
            .L = L, .name = k->text, .prefix = path, .noun = "job", .scope = F_JOB, .jobs = &names};
        sk_job_cfg_t *J = &c->jobs[c->njobs];
        if (build_job(&j, k, v, defaults, J)) {
            after_at[c->njobs++] = j.after_at;
        } else {
            free(j.after_at);
            memset(J, 0, sizeof(*J));
        }
    }
    after_cycles(L, c, after_at);
    for (size_t i = 0; i < c->njobs; i++)
        free(after_at[i]);
    free(after_at);
    names_release(&names);
    free(list);
}
