/*
 * The API's JSON documents (docs/api.md), built on the connection threads
 * from a snapshot of the configuration and rows of the store. Secrets are
 * redacted here: env values from env_file or secrets: or named like
 * secrets, webhook and Slack URLs (they carry their own credentials), mail
 * passwords, and the password of any URL in an env value or a command.
 */
#include "daemon_api.h"

#define REDACTED "[redacted]"

void sk_api_jobs_free(sk_api_jobs_t *s)
{
    if (!s)
        return;
    sk_config_unref(s->config);
    free(s->jobs);
    free(s);
}

int sk_api_parse_uint(const char *text, int64_t max, int64_t *ret)
{
    int64_t v = 0;
    if (!text[0] || strlen(text) > 18)
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > max)
        return -1;
    *ret = v;
    return 0;
}

static json_t *iso_in(const sk_tz_t *tz, int64_t ms)
{
    if (!ms)
        return json_null();
    char buf[64];
    sk_tz_format_iso_ms(tz, ms, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *iso(int64_t ms)
{
    return iso_in(sk_tz_utc(), ms);
}

static json_t *seconds(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *strv(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *sk_api_run_json(const sk_run_t *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "job", json_string(r->job));
    json_object_set_new(o, "step", str_or_null(r->step));
    json_object_set_new(o, "parent_id", r->parent_id ? json_integer(r->parent_id) : json_null());
    json_object_set_new(o, "status", json_string(sk_run_status_str(r->status)));
    json_object_set_new(o, "attempt", json_integer(r->attempt));
    json_object_set_new(o, "trigger", json_string(sk_trigger_str(r->trigger)));
    json_object_set_new(o, "event", str_or_null(r->event));
    json_object_set_new(o, "scheduled_at", iso(r->scheduled_at));
    json_object_set_new(o, "queued_at", iso(r->queued_at));
    json_object_set_new(o, "started_at", iso(r->started_at));
    json_object_set_new(o, "ended_at", iso(r->ended_at));
    json_object_set_new(o, "duration",
                        r->started_at && r->ended_at >= r->started_at
                            ? seconds(r->ended_at - r->started_at)
                            : json_null());
    json_object_set_new(o, "exit_code",
                        r->exit_code >= 0 ? json_integer(r->exit_code) : json_null());
    json_object_set_new(o, "signal", r->signal ? json_integer(r->signal) : json_null());
    json_object_set_new(o, "pid", r->pid ? json_integer(r->pid) : json_null());
    json_object_set_new(o, "reason", str_or_null(r->reason));
    json_t *params = NULL;
    if (r->params) {
        json_error_t jerr;
        params = json_loads(r->params, 0, &jerr);
    }
    json_object_set_new(o, "params", params ? params : json_null());
    json_object_set_new(o, "has_log", json_boolean(r->log_path != NULL));
    json_object_set_new(o, "node", r->node && r->node[0] ? json_string(r->node) : json_null());
    return o;
}

json_t *sk_api_run_detail(sk_store_t *st, const sk_run_t *r, sk_err_t *err)
{
    json_t *o = sk_api_run_json(r);
    sk_output_t *outs = NULL;
    size_t nout = 0;
    if (st->ops->outputs_get(st, r->id, &outs, &nout, err) < 0) {
        json_decref(o);
        return NULL;
    }
    json_t *oo = json_object();
    for (size_t i = 0; i < nout; i++)
        json_object_set_new(oo, outs[i].key, json_string(outs[i].value));
    sk_outputs_free(outs, nout);
    json_object_set_new(o, "outputs", oo);
    if (!r->step) {
        sk_run_filter_t f = {.parent_id = r->id, .limit = SK_STORE_QUERY_MAX};
        sk_run_t *steps = NULL;
        size_t n = 0;
        if (st->ops->runs_query(st, &f, &steps, &n, err) < 0) {
            json_decref(o);
            return NULL;
        }
        if (n) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, sk_api_run_json(&steps[i]));
            json_object_set_new(o, "steps", arr);
        }
        sk_runs_free(steps, n);
    }
    return o;
}

json_t *sk_api_alert_json(const sk_alert_rec_t *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(a->id));
    json_object_set_new(o, "job", json_string(a->job));
    json_object_set_new(o, "run_id", a->run_id ? json_integer(a->run_id) : json_null());
    json_object_set_new(o, "event", json_string(a->event));
    json_object_set_new(o, "channel", json_string(a->channel));
    json_object_set_new(o, "state", json_string(sk_alert_state_str(a->state)));
    json_object_set_new(o, "attempts", json_integer(a->attempts));
    json_object_set_new(o, "created_at", iso(a->created_at));
    json_object_set_new(o, "done_at", iso(a->done_at));
    json_object_set_new(o, "last_error", str_or_null(a->last_error));
    return o;
}

json_t *sk_api_node_json(const sk_node_t *n, const char *self, int64_t lease_ms)
{
    json_t *o = json_object(), *labels = json_array();
    for (const char *p = n->labels ? n->labels : ""; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len)
            json_array_append_new(labels, json_stringn(p, len));
        p += len + (e ? 1 : 0);
    }
    json_object_set_new(o, "name", json_string(n->name ? n->name : ""));
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "max_parallel", json_integer(n->max_parallel));
    json_object_set_new(o, "api", n->api && n->api[0] ? json_string(n->api) : json_null());
    json_object_set_new(o, "pid", n->pid ? json_integer(n->pid) : json_null());
    json_object_set_new(o, "version", str_or_null(n->version));
    json_object_set_new(o, "started_at", iso(n->started_at));
    json_object_set_new(o, "seen_at", iso(n->seen_at));
    json_object_set_new(o, "age_ms", json_integer(n->age_ms));
    json_object_set_new(o, "alive", json_boolean(n->age_ms <= lease_ms));
    json_object_set_new(o, "leader", json_boolean(n->leader));
    json_object_set_new(o, "running", json_integer(n->running));
    json_object_set_new(o, "self", json_boolean(self && n->name && strcmp(n->name, self) == 0));
    return o;
}

/* ---- job definitions ---- */

/* A value of a definition as shown: the password of a URL in it masked. */
static json_t *shown(const char *s)
{
    char *m = sk_url_mask(s ? s : "");
    json_t *j = json_string(m);
    free(m);
    return j;
}

static json_t *shown_strv(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, shown(v[i]));
    return a;
}

static json_t *env_json(const sk_body_t *b, size_t nsecret)
{
    json_t *o = json_object();
    for (size_t i = 0; i < b->nenv; i++) {
        bool secret = i < nsecret || sk_secret_name(b->env[i].key);
        json_object_set_new(o, b->env[i].key,
                            secret ? json_string(REDACTED) : shown(b->env[i].value));
    }
    return o;
}

static void body_json(json_t *o, const sk_body_t *b, size_t nsecret)
{
    switch (b->kind) {
    case SK_BODY_PYTHON:
        json_object_set_new(o, "python", json_string(b->target ? b->target : ""));
        break;
    case SK_BODY_MODULE:
        json_object_set_new(o, "module", json_string(b->target ? b->target : ""));
        break;
    case SK_BODY_SHELL:
        json_object_set_new(o, "shell", shown(b->target));
        break;
    case SK_BODY_RUN:
    default:
        json_object_set_new(o, "run", shown_strv(b->run_argv));
        break;
    }
    if (b->args && b->args[0])
        json_object_set_new(o, "args", shown_strv(b->args));
    if (b->venv)
        json_object_set_new(o, "venv", json_string(b->venv));
    if (b->cwd)
        json_object_set_new(o, "cwd", json_string(b->cwd));
    if (b->nenv)
        json_object_set_new(o, "env", env_json(b, nsecret));
}

static json_t *alert_json(const sk_alert_cfg_t *a)
{
    json_t *o = json_object(), *on = json_array();
#define SK_X(e, v, s)                                                                              \
    if (a->on & (v))                                                                               \
        json_array_append_new(on, json_string(s));
    SK_ALERT_EVENTS(SK_X)
#undef SK_X
    json_object_set_new(o, "on", on);
    if (a->webhook)
        json_object_set_new(o, "webhook", json_string(REDACTED));
    if (a->slack)
        json_object_set_new(o, "slack", json_string(REDACTED));
    if (a->command)
        json_object_set_new(o, "command", strv(a->command));
    if (a->has_email)
        json_object_set_new(o, "email",
                            json_pack("{s:s, s:s?, s:o}", "smtp_url", a->email.smtp_url, "from",
                                      a->email.from, "to", strv(a->email.to)));
    return o;
}

static json_t *definition(const sk_job_cfg_t *c)
{
    json_t *o = json_object();
    char tmp[64];
    switch (c->trigger) {
    case SK_TRIGGER_CRON: {
        json_t *arr = strv(c->cron_texts);
        if (c->reboot)
            json_array_append_new(arr, json_string("@reboot"));
        json_object_set_new(o, "schedule", arr);
        break;
    }
    case SK_TRIGGER_EVERY:
        sk_duration_format(c->every_ms, tmp, sizeof(tmp));
        json_object_set_new(o, "every", json_string(tmp));
        if (c->start_ms)
            json_object_set_new(o, "start", iso_in(c->tz, c->start_ms));
        break;
    case SK_TRIGGER_AT:
        json_object_set_new(o, "at", iso_in(c->tz, c->at_ms));
        break;
    case SK_TRIGGER_NONE:
    default:
        if (c->reboot)
            json_object_set_new(o, "schedule", json_pack("[s]", "@reboot"));
        break;
    }
    if (c->on) {
        json_t *on = json_array();
        if (c->on & SK_ON_START)
            json_array_append_new(on, json_string("start"));
        if (c->on & SK_ON_BOOT)
            json_array_append_new(on, json_string("boot"));
        if (c->on & SK_ON_LOGON)
            json_array_append_new(on, c->logon_user
                                          ? json_pack("{s:{s:s}}", "logon", "user", c->logon_user)
                                          : json_string("logon"));
        if (c->on & SK_ON_IDLE)
            json_array_append_new(on, json_pack("{s:{s:f, s:i}}", "idle", "for",
                                                (double)c->idle_ms / 1000.0, "cpu", c->idle_cpu));
        if (c->file)
            json_array_append_new(on, json_pack("{s:{s:s, s:s?, s:f, s:b, s:b}}", "file", "path",
                                                c->file->path, "glob", c->file->glob, "settle",
                                                (double)c->file->settle_ms / 1000.0, "recursive",
                                                c->file->recursive, "existing", c->file->existing));
        if (c->on & SK_ON_WEBHOOK) {
            char path[300];
            sk_snprintf(path, sizeof(path), "/hooks/%s", c->name);
            json_array_append_new(on, json_pack("{s:{s:s}}", "webhook", "path", path));
        }
        json_object_set_new(o, "on", on);
    }
    if (!c->nsteps)
        body_json(o, &c->body, c->nsecret_env);
    if (c->env_file)
        json_object_set_new(o, "env_file", json_string(c->env_file));
    json_object_set_new(o, "timezone", json_string(sk_tz_name(c->tz)));
    json_object_set_new(o, "timeout", c->timeout_ms ? seconds(c->timeout_ms) : json_null());
    json_object_set_new(o, "kill_grace", seconds(c->kill_grace_ms));
    json_object_set_new(o, "retries", json_integer(c->retries));
    json_object_set_new(o, "retry_delay", seconds(c->retry_delay_ms));
    json_object_set_new(o, "overlap", json_string(sk_overlap_str(c->overlap)));
    json_object_set_new(o, "catchup", json_string(sk_catchup_str(c->catchup)));
    json_object_set_new(o, "on_interrupt", json_string(sk_on_interrupt_str(c->on_interrupt)));
    json_object_set_new(o, "misfire_grace",
                        c->misfire_grace_ms >= 0 ? seconds(c->misfire_grace_ms) : json_null());
    json_object_set_new(o, "keep_runs", json_integer(c->keep_runs));
    json_object_set_new(o, "keep_days",
                        c->keep_days_ms ? json_real((double)c->keep_days_ms / 86400000.0)
                                        : json_null());
    json_object_set_new(o, "max_output", json_integer(c->max_output));
    json_object_set_new(o, "enabled", json_boolean(c->enabled));
    if (c->jitter_ms)
        json_object_set_new(o, "jitter", seconds(c->jitter_ms));
    if (c->expected_duration_ms)
        json_object_set_new(o, "expected_duration", seconds(c->expected_duration_ms));
    if (c->nparams) {
        json_t *p = json_object();
        for (size_t i = 0; i < c->nparams; i++)
            json_object_set_new(p, c->params[i].key, json_string(c->params[i].value));
        json_object_set_new(o, "params", p);
    }
    if (c->nafter) {
        json_object_set_new(o, "after", strv(c->after));
        json_object_set_new(o, "after_when", json_string(sk_when_str(c->after_when)));
    }
    if (c->alert)
        json_object_set_new(o, "alert", alert_json(c->alert));
    if (c->nsteps)
        json_object_set_new(o, "max_parallel", json_integer(c->step_parallel));
    return o;
}

static json_t *steps_json(const sk_job_cfg_t *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < c->nsteps; i++) {
        const sk_step_cfg_t *s = &c->steps[i];
        json_t *needs = json_array();
        for (size_t k = 0; k < s->nneeds; k++)
            json_array_append_new(needs, json_string(c->steps[s->needs[k]].name));
        json_t *o = json_pack("{s:s, s:o, s:s}", "name", s->name, "needs", needs, "when",
                              sk_when_str(s->when));
        body_json(o, &s->body, c->nsecret_env);
        json_array_append_new(arr, o);
    }
    return arr;
}

static void iso_buf(sk_buf_t *b, const sk_tz_t *tz, int64_t ms)
{
    if (!ms) {
        sk_buf_add(b, "null", 4);
        return;
    }
    char buf[64];
    sk_tz_format_iso_ms(tz, ms, buf, sizeof(buf));
    sk_buf_json_str(b, buf);
}

static void duration_buf(sk_buf_t *b, const sk_run_t *r)
{
    if (r->started_at && r->ended_at >= r->started_at)
        sk_buf_printf(b, "%.3f", (double)(r->ended_at - r->started_at) / 1000.0);
    else
        sk_buf_add(b, "null", 4);
}

/* The recent top-level runs of job, newest first. */
static void recent_buf(sk_buf_t *b, sk_store_t *st, const char *job, size_t n)
{
    sk_run_filter_t f = {.job = job, .limit = n, .top_level = true};
    sk_run_t *runs = NULL;
    size_t nr = 0;
    sk_err_t err;
    sk_err_clear(&err);
    sk_buf_add(b, "[", 1);
    if (st && st->ops->runs_query(st, &f, &runs, &nr, &err) == 0) {
        for (size_t i = 0; i < nr; i++) {
            const sk_run_t *r = &runs[i];
            sk_buf_printf(b,
                          "%s{\"id\":%" PRId64 ",\"status\":\"%s\",\"started_at\":", i ? "," : "",
                          r->id, sk_run_status_str(r->status));
            iso_buf(b, sk_tz_utc(), r->started_at);
            sk_buf_adds(b, ",\"duration\":");
            duration_buf(b, r);
            sk_buf_add(b, "}", 1);
        }
        sk_runs_free(runs, nr);
    }
    sk_buf_add(b, "]", 1);
}

/* One job of the list, as JSON text written straight into b (the list of
 * 100,000 jobs is built without a tree). */
static void item_buf(sk_buf_t *b, const sk_api_job_t *j, sk_store_t *st, size_t recent)
{
    const sk_job_cfg_t *c = j->cfg;
    char trig[1024], text[2048];
    sk_job_trigger_text(c, trig, sizeof(trig));
    sk_job_trigger_explain(c, text, sizeof(text));
    sk_buf_adds(b, "{\"name\":");
    sk_buf_json_str(b, c->name);
    sk_buf_adds(b, c->nsteps ? ",\"kind\":\"workflow\",\"trigger\":"
                             : ",\"kind\":\"job\",\"trigger\":");
    sk_buf_json_str(b, trig);
    sk_buf_adds(b, ",\"trigger_text\":");
    sk_buf_json_str(b, text);
    sk_buf_adds(b, ",\"timezone\":");
    sk_buf_json_str(b, sk_tz_name(c->tz));
    sk_buf_adds(b, ",\"next\":");
    iso_buf(b, c->tz, j->next_due);
    sk_buf_adds(b, ",\"last_status\":");
    if (j->last_outcome >= 0)
        sk_buf_printf(b, "\"%s\"", sk_run_status_str((sk_run_status_t)j->last_outcome));
    else
        sk_buf_add(b, "null", 4);
    sk_buf_printf(b, ",\"paused\":%s,\"enabled\":%s,\"running\":%d,\"waiting\":%d",
                  j->paused ? "true" : "false", c->enabled ? "true" : "false", j->running,
                  j->waiting);
    if (recent) {
        sk_buf_adds(b, ",\"recent\":");
        recent_buf(b, st, c->name, recent);
    }
    sk_buf_add(b, "}", 1);
}

static json_t *item(const sk_api_job_t *j, sk_store_t *st, size_t recent)
{
    sk_buf_t b = {0};
    item_buf(&b, j, st, recent);
    json_error_t jerr;
    json_t *o = json_loadb(b.data, b.len, 0, &jerr);
    free(b.data);
    return o ? o : json_object();
}

char *sk_api_jobs_text(const sk_api_jobs_t *s, sk_store_t *st, const sk_api_list_opts_t *o,
                       size_t *len)
{
    sk_buf_t b = {0};
    size_t total = 0, shown = 0;
    sk_buf_adds(&b, "{\"jobs\":[");
    for (size_t i = 0; i < s->n; i++) {
        const sk_api_job_t *j = &s->jobs[i];
        if (!j->cfg || (o->q && o->q[0] && !strstr(j->cfg->name, o->q)))
            continue;
        if (total >= o->offset && total - o->offset < o->limit) {
            if (shown++)
                sk_buf_add(&b, ",", 1);
            item_buf(&b, j, st, o->recent);
        }
        total++;
    }
    sk_buf_printf(&b, "],\"total\":%zu}\n", total);
    return sk_buf_take(&b, len);
}

json_t *sk_api_job_json(const sk_api_jobs_t *s, sk_store_t *st, size_t recent)
{
    const sk_api_job_t *j = &s->jobs[0];
    json_t *o = item(j, st, recent);
    json_object_set_new(o, "definition", definition(j->cfg));
    json_t *up = json_array();
    for (size_t i = 0; i < s->nupcoming; i++)
        json_array_append_new(up, iso_in(j->cfg->tz, s->upcoming[i]));
    json_object_set_new(o, "upcoming", up);
    if (j->cfg->nsteps)
        json_object_set_new(o, "steps", steps_json(j->cfg));
    return o;
}

json_t *sk_api_next_instants(const sk_api_jobs_t *s, size_t count)
{
    const sk_job_cfg_t *c = s->jobs[0].cfg;
    json_t *arr = json_array();
    int64_t t = s->now, next;
    for (size_t i = 0; i < count && sk_sched_next(c, s->anchor, t, &next) == 0; i++) {
        json_array_append_new(arr, iso_in(c->tz, next));
        t = next;
    }
    return arr;
}
