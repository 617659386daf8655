/* ops.c -- what operators watch: Prometheus metrics (requests by route and
 * status, latency histograms, limits, queue, workers, connections, scroll
 * cursors, ingest batches and commits, database size), readiness (and the
 * watch for a damaged database), and the JSON access log. Counters are
 * relaxed atomics written by any thread. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "server.h"

static const int status_codes[] = {200, 400, 401, 403, 404, 405, 413, 429, 500, 503, 504};
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]) + 1) /* + other */

static const double latency_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NLAT (sizeof(latency_bounds) / sizeof(latency_bounds[0]))
static const double batch_bounds[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
#define NBATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))

typedef struct {
    _Atomic uint64_t buckets[16];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_micro; /* sum in millionths of the unit */
} histogram_t;

typedef struct {
    _Atomic uint64_t status[NSTATUS];
    histogram_t latency;
} route_metrics_t;

struct metrics {
    size_t nroutes;
    route_metrics_t *routes; /* nroutes + 1: the last is "unmatched" */
    _Atomic uint64_t rate_limited;
    _Atomic uint64_t worker_busy_ns;
    _Atomic uint64_t jobs_timed_out;
    histogram_t ingest_batch;  /* messages per committed request */
    histogram_t ingest_commit; /* seconds per group commit */
    _Atomic uint64_t ingest_messages;
    _Atomic int64_t scroll_cursors;
    _Atomic int64_t recompute_done, recompute_total;
};

metrics_t *
metrics_new(void)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        abort();
    m->nroutes = router_route_count();
    m->routes = calloc(m->nroutes + 1, sizeof(*m->routes));
    if (m->routes == NULL)
        abort();
    return m;
}

static void
observe(histogram_t *h, const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_micro, (uint64_t)(v * 1e6), memory_order_relaxed);
}

void
metrics_request(metrics_t *m, const route_t *route, int status, double seconds)
{
    size_t r = route != NULL ? router_route_index(route) : m->nroutes, s = 0;
    while (s < NSTATUS - 1 && status_codes[s] != status)
        s++;
    atomic_fetch_add_explicit(&m->routes[r].status[s], 1, memory_order_relaxed);
    observe(&m->routes[r].latency, latency_bounds, NLAT, seconds);
    if (status == 429)
        atomic_fetch_add_explicit(&m->rate_limited, 1, memory_order_relaxed);
    if (status == 504)
        atomic_fetch_add_explicit(&m->jobs_timed_out, 1, memory_order_relaxed);
}

void
metrics_worker_busy(metrics_t *m, uint64_t ns)
{
    atomic_fetch_add_explicit(&m->worker_busy_ns, ns, memory_order_relaxed);
}

void
metrics_ingest(metrics_t *m, size_t messages, double commit_seconds, int first_of_group)
{
    observe(&m->ingest_batch, batch_bounds, NBATCH, (double)messages);
    atomic_fetch_add_explicit(&m->ingest_messages, messages, memory_order_relaxed);
    if (first_of_group)
        observe(&m->ingest_commit, latency_bounds, NLAT, commit_seconds);
}

void
metrics_set_cursors(metrics_t *m, int64_t live)
{
    atomic_store_explicit(&m->scroll_cursors, live, memory_order_relaxed);
}

void
metrics_set_recompute(metrics_t *m, int64_t done, int64_t total)
{
    atomic_store_explicit(&m->recompute_done, done, memory_order_relaxed);
    atomic_store_explicit(&m->recompute_total, total, memory_order_relaxed);
}

/* ---- text exposition ---- */

typedef struct {
    char *buf;
    size_t len, cap;
} text_t;

static void __attribute__((format(printf, 2, 3))) emit(text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0);
        if ((t->buf = realloc(t->buf, t->cap)) == NULL)
            abort();
    }
}

static void
emit_histogram(text_t *t, const char *name, const char *labels, const histogram_t *h, const double *bounds, size_t n)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        emit(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, labels[0] ? "," : "", bounds[i], (unsigned long long)cum);
    }
    cum += atomic_load_explicit(&h->buckets[n], memory_order_relaxed);
    emit(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "", (unsigned long long)cum);
    emit(t, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
         (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) / 1e6);
    emit(t, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
         (unsigned long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}

static long long
file_size(const char *path, const char *suffix)
{
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

char *
metrics_render(server_t *srv, size_t *len)
{
    metrics_t *m = srv->metrics;
    text_t t = {malloc(16384), 0, 16384};
    if (t.buf == NULL)
        abort();
    emit(&t, "# HELP profiled_requests_total Requests answered, by route pattern and status.\n"
             "# TYPE profiled_requests_total counter\n");
    for (size_t r = 0; r <= m->nroutes; r++) {
        const char *name = r < m->nroutes ? router_route_name(r) : "unmatched";
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&m->routes[r].status[s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s < NSTATUS - 1)
                emit(&t, "profiled_requests_total{route=\"%s\",status=\"%d\"} %llu\n", name, status_codes[s],
                     (unsigned long long)v);
            else
                emit(&t, "profiled_requests_total{route=\"%s\",status=\"other\"} %llu\n", name, (unsigned long long)v);
        }
    }
    emit(&t, "# HELP profiled_request_duration_seconds Time from request to response, by route pattern.\n"
             "# TYPE profiled_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= m->nroutes; r++) {
        if (atomic_load_explicit(&m->routes[r].latency.count, memory_order_relaxed) == 0)
            continue;
        char labels[300];
        snprintf(labels, sizeof(labels), "route=\"%s\"", r < m->nroutes ? router_route_name(r) : "unmatched");
        emit_histogram(&t, "profiled_request_duration_seconds", labels, &m->routes[r].latency, latency_bounds, NLAT);
    }
    int64_t conns = 0;
    for (int i = 0; i < srv->cfg.threads; i++)
        conns += atomic_load_explicit(&srv->loops[i].open_connections, memory_order_relaxed);
    emit(&t,
         "# HELP profiled_rate_limited_total Requests answered 429.\n# TYPE profiled_rate_limited_total counter\n"
         "profiled_rate_limited_total %llu\n"
         "# HELP profiled_job_queue_depth Jobs waiting for a worker.\n# TYPE profiled_job_queue_depth gauge\n"
         "profiled_job_queue_depth %zu\n"
         "# HELP profiled_write_queue_depth Ingest requests waiting for the writer.\n# TYPE profiled_write_queue_depth gauge\n"
         "profiled_write_queue_depth %zu\n"
         "# HELP profiled_worker_busy_seconds_total Time workers spent running jobs.\n"
         "# TYPE profiled_worker_busy_seconds_total counter\n"
         "profiled_worker_busy_seconds_total %.6f\n"
         "# HELP profiled_workers Worker threads.\n# TYPE profiled_workers gauge\nprofiled_workers %d\n"
         "# HELP profiled_jobs_timed_out_total Jobs answered 504.\n# TYPE profiled_jobs_timed_out_total counter\n"
         "profiled_jobs_timed_out_total %llu\n"
         "# HELP profiled_open_connections Client connections (sampled each second).\n# TYPE profiled_open_connections gauge\n"
         "profiled_open_connections %lld\n"
         "# HELP profiled_scroll_cursors Live events scroll cursors (sampled).\n# TYPE profiled_scroll_cursors gauge\n"
         "profiled_scroll_cursors %lld\n"
         "# HELP profiled_ingest_messages_total Messages committed by the ingestion API.\n"
         "# TYPE profiled_ingest_messages_total counter\nprofiled_ingest_messages_total %llu\n",
         (unsigned long long)atomic_load(&m->rate_limited), pool_depth(srv->pool), writer_depth(srv->writer),
         (double)atomic_load(&m->worker_busy_ns) / 1e9, srv->cfg.workers, (unsigned long long)atomic_load(&m->jobs_timed_out),
         (long long)conns, (long long)atomic_load(&m->scroll_cursors), (unsigned long long)atomic_load(&m->ingest_messages));
    emit(&t, "# HELP profiled_ingest_batch_messages Messages per ingest request.\n"
             "# TYPE profiled_ingest_batch_messages histogram\n");
    emit_histogram(&t, "profiled_ingest_batch_messages", "", &m->ingest_batch, batch_bounds, NBATCH);
    emit(&t, "# HELP profiled_ingest_commit_seconds Duration of one group commit.\n"
             "# TYPE profiled_ingest_commit_seconds histogram\n");
    emit_histogram(&t, "profiled_ingest_commit_seconds", "", &m->ingest_commit, latency_bounds, NLAT);
    emit(&t,
         "# HELP profiled_database_bytes Size of the database file and its write-ahead log.\n"
         "# TYPE profiled_database_bytes gauge\n"
         "profiled_database_bytes{file=\"db\"} %lld\nprofiled_database_bytes{file=\"wal\"} %lld\n"
         "# HELP profiled_recompute_profiles Profiles recomputed after a definitions change, and the total.\n"
         "# TYPE profiled_recompute_profiles gauge\n"
         "profiled_recompute_profiles{state=\"done\"} %lld\nprofiled_recompute_profiles{state=\"total\"} %lld\n"
         "# HELP profiled_draining 1 while shutting down.\n# TYPE profiled_draining gauge\nprofiled_draining %d\n",
         file_size(srv->cfg.db, ""), file_size(srv->cfg.db, "-wal"), (long long)atomic_load(&m->recompute_done),
         (long long)atomic_load(&m->recompute_total), atomic_load(&srv->draining));
    /* the connection layer (conn.c) */
    emit(&t,
         "# HELP profiled_unsent_answer_bytes Bytes of answers held until their clients take them (--unsent-limit-mb).\n"
         "# TYPE profiled_unsent_answer_bytes gauge\nprofiled_unsent_answer_bytes %lld\n"
         "# HELP profiled_write_timeouts_total Connections closed because the client took no bytes for --write-timeout-ms.\n"
         "# TYPE profiled_write_timeouts_total counter\nprofiled_write_timeouts_total %llu\n"
         "# HELP profiled_accept_paused_total Times a listener stopped accepting for lack of file descriptors.\n"
         "# TYPE profiled_accept_paused_total counter\nprofiled_accept_paused_total %llu\n",
         (long long)atomic_load(&srv->unsent_bytes), (unsigned long long)atomic_load(&srv->write_timeouts),
         (unsigned long long)atomic_load(&srv->accept_pauses));
    emit(&t,
         "# HELP profiled_database_damaged 1 once SQLite found the database damaged (not ready, writes refused).\n"
         "# TYPE profiled_database_damaged gauge\nprofiled_database_damaged %d\n",
         storage_damaged(NULL) ? 1 : 0);
    *len = t.len;
    return t.buf;
}

/* ---- readiness: a damaged database ---- */

static void
on_damage(void *ctx, const char *what)
{
    server_t *srv = ctx;
    fprintf(stderr,
            "profiled: DATABASE DAMAGED: %s\n"
            "profiled: DATABASE DAMAGED: not ready from now on (/readyz 503), ingest refused (503), reads that still work"
            " are served\n"
            "profiled: DATABASE DAMAGED: stop this server, run `profiled check --db %s`, restore the file from a backup\n",
            what, srv->cfg.db);
}

void
ops_watch_damage(server_t *srv)
{
    storage_watch_damage(on_damage, srv);
}

/* ---- access log ---- */

int
access_log_open(server_t *srv)
{
    const char *path = srv->cfg.access_log;
    int fd;
    if (strcmp(path, "off") == 0)
        fd = -1;
    else if (strcmp(path, "-") == 0)
        fd = dup(1);
    else
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (strcmp(path, "off") != 0 && fd < 0)
        return -1;
    int old = atomic_load(&srv->access_log_fd);
    if (old >= 0 && fd >= 0) {
        /* swap in place: writers keep using the same descriptor number */
        dup2(fd, old);
        close(fd);
    } else {
        atomic_store(&srv->access_log_fd, fd);
    }
    return 0;
}

/* Longest parts of a request that a log line carries; a longer one is cut
 * (on a character boundary) and ends with LOG_CUT. With these the fixed
 * fields and the worst escaping (6 bytes a byte) fit in LOG_LINE_MAX, so a
 * line is always one whole JSON object. */
#define LOG_LINE_MAX 4096
#define LOG_METHOD_MAX 64
#define LOG_TENANT_PART_MAX 128
#define LOG_CUT "\xe2\x80\xa6" /* U+2026 */

typedef struct {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool cut; /* a fixed part did not fit: never with the limits above */
} log_line_t;

static void __attribute__((format(printf, 2, 3))) log_printf(log_line_t *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!base_vappendf(l->buf, sizeof(l->buf), &l->len, fmt, ap))
        l->cut = true;
    va_end(ap);
}

/* The JSON-escaped text of at most max bytes of s, without quotes. */
static void
log_text(log_line_t *l, const char *s, size_t n, size_t max)
{
    size_t room = sizeof(l->buf) - 1 - l->len, used;
    size_t take = base_utf8_prefix(s, n, max);
    size_t w = base_json_escape(s, take, l->buf + l->len, room, &used);
    l->len += w;
    if (used < n)
        log_printf(l, "%s", LOG_CUT);
}

static void
log_str(log_line_t *l, const char *s, size_t n, size_t max)
{
    log_printf(l, "\"");
    log_text(l, s, n, max);
    log_printf(l, "\"");
}

void
access_log_write(server_t *srv, h2o_req_t *req, const reqctx_t *rc, int status, size_t bytes, double seconds)
{
    int fd = atomic_load_explicit(&srv->access_log_fd, memory_order_relaxed);
    if (fd < 0)
        return;
    log_line_t l;
    char ts[32], addr[64];
    l.len = 0;
    l.cut = false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    base_format_time((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts);
    client_address(req, addr, sizeof(addr));
    const char *route = rc->route != NULL ? rc->route->pattern : "unmatched";
    log_printf(&l, "{\"time\":\"%s\",\"request_id\":", ts);
    log_str(&l, rc->request_id.base, rc->request_id.len, 128);
    log_printf(&l, ",\"client\":");
    log_str(&l, addr, strlen(addr), sizeof(addr));
    log_printf(&l, ",\"method\":");
    log_str(&l, req->method.base, req->method.len, LOG_METHOD_MAX);
    log_printf(&l, ",\"route\":\"%s\",\"status\":%d,\"bytes\":%zu,\"latency_ms\":%.3f,\"tenant\":", route, status, bytes,
               seconds * 1000);
    if (rc->tenant.client != NULL) {
        log_printf(&l, "\"");
        log_text(&l, rc->tenant.client, rc->tenant.client_len, LOG_TENANT_PART_MAX);
        log_printf(&l, "/");
        log_text(&l, rc->tenant.account, rc->tenant.account_len, LOG_TENANT_PART_MAX);
        log_printf(&l, "/");
        log_text(&l, rc->tenant.brand, rc->tenant.brand_len, LOG_TENANT_PART_MAX);
        log_printf(&l, "\"");
    } else {
        log_printf(&l, "null");
    }
    log_printf(&l, "}\n");
    if (l.cut) /* still one JSON line, without the request's parts */
        l.len =
            (size_t)snprintf(l.buf, sizeof(l.buf), "{\"time\":\"%s\",\"status\":%d,\"log_error\":\"line too long\"}\n", ts, status);
    /* one write per line on an O_APPEND descriptor: lines never interleave */
    ssize_t w = write(fd, l.buf, l.len);
    (void)w;
}
