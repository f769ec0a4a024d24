/*
 * on: {webhook: {secret_file: PATH}}: the settings of a job's webhook
 * (POST /hooks/NAME, docs/api.md). The secret file is checked like an
 * env_file (it exists, is a regular file, and neither group nor others may
 * read or write it) and read at each load, so a reload picks up a new
 * secret. Its value lives in the snapshot's pool, wiped when the snapshot
 * is freed, and is masked in the job's output; no message ever holds it.
 * Exports sk_config__job_webhook and sk_config__webhook_mask.
 */
#include "config_job.h"

/* The settings a webhook knows. */
static const char *const hook_keys[] = {"secret_file"};

/* An error about node n under on(sub).webhook(.tail), reported once (not
 * again for each job that inherits it from defaults:). */
static void herr(jctx_t *j, const sk_ynode_t *n, const char *sub, const char *tail, const char *fmt,
                 ...) SK_PRINTF(5, 6);
static void herr(jctx_t *j, const sk_ynode_t *n, const char *sub, const char *tail, const char *fmt,
                 ...)
{
    if (j->e[K_ON].def && !j->defaults_pass)
        return;
    char path[400], msg[600];
    sk_snprintf(path, sizeof(path), "%s.on%s.webhook%s", j->e[K_ON].def ? "defaults" : j->prefix,
                sub ? sub : "", tail);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_config__err(j->L, n, 0, path, "%s", msg);
}

/* Reads the secret at abs (checked already): its value in the pool, or
 * NULL after an error at v. */
static char *read_secret(jctx_t *j, const sk_ynode_t *v, const char *sub, const char *text,
                         const char *abs, size_t *ret_len)
{
    char *raw = NULL;
    size_t len = 0;
    int r = sk_config__read_file(abs, 64 * 1024, &raw, &len);
    if (r < 0) {
        herr(j, v, sub, ".secret_file", "secret_file \"%s\": %s", text,
             r == -EFBIG ? "larger than 64 KiB" : sk_strerror(r));
        return NULL;
    }
    size_t n = len;
    if (n > 0 && raw[n - 1] == '\n')
        n--;
    if (n > 0 && raw[n - 1] == '\r')
        n--;
    char *value = NULL;
    if (memchr(raw, '\0', n))
        herr(j, v, sub, ".secret_file", "secret_file \"%s\" holds a NUL byte", text);
    else if (n < SK_CONFIG_TOKEN_MIN)
        herr(j, v, sub, ".secret_file",
             "the secret in \"%s\" is %zu character%s long: a webhook's secret needs at least "
             "%d (one signed delivery lets anyone try short ones offline); make one with "
             "`openssl rand -hex 32`",
             text, n, n == 1 ? "" : "s", SK_CONFIG_TOKEN_MIN);
    else
        value = sk_config__secret_strndup(j->L->pool, raw, n);
    sk_secret_wipe(raw, len);
    free(raw);
    *ret_len = n;
    return value;
}

sk_webhook_cfg_t *sk_config__job_webhook(jctx_t *j, const sk_ynode_t *name, const sk_ynode_t *opts,
                                         const char *sub)
{
    char buf[64];
    if (!opts || opts->kind != SK_YNODE_MAP) {
        herr(j, opts ? opts : name, sub, "",
             "expected its settings, like {webhook: {secret_file: deploy.secret}}, got %s",
             opts ? sk_config__got(opts, buf, sizeof(buf)) : "nothing");
        return NULL;
    }
    bool ok = true;
    const sk_ynode_t *file = NULL, *file_key = NULL;
    for (size_t i = 0; i < opts->npairs; i++) {
        const sk_ynode_t *k = opts->pairs[i].key;
        if (strcmp(k->text, "secret_file") == 0) {
            file = opts->pairs[i].val;
            file_key = k;
            continue;
        }
        ok = false;
        if (!(j->e[K_ON].def && !j->defaults_pass)) {
            char path[400];
            sk_snprintf(path, sizeof(path), "%s.on%s.webhook.%s",
                        j->e[K_ON].def ? "defaults" : j->prefix, sub ? sub : "", k->text);
            sk_config__unknown_key(j->L, k, path, hook_keys, SK_ARRAY_LEN(hook_keys), NULL);
        }
    }
    if (!file_key) {
        herr(j, opts, sub, "",
             "give secret_file: the file holding the secret its senders sign with (HMAC-SHA256)");
        return NULL;
    }
    if (file->kind != SK_YNODE_SCALAR || sk_config__is_null(file) || !file->text[0]) {
        herr(j, file, sub, ".secret_file", "expected a path, got %s",
             sk_config__got(file, buf, sizeof(buf)));
        return NULL;
    }
    sk_webhook_cfg_t *W = sk_config__alloc(j->L->pool, sizeof(*W));
    W->secret_file = sk_config__path_abs(j->L->pool, j->L->dir, file->text);
    char msg[512];
    if (!sk_config__secret_file_ok("secret_file", file->text, W->secret_file, msg, sizeof(msg))) {
        herr(j, file, sub, ".secret_file", "%s", msg);
        return NULL;
    }
    if (!ok)
        return NULL;
    if (j->L->flags & SK_CONFIG_SKIP_SECRETS) {
        W->secret = sk_config__strdup(j->L->pool, "");
        return W;
    }
    W->secret = read_secret(j, file, sub, file->text, W->secret_file, &W->secret_len);
    return W->secret ? W : NULL;
}

/* B->masked with secret added (a copy in pool). */
static void mask_one(sk_pool_t *pool, const char *secret, sk_body_t *B)
{
    size_t n = 0;
    while (B->masked && B->masked[n])
        n++;
    char **out = sk_config__alloc(pool, (n + 2) * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = B->masked[i];
    out[n] = (char *)secret;
    B->masked = out;
}

void sk_config__webhook_mask(sk_pool_t *pool, sk_job_cfg_t *J)
{
    const char *secret = J->webhook->secret;
    if (!secret || !secret[0])
        return;
    if (!J->nsteps)
        mask_one(pool, secret, &J->body);
    for (size_t i = 0; i < J->nsteps; i++)
        mask_one(pool, secret, &J->steps[i].body);
}
