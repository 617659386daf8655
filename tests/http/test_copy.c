/* test_copy.c -- `profiled copy`: a SQLite database built through the
 * normal paths (import with definitions, a static audience, then a server
 * that stores its events and marks hot, merges, an alias, an erasure, two
 * tenants, a token) is copied into a second database and from that into a
 * third SQLite file; servers on all of them give the same answers, byte
 * for byte but the scrollIds' own bytes, to every view of every profile,
 * events and trait-history scrolls followed with the original's scrollIds,
 * and the profile lists. With PROFILED_TEST_PG (tests/support/pg-run.sh)
 * the second database is PostgreSQL, and a fourth (PostgreSQL to
 * PostgreSQL) joins; without, they are SQLite files. Also: a target
 * holding anything is refused and left as it was, and a copy takes new
 * tenants, profiles, events and trait changes (its id sequences moved). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"
#include "testdb.h"
#include "testhttp.h"
#include "testutil.h"

#define A "/track/acme/shop/A/v1"
#define B "/track/acme/shop/B/v1"
#define MAXSRV 4

static char *orig, *defs_path, *dir_file;
static char tok[128];
static int64_t now0;

static const char *defs_text =
    "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"A\",\n"
    "  \"computedTraits\":[\n"
    "    {\"name\":\"orders\",\"kind\":\"count\",\"eventAction\":\"order_completed\"},\n"
    "    {\"name\":\"revenue\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"total\"},\n"
    "    {\"name\":\"recent_revenue\",\"kind\":\"sum\",\"eventAction\":\"order_completed\",\"property\":\"total\","
    "\"windowDays\":30},\n"
    "    {\"name\":\"largest\",\"kind\":\"max\",\"eventAction\":\"order_completed\",\"property\":\"total\"},\n"
    "    {\"name\":\"first_path\",\"kind\":\"first\",\"eventAction\":\"page\",\"property\":\"path\"},\n"
    "    {\"name\":\"favorite\",\"kind\":\"most_frequent\",\"eventAction\":\"page\",\"property\":\"category\"}],\n"
    "  \"audiences\":[\n"
    "    {\"name\":\"active\",\"rule\":{\"activeWithinDays\":30}},\n"
    "    {\"name\":\"buyers\",\"rule\":{\"computed\":\"orders\",\"op\":\"gte\",\"value\":3}}]}]}\n";

/* "<dir of orig>/name", malloc'd. */
static char *
beside(const char *name)
{
    size_t n = strlen(orig) + strlen(name) + 2;
    char *p = malloc(n);
    const char *slash = strrchr(orig, '/');
    snprintf(p, n, "%.*s/%s", (int)(slash - orig), orig, name);
    return p;
}

static const char *
at(int64_t minutes_before_now, char *buf)
{
    return base_format_time(now0 - minutes_before_now * 60000LL, buf);
}

/* The imported part: cold entries and marks (the import compacts). */
static void
write_import(const char *path, const char *brand)
{
    FILE *f = fopen(path, "w");
    char t[32];
    if (f == NULL)
        abort();
    bool a = strcmp(brand, "A") == 0;
    int users = a ? 6 : 2;
    for (int u = 0; u < users; u++) {
        fprintf(f,
                "{\"type\":\"identify\",\"userId\":\"%s%d\",\"anonymousId\":\"anon-%s%d\",\"messageId\":\"id-%s%d\","
                "\"timestamp\":\"%s\",\"traits\":{\"email\":\"%s%d@example.com\",\"plan\":\"basic\",\"n\":%d,\"score\":%d.25}}\n",
                a ? "u" : "b", u, brand, u, brand, u, at(5000 - u, t), u < 2 && a ? "shared" : "user", u < 2 && a ? 0 : u, u, u);
        for (int k = 0; k < 6; k++) {
            if (k % 2 == 0)
                fprintf(f,
                        "{\"type\":\"track\",\"userId\":\"%s%d\",\"event\":\"Order Completed\",\"messageId\":\"o-%s%d-%d\","
                        "\"timestamp\":\"%s\",\"properties\":{\"total\":%d.5,\"note\":\"caf\\u00e9 %d\"}}\n",
                        a ? "u" : "b", u, brand, u, k, at(4000 - 100 * k - u, t), 10 + k * u, k);
            else
                fprintf(f,
                        "{\"type\":\"page\",\"userId\":\"%s%d\",\"name\":\"Home\",\"messageId\":\"p-%s%d-%d\","
                        "\"timestamp\":\"%s\",\"properties\":{\"path\":\"/p/%d\",\"category\":\"%s\"}}\n",
                        a ? "u" : "b", u, brand, u, k, at(4000 - 100 * k - u, t), k, k % 3 == 1 ? "news" : "sport");
        }
        /* a trait's change: history */
        fprintf(f,
                "{\"type\":\"identify\",\"userId\":\"%s%d\",\"messageId\":\"id2-%s%d\",\"timestamp\":\"%s\","
                "\"traits\":{\"plan\":\"pro\",\"nested\":{\"x\":[1,2,{\"y\":null}]}}}\n",
                a ? "u" : "b", u, brand, u, at(3000 - u, t));
    }
    if (a) {
        /* an anonymous profile with events, then merged into u3 */
        fprintf(f,
                "{\"type\":\"track\",\"anonymousId\":\"anon-orphan\",\"event\":\"Viewed\",\"messageId\":\"orph-1\","
                "\"timestamp\":\"%s\"}\n",
                at(2500, t));
        fprintf(f,
                "{\"type\":\"identify\",\"userId\":\"u3\",\"anonymousId\":\"anon-orphan\",\"messageId\":\"orph-2\","
                "\"timestamp\":\"%s\",\"traits\":{\"merged\":true}}\n",
                at(2400, t));
        /* alias of an anonymous id with events */
        fprintf(f,
                "{\"type\":\"screen\",\"anonymousId\":\"anon-alias\",\"name\":\"Cart\",\"messageId\":\"al-1\","
                "\"timestamp\":\"%s\"}\n",
                at(2300, t));
        fprintf(
            f, "{\"type\":\"alias\",\"previousId\":\"anon-alias\",\"userId\":\"u4\",\"messageId\":\"al-2\",\"timestamp\":\"%s\"}\n",
            at(2200, t));
        fprintf(f,
                "{\"type\":\"identify\",\"userId\":\"gone\",\"messageId\":\"g-1\",\"timestamp\":\"%s\","
                "\"traits\":{\"email\":\"gone@example.com\"}}\n",
                at(2100, t));
    }
    fclose(f);
}

static void
cli_ok(const char *const *argv)
{
    char *err = NULL;
    int rc = test_cli(argv, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "profiled %s %s -> %d: %s", argv[0], argv[1], rc, err);
    free(err);
}

/* The original: imported (cold), then a server's writes (hot). */
static void
build_orig(void)
{
    now0 = base_wall_ms();
    orig = test_tmp_path("orig.sqlite");
    defs_path = beside("defs.json");
    test_write_file(defs_path, defs_text);
    const char *brands[] = {"A", "B"};
    for (int i = 0; i < 2; i++) {
        dir_file = beside("import.ndjson");
        write_import(dir_file, brands[i]);
        const char *argv[] = {"import",  "--db",          orig,      "--client", "acme", "--account", "shop", "--brand",
                              brands[i], "--definitions", defs_path, dir_file,   NULL};
        cli_ok(argv);
        free(dir_file);
    }
    char *csv = beside("vip.csv");
    test_write_file(csv, "userId\nu1\nu2\nnew-csv\n");
    const char *aud[] = {"audience", "import",  "--db", orig,     "--client", "acme", "--account",
                         "shop",     "--brand", "A",    "--name", "vip",      csv,    NULL};
    cli_ok(aud);
    free(csv);
    test_token_create_perms(orig, "acme", "shop", NULL, "read,ingest,delete", tok);

    test_server_t s;
    const char *extra[] = {"--definitions", defs_path, "--workers", "2", "--threads", "2", NULL};
    test_server_start(&s, orig, extra);
    char body[4096], t1[32], t2[32], t3[32];
    /* u0: an order before all its others and one after: hot marks that
     * beat the cold ones at both ends; u6: a profile of hot rows only */
    snprintf(body, sizeof(body),
             "{\"batch\":["
             "{\"type\":\"track\",\"userId\":\"u0\",\"event\":\"Order Completed\",\"messageId\":\"h-1\",\"timestamp\":\"%s\","
             "\"properties\":{\"total\":99}},"
             "{\"type\":\"track\",\"userId\":\"u0\",\"event\":\"Order Completed\",\"messageId\":\"h-2\",\"timestamp\":\"%s\","
             "\"properties\":{\"total\":1}},"
             "{\"type\":\"page\",\"userId\":\"u6\",\"name\":\"Home\",\"messageId\":\"h-3\",\"timestamp\":\"%s\","
             "\"properties\":{\"path\":\"/hot\",\"category\":\"news\"}},"
             "{\"type\":\"identify\",\"userId\":\"u1\",\"messageId\":\"h-4\",\"timestamp\":\"%s\",\"traits\":{\"plan\":\"gold\"}}"
             "]}",
             at(6000, t1), at(10, t2), at(5, t3), t3);
    test_post_ok(s.port, tok, A "/batch", body);
    snprintf(body, sizeof(body),
             "{\"type\":\"track\",\"userId\":\"b1\",\"event\":\"Order Completed\",\"messageId\":\"hb-1\",\"timestamp\":\"%s\"}",
             at(3, t1));
    test_post_ok(s.port, tok, B "/track", body);
    const char *h[] = {"auth-token", tok, NULL};
    test_resp_t r;
    ck_assert_int_eq(test_http(s.port, "DELETE", A "/profiles/userId:gone", h, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "DELETE -> %d %s", r.status, r.body);
    test_resp_free(&r);
    ck_assert_int_eq(test_server_stop(&s), 0);
    /* the case that needs combining is there */
    ck_assert_int_gt(test_db_int(orig, "SELECT count(*) FROM event_marks_hot", NULL, 0), 0);
    ck_assert_int_gt(test_db_int(orig, "SELECT count(*) FROM ev_prof_hot", NULL, 0), 0);
    ck_assert_int_gt(test_db_int(orig, "SELECT count(*) FROM suppressions", NULL, 0), 0);
    ck_assert_int_gt(test_db_int(orig, "SELECT count(*) FROM computed_days", NULL, 0), 0);
}

/* profiled copy; its exit status, stderr into *err (may be NULL). */
static int
copy(const char *from, const char *to, char **err)
{
    const char *argv[] = {"copy", "--from", from, "--to", to, NULL};
    return test_cli(argv, NULL, NULL, err);
}

static void
copy_ok(const char *from, const char *to)
{
    char *err = NULL;
    int rc = copy(from, to, &err);
    ck_assert_msg(rc == 0, "copy %s -> %s: %d %s", from, to, rc, err);
    ck_assert_ptr_nonnull(strstr(err, "copy: events: "));
    ck_assert_ptr_nonnull(strstr(err, "rows copied from"));
    free(err);
}

/* GET uri: "status body" with each scrollId's value replaced by "*"
 * (malloc'd); the answer's scrollId into sid (empty: none), *items the
 * length of its data array (-1: none). */
static char *
answer(int port, const char *uri, char *sid, size_t sidlen, int *items)
{
    test_resp_t r;
    json_object *j = test_get(port, uri, tok, &r);
    const char *s = j != NULL ? test_jstr(j, "scrollId") : NULL;
    json_object *data = j != NULL ? test_jget(j, "data") : NULL;
    if (sid != NULL)
        snprintf(sid, sidlen, "%s", s != NULL ? s : "");
    if (items != NULL)
        *items = data != NULL && json_object_is_type(data, json_type_array) ? (int)json_object_array_length(data) : -1;
    json_object_put(j);
    size_t cap = r.len + 32, o = 0;
    char *out = malloc(cap);
    o += (size_t)snprintf(out, cap, "%d ", r.status);
    const char *key = "\"scrollId\":\"";
    for (size_t i = 0; i < r.len;) {
        if (r.len - i >= strlen(key) && memcmp(r.body + i, key, strlen(key)) == 0) {
            memcpy(out + o, key, strlen(key));
            o += strlen(key);
            i += strlen(key);
            while (i < r.len && r.body[i] != '"')
                i++;
            out[o++] = '*';
            continue;
        }
        out[o++] = r.body[i++];
    }
    out[o] = '\0';
    test_resp_free(&r);
    return out;
}

typedef struct {
    test_server_t srv[MAXSRV];
    const char *names[MAXSRV];
    int n;
    int compared;
} fleet_t;

/* uri on every server: the same answer as the first's, whose scrollId
 * goes to sid. */
static int
same_answers(fleet_t *f, const char *uri, char *sid, size_t sidlen)
{
    int items = -1;
    char *first = answer(f->srv[0].port, uri, sid, sidlen, &items);
    for (int i = 1; i < f->n; i++) {
        char *other = answer(f->srv[i].port, uri, NULL, 0, NULL);
        ck_assert_msg(strcmp(first, other) == 0, "GET %s\n%s: %s\n%s: %s", uri, f->names[0], first, f->names[i], other);
        free(other);
    }
    ck_assert_msg(strncmp(first, "500", 3) != 0, "GET %s: %s", uri, first);
    f->compared++;
    free(first);
    return items;
}

/* A scroll from query on path, page by page with the original's
 * scrollIds on every server, to its empty page. */
static void
same_scroll(fleet_t *f, const char *base, const char *id, const char *path, const char *query)
{
    char uri[2048], sid[1024];
    snprintf(uri, sizeof(uri), "%s/profiles/%s/%s?%s", base, id, path, query);
    int items = same_answers(f, uri, sid, sizeof(sid));
    for (int page = 0; items > 0 && sid[0] != '\0' && page < 100; page++) {
        snprintf(uri, sizeof(uri), "%s/profiles/%s/%s?scrollId=%s", base, id, path, sid);
        items = same_answers(f, uri, sid, sizeof(sid));
    }
}

static void
same_views(fleet_t *f, const char *base, const char *id)
{
    static const char *const views[] = {"traits", "traits?verbose=true", "metadata", "audiences", "external_ids", NULL};
    char uri[512], t[32];
    for (int v = 0; views[v] != NULL; v++) {
        snprintf(uri, sizeof(uri), "%s/profiles/%s/%s", base, id, views[v]);
        same_answers(f, uri, NULL, 0);
    }
    snprintf(uri, sizeof(uri), "%s/profiles/%s/traits?at=%s", base, id, at(3500, t));
    same_answers(f, uri, NULL, 0);
    same_scroll(f, base, id, "events", "limit=3");
    same_scroll(f, base, id, "events", "limit=2&sort=desc&include=page");
    same_scroll(f, base, id, "traits/history", "trait=plan&limit=1");
}

START_TEST(test_copy_same_answers)
{
    fleet_t f = {.n = 0};
    char *mid = test_tmp_path("mid.db"); /* PostgreSQL when PROFILED_TEST_PG is set */
    char *back = test_tmp_path("back.sqlite");
    char *mid2 = test_on_pg() ? test_tmp_path("mid2.db") : NULL;
    /* pages of 7 rows: every table's read goes on after a key, text
     * parts and all (10,000 a page otherwise) */
    setenv("PROFILED_DEBUG_COPY_PAGE", "7", 1);
    copy_ok(orig, mid);
    copy_ok(mid, back);
    if (mid2 != NULL)
        copy_ok(mid, mid2);
    unsetenv("PROFILED_DEBUG_COPY_PAGE");
    static const char *const counted[] = {
        "tenants",        "profiles",      "identities",    "traits",        "events",       "audience_members", "tokens",
        "computed_state", "computed_days", "computed_freq", "computed_keys", "suppressions", "trait_history",    NULL};
    for (int i = 0; counted[i] != NULL; i++) {
        char sql[96];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", counted[i]);
        int64_t n = test_db_int(orig, sql, NULL, 0);
        ck_assert_msg(test_db_int(mid, sql, NULL, 0) == n && test_db_int(back, sql, NULL, 0) == n, "%s", counted[i]);
    }
    /* every row, once (ev_prof, ev_key rebuilt from the events) */
    ck_assert_int_eq(test_db_int(back, "SELECT count(*) FROM ev_prof", NULL, 0),
                     test_db_int(orig, "SELECT count(*) FROM events", NULL, 0));
    ck_assert_int_eq(test_db_int(back, "SELECT count(*) FROM ev_key", NULL, 0),
                     test_db_int(orig, "SELECT count(*) FROM events", NULL, 0));
    ck_assert_int_eq(test_db_int(back, "SELECT count(*) FROM event_marks_hot", NULL, 0), 0);
    ck_assert_int_eq(test_db_int(back, "SELECT count(*) FROM tokens", NULL, 0), 1);

    const char *paths[] = {orig, mid, back, mid2};
    const char *names[] = {"orig", test_on_pg() ? "mid (PostgreSQL)" : "mid", "back", "mid2 (PostgreSQL)"};
    const char *extra[] = {"--definitions", defs_path, "--workers", "2", "--threads", "2", NULL};
    for (int i = 0; i < MAXSRV && paths[i] != NULL; i++) {
        test_server_start(&f.srv[i], paths[i], extra);
        f.names[i] = names[i];
        f.n++;
    }
    static const char *const a_ids[] = {"userId:u0",
                                        "userId:u1",
                                        "userId:u2",
                                        "userId:u3",
                                        "userId:u4",
                                        "userId:u5",
                                        "userId:u6",
                                        "anonymousId:anon-orphan",
                                        "anonymousId:anon-alias",
                                        "anonymousId:anon-A2",
                                        "email:shared@example.com",
                                        "email:user3@example.com",
                                        "userId:new-csv",
                                        "userId:gone",
                                        NULL};
    for (int i = 0; a_ids[i] != NULL; i++)
        same_views(&f, A, a_ids[i]);
    same_views(&f, B, "userId:b0");
    same_views(&f, B, "userId:b1");
    same_answers(&f, A "/profiles?size=100", NULL, 0);
    same_answers(&f, A "/profiles?from=2&size=3", NULL, 0);
    same_answers(&f, B "/profiles", NULL, 0);
    same_answers(&f, A "/profiles/email:shared@example.com/traits?from=1&size=1", NULL, 0);
    /* the uuid form, from the original's list */
    test_resp_t r;
    json_object *j = test_get(f.srv[0].port, A "/profiles/userId:u3/metadata", tok, &r);
    const char *uuid = test_jstr(j, "id");
    ck_assert_ptr_nonnull(uuid);
    char id[128];
    snprintf(id, sizeof(id), "%s", uuid);
    json_object_put(j);
    test_resp_free(&r);
    same_views(&f, A, id);
    ck_assert_int_gt(f.compared, 200);
    for (int i = 0; i < f.n; i++)
        ck_assert_int_eq(test_server_stop(&f.srv[i]), 0);
    test_rm_db(mid);
    test_rm_db(back);
    free(mid);
    free(back);
    if (mid2 != NULL) {
        test_rm_db(mid2);
        free(mid2);
    }
}
END_TEST

START_TEST(test_copy_refuses_non_empty)
{
    char *target = test_tmp_path("full.db");
    char t2[128], *err = NULL;
    test_token_create(target, "acme", "shop", "A", t2); /* a token only */
    int rc = copy(orig, target, &err);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "not empty (tokens has rows)") != NULL, "%s", err);
    free(err);
    ck_assert_int_eq(test_db_int(target, "SELECT count(*) FROM tenants", NULL, 0), 0);
    ck_assert_int_eq(test_db_int(target, "SELECT count(*) FROM tokens", NULL, 0), 1);
    /* a copied database is not empty either: nothing doubles */
    char *once = test_tmp_path("once.db");
    copy_ok(orig, once);
    int64_t profiles = test_db_int(once, "SELECT count(*) FROM profiles", NULL, 0);
    rc = copy(orig, once, &err);
    ck_assert_int_eq(rc, 1);
    ck_assert_msg(strstr(err, "not empty (tenants has rows)") != NULL, "%s", err);
    free(err);
    ck_assert_int_eq(test_db_int(once, "SELECT count(*) FROM profiles", NULL, 0), profiles);
    /* usage */
    const char *argv[] = {"copy", "--from", orig, NULL};
    ck_assert_int_eq(test_cli(argv, NULL, NULL, NULL), 2);
    test_rm_db(target);
    test_rm_db(once);
    free(target);
    free(once);
}
END_TEST

/* New rows on a copy: a tenant, a profile, events, a trait change (every
 * table with an identity column on PostgreSQL). */
START_TEST(test_copy_takes_new_rows)
{
    char *fresh = test_tmp_path("fresh.db");
    copy_ok(orig, fresh);
    int64_t events = test_db_int(fresh, "SELECT count(*) FROM events", NULL, 0);
    test_server_t s;
    const char *extra[] = {"--definitions", defs_path, "--workers", "2", "--threads", "2", NULL};
    test_server_start(&s, fresh, extra);
    char body[1024], t[32];
    snprintf(
        body, sizeof(body),
        "{\"batch\":["
        "{\"type\":\"identify\",\"userId\":\"newbie\",\"messageId\":\"n-1\",\"timestamp\":\"%s\",\"traits\":{\"plan\":\"free\"}},"
        "{\"type\":\"track\",\"userId\":\"newbie\",\"event\":\"Order Completed\",\"messageId\":\"n-2\",\"timestamp\":\"%s\","
        "\"properties\":{\"total\":5}},"
        "{\"type\":\"track\",\"userId\":\"u0\",\"event\":\"Signed Out\",\"messageId\":\"n-3\",\"timestamp\":\"%s\"}]}",
        at(2, t), t, t);
    test_post_ok(s.port, tok, A "/batch", body);
    snprintf(body, sizeof(body), "{\"type\":\"identify\",\"userId\":\"c0\",\"messageId\":\"n-4\",\"traits\":{\"plan\":\"x\"}}");
    test_post_ok(s.port, tok, "/track/acme/shop/C/v1/identify", body);
    test_resp_t r;
    json_object *j = test_get(s.port, A "/profiles/userId:newbie/traits", tok, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_msg(test_jstr(j, "plan") != NULL && strcmp(test_jstr(j, "plan"), "free") == 0, "%s", r.body);
    ck_assert_int_eq(json_object_get_int(test_jget(j, "computed.orders")), 1);
    json_object_put(j);
    test_resp_free(&r);
    j = test_get(s.port, A "/profiles/userId:u0/events?sort=desc&limit=1", tok, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(test_jstr(j, "data.0.eventId"), "n-3");
    json_object_put(j);
    test_resp_free(&r);
    j = test_get(s.port, A "/profiles/userId:newbie/traits/history?trait=plan", tok, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(test_jstr(j, "data.0.value"), "free");
    json_object_put(j);
    test_resp_free(&r);
    j = test_get(s.port, "/track/acme/shop/C/v1/profiles/userId:c0/traits", tok, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(test_server_stop(&s), 0);
    ck_assert_int_eq(test_db_int(fresh, "SELECT count(*) FROM events", NULL, 0), events + 2);
    test_rm_db(fresh);
    free(fresh);
}
END_TEST

static Suite *
copy_suite(void)
{
    Suite *s = suite_create("copy");
    TCase *tc = tcase_create("copy");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, build_orig, NULL);
    tcase_add_test(tc, test_copy_same_answers);
    tcase_add_test(tc, test_copy_refuses_non_empty);
    tcase_add_test(tc, test_copy_takes_new_rows);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    int failed = test_run_suite(copy_suite());
    test_rm_db(orig);
    free(orig);
    free(defs_path);
    return failed == 0 ? 0 : 1;
}
