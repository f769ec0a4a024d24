/*
 * Webhooks: POST /hooks/NAME starts job NAME when the job has on: webhook
 * and the request's signature header (X-Sked-Signature-256, or GitHub's
 * X-Hub-Signature-256) is the HMAC-SHA256 of its raw body with the job's
 * secret (docs/api.md, "Webhooks"). No API token is needed: the signature
 * is the authentication. The HTTP server has applied its TCP rules (Host,
 * no page of another origin) and the body cap (SK_HTTP_MAX_HOOK_BODY).
 *
 * On the connection's thread, in order: the loop is asked for the job's
 * secret (a copy, wiped after use); the signature is checked here, so a
 * flood of bad deliveries costs the loop nothing but a look-up; the body is
 * written to a file under STATE_DIR/hooks and, when it is a JSON object,
 * its members become candidate params; then the loop fires the run
 * (sk_daemon__fire_event_with: the overlap policy applies, the file becomes
 * the run's $SKED_EVENT_FILE). Exports sk_api_hook and sk_api_hooks_sweep.
 */
#include "daemon_api.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

/* A delivery id (X-Sked-Delivery, X-GitHub-Delivery) is kept in the run's
 * event ("webhook: ID") when it is at most this long and printable. */
#define DELIVERY_MAX 100

/* One hook request, shared with the loop through sk_api_call. */
typedef struct hook {
    char *name;
    /* lookup: out */
    char *secret;
    size_t secret_len;
    /* fire: in */
    char *event;   /* "webhook" or "webhook: DELIVERY" */
    json_t *given; /* the body's members as text, or NULL (not a JSON object) */
    char *payload; /* the body's file, taken by the fire */
    /* both: out */
    int status; /* 0: fine */
    char msg[300];
    int64_t run_id;
    bool skipped;
} hook_t;

static void hook_free(void *arg)
{
    hook_t *h = arg;
    if (h->secret)
        sk_secret_wipe(h->secret, h->secret_len);
    free(h->secret);
    free(h->name);
    free(h->event);
    json_decref(h->given);
    if (h->payload)
        unlink(h->payload); /* not taken: the run was never recorded */
    free(h->payload);
    free(h);
}

static void hook_fail(hook_t *h, int status, const char *fmt, ...) SK_PRINTF(3, 4);
static void hook_fail(hook_t *h, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->msg, sizeof(h->msg), fmt, ap);
    va_end(ap);
    h->status = status;
}

/* The job whose webhook h names, or NULL after a 404. The same answer for
 * no job and a job without a webhook: a caller without the secret learns
 * nothing about the jobs. Loop thread. */
static sk_jobrt_t *hook_job(sk_daemon_t *d, hook_t *h)
{
    sk_jobrt_t *j = sk_daemon__job(d, h->name);
    if (!j || !j->cfg || !(j->cfg->on & SK_ON_WEBHOOK) || !j->cfg->webhook) {
        hook_fail(h, 404, "no webhook named \"%.64s\" (a job with on: webhook has one)", h->name);
        return NULL;
    }
    return j;
}

static void loop_lookup(sk_daemon_t *d, void *arg)
{
    hook_t *h = arg;
    sk_jobrt_t *j = hook_job(d, h);
    if (!j)
        return;
    const sk_webhook_cfg_t *w = j->cfg->webhook;
    h->secret = sk_xmalloc(w->secret_len + 1);
    memcpy(h->secret, w->secret, w->secret_len);
    h->secret[w->secret_len] = '\0';
    h->secret_len = w->secret_len;
}

/* The members of h->given that job declares in params:, as JSON object
 * text (new), or NULL when none. */
static char *declared_params(const sk_job_cfg_t *cfg, json_t *given)
{
    if (!given || !cfg->nparams)
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i < cfg->nparams; i++) {
        json_t *v = json_object_get(given, cfg->params[i].key);
        if (v)
            json_object_set(o, cfg->params[i].key, v);
    }
    char *text = json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return text;
}

static void loop_fire(sk_daemon_t *d, void *arg)
{
    hook_t *h = arg;
    sk_jobrt_t *j = hook_job(d, h);
    if (!j)
        return;
    if (!d->leading) {
        hook_fail(h, 409,
                  "this node is a standby: another node leads the store and runs its "
                  "jobs; send the webhook to the leader");
        return;
    }
    if (d->stopping) {
        hook_fail(h, 503, "sked is stopping");
        return;
    }
    if (!j->cfg->enabled) {
        hook_fail(h, 409, "job \"%s\" is disabled (enabled: false): its webhook runs nothing",
                  j->name);
        return;
    }
    if (j->paused) {
        hook_fail(h, 409, "job \"%s\" is paused: its webhook runs nothing until it is resumed",
                  j->name);
        return;
    }
    char *params = declared_params(j->cfg, h->given);
    sk_err_t err;
    sk_err_clear(&err);
    char *payload = h->payload;
    h->payload = NULL; /* the fire takes it, whatever happens */
    int64_t id =
        sk_daemon__fire_event_with(d, j, h->event, NULL, params, payload, &h->skipped, &err);
    free(params);
    free(payload);
    if (id <= 0) {
        hook_fail(h, 500, "cannot record the run: %s", err.msg[0] ? err.msg : "store error");
        return;
    }
    h->run_id = id;
}

/* A number or boolean as JSON text: integers as they are, reals in the
 * shortest of 15 or 17 digits that reads back the same (0.1, not
 * 0.10000000000000001). New memory. */
static char *scalar_text(json_t *v)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (t && json_is_real(v)) {
        json_t *back = json_loads(t, JSON_DECODE_ANY, NULL);
        bool same = back && json_is_real(back) && json_real_value(back) == json_real_value(v);
        json_decref(back);
        if (!same) {
            free(t);
            t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
        }
    }
    return t;
}

/* The body's members as params' text: strings as they are, numbers and
 * booleans as their JSON text; other values (null, objects, arrays) are
 * left out. NULL when the body is not a JSON object. */
static json_t *given_params(const char *body, size_t len)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (json_is_string(v)) {
            json_object_set(out, key, v);
        } else if (json_is_number(v) || json_is_boolean(v)) {
            char *t = scalar_text(v);
            if (t)
                json_object_set_new(out, key, json_string(t));
            free(t);
        }
    }
    json_decref(doc);
    return out;
}

/* Writes the body to a new private file under STATE_DIR/hooks; its path
 * (new), or NULL after answering 500. */
static char *write_payload(sk_api_t *a, sk_http_req_t *r)
{
    char dir[4096], path[4200];
    sk_snprintf(dir, sizeof(dir), "%s/hooks", a->state_dir);
    int rc = sk_mkdir_p(dir, 0700);
    sk_snprintf(path, sizeof(path), "%s/payload-XXXXXX", dir);
    int fd = rc < 0 ? -1 : mkstemp(path);
    if (fd < 0) {
        int e = rc < 0 ? -rc : errno;
        sk_log(SK_LOG_ERROR, "event=hook_failed dir=%s msg=\"cannot write the payload: %s\"", dir,
               strerror(e));
        sk_http_error(r, 500, "cannot keep the payload: %s", strerror(e));
        return NULL;
    }
    size_t off = 0;
    while (off < r->body_len) {
        ssize_t n = write(fd, r->body + off, r->body_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    int e = errno;
    if (close(fd) < 0 && off == r->body_len) {
        e = errno;
        off = 0;
    }
    if (off != r->body_len) {
        unlink(path);
        sk_log(SK_LOG_ERROR, "event=hook_failed path=%s msg=\"cannot write the payload: %s\"", path,
               strerror(e));
        sk_http_error(r, 500, "cannot keep the payload: %s", strerror(e));
        return NULL;
    }
    return sk_xstrdup(path);
}

/* The run's event: "webhook: ID" with a well-formed delivery id, else
 * "webhook". New memory. */
static char *event_text(sk_http_req_t *r)
{
    const char *id = sk_http_header(r, "X-Sked-Delivery");
    if (!id)
        id = sk_http_header(r, "X-GitHub-Delivery");
    size_t n = id ? strlen(id) : 0;
    bool ok = n > 0 && n <= DELIVERY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = id[i] > 0x20 && id[i] < 0x7f;
    if (!ok)
        return sk_xstrdup("webhook");
    size_t size = n + 16;
    char *t = sk_xmalloc(size);
    sk_snprintf(t, size, "webhook: %s", id);
    return t;
}

void sk_api_hook(sk_api_t *a, sk_http_req_t *r, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || strchr(name, '/')) {
        sk_http_error(r, 404, "no webhook named \"%.64s\"", name);
        return;
    }
    hook_t *h = sk_xcalloc(1, sizeof(*h));
    h->name = sk_xstrdup(name);
    api_call_t *c = sk_api_call(a, loop_lookup, h, hook_free);
    if (!c) {
        sk_http_error(r, 503, "sked is stopping or busy; try again");
        return;
    }
    if (h->status) {
        sk_http_error(r, h->status, "%s", h->msg);
        sk_api_call_release(a, c);
        return;
    }
    const char *sig = sk_http_header(r, "X-Sked-Signature-256");
    if (!sig)
        sig = sk_http_header(r, "X-Hub-Signature-256");
    const char *why = sk_http_sig_check(h->secret, h->secret_len, r->body, r->body_len, sig);
    sk_api_call_release(a, c); /* the secret is wiped with it */
    if (why) {
        sk_log(SK_LOG_WARN, "event=hook_refused job=%s msg=\"%s\"", name, why);
        sk_http_error(r, 401,
                      "%s; send X-Sked-Signature-256: sha256=HEX, the HMAC-SHA256 of the body "
                      "with the job's secret (docs/api.md, \"Webhooks\")",
                      why);
        return;
    }

    h = sk_xcalloc(1, sizeof(*h));
    h->name = sk_xstrdup(name);
    h->event = event_text(r);
    h->given = given_params(r->body, r->body_len);
    if (!(h->payload = write_payload(a, r))) {
        hook_free(h);
        return;
    }
    if (!(c = sk_api_call(a, loop_fire, h, hook_free))) {
        sk_http_error(r, 503, "sked is stopping or busy; try again");
        return;
    }
    if (h->status) {
        sk_http_error(r, h->status, "%s", h->msg);
    } else {
        json_t *o = json_pack("{s:I, s:s}", "run_id", (json_int_t)h->run_id, "status",
                              h->skipped ? "skipped" : "queued");
        if (h->skipped)
            json_object_set_new(o, "reason",
                                json_string("the job's overlap policy skipped it: a run of it is "
                                            "still going or waiting"));
        sk_http_json(r, 202, o);
    }
    sk_api_call_release(a, c);
}

void sk_api_hooks_sweep(const char *state_dir)
{
    char dir[4096], path[4400];
    sk_snprintf(dir, sizeof(dir), "%s/hooks", state_dir);
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (strncmp(e->d_name, "payload-", 8) != 0)
            continue;
        sk_snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(dh);
}
