/* test_trait_history.c -- trait provenance and history in storage: the
 * write combiner (group commits, imports) records the same changes as
 * immediate writes, against values already stored too; an identical value
 * or a losing older one records none; retention by the injected clock
 * (storage_set_clock) hides old changes and storage_trait_history_sweep
 * deletes them; history off records nothing and its reads refuse. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"
#include "testdb.h"
#include "testutil.h"

#define T0 1760000000000LL /* 2025-10-09 */
#define DAY 86400000LL

static int64_t clock_ms;

static int64_t
test_clock(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int64_t
count_sql(const char *path, const char *sql)
{
    return test_db_int(path, sql, NULL, 0);
}

/* An identify of user setting trait plan to value (JSON text) at T0 + off. */
static void
put(storage_t *st, const storage_tenant_t *t, const char *user, const char *mid, int64_t off, const char *value)
{
    char json[512], ts[32];
    base_format_time(T0 + off, ts);
    snprintf(json, sizeof(json),
             "{\"type\":\"identify\",\"userId\":\"%s\",\"messageId\":\"%s\",\"timestamp\":\"%s\",\"traits\":{\"plan\":%s}}", user,
             mid, ts, value);
    ck_assert_int_eq(test_db_ingest(st, t, json, T0), 0);
}

/* The history of user's plan: "value@day-offset/messageId" joined by ','. */
static void
history(storage_t *st, const storage_tenant_t *t, const char *user, char *out, size_t outlen)
{
    storage_history_query_t q = {"plan", 4, INT64_MIN, INT64_MAX, 100};
    char *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(storage_trait_history_begin(st, t, STORAGE_ID_USER, user, strlen(user), &q, T0, 60000, &body, &len), 0);
    json_object *j = json_tokener_parse(body), *data = json_object_object_get(j, "data");
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(data); i++) {
        json_object *e = json_object_array_get_idx(data, i);
        int64_t ms;
        const char *time = json_object_get_string(json_object_object_get(e, "time"));
        ck_assert_int_eq(base_parse_time(time, strlen(time), &ms), 0);
        o += (size_t)snprintf(out + o, outlen - o, "%s%s@%lld/%s", i ? "," : "",
                              json_object_to_json_string(json_object_object_get(e, "value")), (long long)((ms - T0) / DAY),
                              json_object_get_string(json_object_object_get(e, "messageId")));
    }
    json_object_put(j);
    free(body);
}

/* The messages of one scenario: -1 ... in arrival order. */
static void
scenario(storage_t *st, const storage_tenant_t *t)
{
    put(st, t, "u", "m1", 1 * DAY, "\"a\"");
    put(st, t, "u", "m2", 2 * DAY, "\"b\"");
    put(st, t, "u", "m3", 3 * DAY, "\"b\""); /* the same value: no change */
    put(st, t, "u", "m0", 0 * DAY, "\"z\""); /* older: loses */
    put(st, t, "u", "m4", 4 * DAY, "\"a\""); /* back to a: a change */
    put(st, t, "u", "m5", 4 * DAY, "\"a\""); /* same time, same value */
}

START_TEST(test_combined_as_immediate)
{
    char *path;
    storage_t *st = test_db_open("th.db", &path);
    clock_ms = T0 + 5 * DAY;
    storage_set_clock(st, test_clock, NULL);
    storage_tenant_t now = storage_tenant("c", "a", "now"), comb = storage_tenant("c", "a", "comb");
    scenario(st, &now);
    ck_assert_int_eq(storage_begin(st), 0);
    ck_assert_int_eq(storage_combine_writes(st, true), 0);
    scenario(st, &comb);
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_int_eq(storage_combine_writes(st, false), 0);

    char a[512], b[512];
    history(st, &now, "u", a, sizeof(a));
    ck_assert_str_eq(a, "\"a\"@4/m4,\"b\"@2/m2,\"a\"@1/m1");
    history(st, &comb, "u", b, sizeof(b));
    ck_assert_str_eq(b, a);

    /* provenance: the latest message with the value */
    storage_traits_opts_t o = {.verbose = true};
    char *body;
    size_t len;
    ck_assert_int_eq(storage_traits_view(st, &comb, STORAGE_ID_USER, "u", 1, &o, 0, 100, &body, &len), 0);
    ck_assert_ptr_nonnull(strstr(body, "\"plan\":{\"value\":\"a\",\"updatedTime\":\"2025-10-13T"));
    ck_assert_ptr_nonnull(strstr(body, "\"messageId\":\"m5\",\"source\":\"SEGMENT_API\"}"));
    free(body);

    /* combined again, over what is stored: the same value again is no change */
    ck_assert_int_eq(storage_begin(st), 0);
    ck_assert_int_eq(storage_combine_writes(st, true), 0);
    put(st, &comb, "u", "m6", 5 * DAY, "\"a\"");
    put(st, &comb, "u", "m7", 5 * DAY + 1, "\"c\"");
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_int_eq(storage_combine_writes(st, false), 0);
    history(st, &comb, "u", b, sizeof(b));
    ck_assert_str_eq(b, "\"c\"@5/m7,\"a\"@4/m4,\"b\"@2/m2,\"a\"@1/m1");
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM trait_history"), 7);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_retention_and_sweep)
{
    char *path;
    storage_t *st = test_db_open("ret.db", &path);
    storage_tenant_t t = storage_tenant("c", "a", "b");
    storage_set_trait_history(st, 30);
    storage_set_clock(st, test_clock, NULL);
    put(st, &t, "r", "old", 0, "1");
    put(st, &t, "r", "new", 20 * DAY, "2");
    char got[256];
    clock_ms = T0 + 30 * DAY; /* exactly 30 days after the first: kept */
    history(st, &t, "r", got, sizeof(got));
    ck_assert_str_eq(got, "2@20/new,1@0/old");
    clock_ms = T0 + 30 * DAY + 1;
    history(st, &t, "r", got, sizeof(got));
    ck_assert_str_eq(got, "2@20/new");
    /* at= sees only what is kept */
    storage_traits_opts_t o = {.has_at = true, .at_ms = T0 + DAY};
    char *body;
    size_t len;
    ck_assert_int_eq(storage_traits_view(st, &t, STORAGE_ID_USER, "r", 1, &o, 0, 100, &body, &len), 0);
    ck_assert_ptr_null(strstr(body, "\"plan\""));
    free(body);
    o.at_ms = T0 + 20 * DAY;
    ck_assert_int_eq(storage_traits_view(st, &t, STORAGE_ID_USER, "r", 1, &o, 0, 100, &body, &len), 0);
    ck_assert_ptr_nonnull(strstr(body, "\"plan\":2"));
    free(body);

    int64_t deleted = -1;
    ck_assert_int_eq(storage_trait_history_sweep(st, T0 + 30 * DAY, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    ck_assert_int_eq(storage_trait_history_sweep(st, T0 + 30 * DAY + 1, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM trait_history"), 1);
    ck_assert_int_eq(storage_trait_history_sweep(st, T0 + 60 * DAY, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM trait_history"), 0);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_history_off)
{
    char *path;
    storage_t *st = test_db_open("off.db", &path);
    storage_tenant_t t = storage_tenant("c", "a", "b");
    storage_set_trait_history(st, 0);
    put(st, &t, "o", "m1", 0, "1");
    put(st, &t, "o", "m2", DAY, "2");
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM trait_history"), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM traits WHERE message_id = 'm2' AND source = 'SEGMENT_API'"), 1);
    storage_history_query_t q = {"plan", 4, INT64_MIN, INT64_MAX, 10};
    char *body;
    size_t len;
    ck_assert_int_eq(storage_trait_history_begin(st, &t, STORAGE_ID_USER, "o", 1, &q, T0, 1000, &body, &len), STORAGE_EINVAL);
    storage_traits_opts_t o = {.has_at = true, .at_ms = T0};
    ck_assert_int_eq(storage_traits_view(st, &t, STORAGE_ID_USER, "o", 1, &o, 0, 100, &body, &len), STORAGE_EINVAL);
    int64_t deleted = -1;
    ck_assert_int_eq(storage_trait_history_sweep(st, T0, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    test_db_close(st, path);
}
END_TEST

static Suite *
trait_history_suite(void)
{
    Suite *s = suite_create("trait_history");
    TCase *tc = tcase_create("trait_history");
    tcase_add_test(tc, test_combined_as_immediate);
    tcase_add_test(tc, test_retention_and_sweep);
    tcase_add_test(tc, test_history_off);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(trait_history_suite()) == 0 ? 0 : 1;
}
