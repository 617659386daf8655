/* test_bench_load.c -- profiled-load's accounting by kind (bench/tally.c,
 * compiled in here): an ingest answer never lands in the reads histogram and
 * the parts add up to the total; then the real profiled-load binary against a
 * stub server this test runs on an ephemeral loopback port, with and without
 * --ingest-connections: its JSON's reads and ingest add up to the totals,
 * agree with what the stub answered, and with the split no connection
 * carries both. Counted, never timed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../bench/hist.c"
#include "../../bench/tally.c"
#include "testutil.h"

START_TEST(test_tally_by_kind)
{
    load_result_t r;
    load_result_init(&r);
    load_tally_completed(&r, OP_TRAITS_USER, 100);
    load_tally_latency(&r, OP_TRAITS_USER, 1000, 900);
    load_tally_completed(&r, OP_INGEST, 40);
    load_tally_latency(&r, OP_INGEST, 5000000, 4000000);
    load_tally_latency(&r, OP_METADATA, 2000, -1); /* never answered */
    load_tally_completed(&r, OP_EVENTS_FIRST, 7);

    ck_assert_uint_eq(r.completed, 3);
    ck_assert_uint_eq(r.bytes_in, 147);
    ck_assert_uint_eq(r.kind_completed[KIND_READS], 2);
    ck_assert_uint_eq(r.kind_completed[KIND_INGEST], 1);
    ck_assert_uint_eq(r.op_completed[OP_TRAITS_USER], 1);
    ck_assert_uint_eq(r.op_completed[OP_EVENTS_FIRST], 1);
    ck_assert_uint_eq(r.op_completed[OP_INGEST], 1);

    ck_assert_uint_eq(r.latency->total, 3);
    ck_assert_uint_eq(r.service->total, 2);
    ck_assert_uint_eq(r.kind_latency[KIND_READS]->total, 2);
    ck_assert_uint_eq(r.kind_latency[KIND_READS]->max, 2000);
    ck_assert_uint_eq(r.kind_latency[KIND_READS]->min, 1000);
    ck_assert_uint_eq(r.kind_latency[KIND_INGEST]->total, 1);
    ck_assert_uint_eq(r.kind_latency[KIND_INGEST]->min, 5000000);
    ck_assert_uint_eq(r.latency->max, 5000000);
    ck_assert_uint_eq(r.op_latency[OP_METADATA]->total, 1);
    ck_assert_uint_eq(r.op_latency[OP_INGEST]->total, 1);
    ck_assert_uint_eq(load_kind_of(OP_SCROLL), KIND_READS);
    ck_assert_uint_eq(load_kind_of(OP_BATCH_TRAITS), KIND_READS);
    ck_assert_uint_eq(load_kind_of(OP_INGEST), KIND_INGEST);
    load_result_dispose(&r);
}
END_TEST

/* ---- the stub server: 200 {} to every request, counts by method and
 * connection ---- */

#define STUB_MAX 16

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
    unsigned gets, posts;
} stub_conn_t;

typedef struct {
    int lfd, port;
    atomic_int stop;
    pthread_t thread;
    stub_conn_t conns[STUB_MAX];
    int nconns_seen; /* connections accepted */
    unsigned gets, posts;
} stub_t;

/* Answers every whole request at the front of c's buffer. */
static void
stub_serve(stub_t *s, stub_conn_t *c)
{
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end == NULL)
            return;
        size_t head = (size_t)(end - c->buf) + 4, body = 0;
        for (char *p = c->buf; p < end; p++) {
            if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
                body = strtoul(p + 15, NULL, 10);
        }
        if (c->len < head + body)
            return;
        if (strncmp(c->buf, "POST ", 5) == 0)
            c->posts++, s->posts++;
        else
            c->gets++, s->gets++;
        memmove(c->buf, c->buf + head + body, c->len - head - body);
        c->len -= head + body;
        (void)send(c->fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL);
    }
}

static void *
stub_main(void *arg)
{
    stub_t *s = arg;
    int rounds_after_stop = 0;
    for (;;) {
        struct pollfd pf[STUB_MAX + 1];
        int map[STUB_MAX + 1], n = 0, open = 0;
        pf[n].fd = s->lfd, pf[n].events = POLLIN, map[n++] = -1;
        for (int i = 0; i < STUB_MAX; i++) {
            if (s->conns[i].fd >= 0) {
                pf[n].fd = s->conns[i].fd, pf[n].events = POLLIN, map[n++] = i;
                open++;
            }
        }
        /* stopped: drain what the (exited) client sent, up to EOF, bounded */
        if (atomic_load(&s->stop) && (open == 0 || ++rounds_after_stop > 500))
            return NULL;
        if (poll(pf, (nfds_t)n, 20) <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            int fd = accept(s->lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < STUB_MAX && fd >= 0 && slot < 0; i++)
                slot = s->conns[i].fd < 0 && s->conns[i].buf == NULL ? i : -1;
            if (slot < 0) {
                if (fd >= 0)
                    close(fd);
            } else {
                s->conns[slot].fd = fd;
                s->nconns_seen++;
            }
        }
        for (int k = 1; k < n; k++) {
            if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            stub_conn_t *c = &s->conns[map[k]];
            if (c->cap - c->len < 65536) {
                c->cap = c->cap ? c->cap * 2 : 131072;
                if ((c->buf = realloc(c->buf, c->cap)) == NULL)
                    abort();
            }
            ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
            if (got <= 0) {
                close(c->fd);
                c->fd = -1; /* buf stays: the slot is not reused */
                continue;
            }
            c->len += (size_t)got;
            stub_serve(s, c);
        }
    }
}

static void
stub_start(stub_t *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < STUB_MAX; i++)
        s->conns[i].fd = -1;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->lfd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->lfd, 64), 0);
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, stub_main, s), 0);
}

static void
stub_stop(stub_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    for (int i = 0; i < STUB_MAX; i++) {
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
        free(s->conns[i].buf);
    }
}

/* Runs profiled-load with args (NULL-ended) plus --url and --json; returns
 * its exit status. */
static int
run_load(int port, const char *json, const char *const *args)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    const char *argv[48] = {PROFILED_LOAD_BIN, "--url", url, "--json", json, "--quiet"};
    int n = 6;
    for (; *args != NULL && n < 47; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        execv(PROFILED_LOAD_BIN, (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int64_t
jint(json_object *o, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
    return json_object_get_int64(v);
}

static int64_t
op_field(json_object *root, const char *op, const char *key)
{
    json_object *ops, *one;
    ck_assert(json_object_object_get_ex(root, "ops", &ops));
    if (!json_object_object_get_ex(ops, op, &one))
        return 0;
    return jint(one, key);
}

static const char *const MIX_ARGS[] = {"--scenario",    "mix",    "--mix",      "traits-user=3,metadata=1,ingest=1",
                                       "--check",       "status", "--duration", "2",
                                       "--warmup",      "0.2",    "--drain",    "5",
                                       "--connections", "4",      "--batch",    "5"};
#define NMIX (sizeof(MIX_ARGS) / sizeof(MIX_ARGS[0]))

/* One run against the stub; checks what holds with or without the split and
 * leaves the JSON in *root and the stub's counts in *s. */
static void
mix_run(stub_t *s, const char *extra, const char *extra_value, json_object **root)
{
    char *json = test_tmp_path("load.json");
    const char *args[NMIX + 3];
    size_t n = 0;
    for (; n < NMIX; n++)
        args[n] = MIX_ARGS[n];
    if (extra != NULL)
        args[n++] = extra, args[n++] = extra_value;
    args[n] = NULL;
    stub_start(s);
    int rc = run_load(s->port, json, args);
    stub_stop(s);
    ck_assert_int_eq(rc, 0);
    *root = json_object_from_file(json);
    ck_assert_ptr_nonnull(*root);
    unlink(json);
    free(json);

    json_object *r = *root;
    int64_t reads = jint(r, "reads_requests"), ingest = jint(r, "ingest_requests");
    ck_assert_int_gt(reads, 0);
    ck_assert_int_gt(ingest, 0);
    ck_assert_int_eq(reads + ingest, jint(r, "requests"));
    int64_t reads_n = jint(r, "reads_count"), ingest_n = jint(r, "ingest_count");
    ck_assert_int_gt(reads_n, 0);
    ck_assert_int_gt(ingest_n, 0);
    ck_assert_int_eq(reads_n + ingest_n, jint(r, "count"));
    /* by op: reads are traits-user and metadata, ingest is ingest alone */
    ck_assert_int_eq(op_field(r, "traits-user", "requests") + op_field(r, "metadata", "requests"), reads);
    ck_assert_int_eq(op_field(r, "traits-user", "count") + op_field(r, "metadata", "count"), reads_n);
    ck_assert_int_eq(op_field(r, "ingest", "requests"), ingest);
    ck_assert_int_eq(op_field(r, "ingest", "count"), ingest_n);
    ck_assert_int_eq(op_field(r, "events-first", "count"), 0);
    /* no more measured than the stub answered, of each method */
    ck_assert_int_le(reads_n, (int64_t)s->gets);
    ck_assert_int_le(ingest_n, (int64_t)s->posts);
    ck_assert_int_le(reads, (int64_t)s->gets);
    ck_assert_int_le(ingest, (int64_t)s->posts);
    ck_assert_int_eq(jint(r, "errors"), 0);
}

START_TEST(test_mix_shared_connections)
{
    stub_t s;
    json_object *root;
    mix_run(&s, NULL, NULL, &root);
    ck_assert_int_eq(jint(root, "ingest_connections"), 0);
    json_object_put(root);
}
END_TEST

START_TEST(test_mix_ingest_connections)
{
    stub_t s;
    json_object *root;
    mix_run(&s, "--ingest-connections", "1", &root);
    ck_assert_int_eq(jint(root, "ingest_connections"), 1);
    ck_assert_int_eq(s.nconns_seen, 4);
    int with_posts = 0;
    for (int i = 0; i < STUB_MAX; i++) {
        const stub_conn_t *c = &s.conns[i];
        ck_assert_msg(c->gets == 0 || c->posts == 0, "connection %d carried %u GETs and %u POSTs", i, c->gets, c->posts);
        with_posts += c->posts > 0;
    }
    ck_assert_int_eq(with_posts, 1);
    /* paced to the mix: one batch for every 4 reads sent at most (the
     * reads in flight on the 3 read connections as slack) */
    ck_assert_int_le((int64_t)s.posts * 4, (int64_t)s.gets + 3);
    json_object_put(root);
}
END_TEST

START_TEST(test_ingest_connections_refused)
{
    char *json = test_tmp_path("bad.json");
    const char *rate[] = {"--scenario", "mix", "--ingest-connections", "1", "--rate", "100", NULL};
    const char *all[] = {"--scenario", "mix", "--ingest-connections", "4", "--connections", "4", NULL};
    const char *single[] = {"--scenario", "traits-user", "--ingest-connections", "1", NULL};
    const char *noingest[] = {"--scenario", "mix", "--mix", "traits-user=1,metadata=1", "--ingest-connections", "1", NULL};
    ck_assert_int_eq(run_load(1, json, rate), 2);
    ck_assert_int_eq(run_load(1, json, all), 2);
    ck_assert_int_eq(run_load(1, json, single), 2);
    ck_assert_int_eq(run_load(1, json, noingest), 2);
    ck_assert_int_ne(access(json, F_OK), 0);
    free(json);
}
END_TEST

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("bench_load");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tally_by_kind);
    tcase_add_test(tc, test_mix_shared_connections);
    tcase_add_test(tc, test_mix_ingest_connections);
    tcase_add_test(tc, test_ingest_connections_refused);
    suite_add_tcase(s, tc);
    return test_run_suite(s) ? 1 : 0;
}
