/* test_lb.c -- production behind a load balancer: nginx on 127.0.0.1 in
 * front of two profiled processes sharing one database. Under continuous
 * requests each replica in turn is restarted with SIGTERM (drain): no
 * request fails. A scroll begun on one replica continues on the other.
 * Also: readiness while draining, /metrics, the access log, the config
 * file, X-Forwarded-For from trusted proxies only, and SIGHUP reopening
 * the log. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "testhttp.h"
#include "testutil.h"

#define BASE "/track/intilery/marketing/MARKETING/v1"
#define FIXTURE PROFILED_SOURCE_DIR "/tests/data/fixture.ndjson"

static char *db;
static char tok[128];

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        abort();
    close(fd);
    return ntohs(sa.sin_port);
}

static void
start_replica(test_server_t *s, int port)
{
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    /* test_server_start listens on port 0: give ours after it (flags win) */
    const char *extra[] = {"--listen",     listen, "--drain-delay", "1",       "--threads", "2",       "--workers", "2",
                           "--access-log", "off",  "--rate",        "1000000", "--burst",   "1000000", NULL};
    test_server_start(s, db, extra);
    ck_assert_int_eq(s->port, port);
}

typedef struct {
    pid_t pid;
    char dir[256];
    int port;
} nginx_t;

static void
nginx_start(nginx_t *n, int port_a, int port_b)
{
    snprintf(n->dir, sizeof(n->dir), "/tmp/profiled-nginx-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(n->dir));
    chmod(n->dir, 0755);
    n->port = free_port();
    char conf[512];
    snprintf(conf, sizeof(conf), "%s/nginx.conf", n->dir);
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "%s"
            "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "  access_log off;\n"
            "  client_body_temp_path %s/body; proxy_temp_path %s/proxy; fastcgi_temp_path %s/fcgi;\n"
            "  uwsgi_temp_path %s/uwsgi; scgi_temp_path %s/scgi;\n"
            "  upstream profiled { server 127.0.0.1:%d max_fails=0; server 127.0.0.1:%d max_fails=0;"
            " keepalive 16; }\n"
            "  server {\n"
            "    listen 127.0.0.1:%d;\n"
            "    location / {\n"
            "      proxy_pass http://profiled;\n"
            "      proxy_http_version 1.1;\n"
            "      proxy_set_header Connection \"\";\n"
            "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "      proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;\n"
            "      proxy_next_upstream_tries 3;\n"
            "    }\n"
            "  }\n"
            "}\n",
            geteuid() == 0 ? "user root;\n" : "", n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, n->dir, port_a, port_b, n->port);
    fclose(f);
    n->pid = fork();
    ck_assert_int_ge(n->pid, 0);
    if (n->pid == 0) {
        execlp("nginx", "nginx", "-p", n->dir, "-c", conf, "-e", "stderr", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* wait until it answers */
        test_resp_t r;
        if (test_http(n->port, "GET", "/healthz", NULL, NULL, 0, &r) == 0 && r.status == 200) {
            test_resp_free(&r);
            return;
        }
        test_resp_free(&r);
        usleep(20000);
    }
    ck_abort_msg("nginx did not start");
}

static void
nginx_stop(nginx_t *n)
{
    kill(n->pid, SIGQUIT);
    waitpid(n->pid, NULL, 0);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", n->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", n->dir);
}

/* A child that sends GET traits through nginx until told to stop, then
 * reports "ok failed" on the pipe. */
static pid_t
start_traffic(int port, int *report_fd, int *stop_fd)
{
    int rep[2], stop[2];
    ck_assert_int_eq(pipe(rep), 0);
    ck_assert_int_eq(pipe(stop), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(rep[0]);
        close(stop[1]);
        long ok = 0, failed = 0;
        const char *h[] = {"auth-token", tok, NULL};
        for (;;) {
            struct timeval tv = {0, 0};
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(stop[0], &fds);
            if (select(stop[0] + 1, &fds, NULL, NULL, &tv) > 0)
                break;
            test_resp_t r;
            if (test_http(port, "GET", BASE "/profiles/userId:joe/traits", h, NULL, 0, &r) == 0 && r.status == 200 &&
                strstr(r.body, "\"Joe\"") != NULL)
                ok++;
            else {
                failed++;
                fprintf(stderr, "traffic: failed request: status %d %s\n", r.status, r.body ? r.body : "");
            }
            test_resp_free(&r);
        }
        dprintf(rep[1], "%ld %ld\n", ok, failed);
        _exit(0);
    }
    close(rep[1]);
    close(stop[0]);
    *report_fd = rep[0];
    *stop_fd = stop[1];
    return pid;
}

static int
ready_status(int port)
{
    test_resp_t r;
    int s = test_http(port, "GET", "/readyz", NULL, NULL, 0, &r) == 0 ? r.status : 0;
    test_resp_free(&r);
    return s;
}

static void
rolling_restart(test_server_t *s, int port)
{
    pid_t old = s->pid;
    kill(old, SIGTERM);
    /* draining: readiness fails at once, while requests are still served */
    usleep(100000);
    ck_assert_int_eq(ready_status(port), 503);
    int status;
    ck_assert_int_eq(waitpid(old, &status, 0), old);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "replica did not drain cleanly");
    s->pid = 0;
    start_replica(s, port);
    ck_assert_int_eq(ready_status(port), 200);
    usleep(300000);
}

START_TEST(test_rolling_restart_loses_nothing)
{
    int pa = free_port(), pb = free_port();
    test_server_t a, b;
    start_replica(&a, pa);
    start_replica(&b, pb);
    nginx_t n;
    nginx_start(&n, pa, pb);

    int report, stop;
    pid_t traffic = start_traffic(n.port, &report, &stop);
    usleep(500000);
    rolling_restart(&a, pa);
    rolling_restart(&b, pb);
    usleep(300000);
    ck_assert_int_eq(write(stop, "x", 1), 1);
    char buf[64] = "";
    ck_assert_int_gt(read(report, buf, sizeof(buf) - 1), 0);
    waitpid(traffic, NULL, 0);
    long ok = 0, failed = -1;
    ck_assert_int_eq(sscanf(buf, "%ld %ld", &ok, &failed), 2);
    fprintf(stderr, "rolling restart: %ld requests answered, %ld failed\n", ok, failed);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_gt(ok, 50);

    /* a scroll begun on one replica continues on the other */
    test_resp_t r;
    json_object *j = test_get(pa, BASE "/profiles/userId:joe/events?limit=1&sort=asc", tok, &r);
    ck_assert_int_eq(r.status, 200);
    char scroll[1024], uri[1280];
    snprintf(scroll, sizeof(scroll), "%s", test_jstr(j, "scrollId"));
    ck_assert_str_eq(test_jstr(j, "data.0.eventId"), "m-joe-page-1");
    json_object_put(j);
    test_resp_free(&r);
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:joe/events?scrollId=%s", scroll);
    j = test_get(pb, uri, tok, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "data.0.eventId"), "b5148168-928f-4f61-9a3d-ff1be6da5820");
    snprintf(uri, sizeof(uri), BASE "/profiles/userId:joe/events?scrollId=%s", test_jstr(j, "scrollId"));
    json_object_put(j);
    test_resp_free(&r);
    j = test_get(n.port, uri, tok, &r); /* and through the balancer */
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_jstr(j, "data.0.eventId"), "4b7c99d4-0714-41e0-b285-1ef300634984");
    json_object_put(j);
    test_resp_free(&r);

    nginx_stop(&n);
    test_server_stop(&a);
    test_server_stop(&b);
}
END_TEST

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

START_TEST(test_ops_endpoints_log_and_config_file)
{
    char *dir = test_tmp_path("ops");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    char logpath[512], conf[512], moved[512];
    snprintf(logpath, sizeof(logpath), "%s/access.log", dir);
    snprintf(moved, sizeof(moved), "%s/access.log.1", dir);
    snprintf(conf, sizeof(conf), "%s/profiled.conf", dir);
    FILE *f = fopen(conf, "w");
    /* settings from the file; 127.0.0.1 is a trusted proxy */
    fprintf(f,
            "# profiled test config\nthreads = 1\nworkers = 1\naccess-log = %s\ntrusted-proxy = 127.0.0.1, 10.0.0.0/8\n"
            "rate = 1000\nburst = \"2000\"\n",
            logpath);
    fclose(f);
    test_server_t s;
    const char *extra[] = {"--config", conf, NULL};
    test_server_start(&s, db, extra);

    test_resp_t r;
    const char *h[] = {"auth-token", tok, "X-Forwarded-For", "203.0.113.7, 10.1.2.3", NULL};
    ck_assert_int_eq(test_http(s.port, "GET", BASE "/profiles/userId:joe/traits", h, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(test_header(&r, "X-RateLimit-Limit"), "2000"); /* from the file */
    test_resp_free(&r);
    ck_assert_int_eq(test_http(s.port, "GET", BASE "/profiles/userId:nobody/traits", h, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 404);
    test_resp_free(&r);
    ck_assert_int_eq(ready_status(s.port), 200);

    ck_assert_int_eq(test_http(s.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(test_header(&r, "Content-Type"), "text/plain"));
    ck_assert_ptr_nonnull(strstr(r.body,
                                 "profiled_requests_total{route=\"/track/{client}/{account}/{brand}/v1/profiles/{profile}/traits\","
                                 "status=\"200\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "status=\"404\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(r.body,
                                 "profiled_request_duration_seconds_bucket{route=\"/track/{client}/{account}/{brand}/v1/profiles/"
                                 "{profile}/traits\",le=\"+Inf\"} 2\n"));
    const char *names[] = {"profiled_rate_limited_total",
                           "profiled_job_queue_depth",
                           "profiled_worker_busy_seconds_total",
                           "profiled_open_connections",
                           "profiled_worker_commits_total 0\n",
                           "profiled_ingest_batch_messages_count",
                           "profiled_ingest_commit_seconds",
                           "profiled_database_bytes{file=\"db\"}",
                           NULL};
    for (int i = 0; names[i] != NULL; i++)
        ck_assert_msg(strstr(r.body, names[i]) != NULL, "metrics lack %s", names[i]);
    ck_assert_ptr_null(strstr(r.body, "joe")); /* no tenant data */
    test_resp_free(&r);

    /* the access log: one JSON line per request, route pattern not path */
    char *log = slurp(logpath);
    ck_assert_ptr_nonnull(strstr(log, "\"client\":\"203.0.113.7\"")); /* trusted hops skipped */
    ck_assert_ptr_nonnull(strstr(log, "\"route\":\"/track/{client}/{account}/{brand}/v1/profiles/{profile}/traits\""));
    ck_assert_ptr_nonnull(strstr(log, "\"tenant\":\"intilery/marketing/MARKETING\""));
    ck_assert_ptr_nonnull(strstr(log, "\"status\":404"));
    ck_assert_ptr_null(strstr(log, "nobody")); /* ids are not logged */
    ck_assert_ptr_null(strstr(log, tok));
    free(log);

    /* SIGHUP reopens the log (rotation) */
    ck_assert_int_eq(rename(logpath, moved), 0);
    kill(s.pid, SIGHUP);
    usleep(200000);
    ck_assert_int_eq(ready_status(s.port), 200);
    log = slurp(logpath);
    ck_assert_ptr_nonnull(strstr(log, "/readyz"));
    free(log);
    test_server_stop(&s);
    free(dir);
}
END_TEST

START_TEST(test_untrusted_forwarded_for_ignored)
{
    char *logpath = test_tmp_path("access.log");
    test_server_t s;
    const char *extra[] = {"--access-log", logpath, "--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, extra);
    const char *h[] = {"X-Forwarded-For", "198.51.100.1", NULL};
    test_resp_t r;
    ck_assert_int_eq(test_http(s.port, "GET", "/healthz", h, NULL, 0, &r), 0);
    test_resp_free(&r);
    test_server_stop(&s);
    char *log = slurp(logpath);
    ck_assert_ptr_nonnull(strstr(log, "\"client\":\"127.0.0.1\""));
    ck_assert_ptr_null(strstr(log, "198.51.100.1"));
    free(log);
    free(logpath);
}
END_TEST

START_TEST(test_metrics_listener_and_bad_config)
{
    int mport = free_port();
    char ml[64];
    snprintf(ml, sizeof(ml), "127.0.0.1:%d", mport);
    test_server_t s;
    const char *extra[] = {"--metrics-listen", ml, "--threads", "1", "--workers", "1", NULL};
    test_server_start(&s, db, extra);
    test_resp_t r;
    ck_assert_int_eq(test_http(mport, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
    ck_assert_int_eq(test_http(s.port, "GET", "/metrics", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 404); /* only on the operations address */
    test_resp_free(&r);
    ck_assert_int_eq(test_http(mport, "GET", BASE "/profiles/userId:joe/traits", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 404); /* no tenant data there */
    test_resp_free(&r);
    ck_assert_int_eq(ready_status(mport), 200);
    test_server_stop(&s);

    /* invalid settings stop startup, naming the setting */
    const char *bad[][3] = {{"--threads", "-1", "threads"},
                            {"--sync", "sometimes", "sync"},
                            {"--trusted-proxy", "10.0.0.0/99", "trusted-proxy"},
                            {"--listen", "nowhere", "listen"},
                            {"--drain-delay", "x", "drain-delay"},
                            {"--bogus", "1", "bogus"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *err = NULL;
        const char *argv[] = {"serve", "--db", db, bad[i][0], bad[i][1], NULL};
        ck_assert_int_eq(test_cli(argv, NULL, NULL, &err), 2);
        ck_assert_msg(strstr(err, bad[i][2]) != NULL, "%s: %s", bad[i][0], err);
        free(err);
    }
    char *out = NULL;
    const char *help[] = {"serve", "--help", NULL};
    ck_assert_int_eq(test_cli(help, NULL, &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "PROFILED_DRAIN_DELAY"));
    free(out);
}
END_TEST

static Suite *
lb_suite(void)
{
    Suite *s = suite_create("lb");
    TCase *tc = tcase_create("lb");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rolling_restart_loses_nothing);
    tcase_add_test(tc, test_ops_endpoints_log_and_config_file);
    tcase_add_test(tc, test_untrusted_forwarded_for_ignored);
    tcase_add_test(tc, test_metrics_listener_and_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("lb.db");
    const char *imp[] = {"import",    "--db",    db,          "--client", "intilery", "--account",
                         "marketing", "--brand", "MARKETING", FIXTURE,    NULL};
    if (test_cli(imp, NULL, NULL, NULL) != 0)
        return 1;
    test_token_create(db, "intilery", "marketing", "MARKETING", tok);
    int failed = test_run_suite(lb_suite());
    test_rm_db(db);
    free(db);
    return failed == 0 ? 0 : 1;
}
