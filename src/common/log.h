/*
 * The daemon's own log: one line per event on stderr,
 * `2026-11-27T04:05:06.123Z info event=started job=backup run=12`.
 * The sink is the one piece of global state sked allows (STYLE.md).
 */
#ifndef SK_LOG_H
#define SK_LOG_H

#include "common.h"

typedef enum { SK_LOG_DEBUG, SK_LOG_INFO, SK_LOG_WARN, SK_LOG_ERROR } sk_log_level_t;

/* Writes one line: UTC timestamp, level, then the formatted key=value text. */
void sk_log(sk_log_level_t level, const char *fmt, ...) SK_PRINTF(2, 3);
/* Lines below level are dropped (default SK_LOG_INFO). */
void sk_log_set_level(sk_log_level_t level);

/* Wall clock and monotonic clock in milliseconds. */
int64_t sk_now_ms(void);
int64_t sk_mono_ms(void);
/* Formats unix ms as 2026-11-27T04:05:06.123Z. */
void sk_format_utc_ms(int64_t ms, char *buf, size_t size);

#endif
