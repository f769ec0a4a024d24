/*
 * sked's entry point: command dispatch only. Each command lives in
 * src/cli/cmd_<verb>.c and returns the exit status.
 */
#include "cli/cli.h"

static const char usage[] =
    "usage: sked <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  cron next EXPR [--tz ZONE] [--from ISO8601] [--count N] [--name NAME]\n"
    "                          print the next fire instants of a cron expression\n"
    "  cron explain EXPR       say when a cron expression fires, in English\n"
    "  validate [-c FILE]      check a configuration file; print every error with its place\n"
    "  version                 print sked's version\n"
    "  help                    print this help\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return SK_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "cron") == 0)
        return sk_cmd_cron(argc - 2, argv + 2);
    if (strcmp(cmd, "validate") == 0)
        return sk_cmd_validate(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        return SK_EXIT_OK;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("sked %s\n", SK_VERSION);
        return SK_EXIT_OK;
    }
    fprintf(stderr, "sked: unknown command \"%s\"\n%s", cmd, usage);
    return SK_EXIT_USAGE;
}
