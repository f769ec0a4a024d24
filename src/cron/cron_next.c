/*
 * Next fire computation. The calendar search carries field by field (month,
 * day, hour, minute, second), jumping straight to the next allowed value of
 * each with bit scans, so any gap costs a handful of steps. The zone is
 * applied on top: wild expressions walk spans of constant UTC offset; fixed
 * ones map each matching local time to the first instant showing it, or to
 * the end of the gap that swallowed it (DESIGN section 4).
 */
#include "cron_int.h"

/* No fire is looked for past 9999-12-31. */
#define LAST_YEAR 9999

static int lowest_bit32(uint32_t m)
{
    return __builtin_ctz(m);
}

static int lowest_bit64(uint64_t m)
{
    return __builtin_ctzll(m);
}

uint32_t sk_cron__day_mask(const sk_cron_t *c, int64_t year, int month)
{
    int ndays = sk_civil_days_in_month(year, month);
    uint32_t valid = (uint32_t)((((uint64_t)1 << ndays) - 1) << 1);
    int wd1 = sk_civil_weekday(sk_civil_days_from_date(year, month, 1));
    uint32_t dm = c->dom & valid;

    for (uint32_t m = c->dom_last; m; m &= m - 1) {
        int d = ndays - lowest_bit32(m);
        if (d >= 1)
            dm |= 1u << d;
    }
    if (c->dom_lastwd) {
        int d = ndays, wd = (wd1 + d - 1) % 7;
        d -= wd == 6 ? 1 : wd == 0 ? 2 : 0;
        dm |= 1u << d;
    }
    for (uint32_t m = c->dom_near; m; m &= m - 1) {
        /* Quartz W: the weekday nearest day n, never leaving the month. */
        int n = lowest_bit32(m);
        if (n > ndays)
            continue;
        int wd = (wd1 + n - 1) % 7, d = n;
        if (wd == 6)
            d = n == 1 ? n + 2 : n - 1;
        else if (wd == 0)
            d = n == ndays ? n - 2 : n + 1;
        dm |= 1u << d;
    }

    uint32_t wm = 0;
    for (int w = 0; w < 7; w++) {
        int first = 1 + (w - wd1 + 7) % 7;
        if (c->dow & (1u << w))
            for (int d = first; d <= ndays; d += 7)
                wm |= 1u << d;
        if (c->dow_last & (1u << w))
            wm |= 1u << (first + 7 * ((ndays - first) / 7));
        for (int k = 1; k <= 5; k++) {
            int d = first + 7 * (k - 1);
            if ((c->dow_nth[w] & (1u << k)) && d <= ndays)
                wm |= 1u << d;
        }
    }
    /* Vixie cron: when both day fields are restricted, either may match. */
    if (!(c->flags & SK_CRON_DOM_STAR) && !(c->flags & SK_CRON_DOW_STAR))
        return dm | wm;
    return dm & wm;
}

int sk_cron__next_local(const sk_cron_t *c, int64_t from, int64_t *ret)
{
    sk_civil_t t;
    sk_civil_from_seconds(from, &t);
    int64_t y = t.year;
    int mo = t.month, d = t.day, h = t.hour, mi = t.min, s = t.sec;
    int64_t y_end = y + 401; /* the Gregorian calendar repeats every 400 years */
    int64_t mask_y = INT64_MIN;
    int mask_m = 0;
    uint32_t dmask = 0;

    for (;;) {
        if (mo > 12) {
            y++;
            mo = 1;
        }
        if (y > y_end || y > LAST_YEAR)
            return SK_ENEVER;
        uint32_t mm = c->mon & ~((1u << mo) - 1);
        if (!mm) {
            y++;
            mo = 1, d = 1, h = mi = s = 0;
            continue;
        }
        if (lowest_bit32(mm) != mo) {
            mo = lowest_bit32(mm);
            d = 1, h = mi = s = 0;
        }
        if (mask_y != y || mask_m != mo) {
            dmask = sk_cron__day_mask(c, y, mo);
            mask_y = y, mask_m = mo;
        }
        uint32_t dd = d <= 31 ? dmask & ~((1u << d) - 1) : 0;
        if (!dd) {
            mo++;
            d = 1, h = mi = s = 0;
            continue;
        }
        if (lowest_bit32(dd) != d) {
            d = lowest_bit32(dd);
            h = mi = s = 0;
        }
        uint32_t hh = h < 24 ? c->hour & ~((1u << h) - 1) : 0;
        if (!hh) {
            d++;
            h = mi = s = 0;
            continue;
        }
        if (lowest_bit32(hh) != h) {
            h = lowest_bit32(hh);
            mi = s = 0;
        }
        uint64_t mn = mi < 60 ? c->min & ~((1ULL << mi) - 1) : 0;
        if (!mn) {
            h++;
            mi = s = 0;
            continue;
        }
        if (lowest_bit64(mn) != mi) {
            mi = lowest_bit64(mn);
            s = 0;
        }
        uint64_t ss = s < 60 ? c->sec & ~((1ULL << s) - 1) : 0;
        if (!ss) {
            mi++;
            s = 0;
            continue;
        }
        s = lowest_bit64(ss);
        *ret = sk_civil_days_from_date(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
        return 0;
    }
}

int sk_cron_next(const sk_cron_t *c, const sk_tz_t *tz, int64_t after, int64_t *ret)
{
    /* Past the last year there is nothing to find; this also keeps the
     * arithmetic below far from overflow for any `after`. The search stops
     * at the end of local 9999-12-31, which in a zone west of UTC is up to
     * 26 hours into UTC's year 10000: those fires must stay findable. */
    const int64_t limit = sk_civil_days_from_date(LAST_YEAR + 1, 1, 1) * 86400 + 26 * 3600;
    const int64_t floor = sk_civil_days_from_date(-9999, 1, 1) * 86400;
    sk_tz_span_t sp;
    int64_t local, u;
    int r;

    if (c->flags & SK_CRON_REBOOT)
        return SK_ENEVER;
    if (after >= limit)
        return SK_ENEVER;
    if (after < floor)
        after = floor;

    if (c->flags & SK_CRON_WILD) {
        /* Every real instant whose wall clock matches: search each span of
         * constant offset in turn; skipped wall times never come, repeated
         * ones come in both passes. */
        int64_t t = after + 1;
        for (int guard = 0; guard < 100000; guard++) {
            sk_tz_span_at(tz, t, &sp);
            r = sk_cron__next_local(c, t + sp.utoff, &local);
            if (r < 0)
                return r;
            u = local - sp.utoff;
            if (u < sp.end) {
                *ret = u;
                return 0;
            }
            t = sp.end;
        }
        return SK_ENEVER;
    }

    /* Fixed time: wall times map to their first instant, or to the end of
     * the gap they fall in; that map never decreases, so the first matching
     * wall time past `after`'s own is the answer. In the second pass of a
     * fold, the repeated wall times were already had in the first pass. */
    sk_tz_span_at(tz, after, &sp);
    int64_t from = after + sp.utoff + 1;
    if (sp.start != INT64_MIN) {
        int32_t prev = sk_tz_offset_at(tz, sp.start - 1);
        if (prev > sp.utoff && after < sp.start + (prev - sp.utoff))
            from = sp.start + prev;
    }
    for (int guard = 0; guard < 100000; guard++) {
        r = sk_cron__next_local(c, from, &local);
        if (r < 0)
            return r;
        if (sk_tz_from_local(tz, local, SK_TZ_EARLIER, &u) >= 0 && u > after) {
            *ret = u;
            return 0;
        }
        from = local + 1;
    }
    return SK_ENEVER;
}
