/*
 * libFuzzer target for the TZif reader: parses arbitrary bytes as a zone
 * file and, when they parse, queries spans, offsets, civil time and the
 * local-to-UTC mapping at a few instants. Beyond "no crash, no hang" it
 * checks what every zone must satisfy: a span contains the instant asked
 * about, and an instant found for a local time shows that local time.
 */
#include "../../src/tz/tz.h"

static void check_span(const sk_tz_t *tz, int64_t t)
{
    sk_tz_span_t s;
    sk_tz_span_at(tz, t, &s);
    if (!(s.start <= t && t < s.end))
        sk_panic("fuzz_tz: span [%" PRId64 ", %" PRId64 ") does not contain %" PRId64, s.start,
                 s.end, t);
    if (s.utoff < -93600 || s.utoff > 93600 || !s.abbr)
        sk_panic("fuzz_tz: span at %" PRId64 " has offset %" PRId32, t, s.utoff);
    if (sk_tz_offset_at(tz, t) != s.utoff)
        sk_panic("fuzz_tz: offset_at and span_at disagree at %" PRId64, t);

    sk_civil_t c;
    int32_t off;
    sk_tz_to_civil(tz, t, &c, &off);
    int64_t local = t + off, u;
    static const sk_tz_policy_t policies[] = {SK_TZ_EARLIER, SK_TZ_LATER, SK_TZ_STRICT};
    for (size_t i = 0; i < SK_ARRAY_LEN(policies); i++) {
        int n = sk_tz_from_local(tz, local, policies[i], &u);
        if (n > 0 && u + sk_tz_offset_at(tz, u) != local)
            sk_panic("fuzz_tz: local %" PRId64 " maps to %" PRId64 ", which shows %" PRId64, local,
                     u, u + sk_tz_offset_at(tz, u));
        /* Also a local time an hour and a half away, likely across a change. */
        sk_tz_from_local(tz, local + 5400, policies[i], &u);
    }
    char iso[64];
    sk_tz_format_iso(tz, t, iso, sizeof(iso));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sk_tz_t *tz = NULL;
    sk_err_t err;

    if (sk_tz_parse("Fuzz/Zone", data, size, &tz, &err) < 0) {
        if (err.code != SK_EBADZONE)
            sk_panic("fuzz_tz: unexpected error code %d", err.code);
        return 0;
    }
    if (!sk_streq(sk_tz_name(tz), "Fuzz/Zone"))
        sk_panic("fuzz_tz: zone lost its name");
    /* 1900, 1970, the 2026 DST changes, 2100, 9999; then instants taken
     * from the last bytes of the input, within about 35,000 years of 1970. */
    int64_t ts[12] = {-2208988800, 0,          1772953199, 1772953200,
                      1793512799,  1793512800, 4102444800, 253402300799};
    size_t n = 8;
    for (size_t k = 0; k < 4 && size >= 8 * (k + 1); k++) {
        uint64_t v = 0;
        for (size_t i = 0; i < 8; i++)
            v = v << 8 | data[size - 8 * (k + 1) + i];
        ts[n++] = (int64_t)(v % (1ULL << 41)) - (1LL << 40);
    }
    for (size_t i = 0; i < n; i++)
        check_span(tz, ts[i]);
    sk_tz_free(tz);
    return 0;
}
