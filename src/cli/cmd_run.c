/* `sked run [-c FILE]`: the daemon in the foreground (src/daemon/). */
#include "cli_daemon.h"
#include "../daemon/daemon.h"

#define RUN_USAGE "sked run [-c FILE]"

int sk_cmd_run(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--config", 'c', true, &config}};
    if (sk_cli_parse("run", RUN_USAGE, argc, argv, opts, 1, pos, 0, &npos) < 0)
        return SK_EXIT_USAGE;
    return sk_daemon_main(sk_cli_config_path(config));
}
