/* writer.c -- the writer thread: owns the only read-write connection of the
 * server. Ingest jobs queued while a commit runs are committed together in
 * the next transaction (group commit), with their per-profile writes
 * combined (storage_combine_writes); when that transaction fails, each
 * request is tried again alone. A job is answered only after COMMIT.
 * The queue is fair between tenants (fairq.c): each tenant has its own
 * FIFO, a group takes one request per tenant in turn up to a budget of
 * messages, and no tenant may hold more than a share of the queue, so one
 * tenant's flood neither starves nor crowds out another's requests. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "fairq.h"
#include "jobs.h"

#define WRITER_QUEUE_MAX 4096
#define WRITER_TENANT_MAX 1024 /* requests one tenant may have queued */
#define WRITER_GROUP_MAX 256
/* Messages a group takes at most (but always one request): what one
 * tenant's large batches can make another's request wait for. A commit
 * costs a fixed part plus a part per message (at 100k profiles on the
 * bench machine ~170 ms + ~77 us a message: every message dirties pages of
 * its own in four B-trees), so larger groups store more per second. Fair
 * budget while two tenants have shared the queue in the last
 * WRITER_SHARED_MS; alone that long, a tenant gets the large one (a
 * newcomer's first request may wait for one large commit, then the budget
 * is the fair one again). */
#define WRITER_GROUP_MESSAGES 2000
#define WRITER_ALONE_MESSAGES 16000
#define WRITER_SHARED_MS 2000
#define SWEEP_INTERVAL_S 10
/* Rows of a compaction step's chunk. Events are stored hot
 * (storage_hot_events) until --compact-events of them are, then a
 * compaction moves them into the large event indexes:
 * each compaction writes most pages of those once, and until then a group
 * commit rewrites a hot index of at most that many entries (a few hundred
 * pages) instead of a page per event. A round moves them a chunk of
 * adjoining keys per step, one step after each group commit, so no commit
 * waits long behind it; an idle writer's sweep compacts whatever is hot. */
#define WRITER_COMPACT_CHUNK 16384

struct writer {
    server_t *srv;
    storage_t *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fairq_t *queue;     /* of write_job_t, by tenant */
    int busy;           /* a group is being committed */
    bool was_shared;    /* store_all's transaction held the shared write lock */
    bool shared_groups; /* PostgreSQL: groups of at most STORAGE_SHARED_MESSAGES */
    int hold;           /* writer_hold: start no transaction */
    uint64_t defs_gen;
    _Atomic uint64_t suppressed; /* storage_suppressed_messages, after each commit */
    int stop;
    pthread_t tid;
};

void
writer_push(writer_t *w, write_job_t *job)
{
    /* The tenant's three strings, each ended by a NUL: one key. */
    const storage_tenant_t *t = &job->job.tenant;
    size_t key_len = t->client_len + t->account_len + t->brand_len + 3;
    char small[512], *key = key_len <= sizeof(small) ? small : malloc(key_len);
    if (key == NULL)
        abort();
    memcpy(key, t->client, t->client_len);
    key[t->client_len] = '\0';
    memcpy(key + t->client_len + 1, t->account, t->account_len);
    key[t->client_len + 1 + t->account_len] = '\0';
    memcpy(key + t->client_len + t->account_len + 2, t->brand, t->brand_len);
    key[key_len - 1] = '\0';
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    size_t weight = job->batch != NULL ? segment_batch_count(job->batch) : 1;
    int rc = w->stop ? FAIRQ_FULL : fairq_push(w->queue, key, key_len, job, weight);
    if (rc == 0)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (key != small)
        free(key);
    if (rc != 0) {
        job_error(&job->job, ERR_UNAVAILABLE,
                  rc == FAIRQ_KEY_FULL ? "This tenant's write queue is full; retry later."
                                       : "The write queue is full; retry later.");
        job_complete(&job->job);
    }
}

size_t
writer_depth(writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = fairq_count(w->queue);
    pthread_mutex_unlock(&w->mu);
    return n;
}

int
writer_idle(writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    int idle = fairq_count(w->queue) == 0 && !w->busy;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

/* Stores the jobs of a list in one transaction and commits it. On failure
 * everything is rolled back and why says what happened. */
static int
store_all(writer_t *w, write_job_t *list, int64_t now, bool shared, char *why, size_t whylen)
{
    char err[256] = "";
    const storage_tenant_t *tenants[WRITER_GROUP_MAX];
    const segment_batch_t *batches[WRITER_GROUP_MAX];
    size_t n = 0;
    for (write_job_t *j = list; shared && j != NULL; j = j->next) {
        if (j->store != NULL || n == WRITER_GROUP_MAX) /* a write of another kind: exclusive */
            shared = false;
        else if (!atomic_load(&j->job.cancelled)) {
            tenants[n] = &j->job.tenant;
            batches[n++] = j->batch;
        }
    }
    int rc = shared ? storage_begin_batches(w->st, tenants, batches, n) : storage_begin(w->st);
    if ((w->was_shared = rc == 0 && storage_shared(w->st)))
        metrics_writer_shared(w->srv->metrics, 0);
    if (rc != 0) {
        snprintf(why, whylen, "Cannot begin a transaction: %s", storage_errmsg(w->st));
        return rc;
    }
    for (write_job_t *j = list; j != NULL && rc == 0; j = j->next) {
        if (atomic_load(&j->job.cancelled)) /* answered 504 already: store nothing */
            continue;
        if (j->store != NULL) {
            j->outcome = 0;
            j->outmsg[0] = '\0';
            rc = j->store(j, w->st, now, j->outmsg, sizeof(j->outmsg));
            if (rc == STORAGE_ENOTFOUND || rc == STORAGE_EINVAL) { /* nothing written: its own answer */
                j->outcome = rc;
                rc = 0;
            } else if (rc != 0) {
                snprintf(why, whylen, "The write failed: %s", j->outmsg);
            }
            continue;
        }
        if ((rc = storage_batch_store(w->st, &j->job.tenant, j->batch, "api", now, err, sizeof(err))) != 0)
            snprintf(why, whylen, "Storing the messages failed: %s", err);
    }
    if (rc == 0 && (rc = storage_commit(w->st)) != 0) {
        snprintf(why, whylen, "Commit failed: %s", storage_errmsg(w->st));
        fprintf(stderr, "profiled: writer: %s\n", why);
    }
    if (rc != 0)
        storage_rollback(w->st);
    else
        atomic_store(&w->suppressed, storage_suppressed_messages(w->st));
    int64_t bytes, pages = storage_pages_written(w->st, &bytes);
    metrics_writer_pages(w->srv->metrics, pages, bytes);
    return rc;
}

uint64_t
writer_suppressed(writer_t *w)
{
    return atomic_load(&w->suppressed);
}

/* Sets the answer of a job that store_all finished with rc. */
static void
settle(writer_t *w, write_job_t *wj, int rc, const char *why, double seconds, int *first)
{
    static const char ok[] = "{\"success\":true}";
    job_t *j = &wj->job;
    if (atomic_load(&j->cancelled)) {
        job_error(j, ERR_TIMEOUT, NULL);
    } else if (rc != 0) {
        job_fail(j, rc, "%s", why);
    } else if (wj->outcome == STORAGE_ENOTFOUND) {
        job_error(j, ERR_NOT_FOUND, "Profile was not found.");
    } else if (wj->outcome != 0) {
        job_error(j, ERR_VALIDATION, "%s", wj->outmsg);
    } else {
        j->status = 200;
        if (wj->batch != NULL) {
            metrics_ingest(w->srv->metrics, segment_batch_count(wj->batch), seconds, *first);
            *first = 0;
        }
        if ((j->body = malloc(sizeof(ok))) == NULL)
            abort();
        memcpy(j->body, ok, sizeof(ok));
        j->body_len = sizeof(ok) - 1;
    }
}

/* One transaction for the whole group (the common case). When it fails,
 * each job is tried again alone, so a request that cannot be stored fails
 * by itself and the others are still acknowledged; but not on a full disk
 * or a lost database, which would fail each of them alike (all answer 500
 * or 503, nothing stored). */
static void
commit_group(writer_t *w, write_job_t *group)
{
    char why[512] = "";
    int64_t now = base_wall_ms(), t0 = base_clock_ns(1);
    int rc = store_all(w, group, now, true, why, sizeof(why)), first = 1;
    /* under the shared lock: a merge, a deadlock, a conflict with another
     * replica: the whole group again, alone on the database */
    if (rc != 0 && rc != STORAGE_EFULL && rc != STORAGE_EDOWN && w->was_shared) {
        metrics_writer_shared(w->srv->metrics, 1);
        rc = store_all(w, group, now, false, why, sizeof(why));
    }
    if (rc == 0 || rc == STORAGE_EFULL || rc == STORAGE_EDOWN || group->next == NULL) {
        double seconds = (double)(base_clock_ns(1) - t0) / 1e9;
        for (write_job_t *j = group; j != NULL; j = j->next)
            settle(w, j, rc, why, seconds, &first);
    } else {
        for (write_job_t *j = group; j != NULL; j = j->next) {
            write_job_t *next = j->next;
            j->next = NULL;
            t0 = base_clock_ns(1);
            rc = store_all(w, j, now, false, why, sizeof(why));
            first = 1; /* a commit of its own */
            settle(w, j, rc, why, (double)(base_clock_ns(1) - t0) / 1e9, &first);
            j->next = next;
        }
    }
    while (group != NULL) {
        write_job_t *next = group->next;
        job_complete(&group->job);
        group = next;
    }
}

/* One step of a compaction of the event entries (storage_events_compact)
 * when one is due, or with all a whole round (an idle writer's sweep:
 * whatever is hot). */
static void
compact(writer_t *w, int64_t min_hot, int all)
{
    int64_t moved = 0, t0 = base_clock_ns(1);
    int rc = all ? storage_events_compact_round(w->st, min_hot, WRITER_COMPACT_CHUNK, &moved)
                 : storage_events_compact(w->st, min_hot, WRITER_COMPACT_CHUNK, &moved);
    if (rc != 0)
        fprintf(stderr, "profiled: writer: compacting the event entries failed: %s\n", storage_errmsg(w->st));
    if (moved > 0)
        metrics_compaction(w->srv->metrics, moved, (double)(base_clock_ns(1) - t0) / 1e9);
    int64_t bytes, pages = storage_pages_written(w->st, &bytes);
    metrics_writer_pages(w->srv->metrics, pages, bytes);
}

/* Deletes trait changes past their retention, a batch of them a round (the
 * writer is the idle connection that may write; any process sharing the
 * file may sweep). Scroll cursors need none: they live in their scrollIds. */
static void
sweep(writer_t *w)
{
    compact(w, 1, 1);
    int64_t deleted = 0;
    if (storage_trait_history_sweep(w->st, base_wall_ms(), &deleted) != 0)
        fprintf(stderr, "profiled: writer: trait history sweep failed: %s\n", storage_errmsg(w->st));
}

void
writer_hold(writer_t *w, int on)
{
    pthread_mutex_lock(&w->mu);
    w->hold = on;
    pthread_cond_broadcast(&w->cv);
    while (on && w->busy)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void
writer_wake(writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Switches to new definitions between transactions, and says so: the
 * recompute thread starts only once the writer stores with them. */
static void
adopt(writer_t *w)
{
    jobs_adopt_definitions(w->srv, w->st, &w->defs_gen);
    if (atomic_load(&w->srv->writer_defs_gen) != w->defs_gen) {
        atomic_store(&w->srv->writer_defs_gen, w->defs_gen);
        pthread_mutex_lock(&w->srv->defs_mu);
        pthread_cond_broadcast(&w->srv->defs_cv);
        pthread_mutex_unlock(&w->srv->defs_mu);
    }
}

static void *
writer_main(void *arg)
{
    writer_t *w = arg;
    struct timespec next_sweep;
    clock_gettime(CLOCK_REALTIME, &next_sweep);
    next_sweep.tv_sec += SWEEP_INTERVAL_S;
    adopt(w);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while ((fairq_count(w->queue) == 0 || w->hold) && !w->stop) {
            if (w->hold) { /* the checkpointer finishes a copy: wait for it */
                pthread_cond_wait(&w->cv, &w->mu);
                continue;
            }
            int rc = pthread_cond_timedwait(&w->cv, &w->mu, &next_sweep);
            pthread_mutex_unlock(&w->mu);
            adopt(w);
            if (rc == ETIMEDOUT) {
                sweep(w);
                clock_gettime(CLOCK_REALTIME, &next_sweep);
                next_sweep.tv_sec += SWEEP_INTERVAL_S;
            }
            pthread_mutex_lock(&w->mu);
        }
        if (fairq_count(w->queue) == 0 && w->stop) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        /* what was queued while the last commit ran goes in this one, each
         * tenant in turn, up to the budget */
        void *taken[WRITER_GROUP_MAX];
        size_t budget =
            fairq_budget(w->queue, base_clock_ns(0) / 1000000, WRITER_GROUP_MESSAGES, WRITER_ALONE_MESSAGES, WRITER_SHARED_MS);
        if (w->shared_groups && budget > STORAGE_SHARED_MESSAGES) /* replicas store at once (storage_begin_batches) */
            budget = STORAGE_SHARED_MESSAGES;
        size_t n = fairq_take(w->queue, taken, WRITER_GROUP_MAX, budget);
        write_job_t *group = taken[0];
        for (size_t i = 0; i < n; i++)
            ((write_job_t *)taken[i])->next = i + 1 < n ? taken[i + 1] : NULL;
        w->busy = 1;
        pthread_mutex_unlock(&w->mu);
        adopt(w);
        commit_group(w, group);
        compact(w, w->srv->cfg.compact_events, 0);
        pthread_mutex_lock(&w->mu);
        w->busy = 0;
        if (w->hold)
            pthread_cond_broadcast(&w->cv); /* writer_hold waits for this */
        pthread_mutex_unlock(&w->mu);
    }
}

writer_t *
writer_new(server_t *srv, char *errbuf, size_t errlen)
{
    writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->srv = srv;
    /* the reloader thread checkpoints: commits here never wait for one */
    int flags = STORAGE_NO_AUTOCHECKPOINT | (strcmp(srv->cfg.sync, "full") == 0 ? STORAGE_SYNC_FULL : 0);
    if (storage_open(&w->st, srv->cfg.db, flags, errbuf, errlen) != 0) {
        free(w);
        return NULL;
    }
    storage_combine_writes(w->st, true);
    w->shared_groups = storage_is_postgres(w->st);
    storage_hot_events(w->st, true);
    storage_cache_mb(w->st, srv->cfg.writer_cache_mb);
    storage_id_limits_t limits;
    if (storage_id_limits_parse(srv->cfg.id_limits, &limits, errbuf, errlen) != 0) {
        storage_close(w->st);
        free(w);
        return NULL;
    }
    storage_set_id_limits(w->st, &limits);
    storage_set_trait_history(w->st, srv->cfg.trait_history_days);
    /* each commit's changes, for the loops' view caches (http/cache.c): a
     * commit the journal lacks empties them */
    if (srv->journal != NULL && storage_journal_attach(w->st, srv->journal) != 0)
        fprintf(stderr, "profiled: writer: %s; a commit empties the view cache\n", storage_errmsg(w->st));
    w->queue = fairq_new(WRITER_QUEUE_MAX, WRITER_TENANT_MAX);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
        snprintf(errbuf, errlen, "cannot start the writer thread");
        storage_close(w->st);
        fairq_free(w->queue);
        free(w);
        return NULL;
    }
    return w;
}

void
writer_free(writer_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->tid, NULL);
    storage_close(w->st);
    fairq_free(w->queue);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
