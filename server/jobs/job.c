/* job.c -- the job lifecycle: a job is allocated for a request on its loop
 * thread, runs on a worker (and for ingest, the writer), and comes back to
 * that loop through h2o's multithread queue to be answered. A job survives
 * its request: a request disposed or timed out (504) while its job runs
 * leaves the job to be freed when it comes back. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jobs.h"

static void
job_free(job_t *job)
{
    atomic_fetch_sub(&job->loop->srv->inflight, 1);
    if (h2o_timeout_is_linked(&job->deadline))
        h2o_timeout_unlink(&job->deadline);
    if (job->dispose != NULL)
        job->dispose(job);
    free(job->tenant_strings);
    free(job->cache_key);
    free(job->stamp.tags);
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
    char *p = base_xmalloc(need);
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

void *
job_new(h2o_req_t *req, reqctx_t *rc, size_t size, job_run_fn run, const storage_tenant_t *tenant)
{
    job_t *job = base_xcalloc(1, size);
    if (tenant != NULL)
        job_set_tenant(job, tenant);
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
    err_kind_t kind = err_from_storage(storage_rc);
    va_list ap;
    va_start(ap, fmt);
    /* a full disk or a lost database answers in the same words whichever
     * step failed (the writer's and the token reloader's log lines have the
     * database's) */
    job_verror(job, kind, kind == ERR_DISK_FULL || kind == ERR_DB_DOWN ? NULL : fmt, ap);
    va_end(ap);
}

int
job_read_result(job_t *job, int rc, const char *not_found)
{
    if (rc == 0) {
        job->status = 200;
        return JOB_DONE;
    }
    const char *m = rc == STORAGE_ENOTFOUND ? not_found : NULL;
    job_fail(job, rc, m != NULL ? "%s" : NULL, m);
    return JOB_DONE;
}

/* A 64-bit unkeyed hash suffices: the tag only has to differ between the
 * successive bodies of one profile view that one client sees (an
 * accidental collision is 2^-64 a change); a crafted collision needs
 * ingest rights in the same tenant and wins only a stale copy for that
 * tenant's own readers, so it is no security boundary. base_hash64 has no
 * seed and reads words little-endian, so the tag of a body is the same on
 * every worker, process, restart and replica. */
void
job_etag_of(const char *body, size_t len, char etag[20])
{
    uint64_t h = base_hash64(body != NULL ? body : "", len);
    etag[0] = '"';
    base_fmt_hex(etag + 1, h, 16);
    etag[17] = '"';
    etag[18] = '\0';
}

void
job_set_etag(job_t *job)
{
    job_etag_of(job->body, job->body_len, job->etag);
}

void
job_set_cache_key(job_t *job, const char *key, size_t key_len)
{
    job->cache_key = base_xmalloc(key_len);
    memcpy(job->cache_key, key, key_len);
    job->cache_key_len = key_len;
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
        if (job->status == 200 && job->fill_cache != NULL)
            job->fill_cache(job);
        if (job->req != NULL) {
            reqctx_t *rc = job->rc;
            h2o_req_t *req = detach(job);
            if (job->gate.has_limit)
                rc->gate = job->gate;
            if (job->status == 200 && job->etag[0] != '\0') {
                if (job->cache_key != NULL)
                    cache_fill(job->loop, job->cache_key, job->cache_key_len, &job->stamp, job->body, job->body_len, job->etag);
                respond_json_tagged(req, rc, job->body, job->body_len, job->etag);
                job->body = NULL; /* the response owns it now */
            } else if (job->status != 0) {
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
job_loop_init(loop_t *loop)
{
    h2o_multithread_register_receiver(loop->ctx.queue, &loop->done, on_done);
    h2o_timeout_init(loop->ctx.loop, &loop->job_timeout, (uint64_t)loop->srv->cfg.job_timeout_ms);
}

void
jobs_adopt_definitions(server_t *srv, storage_t *st, uint64_t *local_gen)
{
    uint64_t gen = atomic_load_explicit(&srv->defs_gen, memory_order_acquire);
    if (gen == *local_gen)
        return;
    storage_use_definitions(st, atomic_load_explicit(&srv->defs, memory_order_acquire));
    *local_gen = gen;
}
