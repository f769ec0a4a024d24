/*
 * The cron expression parser: five or six whitespace-separated fields, or a
 * macro. Each field is a comma list of items (value, range, step, names, and
 * the Quartz and Jenkins extensions) compiled to bit masks; every error names
 * the field, the offending text and its column. See crontab(5) for the base
 * syntax and docs/internals/cron.md for the extensions.
 */
#include "cron_int.h"

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };

typedef struct {
    const char *name;
    int lo, hi;           /* accepted numeric range (day-of-week: 0-7) */
    int star_lo, star_hi; /* what * covers (day-of-week: 0-6) */
    int hash_lo, hash_hi; /* what H picks from (day-of-month: 1-28) */
} field_def_t;

static const field_def_t defs[] = {
    [F_SEC] = {"second", 0, 59, 0, 59, 0, 59}, [F_MIN] = {"minute", 0, 59, 0, 59, 0, 59},
    [F_HOUR] = {"hour", 0, 23, 0, 23, 0, 23},  [F_DOM] = {"day-of-month", 1, 31, 1, 31, 1, 28},
    [F_MON] = {"month", 1, 12, 1, 12, 1, 12},  [F_DOW] = {"day-of-week", 0, 7, 0, 6, 0, 6},
};

static const char *const mon_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                        "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

typedef struct {
    const char *base; /* the text columns count from... */
    int base_col;     /* ...and the column (0-based) of its first byte */
    const char *name; /* seeds H */
    int field;
    sk_cron_t *c;
    uint64_t mask; /* the field being built */
    sk_err_t *err;
} parser_t;

static int col_of(const parser_t *ps, const char *p)
{
    return ps->base_col + (int)(p - ps->base) + 1;
}

static int fail(parser_t *ps, const char *at, int code, const char *fmt, ...) SK_PRINTF(4, 5);
static int fail(parser_t *ps, const char *at, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_err_at(ps->err, col_of(ps, at));
    return sk_err_set(ps->err, code, "%s field: %s", defs[ps->field].name, msg);
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* The item ends at ',' or the end of the field. */
static bool item_end(char ch)
{
    return ch == '\0' || ch == ',';
}

/* FNV-1a over the job's name, mixed with the field so that each H differs. */
static uint32_t hash_for(const parser_t *ps)
{
    const char *name = ps->name ? ps->name : "";
    uint32_t h = sk_fnv32(SK_FNV32_INIT, name, strlen(name));
    h ^= (uint32_t)(ps->field + 1) * 0x9e3779b9u;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

/*
 * A number or (month, day-of-week) name at *pp. Reports an error that names
 * the text when it is neither or out of the field's range.
 */
static int parse_value(parser_t *ps, const char **pp, int *ret)
{
    const char *p = *pp;
    const field_def_t *f = &defs[ps->field];
    if (is_digit(*p)) {
        long v = 0;
        int nd = 0;
        while (is_digit(p[nd])) {
            if (v < 100000)
                v = v * 10 + (p[nd] - '0');
            nd++;
        }
        if (v < f->lo || v > f->hi)
            return fail(ps, p, SK_ERANGE, "%.*s is out of range %d-%d", nd, p, f->lo, f->hi);
        *pp = p + nd;
        *ret = (int)v;
        return 0;
    }
    if (is_alpha(*p)) {
        int n = 0;
        while (is_alpha(p[n]))
            n++;
        const char *const *names = NULL;
        int count = 0, base = 0;
        if (ps->field == F_MON)
            names = mon_names, count = 12, base = 1;
        else if (ps->field == F_DOW)
            names = dow_names, count = 7, base = 0;
        /* A trailing L (FRIL) or W is not part of the name. */
        int len = n;
        if (names && n == 4 && (p[3] == 'L' || p[3] == 'l'))
            len = 3;
        for (int i = 0; names && len == 3 && i < count; i++) {
            if (sk_strncaseeq(p, names[i], 3)) {
                *pp = p + 3;
                *ret = base + i;
                return 0;
            }
        }
        if (!names)
            return fail(ps, p, SK_EPARSE, "unexpected \"%.*s\" (this field takes numbers %d-%d)", n,
                        p, f->lo, f->hi);
        return fail(ps, p, SK_EPARSE, "unknown name \"%.*s\" (use %s)", n, p,
                    ps->field == F_MON ? "JAN-DEC" : "SUN-SAT");
    }
    if (item_end(*p))
        return fail(ps, p, SK_EPARSE, "missing value");
    return fail(ps, p, SK_EPARSE, "unexpected '%c'", *p);
}

static int parse_step(parser_t *ps, const char **pp, int lo, int hi, int *ret)
{
    const char *p = *pp;
    if (!is_digit(*p))
        return item_end(*p) ? fail(ps, p, SK_EPARSE, "missing step after '/'")
                            : fail(ps, p, SK_EPARSE, "step must be a number, not '%c'", *p);
    long v = 0;
    int nd = 0;
    while (is_digit(p[nd])) {
        if (v < 100000)
            v = v * 10 + (p[nd] - '0');
        nd++;
    }
    if (v == 0)
        return fail(ps, p, SK_ERANGE, "step 0 is not allowed (use 1 or more)");
    (void)lo;
    (void)hi;
    if (v > defs[ps->field].star_hi - defs[ps->field].star_lo + 1)
        return fail(ps, p, SK_ERANGE, "step %.*s is larger than the range %d-%d", nd, p,
                    defs[ps->field].star_lo, defs[ps->field].star_hi);
    *pp = p + nd;
    *ret = (int)v;
    return 0;
}

static void set_range(parser_t *ps, int lo, int hi, int step)
{
    for (int v = lo; v <= hi; v += step) {
        int bit = (ps->field == F_DOW && v == 7) ? 0 : v;
        ps->mask |= 1ULL << bit;
    }
}

/* H, H/step, H(lo-hi), H(lo-hi)/step */
static int parse_hash(parser_t *ps, const char **pp)
{
    const field_def_t *f = &defs[ps->field];
    const char *p = *pp + 1;
    int lo = f->hash_lo, hi = f->hash_hi, step = 0;
    if (*p == '(') {
        const char *open = p;
        p++;
        int r = parse_value(ps, &p, &lo);
        if (r < 0)
            return r;
        if (*p != '-')
            return fail(ps, p, SK_EPARSE, "expected '-' in H(low-high)");
        p++;
        r = parse_value(ps, &p, &hi);
        if (r < 0)
            return r;
        if (*p != ')')
            return fail(ps, p, SK_EPARSE, "expected ')' to close H(");
        p++;
        if (lo > hi)
            return fail(ps, open + 1, SK_ERANGE, "range %d-%d goes backwards (write %d-%d)", lo, hi,
                        hi, lo);
    }
    uint32_t h = hash_for(ps);
    if (*p == '/') {
        p++;
        int r = parse_step(ps, &p, lo, hi, &step);
        if (r < 0)
            return r;
        /* The start lies within both the step and the range, so that a
         * step wider than H(low-high) still leaves one value. */
        set_range(ps, lo + (int)(h % (uint32_t)SK_MIN(step, hi - lo + 1)), hi, step);
    } else {
        set_range(ps, lo + (int)(h % (uint32_t)(hi - lo + 1)),
                  lo + (int)(h % (uint32_t)(hi - lo + 1)), 1);
    }
    *pp = p;
    return 0;
}

/* Day-of-month extras: L, L-n, LW, nW. Returns 1 when it consumed an item. */
static int parse_dom_special(parser_t *ps, const char **pp)
{
    const char *p = *pp;
    sk_cron_t *c = ps->c;
    if (*p == 'L' || *p == 'l') {
        p++;
        if ((*p == 'W' || *p == 'w') && item_end(p[1])) {
            c->dom_lastwd = true;
            *pp = p + 1;
            return 1;
        }
        int off = 0;
        if (*p == '-') {
            p++;
            if (!is_digit(*p))
                return fail(ps, p, SK_EPARSE, "expected a number of days after L-");
            long v = 0;
            int nd = 0;
            while (is_digit(p[nd])) {
                if (v < 1000)
                    v = v * 10 + (p[nd] - '0');
                nd++;
            }
            if (v > 30)
                return fail(ps, p, SK_ERANGE, "L-%.*s is out of range (L-0 to L-30)", nd, p);
            off = (int)v;
            p += nd;
        }
        if (!item_end(*p))
            return fail(ps, p, SK_EPARSE, "unexpected '%c' after L", *p);
        c->dom_last |= 1u << off;
        *pp = p;
        return 1;
    }
    if (is_digit(*p)) {
        const char *q = p;
        while (is_digit(*q))
            q++;
        if (*q == 'W' || *q == 'w') {
            int v;
            int r = parse_value(ps, &p, &v);
            if (r < 0)
                return r;
            if (!item_end(q[1]))
                return fail(ps, q + 1, SK_EPARSE, "unexpected '%c' after W", q[1]);
            c->dom_near |= 1u << v;
            *pp = q + 1;
            return 1;
        }
    }
    if ((*p == 'W' || *p == 'w'))
        return fail(ps, p, SK_EPARSE, "W needs a day before it, e.g. 15W");
    return 0;
}

/* Day-of-week extras: nL / NAMEL (last such weekday), n#k / NAME#k. */
static int parse_dow_special(parser_t *ps, const char **pp)
{
    const char *p = *pp;
    sk_cron_t *c = ps->c;
    if ((*p == 'L' || *p == 'l') && item_end(p[1]))
        return fail(ps, p, SK_EPARSE,
                    "L alone is ambiguous here; write e.g. 5L or FRIL for the last Friday");
    const char *q = p;
    while (is_digit(*q) || is_alpha(*q))
        q++;
    bool last = q > p && (q[-1] == 'L' || q[-1] == 'l') && item_end(*q);
    bool nth = *q == '#';
    if (!last && !nth)
        return 0;
    int v;
    int r = parse_value(ps, &p, &v);
    if (r < 0)
        return r;
    if (v == 7)
        v = 0;
    if (last) {
        if (p != q - 1)
            return fail(ps, p, SK_EPARSE, "unexpected '%c'", *p);
        c->dow_last |= (uint8_t)(1u << v);
        *pp = q;
        return 1;
    }
    if (p != q)
        return fail(ps, p, SK_EPARSE, "unexpected '%c'", *p);
    p = q + 1;
    if (!is_digit(*p) || is_digit(p[1]) || *p < '1' || *p > '5')
        return fail(ps, p, SK_ERANGE, "# must be followed by a week number 1-5");
    c->dow_nth[v] |= (uint8_t)(1u << (*p - '0'));
    p++;
    if (!item_end(*p))
        return fail(ps, p, SK_EPARSE, "unexpected '%c' after #", *p);
    *pp = p;
    return 1;
}

static int parse_item(parser_t *ps, const char **pp)
{
    const char *p = *pp;
    const field_def_t *f = &defs[ps->field];
    int lo, hi, step = 1, r;

    if (ps->field == F_DOM) {
        r = parse_dom_special(ps, &p);
        if (r < 0)
            return r;
        if (r > 0) {
            *pp = p;
            return 0;
        }
    } else if (ps->field == F_DOW) {
        r = parse_dow_special(ps, &p);
        if (r < 0)
            return r;
        if (r > 0) {
            *pp = p;
            return 0;
        }
    }
    if (*p == '?') {
        if (ps->field != F_DOM && ps->field != F_DOW)
            return fail(ps, p, SK_EPARSE, "'?' is only allowed in day-of-month and day-of-week");
        if (!item_end(p[1]))
            return fail(ps, p + 1, SK_EPARSE, "unexpected '%c' after '?'", p[1]);
        set_range(ps, f->star_lo, f->star_hi, 1);
        *pp = p + 1;
        return 0;
    }
    if ((*p == 'H' || *p == 'h') && (item_end(p[1]) || p[1] == '/' || p[1] == '(')) {
        r = parse_hash(ps, &p);
        if (r < 0)
            return r;
        *pp = p;
        return 0;
    }
    const char *start = p;
    if (*p == '*') {
        lo = f->star_lo;
        hi = f->star_hi;
        p++;
    } else {
        r = parse_value(ps, &p, &lo);
        if (r < 0)
            return r;
        hi = lo;
        if (*p == '-') {
            p++;
            r = parse_value(ps, &p, &hi);
            if (r < 0)
                return r;
            if (hi < lo)
                return fail(ps, start, SK_ERANGE, "range %d-%d goes backwards (write %d-%d)", lo,
                            hi, hi, lo);
        } else if (*p == '/') {
            /* 5/10: from 5 to the field's end. As in Vixie cron (FreeBSD)
             * and croniter, day-of-week ends at 7: 1/2 is Monday,
             * Wednesday, Friday and Sunday, and 7/1 is Sunday. */
            hi = f->hi;
        }
    }
    if (*p == '/') {
        p++;
        r = parse_step(ps, &p, lo, hi, &step);
        if (r < 0)
            return r;
    }
    if (!item_end(*p)) {
        if (*p == ' ' || *p == '\t')
            return fail(ps, p, SK_EPARSE, "unexpected space");
        return fail(ps, p, SK_EPARSE, "unexpected '%c'", *p);
    }
    set_range(ps, lo, hi, step);
    *pp = p;
    return 0;
}

/* Parses one field's text [p, end) (already split on whitespace). */
static int parse_field(parser_t *ps, int field, const char *p, const char *end, uint64_t *ret)
{
    char buf[256];
    size_t len = (size_t)(end - p);
    ps->field = field;
    ps->mask = 0;
    if (len >= sizeof(buf))
        return fail(ps, p, SK_EPARSE, "field is too long");
    /* Work on a NUL-terminated copy but report columns in the original. */
    memcpy(buf, p, len);
    buf[len] = '\0';
    const char *saved = ps->base;
    int saved_col = ps->base_col;
    ps->base_col = col_of(ps, p) - 1;
    ps->base = buf;
    const char *q = buf;
    int r = 0;
    for (;;) {
        if (*q == ',' || *q == '\0') {
            r = fail(ps, q, SK_EPARSE, "empty item in list");
            break;
        }
        r = parse_item(ps, &q);
        if (r < 0)
            break;
        if (*q == '\0')
            break;
        q++; /* ',' */
    }
    ps->base = saved;
    ps->base_col = saved_col;
    if (r < 0)
        return r;
    *ret = ps->mask;
    return 0;
}

typedef struct {
    const char *name, *expands;
} macro_t;

static const macro_t macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Parses the macro at p (its '@'; p is within expr, for the columns):
 * @reboot, or one of macros[] as the expression it expands to. */
static int parse_macro(const char *expr, const char *p, const char *name, sk_cron_t *ret,
                       sk_err_t *err)
{
    const char *q = p;
    while (*q && !is_space(*q))
        q++;
    const char *rest = q;
    while (is_space(*rest))
        rest++;
    if (*rest) {
        sk_err_at(err, (int)(rest - expr) + 1);
        return sk_err_set(err, SK_EPARSE, "unexpected text after %.*s", (int)(q - p), p);
    }
    if ((size_t)(q - p) == 7 && sk_strncaseeq(p, "@reboot", 7)) {
        sk_cron_t c;
        memset(&c, 0, sizeof(c));
        c.flags = SK_CRON_REBOOT;
        *ret = c;
        return 0;
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(macros); i++) {
        if (strlen(macros[i].name) == (size_t)(q - p) &&
            sk_strncaseeq(p, macros[i].name, (size_t)(q - p)))
            return sk_cron_parse(macros[i].expands, name, ret, err);
    }
    sk_err_at(err, (int)(p - expr) + 1);
    return sk_err_set(err, SK_EPARSE,
                      "unknown macro \"%.*s\" (use @yearly, @annually, @monthly, @weekly, "
                      "@daily, @midnight, @hourly or @reboot)",
                      (int)(q - p), p);
}

/* Stores field's parsed set m in c, and in c's flags whether its text
 * starts with `*` (for day of month and weekday, also `?`): the DOM/DOW
 * rule (crontab(5)) and the search read them, and sk_cron_format writes
 * such a field back as `*`. */
static void set_field(sk_cron_t *c, int field, const char *text, uint64_t m)
{
    bool star = *text == '*' || *text == '?';
    switch (field) {
    case F_SEC:
        c->sec = m;
        if (*text == '*')
            c->flags |= SK_CRON_WILD | SK_CRON_SEC_STAR;
        break;
    case F_MIN:
        c->min = m;
        if (*text == '*')
            c->flags |= SK_CRON_WILD | SK_CRON_MIN_STAR;
        break;
    case F_HOUR:
        c->hour = (uint32_t)m;
        if (*text == '*')
            c->flags |= SK_CRON_WILD | SK_CRON_HOUR_STAR;
        break;
    case F_DOM:
        c->dom = (uint32_t)m;
        if (star)
            c->flags |= SK_CRON_DOM_STAR;
        break;
    case F_MON:
        c->mon = (uint16_t)m;
        if (*text == '*')
            c->flags |= SK_CRON_MON_STAR;
        break;
    case F_DOW:
        c->dow = (uint8_t)m;
        if (star)
            c->flags |= SK_CRON_DOW_STAR;
        break;
    }
}

int sk_cron_parse(const char *expr, const char *name, sk_cron_t *ret, sk_err_t *err)
{
    sk_cron_t c;
    parser_t ps = {.base = expr, .name = name, .c = &c, .err = err};
    const char *fs[6], *fe[6];
    int n = 0;
    const char *p = expr;

    memset(&c, 0, sizeof(c));
    if (!expr)
        return sk_err_set(err, SK_EPARSE, "empty cron expression");
    while (is_space(*p))
        p++;
    if (*p == '@')
        return parse_macro(expr, p, name, ret, err);
    while (*p) {
        if (n == 6) {
            sk_err_at(err, (int)(p - expr) + 1);
            return sk_err_set(err, SK_EPARSE,
                              "too many fields: expected 5 (minute hour day month weekday) or 6 "
                              "(with seconds first)");
        }
        fs[n] = p;
        while (*p && !is_space(*p))
            p++;
        fe[n++] = p;
        while (is_space(*p))
            p++;
    }
    if (n < 5) {
        sk_err_at(err, (int)(p - expr) + 1);
        if (n == 0)
            return sk_err_set(err, SK_EPARSE, "empty cron expression");
        return sk_err_set(err, SK_EPARSE,
                          "expected 5 fields (minute hour day month weekday) or 6 (with seconds "
                          "first), got %d",
                          n);
    }
    int first = n == 6 ? F_SEC : F_MIN;
    int r;
    uint64_t m = 0;
    if (n == 6) {
        c.flags |= SK_CRON_SECONDS;
    } else {
        c.sec = 1; /* second 0 */
    }
    for (int i = 0; i < n; i++) {
        int field = first + i;
        r = parse_field(&ps, field, fs[i], fe[i], &m);
        if (r < 0)
            return r;
        set_field(&c, field, fs[i], m);
    }
    /* Never firing is a parse error, not an endless search: the Gregorian
     * calendar repeats every 400 years, so one cycle decides. */
    int64_t when;
    if (sk_cron__next_local(&c, sk_civil_days_from_date(2000, 1, 1) * 86400, &when) < 0) {
        ps.field = F_DOM;
        return fail(&ps, fs[n - 3], SK_ENEVER,
                    "this day never occurs in the months given, so the expression never fires");
    }
    *ret = c;
    return 0;
}

bool sk_cron_equal(const sk_cron_t *a, const sk_cron_t *b)
{
    return a->sec == b->sec && a->min == b->min && a->hour == b->hour && a->dom == b->dom &&
           a->dom_last == b->dom_last && a->dom_near == b->dom_near && a->mon == b->mon &&
           a->dow == b->dow && a->dow_last == b->dow_last &&
           memcmp(a->dow_nth, b->dow_nth, sizeof(a->dow_nth)) == 0 &&
           a->dom_lastwd == b->dom_lastwd && a->flags == b->flags;
}
