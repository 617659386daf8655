/* server.h -- the server's internal interface: the process-wide server
 * context, event-loop threads, the worker pool and its jobs, the route table
 * and the JSON responses. Only server/ includes h2o.h. */
#ifndef PROFILED_SERVER_H
#define PROFILED_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <h2o.h>
#include "auth.h"
#include "config.h"
#include "ratelimit.h"
#include "storage.h"

typedef struct server server_t;
typedef struct loop loop_t;
typedef struct job job_t;
typedef struct pool pool_t;
typedef struct writer writer_t;
typedef struct metrics metrics_t;

/* ---- errors: one table maps each kind to status, reason and code -------- */
typedef enum {
    ERR_VALIDATION,      /* 400 validation_error */
    ERR_INVALID_REQUEST, /* 400 invalid_request_error */
    ERR_UNAUTHENTICATED, /* 401 authentication_error */
    ERR_FORBIDDEN,       /* 403 authentication_error */
    ERR_NOT_FOUND,       /* 404 not_found (a profile) */
    ERR_NO_ROUTE,        /* 404 invalid_request_error */
    ERR_METHOD,          /* 405 invalid_request_error */
    ERR_TOO_LARGE,       /* 413 invalid_request_error */
    ERR_RATE_LIMITED,    /* 429 rate_limit_error */
    ERR_INTERNAL,        /* 500 internal_server_error */
    ERR_UNAVAILABLE,     /* 503 internal_server_error */
    ERR_TIMEOUT,         /* 504 internal_server_error */
} err_kind_t;

/* Maps a storage return code to an error kind (STORAGE_ENOTFOUND ->
 * ERR_NOT_FOUND, STORAGE_EINVAL -> ERR_VALIDATION, STORAGE_EBUSY ->
 * ERR_UNAVAILABLE, anything else -> ERR_INTERNAL). */
err_kind_t err_from_storage(int rc);

typedef struct route route_t;

/* ---- credentials and limits (gate.c): callable from any thread ---------- */
typedef struct {
    err_kind_t err;      /* when gate_check fails */
    const char *message; /* NULL: the kind's default */
    int has_limit;
    ratelimit_result_t limit;
    ratelimit_policy_t policy;
    auth_token_t *token; /* borrowed from the live table */
} gate_result_t;

/* The presented token: `auth-token`, else the user name of HTTP Basic.
 * Empty when neither is there. Points into req (or its pool). */
h2o_iovec_t gate_credential(h2o_req_t *req);

/* HTTP/1 framing the library lets through (RFC 9112): Content-Length
 * headers with different values, Content-Length with Transfer-Encoding,
 * Transfer-Encoding twice or in HTTP/1.0, an HTTP/1.1 request without Host
 * or with two. Returns NULL when the request is sound, else the message of
 * its 400 (static); the connection must then close. Loop thread only. */
const char *gate_framing(h2o_req_t *req);

/* Key of the client address for unauthenticated limits. */
uint64_t gate_peer_key(h2o_req_t *req);

/* Verifies credential; checks its scope against *tenant, or with
 * tenant_from_token fills *tenant from a brand-scoped token; takes one
 * request from the token's read (ingest 0) or ingest bucket. Failures take
 * from the peer address's bucket. Returns 0, or -1 with out->err. */
int gate_check(server_t *srv, h2o_iovec_t credential, uint64_t peer, storage_tenant_t *tenant, int tenant_from_token, int ingest,
               gate_result_t *out);

typedef struct {
    int64_t start_ns; /* monotonic, at dispatch */
    h2o_iovec_t request_id;
    const route_t *route;
    gate_result_t gate;      /* has_limit: rate-limit fields to send */
    storage_tenant_t tenant; /* once authorised (borrowed from req or the token) */
    int auth_deferred;       /* ingest without a header credential: the body's writeKey decides */
    uint64_t peer;
} reqctx_t;

/* Sends body (len bytes) as a JSON response with the standard headers
 * (Content-Type, Content-Length, x-amzn-RequestId, rate-limit fields).
 * Takes ownership of the malloc'd body: it is freed with the request. */
void respond_json(h2o_req_t *req, reqctx_t *rc, int status, char *body, size_t len);

/* The same with another content type (a static string). */
void respond_text(h2o_req_t *req, reqctx_t *rc, int status, const char *content_type, char *body, size_t len);

/* Sends {"error":{"code":...,"message":...}} for kind; message is printf
 * formatted (NULL: the kind's default message). */
void respond_error(h2o_req_t *req, reqctx_t *rc, err_kind_t kind, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- routes --------------------------------------------------------------- */
enum {
    ROUTE_AUTH = 1,     /* a token is required, scoped to the tenant */
    ROUTE_TENANT = 2,   /* params 0..2 are the tenant; else it comes from the token */
    ROUTE_INGEST = 4,   /* ingestion: its own limits; the token may come in the body */
    ROUTE_OPS_ONLY = 8, /* only on the operations listener when there is one */
};

#define ROUTE_MAX_PARAMS 8

/* Loop-thread part of a route: validates the request and either answers
 * (respond_*) or submits a job. params are the pattern's captures,
 * percent-decoded, in order. */
typedef void (*route_fn)(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);

struct route {
    const char *method;
    const char *pattern; /* "{name}" segments capture; also the route's name in logs */
    unsigned flags;
    route_fn handler;
    int arg; /* handler specific (the profile view) */
};

/* The table and the dispatch path (auth, limits, body cap, errors). */
int router_dispatch(h2o_handler_t *self, h2o_req_t *req);

/* The same for the operations listener (--metrics-listen): only /healthz,
 * /readyz and /metrics. */
int router_dispatch_ops(h2o_handler_t *self, h2o_req_t *req);

/* Route table introspection, for metrics: count, index of an entry, its
 * pattern. */
size_t router_route_count(void);
size_t router_route_index(const route_t *route);
const char *router_route_name(size_t index);

/* ---- jobs and the worker pool -------------------------------------------- */

/* Runs on a worker thread with that worker's read-only connection. Fills
 * job->status and job->body (malloc'd JSON), or job->err and job->errmsg. */
typedef void (*job_run_fn)(job_t *job, storage_t *st);

struct job {
    h2o_multithread_message_t msg; /* completion, back to the owning loop */
    loop_t *loop;
    h2o_req_t *req; /* loop thread only; NULL once answered or gone */
    reqctx_t *rc;   /* in req->pool: valid while req is */
    job_t **slot;   /* in req->pool: cleared when the request is disposed */
    h2o_timeout_entry_t deadline;
    _Atomic int cancelled; /* set past the deadline: a queued job is skipped */
    job_run_fn run;
    /* inputs: owned copies, never pointers into the request */
    char *strings;
    char *tenant_strings;
    storage_tenant_t tenant;
    const char *id;
    size_t id_len;
    int id_type;
    int view;
    int from, size;
    storage_event_query_t events; /* its include/exclude point into extra */
    char *extra;
    /* ingestion */
    char *payload; /* copy of the request body */
    size_t payload_len;
    int gzip;
    int kind;          /* INGEST_* */
    int auth_deferred; /* check the body's writeKey */
    int tenant_from_token;
    uint64_t peer;
    segment_batch_t *batch; /* checked messages, for the writer */
    int forwarded;          /* set by the run function: the worker hands it to the writer */
    job_t *next;            /* writer queue */
    gate_result_t gate;     /* limit state found on the worker */
    /* outputs */
    int status; /* 0: failed, see err */
    char *body;
    size_t body_len;
    err_kind_t err;
    char errmsg[256];
};

/* A new job for req with copies of tenant and id (either may be NULL/0).
 * Never fails (out of memory aborts). */
job_t *job_new(h2o_req_t *req, reqctx_t *rc, job_run_fn run, const storage_tenant_t *tenant, const char *id, size_t id_len);

/* Replaces the job's tenant with copies of tenant's strings. */
void job_set_tenant(job_t *job, const storage_tenant_t *tenant);

/* Sends a finished job back to the loop that owns its request (any
 * thread). */
void job_complete(job_t *job);

/* Sets a failure result of a given kind (message printf formatted). */
void job_error(job_t *job, err_kind_t kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Hands the job to the pool and arms its deadline. On a full queue answers
 * 503 and frees the job. */
void job_submit(job_t *job);

/* Sets a failure result from a storage code. */
void job_fail(job_t *job, int storage_rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Jobs waiting in the queue (approximate). */
size_t pool_depth(pool_t *p);

/* Pool of worker threads, each with its own connection (read-only but for
 * scroll cursors). */
pool_t *pool_new(server_t *srv, int workers, int capacity, char *errbuf, size_t errlen);
void pool_free(pool_t *p);            /* stops and joins the workers */
int pool_push(pool_t *p, job_t *job); /* 0 or -1 when full */

/* Registers the loop's completion receiver and job deadline timer. */
void pool_loop_init(loop_t *loop);

/* The writer thread: owns the only read-write connection; commits the
 * messages of concurrent ingest jobs together (group commit), then
 * completes each job. */
writer_t *writer_new(server_t *srv, char *errbuf, size_t errlen);
void writer_free(writer_t *w);
/* Queues a validated ingest job; on a full queue completes it with 503. */
void writer_push(writer_t *w, job_t *job);
/* Requests waiting (approximate); writer_idle: nothing queued or running. */
size_t writer_depth(writer_t *w);
int writer_idle(writer_t *w);

/* Wakes the writer so it adopts new definitions while idle. */
void writer_wake(writer_t *w);
/* While on, the writer starts no new group commit; turning it on waits
 * for the current one to end. For the checkpointer (server.c). */
void writer_hold(writer_t *w, int on);

/* The connection of a background thread (NULL, logged, when the database
 * cannot be opened). */
storage_t *side_connection(server_t *srv, const char *who);

/* ---- computed traits and audiences (definitions.c) ------------------------ */
/* Loads --definitions at start (none when unset); -1 with a message. */
int defs_init(server_t *srv);
/* SIGHUP: loads the file again; a bad file is refused and logged. */
void defs_reload(server_t *srv);
/* On a connection's own thread, between jobs: switch it to the current
 * definitions when they changed since *local_gen. */
void defs_adopt(server_t *srv, storage_t *st, uint64_t *local_gen);
/* Frees replaced definitions nothing can still be using. */
void defs_housekeeping(server_t *srv);
/* The background recompute thread. */
void *recompute_main(void *arg);

/* ---- operations (ops.c) --------------------------------------------------- */
metrics_t *metrics_new(void);
/* One answered request (route NULL: unmatched). Any thread. */
void metrics_request(metrics_t *m, const route_t *route, int status, double seconds);
void metrics_worker_busy(metrics_t *m, uint64_t ns);
/* One committed ingest request; first_of_group records the commit time. */
void metrics_ingest(metrics_t *m, size_t messages, double commit_seconds, int first_of_group);
void metrics_set_cursors(metrics_t *m, int64_t live);
void metrics_set_recompute(metrics_t *m, int64_t done, int64_t total);
/* Prometheus text; malloc'd. */
char *metrics_render(server_t *srv, size_t *len);

/* Before any connection opens: a damaged database found by any thread is
 * logged once, loudly, and from then on /readyz answers 503 and ingest is
 * refused (storage_damaged). */
void ops_watch_damage(server_t *srv);

/* Opens (or, called again, reopens in place) --access-log. -1 on failure. */
int access_log_open(server_t *srv);
/* One JSON line for an answered request (no-op when the log is off). */
void access_log_write(server_t *srv, h2o_req_t *req, const reqctx_t *rc, int status, size_t bytes, double seconds);

/* The client's address: the peer, or when the peer is a --trusted-proxy the
 * right-most untrusted X-Forwarded-For entry. Writes a NUL-terminated
 * string. */
void client_address(h2o_req_t *req, char *out, size_t len);

enum { INGEST_BATCH = 0, INGEST_TRACK, INGEST_IDENTIFY, INGEST_PAGE, INGEST_SCREEN, INGEST_GROUP, INGEST_ALIAS };

/* ---- the connection layer (conn.c) ---------------------------------------- */
/* Reserves len bytes of --unsent-limit-mb for an answer about to be sent:
 * 1, or 0 when it is larger than 64 KiB and would pass the limit (then
 * answer 503). Any thread. */
int conn_admit_answer(server_t *srv, size_t len);
/* Hands an admitted answer (malloc'd body, len bytes) to req: it is freed,
 * and its reservation given back, when the request is disposed; until then
 * the connection is cut if its client takes no bytes for
 * --write-timeout-ms. Loop thread. */
void conn_hold_answer(h2o_req_t *req, char *body, size_t len);
/* The listener's read callback: accepts one connection, or on EMFILE /
 * ENFILE pauses the listener and tries again a little later. */
void conn_on_accept(h2o_socket_t *listener, const char *err);
/* The loop's timers for the above; after h2o_context_init. */
void conn_loop_init(loop_t *loop);

/* ---- loops and the server ------------------------------------------------ */
struct loop {
    h2o_context_t ctx; /* first: req->conn->ctx leads back to the loop */
    server_t *srv;
    int index; /* -1: the operations listener's loop */
    h2o_globalconf_t *h2o_config;
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_receiver_t done;
    h2o_timeout_t job_timeout;
    int listen_fd;
    h2o_socket_t *listener;
    uint64_t request_seq;
    pthread_t tid;
    _Atomic int64_t open_connections; /* sampled by the loop each second */
    h2o_timeout_t tick;
    h2o_timeout_entry_t tick_entry;
    h2o_multithread_receiver_t control; /* drain requests from the main thread */
    /* conn.c */
    h2o_linklist_t held; /* answers not yet taken by their clients */
    h2o_timeout_t held_check;
    h2o_timeout_entry_t held_entry;
    h2o_timeout_t accept_retry;
    h2o_timeout_entry_t accept_entry;
};

struct server {
    config_t cfg;
    h2o_globalconf_t h2o_config;
    h2o_globalconf_t ops_config; /* --metrics-listen */
    loop_t *loops;
    loop_t ops_loop;
    _Atomic int loops_started;
    pool_t *pool;
    _Atomic(auth_table_t *) tokens;
    int64_t tokens_gen; /* generation the loaded table reflects */
    ratelimit_policy_t default_policy;
    ratelimit_policy_t ingest_policy;
    writer_t *writer;
    ratelimit_table_t *addr_limits;
    uint64_t instance_id; /* random, for request ids */
    char listen_host[64];
    int listen_port;
    _Atomic int draining;
    _Atomic int db_ok; /* the reloader's last look at the database worked */
    _Atomic int access_log_fd;
    metrics_t *metrics;
    config_cidr_t *trusted;
    size_t ntrusted;
    _Atomic int64_t inflight; /* jobs not yet freed */
    /* the connection layer (conn.c), for /metrics */
    _Atomic int64_t unsent_bytes;    /* answers handed to connections, not yet taken */
    _Atomic uint64_t write_timeouts; /* connections cut by --write-timeout-ms */
    _Atomic uint64_t accept_pauses;  /* listener paused for lack of descriptors */
    _Atomic int64_t fd_starved_ms;   /* wall time of the last shortage; 0: none lately */
    /* computed traits and audiences (definitions.c) */
    _Atomic(definitions_t *) defs;
    _Atomic uint64_t defs_gen;        /* bumped on every (re)load */
    _Atomic uint64_t writer_defs_gen; /* the set the writer stores with */
    pthread_mutex_t defs_mu;
    pthread_cond_t defs_cv;
    struct {
        definitions_t *defs;
        int64_t at_ms;
    } * retired_defs;
    size_t nretired_defs;
    void *ssl_ctx; /* SSL_CTX * when TLS is on */
};

static inline loop_t *
loop_of(h2o_req_t *req)
{
    return (loop_t *)req->conn->ctx;
}

/* Runs `profiled serve`. Returns the process exit code. */
int server_main(int argc, char **argv);

/* Route handlers (handlers_*.c). */
void handle_health(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_ready(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_metrics(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_profile_view(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_profile_list(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_ingest(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);
void handle_events(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);

/* Splits "{idType}:{id}" (decoded); answers 400 and returns -1 when it is
 * malformed or the idType unknown. */
int parse_profile_id(h2o_req_t *req, reqctx_t *rc, h2o_iovec_t pid, int *type, h2o_iovec_t *id);

/* Parses a decimal integer within [min, max]: 0, or -1. */
int parse_int(h2o_iovec_t v, long min, long max, int *out);

/* Finds a query parameter in req's query string, decoded into req->pool.
 * Returns 1 and *value, or 0 when absent. */
int query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value);

/* Percent-decodes s into req->pool ("+" stays "+"). -1 on a bad escape. */
int percent_decode(h2o_mem_pool_t *pool, h2o_iovec_t s, h2o_iovec_t *out);

/* Public for the fuzz targets (fuzz/) too: a route pattern's match against
 * a raw path (router.c; *ncaps captures of at most ROUTE_MAX_PARAMS; true
 * on a match), and the capped gzip inflate of ingest bodies (ingest.c: 0,
 * -1 over cap, -2 bad gzip, *out malloc'd). */
int router_match(const char *pattern, const char *path, size_t len, h2o_iovec_t *caps, size_t *ncaps);
int ingest_gunzip(const char *in, size_t len, size_t cap, char **out, size_t *outlen);

/* Command-line subcommands (cli.c). */
int cli_import(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_audience(int argc, char **argv);    /* cli_audience.c */
int cli_definitions(int argc, char **argv); /* cli_definitions.c */

#endif
