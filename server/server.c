/* server.c -- `profiled serve`: opens (and migrates) the database, starts
 * the worker pool, one h2o event loop per thread each with its own
 * SO_REUSEPORT listener, and a thread that reloads the token table when it
 * changes. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include "server.h"

int64_t
now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits "host:port" / "[v6]:port". */
static int
split_addr(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return -1;
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n >= hlen || strlen(colon + 1) >= plen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/* Creates a listening socket with SO_REUSEPORT; port 0 takes any port. */
static int
open_listener(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rv = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
    if (rv != 0) {
        snprintf(err, errlen, "cannot resolve listen address '%s': %s", host, gai_strerror(rv));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%s: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    loop_t *loop = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&loop->accept_ctx, sock);
}

static void *
loop_main(void *arg)
{
    loop_t *loop = arg;
    server_t *srv = loop->srv;
    h2o_context_init(&loop->ctx, h2o_evloop_create(), &srv->h2o_config);
    pool_loop_init(loop);
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = srv->h2o_config.hosts;
    loop->listener = h2o_evloop_socket_create(loop->ctx.loop, loop->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    loop->listener->data = loop;
    h2o_socket_read_start(loop->listener, on_accept);
    /* h2o_evloop_run returns -1 on EINTR: keep going */
    for (;;)
        h2o_evloop_run(loop->ctx.loop, INT32_MAX);
    return NULL;
}

typedef struct {
    auth_table_t *table;
    int64_t at_ms;
} retired_t;

/* Polls the token table's generation and swaps in a new table when it
 * changed. An old table is freed only after a grace period far longer than
 * any use of it (a loop thread reads it within one dispatch). */
static void *
reload_main(void *arg)
{
    server_t *srv = arg;
    storage_t *st = NULL;
    char err[256];
    int64_t last_gen = srv->tokens_gen;
    retired_t retired[64];
    size_t nretired = 0;
    if (storage_open(&st, srv->cfg.db, STORAGE_READONLY, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled: token reloader: %s\n", err);
        return NULL;
    }
    for (;;) {
        struct timespec ts = {srv->cfg.token_reload_ms / 1000, (long)(srv->cfg.token_reload_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        int64_t gen;
        if (storage_token_generation(st, &gen) != 0) {
            fprintf(stderr, "profiled: token reloader: %s\n", storage_errmsg(st));
            continue;
        }
        int64_t now = now_wall_ms();
        while (nretired > 0 && now - retired[0].at_ms > 30000) {
            auth_table_free(retired[0].table);
            memmove(retired, retired + 1, (--nretired) * sizeof(retired[0]));
        }
        if (gen == last_gen || nretired == sizeof(retired) / sizeof(retired[0]))
            continue;
        auth_table_t *old = atomic_load(&srv->tokens), *fresh = NULL;
        if (auth_table_load(st, srv->cfg.token_pepper, old, &fresh) != AUTH_OK) {
            fprintf(stderr, "profiled: token reloader: %s\n", storage_errmsg(st));
            continue;
        }
        atomic_store_explicit(&srv->tokens, fresh, memory_order_release);
        retired[nretired++] = (retired_t){old, now};
        last_gen = gen;
    }
    return NULL;
}

int
server_main(int argc, char **argv)
{
    static server_t srv; /* lives for the process: loop threads never return */
    char err[512];
    int rv = config_load(&srv.cfg, argc, argv, stdout, stderr);
    if (rv != 0)
        return rv > 0 ? 0 : 2;

    storage_t *st = NULL;
    if (storage_open(&st, srv.cfg.db, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled: db: %s\n", err);
        return 1;
    }
    auth_table_t *tokens = NULL;
    int64_t gen;
    if (storage_token_generation(st, &gen) != 0 || auth_table_load(st, srv.cfg.token_pepper, NULL, &tokens) != AUTH_OK) {
        fprintf(stderr, "profiled: db: cannot load tokens: %s\n", storage_errmsg(st));
        return 1;
    }
    storage_close(st);
    atomic_store(&srv.tokens, tokens);
    srv.tokens_gen = gen;

    ratelimit_policy_init(&srv.default_policy, srv.cfg.rate, (uint32_t)srv.cfg.burst);
    ratelimit_policy_init(&srv.ingest_policy, srv.cfg.ingest_rate, (uint32_t)srv.cfg.ingest_burst);
    srv.addr_limits = ratelimit_table_new((size_t)srv.cfg.ratelimit_keys);
    if (srv.addr_limits == NULL)
        abort();
    if (RAND_bytes((unsigned char *)&srv.instance_id, sizeof(srv.instance_id)) != 1)
        srv.instance_id = (uint64_t)now_wall_ms() ^ ((uint64_t)getpid() << 32);

    char host[256], port[16];
    if (split_addr(srv.cfg.listen, host, sizeof(host), port, sizeof(port)) != 0) {
        fprintf(stderr, "profiled: invalid listen '%s'\n", srv.cfg.listen);
        return 2;
    }
    srv.loops = calloc((size_t)srv.cfg.threads, sizeof(*srv.loops));
    if (srv.loops == NULL)
        abort();
    for (int i = 0; i < srv.cfg.threads; i++) {
        int fd = open_listener(host, port, err, sizeof(err));
        if (fd < 0) {
            fprintf(stderr, "profiled: listen: %s\n", err);
            return 1;
        }
        if (i == 0) {
            /* port 0: every other listener joins the port the first got */
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            srv.listen_port =
                ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
            snprintf(port, sizeof(port), "%d", srv.listen_port);
        }
        srv.loops[i].listen_fd = fd;
        srv.loops[i].srv = &srv;
        srv.loops[i].index = i;
    }

    srv.pool = pool_new(&srv, srv.cfg.workers, srv.cfg.queue, err, sizeof(err));
    if (srv.pool == NULL) {
        fprintf(stderr, "profiled: workers: %s\n", err);
        return 1;
    }

    srv.writer = writer_new(&srv, err, sizeof(err));
    if (srv.writer == NULL) {
        fprintf(stderr, "profiled: writer: %s\n", err);
        return 1;
    }

    h2o_config_init(&srv.h2o_config);
    srv.h2o_config.server_name = h2o_iovec_init(H2O_STRLIT("profiled"));
    /* our handler answers 413 as JSON: the library's own cap sits above it */
    srv.h2o_config.max_request_entity_size = (size_t)srv.cfg.max_body * 16;
    h2o_hostconf_t *hostconf = h2o_config_register_host(&srv.h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = router_dispatch;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < srv.cfg.threads; i++)
        if (pthread_create(&srv.loops[i].tid, NULL, loop_main, &srv.loops[i]) != 0) {
            fprintf(stderr, "profiled: cannot start loop thread\n");
            return 1;
        }
    pthread_t reload_tid;
    if (pthread_create(&reload_tid, NULL, reload_main, &srv) != 0) {
        fprintf(stderr, "profiled: cannot start token reloader\n");
        return 1;
    }
    printf("profiled: listening on http://%s%s%s:%d (%d threads, %d workers, db %s)\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", srv.listen_port, srv.cfg.threads, srv.cfg.workers, srv.cfg.db);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "profiled: received %s, exiting\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    fflush(stderr);
    /* Loop threads own live connections and never return; committed data is
     * durable in SQLite, so leaving now loses nothing. */
    _exit(0);
}
