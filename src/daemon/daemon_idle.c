/*
 * on: idle — the machine has been idle a while. Idle means both: nobody
 * typed (the terminals of the sessions in utmp were not read from since
 * the last look: their access times, as `w` shows IDLE) and the CPU was
 * busy less than the job's percentage (/proc/stat, over the last look's
 * interval). A headless server with no sessions is idle when its CPU is.
 * Each job fires once per idle period: activity ends the period.
 *
 * Only a daemon with an idle job looks (a timer, every quarter of the
 * shortest `for`, between 1 and 30 s). SKED_IDLE_FILE is the tests'
 * seam: when set, its content says ("active", or anything else: idle),
 * and neither terminals nor CPU count.
 */
#include "daemon_int.h"

#include <sys/stat.h>
#include <utmp.h>

struct sk_idle {
    sk_daemon_t *d;
    uv_timer_t timer;
    int64_t since;          /* monotonic ms idle since; 0: active at the last look */
    uint64_t busy, total;   /* /proc/stat at the last look */
    int64_t last_look_wall; /* ms */
    sk_jobrt_t **fired;     /* jobs fired in this idle period */
    size_t nfired;
};

/* CPU busy percent since the last look (0 the first time). */
static int cpu_busy(sk_idle_t *I)
{
    FILE *f = fopen("/proc/stat", "re");
    unsigned long long v[8] = {0};
    int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                       &v[4], &v[5], &v[6], &v[7])
              : 0;
    if (f)
        fclose(f);
    if (n < 4)
        return 0;
    /* user nice system idle iowait irq softirq steal */
    uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7], total = busy + v[3] + v[4];
    int pct = 0;
    if (I->total && total > I->total)
        pct = (int)(100 * (busy - I->busy) / (total - I->total));
    I->busy = busy;
    I->total = total;
    return pct;
}

/* Whether a session's terminal was used since `after` (wall ms). */
static bool typed_since(int64_t after)
{
    FILE *f = fopen(sk_daemon__utmp_path(), "re");
    struct utmp u;
    bool typed = false;
    while (f && !typed && fread(&u, sizeof(u), 1, f) == 1) {
        if (u.ut_type != USER_PROCESS || !u.ut_line[0])
            continue;
        char path[64 + UT_LINESIZE];
        struct stat st;
        sk_snprintf(path, sizeof(path), "/dev/%.*s", UT_LINESIZE, u.ut_line);
        if (strstr(path, "..") == NULL && stat(path, &st) == 0)
            typed = (int64_t)st.st_atim.tv_sec * 1000 + st.st_atim.tv_nsec / 1000000 > after;
    }
    if (f)
        fclose(f);
    return typed;
}

static bool fired(const sk_idle_t *I, const sk_jobrt_t *j)
{
    for (size_t i = 0; i < I->nfired; i++)
        if (I->fired[i] == j)
            return true;
    return false;
}

static void look(uv_timer_t *t)
{
    sk_idle_t *I = t->data;
    sk_daemon_t *d = I->d;
    int64_t mono = sk_mono_ms(), wall = sk_now_ms();
    bool active;
    const char *seam = getenv("SKED_IDLE_FILE");
    if (seam && *seam) {
        char buf[16] = "";
        FILE *f = fopen(seam, "re");
        if (f) {
            if (!fgets(buf, sizeof(buf), f))
                buf[0] = '\0';
            fclose(f);
        }
        active = strncmp(buf, "active", 6) == 0;
    } else {
        int cpu = cpu_busy(I);
        int limit = 100;
        for (size_t i = 0; i < d->njobs; i++)
            if (d->jobs[i]->cfg && (d->jobs[i]->cfg->on & SK_ON_IDLE))
                limit = SK_MIN(limit, d->jobs[i]->cfg->idle_cpu);
        active = cpu >= limit || typed_since(I->last_look_wall);
    }
    I->last_look_wall = wall;
    if (active) {
        if (I->since)
            sk_log(SK_LOG_INFO, "event=active msg=\"the machine is in use again\"");
        I->since = 0;
        I->nfired = 0;
        return;
    }
    if (!I->since) {
        I->since = mono;
        sk_log(SK_LOG_INFO, "event=idle msg=\"the machine is idle\"");
    }
    for (size_t i = 0; i < d->njobs && d->leading && !d->stopping; i++) {
        sk_jobrt_t *j = d->jobs[i];
        const sk_job_cfg_t *c = j->cfg;
        if (!c || !(c->on & SK_ON_IDLE) || !c->enabled || j->paused || fired(I, j) ||
            mono - I->since < c->idle_ms)
            continue;
        I->fired = sk_xrealloc(I->fired, (I->nfired + 1) * sizeof(*I->fired));
        I->fired[I->nfired++] = j;
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_daemon__fire_event(d, j, "idle", NULL, &err) < 0)
            sk_log(SK_LOG_ERROR, "event=store_error job=%s msg=\"%s\"", j->name, err.msg);
    }
}

void sk_daemon__idle_update(sk_daemon_t *d)
{
    int64_t shortest = 0;
    for (size_t i = 0; i < d->njobs; i++) {
        const sk_job_cfg_t *c = d->jobs[i]->cfg;
        if (c && (c->on & SK_ON_IDLE) && (!shortest || c->idle_ms < shortest))
            shortest = c->idle_ms;
    }
    sk_idle_t *I = d->idle;
    if (!shortest) {
        if (I)
            uv_timer_stop(&I->timer); /* no idle job now: no wake-ups */
        return;
    }
    if (!I) {
        I = sk_xcalloc(1, sizeof(*I));
        I->d = d;
        I->last_look_wall = sk_now_ms();
        uv_timer_init(d->loop, &I->timer);
        I->timer.data = I;
        d->idle = I;
        cpu_busy(I); /* the first sample: usage counts from now */
    }
    int64_t every = SK_MIN(SK_MAX(shortest / 4, 1000), 30000);
    uv_timer_start(&I->timer, look, (uint64_t)every, (uint64_t)every);
}

static void on_closed(uv_handle_t *h)
{
    sk_idle_t *I = h->data;
    free(I->fired);
    free(I);
}

void sk_daemon__idle_close(sk_daemon_t *d)
{
    if (!d->idle)
        return;
    uv_close((uv_handle_t *)&d->idle->timer, on_closed);
    d->idle = NULL;
}
