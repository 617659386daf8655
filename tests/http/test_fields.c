/* test_fields.c -- `?fields=` over real HTTP: traits, metadata and
 * audiences keep only the named members (in the body's order, values as
 * in the full answer), dotted paths into trait objects and into
 * "computed", unknown names absent, id and externalId always there; an
 * email lookup's {"data":[...]} filtered element by element; external_ids
 * and events ignore it as any parameter they do not take; the 400s
 * (empty list, empty name or segment, over the bounds). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/FLD/v1"

static test_server_t srv;
static char *db, *defs_path;
static char tok[128];

static const char *defs =
    "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"FLD\",\n"
    "  \"computedTraits\":[\n"
    "    {\"name\":\"orders_30d\",\"kind\":\"count\",\"eventAction\":\"order_completed\"},\n"
    "    {\"name\":\"emails_opened\",\"kind\":\"count\",\"eventAction\":\"email_opened\"}],\n"
    "  \"audiences\":[{\"name\":\"buyers\",\"rule\":{\"computed\":\"orders_30d\",\"op\":\"gte\",\"value\":1}}]}]}\n";

static void
post_ok(const char *uri, const char *body)
{
    test_post_ok(srv.port, tok, uri, body);
}

/* GET BASE/profiles/<path>: the parsed answer, which must be a 200. */
static json_object *
get_ok(const char *path)
{
    char uri[2048];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", path);
    test_resp_t r;
    json_object *j = test_get(srv.port, uri, tok, &r);
    ck_assert_msg(r.status == 200, "GET %s -> %d %s", uri, r.status, r.body);
    ck_assert_ptr_nonnull(j);
    test_resp_free(&r);
    return j;
}

/* Whether name is one of the comma-separated names of list. */
static int
listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p != '\0';) {
        const char *c = strchr(p, ',');
        size_t len = c != NULL ? (size_t)(c - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        if (c == NULL)
            break;
        p = c + 1;
    }
    return 0;
}

/* got holds exactly the members of full that keep lists (plus id and
 * externalId), in full's order, with full's values. */
static void
assert_subset(json_object *full, json_object *got, const char *keep)
{
    ck_assert(json_object_is_type(got, json_type_object));
    struct json_object_iter it;
    size_t want = 0;
    json_object_object_foreachC(full, it)
    {
        if (!listed(keep, it.key) && strcmp(it.key, "id") != 0 && strcmp(it.key, "externalId") != 0)
            continue;
        want++;
        json_object *v = NULL;
        ck_assert_msg(json_object_object_get_ex(got, it.key, &v), "%s is missing", it.key);
        ck_assert_msg(json_object_equal(v, it.val), "%s differs", it.key);
    }
    ck_assert_uint_eq((size_t)json_object_object_length(got), want);
    /* and in the same order */
    struct json_object_iter g;
    const char *order[128];
    size_t n = 0;
    json_object_object_foreachC(got, g) order[n++] = g.key;
    size_t i = 0;
    json_object_object_foreachC(full, it)
    {
        if (i < n && strcmp(it.key, order[i]) == 0)
            i++;
    }
    ck_assert_uint_eq(i, n);
}

/* The member names of object j, comma-joined, into out. */
static const char *
keys_of(json_object *j, char *out, size_t cap)
{
    struct json_object_iter it;
    size_t len = 0;
    out[0] = '\0';
    json_object_object_foreachC(j, it) len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "", it.key);
    return out;
}

/* The profiles every test reads (run first: the server outlives each test). */
START_TEST(test_seed)
{
    post_ok(BASE "/identify",
            "{\"userId\":\"ann\",\"traits\":{\"firstName\":\"Ann\",\"lastName\":\"Lee\",\"email\":\"ann@example.com\","
            "\"plan\":\"pro\",\"score\":1.50e2,\"marketingPreferences\":{\"email\":true,\"sms\":false},"
            "\"address\":{\"city\":\"Berlin\",\"geo\":{\"lat\":52.5,\"lon\":13.4}}}}");
    post_ok(BASE "/track", "{\"userId\":\"ann\",\"event\":\"Order Completed\",\"properties\":{\"total\":5}}");
    post_ok(BASE "/track", "{\"userId\":\"ann\",\"event\":\"Order Completed\",\"properties\":{\"total\":7}}");
    post_ok(BASE "/track", "{\"userId\":\"ann\",\"event\":\"Email Opened\"}");
    post_ok(BASE "/identify", "{\"userId\":\"s1\",\"traits\":{\"email\":\"shared@example.com\",\"plan\":\"free\",\"x\":1}}");
    post_ok(BASE "/identify", "{\"userId\":\"s2\",\"traits\":{\"email\":\"shared@example.com\",\"plan\":\"pro\",\"y\":2}}");
}
END_TEST

START_TEST(test_select_views)
{
    char keys[1024];
    static const char *const views[] = {"traits", "metadata", "audiences"};
    for (size_t v = 0; v < 3; v++) {
        char path[256];
        snprintf(path, sizeof(path), "userId:ann/%s", views[v]);
        json_object *full = get_ok(path);
        static const char *const lists[] = {
            "firstName,email", "email,firstName,plan", "marketingPreferences", "audiences,createdTime,lastName", "nope",
            "plan,nope,zzz"};
        for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
            snprintf(path, sizeof(path), "userId:ann/%s?fields=%s", views[v], lists[l]);
            json_object *got = get_ok(path);
            assert_subset(full, got, lists[l]);
            json_object_put(got);
        }
        json_object_put(full);
    }

    /* exact shapes on traits: order of the body, id and externalId kept */
    json_object *j = get_ok("userId:ann/traits?fields=nope,computed.nope,marketingPreferences.nope,firstName.x");
    ck_assert_str_eq(keys_of(j, keys, sizeof(keys)), "id,externalId");
    ck_assert_str_eq(test_jstr(j, "externalId"), "ann");
    json_object_put(j);

    /* dotted paths: the object with only the member named */
    j = get_ok("userId:ann/traits?fields=marketingPreferences.email,computed.orders_30d");
    json_object *mp = test_jget(j, "marketingPreferences");
    ck_assert_str_eq(keys_of(mp, keys, sizeof(keys)), "email");
    ck_assert(json_object_get_boolean(test_jget(j, "marketingPreferences.email")));
    json_object *c = test_jget(j, "computed");
    ck_assert_str_eq(keys_of(c, keys, sizeof(keys)), "orders_30d");
    ck_assert_int_eq(json_object_get_int(test_jget(j, "computed.orders_30d")), 2);
    ck_assert_uint_eq((size_t)json_object_object_length(j), 4);
    json_object_put(j);

    /* the whole value of a named object; nesting two deep */
    j = get_ok("userId:ann/traits?fields=marketingPreferences,address.geo.lat");
    ck_assert_str_eq(keys_of(test_jget(j, "marketingPreferences"), keys, sizeof(keys)), "email,sms");
    ck_assert_str_eq(keys_of(test_jget(j, "address"), keys, sizeof(keys)), "geo");
    ck_assert_str_eq(keys_of(test_jget(j, "address.geo"), keys, sizeof(keys)), "lat");
    ck_assert_double_eq(json_object_get_double(test_jget(j, "address.geo.lat")), 52.5);
    json_object_put(j);

    /* numbers exactly as stored, not re-serialised */
    char uri[256];
    test_resp_t r;
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:ann/traits?fields=score");
    j = test_get(srv.port, uri, tok, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"score\":1.50e2") != NULL, "%s", r.body);
    json_object_put(j);
    test_resp_free(&r);

    /* metadata and audiences: their own members are selectable too */
    j = get_ok("userId:ann/metadata?fields=audiences,createdTime");
    ck_assert_str_eq(keys_of(j, keys, sizeof(keys)), "id,externalId,createdTime,audiences");
    json_object_put(j);
    j = get_ok("userId:ann/audiences?fields=audiences");
    ck_assert_str_eq(keys_of(j, keys, sizeof(keys)), "id,externalId,audiences");
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(test_jget(j, "audiences"), 0)), "buyers");
    json_object_put(j);
}
END_TEST

START_TEST(test_select_email)
{
    char keys[1024];
    json_object *full = get_ok("email:shared@example.com/traits");
    json_object *j = get_ok("email:shared@example.com/traits?fields=plan,computed.emails_opened");
    json_object *data = test_jget(j, "data");
    ck_assert_uint_eq(json_object_array_length(data), 2);
    ck_assert_uint_eq(json_object_object_length(j), 3); /* data, from, size: the page's members are kept */
    ck_assert_int_eq(json_object_get_int(test_jget(j, "size")), 100);
    for (size_t i = 0; i < 2; i++) {
        json_object *e = json_object_array_get_idx(data, i);
        json_object *f = json_object_array_get_idx(test_jget(full, "data"), i);
        ck_assert_str_eq(test_jstr(e, "id"), test_jstr(f, "id"));
        ck_assert_str_eq(keys_of(test_jget(e, "computed"), keys, sizeof(keys)), "emails_opened");
        json_object *plan = NULL;
        ck_assert(json_object_object_get_ex(e, "plan", &plan));
        ck_assert_str_eq(json_object_get_string(plan), test_jstr(f, "plan"));
    }
    json_object_put(j);
    json_object_put(full);
}
END_TEST

/* GET BASE/profiles/<path>: a 400 of code whose message contains part. */
static void
get_refused(const char *path, const char *code, const char *part)
{
    char uri[2048];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", path);
    test_resp_t r;
    json_object *j = test_get(srv.port, uri, tok, &r);
    test_assert_error(&r, j, 400, code);
    ck_assert_msg(strstr(test_jstr(j, "error.message"), part) != NULL, "%s: %s", uri, test_jstr(j, "error.message"));
    ck_assert_ptr_nonnull(test_header(&r, "x-amzn-requestid"));
    json_object_put(j);
    test_resp_free(&r);
}

/* Where `fields` does not apply it is refused, naming why (it used to be
 * ignored): external_ids has a fixed shape, events no such parameter. */
START_TEST(test_refused_elsewhere)
{
    static const char *const lists[] = {"plan", "", "a,,b"};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "userId:ann/external_ids?fields=%s", lists[i]);
        get_refused(path, "invalid_request_error", "does not apply to external_ids");
    }
    get_refused("userId:ann/events?fields=a,,b", "invalid_request_error", "applies only to traits, metadata, audiences");
}
END_TEST

START_TEST(test_refused)
{
    char many[65 * 3 + 1], longname[300], deep[64];
    size_t len = 0;
    for (int i = 0; i < 65; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%s%c", i ? "," : "", 'a' + i % 26);
    memset(longname, 'x', 257);
    longname[257] = '\0';
    snprintf(deep, sizeof(deep), "a.b.c.d.e.f.g.h.i");
    const char *bad[] = {"", "a,,b", ",a", "a,", "a..b", ".a", many, longname, deep};
    static const char *const views[] = {"traits", "metadata", "audiences"};
    for (size_t v = 0; v < 3; v++)
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char uri[1024];
            snprintf(uri, sizeof(uri), BASE "/profiles/userId:ann/%s?fields=%s", views[v], bad[i]);
            test_resp_t r;
            json_object *j = test_get(srv.port, uri, tok, &r);
            test_assert_error(&r, j, 400, "validation_error");
            ck_assert_msg(strstr(test_jstr(j, "error.message"), "'fields'") != NULL, "%s", r.body);
            ck_assert_ptr_nonnull(test_header(&r, "x-amzn-requestid"));
            json_object_put(j);
            test_resp_free(&r);
        }
    /* at the bounds: accepted */
    many[len - 2] = '\0'; /* 64 names */
    longname[256] = '\0';
    deep[15] = '\0'; /* 8 segments */
    const char *edge[] = {many, longname, deep, "fields"};
    for (size_t i = 0; i < 4; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "userId:ann/traits?fields=%s", edge[i]);
        json_object_put(get_ok(path));
    }
    /* the id is checked first, and an unknown profile stays a 404 */
    char uri[256];
    test_resp_t r;
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:nobody/traits?fields=plan");
    json_object *j = test_get(srv.port, uri, tok, &r);
    test_assert_error(&r, j, 404, "not_found");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

static Suite *
fields_suite(void)
{
    Suite *s = suite_create("fields");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_seed);
    tcase_add_test(tc, test_select_views);
    tcase_add_test(tc, test_select_email);
    tcase_add_test(tc, test_refused_elsewhere);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("fields.db");
    defs_path = test_tmp_path("fields.defs.json");
    FILE *f = fopen(defs_path, "w");
    if (f == NULL || fputs(defs, f) < 0 || fclose(f) != 0)
        return 1;
    test_token_create(db, "acme", "shop", "FLD", tok);
    const char *extra[] = {"--definitions", defs_path, "--threads", "1", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(fields_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    remove(defs_path);
    free(defs_path);
    free(db);
    return failed == 0 ? 0 : 1;
}
