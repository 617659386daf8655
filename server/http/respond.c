/* respond.c -- JSON responses: the standard headers every answer carries
 * (content type and length, request id, rate-limit fields) and the one
 * table that turns an error kind into status, reason and error code. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <zlib.h>
#include "http.h"

static const struct {
    int status;
    const char *reason;
    const char *code;
    const char *message;
} errors[] = {
    [ERR_VALIDATION] = {400, "Bad Request", "validation_error", "The request failed validation."},
    [ERR_INVALID_REQUEST] = {400, "Bad Request", "invalid_request_error", "The request has invalid parameters."},
    [ERR_UNAUTHENTICATED] = {401, "Unauthorized", "authentication_error", "No valid auth-token provided."},
    [ERR_FORBIDDEN] = {403, "Forbidden", "authentication_error",
                       "The auth-token does not grant access to this client, account or brand."},
    [ERR_NOT_FOUND] = {404, "Not Found", "not_found", "Profile was not found."},
    [ERR_NO_ROUTE] = {404, "Not Found", "invalid_request_error", "No such route."},
    [ERR_METHOD] = {405, "Method Not Allowed", "invalid_request_error", "Method not allowed on this route."},
    [ERR_TOO_LARGE] = {413, "Payload Too Large", "invalid_request_error", "The request is larger than 1 MiB."},
    [ERR_RATE_LIMITED] = {429, "Too Many Requests", "rate_limit_error", "Too many requests hit the API too quickly."},
    [ERR_INTERNAL] = {500, "Internal Server Error", "internal_server_error", "Something went wrong internal to the server."},
    /* the writer logs each failed commit: not each request (respond_error) */
    [ERR_DISK_FULL] = {500, "Internal Server Error", "internal_server_error",
                       "The database's disk is full: nothing of this request was stored; retry later."},
    [ERR_UNAVAILABLE] = {503, "Service Unavailable", "internal_server_error", "The server is too busy; retry later."},
    [ERR_DB_DOWN] = {503, "Service Unavailable", "internal_server_error",
                     "The database is not reachable; retry later (nothing of this request was stored)."},
    [ERR_TIMEOUT] = {504, "Gateway Timeout", "internal_server_error", "The request took too long; retry later."},
};

err_kind_t
err_from_storage(int rc)
{
    switch (rc) {
    case STORAGE_ENOTFOUND:
        return ERR_NOT_FOUND;
    case STORAGE_EINVAL:
        return ERR_VALIDATION;
    case STORAGE_EBUSY:
        return ERR_UNAVAILABLE;
    case STORAGE_EFULL:
        return ERR_DISK_FULL;
    case STORAGE_EDOWN:
        return ERR_DB_DOWN;
    default:
        return ERR_INTERNAL;
    }
}

int
err_status(err_kind_t kind)
{
    return errors[kind].status;
}

const char *
err_reason(err_kind_t kind)
{
    return errors[kind].reason;
}

char *
err_json(err_kind_t kind, const char *message, size_t message_len, size_t *len)
{
    json_object *root = json_object_new_object(), *err = json_object_new_object();
    json_object_object_add(err, "code", json_object_new_string(errors[kind].code));
    json_object_object_add(err, "message", json_object_new_string_len(message, (int)message_len));
    json_object_object_add(root, "error", err);
    const char *s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
    char *body = base_xmalloc(*len + 1);
    memcpy(body, s, *len + 1);
    json_object_put(root);
    return body;
}

static const char *
reason_of(int status)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (errors[i].status == status)
            return errors[i].reason;
    return status == 200 ? "OK" : status == 204 ? "No Content" : "Unknown";
}

/* gzip of body when it is large enough and the client accepts gzip, so
 * the answer keeps a Content-Length (h2o's own filter would chunk it):
 * a copy of pre (prelen bytes, body's gzip made beforehand) when it is
 * given, else compressed here. Returns the compressed copy (malloc'd) or
 * NULL. */
static char *
maybe_gzip(h2o_req_t *req, const char *body, size_t len, const char *pre, size_t prelen, size_t *outlen)
{
    server_t *srv = loop_of(req)->srv;
    if (srv->cfg.compress_min_size <= 0 || len < (size_t)srv->cfg.compress_min_size)
        return NULL;
    if ((h2o_get_compressible_types(&req->headers) & H2O_COMPRESSIBLE_GZIP) == 0)
        return NULL;
    if (pre != NULL) {
        char *copy = base_xmalloc(prelen);
        memcpy(copy, pre, prelen);
        *outlen = prelen;
        return copy;
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)len);
    char *out = malloc(cap);
    if (out == NULL)
        abort();
    zs.next_in = (Bytef *)body;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END || *outlen >= len) {
        free(out);
        return NULL;
    }
    return out;
}

/* Appends text (n bytes) at *p. */
static char *
put(char *p, const char *text, size_t n)
{
    memcpy(p, text, n);
    return p + n;
}

static void
add_header_iov(h2o_req_t *req, const char *name, size_t name_len, const char *value, size_t len)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, name_len, 0, NULL, value, len);
}

/* The RateLimit fields (and Retry-After of a 429), formatted by hand into
 * one piece of the request's pool: every answer of an authenticated route
 * carries them. */
static void
add_limit_headers(h2o_req_t *req, const reqctx_t *rc)
{
    const ratelimit_policy_t *p = &rc->gate.policy;
    /* seconds until full, rounded up */
    long long reset = (rc->gate.limit.reset_ns + 999999999LL) / 1000000000LL;
    long long window = (long long)((double)p->burst / p->rate + 0.999999);
    if (window < 1)
        window = 1;
    char burst[BASE_FMT_INT_MAX], remaining[BASE_FMT_INT_MAX], resets[BASE_FMT_INT_MAX], windows[BASE_FMT_INT_MAX];
    size_t nb = base_fmt_u64(burst, p->burst), nr = base_fmt_u64(remaining, rc->gate.limit.remaining);
    size_t nt = base_fmt_i64(resets, reset), nw = base_fmt_i64(windows, window);
    char *buf = h2o_mem_alloc_pool(&req->pool, 2 * (sizeof("\"default\";q=;w=") + 2 * BASE_FMT_INT_MAX) + 4 * BASE_FMT_INT_MAX);
    char *v = buf, *e;
    e = put(put(put(put(v, H2O_STRLIT("\"default\";q=")), burst, nb), H2O_STRLIT(";w=")), windows, nw);
    add_header_iov(req, H2O_STRLIT("ratelimit-policy"), v, (size_t)(e - v));
    v = e;
    e = put(put(put(put(v, H2O_STRLIT("\"default\";r=")), remaining, nr), H2O_STRLIT(";t=")), resets, nt);
    add_header_iov(req, H2O_STRLIT("ratelimit"), v, (size_t)(e - v));
    v = e;
    e = put(v, burst, nb);
    add_header_iov(req, H2O_STRLIT("x-ratelimit-limit"), v, nb);
    v = e;
    e = put(v, remaining, nr);
    add_header_iov(req, H2O_STRLIT("x-ratelimit-remaining"), v, nr);
    v = e;
    e = put(v, resets, nt);
    add_header_iov(req, H2O_STRLIT("x-ratelimit-reset"), v, nt);
    if (!rc->gate.limit.allowed) {
        long long retry = (rc->gate.limit.retry_after_ns + 999999999LL) / 1000000000LL;
        if (retry < 1)
            retry = 1;
        v = e;
        size_t n = base_fmt_i64(v, retry);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v, n);
    }
}

/* Counts the answer in the metrics and writes its access log line. */
static void
report(h2o_req_t *req, const reqctx_t *rc, int status, size_t len)
{
    double seconds = (double)(base_clock_ns(1) - rc->start_ns) / 1e9;
    metrics_request(loop_of(req)->srv->metrics, rc->route != NULL ? router_route_index(rc->route) : router_route_count(), status,
                    seconds);
    if (!access_log_enabled())
        return;
    char addr[64];
    client_address(req, addr, sizeof(addr));
    access_entry_t e = {rc->request_id.base,
                        rc->request_id.len,
                        addr,
                        req->method.base,
                        req->method.len,
                        rc->route != NULL ? rc->route->pattern : "unmatched",
                        &rc->tenant,
                        status,
                        len,
                        seconds};
    access_log_write(&e);
}

/* The request id and rate-limit fields; counts and logs the answer. */
static void
standard_headers(h2o_req_t *req, reqctx_t *rc, int status, size_t len)
{
    if (rc == NULL)
        return;
    if (rc->request_id.len != 0)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-requestid"), 0, "x-amzn-RequestId",
                              rc->request_id.base, rc->request_id.len);
    if (rc->gate.has_limit)
        add_limit_headers(req, rc);
    report(req, rc, status, len);
}

void
respond_empty(h2o_req_t *req, reqctx_t *rc, int status)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = SIZE_MAX; /* 204: no Content-Length (RFC 9110) */
    standard_headers(req, rc, status, 0);
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

void
respond_json(h2o_req_t *req, reqctx_t *rc, int status, char *body, size_t len)
{
    respond_text(req, rc, status, "application/json; charset=utf-8", body, len);
}

char *
respond_gzip(h2o_req_t *req, const char *body, size_t len, size_t *outlen)
{
    return maybe_gzip(req, body, len, NULL, 0, outlen);
}

/* Whether an answer of len bytes is a candidate for gzip (the Vary field). */
static int
gzip_size(h2o_req_t *req, size_t len)
{
    int min = loop_of(req)->srv->cfg.compress_min_size;
    return min > 0 && len >= (size_t)min;
}

/* The ETag field: etag ("\"<hex>\""), or its gzip variant "\"<hex>-gzip\""
 * (another representation, so another strong tag). */
static void
add_etag(h2o_req_t *req, const char *etag, int gzipped)
{
    size_t n = strlen(etag);
    if (!gzipped) {
        h2o_iovec_t v = h2o_strdup(&req->pool, etag, n);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, v.base, v.len);
        return;
    }
    char *v = h2o_mem_alloc_pool(&req->pool, n + 5);
    memcpy(v, etag, n - 1);
    memcpy(v + n - 1, "-gzip\"", 6);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, v, n + 5);
}

/* The body, with an ETag field when etag is not NULL; gz (gz_len bytes,
 * borrowed; NULL: none) is its gzip made beforehand. */
static void
respond_body(h2o_req_t *req, reqctx_t *rc, int status, const char *content_type, char *body, size_t len, const char *etag,
             const char *gz, size_t gz_len)
{
    static h2o_generator_t generator = {NULL, NULL};
    size_t plain_len = len, zlen;
    char *z = maybe_gzip(req, body, len, gz, gz_len, &zlen);
    if (!conn_admit_answer(loop_of(req)->srv, z != NULL ? zlen : len)) {
        free(z);
        free(body);
        respond_error(req, rc, ERR_UNAVAILABLE, "Too many answers are waiting for slow clients; retry later.");
        return;
    }
    if (z != NULL) {
        free(body);
        body = z;
        len = zlen;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL, H2O_STRLIT("gzip"));
    }
    if (gzip_size(req, plain_len))
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("accept-encoding"));
    if (etag != NULL)
        add_etag(req, etag, z != NULL);
    conn_hold_answer(req, body, len);

    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    standard_headers(req, rc, status, len);
    h2o_start_response(req, &generator);
    if (h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"))) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    } else {
        h2o_iovec_t buf = h2o_iovec_init(body, len);
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
    }
}

void
respond_text(h2o_req_t *req, reqctx_t *rc, int status, const char *content_type, char *body, size_t len)
{
    respond_body(req, rc, status, content_type, body, len, NULL, NULL, 0);
}

/* Whether one If-None-Match value (a list of entity tags, or *) names the
 * tag: weak comparison (RFC 9110 13.1.2), so W/ is ignored, and the tag's
 * -gzip variant names the same body. tag is "\"<hex>\"". */
static int
none_match_lists(const char *v, size_t n, const char *tag)
{
    size_t tn = strlen(tag) - 2; /* the opaque part without quotes */
    const char *end = v + n;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        if (v == end)
            break;
        if (*v == '*')
            return 1;
        if (end - v >= 2 && v[0] == 'W' && v[1] == '/')
            v += 2;
        if (v == end || *v != '"')
            return 0; /* not an entity tag: the field is invalid, ignored */
        const char *q = memchr(v + 1, '"', (size_t)(end - v - 1));
        if (q == NULL)
            return 0;
        size_t on = (size_t)(q - v - 1);
        if ((on == tn && memcmp(v + 1, tag + 1, tn) == 0) ||
            (on == tn + 5 && memcmp(v + 1, tag + 1, tn) == 0 && memcmp(v + 1 + tn, "-gzip", 5) == 0))
            return 1;
        v = q + 1;
    }
    return 0;
}

void
respond_json_tagged(h2o_req_t *req, reqctx_t *rc, char *body, size_t len, const char *etag)
{
    respond_tagged(req, rc, "application/json; charset=utf-8", body, len, NULL, 0, etag);
}

void
respond_tagged(h2o_req_t *req, reqctx_t *rc, const char *content_type, char *body, size_t len, const char *pre_gz,
               size_t pre_gz_len, const char *etag)
{
    int match = 0;
    for (ssize_t i = -1; !match && (i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, i)) != -1;)
        match = none_match_lists(req->headers.entries[i].value.base, req->headers.entries[i].value.len, etag);
    if (!match) {
        respond_body(req, rc, 200, content_type, body, len, etag, pre_gz, pre_gz_len);
        return;
    }
    /* 304: the tag and Vary the 200 would have sent (RFC 9110 15.4.5) */
    static h2o_generator_t generator = {NULL, NULL};
    int gz = gzip_size(req, len);
    free(body);
    if (gz)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("accept-encoding"));
    add_etag(req, etag, gz && (h2o_get_compressible_types(&req->headers) & H2O_COMPRESSIBLE_GZIP) != 0);
    req->res.status = 304;
    req->res.reason = "Not Modified";
    req->res.content_length = SIZE_MAX; /* no Content-Length, no body */
    standard_headers(req, rc, 304, 0);
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

/* Longest error message, in bytes: a message that echoes request text is
 * cut to it on a character boundary and ends with "…". */
#define ERR_MESSAGE_MAX 512

/* A full disk fails every write until space is freed: one line per
 * DISK_FULL_LOG_MS at most, with the count of the answers it stands for
 * (the writer also logs each failed commit). */
#define DISK_FULL_LOG_MS 10000

static void
log_disk_full(const reqctx_t *rc)
{
    static _Atomic int64_t last_ms = INT64_MIN;
    static _Atomic uint64_t unlogged;
    int64_t now = base_clock_ns(0) / 1000000, last = atomic_load(&last_ms);
    if ((last != INT64_MIN && now - last < DISK_FULL_LOG_MS) || !atomic_compare_exchange_strong(&last_ms, &last, now)) {
        atomic_fetch_add(&unlogged, 1);
        return;
    }
    fprintf(stderr, "profiled: disk full: request %.*s answered 500, nothing stored (%llu more such answers since the last line)\n",
            (int)(rc ? rc->request_id.len : 0), rc ? rc->request_id.base : "", (unsigned long long)atomic_exchange(&unlogged, 0));
}

void
respond_error(h2o_req_t *req, reqctx_t *rc, err_kind_t kind, const char *fmt, ...)
{
    char msg[ERR_MESSAGE_MAX];
    const char *text = errors[kind].message;
    size_t text_len = strlen(text);
    if (fmt != NULL) {
        /* formatted into more room than the message may take, so the cut
         * below is made on a character boundary, not by vsnprintf */
        char full[4 * ERR_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(full, sizeof(full), fmt, ap);
        va_end(ap);
        size_t have = n < 0 ? 0 : (size_t)n < sizeof(full) ? (size_t)n : sizeof(full) - 1;
        /* echoed request bytes need not be UTF-8: the body must be */
        size_t used;
        text_len = base_utf8_copy(full, have, msg, sizeof(msg) - 4, &used);
        if (used < (n < 0 ? 0 : (size_t)n)) {
            memcpy(msg + text_len, "\xe2\x80\xa6", 3); /* U+2026 */
            text_len += 3;
        }
        msg[text_len] = '\0';
        text = msg;
    }
    size_t len;
    char *body = err_json(kind, text, text_len, &len);
    if (kind == ERR_INTERNAL)
        fprintf(stderr, "profiled: internal error on request %.*s: %s\n", (int)(rc ? rc->request_id.len : 0),
                rc ? rc->request_id.base : "", text);
    else if (kind == ERR_DISK_FULL)
        log_disk_full(rc);
    respond_json(req, rc, errors[kind].status, body, len);
}
