/*
 * The e-mail an alert becomes: an RFC 5322 message with Date, From, To,
 * Subject, Message-ID and a MIME text/plain; charset=utf-8 body, CRLF line
 * ends throughout. Headers stay ASCII (RFC 2047 encoded-words for a subject
 * that is not); the body is 7bit when it can be, else quoted-printable
 * (RFC 2045), so that no line breaks SMTP's 998-byte limit. Dot-stuffing is
 * libcurl's job. Pure functions: the pool threads call them.
 */
#include "alert.h"
#include "alert_int.h"

/* RFC 5322 2.1.1: lines SHOULD stay under 78 characters, MUST under 998. */
#define LINE_MAX_7BIT 998
#define QP_LINE 76
/* An encoded-word is at most 75 characters and a line that holds one at most
 * 76 (RFC 2047 2): 39 bytes make 52 of base64, 64 with =?utf-8?B?...?=. */
#define EW_CHUNK 39
/* A subject longer than this is cut (at a character boundary). */
#define SUBJECT_MAX 900

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int sk_alert__addr_spec(const char *addr, char *buf, size_t size)
{
    if (!addr || has_ctl(addr))
        return -EINVAL;
    const char *lt = strrchr(addr, '<');
    const char *start = addr, *end = addr + strlen(addr);
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt)
            return -EINVAL;
        start = lt + 1;
        end = gt;
    }
    while (start < end && *start == ' ')
        start++;
    while (end > start && end[-1] == ' ')
        end--;
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= size || memchr(start, ' ', n) || memchr(start, '<', n) ||
        memchr(start, '>', n))
        return -EINVAL;
    memcpy(buf, start, n);
    buf[n] = '\0';
    return 0;
}

/* ---- Date: Thu, 27 Nov 2026 04:05:06 +0000 (RFC 5322 3.3) ---- */

static void add_date(sk_buf_t *b, int64_t ms)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    sk_civil_t c;
    sk_civil_from_seconds(secs, &c);
    sk_buf_printf(b, "Date: %s, %d %s %04" PRId64 " %02d:%02d:%02d +0000\r\n", wd[c.wday], c.day,
                  mon[c.month - 1], c.year, c.hour, c.min, c.sec);
}

/* ---- encodings ---- */

static void add_base64(sk_buf_t *b, const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        sk_buf_add(b, q, 4);
    }
}

static bool plain_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* Subject: the text on one line, as encoded-words (RFC 2047) if not ASCII;
 * each word holds whole UTF-8 characters, folded one per line. */
static void add_subject(sk_buf_t *b, const char *subject)
{
    sk_buf_t one = {0};
    sk_alert__buf_add_utf8(&one, subject, SUBJECT_MAX, true);
    sk_buf_adds(b, "Subject: ");
    if (plain_ascii(one.data)) {
        sk_buf_add(b, one.data, one.len);
    } else {
        const unsigned char *p = (const unsigned char *)one.data;
        size_t i = 0;
        while (i < one.len) {
            size_t n = SK_MIN((size_t)EW_CHUNK, one.len - i);
            while (i + n < one.len && n > 1 && (p[i + n] & 0xc0) == 0x80)
                n--;
            if (i)
                sk_buf_adds(b, "\r\n ");
            sk_buf_adds(b, "=?utf-8?B?");
            add_base64(b, p + i, n);
            sk_buf_adds(b, "?=");
            i += n;
        }
    }
    sk_buf_adds(b, "\r\n");
    free(one.data);
}

/* Whether body can go as 7bit: ASCII, no NUL or bare CR, short lines. */
static bool body_7bit(const char *s)
{
    size_t line = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80 || c == '\r')
            return false;
        if (c == '\n')
            line = 0;
        else if (++line > LINE_MAX_7BIT)
            return false;
    }
    return true;
}

/* body with each \n (or \r\n) made CRLF. */
static void add_crlf(sk_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            sk_buf_adds(b, "\r\n");
        else if (!(*s == '\r' && s[1] == '\n'))
            sk_buf_add(b, s, 1);
    }
}

/* Quoted-printable (RFC 2045 6.7): hard line breaks become CRLF, lines are
 * soft-broken with "=" before 76 characters. */
static void add_qp(sk_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\r' && s[1] == '\n')
            continue;
        if (c == '\n') {
            sk_buf_adds(b, "\r\n");
            col = 0;
            continue;
        }
        char enc[3];
        size_t n;
        bool at_eol = s[1] == '\0' || s[1] == '\n' || (s[1] == '\r' && s[2] == '\n');
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol)) {
            enc[0] = (char)c;
            n = 1;
        } else {
            enc[0] = '=';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 15];
            n = 3;
        }
        /* keep an encoded octet whole and lines under QP_LINE with the '=' */
        if (col + n > QP_LINE - 1) {
            sk_buf_adds(b, "=\r\n");
            col = 0;
        }
        sk_buf_add(b, enc, n);
        col += n;
    }
}

int sk_alert__mail_message(const char *from, char *const *to, const char *subject, const char *body,
                           int64_t now_ms, const char *msgid_left, char **ret_msg, size_t *ret_len)
{
    char spec[512];
    if (!from || !to || !to[0] || sk_alert__addr_spec(from, spec, sizeof(spec)) < 0)
        return -EINVAL;
    for (size_t i = 0; to[i]; i++)
        if (sk_alert__addr_spec(to[i], spec, sizeof(spec)) < 0)
            return -EINVAL;
    sk_alert__addr_spec(from, spec, sizeof(spec));
    const char *domain = strrchr(spec, '@');
    domain = domain && domain[1] ? domain + 1 : "sked.invalid";

    sk_buf_t b = {0};
    add_date(&b, now_ms);
    sk_buf_printf(&b, "From: %s\r\n", from);
    sk_buf_adds(&b, "To: ");
    for (size_t i = 0; to[i]; i++)
        sk_buf_printf(&b, "%s%s", i ? ",\r\n " : "", to[i]);
    sk_buf_adds(&b, "\r\n");
    add_subject(&b, subject);
    sk_buf_printf(&b, "Message-ID: <%s@%s>\r\n", msgid_left, domain);
    sk_buf_adds(&b, "MIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n");
    /* RFC 3834: tells auto-responders not to answer */
    sk_buf_adds(&b, "Auto-Submitted: auto-generated\r\n"
                    "User-Agent: sked/" SK_VERSION "\r\n");
    sk_buf_t clean = {0};
    sk_alert__buf_add_utf8(&clean, body ? body : "", 0, false);
    if (body_7bit(clean.data)) {
        sk_buf_adds(&b, "Content-Transfer-Encoding: 7bit\r\n\r\n");
        add_crlf(&b, clean.data);
    } else {
        sk_buf_adds(&b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        add_qp(&b, clean.data);
    }
    free(clean.data);
    if (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n", 2) != 0)
        sk_buf_adds(&b, "\r\n");
    *ret_len = b.len;
    *ret_msg = sk_buf_take(&b, NULL);
    return 0;
}
