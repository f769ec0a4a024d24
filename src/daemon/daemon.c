/*
 * `sked run`: start-up (configuration, state folder lock, store, recovery of
 * what a previous life left), signals (TERM/INT stop, HUP reloads), watching
 * sked.yaml for changes, reload that swaps the snapshot only when the new one
 * is valid, and a clean stop that records what could not finish.
 */
#include "daemon_int.h"
#include "../metrics/metrics.h"

/* How often a node of a PostgreSQL store checks who leads (ms). */
#define LEAD_CHECK_MS 2000
#include "../alert/alert.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/timerfd.h>
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Takes the state folder's lock, or says who holds it. */
static int take_lock(sk_daemon_t *d)
{
    char path[4096];
    sk_snprintf(path, sizeof(path), "%s/%s", d->state_dir, SK_LOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "sked: run: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* The lock of a daemon that just died may outlive it for a moment: a
     * child forked at that instant holds the descriptor until its exec.
     * When the pid in the file is gone, wait a little for the lock. */
    for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0 && tries < 30; tries++) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        long holder = n > 0 ? strtol(pid, NULL, 10) : 0;
        if (holder > 0 && kill((pid_t)holder, 0) == 0)
            break; /* alive: another daemon */
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        if (n > 0)
            pid[n] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(stderr,
                "sked: run: another sked daemon%s%s%s is already running with state folder %s\n",
                pid[0] ? " (pid " : "", pid[0] ? pid : "", pid[0] ? ")" : "", d->state_dir);
        close(fd);
        return -1;
    }
    char buf[32];
    int n = sk_snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        fprintf(stderr, "sked: run: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    d->lock_fd = fd;
    return 0;
}

/*
 * Takes the store's own lock: one daemon per store, whatever state folder
 * each has (a second one would mark the first one's runs interrupted and
 * kill them, then both would fire). A CLI command reading the store, or a
 * `sked exec`, holds it shared for a moment or for its run: wait for a
 * passing reader, refuse a live owner at once.
 */
static int own_store(sk_daemon_t *d)
{
    sk_store_holder_t h;
    sk_err_t err;
    sk_err_clear(&err);
    int r = sk_store_lock(d->config->store_url, SK_STORE_LOCK_OWN, 3000, &d->store_lock, &h, &err);
    if (r == SK_EBUSY) {
        char who[320];
        sk_store_holder_text(&h, who, sizeof(who));
        fprintf(stderr,
                "sked: run: the store %s is in use by another sked process (%s); one daemon "
                "owns a store at a time: stop that one first, or give this configuration a "
                "store of its own\n",
                d->config->store_url, who);
        return -1;
    }
    if (r < 0) {
        fprintf(stderr, "sked: run: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/*
 * A job's runtime state. At start-up it continues from its stored state; a
 * job added by a reload starts from now (its stored instants, if it existed
 * before, belong to an older definition). A job without stored state is new:
 * nothing before now was its to run, and that is saved at once so that a
 * restart before its first fire keeps its place.
 */
/* Reads j's stored state into it (pause, last outcome, missed alert) and
 * returns its last fire instant (0: none; -1: the store failed, j as was). */
static int64_t read_state(sk_daemon_t *d, sk_jobrt_t *j)
{
    sk_job_state_t st = {.last_outcome = -1};
    sk_err_t err;
    sk_err_clear(&err);
    int r = d->store->ops->job_state_get(d->store, j->name, &st, &err);
    if (r < 0 && d->reading_states) {
        /* A failed read may have ended the transaction (PostgreSQL aborts
         * it): the other jobs' reads go on without one. */
        d->store->ops->rollback(d->store, NULL);
        d->reading_states = false;
        sk_err_clear(&err);
        r = d->store->ops->job_state_get(d->store, j->name, &st, &err);
    }
    if (r < 0) {
        sk_log(SK_LOG_ERROR, "event=store_error job=%s msg=\"%s\"", j->name, err.msg);
        return -1;
    }
    j->paused = st.paused;
    j->last_outcome = st.last_outcome;
    j->missed_alerted = st.missed_alerted;
    sk_metrics_paused(d->metrics, j->metrics, j->paused);
    return st.last_fire;
}

/* j goes on after last_fire: `every` keeps counting from it. */
static void continue_from(sk_jobrt_t *j, int64_t last_fire, int64_t now)
{
    j->last_fire = last_fire;
    j->anchor = sk_sched_anchor(j->cfg, last_fire, now);
}

static sk_jobrt_t *add_job(sk_daemon_t *d, const sk_job_cfg_t *cfg, int64_t now, bool fresh)
{
    size_t len = strlen(cfg->name);
    sk_jobrt_t *j = sk_xcalloc(1, sizeof(*j) + len + 1);
    j->name = memcpy((char *)(j + 1), cfg->name, len + 1);
    j->cfg = cfg;
    j->node.idx = SIZE_MAX;
    j->anchor = sk_sched_anchor(cfg, 0, now);
    j->last_outcome = -1;
    j->metrics = sk_metrics_job(d->metrics, cfg->name);
    int64_t last_fire = read_state(d, j);
    if (last_fire > 0 && !fresh) {
        continue_from(j, last_fire, now);
    } else {
        j->last_fire = now; /* a new job: nothing before now was its to run */
        j->unsaved = true;
        if (cfg->trigger == SK_TRIGGER_AT && cfg->at_ms <= now)
            sk_log(SK_LOG_WARN,
                   "event=in_past job=%s msg=\"its at: instant has passed; it will "
                   "only run when triggered\"",
                   cfg->name);
    }
    sk_daemon__jobs_add(d, j);
    return j;
}

/* Saves the state of jobs that have none stored yet, in one transaction. */
static void save_new_jobs(sk_daemon_t *d)
{
    const sk_store_ops_t *ops = d->store->ops;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = ops->begin(d->store, &err);
    for (size_t i = 0; i < d->njobs && rc == 0; i++) {
        sk_jobrt_t *j = d->jobs[i];
        if (!j->unsaved || !j->cfg)
            continue;
        sk_job_state_t st = {.last_fire = j->last_fire,
                             .paused = j->paused,
                             .last_outcome = j->last_outcome,
                             .missed_alerted = j->missed_alerted};
        rc = ops->job_state_set(d->store, j->name, &st, &err);
    }
    if (rc == 0)
        rc = ops->commit(d->store, &err);
    if (rc < 0) {
        ops->rollback(d->store, NULL);
        sk_log(SK_LOG_ERROR, "event=store_error msg=\"%s\"", err.msg);
        return;
    }
    for (size_t i = 0; i < d->njobs; i++)
        d->jobs[i]->unsaved = false;
}

/*
 * This boot of the machine, as the kernel names it (a random UUID per
 * boot), into buf; false when it cannot be read (not Linux, no /proc).
 * SKED_BOOT_ID_FILE names another file to read it from: the tests' seam,
 * since a test cannot reboot the machine.
 */
static bool read_boot_id(char *buf, size_t size)
{
    const char *path = getenv("SKED_BOOT_ID_FILE");
    FILE *f = fopen(path && *path ? path : "/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = '\0';
    for (const char *p = buf; *p; p++)
        ok &= (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-';
    return ok && buf[0];
}

/* At start: jobs with on: boot (or @reboot) that this boot of the machine
 * has not run yet, then every job with on: start. */
static void fire_start_events(sk_daemon_t *d)
{
    char boot_id[64];
    bool known = read_boot_id(boot_id, sizeof(boot_id));
    bool warned = false;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < d->njobs; i++) {
            sk_jobrt_t *j = d->jobs[i];
            if (!j->cfg || !j->cfg->enabled || j->paused)
                continue;
            bool boot = pass == 0 && sk_job_on_boot(j->cfg);
            if (!boot && !(pass == 1 && (j->cfg->on & SK_ON_START)))
                continue;
            if (boot && !known && !warned) {
                sk_log(SK_LOG_WARN, "event=boot_unknown msg=\"this machine's boot id cannot be "
                                    "read: jobs on boot run at each start of sked\"");
                warned = true;
            }
            sk_err_t err;
            sk_err_clear(&err);
            if (sk_daemon__fire_event(d, j, boot ? "boot" : "start", boot && known ? boot_id : NULL,
                                      &err) < 0)
                sk_log(SK_LOG_ERROR, "event=store_error job=%s msg=\"%s\"", j->name, err.msg);
        }
    }
}

/* A name -> index map for matching jobs across a reload in linear time
 * (open addressing; keys are borrowed). */
typedef struct {
    const char **keys;
    size_t *vals;
    size_t mask;
} name_map_t;

static uint64_t name_hash(const char *s)
{
    return sk_fnv64(SK_FNV64_INIT, s, strlen(s));
}

static void map_init(name_map_t *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    m->keys = sk_xcalloc(cap, sizeof(*m->keys));
    m->vals = sk_xcalloc(cap, sizeof(*m->vals));
    m->mask = cap - 1;
}

static void map_put(name_map_t *m, const char *key, size_t val)
{
    size_t i = name_hash(key) & m->mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & m->mask;
    m->keys[i] = key;
    m->vals[i] = val;
}

static size_t map_get(const name_map_t *m, const char *key)
{
    size_t i = name_hash(key) & m->mask;
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
        i = (i + 1) & m->mask;
    }
    return SIZE_MAX;
}

static void map_release(name_map_t *m)
{
    free(m->keys);
    free(m->vals);
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* This node's labels, limit and address from the configuration. */
static void node_settings(sk_daemon_t *d)
{
    const sk_config_t *c = d->config;
    const sk_node_cfg_t *n = sk_config_node(c, d->node_name);
    sk_buf_t b = {0};
    sk_buf_adds(&b, "");
    for (size_t i = 0; n && i < n->nlabels; i++) {
        if (i)
            sk_buf_adds(&b, ",");
        sk_buf_adds(&b, n->labels[i]);
    }
    free(d->node_labels);
    d->node_labels = sk_buf_take(&b, NULL);
    d->node_max = n && n->max_parallel > 0 ? n->max_parallel : c->max_parallel;
    d->lease_ms = c->cluster.lease_timeout_ms > 0 ? c->cluster.lease_timeout_ms : 15000;
    free(d->node_api);
    d->node_api = NULL;
    if (n && n->api) {
        d->node_api = sk_xstrdup(n->api);
    } else if (c->http.listen) {
        char host[256], url[512];
        const char *h = c->http.host;
        if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
            if (gethostname(host, sizeof(host)) != 0)
                sk_strlcpy(host, "localhost", sizeof(host));
            host[sizeof(host) - 1] = '\0';
            h = host;
        }
        sk_snprintf(url, sizeof(url), strchr(h, ':') ? "http://[%s]:%d" : "http://%s:%d", h,
                    c->http.port);
        d->node_api = sk_xstrdup(url);
    }
}

/*
 * Whether a file reload of nc looks like a file caught cut short (an editor
 * that truncates before it writes, a copy still under way): it would remove
 * more than half of the loaded jobs, and more jobs than it adds (an emptied
 * file removes them all). Renaming jobs adds as many as it removes: not held.
 * newjobs maps nc's job names. Logs event=reload_held when so.
 */
static bool hold_back(sk_daemon_t *d, const sk_config_t *nc, const name_map_t *newjobs)
{
    size_t loaded = 0, gone = 0;
    for (size_t i = 0; i < d->njobs; i++) {
        if (!d->jobs[i]->cfg)
            continue; /* removed by an earlier reload; kept for its state */
        loaded++;
        if (map_get(newjobs, d->jobs[i]->name) == SIZE_MAX)
            gone++;
    }
    size_t adds = nc->njobs - (loaded - gone);
    if (gone * 2 <= loaded || gone <= adds)
        return false;
    sk_log(SK_LOG_WARN,
           "event=reload_held trigger=file jobs=%zu would_remove=%zu would_add=%zu "
           "msg=\"%s looks cut short: it would remove %zu of the %zu jobs, so it is not applied "
           "by itself; run `sked reload` (or send SIGHUP) to apply it as it is\"",
           loaded, gone, adds, d->config_path, gone, loaded);
    return true;
}

/*
 * Reloads sked.yaml (see sk_daemon__reload). guarded: an automatic reload,
 * which is held back (returns 1, nothing changes) when hold_back says so.
 */
static int reload(sk_daemon_t *d, const char *why, bool guarded, char *msg, size_t size)
{
    sk_config_t *nc = NULL;
    sk_errs_t errs;
    sk_errs_init(&errs);
    if (sk_config_load(d->config_path, d->tzc, &nc, &errs) < 0) {
        sk_log(SK_LOG_ERROR,
               "event=reload_failed trigger=%s errors=%zu msg=\"the previous "
               "configuration stays in force\"",
               why, errs.n);
        for (size_t i = 0; i < errs.n; i++)
            sk_log(SK_LOG_ERROR, "event=config_error at=%s:%d:%d msg=\"%s%s%s\"",
                   errs.items[i].file ? errs.items[i].file : d->config_path, errs.items[i].line,
                   errs.items[i].col, errs.items[i].path, errs.items[i].path[0] ? ": " : "",
                   errs.items[i].msg);
        if (msg && errs.n)
            sk_snprintf(msg, size,
                        "%s:%d:%d: %s%s%s (%zu error%s; the previous configuration "
                        "stays in force)",
                        errs.items[0].file ? errs.items[0].file : d->config_path,
                        errs.items[0].line, errs.items[0].col, errs.items[0].path,
                        errs.items[0].path[0] ? ": " : "", errs.items[0].msg, errs.n,
                        errs.n == 1 ? "" : "s");
        sk_errs_release(&errs);
        return -1;
    }
    sk_errs_release(&errs);
    name_map_t newjobs, oldjobs;
    map_init(&newjobs, nc->njobs);
    for (size_t i = 0; i < nc->njobs; i++)
        map_put(&newjobs, nc->jobs[i].name, i);
    if (guarded && hold_back(d, nc, &newjobs)) {
        map_release(&newjobs);
        sk_config_unref(nc);
        return 1;
    }
    if (strcmp(nc->state_dir, d->config->state_dir) != 0)
        sk_log(SK_LOG_WARN, "event=reload msg=\"state_dir changed; the change takes effect at "
                            "the next start\"");
    if (!same_text(nc->http.listen, d->config->http.listen) ||
        !same_text(nc->http.admin_token_file, d->config->http.admin_token_file) ||
        !same_text(nc->http.read_token_file, d->config->http.read_token_file) ||
        nc->log_json != d->config->log_json || nc->log_syslog != d->config->log_syslog)
        sk_log(SK_LOG_WARN, "event=reload msg=\"http, log_format and syslog changes take effect "
                            "at the next start\"");
    int64_t now = sk_clock_wall_ms(d->clock);
    size_t added = 0, changed = 0, removed = 0, kept = 0;
    map_init(&oldjobs, d->njobs);
    for (size_t i = 0; i < d->njobs; i++)
        map_put(&oldjobs, d->jobs[i]->name, i);
    /* Match jobs by name: unchanged ones keep their state untouched. */
    for (size_t i = 0; i < d->njobs; i++) {
        sk_jobrt_t *j = d->jobs[i];
        size_t ni = map_get(&newjobs, j->name);
        const sk_job_cfg_t *ncfg = ni == SIZE_MAX ? NULL : &nc->jobs[ni];
        if (!ncfg) {
            if (j->cfg)
                removed++;
            j->cfg = NULL;
            sk_metrics_job_remove(d->metrics, j->metrics);
            j->metrics = NULL;
            sk_heap_remove(&d->heap, &j->node);
            j->next_due = 0;
            continue;
        }
        bool same = j->cfg && j->cfg->digest == ncfg->digest;
        j->cfg = ncfg;
        if (!j->metrics) {
            j->metrics = sk_metrics_job(d->metrics, j->name);
            sk_metrics_paused(d->metrics, j->metrics, j->paused);
        }
        if (same) {
            kept++;
        } else {
            /* A new definition counts from now: instants of the old one
             * between its last fire and now are not missed fires of this. */
            changed++;
            if (j->last_fire < now)
                j->last_fire = now;
            j->anchor = sk_sched_anchor(ncfg, 0, now);
            j->unsaved = true;
            sk_daemon__schedule_job(d, j);
        }
    }
    sk_config_t *old = d->config;
    d->config = nc;
    for (size_t i = 0; i < nc->njobs; i++) {
        if (map_get(&oldjobs, nc->jobs[i].name) == SIZE_MAX) {
            sk_jobrt_t *j = add_job(d, &nc->jobs[i], now, true);
            sk_daemon__schedule_job(d, j);
            added++;
        }
    }
    map_release(&newjobs);
    map_release(&oldjobs);
    sk_daemon__link_jobs(d);
    sk_daemon__files_update(d, false);
    sk_daemon__logon_update(d);
    sk_daemon__idle_update(d);
    save_new_jobs(d);
    /* Waiting runs of kept jobs follow the new definition. */
    for (sk_runrt_t *r = d->waiting; r; r = r->next) {
        /* Steps keep their workflow's definition; a run keeps its own when
         * its job turned from a workflow into a plain job or back. */
        if (r->wf || !r->job->cfg || r->is_workflow != (r->job->cfg->nsteps > 0))
            continue;
        sk_config_unref(r->snap);
        r->snap = sk_config_ref(d->config);
        r->cfg = r->job->cfg;
    }
    sk_config_unref(old);
    node_settings(d);
    sk_log(SK_LOG_INFO,
           "event=reloaded trigger=%s jobs=%zu added=%zu changed=%zu removed=%zu unchanged=%zu",
           why, nc->njobs, added, changed, removed, kept);
    sk_daemon__pump(d, now);
    sk_daemon__arm(d);
    return 0;
}

int sk_daemon__reload(sk_daemon_t *d, const char *why, char *msg, size_t size)
{
    return reload(d, why, false, msg, size);
}

/*
 * Automatic reload. Editors and copies write a file in several steps, with
 * pauses (truncate, then write; a slow disk or network copy): a file is
 * applied only once it has been quiet for RELOAD_QUIET_MS, that is, no change
 * event came and a fresh stat sees the same size, times and inode as at the
 * last one (a writer the events did not report still counts as writing).
 */
#define RELOAD_QUIET_MS 1000

/* Records sked.yaml's size, times and inode; returns whether they changed. */
static bool watch_restat(sk_daemon_t *d)
{
    struct stat st;
    int64_t size = 0, mtime = 0, ctime = 0;
    uint64_t ino = 0;
    if (stat(d->config_path, &st) == 0) {
        size = (int64_t)st.st_size;
        mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        ctime = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
        ino = (uint64_t)st.st_ino;
    }
    bool changed = size != d->watch_size || mtime != d->watch_mtime_ns ||
                   ctime != d->watch_ctime_ns || ino != d->watch_ino;
    d->watch_size = size;
    d->watch_mtime_ns = mtime;
    d->watch_ctime_ns = ctime;
    d->watch_ino = ino;
    return changed;
}

static void on_reload_debounce(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    if (watch_restat(d)) {
        /* Still being written: wait for another quiet spell. */
        uv_timer_start(&d->reload_debounce, on_reload_debounce, RELOAD_QUIET_MS, 0);
        return;
    }
    reload(d, "file", true, NULL, 0);
}

static void on_watch(uv_fs_event_t *h, const char *filename, int events, int status)
{
    sk_daemon_t *d = h->data;
    (void)events;
    if (status < 0)
        return;
    const char *base = strrchr(d->config_path, '/');
    base = base ? base + 1 : d->config_path;
    if (filename && strcmp(filename, base) != 0)
        return;
    /* Each change starts the quiet time again. */
    watch_restat(d);
    uv_timer_start(&d->reload_debounce, on_reload_debounce, RELOAD_QUIET_MS, 0);
}

#ifdef __linux__
/*
 * A realtime timer a year away with TFD_TIMER_CANCEL_ON_SET: the kernel
 * cancels it whenever the wall clock is set or jumps on resume, so a clock
 * change wakes the loop at once instead of at the next due instant (the
 * monotonic timer does not count time spent suspended).
 */
static void arm_clock_watch(sk_daemon_t *d)
{
    struct itimerspec its;
    struct timespec now;
    memset(&its, 0, sizeof(its));
    clock_gettime(CLOCK_REALTIME, &now);
    its.it_value.tv_sec = now.tv_sec + 365 * 86400;
    timerfd_settime(d->clock_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

static void on_clock_set(uv_poll_t *h, int status, int events)
{
    sk_daemon_t *d = h->data;
    uint64_t n;
    (void)status;
    (void)events;
    ssize_t r = read(d->clock_fd, &n, sizeof(n));
    if (r < 0 && errno == ECANCELED) {
        sk_log(SK_LOG_INFO, "event=clock_set msg=\"the wall clock changed; checking what is due\"");
        if (!d->stopping)
            uv_timer_start(&d->tick, sk_daemon__on_tick, 0, 0);
    }
    arm_clock_watch(d);
}

static void on_tick_fd(uv_poll_t *h, int status, int events)
{
    sk_daemon_t *d = h->data;
    uint64_t n;
    (void)status;
    (void)events;
    if (read(d->tick_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
        sk_daemon__on_tick(&d->tick);
}

static void start_tick_fd(sk_daemon_t *d)
{
    d->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (d->tick_fd < 0)
        return;
    if (uv_poll_init(d->loop, &d->tick_poll, d->tick_fd) == 0) {
        d->tick_poll.data = d;
        uv_poll_start(&d->tick_poll, UV_READABLE, on_tick_fd);
        d->tick_polling = true;
    } else {
        close(d->tick_fd);
        d->tick_fd = -1;
    }
}

static void start_clock_watch(sk_daemon_t *d)
{
    d->clock_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (d->clock_fd < 0)
        return;
    arm_clock_watch(d);
    if (uv_poll_init(d->loop, &d->clock_poll, d->clock_fd) == 0) {
        d->clock_poll.data = d;
        uv_poll_start(&d->clock_poll, UV_READABLE, on_clock_set);
        d->clock_watching = true;
    }
}
#else
static void start_tick_fd(sk_daemon_t *d)
{
    d->tick_fd = -1;
}

static void start_clock_watch(sk_daemon_t *d)
{
    d->clock_fd = -1;
}
#endif

static void on_close_free(uv_handle_t *h)
{
    (void)h;
}

void sk_daemon__maybe_exit(sk_daemon_t *d)
{
    if (!d->stopping || d->nrunning > 0 || d->finished || d->closed || d->work)
        return;
    sk_daemon__work_close(d);
    /* Deliveries in flight end on their own (bounded by their timeout). */
    sk_daemon__alerts_stop(d);
    if (d->alerts_in_flight > 0)
        return;
    d->closed = true;
    uv_timer_stop(&d->tick);
    uv_timer_stop(&d->flush);
    uv_timer_stop(&d->reload_debounce);
    uv_close((uv_handle_t *)&d->tick, on_close_free);
    uv_close((uv_handle_t *)&d->flush, on_close_free);
    uv_close((uv_handle_t *)&d->reload_debounce, on_close_free);
    uv_close((uv_handle_t *)&d->sigterm, on_close_free);
    uv_close((uv_handle_t *)&d->sigint, on_close_free);
    uv_close((uv_handle_t *)&d->sighup, on_close_free);
    if (d->lead_timer_on)
        uv_close((uv_handle_t *)&d->lead_timer, on_close_free);
    d->lead_timer_on = false;
    sk_daemon__files_close(d);
    sk_daemon__logon_close(d);
    sk_daemon__idle_close(d);
    if (d->watching)
        uv_close((uv_handle_t *)&d->watch, on_close_free);
    d->watching = false;
    if (d->clock_watching)
        uv_close((uv_handle_t *)&d->clock_poll, on_close_free);
    d->clock_watching = false;
    if (d->tick_polling)
        uv_close((uv_handle_t *)&d->tick_poll, on_close_free);
    d->tick_polling = false;
    sk_daemon__api_stop(d);
}

static void on_signal(uv_signal_t *h, int signum)
{
    sk_daemon_t *d = h->data;
    if (signum == SIGHUP) {
        sk_daemon__reload(d, "sighup", NULL, 0);
        return;
    }
    if (d->stopping) {
        sk_log(SK_LOG_WARN, "event=stopping msg=\"second signal: killing running jobs now\"");
        sk_daemon__stop_all(d, true);
        return;
    }
    sk_log(SK_LOG_INFO, "event=stopping signal=%s running=%d",
           signum == SIGTERM ? "SIGTERM" : "SIGINT", d->nrunning);
    d->stopping = true;
    uv_timer_stop(&d->tick);
    sk_daemon__stop_all(d, false);
    sk_daemon__maybe_exit(d);
}

/* Whether this node leads its store now (a store error: it does not). */
static bool check_leader(sk_daemon_t *d)
{
    bool lead = false;
    sk_err_t err;
    sk_err_clear(&err);
    if (d->store->ops->leader(d->store, &lead, &err) < 0) {
        sk_log(SK_LOG_ERROR,
               "event=store_error msg=\"%s\" note=\"cannot tell who leads; not "
               "firing\"",
               err.msg);
        return false;
    }
    return lead;
}

/* Became the leader: take up what the store holds, as at a start. */
static void promote(sk_daemon_t *d)
{
    int64_t now = sk_clock_wall_ms(d->clock);
    d->leading = true;
    /* The old leader moved every job's state on since this node loaded it:
     * continue from the store's, as a restart would. */
    for (size_t i = 0; i < d->njobs; i++) {
        sk_jobrt_t *j = d->jobs[i];
        int64_t last_fire = j->cfg ? read_state(d, j) : -1;
        if (last_fire > j->last_fire)
            continue_from(j, last_fire, now);
    }
    sk_log(SK_LOG_INFO, "event=leading msg=\"this node now fires the store's jobs\"");
    sk_daemon__alerts_resume(d);
    sk_daemon__recover(d, now);
    for (size_t i = 0; i < d->njobs; i++)
        sk_daemon__schedule_job(d, d->jobs[i]);
    d->starting = true; /* catch up what fell between the two leaders */
    uv_timer_start(&d->tick, sk_daemon__on_tick, 0, 0);
}

/*
 * Lost the leadership (the store was unreachable, or another node took it
 * meanwhile): stop firing at once, stop this node's runs and exit with 75
 * (EX_TEMPFAIL) for the supervisor to start it again, as a standby. The next
 * leader marks the runs interrupted and retries them by policy: no attempt
 * may run on two nodes at once. docs/ha.md has the reasoning.
 */
static void demote(sk_daemon_t *d)
{
    d->leading = false;
    if (d->cluster) {
        /* The runs this node dispatched go on on their nodes (this one's
         * too): the next leader takes them up from the store. */
        sk_log(SK_LOG_WARN, "event=lost_leadership msg=\"another node may fire now; this node "
                            "stops firing and goes on as a standby\"");
        sk_daemon__release(d);
        for (size_t i = 0; i < d->njobs; i++)
            sk_daemon__schedule_job(d, d->jobs[i]);
        sk_daemon__arm(d);
        return;
    }
    sk_log(SK_LOG_ERROR,
           "event=lost_leadership running=%d msg=\"another node may fire now; "
           "stopping this node's runs and exiting (75) to restart as a standby\"",
           d->nrunning);
    d->exit_code = SK_EXIT_LOST_LEAD;
    d->stopping = true;
    uv_timer_stop(&d->tick);
    sk_daemon__stop_all(d, false);
    sk_daemon__maybe_exit(d);
}

static void on_lead_timer(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    if (d->stopping)
        return;
    sk_daemon__work_beat(d);
    bool lead = check_leader(d);
    bool was = d->leading;
    if (lead && !d->leading)
        promote(d);
    else if (!lead && d->leading)
        demote(d);
    if (d->leading != was)
        sk_daemon__work_beat(d); /* the nodes table says who leads at once */
    if (d->leading && d->cluster)
        sk_daemon__sweep_dead(d);
    else if (!lead && d->cluster)
        sk_daemon__evict_silent_leader(d);
}

static void count_store_error(void *data)
{
    sk_metrics_store_error(data);
}

/* Loads and checks the configuration, makes the state folder, takes the
 * store (its lock, then a connection) and names this node. 0, or -1 after
 * saying why on stderr. */
static int open_daemon(sk_daemon_t *d, const char *config_path, const char *node_flag,
                       sk_errs_t *errs)
{
    sk_err_t err;
    sk_err_clear(&err);
    /* The same checks as `sked validate`, before anything is made or run. */
    if (sk_config_load(config_path, d->tzc, &d->config, errs) < 0 ||
        sk_config_preflight(d->config, config_path, SK_SOCKET_NAME, errs) < 0) {
        sk_errs_print(errs, stderr);
        return -1;
    }
    sk_log_set_json(d->config->log_json);
    if (d->config->log_syslog && sk_log_set_syslog(true, "sked") < 0)
        sk_log(SK_LOG_WARN, "event=syslog_failed msg=\"cannot open syslog; logging to stderr "
                            "only\"");
    d->config_path = sk_xstrdup(d->config->path);
    d->state_dir = sk_xstrdup(d->config->state_dir);
    char logs[4096];
    sk_snprintf(logs, sizeof(logs), "%s/logs", d->state_dir);
    int m = sk_mkdir_p(logs, 0700);
    if (m < 0) {
        fprintf(stderr, "sked: run: cannot create state folder %s: %s\n", d->state_dir,
                strerror(-m));
        return -1;
    }
    if (take_lock(d) < 0 || own_store(d) < 0)
        return -1;
    if (sk_store_open(d->config->store_url, &d->store, &err) < 0) {
        fprintf(stderr, "sked: run: %s\n", err.msg);
        return -1;
    }
    d->cluster = sk_store_cluster(d->store) != NULL;
    char name[128];
    if (sk_node_name(node_flag, name, sizeof(name), &err) < 0) {
        fprintf(stderr, "sked: run: %s\n", err.msg);
        return -1;
    }
    d->node_name = sk_xstrdup(name);
    node_settings(d);
    if (d->cluster && sk_daemon__work_name_taken(d))
        return -1;
    d->metrics = sk_metrics_new(SK_VERSION, sk_now_ms());
    d->store->on_error = count_store_error;
    d->store->on_error_data = d->metrics;
    return 0;
}

/* The loop's own timers and signals. */
static void wire_loop(sk_daemon_t *d, uv_loop_t *loop)
{
    d->loop = loop;
    uv_timer_init(loop, &d->tick);
    uv_timer_init(loop, &d->flush);
    uv_timer_init(loop, &d->reload_debounce);
    d->tick.data = d->flush.data = d->reload_debounce.data = d;
    start_tick_fd(d);
    uv_signal_init(loop, &d->sigterm);
    uv_signal_init(loop, &d->sigint);
    uv_signal_init(loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sighup, on_signal, SIGHUP);
}

/* The jobs, the lead (in a cluster), what a crash left behind, and each
 * job's next fire. */
static void take_up_jobs(sk_daemon_t *d)
{
    int64_t now = sk_clock_wall_ms(d->clock);
    /* Every job's stored state in one read transaction: a read of its own
     * each took and dropped SQLite's lock 100,000 times for 100,000 jobs,
     * a quarter of start-up. Nothing is written in it: rolled back. */
    d->reading_states = d->store->ops->begin(d->store, NULL) == 0;
    for (size_t i = 0; i < d->config->njobs; i++)
        add_job(d, &d->config->jobs[i], now, false);
    if (d->reading_states)
        d->store->ops->rollback(d->store, NULL);
    d->reading_states = false;
    sk_daemon__link_jobs(d);
    save_new_jobs(d);
    /* Several nodes on one PostgreSQL store: only the leader fires; every
     * node runs what the leader dispatches. */
    if (d->cluster) {
        sk_daemon__work_beat(d);
        sk_daemon__work_recover(d);
    }
    d->leading = check_leader(d);
    if (d->cluster && d->leading)
        sk_daemon__work_beat(d);
    if (!d->leading)
        sk_log(SK_LOG_INFO, "event=standby msg=\"another node leads this store; this one takes "
                            "over when it is gone\"");
    /* Deliveries a crash left pending first: recovery may raise new ones. */
    sk_daemon__alerts_start(d);
    if (d->leading)
        sk_daemon__recover(d, now);
    for (size_t i = 0; i < d->njobs; i++)
        sk_daemon__schedule_job(d, d->jobs[i]);
    if (d->cluster) {
        uv_timer_init(d->loop, &d->lead_timer);
        d->lead_timer.data = d;
        d->lead_timer_on = true;
        uv_timer_start(&d->lead_timer, on_lead_timer, LEAD_CHECK_MS, LEAD_CHECK_MS);
    }
    sk_daemon__work_start(d);
}

/* Everything the daemon holds, after its loop ended (or never began). */
static void release_daemon(sk_daemon_t *d)
{
    sk_daemon__wf_free_all(d);
    sk_heap_release(&d->heap); /* it marks its nodes, which live in the jobs */
    sk_daemon__jobs_free(d);
    sk_metrics_free(d->metrics);
    sk_store_close(d->store);
    sk_config_unref(d->config);
    sk_tz_cache_free(d->tzc);
    sk_store_unlock(d->store_lock); /* after the store's last write */
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    if (d->clock_fd >= 0)
        close(d->clock_fd);
    if (d->tick_fd >= 0)
        close(d->tick_fd);
    sk_daemon__work_close(d);
    sk_strv_free(d->live_labels);
    free(d->node_name);
    free(d->node_labels);
    free(d->node_api);
    free(d->config_path);
    free(d->state_dir);
    free(d->sock_path);
}

int sk_daemon_main(const char *config_path, const char *node_flag)
{
    sk_daemon_t dd, *d = &dd;
    sk_errs_t errs;
    sk_err_t err;
    int rc = 1;
    uv_loop_t loop;

    memset(d, 0, sizeof(*d));
    d->lock_fd = -1;
    d->clock = sk_clock_real();
    d->clock_fd = -1;
    d->tick_fd = -1;
    sk_errs_init(&errs);
    sk_err_clear(&err);
    sk_heap_init(&d->heap);
    signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
    /* The API's connection threads would each get a malloc arena that keeps
     * what a large answer used; a few shared arenas keep the daemon small
     * (and fork, which copies the page tables, fast). */
    mallopt(M_ARENA_MAX, 2);
#endif
    sk_alert_global_init(); /* before any thread exists */
    d->tzc = sk_tz_cache_new(NULL);
    if (open_daemon(d, config_path, node_flag, &errs) < 0 || uv_loop_init(&loop) < 0)
        goto out;
    wire_loop(d, &loop);
    take_up_jobs(d);
    d->started_at = sk_now_ms();
    d->started_mono = sk_mono_ms();
    if (sk_daemon__api_start(d, &err) < 0) {
        /* Without its socket the daemon could not be told anything: refuse. */
        fprintf(stderr, "sked: run: %s\n", err.msg);
        d->stopping = true;
        sk_daemon__stop_all(d, false);
        sk_daemon__maybe_exit(d);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        goto out;
    }
    if (uv_fs_event_init(&loop, &d->watch) == 0) {
        d->watch.data = d;
        if (uv_fs_event_start(&d->watch, on_watch, d->config->dir, 0) == 0)
            d->watching = true;
        else
            uv_close((uv_handle_t *)&d->watch, NULL);
    }
    start_clock_watch(d);
#ifdef __GLIBC__
    /* Parsing a large sked.yaml leaves freed memory glibc would keep. */
    malloc_trim(0);
#endif
    sk_log(SK_LOG_INFO, "event=started_daemon pid=%d jobs=%zu config=%s state_dir=%s version=%s",
           (int)getpid(), d->config->njobs, d->config_path, d->state_dir, SK_VERSION);
    d->starting = true;
    if (d->leading)
        fire_start_events(d);
    sk_daemon__files_update(d, true);
    sk_daemon__logon_update(d);
    sk_daemon__idle_update(d);
    /* The first wake checks for fires missed while sked was down. */
    uv_timer_start(&d->tick, sk_daemon__on_tick, 0, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    sk_log(SK_LOG_INFO, "event=stopped");
    rc = d->exit_code;
    if (uv_loop_close(&loop) != 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
out:
    release_daemon(d);
    sk_errs_release(&errs);
    sk_alert_global_cleanup();
    sk_log_set_syslog(false, NULL);
    sk_log_set_json(false);
    return rc;
}
