/* test_segment.c -- segment/ on its own: request bodies taken apart and
 * checked in place (the reasons a client reads), the writeKey kept apart,
 * and one message checked into spans. No database. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "segment.h"
#include "testutil.h"

static int
batch_rc(const char *body, const char *single, segment_batch_err_t *e)
{
    segment_batch_t *b;
    int ret = segment_batch_parse(strdup(body), strlen(body), single, &b, e);
    if (ret == 0) {
        ret = segment_batch_check(b, e);
        segment_batch_free(b);
    }
    return ret;
}

START_TEST(test_batch_bodies)
{
    static const struct {
        const char *body, *single;
        bool bad_body;
        const char *message;
    } bad[] = {
        {"", NULL, true, "The request body must be one JSON object: unexpected end."},
        {"[1]", NULL, true, "The request body must be one JSON object."},
        {"{\"batch\":[]} x", NULL, true, "The request body must be one JSON object: trailing characters."},
        {"{\"batch\":{}}", NULL, false, "batch: expected an array of messages."},
        {"{\"writeKey\":\"k\"}", NULL, false, "batch: expected an array of messages."},
        {"{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"},{\"type\":\"track\",\"event\":\"E\"}]}", NULL, false,
         "batch[1].userId: missing userId or anonymousId"},
        {"{\"batch\":[7]}", NULL, false, "batch[0].message: message must be a JSON object"},
        {"{\"type\":\"identify\",\"userId\":\"u\"}", "track", false, "type: this route takes 'track' messages."},
        {"{\"type\":null,\"userId\":\"u\"}", "track", false, "type: this route takes 'track' messages."},
        {"{\"userId\":\"u\"}", "track", false, "event: missing event"},
    };
    segment_batch_err_t e;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(batch_rc(bad[i].body, bad[i].single, &e), BASE_EINVAL);
        ck_assert_msg(e.bad_body == bad[i].bad_body && strcmp(e.message, bad[i].message) == 0, "%s: %d %s", bad[i].body, e.bad_body,
                      e.message);
    }

    /* Escaped quotes and backslashes before the members that matter. */
    ck_assert_int_eq(batch_rc("{\"batch\":[{\"properties\":{\"q\":\"x\\\"y\\\\\",\"r\":[\"\\\\\",\"\\\"\"],\"s\":\"\\\\\\\"\"},"
                              "\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"}]}",
                              NULL, &e),
                     0);

    /* Nesting: a message may nest 31 containers, in a batch or alone. */
    for (int arrays = 29; arrays <= 30; arrays++) {
        char deep[512], body[600];
        strcpy(deep, "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\",\"properties\":{\"a\":");
        for (int d = 0; d < arrays; d++)
            strcat(deep, "[");
        for (int d = 0; d < arrays; d++)
            strcat(deep, "]");
        strcat(deep, "}}");
        snprintf(body, sizeof(body), "{\"batch\":[%s]}", deep);
        int want = arrays == 29 ? 0 : BASE_EINVAL;
        ck_assert_msg(batch_rc(deep, "track", &e) == want, "%d arrays alone: %s", arrays, e.message);
        ck_assert_msg(batch_rc(body, NULL, &e) == want, "%d arrays in a batch: %s", arrays, e.message);
        if (want != 0)
            ck_assert_ptr_nonnull(strstr(e.message, "nested too deeply"));
    }

    /* The writeKey is decoded and kept apart from the message. */
    const char *one = "{\"writeKey\":\"s\\u0065cret\",\"userId\":\"u1\",\"event\":\"Signed Up\"}";
    segment_batch_t *b;
    ck_assert_int_eq(segment_batch_parse(strdup(one), strlen(one), "track", &b, &e), 0);
    size_t key_len;
    const char *key = segment_batch_write_key(b, &key_len);
    ck_assert_uint_eq(key_len, 6);
    ck_assert_int_eq(memcmp(key, "secret", 6), 0);
    ck_assert_int_eq(segment_batch_check(b, &e), 0);
    ck_assert_uint_eq(segment_batch_count(b), 1);
    span_t text;
    const message_t *m = segment_batch_message(b, 0, &text);
    ck_assert_int_eq(m->type, MSG_TRACK);
    ck_assert_ptr_null(memmem(text.p, text.n, "writeKey", 8));
    ck_assert_ptr_nonnull(memmem(text.p, text.n, "\"type\":\"track\"", 14));
    segment_batch_free(b);
}
END_TEST

static bool
span_is(span_t s, const char *want)
{
    return s.p != NULL && s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

START_TEST(test_message_fields)
{
    message_t m;
    const char *field = NULL;
    char err[256];
    const char *ok = "{\"type\":\"page\",\"anonymousId\":\"a\\u00e9\",\"name\":\"Home Page\","
                     "\"timestamp\":\"2020-11-19T13:39:17.912Z\",\"properties\":{\"x\":[1,2]},\"messageId\":\"m1\"}";
    ck_assert_int_eq(segment_message_check(ok, strlen(ok), &m, &field, err, sizeof(err)), 0);
    ck_assert_int_eq(m.type, MSG_PAGE);
    ck_assert(span_is(m.anon_id, "a\xc3\xa9")); /* escapes decoded */
    ck_assert_ptr_null(m.user_id.p);
    ck_assert(span_is(m.message_id, "m1"));
    ck_assert(span_is(m.properties, "{\"x\":[1,2]}"));
    ck_assert(m.has_time);
    ck_assert_int_eq(m.time_ms, 1605793157912LL);
    segment_message_free(&m);

    static const struct {
        const char *text, *field;
    } bad[] = {
        {"{\"type\":\"track\",\"event\":\"E\"}", "userId"},
        {"{\"type\":\"track\",\"userId\":\"\\ud800\",\"event\":\"E\"}", "userId"},
        {"{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\",\"timestamp\":\"yesterday\"}", "timestamp"},
        {"{\"type\":\"shout\",\"userId\":\"u\"}", "type"},
        {"{\"type\":\"track\",\"userId\":\"u\"}", "event"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        field = NULL;
        ck_assert_int_eq(segment_message_check(bad[i].text, strlen(bad[i].text), &m, &field, err, sizeof(err)), BASE_EINVAL);
        ck_assert_msg(field != NULL && strcmp(field, bad[i].field) == 0, "%s: field %s (%s)", bad[i].text, field ? field : "-",
                      err);
        segment_message_free(&m);
    }
}
END_TEST

static Suite *
segment_suite(void)
{
    Suite *s = suite_create("segment");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_batch_bodies);
    tcase_add_test(tc, test_message_fields);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(segment_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
