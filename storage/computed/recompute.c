/* recompute.c -- completing computed state for existing profiles after
 * definitions change: per tenant, the keys not marked complete in
 * computed_keys are rebuilt from each profile's events, in short
 * transactions with their progress stored, so it runs alongside the writer
 * and resumes after a stop. A writer that skips a key deletes its row
 * (stg_computed_announce), which sends the rebuild back to the start. */
#include <stdlib.h>
#include <string.h>
#include "../computed/computed.h"

#define BATCH_PROFILES 500
#define BATCH_EVENTS 5000 /* a batch holds the write lock for tens of ms at most */

typedef struct {
    int64_t tid;
    const tenant_defs_t *td;
    bool *only; /* per definition: being rebuilt */
    int64_t cursor;
} plan_t;

typedef struct {
    char key[DEFS_KEY_LEN + 1];
    bool ready;
    int64_t next_pk;
} key_row_t;

static int
keys_get(storage_t *st, int64_t tid, key_row_t **rows, size_t *n)
{
    stg_stmt_t *s = stg_stmt(st, S_KEYS_GET);
    size_t cap = 0;
    *rows = NULL;
    *n = 0;
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    int rc, ret = 0;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            if ((*rows = realloc(*rows, cap * sizeof(**rows))) == NULL)
                abort();
        }
        key_row_t *r = &(*rows)[(*n)++];
        const char *k = stg_col_text(s, 0);
        snprintf(r->key, sizeof(r->key), "%s", k != NULL ? k : "");
        r->ready = stg_col_int(s, 1) != 0;
        r->next_pk = stg_col_int64(s, 2);
    }
    if (rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    return ret;
}

static const key_row_t *
key_find(const key_row_t *rows, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].key, key) == 0)
            return &rows[i];
    return NULL;
}

static int
key_put(storage_t *st, int64_t tid, const char *key, bool ready, int64_t next_pk)
{
    stg_stmt_t *s = stg_stmt(st, S_KEYS_PUT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_text(s, 2, key, DEFS_KEY_LEN);
    stg_bind_int(s, 3, ready);
    stg_bind_int64(s, 4, next_pk);
    return stg_step_done(st, s);
}

static int
count_after(storage_t *st, int64_t tid, int64_t cursor, uint64_t *n)
{
    stg_stmt_t *s = stg_stmt(st, S_RECOMPUTE_COUNT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    stg_bind_int64(s, 2, cursor);
    int64_t count = 0;
    int ret = stg_step_int64(st, s, &count);
    *n = (uint64_t)count;
    return ret;
}

/* Marks the keys p rebuilds: complete, or done up to next_pk. */
static int
keys_put_all(storage_t *st, const plan_t *p, bool ready, int64_t next_pk)
{
    int ret = 0;
    for (size_t i = 0; i < p->td->ndefs && ret == 0; i++)
        if (p->only[i])
            ret = key_put(st, p->tid, p->td->defs[i].key, ready, next_pk);
    return ret;
}

/* Which keys of a tenant need rebuilding and from where (inside the
 * planning transaction). *add: profiles to go. */
static int
plan_tenant(storage_t *st, int64_t tid, const tenant_defs_t *td, plan_t *p, bool *any, uint64_t *add)
{
    key_row_t *rows = NULL;
    size_t n = 0;
    int ret;
    *any = false;
    *add = 0;
    /* Rows of keys no longer defined go: they could not stay current. */
    if ((ret = stg_keys_announce(st, tid, td)) != 0 || td == NULL)
        return ret;
    if ((ret = keys_get(st, tid, &rows, &n)) != 0)
        return ret;
    p->tid = tid;
    p->td = td;
    p->cursor = INT64_MAX;
    if ((p->only = calloc(td->ndefs ? td->ndefs : 1, sizeof(*p->only))) == NULL)
        abort();
    for (size_t i = 0; i < td->ndefs && ret == 0; i++) {
        const comp_def_t *d = &td->defs[i];
        const key_row_t *r = key_find(rows, n, d->key);
        if (d->dup || (r != NULL && r->ready))
            continue;
        p->only[i] = *any = true;
        int64_t from = r != NULL ? r->next_pk : 0;
        if (from < p->cursor)
            p->cursor = from;
        if (r == NULL)
            ret = key_put(st, tid, d->key, false, 0);
    }
    free(rows);
    if (ret == 0 && *any)
        ret = count_after(st, tid, p->cursor, add);
    return ret;
}

static void
plans_free(plan_t *plans, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(plans[i].only);
    free(plans);
}

typedef struct {
    int64_t id;
    char *client, *account, *brand;
} tenant_row_t;

static int
make_plans(storage_t *st, const definitions_t *defs, plan_t **out, size_t *nplans, uint64_t *total)
{
    tenant_row_t *tenants = NULL;
    size_t nt = 0, cap = 0;
    plan_t *plans = NULL;
    size_t np = 0;
    int rc, ret;
    *total = 0;
    if ((ret = storage_begin(st)) != 0)
        return ret;
    stg_stmt_t *s = stg_stmt(st, S_TENANTS_ALL);
    if (s == NULL) {
        ret = STORAGE_EIO;
        goto fail;
    }
    while ((rc = stg_step(st, s)) == STG_ROW) {
        if (nt == cap) {
            cap = cap ? cap * 2 : 16;
            if ((tenants = realloc(tenants, cap * sizeof(*tenants))) == NULL)
                abort();
        }
        tenant_row_t *t = &tenants[nt++];
        t->id = stg_col_int64(s, 0);
        t->client = strdup(stg_col_text(s, 1));
        t->account = strdup(stg_col_text(s, 2));
        t->brand = strdup(stg_col_text(s, 3));
        if (t->client == NULL || t->account == NULL || t->brand == NULL)
            abort();
    }
    ret = rc == STG_DONE ? 0 : rc;
    stg_reset(s);
    if (ret != 0)
        goto fail;
    /* One spare entry: the one being planned when something fails. */
    if ((plans = calloc(nt + 1, sizeof(*plans))) == NULL)
        abort();
    for (size_t i = 0; i < nt && ret == 0; i++) {
        const tenant_row_t *t = &tenants[i];
        const tenant_defs_t *td =
            definitions_find(defs, t->client, strlen(t->client), t->account, strlen(t->account), t->brand, strlen(t->brand));
        bool any;
        uint64_t add;
        if ((ret = plan_tenant(st, t->id, td, &plans[np], &any, &add)) != 0)
            break;
        if (any) {
            np++;
            *total += add;
        } else {
            free(plans[np].only);
            plans[np].only = NULL;
        }
    }
    if (ret != 0)
        goto fail;
    if ((ret = storage_commit(st)) != 0)
        goto fail;
    for (size_t i = 0; i < nt; i++) {
        free(tenants[i].client);
        free(tenants[i].account);
        free(tenants[i].brand);
    }
    free(tenants);
    *out = plans;
    *nplans = np;
    return 0;
fail:
    storage_rollback(st);
    for (size_t i = 0; i < nt; i++) {
        free(tenants[i].client);
        free(tenants[i].account);
        free(tenants[i].brand);
    }
    free(tenants);
    plans_free(plans, np + (plans != NULL && plans[np].only != NULL ? 1 : 0));
    return ret;
}

/* Checks the plan against the rows inside the batch's transaction: a key
 * announced away by a writer without it starts again from the first
 * profile; one completed by someone else is dropped; when someone else
 * (another replica) has stored progress past ours, the plan goes on from
 * there, so replicas reloading together share the work instead of each
 * doing all of it. *left: keys to do. */
static int
revalidate(storage_t *st, plan_t *p, uint64_t *total, bool *left)
{
    key_row_t *rows = NULL;
    size_t n = 0;
    bool restart = false;
    int64_t stored = INT64_MAX; /* the least progress stored for the keys left */
    int ret = keys_get(st, p->tid, &rows, &n);
    *left = false;
    for (size_t i = 0; i < p->td->ndefs && ret == 0; i++) {
        if (!p->only[i])
            continue;
        const key_row_t *r = key_find(rows, n, p->td->defs[i].key);
        if (r != NULL && r->ready) {
            p->only[i] = false;
            continue;
        }
        *left = true;
        if (r == NULL) {
            restart = true;
            ret = key_put(st, p->tid, p->td->defs[i].key, false, 0);
        } else if (r->next_pk < stored) {
            stored = r->next_pk;
        }
    }
    free(rows);
    if (ret == 0 && !restart && *left && stored != INT64_MAX && stored > p->cursor) {
        uint64_t ours = 0, theirs = 0;
        if ((ret = count_after(st, p->tid, p->cursor, &ours)) == 0 && (ret = count_after(st, p->tid, stored, &theirs)) == 0) {
            *total -= ours - theirs <= *total ? ours - theirs : *total;
            p->cursor = stored;
        }
    }
    if (ret == 0 && restart && p->cursor > 0) {
        uint64_t all = 0, after = 0;
        if ((ret = count_after(st, p->tid, 0, &all)) == 0 && (ret = count_after(st, p->tid, p->cursor, &after)) == 0) {
            *total += all - after;
            p->cursor = 0;
        }
    }
    return ret;
}

/* One batch of one tenant, in its own transaction. *finished when the
 * tenant's keys are complete. */
static int
run_batch(storage_t *st, plan_t *p, int64_t now_ms, uint64_t *total, uint64_t *done, bool *finished)
{
    int64_t pks[BATCH_PROFILES];
    size_t n = 0, i = 0;
    uint64_t events = 0;
    bool left;
    int rc, ret;
    *finished = false;
    if ((ret = storage_begin(st)) != 0)
        return ret;
    if ((ret = revalidate(st, p, total, &left)) != 0)
        goto fail;
    if (!left) {
        *finished = true;
        return storage_commit(st);
    }
    stg_stmt_t *s = stg_stmt(st, S_RECOMPUTE_PROFILES);
    if (s == NULL) {
        ret = STORAGE_EIO;
        goto fail;
    }
    stg_bind_int64(s, 1, p->tid);
    stg_bind_int64(s, 2, p->cursor);
    stg_bind_int(s, 3, BATCH_PROFILES);
    while ((rc = stg_step(st, s)) == STG_ROW)
        pks[n++] = stg_col_int64(s, 0);
    ret = rc == STG_DONE ? 0 : rc;
    stg_reset(s);
    if (ret != 0)
        goto fail;

    /* Deferred: each profile's state is written once, at the commit. */
    stg_defer_enable(st, true);
    for (i = 0; i < n && ret == 0 && (i == 0 || events < BATCH_EVENTS); i++)
        ret = stg_computed_rebuild(st, pks[i], p->td, p->only, now_ms, &events);
    if (ret != 0)
        goto fail;
    if ((ret = stg_defer_enable(st, false)) != 0)
        goto fail;
    if (i > 0)
        p->cursor = pks[i - 1];
    *finished = i == n && n < BATCH_PROFILES;
    if ((ret = keys_put_all(st, p, *finished, p->cursor)) != 0)
        goto fail;
    if ((ret = storage_commit(st)) != 0)
        goto fail;
    *done += i;
    return 0;
fail:
    stg_defer_discard(st);
    stg_defer_enable(st, false);
    storage_rollback(st);
    return ret;
}

int
storage_recompute(storage_t *st, const definitions_t *defs, int64_t now_ms, storage_progress_cb progress, void *ctx)
{
    plan_t *plans = NULL;
    size_t np = 0;
    uint64_t total = 0, done = 0;
    int ret;
    if (stg_in_txn(st))
        return stg_fail(st, STORAGE_EINVAL, "storage_recompute needs a connection without an open transaction");
    if ((ret = make_plans(st, defs, &plans, &np, &total)) != 0)
        return ret;
    if (progress != NULL && progress(ctx, 0, total) != 0) {
        ret = 1;
        goto done;
    }
    for (size_t i = 0; i < np; i++) {
        bool finished = false;
        while (!finished) {
            if ((ret = run_batch(st, &plans[i], now_ms, &total, &done, &finished)) != 0)
                goto done;
            if (done > total)
                total = done;
            if (progress != NULL && progress(ctx, done, total) != 0) {
                ret = 1;
                goto done;
            }
        }
    }
done:
    plans_free(plans, np);
    return ret;
}
