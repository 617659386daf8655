/* gcra.c -- the Generic Cell Rate Algorithm on one atomic "theoretical
 * arrival time" (tat): a bucket is full when tat <= now, and each admitted
 * request moves tat one interval T later. Admission is a compare-and-swap;
 * a denial only reads, so a flood on one key bounces no cache line. A
 * request costing n moves tat n intervals at once (all or nothing). */
#include <assert.h>
#include "ratelimit.h"

/* Keeps cap and tat + T far from INT64_MAX for any monotonic clock value. */
#define MAX_CAP_NS (INT64_MAX / 4)

void
ratelimit_policy_init(ratelimit_policy_t *p, double rate, uint32_t burst)
{
    assert(p != NULL);
    assert(rate > 0);
    assert(burst >= 1);
    double interval = 1e9 / rate;
    double max_interval = (double)(MAX_CAP_NS / burst);
    if (interval > max_interval)
        interval = max_interval;
    p->interval_ns = (int64_t)(interval + 0.5);
    if (p->interval_ns < 1)
        p->interval_ns = 1;
    /* cap = burst * T (not (burst - 1) * T): next = base + T, so a full
     * bucket at now admits while next - now <= cap, i.e. exactly burst times. */
    p->cap_ns = (int64_t)burst * p->interval_ns;
    p->burst = burst;
    p->rate = rate;
}

int
ratelimit_take(_Atomic int64_t *tat, const ratelimit_policy_t *p, int64_t now_ns, ratelimit_result_t *res)
{
    return ratelimit_take_n(tat, p, 1, now_ns, res);
}

int
ratelimit_take_n(_Atomic int64_t *tat, const ratelimit_policy_t *p, uint32_t n, int64_t now_ns, ratelimit_result_t *res)
{
    assert(tat != NULL && p != NULL && n >= 1);
    /* n * T, capped past cap + T so that a cost above burst is only ever
     * denied (and n * T cannot overflow) */
    int64_t cost = n > p->burst ? p->cap_ns + p->interval_ns : (int64_t)n * p->interval_ns;
    int64_t cur = atomic_load_explicit(tat, memory_order_acquire);
    for (;;) {
        int64_t base = cur > now_ns ? cur : now_ns;
        int64_t next = base + cost;
        if (next - now_ns > p->cap_ns) {
            if (res != NULL) {
                res->allowed = 0;
                res->remaining = 0;
                res->retry_after_ns = next - now_ns - p->cap_ns;
                res->reset_ns = cur > now_ns ? cur - now_ns : 0;
            }
            return 0;
        }
        /* On failure cur receives the winner's tat and the check reruns. */
        if (atomic_compare_exchange_weak_explicit(tat, &cur, next, memory_order_acq_rel, memory_order_acquire)) {
            if (res != NULL) {
                res->allowed = 1;
                res->remaining = (uint32_t)((p->cap_ns - (next - now_ns)) / p->interval_ns);
                res->retry_after_ns = 0;
                res->reset_ns = next - now_ns;
            }
            return 1;
        }
    }
}
