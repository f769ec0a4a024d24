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
        if (job->reboot && len < size)
            sk_snprintf(buf + len, size - len, "%swhen sked starts", len ? "; and " : "");
        break;
    case SK_TRIGGER_EVERY:
        sk_duration_format(job->every_ms, tmp, sizeof(tmp));
        sk_snprintf(buf, size, "Every %s", tmp);
        break;
    case SK_TRIGGER_AT:
        sk_tz_format_iso(job->tz, job->at_ms / 1000, tmp, sizeof(tmp));
        sk_snprintf(buf, size, "Once, at %s", tmp);
        break;
    case SK_TRIGGER_NONE:
    default:
        sk_snprintf(buf, size, job->reboot ? "When sked starts" : "Only when triggered");
        break;
    }
}

void sk_job_trigger_text(const sk_job_cfg_t *job, char *buf, size_t size)
{
    char tmp[64];
    switch (job->trigger) {
    case SK_TRIGGER_CRON: {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < job->ncron && len < size; i++)
            len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", i ? " | " : "",
                                       job->cron_texts[i]);
        if (job->reboot && len < size)
            sk_snprintf(buf + len, size - len, "%s@reboot", len ? " | " : "");
        break;
    }
    case SK_TRIGGER_EVERY:
        sk_duration_format(job->every_ms, tmp, sizeof(tmp));
        sk_snprintf(buf, size, "every %s", tmp);
        break;
    case SK_TRIGGER_AT:
        sk_tz_format_iso(job->tz, job->at_ms / 1000, tmp, sizeof(tmp));
        sk_snprintf(buf, size, "at %s", tmp);
        break;
    case SK_TRIGGER_NONE:
    default:
        sk_snprintf(buf, size, job->reboot ? "@reboot" : "manual");
        break;
    }
}
