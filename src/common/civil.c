/*
 * Proleptic Gregorian calendar arithmetic on day counts since 1970-01-01,
 * valid for any year an int64_t can hold without overflow in practice. The
 * day <-> date mapping works in 400-year eras (146097 days), the period after
 * which the Gregorian calendar repeats exactly.
 */
#include "common.h"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

bool sk_civil_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int sk_civil_days_in_month(int64_t y, int m)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && sk_civil_is_leap(y))
        return 29;
    return len[m - 1];
}

int64_t sk_civil_days_from_date(int64_t y, int m, int d)
{
    /* Count from March 1 so that the leap day ends the (shifted) year. */
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468;
}

void sk_civil_date_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *ret_y = yoe + era * 400 + (m <= 2);
    *ret_m = m;
    *ret_d = d;
}

int sk_civil_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday. */
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

void sk_civil_from_seconds(int64_t secs, sk_civil_t *ret)
{
    int64_t days = floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    sk_civil_date_from_days(days, &ret->year, &ret->month, &ret->day);
    ret->hour = (int)(rem / 3600);
    ret->min = (int)(rem / 60 % 60);
    ret->sec = (int)(rem % 60);
    ret->wday = sk_civil_weekday(days);
}

int64_t sk_civil_to_seconds(const sk_civil_t *c)
{
    return sk_civil_days_from_date(c->year, c->month, c->day) * 86400 + c->hour * 3600 +
           c->min * 60 + c->sec;
}
