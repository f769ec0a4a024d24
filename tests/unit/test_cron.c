/*
 * Cron expressions (src/cron): every syntax element and what it compiles
 * to, the Quartz day extras and the Vixie day-of-month OR day-of-week rule,
 * every parse error (code, message, column), never-firing expressions,
 * Jenkins H, format/parse round trips, explain, and next fires. The next
 * fires across daylight saving live in golden tables, tests/data/cron/ *.tsv
 * (rows: expr TAB zone TAB after TAB expected...), read from the repository
 * root; their values were reasoned out and cross-checked with
 * tests/data/cron/crosscheck.py, an independent brute force on zoneinfo.
 */
#include "cron/cron_int.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Table rows report every mismatch, then the test fails once at its end. */
#define ROW_FAIL(nfail, ...) (print_error(__VA_ARGS__), print_error("\n"), (nfail)++)

#define GOLDEN_DIR "tests/data/cron"
#define ZONEINFO "/usr/share/zoneinfo"

#define B(x) (1ULL << (x))

/* ---- helpers ---- */

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

static const sk_tz_t *zone(void **state, const char *name)
{
    const sk_tz_t *tz = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_tz_cache_get(*state, name, &tz, &err) != 0)
        fail_msg("cannot load %s: %s", name, err.msg);
    return tz;
}

static sk_cron_t parse_ok(const char *expr, const char *name)
{
    sk_cron_t c;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_cron_parse(expr, name, &c, &err) != 0)
        fail_msg("\"%s\" does not parse: %s (column %d)", expr, err.msg, err.col);
    return c;
}

/* An instant given with its offset, as sked prints them. */
static int64_t at(const char *iso)
{
    int64_t t;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_tz_parse_iso(sk_tz_utc(), iso, &t, &err) != 0)
        fail_msg("bad test time \"%s\": %s", iso, err.msg);
    return t;
}

/* ---- what each element compiles to ---- */

enum which {
    SEC,
    MIN,
    HOUR,
    DOM,
    MON,
    DOW,
    DOM_LAST,
    DOM_NEAR,
    DOM_LASTWD,
    DOW_LAST,
    DOW_NTH_SUN,
    DOW_NTH_MON,
    DOW_NTH_FRI,
    FLAGS
};

static uint64_t field_of(const sk_cron_t *c, enum which w)
{
    switch (w) {
    case SEC:
        return c->sec;
    case MIN:
        return c->min;
    case HOUR:
        return c->hour;
    case DOM:
        return c->dom;
    case MON:
        return c->mon;
    case DOW:
        return c->dow;
    case DOM_LAST:
        return c->dom_last;
    case DOM_NEAR:
        return c->dom_near;
    case DOM_LASTWD:
        return c->dom_lastwd;
    case DOW_LAST:
        return c->dow_last;
    case DOW_NTH_SUN:
        return c->dow_nth[0];
    case DOW_NTH_MON:
        return c->dow_nth[1];
    case DOW_NTH_FRI:
        return c->dow_nth[5];
    case FLAGS:
        return c->flags;
    }
    return 0;
}

#define ALL_MIN (B(60) - 1)
#define ALL_HOUR (B(24) - 1)
#define ALL_DOM (B(32) - 2)
#define ALL_MON (B(13) - 2)
#define ALL_DOW (B(7) - 1)

typedef struct {
    const char *expr;
    enum which field;
    uint64_t mask;
} field_case_t;

static const field_case_t field_cases[] = {
    /* values, lists, ranges, steps */
    {"5 * * * *", MIN, B(5)},
    {"5,10,50 * * * *", MIN, B(5) | B(10) | B(50)},
    {"10-12 * * * *", MIN, B(10) | B(11) | B(12)},
    {"0-2,58 * * * *", MIN, B(0) | B(1) | B(2) | B(58)},
    {"* * * * *", MIN, ALL_MIN},
    {"*/15 * * * *", MIN, B(0) | B(15) | B(30) | B(45)},
    {"*/60 * * * *", MIN, B(0)},
    {"10-50/7 * * * *", MIN, B(10) | B(17) | B(24) | B(31) | B(38) | B(45)},
    {"5/10 * * * *", MIN, B(5) | B(15) | B(25) | B(35) | B(45) | B(55)},
    {"50-59/20 * * * *", MIN, B(50)}, /* a step wider than its range */
    {"1-3,*/30 * * * *", MIN, B(0) | B(1) | B(2) | B(3) | B(30)},
    {"0 */6 * * *", HOUR, B(0) | B(6) | B(12) | B(18)},
    {"0 9-17/4 * * *", HOUR, B(9) | B(13) | B(17)},
    {"0 23 * * *", HOUR, B(23)},
    {"0 0 1-31/10 * *", DOM, B(1) | B(11) | B(21) | B(31)},
    {"0 0 */10 * *", DOM, B(1) | B(11) | B(21) | B(31)},
    {"0 0 31 * *", DOM, B(31)},
    {"0 0 1 */3 *", MON, B(1) | B(4) | B(7) | B(10)},
    /* seconds: six fields, or second 0 */
    {"*/20 * * * * *", SEC, B(0) | B(20) | B(40)},
    {"59 * * * * *", SEC, B(59)},
    {"* * * * *", SEC, B(0)},
    /* names, any case */
    {"0 0 1 jan-MAR *", MON, B(1) | B(2) | B(3)},
    {"0 0 1 Jul,dec,Oct *", MON, B(7) | B(10) | B(12)},
    {"0 0 1 JAN-DEC/5 *", MON, B(1) | B(6) | B(11)},
    {"0 0 * * sun,Sat", DOW, B(0) | B(6)},
    {"0 0 * * Mon-fri", DOW, B(1) | B(2) | B(3) | B(4) | B(5)},
    /* A step from one value runs to the field's end, 7 for day-of-week as
     * in cronie: MON/2 is Monday, Wednesday, Friday and Sunday. */
    {"0 0 * * MON/2", DOW, B(0) | B(1) | B(3) | B(5)},
    /* 7 is Sunday */
    {"0 0 * * 7", DOW, B(0)},
    {"0 0 * * 5-7", DOW, B(0) | B(5) | B(6)},
    {"0 0 * * 0-7", DOW, ALL_DOW},
    {"0 0 * * 1-7/2", DOW, B(0) | B(1) | B(3) | B(5)},
    {"0 0 * * *", DOW, ALL_DOW},
    {"0 0 * * */2", DOW, B(0) | B(2) | B(4) | B(6)},
    /* ? means any */
    {"0 0 ? * MON", DOM, ALL_DOM},
    {"0 0 1 * ?", DOW, ALL_DOW},
    /* Quartz day-of-month extras */
    {"0 0 L * *", DOM, 0},
    {"0 0 L * *", DOM_LAST, B(0)},
    {"0 0 l * *", DOM_LAST, B(0)},
    {"0 0 L-3 * *", DOM_LAST, B(3)},
    {"0 0 L-0,L-30 * *", DOM_LAST, B(0) | B(30)},
    {"0 0 1,L * *", DOM, B(1)},
    {"0 0 LW * *", DOM_LASTWD, 1},
    {"0 0 lw * *", DOM_LASTWD, 1},
    {"0 0 15W * *", DOM_NEAR, B(15)},
    {"0 0 1W,31w * *", DOM_NEAR, B(1) | B(31)},
    {"0 0 15W * *", DOM, 0},
    /* Quartz day-of-week extras */
    {"0 0 * * 5L", DOW_LAST, B(5)},
    {"0 0 * * FRIL", DOW_LAST, B(5)},
    {"0 0 * * fril", DOW_LAST, B(5)},
    {"0 0 * * 7L", DOW_LAST, B(0)},
    {"0 0 * * 5L", DOW, 0},
    {"0 0 * * MON#2", DOW_NTH_MON, B(2)},
    {"0 0 * * 1#2", DOW_NTH_MON, B(2)},
    {"0 0 * * mon#1,MON#5", DOW_NTH_MON, B(1) | B(5)},
    {"0 0 * * 7#1", DOW_NTH_SUN, B(1)},
    {"0 0 * * FRI#3,1", DOW_NTH_FRI, B(3)},
    {"0 0 * * FRI#3,1", DOW, B(1)},
    /* macros */
    {"@yearly", MON, B(1)},
    {"@annually", DOM, B(1)},
    {"@monthly", MON, ALL_MON},
    {"@weekly", DOW, B(0)},
    {"@daily", HOUR, B(0)},
    {"@midnight", MIN, B(0)},
    {"@hourly", HOUR, ALL_HOUR},
    {"@Hourly", MIN, B(0)},
    {"@reboot", FLAGS, SK_CRON_REBOOT},
    /* whitespace: any run of spaces and tabs, around and between */
    {"  5\t 4  * * *\n", HOUR, B(4)},
    /* flags: wild when seconds, minute or hour text starts with * */
    {"30 2 * * *", FLAGS, SK_CRON_DOM_STAR | SK_CRON_DOW_STAR | SK_CRON_MON_STAR},
    {"30 * * * *", FLAGS,
     SK_CRON_WILD | SK_CRON_HOUR_STAR | SK_CRON_DOM_STAR | SK_CRON_DOW_STAR | SK_CRON_MON_STAR},
    {"*/5 2 1 1 1", FLAGS, SK_CRON_WILD | SK_CRON_MIN_STAR},
    {"0-59 2 1 1 1", FLAGS, 0},
    {"*/10 30 2 1 1 1", FLAGS, SK_CRON_SECONDS | SK_CRON_WILD | SK_CRON_SEC_STAR},
    {"0 30 2 1 1 ?", FLAGS, SK_CRON_SECONDS | SK_CRON_DOW_STAR},
    {"0 0 ? 1 1", FLAGS, SK_CRON_DOM_STAR},
    {"0 0 */2 1 1", FLAGS, SK_CRON_DOM_STAR},
    {"0 0 1 1 */2", FLAGS, SK_CRON_DOW_STAR},
    {"0 0 L 1 FRIL", FLAGS, 0},
    {"@hourly", FLAGS,
     SK_CRON_WILD | SK_CRON_HOUR_STAR | SK_CRON_DOM_STAR | SK_CRON_DOW_STAR | SK_CRON_MON_STAR},
    {"@daily", FLAGS, SK_CRON_DOM_STAR | SK_CRON_DOW_STAR | SK_CRON_MON_STAR},
};

static void test_parse_fields(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(field_cases); i++) {
        const field_case_t *tc = &field_cases[i];
        sk_cron_t c;
        sk_err_t err;
        sk_err_clear(&err);
        int r = sk_cron_parse(tc->expr, "job", &c, &err);
        if (r != 0)
            ROW_FAIL(nfail, "\"%s\": %s", tc->expr, err.msg);
        else if (field_of(&c, tc->field) != tc->mask)
            ROW_FAIL(nfail, "\"%s\" field %d: %#" PRIx64 " (want %#" PRIx64 ")", tc->expr,
                     (int)tc->field, field_of(&c, tc->field), tc->mask);
    }
    assert_int_equal(nfail, 0);
}

/* Different spellings of the same schedule parse to equal values. */
static const char *const same[][2] = {
    {"0 0 * * 7", "0 0 * * 0"},
    {"0 0 * * SUN", "0 0 * * 0"},
    {"0 0 * * sun", "0 0 * * 7"},
    {"0 0 * jan *", "0 0 * 1 *"},
    {"0 0 * JAN-mar *", "0 0 * 1-3 *"},
    {"0 0 * * MON-FRI", "0 0 * * 1-5"},
    {"0 0 * * FRIL", "0 0 * * 5L"},
    {"0 0 * * MON#2", "0 0 * * 1#2"},
    {"0 0 L-0 * *", "0 0 L * *"},
    {"0 0 ? * MON", "0 0 * * MON"},
    {"0 0 1 * ?", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
    {"@DAILY", "@daily"},
    {"  0   0\t* * *  ", "0 0 * * *"},
    {"0,1,2,3 * * * *", "0-3 * * * *"},
    {"*/1 * * * *", "* * * * *"},
    {"0-59 * * * *", "0-59/1 * * * *"},
    {"5/10 * * * *", "5,15,25,35,45,55 * * * *"},
    {"0 0 1-31/10 * *", "0 0 1,11,21,31 * *"},
    {"0 */6 * * *", "0 */6 * * *"},
};

/* ...and these look alike but fire differently (or, for H, differ by name). */
static const char *const differ[][2] = {
    {"0 0 1 * 0-6", "0 0 1 * *"},      /* Vixie: 0-6 restricts, so 1st OR any day */
    {"0 0 1-31 * MON", "0 0 * * MON"}, /* every day OR Monday vs Mondays */
    {"0-59 * * * *", "* * * * *"},     /* fixed-time vs wild */
    {"0 0-23 * * *", "0 * * * *"},     {"0 5 * * * *", "0 */60 5 * * *"},
};

static void test_equivalent_spellings(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(same); i++) {
        sk_cron_t a = parse_ok(same[i][0], "job"), b = parse_ok(same[i][1], "job");
        if (!sk_cron_equal(&a, &b))
            ROW_FAIL(nfail, "\"%s\" and \"%s\" differ", same[i][0], same[i][1]);
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(differ); i++) {
        sk_cron_t a = parse_ok(differ[i][0], "job"), b = parse_ok(differ[i][1], "job");
        if (sk_cron_equal(&a, &b))
            ROW_FAIL(nfail, "\"%s\" and \"%s\" are equal", differ[i][0], differ[i][1]);
    }
    assert_int_equal(nfail, 0);
}

/* ---- the day fields, month by month ---- */

typedef struct {
    const char *expr;
    int64_t year;
    int month;
    uint32_t days;
} days_case_t;

static const days_case_t days_cases[] = {
    /* Vixie: both fields restricted, so either may match. May 2026 starts
     * on a Friday: its Fridays are 1, 8, 15, 22, 29. */
    {"0 0 1,15 * FRI", 2026, 5, B(1) | B(8) | B(15) | B(22) | B(29)},
    {"0 0 13 * FRI", 2026, 5, B(1) | B(8) | B(13) | B(15) | B(22) | B(29)},
    {"0 0 L * 1", 2026, 6, B(1) | B(8) | B(15) | B(22) | B(29) | B(30)},
    {"0 0 1-7 * MON", 2026, 6,
     B(1) | B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | B(8) | B(15) | B(22) | B(29)},
    /* One field starts with * (or ?): both must match. */
    {"0 0 1,15 * *", 2026, 5, B(1) | B(15)},
    {"0 0 * * FRI", 2026, 5, B(1) | B(8) | B(15) | B(22) | B(29)},
    {"0 0 ? * FRI", 2026, 5, B(1) | B(8) | B(15) | B(22) | B(29)},
    {"0 0 */10 * FRI", 2026, 5, B(1)},
    {"0 0 13 * */7", 2026, 5, 0}, /* 13th AND Sunday: not in May 2026 */
    {"0 0 13 * */7", 2026, 9, B(13)},
    /* L, L-n */
    {"0 0 L * *", 2026, 2, B(28)},
    {"0 0 L * *", 2028, 2, B(29)},
    {"0 0 L * *", 2026, 4, B(30)},
    {"0 0 L-30 * *", 2026, 1, B(1)},
    {"0 0 L-30 * *", 2026, 2, 0},
    {"0 0 L-27 * *", 2026, 2, B(1)},
    /* LW: Jan 31 2026 is a Saturday, May 31 a Sunday, Mar 31 a Tuesday. */
    {"0 0 LW * *", 2026, 1, B(30)},
    {"0 0 LW * *", 2026, 5, B(29)},
    {"0 0 LW * *", 2026, 3, B(31)},
    /* nW never leaves the month. Aug 1 2026 is a Saturday (-> Mon 3rd),
     * Feb 1 a Sunday (-> Mon 2nd), May 31 a Sunday (-> Fri 29th), Jan 31 a
     * Saturday (-> Fri 30th), Aug 15 a Saturday (-> Fri 14th), Feb 15 a
     * Sunday (-> Mon 16th). A day the month lacks gives nothing. */
    {"0 0 1W * *", 2026, 8, B(3)},
    {"0 0 1W * *", 2026, 2, B(2)},
    {"0 0 1W * *", 2026, 6, B(1)},
    {"0 0 31W * *", 2026, 5, B(29)},
    {"0 0 31W * *", 2026, 1, B(30)},
    {"0 0 31W * *", 2026, 4, 0},
    {"0 0 15W * *", 2026, 8, B(14)},
    {"0 0 15W * *", 2026, 2, B(16)},
    {"0 0 15W * *", 2026, 4, B(15)},
    {"0 0 29W * *", 2027, 2, 0},
    {"0 0 29W * *", 2032, 2, B(27)}, /* Sunday Feb 29 2032, the month's last day */
    /* nL and #k */
    {"0 0 * * 5L", 2026, 1, B(30)},
    {"0 0 * * 0L", 2026, 5, B(31)},
    {"0 0 * * MON#5", 2026, 6, B(29)},
    {"0 0 * * MON#5", 2026, 5, 0},
    {"0 0 * * MON#1,MON#3", 2026, 6, B(1) | B(15)},
    {"0 0 * * SUN#1,FRIL", 2026, 5, B(3) | B(29)},
    /* Feb 29 */
    {"0 0 29 2 *", 2028, 2, B(29)},
    {"0 0 29 2 *", 2100, 2, 0},
    {"0 0 29 2 *", 2000, 2, B(29)},
    {"0 0 29-31 * *", 2026, 2, 0},
    {"0 0 29-31 * *", 2026, 4, B(29) | B(30)},
};

static void test_day_masks(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(days_cases); i++) {
        const days_case_t *tc = &days_cases[i];
        sk_cron_t c = parse_ok(tc->expr, "job");
        uint32_t got = sk_cron__day_mask(&c, tc->year, tc->month);
        if (got != tc->days)
            ROW_FAIL(nfail, "\"%s\" in %" PRId64 "-%02d: %#x (want %#x)", tc->expr, tc->year,
                     tc->month, got, tc->days);
    }
    assert_int_equal(nfail, 0);
}

/* ---- parse errors ---- */

typedef struct {
    const char *expr;
    int code;
    int col;
    const char *msg; /* the whole message */
} err_case_t;

#define FIELDS_HINT "(minute hour day month weekday) or 6 (with seconds first)"

static const err_case_t err_cases[] = {
    /* field count */
    {"", SK_EPARSE, 1, "empty cron expression"},
    {"   ", SK_EPARSE, 4, "empty cron expression"},
    {"* * * *", SK_EPARSE, 8, "expected 5 fields " FIELDS_HINT ", got 4"},
    {"*", SK_EPARSE, 2, "expected 5 fields " FIELDS_HINT ", got 1"},
    {"* * * * * * *", SK_EPARSE, 13, "too many fields: expected 5 " FIELDS_HINT},
    /* out of range, every field */
    {"60 * * * * *", SK_ERANGE, 1, "second field: 60 is out of range 0-59"},
    {"61 * * * *", SK_ERANGE, 1, "minute field: 61 is out of range 0-59"},
    {"* 24 * * *", SK_ERANGE, 3, "hour field: 24 is out of range 0-23"},
    {"* * 0 * *", SK_ERANGE, 5, "day-of-month field: 0 is out of range 1-31"},
    {"* * 32 * *", SK_ERANGE, 5, "day-of-month field: 32 is out of range 1-31"},
    {"* * * 0 *", SK_ERANGE, 7, "month field: 0 is out of range 1-12"},
    {"* * * 13 *", SK_ERANGE, 7, "month field: 13 is out of range 1-12"},
    {"* * * * 8", SK_ERANGE, 9, "day-of-week field: 8 is out of range 0-7"},
    {"1-60 * * * *", SK_ERANGE, 3, "minute field: 60 is out of range 0-59"},
    {"* * * * 1-8", SK_ERANGE, 11, "day-of-week field: 8 is out of range 0-7"},
    {"99999999999 * * * *", SK_ERANGE, 1, "minute field: 99999999999 is out of range 0-59"},
    /* ranges and steps */
    {"5-1 * * * *", SK_ERANGE, 1, "minute field: range 5-1 goes backwards (write 1-5)"},
    {"1,5-1 * * * *", SK_ERANGE, 3, "minute field: range 5-1 goes backwards (write 1-5)"},
    {"* * * DEC-JAN *", SK_ERANGE, 7, "month field: range 12-1 goes backwards (write 1-12)"},
    {"*/0 * * * *", SK_ERANGE, 3, "minute field: step 0 is not allowed (use 1 or more)"},
    {"*/61 * * * *", SK_ERANGE, 3, "minute field: step 61 is larger than the range 0-59"},
    {"* */25 * * *", SK_ERANGE, 5, "hour field: step 25 is larger than the range 0-23"},
    {"* * * JAN-DEC/0 *", SK_ERANGE, 15, "month field: step 0 is not allowed (use 1 or more)"},
    {"*/ * * * *", SK_EPARSE, 3, "minute field: missing step after '/'"},
    {"*/x * * * *", SK_EPARSE, 3, "minute field: step must be a number, not 'x'"},
    {"*/5/2 * * * *", SK_EPARSE, 4, "minute field: unexpected '/'"},
    {"5- * * * *", SK_EPARSE, 3, "minute field: missing value"},
    {"1-2-3 * * * *", SK_EPARSE, 4, "minute field: unexpected '-'"},
    {"*-5 * * * *", SK_EPARSE, 2, "minute field: unexpected '-'"},
    /* lists */
    {"1,,2 * * * *", SK_EPARSE, 3, "minute field: empty item in list"},
    {"1, * * * *", SK_EPARSE, 3, "minute field: empty item in list"},
    {",1 * * * *", SK_EPARSE, 1, "minute field: empty item in list"},
    /* names */
    {"abc * * * *", SK_EPARSE, 1,
     "minute field: unexpected \"abc\" (this field takes numbers 0-59)"},
    {"* MON * * *", SK_EPARSE, 3, "hour field: unexpected \"MON\" (this field takes numbers 0-23)"},
    {"* * * FOO *", SK_EPARSE, 7, "month field: unknown name \"FOO\" (use JAN-DEC)"},
    {"* * * JANUARY *", SK_EPARSE, 7, "month field: unknown name \"JANUARY\" (use JAN-DEC)"},
    {"* * * * FOO", SK_EPARSE, 9, "day-of-week field: unknown name \"FOO\" (use SUN-SAT)"},
    {"* * * * MONDAY", SK_EPARSE, 9, "day-of-week field: unknown name \"MONDAY\" (use SUN-SAT)"},
    {"* * * * MON-FOO", SK_EPARSE, 13, "day-of-week field: unknown name \"FOO\" (use SUN-SAT)"},
    {"5x * * * *", SK_EPARSE, 2, "minute field: unexpected 'x'"},
    /* ? */
    {"? * * * *", SK_EPARSE, 1,
     "minute field: '?' is only allowed in day-of-month and day-of-week"},
    {"* * * ? *", SK_EPARSE, 7, "month field: '?' is only allowed in day-of-month and day-of-week"},
    {"* * ?5 * *", SK_EPARSE, 6, "day-of-month field: unexpected '5' after '?'"},
    /* L, W */
    {"* * L-31 * *", SK_ERANGE, 7, "day-of-month field: L-31 is out of range (L-0 to L-30)"},
    {"* * L- * *", SK_EPARSE, 7, "day-of-month field: expected a number of days after L-"},
    {"* * LX * *", SK_EPARSE, 6, "day-of-month field: unexpected 'X' after L"},
    {"* * 1-L * *", SK_EPARSE, 7,
     "day-of-month field: unexpected \"L\" (this field takes numbers 1-31)"},
    {"* * W * *", SK_EPARSE, 5, "day-of-month field: W needs a day before it, e.g. 15W"},
    {"* * 0W * *", SK_ERANGE, 5, "day-of-month field: 0 is out of range 1-31"},
    {"* * 32W * *", SK_ERANGE, 5, "day-of-month field: 32 is out of range 1-31"},
    {"* * 15Wx * *", SK_EPARSE, 8, "day-of-month field: unexpected 'x' after W"},
    {"* L * * *", SK_EPARSE, 3, "hour field: unexpected \"L\" (this field takes numbers 0-23)"},
    {"* * * * L", SK_EPARSE, 9,
     "day-of-week field: L alone is ambiguous here; write e.g. 5L or FRIL for the last Friday"},
    {"0 0 * * 5L,L", SK_EPARSE, 12,
     "day-of-week field: L alone is ambiguous here; write e.g. 5L or FRIL for the last Friday"},
    {"* * * * 8L", SK_ERANGE, 9, "day-of-week field: 8 is out of range 0-7"},
    /* # */
    {"* * * * MON#6", SK_ERANGE, 13, "day-of-week field: # must be followed by a week number 1-5"},
    {"* * * * MON#0", SK_ERANGE, 13, "day-of-week field: # must be followed by a week number 1-5"},
    {"* * * * MON#", SK_ERANGE, 13, "day-of-week field: # must be followed by a week number 1-5"},
    {"* * * * MON#11", SK_ERANGE, 13, "day-of-week field: # must be followed by a week number 1-5"},
    {"* * * * 1#2x", SK_EPARSE, 12, "day-of-week field: unexpected 'x' after #"},
    {"* * * * SUN#1,#2", SK_EPARSE, 15, "day-of-week field: unexpected '#'"},
    /* macros */
    {"@foo", SK_EPARSE, 1,
     "unknown macro \"@foo\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
     "@hourly or @reboot)"},
    {"  @daily x", SK_EPARSE, 10, "unexpected text after @daily"},
    {"@", SK_EPARSE, 1,
     "unknown macro \"@\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
     "@hourly or @reboot)"},
    /* H */
    {"H(5-1) * * * *", SK_ERANGE, 3, "minute field: range 5-1 goes backwards (write 1-5)"},
    {"H(0-29 * * * *", SK_EPARSE, 7, "minute field: expected ')' to close H("},
    {"H(0 * * * *", SK_EPARSE, 4, "minute field: expected '-' in H(low-high)"},
    {"H(0-60) * * * *", SK_ERANGE, 5, "minute field: 60 is out of range 0-59"},
    {"H/0 * * * *", SK_ERANGE, 3, "minute field: step 0 is not allowed (use 1 or more)"},
    {"H(MON-FRI) * * * *", SK_EPARSE, 3,
     "minute field: unexpected \"MON\" (this field takes numbers 0-59)"},
    {"HX * * * *", SK_EPARSE, 1, "minute field: unexpected \"HX\" (this field takes numbers 0-59)"},
    /* never fires: the day never occurs in the months given */
    {"0 0 30 2 *", SK_ENEVER, 5,
     "day-of-month field: this day never occurs in the months given, so the expression never "
     "fires"},
    {"0 0 31 4,6,9,11 *", SK_ENEVER, 5,
     "day-of-month field: this day never occurs in the months given, so the expression never "
     "fires"},
    {"0 0 30,31 FEB *", SK_ENEVER, 5,
     "day-of-month field: this day never occurs in the months given, so the expression never "
     "fires"},
    {"0 0 L-30 2 *", SK_ENEVER, 5,
     "day-of-month field: this day never occurs in the months given, so the expression never "
     "fires"},
    {"0 0 31W 2 *", SK_ENEVER, 5,
     "day-of-month field: this day never occurs in the months given, so the expression never "
     "fires"},
    {"0 0 0 31 4 ?", SK_ENEVER, 7,
     "day-of-month field: this day never occurs in the months given, so the expression never "
     "fires"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(err_cases); i++) {
        const err_case_t *tc = &err_cases[i];
        sk_cron_t c, before;
        memset(&c, 0xa5, sizeof(c));
        before = c;
        sk_err_t err;
        sk_err_clear(&err);
        err.col = 99; /* a stale place must not survive */
        int r = sk_cron_parse(tc->expr, "job", &c, &err);
        if (r != tc->code || err.code != tc->code || err.col != tc->col ||
            strcmp(err.msg, tc->msg) != 0 || memcmp(&c, &before, sizeof(c)) != 0)
            ROW_FAIL(nfail, "\"%s\": r=%d col=%d (want %d col %d) %s\n  msg:  %s\n  want: %s",
                     tc->expr, r, err.col, tc->code, tc->col,
                     memcmp(&c, &before, sizeof(c)) ? "OUTPUT WRITTEN" : "", err.msg, tc->msg);
    }
    assert_int_equal(nfail, 0);
}

static void test_parse_odd_input(void **state)
{
    (void)state;
    sk_cron_t c;
    sk_err_t err;
    sk_err_clear(&err);
    assert_int_equal(sk_cron_parse(NULL, "job", &c, &err), SK_EPARSE);
    assert_int_equal(sk_cron_parse("61 * * * *", "job", &c, NULL), SK_ERANGE);
    /* A byte that is not ASCII: an error at its column, no crash. */
    sk_err_clear(&err);
    assert_int_equal(sk_cron_parse("* \xc3\xa9 * * *", "job", &c, &err), SK_EPARSE);
    assert_int_equal(err.col, 3);
    /* A field longer than the parser's buffer. */
    char longf[600];
    memset(longf, '1', 300);
    sk_strlcpy(longf + 300, " * * * *", sizeof(longf) - 300);
    sk_err_clear(&err);
    assert_int_equal(sk_cron_parse(longf, "job", &c, &err), SK_EPARSE);
    assert_int_equal(err.col, 1);
    assert_string_equal(err.msg, "minute field: field is too long");
    /* A long list of valid items is fine. */
    char list[400] = "0";
    for (int m = 1; m < 60; m++) {
        char item[8];
        sk_snprintf(item, sizeof(item), ",%d", m);
        size_t n = strlen(list);
        sk_strlcpy(list + n, item, sizeof(list) - n);
    }
    size_t n = strlen(list);
    sk_strlcpy(list + n, " * * * *", sizeof(list) - n);
    sk_cron_t all = parse_ok(list, "job"), star = parse_ok("0-59 * * * *", "job");
    assert_true(sk_cron_equal(&all, &star));
}

/* ---- Jenkins H ---- */

static int count_bits(uint64_t m)
{
    return __builtin_popcountll(m);
}

static void test_hash_stable_and_spread(void **state)
{
    (void)state;
    /* The same name gives the same value, call after call. */
    sk_cron_t a = parse_ok("H H * * *", "backup"), b = parse_ok("H H * * *", "backup");
    assert_true(sk_cron_equal(&a, &b));
    assert_int_equal(count_bits(a.min), 1);
    assert_int_equal(count_bits(a.hour), 1);
    sk_cron_t lower = parse_ok("h h * * *", "backup");
    assert_true(sk_cron_equal(&a, &lower));
    /* NULL is the empty name. */
    sk_cron_t n1 = parse_ok("H * * * *", NULL), n2 = parse_ok("H * * * *", "");
    assert_true(sk_cron_equal(&n1, &n2));

    /* Different names spread out; each value stays in its range. */
    uint64_t mins = 0, hours = 0, limited = 0, doms = 0, dows = 0;
    int others = 0;
    for (int i = 0; i < 100; i++) {
        char name[32];
        sk_snprintf(name, sizeof(name), "job-%d", i);
        sk_cron_t c = parse_ok("H H * * *", name);
        sk_cron_t again = parse_ok("H H * * *", name);
        assert_true(sk_cron_equal(&c, &again));
        mins |= c.min;
        hours |= c.hour;
        if (!sk_cron_equal(&c, &a))
            others++;
        sk_cron_t r = parse_ok("H(0-29) H(9-17) * * *", name);
        assert_int_equal(count_bits(r.min), 1);
        assert_true(r.min < B(30));
        assert_int_equal(count_bits(r.hour), 1);
        assert_true(r.hour >= B(9) && r.hour <= B(17));
        limited |= r.min;
        sk_cron_t d = parse_ok("0 0 H * H(MON-FRI)", name);
        assert_int_equal(count_bits(d.dom), 1);
        assert_true(d.dom >= B(1) && d.dom <= B(28)); /* H days exist in every month */
        assert_int_equal(count_bits(d.dow), 1);
        assert_true(d.dow >= B(1) && d.dow <= B(5));
        doms |= d.dom;
        dows |= d.dow;
    }
    assert_true(others >= 95);
    assert_true(count_bits(mins) >= 30);
    assert_true(count_bits(hours) >= 12);
    assert_true(count_bits(limited) >= 15);
    assert_true(count_bits(doms) >= 15);
    assert_int_equal(dows, B(1) | B(2) | B(3) | B(4) | B(5));
}

static void test_hash_steps(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        char name[32];
        sk_snprintf(name, sizeof(name), "job-%d", i);
        /* H/15: four minutes, 15 apart, the first below 15. */
        sk_cron_t c = parse_ok("H/15 * * * *", name);
        int first = __builtin_ctzll(c.min);
        assert_true(first < 15);
        assert_true(c.min == (B(first) | B(first + 15) | B(first + 30) | B(first + 45)));
        /* H(0-29)/10: three minutes within 0-29. */
        c = parse_ok("H(0-29)/10 * * * *", name);
        first = __builtin_ctzll(c.min);
        assert_true(first < 10);
        assert_true(c.min == (B(first) | B(first + 10) | B(first + 20)));
        /* Hours every 6 from a hashed start. */
        c = parse_ok("0 H/6 * * *", name);
        assert_int_equal(count_bits(c.hour), 4);
    }
}

/* A step wider than H(low-high) must still leave one value in the range
 * (it used to start past the range and leave the field empty). */
static void test_hash_step_wider_than_range_keeps_a_value(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        char name[32];
        sk_snprintf(name, sizeof(name), "job-%d", i);
        sk_cron_t c = parse_ok("H(0-5)/30 * * * *", name);
        assert_int_equal(count_bits(c.min), 1);
        assert_true(c.min < B(6));
    }
}

/* ---- format and round trips ---- */

typedef struct {
    const char *expr;
    const char *text;
} fmt_case_t;

static const fmt_case_t fmt_cases[] = {
    {"*/15 * * * *", "*/15 * * * *"},
    {"0 0 * * 7", "0 0 * * 0"},
    {"0 0 ? * mon-fri", "0 0 * * 1-5"},
    {"0 0 1 jan,JUL *", "0 0 1 1,7 *"},
    {"5/10 * * * *", "5,15,25,35,45,55 * * * *"},
    {"10-50/7 * * * *", "10,17,24,31,38,45 * * * *"},
    {"0,1,2,5 * * * *", "0-2,5 * * * *"},
    {"0,1 * * * *", "0,1 * * * *"},
    {"*/30,5 * * * *", "*/30,5 * * * *"},
    {"0 0 L,15W,1 * FRIL,MON#2", "0 0 1,L,15W * MON#2,FRIL"},
    {"0 0 L-3,LW * *", "0 0 L-3,LW * *"},
    {"0 0 * * 5L,1", "0 0 * * 1,FRIL"},
    {"30 0 12 * * *", "30 0 12 * * *"},
    {"*/10 * * * * *", "*/10 * * * * *"},
    {"@daily", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@reboot", "@reboot"},
    {"  0   0\t1 * *  ", "0 0 1 * *"},
};

static void test_format(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(fmt_cases); i++) {
        sk_cron_t c = parse_ok(fmt_cases[i].expr, "job");
        char buf[256];
        sk_cron_format(&c, buf, sizeof(buf));
        if (strcmp(buf, fmt_cases[i].text) != 0)
            ROW_FAIL(nfail, "\"%s\" -> \"%s\" (want \"%s\")", fmt_cases[i].expr, buf,
                     fmt_cases[i].text);
    }
    /* H shows its resolved value. */
    sk_cron_t h = parse_ok("H H * * *", "backup");
    char buf[64], want[64];
    sk_cron_format(&h, buf, sizeof(buf));
    sk_snprintf(want, sizeof(want), "%d %d * * *", __builtin_ctzll(h.min), __builtin_ctz(h.hour));
    assert_string_equal(buf, want);
    /* A short buffer truncates and terminates. */
    char small[6];
    sk_cron_t c = parse_ok("*/15 * * * *", "job");
    sk_cron_format(&c, small, sizeof(small));
    assert_string_equal(small, "*/15 ");
    assert_int_equal(nfail, 0);
}

static const char *const round_trip_exprs[] = {
    "* * * * *",
    "*/15 * * * *",
    "10-50/7 * * * *",
    "5/10 * * * *",
    "0-2,58 * * * *",
    "1-3,*/30 * * * *",
    "0 */6 * * *",
    "0 9-17/4 * * 1-5",
    "0 0 */10 * *",
    "0 0 1 */3 *",
    "0 0 1 JAN-MAR *",
    "0 0 * * sun,sat",
    "0 0 * * 7",
    "0 0 * * 5-7",
    "0 0 * * */2",
    "0 0 ? * MON",
    "0 0 1 * ?",
    "0 0 L * *",
    "0 0 L-3 * *",
    "0 0 LW * *",
    "0 0 15W * *",
    "0 0 1W,31W * *",
    "0 0 * * 5L",
    "0 0 * * FRIL",
    "0 0 * * MON#2",
    "0 0 * * mon#1,FRI#5",
    "0 0 1 * MON",
    "0 0 13 * 5",
    "0 0 L * 1",
    "0 0 */2 * MON",
    "0 0 29 2 *",
    "0 0 29 2 MON",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
    "@reboot",
    "*/20 * * * * *",
    "30 0 12 * * *",
    "0,59 59 23 31 12 *",
    "*/30 30 1 * * *",
    "0/30 30 1 * * *",
    "H H * * *",
    "H/15 * * * *",
    "H(0-29) H(9-17) * * *",
    "0 0 H * H(MON-FRI)",
    "*/7 */5 */3 */2 */4",
    "0 0 1-31/2 * *",
    "0 0 ? * *",
    "0 0 * * ?",
    "0 0 1,L,15W * MON#2,FRIL",
};

static int round_trip(const char *expr, const char *name)
{
    sk_cron_t a, b;
    char buf[512];
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_cron_parse(expr, name, &a, &err) != 0) {
        print_error("\"%s\" does not parse: %s\n", expr, err.msg);
        return 1;
    }
    sk_cron_format(&a, buf, sizeof(buf));
    /* The formatted text has no H left: any name gives the same value. */
    if (sk_cron_parse(buf, "another name", &b, &err) != 0) {
        print_error("\"%s\" -> \"%s\" does not parse: %s\n", expr, buf, err.msg);
        return 1;
    }
    if (!sk_cron_equal(&a, &b)) {
        print_error("\"%s\" -> \"%s\" parses to another value\n", expr, buf);
        return 1;
    }
    return 0;
}

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(round_trip_exprs); i++)
        nfail += round_trip(round_trip_exprs[i], "job");
    for (size_t i = 0; i < SK_ARRAY_LEN(field_cases); i++)
        nfail += round_trip(field_cases[i].expr, "job");
    for (size_t i = 0; i < SK_ARRAY_LEN(days_cases); i++)
        nfail += round_trip(days_cases[i].expr, "job");
    /* Every single value and every step of every field, six fields. */
    static const int lo[] = {0, 0, 0, 1, 1, 0}, hi[] = {59, 59, 23, 31, 12, 7};
    static const int star_len[] = {60, 60, 24, 31, 12, 7}; /* day-of-week: 0-6 */
    for (int f = 0; f < 6; f++) {
        for (int v = lo[f]; v <= hi[f] + star_len[f]; v++) {
            char item[16], expr[64];
            if (v <= hi[f])
                sk_snprintf(item, sizeof(item), "%d", v);
            else
                sk_snprintf(item, sizeof(item), "*/%d", v - hi[f]);
            int k = 0;
            for (int j = 0; j < 6; j++)
                k += sk_snprintf(expr + k, sizeof(expr) - (size_t)k, "%s%s", j ? " " : "",
                                 j == f ? item : "*");
            nfail += round_trip(expr, "job");
        }
    }
    assert_int_equal(nfail, 0);
}

/* ---- explain ---- */

static const fmt_case_t explain_cases[] = {
    {"* * * * *", "Every minute"},
    {"*/15 * * * *", "Every 15 minutes"},
    {"0 * * * *", "Every hour"},
    {"@hourly", "Every hour"},
    {"5 * * * *", "At 5 minutes past every hour"},
    {"1 * * * *", "At 1 minute past every hour"},
    {"0 */2 * * *", "Every 2 hours"},
    {"15 */2 * * *", "At 15 minutes past the hour, every 2 hours"},
    {"0 9 * * *", "At 09:00 every day"},
    {"@daily", "At 00:00 every day"},
    {"30 2 * * 1-5", "At 02:30 on Monday to Friday"},
    {"0 22 * * MON-FRI", "At 22:00 on Monday to Friday"},
    {"0 12 * * 1,3,5", "At 12:00 on Monday, Wednesday and Friday"},
    {"0 0 * * 0,6", "At 00:00 on Sunday and Saturday"},
    {"@weekly", "At 00:00 on Sunday"},
    {"0 8-10,14 * * *", "At 08:00, 09:00, 10:00 and 14:00 every day"},
    {"0 9-17 * * 1-5", "Every hour, between 09:00 and 17:59 on Monday to Friday"},
    {"0 0 1 1 *", "At 00:00 on day 1 of the month in January"},
    {"@yearly", "At 00:00 on day 1 of the month in January"},
    {"@monthly", "At 00:00 on day 1 of the month"},
    {"0 0 1,15 * *", "At 00:00 on days 1 and 15 of the month"},
    {"0 4 8-14 * *", "At 04:00 on days 8 to 14 of the month"},
    {"5 0 * 8 *", "At 00:05 in August"},
    {"0 0 1 JAN,JUL *", "At 00:00 on day 1 of the month in January and July"},
    {"0 0 L * *", "At 00:00 on the last day of the month"},
    {"0 0 LW * *", "At 00:00 on the last weekday of the month"},
    {"0 0 15W * *", "At 00:00 on the weekday nearest day 15 of the month"},
    {"0 0 * * FRIL", "At 00:00 on the last Friday of the month"},
    {"0 0 * * MON#2", "At 00:00 on the second Monday of the month"},
    {"0 0 1 * MON", "At 00:00 on day 1 of the month or on Monday"},
    {"*/10 * * * * *", "Every 10 seconds"},
    {"30 0 12 * * *", "At 12:00:30 every day"},
    {"@reboot", "Once per boot of the machine"},
};

static void test_explain(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(explain_cases); i++) {
        sk_cron_t c = parse_ok(explain_cases[i].expr, "job");
        char buf[512];
        sk_cron_explain(&c, buf, sizeof(buf));
        if (strcmp(buf, explain_cases[i].text) != 0)
            ROW_FAIL(nfail, "\"%s\": \"%s\"\n  want \"%s\"", explain_cases[i].expr, buf,
                     explain_cases[i].text);
    }
    /* Long explanations truncate within the buffer. */
    sk_cron_t c = parse_ok("1,3,5,7,9,11,13,15,17,19 * 1,3,5,7,9 * 1,3,5", "job");
    char small[16];
    sk_cron_explain(&c, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(nfail, 0);
}

/* ---- next fire ---- */

static void test_next_never(void **state)
{
    const sk_tz_t *utc = zone(state, "UTC");
    int64_t t = -42;
    sk_cron_t reboot = parse_ok("@reboot", "job");
    assert_int_equal(sk_cron_next(&reboot, utc, 0, &t), SK_ENEVER);
    assert_true(t == -42);
    /* Feb 29 after 9996: the next one would be in 10000, past the search. */
    sk_cron_t feb29 = parse_ok("0 0 29 2 *", "job");
    assert_int_equal(sk_cron_next(&feb29, utc, at("9996-03-01T00:00:00Z"), &t), SK_ENEVER);
    assert_true(t == -42);
    assert_int_equal(sk_cron_next(&feb29, utc, at("9995-03-01T00:00:00Z"), &t), 0);
    assert_true(t == at("9996-02-29T00:00:00Z"));
    /* The last minute of 9999 is found; nothing after it. */
    sk_cron_t every = parse_ok("* * * * *", "job");
    assert_int_equal(sk_cron_next(&every, utc, at("9999-12-31T23:58:00Z"), &t), 0);
    assert_true(t == at("9999-12-31T23:59:00Z"));
    t = -42;
    assert_int_equal(sk_cron_next(&every, utc, at("9999-12-31T23:59:00Z"), &t), SK_ENEVER);
    assert_int_equal(sk_cron_next(&every, utc, INT64_MAX, &t), SK_ENEVER);
    assert_true(t == -42);
    /* Far in the past, and from the most negative instant: no overflow. */
    sk_cron_t daily = parse_ok("0 0 * * *", "job");
    assert_int_equal(sk_cron_next(&daily, utc, at("1900-01-01T00:00:00Z"), &t), 0);
    assert_true(t == at("1900-01-02T00:00:00Z"));
    assert_int_equal(sk_cron_next(&daily, zone(state, "America/New_York"), INT64_MIN, &t), 0);
    assert_int_equal(sk_cron_next(&every, zone(state, "Australia/Lord_Howe"), INT64_MIN, &t), 0);
}

/* Fires in one zone over a window, for the DST regression tests below. */
static int fires(void **state, const char *expr, const char *zname, const char *from,
                 const char *to, int64_t *out, int max)
{
    sk_cron_t c = parse_ok(expr, "job");
    const sk_tz_t *tz = zone(state, zname);
    int n = 0;
    int64_t t = at(from);
    while (n < max && sk_cron_next(&c, tz, t, &t) == 0 && t < at(to))
        out[n++] = t;
    return n;
}

/* A fixed-time job in the repeated hour fires in the first pass only. */
static void test_dst_fold_fires_once(void **state)
{
    int64_t f[8];
    int n = fires(state, "30 1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00",
                  "2026-11-01T23:00:00-05:00", f, 8);
    assert_int_equal(n, 1);
    assert_true(f[0] == at("2026-11-01T01:30:00-04:00"));
    n = fires(state, "45 1 * * *", "Australia/Lord_Howe", "2026-04-05T00:00:00+11:00",
              "2026-04-05T23:00:00+10:30", f, 8);
    assert_int_equal(n, 1);
    assert_true(f[0] == at("2026-04-05T01:45:00+11:00"));
}

/* Fixed times inside a gap fire once, together, at the gap's end. */
static void test_dst_gap_fires_once_at_gap_end(void **state)
{
    int64_t f[8];
    int n = fires(state, "0,15,30,45 2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00",
                  "2026-03-08T23:00:00-04:00", f, 8);
    assert_int_equal(n, 1);
    assert_true(f[0] == at("2026-03-08T03:00:00-04:00"));
    n = fires(state, "0,10,20 2 * * *", "Australia/Lord_Howe", "2026-10-04T00:00:00+10:30",
              "2026-10-04T23:00:00+11:00", f, 8);
    assert_int_equal(n, 1);
    assert_true(f[0] == at("2026-10-04T02:30:00+11:00"));
}

/* A wild job fires in both passes of a repeated hour... */
static void test_dst_wild_fires_in_both_passes(void **state)
{
    int64_t f[8];
    int n = fires(state, "30 * * * *", "Europe/Berlin", "2026-10-25T01:00:00+02:00",
                  "2026-10-25T03:00:00+01:00", f, 8);
    assert_int_equal(n, 3);
    assert_true(f[0] == at("2026-10-25T01:30:00+02:00"));
    assert_true(f[1] == at("2026-10-25T02:30:00+02:00"));
    assert_true(f[2] == at("2026-10-25T02:30:00+01:00"));
}

/* ...and never at a skipped time. */
static void test_dst_wild_skips_gap(void **state)
{
    int64_t f[8];
    int n = fires(state, "*/20 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00",
                  "2026-03-29T23:00:00+02:00", f, 8);
    assert_int_equal(n, 0);
}

/* Over a year in each zone: fires strictly increase; each one's wall time
 * matches the expression, or (fixed-time only) it is the end of a gap; a
 * fixed-time job never fires twice at the same wall time. */
static void test_next_properties_over_a_year(void **state)
{
    static const char *const zones[] = {"America/New_York",    "Europe/London",  "Europe/Berlin",
                                        "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"};
    static const char *const exprs[] = {"30 2 * * *",      "*/30 1-2 * * *", "0,30 * * * *",
                                        "15 1,2 * * 0",    "0 0 L * *",      "H H * * *",
                                        "*/20 30 2 * * *", "45 1 * * *",     "0 2-3 * * *"};
    for (size_t z = 0; z < SK_ARRAY_LEN(zones); z++) {
        const sk_tz_t *tz = zone(state, zones[z]);
        for (size_t e = 0; e < SK_ARRAY_LEN(exprs); e++) {
            sk_cron_t c = parse_ok(exprs[e], "job");
            bool wild = c.flags & SK_CRON_WILD;
            int64_t t = at("2026-01-01T00:00:00Z"), end = at("2027-01-01T00:00:00Z");
            int64_t prev_local = INT64_MIN;
            int n = 0;
            while (sk_cron_next(&c, tz, t, &t) == 0 && t < end) {
                sk_civil_t lc;
                int32_t off;
                sk_tz_to_civil(tz, t, &lc, &off);
                bool match = (c.sec & B(lc.sec)) && (c.min & B(lc.min)) && (c.hour & B(lc.hour)) &&
                             (c.mon & B(lc.month)) &&
                             (sk_cron__day_mask(&c, lc.year, lc.month) & B(lc.day));
                sk_tz_span_t sp;
                sk_tz_span_at(tz, t, &sp);
                bool gap_end = sp.start == t && sk_tz_offset_at(tz, t - 1) < sp.utoff;
                if (!match && (wild || !gap_end))
                    fail_msg("%s in %s: fire %" PRId64 " does not match", exprs[e], zones[z], t);
                int64_t local = t + off;
                if (!wild && local <= prev_local)
                    fail_msg("%s in %s: wall time repeats at %" PRId64, exprs[e], zones[z], t);
                prev_local = local;
                assert_true(++n < 20000);
            }
            assert_true(n > 0);
        }
    }
}

/* ---- golden tables ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits line on tabs in place; returns the number of columns. */
static int split_tabs(char *line, char **cols, int max)
{
    int n = 0;
    cols[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == '\t') {
            *p = '\0';
            cols[n++] = p + 1;
        }
    }
    return n;
}

static int golden_row(void **state, const char *path, int lineno, char **cols, int ncols)
{
    const char *expr = cols[0], *zname = cols[1], *after = cols[2];
    if (ncols < 4) {
        print_error("%s:%d: a row needs expr, zone, after and at least one fire\n", path, lineno);
        return 1;
    }
    sk_cron_t c;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_cron_parse(expr, "golden", &c, &err) != 0) {
        print_error("%s:%d: \"%s\": %s\n", path, lineno, expr, err.msg);
        return 1;
    }
    const sk_tz_t *tz = NULL;
    if (sk_tz_cache_get(*state, zname, &tz, &err) != 0) {
        print_error("%s:%d: %s\n", path, lineno, err.msg);
        return 1;
    }
    int64_t t;
    if (sk_tz_parse_iso(tz, after, &t, &err) != 0) {
        print_error("%s:%d: after: %s\n", path, lineno, err.msg);
        return 1;
    }
    int bad = round_trip(expr, "golden");
    for (int i = 3; i < ncols; i++) {
        int64_t next = 0;
        int r = sk_cron_next(&c, tz, t, &next);
        char got[64] = "(none)";
        if (r == 0)
            sk_tz_format_iso(tz, next, got, sizeof(got));
        if (r != 0 || strcmp(got, cols[i]) != 0) {
            print_error("%s:%d: \"%s\" in %s after %s: fire %d is %s, want %s\n", path, lineno,
                        expr, zname, after, i - 2, got, cols[i]);
            return 1;
        }
        t = next;
    }
    return bad;
}

static void test_golden_tables(void **state)
{
    DIR *dir = opendir(GOLDEN_DIR);
    if (!dir)
        fail_msg("cannot open %s (run the tests from the repository root)", GOLDEN_DIR);
    char *names[64];
    size_t nnames = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tsv") == 0 && nnames < 64)
            names[nnames++] = sk_xstrdup(de->d_name);
    }
    closedir(dir);
    qsort(names, nnames, sizeof(names[0]), cmp_names);

    int nfail = 0, rows = 0;
    for (size_t f = 0; f < nnames; f++) {
        char path[512];
        sk_snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, names[f]);
        FILE *fp = fopen(path, "r");
        if (!fp)
            fail_msg("cannot open %s", path);
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int lineno = 0;
        while ((len = getline(&line, &cap, fp)) >= 0) {
            lineno++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (len == 0 || line[0] == '#')
                continue;
            char *cols[32];
            int ncols = split_tabs(line, cols, 32);
            nfail += golden_row(state, path, lineno, cols, ncols);
            rows++;
        }
        free(line);
        fclose(fp);
        free(names[f]);
    }
    print_message("golden tables: %zu files, %d rows\n", nnames, rows);
    assert_true(nnames >= 3);
    assert_true(rows >= 100);
    assert_int_equal(nfail, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_equivalent_spellings),
        cmocka_unit_test(test_day_masks),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_odd_input),
        cmocka_unit_test(test_hash_stable_and_spread),
        cmocka_unit_test(test_hash_steps),
        cmocka_unit_test(test_hash_step_wider_than_range_keeps_a_value),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_next_never),
        cmocka_unit_test(test_dst_fold_fires_once),
        cmocka_unit_test(test_dst_gap_fires_once_at_gap_end),
        cmocka_unit_test(test_dst_wild_fires_in_both_passes),
        cmocka_unit_test(test_dst_wild_skips_gap),
        cmocka_unit_test(test_next_properties_over_a_year),
        cmocka_unit_test(test_golden_tables),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
