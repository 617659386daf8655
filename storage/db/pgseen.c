/* pgseen.c -- PostgreSQL: what a run of messages (a request's batch, a
 * slice of an import) needs answered before its events are stored, asked
 * once for the whole run instead of once an event: which of its events'
 * messageIds are stored already (S_EVENTS_SEEN), and a pk for each of its
 * events (S_EVENT_PKS), so that the event needs no answer: its row joins
 * the transaction's pending rows (pgrows.c), all of them one INSERT. Two
 * round trips and one INSERT a run where each event took two round trips
 * and an INSERT.
 *
 * And the run's ids (userIds, anonymousIds, emails the identity cache
 * lacks) with their suppressions, in one statement (S_IDS_LOOKUP): when
 * the run holds the exclusive write lock (an import, a group stored
 * again), nobody else links an id meanwhile, so an id the answer lacks
 * is new (stg_seen_id) until the run links it (stg_seen_id_linked) and
 * the id, email and suppression questions of a new profile need no round
 * trip (each was one, and the email's also sent the pending rows: 12.6
 * statements a new profile in an import, then about 5).
 *
 * The answer holds for the open transaction only: a run's caller gathers
 * (stg_seen_want), asks (stg_seen_fetch), stores its messages and drops
 * it (stg_seen_drop; every commit, rollback and begin drops it too). An
 * id the run did not gather is not answered (-1): the caller asks the
 * database as before. SQLite answers each event in the process: nothing
 * here is used there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

typedef struct {
    int64_t key; /* stg_event_key */
    const char *id;
    size_t n;
    bool taken;  /* else an empty slot */
    bool stored; /* in the database, or stored by this run */
} seen_entry_t;

/* An id of the run (stg_seen_want_id) and what the lookup said of it. */
typedef struct {
    uint64_t h;
    size_t off, n; /* its text, in ids_text */
    int type;
    bool taken, known, present, suppressed;
} id_entry_t;

struct stg_seen {
    id_entry_t *ids;
    size_t ids_cap, ids_used;
    jsonbuf_t ids_text;
    size_t ids_new;     /* of them, userIds and anonymousIds the lookup lacks */
    size_t ids_profile; /* userIds and anonymousIds gathered (not emails) */
    int64_t *ppks;      /* pks for new profiles (stg_seen_profile_pk) */
    size_t nppks, next_ppk;
    bool ppks_fetched;
    seen_entry_t *slots;
    size_t cap, used;
    size_t events; /* pks wanted */
    int64_t *pks;
    size_t npks, next;
    bool fetched;
    /* ids to look up: array literals of their types and values (empty:
     * none) */
    jsonbuf_t id_types, id_values;
};

int64_t
stg_event_key(const char *id, size_t n)
{
    /* FNV-1a, folded: only the spread matters, collisions are checked. */
    uint64_t h = base_fnv1a(1469598103934665603ull, id, n);
    h ^= h >> 29;
    return (int64_t)(h & ((1ull << 47) - 1));
}

static seen_entry_t *
slot_of(struct stg_seen *sn, int64_t key, const char *id, size_t n)
{
    size_t i = (size_t)key & (sn->cap - 1);
    for (;; i = (i + 1) & (sn->cap - 1)) {
        seen_entry_t *e = &sn->slots[i];
        if (!e->taken || (e->key == key && e->n == n && memcmp(e->id, id, n) == 0))
            return e;
    }
}

static void
grow(struct stg_seen *sn)
{
    seen_entry_t *old = sn->slots;
    size_t old_cap = sn->cap;
    sn->cap = old_cap ? 2 * old_cap : 256;
    sn->slots = base_xcalloc(sn->cap, sizeof(*sn->slots));
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].taken)
            *slot_of(sn, old[i].key, old[i].id, old[i].n) = old[i];
    free(old);
}

static struct stg_seen *
seen_of(storage_t *st)
{
    if (st->pg_seen == NULL)
        st->pg_seen = base_xcalloc(1, sizeof(*st->pg_seen));
    return st->pg_seen;
}

void
stg_seen_want(storage_t *st, const char *id, size_t n)
{
    if (!st->pg)
        return;
    struct stg_seen *sn = seen_of(st);
    if (sn->fetched) /* a run is gathered, then asked */
        return;
    sn->events++;
    if (id == NULL)
        return;
    if (2 * (sn->used + 1) > sn->cap)
        grow(sn);
    int64_t key = stg_event_key(id, n);
    seen_entry_t *e = slot_of(sn, key, id, n);
    if (!e->taken) {
        *e = (seen_entry_t){key, id, n, true, false};
        sn->used++;
    }
}

static id_entry_t *
id_slot(struct stg_seen *sn, uint64_t h, int type, const char *v, size_t n)
{
    for (size_t i = (size_t)h & (sn->ids_cap - 1);; i = (i + 1) & (sn->ids_cap - 1)) {
        id_entry_t *e = &sn->ids[i];
        if (!e->taken || (e->h == h && e->type == type && e->n == n && memcmp(sn->ids_text.data + e->off, v, n) == 0))
            return e;
    }
}

static uint64_t
id_hash(int type, const char *v, size_t n)
{
    return base_fnv1a(1469598103934665603ull ^ (uint64_t)type, v, n);
}

/* The run's entry of an id; NULL: not gathered. */
static id_entry_t *
id_find(struct stg_seen *sn, int type, const char *v, size_t n)
{
    if (sn == NULL || sn->ids_used == 0)
        return NULL;
    id_entry_t *e = id_slot(sn, id_hash(type, v, n), type, v, n);
    return e->taken ? e : NULL;
}

void
stg_seen_want_id(storage_t *st, int type, const char *v, size_t n)
{
    struct stg_seen *sn = seen_of(st);
    if (sn->fetched || memchr(v, '\0', n) != NULL) /* refused by ingest before anything is written */
        return;
    if (sn->id_types.data == NULL) {
        base_jb_init(&sn->id_types, 256);
        base_jb_init(&sn->id_values, 1024);
        base_jb_init(&sn->ids_text, 1024);
    }
    if (2 * (sn->ids_used + 1) > sn->ids_cap) {
        id_entry_t *old = sn->ids;
        size_t old_cap = sn->ids_cap;
        sn->ids_cap = old_cap ? 2 * old_cap : 64;
        sn->ids = base_xcalloc(sn->ids_cap, sizeof(*sn->ids));
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].taken)
                *id_slot(sn, old[i].h, old[i].type, sn->ids_text.data + old[i].off, old[i].n) = old[i];
        free(old);
    }
    uint64_t h = id_hash(type, v, n);
    id_entry_t *e = id_slot(sn, h, type, v, n);
    if (e->taken) /* asked once */
        return;
    *e = (id_entry_t){.h = h, .off = sn->ids_text.len, .n = n, .type = type, .taken = true};
    base_jb_append(&sn->ids_text, v, n);
    sn->ids_used++;
    if (type != STORAGE_ID_EMAIL)
        sn->ids_profile++;
    stg_pg_ids_add(&sn->id_types, &sn->id_values, type, v, n);
}

int
stg_seen_id(storage_t *st, int type, const char *v, size_t n)
{
    const id_entry_t *e = st->pg ? id_find(st->pg_seen, type, v, n) : NULL;
    if (e == NULL || !e->known || !st->pg_seen->fetched)
        return 0;
    return STG_SEEN_KNOWN | (e->present ? STG_SEEN_PRESENT : 0) | (e->suppressed ? STG_SEEN_SUPPRESSED : 0);
}

bool
stg_seen_absent(storage_t *st, int type, const char *v, size_t n)
{
    int seen = stg_seen_id(st, type, v, n);
    return (seen & STG_SEEN_KNOWN) && !(seen & STG_SEEN_PRESENT);
}

void
stg_seen_id_linked(storage_t *st, int type, const char *v, size_t n)
{
    id_entry_t *e = st->pg ? id_find(st->pg_seen, type, v, n) : NULL;
    if (e != NULL)
        e->present = true;
}

/* The run's ids looked up (S_IDS_LOOKUP): the profiles of the stored ones
 * into the identity cache (an email's may be several: none cached), their
 * suppressions (profile -1); then each id asked is known. */
static int
fetch_ids(storage_t *st, struct stg_seen *sn, int64_t tid)
{
    base_jb_append(&sn->id_types, "}", 1);
    base_jb_append(&sn->id_values, "}", 1);
    stg_stmt_t *s = stg_stmt(st, S_IDS_LOOKUP);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_text(s, 2, sn->id_types.data, sn->id_types.len);
    stg_bind_text(s, 3, sn->id_values.data, sn->id_values.len);
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        int type = stg_col_int(s, 0);
        const char *v = stg_col_text(s, 1);
        size_t n = (size_t)stg_col_bytes(s, 1);
        int64_t pk = stg_col_int64(s, 2);
        id_entry_t *e = v != NULL ? id_find(sn, type, v, n) : NULL;
        if (e != NULL && pk < 0)
            e->suppressed = true;
        else if (e != NULL)
            e->present = true;
        if (pk > 0 && type != STORAGE_ID_EMAIL && v != NULL)
            stg_idcache_put(&st->ids, tid, type, v, n, pk);
    }
    stg_reset(s);
    if (rc != STG_DONE)
        return rc;
    sn->ids_new = 0;
    for (size_t i = 0; i < sn->ids_cap; i++) {
        id_entry_t *e = &sn->ids[i];
        e->known = e->taken;
        if (e->taken && !e->present && e->type != STORAGE_ID_EMAIL)
            sn->ids_new++;
    }
    return 0;
}

void
stg_pg_ids_add(jsonbuf_t *types, jsonbuf_t *values, int type, const char *v, size_t n)
{
    if (types->len == 0) {
        base_jb_append(types, "{", 1);
        base_jb_append(values, "{", 1);
    }
    stg_pg_array_int(types, type);
    stg_pg_array_text(values, v, n);
}

int
stg_pg_ids_to_cache(storage_t *st, enum stmt_id id, int64_t tid, jsonbuf_t *types, jsonbuf_t *values)
{
    base_jb_append(types, "}", 1);
    base_jb_append(values, "}", 1);
    stg_stmt_t *s = stg_stmt(st, id);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_text(s, 2, types->data, types->len);
    stg_bind_text(s, 3, values->data, values->len);
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW)
        stg_idcache_put(&st->ids, tid, stg_col_int(s, 0), stg_col_text(s, 1), (size_t)stg_col_bytes(s, 1), stg_col_int64(s, 2));
    stg_reset(s);
    return rc == STG_DONE ? 0 : rc;
}

/* One array literal's element ("..." with " and \ escaped), after a comma
 * unless it is the first (b holds "{" alone). */
void
stg_pg_array_text(jsonbuf_t *b, const char *v, size_t n)
{
    base_jb_append(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1);
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\')
            base_jb_append(b, "\\", 1);
        base_jb_append(b, &v[i], 1);
    }
    base_jb_append(b, "\"", 1);
}

void
stg_pg_array_int(jsonbuf_t *b, int64_t v)
{
    char num[24];
    int len = snprintf(num, sizeof(num), "%s%lld", b->len > 1 ? "," : "", (long long)v);
    base_jb_append(b, num, (size_t)len);
}

static int
fetch_stored(storage_t *st, struct stg_seen *sn, int64_t tid)
{
    jsonbuf_t keys, ids;
    base_jb_init(&keys, 20 * sn->used + 2);
    base_jb_init(&ids, 40 * sn->used + 2);
    base_jb_append(&keys, "{", 1);
    base_jb_append(&ids, "{", 1);
    for (size_t i = 0; i < sn->cap; i++) {
        const seen_entry_t *e = &sn->slots[i];
        if (!e->taken)
            continue;
        stg_pg_array_int(&keys, e->key);
        stg_pg_array_text(&ids, e->id, e->n);
    }
    base_jb_append(&keys, "}", 1);
    base_jb_append(&ids, "}", 1);
    int ret = STORAGE_EIO, rc = STG_DONE;
    stg_stmt_t *s = stg_stmt(st, S_EVENTS_SEEN);
    if (s != NULL) {
        stg_bind_int64(s, 1, tid);
        stg_bind_text(s, 2, keys.data, keys.len);
        stg_bind_text(s, 3, ids.data, ids.len);
        while ((rc = stg_step(st, s)) == STG_ROW) {
            const char *id = stg_col_text(s, 0);
            size_t n = (size_t)stg_col_bytes(s, 0);
            seen_entry_t *e = slot_of(sn, stg_event_key(id, n), id, n);
            if (e->taken)
                e->stored = true;
        }
        ret = rc == STG_DONE ? 0 : rc;
        stg_reset(s);
    }
    base_jb_free(&keys);
    base_jb_free(&ids);
    return ret;
}

static int
cmp_pk(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* want pks from the sequence of statement id (S_EVENT_PKS, S_PROFILE_PKS)
 * into *pks, ascending: handed out in order. */
static int
fetch_pks(storage_t *st, enum stmt_id id, size_t want, int64_t **pks, size_t *n)
{
    stg_stmt_t *s = stg_stmt(st, id);
    *n = 0;
    if (s == NULL)
        return STORAGE_EIO;
    *pks = base_xrealloc(*pks, want * sizeof(**pks));
    stg_bind_int64(s, 1, (int64_t)want);
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW && *n < want)
        (*pks)[(*n)++] = stg_col_int64(s, 0);
    stg_reset(s);
    if (rc != STG_ROW && rc != STG_DONE) {
        *n = 0;
        return rc;
    }
    qsort(*pks, *n, sizeof(**pks), cmp_pk);
    return 0;
}

int64_t
stg_seen_profile_pk(storage_t *st, int *err)
{
    struct stg_seen *sn = st->pg ? st->pg_seen : NULL;
    *err = 0;
    if (sn == NULL || !sn->fetched || sn->ids_new == 0 || st->pg_shared)
        return 0;
    if (!sn->ppks_fetched) { /* at the run's first new profile: one for each new id, at most */
        sn->ppks_fetched = true;
        sn->next_ppk = 0;
        if ((*err = fetch_pks(st, S_PROFILE_PKS, sn->ids_new, &sn->ppks, &sn->nppks)) != 0)
            return 0;
    }
    return sn->next_ppk < sn->nppks ? sn->ppks[sn->next_ppk++] : 0;
}

int
stg_seen_fetch(storage_t *st, int64_t tid)
{
    if (!st->pg || !stg_in_txn(st))
        return 0;
    struct stg_seen *sn = seen_of(st);
    if (sn->fetched)
        return 0;
    int ret = sn->used > 0 ? fetch_stored(st, sn, tid) : 0;
    /* A shared group's locks answered its stored ids already
     * (write/locks.c): it gathered only ids the cache lacks, new ones
     * (userIds, anonymousIds) and emails. A new id is asked all the same,
     * with the emails: the answer makes its profile's id, email-candidate
     * and suppression questions need no round trip of their own. The group
     * holds every one of these ids' locks, and suppressions change only
     * under the exclusive lock, so the answer holds until its commit. */
    if (ret == 0 && sn->id_types.len > 0 && (!st->pg_shared || sn->ids_profile > 0))
        ret = fetch_ids(st, sn, tid);
    if (ret == 0 && sn->events > 1) { /* one event: its INSERT returns its pk at no extra cost */
        sn->next = 0;
        ret = fetch_pks(st, S_EVENT_PKS, sn->events, &sn->pks, &sn->npks);
    }
    if (ret != 0) {
        stg_seen_drop(st);
        return ret;
    }
    sn->fetched = true;
    return 0;
}

bool
stg_seen_ready(const storage_t *st)
{
    return st->pg_seen != NULL && st->pg_seen->fetched;
}

int
stg_seen_lookup(storage_t *st, const char *id, size_t n)
{
    struct stg_seen *sn = st->pg_seen;
    if (sn == NULL || !sn->fetched || sn->used == 0)
        return -1;
    const seen_entry_t *e = slot_of(sn, stg_event_key(id, n), id, n);
    return e->taken ? e->stored : -1;
}

void
stg_seen_stored(storage_t *st, const char *id, size_t n)
{
    struct stg_seen *sn = st->pg_seen;
    if (sn == NULL || !sn->fetched || sn->used == 0)
        return;
    seen_entry_t *e = slot_of(sn, stg_event_key(id, n), id, n);
    if (e->taken)
        e->stored = true;
}

int64_t
stg_seen_pk(storage_t *st)
{
    struct stg_seen *sn = st->pg_seen;
    if (sn == NULL || !sn->fetched || sn->next == sn->npks)
        return 0;
    return sn->pks[sn->next++];
}

void
stg_seen_drop(storage_t *st)
{
    struct stg_seen *sn = st->pg_seen;
    if (sn == NULL || (!sn->fetched && sn->events == 0 && sn->id_types.len == 0))
        return;
    if (sn->used > 0)
        memset(sn->slots, 0, sn->cap * sizeof(*sn->slots));
    if (sn->ids_used > 0)
        memset(sn->ids, 0, sn->ids_cap * sizeof(*sn->ids));
    sn->used = sn->events = sn->npks = sn->next = sn->ids_used = sn->ids_new = sn->ids_profile = sn->nppks = sn->next_ppk = 0;
    sn->ppks_fetched = false;
    sn->id_types.len = sn->id_values.len = sn->ids_text.len = 0;
    sn->fetched = false;
}

void
stg_seen_free(storage_t *st)
{
    struct stg_seen *sn = st->pg_seen;
    if (sn == NULL)
        return;
    free(sn->slots);
    free(sn->ids);
    free(sn->ppks);
    base_jb_free(&sn->ids_text);
    free(sn->pks);
    base_jb_free(&sn->id_types);
    base_jb_free(&sn->id_values);
    free(sn);
    st->pg_seen = NULL;
}
