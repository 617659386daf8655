/* test_cors.c -- browser sources over real HTTP: CORS preflight and actual
 * requests on every ingestion path (tenant and root form, the long names
 * and analytics-next's short ones), --cors-origins lists (allowed origins
 * echoed, others refused with nothing stored), the setting from flag, file
 * and environment, no CORS on any read route, and the Content-Type values
 * browser libraries send. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testhttp.h"
#include "testutil.h"

#define TENANT "/track/intilery/marketing/CORS/v1"
#define ORIGIN "http://127.0.0.1:5000"

static test_server_t any;  /* --cors-origins * (the default) */
static test_server_t list; /* --cors-origins https://shop.example, ORIGIN */
static char *db;
static char tok[128]; /* intilery/marketing/CORS */

/* Every ingestion route: path and the message type its body must be. */
static const struct {
    const char *path;
    const char *type; /* "batch" for the batch routes */
} ingest_paths[] = {
    {TENANT "/batch", "batch"}, {TENANT "/track", "track"},   {TENANT "/identify", "identify"},
    {TENANT "/page", "page"},   {TENANT "/screen", "screen"}, {TENANT "/group", "group"},
    {TENANT "/alias", "alias"}, {TENANT "/b", "batch"},       {TENANT "/t", "track"},
    {TENANT "/i", "identify"},  {TENANT "/p", "page"},        {TENANT "/s", "screen"},
    {TENANT "/g", "group"},     {TENANT "/a", "alias"},       {"/v1/batch", "batch"},
    {"/v1/track", "track"},     {"/v1/identify", "identify"}, {"/v1/page", "page"},
    {"/v1/screen", "screen"},   {"/v1/group", "group"},       {"/v1/alias", "alias"},
    {"/v1/b", "batch"},         {"/v1/t", "track"},           {"/v1/i", "identify"},
    {"/v1/p", "page"},          {"/v1/s", "screen"},          {"/v1/g", "group"},
    {"/v1/a", "alias"},
};
#define NPATHS (sizeof(ingest_paths) / sizeof(ingest_paths[0]))

/* Every read route (the profile one exists: see main). */
static const char *read_paths[] = {
    TENANT "/profiles",
    TENANT "/profiles/userId:cors-reader/traits",
    TENANT "/profiles/userId:cors-reader/metadata",
    TENANT "/profiles/userId:cors-reader/meta",
    TENANT "/profiles/userId:cors-reader/audiences",
    TENANT "/profiles/userId:cors-reader/external_ids",
    TENANT "/profiles/userId:cors-reader/events",
};
#define NREADS (sizeof(read_paths) / sizeof(read_paths[0]))

/* A body of type for userId user, writeKey in it as browsers send it. */
static void
body_for(const char *type, const char *user, char *out, size_t len)
{
    char msg[512];
    if (strcmp(type, "batch") == 0)
        snprintf(msg, sizeof(msg), "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"Batched\"}", user);
    else if (strcmp(type, "track") == 0)
        snprintf(msg, sizeof(msg), "{\"userId\":\"%s\",\"event\":\"Clicked\"", user);
    else if (strcmp(type, "group") == 0)
        snprintf(msg, sizeof(msg), "{\"userId\":\"%s\",\"groupId\":\"g1\"", user);
    else if (strcmp(type, "alias") == 0)
        snprintf(msg, sizeof(msg), "{\"userId\":\"%s\",\"previousId\":\"prev-%s\"", user, user);
    else
        snprintf(msg, sizeof(msg), "{\"userId\":\"%s\",\"name\":\"Home\"", user);
    if (strcmp(type, "batch") == 0)
        snprintf(out, len, "{\"writeKey\":\"%s\",\"batch\":[%s]}", tok, msg);
    else
        snprintf(out, len, "%s,\"writeKey\":\"%s\"}", msg, tok);
}

/* Number of events of userId user (-1: no such profile). The events route
 * lists track, page and screen calls. */
static int
events_of(const char *user)
{
    char uri[256];
    snprintf(uri, sizeof(uri), TENANT "/profiles/userId:%s/events", user);
    test_resp_t r;
    json_object *j = test_get(any.port, uri, tok, &r);
    int n = r.status == 200 ? (int)json_object_array_length(test_jget(j, "data")) : r.status == 404 ? -1 : -2;
    json_object_put(j);
    test_resp_free(&r);
    return n;
}

static void
assert_no_cors(const test_resp_t *r)
{
    ck_assert_ptr_null(test_header(r, "Access-Control-Allow-Origin"));
    ck_assert_ptr_null(test_header(r, "Access-Control-Allow-Methods"));
    ck_assert_ptr_null(test_header(r, "Access-Control-Allow-Headers"));
}

static void
preflight(int port, const char *path, const char *origin, test_resp_t *r)
{
    const char *h[] = {"Origin",
                       origin,
                       "Access-Control-Request-Method",
                       "POST",
                       "Access-Control-Request-Headers",
                       "content-type,authorization,x-retry-count",
                       NULL};
    ck_assert_int_eq(test_http(port, "OPTIONS", path, h, NULL, 0, r), 0);
}

START_TEST(test_preflight_every_ingest_path)
{
    for (size_t i = 0; i < NPATHS; i++) {
        test_resp_t r;
        preflight(any.port, ingest_paths[i].path, ORIGIN, &r);
        ck_assert_msg(r.status == 204, "OPTIONS %s -> %d", ingest_paths[i].path, r.status);
        ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), "*");
        ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
        const char *ah = test_header(&r, "Access-Control-Allow-Headers");
        ck_assert_ptr_nonnull(ah);
        const char *want[] = {"content-type", "authorization", "auth-token", "x-retry-count"};
        for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++)
            ck_assert_msg(strstr(ah, want[w]) != NULL, "%s missing from %s", want[w], ah);
        ck_assert_str_eq(test_header(&r, "Access-Control-Max-Age"), "7200");
        ck_assert_ptr_null(test_header(&r, "Vary")); /* "*" does not vary */
        ck_assert_ptr_nonnull(test_header(&r, "x-amzn-RequestId"));
        ck_assert_ptr_null(test_header(&r, "Content-Length"));
        ck_assert_uint_eq(r.len, 0);
        test_resp_free(&r);
    }
}
END_TEST

START_TEST(test_actual_every_ingest_path)
{
    for (size_t i = 0; i < NPATHS; i++) {
        char user[32], body[1024];
        snprintf(user, sizeof(user), "cors-%zu", i);
        body_for(ingest_paths[i].type, user, body, sizeof(body));
        const char *h[] = {"Origin", ORIGIN, "Content-Type", "text/plain", NULL};
        test_resp_t r;
        json_object *j = test_post(any.port, ingest_paths[i].path, h, body, strlen(body), &r);
        ck_assert_msg(r.status == 200, "POST %s -> %d %s", ingest_paths[i].path, r.status, r.body);
        ck_assert(json_object_get_boolean(test_jget(j, "success")));
        ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), "*");
        json_object_put(j);
        test_resp_free(&r);
        /* identify, group and alias make the profile, not an event */
        const char *t = ingest_paths[i].type;
        int want = strcmp(t, "identify") == 0 || strcmp(t, "group") == 0 || strcmp(t, "alias") == 0 ? 0 : 1;
        ck_assert_msg(events_of(user) == want, "%s: %d events of %s", ingest_paths[i].path, events_of(user), user);
    }
}
END_TEST

/* JSON errors of the ingestion routes carry CORS too, so a page sees them. */
START_TEST(test_errors_carry_cors)
{
    const char *h[] = {"Origin", ORIGIN, "Content-Type", "text/plain", NULL};
    test_resp_t r;
    json_object *j = test_post(any.port, "/v1/t", h, "{not json", 9, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), "*");
    json_object_put(j);
    test_resp_free(&r);

    const char *bad = "{\"writeKey\":\"pd_nosuchkey\",\"userId\":\"cors-bad\",\"event\":\"E\"}";
    j = test_post(any.port, TENANT "/t", h, bad, strlen(bad), &r);
    test_assert_error(&r, j, 401, "authentication_error");
    ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), "*");
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(events_of("cors-bad"), -1);

    size_t big = 1024 * 1024 + 1;
    char *body = malloc(big);
    memset(body, ' ', big);
    j = test_post(any.port, "/v1/b", h, body, big, &r);
    test_assert_error(&r, j, 413, "invalid_request_error");
    ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), "*");
    json_object_put(j);
    test_resp_free(&r);
    free(body);
}
END_TEST

START_TEST(test_browser_content_types)
{
    const char *types[] = {"text/plain", "text/plain;charset=UTF-8", "application/json", "application/json; charset=utf-8", NULL};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char user[32], body[1024];
        snprintf(user, sizeof(user), "ctype-%zu", i);
        body_for("track", user, body, sizeof(body));
        const char *h[] = {"Origin", ORIGIN, types[i] != NULL ? "Content-Type" : NULL, types[i], NULL};
        test_resp_t r;
        json_object *j = test_post(any.port, "/v1/t", h, body, strlen(body), &r);
        ck_assert_msg(r.status == 200, "%s -> %d %s", types[i] ? types[i] : "(none)", r.status, r.body);
        json_object_put(j);
        test_resp_free(&r);
        ck_assert_int_eq(events_of(user), 1);
    }
}
END_TEST

/* The spec keeps the read secret off the client: no read route answers
 * CORS, to GET or to a preflight (405 as for any other method). */
START_TEST(test_read_routes_no_cors)
{
    for (int s = 0; s < 2; s++) {
        int port = s == 0 ? any.port : list.port;
        for (size_t i = 0; i < NREADS; i++) {
            const char *h[] = {"Origin", ORIGIN, "auth-token", tok, NULL};
            test_resp_t r;
            ck_assert_int_eq(test_http(port, "GET", read_paths[i], h, NULL, 0, &r), 0);
            ck_assert_msg(r.status == 200, "GET %s -> %d", read_paths[i], r.status);
            assert_no_cors(&r);
            test_resp_free(&r);

            preflight(port, read_paths[i], ORIGIN, &r);
            json_object *j = test_json(&r);
            test_assert_error(&r, j, 405, "invalid_request_error");
            ck_assert_str_eq(test_header(&r, "Allow"), "GET, HEAD");
            assert_no_cors(&r);
            json_object_put(j);
            test_resp_free(&r);
        }
        test_resp_t r;
        preflight(port, "/healthz", ORIGIN, &r);
        ck_assert_int_eq(r.status, 405);
        assert_no_cors(&r);
        test_resp_free(&r);
        preflight(port, "/v1/nosuch", ORIGIN, &r);
        ck_assert_int_eq(r.status, 404);
        assert_no_cors(&r);
        test_resp_free(&r);
    }
}
END_TEST

START_TEST(test_origin_list)
{
    /* allowed: echoed, with Vary; case does not matter */
    const char *allowed[] = {ORIGIN, "https://shop.example", "HTTPS://Shop.Example"};
    for (size_t a = 0; a < 3; a++)
        for (size_t i = 0; i < NPATHS; i += 3) {
            test_resp_t r;
            preflight(list.port, ingest_paths[i].path, allowed[a], &r);
            ck_assert_int_eq(r.status, 204);
            ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), allowed[a]);
            ck_assert_ptr_nonnull(strstr(test_header(&r, "Vary"), "origin"));
            test_resp_free(&r);
        }
    char body[1024];
    body_for("track", "listed", body, sizeof(body));
    const char *h[] = {"Origin", "https://shop.example", "Content-Type", "text/plain", NULL};
    test_resp_t r;
    json_object *j = test_post(list.port, "/v1/t", h, body, strlen(body), &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), "https://shop.example");
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(events_of("listed"), 1);

    /* not listed (another port, scheme, host, or a prefix of one): 403,
     * no CORS, nothing stored */
    const char *refused[] = {"http://127.0.0.1:5001", "http://shop.example", "https://evil.example", "https://shop.example.evil",
                             "null"};
    for (size_t o = 0; o < sizeof(refused) / sizeof(refused[0]); o++) {
        preflight(list.port, "/v1/t", refused[o], &r);
        j = test_json(&r);
        test_assert_error(&r, j, 403, "authentication_error");
        assert_no_cors(&r);
        json_object_put(j);
        test_resp_free(&r);

        char user[32];
        snprintf(user, sizeof(user), "refused-%zu", o);
        body_for("track", user, body, sizeof(body));
        const char *hr[] = {"Origin", refused[o], "Content-Type", "text/plain", NULL};
        j = test_post(list.port, TENANT "/track", hr, body, strlen(body), &r);
        test_assert_error(&r, j, 403, "authentication_error");
        assert_no_cors(&r);
        json_object_put(j);
        test_resp_free(&r);
        ck_assert_int_eq(events_of(user), -1);
    }

    /* no Origin (a server-side client): answered, without CORS */
    body_for("track", "no-origin", body, sizeof(body));
    const char *hn[] = {"Content-Type", "application/json", NULL};
    j = test_post(list.port, "/v1/track", hn, body, strlen(body), &r);
    ck_assert_int_eq(r.status, 200);
    assert_no_cors(&r);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(events_of("no-origin"), 1);
}
END_TEST

/* The origin one server started with answers 204 with it echoed; another 403. */
static void
assert_origin_setting(test_server_t *s, const char *origin)
{
    test_resp_t r;
    preflight(s->port, "/v1/t", origin, &r);
    ck_assert_int_eq(r.status, 204);
    ck_assert_str_eq(test_header(&r, "Access-Control-Allow-Origin"), origin);
    test_resp_free(&r);
    preflight(s->port, "/v1/t", ORIGIN, &r);
    ck_assert_int_eq(r.status, 403);
    test_resp_free(&r);
}

START_TEST(test_setting_sources)
{
    char *conf = test_tmp_path("cors.conf");
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "cors-origins = https://file.example\n");
    fclose(f);
    test_server_t s;
    const char *from_file[] = {"--config", conf, "--access-log", "off", "--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, from_file);
    assert_origin_setting(&s, "https://file.example");
    ck_assert_int_eq(test_server_stop(&s), 0);

    setenv("PROFILED_CORS_ORIGINS", "https://env.example", 1);
    const char *plain[] = {"--access-log", "off", "--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, plain);
    assert_origin_setting(&s, "https://env.example");
    ck_assert_int_eq(test_server_stop(&s), 0);
    unsetenv("PROFILED_CORS_ORIGINS");
    unlink(conf);
    free(conf);

    const char *bad[] = {"https://a.example/path", "*,https://a.example", "shop.example", "https://a b", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        const char *argv[] = {"serve", "--listen", "127.0.0.1:0", "--db", db, "--cors-origins", bad[i], NULL};
        char *err = NULL;
        ck_assert_int_ne(test_cli(argv, NULL, NULL, &err), 0);
        ck_assert_msg(err != NULL && strstr(err, "cors-origins") != NULL, "%s: %s", bad[i], err ? err : "");
        free(err);
    }
    const char *help[] = {"serve", "--help", NULL};
    char *out = NULL;
    ck_assert_int_eq(test_cli(help, NULL, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "--cors-origins"));
    ck_assert_ptr_nonnull(strstr(out, "PROFILED_CORS_ORIGINS"));
    free(out);
}
END_TEST

static Suite *
cors_suite(void)
{
    Suite *s = suite_create("cors");
    TCase *tc = tcase_create("cors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_preflight_every_ingest_path);
    tcase_add_test(tc, test_actual_every_ingest_path);
    tcase_add_test(tc, test_errors_carry_cors);
    tcase_add_test(tc, test_browser_content_types);
    tcase_add_test(tc, test_read_routes_no_cors);
    tcase_add_test(tc, test_origin_list);
    tcase_add_test(tc, test_setting_sources);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("cors.db");
    test_token_create(db, "intilery", "marketing", "CORS", tok);
    const char *base[] = {"--threads", "2", "--workers", "2", "--access-log", "off", NULL};
    test_server_start(&any, db, base);
    const char *listed[] = {
        "--threads", "1", "--workers", "1", "--access-log", "off", "--cors-origins", "https://shop.example, " ORIGIN, NULL};
    test_server_start(&list, db, listed);
    /* the profile the read routes look at */
    char body[512];
    snprintf(body, sizeof(body), "{\"writeKey\":\"%s\",\"userId\":\"cors-reader\",\"traits\":{\"plan\":\"pro\"}}", tok);
    test_resp_t r;
    const char *h[] = {"Content-Type", "application/json", NULL};
    int ok = test_http(any.port, "POST", "/v1/identify", h, body, strlen(body), &r) == 0 && r.status == 200;
    if (!ok)
        fprintf(stderr, "test_cors: identify -> %d %s\n", r.status, r.body != NULL ? r.body : "");
    test_resp_free(&r);
    int failed = ok ? test_run_suite(cors_suite()) : 1;
    test_server_stop(&list);
    test_server_stop(&any);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
