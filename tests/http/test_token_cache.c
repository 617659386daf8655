/* test_token_cache.c -- the loops' caches of verified tokens, over real
 * HTTP: a token answered from the cache is refused once `token revoke` (the
 * CLI, while the server serves) has been seen by the reloader, on every
 * loop; another token keeps working; a text that differs from a cached
 * token's in its secret is refused. Counted through /metrics
 * (profiled_token_cache_total) and by requests, never timed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/intilery/marketing/MARKETING/v1"
#define TRAITS BASE "/profiles/userId:cached/traits"
#define WARM 64
#define CONNS 8

static test_server_t srv;
static char *db;
static char tok_revoked[128], tok_kept[128];

static long long
hits(void)
{
    return test_metric(srv.port, "profiled_token_cache_total{result=\"hit\"}");
}

static long long
misses(void)
{
    return test_metric(srv.port, "profiled_token_cache_total{result=\"miss\"}");
}

/* WARM requests with tok over CONNS connections (so over both loops):
 * how many answered status. */
static int
many(const char *tok, int status)
{
    const char *h[] = {"auth-token", tok, NULL};
    int st[WARM], n = 0;
    ck_assert_int_eq(test_http_many(srv.port, TRAITS, h, WARM, CONNS, st), WARM);
    for (int i = 0; i < WARM; i++)
        n += st[i] == status;
    return n;
}

static int
get_status(const char *tok)
{
    test_resp_t r;
    json_object *j = test_get(srv.port, TRAITS, tok, &r);
    int status = r.status;
    if (status == 401)
        test_assert_error(&r, j, 401, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);
    return status;
}

START_TEST(test_revoked_token_refused_after_it_was_cached)
{
    long long h0 = hits(), m0 = misses();
    ck_assert_int_eq(many(tok_revoked, 200), WARM);
    long long dh = hits() - h0, dm = misses() - m0;
    /* one miss a loop thread at most (two loops), the rest from the cache */
    ck_assert_int_eq(dh + dm, WARM);
    ck_assert_int_le(dm, 2);
    ck_assert_int_ge(dh, WARM - 2);

    char id[32];
    ck_assert_int_eq(sscanf(tok_revoked, "pd_%16[0-9a-f]_", id), 1);
    const char *revoke[] = {"token", "revoke", "--db", db, id, NULL};
    ck_assert_int_eq(test_cli(revoke, NULL, NULL, NULL), 0);

    /* refused once the reloader (--token-reload-ms 100) has swapped tables:
     * polled with a bound of requests */
    int n, status = 200;
    for (n = 0; n < 400 && status == 200; n++) {
        status = get_status(tok_revoked);
        if (status == 200)
            usleep(25000);
    }
    ck_assert_int_eq(status, 401);
    /* from then on on every loop, however often it was cached there */
    ck_assert_int_eq(many(tok_revoked, 401), WARM);
    /* the other token still passes, verified again in the new table */
    long long m1 = misses();
    ck_assert_int_eq(many(tok_kept, 200), WARM);
    ck_assert_int_ge(misses() - m1, 1);
}
END_TEST

START_TEST(test_other_secret_of_a_cached_id_refused)
{
    ck_assert_int_eq(many(tok_kept, 200), WARM); /* cached on the loops */
    char forged[128];
    snprintf(forged, sizeof(forged), "%s", tok_kept);
    size_t len = strlen(forged);
    forged[len - 1] = forged[len - 1] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(many(forged, 401), WARM);
    forged[len - 1] = '\0'; /* one character short */
    ck_assert_int_eq(get_status(forged), 401);
    ck_assert_int_eq(get_status(tok_kept), 200);
}
END_TEST

/* The profile the reads find (each test runs in its own process: sent
 * again, it changes nothing). */
static void
seed(void)
{
    const char *body = "{\"userId\":\"cached\",\"traits\":{\"firstName\":\"Cached\"},\"messageId\":\"cached-1\"}";
    test_post_ok(srv.port, tok_kept, BASE "/identify", body);
}

static Suite *
token_cache_suite(void)
{
    Suite *s = suite_create("token_cache");
    TCase *tc = tcase_create("token_cache");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, seed, NULL);
    /* the kept token's test first: the other revokes its token */
    tcase_add_test(tc, test_other_secret_of_a_cached_id_refused);
    tcase_add_test(tc, test_revoked_token_refused_after_it_was_cached);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("token_cache.db");
    test_token_create(db, "intilery", "marketing", "MARKETING", tok_revoked);
    test_token_create(db, "intilery", "marketing", "MARKETING", tok_kept);
    const char *extra[] = {"--threads", "2", "--workers", "1", "--token-reload-ms", "100", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(token_cache_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
