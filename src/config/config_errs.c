/*
 * Located error lists for the configuration: sk_errs_add collects every
 * error a load finds (each with file, line, column and key path),
 * sk_errs_print shows them the way compilers do, with the source line and a
 * caret under the column. Also the small text helpers the loader shares:
 * UTF-8 columns, edit distance for "did you mean", sorting by place.
 */
#include "config_int.h"

void sk_errs_init(sk_errs_t *e)
{
    memset(e, 0, sizeof(*e));
}

void sk_errs_release(sk_errs_t *e)
{
    if (!e)
        return;
    free(e->items);
    memset(e, 0, sizeof(*e));
}

void sk_errs_add(sk_errs_t *e, const char *file, int line, int col, const char *path, int code,
                 const char *fmt, ...)
{
    if (e->n >= SK_CONFIG_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->items = sk_xrealloc(e->items, e->cap * sizeof(*e->items));
    }
    sk_err_t *it = &e->items[e->n++];
    memset(it, 0, sizeof(*it));
    it->code = code;
    it->file = file;
    it->line = line;
    it->col = col;
    sk_strlcpy(it->path, path ? path : "", sizeof(it->path));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
    va_end(ap);
}

void sk_config__errs_append(sk_errs_t *e, const sk_errs_t *more)
{
    for (size_t i = 0; i < more->n; i++) {
        if (e->n >= SK_CONFIG_MAX_ERRORS) {
            e->dropped++;
            continue;
        }
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 16;
            e->items = sk_xrealloc(e->items, e->cap * sizeof(*e->items));
        }
        e->items[e->n++] = more->items[i];
    }
    e->dropped += more->dropped;
}

size_t sk_config__line_break(const char *p, const char *end)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t left = (size_t)(end - p);
    if (left == 0)
        return 0;
    if (u[0] == '\n')
        return 1;
    if (u[0] == '\r')
        return left > 1 && u[1] == '\n' ? 2 : 1;
    if (left > 1 && u[0] == 0xC2 && u[1] == 0x85)
        return 2; /* NEL */
    if (left > 2 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9))
        return 3; /* LS, PS */
    return 0;
}

size_t sk_config__utf8_len(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n && s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            chars++;
    }
    return chars;
}

/* Byte offset of the chars-th character of s[0..len) (len when past the end). */
static size_t utf8_offset(const char *s, size_t len, size_t chars)
{
    size_t i = 0;
    while (i < len && chars > 0) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars--;
    }
    return i;
}

/* The longest stretch of a source line shown, in characters. */
#define SHOW_MAX 160

/* Prints line (len bytes) and a caret under column col (1-based, characters). */
static void print_source(FILE *out, int lineno, const char *line, size_t len, int col)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    size_t nchars = sk_config__utf8_len(line, len);
    size_t caret = col > 0 ? (size_t)col - 1 : 0; /* characters before the caret */
    size_t first = 0;                             /* first character shown */
    if (caret > SHOW_MAX - 20)
        first = caret - (SHOW_MAX / 2);
    size_t from = utf8_offset(line, len, first);
    size_t to = utf8_offset(line, len, first + SHOW_MAX);
    const char *pre = first > 0 ? "..." : "";
    const char *post = to < len && nchars > first + SHOW_MAX ? "..." : "";

    fprintf(out, "%5d | %s%.*s%s\n", lineno, pre, (int)(to - from), line + from, post);
    fprintf(out, "      | %s", pre[0] ? "   " : "");
    /* Tabs stay tabs so the caret lines up however the terminal shows them. */
    size_t i = from;
    for (size_t c = first; c < caret; c++) {
        fputc(i < len && line[i] == '\t' ? '\t' : ' ', out);
        if (i < len)
            i++;
        while (i < len && ((unsigned char)line[i] & 0xC0) == 0x80)
            i++;
    }
    fputs("^\n", out);
}

/* Appends "***" to b and returns where the secret starting at p ends:
 * before the first of the stop characters (or the end). */
static const char *mask(sk_buf_t *b, const char *p, const char *end, const char *stops)
{
    sk_buf_adds(b, "***");
    while (p < end && !strchr(stops, *p))
        p++;
    return p;
}

/* A copy of a source line for an error message with secrets masked: the
 * password of a URL (scheme://user:PASSWORD@host), a password= parameter
 * and the value of a password: key. */
static char *redact(const char *line, size_t n)
{
    sk_buf_t b = {0};
    const char *p = line, *end = line + n;
    sk_buf_add(&b, "", 0);
    const char *k = p;
    while (k < end && (*k == ' ' || *k == '\t' || *k == '-'))
        k++;
    if ((size_t)(end - k) >= 9 && strncmp(k, "password:", 9) == 0) {
        sk_buf_add(&b, p, (size_t)(k - p) + 9);
        sk_buf_adds(&b, " ***");
        return sk_buf_take(&b, NULL);
    }
    while (p < end) {
        if ((size_t)(end - p) >= 3 && strncmp(p, "://", 3) == 0) {
            const char *a = p + 3, *at = NULL, *colon = NULL;
            for (const char *q = a; q < end && !strchr("/?# \"'", *q); q++) {
                if (*q == '@')
                    at = q;
                else if (*q == ':' && !at && !colon)
                    colon = q;
            }
            if (at && colon && colon < at) {
                sk_buf_add(&b, p, (size_t)(colon + 1 - p));
                sk_buf_adds(&b, "***");
                p = at;
                continue;
            }
        }
        if ((size_t)(end - p) >= 9 && strncmp(p, "password=", 9) == 0) {
            sk_buf_add(&b, p, 9);
            p = mask(&b, p + 9, end, "& \"'#");
            continue;
        }
        sk_buf_add(&b, p, 1);
        p++;
    }
    return sk_buf_take(&b, NULL);
}

void sk_errs_print(const sk_errs_t *e, FILE *out)
{
    const char *loaded = NULL; /* the file whose text is in buf */
    char *buf = NULL;
    size_t len = 0;
    bool readable = false;
    const char *at = NULL; /* in buf: the start of line at_line */
    int at_line = 1;

    for (size_t k = 0; k < e->n; k++) {
        const sk_err_t *it = &e->items[k];
        const char *file = it->file ? it->file : "sked.yaml";
        if (it->line > 0 && it->col > 0)
            fprintf(out, "%s:%d:%d: ", file, it->line, it->col);
        else if (it->line > 0)
            fprintf(out, "%s:%d: ", file, it->line);
        else
            fprintf(out, "%s: ", file);
        if (it->path[0])
            fprintf(out, "%s: ", it->path);
        fprintf(out, "%s\n", it->msg);
        if (it->line <= 0 || !it->file)
            continue;

        if (!loaded || strcmp(loaded, it->file) != 0) {
            free(buf);
            buf = NULL;
            loaded = it->file;
            readable = sk_config__read_file(it->file, SK_CONFIG_MAX_FILE_BYTES, &buf, &len) == 0;
            at = buf;
            at_line = 1;
        }
        if (!readable)
            continue;
        /* Find the line, counting breaks as libyaml does. Errors come sorted
         * by line, so the search goes on from the previous one's: one pass
         * over a file of up to 16 MiB, not one per error. */
        const char *p = at, *end = buf + len;
        int l = at_line;
        if (it->line < l) {
            p = buf;
            l = 1;
        }
        while (l < it->line && p < end) {
            size_t br = sk_config__line_break(p, end);
            p += br ? br : 1;
            l += br > 0;
        }
        at = p;
        at_line = l;
        if (p >= end)
            continue;
        const char *eol = p;
        while (eol < end && !sk_config__line_break(eol, end))
            eol++;
        char *shown = redact(p, (size_t)(eol - p));
        print_source(out, it->line, shown, strlen(shown), it->col);
        free(shown);
    }
    if (e->dropped)
        fprintf(out, "... and %zu more error%s\n", e->dropped, e->dropped == 1 ? "" : "s");
    free(buf);
}

size_t sk_config__edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    /* Three rows of the optimal-string-alignment table. */
    size_t rows[3][65];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = prev[j] + 1;
            v = SK_MIN(v, cur[j - 1] + 1);
            v = SK_MIN(v, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                v = SK_MIN(v, prev2[j - 2] + 1);
            cur[j] = v;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return SK_MIN(prev[lb], cap + 1);
}

typedef struct {
    int line, col;
    size_t idx;
} place_t;

static int place_cmp(const void *pa, const void *pb)
{
    const place_t *a = pa, *b = pb;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void sk_config__errs_sort(sk_errs_t *errs, size_t from)
{
    if (errs->n <= from + 1)
        return;
    size_t n = errs->n - from;
    place_t *pl = sk_xcalloc(n, sizeof(*pl));
    sk_err_t *copy = sk_xcalloc(n, sizeof(*copy));
    for (size_t i = 0; i < n; i++) {
        pl[i].line = errs->items[from + i].line;
        pl[i].col = errs->items[from + i].col;
        pl[i].idx = i;
        copy[i] = errs->items[from + i];
    }
    qsort(pl, n, sizeof(*pl), place_cmp);
    for (size_t i = 0; i < n; i++)
        errs->items[from + i] = copy[pl[i].idx];
    free(copy);
    free(pl);
}
