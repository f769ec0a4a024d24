/*
 * Zones: the TZif reader (RFC 8536, versions 1 to 4), POSIX TZ rules for
 * instants past a file's last transition (and for zones given only as a
 * rule), and the span and offset queries everything else is built on.
 */
#include "tz.h"

/* Queries are clamped to about ±100,000 years so that offsets never overflow. */
#define TZ_T_LIMIT (3155760000000LL)

/* A rule's transition date: Jn (1-365, no Feb 29), n (0-365), or Mm.w.d. */
typedef struct {
    char kind; /* 'J', 'N' or 'M' */
    int n, m, w, d;
    int32_t time; /* seconds after local midnight, may be negative or > 24h */
} rule_date_t;

typedef struct {
    char std_abbr[16], dst_abbr[16];
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    rule_date_t start, end;
} posix_rule_t;

typedef struct {
    int32_t utoff;
    bool isdst;
    uint16_t abbr;
} tz_type_t;

struct sk_tz {
    char *name;
    size_t ntimes, ntypes;
    int64_t *times; /* ascending transition instants */
    uint8_t *idx;   /* type index of each transition */
    tz_type_t *types;
    char *abbrs;
    size_t nabbrs;
    bool has_rule;
    posix_rule_t rule;
};

static const sk_tz_t utc_zone = {
    .name = "UTC",
    .ntypes = 1,
    .types = (tz_type_t[]){{0, false, 0}},
    .abbrs = "UTC",
    .nabbrs = 4,
};

const sk_tz_t *sk_tz_utc(void)
{
    return &utc_zone;
}

const char *sk_tz_name(const sk_tz_t *tz)
{
    return tz->name;
}

void sk_tz_free(sk_tz_t *tz)
{
    if (!tz || tz == &utc_zone)
        return;
    free(tz->name);
    free(tz->times);
    free(tz->idx);
    free(tz->types);
    free(tz->abbrs);
    free(tz);
}

/* ---- POSIX TZ rules (POSIX.1-2017 8.3, with RFC 8536's extensions) ---- */

static bool parse_abbr(const char **pp, char *out, size_t size)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '<') {
        p++;
        while (*p && *p != '>') {
            if (n + 1 < size)
                out[n++] = *p;
            p++;
        }
        if (*p != '>')
            return false;
        p++;
    } else {
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
            if (n + 1 < size)
                out[n++] = *p;
            p++;
        }
    }
    out[n] = '\0';
    if (n < 3)
        return false;
    *pp = p;
    return true;
}

/* [+-]hh[:mm[:ss]] with hh up to max_hours; returns seconds (sign applied). */
static bool parse_hms(const char **pp, int max_hours, int32_t *ret)
{
    const char *p = *pp;
    int sign = 1;
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    int parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*p != ':')
                break;
            p++;
        }
        if (*p < '0' || *p > '9')
            return false;
        int v = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            v = v * 10 + (*p - '0');
            p++;
            digits++;
        }
        parts[i] = v;
    }
    if (parts[0] > max_hours || parts[1] > 59 || parts[2] > 59)
        return false;
    *ret = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    *pp = p;
    return true;
}

static bool parse_int(const char **pp, int lo, int hi, int *ret)
{
    const char *p = *pp;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || v < lo || v > hi)
        return false;
    *ret = v;
    *pp = p;
    return true;
}

static bool parse_rule_date(const char **pp, rule_date_t *r)
{
    const char *p = *pp;
    memset(r, 0, sizeof(*r));
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (!parse_int(&p, 1, 365, &r->n))
            return false;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (!parse_int(&p, 1, 12, &r->m) || *p++ != '.' || !parse_int(&p, 1, 5, &r->w) ||
            *p++ != '.' || !parse_int(&p, 0, 6, &r->d))
            return false;
    } else {
        r->kind = 'N';
        if (!parse_int(&p, 0, 365, &r->n))
            return false;
    }
    r->time = 7200;
    if (*p == '/') {
        p++;
        if (!parse_hms(&p, 167, &r->time))
            return false;
    }
    *pp = p;
    return true;
}

static bool parse_posix_rule(const char *s, posix_rule_t *r)
{
    const char *p = s;
    int32_t off;
    memset(r, 0, sizeof(*r));
    if (!parse_abbr(&p, r->std_abbr, sizeof(r->std_abbr)) || !parse_hms(&p, 24, &off))
        return false;
    r->std_off = -off; /* POSIX offsets count west of Greenwich */
    if (*p == '\0')
        return true;
    if (!parse_abbr(&p, r->dst_abbr, sizeof(r->dst_abbr)))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!parse_hms(&p, 24, &off))
            return false;
        r->dst_off = -off;
    }
    if (*p == '\0') {
        /* No dates: the customary US rules, as glibc assumes. */
        r->start = (rule_date_t){'M', 0, 3, 2, 0, 7200};
        r->end = (rule_date_t){'M', 0, 11, 1, 0, 7200};
        return true;
    }
    if (*p++ != ',' || !parse_rule_date(&p, &r->start) || *p++ != ',' ||
        !parse_rule_date(&p, &r->end))
        return false;
    return *p == '\0';
}

/* Local midnight (as local seconds) of a rule date in year y, plus its time. */
static int64_t rule_local(const rule_date_t *r, int64_t y)
{
    int64_t days;
    if (r->kind == 'J') {
        days = sk_civil_days_from_date(y, 1, 1) + r->n - 1;
        if (sk_civil_is_leap(y) && r->n >= 60)
            days++;
    } else if (r->kind == 'N') {
        days = sk_civil_days_from_date(y, 1, 1) + r->n;
    } else {
        int64_t first = sk_civil_days_from_date(y, r->m, 1);
        int wd1 = sk_civil_weekday(first);
        int day = 1 + (r->d - wd1 + 7) % 7 + (r->w - 1) * 7;
        int dim = sk_civil_days_in_month(y, r->m);
        while (day > dim)
            day -= 7;
        days = first + day - 1;
    }
    return days * 86400 + r->time;
}

typedef struct {
    int64_t at;
    bool to_dst;
} rule_tr_t;

/* The span of instant t under the rule alone (unbounded if no DST). */
static void rule_span(const posix_rule_t *r, int64_t t, sk_tz_span_t *ret)
{
    if (!r->has_dst) {
        *ret = (sk_tz_span_t){INT64_MIN, INT64_MAX, r->std_off, false, r->std_abbr};
        return;
    }
    sk_civil_t c;
    sk_civil_from_seconds(t + r->std_off, &c);
    rule_tr_t tr[6];
    size_t n = 0;
    for (int64_t y = c.year - 1; y <= c.year + 1; y++) {
        /* Start is in standard time, end in daylight time; the end of year y
         * sorts before the start of year y+1 at the same instant. */
        tr[n++] = (rule_tr_t){rule_local(&r->start, y) - r->std_off, true};
        tr[n++] = (rule_tr_t){rule_local(&r->end, y) - r->dst_off, false};
    }
    /* Insertion sort, stable: ties keep generation order. */
    for (size_t i = 1; i < n; i++) {
        rule_tr_t x = tr[i];
        size_t j = i;
        while (j > 0 && tr[j - 1].at > x.at) {
            tr[j] = tr[j - 1];
            j--;
        }
        tr[j] = x;
    }
    size_t k = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        if (tr[i].at <= t)
            k = i;
    bool dst;
    int64_t start, end;
    if (k == SIZE_MAX) { /* unreachable for sane rules: fall back gracefully */
        start = INT64_MIN;
        dst = !tr[0].to_dst;
        end = tr[0].at;
    } else {
        start = tr[k].at;
        dst = tr[k].to_dst;
        end = k + 1 < n ? tr[k + 1].at : INT64_MAX;
    }
    *ret = (sk_tz_span_t){start, end, dst ? r->dst_off : r->std_off, dst,
                          dst ? r->dst_abbr : r->std_abbr};
}

int sk_tz_from_posix(const char *name, const char *rule, sk_tz_t **ret, sk_err_t *err)
{
    posix_rule_t r;
    if (!parse_posix_rule(rule, &r))
        return sk_err_set(err, SK_EBADZONE, "malformed POSIX time zone rule \"%s\"", rule);
    sk_tz_t *tz = sk_xcalloc(1, sizeof(*tz));
    tz->name = sk_xstrdup(name);
    tz->ntypes = 1;
    tz->types = sk_xcalloc(1, sizeof(tz_type_t));
    tz->types[0].utoff = r.std_off;
    tz->abbrs = sk_xstrdup(r.std_abbr);
    tz->nabbrs = strlen(r.std_abbr) + 1;
    tz->has_rule = true;
    tz->rule = r;
    *ret = tz;
    return 0;
}

/* ---- TZif (RFC 8536) ---- */

typedef struct {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_hdr_t;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool read_hdr(const unsigned char *p, size_t len, int *ret_version, tzif_hdr_t *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    *ret_version = p[4] == 0 ? 1 : p[4] - '0';
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return true;
}

static size_t block_len(const tzif_hdr_t *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

int sk_tz_parse(const char *name, const unsigned char *data, size_t len, sk_tz_t **ret,
                sk_err_t *err)
{
    tzif_hdr_t h;
    int version;
    const unsigned char *p = data, *end = data + len;
    size_t tsize = 4;

    if (!read_hdr(p, len, &version, &h))
        return sk_err_set(err, SK_EBADZONE, "time zone \"%s\": not a TZif file", name);
    if (h.timecnt > 100000 || h.typecnt == 0 || h.typecnt > 256 || h.charcnt == 0 ||
        h.charcnt > 65536 || h.leapcnt > 10000 || (h.isutcnt && h.isutcnt != h.typecnt) ||
        (h.isstdcnt && h.isstdcnt != h.typecnt))
        return sk_err_set(err, SK_EBADZONE, "time zone \"%s\": malformed TZif header", name);
    p += 44;
    if (version >= 2) {
        /* Skip the 32-bit block; the 64-bit one follows with its own header. */
        size_t skip = block_len(&h, 4);
        if ((size_t)(end - p) < skip)
            return sk_err_set(err, SK_EBADZONE, "time zone \"%s\": truncated TZif file", name);
        p += skip;
        if (!read_hdr(p, (size_t)(end - p), &version, &h) || h.timecnt > 100000 || h.typecnt == 0 ||
            h.typecnt > 256 || h.charcnt == 0 || h.charcnt > 65536 || h.leapcnt > 10000 ||
            (h.isutcnt && h.isutcnt != h.typecnt) || (h.isstdcnt && h.isstdcnt != h.typecnt))
            return sk_err_set(err, SK_EBADZONE, "time zone \"%s\": malformed TZif header", name);
        p += 44;
        tsize = 8;
    }
    if ((size_t)(end - p) < block_len(&h, tsize))
        return sk_err_set(err, SK_EBADZONE, "time zone \"%s\": truncated TZif file", name);

    sk_tz_t *tz = sk_xcalloc(1, sizeof(*tz));
    tz->name = sk_xstrdup(name);
    tz->ntimes = h.timecnt;
    tz->ntypes = h.typecnt;
    tz->times = sk_xcalloc(h.timecnt, sizeof(int64_t));
    tz->idx = sk_xcalloc(h.timecnt, 1);
    tz->types = sk_xcalloc(h.typecnt, sizeof(tz_type_t));
    tz->abbrs = sk_xcalloc(h.charcnt + 1, 1);
    tz->nabbrs = h.charcnt;

    for (size_t i = 0; i < h.timecnt; i++) {
        tz->times[i] = tsize == 8 ? be64(p) : (int32_t)be32(p);
        p += tsize;
        if (i > 0 && tz->times[i] <= tz->times[i - 1])
            goto bad;
    }
    for (size_t i = 0; i < h.timecnt; i++) {
        tz->idx[i] = *p++;
        if (tz->idx[i] >= h.typecnt)
            goto bad;
    }
    for (size_t i = 0; i < h.typecnt; i++) {
        int32_t off = (int32_t)be32(p);
        if (off < -89999 || off > 93599 || p[4] > 1 || p[5] >= h.charcnt)
            goto bad;
        tz->types[i] = (tz_type_t){off, p[4] == 1, p[5]};
        p += 6;
    }
    memcpy(tz->abbrs, p, h.charcnt);
    p += h.charcnt;
    /* Leap-second records and the std/ut indicators do not affect civil time
     * as sked computes it (POSIX time, no leap seconds). */
    p += h.leapcnt * (tsize + 4) + h.isstdcnt + h.isutcnt;

    if (version >= 2 && p < end && *p == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (!nl)
            goto bad;
        size_t flen = (size_t)(nl - p - 1);
        if (flen > 0) {
            char footer[128];
            if (flen >= sizeof(footer))
                goto bad;
            memcpy(footer, p + 1, flen);
            footer[flen] = '\0';
            if (!parse_posix_rule(footer, &tz->rule))
                goto bad;
            tz->has_rule = true;
        }
    }
    *ret = tz;
    return 0;
bad:
    sk_tz_free(tz);
    return sk_err_set(err, SK_EBADZONE, "time zone \"%s\": malformed TZif data", name);
}

/* ---- queries ---- */

static void type_span(const sk_tz_t *tz, size_t type, int64_t start, int64_t end, sk_tz_span_t *ret)
{
    const tz_type_t *ty = &tz->types[type];
    *ret = (sk_tz_span_t){start, end, ty->utoff, ty->isdst, tz->abbrs + ty->abbr};
}

void sk_tz_span_at(const sk_tz_t *tz, int64_t t, sk_tz_span_t *ret)
{
    if (t > TZ_T_LIMIT)
        t = TZ_T_LIMIT;
    if (t < -TZ_T_LIMIT)
        t = -TZ_T_LIMIT;

    if (tz->ntimes == 0 || t >= tz->times[tz->ntimes - 1]) {
        int64_t last = tz->ntimes ? tz->times[tz->ntimes - 1] : INT64_MIN;
        if (tz->has_rule) {
            rule_span(&tz->rule, t, ret);
            if (ret->start < last)
                ret->start = last;
        } else {
            type_span(tz, tz->ntimes ? tz->idx[tz->ntimes - 1] : 0, last, INT64_MAX, ret);
        }
        /* The last transition may keep the offset ("fat" files end with
         * one at 2038-01-19 even in zones without DST): then the span goes
         * on before it, as the table search below reports from inside. */
        if (tz->ntimes && ret->start == last && last > -TZ_T_LIMIT) {
            sk_tz_span_t before;
            sk_tz_span_at(tz, last - 1, &before);
            if (before.utoff == ret->utoff)
                ret->start = before.start;
        }
        return;
    }
    if (t < tz->times[0]) {
        type_span(tz, 0, INT64_MIN, tz->times[0], ret);
        return;
    }
    /* Binary search for the last transition at or before t. */
    size_t lo = 0, hi = tz->ntimes - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (tz->times[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    int32_t off = tz->types[tz->idx[lo]].utoff;
    /* Widen over neighbouring transitions that keep the offset (abbreviation
     * or isdst changes only), so callers see real offset changes. */
    size_t a = lo, b = lo + 1;
    while (a > 0 && tz->types[tz->idx[a - 1]].utoff == off && lo - a < 16)
        a--;
    while (b < tz->ntimes && tz->types[tz->idx[b]].utoff == off && b - lo < 16)
        b++;
    type_span(tz, tz->idx[lo], tz->times[a], 0, ret);
    if (a == 0 && tz->types[0].utoff == off)
        ret->start = INT64_MIN;
    if (b < tz->ntimes) {
        ret->end = tz->times[b];
    } else if (tz->has_rule) {
        /* Past the table the rule decides; if it keeps the offset, so does the span. */
        int64_t last = tz->times[tz->ntimes - 1];
        sk_tz_span_t after;
        rule_span(&tz->rule, last, &after);
        ret->end = after.utoff == off ? after.end : last;
    } else {
        ret->end = INT64_MAX;
    }
}

int32_t sk_tz_offset_at(const sk_tz_t *tz, int64_t t)
{
    sk_tz_span_t s;
    sk_tz_span_at(tz, t, &s);
    return s.utoff;
}

void sk_tz_to_civil(const sk_tz_t *tz, int64_t t, sk_civil_t *ret, int32_t *ret_utoff)
{
    int32_t off = sk_tz_offset_at(tz, t);
    sk_civil_from_seconds(t + off, ret);
    if (ret_utoff)
        *ret_utoff = off;
}

int sk_tz_from_local(const sk_tz_t *tz, int64_t local, sk_tz_policy_t policy, int64_t *ret)
{
    /* Every offset is within ±26h, so any instant showing `local` lies in
     * [local - 26h, local + 26h]: walk the spans covering that window. */
    const int64_t win = 26 * 3600;
    int64_t sol[4];
    int nsol = 0;
    int64_t gap_end = INT64_MIN;
    int64_t t = local - win;
    bool prev_before = false; /* the previous span's wall clock ended at or before local */

    for (int guard = 0; guard < 64 && t <= local + win; guard++) {
        sk_tz_span_t s;
        sk_tz_span_at(tz, t, &s);
        int64_t u = local - s.utoff;
        if (u >= s.start && u < s.end) {
            if (nsol < 4)
                sol[nsol++] = u;
        } else if (u >= s.end) {
            prev_before = true; /* the whole span shows earlier wall times */
        } else if (prev_before && gap_end == INT64_MIN) {
            gap_end = s.start; /* wall clock jumped over local at this transition */
        }
        if (s.end == INT64_MAX)
            break;
        t = s.end;
    }
    if (nsol > 0) {
        *ret = policy == SK_TZ_LATER ? sol[nsol - 1] : sol[0];
        return nsol;
    }
    if (policy == SK_TZ_STRICT || gap_end == INT64_MIN)
        return SK_ERANGE;
    *ret = gap_end;
    return 0;
}
