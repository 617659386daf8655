/* test_event_levels.c -- the two levels of the event entries (schema step
 * 10): events stored hot (storage_hot_events, as the server's writer does)
 * and moved into the large tables by compaction rounds
 * (storage_events_compact), a few steps a round, and the first/last marks
 * likewise (schema step 11). Whatever the split, an events page shows
 * every event once in order, the metadata one first and one last event
 * an eventAction, the right ones, a repeated messageId is
 * found in either level, a merge takes both levels of both sides, an
 * erasure leaves no entry behind, and `profiled check` finds each event
 * with exactly one entry of each kind. Counted in entries and steps. */
#include <check.h>
#include <json-c/json.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"
#include "testdb.h"
#include "testutil.h"

#define NOW 1605793157912LL
#define TTL 300000

static storage_tenant_t tenant;
static storage_t *st;
static char *path;

static void
setup(void)
{
    tenant = storage_tenant("intilery", "marketing", "LEVELS");
    st = test_db_open("levels.db", &path);
    storage_hot_events(st, true);
}

static void
teardown(void)
{
    test_db_close(st, path);
}

/* A track event of user at 2021-01-01 + minute minutes. */
static int
track(const char *user, const char *mid, int minute)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"Paid\",\"messageId\":\"%s\","
             "\"timestamp\":\"2021-01-01T%02d:%02d:00.000Z\",\"properties\":{\"n\":%d}}",
             user, mid, minute / 60, minute % 60, minute);
    return test_db_ingest(st, &tenant, json, NOW);
}

static long long
count(const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    long long n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

/* One compaction round to its end: returns the steps that moved entries. */
static int
compact_round(int64_t min_hot, int64_t chunk, int64_t *moved_total)
{
    int steps = 0;
    int64_t moved = 0;
    *moved_total = 0;
    do {
        ck_assert_int_eq(storage_events_compact(st, min_hot, chunk, &moved), 0);
        if (moved > 0)
            steps++;
        *moved_total += moved;
        min_hot = 1;
    } while (moved > 0);
    return steps;
}

/* The n from "n": in the events of a page, in page order, into out. */
static int
page_ns(const char *user, bool desc, int *out, int max)
{
    storage_event_query_t q;
    memset(&q, 0, sizeof(q));
    q.start_ms = INT64_MIN;
    q.end_ms = INT64_MAX;
    q.descending = desc;
    q.limit = 100;
    char *body = NULL;
    size_t len = 0;
    int rc = storage_events_begin(st, &tenant, STORAGE_ID_USER, user, strlen(user), &q, NOW, TTL, &body, &len);
    if (rc != 0)
        return -rc;
    int n = 0;
    for (const char *p = body; (p = strstr(p, "\"properties\":{\"n\":")) != NULL && n < max; p++)
        out[n++] = atoi(p + 18);
    free(body);
    return n;
}

static void
assert_page(const char *user, int want)
{
    int ns[200];
    for (int desc = 0; desc < 2; desc++) {
        int n = page_ns(user, desc, ns, 200);
        ck_assert_int_eq(n, want);
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(ns[i], desc ? want - 1 - i : i);
    }
}

/* properties.n of the metadata's firstEvent.paid (or lastEvent.paid). */
static int
mark_n(const char *user, bool last)
{
    char *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(storage_profile_view(st, &tenant, STORAGE_ID_USER, user, strlen(user), STORAGE_VIEW_METADATA, &body, &len), 0);
    json_object *j = json_tokener_parse(body), *ev, *paid, *props, *n;
    ck_assert_msg(j != NULL, "%s", body);
    ck_assert(json_object_object_get_ex(j, last ? "lastEvent" : "firstEvent", &ev));
    ck_assert_int_eq(json_object_object_length(ev), 1); /* one row an eventAction, whatever the levels */
    ck_assert(json_object_object_get_ex(ev, "paid", &paid));
    ck_assert(json_object_object_get_ex(paid, "properties", &props));
    ck_assert(json_object_object_get_ex(props, "n", &n));
    int v = json_object_get_int(n);
    json_object_put(j);
    free(body);
    return v;
}

/* `profiled check` of the file: the problems it found, what it said in
 * *said (malloc'd). */
static uint64_t
check_file(char **said)
{
    size_t len = 0;
    FILE *f = open_memstream(said, &len);
    uint64_t problems = 99;
    ck_assert_int_eq(storage_check(path, f, &problems), 0);
    fclose(f);
    return problems;
}

static void
assert_checked(void)
{
    char *out = NULL;
    ck_assert_msg(check_file(&out) == 0, "profiled check: %s", out);
    free(out);
}

START_TEST(test_pages_and_repeats_across_levels)
{
    for (int i = 0; i < 10; i++) {
        char mid[32];
        snprintf(mid, sizeof(mid), "m-%d", i);
        ck_assert_int_eq(track("u1", mid, i), 0);
    }
    int64_t moved = 0;
    ck_assert_int_eq(compact_round(1, 1000, &moved), 1);
    ck_assert_int_eq(moved, 2 * 10 + 1); /* an entry by profile and one by key an event, the profile's marks */
    ck_assert_int_eq(count("SELECT count(*) FROM ev_prof_hot"), 0);
    for (int i = 10; i < 30; i++) {
        char mid[32];
        snprintf(mid, sizeof(mid), "m-%d", i);
        ck_assert_int_eq(track("u1", mid, i), 0);
    }
    ck_assert_int_eq(count("SELECT count(*) FROM ev_prof"), 10);
    ck_assert_int_eq(count("SELECT count(*) FROM ev_prof_hot"), 20);
    assert_page("u1", 30);
    /* the first mark is cold, the last hot */
    ck_assert_int_eq(mark_n("u1", false), 0);
    ck_assert_int_eq(mark_n("u1", true), 29);
    /* a repeat of a cold and of a hot messageId stores nothing */
    ck_assert_int_eq(track("u1", "m-3", 3), STORAGE_EEXIST);
    ck_assert_int_eq(track("u1", "m-25", 25), STORAGE_EEXIST);
    assert_page("u1", 30);
    assert_checked();
    /* below the threshold nothing moves; at it, everything does */
    ck_assert_int_eq(storage_events_compact(st, 21, 1000, &moved), 0);
    ck_assert_int_eq(moved, 0);
    ck_assert_int_eq(compact_round(20, 1000, &moved), 1);
    ck_assert_int_eq(moved, 41);
    ck_assert_int_eq(count("SELECT count(*) FROM event_marks_hot"), 0);
    ck_assert_int_eq(mark_n("u1", false), 0);
    ck_assert_int_eq(mark_n("u1", true), 29);
    ck_assert_int_eq(count("SELECT count(*) FROM ev_prof"), 30);
    ck_assert_int_eq(track("u1", "m-25", 25), STORAGE_EEXIST);
    assert_page("u1", 30);
    assert_checked();
}
END_TEST

/* A round moves a chunk of adjoining keys a step: 40 profiles of one
 * event with chunks of 8 take five steps of each table; an event stored
 * behind the cursors mid-round waits for the next round, and every page
 * reads right at every step. */
START_TEST(test_round_in_chunks)
{
    char user[32], mid[32];
    for (int u = 0; u < 40; u++) {
        snprintf(user, sizeof(user), "c-%02d", u);
        snprintf(mid, sizeof(mid), "c-%02d-0", u);
        ck_assert_int_eq(track(user, mid, 0), 0);
    }
    int steps = 0;
    int64_t moved = 0, total = 0;
    for (;;) {
        ck_assert_int_eq(storage_events_compact(st, 40, 8, &moved), 0);
        if (moved == 0)
            break;
        steps++;
        total += moved;
        if (steps == 2) { /* c-00's profile is behind the cursor now */
            ck_assert_int_eq(track("c-00", "c-00-1", 1), 0);
            ck_assert_int_eq(track("c-39", "c-39-1", 1), 0);
        }
        for (int u = 0; u < 40; u += 13) {
            snprintf(user, sizeof(user), "c-%02d", u);
            assert_page(user, (u == 0 || u == 39) && steps >= 2 ? 2 : 1);
        }
    }
    ck_assert_int_le(steps, 6);
    ck_assert_int_ge(steps, 5);
    /* c-39's second event was ahead of the by-profile cursor, not c-00's */
    ck_assert_int_ge(total, 2 * 40 + 1);
    ck_assert_int_ge(count("SELECT count(*) FROM ev_prof_hot"), 1);
    assert_checked();
    ck_assert_int_ge(compact_round(1, 8, &moved), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM ev_prof_hot") + count("SELECT count(*) FROM ev_key_hot"), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ev_prof"), 42);
    assert_page("c-00", 2);
    assert_page("c-39", 2);
    assert_checked();
}
END_TEST

static int
track_n(const char *user, const char *mid, int minute, int n)
{
    char json[512];
    snprintf(json, sizeof(json),
             "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"Paid\",\"messageId\":\"%s\","
             "\"timestamp\":\"2021-01-01T00:%02d:00.000Z\",\"properties\":{\"n\":%d}}",
             user, mid, minute, n);
    return test_db_ingest(st, &tenant, json, NOW);
}

/* The metadata's first and last event take the better of the two levels'
 * marks, ties in time going by eventId as in one level. */
START_TEST(test_marks_across_levels)
{
    ck_assert_int_eq(track_n("u2", "m-0", 0, 0), 0);
    ck_assert_int_eq(track_n("u2", "m-9", 9, 9), 0);
    int64_t moved = 0;
    compact_round(1, 1000, &moved);
    ck_assert_int_eq(count("SELECT count(*) FROM event_marks_hot"), 0);
    ck_assert_int_eq(track_n("u2", "a-tie", 0, -1), 0); /* ties the cold first, smaller eventId: first */
    ck_assert_int_eq(track_n("u2", "z-5", 5, 5), 0);    /* hot, inside: changes nothing shown */
    ck_assert_int_eq(count("SELECT count(*) FROM event_marks_hot"), 1);
    ck_assert_int_eq(mark_n("u2", false), -1);
    ck_assert_int_eq(mark_n("u2", true), 9);
    ck_assert_int_eq(track_n("u2", "zz-9", 9, 99), 0); /* ties the cold last, larger eventId: last */
    ck_assert_int_eq(mark_n("u2", true), 99);
    ck_assert_int_eq(track_n("u2", "a-9", 9, 98), 0); /* ties it with a smaller one: not */
    ck_assert_int_eq(mark_n("u2", true), 99);
    assert_checked();
    compact_round(1, 1000, &moved);
    ck_assert_int_eq(count("SELECT count(*) FROM event_marks_hot"), 0);
    ck_assert_int_eq(mark_n("u2", false), -1);
    ck_assert_int_eq(mark_n("u2", true), 99);
    assert_checked();
}
END_TEST

/* A merge whose two sides sit in different levels, then an erasure. */
START_TEST(test_merge_and_erase_across_levels)
{
    char mid[32];
    for (int i = 0; i < 5; i++) { /* the userId's events: compacted */
        snprintf(mid, sizeof(mid), "a-%d", i);
        ck_assert_int_eq(track("ua", mid, i), 0);
    }
    int64_t moved = 0;
    compact_round(1, 1000, &moved);
    ck_assert_int_eq(moved, 11);
    for (int i = 5; i < 9; i++) { /* the anonymous profile's: hot */
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"type\":\"track\",\"anonymousId\":\"anon-b\",\"event\":\"Paid\",\"messageId\":\"b-%d\","
                 "\"timestamp\":\"2021-01-01T00:%02d:00.000Z\",\"properties\":{\"n\":%d}}",
                 i, i, i);
        ck_assert_int_eq(test_db_ingest(st, &tenant, json, NOW), 0);
    }
    ck_assert_int_eq(test_db_ingest(st, &tenant,
                                    "{\"type\":\"identify\",\"userId\":\"ua\",\"anonymousId\":\"anon-b\",\"messageId\":\"idf\"}",
                                    NOW),
                     0);
    assert_page("ua", 9);
    ck_assert_int_eq(mark_n("ua", false), 0); /* ua's, cold */
    ck_assert_int_eq(mark_n("ua", true), 8);  /* anon-b's, hot */
    ck_assert_int_eq(count("SELECT count(DISTINCT profile_pk) FROM (SELECT profile_pk FROM ev_prof UNION ALL"
                           " SELECT profile_pk FROM ev_prof_hot)"),
                     1);
    assert_checked();
    compact_round(1, 2, &moved);
    assert_page("ua", 9);
    ck_assert_int_eq(mark_n("ua", false), 0);
    ck_assert_int_eq(mark_n("ua", true), 8);
    assert_checked();
    ck_assert_int_eq(track("ua", "late", 30), 0); /* one hot again */
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "ua", 2, NOW, NULL, 0), 0);
    int ns[4];
    ck_assert_int_eq(page_ns("ua", false, ns, 4), -STORAGE_ENOTFOUND);
    ck_assert_int_eq(count("SELECT (SELECT count(*) FROM ev_prof) + (SELECT count(*) FROM ev_prof_hot)"
                           " + (SELECT count(*) FROM ev_key) + (SELECT count(*) FROM ev_key_hot) + (SELECT count(*) FROM events)"
                           " + (SELECT count(*) FROM event_marks) + (SELECT count(*) FROM event_marks_hot)"),
                     0);
    assert_checked();
}
END_TEST

/* profiled check notices an event whose entry went missing. */
START_TEST(test_check_finds_a_missing_entry)
{
    ck_assert_int_eq(track("uc", "c-1", 1), 0);
    ck_assert_int_eq(track("uc", "c-2", 2), 0);
    assert_checked();
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM ev_key_hot WHERE pk = (SELECT min(pk) FROM ev_key_hot)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char *out = NULL;
    ck_assert_int_eq(check_file(&out), 1);
    ck_assert_ptr_nonnull(strstr(out, "events without exactly one entry by messageId"));
    free(out);
}
END_TEST

static Suite *
levels_suite(void)
{
    Suite *s = suite_create("event_levels");
    TCase *tc = tcase_create("event_levels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_pages_and_repeats_across_levels);
    tcase_add_test(tc, test_round_in_chunks);
    tcase_add_test(tc, test_merge_and_erase_across_levels);
    tcase_add_test(tc, test_marks_across_levels);
    tcase_add_test(tc, test_check_finds_a_missing_entry);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(levels_suite()) == 0 ? 0 : 1;
}
