/*
 * Several nodes on one store, as sked.yaml says it: node labels (a job's
 * nodes: and cluster.nodes.NAME.labels share one checker), the top-level
 * cluster: mapping (lease_timeout, nodes), and this node's name (`sked run
 * --node`, $SKED_NODE, the host name). Exports sk_config__labels and
 * sk_config__load_cluster to the loader, and sk_node_name_ok, sk_node_name,
 * sk_config_node and sk_job_pin.
 */
#include "config_int.h"

#define DEF_LEASE_TIMEOUT_MS 15000
#define MIN_LEASE_TIMEOUT_MS 3000
#define MAX_LEASE_TIMEOUT_MS 600000
#define MAX_NODE_PARALLEL 10000 /* as the top-level max_parallel */

/* What a node name and a label may be, for messages. */
#define NAME_RULE "1-64 letters, digits, '_', '.' or '-'"

static const char *const cluster_keys[] = {"lease_timeout", "nodes"};
static const char *const node_keys[] = {"labels", "max_parallel", "api"};

static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

bool sk_node_name_ok(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > SK_NODE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!name_char(s[i]))
            return false;
    }
    return true;
}

/* The offset of the first character a name may not hold, or -1. */
static long bad_char_at(const char *s)
{
    for (size_t i = 0; s[i]; i++) {
        if (!name_char(s[i]))
            return (long)i;
    }
    return -1;
}

/* An error at n unless quiet; col 0: the node's column. */
static void cerr(sk_config_ctx_t *L, bool quiet, const sk_ynode_t *n, int col, const char *path,
                 const char *fmt, ...) SK_PRINTF(6, 7);
static void cerr(sk_config_ctx_t *L, bool quiet, const sk_ynode_t *n, int col, const char *path,
                 const char *fmt, ...)
{
    if (quiet)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_config__err(L, n, col, path, "%s", msg);
}

/* -------------------------------------------------------------------------------------------- */
/* Labels */

bool sk_config__labels(sk_config_ctx_t *L, const sk_ynode_t *v, const char *path, bool quiet,
                       char ***ret, size_t *ret_n)
{
    char buf[64], sub[320];
    if (v->kind == SK_YNODE_MAP) {
        cerr(L, quiet, v, 0, path,
             "expected a label or a list of labels like [gpu], got a mapping");
        return false;
    }
    bool seq = v->kind == SK_YNODE_SEQ;
    size_t n = seq ? v->nitems : 1;
    if (n > SK_CONFIG_MAX_LABELS) {
        cerr(L, quiet, v, 0, path, "too many labels: %zu (at most %d)", n, SK_CONFIG_MAX_LABELS);
        return false;
    }
    if (n == 0) {
        *ret = NULL;
        *ret_n = 0;
        return true;
    }
    bool ok = true;
    char **out = sk_config__alloc(L->pool, (n + 1) * sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const sk_ynode_t *it = seq ? v->items[i] : v;
        if (seq)
            sk_snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        else
            sk_strlcpy(sub, path, sizeof(sub));
        if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it) || !it->text[0]) {
            cerr(L, quiet, it, 0, sub, "expected a label, got %s",
                 it->kind == SK_YNODE_SCALAR && !sk_config__is_null(it)
                     ? "an empty string"
                     : sk_config__got(it, buf, sizeof(buf)));
            ok = false;
            continue;
        }
        if (!sk_node_name_ok(it->text)) {
            long at = bad_char_at(it->text);
            int col = at >= 0 ? sk_config__inner_col(it, (size_t)at) : 0;
            bool list_in_text = !seq && strchr(it->text, ',');
            cerr(L, quiet, it, col, sub, "%s is not a valid label: " NAME_RULE "%s",
                 sk_config__got(it, buf, sizeof(buf)),
                 list_in_text ? " (give several as a list, like [gpu, big])" : "");
            ok = false;
            continue;
        }
        for (size_t k = 0; k < i; k++) {
            if (out[k] && strcmp(out[k], it->text) == 0) {
                cerr(L, quiet, it, 0, sub, "label \"%s\" is listed twice", it->text);
                ok = false;
                break;
            }
        }
        out[i] = sk_config__strdup(L->pool, it->text);
    }
    if (!ok)
        return false;
    *ret = out;
    *ret_n = n;
    return true;
}

/* -------------------------------------------------------------------------------------------- */
/* cluster: */

/* Reports every key of map that is not one of names; prefix is map's key path. */
static void unknown_keys(sk_config_ctx_t *L, const sk_ynode_t *map, const char *prefix,
                         const char *const *names, size_t n)
{
    for (size_t i = 0; i < map->npairs; i++) {
        const sk_ynode_t *k = map->pairs[i].key;
        bool known = false;
        for (size_t j = 0; j < n && !known; j++)
            known = strcmp(names[j], k->text) == 0;
        if (!known) {
            char path[400];
            sk_snprintf(path, sizeof(path), "%s.%s", prefix, k->text);
            sk_config__unknown_key(L, k, path, names, n, NULL);
        }
    }
}

static void lease_timeout(sk_config_ctx_t *L, const sk_ynode_t *v, sk_cluster_cfg_t *C)
{
    const char *path = "cluster.lease_timeout";
    char buf[64];
    int64_t ms = 0;
    if (v->kind != SK_YNODE_SCALAR) {
        sk_config__err(L, v, 0, path, "expected a duration like 15s, got %s",
                       sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    if (strcmp(v->text, "0") != 0) { /* zero needs no unit (and is out of range) */
        sk_err_t err;
        sk_err_clear(&err);
        if (sk_duration_parse(v->text, &ms, &err) < 0) {
            int col = err.col > 0 ? sk_config__inner_col(v, (size_t)err.col - 1) : 0;
            sk_config__err(L, v, col, path, "%s", err.msg);
            return;
        }
    }
    if (ms < MIN_LEASE_TIMEOUT_MS || ms > MAX_LEASE_TIMEOUT_MS) {
        sk_config__err(L, v, 0, path, "%s is out of range 3s-10m",
                       sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    C->lease_timeout_ms = ms;
}

/* An http:// or https:// URL with a host, no blanks, no query or fragment;
 * trailing '/' dropped (paths are appended to it). */
static char *api_url(sk_config_ctx_t *L, const sk_ynode_t *v, const char *path)
{
    static const char *const schemes[] = {"http://", "https://"};
    const char *what = "a URL starting with http:// or https://, like http://10.0.0.2:8080";
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR || !v->text[0]) {
        sk_config__err(L, v, 0, path, "expected %s, got %s", what,
                       v->kind == SK_YNODE_SCALAR ? "an empty string"
                                                  : sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    const char *t = v->text;
    size_t skip = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(schemes) && !skip; i++) {
        if (sk_strncaseeq(t, schemes[i], strlen(schemes[i])))
            skip = strlen(schemes[i]);
    }
    if (!skip) {
        sk_config__err(L, v, 0, path, "expected %s, got %s", what,
                       sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    for (size_t i = 0; t[i]; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c == 0x7f) {
            sk_config__err(L, v, sk_config__inner_col(v, i), path,
                           "a URL cannot contain spaces or control characters");
            return NULL;
        }
        if (c == '?' || c == '#') {
            sk_config__err(L, v, sk_config__inner_col(v, i), path,
                           "the API's base URL cannot have a query or a fragment ('%c')", c);
            return NULL;
        }
    }
    if (!t[skip] || t[skip] == '/') {
        sk_config__err(L, v, 0, path, "the URL %s has no host",
                       sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    size_t len = strlen(t);
    while (len > skip && t[len - 1] == '/')
        len--;
    return sk_config__strndup(L->pool, t, len);
}

static void node(sk_config_ctx_t *L, const sk_ynode_t *key, const sk_ynode_t *v, int max_parallel,
                 sk_node_cfg_t *N)
{
    char prefix[300], path[400], buf[64];
    sk_snprintf(prefix, sizeof(prefix), "cluster.nodes.%s", key->text);
    N->name = sk_config__strdup(L->pool, key->text);
    N->max_parallel = max_parallel;
    if (!sk_node_name_ok(key->text)) {
        long at = bad_char_at(key->text);
        sk_config__err(L, key, at >= 0 ? sk_config__inner_col(key, (size_t)at) : 0, prefix,
                       "node name \"%s\" must be " NAME_RULE, key->text);
    }
    if (sk_config__is_null(v))
        return; /* a node with every default */
    if (v->kind != SK_YNODE_MAP) {
        sk_config__err(
            L, v, 0, prefix,
            "expected a mapping (labels, max_parallel, api) like {labels: [gpu]}, got %s",
            sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    unknown_keys(L, v, prefix, node_keys, SK_ARRAY_LEN(node_keys));
    const sk_ynode_t *x;
    if ((x = sk_config__map_get(v, "labels"))) {
        sk_snprintf(path, sizeof(path), "%s.labels", prefix);
        sk_config__labels(L, x, path, false, &N->labels, &N->nlabels);
    }
    if ((x = sk_config__map_get(v, "max_parallel"))) {
        sk_snprintf(path, sizeof(path), "%s.max_parallel", prefix);
        int64_t n = 0;
        int r = x->kind == SK_YNODE_SCALAR ? sk_config__parse_int(x->text, &n) : -1;
        if (r == -1)
            sk_config__err(L, x, 0, path, "expected a whole number, got %s",
                           sk_config__got(x, buf, sizeof(buf)));
        else if (r < 0 || n < 1 || n > MAX_NODE_PARALLEL)
            sk_config__err(L, x, 0, path, "%s is out of range 1-%d", x->text, MAX_NODE_PARALLEL);
        else
            N->max_parallel = (int)n;
    }
    if ((x = sk_config__map_get(v, "api"))) {
        sk_snprintf(path, sizeof(path), "%s.api", prefix);
        N->api = api_url(L, x, path);
    }
}

void sk_config__load_cluster(sk_config_ctx_t *L, const sk_ynode_t *v, sk_config_t *c)
{
    sk_cluster_cfg_t *C = &c->cluster;
    char buf[64];
    C->lease_timeout_ms = DEF_LEASE_TIMEOUT_MS;
    if (!v)
        return;
    if (v->kind != SK_YNODE_MAP) {
        sk_config__err(L, v, 0, "cluster", "expected a mapping (lease_timeout, nodes), got %s",
                       sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    unknown_keys(L, v, "cluster", cluster_keys, SK_ARRAY_LEN(cluster_keys));
    const sk_ynode_t *x;
    if ((x = sk_config__map_get(v, "lease_timeout")))
        lease_timeout(L, x, C);
    if (!(x = sk_config__map_get(v, "nodes")))
        return;
    if (x->kind != SK_YNODE_MAP) {
        sk_config__err(L, x, 0, "cluster.nodes",
                       "expected a mapping from node names to nodes, like {n1: {labels: [gpu]}}, "
                       "got %s",
                       sk_config__got(x, buf, sizeof(buf)));
        return;
    }
    if (x->npairs > SK_CONFIG_MAX_CLUSTER_NODES) {
        sk_config__err(L, x, 0, "cluster.nodes", "too many nodes: %zu (at most %d)", x->npairs,
                       SK_CONFIG_MAX_CLUSTER_NODES);
        return;
    }
    if (x->npairs == 0)
        return;
    C->nodes = sk_config__alloc(L->pool, x->npairs * sizeof(*C->nodes));
    for (size_t i = 0; i < x->npairs; i++) /* duplicate names: dropped by the YAML reader */
        node(L, x->pairs[i].key, x->pairs[i].val, c->max_parallel, &C->nodes[C->nnodes++]);
}

const sk_node_cfg_t *sk_config_node(const sk_config_t *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->cluster.nnodes; i++) {
        if (strcmp(c->cluster.nodes[i].name, name) == 0)
            return &c->cluster.nodes[i];
    }
    return NULL;
}

/* -------------------------------------------------------------------------------------------- */
/* This node */

int sk_node_name(const char *flag, char *buf, size_t size, sk_err_t *err)
{
    char host[256];
    const char *name;
    if (flag) {
        if (!sk_node_name_ok(flag))
            return sk_err_set(err, SK_EPARSE,
                              "--node \"%.80s\" is not a valid node name: " NAME_RULE, flag);
        name = flag;
    } else if ((name = getenv("SKED_NODE")) && name[0]) {
        if (!sk_node_name_ok(name))
            return sk_err_set(err, SK_EPARSE,
                              "SKED_NODE \"%.80s\" is not a valid node name: " NAME_RULE, name);
    } else {
        /* POSIX leaves a truncated name unterminated: terminate it ourselves. */
        if (gethostname(host, sizeof(host) - 1) < 0)
            host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        char *dot = strchr(host, '.');
        if (dot)
            *dot = '\0';
        name = sk_node_name_ok(host) ? host : "node";
    }
    if (strlen(name) >= size)
        return sk_err_set(err, -ENOSPC, "the node name \"%s\" does not fit in %zu bytes", name,
                          size);
    sk_strlcpy(buf, name, size);
    return 0;
}

char *sk_job_pin(const sk_job_cfg_t *job)
{
    if (!job || job->nnodes == 0)
        return NULL;
    sk_buf_t b = {0};
    for (size_t i = 0; i < job->nnodes; i++) {
        if (i)
            sk_buf_add(&b, ",", 1);
        sk_buf_adds(&b, job->nodes[i]);
    }
    return sk_buf_take(&b, NULL);
}
