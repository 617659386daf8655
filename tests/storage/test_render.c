/* test_render.c -- the bytes of an events page and of a metadata view
 * built from unusual stored text (loaded by storage_import_ndjson, which
 * stores each line as sent): unicode escapes, nested objects, numbers
 * json-c would rewrite, empty properties, blanks, an eventId that needs
 * escaping, members named like those the metadata adds, several events at
 * one time (ordered by eventId, across page boundaries in both orders), a
 * profile known only by its anonymousId and email. Each body is compared
 * whole with the text expected (the profile's random UUID and the
 * scrollId replaced by placeholders). */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"
#include "testdb.h"
#include "testutil.h"
#include "../../storage/db/db.h"
#include "../../storage/read/read.h"

#define NOW 1605793157912LL
#define TTL 60000

static const storage_tenant_t tenant = {"acme", 4, "shop", 4, "MAIN", 4};

/* Stored as sent, one message a line. */
static const char nd[] =
    "{\"type\":\"identify\",\"userId\":\"r1\",\"messageId\":\"m-id\",\"timestamp\":\"2020-01-01T00:00:00Z\","
    "\"traits\":{\"email\":\"R1@Example.com\",\"big\":123456789012345678901234567890}}\n"
    /* three at one time, stored out of eventId order */
    "{\"type\":\"track\",\"userId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-c\",\"timestamp\":\"2020-01-02T00:00:00Z\","
    "\"properties\":{}}\n"
    "{\"type\":\"track\",\"userId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-a\",\"timestamp\":\"2020-01-02T00:00:00Z\","
    "\"properties\":{\"s\":\"\\u00e9\\ud83d\\ude00\\/\\\"\"}}\n"
    "{\"type\":\"track\",\"userId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-b\",\"timestamp\":\"2020-01-02T00:00:00Z\","
    "\"properties\":{\"n\":-0,\"e\":1e400,\"d\":{\"x\":[1E+2,{\"y\":[[],{}]}]}}}\n"
    /* blanks kept, an eventId with a quote and a non-ASCII letter */
    "{ \"type\" : \"page\" , \"userId\":\"r1\", \"messageId\":\"m-\\\"q\\\"-\\u00e9\", \"name\":\"Home\","
    " \"timestamp\":\"2020-01-03T00:00:00.5Z\" , \"properties\" : { } }\n"
    /* members the metadata replaces */
    "{\"type\":\"track\",\"userId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-z\",\"timestamp\":\"2020-01-04T00:00:00Z\","
    "\"action\":\"mine\",\"eventTime\":\"x\",\"event\\u0049d\":\"y\",\"properties\":{\"k\\u0000\":1}}\n"
    /* a profile with no userId: externalId is its email trait */
    "{\"type\":\"identify\",\"anonymousId\":\"a9\",\"messageId\":\"m-anon\",\"timestamp\":\"2020-01-05T00:00:00Z\","
    "\"traits\":{\"email\":\"anon@example.com\"}}\n"
    "{\"type\":\"track\",\"anonymousId\":\"a9\",\"event\":\"Solo\",\"messageId\":\"m-s\",\"timestamp\":\"2020-01-06T00:00:00Z\"}\n";

static storage_t *st;
static char *path;

static void
setup(void)
{
    st = test_db_open("render.db", &path);
    FILE *in = fmemopen((void *)nd, sizeof(nd) - 1, "r");
    uint64_t ok = 0, bad = 0;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant, in, stderr, NULL, NOW, &ok, &bad), 0);
    fclose(in);
    ck_assert_uint_eq(ok, 8);
}

static void
teardown(void)
{
    test_db_close(st, path);
}

/* Replaces every occurrence of what (if not NULL) in s with with. */
static char *
replace(char *s, const char *what, const char *with)
{
    if (what == NULL || *what == '\0')
        return s;
    size_t wn = strlen(what), rn = strlen(with), n = 0;
    for (const char *p = strstr(s, what); p != NULL; p = strstr(p + wn, what))
        n++;
    char *out = malloc(strlen(s) + n * rn + 1), *o = out;
    ck_assert_ptr_nonnull(out);
    const char *p = s;
    for (const char *q = strstr(p, what); q != NULL; q = strstr(p, what)) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, with, rn);
        o += rn;
        p = q + wn;
    }
    strcpy(o, p);
    free(s);
    return out;
}

/* The quoted value of the first "key":"..." member of s (no escapes in
 * it), malloc'd; NULL when there is none. */
static char *
member(const char *s, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(s, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    ck_assert_ptr_nonnull(e);
    return strndup(p, (size_t)(e - p));
}

/* The profile's UUID as the traits view shows it. */
static char *
uuid_of(storage_id_type_t type, const char *id)
{
    char *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(storage_profile_view(st, &tenant, type, id, strlen(id), STORAGE_VIEW_TRAITS, &body, &len), 0);
    char *u = member(body, "id");
    free(body);
    ck_assert_ptr_nonnull(u);
    return u;
}

/* body with the profile's UUID and the scrollId made placeholders; the
 * scrollId itself into *sid (when not NULL). */
static char *
normalise(char *body, const char *uuid, char **sid)
{
    char *s = member(body, "scrollId");
    body = replace(body, s, "SID");
    body = replace(body, uuid, "UUID");
    if (sid != NULL)
        *sid = s;
    else
        free(s);
    return body;
}

/* A mismatch prints both whole (Check cuts long messages). */
#define ASSERT_BODY(got, want)                                                                                                     \
    do {                                                                                                                           \
        if (strcmp((got), (want)) != 0)                                                                                            \
            fprintf(stderr, "got\n%s\nwant\n%s\n", (got), (want));                                                                 \
        ck_assert_msg(strcmp((got), (want)) == 0, "body differs (printed above)");                                                 \
    } while (0)

/* What today's code answers (checked by eye: rawData as stored, ties in eventId order). */
static const char page_desc[] =
    "{\"scrollId\":\"SID\",\"data\":[{\"id\":\"UUID\",\"externalId\":\"r1\",\"email\":\"R1@Example.com\",\"eventId"
    "\":\"m-z\",\"eventTime\":\"2020-01-04T00:00:00.000Z\",\"receivedTime\":\"2020-11-19T13:39:17.912Z\",\"eventAct"
    "ion\":\"tie\",\"clientId\":\"acme\",\"accountId\":\"shop\",\"brandId\":\"MAIN\",\"customerId\":\"UUID\",\"user"
    "Id\":\"r1\",\"source\":\"SEGMENT_API\",\"rawData\":{\"type\":\"track\",\"userId\":\"r1\",\"event\":\"Tie\",\"m"
    "essageId\":\"m-z\",\"timestamp\":\"2020-01-04T00:00:00Z\",\"action\":\"mine\",\"eventTime\":\"x\",\"event\\u00"
    "49d\":\"y\",\"properties\":{\"k\\u0000\":1}}},{\"id\":\"UUID\",\"externalId\":\"r1\",\"email\":\"R1@Example.co"
    "m\",\"eventId\":\"m-\\\"q\\\"-\u00e9\",\"eventTime\":\"2020-01-03T00:00:00.500Z\",\"receivedTime\":\"2020-11-1"
    "9T13:39:17.912Z\",\"eventAction\":\"page\",\"clientId\":\"acme\",\"accountId\":\"shop\",\"brandId\":\"MAIN\","
    "\"customerId\":\"UUID\",\"userId\":\"r1\",\"source\":\"SEGMENT_API\",\"rawData\":{ \"type\" : \"page\" , \"use"
    "rId\":\"r1\", \"messageId\":\"m-\\\"q\\\"-\\u00e9\", \"name\":\"Home\", \"timestamp\":\"2020-01-03T00:00:00.5Z"
    "\" , \"properties\" : { } }},{\"id\":\"UUID\",\"externalId\":\"r1\",\"email\":\"R1@Example.com\",\"eventId\":"
    "\"m-c\",\"eventTime\":\"2020-01-02T00:00:00.000Z\",\"receivedTime\":\"2020-11-19T13:39:17.912Z\",\"eventAction"
    "\":\"tie\",\"clientId\":\"acme\",\"accountId\":\"shop\",\"brandId\":\"MAIN\",\"customerId\":\"UUID\",\"userId"
    "\":\"r1\",\"source\":\"SEGMENT_API\",\"rawData\":{\"type\":\"track\",\"userId\":\"r1\",\"event\":\"Tie\",\"mes"
    "sageId\":\"m-c\",\"timestamp\":\"2020-01-02T00:00:00Z\",\"properties\":{}}},{\"id\":\"UUID\",\"externalId\":\""
    "r1\",\"email\":\"R1@Example.com\",\"eventId\":\"m-b\",\"eventTime\":\"2020-01-02T00:00:00.000Z\",\"receivedTim"
    "e\":\"2020-11-19T13:39:17.912Z\",\"eventAction\":\"tie\",\"clientId\":\"acme\",\"accountId\":\"shop\",\"brandI"
    "d\":\"MAIN\",\"customerId\":\"UUID\",\"userId\":\"r1\",\"source\":\"SEGMENT_API\",\"rawData\":{\"type\":\"trac"
    "k\",\"userId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-b\",\"timestamp\":\"2020-01-02T00:00:00Z\",\"propert"
    "ies\":{\"n\":-0,\"e\":1e400,\"d\":{\"x\":[1E+2,{\"y\":[[],{}]}]}}}},{\"id\":\"UUID\",\"externalId\":\"r1\",\"e"
    "mail\":\"R1@Example.com\",\"eventId\":\"m-a\",\"eventTime\":\"2020-01-02T00:00:00.000Z\",\"receivedTime\":\"20"
    "20-11-19T13:39:17.912Z\",\"eventAction\":\"tie\",\"clientId\":\"acme\",\"accountId\":\"shop\",\"brandId\":\"MA"
    "IN\",\"customerId\":\"UUID\",\"userId\":\"r1\",\"source\":\"SEGMENT_API\",\"rawData\":{\"type\":\"track\",\"us"
    "erId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-a\",\"timestamp\":\"2020-01-02T00:00:00Z\",\"properties\":{"
    "\"s\":\"\\u00e9\\ud83d\\ude00\\/\\\"\"}}}]}";

static const char page_anon[] =
    "{\"scrollId\":\"SID\",\"data\":[{\"id\":\"UUID\",\"externalId\":\"anon@example.com\",\"email\":\"anon@example."
    "com\",\"eventId\":\"m-s\",\"eventTime\":\"2020-01-06T00:00:00.000Z\",\"receivedTime\":\"2020-11-19T13:39:17.91"
    "2Z\",\"eventAction\":\"solo\",\"clientId\":\"acme\",\"accountId\":\"shop\",\"brandId\":\"MAIN\",\"customerId\""
    ":\"UUID\",\"userId\":null,\"source\":\"SEGMENT_API\",\"rawData\":{\"type\":\"track\",\"anonymousId\":\"a9\",\""
    "event\":\"Solo\",\"messageId\":\"m-s\",\"timestamp\":\"2020-01-06T00:00:00Z\"}}]}";

static const char metadata[] =
    "{\"big\":123456789012345678901234567890,\"email\":\"R1@Example.com\",\"id\":\"UUID\",\"externalId\":\"r1\",\"_"
    "subscriptionId\":\"SUB\",\"createdBy\":{\"type\":\"import\",\"createdTime\":\"2020-11-19T13:39:17.912Z\"},\"cr"
    "eatedTime\":\"2020-11-19T13:39:17.912Z\",\"updatedTime\":\"2020-11-19T13:39:17.912Z\",\"firstEvent\":{\"page\""
    ":{ \"type\" : \"page\" , \"userId\":\"r1\", \"messageId\":\"m-\\\"q\\\"-\\u00e9\", \"name\":\"Home\", \"timest"
    "amp\":\"2020-01-03T00:00:00.5Z\" , \"properties\" : { },\"eventId\":\"m-\\\"q\\\"-\u00e9\",\"receivedTime\":\""
    "2020-11-19T13:39:17.912Z\",\"eventTime\":\"2020-01-03T00:00:00.500Z\",\"action\":\"page\"},\"tie\":{\"type\":"
    "\"track\",\"userId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-a\",\"timestamp\":\"2020-01-02T00:00:00Z\",\"p"
    "roperties\":{\"s\":\"\\u00e9\\ud83d\\ude00\\/\\\"\"},\"eventId\":\"m-a\",\"receivedTime\":\"2020-11-19T13:39:1"
    "7.912Z\",\"eventTime\":\"2020-01-02T00:00:00.000Z\",\"action\":\"track\"}},\"lastEvent\":{\"page\":{ \"type\" "
    ": \"page\" , \"userId\":\"r1\", \"messageId\":\"m-\\\"q\\\"-\\u00e9\", \"name\":\"Home\", \"timestamp\":\"2020"
    "-01-03T00:00:00.5Z\" , \"properties\" : { },\"eventId\":\"m-\\\"q\\\"-\u00e9\",\"receivedTime\":\"2020-11-19T1"
    "3:39:17.912Z\",\"eventTime\":\"2020-01-03T00:00:00.500Z\",\"action\":\"page\"},\"tie\":{\"type\":\"track\",\"u"
    "serId\":\"r1\",\"event\":\"Tie\",\"messageId\":\"m-z\",\"timestamp\":\"2020-01-04T00:00:00Z\",\"properties\":{"
    "\"k\\u0000\":1},\"eventId\":\"m-z\",\"receivedTime\":\"2020-11-19T13:39:17.912Z\",\"eventTime\":\"2020-01-04T0"
    "0:00:00.000Z\",\"action\":\"track\"}},\"audiences\":[],\"audiencesStatic\":[],\"lastActivityTime\":\"2020-01-0"
    "4T00:00:00.000Z\"}";

START_TEST(test_events_page_bytes)
{
    char *uuid = uuid_of(STORAGE_ID_USER, "r1"), *body = NULL;
    size_t len = 0;
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = 1, .limit = 100};
    ck_assert_int_eq(storage_events_begin(st, &tenant, STORAGE_ID_USER, "r1", 2, &q, NOW, TTL, &body, &len), 0);
    ck_assert_uint_eq(len, strlen(body));
    body = normalise(body, uuid, NULL);
    ASSERT_BODY(body, page_desc);
    free(body);
    free(uuid);
}
END_TEST

/* The eventIds of pages of limit 2 followed to the end, as one string. */
static void
walk(storage_id_type_t type, const char *id, int desc, const char *include, char *out, size_t cap)
{
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = desc, .limit = 2};
    if (include != NULL) {
        q.include = include;
        q.include_len = strlen(include);
    }
    char *body = NULL, *sid = NULL;
    size_t len = 0;
    out[0] = '\0';
    ck_assert_int_eq(storage_events_begin(st, &tenant, type, id, strlen(id), &q, NOW, TTL, &body, &len), 0);
    for (int page = 0; page < 10; page++) {
        free(sid);
        sid = member(body, "scrollId");
        ck_assert_ptr_nonnull(sid);
        int n = 0;
        for (const char *p = strstr(body, "\"eventId\":\""); p != NULL; p = strstr(p + 1, "\"eventId\":\"")) {
            const char *v = p + 11, *e = v;
            while (*e != '"' || e[-1] == '\\')
                e++;
            snprintf(out + strlen(out), cap - strlen(out), "%.*s ", (int)(e - v), v);
            n++;
        }
        free(body);
        body = NULL;
        if (n < 2)
            break;
        ck_assert_int_eq(storage_events_next(st, &tenant, type, id, strlen(id), sid, strlen(sid), NOW, TTL, &body, &len), 0);
    }
    free(body);
    free(sid);
}

START_TEST(test_ties_across_pages)
{
    char got[512];
    walk(STORAGE_ID_USER, "r1", 1, NULL, got, sizeof(got));
    ck_assert_str_eq(got, "m-z m-\\\"q\\\"-\u00e9 m-c m-b m-a ");
    walk(STORAGE_ID_USER, "r1", 0, NULL, got, sizeof(got));
    ck_assert_str_eq(got, "m-a m-b m-c m-\\\"q\\\"-\u00e9 m-z ");
    walk(STORAGE_ID_USER, "r1", 0, "tie", got, sizeof(got));
    ck_assert_str_eq(got, "m-a m-b m-c m-z ");
    walk(STORAGE_ID_EMAIL, "r1@example.com", 1, "TIE,page", got, sizeof(got));
    ck_assert_str_eq(got, "m-z m-\\\"q\\\"-\u00e9 m-c m-b m-a ");
}
END_TEST

START_TEST(test_anonymous_profile_page_bytes)
{
    char *uuid = uuid_of(STORAGE_ID_ANONYMOUS, "a9"), *body = NULL;
    size_t len = 0;
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = 0, .limit = 1};
    ck_assert_int_eq(storage_events_begin(st, &tenant, STORAGE_ID_ANONYMOUS, "a9", 2, &q, NOW, TTL, &body, &len), 0);
    body = normalise(body, uuid, NULL);
    ASSERT_BODY(body, page_anon);
    free(body);
    free(uuid);
}
END_TEST

START_TEST(test_metadata_bytes)
{
    char *uuid = uuid_of(STORAGE_ID_USER, "r1"), *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(storage_profile_view(st, &tenant, STORAGE_ID_USER, "r1", 2, STORAGE_VIEW_METADATA, &body, &len), 0);
    ck_assert_uint_eq(len, strlen(body));
    char *sub = member(body, "_subscriptionId");
    body = replace(body, sub, "SUB");
    free(sub);
    body = normalise(body, uuid, NULL);
    ASSERT_BODY(body, metadata);
    free(body);
    free(uuid);
}
END_TEST

/* 1,500 events at one time, stored in falling eventId order with 1 KiB of
 * properties each: in rising order every row read past a page's limit
 * replaces a kept one, so the page's scratch is compacted along the way;
 * pages of 100 still give each event once, in order. */
START_TEST(test_long_run_of_one_time)
{
    enum { N = 1500 };
    size_t cap = (size_t)N * 1200, len = 0;
    char *lines = malloc(cap), pad[1025];
    ck_assert_ptr_nonnull(lines);
    memset(pad, 'p', 1024);
    pad[1024] = '\0';
    for (int i = N - 1; i >= 0; i--)
        len += (size_t)snprintf(lines + len, cap - len,
                                "{\"type\":\"track\",\"userId\":\"run\",\"event\":\"R\",\"messageId\":\"r%05d\","
                                "\"timestamp\":\"2021-01-01T00:00:00Z\",\"properties\":{\"pad\":\"%s\"}}\n",
                                i, pad);
    FILE *in = fmemopen(lines, len, "r");
    uint64_t ok = 0, bad = 0;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant, in, stderr, NULL, NOW, &ok, &bad), 0);
    fclose(in);
    free(lines);
    for (int desc = 0; desc < 2; desc++) {
        storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = desc, .limit = 100};
        char *body = NULL, *sid = NULL;
        size_t blen = 0;
        int seen = 0;
        ck_assert_int_eq(storage_events_begin(st, &tenant, STORAGE_ID_USER, "run", 3, &q, NOW, TTL, &body, &blen), 0);
        for (;;) {
            int n = 0;
            for (const char *p = strstr(body, "\"eventId\":\"r"); p != NULL; p = strstr(p + 1, "\"eventId\":\"r")) {
                int want = desc ? N - 1 - seen : seen;
                ck_assert_int_eq(atoi(p + 12), want);
                seen++;
                n++;
            }
            free(sid);
            sid = member(body, "scrollId");
            free(body);
            body = NULL;
            if (n < 100)
                break;
            ck_assert_int_eq(storage_events_next(st, &tenant, STORAGE_ID_USER, "run", 3, sid, strlen(sid), NOW, TTL, &body, &blen),
                             0);
        }
        free(sid);
        ck_assert_int_eq(seen, N);
    }
}
END_TEST

/* SQLite's query plan of statement id, a line a step, into plan. */
static void
plan_of(sqlite3 *db, enum stmt_id id, char *plan, size_t cap)
{
    char sql[4096];
    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", stg_sqlite_sql[id]);
    sqlite3_stmt *s = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    plan[0] = '\0';
    while (sqlite3_step(s) == SQLITE_ROW)
        snprintf(plan + strlen(plan), cap - strlen(plan), "%s\n", (const char *)sqlite3_column_text(s, 3));
    sqlite3_finalize(s);
}

/* A first page and a next page are each a range read of the by-profile
 * entries of both levels (ev_prof, ev_prof_hot: schema step 10), merged in
 * time order: no temporary b-tree, no sort, in both orders. */
START_TEST(test_event_pages_read_the_index_in_order)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    static const enum stmt_id ids[] = {S_EVENTS_ASC_FIRST, S_EVENTS_ASC_NEXT, S_EVENTS_DESC_FIRST, S_EVENTS_DESC_NEXT};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char plan[4096];
        plan_of(db, ids[i], plan, sizeof(plan));
        /* both levels (ev_prof, ev_prof_hot), each a range of its key in
         * time order, merged without a sort */
        const char *range = "SEARCH i USING PRIMARY KEY (profile_pk=? AND event_time_ms>? AND event_time_ms<?)";
        const char *first = strstr(plan, range);
        ck_assert_msg(strstr(plan, "MERGE (UNION ALL)") != NULL && first != NULL && strstr(first + 1, range) != NULL,
                      "statement %zu: %s", i, plan);
        ck_assert_msg(strstr(plan, "B-TREE") == NULL && strstr(plan, "SCAN e") == NULL && strstr(plan, "SCAN i") == NULL,
                      "statement %zu sorts: %s", i, plan);
    }
    sqlite3_close(db);
}
END_TEST

/* A traits view's one statement (the profile joined with its traits)
 * reads both by their keys, the traits in key order: no sort. */
START_TEST(test_traits_view_reads_in_key_order)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    static const enum stmt_id ids[] = {S_VIEW_TRAITS_BY_IDENTITY, S_VIEW_TRAITS_BY_UUID};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char plan[4096];
        plan_of(db, ids[i], plan, sizeof(plan));
        ck_assert_msg(strstr(plan, "SEARCH t USING PRIMARY KEY (profile_pk=?)") != NULL, "statement %zu: %s", i, plan);
        ck_assert_msg(strstr(plan, "B-TREE") == NULL && strstr(plan, "SCAN") == NULL, "statement %zu sorts: %s", i, plan);
    }
    sqlite3_close(db);
}
END_TEST

/* stg_jb_message with a drop list as the strict walk writes it: the text
 * checked, members named in drop left out (the oracle: what it did for
 * every message before text without escapes was trusted). */
static void
oracle(jsonbuf_t *b, const char *raw, const char *const *drop)
{
    span_t obj = {raw, strlen(raw)};
    while (obj.n > 0 && (obj.p[obj.n - 1] == ' ' || obj.p[obj.n - 1] == '\n'))
        obj.n--;
    while (obj.n > 0 && (obj.p[0] == ' ' || obj.p[0] == '\n')) {
        obj.p++;
        obj.n--;
    }
    ck_assert_ptr_null(base_json_check(obj.p, obj.n));
    jiter_t it;
    span_t key, value;
    bool clash = false;
    base_json_members(&it, obj);
    while (base_json_next(&it, &key, &value))
        for (const char *const *d = drop; *d != NULL; d++)
            clash = clash || base_json_key_is(key, *d, strlen(*d));
    if (!clash) {
        size_t end = obj.n - 1;
        while (end > 1 && (obj.p[end - 1] == ' ' || obj.p[end - 1] == '\n'))
            end--;
        base_jb_raw(b, obj.p, end);
        return;
    }
    base_jb_open(b, '{');
    base_json_members(&it, obj);
    while (base_json_next(&it, &key, &value)) {
        bool dropped = false;
        for (const char *const *d = drop; *d != NULL; d++)
            dropped = dropped || base_json_key_is(key, *d, strlen(*d));
        if (!dropped)
            base_jb_raw(b, key.p - 1, (size_t)(value.p + value.n - (key.p - 1)));
    }
}

/* The first/last events' messages: text without escapes is spliced after a
 * walk of its top-level names only; the bytes are those of the strict
 * walk for names anywhere, strings holding brackets, quotes of names as
 * values, scalars last, blanks, empty objects; and text with escapes. */
START_TEST(test_message_splice_matches_strict_walk)
{
    static const char *const drop[] = {"eventId", "receivedTime", "eventTime", "action", NULL};
    static const char *const texts[] = {
        "{}",
        " { } ",
        "{\"a\":1}",
        "{\"a\":true}",
        "{\"a\": -1.5e+3 }",
        "{\"a\":null,\"b\":false}",
        "{\"p\":{\"action\":1},\"q\":[{\"eventId\":2}]}",
        "{\"p\":{\"x\":{\"y\":[[],{}]}},\"action\":\"mine\"}",
        "{\"s\":\"{[}],\\\"\",\"eventTime\":3}",
        "{\"s\":\"{[}],\",\"eventTime\":3}",
        "{\"s\":\"action\",\"t\":\"\\\"eventId\\\"\"}",
        "{\"x\":\"eventId\"}",
        "{ \"type\" : \"page\" ,\n \"action\" : [ 1 , 2 ] , \"z\" : { } }",
        "{\"actions\":1,\"Action\":2,\"eventid\":3}",
        "{\"event\\u0049d\":\"y\",\"k\":1}",
        "{\"k\":\"\\u00e9\",\"receivedTime\":0}",
        "{\"a\":[1,2,{\"b\":\"]\"}],\"receivedTime\":{\"c\":\"}\"},\"d\":\"e\"}",
        "{\"a\\\\\":1,\"action\\\\\":2}",
        "{\"s\":\"x\\\\\",\"t\":{\"u\":\"\\\\\\\"}\"},\"v\":[\"\\\"]\"]}",
        "{\"k\\\"x\":1,\"\\u0061ction\":2}",
        "{\"p\":{\"q\":\"\\\\\"},\"eventId\":1}",
        "{\"\\/\":{},\"\":[]}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        jsonbuf_t got, want;
        base_jb_init(&got, 16);
        base_jb_init(&want, 16);
        base_jb_open(&got, '[');
        base_jb_open(&want, '[');
        stg_jb_message(&got, texts[i], strlen(texts[i]), drop);
        oracle(&want, texts[i], drop);
        ck_assert_msg(got.len == want.len && memcmp(got.data, want.data, got.len) == 0, "%s: got %s, want %s", texts[i], got.data,
                      want.data);
        base_jb_free(&got);
        base_jb_free(&want);
    }
    /* any bytes between braces: the walk stays inside them (ASan runs this),
     * and valid text comes out as the strict walk writes it */
    static const char alphabet[] = "{}[]\",:\\ a1u";
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        char text[48];
        size_t n = 2 + round % 40;
        text[0] = '{';
        for (size_t i = 1; i + 1 < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            text[i] = alphabet[x % (sizeof(alphabet) - 1)];
        }
        text[n - 1] = '}';
        text[n] = '\0';
        char *copy = malloc(n); /* exactly n bytes: a read past them is caught */
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, text, n);
        jsonbuf_t got;
        base_jb_init(&got, 16);
        stg_jb_message(&got, copy, n, drop);
        if (base_json_check(text, n) == NULL) {
            jsonbuf_t want;
            base_jb_init(&want, 16);
            oracle(&want, text, drop);
            ck_assert_msg(got.len == want.len && memcmp(got.data, want.data, got.len) == 0, "%s: got %s, want %s", text, got.data,
                          want.data);
            base_jb_free(&want);
        }
        base_jb_free(&got);
        free(copy);
    }
    /* not an object: an empty one opens */
    static const char *const bad[] = {"", "[]", "\"x\"", "{", "x}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jsonbuf_t got;
        base_jb_init(&got, 16);
        stg_jb_message(&got, bad[i], strlen(bad[i]), drop);
        ck_assert_str_eq(got.data, "{");
        base_jb_free(&got);
    }
}
END_TEST

static Suite *
render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("render");
    /* counted, not timed: each test imports its data (fsyncs), and the long
     * run pages 3,000 rows; Check's 4 s default is too short under ASan on
     * a loaded machine */
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_events_page_bytes);
    tcase_add_test(tc, test_ties_across_pages);
    tcase_add_test(tc, test_anonymous_profile_page_bytes);
    tcase_add_test(tc, test_metadata_bytes);
    tcase_add_test(tc, test_long_run_of_one_time);
    tcase_add_test(tc, test_message_splice_matches_strict_walk);
    tcase_add_test(tc, test_event_pages_read_the_index_in_order);
    tcase_add_test(tc, test_traits_view_reads_in_key_order);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(render_suite()) == 0 ? 0 : 1;
}
