/* test_events.c -- the events timeline over real HTTP: every parameter and
 * its errors, scrollId paging of a 10,000-event profile in both orders,
 * expiry (an injected clock skew), writes during a scroll, another tenant's
 * scrollId, a restart in the middle of a scroll, the email merge, sealed
 * scrollIds refused when tampered, forged, truncated, on another profile's
 * path or on the other scrolled route, and no write on the read path
 * (profiled_worker_commits_total stays 0 over 100 pages). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/WEB/v1"
#define BIG 10000

static test_server_t srv;
static char *db;
static char tok[128];
static char tok_other[128]; /* acme/shop/OTHER */

static json_object *
get(const char *uri, test_resp_t *r)
{
    return test_get(srv.port, uri, tok, r);
}

/* Writes the fixture: a 10,000-event profile (with eventTime ties), a small
 * profile with varied events, and two profiles sharing an email. */
static void
write_fixture(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    for (int i = 0; i < BIG; i++) /* pairs share a timestamp: ties order by eventId */
        fprintf(f,
                "{\"type\":\"track\",\"userId\":\"big\",\"event\":\"Tick\",\"messageId\":\"big-%05d\","
                "\"timestamp\":\"2021-01-01T00:%02d:%02d.%03dZ\"}\n",
                i, (i / 2) / 60000 % 60, (i / 2) / 1000 % 60, (i / 2) % 1000);
    const char *small[] = {
        "{\"type\":\"page\",\"userId\":\"small\",\"name\":\"Home\",\"messageId\":\"s-1\",\"timestamp\":\"2020-01-01T10:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"small\",\"event\":\"Email "
        "Opened\",\"messageId\":\"s-2\",\"timestamp\":\"2020-01-02T10:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"small\",\"event\":\"Page "
        "Viewed\",\"messageId\":\"s-3\",\"timestamp\":\"2020-01-03T10:00:00Z\"}",
        "{\"type\":\"screen\",\"userId\":\"small\",\"name\":\"Main\",\"messageId\":\"s-4\",\"timestamp\":\"2020-01-04T10:00:00+01:"
        "00\"}",
        "{\"type\":\"track\",\"userId\":\"small\",\"event\":\"Experiment "
        "Viewed\",\"messageId\":\"s-5\",\"timestamp\":\"2020-01-05T00:00:00Z\"}",
        "{\"type\":\"identify\",\"userId\":\"m-1\",\"traits\":{\"email\":\"pair@example.com\"}}",
        "{\"type\":\"identify\",\"userId\":\"m-2\",\"traits\":{\"email\":\"pair@example.com\"}}",
        "{\"type\":\"track\",\"userId\":\"m-1\",\"event\":\"A\",\"messageId\":\"m-1-a\",\"timestamp\":\"2020-02-01T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"m-2\",\"event\":\"B\",\"messageId\":\"m-2-b\",\"timestamp\":\"2020-02-02T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"m-1\",\"event\":\"C\",\"messageId\":\"m-1-c\",\"timestamp\":\"2020-02-03T00:00:00Z\"}",
        NULL,
    };
    for (int i = 0; small[i] != NULL; i++)
        fprintf(f, "%s\n", small[i]);
    fclose(f);
}

/* eventIds of one page, comma-joined into out. */
static void
page_ids(json_object *j, char *out, size_t len)
{
    out[0] = '\0';
    json_object *data = test_jget(j, "data");
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < json_object_array_length(data); i++) {
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", i ? "," : "", test_jstr(json_object_array_get_idx(data, i), "eventId"));
    }
}

static void
expect_ids(const char *query, const char *want)
{
    char uri[512], got[1024];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:small/events%s", query);
    test_resp_t r;
    json_object *j = get(uri, &r);
    ck_assert_msg(r.status == 200, "%s -> %d %s", query, r.status, r.body);
    ck_assert_ptr_nonnull(test_jstr(j, "scrollId"));
    page_ids(j, got, sizeof(got));
    ck_assert_msg(strcmp(got, want) == 0, "%s: got [%s], want [%s]", query, got, want);
    json_object_put(j);
    test_resp_free(&r);
}

START_TEST(test_parameters)
{
    expect_ids("", "s-5,s-4,s-3,s-2,s-1"); /* newest first by default */
    expect_ids("?sort=asc", "s-1,s-2,s-3,s-4,s-5");
    expect_ids("?sort=desc&limit=2", "s-5,s-4");
    expect_ids("?include=page", "s-1");                             /* by type */
    expect_ids("?include=email_opened,screen&sort=asc", "s-2,s-4"); /* eventAction, type */
    expect_ids("?include=EMAIL%20OPENED", "s-2");                   /* event name, any case */
    expect_ids("?exclude=Page%20Viewed,Experiment%20Viewed", "s-4,s-2,s-1");
    expect_ids("?include=page,page_viewed&exclude=page_viewed", "s-1"); /* exclude wins */
    expect_ids("?start=2020-01-03", "s-5,s-4,s-3");                     /* start inclusive */
    expect_ids("?end=2020-01-03T10:00:00Z", "s-2,s-1");                 /* end exclusive */
    expect_ids("?start=2020-01-02T10:00:00.000Z&end=2020-01-04T09:00:00%2B01:00", "s-3,s-2");
    expect_ids("?start=2030-01-01", "");
}
END_TEST

START_TEST(test_event_fields)
{
    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:small/events?include=email_opened", &r);
    ck_assert_int_eq(r.status, 200);
    json_object *e = test_jget(j, "data.0");
    ck_assert_ptr_nonnull(e);
    const char *fields[] = {"id",       "externalId", "email",   "eventId",    "eventTime", "receivedTime", "eventAction",
                            "clientId", "accountId",  "brandId", "customerId", "userId",    "source",       "rawData"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        ck_assert_msg(json_object_object_get_ex(e, fields[i], NULL), "event lacks %s", fields[i]);
    ck_assert_str_eq(test_jstr(e, "eventAction"), "email_opened");
    ck_assert_str_eq(test_jstr(e, "eventTime"), "2020-01-02T10:00:00.000Z");
    ck_assert_str_eq(test_jstr(e, "clientId"), "acme");
    ck_assert_str_eq(test_jstr(e, "accountId"), "shop");
    ck_assert_str_eq(test_jstr(e, "brandId"), "WEB");
    ck_assert_str_eq(test_jstr(e, "userId"), "small");
    ck_assert_str_eq(test_jstr(e, "externalId"), "small");
    ck_assert_str_eq(test_jstr(e, "source"), "SEGMENT_API");
    ck_assert_str_eq(test_jstr(e, "id"), test_jstr(e, "customerId"));
    ck_assert_str_eq(test_jstr(e, "rawData.event"), "Email Opened");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_parameter_errors)
{
    const char *bad[][2] = {
        {"?limit=0", "limit"},
        {"?limit=101", "limit"},
        {"?limit=ten", "limit"},
        {"?sort=up", "sort"},
        {"?start=yesterday", "start"},
        {"?end=2020-13-01", "end"},
        {"?start=2020-01-01T25:00:00Z", "start"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), BASE "/profiles/userId:small/events%s", bad[i][0]);
        test_resp_t r;
        json_object *j = get(uri, &r);
        test_assert_error(&r, j, 400, "validation_error");
        ck_assert_msg(strstr(test_jstr(j, "error.message"), bad[i][1]) != NULL, "%s: %s", bad[i][0], test_jstr(j, "error.message"));
        json_object_put(j);
        test_resp_free(&r);
    }
    test_resp_t r;
    json_object *j = get(BASE "/profiles/userId:nobody/events", &r);
    test_assert_error(&r, j, 404, "not_found");
    json_object_put(j);
    test_resp_free(&r);
    j = get(BASE "/profiles/nobody/events", &r);
    test_assert_error(&r, j, 400, "validation_error");
    json_object_put(j);
    test_resp_free(&r);
    const char *scrolls[] = {"?scrollId=", "?scrollId=nope", "?scrollId=AAAAAAAAAAAAAAAAAAAAAA", "?scrollId=%00%01", NULL};
    for (int i = 0; scrolls[i] != NULL; i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), BASE "/profiles/userId:small/events%s", scrolls[i]);
        j = get(uri, &r);
        test_assert_error(&r, j, 400, "invalid_request_error");
        ck_assert_str_eq(test_jstr(j, "error.message"), "scrollId is invalid or has timed out");
        json_object_put(j);
        test_resp_free(&r);
    }
}
END_TEST

/* Scrolls the big profile with limit 7; every event exactly once, in order. */
static void
scroll_all(int descending)
{
    char uri[1280], scroll[1024] = "";
    static unsigned char seen[BIG];
    memset(seen, 0, sizeof(seen));
    int count = 0, pages = 0, last = descending ? BIG : -1;
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:big/events?limit=7&sort=%s", descending ? "desc" : "asc");
    for (;;) {
        test_resp_t r;
        json_object *j = get(uri, &r);
        ck_assert_msg(r.status == 200, "page %d: %d %s", pages, r.status, r.body);
        json_object *data = test_jget(j, "data");
        size_t n = json_object_array_length(data);
        /* each page names the page after it */
        snprintf(scroll, sizeof(scroll), "%s", test_jstr(j, "scrollId"));
        for (size_t i = 0; i < n; i++) {
            int k = atoi(test_jstr(json_object_array_get_idx(data, i), "eventId") + 4);
            ck_assert(k >= 0 && k < BIG);
            ck_assert_msg(!seen[k], "event %d twice", k);
            seen[k] = 1;
            ck_assert_msg(descending ? k < last : k > last, "out of order: %d after %d", k, last);
            last = k;
            count++;
        }
        json_object_put(j);
        test_resp_free(&r);
        pages++;
        if (n < 7)
            break;
        snprintf(uri, sizeof(uri), BASE "/profiles/userId:big/events?scrollId=%s&limit=50&sort=asc", scroll);
    }
    ck_assert_int_eq(count, BIG);
    ck_assert_int_eq(pages, BIG / 7 + 1);
}

START_TEST(test_scroll_everything_desc)
{
    scroll_all(1);
}
END_TEST

START_TEST(test_scroll_everything_asc)
{
    scroll_all(0);
}
END_TEST

static void
first_page(const char *query, char *scroll, char *ids, size_t idlen)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", query);
    test_resp_t r;
    json_object *j = get(uri, &r);
    ck_assert_msg(r.status == 200, "%s: %d", query, r.status);
    snprintf(scroll, 1024, "%s", test_jstr(j, "scrollId"));
    if (ids != NULL)
        page_ids(j, ids, idlen);
    json_object_put(j);
    test_resp_free(&r);
}

/* The page scroll (1024 bytes) names on path (NULL: userId:small), which
 * becomes the scrollId of the page after it. The status. */
static int
next_page_on(int port, const char *token, const char *path, char *scroll, char *ids, size_t idlen)
{
    char uri[1280];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s?scrollId=%s", path != NULL ? path : "userId:small/events", scroll);
    test_resp_t r;
    json_object *j = test_get(port, uri, token, &r);
    int status = r.status;
    if (status == 200 && ids != NULL)
        page_ids(j, ids, idlen);
    if (status == 200)
        snprintf(scroll, 1024, "%s", test_jstr(j, "scrollId"));
    if (status != 200)
        ck_assert_str_eq(test_jstr(j, "error.message"), "scrollId is invalid or has timed out");
    json_object_put(j);
    test_resp_free(&r);
    return status;
}

static int
next_page(int port, const char *token, char *scroll, char *ids, size_t idlen)
{
    return next_page_on(port, token, NULL, scroll, ids, idlen);
}

START_TEST(test_writes_during_scroll)
{
    char scroll[1024], ids[1024];
    first_page("userId:small/events?sort=asc&limit=2", scroll, ids, sizeof(ids));
    ck_assert_str_eq(ids, "s-1,s-2");
    /* a new event that would sort into the remaining pages */
    const char *h[] = {"auth-token", tok, NULL};
    const char *body = "{\"userId\":\"small\",\"event\":\"Late\",\"messageId\":\"s-late\",\"timestamp\":\"2020-01-03T12:00:00Z\"}";
    test_resp_t r;
    json_object *j = test_post(srv.port, BASE "/track", h, body, strlen(body), &r);
    ck_assert_int_eq(r.status, 200);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(next_page(srv.port, tok, scroll, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, "s-3,s-4");
    ck_assert_int_eq(next_page(srv.port, tok, scroll, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, "s-5");
    ck_assert_int_eq(next_page(srv.port, tok, scroll, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, ""); /* the end, and still a valid scroll */
    /* a new scroll sees it */
    first_page("userId:small/events?sort=asc&include=late", scroll, ids, sizeof(ids));
    ck_assert_str_eq(ids, "s-late");
}
END_TEST

START_TEST(test_other_tenant_scroll)
{
    char scroll[1024];
    first_page("userId:small/events?limit=1", scroll, NULL, 0);
    /* the same scrollId under another brand, with a token for that brand */
    char uri[1280];
    snprintf(uri, sizeof(uri), "/track/acme/shop/OTHER/v1/profiles/userId:small/events?scrollId=%s", scroll);
    test_resp_t r;
    json_object *j = test_get(srv.port, uri, tok_other, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
    /* and with this brand's token on the other brand: 403 before anything */
    j = test_get(srv.port, uri, tok, &r);
    test_assert_error(&r, j, 403, "authentication_error");
    json_object_put(j);
    test_resp_free(&r);
    /* still fine for its owner */
    ck_assert_int_eq(next_page(srv.port, tok, scroll, NULL, 0), 200);
}
END_TEST

START_TEST(test_email_merge)
{
    char scroll[1024], ids[1024];
    first_page("email:pair@example.com/events?sort=asc", scroll, ids, sizeof(ids));
    ck_assert_str_eq(ids, "m-1-a,m-2-b,m-1-c");
    first_page("email:PAIR@example.com/events?limit=2", scroll, ids, sizeof(ids));
    ck_assert_str_eq(ids, "m-1-c,m-2-b");
}
END_TEST

/* Its own server: a 3 s TTL, a restart in the middle of a scroll, and
 * expiry by an injected clock: the server restarted with its clock 4 s
 * ahead (PROFILED_DEBUG_CLOCK_FILE) refuses what it issued before
 * (the exact arithmetic: tests/storage/test_storage.c). */
START_TEST(test_expiry_and_restart)
{
    test_server_t s2;
    const char *extra[] = {"--scroll-ttl", "3", NULL};
    test_server_start(&s2, db, extra);
    char uri[256], scroll[1024], old[1024], ids[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:small/events?sort=asc&limit=1");
    test_resp_t r;
    json_object *j = test_get(s2.port, uri, tok, &r);
    ck_assert_int_eq(r.status, 200);
    snprintf(scroll, sizeof(scroll), "%s", test_jstr(j, "scrollId"));
    json_object_put(j);
    test_resp_free(&r);

    /* used within the TTL it lives on, across a restart */
    ck_assert_int_eq(next_page(s2.port, tok, scroll, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, "s-2");
    test_server_stop(&s2);
    test_server_start(&s2, db, extra);
    snprintf(old, sizeof(old), "%s", scroll);
    ck_assert_int_eq(next_page(s2.port, tok, scroll, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, "s-3");
    /* a used scrollId stays valid to its own deadline and, on the server
     * that paged its scroll further, continues it (tests/http/
     * test_scroll_reuse.c) */
    ck_assert_int_eq(next_page(s2.port, tok, old, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, "s-4");
    test_server_stop(&s2);
    /* 4 s later by the server's clock: past every deadline */
    char *clock_path = test_tmp_path("events-clock");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    FILE *f = fopen(clock_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%lld\n", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 4000);
    fclose(f);
    setenv("PROFILED_DEBUG_CLOCK_FILE", clock_path, 1);
    test_server_start(&s2, db, extra);
    unsetenv("PROFILED_DEBUG_CLOCK_FILE");
    ck_assert_int_eq(next_page(s2.port, tok, scroll, NULL, 0), 400);
    /* and what it issues now lives 3 s of its own clock */
    j = test_get(s2.port, uri, tok, &r);
    ck_assert_int_eq(r.status, 200);
    snprintf(scroll, sizeof(scroll), "%s", test_jstr(j, "scrollId"));
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(next_page(s2.port, tok, scroll, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, "s-2");
    test_server_stop(&s2);
    unlink(clock_path);
    free(clock_path);
}
END_TEST

/* "scrollId is invalid or has timed out" for each of these. */
static void
expect_refused(const char *path, const char *scroll, const char *why)
{
    char uri[1400];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s?scrollId=%s", path, scroll);
    test_resp_t r;
    json_object *j = get(uri, &r);
    ck_assert_msg(r.status == 400, "%s: %d %s", why, r.status, r.body);
    test_assert_error(&r, j, 400, "invalid_request_error");
    ck_assert_str_eq(test_jstr(j, "error.message"), "scrollId is invalid or has timed out");
    json_object_put(j);
    test_resp_free(&r);
}

START_TEST(test_sealed_scroll_ids)
{
    char scroll[1024], bad[1100], ids[256];
    first_page("userId:small/events?sort=asc&limit=2", scroll, ids, sizeof(ids));
    ck_assert_str_eq(ids, "s-1,s-2");
    size_t n = strlen(scroll);
    /* one character flipped, anywhere */
    for (size_t i = 0; i < n; i += 7) {
        snprintf(bad, sizeof(bad), "%s", scroll);
        bad[i] = bad[i] == 'Q' ? 'R' : 'Q';
        expect_refused("userId:small/events", bad, "flipped");
    }
    /* truncated, extended */
    snprintf(bad, sizeof(bad), "%.*s", (int)(n - 1), scroll);
    expect_refused("userId:small/events", bad, "truncated");
    snprintf(bad, sizeof(bad), "%.*s", (int)(n / 2), scroll);
    expect_refused("userId:small/events", bad, "half");
    snprintf(bad, sizeof(bad), "%sAA", scroll);
    expect_refused("userId:small/events", bad, "extended");
    /* forged: valid base64url of garbage, as long as a real one */
    for (size_t i = 0; i < n; i++)
        bad[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[(i * 37 + 11) % 64];
    bad[n] = '\0';
    expect_refused("userId:small/events", bad, "forged");
    /* another profile's path: refused, not that profile's events */
    expect_refused("userId:big/events", scroll, "other profile");
    expect_refused("email:pair@example.com/events", scroll, "other profile by email");
    /* the other scrolled route: a history scroll is no events scroll */
    expect_refused("userId:small/traits/history", scroll, "events id on history");
    /* still fine where it belongs */
    ck_assert_int_eq(next_page(srv.port, tok, scroll, ids, sizeof(ids)), 200);
    ck_assert_str_eq(ids, "s-3,s-4");
}
END_TEST

/* profiled_worker_commits_total, from /metrics. */
static long long
worker_commits(void)
{
    return test_metric(srv.port, "profiled_worker_commits_total");
}

/* The read path writes nothing: 100 pages (and first pages) later, the
 * workers have committed no transaction. */
START_TEST(test_no_write_on_pages)
{
    ck_assert_int_eq(worker_commits(), 0);
    char uri[1280], scroll[1024] = "";
    int pages = 0;
    for (int k = 0; k < 5; k++) {
        snprintf(uri, sizeof(uri), BASE "/profiles/userId:big/events?limit=3&sort=%s", k % 2 ? "asc" : "desc");
        test_resp_t r;
        json_object *j = get(uri, &r);
        ck_assert_int_eq(r.status, 200);
        snprintf(scroll, sizeof(scroll), "%s", test_jstr(j, "scrollId"));
        json_object_put(j);
        test_resp_free(&r);
        for (int i = 0; i < 20; i++, pages++)
            ck_assert_int_eq(next_page_on(srv.port, tok, "userId:big/events", scroll, NULL, 0), 200);
    }
    ck_assert_int_eq(pages, 100);
    ck_assert_int_eq(worker_commits(), 0);
}
END_TEST

static Suite *
events_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_parameters);
    tcase_add_test(tc, test_event_fields);
    tcase_add_test(tc, test_parameter_errors);
    tcase_add_test(tc, test_scroll_everything_desc);
    tcase_add_test(tc, test_scroll_everything_asc);
    tcase_add_test(tc, test_other_tenant_scroll);
    tcase_add_test(tc, test_email_merge);
    tcase_add_test(tc, test_expiry_and_restart);
    tcase_add_test(tc, test_sealed_scroll_ids);
    tcase_add_test(tc, test_no_write_on_pages);
    tcase_add_test(tc, test_writes_during_scroll); /* last: it adds an event */
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("events.db");
    char *fixture = test_tmp_path("events.ndjson");
    write_fixture(fixture);
    const char *imp[] = {"import", "--db", db, "--client", "acme", "--account", "shop", "--brand", "WEB", fixture, NULL};
    const char *imp2[] = {"import", "--db", db, "--client", "acme", "--account", "shop", "--brand", "OTHER", fixture, NULL};
    if (test_cli(imp, NULL, NULL, NULL) != 0 || test_cli(imp2, NULL, NULL, NULL) != 0)
        return 1;
    test_token_create(db, "acme", "shop", "WEB", tok);
    test_token_create(db, "acme", "shop", "OTHER", tok_other);
    /* a compaction round after every group commit: pages read both levels */
    const char *extra[] = {"--threads", "2",      "--workers",        "2", "--rate", "100000",
                           "--burst",   "100000", "--compact-events", "1", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(events_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    unlink(fixture);
    free(fixture);
    free(db);
    return failed == 0 ? 0 : 1;
}
