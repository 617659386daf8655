/* ops.h -- what operators watch (server/ops/): Prometheus metrics, the
 * watch for a damaged database, and the JSON access log. ops only receives
 * what it reports: the route names, the queue depths and the connection
 * counters come from the server through a sampling callback set at
 * startup, and each log line's parts (the client address among them) from
 * the caller. Includes nothing else of server/. */
#ifndef PROFILED_SERVER_OPS_H
#define PROFILED_SERVER_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "storage.h"

typedef struct metrics metrics_t;

/* Gauges read from elsewhere at each render (sample fills them). */
typedef struct {
    size_t job_queue_depth;   /* jobs waiting for a worker */
    size_t write_queue_depth; /* ingest requests waiting for the writer */
    int workers;
    int64_t open_connections;
    int draining;
    const char *db; /* the database file, for its size and its log's */
    int64_t unsent_bytes;
    uint64_t write_timeouts;
    uint64_t accept_pauses;
    uint64_t suppressed_messages; /* refused for an erased (suppressed) id */
    /* the rendered-view cache of the loops (server/http/cache.c), summed */
    uint64_t cache_hits, cache_misses, cache_evictions;
    int64_t cache_bytes, cache_entries, cache_limit_bytes;
    /* the threads' caches of verified tokens (server/http/gate.c), summed */
    uint64_t token_cache_hits, token_cache_misses;
} metrics_sample_t;

typedef void (*metrics_sample_fn)(void *ctx, metrics_sample_t *out);

/* Counters for nroutes routes (and one for unmatched requests, index
 * nroutes) named by route_name(index); sample(ctx) fills the gauges of a
 * render. Never fails (out of memory aborts). */
metrics_t *metrics_new(size_t nroutes, const char *(*route_name)(size_t index), metrics_sample_fn sample, void *ctx);
/* One answered request of route route_index (nroutes: unmatched). Any
 * thread. */
void metrics_request(metrics_t *m, size_t route_index, int status, double seconds);
void metrics_worker_busy(metrics_t *m, uint64_t ns);
/* One committed ingest request; first_of_group records the commit time. */
void metrics_ingest(metrics_t *m, size_t messages, double commit_seconds, int first_of_group);
/* Pages (and their bytes) the writer's connection wrote: storage_pages_written. */
void metrics_writer_pages(metrics_t *m, int64_t pages, int64_t bytes);
/* A writer group begun under the shared write lock; retried: stored again
 * under the exclusive one. */
void metrics_writer_shared(metrics_t *m, int retried);
/* A compaction step of the event entries (storage_events_compact). */
void metrics_compaction(metrics_t *m, int64_t events, double seconds);
/* Write transactions a worker committed while running jobs (none should). */
void metrics_worker_commits(metrics_t *m, uint64_t n);
/* A worker gave way to the loops (--sched batch: pool.c). */
void metrics_worker_yield(metrics_t *m);
void metrics_set_recompute(metrics_t *m, int64_t done, int64_t total);
/* Prometheus text; malloc'd. */
char *metrics_render(metrics_t *m, size_t *len);

/* Before any connection opens: a damaged database (file db) found by any
 * thread is logged once, loudly, and from then on /readyz answers 503 and
 * ingest is refused (storage_damaged). db must live for the process. */
void ops_watch_damage(const char *db);

/* Opens (or, called again, reopens in place) the access log at path ("off":
 * none, "-": standard output). -1 on failure (errno set). */
int access_log_open(const char *path);
/* Whether lines are written: a caller skips gathering a line's parts when
 * not. Any thread. */
int access_log_enabled(void);

/* One answered request, as the access log writes it. */
typedef struct {
    const char *request_id;
    size_t request_id_len;
    const char *client; /* NUL-terminated address */
    const char *method;
    size_t method_len;
    const char *route;              /* the route's pattern, or "unmatched" */
    const storage_tenant_t *tenant; /* NULL, or client NULL: none */
    int status;
    size_t bytes;
    double seconds;
} access_entry_t;

/* One JSON line (no-op when the log is off). Any thread. */
void access_log_write(const access_entry_t *e);

#endif
