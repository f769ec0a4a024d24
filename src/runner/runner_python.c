/*
 * From a job body to an argv (DESIGN section 5): which Python interpreter a
 * python/module body runs with (explicit venv, else a .venv/venv found
 * beside the script or in a parent up to the configuration's folder, else
 * python3 on the daemon's PATH), and the argv of each body kind. Exports
 * sk_runner_python, sk_runner_argv and sk_runner_cwd. Paths are handled
 * lexically (no symlinks resolved): a venv's bin/python is a symlink whose
 * own path is what tells Python which venv it is in.
 */
#include "runner.h"
#include "runner_int.h"

#include <sys/stat.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* Joins base and rel ("base/rel"), or copies rel when it is absolute. */
static char *path_join(const char *base, const char *rel)
{
    if (rel[0] == '/' || !base || !base[0])
        return sk_xstrdup(rel);
    size_t n = strlen(base) + strlen(rel) + 2;
    char *p = sk_xmalloc(n);
    sk_snprintf(p, n, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", rel);
    return p;
}

/*
 * Cleans an absolute path lexically, in place: collapses "//", drops "."
 * and resolves ".." against the previous component (never above "/").
 * No trailing slash except for "/" itself.
 */
static char *path_clean(char *path)
{
    SK_ASSERT(path[0] == '/');
    size_t out = 0; /* bytes kept in path so far; path[0] stays '/' */
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.'))
            continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            while (out > 0 && path[out - 1] != '/')
                out--;
            if (out > 0)
                out--;
            continue;
        }
        path[out++] = '/';
        memmove(path + out, start, len);
        out += len;
    }
    if (out == 0)
        path[out++] = '/';
    path[out] = '\0';
    return path;
}

/* The absolute, cleaned folder relative paths start from: config_dir (made
 * absolute against the daemon's working folder if needed). New memory. */
static char *base_dir(const sk_body_t *body)
{
    char cwd[PATH_MAX];
    if (body->config_dir && body->config_dir[0] == '/')
        return path_clean(sk_xstrdup(body->config_dir));
    if (!getcwd(cwd, sizeof(cwd)))
        sk_strlcpy(cwd, "/", sizeof(cwd));
    if (!body->config_dir || !body->config_dir[0])
        return path_clean(sk_xstrdup(cwd));
    return path_clean(path_join(cwd, body->config_dir));
}

/* rel made absolute against the base folder and cleaned. New memory. */
static char *abs_path(const sk_body_t *body, const char *rel)
{
    char *base = base_dir(body);
    char *p = path_clean(path_join(base, rel));
    free(base);
    return p;
}

/* Cuts the last component off an absolute, cleaned path, in place. */
static void path_parent(char *path)
{
    char *slash = strrchr(path, '/');
    if (slash == path)
        path[1] = '\0';
    else if (slash)
        *slash = '\0';
}

/* Whether path is root or lies below it (both absolute and cleaned). */
static bool path_within(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (sk_streq(root, "/"))
        return true;
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* 0 if path is a regular file we may execute, else -errno. */
int sk_runner__check_exec(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0)
        return -EACCES;
    return 0;
}

/* DIR/bin/python, new memory. */
static char *venv_python(const char *dir)
{
    return path_join(dir, "bin/python");
}

/* Looks for DIR/.venv or DIR/venv holding an executable bin/python, from
 * start up to root (both absolute, cleaned). If start is not below root,
 * only start itself is searched: there is no boundary to stop at. */
static char *discover_venv(const char *start, const char *root)
{
    static const char *const names[] = {".venv", "venv"};
    bool inside = path_within(start, root);
    char *dir = sk_xstrdup(start);
    for (;;) {
        for (size_t i = 0; i < SK_ARRAY_LEN(names); i++) {
            char *venv = path_join(dir, names[i]);
            char *py = venv_python(venv);
            int r = sk_runner__check_exec(py);
            free(py);
            if (r == 0) {
                free(dir);
                return venv;
            }
            free(venv);
        }
        if (!inside || sk_streq(dir, root) || sk_streq(dir, "/"))
            break;
        path_parent(dir);
    }
    free(dir);
    return NULL;
}

int sk_runner__venv(const sk_body_t *body, char **ret_dir, sk_err_t *err)
{
    if (body->venv && body->venv[0]) {
        char *dir = abs_path(body, body->venv);
        char *py = venv_python(dir);
        int r = sk_runner__check_exec(py);
        if (r != 0) {
            if (r == -ENOENT || r == -ENOTDIR)
                sk_err_set(err, r, "venv %s: %s does not exist", body->venv, py);
            else
                sk_err_set(err, r, "venv %s: %s is not an executable file", body->venv, py);
            free(py);
            free(dir);
            return r;
        }
        free(py);
        *ret_dir = dir;
        return 0;
    }
    if (body->kind != SK_BODY_PYTHON && body->kind != SK_BODY_MODULE) {
        *ret_dir = NULL;
        return 0;
    }
    /* A script's search starts beside it; a module's in the folder it runs in. */
    char *root = base_dir(body);
    char *start;
    if (body->kind == SK_BODY_PYTHON && body->target && body->target[0]) {
        start = abs_path(body, body->target);
        path_parent(start);
    } else {
        start = abs_path(body, body->cwd && body->cwd[0] ? body->cwd : ".");
    }
    *ret_dir = discover_venv(start, root);
    free(start);
    free(root);
    return 0;
}

/* The first executable NAME in the daemon's PATH (absolute entries only:
 * a relative one would depend on the daemon's working folder). */
static char *find_on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path || !path[0])
        path = DEFAULT_PATH;
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0 && p[0] == '/') {
            char *dir = sk_xstrndup(p, len);
            char *cand = path_join(dir, name);
            free(dir);
            if (sk_runner__check_exec(cand) == 0)
                return cand;
            free(cand);
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return NULL;
}

int sk_runner_python(const sk_body_t *body, char **ret, sk_err_t *err)
{
    char *venv = NULL;
    int r = sk_runner__venv(body, &venv, err);
    if (r != 0)
        return r;
    if (venv) {
        *ret = venv_python(venv);
        free(venv);
        return 0;
    }
    char *py = find_on_path("python3");
    if (!py) {
        const char *path = getenv("PATH");
        return sk_err_set(err, SK_ENOTFOUND,
                          "no venv found and python3 is not on PATH (%s); set venv: for the job",
                          path && path[0] ? path : DEFAULT_PATH);
    }
    *ret = py;
    return 0;
}

/* A growable NULL-terminated string vector. */
typedef struct strv {
    char **v;
    size_t n, cap;
} strv_t;

static void strv_push(strv_t *s, const char *str)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = sk_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = sk_xstrdup(str);
    s->v[s->n] = NULL;
}

static void strv_push_all(strv_t *s, char *const *v)
{
    for (size_t i = 0; v && v[i]; i++)
        strv_push(s, v[i]);
}

static void strv_release(strv_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* The script's absolute path if it is an existing file, else an error
 * naming it. */
static int python_script(const sk_body_t *body, char **ret, sk_err_t *err)
{
    struct stat st;
    if (!body->target || !body->target[0])
        return sk_err_set(err, -EINVAL, "python: no script given");
    char *script = abs_path(body, body->target);
    int r = 0;
    if (stat(script, &st) != 0)
        r = sk_err_set(err, -errno, "python script %s: %s", script, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        r = sk_err_set(err, -EISDIR, "python script %s: is a directory", script);
    if (r != 0) {
        free(script);
        return r;
    }
    *ret = script;
    return 0;
}

int sk_runner_argv(const sk_body_t *body, char ***ret, sk_err_t *err)
{
    strv_t argv = {0};
    char *script = NULL, *py = NULL, *venv = NULL;
    int r = 0;

    switch (body->kind) {
    case SK_BODY_PYTHON:
        if ((r = python_script(body, &script, err)) != 0)
            goto fail;
        if ((r = sk_runner_python(body, &py, err)) != 0)
            goto fail;
        strv_push(&argv, py);
        strv_push(&argv, script);
        strv_push_all(&argv, body->args);
        break;
    case SK_BODY_MODULE:
        if (!body->target || !body->target[0]) {
            r = sk_err_set(err, -EINVAL, "module: no module name given");
            goto fail;
        }
        if ((r = sk_runner_python(body, &py, err)) != 0)
            goto fail;
        strv_push(&argv, py);
        strv_push(&argv, "-m");
        strv_push(&argv, body->target);
        strv_push_all(&argv, body->args);
        break;
    case SK_BODY_RUN:
        if (!body->run_argv || !body->run_argv[0] || !body->run_argv[0][0]) {
            r = sk_err_set(err, -EINVAL, "run: empty command");
            goto fail;
        }
        /* An explicit venv is activated for any kind (see sk_runner_env);
         * a bad one is an error here too. */
        if ((r = sk_runner__venv(body, &venv, err)) != 0)
            goto fail;
        strv_push_all(&argv, body->run_argv);
        strv_push_all(&argv, body->args);
        break;
    case SK_BODY_SHELL:
        if (!body->target || !body->target[0]) {
            r = sk_err_set(err, -EINVAL, "shell: empty command");
            goto fail;
        }
        if ((r = sk_runner__venv(body, &venv, err)) != 0)
            goto fail;
        strv_push(&argv, "/bin/sh");
        strv_push(&argv, "-c");
        strv_push(&argv, body->target);
        /* sh -c TEXT NAME ARGS...: extra args become $1... with $0 = "sh". */
        if (body->args && body->args[0]) {
            strv_push(&argv, "sh");
            strv_push_all(&argv, body->args);
        }
        break;
    default:
        r = sk_err_set(err, -EINVAL, "unknown job kind %d", (int)body->kind);
        goto fail;
    }
    free(script);
    free(py);
    free(venv);
    *ret = argv.v;
    return 0;

fail:
    free(script);
    free(py);
    free(venv);
    strv_release(&argv);
    return r;
}

char *sk_runner_cwd(const sk_body_t *body)
{
    return abs_path(body, body->cwd && body->cwd[0] ? body->cwd : ".");
}
