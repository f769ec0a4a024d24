/*
 * Who owns a store file (DESIGN 1, docs/internals/store.md "Ownership").
 * sk_store_lock takes flock(2) on a lock file beside the database, named
 * after the database's real path, so that two configurations that reach one
 * file by different paths still meet on one lock. flock, not fcntl: an
 * fcntl lock belongs to the process and goes away when any descriptor of
 * the file is closed; a flock lock belongs to its own open file description,
 * which nothing else in the process touches.
 */
/* realpath(3), major/minor */
#define _DEFAULT_SOURCE 1

#include "store.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

struct sk_store_lock {
    int fd;
};

static bool is_postgres(const char *url)
{
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

/* The lock file of store path url: its real path (or its folder's, before
 * the file exists) and ".lock". -errno when the folder cannot be resolved. */
static int lock_path(const char *url, char *buf, size_t size)
{
    char real[PATH_MAX];
    if (realpath(url, real)) {
        if (sk_snprintf(buf, size, "%s.lock", real) >= (int)size)
            return -ENAMETOOLONG;
        return 0;
    }
    if (errno != ENOENT)
        return -errno;
    char dir[PATH_MAX];
    const char *slash = strrchr(url, '/');
    const char *base = slash ? slash + 1 : url;
    if (!slash)
        sk_strlcpy(dir, ".", sizeof(dir));
    else if (slash == url)
        sk_strlcpy(dir, "/", sizeof(dir));
    else if ((size_t)(slash - url) >= sizeof(dir))
        return -ENAMETOOLONG;
    else
        sk_snprintf(dir, sizeof(dir), "%.*s", (int)(slash - url), url);
    if (!realpath(dir, real))
        return -errno;
    if (sk_snprintf(buf, size, "%s/%s.lock", strcmp(real, "/") == 0 ? "" : real, base) >= (int)size)
        return -ENAMETOOLONG;
    return 0;
}

/* "sked run -c sked.yaml" for pid from /proc (Linux), or "" when unknown. */
static void command_of(long pid, char *buf, size_t size)
{
    char path[64];
    buf[0] = '\0';
    sk_snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    /* The program's own path says nothing useful: "sked" is enough. */
    const char *sp = strchr(buf, ' ');
    size_t prog = sp ? (size_t)(sp - buf) : strlen(buf);
    size_t start = prog;
    while (start > 0 && buf[start - 1] != '/')
        start--;
    if (start > 0)
        memmove(buf, buf + start, strlen(buf + start) + 1);
}

/* The holders of flock locks on the file of sb, from /proc/locks (Linux):
 * the exclusive one if any, else the first shared one. False when none is
 * listed (or /proc is not there). */
static bool find_holder(const struct stat *sb, sk_store_holder_t *h)
{
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return false;
    char line[256];
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        /* "1: FLOCK  ADVISORY  WRITE 12603 fe:00:10954018 0 EOF"; waiters
         * have "->" after the number. */
        char kind[16], adv[16], mode[16], dev[64];
        long pid;
        if (strstr(line, "->"))
            continue;
        if (sscanf(line, "%*d: %15s %15s %15s %ld %63s", kind, adv, mode, &pid, dev) != 5)
            continue;
        unsigned maj, min;
        unsigned long long ino;
        if (strcmp(kind, "FLOCK") != 0 || sscanf(dev, "%x:%x:%llu", &maj, &min, &ino) != 3)
            continue;
        if (maj != major(sb->st_dev) || min != minor(sb->st_dev) ||
            ino != (unsigned long long)sb->st_ino)
            continue;
        bool excl = strcmp(mode, "WRITE") == 0;
        if (!found || (excl && !h->owner)) {
            h->pid = pid;
            h->owner = excl;
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* Who holds fd's file: /proc/locks, else the pid its owner wrote into it. */
static void describe_holder(int fd, sk_store_holder_t *h)
{
    struct stat sb;
    memset(h, 0, sizeof(*h));
    if (fstat(fd, &sb) == 0 && find_holder(&sb, h)) {
        command_of(h->pid, h->what, sizeof(h->what));
        return;
    }
    char text[64];
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    if (n > 0) {
        text[n] = '\0';
        long pid = strtol(text, NULL, 10);
        if (pid > 0 && kill((pid_t)pid, 0) == 0) {
            h->pid = pid;
            h->owner = true;
            command_of(pid, h->what, sizeof(h->what));
        }
    }
}

int sk_store_lock(const char *url, sk_store_lock_mode_t mode, int wait_ms, sk_store_lock_t **ret,
                  sk_store_holder_t *ret_holder, sk_err_t *err)
{
    char path[PATH_MAX + 8];
    *ret = NULL;
    if (!url || !*url)
        return sk_err_set(err, SK_ESTORE, "no store path given");
    if (is_postgres(url))
        return 0; /* its nodes share it on purpose: the cluster decides who leads */
    int r = lock_path(url, path, sizeof(path));
    if (r < 0)
        return sk_err_set(err, r, "%s: cannot find the store's folder: %s", url, strerror(-r));
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EACCES || errno == EROFS) && mode == SK_STORE_LOCK_SHARE)
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC); /* a reader without write access */
    if (fd < 0)
        return sk_err_set(err, -errno, "%s: cannot open the store's lock file: %s", path,
                          strerror(errno));
    int op = (mode == SK_STORE_LOCK_OWN ? LOCK_EX : LOCK_SH) | LOCK_NB;
    sk_store_holder_t h;
    memset(&h, 0, sizeof(h));
    /* A holder that is not a live owner is mostly a passing reader, or a
     * process that died a moment ago (its children keep the lock until
     * their exec): wait for it a little. */
    for (int waited = 0;; waited += 50) {
        if (flock(fd, op) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            return sk_err_set(err, -e, "%s: cannot lock the store: %s", path, strerror(e));
        }
        describe_holder(fd, &h);
        if (waited >= wait_ms || (h.owner && h.pid > 0)) {
            close(fd);
            if (ret_holder)
                *ret_holder = h;
            return sk_err_set(err, SK_EBUSY, "%s: in use by another process", url);
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (mode == SK_STORE_LOCK_OWN) {
        /* Whoever is refused next can say who holds it, even without /proc. */
        char text[64];
        int n = sk_snprintf(text, sizeof(text), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
            int e = errno;
            close(fd);
            return sk_err_set(err, -e, "%s: cannot write the store's lock file: %s", path,
                              strerror(e));
        }
    }
    sk_store_lock_t *l = sk_xcalloc(1, sizeof(*l));
    l->fd = fd;
    *ret = l;
    return 0;
}

void sk_store_unlock(sk_store_lock_t *l)
{
    if (!l)
        return;
    close(l->fd); /* releases the flock: it is this description's alone */
    free(l);
}

void sk_store_holder_text(const sk_store_holder_t *h, char *buf, size_t size)
{
    if (h->pid > 0 && h->what[0])
        sk_snprintf(buf, size, "pid %ld: %s", h->pid, h->what);
    else if (h->pid > 0)
        sk_snprintf(buf, size, "pid %ld", h->pid);
    else
        sk_snprintf(buf, size, "a process sked cannot name");
}
