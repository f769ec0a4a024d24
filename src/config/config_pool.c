/*
 * The memory a configuration snapshot owns: a pool whose memory is freed
 * at once when the snapshot's last reference goes (STYLE: one arena per
 * snapshot). Allocations are carved from 64 KiB chunks: 100,000 jobs make
 * about a million small allocations, and a malloc block each would cost
 * 16-32 bytes of headers apiece. Under a sanitizer (or with
 * SK_POOL_EACH_MALLOC, as `make valgrind` builds) each allocation is its
 * own malloc block again, so that every overflow is still seen. Secrets are
 * always their own blocks, wiped before they are freed. A mark and a
 * release let the YAML reader drop a job's nodes once the job is built.
 * Also the capped whole-file reader the loader uses.
 */
#include "config_int.h"

#include <fcntl.h>
#include <sys/stat.h>

#if defined(__SANITIZE_ADDRESS__)
#define SK_POOL_EACH_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SK_POOL_EACH_MALLOC 1
#endif
#endif

#define CHUNK_BYTES (64 * 1024)
#define ALIGN 8 /* pointers and 64-bit integers: nothing in a snapshot needs more */

/* A chunk, or (SK_POOL_EACH_MALLOC, secrets, allocations too large for a
 * chunk) one allocation of its own. */
typedef struct block {
    struct block *next;
    size_t size; /* bytes of data */
    size_t used; /* bytes handed out (a chunk) */
    size_t wipe; /* bytes of data to wipe when freed: 0, or its size for a secret */
    max_align_t data[];
} block_t;

struct sk_pool {
    block_t *head; /* newest first; the head is the chunk being carved */
    void **owned;  /* blocks handed over by sk_config__pool_own */
    size_t nowned, capowned;
};

sk_pool_t *sk_config__pool_new(void)
{
    return sk_xcalloc(1, sizeof(sk_pool_t));
}

static void free_blocks(block_t *b, const block_t *until)
{
    while (b != until) {
        block_t *next = b->next;
        sk_secret_wipe(b->data, b->wipe);
        free(b);
        b = next;
    }
}

void sk_config__pool_free(sk_pool_t *p)
{
    if (!p)
        return;
    free_blocks(p->head, NULL);
    for (size_t i = 0; i < p->nowned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p);
}

sk_pool_mark_t sk_config__pool_mark(const sk_pool_t *p)
{
    return (sk_pool_mark_t){.block = p->head, .used = p->head ? p->head->used : 0};
}

void sk_config__pool_release(sk_pool_t *p, sk_pool_mark_t m)
{
    free_blocks(p->head, m.block);
    p->head = m.block;
    if (p->head)
        p->head->used = m.used; /* what was carved since is handed out again, zeroed */
}

/* A new block of size bytes: the new head, or (aside) put behind the
 * head so that the chunk being carved stays the head. */
static block_t *new_block(sk_pool_t *p, size_t size, bool aside)
{
    if (size > SIZE_MAX - sizeof(block_t))
        sk_panic("allocation of %zu bytes is too large", size);
    block_t *b = sk_xmalloc(sizeof(block_t) + size);
    b->size = size;
    b->used = 0;
    b->wipe = 0;
#ifdef SK_POOL_EACH_MALLOC
    aside = false;
#endif
    if (aside && p->head) {
        b->next = p->head->next;
        p->head->next = b;
    } else {
        b->next = p->head;
        p->head = b;
    }
    return b;
}

void *sk_config__alloc(sk_pool_t *p, size_t n)
{
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need < n)
        sk_panic("allocation of %zu bytes is too large", n);
#ifndef SK_POOL_EACH_MALLOC
    block_t *b = p->head;
    if (need > CHUNK_BYTES / 4) /* its own block, beside the chunk being carved */
        b = new_block(p, need, true);
    else if (!b || b->size - b->used < need)
        b = new_block(p, CHUNK_BYTES, false);
    char *d = (char *)b->data + b->used;
    b->used += need;
    memset(d, 0, n);
    return d;
#else
    block_t *b = new_block(p, need, false);
    b->used = need;
    memset(b->data, 0, n);
    return b->data;
#endif
}

char *sk_config__secret_strndup(sk_pool_t *p, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    block_t *b = new_block(p, len + 1, true);
    b->used = b->size; /* nothing else is carved from it */
    b->wipe = len + 1;
    char *d = (char *)b->data;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void sk_config__pool_own(sk_pool_t *p, void *block)
{
    if (p->nowned == p->capowned) {
        p->capowned = p->capowned ? p->capowned * 2 : 4;
        p->owned = sk_xrealloc(p->owned, p->capowned * sizeof(*p->owned));
    }
    p->owned[p->nowned++] = block;
}

/* The index of sk_config__intern: open addressing over the copies. */
struct sk_config__interned {
    struct interned {
        uint64_t hash;
        const void *p;
        size_t n;
    } * v;
    size_t n, cap; /* cap: a power of two, at least twice n */
};

static void intern_put(struct sk_config__interned *t, struct interned e)
{
    size_t i = (size_t)e.hash & (t->cap - 1);
    while (t->v[i].p)
        i = (i + 1) & (t->cap - 1);
    t->v[i] = e;
}

const void *sk_config__intern(sk_config_ctx_t *L, const void *p, size_t n)
{
    if (n == 0)
        return NULL;
    struct sk_config__interned *t = L->interned;
    if (!t)
        t = L->interned = sk_xcalloc(1, sizeof(*t));
    uint64_t h = sk_fnv64(SK_FNV64_INIT, p, n);
    for (size_t i = t->cap ? (size_t)h & (t->cap - 1) : 0; t->cap && t->v[i].p;
         i = (i + 1) & (t->cap - 1)) {
        if (t->v[i].hash == h && t->v[i].n == n && memcmp(t->v[i].p, p, n) == 0)
            return t->v[i].p;
    }
    if (2 * (t->n + 1) > t->cap) {
        struct sk_config__interned old = *t;
        t->cap = t->cap ? t->cap * 2 : 256;
        t->v = sk_xcalloc(t->cap, sizeof(*t->v));
        for (size_t i = 0; i < old.cap; i++)
            if (old.v[i].p)
                intern_put(t, old.v[i]);
        free(old.v);
    }
    void *copy = sk_config__alloc(L->pool, n);
    memcpy(copy, p, n);
    intern_put(t, (struct interned){h, copy, n});
    t->n++;
    return copy;
}

void sk_config__intern_release(sk_config_ctx_t *L)
{
    if (!L->interned)
        return;
    free(L->interned->v);
    free(L->interned);
    L->interned = NULL;
}

char *sk_config__strndup(sk_pool_t *p, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = sk_config__alloc(p, len + 1);
    memcpy(d, s, len);
    return d;
}

char *sk_config__strdup(sk_pool_t *p, const char *s)
{
    return sk_config__strndup(p, s, SIZE_MAX);
}

char *sk_config__printf(sk_pool_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    SK_ASSERT(n >= 0);
    char *d = sk_config__alloc(p, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int sk_config__read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    int r = 0;
    char *buf = NULL;
    size_t len = 0;
    /* O_NONBLOCK: opening a FIFO must not hang; regular files read the same. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        r = -EFBIG;
        goto fail;
    }
    /* Read until end of file, not st_size: the file may change meanwhile. */
    size_t cap = (size_t)st.st_size + 1;
    buf = sk_xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                r = -EFBIG;
                goto fail;
            }
            cap *= 2;
            buf = sk_xrealloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        r = -EFBIG;
        goto fail;
    }
    buf[len] = '\0';
    close(fd);
    *ret = buf;
    *ret_len = len;
    return 0;
fail:
    free(buf);
    close(fd);
    return r;
}
