/* test_storage.c -- Check suite of storage/: migrations, materialisation of
 * every message type, identity linking and merges, the JSON views (asserted
 * on parsed JSON), NDJSON import, tenant isolation, tokens and the time
 * helpers, the events timeline and its scroll cursors. Each test works on
 * its own temporary database file. */
#include <check.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "storage.h"
#include "testdb.h"
#include "testutil.h"

/* 2020-11-19T13:39:17.912Z, the receivedTime of the spec's example. */
#define NOW 1605793157912LL
#define NOW_ISO "2020-11-19T13:39:17.912Z"

static storage_tenant_t tenant_a, tenant_b;

static void
setup_tenants(void)
{
    tenant_a = storage_tenant("intilery", "marketing", "MARKETING");
    tenant_b = storage_tenant("intilery", "sales", "MARKETING");
}

static int
ingest(storage_t *st, const storage_tenant_t *t, const char *json)
{
    return test_db_ingest(st, t, json, NOW);
}

#define INGEST_OK(st, t, json) ck_assert_int_eq(ingest((st), (t), (json)), 0)

static int
view_rc(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, storage_view_t v,
        struct json_object **out)
{
    char *body = NULL;
    size_t len = 0;
    *out = NULL;
    int ret = storage_profile_view(st, t, type, id, strlen(id), v, &body, &len);
    if (ret != 0) {
        ck_assert_ptr_null(body);
        return ret;
    }
    ck_assert_uint_eq(strlen(body), len);
    /* Views nest a few levels deeper than the messages they contain. */
    struct json_tokener *tok = json_tokener_new_ex(64);
    *out = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    ck_assert_msg(*out != NULL, "view is not JSON: %s", body);
    free(body);
    return 0;
}

static struct json_object *
view(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, storage_view_t v)
{
    struct json_object *o;
    int ret = view_rc(st, t, type, id, v, &o);
    ck_assert_msg(ret == 0, "view of %s: %d %s", id, ret, storage_errmsg(st));
    return o;
}

/* Member at a dotted path ("firstEvent.email_opened.eventId"); NULL when
 * absent or JSON null. */
static struct json_object *
get(struct json_object *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save)) {
        if (o == NULL || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &o))
            return NULL;
    }
    return o;
}

static bool
has(struct json_object *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *dot = strrchr(buf, '.');
    struct json_object *parent = o;
    const char *key = buf;
    if (dot != NULL) {
        *dot = '\0';
        parent = get(o, buf);
        key = dot + 1;
    }
    return parent != NULL && json_object_object_get_ex(parent, key, NULL);
}

static const char *
gets(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t
geti(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    ck_assert_msg(v != NULL, "missing %s", path);
    return json_object_get_int64(v);
}

static size_t
alen(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    ck_assert_msg(v != NULL && json_object_is_type(v, json_type_array), "%s is not an array", path);
    return json_object_array_length(v);
}

/* The profile id the userId leads to (copied into out). */
static void
profile_id(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, char out[64])
{
    struct json_object *o = view(st, t, type, id, STORAGE_VIEW_TRAITS);
    snprintf(out, 64, "%s", gets(o, "id"));
    json_object_put(o);
}

static size_t
list_count(storage_t *st, const storage_tenant_t *t)
{
    char *body;
    size_t len;
    ck_assert_int_eq(storage_profile_list(st, t, 0, 100, &body, &len), 0);
    struct json_object *o = json_tokener_parse(body);
    ck_assert_ptr_nonnull(o);
    size_t n = alen(o, "data");
    json_object_put(o);
    free(body);
    return n;
}

/* ---- migrations ---------------------------------------------------------- */

static long long
file_bytes(const char *path, const char *suffix)
{
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* A connection with STORAGE_NO_AUTOCHECKPOINT leaves the log alone however
 * much it writes; storage_checkpoint from another connection moves it into
 * the database. */
START_TEST(test_checkpoint_elsewhere)
{
    TEST_SQLITE_ONLY(); /* SQLite's files */
    char *path;
    char err[256] = "";
    storage_t *other = test_db_open("profiles.db", &path), *st = NULL;
    ck_assert_int_eq(storage_open(&st, path, STORAGE_NO_AUTOCHECKPOINT, err, sizeof(err)), 0);
    long long db_before = file_bytes(path, "");
    ck_assert_int_eq(storage_begin(st), 0);
    for (int i = 0; i < 12000; i++) {
        char msg[2048];
        snprintf(msg, sizeof(msg), "{\"type\":\"identify\",\"userId\":\"u%d\",\"traits\":{\"n\":%d,\"pad\":\"%01500d\"}}", i, i, i);
        INGEST_OK(st, &tenant_a, msg);
    }
    ck_assert_int_eq(storage_commit(st), 0);
    /* past the autocheckpoint a default connection has (1,000 pages of 16
     * KiB), still all in the log */
    ck_assert_int_gt(file_bytes(path, "-wal"), 1000LL * 16384);
    ck_assert_int_eq(file_bytes(path, ""), db_before);
    ck_assert_int_eq(storage_checkpoint(other, NULL), 0);
    ck_assert_int_gt(file_bytes(path, ""), db_before + 1000LL * 1024);
    storage_close(st);
    test_db_close(other, path);
}
END_TEST

START_TEST(test_migrations)
{
    char *path;
    char err[256] = "";
    storage_t *st = test_db_open("profiles.db", &path), *ro = NULL, *again = NULL;
    ck_assert_int_ge(storage_schema_version(), 1);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"name\":\"Joe\"}}");
    storage_close(st);

    /* Opening again finds the schema current and the data there. */
    ck_assert_int_eq(storage_open(&again, path, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(storage_open(&ro, path, STORAGE_READONLY, err, sizeof(err)), 0);
    struct json_object *o = view(ro, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "name"), "Joe");
    json_object_put(o);
    storage_close(ro);
    storage_close(again);
    test_db_close(NULL, path);
}
END_TEST

START_TEST(test_readonly_open_fails_clearly)
{
    TEST_SQLITE_ONLY(); /* SQLite's files */
    char err[256] = "";
    storage_t *st = (storage_t *)0x1;
    char *path = test_tmp_path("missing.db");
    ck_assert_int_eq(storage_open(&st, path, STORAGE_READONLY, err, sizeof(err)), STORAGE_EIO);
    ck_assert_ptr_null(st);
    ck_assert_msg(strlen(err) > 0, "no message");
    ck_assert_int_eq(access(path, F_OK), -1); /* not created */

    /* An empty file is an SQLite database without our schema. */
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    err[0] = '\0';
    ck_assert_int_eq(storage_open(&st, path, STORAGE_READONLY, err, sizeof(err)), STORAGE_EIO);
    ck_assert_msg(strstr(err, "schema") != NULL, "message: %s", err);

    /* Not a database at all. */
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite file\n", f);
    fclose(f);
    ck_assert_int_eq(storage_open(&st, path, STORAGE_READONLY, err, sizeof(err)), STORAGE_EIO);
    ck_assert_int_eq(storage_open(&st, path, 0, err, sizeof(err)), STORAGE_EIO);
    test_db_close(NULL, path);
}
END_TEST

/* A PostgreSQL URL nobody answers: a clear error, no connection, and the
 * code serve's --db-wait-s tries again on. */
START_TEST(test_unreachable_postgres)
{
    storage_t *st = (storage_t *)1;
    char err[512] = "";
    ck_assert_int_eq(storage_open(&st, "postgresql://nobody@127.0.0.1:1/profiled?connect_timeout=2", 0, err, sizeof(err)),
                     STORAGE_EDOWN);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "cannot connect to PostgreSQL") != NULL, "%s", err);
}
END_TEST

/* A URL's password never reaches a log line. */
START_TEST(test_path_shown_hides_passwords)
{
    char b[256];
    ck_assert_str_eq(storage_path_shown("/var/lib/p.db", b, sizeof(b)), "/var/lib/p.db");
    ck_assert_str_eq(storage_path_shown("postgresql://u:secret@h:5432/db", b, sizeof(b)), "postgresql://u:***@h:5432/db");
    ck_assert_str_eq(storage_path_shown("postgres://u@h/db?sslmode=require&password=xyz&a=b", b, sizeof(b)),
                     "postgres://u@h/db?sslmode=require&password=***&a=b");
    ck_assert_str_eq(storage_path_shown("postgresql://h/db?password=p", b, sizeof(b)), "postgresql://h/db?password=***");
    char small[12];
    ck_assert_str_eq(storage_path_shown("postgresql://u:secret@h/db", small, sizeof(small)), "postgresql:");
}
END_TEST

/* PostgreSQL goes away in the middle of a write transaction: the rest of
 * it fails, its commit fails, none of it is stored (nothing ran outside
 * the transaction on a new connection), and the connection comes back by
 * itself for the next transaction. */
START_TEST(test_connection_lost_in_transaction)
{
    if (!test_on_pg())
        return;
    char *url = NULL;
    storage_t *st = test_db_open("lost.db", &url);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"before\",\"traits\":{\"a\":1}}");
    ck_assert_int_eq(storage_begin(st), 0);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"in1\",\"traits\":{\"a\":1}}");
    ck_assert_int_eq(test_db_int(url,
                                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                 " WHERE datname = current_database() AND pid <> pg_backend_pid()",
                                 NULL, 0),
                     1);
    ck_assert_int_ne(ingest(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"in2\",\"traits\":{\"a\":1}}"), 0);
    ck_assert_int_ne(storage_commit(st), 0);
    storage_rollback(st);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"after\",\"traits\":{\"a\":1}}");
    ck_assert_int_eq(test_db_int(url, "SELECT count(*) FROM identities WHERE value IN ('in1', 'in2')", NULL, 0), 0);
    ck_assert_int_eq(test_db_int(url, "SELECT count(*) FROM identities WHERE value IN ('before', 'after')", NULL, 0), 2);
    test_db_close(st, url);
}
END_TEST

/* Replicas starting together on a fresh PostgreSQL database: three
 * processes open it read-write at once; the advisory lock lets one
 * migrate, and every one of them ends up on the current schema. */
START_TEST(test_concurrent_migrations)
{
    if (!test_on_pg())
        return;
    char *url = test_tmp_path("migrate.db");
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        if ((kids[i] = fork()) == 0) {
            storage_t *st = NULL;
            char err[512];
            int ret = storage_open(&st, url, 0, err, sizeof(err));
            if (ret != 0)
                fprintf(stderr, "open %d: %s\n", i, err);
            storage_close(st);
            _exit(ret == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 3; i++) {
        int status = 0;
        waitpid(kids[i], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "replica %d failed to open", i);
    }
    ck_assert_int_eq(test_db_int(url, "SELECT count(*) FROM profiled_schema", NULL, 0), 1);
    ck_assert_int_eq(test_db_int(url, "SELECT count(*) FROM scroll_key", NULL, 0), 1);
    test_rm_db(url);
    free(url);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
    TEST_SQLITE_ONLY(); /* SQLite's files */
    char *path, err[256] = "";
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\"}");
    storage_close(st); /* the last connection checkpoints the WAL away */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    unsigned char v[4];
    ck_assert_int_eq(fseek(f, 60, SEEK_SET), 0);
    ck_assert_uint_eq(fread(v, 1, 4, f), 4);
    ck_assert_int_eq(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3], storage_schema_version());
    int newer = storage_schema_version() + 1;
    unsigned char nv[4] = {(unsigned char)(newer >> 24), (unsigned char)(newer >> 16), (unsigned char)(newer >> 8),
                           (unsigned char)newer};
    ck_assert_int_eq(fseek(f, 60, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(nv, 1, 4, f), 4);
    fclose(f);
    ck_assert_int_eq(storage_open(&st, path, STORAGE_READONLY, err, sizeof(err)), STORAGE_EIO);
    ck_assert_msg(strstr(err, "newer") != NULL, "message: %s", err);
    err[0] = '\0';
    ck_assert_int_eq(storage_open(&st, path, 0, err, sizeof(err)), STORAGE_EIO);
    ck_assert_msg(strstr(err, "newer") != NULL, "message: %s", err);
    test_db_close(NULL, path);
}
END_TEST

START_TEST(test_sync_full_and_readonly_writes_refused)
{
    char *path = test_tmp_path("full.db");
    char err[256] = "";
    storage_t *st, *ro;
    ck_assert_int_eq(storage_open(&st, path, STORAGE_SYNC_FULL, err, sizeof(err)), 0);
    INGEST_OK(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Signed Up\"}");
    ck_assert_int_eq(storage_open(&ro, path, STORAGE_READONLY, err, sizeof(err)), 0);
    ck_assert_int_eq(ingest(ro, &tenant_a, "{\"type\":\"track\",\"userId\":\"u2\",\"event\":\"Signed Up\"}"), STORAGE_EIO);
    ck_assert_msg(strlen(storage_errmsg(ro)) > 0, "no message");
    /* Both see the same committed data. */
    ck_assert_uint_eq(list_count(ro, &tenant_a), 1);
    storage_close(ro);
    storage_close(st);
    test_db_close(NULL, path);
}
END_TEST

/* ---- message types --------------------------------------------------------- */

START_TEST(test_identify_traits_view)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"joe.bloggs@intilery.com\",\"timestamp\":\"2020-11-19T13:37:50.929Z\","
              "\"traits\":{\"firstName\":\"Joe\",\"lastName\":\"Bloggs\",\"email\":\"joe.bloggs@intilery.com\","
              "\"id\":\"spoofed\",\"computed\":5,\"marketingPreferences\":{\"channels\":[{\"subscribed\":true,"
              "\"channel\":\"email\"}]},\"quote\":\"say \\\"hi\\\"\\n\"}}");
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "joe.bloggs@intilery.com", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "firstName"), "Joe");
    ck_assert_str_eq(gets(o, "lastName"), "Bloggs");
    ck_assert_str_eq(gets(o, "email"), "joe.bloggs@intilery.com");
    ck_assert_str_eq(gets(o, "externalId"), "joe.bloggs@intilery.com");
    ck_assert_str_eq(gets(o, "quote"), "say \"hi\"\n");
    /* Our id and computed win over traits of those names. */
    ck_assert_int_eq(strlen(gets(o, "id")), 36);
    ck_assert_str_ne(gets(o, "id"), "spoofed");
    ck_assert(json_object_is_type(get(o, "computed"), json_type_object));
    ck_assert_int_eq(json_object_object_length(get(o, "computed")), 0);
    ck_assert(json_object_get_boolean(get(json_object_array_get_idx(get(o, "marketingPreferences.channels"), 0), "subscribed")));
    json_object_put(o);

    /* Metadata: createdBy, times, no events yet. */
    o = view(st, &tenant_a, STORAGE_ID_USER, "joe.bloggs@intilery.com", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "createdBy.type"), "api");
    ck_assert_str_eq(gets(o, "createdBy.createdTime"), NOW_ISO);
    ck_assert_str_eq(gets(o, "createdTime"), NOW_ISO);
    ck_assert_str_eq(gets(o, "updatedTime"), NOW_ISO);
    ck_assert(has(o, "lastActivityTime"));
    ck_assert_ptr_null(get(o, "lastActivityTime"));
    ck_assert_int_eq(json_object_object_length(get(o, "firstEvent")), 0);
    ck_assert_int_eq(json_object_object_length(get(o, "lastEvent")), 0);
    ck_assert_uint_eq(alen(o, "audiences"), 0);
    ck_assert_uint_eq(alen(o, "audiencesStatic"), 0);
    ck_assert_str_eq(gets(o, "firstName"), "Joe");
    json_object_put(o);

    o = view(st, &tenant_a, STORAGE_ID_USER, "joe.bloggs@intilery.com", STORAGE_VIEW_AUDIENCES);
    ck_assert_str_eq(gets(o, "firstName"), "Joe");
    ck_assert_uint_eq(alen(o, "audiences"), 0);
    ck_assert_uint_eq(alen(o, "audiencesStatic"), 0);
    /* Only the traits view adds "computed": here it is the user's trait. */
    ck_assert_int_eq(geti(o, "computed"), 5);
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_track_page_screen_events)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Email Opened\",\"messageId\":\"m-1\","
              "\"timestamp\":\"2020-11-19T13:39:17.380Z\",\"sendType\":\"email\","
              "\"context\":{\"ip\":\"217.42.6.253\",\"traits\":{\"email\":\"Joe.Bloggs@Intilery.com\"}},"
              "\"properties\":{\"campaign_id\":\"TRIAL_WELCOME\"}}");
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"page\",\"userId\":\"u1\",\"name\":\"Home\",\"messageId\":\"m-2\","
              "\"timestamp\":\"2020-11-19T13:40:00Z\",\"properties\":{\"url\":\"https://x.test/\"}}");
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"screen\",\"userId\":\"u1\",\"name\":\"Basket\",\"timestamp\":\"2020-11-19T13:41:00Z\","
              "\"source\":\"IOS_APP\"}");

    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_METADATA);
    /* The spec's shape: raw message + eventId, receivedTime, eventTime, action. */
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.eventId"), "m-1");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.eventTime"), "2020-11-19T13:39:17.380Z");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.receivedTime"), NOW_ISO);
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.action"), "track");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.event"), "Email Opened");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.sendType"), "email");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.properties.campaign_id"), "TRIAL_WELCOME");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.context.ip"), "217.42.6.253");
    ck_assert_str_eq(gets(o, "firstEvent.page.eventId"), "m-2");
    ck_assert_str_eq(gets(o, "firstEvent.page.action"), "page");
    ck_assert_str_eq(gets(o, "firstEvent.page.name"), "Home");
    ck_assert_str_eq(gets(o, "lastEvent.screen.action"), "screen");
    ck_assert_str_eq(gets(o, "lastEvent.screen.eventTime"), "2020-11-19T13:41:00.000Z");
    /* A generated UUID v4 stands in for a missing messageId. */
    const char *gen = gets(o, "lastEvent.screen.eventId");
    ck_assert_ptr_nonnull(gen);
    ck_assert_int_eq(strlen(gen), 36);
    ck_assert_int_eq(gen[14], '4');
    ck_assert_str_eq(gets(o, "lastActivityTime"), "2020-11-19T13:41:00.000Z");
    /* context.traits of a track reach the traits. */
    ck_assert_str_eq(gets(o, "email"), "Joe.Bloggs@Intilery.com");
    ck_assert_str_eq(gets(o, "externalId"), "u1");
    json_object_put(o);

    /* The email (any case) leads to the profile too. */
    o = view(st, &tenant_a, STORAGE_ID_EMAIL, "JOE.bloggs@intilery.com", STORAGE_VIEW_TRAITS);
    ck_assert_uint_eq(alen(o, "data"), 1);
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_group_message)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"group\",\"anonymousId\":\"a1\",\"groupId\":\"acme\",\"traits\":{\"name\":\"Acme Ltd\","
              "\"employees\":42}}");
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a1", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "groupId"), "acme");
    ck_assert_str_eq(gets(o, "group.id"), "acme");
    ck_assert_str_eq(gets(o, "group.traits.name"), "Acme Ltd");
    ck_assert_int_eq(geti(o, "group.traits.employees"), 42);
    /* The group's traits are not the user's. */
    ck_assert(!has(o, "name"));
    ck_assert(!has(o, "employees"));
    /* No userId, no email: externalId is null. */
    ck_assert(has(o, "externalId"));
    ck_assert_ptr_null(get(o, "externalId"));
    json_object_put(o);

    ck_assert_int_eq(ingest(st, &tenant_a, "{\"type\":\"group\",\"anonymousId\":\"a1\"}"), STORAGE_EINVAL);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_traits_newest_wins)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"u1\",\"timestamp\":\"2020-01-02T00:00:00Z\","
              "\"traits\":{\"plan\":\"pro\",\"city\":\"Leeds\"}}");
    /* Older: loses on plan, adds a new key. */
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"u1\",\"timestamp\":\"2020-01-01T00:00:00Z\","
              "\"traits\":{\"plan\":\"free\",\"age\":40}}");
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "plan"), "pro");
    ck_assert_str_eq(gets(o, "city"), "Leeds");
    ck_assert_int_eq(geti(o, "age"), 40);
    json_object_put(o);

    /* Equal timestamp: the later write wins; newer: wins, even with null. */
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"u1\",\"timestamp\":\"2020-01-02T00:00:00Z\",\"traits\":{\"plan\":\"team\"}}");
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"u1\",\"timestamp\":\"2020-01-03T00:00:00+01:00\",\"traits\":{\"city\":null}}");
    o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "plan"), "team");
    ck_assert(has(o, "city"));
    ck_assert_ptr_null(get(o, "city"));
    json_object_put(o);

    /* context.traits follow the same rule; identify traits win over
     * context.traits of the same message. */
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"u1\",\"timestamp\":\"2020-01-05T00:00:00Z\","
              "\"context\":{\"traits\":{\"plan\":\"ctx\",\"lang\":\"en\"}},\"traits\":{\"plan\":\"own\"}}");
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"x\",\"timestamp\":\"2020-01-04T00:00:00Z\","
              "\"context\":{\"traits\":{\"lang\":\"fr\"}}}");
    o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "plan"), "own");
    ck_assert_str_eq(gets(o, "lang"), "en");
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_snake_case_actions)
{
    static const struct {
        const char *event, *action;
    } cases[] = {
        {"Email Opened", "email_opened"},
        {"EmailOpened", "email_opened"},
        {"email_opened", "email_opened"},
        {"HTMLParser Loaded", "html_parser_loaded"},
        {"Order-Completed 2", "order_completed_2"},
        {"  Signed   Up!  ", "signed_up"},
        {"Café Visité", "café_visité"},
    };
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "{\"type\":\"track\",\"userId\":\"u%zu\",\"event\":\"%s\"}", i, cases[i].event);
        INGEST_OK(st, &tenant_a, msg);
        char uid[16], path_buf[128];
        snprintf(uid, sizeof(uid), "u%zu", i);
        struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, uid, STORAGE_VIEW_METADATA);
        ck_assert_int_eq(json_object_object_length(get(o, "firstEvent")), 1);
        snprintf(path_buf, sizeof(path_buf), "firstEvent.%s.event", cases[i].action);
        ck_assert_msg(gets(o, path_buf) != NULL, "%s -> no %s", cases[i].event, cases[i].action);
        ck_assert_str_eq(gets(o, path_buf), cases[i].event);
        json_object_put(o);
    }
    /* No letters or digits: rejected. */
    ck_assert_int_eq(ingest(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"u\",\"event\":\" !! \"}"), STORAGE_EINVAL);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_idempotent_message_id)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    const char *m1 = "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Bought\",\"messageId\":\"dup-1\","
                     "\"timestamp\":\"2020-01-01T00:00:00Z\"}";
    INGEST_OK(st, &tenant_a, m1);
    ck_assert_int_eq(ingest(st, &tenant_a, m1), STORAGE_EEXIST);
    /* Same id, other content and other user: still a duplicate, nothing
     * stored (no profile created for u2). */
    ck_assert_int_eq(ingest(st, &tenant_a,
                            "{\"type\":\"track\",\"userId\":\"u2\",\"event\":\"Bought\",\"messageId\":\"dup-1\","
                            "\"timestamp\":\"2021-01-01T00:00:00Z\",\"context\":{\"traits\":{\"x\":1}}}"),
                     STORAGE_EEXIST);
    struct json_object *o;
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_USER, "u2", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);
    o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "lastEvent.bought.eventTime"), "2020-01-01T00:00:00.000Z");
    ck_assert_str_eq(gets(o, "lastActivityTime"), "2020-01-01T00:00:00.000Z");
    json_object_put(o);
    ck_assert_uint_eq(list_count(st, &tenant_a), 1);

    /* messageIds are per tenant. */
    INGEST_OK(st, &tenant_b, m1);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_first_last_per_action)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    static const char *const msgs[] = {
        "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Email "
        "Opened\",\"messageId\":\"e2\",\"timestamp\":\"2020-11-02T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Email "
        "Opened\",\"messageId\":\"e1\",\"timestamp\":\"2020-11-01T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Email "
        "Opened\",\"messageId\":\"e3\",\"timestamp\":\"2020-11-03T00:00:00Z\"}",
        /* Same time as e3: the eventId breaks the tie. */
        "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Email "
        "Opened\",\"messageId\":\"e0\",\"timestamp\":\"2020-11-03T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Email "
        "Sent\",\"messageId\":\"s1\",\"timestamp\":\"2020-10-20T13:49:41.697Z\"}",
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
        INGEST_OK(st, &tenant_a, msgs[i]);
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.eventId"), "e1");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.eventTime"), "2020-11-01T00:00:00.000Z");
    ck_assert_str_eq(gets(o, "lastEvent.email_opened.eventId"), "e3");
    ck_assert_str_eq(gets(o, "firstEvent.email_sent.eventId"), "s1");
    ck_assert_str_eq(gets(o, "lastEvent.email_sent.eventId"), "s1");
    ck_assert_str_eq(gets(o, "lastEvent.email_sent.eventTime"), "2020-10-20T13:49:41.697Z");
    ck_assert_int_eq(json_object_object_length(get(o, "firstEvent")), 2);
    ck_assert_str_eq(gets(o, "lastActivityTime"), "2020-11-03T00:00:00.000Z");
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

/* Marks hold no eventIds (schema 5): a tie in time is broken by reading
 * them from the events, whichever way the marks are written: one event at
 * a time, combined in a group commit, or merged from another profile. */
START_TEST(test_first_last_ties_by_event_id)
{
    static const char *const ids[] = {"m5", "m3", "m7", "m4"};
    for (int way = 0; way < 3; way++) {
        char *path, msg[512];
        storage_t *st = test_db_open("profiles.db", &path);
        if (way == 1) {
            ck_assert_int_eq(storage_combine_writes(st, true), 0);
            ck_assert_int_eq(storage_begin(st), 0);
        }
        for (size_t i = 0; i < 4; i++) {
            /* way 2: m5, m7 on profile a; m3, m4 on b, merged into a */
            const char *user = way == 2 && (i == 1 || i == 3) ? "b" : "a";
            snprintf(msg, sizeof(msg),
                     "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"Tied\",\"messageId\":\"%s\","
                     "\"timestamp\":\"2020-11-01T00:00:00Z\"}",
                     user, ids[i]);
            INGEST_OK(st, &tenant_a, msg);
        }
        if (way == 1)
            ck_assert_int_eq(storage_commit(st), 0);
        if (way == 2)
            INGEST_OK(st, &tenant_a, "{\"type\":\"alias\",\"previousId\":\"b\",\"userId\":\"a\"}");
        struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "a", STORAGE_VIEW_METADATA);
        ck_assert_msg(strcmp(gets(o, "firstEvent.tied.eventId"), "m3") == 0, "way %d: first %s", way,
                      gets(o, "firstEvent.tied.eventId"));
        ck_assert_msg(strcmp(gets(o, "lastEvent.tied.eventId"), "m7") == 0, "way %d: last %s", way,
                      gets(o, "lastEvent.tied.eventId"));
        json_object_put(o);
        test_db_close(st, path);
    }
}
END_TEST

START_TEST(test_last_activity_time)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    /* No timestamp: the event happened now. */
    INGEST_OK(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Opened\"}");
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "lastActivityTime"), NOW_ISO);
    ck_assert_str_eq(gets(o, "firstEvent.opened.eventTime"), NOW_ISO);
    json_object_put(o);
    /* An older event and an identify do not move it back. */
    INGEST_OK(st, &tenant_a, "{\"type\":\"page\",\"userId\":\"u1\",\"timestamp\":\"2019-01-01\"}");
    ck_assert_int_eq(test_db_ingest(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"a\":1}}", NOW + 5000),
                     0);
    o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "lastActivityTime"), NOW_ISO);
    ck_assert_str_eq(gets(o, "firstEvent.page.eventTime"), "2019-01-01T00:00:00.000Z");
    ck_assert_str_eq(gets(o, "updatedTime"), "2020-11-19T13:39:22.912Z");
    ck_assert_str_eq(gets(o, "createdTime"), NOW_ISO);
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

/* ---- lookups, linking and merges ------------------------------------------- */

START_TEST(test_email_shared_by_two_profiles)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"Shared@Example.com\",\"n\":1}}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u2\",\"traits\":{\"email\":\"shared@example.com\",\"n\":2}}");
    /* u2 was active last, but the email form pages in profile-key order:
     * u1 (made first) comes first. */
    INGEST_OK(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"x\",\"timestamp\":\"2020-01-01T00:00:00Z\"}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"u2\",\"event\":\"x\",\"timestamp\":\"2020-02-01T00:00:00Z\"}");

    static const storage_view_t views[] = {STORAGE_VIEW_TRAITS, STORAGE_VIEW_METADATA, STORAGE_VIEW_AUDIENCES,
                                           STORAGE_VIEW_EXTERNAL_IDS};
    for (size_t v = 0; v < 4; v++) {
        struct json_object *o = view(st, &tenant_a, STORAGE_ID_EMAIL, "shared@example.com", views[v]);
        ck_assert_uint_eq(json_object_object_length(o), 3); /* data, from, size */
        ck_assert_int_eq(geti(o, "from"), 0);
        ck_assert_int_eq(geti(o, "size"), 100);
        ck_assert_uint_eq(alen(o, "data"), 2);
        struct json_object *first = json_object_array_get_idx(get(o, "data"), 0);
        struct json_object *second = json_object_array_get_idx(get(o, "data"), 1);
        ck_assert_str_eq(gets(first, "externalId"), "u1");
        ck_assert_str_eq(gets(second, "externalId"), "u2");
        ck_assert_str_ne(gets(first, "id"), gets(second, "id"));
        json_object_put(o);
    }
    struct json_object *o;
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_EMAIL, "nobody@example.com", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_lookups_and_external_ids)
{
    char *path, id[64], other[64];
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"user-1\",\"anonymousId\":\"anon-1\","
              "\"traits\":{\"email\":\"Joe@Example.com\"}}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "user-1", id);
    profile_id(st, &tenant_a, STORAGE_ID_ANONYMOUS, "anon-1", other);
    ck_assert_str_eq(id, other);
    profile_id(st, &tenant_a, STORAGE_ID_INTERNAL, id, other);
    ck_assert_str_eq(id, other);

    struct json_object *o = view(st, &tenant_a, STORAGE_ID_INTERNAL, id, STORAGE_VIEW_EXTERNAL_IDS);
    ck_assert_str_eq(gets(o, "id"), id);
    ck_assert_str_eq(gets(o, "externalId"), "user-1");
    ck_assert(!has(o, "email")); /* no traits in this view */
    ck_assert_uint_eq(alen(o, "externalIds"), 4);
    static const char *const want[][2] = {
        {"userId", "user-1"}, {"anonymousId", "anon-1"}, {"email", "joe@example.com"}, {"id", NULL}};
    for (size_t i = 0; i < 4; i++) {
        struct json_object *e = json_object_array_get_idx(get(o, "externalIds"), i);
        ck_assert_str_eq(gets(e, "type"), want[i][0]);
        ck_assert_str_eq(gets(e, "id"), want[i][1] != NULL ? want[i][1] : id);
    }
    json_object_put(o);

    /* Lookups are exact on userId / anonymousId. */
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_USER, "USER-1", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_USER, "anon-1", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_INTERNAL, "00000000-0000-4000-8000-000000000000", STORAGE_VIEW_TRAITS, &o),
                     STORAGE_ENOTFOUND);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_anonymous_then_identified)
{
    char *path, anon_id[64], user_id[64];
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"page\",\"anonymousId\":\"a1\",\"name\":\"Pricing\",\"timestamp\":\"2020-01-01T00:00:00Z\"}");
    profile_id(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a1", anon_id);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"anonymousId\":\"a1\",\"userId\":\"u1\",\"timestamp\":\"2020-01-02T00:00:00Z\","
              "\"traits\":{\"name\":\"Ann\"}}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "u1", user_id);
    ck_assert_str_eq(anon_id, user_id);
    /* Later messages with only the userId land on the same profile. */
    INGEST_OK(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Bought\",\"timestamp\":\"2020-01-03T00:00:00Z\"}");
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "id"), anon_id);
    ck_assert_str_eq(gets(o, "externalId"), "u1");
    ck_assert_str_eq(gets(o, "name"), "Ann");
    ck_assert_str_eq(gets(o, "firstEvent.page.name"), "Pricing");
    ck_assert_str_eq(gets(o, "lastEvent.bought.event"), "Bought");
    json_object_put(o);
    ck_assert_uint_eq(list_count(st, &tenant_a), 1);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_alias_merge)
{
    char *path, old_id[64], new_id[64], merged[64];
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"identify\",\"userId\":\"old\",\"timestamp\":\"2020-01-01T00:00:00Z\","
              "\"traits\":{\"plan\":\"free\",\"city\":\"York\"}}");
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"old\",\"event\":\"Email Opened\",\"messageId\":\"o1\","
              "\"timestamp\":\"2020-01-05T00:00:00Z\"}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "old", old_id);
    ck_assert_int_eq(test_db_ingest(st, &tenant_a,
                                    "{\"type\":\"identify\",\"userId\":\"new\",\"timestamp\":\"2020-02-01T00:00:00Z\","
                                    "\"traits\":{\"plan\":\"pro\",\"email\":\"n@example.com\"}}",
                                    NOW + 1000),
                     0);
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"new\",\"event\":\"Email Opened\",\"messageId\":\"n1\","
              "\"timestamp\":\"2020-01-03T00:00:00Z\"}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "new", new_id);
    ck_assert_str_ne(old_id, new_id);

    INGEST_OK(st, &tenant_a, "{\"type\":\"alias\",\"previousId\":\"old\",\"userId\":\"new\"}");
    /* The older profile is kept; both ids reach it. */
    profile_id(st, &tenant_a, STORAGE_ID_USER, "new", merged);
    ck_assert_str_eq(merged, old_id);
    profile_id(st, &tenant_a, STORAGE_ID_USER, "old", merged);
    ck_assert_str_eq(merged, old_id);
    struct json_object *o;
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_INTERNAL, new_id, STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);

    o = view(st, &tenant_a, STORAGE_ID_USER, "new", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "plan"), "pro"); /* newer trait won */
    ck_assert_str_eq(gets(o, "city"), "York");
    ck_assert_str_eq(gets(o, "email"), "n@example.com");
    ck_assert_str_eq(gets(o, "externalId"), "new");
    ck_assert_str_eq(gets(o, "firstEvent.email_opened.eventId"), "n1");
    ck_assert_str_eq(gets(o, "lastEvent.email_opened.eventId"), "o1");
    ck_assert_str_eq(gets(o, "lastActivityTime"), "2020-01-05T00:00:00.000Z");
    ck_assert_str_eq(gets(o, "createdTime"), NOW_ISO);
    json_object_put(o);
    o = view(st, &tenant_a, STORAGE_ID_EMAIL, "n@example.com", STORAGE_VIEW_EXTERNAL_IDS);
    ck_assert_uint_eq(alen(o, "data"), 1);
    ck_assert_str_eq(gets(json_object_array_get_idx(get(o, "data"), 0), "id"), old_id);
    json_object_put(o);
    ck_assert_uint_eq(list_count(st, &tenant_a), 1);

    /* An alias to an unknown previousId links it. */
    INGEST_OK(st, &tenant_a, "{\"type\":\"alias\",\"previousId\":\"older\",\"userId\":\"new\"}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "older", merged);
    ck_assert_str_eq(merged, old_id);
    ck_assert_int_eq(ingest(st, &tenant_a, "{\"type\":\"alias\",\"userId\":\"new\"}"), STORAGE_EINVAL);
    ck_assert_int_eq(ingest(st, &tenant_a, "{\"type\":\"alias\",\"previousId\":\"x\",\"anonymousId\":\"y\"}"), STORAGE_EINVAL);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_two_known_profiles_merge)
{
    char *path, anon_pid[64], user_pid[64], merged[64];
    storage_t *st = test_db_open("profiles.db", &path);
    /* The userId's profile is created first: it is the older one. */
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Signed In\",\"messageId\":\"u-ev\","
              "\"timestamp\":\"2020-03-01T00:00:00Z\",\"context\":{\"traits\":{\"tier\":\"gold\"}}}");
    ck_assert_int_eq(test_db_ingest(st, &tenant_a,
                                    "{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"Viewed\",\"messageId\":\"a-ev\","
                                    "\"timestamp\":\"2020-02-01T00:00:00Z\",\"context\":{\"traits\":{\"device\":\"ios\","
                                    "\"email\":\"a1@example.com\"}}}",
                                    NOW + 10),
                     0);
    profile_id(st, &tenant_a, STORAGE_ID_USER, "u1", user_pid);
    profile_id(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a1", anon_pid);
    ck_assert_str_ne(user_pid, anon_pid);
    ck_assert_uint_eq(list_count(st, &tenant_a), 2);

    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u1\",\"anonymousId\":\"a1\",\"event\":\"Signed In\",\"messageId\":\"link\","
              "\"timestamp\":\"2020-04-01T00:00:00Z\"}");
    profile_id(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a1", merged);
    ck_assert_str_eq(merged, user_pid);
    profile_id(st, &tenant_a, STORAGE_ID_USER, "u1", merged);
    ck_assert_str_eq(merged, user_pid);
    ck_assert_uint_eq(list_count(st, &tenant_a), 1);
    struct json_object *o;
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_INTERNAL, anon_pid, STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);

    o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "tier"), "gold");
    ck_assert_str_eq(gets(o, "device"), "ios");
    ck_assert_str_eq(gets(o, "firstEvent.viewed.eventId"), "a-ev");
    ck_assert_str_eq(gets(o, "firstEvent.signed_in.eventId"), "u-ev");
    ck_assert_str_eq(gets(o, "lastEvent.signed_in.eventId"), "link");
    ck_assert_str_eq(gets(o, "lastActivityTime"), "2020-04-01T00:00:00.000Z");
    json_object_put(o);
    o = view(st, &tenant_a, STORAGE_ID_EMAIL, "a1@example.com", STORAGE_VIEW_EXTERNAL_IDS);
    ck_assert_uint_eq(alen(o, "data"), 1);
    ck_assert_uint_eq(alen(o, "data"), 1);
    struct json_object *p = json_object_array_get_idx(get(o, "data"), 0);
    ck_assert_str_eq(gets(p, "id"), user_pid);
    ck_assert_uint_eq(json_object_array_length(get(p, "externalIds")), 4); /* userId, anonymousId, email, id */
    json_object_put(o);

    /* The moved events still count as duplicates in the tenant. */
    ck_assert_int_eq(
        ingest(st, &tenant_a, "{\"type\":\"track\",\"anonymousId\":\"zz\",\"event\":\"Viewed\",\"messageId\":\"a-ev\"}"),
        STORAGE_EEXIST);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_merge_cap)
{
    char *path, msg[256], keep[64], pid[64];
    storage_t *st = test_db_open("profiles.db", &path);
    const int n = STORAGE_MERGE_CAP + 2;
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"hub\"}");
    ck_assert_int_eq(storage_begin(st), 0);
    for (int i = 0; i < n; i++) {
        snprintf(msg, sizeof(msg), "{\"type\":\"page\",\"anonymousId\":\"a%d\"}", i);
        INGEST_OK(st, &tenant_a, msg);
    }
    for (int i = 0; i < n; i++) {
        snprintf(msg, sizeof(msg), "{\"type\":\"page\",\"userId\":\"hub\",\"anonymousId\":\"a%d\"}", i);
        INGEST_OK(st, &tenant_a, msg);
    }
    ck_assert_int_eq(storage_commit(st), 0);
    profile_id(st, &tenant_a, STORAGE_ID_USER, "hub", keep);
    for (int i = 0; i < n; i++) {
        char anon[16];
        snprintf(anon, sizeof(anon), "a%d", i);
        profile_id(st, &tenant_a, STORAGE_ID_ANONYMOUS, anon, pid);
        if (i < STORAGE_MERGE_CAP)
            ck_assert_msg(strcmp(pid, keep) == 0, "a%d not merged", i);
        else
            ck_assert_msg(strcmp(pid, keep) != 0, "a%d merged past the cap", i);
    }
    ck_assert_uint_eq(list_count(st, &tenant_a), 1 + (size_t)(n - STORAGE_MERGE_CAP));
    test_db_close(st, path);
}
END_TEST

/* ---- validation ------------------------------------------------------------ */

START_TEST(test_validation_errors_store_nothing)
{
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"type\":\"track\",\"event\":\"x\"}", "userId"},
        {"{\"type\":\"track\",\"userId\":\"\",\"event\":\"x\"}", "userId"},
        {"{\"type\":\"track\",\"userId\":{\"a\":1},\"event\":\"x\"}", "userId"},
        {"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"timestamp\":\"yesterday\"}", "timestamp"},
        {"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"timestamp\":\"2020-02-30T00:00:00Z\"}", "timestamp"},
        {"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"timestamp\":12345}", "timestamp"},
        {"{\"type\":\"purchase\",\"userId\":\"u\"}", "type"},
        {"{\"userId\":\"u\"}", "type"},
        {"{\"type\":\"track\",\"userId\":\"u\"}", "event"},
        {"{\"type\":\"identify\",\"userId\":\"u\",\"traits\":[1,2]}", "traits"},
        {"{\"type\":\"identify\",\"userId\":\"u\",\"context\":{\"traits\":\"x\"}}", "context.traits"},
        {"{\"type\":\"page\",\"userId\":\"u\",\"name\":7}", "name"},
        {"[1,2,3]", "message"},
    };
    char *path, err[256];
    const char *field;
    storage_t *st = test_db_open("profiles.db", &path);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *m = json_tokener_parse(bad[i].json);
        ck_assert_ptr_nonnull(m);
        field = NULL;
        err[0] = '\0';
        ck_assert_int_eq(segment_message_validate(m, &field, err, sizeof(err)), STORAGE_EINVAL);
        ck_assert_msg(field != NULL && strcmp(field, bad[i].field) == 0, "%s: field %s", bad[i].json, field);
        ck_assert_msg(strlen(err) > 0, "no reason for %s", bad[i].json);
        err[0] = '\0';
        ck_assert_int_eq(storage_ingest_message(st, &tenant_a, m, "api", NOW, err, sizeof(err)), STORAGE_EINVAL);
        ck_assert_msg(strlen(err) > 0, "no reason for %s", bad[i].json);
        json_object_put(m);
    }
    struct json_object *m = json_tokener_parse("{\"type\":\"track\",\"event\":\"x\"}");
    storage_ingest_message(st, &tenant_a, m, "api", NOW, err, sizeof(err));
    ck_assert_str_eq(err, "missing userId or anonymousId");
    json_object_put(m);
    m = json_tokener_parse("{\"type\":\"nope\",\"userId\":\"u\"}");
    storage_ingest_message(st, &tenant_a, m, "api", NOW, err, sizeof(err));
    ck_assert_str_eq(err, "unknown type");
    json_object_put(m);
    m = json_tokener_parse("{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"timestamp\":\"bad\"}");
    storage_ingest_message(st, &tenant_a, m, "api", NOW, err, sizeof(err));
    ck_assert_str_eq(err, "invalid timestamp");
    json_object_put(m);

    /* Over 32 KB. */
    size_t big = SEGMENT_MAX_MESSAGE_BYTES + 100;
    char *pad = malloc(big + 1);
    memset(pad, 'x', big);
    pad[big] = '\0';
    m = json_tokener_parse("{\"type\":\"track\",\"userId\":\"big\",\"event\":\"x\"}");
    json_object_object_add(m, "properties", json_object_new_object());
    json_object_object_add(json_object_object_get(m, "properties"), "pad", json_object_new_string(pad));
    ck_assert_int_eq(segment_message_validate(m, &field, err, sizeof(err)), STORAGE_EINVAL);
    ck_assert_str_eq(field, "message");
    ck_assert_int_eq(storage_ingest_message(st, &tenant_a, m, "api", NOW, err, sizeof(err)), STORAGE_EINVAL);
    json_object_put(m);
    free(pad);

    /* Nothing at all was stored. */
    ck_assert_uint_eq(list_count(st, &tenant_a), 0);
    /* Good messages validate. */
    m = json_tokener_parse("{\"type\":\"screen\",\"anonymousId\":\"a\",\"timestamp\":\"2020-01-01T10:00:00.5+02:00\"}");
    ck_assert_int_eq(segment_message_validate(m, NULL, NULL, 0), 0);
    json_object_put(m);
    m = json_tokener_parse("{\"type\":\"identify\",\"userId\":12345}");
    ck_assert_int_eq(storage_ingest_message(st, &tenant_a, m, "api", NOW, err, sizeof(err)), 0);
    json_object_put(m);
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "12345", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "externalId"), "12345");
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

/* ---- import ----------------------------------------------------------------- */

static FILE *
file_with(const char *text)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    rewind(f);
    return f;
}

static char *
read_all(FILE *f)
{
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

START_TEST(test_import_ndjson_with_bad_lines)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    FILE *in = file_with("{\"type\":\"identify\",\"userId\":\"i1\",\"traits\":{\"name\":\"One\"}}\n"
                         "\n"
                         "{\"type\":\"track\",\"userId\":\"i1\",\"event\":\"Go\",\"messageId\":\"g1\"\n"
                         "   \r\n"
                         "{\"type\":\"track\",\"event\":\"Go\"}\n"
                         "{\"type\":\"track\",\"userId\":\"i2\",\"event\":\"Go\",\"messageId\":\"g2\"}\r\n"
                         "{\"type\":\"track\",\"userId\":\"i2\",\"event\":\"Go\",\"messageId\":\"g2\"}\n"
                         "{\"type\":\"track\",\"userId\":\"i3\",\"event\":\"Go\"} trailing\n"
                         "{'type':'track'}\n"
                         "{\"type\":\"page\",\"anonymousId\":\"p1\",\"timestamp\":\"2020-01-01\"}");
    FILE *errout = tmpfile();
    uint64_t imported = 0, rejected = 0;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, in, errout, NULL, NOW, &imported, &rejected), STORAGE_EINVAL);
    ck_assert_uint_eq(imported, 4); /* the duplicate counts as imported */
    ck_assert_uint_eq(rejected, 4);
    char *report = read_all(errout);
    ck_assert_msg(strstr(report, "line 3: invalid JSON") != NULL, "%s", report);
    ck_assert_msg(strstr(report, "line 5: missing userId or anonymousId") != NULL, "%s", report);
    ck_assert_msg(strstr(report, "line 8: ") != NULL, "%s", report);
    ck_assert_msg(strstr(report, "line 9: ") != NULL, "%s", report);
    ck_assert_msg(strstr(report, "line 6") == NULL && strstr(report, "line 10") == NULL, "%s", report);
    free(report);
    fclose(in);
    fclose(errout);

    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "i1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "name"), "One");
    ck_assert_str_eq(gets(o, "createdBy.type"), "import");
    json_object_put(o);
    o = view(st, &tenant_a, STORAGE_ID_USER, "i2", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "firstEvent.go.eventId"), "g2");
    json_object_put(o);
    o = view(st, &tenant_a, STORAGE_ID_ANONYMOUS, "p1", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "lastActivityTime"), "2020-01-01T00:00:00.000Z");
    json_object_put(o);
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_USER, "i3", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);

    /* A clean file returns 0. */
    in = file_with("{\"type\":\"track\",\"userId\":\"i4\",\"event\":\"Go\"}\n");
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, in, NULL, NULL, NOW, &imported, &rejected), 0);
    ck_assert_uint_eq(imported, 1);
    ck_assert_uint_eq(rejected, 0);
    fclose(in);
    test_db_close(st, path);
}
END_TEST

/* Enough lines to cross several batch commits and a progress line. */
START_TEST(test_import_many_lines)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    FILE *in = tmpfile(), *progress = tmpfile();
    const int users = 50, lines = 100000;
    for (int i = 0; i < lines; i++) {
        int u = i / (lines / users);
        if (i % (lines / users) == 0)
            fprintf(in, "{\"type\":\"identify\",\"userId\":\"user%d\",\"traits\":{\"email\":\"user%d@example.com\"}}\n", u, u);
        else
            fprintf(in,
                    "{\"type\":\"track\",\"userId\":\"user%d\",\"event\":\"Product Viewed %d\",\"messageId\":\"m%d\","
                    "\"timestamp\":\"2020-01-01T00:00:%02d.%03dZ\",\"properties\":{\"sku\":\"S%d\"}}\n",
                    u, i % 3, i, (i / 1000) % 60, i % 1000, i);
    }
    rewind(in);
    uint64_t imported, rejected;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, in, stderr, progress, NOW, &imported, &rejected), 0);
    ck_assert_uint_eq(imported, (uint64_t)lines);
    ck_assert_uint_eq(rejected, 0);
    char *report = read_all(progress);
    ck_assert_msg(strstr(report, "100000 lines") != NULL, "%s", report);
    free(report);
    fclose(progress);
    fclose(in);
    ck_assert_uint_eq(list_count(st, &tenant_a), (size_t)users);
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_EMAIL, "user7@example.com", STORAGE_VIEW_METADATA);
    ck_assert_uint_eq(alen(o, "data"), 1);
    ck_assert_int_eq(json_object_object_length(get(json_object_array_get_idx(get(o, "data"), 0), "firstEvent")), 3);
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

/* Strict JSON: what the scanner must refuse, and escapes it must decode. */
START_TEST(test_import_strict_json_and_escapes)
{
    static const char *const bad[] = {
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"n\":01}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"s\":\"\\x\"}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"a\":[1,]}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"bad \xff byte\"}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"over\xc0\xaflong\"}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"tab\there\"}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"n\":NaN}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"u\":\"\\u12\"}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\"}{}",
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"t\":tru}",
        "\"just a string\"",
    };
    char *path, text[8192] = "";
    storage_t *st = test_db_open("profiles.db", &path);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcat(text, bad[i]);
        strcat(text, "\n");
    }
    /* Escaped member names and values; spaces inside stored values; a
     * numeric userId; a surrogate pair; nesting up to the limit. */
    strcat(text, "{ \"type\" : \"identify\" , \"user\\u0049d\" : \"u\\u00e9\\ud83d\\ude00\" , \"traits\" : "
                 "{ \"na\\u006de\" : \"Zo\\u00eb\" , \"list\" : [ 1 , 2 , { \"x\" : null } ] , \"q\\\"k\" : \"a\\/b\" } }\n");
    for (int depth = 31; depth <= 32; depth++) {
        /* The message object itself is one level. */
        strcat(text, "{\"type\":\"track\",\"userId\":777,\"event\":\"Deep\",\"messageId\":\"deep-1\",\"properties\":");
        for (int i = 0; i < depth - 1; i++)
            strcat(text, "{\"d\":");
        strcat(text, "1");
        for (int i = 0; i < depth; i++)
            strcat(text, "}");
        strcat(text, "\n");
    }
    FILE *in = file_with(text), *errout = tmpfile();
    uint64_t imported, rejected;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, in, errout, NULL, NOW, &imported, &rejected), STORAGE_EINVAL);
    ck_assert_uint_eq(rejected, sizeof(bad) / sizeof(bad[0]) + 1);
    ck_assert_uint_eq(imported, 2);
    char *report = read_all(errout);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) - 1; i++) {
        char want[64];
        snprintf(want, sizeof(want), "line %zu: invalid JSON", i + 1);
        ck_assert_msg(strstr(report, want) != NULL, "%s\n%s", want, report);
    }
    ck_assert_msg(strstr(report, "must be a JSON object") != NULL, "%s", report);
    ck_assert_msg(strstr(report, "nested too deeply") != NULL, "%s", report);
    free(report);
    fclose(in);
    fclose(errout);

    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "u\xc3\xa9\xf0\x9f\x98\x80", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "name"), "Zo\xc3\xab");
    ck_assert_str_eq(gets(o, "externalId"), "u\xc3\xa9\xf0\x9f\x98\x80");
    ck_assert_str_eq(gets(o, "q\"k"), "a/b");
    ck_assert_uint_eq(alen(o, "list"), 3);
    ck_assert(has(json_object_array_get_idx(get(o, "list"), 2), "x"));
    json_object_put(o);
    o = view(st, &tenant_a, STORAGE_ID_USER, "777", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(gets(o, "firstEvent.deep.eventId"), "deep-1");
    struct json_object *d = get(o, "firstEvent.deep.properties");
    for (int i = 0; i < 30; i++)
        d = get(d, "d");
    ck_assert_int_eq(json_object_get_int(d), 1);
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

/* Import combines trait, mark and activity writes per batch: with users
 * interleaved over several batches and out-of-order times, the result must
 * be what message-by-message newest-wins gives. */
START_TEST(test_import_batches_keep_newest_wins)
{
    enum { LINES = 35000, USERS = 7 };
    const int64_t base = 1577836800000LL; /* 2020-01-01 */
    char *path, iso[32];
    storage_t *st = test_db_open("profiles.db", &path);
    FILE *in = tmpfile();
    int64_t first_t[USERS], last_t[USERS], score_t[USERS];
    int first_i[USERS], last_i[USERS], score[USERS];
    for (int u = 0; u < USERS; u++) {
        first_t[u] = INT64_MAX;
        last_t[u] = score_t[u] = INT64_MIN;
    }
    for (int i = 0; i < LINES; i++) {
        int u = i % USERS;
        /* A permutation of times: later lines are not later events. */
        int64_t t = base + (int64_t)((i * 7919LL) % LINES) * 1000;
        base_format_time(t, iso);
        if (i % 1000 == 3) {
            fprintf(in, "{\"type\":\"identify\",\"userId\":\"w%d\",\"timestamp\":\"%s\",\"traits\":{\"score\":%d}}\n", u, iso, i);
            if (t >= score_t[u]) {
                score_t[u] = t;
                score[u] = i;
            }
            continue;
        }
        fprintf(in, "{\"type\":\"track\",\"userId\":\"w%d\",\"event\":\"Ping\",\"messageId\":\"p%06d\",\"timestamp\":\"%s\"}\n", u,
                i, iso);
        if (t < first_t[u]) {
            first_t[u] = t;
            first_i[u] = i;
        }
        if (t > last_t[u]) {
            last_t[u] = t;
            last_i[u] = i;
        }
    }
    /* Retries of earlier lines: duplicates, counted as imported. */
    fprintf(in, "{\"type\":\"track\",\"userId\":\"w1\",\"event\":\"Ping\",\"messageId\":\"p000001\"}\n");
    rewind(in);
    uint64_t imported, rejected;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, in, stderr, NULL, NOW, &imported, &rejected), 0);
    ck_assert_uint_eq(imported, LINES + 1);
    fclose(in);
    for (int u = 0; u < USERS; u++) {
        char uid[8], want[16];
        snprintf(uid, sizeof(uid), "w%d", u);
        struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, uid, STORAGE_VIEW_METADATA);
        ck_assert_int_eq(geti(o, "score"), score[u]);
        snprintf(want, sizeof(want), "p%06d", first_i[u]);
        ck_assert_str_eq(gets(o, "firstEvent.ping.eventId"), want);
        ck_assert_str_eq(gets(o, "firstEvent.ping.eventTime"), base_format_time(first_t[u], iso));
        snprintf(want, sizeof(want), "p%06d", last_i[u]);
        ck_assert_str_eq(gets(o, "lastEvent.ping.eventId"), want);
        ck_assert_str_eq(gets(o, "lastActivityTime"), base_format_time(last_t[u], iso));
        json_object_put(o);
    }
    test_db_close(st, path);
}
END_TEST

/* Drops what legitimately differs between two tenants' copies of a view. */
static void
strip_instance_fields(struct json_object *o)
{
    json_object_object_del(o, "id");
    json_object_object_del(o, "_subscriptionId");
    json_object_object_del(o, "createdBy");
}

/* The same messages through storage_ingest_message one by one (tenant A)
 * and through the import (tenant B) give the same profiles. */
static const char *const merge_lines[] = {
    "{\"type\":\"page\",\"anonymousId\":\"anon-1\",\"messageId\":\"m1\",\"timestamp\":\"2020-05-01T10:00:00Z\","
    "\"context\":{\"traits\":{\"email\":\"Kim@Example.com\",\"lang\":\"en\"}}}",
    "{\"type\":\"track\",\"userId\":\"kim\",\"event\":\"Signed "
    "Up\",\"messageId\":\"m2\",\"timestamp\":\"2020-05-01T09:00:00Z\","
    "\"properties\":{\"plan\":\"trial\"}}",
    "{\"type\":\"identify\",\"userId\":\"kim\",\"timestamp\":\"2020-05-02T00:00:00Z\",\"traits\":{\"plan\":\"pro\","
    "\"email\":\"kim@example.com\"}}",
    "{\"type\":\"identify\",\"userId\":\"kim\",\"timestamp\":\"2020-05-01T00:00:00Z\",\"traits\":{\"plan\":\"old\"}}",
    "{\"type\":\"track\",\"userId\":\"kim\",\"anonymousId\":\"anon-1\",\"event\":\"Email Opened\",\"messageId\":\"m3\","
    "\"timestamp\":\"2020-05-03T00:00:00Z\"}",
    "{\"type\":\"track\",\"userId\":\"kim\",\"event\":\"Email "
    "Opened\",\"messageId\":\"m3\",\"timestamp\":\"2020-06-03T00:00:00Z\"}",
    "{\"type\":\"group\",\"userId\":\"kim\",\"groupId\":42,\"traits\":{\"name\":\"Acme\"}}",
    "{\"type\":\"screen\",\"userId\":\"lee\",\"name\":\"Home\",\"messageId\":\"m4\",\"timestamp\":\"2020-05-04T00:00:00."
    "250Z\"}",
    "{\"type\":\"alias\",\"previousId\":\"lee\",\"userId\":\"lee2\"}",
    "{\"type\":\"track\",\"userId\":\"lee2\",\"event\":\"Email "
    "Opened\",\"messageId\":\"m5\",\"timestamp\":\"2020-05-02T00:00:00Z\"}",
    "{\"type\":\"alias\",\"previousId\":\"lee2\",\"userId\":\"kim\"}",
    "{\"type\":\"track\",\"userId\":\"kim\",\"event\":\"Email "
    "Opened\",\"messageId\":\"m6\",\"timestamp\":\"2020-05-03T00:00:00Z\"}",
};

/* Tenants a (message by message) and b (another way) hold the same. */
static void
same_as_ingest(storage_t *st)
{
    static const storage_view_t views[] = {STORAGE_VIEW_TRAITS, STORAGE_VIEW_METADATA, STORAGE_VIEW_AUDIENCES};
    for (size_t v = 0; v < 3; v++) {
        struct json_object *a = view(st, &tenant_a, STORAGE_ID_USER, "lee", views[v]);
        struct json_object *b = view(st, &tenant_b, STORAGE_ID_USER, "lee", views[v]);
        ck_assert_str_eq(gets(a, "externalId"), "kim");
        strip_instance_fields(a);
        strip_instance_fields(b);
        ck_assert_msg(json_object_equal(a, b), "view %zu differs:\n%s\n%s", v, json_object_to_json_string(a),
                      json_object_to_json_string(b));
        if (views[v] == STORAGE_VIEW_METADATA) {
            ck_assert_str_eq(gets(a, "plan"), "pro");
            ck_assert_str_eq(gets(a, "lang"), "en");
            ck_assert_str_eq(gets(a, "groupId"), "42");
            ck_assert_str_eq(gets(a, "firstEvent.email_opened.eventId"), "m5");
            ck_assert_str_eq(gets(a, "lastEvent.email_opened.eventId"), "m6");
            ck_assert_str_eq(gets(a, "firstEvent.page.eventId"), "m1");
            ck_assert_str_eq(gets(a, "lastActivityTime"), "2020-05-04T00:00:00.250Z");
        }
        json_object_put(a);
        json_object_put(b);
    }
    struct json_object *a = view(st, &tenant_a, STORAGE_ID_EMAIL, "KIM@example.com", STORAGE_VIEW_EXTERNAL_IDS);
    struct json_object *b = view(st, &tenant_b, STORAGE_ID_EMAIL, "KIM@example.com", STORAGE_VIEW_EXTERNAL_IDS);
    struct json_object *pa = json_object_array_get_idx(get(a, "data"), 0), *pb = json_object_array_get_idx(get(b, "data"), 0);
    /* userId kim, lee, lee2; anonymousId; email; id */
    ck_assert_uint_eq(json_object_array_length(get(pa, "externalIds")), 6);
    ck_assert_uint_eq(json_object_array_length(get(pb, "externalIds")), 6);
    json_object_put(a);
    json_object_put(b);
}

START_TEST(test_import_matches_ingest)
{
    char *path, text[8192] = "";
    storage_t *st = test_db_open("profiles.db", &path);
    for (size_t i = 0; i < sizeof(merge_lines) / sizeof(merge_lines[0]); i++) {
        int ret = ingest(st, &tenant_a, merge_lines[i]);
        ck_assert_msg(ret == 0 || ret == STORAGE_EEXIST, "line %zu: %d", i, ret);
        strcat(text, merge_lines[i]);
        strcat(text, "\n");
    }
    FILE *in = file_with(text);
    uint64_t imported, rejected;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_b, in, stderr, NULL, NOW, &imported, &rejected), 0);
    fclose(in);
    ck_assert_uint_eq(list_count(st, &tenant_a), 1);
    ck_assert_uint_eq(list_count(st, &tenant_b), 1);
    same_as_ingest(st);
    test_db_close(st, path);
}
END_TEST

/* Request bodies through storage_batch_*, as the writer stores them: many
 * bodies in one transaction with the profile writes combined. */
START_TEST(test_batch_matches_ingest)
{
    char *path, err[256] = "";
    storage_t *st = test_db_open("profiles.db", &path);
    size_t n = sizeof(merge_lines) / sizeof(merge_lines[0]);
    for (size_t i = 0; i < n; i++) {
        int ret = ingest(st, &tenant_a, merge_lines[i]);
        ck_assert_msg(ret == 0 || ret == STORAGE_EEXIST, "line %zu: %d", i, ret);
    }
    ck_assert_int_eq(storage_combine_writes(st, true), 0);
    ck_assert_int_eq(storage_begin(st), 0);
    /* the first message alone on its own route, then bodies of 1, 2, 3, ... */
    for (size_t i = 0, k = 0; i < n; i += k, k++) {
        char body[8192];
        const char *single = i == 0 ? "page" : NULL;
        if (i == 0) {
            snprintf(body, sizeof(body), "%s", merge_lines[0]);
            k = 1;
        } else {
            strcpy(body, "{ \"batch\" : [\n");
            for (size_t j = i; j < i + k && j < n; j++) {
                strcat(body, j > i ? ",\n  " : "  ");
                strcat(body, merge_lines[j]);
            }
            strcat(body, "\n] }\n");
        }
        segment_batch_t *b;
        segment_batch_err_t e;
        ck_assert_int_eq(segment_batch_parse(strdup(body), strlen(body), single, &b, &e), 0);
        ck_assert_int_eq(segment_batch_check(b, &e), 0);
        ck_assert_int_eq(storage_batch_store(st, &tenant_b, b, "api", NOW, err, sizeof(err)), 0);
        segment_batch_free(b);
    }
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_uint_eq(list_count(st, &tenant_b), 1);
    same_as_ingest(st);
    test_db_close(st, path);
}
END_TEST

/* ---- tenants, list, transactions ------------------------------------------- */

START_TEST(test_tenant_isolation)
{
    char *path, id_a[64], id_b[64];
    storage_t *st = test_db_open("profiles.db", &path);
    storage_tenant_t brand2 = storage_tenant("intilery", "marketing", "OTHER");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"same\",\"traits\":{\"who\":\"A\",\"email\":\"s@x.com\"}}");
    INGEST_OK(st, &tenant_b, "{\"type\":\"identify\",\"userId\":\"same\",\"traits\":{\"who\":\"B\",\"email\":\"s@x.com\"}}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "same", id_a);
    profile_id(st, &tenant_b, STORAGE_ID_USER, "same", id_b);
    ck_assert_str_ne(id_a, id_b);
    struct json_object *o = view(st, &tenant_b, STORAGE_ID_USER, "same", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "who"), "B");
    json_object_put(o);
    o = view(st, &tenant_b, STORAGE_ID_EMAIL, "s@x.com", STORAGE_VIEW_TRAITS);
    ck_assert_uint_eq(alen(o, "data"), 1);
    ck_assert_str_eq(gets(json_object_array_get_idx(get(o, "data"), 0), "who"), "B");
    json_object_put(o);
    /* A's profile id is not visible from B, nor from another brand. */
    ck_assert_int_eq(view_rc(st, &tenant_b, STORAGE_ID_INTERNAL, id_a, STORAGE_VIEW_METADATA, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(view_rc(st, &brand2, STORAGE_ID_INTERNAL, id_a, STORAGE_VIEW_METADATA, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(view_rc(st, &brand2, STORAGE_ID_USER, "same", STORAGE_VIEW_METADATA, &o), STORAGE_ENOTFOUND);
    ck_assert_uint_eq(list_count(st, &tenant_a), 1);
    ck_assert_uint_eq(list_count(st, &tenant_b), 1);
    ck_assert_uint_eq(list_count(st, &brand2), 0);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_profile_list_paging)
{
    char *path, msg[256];
    storage_t *st = test_db_open("profiles.db", &path);
    /* p0..p4 active (p3 most recently), n0, n1 never active. */
    static const int minute[] = {10, 30, 20, 50, 40};
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"track\",\"userId\":\"p%d\",\"event\":\"x\",\"timestamp\":\"2020-01-01T00:%02d:00Z\"}", i, minute[i]);
        INGEST_OK(st, &tenant_a, msg);
    }
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"n0\"}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"n1\"}");
    static const char *const order[] = {"p3", "p4", "p1", "p2", "p0", "n1", "n0"};
    for (int from = 0; from < 4; from++) {
        char *body;
        size_t len;
        ck_assert_int_eq(storage_profile_list(st, &tenant_a, from, 2, &body, &len), 0);
        struct json_object *o = json_tokener_parse(body);
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(geti(o, "from"), from);
        ck_assert_int_eq(geti(o, "size"), 2);
        size_t want = from < 3 ? 2 : 1;
        ck_assert_uint_eq(alen(o, "data"), want);
        for (size_t i = 0; i < want; i++) {
            struct json_object *p = json_object_array_get_idx(get(o, "data"), i);
            ck_assert_str_eq(gets(p, "externalId"), order[from * 2 + i]);
            ck_assert(has(p, "computed")); /* traits view */
        }
        json_object_put(o);
        free(body);
    }
    char *body = NULL;
    size_t len;
    ck_assert_int_eq(storage_profile_list(st, &tenant_a, 9, 2, &body, &len), 0);
    struct json_object *o = json_tokener_parse(body);
    ck_assert_uint_eq(alen(o, "data"), 0);
    json_object_put(o);
    free(body);
    ck_assert_int_eq(storage_profile_list(st, &tenant_a, 0, 0, &body, &len), STORAGE_EINVAL);
    ck_assert_int_eq(storage_profile_list(st, &tenant_a, 0, 101, &body, &len), STORAGE_EINVAL);
    ck_assert_int_eq(storage_profile_list(st, &tenant_a, -1, 10, &body, &len), STORAGE_EINVAL);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_transactions_and_combined_writes)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    struct json_object *o;
    /* Combined (deferred) profile writes go with their transaction: a
     * rollback leaves none behind, a commit writes them all. */
    ck_assert_int_eq(storage_combine_writes(st, true), 0);
    ck_assert_int_eq(storage_begin(st), 0);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"dropped\",\"traits\":{\"plan\":\"x\"}}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"kept\",\"traits\":{\"plan\":\"x\"}}");
    ck_assert_int_eq(storage_rollback(st), 0);
    ck_assert_int_eq(storage_begin(st), 0);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"kept\",\"traits\":{\"plan\":\"pro\"}}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"kept\",\"traits\":{\"seats\":3}}");
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_int_eq(storage_combine_writes(st, false), 0);
    o = view(st, &tenant_a, STORAGE_ID_USER, "kept", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "plan"), "pro");
    ck_assert_int_eq(json_object_get_int(get(o, "seats")), 3);
    json_object_put(o);
    ck_assert_int_eq(view_rc(st, &tenant_a, STORAGE_ID_USER, "dropped", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);

    /* A rolled-back tenant must not leave its id cached: tenant B's rows
     * must not appear under the rolled-back tenant C. */
    storage_tenant_t tenant_c = storage_tenant("c", "c", "c");
    ck_assert_int_eq(storage_begin(st), 0);
    INGEST_OK(st, &tenant_c, "{\"type\":\"identify\",\"userId\":\"cu\"}");
    ck_assert_int_eq(storage_rollback(st), 0);
    ck_assert_int_eq(storage_rollback(st), 0); /* none open: fine */
    INGEST_OK(st, &tenant_b, "{\"type\":\"identify\",\"userId\":\"bu\"}");
    INGEST_OK(st, &tenant_c, "{\"type\":\"identify\",\"userId\":\"cu2\"}");
    ck_assert_uint_eq(list_count(st, &tenant_b), 1);
    ck_assert_uint_eq(list_count(st, &tenant_c), 1);
    ck_assert_int_eq(view_rc(st, &tenant_c, STORAGE_ID_USER, "bu", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(view_rc(st, &tenant_c, STORAGE_ID_USER, "cu", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);
    test_db_close(st, path);
}
END_TEST

/* A connection keeps the ids it resolved from one transaction to the next
 * only while no other connection commits: here another one merges the
 * profile behind a cached id away. */
START_TEST(test_identity_cache_sees_other_connections)
{
    char *path, err[256];
    storage_t *a = test_db_open("profiles.db", &path), *b = NULL;
    ck_assert_int_eq(storage_open(&b, path, 0, err, sizeof(err)), 0);
    INGEST_OK(a, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u0\",\"traits\":{\"plan\":\"old\"}}");
    INGEST_OK(a, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"x\":\"1\"}}");
    INGEST_OK(b, &tenant_a, "{\"type\":\"alias\",\"previousId\":\"u1\",\"userId\":\"u0\"}");
    INGEST_OK(a, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"late\":\"yes\"}}");
    struct json_object *o = view(a, &tenant_a, STORAGE_ID_USER, "u0", STORAGE_VIEW_TRAITS);
    ck_assert_str_eq(gets(o, "x"), "1");
    ck_assert_str_eq(gets(o, "late"), "yes");
    json_object_put(o);
    storage_close(b);
    test_db_close(a, path);
}
END_TEST

START_TEST(test_readonly_connection_sees_commits)
{
    char *path, err[256];
    storage_t *st = test_db_open("profiles.db", &path), *ro;
    ck_assert_int_eq(storage_open(&ro, path, STORAGE_READONLY, err, sizeof(err)), 0);
    struct json_object *o;
    ck_assert_int_eq(view_rc(ro, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS, &o), STORAGE_ENOTFOUND);
    ck_assert_uint_eq(list_count(ro, &tenant_a), 0);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"v\":1}}");
    o = view(ro, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS);
    ck_assert_int_eq(geti(o, "v"), 1);
    json_object_put(o);
    /* Uncommitted writes stay invisible. */
    ck_assert_int_eq(storage_begin(st), 0);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"v\":2}}");
    o = view(ro, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS);
    ck_assert_int_eq(geti(o, "v"), 1);
    json_object_put(o);
    ck_assert_int_eq(storage_commit(st), 0);
    o = view(ro, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_TRAITS);
    ck_assert_int_eq(geti(o, "v"), 2);
    json_object_put(o);
    storage_close(ro);
    test_db_close(st, path);
}
END_TEST

/* ---- _subscriptionId ------------------------------------------------------- */

static size_t
base64_decode(const char *in, unsigned char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(tbl, *in);
        ck_assert_ptr_nonnull(p);
        acc = acc << 6 | (uint32_t)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    out[o] = '\0';
    return o;
}

START_TEST(test_subscription_id)
{
    char *path, id[64], want[128];
    unsigned char decoded[256];
    /* The spec's example decodes to clientId:accountId:uuid. */
    base64_decode("aW50aWxlcnk6bWFya2V0aW5nOjg3MzA1NWVmLTdmYmYtNDYyNS1iMWNkLTEwYjRlNDc5YjIwZA==", decoded);
    ck_assert_str_eq((char *)decoded, "intilery:marketing:873055ef-7fbf-4625-b1cd-10b4e479b20d");

    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\"}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "u1", id);
    struct json_object *o = view(st, &tenant_a, STORAGE_ID_USER, "u1", STORAGE_VIEW_METADATA);
    const char *sub = gets(o, "_subscriptionId");
    ck_assert_ptr_nonnull(sub);
    ck_assert_uint_eq(strlen(sub) % 4, 0);
    base64_decode(sub, decoded);
    snprintf(want, sizeof(want), "intilery:marketing:%s", id);
    ck_assert_str_eq((char *)decoded, want);
    /* 55 bytes of input: padded with "==", like the spec's example. */
    ck_assert_uint_eq(strlen(sub), 76);
    ck_assert_str_eq(sub + 74, "==");
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

/* ---- tokens ----------------------------------------------------------------- */

typedef struct {
    int seen;
    int stop_after;
    char ids[4][32];
    char brands[4][32];
    int64_t revoked[4];
    double rate[4];
    uint8_t hash0[32];
} token_seen_t;

static int
collect_token(void *ctx, const storage_token_row_t *row)
{
    token_seen_t *s = ctx;
    if (s->seen < 4) {
        snprintf(s->ids[s->seen], 32, "%s", row->id);
        snprintf(s->brands[s->seen], 32, "%s", row->brand != NULL ? row->brand : "(all)");
        s->revoked[s->seen] = row->revoked_ms;
        s->rate[s->seen] = row->rate;
        if (s->seen == 0)
            memcpy(s->hash0, row->hash, 32);
    }
    s->seen++;
    return s->stop_after != 0 && s->seen >= s->stop_after ? 7 : 0;
}

START_TEST(test_tokens)
{
    char *path, err[256];
    storage_t *st = test_db_open("profiles.db", &path), *ro;
    uint8_t hash[32];
    for (int i = 0; i < 32; i++)
        hash[i] = (uint8_t)(i * 7);
    int64_t g0, g1, g2, g3;
    ck_assert_int_eq(storage_token_generation(st, &g0), 0);
    storage_token_row_t row = {.id = "tok_b",
                               .hash = hash,
                               .client = "intilery",
                               .account = "marketing",
                               .brand = NULL,
                               .name = "all brands",
                               .created_ms = NOW,
                               .rate = 100,
                               .burst = 500};
    ck_assert_int_eq(storage_token_insert(st, &row), 0);
    ck_assert_int_eq(storage_token_generation(st, &g1), 0);
    ck_assert_int_ne(g0, g1);
    row.id = "tok_a";
    row.brand = "MARKETING";
    row.name = NULL;
    row.rate = 0;
    row.created_ms = NOW + 1;
    ck_assert_int_eq(storage_token_insert(st, &row), 0);
    ck_assert_int_eq(storage_token_insert(st, &row), STORAGE_EEXIST);
    ck_assert_int_eq(storage_token_generation(st, &g2), 0);
    ck_assert_int_ne(g1, g2);

    ck_assert_int_eq(storage_token_revoke(st, "tok_b", NOW + 99), 0);
    ck_assert_int_eq(storage_token_revoke(st, "tok_b", NOW + 100), STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_token_revoke(st, "nope", NOW), STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_token_generation(st, &g3), 0);
    ck_assert_int_ne(g2, g3);

    /* Creation order, revoked ones included. */
    token_seen_t seen = {0};
    ck_assert_int_eq(storage_token_foreach(st, collect_token, &seen), 0);
    ck_assert_int_eq(seen.seen, 2);
    ck_assert_str_eq(seen.ids[0], "tok_b");
    ck_assert_str_eq(seen.brands[0], "(all)");
    ck_assert_int_eq(seen.revoked[0], NOW + 99);
    ck_assert(seen.rate[0] == 100.0);
    ck_assert_int_eq(memcmp(seen.hash0, hash, 32), 0);
    ck_assert_str_eq(seen.ids[1], "tok_a");
    ck_assert_str_eq(seen.brands[1], "MARKETING");
    ck_assert_int_eq(seen.revoked[1], 0);

    token_seen_t stop = {.stop_after = 1};
    ck_assert_int_eq(storage_token_foreach(st, collect_token, &stop), 7);
    ck_assert_int_eq(stop.seen, 1);

    /* A read-only connection sees the same generation and rows. */
    ck_assert_int_eq(storage_open(&ro, path, STORAGE_READONLY, err, sizeof(err)), 0);
    int64_t gro;
    ck_assert_int_eq(storage_token_generation(ro, &gro), 0);
    ck_assert_int_eq(gro, g3);
    token_seen_t seen_ro = {0};
    ck_assert_int_eq(storage_token_foreach(ro, collect_token, &seen_ro), 0);
    ck_assert_int_eq(seen_ro.seen, 2);
    storage_close(ro);
    test_db_close(st, path);
}
END_TEST

/* ---- events timeline and scroll cursors ------------------------------------ */

#define TTL 60000
#define SID 1024 /* room for a scrollId */
/* The profile path of the last scroll begun: the one ev_next continues on. */
static storage_id_type_t scroll_type;
static char scroll_path[256];
/* 2020-01-01T00:00:00.000Z: event times of the timeline tests. */
#define T0 1577836800000LL

static storage_event_query_t
equery(int limit, int descending)
{
    storage_event_query_t q = {.start_ms = INT64_MIN, .end_ms = INT64_MAX, .descending = descending, .limit = limit};
    return q;
}

static struct json_object *
parse_page(char *body, size_t len)
{
    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(strlen(body), len);
    struct json_tokener *tok = json_tokener_new_ex(64);
    struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    ck_assert_msg(o != NULL, "page is not JSON: %s", body);
    free(body);
    ck_assert_uint_eq(json_object_object_length(o), 2);
    ck_assert_ptr_nonnull(gets(o, "scrollId"));
    alen(o, "data");
    return o;
}

static int
ev_begin_rc(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, const storage_event_query_t *q,
            int64_t now, int64_t ttl, struct json_object **out)
{
    char *body = (char *)"x";
    size_t len = 1;
    *out = NULL;
    int ret = storage_events_begin(st, t, type, id, strlen(id), q, now, ttl, &body, &len);
    scroll_type = type;
    snprintf(scroll_path, sizeof(scroll_path), "%s", id);
    if (ret != 0) {
        ck_assert_ptr_null(body);
        ck_assert_uint_eq(len, 0);
        ck_assert_msg(strlen(storage_errmsg(st)) > 0, "no message");
        return ret;
    }
    *out = parse_page(body, len);
    return 0;
}

static struct json_object *
ev_begin(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, const storage_event_query_t *q)
{
    struct json_object *o;
    int ret = ev_begin_rc(st, t, type, id, q, NOW, TTL, &o);
    ck_assert_msg(ret == 0, "events of %s: %d %s", id, ret, storage_errmsg(st));
    return o;
}

static int
ev_next_rc(storage_t *st, const storage_tenant_t *t, const char *scroll_id, size_t n, int64_t now, int64_t ttl,
           struct json_object **out)
{
    char *body = (char *)"x";
    size_t len = 1;
    *out = NULL;
    uint64_t commits = storage_commits(st);
    int ret = storage_events_next(st, t, scroll_type, scroll_path, strlen(scroll_path), scroll_id, n, now, ttl, &body, &len);
    ck_assert_uint_eq(storage_commits(st), commits); /* a pure read */
    if (ret != 0) {
        ck_assert_ptr_null(body);
        ck_assert_uint_eq(len, 0);
        return ret;
    }
    *out = parse_page(body, len);
    ck_assert_uint_gt(strlen(gets(*out, "scrollId")), 0);
    ck_assert_uint_lt(strlen(gets(*out, "scrollId")), SID);
    return 0;
}

/* The next page of the scroll sid (SID bytes) names; sid becomes the
 * scrollId of the page after it. */
static struct json_object *
ev_next(storage_t *st, const storage_tenant_t *t, char *sid)
{
    struct json_object *o;
    int ret = ev_next_rc(st, t, sid, strlen(sid), NOW, TTL, &o);
    ck_assert_msg(ret == 0, "next of %s: %d %s", sid, ret, storage_errmsg(st));
    snprintf(sid, SID, "%s", gets(o, "scrollId"));
    return o;
}

static struct json_object *
ev_at(struct json_object *page, size_t i)
{
    return json_object_array_get_idx(get(page, "data"), i);
}

/* The eventIds of a page joined with commas, appended to out. */
static void
page_ids(struct json_object *page, char *out, size_t cap)
{
    for (size_t i = 0; i < alen(page, "data"); i++) {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n > 0 ? "," : "", gets(ev_at(page, i), "eventId"));
    }
}

/* Every eventId of a whole scroll, joined with commas (static buffer). Also
 * checks that every page but the last is full and that the scrollId stays. */
static const char *
scroll_ids(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, const storage_event_query_t *q)
{
    static char out[8192];
    out[0] = '\0';
    struct json_object *o = ev_begin(st, t, type, id, q);
    char sid[SID];
    snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
    for (;;) {
        size_t n = alen(o, "data");
        page_ids(o, out, sizeof(out));
        json_object_put(o);
        if (n < (size_t)q->limit)
            break;
        o = ev_next(st, t, sid);
    }
    /* After the end: empty pages, still 0. */
    o = ev_next(st, t, sid);
    ck_assert_uint_eq(alen(o, "data"), 0);
    json_object_put(o);
    return out;
}

static const char *
filtered(storage_t *st, const char *include, const char *exclude, int limit)
{
    storage_event_query_t q = equery(limit, 0);
    q.include = include;
    q.include_len = include != NULL ? strlen(include) : 0;
    q.exclude = exclude;
    q.exclude_len = exclude != NULL ? strlen(exclude) : 0;
    return scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
}

static void
track_at(storage_t *st, const storage_tenant_t *t, const char *user, const char *event, const char *msg_id, int64_t ms)
{
    char iso[32], json[512];
    base_format_time(ms, iso);
    snprintf(json, sizeof(json),
             "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"%s\",\"messageId\":\"%s\",\"timestamp\":\"%s\"}", user, event,
             msg_id, iso);
    INGEST_OK(st, t, json);
}

/* n events "<prefix>0".. of user, one second apart from T0. */
static void
track_n(storage_t *st, const char *user, const char *prefix, int n)
{
    char id[32];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        track_at(st, &tenant_a, user, "Tick", id, T0 + i * 1000);
    }
}

START_TEST(test_batch_store)
{
    /* writeKey: handed over, never stored; a single message gets its type;
     * a message's text is stored as it was sent (tests/segment/ checks the
     * bodies themselves). */
    segment_batch_err_t e;
    char *path, err[256];
    storage_t *st = test_db_open("profiles.db", &path);
    const char *one = "{\"writeKey\":\"s\\u0065cret\",\"userId\":\"u1\",\"event\":\"Signed Up\",\"messageId\":\"w1\"}";
    segment_batch_t *b;
    ck_assert_int_eq(segment_batch_parse(strdup(one), strlen(one), "track", &b, &e), 0);
    size_t key_len;
    const char *key = segment_batch_write_key(b, &key_len);
    ck_assert_uint_eq(key_len, 6);
    ck_assert_int_eq(memcmp(key, "secret", 6), 0);
    ck_assert_int_eq(segment_batch_check(b, &e), 0);
    ck_assert_int_eq(storage_batch_store(st, &tenant_a, b, "api", NOW, err, sizeof(err)), 0);
    segment_batch_free(b);
    const char *many = "{\"batch\":[ {\"type\":\"track\", \"userId\":\"u1\",\"event\":\"A\",\"messageId\":\"w2\",\n"
                       "\"timestamp\":\"2020-01-01T00:00:00Z\"} ],\"writeKey\":\"other\"}";
    ck_assert_int_eq(segment_batch_parse(strdup(many), strlen(many), NULL, &b, &e), 0);
    ck_assert_int_eq(segment_batch_check(b, &e), 0);
    ck_assert_uint_eq(segment_batch_count(b), 1);
    ck_assert_int_eq(storage_batch_store(st, &tenant_a, b, "api", NOW, err, sizeof(err)), 0);
    /* again: a retried batch stores nothing twice */
    ck_assert_int_eq(storage_batch_store(st, &tenant_a, b, "api", NOW, err, sizeof(err)), 0);
    segment_batch_free(b);
    storage_event_query_t q = equery(100, 0);
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    ck_assert_uint_eq(alen(o, "data"), 2);
    struct json_object *raw0 = get(ev_at(o, 0), "rawData"), *raw1 = get(ev_at(o, 1), "rawData");
    ck_assert_str_eq(gets(raw0, "messageId"), "w2");
    ck_assert(!json_object_object_get_ex(raw1, "writeKey", NULL));
    ck_assert_str_eq(gets(raw1, "type"), "track");
    ck_assert_str_eq(gets(raw1, "event"), "Signed Up");
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_page_shape)
{
    char *path, pid[64];
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"joe.bloggs@intilery.com\"}}");
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Email Opened\",\"messageId\":\"ec717144\","
              "\"timestamp\":\"2020-11-19T13:39:17.380Z\",\"context\":{\"ip\":\"217.42.6.253\"},"
              "\"properties\":{\"campaign_id\":\"TRIAL_WELCOME\",\"n\":[1,2,{\"x\":null}]}}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "u1", pid);

    storage_event_query_t q = equery(100, 1);
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    ck_assert_uint_eq(alen(o, "data"), 1);
    /* URL-safe base64 of the sealed state, no padding; short for one
     * profile and no filters. */
    const char *sid = gets(o, "scrollId");
    ck_assert_uint_gt(strlen(sid), 22);
    ck_assert_uint_lt(strlen(sid), 120);
    ck_assert_uint_eq(strspn(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), strlen(sid));
    struct json_object *e = ev_at(o, 0);
    ck_assert_uint_eq(json_object_object_length(e), 14);
    ck_assert_str_eq(gets(e, "id"), pid);
    ck_assert_str_eq(gets(e, "customerId"), pid);
    ck_assert_str_eq(gets(e, "externalId"), "u1");
    ck_assert_str_eq(gets(e, "email"), "joe.bloggs@intilery.com");
    ck_assert_str_eq(gets(e, "eventId"), "ec717144");
    ck_assert_str_eq(gets(e, "eventTime"), "2020-11-19T13:39:17.380Z");
    ck_assert_str_eq(gets(e, "receivedTime"), NOW_ISO);
    ck_assert_str_eq(gets(e, "eventAction"), "email_opened");
    ck_assert_str_eq(gets(e, "clientId"), "intilery");
    ck_assert_str_eq(gets(e, "accountId"), "marketing");
    ck_assert_str_eq(gets(e, "brandId"), "MARKETING");
    ck_assert_str_eq(gets(e, "userId"), "u1");
    ck_assert_str_eq(gets(e, "source"), "SEGMENT_API");
    ck_assert_str_eq(gets(e, "rawData.event"), "Email Opened");
    ck_assert_str_eq(gets(e, "rawData.context.ip"), "217.42.6.253");
    ck_assert_str_eq(gets(e, "rawData.properties.campaign_id"), "TRIAL_WELCOME");
    ck_assert_uint_eq(alen(e, "rawData.properties.n"), 3);
    json_object_put(o);

    /* The same scroll by the profile's UUID and by email. */
    o = ev_begin(st, &tenant_a, STORAGE_ID_INTERNAL, pid, &q);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "ec717144");
    json_object_put(o);
    o = ev_begin(st, &tenant_a, STORAGE_ID_EMAIL, "Joe.Bloggs@Intilery.COM", &q);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "ec717144");
    json_object_put(o);

    /* Anonymous: externalId, email and userId are null; a string source. */
    INGEST_OK(st, &tenant_a, "{\"type\":\"page\",\"anonymousId\":\"a1\",\"name\":\"Home\",\"source\":\"crm\"}");
    o = ev_begin(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a1", &q);
    e = ev_at(o, 0);
    ck_assert_uint_eq(json_object_object_length(e), 14);
    ck_assert(has(e, "externalId") && get(e, "externalId") == NULL);
    ck_assert(has(e, "email") && get(e, "email") == NULL);
    ck_assert(has(e, "userId") && get(e, "userId") == NULL);
    ck_assert_str_eq(gets(e, "eventAction"), "page");
    ck_assert_str_eq(gets(e, "source"), "crm");
    ck_assert_str_eq(gets(e, "eventTime"), NOW_ISO); /* no timestamp: now */
    json_object_put(o);

    /* An email trait without a userId is the externalId; a non-string one
     * is no email. */
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"anonymousId\":\"a2\",\"event\":\"Go\",\"context\":{\"traits\":{\"email\":\"a2@x.com\"}}}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"anonymousId\":\"a3\",\"traits\":{\"email\":42}}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"track\",\"anonymousId\":\"a3\",\"event\":\"Go\"}");
    o = ev_begin(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a2", &q);
    ck_assert_str_eq(gets(ev_at(o, 0), "externalId"), "a2@x.com");
    ck_assert_str_eq(gets(ev_at(o, 0), "email"), "a2@x.com");
    json_object_put(o);
    o = ev_begin(st, &tenant_a, STORAGE_ID_ANONYMOUS, "a3", &q);
    ck_assert(has(ev_at(o, 0), "email") && get(ev_at(o, 0), "email") == NULL);
    ck_assert(get(ev_at(o, 0), "externalId") == NULL);
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_filters)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    track_at(st, &tenant_a, "u1", "Email Opened", "e1", T0 + 1000);
    track_at(st, &tenant_a, "u1", "Page Viewed", "e2", T0 + 2000);
    INGEST_OK(
        st, &tenant_a,
        "{\"type\":\"page\",\"userId\":\"u1\",\"name\":\"Home\",\"messageId\":\"e3\",\"timestamp\":\"2020-01-01T00:00:03Z\"}");
    INGEST_OK(
        st, &tenant_a,
        "{\"type\":\"screen\",\"userId\":\"u1\",\"name\":\"Main\",\"messageId\":\"e4\",\"timestamp\":\"2020-01-01T00:00:04Z\"}");
    track_at(st, &tenant_a, "u1", "Experiment Viewed", "e5", T0 + 5000);
    track_at(st, &tenant_a, "u1", "EmailOpened", "e6", T0 + 6000);

    ck_assert_str_eq(filtered(st, NULL, NULL, 100), "e1,e2,e3,e4,e5,e6");
    /* Type: "page" is the page, not the action page_viewed. */
    ck_assert_str_eq(filtered(st, "page", NULL, 100), "e3");
    ck_assert_str_eq(filtered(st, "PAGE,Screen", NULL, 100), "e3,e4");
    /* Name, case-insensitively: only the event named so. */
    ck_assert_str_eq(filtered(st, "email opened", NULL, 100), "e1");
    ck_assert_str_eq(filtered(st, "EmailOpened", NULL, 100), "e6");
    /* eventAction: both snake_case to email_opened. */
    ck_assert_str_eq(filtered(st, "EMAIL_OPENED", NULL, 100), "e1,e6");
    /* A page's name. */
    ck_assert_str_eq(filtered(st, "home", NULL, 100), "e3");
    ck_assert_str_eq(filtered(st, "nothing", NULL, 100), "");
    /* The spec's example. */
    ck_assert_str_eq(filtered(st, NULL, "Page Viewed,Experiment Viewed", 100), "e1,e3,e4,e6");
    ck_assert_str_eq(filtered(st, NULL, "page_viewed,SCREEN", 100), "e1,e3,e5,e6");
    /* Exclude wins. */
    ck_assert_str_eq(filtered(st, "page,email_opened", "PAGE", 100), "e1,e6");
    ck_assert_str_eq(filtered(st, "page,page_viewed", "page viewed", 100), "e3");
    ck_assert_str_eq(filtered(st, "page", "page", 100), "");
    /* Empty items are ignored; a list of nothing but them filters nothing. */
    ck_assert_str_eq(filtered(st, ",,page,,", ",", 100), "e3");
    ck_assert_str_eq(filtered(st, ",,", ",,", 100), "e1,e2,e3,e4,e5,e6");
    ck_assert_str_eq(filtered(st, "", "", 100), "e1,e2,e3,e4,e5,e6");
    /* Pages of matches only: limit 1 walks past the non-matching events. */
    ck_assert_str_eq(filtered(st, "email_opened", NULL, 1), "e1,e6");
    ck_assert_str_eq(filtered(st, NULL, "email_opened,page_viewed", 1), "e3,e4,e5");
    /* Keys are data, whatever their bytes. */
    INGEST_OK(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Say \\\"hi\\\" \\\\ now\",\"messageId\":\"e7\","
              "\"timestamp\":\"2020-01-01T00:00:07Z\"}");
    ck_assert_str_eq(filtered(st, "say \"HI\" \\ now", NULL, 100), "e7");
    ck_assert_str_eq(filtered(st, "say_hi_now,\xff,']\"),page", NULL, 100), "e3,e7");
    ck_assert_str_eq(filtered(st, NULL, "\xff,e1,%,_,page_viewed,say \"hi\" \\ now", 100), "e1,e3,e4,e5,e6");
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_time_bounds_and_sort)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    track_n(st, "u1", "t", 10);
    storage_event_query_t q = equery(100, 0);
    q.start_ms = T0 + 3000; /* inclusive */
    q.end_ms = T0 + 7000;   /* exclusive */
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t3,t4,t5,t6");
    q.descending = 1;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t6,t5,t4,t3");
    q.limit = 3;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t6,t5,t4,t3");
    q.descending = 0;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t3,t4,t5,t6");
    q.limit = 2;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t3,t4,t5,t6");

    q = equery(100, 0);
    q.start_ms = T0 + 8000;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t8,t9");
    q.descending = 1;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t9,t8");
    q = equery(100, 1);
    q.end_ms = T0 + 2000;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t1,t0");
    q.end_ms = T0 + 1; /* just past t0 */
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "t0");
    q.start_ms = q.end_ms = T0 + 5000;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "");
    q.start_ms = T0 + 6000; /* start after end */
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "");

    /* limit: a full first page, the default descending order. */
    q = equery(4, 1);
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    char ids[256] = "";
    page_ids(o, ids, sizeof(ids));
    ck_assert_str_eq(ids, "t9,t8,t7,t6");
    ck_assert_str_eq(gets(ev_at(o, 0), "eventTime"), "2020-01-01T00:00:09.000Z");
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_ties_by_event_id)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    static const char *const ids[] = {"b", "d", "a", "e", "c"};
    for (int i = 0; i < 5; i++)
        track_at(st, &tenant_a, "u1", "Tie", ids[i], T0);
    track_at(st, &tenant_a, "u1", "Tie", "z", T0 - 1);
    track_at(st, &tenant_a, "u1", "Tie", "0", T0 + 1);
    for (int limit = 1; limit <= 8; limit++) {
        storage_event_query_t q = equery(limit, 0);
        ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "z,a,b,c,d,e,0");
        q.descending = 1;
        ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "0,e,d,c,b,a,z");
    }
    test_db_close(st, path);
}
END_TEST

/* Walks a whole scroll and checks the order is strict (so nothing repeats)
 * and every page but the last is full; returns the number of events. */
static size_t
walk_strict(storage_t *st, const storage_event_query_t *q)
{
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "big", q);
    char sid[SID], prev_id[64] = "";
    int64_t prev_t = 0;
    size_t total = 0;
    snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
    for (;;) {
        size_t n = alen(o, "data");
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = ev_at(o, i);
            int64_t t;
            const char *iso = gets(e, "eventTime"), *id = gets(e, "eventId");
            ck_assert_int_eq(base_parse_time(iso, strlen(iso), &t), 0);
            if (total > 0) {
                int c = t != prev_t ? (t < prev_t ? -1 : 1) : strcmp(id, prev_id);
                ck_assert_msg(q->descending ? c < 0 : c > 0, "out of order at %zu: %s after %s", total, id, prev_id);
            }
            prev_t = t;
            snprintf(prev_id, sizeof(prev_id), "%s", id);
            total++;
        }
        json_object_put(o);
        if (n < (size_t)q->limit)
            break;
        o = ev_next(st, &tenant_a, sid);
    }
    o = ev_next(st, &tenant_a, sid);
    ck_assert_uint_eq(alen(o, "data"), 0);
    json_object_put(o);
    return total;
}

START_TEST(test_events_long_scroll)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    FILE *in = tmpfile();
    const int n = 10000;
    /* About four events per millisecond value, ids not in time order. */
    for (int i = 0; i < n; i++)
        fprintf(in,
                "{\"type\":\"track\",\"userId\":\"big\",\"event\":\"Viewed %d\",\"messageId\":\"m%d\","
                "\"timestamp\":\"2020-01-01T00:%02d:%02d.%03dZ\"}\n",
                i % 3, i, (i * 7919 % 2500) / 60000, (i * 7919 % 2500) / 1000 % 60, i * 7919 % 2500 % 1000);
    rewind(in);
    uint64_t imported, rejected;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, in, stderr, NULL, NOW, &imported, &rejected), 0);
    ck_assert_uint_eq(imported, (uint64_t)n);
    fclose(in);

    storage_event_query_t q = equery(7, 0);
    ck_assert_uint_eq(walk_strict(st, &q), (size_t)n);
    q.descending = 1;
    ck_assert_uint_eq(walk_strict(st, &q), (size_t)n);
    /* A filter matching a third: pages stay full until the end. */
    q.include = "viewed 1";
    q.include_len = strlen(q.include);
    ck_assert_uint_eq(walk_strict(st, &q), (size_t)(n / 3));
    q.descending = 0;
    q.limit = 100;
    ck_assert_uint_eq(walk_strict(st, &q), (size_t)(n / 3));
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_expiry)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    track_n(st, "u1", "x", 5);
    storage_event_query_t q = equery(1, 0);
    struct json_object *a, *b, *c, *o;
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "u1", &q, NOW, 1000, &a), 0);
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "u1", &q, NOW, 1000, &b), 0);
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "u1", &q, NOW + 1, 1000, &c), 0);
    const char *sa = gets(a, "scrollId"), *sc = gets(c, "scrollId");
    char sb[SID], sb1[SID];
    snprintf(sb, sizeof(sb), "%s", gets(b, "scrollId"));
    ck_assert_str_ne(sa, sc); /* another deadline */

    /* Unused: gone after the ttl, and exactly at it. */
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sa, strlen(sa), NOW + 1001, 1000, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sc, strlen(sc), NOW + 1001, 1000, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sc, strlen(sc), NOW + 1000, 1000, &o), 0);
    json_object_put(o);
    /* Each page's scrollId has its own deadline: now + ttl. */
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sb, strlen(sb), NOW + 500, 1000, &o), 0);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x1");
    snprintf(sb1, sizeof(sb1), "%s", gets(o, "scrollId"));
    json_object_put(o);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sb1, strlen(sb1), NOW + 1400, 1000, &o), 0);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x2");
    snprintf(sb, sizeof(sb), "%s", gets(o, "scrollId"));
    json_object_put(o);
    /* The used one stays valid to its own deadline, continuing the scroll
     * where this process left it (the scroll table); past it, refused. */
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sb1, strlen(sb1), NOW + 1499, 1000, &o), 0);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x3");
    json_object_put(o);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sb1, strlen(sb1), NOW + 1500, 1000, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sb, strlen(sb), NOW + 2399, 1000, &o), 0);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x4");
    json_object_put(o);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sb, strlen(sb), NOW + 2400, 1000, &o), STORAGE_ENOTFOUND);
    ck_assert_str_eq(storage_errmsg(st), "scrollId is invalid or has timed out");
    json_object_put(a);
    json_object_put(b);
    json_object_put(c);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_snapshot)
{
    char *path, err[256];
    storage_t *st = test_db_open("profiles.db", &path), *writer;
    /* Writes come from another connection, as from the server's writer. */
    ck_assert_int_eq(storage_open(&writer, path, 0, err, sizeof(err)), 0);
    track_n(writer, "u1", "s", 6);
    storage_event_query_t q = equery(2, 0);
    struct json_object *asc = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    q.descending = 1;
    struct json_object *desc = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    char a_ids[256] = "", d_ids[256] = "", sa[SID], sd[SID];
    page_ids(asc, a_ids, sizeof(a_ids));
    page_ids(desc, d_ids, sizeof(d_ids));
    snprintf(sa, sizeof(sa), "%s", gets(asc, "scrollId"));
    snprintf(sd, sizeof(sd), "%s", gets(desc, "scrollId"));
    json_object_put(asc);
    json_object_put(desc);

    /* Before, between, after and at the position; in both orders. */
    track_at(writer, &tenant_a, "u1", "Tick", "n0", T0 - 5000);
    track_at(writer, &tenant_a, "u1", "Tick", "n1", T0 + 2500);
    track_at(writer, &tenant_a, "u1", "Tick", "s1a", T0 + 1000);
    track_at(writer, &tenant_a, "u1", "Tick", "s4a", T0 + 4000);
    track_at(writer, &tenant_a, "u1", "Tick", "n2", T0 + 100000);
    ck_assert_int_eq(ingest(writer, &tenant_a, "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Tick\",\"messageId\":\"s3\"}"),
                     STORAGE_EEXIST);
    for (int i = 0; i < 3; i++) {
        struct json_object *o = ev_next(st, &tenant_a, sa);
        page_ids(o, a_ids, sizeof(a_ids));
        json_object_put(o);
        o = ev_next(st, &tenant_a, sd);
        page_ids(o, d_ids, sizeof(d_ids));
        json_object_put(o);
    }
    ck_assert_str_eq(a_ids, "s0,s1,s2,s3,s4,s5");
    ck_assert_str_eq(d_ids, "s5,s4,s3,s2,s1,s0");
    /* A new scroll sees them all. */
    q = equery(3, 0);
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_USER, "u1", &q), "n0,s0,s1,s1a,s2,n1,s3,s4,s4a,s5,n2");
    storage_close(writer);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_scroll_ids_checked)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    track_n(st, "u1", "x", 3);
    INGEST_OK(st, &tenant_b, "{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"Other\"}");
    storage_event_query_t q = equery(1, 0);
    struct json_object *a = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q), *o;
    char sid[SID];
    snprintf(sid, sizeof(sid), "%s", gets(a, "scrollId"));

    /* Another tenant's scroll is not found, and is not consumed by that. */
    ck_assert_int_eq(ev_next_rc(st, &tenant_b, sid, strlen(sid), NOW, TTL, &o), STORAGE_ENOTFOUND);
    storage_tenant_t nobody = storage_tenant("intilery", "nobody", "MARKETING");
    ck_assert_int_eq(ev_next_rc(st, &nobody, sid, strlen(sid), NOW, TTL, &o), STORAGE_ENOTFOUND);
    o = ev_next(st, &tenant_a, sid);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x1");
    json_object_put(o);

    char bad[SID + 100];
    static const char *const malformed[] = {
        "",
        "A",
        "AAAAAAAAAAAAAAAAAAAAA",   /* 21 */
        "AAAAAAAAAAAAAAAAAAAAAAA", /* 23 */
        "AAAAAAAAAAAAAAAAAAAAAA",  /* well formed, unknown */
        "AAAAAAAAAAAAAAAAAAAA+A",
        "AAAAAAAAAAAAAAAAAAAA/A",
        "AAAAAAAAAAAAAAAAAAAAA=",
        "AAAAAAAAAAAA AAAAAAAAA",
        "AAAAAAAAAAAA%AAAAAAAAA",
        "AAAAAAAAAAAA\303\251AAAAAAAA", /* 22 bytes, not all base64url */
        "' OR 1=1 --AAAAAAAAAAA",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        ck_assert_int_eq(ev_next_rc(st, &tenant_a, malformed[i], strlen(malformed[i]), NOW, TTL, &o), STORAGE_ENOTFOUND);
        ck_assert_str_eq(storage_errmsg(st), "scrollId is invalid or has timed out");
    }
    /* The real id with a byte more, one less, or a NUL inside. */
    snprintf(bad, sizeof(bad), "%sA", sid);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, bad, strlen(bad), NOW, TTL, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, sid, strlen(sid) - 1, NOW, TTL, &o), STORAGE_ENOTFOUND);
    snprintf(bad, sizeof(bad), "%s", sid);
    bad[5] = '\0';
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, bad, strlen(sid), NOW, TTL, &o), STORAGE_ENOTFOUND);
    memset(bad, 'A', sizeof(bad) - 1);
    bad[sizeof(bad) - 1] = '\0';
    ck_assert_int_eq(ev_next_rc(st, &tenant_a, bad, strlen(bad), NOW, TTL, &o), STORAGE_ENOTFOUND);
    char *body = (char *)"x";
    size_t len = 1;
    ck_assert_int_eq(storage_events_next(st, &tenant_a, STORAGE_ID_USER, "u1", 2, NULL, 0, NOW, TTL, &body, &len),
                     STORAGE_ENOTFOUND);
    ck_assert_ptr_null(body);
    /* Still where it was. */
    o = ev_next(st, &tenant_a, sid);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x2");
    json_object_put(o);
    json_object_put(a);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_survive_reopen)
{
    char *path, err[256], sid[SID], ids[256] = "";
    storage_t *st = test_db_open("profiles.db", &path), *other;
    track_n(st, "u1", "r", 10);
    storage_event_query_t q = equery(3, 1);
    q.exclude = "nothing";
    q.exclude_len = 7;
    q.start_ms = T0 + 1000;
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
    page_ids(o, ids, sizeof(ids));
    json_object_put(o);
    storage_close(st);

    ck_assert_int_eq(storage_open(&st, path, 0, err, sizeof(err)), 0);
    o = ev_next(st, &tenant_a, sid);
    page_ids(o, ids, sizeof(ids));
    json_object_put(o);
    /* Any connection to the database continues it. */
    ck_assert_int_eq(storage_open(&other, path, 0, err, sizeof(err)), 0);
    o = ev_next(other, &tenant_a, sid);
    page_ids(o, ids, sizeof(ids));
    json_object_put(o);
    storage_close(other);
    o = ev_next(st, &tenant_a, sid);
    ck_assert_uint_eq(alen(o, "data"), 0);
    json_object_put(o);
    ck_assert_str_eq(ids, "r9,r8,r7,r6,r5,r4,r3,r2,r1");
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_email_merges_profiles)
{
    char *path, p1[64], p2[64];
    storage_t *st = test_db_open("profiles.db", &path);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"Joe@X.com\"}}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u2\",\"traits\":{\"email\":\"joe@x.com\"}}");
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"u3\",\"traits\":{\"email\":\"other@x.com\"}}");
    profile_id(st, &tenant_a, STORAGE_ID_USER, "u1", p1);
    profile_id(st, &tenant_a, STORAGE_ID_USER, "u2", p2);
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "%c%d", i % 2 ? 'b' : 'a', i);
        track_at(st, &tenant_a, i % 2 ? "u2" : "u1", "Tick", id, T0 + i * 1000);
    }
    /* A tie across the profiles: eventId decides. */
    track_at(st, &tenant_a, "u1", "Tick", "x2", T0 + 10000);
    track_at(st, &tenant_a, "u2", "Tick", "x1", T0 + 10000);
    track_at(st, &tenant_a, "u3", "Tick", "o1", T0 + 5500);

    static const char *const asc = "a0,b1,a2,b3,a4,b5,a6,b7,a8,b9,x1,x2";
    static const char *const desc = "x2,x1,b9,a8,b7,a6,b5,a4,b3,a2,b1,a0";
    for (int limit = 1; limit <= 13; limit += 2) {
        storage_event_query_t q = equery(limit, 0);
        ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_EMAIL, "JOE@x.com", &q), asc);
        q.descending = 1;
        ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_EMAIL, "joe@x.com", &q), desc);
    }
    /* Each event shows its own profile. */
    storage_event_query_t q = equery(100, 0);
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_EMAIL, "joe@x.com", &q);
    ck_assert_uint_eq(alen(o, "data"), 12);
    for (size_t i = 0; i < 12; i++) {
        struct json_object *e = ev_at(o, i);
        bool second = gets(e, "eventId")[0] == 'b' || strcmp(gets(e, "eventId"), "x1") == 0;
        ck_assert_str_eq(gets(e, "id"), second ? p2 : p1);
        ck_assert_str_eq(gets(e, "customerId"), second ? p2 : p1);
        ck_assert_str_eq(gets(e, "userId"), second ? "u2" : "u1");
        ck_assert_str_eq(gets(e, "externalId"), second ? "u2" : "u1");
        ck_assert_str_eq(gets(e, "email"), second ? "joe@x.com" : "Joe@X.com");
    }
    json_object_put(o);
    /* Filters apply across the merge. */
    q = equery(2, 1);
    q.start_ms = T0 + 3000;
    q.end_ms = T0 + 10000;
    q.exclude = "nothing,";
    q.exclude_len = 8;
    ck_assert_str_eq(scroll_ids(st, &tenant_a, STORAGE_ID_EMAIL, "joe@x.com", &q), "b9,a8,b7,a6,b5,a4,b3");
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_not_found_and_invalid)
{
    char *path, err[256];
    storage_t *st = test_db_open("profiles.db", &path), *ro;
    struct json_object *o;
    storage_event_query_t q = equery(10, 1);
    /* No tenant yet, then no such profile: no cursor either way. */
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "u1", &q, NOW, TTL, &o), STORAGE_ENOTFOUND);
    track_n(st, "u1", "x", 2);
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"quiet\"}");
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "u2", &q, NOW, TTL, &o), STORAGE_ENOTFOUND);
    ck_assert_str_eq(storage_errmsg(st), "profile not found");
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_ANONYMOUS, "u1", &q, NOW, TTL, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_EMAIL, "u1@x.com", &q, NOW, TTL, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_INTERNAL, "4c90b9cf-5e4d-4689-ba57-b0f3e7c813fe", &q, NOW, TTL, &o),
                     STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_begin_rc(st, &tenant_b, STORAGE_ID_USER, "u1", &q, NOW, TTL, &o), STORAGE_ENOTFOUND);
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "", &q, NOW, TTL, &o), STORAGE_ENOTFOUND);

    /* A bad query. */
    q.limit = 0;
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "u1", &q, NOW, TTL, &o), STORAGE_EINVAL);
    q.limit = 101;
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, STORAGE_ID_USER, "u1", &q, NOW, TTL, &o), STORAGE_EINVAL);
    char *body = (char *)"x";
    size_t len = 1;
    ck_assert_int_eq(storage_events_begin(st, &tenant_a, STORAGE_ID_USER, "u1", 2, NULL, NOW, TTL, &body, &len), STORAGE_EINVAL);
    ck_assert_ptr_null(body);
    q.limit = 100;
    ck_assert_int_eq(ev_begin_rc(st, &tenant_a, (storage_id_type_t)9, "u1", &q, NOW, TTL, &o), STORAGE_EINVAL);

    /* A read-only connection scrolls: nothing is written. */
    ck_assert_int_eq(storage_open(&ro, path, STORAGE_READONLY, err, sizeof(err)), 0);
    q.limit = 1;
    q.descending = 0;
    ck_assert_int_eq(ev_begin_rc(ro, &tenant_a, STORAGE_ID_USER, "u1", &q, NOW, TTL, &o), 0);
    char rsid[SID];
    snprintf(rsid, sizeof(rsid), "%s", gets(o, "scrollId"));
    json_object_put(o);
    o = ev_next(ro, &tenant_a, rsid);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x1");
    json_object_put(o);
    ck_assert_uint_eq(storage_commits(ro), 0);
    storage_close(ro);

    /* A profile without events: an empty first page and a live scroll. */
    o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "quiet", &q);
    ck_assert_uint_eq(alen(o, "data"), 0);
    char qsid[SID];
    snprintf(qsid, sizeof(qsid), "%s", gets(o, "scrollId"));
    struct json_object *n = ev_next(st, &tenant_a, qsid);
    ck_assert_uint_eq(alen(n, "data"), 0);
    json_object_put(n);
    json_object_put(o);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_end_of_scroll)
{
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    track_n(st, "u1", "x", 4);
    for (int limit = 1; limit <= 5; limit++) {
        storage_event_query_t q = equery(limit, limit % 2);
        struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
        char sid[SID];
        snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
        size_t seen = alen(o, "data"), pages = 1;
        json_object_put(o);
        while (seen < 4) {
            o = ev_next(st, &tenant_a, sid);
            ck_assert_uint_eq(alen(o, "data"), 4 - seen < (size_t)limit ? 4 - seen : (size_t)limit);
            seen += alen(o, "data");
            pages++;
            json_object_put(o);
        }
        ck_assert_uint_eq(pages, (size_t)((4 + limit - 1) / limit));
        /* Past the end: empty pages, the same scrollId, until it expires. */
        for (int i = 0; i < 3; i++) {
            o = ev_next(st, &tenant_a, sid);
            ck_assert_uint_eq(alen(o, "data"), 0);
            json_object_put(o);
        }
    }
    test_db_close(st, path);
}
END_TEST

/* A scrollId is bound to its path, kind and key: another profile's path
 * (even the same profile by another id), one flipped character, a
 * truncation, a history scrollId, or another database's key: refused. And
 * a hundred pages commit nothing. */
START_TEST(test_events_sealed)
{
    char *path, *path2, sid[SID], bad[SID];
    storage_t *st = test_db_open("profiles.db", &path);
    track_n(st, "u1", "x", 120);
    track_n(st, "u2", "y", 3);
    storage_event_query_t q = equery(1, 0);
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
    json_object_put(o);
    char *body = NULL;
    size_t len = 0;
    ck_assert_int_eq(storage_events_next(st, &tenant_a, STORAGE_ID_USER, "u2", 2, sid, strlen(sid), NOW, TTL, &body, &len),
                     STORAGE_ENOTFOUND);
    ck_assert_int_eq(storage_events_next(st, &tenant_a, STORAGE_ID_ANONYMOUS, "u1", 2, sid, strlen(sid), NOW, TTL, &body, &len),
                     STORAGE_ENOTFOUND);
    storage_set_trait_history(st, 30);
    ck_assert_int_eq(storage_trait_history_next(st, &tenant_a, STORAGE_ID_USER, "u1", 2, sid, strlen(sid), NOW, TTL, &body, &len),
                     STORAGE_ENOTFOUND);
    for (size_t i = 0; i < strlen(sid); i++) {
        snprintf(bad, sizeof(bad), "%s", sid);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        ck_assert_int_eq(ev_next_rc(st, &tenant_a, bad, strlen(bad), NOW, TTL, &o), STORAGE_ENOTFOUND);
        ck_assert_int_eq(ev_next_rc(st, &tenant_a, sid, i, NOW, TTL, &o), STORAGE_ENOTFOUND);
    }
    /* Another database has another key. */
    storage_t *st2 = test_db_open("other.db", &path2);
    track_n(st2, "u1", "x", 3);
    ck_assert_int_eq(storage_events_next(st2, &tenant_a, STORAGE_ID_USER, "u1", 2, sid, strlen(sid), NOW, TTL, &body, &len),
                     STORAGE_ENOTFOUND);
    test_db_close(st2, path2);
    /* 100 pages, no write: the commit count stands still. */
    uint64_t commits = storage_commits(st);
    for (int i = 1; i <= 100; i++) {
        o = ev_next(st, &tenant_a, sid);
        char want[16];
        snprintf(want, sizeof(want), "x%d", i);
        ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), want);
        json_object_put(o);
    }
    ck_assert_uint_eq(storage_commits(st), commits);
    /* ...which does count: an ingest is one commit. */
    track_n(st, "u3", "z", 1);
    ck_assert_uint_eq(storage_commits(st), commits + 1);
    test_db_close(st, path);
}
END_TEST

/* An email of 40 profiles: past STG_SCROLL_INLINE the scrollId carries no
 * profile list (its length stays small) and each page looks the email up
 * again, keeping the profiles of the first page: every event once, none of
 * a profile made later. */
START_TEST(test_events_many_profiles)
{
    char *path, sid[SID], json[256], ids[4096] = "";
    storage_t *st = test_db_open("profiles.db", &path);
    for (int i = 0; i < 40; i++) {
        snprintf(json, sizeof(json), "{\"type\":\"identify\",\"userId\":\"m%d\",\"traits\":{\"email\":\"many@x.com\"}}", i);
        INGEST_OK(st, &tenant_a, json);
        char msg[16], user[16];
        snprintf(msg, sizeof(msg), "e%02d", i);
        snprintf(user, sizeof(user), "m%d", i);
        track_at(st, &tenant_a, user, "Tick", msg, T0 + i * 1000);
    }
    storage_event_query_t q = equery(7, 0);
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_EMAIL, "MANY@x.com", &q);
    snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
    ck_assert_uint_lt(strlen(sid), 120);
    page_ids(o, ids, sizeof(ids));
    json_object_put(o);
    /* a profile made after the first page, with an old event */
    INGEST_OK(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"late\",\"traits\":{\"email\":\"many@x.com\"}}");
    track_at(st, &tenant_a, "late", "Tick", "late-1", T0 + 1500);
    for (;;) {
        o = ev_next(st, &tenant_a, sid);
        size_t n = alen(o, "data");
        page_ids(o, ids, sizeof(ids));
        json_object_put(o);
        if (n < 7)
            break;
    }
    char want[4096] = "";
    for (int i = 0; i < 40; i++) {
        size_t n = strlen(want);
        snprintf(want + n, sizeof(want) - n, "%se%02d", i ? "," : "", i);
    }
    ck_assert_str_eq(ids, want);
    test_db_close(st, path);
}
END_TEST

START_TEST(test_events_busy_and_in_transaction)
{
    char *path, err[256], sid[SID];
    storage_t *st = test_db_open("profiles.db", &path), *writer;
    ck_assert_int_eq(storage_open(&writer, path, 0, err, sizeof(err)), 0);
    track_n(st, "u1", "x", 4);
    storage_event_query_t q = equery(1, 0);
    struct json_object *o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "u1", &q);
    snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
    json_object_put(o);

    /* A page is a read: a writer's open transaction does not hold it up. */
    ck_assert_int_eq(storage_begin(writer), 0);
    o = ev_next(st, &tenant_a, sid);
    ck_assert_str_eq(gets(ev_at(o, 0), "eventId"), "x1");
    json_object_put(o);
    ck_assert_int_eq(storage_rollback(writer), 0);

    /* The writer's own transaction: its pending event is in the new scroll. */
    ck_assert_int_eq(storage_begin(writer), 0);
    track_at(writer, &tenant_a, "u1", "Tick", "w0", T0 - 1);
    q.limit = 2;
    o = ev_begin(writer, &tenant_a, STORAGE_ID_USER, "u1", &q);
    char ids[64] = "";
    page_ids(o, ids, sizeof(ids));
    ck_assert_str_eq(ids, "w0,x0");
    json_object_put(o);
    ck_assert_int_eq(storage_commit(writer), 0);
    storage_close(writer);
    test_db_close(st, path);
}
END_TEST

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Page 1 and page 1,000 of a 100,000-event profile, limit 100: keyset
 * paging costs the same anywhere in the scroll. The cost is counted in
 * SQLite virtual-machine steps (storage_vm_steps), not timed, so a busy
 * machine cannot fail it. Prints the counts. */
START_TEST(test_events_page_cost_flat)
{
    TEST_SQLITE_ONLY(); /* SQLite's files */
    char *path;
    storage_t *st = test_db_open("profiles.db", &path);
    FILE *in = tmpfile();
    const int n = 100000;
    for (int i = 0; i < n; i++)
        fprintf(in,
                "{\"type\":\"track\",\"userId\":\"big\",\"event\":\"Email Opened\",\"messageId\":\"%08x-924c-4826-981b-%012d\","
                "\"timestamp\":\"2020-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"context\":{\"ip\":\"217.42.6.253\",\"user_agent\":"
                "\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_4) AppleWebKit/605.1.15\",\"traits\":{\"email\":\"joe@x.com\"}},"
                "\"properties\":{\"email_id\":\"41937e92-b472-46ae-94e3-f29cc05cda5d\",\"email_subject\":\"Thanks for "
                "requesting an Intilery trial\",\"campaign_id\":\"TRIAL_WELCOME\"},\"sendType\":\"email\"}\n",
                (unsigned)i * 2654435761u, i, 1 + i / 9000, 1 + i / 300 % 28, i / 60 % 24, i % 60, i * 7 % 60, i % 1000);
    rewind(in);
    uint64_t imported, rejected;
    ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, in, stderr, NULL, NOW, &imported, &rejected), 0);
    ck_assert_uint_eq(imported, (uint64_t)n);
    fclose(in);

    for (int desc = 0; desc <= 1; desc++) {
        storage_event_query_t q = equery(100, desc);
        double first[20], early[10], late[10], last = 0;
        uint64_t steps;
        char sid[SID];
        struct json_object *o;
        /* Warm the cache, then page 1 (a begin) 20 times. */
        o = ev_begin(st, &tenant_a, STORAGE_ID_USER, "big", &q);
        json_object_put(o);
        for (int r = 0; r < 20; r++) {
            char *body;
            size_t len;
            steps = storage_vm_steps(st);
            ck_assert_int_eq(storage_events_begin(st, &tenant_a, STORAGE_ID_USER, "big", 3, &q, NOW, TTL, &body, &len), 0);
            first[r] = (double)(storage_vm_steps(st) - steps);
            o = parse_page(body, len);
            ck_assert_uint_eq(alen(o, "data"), 100);
            snprintf(sid, sizeof(sid), "%s", gets(o, "scrollId"));
            json_object_put(o);
        }
        /* Pages 2..1000 of the last one; page 1000 is full, then the end. */
        for (int page = 2; page <= 1000; page++) {
            char *body;
            size_t len;
            steps = storage_vm_steps(st);
            ck_assert_int_eq(storage_events_next(st, &tenant_a, STORAGE_ID_USER, "big", 3, sid, strlen(sid), NOW, TTL, &body, &len),
                             0);
            double cost = (double)(storage_vm_steps(st) - steps);
            ck_assert_int_eq(sscanf(body, "{\"scrollId\":\"%1000[^\"]\"", sid), 1);
            if (page <= 11)
                early[page - 2] = cost;
            if (page >= 991)
                late[page - 991] = cost;
            if (page == 1000)
                last = cost;
            if (page == 1000 || page == 2) {
                o = parse_page(body, len);
                ck_assert_uint_eq(alen(o, "data"), 100);
                json_object_put(o);
            } else {
                free(body);
            }
        }
        o = ev_next(st, &tenant_a, sid);
        ck_assert_uint_eq(alen(o, "data"), 0);
        json_object_put(o);
        double m_first = median(first, 20), m_early = median(early, 10), m_late = median(late, 10);
        fprintf(stderr,
                "events %-4s limit 100 of 100000: page 1 %.0f, pages 2-11 %.0f, pages 991-1000 %.0f SQLite VM steps"
                " (medians), page 1000 %.0f\n",
                desc ? "desc" : "asc", m_first, m_early, m_late, last);
        /* An OFFSET walk would step over 99,900 rows at page 1000; keyset
         * paging does the same work on every page (a tenth of slack for
         * ties in time and the cursor row). */
        ck_assert_msg(m_early > 0 && m_late <= m_early * 1.1, "page cost grows: %.0f steps at pages 991-1000 vs %.0f at 2-11",
                      m_late, m_early);
        ck_assert_msg(m_first <= m_early * 1.5 + 100, "page 1 costs %.0f steps, a later page %.0f", m_first, m_early);
    }
    test_db_close(st, path);
}
END_TEST

static Suite *
storage_suite(void)
{
    Suite *s = suite_create("storage");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup_tenants, NULL);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_migrations);
    tcase_add_test(tc, test_checkpoint_elsewhere);
    tcase_add_test(tc, test_readonly_open_fails_clearly);
    tcase_add_test(tc, test_newer_schema_refused);
    tcase_add_test(tc, test_unreachable_postgres);
    tcase_add_test(tc, test_path_shown_hides_passwords);
    tcase_add_test(tc, test_connection_lost_in_transaction);
    tcase_add_test(tc, test_concurrent_migrations);
    tcase_add_test(tc, test_sync_full_and_readonly_writes_refused);
    tcase_add_test(tc, test_identify_traits_view);
    tcase_add_test(tc, test_track_page_screen_events);
    tcase_add_test(tc, test_group_message);
    tcase_add_test(tc, test_traits_newest_wins);
    tcase_add_test(tc, test_snake_case_actions);
    tcase_add_test(tc, test_idempotent_message_id);
    tcase_add_test(tc, test_first_last_per_action);
    tcase_add_test(tc, test_first_last_ties_by_event_id);
    tcase_add_test(tc, test_last_activity_time);
    tcase_add_test(tc, test_email_shared_by_two_profiles);
    tcase_add_test(tc, test_lookups_and_external_ids);
    tcase_add_test(tc, test_anonymous_then_identified);
    tcase_add_test(tc, test_alias_merge);
    tcase_add_test(tc, test_two_known_profiles_merge);
    tcase_add_test(tc, test_merge_cap);
    tcase_add_test(tc, test_validation_errors_store_nothing);
    tcase_add_test(tc, test_import_ndjson_with_bad_lines);
    tcase_add_test(tc, test_import_many_lines);
    tcase_add_test(tc, test_import_strict_json_and_escapes);
    tcase_add_test(tc, test_import_batches_keep_newest_wins);
    tcase_add_test(tc, test_import_matches_ingest);
    tcase_add_test(tc, test_batch_matches_ingest);
    tcase_add_test(tc, test_batch_store);
    tcase_add_test(tc, test_tenant_isolation);
    tcase_add_test(tc, test_profile_list_paging);
    tcase_add_test(tc, test_transactions_and_combined_writes);
    tcase_add_test(tc, test_readonly_connection_sees_commits);
    tcase_add_test(tc, test_identity_cache_sees_other_connections);
    tcase_add_test(tc, test_subscription_id);
    tcase_add_test(tc, test_tokens);
    suite_add_tcase(s, tc);

    tc = tcase_create("events");
    tcase_add_unchecked_fixture(tc, setup_tenants, NULL);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_events_page_shape);
    tcase_add_test(tc, test_events_filters);
    tcase_add_test(tc, test_events_time_bounds_and_sort);
    tcase_add_test(tc, test_events_ties_by_event_id);
    tcase_add_test(tc, test_events_long_scroll);
    tcase_add_test(tc, test_events_expiry);
    tcase_add_test(tc, test_events_snapshot);
    tcase_add_test(tc, test_events_scroll_ids_checked);
    tcase_add_test(tc, test_events_survive_reopen);
    tcase_add_test(tc, test_events_email_merges_profiles);
    tcase_add_test(tc, test_events_not_found_and_invalid);
    tcase_add_test(tc, test_events_end_of_scroll);
    tcase_add_test(tc, test_events_sealed);
    tcase_add_test(tc, test_events_many_profiles);
    tcase_add_test(tc, test_events_busy_and_in_transaction);
    suite_add_tcase(s, tc);

    /* Alone: CK_RUN_CASE=events_perf for its timings. */
    tc = tcase_create("events_perf");
    tcase_add_unchecked_fixture(tc, setup_tenants, NULL);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_events_page_cost_flat);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    int failed = test_run_suite(storage_suite());
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
