/* test_migrations.c -- upgrades of a database written by an older build:
 * the database is made at an earlier schema version (its migration steps
 * applied by hand, as that build would have), given rows, and then opened
 * by storage_open, which must bring it to the current version with the
 * rows intact and new columns filled as their step says. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../storage/db/db.h"
#include "auth.h"
#include "storage.h"
#include "testdb.h"
#include "testutil.h"

/* The schema version whose step added tokens.permissions. */
#define PERMISSIONS_VERSION 6

/* Creates path at schema version `version` (steps 0..version-1), then runs
 * sql (may be NULL) on it. */
static void
make_at_version(const char *path, int version, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    for (int v = 0; v < version; v++) {
        const char *step = stg_migration_sql(v);
        ck_assert_ptr_nonnull(step);
        ck_assert_msg(sqlite3_exec(db, step, NULL, NULL, &msg) == SQLITE_OK, "step %d: %s", v, msg);
    }
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
    ck_assert_int_eq(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
    /* the scrollId key that storage_open writes in the step making its table */
    if (sqlite3_table_column_metadata(db, NULL, "scroll_key", "key", NULL, NULL, NULL, NULL, NULL) == SQLITE_OK)
        ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO scroll_key(id, key) VALUES(1, randomblob(32))", NULL, NULL, NULL),
                         SQLITE_OK);
    if (sql != NULL)
        ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* A database made at version with sql, opened (and so migrated). */
static storage_t *
open_from(const char *path, int version, const char *sql)
{
    make_at_version(path, version, sql);
    char err[256] = "";
    storage_t *st = NULL;
    ck_assert_msg(storage_open(&st, path, 0, err, sizeof(err)) == 0, "open: %s", err);
    return st;
}

typedef struct {
    int rows;
    char ids[4][32];
    unsigned perms[4];
} rows_t;

static int
collect(void *arg, const storage_token_row_t *row)
{
    rows_t *r = arg;
    ck_assert_int_lt(r->rows, 4);
    snprintf(r->ids[r->rows], sizeof(r->ids[0]), "%s", row->id);
    r->perms[r->rows++] = row->permissions;
    return 0;
}

#define HASH32 "x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'"

START_TEST(test_tokens_before_permissions_read_and_ingest)
{
    ck_assert_int_ge(storage_schema_version(), PERMISSIONS_VERSION);
    char *path = test_tmp_path("old.db");
    storage_t *st = open_from(path, PERMISSIONS_VERSION - 1,
                              "INSERT INTO tokens(id, hash, client, account, brand, name, created_ms, revoked_ms)"
                              " VALUES('00112233445566aa', " HASH32 ", 'c1', 'a1', 'b1', 'old', 1600000000000, NULL),"
                              " ('00112233445566bb', " HASH32 ", 'c1', 'a1', NULL, NULL, 1600000000001, 1600000000002)");
    rows_t r = {0};
    ck_assert_int_eq(storage_token_foreach(st, collect, &r), 0);
    ck_assert_int_eq(r.rows, 2);
    ck_assert_str_eq(r.ids[0], "00112233445566aa");
    ck_assert_uint_eq(r.perms[0], STORAGE_PERM_READ | STORAGE_PERM_INGEST);
    ck_assert_str_eq(r.ids[1], "00112233445566bb");
    ck_assert_uint_eq(r.perms[1], STORAGE_PERM_READ | STORAGE_PERM_INGEST);

    /* the live token reaches the server's table with them */
    auth_table_t *t = NULL;
    ck_assert_int_eq(auth_table_load(st, NULL, NULL, &t), AUTH_OK);
    ck_assert_uint_eq(auth_table_count(t), 1);
    auth_table_free(t);

    /* a row written after the upgrade keeps what it was given */
    static const uint8_t hash[32] = {1};
    storage_token_row_t row = {.id = "00112233445566cc",
                               .hash = hash,
                               .client = "c1",
                               .account = "a1",
                               .created_ms = 1600000000003,
                               .permissions = STORAGE_PERM_INGEST};
    ck_assert_int_eq(storage_token_insert(st, &row), 0);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(storage_token_foreach(st, collect, &r), 0);
    ck_assert_int_eq(r.rows, 3);
    ck_assert_str_eq(r.ids[2], "00112233445566cc");
    ck_assert_uint_eq(r.perms[2], STORAGE_PERM_INGEST);
    ck_assert_uint_eq(r.perms[0], STORAGE_PERM_READ | STORAGE_PERM_INGEST);
    test_db_close(st, path);
}
END_TEST

/* The schema version whose step added trait provenance and history. */
#define TRAIT_HISTORY_VERSION 8

/* A trait stored before provenance: verbose leaves messageId and source
 * out, it has no history (at= cannot see it); the next change records
 * both. */
START_TEST(test_traits_before_history)
{
    ck_assert_int_ge(storage_schema_version(), TRAIT_HISTORY_VERSION);
    char *path = test_tmp_path("old-traits.db");
    storage_t *st = open_from(path, TRAIT_HISTORY_VERSION - 1,
                              "INSERT INTO tenants(id, client, account, brand) VALUES(1, 'c', 'a', 'b');"
                              "INSERT INTO profiles(pk, tenant_id, uuid, user_id, created_ms, updated_ms, created_by)"
                              " VALUES(1, 1, '00000000-0000-4000-8000-000000000001', 'u', 1600000000000, 1600000000000, '{}');"
                              "INSERT INTO identities(tenant_id, id_type, value, profile_pk) VALUES(1, 0, 'u', 1);"
                              "INSERT INTO traits(profile_pk, key, value, ts_ms) VALUES(1, 'plan', '\"old\"', 1600000000000)");
    char *body = NULL;
    size_t len = 0;
    storage_set_trait_history(st, 36500);
    storage_tenant_t t = storage_tenant("c", "a", "b");
    storage_traits_opts_t verbose = {.verbose = true}, at = {.has_at = true, .at_ms = 1700000000000};
    ck_assert_int_eq(storage_traits_view(st, &t, STORAGE_ID_USER, "u", 1, &verbose, 0, 100, &body, &len), 0);
    ck_assert_ptr_nonnull(strstr(body, "\"plan\":{\"value\":\"old\",\"updatedTime\":\"2020-09-13T12:26:40.000Z\"}"));
    free(body);
    ck_assert_int_eq(storage_traits_view(st, &t, STORAGE_ID_USER, "u", 1, &at, 0, 100, &body, &len), 0);
    ck_assert_ptr_null(strstr(body, "plan"));
    free(body);

    ck_assert_int_eq(test_db_ingest(st, &t,
                                    "{\"type\":\"identify\",\"userId\":\"u\",\"messageId\":\"m1\","
                                    "\"timestamp\":\"2021-01-01T00:00:00Z\",\"traits\":{\"plan\":\"new\"}}",
                                    1700000000000),
                     0);
    ck_assert_int_eq(storage_traits_view(st, &t, STORAGE_ID_USER, "u", 1, &verbose, 0, 100, &body, &len), 0);
    ck_assert_ptr_nonnull(strstr(body, "\"messageId\":\"m1\",\"source\":\"SEGMENT_API\""));
    free(body);
    ck_assert_int_eq(storage_traits_view(st, &t, STORAGE_ID_USER, "u", 1, &at, 0, 100, &body, &len), 0);
    ck_assert_ptr_nonnull(strstr(body, "\"plan\":\"new\""));
    free(body);
    test_db_close(st, path);
}
END_TEST

/* The schema version whose step moved a profile's times into profile_times. */
#define PROFILE_TIMES_VERSION 12

/* Profiles stored before: their times move over (the one never active
 * stays so), the list keeps its order by activity, `profiled check` finds
 * a times row each, and the next event moves the times on. */
START_TEST(test_profile_times_move)
{
    ck_assert_int_ge(storage_schema_version(), PROFILE_TIMES_VERSION);
    char *path = test_tmp_path("old-times.db");
    storage_t *st =
        open_from(path, PROFILE_TIMES_VERSION - 1,
                  "INSERT INTO tenants(id, client, account, brand) VALUES(1, 'c', 'a', 'b');"
                  "INSERT INTO profiles(pk, tenant_id, uuid, user_id, created_ms, updated_ms, last_activity_ms, created_by)"
                  " VALUES(1, 1, '00000000-0000-4000-8000-000000000001', 'u1', 1600000000000, 1600000005000, NULL, '{}'),"
                  " (2, 1, '00000000-0000-4000-8000-000000000002', 'u2', 1600000000000, 1600000007000, 1600000006000, '{}');"
                  "INSERT INTO identities(tenant_id, id_type, value, profile_pk) VALUES(1, 0, 'u1', 1), (1, 0, 'u2', 2)");
    char *body = NULL;
    size_t len = 0;
    storage_tenant_t t = storage_tenant("c", "a", "b");
    ck_assert_int_eq(storage_profile_view(st, &t, STORAGE_ID_USER, "u2", 2, STORAGE_VIEW_METADATA, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"updatedTime\":\"2020-09-13T12:26:47.000Z\"") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"lastActivityTime\":\"2020-09-13T12:26:46.000Z\"") != NULL, "%s", body);
    free(body);
    ck_assert_int_eq(storage_profile_view(st, &t, STORAGE_ID_USER, "u1", 2, STORAGE_VIEW_METADATA, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"updatedTime\":\"2020-09-13T12:26:45.000Z\"") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"lastActivityTime\":null") != NULL, "%s", body);
    free(body);
    ck_assert_int_eq(storage_profile_list(st, &t, 0, 10, &body, &len), 0);
    const char *a = strstr(body, "000000000001"), *b = strstr(body, "000000000002");
    ck_assert_msg(a != NULL && b != NULL && b < a, "the active one first: %s", body);
    free(body);
    ck_assert_int_eq(
        test_db_ingest(st, &t, "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Seen\",\"timestamp\":\"2021-01-01T00:00:00Z\"}",
                       1700000000000),
        0);
    ck_assert_int_eq(storage_profile_view(st, &t, STORAGE_ID_USER, "u1", 2, STORAGE_VIEW_METADATA, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"updatedTime\":\"2023-11-14T22:13:20.000Z\"") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"lastActivityTime\":\"2021-01-01T00:00:00.000Z\"") != NULL, "%s", body);
    free(body);
    uint64_t problems = 99;
    FILE *out = fopen("/dev/null", "w");
    ck_assert_int_eq(storage_check(path, out, &problems), 0);
    fclose(out);
    ck_assert_int_eq(problems, 0);
    test_db_close(st, path);
}
END_TEST

/* A database already at the current version opens read-write while another
 * connection holds the write lock (as the writer does under steady
 * ingest): there is nothing to migrate, so the open never waits for the
 * lock. It used to take it to read the version, so the checkpointer opened
 * beside a busy writer could start seconds late. */
START_TEST(test_current_schema_opens_beside_a_writer)
{
    char *path = test_tmp_path("current.db");
    char err[256] = "";
    storage_t *st = NULL, *side = NULL;
    ck_assert_msg(storage_open(&st, path, 0, err, sizeof(err)) == 0, "open: %s", err);
    sqlite3 *writer = NULL;
    ck_assert_int_eq(sqlite3_open(path, &writer), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(writer, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_msg(storage_open(&side, path, STORAGE_NO_AUTOCHECKPOINT, err, sizeof(err)) == 0, "side open: %s", err);
    ck_assert_int_eq(sqlite3_exec(writer, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_close(writer), SQLITE_OK);
    storage_close(side);
    test_db_close(st, path);
}
END_TEST

static Suite *
migrations_suite(void)
{
    Suite *s = suite_create("migrations");
    TCase *tc = tcase_create("migrations");
    tcase_add_test(tc, test_tokens_before_permissions_read_and_ingest);
    tcase_add_test(tc, test_traits_before_history);
    tcase_add_test(tc, test_profile_times_move);
    tcase_add_test(tc, test_current_schema_opens_beside_a_writer);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(migrations_suite()) == 0 ? 0 : 1;
}
