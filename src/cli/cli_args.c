/*
 * Argument parsing shared by the commands: long and short options with
 * values, in any position, and located error printing.
 */
#include "cli.h"

void sk_cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("sked: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void sk_cli_print_err(const char *prefix, const sk_err_t *err)
{
    if (err->col > 0)
        fprintf(stderr, "sked: %s: %s (column %d)\n", prefix, err->msg, err->col);
    else
        fprintf(stderr, "sked: %s: %s\n", prefix, err->msg);
}

static int usage_error(const char *cmd, const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "sked: %s: %s%s%s\nusage: %s\n", cmd, what, arg ? " " : "", arg ? arg : "",
            usage);
    return -1;
}

int sk_cli_parse(const char *cmd, const char *usage, int argc, char **argv,
                 const sk_cli_opt_t *opts, size_t nopts, const char **ret_pos, size_t max_pos,
                 size_t *ret_npos)
{
    size_t npos = 0;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (npos == max_pos)
                return usage_error(cmd, usage, "unexpected argument", a);
            ret_pos[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        const sk_cli_opt_t *o = NULL;
        const char *inline_val = NULL;
        for (size_t k = 0; k < nopts && !o; k++) {
            size_t ln = strlen(opts[k].long_name);
            if (a[1] == '-' && strncmp(a, opts[k].long_name, ln) == 0 &&
                (a[ln] == '\0' || (a[ln] == '=' && opts[k].has_arg))) {
                o = &opts[k];
                inline_val = a[ln] == '=' ? a + ln + 1 : NULL;
            } else if (a[1] != '-' && opts[k].short_name && a[1] == opts[k].short_name) {
                o = &opts[k];
                inline_val = a[2] ? a + 2 : NULL;
                if (inline_val && !opts[k].has_arg)
                    o = NULL;
            }
        }
        if (!o) {
            /* A negative number is a positional, not an option. */
            if (a[1] >= '0' && a[1] <= '9') {
                if (npos == max_pos)
                    return usage_error(cmd, usage, "unexpected argument", a);
                ret_pos[npos++] = a;
                continue;
            }
            return usage_error(cmd, usage, "unknown option", a);
        }
        if (!o->has_arg) {
            *o->value = "1";
            continue;
        }
        if (!inline_val) {
            if (i + 1 >= argc)
                return usage_error(cmd, usage, "missing value for", a);
            inline_val = argv[++i];
        }
        *o->value = inline_val;
    }
    *ret_npos = npos;
    return 0;
}

const char *sk_cli_config_path(const char *opt)
{
    if (opt && *opt)
        return opt;
    const char *env = getenv("SKED_CONFIG");
    if (env && *env)
        return env;
    return "sked.yaml";
}
