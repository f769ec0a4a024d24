/*
 * Errors, allocation and string helpers shared by every module: the code to
 * text table, the located error record, allocation that aborts, and the
 * FNV-1a hash (sk_fnv64, sk_fnv32).
 */
#include "common.h"

const char *sk_strerror(int code)
{
    if (code == 0)
        return "success";
    switch (code) {
#define SK_X(name, value, text)                                                                    \
    case name:                                                                                     \
        return text;
        SK_ERRORS(SK_X)
#undef SK_X
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

void sk_err_clear(sk_err_t *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

int sk_err_vset(sk_err_t *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int sk_err_set(sk_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sk_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void sk_err_at(sk_err_t *err, int col)
{
    if (err)
        err->col = col;
}

void sk_panic(const char *fmt, ...)
{
    va_list ap;
    fputs("sked: fatal: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *sk_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        sk_panic("out of memory allocating %zu bytes", n);
    return p;
}

void *sk_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        sk_panic("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *sk_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        sk_panic("out of memory reallocating %zu bytes", n);
    return q;
}

char *sk_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = sk_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sk_xstrdup(const char *s)
{
    return sk_xstrndup(s, SIZE_MAX);
}

int sk_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

size_t sk_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

bool sk_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool sk_strncaseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
        if (x == '\0')
            return true;
    }
    return true;
}

int sk_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint64_t sk_fnv64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint32_t sk_fnv32(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}
