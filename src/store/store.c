/*
 * The store's back-end-independent part: the spellings of run statuses and
 * trigger kinds (one X-macro table each, in store.h), releasing run records,
 * and sk_store_open/sk_store_open_readonly, which pick the back end from the
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
    r->job = r->step = r->reason = r->log_path = NULL;
}

void sk_runs_free(sk_run_t *runs, size_t n)
{
    if (!runs)
        return;
    for (size_t i = 0; i < n; i++)
        sk_run_release(&runs[i]);
    free(runs);
}

/* Which back end serves url: NULL after setting err when none can. The URL
 * is never echoed: a PostgreSQL URL may carry a password. */
static const sk_store_ops_t *pick_backend(const char *url, sk_err_t *err)
{
    if (!url || !*url) {
        sk_err_set(err, SK_ESTORE, "no store path given");
        return NULL;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        sk_err_set(err, SK_ESTORE, "store: PostgreSQL support is not built yet");
        return NULL;
    }
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
