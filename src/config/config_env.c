/*
 * env_file parsing: the KEY=VALUE files that hold a job's secrets outside
 * sked.yaml, in the dotenv dialect most tools share (comments, optional
 * "export ", optional quotes). Error messages name the line but never echo
 * its text, since the text is a secret; every value is one, so a value too
 * short to be masked in output is refused. Also the check every file of
 * secrets (env_file, an SMTP password_file, secrets: files) passes: private
 * to its owner.
 */
#include "config_int.h"

#include <sys/stat.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool is_key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
    return is_key_start(c) || (c >= '0' && c <= '9');
}

static void wipe_free(char *p, size_t n)
{
    sk_secret_wipe(p, n);
    free(p);
}

/* Appends or replaces key in the growing list. */
static void put(sk_pool_t *pool, sk_kv_t **kv, size_t *n, size_t *cap, const char *key, size_t klen,
                const char *val, size_t vlen)
{
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*kv)[i].key) == klen && memcmp((*kv)[i].key, key, klen) == 0) {
            (*kv)[i].value = sk_config__secret_strndup(pool, val, vlen);
            return;
        }
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *kv = sk_xrealloc(*kv, *cap * sizeof(**kv));
    }
    (*kv)[*n].key = sk_config__strndup(pool, key, klen);
    (*kv)[*n].value = sk_config__secret_strndup(pool, val, vlen);
    (*n)++;
}

/* A value that is not empty must be long enough to be masked. */
static int check_len(const char *key, size_t klen, size_t vlen, int lineno, sk_err_t *err)
{
    if (vlen == 0 || vlen >= SK_SECRET_MIN)
        return 0;
    return sk_err_set(err, SK_EPARSE,
                      "line %d: the value of %.*s is %zu character%s long: a secret needs at "
                      "least %d (masking a shorter one in output would hide that text "
                      "everywhere); put a value that is not secret in env:",
                      lineno, (int)klen, key, vlen, vlen == 1 ? "" : "s", SK_SECRET_MIN);
}

/* After a closing quote only blanks or a comment may follow. */
static bool rest_is_empty(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p == end || *p == '#';
}

int sk_config__env_parse(const char *text, size_t len, sk_pool_t *pool, sk_kv_t **ret,
                         size_t *ret_n, sk_err_t *err)
{
    sk_kv_t *kv = NULL;
    size_t n = 0, cap = 0;
    char *val = NULL; /* the unquoted value being built */
    size_t val_cap = 0;
    int r = 0;
    const char *p = text, *tend = text + len;
    int lineno = 0;

    while (p < tend) {
        lineno++;
        const char *eol = memchr(p, '\n', (size_t)(tend - p));
        const char *end = eol ? eol : tend;
        const char *q = p;
        p = eol ? eol + 1 : tend;

        while (q < end && is_blank(*q))
            q++;
        if (q == end || *q == '#')
            continue;
        if ((size_t)(end - q) > 7 && memcmp(q, "export", 6) == 0 && is_blank(q[6])) {
            q += 7;
            while (q < end && is_blank(*q))
                q++;
        }
        const char *key = q;
        if (q == end || !is_key_start(*q)) {
            r = sk_err_set(err, SK_EPARSE,
                           "line %d: expected KEY=VALUE with KEY made of letters, digits and _",
                           lineno);
            goto fail;
        }
        while (q < end && is_key_char(*q))
            q++;
        size_t klen = (size_t)(q - key);
        while (q < end && is_blank(*q))
            q++;
        if (q == end || *q != '=') {
            r = sk_err_set(err, SK_EPARSE, "line %d: expected KEY=VALUE", lineno);
            goto fail;
        }
        q++;
        while (q < end && is_blank(*q))
            q++;

        if (q < end && (*q == '\'' || *q == '"')) {
            char quote = *q++;
            size_t cap_v = (size_t)(end - q) + 1, vlen = 0;
            wipe_free(val, val_cap);
            val = sk_xmalloc(cap_v);
            val_cap = cap_v;
            bool closed = false;
            while (q < end) {
                char c = *q++;
                if (c == quote) {
                    closed = true;
                    break;
                }
                if (quote == '"' && c == '\\' && q < end) {
                    char e = *q++;
                    c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
                    if (e != 'n' && e != 't' && e != '"' && e != '\\' && e != '$')
                        val[vlen++] = '\\';
                }
                val[vlen++] = c;
            }
            if (!closed) {
                r = sk_err_set(err, SK_EPARSE, "line %d: the value's %s quote is not closed",
                               lineno, quote == '"' ? "double" : "single");
                goto fail;
            }
            if (!rest_is_empty(q, end)) {
                r = sk_err_set(err, SK_EPARSE, "line %d: unexpected text after the quoted value",
                               lineno);
                goto fail;
            }
            if (memchr(val, '\0', vlen)) {
                r = sk_err_set(err, SK_EPARSE, "line %d: the value contains a NUL byte", lineno);
                goto fail;
            }
            if ((r = check_len(key, klen, vlen, lineno, err)) < 0)
                goto fail;
            put(pool, &kv, &n, &cap, key, klen, val, vlen);
        } else {
            const char *vend = end;
            while (vend > q && is_blank(vend[-1]))
                vend--;
            if (memchr(q, '\0', (size_t)(vend - q))) {
                r = sk_err_set(err, SK_EPARSE, "line %d: the value contains a NUL byte", lineno);
                goto fail;
            }
            if ((r = check_len(key, klen, (size_t)(vend - q), lineno, err)) < 0)
                goto fail;
            put(pool, &kv, &n, &cap, key, klen, q, (size_t)(vend - q));
        }
    }

    sk_kv_t *out = sk_config__alloc(pool, (n ? n : 1) * sizeof(*out));
    if (n)
        memcpy(out, kv, n * sizeof(*out));
    free(kv);
    wipe_free(val, val_cap);
    *ret = out;
    *ret_n = n;
    return 0;
fail:
    free(kv);
    wipe_free(val, val_cap);
    return r;
}

bool sk_config__secret_file_ok(const char *what, const char *text, const char *abs, char *msg,
                               size_t size)
{
    struct stat st;
    if (stat(abs, &st) < 0) {
        sk_snprintf(msg, size, "%s \"%s\" %s%s", what, text,
                    errno == ENOENT || errno == ENOTDIR ? "does not exist" : strerror(errno),
                    text[0] == '/' ? "" : " (relative paths start in the config file's folder)");
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        sk_snprintf(msg, size, "%s \"%s\" is not a regular file", what, text);
        return false;
    }
    /* Like ssh with its keys: a secret others may read is no longer one. */
    if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
        sk_snprintf(msg, size,
                    "%s \"%s\" holds secrets but other users may read it (mode %04o): run "
                    "chmod 600 on it",
                    what, text, (unsigned)(st.st_mode & 07777));
        return false;
    }
    return true;
}
