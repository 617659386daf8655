/* http.h -- the HTTP side of the server (server/http/): the process-wide
 * server context and the event loops that carry it, the one dispatch path
 * over a route table, credentials, limits and framing checks (gate.c), the
 * connection layer's limits (conn.c) and the JSON responses (respond.c).
 * Uses ops/ (metrics and the access log) and nothing else of server/; the
 * route table itself comes from api/ through router_init. */
#ifndef PROFILED_SERVER_HTTP_H
#define PROFILED_SERVER_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <h2o.h>
#include "auth.h"
#include "definitions.h"
#include "ratelimit.h"
#include "storage.h"
#include "../config/config.h"
#include "../ops/ops.h"

typedef struct server server_t;
typedef struct loop loop_t;

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
    ERR_DISK_FULL,       /* 500 internal_server_error: nothing stored */
    ERR_UNAVAILABLE,     /* 503 internal_server_error */
    ERR_DB_DOWN,         /* 503 internal_server_error: nothing stored */
    ERR_TIMEOUT,         /* 504 internal_server_error */
} err_kind_t;

/* Maps a storage return code to an error kind (STORAGE_ENOTFOUND ->
 * ERR_NOT_FOUND, STORAGE_EINVAL -> ERR_VALIDATION, STORAGE_EBUSY ->
 * ERR_UNAVAILABLE, STORAGE_EFULL -> ERR_DISK_FULL, STORAGE_EDOWN ->
 * ERR_DB_DOWN, anything else ->
 * ERR_INTERNAL). */
err_kind_t err_from_storage(int rc);

typedef struct route route_t;

/* The kind's status ("400"), reason ("Bad Request"), and its error body
 * {"error":{"code":...,"message":message}} (malloc'd, *len bytes). */
int err_status(err_kind_t kind);
const char *err_reason(err_kind_t kind);
char *err_json(err_kind_t kind, const char *message, size_t message_len, size_t *len);

/* ---- credentials and limits (gate.c): callable from any thread ---------- */
typedef struct {
    err_kind_t err;      /* when a gate_* check fails */
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
/* The same verdict over a head's parsed fields (picohttpparser's headers,
 * n of them, HTTP/1.minor), for heads.c, which parses each head first. */
struct phr_header;
const char *gate_framing_of(const struct phr_header *headers, size_t n, int minor);

/* Key of the client address for unauthenticated limits. */
uint64_t gate_peer_key(h2o_req_t *req);

/* The permissions (AUTH_PERM_* bits) a route's flags call for: delete for
 * ROUTE_DELETE, ingest for ROUTE_INGEST, read for every other route. */
unsigned gate_route_needs(unsigned route_flags);

/* Authentication: verifies credential (a failure takes from the peer
 * address's bucket: 429 once it is empty, else 401); checks that the token
 * holds every permission in need (else 403 naming the one it lacks); checks
 * its scope against *tenant, or with tenant_from_token fills *tenant from a
 * brand-scoped token. Returns 0 with out->token, or -1 with out->err. */
int gate_authenticate(server_t *srv, h2o_iovec_t credential, uint64_t peer, storage_tenant_t *tenant, int tenant_from_token,
                      unsigned need, gate_result_t *out);

/* The hits and misses of every thread's token cache (auth_vcache_t),
 * summed; any thread. */
void gate_token_cache_totals(uint64_t *hits, uint64_t *misses);

/* The rate limit of an authenticated out->token: takes one request from its
 * read (ingest 0) or ingest bucket. Returns 0, or -1 with out->err. */
int gate_limit(server_t *srv, int ingest, gate_result_t *out);
/* The same for a request costing cost (>= 1) requests, all or nothing. */
int gate_limit_n(server_t *srv, int ingest, uint32_t cost, gate_result_t *out);

/* gate_authenticate with gate_route_needs(route_flags), then gate_limit
 * (the ingest bucket for ROUTE_INGEST) unless route_flags has
 * ROUTE_COSTED; the tenant comes from the token unless route_flags has
 * ROUTE_TENANT. */
int gate_check(server_t *srv, h2o_iovec_t credential, uint64_t peer, storage_tenant_t *tenant, unsigned route_flags,
               gate_result_t *out);

/* The client's address: the peer, or when the peer is a --trusted-proxy the
 * right-most untrusted X-Forwarded-For entry. Writes a NUL-terminated
 * string. */
void client_address(h2o_req_t *req, char *out, size_t len);

/* ---- a request's context and its answers (respond.c) --------------------- */
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

/* A conditional read's answer: etag is the entity tag of body
 * ("\"<16 hex>\"", from job_set_etag). When the request's If-None-Match
 * lists it (weak comparison, W/ ignored, or *) answers 304 with no body
 * (the body is freed), else 200 as respond_json; either way with the ETag
 * (suffixed -gzip inside the quotes when the answer is gzipped). */
void respond_json_tagged(h2o_req_t *req, reqctx_t *rc, char *body, size_t len, const char *etag);
/* The same with another content type (a static string) and, when gz is
 * not NULL, body's gzip made beforehand (gz_len bytes, borrowed: it must
 * outlive the call), sent instead of compressing body here. */
void respond_tagged(h2o_req_t *req, reqctx_t *rc, const char *content_type, char *body, size_t len, const char *gz, size_t gz_len,
                    const char *etag);

/* body's gzip (malloc'd, *outlen bytes) as respond_tagged would send it
 * to this request: NULL when the client takes no gzip, the body is under
 * --compress-min-size, or gzip would not make it smaller. */
char *respond_gzip(h2o_req_t *req, const char *body, size_t len, size_t *outlen);

/* Sends an answer without a body (204) with the standard headers. */
void respond_empty(h2o_req_t *req, reqctx_t *rc, int status);

/* Sends {"error":{"code":...,"message":...}} for kind; message is printf
 * formatted (NULL: the kind's default message). */
void respond_error(h2o_req_t *req, reqctx_t *rc, err_kind_t kind, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- CORS of the ingestion routes (cors.c) -------------------------------- */
/* A request with an Origin header: when --cors-origins allows it, adds
 * Access-Control-Allow-Origin ("*", or the origin and Vary: Origin) to the
 * answer to come and returns 0; else answers 403 and returns -1. Without
 * an Origin header does nothing and returns 0. */
int cors_allow(h2o_req_t *req, reqctx_t *rc);

/* Answers a preflight (OPTIONS) after cors_allow: 204 with the allowed
 * methods (POST, OPTIONS), headers and max age. */
void cors_preflight(h2o_req_t *req, reqctx_t *rc);

/* ---- routes (router.c) ---------------------------------------------------- */
enum {
    ROUTE_AUTH = 1,     /* a token is required, scoped to the tenant */
    ROUTE_TENANT = 2,   /* params 0..2 are the tenant; else it comes from the token */
    ROUTE_INGEST = 4,   /* ingestion: its own limits; the token may come in the body */
    ROUTE_OPS_ONLY = 8, /* only on the operations listener when there is one */
    ROUTE_DELETE = 16,  /* erasure: the token needs the delete permission */
    ROUTE_COSTED = 32,  /* authenticated but not yet limited: the handler calls gate_limit_n with the request's cost */
};

#define ROUTE_MAX_PARAMS 8

/* Loop-thread part of a route: validates the request and either answers
 * (respond_*) or submits a job. params are the pattern's captures,
 * percent-decoded, in order. */
typedef void (*route_fn)(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params);

/* The query parameters a route takes: allowed, the names it takes
 * (NULL-ended); hints, pairs of a name some other route takes and the
 * message of its 400 here (NULL-ended). */
typedef struct {
    const char *const *allowed;
    const char *const *hints;
} route_query_t;

struct route {
    const char *method;
    const char *pattern; /* "{name}" segments capture; also the route's name in logs */
    unsigned flags;
    route_fn handler;
    int arg;                    /* handler specific (the profile view) */
    const route_query_t *query; /* NULL: any query is taken (ingestion, ops); else checked by query_check */
};

/* Installs the route table (n entries; its first nops are all the
 * operations listener serves), before any loop starts. */
void router_init(const route_t *routes, size_t n, size_t nops);

/* The dispatch path over the table (auth, limits, body cap, errors). */
int router_dispatch(h2o_handler_t *self, h2o_req_t *req);

/* The same for the operations listener (--metrics-listen): only its nops
 * routes (/healthz, /readyz and /metrics). */
int router_dispatch_ops(h2o_handler_t *self, h2o_req_t *req);

/* Route table introspection, for metrics: count, index of an entry, its
 * pattern. */
size_t router_route_count(void);
size_t router_route_index(const route_t *route);
const char *router_route_name(size_t index);

/* A route pattern's match against a raw path: *ncaps captures of at most
 * ROUTE_MAX_PARAMS; true on a match. */
int router_match(const char *pattern, const char *path, size_t len, h2o_iovec_t *caps, size_t *ncaps);

/* Request ids: a new one of loop (written to out, at least
 * ROUTER_REQUEST_ID_MAX bytes; returns its length), and req's (its
 * X-Request-Id when sane, else a new one in req's pool). */
#define ROUTER_REQUEST_ID_MAX 40
size_t router_new_request_id(loop_t *loop, char *out);
h2o_iovec_t router_request_id(h2o_req_t *req);

/* Finds a query parameter in req's query string, decoded into req->pool.
 * Returns 1 and *value, or 0 when absent. */
int query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value);

/* Checks req's query string against q before the handler runs: every
 * parameter named in q->allowed, none twice. 0, or -1 with the 400's
 * message in msg (msglen bytes, NUL-terminated): an unknown name (cut to
 * 64 bytes, anything but printable ASCII shown as '?'), a hint's message,
 * or a repeated name. Empty pieces ("a=1&&b=2", a trailing '&') are
 * skipped; names are compared as sent, like query_param. */
int query_check(h2o_req_t *req, const route_query_t *q, char *msg, size_t msglen);

/* Percent-decodes s into req->pool ("+" stays "+"). -1 on a bad escape. */
int percent_decode(h2o_mem_pool_t *pool, h2o_iovec_t s, h2o_iovec_t *out);

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

/* ---- the rendered-view cache (cache.c) ------------------------------------ */
typedef struct viewcache viewcache_t;

/* What a view's job records for the cache: the database's change mark
 * taken before its read (mark_ok 0: none), the definitions generation it
 * read with, and the time window its answer holds for. */
typedef struct {
    storage_mark_t mark;
    int mark_ok;
    uint64_t defs_gen;
    int64_t from_ms, until_ms;
    /* what the view was built from (storage_view_tags: its lookup key and
     * profiles; the job owns them, NULL: not cacheable) */
    uint64_t *tags;
    size_t n_tags;
} cache_stamp_t;

/* One cache per loop thread, --cache-mb shared out between them, and the
 * connection whose change mark the loops read; nothing when --cache-mb is
 * 0. Before the loops start; -1 with err when the connection fails. */
int cache_init(server_t *srv, char *err, size_t errlen);
/* The key of a cacheable view into buf (cap bytes): kind (the view and its
 * variant), the tenant, id type, id, the email form's page (from, size)
 * and the `fields` list. 0 when it does
 * not fit (then nothing is cached). */
size_t cache_key(char *buf, size_t cap, const storage_tenant_t *t, unsigned kind, unsigned id_type, const char *id, size_t id_len,
                 uint32_t page_from, uint32_t page_size, const char *fields, size_t fields_len);
/* Answers req from the loop's cache when key's entry is current
 * (respond_json_tagged, as a job's completion would) and returns 1; else
 * counts a miss and returns 0. Loop thread. */
int cache_answer(h2o_req_t *req, reqctx_t *rc, const char *key, size_t key_len);
/* As cache_answer, for an entry whose answer is made anew at each hit (a
 * first events page: a scrollId of its own): render(ctx, entry, entry_len,
 * &body, &len) builds it (malloc'd; 0, or -1: the hit is answered as a
 * miss), sent as respond_json(200), with no ETag. Loop thread. */
typedef int (*cache_render_fn)(void *ctx, const char *entry, size_t entry_len, char **body, size_t *len);
int cache_answer_rendered(h2o_req_t *req, reqctx_t *rc, const char *key, size_t key_len, cache_render_fn render, void *ctx);
/* Several views answered as one snapshot (the batch lookup), loop
 * thread: cache_snapshot reads the change mark once (1; 0 when there is no
 * cache), then each cache_peek finds key's entry current as of
 * that reading, so all the entries found were built from the database as
 * it is now. *body points into the cache until the next cache call other
 * than cache_peek. Neither counts: cache_count adds the lookups answered
 * (hits) and not (misses). */
int cache_snapshot(loop_t *loop);
int cache_peek(loop_t *loop, const char *key, size_t key_len, h2o_iovec_t *body);
void cache_count(loop_t *loop, uint64_t hits, uint64_t misses);
/* Worker, before the read: the stamp's mark and generation (no tags). */
void cache_stamp_begin(server_t *srv, storage_t *st, uint64_t defs_gen, cache_stamp_t *s);
/* Loop thread, with a finished view: keeps body and its etag under key when
 * the stamp is still current (no commit since its mark, same definitions). */
void cache_fill(loop_t *loop, const char *key, size_t key_len, const cache_stamp_t *s, const char *body, size_t body_len,
                const char *etag);
/* Sums the loops' counters and gauges into out (any thread). */
void cache_totals(const server_t *srv, metrics_sample_t *out);
/* The clock of read-time evaluation and of cache windows: the wall clock,
 * or with PROFILED_DEBUG_CLOCK_FILE (tests) the number of ms in that file. */
int64_t server_now_ms(const server_t *srv);

/* picohttpparser, as bundled and exported by libh2o 2.2.5 (which installs
 * no header for it): heads.c and gate.c read a request head with the
 * parser h2o used. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

/* ---- what h2o would answer itself (heads.c) ------------------------------- */
/* h2o 2.2.5 answers some requests before any handler runs: a request head
 * it refuses (over H2O_MAX_REQLEN, more than 100 header fields,
 * malformed) with raw text/plain "Bad Request", and errors of the body's
 * framing or size (413 over max_request_entity_size, bad chunking, unknown
 * Transfer-Encoding or Expect, no route for a path not starting with '/')
 * through its fallback path. These make both the API's JSON errors with
 * a request id. */
/* Watches a newly accepted connection's reads (after h2o_accept): a head
 * h2o would refuse is answered 400 here instead. */
void heads_watch(loop_t *loop, h2o_socket_t *sock);
/* The framing verdict (gate_framing_of) of req's head when the watch
 * parsed that very head in the read being handled: 1 and *verdict (NULL:
 * sound), else 0 (then parse it again). */
int heads_framing(h2o_req_t *req, const char **verdict);
/* Called for each request the router sees: once an HTTP/1 request is done
 * the watch is put back on its connection (h2o re-arms its reader). */
void heads_watch_request(h2o_req_t *req);
/* Adds the filter that rewrites h2o's own error answers, on hostconf's
 * fallback path (the one h2o answers through before any handler). */
void heads_filter_install(h2o_hostconf_t *hostconf);
/* The loop's timers for the above; with conn_loop_init. */
void heads_loop_init(loop_t *loop);

/* ---- loops and the server context ----------------------------------------- */
struct loop {
    h2o_context_t ctx; /* first: req->conn->ctx leads back to the loop */
    server_t *srv;
    int index; /* -1: the operations listener's loop */
    h2o_globalconf_t *h2o_config;
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_receiver_t done; /* finished jobs (jobs/) */
    h2o_timeout_t job_timeout;
    int listen_fd;
    h2o_socket_t *listener;
    uint64_t request_seq;
    char request_id_prefix[25]; /* router_new_request_id: the instance's and loop's part, "" until made */
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
    viewcache_t *cache;       /* cache.c; NULL: none */
    storage_sealer_t *sealer; /* the scrollIds of first events pages answered from the cache (cache.c) */
    /* heads.c */
    h2o_timeout_t heads_rewatch; /* 0 ms: after h2o re-arms a connection's reader */
    h2o_timeout_t heads_linger;  /* a refused connection's last reads */
};

/* The process-wide context, set up by server.c; one per process. */
struct server {
    config_t cfg;
    h2o_globalconf_t h2o_config;
    h2o_globalconf_t ops_config; /* --metrics-listen */
    loop_t *loops;
    loop_t ops_loop;
    _Atomic int loops_started;
    struct pool *pool; /* jobs/ */
    _Atomic(auth_table_t *) tokens;
    int64_t tokens_gen; /* generation the loaded table reflects */
    ratelimit_policy_t default_policy;
    ratelimit_policy_t ingest_policy;
    struct writer *writer; /* jobs/ */
    ratelimit_table_t *addr_limits;
    uint64_t instance_id; /* random, for request ids */
    char listen_host[64];
    int listen_port;
    _Atomic int draining;
    _Atomic int db_ok; /* the reloader's last look at the database worked */
    metrics_t *metrics;
    config_cidr_t *trusted;
    size_t ntrusted;
    _Atomic int64_t inflight; /* jobs not yet freed */
    /* the connection layer (conn.c), for /metrics */
    _Atomic int64_t unsent_bytes;    /* answers handed to connections, not yet taken */
    _Atomic uint64_t write_timeouts; /* connections cut by --write-timeout-ms */
    _Atomic uint64_t accept_pauses;  /* listener paused for lack of descriptors */
    _Atomic int64_t fd_starved_ms;   /* wall time of the last shortage; 0: none lately */
    /* computed traits and audiences (definitions.c publishes, jobs/ adopt) */
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
    /* the API reference of --docs-dir, read at start (api/handlers_docs.c) */
    const struct api_docs *docs;
    /* the rendered-view cache (cache.c): the connection whose change mark
     * the loops read (NULL: no cache), and the debug clock's file */
    storage_t *mark_st;
    char clock_file[256];
    /* what each commit of the writer changed (storage's commit journal):
     * the loops drop only the entries a commit touched */
    storage_journal_t *journal;
};

static inline loop_t *
loop_of(h2o_req_t *req)
{
    return (loop_t *)req->conn->ctx;
}

#endif
