/*
 * What an alert says: the one-line sentence (sk_alert_text), the JSON
 * document webhooks and commands receive (sk_alert_json), the Slack form
 * (sk_alert_slack_json) and the channel names. Also the helper the rest
 * of the module shares: UTF-8 cleaning (on sk_buf_t), so that
 * whatever bytes a job printed, every payload is valid UTF-8 and valid JSON.
 * Pure functions: any thread may call them.
 */
#include "alert.h"
#include "alert_int.h"

#include "../common/log.h"

#include <jansson.h>
#include <signal.h>

/* ---- UTF-8 ---- */

void sk_alert__buf_add_utf8(sk_buf_t *b, const char *s, size_t max, bool oneline)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (max && n > max) {
        n = max;
        while (n > 0 && (p[n] & 0xc0) == 0x80) /* do not cut a character in two */
            n--;
    }
    size_t i = 0;
    sk_buf_add(b, "", 0);
    while (i < n) {
        size_t len = sk_utf8_seq(s + i, n - i);
        if (len == 0) {
            /* one U+FFFD for a lead byte and the continuation bytes that
             * follow it (a truncated character), as Unicode advises */
            sk_buf_adds(b, "\xef\xbf\xbd");
            size_t want = p[i] >= 0xf0 ? 3 : p[i] >= 0xe0 ? 2 : p[i] >= 0xc0 ? 1 : 0;
            i++;
            while (want-- && i < n && (p[i] & 0xc0) == 0x80)
                i++;
        } else if (len == 1 && oneline && (p[i] < 0x20 || p[i] == 0x7f)) {
            /* one space for a run of control characters (a CRLF, say) */
            if (b->len == 0 || b->data[b->len - 1] != ' ')
                sk_buf_add(b, " ", 1);
            i++;
        } else {
            sk_buf_add(b, s + i, len);
            i += len;
        }
    }
}

/* ---- the sentence ---- */

static const char *signal_name(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(names); i++)
        if (names[i].sig == sig)
            return names[i].name;
    return NULL;
}

/* "(exit 3)", "(killed by SIGKILL)", "(interrupted)" or nothing. */
static void add_how(sk_buf_t *b, const sk_alert_event_t *ev)
{
    if (ev->signal > 0) {
        const char *name = signal_name(ev->signal);
        if (name)
            sk_buf_printf(b, " (killed by %s)", name);
        else
            sk_buf_printf(b, " (killed by signal %d)", ev->signal);
    } else if (ev->exit_code >= 0) {
        sk_buf_printf(b, " (exit %d)", ev->exit_code);
    } else if (ev->status && !sk_streq(ev->status, "failed")) {
        sk_buf_adds(b, " (");
        sk_alert__buf_add_utf8(b, ev->status, 64, true);
        sk_buf_adds(b, ")");
    }
}

static void add_took(sk_buf_t *b, const char *word, const sk_alert_event_t *ev)
{
    if (ev->started_at > 0 && ev->ended_at >= ev->started_at) {
        char d[32];
        int64_t ms = ev->ended_at - ev->started_at;
        /* seconds are enough in a sentence, except for very short runs */
        sk_duration_format(ms >= 10000 ? ms - ms % 1000 : ms, d, sizeof(d));
        sk_buf_printf(b, " %s %s", word, d);
    }
}

static void add_text(sk_buf_t *b, const sk_alert_event_t *ev)
{
    const char *event = ev->event ? ev->event : "alert";
    sk_buf_adds(b, "sked: ");
    if (ev->step) {
        sk_buf_adds(b, "step ");
        sk_alert__buf_add_utf8(b, ev->step, 128, true);
        sk_buf_adds(b, " of ");
    }
    sk_buf_adds(b, "job ");
    sk_alert__buf_add_utf8(b, ev->job ? ev->job : "?", 128, true);

    if (sk_streq(event, "failure")) {
        sk_buf_adds(b, " failed");
        add_how(b, ev);
    } else if (sk_streq(event, "timeout")) {
        sk_buf_adds(b, " timed out");
        add_took(b, "after", ev);
    } else if (sk_streq(event, "missed")) {
        if (ev->scheduled_at > 0) {
            char when[40];
            sk_format_utc_ms(ev->scheduled_at - ev->scheduled_at % 1000, when, sizeof(when));
            /* drop the ".000": the instant of a schedule is whole seconds */
            char *dot = strchr(when, '.');
            if (dot)
                memmove(dot, "Z", 2);
            sk_buf_printf(b, " missed its run due at %s", when);
        } else {
            sk_buf_adds(b, " missed a run");
        }
    } else if (sk_streq(event, "recovered")) {
        sk_buf_adds(b, " recovered");
    } else if (sk_streq(event, "late")) {
        sk_buf_adds(b, " is running late");
    } else if (sk_streq(event, "success")) {
        sk_buf_adds(b, " succeeded");
        add_took(b, "in", ev);
    } else {
        sk_buf_adds(b, ": ");
        sk_alert__buf_add_utf8(b, event, 64, true);
    }

    if (ev->hostname && *ev->hostname) {
        sk_buf_adds(b, " on ");
        sk_alert__buf_add_utf8(b, ev->hostname, 128, true);
    }
    if (ev->run_id > 0)
        sk_buf_printf(b, ", run %" PRId64, ev->run_id);
    if (ev->max_attempts > 1)
        sk_buf_printf(b, ", attempt %d/%d", ev->attempt, ev->max_attempts);
    else if (ev->max_attempts <= 0 && ev->attempt > 1)
        sk_buf_printf(b, ", attempt %d", ev->attempt);
    if (ev->reason && *ev->reason) {
        sk_buf_adds(b, ": ");
        sk_alert__buf_add_utf8(b, ev->reason, 200, true);
    }
}

char *sk_alert_text(const sk_alert_event_t *ev)
{
    sk_buf_t b = {0};
    add_text(&b, ev);
    return sk_buf_take(&b, NULL);
}

/* ---- JSON ---- */

/* The last max bytes of s, starting on a UTF-8 character (and, when one is
 * near, just after a newline), with a marker when something was cut. */
static void add_tail(sk_buf_t *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) {
        sk_alert__buf_add_utf8(b, s, 0, false);
        return;
    }
    const char *p = s + n - max;
    const char *nl = memchr(p, '\n', SK_MIN((size_t)256, max));
    if (nl && nl[1])
        p = nl + 1;
    else
        while (((unsigned char)*p & 0xc0) == 0x80)
            p++;
    sk_buf_adds(b, "[...]\n");
    sk_alert__buf_add_utf8(b, p, 0, false);
}

static json_t *jstr(const char *s, size_t max)
{
    if (!s)
        return json_null();
    sk_buf_t b = {0};
    sk_alert__buf_add_utf8(&b, s, max, false);
    json_t *j = json_stringn(b.data, b.len);
    free(b.data);
    SK_ASSERT(j); /* cleaned above: always valid UTF-8 */
    return j;
}

static json_t *jtime(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    sk_format_utc_ms(ms, buf, sizeof(buf));
    return json_string(buf);
}

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        sk_panic("alert: out of memory writing JSON");
    /* jansson allocates with malloc (we never change its allocator): the
     * caller's free() is the right release */
    return s;
}

char *sk_alert_json(const sk_alert_event_t *ev)
{
    json_t *o = json_object();
    char *text = sk_alert_text(ev);
    sk_buf_t tail = {0};
    if (ev->output_tail)
        add_tail(&tail, ev->output_tail, SK_ALERT_OUTPUT_MAX);

    json_object_set_new(o, "job", jstr(ev->job ? ev->job : "", 0));
    json_object_set_new(o, "step", jstr(ev->step, 0));
    json_object_set_new(o, "run_id", ev->run_id > 0 ? json_integer(ev->run_id) : json_null());
    json_object_set_new(o, "event", jstr(ev->event, 0));
    json_object_set_new(o, "status", jstr(ev->status, 0));
    json_object_set_new(o, "exit_code",
                        ev->exit_code >= 0 ? json_integer(ev->exit_code) : json_null());
    json_object_set_new(o, "signal", ev->signal > 0 ? json_integer(ev->signal) : json_null());
    json_object_set_new(o, "attempt", json_integer(ev->attempt));
    json_object_set_new(o, "max_attempts",
                        ev->max_attempts > 0 ? json_integer(ev->max_attempts) : json_null());
    json_object_set_new(o, "scheduled_at", jtime(ev->scheduled_at));
    json_object_set_new(o, "started_at", jtime(ev->started_at));
    json_object_set_new(o, "ended_at", jtime(ev->ended_at));
    json_object_set_new(o, "reason", jstr(ev->reason, SK_ALERT_REASON_MAX));
    json_object_set_new(o, "output", ev->output_tail ? jstr(tail.data, 0) : json_null());
    json_object_set_new(o, "link", jstr(ev->link, 0));
    json_object_set_new(o, "host", jstr(ev->hostname, 0));
    json_object_set_new(o, "text", jstr(text, 0));
    free(text);
    free(tail.data);
    return dump(o);
}

/* Slack's mrkdwn wants &, < and > escaped (and nothing else). */
static void add_slack_escaped(sk_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            sk_buf_adds(b, "&amp;");
        else if (*s == '<')
            sk_buf_adds(b, "&lt;");
        else if (*s == '>')
            sk_buf_adds(b, "&gt;");
        else
            sk_buf_add(b, s, 1);
    }
}

/* The Slack text holds less output than the JSON: a chat message, not a log. */
#define SLACK_OUTPUT_MAX 2000

char *sk_alert_slack_json(const sk_alert_event_t *ev)
{
    sk_buf_t clean = {0}, b = {0};
    char *text = sk_alert_text(ev);
    add_slack_escaped(&b, text);
    free(text);
    if (ev->link && *ev->link) {
        /* <url|label>: a | or > inside the URL would end it early */
        sk_buf_adds(&b, "\n<");
        sk_alert__buf_add_utf8(&clean, ev->link, 2048, true);
        for (const char *p = clean.data; *p; p++) {
            if (*p == '|')
                sk_buf_adds(&b, "%7C");
            else if (*p == '>')
                sk_buf_adds(&b, "%3E");
            else if (*p == '<')
                sk_buf_adds(&b, "%3C");
            else
                sk_buf_add(&b, p, 1);
        }
        sk_buf_adds(&b, "|Open the run>");
        free(sk_buf_take(&clean, NULL));
    }
    if (ev->output_tail && *ev->output_tail) {
        add_tail(&clean, ev->output_tail, SLACK_OUTPUT_MAX);
        /* a trailing newline would show as an empty line in the block */
        while (clean.len && clean.data[clean.len - 1] == '\n')
            clean.data[--clean.len] = '\0';
        sk_buf_adds(&b, "\n```\n");
        add_slack_escaped(&b, clean.data);
        sk_buf_adds(&b, "\n```");
        free(sk_buf_take(&clean, NULL));
    }
    json_t *o = json_object();
    json_object_set_new(o, "text", jstr(b.data, 0));
    free(b.data);
    return dump(o);
}

const char *sk_alert_channel_str(sk_alert_channel_t c)
{
    switch (c) {
    case SK_CHANNEL_WEBHOOK:
        return sk_alert__webhook_ops.name;
    case SK_CHANNEL_SLACK:
        return sk_alert__slack_ops.name;
    case SK_CHANNEL_EMAIL:
        return sk_alert__email_ops.name;
    case SK_CHANNEL_COMMAND:
        return sk_alert__command_ops.name;
    }
    return "unknown";
}
