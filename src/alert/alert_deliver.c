/*
 * Delivery of one alert through one channel without blocking the loop:
 * sk_alert_deliver copies what the channel needs into a job, queues it on
 * libuv's thread pool (uv_queue_work), and the job's result comes back to the
 * loop thread, where the caller's callback runs. Here too are the sinks that
 * use libcurl (webhook, Slack: an HTTP POST of JSON; email: SMTP) and the
 * retry classification of their errors. The command sink is in
 * alert_command.c. Exports sk_alert_deliver, sk_alert_global_init/cleanup.
 * See docs/internals/alert.md.
 */
#include "alert.h"
#include "alert_int.h"

#include "../common/log.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

/* How much of a response body is kept for the error message. */
#define RESPONSE_KEEP 256
/* How much of an error's detail (a response line, stderr) goes in it. */
#define DETAIL_MAX 120
/* A password file larger than this is refused. */
#define PASSWORD_MAX 1024
#define MAX_REDIRS 3L

/* ---- small shared helpers ---- */

void sk_alert__fail(sk_alert_result_t *res, bool retryable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    res->ok = false;
    res->retryable = retryable;
}

char **sk_alert__strv_dup(char *const *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    char **r = sk_xcalloc(n + 1, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        r[i] = sk_xstrdup(v[i]);
    return r;
}

void sk_alert__strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static char *dup_or_null(const char *s)
{
    return s ? sk_xstrdup(s) : NULL;
}

/* memset that the compiler may not remove: for passwords. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/* Replaces every occurrence of secret in s (of size bytes) with "***"; when
 * a short secret leaves no room for the mask, s is emptied rather than kept. */
static void scrub(char *s, size_t size, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n == 0)
        return;
    char *p = s;
    while ((p = strstr(p, secret)) != NULL) {
        if (n < 3 && strlen(s) + 3 - n >= size) {
            s[0] = '\0';
            return;
        }
        memmove(p + 3, p + n, strlen(p + n) + 1);
        memcpy(p, "***", 3);
        p += 3; /* the mask may hold the secret ("*"): look after it */
    }
}

void sk_alert__append_detail(char *err, size_t size, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
        p++;
    const char *e = p;
    while (e < end && *e != '\n' && *e != '\r')
        e++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (e == p)
        return;
    char *line = sk_xstrndup(p, (size_t)(e - p));
    sk_buf_t b = {0};
    sk_alert__buf_add_utf8(&b, line, DETAIL_MAX, true);
    size_t used = strlen(err);
    if (used < size)
        sk_snprintf(err + used, size - used, ": %s", b.data);
    free(b.data);
    free(line);
}

/* ---- libcurl ---- */

/* Errors that a later attempt may not meet: the network, the peer's load. */
static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_AGAIN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

/* The options every transfer gets. */
static void common_opts(CURL *c, const sk_alert__job_t *job, char *errbuf)
{
    long ms = (long)SK_MIN(job->timeout_ms, (int64_t)LONG_MAX);
    errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, job->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* we are on a pool thread: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sked/" SK_VERSION);
}

static void fail_curl(sk_alert_result_t *res, CURLcode rc, const char *errbuf)
{
    sk_alert__fail(res, curl_retryable(rc), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    /* curl's messages end with a newline sometimes */
    size_t n = strlen(res->error);
    while (n && (res->error[n - 1] == '\n' || res->error[n - 1] == '\r'))
        res->error[--n] = '\0';
}

typedef struct response {
    char text[RESPONSE_KEEP];
    size_t len;
} response_t;

static size_t on_response(char *p, size_t size, size_t n, void *ud)
{
    response_t *r = ud;
    size_t len = size * n, room = sizeof(r->text) - 1 - r->len;
    memcpy(r->text + r->len, p, SK_MIN(len, room));
    r->len += SK_MIN(len, room);
    r->text[r->len] = '\0';
    return len; /* the rest is read and dropped */
}

/* webhook and Slack: POST the payload as application/json. */
static void http_send(sk_alert__job_t *job, sk_alert_result_t *res)
{
    char errbuf[CURL_ERROR_SIZE];
    response_t resp = {.len = 0};
    struct curl_slist *headers = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        sk_alert__fail(res, true, "cannot start libcurl");
        return;
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    /* no "Expect: 100-continue" round trip (and wait) for larger payloads */
    headers = curl_slist_append(headers, "Expect:");
    common_opts(c, job, errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, job->payload);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->payload_len);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRS);
    /* an http -> https 301 must not turn the alert into a GET */
    curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)(CURL_REDIR_POST_301 | CURL_REDIR_POST_302));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_response);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);

    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        fail_curl(res, rc, errbuf);
    } else if (status >= 200 && status < 300) {
        res->ok = true;
    } else {
        /* 408 Request Timeout, 429 Too Many Requests and 5xx may pass;
         * any other answer (4xx, a 3xx we could not follow) will not */
        bool retry = status == 408 || status == 429 || status >= 500;
        sk_alert__fail(res, retry, "HTTP %ld", status);
        sk_alert__append_detail(res->error, sizeof(res->error), resp.text, resp.len);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
}

/* ---- email ---- */

/*
 * The SMTP password into buf: 1 when there is one, 0 when none is
 * configured, -1 on an error (res is filled; it never holds the password).
 */
static int read_password(const sk_alert__job_t *job, char *buf, size_t size, sk_alert_result_t *res)
{
    if (job->password_env) {
        /* nothing in sked changes the environment (setenv is banned), so
         * reading it from a pool thread is safe */
        const char *v = getenv(job->password_env);
        if (!v) {
            sk_alert__fail(res, false, "password_env %s is not set", job->password_env);
            return -1;
        }
        if (strlen(v) >= size) {
            sk_alert__fail(res, false, "password_env %s: too long", job->password_env);
            return -1;
        }
        sk_strlcpy(buf, v, size);
        return 1;
    }
    if (!job->password_file)
        return 0;
    const char *path = job->password_file;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        sk_alert__fail(res, false, "password_file %s: %s", path, uv_strerror(-errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        sk_alert__fail(res, false, "password_file %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        sk_alert__fail(res, false,
                       "password_file %s: group or others may read it (mode %03o); chmod 600 it",
                       path, (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            sk_alert__fail(res, false, "password_file %s: %s", path, uv_strerror(-errno));
            close(fd);
            wipe(buf, size);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == size - 1) {
            sk_alert__fail(res, false, "password_file %s: larger than %zu bytes", path, size - 2);
            close(fd);
            wipe(buf, size);
            return -1;
        }
    }
    close(fd);
    buf[len] = '\0';
    /* the file's last newline is not part of the password */
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return 1;
}

typedef struct upload {
    const char *p;
    size_t left;
} upload_t;

static size_t on_upload(char *p, size_t size, size_t n, void *ud)
{
    upload_t *u = ud;
    size_t len = SK_MIN(size * n, u->left);
    memcpy(p, u->p, len);
    u->p += len;
    u->left -= len;
    return len;
}

static void email_send(sk_alert__job_t *job, sk_alert_result_t *res)
{
    char errbuf[CURL_ERROR_SIZE], spec[512], msgid[96], password[PASSWORD_MAX + 2];
    char *msg = NULL;
    size_t msg_len = 0;
    struct curl_slist *rcpt = NULL;
    CURL *c = NULL;
    int have_password = 0;

    /* a Message-ID unique enough: time, process, 64 random bits */
    uint64_t rnd = 0;
    if (uv_random(NULL, NULL, &rnd, sizeof(rnd), 0, NULL) != 0)
        rnd = uv_hrtime();
    int64_t now = sk_now_ms();
    sk_snprintf(msgid, sizeof(msgid), "sked.%" PRId64 ".%ld.%016" PRIx64, now, (long)getpid(), rnd);
    if (sk_alert__mail_message(job->mail_from, job->mail_to, job->subject, job->body, now, msgid,
                               &msg, &msg_len) < 0) {
        sk_alert__fail(res, false, "invalid from or to address");
        goto done;
    }
    have_password = read_password(job, password, sizeof(password), res);
    if (have_password < 0)
        goto done;

    c = curl_easy_init();
    if (!c) {
        sk_alert__fail(res, true, "cannot start libcurl");
        goto done;
    }
    common_opts(c, job, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    /* STARTTLS when the server offers it; smtps:// is TLS from the start */
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     sk_strncaseeq(job->url, "smtps:", 6) ? (long)CURLUSESSL_ALL
                                                          : (long)CURLUSESSL_TRY);
    sk_alert__addr_spec(job->mail_from, spec, sizeof(spec)); /* checked by mail_message */
    char angle[520];
    sk_snprintf(angle, sizeof(angle), "<%s>", spec);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, angle);
    for (size_t i = 0; job->mail_to[i]; i++) {
        sk_alert__addr_spec(job->mail_to[i], spec, sizeof(spec));
        sk_snprintf(angle, sizeof(angle), "<%s>", spec);
        rcpt = curl_slist_append(rcpt, angle);
    }
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    if (job->username || have_password) {
        /* without a username, log in as the sender */
        if (job->username) {
            curl_easy_setopt(c, CURLOPT_USERNAME, job->username);
        } else {
            sk_alert__addr_spec(job->mail_from, spec, sizeof(spec));
            curl_easy_setopt(c, CURLOPT_USERNAME, spec);
        }
        if (have_password)
            curl_easy_setopt(c, CURLOPT_PASSWORD, password);
    }
    upload_t up = {msg, msg_len};
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg_len);

    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        res->ok = true;
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        fail_curl(res, rc, errbuf);
        /* RFC 5321 4.2.1: 4yz is transient, 5yz is permanent */
        if (code >= 400 && code < 500)
            res->retryable = true;
        else if (code >= 500 && code < 600)
            res->retryable = false;
        if (code >= 400 && code < 600 && !strstr(res->error, "SMTP"))
            sk_snprintf(res->error + strlen(res->error), sizeof(res->error) - strlen(res->error),
                        " (SMTP %ld)", code);
    }
    if (have_password > 0)
        scrub(res->error, sizeof(res->error), password);

done:
    if (have_password > 0)
        wipe(password, sizeof(password));
    curl_slist_free_all(rcpt);
    if (c)
        curl_easy_cleanup(c);
    free(msg);
}

/* ---- preparing on the loop thread ---- */

static int webhook_prepare(sk_alert__job_t *job, const sk_alert_cfg_t *cfg, const char *payload)
{
    if (!cfg->webhook || !*cfg->webhook)
        return -EINVAL;
    job->url = sk_xstrdup(cfg->webhook);
    job->payload = sk_xstrdup(payload);
    job->payload_len = strlen(payload);
    return 0;
}

static int slack_prepare(sk_alert__job_t *job, const sk_alert_cfg_t *cfg, const char *payload)
{
    if (!cfg->slack || !*cfg->slack)
        return -EINVAL;
    job->url = sk_xstrdup(cfg->slack);
    job->payload = sk_xstrdup(payload);
    job->payload_len = strlen(payload);
    return 0;
}

static const char *json_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Subject: the payload's "text"; body: the text, the link, the output. */
static int email_prepare(sk_alert__job_t *job, const sk_alert_cfg_t *cfg, const char *payload)
{
    if (!cfg->has_email || !cfg->email.smtp_url || !cfg->email.from || !cfg->email.to ||
        !cfg->email.to[0])
        return -EINVAL;
    json_t *o = json_loads(payload, 0, NULL);
    const char *text = o ? json_str(o, "text") : NULL;
    if (!text) {
        json_decref(o);
        return -EINVAL;
    }
    const char *link = json_str(o, "link"), *output = json_str(o, "output");
    sk_buf_t b = {0};
    sk_buf_adds(&b, text);
    sk_buf_adds(&b, "\n");
    if (link && *link)
        sk_buf_printf(&b, "\n%s\n", link);
    if (output && *output) {
        sk_buf_adds(&b, "\nLast output:\n\n");
        sk_buf_adds(&b, output);
        if (output[strlen(output) - 1] != '\n')
            sk_buf_adds(&b, "\n");
    }
    job->subject = sk_xstrdup(text);
    job->body = sk_buf_take(&b, NULL);
    json_decref(o);

    job->url = sk_xstrdup(cfg->email.smtp_url);
    job->mail_from = sk_xstrdup(cfg->email.from);
    job->mail_to = sk_alert__strv_dup(cfg->email.to);
    job->username = dup_or_null(cfg->email.username);
    job->password_env = dup_or_null(cfg->email.password_env);
    job->password_file = dup_or_null(cfg->email.password_file);
    return 0;
}

const sk_alert__sink_ops_t sk_alert__webhook_ops = {"webhook", webhook_prepare, http_send};
const sk_alert__sink_ops_t sk_alert__slack_ops = {"slack", slack_prepare, http_send};
const sk_alert__sink_ops_t sk_alert__email_ops = {"email", email_prepare, email_send};

/* ---- the thread pool round trip ---- */

static void job_free(sk_alert__job_t *job)
{
    if (!job)
        return;
    free(job->payload);
    free(job->url);
    sk_alert__strv_free(job->argv);
    sk_alert__strv_free(job->envp);
    free(job->mail_from);
    sk_alert__strv_free(job->mail_to);
    free(job->username);
    free(job->password_env);
    free(job->password_file);
    free(job->subject);
    free(job->body);
    free(job);
}

/* A pool thread. */
static void on_work(uv_work_t *req)
{
    sk_alert__job_t *job = (sk_alert__job_t *)req;
    /*
     * A peer that closes its end makes our next write raise SIGPIPE, which
     * would end the daemon. With CURLOPT_NOSIGNAL libcurl leaves SIGPIPE
     * alone, so block it on this thread for the attempt and swallow any that
     * became pending, rather than change the process's disposition.
     */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

    memset(&job->res, 0, sizeof(job->res));
    job->ops->send(job, &job->res);

    if (!sigismember(&old, SIGPIPE)) {
        sigset_t pending;
        struct timespec zero = {0, 0};
        while (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
            if (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno != EINTR)
                break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The loop thread. */
static void on_after_work(uv_work_t *req, int status)
{
    sk_alert__job_t *job = (sk_alert__job_t *)req;
    if (status != 0)
        sk_alert__fail(&job->res, true, "not sent: %s", uv_strerror(status));
    job->cb(job->data, &job->res);
    job_free(job);
}

int sk_alert_deliver(uv_loop_t *loop, const sk_alert_cfg_t *cfg, sk_alert_channel_t channel,
                     const char *payload, int64_t timeout_ms, sk_alert_cb cb, void *data)
{
    const sk_alert__sink_ops_t *ops;
    switch (channel) {
    case SK_CHANNEL_WEBHOOK:
        ops = &sk_alert__webhook_ops;
        break;
    case SK_CHANNEL_SLACK:
        ops = &sk_alert__slack_ops;
        break;
    case SK_CHANNEL_EMAIL:
        ops = &sk_alert__email_ops;
        break;
    case SK_CHANNEL_COMMAND:
        ops = &sk_alert__command_ops;
        break;
    default:
        return -EINVAL;
    }
    if (!loop || !cfg || !payload || !cb)
        return -EINVAL;

    sk_alert__job_t *job = sk_xcalloc(1, sizeof(*job));
    job->ops = ops;
    job->timeout_ms = timeout_ms > 0 ? timeout_ms : SK_ALERT_DEFAULT_TIMEOUT_MS;
    job->cb = cb;
    job->data = data;
    int rc = ops->prepare(job, cfg, payload);
    if (rc == 0)
        rc = uv_queue_work(loop, &job->req, on_work, on_after_work);
    if (rc != 0)
        job_free(job);
    return rc;
}

void sk_alert_global_init(void)
{
    /* must run before any thread exists: curl_global_init is not thread-safe.
     * A failure shows later, as "cannot start libcurl" in each result. */
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

void sk_alert_global_cleanup(void)
{
    curl_global_cleanup();
}
