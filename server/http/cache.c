/* cache.c -- the rendered-view cache: the final body and ETag of a profile
 * view (traits, metadata, audiences, external_ids), or a first events page
 * with its scroll's state (each hit seals a scrollId of its own: a new
 * scroll from the same page, storage_scroll_reseal), kept per loop thread so
 * a current one is answered on the loop without a job; nothing here is
 * shared between loops but the server's change sources, so nothing takes a
 * lock per hit. An entry is current while
 *   - no commit since it was built touched what it was built from: each
 *     entry is tagged with its lookup key (tenant, idType, id) and the pk
 *     of every profile its view read (storage_view_tags). The loop reads
 *     the database's change mark (the WAL-index header, rewritten by every
 *     commit of any process) before each lookup; when it moved, the loop
 *     walks storage's commit journal from the mark it last settled on to
 *     the new one and drops the entries tagged with what those commits
 *     touched. A commit the journal does not have (another process or
 *     connection, the ring wrapped, a commit touching everything) empties
 *     the cache; one being committed means no hits until it is confirmed;
 *   - the definitions are the ones its job used (srv->defs_gen);
 *   - the clock is inside the window its answer holds for (windowed
 *     computed traits, activeWithinDays: storage_view_validity).
 * A view is filled only when the mark its worker read before the read is
 * the state the loop sees, or every commit since is journaled and touches
 * none of its tags. The journal records a commit inside COMMIT (SQLite's
 * hooks), before the writer answers, so the next read on any loop misses.
 * Memory is bounded per loop (--cache-mb shared out) with
 * least-recently-used eviction. */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "http.h"

struct centry;

/* One tag of an entry, in the tag index's chain for its value. */
typedef struct tagref {
    uint64_t tag;
    struct centry *e;
    struct tagref *next, **pprev;
} tagref_t;

typedef struct centry {
    struct centry *hnext;       /* bucket chain */
    struct centry *prev, *next; /* recency list, most recent first */
    uint64_t hash, epoch, defs_gen;
    int64_t from_ms, until_ms;
    size_t key_len, body_len, bytes, n_tags;
    tagref_t *tags; /* n_tags of them, after the data */
    char *gz;       /* the body's gzip, made at the first hit that takes it */
    size_t gz_len;
    char etag[20];
    char data[]; /* key, then body, then the tags */
} centry_t;

struct viewcache {
    centry_t **buckets;
    size_t mask;
    tagref_t **tbuckets; /* the tag index: tag -> the entries carrying it */
    size_t tmask;
    centry_t *head, *tail;
    size_t bytes, limit;
    /* the mark the entries are current at (settled: every commit up to it
     * seen); ok 0: no hits (no mark readable, or a commit being confirmed);
     * epoch counts the times the cache was emptied */
    storage_mark_t mark;
    int mark_ok, ok;
    uint64_t epoch;
    _Atomic uint64_t hits, misses, evictions;
    _Atomic int64_t gauge_bytes, gauge_entries;
};

/* What an entry costs: its struct, key and body, and malloc's overhead. */
#define ENTRY_OVERHEAD 16

int64_t
server_now_ms(const server_t *srv)
{
    if (srv->clock_file[0] == '\0')
        return base_wall_ms();
    /* PROFILED_DEBUG_CLOCK_FILE (tests): the clock is the number in it */
    char buf[32];
    int fd = open(srv->clock_file, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return base_wall_ms();
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

int
cache_init(server_t *srv, char *err, size_t errlen)
{
    if (srv->cfg.cache_mb <= 0 || srv->cfg.threads <= 0)
        return 0;
    if (storage_open(&srv->mark_st, srv->cfg.db, STORAGE_NO_AUTOCHECKPOINT, err, errlen) != 0)
        return -1;
    storage_mark_t m;
    if (storage_change_mark(srv->mark_st, &m) != 0) {
        /* no WAL index to watch (PostgreSQL has none): a cache could not
         * tell a change, and the connection would only hold a slot */
        fprintf(stderr, "profiled: cache: the database's change mark cannot be read; views are not cached\n");
        storage_close(srv->mark_st);
        srv->mark_st = NULL;
        return 0;
    }
    size_t limit = (size_t)srv->cfg.cache_mb * 1024 * 1024 / (size_t)srv->cfg.threads;
    size_t nb = 256;
    while (nb < limit / 1024 && nb < ((size_t)1 << 20))
        nb <<= 1;
    for (int i = 0; i < srv->cfg.threads; i++) {
        viewcache_t *c = base_xcalloc(1, sizeof(*c));
        c->buckets = base_xcalloc(nb, sizeof(*c->buckets));
        c->mask = nb - 1;
        c->tbuckets = base_xcalloc(nb * 2, sizeof(*c->tbuckets));
        c->tmask = nb * 2 - 1;
        c->limit = limit;
        srv->loops[i].cache = c;
        srv->loops[i].sealer = storage_sealer_new(srv->mark_st); /* the key is the database's: any connection's */
    }
    srv->journal = storage_journal_new(); /* the writer records in it */
    return 0;
}

void
cache_totals(const server_t *srv, metrics_sample_t *out)
{
    out->cache_limit_bytes = srv->mark_st != NULL ? (int64_t)srv->cfg.cache_mb * 1024 * 1024 : 0;
    for (int i = 0; i < srv->cfg.threads; i++) {
        viewcache_t *c = srv->loops[i].cache;
        if (c == NULL)
            continue;
        out->cache_hits += atomic_load_explicit(&c->hits, memory_order_relaxed);
        out->cache_misses += atomic_load_explicit(&c->misses, memory_order_relaxed);
        out->cache_evictions += atomic_load_explicit(&c->evictions, memory_order_relaxed);
        out->cache_bytes += atomic_load_explicit(&c->gauge_bytes, memory_order_relaxed);
        out->cache_entries += atomic_load_explicit(&c->gauge_entries, memory_order_relaxed);
    }
}

size_t
cache_key(char *buf, size_t cap, const storage_tenant_t *t, unsigned kind, unsigned id_type, const char *id, size_t id_len,
          uint32_t page_from, uint32_t page_size, const char *fields, size_t fields_len)
{
    /* each part's length first: no two requests make the same bytes */
    size_t need = 4 * 4 + 2 + 8 + t->client_len + t->account_len + t->brand_len + id_len + fields_len;
    if (need > cap)
        return 0;
    size_t n = 0;
    const char *part[4] = {t->client, t->account, t->brand, id};
    size_t len[4] = {t->client_len, t->account_len, t->brand_len, id_len};
    buf[n++] = (char)kind;
    buf[n++] = (char)id_type;
    memcpy(buf + n, &page_from, 4);
    memcpy(buf + n + 4, &page_size, 4);
    n += 8;
    for (int i = 0; i < 4; i++) {
        uint32_t l = (uint32_t)len[i];
        memcpy(buf + n, &l, 4);
        n += 4;
        memcpy(buf + n, part[i], len[i]);
        n += len[i];
    }
    memcpy(buf + n, fields, fields_len);
    return n + fields_len;
}

static void drop(viewcache_t *c, centry_t *e);

static void
publish(viewcache_t *c)
{
    atomic_store_explicit(&c->gauge_bytes, (int64_t)c->bytes, memory_order_relaxed);
}

/* Drops every entry carrying tag (a journal walk's callback). */
static void
drop_tag(void *ctx, uint64_t tag)
{
    viewcache_t *c = ctx;
    tagref_t **head = &c->tbuckets[tag & c->tmask];
    for (tagref_t *r = *head; r != NULL;) {
        if (r->tag != tag) {
            r = r->next;
            continue;
        }
        drop(c, r->e); /* unlinks its refs: start the chain again */
        r = *head;
    }
}

/* Reads the change mark and brings the entries up to it: those the
 * commits since touched are dropped, or all of them when a commit is not
 * journaled. */
static void
refresh(viewcache_t *c, server_t *srv)
{
    storage_mark_t m;
    if (storage_change_mark(srv->mark_st, &m) != 0) {
        c->ok = 0; /* being written, or none: no hit now */
        return;
    }
    if (c->mark_ok && memcmp(&m, &c->mark, sizeof(m)) == 0) {
        c->ok = 1;
        return;
    }
    int r = c->mark_ok ? storage_journal_walk(srv->journal, &c->mark, &m, drop_tag, c) : STORAGE_JOURNAL_BROKEN;
    if (r == STORAGE_JOURNAL_PENDING) { /* its tags are dropped; the rest waits for it */
        c->ok = 0;
    } else {
        if (r != STORAGE_JOURNAL_OK)
            c->epoch++;
        c->mark = m;
        c->mark_ok = c->ok = 1;
    }
    publish(c);
}

static void
unlink_lru(viewcache_t *c, centry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
push_front(viewcache_t *c, centry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head != NULL)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static void
drop(viewcache_t *c, centry_t *e)
{
    centry_t **pp = &c->buckets[e->hash & c->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    for (size_t i = 0; i < e->n_tags; i++) {
        tagref_t *r = &e->tags[i];
        *r->pprev = r->next;
        if (r->next != NULL)
            r->next->pprev = r->pprev;
    }
    unlink_lru(c, e);
    c->bytes -= e->bytes;
    atomic_fetch_sub_explicit(&c->gauge_entries, 1, memory_order_relaxed);
    free(e->gz);
    free(e);
}

static centry_t *
find(viewcache_t *c, uint64_t h, const char *key, size_t key_len)
{
    for (centry_t *e = c->buckets[h & c->mask]; e != NULL; e = e->hnext)
        if (e->hash == h && e->key_len == key_len && memcmp(e->data, key, key_len) == 0)
            return e;
    return NULL;
}

static int
current(const viewcache_t *c, server_t *srv, const centry_t *e)
{
    if (e->epoch != c->epoch || !c->ok)
        return 0;
    if (e->defs_gen != atomic_load_explicit(&srv->defs_gen, memory_order_acquire))
        return 0;
    if (e->from_ms == INT64_MIN && e->until_ms == INT64_MAX)
        return 1;
    int64_t now = server_now_ms(srv);
    return now >= e->from_ms && now < e->until_ms;
}

/* key's current entry after the mark was read, moved up in recency; an
 * old one is dropped. NULL: none. */
static centry_t *
lookup(viewcache_t *c, server_t *srv, const char *key, size_t key_len)
{
    if (!c->ok) /* no mark readable, or a commit being confirmed: keep them */
        return NULL;
    uint64_t h = base_fnv1a(1469598103934665603ULL, key, key_len);
    centry_t *e = find(c, h, key, key_len);
    if (e != NULL && !current(c, srv, e)) {
        drop(c, e);
        publish(c);
        e = NULL;
    }
    if (e != NULL) {
        unlink_lru(c, e);
        push_front(c, e);
    }
    return e;
}

/* key's current entry on req's loop, the change mark read first; NULL:
 * none, or no cache or key (*cp NULL, or key_len 0: nothing to count). */
static centry_t *
entry_for(h2o_req_t *req, const char *key, size_t key_len, viewcache_t **cp)
{
    loop_t *loop = loop_of(req);
    viewcache_t *c = *cp = key_len > 0 ? loop->cache : NULL;
    if (c == NULL)
        return NULL;
    refresh(c, loop->srv);
    return lookup(c, loop->srv, key, key_len);
}

/* A lookup answered from c (hit) or not. */
static void
counted(viewcache_t *c, bool hit)
{
    if (c != NULL)
        atomic_fetch_add_explicit(hit ? &c->hits : &c->misses, 1, memory_order_relaxed);
}

int
cache_answer(h2o_req_t *req, reqctx_t *rc, const char *key, size_t key_len)
{
    viewcache_t *c;
    centry_t *e = entry_for(req, key, key_len, &c);
    counted(c, e != NULL);
    if (e == NULL)
        return 0;
    /* the same answer a job's completion sends (respond_json_tagged); a
     * client taking gzip gets the entry's gzip, compressed at the first
     * such hit and kept with the entry (its bytes count toward the limit) */
    const char *plain = e->data + e->key_len;
    if (e->gz == NULL) {
        size_t zlen = 0;
        char *z = respond_gzip(req, plain, e->body_len, &zlen);
        if (z != NULL && zlen <= c->limit / 4) {
            e->gz = z;
            e->gz_len = zlen;
            e->bytes += zlen;
            c->bytes += zlen;
            while (c->bytes > c->limit && c->tail != NULL && c->tail != e) {
                drop(c, c->tail);
                atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
            }
            publish(c);
        } else {
            free(z);
        }
    }
    char *body = base_xmalloc(e->body_len + 1);
    memcpy(body, plain, e->body_len);
    body[e->body_len] = '\0';
    respond_tagged(req, rc, "application/json; charset=utf-8", body, e->body_len, e->gz, e->gz_len, e->etag);
    return 1;
}

int
cache_answer_rendered(h2o_req_t *req, reqctx_t *rc, const char *key, size_t key_len, cache_render_fn render, void *ctx)
{
    viewcache_t *c;
    centry_t *e = entry_for(req, key, key_len, &c);
    char *body = NULL;
    size_t len = 0;
    bool hit = e != NULL && render(ctx, e->data + e->key_len, e->body_len, &body, &len) == 0;
    counted(c, hit);
    if (!hit)
        return 0;
    respond_json(req, rc, 200, body, len);
    return 1;
}

int
cache_snapshot(loop_t *loop)
{
    if (loop->cache == NULL)
        return 0;
    refresh(loop->cache, loop->srv);
    return 1; /* no mark: every peek misses, and counts as the single route's */
}

int
cache_peek(loop_t *loop, const char *key, size_t key_len, h2o_iovec_t *body)
{
    viewcache_t *c = loop->cache;
    centry_t *e = c != NULL && key_len > 0 ? lookup(c, loop->srv, key, key_len) : NULL;
    if (e == NULL)
        return 0;
    *body = h2o_iovec_init(e->data + e->key_len, e->body_len);
    return 1;
}

void
cache_count(loop_t *loop, uint64_t hits, uint64_t misses)
{
    viewcache_t *c = loop->cache;
    if (c == NULL)
        return;
    atomic_fetch_add_explicit(&c->hits, hits, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->misses, misses, memory_order_relaxed);
}

void
cache_stamp_begin(server_t *srv, storage_t *st, uint64_t defs_gen, cache_stamp_t *s)
{
    (void)srv;
    s->mark_ok = storage_change_mark(st, &s->mark) == 0;
    s->tags = NULL;
    s->n_tags = 0;
    s->defs_gen = defs_gen;
    s->from_ms = INT64_MIN;
    s->until_ms = INT64_MAX;
}

/* A fill's check: whether a commit since the worker's read touched one of
 * the view's tags. */
typedef struct {
    const uint64_t *tags;
    size_t n;
    int touched;
} fillcheck_t;

static void
touches(void *ctx, uint64_t tag)
{
    fillcheck_t *fc = ctx;
    for (size_t i = 0; i < fc->n && !fc->touched; i++)
        fc->touched = fc->tags[i] == tag;
}

void
cache_fill(loop_t *loop, const char *key, size_t key_len, const cache_stamp_t *s, const char *body, size_t body_len,
           const char *etag)
{
    viewcache_t *c = loop->cache;
    if (c == NULL || key_len == 0 || !s->mark_ok || s->n_tags == 0)
        return;
    refresh(c, loop->srv);
    if (!c->ok || s->defs_gen != atomic_load_explicit(&loop->srv->defs_gen, memory_order_acquire) || s->from_ms >= s->until_ms)
        return;
    /* built from the state the loop sees now: no commit since its read, or
     * none that touched what it read (the definitions in force) */
    fillcheck_t fc = {s->tags, s->n_tags, 0};
    if (storage_journal_walk(loop->srv->journal, &s->mark, &c->mark, touches, &fc) != STORAGE_JOURNAL_OK || fc.touched)
        return;
    size_t bytes = sizeof(centry_t) + key_len + body_len + s->n_tags * sizeof(tagref_t) + ENTRY_OVERHEAD;
    if (bytes > c->limit / 4)
        return;
    uint64_t h = base_fnv1a(1469598103934665603ULL, key, key_len);
    centry_t *old = find(c, h, key, key_len);
    if (old != NULL)
        drop(c, old);
    while (c->bytes + bytes > c->limit && c->tail != NULL) {
        drop(c, c->tail);
        atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
    }
    /* the tags after the data, aligned */
    size_t tags_at = offsetof(centry_t, data) + key_len + body_len;
    tags_at = (tags_at + _Alignof(tagref_t) - 1) / _Alignof(tagref_t) * _Alignof(tagref_t);
    centry_t *e = base_xmalloc(tags_at + s->n_tags * sizeof(tagref_t));
    e->hash = h;
    e->epoch = c->epoch;
    e->defs_gen = s->defs_gen;
    e->from_ms = s->from_ms;
    e->until_ms = s->until_ms;
    e->key_len = key_len;
    e->body_len = body_len;
    e->bytes = bytes;
    e->gz = NULL;
    e->gz_len = 0;
    snprintf(e->etag, sizeof(e->etag), "%s", etag);
    memcpy(e->data, key, key_len);
    memcpy(e->data + key_len, body, body_len);
    e->tags = (tagref_t *)(void *)((char *)e + tags_at);
    e->n_tags = s->n_tags;
    for (size_t i = 0; i < s->n_tags; i++) {
        tagref_t *r = &e->tags[i], **head = &c->tbuckets[s->tags[i] & c->tmask];
        r->tag = s->tags[i];
        r->e = e;
        r->next = *head;
        r->pprev = head;
        if (*head != NULL)
            (*head)->pprev = &r->next;
        *head = r;
    }
    e->hnext = c->buckets[h & c->mask];
    c->buckets[h & c->mask] = e;
    push_front(c, e);
    c->bytes += bytes;
    atomic_fetch_add_explicit(&c->gauge_entries, 1, memory_order_relaxed);
    publish(c);
}
