/* jobs.h -- the job lifecycle (server/jobs/): a job header every route's
 * job kind embeds first; its allocation, deadline (504), completion back to
 * the loop that owns the request, and what happens when the client is gone
 * first (job.c); the worker pool that runs jobs on read-only connections
 * (pool.c); and the writer thread that commits ingest jobs in groups
 * (writer.c) through its fair queue (fairq.h, fairq.c). Uses http/ (the
 * server context, answers) and ops/ (metrics); nothing else of server/. */
#ifndef PROFILED_SERVER_JOBS_H
#define PROFILED_SERVER_JOBS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "segment.h"
#include "storage.h"
#include "../http/http.h"

typedef struct job job_t;
typedef struct pool pool_t;
typedef struct writer writer_t;

/* What a run function did with its job. */
enum {
    JOB_DONE = 0,   /* its result is set: the worker completes it */
    JOB_PASSED = 1, /* handed on (writer_push): no longer the worker's */
};

/* Runs on a worker thread with that worker's read-only connection. Fills
 * job->status and job->body (malloc'd JSON), or job->err and job->errmsg
 * (job_error, job_fail), and returns JOB_DONE; or passes the job on and
 * returns JOB_PASSED. */
typedef int (*job_run_fn)(job_t *job, storage_t *st);

/* The header of every job kind: a kind is a struct with a job_t first,
 * holding owned copies of its inputs, never pointers into the request. */
struct job {
    h2o_multithread_message_t msg; /* completion, back to the owning loop */
    loop_t *loop;
    h2o_req_t *req; /* loop thread only; NULL once answered or gone */
    reqctx_t *rc;   /* in req->pool: valid while req is */
    job_t **slot;   /* in req->pool: cleared when the request is disposed */
    h2o_timeout_entry_t deadline;
    _Atomic int cancelled; /* set past the deadline: a queued job is skipped */
    job_run_fn run;
    void (*dispose)(job_t *job); /* frees what the kind owns; NULL: nothing */
    char *tenant_strings;
    storage_tenant_t tenant;
    gate_result_t gate; /* has_limit: limit state found on the worker, sent with the answer */
    /* outputs */
    int status; /* 0: failed, see err */
    char *body;
    size_t body_len;
    char etag[20]; /* "" or the body's entity tag (job_set_etag): the answer is conditional */
    err_kind_t err;
    char errmsg[256];
    /* a cacheable view (http/cache.c): its key (malloc'd; NULL: not
     * cached), and the stamp the worker and the run function fill */
    char *cache_key;
    size_t cache_key_len;
    cache_stamp_t stamp;
    /* a kind that fills several entries itself (the batch): the worker
     * takes the stamp before the read too, and on the loop thread, with a
     * 200 result and before it is answered, fill_cache puts its views in */
    int cache_many;
    void (*fill_cache)(job_t *job);
};

/* A new zeroed job of size bytes (a kind's struct, job_t first, and any
 * inline text after it) for req, with a copy of tenant (may be NULL).
 * Never fails (out of memory aborts). */
void *job_new(h2o_req_t *req, reqctx_t *rc, size_t size, job_run_fn run, const storage_tenant_t *tenant);

/* Replaces the job's tenant with copies of tenant's strings. */
void job_set_tenant(job_t *job, const storage_tenant_t *tenant);

/* Hands the job to the pool and arms its deadline. On a full queue answers
 * 503 and frees the job. Loop thread. */
void job_submit(job_t *job);

/* Sets a failure result of a given kind (message printf formatted). */
void job_error(job_t *job, err_kind_t kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets a failure result from a storage code. */
void job_fail(job_t *job, int storage_rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The result of a read that filled job->body: 200 when rc is 0, else the
 * failure of storage code rc, with the message not_found when rc is
 * STORAGE_ENOTFOUND (NULL: the kind's default). Returns JOB_DONE. */
int job_read_result(job_t *job, int rc, const char *not_found);

/* Makes the answer conditional: sets job->etag from the final job->body
 * (call it after the last step that changes the body; worker thread). A
 * 200 with a tag honours If-None-Match (respond_json_tagged). */
void job_set_etag(job_t *job);
/* The tag job_set_etag gives a body of len bytes, into etag. */
void job_etag_of(const char *body, size_t len, char etag[20]);
/* Makes job's view cacheable under a copy of key (the worker stamps it
 * before the read; the loop fills the cache with its answer). */
void job_set_cache_key(job_t *job, const char *key, size_t key_len);

/* Sends a finished job back to the loop that owns its request (any
 * thread); there it is answered, unless the request is gone, and freed. */
void job_complete(job_t *job);

/* Registers the loop's completion receiver and job deadline timer. */
void job_loop_init(loop_t *loop);

/* On a connection's own thread, between jobs: switch it to the server's
 * current definitions when they changed since *local_gen. */
void jobs_adopt_definitions(server_t *srv, storage_t *st, uint64_t *local_gen);

/* ---- the worker pool (pool.c) ---------------------------------------------- */
/* Worker threads, each with its own connection (read-only but for scroll
 * cursors), taking jobs from a bounded queue of capacity jobs. */
pool_t *pool_new(server_t *srv, int workers, int capacity, char *errbuf, size_t errlen);
void pool_free(pool_t *p);            /* stops and joins the workers */
int pool_push(pool_t *p, job_t *job); /* 0 or -1 when full */
/* Jobs waiting in the queue (approximate). */
size_t pool_depth(pool_t *p);

/* ---- the writer (writer.c) ------------------------------------------------- */
/* A job as the writer takes it: checked messages for job.tenant (ingest),
 * or another write (store: a profile's erasure). */
typedef struct write_job {
    job_t job;
    segment_batch_t *batch; /* owned by the kind (its dispose frees it); NULL with store */
    /* A write other than messages, run in the group's transaction (the
     * group commit serialises it with ingest): returns 0 when done, or a
     * STORAGE_* code. STORAGE_ENOTFOUND and STORAGE_EINVAL mean that it
     * wrote nothing: they are the job's answer (404, 400 with err) and the
     * group goes on; anything else fails the transaction. */
    int (*store)(struct write_job *wj, storage_t *st, int64_t now_ms, char *err, size_t errlen);
    int outcome; /* what store returned (ENOTFOUND / EINVAL) */
    char outmsg[200];
    struct write_job *next; /* writer queue */
} write_job_t;

/* The writer thread: owns the only read-write connection; commits the
 * messages of concurrent ingest jobs together (group commit), then
 * completes each job. */
writer_t *writer_new(server_t *srv, char *errbuf, size_t errlen);
void writer_free(writer_t *w);
/* Queues a checked ingest job (any thread; the job is the writer's from
 * here); on a full queue completes it with 503. */
void writer_push(writer_t *w, write_job_t *job);
/* Requests waiting (approximate); writer_idle: nothing queued or running. */
size_t writer_depth(writer_t *w);
int writer_idle(writer_t *w);
/* Messages the writer's connection refused as suppressed (erasure), in
 * committed transactions; any thread. */
uint64_t writer_suppressed(writer_t *w);
/* Wakes the writer so it adopts new definitions while idle. */
void writer_wake(writer_t *w);
/* While on, the writer starts no new group commit; turning it on waits
 * for the current one to end. For the checkpointer (server.c). */
void writer_hold(writer_t *w, int on);

#endif
