/*
 * The daemon's own log: one line per event on stderr,
 * `2026-11-27T04:05:06.123Z info event=started job=backup run=12`, or the
 * same event as one JSON object per line, and optionally a copy to syslog.
 * The sink is the one piece of global state sked allows (STYLE.md).
 */
#ifndef SK_LOG_H
#define SK_LOG_H

#include "common.h"

typedef enum { SK_LOG_DEBUG, SK_LOG_INFO, SK_LOG_WARN, SK_LOG_ERROR } sk_log_level_t;

/*
 * Writes one event: UTC timestamp, level, then the formatted key=value text.
 * Text mode writes `TS LEVEL TEXT` with line breaks in TEXT turned into
 * spaces. Either way the line goes to fd 2 in one write(2) of at most 4096
 * bytes (PIPE_BUF: atomic even on a pipe; a longer TEXT is cut, and in JSON
 * mode cut until the object fits), so lines from several threads never
 * interleave; any thread may call it. errno is preserved.
 *
 * JSON mode (sk_log_set_json) writes
 * {"ts":"2026-11-27T04:05:06.123Z","level":"info","event":"started","run":12}
 * by reading TEXT as space-separated words:
 *   - key=value, key being [A-Za-z_][A-Za-z0-9_.-]*, becomes a field. The
 *     value runs to the next white space, or is "quoted": then it may hold
 *     spaces, \" and \\ (unescaped in JSON; any other backslash is kept). It
 *     ends at the first " followed by the end of TEXT or by white space and
 *     the next key= (so an unescaped " inside a value survives); if there is
 *     none, at the first " followed by white space; if there is none, at the
 *     end of TEXT. A bare
 *     (unquoted) decimal integer that fits int64_t becomes a JSON number;
 *     everything else is a string.
 *   - other words, joined by single spaces, become the field "msg", last.
 *   - a key seen before (or "ts", "level") gets "_2", "_3", ... appended, so
 *     every key in an object is unique. After 64 fields the rest of TEXT
 *     goes into "msg".
 * Strings are escaped per RFC 8259 (quote, backslash, every control
 * character, DEL as \u007f); bytes that are not UTF-8 become \ufffd.
 */
void sk_log(sk_log_level_t level, const char *fmt, ...) SK_PRINTF(2, 3);
/* Lines below level are dropped (default SK_LOG_INFO). Any thread. */
void sk_log_set_level(sk_log_level_t level);
/* Switches between text lines (the default) and JSON lines. Any thread;
 * lines being written at that moment may come out in either format. */
void sk_log_set_json(bool on);
/*
 * Also sends every event that passes the level to syslog(3) (off by
 * default), as openlog(ident, LOG_PID, LOG_DAEMON) with debug -> LOG_DEBUG,
 * info -> LOG_INFO, warn -> LOG_WARNING, error -> LOG_ERR. The message is
 * the line without its timestamp: `info event=started job=backup` in text
 * mode, {"level":"info","event":"started","job":"backup"} in JSON mode.
 * ident (borrowed, copied; NULL means "sked") is ignored when on is false,
 * which calls closelog(3). Returns 0, or -EINVAL when ident is empty or
 * longer than 63 bytes (nothing changes then). Call it while no other thread
 * logs (at start-up): openlog keeps a pointer to the ident it copied.
 */
int sk_log_set_syslog(bool on, const char *ident);

/* Wall clock and monotonic clock in milliseconds. */
int64_t sk_now_ms(void);
int64_t sk_mono_ms(void);
/* Formats unix ms as 2026-11-27T04:05:06.123Z. */
void sk_format_utc_ms(int64_t ms, char *buf, size_t size);

#endif
