/* clock.c -- the monotonic nanosecond clock the rate limiter runs on.
 * CLOCK_MONOTONIC_COARSE is several times cheaper and, since tat advances by
 * whole intervals, its few-millisecond resolution costs no accuracy over time. */
#include <stdlib.h>
#include <time.h>
#include "ratelimit.h"

int64_t
ratelimit_now_ns(int fine)
{
    struct timespec ts;
    /* Both clocks exist on every Linux this runs on; failing is a bug. */
    if (clock_gettime(fine ? CLOCK_MONOTONIC : CLOCK_MONOTONIC_COARSE, &ts) != 0)
        abort();
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
