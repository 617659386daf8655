/* definitions.c -- computed traits and audiences in the running server: the
 * --definitions file loaded at start and on SIGHUP (a bad file keeps the
 * old set), handed to every connection between jobs, and a background
 * thread that recomputes existing profiles after a change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "server_internal.h"

#define RETIRE_AFTER_MS 60000

int
defs_init(server_t *srv)
{
    pthread_mutex_init(&srv->defs_mu, NULL);
    pthread_cond_init(&srv->defs_cv, NULL);
    if (srv->cfg.definitions[0] == '\0')
        return 0;
    char err[1024];
    definitions_t *defs = NULL;
    if (definitions_load(srv->cfg.definitions, &defs, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled: invalid definitions: %s\n", err);
        return -1;
    }
    size_t tenants, traits, audiences;
    definitions_stats(defs, &tenants, &traits, &audiences);
    fprintf(stderr, "profiled: definitions %s: %zu tenants, %zu computed traits, %zu audiences\n", srv->cfg.definitions, tenants,
            traits, audiences);
    atomic_store(&srv->defs, defs);
    atomic_store(&srv->defs_gen, 1);
    return 0;
}

void
defs_reload(server_t *srv)
{
    if (srv->cfg.definitions[0] == '\0')
        return;
    char err[1024];
    definitions_t *fresh = NULL;
    if (definitions_load(srv->cfg.definitions, &fresh, err, sizeof(err)) != 0) {
        fprintf(stderr, "profiled: SIGHUP: definitions refused, the previous ones stay in force: %s\n", err);
        return;
    }
    pthread_mutex_lock(&srv->defs_mu);
    definitions_t *old = atomic_exchange(&srv->defs, fresh);
    atomic_fetch_add(&srv->defs_gen, 1);
    /* connections switch before their next job; the old set is freed once
     * nothing can still be inside a call that uses it */
    if (old != NULL) {
        srv->retired_defs = realloc(srv->retired_defs, (srv->nretired_defs + 1) * sizeof(*srv->retired_defs));
        if (srv->retired_defs == NULL)
            abort();
        srv->retired_defs[srv->nretired_defs].defs = old;
        srv->retired_defs[srv->nretired_defs].at_ms = base_wall_ms();
        srv->nretired_defs++;
    }
    pthread_cond_broadcast(&srv->defs_cv);
    pthread_mutex_unlock(&srv->defs_mu);
    fprintf(stderr, "profiled: SIGHUP: definitions reloaded from %s\n", srv->cfg.definitions);
    writer_wake(srv->writer);
}

void
defs_housekeeping(server_t *srv)
{
    int64_t now = base_wall_ms();
    pthread_mutex_lock(&srv->defs_mu);
    size_t keep = 0;
    for (size_t i = 0; i < srv->nretired_defs; i++) {
        if (now - srv->retired_defs[i].at_ms > RETIRE_AFTER_MS)
            definitions_free(srv->retired_defs[i].defs);
        else
            srv->retired_defs[keep++] = srv->retired_defs[i];
    }
    srv->nretired_defs = keep;
    pthread_mutex_unlock(&srv->defs_mu);
}

typedef struct {
    server_t *srv;
    uint64_t gen;
    int64_t last_log_ms;
} recompute_ctx_t;

static int
on_progress(void *arg, uint64_t done, uint64_t total)
{
    recompute_ctx_t *c = arg;
    metrics_set_recompute(c->srv->metrics, (int64_t)done, (int64_t)total);
    int64_t now = base_wall_ms();
    if (total > 0 && (now - c->last_log_ms >= 5000 || done == total)) {
        fprintf(stderr, "profiled: recompute: %llu of %llu profiles\n", (unsigned long long)done, (unsigned long long)total);
        c->last_log_ms = now;
    }
    /* a newer set, or shutdown: stop after this batch */
    return atomic_load(&c->srv->defs_gen) != c->gen || atomic_load(&c->srv->draining);
}

/* Rebuilds what changed definitions need, once the writer has switched to
 * them (a requirement of storage_recompute), and again after each change. */
void *
recompute_main(void *arg)
{
    server_t *srv = arg;
    storage_t *st = side_connection(srv, "recompute");
    if (st == NULL)
        return NULL;
    uint64_t done_gen = 0;
    for (;;) {
        pthread_mutex_lock(&srv->defs_mu);
        while (atomic_load(&srv->defs_gen) == done_gen || atomic_load(&srv->writer_defs_gen) != atomic_load(&srv->defs_gen)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&srv->defs_cv, &srv->defs_mu, &ts);
        }
        recompute_ctx_t c = {srv, atomic_load(&srv->defs_gen), 0};
        definitions_t *defs = atomic_load(&srv->defs);
        pthread_mutex_unlock(&srv->defs_mu);
        if (defs == NULL) {
            done_gen = c.gen;
            continue;
        }
        int64_t t0 = base_wall_ms();
        int rc = storage_recompute(st, defs, base_wall_ms(), on_progress, &c);
        if (rc == 0) {
            fprintf(stderr, "profiled: recompute: complete in %.1f s\n", (double)(base_wall_ms() - t0) / 1000);
            done_gen = c.gen;
        } else if (rc != 1) {
            fprintf(stderr, "profiled: recompute: %s; retrying in 5 s\n", storage_errmsg(st));
            struct timespec ts = {5, 0};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}
