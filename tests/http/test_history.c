/* test_history.c -- trait provenance and history over real HTTP: traits
 * ?verbose=true after identifies arriving out of timestamp order (the
 * newest wins and shows its messageId and source), with fields and the
 * email form; traits/history newest first, paged by limit and scrollId
 * (every change once), start/end, across a merge; traits?at= at, just
 * before and just after a change; retention (--trait-history-days 30 on a
 * second server) and 0 (404 on both routes); erasure; another tenant;
 * bad parameters. Times are relative to the wall clock, days apart, so the
 * retention cuts are not near any boundary. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/WEB/v1"
#define OTHER "/track/acme/other/WEB/v1"
#define DAY 86400000LL

static test_server_t srv;
static char tok[128], tok_other[128];
static int64_t now0;

static void
post_ok_as(const char *token, const char *uri, const char *body)
{
    test_post_ok(srv.port, token, uri, body);
}

/* ISO text of now0 + offset_ms (a static buffer per slot). */
static const char *
at(int slot, int64_t offset_ms)
{
    static char buf[8][32];
    return base_format_time(now0 + offset_ms, buf[slot]);
}

/* An identify of who (a "userId":"…" or "anonymousId":"…" member) with
 * messageId mid at now0 + offset_ms setting traits (object text). */
static void
identify(const char *token, const char *prefix, const char *who, const char *mid, int64_t offset_ms, const char *traits)
{
    char body[1024], uri[256];
    snprintf(body, sizeof(body), "{%s,\"messageId\":\"%s\",\"timestamp\":\"%s\",\"traits\":%s}", who, mid, at(7, offset_ms),
             traits);
    snprintf(uri, sizeof(uri), "%s/identify", prefix);
    post_ok_as(token, uri, body);
}

static json_object *
get(const char *uri, int status, test_resp_t *r)
{
    json_object *j = test_get(srv.port, uri, tok, r);
    ck_assert_msg(r->status == status, "GET %s -> %d %s", uri, r->status, r->body);
    return j;
}

/* The values of a history page's data, joined by ',' into out; the
 * scrollId into sid (1024 bytes) when not NULL. */
static int
page(const char *uri, char *out, size_t outlen, char *sid)
{
    test_resp_t r;
    json_object *j = get(uri, 200, &r);
    json_object *data = test_jget(j, "data");
    ck_assert_ptr_nonnull(data);
    size_t n = json_object_array_length(data), o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(data, i);
        o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? "," : "", json_object_to_json_string(test_jget(e, "value")));
        ck_assert_ptr_nonnull(test_jget(e, "time"));
        ck_assert_ptr_nonnull(test_jget(e, "messageId"));
    }
    if (sid != NULL)
        snprintf(sid, 1024, "%s", test_jstr(j, "scrollId"));
    json_object_put(j);
    test_resp_free(&r);
    return (int)n;
}

START_TEST(test_verbose_out_of_order)
{
    /* the newer message arrives first; the older one loses */
    identify(tok, BASE, "\"userId\":\"vera\"", "m-new", -2 * DAY,
             "{\"plan\":\"pro\",\"email\":\"vera@example.com\",\"tags\":{\"a\":1}}");
    char body[512];
    snprintf(body, sizeof(body),
             "{\"userId\":\"vera\",\"messageId\":\"m-old\",\"timestamp\":\"%s\",\"source\":\"crm\","
             "\"traits\":{\"plan\":\"free\",\"city\":\"Oslo\"}}",
             at(0, -5 * DAY));
    post_ok_as(tok, BASE "/identify", body);

    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:vera/traits?verbose=true", 200, &r);
    ck_assert_str_eq(test_jstr(j, "plan.value"), "pro");
    ck_assert_str_eq(test_jstr(j, "plan.messageId"), "m-new");
    ck_assert_str_eq(test_jstr(j, "plan.source"), "SEGMENT_API");
    ck_assert_str_eq(test_jstr(j, "plan.updatedTime"), at(1, -2 * DAY));
    ck_assert_int_eq(json_object_get_int(test_jget(j, "tags.value.a")), 1);
    /* a trait only the older message set comes from it */
    ck_assert_str_eq(test_jstr(j, "city.value"), "Oslo");
    ck_assert_str_eq(test_jstr(j, "city.messageId"), "m-old");
    ck_assert_str_eq(test_jstr(j, "city.source"), "crm");
    ck_assert_str_eq(test_jstr(j, "city.updatedTime"), at(2, -5 * DAY));
    /* id and externalId stay plain, computed too */
    ck_assert(json_object_is_type(test_jget(j, "id"), json_type_string));
    ck_assert_str_eq(test_jstr(j, "externalId"), "vera");
    ck_assert(json_object_is_type(test_jget(j, "computed"), json_type_object));
    char etag_verbose[64];
    snprintf(etag_verbose, sizeof(etag_verbose), "%s", test_header(&r, "etag"));
    json_object_put(j);
    test_resp_free(&r);

    /* plain is unchanged, and tagged apart */
    j = get(BASE "/profiles/userId:vera/traits", 200, &r);
    ck_assert_str_eq(test_jstr(j, "plan"), "pro");
    ck_assert_str_ne(test_header(&r, "etag"), etag_verbose);
    json_object_put(j);
    test_resp_free(&r);
    j = get(BASE "/profiles/userId:vera/traits?verbose=false", 200, &r);
    ck_assert_str_eq(test_jstr(j, "plan"), "pro");
    json_object_put(j);
    test_resp_free(&r);

    /* with fields: a dotted path into the verbose form */
    j = get(BASE "/profiles/userId:vera/traits?verbose=true&fields=plan.messageId,city", 200, &r);
    ck_assert_str_eq(test_jstr(j, "plan.messageId"), "m-new");
    ck_assert_ptr_null(test_jget(j, "plan.value"));
    ck_assert_str_eq(test_jstr(j, "city.value"), "Oslo");
    ck_assert_ptr_null(test_jget(j, "email"));
    ck_assert_ptr_nonnull(test_jget(j, "id"));
    json_object_put(j);
    test_resp_free(&r);

    /* If-None-Match with the verbose tag: 304 */
    const char *h[] = {"auth-token", tok, "if-none-match", etag_verbose, NULL};
    ck_assert_int_eq(test_http(srv.port, "GET", BASE "/profiles/userId:vera/traits?verbose=true", h, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 304);
    test_resp_free(&r);

    /* the email form */
    j = get(BASE "/profiles/email:vera@example.com/traits?verbose=true", 200, &r);
    ck_assert_str_eq(test_jstr(j, "data.0.plan.messageId"), "m-new");
    ck_assert_str_eq(test_jstr(j, "data.0.email.value"), "vera@example.com");
    json_object_put(j);
    test_resp_free(&r);

    j = get(BASE "/profiles/userId:vera/traits?verbose=yes", 400, &r);
    test_assert_error(&r, j, 400, "validation_error");
    ck_assert_ptr_nonnull(strstr(test_jstr(j, "error.message"), "'verbose'"));
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_history_paging)
{
    /* five changes, an identical value (no change) and a loser */
    const char *vals[] = {"\"a\"", "\"b\"", "1", "{\"x\":[1]}", "\"e\""};
    for (int i = 0; i < 5; i++) {
        char mid[16], tr[64];
        snprintf(mid, sizeof(mid), "p%d", i);
        snprintf(tr, sizeof(tr), "{\"plan\":%s}", vals[i]);
        identify(tok, BASE, "\"userId\":\"paul\"", mid, (-20 + 2 * i) * DAY, tr);
        if (i == 2)
            identify(tok, BASE, "\"userId\":\"paul\"", "same", (-20 + 2 * i) * DAY + 1000, tr);
    }
    identify(tok, BASE, "\"userId\":\"paul\"", "late", -30 * DAY, "{\"plan\":\"old\"}");

    char got[512], sid[1024], uri[1280];
    ck_assert_int_eq(page(BASE "/profiles/userId:paul/traits/history?trait=plan", got, sizeof(got), NULL), 5);
    ck_assert_str_eq(got, "\"e\",{ \"x\": [ 1 ] },1,\"b\",\"a\"");

    /* the newest change's messageId and time */
    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:paul/traits/history?trait=plan&limit=1", 200, &r);
    ck_assert_str_eq(test_jstr(j, "data.0.messageId"), "p4");
    ck_assert_str_eq(test_jstr(j, "data.0.time"), at(0, -12 * DAY));
    json_object_put(j);
    test_resp_free(&r);

    /* pages of two: every change exactly once, in order, then the end */
    char all[512] = "";
    ck_assert_int_eq(page(BASE "/profiles/userId:paul/traits/history?trait=plan&limit=2", got, sizeof(got), sid), 2);
    strcat(all, got);
    /* a change recorded after the first page is not in the scroll */
    identify(tok, BASE, "\"userId\":\"paul\"", "p5", -1 * DAY, "{\"plan\":\"f\"}");
    int n;
    do {
        snprintf(uri, sizeof(uri), BASE "/profiles/userId:paul/traits/history?scrollId=%s", sid);
        n = page(uri, got, sizeof(got), sid); /* each page names the next */
        if (n > 0) {
            strcat(all, ",");
            strcat(all, got);
        }
    } while (n == 2);
    ck_assert_str_eq(all, "\"e\",{ \"x\": [ 1 ] },1,\"b\",\"a\"");

    /* start inclusive, end exclusive */
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:paul/traits/history?trait=plan&start=%s&end=%s", at(0, -18 * DAY),
             at(1, -14 * DAY));
    ck_assert_int_eq(page(uri, got, sizeof(got), NULL), 2);
    ck_assert_str_eq(got, "1,\"b\"");

    /* an unknown trait has no changes; a known profile still */
    ck_assert_int_eq(page(BASE "/profiles/userId:paul/traits/history?trait=nope", got, sizeof(got), NULL), 0);
    j = get(BASE "/profiles/userId:nobody/traits/history?trait=plan", 404, &r);
    test_assert_error(&r, j, 404, "not_found");
    json_object_put(j);
    test_resp_free(&r);

    /* a history scroll is no events scroll, nor the other way round */
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:paul/events?scrollId=%s", sid);
    j = get(uri, 400, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
    j = get(BASE "/profiles/userId:paul/events", 200, &r);
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:paul/traits/history?scrollId=%s", test_jstr(j, "scrollId"));
    json_object_put(j);
    test_resp_free(&r);
    j = get(uri, 400, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_history_merge)
{
    identify(tok, BASE, "\"anonymousId\":\"anon-m\"", "ma", -9 * DAY, "{\"plan\":\"anon\"}");
    identify(tok, BASE, "\"userId\":\"mia\"", "mu", -8 * DAY, "{\"plan\":\"user\"}");
    /* one message with both ids joins the two profiles */
    identify(tok, BASE, "\"userId\":\"mia\",\"anonymousId\":\"anon-m\"", "mj", -7 * DAY, "{\"plan\":\"joined\"}");
    char got[256];
    ck_assert_int_eq(page(BASE "/profiles/userId:mia/traits/history?trait=plan", got, sizeof(got), NULL), 3);
    ck_assert_str_eq(got, "\"joined\",\"user\",\"anon\"");
    ck_assert_int_eq(page(BASE "/profiles/anonymousId:anon-m/traits/history?trait=plan", got, sizeof(got), NULL), 3);

    /* alias too */
    identify(tok, BASE, "\"anonymousId\":\"anon-z\"", "za", -6 * DAY, "{\"tier\":1}");
    identify(tok, BASE, "\"userId\":\"zoe\"", "zu", -5 * DAY, "{\"tier\":2}");
    char body[256];
    snprintf(body, sizeof(body), "{\"previousId\":\"anon-z\",\"userId\":\"zoe\",\"timestamp\":\"%s\"}", at(0, -4 * DAY));
    post_ok_as(tok, BASE "/alias", body);
    ck_assert_int_eq(page(BASE "/profiles/userId:zoe/traits/history?trait=tier", got, sizeof(got), NULL), 2);
    ck_assert_str_eq(got, "2,1");
}
END_TEST

START_TEST(test_at_boundaries)
{
    identify(tok, BASE, "\"userId\":\"ada\"", "a1", -10 * DAY, "{\"plan\":\"a\",\"keep\":true}");
    identify(tok, BASE, "\"userId\":\"ada\"", "a2", -5 * DAY, "{\"plan\":\"b\"}");
    struct {
        int64_t t;
        const char *plan; /* NULL: absent */
    } cases[] = {
        {-10 * DAY - 1, NULL}, {-10 * DAY, "a"}, {-10 * DAY + 1, "a"}, {-5 * DAY - 1, "a"}, {-5 * DAY, "b"}, {-5 * DAY + 1, "b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), BASE "/profiles/userId:ada/traits?at=%s", at(0, cases[i].t));
        test_resp_t r;
        json_object *j = get(uri, 200, &r);
        if (cases[i].plan == NULL) {
            ck_assert_msg(test_jget(j, "plan") == NULL, "at %s: %s", at(1, cases[i].t), r.body);
            ck_assert_ptr_null(test_jget(j, "keep"));
        } else {
            ck_assert_msg(test_jstr(j, "plan") != NULL && strcmp(test_jstr(j, "plan"), cases[i].plan) == 0, "at %s: %s",
                          at(1, cases[i].t), r.body);
            ck_assert(json_object_get_boolean(test_jget(j, "keep")));
        }
        ck_assert_ptr_nonnull(test_jget(j, "id"));
        ck_assert_str_eq(test_jstr(j, "externalId"), "ada");
        ck_assert_ptr_null(test_jget(j, "computed")); /* none under at */
        json_object_put(j);
        test_resp_free(&r);
    }
    /* with verbose: the change's provenance */
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:ada/traits?verbose=true&at=%s", at(0, -6 * DAY));
    test_resp_t r;
    json_object *j = get(uri, 200, &r);
    ck_assert_str_eq(test_jstr(j, "plan.value"), "a");
    ck_assert_str_eq(test_jstr(j, "plan.messageId"), "a1");
    ck_assert_str_eq(test_jstr(j, "plan.updatedTime"), at(1, -10 * DAY));
    json_object_put(j);
    test_resp_free(&r);
    /* a date alone is its midnight (UTC) */
    j = get(BASE "/profiles/userId:ada/traits?at=2001-01-01", 200, &r);
    ck_assert_ptr_null(test_jget(j, "plan"));
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_bad_params)
{
    identify(tok, BASE, "\"userId\":\"bob\"", "b1", -1 * DAY, "{\"plan\":\"x\"}");
    static const struct {
        const char *uri, *needle;
    } cases[] = {
        {BASE "/profiles/userId:bob/traits?at=yesterday", "'at'"},
        {BASE "/profiles/userId:bob/traits?at=", "'at'"},
        {BASE "/profiles/userId:bob/traits/history", "'trait'"},
        {BASE "/profiles/userId:bob/traits/history?trait=", "'trait'"},
        {BASE "/profiles/userId:bob/traits/history?trait=plan&start=soon", "'start'"},
        {BASE "/profiles/userId:bob/traits/history?trait=plan&end=2020-13-01", "'end'"},
        {BASE "/profiles/userId:bob/traits/history?trait=plan&limit=0", "'limit'"},
        {BASE "/profiles/userId:bob/traits/history?trait=plan&limit=101", "'limit'"},
        {BASE "/profiles/bob/traits/history?trait=plan", "id_type:id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_resp_t r;
        json_object *j = get(cases[i].uri, 400, &r);
        test_assert_error(&r, j, 400, "validation_error");
        ck_assert_msg(strstr(test_jstr(j, "error.message"), cases[i].needle) != NULL, "%s: %s", cases[i].uri, r.body);
        json_object_put(j);
        test_resp_free(&r);
    }
    /* no token */
    test_resp_t r;
    json_object *j = test_get(srv.port, BASE "/profiles/userId:bob/traits/history?trait=plan", NULL, &r);
    ck_assert_int_eq(r.status, 401);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_other_tenant)
{
    identify(tok, BASE, "\"userId\":\"tess\"", "t1", -3 * DAY, "{\"plan\":\"mine\"}");
    char got[256], sid[1024], uri[1280];
    ck_assert_int_eq(page(BASE "/profiles/userId:tess/traits/history?trait=plan&limit=1", got, sizeof(got), sid), 1);
    /* the other tenant's token on this tenant's path: refused */
    test_resp_t r;
    json_object *j = test_get(srv.port, BASE "/profiles/userId:tess/traits/history?trait=plan", tok_other, &r);
    ck_assert_int_eq(r.status, 403);
    json_object_put(j);
    test_resp_free(&r);
    /* its own tenant has a tess of its own, with only its changes */
    identify(tok_other, OTHER, "\"userId\":\"tess\"", "o1", -2 * DAY, "{\"plan\":\"theirs\"}");
    j = test_get(srv.port, OTHER "/profiles/userId:tess/traits/history?trait=plan", tok_other, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 1);
    ck_assert_str_eq(test_jstr(j, "data.0.value"), "theirs");
    json_object_put(j);
    test_resp_free(&r);
    snprintf(uri, sizeof(uri), OTHER "/profiles/userId:tess/traits?at=%s", at(0, -2 * DAY - 1));
    j = test_get(srv.port, uri, tok_other, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(test_jget(j, "plan"));
    json_object_put(j);
    test_resp_free(&r);
    /* nor may it continue this tenant's scroll */
    snprintf(uri, sizeof(uri), OTHER "/profiles/userId:tess/traits/history?scrollId=%s", sid);
    j = test_get(srv.port, uri, tok_other, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_erasure)
{
    identify(tok, BASE, "\"anonymousId\":\"era-1\"", "e1", -4 * DAY, "{\"email\":\"era@example.com\",\"plan\":\"gone\"}");
    char got[256];
    ck_assert_int_eq(page(BASE "/profiles/email:era@example.com/traits/history?trait=plan", got, sizeof(got), NULL), 1);
    test_resp_t r;
    ck_assert_int_eq(test_http(srv.port, "DELETE", BASE "/profiles/anonymousId:era-1",
                               (const char *const[]){"auth-token", tok, NULL}, NULL, 0, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
    /* a new profile with the same email has no history of the old one */
    identify(tok, BASE, "\"anonymousId\":\"era-2\"", "e2", -3 * DAY, "{\"email\":\"era@example.com\",\"plan\":\"new\"}");
    ck_assert_int_eq(page(BASE "/profiles/email:era@example.com/traits/history?trait=plan", got, sizeof(got), NULL), 1);
    ck_assert_str_eq(got, "\"new\"");
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/email:era@example.com/traits?at=%s", at(0, -3 * DAY - 1));
    json_object *j = get(uri, 200, &r);
    ck_assert_ptr_null(test_jget(j, "data.0.plan"));
    ck_assert_int_eq((int)json_object_array_length(test_jget(j, "data")), 1);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

/* A second server on its own database with --trait-history-days DAYS,
 * standing in for the suite's server (srv, tok) until alt_end. */
typedef struct {
    test_server_t srv;
    char tok[128];
    char *path;
} alt_t;

static void
alt_begin(alt_t *keep, const char *name, const char *days)
{
    test_server_t s2;
    char *path = test_tmp_path(name);
    keep->srv = srv;
    memcpy(keep->tok, tok, sizeof(tok));
    keep->path = path;
    test_token_create(path, "acme", "shop", "WEB", tok);
    const char *extra[] = {"--threads", "1", "--workers", "1", "--trait-history-days", days, NULL};
    test_server_start(&s2, path, extra);
    srv = s2;
}

static void
alt_end(alt_t *keep)
{
    ck_assert_int_eq(test_server_stop(&srv), 0);
    srv = keep->srv;
    memcpy(tok, keep->tok, sizeof(tok));
    test_rm_db(keep->path);
    free(keep->path);
}

START_TEST(test_retention)
{
    alt_t keep;
    alt_begin(&keep, "retention.db", "30");

    identify(tok, BASE, "\"userId\":\"rita\"", "r1", -40 * DAY, "{\"plan\":\"old\"}");
    identify(tok, BASE, "\"userId\":\"rita\"", "r2", -10 * DAY, "{\"plan\":\"new\"}");
    char got[256], uri[256];
    ck_assert_int_eq(page(BASE "/profiles/userId:rita/traits/history?trait=plan", got, sizeof(got), NULL), 1);
    ck_assert_str_eq(got, "\"new\"");
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:rita/traits?at=%s", at(0, -20 * DAY));
    test_resp_t r;
    json_object *j = get(uri, 200, &r);
    ck_assert_ptr_null(test_jget(j, "plan")); /* its change is past the retention */
    json_object_put(j);
    test_resp_free(&r);
    j = get(BASE "/profiles/userId:rita/traits", 200, &r);
    ck_assert_str_eq(test_jstr(j, "plan"), "new"); /* the trait itself stays */
    json_object_put(j);
    test_resp_free(&r);

    alt_end(&keep);
}
END_TEST

START_TEST(test_history_off)
{
    alt_t keep;
    alt_begin(&keep, "off.db", "0");

    identify(tok, BASE, "\"userId\":\"olga\"", "o1", -1 * DAY, "{\"plan\":\"x\"}");
    static const char *const uris[] = {
        BASE "/profiles/userId:olga/traits/history?trait=plan",
        BASE "/profiles/userId:olga/traits/history",
        BASE "/profiles/userId:olga/traits?at=2024-05-01T00:00:00Z",
        BASE "/profiles/userId:olga/traits/history?scrollId=AAAAAAAAAAAAAAAAAAAAAA",
    };
    test_resp_t r;
    json_object *j;
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        j = get(uris[i], 404, &r);
        test_assert_error(&r, j, 404, "invalid_request_error");
        ck_assert_ptr_nonnull(strstr(test_jstr(j, "error.message"), "Trait history is turned off"));
        json_object_put(j);
        test_resp_free(&r);
    }
    /* provenance needs no history */
    j = get(BASE "/profiles/userId:olga/traits?verbose=true", 200, &r);
    ck_assert_str_eq(test_jstr(j, "plan.messageId"), "o1");
    json_object_put(j);
    test_resp_free(&r);

    alt_end(&keep);
}
END_TEST

static Suite *
history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("history");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_verbose_out_of_order);
    tcase_add_test(tc, test_history_paging);
    tcase_add_test(tc, test_history_merge);
    tcase_add_test(tc, test_at_boundaries);
    tcase_add_test(tc, test_bad_params);
    tcase_add_test(tc, test_other_tenant);
    tcase_add_test(tc, test_erasure);
    tcase_add_test(tc, test_retention);
    tcase_add_test(tc, test_history_off);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    now0 = base_wall_ms();
    char *path = test_tmp_path("history.db");
    test_token_create_perms(path, "acme", "shop", "WEB", "read,ingest,delete", tok);
    test_token_create(path, "acme", "other", "WEB", tok_other);
    const char *extra[] = {"--threads", "2", "--workers", "2", NULL};
    test_server_start(&srv, path, extra);
    int failed = test_run_suite(history_suite());
    test_server_stop(&srv);
    test_rm_db(path);
    free(path);
    return failed == 0 ? 0 : 1;
}
