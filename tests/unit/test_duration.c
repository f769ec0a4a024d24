/*
 * Durations (src/common/duration.c): every unit, combinations, whitespace,
 * every error with its code and column, the "output untouched on failure"
 * contract, and sk_duration_format with parse round trips. Table-driven: a
 * failing row is printed with its text.
 */
#include "common/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)
/* The documented cap: 100 years of 366 days. */
#define MAX_MS (100LL * 366 * DAY)

/* Table rows report every mismatch, then the test fails once at its end. */
#define ROW_FAIL(nfail, ...) (print_error(__VA_ARGS__), print_error("\n"), (nfail)++)

/* Written by each parse; a failed parse must leave it alone. */
#define UNTOUCHED ((int64_t)0x5a5a5a5a5a5a5a5aLL)

typedef struct {
    const char *text;
    int64_t ms;
} ok_case_t;

static const ok_case_t ok_cases[] = {
    /* every unit on its own */
    {"0ms", 0},
    {"1ms", 1},
    {"500ms", 500},
    {"0s", 0},
    {"1s", SEC},
    {"90s", 90 * SEC},
    {"1m", MIN},
    {"10m", 10 * MIN},
    {"1h", HOUR},
    {"36h", 36 * HOUR},
    {"1d", DAY},
    {"2d", 2 * DAY},
    {"1w", WEEK},
    {"3w", 3 * WEEK},
    /* combinations, largest unit first, gaps allowed */
    {"1h30m", HOUR + 30 * MIN},
    {"1m5s", MIN + 5 * SEC},
    {"1m1ms", MIN + 1},
    {"1s500ms", 1500},
    {"1d12h", DAY + 12 * HOUR},
    {"1w2d3h4m5s6ms", WEEK + 2 * DAY + 3 * HOUR + 4 * MIN + 5 * SEC + 6},
    {"2w1s", 2 * WEEK + SEC},
    {"1h0m", HOUR},
    {"0h0m0s", 0},
    /* leading zeros */
    {"007s", 7 * SEC},
    /* numbers bigger than the next unit are fine */
    {"90m", 90 * MIN},
    {"1500ms", 1500},
    /* whitespace around the text (space, tab, newline, CR) */
    {" 5s", 5 * SEC},
    {"5s ", 5 * SEC},
    {"\t1h30m\n", HOUR + 30 * MIN},
    {"\r\n 10m \t", 10 * MIN},
    /* the cap itself, written three ways */
    {"36600d", MAX_MS},
    {"878400h", MAX_MS},
    {"5228w4d", MAX_MS},
};

static void test_parse_valid(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(ok_cases); i++) {
        const ok_case_t *tc = &ok_cases[i];
        sk_err_t err;
        sk_err_clear(&err);
        int64_t ms = UNTOUCHED;
        int r = sk_duration_parse(tc->text, &ms, &err);
        if (r != 0 || ms != tc->ms)
            ROW_FAIL(nfail, "\"%s\": r=%d ms=%" PRId64 " (want %" PRId64 "), err: %s", tc->text, r,
                     ms, tc->ms, err.msg);
    }
    assert_int_equal(nfail, 0);
}

static void test_parse_accepts_null_err(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(sk_duration_parse("2h", &ms, NULL), 0);
    assert_true(ms == 2 * HOUR);
    assert_int_equal(sk_duration_parse("2x", &ms, NULL), SK_EPARSE);
    assert_true(ms == 2 * HOUR);
}

typedef struct {
    const char *text;
    int code;
    int col;         /* 1-based column of the wrong character */
    const char *msg; /* a piece of the message that says what is wrong */
} err_case_t;

static const err_case_t err_cases[] = {
    /* empty: the column is where a number was expected */
    {"", SK_EPARSE, 1, "empty duration"},
    {"   ", SK_EPARSE, 4, "empty duration"},
    {"\t\n", SK_EPARSE, 3, "empty duration"},
    /* negative */
    {"-5s", SK_EPARSE, 1, "cannot be negative"},
    {" -1h", SK_EPARSE, 2, "cannot be negative"},
    {"1h-5m", SK_EPARSE, 3, "cannot be negative"},
    /* not a number where one is needed */
    {"s", SK_EPARSE, 1, "expected a number at 's'"},
    {"h1", SK_EPARSE, 1, "expected a number at 'h'"},
    {"+5s", SK_EPARSE, 1, "expected a number at '+'"},
    {"1h,30m", SK_EPARSE, 3, "expected a number at ','"},
    /* missing unit: the column is just after the number */
    {"10", SK_EPARSE, 3, "missing unit after 10"},
    {"1h30", SK_EPARSE, 5, "missing unit after 30"},
    {"5 ", SK_EPARSE, 2, "missing unit after 5"},
    {"5 s", SK_EPARSE, 2, "missing unit after 5"},
    /* unknown unit: the column of its first letter */
    {"5y", SK_EPARSE, 2, "unknown unit \"y\""},
    {"5sec", SK_EPARSE, 2, "unknown unit \"sec\""},
    {"1h30min", SK_EPARSE, 5, "unknown unit \"min\""},
    {"2H", SK_EPARSE, 2, "unknown unit \"H\""}, /* units are lower case */
    {"5MS", SK_EPARSE, 2, "unknown unit \"MS\""},
    {"3us", SK_EPARSE, 2, "unknown unit \"us\""},
    /* fractions */
    {"1.5h", SK_EPARSE, 2, "fractions are not allowed"},
    {"1h0.5m", SK_EPARSE, 4, "fractions are not allowed"},
    /* other characters after a number */
    {"5%", SK_EPARSE, 2, "unexpected '%' after 5"},
    {"5_s", SK_EPARSE, 2, "unexpected '_' after 5"},
    /* wrong order and repeated units: the column of the offending unit */
    {"30m1h", SK_EPARSE, 5, "unit \"h\" must come before \"m\""},
    {"1s1m", SK_EPARSE, 4, "unit \"m\" must come before \"s\""},
    {"1ms1s", SK_EPARSE, 5, "unit \"s\" must come before \"ms\""},
    {"1h1h", SK_EPARSE, 4, "unit \"h\" must come before \"h\""},
    {"1m2s3s", SK_EPARSE, 6, "each once"},
    /* space inside: the column of the space */
    {"1h 30m", SK_EPARSE, 3, "unexpected space inside"},
    {"1h\t30m", SK_EPARSE, 3, "unexpected space inside"},
    {" 1h  30m ", SK_EPARSE, 4, "unexpected space inside"},
    /* overflow: the column of the number */
    {"99999999999999999999999s", SK_ERANGE, 1, "too large"},
    {"1h99999999999999999999999ms", SK_ERANGE, 3, "too large"},
    {"36600d1ms", SK_ERANGE, 7, "at most 100 years"},
    {"36601d", SK_ERANGE, 1, "at most 100 years"},
    {"5229w", SK_ERANGE, 1, "at most 100 years"},
    {"3162240000001ms", SK_ERANGE, 1, "at most 100 years"},
    {"9223372036854775807ms", SK_ERANGE, 1, "too large"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(err_cases); i++) {
        const err_case_t *tc = &err_cases[i];
        sk_err_t err;
        sk_err_clear(&err);
        err.col = 99; /* a stale place from an earlier error must not survive */
        int64_t ms = UNTOUCHED;
        int r = sk_duration_parse(tc->text, &ms, &err);
        if (r != tc->code || err.code != tc->code || err.col != tc->col ||
            !strstr(err.msg, tc->msg) || ms != UNTOUCHED)
            ROW_FAIL(nfail, "\"%s\": r=%d code=%d col=%d (want %d, col %d, \"%s\") ms %s; msg: %s",
                     tc->text, r, err.code, err.col, tc->code, tc->col, tc->msg,
                     ms == UNTOUCHED ? "untouched" : "WRITTEN", err.msg);
    }
    assert_int_equal(nfail, 0);
}

/* The message quotes the text the user wrote, so they can find it. */
static void test_error_message_quotes_text(void **state)
{
    (void)state;
    sk_err_t err;
    int64_t ms = UNTOUCHED;
    sk_err_clear(&err);
    assert_int_equal(sk_duration_parse("10x", &ms, &err), SK_EPARSE);
    assert_string_equal(err.msg, "duration \"10x\": unknown unit \"x\" (use ms, s, m, h, d or w)");
    sk_err_clear(&err);
    assert_int_equal(sk_duration_parse("90", &ms, &err), SK_EPARSE);
    assert_string_equal(err.msg,
                        "duration \"90\": missing unit after 90 (use ms, s, m, h, d or w)");
    assert_true(ms == UNTOUCHED);
}

static void test_parse_null_text(void **state)
{
    (void)state;
    sk_err_t err;
    sk_err_clear(&err);
    int64_t ms = UNTOUCHED;
    assert_int_equal(sk_duration_parse(NULL, &ms, &err), SK_EPARSE);
    assert_int_equal(err.code, SK_EPARSE);
    assert_true(ms == UNTOUCHED);
}

typedef struct {
    int64_t ms;
    const char *text;
} fmt_case_t;

static const fmt_case_t fmt_cases[] = {
    {0, "0s"},
    {1, "1ms"},
    {999, "999ms"},
    {SEC, "1s"},
    {1500, "1s500ms"},
    {59 * SEC, "59s"},
    {MIN, "1m"},
    {90 * SEC, "1m30s"},
    {HOUR, "1h"},
    {HOUR + 30 * MIN, "1h30m"},
    {HOUR + 1, "1h1ms"},
    {DAY, "1d"},
    {DAY + HOUR + MIN + SEC + 1, "1d1h1m1s1ms"},
    {6 * DAY, "6d"},
    {WEEK, "1w"},
    {2 * WEEK, "2w"},
    /* weeks only when exact: "8d" reads better than "1w1d" */
    {8 * DAY, "8d"},
    {WEEK + HOUR, "7d1h"},
    {10 * DAY, "10d"},
    {MAX_MS, "36600d"},
    {-1500, "-1s500ms"},
    {-HOUR, "-1h"},
};

static void test_format(void **state)
{
    (void)state;
    int nfail = 0;
    for (size_t i = 0; i < SK_ARRAY_LEN(fmt_cases); i++) {
        char buf[64];
        memset(buf, 'x', sizeof(buf));
        sk_duration_format(fmt_cases[i].ms, buf, sizeof(buf));
        if (strcmp(buf, fmt_cases[i].text) != 0)
            ROW_FAIL(nfail, "%" PRId64 ": \"%s\" (want \"%s\")", fmt_cases[i].ms, buf,
                     fmt_cases[i].text);
    }
    assert_int_equal(nfail, 0);
}

/* Every value in range formats to text that parses back to it. */
static void test_format_parse_round_trip(void **state)
{
    (void)state;
    int nfail = 0;
    static const int64_t parts[] = {0,         1,   999,     SEC,  59 * SEC,  MIN,        HOUR,
                                    23 * HOUR, DAY, 6 * DAY, WEEK, 52 * WEEK, 1000 * WEEK};
    static const int64_t edges[] = {MAX_MS, MAX_MS - 1, MAX_MS - DAY, 1, 86399999, 604800001};
    for (size_t i = 0; i < SK_ARRAY_LEN(parts); i++) {
        for (size_t j = 0; j < SK_ARRAY_LEN(parts); j++) {
            for (int64_t k = 0; k < 3; k++) {
                int64_t ms = parts[i] + parts[j] * k;
                char buf[64];
                int64_t back = -1;
                sk_duration_format(ms, buf, sizeof(buf));
                if (sk_duration_parse(buf, &back, NULL) != 0 || back != ms)
                    ROW_FAIL(nfail, "%" PRId64 " -> \"%s\" -> %" PRId64, ms, buf, back);
            }
        }
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(edges); i++) {
        char buf[64];
        int64_t back = -1;
        sk_duration_format(edges[i], buf, sizeof(buf));
        if (sk_duration_parse(buf, &back, NULL) != 0 || back != edges[i])
            ROW_FAIL(nfail, "%" PRId64 " -> \"%s\" -> %" PRId64, edges[i], buf, back);
    }
    /* And the other way: parse, format, parse again gives the same value. */
    for (size_t i = 0; i < SK_ARRAY_LEN(ok_cases); i++) {
        char buf[64];
        int64_t back = -1;
        sk_duration_format(ok_cases[i].ms, buf, sizeof(buf));
        if (sk_duration_parse(buf, &back, NULL) != 0 || back != ok_cases[i].ms)
            ROW_FAIL(nfail, "\"%s\" -> \"%s\" -> %" PRId64, ok_cases[i].text, buf, back);
    }
    assert_int_equal(nfail, 0);
}

/* A short buffer truncates but stays NUL-terminated and in bounds. */
static void test_format_small_buffer(void **state)
{
    (void)state;
    char buf[8];
    for (size_t size = 1; size <= sizeof(buf); size++) {
        memset(buf, 'x', sizeof(buf));
        sk_duration_format(WEEK + 2 * DAY + 3 * HOUR + 4 * MIN + 5 * SEC + 6, buf, size);
        assert_true(memchr(buf, '\0', size) != NULL);
        assert_int_equal(strncmp(buf, "9d3h4m5s6ms", size - 1), 0);
        for (size_t k = size; k < sizeof(buf); k++)
            assert_int_equal(buf[k], 'x');
    }
    memset(buf, 'x', sizeof(buf));
    sk_duration_format(HOUR, buf, 0); /* size 0: nothing written */
    assert_int_equal(buf[0], 'x');
    sk_duration_format(-HOUR, buf, 2);
    assert_string_equal(buf, "-");
}

/* The most negative value has no positive counterpart in int64_t. */
static void test_format_int64_min_does_not_overflow(void **state)
{
    (void)state;
    char buf[64];
    sk_duration_format(INT64_MIN, buf, sizeof(buf));
    assert_string_equal(buf, "-106751991167d7h12m55s808ms");
    sk_duration_format(INT64_MAX, buf, sizeof(buf));
    assert_string_equal(buf, "106751991167d7h12m55s807ms");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_accepts_null_err),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_error_message_quotes_text),
        cmocka_unit_test(test_parse_null_text),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_format_small_buffer),
        cmocka_unit_test(test_format_int64_min_does_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
