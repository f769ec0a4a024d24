/*
 * The command line: one entry point per command (src/cli/cmd_<verb>.c) and
 * the small argument-parsing helpers they share. Commands print their own
 * results and errors and return the process exit status: 0 success, 1 a user
 * error (bad input, unknown job), 2 a usage error.
 */
#ifndef SK_CLI_H
#define SK_CLI_H

#include "../common/common.h"

enum { SK_EXIT_OK = 0, SK_EXIT_USER = 1, SK_EXIT_USAGE = 2 };

/* An option spec: "--tz" takes a value when has_arg. */
typedef struct sk_cli_opt {
    const char *long_name; /* "--tz" */
    char short_name;       /* 'n', or 0 */
    bool has_arg;
    const char **value; /* where the value (or "1" for flags) goes */
} sk_cli_opt_t;

/*
 * Splits argv (after the command words) into options and positionals.
 * Accepts "--opt value", "--opt=value", "-o value" and "--" to end options.
 * Positionals are stored in order in ret_pos (up to max_pos). On a usage
 * error prints "sked: <cmd>: <what>" and the usage line and returns -1.
 */
int sk_cli_parse(const char *cmd, const char *usage, int argc, char **argv,
                 const sk_cli_opt_t *opts, size_t nopts, const char **ret_pos, size_t max_pos,
                 size_t *ret_npos);

/* Prints "sked: <fmt>" and a newline to stderr. */
void sk_cli_error(const char *fmt, ...) SK_PRINTF(1, 2);

/* Prints a located error: "sked: <prefix>: <msg> (column N)". */
void sk_cli_print_err(const char *prefix, const sk_err_t *err);

/*
 * The configuration file a command uses: opt (from -c FILE) when given,
 * else $SKED_CONFIG when set and not empty, else "sked.yaml" in the current
 * folder. Returns opt, the environment's string or a literal: borrowed.
 */
const char *sk_cli_config_path(const char *opt);

int sk_cmd_cron(int argc, char **argv);
int sk_cmd_validate(int argc, char **argv);

#endif
