/* conn.c -- the connection layer's limits: answers held in memory until
 * their clients take them (bounded by --unsent-limit-mb; a connection whose
 * client takes no bytes for --write-timeout-ms is cut), and accepting,
 * which pauses while the process is out of file descriptors instead of
 * spinning on a listener it cannot serve. Loop threads only, except the
 * process-wide counters. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked */
#include "http.h"

/* Answers up to this size are always admitted: errors, health and most
 * reads stay possible while large answers are refused. */
#define SMALL_ANSWER (64 * 1024)
/* How long accepting stays paused before the next try. */
#define ACCEPT_RETRY_MS 100
/* An episode of descriptor shortage ends after this long without one. */
#define STARVED_QUIET_MS 10000

typedef struct {
    h2o_linklist_t link; /* in loop->held */
    loop_t *loop;
    h2o_req_t *req;
    char *body;
    size_t len;
    uint64_t acked;    /* bytes the peer had acknowledged at the last look */
    uint64_t progress; /* loop time (ms) the peer last took bytes */
} held_answer_t;

int
conn_admit_answer(server_t *srv, size_t len)
{
    int64_t before = atomic_fetch_add(&srv->unsent_bytes, (int64_t)len);
    if (len <= SMALL_ANSWER || before + (int64_t)len <= (int64_t)srv->cfg.unsent_limit_mb << 20)
        return 1;
    atomic_fetch_sub(&srv->unsent_bytes, (int64_t)len);
    return 0;
}

static void
on_answer_dispose(void *p)
{
    held_answer_t *h = p;
    if (h2o_linklist_is_linked(&h->link))
        h2o_linklist_unlink(&h->link);
    free(h->body);
    atomic_fetch_sub(&h->loop->srv->unsent_bytes, (int64_t)h->len);
}

void
conn_hold_answer(h2o_req_t *req, char *body, size_t len)
{
    loop_t *loop = loop_of(req);
    held_answer_t *h = h2o_mem_alloc_shared(&req->pool, sizeof(*h), on_answer_dispose);
    *h = (held_answer_t){.loop = loop, .req = req, .body = body, .len = len, .progress = h2o_now(loop->ctx.loop)};
    h2o_linklist_insert(&loop->held, &h->link);
}

/* Bytes the peer has acknowledged on the request's connection, and its
 * descriptor: 0, or -1 when not known (then it is never cut). */
static int
peer_acked(h2o_req_t *req, int *fd, uint64_t *acked)
{
    if (req->conn->callbacks->get_socket == NULL)
        return -1;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || (*fd = h2o_socket_get_fd(sock)) < 0)
        return -1;
    struct tcp_info ti;
    socklen_t tl = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(*fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0 || tl < offsetof(struct tcp_info, tcpi_bytes_acked) + 8)
        return -1;
    *acked = ti.tcpi_bytes_acked;
    return 0;
}

/* Shuts the socket down under h2o: its pending write fails, and h2o closes
 * the connection and disposes the request (which frees the answer) in its
 * own time. With a zero linger the close resets, so the kernel drops what
 * it still holds too. */
static void
cut(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    shutdown(fd, SHUT_RDWR);
}

static void
on_held_check(h2o_timeout_entry_t *entry)
{
    loop_t *loop = H2O_STRUCT_FROM_MEMBER(loop_t, held_entry, entry);
    server_t *srv = loop->srv;
    uint64_t now = h2o_now(loop->ctx.loop);
    for (h2o_linklist_t *l = loop->held.next; l != &loop->held;) {
        held_answer_t *h = H2O_STRUCT_FROM_MEMBER(held_answer_t, link, l);
        l = l->next;
        int fd;
        uint64_t acked;
        if (peer_acked(h->req, &fd, &acked) != 0)
            continue;
        if (acked != h->acked) {
            h->acked = acked;
            h->progress = now;
        } else if (now - h->progress >= (uint64_t)srv->cfg.write_timeout_ms) {
            cut(fd);
            atomic_fetch_add(&srv->write_timeouts, 1);
            /* once per answer: h2o unlinks nothing until it disposes it */
            h2o_linklist_unlink(&h->link);
        }
    }
    int64_t starved = atomic_load(&srv->fd_starved_ms), wall = base_wall_ms();
    if (starved != 0 && wall - starved > STARVED_QUIET_MS && atomic_compare_exchange_strong(&srv->fd_starved_ms, &starved, 0))
        fprintf(stderr, "profiled: file descriptors available again (no shortage for %d s)\n", STARVED_QUIET_MS / 1000);
    h2o_timeout_link(loop->ctx.loop, &loop->held_check, &loop->held_entry);
}

static void
on_accept_retry(h2o_timeout_entry_t *entry)
{
    loop_t *loop = H2O_STRUCT_FROM_MEMBER(loop_t, accept_entry, entry);
    if (loop->listener != NULL) /* NULL: closed by a drain meanwhile */
        h2o_socket_read_start(loop->listener, conn_on_accept);
}

/* Out of descriptors: a connection left in the backlog keeps the listener
 * readable, so stop reading it for a while rather than spin. */
static void
pause_accepting(loop_t *loop, int err)
{
    server_t *srv = loop->srv;
    h2o_socket_read_stop(loop->listener);
    h2o_timeout_link(loop->ctx.loop, &loop->accept_retry, &loop->accept_entry);
    atomic_fetch_add(&srv->accept_pauses, 1);
    if (atomic_exchange(&srv->fd_starved_ms, base_wall_ms()) == 0)
        fprintf(stderr,
                "profiled: out of file descriptors (%s): accepting paused, retried every %d ms (raise the limit: ulimit -n / "
                "LimitNOFILE)\n",
                strerror(err), ACCEPT_RETRY_MS);
}

void
conn_on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    loop_t *loop = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL) {
        h2o_accept(&loop->accept_ctx, sock);
        heads_watch(loop, sock);
        return;
    }
    int e = errno;
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
        pause_accepting(loop, e);
}

void
conn_loop_init(loop_t *loop)
{
    h2o_linklist_init_anchor(&loop->held);
    int every = loop->srv->cfg.write_timeout_ms / 4;
    h2o_timeout_init(loop->ctx.loop, &loop->held_check, (uint64_t)(every < 10 ? 10 : every > 1000 ? 1000 : every));
    loop->held_entry.cb = on_held_check;
    h2o_timeout_link(loop->ctx.loop, &loop->held_check, &loop->held_entry);
    h2o_timeout_init(loop->ctx.loop, &loop->accept_retry, ACCEPT_RETRY_MS);
    loop->accept_entry.cb = on_accept_retry;
    heads_loop_init(loop);
}
