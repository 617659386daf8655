/* gate.c -- the one place a request's credentials are checked: token from
 * `auth-token`, HTTP Basic or a body writeKey; the token's permissions
 * against the route; scope against the tenant (or the tenant taken from a
 * brand-scoped token); then the token's bucket.
 * Safe on any thread: the token table is swapped atomically, buckets are
 * lock-free and each thread keeps its own cache of verified tokens. Also the check of an HTTP/1 request's framing (smuggling). */
#include <string.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include "http.h"

h2o_iovec_t
gate_credential(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("auth-token"), -1);
    if (i >= 0)
        return req->headers.entries[i].value;
    i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return h2o_iovec_init(NULL, 0);
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || !h2o_lcstris(v.base, 6, H2O_STRLIT("basic ")))
        return h2o_iovec_init(NULL, 0);
    /* Basic base64(token ":" password): Segment libraries send the write
     * key as the user name with an empty password */
    const char *b64 = v.base + 6;
    size_t blen = v.len - 6;
    while (blen > 0 && *b64 == ' ')
        b64++, blen--;
    if (blen == 0 || blen > 1024 || blen % 4 != 0)
        return h2o_iovec_init(NULL, 0);
    unsigned char *dec = h2o_mem_alloc_pool(&req->pool, blen);
    int n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)blen);
    if (n < 0)
        return h2o_iovec_init(NULL, 0);
    /* at most two '=' pad a block: "cB==========" decodes to 9 bytes and
     * counting all ten made n negative, a read far past dec */
    for (size_t pad = blen; pad > blen - 2 && n > 0 && b64[pad - 1] == '='; pad--)
        n--;
    const unsigned char *colon = memchr(dec, ':', (size_t)n);
    size_t ulen = colon != NULL ? (size_t)(colon - dec) : (size_t)n;
    return h2o_iovec_init((const char *)dec, ulen);
}

static int
in_cidr(const config_cidr_t *c, int family, const unsigned char *a)
{
    if (c->family != family)
        return 0;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, a, (size_t)full) != 0)
        return 0;
    return rest == 0 || ((c->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

static int
trusted(const server_t *srv, int family, const unsigned char *a)
{
    for (size_t i = 0; i < srv->ntrusted; i++)
        if (in_cidr(&srv->trusted[i], family, a))
            return 1;
    return 0;
}

/* The client's address as family and bytes (16, the unused ones 0): the
 * peer, or past trusted proxies the X-Forwarded-For hop client_address
 * names. */
static void
client_bytes(h2o_req_t *req, int *family, unsigned char a[16])
{
    server_t *srv = loop_of(req)->srv;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    memset(a, 0, 16);
    *family = ss.ss_family;
    if (*family == AF_INET)
        memcpy(a, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    else if (*family == AF_INET6)
        memcpy(a, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    if (srv->ntrusted == 0 || !trusted(srv, *family, a))
        return;
    /* the peer is a trusted proxy: walk X-Forwarded-For from the right,
     * past every trusted hop, to the first address it was told about */
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_X_FORWARDED_FOR, -1);
    if (i < 0)
        return;
    h2o_iovec_t v = req->headers.entries[i].value;
    size_t end = v.len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && v.base[start - 1] != ',')
            start--;
        size_t s0 = start, e0 = end;
        while (s0 < e0 && v.base[s0] == ' ')
            s0++;
        while (e0 > s0 && v.base[e0 - 1] == ' ')
            e0--;
        int fam, prefix;
        unsigned char hop[16];
        if (config_parse_cidr(v.base + s0, e0 - s0, &fam, hop, &prefix) != 0 || prefix != (fam == AF_INET ? 32 : 128))
            return; /* garbage: keep the last trusted answer */
        *family = fam;
        memset(a, 0, 16);
        memcpy(a, hop, fam == AF_INET ? 4 : 16);
        if (!trusted(srv, fam, hop))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}

void
client_address(h2o_req_t *req, char *out, size_t len)
{
    int family;
    unsigned char a[16];
    client_bytes(req, &family, a);
    if (inet_ntop(family, a, out, (socklen_t)len) == NULL)
        snprintf(out, len, "unknown");
}

static int
header_is(const struct phr_header *h, const char *lcname, size_t len)
{
    return h->name != NULL && h2o_lcstris(h->name, h->name_len, lcname, len);
}

const char *
gate_framing_of(const struct phr_header *headers, size_t nheaders, int minor)
{
    size_t hosts = 0, lengths = 0, chunked = 0;
    h2o_iovec_t length = {NULL, 0};
    for (size_t i = 0; i < nheaders; i++) {
        const struct phr_header *h = &headers[i];
        if (header_is(h, H2O_STRLIT("host"))) {
            hosts++;
        } else if (header_is(h, H2O_STRLIT("transfer-encoding"))) {
            chunked++;
        } else if (header_is(h, H2O_STRLIT("content-length"))) {
            /* repeats of one value are one length (RFC 9112 6.3) */
            if (lengths++ > 0 && !h2o_memis(length.base, length.len, h->value, h->value_len))
                return "The request has more than one Content-Length, with different values.";
            length = h2o_iovec_init(h->value, h->value_len);
        }
    }
    if (chunked > 0 && lengths > 0)
        return "The request has both Content-Length and Transfer-Encoding.";
    if (chunked > 1)
        return "The request has more than one Transfer-Encoding.";
    if (chunked > 0 && minor == 0)
        return "Transfer-Encoding is not defined for HTTP/1.0.";
    if (minor >= 1 && hosts == 0)
        return "An HTTP/1.1 request must have a Host header.";
    if (hosts > 1)
        return "The request has more than one Host header.";
    return NULL;
}

const char *
gate_framing(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return NULL; /* HTTP/2 frames its own messages */
    const char *verdict;
    if (heads_framing(req, &verdict))
        return verdict; /* parsed by the head watch in this read */
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return NULL;
    /* h2o keeps Host, Content-Length and Transfer-Encoding out of
     * req->headers (the first Content-Length, or the last
     * Transfer-Encoding, frames the body); the head of the request being
     * served is still at the start of the socket's input buffer */
    const char *method, *path;
    size_t method_len, path_len, nheaders = H2O_MAX_HEADERS;
    int minor;
    struct phr_header headers[H2O_MAX_HEADERS];
    size_t len = sock->input->size < H2O_MAX_REQLEN ? sock->input->size : H2O_MAX_REQLEN;
    if (phr_parse_request(sock->input->bytes, len, &method, &method_len, &path, &path_len, &minor, headers, &nheaders, 0) <= 0 ||
        !h2o_memis(method, method_len, req->input.method.base, req->input.method.len) ||
        !h2o_memis(path, path_len, req->input.path.base, req->input.path.len))
        return NULL; /* not the head h2o parsed (never seen): nothing to add */
    return gate_framing_of(headers, nheaders, minor);
}

/* The address's bytes, not its text: the same key for the same address
 * (one text an address, one address a text), without inet_ntop on every
 * request. */
uint64_t
gate_peer_key(h2o_req_t *req)
{
    int family;
    unsigned char a[16];
    client_bytes(req, &family, a);
    unsigned char k[17];
    k[0] = family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
    memcpy(k + 1, a, 16);
    uint64_t h = base_fnv1a(1469598103934665603ULL, k, sizeof(k));
    return h == 0 ? 1 : h;
}

unsigned
gate_route_needs(unsigned route_flags)
{
    if (route_flags & ROUTE_DELETE)
        return AUTH_PERM_DELETE;
    if (route_flags & ROUTE_INGEST)
        return AUTH_PERM_INGEST;
    return AUTH_PERM_READ;
}

/* The 403 message for the first permission of need the token lacks. */
static const char *
lacking(const auth_token_t *token, unsigned need)
{
    unsigned missing = need & ~token->permissions;
    if (missing & AUTH_PERM_READ)
        return "This token may not read profiles.";
    if (missing & AUTH_PERM_INGEST)
        return "This token may not send events.";
    return "This token may not delete profiles.";
}

/* Each thread's verified tokens (a loop's, or a worker's for writeKeys):
 * an entry holds while its table is the live one, so a revocation is seen
 * at the reloader's next swap, as without it. Static, so /metrics can sum
 * them; a thread past the last one verifies uncached. */
#define VCACHE_MAX 256
static auth_vcache_t vcaches[VCACHE_MAX];
static _Atomic size_t nvcaches;
static _Thread_local auth_vcache_t *my_vcache;
static _Thread_local int no_vcache;

static auth_vcache_t *
thread_vcache(void)
{
    if (my_vcache == NULL && !no_vcache) {
        size_t i = atomic_fetch_add(&nvcaches, 1);
        if (i < VCACHE_MAX)
            my_vcache = &vcaches[i];
        else
            no_vcache = 1;
    }
    return my_vcache;
}

void
gate_token_cache_totals(uint64_t *hits, uint64_t *misses)
{
    size_t n = atomic_load(&nvcaches);
    *hits = *misses = 0;
    for (size_t i = 0; i < n && i < VCACHE_MAX; i++) {
        *hits += atomic_load_explicit(&vcaches[i].hits, memory_order_relaxed);
        *misses += atomic_load_explicit(&vcaches[i].misses, memory_order_relaxed);
    }
}

int
gate_authenticate(server_t *srv, h2o_iovec_t credential, uint64_t peer, storage_tenant_t *tenant, int tenant_from_token,
                  unsigned need, gate_result_t *out)
{
    memset(out, 0, sizeof(*out));
    auth_token_t *token = NULL;
    auth_table_t *table = atomic_load_explicit(&srv->tokens, memory_order_acquire);
    auth_vcache_t *vc = credential.len != 0 ? thread_vcache() : NULL;
    int rv = credential.len == 0 ? AUTH_EMISSING
             : vc != NULL ? auth_table_verify_cached(table, srv->cfg.token_pepper, vc, credential.base, credential.len, &token)
                          : auth_table_verify(table, srv->cfg.token_pepper, credential.base, credential.len, &token);
    if (rv != AUTH_OK) {
        /* guesses are limited by client address */
        out->policy = srv->default_policy;
        if (!ratelimit_table_take(srv->addr_limits, peer, &srv->default_policy, base_clock_ns(0), &out->limit)) {
            out->has_limit = 1;
            out->err = ERR_RATE_LIMITED;
            return -1;
        }
        out->err = ERR_UNAUTHENTICATED;
        out->message = rv == AUTH_EMISSING ? "Missing auth-token header." : "Invalid auth-token.";
        return -1;
    }
    /* before the scope: what a token may never do is refused the same
     * wherever it is tried */
    if (auth_token_allows(token, need) != AUTH_OK) {
        out->err = ERR_FORBIDDEN;
        out->message = lacking(token, need);
        return -1;
    }
    if (tenant_from_token) {
        if (token->brand == NULL) {
            out->err = ERR_INVALID_REQUEST;
            out->message = "This token covers every brand of its account, so the brand is not known: send to "
                           "/track/{clientId}/{accountId}/{brandId}/v1/... or use a brand-scoped token.";
            return -1;
        }
        *tenant = storage_tenant(token->client, token->account, token->brand);
    } else if (auth_token_permits(token, tenant) != AUTH_OK) {
        out->err = ERR_FORBIDDEN;
        return -1;
    }
    out->token = token;
    return 0;
}

int
gate_limit(server_t *srv, int ingest, gate_result_t *out)
{
    return gate_limit_n(srv, ingest, 1, out);
}

int
gate_limit_n(server_t *srv, int ingest, uint32_t cost, gate_result_t *out)
{
    auth_token_t *token = out->token;
    if (ingest)
        out->policy = srv->ingest_policy;
    else if (token->rate > 0 || token->burst > 0)
        ratelimit_policy_init(&out->policy, token->rate > 0 ? token->rate : srv->cfg.rate,
                              token->burst > 0 ? (uint32_t)token->burst : (uint32_t)srv->cfg.burst);
    else
        out->policy = srv->default_policy;
    out->has_limit = 1;
    if (!ratelimit_take_n(ingest ? &token->ingest_tat : &token->tat, &out->policy, cost, base_clock_ns(0), &out->limit)) {
        out->token = NULL;
        out->err = ERR_RATE_LIMITED;
        return -1;
    }
    return 0;
}

int
gate_check(server_t *srv, h2o_iovec_t credential, uint64_t peer, storage_tenant_t *tenant, unsigned route_flags, gate_result_t *out)
{
    if (gate_authenticate(srv, credential, peer, tenant, !(route_flags & ROUTE_TENANT), gate_route_needs(route_flags), out) != 0)
        return -1;
    if (route_flags & ROUTE_COSTED)
        return 0; /* the handler charges once it knows the cost */
    return gate_limit(srv, (route_flags & ROUTE_INGEST) != 0, out);
}
