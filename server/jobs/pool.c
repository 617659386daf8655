/* pool.c -- the worker pool: a bounded job queue and M worker threads that
 * each own a read-only SQLite connection. A worker runs a job and completes
 * it, unless the job's run function passed it on (to the writer). */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "jobs.h"

/* --sched batch: a worker gives the CPU to the loops (sched_yield) once
 * its answers since it last did reach either bound, so that the loops send
 * them while they are still in the cache and read new requests. Under
 * SCHED_BATCH nothing else would stop it before the queue runs dry or the
 * scheduler's tick: a loop woken by the first answer does not preempt it. */
#define YIELD_BYTES (256u << 10)
#define YIELD_NS 1000000

struct pool {
    server_t *srv;
    int yields;         /* --sched batch */
    size_t yield_bytes; /* YIELD_BYTES; PROFILED_DEBUG_YIELD_BYTES: tests set 1 (a yield after every answer) */
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
    size_t answered = 0; /* bytes of answers since the worker last gave way */
    int64_t busy_ns = 0; /* and the time spent on them */
    free(arg);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->count == 0 && !p->stop) { /* no job waiting: the connection goes idle */
            pthread_mutex_unlock(&p->mu);
            storage_idle(st);
            answered = 0;
            busy_ns = 0;
            pthread_mutex_lock(&p->mu);
        }
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

        jobs_adopt_definitions(p->srv, st, &defs_gen);
        if (p->debug_delay_ms > 0)
            usleep((useconds_t)p->debug_delay_ms * 1000);
        int passed = JOB_DONE;
        if (atomic_load(&job->cancelled))
            job_fail(job, STORAGE_EBUSY, "The request took too long; retry later.");
        else {
            int64_t t0 = base_clock_ns(1);
            if (job->cache_key != NULL || job->cache_many) /* before the read: see http/cache.c */
                cache_stamp_begin(p->srv, st, defs_gen, &job->stamp);
            uint64_t commits = storage_commits(st);
            passed = job->run(job, st); /* JOB_PASSED: job is not ours to touch */
            int64_t took = base_clock_ns(1) - t0;
            busy_ns += took;
            metrics_worker_busy(p->srv->metrics, (uint64_t)took);
            if (storage_commits(st) != commits)
                metrics_worker_commits(p->srv->metrics, storage_commits(st) - commits);
        }
        if (passed != JOB_PASSED) {
            answered += job->body_len;
            job_complete(job);
        }
        if (p->yields && (answered >= p->yield_bytes || busy_ns >= YIELD_NS)) {
            answered = 0;
            busy_ns = 0;
            metrics_worker_yield(p->srv->metrics);
            sched_yield();
        }
    }
}

/* The injected clock of read-time evaluation (PROFILED_DEBUG_CLOCK_FILE). */
static int64_t
debug_clock(void *ctx)
{
    return server_now_ms(ctx);
}

pool_t *
pool_new(server_t *srv, int workers, int capacity, char *errbuf, size_t errlen)
{
    pool_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->srv = srv;
    p->yields = sched_getscheduler(0) == SCHED_BATCH; /* serve set it for --sched batch; the workers inherit it */
    const char *yb = getenv("PROFILED_DEBUG_YIELD_BYTES");
    p->yield_bytes = yb != NULL && atol(yb) > 0 ? (size_t)atol(yb) : YIELD_BYTES;
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
        if (storage_open(&p->conns[i], srv->cfg.db, STORAGE_NO_AUTOCHECKPOINT | STORAGE_READS_HELD, errbuf, errlen) != 0)
            goto fail;
        else {
            storage_set_trait_history(p->conns[p->nconns], srv->cfg.trait_history_days);
            if (srv->clock_file[0] != '\0')
                storage_set_clock(p->conns[p->nconns], debug_clock, srv);
            p->nconns++;
        }
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
