/*
 * The child's environment (DESIGN section 5): a minimal, explicit envp built
 * from scratch, never by changing the daemon's own environment (setenv and
 * putenv are banned: they race with exec and other threads). Exports
 * sk_runner_env, and the UTC stamp formatter shared with the log writer.
 */
#include "runner.h"
#include "runner_int.h"
#include "tz/tz.h"

#include <pwd.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define DEFAULT_LANG "C.UTF-8"

void sk_runner__utc_stamp(int64_t ms, bool with_ms, char *buf, size_t size)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    sk_civil_t c;
    sk_civil_from_seconds(secs, &c);
    if (with_ms)
        sk_snprintf(buf, size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year, c.month,
                    c.day, c.hour, c.min, c.sec, (int)frac);
    else
        sk_snprintf(buf, size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day,
                    c.hour, c.min, c.sec);
}

/* An envp under construction: "KEY=VALUE" strings, one per key. */
typedef struct envb {
    char **v;
    size_t n, cap;
} envb_t;

/* Sets key to value, replacing an earlier entry for the same key in place
 * (so later sources override earlier ones). Keys that are empty or hold
 * '=' cannot be expressed in an envp and are ignored. */
static void env_set(envb_t *e, const char *key, const char *value)
{
    size_t klen = strlen(key);
    if (klen == 0 || strchr(key, '='))
        return;
    if (!value)
        value = "";
    size_t n = klen + strlen(value) + 2;
    char *kv = sk_xmalloc(n);
    sk_snprintf(kv, n, "%s=%s", key, value);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=') {
            sk_secret_wipe(e->v[i], strlen(e->v[i]));
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    }
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = sk_xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

/* The daemon's value of name if set and non-empty, else NULL. */
static const char *daemon_env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

/* $HOME, else the user database's home for our uid, else "/". */
static void home_dir(char *buf, size_t size)
{
    const char *home = daemon_env("HOME");
    struct passwd pw, *res = NULL;
    char tmp[4096];
    if (!home && getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res && pw.pw_dir &&
        pw.pw_dir[0])
        home = pw.pw_dir;
    sk_strlcpy(buf, home ? home : "/", size);
}

char **sk_runner_env(const sk_body_t *body, const sk_run_info_t *info)
{
    envb_t e = {0};
    char buf[PATH_MAX];
    char num[32];
    const char *path = daemon_env("PATH");
    char *venv = NULL;

    if (!path)
        path = DEFAULT_PATH;
    /* Like `source VENV/bin/activate`: its bin comes first on PATH. A bad
     * explicit venv is reported by sk_runner_argv; here it is just unused. */
    if (body && sk_runner__venv(body, &venv, NULL) == 0 && venv) {
        size_t n = strlen(venv) + strlen(path) + 6;
        char *p = sk_xmalloc(n);
        sk_snprintf(p, n, "%s/bin:%s", venv, path);
        env_set(&e, "PATH", p);
        free(p);
    } else {
        env_set(&e, "PATH", path);
    }
    home_dir(buf, sizeof(buf));
    env_set(&e, "HOME", buf);
    env_set(&e, "LANG", daemon_env("LANG") ? daemon_env("LANG") : DEFAULT_LANG);
    if (info && info->tz_name && info->tz_name[0])
        env_set(&e, "TZ", info->tz_name);
    else if (daemon_env("TZ"))
        env_set(&e, "TZ", daemon_env("TZ"));
    env_set(&e, "PYTHONUNBUFFERED", "1");
    if (venv)
        env_set(&e, "VIRTUAL_ENV", venv);
    free(venv);

    for (size_t i = 0; body && i < body->nenv; i++)
        if (body->env[i].key)
            env_set(&e, body->env[i].key, body->env[i].value);

    if (info) {
        env_set(&e, "SKED_JOB", info->job ? info->job : "");
        sk_snprintf(num, sizeof(num), "%" PRId64, info->run_id);
        env_set(&e, "SKED_RUN_ID", num);
        sk_snprintf(num, sizeof(num), "%d", info->attempt);
        env_set(&e, "SKED_ATTEMPT", num);
        /* Always present, so os.environ["SKED_SCHEDULED_AT"] never raises;
         * empty for runs that were not scheduled (manual triggers). */
        buf[0] = '\0';
        if (info->scheduled_at != 0)
            sk_runner__utc_stamp(info->scheduled_at * 1000, false, buf, sizeof(buf));
        env_set(&e, "SKED_SCHEDULED_AT", buf);
        if (info->step)
            env_set(&e, "SKED_STEP", info->step);
        /* With SKED_RUN_ID, it names the run among every sked's on the
         * machine: run ids are only unique within one store. */
        if (info->state_dir)
            env_set(&e, "SKED_STATE_DIR", info->state_dir);
        for (size_t i = 0; info->extra && i < info->nextra; i++)
            env_set(&e, info->extra[i].key, info->extra[i].value);
    }
    return e.v;
}
