/* test_verbatim.c -- stored message text comes back exactly as it was sent,
 * over real HTTP: numbers json-c would rewrite (a 30-digit integer, -0,
 * 1e400), member names with \u0000, escapes and blanks, in trait values, in
 * the metadata's first/last events and in the events' rawData, sent to the
 * API or loaded by `profiled import`. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/verbatim/WEB/v1"

static test_server_t srv;
static char *db;
static char tok[128];

/* Trait values, each to come back byte for byte. */
#define TRAITS                                                                                                                     \
    "{\"big\":123456789012345678901234567890,\"neg\":-0,\"huge\":1e400,\"a\\u0000b\":\"nul\",\"frac\":-0.0E-0,"                    \
    "\"nested\":{\"n\":[1E+2, -0, 123456789012345678901234567890],\"k\\u0000\":{}},\"esc\":\"\\u00e9\\/\"}"
#define IDENTIFY_OF(user) "{\"type\":\"identify\",\"userId\":\"" user "\",\"messageId\":\"" user "-i\",\"traits\":" TRAITS "}"
/* The first event of "big": its text is the metadata's firstEvent.big up
 * to the added members. */
#define TRACK_BIG_OF(user)                                                                                                         \
    "{\"type\":\"track\",\"userId\":\"" user "\",\"event\":\"Big\",\"messageId\":\"" user                                          \
    "-t1\",\"timestamp\":\"2020-01-01T00:00:00Z\","                                                                                \
    "\"properties\":{\"n\":123456789012345678901234567890,\"z\":-0,\"e\":1e400,\"k\\u0000x\":\"v\",\"s\":\"\\u00e9\\/\"}}"
#define IDENTIFY IDENTIFY_OF("v1")
#define TRACK_BIG TRACK_BIG_OF("v1")
/* Members named like those the metadata adds (action, eventTime, an
 * escaped eventId): replaced, never duplicated; the rest as sent. */
#define TRACK_CLASH                                                                                                                \
    "{\"type\": \"track\" , \"userId\":\"v1\",\"event\":\"Clash\",\"messageId\":\"v-t2\",\"timestamp\":\"2020-01-02T00:00:00Z\","  \
    "\"action\":\"mine\",\"eventTime\":\"x\",\"event\\u0049d\":\"y\",\"properties\":{\"n\":-0 , \"m\":1e400}}"

/* First of the suite: the messages every test reads. */
START_TEST(test_ingest)
{
    static const char body[] = "{\"batch\":[" IDENTIFY "," TRACK_BIG "," TRACK_CLASH "]}";
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    test_resp_t r;
    json_object *j = test_post(srv.port, BASE "/batch", h, body, strlen(body), &r);
    ck_assert_msg(r.status == 200, "batch -> %d %s", r.status, r.body);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

/* The body of GET BASE/profiles/path (200 expected, valid JSON), malloc'd. */
static char *
body_of(const char *path)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", path);
    test_resp_t r;
    json_object *j = test_get(srv.port, uri, tok, &r);
    ck_assert_msg(r.status == 200, "%s -> %d %s", path, r.status, r.body);
    ck_assert_msg(j != NULL, "%s: not JSON: %s", path, r.body);
    json_object_put(j);
    char *b = strndup(r.body, r.len);
    ck_assert_ptr_nonnull(b);
    test_resp_free(&r);
    return b;
}

static void
assert_has(const char *body, const char *want, const char *what)
{
    ck_assert_msg(strstr(body, want) != NULL, "%s lacks %s: %s", what, want, body);
}

static size_t
count_of(const char *body, const char *s)
{
    size_t n = 0;
    for (const char *p = body; (p = strstr(p, s)) != NULL; p += strlen(s))
        n++;
    return n;
}

/* Each member of TRAITS, as sent. */
static const char *const trait_members[] = {
    "\"big\":123456789012345678901234567890",
    "\"neg\":-0,",
    "\"huge\":1e400",
    "\"a\\u0000b\":\"nul\"",
    "\"frac\":-0.0E-0",
    "\"nested\":{\"n\":[1E+2, -0, 123456789012345678901234567890],\"k\\u0000\":{}}",
    "\"esc\":\"\\u00e9\\/\"",
    NULL,
};

/* v1 came through the API, imp through `profiled import`. */
START_TEST(test_traits_as_sent)
{
    static const char *const users[] = {"v1", "imp"};
    for (size_t u = 0; u < 2; u++) {
        char path[64];
        snprintf(path, sizeof(path), "userId:%s/traits", users[u]);
        char *traits = body_of(path);
        snprintf(path, sizeof(path), "userId:%s/metadata", users[u]);
        char *meta = body_of(path);
        for (int i = 0; trait_members[i] != NULL; i++) {
            assert_has(traits, trait_members[i], "traits");
            assert_has(meta, trait_members[i], "metadata");
        }
        free(traits);
        free(meta);
    }
}
END_TEST

START_TEST(test_imported_marks_as_sent)
{
    char *meta = body_of("userId:imp/metadata");
    char want[1024];
    snprintf(want, sizeof(want), "\"big\":%.*s,\"eventId\":\"imp-t1\",\"receivedTime\":", (int)strlen(TRACK_BIG_OF("imp")) - 1,
             TRACK_BIG_OF("imp"));
    ck_assert_uint_eq(count_of(meta, want), 2);
    free(meta);
}
END_TEST

START_TEST(test_marks_as_sent)
{
    char *meta = body_of("userId:v1/metadata");
    /* the stored text up to its closing brace, then the added members */
    char want[1024];
    snprintf(want, sizeof(want), "\"big\":%.*s,\"eventId\":\"v1-t1\",\"receivedTime\":", (int)strlen(TRACK_BIG) - 1, TRACK_BIG);
    assert_has(meta, want, "firstEvent");
    ck_assert_uint_eq(count_of(meta, want), 2); /* firstEvent and lastEvent */

    /* replaced members are gone, each added one is there once per mark */
    assert_has(meta, "\"type\": \"track\"", "clash");
    assert_has(meta, "\"properties\":{\"n\":-0 , \"m\":1e400}", "clash");
    ck_assert_msg(strstr(meta, "mine") == NULL && strstr(meta, "\"x\"") == NULL && strstr(meta, "\"y\"") == NULL,
                  "replaced members kept: %s", meta);
    ck_assert_uint_eq(count_of(meta, "\"eventId\":\"v-t2\""), 2);
    ck_assert_uint_eq(count_of(meta, "event\\u0049d"), 0);
    json_object *j = json_tokener_parse(meta);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(test_jstr(j, "firstEvent.clash.action"), "track");
    ck_assert_str_eq(test_jstr(j, "firstEvent.clash.eventTime"), "2020-01-02T00:00:00.000Z");
    ck_assert_str_eq(test_jstr(j, "lastEvent.big.eventId"), "v1-t1");
    json_object_put(j);
    free(meta);
}
END_TEST

START_TEST(test_events_as_sent)
{
    char *events = body_of("userId:v1/events?sort=asc");
    char want[1024];
    snprintf(want, sizeof(want), "\"rawData\":%s}", TRACK_BIG);
    assert_has(events, want, "events");
    snprintf(want, sizeof(want), "\"rawData\":%s}", TRACK_CLASH);
    assert_has(events, want, "events");
    free(events);
}
END_TEST

static Suite *
verbatim_suite(void)
{
    Suite *s = suite_create("verbatim");
    TCase *tc = tcase_create("verbatim");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ingest);
    tcase_add_test(tc, test_traits_as_sent);
    tcase_add_test(tc, test_marks_as_sent);
    tcase_add_test(tc, test_imported_marks_as_sent);
    tcase_add_test(tc, test_events_as_sent);
    suite_add_tcase(s, tc);
    return s;
}

/* On PostgreSQL: a message with a NUL character in a string (the fixture's
 * trait "a\u0000b") is refused whole, with a clear reason, and stores
 * nothing (its text type cannot hold one). */
static int
pg_refuses_nul(void)
{
    char *lines = test_tmp_path("nul.ndjson");
    FILE *f = fopen(lines, "w");
    if (f == NULL || fputs(IDENTIFY_OF("imp") "\n", f) < 0)
        abort();
    fclose(f);
    const char *imp[] = {"import", "--db", db, "--client", "acme", "--account", "verbatim", "--brand", "WEB", lines, NULL};
    char *out = NULL, *err = NULL;
    int rc = test_cli(imp, NULL, &out, &err);
    int ok = rc != 0 && err != NULL && strstr(err, "NUL character") != NULL && strstr(err, "0 imported, 1 rejected") != NULL;
    if (!ok)
        fprintf(stderr, "verbatim: import of a NUL string -> %d: %s\n", rc, err != NULL ? err : "");
    free(out);
    free(err);
    unlink(lines);
    free(lines);
    return ok ? 0 : 1;
}

int
main(void)
{
    db = test_tmp_path("verbatim.db");
    if (test_on_pg()) {
        int failed = pg_refuses_nul();
        test_rm_db(db);
        free(db);
        return failed;
    }
    char *lines = test_tmp_path("verbatim.ndjson");
    FILE *f = fopen(lines, "w");
    if (f == NULL || fputs(IDENTIFY_OF("imp") "\n" TRACK_BIG_OF("imp") "\n", f) < 0)
        abort();
    fclose(f);
    const char *imp[] = {"import", "--db", db, "--client", "acme", "--account", "verbatim", "--brand", "WEB", lines, NULL};
    int imported = test_cli(imp, NULL, NULL, NULL);
    unlink(lines);
    free(lines);
    if (imported != 0)
        return 1;
    test_token_create(db, "acme", "verbatim", "WEB", tok);
    const char *extra[] = {"--threads", "1", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(verbatim_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
