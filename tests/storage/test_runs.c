/* test_runs.c -- a run of messages stored at once (a request's batch, an
 * import): on PostgreSQL its messageIds are looked up and its events' pks
 * taken in one go (storage/db/pgseen.c) rather than an event at a time.
 * On both backends: a messageId stored before, or twice in the same run,
 * is stored once, the first one kept; events without a messageId are all
 * stored; first/last marks name the right events. On PostgreSQL, counted
 * in round trips: a run costs a few, not two an event. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "segment.h"
#include "storage.h"
#include "testdb.h"
#include "testutil.h"

#define NOW 1605793157912LL
#define USERS 5

static storage_tenant_t tenant, other;
static storage_t *st;
static char *path;

static void
setup(void)
{
    tenant = storage_tenant("intilery", "marketing", "RUNS");
    other = storage_tenant("intilery", "marketing", "OTHER");
    st = test_db_open("runs.db", &path);
}

static void
teardown(void)
{
    test_db_close(st, path);
}

/* Appends a track message of messageId "m<id>" (id < 0: none) whose
 * property says which copy it is. */
static void
track(char *body, size_t cap, int id, int copy)
{
    size_t len = strlen(body);
    char mid[32] = "";
    if (id >= 0)
        snprintf(mid, sizeof(mid), "\"messageId\":\"m%d\",", id);
    snprintf(body + len, cap - len,
             "%s{\"type\":\"track\",\"userId\":\"u%d\",\"event\":\"Paid\",%s\"timestamp\":\"2021-01-01T%02d:%02d:00.000Z\","
             "\"properties\":{\"copy\":%d}}",
             body[len - 1] == '[' ? "" : ",", (id < 0 ? -id : id) % USERS, mid, (id < 0 ? -id : id) / 60 % 24,
             (id < 0 ? -id : id) % 60, copy);
}

/* Stores body's batch in one transaction; the round trips it took. */
static uint64_t
store(char *body, const storage_tenant_t *t)
{
    segment_batch_err_t e;
    segment_batch_t *b;
    char err[256];
    strcat(body, "]}");
    ck_assert_int_eq(segment_batch_parse(strdup(body), strlen(body), NULL, &b, &e), 0);
    ck_assert_int_eq(segment_batch_check(b, &e), 0);
    uint64_t before = storage_round_trips(st);
    ck_assert_msg(storage_batch_store(st, t, b, "api", NOW, err, sizeof(err)) == 0, "%s", err);
    segment_batch_free(b);
    return storage_round_trips(st) - before;
}

static int64_t
events_of(const char *mid)
{
    return test_db_int(path, "SELECT count(*) FROM events WHERE event_id = ?1", mid, 0);
}

/* Marks that name an event of another time or profile, or none. */
static int64_t
bad_marks(void)
{
    return test_db_int(path,
                       "SELECT count(*) FROM event_marks m WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = m.first_pk"
                       " AND e.profile_pk = m.profile_pk AND e.event_time_ms = m.first_time_ms) OR NOT EXISTS (SELECT 1"
                       " FROM events e WHERE e.pk = m.last_pk AND e.profile_pk = m.profile_pk"
                       " AND e.event_time_ms = m.last_time_ms)",
                       NULL, 0);
}

START_TEST(test_batch_once_each)
{
    size_t cap = 1 << 20;
    char *body = malloc(cap);
    /* 200 events: m0..m149, m5 again (another copy), 49 without an id */
    strcpy(body, "{\"batch\":[");
    for (int i = 0; i < 150; i++)
        track(body, cap, i, 1);
    track(body, cap, 5, 2);
    for (int i = 1; i < 50; i++)
        track(body, cap, -i, 1);
    uint64_t trips = store(body, &tenant);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events", NULL, 0), 199);
    ck_assert_int_eq(events_of("m5"), 1);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events WHERE event_id = 'm5' AND raw LIKE '%\"copy\":1%'", NULL, 0),
                     1);
    /* Before runs: two round trips an event (its messageId, its INSERT
     * returning the pk), so 400 and more; now a few for the run, one or
     * two for each of the 5 new users, and the first prepare of each
     * statement (38 when written). */
    if (storage_is_postgres(st))
        ck_assert_msg(trips <= 60, "%llu round trips for a batch of 200 events", (unsigned long long)trips);
    else
        ck_assert_uint_eq(trips, 0);

    /* m100..m199, half stored already, m150 twice: 50 new */
    strcpy(body, "{\"batch\":[");
    for (int i = 100; i < 200; i++)
        track(body, cap, i, 3);
    track(body, cap, 150, 4);
    trips = store(body, &tenant);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events", NULL, 0), 249);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events WHERE event_id = 'm120' AND raw LIKE '%\"copy\":1%'", NULL, 0),
                     1);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events WHERE event_id = 'm150' AND raw LIKE '%\"copy\":3%'", NULL, 0),
                     1);
    if (storage_is_postgres(st))
        ck_assert_msg(trips <= 10, "%llu round trips for a batch of 101 events of known users", (unsigned long long)trips);

    /* the same batch again changes nothing; another tenant's ids are its own */
    strcpy(body, "{\"batch\":[");
    for (int i = 100; i < 200; i++)
        track(body, cap, i, 5);
    store(body, &tenant);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events", NULL, 0), 249);
    strcpy(body, "{\"batch\":[");
    for (int i = 0; i < 10; i++)
        track(body, cap, i, 6);
    store(body, &other);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events", NULL, 0), 259);
    ck_assert_int_eq(events_of("m5"), 2);
    ck_assert_int_eq(bad_marks(), 0);
    free(body);
}
END_TEST

START_TEST(test_import_once_each)
{
    /* more lines than one slice of the import (512), a commit (every
     * 10,000 lines) inside a slice, retries of earlier lines */
    FILE *in = tmpfile();
    int lines = 0;
    for (int i = 0; i < 12000; i++, lines++)
        fprintf(in, "{\"type\":\"track\",\"userId\":\"u%d\",\"event\":\"Ping\",\"messageId\":\"p%d\"}\n", i % USERS, i % 11000);
    rewind(in);
    uint64_t imported = 0, rejected = 0, before = storage_round_trips(st);
    ck_assert_int_eq(storage_import_ndjson(st, &tenant, in, NULL, NULL, NOW, &imported, &rejected), 0);
    uint64_t trips = storage_round_trips(st) - before;
    fclose(in);
    ck_assert_uint_eq(imported, (uint64_t)lines);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events", NULL, 0), 11000);
    ck_assert_int_eq(test_db_int(path, "SELECT count(DISTINCT event_id) FROM events", NULL, 0), 11000);
    ck_assert_int_eq(bad_marks(), 0);
    /* two an event before (23,042 when written); now a few a slice of 512
     * lines, and after the commit inside one slice a run of its rest */
    if (storage_is_postgres(st))
        ck_assert_msg(trips <= 200, "%llu round trips to import %d lines", (unsigned long long)trips, lines);
}
END_TEST

/* An import of new users (each an identify with an email, then tracks):
 * on PostgreSQL the slice's ids, emails and suppressions are asked once
 * and its new profiles' pks taken at once (pgseen.c), so a new profile
 * costs no round trip of its own; on
 * both backends a suppressed (erased) user stays out and a new userId
 * whose email an anonymous profile holds joins that profile. */
START_TEST(test_import_new_users)
{
    char err[256];
    ck_assert_int_eq(test_db_ingest(st, &tenant,
                                    "{\"type\":\"identify\",\"anonymousId\":\"a-guest\","
                                    "\"traits\":{\"email\":\"n7@example.com\"}}",
                                    NOW),
                     0);
    ck_assert_int_eq(test_db_ingest(st, &tenant, "{\"type\":\"identify\",\"userId\":\"n9\"}", NOW), 0);
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "n9", 2, NOW, err, sizeof(err)), 0);
    FILE *in = tmpfile();
    enum { NEW = 300, TRACKS = 3 };
    for (int i = 0; i < NEW; i++) {
        fprintf(in, "{\"type\":\"identify\",\"userId\":\"n%d\",\"traits\":{\"email\":\"N%d@example.com\"}}\n", i, i);
        for (int k = 0; k < TRACKS; k++)
            fprintf(in, "{\"type\":\"track\",\"userId\":\"n%d\",\"event\":\"Ping\",\"messageId\":\"n%d-%d\"}\n", i, i, k);
    }
    rewind(in);
    uint64_t imported = 0, rejected = 0, before = storage_round_trips(st);
    ck_assert_int_eq(storage_import_ndjson(st, &tenant, in, NULL, NULL, NOW, &imported, &rejected), 0);
    uint64_t trips = storage_round_trips(st) - before;
    fclose(in);
    ck_assert_uint_eq(imported, NEW * (1 + TRACKS));
    /* n9 suppressed; n7 joined the guest's profile */
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM profiles", NULL, 0), NEW - 1);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events", NULL, 0), (NEW - 1) * TRACKS);
    ck_assert_int_eq(test_db_int(path,
                                 "SELECT count(DISTINCT profile_pk) FROM identities WHERE value IN ('n7', 'a-guest',"
                                 " 'n7@example.com')",
                                 NULL, 0),
                     1);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM identities WHERE value = 'n9'", NULL, 0), 0);
    ck_assert_int_eq(bad_marks(), 0);
    /* profiles made later have larger pks (an email's page order): no
     * user n<i+1> before n<i> (n7 joined an older profile) */
    ck_assert_int_eq(test_db_int(path,
                                 "SELECT count(*) FROM identities a JOIN identities b ON a.id_type = 0 AND b.id_type = 0"
                                 " AND CAST(substr(a.value, 2) AS INTEGER) + 1 = CAST(substr(b.value, 2) AS INTEGER)"
                                 " WHERE a.profile_pk > b.profile_pk AND a.value <> 'n7' AND b.value <> 'n7'",
                                 NULL, 0),
                     0);
    /* before: about five a new profile (its userId, its suppression, its
     * email's candidates with the pending rows sent first, its INSERT
     * returning its pk): 1,228; then its INSERT alone: 328; now the
     * profiles' pks are taken once a slice and their INSERTs deferred: 35 */
    if (storage_is_postgres(st))
        ck_assert_msg(trips <= 60, "%llu round trips to import %d new users", (unsigned long long)trips, NEW);
}
END_TEST

/* Appends an identify of u<user> at second sec of day whose traits are
 * plan and seen. */
static void
identify(char *body, size_t cap, int user, int day, int sec, const char *plan)
{
    size_t len = strlen(body);
    snprintf(body + len, cap - len,
             "%s{\"type\":\"identify\",\"userId\":\"u%d\",\"messageId\":\"i%d-%d-%d\",\"timestamp\":"
             "\"2021-01-%02dT00:00:%02d.000Z\",\"traits\":{\"plan\":\"%s\",\"seen\":true}}",
             body[len - 1] == '[' ? "" : ",", user, user, day, sec, day, sec, plan);
}

/* A request's trait changes on PostgreSQL are one multi-row statement a
 * set (pgrows.c; a key changed again in the same transaction goes in the
 * next set), its history rows written by the same statement; on both
 * backends the same values, history and provenance as one upsert a
 * change. */
START_TEST(test_traits_once_each)
{
    size_t cap = 1 << 20;
    char *body = malloc(cap);
    strcpy(body, "{\"batch\":[");
    for (int u = 0; u < USERS; u++)
        identify(body, cap, u, 1, 0, "a");
    store(body, &tenant);
    /* per user: plan a, b, a, ... (20 values, the first the stored one),
     * then an older message that loses */
    strcpy(body, "{\"batch\":[");
    for (int k = 0; k < 20; k++)
        for (int u = 0; u < USERS; u++)
            identify(body, cap, u, 2, k, k % 2 ? "b" : "a");
    for (int u = 0; u < USERS; u++)
        identify(body, cap, u, 1, 30, "old");
    uint64_t trips = store(body, &tenant);
    free(body);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM traits WHERE key = 'plan' AND value = '\"b\"'", NULL, 0), USERS);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM traits WHERE key = 'plan' AND message_id = 'i3-2-19'", NULL, 0), 1);
    /* history: the first batch's 2 a user; then 19 changes of plan and
     * none of seen (true again) */
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM trait_history", NULL, 0), USERS * (2 + 19));
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM trait_history WHERE value = '\"old\"'", NULL, 0), 0);
    ck_assert_int_eq(
        test_db_int(path, "SELECT count(*) FROM trait_history WHERE key = 'plan' AND message_id = 'i2-2-1' AND value = '\"b\"'",
                    NULL, 0),
        1);
    /* one upsert a trait a message before (215 when written) */
    if (storage_is_postgres(st))
        ck_assert_msg(trips <= 12, "%llu round trips for a batch of 105 identifies", (unsigned long long)trips);
}
END_TEST

/* A served ingest group on PostgreSQL (storage_begin_batches: the shared
 * write lock, each id's lock taken first): its new users' ids, email
 * candidates and suppressions are asked once for the batch, not once a
 * new profile; a suppressed id in the same batch is still not stored. On
 * SQLite the same batch in a plain transaction. */
START_TEST(test_group_new_users)
{
    enum { NEW = 40 };
    size_t cap = 1 << 20;
    char *body = malloc(cap), err[256];
    strcpy(body, "{\"batch\":[");
    track(body, cap, 0, 1); /* the tenant exists before the group */
    store(body, &tenant);
    ck_assert_int_eq(
        test_db_ingest(st, &tenant, "{\"type\":\"track\",\"userId\":\"gone\",\"event\":\"Paid\",\"messageId\":\"g1\"}", NOW), 0);
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "gone", 4, NOW + 1, err, sizeof(err)), 0);
    int64_t profiles = test_db_int(path, "SELECT count(*) FROM profiles", NULL, 0);
    uint64_t suppressed = storage_suppressed_messages(st);

    strcpy(body, "{\"batch\":[");
    for (int i = 0; i < NEW; i++) {
        size_t len = strlen(body);
        snprintf(body + len, cap - len,
                 "%s{\"type\":\"track\",\"userId\":\"new%d\",\"anonymousId\":\"anon%d\",\"event\":\"Paid\",\"messageId\":\"n%d\","
                 "\"context\":{\"traits\":{\"email\":\"new%d@example.com\"}}}",
                 i ? "," : "", i, i, i, i);
    }
    strcat(body, ",{\"type\":\"track\",\"userId\":\"gone\",\"event\":\"Paid\",\"messageId\":\"g2\"}]}");
    segment_batch_err_t e;
    segment_batch_t *b;
    ck_assert_int_eq(segment_batch_parse(strdup(body), strlen(body), NULL, &b, &e), 0);
    ck_assert_int_eq(segment_batch_check(b, &e), 0);
    const storage_tenant_t *tp = &tenant;
    const segment_batch_t *bp = b;
    uint64_t before = storage_round_trips(st);
    ck_assert_int_eq(storage_begin_batches(st, &tp, &bp, 1), 0);
    ck_assert(storage_shared(st) == storage_is_postgres(st));
    ck_assert_msg(storage_batch_store(st, &tenant, b, "api", NOW + 2, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(storage_commit(st), 0);
    uint64_t trips = storage_round_trips(st) - before;
    segment_batch_free(b);
    free(body);

    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM profiles", NULL, 0), profiles + NEW);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events WHERE event_id LIKE 'n%'", NULL, 0), NEW);
    ck_assert_int_eq(test_db_int(path, "SELECT count(DISTINCT profile_pk) FROM identities WHERE value LIKE 'anon%'", NULL, 0), NEW);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events WHERE event_id = 'g2'", NULL, 0), 0);
    ck_assert_uint_eq(storage_suppressed_messages(st), suppressed + 1);
    /* Each new profile asked its userId, its anonymousId, its email and
     * the suppressions alone before (256 round trips for the group when
     * written); now one lookup for the batch, and each profile's INSERT
     * returning its pk (55). */
    if (storage_is_postgres(st))
        ck_assert_msg(trips <= NEW + 25, "%llu round trips for a group of %d new users", (unsigned long long)trips, NEW);
}
END_TEST

static Suite *
runs_suite(void)
{
    Suite *s = suite_create("runs");
    TCase *tc = tcase_create("runs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_batch_once_each);
    tcase_add_test(tc, test_import_once_each);
    tcase_add_test(tc, test_import_new_users);
    tcase_add_test(tc, test_traits_once_each);
    tcase_add_test(tc, test_group_new_users);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(runs_suite()) == 0 ? 0 : 1;
}
