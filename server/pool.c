/* pool.c -- the worker pool: a bounded job queue, M worker threads that each
 * own a read-only SQLite connection, and the way a finished job returns to
 * the loop thread that owns its request (h2o's multithread queue). A job
 * survives its request: a request disposed or timed out while its job runs
 * leaves the job to be freed when it comes back. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "server.h"

struct pool {
    server_t *srv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t **ring;
    size_t cap, head, count;
    int stop;
    int nworkers, nconns;
    int debug_delay_ms; /* PROFILED_DEBUG_JOB_DELAY_MS: tests make jobs slow */
    pthread_t *tids;
    storage_t **conns;
};

static void
job_free(job_t *job)
{
    atomic_fetch_sub(&job->loop->srv->inflight, 1);
    if (h2o_timeout_is_linked(&job->deadline))
        h2o_timeout_unlink(&job->deadline);
    free(job->strings);
    free(job->tenant_strings);
    free(job->extra);
    free(job->payload);
    segment_batch_free(job->batch);
    free(job->body);
    free(job);
}

static void
on_req_dispose(void *p)
{
    job_t *job = *(job_t **)p;
    if (job != NULL) {
        job->req = NULL;
        job->slot = NULL;
    }
}

/* Detaches the job from its request: the request is answered now. */
static h2o_req_t *
detach(job_t *job)
{
    h2o_req_t *req = job->req;
    if (job->slot != NULL)
        *job->slot = NULL;
    job->req = NULL;
    job->slot = NULL;
    return req;
}

void
job_set_tenant(job_t *job, const storage_tenant_t *t)
{
    size_t need = t->client_len + t->account_len + t->brand_len + 3;
    char *p = malloc(need);
    if (p == NULL)
        abort();
    job->tenant_strings = p;
    const char *src[3] = {t->client, t->account, t->brand};
    size_t len[3] = {t->client_len, t->account_len, t->brand_len};
    const char *dst[3];
    for (int i = 0; i < 3; i++) {
        memcpy(p, src[i], len[i]);
        p[len[i]] = '\0';
        dst[i] = p;
        p += len[i] + 1;
    }
    job->tenant = (storage_tenant_t){dst[0], len[0], dst[1], len[1], dst[2], len[2]};
}

job_t *
job_new(h2o_req_t *req, reqctx_t *rc, job_run_fn run, const storage_tenant_t *tenant, const char *id, size_t id_len)
{
    job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        abort();
    if (tenant != NULL)
        job_set_tenant(job, tenant);
    job->strings = malloc(id_len + 1);
    if (job->strings == NULL)
        abort();
    if (id != NULL)
        memcpy(job->strings, id, id_len);
    job->strings[id_len] = '\0';
    job->id = job->strings;
    job->id_len = id_len;
    job->loop = loop_of(req);
    job->req = req;
    job->rc = rc;
    job->run = run;
    job->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*job->slot), on_req_dispose);
    *job->slot = job;
    atomic_fetch_add(&job->loop->srv->inflight, 1);
    return job;
}

static void
job_verror(job_t *job, err_kind_t kind, const char *fmt, va_list ap)
{
    job->status = 0;
    job->err = kind;
    job->errmsg[0] = '\0';
    if (fmt != NULL)
        vsnprintf(job->errmsg, sizeof(job->errmsg), fmt, ap);
}

void
job_error(job_t *job, err_kind_t kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    job_verror(job, kind, fmt, ap);
    va_end(ap);
}

void
job_complete(job_t *job)
{
    memset(&job->msg, 0, sizeof(job->msg));
    h2o_multithread_send_message(&job->loop->done, &job->msg);
}

void
job_fail(job_t *job, int storage_rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    job_verror(job, err_from_storage(storage_rc), fmt, ap);
    va_end(ap);
}

static void
on_deadline(h2o_timeout_entry_t *entry)
{
    job_t *job = H2O_STRUCT_FROM_MEMBER(job_t, deadline, entry);
    atomic_store(&job->cancelled, 1);
    if (job->req != NULL) {
        reqctx_t *rc = job->rc;
        h2o_req_t *req = detach(job);
        respond_error(req, rc, ERR_TIMEOUT, NULL);
    }
}

void
job_submit(job_t *job)
{
    loop_t *loop = job->loop;
    if (pool_push(loop->srv->pool, job) != 0) {
        reqctx_t *rc = job->rc;
        h2o_req_t *req = detach(job);
        respond_error(req, rc, ERR_UNAVAILABLE, "The job queue is full; retry later.");
        job_free(job);
        return;
    }
    job->deadline.cb = on_deadline;
    h2o_timeout_link(loop->ctx.loop, &loop->job_timeout, &job->deadline);
}

/* Loop thread: answers finished jobs whose requests are still there. */
static void
on_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        job_t *job = (job_t *)msg;
        if (job->req != NULL) {
            reqctx_t *rc = job->rc;
            h2o_req_t *req = detach(job);
            if (job->gate.has_limit)
                rc->gate = job->gate;
            if (job->status != 0) {
                respond_json(req, rc, job->status, job->body, job->body_len);
                job->body = NULL; /* the response owns it now */
            } else {
                respond_error(req, rc, job->err, job->errmsg[0] != '\0' ? "%s" : NULL, job->errmsg);
            }
        }
        job_free(job);
    }
}

void
pool_loop_init(loop_t *loop)
{
    h2o_multithread_register_receiver(loop->ctx.queue, &loop->done, on_done);
    h2o_timeout_init(loop->ctx.loop, &loop->job_timeout, (uint64_t)loop->srv->cfg.job_timeout_ms);
}

size_t
pool_depth(pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int
pool_push(pool_t *p, job_t *job)
{
    pthread_mutex_lock(&p->mu);
    if (p->count == p->cap || p->stop) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    p->ring[(p->head + p->count) % p->cap] = job;
    p->count++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

typedef struct {
    pool_t *pool;
    int index;
} worker_arg_t;

static void *
worker_main(void *arg)
{
    pool_t *p = ((worker_arg_t *)arg)->pool;
    storage_t *st = p->conns[((worker_arg_t *)arg)->index];
    uint64_t defs_gen = 0;
    free(arg);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->count == 0 && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->count == 0 && p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        job_t *job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_mutex_unlock(&p->mu);

        defs_adopt(p->srv, st, &defs_gen);
        if (p->debug_delay_ms > 0)
            usleep((useconds_t)p->debug_delay_ms * 1000);
        if (atomic_load(&job->cancelled))
            job_fail(job, STORAGE_EBUSY, "The request took too long; retry later.");
        else {
            int64_t t0 = base_clock_ns(1);
            job->run(job, st);
            metrics_worker_busy(p->srv->metrics, (uint64_t)(base_clock_ns(1) - t0));
        }
        /* the job is this thread's until it is passed on: decide here */
        if (job->forwarded)
            writer_push(p->srv->writer, job);
        else
            job_complete(job);
    }
}

pool_t *
pool_new(server_t *srv, int workers, int capacity, char *errbuf, size_t errlen)
{
    pool_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->srv = srv;
    const char *delay = getenv("PROFILED_DEBUG_JOB_DELAY_MS");
    p->debug_delay_ms = delay != NULL ? atoi(delay) : 0;
    p->cap = (size_t)capacity;
    p->ring = calloc(p->cap, sizeof(*p->ring));
    p->tids = calloc((size_t)workers, sizeof(*p->tids));
    p->conns = calloc((size_t)workers, sizeof(*p->conns));
    if (p->ring == NULL || p->tids == NULL || p->conns == NULL)
        abort();
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < workers; i++)
        if (storage_open(&p->conns[i], srv->cfg.db, STORAGE_NO_AUTOCHECKPOINT, errbuf, errlen) != 0)
            goto fail;
        else
            p->nconns++;
    for (int i = 0; i < workers; i++) {
        worker_arg_t *a = malloc(sizeof(*a));
        if (a == NULL)
            abort();
        a->pool = p;
        a->index = i;
        if (pthread_create(&p->tids[i], NULL, worker_main, a) != 0) {
            free(a);
            snprintf(errbuf, errlen, "cannot start worker thread");
            goto fail;
        }
        p->nworkers++;
    }
    return p;
fail:
    pool_free(p);
    return NULL;
}

void
pool_free(pool_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->tids[i], NULL);
    for (int i = 0; i < p->nconns; i++)
        storage_close(p->conns[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p->tids);
    free(p->conns);
    free(p);
}
