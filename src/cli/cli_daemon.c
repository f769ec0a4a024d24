/*
 * Shared pieces of the commands around the daemon: loading the
 * configuration for a command, opening the store read-only, and the control
 * API client (HTTP over the control socket, with libcurl).
 */
#include "cli_daemon.h"
#include "../daemon/daemon.h"

#include <curl/curl.h>

static int load(const char *opt_config, unsigned flags, sk_tz_cache_t *tzc, sk_config_t **ret)
{
    sk_errs_t errs;
    sk_errs_init(&errs);
    const char *path = sk_cli_config_path(opt_config);
    if (sk_config_load_opts(path, flags, tzc, ret, &errs) < 0) {
        sk_errs_print(&errs, stderr);
        sk_errs_release(&errs);
        return SK_EXIT_USER;
    }
    sk_errs_release(&errs);
    return 0;
}

int sk_cli_load(const char *opt_config, sk_tz_cache_t *tzc, sk_config_t **ret)
{
    return load(opt_config, SK_CONFIG_SKIP_SECRETS, tzc, ret);
}

int sk_cli_load_secrets(const char *opt_config, sk_tz_cache_t *tzc, sk_config_t **ret)
{
    return load(opt_config, 0, tzc, ret);
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

typedef struct reply_buf {
    char *data;
    size_t len;
    bool too_big;
} reply_buf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    reply_buf_t *b = data;
    size_t n = size * nmemb;
    if (b->len + n > 64u * 1024 * 1024) {
        b->too_big = true;
        return 0;
    }
    b->data = sk_xrealloc(b->data, b->len + n + 1);
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* One request on the control socket of state_dir's daemon: text (borrowed;
 * NULL for none) is the body of a POST. Fills *b with the answer's body and
 * *ret_status with its status. */
static int api_perform(const char *state_dir, const char *method, const char *path,
                       const char *text, const char *header, long *ret_status, reply_buf_t *b,
                       sk_err_t *err)
{
    char sock[4096], url[1024];
    sk_snprintf(sock, sizeof(sock), "%s/%s", state_dir, SK_SOCKET_NAME);
    if (access(sock, F_OK) != 0)
        return sk_err_set(err, -ENOENT, "no sked daemon is running for %s (no %s)", state_dir,
                          sock);
    sk_snprintf(url, sizeof(url), "http://sked%s", path);
    CURL *c = curl_easy_init();
    if (!c)
        return sk_err_set(err, -ENOMEM, "cannot start an HTTP client");
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (header)
        hdrs = curl_slist_append(hdrs, header);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
    CURLcode cr = curl_easy_perform(c);
    int rc = 0;
    if (cr != CURLE_OK) {
        if (cr == CURLE_COULDNT_CONNECT)
            rc = sk_err_set(err, -ECONNREFUSED,
                            "no sked daemon is running for %s (%s refuses "
                            "connections)",
                            state_dir, sock);
        else if (b->too_big)
            rc = sk_err_set(err, -EFBIG, "the daemon's answer is larger than 64 MiB");
        else
            rc = sk_err_set(err, -EIO, "no answer from the daemon: %s", curl_easy_strerror(cr));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, ret_status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

int sk_cli_api(const char *state_dir, const char *method, const char *path, json_t *body,
               long *ret_status, json_t **ret, sk_err_t *err)
{
    *ret = NULL;
    *ret_status = 0;
    reply_buf_t b = {0};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = api_perform(state_dir, method, path, text, NULL, ret_status, &b, err);
    if (rc == 0) {
        json_error_t jerr;
        *ret = b.data ? json_loads(b.data, 0, &jerr) : NULL;
        if (!*ret)
            rc = sk_err_set(err, SK_EPARSE, "the daemon's answer (HTTP %ld) is not JSON",
                            *ret_status);
    }
    free(text);
    free(b.data);
    return rc;
}

int sk_cli_api_get_raw(const char *state_dir, const char *path, long *ret_status, char **ret_body,
                       size_t *ret_len, sk_err_t *err)
{
    return sk_cli_api_get_from(state_dir, path, -1, ret_status, ret_body, ret_len, err);
}

int sk_cli_api_get_from(const char *state_dir, const char *path, int64_t from, long *ret_status,
                        char **ret_body, size_t *ret_len, sk_err_t *err)
{
    reply_buf_t b = {0};
    long status = 0;
    char range[64];
    if (from >= 0)
        sk_snprintf(range, sizeof(range), "Range: bytes=%" PRId64 "-", from);
    int rc = api_perform(state_dir, "GET", path, NULL, from >= 0 ? range : NULL, &status, &b, err);
    if (rc < 0) {
        free(b.data);
        return rc;
    }
    *ret_status = status;
    *ret_len = b.len;
    *ret_body = b.data ? b.data : sk_xstrdup("");
    return 0;
}

const sk_job_cfg_t *sk_cli_job(const sk_config_t *cfg, const char *cmd, const char *name)
{
    const sk_job_cfg_t *job = sk_config_job(cfg, name);
    if (!job)
        sk_cli_error("%s: no job named \"%s\" in %s", cmd, name, cfg->path);
    return job;
}

json_t *sk_cli_api_call(const sk_config_t *cfg, const char *cmd, const char *method,
                        const char *path, json_t *body, const char *hint)
{
    sk_err_t err;
    json_t *reply = NULL;
    long status = 0;
    sk_err_clear(&err);
    int r = sk_cli_api(cfg->state_dir, method, path, body, &status, &reply, &err);
    json_decref(body);
    if (r < 0) {
        sk_cli_error("%s: %s%s%s", cmd, err.msg, hint ? "; " : "", hint ? hint : "");
        return NULL;
    }
    if (status < 200 || status >= 300) {
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
    sk_tz_format_iso_ms(tz, ms, buf, size);
}
