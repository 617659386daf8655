/* test_edges.c -- the spec's edges (issue 12, point 5) on a real server:
 * the email form pages with from/size (150 profiles sharing an email, in
 * pages of 100, 50 and 7: each profile once, a page past the end empty,
 * bad bounds 400 as on the profile list, an ETag per page, fields on a
 * page, the batch lookup's first page byte for byte); unknown, misplaced
 * and repeated query parameters refused on every read route and ignored
 * by ingestion and the probes; a start bound whose '+' arrived as a space;
 * request heads and bodies h2o refuses itself answered as JSON errors with
 * a request id. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/EDGE/v1"
#define NPROF 150

static test_server_t srv;
static char *db;
static char tok[128], del_tok[128];

static void
post_ok(const char *uri, const char *body)
{
    test_post_ok(srv.port, tok, uri, body);
}

/* GET BASE<path> with headers (NULL-ended pairs, the token added). */
static json_object *
get(const char *path, const char *const *extra, test_resp_t *r)
{
    char uri[8192];
    snprintf(uri, sizeof(uri), BASE "%s", path);
    const char *h[8] = {"auth-token", tok};
    size_t n = 2;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 6; i++)
        h[n++] = extra[i];
    h[n] = NULL;
    ck_assert_int_eq(test_http(srv.port, "GET", uri, h, NULL, 0, r), 0);
    return test_json(r);
}

/* A 400 of code for GET BASE<path> whose message contains part. */
static void
get_400(const char *path, const char *code, const char *part)
{
    test_resp_t r;
    json_object *j = get(path, NULL, &r);
    test_assert_error(&r, j, 400, code);
    ck_assert_msg(strstr(test_jstr(j, "error.message"), part) != NULL, "%s: %s", path, test_jstr(j, "error.message"));
    ck_assert_ptr_nonnull(test_header(&r, "x-amzn-requestid"));
    json_object_put(j);
    test_resp_free(&r);
}

/* ---- the email form's pages ------------------------------------------------ */

START_TEST(test_email_pages)
{
    static const char *const views[] = {"traits", "metadata", "audiences", "external_ids"};
    static const int sizes[] = {100, 50, 7};
    for (size_t v = 0; v < 4; v++)
        for (size_t z = 0; z < 3; z++) {
            int seen[NPROF] = {0}, pages = 0, total = 0;
            for (int from = 0;; from++) {
                char path[256];
                snprintf(path, sizeof(path), "/profiles/email:Many@Example.com/%s?from=%d&size=%d", views[v], from, sizes[z]);
                test_resp_t r;
                json_object *j = get(path, NULL, &r);
                ck_assert_msg(r.status == 200, "%s -> %d %s", path, r.status, r.body);
                ck_assert_int_eq(json_object_get_int(test_jget(j, "from")), from);
                ck_assert_int_eq(json_object_get_int(test_jget(j, "size")), sizes[z]);
                json_object *data = test_jget(j, "data");
                int n = (int)json_object_array_length(data);
                int want = NPROF - from * sizes[z];
                want = want < 0 ? 0 : want > sizes[z] ? sizes[z] : want;
                ck_assert_int_eq(n, want);
                for (int i = 0; i < n; i++) {
                    int u = -1;
                    ck_assert_int_eq(sscanf(test_jstr(json_object_array_get_idx(data, (size_t)i), "externalId"), "m%d", &u), 1);
                    ck_assert(u >= 0 && u < NPROF);
                    seen[u]++;
                }
                total += n;
                json_object_put(j);
                test_resp_free(&r);
                if (n == 0)
                    break; /* the page past the end: 200, empty */
                pages++;
            }
            ck_assert_int_eq(total, NPROF);
            ck_assert_int_eq(pages, (NPROF + sizes[z] - 1) / sizes[z]);
            for (int u = 0; u < NPROF; u++)
                ck_assert_int_eq(seen[u], 1);
        }
    /* the default page: from 0, size 100 */
    test_resp_t r;
    json_object *j = get("/profiles/email:many@example.com/traits", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "size")), 100);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "from")), 0);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 100);
    ck_assert_str_eq(test_jstr(j, "data.0.externalId"), "m0"); /* profile-key order: the first made first */
    json_object_put(j);
    test_resp_free(&r);
    /* no profile at all: 404, on any page */
    static const char *const none[] = {"/profiles/email:nobody@example.com/traits",
                                       "/profiles/email:nobody@example.com/traits?from=3"};
    for (size_t i = 0; i < 2; i++) {
        j = get(none[i], NULL, &r);
        test_assert_error(&r, j, 404, "not_found");
        json_object_put(j);
        test_resp_free(&r);
    }
}
END_TEST

/* Bad bounds: the profile list's own 400s, word for word. */
START_TEST(test_email_bounds)
{
    static const char *const bad[] = {"from=-1", "from=1000001", "from=x", "from=", "size=0", "size=101", "size=1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char a[256], b[256];
        snprintf(a, sizeof(a), "/profiles/email:many@example.com/metadata?%s", bad[i]);
        snprintf(b, sizeof(b), "/profiles?%s", bad[i]);
        test_resp_t ra, rb;
        json_object *ja = get(a, NULL, &ra), *jb = get(b, NULL, &rb);
        test_assert_error(&ra, ja, 400, "validation_error");
        test_assert_error(&rb, jb, 400, "validation_error");
        ck_assert_str_eq(test_jstr(ja, "error.message"), test_jstr(jb, "error.message"));
        json_object_put(ja);
        json_object_put(jb);
        test_resp_free(&ra);
        test_resp_free(&rb);
    }
    get_400("/profiles/email:many@example.com/traits?from=1000001", "validation_error", "from 0 to 1000000");
    /* the largest page number is a page past the end, not an error */
    test_resp_t r;
    json_object *j = get("/profiles/email:many@example.com/traits?from=1000000&size=100", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 0);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_email_etag_fields_batch)
{
    test_resp_t r0, r1, r;
    json_object *j0 = get("/profiles/email:many@example.com/traits?size=50", NULL, &r0);
    json_object *j1 = get("/profiles/email:many@example.com/traits?size=50&from=1", NULL, &r1);
    const char *e0 = test_header(&r0, "etag"), *e1 = test_header(&r1, "etag");
    ck_assert_ptr_nonnull(e0);
    ck_assert_ptr_nonnull(e1);
    ck_assert_str_ne(e0, e1);
    const char *inm0[] = {"if-none-match", e0, NULL};
    json_object *j = get("/profiles/email:many@example.com/traits?size=50", inm0, &r);
    ck_assert_int_eq(r.status, 304);
    json_object_put(j);
    test_resp_free(&r);
    j = get("/profiles/email:many@example.com/traits?size=50&from=1", inm0, &r); /* another page, another tag */
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_header(&r, "etag"), e1);
    json_object_put(j);
    test_resp_free(&r);
    json_object_put(j0);
    json_object_put(j1);
    test_resp_free(&r0);
    test_resp_free(&r1);

    /* fields on a page: each element cut, the page's members kept */
    j = get("/profiles/email:many@example.com/traits?fields=n&size=7&from=2", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "from")), 2);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "size")), 7);
    json_object *data = test_jget(j, "data");
    ck_assert_int_eq((int)json_object_array_length(data), 7);
    for (size_t i = 0; i < 7; i++) {
        json_object *e = json_object_array_get_idx(data, i);
        ck_assert_int_eq(json_object_object_length(e), 3); /* id, externalId, n */
        ck_assert_int_eq(json_object_get_int(test_jget(e, "n")), (int)(14 + i));
    }
    json_object_put(j);
    test_resp_free(&r);

    /* the batch lookup answers an email with the first page, as the
     * single route does, byte for byte */
    j = get("/profiles/email:many@example.com/audiences", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    const char *body = "{\"ids\":[\"email:many@example.com\"]}";
    test_resp_t rb;
    json_object *jb = test_post(srv.port, BASE "/profiles/batch/audiences", h, body, strlen(body), &rb);
    ck_assert_int_eq(rb.status, 200);
    char *want = malloc(r.len + 128);
    int n =
        snprintf(want, r.len + 128, "{\"data\":[{\"profileId\":\"email:many@example.com\",\"status\":200,\"result\":%s}]}", r.body);
    ck_assert_int_eq((int)rb.len, n);
    ck_assert_str_eq(rb.body, want);
    free(want);
    json_object_put(jb);
    test_resp_free(&rb);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

/* ---- query parameters ------------------------------------------------------ */

START_TEST(test_unknown_params)
{
    static const char *const routes[] = {"/profiles/userId:m1/traits",
                                         "/profiles/userId:m1/metadata",
                                         "/profiles/userId:m1/meta",
                                         "/profiles/userId:m1/audiences",
                                         "/profiles/userId:m1/external_ids",
                                         "/profiles/userId:m1/events",
                                         "/profiles/email:many@example.com/traits",
                                         "/profiles"};
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s?sise=10", routes[i]);
        get_400(path, "invalid_request_error", "Unknown query parameter 'sise'");
        snprintf(path, sizeof(path), "%s?%s", routes[i], "x%27y=1"); /* named as sent, quotes never raw */
        get_400(path, "invalid_request_error", "'x%27y'");
    }
    /* from/size only on the email form and the list */
    get_400("/profiles/userId:m1/traits?from=1", "invalid_request_error", "'from' applies only to email lookups");
    get_400("/profiles/id:0000/external_ids?size=5", "invalid_request_error", "'size' applies only to email lookups");
    get_400("/profiles/userId:m1/events?size=5", "invalid_request_error", "'size' applies only to email lookups");
    get_400("/profiles/userId:m1/events?from=0", "invalid_request_error", "'from' applies only to email lookups");
    get_400("/profiles?fields=n", "invalid_request_error", "'fields' applies only to traits");
    get_400("/profiles/userId:m1/traits?limit=5", "invalid_request_error", "applies only to the events route");
    /* repeated: refused, never first-wins */
    get_400("/profiles/email:many@example.com/traits?size=5&size=6", "invalid_request_error", "'size' is given more than once");
    get_400("/profiles/userId:m1/events?include=page&include=track", "invalid_request_error", "'include' is given more than once");
    /* a long name is cut, odd bytes shown as '?' */
    char longq[400], path[600];
    memset(longq, 'a', 300);
    longq[300] = '\0';
    snprintf(path, sizeof(path), "/profiles/userId:m1/traits?%s=1", longq);
    test_resp_t r;
    json_object *j = get(path, NULL, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    const char *msg = test_jstr(j, "error.message");
    ck_assert_ptr_nonnull(strstr(msg, "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"));
    ck_assert(strlen(msg) < 200);
    json_object_put(j);
    test_resp_free(&r);
    get_400("/profiles/userId:m1/traits?a\"b\\c=1", "invalid_request_error", "'a?b?c'");
    /* empty pieces are nothing; known ones pass */
    j = get("/profiles/userId:m1/traits?&fields=n&", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    json_object_put(j);
    test_resp_free(&r);

    /* the batch lookup and erasure check theirs too */
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    const char *body = "{\"ids\":[\"userId:m1\"]}";
    j = test_post(srv.port, BASE "/profiles/batch/traits?sise=1", h, body, strlen(body), &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    ck_assert_ptr_nonnull(strstr(test_jstr(j, "error.message"), "'sise'"));
    json_object_put(j);
    test_resp_free(&r);
    j = test_post(srv.port, BASE "/profiles/batch/traits?size=1", h, body, strlen(body), &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    ck_assert_ptr_nonnull(strstr(test_jstr(j, "error.message"), "first page"));
    json_object_put(j);
    test_resp_free(&r);
    const char *hd[] = {"auth-token", del_tok, NULL};
    ck_assert_int_eq(test_http(srv.port, "DELETE", BASE "/profiles/userId:nobody?force=1", hd, NULL, 0, &r), 0);
    j = test_json(&r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    ck_assert_ptr_nonnull(strstr(test_jstr(j, "error.message"), "'force'; this route takes none"));
    json_object_put(j);
    test_resp_free(&r);

    /* ingestion and the probes take any query (Segment clients add some) */
    post_ok(BASE "/track?sise=1&from=2&from=3", "{\"type\":\"track\",\"userId\":\"m1\",\"event\":\"q\"}");
    post_ok("/v1/track?x=1", "{\"type\":\"track\",\"userId\":\"m1\",\"event\":\"q\"}");
    ck_assert_int_eq(test_http(srv.port, "GET", "/healthz?x=1&x=2", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
}
END_TEST

/* The data of an events page (the scrollId differs from call to call). */
static char *
events_data(const char *query, int *status)
{
    char path[512];
    snprintf(path, sizeof(path), "/profiles/userId:timed/events?sort=asc&%s", query);
    test_resp_t r;
    json_object *j = get(path, NULL, &r);
    *status = r.status;
    char *out = NULL;
    if (r.status == 200)
        out = strdup(json_object_to_json_string(test_jget(j, "data")));
    json_object_put(j);
    test_resp_free(&r);
    return out;
}

START_TEST(test_start_plus_as_space)
{
    int s1, s2, s3;
    char *plus = events_data("start=2020-01-01T21:00:00+01:00", &s1); /* '+' unencoded: a space */
    char *enc = events_data("start=2020-01-01T21:00:00%2B01:00", &s2);
    char *utc = events_data("start=2020-01-01T20:00:00Z", &s3);
    ck_assert_int_eq(s1, 200);
    ck_assert_int_eq(s2, 200);
    ck_assert_int_eq(s3, 200);
    ck_assert_str_eq(plus, enc);
    ck_assert_str_eq(plus, utc);
    json_object *d = json_tokener_parse(plus);
    ck_assert_int_eq((int)json_object_array_length(d), 2); /* 20:30Z and 21:00Z, not 19:00Z */
    json_object_put(d);
    free(plus);
    free(enc);
    free(utc);
    /* other forms of the same */
    char *compact = events_data("end=2020-01-01T21:00:00+0100", &s1);
    ck_assert_int_eq(s1, 200);
    free(compact);
    /* a space anywhere else is still an error, naming the %2B fix */
    get_400("/profiles/userId:timed/events?start=2020-01-01+21:00:00", "validation_error", "%2B");
    get_400("/profiles/userId:timed/events?start=2020-01-01T21:00:00+1:00", "validation_error", "%2B");
    get_400("/profiles/userId:timed/events?end=2020-01-01T21:00:00++01:00", "validation_error", "%2B");
}
END_TEST

/* ---- what h2o refuses itself ----------------------------------------------- */

/* Asserts a raw answer is the JSON error status/code with a request id. */
static void
assert_raw_json(const char *ans, int status, const char *code)
{
    char line[32];
    snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
    ck_assert_msg(strncmp(ans, line, strlen(line)) == 0, "%.300s", ans);
    ck_assert_msg(strcasestr(ans, "\r\ncontent-type: application/json") != NULL, "%.300s", ans);
    ck_assert_msg(strcasestr(ans, "\r\nx-amzn-requestid: ") != NULL, "%.300s", ans);
    const char *body = strstr(ans, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    json_object *j = json_tokener_parse(body + 4);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(test_jstr(j, "error.code"), code);
    ck_assert_ptr_nonnull(test_jstr(j, "error.message"));
    json_object_put(j);
}

static char *
big_request(const char *head, size_t fill, char c, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *b = malloc(hl + fill + tl + 1);
    memcpy(b, head, hl);
    memset(b + hl, c, fill);
    memcpy(b + hl + fill, tail, tl + 1);
    *len = hl + fill + tl;
    return b;
}

START_TEST(test_refused_heads)
{
    static char ans[65536];
    size_t len;
    /* a 420 KB query string */
    char *q = big_request("GET " BASE "/profiles/userId:m1/traits?fields=", 420 * 1024, 'a', " HTTP/1.1\r\nHost: x\r\n\r\n", &len);
    ck_assert_int_gt(test_raw(srv.port, q, len, 0, ans, sizeof(ans), 5000), 0);
    assert_raw_json(ans, 400, "invalid_request_error");
    ck_assert_ptr_nonnull(strstr(ans, "Request head too large"));
    free(q);
    /* one oversized header */
    q = big_request("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", 420 * 1024, 'b', "\r\n\r\n", &len);
    ck_assert_int_gt(test_raw(srv.port, q, len, 0, ans, sizeof(ans), 5000), 0);
    assert_raw_json(ans, 400, "invalid_request_error");
    free(q);
    /* more header fields than h2o parses */
    char many[8192];
    int n = snprintf(many, sizeof(many), "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 120; i++)
        n += snprintf(many + n, sizeof(many) - (size_t)n, "X-H%d: 1\r\n", i);
    n += snprintf(many + n, sizeof(many) - (size_t)n, "\r\n");
    ck_assert_int_gt(test_raw(srv.port, many, (size_t)n, 0, ans, sizeof(ans), 5000), 0);
    assert_raw_json(ans, 400, "invalid_request_error");
    /* the second request of a keep-alive connection too */
    q = big_request("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz?", 420 * 1024, 'c', " HTTP/1.1\r\nHost: x\r\n\r\n", &len);
    ck_assert_int_gt(test_raw(srv.port, q, len, 0, ans, sizeof(ans), 5000), 0);
    ck_assert_msg(strncmp(ans, "HTTP/1.1 200 ", 13) == 0, "%.200s", ans);
    const char *second = strstr(ans, "{\"status\":\"ok\"}");
    ck_assert_ptr_nonnull(second);
    assert_raw_json(second + 15, 400, "invalid_request_error");
    free(q);
    /* a 17 MiB body: h2o refuses it by its length, answered as ours */
    char head[512];
    n = snprintf(head, sizeof(head),
                 "POST " BASE "/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nauth-token: %s\r\n"
                 "Content-Length: %d\r\n\r\n",
                 tok, 17 << 20);
    ck_assert_int_gt(test_raw(srv.port, head, (size_t)n, 0, ans, sizeof(ans), 5000), 0);
    assert_raw_json(ans, 413, "invalid_request_error");
    ck_assert_ptr_nonnull(strstr(ans, "larger than 1048576 bytes"));
    /* bad chunking, which h2o answers through its fallback path */
    const char *chunked = "POST /v1/track HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    ck_assert_int_gt(test_raw(srv.port, chunked, strlen(chunked), 0, ans, sizeof(ans), 5000), 0);
    assert_raw_json(ans, 400, "invalid_request_error");
    ck_assert_ptr_nonnull(strstr(ans, "chunked"));
    /* and the server still serves */
    test_resp_t r;
    ck_assert_int_eq(test_http(srv.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
}
END_TEST

/* 150 profiles sharing an email (m0..m149, n = index, made in order), and
 * one with three timed events. */
START_TEST(test_seed)
{
    size_t cap = NPROF * 128 + 64, len = 0;
    char *b = malloc(cap);
    len += (size_t)snprintf(b + len, cap - len, "{\"batch\":[");
    for (int i = 0; i < NPROF; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"type\":\"identify\",\"userId\":\"m%d\",\"traits\":{\"email\":\"many@example.com\",\"n\":%d}}",
                                i > 0 ? "," : "", i, i);
    snprintf(b + len, cap - len, "]}");
    post_ok(BASE "/batch", b);
    free(b);
    post_ok(BASE "/batch", "{\"batch\":["
                           "{\"type\":\"track\",\"userId\":\"timed\",\"event\":\"a\",\"timestamp\":\"2020-01-01T19:00:00Z\"},"
                           "{\"type\":\"track\",\"userId\":\"timed\",\"event\":\"b\",\"timestamp\":\"2020-01-01T20:30:00Z\"},"
                           "{\"type\":\"track\",\"userId\":\"timed\",\"event\":\"c\",\"timestamp\":\"2020-01-01T21:00:00Z\"}]}");
}
END_TEST

static Suite *
edges_suite(void)
{
    Suite *s = suite_create("edges");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_seed); /* first: the rest read what it stores */
    tcase_add_test(tc, test_email_pages);
    tcase_add_test(tc, test_email_bounds);
    tcase_add_test(tc, test_email_etag_fields_batch);
    tcase_add_test(tc, test_unknown_params);
    tcase_add_test(tc, test_start_plus_as_space);
    tcase_add_test(tc, test_refused_heads);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("edges.db");
    test_token_create(db, "acme", "shop", "EDGE", tok);
    test_token_create_perms(db, "acme", "shop", "EDGE", "read,delete", del_tok);
    const char *extra[] = {"--threads", "1", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(edges_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
