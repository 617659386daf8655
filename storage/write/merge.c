/* merge.c -- merging two profiles of one tenant that turned out to be the
 * same person (a message linking their ids, or an alias). The older profile
 * keeps its id and createdBy and receives everything of the other (computed
 * state and trait history included), which is deleted; merges are counted and capped at
 * STORAGE_MERGE_CAP. */
#include "../write/write.h"

static int
profile_age(storage_t *st, int64_t pk, int64_t *created_ms, int64_t *merges)
{
    stg_stmt_t *s = stg_stmt(st, S_PROFILE_AGE);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, pk);
    int rc = stg_step(st, s), ret = 0;
    if (rc == STG_ROW) {
        *created_ms = stg_col_int64(s, 0);
        *merges = stg_col_int64(s, 1);
    } else {
        ret = rc == STG_DONE ? stg_fail(st, STORAGE_EIO, "profile %lld vanished during a merge", (long long)pk) : rc;
    }
    stg_reset(s);
    return ret;
}

int
stg_profile_order(storage_t *st, int64_t a, int64_t b, int64_t *older, int64_t *newer)
{
    int64_t ca = 0, cb = 0, ma = 0, mb = 0;
    int ret;
    if ((ret = profile_age(st, a, &ca, &ma)) != 0 || (ret = profile_age(st, b, &cb, &mb)) != 0)
        return ret;
    bool a_first = ca < cb || (ca == cb && a < b);
    *older = a_first ? a : b;
    *newer = a_first ? b : a;
    return 0;
}

/* Runs a merge step: ?1 = keep, ?2 = drop for moves; ?1 = drop for the
 * deletes that sweep what could not move (already on keep). */
static int
step(storage_t *st, enum stmt_id id, int64_t first, int64_t second, bool two)
{
    stg_stmt_t *s = stg_stmt(st, id);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, first);
    if (two)
        stg_bind_int64(s, 2, second);
    return stg_step_done(st, s);
}

int
stg_profile_merge(storage_t *st, int64_t keep, int64_t drop, int64_t now_ms)
{
    static const struct {
        enum stmt_id move, sweep;
    } parts[] = {
        {S_MERGE_IDENTITIES, S_MERGE_IDENTITIES_DROP},
        {S_MERGE_EVENTS, S_COUNT},
        {S_MERGE_EVENT_PROF, S_COUNT},
        {S_MERGE_EVENT_PROF_HOT, S_COUNT},
        {S_MERGE_TRAITS, S_MERGE_TRAITS_DROP},
        {S_MERGE_MARKS, S_MERGE_MARKS_DROP},
        {S_MERGE_MARKS_HOT, S_MERGE_MARKS_HOT_DROP}, /* each level in itself: reads take the better of the two */
        {S_MERGE_AUDIENCES, S_MERGE_AUDIENCES_DROP},
        {S_MERGE_COMP, S_MERGE_COMP_DROP},
        {S_MERGE_COMP_DAYS, S_MERGE_COMP_DAYS_DROP},
        {S_MERGE_COMP_FREQ, S_MERGE_COMP_FREQ_DROP},
        {S_MERGE_HISTORY, S_COUNT}, /* both sides' trait changes, on keep */
    };
    int64_t created = 0, keep_merges = 0, drop_merges = 0;
    int ret;
    /* A merge moves ids between profiles: not under the shared write lock
     * (locks.c), where the writer stores the group again, exclusively. */
    if (st->pg_shared)
        return stg_fail(st, STORAGE_EBUSY, "a merge needs the exclusive write lock");
    /* Deferred activity times must be in the rows the merge combines. */
    if ((ret = stg_defer_flush(st)) != 0)
        return ret;
    if ((ret = profile_age(st, keep, &created, &keep_merges)) != 0 || (ret = profile_age(st, drop, &created, &drop_merges)) != 0)
        return ret;
    /* A shared device or a bad integration can chain every profile of a
     * tenant together; past the cap the profiles stay apart. */
    if (keep_merges + drop_merges + 1 > STORAGE_MERGE_CAP)
        return 1;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if ((ret = step(st, parts[i].move, keep, drop, true)) != 0)
            return ret;
        if (parts[i].sweep != S_COUNT && (ret = step(st, parts[i].sweep, drop, 0, false)) != 0)
            return ret;
    }
    /* the rows, then (SQLite) the times: the later activity, updated now */
    for (int k = 0; k < 2; k++) {
        stg_stmt_t *s = stg_stmt(st, k == 0 ? S_MERGE_PROFILE : S_MERGE_PROFILE_TIMES);
        if (s == NULL)
            return STORAGE_EIO;
        stg_bind_int64(s, 1, keep);
        stg_bind_int64(s, 2, drop);
        if (k == 1 || st->pg) /* PostgreSQL's row holds the times too */
            stg_bind_int64(s, 3, now_ms);
        if ((ret = stg_step_done(st, s)) != 0)
            return ret;
    }
    if ((ret = step(st, S_MERGE_PROFILE_DROP, drop, 0, false)) != 0)
        return ret;
    /* Computed state combines like the rest (counts add, ...), but a
     * recompute that already passed keep would miss drop's older events. */
    if ((ret = stg_computed_after_merge(st, keep, now_ms)) != 0)
        return ret;
    /* Cached identities may point at the dropped profile. */
    stg_idcache_clear(&st->ids);
    return 0;
}
