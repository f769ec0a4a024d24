/*
 * sked's entry point: command dispatch only. Each command lives in
 * src/cli/cmd_<verb>.c and returns the exit status.
 */
#include "cli/cli_daemon.h"

static const char usage[] =
    "usage: sked <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  run      [-c FILE] [--node NAME] run the daemon in the foreground\n"
    "  validate [-c FILE]               check a configuration file; print every error\n"
    "  list     [-c FILE] [--json]      jobs, triggers, next run, last outcome\n"
    "  next     JOB [-n N]              the next N fire instants of a job\n"
    "  trigger  JOB [-p KEY=VALUE]...   run a job now, through the running daemon\n"
    "  exec     JOB                     run a job once and wait (through the daemon if up)\n"
    "  history  [JOB] [--json] [-n N]   past runs, newest first\n"
    "  logs     JOB [--run ID] [-f]     a run's output\n"
    "  status   [--json]                the daemon: up, jobs, running, next due\n"
    "  retry    RUN_ID                  run a finished run again (a workflow from its failed "
    "steps)\n"
    "  cancel   RUN_ID                  stop a queued or running run (a workflow: all its steps)\n"
    "  pause    JOB                     stop firing a job on its schedule (kept across restarts)\n"
    "  resume   JOB                     fire it again (the fires it missed are not caught up)\n"
    "  reload                           re-read the configuration (as SIGHUP does)\n"
    "  show     JOB                     a job's definition; a workflow's step graph\n"
    "  alerts test JOB                  send a sample alert through each of a job's channels\n"
    "  cron next EXPR [--tz ZONE] [--from ISO8601] [--count N] [--name NAME]\n"
    "                                   the next fire instants of a cron expression\n"
    "  cron explain EXPR                a cron expression in plain English\n"
    "  version                          sked's version\n"
    "\n"
    "Commands that read the configuration take -c FILE; it defaults to $SKED_CONFIG,\n"
    "then ./sked.yaml. With several nodes on one store, a node's name is --node NAME,\n"
    "else $SKED_NODE, else the host name (up to its first '.').\n";

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} command_t;

static const command_t commands[] = {
    {"run", sk_cmd_run},         {"validate", sk_cmd_validate}, {"list", sk_cmd_list},
    {"next", sk_cmd_next},       {"trigger", sk_cmd_trigger},   {"exec", sk_cmd_exec},
    {"history", sk_cmd_history}, {"logs", sk_cmd_logs},         {"status", sk_cmd_status},
    {"retry", sk_cmd_retry},     {"show", sk_cmd_show},         {"cancel", sk_cmd_cancel},
    {"pause", sk_cmd_pause},     {"resume", sk_cmd_resume},     {"reload", sk_cmd_reload},
    {"alerts", sk_cmd_alerts},   {"cron", sk_cmd_cron},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return SK_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < SK_ARRAY_LEN(commands); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
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
