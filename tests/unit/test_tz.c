/*
 * Time zones (src/tz): civil day arithmetic, the TZif reader on good, bad and
 * truncated data, POSIX TZ rules, the zone cache and its name checks, offsets
 * and spans around daylight-saving changes (and far past the TZif table,
 * where the footer rule decides), local -> UTC with each gap/fold policy, and
 * ISO-8601 parsing and formatting. Expected values were worked out by hand
 * and checked with Python's zoneinfo and glibc's `TZ=... date`.
 */
#include "tz/tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Tests may change TZ to exercise the system zone; src/ may not. */
#undef setenv
#undef unsetenv

/* Table rows report every mismatch, then the test fails once at its end. */
#define ROW_FAIL(nfail, ...) (print_error(__VA_ARGS__), print_error("\n"), (nfail)++)

#define ZONEINFO "/usr/share/zoneinfo"

/* ---- helpers independent of the code under test ---- */

/* Days from 1970-01-01, by counting (slow and obviously right). */
static int64_t naive_days(int64_t y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t days = 0;
    for (int64_t k = 1970; k < y; k++)
        days += ((k % 4 == 0 && k % 100 != 0) || k % 400 == 0) ? 366 : 365;
    for (int64_t k = y; k < 1970; k++)
        days -= ((k % 4 == 0 && k % 100 != 0) || k % 400 == 0) ? 366 : 365;
    for (int k = 1; k < m; k++)
        days += mdays[k - 1] + (k == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return days + d - 1;
}

/* "YYYY-MM-DDTHH:MM:SS[Z]" as seconds (UTC instant, or local seconds). */
static int64_t secs(const char *s)
{
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &se) != 6)
        fail_msg("bad test time \"%s\"", s);
    return naive_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
}

/* An instant as UTC text, for messages. */
static const char *utc_text(int64_t t, char *buf, size_t size)
{
    if (t == INT64_MIN)
        return "-inf";
    if (t == INT64_MAX)
        return "+inf";
    sk_tz_format_iso(sk_tz_utc(), t, buf, size);
    return buf;
}

static int setup(void **state)
{
    *state = sk_tz_cache_new(ZONEINFO);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    sk_tz_cache_free(*state);
    return 0;
}

static const sk_tz_t *cached_zone(void *cache, const char *name)
{
    const sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_tz_cache_get(cache, name, &tz, &err) != 0)
        fail_msg("cannot load %s: %s", name, err.msg);
    return tz;
}

static const sk_tz_t *zone(void **state, const char *name)
{
    return cached_zone(*state, name);
}

/* ---- civil arithmetic ---- */

static void test_civil_known_days(void **state)
{
    (void)state;
    static const struct {
        int64_t y;
        int m, d;
        int64_t days;
        int wday;
    } rows[] = {
        {1970, 1, 1, 0, 4}, /* Thursday */
        {1969, 12, 31, -1, 3},      {2000, 1, 1, 10957, 6},  {2000, 2, 29, 11016, 2},
        {2000, 3, 1, 11017, 3},     {1900, 1, 1, -25567, 1}, {1900, 2, 28, -25509, 3},
        {1900, 3, 1, -25508, 4},    {2024, 2, 29, 19782, 4}, {2026, 3, 8, 20520, 0},
        {1600, 3, 1, -135080, 3},   {1, 1, 1, -719162, 1},   {0, 3, 1, -719468, 3},
        {9999, 12, 31, 2932896, 5}, {-1, 1, 1, -719893, 5},
    };
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        int64_t days = sk_civil_days_from_date(rows[i].y, rows[i].m, rows[i].d);
        int wd = sk_civil_weekday(days);
        int64_t y;
        int m, d;
        sk_civil_date_from_days(rows[i].days, &y, &m, &d);
        if (days != rows[i].days || wd != rows[i].wday || y != rows[i].y || m != rows[i].m ||
            d != rows[i].d)
            ROW_FAIL(nfail,
                     "%" PRId64 "-%02d-%02d: days %" PRId64 " wday %d, back %" PRId64 "-%02d-%02d",
                     rows[i].y, rows[i].m, rows[i].d, days, wd, y, m, d);
    }
    assert_int_equal(nfail, 0);
}

/* Every day over ±2,000,000 days (about ±5,500 years) maps to a date and
 * back, consecutive days are consecutive dates, and the weekday advances. */
static void test_civil_round_trip_wide_range(void **state)
{
    (void)state;
    int64_t y0;
    int m0, d0;
    sk_civil_date_from_days(-2000001, &y0, &m0, &d0);
    int wd0 = sk_civil_weekday(-2000001);
    int nfail = 0;
    for (int64_t days = -2000000; days <= 2000000 && nfail < 5; days++) {
        int64_t y;
        int m, d;
        sk_civil_date_from_days(days, &y, &m, &d);
        bool next = (y == y0 && m == m0 && d == d0 + 1) ||
                    (y == y0 && m == m0 + 1 && d == 1 && d0 == sk_civil_days_in_month(y0, m0)) ||
                    (y == y0 + 1 && m == 1 && d == 1 && m0 == 12 && d0 == 31);
        int wd = sk_civil_weekday(days);
        if (!next || sk_civil_days_from_date(y, m, d) != days || wd != (wd0 + 1) % 7)
            ROW_FAIL(nfail,
                     "day %" PRId64 ": %" PRId64 "-%02d-%02d after %" PRId64 "-%02d-%02d, wday %d",
                     days, y, m, d, y0, m0, d0, wd);
        y0 = y, m0 = m, d0 = d, wd0 = wd;
    }
    /* And against plain counting, over years around the interesting ones. */
    static const int64_t years[] = {1583, 1600, 1699, 1700, 1899, 1900, 1901, 1969,
                                    1970, 1999, 2000, 2023, 2024, 2038, 2100, 2400};
    for (size_t i = 0; i < SK_ARRAY_LEN(years); i++)
        for (int m = 1; m <= 12; m++)
            if (sk_civil_days_from_date(years[i], m, 15) != naive_days(years[i], m, 15))
                ROW_FAIL(nfail, "%" PRId64 "-%02d-15 differs from counting", years[i], m);
    assert_int_equal(nfail, 0);
}

static void test_civil_leap_years(void **state)
{
    (void)state;
    static const struct {
        int64_t y;
        bool leap;
    } rows[] = {{1900, false}, {2000, true}, {2024, true},  {2023, false}, {2100, false},
                {2400, true},  {1600, true}, {1700, false}, {0, true},     {-4, true},
                {-100, false}, {-400, true}, {1, false},    {2028, true},  {2200, false}};
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        if (sk_civil_is_leap(rows[i].y) != rows[i].leap)
            fail_msg("%" PRId64 " leap=%d", rows[i].y, !rows[i].leap);
        assert_int_equal(sk_civil_days_in_month(rows[i].y, 2), rows[i].leap ? 29 : 28);
    }
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++)
        assert_int_equal(sk_civil_days_in_month(2026, m), len[m - 1]);
    /* Feb 29 of a leap year is followed by Mar 1; 1900 has no Feb 29. */
    assert_true(sk_civil_days_from_date(2024, 3, 1) - sk_civil_days_from_date(2024, 2, 28) == 2);
    assert_true(sk_civil_days_from_date(1900, 3, 1) - sk_civil_days_from_date(1900, 2, 28) == 1);
    assert_true(sk_civil_days_from_date(2000, 3, 1) - sk_civil_days_from_date(2000, 2, 28) == 2);
}

static void test_civil_seconds(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        int64_t y;
        int mo, d, h, mi, s, wday;
    } rows[] = {
        {0, 1970, 1, 1, 0, 0, 0, 4},
        {-1, 1969, 12, 31, 23, 59, 59, 3},
        {-86400, 1969, 12, 31, 0, 0, 0, 3},
        {-86401, 1969, 12, 30, 23, 59, 59, 2},
        {951782400, 2000, 2, 29, 0, 0, 0, 2},
        {1772940600, 2026, 3, 8, 3, 30, 0, 0},
        {2147483647, 2038, 1, 19, 3, 14, 7, 2},
        {253402300799, 9999, 12, 31, 23, 59, 59, 5},
        {-62135596800, 1, 1, 1, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        sk_civil_t c;
        sk_civil_from_seconds(rows[i].t, &c);
        if (c.year != rows[i].y || c.month != rows[i].mo || c.day != rows[i].d ||
            c.hour != rows[i].h || c.min != rows[i].mi || c.sec != rows[i].s ||
            c.wday != rows[i].wday)
            fail_msg("%" PRId64 ": %" PRId64 "-%02d-%02d %02d:%02d:%02d wday %d", rows[i].t, c.year,
                     c.month, c.day, c.hour, c.min, c.sec, c.wday);
        assert_true(sk_civil_to_seconds(&c) == rows[i].t);
    }
}

/* ---- TZif parsing ---- */

typedef struct {
    unsigned char b[8192];
    size_t n;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    SK_ASSERT(b->n + n <= sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put32(buf_t *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 4);
}

static void put64(buf_t *b, int64_t v)
{
    put32(b, (uint32_t)((uint64_t)v >> 32));
    put32(b, (uint32_t)v);
}

typedef struct {
    int32_t utoff;
    uint8_t isdst, abbr;
} ttype_t;

/* A synthetic zone description, written out as TZif by build(). */
typedef struct {
    char version; /* 0 (v1), '2', '3' */
    size_t ntimes;
    int64_t times[8];
    uint8_t idx[8];
    size_t ntypes;
    ttype_t types[4];
    const char *abbrs; /* NUL-separated */
    size_t charcnt;
    const char *footer; /* without the newlines; NULL: none */
    uint32_t isutcnt, leapcnt;
} zspec_t;

static void build_block(buf_t *b, const zspec_t *z, bool wide)
{
    put(b, "TZif", 4);
    put(b, &z->version, 1);
    put(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
    put32(b, z->isutcnt); /* isutcnt */
    put32(b, z->isutcnt); /* isstdcnt */
    put32(b, z->leapcnt); /* leapcnt */
    put32(b, (uint32_t)z->ntimes);
    put32(b, (uint32_t)z->ntypes);
    put32(b, (uint32_t)z->charcnt);
    for (size_t i = 0; i < z->ntimes; i++) {
        if (wide)
            put64(b, z->times[i]);
        else
            put32(b, (uint32_t)(int32_t)z->times[i]);
    }
    put(b, z->idx, z->ntimes);
    for (size_t i = 0; i < z->ntypes; i++) {
        put32(b, (uint32_t)z->types[i].utoff);
        put(b, &z->types[i].isdst, 1);
        put(b, &z->types[i].abbr, 1);
    }
    put(b, z->abbrs, z->charcnt);
    for (uint32_t i = 0; i < z->leapcnt; i++) {
        if (wide)
            put64(b, 78796800 + i);
        else
            put32(b, 78796800 + i);
        put32(b, i + 1);
    }
    for (uint32_t i = 0; i < 2 * z->isutcnt; i++)
        put(b, "\0", 1);
}

static void build(buf_t *b, const zspec_t *z)
{
    b->n = 0;
    build_block(b, z, false);
    if (z->version) {
        build_block(b, z, true);
        if (z->footer) {
            put(b, "\n", 1);
            put(b, z->footer, strlen(z->footer));
            put(b, "\n", 1);
        }
    }
}

/* EST/EDT with two transitions in 2026 and the US rule after them. */
static zspec_t ny_spec(void)
{
    zspec_t z = {
        .version = '2',
        .ntimes = 2,
        .times = {1772953200, 1793512800}, /* 2026-03-08T07:00Z, 2026-11-01T06:00Z */
        .idx = {1, 0},
        .ntypes = 2,
        .types = {{-18000, 0, 0}, {-14400, 1, 4}},
        .abbrs = "EST\0EDT",
        .charcnt = 8,
        .footer = "EST5EDT,M3.2.0,M11.1.0",
    };
    return z;
}

static void test_tzif_synthetic_v2(void **state)
{
    (void)state;
    zspec_t z = ny_spec();
    buf_t b;
    build(&b, &z);
    sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_tz_parse("Test/NY", b.b, b.n, &tz, &err), 0);
    assert_string_equal(sk_tz_name(tz), "Test/NY");
    sk_tz_span_t sp;
    /* Before the first transition: type 0, unbounded start. */
    sk_tz_span_at(tz, secs("2026-01-01T00:00:00"), &sp);
    assert_int_equal(sp.utoff, -18000);
    assert_false(sp.isdst);
    assert_string_equal(sp.abbr, "EST");
    assert_true(sp.start == INT64_MIN && sp.end == 1772953200);
    sk_tz_span_at(tz, 1772953200, &sp);
    assert_int_equal(sp.utoff, -14400);
    assert_true(sp.isdst);
    assert_string_equal(sp.abbr, "EDT");
    assert_true(sp.start == 1772953200 && sp.end == 1793512800);
    /* After the last transition the footer rule takes over. */
    sk_tz_span_at(tz, 1793512800, &sp);
    assert_int_equal(sp.utoff, -18000);
    assert_true(sp.start == 1793512800 && sp.end == secs("2027-03-14T07:00:00"));
    assert_int_equal(sk_tz_offset_at(tz, secs("2030-07-01T00:00:00")), -14400);
    sk_tz_free(tz);

    /* Version 3, with leap-second records and UT/std indicators to skip. */
    z.version = '3';
    z.leapcnt = 2;
    z.isutcnt = 2;
    build(&b, &z);
    assert_int_equal(sk_tz_parse("Test/NY3", b.b, b.n, &tz, &err), 0);
    assert_int_equal(sk_tz_offset_at(tz, 1772953200), -14400);
    assert_int_equal(sk_tz_offset_at(tz, secs("2030-07-01T00:00:00")), -14400);
    sk_tz_free(tz);
}

static void test_tzif_synthetic_v1_and_no_transitions(void **state)
{
    (void)state;
    /* Version 1: no footer, the last type holds forever. */
    zspec_t z = ny_spec();
    z.version = 0;
    buf_t b;
    build(&b, &z);
    sk_tz_t *tz = NULL;
    assert_int_equal(sk_tz_parse("Test/v1", b.b, b.n, &tz, NULL), 0);
    assert_int_equal(sk_tz_offset_at(tz, 1772951999), -18000);
    assert_int_equal(sk_tz_offset_at(tz, 1772953200), -14400);
    assert_int_equal(sk_tz_offset_at(tz, secs("2030-07-01T00:00:00")), -18000);
    sk_tz_span_t sp;
    sk_tz_span_at(tz, secs("2200-07-01T00:00:00"), &sp);
    assert_true(sp.start == 1793512800 && sp.end == INT64_MAX);
    sk_tz_free(tz);

    /* No transitions at all, an empty footer: one type, everywhere. */
    zspec_t c = {.version = '2',
                 .ntypes = 1,
                 .types = {{20700, 0, 0}},
                 .abbrs = "+0545",
                 .charcnt = 6,
                 .footer = ""};
    build(&b, &c);
    assert_int_equal(sk_tz_parse("Test/const", b.b, b.n, &tz, NULL), 0);
    sk_tz_span_at(tz, 0, &sp);
    assert_int_equal(sp.utoff, 20700);
    assert_string_equal(sp.abbr, "+0545");
    assert_true(sp.start == INT64_MIN && sp.end == INT64_MAX);
    int64_t t = 0;
    assert_int_equal(sk_tz_from_local(tz, 20700, SK_TZ_STRICT, &t), 1);
    assert_true(t == 0);
    sk_tz_free(tz);
}

typedef struct {
    const char *what;
    void (*spoil)(zspec_t *z);
} spoil_t;

static void spoil_magic(zspec_t *z)
{
    (void)z; /* the caller spoils the bytes */
}

static void spoil_no_types(zspec_t *z)
{
    z->ntypes = 0;
}

static void spoil_no_chars(zspec_t *z)
{
    z->charcnt = 0;
}

static void spoil_unsorted(zspec_t *z)
{
    z->times[1] = z->times[0] - 1;
}

static void spoil_equal_times(zspec_t *z)
{
    z->times[1] = z->times[0];
}

static void spoil_idx(zspec_t *z)
{
    z->idx[1] = 2;
}

static void spoil_isdst(zspec_t *z)
{
    z->types[1].isdst = 2;
}

static void spoil_abbr_index(zspec_t *z)
{
    z->types[1].abbr = 8;
}

static void spoil_utoff_low(zspec_t *z)
{
    z->types[0].utoff = -90000;
}

static void spoil_utoff_high(zspec_t *z)
{
    z->types[0].utoff = 93600;
}

static void spoil_footer(zspec_t *z)
{
    z->footer = "EST5EDT,M13.2.0,M11.1.0";
}

static void spoil_footer_junk(zspec_t *z)
{
    z->footer = "this is not a rule";
}

static void spoil_footer_long(zspec_t *z)
{
    z->footer = "<AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA>5"
                "<BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB>,M3.2.0,M11.1.0";
}

static const spoil_t spoils[] = {
    {"version byte", spoil_magic},          {"no types", spoil_no_types},
    {"no abbreviations", spoil_no_chars},   {"times out of order", spoil_unsorted},
    {"equal times", spoil_equal_times},     {"type index out of range", spoil_idx},
    {"isdst not 0/1", spoil_isdst},         {"abbreviation index out of range", spoil_abbr_index},
    {"offset below -25h", spoil_utoff_low}, {"offset above 26h", spoil_utoff_high},
    {"bad footer rule", spoil_footer},      {"junk footer", spoil_footer_junk},
    {"footer too long", spoil_footer_long},
};

static void test_tzif_corrupt_fields_fail(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(spoils); i++) {
        zspec_t z = ny_spec();
        spoils[i].spoil(&z);
        buf_t b;
        build(&b, &z);
        if (spoils[i].spoil == spoil_magic)
            b.b[3] = 'X';            /* "TZiX" */
        sk_tz_t *tz = (sk_tz_t *)&b; /* must stay as it is */
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_tz_parse("Bad/Zone", b.b, b.n, &tz, &err);
        if (r != SK_EBADZONE || err.code != SK_EBADZONE || tz != (sk_tz_t *)&b ||
            !strstr(err.msg, "\"Bad/Zone\""))
            ROW_FAIL(nfail, "%s: r=%d msg=%s", spoils[i].what, r, err.msg);
    }
    assert_int_equal(nfail, 0);
}

static void test_tzif_bad_headers_fail(void **state)
{
    (void)state;
    zspec_t z = ny_spec();
    buf_t b;
    build(&b, &z);
    sk_tz_t *tz = NULL;
    /* Empty, short, and not TZif at all. */
    assert_int_equal(sk_tz_parse("x", b.b, 0, &tz, NULL), SK_EBADZONE);
    assert_int_equal(sk_tz_parse("x", b.b, 43, &tz, NULL), SK_EBADZONE);
    assert_int_equal(sk_tz_parse("x", (const unsigned char *)"hello", 5, &tz, NULL), SK_EBADZONE);
    /* A count far beyond the data: the reader must not trust it. */
    buf_t big = b;
    big.b[32] = 0x00, big.b[33] = 0x01, big.b[34] = 0x86, big.b[35] = 0xa0; /* timecnt 100000 */
    assert_int_equal(sk_tz_parse("x", big.b, big.n, &tz, NULL), SK_EBADZONE);
    big = b;
    big.b[32] = 0x7f; /* timecnt ~2^31 */
    assert_int_equal(sk_tz_parse("x", big.b, big.n, &tz, NULL), SK_EBADZONE);
    big = b;
    big.b[36] = 0xff; /* typecnt huge */
    assert_int_equal(sk_tz_parse("x", big.b, big.n, &tz, NULL), SK_EBADZONE);
    big = b;
    big.b[23] = 5; /* isutcnt (5) differs from typecnt (2) */
    assert_int_equal(sk_tz_parse("x", big.b, big.n, &tz, NULL), SK_EBADZONE);
    /* A footer without its closing newline. */
    assert_int_equal(sk_tz_parse("x", b.b, b.n - 1, &tz, NULL), SK_EBADZONE);
    assert_null(tz);
}

static unsigned char *slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    unsigned char *data = sk_xmalloc(1 << 20);
    size_t n = fread(data, 1, 1 << 20, f);
    fclose(f);
    *ret_len = n;
    return data;
}

/* Every prefix of a real file either parses or fails cleanly (run under
 * ASan and valgrind, this also proves no read past the end). */
static void test_tzif_truncated_real_file(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = slurp(ZONEINFO "/America/New_York", &len);
    sk_tz_t *tz = NULL;
    assert_int_equal(sk_tz_parse("America/New_York", data, len, &tz, NULL), 0);
    sk_tz_free(tz);
    size_t ok = 0;
    for (size_t n = 0; n < len; n++) {
        /* A copy of exactly n bytes, so that tools see any overread. */
        unsigned char *cut = sk_xmalloc(n);
        memcpy(cut, data, n);
        tz = NULL;
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_tz_parse("America/New_York", cut, n, &tz, &err);
        if (r == 0) {
            ok++;
            sk_tz_free(tz);
        } else {
            assert_int_equal(r, SK_EBADZONE);
            assert_null(tz);
            assert_non_null(strstr(err.msg, "America/New_York"));
        }
        free(cut);
    }
    /* Only a cut just before the footer leaves a (footless) valid file. */
    assert_true(ok <= 1);
    free(data);
}

/* Single corrupted bytes anywhere in the header and data never crash. */
static void test_tzif_corrupt_bytes_real_file(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = slurp(ZONEINFO "/Europe/Berlin", &len);
    unsigned char *copy = sk_xmalloc(len);
    static const unsigned char junk[] = {0x00, 0xff, 0x7f, 0x80, '\n'};
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t j = 0; j < SK_ARRAY_LEN(junk); j++) {
            memcpy(copy, data, len);
            copy[pos] = junk[j];
            sk_tz_t *tz = NULL;
            if (sk_tz_parse("Europe/Berlin", copy, len, &tz, NULL) == 0) {
                /* Whatever was read must be usable. */
                sk_tz_span_t sp;
                sk_tz_span_at(tz, secs("2026-03-29T01:00:00"), &sp);
                int64_t t;
                (void)sk_tz_from_local(tz, secs("2026-03-29T02:30:00"), SK_TZ_EARLIER, &t);
                sk_tz_free(tz);
            }
        }
    }
    free(copy);
    free(data);
}

/* ---- POSIX TZ rules ---- */

typedef struct {
    const char *rule;
    const char *at; /* UTC */
    int32_t utoff;
    bool isdst;
    const char *abbr;
    const char *start, *end; /* UTC; NULL: unbounded */
} span_case_t;

static const span_case_t posix_cases[] = {
    /* Nepal: a 45-minute offset, no DST (quoted, signed abbreviation). */
    {"<+0545>-5:45", "2026-06-01T00:00:00", 20700, false, "+0545", NULL, NULL},
    {"<+0545>-5:45", "1900-01-01T00:00:00", 20700, false, "+0545", NULL, NULL},
    {"JST-9", "2026-06-01T00:00:00", 32400, false, "JST", NULL, NULL},
    {"UTC0", "2026-06-01T00:00:00", 0, false, "UTC", NULL, NULL},
    /* US rules: second Sunday of March to first Sunday of November, 02:00. */
    {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T06:59:59", -18000, false, "EST", "2025-11-02T06:00:00",
     "2026-03-08T07:00:00"},
    {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T07:00:00", -14400, true, "EDT", "2026-03-08T07:00:00",
     "2026-11-01T06:00:00"},
    {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T05:59:59", -14400, true, "EDT", "2026-03-08T07:00:00",
     "2026-11-01T06:00:00"},
    {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T06:00:00", -18000, false, "EST", "2026-11-01T06:00:00",
     "2027-03-14T07:00:00"},
    {"EST5EDT,M3.2.0,M11.1.0", "2200-07-01T00:00:00", -14400, true, "EDT", "2200-03-09T07:00:00",
     "2200-11-02T06:00:00"},
    /* No dates: the customary US rules. */
    {"EST5EDT", "2026-03-08T07:00:00", -14400, true, "EDT", "2026-03-08T07:00:00",
     "2026-11-01T06:00:00"},
    /* Southern hemisphere: DST spans the new year. Starts first Sunday of
     * October at 02:00 AEST, ends first Sunday of April at 03:00 AEDT. */
    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-15T00:00:00", 39600, true, "AEDT",
     "2025-10-04T16:00:00", "2026-04-04T16:00:00"},
    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T15:59:59", 39600, true, "AEDT",
     "2025-10-04T16:00:00", "2026-04-04T16:00:00"},
    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T16:00:00", 36000, false, "AEST",
     "2026-04-04T16:00:00", "2026-10-03T16:00:00"},
    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03T16:00:00", 39600, true, "AEDT",
     "2026-10-03T16:00:00", "2027-04-03T16:00:00"},
    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-12-31T23:00:00", 39600, true, "AEDT",
     "2026-10-03T16:00:00", "2027-04-03T16:00:00"},
    /* Explicit DST offset. */
    {"NZST-12NZDT-13,M9.5.0,M4.1.0/3", "2026-09-26T14:00:00", 46800, true, "NZDT",
     "2026-09-26T14:00:00", "2027-04-03T14:00:00"},
    /* Jn counts days 1-365 and never Feb 29: J60 is Mar 1 even in 2028. */
    {"XXX3YYY,J60/2,J300/2", "2028-03-01T05:00:00", -7200, true, "YYY", "2028-03-01T05:00:00",
     "2028-10-27T04:00:00"},
    /* n counts from 0 and includes Feb 29: day 59 is Feb 29 in 2028. */
    {"XXX3YYY,59/2,299/2", "2028-02-29T05:00:00", -7200, true, "YYY", "2028-02-29T05:00:00",
     "2028-10-26T04:00:00"},
    {"XXX3YYY,59/2,299/2", "2027-06-01T00:00:00", -7200, true, "YYY", "2027-03-01T05:00:00",
     "2027-10-27T04:00:00"},
    /* RFC 8536 extensions: negative times (Greenland) and hours past 24 (Israel). */
    {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-03-29T01:00:00", -3600, true, "-01",
     "2026-03-29T01:00:00", "2026-10-25T01:00:00"},
    {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-03-27T00:00:00", 10800, true, "IDT", "2026-03-27T00:00:00",
     "2026-10-24T23:00:00"},
    {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-03-26T23:59:59", 7200, false, "IST", "2025-10-25T23:00:00",
     "2026-03-27T00:00:00"},
};

/* Checks each row against the zone get(ctx, name) returns. */
static int check_spans(const span_case_t *rows, size_t n,
                       const sk_tz_t *(*get)(void *ctx, const char *name), void *ctx)
{
    int nfail = 0;
    for (size_t i = 0; i < n; i++) {
        const span_case_t *tc = &rows[i];
        const sk_tz_t *tz = get(ctx, tc->rule);
        int64_t at = secs(tc->at);
        int64_t start = tc->start ? secs(tc->start) : INT64_MIN;
        int64_t end = tc->end ? secs(tc->end) : INT64_MAX;
        sk_tz_span_t sp;
        sk_tz_span_at(tz, at, &sp);
        if (sp.utoff != tc->utoff || sp.isdst != tc->isdst || strcmp(sp.abbr, tc->abbr) != 0 ||
            sp.start != start || sp.end != end || sk_tz_offset_at(tz, at) != tc->utoff) {
            char a[48], b[48];
            ROW_FAIL(nfail, "%s at %sZ: utoff %d isdst %d abbr %s span [%s, %s)", tc->rule, tc->at,
                     sp.utoff, sp.isdst, sp.abbr, utc_text(sp.start, a, sizeof(a)),
                     utc_text(sp.end, b, sizeof(b)));
        }
    }
    return nfail;
}

/* Zones built from rules, freed at the end of the test that made them. */
typedef struct {
    sk_tz_t *made[32];
    size_t n;
} posix_zones_t;

static const sk_tz_t *posix_zone(void *ctx, const char *rule)
{
    posix_zones_t *zones = ctx;
    sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_tz_from_posix(rule, rule, &tz, &err) != 0)
        fail_msg("rule %s: %s", rule, err.msg);
    SK_ASSERT(zones->n < SK_ARRAY_LEN(zones->made));
    zones->made[zones->n++] = tz;
    return tz;
}

static void test_posix_rules(void **state)
{
    (void)state;
    posix_zones_t zones = {.n = 0};
    int nfail = check_spans(posix_cases, SK_ARRAY_LEN(posix_cases), posix_zone, &zones);
    for (size_t i = 0; i < zones.n; i++)
        sk_tz_free(zones.made[i]);
    assert_int_equal(nfail, 0);
}

static void test_posix_rule_gap_and_fold(void **state)
{
    (void)state;
    sk_tz_t *tz = NULL;
    assert_int_equal(sk_tz_from_posix("Test/Syd", "AEST-10AEDT,M10.1.0,M4.1.0/3", &tz, NULL), 0);
    assert_string_equal(sk_tz_name(tz), "Test/Syd");
    int64_t t = 0;
    /* 2026-10-04 02:30 does not exist (02:00 -> 03:00). */
    assert_int_equal(sk_tz_from_local(tz, secs("2026-10-04T02:30:00"), SK_TZ_EARLIER, &t), 0);
    assert_true(t == secs("2026-10-03T16:00:00"));
    assert_int_equal(sk_tz_from_local(tz, secs("2026-10-04T02:30:00"), SK_TZ_STRICT, &t),
                     SK_ERANGE);
    /* 2026-04-05 02:30 happens twice (03:00 -> 02:00). */
    assert_int_equal(sk_tz_from_local(tz, secs("2026-04-05T02:30:00"), SK_TZ_EARLIER, &t), 2);
    assert_true(t == secs("2026-04-04T15:30:00"));
    assert_int_equal(sk_tz_from_local(tz, secs("2026-04-05T02:30:00"), SK_TZ_LATER, &t), 2);
    assert_true(t == secs("2026-04-04T16:30:00"));
    char buf[64];
    sk_tz_format_iso(tz, secs("2026-01-01T00:00:00"), buf, sizeof(buf));
    assert_string_equal(buf, "2026-01-01T11:00:00+11:00");
    sk_tz_free(tz);
}

static void test_posix_rule_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                           /* nothing */
        "E5",                         /* abbreviation too short */
        "EST",                        /* no offset */
        "<+0545-5:45",                /* unterminated <...> */
        "EST25",                      /* offset beyond 24h */
        "EST5:60",                    /* minutes out of range */
        "EST5ED",                     /* DST abbreviation too short */
        "EST5EDT,M3.2.0",             /* no end date */
        "EST5EDT,M13.2.0,M11.1.0",    /* month 13 */
        "EST5EDT,M3.6.0,M11.1.0",     /* week 6 */
        "EST5EDT,M3.2.7,M11.1.0",     /* weekday 7 */
        "EST5EDT,M3.2.0,M11.1.0x",    /* trailing junk */
        "EST5EDT,J0,J300",            /* J counts from 1 */
        "EST5EDT,J366,J300",          /* ... to 365 */
        "EST5EDT,366,300",            /* n is 0-365 */
        "EST5EDT,M3.2.0/200,M11.1.0", /* time beyond 167h */
        "EST5EDT;M3.2.0,M11.1.0",     /* wrong separator */
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(bad); i++) {
        sk_tz_t *tz = (sk_tz_t *)&bad; /* must stay as it is */
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_tz_from_posix("Bad", bad[i], &tz, &err);
        if (r != SK_EBADZONE || tz != (sk_tz_t *)&bad || !strstr(err.msg, "POSIX"))
            fail_msg("\"%s\": r=%d msg=%s", bad[i], r, err.msg);
        if (r == 0)
            sk_tz_free(tz);
    }
}

/* ---- the cache ---- */

static void test_cache_loads_once(void **state)
{
    const sk_tz_t *a = zone(state, "Europe/Berlin");
    const sk_tz_t *b = zone(state, "Europe/Berlin");
    assert_ptr_equal(a, b);
    assert_string_equal(sk_tz_name(a), "Europe/Berlin");
    const sk_tz_t *u = zone(state, "UTC");
    assert_string_equal(sk_tz_name(u), "UTC");
    assert_int_equal(sk_tz_offset_at(u, 0), 0);
    assert_int_equal(sk_tz_offset_at(sk_tz_utc(), 0), 0);
    assert_string_equal(sk_tz_name(sk_tz_utc()), "UTC");
    sk_tz_free((sk_tz_t *)sk_tz_utc()); /* a no-op on the built-in zone */
    sk_tz_free(NULL);
}

static void test_cache_rejects_unknown_and_unsafe_names(void **state)
{
    static const char *const names[] = {
        "Mars/Olympus_Mons",
        "../etc/passwd",
        "/etc/passwd",
        "Europe/../../etc/passwd",
        "Europe/./Berlin",
        "Europe//Berlin",
        "Europe/Berlin/",
        ".",
        "..",
        "./UTC",
        "Europe/Berlin\n",
        "Europe/Berlin ",
        "Europe\\Berlin",
        "America", /* a directory */
        "europe/berlin",
    };
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(names); i++) {
        const sk_tz_t *tz = sk_tz_utc(); /* must stay as it is */
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_tz_cache_get(*state, names[i], &tz, &err);
        char quoted[300];
        sk_snprintf(quoted, sizeof(quoted), "unknown time zone \"%s\"", names[i]);
        if (r != SK_ENOZONE || err.code != SK_ENOZONE || tz != sk_tz_utc() ||
            strncmp(err.msg, quoted, strlen(quoted)) != 0)
            ROW_FAIL(nfail, "\"%s\": r=%d msg=%s", names[i], r, err.msg);
    }
    /* A long name is refused, not truncated into some other file. */
    char longname[400];
    memset(longname, 'A', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    const sk_tz_t *tz = NULL;
    assert_int_equal(sk_tz_cache_get(*state, longname, &tz, NULL), SK_ENOZONE);
    /* A file in the tz directory that is not a zone fails too. */
    assert_true(sk_tz_cache_get(*state, "zone.tab", &tz, NULL) < 0);
    assert_null(tz);
    /* A failure is not cached as a success. */
    assert_int_equal(sk_tz_cache_get(*state, "Mars/Olympus_Mons", &tz, NULL), SK_ENOZONE);
    assert_int_equal(nfail, 0);
}

static void test_cache_other_directory(void **state)
{
    (void)state;
    sk_tz_cache_t *c = sk_tz_cache_new("/nonexistent/zoneinfo");
    const sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_tz_cache_get(c, "Europe/Berlin", &tz, &err), SK_ENOZONE);
    assert_non_null(strstr(err.msg, "/nonexistent/zoneinfo"));
    /* UTC works without any database. */
    assert_int_equal(sk_tz_cache_get(c, "UTC", &tz, NULL), 0);
    assert_int_equal(sk_tz_offset_at(tz, 1772953200), 0);
    assert_int_equal(sk_tz_cache_get(c, "Etc/UTC", &tz, NULL), 0);
    sk_tz_cache_free(c);
    sk_tz_cache_free(NULL);

    /* A name that is not a regular file (here a character device) fails
     * with a message naming it. */
    c = sk_tz_cache_new("/dev");
    sk_err_clear(&err);
    assert_int_equal(sk_tz_cache_get(c, "null", &tz, &err), SK_ENOZONE);
    assert_string_equal(err.msg, "time zone \"null\": /dev/null: Invalid argument");
    sk_tz_cache_free(c);
}

/* "" and NULL mean the system zone: $TZ first, in its several spellings. */
static void test_cache_system_zone(void **state)
{
    (void)state;
    const char *saved = getenv("TZ");
    char *keep = saved ? sk_xstrdup(saved) : NULL;
    static const struct {
        const char *tz;
        const char *name;
        int32_t utoff_july; /* at 2026-07-01T00:00Z */
    } rows[] = {
        {"Asia/Kathmandu", "Asia/Kathmandu", 20700},
        {":Europe/Berlin", "Europe/Berlin", 7200},
        {ZONEINFO "/Australia/Lord_Howe", ZONEINFO "/Australia/Lord_Howe", 37800},
        {"AEST-10AEDT,M10.1.0,M4.1.0/3", "AEST-10AEDT,M10.1.0,M4.1.0/3", 36000},
        {"UTC", "UTC", 0},
    };
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(rows); i++) {
        setenv("TZ", rows[i].tz, 1);
        for (int k = 0; k < 2; k++) {
            sk_tz_cache_t *c = sk_tz_cache_new(ZONEINFO);
            const sk_tz_t *tz = NULL;
            sk_err_t err;
            sk_err_clear(&err);
            int r = sk_tz_cache_get(c, k ? NULL : "", &tz, &err);
            if (r != 0 || strcmp(sk_tz_name(tz), rows[i].name) != 0 ||
                sk_tz_offset_at(tz, secs("2026-07-01T00:00:00")) != rows[i].utoff_july)
                ROW_FAIL(nfail, "TZ=%s (%s): r=%d name=%s msg=%s", rows[i].tz, k ? "NULL" : "\"\"",
                         r, r ? "-" : sk_tz_name(tz), err.msg);
            sk_tz_cache_free(c);
        }
    }
    /* A TZ that names nothing is an error that quotes it. */
    setenv("TZ", "Mars/Olympus_Mons", 1);
    sk_tz_cache_t *c = sk_tz_cache_new(ZONEINFO);
    const sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_tz_cache_get(c, "", &tz, &err) != SK_ENOZONE || !strstr(err.msg, "Mars/Olympus_Mons"))
        ROW_FAIL(nfail, "TZ=Mars/Olympus_Mons: %s", err.msg);
    sk_tz_cache_free(c);
    setenv("TZ", "/nonexistent/zone", 1);
    c = sk_tz_cache_new(ZONEINFO);
    if (sk_tz_cache_get(c, "", &tz, NULL) != SK_ENOZONE)
        ROW_FAIL(nfail, "TZ=/nonexistent/zone loaded");
    sk_tz_cache_free(c);
    /* Without TZ: /etc/localtime or /etc/timezone, else UTC; never a failure. */
    unsetenv("TZ");
    c = sk_tz_cache_new(ZONEINFO);
    if (sk_tz_cache_get(c, NULL, &tz, NULL) != 0 || !sk_tz_name(tz) || !*sk_tz_name(tz))
        ROW_FAIL(nfail, "no TZ: no system zone");
    sk_tz_cache_free(c);
    if (keep)
        setenv("TZ", keep, 1);
    free(keep);
    assert_int_equal(nfail, 0);
}

/* ---- offsets and spans in real zones ---- */

static const span_case_t zone_cases[] = {
    /* New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST. */
    {"America/New_York", "2026-03-08T06:59:59", -18000, false, "EST", "2025-11-02T06:00:00",
     "2026-03-08T07:00:00"},
    {"America/New_York", "2026-03-08T07:00:00", -14400, true, "EDT", "2026-03-08T07:00:00",
     "2026-11-01T06:00:00"},
    {"America/New_York", "2026-07-01T00:00:00", -14400, true, "EDT", "2026-03-08T07:00:00",
     "2026-11-01T06:00:00"},
    {"America/New_York", "2026-11-01T05:59:59", -14400, true, "EDT", "2026-03-08T07:00:00",
     "2026-11-01T06:00:00"},
    {"America/New_York", "2026-11-01T06:00:00", -18000, false, "EST", "2026-11-01T06:00:00",
     "2027-03-14T07:00:00"},
    /* Local mean time before 1883, with an offset in seconds. */
    {"America/New_York", "1800-01-01T00:00:00", -17762, false, "LMT", NULL, "1883-11-18T17:00:00"},
    {"America/New_York", "1883-11-18T17:00:00", -18000, false, "EST", "1883-11-18T17:00:00",
     "1918-03-31T07:00:00"},
    /* The last transition of the (fat) table, and the rule after it. */
    {"America/New_York", "2037-11-01T05:59:59", -14400, true, "EDT", "2037-03-08T07:00:00",
     "2037-11-01T06:00:00"},
    {"America/New_York", "2037-11-01T06:00:00", -18000, false, "EST", "2037-11-01T06:00:00",
     "2038-03-14T07:00:00"},
    /* Year 2200 and 2500: past the table, the POSIX footer decides. */
    {"America/New_York", "2200-03-09T06:59:59", -18000, false, "EST", "2199-11-03T06:00:00",
     "2200-03-09T07:00:00"},
    {"America/New_York", "2200-03-09T07:00:00", -14400, true, "EDT", "2200-03-09T07:00:00",
     "2200-11-02T06:00:00"},
    {"America/New_York", "2200-11-02T06:00:00", -18000, false, "EST", "2200-11-02T06:00:00",
     "2201-03-08T07:00:00"},
    {"America/New_York", "2500-07-01T00:00:00", -14400, true, "EDT", "2500-03-14T07:00:00",
     "2500-11-07T06:00:00"},
    /* London: 01:00 GMT -> 02:00 BST; 02:00 BST -> 01:00 GMT. */
    {"Europe/London", "2026-03-29T00:59:59", 0, false, "GMT", "2025-10-26T01:00:00",
     "2026-03-29T01:00:00"},
    {"Europe/London", "2026-03-29T01:00:00", 3600, true, "BST", "2026-03-29T01:00:00",
     "2026-10-25T01:00:00"},
    {"Europe/London", "2026-10-25T00:59:59", 3600, true, "BST", "2026-03-29T01:00:00",
     "2026-10-25T01:00:00"},
    {"Europe/London", "2026-10-25T01:00:00", 0, false, "GMT", "2026-10-25T01:00:00",
     "2027-03-28T01:00:00"},
    {"Europe/London", "2200-06-01T00:00:00", 3600, true, "BST", "2200-03-30T01:00:00",
     "2200-10-26T01:00:00"},
    /* Berlin: the same instants as London, an hour further east. */
    {"Europe/Berlin", "2026-03-29T00:59:59", 3600, false, "CET", "2025-10-26T01:00:00",
     "2026-03-29T01:00:00"},
    {"Europe/Berlin", "2026-03-29T01:00:00", 7200, true, "CEST", "2026-03-29T01:00:00",
     "2026-10-25T01:00:00"},
    {"Europe/Berlin", "2026-10-25T00:59:59", 7200, true, "CEST", "2026-03-29T01:00:00",
     "2026-10-25T01:00:00"},
    {"Europe/Berlin", "2026-10-25T01:00:00", 3600, false, "CET", "2026-10-25T01:00:00",
     "2027-03-28T01:00:00"},
    {"Europe/Berlin", "2200-10-26T01:00:00", 3600, false, "CET", "2200-10-26T01:00:00",
     "2201-03-29T01:00:00"},
    /* Lord Howe: a 30-minute shift, DST over the southern summer. */
    {"Australia/Lord_Howe", "2026-04-04T14:59:59", 39600, true, "+11", "2025-10-04T15:30:00",
     "2026-04-04T15:00:00"},
    {"Australia/Lord_Howe", "2026-04-04T15:00:00", 37800, false, "+1030", "2026-04-04T15:00:00",
     "2026-10-03T15:30:00"},
    {"Australia/Lord_Howe", "2026-10-03T15:29:59", 37800, false, "+1030", "2026-04-04T15:00:00",
     "2026-10-03T15:30:00"},
    {"Australia/Lord_Howe", "2026-10-03T15:30:00", 39600, true, "+11", "2026-10-03T15:30:00",
     "2027-04-03T15:00:00"},
    {"Australia/Lord_Howe", "2200-04-05T15:00:00", 37800, false, "+1030", "2200-04-05T15:00:00",
     "2200-10-04T15:30:00"},
    {"Australia/Lord_Howe", "2200-10-04T15:30:00", 39600, true, "+11", "2200-10-04T15:30:00",
     "2201-04-04T15:00:00"},
    /* Kathmandu: +05:30 until 1986, +05:45 since, no DST. */
    {"Asia/Kathmandu", "1985-12-31T18:29:59", 19800, false, "+0530", "1919-12-31T18:18:44",
     "1985-12-31T18:30:00"},
    {"Asia/Kathmandu", "1985-12-31T18:30:00", 20700, false, "+0545", "1985-12-31T18:30:00", NULL},
    {"Asia/Kathmandu", "2026-06-01T00:00:00", 20700, false, "+0545", "1985-12-31T18:30:00", NULL},
    {"Asia/Kathmandu", "2200-01-01T00:00:00", 20700, false, "+0545", "1985-12-31T18:30:00", NULL},
};

static void test_zone_spans_around_transitions(void **state)
{
    assert_int_equal(check_spans(zone_cases, SK_ARRAY_LEN(zone_cases), cached_zone, *state), 0);
}

/* Spans tile time: walking span to span over years never skips or overlaps,
 * and each span's offset is the offset at every instant inside it. */
static void test_zone_spans_tile(void **state)
{
    static const char *const zones[] = {"America/New_York", "Europe/London", "Europe/Berlin",
                                        "Australia/Lord_Howe", "Asia/Kathmandu"};
    for (size_t i = 0; i < SK_ARRAY_LEN(zones); i++) {
        const sk_tz_t *tz = zone(state, zones[i]);
        int64_t t = secs("1850-01-01T00:00:00");
        int n = 0;
        while (t < secs("2300-01-01T00:00:00")) {
            sk_tz_span_t sp;
            sk_tz_span_at(tz, t, &sp);
            if (!(sp.start <= t && t < sp.end))
                fail_msg("%s: span of %" PRId64 " is [%" PRId64 ", %" PRId64 ")", zones[i], t,
                         sp.start, sp.end);
            if (sp.end == INT64_MAX)
                break;
            assert_int_equal(sk_tz_offset_at(tz, sp.end - 1), sp.utoff);
            assert_int_equal(sk_tz_offset_at(tz, t), sp.utoff);
            t = sp.end;
            assert_true(++n < 2000);
        }
    }
}

/* ---- local -> UTC ---- */

typedef struct {
    const char *zone;
    const char *local;
    sk_tz_policy_t policy;
    int r;          /* instants showing that wall time, or SK_ERANGE */
    const char *at; /* UTC; NULL: *ret must stay as it is */
} local_case_t;

#define E SK_TZ_EARLIER
#define LT SK_TZ_LATER
#define S SK_TZ_STRICT

static const local_case_t local_cases[] = {
    /* New York gap: 02:00-02:59:59 on 2026-03-08 does not exist. */
    {"America/New_York", "2026-03-08T02:30:00", E, 0, "2026-03-08T07:00:00"},
    {"America/New_York", "2026-03-08T02:30:00", LT, 0, "2026-03-08T07:00:00"},
    {"America/New_York", "2026-03-08T02:30:00", S, SK_ERANGE, NULL},
    {"America/New_York", "2026-03-08T02:00:00", E, 0, "2026-03-08T07:00:00"},
    {"America/New_York", "2026-03-08T02:00:00", S, SK_ERANGE, NULL},
    {"America/New_York", "2026-03-08T02:59:59", LT, 0, "2026-03-08T07:00:00"},
    {"America/New_York", "2026-03-08T01:59:59", S, 1, "2026-03-08T06:59:59"},
    {"America/New_York", "2026-03-08T03:00:00", S, 1, "2026-03-08T07:00:00"},
    /* New York fold: 01:00-01:59:59 on 2026-11-01 happens twice. */
    {"America/New_York", "2026-11-01T01:30:00", E, 2, "2026-11-01T05:30:00"},
    {"America/New_York", "2026-11-01T01:30:00", LT, 2, "2026-11-01T06:30:00"},
    {"America/New_York", "2026-11-01T01:30:00", S, 2, "2026-11-01T05:30:00"},
    {"America/New_York", "2026-11-01T01:00:00", E, 2, "2026-11-01T05:00:00"},
    {"America/New_York", "2026-11-01T01:00:00", LT, 2, "2026-11-01T06:00:00"},
    {"America/New_York", "2026-11-01T01:59:59", LT, 2, "2026-11-01T06:59:59"},
    {"America/New_York", "2026-11-01T00:59:59", LT, 1, "2026-11-01T04:59:59"},
    {"America/New_York", "2026-11-01T02:00:00", E, 1, "2026-11-01T07:00:00"},
    {"America/New_York", "2026-07-01T12:00:00", LT, 1, "2026-07-01T16:00:00"},
    /* ...and in 2200, from the footer rule. */
    {"America/New_York", "2200-03-09T02:30:00", E, 0, "2200-03-09T07:00:00"},
    {"America/New_York", "2200-03-09T02:30:00", S, SK_ERANGE, NULL},
    {"America/New_York", "2200-11-02T01:30:00", E, 2, "2200-11-02T05:30:00"},
    {"America/New_York", "2200-11-02T01:30:00", LT, 2, "2200-11-02T06:30:00"},
    /* London and Berlin. */
    {"Europe/London", "2026-03-29T01:30:00", E, 0, "2026-03-29T01:00:00"},
    {"Europe/London", "2026-03-29T01:30:00", S, SK_ERANGE, NULL},
    {"Europe/London", "2026-10-25T01:30:00", E, 2, "2026-10-25T00:30:00"},
    {"Europe/London", "2026-10-25T01:30:00", LT, 2, "2026-10-25T01:30:00"},
    {"Europe/Berlin", "2026-03-29T02:30:00", LT, 0, "2026-03-29T01:00:00"},
    {"Europe/Berlin", "2026-03-29T02:30:00", S, SK_ERANGE, NULL},
    {"Europe/Berlin", "2026-10-25T02:30:00", E, 2, "2026-10-25T00:30:00"},
    {"Europe/Berlin", "2026-10-25T02:30:00", LT, 2, "2026-10-25T01:30:00"},
    {"Europe/Berlin", "2026-10-25T02:30:00", S, 2, "2026-10-25T00:30:00"},
    /* Lord Howe: a 30-minute gap (02:00-02:29) and fold (01:30-01:59). */
    {"Australia/Lord_Howe", "2026-10-04T02:15:00", E, 0, "2026-10-03T15:30:00"},
    {"Australia/Lord_Howe", "2026-10-04T02:15:00", LT, 0, "2026-10-03T15:30:00"},
    {"Australia/Lord_Howe", "2026-10-04T02:15:00", S, SK_ERANGE, NULL},
    {"Australia/Lord_Howe", "2026-10-04T02:30:00", S, 1, "2026-10-03T15:30:00"},
    {"Australia/Lord_Howe", "2026-10-04T01:59:59", S, 1, "2026-10-03T15:29:59"},
    {"Australia/Lord_Howe", "2026-04-05T01:45:00", E, 2, "2026-04-04T14:45:00"},
    {"Australia/Lord_Howe", "2026-04-05T01:45:00", LT, 2, "2026-04-04T15:15:00"},
    {"Australia/Lord_Howe", "2026-04-05T01:45:00", S, 2, "2026-04-04T14:45:00"},
    {"Australia/Lord_Howe", "2026-04-05T01:29:59", LT, 1, "2026-04-04T14:29:59"},
    {"Australia/Lord_Howe", "2026-04-05T02:00:00", E, 1, "2026-04-04T15:30:00"},
    {"Australia/Lord_Howe", "2200-04-06T01:45:00", LT, 2, "2200-04-05T15:15:00"},
    {"Australia/Lord_Howe", "2200-10-05T02:15:00", E, 0, "2200-10-04T15:30:00"},
    /* Kathmandu: one instant for every wall time, except the 15 minutes
     * skipped when it moved from +05:30 to +05:45 in 1986. */
    {"Asia/Kathmandu", "2026-06-01T00:00:00", S, 1, "2026-05-31T18:15:00"},
    {"Asia/Kathmandu", "2200-06-01T12:00:00", S, 1, "2200-06-01T06:15:00"},
    {"Asia/Kathmandu", "1986-01-01T00:10:00", E, 0, "1985-12-31T18:30:00"},
    {"Asia/Kathmandu", "1986-01-01T00:10:00", S, SK_ERANGE, NULL},
    {"Asia/Kathmandu", "1986-01-01T00:15:00", S, 1, "1985-12-31T18:30:00"},
    {"UTC", "2026-03-08T02:30:00", S, 1, "2026-03-08T02:30:00"},
};

static void test_from_local_policies(void **state)
{
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(local_cases); i++) {
        const local_case_t *tc = &local_cases[i];
        const sk_tz_t *tz = zone(state, tc->zone);
        int64_t t = -42;
        int r = sk_tz_from_local(tz, secs(tc->local), tc->policy, &t);
        int64_t want = tc->at ? secs(tc->at) : -42;
        if (r != tc->r || t != want) {
            char a[48];
            ROW_FAIL(nfail, "%s %s policy %d: r=%d t=%s", tc->zone, tc->local, (int)tc->policy, r,
                     utc_text(t, a, sizeof(a)));
        }
    }
    assert_int_equal(nfail, 0);
}

/* Every instant over two years maps to its wall time and back (EARLIER
 * finds it unless it is the second pass of a fold, where LATER does). */
static void test_from_local_inverts_to_civil(void **state)
{
    static const char *const zones[] = {"America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
                                        "Asia/Kathmandu"};
    for (size_t i = 0; i < SK_ARRAY_LEN(zones); i++) {
        const sk_tz_t *tz = zone(state, zones[i]);
        for (int64_t t = secs("2026-01-01T00:00:00"); t < secs("2028-01-01T00:00:00"); t += 900) {
            int64_t local = t + sk_tz_offset_at(tz, t), e = 0, l = 0;
            int r = sk_tz_from_local(tz, local, SK_TZ_EARLIER, &e);
            assert_int_equal(sk_tz_from_local(tz, local, SK_TZ_LATER, &l), r);
            if (r < 1 || (e != t && l != t) || e > l)
                fail_msg("%s: %" PRId64 " -> local %" PRId64 " -> r=%d %" PRId64 "/%" PRId64,
                         zones[i], t, local, r, e, l);
        }
    }
}

/* ---- ISO-8601 ---- */

typedef struct {
    const char *zone;
    const char *at; /* UTC */
    const char *text;
} fmt_case_t;

static const fmt_case_t fmt_cases[] = {
    {"America/New_York", "2026-03-08T06:59:59", "2026-03-08T01:59:59-05:00"},
    {"America/New_York", "2026-03-08T07:00:00", "2026-03-08T03:00:00-04:00"},
    {"America/New_York", "2026-11-01T05:30:00", "2026-11-01T01:30:00-04:00"},
    {"America/New_York", "2026-11-01T06:30:00", "2026-11-01T01:30:00-05:00"},
    {"America/New_York", "1800-01-01T00:00:00", "1799-12-31T19:03:58-04:56:02"},
    {"America/New_York", "2200-03-09T07:00:00", "2200-03-09T03:00:00-04:00"},
    {"Europe/London", "2026-10-25T00:30:00", "2026-10-25T01:30:00+01:00"},
    {"Europe/London", "2026-10-25T01:30:00", "2026-10-25T01:30:00+00:00"},
    {"Europe/Berlin", "2026-03-29T01:00:00", "2026-03-29T03:00:00+02:00"},
    {"Australia/Lord_Howe", "2026-04-04T15:00:00", "2026-04-05T01:30:00+10:30"},
    {"Australia/Lord_Howe", "2026-04-04T14:59:59", "2026-04-05T01:59:59+11:00"},
    {"Asia/Kathmandu", "2026-05-31T18:15:00", "2026-06-01T00:00:00+05:45"},
    {"Asia/Kathmandu", "1900-01-01T00:00:00", "1900-01-01T05:41:16+05:41:16"},
    {"UTC", "1970-01-01T00:00:00", "1970-01-01T00:00:00+00:00"},
    {"UTC", "1969-12-31T23:59:59", "1969-12-31T23:59:59+00:00"},
    {"UTC", "9999-12-31T23:59:59", "9999-12-31T23:59:59+00:00"},
};

static void test_format_iso(void **state)
{
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(fmt_cases); i++) {
        const fmt_case_t *tc = &fmt_cases[i];
        char buf[64];
        int64_t back = 0;
        sk_tz_format_iso(zone(state, tc->zone), secs(tc->at), buf, sizeof(buf));
        /* What sked prints, it reads back as the same instant. */
        int r = sk_tz_parse_iso(zone(state, "UTC"), buf, &back, NULL);
        if (strcmp(buf, tc->text) != 0 || r != 0 || back != secs(tc->at))
            ROW_FAIL(nfail, "%s %sZ: \"%s\" (want \"%s\"), reads back r=%d", tc->zone, tc->at, buf,
                     tc->text, r);
    }
    /* A short buffer truncates and terminates. */
    char small[11];
    sk_tz_format_iso(sk_tz_utc(), 0, small, sizeof(small));
    assert_string_equal(small, "1970-01-01");
    assert_int_equal(nfail, 0);
}

typedef struct {
    const char *zone;
    const char *text;
    const char *at; /* UTC */
} iso_case_t;

static const iso_case_t iso_cases[] = {
    /* With an offset, the zone does not matter. */
    {"America/New_York", "2026-03-08T03:00:00-04:00", "2026-03-08T07:00:00"},
    {"Asia/Kathmandu", "2026-03-08T03:00:00-04:00", "2026-03-08T07:00:00"},
    {"America/New_York", "2026-03-08T07:00:00Z", "2026-03-08T07:00:00"},
    {"America/New_York", "2026-03-08t07:00:00z", "2026-03-08T07:00:00"},
    {"UTC", "2026-06-01T00:00:00+05:45", "2026-05-31T18:15:00"},
    {"UTC", "2026-06-01T00:00:00+0545", "2026-05-31T18:15:00"},
    {"UTC", "2026-06-01T00:00:00-03", "2026-06-01T03:00:00"},
    {"UTC", "2026-06-01T00:00:00+00:00", "2026-06-01T00:00:00"},
    {"UTC", "2026-06-01T00:00:00-00:00", "2026-06-01T00:00:00"},
    {"UTC", "2026-06-01T00:00:00+14:00", "2026-05-31T10:00:00"},
    {"UTC", "2026-06-01 12:34:56Z", "2026-06-01T12:34:56"},
    {"UTC", "2026-06-01T12:34Z", "2026-06-01T12:34:00"},
    {"UTC", "2026-06-01T12:34:56.789Z", "2026-06-01T12:34:56"},
    {"UTC", "2026-06-01T12:34:56,5+01:00", "2026-06-01T11:34:56"},
    {"UTC", "1969-12-31T23:59:59Z", "1969-12-31T23:59:59"},
    {"UTC", "2024-02-29T00:00:00Z", "2024-02-29T00:00:00"},
    {"UTC", "2000-02-29T00:00:00Z", "2000-02-29T00:00:00"},
    /* No offset: local to the zone. */
    {"America/New_York", "2026-07-01T12:00:00", "2026-07-01T16:00:00"},
    {"America/New_York", "2026-07-01", "2026-07-01T04:00:00"},
    {"Asia/Kathmandu", "2026-06-01T00:00", "2026-05-31T18:15:00"},
    {"Australia/Lord_Howe", "2026-07-01T00:00:00", "2026-06-30T13:30:00"},
    /* ...a gap maps to its end, a fold to its first pass. */
    {"America/New_York", "2026-03-08T02:30:00", "2026-03-08T07:00:00"},
    {"America/New_York", "2026-11-01T01:30:00", "2026-11-01T05:30:00"},
    {"Australia/Lord_Howe", "2026-10-04T02:15:00", "2026-10-03T15:30:00"},
    {"Australia/Lord_Howe", "2026-04-05T01:45:00", "2026-04-04T14:45:00"},
};

static void test_parse_iso(void **state)
{
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(iso_cases); i++) {
        const iso_case_t *tc = &iso_cases[i];
        int64_t t = -42;
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_tz_parse_iso(zone(state, tc->zone), tc->text, &t, &err);
        if (r != 0 || t != secs(tc->at)) {
            char a[48];
            ROW_FAIL(nfail, "%s \"%s\": r=%d t=%s (want %sZ) %s", tc->zone, tc->text, r,
                     utc_text(t, a, sizeof(a)), tc->at, err.msg);
        }
    }
    assert_int_equal(nfail, 0);
}

typedef struct {
    const char *text;
    int col;
    const char *msg;
} iso_err_t;

static const iso_err_t iso_errs[] = {
    {"", 1, "expected a four-digit year"},
    {"26-03-08", 1, "expected a four-digit year"},
    {"tomorrow", 1, "expected a four-digit year"},
    {"2026", 5, "expected -MM"},
    {"2026/03/08", 5, "expected -MM"},
    {"2026-3-08", 6, "expected -MM"},
    {"2026-03", 8, "expected -DD"},
    {"2026-03-8", 9, "expected -DD"},
    {"2026-13-01", 6, "month out of range"},
    {"2026-00-01", 6, "month out of range"},
    {"2026-02-29", 9, "no such day in that month"},
    {"2100-02-29", 9, "no such day in that month"},
    {"2026-04-31", 9, "no such day in that month"},
    {"2026-04-00", 9, "no such day in that month"},
    {"2026-01-01T", 12, "expected an hour 00-23"},
    {"2026-01-01T7:00", 12, "expected an hour 00-23"},
    {"2026-01-01T24:00", 12, "expected an hour 00-23"},
    {"2026-01-01T12", 14, "expected :MM with minutes 00-59"},
    {"2026-01-01T12:5", 15, "expected :MM with minutes 00-59"},
    {"2026-01-01T12:60", 15, "expected :MM with minutes 00-59"},
    {"2026-01-01T12:30:", 18, "expected seconds 00-59"},
    {"2026-01-01T12:30:60", 18, "expected seconds 00-59"}, /* no leap seconds */
    {"2026-01-01T12:30:00.", 21, "expected digits after the decimal point"},
    {"2026-01-01T12:30:00.Z", 21, "expected digits after the decimal point"},
    {"2026-01-01T12:30:00X", 20, "unexpected character"},
    {"2026-01-01X12:30:00", 11, "unexpected character"},
    {"2026-01-01T12:30:00 ", 20, "unexpected character"},
    {"2026-01-01T12:30:00+5", 21, "expected an offset hour 00-23"},
    {"2026-01-01T12:30:00+", 21, "expected an offset hour 00-23"},
    {"2026-01-01T12:30:00+24:00", 21, "expected an offset hour 00-23"},
    {"2026-01-01T12:30:00+05:6", 24, "expected offset minutes 00-59"},
    {"2026-01-01T12:30:00+05:60", 24, "expected offset minutes 00-59"},
    {"2026-01-01T12:30:00+05:", 24, "expected offset minutes 00-59"},
    {"2026-01-01T12:30:00+05:00x", 26, "unexpected text after the offset"},
    {"2026-01-01T12:30:00+05:00:6", 27, "expected offset seconds 00-59"},
    {"2026-01-01T12:30:00+05:00:", 27, "expected offset seconds 00-59"},
    {"2026-01-01T12:30:00Zjunk", 21, "unexpected text after the offset"},
};

static void test_parse_iso_errors(void **state)
{
    int nfail = 0;
    const sk_tz_t *tz = zone(state, "Europe/Berlin");
    for (size_t i = 0; i < SK_ARRAY_LEN(iso_errs); i++) {
        const iso_err_t *tc = &iso_errs[i];
        int64_t t = -42;
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_tz_parse_iso(tz, tc->text, &t, &err);
        char where[32];
        sk_snprintf(where, sizeof(where), "at column %d", tc->col);
        if (r != SK_EPARSE || err.code != SK_EPARSE || err.col != tc->col || t != -42 ||
            !strstr(err.msg, tc->msg) || !strstr(err.msg, where))
            ROW_FAIL(nfail, "\"%s\": r=%d col=%d (want %d) t %s; msg: %s", tc->text, r, err.col,
                     tc->col, t == -42 ? "untouched" : "WRITTEN", err.msg);
    }
    /* The whole message, once. */
    int64_t t;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_tz_parse_iso(tz, "2026-13-01", &t, &err), SK_EPARSE);
    assert_string_equal(err.msg, "time \"2026-13-01\": month out of range at column 6 "
                                 "(expected e.g. 2026-03-08T01:30:00-05:00)");
    assert_int_equal(nfail, 0);
}

/* Every 15 minutes over 2026, in zones with odd offsets and DST: format
 * then parse gives the same instant (the offset disambiguates folds). */
static void test_iso_round_trip(void **state)
{
    static const char *const zones[] = {"America/New_York", "Europe/London", "Australia/Lord_Howe",
                                        "Asia/Kathmandu", "UTC"};
    for (size_t i = 0; i < SK_ARRAY_LEN(zones); i++) {
        const sk_tz_t *tz = zone(state, zones[i]);
        for (int64_t t = secs("2026-01-01T00:00:00"); t < secs("2027-01-01T00:00:00"); t += 900) {
            char buf[64];
            int64_t back = 0;
            sk_tz_format_iso(tz, t, buf, sizeof(buf));
            if (sk_tz_parse_iso(tz, buf, &back, NULL) != 0 || back != t)
                fail_msg("%s: %" PRId64 " -> \"%s\" -> %" PRId64, zones[i], t, buf, back);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_known_days),
        cmocka_unit_test(test_civil_round_trip_wide_range),
        cmocka_unit_test(test_civil_leap_years),
        cmocka_unit_test(test_civil_seconds),
        cmocka_unit_test(test_tzif_synthetic_v2),
        cmocka_unit_test(test_tzif_synthetic_v1_and_no_transitions),
        cmocka_unit_test(test_tzif_corrupt_fields_fail),
        cmocka_unit_test(test_tzif_bad_headers_fail),
        cmocka_unit_test(test_tzif_truncated_real_file),
        cmocka_unit_test(test_tzif_corrupt_bytes_real_file),
        cmocka_unit_test(test_posix_rules),
        cmocka_unit_test(test_posix_rule_gap_and_fold),
        cmocka_unit_test(test_posix_rule_malformed),
        cmocka_unit_test(test_cache_loads_once),
        cmocka_unit_test(test_cache_rejects_unknown_and_unsafe_names),
        cmocka_unit_test(test_cache_other_directory),
        cmocka_unit_test(test_cache_system_zone),
        cmocka_unit_test(test_zone_spans_around_transitions),
        cmocka_unit_test(test_zone_spans_tile),
        cmocka_unit_test(test_from_local_policies),
        cmocka_unit_test(test_from_local_inverts_to_civil),
        cmocka_unit_test(test_format_iso),
        cmocka_unit_test(test_parse_iso),
        cmocka_unit_test(test_parse_iso_errors),
        cmocka_unit_test(test_iso_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
