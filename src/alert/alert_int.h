/*
 * Helpers shared by the files of src/alert/ only: UTF-8 cleaning into an
 * sk_buf_t, the RFC 5322 message builder (alert_mail.c), one delivery
 * job as it travels to the thread pool and back, and the table of sink
 * operations (one per channel) that alert_deliver.c dispatches through.
 */
#ifndef SK_ALERT_INT_H
#define SK_ALERT_INT_H

#include "alert.h"

/*
 * Appends s (at most max bytes of it, or all when max is 0) to b as valid
 * UTF-8: each invalid sequence becomes U+FFFD. With oneline, control
 * characters (newlines included) become spaces. Thread-safe.
 */
void sk_alert__buf_add_utf8(sk_buf_t *b, const char *s, size_t max, bool oneline);

/*
 * The addr-spec of an address as written in the configuration: the part in
 * <...> of "Name <a@b>", else the whole text, trimmed. Fails (-EINVAL) on an
 * empty address or one holding control characters or spaces. Thread-safe.
 */
int sk_alert__addr_spec(const char *addr, char *buf, size_t size);

/*
 * An RFC 5322 message (new memory, CRLF line ends, length in *ret_len):
 * Date (now_ms, UTC), From, To (the addresses as written), Subject (subject
 * as one line, RFC 2047 encoded when it is not plain ASCII), Message-ID
 * (<msgid_left@domain of from>), MIME text/plain; charset=utf-8, body in
 * 7bit when it is plain ASCII with short lines, else quoted-printable.
 * Fails (-EINVAL) on an address that cannot go in a header. Thread-safe.
 */
int sk_alert__mail_message(const char *from, char *const *to, const char *subject, const char *body,
                           int64_t now_ms, const char *msgid_left, char **ret_msg, size_t *ret_len);

/* One delivery: the copies it owns travel to a pool thread and back. */
typedef struct sk_alert__job {
    uv_work_t req; /* req.data is unused: the job is found by container */
    const struct sk_alert__sink_ops *ops;
    int64_t timeout_ms;
    char *payload; /* what is sent: HTTP body, or the command's stdin */
    size_t payload_len;
    char *url;   /* webhook, slack, smtp */
    char **argv; /* command: NULL-terminated */
    char **envp; /* command: its environment, NULL-terminated */
    /* email */
    char *mail_from;
    char **mail_to; /* NULL-terminated */
    char *username, *password_env, *password_file;
    char *subject, *body; /* the text, and text + link + output tail */

    sk_alert_cb cb;
    void *data;
    sk_alert_result_t res; /* written by the pool thread, read on the loop */
} sk_alert__job_t;

/*
 * A sink: how one channel copies what it needs from the configuration (loop
 * thread; returns 0 or -EINVAL when the channel is not configured or the
 * payload does not fit it) and how it sends (a pool thread; fills res).
 */
typedef struct sk_alert__sink_ops {
    const char *name;
    int (*prepare)(sk_alert__job_t *job, const sk_alert_cfg_t *cfg, const char *payload);
    void (*send)(sk_alert__job_t *job, sk_alert_result_t *res);
} sk_alert__sink_ops_t;

extern const sk_alert__sink_ops_t sk_alert__webhook_ops;
extern const sk_alert__sink_ops_t sk_alert__slack_ops;
extern const sk_alert__sink_ops_t sk_alert__email_ops;
extern const sk_alert__sink_ops_t sk_alert__command_ops;

/* Sets res to a failure with a formatted message (truncated to fit). */
void sk_alert__fail(sk_alert_result_t *res, bool retryable, const char *fmt, ...) SK_PRINTF(3, 4);

/* Appends ": " and the first non-empty line of text[0..len) to err (cleaned
 * to one line of valid UTF-8, capped), when it fits. */
void sk_alert__append_detail(char *err, size_t size, const char *text, size_t len);

/* A NULL-terminated copy of a NULL-terminated string array (NULL for NULL). */
char **sk_alert__strv_dup(char *const *v);
void sk_alert__strv_free(char **v);

#endif
