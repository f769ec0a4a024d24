/*
 * secrets: environment variables whose values come from outside sked.yaml
 * when the configuration loads: a file, a systemd credential
 * ($CREDENTIALS_DIRECTORY/NAME) or what a command prints. Checks each
 * entry, reads it (once per load, however many jobs inherit it from
 * defaults:), and refuses a value too short to be masked in output. Values
 * live in the snapshot's pool and are wiped when it is freed; no message
 * ever holds one. Exports sk_config__secret and sk_config__secrets_release.
 */
#include "config_int.h"

#include <sys/stat.h>

/* A secret's value is at most this long (a key file, a token). */
#define SECRET_MAX (64 * 1024)
#define DEF_COMMAND_TIMEOUT_MS 10000
#define MAX_COMMAND_TIMEOUT_MS (10 * 60 * 1000)

#define FORMS "{file: PATH}, {credential: NAME} or {command: [PROGRAM, ARGS...]}"

static const char *const source_keys[] = {"file", "credential", "command", "timeout"};

/* What one entry gave: its value, or NULL when it had errors. */
typedef struct cached {
    const sk_ynode_t *node;
    const char *value;
} cached_t;

struct sk_config__secrets {
    cached_t *v;
    size_t n, cap;
};

/* One entry being checked. */
typedef struct sctx {
    sk_config_ctx_t *L;
    const char *path; /* "jobs.NAME.secrets.VAR" */
    bool quiet;
    bool ok;
} sctx_t;

static void serr(sctx_t *s, const sk_ynode_t *n, int col, const char *sub, const char *fmt, ...)
    SK_PRINTF(5, 6);
static void serr(sctx_t *s, const sk_ynode_t *n, int col, const char *sub, const char *fmt, ...)
{
    s->ok = false;
    if (s->quiet)
        return;
    char path[400], msg[512];
    sk_snprintf(path, sizeof(path), "%s%s", s->path, sub);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_config__err(s->L, n, col, path, "%s", msg);
}

/* A non-empty scalar's text, or NULL after saying what was expected. */
static const char *stext(sctx_t *s, const sk_ynode_t *v, const char *sub, const char *what)
{
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR || sk_config__is_null(v)) {
        serr(s, v, 0, sub, "expected %s, got %s", what, sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    if (!v->text[0]) {
        serr(s, v, 0, sub, "expected %s, got an empty string", what);
        return NULL;
    }
    return v->text;
}

/* command: a list, or a string split into words like run: (no shell). New
 * memory (sk_strv_free), or NULL after an error. */
static char **argv_of(sctx_t *s, const sk_ynode_t *v)
{
    char buf[64];
    char **words = NULL;
    if (v->kind == SK_YNODE_SEQ) {
        words = sk_xcalloc(v->nitems + 1, sizeof(*words));
        for (size_t i = 0; i < v->nitems; i++) {
            const sk_ynode_t *it = v->items[i];
            if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it)) {
                char sub[48];
                sk_snprintf(sub, sizeof(sub), ".command[%zu]", i);
                serr(s, it, 0, sub, "expected a program or argument, got %s",
                     sk_config__got(it, buf, sizeof(buf)));
                sk_strv_free(words);
                return NULL;
            }
            words[i] = sk_xstrdup(it->text);
        }
    } else if (v->kind == SK_YNODE_SCALAR && !sk_config__is_null(v)) {
        long at = sk_config__shell_syntax_at(v->text);
        if (at >= 0) {
            serr(s, v, sk_config__inner_col(v, (size_t)at), ".command",
                 "'%c' would reach the program as a plain argument: command: uses no shell; "
                 "write [sh, -c, \"...\"] for pipes, redirections and $variables",
                 v->text[at]);
            return NULL;
        }
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_split_words(v->text, &words, &err) < 0) {
            int col = err.col > 0 ? sk_config__inner_col(v, (size_t)err.col - 1) : 0;
            serr(s, v, col, ".command", "%s", err.msg);
            return NULL;
        }
    } else {
        serr(s, v, 0, ".command", "expected a command as a list like [pass, show, db], got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    if (!words[0] || !words[0][0]) {
        serr(s, v, 0, ".command", "an empty command: give the program and its arguments");
        sk_strv_free(words);
        return NULL;
    }
    return words;
}

/* "[pass, show, db]" for messages: what was written, not what it printed. */
static void argv_text(char *const *argv, char *buf, size_t size)
{
    size_t len = (size_t)sk_snprintf(buf, size, "[");
    for (size_t i = 0; argv[i] && len < size; i++)
        len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", i ? ", " : "", argv[i]);
    if (len < size)
        sk_snprintf(buf + len, size - len, "]");
}

/*
 * The value read from a source (raw[0..len), taken and wiped): one trailing
 * line end is dropped ("echo pw > file", and what `pass show` prints); it
 * may not hold a NUL (an environment cannot carry one), be empty, or be
 * shorter than SK_SECRET_MIN (it could not be masked in output). Returns it
 * in the pool, or NULL after an error at v.
 */
static const char *finish(sctx_t *s, const sk_ynode_t *v, const char *from, char *raw, size_t len)
{
    const char *value = NULL;
    size_t n = len;
    if (n > 0 && raw[n - 1] == '\n')
        n--;
    if (n > 0 && raw[n - 1] == '\r')
        n--;
    if (memchr(raw, '\0', n))
        serr(s, v, 0, "", "the value from %s holds a NUL byte", from);
    else if (n == 0)
        serr(s, v, 0, "", "the value from %s is empty", from);
    else if (n < SK_SECRET_MIN)
        serr(s, v, 0, "",
             "the value from %s is %zu character%s long: a secret needs at least %d "
             "(masking a shorter one in output would hide that text everywhere); put a value "
             "that is not secret in env:",
             from, n, n == 1 ? "" : "s", SK_SECRET_MIN);
    else
        value = sk_config__secret_strndup(s->L->pool, raw, n);
    sk_secret_wipe(raw, len);
    free(raw);
    return value;
}

/* Reads a file of at most SECRET_MAX bytes; NULL after an error. */
static const char *read_source(sctx_t *s, const sk_ynode_t *v, const char *from, const char *abs)
{
    char *raw = NULL;
    size_t len = 0;
    int r = sk_config__read_file(abs, SECRET_MAX, &raw, &len);
    if (r < 0) {
        serr(s, v, 0, "", "%s: %s", from,
             r == -EFBIG    ? "larger than 64 KiB"
             : r == -EINVAL ? "not a regular file"
             : r == -ENOENT ? "does not exist"
                            : sk_strerror(r));
        return NULL;
    }
    return finish(s, v, from, raw, len);
}

static const char *from_file(sctx_t *s, const sk_ynode_t *v, const sk_ynode_t *f)
{
    const char *t = stext(s, f, ".file", "a path");
    if (!t)
        return NULL;
    if (s->L->flags & SK_CONFIG_SKIP_SECRETS)
        return "";
    char *abs = sk_config__path_abs(s->L->pool, s->L->dir, t);
    char msg[512], from[300];
    if (!sk_config__secret_file_ok("file", t, abs, msg, sizeof(msg))) {
        serr(s, f, 0, ".file", "%s", msg);
        return NULL;
    }
    sk_snprintf(from, sizeof(from), "file \"%s\"", t);
    return read_source(s, v, from, abs);
}

/* systemd's credentials: LoadCredential=NAME:PATH (or SetCredential=,
 * LoadCredentialEncrypted=) puts NAME in a private folder that the service
 * alone may read, named by $CREDENTIALS_DIRECTORY (systemd.exec(5)). The
 * folder keeps it private: its mode is not checked. */
static const char *from_credential(sctx_t *s, const sk_ynode_t *v, const sk_ynode_t *c)
{
    const char *t = stext(s, c, ".credential", "a credential's name");
    if (!t)
        return NULL;
    if (strchr(t, '/') || strcmp(t, ".") == 0 || strcmp(t, "..") == 0) {
        serr(s, c, 0, ".credential",
             "\"%s\" is not a credential's name (a file name in $CREDENTIALS_DIRECTORY, without "
             "'/'): for a path, use file:",
             t);
        return NULL;
    }
    if (s->L->flags & SK_CONFIG_SKIP_SECRETS)
        return "";
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (!dir || !dir[0]) {
        serr(s, c, 0, ".credential",
             "credential \"%s\": $CREDENTIALS_DIRECTORY is not set (systemd sets it for a "
             "service with LoadCredential=%s:PATH; elsewhere, use file:)",
             t, t);
        return NULL;
    }
    char abs[PATH_MAX], from[300];
    sk_snprintf(abs, sizeof(abs), "%s/%s", dir, t);
    sk_snprintf(from, sizeof(from), "credential \"%s\" ($CREDENTIALS_DIRECTORY/%s)", t, t);
    return read_source(s, v, from, abs);
}

static const char *from_command(sctx_t *s, const sk_ynode_t *v, const sk_ynode_t *c,
                                const sk_ynode_t *tmo)
{
    int64_t timeout = DEF_COMMAND_TIMEOUT_MS;
    if (tmo) {
        const char *t = stext(s, tmo, ".timeout", "a duration like 30s");
        sk_err_t err;
        sk_err_clear(&err);
        if (t && sk_duration_parse(t, &timeout, &err) < 0) {
            serr(s, tmo, 0, ".timeout", "%s", err.msg);
            t = NULL;
        } else if (t && (timeout < 1000 || timeout > MAX_COMMAND_TIMEOUT_MS)) {
            serr(s, tmo, 0, ".timeout", "%s is out of range 1s-10m", t);
            t = NULL;
        }
        if (!t)
            return NULL;
    }
    char **argv = argv_of(s, c);
    if (!argv)
        return NULL;
    if (s->L->flags & SK_CONFIG_SKIP_SECRETS) {
        sk_strv_free(argv);
        return "";
    }
    char *raw = NULL, from[300];
    size_t len = 0;
    sk_err_t err;
    sk_err_clear(&err);
    argv_text(argv, from, sizeof(from));
    const char *value = NULL;
    if (sk_capture_output(argv, s->L->dir, timeout, SECRET_MAX, &raw, &len, &err) < 0) {
        serr(s, v, 0, "", "command %s: %s (what it printed is not shown: run it yourself to see)",
             from, err.msg);
    } else {
        char what[320];
        sk_snprintf(what, sizeof(what), "command %s", from);
        value = finish(s, v, what, raw, len);
    }
    sk_strv_free(argv);
    return value;
}

static const char *read_entry(sctx_t *s, const sk_ynode_t *v)
{
    char buf[64];
    if (v->kind == SK_YNODE_SCALAR && !sk_config__is_null(v)) {
        /* Not echoed: it may be the secret itself. */
        serr(s, v, 0, "", "a secret's value never goes in sked.yaml: give " FORMS);
        return NULL;
    }
    if (v->kind != SK_YNODE_MAP) {
        serr(s, v, 0, "", "expected " FORMS ", got %s", sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    const sk_ynode_t *src[3] = {NULL, NULL, NULL}, *tmo = NULL;
    const sk_ynode_t *first = NULL;
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *k = v->pairs[i].key, *x = v->pairs[i].val;
        size_t ix = 0;
        while (ix < SK_ARRAY_LEN(source_keys) && strcmp(source_keys[ix], k->text) != 0)
            ix++;
        if (ix == SK_ARRAY_LEN(source_keys)) {
            s->ok = false;
            if (!s->quiet) {
                char path[400];
                sk_snprintf(path, sizeof(path), "%s.%s", s->path, k->text);
                sk_config__unknown_key(s->L, k, path, source_keys, SK_ARRAY_LEN(source_keys), NULL);
            }
            continue;
        }
        if (ix == 3) {
            tmo = x;
            continue;
        }
        if (first) {
            char sub[48];
            sk_snprintf(sub, sizeof(sub), ".%s", k->text);
            serr(s, k, 0, sub, "%s and %s cannot be combined: a secret comes from one place",
                 first->text, k->text);
            return NULL;
        }
        first = k;
        src[ix] = x;
    }
    if (!s->ok)
        return NULL;
    if (!first) {
        serr(s, v, 0, "", "give where the value comes from: " FORMS);
        return NULL;
    }
    if (tmo && !src[2]) {
        serr(s, tmo, 0, ".timeout", "timeout only applies to command:");
        return NULL;
    }
    if (src[0])
        return from_file(s, v, src[0]);
    if (src[1])
        return from_credential(s, v, src[1]);
    return from_command(s, v, src[2], tmo);
}

const char *sk_config__secret(sk_config_ctx_t *L, const sk_ynode_t *v, const char *path, bool quiet)
{
    struct sk_config__secrets *c = L->secrets;
    for (size_t i = 0; c && i < c->n; i++)
        if (c->v[i].node == v)
            return c->v[i].value;
    sctx_t s = {.L = L, .path = path, .quiet = quiet, .ok = true};
    const char *value = read_entry(&s, v);
    if (!s.ok)
        value = NULL;
    if (!c)
        c = L->secrets = sk_xcalloc(1, sizeof(*c));
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = sk_xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = (cached_t){.node = v, .value = value};
    return value;
}

void sk_config__secrets_release(sk_config_ctx_t *L)
{
    if (!L->secrets)
        return;
    free(L->secrets->v);
    free(L->secrets);
    L->secrets = NULL;
}
