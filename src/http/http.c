/*
 * The HTTP server: two libmicrohttpd daemons (control socket, TCP) with one
 * handler. Listening sockets are made here (clear bind errors, the unix
 * socket's mode) and handed to libmicrohttpd.
 *
 * A request arrives in several calls of on_request: the first (headers
 * only) decides the TCP rules (Host, Origin, body type), authentication and
 * size; the following ones bring the body; the last one (no more data) runs
 * the handler.
 *
 * The request deadline (http_deadline.c, against a client trickling its
 * request): each TCP connection is armed when it is accepted (and again
 * after each answer) and disarmed when its request is whole, or when it
 * closes (MHD_CONNECTION_NOTIFY_CLOSED, before libmicrohttpd closes it).
 */
/* syscall(2), for the thread id */
#define _DEFAULT_SOURCE 1

#include "http_int.h"
#include "../common/log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
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
#define CONN_TIMEOUT_S 30
#define HEADER_MEMORY (64 * 1024)
/* The longest Host name compared (DNS allows 253). */
#define HOST_MAX 256

typedef struct listener {
    sk_http_server_t *server;
    struct MHD_Daemon *mhd;
    bool tcp;
    sk_http_watchdog_t wd; /* TCP only */
    /* The last libmicrohttpd message, to fold repeats. */
    pthread_mutex_t log_mu;
    char last_msg[160];
    int64_t last_msg_at;
    uint64_t repeats;
} listener_t;

struct sk_http_server {
    listener_t unix_l, tcp_l;
    char *unix_path;
    char *admin_token, *read_token;
    char **names; /* names the Host header may give (lower case), NULL-terminated */
    sk_http_handler_t handler;
    void *data;
    void (*on_status)(void *data, int status);
    atomic_bool stopping;
    bool detached; /* sk_http__start_detached: no listener, no threads */
};

/* Per request: the body so far, and what the first call decided. */
typedef struct req_ctx {
    char *body;
    size_t len;
    bool too_large;
    bool answered; /* a response was queued before the body was read */
    bool hook;     /* POST /hooks/NAME: no token, its own body cap */
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

/* ---- names of this server (Host, Origin) ---- */

/*
 * Splits an authority ("name", "name:port", "[v6]", "[v6]:port") into its
 * name, lower case, without brackets or one trailing dot (an IP address in
 * its canonical text), and its port (-1 when none). False when malformed.
 */
static bool split_authority(const char *a, char *name, size_t size, int *port, bool *ip)
{
    const char *end;
    size_t len;
    bool bracketed = a[0] == '[';
    *ip = false;
    if (bracketed) {
        const char *rb = strchr(a, ']');
        if (!rb)
            return false;
        len = (size_t)(rb - a - 1);
        end = rb + 1;
        a++;
    } else {
        len = strcspn(a, ":");
        end = a + len;
    }
    if (len == 0 || len >= size)
        return false;
    memcpy(name, a, len);
    name[len] = '\0';
    *port = -1;
    if (*end == ':') {
        const char *d = end + 1;
        size_t nd = strspn(d, "0123456789");
        if (nd == 0 || nd > 5 || d[nd])
            return false;
        *port = (int)strtol(d, NULL, 10);
    } else if (*end) {
        return false;
    }
    unsigned char addr[16];
    if (bracketed ? inet_pton(AF_INET6, name, addr) == 1 : inet_pton(AF_INET, name, addr) == 1) {
        *ip = true;
        /* One spelling per address: [::1] and [0:0::1] are the same server. */
        return inet_ntop(bracketed ? AF_INET6 : AF_INET, addr, name, (socklen_t)size) != NULL;
    }
    if (bracketed)
        return false;
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (len > 1 && name[len - 1] == '.')
        name[len - 1] = '\0';
    return true;
}

bool sk_http_host_allowed(const char *host, const char *const *names)
{
    char name[HOST_MAX];
    int port;
    bool ip;
    if (!split_authority(host, name, sizeof(name), &port, &ip))
        return false;
    if (ip || strcmp(name, "localhost") == 0)
        return true;
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

bool sk_http_same_origin(const char *origin, const char *host)
{
    int def;
    if (strncasecmp(origin, "http://", 7) == 0) {
        def = 80;
        origin += 7;
    } else if (strncasecmp(origin, "https://", 8) == 0) {
        def = 443;
        origin += 8;
    } else {
        return false; /* "null" (a sandboxed or local page), other schemes */
    }
    char on[HOST_MAX], hn[HOST_MAX];
    int op, hp;
    bool oip, hip;
    if (strpbrk(origin, "/?#@ \t") || !split_authority(origin, on, sizeof(on), &op, &oip) ||
        !split_authority(host, hn, sizeof(hn), &hp, &hip))
        return false;
    return oip == hip && strcmp(on, hn) == 0 && (op < 0 ? def : op) == (hp < 0 ? def : hp);
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
    /* A message may quote the request (a path, a query argument): bytes that
     * are not UTF-8 become '?', or JSON could not carry the message. */
    for (size_t i = 0, n = strlen(msg); i < n;) {
        size_t k = sk_utf8_seq(msg + i, n - i);
        if (k == 0) {
            msg[i] = '?';
            k = 1;
        }
        i += k;
    }
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

void sk_http_fd(sk_http_req_t *r, int status, const char *ctype, int fd, uint64_t off, uint64_t len,
                const char *extra_name, const char *extra_value)
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
    if (!text) /* msg is not UTF-8: a caller's bug, but never a crash */
        text = sk_xstrdup("{\"error\":\"the request is refused\"}");
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

/* ---- the TCP rules against pages of other sites ---- */

/* Methods a page may send anywhere and that change nothing here. */
static bool is_safe_method(const char *m)
{
    return is_read_method(m) || strcmp(m, "OPTIONS") == 0;
}

/* Whether a Content-Type value's media type is t (no case; parameters may follow). */
static bool media_type_is(const char *ct, const char *t)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strlen(t);
    if (strncasecmp(ct, t, n) != 0)
        return false;
    ct += n;
    return *ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t';
}

/* The types a page may send to another site without asking it first (the
 * Fetch standard's CORS-safelisted request content types): a form's. */
static bool is_simple_type(const char *ct)
{
    return media_type_is(ct, "text/plain") ||
           media_type_is(ct, "application/x-www-form-urlencoded") ||
           media_type_is(ct, "multipart/form-data");
}

static bool has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && cl[strspn(cl, " 0")] != '\0')
        return true;
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding") != NULL;
}

/* A header's value as it may appear in a message: at most 100 bytes,
 * anything but printable ASCII shown as '?' (a message is JSON text, and
 * JSON is UTF-8). */
static const char *shown(const char *v, char *buf, size_t size)
{
    size_t n = 0;
    for (; v[n] && n < 100 && n + 1 < size; n++)
        buf[n] = v[n] >= 0x20 && v[n] < 0x7f ? v[n] : '?';
    buf[n] = '\0';
    return buf;
}

/*
 * The rules a TCP request passes before authentication (docs/api.md): its
 * Host names this server (421 otherwise: a page that rebound its own name
 * to this address reads nothing), and one that changes something comes
 * from no page of another origin (Origin, else Sec-Fetch-Site) and brings
 * JSON (403, 415), so a page of another site can neither read nor act,
 * tokens or not (a browser sends a stored login along). Returns 0, or the
 * status with msg set.
 */
static int tcp_refusal(const sk_http_server_t *s, struct MHD_Connection *conn, const char *method,
                       bool hook, char *msg, size_t size)
{
    char b1[128], b2[128];
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    /* No Host at all: HTTP/1.0 from a tool; a browser always sends one. */
    if (host && !sk_http_host_allowed(host, (const char *const *)s->names)) {
        sk_snprintf(msg, size,
                    "Host \"%s\" is not a name of this server, so the request may come from a "
                    "page of another site (DNS rebinding): refused. To serve this name, add it "
                    "to http.allowed_hosts",
                    shown(host, b1, sizeof(b1)));
        return MHD_HTTP_MISDIRECTED_REQUEST;
    }
    if (is_safe_method(method))
        return 0;
    const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0) {
        sk_snprintf(msg, size,
                    "refused: the browser says this request comes from a page of another site "
                    "(Sec-Fetch-Site: %.40s)",
                    shown(site, b1, sizeof(b1)));
        return MHD_HTTP_FORBIDDEN;
    }
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (origin && !(host && sk_http_same_origin(origin, host))) {
        sk_snprintf(msg, size,
                    "refused: the request comes from a page of another origin (Origin \"%s\", "
                    "this server is \"%s\")",
                    shown(origin, b1, sizeof(b1)), shown(host ? host : "", b2, sizeof(b2)));
        return MHD_HTTP_FORBIDDEN;
    }
    /* A webhook's body is whatever its sender sends (GitHub can send a
     * form): what no page can make is its signature, and a browser's
     * request from another site was refused above. */
    if (hook)
        return 0;
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if ((ct && is_simple_type(ct)) ||
        (has_body(conn) && !(ct && media_type_is(ct, "application/json")))) {
        sk_snprintf(msg, size, "the body must be JSON: send Content-Type: application/json");
        return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    return 0;
}

/* A TCP connection's watch (its socket context), NULL when it has none. */
static sk_http_watch_t *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A TCP connection begins (libmicrohttpd's accepting thread) or ends (after
 * its own thread is gone, before its socket is closed). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    listener_t *l = cls;
    if (!l->tcp)
        return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        sk_http_watch_t *c = sk_xcalloc(1, sizeof(*c));
        c->fd = ci ? ci->connect_fd : -1;
        *socket_context = c;
        if (c->fd >= 0)
            sk_http__watch_arm(&l->wd, c);
        return;
    }
    sk_http_watch_t *c = *socket_context;
    if (c) {
        sk_http__watch_disarm(&l->wd, c);
        free(c);
        *socket_context = NULL;
    }
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

/* Up to this many bytes of an oversized body are read and dropped so that
 * the client gets its 413; beyond, the connection is closed at once. The
 * request deadline bounds how long that takes. */
#define DRAIN_MAX (1024 * 1024)
#define HOOK_DRAIN_MAX (16 * 1024 * 1024)

/* The body cap of a request, and how it is said in a 413. */
static size_t body_max(const req_ctx_t *ctx)
{
    return ctx->hook ? SK_HTTP_MAX_HOOK_BODY : SK_HTTP_MAX_BODY;
}

static const char *too_large_msg(const req_ctx_t *ctx)
{
    return ctx->hook ? "the webhook's body is larger than 1 MiB"
                     : "the request body is larger than 64 KiB";
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    listener_t *l = cls;
    sk_http_server_t *s = l->server;
    req_ctx_t *ctx = *con_cls;

    if (!ctx) {
        if (!s->detached)
            lower_priority();
        ctx = sk_xcalloc(1, sizeof(*ctx));
        *con_cls = ctx;
        ctx->hook = strncmp(url, SK_HTTP_HOOKS_PREFIX, strlen(SK_HTTP_HOOKS_PREFIX)) == 0;
        if (l->tcp) {
            char msg[400];
            int status = tcp_refusal(s, conn, method, ctx->hook, msg, sizeof(msg));
            if (status) {
                ctx->answered = true;
                return respond_now(s, conn, status, msg, false);
            }
        }
        /* The socket's file mode is its guard; TCP needs a token. */
        sk_http_role_t role = ctx->role = l->tcp ? tcp_role(s, conn) : SK_HTTP_ROLE_ADMIN;
        /* A webhook's signature is its authentication: the handler checks
         * it against the hook's own secret. */
        if (l->tcp && !ctx->hook) {
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
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (declared > (ctx->hook ? HOOK_DRAIN_MAX : DRAIN_MAX)) {
            ctx->answered = true;
            return respond_now(s, conn, 413, too_large_msg(ctx), false);
        }
        /* A body somewhat too large is read and dropped before the 413: a
         * client still writing it would otherwise find the connection
         * closed (EPIPE) and never see why. */
        ctx->too_large = declared > body_max(ctx);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!ctx->answered && !ctx->too_large) {
            if (ctx->len + *upload_size > body_max(ctx)) {
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
    /* The request is whole: its deadline no longer runs. */
    sk_http_watch_t *w = l->tcp ? watch_of(conn) : NULL;
    if (w)
        sk_http__watch_disarm(&l->wd, w);
    if (ctx->answered)
        return MHD_YES;
    if (ctx->too_large)
        return respond_now(s, conn, 413, too_large_msg(ctx), false);

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
    (void)toe;
    listener_t *l = cls;
    /* Kept alive, the connection owes its next request within the deadline
     * (when it closes instead, NOTIFY_CLOSED takes it out again). */
    sk_http_watch_t *w = l->tcp ? watch_of(conn) : NULL;
    if (w && w->fd >= 0)
        sk_http__watch_arm(&l->wd, w);
    req_ctx_t *ctx = *con_cls;
    if (ctx) {
        free(ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    listener_t *l = cls;
    /* Fed through a socketpair posing as TCP, libmicrohttpd complains of
     * every TCP option: nothing to tell. */
    if (l->server->detached)
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '"')
            *p = '\'';
    /* A flood (every connection over a limit is refused with a message)
     * must not flood the log: a repeat within SK_HTTP_LOG_REPEAT_MS is counted. */
    int64_t now = sk_mono_ms();
    pthread_mutex_lock(&l->log_mu);
    bool same = strncmp(msg, l->last_msg, sizeof(l->last_msg) - 1) == 0;
    if (same && now - l->last_msg_at < SK_HTTP_LOG_REPEAT_MS) {
        l->repeats++;
        pthread_mutex_unlock(&l->log_mu);
        return;
    }
    uint64_t repeats = l->repeats;
    char old[sizeof(l->last_msg)];
    sk_strlcpy(old, l->last_msg, sizeof(old));
    l->repeats = 0;
    l->last_msg_at = now;
    sk_strlcpy(l->last_msg, msg, sizeof(l->last_msg));
    pthread_mutex_unlock(&l->log_mu);
    if (repeats)
        sk_log(SK_LOG_WARN, "event=http_error msg=\"%s\" repeated=%" PRIu64, old, repeats);
    sk_log(SK_LOG_WARN, "event=http_error msg=\"%s\"", msg);
}

/* Starts l's libmicrohttpd daemon on the listening socket fd (taken), or,
 * detached (fd -1), with no listener and no thread: sk_http__feed runs it. */
static int start_mhd(listener_t *l, int fd, unsigned limit, sk_err_t *err)
{
    bool detached = fd < 0;
    unsigned flags = MHD_USE_ERROR_LOG;
    flags |= detached ? MHD_USE_NO_LISTEN_SOCKET
                      : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC;
    if (l->tcp && sk_http__watchdog_init(&l->wd, !detached) < 0) {
        if (fd >= 0)
            close(fd);
        return sk_err_set(err, -EAGAIN, "cannot start the HTTP server's watchdog thread");
    }
    /* The listening socket, when there is one. */
    struct MHD_OptionItem listen_opt[] = {
        {detached ? MHD_OPTION_END : MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    /* The per-address limit counts IP addresses only: none on the unix socket. */
    l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, l, MHD_OPTION_ARRAY, listen_opt, MHD_OPTION_CONNECTION_LIMIT,
                              limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                              (unsigned)SK_HTTP_CONN_PER_CLIENT, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)HEADER_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
                              MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!l->mhd) {
        if (fd >= 0)
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

/* The server's fields from o (copies), without listeners. */
static sk_http_server_t *server_new(const sk_http_opts_t *o, bool detached)
{
    sk_http_server_t *s = sk_xcalloc(1, sizeof(*s));
    s->detached = detached;
    s->handler = o->handler;
    s->data = o->data;
    s->on_status = o->on_status;
    s->unix_path = o->unix_path ? sk_xstrdup(o->unix_path) : NULL;
    if (o->admin_token && o->admin_token[0])
        s->admin_token = sk_xstrdup(o->admin_token);
    if (o->read_token && o->read_token[0])
        s->read_token = sk_xstrdup(o->read_token);
    s->unix_l.server = s->tcp_l.server = s;
    s->tcp_l.tcp = true;
    pthread_mutex_init(&s->unix_l.log_mu, NULL);
    pthread_mutex_init(&s->tcp_l.log_mu, NULL);

    /* The Host header may name this machine as it calls itself (the
     * address other nodes are told when listening on 0.0.0.0). */
    size_t n = 0;
    while (o->allowed_hosts && o->allowed_hosts[n])
        n++;
    s->names = sk_xcalloc(n + 2, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        s->names[k] = sk_xstrdup(o->allowed_hosts[i]);
        for (char *p = s->names[k]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        k++;
    }
    char host[HOST_MAX] = "";
    if (!detached && gethostname(host, sizeof(host) - 1) == 0 && host[0]) {
        for (char *p = host; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        s->names[k++] = sk_xstrdup(host);
    }
    return s;
}

static int check_tokens(const sk_http_opts_t *o, sk_err_t *err)
{
    bool tokens = (o->admin_token && o->admin_token[0]) || (o->read_token && o->read_token[0]);
    /* sk_config_preflight refuses this first, at its place in the file;
     * this is the server's own guard. */
    if (o->host && !tokens && !is_loopback(o->host))
        return sk_err_set(err, -EPERM,
                          "http.listen: %s is not a loopback address and no token is set: "
                          "anyone who can reach it could run jobs. Set http.admin_token_file "
                          "(or SKED_ADMIN_TOKEN), or listen on 127.0.0.1",
                          o->host);
    return 0;
}

int sk_http_start(const sk_http_opts_t *o, sk_http_server_t **ret, sk_err_t *err)
{
    *ret = NULL;
    if (check_tokens(o, err) < 0)
        return err->code;
    sk_http_server_t *s = server_new(o, false);

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
    if (tcp_fd >= 0 && start_mhd(&s->tcp_l, tcp_fd, SK_HTTP_CONN_LIMIT_TCP, err) < 0)
        goto fail;
    *ret = s;
    return 0;
fail:
    sk_http_stop(s);
    return err->code;
}

int sk_http__start_detached(const sk_http_opts_t *o, sk_http_server_t **ret, sk_err_t *err)
{
    *ret = NULL;
    if (check_tokens(o, err) < 0)
        return err->code;
    sk_http_server_t *s = server_new(o, true);
    if (start_mhd(&s->unix_l, -1, CONN_LIMIT_UNIX, err) < 0 ||
        start_mhd(&s->tcp_l, -1, SK_HTTP_CONN_LIMIT_TCP, err) < 0) {
        sk_http_stop(s);
        return err->code;
    }
    *ret = s;
    return 0;
}

int sk_http__feed(sk_http_server_t *s, bool tcp, const void *data, size_t len, char **ret,
                  size_t *ret_len)
{
    *ret = NULL;
    *ret_len = 0;
    int sv[2];
    if (!s->detached || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return s->detached ? -errno : -EINVAL;
    int me = sv[0];
    fcntl(me, F_SETFL, fcntl(me, F_GETFL) | O_NONBLOCK);
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(40000)};
    in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    listener_t *l = tcp ? &s->tcp_l : &s->unix_l;
    /* MHD_add_connection takes sv[1] whatever happens. */
    if (MHD_add_connection(l->mhd, sv[1], tcp ? (struct sockaddr *)&in4 : (struct sockaddr *)&un,
                           tcp ? sizeof(in4) : sizeof(un)) != MHD_YES) {
        close(me);
        return -EIO;
    }
    sk_buf_t out = {0};
    size_t sent = 0;
    bool shut = false;
    int rc = 0;
    /* Everything runs on this thread, so a round of MHD_run that brings
     * nothing back usually only means another round is needed: sleep only
     * after many idle rounds, and give up after 10 s (a hang). */
    int64_t give_up = sk_mono_ms() + 10000;
    for (int idle = 0;; idle++) {
        if (sent < len) {
            ssize_t n = send(me, (const char *)data + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += (size_t)n;
                idle = 0;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                sent = len; /* the server closed early: the rest is never read */
            }
        }
        if (sent == len && !shut) {
            shutdown(me, SHUT_WR);
            shut = true;
        }
        MHD_run(l->mhd);
        char buf[16384];
        ssize_t n = recv(me, buf, sizeof(buf), 0);
        if (n > 0) {
            sk_buf_add(&out, buf, (size_t)n);
            idle = 0;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            break; /* the server closed the connection */
        if (idle > 100) {
            if (sk_mono_ms() > give_up) {
                rc = -ETIMEDOUT;
                break;
            }
            struct pollfd p = {.fd = me, .events = POLLIN | (sent < len ? POLLOUT : 0)};
            poll(&p, 1, 1);
        }
    }
    close(me);
    /* Let the server finish closing its side (MHD_cleanup_connections). */
    MHD_run(l->mhd);
    *ret_len = out.len;
    *ret = sk_buf_take(&out, NULL);
    if (!*ret)
        *ret = sk_xstrdup("");
    return rc;
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

static void listener_release(listener_t *l)
{
    if (l->mhd)
        MHD_stop_daemon(l->mhd); /* joins every connection thread; each is NOTIFY_CLOSED */
    l->mhd = NULL;
    if (l->wd.inited)
        sk_http__watchdog_release(&l->wd);
    pthread_mutex_destroy(&l->log_mu);
}

void sk_http_stop(sk_http_server_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    listener_release(&s->tcp_l);
    bool unix_started = s->unix_l.mhd != NULL;
    listener_release(&s->unix_l);
    if (unix_started && !s->detached)
        unlink(s->unix_path);
    for (size_t i = 0; s->names && s->names[i]; i++)
        free(s->names[i]);
    free(s->names);
    free(s->unix_path);
    wipe_free(s->admin_token);
    wipe_free(s->read_token);
    free(s);
}
