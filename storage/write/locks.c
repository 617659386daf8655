/* locks.c -- the locks an ingest group takes before its first statement
 * on PostgreSQL, so that replicas' writers run at once
 * (storage_begin_batches): the writer's group is stored under the shared
 * form of the write lock, every other write transaction (merges,
 * erasure, imports, recompute, the CLI) under its exclusive form. A group
 * first locks, in one sorted order, an advisory lock for each id its
 * messages name (userId, previousId as either type, anonymousId, email)
 * and each event's messageId, then the rows of every profile those ids
 * lead to, sorted by pk. Two groups naming one id, or one messageId,
 * therefore run one after the other, each seeing the other's commit;
 * two groups reaching one profile by different ids wait on its row; a
 * group can reach no profile it has not locked (a new id is linked only
 * under its own lock, and a merge, which moves ids between profiles, is
 * refused in the shared form: the writer stores that group again under
 * the exclusive lock). Every lock is taken up front in one order, so
 * groups never deadlock on them. SQLite: storage_begin. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "../write/write.h"

/* The email the message tells about, lower-cased: identify's traits.email,
 * else context.traits.email. */
size_t
stg_message_email(const message_t *m, char out[STG_MAX_EMAIL_BYTES + 1])
{
    span_t sources[2] = {m->type == MSG_IDENTIFY ? m->traits : (span_t){NULL, 0}, m->context_traits};
    for (int i = 0; i < 2; i++) {
        jiter_t it;
        span_t key, value;
        if (sources[i].p == NULL)
            continue;
        base_json_members(&it, sources[i]);
        while (base_json_next(&it, &key, &value)) {
            /* Escapes may double the raw length of an address that fits. */
            if (!base_json_key_is(key, "email", 5) || value.p[0] != '"' || value.n - 2 > 2 * STG_MAX_EMAIL_BYTES)
                continue;
            char decoded[2 * STG_MAX_EMAIL_BYTES];
            size_t n = base_json_unescape((span_t){value.p + 1, value.n - 2}, decoded);
            if (n == 0 || n > STG_MAX_EMAIL_BYTES || memchr(decoded, '\0', n) != NULL)
                continue;
            for (size_t k = 0; k < n; k++)
                out[k] = (char)tolower((unsigned char)decoded[k]);
            out[n] = '\0';
            return n;
        }
    }
    return 0;
}

/* More ids than this in one group: it takes the exclusive lock instead
 * (PostgreSQL's lock table is shared by every connection: see the
 * README's Scaling out). */
#define LOCKS_MAX 2048
/* the lock of an event's messageId, beside the id types */
#define KEY_MESSAGE 9

typedef struct {
    int64_t *keys;
    size_t n, cap;
    jsonbuf_t types, values; /* the ids of one tenant, as array literals (empty: none) */
    bool ids;                /* this pass gathers the ids (else the keys) */
} lockset_t;

static void
add_key(lockset_t *ls, int64_t tid, int type, const char *v, size_t n)
{
    if (ls->ids)
        return;
    uint64_t h = base_fnv1a(1469598103934665603ull, &tid, sizeof(tid));
    unsigned char t = (unsigned char)type;
    h = base_fnv1a(base_fnv1a(h, &t, 1), v, n);
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? 2 * ls->cap : 256;
        if ((ls->keys = realloc(ls->keys, ls->cap * sizeof(*ls->keys))) == NULL)
            abort();
    }
    ls->keys[ls->n++] = (int64_t)(h >> 2); /* two non-negative int4 halves: see S_LOCK_KEYS */
}

/* An id: its lock, or its place in the profile query's arrays. */
static void
add_id(lockset_t *ls, int64_t tid, int type, span_t v)
{
    if (v.p == NULL || memchr(v.p, '\0', v.n) != NULL) /* refused by ingest before anything is written */
        return;
    if (!ls->ids) {
        add_key(ls, tid, type, v.p, v.n);
        return;
    }
    stg_pg_ids_add(&ls->types, &ls->values, type, v.p, v.n);
}

static void
add_batch(lockset_t *ls, int64_t tid, const segment_batch_t *b)
{
    char email[STG_MAX_EMAIL_BYTES + 1];
    for (size_t i = 0; i < segment_batch_count(b); i++) {
        span_t text;
        const message_t *m = segment_batch_message(b, i, &text);
        add_id(ls, tid, STORAGE_ID_USER, m->user_id);
        add_id(ls, tid, STORAGE_ID_USER, m->previous_id);
        add_id(ls, tid, STORAGE_ID_ANONYMOUS, m->previous_id);
        add_id(ls, tid, STORAGE_ID_ANONYMOUS, m->anon_id);
        size_t n = stg_message_email(m, email);
        if (n > 0)
            add_id(ls, tid, STORAGE_ID_EMAIL, (span_t){email, n});
        bool is_event = m->type == MSG_TRACK || m->type == MSG_PAGE || m->type == MSG_SCREEN;
        if (is_event && m->message_id.p != NULL)
            add_key(ls, tid, KEY_MESSAGE, m->message_id.p, m->message_id.n);
    }
}

static int
cmp_key(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The rows of the profiles the tenant's ids lead to, in pk order; each id
 * found goes into the identity cache (the group's messages then resolve
 * their profiles with no round trip: its ids are locked, so no other
 * writer links or moves them before the commit). */
static int
lock_profiles(storage_t *st, int64_t tid, lockset_t *ls)
{
    if (ls->types.len == 0)
        return 0;
    int ret = stg_pg_ids_to_cache(st, S_LOCK_PROFILES, tid, &ls->types, &ls->values);
    ls->types.len = ls->values.len = 0;
    return ret;
}

static int
lock_keys(storage_t *st, lockset_t *ls)
{
    qsort(ls->keys, ls->n, sizeof(*ls->keys), cmp_key);
    jsonbuf_t b;
    base_jb_init(&b, 24 * ls->n + 2);
    base_jb_append(&b, "{", 1);
    for (size_t i = 0; i < ls->n; i++) {
        if (i > 0 && ls->keys[i] == ls->keys[i - 1])
            continue;
        stg_pg_array_int(&b, ls->keys[i]);
    }
    base_jb_append(&b, "}", 1);
    stg_stmt_t *s = stg_stmt(st, S_LOCK_KEYS);
    int ret = STORAGE_EIO;
    if (s != NULL) {
        stg_bind_text(s, 1, b.data, b.len);
        ret = stg_step_done(st, s);
    }
    base_jb_free(&b);
    return ret;
}

int
storage_begin_batches(storage_t *st, const storage_tenant_t *const *tenants, const segment_batch_t *const *batches, size_t n)
{
    if (!st->pg || stg_in_txn(st))
        return storage_begin(st);
    lockset_t ls = {0};
    int64_t *tids = base_xcalloc(n ? n : 1, sizeof(*tids));
    int ret = 0;
    size_t messages = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        /* a new tenant is created under the exclusive lock */
        if ((ret = stg_tenant_id(st, tenants[i], false, &tids[i])) == 0)
            messages += segment_batch_count(batches[i]);
    }
    bool shared = ret == 0 && messages <= STORAGE_SHARED_MESSAGES;
    if (!shared) {
        free(tids);
        return ret == STORAGE_ENOTFOUND || ret == 0 ? storage_begin(st) : ret;
    }
    base_jb_init(&ls.types, 256);
    base_jb_init(&ls.values, 1024);
    size_t *order = base_xcalloc(n ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        add_batch(&ls, tids[i], batches[i]);
        size_t j = i; /* tenants in id order: one order of rows for every group */
        for (; j > 0 && tids[order[j - 1]] > tids[i]; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    if (ls.n > LOCKS_MAX) {
        shared = false;
    } else {
        st->pg_shared = true;
        if ((ret = storage_begin(st)) != 0)
            st->pg_shared = false;
        if (ret == 0)
            ret = lock_keys(st, &ls);
        /* then the ids, tenant by tenant (a group is mostly one) */
        ls.ids = true;
        for (size_t k = 0; k < n && ret == 0; k++) {
            add_batch(&ls, tids[order[k]], batches[order[k]]);
            if (k + 1 == n || tids[order[k + 1]] != tids[order[k]])
                ret = lock_profiles(st, tids[order[k]], &ls);
        }
        if (ret != 0)
            storage_rollback(st);
    }
    free(ls.keys);
    free(order);
    free(tids);
    base_jb_free(&ls.types);
    base_jb_free(&ls.values);
    return shared ? ret : storage_begin(st);
}

bool
storage_is_postgres(const storage_t *st)
{
    return st->pg;
}

bool
storage_shared(const storage_t *st)
{
    return st->pg_shared;
}
