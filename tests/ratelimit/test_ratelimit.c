/* test_ratelimit.c -- Check suite for ratelimit/: the GCRA arithmetic (burst,
 * steady rate, refill, remaining / retry / reset), exactness under concurrent
 * takes, and the bounded key table. Every test injects its own clock. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include "base.h"
#include "ratelimit.h"
#include "testutil.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* 100 requests/s, burst 500: T = 10 ms, cap = 5 s. */
static ratelimit_policy_t
default_policy(void)
{
    ratelimit_policy_t p;
    ratelimit_policy_init(&p, 100, 500);
    return p;
}

/* Takes until the first denial at now; returns how many were admitted. */
static int
drain(_Atomic int64_t *tat, const ratelimit_policy_t *p, int64_t now)
{
    int n = 0;
    while (ratelimit_take(tat, p, now, NULL))
        n++;
    return n;
}

START_TEST(test_policy)
{
    ratelimit_policy_t p = default_policy();
    ck_assert_int_eq(p.interval_ns, 10 * MS);
    ck_assert_int_eq(p.cap_ns, 5 * SEC);
    ck_assert_uint_eq(p.burst, 500);

    ratelimit_policy_t q;
    ratelimit_policy_init(&q, 3, 1);
    ck_assert_int_eq(q.interval_ns, 333333333);
    ratelimit_policy_init(&q, 1e-12, 4000000000u); /* absurd: clamped, no overflow */
    ck_assert_int_gt(q.cap_ns, 0);
    ck_assert_int_gt(q.interval_ns, 0);
}
END_TEST

START_TEST(test_burst_exact)
{
    ratelimit_policy_t p = default_policy();
    _Atomic int64_t tat = 0;
    ratelimit_result_t r;
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(ratelimit_take(&tat, &p, 0, &r), 1);
        ck_assert_int_eq(r.allowed, 1);
    }
    ck_assert_int_eq(ratelimit_take(&tat, &p, 0, &r), 0);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_int_eq(r.retry_after_ns, 10 * MS);

    /* The same on a real clock value far from 0. */
    _Atomic int64_t tat2 = 0;
    ck_assert_int_eq(drain(&tat2, &p, 123456789 * SEC + 17), 500);

    /* burst 1: one at a time. */
    ratelimit_policy_t one;
    ratelimit_policy_init(&one, 100, 1);
    _Atomic int64_t tat3 = 0;
    ck_assert_int_eq(drain(&tat3, &one, 5 * SEC), 1);
    ck_assert_int_eq(drain(&tat3, &one, 5 * SEC + 10 * MS - 1), 0);
    ck_assert_int_eq(drain(&tat3, &one, 5 * SEC + 10 * MS), 1);
}
END_TEST

START_TEST(test_steady_rate)
{
    ratelimit_policy_t p = default_policy();
    _Atomic int64_t tat = 0;
    ck_assert_int_eq(drain(&tat, &p, 0), 500);
    for (int64_t k = 1; k <= 300; k++) {
        int64_t due = k * 10 * MS;
        ck_assert_int_eq(ratelimit_take(&tat, &p, due - 1, NULL), 0);
        ck_assert_int_eq(ratelimit_take(&tat, &p, due, NULL), 1);
        ck_assert_int_eq(ratelimit_take(&tat, &p, due, NULL), 0);
    }
    /* Polling every 1 ms for 10 s admits exactly one per 10 ms. */
    int admitted = 0;
    for (int64_t now = 3 * SEC + 1 * MS; now <= 13 * SEC; now += MS)
        admitted += ratelimit_take(&tat, &p, now, NULL);
    ck_assert_int_eq(admitted, 1000);
}
END_TEST

START_TEST(test_refill)
{
    ratelimit_policy_t p = default_policy();
    _Atomic int64_t tat = 0;
    ck_assert_int_eq(drain(&tat, &p, 0), 500);
    /* 1 s idle refills 100. */
    ck_assert_int_eq(drain(&tat, &p, 1 * SEC), 100);
    /* 5 s idle: full again, exactly the burst. */
    ck_assert_int_eq(drain(&tat, &p, 6 * SEC), 500);
    /* A long idle period never fills above the burst. */
    ck_assert_int_eq(drain(&tat, &p, 1000 * SEC), 500);
    ck_assert_int_eq(drain(&tat, &p, 1000 * SEC + 5 * MS), 0);
    /* A partly used bucket refills to full and no further. */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(ratelimit_take(&tat, &p, 2000 * SEC, NULL), 1);
    ck_assert_int_eq(drain(&tat, &p, 2100 * SEC), 500);
}
END_TEST

START_TEST(test_result_fields)
{
    ratelimit_policy_t p = default_policy();
    _Atomic int64_t tat = 0;
    ratelimit_result_t r;

    ck_assert_int_eq(ratelimit_take(&tat, &p, 0, &r), 1);
    ck_assert_uint_eq(r.remaining, 499);
    ck_assert_int_eq(r.reset_ns, 10 * MS);
    ck_assert_int_eq(r.retry_after_ns, 0);
    for (int i = 0; i < 9; i++)
        ratelimit_take(&tat, &p, 0, &r);
    ck_assert_uint_eq(r.remaining, 490);
    ck_assert_int_eq(r.reset_ns, 100 * MS);
    for (int i = 0; i < 490; i++)
        ck_assert_int_eq(ratelimit_take(&tat, &p, 0, &r), 1);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_int_eq(r.reset_ns, 5 * SEC);

    ck_assert_int_eq(ratelimit_take(&tat, &p, 0, &r), 0);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_int_eq(r.retry_after_ns, 10 * MS);
    ck_assert_int_eq(r.reset_ns, 5 * SEC);

    /* 3 ms later: 7 ms to wait, 4.997 s until full. */
    ck_assert_int_eq(ratelimit_take(&tat, &p, 3 * MS, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, 7 * MS);
    ck_assert_int_eq(r.reset_ns, 5 * SEC - 3 * MS);

    /* Half refilled: 250 available, 249 left after this one. */
    ck_assert_int_eq(ratelimit_take(&tat, &p, 2500 * MS, &r), 1);
    ck_assert_uint_eq(r.remaining, 249);
    ck_assert_int_eq(r.reset_ns, 2510 * MS);

    /* Remaining rounds down between intervals. */
    ck_assert_int_eq(ratelimit_take(&tat, &p, 2505 * MS, &r), 1);
    ck_assert_uint_eq(r.remaining, 248);

    /* Fresh bucket long after: full, reset is one interval. */
    _Atomic int64_t fresh = 0;
    ck_assert_int_eq(ratelimit_take(&fresh, &p, 77 * SEC, &r), 1);
    ck_assert_uint_eq(r.remaining, 499);
    ck_assert_int_eq(r.reset_ns, 10 * MS);
}
END_TEST

START_TEST(test_denial_writes_nothing)
{
    ratelimit_policy_t p = default_policy();
    _Atomic int64_t tat = 0;
    ck_assert_int_eq(drain(&tat, &p, 0), 500);
    int64_t before = atomic_load(&tat);
    ratelimit_result_t r;
    for (int i = 0; i < 10000; i++) {
        ck_assert_int_eq(ratelimit_take(&tat, &p, (i % 10) * MS, &r), 0);
        ck_assert_int_eq(atomic_load(&tat), before);
    }
    /* The flood cost nothing: the next slot opens on time. */
    ck_assert_int_eq(ratelimit_take(&tat, &p, 10 * MS, NULL), 1);
    ck_assert_int_eq(atomic_load(&tat), before + 10 * MS);
}
END_TEST

/* ---- concurrency: one key, a shared fake clock advanced by every call. */
#define HAMMER_THREADS 4
#define HAMMER_STEP (7 * 1000LL) /* 7 us per call: not a divisor of T */
#define HAMMER_END (10 * SEC + 3 * MS)

typedef struct {
    _Atomic int64_t tat;
    _Atomic int64_t clock;
    ratelimit_policy_t policy;
} hammer_t;

typedef struct {
    hammer_t *h;
    long admitted;
} hammer_arg_t;

static void *
hammer(void *arg)
{
    hammer_arg_t *a = arg;
    hammer_t *h = a->h;
    for (;;) {
        int64_t now = atomic_fetch_add(&h->clock, HAMMER_STEP) + HAMMER_STEP;
        if (now >= HAMMER_END)
            break;
        a->admitted += ratelimit_take(&h->tat, &h->policy, now, NULL);
    }
    /* Every thread ends by draining at the last instant, so the final
     * operation on the key is a denial at HAMMER_END. */
    a->admitted += drain(&h->tat, &h->policy, HAMMER_END);
    return NULL;
}

START_TEST(test_threads_one_key)
{
    static hammer_t h;
    atomic_init(&h.tat, 0);
    atomic_init(&h.clock, 0);
    h.policy = default_policy();
    /* The first request at t = 0 anchors the bucket to the clock's origin. */
    long total = ratelimit_take(&h.tat, &h.policy, 0, NULL);
    pthread_t th[HAMMER_THREADS];
    hammer_arg_t args[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        args[i].h = &h;
        args[i].admitted = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < HAMMER_THREADS; i++) {
        pthread_join(th[i], NULL);
        total += args[i].admitted;
    }
    /* t from the fake clock: calls ran until it passed HAMMER_END. */
    ck_assert_int_ge(atomic_load(&h.clock), HAMMER_END);
    int64_t t = HAMMER_END;
    long expected = (long)h.policy.burst + (long)(t / h.policy.interval_ns);
    ck_assert_int_eq(total, expected);
    ck_assert_int_eq(total, 1500);
}
END_TEST

/* ---- the key table */
#define TABLE_KEYS 64

typedef struct {
    ratelimit_table_t *table;
    _Atomic int64_t clock;
    ratelimit_policy_t policy;
    _Atomic long admitted[TABLE_KEYS];
} table_hammer_t;

static void *
table_hammer(void *arg)
{
    table_hammer_t *h = arg;
    long local[TABLE_KEYS] = {0};
    for (uint64_t i = 0;; i++) {
        int64_t now = atomic_fetch_add(&h->clock, HAMMER_STEP) + HAMMER_STEP;
        if (now >= HAMMER_END)
            break;
        size_t k = (size_t)(i * 7 % TABLE_KEYS);
        local[k] += ratelimit_table_take(h->table, k + 1, &h->policy, now, NULL);
    }
    for (size_t k = 0; k < TABLE_KEYS; k++) {
        while (ratelimit_table_take(h->table, k + 1, &h->policy, HAMMER_END, NULL))
            local[k]++;
        atomic_fetch_add(&h->admitted[k], local[k]);
    }
    return NULL;
}

START_TEST(test_table_threads)
{
    static table_hammer_t h;
    h.table = ratelimit_table_new(256);
    ck_assert_ptr_nonnull(h.table);
    atomic_init(&h.clock, 0);
    ratelimit_policy_init(&h.policy, 100, 20);
    for (size_t k = 0; k < TABLE_KEYS; k++)
        atomic_init(&h.admitted[k], ratelimit_table_take(h.table, k + 1, &h.policy, 0, NULL));
    pthread_t th[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, table_hammer, &h), 0);
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(th[i], NULL);
    long expected = (long)h.policy.burst + (long)(HAMMER_END / h.policy.interval_ns);
    for (size_t k = 0; k < TABLE_KEYS; k++)
        ck_assert_int_eq(atomic_load(&h.admitted[k]), expected);
    ratelimit_table_free(h.table);
}
END_TEST

START_TEST(test_table_keys_independent)
{
    ratelimit_policy_t p = default_policy();
    ratelimit_table_t *t = ratelimit_table_new(1024);
    ck_assert_ptr_nonnull(t);
    int n = 0;
    while (ratelimit_table_take(t, 42, &p, 0, NULL))
        n++;
    ck_assert_int_eq(n, 500);
    ratelimit_result_t r;
    ck_assert_int_eq(ratelimit_table_take(t, 43, &p, 0, &r), 1);
    ck_assert_uint_eq(r.remaining, 499);
    ck_assert_int_eq(ratelimit_table_take(t, 42, &p, 0, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, 10 * MS);
    for (uint64_t k = 1000; k < 1100; k++) {
        ck_assert_int_eq(ratelimit_table_take(t, k, &p, 1 * MS, &r), 1);
        ck_assert_uint_eq(r.remaining, 499);
    }
    ck_assert_int_eq(ratelimit_table_take(t, 42, &p, 10 * MS, NULL), 1);
    ck_assert_int_eq(ratelimit_table_take(t, 42, &p, 10 * MS, NULL), 0);
    ratelimit_table_free(t);
}
END_TEST

START_TEST(test_table_reuse)
{
    ratelimit_policy_t p;
    ratelimit_policy_init(&p, 100, 5); /* cap 50 ms */
    ratelimit_table_t *t = ratelimit_table_new(8);
    ck_assert_ptr_nonnull(t);
    size_t mem = ratelimit_table_memory(t);

    /* 8 slots, 8 busy keys: a 9th shares a busy bucket, which can only make
     * it stricter. */
    for (uint64_t k = 1; k <= 8; k++)
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(ratelimit_table_take(t, k, &p, 0, NULL), 1);
    ck_assert_int_eq(ratelimit_table_take(t, 9, &p, 0, NULL), 0);

    /* Once those buckets are full again their slots serve new keys, each
     * with exactly its own burst, and memory stays the same. */
    int64_t now = 50 * MS;
    for (uint64_t k = 100; k < 10100; k++) {
        int n = 0;
        while (ratelimit_table_take(t, k, &p, now, NULL))
            n++;
        ck_assert_int_eq(n, 5);
        now += 50 * MS;
    }
    ck_assert_uint_eq(ratelimit_table_memory(t), mem);

    /* Many keys at one instant never admit more than the table holds. */
    int admitted = 0;
    for (uint64_t k = 20000; k < 21000; k++)
        admitted += ratelimit_table_take(t, k, &p, now, NULL);
    ck_assert_int_le(admitted, 8 * 5);
    ratelimit_table_free(t);
}
END_TEST

START_TEST(test_table_million_keys)
{
    ratelimit_table_t *t = ratelimit_table_new(1u << 21);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_le(ratelimit_table_memory(t), 100u * 1024 * 1024);
    ck_assert_ptr_null(ratelimit_table_new(SIZE_MAX / 2));

    /* burst 1: a key that found no slot of its own shares a drained bucket
     * and is denied, so denials count the keys that did not fit. */
    ratelimit_policy_t p;
    ratelimit_policy_init(&p, 1, 1);
    int denied = 0;
    for (uint64_t k = 1; k <= 1000000; k++)
        denied += !ratelimit_table_take(t, k * 0x10001, &p, SEC, NULL);
    ck_assert_int_le(denied, 100);
    /* And they are remembered: a second take is denied for each of them. */
    int again = 0;
    for (uint64_t k = 1; k <= 1000000; k++)
        again += ratelimit_table_take(t, k * 0x10001, &p, SEC, NULL);
    ck_assert_int_eq(again, 0);
    ratelimit_table_free(t);
}
END_TEST

/* A cost of n moves tat n intervals: rate 1/s, burst 25 admits 10 + 10,
 * refuses 10 (nothing taken), admits 5 (remaining 0); a second later one
 * interval is back; a cost above burst never passes. */
START_TEST(test_take_n)
{
    ratelimit_policy_t p;
    ratelimit_policy_init(&p, 1, 25);
    _Atomic int64_t tat = 0;
    int64_t now = 1000 * SEC;
    ratelimit_result_t r;
    ck_assert_int_eq(ratelimit_take_n(&tat, &p, 10, now, &r), 1);
    ck_assert_uint_eq(r.remaining, 15);
    ck_assert_int_eq(r.reset_ns, 10 * SEC);
    ck_assert_int_eq(ratelimit_take_n(&tat, &p, 10, now, &r), 1);
    ck_assert_uint_eq(r.remaining, 5);
    int64_t before = atomic_load(&tat);
    ck_assert_int_eq(ratelimit_take_n(&tat, &p, 10, now, &r), 0);
    ck_assert_int_eq(r.allowed, 0);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_int_eq(r.retry_after_ns, 5 * SEC);
    ck_assert_int_eq(atomic_load(&tat), before);
    ck_assert_int_eq(ratelimit_take_n(&tat, &p, 5, now, &r), 1);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_int_eq(ratelimit_take_n(&tat, &p, 1, now, &r), 0);
    ck_assert_int_eq(r.retry_after_ns, 1 * SEC);
    ck_assert_int_eq(ratelimit_take_n(&tat, &p, 1, now + SEC, &r), 1);
    ck_assert_uint_eq(r.remaining, 0);
    /* n = 1 is ratelimit_take */
    _Atomic int64_t a = 0, b = 0;
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(ratelimit_take_n(&a, &p, 1, now, NULL), ratelimit_take(&b, &p, now, NULL));
    ck_assert_int_eq(atomic_load(&a), atomic_load(&b));
    /* above burst: refused even on a full bucket, without overflow */
    _Atomic int64_t full = 0;
    ck_assert_int_eq(ratelimit_take_n(&full, &p, 26, now, NULL), 0);
    ck_assert_int_eq(ratelimit_take_n(&full, &p, UINT32_MAX, now, NULL), 0);
    ck_assert_int_eq(atomic_load(&full), 0);
    ck_assert_int_eq(ratelimit_take_n(&full, &p, 25, now, &r), 1);
    ck_assert_uint_eq(r.remaining, 0);
}
END_TEST

START_TEST(test_now)
{
    int64_t a = base_clock_ns(1);
    int64_t b = base_clock_ns(1);
    ck_assert_int_gt(a, 0);
    ck_assert_int_ge(b, a);
    int64_t c = base_clock_ns(0);
    ck_assert_int_gt(c, 0);
}
END_TEST

static Suite *
ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("gcra");
    tcase_add_test(tc, test_policy);
    tcase_add_test(tc, test_burst_exact);
    tcase_add_test(tc, test_steady_rate);
    tcase_add_test(tc, test_refill);
    tcase_add_test(tc, test_result_fields);
    tcase_add_test(tc, test_denial_writes_nothing);
    tcase_add_test(tc, test_now);
    tcase_add_test(tc, test_take_n);
    suite_add_tcase(s, tc);

    TCase *tc_threads = tcase_create("threads");
    tcase_set_timeout(tc_threads, 120);
    tcase_add_test(tc_threads, test_threads_one_key);
    suite_add_tcase(s, tc_threads);

    TCase *tc_table = tcase_create("table");
    tcase_set_timeout(tc_table, 120);
    tcase_add_test(tc_table, test_table_keys_independent);
    tcase_add_test(tc_table, test_table_reuse);
    tcase_add_test(tc_table, test_table_threads);
    tcase_add_test(tc_table, test_table_million_keys);
    suite_add_tcase(s, tc_table);
    return s;
}

int
main(void)
{
    int failed = test_run_suite(ratelimit_suite());
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
