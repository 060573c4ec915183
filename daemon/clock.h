/* clock.h: the daemon's clock readings in milliseconds. */
#ifndef PARCOURS_CLOCK_H
#define PARCOURS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of clock (CLOCK_MONOTONIC for durations, CLOCK_REALTIME for dates). */
static inline int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t monotonic_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

#endif
