/* test_hardening_conn.c -- the HTTP connection layer under abuse (issue 18,
 * items 4-6): a client that never reads a large answer loses its connection
 * after --write-timeout-ms and the bytes held for it are given back, with
 * --unsent-limit-mb bounding them meanwhile; running out of file
 * descriptors pauses accepting instead of spinning; request smuggling
 * (conflicting Content-Length, Content-Length with chunked), a missing Host
 * and gzip with trailing bytes get 400, the first two with the connection
 * closed. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/intilery/marketing/CONN/v1"

static test_server_t srv;
static char *db;
static char tok[128]; /* intilery/marketing/CONN */

static int
connect_loopback(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void
send_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        ck_assert_int_gt((int)w, 0);
        off += (size_t)w;
    }
}

/* Reads until the peer closes (*closed = 1) or nothing comes for
 * timeout_ms (*closed = 0). Returns the bytes read (NUL-terminated). */
static size_t
read_until_close(int fd, char *buf, size_t cap, int timeout_ms, int *closed)
{
    size_t got = 0;
    *closed = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, timeout_ms) > 0) {
        char scratch[65536];
        ssize_t r = read(fd, scratch, sizeof(scratch));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *closed = 1; /* EOF or reset */
            break;
        }
        size_t keep = got + (size_t)r < cap ? (size_t)r : cap - 1 - got;
        memcpy(buf + got, scratch, keep);
        got += keep;
    }
    buf[got] = '\0';
    return got;
}

/* Sends raw bytes on a new connection; the answer is in buf. */
static size_t
raw_exchange(const char *data, char *buf, size_t cap, int *closed)
{
    int fd = connect_loopback(srv.port, 0);
    send_all(fd, data, strlen(data));
    size_t n = read_until_close(fd, buf, cap, 3000, closed);
    close(fd);
    return n;
}

static int
count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* One 400 answer with the JSON error body and Connection: close; nothing
 * after it; the server closed the connection. */
static void
assert_one_400_and_closed(const char *request)
{
    char buf[8192];
    int closed;
    raw_exchange(request, buf, sizeof(buf), &closed);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "got: %s", buf);
    ck_assert_msg(count_of(buf, "HTTP/1.") == 1, "the smuggled request was answered: %s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "\"code\":\"invalid_request_error\""));
    ck_assert_ptr_nonnull(strcasestr(buf, "\r\nconnection: close\r\n"));
    ck_assert_msg(closed, "the connection stayed open");
}

START_TEST(test_two_content_lengths)
{
    assert_one_400_and_closed("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n"
                              "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_one_400_and_closed("POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                              "Content-Length: 39\r\n\r\n{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    /* the same value twice is one length (RFC 9112 6.3): served */
    char buf[8192];
    int closed;
    raw_exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", buf,
                 sizeof(buf), &closed);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "got: %s", buf);
}
END_TEST

START_TEST(test_content_length_with_chunked)
{
    assert_one_400_and_closed("POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_one_400_and_closed("POST /v1/batch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                              "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
}
END_TEST

START_TEST(test_keep_alive_still_works)
{
    char buf[8192];
    int closed;
    raw_exchange("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
                 sizeof(buf), &closed);
    ck_assert_int_eq(count_of(buf, "HTTP/1.1 200 "), 2);
    ck_assert(closed);
}
END_TEST

START_TEST(test_host_required)
{
    char buf[8192];
    int closed;
    raw_exchange("GET /healthz HTTP/1.1\r\n\r\n", buf, sizeof(buf), &closed);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "got: %s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "\"code\":\"invalid_request_error\""));
    ck_assert_ptr_nonnull(strstr(buf, "Host"));
    raw_exchange("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", buf, sizeof(buf), &closed);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "got: %s", buf);
    /* HTTP/1.0 has no Host requirement */
    raw_exchange("GET /healthz HTTP/1.0\r\n\r\n", buf, sizeof(buf), &closed);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "got: %s", buf);
}
END_TEST

START_TEST(test_gzip_trailing_bytes)
{
    const char *body = "{\"batch\":[{\"type\":\"identify\",\"userId\":\"gz-t\",\"traits\":{\"plan\":\"pro\"}}]}";
    unsigned char z[1024];
    size_t n = test_gzip_body(body, strlen(body), z, sizeof(z) - 16);
    const char *h[] = {"auth-token", tok, "content-encoding", "gzip", NULL};
    test_resp_t r;
    memcpy(z + n, "GARBAGE", 7);
    json_object *j = test_post(srv.port, BASE "/batch", h, (const char *)z, n + 7, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
    /* one NUL byte after the stream is trailing bytes too */
    z[n] = '\0';
    j = test_post(srv.port, BASE "/batch", h, (const char *)z, n + 1, &r);
    test_assert_error(&r, j, 400, "invalid_request_error");
    json_object_put(j);
    test_resp_free(&r);
    j = test_get(srv.port, BASE "/profiles/userId:gz-t/traits", tok, &r);
    ck_assert_int_eq(r.status, 404); /* nothing stored */
    json_object_put(j);
    test_resp_free(&r);
    /* the stream alone is fine */
    j = test_post(srv.port, BASE "/batch", h, (const char *)z, n, &r);
    ck_assert_int_eq(r.status, 200);
    json_object_put(j);
    test_resp_free(&r);
}
END_TEST

/* A metric's value in the Prometheus text of /metrics (-1: absent). */
static long long
metric(int port, const char *name)
{
    test_resp_t r;
    long long v = -1;
    if (test_http(port, "GET", "/metrics", NULL, NULL, 0, &r) != 0)
        return -1;
    size_t nlen = strlen(name);
    for (const char *p = r.body; p != NULL && *p != '\0';) {
        if (strncmp(p, name, nlen) == 0 && p[nlen] == ' ') {
            v = atoll(p + nlen + 1);
            break;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    test_resp_free(&r);
    return v;
}

/* The kernel's largest TCP send buffer (the third field of tcp_wmem): an
 * answer must pass it for the server to hold any of it. */
static long
tcp_wmem_max(void)
{
    long lo = 0, def = 0, hi = 4194304;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld %ld", &lo, &def, &hi) != 3)
            hi = 4194304;
        fclose(f);
    }
    return hi;
}

/* A profile whose traits answer is about 720 KB a batch: batches x 24
 * traits of 30,000 bytes. */
static void
ingest_big_profile(int port, const char *token, int batches)
{
    const int per_batch = 24, value_len = 30000;
    size_t cap = (size_t)per_batch * (value_len + 200) + 64;
    char *body = malloc(cap);
    char *value = malloc((size_t)value_len + 1);
    memset(value, 'v', (size_t)value_len);
    value[value_len] = '\0';
    for (int b = 0; b < batches; b++) {
        size_t o = (size_t)snprintf(body, cap, "{\"batch\":[");
        for (int i = 0; i < per_batch; i++)
            o += (size_t)snprintf(body + o, cap - o, "%s{\"type\":\"identify\",\"userId\":\"big\",\"traits\":{\"t%d\":\"%s\"}}",
                                  i ? "," : "", b * per_batch + i, value);
        o += (size_t)snprintf(body + o, cap - o, "]}");
        const char *h[] = {"auth-token", token, "content-type", "application/json", NULL};
        test_resp_t r;
        json_object *j = test_post(port, BASE "/batch", h, body, o, &r);
        ck_assert_msg(r.status == 200, "ingest: %d %s", r.status, r.body);
        json_object_put(j);
        test_resp_free(&r);
    }
    free(value);
    free(body);
}

START_TEST(test_slow_reader_is_cut_off)
{
    char *db2 = test_tmp_path("slow.db");
    char t2[128];
    test_token_create(db2, "intilery", "marketing", "CONN", t2);
    /* an answer of about 2.9 MB past what the kernel's send buffer can
     * take, and a bound between one and two of them */
    int batches = (int)((tcp_wmem_max() + 2900000) / 720000) + 1;
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", (int)((long)batches * 720000 * 3 / 2 / (1 << 20)));
    const char *extra[] = {"--threads", "1", "--write-timeout-ms", "4000", "--unsent-limit-mb", limit, "--compress-min-size",
                           "0",         NULL};
    test_server_t s2;
    test_server_start(&s2, db2, extra);
    ingest_big_profile(s2.port, t2, batches);

    test_resp_t r;
    json_object *j = test_get(s2.port, BASE "/profiles/userId:big/traits", t2, &r);
    ck_assert_int_eq(r.status, 200);
    size_t answer = r.len;
    ck_assert_int_gt((int)answer, batches * 700000);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(metric(s2.port, "profiled_unsent_answer_bytes"), 0);

    /* a client that asks and never reads, with a small receive window */
    int slow = connect_loopback(s2.port, 4096);
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s/profiles/userId:big/traits HTTP/1.1\r\nHost: x\r\nauth-token: %s\r\n\r\n", BASE, t2);
    send_all(slow, req, (size_t)n);
    long long held = 0;
    for (int i = 0; i < 200 && held <= 0; i++) {
        held = metric(s2.port, "profiled_unsent_answer_bytes");
        if (held <= 0)
            usleep(10000);
    }
    ck_assert_int_eq(held, (long long)answer);

    /* meanwhile a second such answer would pass the bound: 503 */
    j = test_get(s2.port, BASE "/profiles/userId:big/traits", t2, &r);
    test_assert_error(&r, j, 503, "internal_server_error");
    json_object_put(j);
    test_resp_free(&r);
    /* small answers still flow */
    j = test_get(s2.port, "/healthz", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    json_object_put(j);
    test_resp_free(&r);

    /* the write timeout closes the connection and gives the bytes back */
    for (int i = 0; i < 1000 && held != 0; i++) {
        usleep(20000);
        held = metric(s2.port, "profiled_unsent_answer_bytes");
    }
    ck_assert_int_eq(held, 0);
    ck_assert_int_eq(metric(s2.port, "profiled_write_timeouts_total"), 1);
    char *buf = malloc(answer + 1);
    int closed;
    size_t got = read_until_close(slow, buf, answer + 1, 5000, &closed);
    ck_assert_msg(closed, "the slow connection is still open");
    ck_assert_int_lt((int)got, (int)answer);
    free(buf);
    close(slow);

    /* and the large answer is served again */
    j = test_get(s2.port, BASE "/profiles/userId:big/traits", t2, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq((int)r.len, (int)answer);
    json_object_put(j);
    test_resp_free(&r);
    ck_assert_int_eq(test_server_stop(&s2), 0);
    test_rm_db(db2);
    free(db2);
}
END_TEST

/* utime + stime of a process, in clock ticks. */
static long long
cpu_ticks(pid_t pid)
{
    char path[64], line[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    const char *p = strrchr(line, ')'); /* the command may hold spaces */
    ck_assert_ptr_nonnull(p);
    long long utime = 0, stime = 0;
    /* after ")": state (3) ... utime is field 14, stime 15 */
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &utime, &stime), 2);
    return utime + stime;
}

START_TEST(test_descriptor_exhaustion)
{
    char *db2 = test_tmp_path("fds.db");
    char t2[128];
    test_token_create(db2, "intilery", "marketing", "CONN", t2);
    const char *extra[] = {"--threads", "1", "--workers", "1", NULL};
    test_server_t s2;
    /* the server inherits a 64-descriptor limit; the test keeps its own */
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 64;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    test_server_start(&s2, db2, extra);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);

    enum { NCONN = 100 };
    int fds[NCONN];
    const char *hz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < NCONN; i++) {
        fds[i] = connect_loopback(s2.port, 0);
        send_all(fds[i], hz, strlen(hz));
    }
    usleep(300000);
    long long t0 = cpu_ticks(s2.pid);
    sleep(2);
    long long used = cpu_ticks(s2.pid) - t0;
    long hz_ticks = sysconf(_SC_CLK_TCK);
    /* a spinning accept loop burns about 2 s; idle is near 0 */
    ck_assert_msg(used * 10 < 3 * hz_ticks, "server used %lld ticks (of %ld/s) in 2 s with descriptors exhausted", used, hz_ticks);
    int answered = 0;
    for (int i = 0; i < NCONN; i++) {
        struct pollfd p = {fds[i], POLLIN, 0};
        if (poll(&p, 1, 0) > 0)
            answered++;
        close(fds[i]);
    }
    ck_assert_int_gt(answered, 0);
    ck_assert_int_lt(answered, NCONN);

    /* descriptors free again: a new client is served */
    test_resp_t r;
    int ok = -1;
    for (int i = 0; i < 100 && ok != 0; i++) {
        ok = test_http(s2.port, "GET", "/healthz", NULL, NULL, 0, &r);
        if (ok == 0 && r.status != 200)
            ok = -1;
        test_resp_free(&r);
    }
    ck_assert_int_eq(ok, 0);
    ck_assert_int_ge(metric(s2.port, "profiled_accept_paused_total"), 1);
    test_server_stop(&s2);
    test_rm_db(db2);
    free(db2);
}
END_TEST

static Suite *
conn_suite(void)
{
    Suite *s = suite_create("hardening_conn");
    TCase *tc = tcase_create("conn");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_two_content_lengths);
    tcase_add_test(tc, test_content_length_with_chunked);
    tcase_add_test(tc, test_keep_alive_still_works);
    tcase_add_test(tc, test_host_required);
    tcase_add_test(tc, test_gzip_trailing_bytes);
    tcase_add_test(tc, test_slow_reader_is_cut_off);
    tcase_add_test(tc, test_descriptor_exhaustion);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("conn.db");
    test_token_create(db, "intilery", "marketing", "CONN", tok);
    const char *extra[] = {"--threads", "2", "--workers", "2", NULL};
    test_server_start(&srv, db, extra);
    int failed = test_run_suite(conn_suite());
    test_server_stop(&srv);
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
