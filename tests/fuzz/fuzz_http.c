/*
 * libFuzzer target for HTTP requests: the input's bytes are what one client
 * sends on one connection, fed over a socketpair to a real, detached server
 * (src/http: libmicrohttpd's parser of the request line, headers, chunked
 * bodies and query arguments, then the TCP rules, authentication and body
 * caps), whose handler is the daemon's API (src/daemon/daemon_api*.c: the
 * router, path ids, query arguments, JSON bodies, ranges of logs, streams).
 * The API has no daemon behind it: what needs the loop answers 503 after
 * its request is parsed and checked (as when the daemon stops); reads go to
 * a small SQLite store and log files made once in a temporary folder.
 *
 * Why this seam: driving the whole stack from raw bytes reaches every parser
 * a client can touch, in the order production runs them, on one thread (so
 * runs are reproducible), with no change to the handlers.
 *
 * The first byte chooses the side: bit 0 TCP (else the control socket),
 * bit 1 the server with tokens (else none). Checks beyond "no crash, no
 * hang, no leak": every answer is an HTTP/1.1 status line; every request
 * that reaches the handler obeys the rules (docs/api.md): on TCP a Host
 * that names this server, no cross-site mark on a request that changes
 * something, a JSON body, a role that allows it; never a body over 64 KiB;
 * a webhook (POST /hooks/NAME: no token, any body type, at most 1 MiB)
 * only as its own rules say; the handler always queues a response.
 */
/* mkdtemp(3), nftw(3) */
#define _XOPEN_SOURCE 700

#include "../../src/daemon/daemon_api.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <strings.h>
#include <sys/stat.h>

#define ADMIN "fuzz-admin-token-0123456789"
#define READER "fuzz-read-token-0123456789"

typedef struct fuzz {
    char dir[64];
    sk_api_t *api;
    sk_http_server_t *open, *secured; /* without tokens, with both */
} fuzz_t;

static fuzz_t F;

static void must(int rc, const sk_err_t *err, const char *what)
{
    if (rc < 0)
        sk_panic("fuzz_http: %s: %s", what, err ? err->msg : sk_strerror(rc));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        sk_panic("fuzz_http: cannot write %s", path);
}

/* One finished run of job (a step of parent when parent > 0), with a log of
 * text when text is not NULL; returns its id. */
static int64_t add_run(sk_store_t *st, const char *job, const char *step, int64_t parent,
                       sk_run_status_t status, const char *text)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_run_t r = {.job = (char *)job,
                  .step = (char *)step,
                  .status = SK_RUN_QUEUED,
                  .trigger = parent ? SK_TRIG_UPSTREAM : SK_TRIG_MANUAL,
                  .attempt = 1,
                  .scheduled_at = 1700000000000,
                  .queued_at = 1700000000000,
                  .exit_code = -1,
                  .parent_id = parent};
    must(st->ops->run_insert(st, &r, &err), &err, "run_insert");
    char log[300] = "";
    if (text) {
        char folder[200];
        sk_snprintf(folder, sizeof(folder), "%s/logs/%s", F.dir, job);
        mkdir(folder, 0700);
        sk_snprintf(log, sizeof(log), "%s/%" PRId64 ".log", folder, r.id);
        write_file(log, text);
    }
    must(st->ops->run_start(st, r.id, 1700000000100, 4242, text ? log : NULL, &err), &err,
         "run_start");
    must(st->ops->run_finish(st, r.id, status, 1700000001000, status == SK_RUN_SUCCEEDED ? 0 : 3, 0,
                             status == SK_RUN_SUCCEEDED ? NULL : "exit 3", &err),
         &err, "run_finish");
    return r.id;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    sk_http_stop(F.open);
    sk_http_stop(F.secured);
    sk_api_detached_free(F.api);
    if (F.dir[0])
        nftw(F.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- what reaches the handler ---- */

static bool ieq_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The Host's name as this target reads it: the text before a port, or
 * inside brackets, without a trailing dot, lower case. */
static void host_name(const char *host, char *out, size_t size)
{
    size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    n = SK_MIN(n, size - 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] - 'A' + 'a' : host[i]);
    out[n] = '\0';
    if (n > 1 && out[n - 1] == '.')
        out[n - 1] = '\0';
}

static bool names_this_server(const char *host)
{
    char name[300];
    unsigned char a[16];
    host_name(host, name, sizeof(name));
    if (name[0] == '[') {
        size_t n = strlen(name);
        name[n - 1] = '\0';
        return inet_pton(AF_INET6, name + 1, a) == 1;
    }
    return inet_pton(AF_INET, name, a) == 1 || strcmp(name, "localhost") == 0 ||
           strcmp(name, "sked.example.com") == 0;
}

static void check_and_handle(void *data, sk_http_req_t *r)
{
    bool hook = strncmp(r->path, SK_HTTP_HOOKS_PREFIX, strlen(SK_HTTP_HOOKS_PREFIX)) == 0;
    if (r->body_len > (hook ? SK_HTTP_MAX_HOOK_BODY : SK_HTTP_MAX_BODY))
        sk_panic("fuzz_http: a body of %zu bytes reached the handler", r->body_len);
    if (r->tcp) {
        const char *host = sk_http_header(r, "Host");
        if (host && !names_this_server(host))
            sk_panic("fuzz_http: Host \"%s\" reached the handler", host);
        bool changes = strcmp(r->method, "GET") != 0 && strcmp(r->method, "OPTIONS") != 0;
        if (changes) {
            const char *site = sk_http_header(r, "Sec-Fetch-Site");
            const char *origin = sk_http_header(r, "Origin");
            const char *ct = sk_http_header(r, "Content-Type");
            if (site && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0)
                sk_panic("fuzz_http: %s with Sec-Fetch-Site %s reached the handler", r->method,
                         site);
            if (origin && !ieq_prefix(origin, "http://") && !ieq_prefix(origin, "https://"))
                sk_panic("fuzz_http: %s with Origin %s reached the handler", r->method, origin);
            while (ct && (*ct == ' ' || *ct == '\t'))
                ct++;
            if (r->body_len && !hook && !(ct && ieq_prefix(ct, "application/json")))
                sk_panic("fuzz_http: a %s body of type %s reached the handler", r->method,
                         ct ? ct : "(none)");
        }
        if (r->server == F.secured && !hook) {
            if (r->role == SK_HTTP_ROLE_NONE &&
                !(strcmp(r->method, "GET") == 0 && strcmp(r->path, "/api/v1/health") == 0))
                sk_panic("fuzz_http: %s %s reached the handler without a token", r->method,
                         r->path);
            if (r->role == SK_HTTP_ROLE_READ && strcmp(r->method, "GET") != 0)
                sk_panic("fuzz_http: %s reached the handler with the read token", r->method);
        } else if (r->server != F.secured && r->role != SK_HTTP_ROLE_ADMIN) {
            sk_panic("fuzz_http: without tokens, TCP is admin (got role %d)", (int)r->role);
        }
    } else if (r->role != SK_HTTP_ROLE_ADMIN) {
        sk_panic("fuzz_http: the control socket is admin (got role %d)", (int)r->role);
    }
    sk_api_handle(data, r);
    if (!r->status)
        sk_panic("fuzz_http: %s %s queued no response", r->method, r->path);
}

/* ---- set-up ---- */

static sk_http_server_t *server(const char *admin, const char *reader)
{
    static const char *const names[] = {"sked.example.com", NULL};
    sk_http_opts_t o = {.admin_token = admin,
                        .read_token = reader,
                        .allowed_hosts = names,
                        .handler = check_and_handle,
                        .data = F.api};
    sk_http_server_t *s = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    must(sk_http__start_detached(&o, &s, &err), &err, "start the server");
    return s;
}

static void setup(void)
{
    sk_strlcpy(F.dir, "/tmp/sked-fuzz-http-XXXXXX", sizeof(F.dir));
    if (!mkdtemp(F.dir))
        sk_panic("fuzz_http: mkdtemp: %s", strerror(errno));
    atexit(cleanup);
    char path[200], url[200];
    sk_snprintf(path, sizeof(path), "%s/logs", F.dir);
    mkdir(path, 0700);
    sk_snprintf(url, sizeof(url), "%s/sked.db", F.dir);
    sk_store_t *st = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    must(sk_store_open(url, &st, &err), &err, "open the store");
    /* Ids 1-5: a run with a log, a workflow run and its step with outputs,
     * a failed run without a log, and a run whose log file is gone. */
    add_run(st, "hello", NULL, 0, SK_RUN_SUCCEEDED,
            "2026-01-01T00:00:00.000Z out line 1\n2026-01-01T00:00:00.100Z err line 2\n"
            "2026-01-01T00:00:00.200Z out no end of line");
    int64_t flow = add_run(st, "flow", NULL, 0, SK_RUN_SUCCEEDED, NULL);
    int64_t step =
        add_run(st, "flow", "a", flow, SK_RUN_SUCCEEDED, "2026-01-01T00:00:01.000Z out rows=3\n");
    sk_output_t out[] = {{(char *)"rows", (char *)"3"}, {(char *)"path", (char *)"/tmp/x"}};
    must(st->ops->outputs_put(st, step, out, 2, &err), &err, "outputs_put");
    add_run(st, "hello", NULL, 0, SK_RUN_FAILED, NULL);
    int64_t gone = add_run(st, "report", NULL, 0, SK_RUN_SUCCEEDED, "x\n");
    sk_snprintf(path, sizeof(path), "%s/logs/report/%" PRId64 ".log", F.dir, gone);
    remove(path);
    sk_alert_rec_t alert = {.job = (char *)"hello",
                            .run_id = 4,
                            .event = (char *)"failure",
                            .channel = (char *)"webhook",
                            .payload = (char *)"{\"job\":\"hello\"}",
                            .created_at = 1700000002000};
    must(st->ops->alert_insert(st, &alert, &err), &err, "alert_insert");
    sk_store_close(st);

    F.api = sk_api_detached_new(url, F.dir, "fuzz-node");
    F.open = server(NULL, NULL);
    F.secured = server(ADMIN, READER);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!F.api)
        setup();
    if (size < 1)
        return 0;
    bool tcp = data[0] & 1;
    sk_http_server_t *s = data[0] & 2 ? F.secured : F.open;
    char *out = NULL;
    size_t len = 0;
    int rc = sk_http__feed(s, tcp, data + 1, size - 1, &out, &len);
    if (rc < 0)
        sk_panic("fuzz_http: the server did not finish the connection: %s", sk_strerror(rc));
    if (len && strncmp(out, "HTTP/1.1 ", 9) != 0 && strncmp(out, "HTTP/1.0 ", 9) != 0)
        sk_panic("fuzz_http: the answer does not start with a status line: %.40s", out);
    free(out);
    return 0;
}
