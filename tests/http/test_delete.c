/* test_delete.c -- erasure over real HTTP and the CLI: DELETE
 * .../profiles/{profile} answers 200 / 404 / 400 (email), every read route
 * then answers 404 for every former id, a scroll opened before the delete
 * is gone (400, as any unknown scrollId), other profiles and another
 * tenant's same ids are untouched, a suppressed id's messages are
 * acknowledged and not stored and counted in /metrics; `profiled profile
 * delete` and `profiled suppression list|remove` on a file, also under a
 * running server. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/WEB/v1"
#define OTHER "/track/acme/shop/OTHER/v1"

static test_server_t srv;
static char *db;
static char tok[128];          /* acme/shop/WEB */
static char tok_other[128];    /* acme/shop/OTHER */
static char tok_nodelete[128]; /* acme/shop/WEB, read and ingest only */

static int
request(const char *method, const char *uri, const char *token, const char *body, test_resp_t *r, json_object **j)
{
    const char *h[] = {"content-type", "application/json", "auth-token", token, NULL};
    const char *none[] = {"content-type", "application/json", NULL};
    ck_assert_int_eq(test_http(srv.port, method, uri, token != NULL ? h : none, body, body != NULL ? strlen(body) : 0, r), 0);
    *j = test_json(r);
    return r->status;
}

static void
post_ok(const char *uri, const char *token, const char *body)
{
    test_resp_t r;
    json_object *j;
    int status = request("POST", uri, token, body, &r, &j);
    ck_assert_msg(status == 200, "POST %s -> %d %s", uri, status, r.body);
    ck_assert(json_object_get_boolean(test_jget(j, "success")));
    json_object_put(j);
    test_resp_free(&r);
}

/* DELETE of a profile: the status, with the error code checked when not 200. */
static void
delete_expect(const char *profile, int status, const char *code)
{
    char uri[512];
    test_resp_t r;
    json_object *j;
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", profile);
    request("DELETE", uri, tok, NULL, &r, &j);
    if (status == 200) {
        ck_assert_msg(r.status == 200, "DELETE %s -> %d %s", profile, r.status, r.body);
        ck_assert(json_object_get_boolean(test_jget(j, "success")));
        ck_assert_ptr_nonnull(test_header(&r, "x-amzn-requestid"));
    } else {
        test_assert_error(&r, j, status, code);
    }
    json_object_put(j);
    test_resp_free(&r);
}

/* GET base/profiles/<profile><route>: its status. */
static int
get_status(const char *base, const char *token, const char *profile, const char *route)
{
    char uri[512];
    test_resp_t r;
    snprintf(uri, sizeof(uri), "%s/profiles/%s%s", base, profile, route);
    json_object *j = test_get(srv.port, uri, token, &r);
    int status = r.status;
    if (status != 200)
        test_assert_error(&r, j, status, status == 404 ? "not_found" : "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
    return status;
}

static const char *const read_routes[] = {"/traits", "/metadata", "/meta", "/audiences", "/external_ids", "/events"};

static void
assert_gone(const char *profile)
{
    for (size_t i = 0; i < sizeof(read_routes) / sizeof(read_routes[0]); i++)
        ck_assert_msg(get_status(BASE, tok, profile, read_routes[i]) == 404, "GET %s%s is not 404", profile, read_routes[i]);
}

static void
assert_there(const char *base, const char *token, const char *profile)
{
    for (size_t i = 0; i < sizeof(read_routes) / sizeof(read_routes[0]); i++)
        ck_assert_msg(get_status(base, token, profile, read_routes[i]) == 200, "GET %s%s is not 200", profile, read_routes[i]);
}

/* The value of a counter line "name value" of /metrics; -1 when absent. */
static long long
metric(const char *name)
{
    test_resp_t r;
    ck_assert_int_eq(test_http(srv.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    long long v = -1;
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(r.body, key);
    if (p != NULL)
        v = strtoll(p + strlen(key), NULL, 10);
    test_resp_free(&r);
    return v;
}

START_TEST(test_delete_route)
{
    post_ok(BASE "/identify", tok,
            "{\"userId\":\"alice\",\"anonymousId\":\"a1\",\"messageId\":\"d-1\",\"traits\":{\"email\":\"alice@example.com\"}}");
    post_ok(BASE "/batch", tok,
            "{\"batch\":[{\"type\":\"track\",\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"d-2\"},"
            "{\"type\":\"page\",\"anonymousId\":\"a1\",\"name\":\"Home\",\"messageId\":\"d-3\"},"
            "{\"type\":\"track\",\"userId\":\"alice\",\"event\":\"Bought\",\"messageId\":\"d-4\"}]}");
    post_ok(BASE "/identify", tok, "{\"userId\":\"bob\",\"traits\":{\"email\":\"bob@example.com\"}}");
    post_ok(OTHER "/identify", tok_other,
            "{\"userId\":\"alice\",\"anonymousId\":\"a1\",\"traits\":{\"email\":\"alice@example.com\"}}");

    test_resp_t r;
    json_object *j = test_get(srv.port, BASE "/profiles/userId:alice/traits", tok, &r);
    ck_assert_int_eq(r.status, 200);
    char uuid[64], byid[80];
    snprintf(uuid, sizeof(uuid), "%s", test_jstr(j, "id"));
    snprintf(byid, sizeof(byid), "id:%s", uuid);
    json_object_put(j);
    test_resp_free(&r);
    /* a scroll of alice's events, one a page, opened before the delete */
    j = test_get(srv.port, BASE "/profiles/userId:alice/events?limit=1", tok, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_object_array_length(test_jget(j, "data")), 1);
    char scroll[256];
    snprintf(scroll, sizeof(scroll), BASE "/profiles/userId:alice/events?scrollId=%s", test_jstr(j, "scrollId"));
    json_object_put(j);
    test_resp_free(&r);
    long long suppressed = metric("profiled_suppressed_messages_total");
    ck_assert_int_eq(suppressed, 0);

    /* refused: an email, malformed ids, no token; unknown: 404 */
    delete_expect("email:alice@example.com", 400, "validation_error");
    delete_expect("alice", 400, "validation_error");
    delete_expect("colour:alice", 400, "validation_error");
    delete_expect("userId:nobody", 404, "not_found");
    char uri[512];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:alice");
    ck_assert_int_eq(request("DELETE", uri, NULL, NULL, &r, &j), 401);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(request("DELETE", "/track/acme/shop/OTHER/v1/profiles/userId:alice", tok, NULL, &r, &j), 403);
    json_object_put(j);
    test_resp_free(&r);
    /* a token without the delete permission (the default read,ingest) */
    ck_assert_int_eq(request("DELETE", uri, tok_nodelete, NULL, &r, &j), 403);
    ck_assert_str_eq(test_jstr(j, "error.message"), "This token may not delete profiles.");
    json_object_put(j);
    test_resp_free(&r);
    assert_there(BASE, tok, "userId:alice");

    delete_expect("userId:alice", 200, NULL);

    /* every read route, every former id: 404 */
    assert_gone("userId:alice");
    assert_gone("user_id:alice");
    assert_gone("anonymousId:a1");
    assert_gone("email:alice@example.com");
    assert_gone(byid);
    /* the scroll is gone: its next page is an unknown scrollId's 400 */
    j = test_get(srv.port, scroll, tok, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
    /* deleted once: then not found by any of its ids */
    delete_expect("userId:alice", 404, "not_found");
    delete_expect("anonymousId:a1", 404, "not_found");
    delete_expect(byid, 404, "not_found");
    /* the others are untouched */
    assert_there(BASE, tok, "userId:bob");
    assert_there(OTHER, tok_other, "userId:alice");
    assert_there(OTHER, tok_other, "anonymousId:a1");
    /* the list no longer shows alice */
    j = test_get(srv.port, BASE "/profiles", tok, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_object_array_length(test_jget(j, "data")), 1);
    ck_assert_str_eq(test_jstr(j, "data.0.externalId"), "bob");
    json_object_put(j);
    test_resp_free(&r);

    /* a re-sent message and new ones with her ids: acknowledged, not
     * stored, counted */
    post_ok(BASE "/track", tok, "{\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"d-2\"}");
    post_ok(BASE "/batch", tok,
            "{\"batch\":[{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"Viewed\",\"messageId\":\"d-9\"},"
            "{\"type\":\"identify\",\"userId\":\"bob\",\"traits\":{\"plan\":\"pro\"}}]}");
    post_ok(BASE "/alias", tok, "{\"previousId\":\"a1\",\"userId\":\"bob\"}");
    assert_gone("userId:alice");
    assert_gone("anonymousId:a1");
    ck_assert_int_eq(metric("profiled_suppressed_messages_total"), 3);
    j = test_get(srv.port, BASE "/profiles/userId:bob/external_ids", tok, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_object_array_length(test_jget(j, "externalIds")), 3); /* userId, email, id: no a1 */
    json_object_put(j);
    test_resp_free(&r);
    j = test_get(srv.port, BASE "/profiles/userId:bob/traits", tok, &r);
    ck_assert_str_eq(test_jstr(j, "plan"), "pro"); /* bob's message in the same batch went in */
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

/* The CLI on a file of its own, then on the running server's. */
START_TEST(test_cli_commands)
{
    char *file = test_tmp_path("cli.db"), *nd = test_tmp_path("in.ndjson");
    FILE *f = fopen(nd, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"type\":\"identify\",\"userId\":\"carol\",\"anonymousId\":\"c1\",\"traits\":{\"email\":\"c@example.com\"}}\n"
               "{\"type\":\"track\",\"userId\":\"carol\",\"event\":\"Viewed\",\"messageId\":\"c-1\"}\n"
               "{\"type\":\"identify\",\"userId\":\"dan\"}\n");
    fclose(f);
    const char *imp[] = {"import", "--db", file, "--client", "acme", "--account", "shop", "--brand", "CLI", nd, NULL};
    ck_assert_int_eq(test_cli(imp, NULL, NULL, NULL), 0);

#define TENANT "--db", file, "--client", "acme", "--account", "shop", "--brand", "CLI"
    char *out = NULL, *err = NULL;
    const char *del_email[] = {"profile", "delete", TENANT, "email:c@example.com", NULL};
    ck_assert_int_eq(test_cli(del_email, NULL, NULL, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "userId, anonymousId or id"));
    free(err);
    const char *del_none[] = {"profile", "delete", TENANT, NULL};
    ck_assert_int_eq(test_cli(del_none, NULL, NULL, NULL), 2);
    const char *del_bad[] = {"profile", "delete", TENANT, "carol", NULL};
    ck_assert_int_eq(test_cli(del_bad, NULL, NULL, NULL), 2);
    const char *del_nobrand[] = {"profile", "delete", "--db", file, "--client", "acme", "--account", "shop", "userId:carol", NULL};
    ck_assert_int_eq(test_cli(del_nobrand, NULL, NULL, NULL), 2);
    const char *empty[] = {"suppression", "list", TENANT, NULL};
    ck_assert_int_eq(test_cli(empty, NULL, &out, NULL), 0);
    ck_assert_str_eq(out, "");
    free(out);

    const char *del[] = {"profile", "delete", TENANT, "anonymousId:c1", NULL};
    ck_assert_int_eq(test_cli(del, NULL, NULL, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "deleted"));
    free(err);
    ck_assert_int_eq(test_cli(del, NULL, NULL, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "no profile"));
    free(err);

    const char *list[] = {"suppression", "list", TENANT, NULL};
    ck_assert_int_eq(test_cli(list, NULL, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "userId:carol\t", 13) == 0 && strstr(out, "\nanonymousId:c1\t") != NULL, "list: %s", out);
    ck_assert_int_eq((int)(strchr(strchr(out, '\n') + 1, '\n') - out + 1), (int)strlen(out)); /* two lines */
    free(out);

    /* a re-import is acknowledged (exit 0) and stores nothing of carol */
    ck_assert_int_eq(test_cli(imp, NULL, NULL, NULL), 0);
    const char *del_carol[] = {"profile", "delete", TENANT, "userId:carol", NULL};
    ck_assert_int_eq(test_cli(del_carol, NULL, NULL, NULL), 1);

    const char *rm[] = {"suppression", "remove", TENANT, "userId:carol", NULL};
    ck_assert_int_eq(test_cli(rm, NULL, NULL, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "removed"));
    free(err);
    ck_assert_int_eq(test_cli(rm, NULL, NULL, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "not on the suppression list"));
    free(err);
    const char *rm_email[] = {"suppression", "remove", TENANT, "email:c@example.com", NULL};
    ck_assert_int_eq(test_cli(rm_email, NULL, NULL, NULL), 2);
    const char *rm_none[] = {"suppression", "remove", TENANT, NULL};
    ck_assert_int_eq(test_cli(rm_none, NULL, NULL, NULL), 2);
    const char *bad_sub[] = {"suppression", "purge", TENANT, NULL};
    ck_assert_int_eq(test_cli(bad_sub, NULL, NULL, NULL), 2);
    ck_assert_int_eq(test_cli(list, NULL, &out, NULL), 0);
    ck_assert_msg(strncmp(out, "anonymousId:c1\t", 15) == 0 && strchr(out, '\n') == out + strlen(out) - 1, "list: %s", out);
    free(out);
    /* carol's messages go in again (c1 is still suppressed: the line with
     * it is not stored, the track is) */
    ck_assert_int_eq(test_cli(imp, NULL, NULL, NULL), 0);
    ck_assert_int_eq(test_cli(del_carol, NULL, NULL, NULL), 0);
    const char *del_dan[] = {"profile", "delete", TENANT, "userId:dan", NULL};
    ck_assert_int_eq(test_cli(del_dan, NULL, NULL, NULL), 0);
#undef TENANT
    const char *help[] = {"profile", "--help", NULL};
    ck_assert_int_eq(test_cli(help, NULL, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "profiled profile delete"));
    free(out);
    const char *shelp[] = {"suppression", "--help", NULL};
    ck_assert_int_eq(test_cli(shelp, NULL, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "profiled suppression remove"));
    free(out);
    test_rm_db(file);
    free(file);
    remove(nd);
    free(nd);

    /* under the running server: the CLI deletes, the API answers 404 and
     * refuses the id from then on */
    post_ok(BASE "/identify", tok, "{\"userId\":\"erin\",\"traits\":{\"plan\":\"pro\"}}");
    assert_there(BASE, tok, "userId:erin");
    const char *live[] = {"profile",   "delete", "--db",    db,    "--client",    "acme",
                          "--account", "shop",   "--brand", "WEB", "userId:erin", NULL};
    ck_assert_int_eq(test_cli(live, NULL, NULL, NULL), 0);
    assert_gone("userId:erin");
    long long before = metric("profiled_suppressed_messages_total");
    post_ok(BASE "/identify", tok, "{\"userId\":\"erin\",\"traits\":{\"plan\":\"free\"}}");
    assert_gone("userId:erin");
    ck_assert_int_eq(metric("profiled_suppressed_messages_total"), before + 1);
}
END_TEST

static Suite *
delete_suite(void)
{
    Suite *s = suite_create("delete");
    TCase *tc = tcase_create("delete");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_delete_route);
    tcase_add_test(tc, test_cli_commands);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("delete.db");
    test_token_create_perms(db, "acme", "shop", "WEB", "read,ingest,delete", tok);
    test_token_create(db, "acme", "shop", "OTHER", tok_other);
    test_token_create(db, "acme", "shop", "WEB", tok_nodelete);
    const char *extra[] = {"--threads", "2", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(delete_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
