/* scrolltab.c -- the process's table of scroll positions, so that any
 * scrollId of a scroll continues it (a client reusing its first one, as
 * the spec's examples do, walks the whole scroll). One entry per scroll:
 * its nonce (sealed into each of its scrollIds) -> the newest position
 * issued, that id's sequence number and deadline. Shared by every worker
 * thread: NSHARDS hash tables, each behind its mutex, each holding at most
 * its share of the bound in least-recently-paged order (the order of their
 * deadlines: each page sets now + TTL), so the oldest goes first when full
 * and an expired one counts as absent. Nothing here is needed for
 * correctness across processes: an id whose scroll is not here pages from
 * its own sealed position (cursor.c). Freed at exit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "../read/read.h"

#define NSHARDS 8
#define NBUCKETS 1024 /* per shard */

typedef struct entry {
    unsigned char nonce[STG_SCROLL_NONCE_BYTES];
    uint64_t seq;
    int64_t expires_ms;
    bool has_pos;
    int64_t pos_time_ms;
    char *pos_id;
    size_t pos_id_len;
    struct entry *hnext;       /* bucket chain */
    struct entry *prev, *next; /* age list: head oldest */
} entry_t;

typedef struct {
    pthread_mutex_t lock;
    entry_t *buckets[NBUCKETS];
    entry_t *head, *tail;
    size_t n;
    bool closed; /* after exit's release: every call a no-op */
} shard_t;

static shard_t shards[NSHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int nshards;      /* in use: NSHARDS, or 1 under a small bound (exact) */
static size_t per_shard; /* the bound's share; 0: the table is off */

static void
entry_free(entry_t *e)
{
    free(e->pos_id);
    free(e);
}

static void
release(void)
{
    for (int s = 0; s < NSHARDS; s++) {
        shard_t *sh = &shards[s];
        pthread_mutex_lock(&sh->lock);
        for (entry_t *e = sh->head, *next; e != NULL; e = next) {
            next = e->next;
            entry_free(e);
        }
        memset(sh->buckets, 0, sizeof(sh->buckets));
        sh->head = sh->tail = NULL;
        sh->n = 0;
        sh->closed = true;
        pthread_mutex_unlock(&sh->lock);
    }
}

static void
init(void)
{
    size_t bound = STG_SCROLL_TABLE_MAX;
    const char *e = getenv("PROFILED_DEBUG_SCROLL_TABLE");
    if (e != NULL && *e != '\0') {
        long v = strtol(e, NULL, 10);
        bound = v > 0 ? (size_t)v : 0;
    }
    nshards = bound >= 64 * NSHARDS ? NSHARDS : 1;
    per_shard = (bound + (size_t)nshards - 1) / (size_t)nshards;
    for (int s = 0; s < NSHARDS; s++)
        pthread_mutex_init(&shards[s].lock, NULL);
    atexit(release);
}

/* The nonce is random: its bytes are the hash. */
static uint32_t
hash_of(const unsigned char *nonce)
{
    uint32_t h;
    memcpy(&h, nonce, sizeof(h));
    return h;
}

static shard_t *
shard_of(uint32_t h)
{
    return &shards[(h >> 16) % (uint32_t)nshards];
}

static entry_t **
slot_of(shard_t *sh, const unsigned char *nonce, uint32_t h)
{
    entry_t **p = &sh->buckets[h % NBUCKETS];
    while (*p != NULL && memcmp((*p)->nonce, nonce, STG_SCROLL_NONCE_BYTES) != 0)
        p = &(*p)->hnext;
    return p;
}

static void
unlink_age(shard_t *sh, entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        sh->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        sh->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
append_age(shard_t *sh, entry_t *e)
{
    e->prev = sh->tail;
    e->next = NULL;
    if (sh->tail != NULL)
        sh->tail->next = e;
    else
        sh->head = e;
    sh->tail = e;
}

static void
drop(shard_t *sh, entry_t *e)
{
    entry_t **p = slot_of(sh, e->nonce, hash_of(e->nonce));
    *p = e->hnext;
    unlink_age(sh, e);
    sh->n--;
    entry_free(e);
}

bool
stg_scrolltab_newer(const stg_scroll_t *sc, int64_t now_ms, stg_scroll_t *pos)
{
    pthread_once(&once, init);
    uint32_t h = hash_of(sc->nonce);
    shard_t *sh = shard_of(h);
    bool found = false;
    pthread_mutex_lock(&sh->lock);
    entry_t *e = sh->closed ? NULL : *slot_of(sh, sc->nonce, h);
    if (e != NULL && e->expires_ms <= now_ms) {
        drop(sh, e);
        e = NULL;
    }
    if (e != NULL && e->seq > sc->seq) {
        pos->seq = e->seq;
        pos->has_pos = e->has_pos;
        pos->pos_time_ms = e->pos_time_ms;
        pos->pos_id = e->has_pos ? base_xstrndup(e->pos_id, e->pos_id_len) : NULL;
        pos->pos_id_len = e->has_pos ? e->pos_id_len : 0;
        found = true;
    }
    pthread_mutex_unlock(&sh->lock);
    return found;
}

void
stg_scrolltab_put(const stg_scroll_t *sc, int64_t now_ms)
{
    pthread_once(&once, init);
    if (per_shard == 0)
        return; /* turned off */
    uint32_t h = hash_of(sc->nonce);
    shard_t *sh = shard_of(h);
    pthread_mutex_lock(&sh->lock);
    if (sh->closed)
        goto out;
    entry_t **p = slot_of(sh, sc->nonce, h), *e = *p;
    if (e != NULL) {
        if (e->seq > sc->seq)
            goto out; /* a page further on was stored meanwhile */
        unlink_age(sh, e);
    } else {
        while (sh->head != NULL && (sh->n >= per_shard || sh->head->expires_ms <= now_ms))
            drop(sh, sh->head); /* expired, or the oldest when full */
        e = base_xcalloc(1, sizeof(*e));
        memcpy(e->nonce, sc->nonce, STG_SCROLL_NONCE_BYTES);
        p = slot_of(sh, sc->nonce, h); /* the drops may have moved the chain */
        e->hnext = *p;
        *p = e;
        sh->n++;
    }
    append_age(sh, e);
    e->seq = sc->seq;
    e->expires_ms = sc->expires_ms;
    free(e->pos_id);
    e->has_pos = sc->has_pos;
    e->pos_time_ms = sc->pos_time_ms;
    e->pos_id = sc->has_pos ? base_xstrndup(sc->pos_id, sc->pos_id_len) : NULL;
    e->pos_id_len = sc->has_pos ? sc->pos_id_len : 0;
out:
    pthread_mutex_unlock(&sh->lock);
}

size_t
stg_scrolltab_count(void)
{
    size_t n = 0;
    pthread_once(&once, init);
    for (int s = 0; s < NSHARDS; s++) {
        pthread_mutex_lock(&shards[s].lock);
        n += shards[s].n;
        pthread_mutex_unlock(&shards[s].lock);
    }
    return n;
}
