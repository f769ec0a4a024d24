/*
 * Shared pieces of the commands around the daemon: loading the
 * configuration for a command, opening the store read-only, and the control
 * socket client (one JSON line out, one back).
 */
#include "cli_daemon.h"
#include "../daemon/daemon.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

int sk_cli_load(const char *opt_config, sk_tz_cache_t *tzc, sk_config_t **ret)
{
    sk_errs_t errs;
    sk_errs_init(&errs);
    const char *path = sk_cli_config_path(opt_config);
    if (sk_config_load(path, tzc, ret, &errs) < 0) {
        sk_errs_print(&errs, stderr);
        sk_errs_release(&errs);
        return SK_EXIT_USER;
    }
    sk_errs_release(&errs);
    return 0;
}

int sk_cli_open_store(const sk_config_t *cfg, sk_store_t **ret)
{
    sk_err_t err;
    sk_err_clear(&err);
    *ret = NULL;
    if (strncmp(cfg->store_url, "postgres", 8) != 0 && access(cfg->store_url, F_OK) != 0)
        return 0;
    if (sk_store_open_readonly(cfg->store_url, ret, &err) < 0) {
        sk_cli_error("%s", err.msg);
        return SK_EXIT_USER;
    }
    return 0;
}

int sk_cli_ctl(const char *state_dir, json_t *request, json_t **ret, sk_err_t *err)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if ((size_t)sk_snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", state_dir,
                            SK_SOCKET_NAME) >= sizeof(addr.sun_path))
        return sk_err_set(err, -ENAMETOOLONG, "control socket path too long");
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sk_err_set(err, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;
        close(fd);
        return sk_err_set(err, -e, "no sked daemon is running for %s (%s: %s)", state_dir,
                          addr.sun_path, strerror(e));
    }
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char *text = json_dumps(request, JSON_COMPACT);
    size_t len = strlen(text);
    int rc = 0;
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        rc = sk_err_set(err, -errno, "cannot send to the daemon: %s", strerror(errno));
    free(text);
    char buf[65536];
    size_t got = 0;
    while (rc == 0 && got < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sk_err_set(err, -errno, "no answer from the daemon: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (memchr(buf, '\n', got))
            break;
    }
    close(fd);
    if (rc < 0)
        return rc;
    buf[got] = '\0';
    json_error_t jerr;
    json_t *reply = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!reply)
        return sk_err_set(err, SK_EPARSE, "the daemon's answer is not JSON");
    *ret = reply;
    return 0;
}

const sk_job_cfg_t *sk_cli_job(const sk_config_t *cfg, const char *cmd, const char *name)
{
    const sk_job_cfg_t *job = sk_config_job(cfg, name);
    if (!job)
        sk_cli_error("%s: no job named \"%s\" in %s", cmd, name, cfg->path);
    return job;
}

json_t *sk_cli_ctl_call(const sk_config_t *cfg, const char *cmd, json_t *request,
                        const char *hint)
{
    sk_err_t err;
    json_t *reply = NULL;
    sk_err_clear(&err);
    int r = sk_cli_ctl(cfg->state_dir, request, &reply, &err);
    json_decref(request);
    if (r < 0) {
        sk_cli_error("%s: %s%s%s", cmd, err.msg, hint ? "; " : "", hint ? hint : "");
        return NULL;
    }
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *m = json_string_value(json_object_get(reply, "error"));
        sk_cli_error("%s: %s", cmd, m ? m : "the daemon refused");
        json_decref(reply);
        return NULL;
    }
    return reply;
}

void sk_cli_iso(const sk_tz_t *tz, int64_t ms, char *buf, size_t size)
{
    if (ms == 0) {
        sk_strlcpy(buf, "-", size);
        return;
    }
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    sk_tz_format_iso(tz, s, buf, size);
}

void sk_cli_iso_ms(const sk_tz_t *tz, int64_t ms, char *buf, size_t size)
{
    char iso[64];
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    sk_tz_format_iso(tz, s, iso, sizeof(iso));
    /* 2026-03-08T03:00:00 | -04:00 -> insert the milliseconds between. */
    sk_snprintf(buf, size, "%.19s.%03d%s", iso, (int)(ms - s * 1000), iso + 19);
}

void sk_cli_trigger_text(const sk_job_cfg_t *job, char *buf, size_t size)
{
    char tmp[64];
    switch (job->trigger) {
    case SK_TRIGGER_CRON: {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < job->ncron && len < size; i++)
            len += (size_t)sk_snprintf(buf + len, size - len, "%s%s", i ? " | " : "",
                                       job->cron_texts[i]);
        if (job->reboot && len < size)
            sk_snprintf(buf + len, size - len, "%s@reboot", len ? " | " : "");
        break;
    }
    case SK_TRIGGER_EVERY:
        sk_duration_format(job->every_ms, tmp, sizeof(tmp));
        sk_snprintf(buf, size, "every %s", tmp);
        break;
    case SK_TRIGGER_AT:
        sk_cli_iso(job->tz, job->at_ms, tmp, sizeof(tmp));
        sk_snprintf(buf, size, "at %s", tmp);
        break;
    case SK_TRIGGER_NONE:
    default:
        sk_snprintf(buf, size, job->reboot ? "@reboot" : "manual");
        break;
    }
}
