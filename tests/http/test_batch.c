/* test_batch.c -- the batch lookup over real HTTP: POST
 * .../profiles/batch/{traits,metadata,audiences,external_ids} answers each
 * id in request order with the single-id route's status and body, byte
 * for byte (good, unknown and malformed ids, an email of two profiles);
 * 1..100 ids (0 and 101: 400), malformed bodies 400, an unknown endpoint
 * 404, a token without read 403, and the charge of one request per 10 ids
 * against the token's bucket (the RateLimit fields, 429). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/WEB/v1"

static test_server_t srv;
static char *db;
static char tok[128];          /* read, ingest */
static char tok_ingest[128];   /* ingest only */
static char tok_rl[128];       /* rate 0.01/s, burst 25 */
static const char *query = ""; /* after the path, single and batch routes alike */

static json_object *
post(const char *uri, const char *token, const char *body, test_resp_t *r)
{
    const char *h[] = {"content-type", "application/json", "auth-token", token, NULL};
    ck_assert_int_eq(test_http(srv.port, "POST", uri, h, body, strlen(body), r), 0);
    return test_json(r);
}

/* Seeds a message (outside a test: no Check assertions). */
static void
post_ok(const char *uri, const char *body)
{
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    test_resp_t r;
    if (test_http(srv.port, "POST", uri, h, body, strlen(body), &r) != 0 || r.status != 200) {
        fprintf(stderr, "POST %s -> %d %s\n", uri, r.status, r.body != NULL ? r.body : "");
        abort();
    }
    test_resp_free(&r);
}

/* Appends s to the growing text *buf. */
static void
cat(char **buf, size_t *len, const char *s, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    ck_assert_ptr_nonnull(*buf);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* The batch entry the single-id route's answer for path_id (as in a path)
 * calls for, with profileId as given in the body (JSON text, quoted). */
static void
expect_entry(char **buf, size_t *len, const char *endpoint, const char *path_id, const char *profile_json)
{
    char uri[512], tmp[1024];
    test_resp_t r;
    snprintf(uri, sizeof(uri), BASE "/profiles/%s/%s%s", path_id, endpoint, query);
    json_object *j = test_get(srv.port, uri, tok, &r);
    ck_assert_ptr_nonnull(j);
    if (*len > 0 && (*buf)[*len - 1] == '}')
        cat(buf, len, ",", 1);
    int n = snprintf(tmp, sizeof(tmp), "{\"profileId\":%s,\"status\":%d,", profile_json, r.status);
    cat(buf, len, tmp, (size_t)n);
    if (r.status == 200) {
        cat(buf, len, "\"result\":", 9);
        cat(buf, len, r.body, r.len);
    } else {
        ck_assert(r.status == 404 || r.status == 400);
        n = snprintf(tmp, sizeof(tmp), "\"error\":{\"code\":\"%s\",\"message\":\"%s\"}", test_jstr(j, "error.code"),
                     test_jstr(j, "error.message"));
        cat(buf, len, tmp, (size_t)n);
    }
    cat(buf, len, "}", 1);
    json_object_put(j);
    test_resp_free(&r);
}

/* A batch of ids (JSON strings, quoted; echo: as the answer writes them
 * back, NULL: the same) on endpoint, and what the single
 * route answers for the same ids in path form: the bodies are equal. */
static void
check_batch(const char *endpoint, const char *const *body_ids, const char *const *echo, const char *const *path_ids, size_t n)
{
    char *want = NULL, *body = NULL;
    size_t wlen = 0, blen = 0;
    cat(&want, &wlen, "{\"data\":[", 9);
    cat(&body, &blen, "{\"ids\":[", 8);
    for (size_t i = 0; i < n; i++) {
        expect_entry(&want, &wlen, endpoint, path_ids[i], echo != NULL ? echo[i] : body_ids[i]);
        if (i > 0)
            cat(&body, &blen, ",", 1);
        cat(&body, &blen, body_ids[i], strlen(body_ids[i]));
    }
    cat(&want, &wlen, "]}", 2);
    cat(&body, &blen, "]}", 2);
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/batch/%s%s", endpoint, query);
    test_resp_t r;
    json_object *j = post(uri, tok, body, &r);
    ck_assert_msg(r.status == 200, "%s -> %d %s", uri, r.status, r.body);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(test_header(&r, "content-type"), "application/json; charset=utf-8");
    ck_assert_ptr_nonnull(test_header(&r, "x-amzn-requestid"));
    ck_assert_str_eq(r.body, want);
    ck_assert_int_eq((int)r.len, (int)wlen);
    json_object_put(j);
    test_resp_free(&r);
    free(want);
    free(body);
}

static const char *const endpoints[] = {"traits", "metadata", "audiences", "external_ids"};

START_TEST(test_mixed_ids)
{
    const char *body_ids[] = {
        "\"userId:alice\"",   "\"userId:zz\"",      "\"bad\"", "\"nope:x\"",      "\"email:shared@example.com\"",
        "\"anonymousId:a1\"", "\"userId:\\ud800\"", "\":x\"",  "\"userId:carol\""};
    const char *path_ids[] = {"userId:alice",   "userId:zz",        "bad", "nope:x",      "email:shared@example.com",
                              "anonymousId:a1", "userId:%ED%A0%80", ":x",  "userId:carol"};
    size_t n = sizeof(body_ids) / sizeof(body_ids[0]);
    /* the lone surrogate is echoed as decoded: U+FFFD */
    const char *fix[sizeof(body_ids) / sizeof(body_ids[0])];
    memcpy(fix, body_ids, sizeof(fix));
    fix[6] = "\"userId:\xef\xbf\xbd\"";
    check_batch("traits", body_ids, fix, path_ids, n);

    /* the statuses, read back: 200 404 400 400 200 200 400 400 200 */
    test_resp_t r;
    json_object *j = post(BASE "/profiles/batch/traits", tok, "{\"ids\":[\"userId:alice\",\"userId:zz\",\"bad\"]}", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 3);
    ck_assert_str_eq(test_jstr(j, "data.0.profileId"), "userId:alice");
    ck_assert_int_eq(json_object_get_int(test_jget(j, "data.0.status")), 200);
    ck_assert_str_eq(test_jstr(j, "data.0.result.externalId"), "alice");
    ck_assert_int_eq(json_object_get_int(test_jget(j, "data.1.status")), 404);
    ck_assert_str_eq(test_jstr(j, "data.1.error.code"), "not_found");
    ck_assert_str_eq(test_jstr(j, "data.1.error.message"), "Profile was not found.");
    ck_assert_int_eq(json_object_get_int(test_jget(j, "data.2.status")), 400);
    ck_assert_str_eq(test_jstr(j, "data.2.error.code"), "validation_error");
    ck_assert_str_eq(test_jstr(j, "data.2.error.message"), "ProfileID must be in format of id_type:id");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_email_of_two)
{
    test_resp_t r;
    json_object *j = post(BASE "/profiles/batch/traits", tok, "{\"ids\":[\"email:SHARED@example.com\"]}", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "data.0.status")), 200);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data.0.result.data")), 2);
    json_object_put(j);
    test_resp_free(&r);
    const char *b[] = {"\"email:SHARED@example.com\""}, *p[] = {"email:SHARED@example.com"};
    check_batch("traits", b, NULL, p, 1);
}
END_TEST

START_TEST(test_each_endpoint)
{
    const char *body_ids[] = {"\"userId:alice\"", "\"email:shared@example.com\"", "\"userId:zz\"", "\"userId:bob\"", "\"id\""};
    const char *path_ids[] = {"userId:alice", "email:shared@example.com", "userId:zz", "userId:bob", "id"};
    for (size_t e = 0; e < sizeof(endpoints) / sizeof(endpoints[0]); e++)
        check_batch(endpoints[e], body_ids, NULL, path_ids, sizeof(body_ids) / sizeof(body_ids[0]));
}
END_TEST

/* {"ids":[n ids]} (userId:alice, userId:u1, ...). */
static char *
ids_body(int n)
{
    char *b = NULL, item[64];
    size_t len = 0;
    cat(&b, &len, "{\"ids\":[", 8);
    for (int i = 0; i < n; i++) {
        int k = i % 2 == 0 ? snprintf(item, sizeof(item), "%s\"userId:alice\"", i ? "," : "")
                           : snprintf(item, sizeof(item), ",\"userId:u%d\"", i);
        cat(&b, &len, item, (size_t)k);
    }
    cat(&b, &len, "]}", 2);
    return b;
}

static void
expect_error(const char *uri, const char *token, const char *body, int status, const char *code)
{
    test_resp_t r;
    json_object *j = post(uri, token, body, &r);
    test_assert_error(&r, j, status, code);
    ck_assert_ptr_nonnull(test_header(&r, "x-amzn-requestid"));
    json_object_put(j);
    test_resp_free(&r);
}

/* ?fields= applies to each result as on the single-id routes (the email
 * form element by element); a bad list is the call's 400, uncharged. */
START_TEST(test_fields)
{
    const char *body_ids[] = {"\"userId:alice\"", "\"email:shared@example.com\"", "\"userId:zz\"", "\"bad\""};
    const char *path_ids[] = {"userId:alice", "email:shared@example.com", "userId:zz", "bad"};
    query = "?fields=firstName,nope.x";
    for (size_t e = 0; e < 3; e++) /* not external_ids: below */
        check_batch(endpoints[e], body_ids, NULL, path_ids, sizeof(body_ids) / sizeof(body_ids[0]));
    query = "";
    /* external_ids has a fixed shape: `fields` is refused there, as on its
     * single route */
    expect_error(BASE "/profiles/batch/external_ids?fields=plan", tok, "{\"ids\":[\"userId:alice\"]}", 400,
                 "invalid_request_error");
    test_resp_t r;
    json_object *j = post(BASE "/profiles/batch/traits?fields=firstName", tok, "{\"ids\":[\"userId:alice\"]}", &r);
    ck_assert_int_eq(r.status, 200);
    json_object *res = test_jget(j, "data.0.result");
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(json_object_object_length(res), 3); /* id, externalId, firstName */
    ck_assert_ptr_nonnull(test_jstr(res, "firstName"));
    json_object_put(j);
    test_resp_free(&r);
    expect_error(BASE "/profiles/batch/traits?fields=a,,b", tok, "{\"ids\":[\"userId:alice\"]}", 400, "validation_error");
}
END_TEST

START_TEST(test_limits_and_bodies)
{
    char *b = ids_body(100);
    test_resp_t r;
    json_object *j = post(BASE "/profiles/batch/metadata", tok, b, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    json_object *data = test_jget(j, "data");
    ck_assert_int_eq((int)json_object_array_length(data), 100);
    for (int i = 0; i < 100; i++) {
        json_object *e = json_object_array_get_idx(data, (size_t)i);
        ck_assert_int_eq(json_object_get_int(test_jget(e, "status")), i % 2 == 0 ? 200 : 404);
    }
    ck_assert_str_eq(test_jstr(j, "data.99.profileId"), "userId:u99");
    json_object_put(j);
    test_resp_free(&r);
    free(b);

    b = ids_body(101);
    expect_error(BASE "/profiles/batch/traits", tok, b, 400, "validation_error");
    free(b);
    expect_error(BASE "/profiles/batch/traits", tok, "{\"ids\":[]}", 400, "validation_error");
    expect_error(BASE "/profiles/batch/traits", tok, "{}", 400, "validation_error");
    expect_error(BASE "/profiles/batch/traits", tok, "{\"ids\":\"userId:alice\"}", 400, "validation_error");
    expect_error(BASE "/profiles/batch/traits", tok, "{\"ids\":[\"userId:alice\",1]}", 400, "validation_error");
    expect_error(BASE "/profiles/batch/traits", tok, "{\"ids\":[[\"userId:alice\"]]}", 400, "validation_error");
    expect_error(BASE "/profiles/batch/traits", tok, "{\"ids\":[\"userId:a\"],\"ids\":[\"userId:b\"]}", 400, "validation_error");
    expect_error(BASE "/profiles/batch/traits", tok, "{\"ids\":[\"userId:alice\"", 400, "invalid_request_error");
    expect_error(BASE "/profiles/batch/traits", tok, "[\"userId:alice\"]", 400, "invalid_request_error");
    expect_error(BASE "/profiles/batch/traits", tok, "", 400, "invalid_request_error");
    expect_error(BASE "/profiles/batch/traits", tok, "not json", 400, "invalid_request_error");
    /* other members are ignored; blanks around are JSON */
    j = post(BASE "/profiles/batch/traits", tok, " {\"x\":1, \"ids\" : [ \"userId:alice\" ] } ", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "data.0.status")), 200);
    json_object_put(j);
    test_resp_free(&r);

    expect_error(BASE "/profiles/batch/events", tok, "{\"ids\":[\"userId:alice\"]}", 404, "invalid_request_error");
    expect_error(BASE "/profiles/batch/meta", tok, "{\"ids\":[\"userId:alice\"]}", 404, "invalid_request_error");
    /* the route needs read */
    expect_error(BASE "/profiles/batch/traits", tok_ingest, "{\"ids\":[\"userId:alice\"]}", 403, "authentication_error");
    expect_error(BASE "/profiles/batch/traits", "pd_nope", "{\"ids\":[\"userId:alice\"]}", 401, "authentication_error");
    /* another tenant's token */
    expect_error("/track/acme/shop/OTHER/v1/profiles/batch/traits", tok, "{\"ids\":[\"userId:alice\"]}", 403,
                 "authentication_error");
}
END_TEST

/* One call with tok_rl: its status and x-ratelimit-remaining. */
static int
charged(int n, long *remaining)
{
    char *b = ids_body(n);
    test_resp_t r;
    json_object *j = post(BASE "/profiles/batch/traits", tok_rl, b, &r);
    free(b);
    int status = r.status;
    ck_assert_str_eq(test_header(&r, "x-ratelimit-limit"), "25");
    *remaining = strtol(test_header(&r, "x-ratelimit-remaining"), NULL, 10);
    if (status == 429) {
        test_assert_error(&r, j, 429, "rate_limit_error");
        ck_assert_ptr_nonnull(test_header(&r, "retry-after"));
    } else {
        ck_assert_int_eq(status, 200);
        ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), n);
    }
    json_object_put(j);
    test_resp_free(&r);
    return status;
}

START_TEST(test_rate_cost)
{
    /* burst 25 at 0.01/s (one back per 100 s): 100 ids cost 10 */
    long rem;
    ck_assert_int_eq(charged(100, &rem), 200);
    ck_assert_int_eq(rem, 15);
    ck_assert_int_eq(charged(91, &rem), 200);
    ck_assert_int_eq(rem, 5);
    ck_assert_int_eq(charged(100, &rem), 429); /* 10 > 5: nothing taken */
    ck_assert_int_eq(rem, 0);
    ck_assert_int_eq(charged(41, &rem), 200); /* 5 */
    ck_assert_int_eq(rem, 0);
    ck_assert_int_eq(charged(1, &rem), 429);
    /* a refused body costs one too: still refused, so 429 first */
    test_resp_t r;
    json_object *j = post(BASE "/profiles/batch/traits", tok_rl, "{\"ids\":[]}", &r);
    test_assert_error(&r, j, 429, "rate_limit_error");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

static Suite *
batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mixed_ids);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_email_of_two);
    tcase_add_test(tc, test_each_endpoint);
    tcase_add_test(tc, test_limits_and_bodies);
    tcase_add_test(tc, test_rate_cost);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("batch.db");
    test_token_create(db, "acme", "shop", "WEB", tok);
    test_token_create_perms(db, "acme", "shop", "WEB", "ingest", tok_ingest);
    const char *argv[] = {"token", "create", "--db", db,       "--client", "acme",    "--account", "shop", "--brand",
                          "WEB",   "--name", "rl",   "--rate", "0.01",     "--burst", "25",        NULL};
    char *out = NULL;
    if (test_cli(argv, NULL, &out, NULL) != 0 || out == NULL || strncmp(out, "pd_", 3) != 0)
        abort();
    out[strcspn(out, "\n")] = '\0';
    snprintf(tok_rl, sizeof(tok_rl), "%s", out);
    free(out);
    const char *extra[] = {"--threads", "2", "--workers", "2", "--rate", "1000000", "--burst", "1000000", NULL};
    test_server_start(&srv, db, extra);
    post_ok(BASE "/identify", "{\"userId\":\"alice\",\"anonymousId\":\"a1\",\"traits\":{\"email\":\"shared@example.com\","
                              "\"plan\":\"pro\",\"firstName\":\"Alice\"}}");
    post_ok(BASE "/identify", "{\"userId\":\"bob\",\"traits\":{\"email\":\"Shared@Example.com\",\"plan\":\"free\"}}");
    post_ok(BASE "/identify", "{\"userId\":\"carol\",\"traits\":{\"city\":\"Oslo\"}}");
    post_ok(BASE "/track", "{\"userId\":\"alice\",\"event\":\"Bought\",\"properties\":{\"n\":1}}");
    int failed = test_run_suite(batch_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
