/*
 * The alert: mapping of a job, a step or defaults: which events raise an
 * alert (on:) and the channels it goes to (webhook, slack, email, command).
 * Checks URLs, addresses and argv, and where the SMTP password comes from: a
 * password written in sked.yaml is an error, since secrets never go there.
 * Exports sk_config__alert to config_job.c.
 */
#include "config_int.h"

typedef struct actx {
    sk_config_ctx_t *L;
    const char *path; /* "jobs.NAME.alert" */
    bool quiet;       /* inherited from defaults: reported there, once */
    bool ok;
} actx_t;

static const char *const alert_keys[] = {"on", "webhook", "slack", "email", "command"};
static const char *const email_keys[] = {"smtp_url", "from",         "to",
                                         "username", "password_env", "password_file"};
static const char *const event_names[] = {
#define SK_X(e, v, s) s,
    SK_ALERT_EVENTS(SK_X)
#undef SK_X
};
static const unsigned event_bits[] = {
#define SK_X(e, v, s) e,
    SK_ALERT_EVENTS(SK_X)
#undef SK_X
};

#define EVENT_LIST "failure, timeout, missed, recovered, late or success"
#define NO_SECRETS                                                                                 \
    "secrets never go in sked.yaml: give password_env (the name of an environment variable) "      \
    "or password_file (a file only its owner can read)"

/* An error at node n (col 0: the node's column); sub is appended to the key path. */
static void aerr(actx_t *a, const sk_ynode_t *n, int col, const char *sub, const char *fmt, ...)
    SK_PRINTF(5, 6);
static void aerr(actx_t *a, const sk_ynode_t *n, int col, const char *sub, const char *fmt, ...)
{
    a->ok = false;
    if (a->quiet)
        return;
    char path[300], msg[512];
    sk_snprintf(path, sizeof(path), "%s%s", a->path, sub);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_config__err(a->L, n, col, path, "%s", msg);
}

static void unknown(actx_t *a, const sk_ynode_t *k, const char *sub, const char *const *names,
                    size_t n, const char *extra)
{
    a->ok = false;
    if (a->quiet)
        return;
    char path[300];
    sk_snprintf(path, sizeof(path), "%s%s", a->path, sub);
    sk_config__unknown_key(a->L, k, path, names, n, extra);
}

/* A non-empty scalar's text, or NULL after reporting what was expected. */
static const char *text(actx_t *a, const sk_ynode_t *v, const char *sub, const char *what)
{
    char buf[64];
    if (v->kind != SK_YNODE_SCALAR || sk_config__is_null(v)) {
        aerr(a, v, 0, sub, "expected %s, got %s", what, sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    if (!v->text[0]) {
        aerr(a, v, 0, sub, "expected %s, got an empty string", what);
        return NULL;
    }
    return v->text;
}

/* The offset of the first control character (or, with space, blank) in t, or -1. */
static long control_at(const char *t, bool space)
{
    for (size_t i = 0; t[i]; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7f || (space && c == ' '))
            return (long)i;
    }
    return -1;
}

/* A URL with one of two schemes (http and https, or smtp and smtps) and a host. */
static char *url(actx_t *a, const sk_ynode_t *v, const char *sub, bool smtp)
{
    static const char *const web[] = {"http://", "https://"};
    static const char *const mail[] = {"smtp://", "smtps://"};
    const char *const *schemes = smtp ? mail : web;
    char what[64], buf[64];
    sk_snprintf(what, sizeof(what), "a URL starting with %s or %s", schemes[0], schemes[1]);
    const char *t = text(a, v, sub, what);
    if (!t)
        return NULL;
    size_t skip = 0;
    for (size_t i = 0; i < 2 && !skip; i++) {
        if (sk_strncaseeq(t, schemes[i], strlen(schemes[i])))
            skip = strlen(schemes[i]);
    }
    if (!skip) {
        aerr(a, v, 0, sub, "expected %s, got %s", what, sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    long at = control_at(t, true);
    if (at >= 0) {
        aerr(a, v, sk_config__inner_col(v, (size_t)at), sub,
             "a URL cannot contain spaces or control characters");
        return NULL;
    }
    if (!t[skip] || t[skip] == '/' || t[skip] == '?' || t[skip] == '#') {
        aerr(a, v, 0, sub, "the URL %s has no host", sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    return sk_config__strdup(a->L->pool, t);
}

/* An email address: something@something, on one line. */
static char *address(actx_t *a, const sk_ynode_t *v, const char *sub)
{
    static const char what[] = "an email address like ops@example.com";
    char buf[64];
    const char *t = text(a, v, sub, what);
    if (!t)
        return NULL;
    const char *at = strchr(t, '@');
    if (!at || at == t || !at[1]) {
        aerr(a, v, 0, sub, "expected %s, got %s", what, sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    long bad = control_at(t, false);
    if (bad >= 0) {
        aerr(a, v, sk_config__inner_col(v, (size_t)bad), sub,
             "an email address cannot contain control characters or line breaks");
        return NULL;
    }
    return sk_config__strdup(a->L->pool, t);
}

/* to: one address or a list of them, NULL-terminated. */
static char **addresses(actx_t *a, const sk_ynode_t *v)
{
    char buf[64];
    if (v->kind == SK_YNODE_SCALAR) {
        char *one = address(a, v, ".email.to");
        if (!one)
            return NULL;
        char **out = sk_config__alloc(a->L->pool, 2 * sizeof(*out));
        out[0] = one;
        return out;
    }
    if (v->kind != SK_YNODE_SEQ) {
        aerr(a, v, 0, ".email.to", "expected an address or a list of them, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    if (v->nitems == 0) {
        aerr(a, v, 0, ".email.to", "an empty list: give at least one address");
        return NULL;
    }
    bool ok = true;
    char **out = sk_config__alloc(a->L->pool, (v->nitems + 1) * sizeof(*out));
    for (size_t i = 0; i < v->nitems; i++) {
        char sub[48];
        sk_snprintf(sub, sizeof(sub), ".email.to[%zu]", i);
        out[i] = address(a, v->items[i], sub);
        ok = ok && out[i];
    }
    return ok ? out : NULL;
}

/* command: a list, or a string split into words like run: (no shell). */
static char **command(actx_t *a, const sk_ynode_t *v)
{
    char buf[64];
    if (v->kind == SK_YNODE_MAP) {
        aerr(a, v, 0, ".command",
             "expected a command as a string or a list like [notify.sh, --to, ops], got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    if (v->kind == SK_YNODE_SEQ) {
        if (v->nitems == 0) {
            aerr(a, v, 0, ".command", "an empty command: give the program and its arguments");
            return NULL;
        }
        bool ok = true;
        char **out = sk_config__alloc(a->L->pool, (v->nitems + 1) * sizeof(*out));
        for (size_t i = 0; i < v->nitems; i++) {
            const sk_ynode_t *it = v->items[i];
            if (it->kind != SK_YNODE_SCALAR || sk_config__is_null(it)) {
                char sub[48];
                sk_snprintf(sub, sizeof(sub), ".command[%zu]", i);
                aerr(a, it, 0, sub, "expected a program or argument, got %s",
                     sk_config__got(it, buf, sizeof(buf)));
                ok = false;
                continue;
            }
            out[i] = sk_config__strdup(a->L->pool, it->text);
        }
        return ok ? out : NULL;
    }
    long at = sk_config__shell_syntax_at(v->text);
    if (at >= 0) {
        aerr(a, v, sk_config__inner_col(v, (size_t)at), ".command",
             "'%c' would reach the program as a plain argument: command: uses no shell; write "
             "[sh, -c, \"...\"] for pipes, redirections and $variables",
             v->text[at]);
        return NULL;
    }
    char **words = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_split_words(v->text, &words, &err) < 0) {
        int col = err.col > 0 ? sk_config__inner_col(v, (size_t)err.col - 1) : 0;
        aerr(a, v, col, ".command", "%s", err.msg);
        return NULL;
    }
    size_t n = sk_strv_len(words);
    char **out = NULL;
    if (n == 0) {
        aerr(a, v, 0, ".command", "an empty command: give the program and its arguments");
    } else {
        out = sk_config__alloc(a->L->pool, (n + 1) * sizeof(*out));
        for (size_t i = 0; i < n; i++)
            out[i] = sk_config__strdup(a->L->pool, words[i]);
    }
    sk_strv_free(words);
    return out;
}

/* One event name, as its bit; 0 after reporting. */
static unsigned event(actx_t *a, const sk_ynode_t *v, const char *sub)
{
    char buf[64];
    const char *t = text(a, v, sub, "one of " EVENT_LIST);
    if (!t)
        return 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(event_names); i++) {
        if (strcmp(t, event_names[i]) == 0)
            return event_bits[i];
    }
    const char *hint = sk_config__closest(t, event_names, SK_ARRAY_LEN(event_names));
    if (hint)
        aerr(a, v, 0, sub, "%s is not one of " EVENT_LIST " (did you mean \"%s\"?)",
             sk_config__got(v, buf, sizeof(buf)), hint);
    else
        aerr(a, v, 0, sub, "%s is not one of " EVENT_LIST, sk_config__got(v, buf, sizeof(buf)));
    return 0;
}

/* on: one event or a list of them. */
static unsigned events(actx_t *a, const sk_ynode_t *v)
{
    char buf[64];
    if (v->kind == SK_YNODE_SCALAR)
        return event(a, v, ".on");
    if (v->kind != SK_YNODE_SEQ) {
        aerr(a, v, 0, ".on", "expected a list of events like [failure, timeout], got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return 0;
    }
    if (v->nitems == 0) {
        aerr(a, v, 0, ".on", "an empty list: give at least one of " EVENT_LIST);
        return 0;
    }
    unsigned on = 0;
    for (size_t i = 0; i < v->nitems; i++) {
        char sub[32];
        sk_snprintf(sub, sizeof(sub), ".on[%zu]", i);
        on |= event(a, v->items[i], sub);
    }
    return on;
}

static void email(actx_t *a, const sk_ynode_t *v, sk_alert_cfg_t *A)
{
    char buf[64];
    if (v->kind != SK_YNODE_MAP) {
        aerr(a, v, 0, ".email",
             "expected a mapping like {smtp_url: smtps://mail.example.com, from: ..., to: ...}, "
             "got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return;
    }
    bool seen[SK_ARRAY_LEN(email_keys)] = {false};
    const sk_ynode_t *pw_env = NULL, *pw_file = NULL;
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *k = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300];
        sk_snprintf(sub, sizeof(sub), ".email.%s", k->text);
        if (strcmp(k->text, "password") == 0) {
            aerr(a, k, 0, sub, NO_SECRETS);
            continue;
        }
        size_t e = 0;
        while (e < SK_ARRAY_LEN(email_keys) && strcmp(email_keys[e], k->text) != 0)
            e++;
        if (e == SK_ARRAY_LEN(email_keys)) {
            unknown(a, k, sub, email_keys, SK_ARRAY_LEN(email_keys), NULL);
            continue;
        }
        if (sk_config__is_null(val))
            continue; /* null unsets */
        seen[e] = true;
        const char *t;
        switch (e) {
        case 0:
            A->email.smtp_url = url(a, val, sub, true);
            break;
        case 1:
            A->email.from = address(a, val, sub);
            break;
        case 2:
            A->email.to = addresses(a, val);
            break;
        case 3:
            if ((t = text(a, val, sub, "a user name")))
                A->email.username = sk_config__strdup(a->L->pool, t);
            break;
        case 4:
            pw_env = k;
            if ((t = text(a, val, sub, "the name of an environment variable")) &&
                !sk_config__is_var_name(t))
                aerr(a, val, 0, sub,
                     "\"%s\" is not a valid variable name (letters, digits and _, not starting "
                     "with a digit)",
                     t);
            else if (t)
                A->email.password_env = sk_config__strdup(a->L->pool, t);
            break;
        default: {
            pw_file = k;
            if (!(t = text(a, val, sub, "a path")))
                break;
            char *abs = sk_config__path_abs(a->L->pool, a->L->dir, t);
            char msg[512];
            if (sk_config__secret_file_ok("password_file", t, abs, msg, sizeof(msg)))
                A->email.password_file = abs;
            else
                aerr(a, val, 0, sub, "%s", msg);
            break;
        }
        }
    }
    if (pw_env && pw_file)
        aerr(a, pw_file, 0, ".email.password_file",
             "password_env and password_file cannot be combined: give one");
    char missing[64] = "";
    size_t used = 0, nmissing = 0;
    for (size_t e = 0; e < 3; e++) {
        if (!seen[e])
            used += (size_t)sk_snprintf(missing + used, sizeof(missing) - used, "%s%s",
                                        nmissing++ ? ", " : "", email_keys[e]);
    }
    if (nmissing)
        aerr(a, v, 0, ".email", "email needs smtp_url, from and to: %s %s missing", missing,
             nmissing > 1 ? "are" : "is");
    A->has_email = true;
}

sk_alert_cfg_t *sk_config__alert(sk_config_ctx_t *L, const sk_ynode_t *v, const char *path,
                                 bool quiet)
{
    actx_t a = {.L = L, .path = path, .quiet = quiet, .ok = true};
    char buf[64];
    if (v->kind != SK_YNODE_MAP) {
        aerr(&a, v, 0, "",
             "expected a mapping like {on: [failure], webhook: \"https://...\"}, got %s",
             sk_config__got(v, buf, sizeof(buf)));
        return NULL;
    }
    sk_alert_cfg_t *A = sk_config__alloc(L->pool, sizeof(*A));
    A->on = SK_ALERT_FAILURE | SK_ALERT_TIMEOUT | SK_ALERT_MISSED;
    bool channel = false;
    for (size_t i = 0; i < v->npairs; i++) {
        const sk_ynode_t *k = v->pairs[i].key, *val = v->pairs[i].val;
        char sub[300];
        sk_snprintf(sub, sizeof(sub), ".%s", k->text);
        if (strcmp(k->text, "password") == 0) {
            aerr(&a, k, 0, sub, NO_SECRETS);
            continue;
        }
        size_t e = 0;
        while (e < SK_ARRAY_LEN(alert_keys) && strcmp(alert_keys[e], k->text) != 0)
            e++;
        if (e == SK_ARRAY_LEN(alert_keys)) {
            bool mail = false;
            for (size_t m = 0; m < SK_ARRAY_LEN(email_keys) && !mail; m++)
                mail = strcmp(email_keys[m], k->text) == 0;
            unknown(&a, k, sub, alert_keys, SK_ARRAY_LEN(alert_keys),
                    mail ? " (it belongs under email:)" : NULL);
            continue;
        }
        if (sk_config__is_null(val))
            continue; /* null unsets */
        switch (e) {
        case 0:
            A->on = events(&a, val);
            break;
        case 1:
            A->webhook = url(&a, val, sub, false);
            break;
        case 2:
            A->slack = url(&a, val, sub, false);
            break;
        case 3:
            email(&a, val, A);
            break;
        default:
            A->command = command(&a, val);
            break;
        }
        channel |= e > 0; /* given, even if wrong: that error says enough */
    }
    if (!channel)
        aerr(&a, v, 0, "",
             "an alert needs at least one channel: give webhook, slack, email or command");
    return a.ok ? A : NULL;
}
