/*
 * The jobs of sked.yaml: checks every job key (DESIGN section 3), merges in
 * defaults:, reports each problem at its node, and fills sk_job_cfg_t. The
 * defaults: mapping is checked once as if it were a job, so that its errors
 * are reported once, at their place, not once per job. Holds the key table,
 * the typed values of keys (durations, numbers, enumerations, paths), the
 * triggers and run limits; what a job runs is config_job_body.c's, a
 * workflow's steps config_job_steps.c's, after: config_job_graph.c's.
 * Builds each job as soon as its pair is handed over (sk_config__jobs_*),
 * so that the loader need not hold the whole file's nodes at once.
 * Exports sk_config__jobs_*, sk_config__load_jobs and
 * sk_config__is_job_key to config_load.c, and to the other config_job*.c
 * what config_job.h declares.
 */
#include "config_job.h"

#include <sys/stat.h>

/* Defaults for what a job does not say (config.h documents each). */
#define DEF_KILL_GRACE_MS 10000
#define DEF_RETRY_DELAY_MS 10000
#define DEF_KEEP_RUNS 100
#define DEF_MAX_OUTPUT (10LL * 1024 * 1024)
#define MAX_RETRIES 100
#define MAX_KEEP_RUNS 1000000
#define MAX_KEEP_DAYS 36500
#define DEF_STEP_PARALLEL 4
#define MAX_PARAMS 100

const char *const sk_config__job_keys[K_COUNT] = {
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

void sk_config__job_err(jctx_t *j, int k, const sk_ynode_t *n, int col, const char *sub,
                        const char *fmt, ...)
{
    if (j->e[k].def && !j->defaults_pass)
        return;
    char path[300], msg[512];
    sk_snprintf(path, sizeof(path), "%s.%s%s", j->e[k].def ? "defaults" : j->prefix,
                sk_config__job_keys[k], sub ? sub : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_config__err(j->L, n, col, path, "%s", msg);
}

static int job_key_index(const char *name)
{
    for (int k = 0; k < K_COUNT; k++) {
        if (strcmp(sk_config__job_keys[k], name) == 0)
            return k;
    }
    return -1;
}

bool sk_config__is_job_key(const char *name)
{
    int k = job_key_index(name);
    return k >= 0 && (key_flags[k] & F_JOB);
}

/* -------------------------------------------------------------------------------------------- */
/* Values */

/* The value of key k as a scalar's text, or NULL after reporting what was expected. */
static const char *scalar(jctx_t *j, int k, const char *what)
{
    const sk_ynode_t *v = j->e[k].val;
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR) {
        sk_config__job_err(j, k, v, 0, NULL, "expected %s, got %s", what,
                           sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    return v->text;
}

bool sk_config__job_duration_at(jctx_t *j, int k, const sk_ynode_t *v, const char *sub,
                                int64_t *ret)
{
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR) {
        sk_config__job_err(j, k, v, 0, sub, "expected a duration like 30s, got %s",
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
        sk_config__job_err(j, k, v, col, sub, "%s", err.msg);
        return false;
    }
    return true;
}

static bool duration(jctx_t *j, int k, int64_t *ret)
{
    return sk_config__job_duration_at(j, k, j->e[k].val, NULL, ret);
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
        sk_config__job_err(j, k, v, 0, NULL, "expected a whole number, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
        return false;
    }
    if (r < 0 || n < lo || n > hi) {
        sk_config__job_err(j, k, v, 0, NULL, "%s is out of range %" PRId64 "-%" PRId64, t, lo, hi);
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
    sk_config__job_err(j, k, j->e[k].val, 0, NULL, "expected true or false, got %s",
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
        sk_config__job_err(j, k, v, 0, sub, "expected %s, got %s", what,
                           sk_config__got(v, buf, sizeof(buf)));
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
        sk_config__job_err(j, k, v, 0, sub, "%s is not %s (did you mean \"%s\"?)",
                           sk_config__got(v, buf, sizeof(buf)), what, hint);
    else
        sk_config__job_err(j, k, v, 0, sub, "%s is not %s", sk_config__got(v, buf, sizeof(buf)),
                           what);
    return false;
}

static bool enumeration(jctx_t *j, int k, const char *const *names, size_t n, int *ret)
{
    return enumeration_at(j, k, j->e[k].val, NULL, names, n, ret);
}

bool sk_config__job_when(jctx_t *j, int k, const sk_ynode_t *v, const char *sub, int *ret)
{
    return enumeration_at(j, k, v, sub, whens, SK_ARRAY_LEN(whens), ret);
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
        sk_config__job_err(j, k, j->e[k].val, col, NULL, "%s", err.msg);
        return false;
    }
    if (secs > INT64_MAX / 1000 || secs < INT64_MIN / 1000) {
        sk_config__job_err(j, k, j->e[k].val, 0, NULL, "time \"%s\" is out of range", t);
        return false;
    }
    *ret_ms = secs * 1000;
    return true;
}

const char *sk_config__job_text(jctx_t *j, int k, const char *what)
{
    const char *t = scalar(j, k, what);
    if (t && !t[0]) {
        sk_config__job_err(j, k, j->e[k].val, 0, NULL, "expected %s, got an empty string", what);
        return NULL;
    }
    return t;
}

char *sk_config__job_path(jctx_t *j, int k, const char *what, bool dir)
{
    const char *t = sk_config__job_text(j, k, "a path");
    if (!t)
        return NULL;
    char *abs = sk_config__path_abs(j->L->pool, j->L->dir, t);
    struct stat st;
    if (stat(abs, &st) < 0) {
        sk_config__job_err(j, k, j->e[k].val, 0, NULL, "%s \"%s\" %s%s", what, t,
                           errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno),
                           t[0] == '/' ? ""
                                       : " (relative paths start in the config file's folder)");
        return NULL;
    }
    if (dir && !S_ISDIR(st.st_mode)) {
        sk_config__job_err(j, k, j->e[k].val, 0, NULL, "%s \"%s\" is not a folder", what, t);
        return NULL;
    }
    if (!dir && S_ISDIR(st.st_mode)) {
        sk_config__job_err(j, k, j->e[k].val, 0, NULL, "%s \"%s\" is a folder, not a file", what,
                           t);
        return NULL;
    }
    return abs;
}

/* -------------------------------------------------------------------------------------------- */
/* Triggers */

static bool schedule(jctx_t *j, sk_job_cfg_t *J)
{
    const sk_ynode_t *v = j->e[K_SCHEDULE].val;
    const sk_ynode_t *one[1] = {v};
    const sk_ynode_t *const *items = one;
    size_t n = 1;
    bool ok = true;
    char buf[64];

    if (v->kind == SK_YNODE_MAP) {
        sk_config__job_err(
            j, K_SCHEDULE, v, 0, NULL,
            "expected a cron expression like \"*/5 * * * *\" or a list of them, got a mapping");
        return false;
    }
    if (v->kind == SK_YNODE_SEQ) {
        items = (const sk_ynode_t *const *)v->items;
        n = v->nitems;
        if (n == 0) {
            sk_config__job_err(
                j, K_SCHEDULE, v, 0, NULL,
                "an empty list: give at least one cron expression, or remove schedule: for a "
                "job that only runs by hand");
            return false;
        }
    }
    /* Built aside, then shared: many jobs have the same schedule, and H
     * spreads 100,000 jobs over at most a few thousand distinct ones. */
    sk_cron_t *crons = sk_xcalloc(n, sizeof(*crons));
    const char **texts = sk_xcalloc(n + 1, sizeof(*texts));
    size_t ncron = 0;
    for (size_t i = 0; i < n; i++) {
        const sk_ynode_t *it = items[i];
        char sub[32] = "";
        if (v->kind == SK_YNODE_SEQ)
            sk_snprintf(sub, sizeof(sub), "[%zu]", i);
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it)) {
            sk_config__job_err(j, K_SCHEDULE, it, 0, sub,
                               "expected a cron expression like \"*/5 * * * *\", "
                               "got %s",
                               sk_config__got(it, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        sk_cron_t c;
        memset(&c, 0, sizeof(c)); /* its padding too: copies are compared bytewise */
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_cron_parse(it->text, j->name, &c, &err) < 0) {
            int col = err.col > 0 ? sk_config__inner_col(it, (size_t)err.col - 1) : 0;
            sk_config__job_err(j, K_SCHEDULE, it, col, sub, "%s", err.msg);
            ok = false;
            continue;
        }
        if (c.flags & SK_CRON_REBOOT) {
            J->reboot = true; /* not a time: kept out of crons */
            continue;
        }
        memcpy(&crons[ncron], &c, sizeof(c));
        texts[ncron] = sk_config__intern(j->L, it->text, it->len + 1);
        ncron++;
    }
    if (ok) {
        J->crons = (sk_cron_t *)sk_config__intern(j->L, crons, ncron * sizeof(*crons));
        J->cron_texts = (char **)sk_config__intern(j->L, texts, (ncron + 1) * sizeof(*texts));
        J->ncron = ncron;
    }
    free(crons);
    free(texts);
    return ok;
}

/* -------------------------------------------------------------------------------------------- */
/* Keys */

static bool in_group(int k, const int *group, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (group[i] == k)
            return true;
    }
    return false;
}

static const int trigger_keys[] = {K_SCHEDULE, K_EVERY, K_AT};
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
                       sk_config__job_keys[k]);
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
            names[n++] = sk_config__job_keys[k];
    }
    char path[300];
    sk_snprintf(path, sizeof(path), "%s.%s", j->prefix, key->text);
    bool top = j->scope != F_STEP && sk_config__is_top_key(key->text);
    sk_config__unknown_key(j->L, key, path, names, n,
                           top ? " (it belongs at the top level of the file)" : NULL);
}

void sk_config__job_gather(jctx_t *j, const sk_ynode_t *map, const sk_ynode_t *defaults)
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

int sk_config__job_count_group(const jctx_t *j, const int *group, size_t n, int *first, int *second)
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
void sk_config__job_not_applicable(jctx_t *j, int k, const char *why)
{
    if (j->defaults_pass || j->e[k].def || !j->e[k].val)
        return;
    sk_config__job_err(j, k, j->e[k].key, 0, NULL, "%s %s", sk_config__job_keys[k], why);
}

/* -------------------------------------------------------------------------------------------- */
/* Limits, alert, params */

void sk_config__job_limits(jctx_t *j, int64_t *timeout_ms, int64_t *kill_grace_ms, int *retries,
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
            sk_config__job_err(j, K_MAX_OUTPUT, j->e[K_MAX_OUTPUT].val, col, NULL, "%s", err.msg);
        }
    }
}

sk_alert_cfg_t *sk_config__job_alert(jctx_t *j)
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
        sk_config__job_err(j, K_PARAMS, v, 0, NULL, "expected a mapping like {region: eu}, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    if (v->npairs > MAX_PARAMS) {
        sk_config__job_err(j, K_PARAMS, v, 0, NULL, "too many params: %zu (at most %d)", v->npairs,
                           MAX_PARAMS);
        return;
    }
    bool ok = true;
    sk_kv_t *kv = sk_config__alloc(j->L->pool, (v->npairs ? v->npairs : 1) * sizeof(*kv));
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *key = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300];
        sk_snprintf(sub, sizeof(sub), ".%s", key->text);
        if (!sk_config__is_var_name(key->text)) {
            sk_config__job_err(
                j, K_PARAMS, key, 0, sub,
                "\"%s\" is not a valid parameter name (letters, digits and _, not starting "
                "with a digit)",
                key->text);
            ok = false;
            continue;
        }
        if (val->kind != SK_YNODE_SCALAR) {
            sk_config__job_err(j, K_PARAMS, val, 0, sub,
                               "expected a default value as a string, got %s",
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

/* -------------------------------------------------------------------------------------------- */
/* Jobs */

/* What starts job J: schedule, every (with jitter and start) or at; each
 * given value is checked even when they are combined. */
static void triggers(jctx_t *j, sk_job_cfg_t *J)
{
    int t1, t2;
    int ntrig = sk_config__job_count_group(j, trigger_keys, SK_ARRAY_LEN(trigger_keys), &t1, &t2);
    if (ntrig > 1) {
        sk_config__job_err(
            j, t2, j->e[t2].key, 0, NULL,
            "%s and %s cannot be combined: give one of schedule, every or at (or none, for a "
            "job that only runs by hand)",
            sk_config__job_keys[t1], sk_config__job_keys[t2]);
    }
    /* Each given value is checked, combined or not: every error counts. */
    if (j->e[K_SCHEDULE].val)
        schedule(j, J);
    if (j->e[K_EVERY].val && duration(j, K_EVERY, &J->every_ms) && J->every_ms < 1000)
        sk_config__job_err(j, K_EVERY, j->e[K_EVERY].val, 0, NULL, "every must be at least 1s");
    if (j->e[K_AT].val)
        instant(j, K_AT, J->tz, &J->at_ms);
    if (j->e[K_ON].val)
        sk_config__job_events(j, J);
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
            sk_config__job_err(j, K_EVERY, j->e[K_EVERY].val, 0, NULL,
                               "every (%s) must be longer than the jitter from defaults (%s)", b,
                               a);
        else
            sk_config__job_err(j, K_JITTER, j->e[K_JITTER].val, 0, NULL,
                               "jitter (%s) must be shorter than every (%s)", a, b);
    }
    if (j->e[K_START].val && every)
        instant(j, K_START, J->tz, &J->start_ms);
    if (J->trigger != SK_TRIGGER_EVERY) {
        J->jitter_ms = 0;
        J->start_ms = 0;
        sk_config__job_not_applicable(j, K_JITTER, "only applies to every:");
        sk_config__job_not_applicable(j, K_START, "only applies to every:");
    }
}

/* How job J runs: limits, overlap, catch-up, on_interrupt, retention,
 * enabled, a workflow's max_parallel, expected duration and nodes. */
static void policies(jctx_t *j, sk_job_cfg_t *J, bool workflow)
{
    sk_config_ctx_t *L = j->L;
    int64_t n;
    int e;
    sk_config__job_limits(j, &J->timeout_ms, &J->kill_grace_ms, &J->retries, &J->retry_delay_ms,
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
        sk_config__job_not_applicable(j, K_MAX_PARALLEL,
                                      "only applies to workflows (jobs with steps:)");
    if (j->e[K_EXPECTED_DURATION].val)
        duration(j, K_EXPECTED_DURATION, &J->expected_duration_ms);
    if (j->e[K_NODES].val) {
        char path[300];
        sk_snprintf(path, sizeof(path), "%s.nodes", j->e[K_NODES].def ? "defaults" : j->prefix);
        size_t nl = 0;
        if (sk_config__labels(L, j->e[K_NODES].val, path, j->e[K_NODES].def && !j->defaults_pass,
                              &J->nodes, &nl))
            J->nnodes = (uint32_t)nl; /* at most SK_CONFIG_MAX_LABELS */
    }
}

/*
 * Checks one job (or, when j->defaults_pass, the defaults mapping as if it
 * were a job) and fills *J. Returns false when it reported an error.
 */
static bool build_job(jctx_t *j, const sk_ynode_t *keynode, const sk_ynode_t *map,
                      const sk_ynode_t *defaults, sk_job_cfg_t *J)
{
    sk_config_ctx_t *L = j->L;
    size_t nerr = L->errs->n + L->errs->dropped;

    sk_config__job_gather(j, map, defaults);

    if (!J->name) /* a job's slot has its name already */
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
            sk_config__job_err(j, K_TIMEZONE, j->e[K_TIMEZONE].val, 0, NULL, "%s", err.msg);
    }

    triggers(j, J);

    /* What it runs. A workflow's own body stays empty: the steps inherit its
     * venv, cwd and env from `shared`. */
    sk_body_t shared;
    memset(&shared, 0, sizeof(shared));
    sk_body_t *B = workflow ? &shared : &J->body;
    sk_config__job_body(j, keynode, NULL, workflow, B);
    sk_config__job_env(j, J, B);

    policies(j, J, workflow);

    /* What it tells, takes and follows. */
    if (j->e[K_ALERT].val)
        J->alert = sk_config__job_alert(j);
    if (j->e[K_PARAMS].val)
        params(j, J);
    if (j->e[K_AFTER].val)
        sk_config__job_after(j, J);
    if (workflow)
        sk_config__job_steps(j, J, &shared);
    if (J->webhook)
        sk_config__webhook_mask(j->L->pool, J);

    sk_config__job_digest(J);
    return L->errs->n + L->errs->dropped == nerr;
}

bool sk_config__job_name_ok(const char *s)
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

/*
 * The jobs of one load. Each pair of jobs: takes a slot in file order,
 * whether it builds or not (its name and place are set either way), so
 * that slots are c->jobs once every job built. Pairs come one by one,
 * from the YAML reader as it meets them (their nodes are freed once a job
 * is built) or from the tree; a job with after: waits for the end (it
 * names jobs further down), and one with secrets: keeps its nodes (the
 * secrets cache knows entries by node).
 */
struct sk_config_jobs {
    sk_config_ctx_t *L;
    sk_config_t *c;
    sk_errs_t *yaml_errs;       /* where the YAML reader's errors go: duplicate names */
    const sk_ynode_t *defaults; /* the first defaults: value, NULL when none */
    bool defaults_done;         /* defaults: checked (its pass ran) */
    sk_job_cfg_t *v;            /* the slots (malloc; the pool owns them at the end) */
    unsigned char *bad;         /* per slot: not a well-formed name (1), not built (2) */
    size_t n, cap;
    uint32_t *set; /* open addressing over the slots by name: slot + 1, 0 empty */
    size_t setcap; /* a power of two, at least twice n */
    struct deferred {
        size_t slot;
        const sk_ynode_t *k, *v;
    } * later;
    size_t nlater, caplater;
    bool owned; /* v belongs to the pool */
};

sk_config_jobs_t *sk_config__jobs_new(sk_config_ctx_t *L, sk_config_t *c, sk_errs_t *yaml_errs)
{
    sk_config_jobs_t *S = sk_xcalloc(1, sizeof(*S));
    S->L = L;
    S->c = c;
    S->yaml_errs = yaml_errs;
    return S;
}

void sk_config__jobs_free(sk_config_jobs_t *S)
{
    if (!S)
        return;
    if (!S->owned)
        free(S->v);
    free(S->bad);
    free(S->set);
    free(S->later);
    free(S);
}

void sk_config__jobs_defaults(sk_config_jobs_t *S, const sk_ynode_t *defaults)
{
    char buf[64];
    if (S->defaults_done)
        return;
    S->defaults_done = true;
    if (defaults && sk_config__is_null(defaults))
        defaults = NULL;
    if (defaults && defaults->kind != SK_YNODE_MAP) {
        sk_config__err(S->L, defaults, 0, "defaults", "expected a mapping of job settings, got %s",
                       sk_config__got(defaults, buf, sizeof(buf)));
        defaults = NULL;
    }
    S->defaults = defaults;
    if (!defaults)
        return;
    jctx_t j = {.L = S->L,
                .name = "",
                .prefix = "defaults",
                .noun = "job",
                .scope = F_DEF,
                .defaults_pass = true};
    sk_job_cfg_t scratch;
    memset(&scratch, 0, sizeof(scratch));
    build_job(&j, NULL, defaults, NULL, &scratch);
}

static size_t name_hash(const char *s)
{
    return (size_t)sk_fnv64(SK_FNV64_INIT, s, strlen(s));
}

/* The slot holding name, or SIZE_MAX. */
static size_t find_slot(const sk_config_jobs_t *S, const char *name)
{
    if (!S->setcap)
        return SIZE_MAX;
    for (size_t h = name_hash(name) & (S->setcap - 1);; h = (h + 1) & (S->setcap - 1)) {
        uint32_t e = S->set[h];
        if (!e)
            return SIZE_MAX;
        if (strcmp(S->v[e - 1].name, name) == 0)
            return e - 1;
    }
}

static void set_put(sk_config_jobs_t *S, size_t slot)
{
    if (2 * (S->n + 1) > S->setcap) {
        size_t cap = S->setcap ? S->setcap * 2 : 64;
        free(S->set);
        S->set = sk_xcalloc(cap, sizeof(*S->set));
        S->setcap = cap;
        for (size_t i = 0; i < S->n; i++)
            if (i != slot)
                set_put(S, i);
    }
    size_t h = name_hash(S->v[slot].name) & (S->setcap - 1);
    while (S->set[h])
        h = (h + 1) & (S->setcap - 1);
    S->set[h] = (uint32_t)(slot + 1);
}

static bool has_key(const sk_ynode_t *map, const char *key)
{
    for (size_t i = 0; map->kind == SK_YNODE_MAP && i < map->npairs; i++)
        if (strcmp(map->pairs[i].key->text, key) == 0)
            return true;
    return false;
}

/* Builds the job of pair (k, v) into slot i; names: every job's, for after:. */
static void build_slot(sk_config_jobs_t *S, size_t i, const sk_ynode_t *k, const sk_ynode_t *v,
                       const names_t *names, ref_at_t **after_at)
{
    char path[300];
    sk_snprintf(path, sizeof(path), "jobs.%s", k->text);
    jctx_t j = {
        .L = S->L, .name = k->text, .prefix = path, .noun = "job", .scope = F_JOB, .jobs = names};
    sk_job_cfg_t *J = &S->v[i];
    char *name = J->name;
    memset(J, 0, sizeof(*J));
    J->name = name;
    if (build_job(&j, k, v, S->defaults, J)) {
        if (after_at)
            *after_at = j.after_at;
        else
            free(j.after_at);
        return;
    }
    free(j.after_at);
    memset(J, 0, sizeof(*J));
    J->name = name;
    J->line = k->line;
    J->col = k->col;
    S->bad[i] |= 2;
}

sk_yaml_take_t sk_config__jobs_pair(sk_config_jobs_t *S, const sk_ynode_t *k, const sk_ynode_t *v)
{
    sk_config_ctx_t *L = S->L;
    char buf[64], path[300];
    sk_snprintf(path, sizeof(path), "jobs.%s", k->text);
    size_t first = find_slot(S, k->text);
    if (first != SIZE_MAX) {
        /* As, and where, the YAML reader says it of any other mapping: it
         * stays when a YAML error further down drops the jobs' errors. */
        sk_errs_add(S->yaml_errs, L->file, k->line, k->col, path, SK_ECONFIG,
                    "duplicate key \"%s\" (first given at line %d)", k->text, S->v[first].line);
        return SK_YAML_TAKEN;
    }
    if (S->n == S->cap) {
        S->cap = S->cap ? S->cap * 2 : 64;
        S->v = sk_xrealloc(S->v, S->cap * sizeof(*S->v));
        S->bad = sk_xrealloc(S->bad, S->cap);
    }
    size_t i = S->n;
    sk_job_cfg_t *J = &S->v[i];
    memset(J, 0, sizeof(*J));
    J->name = sk_config__strdup(L->pool, k->text);
    J->line = k->line;
    J->col = k->col;
    S->bad[i] = 0;
    set_put(S, i);
    S->n++;
    if (!sk_config__job_name_ok(k->text)) {
        sk_config__err(L, k, 0, path,
                       "job name \"%s\" must be 1-%d letters, digits, '_', '.' or '-', not "
                       "starting with '.' or '-'",
                       k->text, MAX_JOB_NAME);
        S->bad[i] = 3;
        return SK_YAML_TAKEN;
    }
    static const sk_ynode_t empty = {.kind = SK_YNODE_MAP};
    if (sk_config__is_null(v)) {
        v = &empty; /* reported as "nothing to run" */
    } else if (v->kind != SK_YNODE_MAP) {
        sk_config__err(L, v, 0, path, "expected a mapping of job settings, got %s",
                       sk_config__got(v, buf, sizeof(buf)));
        S->bad[i] = 2;
        return SK_YAML_TAKEN;
    }
    if (has_key(v, "after")) {
        if (S->nlater == S->caplater) {
            S->caplater = S->caplater ? S->caplater * 2 : 8;
            S->later = sk_xrealloc(S->later, S->caplater * sizeof(*S->later));
        }
        S->later[S->nlater++] = (struct deferred){i, k, v};
        return SK_YAML_TAKEN_KEEP;
    }
    sk_config__jobs_defaults(S, NULL); /* defaults: come first, or not at all */
    build_slot(S, i, k, v, NULL, NULL);
    return has_key(v, "secrets") ? SK_YAML_TAKEN_KEEP : SK_YAML_TAKEN;
}

void sk_config__load_jobs(sk_config_jobs_t *S, const sk_ynode_t *root, bool streamed)
{
    sk_config_ctx_t *L = S->L;
    sk_config_t *c = S->c;
    char buf[64];
    sk_config__jobs_defaults(S, sk_config__map_get(root, "defaults"));
    const sk_ynode_t *jobs = sk_config__map_get(root, "jobs");
    if (jobs && jobs->kind != SK_YNODE_MAP) {
        sk_config__err(
            L, jobs, 0, "jobs",
            "expected a mapping from job names to jobs (name: {schedule: ..., run: ...}), "
            "got %s",
            sk_config__got(jobs, buf, sizeof(buf)));
        jobs = NULL;
    }
    /* Read from the tree: every pair is here (the reader handed none over). */
    for (size_t i = 0; !streamed && jobs && i < jobs->npairs; i++)
        sk_config__jobs_pair(S, jobs->pairs[i].key, jobs->pairs[i].val);

    /* The jobs with after:, now that every name is known. Every well-named
     * job, built or not, is a name after: may use. */
    ref_at_t **after_at = NULL;
    if (S->nlater) {
        const char **list = sk_xmalloc(S->n * sizeof(*list));
        size_t nlist = 0;
        for (size_t i = 0; i < S->n; i++)
            if (!(S->bad[i] & 1))
                list[nlist++] = S->v[i].name;
        names_t names;
        sk_config__names_init(&names, list, nlist);
        after_at = sk_xcalloc(S->n, sizeof(*after_at));
        sk_config__jobs_defaults(S, NULL);
        for (size_t d = 0; d < S->nlater; d++) {
            size_t i = S->later[d].slot;
            build_slot(S, i, S->later[d].k, S->later[d].v, &names, &after_at[i]);
        }
        sk_config__names_release(&names);
        free(list);
    }
    c->jobs = S->v;
    c->njobs = S->n;
    if (S->v) {
        sk_config__pool_own(L->pool, S->v);
        S->owned = true;
    }
    sk_config__after_cycles(L, c, after_at);
    for (size_t i = 0; after_at && i < S->n; i++)
        free(after_at[i]);
    free(after_at);
}
