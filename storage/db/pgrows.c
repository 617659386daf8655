/* pgrows.c -- PostgreSQL: a write transaction's pending rows, one set a
 * statement kind (a run's events, pgseen.c; first/last marks, profiles'
 * touch and activity times, from defer.c's flush), each set sent as one
 * multi-row statement whose parameters are arrays, a column an array
 * literal, read through unnest. Where each row was a statement of its own
 * (parsed, planned and run: most of PostgreSQL's time under ingest), a
 * set is one.
 *
 * The sets go, in the order of rows_of (events before the marks that
 * name them), as deferred writes (pgdefer.c) in front of any other
 * statement, so that none reads past a pending row, and before COMMIT
 * (pg.c calls stg_rows_flush); BEGIN and ROLLBACK discard them
 * (stg_rows_discard). A set's rows are distinct by key: defer.c combines
 * per profile (and action) and flushes what is pending before it adds. Each
 * row tags its profile in the commit journal as it joins. */
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

#define MAX_COLS 12

enum { R_EVENTS, R_MARKS, R_TOUCH, R_ACTIVITY, R_TRAITS, R_KINDS };

static const struct {
    enum stmt_id id;
    int ncols;
} rows_of[R_KINDS] = {
    [R_EVENTS] = {S_EVENTS_ADD_MANY, 12},         [R_MARKS] = {S_MARKS_UPSERT_MANY, 6},    [R_TOUCH] = {S_PROFILES_TOUCH_MANY, 3},
    [R_ACTIVITY] = {S_PROFILES_ACTIVITY_MANY, 2}, [R_TRAITS] = {S_TRAITS_UPSERT_MANY, 11},
};

typedef struct {
    jsonbuf_t cols[MAX_COLS];
    size_t n;
} rowset_t;

struct stg_rows {
    rowset_t sets[R_KINDS];
    size_t pending; /* rows in all sets */
    /* the traits set's (profile, key)s, hashed (0: a free slot): a second
     * change of one sends the sets first (one statement cannot upsert a
     * row twice) */
    uint64_t *tkeys;
    size_t tcap, tn;
};

/* Whether (pk, key) is in the traits set; adds it when not. */
static bool
trait_seen(struct stg_rows *rows, int64_t pk, const char *key, size_t key_len)
{
    if (rows->tn * 2 >= rows->tcap) {
        size_t cap = rows->tcap ? rows->tcap * 2 : 256;
        uint64_t *old = rows->tkeys;
        size_t ocap = rows->tcap;
        rows->tkeys = base_xcalloc(cap, sizeof(*rows->tkeys));
        rows->tcap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i] != 0) {
                size_t j = old[i] & (cap - 1);
                while (rows->tkeys[j] != 0)
                    j = (j + 1) & (cap - 1);
                rows->tkeys[j] = old[i];
            }
        free(old);
    }
    uint64_t h = base_fnv1a(0xcbf29ce484222325ULL ^ (uint64_t)pk * 0x9e3779b97f4a7c15ULL, key, key_len) | 1;
    size_t j = h & (rows->tcap - 1);
    for (; rows->tkeys[j] != 0; j = (j + 1) & (rows->tcap - 1))
        if (rows->tkeys[j] == h) /* or another pair of the same hash: sending early is harmless */
            return true;
    rows->tkeys[j] = h;
    rows->tn++;
    return false;
}

static void
traits_forget(struct stg_rows *rows)
{
    if (rows->tn > 0)
        memset(rows->tkeys, 0, rows->tcap * sizeof(*rows->tkeys));
    rows->tn = 0;
}

/* The set of kind, its columns ready for a row. */
static rowset_t *
open_row(storage_t *st, int kind, int64_t profile_pk)
{
    if (st->pg_rows == NULL)
        st->pg_rows = base_xcalloc(1, sizeof(*st->pg_rows));
    rowset_t *r = &st->pg_rows->sets[kind];
    for (int c = 0; r->n == 0 && c < rows_of[kind].ncols; c++) {
        if (r->cols[c].data == NULL)
            base_jb_init(&r->cols[c], 1024);
        base_jb_append(&r->cols[c], "{", 1);
    }
    st->pg_dirty = true;
    if (st->journal != NULL) /* what it changes, for the view cache */
        stg_journal_tag(st, stg_tag_profile(profile_pk));
    return r;
}

static void
close_row(storage_t *st, rowset_t *r)
{
    r->n++;
    st->pg_rows->pending++;
}

static void
col_int(rowset_t *r, int c, int64_t v)
{
    stg_pg_array_int(&r->cols[c], v);
}

static void
col_text(rowset_t *r, int c, const char *v, size_t n)
{
    if (v != NULL)
        stg_pg_array_text(&r->cols[c], v, n);
    else
        base_jb_append(&r->cols[c], r->n > 0 ? ",NULL" : "NULL", r->n > 0 ? 5 : 4);
}

void
stg_rows_event(storage_t *st, const stg_event_row_t *e)
{
    rowset_t *r = open_row(st, R_EVENTS, e->profile_pk);
    col_int(r, 0, e->pk);
    col_int(r, 1, e->tenant_id);
    col_int(r, 2, e->profile_pk);
    col_text(r, 3, e->event_id, e->event_id_len);
    col_int(r, 4, e->time_ms);
    col_int(r, 5, e->received_ms);
    col_text(r, 6, e->action, e->action_len);
    col_text(r, 7, e->name, e->name_len);
    col_text(r, 8, e->type, e->type_len);
    col_text(r, 9, e->source, e->source_len);
    col_text(r, 10, e->raw, e->raw_len);
    col_int(r, 11, e->key);
    close_row(st, r);
}

void
stg_rows_mark(storage_t *st, int64_t pk, const char *action, size_t action_len, int64_t first_pk, int64_t first_t, int64_t last_pk,
              int64_t last_t)
{
    rowset_t *r = open_row(st, R_MARKS, pk);
    col_int(r, 0, pk);
    col_text(r, 1, action, action_len);
    col_int(r, 2, first_pk);
    col_int(r, 3, first_t);
    col_int(r, 4, last_pk);
    col_int(r, 5, last_t);
    close_row(st, r);
}

int
stg_rows_trait(storage_t *st, int64_t tid, int64_t pk, const char *key, size_t key_len, const char *value, size_t value_len,
               const stg_provenance_t *latest, const stg_provenance_t *first)
{
    int ret;
    if (st->pg_rows == NULL)
        st->pg_rows = base_xcalloc(1, sizeof(*st->pg_rows));
    if (trait_seen(st->pg_rows, pk, key, key_len)) { /* changed again: after the sets so far */
        if ((ret = stg_rows_flush(st)) != 0)
            return ret;
        trait_seen(st->pg_rows, pk, key, key_len);
    }
    rowset_t *r = open_row(st, R_TRAITS, pk);
    col_int(r, 0, pk);
    col_text(r, 1, key, key_len);
    col_text(r, 2, value, value_len);
    col_int(r, 3, latest->ts);
    col_text(r, 4, latest->message_id, latest->message_id_len);
    col_text(r, 5, latest->source, latest->source_len);
    col_int(r, 6, tid);
    col_int(r, 7, first->ts);
    col_text(r, 8, first->message_id, first->message_id_len);
    col_text(r, 9, first->source, first->source_len);
    col_int(r, 10, st->trait_history_days > 0);
    close_row(st, r);
    return 0;
}

void
stg_rows_touch(storage_t *st, int64_t pk, int64_t now_ms, const char *user_id, size_t user_id_len)
{
    rowset_t *r = open_row(st, R_TOUCH, pk);
    col_int(r, 0, pk);
    col_int(r, 1, now_ms);
    col_text(r, 2, user_id, user_id_len);
    close_row(st, r);
}

void
stg_rows_activity(storage_t *st, int64_t pk, int64_t t)
{
    rowset_t *r = open_row(st, R_ACTIVITY, pk);
    col_int(r, 0, pk);
    col_int(r, 1, t);
    close_row(st, r);
}

bool
stg_rows_on(const storage_t *st)
{
    return st->pg && st->pg_txn;
}

bool
stg_rows_pending(const storage_t *st)
{
    return st->pg_rows != NULL && st->pg_rows->pending > 0;
}

bool
stg_rows_pass(enum stmt_id id)
{
    /* a new profile's: the sets write events, marks, traits, their history
     * and existing profiles' times and userId; these read and write none
     * of that (a new profile's row: nothing pending names it yet) */
    static const enum stmt_id blind[] = {S_IDENTITY_GET, S_IDENTITY_ADD, S_SUPPRESS_HAS, S_PROFILE_ADD, S_PROFILE_ADD_AT};
    for (int k = 0; k < R_KINDS; k++)
        if (rows_of[k].id == id)
            return true;
    for (size_t i = 0; i < sizeof(blind) / sizeof(blind[0]); i++)
        if (blind[i] == id)
            return true;
    return false;
}

int
stg_rows_flush(storage_t *st)
{
    if (!stg_rows_pending(st))
        return 0;
    int ret = 0;
    traits_forget(st->pg_rows);
    for (int k = 0; k < R_KINDS && ret == 0; k++) {
        rowset_t *r = &st->pg_rows->sets[k];
        if (r->n == 0)
            continue;
        stg_stmt_t *s = stg_stmt(st, rows_of[k].id);
        if (s == NULL) {
            ret = STORAGE_EIO;
            break;
        }
        for (int c = 0; c < rows_of[k].ncols; c++) {
            base_jb_append(&r->cols[c], "}", 1);
            stg_bind_text(s, c + 1, r->cols[c].data, r->cols[c].len); /* copied */
            r->cols[c].len = 0;
        }
        st->pg_rows->pending -= r->n;
        r->n = 0;
        ret = stg_step_done(st, s);
    }
    /* On failure the caller rolls back: the rows go either way. */
    if (ret != 0)
        stg_rows_discard(st);
    return ret;
}

void
stg_rows_discard(storage_t *st)
{
    if (!stg_rows_pending(st))
        return;
    traits_forget(st->pg_rows);
    for (int k = 0; k < R_KINDS; k++) {
        rowset_t *r = &st->pg_rows->sets[k];
        for (int c = 0; c < rows_of[k].ncols; c++)
            r->cols[c].len = 0;
        r->n = 0;
    }
    st->pg_rows->pending = 0;
}

void
stg_rows_free(storage_t *st)
{
    if (st->pg_rows == NULL)
        return;
    for (int k = 0; k < R_KINDS; k++)
        for (int c = 0; c < MAX_COLS; c++)
            base_jb_free(&st->pg_rows->sets[k].cols[c]);
    free(st->pg_rows->tkeys);
    free(st->pg_rows);
    st->pg_rows = NULL;
}
