/* load.c -- profiled-load: an HTTP/1.1 load generator for profiled on
 * libevent bufferevents. Keep-alive connections, one request in flight each;
 * closed loop (send on answer) or open loop (--rate: fixed schedule, latency
 * from the intended send time). Bounded: it always stops by itself. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include "http1.h"
#include "load.h"

#define MAX_HEAD (64 * 1024)
#define RETRY_MS 20
#define MAX_TOKENS 100000

typedef enum { PHASE_RUN, PHASE_DRAIN, PHASE_DONE } phase_t;

typedef struct load load_t;

typedef struct {
    load_t *ld;
    unsigned index;
    struct bufferevent *bev;
    struct event *retry;
    const char *token;
    uint64_t rng;
    int connected;
    int busy;
    int queued;      /* open loop: on the idle stack; --ingest-connections: parked */
    int ingest_only; /* --ingest-connections: one of those (else read only) */
    int have_head;
    http1_head_t head;
    int64_t sent_ns, intended_ns;
    request_t req;
    int chain_next; /* the next request continues req's scroll */
    char scroll_id[256];
    sbuf_t out;
} conn_t;

struct load {
    load_config_t *cfg;
    load_result_t *res;
    struct event_base *base;
    struct sockaddr_in addr;
    conn_t *conns;
    char **tokens;
    size_t ntokens;
    phase_t phase;
    int64_t start_ns, measure_ns, end_ns;
    uint64_t inflight;
    uint64_t seen;   /* 200 answers seen, for sampling */
    uint64_t next_k; /* open loop: the next slot to send */
    unsigned *idle;  /* open loop: stack of idle connections; closed loop with
                        --ingest-connections: of ingest connections waiting for credit */
    unsigned nidle;
    /* --ingest-connections: each read sent earns weights[OP_INGEST], each
     * ingest batch sent costs the reads' weight, so ingest keeps its share
     * of the requests sent as long as it keeps up. */
    uint64_t credit;
    struct event *tick, *t_measure, *t_end, *t_stop, *sig_int, *sig_term;
    struct rusage ru0;
};

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double
cpu_seconds(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           (double)ru->ru_stime.tv_usec / 1e6;
}

static struct timeval
tv_of_ns(int64_t ns)
{
    if (ns < 0)
        ns = 0;
    struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000), .tv_usec = (suseconds_t)(ns % 1000000000 / 1000)};
    return tv;
}

static int64_t
slot_time(const load_t *ld, uint64_t k)
{
    return ld->start_ns + (int64_t)((double)k * 1e9 / ld->cfg->rate);
}

static int
in_window(const load_t *ld, int64_t t)
{
    return t >= ld->measure_ns && t < ld->end_ns;
}

static void
sample_text(char *dst, size_t cap, const char *prefix, const char *body, size_t len)
{
    size_t n = (size_t)snprintf(dst, cap, "%s", prefix);
    for (size_t i = 0; i < len && n + 1 < cap; i++)
        dst[n++] = isprint((unsigned char)body[i]) ? body[i] : '.';
    dst[n < cap ? n : cap - 1] = '\0';
}

static void conn_connect(conn_t *c);
static void conn_next(conn_t *c);
static void open_dispatch(load_t *ld);
static void ingest_dispatch(load_t *ld);

static void
stop_loop(load_t *ld)
{
    ld->phase = PHASE_DONE;
    event_base_loopbreak(ld->base);
}

/* The request in flight on c is over (answered or lost). */
static void
conn_done(conn_t *c)
{
    load_t *ld = c->ld;
    c->busy = 0;
    ld->inflight--;
    if (ld->phase == PHASE_DRAIN && ld->inflight == 0)
        stop_loop(ld);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    conn_connect(arg);
}

/* Drops the connection; a request in flight counts as a connection error.
 * Reconnects while the run lasts: at once after an orderly close, after
 * RETRY_MS after a failure (so a dead server is not spun on). */
static void
conn_drop(conn_t *c, int protocol, int at_once)
{
    load_t *ld = c->ld;
    if (c->busy) {
        if (in_window(ld, c->intended_ns)) {
            if (protocol)
                ld->res->proto_errors++;
            else
                ld->res->conn_errors++;
        }
        conn_done(c);
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->connected = 0;
    c->have_head = 0;
    c->chain_next = 0;
    if (ld->phase != PHASE_RUN)
        return;
    if (at_once) {
        conn_connect(c);
        return;
    }
    if (c->retry == NULL && (c->retry = evtimer_new(ld->base, on_retry, c)) == NULL)
        abort();
    struct timeval tv = {0, RETRY_MS * 1000};
    evtimer_add(c->retry, &tv);
}

/* Writes c's next request: the next page of its scroll, or a new pick. */
static void
conn_send(conn_t *c, int64_t intended, int64_t now)
{
    load_t *ld = c->ld;
    const scenario_t *sc = &ld->cfg->sc;
    if (c->chain_next) {
        request_t prev = c->req;
        scenario_build_next(sc, c->token, &prev, c->scroll_id, &c->req, &c->out);
    } else {
        op_t op;
        if (ld->cfg->ingest_connections == 0)
            op = scenario_pick(sc, &c->rng);
        else if (c->ingest_only)
            op = OP_INGEST;
        else
            op = scenario_pick_reads(sc, &c->rng);
        scenario_build(sc, op, c->token, &c->rng, &c->req, &c->out);
    }
    c->chain_next = 0;
    c->busy = 1;
    ld->inflight++;
    c->sent_ns = now;
    c->intended_ns = intended;
    /* Straight to the socket when nothing is queued: going through the
     * output evbuffer costs two epoll_ctl calls (arm and disarm EV_WRITE)
     * per request, a fifth of the client's time. A short write queues the
     * rest in the bufferevent, which keeps the order. */
    size_t done = 0;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        ssize_t n = send(bufferevent_getfd(c->bev), c->out.p, c->out.len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_drop(c, 0, 0);
            return;
        }
        done = n > 0 ? (size_t)n : 0;
    }
    if (done < c->out.len && bufferevent_write(c->bev, c->out.p + done, c->out.len - done) != 0) {
        conn_drop(c, 0, 0);
        return;
    }
    if (ld->cfg->ingest_connections > 0 && !c->ingest_only) {
        ld->credit += sc->weights[OP_INGEST];
        ingest_dispatch(ld);
    }
}

static size_t
count_events(const char *body, size_t len)
{
    static const char key[] = "\"eventId\":";
    size_t n = 0;
    const char *p = body, *end = body + len;
    while (p < end && (p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
        n++;
        p += sizeof(key) - 1;
    }
    return n;
}

/* Copies the scrollId of an events page into c->scroll_id; 0 or -1. */
static int
take_scroll_id(conn_t *c, const char *body, size_t len)
{
    static const char key[] = "\"scrollId\":\"";
    const char *p = memmem(body, len, key, sizeof(key) - 1);
    if (p == NULL)
        return -1;
    p += sizeof(key) - 1;
    const char *q = memchr(p, '"', (size_t)(body + len - p));
    if (q == NULL || q == p || (size_t)(q - p) >= sizeof(c->scroll_id))
        return -1;
    memcpy(c->scroll_id, p, (size_t)(q - p));
    c->scroll_id[q - p] = '\0';
    return 0;
}

static void
check_body(conn_t *c, const char *body, size_t len)
{
    load_t *ld = c->ld;
    load_result_t *r = ld->res;
    const request_t *q = &c->req;
    int ok = memmem(body, len, q->expect, q->expect_len) != NULL;
    if (ok && scenario_op_is_events(q->op)) {
        size_t n = count_events(body, len);
        ok = n <= (size_t)ld->cfg->sc.limit && (q->page > 1 || n > 0);
    }
    r->checks++;
    if (!ok) {
        r->check_failed++;
        if (r->check_sample[0] == '\0') {
            char prefix[200];
            snprintf(prefix, sizeof(prefix), "%s profile %llu expected %s in: ", scenario_op_name(q->op),
                     (unsigned long long)q->profile, q->expect);
            sample_text(r->check_sample, sizeof(r->check_sample), prefix, body, len);
        }
    }
}

/* The events route answered "no such route": a pure events run is skipped,
 * a mix goes on without events. */
static void
events_missing(conn_t *c)
{
    load_t *ld = c->ld;
    ld->res->events_missing++;
    if (scenario_only_events(&ld->cfg->sc)) {
        ld->res->skipped = "events route missing (404 invalid_request_error)";
        stop_loop(ld);
        return;
    }
    scenario_drop_events(&ld->cfg->sc);
}

/* One whole answer sits at the front of in. */
static void
conn_answer(conn_t *c, struct evbuffer *in)
{
    load_t *ld = c->ld;
    load_result_t *r = ld->res;
    const load_config_t *cfg = ld->cfg;
    int64_t now = now_ns();
    int status = c->head.status;
    size_t total = c->head.head_len + c->head.content_length;
    const request_t *q = &c->req;
    int events = scenario_op_is_events(q->op);
    int sample =
        cfg->check_mode == CHECK_FULL && status == 200 && q->expect_len > 0 && ld->seen++ % (uint64_t)cfg->check_every == 0;
    int need = sample || (events && (status != 200 || q->op == OP_SCROLL)) || (status != 200 && r->error_sample[0] == '\0');
    const char *body = NULL;
    size_t len = c->head.content_length;
    if (need)
        body = (const char *)evbuffer_pullup(in, (ssize_t)total) + c->head.head_len;

    if (events && status == 404 && body != NULL && memmem(body, len, "invalid_request_error", 21) != NULL) {
        evbuffer_drain(in, total);
        c->have_head = 0;
        c->chain_next = 0;
        conn_done(c);
        events_missing(c);
        return;
    }
    int window = in_window(ld, c->intended_ns);
    if (in_window(ld, now))
        load_tally_completed(r, q->op, total);
    if (window) {
        uint64_t lat = (uint64_t)(now - c->intended_ns);
        load_tally_latency(r, q->op, lat, now - c->sent_ns);
        r->status[status < 600 ? status : 599]++;
        if (q->op == OP_SCROLL && status == 200) {
            r->pages++;
            if (q->page == 1)
                hist_record(r->page_first, lat);
            if (q->page >= cfg->deep_page)
                hist_record(r->page_deep, lat);
        }
        if (status != 200 && r->error_sample[0] == '\0' && body != NULL) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "%s %d: ", scenario_op_name(q->op), status);
            sample_text(r->error_sample, sizeof(r->error_sample), prefix, body, len);
        }
    }
    if (sample)
        check_body(c, body, len);
    c->chain_next = 0;
    if (q->op == OP_SCROLL && status == 200) {
        size_t n = count_events(body, len);
        if (n >= (size_t)cfg->sc.limit && (cfg->max_pages == 0 || q->page < cfg->max_pages) && take_scroll_id(c, body, len) == 0)
            c->chain_next = 1;
        else if (window)
            r->chains++;
    }
    evbuffer_drain(in, total);
    c->have_head = 0;
    conn_done(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (evbuffer_get_length(in) > 0) {
        if (!c->busy) {
            conn_drop(c, 1, 0);
            return;
        }
        if (!c->have_head) {
            struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
            if (end.pos < 0) {
                if (evbuffer_get_length(in) > MAX_HEAD)
                    conn_drop(c, 1, 0);
                return;
            }
            size_t head_len = (size_t)end.pos + 4;
            const char *head = (const char *)evbuffer_pullup(in, (ssize_t)head_len);
            if (http1_parse_head(head, head_len, &c->head) != 0) {
                conn_drop(c, 1, 0);
                return;
            }
            c->have_head = 1;
        }
        if (evbuffer_get_length(in) < c->head.head_len + c->head.content_length)
            return;
        int closing = c->head.close;
        conn_answer(c, in);
        if (c->ld->phase == PHASE_DONE)
            return;
        if (closing) {
            conn_drop(c, 0, 1);
            return;
        }
        conn_next(c);
    }
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    conn_t *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->connected = 1;
        conn_next(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_drop(c, 0, 0);
}

static void
conn_connect(conn_t *c)
{
    load_t *ld = c->ld;
    if (ld->phase != PHASE_RUN)
        return;
    c->bev = bufferevent_socket_new(ld->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        abort();
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_set_max_single_read(c->bev, 1 << 20);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ld->addr, sizeof(ld->addr)) != 0)
        conn_drop(c, 0, 0);
}

/* c is connected and idle: give it work (closed loop) or make it available
 * to the schedule (open loop). */
static void
conn_next(conn_t *c)
{
    load_t *ld = c->ld;
    if (ld->phase != PHASE_RUN || !c->connected || c->busy)
        return;
    if (ld->cfg->rate <= 0 && c->ingest_only) {
        if (!c->queued) {
            c->queued = 1;
            ld->idle[ld->nidle++] = c->index;
        }
        ingest_dispatch(ld);
        return;
    }
    if (ld->cfg->rate <= 0) {
        int64_t now = now_ns();
        conn_send(c, now, now);
        return;
    }
    if (!c->queued) {
        c->queued = 1;
        ld->idle[ld->nidle++] = c->index;
    }
    open_dispatch(ld);
}

/* Open loop: sends every slot that is due on idle connections; arms the
 * timer for the next slot. Slots that find no idle connection wait, and
 * their latency keeps counting from the slot time. */
static void
open_dispatch(load_t *ld)
{
    int64_t now = now_ns();
    while (ld->phase == PHASE_RUN && ld->nidle > 0) {
        int64_t t = slot_time(ld, ld->next_k);
        if (t >= ld->end_ns)
            return;
        if (t > now) {
            struct timeval tv = tv_of_ns(t - now);
            evtimer_add(ld->tick, &tv);
            return;
        }
        conn_t *c = &ld->conns[ld->idle[--ld->nidle]];
        c->queued = 0;
        if (!c->connected || c->busy)
            continue;
        ld->next_k++;
        conn_send(c, t, now);
    }
}

/* Closed loop with --ingest-connections: sends an ingest batch on waiting
 * ingest connections while the reads sent have earned one. */
static void
ingest_dispatch(load_t *ld)
{
    uint64_t cost = ld->cfg->sc.weight_total - ld->cfg->sc.weights[OP_INGEST];
    while (ld->phase == PHASE_RUN && ld->nidle > 0 && ld->credit >= cost) {
        conn_t *c = &ld->conns[ld->idle[--ld->nidle]];
        c->queued = 0;
        if (!c->connected || c->busy)
            continue;
        ld->credit -= cost;
        int64_t now = now_ns();
        conn_send(c, now, now);
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    open_dispatch(arg);
}

static void
on_measure(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    load_t *ld = arg;
    getrusage(RUSAGE_SELF, &ld->ru0);
}

static void
on_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    load_t *ld = arg;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    ld->res->cpu_s = cpu_seconds(&ru) - cpu_seconds(&ld->ru0);
    ld->res->window_s = (double)(ld->end_ns - ld->measure_ns) / 1e9;
    ld->phase = PHASE_DRAIN;
    if (ld->inflight == 0)
        stop_loop(ld);
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    stop_loop(arg);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    load_t *ld = arg;
    fprintf(stderr, "profiled-load: interrupted; reporting what was measured\n");
    if (ld->phase == PHASE_RUN) {
        ld->end_ns = now_ns();
        if (ld->end_ns < ld->measure_ns)
            ld->measure_ns = ld->end_ns;
        on_end(-1, 0, ld);
    }
    stop_loop(ld);
}

/* After the loop: what never got an answer still counts, with the time it
 * had waited so far (a lower bound), so a stalled server shows in the tail. */
static void
account_unfinished(load_t *ld)
{
    load_result_t *r = ld->res;
    int64_t now = now_ns();
    if (r->skipped)
        return;
    for (int i = 0; i < ld->cfg->connections; i++) {
        conn_t *c = &ld->conns[i];
        if (c->busy && in_window(ld, c->intended_ns)) {
            r->timeouts++;
            load_tally_latency(r, c->req.op, (uint64_t)(now - c->intended_ns), -1);
        }
    }
    if (ld->cfg->rate <= 0)
        return;
    uint64_t k_end = (uint64_t)((double)(ld->end_ns - ld->start_ns) * ld->cfg->rate / 1e9);
    uint64_t k = ld->next_k, stride = k_end > k ? (k_end - k) / 100000 + 1 : 1;
    for (; k < k_end; k += stride) {
        int64_t t = slot_time(ld, k);
        if (!in_window(ld, t))
            continue;
        uint64_t n = k + stride <= k_end ? stride : k_end - k;
        r->unsent += n;
        for (uint64_t j = 0; j < n; j++)
            hist_record(r->latency, (uint64_t)(now - t));
    }
}

static int
load_tokens(load_t *ld)
{
    const load_config_t *cfg = ld->cfg;
    if (cfg->tokens_file == NULL) {
        ld->ntokens = cfg->token ? 1 : 0;
        if (ld->ntokens) {
            ld->tokens = malloc(sizeof(char *));
            if (ld->tokens == NULL || (ld->tokens[0] = strdup(cfg->token)) == NULL)
                abort();
        }
        return 0;
    }
    FILE *f = fopen(cfg->tokens_file, "r");
    if (f == NULL) {
        fprintf(stderr, "profiled-load: --tokens %s: %s\n", cfg->tokens_file, strerror(errno));
        return -1;
    }
    char line[1024];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f) != NULL && ld->ntokens < MAX_TOKENS) {
        size_t n = strlen(line);
        while (n > 0 && isspace((unsigned char)line[n - 1]))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (ld->ntokens == cap) {
            cap = cap ? cap * 2 : 16;
            if ((ld->tokens = realloc(ld->tokens, cap * sizeof(char *))) == NULL)
                abort();
        }
        if ((ld->tokens[ld->ntokens++] = strdup(line)) == NULL)
            abort();
    }
    fclose(f);
    if (ld->ntokens == 0) {
        fprintf(stderr, "profiled-load: --tokens %s: no tokens\n", cfg->tokens_file);
        return -1;
    }
    return 0;
}

static int
load_init(load_t *ld, load_config_t *cfg, load_result_t *res)
{
    memset(ld, 0, sizeof(*ld));
    ld->cfg = cfg;
    ld->res = res;
    ld->addr.sin_family = AF_INET;
    ld->addr.sin_port = htons((uint16_t)cfg->port);
    ld->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (load_tokens(ld) != 0)
        return -1;
    struct event_config *ec = event_config_new();
    if (ec == NULL)
        abort();
    /* Open loop needs sub-millisecond send times; closed loop does not, and
     * the precise timer costs a timerfd_settime per loop turn (5% of a run). */
    if (cfg->rate > 0)
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    ld->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (ld->base == NULL)
        abort();
    ld->conns = calloc((size_t)cfg->connections, sizeof(conn_t));
    ld->idle = calloc((size_t)cfg->connections, sizeof(unsigned));
    if (ld->conns == NULL || ld->idle == NULL)
        abort();
    for (int i = 0; i < cfg->connections; i++) {
        conn_t *c = &ld->conns[i];
        c->ld = ld;
        c->index = (unsigned)i;
        c->ingest_only = i < cfg->ingest_connections;
        c->token = ld->ntokens ? ld->tokens[(size_t)i % ld->ntokens] : NULL;
        c->rng = cfg->rng_seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i * 0xd1b54a32d192ed03ULL + 1;
    }
    ld->tick = evtimer_new(ld->base, on_tick, ld);
    ld->t_measure = evtimer_new(ld->base, on_measure, ld);
    ld->t_end = evtimer_new(ld->base, on_end, ld);
    ld->t_stop = evtimer_new(ld->base, on_stop, ld);
    ld->sig_int = evsignal_new(ld->base, SIGINT, on_signal, ld);
    ld->sig_term = evsignal_new(ld->base, SIGTERM, on_signal, ld);
    if (!ld->tick || !ld->t_measure || !ld->t_end || !ld->t_stop || !ld->sig_int || !ld->sig_term)
        abort();
    return 0;
}

static void
load_run(load_t *ld)
{
    const load_config_t *cfg = ld->cfg;
    ld->start_ns = now_ns();
    ld->measure_ns = ld->start_ns + (int64_t)(cfg->warmup * 1e9);
    ld->end_ns = ld->measure_ns + (int64_t)(cfg->duration * 1e9);
    struct timeval tv = tv_of_ns(ld->measure_ns - ld->start_ns);
    evtimer_add(ld->t_measure, &tv);
    tv = tv_of_ns(ld->end_ns - ld->start_ns);
    evtimer_add(ld->t_end, &tv);
    tv = tv_of_ns(ld->end_ns - ld->start_ns + (int64_t)(cfg->drain * 1e9));
    evtimer_add(ld->t_stop, &tv);
    evsignal_add(ld->sig_int, NULL);
    evsignal_add(ld->sig_term, NULL);
    getrusage(RUSAGE_SELF, &ld->ru0);
    for (int i = 0; i < cfg->connections; i++)
        conn_connect(&ld->conns[i]);
    event_base_dispatch(ld->base);
    if (ld->res->window_s == 0 && ld->res->skipped == NULL)
        on_end(-1, 0, ld);
    account_unfinished(ld);
}

static void
load_dispose(load_t *ld)
{
    for (int i = 0; i < ld->cfg->connections; i++) {
        conn_t *c = &ld->conns[i];
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->retry)
            event_free(c->retry);
        sbuf_dispose(&c->out);
    }
    event_free(ld->tick);
    event_free(ld->t_measure);
    event_free(ld->t_end);
    event_free(ld->t_stop);
    event_free(ld->sig_int);
    event_free(ld->sig_term);
    event_base_free(ld->base);
    for (size_t i = 0; i < ld->ntokens; i++)
        free(ld->tokens[i]);
    free(ld->tokens);
    free(ld->conns);
    free(ld->idle);
}

int
load_execute(load_config_t *cfg, load_result_t *res)
{
    load_t ld;
    if (load_init(&ld, cfg, res) != 0)
        return -1;
    load_run(&ld);
    load_dispose(&ld);
    return 0;
}
