/*
 * A growable byte buffer (alerts, store SQL, metrics text, API answers), and
 * JSON text written straight into it: for large answers (the jobs list of
 * 100,000 jobs) where building a jansson tree first would cost several
 * times the time and memory.
 */
#include "common.h"

#include <stdarg.h>

void sk_buf_reserve(sk_buf_t *b, size_t more)
{
    if (b->cap > b->len && b->cap - b->len > more)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= more) {
        SK_ASSERT(cap <= SIZE_MAX / 2);
        cap *= 2;
    }
    b->data = sk_xrealloc(b->data, cap);
    b->cap = cap;
}

void sk_buf_add(sk_buf_t *b, const char *s, size_t n)
{
    sk_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sk_buf_adds(sk_buf_t *b, const char *s)
{
    sk_buf_add(b, s, strlen(s));
}

void sk_buf_printf(sk_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        sk_buf_add(b, small, (size_t)n);
        return;
    }
    char *big = sk_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sk_buf_add(b, big, (size_t)n);
    free(big);
}

void sk_buf_json_str(sk_buf_t *b, const char *s)
{
    if (!s) {
        sk_buf_add(b, "null", 4);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    sk_buf_add(b, "\"", 1);
    size_t n = strlen(s), start = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        size_t adv = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4];
            u[5] = hex[c & 15], u[6] = '\0';
            esc = u;
        } else if (c >= 0x80) {
            adv = sk_utf8_seq(s + i, n - i);
            if (!adv) {
                esc = "\\ufffd"; /* not UTF-8: JSON text must be */
                adv = 1;
            }
        }
        if (esc) {
            sk_buf_add(b, s + start, i - start);
            sk_buf_adds(b, esc);
            start = i + adv;
        }
        i += adv;
    }
    sk_buf_add(b, s + start, n - start);
    sk_buf_add(b, "\"", 1);
}

char *sk_buf_take(sk_buf_t *b, size_t *len)
{
    char *d = b->data ? b->data : sk_xstrdup("");
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return d;
}
