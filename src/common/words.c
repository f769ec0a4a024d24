/*
 * Word splitting for `run: "prog --flag 'two words'"`: the quoting rules of
 * the POSIX shell's token recognition (XCU 2.2 and 2.3), without any
 * expansion, operators or globbing, so a command string means what it would
 * mean to sh but no shell ever runs. Exports sk_split_words and the small
 * NULL-terminated string vector helpers sk_strv_free, sk_strv_len and
 * sk_kv_free, and sk_secret_wipe.
 */
#include "common.h"

typedef struct words {
    char **v;
    size_t n, cap;
    char *cur; /* the word being built */
    size_t len, curcap;
    bool in_word;
} words_t;

static void word_char(words_t *w, char c)
{
    if (w->len + 1 >= w->curcap) {
        w->curcap = w->curcap ? w->curcap * 2 : 32;
        w->cur = sk_xrealloc(w->cur, w->curcap);
    }
    w->cur[w->len++] = c;
    w->in_word = true;
}

static void word_end(words_t *w)
{
    if (!w->in_word)
        return;
    if (w->n + 2 > w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->v = sk_xrealloc(w->v, w->cap * sizeof(*w->v));
    }
    w->v[w->n++] = sk_xstrndup(w->cur ? w->cur : "", w->len);
    w->v[w->n] = NULL;
    w->len = 0;
    w->in_word = false;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Outside quotes a backslash keeps the next character (and a backslash-newline
 * disappears); '...' keeps everything up to the next '; inside "..." a
 * backslash only escapes $ ` " \ and newline. An unquoted # at the start of
 * a word begins a comment, as in sh. "" and '' make an empty word.
 */
int sk_split_words(const char *text, char ***ret, sk_err_t *err)
{
    words_t w = {0};
    int r = 0;
    const char *p = text ? text : "";

    while (*p) {
        char c = *p;
        if (is_blank(c)) {
            word_end(&w);
            p++;
        } else if (c == '#' && !w.in_word) {
            while (*p && *p != '\n')
                p++;
        } else if (c == '\\') {
            if (p[1] == '\0') {
                sk_err_at(err, (int)(p - text) + 1);
                r = sk_err_set(err, SK_EPARSE, "a backslash at the end escapes nothing");
                goto fail;
            }
            if (p[1] != '\n')
                word_char(&w, p[1]);
            p += 2;
        } else if (c == '\'') {
            const char *close = strchr(p + 1, '\'');
            if (!close) {
                sk_err_at(err, (int)(p - text) + 1);
                r = sk_err_set(err, SK_EPARSE, "this single quote is never closed");
                goto fail;
            }
            w.in_word = true;
            for (const char *q = p + 1; q < close; q++)
                word_char(&w, *q);
            p = close + 1;
        } else if (c == '"') {
            const char *open = p++;
            w.in_word = true;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1] && strchr("$`\"\\\n", p[1])) {
                    if (p[1] != '\n')
                        word_char(&w, p[1]);
                    p += 2;
                } else {
                    word_char(&w, *p++);
                }
            }
            if (*p != '"') {
                sk_err_at(err, (int)(open - text) + 1);
                r = sk_err_set(err, SK_EPARSE, "this double quote is never closed");
                goto fail;
            }
            p++;
        } else {
            word_char(&w, c);
            p++;
        }
    }
    word_end(&w);
    if (!w.v)
        w.v = sk_xcalloc(1, sizeof(*w.v));
    free(w.cur);
    *ret = w.v;
    return 0;
fail:
    free(w.cur);
    sk_strv_free(w.v);
    return r;
}

void sk_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++) {
        sk_secret_wipe(*p, strlen(*p));
        free(*p);
    }
    free(v);
}

void sk_kv_free(sk_kv_t *kv, size_t n)
{
    for (size_t i = 0; kv && i < n; i++) {
        free(kv[i].key);
        if (kv[i].value)
            sk_secret_wipe(kv[i].value, strlen(kv[i].value));
        free(kv[i].value);
    }
    free(kv);
}

size_t sk_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void sk_secret_wipe(void *p, size_t n)
{
    /* volatile: the compiler may not drop stores to memory about to be freed */
    volatile unsigned char *v = p;
    while (v && n--)
        *v++ = 0;
}
