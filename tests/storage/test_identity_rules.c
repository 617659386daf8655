/* test_identity_rules.c -- identity resolution under per-type limits: a
 * shared anonymousId never joins two userIds (storage and HTTP), alias
 * still does, the limits are configurable (storage, serve, import), and
 * the work per message stays the same however many profiles share an
 * email or how many userIds an old profile already holds (counted in
 * SQLite VM steps, never in milliseconds). */
#include <check.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "storage.h"
#include "testhttp.h"
#include "testdb.h"
#include "testutil.h"

#define NOW 1605793157912LL
#define BASE "/track/kiosk/shop/MAIN/v1"

static storage_tenant_t tenant;
static test_server_t srv;
static char *srv_db;
static char tok[128];

static int
ingest(storage_t *st, const char *json)
{
    int ret = test_db_ingest(st, &tenant, json, NOW);
    ck_assert_msg(ret == 0 || ret == STORAGE_EEXIST, "ingest %s: %d", json, ret);
    return ret;
}

static struct json_object *
view(storage_t *st, storage_id_type_t type, const char *id, storage_view_t v)
{
    char *body = NULL;
    size_t len = 0;
    if (storage_profile_view(st, &tenant, type, id, strlen(id), v, &body, &len) != 0)
        return NULL;
    struct json_tokener *tk = json_tokener_new_ex(64);
    struct json_object *o = json_tokener_parse_ex(tk, body, (int)len);
    json_tokener_free(tk);
    free(body);
    ck_assert_ptr_nonnull(o);
    return o;
}

/* The profile id an id leads to, "" when none. */
static void
pid(storage_t *st, storage_id_type_t type, const char *id, char out[64])
{
    struct json_object *o = view(st, type, id, STORAGE_VIEW_TRAITS);
    struct json_object *v;
    snprintf(out, 64, "%s", o != NULL && json_object_object_get_ex(o, "id", &v) ? json_object_get_string(v) : "");
    json_object_put(o);
}

static bool
has_trait(storage_t *st, storage_id_type_t type, const char *id, const char *trait)
{
    struct json_object *o = view(st, type, id, STORAGE_VIEW_METADATA);
    ck_assert_msg(o != NULL, "no profile for %s", id);
    bool has = json_object_object_get_ex(o, trait, NULL);
    json_object_put(o);
    return has;
}

static bool
has_last_event(storage_t *st, const char *user_id, const char *action)
{
    struct json_object *o = view(st, STORAGE_ID_USER, user_id, STORAGE_VIEW_METADATA), *last;
    ck_assert_ptr_nonnull(o);
    bool has = json_object_object_get_ex(o, "lastEvent", &last) && json_object_object_get_ex(last, action, NULL);
    json_object_put(o);
    return has;
}

static size_t
profiles(storage_t *st)
{
    size_t total = 0;
    for (int from = 0;; from++) {
        char *body;
        size_t len;
        ck_assert_int_eq(storage_profile_list(st, &tenant, from, 100, &body, &len), 0);
        struct json_object *o = json_tokener_parse(body), *data;
        ck_assert(json_object_object_get_ex(o, "data", &data));
        size_t n = json_object_array_length(data);
        json_object_put(o);
        free(body);
        total += n;
        if (n < 100)
            return total;
    }
}

static storage_id_limits_t
limits(const char *text)
{
    storage_id_limits_t l;
    char err[160] = "";
    ck_assert_msg(storage_id_limits_parse(text, &l, err, sizeof(err)) == 0, "%s: %s", text, err);
    return l;
}

/* ---- shared anonymousIds ---------------------------------------------------- */

START_TEST(test_kiosk_keeps_strangers_apart)
{
    char *path, alice[64], bob[64], kiosk[64];
    storage_t *st = test_db_open("ids.db", &path);
    ingest(st, "{\"type\":\"identify\",\"userId\":\"alice\",\"anonymousId\":\"kiosk-7\",\"traits\":{\"alice_secret\":\"A1\"}}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"bob\",\"anonymousId\":\"kiosk-7\",\"traits\":{\"bob_thing\":\"B1\"}}");
    pid(st, STORAGE_ID_USER, "alice", alice);
    pid(st, STORAGE_ID_USER, "bob", bob);
    pid(st, STORAGE_ID_ANONYMOUS, "kiosk-7", kiosk);
    ck_assert_str_ne(alice, bob);
    /* the anonymousId stays with the profile it first belonged to */
    ck_assert_str_eq(kiosk, alice);
    ck_assert(!has_trait(st, STORAGE_ID_USER, "bob", "alice_secret"));
    ck_assert(has_trait(st, STORAGE_ID_USER, "bob", "bob_thing"));
    ck_assert(!has_trait(st, STORAGE_ID_USER, "alice", "bob_thing"));
    /* bob's profile holds his userId only */
    struct json_object *o = view(st, STORAGE_ID_USER, "bob", STORAGE_VIEW_EXTERNAL_IDS), *ext;
    ck_assert(json_object_object_get_ex(o, "externalIds", &ext));
    ck_assert_uint_eq(json_object_array_length(ext), 2); /* userId, id */
    json_object_put(o);

    /* bob's events on the kiosk are bob's */
    ingest(st, "{\"type\":\"track\",\"userId\":\"bob\",\"anonymousId\":\"kiosk-7\",\"event\":\"Bought\"}");
    ck_assert(has_last_event(st, "bob", "bought"));
    ck_assert(!has_last_event(st, "alice", "bought"));

    /* 150 people on one kiosk: 150 profiles, one userId each */
    char msg[256], id[32];
    ck_assert_int_eq(storage_begin(st), 0);
    for (int i = 0; i < 148; i++) {
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"identify\",\"userId\":\"user-%d\",\"anonymousId\":\"kiosk-7\",\"traits\":{\"n\":%d}}", i, i);
        ingest(st, msg);
    }
    ck_assert_int_eq(storage_commit(st), 0);
    ck_assert_uint_eq(profiles(st), 150);
    for (int i = 0; i < 148; i += 37) {
        snprintf(id, sizeof(id), "user-%d", i);
        ck_assert(!has_trait(st, STORAGE_ID_USER, id, "alice_secret"));
        ck_assert(!has_trait(st, STORAGE_ID_USER, id, "bob_thing"));
    }
    test_db_close(st, path);
}
END_TEST

START_TEST(test_profiles_with_userids_stay_apart)
{
    char *path, a[64], b[64], x[64], y[64];
    storage_t *st = test_db_open("ids.db", &path);
    ingest(st, "{\"type\":\"identify\",\"userId\":\"ann\",\"traits\":{\"ann_only\":1}}");
    ingest(st, "{\"type\":\"page\",\"anonymousId\":\"x\"}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"ben\",\"anonymousId\":\"x\",\"traits\":{\"ben_only\":1}}");
    ingest(st, "{\"type\":\"page\",\"anonymousId\":\"y\",\"context\":{\"traits\":{\"y_only\":1}}}");
    ck_assert_uint_eq(profiles(st), 3);

    /* ann's userId with ben's anonymousId: no merge, the message is ann's */
    ingest(st, "{\"type\":\"identify\",\"userId\":\"ann\",\"anonymousId\":\"x\",\"traits\":{\"seen_x\":true}}");
    pid(st, STORAGE_ID_USER, "ann", a);
    pid(st, STORAGE_ID_USER, "ben", b);
    pid(st, STORAGE_ID_ANONYMOUS, "x", x);
    ck_assert_str_ne(a, b);
    ck_assert_str_eq(x, b);
    ck_assert(has_trait(st, STORAGE_ID_USER, "ann", "seen_x"));
    ck_assert(!has_trait(st, STORAGE_ID_USER, "ann", "ben_only"));
    ck_assert(!has_trait(st, STORAGE_ID_USER, "ben", "seen_x"));
    ck_assert_uint_eq(profiles(st), 3);

    /* an anonymous profile still merges into a userId's */
    ingest(st, "{\"type\":\"identify\",\"userId\":\"ann\",\"anonymousId\":\"y\"}");
    pid(st, STORAGE_ID_ANONYMOUS, "y", y);
    ck_assert_str_eq(y, a);
    ck_assert(has_trait(st, STORAGE_ID_USER, "ann", "y_only"));
    ck_assert_uint_eq(profiles(st), 2);
    test_db_close(st, path);
}
END_TEST

/* alias is the explicit override: it joins userIds past the limit. */
START_TEST(test_alias_joins_userids)
{
    char *path, a[64], b[64], c[64];
    storage_t *st = test_db_open("ids.db", &path);
    ingest(st, "{\"type\":\"identify\",\"userId\":\"old\",\"anonymousId\":\"dev\",\"traits\":{\"plan\":\"free\"}}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"new\",\"traits\":{\"city\":\"York\"}}");
    ingest(st, "{\"type\":\"alias\",\"previousId\":\"old\",\"userId\":\"new\"}");
    pid(st, STORAGE_ID_USER, "old", a);
    pid(st, STORAGE_ID_USER, "new", b);
    ck_assert_str_eq(a, b);
    ck_assert(has_trait(st, STORAGE_ID_USER, "new", "plan"));
    /* an unknown previousId becomes a second userId too */
    ingest(st, "{\"type\":\"alias\",\"previousId\":\"older\",\"userId\":\"new\"}");
    pid(st, STORAGE_ID_USER, "older", c);
    ck_assert_str_eq(c, a);
    /* but a stranger on the device is still kept apart */
    ingest(st, "{\"type\":\"identify\",\"userId\":\"eve\",\"anonymousId\":\"dev\",\"traits\":{\"eve\":1}}");
    pid(st, STORAGE_ID_USER, "eve", c);
    ck_assert_str_ne(c, a);
    ck_assert(!has_trait(st, STORAGE_ID_USER, "eve", "plan"));
    ck_assert(!has_trait(st, STORAGE_ID_USER, "new", "eve"));
    test_db_close(st, path);
}
END_TEST

/* ---- configurable limits ------------------------------------------------------ */

START_TEST(test_limits_parse)
{
    storage_id_limits_t l = limits("");
    ck_assert_int_eq(l.max[STORAGE_ID_USER], 1);
    ck_assert_int_eq(l.max[STORAGE_ID_ANONYMOUS], 0);
    ck_assert_int_eq(l.max[STORAGE_ID_EMAIL], 0);
    l = limits(" email = 5 , anonymous_id=20,userId=unlimited");
    ck_assert_int_eq(l.max[STORAGE_ID_USER], 0);
    ck_assert_int_eq(l.max[STORAGE_ID_ANONYMOUS], 20);
    ck_assert_int_eq(l.max[STORAGE_ID_EMAIL], 5);
    l = limits(STORAGE_ID_LIMITS_DEFAULT);
    ck_assert_int_eq(l.max[STORAGE_ID_USER], 1);
    static const char *const bad[] = {"userId",  "userId=0", "userId=-1", "userId=1x",
                                      "phone=3", "email=",   "=3",        "email=99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[160] = "";
        ck_assert_msg(storage_id_limits_parse(bad[i], &l, err, sizeof(err)) == STORAGE_EINVAL, "accepted %s", bad[i]);
        ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
    }
}
END_TEST

START_TEST(test_limits_configurable)
{
    char *path, a[64], b[64], c[64];
    storage_t *st = test_db_open("ids.db", &path);
    storage_id_limits_t l = limits("userId=2,anonymousId=2,email=1");
    storage_set_id_limits(st, &l);
    /* two userIds may share a profile, not three */
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u1\",\"anonymousId\":\"k\"}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u2\",\"anonymousId\":\"k\"}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u3\",\"anonymousId\":\"k\"}");
    pid(st, STORAGE_ID_USER, "u1", a);
    pid(st, STORAGE_ID_USER, "u2", b);
    pid(st, STORAGE_ID_USER, "u3", c);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    /* a third anonymousId is not linked; the message still lands */
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u1\",\"anonymousId\":\"k2\"}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u1\",\"anonymousId\":\"k3\",\"traits\":{\"third\":1}}");
    pid(st, STORAGE_ID_ANONYMOUS, "k2", b);
    ck_assert_str_eq(b, a);
    pid(st, STORAGE_ID_ANONYMOUS, "k3", b);
    ck_assert_str_eq(b, "");
    ck_assert(has_trait(st, STORAGE_ID_USER, "u1", "third"));
    /* one email: a second one is a trait but leads nowhere */
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"one@example.com\"}}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"two@example.com\"}}");
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"email\":\"ONE@example.com\"}}");
    struct json_object *o = view(st, STORAGE_ID_EMAIL, "one@example.com", STORAGE_VIEW_TRAITS);
    ck_assert_ptr_nonnull(o);
    json_object_put(o);
    ck_assert_ptr_null(view(st, STORAGE_ID_EMAIL, "two@example.com", STORAGE_VIEW_TRAITS));

    /* back to the defaults: one userId */
    storage_set_id_limits(st, NULL);
    ingest(st, "{\"type\":\"identify\",\"userId\":\"u4\",\"anonymousId\":\"k2\"}");
    pid(st, STORAGE_ID_USER, "u4", b);
    ck_assert_str_ne(b, a);
    test_db_close(st, path);
}
END_TEST

/* ---- email matching ------------------------------------------------------------ */

START_TEST(test_email_attaches_within_limits)
{
    char *path, anon[64], got[64], msg[256];
    storage_t *st = test_db_open("ids.db", &path);
    /* twenty people share a placeholder email, then someone signs up with
     * it anonymously */
    for (int i = 0; i < 20; i++) {
        snprintf(msg, sizeof(msg), "{\"type\":\"identify\",\"userId\":\"p%d\",\"traits\":{\"email\":\"x@example.com\"}}", i);
        ingest(st, msg);
    }
    ingest(st, "{\"type\":\"identify\",\"anonymousId\":\"signup\",\"traits\":{\"email\":\"X@example.com\",\"newsletter\":1}}");
    pid(st, STORAGE_ID_ANONYMOUS, "signup", anon);
    /* the anonymous message joined the most recently active of them */
    pid(st, STORAGE_ID_USER, "p19", got);
    ck_assert_str_eq(anon, got);
    /* a new userId with the email joins a profile without a userId, never
     * one with */
    ingest(st, "{\"type\":\"page\",\"anonymousId\":\"walk-in\",\"context\":{\"traits\":{\"email\":\"x@example.com\"}}}");
    ck_assert_uint_eq(profiles(st), 20); /* walk-in joined p19's as well */
    ingest(st, "{\"type\":\"identify\",\"anonymousId\":\"fresh\"}");
    ingest(st, "{\"type\":\"identify\",\"anonymousId\":\"fresh\",\"traits\":{\"email\":\"x@example.com\"}}");
    pid(st, STORAGE_ID_ANONYMOUS, "fresh", anon);
    ingest(st, "{\"type\":\"identify\",\"userId\":\"newcomer\",\"traits\":{\"email\":\"x@example.com\"}}");
    pid(st, STORAGE_ID_USER, "newcomer", got);
    ck_assert_str_eq(got, anon);
    ck_assert_uint_eq(profiles(st), 21);
    ingest(st, "{\"type\":\"identify\",\"userId\":\"another\",\"traits\":{\"email\":\"x@example.com\"}}");
    ck_assert_uint_eq(profiles(st), 22);
    test_db_close(st, path);
}
END_TEST

/* ---- cost per message ------------------------------------------------------------ */

/* VM steps of storing msg in a transaction of its own, as the writer does. */
static uint64_t
steps_of(storage_t *st, const char *msg)
{
    uint64_t before = storage_vm_steps(st);
    ck_assert_int_eq(storage_begin(st), 0);
    ingest(st, msg);
    ck_assert_int_eq(storage_commit(st), 0);
    return storage_vm_steps(st) - before;
}

/* The steps of messages meeting an email that `sharing` profiles with
 * userIds share: [0] a new userId, [1] a new anonymousId. */
static void
email_costs(int sharing, uint64_t out[2])
{
    char *path, msg[256];
    storage_t *st = test_db_open("ids.db", &path);
    storage_combine_writes(st, true);
    ck_assert_int_eq(storage_begin(st), 0);
    for (int i = 0; i < sharing; i++) {
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"identify\",\"userId\":\"u%d\",\"traits\":{\"email\":\"placeholder@example.com\"},"
                 "\"timestamp\":\"2020-01-01T00:00:%02d.%03dZ\"}",
                 i, i / 1000, i % 1000);
        ingest(st, msg);
    }
    ck_assert_int_eq(storage_commit(st), 0);
    out[0] = out[1] = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"identify\",\"userId\":\"new-%d\",\"traits\":{\"email\":\"placeholder@example.com\"}}", k);
        uint64_t s = steps_of(st, msg);
        out[0] = s > out[0] ? s : out[0];
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"track\",\"anonymousId\":\"a-%d\",\"event\":\"Visit\",\"messageId\":\"m-%d\","
                 "\"context\":{\"traits\":{\"email\":\"placeholder@example.com\"}}}",
                 k, k);
        s = steps_of(st, msg);
        out[1] = s > out[1] ? s : out[1];
    }
    test_db_close(st, path);
}

/* Item 3 of issue 18: ingest was quadratic in the profiles sharing an email
 * (every one of them was read for each message). */
START_TEST(test_email_cost_flat)
{
    uint64_t small[2], large[2];
    email_costs(100, small);
    email_costs(2000, large);
    fprintf(stderr, "VM steps per message, 100 vs 2000 profiles sharing an email: userId %llu vs %llu, anonymousId %llu vs %llu\n",
            (unsigned long long)small[0], (unsigned long long)large[0], (unsigned long long)small[1], (unsigned long long)large[1]);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(large[i] <= small[i] + small[i] / 10, "message %d: %llu steps at 2000 sharing, %llu at 100", i,
                      (unsigned long long)large[i], (unsigned long long)small[i]);
}
END_TEST

/* The steps of a stranger's message on the device of a profile that
 * already holds `held` userIds (joined by alias, or from before limits). */
static uint64_t
held_cost(int held)
{
    char *path, msg[256];
    storage_t *st = test_db_open("ids.db", &path);
    ingest(st, "{\"type\":\"identify\",\"userId\":\"hub\",\"anonymousId\":\"shared-device\"}");
    ck_assert_int_eq(storage_begin(st), 0);
    for (int i = 0; i < held; i++) {
        snprintf(msg, sizeof(msg), "{\"type\":\"alias\",\"previousId\":\"old-%d\",\"userId\":\"hub\"}", i);
        ingest(st, msg);
    }
    ck_assert_int_eq(storage_commit(st), 0);
    uint64_t most = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(msg, sizeof(msg), "{\"type\":\"identify\",\"userId\":\"stranger-%d\",\"anonymousId\":\"shared-device\"}", k);
        uint64_t s = steps_of(st, msg);
        most = s > most ? s : most;
    }
    char hub[64], stranger[64];
    pid(st, STORAGE_ID_USER, "hub", hub);
    pid(st, STORAGE_ID_USER, "stranger-0", stranger);
    ck_assert_str_ne(hub, stranger);
    test_db_close(st, path);
    return most;
}

START_TEST(test_limit_check_cost_flat)
{
    uint64_t small = held_cost(10), large = held_cost(1000);
    fprintf(stderr, "VM steps of a stranger's message, 10 vs 1000 userIds held: %llu vs %llu\n", (unsigned long long)small,
            (unsigned long long)large);
    ck_assert_uint_le(large, small + small / 10);
}
END_TEST

/* ---- the server and the import --------------------------------------------------- */

static void
post_ok(int port, const char *path, const char *body)
{
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    test_resp_t r;
    json_object *j = test_post(port, path, h, body, strlen(body), &r);
    ck_assert_msg(r.status == 200, "POST %s -> %d %s", path, r.status, r.body);
    json_object_put(j);
    test_resp_free(&r);
}

/* A profile's view over HTTP: status, and the JSON (caller puts). */
static json_object *
get_view(int port, const char *path, int *status)
{
    char uri[256];
    test_resp_t r;
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", path);
    json_object *j = test_get(port, uri, tok, &r);
    *status = r.status;
    test_resp_free(&r);
    return j;
}

START_TEST(test_http_kiosk)
{
    post_ok(srv.port, BASE "/identify",
            "{\"userId\":\"h-alice\",\"anonymousId\":\"h-kiosk\",\"traits\":{\"alice_secret\":\"A1\"}}");
    post_ok(srv.port, BASE "/identify", "{\"userId\":\"h-bob\",\"anonymousId\":\"h-kiosk\"}");
    post_ok(srv.port, BASE "/track", "{\"userId\":\"h-bob\",\"anonymousId\":\"h-kiosk\",\"event\":\"Paid\"}");
    int status;
    json_object *bob = get_view(srv.port, "userId:h-bob/metadata", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_null(test_jget(bob, "alice_secret"));
    ck_assert_ptr_nonnull(test_jget(bob, "lastEvent.paid"));
    json_object *alice = get_view(srv.port, "userId:h-alice/metadata", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(test_jstr(alice, "alice_secret"), "A1");
    ck_assert_ptr_null(test_jget(alice, "lastEvent.paid"));
    json_object *kiosk = get_view(srv.port, "anonymousId:h-kiosk/traits", &status);
    ck_assert_str_eq(test_jstr(kiosk, "id"), test_jstr(alice, "id"));
    ck_assert_str_ne(test_jstr(bob, "id"), test_jstr(alice, "id"));
    json_object_put(bob);
    json_object_put(alice);
    json_object_put(kiosk);
}
END_TEST

START_TEST(test_http_limits_flag)
{
    /* a bad value stops startup, naming the setting */
    char *db2 = test_tmp_path("limits.db"), *err = NULL;
    const char *bad[] = {"serve", "--listen", "127.0.0.1:0", "--db", db2, "--id-limits", "userId=0", NULL};
    ck_assert_int_ne(test_cli(bad, NULL, NULL, &err), 0);
    ck_assert_msg(err != NULL && strstr(err, "id-limits") != NULL, "stderr: %s", err != NULL ? err : "");
    free(err);

    /* userId=2 on the server: two people on one device share a profile */
    test_server_t s2;
    const char *extra[] = {"--id-limits", "userId=2", NULL};
    test_server_start(&s2, srv_db, extra);
    post_ok(s2.port, BASE "/identify", "{\"userId\":\"l-one\",\"anonymousId\":\"l-dev\",\"traits\":{\"one\":1}}");
    post_ok(s2.port, BASE "/identify", "{\"userId\":\"l-two\",\"anonymousId\":\"l-dev\"}");
    post_ok(s2.port, BASE "/identify", "{\"userId\":\"l-three\",\"anonymousId\":\"l-dev\"}");
    int status;
    json_object *two = get_view(s2.port, "userId:l-two/traits", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(test_jget(two, "one"));
    json_object_put(two);
    json_object *three = get_view(s2.port, "userId:l-three/traits", &status);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_null(test_jget(three, "one"));
    json_object_put(three);
    test_server_stop(&s2);
    test_rm_db(db2);
    free(db2);
}
END_TEST

/* Imports the kiosk lines with the given extra flags; returns the number
 * of profiles the tenant then has. */
static size_t
import_kiosk(const char *flag, const char *value)
{
    char *in = test_tmp_path("kiosk.ndjson"), *db2 = test_tmp_path("import.db");
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"type\":\"identify\",\"userId\":\"alice\",\"anonymousId\":\"kiosk-7\",\"traits\":{\"alice_secret\":\"A1\"}}\n"
          "{\"type\":\"identify\",\"userId\":\"bob\",\"anonymousId\":\"kiosk-7\"}\n",
          f);
    fclose(f);
    const char *argv[] = {"import",  "--db", db2,  "--client", "kiosk", "--account", "shop",
                          "--brand", "MAIN", flag, value,      in,      NULL};
    if (flag == NULL)
        argv[9] = in, argv[10] = NULL;
    ck_assert_int_eq(test_cli(argv, NULL, NULL, NULL), 0);
    storage_t *st = NULL;
    char err[256];
    ck_assert_int_eq(storage_open(&st, db2, 0, err, sizeof(err)), 0);
    size_t n = profiles(st);
    if (n == 2)
        ck_assert(!has_trait(st, STORAGE_ID_USER, "bob", "alice_secret"));
    storage_close(st);
    test_rm_db(db2);
    unlink(in);
    free(in);
    free(db2);
    return n;
}

START_TEST(test_import_limits_flag)
{
    ck_assert_uint_eq(import_kiosk(NULL, NULL), 2);
    ck_assert_uint_eq(import_kiosk("--id-limits", "userId=2"), 1);
    const char *argv[] = {"import",  "--db", "/nonexistent/x.db", "--client", "c", "--account", "a",
                          "--brand", "b",    "--id-limits",       "bogus=1",  "-", NULL};
    char *err = NULL;
    ck_assert_int_ne(test_cli(argv, NULL, NULL, &err), 0);
    ck_assert_msg(err != NULL && strstr(err, "id-limits") != NULL, "stderr: %s", err != NULL ? err : "");
    free(err);
}
END_TEST

static Suite *
identity_suite(void)
{
    Suite *s = suite_create("identity_rules");
    TCase *tc = tcase_create("storage");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_kiosk_keeps_strangers_apart);
    tcase_add_test(tc, test_profiles_with_userids_stay_apart);
    tcase_add_test(tc, test_alias_joins_userids);
    tcase_add_test(tc, test_limits_parse);
    tcase_add_test(tc, test_limits_configurable);
    tcase_add_test(tc, test_email_attaches_within_limits);
    tcase_add_test(tc, test_email_cost_flat);
    tcase_add_test(tc, test_limit_check_cost_flat);
    suite_add_tcase(s, tc);
    TCase *http = tcase_create("http");
    tcase_set_timeout(http, 120);
    tcase_add_test(http, test_http_kiosk);
    tcase_add_test(http, test_http_limits_flag);
    tcase_add_test(http, test_import_limits_flag);
    suite_add_tcase(s, http);
    return s;
}

int
main(void)
{
    tenant = storage_tenant("kiosk", "shop", "MAIN");
    srv_db = test_tmp_path("http.db");
    test_token_create(srv_db, "kiosk", "shop", "MAIN", tok);
    test_server_start(&srv, srv_db, NULL);
    int failed = test_run_suite(identity_suite());
    test_server_stop(&srv);
    test_rm_db(srv_db);
    free(srv_db);
    return failed == 0 ? 0 : 1;
}
