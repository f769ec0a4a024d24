/*
 * The checks start-up makes on what a loaded configuration names on this
 * machine: the state folder, an SQLite store's folder, the control socket's
 * path, and the API's tokens (their files' contents and the environment).
 * `sked run` and `sked validate` both call sk_config_preflight, so that
 * validate passes exactly the files that start, with the same located
 * messages; the daemon reads its tokens through sk_config_http_tokens.
 * Exports those two functions.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/un.h>

static void at_err(sk_errs_t *errs, const char *file, sk_config_at_t at, const char *path,
                   const char *fmt, ...) SK_PRINTF(5, 6);
static void at_err(sk_errs_t *errs, const char *file, sk_config_at_t at, const char *path,
                   const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A setting that is not in the file (a default) has no key path to show. */
    sk_errs_add(errs, file, at.line, at.col, at.line ? path : "", SK_ECONFIG, "%s", msg);
}

static void wipe_free(char *secret)
{
    if (!secret)
        return;
    for (volatile char *p = secret; *p; p++)
        *p = 0;
    free(secret);
}

/* ---- folders ---- */

/* The folder part of path (absolute, clean) into buf: "/" for "/x". */
static void dir_of(const char *path, char *buf, size_t size)
{
    sk_strlcpy(buf, path, size);
    char *slash = strrchr(buf, '/');
    if (slash == buf)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
}

/*
 * Whether the daemon, run by this user, can make (mkdir -p) or use the
 * folder path: it is a folder it may write in, or its nearest existing
 * ancestor is. On failure writes why into why.
 */
static bool folder_usable(const char *path, char *why, size_t size)
{
    char cur[4096];
    if (sk_strlcpy(cur, path, sizeof(cur)) >= sizeof(cur)) {
        sk_snprintf(why, size, "the path is too long");
        return false;
    }
    bool exists_self = true;
    for (;;) {
        struct stat st;
        if (stat(cur, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                sk_snprintf(why, size, "%s is not a folder", cur);
                return false;
            }
            if (access(cur, W_OK | X_OK) != 0) {
                sk_snprintf(why, size, "%s %s", cur,
                            exists_self ? "is not writable by this user"
                                        : "does not let this user create folders in it");
                return false;
            }
            return true;
        }
        /* ENOTDIR: a part of the path is a file; the walk up finds which. */
        if (errno != ENOENT && errno != ENOTDIR) {
            sk_snprintf(why, size, "%s: %s", cur, strerror(errno));
            return false;
        }
        exists_self = false;
        char *slash = strrchr(cur, '/');
        if (!slash || slash == cur)
            return true; /* "/" exists */
        *slash = '\0';
    }
}

static void check_state_dir(const sk_config_t *c, const char *file, sk_errs_t *errs)
{
    char why[4200];
    if (!folder_usable(c->state_dir, why, sizeof(why)))
        at_err(errs, file, c->state_dir_at, "state_dir", "cannot create the state folder %s: %s",
               c->state_dir, why);
}

/* An SQLite store lives in a folder that must exist (the store does not
 * make folders) unless it is the state folder, which start-up makes. */
static void check_store(const sk_config_t *c, const char *file, sk_errs_t *errs)
{
    if (strstr(c->store_url, "://"))
        return; /* PostgreSQL: reached only by connecting, at start */
    char dir[4096], why[4200];
    dir_of(c->store_url, dir, sizeof(dir));
    struct stat st;
    if (stat(c->store_url, &st) == 0 && S_ISDIR(st.st_mode)) {
        at_err(errs, file, c->store_at, "store", "the store %s is a folder; give a file name",
               c->store_url);
        return;
    }
    if (strcmp(dir, c->state_dir) == 0)
        return;
    if (stat(dir, &st) < 0) {
        if (errno == ENOENT)
            at_err(errs, file, c->store_at, "store",
                   "cannot create the store %s: the folder %s does not exist", c->store_url, dir);
        else
            at_err(errs, file, c->store_at, "store", "cannot create the store %s: %s: %s",
                   c->store_url, dir, strerror(errno));
        return;
    }
    if (!folder_usable(dir, why, sizeof(why)))
        at_err(errs, file, c->store_at, "store", "cannot create the store %s: %s", c->store_url,
               why);
}

static void check_socket_path(const sk_config_t *c, const char *file, const char *socket_name,
                              sk_errs_t *errs)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    size_t len = strlen(c->state_dir) + 1 + strlen(socket_name);
    if (len > max)
        at_err(errs, file, c->state_dir_at, "state_dir",
               "the control socket %s/%s would have a path of %zu bytes, more than a unix "
               "socket allows (%zu): use a shorter state_dir",
               c->state_dir, socket_name, len, max);
}

/* ---- tokens ---- */

/* The first line of a token file, trimmed, into a new string ("" when none);
 * -errno when it cannot be read. */
static int read_token_file(const char *path, char **ret)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char line[1024];
    bool got = fgets(line, sizeof(line), f) != NULL;
    int e = ferror(f) ? EIO : 0;
    fclose(f);
    size_t n = got ? strlen(line) : 0;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                 line[n - 1] == '\t'))
        line[--n] = '\0';
    if (e) {
        for (volatile char *p = line; *p; p++)
            *p = 0;
        return -e;
    }
    *ret = sk_xstrdup(n ? line : "");
    for (volatile char *p = line; *p; p++)
        *p = 0;
    return 0;
}

#define TOKEN_HINT "(make one with `head -c 32 /dev/urandom | base64`)"

/* One token: from its file when set, else from the environment variable. */
static char *one_token(const char *file, sk_config_at_t at, const char *key, const char *token_file,
                       const char *env, sk_errs_t *errs)
{
    if (token_file) {
        char *t = NULL;
        int r = read_token_file(token_file, &t);
        if (r < 0) {
            at_err(errs, file, at, key, "cannot read the token file: %s", strerror(-r));
            return NULL;
        }
        size_t n = strlen(t);
        if (n < SK_CONFIG_TOKEN_MIN) {
            at_err(errs, file, at, key,
                   "the token file holds %s: a token has at least %d characters " TOKEN_HINT,
                   n ? "a token that is too short" : "no token", SK_CONFIG_TOKEN_MIN);
            wipe_free(t);
            return NULL;
        }
        return t;
    }
    const char *v = getenv(env);
    if (!v || !v[0])
        return NULL;
    if (strlen(v) < SK_CONFIG_TOKEN_MIN) {
        at_err(
            errs, file, (sk_config_at_t){0, 0}, "",
            "%s (in the environment) is too short: a token has at least %d characters " TOKEN_HINT,
            env, SK_CONFIG_TOKEN_MIN);
        return NULL;
    }
    return sk_xstrdup(v);
}

static bool is_loopback(const char *host)
{
    unsigned char a[16];
    static const unsigned char v6_loop[16] = {[15] = 1};
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, v6_loop, 16) == 0;
}

int sk_config_http_tokens(const sk_config_t *c, const char *file, char **ret_admin, char **ret_read,
                          sk_errs_t *errs)
{
    const sk_http_cfg_t *h = &c->http;
    size_t n0 = errs->n, d0 = errs->dropped;
    *ret_admin = *ret_read = NULL;
    bool failed = false;
    char *admin = one_token(file, h->admin_token_file_at, "http.admin_token_file",
                            h->admin_token_file, "SKED_ADMIN_TOKEN", errs);
    char *reader = one_token(file, h->read_token_file_at, "http.read_token_file",
                             h->read_token_file, "SKED_READ_TOKEN", errs);
    failed = errs->n != n0 || errs->dropped != d0;
    if (admin && reader && strcmp(admin, reader) == 0) {
        at_err(errs, file, h->read_token_file ? h->read_token_file_at : (sk_config_at_t){0, 0},
               "http.read_token_file",
               "the admin and read tokens are the same: give the read token its own value");
        failed = true;
    }
    /* Only when no token failed: a bad token file is the error to fix then. */
    if (!failed && h->listen && !admin && !reader && !is_loopback(h->host)) {
        at_err(errs, file, h->listen_at, "http.listen",
               "%s is not a loopback address and no token is set: anyone who can reach it "
               "could run jobs. Set http.admin_token_file (or SKED_ADMIN_TOKEN), or listen on "
               "127.0.0.1",
               h->host);
        failed = true;
    }
    if (failed) {
        wipe_free(admin);
        wipe_free(reader);
        return SK_ECONFIG;
    }
    *ret_admin = admin;
    *ret_read = reader;
    return 0;
}

int sk_config_preflight(const sk_config_t *c, const char *file, const char *socket_name,
                        sk_errs_t *errs)
{
    size_t n0 = errs->n, d0 = errs->dropped;
    check_state_dir(c, file, errs);
    check_store(c, file, errs);
    check_socket_path(c, file, socket_name, errs);
    char *admin = NULL, *reader = NULL;
    if (sk_config_http_tokens(c, file, &admin, &reader, errs) == 0) {
        wipe_free(admin);
        wipe_free(reader);
    }
    if (errs->n == n0 && errs->dropped == d0)
        return 0;
    sk_config__errs_sort(errs, n0);
    return SK_ECONFIG;
}
