/*
 * `sked cron next EXPR [--tz ZONE] [--from ISO] [--count N] [--name NAME]`
 * and `sked cron explain EXPR [--name NAME]`: the time engine on the command
 * line, for checking an expression before putting it in sked.yaml.
 */
#include "cli.h"
#include "../cron/cron.h"

#define NEXT_USAGE "sked cron next EXPR [--tz ZONE] [--from ISO8601] [--count N] [--name NAME]"
#define EXPLAIN_USAGE "sked cron explain EXPR [--name NAME]"
#define CRON_USAGE "sked cron next|explain EXPR [options]"
#define MAX_COUNT 100000

static int parse_count(const char *s, long *ret)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 1 || v > MAX_COUNT)
        return -1;
    *ret = v;
    return 0;
}

static int cron_next(int argc, char **argv)
{
    const char *tz_name = NULL, *from = NULL, *count_s = NULL, *name = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {
        {"--tz", 0, true, &tz_name},
        {"--from", 0, true, &from},
        {"--count", 'n', true, &count_s},
        {"--name", 0, true, &name},
    };
    if (sk_cli_parse("cron next", NEXT_USAGE, argc, argv, opts, SK_ARRAY_LEN(opts), pos, 1, &npos) <
        0)
        return SK_EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "sked: cron next: missing the cron expression\nusage: %s\n", NEXT_USAGE);
        return SK_EXIT_USAGE;
    }
    long count = 5;
    if (count_s && parse_count(count_s, &count) < 0) {
        fprintf(stderr,
                "sked: cron next: --count must be a number from 1 to %d, not \"%s\"\nusage: %s\n",
                MAX_COUNT, count_s, NEXT_USAGE);
        return SK_EXIT_USAGE;
    }

    sk_err_t err;
    sk_err_clear(&err);
    sk_cron_t c;
    if (sk_cron_parse(pos[0], name, &c, &err) < 0) {
        sk_cli_print_err("cron", &err);
        return SK_EXIT_USER;
    }
    if (c.flags & SK_CRON_REBOOT) {
        sk_cli_error("cron: @reboot fires once per boot of the machine, never by the clock");
        return SK_EXIT_USER;
    }

    int status = SK_EXIT_OK;
    sk_tz_cache_t *cache = sk_tz_cache_new(NULL);
    const sk_tz_t *tz;
    if (tz_name && !*tz_name) {
        sk_cli_error("cron: --tz needs a zone name, e.g. Europe/Berlin");
        status = SK_EXIT_USER;
        goto out;
    }
    if (sk_tz_cache_get(cache, tz_name, &tz, &err) < 0) {
        sk_cli_error("cron: %s", err.msg);
        status = SK_EXIT_USER;
        goto out;
    }
    int64_t t;
    if (from) {
        if (sk_tz_parse_iso(tz, from, &t, &err) < 0) {
            sk_cli_error("cron: --from: %s", err.msg);
            status = SK_EXIT_USER;
            goto out;
        }
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = ts.tv_sec;
    }
    for (long i = 0; i < count; i++) {
        int64_t next;
        if (sk_cron_next(&c, tz, t, &next) < 0) {
            if (i == 0) {
                sk_cli_error("cron: no fire time after that instant before the year 10000");
                status = SK_EXIT_USER;
            }
            break;
        }
        char iso[64];
        sk_tz_format_iso(tz, next, iso, sizeof(iso));
        puts(iso);
        t = next;
    }
out:
    sk_tz_cache_free(cache);
    if (fflush(stdout) != 0 && status == SK_EXIT_OK) {
        sk_cli_error("cron: cannot write output: %s", strerror(errno));
        status = SK_EXIT_USER;
    }
    return status;
}

static int cron_explain(int argc, char **argv)
{
    const char *name = NULL;
    const char *pos[1];
    size_t npos;
    sk_cli_opt_t opts[] = {{"--name", 0, true, &name}};
    if (sk_cli_parse("cron explain", EXPLAIN_USAGE, argc, argv, opts, SK_ARRAY_LEN(opts), pos, 1,
                     &npos) < 0)
        return SK_EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "sked: cron explain: missing the cron expression\nusage: %s\n",
                EXPLAIN_USAGE);
        return SK_EXIT_USAGE;
    }
    sk_err_t err;
    sk_err_clear(&err);
    sk_cron_t c;
    if (sk_cron_parse(pos[0], name, &c, &err) < 0) {
        sk_cli_print_err("cron", &err);
        return SK_EXIT_USER;
    }
    char text[1024];
    sk_cron_explain(&c, text, sizeof(text));
    puts(text);
    return SK_EXIT_OK;
}

int sk_cmd_cron(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "sked: cron: missing subcommand\nusage: %s\n", CRON_USAGE);
        return SK_EXIT_USAGE;
    }
    if (strcmp(argv[0], "next") == 0)
        return cron_next(argc - 1, argv + 1);
    if (strcmp(argv[0], "explain") == 0)
        return cron_explain(argc - 1, argv + 1);
    fprintf(stderr, "sked: cron: unknown subcommand \"%s\"\nusage: %s\n", argv[0], CRON_USAGE);
    return SK_EXIT_USAGE;
}
