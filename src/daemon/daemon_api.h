/* The HTTP API's pieces, shared by daemon_api*.c only. */
#ifndef SK_DAEMON_API_H
#define SK_DAEMON_API_H

#include "daemon_int.h"
#include "../http/http.h"
#include "../metrics/metrics.h"

#include <pthread.h>

typedef struct api_call api_call_t;

/* What the loop says about this node, for the nodes list and the status:
 * its own row as it would write it now (strings new), and the settings
 * that judge the others. */
typedef struct sk_api_self {
    sk_node_t node;
    int64_t lease_ms;
    bool cluster; /* PostgreSQL: the store's rows are the truth, this node included */
} sk_api_self_t;

/*
 * The loop's state as of the end of its last turn, published by the loop
 * after every turn (a uv_check handle) and read by the connection threads
 * under snap_mu: the status and the nodes list are answered from it and
 * never wait for the loop, which a burst of thousands of fires keeps busy.
 * Every field is written in one critical section, so an answer is one
 * consistent moment (active_runs and waiting_runs add up).
 */
typedef struct sk_api_snap {
    int njobs, active, waiting;
    bool stopping, leading;
    int64_t next_due;   /* wall ms; 0: nothing due */
    char *next_job;     /* NULL: nothing due */
    sk_api_self_t self; /* self.node.seen_at is the reader's now */
} sk_api_snap_t;

typedef struct sk_api {
    sk_daemon_t *d; /* the loop thread's: connection threads never touch it */
    sk_http_server_t *server;
    sk_metrics_t *metrics; /* the daemon's (thread-safe), read by the connection threads */
    uv_async_t async;
    pthread_mutex_t mu; /* guards the call queue and `closed` */
    pthread_cond_t cv;
    api_call_t *head, *tail;
    uv_check_t check;        /* publishes snap after each loop turn */
    int nclosing;            /* handles (async, check) whose close callback is pending */
    pthread_mutex_t snap_mu; /* guards snap */
    sk_api_snap_t snap;
    int64_t start_wall, start_mono; /* the daemon's start (copies; uptime is monotonic) */
    bool closed;
    pthread_mutex_t pool_mu; /* guards the store pool */
    sk_store_t *pool[8];
    size_t npool;
    char *store_url; /* copies: the configuration may be reloaded meanwhile */
    char *state_dir;
    char *node_name;        /* this node's (fixed for the daemon's life) */
    char *config_path;      /* likewise */
    const char *store_name; /* the store's kind ("sqlite", "postgres"): static text */
    /* The token a request that came over the control socket (which needs
     * none) shows another node when its log is fetched from there: the read
     * token, else the admin token, else NULL. Wiped at stop. */
    char *proxy_token;
} sk_api_t;

/* What the loop copies for the jobs list: the live state of each job of
 * `config` (a reference), parallel to config->jobs (or one job). */
typedef struct sk_api_job {
    const sk_job_cfg_t *cfg; /* NULL: not scheduled yet (a job just added) */
    int64_t next_due;
    bool paused;
    int running, waiting;
    int last_outcome;
} sk_api_job_t;

#define SK_API_UPCOMING 5

typedef struct sk_api_jobs {
    sk_config_t *config;
    sk_api_job_t *jobs;
    size_t n;
    int64_t upcoming[SK_API_UPCOMING]; /* one job: its next instants */
    size_t nupcoming;
    int64_t anchor, now; /* one job: where `every` counts from; when copied */
} sk_api_jobs_t;

/* One job (s->n == 1): the next count instants of its schedule after the
 * moment it was copied, paused or not, as ISO strings in its zone (new). */
json_t *sk_api_next_instants(const sk_api_jobs_t *s, size_t count);

void sk_api_jobs_free(sk_api_jobs_t *s);

typedef struct sk_api_list_opts {
    const char *q; /* names containing it, or NULL */
    size_t recent; /* add each job's last N top-level runs */
    size_t offset, limit;
} sk_api_list_opts_t;

/* daemon_api_json.c: answers built on the connection threads. st may be
 * NULL (no recent runs). */
/* The jobs list as JSON text (new memory; *len set). */
char *sk_api_jobs_text(const sk_api_jobs_t *s, sk_store_t *st, const sk_api_list_opts_t *o,
                       size_t *len);
json_t *sk_api_job_json(const sk_api_jobs_t *s, sk_store_t *st, size_t recent);
json_t *sk_api_run_json(const sk_run_t *r);
/* The run with its outputs and, for a workflow run, its steps; NULL on a
 * store error (err set). */
json_t *sk_api_run_detail(sk_store_t *st, const sk_run_t *r, sk_err_t *err);
json_t *sk_api_alert_json(const sk_alert_rec_t *a);
/* One node of GET /api/v1/nodes; self: this node's name. */
json_t *sk_api_node_json(const sk_node_t *n, const char *self, int64_t lease_ms);
/* A whole number 0..max in text; -1 when it is not one. */
int sk_api_parse_uint(const char *text, int64_t max, int64_t *ret);

/* daemon_api.c */
/*
 * Runs fn(d, arg) on the loop thread for a handler of another file
 * (daemon_hook.c) and waits for it, as the API's own calls do. arg is
 * taken: free_arg(arg) runs when the call is freed, on whichever thread
 * drops it last (the loop may run fn after the wait gave up). Returns the
 * call once fn ran (read arg, then sk_api_call_release), or NULL when the
 * daemon is stopping or did not answer in time (answer 503). Connection
 * threads.
 */
api_call_t *sk_api_call(sk_api_t *a, void (*fn)(sk_daemon_t *d, void *arg), void *arg,
                        void (*free_arg)(void *arg));
/* Drops the caller's reference to a call of sk_api_call (NULL is fine). */
void sk_api_call_release(sk_api_t *a, api_call_t *c);
sk_store_t *sk_api_store_get(sk_api_t *a, sk_err_t *err);
void sk_api_store_put(sk_api_t *a, sk_store_t *st);
/* Every node row of the store (forgetting none), by name: new memory
 * (sk_nodes_free), NULL and 0 when none or when the store has no such
 * operation yet. Through st when given, else a pooled connection. */
int sk_api_nodes_read(sk_api_t *a, sk_store_t *st, sk_node_t **ret, size_t *ret_n, sk_err_t *err);

/* The request handler (an sk_http_handler_t; data is the sk_api_t): routes
 * the request, parses its path, query and body, and answers it. Connection
 * threads. */
void sk_api_handle(void *data, sk_http_req_t *r);

/*
 * For fuzzing: an API with no daemon behind it (d NULL, no uv handle).
 * Requests are handled as by a daemon that is stopping: whatever needs the
 * loop answers 503 once its request has been parsed and checked; reads go
 * to the store at store_url (read-only) and the logs under state_dir. All
 * arguments are copied. sk_api_detached_free after the server using it has
 * stopped.
 */
sk_api_t *sk_api_detached_new(const char *store_url, const char *state_dir, const char *node_name);
void sk_api_detached_free(sk_api_t *a);

/*
 * daemon_api.c: the endpoints, which daemon_api_route.c's table calls once
 * the path and method matched (docs/api.md has each). Each answers r; its
 * path's job name or run id comes checked. Connection threads.
 */
void sk_api_get_status(sk_api_t *a, sk_http_req_t *r);
void sk_api_get_nodes(sk_api_t *a, sk_http_req_t *r);
void sk_api_get_alerts(sk_api_t *a, sk_http_req_t *r);
void sk_api_get_metrics(sk_api_t *a, sk_http_req_t *r);
/* GET jobs (name NULL) or jobs/NAME. */
void sk_api_get_jobs(sk_api_t *a, sk_http_req_t *r, const char *name);
typedef enum { SK_API_TRIGGER, SK_API_PAUSE, SK_API_RESUME } sk_api_job_action_t;
/* POST jobs/NAME/trigger, /pause or /resume (its body checked here). */
void sk_api_post_job(sk_api_t *a, sk_http_req_t *r, const char *name, sk_api_job_action_t act);
void sk_api_get_runs(sk_api_t *a, sk_http_req_t *r);
void sk_api_get_run(sk_api_t *a, sk_http_req_t *r, int64_t id);
/* POST runs/ID/cancel (retry false) or runs/ID/retry. */
void sk_api_post_run(sk_api_t *a, sk_http_req_t *r, int64_t id, bool retry);
/* POST reload. */
void sk_api_reload(sk_api_t *a, sk_http_req_t *r);
/* A positive run id from a path segment; 0 after answering 400. */
int64_t sk_api_path_id(sk_http_req_t *r, const char *seg, size_t len);

/* daemon_hook.c: POST /hooks/NAME (docs/api.md, "Webhooks"): the
 * signature checked against the job's secret, the payload kept, the run
 * fired as an event. name is the path after /hooks/. Connection threads. */
void sk_api_hook(sk_api_t *a, sk_http_req_t *r, const char *name);
/* At the daemon's start: payloads that a crash left between their
 * delivery and their run's record (STATE_DIR/hooks) are removed. */
void sk_api_hooks_sweep(const char *state_dir);

/* daemon_api_log.c: GET /api/v1/runs/ID/log (whole, a range, or followed). */
void sk_api_log(sk_api_t *a, sk_http_req_t *r, int64_t id);

#endif
