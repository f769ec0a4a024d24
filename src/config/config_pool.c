/*
 * The memory a configuration snapshot owns: a pool whose blocks are freed
 * together when the snapshot's last reference goes (STYLE: one arena per
 * snapshot). Each block is its own malloc so that sanitizers still see
 * every overflow. Blocks that hold secrets are wiped before they are
 * freed. Also the capped whole-file reader the loader uses.
 */
#include "config_int.h"

#include <fcntl.h>
#include <sys/stat.h>

typedef struct block {
    struct block *next;
    size_t wipe; /* bytes of data to wipe when freed: 0, or its size for a secret */
    max_align_t data[];
} block_t;

struct sk_pool {
    block_t *head;
};

sk_pool_t *sk_config__pool_new(void)
{
    return sk_xcalloc(1, sizeof(sk_pool_t));
}

void sk_config__pool_free(sk_pool_t *p)
{
    if (!p)
        return;
    block_t *b = p->head;
    while (b) {
        block_t *next = b->next;
        sk_secret_wipe(b->data, b->wipe);
        free(b);
        b = next;
    }
    free(p);
}

void *sk_config__alloc(sk_pool_t *p, size_t n)
{
    if (n > SIZE_MAX - sizeof(block_t))
        sk_panic("allocation of %zu bytes is too large", n);
    block_t *b = sk_xcalloc(1, sizeof(block_t) + n);
    b->next = p->head;
    p->head = b;
    return b->data;
}

char *sk_config__secret_strndup(sk_pool_t *p, const char *s, size_t n)
{
    char *d = sk_config__strndup(p, s, n);
    p->head->wipe = strlen(d) + 1; /* the block just made */
    return d;
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
