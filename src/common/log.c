/*
 * The log sink and the clocks. Timestamps are formatted with our own civil
 * arithmetic (no gmtime: see banned.h). An event's text is formatted once;
 * text mode prefixes it, JSON mode reads it as key=value words and writes
 * one object (RFC 8259), and either line can also go to syslog(3). The
 * switches are atomics so that any thread may log while they change.
 */
#include "log.h"

#include <stdatomic.h>
#include <syslog.h>

#define TEXT_MAX 4096 /* an event's formatted text, with its NUL */
/* A whole line, newline included: at most PIPE_BUF (4096 on Linux), the size
 * up to which POSIX makes a write(2) to a pipe atomic, so that lines from
 * threads never interleave even when stderr is a pipe. */
#define LINE_MAX_BYTES 4096
#define MAX_FIELDS 64 /* key=value fields per JSON object; the rest is "msg" */
#define IDENT_MAX 64  /* syslog ident, with its NUL */

static atomic_int min_level = SK_LOG_INFO;
static atomic_bool json_on = false;
static atomic_bool syslog_on = false;
/* openlog(3) keeps this pointer: it lives as long as the process. */
static char syslog_ident[IDENT_MAX];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sk_log_set_level(sk_log_level_t level)
{
    atomic_store(&min_level, (int)level);
}

void sk_log_set_json(bool on)
{
    atomic_store(&json_on, on);
}

int sk_log_set_syslog(bool on, const char *ident)
{
    if (!on) {
        if (atomic_exchange(&syslog_on, false))
            closelog();
        return 0;
    }
    if (!ident)
        ident = "sked";
    size_t n = strlen(ident);
    if (n == 0 || n >= IDENT_MAX)
        return -EINVAL;
    if (atomic_exchange(&syslog_on, false))
        closelog();
    memcpy(syslog_ident, ident, n + 1);
    openlog(syslog_ident, LOG_PID, LOG_DAEMON);
    atomic_store(&syslog_on, true);
    return 0;
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

/* ---- JSON lines ---- */

/* The line being built: on the stack, on the heap once it outgrows that. */
typedef struct out {
    char *p;
    size_t len, cap;
    bool heap;
} out_t;

static void out_add(out_t *o, const char *s, size_t n)
{
    if (o->cap - o->len < n) {
        size_t cap = o->cap * 2 > o->len + n ? o->cap * 2 : o->len + n;
        if (o->heap) {
            o->p = sk_xrealloc(o->p, cap);
        } else {
            char *p = sk_xmalloc(cap);
            memcpy(p, o->p, o->len);
            o->p = p;
            o->heap = true;
        }
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void out_adds(out_t *o, const char *s)
{
    out_add(o, s, strlen(s));
}

/*
 * s[0..n) as a JSON string. With unquote, s is the inside of a quoted
 * log value: \" and \\ stand for " and \.
 */
static void json_string(out_t *o, const char *s, size_t n, bool unquote)
{
    static const char hex[] = "0123456789abcdef";
    out_add(o, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f &&
               s[run] != '"' && s[run] != '\\')
            run++;
        out_add(o, s + i, run - i);
        i = run;
        if (i == n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' && unquote && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\\')) {
            c = (unsigned char)s[i + 1];
            i++;
        }
        if (c == '"') {
            out_add(o, "\\\"", 2);
        } else if (c == '\\') {
            out_add(o, "\\\\", 2);
        } else if (c == '\n') {
            out_add(o, "\\n", 2);
        } else if (c == '\r') {
            out_add(o, "\\r", 2);
        } else if (c == '\t') {
            out_add(o, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out_add(o, u, 6);
        } else {
            size_t len = sk_utf8_seq(s + i, n - i);
            if (len == 0) {
                out_add(o, "\\ufffd", 6);
                len = 1;
            } else {
                out_add(o, s + i, len);
            }
            i += len;
            continue;
        }
        i++;
    }
    out_add(o, "\"", 1);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The length of the key in a `key=` at s[i..n), or 0 when there is none. */
static size_t key_at(const char *s, size_t n, size_t i)
{
    if (i >= n || !(is_alpha(s[i]) || s[i] == '_'))
        return 0;
    size_t j = i + 1;
    while (j < n && (is_alpha(s[j]) || is_digit(s[j]) || s[j] == '_' || s[j] == '.' || s[j] == '-'))
        j++;
    return j < n && s[j] == '=' ? j - i : 0;
}

/* Whether a " just before s[p] ends a quoted value: at the end of the text,
 * or before white space that leads to the end or to the next key=. */
static bool closes_value(const char *s, size_t n, size_t p)
{
    if (p == n)
        return true;
    if (!is_space(s[p]))
        return false;
    while (p < n && is_space(s[p]))
        p++;
    return p == n || key_at(s, n, p) > 0;
}

/* Whether a bare value is a decimal integer that fits int64_t, written the
 * way JSON writes numbers (no leading zeros, no plus sign). */
static bool is_int64(const char *v, size_t n)
{
    size_t i = 0;
    bool neg = n > 0 && v[0] == '-';
    if (neg)
        i = 1;
    if (i == n)
        return false;
    if (v[i] == '0')
        return i + 1 == n && !neg;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, acc = 0;
    for (; i < n; i++) {
        if (!is_digit(v[i]))
            return false;
        unsigned d = (unsigned)(v[i] - '0');
        if (acc > (limit - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    return true;
}

typedef struct field {
    const char *key;
    size_t key_len;
    unsigned suffix; /* 0, or the N of a "_N" that makes the key unique */
    const char *val; /* NULL for the two fixed fields: written by the caller */
    size_t val_len;
    bool string;  /* never a number: the value was quoted, or is the "msg" words */
    bool unquote; /* \" and \\ in val stand for " and \ */
} field_t;

/* The field's final key (key + "_N") has this char at index i. */
static char key_char(const field_t *f, const char *suf, size_t i)
{
    return i < f->key_len ? f->key[i] : suf[i - f->key_len];
}

static size_t suffix_text(const field_t *f, char *buf, size_t size)
{
    if (!f->suffix) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)sk_snprintf(buf, size, "_%u", f->suffix);
}

static bool same_key(const field_t *a, const field_t *b)
{
    char sa[16], sb[16];
    size_t la = a->key_len + suffix_text(a, sa, sizeof(sa));
    size_t lb = b->key_len + suffix_text(b, sb, sizeof(sb));
    if (la != lb)
        return false;
    for (size_t i = 0; i < la; i++)
        if (key_char(a, sa, i) != key_char(b, sb, i))
            return false;
    return true;
}

/* Gives f[i] the smallest suffix that makes its key differ from f[0..i). */
static void make_unique(field_t *f, size_t i)
{
    for (;;) {
        size_t j = 0;
        while (j < i && !same_key(&f[j], &f[i]))
            j++;
        if (j == i)
            return;
        f[i].suffix = f[i].suffix ? f[i].suffix + 1 : 2;
    }
}

/*
 * Splits text into fields f[first..] (at most MAX_FIELDS) and the other
 * words, which go into rest (joined by single spaces; rest has room for n
 * bytes). Returns the new number of fields; *ret_rest_len is set.
 */
static size_t parse_fields(const char *s, size_t n, field_t *f, size_t first, char *rest,
                           size_t *ret_rest_len)
{
    size_t nf = first, rl = 0, i = 0;
    while (i < n) {
        while (i < n && is_space(s[i]))
            i++;
        if (i == n)
            break;
        size_t klen = nf - first < MAX_FIELDS ? key_at(s, n, i) : 0;
        if (klen) {
            field_t *fl = &f[nf++];
            memset(fl, 0, sizeof(*fl));
            fl->key = s + i;
            fl->key_len = klen;
            size_t v = i + klen + 1;
            if (v < n && s[v] == '"') {
                /* The value ends at the first " followed by the end or
                 * by the next key=; failing that, at the first " followed
                 * by white space (free words follow); failing that, it is
                 * unterminated and runs to the end of the text. */
                size_t k = v + 1, weak = n;
                while (k < n) {
                    if (s[k] == '\\' && k + 1 < n && (s[k + 1] == '"' || s[k + 1] == '\\')) {
                        k += 2;
                        continue;
                    }
                    if (s[k] == '"') {
                        if (closes_value(s, n, k + 1))
                            break;
                        if (weak == n && is_space(s[k + 1]))
                            weak = k;
                    }
                    k++;
                }
                if (k == n)
                    k = weak;
                fl->val = s + v + 1;
                fl->val_len = k - (v + 1);
                fl->string = true;
                fl->unquote = true;
                i = k < n ? k + 1 : n;
            } else {
                size_t k = v;
                while (k < n && !is_space(s[k]))
                    k++;
                fl->val = s + v;
                fl->val_len = k - v;
                i = k;
            }
            continue;
        }
        size_t k = i;
        while (k < n && !is_space(s[k]))
            k++;
        if (rl)
            rest[rl++] = ' ';
        memcpy(rest + rl, s + i, k - i);
        rl += k - i;
        i = k;
    }
    *ret_rest_len = rl;
    return nf;
}

/*
 * Builds {"ts":...,"level":...,fields...}\n into o from the event's text.
 * *ret_after_ts is the offset just after the "ts" member and its comma, for
 * the syslog copy, which leaves the timestamp out.
 */
static void json_line(out_t *o, const char *ts, const char *level, const char *text, size_t n,
                      size_t *ret_after_ts)
{
    field_t f[MAX_FIELDS + 3];
    char rest[TEXT_MAX];
    f[0] = (field_t){.key = "ts", .key_len = 2};
    f[1] = (field_t){.key = "level", .key_len = 5};
    size_t rl = 0;
    size_t nf = parse_fields(text, n, f, 2, rest, &rl);
    if (rl)
        f[nf++] = (field_t){.key = "msg", .key_len = 3, .val = rest, .val_len = rl, .string = true};
    for (size_t i = 2; i < nf; i++)
        make_unique(f, i);

    out_adds(o, "{\"ts\":\"");
    out_adds(o, ts);
    out_adds(o, "\",");
    *ret_after_ts = o->len;
    out_adds(o, "\"level\":\"");
    out_adds(o, level);
    out_add(o, "\"", 1);
    for (size_t i = 2; i < nf; i++) {
        char suf[16];
        size_t sl = suffix_text(&f[i], suf, sizeof(suf));
        out_add(o, ",\"", 2);
        out_add(o, f[i].key, f[i].key_len); /* key characters need no escaping */
        out_add(o, suf, sl);
        out_add(o, "\":", 2);
        if (!f[i].string && is_int64(f[i].val, f[i].val_len))
            out_add(o, f[i].val, f[i].val_len);
        else
            json_string(o, f[i].val, f[i].val_len, f[i].unquote);
    }
    out_add(o, "}\n", 2);
}

/* ---- the sink ---- */

static void write_line(const char *p, size_t len)
{
    /* One write per line so that lines from a crash are never interleaved. */
    ssize_t w;
    do {
        w = write(2, p, len);
    } while (w < 0 && errno == EINTR);
}

static int syslog_priority(sk_log_level_t level)
{
    switch (level) {
    case SK_LOG_DEBUG:
        return LOG_DEBUG;
    case SK_LOG_INFO:
        return LOG_INFO;
    case SK_LOG_WARN:
        return LOG_WARNING;
    default:
        return LOG_ERR;
    }
}

void sk_log(sk_log_level_t level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&min_level))
        return;
    if ((int)level < SK_LOG_DEBUG || level > SK_LOG_ERROR)
        level = SK_LOG_ERROR;
    int saved_errno = errno;
    char text[TEXT_MAX], ts[40];
    sk_format_utc_ms(sk_now_ms(), ts, sizeof(ts));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    size_t tlen = n < 0 ? 0 : SK_MIN((size_t)n, sizeof(text) - 1);
    bool to_syslog = atomic_load(&syslog_on);

    if (atomic_load(&json_on)) {
        char stackbuf[8192];
        out_t o = {stackbuf, 0, sizeof(stackbuf), false};
        size_t after_ts = 0;
        json_line(&o, ts, level_names[level], text, tlen, &after_ts);
        /* Too long (escapes can make it six times the text): cut the text
         * in proportion and build again. Ends: tlen shrinks every time, and
         * an empty text makes a short line. */
        while (o.len > LINE_MAX_BYTES && tlen > 0) {
            size_t keep = (size_t)((double)tlen * (LINE_MAX_BYTES - 64) / (double)o.len);
            tlen = keep < tlen ? keep : tlen - 1;
            o.len = 0;
            json_line(&o, ts, level_names[level], text, tlen, &after_ts);
        }
        write_line(o.p, o.len);
        if (to_syslog)
            syslog(syslog_priority(level), "{%.*s", (int)(o.len - after_ts - 1), o.p + after_ts);
        if (o.heap)
            free(o.p);
    } else {
        char line[LINE_MAX_BYTES];
        int pre = sk_snprintf(line, sizeof(line), "%s %s ", ts, level_names[level]);
        size_t len = pre < 0 ? 0 : (size_t)pre;
        tlen = SK_MIN(tlen, sizeof(line) - 1 - len);
        memcpy(line + len, text, tlen);
        /* One event, one line: a value with a line break (a child's error
         * text) must not start a line of its own. */
        for (size_t i = len; i < len + tlen; i++)
            if (line[i] == '\n' || line[i] == '\r')
                line[i] = ' ';
        len += tlen;
        line[len++] = '\n';
        write_line(line, len);
        if (to_syslog) {
            size_t skip = strlen(ts) + 1;
            syslog(syslog_priority(level), "%.*s", (int)(len - skip - 1), line + skip);
        }
    }
    errno = saved_errno;
}
