/* router.c -- the one dispatch path every request takes, over the route
 * table api/ gives router_init:
 * request id, route match, CORS of the ingestion routes (preflight 204,
 * disallowed origin 403), body cap (413), no route (404 / 405),
 * authentication and tenant scope (401 / 403), rate limit (429), then the
 * route's handler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"

static const route_t *routes; /* router_init */
static size_t nroutes_all, nroutes_ops;

/* A pattern taken apart once at router_init, so matching a request
 * compares lengths and bytes instead of walking the pattern's text:
 * each '/'-segment a literal or (len CAPTURE) a capture. A pattern of
 * another shape (a segment mixing text and a capture) is matched by
 * router_match. */
#define ROUTE_MAX_SEGS 16
#define CAPTURE UINT16_MAX
typedef struct {
    int ok; /* 0: use router_match */
    size_t nseg;
    struct {
        const char *lit;
        uint16_t len;
    } seg[ROUTE_MAX_SEGS];
    size_t method_len;
    int is_get;
} compiled_t;
static compiled_t *compiled;

static void
compile(const route_t *r, compiled_t *c)
{
    memset(c, 0, sizeof(*c));
    c->method_len = strlen(r->method);
    c->is_get = strcmp(r->method, "GET") == 0;
    const char *p = r->pattern;
    while (*p != '\0') {
        if (*p != '/' || c->nseg == ROUTE_MAX_SEGS)
            return;
        p++;
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n > 0 && p[0] == '{') {
            if (p[n - 1] != '}' || memchr(p + 1, '{', n - 1) != NULL || memchr(p, '}', n - 1) != NULL)
                return;
            c->seg[c->nseg].len = CAPTURE;
        } else {
            if (memchr(p, '{', n) != NULL || n >= CAPTURE)
                return;
            c->seg[c->nseg].lit = p;
            c->seg[c->nseg].len = (uint16_t)n;
        }
        c->nseg++;
        p += n;
    }
    c->ok = 1;
}

void
router_init(const route_t *table, size_t n, size_t nops)
{
    routes = table;
    nroutes_all = n;
    nroutes_ops = nops;
    free(compiled);
    compiled = base_xcalloc(n, sizeof(*compiled));
    for (size_t i = 0; i < n; i++)
        compile(&table[i], &compiled[i]);
}

/* router_match over a compiled pattern: the same answers. */
static int
match_compiled(const compiled_t *c, const char *path, size_t len, h2o_iovec_t *caps, size_t *ncaps)
{
    const char *s = path, *end = path + len;
    *ncaps = 0;
    for (size_t i = 0; i < c->nseg; i++) {
        if (s >= end || *s != '/')
            return 0;
        s++;
        const char *seg = s;
        const char *slash = memchr(s, '/', (size_t)(end - s));
        s = slash != NULL ? slash : end;
        size_t seglen = (size_t)(s - seg);
        if (c->seg[i].len == CAPTURE) {
            if (seglen == 0 || *ncaps == ROUTE_MAX_PARAMS)
                return 0;
            caps[(*ncaps)++] = h2o_iovec_init(seg, seglen);
        } else if (seglen != c->seg[i].len || memcmp(seg, c->seg[i].lit, seglen) != 0) {
            return 0;
        }
    }
    return s == end;
}

size_t
router_route_count(void)
{
    return nroutes_all;
}

size_t
router_route_index(const route_t *route)
{
    return (size_t)(route - routes);
}

const char *
router_route_name(size_t index)
{
    return routes[index].pattern;
}

/* Matches path (raw, without query) against pattern; captures raw segments. */
int
router_match(const char *pattern, const char *path, size_t len, h2o_iovec_t *caps, size_t *ncaps)
{
    const char *p = pattern, *s = path, *end = path + len;
    *ncaps = 0;
    while (*p != '\0') {
        if (s >= end || *s != '/' || *p != '/')
            return 0;
        p++, s++;
        const char *seg = s;
        while (s < end && *s != '/')
            s++;
        size_t seglen = (size_t)(s - seg);
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (seglen == 0 || *ncaps == ROUTE_MAX_PARAMS)
                return 0;
            caps[(*ncaps)++] = h2o_iovec_init(seg, seglen);
            p = close + 1;
        } else {
            const char *pend = strchr(p, '/');
            size_t plen = pend != NULL ? (size_t)(pend - p) : strlen(p);
            if (plen != seglen || memcmp(p, seg, plen) != 0)
                return 0;
            p += plen;
        }
    }
    return s == end;
}

int
percent_decode(h2o_mem_pool_t *pool, h2o_iovec_t s, h2o_iovec_t *out)
{
    if (memchr(s.base, '%', s.len) == NULL) {
        *out = s;
        return 0;
    }
    char *d = h2o_mem_alloc_pool(pool, s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.base[i] == '%') {
            int hi, lo;
            if (i + 2 >= s.len)
                return -1;
            if ((hi = base_hex_digit(s.base[i + 1])) < 0 || (lo = base_hex_digit(s.base[i + 2])) < 0)
                return -1;
            d[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            d[n++] = s.base[i];
        }
    }
    d[n] = '\0';
    *out = h2o_iovec_init(d, n);
    return 0;
}

int
query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    size_t nlen = strlen(name);
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp != NULL ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        const char *kend = eq != NULL ? eq : pend;
        if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0) {
            h2o_iovec_t raw = eq != NULL ? h2o_iovec_init(eq + 1, (size_t)(pend - eq - 1)) : h2o_iovec_init("", 0);
            /* form encoding in queries: '+' is a space */
            char *copy = h2o_mem_alloc_pool(&req->pool, raw.len + 1);
            for (size_t i = 0; i < raw.len; i++)
                copy[i] = raw.base[i] == '+' ? ' ' : raw.base[i];
            if (percent_decode(&req->pool, h2o_iovec_init(copy, raw.len), value) != 0)
                *value = h2o_iovec_init(copy, raw.len);
            return 1;
        }
        q = pend + 1;
    }
    return 0;
}

/* The name as a message may show it: at most 64 bytes, printable ASCII
 * but quotes and backslash, anything else '?'. */
static void
safe_name(const char *p, size_t n, char *out, size_t outlen)
{
    size_t k = 0, cut = n > 64 ? 64 : n;
    for (size_t i = 0; i < cut && k + 4 < outlen; i++) {
        unsigned char c = (unsigned char)p[i];
        out[k++] = c >= 0x21 && c <= 0x7e && c != '"' && c != '\\' && c != '\'' ? (char)c : '?';
    }
    if (cut < n && k + 4 < outlen) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

int
query_check(h2o_req_t *req, const route_query_t *q, char *msg, size_t msglen)
{
    if (req->query_at == SIZE_MAX || q == NULL)
        return 0;
    uint64_t seen = 0; /* bit i: allowed[i] was given */
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pend = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pend - p));
        size_t klen = (size_t)((eq != NULL ? eq : pend) - p);
        if (pend == p) {
            p = pend + 1;
            continue;
        }
        size_t i;
        for (i = 0; q->allowed[i] != NULL; i++)
            if (strlen(q->allowed[i]) == klen && memcmp(q->allowed[i], p, klen) == 0)
                break;
        char name[80];
        safe_name(p, klen, name, sizeof(name));
        if (q->allowed[i] != NULL && i < 64) {
            if (seen & (1ULL << i)) {
                snprintf(msg, msglen, "Query parameter '%s' is given more than once: give it once.", name);
                return -1;
            }
            seen |= 1ULL << i;
            p = pend + 1;
            continue;
        }
        for (size_t h = 0; q->hints != NULL && q->hints[h] != NULL; h += 2)
            if (strlen(q->hints[h]) == klen && memcmp(q->hints[h], p, klen) == 0) {
                snprintf(msg, msglen, "%s", q->hints[h + 1]);
                return -1;
            }
        size_t k = (size_t)snprintf(msg, msglen, "Unknown query parameter '%s'; this route takes ", name);
        for (i = 0; q->allowed[i] != NULL && k < msglen; i++)
            k += (size_t)snprintf(msg + k, msglen - k, "%s%s", i > 0 ? ", " : "", q->allowed[i]);
        if (k < msglen)
            snprintf(msg + k, msglen - k, "%s.", i == 0 ? "none" : "");
        return -1;
    }
    return 0;
}

static int
sane_request_id(h2o_iovec_t v)
{
    if (v.len == 0 || v.len > 128)
        return 0;
    for (size_t i = 0; i < v.len; i++)
        if (v.base[i] < 0x21 || v.base[i] > 0x7e)
            return 0;
    return 1;
}

static h2o_iovec_t
request_id(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0 && sane_request_id(req->headers.entries[i].value))
        return req->headers.entries[i].value;
    char *buf = h2o_mem_alloc_pool(&req->pool, ROUTER_REQUEST_ID_MAX);
    return h2o_iovec_init(buf, router_new_request_id(loop_of(req), buf));
}

/* "%08x-%04x-%04x-%04x-%012llx" of the instance id's three parts, the
 * loop and its sequence, written by hand: every answer carries one. All
 * but the sequence is the loop's for good, so written once. */
size_t
router_new_request_id(loop_t *loop, char *out)
{
    uint64_t seq = ++loop->request_seq;
    char *pre = loop->request_id_prefix;
    if (pre[0] == '\0') {
        uint64_t inst = loop->srv->instance_id;
        char *p = pre;
        p += base_fmt_hex(p, inst >> 32 & 0xffffffffULL, 8);
        *p++ = '-';
        p += base_fmt_hex(p, inst >> 16 & 0xffff, 4);
        *p++ = '-';
        p += base_fmt_hex(p, inst & 0xffff, 4);
        *p++ = '-';
        p += base_fmt_hex(p, (uint64_t)loop->index & 0xffff, 4);
        *p++ = '-';
        *p = '\0';
    }
    memcpy(out, pre, 24);
    base_fmt_hex(out + 24, seq & 0xffffffffffffULL, 12);
    return 36;
}

h2o_iovec_t
router_request_id(h2o_req_t *req)
{
    return request_id(req);
}

/* Authenticates and rate-limits; answers and returns -1 when the request
 * must stop here. */
static int
authorize(h2o_req_t *req, reqctx_t *rc, const h2o_iovec_t *params)
{
    const route_t *route = rc->route;
    h2o_iovec_t cred = gate_credential(req);
    rc->peer = gate_peer_key(req);
    if (route->flags & ROUTE_TENANT)
        rc->tenant =
            (storage_tenant_t){params[0].base, params[0].len, params[1].base, params[1].len, params[2].base, params[2].len};
    if (cred.len == 0 && (route->flags & ROUTE_INGEST)) {
        rc->auth_deferred = 1; /* the body may carry a writeKey */
        return 0;
    }
    if (gate_check(loop_of(req)->srv, cred, rc->peer, &rc->tenant, route->flags, &rc->gate) != 0) {
        respond_error(req, rc, rc->gate.err, rc->gate.message != NULL ? "%s" : NULL, rc->gate.message);
        return -1;
    }
    return 0;
}

/* Dispatches over routes[0..nroutes). */
static int
dispatch(h2o_req_t *req, size_t nroutes, int ops_listener)
{
    server_t *srv = loop_of(req)->srv;
    reqctx_t *rc = h2o_mem_alloc_pool(&req->pool, sizeof(*rc));
    memset(rc, 0, sizeof(*rc));
    rc->start_ns = base_clock_ns(1);
    rc->request_id = request_id(req);
    heads_watch_request(req); /* HTTP/1: guard the connection's next head (heads.c) */

    const char *framing = gate_framing(req);
    if (framing != NULL) {
        /* what follows on the connection cannot be told apart: close it */
        req->http1_is_persistent = 0;
        respond_error(req, rc, ERR_INVALID_REQUEST, "%s", framing);
        return 0;
    }

    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (plen > 1 && req->path.base[plen - 1] == '/')
        plen--;
    h2o_iovec_t caps[ROUTE_MAX_PARAMS];
    size_t ncaps;
    char allow[64] = "";
    const route_t *route = NULL, *preflight = NULL;
    int is_options = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"));
    for (size_t r = 0; r < nroutes; r++) {
        /* with a separate operations listener, /metrics lives only there */
        if ((routes[r].flags & ROUTE_OPS_ONLY) && !ops_listener && srv->cfg.metrics_listen[0] != '\0')
            continue;
        const compiled_t *c = &compiled[r];
        if (!(c->ok ? match_compiled(c, req->path.base, plen, caps, &ncaps)
                    : router_match(routes[r].pattern, req->path.base, plen, caps, &ncaps)))
            continue;
        int is_get = c->is_get;
        if (h2o_memis(req->method.base, req->method.len, routes[r].method, c->method_len) ||
            (is_get && h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))) {
            route = &routes[r];
            break;
        }
        if (is_options && (routes[r].flags & ROUTE_INGEST) && preflight == NULL)
            preflight = &routes[r]; /* a browser asking before it sends */
        if (strstr(allow, routes[r].method) == NULL) {
            size_t al = strlen(allow);
            snprintf(allow + al, sizeof(allow) - al, "%s%s%s", al ? ", " : "", routes[r].method, is_get ? ", HEAD" : "");
        }
    }
    /* CORS only on the ingestion routes: their answers, errors too, carry
     * it; a disallowed origin gets 403 and no CORS */
    const route_t *cors = route != NULL ? route : preflight;
    if (cors != NULL && (cors->flags & ROUTE_INGEST) && cors_allow(req, rc) != 0)
        return 0;
    if (req->entity.base != NULL && req->entity.len > (size_t)srv->cfg.max_body) {
        respond_error(req, rc, ERR_TOO_LARGE, "The request body is larger than %d bytes.", srv->cfg.max_body);
        return 0;
    }
    if (route == NULL && preflight != NULL) {
        rc->route = preflight;
        cors_preflight(req, rc);
        return 0;
    }
    if (route == NULL) {
        if (allow[0] != '\0') {
            h2o_iovec_t v = h2o_strdup(&req->pool, allow, strlen(allow));
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, v.base, v.len);
            respond_error(req, rc, ERR_METHOD, "Method %.*s is not allowed here; allowed: %s.", (int)req->method.len,
                          req->method.base, allow);
        } else {
            respond_error(req, rc, ERR_NO_ROUTE, "No route matches %.*s %.*s.", (int)req->method.len, req->method.base, (int)plen,
                          req->path.base);
        }
        return 0;
    }
    rc->route = route;

    h2o_iovec_t params[ROUTE_MAX_PARAMS];
    for (size_t c = 0; c < ncaps; c++)
        if (percent_decode(&req->pool, caps[c], &params[c]) != 0) {
            respond_error(req, rc, ERR_VALIDATION, "Invalid percent-encoding in the path.");
            return 0;
        }
    if ((route->flags & ROUTE_AUTH) && authorize(req, rc, params) != 0)
        return 0;
    /* after authentication: a stranger learns nothing of the routes */
    char qmsg[512];
    if (query_check(req, route->query, qmsg, sizeof(qmsg)) != 0) {
        respond_error(req, rc, ERR_INVALID_REQUEST, "%s", qmsg);
        return 0;
    }
    route->handler(req, rc, params);
    return 0;
}

int
router_dispatch(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    return dispatch(req, nroutes_all, 0);
}

int
router_dispatch_ops(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    return dispatch(req, nroutes_ops, 1);
}
