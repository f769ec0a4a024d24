/*
 * libFuzzer target for the configuration loader: any bytes go through
 * libyaml, the node tree and every check. A load either succeeds with no
 * error added, or fails with at least one error, each at a place inside the
 * text; either way nothing leaks and printing the errors works.
 */
#include "../../src/config/config_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sk_tz_cache_t *tzc;
    sk_config_t *cfg = NULL;
    sk_errs_t errs;

    if (!tzc)
        tzc = sk_tz_cache_new(NULL); /* zones stay loaded across inputs */
    size_t lines = 1;                /* counted as libyaml counts them */
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        size_t br = sk_config__line_break(p, end);
        p += br ? br : 1;
        lines += br > 0;
    }
    sk_errs_init(&errs);
    /* A folder that does not exist: relative paths in the input resolve to nothing. */
    int r = sk_config_load_text("/nonexistent-sked-fuzz/sked.yaml", (const char *)data, size, tzc,
                                &cfg, &errs);
    if (r == 0) {
        if (errs.n || !cfg || cfg->refs != 1)
            sk_panic("fuzz_config: loaded, but with %zu errors", errs.n);
        for (size_t i = 0; i < cfg->njobs; i++) {
            const sk_job_cfg_t *j = &cfg->jobs[i];
            if (!j->name || !j->tz || sk_config_job(cfg, j->name) == NULL)
                sk_panic("fuzz_config: job %zu is half-built", i);
        }
        sk_config_unref(cfg);
    } else {
        if (r != SK_ECONFIG || cfg || errs.n == 0)
            sk_panic("fuzz_config: failed with %d and %zu errors", r, errs.n);
        for (size_t i = 0; i < errs.n; i++) {
            const sk_err_t *e = &errs.items[i];
            if (e->line < 0 || (size_t)e->line > lines + 1 || e->col < 0)
                sk_panic("fuzz_config: error at %d:%d outside the text: %s", e->line, e->col,
                         e->msg);
        }
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            sk_errs_print(&errs, devnull);
            fclose(devnull);
        }
    }
    sk_errs_release(&errs);
    return 0;
}
