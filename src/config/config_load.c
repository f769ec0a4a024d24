/*
 * sked.yaml to a validated, immutable snapshot (DESIGN section 3): reads the
 * file, has config_yaml.c build the node tree, checks the top-level keys,
 * has config_job.c check the jobs and config_cluster.c the cluster: mapping,
 * and builds sk_config_t in one pool, so a failed load frees everything at
 * once and a good one is freed when its last reference goes. Jobs are
 * built while the file is read, each dropping its nodes, once what they
 * inherit (defaults:, timezone:) is known: a start-up's peak is then the
 * snapshot, not the snapshot plus the tree of 100,000 jobs. Exports
 * sk_config_load, sk_config_load_text, the ref/unref/lookup functions, the
 * enum names and the helpers the job part shares (located errors, "did you
 * mean", paths).
 */
#include "config_int.h"

#include <arpa/inet.h>

const char *sk_overlap_str(sk_overlap_t o)
{
    switch (o) {
#define SK_X(e, s)                                                                                 \
    case e:                                                                                        \
        return s;
        SK_OVERLAPS(SK_X)
#undef SK_X
    }
    return "?";
}

const char *sk_on_interrupt_str(sk_on_interrupt_t o)
{
    switch (o) {
#define SK_X(e, s)                                                                                 \
    case e:                                                                                        \
        return s;
        SK_ON_INTERRUPTS(SK_X)
#undef SK_X
    }
    return "?";
}

const char *sk_catchup_str(sk_catchup_t c)
{
    switch (c) {
#define SK_X(e, s)                                                                                 \
    case e:                                                                                        \
        return s;
        SK_CATCHUPS(SK_X)
#undef SK_X
    }
    return "?";
}

const char *sk_when_str(sk_when_t w)
{
    switch (w) {
#define SK_X(e, s)                                                                                 \
    case e:                                                                                        \
        return s;
        SK_WHENS(SK_X)
#undef SK_X
    }
    return "?";
}

const char *sk_alert_event_str(unsigned event)
{
    switch (event) {
#define SK_X(e, v, s)                                                                              \
    case e:                                                                                        \
        return s;
        SK_ALERT_EVENTS(SK_X)
#undef SK_X
    }
    return NULL;
}

#define DEF_MAX_PARALLEL 16
#define MAX_MAX_PARALLEL 10000

/*
 * The top-level keys. Keys starting with "x-" are ignored (as in docker
 * compose), so that shared blocks can be given an &anchor there and reused
 * with *aliases.
 */
static const char *const top_keys[] = {
    "timezone", "state_dir", "store",      "defaults", "max_parallel",
    "jobs",     "http",      "log_format", "syslog",   "cluster",
};

static const char *const http_keys[] = {"listen", "admin_token_file", "read_token_file",
                                        "allowed_hosts"};

bool sk_config__is_top_key(const char *name)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(top_keys); i++) {
        if (strcmp(top_keys[i], name) == 0)
            return true;
    }
    return false;
}

void sk_config__err(sk_config_ctx_t *L, const sk_ynode_t *n, int col, const char *path,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (col <= 0)
        col = n ? n->col : 0;
    sk_errs_add(L->errs, L->file, n ? n->line : 0, col, path, SK_ECONFIG, "%s", msg);
}

const char *sk_config__got(const sk_ynode_t *n, char *buf, size_t size)
{
    if (!n || sk_config__is_null(n))
        return "nothing";
    if (n->kind == SK_YNODE_SEQ)
        return "a list";
    if (n->kind == SK_YNODE_MAP)
        return "a mapping";
    if (n->len > 40)
        sk_snprintf(buf, size, "\"%.37s...\"", n->text);
    else
        sk_snprintf(buf, size, "\"%s\"", n->text);
    return buf;
}

/* Case-insensitive, at most 1 edit for keys of up to 3 letters, 2 beyond. */
const char *sk_config__closest(const char *key, const char *const *names, size_t n)
{
    size_t len = strlen(key);
    size_t cap = len <= 3 ? 1 : 2, best = cap + 1;
    const char *hit = NULL;
    char lower[80];
    if (len >= sizeof(lower))
        return NULL;
    for (size_t i = 0; i <= len; i++)
        lower[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] - 'A' + 'a' : key[i]);
    for (size_t i = 0; i < n; i++) {
        size_t d = sk_config__edit_distance(lower, names[i], cap);
        if (strcmp(key, lower) != 0 && strcmp(lower, names[i]) == 0)
            d = 0; /* only the case differs */
        if (d < best) {
            best = d;
            hit = names[i];
        }
    }
    return hit;
}

void sk_config__unknown_key(sk_config_ctx_t *L, const sk_ynode_t *k, const char *path,
                            const char *const *names, size_t n, const char *extra)
{
    const char *hint = sk_config__closest(k->text, names, n);
    if (strcmp(k->text, "<<") == 0)
        sk_config__err(L, k, 0, path,
                       "merge keys (<<) are not supported: put shared settings under defaults:");
    else if (extra) /* a key of another level: say where it goes, not what it resembles */
        sk_config__err(L, k, 0, path, "unknown key \"%s\"%s", k->text, extra);
    else if (hint)
        sk_config__err(L, k, 0, path, "unknown key \"%s\" (did you mean \"%s\"?)", k->text, hint);
    else
        sk_config__err(L, k, 0, path, "unknown key \"%s\"", k->text);
}

/* -------------------------------------------------------------------------------------------- */
/* Paths */

/* Lexical clean-up: collapses "//" and "/./", drops a trailing "/." ; keeps "..". */
static char *path_clean(sk_pool_t *pool, const char *p)
{
    size_t len = strlen(p);
    char *out = sk_config__alloc(pool, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] == '/' && o > 0 && out[o - 1] == '/') {
            i++;
            continue;
        }
        if (p[i] == '.' && (o == 0 || out[o - 1] == '/') && (p[i + 1] == '/' || p[i + 1] == '\0') &&
            o > 0) {
            i += p[i + 1] ? 2 : 1;
            continue;
        }
        out[o++] = p[i++];
    }
    while (o > 1 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    return out;
}

/* An absolute path for p: as is when absolute, else under base. */
char *sk_config__path_abs(sk_pool_t *pool, const char *base, const char *p)
{
    if (p[0] == '/')
        return path_clean(pool, p);
    char *joined = sk_config__printf(pool, "%s/%s", base, p);
    return path_clean(pool, joined);
}

/* -------------------------------------------------------------------------------------------- */
/* The file */

int sk_config__parse_int(const char *t, int64_t *ret)
{
    const char *d = t[0] == '-' ? t + 1 : t;
    if (!d[0] || strspn(d, "0123456789") != strlen(d))
        return -1;
    errno = 0;
    long long n = strtoll(t, NULL, 10);
    if (errno == ERANGE)
        return -2;
    *ret = n;
    return 0;
}

const sk_ynode_t *sk_config__map_get(const sk_ynode_t *map, const char *key)
{
    for (size_t i = 0; map && map->kind == SK_YNODE_MAP && i < map->npairs; i++) {
        if (strcmp(map->pairs[i].key->text, key) == 0)
            return sk_config__is_null(map->pairs[i].val) ? NULL : map->pairs[i].val;
    }
    return NULL;
}

/* A top-level scalar value, or NULL after reporting. */
/* Whether a postgres:// URL (after "://") carries a password: user:pw@ in
 * its authority, or password= among its parameters. */
static bool url_has_password(const char *rest)
{
    size_t auth = strcspn(rest, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth; i++)
        if (rest[i] == '@')
            at = rest + i;
    if (at && memchr(rest, ':', (size_t)(at - rest)))
        return true;
    const char *q = strchr(rest, '?');
    for (const char *p = q; p && *p; p = strchr(p + 1, '&'))
        if (strncmp(p + 1, "password=", 9) == 0)
            return true;
    return false;
}

static const char *top_scalar(sk_config_ctx_t *L, const sk_ynode_t *v, const char *key,
                              const char *what)
{
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR) {
        sk_config__err(L, v, 0, key, "expected %s, got %s", what,
                       sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    if (!v->text[0]) {
        sk_config__err(L, v, 0, key, "expected %s, got an empty string", what);
        return NULL;
    }
    return v->text;
}

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080": an IP literal, no
 * name lookups (a daemon must not depend on DNS to start). */
static void load_listen(sk_config_ctx_t *L, const sk_ynode_t *v, sk_http_cfg_t *h)
{
    const char *t = top_scalar(L, v, "http.listen", "host:port like 127.0.0.1:8080");
    if (!t)
        return;
    const char *colon = strrchr(t, ':');
    char host[64];
    size_t hl = colon ? (size_t)(colon - t) : 0;
    if (!colon || hl == 0 || hl >= sizeof(host)) {
        sk_config__err(L, v, 0, "http.listen",
                       "expected host:port like 127.0.0.1:8080 or [::1]:8080, got \"%s\"", t);
        return;
    }
    if (t[0] == '[') {
        if (hl < 3 || t[hl - 1] != ']') {
            sk_config__err(L, v, 0, "http.listen", "expected [IPv6]:port, got \"%s\"", t);
            return;
        }
        memcpy(host, t + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, t, hl);
        host[hl] = '\0';
    }
    int64_t port = 0;
    if (sk_config__parse_int(colon + 1, &port) < 0 || port < 1 || port > 65535) {
        sk_config__err(L, v, 0, "http.listen", "the port in \"%s\" is not a number 1-65535", t);
        return;
    }
    if (strcmp(host, "localhost") == 0)
        sk_strlcpy(host, "127.0.0.1", sizeof(host));
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1) {
        sk_config__err(L, v, 0, "http.listen",
                       "\"%s\" is not an IP address (give one, e.g. 127.0.0.1, ::1 or 0.0.0.0)",
                       host);
        return;
    }
    h->listen = sk_config__strdup(L->pool, t);
    h->host = sk_config__strdup(L->pool, host);
    h->port = (int)port;
    h->listen_at = (sk_config_at_t){v->line, v->col};
}

static char *load_token_file(sk_config_ctx_t *L, const sk_ynode_t *v, const char *key)
{
    char path[64], msg[600];
    sk_snprintf(path, sizeof(path), "http.%s", key);
    const char *t = top_scalar(L, v, path, "a file path");
    if (!t)
        return NULL;
    char *abs = sk_config__path_abs(L->pool, L->dir, t);
    if (!sk_config__secret_file_ok(key, t, abs, msg, sizeof(msg))) {
        sk_config__err(L, v, 0, path, "%s", msg);
        return NULL;
    }
    return abs;
}

/*
 * A name a request's Host header may give (docs/api.md): a DNS name, 1-253
 * characters of letters, digits, '-' and '_' in dot-separated labels of at
 * most 63; no scheme, port, path or wildcard. IP addresses need no entry
 * (every IP literal is accepted) but are not wrong either.
 */
static bool host_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || ++label > 63)
            return false;
    }
    return true;
}

static void load_allowed_hosts(sk_config_ctx_t *L, const sk_ynode_t *v, sk_http_cfg_t *h)
{
    char buf[64];
    const sk_ynode_t *const *items =
        v->kind == SK_YNODE_SEQ ? (const sk_ynode_t *const *)v->items : &v;
    size_t n = v->kind == SK_YNODE_SEQ ? v->nitems : 1;
    if (v->kind == SK_YNODE_MAP) {
        sk_config__err(L, v, 0, "http.allowed_hosts",
                       "expected a list of host names like [sked.example.com], got a mapping");
        return;
    }
    if (n > SK_CONFIG_MAX_ALLOWED_HOSTS) {
        sk_config__err(L, v, 0, "http.allowed_hosts", "%zu names: at most %d are allowed", n,
                       SK_CONFIG_MAX_ALLOWED_HOSTS);
        return;
    }
    h->allowed_hosts = sk_config__alloc(L->pool, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const sk_ynode_t *it = items[i];
        char path[64];
        sk_snprintf(path, sizeof(path), "http.allowed_hosts[%zu]", i);
        if (it->kind != SK_YNODE_SCALAR || !host_name_ok(it->text)) {
            sk_config__err(L, it, 0, path,
                           "expected a host name like sked.example.com (no scheme, port, path "
                           "or wildcard), got %s",
                           sk_config__got(it, buf, sizeof(buf)));
            continue;
        }
        char *name = sk_config__strdup(L->pool, it->text);
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        h->allowed_hosts[h->nallowed_hosts++] = name;
    }
}

static void load_http(sk_config_ctx_t *L, const sk_ynode_t *v, sk_http_cfg_t *h)
{
    char buf[64];
    if (v->kind != SK_YNODE_MAP) {
        sk_config__err(L, v, 0, "http",
                       "expected a mapping (listen, admin_token_file, "
                       "read_token_file, allowed_hosts), got %s",
                       sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *k = v->pairs[i].key;
        bool known = false;
        for (size_t j = 0; j < SK_ARRAY_LEN(http_keys) && !known; j++)
            known = strcmp(http_keys[j], k->text) == 0;
        if (!known) {
            char path[300];
            sk_snprintf(path, sizeof(path), "http.%s", k->text);
            sk_config__unknown_key(L, k, path, http_keys, SK_ARRAY_LEN(http_keys), NULL);
        }
    }
    const sk_ynode_t *x;
    if ((x = sk_config__map_get(v, "listen")))
        load_listen(L, x, h);
    if ((x = sk_config__map_get(v, "admin_token_file"))) {
        h->admin_token_file = load_token_file(L, x, "admin_token_file");
        h->admin_token_file_at = (sk_config_at_t){x->line, x->col};
    }
    if ((x = sk_config__map_get(v, "read_token_file"))) {
        h->read_token_file = load_token_file(L, x, "read_token_file");
        h->read_token_file_at = (sk_config_at_t){x->line, x->col};
    }
    if ((x = sk_config__map_get(v, "allowed_hosts")))
        load_allowed_hosts(L, x, h);
}

static void load_top(sk_config_ctx_t *L, const sk_ynode_t *root, sk_config_t *c)
{
    const sk_ynode_t *v;
    char buf[64];

    for (size_t i = 0; root && i < root->npairs; i++) {
        const sk_ynode_t *k = root->pairs[i].key;
        bool known = false;
        for (size_t t = 0; t < SK_ARRAY_LEN(top_keys) && !known; t++)
            known = strcmp(top_keys[t], k->text) == 0;
        if (known || strncmp(k->text, "x-", 2) == 0)
            continue;
        bool job_key = sk_config__is_job_key(k->text);
        const char *extra =
            strcmp(k->text, "nodes") == 0
                ? " at the top level (the nodes of a cluster go under cluster.nodes; a job's "
                  "labels under jobs.NAME.nodes or defaults)"
            : strcmp(k->text, "lease_timeout") == 0 ? " at the top level (it goes under cluster:)"
            : job_key ? " at the top level (job settings go under jobs.NAME or defaults)"
                      : NULL;
        sk_config__unknown_key(L, k, k->text, top_keys, SK_ARRAY_LEN(top_keys), extra);
    }

    c->tz = NULL;
    if ((v = sk_config__map_get(root, "timezone"))) {
        const char *t = top_scalar(L, v, "timezone", "a zone name like Europe/Berlin");
        sk_err_t err;
        sk_err_clear(&err);
        if (t && sk_tz_cache_get(L->tzc, t, &c->tz, &err) < 0)
            sk_config__err(L, v, 0, "timezone", "%s", err.msg);
    }
    if (!c->tz) {
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_tz_cache_get(L->tzc, NULL, &c->tz, &err) < 0) {
            /* The system's zone is broken: say so once, then go on in UTC. */
            sk_config__err(L, root, 0, "", "%s (set timezone: in the file)", err.msg);
            c->tz = sk_tz_utc();
        }
    }
    L->tz = c->tz;

    c->state_dir = sk_config__printf(L->pool, "%s/.sked", L->dir);
    if ((v = sk_config__map_get(root, "state_dir"))) {
        const char *t = top_scalar(L, v, "state_dir", "a path");
        if (t) {
            c->state_dir = sk_config__path_abs(L->pool, L->dir, t);
            c->state_dir_at = (sk_config_at_t){v->line, v->col};
        }
    }
    c->store_url = sk_config__printf(L->pool, "%s/sked.db", c->state_dir);
    if ((v = sk_config__map_get(root, "store"))) {
        const char *t = top_scalar(L, v, "store", "a path or a postgres:// URL");
        const char *sep = t ? strstr(t, "://") : NULL;
        c->store_at = (sk_config_at_t){v->line, v->col};
        if (sep) {
            size_t sl = (size_t)(sep - t);
            if ((sl == 8 && strncmp(t, "postgres", 8) == 0) ||
                (sl == 10 && strncmp(t, "postgresql", 10) == 0)) {
                if (url_has_password(sep + 3))
                    sk_config__err(L, v, 0, "store",
                                   "the URL holds a password: secrets never go in sked.yaml; "
                                   "put it in ~/.pgpass, the file PGPASSFILE names, or "
                                   "PGPASSWORD in the daemon's environment");
                else
                    c->store_url = sk_config__strdup(L->pool, t);
            } else
                sk_config__err(L, v, 0, "store",
                               "unsupported store \"%.*s://\": use a file path (SQLite) or a "
                               "postgres:// URL",
                               (int)sl, t);
        } else if (t) {
            c->store_url = sk_config__path_abs(L->pool, L->dir, t);
        }
    }

    c->max_parallel = DEF_MAX_PARALLEL;
    if ((v = sk_config__map_get(root, "max_parallel"))) {
        const char *t = top_scalar(L, v, "max_parallel", "a whole number");
        int64_t n = 0;
        int r = t ? sk_config__parse_int(t, &n) : 0;
        if (t && r == -1)
            sk_config__err(L, v, 0, "max_parallel", "expected a whole number, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
        else if (t && (r < 0 || n < 1 || n > MAX_MAX_PARALLEL))
            sk_config__err(L, v, 0, "max_parallel", "%s is out of range 1-%d", t, MAX_MAX_PARALLEL);
        else if (t)
            c->max_parallel = (int)n;
    }

    if ((v = sk_config__map_get(root, "log_format"))) {
        const char *t = top_scalar(L, v, "log_format", "text or json");
        if (t && strcmp(t, "json") == 0)
            c->log_json = true;
        else if (t && strcmp(t, "text") != 0)
            sk_config__err(L, v, 0, "log_format", "expected text or json, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
    }
    if ((v = sk_config__map_get(root, "syslog"))) {
        const char *t = top_scalar(L, v, "syslog", "true or false");
        if (t && strcmp(t, "true") == 0)
            c->log_syslog = true;
        else if (t && strcmp(t, "false") != 0)
            sk_config__err(L, v, 0, "syslog", "expected true or false, got %s",
                           sk_config__got(v, buf, sizeof(buf)));
    }
    if ((v = sk_config__map_get(root, "http")))
        load_http(L, v, &c->http);
    /* After max_parallel: it is each node's default. */
    sk_config__load_cluster(L, sk_config__map_get(root, "cluster"), c);
}

/* The absolute, lexically clean form of path. */
static char *abs_config_path(sk_pool_t *pool, const char *path)
{
    if (path[0] == '/')
        return path_clean(pool, path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        sk_strlcpy(cwd, "/", sizeof(cwd));
    return sk_config__path_abs(pool, cwd, path);
}

/* load_text's own flag: read jobs: from the whole tree (a second reading,
 * when the first met defaults: or timezone: after jobs it had built). */
#define LOAD_FROM_TREE (1u << 31)

/* What the loader keeps while the YAML reader hands it the file's pieces. */
typedef struct reading {
    sk_config_ctx_t *L;
    sk_config_jobs_t *S;
    const char *text;
    size_t len;
    const sk_ynode_t *defaults; /* the first defaults: value seen */
    bool defaults_seen, tz_seen;
    bool streaming;      /* jobs are built as they come */
    bool redo;           /* defaults: or timezone: came after them: read again */
    sk_errs_t *job_errs; /* the jobs' errors while streaming: a YAML error later in
                          * the file must leave only itself, as when nothing is built */
} reading_t;

/* The file's zone as load_top will find it, saying nothing (load_top
 * reports what is wrong with it): v is the first timezone: value or NULL. */
static const sk_tz_t *quiet_tz(sk_config_ctx_t *L, const sk_ynode_t *v)
{
    const sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (v && !sk_config__is_null(v) && v->kind == SK_YNODE_SCALAR && v->text[0] &&
        sk_tz_cache_get(L->tzc, v->text, &tz, &err) < 0)
        tz = NULL;
    if (!tz && sk_tz_cache_get(L->tzc, NULL, &tz, &err) < 0)
        tz = sk_tz_utc();
    return tz;
}

static void on_top(void *ctx, const sk_ynode_t *k, const sk_ynode_t *v)
{
    reading_t *R = ctx;
    if (strcmp(k->text, "timezone") == 0 && !R->tz_seen) {
        R->tz_seen = true;
        R->L->tz = quiet_tz(R->L, v);
        R->redo = R->redo || R->streaming;
    } else if (strcmp(k->text, "defaults") == 0 && !R->defaults_seen) {
        R->defaults_seen = true;
        R->defaults = v;
        R->redo = R->redo || R->streaming;
    }
}

/* Whether the text holds word at or after off. */
static bool text_has(const reading_t *R, size_t off, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = R->text + off, *end = R->text + R->len; (size_t)(end - p) >= n; p++) {
        p = memchr(p, word[0], (size_t)(end - p) - n + 1);
        if (!p)
            return false;
        if (memcmp(p, word, n) == 0)
            return true;
    }
    return false;
}

/* Jobs are built as they come when what they inherit is known: defaults:
 * and timezone: came before jobs:, or are nowhere after it in the text
 * (only a key spelled with escapes could hide: on_top sees it, and the
 * file is read again from the tree). */
static bool on_stream(void *ctx, size_t off)
{
    reading_t *R = ctx;
    if (R->L->flags & LOAD_FROM_TREE)
        return false;
    if ((!R->tz_seen && text_has(R, off, "timezone")) ||
        (!R->defaults_seen && text_has(R, off, "defaults")))
        return false;
    if (!R->tz_seen)
        R->L->tz = quiet_tz(R->L, NULL);
    R->streaming = true;
    R->L->errs = R->job_errs;
    sk_config__jobs_defaults(R->S, R->defaults);
    return true;
}

static sk_yaml_take_t on_job(void *ctx, const sk_ynode_t *k, const sk_ynode_t *v)
{
    reading_t *R = ctx;
    return sk_config__jobs_pair(R->S, k, v);
}

static int load_text(const char *path, const char *text, size_t len, unsigned flags,
                     sk_tz_cache_t *tzc, sk_config_t **ret, sk_errs_t *errs)
{
    size_t nerr = errs->n, ndropped = errs->dropped;
    sk_pool_t *pool = sk_config__pool_new();
    sk_pool_t *tree = sk_config__pool_new(); /* the YAML nodes, dropped when done */
    sk_ynode_t *root = NULL;
    char buf[64];
    sk_errs_t job_errs;
    sk_errs_init(&job_errs);

    sk_config_t *c = sk_config__alloc(pool, sizeof(*c));
    c->pool = pool;
    c->refs = 1;
    c->path = abs_config_path(pool, path);
    char *slash = strrchr(c->path, '/');
    c->dir = slash == c->path ? sk_config__strdup(pool, "/")
                              : sk_config__strndup(pool, c->path, (size_t)(slash - c->path));
    sk_config_ctx_t L = {
        .file = path, .dir = c->dir, .pool = pool, .errs = errs, .tzc = tzc, .flags = flags};
    sk_config_jobs_t *S = sk_config__jobs_new(&L, c, errs);
    reading_t R = {.L = &L, .S = S, .text = text, .len = len, .job_errs = &job_errs};
    sk_yaml_hooks_t hooks = {.ctx = &R, .top = on_top, .stream = on_stream, .job = on_job};

    if (len > SK_CONFIG_MAX_FILE_BYTES) {
        sk_errs_add(errs, path, 0, 0, "", SK_ECONFIG,
                    "the file is larger than " SK_CONFIG_MAX_FILE_TEXT);
        goto fail;
    }
    int r = sk_config__yaml_parse(path, text, len, tree, &hooks, &root, errs);
    L.errs = errs;
    if (r < 0)
        goto fail;
    if (R.redo) {
        /* Jobs were built before what they inherit: start again, reading
         * them from the tree. */
        sk_config__secrets_release(&L);
        sk_config__intern_release(&L);
        sk_config__jobs_free(S);
        sk_errs_release(&job_errs);
        sk_config__pool_free(tree);
        sk_config__pool_free(pool);
        errs->n = nerr;
        errs->dropped = ndropped;
        return load_text(path, text, len, flags | LOAD_FROM_TREE, tzc, ret, errs);
    }
    if (root && sk_config__is_null(root))
        root = NULL; /* an empty document */
    if (root && root->kind != SK_YNODE_MAP) {
        sk_config__err(&L, root, 0, "",
                       "expected a mapping of settings (timezone, jobs, ...) at the top, got %s",
                       sk_config__got(root, buf, sizeof(buf)));
        goto fail;
    }
    load_top(&L, root, c);
    if (R.streaming)
        L.errs = &job_errs; /* after the top's errors, as the jobs' come after them */
    sk_config__load_jobs(S, root, R.streaming);
    L.errs = errs;
    sk_config__errs_append(errs, &job_errs);
    if (errs->n != nerr || errs->dropped != ndropped)
        goto fail;
    sk_config__secrets_release(&L);
    sk_config__intern_release(&L);
    sk_config__jobs_free(S);
    sk_errs_release(&job_errs);
    sk_config__pool_free(tree);
    *ret = c;
    return 0;
fail:
    sk_config__secrets_release(&L);
    sk_config__intern_release(&L);
    sk_config__jobs_free(S);
    sk_errs_release(&job_errs);
    sk_config__errs_sort(errs, nerr);
    sk_config__pool_free(tree);
    sk_config__pool_free(pool);
    return SK_ECONFIG;
}

int sk_config_load_text(const char *path, const char *text, size_t len, sk_tz_cache_t *tzc,
                        sk_config_t **ret, sk_errs_t *errs)
{
    return load_text(path, text, len, SK_CONFIG_SKIP_SECRETS, tzc, ret, errs);
}

int sk_config_load(const char *path, sk_tz_cache_t *tzc, sk_config_t **ret, sk_errs_t *errs)
{
    return sk_config_load_opts(path, 0, tzc, ret, errs);
}

int sk_config_load_opts(const char *path, unsigned flags, sk_tz_cache_t *tzc, sk_config_t **ret,
                        sk_errs_t *errs)
{
    char *text = NULL;
    size_t len = 0;
    int r = sk_config__read_file(path, SK_CONFIG_MAX_FILE_BYTES, &text, &len);
    if (r < 0) {
        if (r == -EFBIG)
            sk_errs_add(errs, path, 0, 0, "", SK_ECONFIG,
                        "the file is larger than " SK_CONFIG_MAX_FILE_TEXT);
        else
            sk_errs_add(errs, path, 0, 0, "", SK_ECONFIG, "cannot read the file: %s",
                        r == -EINVAL ? "not a regular file" : sk_strerror(r));
        return SK_ECONFIG;
    }
    r = load_text(path, text, len, flags, tzc, ret, errs);
    free(text);
    return r;
}

sk_config_t *sk_config_ref(sk_config_t *c)
{
    if (c)
        c->refs++;
    return c;
}

void sk_config_unref(sk_config_t *c)
{
    if (!c)
        return;
    SK_ASSERT(c->refs > 0);
    if (--c->refs == 0)
        sk_config__pool_free(c->pool); /* c itself lives in the pool */
}

const sk_job_cfg_t *sk_config_job(const sk_config_t *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->njobs; i++) {
        if (strcmp(c->jobs[i].name, name) == 0)
            return &c->jobs[i];
    }
    return NULL;
}
