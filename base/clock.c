/* clock.c -- the program's clocks. The monotonic one runs the rate limiter
 * (which takes its time from the caller) and every duration measured;
 * CLOCK_MONOTONIC_COARSE is several times cheaper and, since the limiter's
 * tat advances by whole intervals, its few-millisecond resolution costs no
 * accuracy over time. */
#include <stdlib.h>
#include <time.h>
#include "base.h"

int64_t
base_clock_ns(int fine)
{
    struct timespec ts;
    /* Both clocks exist on every Linux this runs on; failing is a bug. */
    if (clock_gettime(fine ? CLOCK_MONOTONIC : CLOCK_MONOTONIC_COARSE, &ts) != 0)
        abort();
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
base_wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        abort();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
