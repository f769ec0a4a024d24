/*
 * The real clock (clock_gettime on CLOCK_REALTIME and CLOCK_MONOTONIC) and
 * the fake clock tests drive. Neither keeps global state: the real clock is
 * a constant, the fake one lives in its caller's storage.
 */
#include "clock.h"

static int64_t ns_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_wall(const sk_clock_t *c)
{
    (void)c;
    return ns_of(CLOCK_REALTIME);
}

static int64_t real_mono(const sk_clock_t *c)
{
    (void)c;
    return ns_of(CLOCK_MONOTONIC);
}

static const sk_clock_t real_clock = {real_wall, real_mono, NULL};

const sk_clock_t *sk_clock_real(void)
{
    return &real_clock;
}

/* ns -> ms rounding down, also before 1970 (as sk_now_ms does after it). */
static int64_t floor_ms(int64_t ns)
{
    return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
}

int64_t sk_clock_wall_ns(const sk_clock_t *c)
{
    return c->wall_ns(c);
}

int64_t sk_clock_mono_ns(const sk_clock_t *c)
{
    return c->mono_ns(c);
}

int64_t sk_clock_wall_ms(const sk_clock_t *c)
{
    return floor_ms(c->wall_ns(c));
}

int64_t sk_clock_mono_ms(const sk_clock_t *c)
{
    return floor_ms(c->mono_ns(c));
}

static int64_t fake_wall(const sk_clock_t *c)
{
    return ((const sk_fake_clock_t *)c->data)->wall_ns;
}

static int64_t fake_mono(const sk_clock_t *c)
{
    return ((const sk_fake_clock_t *)c->data)->mono_ns;
}

void sk_fake_clock_init(sk_fake_clock_t *f, int64_t wall_ms, int64_t mono_ms)
{
    f->clock.wall_ns = fake_wall;
    f->clock.mono_ns = fake_mono;
    f->clock.data = f;
    f->wall_ns = wall_ms * 1000000;
    f->mono_ns = mono_ms * 1000000;
}

void sk_fake_clock_advance(sk_fake_clock_t *f, int64_t ms)
{
    SK_ASSERT(ms >= 0);
    f->wall_ns += ms * 1000000;
    f->mono_ns += ms * 1000000;
}

void sk_fake_clock_set_wall(sk_fake_clock_t *f, int64_t wall_ms)
{
    f->wall_ns = wall_ms * 1000000;
}
