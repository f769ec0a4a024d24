/*
 * on: file — files in a folder start a job. One inotify instance for the
 * daemon, watched by the loop; each job's folder (and, recursive, its
 * sub-folders) is a watch. An event on a matching name makes the path
 * pending; it fires once nothing has happened to it for the job's settle
 * time (a file still being written keeps being put off), through
 * sk_daemon__fire_event, so the job's overlap policy decides what runs.
 *
 * Bounds: at most MAX_PENDING paths wait per job (more are dropped, and
 * said), at most MAX_DIRS folders are watched per job. Events while the
 * daemon is down are not seen: `existing: true` fires for the matching
 * files there at start instead.
 */
#include "daemon_int.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#define MAX_PENDING 10000
#define MAX_DIRS 10000
#define READ_BUF (64 * 1024)

typedef struct {
    char *path;  /* absolute */
    int64_t due; /* monotonic ms */
} pending_t;

/* One job's watch: its folders and its paths waiting to settle. */
typedef struct {
    sk_jobrt_t *job;
    pending_t *pend;
    size_t npend, cap;
    size_t *index; /* open addressing over pend by path: i + 1, 0 empty */
    size_t index_mask;
    bool dropped_said;
} fjob_t;

typedef struct {
    int wd;
    fjob_t *fj;
    char *dir; /* absolute, without a trailing / */
} fdir_t;

struct sk_files {
    sk_daemon_t *d;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    int nopen; /* handles not yet closed */
    fjob_t **jobs;
    size_t njobs;
    fdir_t *dirs;
    size_t ndirs, dirs_cap;
    char *buf;
};

static size_t path_hash(const char *s)
{
    return (size_t)sk_fnv64(SK_FNV64_INIT, s, strlen(s));
}

static void index_rebuild(fjob_t *fj)
{
    size_t cap = 64;
    while (cap < 2 * fj->npend + 2)
        cap *= 2;
    free(fj->index);
    fj->index = sk_xcalloc(cap, sizeof(*fj->index));
    fj->index_mask = cap - 1;
    for (size_t i = 0; i < fj->npend; i++) {
        size_t h = path_hash(fj->pend[i].path) & fj->index_mask;
        while (fj->index[h])
            h = (h + 1) & fj->index_mask;
        fj->index[h] = i + 1;
    }
}

static pending_t *pending_find(fjob_t *fj, const char *path)
{
    if (!fj->index)
        return NULL;
    for (size_t h = path_hash(path) & fj->index_mask; fj->index[h]; h = (h + 1) & fj->index_mask)
        if (strcmp(fj->pend[fj->index[h] - 1].path, path) == 0)
            return &fj->pend[fj->index[h] - 1];
    return NULL;
}

/* Makes path pending until due (or puts it off to due when it is); the
 * caller arms the timer after. */
static void pending_put(fjob_t *fj, const char *path, int64_t due)
{
    pending_t *p = pending_find(fj, path);
    if (p) {
        p->due = due;
        return;
    }
    if (fj->npend >= MAX_PENDING) {
        if (!fj->dropped_said)
            sk_log(SK_LOG_WARN,
                   "event=file_events_dropped job=%s msg=\"more than %d files are waiting to "
                   "settle; events for others are dropped until they have fired\"",
                   fj->job->name, MAX_PENDING);
        fj->dropped_said = true;
        return;
    }
    if (fj->npend == fj->cap) {
        fj->cap = fj->cap ? fj->cap * 2 : 16;
        fj->pend = sk_xrealloc(fj->pend, fj->cap * sizeof(*fj->pend));
    }
    fj->pend[fj->npend].path = sk_xstrdup(path);
    fj->pend[fj->npend].due = due;
    fj->npend++;
    if (!fj->index || 2 * fj->npend + 2 > fj->index_mask + 1) {
        index_rebuild(fj);
    } else {
        size_t h = path_hash(path) & fj->index_mask;
        while (fj->index[h])
            h = (h + 1) & fj->index_mask;
        fj->index[h] = fj->npend;
    }
}

static void fjob_free(fjob_t *fj)
{
    for (size_t i = 0; i < fj->npend; i++)
        free(fj->pend[i].path);
    free(fj->pend);
    free(fj->index);
    free(fj);
}

static fjob_t *fjob_of(sk_files_t *F, sk_jobrt_t *j)
{
    for (size_t i = 0; i < F->njobs; i++)
        if (F->jobs[i]->job == j)
            return F->jobs[i];
    return NULL;
}

/* ---- folders ---- */

static void add_dir(sk_files_t *F, fjob_t *fj, const char *dir, bool scan, int64_t now);

static uint32_t mask_of(const sk_file_watch_cfg_t *f)
{
    /* Writes always count, whatever the events: they put a pending file
     * off, so that one still being written does not fire. */
    uint32_t m = IN_MODIFY | IN_CLOSE_WRITE | IN_ONLYDIR | IN_DONT_FOLLOW;
    if (f->events & SK_FILE_CREATED)
        m |= IN_CREATE;
    if (f->events & SK_FILE_MOVED_IN)
        m |= IN_MOVED_TO;
    if (f->events & SK_FILE_DELETED)
        m |= IN_DELETE;
    if (f->events & SK_FILE_MOVED_OUT)
        m |= IN_MOVED_FROM;
    if (f->recursive)
        m |= IN_CREATE | IN_MOVED_TO; /* to watch new sub-folders */
    return m;
}

/* What a matching file found at start (existing) or in a new sub-folder
 * counts as: there now, as if it had just been written. */
static void found_file(fjob_t *fj, const char *dir, const char *name, int64_t now)
{
    const sk_file_watch_cfg_t *f = fj->job->cfg->file;
    if (!sk_file_watch_match(f, name))
        return;
    char path[4096];
    sk_snprintf(path, sizeof(path), "%s/%s", dir, name);
    pending_put(fj, path, now + f->settle_ms);
}

/* Each entry of dir: files as found (when scan), sub-folders watched
 * (when recursive). */
static void scan_dir(sk_files_t *F, fjob_t *fj, const char *dir, bool scan, int64_t now)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        struct stat st;
        sk_snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && fj->job->cfg->file->recursive)
            add_dir(F, fj, path, scan, now);
        else if (S_ISREG(st.st_mode) && scan)
            found_file(fj, dir, e->d_name, now);
    }
    closedir(dp);
}

static void add_dir(sk_files_t *F, fjob_t *fj, const char *dir, bool scan, int64_t now)
{
    size_t mine = 0;
    for (size_t i = 0; i < F->ndirs; i++) {
        if (F->dirs[i].fj != fj)
            continue;
        if (strcmp(F->dirs[i].dir, dir) == 0)
            return;
        mine++;
    }
    if (mine >= MAX_DIRS) {
        sk_log(SK_LOG_WARN,
               "event=file_watch_full job=%s dir=\"%s\" msg=\"%d folders are "
               "watched for this job already; this one is not\"",
               fj->job->name, dir, MAX_DIRS);
        return;
    }
    int wd = inotify_add_watch(F->fd, dir, mask_of(fj->job->cfg->file) | IN_MASK_ADD);
    if (wd < 0) {
        sk_log(SK_LOG_WARN, "event=file_watch_failed job=%s dir=\"%s\" msg=\"%s%s\"", fj->job->name,
               dir, strerror(errno), errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
        return;
    }
    if (F->ndirs == F->dirs_cap) {
        F->dirs_cap = F->dirs_cap ? F->dirs_cap * 2 : 8;
        F->dirs = sk_xrealloc(F->dirs, F->dirs_cap * sizeof(*F->dirs));
    }
    F->dirs[F->ndirs++] = (fdir_t){.wd = wd, .fj = fj, .dir = sk_xstrdup(dir)};
    scan_dir(F, fj, dir, scan, now);
}

static void drop_dirs(sk_files_t *F)
{
    for (size_t i = 0; i < F->ndirs; i++) {
        bool last = true; /* one watch per folder, whichever jobs share it */
        for (size_t k = i + 1; k < F->ndirs && last; k++)
            last = F->dirs[k].wd != F->dirs[i].wd;
        if (last)
            inotify_rm_watch(F->fd, F->dirs[i].wd);
        free(F->dirs[i].dir);
    }
    F->ndirs = 0;
}

/* ---- events ---- */

static unsigned kind_of(uint32_t mask)
{
    if (mask & IN_CREATE)
        return SK_FILE_CREATED;
    if (mask & IN_CLOSE_WRITE)
        return SK_FILE_CLOSED_WRITE;
    if (mask & IN_MOVED_TO)
        return SK_FILE_MOVED_IN;
    if (mask & IN_MODIFY)
        return SK_FILE_MODIFIED;
    if (mask & IN_DELETE)
        return SK_FILE_DELETED;
    if (mask & IN_MOVED_FROM)
        return SK_FILE_MOVED_OUT;
    return 0;
}

static void on_event(sk_files_t *F, const struct inotify_event *ev, int64_t now)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        sk_log(SK_LOG_WARN, "event=file_events_lost msg=\"the kernel's queue of file events "
                            "overflowed: some files may not fire\"");
        return;
    }
    for (size_t i = 0; i < F->ndirs; i++) {
        fdir_t *fd = &F->dirs[i];
        if (fd->wd != ev->wd)
            continue;
        if (ev->mask & IN_IGNORED) {
            sk_log(SK_LOG_WARN,
                   "event=file_watch_gone job=%s dir=\"%s\" msg=\"the folder went "
                   "away; its files no longer start the job\"",
                   fd->fj->job->name, fd->dir);
            continue;
        }
        if (!ev->len)
            continue;
        const sk_file_watch_cfg_t *f = fd->fj->job->cfg ? fd->fj->job->cfg->file : NULL;
        if (!f)
            continue;
        char path[4096];
        sk_snprintf(path, sizeof(path), "%s/%s", fd->dir, ev->name);
        if (ev->mask & IN_ISDIR) {
            if (f->recursive && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
                add_dir(F, fd->fj, path, true, now); /* what was made in it meanwhile: found */
            continue;
        }
        unsigned kind = kind_of(ev->mask);
        pending_t *p = pending_find(fd->fj, path);
        if (p && (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE)))
            p->due = now + f->settle_ms; /* still being written: put off */
        else if ((kind & f->events) && sk_file_watch_match(f, ev->name))
            pending_put(fd->fj, path, now + f->settle_ms);
    }
}

static void arm(sk_files_t *F);

/* Applies every event the kernel holds for us now. */
void sk_daemon__inotify_read(int fd, void *buf, size_t size,
                             void (*each)(void *ctx, const struct inotify_event *ev), void *ctx)
{
    for (;;) {
        ssize_t n = read(fd, buf, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            const struct inotify_event *ev = (const struct inotify_event *)((char *)buf + off);
            each(ctx, ev);
            off += (ssize_t)(sizeof(*ev) + ev->len);
        }
    }
}

typedef struct {
    sk_files_t *F;
    int64_t now;
} drain_t;

static void drain_one(void *ctx, const struct inotify_event *ev)
{
    drain_t *D = ctx;
    on_event(D->F, ev, D->now);
}

static void drain(sk_files_t *F, int64_t now)
{
    drain_t D = {F, now};
    sk_daemon__inotify_read(F->fd, F->buf, READ_BUF, drain_one, &D);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    sk_files_t *F = h->data;
    (void)status;
    (void)events;
    drain(F, sk_mono_ms());
    arm(F);
}

/* Fires every path of fj due by now, oldest first. */
static void fire_due(sk_files_t *F, fjob_t *fj, int64_t now)
{
    sk_daemon_t *d = F->d;
    size_t keep = 0;
    bool fired = false;
    for (size_t i = 0; i < fj->npend; i++) {
        pending_t p = fj->pend[i];
        if (p.due > now) {
            fj->pend[keep++] = p;
            continue;
        }
        fired = true;
        sk_jobrt_t *j = fj->job;
        if (d->leading && !d->stopping && j->cfg && j->cfg->file && j->cfg->enabled && !j->paused) {
            size_t n = strlen(p.path) + 7;
            char *event = sk_xmalloc(n);
            sk_snprintf(event, n, "file: %s", p.path);
            sk_err_t err;
            sk_err_clear(&err);
            if (sk_daemon__fire_event(d, j, event, NULL, &err) < 0)
                sk_log(SK_LOG_ERROR, "event=store_error job=%s msg=\"%s\"", j->name, err.msg);
            free(event);
        }
        free(p.path);
    }
    fj->npend = keep;
    if (fired) {
        fj->dropped_said = false;
        index_rebuild(fj);
    }
}

static void on_timer(uv_timer_t *t)
{
    sk_files_t *F = t->data;
    int64_t now = sk_mono_ms();
    /* The loop runs timers before it reads: a file whose later writes are
     * already queued would fire now and again after them. They are read
     * first, and put it off. */
    drain(F, now);
    for (size_t i = 0; i < F->njobs; i++)
        fire_due(F, F->jobs[i], now);
    arm(F);
}

/* The timer at the earliest due path, if any. */
static void arm(sk_files_t *F)
{
    int64_t best = 0;
    for (size_t i = 0; i < F->njobs; i++)
        for (size_t k = 0; k < F->jobs[i]->npend; k++)
            if (!best || F->jobs[i]->pend[k].due < best)
                best = F->jobs[i]->pend[k].due;
    if (!best || F->d->stopping) {
        uv_timer_stop(&F->timer);
        return;
    }
    int64_t wait = best - sk_mono_ms();
    uv_timer_start(&F->timer, on_timer, (uint64_t)SK_MAX(wait, 0), 0);
}

/* ---- life ---- */

/* The watches for the jobs as configured now; existing: files there fire
 * (at start only). Pending paths of jobs that keep a file trigger stay. */
static void build(sk_files_t *F, bool at_start)
{
    sk_daemon_t *d = F->d;
    int64_t now = sk_mono_ms();
    drop_dirs(F);
    size_t keep = 0;
    for (size_t i = 0; i < F->njobs; i++) {
        fjob_t *fj = F->jobs[i];
        if (fj->job->cfg && fj->job->cfg->file)
            F->jobs[keep++] = fj;
        else
            fjob_free(fj);
    }
    F->njobs = keep;
    for (size_t i = 0; i < d->njobs; i++) {
        sk_jobrt_t *j = d->jobs[i];
        if (!j->cfg || !j->cfg->file)
            continue;
        fjob_t *fj = fjob_of(F, j);
        if (!fj) {
            fj = sk_xcalloc(1, sizeof(*fj));
            fj->job = j;
            F->jobs = sk_xrealloc(F->jobs, (F->njobs + 1) * sizeof(*F->jobs));
            F->jobs[F->njobs++] = fj;
        }
        add_dir(F, fj, j->cfg->file->path, at_start && j->cfg->file->existing && d->leading, now);
    }
    arm(F);
}

static bool any_file_job(const sk_daemon_t *d)
{
    for (size_t i = 0; i < d->njobs; i++)
        if (d->jobs[i]->cfg && d->jobs[i]->cfg->file)
            return true;
    return false;
}

void sk_daemon__files_update(sk_daemon_t *d, bool at_start)
{
    sk_files_t *F = d->files;
    if (!F) {
        if (!any_file_job(d))
            return;
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
            sk_log(SK_LOG_ERROR,
                   "event=file_watch_failed msg=\"inotify: %s; jobs on file "
                   "events will not start on them\"",
                   strerror(errno));
            return;
        }
        F = sk_xcalloc(1, sizeof(*F));
        F->d = d;
        F->fd = fd;
        F->buf = sk_xmalloc(READ_BUF);
        uv_poll_init(d->loop, &F->poll, fd);
        F->poll.data = F;
        uv_poll_start(&F->poll, UV_READABLE, on_readable);
        uv_timer_init(d->loop, &F->timer);
        F->timer.data = F;
        F->nopen = 2;
        d->files = F;
    }
    build(F, at_start);
}

static void on_closed(uv_handle_t *h)
{
    sk_files_t *F = h->data;
    if (--F->nopen > 0)
        return;
    for (size_t i = 0; i < F->njobs; i++)
        fjob_free(F->jobs[i]);
    free(F->jobs);
    for (size_t i = 0; i < F->ndirs; i++)
        free(F->dirs[i].dir);
    free(F->dirs);
    close(F->fd);
    free(F->buf);
    free(F);
}

void sk_daemon__files_close(sk_daemon_t *d)
{
    sk_files_t *F = d->files;
    if (!F)
        return;
    d->files = NULL;
    uv_close((uv_handle_t *)&F->poll, on_closed);
    uv_close((uv_handle_t *)&F->timer, on_closed);
}
