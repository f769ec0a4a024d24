/*
 * The API's routes: which handler answers a method and path. The table
 * below is the API's index (docs/api.md has each endpoint); a path that
 * matches a route's shape but not its method gets 405 with the methods it
 * allows, one that matches no shape 404. Webhooks (POST /hooks/NAME) are
 * answered by daemon_hook.c.
 */
#include "daemon_api.h"

static bool want(sk_http_req_t *r, const char *method)
{
    if (strcmp(r->method, method) == 0)
        return true;
    sk_http_not_allowed(r, strcmp(method, "GET") == 0 ? "GET, HEAD" : method);
    return false;
}

static size_t split(const char *p, const char **seg, size_t *len, size_t max)
{
    size_t n = 0;
    while (*p && n < max) {
        const char *e = strchr(p, '/');
        seg[n] = p;
        len[n] = e ? (size_t)(e - p) : strlen(p);
        n++;
        if (!e)
            return n;
        p = e + 1;
        if (!*p)
            return n; /* a trailing slash */
    }
    return *p ? max + 1 : n;
}

static bool seg_is(const char *seg, size_t len, const char *word)
{
    return strlen(word) == len && strncmp(seg, word, len) == 0;
}

/* What a route's {job} and {id} segments matched. */
typedef struct {
    const char *job;
    int64_t id;
} route_args_t;

typedef void (*route_fn)(sk_api_t *a, sk_http_req_t *r, const route_args_t *args);

static void r_health(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    (void)a, (void)args;
    sk_http_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void r_status(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    (void)args;
    sk_api_get_status(a, r);
}

static void r_nodes(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    (void)args;
    sk_api_get_nodes(a, r);
}

static void r_reload(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    (void)args;
    sk_api_reload(a, r);
}

static void r_alerts(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    (void)args;
    sk_api_get_alerts(a, r);
}

static void r_jobs(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_get_jobs(a, r, args->job);
}

static void r_trigger(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_post_job(a, r, args->job, SK_API_TRIGGER);
}

static void r_pause(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_post_job(a, r, args->job, SK_API_PAUSE);
}

static void r_resume(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_post_job(a, r, args->job, SK_API_RESUME);
}

static void r_runs(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    (void)args;
    sk_api_get_runs(a, r);
}

static void r_run(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_get_run(a, r, args->id);
}

static void r_log(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_log(a, r, args->id);
}

static void r_cancel(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_post_run(a, r, args->id, false);
}

static void r_retry(sk_api_t *a, sk_http_req_t *r, const route_args_t *args)
{
    sk_api_post_run(a, r, args->id, true);
}

/* The API under /api/v1/ (docs/api.md). A pattern is up to three
 * segments; {job} matches a job name, {id} a run id. A GET route answers
 * HEAD too. */
static const struct route {
    const char *method;
    const char *pattern;
    route_fn fn;
} routes[] = {
    {"GET", "health", r_health},
    {"GET", "status", r_status},
    {"GET", "nodes", r_nodes},
    {"POST", "reload", r_reload},
    {"GET", "alerts", r_alerts},
    {"GET", "jobs", r_jobs},
    {"GET", "jobs/{job}", r_jobs},
    {"POST", "jobs/{job}/trigger", r_trigger},
    {"POST", "jobs/{job}/pause", r_pause},
    {"POST", "jobs/{job}/resume", r_resume},
    {"GET", "runs", r_runs},
    {"GET", "runs/{id}", r_run},
    {"GET", "runs/{id}/log", r_log},
    {"POST", "runs/{id}/cancel", r_cancel},
    {"POST", "runs/{id}/retry", r_retry},
};

#define MAX_SEGS 3

/* Whether pattern's shape matches the n segments (literals equal). */
static bool route_matches(const char *pattern, const char **seg, const size_t *len, size_t n)
{
    const char *ps[MAX_SEGS];
    size_t pl[MAX_SEGS];
    if (split(pattern, ps, pl, MAX_SEGS) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ps[i][0] != '{' && (pl[i] != len[i] || strncmp(ps[i], seg[i], len[i]) != 0))
            return false;
    return true;
}

/* Reads pattern's {job} and {id} segments into *args (job into name);
 * false after answering 404 or 400. */
static bool route_args(sk_http_req_t *r, const char *pattern, const char **seg, const size_t *len,
                       size_t n, char *name, size_t name_size, route_args_t *args)
{
    const char *ps[MAX_SEGS];
    size_t pl[MAX_SEGS];
    split(pattern, ps, pl, MAX_SEGS);
    for (size_t i = 0; i < n; i++) {
        if (seg_is(ps[i], pl[i], "{job}")) {
            if (len[i] == 0 || len[i] >= name_size) {
                sk_http_error(r, 404, "no job named \"%.*s\"", (int)SK_MIN(len[i], (size_t)64),
                              seg[i]);
                return false;
            }
            memcpy(name, seg[i], len[i]);
            name[len[i]] = '\0';
            args->job = name;
        } else if (seg_is(ps[i], pl[i], "{id}")) {
            if (!(args->id = sk_api_path_id(r, seg[i], len[i])))
                return false;
        }
    }
    return true;
}

static void route_api(sk_api_t *a, sk_http_req_t *r, const char *rest)
{
    const char *seg[MAX_SEGS];
    size_t len[MAX_SEGS];
    size_t n = split(rest, seg, len, MAX_SEGS);
    char name[256], allow[64] = "";
    const struct route *shape = NULL;
    route_args_t args = {0};

    /* The routes a path matches differ by method only. */
    for (size_t i = 0; i < SK_ARRAY_LEN(routes); i++) {
        const struct route *rt = &routes[i];
        if (!route_matches(rt->pattern, seg, len, n))
            continue;
        if (!shape && !route_args(r, rt->pattern, seg, len, n, name, sizeof(name), &args))
            return;
        shape = rt;
        if (strcmp(r->method, rt->method) == 0) {
            rt->fn(a, r, &args);
            return;
        }
        sk_snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
                    allow[0] ? ", " : "",
                    strcmp(rt->method, "GET") == 0 ? "GET, HEAD" : rt->method);
    }
    if (shape)
        sk_http_not_allowed(r, allow);
    else
        sk_http_error(r, 404, "no such endpoint: %.200s (see docs/api.md)", r->path);
}

void sk_api_handle(void *data, sk_http_req_t *r)
{
    sk_api_t *a = data;
    if (strncmp(r->path, "/api/v1/", 8) == 0) {
        route_api(a, r, r->path + 8);
        return;
    }
    if (strncmp(r->path, SK_HTTP_HOOKS_PREFIX, strlen(SK_HTTP_HOOKS_PREFIX)) == 0) {
        if (want(r, "POST"))
            sk_api_hook(a, r, r->path + strlen(SK_HTTP_HOOKS_PREFIX));
        return;
    }
    if (strcmp(r->path, "/metrics") == 0) {
        if (want(r, "GET"))
            sk_api_get_metrics(a, r);
        return;
    }
    const sk_http_asset_t *asset = sk_http_asset(r->path);
    if (asset) {
        if (want(r, "GET"))
            sk_http_static(r, asset->ctype, asset->data, asset->len);
        return;
    }
    sk_http_error(r, 404, "not found: %.200s", r->path);
}
