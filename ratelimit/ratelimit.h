/* ratelimit.h -- lock-free token buckets as GCRA: one 64-bit atomic
 * "theoretical arrival time" per key, in integer nanoseconds of a monotonic
 * clock that the caller passes in. No mutex on the check path; a denial
 * writes nothing. */
#ifndef PROFILED_RATELIMIT_H
#define PROFILED_RATELIMIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* rate requests per second with a burst of `burst`: a full bucket admits
 * exactly `burst` requests at one instant, then one every 1/rate s. */
typedef struct {
    int64_t interval_ns; /* T = 1e9 / rate */
    int64_t cap_ns;      /* burst * T */
    uint32_t burst;
    double rate;
} ratelimit_policy_t;

/* Fills p. rate > 0 and burst >= 1 (asserted). */
void ratelimit_policy_init(ratelimit_policy_t *p, double rate, uint32_t burst);

typedef struct {
    int allowed;
    uint32_t remaining;     /* requests that would pass now, after this one */
    int64_t retry_after_ns; /* denied: wait this long for one request */
    int64_t reset_ns;       /* until the bucket is full again */
} ratelimit_result_t;

/* Takes one request from the bucket whose state is *tat (0 = full bucket).
 * Returns 1 (admitted) or 0 (denied) and fills *res when not NULL. */
int ratelimit_take(_Atomic int64_t *tat, const ratelimit_policy_t *p, int64_t now_ns, ratelimit_result_t *res);
/* The same for a request costing n (>= 1) requests: admitted only when all
 * n fit now (tat moves n intervals), else denied and nothing is taken;
 * retry_after_ns is then the wait until n fit. A cost above burst is never
 * admitted. */
int ratelimit_take_n(_Atomic int64_t *tat, const ratelimit_policy_t *p, uint32_t n, int64_t now_ns, ratelimit_result_t *res);

/* A bounded table of buckets keyed by 64-bit keys (client addresses):
 * open addressing, lock-free. Entries whose bucket is full again may be
 * reused for other keys, so memory stays at `capacity` entries. When every
 * probed slot is busy with a non-full bucket the key shares the last probed
 * slot's bucket (conservative: may deny early, never admits extra). */
typedef struct ratelimit_table ratelimit_table_t;

/* capacity is rounded up to a power of two. NULL on allocation failure. */
ratelimit_table_t *ratelimit_table_new(size_t capacity);
void ratelimit_table_free(ratelimit_table_t *t);
size_t ratelimit_table_memory(const ratelimit_table_t *t);

/* ratelimit_take on the bucket of key (any value but 0). */
int ratelimit_table_take(ratelimit_table_t *t, uint64_t key, const ratelimit_policy_t *p, int64_t now_ns, ratelimit_result_t *res);

#endif
