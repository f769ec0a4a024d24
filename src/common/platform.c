/*
 * What is Linux- or POSIX-specific and more than one module needs: making a
 * folder with its parents (sk_mkdir_p), and reading /proc (sk_procfs_read,
 * sk_procfs_same_exe, sk_procfs_each_pid). Another system's port starts
 * here; the callers keep their logic.
 */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

/* mkdir that counts an existing folder as done, and anything else there as
 * -ENOTDIR. */
static int mkdir_one(const char *dir, mode_t mode)
{
    if (mkdir(dir, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int sk_mkdir_p(const char *dir, mode_t mode)
{
    char *d = sk_xstrdup(dir);
    int rc = 0;
    /* Each parent from the top; "/" and "//" are never made. */
    for (char *p = d + 1; *p && rc == 0; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        rc = mkdir_one(d, mode);
        *p = '/';
    }
    if (rc == 0)
        rc = mkdir_one(d, mode);
    free(d);
    return rc;
}

ssize_t sk_procfs_read(int pid, const char *name, char *buf, size_t size)
{
    char path[64];
    if (size < 2)
        return -EINVAL;
    sk_snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t len = read(fd, buf, size - 1);
    int e = errno;
    close(fd);
    if (len < 0)
        return -e;
    if (len == 0)
        return -ENODATA; /* a zombie, or a kernel thread */
    buf[len] = '\0';
    return len;
}

bool sk_procfs_same_exe(int pid)
{
    char a[4096], b[4096], path[64];
    sk_snprintf(path, sizeof(path), "/proc/%d/exe", pid);
    ssize_t na = readlink(path, a, sizeof(a) - 1);
    ssize_t nb = readlink("/proc/self/exe", b, sizeof(b) - 1);
    if (na <= 0 || nb <= 0)
        return false;
    a[na] = b[nb] = '\0';
    return strcmp(a, b) == 0;
}

int sk_procfs_each_pid(bool (*cb)(int pid, void *data), void *data)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1 || pid > INT_MAX || pid == (long)getpid())
            continue;
        if (cb((int)pid, data))
            n++;
    }
    closedir(dir);
    return n;
}
