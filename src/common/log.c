/*
 * The log sink and the clocks. Timestamps are formatted with our own civil
 * arithmetic (no gmtime: see banned.h).
 */
#include "log.h"

static sk_log_level_t min_level = SK_LOG_INFO;

void sk_log_set_level(sk_log_level_t level)
{
    min_level = level;
}

int64_t sk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sk_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sk_format_utc_ms(int64_t ms, char *buf, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    sk_civil_t c;
    sk_civil_from_seconds(secs, &c);
    sk_snprintf(buf, size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year, c.month, c.day,
                c.hour, c.min, c.sec, (int)(ms - secs * 1000));
}

void sk_log(sk_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < min_level)
        return;
    char line[4096], ts[40];
    sk_format_utc_ms(sk_now_ms(), ts, sizeof(ts));
    int n = sk_snprintf(line, sizeof(line), "%s %s ", ts, names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : SK_MIN((size_t)n, sizeof(line) - 2);
    /* One event, one line: a value with a line break (a child's error text)
     * must not start a line of its own. */
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    /* One write per line so that lines from a crash are never interleaved. */
    ssize_t w = write(2, line, len);
    (void)w;
}
