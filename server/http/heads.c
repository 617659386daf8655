/* heads.c -- the answers h2o 2.2.5 would give itself, as the API's JSON
 * errors with a request id.
 *
 * Request heads: h2o's HTTP/1 reader parses the head with picohttpparser
 * over at most H2O_MAX_REQLEN bytes and, when that fails (no end within
 * them, more than H2O_MAX_HEADERS fields, malformed), writes a raw
 * text/plain "Bad Request" to the socket, no hook in between. So the
 * socket's read callback is wrapped: before h2o's reader sees the bytes,
 * the same parse runs here over the same bytes, and what h2o would refuse
 * is answered here (400 invalid_request_error, JSON, x-amzn-RequestId,
 * Connection: close), then the connection is read to its end for a moment
 * (so the client gets the answer, not a reset) and handed back to h2o to
 * close. h2o puts its own reader back after each answer on a keep-alive
 * connection; the router tells us of each request (heads_watch_request)
 * and the wrap goes back on at the end of that loop turn, before the loop
 * reads again. Everything but h2o's HTTP/1 reader passes through.
 *
 * The rest (413 over max_request_entity_size, broken chunking, unknown
 * Transfer-Encoding, an Expect other than 100-continue, a path h2o maps to
 * no handler) h2o sends through h2o_send_error_generic on the host's
 * fallback path before any handler runs: a filter there rewrites the
 * answer (status kept, JSON body, request id). Loop threads only. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "http.h"

/* How long a refused connection is read (and dropped) before it closes. */
#define LINGER_MS 1000

typedef struct {
    loop_t *loop;
    h2o_socket_t *sock;
    h2o_socket_cb inner;        /* the callback wrapped */
    h2o_timeout_entry_t rewrap; /* heads_rewatch */
    h2o_timeout_entry_t linger; /* heads_linger, once refused */
    int busy;                   /* inside inner: a close frees after it */
    int closed;
    int refused;
    char *answer;
    size_t answer_len;
    /* the head parsed in the read being handled (head_ok: while inside
     * inner), its framing verdict for gate_framing (NULL: sound) */
    int head_ok;
    const char *head_method, *head_path;
    size_t head_method_len, head_path_len;
    const char *head_framing;
} watch_t;

/* h2o's HTTP/1 reader: the read callback h2o_accept leaves on a plain
 * connection (all connections share it). */
static _Atomic(h2o_socket_cb) http1_reader;

static void on_read(h2o_socket_t *sock, const char *err);

static void
on_close(void *data)
{
    watch_t *w = data;
    if (h2o_timeout_is_linked(&w->rewrap))
        h2o_timeout_unlink(&w->rewrap);
    if (h2o_timeout_is_linked(&w->linger))
        h2o_timeout_unlink(&w->linger);
    if (w->busy) {
        w->closed = 1;
        return;
    }
    free(w->answer);
    free(w);
}

/* Puts the wrap back over whatever reader h2o left on the socket. */
static void
rewrap(watch_t *w)
{
    h2o_socket_cb cb = w->sock->_cb.read;
    if (cb != NULL && cb != on_read) {
        w->inner = cb;
        w->sock->_cb.read = on_read;
    }
}

/* Hands the connection back to h2o's reader with an error: it closes it
 * (and on_close frees w). */
static void
give_back(watch_t *w)
{
    h2o_socket_cb inner = w->inner;
    h2o_socket_t *sock = w->sock;
    inner(sock, h2o_socket_error_closed);
}

static void
on_linger_done(h2o_timeout_entry_t *entry)
{
    give_back(H2O_STRUCT_FROM_MEMBER(watch_t, linger, entry));
}

static void
on_answer_sent(h2o_socket_t *sock, const char *err)
{
    watch_t *w = sock->on_close.data;
    if (err != NULL) {
        give_back(w);
        return;
    }
    /* the answer is out: say so, and read what the client still sends
     * (dropped) until it closes or the linger ends */
    int fd = h2o_socket_get_fd(sock);
    if (fd >= 0)
        shutdown(fd, SHUT_WR);
    h2o_buffer_consume(&sock->input, sock->input->size);
    h2o_socket_read_start(sock, on_read);
    h2o_timeout_link(w->loop->ctx.loop, &w->loop->heads_linger, &w->linger);
}

/* The message of the 400 for a head h2o would refuse, or NULL when h2o
 * takes it (parsed, still incomplete within its bound, or one of the
 * cases it treats apart: HTTP/2's preface, a few stray line ends). */
static const char *
refused_head(watch_t *w, h2o_socket_t *sock)
{
    h2o_buffer_t *in = sock->input;
    size_t inreqlen = in->size < H2O_MAX_REQLEN ? in->size : H2O_MAX_REQLEN;
    if (inreqlen == 0)
        return NULL;
    struct phr_header headers[H2O_MAX_HEADERS];
    size_t nheaders = H2O_MAX_HEADERS, ml, pl;
    const char *m, *p;
    int minor;
    int r = phr_parse_request(in->bytes, inreqlen, &m, &ml, &p, &pl, &minor, headers, &nheaders, 0);
    if (r > 0) {
        /* the head h2o is about to parse: gate_framing takes its verdict
         * from here rather than parse it a third time */
        w->head_method = m, w->head_method_len = ml;
        w->head_path = p, w->head_path_len = pl;
        w->head_framing = gate_framing_of(headers, nheaders, minor);
        w->head_ok = 1;
    }
    if (r == -2)
        return inreqlen == H2O_MAX_REQLEN ? "Request head too large: the request line and headers must fit in 417792 bytes "
                                            "(408 KiB); send long lists in a request body."
                                          : NULL;
    if (r != -1)
        return NULL;
    if (in->size >= 12 && memcmp(in->bytes, "PRI * HTTP/2", 12) == 0)
        return NULL;
    int crlf_only = inreqlen <= 4;
    for (size_t i = 0; crlf_only && i < inreqlen; i++)
        crlf_only = in->bytes[i] == '\r' || in->bytes[i] == '\n';
    if (crlf_only)
        return NULL;
    return "Malformed request head, or more than 100 header fields.";
}

static void
refuse(watch_t *w, const char *message)
{
    char id[ROUTER_REQUEST_ID_MAX];
    size_t id_len = router_new_request_id(w->loop, id), body_len;
    char *body = err_json(ERR_INVALID_REQUEST, message, strlen(message), &body_len);
    size_t cap = body_len + 256;
    w->answer = base_xmalloc(cap);
    int n = snprintf(w->answer, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "x-amzn-RequestId: %.*s\r\nServer: profiled\r\nConnection: close\r\n\r\n%s",
                     err_status(ERR_INVALID_REQUEST), err_reason(ERR_INVALID_REQUEST), body_len, (int)id_len, id, body);
    free(body);
    w->answer_len = (size_t)n;
    w->refused = 1;
    h2o_socket_read_stop(w->sock);
    h2o_iovec_t buf = h2o_iovec_init(w->answer, w->answer_len);
    h2o_socket_write(w->sock, &buf, 1, on_answer_sent);
}

static void
on_read(h2o_socket_t *sock, const char *err)
{
    watch_t *w = sock->on_close.data;
    if (w->refused) { /* lingering: drop what comes, close at its end */
        if (err != NULL)
            give_back(w);
        else
            h2o_buffer_consume(&sock->input, sock->input->size);
        return;
    }
    const char *why;
    h2o_socket_cb h1 = atomic_load(&http1_reader);
    if (err == NULL && h1 != NULL && w->inner == h1 && (why = refused_head(w, sock)) != NULL) {
        w->head_ok = 0;
        refuse(w, why);
        return;
    }
    w->busy = 1;
    w->inner(sock, err);
    w->busy = 0;
    w->head_ok = 0;
    if (w->closed) {
        free(w->answer);
        free(w);
        return;
    }
    rewrap(w);
}

static void
on_rewrap(h2o_timeout_entry_t *entry)
{
    watch_t *w = H2O_STRUCT_FROM_MEMBER(watch_t, rewrap, entry);
    if (!w->refused)
        rewrap(w);
}

void
heads_watch(loop_t *loop, h2o_socket_t *sock)
{
    if (sock->on_close.cb != NULL || sock->_cb.read == NULL)
        return; /* someone else's, or closed already */
    if (sock->ssl == NULL) {
        h2o_socket_cb none = NULL;
        atomic_compare_exchange_strong(&http1_reader, &none, sock->_cb.read);
    }
    watch_t *w = base_xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->sock = sock;
    w->rewrap.cb = on_rewrap;
    w->linger.cb = on_linger_done;
    sock->on_close.cb = on_close;
    sock->on_close.data = w;
    rewrap(w);
}

static void
on_request_done(void *p)
{
    watch_t *w = *(watch_t **)p;
    if (!h2o_timeout_is_linked(&w->rewrap))
        h2o_timeout_link(w->loop->ctx.loop, &w->loop->heads_rewatch, &w->rewrap);
}

int
heads_framing(h2o_req_t *req, const char **verdict)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->on_close.cb != on_close)
        return 0;
    const watch_t *w = sock->on_close.data;
    /* the very bytes h2o parsed this request from (its method and path
     * point into the socket's buffer), parsed in this read */
    if (!w->head_ok || w->head_method != req->input.method.base || w->head_method_len != req->input.method.len ||
        w->head_path != req->input.path.base || w->head_path_len != req->input.path.len)
        return 0;
    *verdict = w->head_framing;
    return 1;
}

void
heads_watch_request(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->on_close.cb != on_close)
        return;
    /* disposed before h2o closes the socket or re-arms its reader */
    watch_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_request_done);
    *slot = sock->on_close.data;
}

void
heads_loop_init(loop_t *loop)
{
    h2o_timeout_init(loop->ctx.loop, &loop->heads_rewatch, 0);
    h2o_timeout_init(loop->ctx.loop, &loop->heads_linger, LINGER_MS);
}

/* ---- h2o's answers through the fallback path ------------------------------ */

typedef struct {
    h2o_ostream_t super;
    err_kind_t kind;
    h2o_iovec_t body;
} rewrite_t;

/* h2o_send_inline sends its text once, final (nothing for HEAD): a 400's
 * text says what was wrong ("broken chunked-encoding"), so it goes into
 * the message. The headers leave with the first send, the length too. */
static void
rewrite_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n, h2o_send_state_t state)
{
    rewrite_t *r = (rewrite_t *)self;
    if (n == 0) {
        h2o_ostream_send_next(&r->super, req, NULL, 0, state);
        return;
    }
    if (r->kind == ERR_INVALID_REQUEST && bufs[0].len > 0) {
        char msg[256];
        int m = snprintf(msg, sizeof(msg), "Invalid request: %.*s.", (int)(bufs[0].len < 128 ? bufs[0].len : 128), bufs[0].base);
        size_t len;
        char *json = err_json(r->kind, msg, (size_t)m, &len);
        r->body = h2o_strdup(&req->pool, json, len);
        req->res.content_length = len;
        free(json);
    }
    h2o_ostream_send_next(&r->super, req, &r->body, 1, state);
}

static void
on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    int status = req->res.status;
    if (status < 400) {
        h2o_setup_next_ostream(req, slot);
        return;
    }
    server_t *srv = loop_of(req)->srv;
    err_kind_t kind = status == 413 ? ERR_TOO_LARGE : status == 404 ? ERR_NO_ROUTE : ERR_INVALID_REQUEST;
    char msg[256];
    if (status == 413)
        snprintf(msg, sizeof(msg), "The request body is larger than %d bytes.", srv->cfg.max_body);
    else if (status == 404)
        snprintf(msg, sizeof(msg), "No route matches this request target.");
    else
        snprintf(msg, sizeof(msg), "Invalid request: %s.", req->res.reason != NULL ? req->res.reason : "refused");
    size_t len;
    char *json = err_json(kind, msg, strlen(msg), &len);
    rewrite_t *r = (rewrite_t *)h2o_add_ostream(req, sizeof(*r), slot);
    r->super.do_send = rewrite_send;
    r->kind = kind;
    r->body = h2o_strdup(&req->pool, json, len);
    free(json);
    if (status != 404 && status != 413 && status != 417)
        req->res.status = err_status(kind);
    memset(&req->res.headers, 0, sizeof(req->res.headers));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json; charset=utf-8"));
    h2o_iovec_t id = router_request_id(req);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-amzn-RequestId"), 0, NULL, id.base, id.len);
    req->res.content_length = len;
    h2o_setup_next_ostream(req, &r->super.next);
}

void
heads_filter_install(h2o_hostconf_t *hostconf)
{
    h2o_filter_t *f = h2o_create_filter(&hostconf->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_setup_ostream;
}
