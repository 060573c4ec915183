/*
 * clock.h: clock readings in milliseconds, for the daemon and the clients.
 *
 * Inline, because they are called on every event and every poll, and are two lines each.
 * CLOCK_MONOTONIC is for durations and deadlines (it never jumps when the date is set);
 * CLOCK_REALTIME is for dates written down (commit times, the time part of event ids).
 */
#ifndef PARCOURS_COMMON_CLOCK_H
#define PARCOURS_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of clock (CLOCK_MONOTONIC or CLOCK_REALTIME). Both clocks always exist on
 * Linux, so clock_gettime cannot fail here and its result is not checked. */
static inline int64_t clock_read_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since an arbitrary start (boot): for durations, uptimes and deadlines. */
static inline int64_t clock_monotonic_ms(void)
{
    return clock_read_ms(CLOCK_MONOTONIC);
}

/* Unix milliseconds: for dates. */
static inline int64_t clock_realtime_ms(void)
{
    return clock_read_ms(CLOCK_REALTIME);
}

#endif
