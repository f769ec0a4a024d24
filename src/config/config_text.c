/*
 * A job's trigger as text, for the CLI and the API: as written, and in
 * plain English; and which names count as secrets.
 */
#include "config.h"

#include <strings.h>

bool sk_secret_name(const char *key)
{
    static const char *const marks[] = {"TOKEN", "SECRET", "PASSWORD", "KEY"};
    size_t n = strlen(key);
    for (size_t m = 0; m < SK_ARRAY_LEN(marks); m++) {
        size_t ml = strlen(marks[m]);
        for (size_t i = 0; i + ml <= n; i++)
            if (strncasecmp(key + i, marks[m], ml) == 0)
                return true;
    }
    return false;
}

/* Appends ", and"-joined (explain) or " | "-joined (text) parts for the
 * events that start job besides its clock. */
static size_t add_events(const sk_job_cfg_t *job, bool words, char *buf, size_t size, size_t len)
{
    const char *sep = words ? "; and " : " | ";
    if (job->reboot && len < size)
        len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", len ? sep : "",
                                   words ? "once per boot of the machine" : "@reboot");
    if ((job->on & SK_ON_BOOT) && !job->reboot && len < size)
        len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", len ? sep : "",
                                   words ? "once per boot of the machine" : "on boot");
    if ((job->on & SK_ON_START) && len < size)
        len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", len ? sep : "",
                                   words ? "each time sked starts" : "on start");
    if ((job->on & SK_ON_LOGON) && len < size)
        len += (size_t)sk_snprintf(buf + len, size - len, "%s%s%s%s", len ? sep : "",
                                   words ? "when a session of " : "on logon",
                                   words ? (job->logon_user ? job->logon_user : "any user")
                                         : (job->logon_user ? " of " : ""),
                                   words ? " starts" : (job->logon_user ? job->logon_user : ""));
    if ((job->on & SK_ON_IDLE) && len < size) {
        char d[32];
        sk_duration_format(job->idle_ms, d, sizeof(d));
        len +=
            (size_t)sk_snprintf(buf + len, size - len, "%s%s%s%s", len ? sep : "",
                                words ? "when the machine has been idle for " : "on idle ", d, "");
    }
    if (job->file && len < size)
        len +=
            (size_t)sk_snprintf(buf + len, size - len, "%s%s%s%s%s", len ? sep : "",
                                words ? "when a file settles in " : "on file ", job->file->path,
                                job->file->glob ? "/" : "", job->file->glob ? job->file->glob : "");
    if ((job->on & SK_ON_WEBHOOK) && len < size)
        len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", len ? sep : "",
                                   words ? "when its webhook is called (POST /hooks/NAME)"
                                         : "on webhook");
    return SK_MIN(len, size ? size - 1 : 0);
}

void sk_job_trigger_explain(const sk_job_cfg_t *job, char *buf, size_t size)
{
    char tmp[64];
    size_t len = 0;
    buf[0] = '\0';
    switch (job->trigger) {
    case SK_TRIGGER_CRON:
        for (size_t i = 0; i < job->ncron && len < size; i++) {
            char one[512];
            sk_cron_explain(&job->crons[i], one, sizeof(one));
            len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", i ? "; and " : "", one);
        }
        break;
    case SK_TRIGGER_EVERY:
        sk_duration_format(job->every_ms, tmp, sizeof(tmp));
        len = (size_t)sk_snprintf(buf, size, "Every %s", tmp);
        break;
    case SK_TRIGGER_AT:
        sk_tz_format_iso(job->tz, job->at_ms / 1000, tmp, sizeof(tmp));
        len = (size_t)sk_snprintf(buf, size, "Once, at %s", tmp);
        break;
    case SK_TRIGGER_NONE:
    default:
        break;
    }
    len = add_events(job, true, buf, size, SK_MIN(len, size ? size - 1 : 0));
    if (len == 0)
        sk_snprintf(buf, size, "Only when triggered");
    else if (buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char)(buf[0] - 'a' + 'A');
}

void sk_job_trigger_text(const sk_job_cfg_t *job, char *buf, size_t size)
{
    char tmp[64];
    size_t len = 0;
    buf[0] = '\0';
    switch (job->trigger) {
    case SK_TRIGGER_CRON:
        for (size_t i = 0; i < job->ncron && len < size; i++)
            len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", i ? " | " : "",
                                       job->cron_texts[i]);
        break;
    case SK_TRIGGER_EVERY:
        sk_duration_format(job->every_ms, tmp, sizeof(tmp));
        len = (size_t)sk_snprintf(buf, size, "every %s", tmp);
        break;
    case SK_TRIGGER_AT:
        sk_tz_format_iso(job->tz, job->at_ms / 1000, tmp, sizeof(tmp));
        len = (size_t)sk_snprintf(buf, size, "at %s", tmp);
        break;
    case SK_TRIGGER_NONE:
    default:
        break;
    }
    len = add_events(job, false, buf, size, SK_MIN(len, size ? size - 1 : 0));
    if (len == 0)
        sk_snprintf(buf, size, "manual");
}
