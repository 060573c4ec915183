/*
 * clock_offset.c: an LD_PRELOAD interposer that moves parcoursd's wall clock, for the deadline
 * tests (tests/integration/test_deadlines.py): a clock the tests control, with the daemon's own
 * code unchanged.
 *
 * clock_gettime(CLOCK_REALTIME) (and its coarse form) returns the real time plus the offset, in
 * milliseconds, that the file named by PARCOURS_CLOCK_FILE holds (a decimal integer; absent or
 * unreadable: 0). The file is read again when 50 ms of CLOCK_MONOTONIC have passed since the
 * last read, so that a test moves the clock by rewriting it. CLOCK_MONOTONIC is never moved:
 * timers and durations run as they do. Without the variable, nothing changes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static _Atomic(clock_gettime_fn) real_clock_gettime;
static _Atomic int64_t offset_ms;
static _Atomic int64_t read_at_ms = -1; /* monotonic ms of the last read; -1: none yet */

static clock_gettime_fn real(void)
{
    clock_gettime_fn f = atomic_load(&real_clock_gettime);
    if (f == NULL) {
        f = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        atomic_store(&real_clock_gettime, f);
    }
    return f;
}

/* The offset the file holds now (re-read every 50 ms of monotonic time). */
static int64_t offset_now(clock_gettime_fn f)
{
    const char *path = getenv("PARCOURS_CLOCK_FILE");
    if (path == NULL)
        return 0;
    struct timespec m;
    f(CLOCK_MONOTONIC, &m);
    int64_t now = (int64_t)m.tv_sec * 1000 + m.tv_nsec / 1000000;
    int64_t last = atomic_load(&read_at_ms);
    if (last < 0 || now - last >= 50) {
        int saved = errno;
        long long v = 0;
        FILE *in = fopen(path, "re");
        if (in != NULL) {
            if (fscanf(in, "%lld", &v) != 1)
                v = 0;
            fclose(in);
        }
        errno = saved;
        atomic_store(&offset_ms, (int64_t)v);
        atomic_store(&read_at_ms, now);
    }
    return atomic_load(&offset_ms);
}

int clock_gettime(clockid_t clock, struct timespec *ts)
{
    clock_gettime_fn f = real();
    if (f == NULL) {
        errno = ENOSYS;
        return -1;
    }
    int rc = f(clock, ts);
    if (rc != 0 || (clock != CLOCK_REALTIME && clock != CLOCK_REALTIME_COARSE))
        return rc;
    int64_t off = offset_now(f);
    int64_t ns = (int64_t)ts->tv_nsec + (off % 1000) * 1000000;
    ts->tv_sec += (time_t)(off / 1000) + (time_t)(ns >= 1000000000 ? 1 : ns < 0 ? -1 : 0);
    ts->tv_nsec = (long)(ns >= 1000000000 ? ns - 1000000000 : ns < 0 ? ns + 1000000000 : ns);
    return 0;
}
