/*
 * Sizes as people write them in sked.yaml ("10MB", "512KiB", "1G", "4096"),
 * parsed to bytes. Exports sk_size_parse; the unit rules are those of
 * nginx, systemd and ls -h for bare letters (binary), and IEC for the rest.
 */
#include "config.h"

typedef struct {
    const char *name; /* lower case */
    int64_t bytes;
} size_unit_t;

#define KIB 1024LL
#define SIZE_MAX_BYTES (KIB * KIB * KIB * KIB * KIB) /* 1 PiB */

static const size_unit_t size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", KIB},
    {"kib", KIB},
    {"kb", 1000LL},
    {"m", KIB *KIB},
    {"mib", KIB *KIB},
    {"mb", 1000LL * 1000},
    {"g", KIB *KIB *KIB},
    {"gib", KIB *KIB *KIB},
    {"gb", 1000LL * 1000 * 1000},
    {"t", KIB *KIB *KIB *KIB},
    {"tib", KIB *KIB *KIB *KIB},
    {"tb", 1000LL * 1000 * 1000 * 1000},
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Units, case-insensitive: none or B (bytes); K M G T, KiB MiB GiB TiB
 * (powers of 1024); KB MB GB TB (powers of 1000). Whole numbers only, at
 * most 1 PiB. Errors (SK_EPARSE, SK_ERANGE) set err->col to the offending
 * character (1-based). *ret is not written on failure.
 */
int sk_size_parse(const char *text, int64_t *ret, sk_err_t *err)
{
    const char *p = text;
    if (!text)
        return sk_err_set(err, SK_EPARSE, "empty size");
    while (is_space(*p))
        p++;
    if (*p < '0' || *p > '9') {
        sk_err_at(err, (int)(p - text) + 1);
        if (*p == '\0')
            return sk_err_set(err, SK_EPARSE, "empty size: write e.g. 10MB, 512KiB or 4096");
        if (*p == '-')
            return sk_err_set(err, SK_EPARSE, "size \"%s\": a size cannot be negative", text);
        return sk_err_set(err, SK_EPARSE, "size \"%s\": expected a number at '%c'", text, *p);
    }
    int64_t n = 0;
    const char *num = p;
    while (*p >= '0' && *p <= '9') {
        if (n > SIZE_MAX_BYTES) {
            sk_err_at(err, (int)(num - text) + 1);
            return sk_err_set(err, SK_ERANGE, "size \"%s\" is too large (at most 1PiB)", text);
        }
        n = n * 10 + (*p - '0');
        p++;
    }
    if (*p == '.' || *p == ',') {
        sk_err_at(err, (int)(p - text) + 1);
        return sk_err_set(err, SK_EPARSE,
                          "size \"%s\": fractions are not allowed; use a smaller unit, e.g. "
                          "1536KiB",
                          text);
    }
    while (*p == ' ')
        p++;
    const char *u = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
        p++;
    size_t ulen = (size_t)(p - u);
    const char *rest = p;
    while (is_space(*rest))
        rest++;
    if (*rest) {
        sk_err_at(err, (int)(rest - text) + 1);
        return sk_err_set(err, SK_EPARSE, "size \"%s\": unexpected '%c'", text, *rest);
    }
    const size_unit_t *unit = NULL;
    for (size_t i = 0; i < SK_ARRAY_LEN(size_units) && !unit; i++) {
        if (strlen(size_units[i].name) == ulen && sk_strncaseeq(u, size_units[i].name, ulen))
            unit = &size_units[i];
    }
    if (!unit) {
        sk_err_at(err, (int)(u - text) + 1);
        return sk_err_set(err, SK_EPARSE,
                          "size \"%s\": unknown unit \"%.*s\" (use B, KiB, MiB, GiB, KB, MB, GB, "
                          "or K, M, G)",
                          text, (int)ulen, u);
    }
    if (n > SIZE_MAX_BYTES / unit->bytes) {
        sk_err_at(err, (int)(num - text) + 1);
        return sk_err_set(err, SK_ERANGE, "size \"%s\" is too large (at most 1PiB)", text);
    }
    *ret = n * unit->bytes;
    return 0;
}
