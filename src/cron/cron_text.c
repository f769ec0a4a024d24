/*
 * Parsed expressions back to text: sk_cron_format writes canonical cron
 * syntax that parses to the same value (used for round-trip tests and to show
 * H resolved), and sk_cron_explain says when it fires in plain English.
 */
#include "cron_int.h"

typedef struct {
    char *buf;
    size_t size, len;
} sb_t;

static void sb_add(sb_t *sb, const char *fmt, ...) SK_PRINTF(2, 3);
static void sb_add(sb_t *sb, const char *fmt, ...)
{
    if (sb->len >= sb->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sb->buf + sb->len, sb->size - sb->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb->len = SK_MIN(sb->len + (size_t)n, sb->size);
}

static int popcount(uint64_t m)
{
    return __builtin_popcountll(m);
}

static uint64_t range_mask(int lo, int hi, int step)
{
    uint64_t m = 0;
    for (int v = lo; v <= hi; v += step)
        m |= 1ULL << v;
    return m;
}

/* Writes the bits of mask (within lo..hi) as a comma list with ranges. */
static void add_list(sb_t *sb, uint64_t mask, int lo, int hi, bool *first)
{
    for (int v = lo; v <= hi; v++) {
        if (!(mask & (1ULL << v)))
            continue;
        int e = v;
        while (e + 1 <= hi && (mask & (1ULL << (e + 1))))
            e++;
        sb_add(sb, "%s%d", *first ? "" : ",", v);
        if (e > v)
            sb_add(sb, "%s%d", e == v + 1 ? "," : "-", e);
        *first = false;
        v = e;
    }
}

/* A field whose text started with '*': "*", or "*[/k]" plus what remains. */
static void add_field(sb_t *sb, uint64_t mask, int lo, int hi, bool star, bool *first)
{
    if (star) {
        for (int k = 1; k <= hi - lo + 1; k++) {
            uint64_t p = range_mask(lo, hi, k);
            if ((mask & p) == p) {
                sb_add(sb, k == 1 ? "*" : "*/%d", k);
                *first = false;
                mask &= ~p;
                break;
            }
        }
    }
    add_list(sb, mask, lo, hi, first);
}

void sk_cron_format(const sk_cron_t *c, char *buf, size_t size)
{
    sb_t sb = {buf, size, 0};
    bool first;
    static const char *const dow3[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
    if (size)
        buf[0] = '\0';
    if (c->flags & SK_CRON_REBOOT) {
        sb_add(&sb, "@reboot");
        return;
    }
    if (c->flags & SK_CRON_SECONDS) {
        first = true;
        add_field(&sb, c->sec, 0, 59, c->flags & SK_CRON_SEC_STAR, &first);
        sb_add(&sb, " ");
    }
    first = true;
    add_field(&sb, c->min, 0, 59, c->flags & SK_CRON_MIN_STAR, &first);
    sb_add(&sb, " ");
    first = true;
    add_field(&sb, c->hour, 0, 23, c->flags & SK_CRON_HOUR_STAR, &first);
    sb_add(&sb, " ");

    first = true;
    add_field(&sb, c->dom, 1, 31, c->flags & SK_CRON_DOM_STAR, &first);
    for (int k = 0; k <= 30; k++) {
        if (c->dom_last & (1u << k)) {
            sb_add(&sb, k ? "%sL-%d" : "%sL", first ? "" : ",", k);
            first = false;
        }
    }
    if (c->dom_lastwd) {
        sb_add(&sb, "%sLW", first ? "" : ",");
        first = false;
    }
    for (int d = 1; d <= 31; d++) {
        if (c->dom_near & (1u << d)) {
            sb_add(&sb, "%s%dW", first ? "" : ",", d);
            first = false;
        }
    }
    if (first)
        sb_add(&sb, "?"); /* unreachable for parsed values; keeps the field count */
    sb_add(&sb, " ");
    first = true;
    add_field(&sb, c->mon, 1, 12, c->flags & SK_CRON_MON_STAR, &first);
    sb_add(&sb, " ");

    first = true;
    add_field(&sb, c->dow, 0, 6, c->flags & SK_CRON_DOW_STAR, &first);
    for (int w = 0; w < 7; w++) {
        if (c->dow_last & (1u << w)) {
            sb_add(&sb, "%s%sL", first ? "" : ",", dow3[w]);
            first = false;
        }
        for (int k = 1; k <= 5; k++) {
            if (c->dow_nth[w] & (1u << k)) {
                sb_add(&sb, "%s%s#%d", first ? "" : ",", dow3[w], k);
                first = false;
            }
        }
    }
    if (first)
        sb_add(&sb, "?");
}

/* ---- explain ---- */

static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
static const char *const month_names[] = {"",        "January",  "February", "March",  "April",
                                          "May",     "June",     "July",     "August", "September",
                                          "October", "November", "December"};
static const char *const ordinals[] = {"", "first", "second", "third", "fourth", "fifth"};

typedef void (*name_fn)(sb_t *sb, int v);

/* Items of a list, joined "a, b and c"; ranges of 3 or more as "a to b". */
typedef struct {
    char items[40][48];
    int n;
} list_t;

static void list_push(list_t *l, const char *fmt, ...) SK_PRINTF(2, 3);
static void list_push(list_t *l, const char *fmt, ...)
{
    if (l->n >= (int)SK_ARRAY_LEN(l->items))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->items[l->n++], sizeof(l->items[0]), fmt, ap);
    va_end(ap);
}

static void list_join(sb_t *sb, const list_t *l, const char *last_sep)
{
    for (int i = 0; i < l->n; i++) {
        if (i > 0)
            sb_add(sb, "%s", i == l->n - 1 ? last_sep : ", ");
        sb_add(sb, "%s", l->items[i]);
    }
}

static void name_num(sb_t *sb, int v)
{
    sb_add(sb, "%d", v);
}

static void name_day(sb_t *sb, int v)
{
    sb_add(sb, "%s", day_names[v]);
}

static void name_month(sb_t *sb, int v)
{
    sb_add(sb, "%s", month_names[v]);
}

/* Mask values lo..hi as list items, runs of 3+ as "a to b". */
static void mask_items(list_t *l, uint64_t mask, int lo, int hi, name_fn fn)
{
    for (int v = lo; v <= hi; v++) {
        if (!(mask & (1ULL << v)))
            continue;
        int e = v;
        while (e + 1 <= hi && (mask & (1ULL << (e + 1))))
            e++;
        char a[32], b[32];
        sb_t sa = {a, sizeof(a), 0}, sbb = {b, sizeof(b), 0};
        fn(&sa, v);
        fn(&sbb, e);
        if (e >= v + 2) {
            list_push(l, "%s to %s", a, b);
            v = e;
        } else {
            list_push(l, "%s", a);
        }
    }
}

/* If mask is exactly {a, a+k, a+2k, ...} up to hi with k > 1, returns k. */
static int step_of(uint64_t mask, int lo, int hi, int *ret_start)
{
    if (popcount(mask) < 2)
        return 0;
    int a = __builtin_ctzll(mask);
    uint64_t rest = mask & ~(1ULL << a);
    int k = __builtin_ctzll(rest) - a;
    if (k < 2 || a - lo >= k || range_mask(a, hi, k) != mask)
        return 0;
    *ret_start = a;
    return k;
}

static bool is_full(uint64_t mask, int lo, int hi)
{
    return mask == range_mask(lo, hi, 1);
}

static bool is_single(uint64_t mask)
{
    return popcount(mask) == 1;
}

static void explain_time(sb_t *sb, const sk_cron_t *c)
{
    uint64_t S = c->sec, M = c->min, H = c->hour;
    int a, k;
    bool hour_done = false;

    if (is_single(S) && is_single(M) && !is_full(H, 0, 23) && popcount(H) <= 6) {
        int s = __builtin_ctzll(S), m = __builtin_ctzll(M);
        list_t l = {.n = 0};
        for (int h = 0; h < 24; h++) {
            if (!(H & (1ULL << h)))
                continue;
            if (s)
                list_push(&l, "%02d:%02d:%02d", h, m, s);
            else
                list_push(&l, "%02d:%02d", h, m);
        }
        sb_add(sb, "At ");
        list_join(sb, &l, " and ");
        return;
    }
    if (!(S == 1)) {
        if (is_full(S, 0, 59))
            sb_add(sb, "Every second");
        else if ((k = step_of(S, 0, 59, &a)) && a == 0)
            sb_add(sb, "Every %d seconds", k);
        else {
            list_t l = {.n = 0};
            mask_items(&l, S, 0, 59, name_num);
            sb_add(sb, "At second%s ", popcount(S) > 1 ? "s" : "");
            list_join(sb, &l, " and ");
        }
        if (!is_full(M, 0, 59)) {
            if ((k = step_of(M, 0, 59, &a)) && a == 0)
                sb_add(sb, ", every %d minutes", k);
            else {
                list_t l = {.n = 0};
                mask_items(&l, M, 0, 59, name_num);
                sb_add(sb, ", at minute%s ", popcount(M) > 1 ? "s" : "");
                list_join(sb, &l, " and ");
                sb_add(sb, " past the hour");
            }
        }
    } else if (is_full(M, 0, 59)) {
        sb_add(sb, "Every minute");
    } else if ((k = step_of(M, 0, 59, &a)) && a == 0) {
        sb_add(sb, "Every %d minutes", k);
    } else if (is_single(M)) {
        int m = __builtin_ctzll(M);
        int hk = step_of(H, 0, 23, &a);
        if (is_full(H, 0, 23)) {
            if (m == 0)
                sb_add(sb, "Every hour");
            else
                sb_add(sb, "At %d minute%s past every hour", m, m == 1 ? "" : "s");
            hour_done = true;
        } else if (hk && a == 0) {
            if (m == 0)
                sb_add(sb, "Every %d hours", hk);
            else
                sb_add(sb, "At %d minute%s past the hour, every %d hours", m, m == 1 ? "" : "s",
                       hk);
            hour_done = true;
        } else if (m == 0) {
            sb_add(sb, "Every hour"); /* the hours follow: ", between 09:00 and 17:59" */
        } else {
            sb_add(sb, "At %d minute%s past the hour", m, m == 1 ? "" : "s");
        }
    } else {
        list_t l = {.n = 0};
        mask_items(&l, M, 0, 59, name_num);
        if ((k = step_of(M, 0, 59, &a)))
            sb_add(sb, "Every %d minutes from minute %d", k, a);
        else {
            sb_add(sb, "At minutes ");
            list_join(sb, &l, " and ");
            sb_add(sb, " past the hour");
        }
    }
    if (hour_done || is_full(H, 0, 23))
        return;
    if ((k = step_of(H, 0, 23, &a)))
        sb_add(sb, ", every %d hours from %02d:00", k, a);
    else if (popcount(H) == (64 - __builtin_clzll(H)) - __builtin_ctzll(H)) {
        int lo = __builtin_ctzll(H), hi = 63 - __builtin_clzll(H);
        sb_add(sb, ", between %02d:00 and %02d:59", lo, hi);
    } else {
        list_t l = {.n = 0};
        for (int h = 0; h < 24; h++)
            if (H & (1ULL << h))
                list_push(&l, "%02d:00", h);
        sb_add(sb, ", in the hours starting ");
        list_join(sb, &l, " and ");
    }
}

static void explain_dom(sb_t *sb, const sk_cron_t *c)
{
    list_t l = {.n = 0};
    uint64_t D = (uint64_t)c->dom & range_mask(1, 31, 1);
    int a, k;
    if (D) {
        if ((k = step_of(D, 1, 31, &a)) && popcount(D) > 3) {
            list_push(&l, "every %d days from day %d", k, a);
        } else {
            list_t nums = {.n = 0};
            mask_items(&nums, D, 1, 31, name_num);
            char tmp[512];
            sb_t t = {tmp, sizeof(tmp), 0};
            sb_add(&t, "day%s ", popcount(D) > 1 ? "s" : "");
            list_join(&t, &nums, " and ");
            list_push(&l, "%s", tmp);
        }
    }
    for (int n = 1; n <= 31; n++)
        if (c->dom_near & (1u << n))
            list_push(&l, "the weekday nearest day %d", n);
    for (int off = 0; off <= 30; off++) {
        if (!(c->dom_last & (1u << off)))
            continue;
        if (off == 0)
            list_push(&l, "the last day");
        else
            list_push(&l, "%d day%s before the last day", off, off > 1 ? "s" : "");
    }
    if (c->dom_lastwd)
        list_push(&l, "the last weekday");
    list_join(sb, &l, " and ");
    sb_add(sb, " of the month");
}

static void explain_dow(sb_t *sb, const sk_cron_t *c, const char *last_sep)
{
    list_t l = {.n = 0};
    if (c->dow)
        mask_items(&l, c->dow, 0, 6, name_day);
    for (int w = 0; w < 7; w++) {
        if (c->dow_last & (1u << w))
            list_push(&l, "the last %s of the month", day_names[w]);
        for (int n = 1; n <= 5; n++)
            if (c->dow_nth[w] & (1u << n))
                list_push(&l, "the %s %s of the month", ordinals[n], day_names[w]);
    }
    list_join(sb, &l, last_sep);
}

void sk_cron_explain(const sk_cron_t *c, char *buf, size_t size)
{
    sb_t sb = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    if (c->flags & SK_CRON_REBOOT) {
        sb_add(&sb, "Once per boot of the machine");
        return;
    }
    explain_time(&sb, c);
    /* A day field written with * still restricts when its step leaves days
     * out (every fifth day); the Vixie OR applies only when neither field
     * starts with *, otherwise the two are ANDed (sk_cron__day_mask). */
    bool dom_star = c->flags & SK_CRON_DOM_STAR, dow_star = c->flags & SK_CRON_DOW_STAR;
    bool dom_r = !dom_star || !is_full(c->dom, 1, 31), dow_r = !dow_star || c->dow != 0x7f;
    bool every_day = false;
    if (dom_r && dow_r) {
        sb_add(&sb, " on ");
        explain_dom(&sb, c);
        sb_add(&sb, dom_star || dow_star ? ", if it is " : " or on ");
        explain_dow(&sb, c, dom_star || dow_star ? " or " : " and ");
    } else if (dom_r) {
        sb_add(&sb, " on ");
        explain_dom(&sb, c);
    } else if (dow_r && !(c->dow == 0x7f && !c->dow_last)) {
        sb_add(&sb, " on ");
        explain_dow(&sb, c, " and ");
    } else {
        every_day = true;
    }
    if (!is_full(c->mon, 1, 12)) {
        list_t l = {.n = 0};
        mask_items(&l, c->mon, 1, 12, name_month);
        sb_add(&sb, " in ");
        list_join(&sb, &l, " and ");
    } else if (every_day && strncmp(buf, "At ", 3) == 0 && strstr(buf, "past") == NULL) {
        sb_add(&sb, " every day");
    }
}
