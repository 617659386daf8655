/* test_integrity.c -- a damaged database: `profiled check` exits 0 on a
 * good file and 1 on one with four pages overwritten (or a bad header);
 * a server started on the damaged file, once a read hits the bad pages,
 * says not ready (/readyz 503, JSON reason) and refuses ingest (503), and
 * still serves the reads that work. */
#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/acme/shop/WEB/v1"
#define PAGE 16384 /* storage.c's page size */
#define EVENTS 3000

static char *good, *bad;
static char tok[128];

static void
write_fixture(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    /* a few small profiles first (early pages), then one big profile whose
     * events fill most of the file */
    for (int u = 0; u < 20; u++)
        fprintf(f, "{\"type\":\"identify\",\"userId\":\"small%d\",\"traits\":{\"plan\":\"pro\",\"n\":%d}}\n", u, u);
    char pad[901];
    memset(pad, 'x', 900);
    pad[900] = '\0';
    for (int i = 0; i < EVENTS; i++)
        fprintf(f,
                "{\"type\":\"track\",\"userId\":\"big\",\"event\":\"Tick\",\"messageId\":\"big-%05d\","
                "\"timestamp\":\"2021-01-01T00:%02d:%02d.000Z\",\"properties\":{\"pad\":\"%s\",\"i\":%d}}\n",
                i, i / 60 % 60, i % 60, pad, i);
    fclose(f);
}

/* Copies a closed database (no frames left in a -wal by then: `profiled
 * check` leaves an empty one). */
static void
copy_file(const char *from, const char *to)
{
    char wal[4096];
    struct stat sb;
    snprintf(wal, sizeof(wal), "%s-wal", from);
    if (stat(wal, &sb) == 0 && sb.st_size > 0) {
        fprintf(stderr, "%s is still open\n", from);
        abort();
    }
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[65536];
    ssize_t n;
    if (in < 0 || out < 0)
        abort();
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            abort();
    close(in);
    close(out);
}

/* Overwrites whole pages of a closed database with garbage, as a bad disk
 * or a stray write would. */
static void
overwrite_pages(const char *path, const double *at, size_t n)
{
    struct stat sb;
    int fd = open(path, O_RDWR);
    if (fd < 0 || fstat(fd, &sb) != 0)
        abort();
    off_t pages = sb.st_size / PAGE;
    char junk[PAGE];
    memset(junk, 0xab, sizeof(junk));
    for (size_t i = 0; i < n; i++) {
        off_t page = at[i] < 0 ? 0 : (off_t)((double)pages * at[i]);
        if (pwrite(fd, junk, sizeof(junk), page * PAGE) != (ssize_t)sizeof(junk))
            abort();
    }
    close(fd);
}

static bool
same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa != NULL)
        fclose(fa);
    if (fb != NULL)
        fclose(fb);
    return same;
}

static int
check_db(const char *path, char **out)
{
    const char *argv[] = {"check", "--db", path, NULL};
    return test_cli(argv, NULL, out, NULL);
}

START_TEST(test_check_good_and_damaged)
{
    char *out = NULL;
    ck_assert_int_eq(check_db(good, &out), 0);
    ck_assert_msg(strstr(out, ": ok") != NULL, "%s", out);
    free(out);

    ck_assert_int_eq(check_db(bad, &out), 1);
    ck_assert_msg(strstr(out, "integrity_check: ") != NULL, "%s", out);
    free(out);

    /* the first page gone: not a database at all */
    char *header = test_tmp_path("header.db");
    copy_file(good, header);
    const double first[] = {-1};
    overwrite_pages(header, first, 1);
    ck_assert_int_eq(check_db(header, &out), 1);
    ck_assert_msg(strstr(out, "not a database") != NULL, "%s", out);
    free(out);
    test_rm_db(header);
    free(header);

    /* no such file: a usage error, not damage */
    char *missing = test_tmp_path("missing.db");
    ck_assert_int_eq(check_db(missing, NULL), 2);
    ck_assert_int_ne(access(missing, F_OK), 0); /* and not created */
    free(missing);

    /* the check changes nothing, on a good file or a damaged one */
    char *before = test_tmp_path("before.db");
    copy_file(bad, before);
    ck_assert_int_eq(check_db(bad, NULL), 1);
    ck_assert(same_bytes(bad, before));
    copy_file(good, before);
    ck_assert_int_eq(check_db(good, NULL), 0);
    ck_assert(same_bytes(good, before));
    test_rm_db(before);
    free(before);
}
END_TEST

static int
status_of(int port, const char *uri)
{
    test_resp_t r;
    json_object *j = test_get(port, uri, tok, &r);
    int status = r.status;
    json_object_put(j);
    test_resp_free(&r);
    return status;
}

/* Scrolls through every event of "big": the status of the first page that
 * failed, or 200 when all came. */
static int
scroll_all(int port, int *pages)
{
    char uri[256];
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:big/events?limit=100&sort=asc");
    for (*pages = 0; *pages < EVENTS / 100 + 2; (*pages)++) {
        test_resp_t r;
        json_object *j = test_get(port, uri, tok, &r);
        int status = r.status;
        const char *sid = test_jstr(j, "scrollId");
        json_object *data = test_jget(j, "data");
        size_t n = data != NULL ? json_object_array_length(data) : 0;
        if (status == 200)
            snprintf(uri, sizeof(uri), BASE "/profiles/userId:big/events?scrollId=%s", sid);
        json_object_put(j);
        test_resp_free(&r);
        if (status != 200)
            return status;
        if (n == 0)
            break;
    }
    return 200;
}

START_TEST(test_server_on_damaged_db)
{
    char *db = test_tmp_path("serve.db");
    copy_file(bad, db);
    test_server_t srv;
    const char *extra[] = {"--threads", "1", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);

    /* it starts, ready: nothing has read the bad pages yet */
    test_resp_t r;
    ck_assert_int_eq(test_http(srv.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
    ck_assert_int_eq(test_http(srv.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_msg(strstr(r.body, "\nprofiled_database_damaged 0\n") != NULL, "%s", r.body);
    test_resp_free(&r);
    ck_assert_int_eq(status_of(srv.port, BASE "/profiles/userId:small3/traits"), 200);

    /* a read that reaches them fails, and from then on ... */
    int pages;
    int status = scroll_all(srv.port, &pages);
    ck_assert_msg(status == 500, "scrolled %d pages of a damaged file: %d", pages, status);

    /* ... not ready, with a JSON reason */
    ck_assert_int_eq(test_http(srv.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    json_object *j = test_json(&r);
    test_assert_error(&r, j, 503, "internal_server_error");
    ck_assert_msg(strstr(test_jstr(j, "error.message"), "damaged") != NULL, "%s", r.body);
    json_object_put(j);
    test_resp_free(&r);

    ck_assert_int_eq(test_http(srv.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_msg(strstr(r.body, "\nprofiled_database_damaged 1\n") != NULL, "%s", r.body);
    test_resp_free(&r);

    /* ingest refused, on every route */
    const char *h[] = {"content-type", "application/json", "auth-token", tok, NULL};
    static const char track[] = "{\"type\":\"track\",\"userId\":\"new\",\"event\":\"After\"}";
    j = test_post(srv.port, BASE "/track", h, track, strlen(track), &r);
    test_assert_error(&r, j, 503, "internal_server_error");
    json_object_put(j);
    test_resp_free(&r);
    static const char batch[] = "{\"batch\":[{\"type\":\"identify\",\"userId\":\"small3\",\"traits\":{\"plan\":\"free\"}}]}";
    j = test_post(srv.port, "/v1/batch", h, batch, strlen(batch), &r);
    test_assert_error(&r, j, 503, "internal_server_error");
    json_object_put(j);
    test_resp_free(&r);

    /* reads that still work are served, and nothing was written */
    j = test_get(srv.port, BASE "/profiles/userId:small3/traits", tok, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "plan"), "pro");
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(status_of(srv.port, BASE "/profiles/userId:new/traits"), 404);
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
}
END_TEST

static Suite *
integrity_suite(void)
{
    Suite *s = suite_create("integrity");
    TCase *tc = tcase_create("integrity");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_check_good_and_damaged);
    tcase_add_test(tc, test_server_on_damaged_db);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    good = test_tmp_path("good.db");
    bad = test_tmp_path("bad.db");
    char *fixture = test_tmp_path("fixture.ndjson");
    write_fixture(fixture);
    const char *imp[] = {"import", "--db", good, "--client", "acme", "--account", "shop", "--brand", "WEB", fixture, NULL};
    if (test_cli(imp, NULL, NULL, NULL) != 0)
        return 1;
    test_token_create(good, "acme", "shop", "WEB", tok);
    copy_file(good, bad);
    /* four pages among the big profile's events */
    const double at[] = {0.4, 0.55, 0.7, 0.85};
    overwrite_pages(bad, at, 4);
    int failed = test_run_suite(integrity_suite());
    test_rm_db(good);
    test_rm_db(bad);
    unlink(fixture);
    free(good);
    free(bad);
    free(fixture);
    return failed == 0 ? 0 : 1;
}
