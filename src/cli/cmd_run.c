/* `sked run [-c FILE] [--node NAME]`: the daemon in the foreground (src/daemon/). */
#include "cli_daemon.h"
#include "../config/config.h"
#include "../daemon/daemon.h"

#define RUN_USAGE "sked run [-c FILE] [--node NAME]"

static const char run_help[] =
    "usage: " RUN_USAGE "\n"
    "\n"
    "Runs the daemon in the foreground until SIGTERM or SIGINT; SIGHUP reloads the file.\n"
    "\n"
    "  -c, --config FILE  the configuration (default $SKED_CONFIG, then ./sked.yaml)\n"
    "  --node NAME        this node's name, when several nodes share one PostgreSQL store:\n"
    "                     1-64 letters, digits, '_', '.' or '-' (default $SKED_NODE, then\n"
    "                     the host name up to its first '.')\n"
    "  -h, --help         this text\n";

int sk_cmd_run(int argc, char **argv)
{
    const char *config = NULL, *node = NULL, *help = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {
        {"--config", 'c', true, &config},
        {"--node", 0, true, &node},
        {"--help", 'h', false, &help},
    };
    if (sk_cli_parse("run", RUN_USAGE, argc, argv, opts, SK_ARRAY_LEN(opts), pos, 0, &npos) < 0)
        return SK_EXIT_USAGE;
    if (help) {
        fputs(run_help, stdout);
        return SK_EXIT_OK;
    }
    /* A bad --node or $SKED_NODE is a usage error, found before anything starts. */
    char name[SK_NODE_NAME_MAX + 1];
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_node_name(node, name, sizeof(name), &err) < 0) {
        if (node)
            fprintf(stderr, "sked: run: %s\nusage: %s\n", err.msg, RUN_USAGE);
        else
            fprintf(stderr, "sked: run: %s\n", err.msg);
        return SK_EXIT_USAGE;
    }
    return sk_daemon_main(sk_cli_config_path(config), node);
}
