/* test_http.c -- HTTP integration tests: a real `profiled serve` on an
 * ephemeral port over a temporary database loaded with tests/data fixtures,
 * exercised with real requests (status, headers, bodies). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "testhttp.h"
#include "testutil.h"

#define FIXTURE PROFILED_SOURCE_DIR "/tests/data/fixture.ndjson"
#define FIXTURE_OTHER PROFILED_SOURCE_DIR "/tests/data/fixture-other.ndjson"
#define BASE "/track/intilery/marketing/MARKETING/v1"

static test_server_t srv;
static char *db;
static char tok_brand[128];   /* intilery/marketing/MARKETING */
static char tok_account[128]; /* intilery/marketing, every brand */
static char tok_other[128];   /* intilery/other/OTHER */
static char tok_revoked[128];

static void
create_token(char *out, const char *client, const char *account, const char *brand)
{
    test_token_create(db, client, account, brand, out);
}

static json_object *
get(const char *uri, const char *token, test_resp_t *r)
{
    return test_get(srv.port, uri, token, r);
}

START_TEST(test_healthz)
{
    test_resp_t r;
    json_object *j = get("/healthz", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "status"), "ok");
    ck_assert_str_eq(test_header(&r, "Content-Type"), "application/json; charset=utf-8");
    ck_assert_int_eq(atoi(test_header(&r, "Content-Length")), (int)r.len);
    ck_assert_ptr_null(test_header(&r, "Transfer-Encoding"));
    ck_assert_ptr_nonnull(test_header(&r, "x-amzn-RequestId"));
    ck_assert_ptr_null(test_header(&r, "Access-Control-Allow-Origin"));
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_traits_by_user_id)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:joe/traits", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "firstName"), "Joe"); /* the older identify did not win */
    ck_assert_str_eq(test_jstr(j, "industry"), "Other");
    ck_assert_str_eq(test_jstr(j, "lastName"), "Bloggs");
    ck_assert_str_eq(test_jstr(j, "externalId"), "joe");
    ck_assert_str_eq(test_jstr(j, "email"), "joe.bloggs@intilery.com");
    ck_assert_int_eq((int)strlen(test_jstr(j, "id")), 36);
    ck_assert(json_object_is_type(test_jget(j, "computed"), json_type_object));
    ck_assert_str_eq(test_jstr(j, "marketingPreferences.channels.0.channel"), "email");
    ck_assert(json_object_get_boolean(test_jget(j, "marketingPreferences.channels.0.subscribed")));
    ck_assert_int_eq(atoi(test_header(&r, "Content-Length")), (int)r.len);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_traits_by_every_id_type)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:joe/traits", tok_brand, &r);
    char id[64], uri[256];
    snprintf(id, sizeof(id), "%s", test_jstr(j, "id"));
    json_object_put(j);
    test_resp_free(&r);
    const char *forms[] = {"user_id:joe", "anonymousId:anon-joe", "anonymous_id:anon-joe", NULL};
    for (int i = 0; forms[i] != NULL; i++) {
        snprintf(uri, sizeof(uri), BASE "/profiles/%s/traits", forms[i]);
        j = get(uri, tok_brand, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(test_jstr(j, "id"), id);
        json_object_put(j);
        test_resp_free(&r);
    }
    snprintf(uri, sizeof(uri), BASE "/profiles/id:%s/traits", id);
    j = get(uri, tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "firstName"), "Joe");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_traits_by_email)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles/email:joe.bloggs@intilery.com/traits", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 1);
    ck_assert_str_eq(test_jstr(j, "data.0.firstName"), "Joe");
    json_object_put(j);
    test_resp_free(&r);

    /* two profiles share this email (stored in different case) */
    j = get(BASE "/profiles/email:SHARED@example.com/traits", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    json_object *data = test_jget(j, "data");
    ck_assert_int_eq((int)json_object_array_length(data), 2);
    int jane = 0, june = 0;
    for (int i = 0; i < 2; i++) {
        const char *fn = json_object_get_string(test_jget(json_object_array_get_idx(data, (size_t)i), "firstName"));
        jane += strcmp(fn, "Jane") == 0;
        june += strcmp(fn, "June") == 0;
    }
    ck_assert(jane == 1 && june == 1);
    json_object_put(j);
    test_resp_free(&r);

    /* '+' sent percent-encoded, and literally: both are a plus sign */
    j = get(BASE "/profiles/email:a%2Bb@example.com/traits", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "data.0.firstName"), "Plus");
    json_object_put(j);
    test_resp_free(&r);
    j = get(BASE "/profiles/email:a+b@example.com/traits", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "data.0.firstName"), "Plus");
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/email:nobody@example.com/traits", tok_brand, &r);
    test_assert_error(&r, j, 404, "not_found");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_metadata)
{
    const char *routes[] = {"metadata", "meta", NULL};
    for (int i = 0; routes[i] != NULL; i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), BASE "/profiles/userId:joe/%s", routes[i]);
        test_resp_t r;
        json_object *j = get(uri, tok_brand, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(test_jstr(j, "firstName"), "Joe");
        ck_assert_str_eq(test_jstr(j, "lastActivityTime"), "2020-11-19T13:39:17.380Z");
        ck_assert_str_eq(test_jstr(j, "firstEvent.email_opened.eventId"), "4b7c99d4-0714-41e0-b285-1ef300634984");
        ck_assert_str_eq(test_jstr(j, "lastEvent.email_opened.eventId"), "ec717144-924c-4826-981b-848459c39176");
        ck_assert_str_eq(test_jstr(j, "lastEvent.email_opened.eventTime"), "2020-11-19T13:39:17.380Z");
        ck_assert_str_eq(test_jstr(j, "lastEvent.email_opened.action"), "track");
        ck_assert_str_eq(test_jstr(j, "lastEvent.email_opened.event"), "Email Opened");
        ck_assert_str_eq(test_jstr(j, "lastEvent.email_opened.properties.campaign_id"), "TRIAL_WELCOME");
        ck_assert_ptr_nonnull(test_jget(j, "lastEvent.email_opened.receivedTime"));
        ck_assert_str_eq(test_jstr(j, "firstEvent.email_sent.eventId"), "b5148168-928f-4f61-9a3d-ff1be6da5820");
        ck_assert_ptr_nonnull(test_jget(j, "firstEvent.page"));
        ck_assert(json_object_is_type(test_jget(j, "audiences"), json_type_array));
        ck_assert(json_object_is_type(test_jget(j, "audiencesStatic"), json_type_array));
        ck_assert(json_object_is_type(test_jget(j, "createdBy"), json_type_object));

        /* _subscriptionId is base64("clientId:accountId:id") */
        const char *sub = test_jstr(j, "_subscriptionId");
        ck_assert_ptr_nonnull(sub);
        unsigned char dec[256];
        int n = EVP_DecodeBlock(dec, (const unsigned char *)sub, (int)strlen(sub));
        ck_assert_int_gt(n, 0);
        while (n > 0 && dec[n - 1] == '\0')
            n--;
        dec[n] = '\0';
        char want[128];
        snprintf(want, sizeof(want), "intilery:marketing:%s", test_jstr(j, "id"));
        ck_assert_str_eq((char *)dec, want);
        json_object_put(j);
        test_resp_free(&r);
    }
}
END_TEST

START_TEST(test_audiences_and_external_ids)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:joe/audiences", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "firstName"), "Joe");
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "audiences")), 0);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "audiencesStatic")), 0);
    ck_assert_ptr_null(test_jget(j, "firstEvent"));
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/userId:joe/external_ids", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    json_object *ids = test_jget(j, "externalIds");
    ck_assert_ptr_nonnull(ids);
    int user = 0, anon = 0, email = 0;
    for (size_t i = 0; i < json_object_array_length(ids); i++) {
        json_object *e = json_object_array_get_idx(ids, i);
        const char *type = test_jstr(e, "type"), *id = test_jstr(e, "id");
        user += strcmp(type, "userId") == 0 && strcmp(id, "joe") == 0;
        anon += strcmp(type, "anonymousId") == 0 && strcmp(id, "anon-joe") == 0;
        email += strcmp(type, "email") == 0 && strcmp(id, "joe.bloggs@intilery.com") == 0;
    }
    ck_assert(user == 1 && anon == 1 && email == 1);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_profile_list)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    json_object *data = test_jget(j, "data");
    ck_assert_int_eq((int)json_object_array_length(data), 5);
    ck_assert_str_eq(test_jstr(j, "data.0.firstName"), "Joe"); /* most recently active */
    ck_assert_str_eq(test_jstr(j, "data.1.firstName"), "June");
    ck_assert_str_eq(test_jstr(j, "data.2.firstName"), "Jane");
    ck_assert_int_eq(json_object_get_int(test_jget(j, "from")), 0);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "size")), 100);
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles?from=1&size=2", tok_brand, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 2);
    ck_assert_str_eq(test_jstr(j, "data.0.firstName"), "Jane"); /* page 1 of size 2: items 2 and 3 */
    ck_assert_int_eq(json_object_get_int(test_jget(j, "from")), 1);
    json_object_put(j);
    test_resp_free(&r);

    const char *bad[] = {"?size=0", "?size=101", "?size=x", "?from=-1", "?from=abc", NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), BASE "/profiles%s", bad[i]);
        j = get(uri, tok_brand, &r);
        test_assert_error(&r, j, 400, "validation_error");
        ck_assert_ptr_nonnull(strstr(test_jstr(j, "error.message"), bad[i][1] == 's' ? "size" : "from"));
        json_object_put(j);
        test_resp_free(&r);
    }
}
END_TEST

START_TEST(test_validation_errors)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles/joe/traits", tok_brand, &r);
    test_assert_error(&r, j, 400, "validation_error");
    ck_assert_str_eq(test_jstr(j, "error.message"), "ProfileID must be in format of id_type:id");
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/userId:/traits", tok_brand, &r);
    test_assert_error(&r, j, 400, "validation_error");
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/phone:123/traits", tok_brand, &r);
    test_assert_error(&r, j, 400, "validation_error");
    ck_assert_ptr_nonnull(strstr(test_jstr(j, "error.message"), "phone"));
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/userId:nobody/traits", tok_brand, &r);
    test_assert_error(&r, j, 404, "not_found");
    ck_assert_str_eq(test_jstr(j, "error.message"), "Profile was not found.");
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/userId:joe/nothing", tok_brand, &r);
    test_assert_error(&r, j, 404, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_method_and_size_errors)
{
    test_resp_t r;
    const char *h[] = {"auth-token", tok_brand, NULL};
    ck_assert_int_eq(test_http(srv.port, "POST", BASE "/profiles/userId:joe/traits", h, "{}", 2, &r), 0);
    json_object *j = test_json(&r);
    test_assert_error(&r, j, 405, "invalid_request_error");
    ck_assert_ptr_nonnull(strstr(test_header(&r, "Allow"), "GET"));
    json_object_put(j);
    test_resp_free(&r);

    ck_assert_int_eq(test_http(srv.port, "OPTIONS", BASE "/profiles/userId:joe/traits", h, NULL, 0, &r), 0);
    j = test_json(&r);
    test_assert_error(&r, j, 405, "invalid_request_error");
    ck_assert_ptr_null(test_header(&r, "Access-Control-Allow-Origin"));
    json_object_put(j);
    test_resp_free(&r);

    size_t big = 1024 * 1024 + 1;
    char *body = malloc(big);
    memset(body, 'x', big);
    ck_assert_int_eq(test_http(srv.port, "POST", BASE "/profiles/userId:joe/traits", h, body, big, &r), 0);
    j = test_json(&r);
    test_assert_error(&r, j, 413, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
    /* exactly 1 MiB is not too large: it reaches routing (405 here) */
    ck_assert_int_eq(test_http(srv.port, "POST", BASE "/profiles/userId:joe/traits", h, body, big - 1, &r), 0);
    ck_assert_int_eq(r.status, 405);
    test_resp_free(&r);
    free(body);
}
END_TEST

START_TEST(test_auth_errors)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:joe/traits", NULL, &r);
    test_assert_error(&r, j, 401, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/userId:joe/traits", "pd_0123456789abcdef_notavalidsecretnotavalidsecretnotavalidsec", &r);
    test_assert_error(&r, j, 401, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/userId:joe/traits", tok_revoked, &r);
    test_assert_error(&r, j, 401, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);

    /* brand token on another brand, other tenant's token */
    j = get("/track/intilery/marketing/OTHER/v1/profiles/userId:joe/traits", tok_brand, &r);
    test_assert_error(&r, j, 403, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);
    j = get(BASE "/profiles/userId:joe/traits", tok_other, &r);
    test_assert_error(&r, j, 403, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);
    j = get("/track/intilery/other/MARKETING/v1/profiles/userId:joe/traits", tok_account, &r);
    test_assert_error(&r, j, 403, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);

    /* an account-wide token covers every brand of its account */
    j = get(BASE "/profiles/userId:joe/traits", tok_account, &r);
    ck_assert_int_eq(r.status, 200);
    json_object_put(j);
    test_resp_free(&r);
    j = get("/track/intilery/marketing/OTHER/v1/profiles/userId:joe/traits", tok_account, &r);
    test_assert_error(&r, j, 404, "not_found"); /* authorised; that brand has no such profile */
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_tenant_isolation)
{
    test_resp_t r;
    json_object *j = get("/track/intilery/marketing/OTHER/v1/profiles/userId:joe/traits", tok_account, &r);
    ck_assert_int_eq(r.status, 404);
    json_object_put(j);
    test_resp_free(&r);
    j = get("/track/intilery/other/OTHER/v1/profiles/userId:joe/traits", tok_other, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "firstName"), "OtherJoe");
    char other_id[64];
    snprintf(other_id, sizeof(other_id), "%s", test_jstr(j, "id"));
    json_object_put(j);
    test_resp_free(&r);
    j = get("/track/intilery/other/OTHER/v1/profiles/email:joe.bloggs@intilery.com/traits", tok_other, &r);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 1);
    ck_assert_str_eq(test_jstr(j, "data.0.firstName"), "OtherJoe");
    json_object_put(j);
    test_resp_free(&r);
    /* the other tenant's internal id does not resolve here */
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/id:%s/traits", other_id);
    j = get(uri, tok_brand, &r);
    ck_assert_int_eq(r.status, 404);
    json_object_put(j);
    test_resp_free(&r);
    j = get("/track/intilery/other/OTHER/v1/profiles", tok_other, &r);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 1);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_request_id)
{
    test_resp_t r1, r2;
    const char *h[] = {"X-Request-Id", "lb-1234-abcd", NULL};
    ck_assert_int_eq(test_http(srv.port, "GET", "/healthz", h, NULL, 0, &r1), 0);
    ck_assert_str_eq(test_header(&r1, "x-amzn-RequestId"), "lb-1234-abcd");
    test_resp_free(&r1);

    const char *bad[] = {"X-Request-Id", "has space", NULL};
    ck_assert_int_eq(test_http(srv.port, "GET", "/healthz", bad, NULL, 0, &r1), 0);
    ck_assert_str_ne(test_header(&r1, "x-amzn-RequestId"), "has space");
    char longid[200];
    memset(longid, 'a', 129);
    longid[129] = '\0';
    const char *lng[] = {"X-Request-Id", longid, NULL};
    ck_assert_int_eq(test_http(srv.port, "GET", "/healthz", lng, NULL, 0, &r2), 0);
    ck_assert_str_ne(test_header(&r2, "x-amzn-RequestId"), longid);
    ck_assert_str_ne(test_header(&r1, "x-amzn-RequestId"), test_header(&r2, "x-amzn-RequestId"));
    test_resp_free(&r1);
    test_resp_free(&r2);
}
END_TEST

START_TEST(test_token_changes_seen_without_restart)
{
    char tok[128];
    create_token(tok, "intilery", "marketing", "MARKETING");
    test_resp_t r;
    int status = 0;
    for (int i = 0; i < 40 && status != 200; i++) { /* 2 s at most */
        json_object *j = get(BASE "/profiles/userId:joe/traits", tok, &r);
        status = r.status;
        json_object_put(j);
        test_resp_free(&r);
        if (status != 200)
            usleep(50000);
    }
    ck_assert_int_eq(status, 200);

    char *out = NULL;
    const char *list[] = {"token", "list", "--db", db, NULL};
    ck_assert_int_eq(test_cli(list, NULL, &out, NULL), 0);
    char id[32];
    ck_assert_int_eq(sscanf(tok, "pd_%16[0-9a-f]_", id), 1);
    ck_assert_ptr_nonnull(strstr(out, id));
    ck_assert_ptr_null(strstr(out, tok + 20)); /* never the secret */
    free(out);
    const char *revoke[] = {"token", "revoke", "--db", db, id, NULL};
    ck_assert_int_eq(test_cli(revoke, NULL, NULL, NULL), 0);
    for (int i = 0; i < 40 && status != 401; i++) {
        json_object *j = get(BASE "/profiles/userId:joe/traits", tok, &r);
        status = r.status;
        json_object_put(j);
        test_resp_free(&r);
        if (status != 401)
            usleep(50000);
    }
    ck_assert_int_eq(status, 401);
}
END_TEST

START_TEST(test_client_gone_mid_request)
{
    char req[512];
    int n = snprintf(req, sizeof(req), "GET " BASE "/profiles/userId:joe/metadata HTTP/1.1\r\nHost: x\r\nauth-token: %s\r\n\r\n",
                     tok_brand);
    for (int i = 0; i < 50; i++)
        test_raw(srv.port, req, (size_t)n, 1, NULL, 0, 0);
    char buf[8192];
    ck_assert_int_gt(test_raw(srv.port, req, (size_t)n, 0, buf, sizeof(buf), 2000), 0);
    ck_assert_ptr_nonnull(strstr(buf, "HTTP/1.1 200"));
    ck_assert_ptr_nonnull(strstr(buf, "Joe"));
}
END_TEST

START_TEST(test_head)
{
    test_resp_t r;
    const char *h[] = {"auth-token", tok_brand, NULL};
    ck_assert_int_eq(test_http(srv.port, "HEAD", BASE "/profiles/userId:joe/traits", h, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)r.len, 0);
    test_resp_free(&r);
}
END_TEST

/* A server of its own with a tiny limit, a slow worker and a short deadline. */
START_TEST(test_rate_limit_and_overload)
{
    test_server_t s2;
    const char *extra[] = {"--rate", "1", "--burst", "5", "--workers", "1", "--queue", "1", "--job-timeout-ms", "150", NULL};
    setenv("PROFILED_DEBUG_JOB_DELAY_MS", "400", 1);
    test_server_start(&s2, db, extra);
    unsetenv("PROFILED_DEBUG_JOB_DELAY_MS");
    const char *h[] = {"auth-token", tok_brand, NULL};

    /* deadline: the job takes 400 ms, the deadline is 150 ms */
    test_resp_t r;
    ck_assert_int_eq(test_http(s2.port, "GET", BASE "/profiles/userId:joe/traits", h, NULL, 0, &r), 0);
    json_object *j = test_json(&r);
    test_assert_error(&r, j, 504, "internal_server_error");
    ck_assert_ptr_nonnull(test_header(&r, "x-amzn-RequestId"));
    json_object_put(j);
    test_resp_free(&r);
    usleep(500000);

    /* one worker busy, a queue of one: of three at once at most two fit */
    int st[3];
    ck_assert_int_eq(test_http_many(s2.port, BASE "/profiles/userId:joe/traits", h, 3, 3, st), 3);
    int unavailable = 0;
    for (int i = 0; i < 3; i++)
        unavailable += st[i] == 503;
    ck_assert_int_ge(unavailable, 1);
    usleep(900000);

    /* 5 used so far, about 2 refilled: keep going until limited */
    int limited = 0;
    for (int i = 0; i < 10 && !limited; i++) {
        ck_assert_int_eq(test_http(s2.port, "GET", "/track/intilery/marketing/MARKETING/v1/profiles?size=x", h, NULL, 0, &r), 0);
        if (r.status == 429) {
            limited = 1;
            j = test_json(&r);
            test_assert_error(&r, j, 429, "rate_limit_error");
            ck_assert_int_ge(atoi(test_header(&r, "Retry-After")), 1);
            ck_assert_str_eq(test_header(&r, "X-RateLimit-Limit"), "5");
            ck_assert_str_eq(test_header(&r, "X-RateLimit-Remaining"), "0");
            ck_assert_ptr_nonnull(test_header(&r, "RateLimit"));
            ck_assert_ptr_nonnull(test_header(&r, "RateLimit-Policy"));
            json_object_put(j);
        } else {
            ck_assert_int_eq(r.status, 400);
            ck_assert_ptr_nonnull(test_header(&r, "X-RateLimit-Remaining"));
        }
        test_resp_free(&r);
    }
    ck_assert(limited);
    test_server_stop(&s2);
}
END_TEST

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 600 at once on a fresh token with the defaults (100/s, burst 500): 500
 * pass plus what refilled while the test ran; the rest are 429. */
START_TEST(test_burst_of_600)
{
    char tok[128];
    create_token(tok, "intilery", "marketing", "MARKETING");
    test_server_t s2;
    const char *extra[] = {"--threads", "2", "--workers", "2", NULL};
    test_server_start(&s2, db, extra);
    const char *h[] = {"auth-token", tok, NULL};
    static int st[600];
    double t0 = now_s();
    ck_assert_int_eq(test_http_many(s2.port, BASE "/profiles/userId:joe/traits", h, 600, 8, st), 600);
    double elapsed = now_s() - t0;
    int ok = 0, limited = 0;
    for (int i = 0; i < 600; i++) {
        ok += st[i] == 200;
        limited += st[i] == 429;
    }
    ck_assert_int_eq(ok + limited, 600);
    ck_assert_int_ge(ok, 500);
    ck_assert_int_le(ok, 500 + (int)(elapsed * 100) + 1);

    test_resp_t r;
    ck_assert_int_eq(test_http(s2.port, "GET", BASE "/profiles/userId:joe/traits", h, NULL, 0, &r), 0);
    if (r.status == 429) {
        ck_assert_int_ge(atoi(test_header(&r, "Retry-After")), 1);
        ck_assert_str_eq(test_header(&r, "X-RateLimit-Limit"), "500");
        ck_assert_str_eq(test_header(&r, "RateLimit-Policy"), "\"default\";q=500;w=5");
    }
    test_resp_free(&r);
    test_server_stop(&s2);
}
END_TEST

/* The scheduling policy of every thread of process pid (field 41 of
 * /proc/pid/task/tid/stat) that is not want: -1 when all have it. */
static int
other_policy(pid_t pid, int want)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "cat /proc/%d/task/*/stat", (int)pid);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char line[2048];
    int bad = -1, threads = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strrchr(line, ')'); /* after the command name */
        ck_assert_ptr_nonnull(p);
        int field = 2, policy = -1;
        for (; *p != '\0' && field < 41; p++)
            if (*p == ' ')
                field++;
        ck_assert_int_eq(sscanf(p, "%d", &policy), 1);
        threads++;
        if (policy != want)
            bad = policy;
    }
    pclose(f);
    ck_assert_int_ge(threads, 4); /* main, a loop, a worker, the writer at least */
    return bad;
}

/* --sched batch: every thread under SCHED_BATCH, and a worker gives way
 * to the loops after its bound of answers (1 byte here: after each one).
 * --sched normal (the default): neither. */
START_TEST(test_sched_batch)
{
    ck_assert_int_eq(other_policy(srv.pid, 0 /* SCHED_OTHER */), -1);
    setenv("PROFILED_DEBUG_YIELD_BYTES", "1", 1);
    for (int normal = 0; normal <= 1; normal++) {
        const char *extra[] = {"--threads", "1", "--workers", "1", "--cache-mb", "0", "--sched", normal ? "normal" : "batch", NULL};
        test_server_t one;
        test_server_start(&one, db, extra);
        ck_assert_int_eq(other_policy(one.pid, normal ? 0 /* SCHED_OTHER */ : 3), -1);
        for (int i = 0; i < 5; i++) {
            test_resp_t r;
            json_object *j = test_get(one.port, BASE "/profiles/userId:joe/metadata", tok_brand, &r);
            ck_assert_int_eq(r.status, 200);
            json_object_put(j);
            test_resp_free(&r);
        }
        long long yields = test_metric(one.port, "profiled_worker_yields_total");
        if (normal)
            ck_assert_int_eq(yields, 0);
        else
            ck_assert_int_ge(yields, 5);
        ck_assert_int_eq(test_server_stop(&one), 0);
    }
    unsetenv("PROFILED_DEBUG_YIELD_BYTES");
}
END_TEST

static Suite *
http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_healthz);
    tcase_add_test(tc, test_traits_by_user_id);
    tcase_add_test(tc, test_traits_by_every_id_type);
    tcase_add_test(tc, test_traits_by_email);
    tcase_add_test(tc, test_metadata);
    tcase_add_test(tc, test_audiences_and_external_ids);
    tcase_add_test(tc, test_profile_list);
    tcase_add_test(tc, test_validation_errors);
    tcase_add_test(tc, test_method_and_size_errors);
    tcase_add_test(tc, test_auth_errors);
    tcase_add_test(tc, test_tenant_isolation);
    tcase_add_test(tc, test_request_id);
    tcase_add_test(tc, test_token_changes_seen_without_restart);
    tcase_add_test(tc, test_client_gone_mid_request);
    tcase_add_test(tc, test_head);
    tcase_add_test(tc, test_rate_limit_and_overload);
    tcase_add_test(tc, test_burst_of_600);
    tcase_add_test(tc, test_sched_batch);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("http.db");
    const char *imp[] = {"import",    "--db",    db,          "--client", "intilery", "--account",
                         "marketing", "--brand", "MARKETING", FIXTURE,    NULL};
    char *err = NULL;
    if (test_cli(imp, NULL, NULL, &err) != 0) {
        fprintf(stderr, "fixture import failed: %s\n", err);
        return 1;
    }
    free(err);
    const char *imp2[] = {"import", "--db", db, "--client", "intilery", "--account", "other", "--brand", "OTHER", "-", NULL};
    if (test_cli(imp2, FIXTURE_OTHER, NULL, NULL) != 0)
        return 1;
    create_token(tok_brand, "intilery", "marketing", "MARKETING");
    create_token(tok_account, "intilery", "marketing", NULL);
    create_token(tok_other, "intilery", "other", "OTHER");
    create_token(tok_revoked, "intilery", "marketing", "MARKETING");
    char id[32];
    if (sscanf(tok_revoked, "pd_%16[0-9a-f]_", id) != 1)
        return 1;
    const char *revoke[] = {"token", "revoke", "--db", db, id, NULL};
    if (test_cli(revoke, NULL, NULL, NULL) != 0)
        return 1;

    const char *extra[] = {"--threads", "2", "--workers", "2", "--token-reload-ms", "200", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(http_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
