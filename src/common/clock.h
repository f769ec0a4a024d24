/*
 * The clock the daemon reads "now" from: a wall clock (instants: unix time)
 * and a monotonic clock (waits and durations), behind function pointers so
 * that tests can hand the firing engine a fake clock and drive it through
 * downtime, DST changes, clock jumps and stalls. Exports the real clock and
 * a fake one whose two readings the caller sets.
 */
#ifndef SK_CLOCK_H
#define SK_CLOCK_H

#include "common.h"

typedef struct sk_clock sk_clock_t;

/* Reads one of the clock's two times, in nanoseconds. */
typedef int64_t (*sk_clock_read_cb)(const sk_clock_t *clock);

/*
 * A clock: two readers and the data they read. Readers return nanoseconds
 * so that a timer can be armed to the nanosecond from one reading; most
 * callers want the millisecond accessors below. Both readers must be safe
 * to call from any thread that may use the clock.
 */
struct sk_clock {
    sk_clock_read_cb wall_ns; /* unix time (CLOCK_REALTIME): may jump either way */
    sk_clock_read_cb mono_ns; /* arbitrary origin (CLOCK_MONOTONIC): never goes back */
    void *data;               /* the readers' own, borrowed */
};

/* The system's clocks (clock_gettime). Immutable; any thread. */
const sk_clock_t *sk_clock_real(void);

/* Wall time / monotonic time of c in ms (floor) and ns. Any thread c allows. */
int64_t sk_clock_wall_ms(const sk_clock_t *c);
int64_t sk_clock_mono_ms(const sk_clock_t *c);
int64_t sk_clock_wall_ns(const sk_clock_t *c);
int64_t sk_clock_mono_ns(const sk_clock_t *c);

/*
 * A clock that tells the times it was set to, for tests. It lives in the
 * caller's storage (it is its own `data`) and must outlive every reader;
 * it is not thread-safe. `clock` is what the code under test is handed.
 */
typedef struct sk_fake_clock {
    sk_clock_t clock;
    int64_t wall_ns, mono_ns;
} sk_fake_clock_t;

/* Starts f at wall_ms (unix ms) and mono_ms. */
void sk_fake_clock_init(sk_fake_clock_t *f, int64_t wall_ms, int64_t mono_ms);
/* Time passes: both clocks move by ms (>= 0), as they do when a process
 * is stopped (SIGSTOP) or its machine is busy. */
void sk_fake_clock_advance(sk_fake_clock_t *f, int64_t ms);
/* The wall clock is set to wall_ms (a jump either way, or a DST-free
 * correction); the monotonic clock does not move. */
void sk_fake_clock_set_wall(sk_fake_clock_t *f, int64_t wall_ms);

#endif
