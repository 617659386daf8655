/* test_write_pages.c -- what an event's write dirties, counted in the
 * frames of the write-ahead log mapped to their b-trees (SQLite's dbstat):
 * a new event of a known profile rewrites the narrow row of its times
 * (profile_times, schema step 12) and not the wide profile row, unless its
 * userId changed. SQLite's schema only. */
#include <check.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"
#include "testdb.h"
#include "testutil.h"

#define NOW 1605793157912LL
#define USERS 200

static storage_tenant_t tenant;
static storage_t *st;
static char *path;

static void
setup(void)
{
    tenant = storage_tenant("intilery", "marketing", "PAGES");
    st = test_db_open("pages.db", &path);
}

static void
teardown(void)
{
    test_db_close(st, path);
}

static void
track(const char *user, int n, int minute)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"Paid\",\"messageId\":\"m-%s-%d\","
             "\"timestamp\":\"2021-01-01T%02d:%02d:00.000Z\",\"properties\":{\"n\":%d}}",
             user, user, n, minute / 60, minute % 60, n);
    ck_assert_int_eq(test_db_ingest(st, &tenant, json, NOW + n), 0);
}

static sqlite3 *
side(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Empties the write-ahead log: what is in it afterwards is what came next. */
static void
log_truncate(void)
{
    sqlite3 *db = side();
    /* a connection knows the file is in WAL mode once it has read it */
    ck_assert_int_eq(sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL), SQLITE_OK);
    int logged = -1, done = -1;
    ck_assert_int_eq(sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, &logged, &done), SQLITE_OK);
    ck_assert_int_eq(logged, 0);
    sqlite3_close(db);
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The log's frames whose page belongs to b-tree name (a table or index);
 * a frame whose salt is not the header's is left from before the log
 * started over (https://sqlite.org/fileformat.html#the_write_ahead_log). */
static int
frames_of(const char *name)
{
    char wal[1024];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    FILE *f = fopen(wal, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char hdr[32];
    if (fread(hdr, 1, 32, f) < 32) { /* emptied and not written since */
        fclose(f);
        return 0;
    }
    uint32_t page = be32(hdr + 8);
    ck_assert_uint_ge(page, 512);
    sqlite3 *db = side();
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM dbstat WHERE pageno = ?1 AND name = ?2", -1, &s, NULL),
                     SQLITE_OK);
    unsigned char *frame = malloc(24 + page);
    int n = 0;
    while (fread(frame, 1, 24 + page, f) == 24 + page) {
        if (memcmp(frame + 8, hdr + 16, 8) != 0)
            break;
        uint32_t pgno = be32(frame);
        sqlite3_bind_int64(s, 1, pgno);
        sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        n += sqlite3_column_int(s, 0);
        sqlite3_reset(s);
    }
    free(frame);
    fclose(f);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

START_TEST(test_event_of_known_profile)
{
    char user[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(user, sizeof(user), "user-%04d", i);
        track(user, 0, 0);
    }
    log_truncate();
    ck_assert_int_eq(frames_of("profiles"), 0);
    /* a later event of every profile, in one transaction as the server's
     * group commit: their times change, their rows stay */
    ck_assert_int_eq(storage_begin(st), 0);
    for (int i = 0; i < USERS; i++) {
        snprintf(user, sizeof(user), "user-%04d", i);
        track(user, 1, 5);
    }
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_int_eq(frames_of("profiles"), 0);
    ck_assert_int_ge(frames_of("profile_times"), 1);
    ck_assert_int_ge(frames_of("profile_times_activity"), 1);
    char *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(storage_profile_view(st, &tenant, STORAGE_ID_USER, "user-0007", 9, STORAGE_VIEW_METADATA, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"updatedTime\":\"2020-11-19T13:39:17.913Z\"") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"lastActivityTime\":\"2021-01-01T00:05:00.000Z\"") != NULL, "%s", body);
    free(body);
    /* an older event moves updatedTime on, not lastActivityTime back */
    track("user-0007", 2, 2);
    ck_assert_int_eq(storage_profile_view(st, &tenant, STORAGE_ID_USER, "user-0007", 9, STORAGE_VIEW_METADATA, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"updatedTime\":\"2020-11-19T13:39:17.914Z\"") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"lastActivityTime\":\"2021-01-01T00:05:00.000Z\"") != NULL, "%s", body);
    free(body);
}
END_TEST

/* A message naming a profile by an anonymousId with a new userId: the
 * wide row is written, once. */
START_TEST(test_user_id_change_writes_the_row)
{
    ck_assert_int_eq(test_db_ingest(st, &tenant, "{\"type\":\"track\",\"anonymousId\":\"a-1\",\"event\":\"Seen\"}", NOW), 0);
    log_truncate();
    ck_assert_int_eq(test_db_ingest(st, &tenant, "{\"type\":\"track\",\"anonymousId\":\"a-1\",\"event\":\"Seen\"}", NOW + 1), 0);
    ck_assert_int_eq(frames_of("profiles"), 0);
    ck_assert_int_eq(
        test_db_ingest(st, &tenant, "{\"type\":\"track\",\"anonymousId\":\"a-1\",\"userId\":\"u-1\",\"event\":\"Seen\"}", NOW + 2),
        0);
    ck_assert_int_eq(frames_of("profiles"), 1);
    char *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(storage_profile_view(st, &tenant, STORAGE_ID_ANONYMOUS, "a-1", 3, STORAGE_VIEW_EXTERNAL_IDS, &body, &len), 0);
    ck_assert_msg(strstr(body, "u-1") != NULL, "%s", body);
    free(body);
}
END_TEST

static Suite *
suite(void)
{
    Suite *s = suite_create("write_pages");
    TCase *tc = tcase_create("pages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_event_of_known_profile);
    tcase_add_test(tc, test_user_id_change_writes_the_row);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(suite()) == 0 ? 0 : 1;
}
