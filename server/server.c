/* server.c -- `profiled serve`: opens (and migrates) the database, starts
 * the worker pool, one h2o event loop per thread each with its own
 * SO_REUSEPORT listener, and a thread that reloads the token table when it
 * changes. */
#include <errno.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include "server.h"
#include "server_internal.h"

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

static int
bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
}

static size_t
list_length(h2o_linklist_t *anchor)
{
    size_t n = 0;
    for (h2o_linklist_t *l = anchor->next; l != anchor; l = l->next)
        n++;
    return n;
}

/* Once a second: how many connections this loop holds, for /metrics. */
static void
on_tick(h2o_timeout_entry_t *entry)
{
    loop_t *loop = H2O_STRUCT_FROM_MEMBER(loop_t, tick_entry, entry);
    atomic_store(&loop->open_connections, (int64_t)(list_length(&loop->ctx.http1._conns) + list_length(&loop->ctx.http2._conns)));
    h2o_timeout_link(loop->ctx.loop, &loop->tick, &loop->tick_entry);
}

/* Drain, on the loop's own thread: stop accepting, and ask keep-alive
 * connections to close once their current request is answered. */
static void
on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    loop_t *loop = H2O_STRUCT_FROM_MEMBER(loop_t, control, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        free(msg);
    }
    if (loop->listener != NULL) {
        h2o_socket_read_stop(loop->listener);
        h2o_socket_close(loop->listener);
        loop->listener = NULL;
    }
    h2o_context_request_shutdown(&loop->ctx);
}

static void *
loop_main(void *arg)
{
    loop_t *loop = arg;
    server_t *srv = loop->srv;
    h2o_context_init(&loop->ctx, h2o_evloop_create(), loop->h2o_config);
    if (loop->index >= 0)
        job_loop_init(loop);
    h2o_multithread_register_receiver(loop->ctx.queue, &loop->control, on_control);
    h2o_timeout_init(loop->ctx.loop, &loop->tick, 1000);
    loop->tick_entry.cb = on_tick;
    h2o_timeout_link(loop->ctx.loop, &loop->tick, &loop->tick_entry);
    conn_loop_init(loop);
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = loop->h2o_config->hosts;
    loop->accept_ctx.ssl_ctx = loop->index >= 0 ? srv->ssl_ctx : NULL;
    loop->listener = h2o_evloop_socket_create(loop->ctx.loop, loop->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    loop->listener->data = loop;
    h2o_socket_read_start(loop->listener, conn_on_accept);
    atomic_fetch_add(&srv->loops_started, 1);
    /* h2o_evloop_run returns -1 on EINTR: keep going */
    for (;;)
        h2o_evloop_run(loop->ctx.loop, INT32_MAX);
    return NULL;
}

storage_t *
side_connection(server_t *srv, const char *who)
{
    storage_t *st = NULL;
    char err[512];
    if (storage_open(&st, srv->cfg.db, STORAGE_NO_AUTOCHECKPOINT, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled: %s: %s\n", who, err);
        return NULL;
    }
    return st;
}

/* The checkpointer: copies the write-ahead log into the database every
 * --checkpoint-ms on its own connection, beside the writer, so the writer
 * and workers never checkpoint on their commits. The log only starts over
 * at a commit whose transaction began after a complete copy, which under
 * steady ingest never happens: past --wal-limit-mb it holds the writer
 * back between two group commits and copies the rest (only what was
 * committed during the last copy). Readers are never waited for: one still
 * in the log only puts the restart off to a later round. */
static void *
checkpoint_main(void *arg)
{
    server_t *srv = arg;
    storage_t *st = side_connection(srv, "checkpointer");
    if (st == NULL)
        return NULL;
    int64_t restarted = -1; /* the log's size at the last restart */
    int failing = 0;        /* the failure last logged (a full disk fails every round) */
    for (;;) {
        struct timespec ts = {srv->cfg.checkpoint_ms / 1000, (long)(srv->cfg.checkpoint_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        int64_t log_bytes = 0;
        int rc = storage_checkpoint(st, &log_bytes);
        /* Even a complete copy does not restart the log when the writer's
         * transaction began before it ended, as under steady ingest. */
        if (rc == 0 && log_bytes > (int64_t)srv->cfg.wal_limit_mb << 20 && log_bytes != restarted) {
            writer_hold(srv->writer, 1);
            rc = storage_checkpoint(st, &log_bytes);
            writer_hold(srv->writer, 0);
            restarted = rc == 0 ? log_bytes : -1;
        }
        if ((rc == STORAGE_EIO || rc == STORAGE_EFULL || rc == STORAGE_EDOWN) && rc != failing)
            fprintf(stderr, "profiled: checkpoint: %s (retried every --checkpoint-ms; logged again once it works)\n",
                    storage_errmsg(st));
        else if (rc == 0 && failing != 0)
            fprintf(stderr, "profiled: checkpoint: works again\n");
        if (rc != STORAGE_EBUSY)
            failing = rc;
    }
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
    storage_t *st = side_connection(srv, "token reloader");
    int64_t last_gen = srv->tokens_gen;
    retired_t retired[64];
    size_t nretired = 0;
    if (st == NULL)
        return NULL;
    for (;;) {
        struct timespec ts = {srv->cfg.token_reload_ms / 1000, (long)(srv->cfg.token_reload_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        int64_t gen;
        if (storage_token_generation(st, &gen) != 0) {
            if (atomic_exchange(&srv->db_ok, 0))
                fprintf(stderr, "profiled: database not reachable: %s\n", storage_errmsg(st));
            continue;
        }
        atomic_store(&srv->db_ok, 1);
        int64_t now = base_wall_ms();
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

static int
setup_tls(server_t *srv, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, srv->cfg.tls_cert) != 1) {
        snprintf(err, errlen, "invalid tls-cert '%s': %s", srv->cfg.tls_cert, ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, srv->cfg.tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "invalid tls-key '%s': %s", srv->cfg.tls_key, ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    if (srv->cfg.http2)
        h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    srv->ssl_ctx = ctx;
    return 0;
fail:
    if (ctx != NULL)
        SSL_CTX_free(ctx);
    if (err[0] == '\0')
        snprintf(err, errlen, "cannot set up TLS");
    return -1;
}

static void
init_h2o_config(server_t *srv, h2o_globalconf_t *config, int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    h2o_config_init(config);
    config->server_name = h2o_iovec_init(H2O_STRLIT("profiled"));
    /* our handler answers 413 as JSON: the library's own cap sits above it */
    config->max_request_entity_size = (size_t)srv->cfg.max_body * 16;
    /* HTTP/2 only when asked for: this h2o lacks the Rapid Reset fix */
    config->http1.upgrade_to_http2 = srv->cfg.http2;
    h2o_hostconf_t *hostconf = h2o_config_register_host(config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    heads_filter_install(hostconf); /* h2o's own error answers as JSON */
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
}

/* What /metrics reports of the loops, the pool, the writer and the
 * connection layer (ops/ renders it). */
static void
sample_gauges(void *ctx, metrics_sample_t *out)
{
    server_t *srv = ctx;
    int64_t conns = 0;
    for (int i = 0; i < srv->cfg.threads; i++)
        conns += atomic_load_explicit(&srv->loops[i].open_connections, memory_order_relaxed);
    out->job_queue_depth = pool_depth(srv->pool);
    out->write_queue_depth = writer_depth(srv->writer);
    out->workers = srv->cfg.workers;
    out->open_connections = conns;
    out->draining = atomic_load(&srv->draining);
    out->db = srv->cfg.db;
    out->unsent_bytes = atomic_load(&srv->unsent_bytes);
    out->write_timeouts = atomic_load(&srv->write_timeouts);
    out->accept_pauses = atomic_load(&srv->accept_pauses);
    out->suppressed_messages = writer_suppressed(srv->writer);
    cache_totals(srv, out);
    gate_token_cache_totals(&out->token_cache_hits, &out->token_cache_misses);
}

static int
start_loop(loop_t *loop)
{
    return pthread_create(&loop->tid, NULL, loop_main, loop);
}

/* SIGTERM: readiness turns 503, then after --drain-delay every loop stops
 * accepting and closes keep-alive connections as they go idle; in-flight
 * jobs and commits finish; exit 0 (or 1 past --shutdown-timeout). */
static int
drain(server_t *srv, const char *why)
{
    fprintf(stderr, "profiled: %s: draining (readyz 503, closing listeners in %.1f s)\n", why, srv->cfg.drain_delay);
    atomic_store(&srv->draining, 1);
    int64_t t0 = base_clock_ns(1);
    struct timespec ts = {(time_t)srv->cfg.drain_delay,
                          (long)((srv->cfg.drain_delay - (double)(time_t)srv->cfg.drain_delay) * 1e9)};
    nanosleep(&ts, NULL);
    for (int i = 0; i < srv->cfg.threads; i++) {
        h2o_multithread_message_t *msg = calloc(1, sizeof(*msg));
        if (msg == NULL)
            abort();
        h2o_multithread_send_message(&srv->loops[i].control, msg);
    }
    int64_t deadline = t0 + (int64_t)((srv->cfg.drain_delay + srv->cfg.shutdown_timeout) * 1e9);
    while (base_clock_ns(1) < deadline) {
        if (atomic_load(&srv->inflight) == 0 && writer_idle(srv->writer)) {
            /* answers are handed to the kernel; give slow readers a moment */
            struct timespec settle = {0, 100000000};
            nanosleep(&settle, NULL);
            fprintf(stderr, "profiled: drained, exiting\n");
            return 0;
        }
        struct timespec tick = {0, 10000000};
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "profiled: shutdown timeout with %lld jobs in flight, exiting\n", (long long)atomic_load(&srv->inflight));
    return 1;
}

/* The first connection: a database server that cannot be reached yet (one
 * starting beside this replica) is tried again every half second for
 * --db-wait-s. */
static int
open_db(server_t *srv, const sigset_t *signals, storage_t **st, char *err, size_t errlen)
{
    int64_t deadline = base_clock_ns(1) + (int64_t)(srv->cfg.db_wait_s * 1e9);
    for (bool said = false;; said = true) {
        int rc = storage_open(st, srv->cfg.db, 0, err, errlen);
        if (rc != STORAGE_EDOWN || base_clock_ns(1) >= deadline)
            return rc;
        if (!said)
            fprintf(stderr, "profiled: db: %s (trying again for up to %.0f s: --db-wait-s)\n", err, srv->cfg.db_wait_s);
        struct timespec ts = {0, 500000000};
        int sig = sigtimedwait(signals, NULL, &ts); /* blocked: see server_main */
        if (sig == SIGINT || sig == SIGTERM) {
            snprintf(err, errlen, "%s while waiting for the database", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return rc;
        }
    }
}

int
server_main(int argc, char **argv)
{
    static server_t srv; /* lives for the process: loop threads never return */
    char err[512] = "";
    int rv = config_load(&srv.cfg, argc, argv, stdout, stderr);
    if (rv != 0)
        return rv > 0 ? 0 : 2;
    /* Blocked before any thread starts (the storage's, the workers', the
     * writer's, the loops'), so every thread inherits the mask and the
     * signals reach the main thread's sigtimedwait only: a thread started
     * earlier would take SIGTERM's default action, ending the process
     * without a drain. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* --sched batch, likewise before any thread (PostgreSQL's change
     * watcher starts with the first storage call): each inherits it. */
    if (strcmp(srv.cfg.sched, "batch") == 0 && sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){0}) != 0)
        fprintf(stderr, "profiled: sched batch: %s; the threads stay under the normal policy\n", strerror(errno));
    router_init(api_routes, api_nroutes, API_NOPS);
    srv.metrics = metrics_new(router_route_count(), router_route_name, sample_gauges, &srv);
    if (access_log_open(srv.cfg.access_log) != 0) {
        fprintf(stderr, "profiled: invalid access-log '%s': %s\n", srv.cfg.access_log, strerror(errno));
        return 2;
    }
    if (config_parse_cidr_list(srv.cfg.trusted_proxy, "trusted-proxy", &srv.trusted, &srv.ntrusted, stderr) != 0)
        return 2;
    if (srv.cfg.tls_cert[0] != '\0' && setup_tls(&srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled: %s\n", err);
        return 2;
    }

    api_docs_load(&srv);
    ops_watch_damage(srv.cfg.db); /* before SQLite is first used */
    if (defs_init(&srv) != 0)
        return 2;

    storage_t *st = NULL;
    if (open_db(&srv, &set, &st, err, sizeof(err)) != 0) {
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
    atomic_store(&srv.db_ok, 1);
    srv.tokens_gen = gen;

    ratelimit_policy_init(&srv.default_policy, srv.cfg.rate, (uint32_t)srv.cfg.burst);
    ratelimit_policy_init(&srv.ingest_policy, srv.cfg.ingest_rate, (uint32_t)srv.cfg.ingest_burst);
    srv.addr_limits = ratelimit_table_new((size_t)srv.cfg.ratelimit_keys);
    if (srv.addr_limits == NULL)
        abort();
    if (RAND_bytes((unsigned char *)&srv.instance_id, sizeof(srv.instance_id)) != 1)
        srv.instance_id = (uint64_t)base_wall_ms() ^ ((uint64_t)getpid() << 32);

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
            srv.listen_port = bound_port(fd);
            snprintf(port, sizeof(port), "%d", srv.listen_port);
        }
        srv.loops[i] = (loop_t){.srv = &srv, .index = i, .listen_fd = fd, .h2o_config = &srv.h2o_config};
    }
    char ops_host[256] = "", ops_port[16] = "";
    if (srv.cfg.metrics_listen[0] != '\0') {
        int fd;
        if (split_addr(srv.cfg.metrics_listen, ops_host, sizeof(ops_host), ops_port, sizeof(ops_port)) != 0 ||
            (fd = open_listener(ops_host, ops_port, err, sizeof(err))) < 0) {
            fprintf(stderr, "profiled: metrics-listen: %s\n", err);
            return 1;
        }
        snprintf(ops_port, sizeof(ops_port), "%d", bound_port(fd));
        srv.ops_loop = (loop_t){.srv = &srv, .index = -1, .listen_fd = fd, .h2o_config = &srv.ops_config};
    }

    const char *clock_file = getenv("PROFILED_DEBUG_CLOCK_FILE"); /* tests: an injected clock */
    if (clock_file != NULL)
        snprintf(srv.clock_file, sizeof(srv.clock_file), "%s", clock_file);
    if (cache_init(&srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled: cache: %s\n", err);
        return 1;
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
    init_h2o_config(&srv, &srv.h2o_config, router_dispatch);
    init_h2o_config(&srv, &srv.ops_config, router_dispatch_ops);

    for (int i = 0; i < srv.cfg.threads; i++)
        if (start_loop(&srv.loops[i]) != 0) {
            fprintf(stderr, "profiled: cannot start loop thread\n");
            return 1;
        }
    if (srv.cfg.metrics_listen[0] != '\0' && start_loop(&srv.ops_loop) != 0) {
        fprintf(stderr, "profiled: cannot start the metrics listener\n");
        return 1;
    }
    pthread_t reload_tid, checkpoint_tid, recompute_tid;
    if (pthread_create(&reload_tid, NULL, reload_main, &srv) != 0 ||
        pthread_create(&checkpoint_tid, NULL, checkpoint_main, &srv) != 0 ||
        (srv.cfg.definitions[0] != '\0' && pthread_create(&recompute_tid, NULL, recompute_main, &srv) != 0)) {
        fprintf(stderr, "profiled: cannot start background threads\n");
        return 1;
    }
    int nloops = srv.cfg.threads + (srv.cfg.metrics_listen[0] != '\0');
    while (atomic_load(&srv.loops_started) < nloops) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    const char *v6 = strchr(host, ':');
    char shown[512];
    printf("profiled: listening on http%s://%s%s%s:%d (%d threads, %d workers, db %s)\n", srv.ssl_ctx != NULL ? "s" : "",
           v6 ? "[" : "", host, v6 ? "]" : "", srv.listen_port, srv.cfg.threads, srv.cfg.workers,
           storage_path_shown(srv.cfg.db, shown, sizeof(shown)));
    if (ops_port[0] != '\0')
        printf("profiled: metrics on http://%s:%s/metrics\n", ops_host, ops_port);
    fflush(stdout);

    for (;;) {
        struct timespec housekeeping = {10, 0};
        int sig = sigtimedwait(&set, NULL, &housekeeping);
        if (sig < 0) {
            defs_housekeeping(&srv);
            continue;
        }
        if (sig == SIGHUP) {
            if (access_log_open(srv.cfg.access_log) != 0)
                fprintf(stderr, "profiled: SIGHUP: cannot reopen access-log '%s': %s\n", srv.cfg.access_log, strerror(errno));
            else
                fprintf(stderr, "profiled: SIGHUP: reopened the access log\n");
            defs_reload(&srv);
            continue;
        }
        int code = drain(&srv, sig == SIGTERM ? "SIGTERM" : "SIGINT");
        fflush(stdout);
        fflush(stderr);
        /* Loop threads still own their (now idle) sockets and never return;
         * every acknowledged write is committed, so leaving now loses
         * nothing. */
        _exit(code);
    }
}
