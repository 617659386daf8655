/* test_permissions.c -- what a token may do, over real HTTP: every read
 * route and every ingest route (tenant and root forms; auth-token header,
 * HTTP Basic and the body's writeKey) against tokens holding {read},
 * {ingest}, {read,ingest} and {delete}: allowed, or 403 with the JSON error
 * naming what the token lacks, and nothing stored by a refused ingest.
 * Also `token create --permissions` and the column of `token list`. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testhttp.h"
#include "testutil.h"

#define BRAND "PERMS"
#define BASE "/track/intilery/marketing/" BRAND "/v1"

static test_server_t srv;
static char *db;

/* The permission sets under test, and a token of each. */
enum { SET_READ, SET_INGEST, SET_READ_INGEST, SET_DELETE, NSETS };
static const struct {
    const char *arg; /* --permissions */
    const char *listed;
    int read, ingest;
} sets[NSETS] = {
    [SET_READ] = {"read", "read", 1, 0},
    [SET_INGEST] = {"ingest", "ingest", 0, 1},
    [SET_READ_INGEST] = {"ingest, read", "read,ingest", 1, 1},
    [SET_DELETE] = {"delete", "delete", 0, 0},
};
static char toks[NSETS][128];
static char tok_default[128]; /* created without --permissions */

/* token create with --permissions perms (NULL: none); the exit status, the
 * token into out (128 bytes) on success, stderr into *err (may be NULL). */
static int
create_token(const char *perms, char *out, char **err)
{
    char *o = NULL;
    const char *argv[] = {"token",
                          "create",
                          "--db",
                          db,
                          "--client",
                          "intilery",
                          "--account",
                          "marketing",
                          "--brand",
                          BRAND,
                          "--name",
                          "perm-test",
                          perms ? "--permissions" : NULL,
                          perms,
                          NULL};
    int rc = test_cli(argv, NULL, &o, err);
    if (rc == 0 && o != NULL && strncmp(o, "pd_", 3) == 0) {
        o[strcspn(o, "\n")] = '\0';
        snprintf(out, 128, "%s", o);
    }
    free(o);
    return rc;
}

/* Asserts a 403 authentication_error whose message is want. */
static void
assert_refused(const test_resp_t *r, json_object *j, const char *want, const char *what)
{
    ck_assert_msg(r->status == 403, "%s: status %d, body %s", what, r->status, r->body ? r->body : "");
    test_assert_error(r, j, 403, "authentication_error");
    ck_assert_str_eq(test_jstr(j, "error.message"), want);
    ck_assert_ptr_nonnull(test_header(r, "x-amzn-RequestId"));
}

static int
status_with(const char *uri, const char *token)
{
    test_resp_t r;
    json_object *j = test_get(srv.port, uri, token, &r);
    int s = r.status;
    json_object_put(j);
    test_resp_free(&r);
    return s;
}

/* Whether a profile with this userId exists, asked with a read token. */
static int
stored(const char *user)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:%s/external_ids", user);
    int s = status_with(uri, toks[SET_READ]);
    ck_assert_msg(s == 200 || s == 404, "%s -> %d", uri, s);
    return s == 200;
}

static long
profile_count(void)
{
    test_resp_t r;
    json_object *j = test_get(srv.port, BASE "/profiles?size=100", toks[SET_READ], &r);
    ck_assert_int_eq(r.status, 200);
    json_object *data = test_jget(j, "data");
    ck_assert_ptr_nonnull(data);
    long n = (long)json_object_array_length(data);
    json_object_put(j);
    test_resp_free(&r);
    return n;
}

static const char *const read_routes[] = {
    BASE "/profiles/userId:seed/traits",
    BASE "/profiles/userId:seed/metadata",
    BASE "/profiles/userId:seed/meta",
    BASE "/profiles/userId:seed/audiences",
    BASE "/profiles/userId:seed/external_ids",
    BASE "/profiles/userId:seed/events",
    BASE "/profiles",
};
#define NREAD (sizeof(read_routes) / sizeof(read_routes[0]))

START_TEST(test_read_routes)
{
    for (int s = 0; s < NSETS; s++)
        for (size_t i = 0; i < NREAD; i++) {
            test_resp_t r;
            json_object *j = test_get(srv.port, read_routes[i], toks[s], &r);
            char what[256];
            snprintf(what, sizeof(what), "GET %s with {%s}", read_routes[i], sets[s].arg);
            if (sets[s].read) {
                ck_assert_msg(r.status == 200, "%s: %d %s", what, r.status, r.body ? r.body : "");
                ck_assert_ptr_nonnull(j);
            } else {
                assert_refused(&r, j, "This token may not read profiles.", what);
            }
            json_object_put(j);
            test_resp_free(&r);
        }
    /* a token from before --permissions existed reads as it always did */
    ck_assert_int_eq(status_with(read_routes[0], tok_default), 200);
}
END_TEST

static const char *const kinds[] = {"identify", "track", "page", "screen", "group", "alias", "batch"};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* The body of kind for user, with a writeKey member when key is not NULL. */
static void
ingest_body(const char *kind, const char *user, const char *key, char *out, size_t len)
{
    char wk[640] = "";
    if (key != NULL)
        snprintf(wk, sizeof(wk), "\"writeKey\":\"%s\",", key);
    if (strcmp(kind, "identify") == 0)
        snprintf(out, len, "{%s\"userId\":\"%s\",\"traits\":{\"firstName\":\"P\"}}", wk, user);
    else if (strcmp(kind, "track") == 0)
        snprintf(out, len, "{%s\"userId\":\"%s\",\"event\":\"Signed Up\"}", wk, user);
    else if (strcmp(kind, "page") == 0)
        snprintf(out, len, "{%s\"userId\":\"%s\",\"name\":\"Home\"}", wk, user);
    else if (strcmp(kind, "screen") == 0)
        snprintf(out, len, "{%s\"userId\":\"%s\",\"name\":\"Main\"}", wk, user);
    else if (strcmp(kind, "group") == 0)
        snprintf(out, len, "{%s\"userId\":\"%s\",\"groupId\":\"g-1\"}", wk, user);
    else if (strcmp(kind, "alias") == 0)
        snprintf(out, len, "{%s\"previousId\":\"%s-before\",\"userId\":\"%s\"}", wk, user, user);
    else
        snprintf(out, len, "{%s\"batch\":[{\"type\":\"identify\",\"userId\":\"%s\",\"traits\":{\"firstName\":\"B\"}}]}", wk, user);
}

enum { CRED_HEADER, CRED_BASIC, CRED_WRITEKEY, NCREDS };
static const char *const cred_names[NCREDS] = {"auth-token", "basic", "writekey"};

START_TEST(test_ingest_routes)
{
    long before = profile_count();
    long allowed = 0;
    for (int s = 0; s < NSETS; s++)
        for (int root = 0; root < 2; root++)
            for (size_t k = 0; k < NKINDS; k++)
                for (int c = 0; c < NCREDS; c++) {
                    char uri[128], user[96], body[512], what[256];
                    snprintf(uri, sizeof(uri), "%s/%s", root ? "/v1" : BASE, kinds[k]);
                    snprintf(user, sizeof(user), "p-%s-%d-%s-%s", sets[s].listed, root, kinds[k], cred_names[c]);
                    for (char *p = user; *p != '\0'; p++)
                        if (*p == ',')
                            *p = '+';
                    ingest_body(kinds[k], user, c == CRED_WRITEKEY ? toks[s] : NULL, body, sizeof(body));
                    const char *h[] = {"content-type", "application/json", NULL, NULL, NULL};
                    if (c == CRED_HEADER)
                        h[2] = "auth-token", h[3] = toks[s];
                    else if (c == CRED_BASIC)
                        h[2] = "authorization", h[3] = test_basic_auth(toks[s]);
                    snprintf(what, sizeof(what), "POST %s (%s) with {%s}", uri, cred_names[c], sets[s].arg);
                    test_resp_t r;
                    json_object *j = test_post(srv.port, uri, h, body, strlen(body), &r);
                    if (sets[s].ingest) {
                        ck_assert_msg(r.status == 200, "%s: %d %s", what, r.status, r.body ? r.body : "");
                        ck_assert(json_object_get_boolean(test_jget(j, "success")));
                        allowed++;
                    } else {
                        assert_refused(&r, j, "This token may not send events.", what);
                    }
                    json_object_put(j);
                    test_resp_free(&r);
                    ck_assert_msg(stored(user) == sets[s].ingest, "%s: stored %d", what, stored(user));
                }
    /* every accepted message made one profile; no refused one made any */
    ck_assert_int_eq(allowed, 2 * 2 * (long)NKINDS * NCREDS);
    ck_assert_int_eq(profile_count(), before + allowed);
}
END_TEST

/* A refused ingest into an existing profile adds nothing to it either. */
START_TEST(test_refused_ingest_leaves_profile_alone)
{
    char uri[128];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:seed/events");
    test_resp_t r;
    json_object *j = test_get(srv.port, uri, toks[SET_READ], &r);
    ck_assert_int_eq(r.status, 200);
    size_t events = json_object_array_length(test_jget(j, "data"));
    json_object_put(j);
    test_resp_free(&r);
    const int refused[] = {SET_READ, SET_DELETE};
    for (size_t i = 0; i < 2; i++) {
        const char *h[] = {"content-type", "application/json", "auth-token", toks[refused[i]], NULL};
        const char *body = "{\"userId\":\"seed\",\"event\":\"Refused\",\"messageId\":\"refused-1\"}";
        j = test_post(srv.port, BASE "/track", h, body, strlen(body), &r);
        assert_refused(&r, j, "This token may not send events.", "track onto seed");
        json_object_put(j);
        test_resp_free(&r);
        j = test_post(srv.port, "/v1/identify", h, "{\"userId\":\"seed\",\"traits\":{\"firstName\":\"Mallory\"}}", 51, &r);
        assert_refused(&r, j, "This token may not send events.", "identify onto seed");
        json_object_put(j);
        test_resp_free(&r);
    }
    j = test_get(srv.port, uri, toks[SET_READ], &r);
    ck_assert_uint_eq(json_object_array_length(test_jget(j, "data")), events);
    json_object_put(j);
    test_resp_free(&r);
    j = test_get(srv.port, BASE "/profiles/userId:seed/traits", toks[SET_READ], &r);
    ck_assert_str_eq(test_jstr(j, "firstName"), "Seed");
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_token_list_shows_permissions)
{
    char *out = NULL;
    const char *list[] = {"token", "list", "--db", db, NULL};
    ck_assert_int_eq(test_cli(list, NULL, &out, NULL), 0);
    ck_assert_int_eq(strncmp(out, "id\tscope\tname\tcreated\trevoked\tpermissions\n", 42), 0);
    for (int s = 0; s <= NSETS; s++) {
        const char *tok = s < NSETS ? toks[s] : tok_default;
        char line[256];
        snprintf(line, sizeof(line), "%.16s\tintilery/marketing/" BRAND "\tperm-test\t", tok + 3);
        const char *at = strstr(out, line);
        ck_assert_msg(at != NULL, "no line for %s in\n%s", line, out);
        const char *eol = strchr(at, '\n');
        ck_assert_ptr_nonnull(eol);
        const char *tab = eol;
        while (tab > at && tab[-1] != '\t')
            tab--;
        const char *want = s < NSETS ? sets[s].listed : "read,ingest";
        ck_assert_msg((size_t)(eol - tab) == strlen(want) && memcmp(tab, want, strlen(want)) == 0, "permissions of %.16s: %.*s",
                      tok + 3, (int)(eol - tab), tab);
        ck_assert_ptr_null(strstr(out, tok + 20)); /* never a secret */
    }
    free(out);
}
END_TEST

START_TEST(test_bad_permissions_are_usage_errors)
{
    const char *bad[] = {"bogus", "read,bogus", "", "read,", "READ"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char tok[128] = "", *err = NULL;
        ck_assert_int_eq(create_token(bad[i], tok, &err), 2);
        ck_assert_str_eq(tok, "");
        ck_assert_msg(err != NULL && strstr(err, "--permissions") != NULL && strstr(err, "read, ingest, delete") != NULL,
                      "stderr for '%s': %s", bad[i], err ? err : "");
        free(err);
    }
    char *err = NULL, tok[128] = "";
    ck_assert_int_eq(create_token("bogus", tok, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "'bogus'"));
    free(err);
    /* none of them made a token */
    char *out = NULL;
    const char *list[] = {"token", "list", "--db", db, NULL};
    ck_assert_int_eq(test_cli(list, NULL, &out, NULL), 0);
    int lines = 0;
    for (char *p = out; *p != '\0'; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + NSETS + 1);
    free(out);
}
END_TEST

/* One profile for the read routes to find (each test runs in its own
 * process: sent again, it changes nothing). */
static void
seed(void)
{
    const char *body = "{\"userId\":\"seed\",\"traits\":{\"firstName\":\"Seed\"},\"messageId\":\"seed-1\"}";
    test_post_ok(srv.port, toks[SET_READ_INGEST], BASE "/identify", body);
}

static Suite *
permissions_suite(void)
{
    Suite *s = suite_create("permissions");
    TCase *tc = tcase_create("permissions");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, seed, NULL);
    tcase_add_test(tc, test_read_routes);
    tcase_add_test(tc, test_ingest_routes);
    tcase_add_test(tc, test_refused_ingest_leaves_profile_alone);
    tcase_add_test(tc, test_token_list_shows_permissions);
    tcase_add_test(tc, test_bad_permissions_are_usage_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("permissions.db");
    for (int s = 0; s < NSETS; s++)
        if (create_token(sets[s].arg, toks[s], NULL) != 0 || toks[s][0] == '\0') {
            fprintf(stderr, "token create --permissions %s failed\n", sets[s].arg);
            return 1;
        }
    if (create_token(NULL, tok_default, NULL) != 0 || tok_default[0] == '\0')
        return 1;
    const char *extra[] = {"--threads", "2", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(permissions_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
