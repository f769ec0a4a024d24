/*
 * What a job or a step runs, and with what environment: the body (python:,
 * module:, run: split into words without a shell, shell:) with its args,
 * venv and cwd; then env:, env_file: and secrets: merged into the body's
 * environment, defaults' under the job's, a variable set in two of them
 * refused, and the values output must mask. A step's environment is its
 * workflow's with the step's own env: over it. Exports
 * sk_config__job_body, sk_config__job_env and sk_config__job_step_env, and
 * sk_config__shell_syntax_at and sk_config__is_var_name to the module.
 */
#include "config_job.h"

/* -------------------------------------------------------------------------------------------- */
/* Bodies */

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

/*
 * A NULL-terminated vector of v[0..n) in the pool. shared: it comes from
 * defaults:, the same for every job that inherits it, so its strings and
 * the vector are stored once (sk_config__intern). program: v[0] is the
 * program of run:.
 */
static char **pool_strv(jctx_t *j, char *const *v, size_t n, bool shared, bool program)
{
    if (!shared) {
        /* The program is most often one of a few (/usr/bin/python3, a
         * script's interpreter): stored once; arguments vary, and an index
         * of 100,000 distinct ones would cost more than it saves. */
        char **out = sk_config__alloc(j->L->pool, (n + 1) * sizeof(*out));
        for (size_t i = 0; i < n; i++)
            out[i] = i == 0 && program ? (char *)sk_config__intern(j->L, v[0], strlen(v[0]) + 1)
                                       : sk_config__strdup(j->L->pool, v[i]);
        return out;
    }
    const char **tmp = sk_xcalloc(n + 1, sizeof(*tmp));
    for (size_t i = 0; i < n; i++)
        tmp[i] = sk_config__intern(j->L, v[i], strlen(v[i]) + 1);
    char **out = (char **)sk_config__intern(j->L, tmp, (n + 1) * sizeof(*tmp));
    free(tmp);
    return out;
}

/* A list of scalars (run:, args:) into a NULL-terminated vector in the pool. */
static char **scalar_list(jctx_t *j, int k, const sk_ynode_t *v, const char *what)
{
    bool ok = true;
    char buf[64];
    char **texts = sk_xcalloc(v->nitems + 1, sizeof(*texts));
    for (size_t i = 0; i < v->nitems; i++) {
        const sk_ynode_t *it = v->items[i];
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it)) {
            char sub[32];
            sk_snprintf(sub, sizeof(sub), "[%zu]", i);
            sk_config__job_err(j, k, it, 0, sub, "expected %s, got %s", what,
                               sk_config__got(it, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        texts[i] = it->text;
    }
    char **out = ok ? pool_strv(j, texts, v->nitems, j->e[k].def, k == K_RUN) : NULL;
    free(texts);
    return out;
}

static bool run_body(jctx_t *j, sk_body_t *B)
{
    const sk_ynode_t *v = j->e[K_RUN].val;
    char buf[64];
    if (v->kind == SK_YNODE_MAP) {
        sk_config__job_err(
            j, K_RUN, v, 0, NULL,
            "expected a command as a string or a list like [backup.sh, --full], got %s",
            sk_config__got(v, buf, sizeof(buf)));
        return false;
    }
    if (v->kind == SK_YNODE_SEQ) {
        if (v->nitems == 0) {
            sk_config__job_err(j, K_RUN, v, 0, NULL,
                               "an empty command: give the program and its arguments");
            return false;
        }
        B->run_argv = scalar_list(j, K_RUN, v, "a program or argument");
        return B->run_argv != NULL;
    }
    long at = sk_config__shell_syntax_at(v->text);
    if (at >= 0) {
        sk_config__job_err(
            j, K_RUN, v, sk_config__inner_col(v, (size_t)at), NULL,
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
        sk_config__job_err(j, K_RUN, v, col, NULL, "%s", err.msg);
        return false;
    }
    size_t n = sk_strv_len(words);
    if (n == 0) {
        sk_strv_free(words);
        sk_config__job_err(j, K_RUN, v, 0, NULL,
                           "an empty command: give the program and its arguments");
        return false;
    }
    B->run_argv = pool_strv(j, words, n, j->e[K_RUN].def, true);
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

static const int body_keys[] = {K_PYTHON, K_MODULE, K_RUN, K_SHELL};

void sk_config__job_body(jctx_t *j, const sk_ynode_t *keynode, const sk_body_t *parent,
                         bool workflow, sk_body_t *B)
{
    sk_config_ctx_t *L = j->L;
    int b1, b2;
    int nbody = sk_config__job_count_group(j, body_keys, SK_ARRAY_LEN(body_keys), &b1, &b2);
    B->config_dir = L->dir;
    if (workflow && nbody > 0) {
        sk_config__job_err(
            j, b1, j->e[b1].key, 0, NULL,
            "steps and %s cannot be combined: a workflow runs its steps (give %s to a step)",
            sk_config__job_keys[b1], sk_config__job_keys[b1]);
    } else if (nbody > 1) {
        sk_config__job_err(
            j, b2, j->e[b2].key, 0, NULL,
            "%s and %s cannot be combined: a %s runs one of python, module, run or shell",
            sk_config__job_keys[b1], sk_config__job_keys[b2], j->noun);
    } else if (nbody == 0 && !j->defaults_pass && !workflow) {
        sk_config__err(L, keynode, 0, j->prefix,
                       "%s \"%s\" has nothing to run: give one of python, module, run or shell",
                       j->noun, j->name);
    }
    if (j->e[K_PYTHON].val)
        B->target = sk_config__job_path(j, K_PYTHON, "python script", false);
    if (j->e[K_MODULE].val) {
        const char *t = sk_config__job_text(j, K_MODULE, "a module name like pkg.tool");
        if (t && !is_module_name(t))
            sk_config__job_err(j, K_MODULE, j->e[K_MODULE].val, 0, NULL,
                               "\"%s\" is not a Python module name (like pkg.tool)", t);
        else if (t)
            B->target = sk_config__strdup(L->pool, t);
    }
    if (j->e[K_RUN].val)
        run_body(j, B);
    if (j->e[K_SHELL].val) {
        const char *t = sk_config__job_text(j, K_SHELL, "a shell command as a string");
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
            sk_config__job_err(j, K_ARGS, v, 0, NULL, "expected a list like [--region, eu], got %s",
                               sk_config__got(v, buf, sizeof(buf)));
        else
            B->args = scalar_list(j, K_ARGS, v, "an argument");
    }
    if (workflow)
        sk_config__job_not_applicable(j, K_ARGS,
                                      "does not apply to a workflow: give args to its steps");
    else if (nbody == 1 && b1 == K_SHELL)
        sk_config__job_not_applicable(j, K_ARGS,
                                      "does not apply to shell: put the arguments in the command");
    if (j->e[K_VENV].val && (python || workflow || j->defaults_pass)) {
        char *venv = sk_config__job_path(j, K_VENV, "venv", true);
        if (venv) {
            char *py = sk_config__printf(L->pool, "%s/bin/python", venv);
            if (access(py, X_OK) < 0)
                sk_config__job_err(j, K_VENV, j->e[K_VENV].val, 0, NULL,
                                   "venv \"%s\" has no bin/python", j->e[K_VENV].val->text);
            else
                B->venv = venv;
        }
    } else if (parent && python) {
        B->venv = parent->venv;
    }
    if (nbody == 1 && !python && !workflow)
        sk_config__job_not_applicable(j, K_VENV,
                                      j->scope == F_STEP
                                          ? "only applies to python: and module: steps"
                                          : "only applies to python: and module: jobs");
    if (j->e[K_CWD].val)
        B->cwd = sk_config__job_path(j, K_CWD, "cwd", true);
    else if (parent)
        B->cwd = parent->cwd;
}

/* -------------------------------------------------------------------------------------------- */
/* Environment */

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
        sk_config__job_err(j, K_ENV, v, 0, NULL, "expected a mapping like {NAME: value}, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
        ok = false;
        goto out;
    }
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *key = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300];
        sk_snprintf(sub, sizeof(sub), ".%s", key->text);
        if (!sk_config__is_var_name(key->text)) {
            sk_config__job_err(
                j, K_ENV, key, 0, sub,
                "\"%s\" is not a valid variable name (letters, digits and _, not starting "
                "with a digit)",
                key->text);
            ok = false;
            continue;
        }
        if (strncmp(key->text, "SKED_", 5) == 0) {
            sk_config__job_err(j, K_ENV, key, 0, sub, "SKED_* variables are set by sked itself");
            ok = false;
            continue;
        }
        if (val->kind != SK_YNODE_SCALAR) {
            sk_config__job_err(j, K_ENV, val, 0, sub, "expected a value as a string, got %s",
                               sk_config__got(val, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        const char *t = sk_config__is_null(val) ? "" : val->text;
        if (from_def) /* the same for every job: stored once */
            kv_put(l, (char *)sk_config__intern(j->L, key->text, strlen(key->text) + 1),
                   (char *)sk_config__intern(j->L, t, strlen(t) + 1), key, true);
        else
            kv_put(l, sk_config__strdup(j->L->pool, key->text), sk_config__strdup(j->L->pool, t),
                   key, false);
    }
out:
    j->e[K_ENV].def = saved;
    return ok;
}

/* Reads and checks env_file: exists, private, well-formed. */
static bool env_file(jctx_t *j, sk_job_cfg_t *J, sk_kv_t **ret, size_t *ret_n)
{
    const sk_ynode_t *v = j->e[K_ENV_FILE].val;
    const char *t = sk_config__job_text(j, K_ENV_FILE, "a path");
    char *buf = NULL;
    size_t len = 0;
    bool ok = false;
    if (!t)
        return false;
    char *abs = sk_config__path_abs(j->L->pool, j->L->dir, t);
    char msg[512];
    if (!sk_config__secret_file_ok("env_file", t, abs, msg, sizeof(msg))) {
        sk_config__job_err(j, K_ENV_FILE, v, 0, NULL, "%s", msg);
        return false;
    }
    int r = sk_config__read_file(abs, SK_CONFIG_MAX_ENV_BYTES, &buf, &len);
    if (r < 0) {
        sk_config__job_err(j, K_ENV_FILE, v, 0, NULL, "env_file \"%s\": %s", t,
                           r == -EFBIG ? "larger than 1 MiB" : sk_strerror(r));
        goto out;
    }
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_config__env_parse(buf, len, j->L->pool, ret, ret_n, &err) < 0) {
        sk_config__job_err(j, K_ENV_FILE, v, 0, NULL, "env_file \"%s\": %s", t, err.msg);
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
        sk_config__job_err(j, K_SECRETS, v, 0, NULL,
                           "expected a mapping like {NAME: {file: PATH}}, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
        ok = false;
        goto out;
    }
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *key = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300], path[600];
        sk_snprintf(sub, sizeof(sub), ".%s", key->text);
        if (!sk_config__is_var_name(key->text)) {
            sk_config__job_err(
                j, K_SECRETS, key, 0, sub,
                "\"%s\" is not a valid variable name (letters, digits and _, not starting "
                "with a digit)",
                key->text);
            ok = false;
            continue;
        }
        if (strncmp(key->text, "SKED_", 5) == 0) {
            sk_config__job_err(j, K_SECRETS, key, 0, sub,
                               "SKED_* variables are set by sked itself");
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
        sk_config__job_err(j, k, at->at, 0, sub, "%s is also set in %s: set it in one place",
                           at->kv.key, where);
    } else {
        sk_config__job_err(j, other_k, other_at, 0, NULL,
                           "%s is also set in %s under defaults: set it in one place", at->kv.key,
                           sk_config__job_keys[k]);
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

bool sk_config__job_env(jctx_t *j, sk_job_cfg_t *J, sk_body_t *B)
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
                    sk_config__job_err(j, K_ENV_FILE, j->e[K_ENV_FILE].val, 0, NULL,
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
        sk_kv_t *env = sk_xcalloc(n ? n : 1, sizeof(*env));
        if (nsecret)
            memcpy(env, secret, nsecret * sizeof(*secret));
        for (size_t i = 0; i < sl.n; i++)
            env[nsecret + i] = sl.e[i].kv;
        bool shared = nsecret == 0 && sl.n == 0;
        for (size_t i = 0; i < l.n; i++) {
            env[nsecret + sl.n + i] = l.e[i].kv;
            shared = shared && l.e[i].def;
        }
        /* An env that is only defaults' env: (or none) is the same array for
         * every job: stored once. The rest are the job's own. */
        if (shared) {
            B->env = (sk_kv_t *)sk_config__intern(j->L, env, (n ? n : 1) * sizeof(*env));
        } else {
            B->env = sk_config__alloc(j->L->pool, n * sizeof(*env));
            memcpy(B->env, env, n * sizeof(*env));
        }
        free(env);
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

bool sk_config__job_step_env(jctx_t *s, const sk_body_t *parent, const sk_job_cfg_t *J,
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
        sk_config__job_err(
            s, K_ENV, s->e[K_ENV].val, 0, NULL,
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
                sk_config__job_err(
                    s, K_ENV, own.e[i].at, 0, sub,
                    "%s is also set in the job's env_file \"%s\": set it in one place",
                    own.e[i].kv.key, J->env_file);
            else
                sk_config__job_err(s, K_ENV, own.e[i].at, 0, sub,
                                   "%s is also set in the job's secrets: set it in one place",
                                   own.e[i].kv.key);
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
