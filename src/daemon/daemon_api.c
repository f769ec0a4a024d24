/*
 * The HTTP API (docs/api.md) over the server in src/http/.
 *
 * Handlers run on the server's connection threads. They read the store
 * through read-only connections of their own (a pool). The status and the
 * nodes list are answered from a snapshot the loop publishes after each of
 * its turns, so that they never wait for a busy loop; everything else that
 * needs the scheduler's state goes to the loop thread as a call: queued
 * under a mutex, the loop woken with uv_async_send, the answer awaited with
 * a deadline. The loop only copies or changes a little state per call;
 * building and sending the answer happens on the connection's thread, so a
 * slow client or a large answer never delays a fire.
 */
/* glibc's pthread_cond_clockwait (2.30 and later) is a GNU extension. */
#define _GNU_SOURCE 1
#include "daemon_api.h"

#include <pthread.h>
#include <time.h>

#define CALL_TIMEOUT_MS 10000

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
#define HAVE_CLOCKWAIT 1
#endif

/*
 * Waits on a->cv until `until` on the monotonic clock: a wall clock set back
 * must not stretch a call's deadline, nor one set forward cut it. glibc's
 * pthread_cond_clockwait names the clock at each wait; elsewhere the
 * condition variable itself was made monotonic (sk_daemon__api_start).
 * (The clockwait form also keeps libfaketime, which the clock-jump tests
 * preload, from misreading the deadline as a wall-clock one.)
 */
static int cond_wait_until(sk_api_t *a, const struct timespec *until)
{
#ifdef HAVE_CLOCKWAIT
    return pthread_cond_clockwait(&a->cv, &a->mu, CLOCK_MONOTONIC, until);
#else
    return pthread_cond_timedwait(&a->cv, &a->mu, until);
#endif
}
#define POOL_MAX 8

/* ---- calls to the loop thread ---- */

typedef struct api_call api_call_t;
typedef void (*api_fn_t)(sk_daemon_t *d, api_call_t *c);

struct api_call {
    api_fn_t fn;
    /* in */
    const char *name;
    int64_t id;
    json_t *params; /* trigger: the params object (borrowed from the request) */
    bool flag;
    /* sk_api_call: another file's function and its argument (owned) */
    void (*ext_fn)(sk_daemon_t *d, void *arg);
    void *ext;
    void (*ext_free)(void *arg);
    /* out */
    int status; /* an HTTP status; 0 = 200 */
    char msg[600];
    json_t *result;
    sk_api_jobs_t *jobs;
    /* bookkeeping, under api->mu */
    bool done;
    int refs;
    api_call_t *next;
};

static void call_free(api_call_t *c)
{
    if (c->ext_free)
        c->ext_free(c->ext);
    json_decref(c->result);
    sk_api_jobs_free(c->jobs);
    free(c);
}

/* Drops one reference; the caller holds a->mu. */
static void call_unref_locked(api_call_t *c)
{
    if (--c->refs == 0)
        call_free(c);
}

static void on_async(uv_async_t *h)
{
    sk_api_t *a = h->data;
    pthread_mutex_lock(&a->mu);
    api_call_t *list = a->head;
    a->head = a->tail = NULL;
    pthread_mutex_unlock(&a->mu);
    for (api_call_t *c = list, *next; c; c = next) {
        next = c->next;
        c->fn(a->d, c);
        pthread_mutex_lock(&a->mu);
        c->done = true;
        call_unref_locked(c);
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
    }
}

/* Runs c->fn on the loop thread and waits for it. Returns 0, or -1 when the
 * daemon is stopping or did not answer in time (c is then gone). */
static int call_loop(sk_api_t *a, api_call_t *c)
{
    c->refs = 2;
    pthread_mutex_lock(&a->mu);
    if (a->closed) {
        pthread_mutex_unlock(&a->mu);
        call_free(c);
        return -1;
    }
    if (a->tail)
        a->tail->next = c;
    else
        a->head = c;
    a->tail = c;
    pthread_mutex_unlock(&a->mu);
    uv_async_send(&a->async);

    /* The deadline is on the monotonic clock (the condition variable was
     * made so): a wall clock set back must not stretch the wait. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CALL_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&a->mu);
    while (!c->done && !a->closed) {
        if (cond_wait_until(a, &until) == ETIMEDOUT)
            break;
    }
    bool done = c->done;
    if (!done)
        call_unref_locked(c); /* the loop (or api_stop) drops the other reference */
    pthread_mutex_unlock(&a->mu);
    return done ? 0 : -1;
}

static void call_release(sk_api_t *a, api_call_t *c)
{
    pthread_mutex_lock(&a->mu);
    call_unref_locked(c);
    pthread_mutex_unlock(&a->mu);
}

/* Calls fn and answers the request with its result: the result object, or
 * {"error": msg} with its status. */
static void call_and_reply(sk_api_t *a, sk_http_req_t *r, api_call_t *c, int ok_status)
{
    if (call_loop(a, c) < 0) {
        sk_http_error(r, 503, "sked is stopping or busy; try again");
        return;
    }
    if (c->status >= 300)
        sk_http_error(r, c->status, "%s", c->msg);
    else
        sk_http_json(r, c->status ? c->status : ok_status, json_incref(c->result));
    call_release(a, c);
}

static api_call_t *call_new(api_fn_t fn)
{
    api_call_t *c = sk_xcalloc(1, sizeof(*c));
    c->fn = fn;
    return c;
}

static void fail(api_call_t *c, int status, const char *fmt, ...) SK_PRINTF(3, 4);
static void fail(api_call_t *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    c->status = status;
}

/* A job of the current configuration by name, or NULL after fail(404). */
static sk_jobrt_t *loop_job(sk_daemon_t *d, api_call_t *c)
{
    sk_jobrt_t *j = sk_daemon__job(d, c->name);
    if (!j || !j->cfg) {
        fail(c, 404, "no job named \"%s\"", c->name);
        return NULL;
    }
    return j;
}

static void loop_ext(sk_daemon_t *d, api_call_t *c)
{
    c->ext_fn(d, c->ext);
}

api_call_t *sk_api_call(sk_api_t *a, void (*fn)(sk_daemon_t *d, void *arg), void *arg,
                        void (*free_arg)(void *arg))
{
    api_call_t *c = call_new(loop_ext);
    c->ext_fn = fn;
    c->ext = arg;
    c->ext_free = free_arg;
    return call_loop(a, c) < 0 ? NULL : c;
}

void sk_api_call_release(sk_api_t *a, api_call_t *c)
{
    if (c)
        call_release(a, c);
}

/* ---- loop-side functions ---- */

/* *p becomes a copy of text (NULL stays NULL), reallocated only when it
 * changed: the snapshot is rewritten after every loop turn. */
static void set_text(char **p, const char *text)
{
    if (*p == text || (*p && text && strcmp(*p, text) == 0))
        return;
    free(*p);
    *p = text ? sk_xstrdup(text) : NULL;
}

/* The snapshot becomes the loop's state now. Loop thread. */
static void publish(sk_api_t *a)
{
    sk_daemon_t *d = a->d;
    sk_api_snap_t *s = &a->snap;
    sk_heap_node_t *top = sk_heap_top(&d->heap);
    pthread_mutex_lock(&a->snap_mu);
    s->njobs = (int)d->config->njobs;
    s->active = d->nrunning;
    s->waiting = d->nwaiting;
    s->stopping = d->stopping;
    s->leading = d->leading;
    s->next_due = top ? top->key : 0;
    set_text(&s->next_job, top ? SK_CONTAINER_OF(top, sk_jobrt_t, node)->name : NULL);
    /* This node as its heart-beat would describe it. */
    sk_node_t *n = &s->self.node;
    set_text(&n->name, d->node_name ? d->node_name : "");
    set_text(&n->labels, d->node_labels ? d->node_labels : "");
    set_text(&n->api, d->node_api);
    set_text(&n->version, SK_VERSION);
    n->max_parallel = d->node_max;
    n->pid = (int)getpid();
    n->started_at = d->started_at;
    n->age_ms = 0;
    n->leader = d->leading;
    n->running = d->cluster ? d->nwork : d->nrunning;
    s->self.lease_ms = d->lease_ms > 0 ? d->lease_ms : 15000;
    s->self.cluster = d->cluster;
    pthread_mutex_unlock(&a->snap_mu);
}

static void on_check(uv_check_t *h)
{
    publish(h->data);
}

/* A copy of the snapshot (strings new: sk_node_release(&ret->self.node) and
 * free(ret->next_job)), its self row seen now. Any thread. */
static void snap_copy(sk_api_t *a, sk_api_snap_t *ret)
{
    pthread_mutex_lock(&a->snap_mu);
    *ret = a->snap;
    sk_node_t *n = &ret->self.node;
    n->name = sk_xstrdup(n->name ? n->name : "");
    n->labels = sk_xstrdup(n->labels ? n->labels : "");
    n->api = n->api ? sk_xstrdup(n->api) : NULL;
    n->version = sk_xstrdup(n->version ? n->version : SK_VERSION);
    ret->next_job = ret->next_job ? sk_xstrdup(ret->next_job) : NULL;
    pthread_mutex_unlock(&a->snap_mu);
    n->seen_at = sk_now_ms();
}

static void snap_release(sk_api_snap_t *s)
{
    sk_node_release(&s->self.node);
    free(s->next_job);
    s->next_job = NULL;
}

static void live_of(const sk_jobrt_t *j, sk_api_job_t *ret)
{
    ret->cfg = j->cfg;
    ret->next_due = j->next_due;
    ret->paused = j->paused;
    ret->running = j->active;
    ret->waiting = j->waiting;
    ret->last_outcome = j->last_outcome;
}

/* A copy of what the jobs list needs, in file order, with the snapshot it
 * points into (a reference): formatting happens off the loop. */
static void loop_jobs(sk_daemon_t *d, api_call_t *c)
{
    sk_api_jobs_t *s = sk_xcalloc(1, sizeof(*s));
    s->config = sk_config_ref(d->config);
    if (c->name) {
        sk_jobrt_t *j = loop_job(d, c);
        if (!j) {
            sk_api_jobs_free(s);
            return;
        }
        s->jobs = sk_xcalloc(1, sizeof(*s->jobs));
        s->n = 1;
        live_of(j, &s->jobs[0]);
        s->anchor = j->anchor;
        s->now = sk_now_ms();
        /* The next instants, as the scheduler will see them. */
        int64_t t = j->last_fire, next;
        while (!j->paused && j->cfg->enabled && s->nupcoming < SK_API_UPCOMING &&
               sk_sched_next(j->cfg, j->anchor, t, &next) == 0) {
            s->upcoming[s->nupcoming++] = next;
            t = next;
        }
    } else {
        s->n = d->config->njobs;
        s->jobs = sk_xcalloc(s->n ? s->n : 1, sizeof(*s->jobs));
        for (size_t i = 0; i < d->njobs; i++) {
            const sk_jobrt_t *j = d->jobs[i];
            if (j->cfg)
                live_of(j, &s->jobs[(size_t)(j->cfg - d->config->jobs)]);
        }
    }
    c->jobs = s;
}

/* Runs start only on the node that leads the store (PostgreSQL, several
 * nodes); false after fail(409) on a standby node. */
static bool leading(sk_daemon_t *d, api_call_t *c)
{
    if (d->leading)
        return true;
    fail(c, 409,
         "this node is a standby: another node leads the store and runs its jobs; "
         "send this to the leader");
    return false;
}

static void loop_trigger(sk_daemon_t *d, api_call_t *c)
{
    sk_jobrt_t *j = loop_job(d, c);
    if (!j || !leading(d, c))
        return;
    if (d->stopping) {
        fail(c, 503, "sked is stopping");
        return;
    }
    char *pj = NULL;
    if (c->params) {
        /* Only parameters the job declares: a typo is an error, not a no-op. */
        const char *key;
        json_t *v;
        json_object_foreach(c->params, key, v)
        {
            bool known = false;
            for (size_t i = 0; i < j->cfg->nparams && !known; i++)
                known = strcmp(j->cfg->params[i].key, key) == 0;
            if (!known) {
                fail(c, 400, "job \"%s\" has no parameter \"%.64s\"%s", c->name, key,
                     j->cfg->nparams ? "" : " (it declares none)");
                return;
            }
        }
        pj = json_dumps(c->params, JSON_COMPACT | JSON_SORT_KEYS);
    }
    sk_err_t err;
    sk_err_clear(&err);
    int64_t id = sk_daemon__trigger(d, j, pj, SK_TRIG_MANUAL, c->flag, &err);
    free(pj);
    if (id < 0) {
        fail(c, 500, "cannot record the run: %s", err.msg[0] ? err.msg : "store error");
        return;
    }
    c->result = json_pack("{s:I}", "run_id", (json_int_t)id);
}

static void loop_pause(sk_daemon_t *d, api_call_t *c)
{
    sk_jobrt_t *j = loop_job(d, c);
    if (!j || !leading(d, c))
        return;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_daemon__pause(d, j, c->flag, &err) < 0) {
        fail(c, 500, "cannot save the job's state: %s", err.msg);
        return;
    }
    c->result = json_pack("{s:s, s:b}", "name", j->name, "paused", j->paused);
}

static void loop_cancel(sk_daemon_t *d, api_call_t *c)
{
    if (!leading(d, c))
        return;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_daemon__cancel(d, c->id, &err);
    if (rc == SK_ENOTFOUND)
        fail(c, 409, "run %" PRId64 " is not queued or running", c->id);
    else if (rc < 0)
        fail(c, 500, "%s", err.msg);
    else
        c->result = json_pack("{s:I, s:s}", "id", (json_int_t)c->id, "status", "cancelling");
}

static void loop_retry(sk_daemon_t *d, api_call_t *c)
{
    sk_err_t err;
    sk_err_clear(&err);
    if (d->stopping) {
        fail(c, 503, "sked is stopping");
        return;
    }
    if (!leading(d, c))
        return;
    int64_t id = sk_daemon__retry(d, c->id, &err);
    if (id < 0)
        fail(c, err.code == SK_ENOTFOUND ? 404 : 409, "%s", err.msg[0] ? err.msg : "cannot retry");
    else
        c->result = json_pack("{s:I}", "run_id", (json_int_t)id);
}

static void loop_reload(sk_daemon_t *d, api_call_t *c)
{
    char msg[sizeof(c->msg)] = "";
    if (sk_daemon__reload(d, "api", msg, sizeof(msg)) < 0)
        fail(c, 400, "%s", msg[0] ? msg : "the configuration has errors");
    else
        c->result = json_pack("{s:b, s:I}", "reloaded", 1, "jobs", (json_int_t)d->config->njobs);
}

/* ---- the store, read-only, for the connection threads ---- */

sk_store_t *sk_api_store_get(sk_api_t *a, sk_err_t *err)
{
    sk_store_t *st = NULL;
    pthread_mutex_lock(&a->pool_mu);
    if (a->npool)
        st = a->pool[--a->npool];
    pthread_mutex_unlock(&a->pool_mu);
    if (!st && sk_store_open_readonly(a->store_url, &st, err) < 0)
        return NULL;
    return st;
}

void sk_api_store_put(sk_api_t *a, sk_store_t *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&a->pool_mu);
    if (a->npool < POOL_MAX) {
        a->pool[a->npool++] = st;
        st = NULL;
    }
    pthread_mutex_unlock(&a->pool_mu);
    sk_store_close(st);
}

int sk_api_nodes_read(sk_api_t *a, sk_store_t *st, sk_node_t **ret, size_t *ret_n, sk_err_t *err)
{
    *ret = NULL;
    *ret_n = 0;
    sk_store_t *own = st ? NULL : sk_api_store_get(a, err);
    if (!st && !own)
        return err->code ? err->code : SK_ESTORE;
    sk_store_t *use = st ? st : own;
    int rc = use->ops->nodes_list(use, 0, ret, ret_n, err);
    sk_api_store_put(a, own);
    return rc;
}

/* The store's node rows with this node's live state folded in. On SQLite
 * (one node per file) this node is what the loop says, row or not; on
 * PostgreSQL the rows are the truth, but for whether this node leads (its
 * row says what it was at its last heart-beat). */
static void merge_self(sk_node_t **nodes, size_t *n, sk_api_self_t *self)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*nodes)[i].name, self->node.name) != 0)
            continue;
        if (self->cluster) {
            /* Whether it leads is known here now, not at the last beat. */
            (*nodes)[i].leader = self->node.leader;
            return;
        }
        sk_node_release(&(*nodes)[i]);
        (*nodes)[i] = self->node;
        memset(&self->node, 0, sizeof(self->node)); /* the list took it */
        return;
    }
    if (self->cluster)
        return;
    *nodes = sk_xrealloc(*nodes, (*n + 1) * sizeof(**nodes));
    size_t at = 0;
    while (at < *n && strcmp((*nodes)[at].name, self->node.name) < 0)
        at++;
    memmove(&(*nodes)[at + 1], &(*nodes)[at], (*n - at) * sizeof(**nodes));
    (*nodes)[at] = self->node;
    (*n)++;
    memset(&self->node, 0, sizeof(self->node));
}

/* ---- handlers (connection threads) ---- */

int64_t sk_api_path_id(sk_http_req_t *r, const char *seg, size_t len)
{
    int64_t v = 0;
    bool ok = len > 0 && len <= 18;
    for (size_t i = 0; ok && i < len; i++) {
        ok = seg[i] >= '0' && seg[i] <= '9';
        v = v * 10 + (seg[i] - '0');
    }
    if (!ok || v <= 0) {
        sk_http_error(r, 400, "a run id is a positive whole number, got \"%.*s\"",
                      (int)SK_MIN(len, (size_t)40), seg);
        return 0;
    }
    return v;
}

/* The status, from the loop's last published snapshot: it never waits for
 * the loop (a burst keeps the loop busy; the answer is a moment old). */
void sk_api_get_status(sk_api_t *a, sk_http_req_t *r)
{
    sk_api_snap_t snap;
    snap_copy(a, &snap);
    json_t *o = json_pack("{s:b, s:i, s:s, s:I, s:i, s:i}", "running", 1, "pid", (int)getpid(),
                          "version", SK_VERSION, "jobs", (json_int_t)snap.njobs, "active_runs",
                          snap.active, "waiting_runs", snap.waiting);
    char iso[64];
    sk_tz_format_iso_ms(sk_tz_utc(), a->start_wall, iso, sizeof(iso));
    json_object_set_new(o, "started_at", json_string(iso));
    json_object_set_new(o, "uptime", json_real((double)(sk_mono_ms() - a->start_mono) / 1000.0));
    json_object_set_new(o, "stopping", json_boolean(snap.stopping));
    json_object_set_new(o, "leading", json_boolean(snap.leading));
    json_object_set_new(o, "store", json_string(a->store_name));
    json_object_set_new(o, "node", json_string(a->node_name));
    if (snap.next_job) {
        sk_tz_format_iso_ms(sk_tz_utc(), snap.next_due, iso, sizeof(iso));
        json_object_set_new(o, "next_due", json_string(iso));
        json_object_set_new(o, "next_job", json_string(snap.next_job));
    } else {
        json_object_set_new(o, "next_due", json_null());
        json_object_set_new(o, "next_job", json_null());
    }
    json_object_set_new(o, "state_dir", json_string(a->state_dir));
    json_object_set_new(o, "config", json_string(a->config_path));
    /* How many nodes are alive: the store's rows (a read, off the loop). */
    sk_api_self_t self = snap.self;
    memset(&snap.self, 0, sizeof(snap.self));
    snap_release(&snap);
    sk_err_t err;
    sk_err_clear(&err);
    sk_node_t *nodes = NULL;
    size_t n = 0;
    if (sk_api_nodes_read(a, NULL, &nodes, &n, &err) == 0) {
        merge_self(&nodes, &n, &self);
        json_int_t alive = 0;
        for (size_t i = 0; i < n; i++)
            alive += nodes[i].age_ms <= self.lease_ms;
        json_object_set_new(o, "nodes", json_integer(alive));
    } else {
        json_object_set_new(o, "nodes", json_null());
    }
    sk_nodes_free(nodes, n);
    sk_node_release(&self.node);
    json_object_set_new(o, "role", json_string(r->role == SK_HTTP_ROLE_ADMIN ? "admin" : "read"));
    if (r->role != SK_HTTP_ROLE_ADMIN) { /* where things are on the host: admins only */
        json_object_del(o, "state_dir");
        json_object_del(o, "config");
    }
    sk_http_json(r, 200, o);
}

void sk_api_get_nodes(sk_api_t *a, sk_http_req_t *r)
{
    sk_api_snap_t snap;
    snap_copy(a, &snap);
    sk_api_self_t self = snap.self;
    memset(&snap.self, 0, sizeof(snap.self));
    snap_release(&snap);
    sk_err_t err;
    sk_err_clear(&err);
    sk_node_t *nodes = NULL;
    size_t n = 0;
    if (sk_api_nodes_read(a, NULL, &nodes, &n, &err) < 0) {
        sk_node_release(&self.node);
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return;
    }
    merge_self(&nodes, &n, &self);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, sk_api_node_json(&nodes[i], a->node_name, self.lease_ms));
    sk_nodes_free(nodes, n);
    sk_node_release(&self.node);
    sk_http_json(r, 200,
                 json_pack("{s:o, s:I, s:s}", "nodes", arr, "lease_ms", (json_int_t)self.lease_ms,
                           "node", a->node_name));
}

#define ANY_NUMBER (INT64_MAX / 2)

/* The query argument `name`, when given, as a whole number min..max into
 * *ret (left alone otherwise); false after answering 400. */
static bool query_num(sk_http_req_t *r, const char *name, int64_t min, int64_t max, int64_t *ret)
{
    const char *v = sk_http_query(r, name);
    int64_t n;
    if (!v)
        return true;
    if (sk_api_parse_uint(v, max, &n) == 0 && n >= min) {
        *ret = n;
        return true;
    }
    if (max == ANY_NUMBER)
        sk_http_error(r, 400, "%s: expected a whole number from %" PRId64 ", got \"%.40s\"", name,
                      min, v);
    else
        sk_http_error(r, 400, "%s: expected a number %" PRId64 "-%" PRId64 ", got \"%.40s\"", name,
                      min, max, v);
    return false;
}

void sk_api_get_jobs(sk_api_t *a, sk_http_req_t *r, const char *name)
{
    int64_t recent = 0, offset = 0, limit = ANY_NUMBER, next = 0;
    if (!query_num(r, "recent", 0, 50, &recent) ||
        !query_num(r, "offset", 0, ANY_NUMBER, &offset) ||
        !query_num(r, "limit", 0, ANY_NUMBER, &limit) ||
        (name && !query_num(r, "next", 0, 100000, &next)))
        return;
    sk_api_list_opts_t lo = {.q = sk_http_query(r, "q"),
                             .recent = (size_t)recent,
                             .offset = (size_t)offset,
                             .limit = (size_t)limit};
    api_call_t *c = call_new(loop_jobs);
    c->name = name;
    if (call_loop(a, c) < 0) {
        sk_http_error(r, 503, "sked is stopping or busy; try again");
        return;
    }
    if (c->status) {
        sk_http_error(r, c->status, "%s", c->msg);
        call_release(a, c);
        return;
    }
    sk_api_jobs_t *s = c->jobs;
    c->jobs = NULL;
    call_release(a, c);
    sk_err_t err;
    sk_err_clear(&err);
    sk_store_t *st = lo.recent || name ? sk_api_store_get(a, &err) : NULL;
    if (name) {
        json_t *out = sk_api_job_json(s, st, lo.recent ? lo.recent : 20);
        sk_api_store_put(a, st);
        if (next)
            json_object_set_new(out, "next_instants", sk_api_next_instants(s, (size_t)next));
        sk_api_jobs_free(s);
        sk_http_json(r, 200, out);
        return;
    }
    size_t len = 0;
    char *text = sk_api_jobs_text(s, st, &lo, &len);
    sk_api_store_put(a, st);
    sk_api_jobs_free(s);
    sk_http_bytes(r, 200, "application/json", text, len, false);
}

void sk_api_post_job(sk_api_t *a, sk_http_req_t *r, const char *name, sk_api_job_action_t act)
{
    api_call_t *c = call_new(act == SK_API_TRIGGER ? loop_trigger : loop_pause);
    c->name = name;
    c->flag = act == SK_API_PAUSE;
    json_t *body = NULL;
    if (r->body_len) {
        json_error_t jerr;
        body = json_loadb(r->body, r->body_len, 0, &jerr);
        if (!json_is_object(body)) {
            json_decref(body);
            free(c);
            sk_http_error(r, 400, "the body is not a JSON object%s%s", body ? "" : ": ",
                          body ? "" : jerr.text);
            return;
        }
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
            bool ok =
                (strcmp(key, "params") == 0 || strcmp(key, "once") == 0) && c->fn == loop_trigger;
            if (!ok) {
                sk_http_error(r, 400, "unknown field \"%.64s\" in the body", key);
                json_decref(body);
                free(c);
                return;
            }
        }
        json_t *p = json_object_get(body, "params");
        if (p && !json_is_object(p)) {
            sk_http_error(r, 400, "params: expected an object of name: value");
            json_decref(body);
            free(c);
            return;
        }
        json_object_foreach(p, key, v)
        {
            if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v)) {
                sk_http_error(r, 400, "params.%.64s: expected a string, number or boolean", key);
                json_decref(body);
                free(c);
                return;
            }
        }
        json_t *once = json_object_get(body, "once");
        if (once && !json_is_boolean(once)) {
            sk_http_error(r, 400, "once: expected true or false");
            json_decref(body);
            free(c);
            return;
        }
        c->params = p;
        c->flag = json_is_true(once);
    }
    call_and_reply(a, r, c, c->fn == loop_trigger ? 202 : 200);
    json_decref(body);
}

void sk_api_get_runs(sk_api_t *a, sk_http_req_t *r)
{
    sk_run_filter_t f = {.limit = 50, .top_level = true};
    const char *v;
    if ((v = sk_http_query(r, "job")))
        f.job = v;
    if ((v = sk_http_query(r, "status"))) {
        if (sk_run_status_parse(v, &f.status) < 0) {
            sk_http_error(r, 400,
                          "status: expected one of queued, running, succeeded, failed, "
                          "timed_out, killed, skipped, missed, interrupted; got \"%.40s\"",
                          v);
            return;
        }
        f.status_set = true;
    }
    if ((v = sk_http_query(r, "since"))) {
        sk_err_t err;
        int64_t s;
        if (sk_tz_parse_iso(sk_tz_utc(), v, &s, &err) < 0) {
            sk_http_error(r, 400, "since: %s", err.msg);
            return;
        }
        f.since = s * 1000;
    }
    int64_t before = 0, limit = 50;
    if (!query_num(r, "before", 1, ANY_NUMBER, &before) || !query_num(r, "limit", 1, 1000, &limit))
        return;
    f.before_id = before;
    f.limit = (size_t)limit;
    if ((v = sk_http_query(r, "steps")))
        f.top_level = !(strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
    /* Each top-level run with its steps (the CLI's history in one call). */
    bool nested =
        (v = sk_http_query(r, "with_steps")) && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
    sk_err_t err;
    sk_err_clear(&err);
    sk_store_t *st = sk_api_store_get(a, &err);
    sk_run_t *runs = NULL;
    size_t nruns = 0;
    if (!st || st->ops->runs_query(st, &f, &runs, &nruns, &err) < 0) {
        sk_api_store_put(a, st);
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < nruns; i++) {
        json_t *o = sk_api_run_json(&runs[i]);
        sk_run_filter_t sf = {.parent_id = runs[i].id, .limit = SK_STORE_QUERY_MAX};
        sk_run_t *steps = NULL;
        size_t ns = 0;
        if (nested && !runs[i].parent_id && st->ops->runs_query(st, &sf, &steps, &ns, NULL) == 0 &&
            ns) {
            json_t *sa = json_array();
            for (size_t k = 0; k < ns; k++)
                json_array_append_new(sa, sk_api_run_json(&steps[k]));
            json_object_set_new(o, "steps", sa);
        }
        sk_runs_free(steps, ns);
        json_array_append_new(arr, o);
    }
    sk_api_store_put(a, st);
    json_t *o = json_pack("{s:o}", "runs", arr);
    json_object_set_new(o, "next_before",
                        nruns == f.limit && nruns ? json_integer(runs[nruns - 1].id) : json_null());
    sk_runs_free(runs, nruns);
    sk_http_json(r, 200, o);
}

void sk_api_get_run(sk_api_t *a, sk_http_req_t *r, int64_t id)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_store_t *st = sk_api_store_get(a, &err);
    sk_run_t run = {0};
    int rc = st ? st->ops->run_get(st, id, &run, &err) : -1;
    if (rc == SK_ENOTFOUND) {
        sk_api_store_put(a, st);
        sk_http_error(r, 404, "no run %" PRId64, id);
        return;
    }
    json_t *o = NULL;
    if (rc == 0)
        o = sk_api_run_detail(st, &run, &err);
    sk_api_store_put(a, st);
    sk_run_release(&run);
    if (!o) {
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return;
    }
    sk_http_json(r, 200, o);
}

void sk_api_post_run(sk_api_t *a, sk_http_req_t *r, int64_t id, bool retry)
{
    api_fn_t fn = retry ? loop_retry : loop_cancel;
    /* 404 for a run that does not exist at all, before asking the loop. */
    sk_err_t err;
    sk_err_clear(&err);
    sk_store_t *st = sk_api_store_get(a, &err);
    sk_run_t run = {0};
    int rc = st ? st->ops->run_get(st, id, &run, &err) : -1;
    sk_api_store_put(a, st);
    sk_run_release(&run);
    if (rc == SK_ENOTFOUND) {
        sk_http_error(r, 404, "no run %" PRId64, id);
        return;
    }
    if (rc < 0) {
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return;
    }
    api_call_t *c = call_new(fn);
    c->id = id;
    call_and_reply(a, r, c, 202);
}

void sk_api_get_alerts(sk_api_t *a, sk_http_req_t *r)
{
    const char *job = sk_http_query(r, "job");
    int64_t limit = 100;
    if (!query_num(r, "limit", 1, SK_STORE_QUERY_MAX, &limit))
        return;
    sk_err_t err;
    sk_err_clear(&err);
    sk_store_t *st = sk_api_store_get(a, &err);
    sk_alert_rec_t *recs = NULL;
    size_t n = 0;
    if (!st || st->ops->alerts_query(st, job, (size_t)limit, &recs, &n, &err) < 0) {
        sk_api_store_put(a, st);
        sk_http_error(r, 500, "cannot read the store: %s", err.msg);
        return;
    }
    sk_api_store_put(a, st);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, sk_api_alert_json(&recs[i]));
    sk_alert_recs_free(recs, n);
    sk_http_json(r, 200, json_pack("{s:o}", "alerts", arr));
}

void sk_api_get_metrics(sk_api_t *a, sk_http_req_t *r)
{
    size_t len = 0;
    /* Uptime is a duration: the start instant advanced by the monotonic
     * clock. */
    int64_t now = a->start_wall + (sk_mono_ms() - a->start_mono);
    char *text = sk_metrics_render(a->metrics, now, &len);
    sk_http_bytes(r, 200, SK_METRICS_CONTENT_TYPE, text, len, false);
}

/* Splits "jobs/NAME/trigger" into at most 3 segments. */
void sk_api_reload(sk_api_t *a, sk_http_req_t *r)
{
    call_and_reply(a, r, call_new(loop_reload), 200);
}

static void on_status(void *data, int status)
{
    sk_api_t *a = data;
    sk_metrics_api_request(a->metrics, status);
}

/* ---- start and stop ---- */

/* The name part of an http(s):// URL's authority, into buf ("" when none). */
static void url_host(const char *url, char *buf, size_t size)
{
    buf[0] = '\0';
    const char *p = strstr(url, "://");
    if (!p)
        return;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (*p == '[')
        return; /* an IPv6 address: always allowed */
    n = SK_MIN(n, strcspn(p, ":/?#"));
    if (n < size)
        sk_snprintf(buf, size, "%.*s", (int)n, p);
}

/* The names a TCP request's Host may give (besides IPs, localhost and this
 * machine's name): http.allowed_hosts, and the hosts of the cluster's node
 * API addresses, which other nodes use to fetch logs from this one. New
 * array of borrowed-then-copied strings: free the array and its items. */
static char **host_names(const sk_config_t *c)
{
    size_t n = c->http.nallowed_hosts + c->cluster.nnodes;
    char **names = sk_xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < c->http.nallowed_hosts; i++)
        names[k++] = sk_xstrdup(c->http.allowed_hosts[i]);
    for (size_t i = 0; i < c->cluster.nnodes; i++) {
        char host[256];
        if (!c->cluster.nodes[i].api)
            continue;
        url_host(c->cluster.nodes[i].api, host, sizeof(host));
        if (host[0])
            names[k++] = sk_xstrdup(host);
    }
    return names;
}

int sk_daemon__api_start(sk_daemon_t *d, sk_err_t *err)
{
    const sk_http_cfg_t *h = &d->config->http;
    sk_api_t *a = sk_xcalloc(1, sizeof(*a));
    a->d = d;
    a->store_url = sk_xstrdup(d->config->store_url);
    a->state_dir = sk_xstrdup(d->state_dir);
    sk_api_hooks_sweep(a->state_dir); /* before any hook can arrive */
    a->node_name = sk_xstrdup(d->node_name ? d->node_name : "");
    a->config_path = sk_xstrdup(d->config_path);
    a->store_name = d->store->ops->name;
    a->start_wall = d->started_at;
    a->start_mono = d->started_mono;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->snap_mu, NULL);
    pthread_mutex_init(&a->pool_mu, NULL);
#ifdef HAVE_CLOCKWAIT
    pthread_cond_init(&a->cv, NULL); /* each wait names its clock */
#else
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
#endif
    a->metrics = d->metrics;
    uv_async_init(d->loop, &a->async, on_async);
    a->async.data = a;
    uv_check_init(d->loop, &a->check);
    a->check.data = a;
    uv_check_start(&a->check, on_check);
    uv_unref((uv_handle_t *)&a->check); /* it alone never keeps the loop running */
    publish(a);                         /* valid before the first request */
    d->api = a;

    /* Checked before anything started (sk_config_preflight); read again
     * here, the same way, to use them (a file changed since is caught). */
    char *admin = NULL, *reader = NULL;
    sk_errs_t errs;
    sk_errs_init(&errs);
    int rc = 0;
    if (sk_config_http_tokens(d->config, d->config->path, &admin, &reader, &errs) < 0) {
        const sk_err_t *e = &errs.items[0];
        if (e->line)
            rc = sk_err_set(err, -EINVAL, "%s:%d:%d: %s%s%s", d->config->path, e->line, e->col,
                            e->path, e->path[0] ? ": " : "", e->msg);
        else
            rc = sk_err_set(err, -EINVAL, "%s: %s", d->config->path, e->msg);
    }
    sk_errs_release(&errs);
    char **names = host_names(d->config);
    char path[4096];
    sk_snprintf(path, sizeof(path), "%s/%s", d->state_dir, SK_SOCKET_NAME);
    sk_http_opts_t o = {
        .unix_path = path,
        .host = h->listen ? h->host : NULL,
        .port = h->port,
        .admin_token = admin,
        .read_token = reader,
        .allowed_hosts = (const char *const *)names,
        .handler = sk_api_handle,
        .data = a,
        .on_status = on_status,
    };
    if (rc == 0)
        rc = sk_http_start(&o, &a->server, err);
    if (rc == 0 && (reader || admin))
        a->proxy_token = sk_xstrdup(reader ? reader : admin);
    for (char *t = admin; t && *t; t++)
        *(volatile char *)t = 0;
    for (char *t = reader; t && *t; t++)
        *(volatile char *)t = 0;
    free(admin);
    free(reader);
    for (size_t i = 0; names[i]; i++)
        free(names[i]);
    free(names);
    if (rc < 0)
        return rc;
    if (h->listen)
        sk_log(SK_LOG_INFO, "event=http_listening address=%s auth=%s", h->listen,
               o.admin_token || o.read_token ? "tokens" : "none");
    return 0;
}

/* What a daemon's API and a detached one both hold, and a itself. */
static void api_free(sk_api_t *a)
{
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->pool_mu);
    pthread_cond_destroy(&a->cv);
    free(a->store_url);
    free(a->state_dir);
    free(a->node_name);
    free(a);
}

static void on_closed(uv_handle_t *h)
{
    sk_api_t *a = h->data;
    if (--a->nclosing > 0)
        return;
    snap_release(&a->snap);
    pthread_mutex_destroy(&a->snap_mu);
    free(a->config_path);
    api_free(a);
}

void sk_daemon__api_stop(sk_daemon_t *d)
{
    sk_api_t *a = d->api;
    if (!a)
        return;
    d->api = NULL;
    /* Calls not yet taken by the loop fail; waiting threads wake. */
    pthread_mutex_lock(&a->mu);
    a->closed = true;
    for (api_call_t *c = a->head, *next; c; c = next) {
        next = c->next;
        call_unref_locked(c);
    }
    a->head = a->tail = NULL;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    sk_http_stop(a->server); /* joins every connection thread */
    a->server = NULL;
    for (size_t i = 0; i < a->npool; i++)
        sk_store_close(a->pool[i]);
    a->npool = 0;
    for (char *t = a->proxy_token; t && *t; t++)
        *(volatile char *)t = 0;
    free(a->proxy_token);
    a->proxy_token = NULL;
    a->nclosing = 2;
    uv_check_stop(&a->check);
    uv_close((uv_handle_t *)&a->check, on_closed);
    uv_close((uv_handle_t *)&a->async, on_closed);
}

/* ---- without a daemon (fuzzing) ---- */

sk_api_t *sk_api_detached_new(const char *store_url, const char *state_dir, const char *node_name)
{
    sk_api_t *a = sk_xcalloc(1, sizeof(*a));
    a->store_url = sk_xstrdup(store_url);
    a->state_dir = sk_xstrdup(state_dir);
    a->node_name = sk_xstrdup(node_name);
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->pool_mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->metrics = sk_metrics_new(SK_VERSION, sk_now_ms());
    /* As when the daemon stops: every call to the loop fails at once (503). */
    a->closed = true;
    return a;
}

void sk_api_detached_free(sk_api_t *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->npool; i++)
        sk_store_close(a->pool[i]);
    sk_metrics_free(a->metrics);
    api_free(a);
}
