/* test_erase.c -- erasure: storage_profile_delete removes every row of a
 * profile (counted table by table through a read-only SQLite connection on
 * the file: every table with a profile_pk column, the profile row; its
 * scrollIds are refused after), every former id answers not found, other profiles
 * and another tenant with the same ids are untouched; the ids go on the
 * suppression list, so re-sent and new messages carrying them are
 * acknowledged and not stored (API path and import), until removed from
 * it; a merged profile goes whole; an email is refused. */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"
#include "testdb.h"
#include "testutil.h"

#define NOW 1605793157912LL

static storage_tenant_t tenant, other;

static const char defs_json[] = "{\"version\":1,\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"MAIN\","
                                "\"computedTraits\":["
                                "{\"name\":\"views\",\"kind\":\"count\",\"eventAction\":\"viewed\"},"
                                "{\"name\":\"views_7\",\"kind\":\"count\",\"eventAction\":\"viewed\",\"windowDays\":7},"
                                "{\"name\":\"fav\",\"kind\":\"most_frequent\",\"eventAction\":\"viewed\",\"property\":\"c\"}]}]}";

static void
ingest_ok(storage_t *st, const storage_tenant_t *t, const char *json)
{
    int ret = test_db_ingest(st, t, json, NOW);
    ck_assert_msg(ret == 0, "ingest %s: %d (%s)", json, ret, storage_errmsg(st));
}

/* The view's "id" (the profile uuid) into out; "" when not found. */
static int
profile_uuid(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, char out[64])
{
    char *body = NULL;
    size_t len = 0;
    out[0] = '\0';
    int ret = storage_profile_view(st, t, type, id, strlen(id), STORAGE_VIEW_TRAITS, &body, &len);
    if (ret != 0)
        return ret;
    struct json_object *o = json_tokener_parse(body), *v;
    free(body);
    ck_assert_ptr_nonnull(o);
    if (json_object_object_get_ex(o, "id", &v))
        snprintf(out, 64, "%s", json_object_get_string(v));
    json_object_put(o);
    return 0;
}

/* The pk of a profile by uuid (0: none). */
static int64_t
pk_of(const char *path, const char *uuid)
{
    return test_db_int(path, "SELECT coalesce((SELECT pk FROM profiles WHERE uuid = ?1), 0)", uuid, 0);
}

/* Rows of profile pk in every table with a profile_pk column (each count
 * into per[] by name when per is not NULL) and its profile row (scroll
 * cursors are in no table: they live in their scrollIds). */
typedef struct {
    char name[64];
    int64_t rows;
} table_rows_t;

static int64_t
rows_of(const char *path, int64_t pk, table_rows_t *per, size_t *nper)
{
    char names[32][32];
    size_t nt = test_db_tables_with(path, "profile_pk", names, 32);
    int64_t total = 0;
    size_t n = 0;
    for (size_t i = 0; i < nt; i++) {
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\" WHERE profile_pk = ?1", names[i]);
        int64_t c = test_db_int(path, sql, NULL, pk);
        if (per != NULL && n < 32) {
            snprintf(per[n].name, sizeof(per[n].name), "%s", names[i]);
            per[n++].rows = c;
        }
        total += c;
    }
    total += test_db_int(path, "SELECT count(*) FROM profiles WHERE pk = ?1", NULL, pk);
    if (nper != NULL)
        *nper = n;
    return total;
}

static int64_t
count_sql(const char *path, const char *sql)
{
    return test_db_int(path, sql, NULL, 0);
}

typedef struct {
    char items[16][96];
    int n;
} list_t;

static int
collect(void *ctx, storage_id_type_t type, const char *v, size_t n, int64_t created_ms)
{
    list_t *l = ctx;
    ck_assert_int_eq(created_ms, NOW + 1);
    if (l->n < 16)
        snprintf(l->items[l->n++], 96, "%d:%.*s", (int)type, (int)n, v);
    return 0;
}

static void
alice_and_bob(storage_t *st)
{
    ingest_ok(st, &tenant,
              "{\"type\":\"identify\",\"userId\":\"alice\",\"anonymousId\":\"a1\",\"messageId\":\"m-id-1\","
              "\"traits\":{\"email\":\"alice@example.com\",\"plan\":\"pro\"}}");
    ingest_ok(st, &tenant,
              "{\"type\":\"track\",\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"m-ev-1\","
              "\"timestamp\":\"2020-11-19T13:00:00Z\",\"properties\":{\"c\":\"shoes\"}}");
    /* the rest as the server's writer stores: alice's events in both levels
     * of the event entries (schema step 10) */
    storage_hot_events(st, true);
    ingest_ok(st, &tenant,
              "{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"Viewed\",\"messageId\":\"m-ev-2\","
              "\"timestamp\":\"2020-11-19T13:01:00Z\",\"properties\":{\"c\":\"hats\"}}");
    ingest_ok(st, &tenant,
              "{\"type\":\"identify\",\"userId\":\"bob\",\"traits\":{\"email\":\"alice@example.com\",\"plan\":\"free\"}}");
    ingest_ok(st, &tenant,
              "{\"type\":\"track\",\"userId\":\"bob\",\"event\":\"Viewed\",\"messageId\":\"m-ev-3\","
              "\"timestamp\":\"2020-11-19T13:02:00Z\",\"properties\":{\"c\":\"shoes\"}}");
    /* the same ids in another tenant */
    ingest_ok(st, &other,
              "{\"type\":\"track\",\"userId\":\"alice\",\"anonymousId\":\"a1\",\"event\":\"Viewed\",\"messageId\":\"m-ev-1\","
              "\"timestamp\":\"2020-11-19T13:00:00Z\"}");
}

START_TEST(test_delete_removes_every_row)
{
    char *path;
    storage_t *st = test_db_open("erase.db", &path);
    definitions_t *defs = NULL;
    char err[512] = "";
    ck_assert_int_eq(definitions_parse(defs_json, strlen(defs_json), "test", &defs, err, sizeof(err)), 0);
    storage_use_definitions(st, defs);
    alice_and_bob(st);
    static const char csv[] = "userId\nalice\nbob\n";
    FILE *in = fmemopen((void *)csv, sizeof(csv) - 1, "r");
    ck_assert_int_eq(storage_audience_import_csv(st, &tenant, "board", in, NULL, NULL, NOW, NULL), 0);
    fclose(in);

    char alice[64], bob[64], other_alice[64];
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "alice", alice), 0);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "bob", bob), 0);
    ck_assert_int_eq(profile_uuid(st, &other, STORAGE_ID_USER, "alice", other_alice), 0);
    int64_t pk = pk_of(path, alice), bob_pk = pk_of(path, bob), other_pk = pk_of(path, other_alice);
    ck_assert(pk > 0 && bob_pk > 0 && other_pk > 0);

    /* a scroll of alice's events (one a page) and one of the email's two
     * profiles are open */
    storage_event_query_t q = {NULL, 0, NULL, 0, INT64_MIN, INT64_MAX, 1, 1};
    char *body = NULL, scroll[128] = "", email_scroll[128] = "";
    size_t len;
    ck_assert_int_eq(storage_events_begin(st, &tenant, STORAGE_ID_USER, "alice", 5, &q, NOW, 60000, &body, &len), 0);
    ck_assert_int_eq(sscanf(body, "{\"scrollId\":\"%127[^\"]\"", scroll), 1);
    free(body);
    ck_assert_int_eq(storage_events_begin(st, &tenant, STORAGE_ID_EMAIL, "alice@example.com", 17, &q, NOW, 60000, &body, &len), 0);
    ck_assert_int_eq(sscanf(body, "{\"scrollId\":\"%127[^\"]\"", email_scroll), 1);
    free(body);

    /* before: alice has rows in every table that keeps some of a profile */
    table_rows_t per[32];
    size_t nper = 0;
    int64_t before = rows_of(path, pk, per, &nper), bob_before = rows_of(path, bob_pk, NULL, NULL),
            other_before = rows_of(path, other_pk, NULL, NULL);
    ck_assert_uint_ge(nper, 8);
    for (size_t i = 0; i < nper; i++)
        ck_assert_msg(per[i].rows > 0, "alice has no rows in %s before the delete", per[i].name);
    ck_assert_int_gt(before, 0);

    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "alice", 5, NOW + 1, err, sizeof(err)), 0);

    /* after: nothing of alice in any table, her scrolls refused */
    ck_assert_int_eq(rows_of(path, pk, per, &nper), 0);
    ck_assert_int_eq(storage_events_next(st, &tenant, STORAGE_ID_USER, "alice", 5, scroll, strlen(scroll), NOW, 60000, &body, &len),
                     STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_events_next(st, &tenant, STORAGE_ID_EMAIL, "alice@example.com", 17, email_scroll, strlen(email_scroll),
                                         NOW, 60000, &body, &len),
                     STORAGE_ENOTFOUND);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events WHERE event_id IN ('m-ev-1', 'm-ev-2')"), 1); /* other's */
    /* every former id answers not found, in every view and the events */
    char got[64];
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "alice", got), STORAGE_ENOTFOUND);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_ANONYMOUS, "a1", got), STORAGE_ENOTFOUND);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_INTERNAL, alice, got), STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_events_begin(st, &tenant, STORAGE_ID_ANONYMOUS, "a1", 2, &q, NOW, 60000, &body, &len),
                     STORAGE_ENOTFOUND);
    /* the email now names bob's profile only */
    ck_assert_int_eq(storage_profile_view(st, &tenant, STORAGE_ID_EMAIL, "alice@example.com", 17, STORAGE_VIEW_TRAITS, &body, &len),
                     0);
    ck_assert_ptr_null(strstr(body, alice));
    ck_assert_ptr_nonnull(strstr(body, bob));
    free(body);
    /* the others are untouched: bob (same email, same audience) and the
     * other tenant's alice */
    ck_assert_int_eq(rows_of(path, bob_pk, NULL, NULL), bob_before);
    ck_assert_int_eq(rows_of(path, other_pk, NULL, NULL), other_before);
    ck_assert_int_eq(profile_uuid(st, &other, STORAGE_ID_ANONYMOUS, "a1", got), 0);
    ck_assert_str_eq(got, other_alice);

    /* the ids are suppressed in this tenant only */
    list_t l = {.n = 0};
    ck_assert_int_eq(storage_suppression_list(st, &tenant, collect, &l), 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.items[0], "0:alice");
    ck_assert_str_eq(l.items[1], "1:a1");
    list_t none = {.n = 0};
    ck_assert_int_eq(storage_suppression_list(st, &other, collect, &none), 0);
    ck_assert_int_eq(none.n, 0);

    /* gone is gone: a second delete finds nothing */
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_ANONYMOUS, "a1", 2, NOW + 1, err, sizeof(err)),
                     STORAGE_ENOTFOUND);
    storage_use_definitions(st, NULL);
    definitions_free(defs);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_suppressed_not_stored)
{
    char *path;
    storage_t *st = test_db_open("erase.db", &path);
    char err[512] = "", got[64];
    alice_and_bob(st);
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "alice", 5, NOW + 1, err, sizeof(err)), 0);
    int64_t events = count_sql(path, "SELECT count(*) FROM events"), profiles = count_sql(path, "SELECT count(*) FROM profiles"),
            idents = count_sql(path, "SELECT count(*) FROM identities");
    ck_assert_uint_eq(storage_suppressed_messages(st), 0);

    /* re-sent old messages (same messageIds), new ones, an alias from a
     * suppressed previousId, a suppressed anonymousId beside a new userId:
     * each acknowledged (0), none stored */
    static const char *const msgs[] = {
        "{\"type\":\"track\",\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"m-ev-1\","
        "\"timestamp\":\"2020-11-19T13:00:00Z\"}",
        "{\"type\":\"identify\",\"userId\":\"alice\",\"anonymousId\":\"a1\",\"messageId\":\"m-id-1\","
        "\"traits\":{\"email\":\"alice@example.com\"}}",
        "{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"Viewed\",\"messageId\":\"m-new-1\"}",
        "{\"type\":\"track\",\"userId\":\"newbie\",\"anonymousId\":\"a1\",\"event\":\"Viewed\",\"messageId\":\"m-new-2\"}",
        "{\"type\":\"alias\",\"previousId\":\"a1\",\"userId\":\"newbie\"}",
        "{\"type\":\"alias\",\"previousId\":\"alice\",\"userId\":\"newbie\"}",
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
        ck_assert_int_eq(test_db_ingest(st, &tenant, msgs[i], NOW + 2), 0);
    ck_assert_uint_eq(storage_suppressed_messages(st), 6);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events"), events);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM profiles"), profiles);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM identities"), idents);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "alice", got), STORAGE_ENOTFOUND);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "newbie", got), STORAGE_ENOTFOUND);
    /* bob's messages still go in; the other tenant's alice too */
    ingest_ok(st, &tenant, "{\"type\":\"track\",\"userId\":\"bob\",\"event\":\"Viewed\",\"messageId\":\"m-bob-2\"}");
    ingest_ok(st, &other, "{\"type\":\"track\",\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"m-oth-2\"}");
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events"), events + 2);
    ck_assert_uint_eq(storage_suppressed_messages(st), 6);

    /* import: counted as imported, not stored */
    static const char nd[] = "{\"type\":\"track\",\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"m-imp-1\"}\n"
                             "{\"type\":\"track\",\"userId\":\"carol\",\"event\":\"Viewed\",\"messageId\":\"m-imp-2\"}\n";
    FILE *in = fmemopen((void *)nd, sizeof(nd) - 1, "r");
    uint64_t imported = 0, rejected = 0;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant, in, NULL, NULL, NOW + 3, &imported, &rejected), 0);
    fclose(in);
    ck_assert_uint_eq(imported, 2);
    ck_assert_uint_eq(rejected, 0);
    ck_assert_uint_eq(storage_suppressed_messages(st), 7);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events WHERE event_id = 'm-imp-1'"), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events WHERE event_id = 'm-imp-2'"), 1);

    /* a static audience's CSV makes no profile of a suppressed userId */
    static const char csv[] = "userId\nalice\nbob\n";
    char errs[256] = "";
    FILE *cin = fmemopen((void *)csv, sizeof(csv) - 1, "r"), *eout = fmemopen(errs, sizeof(errs), "w");
    storage_audience_counts_t c;
    ck_assert_int_eq(storage_audience_import_csv(st, &tenant, "board", cin, NULL, eout, NOW + 3, &c), STORAGE_EINVAL);
    fclose(cin);
    fclose(eout);
    ck_assert_uint_eq(c.rejected, 1);
    ck_assert_uint_eq(c.created, 0);
    ck_assert_uint_eq(c.changed, 1); /* bob */
    ck_assert_str_eq(errs, "line 2: userId \"alice\" is suppressed (its profile was deleted)\n");
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "alice", got), STORAGE_ENOTFOUND);

    /* a rolled-back transaction's refusals are not counted */
    ck_assert_int_eq(storage_begin(st), 0);
    ck_assert_int_eq(test_db_ingest(st, &tenant, msgs[2], NOW + 4), 0);
    ck_assert_int_eq(storage_rollback(st), 0);
    ck_assert_uint_eq(storage_suppressed_messages(st), 7);

    /* suppression remove lets new messages with that id in again */
    ck_assert_int_eq(storage_suppression_remove(st, &tenant, STORAGE_ID_USER, "alice", 5), 0);
    ck_assert_int_eq(storage_suppression_remove(st, &tenant, STORAGE_ID_USER, "alice", 5), STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_suppression_remove(st, &other, STORAGE_ID_ANONYMOUS, "a1", 2), STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_suppression_remove(st, &tenant, STORAGE_ID_EMAIL, "alice@example.com", 17), STORAGE_EINVAL);
    ingest_ok(st, &tenant, "{\"type\":\"track\",\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"m-back-1\"}");
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "alice", got), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events WHERE event_id = 'm-back-1'"), 1);
    /* nothing deleted came back; a1 is still suppressed */
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events WHERE event_id = 'm-ev-2'"), 0);
    ck_assert_int_eq(test_db_ingest(st, &tenant, msgs[2], NOW + 5), 0);
    ck_assert_uint_eq(storage_suppressed_messages(st), 8);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_ANONYMOUS, "a1", got), STORAGE_ENOTFOUND);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_delete_merged)
{
    char *path;
    storage_t *st = test_db_open("erase.db", &path);
    char err[512] = "", a[64], b[64], got[64];
    ingest_ok(st, &tenant, "{\"type\":\"track\",\"anonymousId\":\"dev-1\",\"event\":\"Viewed\",\"messageId\":\"mm-1\"}");
    ingest_ok(st, &tenant, "{\"type\":\"track\",\"userId\":\"u-2\",\"event\":\"Viewed\",\"messageId\":\"mm-2\"}");
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_ANONYMOUS, "dev-1", a), 0);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "u-2", b), 0);
    ck_assert_str_ne(a, b);
    ingest_ok(st, &tenant, "{\"type\":\"alias\",\"previousId\":\"dev-1\",\"userId\":\"u-2\"}");
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "u-2", got), 0);
    ck_assert_str_eq(got, a); /* merged into the older */
    int64_t pk = pk_of(path, a);
    ck_assert_int_eq(pk_of(path, b), 0);

    /* deleting by one of the merged profiles' ids removes the merged one */
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "u-2", 3, NOW + 1, err, sizeof(err)), 0);
    ck_assert_int_eq(rows_of(path, pk, NULL, NULL), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM profiles"), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events"), 0);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_ANONYMOUS, "dev-1", got), STORAGE_ENOTFOUND);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_INTERNAL, b, got), STORAGE_ENOTFOUND);
    list_t l = {.n = 0};
    ck_assert_int_eq(storage_suppression_list(st, &tenant, collect, &l), 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.items[0], "0:u-2");
    ck_assert_str_eq(l.items[1], "1:dev-1");
    test_db_close(st, path);
}
END_TEST

START_TEST(test_delete_by_id_and_refusals)
{
    char *path;
    storage_t *st = test_db_open("erase.db", &path);
    char err[512] = "", alice[64], got[64];
    alice_and_bob(st);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "alice", alice), 0);
    int64_t profiles = count_sql(path, "SELECT count(*) FROM profiles");

    /* an email may name several profiles: refused, nothing deleted */
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_EMAIL, "alice@example.com", 17, NOW, err, sizeof(err)),
                     STORAGE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "userId, anonymousId or id"));
    /* unknown profile, unknown tenant, another tenant's id */
    storage_tenant_t nobody = storage_tenant("nobody", "x", "y");
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "zed", 3, NOW, err, sizeof(err)), STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_profile_delete(st, &nobody, STORAGE_ID_USER, "alice", 5, NOW, err, sizeof(err)), STORAGE_ENOTFOUND);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM profiles"), profiles);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM suppressions"), 0);

    /* by the profile's id, inside the caller's transaction */
    ck_assert_int_eq(storage_begin(st), 0);
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_INTERNAL, alice, strlen(alice), NOW + 1, err, sizeof(err)), 0);
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM profiles"), profiles - 1);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "alice", got), STORAGE_ENOTFOUND);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM suppressions"), 2);
    /* a rolled-back delete leaves everything */
    ck_assert_int_eq(storage_begin(st), 0);
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "bob", 3, NOW + 1, err, sizeof(err)), 0);
    ck_assert_int_eq(storage_rollback(st), 0);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "bob", got), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM suppressions"), 2);
    test_db_close(st, path);
}
END_TEST

/* A combined (deferred) write of the writer's group commit is in the
 * tables before the delete runs in the same transaction. */
START_TEST(test_delete_in_group_commit)
{
    char *path;
    storage_t *st = test_db_open("erase.db", &path);
    char err[512] = "", got[64];
    ck_assert_int_eq(storage_combine_writes(st, true), 0);
    ck_assert_int_eq(storage_begin(st), 0);
    ingest_ok(st, &tenant, "{\"type\":\"identify\",\"userId\":\"dee\",\"traits\":{\"plan\":\"pro\"},\"messageId\":\"g-1\"}");
    ingest_ok(st, &tenant, "{\"type\":\"track\",\"userId\":\"dee\",\"event\":\"Viewed\",\"messageId\":\"g-2\"}");
    ck_assert_int_eq(storage_profile_delete(st, &tenant, STORAGE_ID_USER, "dee", 3, NOW + 1, err, sizeof(err)), 0);
    ingest_ok(st, &tenant, "{\"type\":\"track\",\"userId\":\"dee\",\"event\":\"Viewed\",\"messageId\":\"g-3\"}");
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM profiles"), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM traits"), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM events"), 0);
    ck_assert_int_eq(count_sql(path, "SELECT count(*) FROM event_marks"), 0);
    ck_assert_int_eq(profile_uuid(st, &tenant, STORAGE_ID_USER, "dee", got), STORAGE_ENOTFOUND);
    ck_assert_uint_eq(storage_suppressed_messages(st), 1);
    test_db_close(st, path);
}
END_TEST

static Suite *
erase_suite(void)
{
    Suite *s = suite_create("erase");
    TCase *tc = tcase_create("erase");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_delete_removes_every_row);
    tcase_add_test(tc, test_suppressed_not_stored);
    tcase_add_test(tc, test_delete_merged);
    tcase_add_test(tc, test_delete_by_id_and_refusals);
    tcase_add_test(tc, test_delete_in_group_commit);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    tenant = storage_tenant("acme", "shop", "MAIN");
    other = storage_tenant("acme", "shop", "OTHER");
    return test_run_suite(erase_suite()) == 0 ? 0 : 1;
}
