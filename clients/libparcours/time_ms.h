/*
 * time_ms.h: clock readings in milliseconds, shared by the modules of libparcours. Internal to
 * the library: not installed.
 */
#ifndef PARCOURS_CLIENT_CLOCK_H
#define PARCOURS_CLIENT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of clock (CLOCK_MONOTONIC for deadlines, CLOCK_REALTIME for event ids). */
static inline int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
