/* test_fairq.c -- the writer's fair queue (server/jobs/fairq.c, compiled in
 * here: it knows nothing of h2o): one tenant's flood of large batches never
 * keeps another tenant's request out of the next group commit, a group's
 * messages stay within the budget, a tenant's requests keep their order,
 * the bounds answer full, and the budget grows only for a tenant alone. Counted in items, never timed. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "../../server/jobs/fairq.c"
#include "testutil.h"

#define GROUP_MAX 256
#define BUDGET 2000

static int
push(fairq_t *q, const char *key, intptr_t item, size_t weight)
{
    return fairq_push(q, key, strlen(key), (void *)item, weight);
}

/* Item ids encode the tenant: 1000s flood, 2000s quiet, 3000s another. */
START_TEST(test_flood_does_not_starve)
{
    fairq_t *q = fairq_new(4096, 1024);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(push(q, "flood", 1000 + i, 1000), 0);
    ck_assert_int_eq(push(q, "quiet", 2000, 1), 0);
    void *out[GROUP_MAX];
    size_t n = fairq_take(q, out, GROUP_MAX, BUDGET);
    /* the quiet request is in the very next group, behind at most the
     * budget's worth of the flood */
    size_t flood_before = 0;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if ((intptr_t)out[i] == 2000)
            found = 1;
        else
            flood_before++;
    }
    ck_assert_msg(found, "the quiet tenant's request waited behind %zu flood requests", n);
    ck_assert_uint_le(flood_before * 1000, BUDGET);
    ck_assert_uint_eq(fairq_count(q), 101 - n);

    /* quiet requests arriving during the flood each make the next group */
    for (int round = 0; round < 5; round++) {
        ck_assert_int_eq(push(q, "quiet", 2001 + round, 1), 0);
        ck_assert_int_eq(push(q, "other", 3000 + round, 5), 0);
        n = fairq_take(q, out, GROUP_MAX, BUDGET);
        int quiet = 0, other = 0;
        for (size_t i = 0; i < n; i++) {
            quiet += (intptr_t)out[i] == 2001 + round;
            other += (intptr_t)out[i] == 3000 + round;
        }
        ck_assert_msg(quiet == 1 && other == 1, "round %d: quiet %d other %d of %zu", round, quiet, other, n);
    }
    fairq_free(q);
}
END_TEST

START_TEST(test_order_and_budget)
{
    fairq_t *q = fairq_new(4096, 1024);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(push(q, "a", 1000 + i, 100), 0);
        ck_assert_int_eq(push(q, "b", 2000 + i, 100), 0);
    }
    void *out[GROUP_MAX];
    intptr_t last_a = 0, last_b = 0;
    size_t total = 0;
    while (fairq_count(q) > 0) {
        size_t n = fairq_take(q, out, GROUP_MAX, 500);
        ck_assert_uint_le(n * 100, 500);
        for (size_t i = 0; i < n; i++) {
            intptr_t v = (intptr_t)out[i];
            intptr_t *last = v < 2000 ? &last_a : &last_b;
            ck_assert_msg(*last == 0 || v == *last + 1, "out of order: %ld after %ld", (long)v, (long)*last);
            *last = v;
            /* turns alternate within a group */
            if (i > 0)
                ck_assert((v < 2000) != ((intptr_t)out[i - 1] < 2000));
        }
        total += n;
    }
    ck_assert_uint_eq(total, 20);
    ck_assert_int_eq(last_a, 1009);
    ck_assert_int_eq(last_b, 2009);

    /* one request over the budget still goes, alone */
    ck_assert_int_eq(push(q, "a", 1, 9000), 0);
    ck_assert_int_eq(push(q, "a", 2, 1), 0);
    ck_assert_uint_eq(fairq_take(q, out, GROUP_MAX, 500), 1);
    ck_assert_uint_eq(fairq_take(q, out, GROUP_MAX, 500), 1);
    ck_assert_uint_eq(fairq_take(q, out, GROUP_MAX, 500), 0);
    /* at most max_items a take */
    for (int i = 0; i < 10; i++)
        push(q, "c", i + 1, 0);
    ck_assert_uint_eq(fairq_take(q, out, 4, 500), 4);
    fairq_free(q); /* with items queued: freed, items untouched */
}
END_TEST

START_TEST(test_bounds)
{
    fairq_t *q = fairq_new(8, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(push(q, "flood", i + 1, 1), 0);
    /* one tenant's share is full; others still get in */
    ck_assert_int_eq(push(q, "flood", 9, 1), FAIRQ_KEY_FULL);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(push(q, "b", i + 1, 1), 0);
    ck_assert_int_eq(push(q, "c", 1, 1), 0);
    ck_assert_int_eq(push(q, "d", 1, 1), 0);
    ck_assert_int_eq(push(q, "e", 1, 1), FAIRQ_FULL);
    ck_assert_uint_eq(fairq_count(q), 8);
    void *out[8];
    ck_assert_uint_eq(fairq_take(q, out, 8, 100), 8);
    ck_assert_uint_eq(fairq_count(q), 0);
    /* emptied keys are forgotten and come back */
    ck_assert_int_eq(push(q, "flood", 1, 1), 0);
    ck_assert_int_eq(push(q, "flood", 2, 1), 0);
    ck_assert_uint_eq(fairq_count(q), 2);
    fairq_free(q);
}
END_TEST

/* The budget is the fair one while two tenants shared the queue within
 * the window (and during the queue's first window), the large one only
 * after a tenant had it to itself that long; a second tenant brings the
 * fair one back at once. Time is injected. */
START_TEST(test_budget_alone_and_shared)
{
    fairq_t *q = fairq_new(64, 64);
    void *out[8];
    ck_assert_int_eq(push(q, "a", 1, 100), 0);
    ck_assert_uint_eq(fairq_budget(q, 1000, BUDGET, 8 * BUDGET, 2000), BUDGET); /* the first window */
    ck_assert_uint_eq(fairq_budget(q, 2999, BUDGET, 8 * BUDGET, 2000), BUDGET);
    ck_assert_uint_eq(fairq_budget(q, 3000, BUDGET, 8 * BUDGET, 2000), 8 * BUDGET); /* alone 2 s */
    ck_assert_int_eq(push(q, "b", 2, 1), 0);
    ck_assert_uint_eq(fairq_budget(q, 3001, BUDGET, 8 * BUDGET, 2000), BUDGET); /* b shares it */
    ck_assert_uint_eq(fairq_take(q, out, 8, BUDGET), 2);
    ck_assert_int_eq(push(q, "a", 3, 100), 0);
    ck_assert_uint_eq(fairq_budget(q, 4000, BUDGET, 8 * BUDGET, 2000), BUDGET); /* b was here 1 s ago */
    ck_assert_uint_eq(fairq_budget(q, 5001, BUDGET, 8 * BUDGET, 2000), 8 * BUDGET);
    /* an empty queue is nobody sharing it */
    ck_assert_uint_eq(fairq_take(q, out, 8, BUDGET), 1);
    ck_assert_uint_eq(fairq_budget(q, 9000, BUDGET, 8 * BUDGET, 2000), 8 * BUDGET);
    fairq_free(q);
}
END_TEST

static Suite *
fairq_suite(void)
{
    Suite *s = suite_create("fairq");
    TCase *tc = tcase_create("fairq");
    tcase_add_test(tc, test_flood_does_not_starve);
    tcase_add_test(tc, test_order_and_budget);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_budget_alone_and_shared);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    int failed = test_run_suite(fairq_suite());
    return failed == 0 ? 0 : 1;
}
