/*
 * Durations as people write them in sked.yaml: a sequence of <number><unit>
 * parts from the largest unit to the smallest ("1h30m", "2d", "500ms"),
 * parsed to milliseconds, and the reverse formatting.
 */
#include "common.h"

typedef struct {
    const char *name;
    int64_t ms;
} unit_t;

/* Ordered from largest to smallest: parts must follow this order. */
static const unit_t units[] = {
    {"w", 7 * 86400000LL}, {"d", 86400000LL}, {"h", 3600000LL},
    {"m", 60000LL},        {"s", 1000LL},     {"ms", 1LL},
};

/* The duration cap: 100 years, far beyond any sensible timeout or interval. */
#define SK_DURATION_MAX_MS (100LL * 366 * 86400000LL)

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int sk_duration_parse(const char *text, int64_t *ret_ms, sk_err_t *err)
{
    const char *p = text;
    int64_t total = 0;
    size_t last_unit = SIZE_MAX; /* index into units of the previous part */

    if (!text)
        return sk_err_set(err, SK_EPARSE, "empty duration");
    while (is_space(*p))
        p++;
    if (*p == '\0') {
        sk_err_at(err, (int)(p - text) + 1);
        return sk_err_set(err, SK_EPARSE, "empty duration: write e.g. 30s, 10m or 1h30m");
    }

    while (*p && !is_space(*p)) {
        int col = (int)(p - text) + 1;
        if (!is_digit(*p)) {
            sk_err_at(err, col);
            if (*p == '-')
                return sk_err_set(err, SK_EPARSE, "duration \"%s\": a duration cannot be negative",
                                  text);
            return sk_err_set(err, SK_EPARSE, "duration \"%s\": expected a number at '%c'", text,
                              *p);
        }
        int64_t n = 0;
        while (is_digit(*p)) {
            if (n > SK_DURATION_MAX_MS) {
                sk_err_at(err, col);
                return sk_err_set(err, SK_ERANGE, "duration \"%s\": number is too large", text);
            }
            n = n * 10 + (*p - '0');
            p++;
        }
        const char *u = p;
        while (is_alpha(*p))
            p++;
        size_t ulen = (size_t)(p - u);
        int ucol = (int)(u - text) + 1;
        if (ulen == 0) {
            sk_err_at(err, ucol);
            if (*u == '.')
                return sk_err_set(err, SK_EPARSE,
                                  "duration \"%s\": fractions are not allowed; combine units, "
                                  "e.g. 1h30m or 1500ms",
                                  text);
            if (*u == '\0' || is_space(*u))
                return sk_err_set(err, SK_EPARSE,
                                  "duration \"%s\": missing unit after %" PRId64
                                  " (use ms, s, m, h, d or w)",
                                  text, n);
            return sk_err_set(err, SK_EPARSE, "duration \"%s\": unexpected '%c' after %" PRId64,
                              text, *u, n);
        }
        size_t ui = SIZE_MAX;
        for (size_t i = 0; i < SK_ARRAY_LEN(units); i++) {
            if (strlen(units[i].name) == ulen && memcmp(units[i].name, u, ulen) == 0) {
                ui = i;
                break;
            }
        }
        if (ui == SIZE_MAX) {
            sk_err_at(err, ucol);
            return sk_err_set(err, SK_EPARSE,
                              "duration \"%s\": unknown unit \"%.*s\" (use ms, s, m, h, d or w)",
                              text, (int)ulen, u);
        }
        if (last_unit != SIZE_MAX && ui <= last_unit) {
            sk_err_at(err, ucol);
            return sk_err_set(err, SK_EPARSE,
                              "duration \"%s\": unit \"%s\" must come before \"%s\" "
                              "(largest unit first, each once)",
                              text, units[ui].name, units[last_unit].name);
        }
        last_unit = ui;
        if (n > SK_DURATION_MAX_MS / units[ui].ms ||
            total > SK_DURATION_MAX_MS - n * units[ui].ms) {
            sk_err_at(err, col);
            return sk_err_set(err, SK_ERANGE, "duration \"%s\" is too large (at most 100 years)",
                              text);
        }
        total += n * units[ui].ms;
    }
    const char *space = p;
    while (is_space(*p))
        p++;
    if (*p != '\0') {
        sk_err_at(err, (int)(space - text) + 1);
        return sk_err_set(err, SK_EPARSE, "duration \"%s\": unexpected space inside", text);
    }
    *ret_ms = total;
    return 0;
}

void sk_duration_format(int64_t ms, char *buf, size_t size)
{
    size_t len = 0;
    /* The magnitude, unsigned: -INT64_MIN does not fit in an int64_t. */
    uint64_t left = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;
    if (size == 0)
        return;
    buf[0] = '\0';
    if (ms < 0)
        len += (size_t)snprintf(buf, size, "-");
    if (left == 0) {
        snprintf(buf + len, size - SK_MIN(len, size), "0s");
        return;
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(units) && left > 0; i++) {
        uint64_t unit = (uint64_t)units[i].ms;
        if (i == 0 && left % unit != 0)
            continue; /* weeks only when exact: "10d" reads better than "1w3d" */
        uint64_t n = left / unit;
        if (n == 0)
            continue;
        left -= n * unit;
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, "%" PRIu64 "%s", n, units[i].name);
    }
}
