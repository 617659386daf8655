/* defer.c -- the writes each message makes to its profile: trait upserts
 * (newest wins; with their provenance, and a history row when the value
 * changes), first/last event marks, the profile's touch (times and
 * userId) and computed trait state. Immediate, or -- during a bulk import
 * -- combined in memory per (profile, key) and written once per
 * transaction: newest-wins, sums, min and max are associative, so the
 * result is the same with far fewer writes. */
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

enum { D_TOUCH, D_TRAIT, D_MARK, D_COMP, D_DAY, D_FREQ };

typedef stg_provenance_t provenance_t;

/* One winning value of a deferred trait: the first message of the
 * transaction that carried it (whose change history records) and the
 * latest (the trait row's provenance), as owned copies. */
typedef struct {
    int64_t ts;
    char *message_id, *source;
    size_t message_id_len, source_len;
    bool has_message_id;
} kept_provenance_t;

struct trait_change {
    char *value;
    size_t len;
    kept_provenance_t first, latest;
};

struct deferred {
    int kind;
    int64_t pk;
    char *key; /* trait key or event action; NULL for a touch */
    size_t key_len;
    union {
        struct {
            int64_t updated_ms, last_ms;
            bool has_event;
            char *user_id;
            size_t user_id_len;
        } touch;
        /* the value changes the transaction's winning messages made, in
         * order (ts never decreasing); each is upserted at the flush, so
         * history sees every one */
        struct {
            struct trait_change *ch;
            size_t n, cap;
            int64_t tenant_id;
        } trait;
        struct {
            int64_t first_pk, first_t, last_pk, last_t;
            char *first_id, *last_id;
            size_t first_len, last_len;
        } mark;
        /* computed state; the key is the definition's key */
        struct {
            comb_t comb;
            double num;
            char *value, *event_id;
            size_t value_len, event_id_len;
            int64_t t;
        } comp;
        /* key: definition key + the day's 8 bytes */
        struct {
            comb_t comb;
            double num;
            int64_t day, floor_day;
        } day;
        /* key: definition key + the value's JSON text */
        struct {
            int64_t count, last_ms;
        } freq;
    } u;
};

static void
set_text(char **dst, size_t *dst_len, const char *src, size_t n)
{
    char *p = realloc(*dst, n + 1);
    if (p == NULL)
        abort();
    memcpy(p, src, n);
    p[n] = '\0';
    *dst = p;
    *dst_len = n;
}

static uint64_t
entry_hash(int kind, int64_t pk, const char *key, size_t n)
{
    uint64_t h = base_fnv1a(((uint64_t)pk * 0x9e3779b97f4a7c15ull) ^ (uint64_t)kind, key, n);
    return h ^ (h >> 31);
}

static void
reindex(defer_t *d, size_t slots)
{
    free(d->index);
    if ((d->index = calloc(slots, sizeof(*d->index))) == NULL)
        abort();
    d->index_mask = slots - 1;
    for (size_t k = 0; k < d->n; k++) {
        const deferred_t *e = &d->items[k];
        size_t i = entry_hash(e->kind, e->pk, e->key, e->key_len) & d->index_mask;
        while (d->index[i] != 0)
            i = (i + 1) & d->index_mask;
        d->index[i] = (uint32_t)k + 1;
    }
}

/* The pending entry for (kind, pk, key), created empty (*fresh) if none. */
static deferred_t *
pending(defer_t *d, int kind, int64_t pk, const char *key, size_t n, bool *fresh)
{
    if (d->index == NULL)
        reindex(d, 1024);
    size_t i = entry_hash(kind, pk, key, n) & d->index_mask;
    for (; d->index[i] != 0; i = (i + 1) & d->index_mask) {
        deferred_t *e = &d->items[d->index[i] - 1];
        if (e->kind == kind && e->pk == pk && e->key_len == n && (n == 0 || memcmp(e->key, key, n) == 0)) {
            *fresh = false;
            return e;
        }
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        deferred_t *p = realloc(d->items, d->cap * sizeof(*p));
        if (p == NULL)
            abort();
        d->items = p;
    }
    deferred_t *e = &d->items[d->n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->pk = pk;
    if (key != NULL)
        set_text(&e->key, &e->key_len, key, n);
    if (d->n * 2 > d->index_mask + 1)
        reindex(d, (d->index_mask + 1) * 2);
    else
        d->index[i] = (uint32_t)d->n;
    *fresh = true;
    return e;
}

static int
touch_now(storage_t *st, int64_t pk, const char *user_id, size_t user_id_len, bool has_event, int64_t t, int64_t now_ms)
{
    /* SQLite: an event's touch sets both times in one statement (an event
     * is nearly always its profile's latest) */
    bool both = has_event && !st->pg;
    stg_stmt_t *s = stg_stmt(st, both ? S_PROFILE_TOUCH_EVENT : S_PROFILE_TOUCH);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_int64(s, 2, now_ms);
    if (both)
        stg_bind_int64(s, 3, t);
    if (st->pg) /* PostgreSQL's profile row holds both; SQLite's times are their own rows */
        stg_bind_text(s, 3, user_id, user_id_len);
    int ret = stg_step_done(st, s);
    if (ret == 0 && user_id != NULL) { /* SQLite: the wide row, only when the userId differs */
        if ((s = stg_stmt(st, S_PROFILE_USER_ID)) == NULL)
            return STORAGE_EIO;
        stg_bind_int64(s, 1, pk);
        stg_bind_text(s, 2, user_id, user_id_len);
        ret = stg_step_done(st, s);
    }
    if (ret != 0 || !has_event || both)
        return ret;
    if ((s = stg_stmt(st, S_PROFILE_ACTIVITY)) == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_int64(s, 2, t);
    return stg_step_done(st, s);
}

/* Upserts value with latest's provenance; when it changed the stored value
 * (and history is kept) appends the change: first's message, unless that
 * one is older than the value replaced (it would have lost alone). */
static int
trait_now(storage_t *st, int64_t tid, int64_t pk, const char *key, size_t key_len, const char *value, size_t value_len,
          const provenance_t *latest, const provenance_t *first)
{
    stg_stmt_t *s = stg_stmt(st, S_TRAIT_STORED);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, key, key_len);
    int rc = stg_step(st, s);
    /* replaced: the time of the value this write changes (the smallest
     * integer for a new trait), or none when the value stays */
    bool changed = true;
    int64_t replaced = INT64_MIN;
    if (rc == STG_ROW) {
        if (latest->ts < stg_col_int64(s, 1)) { /* an older message loses */
            stg_reset(s);
            return 0;
        }
        const char *old = stg_col_text(s, 0);
        changed = base_text_cmp(old != NULL ? old : "", (size_t)stg_col_bytes(s, 0), value, value_len) != 0;
        replaced = stg_col_int64(s, 1);
    }
    stg_reset(s);
    if (rc != STG_ROW && rc != STG_DONE)
        return rc;
    if ((s = stg_stmt(st, S_TRAIT_PUT)) == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, key, key_len);
    stg_bind_text(s, 3, value, value_len);
    stg_bind_int64(s, 4, latest->ts);
    stg_bind_text(s, 5, latest->message_id, latest->message_id_len);
    stg_bind_text(s, 6, latest->source, latest->source_len);
    if (changed)
        stg_bind_int64(s, 7, replaced);
    else
        stg_bind_null(s, 7);
    if ((rc = stg_step_done(st, s)) != 0)
        return rc;
    if (!changed || st->trait_history_days <= 0)
        return 0;
    const provenance_t *p = first->ts >= replaced ? first : latest;
    if ((s = stg_stmt(st, S_HISTORY_ADD)) == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_int64(s, 2, pk);
    stg_bind_text(s, 3, key, key_len);
    stg_bind_text(s, 4, value, value_len);
    stg_bind_int64(s, 5, p->ts);
    stg_bind_text(s, 6, p->message_id, p->message_id_len);
    stg_bind_text(s, 7, p->source, p->source_len);
    return stg_step_done(st, s);
}

static int
mark_now(storage_t *st, int64_t pk, const char *action, size_t action_len, int64_t first_pk, int64_t first_t, int64_t last_pk,
         int64_t last_t)
{
    stg_stmt_t *s = stg_stmt(st, st->hot_events ? S_MARK_UPSERT_HOT : S_MARK_UPSERT); /* schema step 11 */
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, action, action_len);
    stg_bind_int64(s, 3, first_pk);
    stg_bind_int64(s, 4, first_t);
    stg_bind_int64(s, 5, last_pk);
    stg_bind_int64(s, 6, last_t);
    return stg_step_done(st, s);
}

static int
comp_now(storage_t *st, int64_t pk, const char *key, comb_t comb, double num, const char *value, size_t value_len, int64_t t,
         const char *event_id, size_t event_id_len)
{
    stg_stmt_t *s = stg_stmt(st, S_COMP_UPSERT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, key, DEFS_KEY_LEN);
    stg_bind_int(s, 3, comb);
    if (comb == COMB_FIRST || comb == COMB_LAST) {
        stg_bind_null(s, 4);
        stg_bind_text(s, 5, value, value_len);
        stg_bind_int64(s, 6, t);
        stg_bind_text(s, 7, event_id, event_id_len);
    } else {
        stg_bind_double(s, 4, num);
        stg_bind_null(s, 5);
        stg_bind_null(s, 6);
        stg_bind_null(s, 7);
    }
    return stg_step_done(st, s);
}

static int
day_now(storage_t *st, int64_t pk, const char *key, comb_t comb, int64_t day, double num, int64_t floor_day)
{
    stg_stmt_t *s = stg_stmt(st, S_COMP_DAY_UPSERT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, key, DEFS_KEY_LEN);
    stg_bind_int64(s, 3, day);
    stg_bind_int(s, 4, comb);
    stg_bind_double(s, 5, num);
    int ret = stg_step_done(st, s);
    if (ret != 0 || (s = stg_stmt(st, S_COMP_DAY_PRUNE)) == NULL)
        return ret != 0 ? ret : STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, key, DEFS_KEY_LEN);
    stg_bind_int64(s, 3, floor_day);
    return stg_step_done(st, s);
}

static int
freq_now(storage_t *st, int64_t pk, const char *key, const char *value, size_t value_len, int64_t count, int64_t last_ms)
{
    stg_stmt_t *s = stg_stmt(st, S_COMP_FREQ_UPSERT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    stg_bind_text(s, 2, key, DEFS_KEY_LEN);
    stg_bind_text(s, 3, value, value_len);
    stg_bind_int64(s, 4, count);
    stg_bind_int64(s, 5, last_ms);
    return stg_step_done(st, s);
}

int
stg_profile_touch(storage_t *st, int64_t pk, const char *user_id, size_t user_id_len, bool has_event, int64_t t, int64_t now_ms)
{
    bool fresh;
    if (!st->defer.enabled)
        return touch_now(st, pk, user_id, user_id_len, has_event, t, now_ms);
    deferred_t *e = pending(&st->defer, D_TOUCH, pk, NULL, 0, &fresh);
    if (now_ms > e->u.touch.updated_ms)
        e->u.touch.updated_ms = now_ms;
    if (has_event && (!e->u.touch.has_event || t > e->u.touch.last_ms)) {
        e->u.touch.last_ms = t;
        e->u.touch.has_event = true;
    }
    /* The latest userId wins, as with immediate updates. */
    if (user_id != NULL &&
        base_text_cmp(e->u.touch.user_id != NULL ? e->u.touch.user_id : "", e->u.touch.user_id_len, user_id, user_id_len) != 0)
        set_text(&e->u.touch.user_id, &e->u.touch.user_id_len, user_id, user_id_len);
    return 0;
}

/* Copies src's message (at ts) into k. */
static void
keep_provenance(kept_provenance_t *k, const stg_trait_src_t *src, int64_t ts)
{
    k->ts = ts;
    k->has_message_id = src->message_id != NULL;
    set_text(&k->message_id, &k->message_id_len, src->message_id != NULL ? src->message_id : "", src->message_id_len);
    set_text(&k->source, &k->source_len, src->source, src->source_len);
}

/* k as the upsert takes it (borrowed). */
static provenance_t
provenance_of(const kept_provenance_t *k)
{
    return (provenance_t){k->ts, k->has_message_id ? k->message_id : NULL, k->source, k->message_id_len, k->source_len};
}

int
stg_trait_put(storage_t *st, const stg_trait_src_t *src, int64_t pk, const char *key, size_t key_len, const char *value,
              size_t value_len, int64_t ts)
{
    bool fresh;
    if (!st->defer.enabled) {
        provenance_t p = {ts, src->message_id, src->source, src->message_id_len, src->source_len};
        if (stg_rows_on(st)) /* PostgreSQL: a row of the transaction's set (pgrows.c) */
            return stg_rows_trait(st, src->tenant_id, pk, key, key_len, value, value_len, &p, &p);
        return trait_now(st, src->tenant_id, pk, key, key_len, value, value_len, &p, &p);
    }
    deferred_t *e = pending(&st->defer, D_TRAIT, pk, key, key_len, &fresh);
    struct trait_change *c = fresh ? NULL : &e->u.trait.ch[e->u.trait.n - 1];
    /* Equal timestamps: the later write wins, as in the upsert. */
    if (c != NULL && ts < c->latest.ts)
        return 0;
    if (c == NULL || base_text_cmp(c->value, c->len, value, value_len) != 0) {
        if (e->u.trait.n == e->u.trait.cap) {
            e->u.trait.cap = e->u.trait.cap ? e->u.trait.cap * 2 : 1;
            e->u.trait.ch = base_xrealloc(e->u.trait.ch, e->u.trait.cap * sizeof(*c));
        }
        c = &e->u.trait.ch[e->u.trait.n++];
        memset(c, 0, sizeof(*c));
        set_text(&c->value, &c->len, value, value_len);
        keep_provenance(&c->first, src, ts);
    }
    /* the same value again: only the row's provenance moves, as in the upsert */
    e->u.trait.tenant_id = src->tenant_id;
    keep_provenance(&c->latest, src, ts);
    return 0;
}

/* The deferred trait e's changes, upserted in order; with rows
 * (PostgreSQL), each a row of one multi-row statement (pgrows.c), a key's
 * second change in the set after it. */
static int
trait_flush(storage_t *st, const deferred_t *e, bool rows)
{
    int ret = 0;
    for (size_t i = 0; i < e->u.trait.n && ret == 0; i++) {
        const struct trait_change *c = &e->u.trait.ch[i];
        provenance_t first = provenance_of(&c->first), latest = provenance_of(&c->latest);
        ret = rows ? stg_rows_trait(st, e->u.trait.tenant_id, e->pk, e->key, e->key_len, c->value, c->len, &latest, &first)
                   : trait_now(st, e->u.trait.tenant_id, e->pk, e->key, e->key_len, c->value, c->len, &latest, &first);
    }
    return ret;
}

int
stg_mark_event(storage_t *st, int64_t pk, const char *action, size_t action_len, int64_t event_pk, int64_t t, const char *event_id,
               size_t event_id_len)
{
    bool fresh;
    if (!st->defer.enabled)
        return mark_now(st, pk, action, action_len, event_pk, t, event_pk, t);
    deferred_t *e = pending(&st->defer, D_MARK, pk, action, action_len, &fresh);
    if (fresh || t < e->u.mark.first_t ||
        (t == e->u.mark.first_t && base_text_cmp(event_id, event_id_len, e->u.mark.first_id, e->u.mark.first_len) < 0)) {
        e->u.mark.first_pk = event_pk;
        e->u.mark.first_t = t;
        set_text(&e->u.mark.first_id, &e->u.mark.first_len, event_id, event_id_len);
    }
    if (fresh || t > e->u.mark.last_t ||
        (t == e->u.mark.last_t && base_text_cmp(event_id, event_id_len, e->u.mark.last_id, e->u.mark.last_len) > 0)) {
        e->u.mark.last_pk = event_pk;
        e->u.mark.last_t = t;
        set_text(&e->u.mark.last_id, &e->u.mark.last_len, event_id, event_id_len);
    }
    return 0;
}

/* Whether (t, id) orders before (ot, oid): SQLite's row-value order. */
static bool
event_before(int64_t t, const char *id, size_t n, int64_t ot, const char *oid, size_t on)
{
    return t < ot || (t == ot && base_text_cmp(id, n, oid, on) < 0);
}

int
stg_comp_put(storage_t *st, int64_t pk, const char *key, comb_t comb, double num, const char *value, size_t value_len, int64_t t,
             const char *event_id, size_t event_id_len)
{
    bool fresh;
    if (!st->defer.enabled)
        return comp_now(st, pk, key, comb, num, value, value_len, t, event_id, event_id_len);
    deferred_t *e = pending(&st->defer, D_COMP, pk, key, DEFS_KEY_LEN, &fresh);
    bool replace = fresh;
    if (fresh) {
        e->u.comp.comb = comb;
        e->u.comp.num = num;
    } else if (comb == COMB_ADD) {
        e->u.comp.num += num;
    } else if (comb == COMB_MIN) {
        e->u.comp.num = num < e->u.comp.num ? num : e->u.comp.num;
    } else if (comb == COMB_MAX) {
        e->u.comp.num = num > e->u.comp.num ? num : e->u.comp.num;
    } else if (comb == COMB_FIRST) {
        replace = event_before(t, event_id, event_id_len, e->u.comp.t, e->u.comp.event_id, e->u.comp.event_id_len);
    } else {
        replace = event_before(e->u.comp.t, e->u.comp.event_id, e->u.comp.event_id_len, t, event_id, event_id_len);
    }
    if (replace && (comb == COMB_FIRST || comb == COMB_LAST)) {
        set_text(&e->u.comp.value, &e->u.comp.value_len, value, value_len);
        set_text(&e->u.comp.event_id, &e->u.comp.event_id_len, event_id, event_id_len);
        e->u.comp.t = t;
    }
    return 0;
}

int
stg_comp_day(storage_t *st, int64_t pk, const char *key, comb_t comb, int64_t day, double num, int64_t floor_day)
{
    bool fresh;
    if (!st->defer.enabled)
        return day_now(st, pk, key, comb, day, num, floor_day);
    char k[DEFS_KEY_LEN + sizeof(day)];
    memcpy(k, key, DEFS_KEY_LEN);
    memcpy(k + DEFS_KEY_LEN, &day, sizeof(day));
    deferred_t *e = pending(&st->defer, D_DAY, pk, k, sizeof(k), &fresh);
    if (fresh) {
        e->u.day.comb = comb;
        e->u.day.day = day;
        e->u.day.num = num;
    } else if (comb == COMB_ADD) {
        e->u.day.num += num;
    } else if (comb == COMB_MIN) {
        e->u.day.num = num < e->u.day.num ? num : e->u.day.num;
    } else {
        e->u.day.num = num > e->u.day.num ? num : e->u.day.num;
    }
    if (fresh || floor_day > e->u.day.floor_day)
        e->u.day.floor_day = floor_day;
    return 0;
}

int
stg_comp_freq(storage_t *st, int64_t pk, const char *key, const char *value, size_t value_len, int64_t t)
{
    bool fresh;
    if (!st->defer.enabled)
        return freq_now(st, pk, key, value, value_len, 1, t);
    char small[256], *k = DEFS_KEY_LEN + value_len <= sizeof(small) ? small : malloc(DEFS_KEY_LEN + value_len);
    if (k == NULL)
        abort();
    memcpy(k, key, DEFS_KEY_LEN);
    memcpy(k + DEFS_KEY_LEN, value, value_len);
    deferred_t *e = pending(&st->defer, D_FREQ, pk, k, DEFS_KEY_LEN + value_len, &fresh);
    if (k != small)
        free(k);
    e->u.freq.count++;
    if (fresh || t > e->u.freq.last_ms)
        e->u.freq.last_ms = t;
    return 0;
}

void
stg_defer_discard(storage_t *st)
{
    defer_t *d = &st->defer;
    for (size_t k = 0; k < d->n; k++) {
        deferred_t *e = &d->items[k];
        free(e->key);
        if (e->kind == D_TOUCH)
            free(e->u.touch.user_id);
        else if (e->kind == D_TRAIT) {
            for (size_t i = 0; i < e->u.trait.n; i++) {
                struct trait_change *c = &e->u.trait.ch[i];
                free(c->value);
                free(c->first.message_id);
                free(c->first.source);
                free(c->latest.message_id);
                free(c->latest.source);
            }
            free(e->u.trait.ch);
        } else if (e->kind == D_COMP) {
            free(e->u.comp.value);
            free(e->u.comp.event_id);
        } else if (e->kind == D_MARK) {
            free(e->u.mark.first_id);
            free(e->u.mark.last_id);
        }
    }
    d->n = 0;
    if (d->index != NULL)
        memset(d->index, 0, (d->index_mask + 1) * sizeof(*d->index));
}

int
stg_defer_flush(storage_t *st)
{
    defer_t *d = &st->defer;
    /* PostgreSQL: the marks and touches of this flush are rows of one
     * statement each (pgrows.c), after what an earlier flush left there,
     * so that a set holds each key once. */
    bool rows = d->n > 0 && stg_rows_on(st);
    int ret = rows ? stg_rows_flush(st) : 0;
    for (size_t k = 0; k < d->n && ret == 0; k++) {
        const deferred_t *e = &d->items[k];
        switch (e->kind) {
        case D_TOUCH:
            if (rows) {
                stg_rows_touch(st, e->pk, e->u.touch.updated_ms, e->u.touch.user_id, e->u.touch.user_id_len);
                if (e->u.touch.has_event)
                    stg_rows_activity(st, e->pk, e->u.touch.last_ms);
                break;
            }
            ret = touch_now(st, e->pk, e->u.touch.user_id, e->u.touch.user_id_len, e->u.touch.has_event, e->u.touch.last_ms,
                            e->u.touch.updated_ms);
            break;
        case D_TRAIT:
            ret = trait_flush(st, e, rows);
            break;
        case D_MARK:
            if (rows) {
                stg_rows_mark(st, e->pk, e->key, e->key_len, e->u.mark.first_pk, e->u.mark.first_t, e->u.mark.last_pk,
                              e->u.mark.last_t);
                break;
            }
            ret =
                mark_now(st, e->pk, e->key, e->key_len, e->u.mark.first_pk, e->u.mark.first_t, e->u.mark.last_pk, e->u.mark.last_t);
            break;
        case D_COMP:
            ret = comp_now(st, e->pk, e->key, e->u.comp.comb, e->u.comp.num, e->u.comp.value, e->u.comp.value_len, e->u.comp.t,
                           e->u.comp.event_id, e->u.comp.event_id_len);
            break;
        case D_DAY:
            ret = day_now(st, e->pk, e->key, e->u.day.comb, e->u.day.day, e->u.day.num, e->u.day.floor_day);
            break;
        default:
            ret = freq_now(st, e->pk, e->key, e->key + DEFS_KEY_LEN, e->key_len - DEFS_KEY_LEN, e->u.freq.count, e->u.freq.last_ms);
        }
    }
    /* On failure the caller rolls back: the pending writes go either way. */
    stg_defer_discard(st);
    return ret;
}

int
stg_defer_enable(storage_t *st, bool on)
{
    int ret = on ? 0 : stg_defer_flush(st);
    st->defer.enabled = on;
    return ret;
}

void
stg_defer_dispose(storage_t *st)
{
    stg_defer_discard(st);
    free(st->defer.items);
    free(st->defer.index);
    memset(&st->defer, 0, sizeof(st->defer));
}

int
storage_combine_writes(storage_t *st, bool on)
{
    return stg_defer_enable(st, on);
}
