/*
 * The store's back-end-independent part: the spellings of run statuses,
 * trigger kinds and alert states (one X-macro table each, in store.h),
 * releasing run, output and alert records, and
 * sk_store_open/sk_store_open_readonly, which pick the back end from the
 * store URL. The back ends themselves live in store_<name>.c.
 */
#include "store.h"

const char *sk_run_status_str(sk_run_status_t s)
{
    switch (s) {
#define SK_X(e, str)                                                                               \
    case e:                                                                                        \
        return str;
        SK_RUN_STATUSES(SK_X)
#undef SK_X
    }
    return "unknown";
}

int sk_run_status_parse(const char *s, sk_run_status_t *ret)
{
#define SK_X(e, str)                                                                               \
    if (sk_streq(s, str)) {                                                                        \
        *ret = e;                                                                                  \
        return 0;                                                                                  \
    }
    SK_RUN_STATUSES(SK_X)
#undef SK_X
    return SK_EPARSE;
}

const char *sk_trigger_str(sk_trigger_t t)
{
    switch (t) {
#define SK_X(e, str)                                                                               \
    case e:                                                                                        \
        return str;
        SK_TRIGGERS(SK_X)
#undef SK_X
    }
    return "unknown";
}

int sk_trigger_parse(const char *s, sk_trigger_t *ret)
{
#define SK_X(e, str)                                                                               \
    if (sk_streq(s, str)) {                                                                        \
        *ret = e;                                                                                  \
        return 0;                                                                                  \
    }
    SK_TRIGGERS(SK_X)
#undef SK_X
    return SK_EPARSE;
}

const char *sk_alert_state_str(sk_alert_state_t s)
{
    switch (s) {
#define SK_X(e, str)                                                                               \
    case e:                                                                                        \
        return str;
        SK_ALERT_STATES(SK_X)
#undef SK_X
    }
    return "unknown";
}

int sk_alert_state_parse(const char *s, sk_alert_state_t *ret)
{
#define SK_X(e, str)                                                                               \
    if (sk_streq(s, str)) {                                                                        \
        *ret = e;                                                                                  \
        return 0;                                                                                  \
    }
    SK_ALERT_STATES(SK_X)
#undef SK_X
    return SK_EPARSE;
}

bool sk_run_status_final(sk_run_status_t s)
{
    switch (s) {
    case SK_RUN_QUEUED:
    case SK_RUN_RUNNING:
        return false;
    case SK_RUN_SUCCEEDED:
    case SK_RUN_FAILED:
    case SK_RUN_TIMED_OUT:
    case SK_RUN_KILLED:
    case SK_RUN_SKIPPED:
    case SK_RUN_MISSED:
    case SK_RUN_INTERRUPTED:
        return true;
    }
    return false;
}

void sk_run_release(sk_run_t *r)
{
    if (!r)
        return;
    free(r->job);
    free(r->step);
    free(r->reason);
    free(r->log_path);
    free(r->params);
    free(r->event);
    free(r->node);
    free(r->spec);
    free(r->cancel);
    r->job = r->step = r->reason = r->log_path = r->params = r->event = NULL;
    r->node = r->spec = r->cancel = NULL;
}

void sk_node_release(sk_node_t *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->labels);
    free(n->api);
    free(n->version);
    n->name = n->labels = n->api = n->version = NULL;
}

void sk_nodes_free(sk_node_t *n, size_t count)
{
    if (!n)
        return;
    for (size_t i = 0; i < count; i++)
        sk_node_release(&n[i]);
    free(n);
}

void sk_runs_free(sk_run_t *runs, size_t n)
{
    if (!runs)
        return;
    for (size_t i = 0; i < n; i++)
        sk_run_release(&runs[i]);
    free(runs);
}

void sk_outputs_free(sk_output_t *o, size_t n)
{
    if (!o)
        return;
    for (size_t i = 0; i < n; i++) {
        free(o[i].key);
        free(o[i].value);
    }
    free(o);
}

void sk_alert_rec_release(sk_alert_rec_t *a)
{
    if (!a)
        return;
    free(a->job);
    free(a->event);
    free(a->channel);
    free(a->payload);
    free(a->last_error);
    a->job = a->event = a->channel = a->payload = a->last_error = NULL;
}

void sk_alert_recs_free(sk_alert_rec_t *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        sk_alert_rec_release(&a[i]);
    free(a);
}

/* store_pg.c's table (to move to store.h beside sk_store_sqlite_ops). */
extern const sk_store_ops_t sk_store_pg_ops;

/* Which back end serves url: NULL after setting err when none can. The URL
 * is never echoed here; the PostgreSQL back end names a store by its URL
 * with the password replaced by ***. */
static const sk_store_ops_t *pick_backend(const char *url, sk_err_t *err)
{
    if (!url || !*url) {
        sk_err_set(err, SK_ESTORE, "no store path given");
        return NULL;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return &sk_store_pg_ops;
    return &sk_store_sqlite_ops;
}

int sk_store_open(const char *url, sk_store_t **ret, sk_err_t *err)
{
    const sk_store_ops_t *ops = pick_backend(url, err);
    if (!ops)
        return SK_ESTORE;
    return ops->open(url, ret, err);
}

int sk_store_open_readonly(const char *url, sk_store_t **ret, sk_err_t *err)
{
    const sk_store_ops_t *ops = pick_backend(url, err);
    if (!ops)
        return SK_ESTORE;
    return ops->open_readonly(url, ret, err);
}
