/*
 * Time zones without libc's global state: a reader for the system's TZif
 * files (RFC 8536) including the POSIX TZ footer rule for instants past the
 * last transition, a cache of loaded zones, and conversions between UTC
 * instants and civil (wall-clock) time with an explicit policy for local
 * times that do not exist (a gap) or exist twice (a fold).
 *
 * Instants are int64_t seconds since 1970-01-01T00:00:00Z. "Local seconds"
 * are the same count taken as if the zone's wall clock were UTC: local =
 * instant + offset. Zones are immutable once loaded and may be read from
 * any thread; the cache itself belongs to one thread.
 */
#ifndef SK_TZ_H
#define SK_TZ_H

#include "../common/common.h"

/* Civil (calendar) arithmetic, sk_civil_t and sk_civil_*, is in common.h. */

typedef struct sk_tz sk_tz_t;

/* A span of instants [start, end) over which a zone's UTC offset is constant. */
typedef struct sk_tz_span {
    int64_t start; /* INT64_MIN when unbounded */
    int64_t end;   /* INT64_MAX when unbounded */
    int32_t utoff; /* seconds east of UTC */
    bool isdst;
    const char *abbr; /* borrowed from the zone */
} sk_tz_span_t;

/* How to map a local time that is in a gap or a fold. */
typedef enum sk_tz_policy {
    SK_TZ_EARLIER, /* fold: the first pass; gap: the instant the gap ends */
    SK_TZ_LATER,   /* fold: the second pass; gap: the instant the gap ends */
    SK_TZ_STRICT,  /* fold: the first pass; gap: fail with SK_ERANGE */
} sk_tz_policy_t;

/* The zone's name as it was asked for ("Europe/Berlin", "UTC"). */
const char *sk_tz_name(const sk_tz_t *tz);
/* The UTC zone, built in; never fails, never freed. */
const sk_tz_t *sk_tz_utc(void);

/* The span of constant offset that contains instant t. */
void sk_tz_span_at(const sk_tz_t *tz, int64_t t, sk_tz_span_t *ret);
/* The UTC offset in effect at instant t. */
int32_t sk_tz_offset_at(const sk_tz_t *tz, int64_t t);
/* Instant -> civil time in the zone; *ret_utoff (may be NULL) gets the offset. */
void sk_tz_to_civil(const sk_tz_t *tz, int64_t t, sk_civil_t *ret, int32_t *ret_utoff);
/*
 * Local seconds -> instant. Returns the number of instants whose wall clock
 * reads `local` (0 in a gap, 1, or 2 in a fold) and stores the one the policy
 * picks in *ret. In a gap, SK_TZ_STRICT returns SK_ERANGE and leaves *ret
 * alone; the other policies store the instant the gap ends.
 */
int sk_tz_from_local(const sk_tz_t *tz, int64_t local, sk_tz_policy_t policy, int64_t *ret);

/*
 * Parses a TZif file's bytes (v1, v2+; RFC 8536) into a new zone named name.
 * Returns 0 or SK_EBADZONE with a message. Used by the cache and by tests.
 */
int sk_tz_parse(const char *name, const unsigned char *data, size_t len, sk_tz_t **ret,
                sk_err_t *err);
/* A zone from a POSIX TZ string alone ("EST5EDT,M3.2.0,M11.1.0", "<+0545>-5:45"). */
int sk_tz_from_posix(const char *name, const char *rule, sk_tz_t **ret, sk_err_t *err);
void sk_tz_free(sk_tz_t *tz);

/*
 * A cache of loaded zones, owned by one thread. Zones it returns are
 * borrowed and live until the cache is freed.
 */
typedef struct sk_tz_cache sk_tz_cache_t;

/* dir: the tz database root; NULL means $TZDIR, else /usr/share/zoneinfo. */
sk_tz_cache_t *sk_tz_cache_new(const char *dir);
void sk_tz_cache_free(sk_tz_cache_t *cache);
/*
 * The zone called name ("Europe/Berlin", "UTC"), loaded once. NULL or ""
 * means the system's zone: $TZ, else /etc/localtime (its link target names
 * it), else /etc/timezone, else UTC. Unknown or unsafe names (absolute
 * paths, "..") fail with SK_ENOZONE and a message naming the zone.
 */
int sk_tz_cache_get(sk_tz_cache_t *cache, const char *name, const sk_tz_t **ret, sk_err_t *err);

/* Formats t as ISO-8601 in tz with its offset: 2026-03-08T03:00:00-04:00. */
void sk_tz_format_iso(const sk_tz_t *tz, int64_t t, char *buf, size_t size);
/* The same for unix milliseconds: 2026-03-08T03:00:00.250-04:00. */
void sk_tz_format_iso_ms(const sk_tz_t *tz, int64_t ms, char *buf, size_t size);
/*
 * Parses an ISO-8601 instant: YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|±HH[:MM[:SS]]].
 * Without an offset the time is local to tz (a fold takes the first pass, a
 * gap its end). Fractions of a second are truncated.
 */
int sk_tz_parse_iso(const sk_tz_t *tz, const char *text, int64_t *ret, sk_err_t *err);

#endif
