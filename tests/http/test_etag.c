/* test_etag.c -- conditional reads over real HTTP: the traits, metadata
 * (and meta), audiences and external_ids routes answer with a strong ETag
 * of their body; If-None-Match naming it (alone, W/, in a list, or *)
 * answers 304 with no body and the same ETag and standard headers; another
 * tag answers 200. An ingest that changes the traits changes their tag; a
 * track changes metadata's tag but not the traits'. A 404, the events
 * route and the profile list carry no ETag. HEAD, keep-alive framing of a
 * 304, and the gzip variant of a tag. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/WEB/v1"

static test_server_t srv;
static char *db;
static char tok[128];

static const char *const routes[] = {"/traits", "/metadata", "/meta", "/audiences", "/external_ids"};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static void
post_ok(const char *uri, const char *body)
{
    test_post_ok(srv.port, tok, uri, body);
}

/* method on profile's route, with If-None-Match inm (NULL: none) and
 * Accept-Encoding ae (NULL: none); the status. */
static int
req(const char *method, const char *profile, const char *route, const char *inm, const char *ae, test_resp_t *r)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s%s", profile, route);
    const char *h[8] = {"auth-token", tok};
    int n = 2;
    if (inm != NULL) {
        h[n++] = "if-none-match";
        h[n++] = inm;
    }
    if (ae != NULL) {
        h[n++] = "accept-encoding";
        h[n++] = ae;
    }
    h[n] = NULL;
    ck_assert_int_eq(test_http(srv.port, method, uri, h, NULL, 0, r), 0);
    return r->status;
}

/* The ETag of a 200 GET (asserted "\"<16 lower hex>\""), into out (32 bytes). */
static void
etag_of(const char *profile, const char *route, char *out)
{
    test_resp_t r;
    ck_assert_int_eq(req("GET", profile, route, NULL, NULL, &r), 200);
    const char *e = test_header(&r, "etag");
    ck_assert_msg(e != NULL, "GET %s%s has no ETag", profile, route);
    ck_assert_uint_eq(strlen(e), 18);
    ck_assert_int_eq(e[0], '"');
    ck_assert_int_eq(e[17], '"');
    for (int i = 1; i < 17; i++)
        ck_assert_msg(isxdigit((unsigned char)e[i]) && !isupper((unsigned char)e[i]), "ETag %s", e);
    snprintf(out, 32, "%s", e);
    test_resp_free(&r);
}

/* The body of a 200 GET (malloc'd). */
static char *
body_of(const char *profile, const char *route)
{
    test_resp_t r;
    ck_assert_int_eq(req("GET", profile, route, NULL, NULL, &r), 200);
    char *b = strdup(r.body);
    test_resp_free(&r);
    return b;
}

/* A 304 for inm: no body, the given ETag, the request id and rate-limit fields. */
static void
assert_304(const char *method, const char *profile, const char *route, const char *inm, const char *etag)
{
    test_resp_t r;
    ck_assert_msg(req(method, profile, route, inm, NULL, &r) == 304, "%s %s%s If-None-Match %s -> %d", method, profile, route, inm,
                  r.status);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_str_eq(test_header(&r, "etag"), etag);
    ck_assert_ptr_nonnull(test_header(&r, "x-amzn-requestid"));
    ck_assert_ptr_nonnull(test_header(&r, "x-ratelimit-remaining"));
    ck_assert_ptr_nonnull(test_header(&r, "ratelimit"));
    ck_assert_ptr_null(test_header(&r, "content-type"));
    test_resp_free(&r);
}

/* A 200 with a body and the ETag etag despite If-None-Match inm. */
static void
assert_200(const char *profile, const char *route, const char *inm, const char *etag)
{
    test_resp_t r;
    ck_assert_msg(req("GET", profile, route, inm, NULL, &r) == 200, "GET %s%s If-None-Match %s -> %d", profile, route, inm,
                  r.status);
    ck_assert_uint_gt(r.len, 2);
    ck_assert_str_eq(test_header(&r, "etag"), etag);
    test_resp_free(&r);
}

START_TEST(test_conditional_reads)
{
    post_ok(BASE "/identify",
            "{\"userId\":\"alice\",\"anonymousId\":\"a1\",\"traits\":{\"plan\":\"pro\",\"email\":\"alice@example.com\"}}");
    char tag[NROUTES][32];
    for (size_t i = 0; i < NROUTES; i++) {
        etag_of("userId:alice", routes[i], tag[i]);
        char again[32];
        etag_of("userId:alice", routes[i], again);
        ck_assert_str_eq(again, tag[i]); /* the same body, the same tag */
        /* the tag alone, weak, in a list, and * */
        assert_304("GET", "userId:alice", routes[i], tag[i], tag[i]);
        char list[256];
        snprintf(list, sizeof(list), "W/%s", tag[i]);
        assert_304("GET", "userId:alice", routes[i], list, tag[i]);
        snprintf(list, sizeof(list), "\"0123456789abcdef\", %s", tag[i]);
        assert_304("GET", "userId:alice", routes[i], list, tag[i]);
        snprintf(list, sizeof(list), "\"0123456789abcdef\",*");
        assert_304("GET", "userId:alice", routes[i], list, tag[i]);
        assert_304("GET", "userId:alice", routes[i], "*", tag[i]);
        /* another tag, a tag cut short, one that only starts the same: 200 */
        assert_200("userId:alice", routes[i], "\"0123456789abcdef\"", tag[i]);
        char cut[32];
        snprintf(cut, sizeof(cut), "%.16s\"", tag[i]);
        assert_200("userId:alice", routes[i], cut, tag[i]);
        snprintf(list, sizeof(list), "%.17sx\"", tag[i]);
        assert_200("userId:alice", routes[i], list, tag[i]);
        /* HEAD: the same tag, and 304 */
        test_resp_t r;
        ck_assert_int_eq(req("HEAD", "userId:alice", routes[i], NULL, NULL, &r), 200);
        ck_assert_str_eq(test_header(&r, "etag"), tag[i]);
        test_resp_free(&r);
        assert_304("HEAD", "userId:alice", routes[i], tag[i], tag[i]);
    }
    ck_assert_str_eq(tag[1], tag[2]); /* meta is metadata */
    ck_assert_str_ne(tag[0], tag[1]);
    /* the same tag by another id of the profile (the same body) */
    char by_anon[32];
    etag_of("anonymousId:a1", "/traits", by_anon);
    ck_assert_str_eq(by_anon, tag[0]);

    /* a track: metadata changes (lastEvent...), the traits do not */
    char *meta_before = body_of("userId:alice", "/metadata");
    char *traits_before = body_of("userId:alice", "/traits");
    post_ok(BASE "/track", "{\"userId\":\"alice\",\"event\":\"Viewed\",\"messageId\":\"e-1\"}");
    char *meta_after = body_of("userId:alice", "/metadata");
    char *traits_after = body_of("userId:alice", "/traits");
    ck_assert_str_ne(meta_after, meta_before);
    ck_assert_str_eq(traits_after, traits_before);
    char t2[32], m2[32];
    etag_of("userId:alice", "/traits", t2);
    etag_of("userId:alice", "/metadata", m2);
    ck_assert_str_eq(t2, tag[0]);
    assert_304("GET", "userId:alice", "/traits", tag[0], tag[0]);
    ck_assert_str_ne(m2, tag[1]);
    assert_200("userId:alice", "/metadata", tag[1], m2);
    assert_200("userId:alice", "/meta", tag[1], m2);
    assert_304("GET", "userId:alice", "/metadata", m2, m2);
    free(meta_before);
    free(meta_after);
    free(traits_before);
    free(traits_after);

    /* a new trait: the traits' tag changes, the old one gets 200 */
    post_ok(BASE "/identify", "{\"userId\":\"alice\",\"traits\":{\"city\":\"Leeds\"}}");
    char t3[32];
    etag_of("userId:alice", "/traits", t3);
    ck_assert_str_ne(t3, tag[0]);
    assert_200("userId:alice", "/traits", tag[0], t3);
    assert_304("GET", "userId:alice", "/traits", t3, t3);
    /* a new external id: external_ids' tag changes */
    post_ok(BASE "/identify", "{\"userId\":\"alice\",\"anonymousId\":\"a2\"}");
    char x3[32];
    etag_of("userId:alice", "/external_ids", x3);
    ck_assert_str_ne(x3, tag[4]);
    assert_200("userId:alice", "/external_ids", tag[4], x3);
}
END_TEST

START_TEST(test_no_etag)
{
    post_ok(BASE "/identify", "{\"userId\":\"bob\",\"traits\":{\"plan\":\"free\"}}");
    test_resp_t r;
    /* an unknown profile: 404, no tag, also with If-None-Match: * */
    for (size_t i = 0; i < NROUTES; i++) {
        ck_assert_int_eq(req("GET", "userId:nobody", routes[i], NULL, NULL, &r), 404);
        ck_assert_ptr_null(test_header(&r, "etag"));
        test_resp_free(&r);
        ck_assert_int_eq(req("GET", "userId:nobody", routes[i], "*", NULL, &r), 404);
        ck_assert_ptr_null(test_header(&r, "etag"));
        json_object *j = test_json(&r);
        test_assert_error(&r, j, 404, "not_found");
        json_object_put(j);
        test_resp_free(&r);
    }
    /* a malformed id: 400, no tag */
    ck_assert_int_eq(req("GET", "nocolon", "/traits", "*", NULL, &r), 400);
    ck_assert_ptr_null(test_header(&r, "etag"));
    test_resp_free(&r);
    /* events and the profile list are not conditional */
    ck_assert_int_eq(req("GET", "userId:bob", "/events", "*", NULL, &r), 200);
    ck_assert_ptr_null(test_header(&r, "etag"));
    test_resp_free(&r);
    const char *h[] = {"auth-token", tok, "if-none-match", "*", NULL};
    ck_assert_int_eq(test_http(srv.port, "GET", BASE "/profiles", h, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(test_header(&r, "etag"));
    test_resp_free(&r);
}
END_TEST

/* A 304 on a keep-alive connection is framed without a body: the next
 * answer on the same connection follows it intact. */
START_TEST(test_keepalive_framing)
{
    post_ok(BASE "/identify", "{\"userId\":\"carol\",\"traits\":{\"plan\":\"pro\"}}");
    char tag[32];
    etag_of("userId:carol", "/traits", tag);
    char data[1024];
    int n = snprintf(data, sizeof(data),
                     "GET " BASE "/profiles/userId:carol/traits HTTP/1.1\r\nHost: x\r\nauth-token: %s\r\nIf-None-Match: %s\r\n\r\n"
                     "GET " BASE "/profiles/userId:carol/traits HTTP/1.1\r\nHost: x\r\nauth-token: %s\r\nConnection: close\r\n\r\n",
                     tok, tag, tok);
    char buf[8192];
    ck_assert_int_gt(test_raw(srv.port, data, (size_t)n, 0, buf, sizeof(buf), 5000), 0);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 304 ", 13) == 0, "%s", buf);
    char *second = strstr(buf + 1, "HTTP/1.1 200 ");
    ck_assert_msg(second != NULL, "%s", buf);
    /* nothing between the 304's header end and the next status line */
    char *end = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_eq(end + 4, second);
    *second = '\0';
    ck_assert_ptr_null(strcasestr(buf, "transfer-encoding"));
    ck_assert_ptr_nonnull(strcasestr(buf, tag));
    ck_assert_ptr_nonnull(strstr(second + 1, "\"plan\":\"pro\""));
}
END_TEST

/* A gzipped answer is another representation: its tag is "<hex>-gzip";
 * either variant's tag gets a 304 with the tag of the variant asked for. */
START_TEST(test_gzip_variant)
{
    char big[2000];
    int n = snprintf(big, sizeof(big), "{\"userId\":\"dan\",\"traits\":{\"bio\":\"");
    for (int i = 0; i < 1500; i++)
        big[n++] = 'a' + i % 3;
    snprintf(big + n, sizeof(big) - (size_t)n, "\"}}");
    post_ok(BASE "/identify", big);
    char plain[32];
    etag_of("userId:dan", "/traits", plain);
    char gz[40];
    snprintf(gz, sizeof(gz), "%.17s-gzip\"", plain);
    test_resp_t r;
    ck_assert_int_eq(req("GET", "userId:dan", "/traits", NULL, "gzip", &r), 200);
    ck_assert_str_eq(test_header(&r, "content-encoding"), "gzip");
    ck_assert_str_eq(test_header(&r, "etag"), gz);
    test_resp_free(&r);
    ck_assert_int_eq(req("GET", "userId:dan", "/traits", plain, "gzip", &r), 304);
    ck_assert_str_eq(test_header(&r, "etag"), gz);
    ck_assert_str_eq(test_header(&r, "vary"), "accept-encoding");
    test_resp_free(&r);
    ck_assert_int_eq(req("GET", "userId:dan", "/traits", gz, NULL, &r), 304);
    ck_assert_str_eq(test_header(&r, "etag"), plain);
    test_resp_free(&r);
    ck_assert_int_eq(req("GET", "userId:dan", "/traits", gz, "gzip", &r), 304);
    ck_assert_str_eq(test_header(&r, "etag"), gz);
    test_resp_free(&r);
}
END_TEST

static Suite *
etag_suite(void)
{
    Suite *s = suite_create("etag");
    TCase *tc = tcase_create("etag");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conditional_reads);
    tcase_add_test(tc, test_no_etag);
    tcase_add_test(tc, test_keepalive_framing);
    tcase_add_test(tc, test_gzip_variant);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("etag.db");
    test_token_create(db, "acme", "shop", "WEB", tok);
    const char *extra[] = {"--threads", "2", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(etag_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
