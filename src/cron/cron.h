/*
 * Cron expressions: parsing (Vixie/cronie syntax plus Quartz L, W, # and
 * Jenkins H), computing the next fire instant in a time zone with the cron
 * daemon's daylight-saving rules, formatting back to text, and explaining an
 * expression in English. Pure: no I/O, no allocation; a parsed sk_cron_t is
 * a plain value that may be copied and shared between threads.
 */
#ifndef SK_CRON_H
#define SK_CRON_H

#include "../common/common.h"
#include "../tz/tz.h"

enum {
    SK_CRON_SECONDS = 1 << 0,  /* written with six fields */
    SK_CRON_DOM_STAR = 1 << 1, /* day-of-month text starts with * or ? */
    SK_CRON_DOW_STAR = 1 << 2, /* day-of-week text starts with * or ? */
    SK_CRON_WILD = 1 << 3,     /* seconds, minute or hour text starts with * */
    SK_CRON_REBOOT = 1 << 4,   /* @reboot: fires at start-up, never by time */
    SK_CRON_SEC_STAR = 1 << 5, /* per-field "text starts with *" for format */
    SK_CRON_MIN_STAR = 1 << 6,
    SK_CRON_HOUR_STAR = 1 << 7,
    SK_CRON_MON_STAR = 1 << 8,
};

/* A parsed expression: one bit per allowed value of each field. */
typedef struct sk_cron {
    uint64_t sec;       /* bits 0-59 */
    uint64_t min;       /* bits 0-59 */
    uint32_t hour;      /* bits 0-23 */
    uint32_t dom;       /* bits 1-31 */
    uint32_t dom_last;  /* bit k: the k-th day before the month's last (L = 0, L-3 = 3) */
    uint32_t dom_near;  /* bits 1-31: the weekday nearest that day (15W) */
    uint16_t mon;       /* bits 1-12 */
    uint8_t dow;        /* bits 0-6, Sunday = 0 */
    uint8_t dow_last;   /* bits 0-6: the month's last such weekday (5L) */
    uint8_t dow_nth[7]; /* per weekday, bits 1-5: its n-th occurrence (MON#2) */
    bool dom_lastwd;    /* LW: the month's last weekday (Monday to Friday) */
    uint16_t flags;
} sk_cron_t;

/*
 * Parses expr: five fields (minute hour day-of-month month day-of-week), six
 * with seconds first, or a macro (@yearly @annually @monthly @weekly @daily
 * @midnight @hourly @reboot). `name` seeds H (may be NULL: the empty name).
 * On error returns SK_EPARSE, SK_ERANGE or SK_ENEVER with a message naming
 * the field and value, and err->col set to the 1-based column in expr.
 * *ret is not written on failure.
 */
int sk_cron_parse(const char *expr, const char *name, sk_cron_t *ret, sk_err_t *err);

/*
 * The first fire instant strictly after `after`, in zone tz, following the
 * daylight-saving rules of DESIGN section 4: a wild expression fires at every
 * real instant whose local time matches; a fixed-time one fires once at the
 * end of a gap for its times inside it, and only in the first pass of a fold.
 * Returns 0, or SK_ENEVER for @reboot or when nothing fires before year 10000.
 */
int sk_cron_next(const sk_cron_t *c, const sk_tz_t *tz, int64_t after, int64_t *ret);

/* Canonical text of c (six fields if it has seconds); parses back to c. */
void sk_cron_format(const sk_cron_t *c, char *buf, size_t size);

/* Plain English: "At 02:30 on Monday to Friday", "Every 15 minutes". */
void sk_cron_explain(const sk_cron_t *c, char *buf, size_t size);

/* Two parsed expressions fire at the same times (same fields and flags). */
bool sk_cron_equal(const sk_cron_t *a, const sk_cron_t *b);

#endif
