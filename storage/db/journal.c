/* journal.c -- the commit journal (storage.h): what each commit of one
 * connection changed, named by tags (a profile pk, an identity key), in a
 * ring of the last STORAGE_JOURNAL_SLOTS commits keyed by SQLite's commit
 * counter (the iChange word of the WAL-index header, which every commit
 * raises by one under the write lock, and a WAL restart leaves alone),
 * each with the header just before it (read in the commit hook, write
 * lock held) and just after (read in the WAL hook). Readers follow the
 * chain before -> after between two marks they saw; a gap anywhere is
 * BROKEN. One mutex, taken by the writer twice a commit and by a reader
 * only when the mark it sees moved. Also the tags of the last view built
 * on a connection (views.c notes them). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

/* A view naming more profiles than this is not tagged (not cached). */
#define VIEW_TAGS_MAX 128
/* A transaction changing rows of more tags than this touches everything. */
#define TXN_TAGS_MAX 65536

enum { SLOT_EMPTY = 0, SLOT_PENDING, SLOT_DONE, SLOT_VOID };

typedef struct {
    uint32_t n; /* the commit counter after it */
    int state;
    bool after_known;
    storage_mark_t before, after;
    uint64_t *tags;
    size_t ntags;
} jslot_t;

struct storage_journal {
    pthread_mutex_t mu;
    jslot_t slots[STORAGE_JOURNAL_SLOTS];
};

/* The WAL-index header's words (SQLite's WalIndexHdr, native order but
 * the salts, which are big-endian bytes). */
#define W_CHANGE 2
#define W_MXFRAME 4
#define W_NPAGE 5
#define W_SALT0 8

static uint32_t
salt0(const storage_mark_t *m)
{
    const unsigned char *b = (const unsigned char *)&m->w[W_SALT0];
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* r is x after a WAL restart (walRestartHdr: no commit, frames from 0,
 * salt-1 plus one; the commit counter and the page count stay). */
static bool
restart_of(const storage_mark_t *x, const storage_mark_t *r)
{
    return r->w[W_CHANGE] == x->w[W_CHANGE] && r->w[W_MXFRAME] == 0 && x->w[W_MXFRAME] != 0 && r->w[W_NPAGE] == x->w[W_NPAGE] &&
           salt0(r) == salt0(x) + 1;
}

bool
storage_mark_same_state(const storage_mark_t *a, const storage_mark_t *b)
{
    return memcmp(a, b, sizeof(*a)) == 0 || restart_of(a, b) || restart_of(b, a);
}

storage_journal_t *
storage_journal_new(void)
{
    storage_journal_t *j = base_xcalloc(1, sizeof(*j));
    pthread_mutex_init(&j->mu, NULL);
    return j;
}

void
storage_journal_free(storage_journal_t *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < STORAGE_JOURNAL_SLOTS; i++)
        free(j->slots[i].tags);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

int
storage_journal_attach(storage_t *st, storage_journal_t *j)
{
    storage_mark_t m;
    if ((!st->pg && !(st->flags & STORAGE_NO_AUTOCHECKPOINT)) || storage_change_mark(st, &m) != 0)
        return stg_fail(st, STORAGE_EINVAL, "a journal needs a WAL index and no autocheckpoint");
    if (stg_journal_hooks(st) != 0)
        return STORAGE_EINVAL;
    st->journal = j;
    if (st->pg) /* the other replicas' commits, from their notifications */
        stg_pg_watch_journal(j);
    return 0;
}

uint64_t
stg_tag_profile(int64_t pk)
{
    return base_fnv1a(0x70726f66696c65ULL, &pk, sizeof(pk));
}

uint64_t
stg_tag_identity(int64_t tenant_id, int id_type, const char *v, size_t n)
{
    int32_t t = id_type;
    uint64_t h = base_fnv1a(0x6964656e74ULL, &tenant_id, sizeof(tenant_id));
    h = base_fnv1a(h, &t, sizeof(t));
    return base_fnv1a(h, v, n);
}

void
stg_journal_tag(storage_t *st, uint64_t tag)
{
    if (st->jr_all)
        return;
    if (st->jr_n == st->jr_cap) {
        if (st->jr_cap >= TXN_TAGS_MAX) {
            stg_journal_everything(st);
            return;
        }
        st->jr_cap = st->jr_cap ? st->jr_cap * 2 : 64;
        st->jr_tags = base_xrealloc(st->jr_tags, st->jr_cap * sizeof(*st->jr_tags));
    }
    /* a run of one profile's rows (its events, its traits) is common */
    if (st->jr_n > 0 && st->jr_tags[st->jr_n - 1] == tag)
        return;
    st->jr_tags[st->jr_n++] = tag;
}

void
stg_journal_everything(storage_t *st)
{
    st->jr_all = true;
    free(st->jr_tags);
    st->jr_tags = NULL;
    st->jr_n = st->jr_cap = 0;
}

static int
cmp_tag(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void
stg_journal_commit_begins(storage_t *st, const storage_mark_t *before)
{
    storage_journal_t *j = st->journal;
    st->jr_pending = false;
    if (j == NULL)
        return;
    if (before == NULL) { /* not journaled: the commit it makes is a gap */
        stg_journal_rolled_back(st);
        return;
    }
    size_t n = 0;
    if (!st->jr_all && st->jr_n > 0) {
        qsort(st->jr_tags, st->jr_n, sizeof(*st->jr_tags), cmp_tag);
        for (size_t i = 0; i < st->jr_n; i++)
            if (n == 0 || st->jr_tags[i] != st->jr_tags[n - 1])
                st->jr_tags[n++] = st->jr_tags[i];
    }
    uint32_t commit = before->w[W_CHANGE] + 1;
    pthread_mutex_lock(&j->mu);
    jslot_t *s = &j->slots[commit % STORAGE_JOURNAL_SLOTS];
    free(s->tags);
    s->n = commit;
    s->state = st->jr_all ? SLOT_VOID : SLOT_PENDING;
    s->before = *before;
    s->after_known = false;
    s->tags = st->jr_all ? NULL : st->jr_tags;
    s->ntags = st->jr_all ? 0 : n;
    pthread_mutex_unlock(&j->mu);
    if (st->jr_all)
        free(st->jr_tags);
    st->jr_tags = NULL;
    st->jr_n = st->jr_cap = 0;
    st->jr_all = false;
    st->jr_pending = true;
    st->jr_commit = commit;
}

static void
finish(storage_t *st, int state, const storage_mark_t *after)
{
    storage_journal_t *j = st->journal;
    st->jr_pending = false;
    pthread_mutex_lock(&j->mu);
    jslot_t *s = &j->slots[st->jr_commit % STORAGE_JOURNAL_SLOTS];
    if (s->n == st->jr_commit && s->state == SLOT_PENDING) {
        s->state = state;
        /* the header right after: ours while no one else has committed */
        if (after != NULL && after->w[W_CHANGE] == st->jr_commit) {
            s->after = *after;
            s->after_known = true;
        }
    }
    pthread_mutex_unlock(&j->mu);
}

void
stg_journal_committed(storage_t *st, const storage_mark_t *after)
{
    if (st->journal != NULL && st->jr_pending)
        finish(st, SLOT_DONE, after);
}

void
stg_journal_settle(storage_t *st)
{
    /* the commit hook ran but no commit was written (nothing changed, or
     * the commit failed): the number announced is someone else's */
    if (st->journal != NULL && st->jr_pending)
        finish(st, SLOT_VOID, NULL);
}

void
stg_journal_rolled_back(storage_t *st)
{
    free(st->jr_tags);
    st->jr_tags = NULL;
    st->jr_n = st->jr_cap = 0;
    st->jr_all = false;
}

void
stg_mark_of_generation(storage_mark_t *m, int64_t gen)
{
    memset(m, 0, sizeof(*m));
    m->w[W_CHANGE] = (uint32_t)gen;
}

void
stg_journal_record(storage_journal_t *j, int64_t gen, const uint64_t *tags, size_t n, bool all)
{
    uint32_t commit = (uint32_t)gen;
    pthread_mutex_lock(&j->mu);
    jslot_t *s = &j->slots[commit % STORAGE_JOURNAL_SLOTS];
    if (s->n != commit || s->state == SLOT_EMPTY) { /* not the writer's own */
        free(s->tags);
        s->n = commit;
        s->state = all ? SLOT_VOID : SLOT_DONE;
        stg_mark_of_generation(&s->before, gen - 1);
        stg_mark_of_generation(&s->after, gen);
        s->after_known = true;
        s->ntags = all ? 0 : n;
        s->tags = NULL;
        if (s->ntags > 0) {
            s->tags = base_xmalloc(n * sizeof(*tags));
            memcpy(s->tags, tags, n * sizeof(*tags));
        }
    }
    pthread_mutex_unlock(&j->mu);
}

int
storage_journal_walk(storage_journal_t *j, const storage_mark_t *from, const storage_mark_t *to, storage_tag_fn fn, void *ctx)
{
    if (storage_mark_same_state(from, to))
        return STORAGE_JOURNAL_OK;
    uint32_t n0 = from->w[W_CHANGE], d = to->w[W_CHANGE] - n0;
    if (j == NULL || d == 0 || d > STORAGE_JOURNAL_SLOTS)
        return STORAGE_JOURNAL_BROKEN;
    int ret = STORAGE_JOURNAL_OK;
    const storage_mark_t *prev = from;
    bool prev_known = true;
    pthread_mutex_lock(&j->mu);
    for (uint32_t i = 1; i <= d; i++) {
        const jslot_t *s = &j->slots[(n0 + i) % STORAGE_JOURNAL_SLOTS];
        if (s->n != n0 + i || (s->state != SLOT_PENDING && s->state != SLOT_DONE) || !prev_known ||
            !storage_mark_same_state(prev, &s->before)) {
            ret = STORAGE_JOURNAL_BROKEN;
            break;
        }
        for (size_t k = 0; k < s->ntags; k++)
            fn(ctx, s->tags[k]);
        if (s->state == SLOT_PENDING) { /* the writer's, being confirmed; past it: someone else's */
            ret = i == d ? STORAGE_JOURNAL_PENDING : STORAGE_JOURNAL_BROKEN;
            break;
        }
        prev = &s->after;
        prev_known = s->after_known;
    }
    if (ret == STORAGE_JOURNAL_OK && (!prev_known || !storage_mark_same_state(prev, to)))
        ret = STORAGE_JOURNAL_BROKEN;
    pthread_mutex_unlock(&j->mu);
    return ret;
}

static void
view_tag(storage_t *st, uint64_t tag)
{
    if (st->view_tags_over)
        return;
    if (st->view_ntags == VIEW_TAGS_MAX) {
        st->view_tags_over = true;
        return;
    }
    if (st->view_ntags == st->view_tags_cap) {
        st->view_tags_cap = st->view_tags_cap ? st->view_tags_cap * 2 : 8;
        st->view_tags = base_xrealloc(st->view_tags, st->view_tags_cap * sizeof(*st->view_tags));
    }
    st->view_tags[st->view_ntags++] = tag;
}

void
stg_view_tags_begin(storage_t *st, int64_t tenant_id, storage_id_type_t type, const char *id, size_t id_len)
{
    st->view_ntags = 0;
    st->view_tags_over = false;
    if (type == STORAGE_ID_EMAIL) { /* stored lower-cased */
        char *lower = base_xstrndup_lower(id, id_len);
        view_tag(st, stg_tag_identity(tenant_id, type, lower, id_len));
        free(lower);
    } else {
        view_tag(st, stg_tag_identity(tenant_id, type, id, id_len));
    }
}

void
stg_view_tags_pk(storage_t *st, int64_t pk)
{
    view_tag(st, stg_tag_profile(pk));
}

void
storage_view_tags(const storage_t *st, uint64_t **tags, size_t *n)
{
    *tags = NULL;
    *n = 0;
    if (st->view_tags_over || st->view_ntags == 0)
        return;
    *tags = base_xmalloc(st->view_ntags * sizeof(**tags));
    memcpy(*tags, st->view_tags, st->view_ntags * sizeof(**tags));
    *n = st->view_ntags;
}
