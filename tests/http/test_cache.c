/* test_cache.c -- the rendered-view cache (--cache-mb) over real servers,
 * counted with /metrics: a second identical read is a hit with the same
 * body and ETag; an acknowledged ingest, an alias, an erasure, a
 * definitions reload, `profiled audience import` run while the server
 * serves and a write by a second server process on the same file all make
 * the next read a miss that shows the change, for every cached route and
 * id type; a windowed computed trait and an activeWithinDays audience
 * change in a cached view when the injected clock passes their edge;
 * the batch lookup answers from the cache when every id is current there
 * (counted one lookup per id, byte for byte the job's answer), fills it
 * from its job, misses after an ingest, reads all its ids when one is not
 * cached or not found; `--cache-mb 0` never hits; eviction keeps the bytes within the limit;
 * invalidation is per profile: an ingest, a new profile sharing an email,
 * a merge and an erasure drop only the views of what they touched (the
 * others stay hits), while a write the writer's journal lacks (another
 * process, the CLI) and a definitions reload empty the cache; first events
 * pages are cached too, each hit a scroll of its own. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/CACHE/v1"
#define DAY_MS 86400000LL

static char *db, *defs_path, *clock_path, *csv_path;
static char tok[128], tokdel[128];

static long long
hits(int port)
{
    return test_metric(port, "profiled_cache_hits_total");
}

static void
post(int port, const char *route, const char *body)
{
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    test_resp_t r;
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "%s", route);
    ck_assert_int_eq(test_http(port, "POST", uri, h, body, strlen(body), &r), 0);
    ck_assert_msg(r.status == 200, "POST %s -> %d %s", uri, r.status, r.body);
    test_resp_free(&r);
}

/* GET BASE/profiles/<path>: the status, body into *body (malloc'd). */
static int
get(int port, const char *path, char **body, char *etag)
{
    char uri[512];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", path);
    const char *h[] = {"auth-token", tok, NULL};
    test_resp_t r;
    ck_assert_int_eq(test_http(port, "GET", uri, h, NULL, 0, &r), 0);
    int status = r.status;
    if (body != NULL)
        *body = strndup(r.body != NULL ? r.body : "", r.len);
    if (etag != NULL) {
        const char *t = test_header(&r, "etag");
        snprintf(etag, 40, "%s", t != NULL ? t : "");
    }
    test_resp_free(&r);
    return status;
}

/* DELETE BASE/profiles/<pid> (the erasure), which must answer 200. */
static void
erase(int port, const char *pid)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", pid);
    const char *h[] = {"auth-token", tokdel, NULL};
    test_resp_t r;
    ck_assert_int_eq(test_http(port, "DELETE", uri, h, NULL, 0, &r), 0);
    ck_assert_msg(r.status == 200, "DELETE %s -> %d %s", uri, r.status, r.body);
    test_resp_free(&r);
}

/* POST BASE/profiles/batch/<route> with body: 200, its body (malloc'd). */
static char *
batch(int port, const char *route, const char *body)
{
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    test_resp_t r;
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/batch/%s", route);
    ck_assert_int_eq(test_http(port, "POST", uri, h, body, strlen(body), &r), 0);
    ck_assert_msg(r.status == 200, "POST %s -> %d %s", uri, r.status, r.body);
    ck_assert_ptr_null(test_header(&r, "etag")); /* the batch answer is not conditional */
    char *b = strndup(r.body, r.len);
    test_resp_free(&r);
    return b;
}

static long long
misses(int port)
{
    return test_metric(port, "profiled_cache_misses_total");
}

/* Asserts the lookups since (h0, m0) were dh hits and dm misses. */
static void
counted(int port, long long h0, long long m0, long long dh, long long dm, const char *what)
{
    long long h = hits(port), m = misses(port);
    ck_assert_msg(h == h0 + dh && m == m0 + dm, "%s: %lld hits, %lld misses; expected %lld, %lld", what, h - h0, m - m0, dh, dm);
}

/* The batch answer the single-id routes call for: each of ids (path
 * forms, all found) read with GET <id>/<route>, each a hit (the batch
 * before put it in the cache). */
static char *
expected_batch(int port, const char *route, const char *const *ids, size_t n)
{
    size_t cap = 65536, len = (size_t)snprintf(NULL, 0, "{\"data\":[");
    char *out = malloc(cap);
    snprintf(out, cap, "{\"data\":[");
    for (size_t i = 0; i < n; i++) {
        char path[256], *body;
        snprintf(path, sizeof(path), "%s/%s", ids[i], route);
        long long h0 = hits(port);
        ck_assert_int_eq(get(port, path, &body, NULL), 200);
        ck_assert_msg(hits(port) == h0 + 1, "%s: not filled by the batch", path);
        len += (size_t)snprintf(out + len, cap - len, "%s{\"profileId\":\"%s\",\"status\":200,\"result\":%s}", i ? "," : "", ids[i],
                                body);
        free(body);
    }
    snprintf(out + len, cap - len, "]}");
    return out;
}

/* Reads path until a read is a hit, each with body (and tag, when not
 * NULL) -- the first, unless a background commit (the other server's
 * recompute, a checkpoint's WAL restart, another replica's notification)
 * made the entry old in between: then the one after it; the answer is the
 * same. */
static void
until_hit(int port, const char *path, const char *body, const char *tag)
{
    for (int i = 0;; i++) {
        char *b, tb[40];
        long long h1 = hits(port);
        ck_assert_int_eq(get(port, path, &b, tb), 200);
        ck_assert_str_eq(body, b);
        if (tag != NULL)
            ck_assert_str_eq(tag, tb);
        free(b);
        if (hits(port) == h1 + 1)
            return;
        ck_assert_msg(i < 50, "%s: no read after the first was a hit", path);
        usleep(20000);
    }
}

/* Reads path twice: the first is a miss (not a hit), the second a hit with
 * the same body and tag. Returns the body (malloc'd). */
static char *
read_twice(int port, const char *path)
{
    char *a, ta[40];
    long long h0 = hits(port);
    int st = get(port, path, &a, ta);
    ck_assert_msg(st == 200, "%s -> %d %s", path, st, a);
    ck_assert_msg(hits(port) == h0, "%s: the first read after a change was a hit: %s", path, a);
    until_hit(port, path, a, ta);
    return a;
}

/* After another process's commit: read_twice on SQLite (the next read
 * misses); on PostgreSQL the commit reaches this process's cache through
 * its notification, a moment later: reads until the body shows want (at
 * most 2 s), then until a read is a hit. Returns the body (malloc'd). */
static char *
read_after_other(int port, const char *path, const char *want)
{
    if (!test_on_pg())
        return read_twice(port, path);
    char *body = NULL;
    for (int i = 0; i < 200; i++) {
        free(body);
        ck_assert_int_eq(get(port, path, &body, NULL), 200);
        if (strstr(body, want) != NULL)
            break;
        usleep(10000);
    }
    ck_assert_msg(strstr(body, want) != NULL, "%s never showed %s: %s", path, want, body);
    until_hit(port, path, body, NULL); /* and is cached again */
    return body;
}

/* Waits until background commits (the start's recompute) are over: two
 * reads of path in a row, the second a hit. */
static void
quiet(int port, const char *path)
{
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(get(port, path, NULL, NULL), 200);
        long long h0 = hits(port);
        ck_assert_int_eq(get(port, path, NULL, NULL), 200);
        if (hits(port) == h0 + 1)
            return;
        usleep(20000);
    }
    ck_abort_msg("the server never stopped writing");
}

static const char *const paths[] = {
    "userId:u1/traits",        "userId:u1/traits?verbose=true",  "userId:u1/traits?fields=plan", "userId:u1/metadata",
    "userId:u1/audiences",     "userId:u1/external_ids",         "email:u1@example.com/traits",  "anonymousId:a1/traits",
    "anonymousId:a1/metadata", "email:u1@example.com/audiences",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

START_TEST(test_read_your_writes)
{
    test_server_t s;
    /* compaction rounds after every commit change no view: they journal
     * nothing, so they neither empty the cache nor go unseen */
    const char *extra[] = {"--threads", "1",      "--workers",        "2", "--rate", "100000",
                           "--burst",   "100000", "--compact-events", "1", NULL};
    test_server_start(&s, db, extra);
    post(s.port, "/identify",
         "{\"userId\":\"u1\",\"anonymousId\":\"a1\",\"traits\":{\"email\":\"u1@example.com\",\"plan\":\"free\"}}");
    quiet(s.port, "userId:u1/traits?fields=email"); /* the start's recompute commits too (a path not read below) */
    char *before[NPATHS];
    for (size_t i = 0; i < NPATHS; i++)
        before[i] = read_twice(s.port, paths[i]);
    /* /meta is /metadata: the same entry */
    long long h0 = hits(s.port);
    char *meta;
    ck_assert_int_eq(get(s.port, "userId:u1/meta", &meta, NULL), 200);
    ck_assert_int_eq(hits(s.port), h0 + 1);
    ck_assert_str_eq(meta, before[3]);
    free(meta);
    /* the internal id route too */
    char *ext;
    ck_assert_int_eq(get(s.port, "userId:u1/external_ids", &ext, NULL), 200);
    json_object *j = json_tokener_parse(ext);
    char idpath[128];
    snprintf(idpath, sizeof(idpath), "id:%s/traits", test_jstr(j, "id"));
    json_object_put(j);
    free(ext);
    char *id_before = read_twice(s.port, idpath);

    /* an acknowledged write: every next read misses and shows it */
    post(s.port, "/identify", "{\"userId\":\"u1\",\"traits\":{\"plan\":\"pro\"}}");
    for (size_t i = 0; i < NPATHS; i++) {
        char *after = read_twice(s.port, paths[i]);
        if (strstr(paths[i], "traits") != NULL || strstr(paths[i], "meta") != NULL)
            ck_assert_msg(strcmp(after, before[i]) != 0, "%s unchanged: %s", paths[i], after);
        if (strstr(paths[i], "traits") != NULL)
            ck_assert_msg(strstr(after, "\"pro\"") != NULL, "%s: %s", paths[i], after);
        free(after);
        free(before[i]);
    }
    char *id_after = read_twice(s.port, idpath);
    ck_assert(strstr(id_after, "\"pro\"") != NULL && strcmp(id_after, id_before) != 0);
    free(id_after);
    free(id_before);

    /* alias: a new id joins u1; its views were a 404 before */
    ck_assert_int_eq(get(s.port, "userId:a2/traits", NULL, NULL), 404);
    post(s.port, "/alias", "{\"userId\":\"u1\",\"previousId\":\"a2\"}");
    char *ids = read_twice(s.port, "userId:u1/external_ids");
    ck_assert_msg(strstr(ids, "\"a2\"") != NULL, "%s", ids);
    free(ids);
    char *a2 = read_twice(s.port, "userId:a2/traits"); /* an unknown previousId is a userId */
    ck_assert(strstr(a2, "\"pro\"") != NULL);
    free(a2);

    /* a merge: two profiles of their own become one */
    post(s.port, "/identify", "{\"userId\":\"m1\",\"traits\":{\"plan\":\"x\"}}");
    post(s.port, "/identify", "{\"anonymousId\":\"a3\",\"traits\":{\"color\":\"red\"}}");
    char *m = read_twice(s.port, "userId:m1/traits");
    ck_assert(strstr(m, "red") == NULL);
    free(m);
    m = read_twice(s.port, "anonymousId:a3/traits");
    ck_assert(strstr(m, "\"x\"") == NULL);
    free(m);
    post(s.port, "/identify", "{\"userId\":\"m1\",\"anonymousId\":\"a3\"}");
    m = read_twice(s.port, "userId:m1/traits");
    ck_assert_msg(strstr(m, "\"red\"") != NULL, "%s", m);
    free(m);
    m = read_twice(s.port, "anonymousId:a3/traits");
    ck_assert_msg(strstr(m, "\"x\"") != NULL, "%s", m);
    free(m);

    /* an erasure: the cached views answer 404 at once */
    erase(s.port, "userId:u1");
    for (size_t i = 0; i < NPATHS; i++)
        ck_assert_msg(get(s.port, paths[i], NULL, NULL) == 404, "%s after DELETE", paths[i]);
    ck_assert_int_gt(test_metric(s.port, "profiled_cache_misses_total"), 0);
    test_server_stop(&s);
}
END_TEST

START_TEST(test_other_writers)
{
    test_server_t a, b;
    const char *extra[] = {"--threads", "1", "--workers", "1", "--definitions", defs_path, NULL};
    test_server_start(&a, db, extra);
    test_server_start(&b, db, extra);
    post(a.port, "/identify", "{\"userId\":\"o1\",\"traits\":{\"plan\":\"free\"}}");
    quiet(a.port, "userId:o1/external_ids");
    char *v = read_twice(a.port, "userId:o1/traits");
    free(v);
    /* written through the other process: the next read on a sees it */
    post(b.port, "/identify", "{\"userId\":\"o1\",\"traits\":{\"plan\":\"gold\"}}");
    v = read_after_other(a.port, "userId:o1/traits", "\"gold\"");
    ck_assert_msg(strstr(v, "\"gold\"") != NULL, "%s", v);
    free(v);
    test_server_stop(&b);

    /* a static audience imported by the CLI while a serves */
    v = read_twice(a.port, "userId:o1/audiences");
    ck_assert(strstr(v, "vip_list") == NULL);
    free(v);
    const char *imp[] = {"audience", "import",  "--db",  db,       "--client", "acme",   "--account",
                         "shop",     "--brand", "CACHE", "--name", "vip_list", csv_path, NULL};
    ck_assert_int_eq(test_cli(imp, NULL, NULL, NULL), 0);
    v = read_after_other(a.port, "userId:o1/audiences", "vip_list");
    ck_assert_msg(strstr(v, "vip_list") != NULL, "%s", v);
    free(v);

    /* a definitions reload: an audience over the traits appears (in a
     * view that is cached: the read above was the second) */
    long long h0 = hits(a.port);
    ck_assert_int_eq(get(a.port, "userId:o1/audiences", &v, NULL), 200);
    ck_assert_int_eq(hits(a.port), h0 + 1);
    ck_assert(strstr(v, "golden") == NULL);
    free(v);
    test_write_file(defs_path, "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"CACHE\",\n"
                               "  \"computedTraits\":[{\"name\":\"opens_1_day\",\"kind\":\"count\",\"eventAction\":\"opened\","
                               "\"windowDays\":1}],\n"
                               "  \"audiences\":[{\"name\":\"active_1_day\",\"rule\":{\"activeWithinDays\":1}},\n"
                               "    {\"name\":\"golden\",\"rule\":{\"trait\":\"plan\",\"op\":\"eq\",\"value\":\"gold\"}}]}]}\n");
    kill(a.pid, SIGHUP);
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        char *body;
        ck_assert_int_eq(get(a.port, "userId:o1/audiences", &body, NULL), 200);
        seen = strstr(body, "golden") != NULL;
        free(body);
        if (!seen)
            usleep(50000);
    }
    ck_assert_msg(seen, "the reloaded audience never showed");
    test_server_stop(&a);
}
END_TEST

START_TEST(test_windows_pass)
{
    long long t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t0 = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    char num[32];
    snprintf(num, sizeof(num), "%lld", t0);
    test_write_file(clock_path, num);
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "1", "--definitions", defs_path, NULL};
    setenv("PROFILED_DEBUG_CLOCK_FILE", clock_path, 1);
    test_server_start(&s, db, extra);
    unsetenv("PROFILED_DEBUG_CLOCK_FILE");
    post(s.port, "/track", "{\"userId\":\"w1\",\"event\":\"opened\"}");
    quiet(s.port, "userId:w1/external_ids");
    char *t = read_twice(s.port, "userId:w1/traits");
    ck_assert_msg(strstr(t, "\"opens_1_day\":1") != NULL, "%s", t);
    free(t);
    char *au = read_twice(s.port, "userId:w1/audiences");
    ck_assert_msg(strstr(au, "active_1_day") != NULL, "%s", au);
    free(au);
    /* a day and an hour on: past the next day boundary and past the
     * activity window; nothing written, and both cached views change */
    snprintf(num, sizeof(num), "%lld", t0 + DAY_MS + 3600000LL);
    test_write_file(clock_path, num);
    t = read_twice(s.port, "userId:w1/traits");
    ck_assert_msg(strstr(t, "\"opens_1_day\":0") != NULL, "%s", t);
    free(t);
    au = read_twice(s.port, "userId:w1/audiences");
    ck_assert_msg(strstr(au, "active_1_day") == NULL, "%s", au);
    free(au);
    test_server_stop(&s);
}
END_TEST

START_TEST(test_batch_cached)
{
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "2", "--rate", "100000", "--burst", "100000", NULL};
    test_server_start(&s, db, extra);
    post(s.port, "/identify", "{\"userId\":\"b1\",\"traits\":{\"email\":\"b1@example.com\",\"plan\":\"free\"}}");
    post(s.port, "/identify", "{\"userId\":\"b2\",\"traits\":{\"plan\":\"free\",\"color\":\"red\"}}");
    post(s.port, "/identify", "{\"anonymousId\":\"ab3\",\"traits\":{\"plan\":\"trial\"}}");
    post(s.port, "/identify", "{\"userId\":\"b5\",\"traits\":{\"plan\":\"gold\"}}");
    quiet(s.port, "userId:b1/external_ids");
    static const char *const ids[] = {"userId:b1", "email:b1@example.com", "anonymousId:ab3", "userId:b2"};
    const char *req = "{\"ids\":[\"userId:b1\",\"email:b1@example.com\",\"anonymousId:ab3\",\"bad\",\"userId:b2\"]}";
    static const char *const routes[] = {"traits", "traits?fields=plan", "metadata", "audiences", "external_ids"};
    for (size_t k = 0; k < sizeof(routes) / sizeof(routes[0]); k++) {
        /* first: the job reads the 4 valid ids (4 misses; "bad" is no lookup) */
        long long h0 = hits(s.port), m0 = misses(s.port);
        char *a = batch(s.port, routes[k], req);
        counted(s.port, h0, m0, 0, 4, routes[k]);
        ck_assert_msg(strstr(a, "\"profileId\":\"bad\",\"status\":400") != NULL, "%s", a);
        /* second: all 4 from the cache, byte for byte the same */
        h0 = hits(s.port), m0 = misses(s.port);
        char *b = batch(s.port, routes[k], req);
        counted(s.port, h0, m0, 4, 0, routes[k]);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
    }
    /* the cached views are the single routes' (the fill used their keys) */
    char *want = expected_batch(s.port, "traits", ids, 4);
    char *got = batch(s.port, "traits", "{\"ids\":[\"userId:b1\",\"email:b1@example.com\",\"anonymousId:ab3\",\"userId:b2\"]}");
    ck_assert_str_eq(got, want);
    free(got);
    free(want);

    /* read-your-write: an acknowledged ingest makes every id miss */
    post(s.port, "/identify", "{\"userId\":\"b2\",\"traits\":{\"plan\":\"pro\"}}");
    long long h0 = hits(s.port), m0 = misses(s.port);
    char *a = batch(s.port, "traits", req);
    counted(s.port, h0, m0, 0, 4, "after the ingest");
    ck_assert_msg(strstr(a, "\"plan\":\"pro\"") != NULL && strstr(a, "\"plan\":\"free\"") != NULL, "%s", a);
    h0 = hits(s.port), m0 = misses(s.port);
    char *b = batch(s.port, "traits", req);
    counted(s.port, h0, m0, 4, 0, "again after the ingest");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);

    /* one id not cached: the job reads all three, and still answers right */
    static const char *const ids3[] = {"userId:b1", "userId:b5", "userId:b2"};
    h0 = hits(s.port), m0 = misses(s.port);
    got = batch(s.port, "traits", "{\"ids\":[\"userId:b1\",\"userId:b5\",\"userId:b2\"]}");
    counted(s.port, h0, m0, 0, 3, "one uncached");
    want = expected_batch(s.port, "traits", ids3, 3);
    ck_assert_str_eq(got, want);
    ck_assert(strstr(got, "\"gold\"") != NULL);
    free(got);
    free(want);

    /* a 404 is not cached (as on the single route): the job each time */
    for (int i = 0; i < 2; i++) {
        h0 = hits(s.port), m0 = misses(s.port);
        got = batch(s.port, "traits", "{\"ids\":[\"userId:b1\",\"userId:nobody\"]}");
        counted(s.port, h0, m0, 0, 2, "with a 404");
        ck_assert(strstr(got, "\"profileId\":\"userId:nobody\",\"status\":404") != NULL);
        free(got);
    }
    test_server_stop(&s);
}
END_TEST

START_TEST(test_off)
{
    test_server_t s;
    const char *extra[] = {"--cache-mb", "0", NULL};
    test_server_start(&s, db, extra);
    post(s.port, "/identify", "{\"userId\":\"off1\",\"traits\":{\"plan\":\"free\"}}");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(get(s.port, "userId:off1/traits", NULL, NULL), 200);
    char *a = batch(s.port, "traits", "{\"ids\":[\"userId:off1\",\"userId:none\"]}");
    char *b = batch(s.port, "traits", "{\"ids\":[\"userId:off1\",\"userId:none\"]}");
    ck_assert_str_eq(a, b);
    ck_assert_msg(strstr(a, "\"status\":200,\"result\":{") != NULL && strstr(a, "\"status\":404") != NULL, "%s", a);
    free(a);
    free(b);
    ck_assert_int_eq(hits(s.port), 0);
    ck_assert_int_eq(misses(s.port), 0);
    ck_assert_int_eq(test_metric(s.port, "profiled_cache_bytes{of=\"limit\"}"), 0);
    test_server_stop(&s);
}
END_TEST

START_TEST(test_eviction)
{
    test_server_t s;
    const char *extra[] = {"--cache-mb", "1", "--threads", "1", "--rate", "100000", "--burst", "100000", NULL};
    test_server_start(&s, db, extra);
    /* 100 profiles of about 20 KB of traits each: 2 MB of views */
    char *pad = malloc(20001);
    memset(pad, 'x', 20000);
    pad[20000] = '\0';
    size_t cap = 16 * 20100;
    char *body = malloc(cap);
    for (int batch = 0; batch < 10; batch++) {
        size_t n = (size_t)snprintf(body, cap, "{\"batch\":[");
        for (int i = 0; i < 10; i++)
            n += (size_t)snprintf(body + n, cap - n, "%s{\"type\":\"identify\",\"userId\":\"e%d\",\"traits\":{\"pad\":\"%s\"}}",
                                  i ? "," : "", batch * 10 + i, pad);
        snprintf(body + n, cap - n, "]}");
        post(s.port, "/batch", body);
    }
    free(body);
    free(pad);
    for (int i = 0; i < 100; i++) {
        char path[64];
        snprintf(path, sizeof(path), "userId:e%d/traits", i);
        ck_assert_int_eq(get(s.port, path, NULL, NULL), 200);
        ck_assert_int_le(test_metric(s.port, "profiled_cache_bytes{of=\"used\"}"), 1024 * 1024);
    }
    long long used = test_metric(s.port, "profiled_cache_bytes{of=\"used\"}");
    long long entries = test_metric(s.port, "profiled_cache_entries");
    ck_assert_int_gt(test_metric(s.port, "profiled_cache_evictions_total"), 40);
    ck_assert_int_gt(used, 512 * 1024); /* it does fill */
    ck_assert_int_le(used, 1024 * 1024);
    ck_assert_int_ge(entries, 25);
    ck_assert_int_le(entries, 52);
    /* the most recent are still hits */
    long long h0 = hits(s.port);
    ck_assert_int_eq(get(s.port, "userId:e99/traits", NULL, NULL), 200);
    ck_assert_int_eq(hits(s.port), h0 + 1);
    test_server_stop(&s);
}
END_TEST

/* Reads each of n paths once: all hits, or all misses (counted). */
static void
all_counted(int port, const char *const *p, size_t n, int hit, const char *what)
{
    long long h0 = hits(port), m0 = misses(port);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(get(port, p[i], NULL, NULL), 200);
    counted(port, h0, m0, hit ? (long long)n : 0, hit ? 0 : (long long)n, what);
}

/* One read of path: a miss whose body contains want. */
static void
miss_shows(int port, const char *path, const char *want)
{
    long long h0 = hits(port), m0 = misses(port);
    char *body;
    ck_assert_int_eq(get(port, path, &body, NULL), 200);
    counted(port, h0, m0, 0, 1, path);
    ck_assert_msg(strstr(body, want) != NULL, "%s: %s lacks %s", path, body, want);
    free(body);
}

static const char *const others[] = {
    "userId:q1/traits",       "userId:q1/metadata",          "userId:q2/traits",    "userId:q2/external_ids",
    "anonymousId:qa3/traits", "email:q2@example.com/traits", "userId:q3/audiences",
};
#define NOTHERS (sizeof(others) / sizeof(others[0]))

/* PostgreSQL: another process's commit reaches this one's cache through
 * its notification, a moment after it returns: reads sentinel (cached)
 * until one misses. */
static void
wait_dropped(int port, const char *sentinel)
{
    for (int i = 0; i < 200; i++) {
        long long m0 = misses(port);
        ck_assert_int_eq(get(port, sentinel, NULL, NULL), 200);
        if (misses(port) > m0)
            return;
        usleep(10000);
    }
    ck_abort_msg("%s was never dropped", sentinel);
}

/* A commit drops only the entries of what it touched: an ingest for one
 * profile leaves the others' views hits; a new profile sharing an email,
 * a merge (both sides and their ids) and an erasure drop theirs. */
START_TEST(test_per_profile)
{
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "2", "--rate", "100000", "--burst", "100000", NULL};
    test_server_start(&s, db, extra);
    post(s.port, "/batch",
         "{\"batch\":[{\"type\":\"identify\",\"userId\":\"q0\",\"traits\":{\"email\":\"q0@example.com\",\"plan\":\"free\"}},"
         "{\"type\":\"identify\",\"userId\":\"q1\",\"traits\":{\"plan\":\"free\"}},"
         "{\"type\":\"track\",\"userId\":\"q1\",\"event\":\"Opened\"},"
         "{\"type\":\"identify\",\"userId\":\"q2\",\"traits\":{\"email\":\"q2@example.com\"}},"
         "{\"type\":\"identify\",\"userId\":\"q3\",\"anonymousId\":\"qa3\",\"traits\":{\"plan\":\"x\"}},"
         "{\"type\":\"identify\",\"userId\":\"qm\",\"traits\":{\"side\":\"user\"}},"
         "{\"type\":\"identify\",\"anonymousId\":\"qma\",\"traits\":{\"side\":\"anon\",\"color\":\"red\"}}]}");
    quiet(s.port, "userId:q0/traits?fields=email");
    for (size_t i = 0; i < NOTHERS; i++)
        free(read_twice(s.port, others[i]));
    const char *mine[] = {"userId:q0/traits", "userId:q0/metadata",     "email:q0@example.com/traits",
                          "userId:qm/traits", "anonymousId:qma/traits", "userId:qm/external_ids"};
    for (size_t i = 0; i < 6; i++)
        free(read_twice(s.port, mine[i]));
    all_counted(s.port, others, NOTHERS, 1, "populated");

    /* an ingest for q0: its views miss and show it, the others still hit */
    post(s.port, "/identify", "{\"userId\":\"q0\",\"traits\":{\"plan\":\"pro\"}}");
    all_counted(s.port, others, NOTHERS, 1, "other profiles after an ingest for q0");
    miss_shows(s.port, "userId:q0/traits", "\"pro\"");
    miss_shows(s.port, "email:q0@example.com/traits", "\"pro\"");
    post(s.port, "/track", "{\"userId\":\"q0\",\"event\":\"Clicked\"}");
    miss_shows(s.port, "userId:q0/metadata", "clicked");
    all_counted(s.port, others, NOTHERS, 1, "other profiles after an event for q0");

    /* a new profile sharing q0's email: the email view has both */
    free(read_twice(s.port, "email:q0@example.com/traits"));
    free(read_twice(s.port, "userId:q0/traits"));
    post(s.port, "/identify", "{\"userId\":\"q9\",\"traits\":{\"email\":\"Q0@example.com\",\"plan\":\"nine\"}}");
    miss_shows(s.port, "email:q0@example.com/traits", "\"nine\"");
    const char *q0[] = {"userId:q0/traits"};
    all_counted(s.port, q0, 1, 1, "q0 after another profile took its email");
    all_counted(s.port, others, NOTHERS, 1, "other profiles after a new profile");

    /* a merge: both sides and the moved id miss and show the merged data */
    post(s.port, "/identify", "{\"userId\":\"qm\",\"anonymousId\":\"qma\"}");
    miss_shows(s.port, "userId:qm/traits", "\"red\"");
    miss_shows(s.port, "anonymousId:qma/traits", "\"red\"");
    miss_shows(s.port, "userId:qm/external_ids", "\"qma\"");
    all_counted(s.port, others, NOTHERS, 1, "other profiles after a merge");

    /* an erasure: its views answer 404, the others still hit */
    erase(s.port, "userId:qm");
    ck_assert_int_eq(get(s.port, "userId:qm/traits", NULL, NULL), 404);
    ck_assert_int_eq(get(s.port, "anonymousId:qma/traits", NULL, NULL), 404);
    all_counted(s.port, others, NOTHERS, 1, "other profiles after an erasure");
    test_server_stop(&s);
}
END_TEST

/* What the writer's journal does not have empties the whole cache: a
 * write by a second server process, `profiled audience import`, a
 * definitions reload. */
START_TEST(test_unjournaled_empties)
{
    test_server_t a, b;
    const char *extra[] = {"--threads", "1", "--workers", "1", "--definitions", defs_path, NULL};
    test_server_start(&a, db, extra);
    test_server_start(&b, db, extra);
    post(a.port, "/batch",
         "{\"batch\":[{\"type\":\"identify\",\"userId\":\"q1\",\"traits\":{\"plan\":\"free\"}},"
         "{\"type\":\"identify\",\"userId\":\"q2\",\"traits\":{\"email\":\"q2@example.com\"}},"
         "{\"type\":\"identify\",\"userId\":\"q3\",\"anonymousId\":\"qa3\"},"
         "{\"type\":\"identify\",\"userId\":\"qz\"}]}");
    quiet(a.port, "userId:qz/external_ids");
    /* PostgreSQL: b's start (its recompute) reaches a's cache through a
     * notification, maybe after the reads above: populate until all hit */
    for (int round = 0;; round++) {
        for (size_t i = 0; i < NOTHERS; i++) {
            if (round == 0)
                free(read_twice(a.port, others[i]));
            else /* refill what the notification dropped */
                ck_assert_int_eq(get(a.port, others[i], NULL, NULL), 200);
        }
        long long h0 = hits(a.port);
        for (size_t i = 0; i < NOTHERS; i++)
            ck_assert_int_eq(get(a.port, others[i], NULL, NULL), 200);
        if (hits(a.port) - h0 == (long long)NOTHERS || !test_on_pg() || round == 20)
            break;
        usleep(50000);
    }
    all_counted(a.port, others, NOTHERS, 1, "populated");
    post(b.port, "/identify", "{\"userId\":\"qz\",\"traits\":{\"plan\":\"b\"}}");
    if (test_on_pg()) {
        /* b's commit names what it touched (its notification): qz's views
         * only; reads see it within the notification's delay */
        all_counted(a.port, others, NOTHERS, 1, "after a write by another replica");
        wait_dropped(a.port, "userId:qz/external_ids");
    } else {
        all_counted(a.port, others, NOTHERS, 0, "after a write by another process");
    }
    test_server_stop(&b);

    all_counted(a.port, others, NOTHERS, 1, "filled again"); /* by the misses above */
    const char *imp[] = {"audience", "import",  "--db",  db,       "--client", "acme",   "--account",
                         "shop",     "--brand", "CACHE", "--name", "q_list",   csv_path, NULL};
    free(read_twice(a.port, "userId:qz/metadata"));
    ck_assert_int_eq(test_cli(imp, NULL, NULL, NULL), 0);
    if (test_on_pg()) /* the CLI names nothing it touched: everything, once notified */
        wait_dropped(a.port, "userId:qz/metadata");
    all_counted(a.port, others, NOTHERS, 0, "after a CLI audience import");
    all_counted(a.port, others, NOTHERS, 1, "filled again");
    test_write_file(defs_path,
                    "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"CACHE\",\n"
                    "  \"audiences\":[{\"name\":\"q_free\",\"rule\":{\"trait\":\"plan\",\"op\":\"eq\",\"value\":\"free\"}}]}]}\n");
    kill(a.pid, SIGHUP);
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) { /* a path not in others */
        char *body;
        ck_assert_int_eq(get(a.port, "userId:q1/audiences?fields=audiences", &body, NULL), 200);
        seen = strstr(body, "q_free") != NULL;
        free(body);
        if (!seen)
            usleep(50000);
    }
    ck_assert_msg(seen, "the reloaded audience never showed");
    all_counted(a.port, others, NOTHERS, 0, "after a definitions reload");
    test_server_stop(&a);
}
END_TEST

/* GET path taking gzip: the status; the body (malloc'd, *len bytes) and
 * whether it came gzipped. */
static int
get_gzip(int port, const char *path, char **body, size_t *len, int *gzipped)
{
    char uri[512];
    snprintf(uri, sizeof(uri), BASE "/profiles/%s", path);
    const char *h[] = {"auth-token", tok, "accept-encoding", "gzip", NULL};
    test_resp_t r;
    ck_assert_int_eq(test_http(port, "GET", uri, h, NULL, 0, &r), 0);
    int status = r.status;
    *body = malloc(r.len + 1);
    memcpy(*body, r.body != NULL ? r.body : "", r.len);
    *len = r.len;
    const char *ce = test_header(&r, "content-encoding");
    *gzipped = ce != NULL && strcmp(ce, "gzip") == 0;
    test_resp_free(&r);
    return status;
}

/* A hit for a client taking gzip sends the entry's gzip, made once at the
 * first such hit and kept: the cache's bytes grow by exactly its length
 * then, and not again; every gzip answer is the same bytes as the job's. */
START_TEST(test_gzip_kept)
{
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, extra);
    char big[4096], body[4400];
    for (size_t i = 0; i + 1 < sizeof(big); i++)
        big[i] = "gzip keeps this text "[i % 21];
    big[sizeof(big) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"userId\":\"gz1\",\"traits\":{\"note\":\"%s\"}}", big);
    post(s.port, "/identify", body);
    const char *path = "userId:gz1/traits";
    char *first = NULL;
    size_t first_len = 0;
    int gz = 0, checked = 0;
    ck_assert_int_eq(get_gzip(s.port, path, &first, &first_len, &gz), 200); /* the job's gzip */
    ck_assert(gz);
    ck_assert_int_lt(first_len, 1000);
    /* a start-up commit the journal cannot name may empty the cache in
     * between: try again, a bounded number of times */
    for (int round = 0; round < 10 && !checked; round++) {
        long long h0 = hits(s.port);
        ck_assert_int_eq(get(s.port, path, NULL, NULL), 200); /* plain: fills or hits */
        ck_assert_int_eq(get(s.port, path, NULL, NULL), 200);
        if (hits(s.port) == h0)
            continue;
        long long used1 = test_metric(s.port, "profiled_cache_bytes{of=\"used\"}");
        long long h1 = hits(s.port);
        char *b = NULL;
        size_t n = 0;
        ck_assert_int_eq(get_gzip(s.port, path, &b, &n, &gz), 200);
        ck_assert(gz);
        ck_assert(n == first_len && memcmp(b, first, n) == 0);
        free(b);
        if (hits(s.port) != h1 + 1)
            continue;
        long long used2 = test_metric(s.port, "profiled_cache_bytes{of=\"used\"}");
        ck_assert_msg(used2 == used1 + (long long)first_len, "bytes %lld -> %lld with a gzip of %zu", used1, used2, first_len);
        ck_assert_int_eq(get_gzip(s.port, path, &b, &n, &gz), 200);
        ck_assert(gz);
        ck_assert(n == first_len && memcmp(b, first, n) == 0);
        free(b);
        if (hits(s.port) != h1 + 2)
            continue;
        ck_assert_int_eq(test_metric(s.port, "profiled_cache_bytes{of=\"used\"}"), used2);
        checked = 1;
    }
    ck_assert_msg(checked, "no run of hits in 10 rounds");
    free(first);
    test_server_stop(&s);
}
END_TEST

/* GET path (an events page): 200, its scrollId into sid and its "data"
 * array's text (malloc'd) returned. */
static char *
events_page(int port, const char *path, char *sid, size_t cap)
{
    char *body;
    int st = get(port, path, &body, NULL);
    ck_assert_msg(st == 200, "%s -> %d %s", path, st, body);
    json_object *j = json_tokener_parse(body), *d;
    ck_assert_ptr_nonnull(j);
    snprintf(sid, cap, "%s", test_jstr(j, "scrollId"));
    ck_assert(json_object_object_get_ex(j, "data", &d));
    char *data = strdup(json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
    json_object_put(j);
    free(body);
    return data;
}

/* The eventIds of the scroll after sid's page, pages of path's route, in
 * order, appended to ids. */
static void
scroll_rest(int port, const char *route, char *sid, char *ids, size_t cap)
{
    for (int page = 0; page < 20; page++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s?scrollId=%s", route, sid);
        char *data = events_page(port, path, sid, 256);
        json_object *a = json_tokener_parse(data);
        size_t n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(ids);
            snprintf(ids + l, cap - l, "%s,", test_jstr(json_object_array_get_idx(a, i), "eventId"));
        }
        json_object_put(a);
        free(data);
        if (n == 0)
            return;
    }
    ck_abort_msg("the scroll did not end");
}

/* First events pages from the cache: the same page, each answer a scroll
 * of its own (a new scrollId, every one continuing to the end, each event
 * once); an acknowledged event makes the next first page a miss that
 * shows it, as do a merge and an erasure (404); another query is another
 * entry; a scrollId's next page is never a hit. */
START_TEST(test_events_first_cached)
{
    test_server_t s;
    const char *extra[] = {"--threads", "1", "--workers", "2", "--rate", "100000", "--burst", "100000", NULL};
    test_server_start(&s, db, extra);
    post(s.port, "/identify", "{\"userId\":\"ev1\",\"traits\":{\"email\":\"ev1@example.com\"}}");
    for (int i = 0; i < 5; i++) {
        char ev[256];
        snprintf(ev, sizeof(ev),
                 "{\"userId\":\"ev1\",\"event\":\"Seen\",\"messageId\":\"ev1-%d\",\"timestamp\":\"2021-01-01T00:00:0%d.000Z\"}", i,
                 i);
        post(s.port, "/track", ev);
    }
    const char *route = "userId:ev1/events", *path = "userId:ev1/events?limit=2&sort=asc";
    quiet(s.port, "userId:ev1/external_ids");
    char sid1[256], sid2[256];
    char *d1 = NULL, *d2 = NULL;
    int hit = 0;
    for (int i = 0; i < 50 && !hit; i++) { /* a background commit may come between: then again */
        free(d1);
        free(d2);
        d1 = events_page(s.port, path, sid1, sizeof(sid1));
        long long h0 = hits(s.port);
        d2 = events_page(s.port, path, sid2, sizeof(sid2));
        hit = hits(s.port) == h0 + 1;
    }
    ck_assert_msg(hit, "a second first page was never a hit");
    ck_assert_str_eq(d1, d2);
    ck_assert_str_ne(sid1, sid2);
    ck_assert_msg(strstr(d1, "\"ev1-0\"") != NULL && strstr(d1, "\"ev1-1\"") != NULL, "%s", d1);
    /* both scrollIds go on to the end, every event once; next pages are
     * jobs (not looked up in the cache) */
    long long h0 = hits(s.port), m0 = misses(s.port);
    char ids1[1024] = "", ids2[1024] = "";
    scroll_rest(s.port, route, sid1, ids1, sizeof(ids1));
    scroll_rest(s.port, route, sid2, ids2, sizeof(ids2));
    ck_assert_str_eq(ids1, "ev1-2,ev1-3,ev1-4,");
    ck_assert_str_eq(ids2, ids1);
    counted(s.port, h0, m0, 0, 0, "next pages");
    /* another query: another entry */
    char sid3[256];
    char *d3 = events_page(s.port, "userId:ev1/events?limit=3&sort=asc", sid3, sizeof(sid3));
    counted(s.port, h0, m0, 0, 1, "limit=3");
    ck_assert_msg(strstr(d3, "\"ev1-2\"") != NULL, "%s", d3);
    free(d3);
    /* an acknowledged event before the first: the next first page shows it */
    post(s.port, "/track",
         "{\"userId\":\"ev1\",\"event\":\"Seen\",\"messageId\":\"ev1-new\","
         "\"timestamp\":\"2020-12-31T23:59:59.000Z\"}");
    h0 = hits(s.port);
    char *d4 = events_page(s.port, path, sid1, sizeof(sid1));
    ck_assert_msg(hits(s.port) == h0, "the first page after an event was a hit: %s", d4);
    ck_assert_msg(strstr(d4, "\"ev1-new\"") != NULL, "%s", d4);
    char ids4[1024] = "";
    scroll_rest(s.port, route, sid1, ids4, sizeof(ids4));
    ck_assert_str_eq(ids4, "ev1-1,ev1-2,ev1-3,ev1-4,");
    free(d4);
    /* a merge brings another profile's events in; an erasure answers 404 */
    post(s.port, "/track",
         "{\"anonymousId\":\"ev-anon\",\"event\":\"Seen\",\"messageId\":\"anon-1\","
         "\"timestamp\":\"2020-12-31T23:00:00.000Z\"}");
    d4 = events_page(s.port, path, sid1, sizeof(sid1));
    free(d4);
    post(s.port, "/identify", "{\"userId\":\"ev1\",\"anonymousId\":\"ev-anon\"}");
    h0 = hits(s.port);
    d4 = events_page(s.port, path, sid1, sizeof(sid1));
    ck_assert_msg(hits(s.port) == h0 && strstr(d4, "\"anon-1\"") != NULL, "after the merge: %s", d4);
    free(d4);
    erase(s.port, "userId:ev1");
    ck_assert_int_eq(get(s.port, path, NULL, NULL), 404);
    free(d1);
    free(d2);
    test_server_stop(&s);
}
END_TEST

static Suite *
cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_read_your_writes);
    tcase_add_test(tc, test_other_writers);
    tcase_add_test(tc, test_windows_pass);
    tcase_add_test(tc, test_batch_cached);
    tcase_add_test(tc, test_off);
    tcase_add_test(tc, test_eviction);
    tcase_add_test(tc, test_per_profile);
    tcase_add_test(tc, test_unjournaled_empties);
    tcase_add_test(tc, test_gzip_kept);
    tcase_add_test(tc, test_events_first_cached);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("cache.db");
    defs_path = test_tmp_path("cache-defs.json");
    clock_path = test_tmp_path("cache-clock");
    csv_path = test_tmp_path("cache-members.csv");
    test_write_file(defs_path, "{\"tenants\":[{\"client\":\"acme\",\"account\":\"shop\",\"brand\":\"CACHE\",\n"
                               "  \"computedTraits\":[{\"name\":\"opens_1_day\",\"kind\":\"count\",\"eventAction\":\"opened\","
                               "\"windowDays\":1}],\n"
                               "  \"audiences\":[{\"name\":\"active_1_day\",\"rule\":{\"activeWithinDays\":1}}]}]}\n");
    test_write_file(csv_path, "userId\no1\n");
    test_token_create(db, "acme", "shop", "CACHE", tok);
    test_token_create_perms(db, "acme", "shop", "CACHE", "read,delete", tokdel);
    int failed = test_run_suite(cache_suite());
    test_rm_db(db);
    unlink(defs_path);
    unlink(clock_path);
    unlink(csv_path);
    free(db);
    free(defs_path);
    free(clock_path);
    free(csv_path);
    return failed == 0 ? 0 : 1;
}
