/* test_docs_files.c -- the API reference routes over real HTTP, without
 * npm: a docs directory with a small api.html and openapi.json (given by
 * --docs-dir, and by PROFILED_DOCS_DIR) is served byte for byte at /docs
 * and /openapi.json without a token, with the content types, request id,
 * no-cache, ETag (304 on If-None-Match), nosniff and the page's CSP; HEAD
 * answers without a body, POST 405; gzip (made at start) when asked; a directory without the files answers
 * both 404 not_found saying how to build them. (tests/docs/ renders the
 * real document in Chromium.) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>
#include "testhttp.h"
#include "testutil.h"

static const char page[] = "<!DOCTYPE html><html><head><title>ref</title></head><body>GET /healthz</body></html>\n";
static const char doc[] = "{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"paths\":{}}\n";

static char *dir, *empty, *db;

static void
write_file(const char *d, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", d, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0)
        abort(); /* outside a test: no ck_assert */
}

/* GET (or method) uri with headers h; asserts the request id. */
static int
get(test_server_t *s, const char *method, const char *uri, const char *const *h, test_resp_t *r)
{
    ck_assert_int_eq(test_http(s->port, method, uri, h, NULL, 0, r), 0);
    ck_assert_msg(test_header(r, "x-amzn-requestid") != NULL, "%s %s: no x-amzn-RequestId", method, uri);
    return r->status;
}

static void
check_served(test_server_t *s)
{
    static const struct {
        const char *uri, *type, *body;
    } files[] = {{"/docs", "text/html; charset=utf-8", page}, {"/openapi.json", "application/json; charset=utf-8", doc}};
    for (size_t i = 0; i < 2; i++) {
        test_resp_t r;
        ck_assert_int_eq(get(s, "GET", files[i].uri, NULL, &r), 200);
        ck_assert_uint_eq(r.len, strlen(files[i].body));
        ck_assert(memcmp(r.body, files[i].body, r.len) == 0);
        ck_assert_str_eq(test_header(&r, "content-type"), files[i].type);
        ck_assert_str_eq(test_header(&r, "cache-control"), "no-cache");
        ck_assert_str_eq(test_header(&r, "x-content-type-options"), "nosniff");
        const char *csp = test_header(&r, "content-security-policy");
        if (i == 0) {
            ck_assert_ptr_nonnull(csp);
            ck_assert(strncmp(csp, "default-src 'none'; ", 20) == 0);
            ck_assert_ptr_nonnull(strstr(csp, "connect-src 'self'"));
        } else {
            ck_assert_ptr_null(csp);
        }
        char etag[64];
        ck_assert_ptr_nonnull(test_header(&r, "etag"));
        snprintf(etag, sizeof(etag), "%s", test_header(&r, "etag"));
        ck_assert_uint_eq(strlen(etag), 18);
        test_resp_free(&r);

        /* a token is not needed, and a wrong one is not looked at */
        const char *bad[] = {"auth-token", "pd_0000000000000000_nope", NULL};
        ck_assert_int_eq(get(s, "GET", files[i].uri, bad, &r), 200);
        test_resp_free(&r);

        const char *inm[] = {"if-none-match", etag, NULL};
        ck_assert_int_eq(get(s, "GET", files[i].uri, inm, &r), 304);
        ck_assert_uint_eq(r.len, 0);
        ck_assert_str_eq(test_header(&r, "etag"), etag);
        test_resp_free(&r);

        ck_assert_int_eq(get(s, "HEAD", files[i].uri, NULL, &r), 200);
        ck_assert_uint_eq(r.len, 0);
        ck_assert_str_eq(test_header(&r, "content-type"), files[i].type);
        test_resp_free(&r);

        ck_assert_int_eq(get(s, "POST", files[i].uri, NULL, &r), 405);
        ck_assert_str_eq(test_header(&r, "allow"), "GET, HEAD");
        test_resp_free(&r);
    }
}

START_TEST(test_served_by_flag)
{
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "1", "--docs-dir", dir, NULL};
    test_server_start(&s, db, extra);
    check_served(&s);
    test_server_stop(&s);
}
END_TEST

/* A page over --compress-min-size: gzipped when asked (the copy made at
 * start), inflating to the file; the -gzip tag; 304 on it. */
START_TEST(test_gzip)
{
    char big[64 * 1024];
    size_t n = 0;
    n += (size_t)snprintf(big + n, sizeof(big) - n, "<!DOCTYPE html><html><body>");
    for (int i = 0; n + 64 < sizeof(big); i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "<p>GET /route/%d</p>\n", i);
    snprintf(big + n, sizeof(big) - n, "</body></html>\n");
    char *bigdir = test_tmp_path("big");
    if (mkdir(bigdir, 0700) != 0)
        ck_abort_msg("mkdir %s", bigdir);
    write_file(bigdir, "api.html", big);
    write_file(bigdir, "openapi.json", doc);
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "1", "--docs-dir", bigdir, NULL};
    test_server_start(&s, db, extra);
    const char *ae[] = {"accept-encoding", "gzip", NULL};
    test_resp_t r;
    ck_assert_int_eq(get(&s, "GET", "/docs", ae, &r), 200);
    ck_assert_str_eq(test_header(&r, "content-encoding"), "gzip");
    ck_assert_str_eq(test_header(&r, "vary"), "accept-encoding");
    ck_assert_uint_lt(r.len, strlen(big) / 4);
    char *plain = malloc(sizeof(big));
    uLongf plain_len = sizeof(big);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *)r.body;
    zs.avail_in = (uInt)r.len;
    zs.next_out = (Bytef *)plain;
    zs.avail_out = (uInt)plain_len;
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(zs.total_out, strlen(big));
    ck_assert(memcmp(plain, big, strlen(big)) == 0);
    inflateEnd(&zs);
    free(plain);
    char etag[64];
    snprintf(etag, sizeof(etag), "%s", test_header(&r, "etag"));
    ck_assert_uint_eq(strlen(etag), 23);
    ck_assert_str_eq(etag + 17, "-gzip\"");
    test_resp_free(&r);
    const char *inm[] = {"accept-encoding", "gzip", "if-none-match", etag, NULL};
    ck_assert_int_eq(get(&s, "GET", "/docs", inm, &r), 304);
    ck_assert_str_eq(test_header(&r, "etag"), etag);
    test_resp_free(&r);
    /* without Accept-Encoding: the file as it is */
    ck_assert_int_eq(get(&s, "GET", "/docs", NULL, &r), 200);
    ck_assert_ptr_null(test_header(&r, "content-encoding"));
    ck_assert_uint_eq(r.len, strlen(big));
    test_resp_free(&r);
    test_server_stop(&s);
    char path[1024];
    snprintf(path, sizeof(path), "%s/api.html", bigdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/openapi.json", bigdir);
    unlink(path);
    rmdir(bigdir);
    free(bigdir);
}
END_TEST

START_TEST(test_served_by_env)
{
    test_server_t s;
    setenv("PROFILED_DOCS_DIR", dir, 1);
    const char *extra[] = {"--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, extra);
    unsetenv("PROFILED_DOCS_DIR");
    check_served(&s);
    test_server_stop(&s);
}
END_TEST

START_TEST(test_not_built)
{
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "1", "--docs-dir", empty, NULL};
    test_server_start(&s, db, extra);
    const char *uris[] = {"/docs", "/openapi.json"};
    const char *names[] = {"api.html", "openapi.json"};
    for (int i = 0; i < 2; i++) {
        test_resp_t r;
        get(&s, "GET", uris[i], NULL, &r);
        json_object *j = test_json(&r);
        test_assert_error(&r, j, 404, "not_found");
        const char *msg = test_jstr(j, "error.message");
        ck_assert_ptr_nonnull(strstr(msg, "The API reference was not built"));
        ck_assert_ptr_nonnull(strstr(msg, names[i]));
        ck_assert_ptr_nonnull(strstr(msg, "scripts/build-docs.sh"));
        ck_assert_ptr_nonnull(strstr(msg, empty));
        ck_assert_ptr_null(test_header(&r, "etag"));
        json_object_put(j);
        test_resp_free(&r);
    }
    /* the other routes are unaffected */
    test_resp_t r;
    ck_assert_int_eq(get(&s, "GET", "/healthz", NULL, &r), 200);
    test_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

static Suite *
docs_suite(void)
{
    Suite *s = suite_create("docs_files");
    TCase *tc = tcase_create("docs_files");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_served_by_flag);
    tcase_add_test(tc, test_served_by_env);
    tcase_add_test(tc, test_gzip);
    tcase_add_test(tc, test_not_built);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("docs.db");
    dir = test_tmp_path("docs");
    empty = test_tmp_path("empty");
    if (mkdir(dir, 0700) != 0 || mkdir(empty, 0700) != 0)
        abort();
    write_file(dir, "api.html", page);
    write_file(dir, "openapi.json", doc);
    int failed = test_run_suite(docs_suite());
    char path[1024];
    snprintf(path, sizeof(path), "%s/api.html", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/openapi.json", dir);
    unlink(path);
    rmdir(dir);
    rmdir(empty);
    test_rm_db(db);
    free(db);
    free(dir);
    free(empty);
    return failed == 0 ? 0 : 1;
}
