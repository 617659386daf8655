/* metrics.c -- what operators watch: Prometheus metrics (requests by route
 * and status, latency histograms, limits, queue, workers, connections,
 * worker commits, ingest batches and commits, database size) and the watch
 * for a damaged database. Counters are relaxed atomics written by any
 * thread; gauges kept elsewhere come from the sample callback. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include "ops.h"

static const int status_codes[] = {200, 304, 400, 401, 403, 404, 405, 413, 429, 500, 503, 504};
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
    const char *(*route_name)(size_t index);
    metrics_sample_fn sample;
    void *sample_ctx;
    route_metrics_t *routes; /* nroutes + 1: the last is "unmatched" */
    _Atomic uint64_t rate_limited;
    _Atomic uint64_t worker_busy_ns;
    _Atomic uint64_t jobs_timed_out;
    histogram_t ingest_batch;  /* messages per committed request */
    histogram_t ingest_commit; /* seconds per group commit */
    _Atomic uint64_t ingest_messages;
    _Atomic uint64_t worker_commits;
    _Atomic uint64_t worker_yields;
    _Atomic uint64_t writer_pages, writer_bytes;
    _Atomic uint64_t writer_shared, writer_shared_retried;
    _Atomic uint64_t compactions, compacted_events, compaction_us;
    _Atomic int64_t recompute_done, recompute_total;
};

metrics_t *
metrics_new(size_t nroutes, const char *(*route_name)(size_t index), metrics_sample_fn sample, void *ctx)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        abort();
    m->nroutes = nroutes;
    m->route_name = route_name;
    m->sample = sample;
    m->sample_ctx = ctx;
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
metrics_request(metrics_t *m, size_t route_index, int status, double seconds)
{
    size_t r = route_index < m->nroutes ? route_index : m->nroutes, s = 0;
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
metrics_writer_pages(metrics_t *m, int64_t pages, int64_t bytes)
{
    if (pages > 0)
        atomic_fetch_add_explicit(&m->writer_pages, (uint64_t)pages, memory_order_relaxed);
    if (bytes > 0)
        atomic_fetch_add_explicit(&m->writer_bytes, (uint64_t)bytes, memory_order_relaxed);
}

void
metrics_writer_shared(metrics_t *m, int retried)
{
    atomic_fetch_add_explicit(retried ? &m->writer_shared_retried : &m->writer_shared, 1, memory_order_relaxed);
}

void
metrics_compaction(metrics_t *m, int64_t events, double seconds)
{
    atomic_fetch_add_explicit(&m->compactions, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->compacted_events, (uint64_t)events, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->compaction_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

void
metrics_worker_commits(metrics_t *m, uint64_t n)
{
    atomic_fetch_add_explicit(&m->worker_commits, n, memory_order_relaxed);
}

void
metrics_worker_yield(metrics_t *m)
{
    atomic_fetch_add_explicit(&m->worker_yields, 1, memory_order_relaxed);
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
metrics_render(metrics_t *m, size_t *len)
{
    metrics_sample_t g;
    memset(&g, 0, sizeof(g));
    m->sample(m->sample_ctx, &g);
    text_t t = {malloc(16384), 0, 16384};
    if (t.buf == NULL)
        abort();
    emit(&t, "# HELP profiled_requests_total Requests answered, by route pattern and status.\n"
             "# TYPE profiled_requests_total counter\n");
    for (size_t r = 0; r <= m->nroutes; r++) {
        const char *name = r < m->nroutes ? m->route_name(r) : "unmatched";
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
        snprintf(labels, sizeof(labels), "route=\"%s\"", r < m->nroutes ? m->route_name(r) : "unmatched");
        emit_histogram(&t, "profiled_request_duration_seconds", labels, &m->routes[r].latency, latency_bounds, NLAT);
    }
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
         "# HELP profiled_worker_commits_total Write transactions committed by the workers (the read path: 0).\n"
         "# TYPE profiled_worker_commits_total counter\nprofiled_worker_commits_total %llu\n"
         "# HELP profiled_worker_yields_total Times a worker gave the CPU to the loops between jobs (--sched batch).\n"
         "# TYPE profiled_worker_yields_total counter\nprofiled_worker_yields_total %llu\n"
         "# HELP profiled_ingest_messages_total Messages committed by the ingestion API.\n"
         "# TYPE profiled_ingest_messages_total counter\nprofiled_ingest_messages_total %llu\n",
         (unsigned long long)atomic_load(&m->rate_limited), g.job_queue_depth, g.write_queue_depth,
         (double)atomic_load(&m->worker_busy_ns) / 1e9, g.workers, (unsigned long long)atomic_load(&m->jobs_timed_out),
         (long long)g.open_connections, (unsigned long long)atomic_load(&m->worker_commits),
         (unsigned long long)atomic_load(&m->worker_yields), (unsigned long long)atomic_load(&m->ingest_messages));
    emit(&t,
         "# HELP profiled_writer_pages_written_total Pages the writer's commits wrote to the write-ahead log (each page a"
         " commit dirtied, whole).\n# TYPE profiled_writer_pages_written_total counter\nprofiled_writer_pages_written_total %llu\n"
         "# HELP profiled_writer_bytes_written_total Bytes of those pages.\n"
         "# TYPE profiled_writer_bytes_written_total counter\nprofiled_writer_bytes_written_total %llu\n",
         (unsigned long long)atomic_load(&m->writer_pages), (unsigned long long)atomic_load(&m->writer_bytes));
    emit(&t,
         "# HELP profiled_writer_shared_groups_total Write groups begun under the shared write lock (PostgreSQL: replicas"
         " store at once).\n# TYPE profiled_writer_shared_groups_total counter\nprofiled_writer_shared_groups_total %llu\n"
         "# HELP profiled_writer_shared_retried_total Of those, groups stored again under the exclusive lock (a merge, a "
         "deadlock).\n# TYPE profiled_writer_shared_retried_total counter\nprofiled_writer_shared_retried_total %llu\n",
         (unsigned long long)atomic_load(&m->writer_shared), (unsigned long long)atomic_load(&m->writer_shared_retried));
    emit(&t,
         "# HELP profiled_event_compaction_steps_total Compaction steps of the event entries (hot entries moved into the large "
         "tables).\n"
         "# TYPE profiled_event_compaction_steps_total counter\nprofiled_event_compaction_steps_total %llu\n"
         "# HELP profiled_event_compacted_total Entries those steps moved (two an event).\n"
         "# TYPE profiled_event_compacted_total counter\nprofiled_event_compacted_total %llu\n"
         "# HELP profiled_event_compaction_seconds_total Time the writer spent compacting.\n"
         "# TYPE profiled_event_compaction_seconds_total counter\nprofiled_event_compaction_seconds_total %.6f\n",
         (unsigned long long)atomic_load(&m->compactions), (unsigned long long)atomic_load(&m->compacted_events),
         (double)atomic_load(&m->compaction_us) / 1e6);
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
         file_size(g.db, ""), file_size(g.db, "-wal"), (long long)atomic_load(&m->recompute_done),
         (long long)atomic_load(&m->recompute_total), g.draining);
    /* the connection layer (conn.c) */
    emit(&t,
         "# HELP profiled_unsent_answer_bytes Bytes of answers held until their clients take them (--unsent-limit-mb).\n"
         "# TYPE profiled_unsent_answer_bytes gauge\nprofiled_unsent_answer_bytes %lld\n"
         "# HELP profiled_write_timeouts_total Connections closed because the client took no bytes for --write-timeout-ms.\n"
         "# TYPE profiled_write_timeouts_total counter\nprofiled_write_timeouts_total %llu\n"
         "# HELP profiled_accept_paused_total Times a listener stopped accepting for lack of file descriptors.\n"
         "# TYPE profiled_accept_paused_total counter\nprofiled_accept_paused_total %llu\n",
         (long long)g.unsent_bytes, (unsigned long long)g.write_timeouts, (unsigned long long)g.accept_pauses);
    emit(&t,
         "# HELP profiled_database_damaged 1 once SQLite found the database damaged (not ready, writes refused).\n"
         "# TYPE profiled_database_damaged gauge\nprofiled_database_damaged %d\n",
         storage_damaged(NULL) ? 1 : 0);
    emit(&t,
         "# HELP profiled_suppressed_messages_total Messages acknowledged and not stored: they carried an erased "
         "(suppressed) id.\n"
         "# TYPE profiled_suppressed_messages_total counter\nprofiled_suppressed_messages_total %llu\n",
         (unsigned long long)g.suppressed_messages);
    emit(&t,
         "# HELP profiled_cache_hits_total Profile views and first events pages answered from the rendered-view cache (no job).\n"
         "# TYPE profiled_cache_hits_total counter\nprofiled_cache_hits_total %llu\n"
         "# HELP profiled_cache_misses_total Cacheable profile views and first events pages that ran a job"
         " (none cached, or no longer current).\n"
         "# TYPE profiled_cache_misses_total counter\nprofiled_cache_misses_total %llu\n"
         "# HELP profiled_cache_evictions_total Cached views dropped to stay within --cache-mb.\n"
         "# TYPE profiled_cache_evictions_total counter\nprofiled_cache_evictions_total %llu\n"
         "# HELP profiled_cache_bytes Bytes the cached views take (entries, keys, bodies), and the limit (--cache-mb).\n"
         "# TYPE profiled_cache_bytes gauge\nprofiled_cache_bytes{of=\"used\"} %lld\nprofiled_cache_bytes{of=\"limit\"} %lld\n"
         "# HELP profiled_cache_entries Views in the cache.\n"
         "# TYPE profiled_cache_entries gauge\nprofiled_cache_entries %lld\n",
         (unsigned long long)g.cache_hits, (unsigned long long)g.cache_misses, (unsigned long long)g.cache_evictions,
         (long long)g.cache_bytes, (long long)g.cache_limit_bytes, (long long)g.cache_entries);
    emit(&t,
         "# HELP profiled_token_cache_total Credentials found in a thread's cache of verified tokens (hit) or hashed (miss).\n"
         "# TYPE profiled_token_cache_total counter\nprofiled_token_cache_total{result=\"hit\"} %llu\n"
         "profiled_token_cache_total{result=\"miss\"} %llu\n",
         (unsigned long long)g.token_cache_hits, (unsigned long long)g.token_cache_misses);
    *len = t.len;
    return t.buf;
}

/* ---- readiness: a damaged database ---- */

static void
on_damage(void *ctx, const char *what)
{
    const char *db = ctx;
    fprintf(stderr,
            "profiled: DATABASE DAMAGED: %s\n"
            "profiled: DATABASE DAMAGED: not ready from now on (/readyz 503), ingest refused (503), reads that still work"
            " are served\n"
            "profiled: DATABASE DAMAGED: stop this server, run `profiled check --db %s`, restore the file from a backup\n",
            what, db);
}

void
ops_watch_damage(const char *db)
{
    storage_watch_damage(on_damage, (void *)db);
}
