/* test_definitions.c -- definitions/ on its own: every refusal says
 * FILE:LINE:COL, the JSON path and the reason; the file form names the
 * file; the documented example loads. No database. */
#include <check.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "definitions.h"
#include "testutil.h"

#define DEFS_FIXTURE PROFILED_SOURCE_DIR "/tests/data/definitions.json"

/* Definitions refused: returns the message (static buffer). */
static const char *
defs_error(const char *json)
{
    static char err[512];
    definitions_t *d = (definitions_t *)1;
    err[0] = '\0';
    int ret = definitions_parse(json, strlen(json), "defs.json", &d, err, sizeof(err));
    ck_assert_msg(ret == BASE_EINVAL, "accepted: %s", json);
    ck_assert_ptr_null(d);
    ck_assert_msg(err[0] != '\0', "no message for %s", json);
    return err;
}

static void
expect_refused(const char *json, const char *want1, const char *want2)
{
    const char *err = defs_error(json);
    ck_assert_msg(strstr(err, want1) != NULL, "message '%s' lacks '%s'", err, want1);
    ck_assert_msg(want2 == NULL || strstr(err, want2) != NULL, "message '%s' lacks '%s'", err, want2);
}

#define TENANT_OPEN "{\"tenants\":[{\"client\":\"c\",\"account\":\"a\",\"brand\":\"b\",\n"

START_TEST(test_definition_errors)
{
    /* Syntax: the position of the offending character. */
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\" \"kind\":\"count\"}]}]}", "defs.json:2:31: invalid JSON",
                   "separator");
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"count\",}]}]}", "defs.json:2:46: invalid JSON",
                   NULL);
    expect_refused(TENANT_OPEN "\"computedTraits\":[", "defs.json:2:19: invalid JSON: unexpected end of file", NULL);
    expect_refused("", "defs.json:1:1: invalid JSON: unexpected end of file", NULL);
    expect_refused("{\"tenants\":[]} x", "defs.json:1:16: invalid JSON", NULL);
    /* Meaning: the JSON path and the line. */
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"count\"},\n {\"name\":\"y\",\"kind\":\"avg\"}]}]}",
                   "defs.json:3:21: tenants[0].computedTraits[1].kind: unknown kind \"avg\"", NULL);
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"kind\":\"count\"}]}]}",
                   "defs.json:2:19: tenants[0].computedTraits[0]: missing \"name\"", NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"trait\":\"p\",\"op\":\"like\",\"value\":1}}]}]}",
                   "tenants[0].audiences[0].rule.op: unknown op \"like\"", "defs.json:2:");
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"first\",\"property\":\"p\",\"windowDays\":7}]}]}",
                   "tenants[0].computedTraits[0].windowDays: kind first is all time only", NULL);
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"sum\"}]}]}", "missing \"property\"", NULL);
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"count\",\"windowdays\":7}]}]}",
                   "computedTraits[0].windowdays: unknown member \"windowdays\"", NULL);
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"count\",\"windowDays\":0}]}]}",
                   "windowDays\" must be between 1 and 3650", NULL);
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x y\",\"kind\":\"count\"}]}]}",
                   "computedTraits[0].name: name \"x y\"", NULL);
    expect_refused(TENANT_OPEN "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"count\"},{\"name\":\"x\",\"kind\":\"count\"}]}]}",
                   "computedTraits[1].name: computed trait \"x\" is defined twice", NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"computed\":\"nope\",\"op\":\"eq\",\"value\":1}}]}]}",
                   "audiences[0].rule.computed: no computed trait \"nope\"", NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"and\":[{\"activeWithinDays\":2},{}]}}]}]}",
                   "audiences[0].rule.and[1]: a rule needs one of", NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"trait\":\"a\",\"computed\":\"b\",\"op\":\"eq\"}}]}]}",
                   "has both", NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"eventCount\":{},\"op\":\"gt\",\"value\":\"3\"}}]}]}",
                   "audiences[0].rule.value: value must be a number", NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"trait\":\"a\",\"op\":\"gt\",\"value\":[1]}}]}]}",
                   "rule.value: value must be a string, number, boolean or null", NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"trait\":\"a\",\"op\":\"eq\"}}]}]}", "missing \"value\"",
                   NULL);
    expect_refused(TENANT_OPEN "\"audiences\":[{\"name\":\"q\",\"rule\":{\"activeWithinDays\":2,\"op\":\"eq\"}}]}]}",
                   "takes no op or value", NULL);
    expect_refused(
        TENANT_OPEN
        "\"computedTraits\":[{\"name\":\"x\",\"kind\":\"count\",\"where\":{\"property\":\"a..b\",\"op\":\"exists\"}}]}]}",
        "where.property: path \"a..b\" has an empty segment", NULL);
    expect_refused("{\"tenants\":[{\"client\":\"c\",\"account\":\"a\"}]}", "tenants[0]: missing \"brand\"", NULL);
    expect_refused(
        "{\"tenants\":[{\"client\":\"c\",\"account\":\"a\",\"brand\":\"b\"},{\"client\":\"c\",\"account\":\"a\",\"brand\":\"b\"}]}",
        "tenants[1]: c/a/b has two entries", NULL);
    expect_refused("[]", "the definitions must be an object", NULL);
    expect_refused("{}", "missing \"tenants\"", NULL);

    /* The file form names the file; an unreadable one is BASE_EIO. */
    char *path = test_tmp_path("defs.json"), err[512];
    FILE *f = fopen(path, "w");
    fputs("{\"tenants\": [\n  {\"client\": \"c\", \"account\": \"a\", \"brand\": \"b\", \"computedTraits\": [{\"name\": 5}]}\n]}\n",
          f);
    fclose(f);
    definitions_t *d = NULL;
    ck_assert_int_eq(definitions_load(path, &d, err, sizeof(err)), BASE_EINVAL);
    ck_assert_ptr_null(d);
    char want[600];
    snprintf(want, sizeof(want), "%s:2:77: tenants[0].computedTraits[0].name: \"name\" must be a string, not a number", path);
    ck_assert_str_eq(err, want);
    unlink(path);
    ck_assert_int_eq(definitions_load(path, &d, err, sizeof(err)), BASE_EIO);
    rmdir(dirname(path));
    free(path);

    /* The documented example loads. */
    ck_assert_int_eq(definitions_load(DEFS_FIXTURE, &d, err, sizeof(err)), 0);
    size_t tenants, traits, audiences;
    definitions_stats(d, &tenants, &traits, &audiences);
    ck_assert_uint_eq(tenants, 2);
    ck_assert_uint_eq(traits, 9);
    ck_assert_uint_eq(audiences, 4);
    definitions_free(d);
}
END_TEST

static Suite *
definitions_suite(void)
{
    Suite *s = suite_create("definitions");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_definition_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return test_run_suite(definitions_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
