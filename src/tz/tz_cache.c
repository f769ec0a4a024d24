/*
 * The zone cache (zones loaded once from the tz database, by name), the
 * system zone's discovery, and ISO-8601 formatting and parsing of instants.
 */
#include "tz.h"

#include <fcntl.h>
#include <sys/stat.h>

#define TZ_FILE_MAX (1 << 20)

typedef struct cache_entry {
    char *key; /* as asked for; "" for the system zone */
    sk_tz_t *tz;
} cache_entry_t;

struct sk_tz_cache {
    char *dir;
    cache_entry_t *entries;
    size_t n, cap;
};

sk_tz_cache_t *sk_tz_cache_new(const char *dir)
{
    sk_tz_cache_t *c = sk_xcalloc(1, sizeof(*c));
    if (!dir || !*dir)
        dir = getenv("TZDIR");
    c->dir = sk_xstrdup(dir && *dir ? dir : "/usr/share/zoneinfo");
    return c;
}

void sk_tz_cache_free(sk_tz_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->entries[i].key);
        sk_tz_free(c->entries[i].tz);
    }
    free(c->entries);
    free(c->dir);
    free(c);
}

/* Reads a whole (small) file. Returns 0, -errno, or -EFBIG. */
static int read_file(const char *path, unsigned char **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    if (st.st_size > TZ_FILE_MAX) {
        close(fd);
        return -EFBIG;
    }
    unsigned char *buf = sk_xmalloc((size_t)st.st_size + 1);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0 || len + (size_t)r > (size_t)st.st_size)
            break;
        len += (size_t)r;
    }
    close(fd);
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* Zone names are relative paths of letters, digits and . _ + -; no "..". */
static bool name_is_safe(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 255 || name[0] == '/' || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '-' || c == '+' || c == '.';
        if (!ok)
            return false;
        if (c == '/' && (p[1] == '/' || p[1] == '.' || p[1] == '\0'))
            return false;
    }
    return true;
}

static int load_file_zone(const char *name, const char *path, sk_tz_t **ret, sk_err_t *err)
{
    unsigned char *data;
    size_t len;
    int r = read_file(path, &data, &len);
    if (r < 0)
        return r;
    r = sk_tz_parse(name, data, len, ret, err);
    free(data);
    return r;
}

static int load_named(sk_tz_cache_t *c, const char *name, sk_tz_t **ret, sk_err_t *err)
{
    if (!name_is_safe(name))
        return sk_err_set(err, SK_ENOZONE, "unknown time zone \"%s\"", name);
    char path[4096];
    if ((size_t)sk_snprintf(path, sizeof(path), "%s/%s", c->dir, name) >= sizeof(path))
        return sk_err_set(err, SK_ENOZONE, "unknown time zone \"%s\"", name);
    int r = load_file_zone(name, path, ret, err);
    if (r == -ENOENT || r == -ENOTDIR || r == -EISDIR) {
        if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
            return sk_tz_from_posix(name, "UTC0", ret, err);
        }
        return sk_err_set(err, SK_ENOZONE, "unknown time zone \"%s\" (no such zone in %s)", name,
                          c->dir);
    }
    if (r < 0 && r != SK_EBADZONE)
        return sk_err_set(err, SK_ENOZONE, "time zone \"%s\": %s: %s", name, path, sk_strerror(r));
    return r;
}

/* The system's zone: $TZ, else /etc/localtime, else /etc/timezone, else UTC. */
static int load_system(sk_tz_cache_t *c, sk_tz_t **ret, sk_err_t *err)
{
    const char *tzenv = getenv("TZ");
    if (tzenv && *tzenv) {
        const char *name = tzenv[0] == ':' ? tzenv + 1 : tzenv;
        if (name[0] == '/')
            return load_file_zone(name, name, ret, err) < 0
                       ? sk_err_set(err, SK_ENOZONE, "TZ=%s: cannot load that zone file", tzenv)
                       : 0;
        sk_err_t e2;
        sk_err_clear(&e2);
        if (load_named(c, name, ret, &e2) == 0)
            return 0;
        if (sk_tz_from_posix(name, name, ret, NULL) == 0)
            return 0;
        return sk_err_set(err, SK_ENOZONE, "TZ=%s is not a known time zone", tzenv);
    }
    char link[4096];
    ssize_t n = readlink("/etc/localtime", link, sizeof(link) - 1);
    if (n > 0) {
        link[n] = '\0';
        const char *z = strstr(link, "zoneinfo/");
        const char *name = z ? z + strlen("zoneinfo/") : "localtime";
        if (strncmp(name, "posix/", 6) == 0)
            name += 6;
        if (load_file_zone(name, "/etc/localtime", ret, NULL) == 0)
            return 0;
    }
    unsigned char *data;
    size_t len;
    if (read_file("/etc/timezone", &data, &len) == 0) {
        char name[256];
        size_t k = 0;
        while (k < len && k + 1 < sizeof(name) && data[k] != '\n' && data[k] != ' ')
            name[k] = (char)data[k], k++;
        name[k] = '\0';
        free(data);
        if (k > 0 && load_named(c, name, ret, NULL) == 0)
            return 0;
    }
    if (load_file_zone("localtime", "/etc/localtime", ret, NULL) == 0)
        return 0;
    return sk_tz_from_posix("UTC", "UTC0", ret, err);
}

int sk_tz_cache_get(sk_tz_cache_t *c, const char *name, const sk_tz_t **ret, sk_err_t *err)
{
    const char *key = name ? name : "";
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->entries[i].key, key) == 0) {
            *ret = c->entries[i].tz;
            return 0;
        }
    }
    sk_tz_t *tz = NULL;
    int r = *key ? load_named(c, key, &tz, err) : load_system(c, &tz, err);
    if (r < 0)
        return r;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->entries = sk_xrealloc(c->entries, c->cap * sizeof(*c->entries));
    }
    c->entries[c->n++] = (cache_entry_t){sk_xstrdup(key), tz};
    *ret = tz;
    return 0;
}

/* ---- ISO-8601 ---- */

static void format_offset(int32_t off, char *buf, size_t size)
{
    char sign = off < 0 ? '-' : '+';
    int32_t a = off < 0 ? -off : off;
    if (a % 60)
        sk_snprintf(buf, size, "%c%02d:%02d:%02d", sign, a / 3600, a / 60 % 60, a % 60);
    else
        sk_snprintf(buf, size, "%c%02d:%02d", sign, a / 3600, a / 60 % 60);
}

void sk_tz_format_iso(const sk_tz_t *tz, int64_t t, char *buf, size_t size)
{
    sk_civil_t c;
    int32_t off;
    char ofs[16];
    sk_tz_to_civil(tz, t, &c, &off);
    format_offset(off, ofs, sizeof(ofs));
    sk_snprintf(buf, size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d%s", c.year, c.month, c.day,
                c.hour, c.min, c.sec, ofs);
}

static bool digits(const char **pp, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*pp)[i];
        if (ch < '0' || ch > '9')
            return false;
        v = v * 10 + (ch - '0');
    }
    *pp += n;
    *ret = v;
    return true;
}

static int iso_fail(const char *text, const char *p, const char *what, sk_err_t *err)
{
    sk_err_at(err, (int)(p - text) + 1);
    return sk_err_set(err, SK_EPARSE, "time \"%s\": %s at column %d (expected e.g. %s)", text, what,
                      (int)(p - text) + 1, "2026-03-08T01:30:00-05:00");
}

int sk_tz_parse_iso(const sk_tz_t *tz, const char *text, int64_t *ret, sk_err_t *err)
{
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0;

    if (!digits(&p, 4, &y))
        return iso_fail(text, p, "expected a four-digit year", err);
    if (*p != '-' || (p++, !digits(&p, 2, &mo)))
        return iso_fail(text, p, "expected -MM", err);
    if (*p != '-' || (p++, !digits(&p, 2, &d)))
        return iso_fail(text, p, "expected -DD", err);
    if (mo < 1 || mo > 12)
        return iso_fail(text, p - 5, "month out of range", err);
    if (d < 1 || d > sk_civil_days_in_month(y, mo))
        return iso_fail(text, p - 2, "no such day in that month", err);
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        const char *q = p; /* errors point at the start of the wrong number */
        if (!digits(&p, 2, &h) || h > 23)
            return iso_fail(text, q, "expected an hour 00-23", err);
        q = *p == ':' ? p + 1 : p;
        if (*p != ':' || (p++, !digits(&p, 2, &mi)) || mi > 59)
            return iso_fail(text, q, "expected :MM with minutes 00-59", err);
        if (*p == ':') {
            q = ++p;
            if (!digits(&p, 2, &s) || s > 59)
                return iso_fail(text, q, "expected seconds 00-59", err);
            if (*p == '.' || *p == ',') {
                p++;
                if (*p < '0' || *p > '9')
                    return iso_fail(text, p, "expected digits after the decimal point", err);
                while (*p >= '0' && *p <= '9')
                    p++;
            }
        }
    }
    int64_t local = sk_civil_days_from_date(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    if (*p == '\0') {
        int r = sk_tz_from_local(tz, local, SK_TZ_EARLIER, ret);
        return r < 0 ? sk_err_set(err, r, "time \"%s\" does not exist in %s", text, sk_tz_name(tz))
                     : 0;
    }
    int32_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0, os = 0;
        const char *q = ++p;
        if (!digits(&p, 2, &oh) || oh > 23)
            return iso_fail(text, q, "expected an offset hour 00-23", err);
        bool colon = *p == ':'; /* then minutes must follow */
        if (colon)
            p++;
        q = p;
        if ((colon || *p) && (!digits(&p, 2, &om) || om > 59))
            return iso_fail(text, q, "expected offset minutes 00-59", err);
        /* Seconds, as sk_tz_format_iso writes local mean time (-04:56:02). */
        if (colon && *p == ':') {
            q = ++p;
            if (!digits(&p, 2, &os) || os > 59)
                return iso_fail(text, q, "expected offset seconds 00-59", err);
        }
        off = sign * (oh * 3600 + om * 60 + os);
    } else {
        return iso_fail(text, p, "unexpected character", err);
    }
    if (*p != '\0')
        return iso_fail(text, p, "unexpected text after the offset", err);
    *ret = local - off;
    return 0;
}

void sk_tz_format_iso_ms(const sk_tz_t *tz, int64_t ms, char *buf, size_t size)
{
    char iso[64];
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    sk_tz_format_iso(tz, s, iso, sizeof(iso));
    /* 2026-03-08T03:00:00-04:00: the milliseconds go before the offset. */
    sk_snprintf(buf, size, "%.19s.%03d%s", iso, (int)(ms - s * 1000), iso + 19);
}
