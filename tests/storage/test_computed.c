/* test_computed.c -- Check suite of computed traits and audiences: every
 * kind of computed trait and of audience rule on small fixtures with known
 * answers, windows under an injected clock, merges, recompute after a
 * definition change (equal to incremental), bulk import equal to ingest,
 * refused definition files naming the place, and the static audience and
 * definitions subcommands run as the real binary. */
#include <check.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "storage.h"
#include "testhttp.h"
#include "testdb.h"
#include "testutil.h"

/* 2020-11-19T13:39:17.912Z, the receivedTime of the spec's example. */
#define NOW 1605793157912LL
#define DAY 86400000LL
#define SAMPLE PROFILED_SOURCE_DIR "/deploy/demo/sample.ndjson"
#define DEFS_FIXTURE PROFILED_SOURCE_DIR "/tests/data/definitions.json"

static storage_tenant_t tenant_a, tenant_b;
static int64_t clock_ms = NOW;

static int64_t
test_clock(void *ctx)
{
    return *(const int64_t *)ctx;
}

static void
setup(void)
{
    tenant_a = storage_tenant("intilery", "marketing", "MARKETING");
    tenant_b = storage_tenant("intilery", "sales", "MARKETING");
    clock_ms = NOW;
}

static storage_t *
open_db(char **path)
{
    storage_t *st = test_db_open("computed.db", path);
    storage_set_clock(st, test_clock, &clock_ms);
    return st;
}

static definitions_t *
defs_of(const char *json)
{
    definitions_t *d = NULL;
    char err[512] = "";
    int ret = definitions_parse(json, strlen(json), "test", &d, err, sizeof(err));
    ck_assert_msg(ret == 0, "definitions refused: %s", err);
    return d;
}

static void
ingest_at(storage_t *st, const storage_tenant_t *t, const char *json, int64_t now)
{
    int ret = test_db_ingest(st, t, json, now);
    ck_assert_msg(ret == 0, "ingest: %d: %s", ret, json);
}

/* A track event of user at time t, with properties (JSON text). */
static void
track(storage_t *st, const char *user, const char *event, const char *props, int64_t t)
{
    char iso[32], json[2048];
    base_format_time(t, iso);
    snprintf(json, sizeof(json), "{\"type\":\"track\",\"userId\":\"%s\",\"event\":\"%s\",\"properties\":%s,\"timestamp\":\"%s\"}",
             user, event, props != NULL ? props : "{}", iso);
    ingest_at(st, &tenant_a, json, NOW);
}

static void
page(storage_t *st, const char *user, const char *props, int64_t t)
{
    char iso[32], json[2048];
    base_format_time(t, iso);
    snprintf(json, sizeof(json), "{\"type\":\"page\",\"userId\":\"%s\",\"properties\":%s,\"timestamp\":\"%s\"}", user, props, iso);
    ingest_at(st, &tenant_a, json, NOW);
}

static void
identify(storage_t *st, const char *user, const char *traits)
{
    char json[2048];
    snprintf(json, sizeof(json), "{\"type\":\"identify\",\"userId\":\"%s\",\"traits\":%s,\"timestamp\":\"2020-11-01T00:00:00Z\"}",
             user, traits);
    ingest_at(st, &tenant_a, json, NOW);
}

static struct json_object *
view_of(storage_t *st, const storage_tenant_t *t, storage_id_type_t type, const char *id, storage_view_t v)
{
    char *body = NULL;
    size_t len = 0;
    int ret = storage_profile_view(st, t, type, id, strlen(id), v, &body, &len);
    ck_assert_msg(ret == 0, "view of %s: %d %s", id, ret, storage_errmsg(st));
    struct json_tokener *tok = json_tokener_new_ex(64);
    struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    ck_assert_msg(o != NULL, "view is not JSON: %s", body);
    free(body);
    return o;
}

/* The "computed" object of a user's traits view, as JSON text. */
static char *
computed_text(storage_t *st, const storage_tenant_t *t, const char *user)
{
    struct json_object *o = view_of(st, t, STORAGE_ID_USER, user, STORAGE_VIEW_TRAITS), *c;
    ck_assert(json_object_object_get_ex(o, "computed", &c));
    char *s = strdup(json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

/* One computed value of a user, as JSON text ("null" when null, "absent"
 * when the member is missing). */
static void
expect_computed(storage_t *st, const char *user, const char *name, const char *want)
{
    struct json_object *o = view_of(st, &tenant_a, STORAGE_ID_USER, user, STORAGE_VIEW_TRAITS), *c, *v;
    ck_assert(json_object_object_get_ex(o, "computed", &c));
    const char *got = json_object_object_get_ex(c, name, &v) ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "absent";
    ck_assert_msg(strcmp(got, want) == 0, "%s.computed.%s = %s, want %s", user, name, got, want);
    json_object_put(o);
}

/* The dynamic audiences of a user, comma-separated. */
static void
expect_audiences(storage_t *st, const char *user, const char *want)
{
    storage_view_t views[] = {STORAGE_VIEW_AUDIENCES, STORAGE_VIEW_METADATA};
    for (size_t k = 0; k < 2; k++) {
        struct json_object *o = view_of(st, &tenant_a, STORAGE_ID_USER, user, views[k]), *a;
        char got[512] = "";
        ck_assert(json_object_object_get_ex(o, "audiences", &a));
        for (size_t i = 0; i < json_object_array_length(a); i++) {
            if (i > 0)
                strcat(got, ",");
            strcat(got, json_object_get_string(json_object_array_get_idx(a, i)));
        }
        ck_assert_msg(strcmp(got, want) == 0, "%s audiences = [%s], want [%s]", user, got, want);
        ck_assert(json_object_object_get_ex(o, "audiencesStatic", &a));
        json_object_put(o);
    }
}

START_TEST(test_count)
{
    char *path;
    storage_t *st = open_db(&path);
    definitions_t *d =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"number_email_delivered_all_time\",\"kind\":\"count\",\"eventAction\":\"email_delivered\"},"
                "{\"name\":\"gbp_orders\",\"kind\":\"count\",\"eventAction\":\"Order Completed\","
                " \"where\":[{\"property\":\"currency\",\"op\":\"eq\",\"value\":\"GBP\"},{\"property\":\"total\",\"op\":\"gte\","
                "\"value\":10}]},"
                "{\"name\":\"events\",\"kind\":\"count\"},"
                "{\"name\":\"no_coupon\",\"kind\":\"count\",\"where\":{\"property\":\"coupon\",\"op\":\"exists\",\"value\":false}},"
                "{\"name\":\"deep\",\"kind\":\"count\",\"where\":{\"property\":\"cart.size\",\"op\":\"gt\",\"value\":2}}]}]}");
    storage_use_definitions(st, d);
    /* The spec's example: nine emails delivered. */
    for (int i = 0; i < 9; i++)
        track(st, "joe.bloggs", "Email Delivered", "{\"campaign_id\":\"c\"}", NOW - i * DAY);
    track(st, "joe.bloggs", "Order Completed", "{\"currency\":\"GBP\",\"total\":12,\"coupon\":\"X\"}", NOW);
    track(st, "joe.bloggs", "Order Completed", "{\"currency\":\"GBP\",\"total\":9}", NOW);
    track(st, "joe.bloggs", "Order Completed", "{\"currency\":\"EUR\",\"total\":50,\"cart\":{\"size\":3}}", NOW);
    page(st, "joe.bloggs", "{\"path\":\"/\",\"cart\":{\"size\":1}}", NOW);
    expect_computed(st, "joe.bloggs", "number_email_delivered_all_time", "9");
    expect_computed(st, "joe.bloggs", "gbp_orders", "1");
    expect_computed(st, "joe.bloggs", "events", "13");
    expect_computed(st, "joe.bloggs", "no_coupon", "12");
    expect_computed(st, "joe.bloggs", "deep", "1");

    /* No events: counts are 0. */
    identify(st, "nobody", "{\"plan\":\"free\"}");
    expect_computed(st, "nobody", "number_email_delivered_all_time", "0");
    expect_computed(st, "nobody", "events", "0");

    /* Another tenant has no definitions: an empty object. */
    ingest_at(st, &tenant_b, "{\"type\":\"track\",\"userId\":\"joe.bloggs\",\"event\":\"Email Delivered\"}", NOW);
    char *c = computed_text(st, &tenant_b, "joe.bloggs");
    ck_assert_str_eq(c, "{}");
    free(c);
    /* Without definitions the same connection shows nothing computed. */
    storage_use_definitions(st, NULL);
    c = computed_text(st, &tenant_a, "joe.bloggs");
    ck_assert_str_eq(c, "{}");
    free(c);
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_sum_min_max)
{
    char *path;
    storage_t *st = open_db(&path);
    definitions_t *d =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"revenue\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"revenue\"},"
                "{\"name\":\"smallest\",\"kind\":\"min\",\"eventAction\":\"order_completed\",\"property\":\"revenue\"},"
                "{\"name\":\"largest\",\"kind\":\"max\",\"eventAction\":\"order_completed\",\"property\":\"revenue\"},"
                "{\"name\":\"items\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"cart.items\"}]}]}");
    storage_use_definitions(st, d);
    track(st, "u1", "Order Completed", "{\"revenue\":10,\"cart\":{\"items\":2}}", NOW - 3 * DAY);
    track(st, "u1", "Order Completed", "{\"revenue\":25.5,\"cart\":{\"items\":1}}", NOW - 2 * DAY);
    track(st, "u1", "Order Completed", "{\"revenue\":\"abc\"}", NOW - DAY);
    track(st, "u1", "Order Completed", "{\"revenue\":null}", NOW - DAY);
    track(st, "u1", "Order Completed", "{}", NOW - DAY);
    track(st, "u1", "Order Completed", "{\"revenue\":4}", NOW);
    track(st, "u1", "Product Viewed", "{\"revenue\":1000}", NOW);
    expect_computed(st, "u1", "revenue", "39.5");
    expect_computed(st, "u1", "smallest", "4");
    expect_computed(st, "u1", "largest", "25.5");
    expect_computed(st, "u1", "items", "3");
    /* Nothing to sum: 0; nothing to compare: null. */
    identify(st, "u2", "{}");
    expect_computed(st, "u2", "revenue", "0");
    expect_computed(st, "u2", "smallest", "null");
    expect_computed(st, "u2", "largest", "null");
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_first_last)
{
    char *path;
    storage_t *st = open_db(&path);
    definitions_t *d =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"first_campaign\",\"kind\":\"first\",\"eventAction\":\"email_delivered\",\"property\":\"campaign_id\"},"
                "{\"name\":\"last_campaign\",\"kind\":\"last\",\"eventAction\":\"email_delivered\",\"property\":\"campaign_id\"},"
                "{\"name\":\"last_product\",\"kind\":\"last\",\"eventAction\":\"product_viewed\",\"property\":\"product\"}]}]}");
    storage_use_definitions(st, d);
    /* Arrival order is not event order. */
    track(st, "u1", "Email Delivered", "{\"campaign_id\":\"C\"}", NOW - 1 * DAY);
    track(st, "u1", "Email Delivered", "{\"campaign_id\":\"A\"}", NOW - 5 * DAY);
    track(st, "u1", "Email Delivered", "{\"campaign_id\":null}", NOW - 9 * DAY);
    track(st, "u1", "Email Delivered", "{\"campaign_id\":\"B\"}", NOW - 3 * DAY);
    track(st, "u1", "Product Viewed", "{\"product\":{\"sku\":\"S1\",\"tags\":[1,2]}}", NOW - 2 * DAY);
    track(st, "u1", "Product Viewed", "{\"product\":{\"sku\":\"S0\"}}", NOW - 4 * DAY);
    expect_computed(st, "u1", "first_campaign", "\"A\"");
    expect_computed(st, "u1", "last_campaign", "\"C\"");
    expect_computed(st, "u1", "last_product", "{\"sku\":\"S1\",\"tags\":[1,2]}");
    identify(st, "u2", "{}");
    expect_computed(st, "u2", "first_campaign", "null");
    expect_computed(st, "u2", "last_product", "null");
    /* Equal times: the larger eventId is the last. */
    ingest_at(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u3\",\"messageId\":\"m-2\",\"event\":\"Email Delivered\","
              "\"properties\":{\"campaign_id\":\"two\"},\"timestamp\":\"2020-11-01T00:00:00Z\"}",
              NOW);
    ingest_at(st, &tenant_a,
              "{\"type\":\"track\",\"userId\":\"u3\",\"messageId\":\"m-1\",\"event\":\"Email Delivered\","
              "\"properties\":{\"campaign_id\":\"one\"},\"timestamp\":\"2020-11-01T00:00:00Z\"}",
              NOW);
    expect_computed(st, "u3", "first_campaign", "\"one\"");
    expect_computed(st, "u3", "last_campaign", "\"two\"");
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_most_frequent)
{
    char *path;
    storage_t *st = open_db(&path);
    definitions_t *d = defs_of(
        "{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
        "{\"name\":\"favorite_blog_category\",\"kind\":\"most_frequent\",\"eventAction\":\"page\",\"property\":\"category\","
        " \"where\":{\"property\":\"path\",\"op\":\"contains\",\"value\":\"/blog/\"}},"
        "{\"name\":\"usual_quantity\",\"kind\":\"most_frequent\",\"property\":\"quantity\"}]}]}");
    storage_use_definitions(st, d);
    page(st, "reader", "{\"path\":\"/blog/a\",\"category\":\"data\"}", NOW - 10 * DAY);
    page(st, "reader", "{\"path\":\"/blog/b\",\"category\":\"ml\"}", NOW - 9 * DAY);
    page(st, "reader", "{\"path\":\"/blog/c\",\"category\":\"d\\u0061ta\"}", NOW - 8 * DAY);
    page(st, "reader", "{\"path\":\"/blog/d\",\"category\":\"ml\"}", NOW - 2 * DAY);
    page(st, "reader", "{\"path\":\"/shop\",\"category\":\"ops\"}", NOW - DAY);
    page(st, "reader", "{\"path\":\"/shop\",\"category\":\"ops\"}", NOW - DAY);
    page(st, "reader", "{\"path\":\"/shop\",\"category\":\"ops\"}", NOW - DAY);
    /* data 2, ml 2 (seen last): ml; /shop pages do not count. */
    expect_computed(st, "reader", "favorite_blog_category", "\"ml\"");
    page(st, "reader", "{\"path\":\"/blog/e\",\"category\":\"data\"}", NOW - 20 * DAY);
    expect_computed(st, "reader", "favorite_blog_category", "\"data\"");
    track(st, "reader", "Product Added", "{\"quantity\":2}", NOW);
    track(st, "reader", "Product Added", "{\"quantity\":1}", NOW);
    track(st, "reader", "Product Added", "{\"quantity\":2}", NOW);
    expect_computed(st, "reader", "usual_quantity", "2");
    identify(st, "new", "{}");
    expect_computed(st, "new", "favorite_blog_category", "null");
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_windows_and_clock)
{
    char *path;
    storage_t *st = open_db(&path);
    definitions_t *d = defs_of(
        "{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
        "{\"name\":\"opened_7\",\"kind\":\"count\",\"eventAction\":\"email_opened\",\"windowDays\":7},"
        "{\"name\":\"opened_2\",\"kind\":\"count\",\"eventAction\":\"email_opened\",\"windowDays\":2},"
        "{\"name\":\"opened_all\",\"kind\":\"count\",\"eventAction\":\"email_opened\"},"
        "{\"name\":\"spent_30\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"revenue\",\"windowDays\":30},"
        "{\"name\":\"top_30\",\"kind\":\"max\",\"eventAction\":\"order_completed\",\"property\":\"revenue\",\"windowDays\":30},"
        "{\"name\":\"low_30\",\"kind\":\"min\",\"eventAction\":\"order_completed\",\"property\":\"revenue\",\"windowDays\":30}],"
        "\"audiences\":["
        "{\"name\":\"audience_2_days\",\"rule\":{\"activeWithinDays\":2}},"
        "{\"name\":\"opened_recently\",\"rule\":{\"eventCount\":{\"eventAction\":\"email_opened\",\"windowDays\":7},"
        "  \"op\":\"gte\",\"value\":1}}]}]}");
    storage_use_definitions(st, d);
    track(st, "u1", "Email Opened", NULL, NOW - 3 * DAY);
    track(st, "u1", "Email Opened", NULL, NOW - 10 * DAY);
    track(st, "u1", "Order Completed", "{\"revenue\":5}", NOW - 20 * DAY);
    track(st, "u1", "Order Completed", "{\"revenue\":7}", NOW - 40 * DAY);
    /* 3 days ago: in the 7-day window, not in the 2-day one. */
    expect_computed(st, "u1", "opened_7", "1");
    expect_computed(st, "u1", "opened_2", "0");
    expect_computed(st, "u1", "opened_all", "2");
    expect_computed(st, "u1", "spent_30", "5");
    expect_computed(st, "u1", "top_30", "5");
    expect_computed(st, "u1", "low_30", "5");
    expect_audiences(st, "u1", "opened_recently");

    /* Active a day ago: in audience_2_days. */
    track(st, "u2", "Email Opened", NULL, NOW - DAY);
    expect_audiences(st, "u2", "audience_2_days,opened_recently");
    expect_computed(st, "u2", "opened_2", "1");

    /* Time passes: the same state, read later. */
    clock_ms = NOW + 5 * DAY;
    expect_computed(st, "u1", "opened_7", "0");
    expect_computed(st, "u1", "opened_all", "2");
    expect_computed(st, "u2", "opened_2", "0");
    expect_computed(st, "u2", "opened_7", "1");
    expect_audiences(st, "u2", "opened_recently");
    expect_audiences(st, "u1", "");
    clock_ms = NOW + 15 * DAY;
    expect_computed(st, "u1", "spent_30", "0");
    expect_computed(st, "u1", "top_30", "null");
    expect_audiences(st, "u2", "");
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_rules)
{
    char *path;
    storage_t *st = open_db(&path);
    definitions_t *d =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"revenue\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"revenue\"},"
                "{\"name\":\"favorite\",\"kind\":\"most_frequent\",\"property\":\"category\"}],"
                "\"audiences\":["
                "{\"name\":\"pro\",\"rule\":{\"trait\":\"plan\",\"op\":\"eq\",\"value\":\"pro\"}},"
                "{\"name\":\"not_pro\",\"rule\":{\"trait\":\"plan\",\"op\":\"ne\",\"value\":\"pro\"}},"
                "{\"name\":\"adult\",\"rule\":{\"trait\":\"age\",\"op\":\"gte\",\"value\":18}},"
                "{\"name\":\"has_phone\",\"rule\":{\"trait\":\"phone\",\"op\":\"exists\"}},"
                "{\"name\":\"gmail\",\"rule\":{\"trait\":\"email\",\"op\":\"contains\",\"value\":\"@gmail.\"}},"
                "{\"name\":\"londoner\",\"rule\":{\"trait\":\"address.city\",\"op\":\"eq\",\"value\":\"London\"}},"
                "{\"name\":\"signed_up_2020\",\"rule\":{\"and\":[{\"trait\":\"signup\",\"op\":\"gte\",\"value\":\"2020-01-01\"},"
                "  {\"trait\":\"signup\",\"op\":\"lt\",\"value\":\"2021-01-01\"}]}},"
                "{\"name\":\"big_spender\",\"rule\":{\"computed\":\"revenue\",\"op\":\"gt\",\"value\":100}},"
                "{\"name\":\"likes_shoes\",\"rule\":{\"computed\":\"favorite\",\"op\":\"eq\",\"value\":\"shoes\"}},"
                "{\"name\":\"vip\",\"rule\":{\"or\":[{\"and\":[{\"trait\":\"plan\",\"op\":\"eq\",\"value\":\"pro\"},"
                "  {\"computed\":\"revenue\",\"op\":\"gte\",\"value\":50}]},{\"trait\":\"vip\",\"op\":\"eq\",\"value\":true}]}},"
                "{\"name\":\"buyers\",\"rule\":{\"eventCount\":{\"eventAction\":\"order_completed\"},\"op\":\"gte\",\"value\":2}},"
                "{\"name\":\"no_orders\",\"rule\":{\"not\":{\"eventCount\":{\"eventAction\":\"order_completed\"},\"op\":\"gt\","
                "\"value\":0}}}"
                "]}]}");
    storage_use_definitions(st, d);
    identify(st, "ann",
             "{\"plan\":\"pro\",\"age\":30,\"phone\":\"+44 1\",\"email\":\"ann@gmail.com\",\"address\":{\"city\":\"London\"},"
             "\"signup\":\"2020-06-01\"}");
    track(st, "ann", "Order Completed", "{\"revenue\":60,\"category\":\"shoes\"}", NOW - DAY);
    track(st, "ann", "Order Completed", "{\"revenue\":70,\"category\":\"shoes\"}", NOW - DAY);
    expect_audiences(st, "ann", "pro,adult,has_phone,gmail,londoner,signed_up_2020,big_spender,likes_shoes,vip,buyers");

    identify(st, "bob", "{\"plan\":\"free\",\"age\":\"40\",\"phone\":null,\"vip\":true,\"signup\":\"2019-12-31\"}");
    expect_audiences(st, "bob", "not_pro,vip,no_orders");

    /* A trait change shows on the next read. */
    identify(st, "bob", "{\"plan\":\"pro\",\"age\":17,\"address\":{\"city\":\"London\"}}");
    expect_audiences(st, "bob", "pro,londoner,vip,no_orders");
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_merge)
{
    static const char *const defs_json =
        "{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
        "{\"name\":\"n\",\"kind\":\"count\"},"
        "{\"name\":\"n7\",\"kind\":\"count\",\"windowDays\":7},"
        "{\"name\":\"s\",\"kind\":\"sum\",\"property\":\"v\"},"
        "{\"name\":\"lo\",\"kind\":\"min\",\"property\":\"v\"},"
        "{\"name\":\"hi\",\"kind\":\"max\",\"property\":\"v\",\"windowDays\":7},"
        "{\"name\":\"f\",\"kind\":\"first\",\"property\":\"c\"},"
        "{\"name\":\"l\",\"kind\":\"last\",\"property\":\"c\"},"
        "{\"name\":\"m\",\"kind\":\"most_frequent\",\"property\":\"c\"}]}]}";
    static const char *const msgs[] = {
        "{\"type\":\"track\",\"anonymousId\":\"anon-1\",\"event\":\"E\",\"properties\":{\"v\":5,\"c\":\"x\"},"
        "\"timestamp\":\"2020-11-10T00:00:00Z\"}",
        "{\"type\":\"track\",\"anonymousId\":\"anon-1\",\"event\":\"E\",\"properties\":{\"v\":1,\"c\":\"y\"},"
        "\"timestamp\":\"2020-11-18T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"mia\",\"event\":\"E\",\"properties\":{\"v\":9,\"c\":\"y\"},"
        "\"timestamp\":\"2020-11-17T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"mia\",\"event\":\"E\",\"properties\":{\"v\":3,\"c\":\"z\"},"
        "\"timestamp\":\"2020-11-19T00:00:00Z\"}",
        "{\"type\":\"track\",\"userId\":\"mia\",\"event\":\"E\",\"properties\":{\"v\":2,\"c\":\"w\"},"
        "\"timestamp\":\"2020-11-01T00:00:00Z\"}",
        /* links the anonymous profile to mia's: a merge */
        "{\"type\":\"identify\",\"userId\":\"mia\",\"anonymousId\":\"anon-1\",\"traits\":{}}",
    };
    definitions_t *d = defs_of(defs_json);
    char *path1, *path2;
    storage_t *merged = open_db(&path1), *single = open_db(&path2);
    storage_use_definitions(merged, d);
    storage_use_definitions(single, d);
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
        ingest_at(merged, &tenant_a, msgs[i], NOW);
    /* The same events on one profile from the start. */
    ingest_at(single, &tenant_a, msgs[5], NOW);
    for (size_t i = 0; i < 5; i++)
        ingest_at(single, &tenant_a, msgs[i], NOW);
    char *a = computed_text(merged, &tenant_a, "mia"), *b = computed_text(single, &tenant_a, "mia");
    ck_assert_str_eq(a, b);
    ck_assert_str_eq(a, "{\"n\":5,\"n7\":3,\"s\":20,\"lo\":1,\"hi\":9,\"f\":\"w\",\"l\":\"z\",\"m\":\"y\"}");
    free(a);
    free(b);
    test_db_close(merged, path1);
    test_db_close(single, path2);
    definitions_free(d);
}
END_TEST

/* Loads every line of the sample into st: one message at a time, or as a
 * bulk import. */
static void
load_sample(storage_t *st, bool bulk)
{
    FILE *f = fopen(SAMPLE, "r");
    ck_assert_ptr_nonnull(f);
    if (bulk) {
        uint64_t ok = 0, bad = 0;
        ck_assert_int_eq(storage_import_ndjson(st, &tenant_a, f, stderr, NULL, NOW, &ok, &bad), 0);
        ck_assert_uint_gt(ok, 3000);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ck_assert_int_eq(storage_begin(st), 0);
        while (getline(&line, &cap, f) > 0)
            ingest_at(st, &tenant_a, line, NOW);
        ck_assert_int_eq(storage_commit(st), 0);
        free(line);
    }
    fclose(f);
}

typedef struct {
    int calls;
    uint64_t done, total;
    int stop_after;
} progress_t;

static int
on_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress_t *p = ctx;
    p->calls++;
    ck_assert_uint_le(done, total);
    ck_assert_uint_ge(done, p->done);
    p->done = done;
    p->total = total;
    return p->stop_after > 0 && p->calls >= p->stop_after;
}

/* Definitions that touch every kind on the sample's events. */
static const char *const sample_defs =
    "{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
    "{\"name\":\"sent\",\"kind\":\"count\",\"eventAction\":\"email_sent\"},"
    "{\"name\":\"opened_7\",\"kind\":\"count\",\"eventAction\":\"email_opened\",\"windowDays\":7},"
    "{\"name\":\"revenue\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"revenue\","
    " \"where\":{\"property\":\"currency\",\"op\":\"eq\",\"value\":\"GBP\"}},"
    "{\"name\":\"top_30\",\"kind\":\"max\",\"eventAction\":\"order_completed\",\"property\":\"revenue\",\"windowDays\":30},"
    "{\"name\":\"low\",\"kind\":\"min\",\"eventAction\":\"order_completed\",\"property\":\"revenue\"},"
    "{\"name\":\"first_campaign\",\"kind\":\"first\",\"eventAction\":\"email_sent\",\"property\":\"campaign_id\"},"
    "{\"name\":\"last_path\",\"kind\":\"last\",\"eventAction\":\"page\",\"property\":\"path\"},"
    "{\"name\":\"favorite_category\",\"kind\":\"most_frequent\",\"eventAction\":\"product_viewed\",\"property\":\"category\"}],"
    "\"audiences\":[{\"name\":\"audience_2_days\",\"rule\":{\"activeWithinDays\":2}},"
    "{\"name\":\"clickers\",\"rule\":{\"eventCount\":{\"eventAction\":\"email_clicked\",\"windowDays\":14},\"op\":\"gte\","
    "\"value\":1}}]}]}";

/* Every profile's traits views of a and b agree (through the list). */
static void
expect_same_profiles(storage_t *a, storage_t *b)
{
    for (int page_no = 0;; page_no++) {
        char *x = NULL, *y = NULL;
        size_t xn, yn;
        ck_assert_int_eq(storage_profile_list(a, &tenant_a, page_no, 100, &x, &xn), 0);
        ck_assert_int_eq(storage_profile_list(b, &tenant_a, page_no, 100, &y, &yn), 0);
        struct json_object *jx = json_tokener_parse(x), *jy = json_tokener_parse(y), *dx, *dy;
        ck_assert(json_object_object_get_ex(jx, "data", &dx) && json_object_object_get_ex(jy, "data", &dy));
        size_t n = json_object_array_length(dx);
        ck_assert_uint_eq(n, json_object_array_length(dy));
        for (size_t i = 0; i < n; i++) {
            struct json_object *px = json_object_array_get_idx(dx, i), *py = json_object_array_get_idx(dy, i), *cx, *cy, *ex, *ey;
            ck_assert(json_object_object_get_ex(px, "externalId", &ex) && json_object_object_get_ex(py, "externalId", &ey));
            ck_assert_str_eq(json_object_to_json_string(ex), json_object_to_json_string(ey));
            ck_assert(json_object_object_get_ex(px, "computed", &cx) && json_object_object_get_ex(py, "computed", &cy));
            ck_assert_msg(json_object_equal(cx, cy), "%s: %s != %s", json_object_to_json_string(ex), json_object_to_json_string(cx),
                          json_object_to_json_string(cy));
        }
        json_object_put(jx);
        json_object_put(jy);
        free(x);
        free(y);
        if (n < 100)
            break;
    }
}

START_TEST(test_import_equals_ingest_equals_recompute)
{
    definitions_t *d = defs_of(sample_defs);
    char *p1, *p2, *p3;
    storage_t *ingested = open_db(&p1), *imported = open_db(&p2), *later = open_db(&p3);
    storage_use_definitions(ingested, d);
    storage_use_definitions(imported, d);
    load_sample(ingested, false);
    load_sample(imported, true);
    expect_same_profiles(ingested, imported);

    /* Loaded without definitions, then completed by a recompute. */
    load_sample(later, true);
    progress_t pr = {0};
    ck_assert_int_eq(storage_recompute(later, d, NOW, on_progress, &pr), 0);
    ck_assert_uint_eq(pr.done, pr.total);
    ck_assert_uint_gt(pr.total, 250);
    storage_use_definitions(later, d);
    expect_same_profiles(ingested, later);
    /* Complete: nothing left to do. */
    pr = (progress_t){0};
    ck_assert_int_eq(storage_recompute(later, d, NOW, on_progress, &pr), 0);
    ck_assert_uint_eq(pr.total, 0);

    /* Joe Bloggs's values, known from the sample. */
    char *c = computed_text(ingested, &tenant_a, "joe.bloggs");
    struct json_object *j = json_tokener_parse(c), *v;
    ck_assert(json_object_object_get_ex(j, "sent", &v) && json_object_get_int(v) > 0);
    json_object_put(j);
    free(c);
    test_db_close(ingested, p1);
    test_db_close(imported, p2);
    test_db_close(later, p3);
    definitions_free(d);
}
END_TEST

START_TEST(test_recompute_after_change)
{
    definitions_t *v1 =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"opens\",\"kind\":\"count\",\"eventAction\":\"email_opened\"}]}]}");
    /* opens renamed (same computation), one changed, one new. */
    definitions_t *v2 =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"email_opens\",\"kind\":\"count\",\"eventAction\":\"email_opened\"},"
                "{\"name\":\"opens_7\",\"kind\":\"count\",\"eventAction\":\"email_opened\",\"windowDays\":7},"
                "{\"name\":\"spent\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"revenue\"}]}]}");
    char *path, *fresh_path;
    storage_t *st = open_db(&path), *fresh = open_db(&fresh_path);
    storage_use_definitions(st, v1);
    for (int i = 0; i < 1200; i++) {
        char user[32];
        snprintf(user, sizeof(user), "user-%d", i % 600);
        track(st, user, "Email Opened", NULL, NOW - (i % 10) * DAY);
        if (i % 3 == 0)
            track(st, user, "Order Completed", "{\"revenue\":2.5}", NOW - DAY);
    }
    progress_t pr = {0};
    ck_assert_int_eq(storage_recompute(st, v1, NOW, on_progress, &pr), 0);
    ck_assert_uint_eq(pr.total, 0); /* incremental from the start */
    expect_computed(st, "user-1", "opens", "2");

    /* The writer switches first, then the recompute runs. */
    storage_use_definitions(st, v2);
    track(st, "user-1", "Order Completed", "{\"revenue\":1}", NOW);
    expect_computed(st, "user-1", "email_opens", "2"); /* renamed: complete already */
    expect_computed(st, "user-1", "spent", "1");       /* new: only what came since */
    /* Stopped after its first batch, resumed by the next call. */
    pr = (progress_t){.stop_after = 2};
    ck_assert_int_eq(storage_recompute(st, v2, NOW, on_progress, &pr), 1);
    ck_assert_uint_eq(pr.done, 500);
    ck_assert_uint_eq(pr.total, 600);
    pr = (progress_t){0};
    ck_assert_int_eq(storage_recompute(st, v2, NOW, on_progress, &pr), 0);
    ck_assert_uint_eq(pr.total, 100);
    ck_assert_uint_eq(pr.done, 100);
    expect_computed(st, "user-1", "spent", "1");
    expect_computed(st, "user-3", "spent", "5");
    expect_computed(st, "user-1", "opens_7", "2");
    expect_computed(st, "user-8", "opens_7", "0");

    /* The same as a database that had v2 all along. */
    storage_use_definitions(fresh, v2);
    for (int i = 0; i < 1200; i++) {
        char user[32];
        snprintf(user, sizeof(user), "user-%d", i % 600);
        track(fresh, user, "Email Opened", NULL, NOW - (i % 10) * DAY);
        if (i % 3 == 0)
            track(fresh, user, "Order Completed", "{\"revenue\":2.5}", NOW - DAY);
    }
    track(fresh, "user-1", "Order Completed", "{\"revenue\":1}", NOW);
    expect_same_profiles(st, fresh);

    /* Events stored by a connection without the definitions: the state is
     * incomplete, and the next recompute redoes the tenant. */
    storage_use_definitions(st, NULL);
    track(st, "user-1", "Order Completed", "{\"revenue\":10}", NOW);
    storage_use_definitions(st, v2);
    expect_computed(st, "user-1", "spent", "1");
    pr = (progress_t){0};
    ck_assert_int_eq(storage_recompute(st, v2, NOW, on_progress, &pr), 0);
    ck_assert_uint_eq(pr.total, 600);
    expect_computed(st, "user-1", "spent", "11");
    ck_assert_int_eq(storage_begin(st), 0);
    ck_assert_int_eq(storage_recompute(st, v2, NOW, NULL, NULL), STORAGE_EINVAL);
    storage_rollback(st);
    test_db_close(st, path);
    test_db_close(fresh, fresh_path);
    definitions_free(v1);
    definitions_free(v2);
}
END_TEST

START_TEST(test_merge_during_recompute)
{
    /* A merge into a profile the recompute has passed rebuilds it. */
    definitions_t *d =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"n\",\"kind\":\"count\"}]}]}");
    char *path;
    storage_t *st = open_db(&path);
    ingest_at(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"early\",\"event\":\"E\",\"timestamp\":\"2020-11-01T00:00:00Z\"}",
              NOW);
    for (int i = 0; i < 700; i++) {
        char json[256];
        snprintf(json, sizeof(json), "{\"type\":\"track\",\"anonymousId\":\"a-%d\",\"event\":\"E\"}", i);
        ingest_at(st, &tenant_a, json, NOW);
    }
    storage_use_definitions(st, d);
    progress_t pr = {.stop_after = 2};
    ck_assert_int_eq(storage_recompute(st, d, NOW, on_progress, &pr), 1);
    /* a-699 (not rebuilt yet, events before the definitions) merges into
     * early (rebuilt). */
    ingest_at(st, &tenant_a, "{\"type\":\"identify\",\"userId\":\"early\",\"anonymousId\":\"a-699\"}", NOW);
    expect_computed(st, "early", "n", "2");
    ck_assert_int_eq(storage_recompute(st, d, NOW, NULL, NULL), 0);
    expect_computed(st, "early", "n", "2");
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_wildcard_brand)
{
    definitions_t *d = defs_of("{\"tenants\":["
                               "{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"*\",\"computedTraits\":["
                               "{\"name\":\"any_brand\",\"kind\":\"count\"}]},"
                               "{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                               "{\"name\":\"own\",\"kind\":\"count\"}]}]}");
    char *path;
    storage_t *st = open_db(&path);
    storage_use_definitions(st, d);
    storage_tenant_t other = storage_tenant("intilery", "marketing", "OTHER");
    ingest_at(st, &other, "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"}", NOW);
    ingest_at(st, &tenant_a, "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"}", NOW);
    char *c = computed_text(st, &other, "u");
    ck_assert_str_eq(c, "{\"any_brand\":1}");
    free(c);
    c = computed_text(st, &tenant_a, "u");
    ck_assert_str_eq(c, "{\"own\":1}");
    free(c);
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

START_TEST(test_readonly_connection)
{
    /* The server's workers read through read-only connections. */
    definitions_t *d =
        defs_of("{\"tenants\":[{\"client\":\"intilery\",\"account\":\"marketing\",\"brand\":\"MARKETING\",\"computedTraits\":["
                "{\"name\":\"n\",\"kind\":\"count\",\"windowDays\":2}],"
                "\"audiences\":[{\"name\":\"audience_2_days\",\"rule\":{\"activeWithinDays\":2}}]}]}");
    char *path;
    storage_t *st = open_db(&path), *ro = NULL;
    storage_use_definitions(st, d);
    track(st, "u", "E", NULL, NOW - DAY);
    char err[256] = "";
    ck_assert_msg(storage_open(&ro, path, STORAGE_READONLY, err, sizeof(err)) == 0, "%s", err);
    storage_set_clock(ro, test_clock, &clock_ms);
    char *c = computed_text(ro, &tenant_a, "u");
    ck_assert_str_eq(c, "{}");
    free(c);
    storage_use_definitions(ro, d);
    c = computed_text(ro, &tenant_a, "u");
    ck_assert_str_eq(c, "{\"n\":1}");
    free(c);
    struct json_object *o = view_of(ro, &tenant_a, STORAGE_ID_USER, "u", STORAGE_VIEW_AUDIENCES);
    ck_assert_str_eq(test_jstr(o, "audiences.0"), "audience_2_days");
    json_object_put(o);
    clock_ms = NOW + 2 * DAY;
    c = computed_text(ro, &tenant_a, "u");
    ck_assert_str_eq(c, "{\"n\":0}");
    free(c);
    storage_close(ro);
    test_db_close(st, path);
    definitions_free(d);
}
END_TEST

static int
collect_audience(void *ctx, const char *name, uint64_t members)
{
    char *out = ctx;
    sprintf(out + strlen(out), "%s=%llu;", name, (unsigned long long)members);
    return 0;
}

START_TEST(test_audience_csv)
{
    char *path;
    storage_t *st = open_db(&path);
    static const char csv[] = "Name;x,User_ID\n"
                              "a,u1\n"
                              "b,\"u \"\"2\"\"\"\n"
                              "c,  u3  \n"
                              "d,\"multi\nline\"\n"
                              "e,\"unterminated\n";
    FILE *in = fmemopen((void *)csv, sizeof(csv) - 1, "r");
    char errbuf[1024] = "";
    FILE *errout = fmemopen(errbuf, sizeof(errbuf), "w");
    storage_audience_counts_t c;
    ck_assert_int_eq(storage_audience_import_csv(st, &tenant_a, "board", in, NULL, errout, NOW, &c), STORAGE_EINVAL);
    fclose(errout);
    fclose(in);
    ck_assert_str_eq(errbuf, "line 7: unterminated quoted field\n"); /* d spans lines 5-6 */
    ck_assert_uint_eq(c.rows, 5);
    ck_assert_uint_eq(c.created, 4);
    ck_assert_uint_eq(c.changed, 4);
    ck_assert_uint_eq(c.rejected, 1);
    struct json_object *o = view_of(st, &tenant_a, STORAGE_ID_USER, "u \"2\"", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(test_jstr(o, "createdBy.type"), "audience-csv");
    ck_assert_ptr_null(test_jget(o, "createdBy.filename")); /* from stdin */
    json_object_put(o);
    o = view_of(st, &tenant_a, STORAGE_ID_USER, "multi\nline", STORAGE_VIEW_AUDIENCES);
    ck_assert_str_eq(test_jstr(o, "audiencesStatic.0"), "board");
    json_object_put(o);
    json_object_put(view_of(st, &tenant_a, STORAGE_ID_USER, "u3", STORAGE_VIEW_TRAITS)); /* trimmed */

    char list[256] = "";
    ck_assert_int_eq(storage_audience_list(st, &tenant_a, collect_audience, list), 0);
    ck_assert_str_eq(list, "board=4;");
    list[0] = '\0';
    ck_assert_int_eq(storage_audience_list(st, &tenant_b, collect_audience, list), 0);
    ck_assert_str_eq(list, "");
    ck_assert_int_eq(storage_audience_import_csv(st, &tenant_a, "", NULL, NULL, NULL, NOW, NULL), STORAGE_EINVAL);
    ck_assert_int_eq(storage_audience_remove(st, &tenant_a, "board", NULL, NULL, &c), 0);
    ck_assert_uint_eq(c.changed, 4);
    ck_assert_int_eq(storage_audience_remove(st, &tenant_a, "board", NULL, NULL, &c), STORAGE_ENOTFOUND);
    test_db_close(st, path);
}
END_TEST

/* ---- the subcommands, as the real binary ---- */

static char *
write_file(const char *dir_of, const char *name, const char *text)
{
    char *path;
    if (test_on_pg()) { /* no directory beside the database: a fresh one */
        path = test_tmp_path(name);
    } else {
        char *dir = strdup(dir_of);
        path = malloc(strlen(dir) + strlen(name) + 2);
        sprintf(path, "%s/%s", dirname(dir), name);
        free(dir);
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int
cli(const char *const *argv, char **out, char **err)
{
    return test_cli(argv, NULL, out, err);
}

START_TEST(test_audience_cli)
{
    char *db;
    storage_t *st = open_db(&db);
    identify(st, "joe.bloggs", "{\"email\":\"joe.bloggs@intilery.com\"}");
    storage_close(st);
    char *csv = write_file(db, "staff listaug20.csv",
                           "userId,email,name\n"
                           "joe.bloggs,,Joe\n"
                           ",New.Person@Example.com,New\n"
                           ",not-an-email,Bad\n"
                           "\"quoted,id\",,Quoted\n"
                           ",,Empty\n"
                           "\n"
                           "\"x\"y,,after quote\n"
                           ",JOE.BLOGGS@intilery.com,Joe again\n");
    const char *imp[] = {"audience",  "import",  "--db",      db,       "--client",       "intilery", "--account",
                         "marketing", "--brand", "MARKETING", "--name", "audience_board", csv,        NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(cli(imp, &out, &err), 1);
    ck_assert_msg(strstr(err, "line 4: not an email address: \"not-an-email\"\n") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "line 6: no userId or email\n") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "line 8: text after a closing quote\n") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "7 rows: 3 members added, 2 profiles created, 3 rejected") != NULL, "stderr: %s", err);
    free(out);
    free(err);

    ck_assert_int_eq(storage_open(&st, db, 0, NULL, 0), 0);
    struct json_object *o = view_of(st, &tenant_a, STORAGE_ID_EMAIL, "new.person@example.com", STORAGE_VIEW_METADATA);
    struct json_object *p = json_object_array_get_idx(test_jget(o, "data"), 0);
    ck_assert_str_eq(test_jstr(p, "createdBy.type"), "audience-csv");
    ck_assert_str_eq(test_jstr(p, "createdBy.filename"), "staff listaug20.csv");
    ck_assert_ptr_nonnull(test_jstr(p, "createdBy.createdTime"));
    ck_assert_str_eq(test_jstr(p, "email"), "New.Person@Example.com");
    ck_assert_str_eq(test_jstr(p, "externalId"), "New.Person@Example.com");
    ck_assert_str_eq(test_jstr(p, "audiencesStatic.0"), "audience_board");
    json_object_put(o);
    o = view_of(st, &tenant_a, STORAGE_ID_USER, "quoted,id", STORAGE_VIEW_AUDIENCES);
    ck_assert_str_eq(test_jstr(o, "audiencesStatic.0"), "audience_board");
    ck_assert_uint_eq(json_object_array_length(test_jget(o, "audiences")), 0);
    json_object_put(o);
    o = view_of(st, &tenant_a, STORAGE_ID_USER, "joe.bloggs", STORAGE_VIEW_METADATA);
    ck_assert_str_eq(test_jstr(o, "audiencesStatic.0"), "audience_board");
    ck_assert_str_eq(test_jstr(o, "createdBy.type"), "api");
    json_object_put(o);
    storage_close(st);

    /* A headerless single column: '@' makes an email. */
    char *single = write_file(db, "single.csv", "\xef\xbb\xbfjoe.bloggs@intilery.com\r\nsomeone-else\r\n");
    const char *imp2[] = {"audience",  "import",  "--db",      db,       "--client", "intilery", "--account",
                          "marketing", "--brand", "MARKETING", "--name", "vip list", single,     NULL};
    ck_assert_int_eq(cli(imp2, NULL, &err), 0);
    ck_assert_msg(strstr(err, "2 rows: 2 members added, 1 profiles created, 0 rejected") != NULL, "stderr: %s", err);
    free(err);
    /* Several columns and no header: refused before anything. */
    char *wide = write_file(db, "wide.csv", "a,b\nc,d\n");
    const char *imp3[] = {"audience",  "import",  "--db",      db,       "--client", "intilery", "--account",
                          "marketing", "--brand", "MARKETING", "--name", "x",        wide,       NULL};
    ck_assert_int_eq(cli(imp3, NULL, &err), 1);
    ck_assert_msg(strstr(err, "line 1: 2 columns and no header naming a userId or email column") != NULL, "stderr: %s", err);
    free(err);

    const char *list[] = {"audience",  "list",      "--db",    db,          "--client", "intilery",
                          "--account", "marketing", "--brand", "MARKETING", NULL};
    ck_assert_int_eq(cli(list, &out, NULL), 0);
    ck_assert_str_eq(out, "audience_board\t3\nvip list\t2\n");
    free(out);

    /* Remove listed members, then a whole audience. */
    char *rm = write_file(db, "rm.csv", "email\njoe.bloggs@intilery.com\nnobody@example.com\n");
    const char *rm1[] = {"audience",  "remove",  "--db",      db,       "--client",       "intilery", "--account",
                         "marketing", "--brand", "MARKETING", "--name", "audience_board", rm,         NULL};
    ck_assert_int_eq(cli(rm1, NULL, &err), 1);
    ck_assert_msg(strstr(err, "line 3: no profile with email \"nobody@example.com\"") != NULL, "stderr: %s", err);
    free(err);
    ck_assert_int_eq(cli(list, &out, NULL), 0);
    ck_assert_str_eq(out, "audience_board\t2\nvip list\t2\n");
    free(out);
    const char *rm2[] = {"audience",  "remove",  "--db",      db,       "--client", "intilery", "--account",
                         "marketing", "--brand", "MARKETING", "--name", "vip list", NULL};
    ck_assert_int_eq(cli(rm2, NULL, NULL), 0);
    ck_assert_int_eq(cli(rm2, NULL, &err), 1);
    ck_assert_msg(strstr(err, "no static audience \"vip list\"") != NULL, "stderr: %s", err);
    free(err);
    ck_assert_int_eq(cli(list, &out, NULL), 0);
    ck_assert_str_eq(out, "audience_board\t2\n");
    free(out);
    const char *missing[] = {"audience", "import", "--db", db, "--client", "intilery", NULL};
    ck_assert_int_eq(cli(missing, NULL, NULL), 2);

    unlink(csv);
    unlink(single);
    unlink(wide);
    unlink(rm);
    free(csv);
    free(single);
    free(wide);
    free(rm);
    test_rm_db(db);
    rmdir(dirname(db));
    free(db);
}
END_TEST

START_TEST(test_definitions_cli)
{
    const char *list[] = {"definitions", "list", "--definitions", DEFS_FIXTURE, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(cli(list, &out, NULL), 0);
    ck_assert_msg(strstr(out, "intilery/marketing/MARKETING: 8 computed traits, 4 audiences\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "  computed number_email_delivered_all_time: count of email_delivered events, all time\n") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "  audience audience_2_days: active within the last 2 days\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "  computed favorite_blog_category: most frequent category of page events where path contains") !=
                      NULL,
                  "%s", out);
    free(out);
    const char *check[] = {"definitions", "check", DEFS_FIXTURE, NULL};
    ck_assert_int_eq(cli(check, &out, NULL), 0);
    ck_assert_msg(strstr(out, "ok: 2 tenant entries, 9 computed traits, 4 audiences") != NULL, "%s", out);
    free(out);

    char *path = test_tmp_path("bad.json");
    FILE *f = fopen(path, "w");
    fputs("{\"tenants\": [{\"client\": \"c\", \"account\": \"a\", \"brand\": \"b\",\n"
          "  \"audiences\": [{\"name\": \"q\", \"rule\": {\"activeWithinDays\": -1}}]}]}\n",
          f);
    fclose(f);
    const char *bad[] = {"definitions", "list", "--definitions", path, NULL};
    ck_assert_int_eq(cli(bad, &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, ":2:60: tenants[0].audiences[0].rule.activeWithinDays: \"activeWithinDays\" must be between 1") !=
                      NULL,
                  "%s", err);
    free(out);
    free(err);
    unlink(path);
    rmdir(dirname(path));
    free(path);
}
END_TEST

static Suite *
computed_suite(void)
{
    Suite *s = suite_create("computed");
    TCase *tc = tcase_create("computed");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_count);
    tcase_add_test(tc, test_sum_min_max);
    tcase_add_test(tc, test_first_last);
    tcase_add_test(tc, test_most_frequent);
    tcase_add_test(tc, test_windows_and_clock);
    tcase_add_test(tc, test_rules);
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_import_equals_ingest_equals_recompute);
    tcase_add_test(tc, test_recompute_after_change);
    tcase_add_test(tc, test_merge_during_recompute);
    tcase_add_test(tc, test_wildcard_brand);
    tcase_add_test(tc, test_readonly_connection);
    tcase_add_test(tc, test_audience_csv);
    tcase_add_test(tc, test_audience_cli);
    tcase_add_test(tc, test_definitions_cli);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    int failed = test_run_suite(computed_suite());
    return failed == 0 ? 0 : 1;
}
