/*
 * on: the events that start a job besides its clock: start, boot, files in
 * a folder, logon, idle and webhook (whose settings config_hook.c reads).
 * Each is a name, or a mapping of the name to its settings; on: takes one,
 * a list, or a mapping of several.
 */
#include "config_job.h"

#include <fnmatch.h>
#include <sys/stat.h>

/* The events, by name; the order is SK_ON_*'s bits. */
static const char *const event_kinds[] = {"start", "boot", "file", "logon", "idle", "webhook"};
#define EVENT_LIST "start, boot, file, logon, idle and webhook"

static const char *const file_events[] = {"created",  "closed_write", "moved_in",
                                          "modified", "deleted",      "moved_out"};
static const char *const file_keys[] = {"path",   "glob",      "events",
                                        "settle", "recursive", "existing"};

#define MAX_SETTLE_MS (3600 * 1000)

static bool bool_at(jctx_t *j, const sk_ynode_t *v, const char *sub, bool *ret)
{
    char buf[64];
    if (v->kind == SK_YNODE_SCALAR &&
        (strcmp(v->text, "true") == 0 || strcmp(v->text, "false") == 0)) {
        *ret = v->text[0] == 't';
        return true;
    }
    sk_config__job_err(j, K_ON, v, 0, sub, "expected true or false, got %s",
                       sk_config__got(v, buf, sizeof(buf)));
    return false;
}

/* events: one name or a list of them, into *ret (SK_FILE_*); at is the
 * key's path below on. */
static bool file_event_names(jctx_t *j, const sk_ynode_t *v, const char *at, unsigned *ret)
{
    const sk_ynode_t *one[1] = {v};
    const sk_ynode_t *const *items = one;
    size_t n = 1;
    char buf[64], sub[96];
    bool ok = true;
    if (v->kind == SK_YNODE_SEQ) {
        items = (const sk_ynode_t *const *)v->items;
        n = v->nitems;
        if (n == 0) {
            sk_config__job_err(j, K_ON, v, 0, at,
                               "an empty list: give at least one of created, closed_write, "
                               "moved_in, modified, deleted or moved_out");
            return false;
        }
    }
    *ret = 0;
    for (size_t i = 0; i < n; i++) {
        const sk_ynode_t *it = items[i];
        sk_snprintf(sub, sizeof(sub), "%s", at);
        if (v->kind == SK_YNODE_SEQ)
            sk_snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
        size_t k = 0;
        while (it->kind == SK_YNODE_SCALAR && k < SK_ARRAY_LEN(file_events) &&
               strcmp(it->text, file_events[k]) != 0)
            k++;
        if (it->kind == SK_YNODE_SCALAR && k < SK_ARRAY_LEN(file_events)) {
            *ret |= 1u << k;
            continue;
        }
        const char *near =
            it->kind == SK_YNODE_SCALAR
                ? sk_config__closest(it->text, file_events, SK_ARRAY_LEN(file_events))
                : NULL;
        sk_config__job_err(j, K_ON, it, 0, sub,
                           "%s is not one of created, closed_write, moved_in, modified, deleted or "
                           "moved_out%s%s%s",
                           sk_config__got(it, buf, sizeof(buf)), near ? " (did you mean \"" : "",
                           near ? near : "", near ? "\"?)" : "");
        ok = false;
    }
    return ok;
}

/* file: {path: FOLDER, glob, events, settle, recursive, existing}; at is
 * where the event is below on ("" or "[2]"). */
static bool file_settings(jctx_t *j, sk_job_cfg_t *J, const sk_ynode_t *opts, const char *at)
{
    char buf[64], sub[96], here[64], pathsub[80];
    sk_snprintf(here, sizeof(here), "%s.file", at);
    sk_snprintf(pathsub, sizeof(pathsub), "%s.path", here);
    if (!opts || opts->kind != SK_YNODE_MAP) {
        sk_config__job_err(j, K_ON, opts ? opts : j->e[K_ON].val, 0, here,
                           "expected the folder to watch, like {path: inbox/, glob: \"*.csv\"}, "
                           "got %s",
                           opts ? sk_config__got(opts, buf, sizeof(buf)) : "nothing");
        return false;
    }
    sk_file_watch_cfg_t *f = sk_config__alloc(j->L->pool, sizeof(*f));
    f->events = SK_FILE_CREATED | SK_FILE_CLOSED_WRITE | SK_FILE_MOVED_IN;
    f->settle_ms = 1000;
    bool ok = true;
    const sk_ynode_t *path = NULL;
    for (size_t i = 0; i < opts->npairs; i++) {
        const sk_ynode_t *key = opts->pairs[i].key, *v = opts->pairs[i].val;
        sk_snprintf(sub, sizeof(sub), "%s.%.40s", here, key->text);
        size_t k = 0;
        while (k < SK_ARRAY_LEN(file_keys) && strcmp(key->text, file_keys[k]) != 0)
            k++;
        if (k == SK_ARRAY_LEN(file_keys)) {
            const char *near = sk_config__closest(key->text, file_keys, SK_ARRAY_LEN(file_keys));
            sk_config__job_err(j, K_ON, key, 0, sub,
                               "unknown setting%s%s%s; file takes path, glob, events, settle, "
                               "recursive and existing",
                               near ? " (did you mean \"" : "", near ? near : "",
                               near ? "\"?)" : "");
            ok = false;
            continue;
        }
        if (sk_config__is_null(v))
            continue;
        switch (k) {
        case 0:
            path = v;
            break;
        case 1:
            if (v->kind != SK_YNODE_SCALAR || !v->text[0]) {
                sk_config__job_err(j, K_ON, v, 0, sub, "expected a pattern like \"*.csv\", got %s",
                                   sk_config__got(v, buf, sizeof(buf)));
                ok = false;
            } else if (strchr(v->text, '/')) {
                sk_config__job_err(j, K_ON, v, 0, sub,
                                   "a glob matches a file's name, not a path: \"%s\" has a /; put "
                                   "the folder in path:",
                                   v->text);
                ok = false;
            } else {
                f->glob = sk_config__strdup(j->L->pool, v->text);
            }
            break;
        case 2:
            ok &= file_event_names(j, v, sub, &f->events);
            break;
        case 3:
            if (!sk_config__job_duration_at(j, K_ON, v, sub, &f->settle_ms)) {
                ok = false;
            } else if (f->settle_ms > MAX_SETTLE_MS) {
                sk_config__job_err(j, K_ON, v, 0, sub, "settle is at most 1h");
                ok = false;
            }
            break;
        case 4:
            ok &= bool_at(j, v, sub, &f->recursive);
            break;
        default:
            ok &= bool_at(j, v, sub, &f->existing);
            break;
        }
    }
    if (!path) {
        sk_config__job_err(j, K_ON, opts, 0, here,
                           "path is missing: give the folder to watch (path: inbox/)");
        return false;
    }
    if (path->kind != SK_YNODE_SCALAR || !path->text[0]) {
        sk_config__job_err(j, K_ON, path, 0, pathsub, "expected a folder, got %s",
                           sk_config__got(path, buf, sizeof(buf)));
        return false;
    }
    f->path = sk_config__path_abs(j->L->pool, j->L->dir, path->text);
    struct stat st;
    int rc = stat(f->path, &st);
    if (rc < 0 || !S_ISDIR(st.st_mode)) {
        const char *why = rc == 0                               ? "is not a folder"
                          : errno == ENOENT || errno == ENOTDIR ? "does not exist"
                                                                : strerror(errno);
        sk_config__job_err(
            j, K_ON, path, 0, pathsub, "folder \"%s\" %s%s", path->text, why,
            path->text[0] == '/' ? "" : " (relative paths start in the config file's folder)");
        return false;
    }
    if (ok)
        J->file = f;
    return ok;
}

/* logon: {user: NAME} or nothing (anyone's session). */
static bool logon_settings(jctx_t *j, sk_job_cfg_t *J, const sk_ynode_t *opts, const char *at)
{
    char buf[64], sub[96];
    if (!opts)
        return true;
    if (opts->kind != SK_YNODE_MAP) {
        sk_snprintf(sub, sizeof(sub), "%s.logon", at);
        sk_config__job_err(j, K_ON, opts, 0, sub, "expected {user: NAME} or nothing, got %s",
                           sk_config__got(opts, buf, sizeof(buf)));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < opts->npairs; i++) {
        const sk_ynode_t *key = opts->pairs[i].key, *v = opts->pairs[i].val;
        sk_snprintf(sub, sizeof(sub), "%s.logon.%.40s", at, key->text);
        if (strcmp(key->text, "user") != 0) {
            sk_config__job_err(j, K_ON, key, 0, sub, "unknown setting; logon takes user");
            ok = false;
        } else if (v->kind != SK_YNODE_SCALAR || !v->text[0] || strlen(v->text) > 32 ||
                   strpbrk(v->text, " \t/:")) {
            sk_config__job_err(j, K_ON, v, 0, sub, "expected a user name, got %s",
                               sk_config__got(v, buf, sizeof(buf)));
            ok = false;
        } else {
            J->logon_user = sk_config__strdup(j->L->pool, v->text);
        }
    }
    return ok;
}

/* idle: {for: DURATION, cpu: PERCENT}, both optional. */
static bool idle_settings(jctx_t *j, sk_job_cfg_t *J, const sk_ynode_t *opts, const char *at)
{
    char buf[64], sub[96];
    J->idle_ms = 10 * 60 * 1000;
    J->idle_cpu = 10;
    if (!opts)
        return true;
    if (opts->kind != SK_YNODE_MAP) {
        sk_snprintf(sub, sizeof(sub), "%s.idle", at);
        sk_config__job_err(j, K_ON, opts, 0, sub, "expected {for: 15m, cpu: 10}, got %s",
                           sk_config__got(opts, buf, sizeof(buf)));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < opts->npairs; i++) {
        const sk_ynode_t *key = opts->pairs[i].key, *v = opts->pairs[i].val;
        sk_snprintf(sub, sizeof(sub), "%s.idle.%.40s", at, key->text);
        if (strcmp(key->text, "for") == 0) {
            if (!sk_config__job_duration_at(j, K_ON, v, sub, &J->idle_ms)) {
                ok = false;
            } else if (J->idle_ms < 1000 || J->idle_ms > 7 * 86400 * 1000LL) {
                sk_config__job_err(j, K_ON, v, 0, sub, "for is 1s to 7d");
                ok = false;
            }
        } else if (strcmp(key->text, "cpu") == 0) {
            int64_t n = 0;
            if (v->kind != SK_YNODE_SCALAR || sk_config__parse_int(v->text, &n) != 0 || n < 1 ||
                n > 100) {
                sk_config__job_err(j, K_ON, v, 0, sub,
                                   "expected a percentage of CPU use, 1 to 100, got %s",
                                   sk_config__got(v, buf, sizeof(buf)));
                ok = false;
            } else {
                J->idle_cpu = (int)n;
            }
        } else {
            sk_config__job_err(j, K_ON, key, 0, sub, "unknown setting; idle takes for and cpu");
            ok = false;
        }
    }
    return ok;
}

/* One event (a name, or a mapping of one name to its settings). */
static bool event_one(jctx_t *j, sk_job_cfg_t *J, const sk_ynode_t *it, const char *sub)
{
    char buf[64];
    const sk_ynode_t *name = it, *opts = NULL;
    if (it->kind == SK_YNODE_MAP && it->npairs == 1) {
        name = it->pairs[0].key;
        opts = sk_config__is_null(it->pairs[0].val) ? NULL : it->pairs[0].val;
    }
    if (name->kind != SK_YNODE_SCALAR || sk_config__is_null(name)) {
        sk_config__job_err(j, K_ON, it, 0, sub,
                           "expected an event (" EVENT_LIST "), or a list of them, got %s",
                           sk_config__got(it, buf, sizeof(buf)));
        return false;
    }
    for (size_t k = 0; k < SK_ARRAY_LEN(event_kinds); k++) {
        if (strcmp(name->text, event_kinds[k]) != 0)
            continue;
        if (J->on & (1u << k)) {
            sk_config__job_err(j, K_ON, name, 0, sub, "%s is given twice", event_kinds[k]);
            return false;
        }
        if ((1u << k) == SK_ON_FILE) {
            if (!file_settings(j, J, opts, sub ? sub : ""))
                return false;
        } else if ((1u << k) == SK_ON_LOGON) {
            if (!logon_settings(j, J, opts, sub ? sub : ""))
                return false;
        } else if ((1u << k) == SK_ON_IDLE) {
            if (!idle_settings(j, J, opts, sub ? sub : ""))
                return false;
        } else if ((1u << k) == SK_ON_WEBHOOK) {
            if (!(J->webhook = sk_config__job_webhook(j, name, opts, sub)))
                return false;
        } else if (opts && !(opts->kind == SK_YNODE_MAP && opts->npairs == 0)) {
            sk_config__job_err(j, K_ON, opts, 0, sub, "%s takes no settings, got %s",
                               event_kinds[k], sk_config__got(opts, buf, sizeof(buf)));
            return false;
        }
        J->on |= 1u << k;
        return true;
    }
    const char *near = sk_config__closest(name->text, event_kinds, SK_ARRAY_LEN(event_kinds));
    if (near)
        sk_config__job_err(j, K_ON, name, 0, sub,
                           "unknown event \"%s\" (did you mean \"%s\"?); sked knows " EVENT_LIST,
                           name->text, near);
    else
        sk_config__job_err(j, K_ON, name, 0, sub, "unknown event \"%s\"; sked knows " EVENT_LIST,
                           name->text);
    return false;
}

void sk_config__job_events(jctx_t *j, sk_job_cfg_t *J)
{
    const sk_ynode_t *v = j->e[K_ON].val;
    char sub[32];
    if (v->kind == SK_YNODE_SEQ) {
        if (v->nitems == 0)
            sk_config__job_err(j, K_ON, v, 0, NULL,
                               "an empty list: give at least one event (" EVENT_LIST
                               "), or remove on:");
        for (size_t i = 0; i < v->nitems; i++) {
            sk_snprintf(sub, sizeof(sub), "[%zu]", i);
            event_one(j, J, v->items[i], sub);
        }
    } else if (v->kind == SK_YNODE_MAP && v->npairs != 1) {
        /* {start: {}, file: {...}}: each pair one event. */
        for (size_t i = 0; i < v->npairs; i++) {
            sk_ynode_t one = *v;
            one.pairs = &v->pairs[i];
            one.npairs = 1;
            event_one(j, J, &one, NULL);
        }
    } else {
        event_one(j, J, v, NULL);
    }
}

bool sk_file_watch_match(const sk_file_watch_cfg_t *f, const char *name)
{
    return !f->glob || fnmatch(f->glob, name, FNM_PERIOD) == 0;
}
