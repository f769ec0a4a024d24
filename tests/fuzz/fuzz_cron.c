/*
 * libFuzzer target for the cron engine: parses the input as an expression
 * and, when it parses, checks the round trip (format, re-parse, equal),
 * that it fires at all (never firing is a parse error), explains it, and
 * walks a few fire instants in UTC and in a zone with daylight saving,
 * requiring each to be strictly later than the last, to match the
 * expression (UTC, and wild expressions anywhere) and to be what a search
 * started one second earlier finds again.
 */
#include "../../src/cron/cron_int.h"

#define MAX_EXPR 512

static const sk_tz_t *dst_zone(void)
{
    static sk_tz_cache_t *cache;
    static const sk_tz_t *zone;
    if (!cache) {
        sk_err_t err;
        cache = sk_tz_cache_new(NULL);
        if (sk_tz_cache_get(cache, "America/New_York", &zone, &err) < 0)
            sk_panic("fuzz_cron: cannot load America/New_York: %s", err.msg);
    }
    return zone;
}

/* c fires at the wall-clock time t shows in tz. */
static bool matches(const sk_cron_t *c, const sk_tz_t *tz, int64_t t)
{
    sk_civil_t v;
    sk_tz_to_civil(tz, t, &v, NULL);
    return (c->sec >> v.sec & 1) && (c->min >> v.min & 1) && (c->hour >> v.hour & 1) &&
           (c->mon >> v.month & 1) && (sk_cron__day_mask(c, v.year, v.month) >> v.day & 1);
}

static void walk(const sk_cron_t *c, const sk_tz_t *tz, int64_t t, const char *expr)
{
    bool check_match = tz == sk_tz_utc() || (c->flags & SK_CRON_WILD);
    for (int i = 0; i < 4; i++) {
        int64_t next, again;
        if (sk_cron_next(c, tz, t, &next) < 0)
            return;
        if (next <= t)
            sk_panic("fuzz_cron: \"%s\" in %s: next after %" PRId64 " is %" PRId64, expr,
                     sk_tz_name(tz), t, next);
        if (check_match && !matches(c, tz, next))
            sk_panic("fuzz_cron: \"%s\" in %s: %" PRId64 " does not match", expr, sk_tz_name(tz),
                     next);
        if (next - 1 > t && (sk_cron_next(c, tz, next - 1, &again) < 0 || again != next))
            sk_panic("fuzz_cron: \"%s\" in %s: next after %" PRId64 " is %" PRId64
                     ", but after %" PRId64 " it was %" PRId64,
                     expr, sk_tz_name(tz), next - 1, again, t, next);
        t = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char expr[MAX_EXPR + 1], text[1024], again_text[1024];
    sk_cron_t c, again;
    sk_err_t err;

    if (size > MAX_EXPR)
        return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';
    /* The job's name seeds H: take one of a few, chosen by the input. */
    static const char *const names[] = {"fuzz-job", "", "backup", "nightly-etl"};
    uint32_t h = sk_fnv32(SK_FNV32_INIT, data, size);
    if (sk_cron_parse(expr, names[h % SK_ARRAY_LEN(names)], &c, &err) < 0) {
        if (err.code != SK_EPARSE && err.code != SK_ERANGE && err.code != SK_ENEVER)
            sk_panic("fuzz_cron: \"%s\": unexpected error code %d", expr, err.code);
        return 0;
    }

    sk_cron_format(&c, text, sizeof(text));
    if (sk_cron_parse(text, "another-name", &again, &err) < 0)
        sk_panic("fuzz_cron: \"%s\" formats as \"%s\", which fails: %s", expr, text, err.msg);
    if (!sk_cron_equal(&c, &again)) {
        sk_cron_format(&again, again_text, sizeof(again_text));
        sk_panic("fuzz_cron: \"%s\" formats as \"%s\", which parses to \"%s\"", expr, text,
                 again_text);
    }
    /* Never firing is a parse error: what parses fires within 400 years. */
    int64_t first;
    if (!(c.flags & SK_CRON_REBOOT) && sk_cron_next(&c, sk_tz_utc(), 1767225600, &first) < 0)
        sk_panic("fuzz_cron: \"%s\" parses but never fires", expr);
    sk_cron_explain(&c, text, sizeof(text));
    if (strlen(text) == 0)
        sk_panic("fuzz_cron: \"%s\": empty explanation", expr);

    /* Starts: ordinary, an hour before a spring gap and an autumn fold in New
     * York, near the end of the searchable range, and one from the input. */
    const int64_t starts[] = {
        1767225600,   /* 2026-01-01T00:00:00Z */
        1772949600,   /* 2026-03-08T06:00:00Z, 01:00 EST */
        1793505600,   /* 2026-11-01T04:00:00Z, 00:00 EDT */
        253402214400, /* 9999-12-31T00:00:00Z */
        -2208988800 + (int64_t)(((uint64_t)h * 6311390400u) >> 32), /* 1900 to 2100 */
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(starts); i++) {
        walk(&c, sk_tz_utc(), starts[i], expr);
        walk(&c, dst_zone(), starts[i], expr);
    }
    return 0;
}
