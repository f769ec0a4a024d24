/* Shared inside the cron module only. */
#ifndef SK_CRON_INT_H
#define SK_CRON_INT_H

#include "cron.h"

/*
 * The first local time (local seconds, as if the zone were UTC) at or after
 * `from` that matches c, by carrying field by field. Returns 0 or SK_ENEVER
 * when none exists before the year 10000.
 */
int sk_cron__next_local(const sk_cron_t *c, int64_t from, int64_t *ret);

/* The days of (year, month) that c's day fields select, as bits 1-31. */
uint32_t sk_cron__day_mask(const sk_cron_t *c, int64_t year, int month);

#endif
