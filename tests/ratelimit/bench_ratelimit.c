/* bench_ratelimit.c -- nanoseconds per rate-limit check: one key from one
 * and two threads (flooded, so mostly denials, and unlimited, so every check
 * is a CAS), and the key table across 1M keys. Run a Release build; it takes
 * a few seconds. Not a test: it asserts nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "base.h"
#include "ratelimit.h"

#define ONE_KEY_OPS 20000000L
#define TABLE_KEYS 1000000L
#define TABLE_ROUNDS 5

typedef struct {
    _Atomic int64_t *tat;
    const ratelimit_policy_t *policy;
    int use_clock;
    long ops;
    long admitted;
} one_key_arg_t;

static void *
one_key(void *arg)
{
    one_key_arg_t *a = arg;
    int64_t now = base_clock_ns(0);
    long admitted = 0;
    for (long i = 0; i < a->ops; i++) {
        if (a->use_clock)
            now = base_clock_ns(0);
        admitted += ratelimit_take(a->tat, a->policy, now, NULL);
    }
    a->admitted = admitted;
    return NULL;
}

/* Runs `threads` threads on one key; returns wall ns per check per thread. */
static double
bench_one_key(int threads, const ratelimit_policy_t *p, int use_clock, long *admitted)
{
    _Atomic int64_t tat = 0;
    pthread_t th[2];
    one_key_arg_t args[2];
    int64_t t0 = base_clock_ns(1);
    for (int i = 0; i < threads; i++) {
        args[i] = (one_key_arg_t){&tat, p, use_clock, ONE_KEY_OPS / threads, 0};
        if (pthread_create(&th[i], NULL, one_key, &args[i]) != 0)
            abort();
    }
    *admitted = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        *admitted += args[i].admitted;
    }
    int64_t t1 = base_clock_ns(1);
    return (double)(t1 - t0) / (double)(ONE_KEY_OPS / threads);
}

/* A bijection on 64-bit keys: visits the 1M keys in scattered order. */
static uint64_t
key_of(long i)
{
    return ((uint64_t)i + 1) * 0x9E3779B97F4A7C15ULL | 1;
}

static void
bench_table(void)
{
    ratelimit_table_t *t = ratelimit_table_new(1u << 21);
    if (t == NULL)
        abort();
    ratelimit_policy_t p;
    ratelimit_policy_init(&p, 100, 500);
    int64_t now = base_clock_ns(0);

    int64_t t0 = base_clock_ns(1);
    for (long i = 0; i < TABLE_KEYS; i++)
        ratelimit_table_take(t, key_of(i), &p, now, NULL);
    int64_t t1 = base_clock_ns(1);
    long admitted = 0;
    for (int r = 0; r < TABLE_ROUNDS; r++)
        for (long i = 0; i < TABLE_KEYS; i++) {
            /* Revisit in a different scattered order each round. */
            long j = (long)((uint64_t)(i * 7919L + r * 104729L) % TABLE_KEYS);
            admitted += ratelimit_table_take(t, key_of(j), &p, now, NULL);
        }
    int64_t t2 = base_clock_ns(1);

    printf("%-38s %7s %9.1f\n", "table, 1M keys, first take (claim)", "1", (double)(t1 - t0) / TABLE_KEYS);
    printf("%-38s %7s %9.1f\n", "table, 1M keys, known keys", "1", (double)(t2 - t1) / (TABLE_KEYS * TABLE_ROUNDS));
    printf("table memory: %.1f MB for 2^21 slots; %ld of %ld repeat takes admitted\n",
           (double)ratelimit_table_memory(t) / (1024 * 1024), admitted, TABLE_KEYS * TABLE_ROUNDS);
    ratelimit_table_free(t);
}

int
main(void)
{
    ratelimit_policy_t limited, unlimited;
    ratelimit_policy_init(&limited, 100, 500); /* flood: all but the burst denied */
    /* T = 1 ns and a 4 s burst: every one of the checks admits. */
    ratelimit_policy_init(&unlimited, 1e9, 4000000000u);

    int64_t t0 = base_clock_ns(1);
    int64_t sink = 0;
    for (long i = 0; i < ONE_KEY_OPS; i++)
        sink += base_clock_ns(0);
    int64_t t1 = base_clock_ns(1);
    for (long i = 0; i < ONE_KEY_OPS / 4; i++)
        sink += base_clock_ns(1);
    int64_t t2 = base_clock_ns(1);

    printf("%-38s %7s %9s %9s\n", "case", "threads", "ns/check", "admitted");
    printf("%-38s %7s %9.1f\n", "clock MONOTONIC_COARSE alone", "1", (double)(t1 - t0) / ONE_KEY_OPS);
    printf("%-38s %7s %9.1f\n", "clock MONOTONIC alone", "1", (double)(t2 - t1) / (ONE_KEY_OPS / 4));

    static const struct {
        const char *name;
        int limited;
        int use_clock;
    } cases[] = {
        {"one key, flooded (denials)", 1, 0},
        {"one key, flooded, + coarse clock", 1, 1},
        {"one key, unlimited (every check CAS)", 0, 0},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        for (int threads = 1; threads <= 2; threads++) {
            long admitted;
            double ns = bench_one_key(threads, cases[c].limited ? &limited : &unlimited, cases[c].use_clock, &admitted);
            char label[8];
            snprintf(label, sizeof(label), "%d", threads);
            printf("%-38s %7s %9.1f %8.1f%%\n", cases[c].name, label, ns, 100.0 * (double)admitted / ONE_KEY_OPS);
        }
    bench_table();
    return sink == 42 ? 1 : 0;
}
