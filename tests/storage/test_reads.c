/* test_reads.c -- read transactions on both backends, and what they cost
 * on PostgreSQL (storage/db/pgpipe.c):
 * - a read transaction sees one snapshot: a commit made by another
 *   connection between two of its statements is not seen, and the next
 *   read transaction sees it;
 * - on a connection opened with STORAGE_READS_HELD a read's COMMIT is held
 *   and sent with the next read, or by storage_idle; while held, writers
 *   are not kept waiting and the next read sees their commits;
 * - views give the same bodies with the statements asked ahead
 *   (stg_prefetch) as without; on PostgreSQL a metadata view costs two
 *   exchanges, not one a statement (seven before);
 * - a scroll's first statements asked together, and an answer asked ahead
 *   but not read never taken by a later transaction;
 * - a traits view is one statement (the profile joined with its traits):
 *   on PostgreSQL one exchange with no transaction around it, which
 *   leaves nothing held; a transaction promised one statement that runs
 *   two still answers both;
 * - an events page of one profile: on PostgreSQL two exchanges for the
 *   first, one for the next, and no more event rows fetched than the
 *   page shows;
 * - on PostgreSQL, a row whose pk was taken before a scroll's mark but
 *   that commits after its first page (another replica's transaction) is
 *   not in the scroll, for the events and the trait history; a database
 *   from before that mark (schema step 2) upgraded. */
#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"
#include "testdb.h"
#include "testutil.h"
#include "../../storage/db/db.h"

#define NOW 1605793157912LL

static storage_tenant_t tenant;
static storage_t *st; /* the writer */
static char *path;

static void
setup(void)
{
    tenant = storage_tenant("intilery", "marketing", "READS");
    st = test_db_open("reads.db", &path);
}

static void
teardown(void)
{
    test_db_close(st, path);
}

static storage_t *
open_reader(int flags)
{
    storage_t *r = NULL;
    char err[256] = "";
    ck_assert_msg(storage_open(&r, path, flags, err, sizeof(err)) == 0, "%s", err);
    return r;
}

static void
identify(const char *user, int n)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "{\"type\":\"identify\",\"userId\":\"%s\",\"traits\":{\"n\":%d,\"email\":\"%s@example.com\"},"
             "\"timestamp\":\"2021-01-01T00:00:%02d.000Z\"}",
             user, n, user, n % 60);
    ck_assert_int_eq(test_db_ingest(st, &tenant, msg, NOW + n), 0);
    for (int k = 0; k < 2; k++) { /* the first and the last Paid */
        char ev[512];
        snprintf(ev, sizeof(ev),
                 "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"Paid\",\"properties\":{\"which\":\"%s\"},"
                 "\"timestamp\":\"2021-01-01T00:0%d:%02d.000Z\"}",
                 user, k == 0 ? "first" : "last", k + 1, n % 60);
        ck_assert_int_eq(test_db_ingest(st, &tenant, ev, NOW + n), 0);
    }
}

/* The number of profiles, read on r inside its open transaction. */
static int64_t
profiles_now(storage_t *r)
{
    int64_t n;
    stg_stmt_t *q = stg_stmt_sql(r, "SELECT count(*) FROM profiles");
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(stg_step(r, q), STG_ROW);
    n = stg_col_int64(q, 0);
    stg_reset(q);
    stg_stmt_free(q);
    return n;
}

START_TEST(test_one_snapshot)
{
    identify("u1", 1);
    storage_t *r = open_reader(STORAGE_READS_HELD);
    bool began;
    ck_assert_int_eq(stg_txn_open(r, false, &began), 0);
    ck_assert(began);
    ck_assert_int_eq(profiles_now(r), 1);
    identify("u2", 2); /* committed by another connection */
    ck_assert_int_eq(profiles_now(r), 1);
    ck_assert_int_eq(stg_txn_close(r, began, 0), 0);
    /* the next read: a new snapshot, though the COMMIT may still be held */
    ck_assert_int_eq(stg_txn_open(r, false, &began), 0);
    ck_assert_int_eq(profiles_now(r), 2);
    ck_assert_int_eq(stg_txn_close(r, began, 0), 0);
    /* a write while r holds its COMMIT: nothing waits, and r sees it */
    identify("u3", 3);
    char *body;
    size_t len;
    ck_assert_int_eq(storage_profile_view(r, &tenant, STORAGE_ID_USER, "u3", 2, STORAGE_VIEW_TRAITS, &body, &len), 0);
    ck_assert_ptr_nonnull(strstr(body, "\"n\":3"));
    free(body);
    if (test_on_pg()) {
        /* held: the server has r's transaction open until storage_idle */
        const char *q = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state = 'idle in transaction'";
        ck_assert_int_eq(test_db_int(path, q, NULL, 0), 1);
        storage_idle(r);
        ck_assert_int_eq(test_db_int(path, q, NULL, 0), 0);
    }
    storage_idle(r); /* nothing held: no-op */
    storage_close(r);
}
END_TEST

/* The views of u<i> on r: their bodies concatenated, and the exchanges the
 * metadata view took. */
static uint64_t
views_of(storage_t *r, int i, char *out, size_t cap)
{
    static const storage_view_t views[] = {STORAGE_VIEW_TRAITS, STORAGE_VIEW_METADATA, STORAGE_VIEW_AUDIENCES,
                                           STORAGE_VIEW_EXTERNAL_IDS};
    char user[16];
    uint64_t trips = 0;
    snprintf(user, sizeof(user), "u%d", i);
    out[0] = '\0';
    for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
        char *body;
        size_t len;
        uint64_t before = storage_round_trips(r);
        ck_assert_int_eq(storage_profile_view(r, &tenant, STORAGE_ID_USER, user, strlen(user), views[v], &body, &len), 0);
        if (views[v] == STORAGE_VIEW_METADATA)
            trips = storage_round_trips(r) - before;
        ck_assert_uint_lt(strlen(out) + len + 1, cap);
        strcat(out, body);
        strcat(out, "\n");
        free(body);
    }
    return trips;
}

START_TEST(test_views_asked_ahead)
{
    for (int i = 1; i <= 4; i++) {
        char user[16];
        snprintf(user, sizeof(user), "u%d", i);
        identify(user, i);
    }
    storage_t *held = open_reader(STORAGE_READS_HELD);
    storage_t *plain = open_reader(0);
    static char a[16384], b[16384];
    for (int i = 1; i <= 4; i++) {
        uint64_t trips = views_of(held, i, a, sizeof(a));
        views_of(plain, i, b, sizeof(b));
        ck_assert_str_eq(a, b);
        ck_assert_msg(strstr(a, "\"firstEvent\":{\"paid\":{\"type\":\"track\",\"userId\":\"u") != NULL &&
                          strstr(a, "\"properties\":{\"which\":\"first\"},\"timestamp\":\"2021-01-01T00:01") != NULL,
                      "%s", a);
        ck_assert_msg(strstr(a, "\"lastEvent\":{\"paid\":{\"type\":\"track\",\"userId\":\"u") != NULL &&
                          strstr(a, "\"properties\":{\"which\":\"last\"},\"timestamp\":\"2021-01-01T00:02") != NULL,
                      "%s", a);
        if (test_on_pg() && i > 1) /* the first view prepares its statements */
            ck_assert_msg(trips <= 2, "a metadata view took %llu exchanges", (unsigned long long)trips);
    }
    storage_close(plain);
    storage_close(held);
}
END_TEST

/* A scroll's lookup and snapshot mark are asked together: a miss (404)
 * leaves an answer asked ahead unread, which the next transaction must not
 * take for its own. */
START_TEST(test_events_asked_ahead)
{
    identify("u1", 1);
    storage_t *r = open_reader(STORAGE_READS_HELD);
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = 1, .limit = 10};
    char *body;
    size_t len;
    ck_assert_int_eq(storage_events_begin(r, &tenant, STORAGE_ID_USER, "nobody", 6, &q, NOW, 60000, &body, &len),
                     STORAGE_ENOTFOUND);
    identify("u2", 2); /* the mark moves on */
    ck_assert_int_eq(storage_events_begin(r, &tenant, STORAGE_ID_USER, "u2", 2, &q, NOW, 60000, &body, &len), 0);
    /* u2's two events, the newest first: a stale mark would leave them out */
    const char *last = strstr(body, "\"which\":\"last\"");
    const char *first = strstr(body, "\"which\":\"first\"");
    ck_assert_msg(last != NULL && first != NULL && last < first, "%s", body);
    free(body);
    storage_close(r);
}
END_TEST

/* The traits of u<i> on r, checked for n; the exchanges they took. */
static uint64_t
traits_of(storage_t *r, int i, int n)
{
    char user[16], want[16];
    char *body;
    size_t len;
    snprintf(user, sizeof(user), "u%d", i);
    snprintf(want, sizeof(want), "\"n\":%d,", n);
    uint64_t before = storage_round_trips(r);
    ck_assert_int_eq(storage_profile_view(r, &tenant, STORAGE_ID_USER, user, strlen(user), STORAGE_VIEW_TRAITS, &body, &len), 0);
    uint64_t trips = storage_round_trips(r) - before;
    ck_assert_msg(strstr(body, want) != NULL && strstr(body, "\"computed\":{}") != NULL, "%s", body);
    free(body);
    return trips;
}

START_TEST(test_traits_one_statement)
{
    for (int i = 1; i <= 3; i++) {
        char user[16];
        snprintf(user, sizeof(user), "u%d", i);
        identify(user, i);
    }
    storage_t *r = open_reader(STORAGE_READS_HELD);
    const char *held = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND state = 'idle in transaction'";
    traits_of(r, 1, 1); /* prepares its statement */
    for (int i = 1; i <= 3; i++) {
        uint64_t trips = traits_of(r, i, i);
        if (test_on_pg()) {
            ck_assert_msg(trips == 1, "a traits view took %llu exchanges", (unsigned long long)trips);
            ck_assert_int_eq(test_db_int(path, held, NULL, 0), 0); /* no COMMIT held: none was needed */
        }
    }
    identify("u2", 7); /* another connection's commit: the next read sees it */
    traits_of(r, 2, 7);
    /* a read after a metadata view (a transaction, its COMMIT held): the
     * COMMIT goes first, then the traits alone */
    char *body;
    size_t len;
    ck_assert_int_eq(storage_profile_view(r, &tenant, STORAGE_ID_USER, "u3", 2, STORAGE_VIEW_METADATA, &body, &len), 0);
    free(body);
    traits_of(r, 3, 3);
    if (test_on_pg())
        ck_assert_int_eq(test_db_int(path, held, NULL, 0), 0);
    /* a traits view inside a wider read transaction (a batch lookup's)
     * promises nothing: the transaction keeps one snapshot */
    bool began;
    ck_assert_int_eq(stg_txn_open(r, false, &began), 0);
    traits_of(r, 1, 1);
    identify("u9", 9);
    ck_assert_int_eq(profiles_now(r), 3);
    ck_assert_int_eq(stg_txn_close(r, began, 0), 0);
    ck_assert_int_eq(stg_txn_open(r, false, &began), 0);
    ck_assert_int_eq(profiles_now(r), 4);
    ck_assert_int_eq(stg_txn_close(r, began, 0), 0);
    /* a promise of one statement broken: the second opens the transaction */
    ck_assert_int_eq(stg_txn_open(r, false, &began), 0);
    stg_read_one(r);
    ck_assert_int_eq(profiles_now(r), 4);
    identify("u4", 4);
    int64_t second = profiles_now(r); /* SQLite: the first's snapshot; PostgreSQL: its own */
    ck_assert_int_eq(second, test_on_pg() ? 5 : 4);
    identify("u5", 5);
    ck_assert_int_eq(profiles_now(r), second); /* and it holds */
    ck_assert_int_eq(stg_txn_close(r, began, 0), 0);
    ck_assert_int_eq(stg_txn_open(r, false, &began), 0);
    ck_assert_int_eq(profiles_now(r), 6);
    ck_assert_int_eq(stg_txn_close(r, began, 0), 0);
    storage_idle(r);
    storage_close(r);
}
END_TEST

/* The scrollId of an events page's body, copied into out. */
static void
scroll_id_of(const char *body, char *out, size_t cap)
{
    const char *p = strstr(body, "\"scrollId\":\"");
    ck_assert_ptr_nonnull(p);
    p += 12;
    const char *q = strchr(p, '"');
    ck_assert(q != NULL && (size_t)(q - p) < cap);
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
}

static int
count_of(const char *body, const char *what)
{
    int n = 0;
    for (const char *p = body; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

START_TEST(test_events_page_cost)
{
    identify("u1", 1);
    for (int i = 0; i < 60; i++) {
        char ev[256];
        snprintf(ev, sizeof(ev),
                 "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Seen\",\"messageId\":\"m%d\","
                 "\"timestamp\":\"2021-02-01T00:%02d:00.000Z\"}",
                 i, i);
        ck_assert_int_eq(test_db_ingest(st, &tenant, ev, NOW + 100 + i), 0);
    }
    storage_t *r = open_reader(STORAGE_READS_HELD);
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = 1, .limit = 5};
    char *body, sid[1024];
    size_t len;
    for (int round = 0; round < 2; round++) { /* the first prepares the statements */
        uint64_t trips = storage_round_trips(r), rows = storage_rows_received(r);
        ck_assert_int_eq(storage_events_begin(r, &tenant, STORAGE_ID_USER, "u1", 2, &q, NOW, 60000, &body, &len), 0);
        trips = storage_round_trips(r) - trips;
        rows = storage_rows_received(r) - rows;
        ck_assert_int_eq(count_of(body, "\"eventId\":"), 5);
        ck_assert_ptr_nonnull(strstr(body, "\"messageId\":\"m59\""));
        scroll_id_of(body, sid, sizeof(sid));
        free(body);
        if (test_on_pg() && round == 1) {
            ck_assert_msg(trips == 2, "a first events page took %llu exchanges", (unsigned long long)trips);
            /* the profile (lookup), the mark, the profile (page), 5 events */
            ck_assert_msg(rows <= 8, "a first page of 5 fetched %llu rows", (unsigned long long)rows);
        }
    }
    static const char *const newest[] = {"m54", "m49"}, *const past[] = {"m55", "m50"};
    for (int page = 0; page < 2; page++) { /* the first prepares the statement of next pages */
        uint64_t trips = storage_round_trips(r), rows = storage_rows_received(r);
        ck_assert_int_eq(storage_events_next(r, &tenant, STORAGE_ID_USER, "u1", 2, sid, strlen(sid), NOW, 60000, &body, &len), 0);
        trips = storage_round_trips(r) - trips;
        rows = storage_rows_received(r) - rows;
        char want[64], gone[64];
        snprintf(want, sizeof(want), "\"messageId\":\"%s\"", newest[page]);
        snprintf(gone, sizeof(gone), "\"messageId\":\"%s\"", past[page]);
        ck_assert_int_eq(count_of(body, "\"eventId\":"), 5);
        ck_assert_msg(strstr(body, want) != NULL && strstr(body, gone) == NULL, "%s", body);
        scroll_id_of(body, sid, sizeof(sid));
        free(body);
        if (test_on_pg() && page == 1) {
            ck_assert_msg(trips == 1, "a next events page took %llu exchanges", (unsigned long long)trips);
            ck_assert_msg(rows <= 6, "a next page of 5 fetched %llu rows", (unsigned long long)rows);
        }
    }
    storage_idle(r);
    storage_close(r);
}
END_TEST

/* Another replica's connection (PostgreSQL): runs sql, which must work. */
static void
late_sql(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* The pages after sid's (next on r, until an empty one), their "data"
 * texts appended into all. */
static void
rest_of_scroll(storage_t *r, bool history, char *sid, size_t sid_cap, char *all, size_t all_cap)
{
    for (int page = 0; page < 10; page++) {
        char *body;
        size_t len;
        int ret = history
                      ? storage_trait_history_next(r, &tenant, STORAGE_ID_USER, "u1", 2, sid, strlen(sid), NOW, 60000, &body, &len)
                      : storage_events_next(r, &tenant, STORAGE_ID_USER, "u1", 2, sid, strlen(sid), NOW, 60000, &body, &len);
        ck_assert_int_eq(ret, 0);
        bool empty = strstr(body, "\"data\":[]") != NULL;
        ck_assert_uint_lt(strlen(all) + len, all_cap);
        strcat(all, body);
        scroll_id_of(body, sid, sid_cap);
        free(body);
        if (empty)
            return;
    }
    ck_abort_msg("the scroll did not end: %s", all);
}

/* Replicas take pks from one sequence and commit in any order: a row with
 * a pk below the first page's mark committed after it is not in the
 * scroll (pg_current_snapshot in the mark; schema step 2 on PostgreSQL). */
START_TEST(test_scroll_late_commit)
{
    if (!test_on_pg())
        return; /* SQLite's one writer commits in pk order */
    storage_set_trait_history(st, 36500);
    identify("u1", 1); /* Paid: first at 00:01:01, last at 00:02:01; n = 1 at 00:00:01 */
    identify("u1", 5); /* n = 5 at 00:00:05 (and two more Paid, at 00:0x:05) */
    PGconn *c = PQconnectdb(path);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    late_sql(c, "BEGIN");
    /* after every event of u1 in time, and between n's two changes */
    late_sql(c, "INSERT INTO events(tenant_id, profile_pk, event_id, event_time_ms, received_ms, event_action, event_name, type,"
                " source, raw, event_key) SELECT i.tenant_id, i.profile_pk, 'late-event', 1609459500000, 1609459500000, 'Paid',"
                " 'Paid', 'track', 'api', '{\"type\":\"track\",\"event\":\"Paid\",\"properties\":{\"which\":\"late\"}}', 7"
                " FROM identities i WHERE i.id_type = 0 AND i.value = 'u1'");
    late_sql(c, "INSERT INTO trait_history(tenant_id, profile_pk, key, value, ts_ms, message_id, source)"
                " SELECT i.tenant_id, i.profile_pk, 'n', '3', 1609459203000, 'late-trait', 'api'"
                " FROM identities i WHERE i.id_type = 0 AND i.value = 'u1'");
    identify("u2", 2); /* committed now, with pks above the late rows' */
    storage_t *r = open_reader(0);
    storage_set_trait_history(r, 36500);
    char *body, sid[1024], hsid[1024], all[65536] = "", hall[65536] = "";
    size_t len;
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = 0, .limit = 1};
    ck_assert_int_eq(storage_events_begin(r, &tenant, STORAGE_ID_USER, "u1", 2, &q, NOW, 60000, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"which\":\"first\"") != NULL, "%s", body);
    scroll_id_of(body, sid, sizeof(sid));
    free(body);
    storage_history_query_t h = {.trait = "n", .trait_len = 1, .start_ms = INT64_MIN, .end_ms = INT64_MAX, .limit = 1};
    ck_assert_int_eq(storage_trait_history_begin(r, &tenant, STORAGE_ID_USER, "u1", 2, &h, NOW, 60000, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"value\":5") != NULL, "%s", body);
    scroll_id_of(body, hsid, sizeof(hsid));
    free(body);
    late_sql(c, "COMMIT");
    rest_of_scroll(r, false, sid, sizeof(sid), all, sizeof(all));
    ck_assert_msg(count_of(all, "\"which\":\"last\"") == 2 && count_of(all, "\"which\":\"first\"") == 1, "%s", all);
    ck_assert_msg(strstr(all, "late") == NULL, "a row committed after the first page is in the scroll: %s", all);
    rest_of_scroll(r, true, hsid, sizeof(hsid), hall, sizeof(hall));
    ck_assert_msg(strstr(hall, "\"value\":1") != NULL, "%s", hall);
    ck_assert_msg(strstr(hall, "late") == NULL, "a row committed after the first page is in the scroll: %s", hall);
    /* a scroll begun now has them */
    q.limit = 10;
    ck_assert_int_eq(storage_events_begin(r, &tenant, STORAGE_ID_USER, "u1", 2, &q, NOW, 60000, &body, &len), 0);
    ck_assert_msg(strstr(body, "\"which\":\"late\"") != NULL, "%s", body);
    free(body);
    h.limit = 10;
    ck_assert_int_eq(storage_trait_history_begin(r, &tenant, STORAGE_ID_USER, "u1", 2, &h, NOW, 60000, &body, &len), 0);
    ck_assert_msg(strstr(body, "late-trait") != NULL, "%s", body);
    free(body);
    PQfinish(c);
    storage_close(r);
}
END_TEST

/* PostgreSQL's schema step 2 on a database made before it: the stored
 * events and history rows read as committed before any scroll (0), new
 * ones carry their transaction, and a scroll shows them all. */
START_TEST(test_scroll_mark_upgrade)
{
    if (!test_on_pg())
        return;
    storage_set_trait_history(st, 36500);
    identify("u1", 1);
    PGconn *c = PQconnectdb(path);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    late_sql(c, "ALTER TABLE events DROP COLUMN ins_xid; ALTER TABLE trait_history DROP COLUMN ins_xid;"
                " UPDATE profiled_schema SET version = 1");
    PQfinish(c);
    storage_t *r = open_reader(0); /* migrates */
    ck_assert_int_eq(test_db_int(path, "SELECT version FROM profiled_schema", NULL, 0), 2);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events WHERE ins_xid = '0'", NULL, 0), 2);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM trait_history WHERE ins_xid = '0'", NULL, 0), 2);
    char msg[256];
    snprintf(msg, sizeof(msg),
             "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Paid\",\"properties\":{\"which\":\"new\"},"
             "\"timestamp\":\"2021-01-01T00:09:00.000Z\"}");
    ck_assert_int_eq(test_db_ingest(r, &tenant, msg, NOW + 10), 0);
    ck_assert_int_eq(test_db_int(path, "SELECT count(*) FROM events WHERE ins_xid <> '0'", NULL, 0), 1);
    char *body;
    size_t len;
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = 0, .limit = 10};
    ck_assert_int_eq(storage_events_begin(r, &tenant, STORAGE_ID_USER, "u1", 2, &q, NOW, 60000, &body, &len), 0);
    ck_assert_msg(count_of(body, "\"eventId\":") == 3 && strstr(body, "\"which\":\"new\"") != NULL, "%s", body);
    free(body);
    storage_close(r);
}
END_TEST

static Suite *
reads_suite(void)
{
    Suite *s = suite_create("reads");
    TCase *tc = tcase_create("reads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_one_snapshot);
    tcase_add_test(tc, test_views_asked_ahead);
    tcase_add_test(tc, test_events_asked_ahead);
    tcase_add_test(tc, test_traits_one_statement);
    tcase_add_test(tc, test_events_page_cost);
    tcase_add_test(tc, test_scroll_late_commit);
    tcase_add_test(tc, test_scroll_mark_upgrade);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(reads_suite()) == 0 ? 0 : 1;
}
