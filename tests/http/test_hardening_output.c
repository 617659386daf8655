/* test_hardening_output.c -- what the server writes out stays well formed
 * whatever comes in (issue 18, items 1 and 8), against a real server with
 * raw requests: a huge method neither crashes it nor breaks its log line;
 * every error body and log line is valid UTF-8 JSON, cut on a character
 * boundary; ids with lone surrogates are refused, not folded into U+FFFD. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage.h"
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/intilery/marketing/OUT/v1"

static test_server_t srv;
static char *db, *logpath;
static char tok[128];

/* UTF-8 as RFC 3629 has it, written here again on purpose: the test does
 * not trust the server's own checker (storage/text.c). */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], need, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, cp = c & 0x07;
        else
            return false;
        for (unsigned k = 1; k <= need; k++) {
            if (i + k >= n || (s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* A whole JSON value, nothing after it. */
static json_object *
parse_json(const char *s, size_t n)
{
    json_tokener *t = json_tokener_new();
    json_object *j = json_tokener_parse_ex(t, s, (int)n);
    if (j != NULL && json_tokener_get_parse_end(t) != n) {
        json_object_put(j);
        j = NULL;
    }
    json_tokener_free(t);
    return j;
}

typedef struct {
    int status;
    char *body; /* points into raw */
    size_t len;
    char raw[65536];
} raw_resp_t;

/* Sends raw bytes (the request should say Connection: close) and splits
 * the answer. 0, or -1 when no answer came. */
static int
raw_request(const char *data, size_t len, raw_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    int n = test_raw(srv.port, data, len, 0, r->raw, sizeof(r->raw), 3000);
    if (n <= 12 || strncmp(r->raw, "HTTP/1.1 ", 9) != 0)
        return -1;
    r->status = atoi(r->raw + 9);
    char *sep = strstr(r->raw, "\r\n\r\n");
    if (sep == NULL)
        return -1;
    r->body = sep + 4;
    r->len = (size_t)(r->raw + n - r->body);
    return 0;
}

/* The body is one JSON error object of valid UTF-8; returns its message
 * (malloc'd). */
static char *
assert_error_body(const raw_resp_t *r, int status, const char *code)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_msg(utf8_ok((const unsigned char *)r->body, r->len), "body is not UTF-8: %.*s", (int)r->len, r->body);
    json_object *j = parse_json(r->body, r->len);
    ck_assert_msg(j != NULL, "body is not JSON: %.*s", (int)r->len, r->body);
    ck_assert_str_eq(test_jstr(j, "error.code"), code);
    char *msg = strdup(test_jstr(j, "error.message"));
    json_object_put(j);
    return msg;
}

static int
healthz(void)
{
    test_resp_t r;
    int rc = test_http(srv.port, "GET", "/healthz", NULL, NULL, 0, &r);
    int status = rc == 0 ? r.status : 0;
    if (rc == 0)
        test_resp_free(&r);
    return status;
}

/* Every line of the access log so far is one JSON object of valid UTF-8;
 * returns how many lines and, when want is not NULL, whether one has it. */
static int
check_log(const char *want, bool *found)
{
    FILE *f = fopen(logpath, "r");
    ck_assert_ptr_nonnull(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lines = 0;
    if (found != NULL)
        *found = false;
    while ((n = getline(&line, &cap, f)) > 0) {
        lines++;
        ck_assert_msg(line[n - 1] == '\n', "log line %d not ended", lines);
        ck_assert_msg(utf8_ok((const unsigned char *)line, (size_t)n), "log line %d is not UTF-8: %s", lines, line);
        json_object *j = parse_json(line, (size_t)n - 1);
        ck_assert_msg(j != NULL && json_object_is_type(j, json_type_object), "log line %d is not JSON: %s", lines, line);
        json_object_put(j);
        if (want != NULL && strstr(line, want) != NULL)
            *found = true;
    }
    free(line);
    fclose(f);
    return lines;
}

START_TEST(test_huge_method_does_not_crash)
{
    /* the request of the issue: no token, a 1,859-byte method */
    size_t mlen = 1859;
    char *req = malloc(mlen + 128);
    memset(req, 'A', mlen);
    int n = snprintf(req + mlen, 128, " /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw_resp_t *r = malloc(sizeof(*r));
    ck_assert_int_eq(raw_request(req, mlen + (size_t)n, r), 0);
    free(assert_error_body(r, 405, "invalid_request_error"));
    ck_assert_int_eq(healthz(), 200); /* still up */

    /* its log line is whole: the method cut to 64 bytes and marked */
    bool found;
    check_log("\"method\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xe2\x80\xa6\"", &found);
    ck_assert(found);

    /* long tenant segments, one escaped six-fold in the log (a control
     * character), one of three-byte characters: each cut, the line whole */
    char *req2 = malloc(8192);
    size_t o = (size_t)sprintf(req2, "GET /track/c/");
    for (int i = 0; i < 300; i++)
        o += (size_t)sprintf(req2 + o, "%%01");
    req2[o++] = '/';
    for (int i = 0; i < 300; i++)
        o += (size_t)sprintf(req2 + o, "%%E2%%82%%AC"); /* U+20AC */
    o += (size_t)sprintf(req2 + o, "/v1/profiles HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(raw_request(req2, o, r), 0);
    ck_assert_int_eq(r->status, 401);
    ck_assert_int_eq(healthz(), 200);
    char want[1024];
    size_t w = (size_t)sprintf(want, "\"tenant\":\"c/");
    for (int i = 0; i < 128; i++)
        w += (size_t)sprintf(want + w, "\\u0001");
    w += (size_t)sprintf(want + w, "\xe2\x80\xa6/");
    for (int i = 0; i < 42; i++) /* 126 bytes: the 43rd character would pass 128 */
        w += (size_t)sprintf(want + w, "\xe2\x82\xac");
    sprintf(want + w, "\xe2\x80\xa6\"");
    check_log(want, &found);
    ck_assert(found);
    free(req2);
    free(req);
    free(r);
}
END_TEST

START_TEST(test_invalid_utf8_in_error_messages)
{
    raw_resp_t *r = malloc(sizeof(*r));
    char req[1024];
    char *msg;

    /* a percent-decoded idType that is not UTF-8 */
    int n =
        snprintf(req, sizeof(req),
                 "GET " BASE "/profiles/%%FF%%FE:x/traits HTTP/1.1\r\nHost: x\r\nauth-token: %s\r\nConnection: close\r\n\r\n", tok);
    ck_assert_int_eq(raw_request(req, (size_t)n, r), 0);
    msg = assert_error_body(r, 400, "validation_error");
    ck_assert_msg(strstr(msg, "Unknown idType '\xef\xbf\xbd\xef\xbf\xbd'") != NULL, "%s", msg); /* U+FFFD twice */
    free(msg);

    /* a method with a stray byte */
    const char m[] = "G\xffT /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ck_assert_int_eq(raw_request(m, sizeof(m) - 1, r), 0);
    msg = assert_error_body(r, 405, "invalid_request_error");
    ck_assert_msg(strstr(msg, "G\xef\xbf\xbdT") != NULL, "%s", msg);
    free(msg);

    /* a Content-Encoding value with stray bytes */
    const char body[] = "{\"userId\":\"enc\"}";
    n = snprintf(req, sizeof(req),
                 "POST " BASE "/identify HTTP/1.1\r\nHost: x\r\nauth-token: %s\r\nContent-Type: application/json\r\n"
                 "Content-Encoding: gz\xc3\x28ip\xfe\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 tok, sizeof(body) - 1, body);
    ck_assert_int_eq(raw_request(req, (size_t)n, r), 0);
    msg = assert_error_body(r, 400, "invalid_request_error");
    ck_assert_msg(strstr(msg, "'gz\xef\xbf\xbd(ip\xef\xbf\xbd'") != NULL, "%s", msg);
    free(msg);

    /* and every line logged for them */
    bool found;
    check_log("\"method\":\"G\xef\xbf\xbdT\"", &found);
    ck_assert(found);
    free(r);
}
END_TEST

START_TEST(test_long_id_type_cut_on_character_boundary)
{
    /* 400 two-byte characters: 800 bytes, past the message limit (512) */
    char *req = malloc(8192);
    size_t o = (size_t)sprintf(req, "GET " BASE "/profiles/");
    for (int i = 0; i < 400; i++)
        o += (size_t)sprintf(req + o, "%%C3%%A9"); /* é */
    o += (size_t)sprintf(req + o, ":x/traits HTTP/1.1\r\nHost: x\r\nauth-token: %s\r\nConnection: close\r\n\r\n", tok);
    raw_resp_t *r = malloc(sizeof(*r));
    ck_assert_int_eq(raw_request(req, o, r), 0);
    char *msg = assert_error_body(r, 400, "validation_error");
    size_t len = strlen(msg);
    ck_assert_uint_lt(len, 512);
    ck_assert_uint_gt(len, 400);
    ck_assert_ptr_null(strstr(msg, "\xef\xbf\xbd"));         /* nothing replaced: no half character */
    ck_assert_str_eq(msg + len - 5, "\xc3\xa9\xe2\x80\xa6"); /* whole é, then the cut mark */
    free(msg);
    free(req);
    free(r);
}
END_TEST

/* POST an identify body; returns the status (and the parsed body). */
static int
identify(const char *body, json_object **j, test_resp_t *r)
{
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    *j = test_post(srv.port, BASE "/identify", h, body, strlen(body), r);
    return r->status;
}

static void
assert_refused(const char *body, const char *field)
{
    test_resp_t r;
    json_object *j;
    int status = identify(body, &j, &r);
    ck_assert_msg(status == 400, "%s -> %d %s", body, status, r.body);
    test_assert_error(&r, j, 400, "validation_error");
    const char *msg = test_jstr(j, "error.message");
    ck_assert_msg(strstr(msg, field) != NULL && strstr(msg, "surrogate") != NULL, "%s", msg);
    json_object_put(j);
    test_resp_free(&r);
}

static int
get_status(const char *path)
{
    test_resp_t r;
    char uri[512];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", path);
    json_object *j = test_get(srv.port, uri, tok, &r);
    int status = r.status;
    if (status == 400)
        test_assert_error(&r, j, 400, "validation_error");
    json_object_put(j);
    test_resp_free(&r);
    return status;
}

START_TEST(test_lone_surrogate_ids_refused)
{
    /* in a message: every id field, and the email that links profiles */
    assert_refused("{\"userId\":\"\\ud800\",\"traits\":{\"who\":\"first\"}}", "userId");
    assert_refused("{\"userId\":\"x\\uDFFFy\",\"traits\":{\"who\":\"second\"}}", "userId");
    assert_refused("{\"anonymousId\":\"\\udbff\"}", "anonymousId");
    assert_refused("{\"userId\":\"\\udc00\\ud800\"}", "userId"); /* the wrong order is no pair */
    assert_refused("{\"userId\":\"ok\",\"messageId\":\"\\ud800\"}", "messageId");
    assert_refused("{\"userId\":\"ok\",\"traits\":{\"email\":\"a\\ud800@example.com\"}}", "traits.email");
    assert_refused("{\"userId\":\"ok\",\"context\":{\"traits\":{\"email\":\"\\udfff@example.com\"}}}", "context.traits.email");
    const char batch[] = "{\"batch\":[{\"type\":\"identify\",\"userId\":\"\\ud800\"}]}";
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    test_resp_t r;
    json_object *j = test_post(srv.port, BASE "/batch", h, batch, sizeof(batch) - 1, &r);
    test_assert_error(&r, j, 400, "validation_error");
    json_object_put(j);
    test_resp_free(&r);
    /* nothing was stored under U+FFFD */
    ck_assert_int_eq(get_status("userId:%EF%BF%BD/traits"), 404);

    /* a real pair is a character (U+1F600), and an escaped backslash
     * before "ud800" is no escape */
    ck_assert_int_eq(identify("{\"userId\":\"smile\\ud83d\\ude00\"}", &j, &r), 200);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(identify("{\"userId\":\"back\\\\ud800\"}", &j, &r), 200);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(get_status("userId:smile%F0%9F%98%80/traits"), 200);

    /* in a path: percent-encoded surrogates, and stray bytes */
    ck_assert_int_eq(get_status("userId:%ED%A0%80/traits"), 400);
    ck_assert_int_eq(get_status("userId:%ED%BF%BF/traits"), 400);
    ck_assert_int_eq(get_status("anonymousId:a%FFb/events"), 400);
    ck_assert_int_eq(get_status("email:%C0%AF/metadata"), 400); /* overlong "/" */
    ck_assert_int_eq(get_status("userId:nobody%C3%A9/traits"), 404);
}
END_TEST

START_TEST(test_access_log_never_writes_raw_bytes)
{
    /* the tenant segments of the path are percent-decoded: 0xFF in them */
    raw_resp_t *r = malloc(sizeof(*r));
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /track/%%FFcli/acc%%C3/br%%ED%%A0%%80/v1/profiles/userId:x/traits HTTP/1.1\r\nHost: x\r\n"
                     "auth-token: %s\r\nConnection: close\r\n\r\n",
                     tok);
    ck_assert_int_eq(raw_request(req, (size_t)n, r), 0);
    ck_assert_int_eq(r->status, 403);
    bool found;
    check_log("\"tenant\":\"\xef\xbf\xbd"
              "cli/acc\xef\xbf\xbd/br\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
              &found);
    ck_assert(found);
    free(r);
}
END_TEST

/* The shared helper (storage/text.c) on its own: the accumulation that
 * crashed the access log, and cuts that must land between characters. */
START_TEST(test_text_helpers)
{
    char buf[16];
    size_t len = 0;
    ck_assert(base_appendf(buf, sizeof(buf), &len, "%s", "0123456789"));
    ck_assert(!base_appendf(buf, sizeof(buf), &len, "%s", "0123456789")); /* cut */
    ck_assert_uint_eq(len, sizeof(buf) - 1);
    ck_assert(!base_appendf(buf, sizeof(buf), &len, "more")); /* len stays inside */
    ck_assert_uint_eq(len, sizeof(buf) - 1);
    ck_assert_str_eq(buf, "012345678901234");

    const char e3[] = "a\xe2\x82\xac\xe2\x82\xac"; /* a, then two U+20AC */
    ck_assert_uint_eq(base_utf8_prefix(e3, 7, 7), 7);
    ck_assert_uint_eq(base_utf8_prefix(e3, 7, 6), 4);
    ck_assert_uint_eq(base_utf8_prefix(e3, 7, 5), 4);
    ck_assert_uint_eq(base_utf8_prefix(e3, 7, 3), 1);

    char out[32];
    size_t used, w = base_utf8_copy("x\xff\xed\xa0\x80y", 6, out, sizeof(out), &used);
    ck_assert_uint_eq(used, 6);
    ck_assert_uint_eq(w, 2 + 4 * 3); /* each stray byte: U+FFFD */
    ck_assert(utf8_ok((const unsigned char *)out, w));
    w = base_utf8_copy(e3, 7, out, 6, &used); /* room for a and one character */
    ck_assert_uint_eq(w, 4);
    ck_assert_uint_eq(used, 4);

    w = base_json_escape("q\"\\\n\x01\xc3\xa9\xc3", 8, out, sizeof(out), &used);
    ck_assert_uint_eq(used, 8);
    out[w] = '\0';
    ck_assert_str_eq(out, "q\\\"\\\\\\n\\u0001\xc3\xa9\xef\xbf\xbd");
    w = base_json_escape("ab\x01", 3, out, 7, &used); /* the escape would not fit whole */
    ck_assert_uint_eq(w, 2);
    ck_assert_uint_eq(used, 2);

    ck_assert(base_utf8_valid("\xf0\x9f\x98\x80", 4));
    ck_assert(!base_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    ck_assert(!base_utf8_valid("\xc0\xaf", 2));         /* overlong */
    ck_assert(!base_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}
END_TEST

static Suite *
output_suite(void)
{
    Suite *s = suite_create("hardening_output");
    TCase *tc = tcase_create("output");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_huge_method_does_not_crash);
    tcase_add_test(tc, test_invalid_utf8_in_error_messages);
    tcase_add_test(tc, test_long_id_type_cut_on_character_boundary);
    tcase_add_test(tc, test_lone_surrogate_ids_refused);
    tcase_add_test(tc, test_access_log_never_writes_raw_bytes);
    tcase_add_test(tc, test_text_helpers);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("output.db");
    logpath = test_tmp_path("access.log");
    const char *imp[] = {"import", "--db", db, "--client", "intilery", "--account", "marketing", "--brand", "OUT", "-", NULL};
    if (test_cli(imp, NULL, NULL, NULL) != 0)
        return 1;
    test_token_create(db, "intilery", "marketing", "OUT", tok);
    const char *extra[] = {"--threads", "1", "--workers", "1", "--access-log", logpath, NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(output_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    free(logpath);
    return failed == 0 ? 0 : 1;
}
