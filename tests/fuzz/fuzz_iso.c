/*
 * libFuzzer target for ISO-8601 instants: parses the input in UTC and in a
 * zone with daylight saving (loaded once), and when it parses, requires the
 * instant's formatted text to parse back to the same instant.
 */
#include "../../src/tz/tz.h"

#define MAX_TEXT 128

static const sk_tz_t *zone(int i)
{
    static sk_tz_cache_t *cache;
    static const sk_tz_t *zones[3];
    static const char *const names[] = {"America/New_York", "Australia/Lord_Howe",
                                        "America/St_Johns"};
    if (!cache) {
        sk_err_t err;
        cache = sk_tz_cache_new(NULL);
        for (int k = 0; k < 3; k++)
            if (sk_tz_cache_get(cache, names[k], &zones[k], &err) < 0)
                sk_panic("fuzz_iso: cannot load %s: %s", names[k], err.msg);
    }
    return i < 3 ? zones[i] : sk_tz_utc();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[MAX_TEXT + 1], out[64];
    sk_err_t err;

    if (size > MAX_TEXT)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (int i = 0; i < 4; i++) {
        const sk_tz_t *tz = zone(i);
        int64_t t, again;
        if (sk_tz_parse_iso(tz, text, &t, &err) < 0) {
            if (err.code != SK_EPARSE && err.code != SK_ERANGE)
                sk_panic("fuzz_iso: \"%s\": unexpected error code %d", text, err.code);
            continue;
        }
        sk_tz_format_iso(tz, t, out, sizeof(out));
        if (sk_tz_parse_iso(tz, out, &again, &err) < 0) {
            /* An explicit offset can move the instant out of the zone's
             * years 0000-9999, which ISO's four-digit years cannot write. */
            if (out[0] == '-' || out[4] != '-')
                continue;
            sk_panic("fuzz_iso: \"%s\" in %s formats as \"%s\", which fails: %s", text,
                     sk_tz_name(tz), out, err.msg);
        }
        if (again != t)
            sk_panic("fuzz_iso: \"%s\" in %s is %" PRId64 ", formats as \"%s\" = %" PRId64, text,
                     sk_tz_name(tz), t, out, again);
    }
    return 0;
}
