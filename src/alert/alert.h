/*
 * Alerts: formatting an event about a run into each channel's payload, and
 * delivering it without blocking the loop. Delivery of one payload through
 * one channel is a blocking job (libcurl for webhook, Slack and SMTP; a
 * child process for command) run on libuv's thread pool with copied inputs;
 * its result comes back to the loop thread through a callback. Queueing,
 * retries with backoff, rate limits and the store belong to the daemon.
 */
#ifndef SK_ALERT_H
#define SK_ALERT_H

#include "../common/common.h"
#include "../config/config.h"

#include <uv.h>

/* What an alert says. Strings are borrowed for the call. */
typedef struct sk_alert_event {
    const char *job;
    const char *step;   /* NULL for a job */
    int64_t run_id;     /* 0 if none */
    const char *event;  /* "failure", "timeout", "missed", "recovered", "late", "success" */
    const char *status; /* the run's status, or NULL */
    int exit_code;      /* -1 when none */
    int signal;         /* 0 when none */
    int attempt;
    int64_t scheduled_at, started_at, ended_at; /* unix ms, 0 when unset */
    const char *reason;                         /* or NULL */
    const char *output_tail;                    /* the last 20 lines of output, or NULL */
    const char *link;                           /* a URL of the run in the web UI, or NULL */
    const char *hostname;
    int max_attempts; /* 1 + retries; 0 when unknown ("attempt 2/3" in the text) */
} sk_alert_event_t;

/* Caps on what one alert carries (bytes): the output tail keeps its end. */
#define SK_ALERT_OUTPUT_MAX (8 * 1024)
#define SK_ALERT_REASON_MAX 1024
/* The timeout used when sk_alert_deliver is given timeout_ms <= 0. */
#define SK_ALERT_DEFAULT_TIMEOUT_MS 30000

/*
 * The alert as a JSON document (new memory): {"job", "step", "run_id",
 * "event", "status", "exit_code", "signal", "attempt", "scheduled_at",
 * "started_at", "ended_at" (ISO-8601 UTC or null), "reason", "output" (the
 * tail), "link", "host", "text" (one human sentence)}. This is what webhook
 * receivers get and what command receives on stdin.
 * Also "max_attempts" (null when unknown). Absent values are null (step,
 * run_id 0, exit_code -1, signal 0, times 0). Strings are made valid UTF-8
 * (U+FFFD for broken bytes); output keeps its last SK_ALERT_OUTPUT_MAX bytes
 * and reason its first SK_ALERT_REASON_MAX. Returns new memory: free() it.
 * Pure: any thread. See docs/internals/alert.md for the schema.
 */
char *sk_alert_json(const sk_alert_event_t *ev);
/* The Slack-compatible {"text": "..."} payload for the same event: the
 * sentence, a link to the run and the end of the output in a code block,
 * escaped for Slack's mrkdwn. New memory: free() it. Any thread. */
char *sk_alert_slack_json(const sk_alert_event_t *ev);
/* The one-line human sentence ("sked: job backup failed (exit 3) on host1,
 * run 42, attempt 2/3") that "text" holds, as new memory (free() it); it
 * never holds a control character. Any thread. */
char *sk_alert_text(const sk_alert_event_t *ev);

typedef enum sk_alert_channel {
    SK_CHANNEL_WEBHOOK,
    SK_CHANNEL_SLACK,
    SK_CHANNEL_EMAIL,
    SK_CHANNEL_COMMAND,
} sk_alert_channel_t;

const char *sk_alert_channel_str(sk_alert_channel_t c);

/* The outcome of one delivery attempt. */
typedef struct sk_alert_result {
    bool ok;
    bool retryable; /* false for errors that retrying cannot fix (4xx but 408/429) */
    char error[256];
} sk_alert_result_t;

typedef void (*sk_alert_cb)(void *data, const sk_alert_result_t *res);

/*
 * Delivers payload (the JSON from sk_alert_json, or the Slack form for
 * SK_CHANNEL_SLACK) through channel of cfg, on the thread pool of loop.
 * Everything needed is copied: cfg and payload may be freed after the call.
 * timeout_ms bounds the whole attempt (connect, send, wait; a command is
 * killed after it). cb runs once on the loop thread. Returns 0, or an error
 * (then cb is never called).
 * Email: the payload's "text" becomes the subject and body (plus the output
 * tail); the password comes from cfg->email.password_env / password_file.
 * timeout_ms <= 0 means SK_ALERT_DEFAULT_TIMEOUT_MS. Errors: -EINVAL when
 * the channel is not configured in cfg (or, for email, payload has no
 * "text"), else what uv_queue_work returns. Loop thread only. An attempt
 * holds one thread of libuv's pool (UV_THREADPOOL_SIZE, default 4) for up
 * to timeout_ms, so callers bound how many they have in flight. A result's
 * error never holds the SMTP password.
 */
int sk_alert_deliver(uv_loop_t *loop, const sk_alert_cfg_t *cfg, sk_alert_channel_t channel,
                     const char *payload, int64_t timeout_ms, sk_alert_cb cb, void *data);

/* Call once at start-up (curl_global_init), before any thread exists and
 * before sk_alert_deliver, and once at exit, after every callback ran. */
void sk_alert_global_init(void);
void sk_alert_global_cleanup(void);

#endif
