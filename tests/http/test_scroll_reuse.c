/* test_scroll_reuse.c -- a client that sends the FIRST scrollId of a scroll
 * for every page (as the spec's examples show one scrollId answered on
 * every page) walks the whole scroll on one server: the process's scroll
 * table (storage/read/scrolltab.c) continues an older id from where the
 * scroll is. Over real HTTP: 1,000 events and a trait's 30 changes at
 * limit 7, each exactly once then an empty page; two scrolls of one
 * profile interleaved; a resend of the id just used; the table's bound
 * (PROFILED_DEBUG_SCROLL_TABLE=1: an evicted scroll pages from its id's
 * sealed position, counted); a restart (no table: the sealed state); no
 * database write on any page. Expiry with the table holding the scroll:
 * tests/storage/test_storage.c (test_events_expiry, an injected clock). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base.h"
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/WEB/v1"
#define EVENTS 1000
#define CHANGES 30
#define LIMIT 7
#define SID 1024

static test_server_t srv;
static char *db;
static char tok[128];

static void
write_fixture(const char *path, int64_t now)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    for (int i = 0; i < EVENTS; i++)
        fprintf(f,
                "{\"type\":\"track\",\"userId\":\"reuse\",\"event\":\"Tick\",\"messageId\":\"r-%04d\","
                "\"timestamp\":\"2021-01-01T00:%02d:%02d.000Z\"}\n",
                i, i / 60, i % 60);
    char when[32];
    for (int i = 0; i < CHANGES; i++) /* plan-0 oldest, plan-29 newest, all within the retention */
        fprintf(f,
                "{\"type\":\"identify\",\"userId\":\"hist\",\"messageId\":\"h-%02d\",\"timestamp\":\"%s\","
                "\"traits\":{\"plan\":\"plan-%02d\"}}\n",
                i, base_format_time(now - (CHANGES - i) * 60000LL, when), i);
    fclose(f);
}

/* GET uri on port: 200 asserted; the page's items (eventId, or a change's
 * value) comma-joined into out, the answer's scrollId into sid (if not
 * NULL); the item count. */
static int
page_on(int port, const char *uri, char *out, size_t outlen, char *sid)
{
    test_resp_t r;
    json_object *j = test_get(port, uri, tok, &r);
    ck_assert_msg(r.status == 200, "GET %s -> %d %s", uri, r.status, r.body);
    json_object *data = test_jget(j, "data");
    ck_assert_ptr_nonnull(data);
    size_t n = json_object_array_length(data), o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(data, i);
        const char *v = test_jstr(e, "eventId");
        if (v == NULL)
            v = test_jstr(e, "value");
        ck_assert_ptr_nonnull(v);
        o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? "," : "", v);
    }
    if (sid != NULL)
        snprintf(sid, SID, "%s", test_jstr(j, "scrollId"));
    json_object_put(j);
    test_resp_free(&r);
    return (int)n;
}

/* The page of scrollId sid on path (".../events" or ".../traits/history"). */
static int
next_on(int port, const char *path, const char *sid, char *out, size_t outlen, char *next)
{
    char uri[1536];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s?scrollId=%s", path, sid);
    return page_on(port, uri, out, outlen, next);
}

/* A reusing scroll's walk: seen[i] counts item i, items numbered by
 * prefix ("r-" events, "plan-" changes) as they must come in order. */
typedef struct {
    const char *path, *prefix;
    char first[SID];
    int seen[EVENTS], got, pages, expect_next; /* expect_next: the order */
    bool done;
} walk_t;

static void
walk_start(walk_t *w, const char *path, const char *query, const char *prefix, int first_expected)
{
    char uri[512], items[2048];
    memset(w, 0, sizeof(*w));
    w->path = path;
    w->prefix = prefix;
    w->expect_next = first_expected;
    snprintf(uri, sizeof(uri), BASE "/profiles/%s?%s", path, query);
    int n = page_on(srv.port, uri, items, sizeof(items), w->first);
    ck_assert_int_eq(n, LIMIT);
    (void)items;
    w->got = 0;
}

/* One page by the FIRST scrollId; counts what came. */
static void
walk_step(walk_t *w, int port, int step)
{
    char items[2048];
    int n = next_on(port, w->path, w->first, items, sizeof(items), NULL);
    w->pages++;
    if (n == 0) {
        w->done = true;
        return;
    }
    ck_assert_int_le(n, LIMIT);
    char *save = NULL;
    for (char *t = strtok_r(items, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        size_t pl = strlen(w->prefix);
        ck_assert_msg(strncmp(t, w->prefix, pl) == 0, "item %s", t);
        int k = atoi(t + pl);
        ck_assert_int_ge(k, 0);
        ck_assert_int_lt(k, EVENTS);
        w->seen[k]++;
        ck_assert_int_eq(k, w->expect_next); /* in order: nothing repeated, nothing skipped */
        w->expect_next += step;
        w->got++;
    }
}

/* profiled_worker_commits_total, from /metrics. */
static long long
worker_commits(void)
{
    return test_metric(srv.port, "profiled_worker_commits_total");
}

START_TEST(test_reuse_first_events)
{
    walk_t *w = malloc(sizeof(*w));
    ck_assert_ptr_nonnull(w);
    walk_start(w, "userId:reuse/events", "sort=asc&limit=7", "r-", LIMIT); /* page 1 had r-0000..r-0006 */
    while (!w->done && w->pages < 1000)
        walk_step(w, srv.port, 1);
    ck_assert(w->done);
    ck_assert_int_eq(w->got, EVENTS - LIMIT);
    for (int i = LIMIT; i < EVENTS; i++)
        ck_assert_int_eq(w->seen[i], 1);
    ck_assert_int_eq(w->pages, (EVENTS - LIMIT + LIMIT - 1) / LIMIT + 1); /* then one empty page */
    /* and still the end */
    char items[256];
    ck_assert_int_eq(next_on(srv.port, w->path, w->first, items, sizeof(items), NULL), 0);
    ck_assert_int_eq(worker_commits(), 0);
    free(w);
}
END_TEST

START_TEST(test_reuse_first_history)
{
    walk_t *w = malloc(sizeof(*w));
    ck_assert_ptr_nonnull(w);
    /* newest first: page 1 had plan-29..plan-23 */
    walk_start(w, "userId:hist/traits/history", "trait=plan&limit=7", "plan-", CHANGES - 1 - LIMIT);
    while (!w->done && w->pages < 100)
        walk_step(w, srv.port, -1);
    ck_assert(w->done);
    ck_assert_int_eq(w->got, CHANGES - LIMIT);
    for (int i = 0; i < CHANGES - LIMIT; i++)
        ck_assert_int_eq(w->seen[i], 1);
    ck_assert_int_eq(w->expect_next, -1);
    ck_assert_int_eq(w->pages, 5); /* 7, 7, 7, 2, then empty */
    ck_assert_int_eq(worker_commits(), 0);
    free(w);
}
END_TEST

/* Two scrolls of one profile, each by its first id, alternately. */
START_TEST(test_interleaved_scrolls)
{
    walk_t *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    ck_assert(a != NULL && b != NULL);
    walk_start(a, "userId:reuse/events", "sort=asc&limit=7", "r-", LIMIT);
    walk_start(b, "userId:reuse/events", "sort=desc&limit=7", "r-", EVENTS - 1 - LIMIT);
    for (int i = 0; i < 1000 && !(a->done && b->done); i++) {
        if (!a->done)
            walk_step(a, srv.port, 1);
        if (!b->done)
            walk_step(b, srv.port, -1);
    }
    ck_assert(a->done && b->done);
    ck_assert_int_eq(a->got, EVENTS - LIMIT);
    ck_assert_int_eq(b->got, EVENTS - LIMIT);
    free(a);
    free(b);
}
END_TEST

/* The documented way (each answer's scrollId) is unchanged; and the id
 * just used, sent again, is the scroll's handle like any of its ids: the
 * next page, nothing repeated (the same request as a reusing client's). */
START_TEST(test_follow_and_resend)
{
    char uri[256], items[512], sid[SID], next[SID];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:reuse/events?sort=asc&limit=3");
    ck_assert_int_eq(page_on(srv.port, uri, items, sizeof(items), sid), 3);
    ck_assert_str_eq(items, "r-0000,r-0001,r-0002");
    ck_assert_int_eq(next_on(srv.port, "userId:reuse/events", sid, items, sizeof(items), next), 3);
    ck_assert_str_eq(items, "r-0003,r-0004,r-0005");
    /* the latest id: the page after the scroll's position */
    snprintf(sid, sizeof(sid), "%s", next);
    ck_assert_int_eq(next_on(srv.port, "userId:reuse/events", sid, items, sizeof(items), next), 3);
    ck_assert_str_eq(items, "r-0006,r-0007,r-0008");
    /* sent again: the scroll moves on */
    ck_assert_int_eq(next_on(srv.port, "userId:reuse/events", sid, items, sizeof(items), next), 3);
    ck_assert_str_eq(items, "r-0009,r-0010,r-0011");
    /* the newest id continues too */
    ck_assert_int_eq(next_on(srv.port, "userId:reuse/events", next, items, sizeof(items), NULL), 3);
    ck_assert_str_eq(items, "r-0012,r-0013,r-0014");
}
END_TEST

/* A server whose table holds one scroll: the other one, evicted, pages
 * from its id's sealed position; a restart empties the table. */
START_TEST(test_bound_and_restart)
{
    test_server_t s2;
    const char *extra[] = {"--threads", "1", "--workers", "1", NULL};
    setenv("PROFILED_DEBUG_SCROLL_TABLE", "1", 1);
    test_server_start(&s2, db, extra);
    char uri[256], items[512], a1[SID], b1[SID], latest[SID];
    const char *path = "userId:reuse/events";
    snprintf(uri, sizeof(uri), BASE "/profiles/%s?sort=asc&limit=2", path);
    ck_assert_int_eq(page_on(s2.port, uri, items, sizeof(items), a1), 2);
    ck_assert_int_eq(page_on(s2.port, uri, items, sizeof(items), b1), 2);
    ck_assert_int_eq(next_on(s2.port, path, a1, items, sizeof(items), NULL), 2);
    ck_assert_str_eq(items, "r-0002,r-0003");
    ck_assert_int_eq(next_on(s2.port, path, a1, items, sizeof(items), NULL), 2); /* A in the table */
    ck_assert_str_eq(items, "r-0004,r-0005");
    ck_assert_int_eq(next_on(s2.port, path, b1, items, sizeof(items), NULL), 2); /* B evicts A */
    ck_assert_str_eq(items, "r-0002,r-0003");
    ck_assert_int_eq(next_on(s2.port, path, a1, items, sizeof(items), latest), 2); /* A: its id's sealed state */
    ck_assert_str_eq(items, "r-0002,r-0003");
    ck_assert_int_eq(next_on(s2.port, path, b1, items, sizeof(items), NULL), 2); /* and B's */
    ck_assert_str_eq(items, "r-0002,r-0003");
    test_server_stop(&s2);
    unsetenv("PROFILED_DEBUG_SCROLL_TABLE");

    /* After a restart the latest id continues exactly; the first id is its
     * own sealed page 2 again (the documented limit), then the scroll. */
    test_server_start(&s2, db, extra);
    ck_assert_int_eq(next_on(s2.port, path, latest, items, sizeof(items), NULL), 2);
    ck_assert_str_eq(items, "r-0004,r-0005");
    ck_assert_int_eq(next_on(s2.port, path, b1, items, sizeof(items), NULL), 2);
    ck_assert_str_eq(items, "r-0002,r-0003");
    ck_assert_int_eq(next_on(s2.port, path, b1, items, sizeof(items), NULL), 2);
    ck_assert_str_eq(items, "r-0004,r-0005");
    test_server_stop(&s2);
}
END_TEST

static Suite *
reuse_suite(void)
{
    Suite *s = suite_create("scroll_reuse");
    TCase *tc = tcase_create("scroll_reuse");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_reuse_first_events);
    tcase_add_test(tc, test_reuse_first_history);
    tcase_add_test(tc, test_interleaved_scrolls);
    tcase_add_test(tc, test_follow_and_resend);
    tcase_add_test(tc, test_bound_and_restart);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("reuse.db");
    char *fixture = test_tmp_path("reuse.ndjson");
    write_fixture(fixture, base_wall_ms());
    const char *imp[] = {"import", "--db", db, "--client", "acme", "--account", "shop", "--brand", "WEB", fixture, NULL};
    if (test_cli(imp, NULL, NULL, NULL) != 0)
        return 1;
    test_token_create(db, "acme", "shop", "WEB", tok);
    const char *extra[] = {"--threads", "2", "--workers", "2", "--rate", "100000", "--burst", "100000", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(reuse_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    unlink(fixture);
    free(fixture);
    free(db);
    return failed == 0 ? 0 : 1;
}
