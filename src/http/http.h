/*
 * The HTTP server under the API (docs/api.md): libmicrohttpd on the control
 * socket (a unix socket, no tokens: its mode 0600 is the guard) and, when
 * configured, on TCP with bearer tokens. It owns listening, authentication,
 * request bodies and size limits, and the shape of responses; what the
 * endpoints mean belongs to the caller's handler (src/daemon/daemon_api.c).
 *
 * Threads: each connection has its own thread (a slow client holds only
 * its own), so handlers run off the daemon's loop thread and must not
 * touch scheduler state directly.
 *
 * On TCP, before any handler runs (docs/api.md, "What the HTTP listener
 * promises"): the Host header must name this server (against DNS
 * rebinding), a request that changes something must not come from a page of
 * another origin (against cross-site request forgery), its body must be
 * JSON, one client address holds at most SK_HTTP_CONN_PER_CLIENT
 * connections, and a request must arrive whole within
 * SK_HTTP_REQUEST_DEADLINE_MS (against slow clients holding connections).
 * The control socket has none of these: no browser can reach it.
 */
#ifndef SK_HTTP_H
#define SK_HTTP_H

#include "../common/common.h"

#include <jansson.h>

typedef enum sk_http_role {
    SK_HTTP_ROLE_NONE,  /* no valid token (only /api/v1/health gets this far) */
    SK_HTTP_ROLE_READ,  /* GET and HEAD */
    SK_HTTP_ROLE_ADMIN, /* everything */
} sk_http_role_t;

/* The largest request body accepted (413 beyond). */
#define SK_HTTP_MAX_BODY (64 * 1024)
/* The same for a webhook (POST /hooks/NAME): payloads such as GitHub's
 * are larger than API requests. */
#define SK_HTTP_MAX_HOOK_BODY (1024 * 1024)
/* Webhooks live under this path; a request there needs no token (its
 * signature is checked by the handler) and may bring any content type. */
#define SK_HTTP_HOOKS_PREFIX "/hooks/"
/* TCP connections at once: in all, and from one client address. */
#define SK_HTTP_CONN_LIMIT_TCP 256
#define SK_HTTP_CONN_PER_CLIENT 64
/* A TCP client has this long from connecting (or from the end of the
 * previous answer on a kept-alive connection) to send a whole request, head
 * and body; then the connection is shut down, however busy it keeps. */
#define SK_HTTP_REQUEST_DEADLINE_MS 10000

typedef struct sk_http_server sk_http_server_t;
struct MHD_Connection;

/* One request, valid during the handler call. */
typedef struct sk_http_req {
    sk_http_server_t *server;
    struct MHD_Connection *conn;
    const char *method; /* "GET", "POST", ...; HEAD is passed as GET */
    bool head;          /* it was a HEAD */
    const char *path;   /* decoded, without the query ("/api/v1/jobs/backup") */
    const char *body;   /* NUL-terminated; "" when none */
    size_t body_len;
    sk_http_role_t role;
    bool tcp;   /* came over TCP (else the control socket) */
    int status; /* the status queued, for the request counter */
} sk_http_req_t;

/* Handles req by queueing exactly one response with the functions below. */
typedef void (*sk_http_handler_t)(void *data, sk_http_req_t *req);

typedef struct sk_http_opts {
    const char *unix_path; /* the control socket to create (mode 0600); required */
    const char *host;      /* TCP address (IP literal) or NULL for none */
    int port;
    const char *admin_token, *read_token; /* NULL or "" for none */
    /* Host names (not IPs) a TCP request's Host header may give besides any
     * IP address, localhost and this machine's name: NULL-terminated,
     * borrowed (copied), or NULL. */
    const char *const *allowed_hosts;
    sk_http_handler_t handler;
    void *data;
    /* Called after each response with its status (metrics); may be NULL. */
    void (*on_status)(void *data, int status);
} sk_http_opts_t;

/* Starts listening; the server threads call handler from now on. Errors:
 * bind failures, a non-loopback host without any token (refused). */
int sk_http_start(const sk_http_opts_t *o, sk_http_server_t **ret, sk_err_t *err);
/* Marks the server stopping (streams end, sk_http_stopping turns true),
 * then waits for every connection thread and frees it. NULL is fine. */
void sk_http_stop(sk_http_server_t *s);
/* True once sk_http_stop has begun: long responses should end. */
bool sk_http_stopping(const sk_http_server_t *s);

/* A query argument, or NULL. */
const char *sk_http_query(const sk_http_req_t *r, const char *key);
/* A request header, or NULL. */
const char *sk_http_header(const sk_http_req_t *r, const char *name);

/* Responses. Each queues one response (and takes ownership of what it is
 * given: the JSON reference, the buffer, the fd). */
void sk_http_json(sk_http_req_t *r, int status, json_t *body);
/* The same with one more header (hname NULL: none). */
void sk_http_json_with(sk_http_req_t *r, int status, json_t *body, const char *hname,
                       const char *hvalue);
void sk_http_error(sk_http_req_t *r, int status, const char *fmt, ...) SK_PRINTF(3, 4);
/* 405 with the allowed methods. */
void sk_http_not_allowed(sk_http_req_t *r, const char *allow);
void sk_http_bytes(sk_http_req_t *r, int status, const char *ctype, char *buf, size_t len,
                   bool cache);
/* The same (not cached) with more headers: headers is NULL or name, value,
 * name, value, ..., NULL (borrowed; NULL values are skipped). */
void sk_http_bytes_with(sk_http_req_t *r, int status, const char *ctype, char *buf, size_t len,
                        const char *const *headers);
/* A static buffer that outlives the server (embedded files). */
void sk_http_static(sk_http_req_t *r, const char *ctype, const unsigned char *buf, size_t len);
/* len bytes of fd from off; extra_header "Name: value" or NULL. */
void sk_http_fd(sk_http_req_t *r, int status, const char *ctype, int fd, uint64_t off, uint64_t len,
                const char *extra_name, const char *extra_value);
/* A body of unknown length produced by fill(data, buf, max) until it returns
 * -1 (the end); fill may block (this connection's own thread). done(data)
 * runs when the response is over. */
void sk_http_stream(sk_http_req_t *r, const char *ctype, ssize_t (*fill)(void *, char *, size_t),
                    void *data, void (*done)(void *));

/* Webhook signatures (http_sig.c). An HMAC-SHA256 is this many bytes. */
#define SK_HTTP_SHA256_LEN 32
/* The HMAC-SHA256 of data[0..len) with key[0..key_len) (RFC 2104; key_len
 * below 2^31) into ret. Pure (libcrypto); any thread. */
void sk_http_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                         unsigned char ret[SK_HTTP_SHA256_LEN]);
/*
 * Checks a webhook's signature header value sig ("sha256=" and 64 hex
 * digits, either case, as GitHub's X-Hub-Signature-256; NULL when the
 * header is missing) against the HMAC-SHA256 of body with key, in constant
 * time. Returns NULL when it matches, else static text saying what is
 * wrong (missing, malformed, not matching), which never holds the expected
 * signature. Any thread.
 */
const char *sk_http_sig_check(const void *key, size_t key_len, const void *body, size_t len,
                              const char *sig);

/* Constant-time comparison of a presented token with a configured one. */
bool sk_http_token_equal(const char *given, size_t given_len, const char *want);

/*
 * Whether a Host header value ("name", "name:port", "[v6]:port") names this
 * server: any IP address (a page cannot rebind a name it does not use),
 * "localhost", or one of names (lower case, NULL-terminated; may be NULL).
 * Names compare without case and without one trailing dot; the port is
 * ignored but must be a number. Pure; any thread.
 */
bool sk_http_host_allowed(const char *host, const char *const *names);
/*
 * Whether an Origin header value ("http://name:port") is the origin whose
 * requests carry host as their Host header: the same name (IP addresses
 * compared as addresses) and port, a missing port being the default of the
 * origin's scheme (http 80, https 443, so that a TLS proxy in front keeps
 * working). "null" and anything but http(s) are never the same. Pure; any
 * thread.
 */
bool sk_http_same_origin(const char *origin, const char *host);

/*
 * For fuzzing: a server with no listener and no thread, whose two sides (TCP
 * rules, control socket rules) are fed by sk_http__feed. o->unix_path and
 * o->host are ignored. Same errors as sk_http_start.
 */
int sk_http__start_detached(const sk_http_opts_t *o, sk_http_server_t **ret, sk_err_t *err);
/*
 * Sends len bytes as one client connection of a detached server (tcp: as
 * from 127.0.0.1 over TCP; else over the control socket), then closes the
 * client's sending side, and runs the server on the calling thread until it
 * has closed the connection. What the server sent is returned in *ret
 * (new, NUL-terminated; *ret_len bytes). Returns 0, or -errno.
 */
int sk_http__feed(sk_http_server_t *s, bool tcp, const void *data, size_t len, char **ret,
                  size_t *ret_len);

/* The embedded web files (build/gen/web_assets.c): path "/app.js" -> bytes. */
typedef struct sk_http_asset {
    const char *path;
    const char *ctype;
    const unsigned char *data;
    size_t len;
} sk_http_asset_t;
const sk_http_asset_t *sk_http_asset(const char *path);

#endif
