/*
 * Masking secrets by value, as CI systems do: a set of patterns (the secret
 * values of a run, the passwords of URLs in its environment and argv) and a
 * streaming filter that replaces every occurrence with "***" in output that
 * arrives in pieces of any size. Also the URL scanner the API's job
 * definitions use. Exports sk_mask_* and sk_url_mask.
 * See docs/internals/runner.md ("Masking").
 */
#include "runner.h"

/* Bytes the filter takes into its buffer at a time (beyond the held tail). */
#define BLOCK (16 * 1024)
#define STARS "***"

/* Every pattern has at least this many bytes: it is what the index keys on. */
#define KEY_LEN 4

/*
 * One pattern: when text matches s, the bytes [lo, len - hi) of the match
 * are masked. A secret masks all of itself (lo = hi = 0); the password of a
 * URL too short to mask alone is matched with its context, "//user:pw@",
 * and masks only the pw.
 */
typedef struct pat {
    char *s;
    size_t len, lo, hi;
} pat_t;

/* The patterns whose first KEY_LEN bytes hash to one slot. */
typedef struct bucket {
    uint32_t *ix;
    uint32_t n, cap;
    size_t maxlen;
} bucket_t;

/*
 * Patterns are indexed by a hash of their first KEY_LEN bytes, so that at
 * most positions of the output one bit of a bitmap of their first two
 * bytes, or one bucket, says that no pattern starts there, however many
 * secrets there are; the buckets double as patterns are added.
 */
struct sk_mask {
    pat_t *p;
    size_t n, cap;
    bucket_t *b;
    uint32_t nb;                  /* a power of two, at least twice n */
    unsigned char one[256 / 8];   /* bit: some pattern starts with this byte */
    unsigned char two[65536 / 8]; /* bit: some pattern starts with these two bytes */
    size_t maxlen;
};

struct sk_mask_stream {
    const sk_mask_t *m;
    char *buf;          /* bytes not yet emitted: the held tail, then new input */
    unsigned char *cov; /* per byte of buf: 1 when some match masks it */
    size_t len, cap;
    bool in_mask; /* the last byte emitted was masked: "***" is written already */
};

sk_mask_t *sk_mask_new(void)
{
    return sk_xcalloc(1, sizeof(sk_mask_t));
}

void sk_mask_free(sk_mask_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        sk_secret_wipe(m->p[i].s, m->p[i].len);
        free(m->p[i].s);
    }
    free(m->p);
    for (uint32_t i = 0; i < m->nb; i++)
        free(m->b[i].ix);
    free(m->b);
    free(m);
}

static uint32_t two_of(const char *s)
{
    return (uint32_t)(unsigned char)s[0] | (uint32_t)(unsigned char)s[1] << 8;
}

static bool two_set(const sk_mask_t *m, const char *s)
{
    uint32_t k = two_of(s);
    return m->two[k >> 3] & (1u << (k & 7));
}

/* The bucket of the KEY_LEN bytes at s (Fibonacci hashing). */
static bucket_t *bucket_of(const sk_mask_t *m, const char *s)
{
    uint32_t k = (uint32_t)(unsigned char)s[0] | (uint32_t)(unsigned char)s[1] << 8 |
                 (uint32_t)(unsigned char)s[2] << 16 | (uint32_t)(unsigned char)s[3] << 24;
    uint32_t h = (uint32_t)(k * 2654435761u);
    return &m->b[h & (m->nb - 1)];
}

static void bucket_add(sk_mask_t *m, uint32_t i)
{
    bucket_t *b = bucket_of(m, m->p[i].s);
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 2;
        b->ix = sk_xrealloc(b->ix, b->cap * sizeof(*b->ix));
    }
    b->ix[b->n++] = i;
    b->maxlen = SK_MAX(b->maxlen, m->p[i].len);
}

/* Keeps at least two buckets per pattern, so that they stay short. */
static void grow_index(sk_mask_t *m)
{
    if (m->nb >= 2 * m->n && m->nb > 0)
        return;
    for (uint32_t i = 0; i < m->nb; i++)
        free(m->b[i].ix);
    free(m->b);
    m->nb = m->nb ? m->nb * 2 : 64;
    while (m->nb < 2 * m->n)
        m->nb *= 2;
    m->b = sk_xcalloc(m->nb, sizeof(*m->b));
    for (size_t i = 0; i < m->n; i++)
        bucket_add(m, (uint32_t)i);
}

bool sk_mask_empty(const sk_mask_t *m)
{
    return !m || m->n == 0;
}

static void add_pattern(sk_mask_t *m, const char *s, size_t len, size_t lo, size_t hi)
{
    SK_ASSERT(len >= KEY_LEN && lo + hi < len);
    if (m->nb > 0) {
        const bucket_t *b = bucket_of(m, s);
        for (uint32_t k = 0; k < b->n; k++) {
            const pat_t *q = &m->p[b->ix[k]];
            if (q->len == len && q->lo == lo && q->hi == hi && memcmp(q->s, s, len) == 0)
                return; /* the same value twice (env_file and a step, two URLs) */
        }
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->p = sk_xrealloc(m->p, m->cap * sizeof(*m->p));
    }
    m->p[m->n] = (pat_t){.s = sk_xstrndup(s, len), .len = len, .lo = lo, .hi = hi};
    m->n++;
    if (m->nb < 2 * m->n)
        grow_index(m); /* indexes the new pattern too */
    else
        bucket_add(m, (uint32_t)(m->n - 1));
    uint32_t k = two_of(s);
    m->two[k >> 3] |= (unsigned char)(1u << (k & 7));
    k = (unsigned char)s[0];
    m->one[k >> 3] |= (unsigned char)(1u << (k & 7));
    m->maxlen = SK_MAX(m->maxlen, len);
}

/* A value of at least SK_SECRET_MIN bytes; longer than SK_MASK_PATTERN_MAX,
 * it is masked as consecutive pieces of nearly equal size (each at least
 * SK_SECRET_MIN), so that the held tail of a stream stays small while the
 * whole value printed is still masked from end to end. */
static void add_value(sk_mask_t *m, const char *s, size_t len)
{
    if (len < SK_SECRET_MIN)
        return;
    size_t pieces = (len + SK_MASK_PATTERN_MAX - 1) / SK_MASK_PATTERN_MAX;
    for (size_t i = 0, off = 0; i < pieces; i++) {
        size_t end = len * (i + 1) / pieces;
        add_pattern(m, s + off, end - off, 0, 0);
        off = end;
    }
}

void sk_mask_add(sk_mask_t *m, const char *value, size_t len)
{
    if (!value)
        return;
    add_value(m, value, len);
    /* A value of several lines (a key file) is also masked line by line: a
     * program may print one of its lines, or print them with other line
     * ends. */
    if (!memchr(value, '\n', len))
        return;
    for (const char *p = value, *end = value + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t n = (size_t)(e - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        add_value(m, p, n);
        p = nl ? nl + 1 : end;
    }
}

static bool is_scheme_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
}

/* Where the authority of a URL ends: at '/', '?', '#', a blank, a quote or
 * the end (RFC 3986 section 3.2; a quote or a blank ends a URL in text). */
static bool ends_authority(char c)
{
    return strchr("/?#\"' \t\r\n<>", c) != NULL;
}

/*
 * The next password of a URL in s[*from..n): "scheme://user:PASSWORD@host".
 * On success returns true with the user's offset, the password's offset
 * and length, and *from past the URL's authority. The password is what
 * lies between the first ':' of the userinfo and its last '@' (RFC 3986
 * section 3.2.1: an '@' in a password must be percent-encoded, but
 * programs write it raw too, and then the last one ends the userinfo).
 */
static bool next_url_password(const char *s, size_t n, size_t *from, size_t *ret_user,
                              size_t *ret_pw, size_t *ret_pwlen)
{
    for (size_t i = *from; i + 3 <= n; i++) {
        if (s[i] != ':' || s[i + 1] != '/' || s[i + 2] != '/')
            continue;
        if (i == 0 || !is_scheme_char(s[i - 1]))
            continue;
        size_t a = i + 3, e = a, at = SIZE_MAX;
        while (e < n && !ends_authority(s[e])) {
            if (s[e] == '@')
                at = e;
            e++;
        }
        *from = e;
        if (at == SIZE_MAX)
            continue;
        const char *colon = memchr(s + a, ':', at - a);
        if (!colon || (size_t)(colon - s) + 1 == at)
            continue; /* no password, or an empty one */
        *ret_user = a;
        *ret_pw = (size_t)(colon - s) + 1;
        *ret_pwlen = at - *ret_pw;
        return true;
    }
    return false;
}

void sk_mask_add_urls(sk_mask_t *m, const char *text)
{
    size_t n = text ? strlen(text) : 0, from = 0, user, pw, pwlen;
    while (next_url_password(text, n, &from, &user, &pw, &pwlen)) {
        if (pwlen >= SK_SECRET_MIN) {
            add_value(m, text + pw, pwlen);
        } else {
            /* Too short to mask wherever it appears: masked where it is a
             * URL's password, "//user:pw@" -> "//user:***@". */
            add_pattern(m, text + user - 2, pw + pwlen + 1 - (user - 2), pw - (user - 2), 1);
        }
        /* A program may print the password decoded ("%21" as "!"). */
        if (!memchr(text + pw, '%', pwlen))
            continue;
        char *dec = sk_xmalloc(pwlen + 1);
        size_t dn = 0;
        for (size_t i = pw; i < pw + pwlen; i++) {
            int h, l;
            if (text[i] == '%' && i + 2 < pw + pwlen && (h = sk_hex_digit(text[i + 1])) >= 0 &&
                (l = sk_hex_digit(text[i + 2])) >= 0) {
                dec[dn++] = (char)(h * 16 + l);
                i += 2;
            } else {
                dec[dn++] = text[i];
            }
        }
        add_value(m, dec, dn);
        sk_secret_wipe(dec, pwlen + 1);
        free(dec);
    }
}

char *sk_url_mask(const char *text)
{
    sk_buf_t b = {0};
    size_t n = strlen(text), from = 0, done = 0, user, pw, pwlen;
    sk_buf_add(&b, "", 0);
    while (next_url_password(text, n, &from, &user, &pw, &pwlen)) {
        sk_buf_add(&b, text + done, pw - done);
        sk_buf_adds(&b, STARS);
        done = pw + pwlen;
    }
    sk_buf_add(&b, text + done, n - done);
    return sk_buf_take(&b, NULL);
}

/* ---- the streaming filter ---- */

sk_mask_stream_t *sk_mask_stream_new(const sk_mask_t *m)
{
    sk_mask_stream_t *s = sk_xcalloc(1, sizeof(*s));
    s->m = m;
    s->cap = m->maxlen + BLOCK;
    s->buf = sk_xmalloc(s->cap);
    s->cov = sk_xmalloc(s->cap);
    return s;
}

void sk_mask_stream_free(sk_mask_stream_t *s)
{
    if (!s)
        return;
    sk_secret_wipe(s->buf, s->cap);
    free(s->buf);
    free(s->cov);
    free(s);
}

/*
 * Whether the match at i cannot be decided yet: some pattern starting with
 * buf[i] is longer than what is left and what is left is its beginning. It
 * may complete with the next input.
 */
static bool undecided(const sk_mask_stream_t *s, size_t i)
{
    const sk_mask_t *m = s->m;
    size_t left = s->len - i;
    if (left >= m->maxlen)
        return false;
    if (left < KEY_LEN) {
        /* Too little to find a bucket: wait when a pattern may start here
         * (holding a few bytes more than needed costs nothing). */
        if (left == 1) {
            unsigned c = (unsigned char)s->buf[i];
            return m->one[c >> 3] & (1u << (c & 7));
        }
        return two_set(m, s->buf + i);
    }
    const bucket_t *b = bucket_of(m, s->buf + i);
    if (b->maxlen <= left)
        return false;
    for (uint32_t k = 0; k < b->n; k++) {
        const pat_t *q = &m->p[b->ix[k]];
        if (q->len > left && memcmp(q->s, s->buf + i, left) == 0)
            return true;
    }
    return false;
}

/* Writes out buf[0..n): clear bytes as they are, each run of masked bytes
 * as one "***" (a run may go on from the previous call). */
static void emit(sk_mask_stream_t *s, size_t n, sk_mask_out_cb out, void *data)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        if (s->cov[i]) {
            while (j < n && s->cov[j])
                j++;
            if (!s->in_mask)
                out(data, STARS, sizeof(STARS) - 1);
            s->in_mask = true;
        } else {
            while (j < n && !s->cov[j])
                j++;
            out(data, s->buf + i, j - i);
            s->in_mask = false;
        }
        i = j;
    }
}

/*
 * Decides the matches at every position it can (all of them when final),
 * marks what they mask, writes out every byte no later match can reach,
 * and keeps the rest. A byte is final once every position up to it is
 * decided, since a match masks nothing before where it starts. Every
 * pattern is tried at every position and what they mask is merged, so a
 * secret that contains another, or overlaps it, is masked whole.
 */
static void process(sk_mask_stream_t *s, bool final, sk_mask_out_cb out, void *data)
{
    const sk_mask_t *m = s->m;
    size_t i = 0;
    for (; i < s->len; i++) {
        size_t left = s->len - i;
        if (left >= 2 && !two_set(m, s->buf + i))
            continue; /* most positions: no pattern starts with these two bytes */
        if (left < m->maxlen && !final && undecided(s, i))
            break;
        if (left < KEY_LEN)
            continue; /* at the end: too short for any pattern */
        const bucket_t *b = bucket_of(m, s->buf + i);
        for (uint32_t k = 0; k < b->n; k++) {
            const pat_t *q = &m->p[b->ix[k]];
            if (q->len <= left && memcmp(q->s, s->buf + i, q->len) == 0)
                memset(s->cov + i + q->lo, 1, q->len - q->lo - q->hi);
        }
    }
    emit(s, i, out, data);
    memmove(s->buf, s->buf + i, s->len - i);
    memmove(s->cov, s->cov + i, s->len - i);
    s->len -= i;
}

void sk_mask_stream_feed(sk_mask_stream_t *s, const char *d, size_t n, sk_mask_out_cb out,
                         void *data)
{
    while (n > 0) {
        /* After process() less than maxlen bytes are held: room for a block. */
        size_t take = SK_MIN(n, s->cap - s->len);
        memcpy(s->buf + s->len, d, take);
        memset(s->cov + s->len, 0, take);
        s->len += take;
        d += take;
        n -= take;
        process(s, false, out, data);
    }
}

void sk_mask_stream_end(sk_mask_stream_t *s, sk_mask_out_cb out, void *data)
{
    process(s, true, out, data);
    s->in_mask = false;
}

void sk_mask_stream_drop(sk_mask_stream_t *s)
{
    sk_secret_wipe(s->buf, s->len);
    s->len = 0;
    s->in_mask = false;
}

static void to_buf(void *data, const char *text, size_t len)
{
    sk_buf_add(data, text, len);
}

char *sk_mask_string(const sk_mask_t *m, const char *text)
{
    if (sk_mask_empty(m))
        return sk_xstrdup(text);
    sk_buf_t b = {0};
    sk_buf_add(&b, "", 0);
    sk_mask_stream_t *s = sk_mask_stream_new(m);
    sk_mask_stream_feed(s, text, strlen(text), to_buf, &b);
    sk_mask_stream_end(s, to_buf, &b);
    sk_mask_stream_free(s);
    return sk_buf_take(&b, NULL);
}
