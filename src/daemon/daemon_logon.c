/*
 * on: logon — a user's session starts. The source is the utmp file
 * (/var/run/utmp: login, sshd and the display managers write a
 * USER_PROCESS record per session), watched with inotify; a record that
 * was not there at the last look is a new session. Sessions open when
 * sked starts do not count. SKED_UTMP_FILE names another file: the tests'
 * seam, since a test cannot log a user on.
 *
 * logind also knows sessions, but reading it needs D-Bus; utmp is on every
 * Linux with logins, logind or not, and says the same for this purpose.
 */
#include "daemon_int.h"

#include <sys/inotify.h>
#include <utmp.h>

#define MAX_SESSIONS 4096

typedef struct {
    char line[UT_LINESIZE + 1];
    char user[UT_NAMESIZE + 1];
    int32_t pid;
    int64_t tv_us;
} session_t;

struct sk_logon {
    sk_daemon_t *d;
    int fd;
    uv_poll_t poll;
    char *path, *dir, *base;
    session_t *known;
    size_t nknown;
    bool changed; /* the file was among the events just read */
};

const char *sk_daemon__utmp_path(void)
{
    const char *p = getenv("SKED_UTMP_FILE");
    return p && *p ? p : _PATH_UTMP;
}

/* The USER_PROCESS records of the file now (new memory in *ret). */
static size_t read_sessions(const char *path, session_t **ret)
{
    session_t *v = NULL;
    size_t n = 0;
    FILE *f = fopen(path, "re");
    struct utmp u;
    while (f && n < MAX_SESSIONS && fread(&u, sizeof(u), 1, f) == 1) {
        if (u.ut_type != USER_PROCESS || !u.ut_user[0])
            continue;
        v = sk_xrealloc(v, (n + 1) * sizeof(*v));
        session_t *s = &v[n++];
        memset(s, 0, sizeof(*s));
        memcpy(s->line, u.ut_line, sizeof(u.ut_line));
        memcpy(s->user, u.ut_user, sizeof(u.ut_user));
        s->pid = u.ut_pid;
        s->tv_us = (int64_t)u.ut_tv.tv_sec * 1000000 + u.ut_tv.tv_usec;
    }
    if (f)
        fclose(f);
    *ret = v;
    return n;
}

static bool known(const sk_logon_t *L, const session_t *s)
{
    for (size_t i = 0; i < L->nknown; i++)
        if (L->known[i].pid == s->pid && L->known[i].tv_us == s->tv_us &&
            strcmp(L->known[i].line, s->line) == 0 && strcmp(L->known[i].user, s->user) == 0)
            return true;
    return false;
}

/* Fires the logon jobs for each session that was not there before. */
static void look(sk_logon_t *L)
{
    sk_daemon_t *d = L->d;
    session_t *now = NULL;
    size_t n = read_sessions(L->path, &now);
    for (size_t i = 0; i < n && d->leading && !d->stopping; i++) {
        if (known(L, &now[i]))
            continue;
        sk_log(SK_LOG_INFO, "event=logon user=%s line=%s", now[i].user, now[i].line);
        for (size_t k = 0; k < d->njobs; k++) {
            sk_jobrt_t *j = d->jobs[k];
            const sk_job_cfg_t *c = j->cfg;
            if (!c || !(c->on & SK_ON_LOGON) || !c->enabled || j->paused ||
                (c->logon_user && strcmp(c->logon_user, now[i].user) != 0))
                continue;
            char event[128];
            sk_snprintf(event, sizeof(event), "logon: %s", now[i].user);
            sk_err_t err;
            sk_err_clear(&err);
            if (sk_daemon__fire_event(d, j, event, NULL, &err) < 0)
                sk_log(SK_LOG_ERROR, "event=store_error job=%s msg=\"%s\"", j->name, err.msg);
        }
    }
    free(L->known);
    L->known = now;
    L->nknown = n;
}

static void note_ours(void *ctx, const struct inotify_event *ev)
{
    sk_logon_t *L = ctx;
    L->changed |= ev->len && strcmp(ev->name, L->base) == 0;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    sk_logon_t *L = h->data;
    uint64_t buf[512]; /* aligned as inotify_event needs */
    (void)status;
    (void)events;
    L->changed = false;
    sk_daemon__inotify_read(L->fd, buf, sizeof(buf), note_ours, L);
    if (L->changed)
        look(L);
}

static bool any_logon_job(const sk_daemon_t *d)
{
    for (size_t i = 0; i < d->njobs; i++)
        if (d->jobs[i]->cfg && (d->jobs[i]->cfg->on & SK_ON_LOGON))
            return true;
    return false;
}

void sk_daemon__logon_update(sk_daemon_t *d)
{
    if (d->logon || !any_logon_job(d))
        return; /* once watching, it stays (a reload may bring logon jobs back) */
    sk_logon_t *L = sk_xcalloc(1, sizeof(*L));
    L->d = d;
    L->path = sk_xstrdup(sk_daemon__utmp_path());
    const char *slash = strrchr(L->path, '/');
    L->base = sk_xstrdup(slash ? slash + 1 : L->path);
    L->dir = !slash             ? sk_xstrdup(".")
             : slash == L->path ? sk_xstrdup("/")
                                : sk_xstrndup(L->path, (size_t)(slash - L->path));
    /* The folder, not the file: the file may be made, or replaced. */
    L->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (L->fd < 0 || inotify_add_watch(L->fd, L->dir,
                                       IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
        sk_log(SK_LOG_ERROR,
               "event=logon_watch_failed path=\"%s\" msg=\"%s; jobs on logon will "
               "not start\"",
               L->path, strerror(errno));
        if (L->fd >= 0)
            close(L->fd);
        free(L->path);
        free(L->dir);
        free(L->base);
        free(L);
        return;
    }
    L->nknown = read_sessions(L->path, &L->known); /* open now: not new */
    uv_poll_init(d->loop, &L->poll, L->fd);
    L->poll.data = L;
    uv_poll_start(&L->poll, UV_READABLE, on_readable);
    d->logon = L;
}

static void on_closed(uv_handle_t *h)
{
    sk_logon_t *L = h->data;
    close(L->fd);
    free(L->known);
    free(L->path);
    free(L->dir);
    free(L->base);
    free(L);
}

void sk_daemon__logon_close(sk_daemon_t *d)
{
    if (!d->logon)
        return;
    uv_close((uv_handle_t *)&d->logon->poll, on_closed);
    d->logon = NULL;
}
