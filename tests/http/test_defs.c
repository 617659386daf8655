/* test_defs.c -- computed traits and audiences in the running server: a
 * --definitions file, values current on the next read after ingestion,
 * static audiences from the CLI, recompute of existing profiles at start
 * and after SIGHUP, a bad file on SIGHUP leaving the old set in force, and
 * `profiled definitions check` (descriptions are strings; every message
 * keeps its LINE:COL, however deep the file nests). */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/DEFS/v1"

static char *db, *defs_path, *csv_path;
static char tok[128];

static const char *defs_v1 =
    "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"DEFS\",\n"
    "  \"computedTraits\":[\n"
    "    {\"name\":\"emails_opened\",\"kind\":\"count\",\"eventAction\":\"email_opened\"},\n"
    "    {\"name\":\"favorite_blog_category\",\"kind\":\"most_frequent\",\"eventAction\":\"page\","
    "\"property\":\"category\"},\n"
    "    {\"name\":\"revenue\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"total\"}],\n"
    "  \"audiences\":[\n"
    "    {\"name\":\"audience_2_days\",\"rule\":{\"activeWithinDays\":2}},\n"
    "    {\"name\":\"openers\",\"rule\":{\"computed\":\"emails_opened\",\"op\":\"gte\",\"value\":2}}]}]}\n";

/* v2 adds a trait that must be computed from events already stored */
static const char *defs_v2 = "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"DEFS\",\n"
                             "  \"computedTraits\":[\n"
                             "    {\"name\":\"emails_opened\",\"kind\":\"count\",\"eventAction\":\"email_opened\"},\n"
                             "    {\"name\":\"pages_seen\",\"kind\":\"count\",\"eventAction\":\"page\"}],\n"
                             "  \"audiences\":[]}]}\n";

static json_object *
traits(int port, const char *user, const char *view, test_resp_t *r)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:%s/%s", user, view);
    json_object *j = test_get(port, uri, tok, r);
    ck_assert_msg(r->status == 200, "%s -> %d %s", uri, r->status, r->body);
    return j;
}

static int
has_name(json_object *arr, const char *name)
{
    for (size_t i = 0; arr != NULL && i < json_object_array_length(arr); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), name) == 0)
            return 1;
    return 0;
}

/* Polls ann's traits until the background recompute has filled name. */
static void
wait_computed(int port, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "computed.%s", name);
    for (int i = 0; i < 100; i++) {
        test_resp_t r;
        json_object *j = traits(port, "ann", "traits", &r);
        int done = test_jget(j, path) != NULL && json_object_get_int(test_jget(j, path)) > 0;
        json_object_put(j);
        test_resp_free(&r);
        if (done)
            return;
        usleep(100000);
    }
    ck_abort_msg("%s was never computed", name);
}

START_TEST(test_values_and_audiences)
{
    test_server_t s;
    const char *extra[] = {"--definitions", defs_path, "--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, extra);
    /* imported without definitions: the start's recompute fills them */
    wait_computed(s.port, "emails_opened");
    test_resp_t r;
    json_object *j = traits(s.port, "ann", "traits", &r);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "computed.emails_opened")), 2);
    ck_assert_str_eq(test_jstr(j, "computed.favorite_blog_category"), "travel");
    ck_assert_double_eq(json_object_get_double(test_jget(j, "computed.revenue")), 12.5);
    json_object_put(j);
    test_resp_free(&r);

    j = traits(s.port, "ann", "audiences", &r);
    ck_assert(has_name(test_jget(j, "audiences"), "openers"));
    ck_assert(!has_name(test_jget(j, "audiences"), "audience_2_days")); /* events from 2020 */
    json_object_put(j);
    test_resp_free(&r);

    /* one more event: current on the next read */
    const char *h[] = {"auth-token", tok, NULL};
    const char *body = "{\"userId\":\"bob\",\"event\":\"Email Opened\"}";
    j = test_post(s.port, BASE "/track", h, body, strlen(body), &r);
    ck_assert_int_eq(r.status, 200);
    json_object_put(j);
    test_resp_free(&r);
    j = traits(s.port, "bob", "metadata", &r);
    ck_assert(has_name(test_jget(j, "audiences"), "audience_2_days")); /* active now */
    ck_assert(!has_name(test_jget(j, "audiences"), "openers"));
    json_object_put(j);
    test_resp_free(&r);
    j = test_post(s.port, BASE "/track", h, body, strlen(body), &r);
    json_object_put(j);
    test_resp_free(&r);
    j = traits(s.port, "bob", "traits", &r);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "computed.emails_opened")), 2);
    ck_assert_ptr_null(test_jget(j, "computed.favorite_blog_category")); /* null: no pages */
    json_object_put(j);
    test_resp_free(&r);
    j = traits(s.port, "bob", "audiences", &r);
    ck_assert(has_name(test_jget(j, "audiences"), "openers"));
    json_object_put(j);
    test_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(test_static_audience_from_cli)
{
    char *out = NULL, *err = NULL;
    const char *imp[] = {"audience", "import",  "--db", db,       "--client",       "acme",   "--account",
                         "shop",     "--brand", "DEFS", "--name", "audience_board", csv_path, NULL};
    ck_assert_int_eq(test_cli(imp, NULL, &out, &err), 1); /* one bad row */
    ck_assert_msg(strstr(err, "line 4") != NULL, "%s", err);
    free(out);
    free(err);
    test_server_t s;
    const char *extra[] = {"--definitions", defs_path, "--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, extra);
    test_resp_t r;
    json_object *j = traits(s.port, "ann", "audiences", &r);
    ck_assert(has_name(test_jget(j, "audiencesStatic"), "audience_board"));
    json_object_put(j);
    test_resp_free(&r);
    /* a member the CSV created */
    j = traits(s.port, "new-from-csv", "metadata", &r);
    ck_assert(has_name(test_jget(j, "audiencesStatic"), "audience_board"));
    ck_assert_str_eq(test_jstr(j, "createdBy.type"), "audience-csv");
    ck_assert_ptr_nonnull(strstr(test_jstr(j, "createdBy.filename"), "members.csv"));
    json_object_put(j);
    test_resp_free(&r);
    test_server_stop(&s);
    const char *list[] = {"audience", "list", "--db", db, "--client", "acme", "--account", "shop", "--brand", "DEFS", NULL};
    ck_assert_int_eq(test_cli(list, NULL, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "audience_board"));
    free(out);
}
END_TEST

START_TEST(test_reload_recomputes_and_bad_file_is_refused)
{
    char *defs2 = test_tmp_path("defs.json");
    test_write_file(defs2, defs_v1);
    test_server_t s;
    const char *extra[] = {"--definitions", defs2, "--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, extra);
    test_resp_t r;
    json_object *j = traits(s.port, "ann", "traits", &r);
    ck_assert_ptr_null(test_jget(j, "computed.pages_seen"));
    json_object_put(j);
    test_resp_free(&r);

    /* a new trait over stored events: the background recompute fills it */
    test_write_file(defs2, defs_v2);
    kill(s.pid, SIGHUP);
    int pages = -1;
    for (int i = 0; i < 100 && pages != 3; i++) {
        usleep(100000);
        j = traits(s.port, "ann", "traits", &r);
        json_object *v = test_jget(j, "computed.pages_seen");
        pages = v != NULL ? json_object_get_int(v) : -1;
        json_object_put(j);
        test_resp_free(&r);
    }
    ck_assert_int_eq(pages, 3);
    ck_assert_int_eq(test_http(s.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "profiled_recompute_profiles{state=\"total\"}"));
    test_resp_free(&r);

    /* a broken file: refused, the previous definitions stay */
    test_write_file(
        defs2,
        "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"DEFS\",\"computedTraits\":[{\"kind\":\"nope\"}]}]}");
    kill(s.pid, SIGHUP);
    usleep(500000);
    j = traits(s.port, "ann", "traits", &r);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "computed.pages_seen")), 3);
    json_object_put(j);
    test_resp_free(&r);
    test_server_stop(&s);

    /* and a server started with it refuses to start, naming the place */
    char *err = NULL;
    const char *argv[] = {"serve", "--db", db, "--definitions", defs2, NULL};
    ck_assert_int_eq(test_cli(argv, NULL, NULL, &err), 2);
    ck_assert_msg(strstr(err, "computedTraits[0]") != NULL, "%s", err);
    free(err);
    free(defs2);
}
END_TEST

/* `profiled definitions check` on text: its exit status; *err the message
 * with the file's path cut off (from the LINE:COL on), or "" (static). */
static int
check_text(const char *text, size_t len, const char **msg)
{
    static char buf[1024];
    char *path = test_tmp_path("check.json"), *err = NULL;
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(text, 1, len, f) != len)
        abort();
    fclose(f);
    const char *argv[] = {"definitions", "check", path, NULL};
    int status = test_cli(argv, NULL, NULL, &err);
    const char *at = err != NULL ? strstr(err, path) : NULL;
    snprintf(buf, sizeof(buf), "%s", at != NULL ? at + strlen(path) : (err != NULL ? err : ""));
    buf[strcspn(buf, "\n")] = '\0';
    *msg = buf;
    unlink(path);
    free(path);
    free(err);
    return status;
}

static void
expect_refused(const char *text, const char *want)
{
    const char *msg;
    int status = check_text(text, strlen(text), &msg);
    ck_assert_msg(status == 1 && strcmp(msg, want) == 0, "%s\n-> %d \"%s\", want \"%s\"", text, status, msg, want);
}

#define TENANT "{\"client\":\"a\",\"account\":\"b\",\"brand\":\"c\""

START_TEST(test_check_descriptions)
{
    const char *msg;
    const char *good = "{\"description\":\"ok\",\"tenants\":[" TENANT ",\"description\":\"t\",\"computedTraits\":["
                       "{\"name\":\"n\",\"kind\":\"count\",\"description\":\"c\"}],\"audiences\":[{\"name\":\"x\","
                       "\"rule\":{\"activeWithinDays\":2},\"description\":\"d\"}]}]}";
    ck_assert_int_eq(check_text(good, strlen(good), &msg), 0);
    expect_refused("{\"tenants\":[],\"description\":5}", ":1:29: description: \"description\" must be a string, not a number");
    expect_refused("{\"tenants\":[],\n \"description\": null}", ":2:17: description: \"description\" must be a string, not null");
    expect_refused("{\"description\":{\"a\":1},\"tenants\":[]}",
                   ":1:16: description: \"description\" must be a string, not an object");
    expect_refused("{\"tenants\":[" TENANT ",\"description\":[]}]}",
                   ":1:67: tenants[0].description: \"description\" must be a string, not an array");
    expect_refused("{\"tenants\":[" TENANT ",\"computedTraits\":[{\"name\":\"n\",\"kind\":\"count\",\"description\":true}]}]}",
                   ":1:112: tenants[0].computedTraits[0].description: \"description\" must be a string, not a boolean");
    expect_refused("{\"tenants\":[" TENANT
                   ",\"audiences\":[{\"name\":\"x\",\"rule\":{\"activeWithinDays\":2},\"description\":1}]}]}",
                   ":1:122: tenants[0].audiences[0].description: \"description\" must be a string, not a number");
}
END_TEST

/* Past the scanner's old limit (31 containers) messages kept no position. */
START_TEST(test_check_positions_in_deep_files)
{
    char text[4096];
    size_t n = 0;
    /* rules 20 deep, two containers a level: the 18th is one too deep */
    n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"tenants\":[" TENANT ",\"audiences\":[{\"name\":\"x\",\"rule\":");
    size_t col = 0;
    for (int i = 0; i < 20; i++) {
        if (i == 17)
            col = n + 1;
        n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"and\":[");
    }
    n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"activeWithinDays\":1}");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "]}");
    n += (size_t)snprintf(text + n, sizeof(text) - n, "}]}]}");
    char want[1024];
    size_t w = (size_t)snprintf(want, sizeof(want), ":1:%zu: tenants[0].audiences[0].rule", col);
    for (int i = 0; i < 17; i++)
        w += (size_t)snprintf(want + w, sizeof(want) - w, ".and[0]");
    snprintf(want + w, sizeof(want) - w, ": rules nest deeper than 16");
    expect_refused(text, want);

    /* an unknown member beside 40 nested arrays */
    n = (size_t)snprintf(text, sizeof(text), "{\"tenants\":[],\"x\":");
    for (int i = 0; i < 40; i++)
        text[n++] = '[';
    for (int i = 0; i < 40; i++)
        text[n++] = ']';
    snprintf(text + n, sizeof(text) - n, ",\n  \"bogus\":1}");
    expect_refused(text, ":1:19: x: unknown member \"x\" in the definitions (expected tenants, version, description)");

    /* deeper than json-c takes: its own message, with its position */
    const char *msg;
    n = (size_t)snprintf(text, sizeof(text), "{\"tenants\":[],\"description\":");
    for (int i = 0; i < 100; i++)
        text[n++] = '[';
    text[n] = '\0';
    ck_assert_int_eq(check_text(text, n, &msg), 1);
    ck_assert_msg(strncmp(msg, ":1:", 3) == 0 && strstr(msg, "invalid JSON") != NULL, "%s", msg);
}
END_TEST

/* What json-c 0.16 lets through even when strict is refused with its place. */
START_TEST(test_check_strict_text)
{
    expect_refused("{\"tenants\":[],\"description\":\"a\tb\"}", ":1:31: invalid JSON: control character in string");
    expect_refused("{\"tenants\":[],\n\"description\":\"a\xff\"}", ":2:17: invalid JSON: invalid UTF-8");
    expect_refused("{\"tenants\":[],\"description\":\"\xed\xa0\x80\"}", ":1:30: invalid JSON: invalid UTF-8"); /* a surrogate */
    expect_refused("{\"tenants\":[],\"description\":\"\xc0\x80\"}", ":1:30: invalid JSON: invalid UTF-8");     /* overlong */
}
END_TEST

static Suite *
defs_suite(void)
{
    Suite *s = suite_create("defs");
    TCase *tc = tcase_create("defs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_values_and_audiences);
    tcase_add_test(tc, test_static_audience_from_cli);
    tcase_add_test(tc, test_reload_recomputes_and_bad_file_is_refused);
    suite_add_tcase(s, tc);
    TCase *check = tcase_create("check");
    tcase_add_test(check, test_check_descriptions);
    tcase_add_test(check, test_check_positions_in_deep_files);
    tcase_add_test(check, test_check_strict_text);
    suite_add_tcase(s, check);
    return s;
}

int
main(void)
{
    db = test_tmp_path("defs.db");
    defs_path = test_tmp_path("definitions.json");
    csv_path = test_tmp_path("members.csv");
    test_write_file(defs_path, defs_v1);
    test_write_file(csv_path, "userId,email\nann,\nnew-from-csv,\n,not-an-email\n");
    char *fixture = test_tmp_path("defs.ndjson");
    test_write_file(
        fixture,
        "{\"type\":\"identify\",\"userId\":\"ann\",\"traits\":{\"plan\":\"pro\"},\"timestamp\":\"2020-01-01T00:00:00Z\"}\n"
        "{\"type\":\"track\",\"userId\":\"ann\",\"event\":\"Email Opened\",\"timestamp\":\"2020-01-02T00:00:00Z\"}\n"
        "{\"type\":\"track\",\"userId\":\"ann\",\"event\":\"Email Opened\",\"timestamp\":\"2020-01-03T00:00:00Z\"}\n"
        "{\"type\":\"track\",\"userId\":\"ann\",\"event\":\"Order Completed\",\"properties\":{\"total\":12.5},"
        "\"timestamp\":\"2020-01-03T00:00:00Z\"}\n"
        "{\"type\":\"page\",\"userId\":\"ann\",\"properties\":{\"category\":\"travel\"},\"timestamp\":\"2020-01-04T00:00:00Z\"}\n"
        "{\"type\":\"page\",\"userId\":\"ann\",\"properties\":{\"category\":\"travel\"},\"timestamp\":\"2020-01-05T00:00:00Z\"}\n"
        "{\"type\":\"page\",\"userId\":\"ann\",\"properties\":{\"category\":\"food\"},\"timestamp\":\"2020-01-06T00:00:00Z\"}\n");
    /* imported without the definitions: the server's start recomputes */
    const char *imp[] = {"import", "--db", db, "--client", "acme", "--account", "shop", "--brand", "DEFS", fixture, NULL};
    if (test_cli(imp, NULL, NULL, NULL) != 0)
        return 1;
    test_token_create(db, "acme", "shop", "DEFS", tok);
    int failed = test_run_suite(defs_suite());
    test_rm_db(db);
    unlink(fixture);
    free(fixture);
    return failed == 0 ? 0 : 1;
}
