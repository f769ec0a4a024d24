/*
 * The jobs of sked.yaml: checks every job key (DESIGN section 3), merges in
 * defaults:, reports each problem at its node, and fills sk_job_cfg_t with
 * its digest. The defaults: mapping is checked once as if it were a job, so
 * that its errors are reported once, at their place, not once per job.
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

/*
 * The job keys, also valid under defaults. alert, params, after, nodes and
 * expected_duration belong to features still to come (alerts, parameters,
 * job dependencies, several nodes, duration alerts): accepted (any value)
 * and ignored for now. steps (workflows) is rejected with a clear error
 * until the engine runs them.
 */
#define JOB_KEYS(X)                                                                                \
    X(K_SCHEDULE, "schedule")                                                                      \
    X(K_EVERY, "every")                                                                            \
    X(K_JITTER, "jitter")                                                                          \
    X(K_START, "start")                                                                            \
    X(K_AT, "at")                                                                                  \
    X(K_PYTHON, "python")                                                                          \
    X(K_MODULE, "module")                                                                          \
    X(K_RUN, "run")                                                                                \
    X(K_SHELL, "shell")                                                                            \
    X(K_ARGS, "args")                                                                              \
    X(K_VENV, "venv")                                                                              \
    X(K_CWD, "cwd")                                                                                \
    X(K_ENV, "env")                                                                                \
    X(K_ENV_FILE, "env_file")                                                                      \
    X(K_TIMEOUT, "timeout")                                                                        \
    X(K_KILL_GRACE, "kill_grace")                                                                  \
    X(K_RETRIES, "retries")                                                                        \
    X(K_RETRY_DELAY, "retry_delay")                                                                \
    X(K_OVERLAP, "overlap")                                                                        \
    X(K_CATCHUP, "catchup")                                                                        \
    X(K_MISFIRE_GRACE, "misfire_grace")                                                            \
    X(K_KEEP_RUNS, "keep_runs")                                                                    \
    X(K_KEEP_DAYS, "keep_days")                                                                    \
    X(K_MAX_OUTPUT, "max_output")                                                                  \
    X(K_ENABLED, "enabled")                                                                        \
    X(K_TIMEZONE, "timezone")                                                                      \
    X(K_STEPS, "steps")                                                                            \
    X(K_ALERT, "alert")                                                                            \
    X(K_PARAMS, "params")                                                                          \
    X(K_AFTER, "after")                                                                            \
    X(K_NODES, "nodes")                                                                            \
    X(K_EXPECTED_DURATION, "expected_duration")

enum {
#define SK_X(e, s) e,
    JOB_KEYS(SK_X)
#undef SK_X
        K_COUNT
};

static const char *const job_keys[K_COUNT] = {
#define SK_X(e, s) s,
    JOB_KEYS(SK_X)
#undef SK_X
};

/* One effective job key: written in the job, or inherited from defaults. */
typedef struct ent {
    const sk_ynode_t *key; /* NULL: not given */
    const sk_ynode_t *val; /* NULL: not given, or null (unset) */
    bool def;              /* from defaults: */
} ent_t;

typedef struct jctx {
    sk_config_ctx_t *L;
    const char *name;   /* the job's name; "" in the defaults pass */
    const char *prefix; /* "jobs.NAME" */
    bool defaults_pass;
    ent_t e[K_COUNT];
    const sk_ynode_t *env_def; /* defaults' env, merged under the job's */
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
    return job_key_index(name) >= 0;
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

/* One of names (n of them, listed in the message); the index in *ret. */
static bool enumeration(jctx_t *j, int k, const char *const *names, size_t n, int *ret)
{
    char list[200] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)sk_snprintf(list + used, sizeof(list) - SK_MIN(used, sizeof(list)), "%s%s",
                                    i ? (i + 1 == n ? " or " : ", ") : "", names[i]);
    char what[240];
    sk_snprintf(what, sizeof(what), "one of %s", list);
    const char *t = scalar(j, k, what);
    if (!t)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t, names[i]) == 0) {
            *ret = (int)i;
            return true;
        }
    }
    const char *hint = sk_config__closest(t, names, n);
    char buf[64];
    if (hint)
        jerr(j, k, j->e[k].val, 0, NULL, "%s is not %s (did you mean \"%s\"?)",
             sk_config__got(j->e[k].val, buf, sizeof(buf)), what, hint);
    else
        jerr(j, k, j->e[k].val, 0, NULL, "%s is not %s",
             sk_config__got(j->e[k].val, buf, sizeof(buf)), what);
    return false;
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

/* Where a `run:` string would need a shell: the offset of the first unquoted
 * operator or expansion, or -1. Follows the quoting of sk_split_words. */
static long shell_syntax_at(const char *s)
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
    long at = shell_syntax_at(v->text);
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

static bool env_name_ok(const char *s)
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
        if (!env_name_ok(key->text)) {
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
    size_t len;
    bool ok = false;
    if (!t)
        return false;
    char *abs = sk_config__path_abs(j->L->pool, j->L->dir, t);
    struct stat st;
    if (stat(abs, &st) < 0) {
        jerr(j, K_ENV_FILE, v, 0, NULL, "env_file \"%s\" %s%s", t,
             errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno),
             t[0] == '/' ? "" : " (relative paths start in the config file's folder)");
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        jerr(j, K_ENV_FILE, v, 0, NULL, "env_file \"%s\" is not a regular file", t);
        return false;
    }
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        jerr(j, K_ENV_FILE, v, 0, NULL,
             "env_file \"%s\" holds secrets but other users may read it (mode %04o): run "
             "chmod 600 on it",
             t, (unsigned)(st.st_mode & 07777));
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
    free(buf);
    return ok;
}

/* body.env: env_file's values first (nsecret_env of them), then env:'s. */
static bool environment(jctx_t *j, sk_job_cfg_t *J)
{
    kvlist_t l = {0};
    sk_kv_t *secret = NULL;
    size_t nsecret = 0;
    bool ok = true;

    if (j->e[K_ENV_FILE].val)
        ok = env_file(j, J, &secret, &nsecret) && ok;
    if (j->env_def)
        ok = env_map(j, j->env_def, true, &l) && ok;
    if (j->e[K_ENV].val && !(j->e[K_ENV].def && j->env_def == j->e[K_ENV].val))
        ok = env_map(j, j->e[K_ENV].val, j->e[K_ENV].def, &l) && ok;

    /*
     * A variable in both env_file and env: is a mistake waiting to happen:
     * say so where the job wrote it (a clash inside defaults was reported
     * by the defaults pass).
     */
    for (size_t i = 0; i < l.n && ok; i++) {
        for (size_t s = 0; s < nsecret; s++) {
            if (strcmp(secret[s].key, l.e[i].kv.key) != 0)
                continue;
            char sub[300];
            sk_snprintf(sub, sizeof(sub), ".%s", l.e[i].kv.key);
            if (!l.e[i].def) {
                bool saved = j->e[K_ENV].def;
                j->e[K_ENV].def = false;
                jerr(j, K_ENV, l.e[i].at, 0, sub,
                     "%s is also set in env_file \"%s\": set it in one place", l.e[i].kv.key,
                     J->env_file);
                j->e[K_ENV].def = saved;
            } else {
                jerr(j, K_ENV_FILE, j->e[K_ENV_FILE].val, 0, NULL,
                     "%s is also set in env: under defaults: set it in one place", l.e[i].kv.key);
            }
            ok = false;
        }
    }
    if (ok) {
        size_t n = nsecret + l.n;
        J->body.env = sk_config__alloc(j->L->pool, (n ? n : 1) * sizeof(*J->body.env));
        if (nsecret)
            memcpy(J->body.env, secret, nsecret * sizeof(*secret));
        for (size_t i = 0; i < l.n; i++)
            J->body.env[nsecret + i] = l.e[i].kv;
        J->body.nenv = n;
        J->nsecret_env = nsecret;
    }
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
            char path[300];
            sk_snprintf(path, sizeof(path), "%s.%s", j->prefix, key->text);
            bool top = sk_config__is_top_key(key->text);
            sk_config__unknown_key(j->L, key, path, job_keys, K_COUNT,
                                   top ? " (it belongs at the top level of the file)" : NULL);
            continue;
        }
        j->e[k].key = key;
        j->e[k].val = sk_config__is_null(map->pairs[i].val) ? NULL : map->pairs[i].val;
        own_trigger |= in_group(k, trigger_keys, SK_ARRAY_LEN(trigger_keys));
        own_body |= in_group(k, body_keys, SK_ARRAY_LEN(body_keys));
    }
    if (!defaults)
        return;
    for (size_t i = 0; i < defaults->npairs; i++) {
        int k = job_key_index(defaults->pairs[i].key->text);
        if (k < 0 || j->e[k].key)
            continue; /* unknown keys were reported by the defaults pass */
        if ((own_trigger && in_group(k, trigger_keys, SK_ARRAY_LEN(trigger_keys))) ||
            (own_body && in_group(k, body_keys, SK_ARRAY_LEN(body_keys))))
            continue;
        const sk_ynode_t *v = defaults->pairs[i].val;
        j->e[k].key = defaults->pairs[i].key;
        j->e[k].val = sk_config__is_null(v) ? NULL : v;
        j->e[k].def = true;
    }
    /* Defaults' env merges under the job's own. */
    for (size_t i = 0; i < defaults->npairs; i++) {
        if (strcmp(defaults->pairs[i].key->text, "env") == 0 &&
            !sk_config__is_null(defaults->pairs[i].val) &&
            !(j->e[K_ENV].key && !j->e[K_ENV].def && !j->e[K_ENV].val))
            j->env_def = defaults->pairs[i].val;
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

/*
 * Checks one job (or, when j->defaults_pass, the defaults mapping as if it
 * were a job) and fills *J. Returns false when it reported an error.
 */
static bool build_job(jctx_t *j, const sk_ynode_t *keynode, const sk_ynode_t *map,
                      const sk_ynode_t *defaults, sk_job_cfg_t *J)
{
    sk_config_ctx_t *L = j->L;
    size_t nerr = L->errs->n + L->errs->dropped;
    bool has_steps = false;

    gather(j, map, defaults);

    J->name = sk_config__strdup(L->pool, j->name);
    J->line = keynode ? keynode->line : 0;
    J->col = keynode ? keynode->col : 0;
    J->tz = L->tz;
    J->kill_grace_ms = DEF_KILL_GRACE_MS;
    J->retry_delay_ms = DEF_RETRY_DELAY_MS;
    J->overlap = SK_OVERLAP_SKIP;
    J->catchup = SK_CATCHUP_LATEST;
    J->misfire_grace_ms = -1;
    J->keep_runs = DEF_KEEP_RUNS;
    J->max_output = DEF_MAX_OUTPUT;
    J->enabled = true;
    J->body.config_dir = L->dir;

    if (j->e[K_STEPS].key && (j->e[K_STEPS].val || !j->e[K_STEPS].def)) {
        has_steps = true;
        jerr(j, K_STEPS, j->e[K_STEPS].key, 0, NULL, "workflows (steps) are not supported yet");
    }

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

    /* What it runs. */
    int b1, b2;
    int nbody = count_group(j, body_keys, SK_ARRAY_LEN(body_keys), &b1, &b2);
    if (nbody > 1) {
        jerr(j, b2, j->e[b2].key, 0, NULL,
             "%s and %s cannot be combined: a job runs one of python, module, run or shell",
             job_keys[b1], job_keys[b2]);
    } else if (nbody == 0 && !j->defaults_pass && !has_steps) {
        sk_config__err(L, keynode, 0, j->prefix,
                       "job \"%s\" has nothing to run: give one of python, module, run or shell",
                       j->name);
    }
    if (j->e[K_PYTHON].val)
        J->body.target = existing_path(j, K_PYTHON, "python script", false);
    if (j->e[K_MODULE].val) {
        const char *t = text(j, K_MODULE, "a module name like pkg.tool");
        if (t && !is_module_name(t))
            jerr(j, K_MODULE, j->e[K_MODULE].val, 0, NULL,
                 "\"%s\" is not a Python module name (like pkg.tool)", t);
        else if (t)
            J->body.target = sk_config__strdup(L->pool, t);
    }
    if (j->e[K_RUN].val)
        run_body(j, &J->body);
    if (j->e[K_SHELL].val) {
        const char *t = text(j, K_SHELL, "a shell command as a string");
        if (t)
            J->body.target = sk_config__strdup(L->pool, t);
    }
    J->body.kind = b1 == K_MODULE  ? SK_BODY_MODULE
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
            J->body.args = scalar_list(j, K_ARGS, v, "an argument");
    }
    if (nbody == 1 && b1 == K_SHELL)
        not_applicable(j, K_ARGS, "does not apply to shell: put the arguments in the command");
    if (j->e[K_VENV].val && (python || j->defaults_pass)) {
        char *venv = existing_path(j, K_VENV, "venv", true);
        if (venv) {
            char *py = sk_config__printf(L->pool, "%s/bin/python", venv);
            if (access(py, X_OK) < 0)
                jerr(j, K_VENV, j->e[K_VENV].val, 0, NULL, "venv \"%s\" has no bin/python",
                     j->e[K_VENV].val->text);
            else
                J->body.venv = venv;
        }
    }
    if (nbody == 1 && !python)
        not_applicable(j, K_VENV, "only applies to python: and module: jobs");
    if (j->e[K_CWD].val)
        J->body.cwd = existing_path(j, K_CWD, "cwd", true);
    environment(j, J);

    /* How it runs. */
    int64_t n;
    int e;
    if (j->e[K_TIMEOUT].val)
        duration(j, K_TIMEOUT, &J->timeout_ms);
    if (j->e[K_KILL_GRACE].val)
        duration(j, K_KILL_GRACE, &J->kill_grace_ms);
    if (j->e[K_RETRIES].val && integer(j, K_RETRIES, 0, MAX_RETRIES, &n))
        J->retries = (int)n;
    if (j->e[K_RETRY_DELAY].val)
        duration(j, K_RETRY_DELAY, &J->retry_delay_ms);
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
    if (j->e[K_MAX_OUTPUT].val) {
        const char *t = scalar(j, K_MAX_OUTPUT, "a size like 10MB");
        sk_err_t err;
        sk_err_clear(&err);
        if (t && sk_size_parse(t, &J->max_output, &err) < 0) {
            int col =
                err.col > 0 ? sk_config__inner_col(j->e[K_MAX_OUTPUT].val, (size_t)err.col - 1) : 0;
            jerr(j, K_MAX_OUTPUT, j->e[K_MAX_OUTPUT].val, col, NULL, "%s", err.msg);
        }
    }
    if (j->e[K_ENABLED].val)
        boolean(j, K_ENABLED, &J->enabled);

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
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        f->h ^= b[i];
        f->h *= 0x100000001b3ULL;
    }
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

/*
 * Everything that defines the job. Cron expressions enter in canonical form,
 * so spacing changes do not count. Values from env_file enter by key only:
 * the digest may be shown and must not help anyone guess a secret; the new
 * snapshot carries changed secrets to the next run anyway.
 */
static void digest_job(sk_job_cfg_t *J)
{
    fnv_t f = {0xcbf29ce484222325ULL};
    char buf[256];
    fnv_str(&f, "sked-job-1");
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
    fnv_i64(&f, J->body.kind);
    fnv_str(&f, J->body.target);
    fnv_strv(&f, J->body.run_argv);
    fnv_strv(&f, J->body.args);
    fnv_str(&f, J->body.venv);
    fnv_str(&f, J->body.cwd);
    fnv_str(&f, J->body.config_dir);
    fnv_i64(&f, (int64_t)J->body.nenv);
    for (size_t i = 0; i < J->body.nenv; i++) {
        fnv_str(&f, J->body.env[i].key);
        fnv_str(&f, i < J->nsecret_env ? NULL : J->body.env[i].value);
    }
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
    J->digest = f.h;
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
        jctx_t j = {.L = L, .name = "", .prefix = "defaults", .defaults_pass = true};
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
        jctx_t j = {.L = L, .name = k->text, .prefix = path};
        sk_job_cfg_t *J = &c->jobs[c->njobs];
        if (build_job(&j, k, v, defaults, J))
            c->njobs++;
        else
            memset(J, 0, sizeof(*J));
    }
}
