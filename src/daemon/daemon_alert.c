/*
 * Alerts from the daemon: deciding which events a job's `alert:` wants,
 * rate-limiting them per job and event, recording each delivery in the store
 * before trying it, and delivering through src/alert/ on the thread pool with
 * retries and backoff. Nothing here blocks the loop. Deliveries a crash left
 * pending are tried again at the next start.
 */
#include "daemon_int.h"
#include "../alert/alert.h"

#include <fcntl.h>

#define ALERT_IN_FLIGHT 2 /* of libuv's 4 pool threads */
#define ALERT_MAX_ATTEMPTS 8
#define ALERT_TIMEOUT_MS 20000
#define ALERT_RATE_MS (60 * 1000) /* one alert per job and event per minute */
#define TAIL_LINES 20

struct sk_alertjob {
    sk_daemon_t *d;
    int64_t id; /* its row in the store */
    char *job;
    sk_config_t *snap; /* keeps cfg alive */
    const sk_alert_cfg_t *cfg;
    sk_alert_channel_t channel;
    char *payload;
    int attempts;
    int64_t next_at;   /* wall ms: stored, for a restart */
    int64_t next_mono; /* the same moment, monotonic: what the pump waits for */
    bool in_flight;
    sk_alertjob_t *next;
};

static void alert_pump(sk_daemon_t *d);

static int event_index(unsigned event)
{
    for (int i = 0; i < 6; i++)
        if (event == (1u << i))
            return i;
    return 0;
}

/* The last lines of a run's log, without their stamps. New memory or NULL. */
static char *log_tail(const char *path)
{
    if (!path)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char buf[8192 + 1];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > 8192 ? end - 8192 : 0;
    ssize_t n = pread(fd, buf, 8192, from);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    /* Start at the TAIL_LINES-th newline from the end. */
    char *start = buf;
    int lines = 0;
    for (char *p = buf + n - 1; p > buf; p--) {
        if (*p == '\n' && p != buf + n - 1 && ++lines == TAIL_LINES) {
            start = p + 1;
            break;
        }
    }
    if (from > 0 && start == buf) {
        char *nl = strchr(buf, '\n'); /* drop a partial first line */
        start = nl ? nl + 1 : buf;
    }
    size_t cap = strlen(start) + 1, len = 0;
    char *out = sk_xmalloc(cap);
    for (char *line = start; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        /* "2026-...Z out | text" -> "text" */
        char *bar = memchr(line, '|', ll);
        char *text = line;
        if (bar && bar + 2 <= line + ll && bar - line < 40)
            text = bar + 2;
        size_t tl = ll - (size_t)(text - line);
        memcpy(out + len, text, tl);
        len += tl;
        out[len++] = '\n';
        line = nl ? nl + 1 : line + ll;
    }
    out[len] = '\0';
    return out;
}

static void free_job(sk_alertjob_t *a)
{
    sk_config_unref(a->snap);
    free(a->job);
    free(a->payload);
    free(a);
}

static void unlink_job(sk_daemon_t *d, sk_alertjob_t *a)
{
    for (sk_alertjob_t **pp = &d->alerts; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            return;
        }
    }
}

static int64_t backoff(int attempts)
{
    int64_t ms = 2000;
    for (int i = 1; i < attempts && ms < 300000; i++)
        ms *= 2;
    return SK_MIN(ms, 300000);
}

static void on_delivered(void *data, const sk_alert_result_t *res)
{
    sk_alertjob_t *a = data;
    sk_daemon_t *d = a->d;
    int64_t now = sk_now_ms();
    const char *ch = sk_alert_channel_str(a->channel);
    a->in_flight = false;
    d->alerts_in_flight--;
    a->attempts++;
    sk_alert_state_t st;
    if (res->ok) {
        st = SK_ALERTST_DELIVERED;
        sk_log(SK_LOG_INFO, "event=alert_delivered job=%s alert=%" PRId64 " channel=%s attempt=%d",
               a->job, a->id, ch, a->attempts);
    } else if (res->retryable && a->attempts < ALERT_MAX_ATTEMPTS && !d->stopping) {
        st = SK_ALERTST_PENDING;
        a->next_at = now + backoff(a->attempts);
        a->next_mono = sk_mono_ms() + backoff(a->attempts);
        sk_log(SK_LOG_WARN,
               "event=alert_retry job=%s alert=%" PRId64 " channel=%s attempt=%d "
               "retry_in_ms=%" PRId64 " error=\"%s\"",
               a->job, a->id, ch, a->attempts, a->next_at - now, res->error);
    } else {
        st = res->retryable && d->stopping ? SK_ALERTST_PENDING : SK_ALERTST_FAILED;
        sk_log(SK_LOG_ERROR,
               "event=alert_failed job=%s alert=%" PRId64 " channel=%s attempt=%d "
               "error=\"%s\"",
               a->job, a->id, ch, a->attempts, res->error);
    }
    sk_metrics_alert(d->metrics, ch,
                     st == SK_ALERTST_DELIVERED ? "delivered"
                     : st == SK_ALERTST_PENDING ? "retried"
                                                : "failed");
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->alert_update(
            d->store, a->id, st, a->attempts, st == SK_ALERTST_PENDING ? a->next_at : 0,
            st == SK_ALERTST_PENDING ? 0 : now, res->ok ? NULL : res->error, &err) < 0)
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
    if (st != SK_ALERTST_PENDING || d->stopping) {
        unlink_job(d, a);
        free_job(a);
    }
    alert_pump(d);
    sk_daemon__maybe_exit(d);
}

static void on_alert_timer(uv_timer_t *t)
{
    alert_pump(t->data);
}

/* Back-offs are waits: counted on the monotonic clock (a wall clock set back
 * must not hold a retry for an hour). */
static void alert_pump(sk_daemon_t *d)
{
    int64_t now = sk_mono_ms(), next = 0;
    for (sk_alertjob_t *a = d->alerts; a; a = a->next) {
        if (a->in_flight)
            continue;
        if (a->next_mono > now || d->alerts_in_flight >= ALERT_IN_FLIGHT || d->stopping) {
            if (!d->stopping && (!next || a->next_mono < next))
                next = SK_MAX(a->next_mono, now + 100);
            continue;
        }
        if (sk_alert_deliver(d->loop, a->cfg, a->channel, a->payload, ALERT_TIMEOUT_MS,
                             on_delivered, a) < 0) {
            int64_t wait = backoff(++a->attempts);
            a->next_at = sk_now_ms() + wait;
            a->next_mono = now + wait;
            continue;
        }
        a->in_flight = true;
        d->alerts_in_flight++;
    }
    if (next && !d->stopping)
        uv_timer_start(&d->alert_timer, on_alert_timer, (uint64_t)(next - now), 0);
}

/* snap owns cfg: it is kept for as long as the delivery may be retried. */
static void enqueue(sk_daemon_t *d, int64_t id, const char *job, sk_config_t *snap,
                    const sk_alert_cfg_t *cfg, sk_alert_channel_t ch, const char *payload,
                    int attempts, int64_t next_at)
{
    sk_alertjob_t *a = sk_xcalloc(1, sizeof(*a));
    a->d = d;
    a->id = id;
    a->job = sk_xstrdup(job);
    a->snap = sk_config_ref(snap);
    a->cfg = cfg;
    a->channel = ch;
    a->payload = sk_xstrdup(payload);
    a->attempts = attempts;
    a->next_at = next_at;
    a->next_mono = sk_daemon__mono_of(next_at);
    sk_alertjob_t **pp = &d->alerts;
    while (*pp)
        pp = &(*pp)->next;
    *pp = a;
}

void sk_daemon__alert(sk_daemon_t *d, sk_jobrt_t *j, sk_config_t *snap, const sk_alert_cfg_t *cfg,
                      unsigned event, sk_alert_event_t *ev, const char *log_path)
{
    if (!cfg || !(cfg->on & event) || d->stopping)
        return;
    int64_t now = sk_now_ms(), mono = sk_mono_ms();
    /* A step's own alert and its workflow's alert go to different people:
     * each has its own budget, a span of time: counted on the monotonic
     * clock, which the wall clock being set does not move. */
    if (j && !j->last_alert)
        j->last_alert = sk_xcalloc(12, sizeof(int64_t));
    int64_t *last = j ? j->last_alert + (ev->step ? 6 : 0) : NULL;
    int k = event_index(event);
    bool limited = last && event != SK_ALERT_RECOVERED && last[k] && mono - last[k] < ALERT_RATE_MS;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char *tail = log_tail(log_path);
    ev->event = sk_alert_event_str(event);
    ev->output_tail = tail;
    ev->hostname = host;
    char *json = sk_alert_json(ev);
    char *slack = sk_alert_slack_json(ev);
    struct {
        bool on;
        sk_alert_channel_t ch;
    } chans[] = {
        {cfg->webhook != NULL, SK_CHANNEL_WEBHOOK},
        {cfg->slack != NULL, SK_CHANNEL_SLACK},
        {cfg->has_email, SK_CHANNEL_EMAIL},
        {cfg->command != NULL, SK_CHANNEL_COMMAND},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(chans); i++) {
        if (!chans[i].on)
            continue;
        const char *payload = chans[i].ch == SK_CHANNEL_SLACK ? slack : json;
        sk_alert_rec_t rec = {0};
        rec.job = (char *)ev->job;
        rec.run_id = ev->run_id;
        rec.event = (char *)ev->event;
        rec.channel = (char *)sk_alert_channel_str(chans[i].ch);
        rec.payload = (char *)payload;
        rec.state = limited ? SK_ALERTST_DROPPED : SK_ALERTST_PENDING;
        rec.created_at = now;
        rec.next_at = now;
        rec.done_at = limited ? now : 0;
        if (limited)
            rec.last_error = "rate-limited: one alert per job and event per minute";
        sk_err_t err;
        sk_err_clear(&err);
        if (limited)
            sk_metrics_alert(d->metrics, rec.channel, "dropped");
        if (d->store->ops->alert_insert(d->store, &rec, &err) < 0) {
            sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\" note=\"alert not recorded\"",
                   err.msg);
            continue;
        }
        if (limited) {
            sk_log(SK_LOG_INFO,
                   "event=alert_dropped job=%s alert=%" PRId64 " channel=%s "
                   "reason=rate_limited",
                   ev->job, rec.id, rec.channel);
            continue;
        }
        sk_log(SK_LOG_INFO, "event=alert job=%s%s%s alert=%" PRId64 " on=%s channel=%s", ev->job,
               ev->step ? " step=" : "", ev->step ? ev->step : "", rec.id, ev->event, rec.channel);
        enqueue(d, rec.id, ev->job, snap, cfg, chans[i].ch, payload, 0, now);
    }
    if (last && !limited)
        last[k] = mono;
    free(json);
    free(slack);
    free(tail);
    alert_pump(d);
}

/* The event a final run status raises, and recovered on top of it. */
static unsigned status_event(sk_run_status_t st)
{
    switch (st) {
    case SK_RUN_SUCCEEDED:
        return SK_ALERT_SUCCESS;
    case SK_RUN_TIMED_OUT:
        return SK_ALERT_TIMEOUT;
    case SK_RUN_FAILED:
    case SK_RUN_KILLED:
    case SK_RUN_INTERRUPTED:
        return SK_ALERT_FAILURE;
    case SK_RUN_MISSED:
    case SK_RUN_SKIPPED:
        return SK_ALERT_MISSED;
    default:
        return 0;
    }
}

static bool is_bad(int st)
{
    return st == SK_RUN_FAILED || st == SK_RUN_TIMED_OUT || st == SK_RUN_KILLED ||
           st == SK_RUN_INTERRUPTED;
}

void sk_daemon__alert_outcome(sk_daemon_t *d, sk_jobrt_t *j, sk_config_t *snap,
                              const sk_alert_cfg_t *cfg, const sk_alert_outcome_t *o)
{
    if (!cfg)
        return;
    sk_alert_event_t ev = {0};
    ev.job = j->name;
    ev.step = o->step;
    ev.run_id = o->run_id;
    ev.status = sk_run_status_str(o->status);
    ev.exit_code = o->exit_code;
    ev.signal = o->signal;
    ev.attempt = o->attempt;
    ev.max_attempts = o->max_attempts;
    ev.scheduled_at = o->scheduled_at;
    ev.started_at = o->started_at;
    ev.ended_at = o->ended_at;
    ev.reason = o->reason;
    unsigned event = status_event(o->status);
    if (event)
        sk_daemon__alert(d, j, snap, cfg, event, &ev, o->log_path);
    if (o->status == SK_RUN_SUCCEEDED && is_bad(o->prev_outcome))
        sk_daemon__alert(d, j, snap, cfg, SK_ALERT_RECOVERED, &ev, o->log_path);
}

void sk_daemon__alert_missed(sk_daemon_t *d, sk_jobrt_t *j, int64_t run_id, int64_t at,
                             const char *reason)
{
    const sk_alert_cfg_t *cfg = j->cfg ? j->cfg->alert : NULL;
    /* Once per instant: a restart does not raise it again. */
    if (!cfg || !(cfg->on & SK_ALERT_MISSED) || at <= j->missed_alerted)
        return;
    j->missed_alerted = at;
    sk_job_state_t st = {.last_fire = j->last_fire,
                         .paused = j->paused,
                         .last_outcome = j->last_outcome,
                         .missed_alerted = at};
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->job_state_set(d->store, j->name, &st, &err) < 0)
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
    sk_alert_event_t ev = {0};
    ev.job = j->name;
    ev.run_id = run_id;
    ev.status = "missed";
    ev.exit_code = -1;
    ev.scheduled_at = at;
    ev.reason = reason;
    sk_daemon__alert(d, j, d->config, cfg, SK_ALERT_MISSED, &ev, NULL);
}

void sk_daemon__alert_late(sk_daemon_t *d, sk_runrt_t *r)
{
    const sk_alert_cfg_t *cfg = r->step && r->step->alert ? r->step->alert : r->cfg->alert;
    sk_alert_event_t ev = {0};
    char reason[128];
    char dur[32];
    sk_duration_format(r->cfg->expected_duration_ms, dur, sizeof(dur));
    sk_snprintf(reason, sizeof(reason), "still running after its expected duration of %s", dur);
    ev.job = r->job->name;
    ev.step = r->step ? r->step->name : NULL;
    ev.run_id = r->id;
    ev.status = "running";
    ev.exit_code = -1;
    ev.attempt = r->attempt;
    ev.scheduled_at = r->scheduled_at;
    ev.started_at = r->started_ms;
    ev.reason = reason;
    sk_daemon__alert(d, r->job, r->snap, cfg, SK_ALERT_LATE, &ev, r->log_path);
}

void sk_daemon__alerts_start(sk_daemon_t *d)
{
    uv_timer_init(d->loop, &d->alert_timer);
    d->alert_timer.data = d;
    if (d->leading)
        sk_daemon__alerts_resume(d);
}

void sk_daemon__alerts_resume(sk_daemon_t *d)
{
    sk_alert_rec_t *recs = NULL;
    size_t n = 0;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->alerts_pending(d->store, &recs, &n, &err) < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        sk_alert_rec_t *a = &recs[i];
        sk_jobrt_t *j = sk_daemon__job(d, a->job);
        const sk_alert_cfg_t *cfg = j && j->cfg ? j->cfg->alert : NULL;
        sk_alert_channel_t ch = SK_CHANNEL_WEBHOOK;
        bool known = false;
        for (int c = SK_CHANNEL_WEBHOOK; c <= SK_CHANNEL_COMMAND; c++) {
            if (strcmp(sk_alert_channel_str((sk_alert_channel_t)c), a->channel) == 0) {
                ch = (sk_alert_channel_t)c;
                known = true;
            }
        }
        bool has =
            cfg && known &&
            ((ch == SK_CHANNEL_WEBHOOK && cfg->webhook) || (ch == SK_CHANNEL_SLACK && cfg->slack) ||
             (ch == SK_CHANNEL_EMAIL && cfg->has_email) ||
             (ch == SK_CHANNEL_COMMAND && cfg->command));
        if (!has) {
            d->store->ops->alert_update(d->store, a->id, SK_ALERTST_FAILED, a->attempts, 0,
                                        sk_now_ms(), "the channel is no longer configured", NULL);
            continue;
        }
        enqueue(d, a->id, a->job, d->config, cfg, ch, a->payload, a->attempts, a->next_at);
    }
    sk_alert_recs_free(recs, n);
    alert_pump(d);
}

void sk_daemon__alerts_stop(sk_daemon_t *d)
{
    if (!d->alerts_stopped) {
        d->alerts_stopped = true;
        uv_timer_stop(&d->alert_timer);
        uv_close((uv_handle_t *)&d->alert_timer, NULL);
    }
    /* Not in flight: stay pending in the store for the next start. */
    for (sk_alertjob_t **pp = &d->alerts; *pp;) {
        sk_alertjob_t *a = *pp;
        if (a->in_flight) {
            pp = &a->next;
            continue;
        }
        *pp = a->next;
        free_job(a);
    }
}
