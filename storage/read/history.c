/* history.c -- trait history reads: a trait's changes newest first, paged
 * by a sealed scrollId (cursor.c) whose position is the last row's (time,
 * history row id), below a snapshot mark (the highest row id then); the
 * retention's cutoff and its sweep. The rows are written by the trait
 * upsert (db/defer.c), moved by merges, deleted by erasure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../read/read.h"

#define DAY_MS 86400000LL
#define SWEEP_BATCH 10000

void
storage_set_trait_history(storage_t *st, int days)
{
    st->trait_history_days = days > 0 ? days : 0;
}

int64_t
stg_history_oldest(const storage_t *st)
{
    int64_t now = stg_now(st), keep = (int64_t)st->trait_history_days * DAY_MS;
    return now > INT64_MIN + keep ? now - keep : INT64_MIN;
}

static void
write_change(jsonbuf_t *b, stg_stmt_t *s)
{
    base_jb_open(b, '{');
    base_jb_key(b, "value", 5);
    base_jb_raw(b, stg_col_text(s, 1), (size_t)stg_col_bytes(s, 1));
    base_jb_key(b, "time", 4);
    base_jb_time(b, stg_col_int64(s, 2));
    base_jb_key(b, "messageId", 9);
    const char *id = stg_col_text(s, 3);
    if (id != NULL)
        base_jb_str(b, id, (size_t)stg_col_bytes(s, 3));
    else
        base_jb_raw(b, "null", 4);
    base_jb_close(b, '}');
}

static int
read_page(storage_t *st, const storage_tenant_t *t, int64_t tid, stg_scroll_t *sc, jsonbuf_t *b)
{
    (void)t;
    stg_stmt_t *s = stg_stmt(st, S_HISTORY_PAGE);
    if (s == NULL)
        return STORAGE_EIO;
    int64_t oldest = stg_history_oldest(st), last_pk = 0, last_t = 0;
    stg_bind_int64(s, 1, tid);
    stg_bind_text(s, 2, sc->profiles, strlen(sc->profiles));
    stg_bind_text(s, 3, sc->trait != NULL ? sc->trait : "", sc->trait_len);
    stg_bind_int64(s, 4, sc->mark);
    stg_bind_int64(s, 5, sc->start_ms > oldest ? sc->start_ms : oldest);
    stg_bind_int64(s, 6, sc->end_ms);
    if (sc->has_pos) {
        stg_bind_int64(s, 7, sc->pos_time_ms);
        stg_bind_int64(s, 8, strtoll(sc->pos_id, NULL, 10));
    } else {
        stg_bind_null(s, 7);
        stg_bind_null(s, 8);
    }
    stg_bind_int(s, 9, sc->limit);
    stg_bind_text(s, 10, sc->snap, sc->snap_len); /* PostgreSQL's only */
    base_jb_open(b, '[');
    int rc;
    bool any = false;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        write_change(b, s);
        last_pk = stg_col_int64(s, 0);
        last_t = stg_col_int64(s, 2);
        any = true;
    }
    stg_reset(s);
    base_jb_close(b, ']');
    if (rc != STG_DONE)
        return rc;
    if (any) {
        char pos[24];
        int n = snprintf(pos, sizeof(pos), "%lld", (long long)last_pk);
        free(sc->pos_id);
        sc->pos_id = base_xstrndup(pos, (size_t)n);
        sc->pos_id_len = (size_t)n;
        sc->pos_time_ms = last_t;
        sc->has_pos = true;
    }
    return 0;
}

int
storage_trait_history_begin(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                            const storage_history_query_t *q, int64_t now_ms, int64_t ttl_ms, char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (st->trait_history_days <= 0)
        return stg_fail(st, STORAGE_EINVAL, "trait history is turned off");
    if (q == NULL || q->trait == NULL)
        return stg_fail(st, STORAGE_EINVAL, "a trait key is needed");
    stg_scroll_t sc = {
        .kind = STG_SCROLL_HISTORY,
        .trait = base_xstrndup(q->trait, q->trait_len),
        .trait_len = q->trait_len,
        .start_ms = q->start_ms,
        .end_ms = q->end_ms,
        .desc = true,
        .limit = q->limit,
    };
    return stg_scroll_begin(st, tenant, id_type, id, id_len, &sc, S_HISTORY_MARK, read_page, now_ms, ttl_ms, body, len);
}

int
storage_trait_history_next(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                           const char *scroll_id, size_t scroll_id_len, int64_t now_ms, int64_t ttl_ms, char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    if (st->trait_history_days <= 0)
        return stg_fail(st, STORAGE_EINVAL, "trait history is turned off");
    return stg_scroll_next(st, tenant, id_type, id, id_len, scroll_id, scroll_id_len, STG_SCROLL_HISTORY, read_page, now_ms, ttl_ms,
                           body, len);
}

int
storage_trait_history_sweep(storage_t *st, int64_t now_ms, int64_t *deleted)
{
    if (deleted != NULL)
        *deleted = 0;
    if (st->trait_history_days <= 0)
        return 0;
    stg_stmt_t *s = stg_stmt(st, S_HISTORY_SWEEP);
    if (s == NULL)
        return STORAGE_EIO;
    int64_t keep = (int64_t)st->trait_history_days * DAY_MS;
    stg_bind_int64(s, 1, now_ms > INT64_MIN + keep ? now_ms - keep : INT64_MIN);
    stg_bind_int(s, 2, SWEEP_BATCH);
    int ret = stg_step_done(st, s);
    if (ret == 0 && deleted != NULL)
        *deleted = stg_changes(st);
    return ret;
}
