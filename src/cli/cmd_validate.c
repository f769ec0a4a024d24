/*
 * `sked validate [-c FILE]`: loads the configuration exactly as the daemon
 * would, then runs the daemon's start-up checks on what it names here
 * (sk_config_preflight: state folder, store folder, control socket path,
 * token files and the environment's tokens, listen address), and reports
 * every problem as FILE:LINE:COL with the source line and a caret, as
 * `sked run` does, or says it is fine and how many jobs it defines. Nothing
 * is started and no state is touched.
 */
#include "cli.h"
#include "../config/config.h"
#include "../daemon/daemon.h"

#define VALIDATE_USAGE "sked validate [-c FILE]"

int sk_cmd_validate(int argc, char **argv)
{
    const char *config = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {
        {"--config", 'c', true, &config},
    };
    if (sk_cli_parse("validate", VALIDATE_USAGE, argc, argv, opts, SK_ARRAY_LEN(opts), pos, 0,
                     &npos) < 0)
        return SK_EXIT_USAGE;
    if (config && !*config) {
        fprintf(stderr, "sked: validate: -c needs a file name\nusage: %s\n", VALIDATE_USAGE);
        return SK_EXIT_USAGE;
    }

    const char *path = sk_cli_config_path(config);
    int status = SK_EXIT_OK;
    sk_tz_cache_t *tzc = sk_tz_cache_new(NULL);
    sk_config_t *cfg = NULL;
    sk_errs_t errs;
    sk_errs_init(&errs);
    if (sk_config_load(path, tzc, &cfg, &errs) < 0 ||
        sk_config_preflight(cfg, path, SK_SOCKET_NAME, &errs) < 0) {
        if (errs.n == 0)
            sk_cli_error("%s: %s", path, sk_strerror(SK_ECONFIG));
        sk_errs_print(&errs, stderr);
        status = SK_EXIT_USER;
        goto out;
    }
    printf("%s: ok (%zu job%s)\n", path, cfg->njobs, cfg->njobs == 1 ? "" : "s");
out:
    sk_errs_release(&errs);
    sk_config_unref(cfg);
    sk_tz_cache_free(tzc);
    return status;
}
