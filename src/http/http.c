/*
 * The HTTP server: two libmicrohttpd daemons (control socket, TCP) with one
 * handler. Listening sockets are made here (clear bind errors, the unix
 * socket's mode) and handed to libmicrohttpd.
 *
 * A request arrives in several calls of on_request: the first (headers
 * only) decides authentication and size; the following ones bring the body;
 * the last one (no more data) runs the handler.
 */
/* syscall(2), for the thread id */
#define _DEFAULT_SOURCE 1

#include "http.h"
#include "../common/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <strings.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>

#define CONN_LIMIT_UNIX 64
#define CONN_LIMIT_TCP 256
#define CONN_TIMEOUT_S 30
#define HEADER_MEMORY (64 * 1024)

typedef struct listener {
    sk_http_server_t *server;
    struct MHD_Daemon *mhd;
    bool tcp;
} listener_t;

struct sk_http_server {
    listener_t unix_l, tcp_l;
    char *unix_path;
    char *admin_token, *read_token;
    sk_http_handler_t handler;
    void *data;
    void (*on_status)(void *data, int status);
    atomic_bool stopping;
};

/* Per request: the body so far, and what the first call decided. */
typedef struct req_ctx {
    char *body;
    size_t len;
    bool too_large;
    bool answered; /* a response was queued before the body was read */
    sk_http_role_t role;
} req_ctx_t;

bool sk_http_token_equal(const char *given, size_t given_len, const char *want)
{
    size_t want_len = strlen(want);
    /* Time depends on the configured token's length only, never on where
     * the first difference is. */
    volatile unsigned char diff = (unsigned char)(given_len != want_len);
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)want[i]);
    }
    return diff == 0;
}

bool sk_http_stopping(const sk_http_server_t *s)
{
    return atomic_load(&s->stopping);
}

const char *sk_http_query(const sk_http_req_t *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *sk_http_header(const sk_http_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void queue(sk_http_req_t *r, int status, struct MHD_Response *resp)
{
    if (!resp) {
        /* Out of memory inside libmicrohttpd: nothing sensible to send. */
        r->status = 500;
        return;
    }
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
}

/* headers: NULL, or name, value, ... NULL (a NULL value skips its name). */
static void bytes_with(sk_http_req_t *r, int status, const char *ctype, char *buf, size_t len,
                       bool cache, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(buf);
        queue(r, 500, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    if (!cache)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (size_t i = 0; headers && headers[i]; i += 2) {
        if (headers[i + 1])
            MHD_add_response_header(resp, headers[i], headers[i + 1]);
    }
    queue(r, status, resp);
}

void sk_http_bytes(sk_http_req_t *r, int status, const char *ctype, char *buf, size_t len,
                   bool cache)
{
    bytes_with(r, status, ctype, buf, len, cache, NULL);
}

void sk_http_bytes_with(sk_http_req_t *r, int status, const char *ctype, char *buf, size_t len,
                        const char *const *headers)
{
    bytes_with(r, status, ctype, buf, len, false, headers);
}

void sk_http_json(sk_http_req_t *r, int status, json_t *body)
{
    sk_http_json_with(r, status, body, NULL, NULL);
}

void sk_http_json_with(sk_http_req_t *r, int status, json_t *body, const char *hname,
                       const char *hvalue)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(body);
    if (!text) {
        text = sk_xstrdup("{\"error\":\"cannot encode the answer\"}");
        status = 500;
    }
    size_t n = strlen(text);
    text = sk_xrealloc(text, n + 2);
    text[n] = '\n';
    text[n + 1] = '\0';
    const char *headers[] = {hname, hvalue, NULL};
    bytes_with(r, status, "application/json", text, n + 1, false, hname ? headers : NULL);
}

void sk_http_error(sk_http_req_t *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_http_json(r, status, json_pack("{s:s}", "error", msg));
}

void sk_http_not_allowed(sk_http_req_t *r, const char *allow)
{
    char *text = sk_xstrdup("{\"error\":\"method not allowed\"}\n");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp) {
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "Allow", allow);
    } else {
        free(text);
    }
    queue(r, 405, resp);
}

void sk_http_static(sk_http_req_t *r, const char *ctype, const unsigned char *buf, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_PERSISTENT);
    if (resp) {
        MHD_add_response_header(resp, "Content-Type", ctype);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "frame-ancestors 'none'");
    }
    queue(r, 200, resp);
}

void sk_http_fd(sk_http_req_t *r, int status, const char *ctype, int fd, uint64_t off,
                uint64_t len, const char *extra_name, const char *extra_value)
{
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!resp) {
        close(fd);
        queue(r, 500, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (extra_name)
        MHD_add_response_header(resp, extra_name, extra_value);
    queue(r, status, resp);
}

typedef struct stream {
    ssize_t (*fill)(void *, char *, size_t);
    void (*done)(void *);
    void *data;
} stream_t;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    ssize_t n = s->fill(s->data, buf, max);
    return n < 0 ? (ssize_t)MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free(void *cls)
{
    stream_t *s = cls;
    if (s->done)
        s->done(s->data);
    free(s);
}

void sk_http_stream(sk_http_req_t *r, const char *ctype, ssize_t (*fill)(void *, char *, size_t),
                    void *data, void (*done)(void *))
{
    stream_t *s = sk_xcalloc(1, sizeof(*s));
    s->fill = fill;
    s->done = done;
    s->data = data;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        queue(r, 500, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    queue(r, 200, resp);
}

/* The role a TCP request's credentials give: Bearer TOKEN, or TOKEN as the
 * password of Basic authentication (what a browser's login prompt sends). */
static sk_http_role_t tcp_role(sk_http_server_t *s, struct MHD_Connection *conn)
{
    if (!s->admin_token && !s->read_token)
        return SK_HTTP_ROLE_ADMIN; /* loopback only: checked at start */
    const char *given = NULL;
    size_t given_len = 0;
    char *user = NULL, *pass = NULL;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        given = auth + 7;
        while (*given == ' ')
            given++;
        given_len = strlen(given);
    } else if (auth && strncasecmp(auth, "Basic ", 6) == 0) {
        user = MHD_basic_auth_get_username_password(conn, &pass);
        if (pass) {
            given = pass;
            given_len = strlen(pass);
        }
    }
    sk_http_role_t role = SK_HTTP_ROLE_NONE;
    if (given) {
        /* Both comparisons always run. */
        bool admin = s->admin_token && sk_http_token_equal(given, given_len, s->admin_token);
        bool read = s->read_token && sk_http_token_equal(given, given_len, s->read_token);
        role = admin ? SK_HTTP_ROLE_ADMIN : read ? SK_HTTP_ROLE_READ : SK_HTTP_ROLE_NONE;
    }
    if (user)
        MHD_free(user);
    if (pass)
        MHD_free(pass);
    return role;
}

static enum MHD_Result respond_now(sk_http_server_t *s, struct MHD_Connection *conn, int status,
                                   const char *msg, bool browser)
{
    sk_http_req_t r = {.server = s, .conn = conn};
    json_t *body = json_pack("{s:s}", "error", msg);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                browser ? "Basic realm=\"sked\", charset=\"UTF-8\""
                                        : "Bearer realm=\"sked\"");
    queue(&r, status, resp);
    if (s->on_status)
        s->on_status(s->data, status);
    return MHD_YES;
}

static bool is_read_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/*
 * Connection threads run at the lowest priority (SCHED_IDLE, else nice 19)
 * below the loop thread and the children it starts: a flood of requests on
 * a busy machine then takes CPU from other requests, not from fires. Linux
 * schedules each thread on its own.
 */
static void lower_priority(void)
{
#ifdef __linux__
    static _Thread_local bool done;
    if (!done) {
        done = true;
        struct sched_param p = {0};
        if (sched_setscheduler(0, 5 /* SCHED_IDLE */, &p) < 0)
            setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    }
#endif
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    listener_t *l = cls;
    sk_http_server_t *s = l->server;
    req_ctx_t *ctx = *con_cls;

    if (!ctx) {
        lower_priority();
        ctx = sk_xcalloc(1, sizeof(*ctx));
        *con_cls = ctx;
        /* The socket's file mode is its guard; TCP needs a token. */
        sk_http_role_t role = ctx->role = l->tcp ? tcp_role(s, conn) : SK_HTTP_ROLE_ADMIN;
        if (l->tcp) {
            bool health = strcmp(url, "/api/v1/health") == 0 && is_read_method(method);
            if (role == SK_HTTP_ROLE_NONE && !health) {
                ctx->answered = true;
                return respond_now(s, conn, 401, "a valid token is required",
                                   strncmp(url, "/api/", 5) != 0 && strcmp(url, "/metrics") != 0);
            }
            if (role == SK_HTTP_ROLE_READ && !is_read_method(method)) {
                ctx->answered = true;
                return respond_now(s, conn, 403, "this token may only read", false);
            }
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > SK_HTTP_MAX_BODY) {
            ctx->answered = true;
            return respond_now(s, conn, 413, "the request body is larger than 64 KiB", false);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!ctx->answered && !ctx->too_large) {
            if (ctx->len + *upload_size > SK_HTTP_MAX_BODY) {
                ctx->too_large = true;
                free(ctx->body);
                ctx->body = NULL;
                ctx->len = 0;
            } else {
                ctx->body = sk_xrealloc(ctx->body, ctx->len + *upload_size + 1);
                memcpy(ctx->body + ctx->len, upload_data, *upload_size);
                ctx->len += *upload_size;
                ctx->body[ctx->len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (ctx->answered)
        return MHD_YES;
    if (ctx->too_large)
        return respond_now(s, conn, 413, "the request body is larger than 64 KiB", false);

    sk_http_req_t r = {
        .server = s,
        .conn = conn,
        .method = strcmp(method, "HEAD") == 0 ? "GET" : method,
        .head = strcmp(method, "HEAD") == 0,
        .path = url,
        .body = ctx->body ? ctx->body : "",
        .body_len = ctx->len,
        .role = ctx->role,
        .tcp = l->tcp,
    };
    s->handler(s->data, &r);
    if (!r.status) {
        sk_log(SK_LOG_ERROR, "event=api_bug path=%s msg=\"no response queued\"", url);
        return MHD_NO;
    }
    if (s->on_status)
        s->on_status(s->data, r.status);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_ctx_t *ctx = *con_cls;
    if (ctx) {
        free(ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '"')
            *p = '\'';
    sk_log(SK_LOG_WARN, "event=http_error msg=\"%s\"", msg);
}

static int start_mhd(listener_t *l, int fd, unsigned limit, sk_err_t *err)
{
    l->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
            MHD_USE_ITC,
        0, NULL, NULL, on_request, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!l->mhd) {
        close(fd);
        return sk_err_set(err, -EIO, "cannot start the HTTP server");
    }
    return 0;
}

static int listen_unix(const char *path, sk_err_t *err)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path))
        return sk_err_set(err, -ENAMETOOLONG,
                          "control socket path %s is too long for a unix socket (max %zu); use a "
                          "shorter state_dir",
                          path, sizeof(addr.sun_path) - 1);
    sk_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sk_err_set(err, -errno, "socket: %s", strerror(errno));
    unlink(path); /* a stale socket of a dead daemon: the caller holds the lock */
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    int e = errno;
    umask(old);
    if (r < 0 || listen(fd, 128) < 0) {
        e = r < 0 ? e : errno;
        close(fd);
        return sk_err_set(err, -e, "cannot listen on %s: %s", path, strerror(e));
    }
    chmod(path, 0600);
    return fd;
}

static int listen_tcp(const char *host, int port, sk_err_t *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof(*a6);
    } else {
        return sk_err_set(err, -EINVAL, "http.listen: \"%s\" is not an IP address", host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sk_err_set(err, -errno, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return sk_err_set(err, -e, "http.listen: cannot listen on %s port %d: %s", host, port,
                          strerror(e));
    }
    return fd;
}

static bool is_loopback(const char *host)
{
    unsigned char a[16];
    static const unsigned char v6_loop[16] = {[15] = 1};
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, v6_loop, 16) == 0;
}

int sk_http_start(const sk_http_opts_t *o, sk_http_server_t **ret, sk_err_t *err)
{
    *ret = NULL;
    bool tokens = (o->admin_token && o->admin_token[0]) || (o->read_token && o->read_token[0]);
    if (o->host && !tokens && !is_loopback(o->host))
        return sk_err_set(err, -EPERM,
                          "http.listen: %s is not a loopback address and no token is set: "
                          "anyone who can reach it could run jobs. Set http.admin_token_file "
                          "(or SKED_ADMIN_TOKEN), or listen on 127.0.0.1",
                          o->host);
    sk_http_server_t *s = sk_xcalloc(1, sizeof(*s));
    s->handler = o->handler;
    s->data = o->data;
    s->on_status = o->on_status;
    s->unix_path = sk_xstrdup(o->unix_path);
    if (o->admin_token && o->admin_token[0])
        s->admin_token = sk_xstrdup(o->admin_token);
    if (o->read_token && o->read_token[0])
        s->read_token = sk_xstrdup(o->read_token);
    s->unix_l.server = s->tcp_l.server = s;
    s->tcp_l.tcp = true;

    int tcp_fd = -1;
    if (o->host && (tcp_fd = listen_tcp(o->host, o->port, err)) < 0)
        goto fail;
    int ufd = listen_unix(o->unix_path, err);
    if (ufd < 0) {
        if (tcp_fd >= 0)
            close(tcp_fd);
        goto fail;
    }
    if (start_mhd(&s->unix_l, ufd, CONN_LIMIT_UNIX, err) < 0) {
        if (tcp_fd >= 0)
            close(tcp_fd);
        goto fail;
    }
    if (tcp_fd >= 0 && start_mhd(&s->tcp_l, tcp_fd, CONN_LIMIT_TCP, err) < 0)
        goto fail;
    *ret = s;
    return 0;
fail:
    sk_http_stop(s);
    return err->code;
}

/* Tokens do not linger in freed memory. */
static void wipe_free(char *secret)
{
    if (!secret)
        return;
    for (volatile char *p = secret; *p; p++)
        *p = 0;
    free(secret);
}

void sk_http_stop(sk_http_server_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    if (s->tcp_l.mhd)
        MHD_stop_daemon(s->tcp_l.mhd);
    if (s->unix_l.mhd) {
        MHD_stop_daemon(s->unix_l.mhd);
        unlink(s->unix_path);
    }
    free(s->unix_path);
    wipe_free(s->admin_token);
    wipe_free(s->read_token);
    free(s);
}
