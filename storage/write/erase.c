/* erase.c -- erasure: deleting a profile and everything of it (the rows of
 * every table a merge moves, and its events; a scroll over it alone then
 * answers an unknown scrollId, read/cursor.c) in one transaction, and the tenant's suppression list its userIds and
 * anonymousIds go on, which ingest and static-audience imports consult
 * (stg_suppressed, in db/) so that a forgotten person stays forgotten. */
#include <stdio.h>
#include <string.h>
#include "../write/write.h"

/* The profile id names in the tenant: 0 (found), STORAGE_ENOTFOUND. */
static int
erase_target(storage_t *st, int64_t tid, storage_id_type_t type, const char *id, size_t id_len, int64_t *pk)
{
    stg_stmt_t *s = stg_stmt(st, type == STORAGE_ID_INTERNAL ? S_ERASE_BY_UUID : S_IDENTITY_GET);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, tid);
    if (type == STORAGE_ID_INTERNAL) {
        stg_bind_text(s, 2, id, id_len);
    } else {
        stg_bind_int(s, 2, (int)type);
        stg_bind_text(s, 3, id, id_len);
    }
    int rc = stg_step(st, s), ret = 0;
    if (rc == STG_ROW)
        *pk = stg_col_int64(s, 0);
    else
        ret = rc == STG_DONE ? stg_fail(st, STORAGE_ENOTFOUND, "no such profile") : rc;
    stg_reset(s);
    return ret;
}

/* Runs a statement of profile pk: ?1 pk, ?2 tenant, ?3 now (those it has). */
static int
erase_step(storage_t *st, enum stmt_id id, int64_t pk, int64_t tid, int64_t now_ms, int nparams)
{
    stg_stmt_t *s = stg_stmt(st, id);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    if (nparams > 1)
        stg_bind_int64(s, 2, tid);
    if (nparams > 2)
        stg_bind_int64(s, 3, now_ms);
    return stg_step_done(st, s);
}

int
storage_profile_delete(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                       int64_t now_ms, char *err, size_t errlen)
{
    /* The rows of the profile, table by table: the ids go on the list
     * first (they are read from identities), the profile row last. The
     * deletes by profile_pk are the sweeps of a merge (merge.c). */
    static const struct {
        enum stmt_id id;
        int nparams;
    } parts[] = {
        {S_ERASE_SUPPRESS_IDS, 3}, {S_MERGE_IDENTITIES_DROP, 1}, {S_ERASE_EVENT_KEYS, 1},     {S_ERASE_EVENT_KEYS_HOT, 1},
        {S_ERASE_EVENTS, 1},       {S_ERASE_EVENT_PROF, 1},      {S_ERASE_EVENT_PROF_HOT, 1}, {S_ERASE_HISTORY, 1},
        {S_MERGE_TRAITS_DROP, 1},  {S_MERGE_MARKS_DROP, 1},      {S_MERGE_MARKS_HOT_DROP, 1}, {S_MERGE_AUDIENCES_DROP, 1},
        {S_MERGE_COMP_DROP, 1},    {S_MERGE_COMP_DAYS_DROP, 1},  {S_MERGE_COMP_FREQ_DROP, 1}, {S_MERGE_PROFILE_DROP, 1},
    };
    int64_t tid = 0, pk = 0;
    bool began = false;
    int ret;

    if (id_type == STORAGE_ID_EMAIL) {
        ret = stg_fail(st, STORAGE_EINVAL,
                       "An email may name several profiles: delete by userId, anonymousId or id (see its external_ids).");
        goto out;
    }
    if ((int)id_type < STORAGE_ID_USER || id_type > STORAGE_ID_INTERNAL || id == NULL) {
        ret = stg_fail(st, STORAGE_EINVAL, "unknown id type");
        goto out;
    }
    /* Joining the writer's transaction flushes its combined writes: the
     * profile's pending rows are in the tables before they are deleted. */
    if ((ret = stg_txn_open(st, true, &began)) != 0)
        goto out;
    if ((ret = stg_tenant_id(st, tenant, false, &tid)) == STORAGE_ENOTFOUND)
        ret = stg_fail(st, STORAGE_ENOTFOUND, "no such profile");
    if (ret == 0)
        ret = erase_target(st, tid, id_type, id, id_len, &pk);
    for (size_t i = 0; ret == 0 && i < sizeof(parts) / sizeof(parts[0]); i++)
        ret = erase_step(st, parts[i].id, pk, tid, now_ms, parts[i].nparams);
    /* Cached identities lead to the deleted profile. */
    if (ret == 0)
        stg_idcache_clear(&st->ids);
    ret = stg_txn_close(st, began, ret);
out:
    if (ret != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", st->err);
    return ret;
}

uint64_t
storage_suppressed_messages(const storage_t *st)
{
    return st->suppressed_total;
}

int
storage_suppression_list(storage_t *st, const storage_tenant_t *tenant, storage_suppression_cb cb, void *ctx)
{
    bool began;
    int64_t tid;
    int ret = stg_txn_open(st, false, &began);
    if (ret != 0)
        return ret;
    if ((ret = stg_tenant_id(st, tenant, false, &tid)) == STORAGE_ENOTFOUND) {
        ret = stg_txn_close(st, began, 0); /* an unknown tenant has none */
        return ret;
    }
    stg_stmt_t *s = ret == 0 ? stg_stmt(st, S_SUPPRESS_LIST) : NULL;
    if (ret == 0 && s == NULL)
        ret = STORAGE_EIO;
    if (ret == 0) {
        stg_bind_int64(s, 1, tid);
        int rc;
        while ((rc = stg_step(st, s)) == STG_ROW) {
            const char *v = stg_col_text(s, 1);
            size_t n = (size_t)stg_col_bytes(s, 1);
            if ((ret = cb(ctx, (storage_id_type_t)stg_col_int(s, 0), v != NULL ? v : "", n, stg_col_int64(s, 2))) != 0)
                break;
        }
        if (ret == 0 && rc != STG_DONE)
            ret = rc;
        stg_reset(s);
    }
    /* cb's value is not a failure of the read */
    int cret = stg_txn_close(st, began, ret < 0 ? ret : 0);
    return cret != 0 ? cret : ret;
}

int
storage_suppression_remove(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len)
{
    if (id_type != STORAGE_ID_USER && id_type != STORAGE_ID_ANONYMOUS)
        return stg_fail(st, STORAGE_EINVAL, "only userIds and anonymousIds are suppressed");
    bool began;
    int64_t tid;
    int ret = stg_txn_open(st, true, &began);
    if (ret != 0)
        return ret;
    if ((ret = stg_tenant_id(st, tenant, false, &tid)) == STORAGE_ENOTFOUND)
        ret = stg_fail(st, STORAGE_ENOTFOUND, "not on the suppression list");
    stg_stmt_t *s = ret == 0 ? stg_stmt(st, S_SUPPRESS_REMOVE) : NULL;
    if (ret == 0 && s == NULL)
        ret = STORAGE_EIO;
    if (ret == 0) {
        stg_bind_int64(s, 1, tid);
        stg_bind_int(s, 2, (int)id_type);
        stg_bind_text(s, 3, id, id_len);
        if ((ret = stg_step_done(st, s)) == 0 && stg_changes(st) == 0)
            ret = stg_fail(st, STORAGE_ENOTFOUND, "not on the suppression list");
    }
    return stg_txn_close(st, began, ret);
}
