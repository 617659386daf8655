/* cursor.c -- scroll cursors, shared by the events timeline (events.c) and
 * trait history (history.c): the opaque scrollId, the cursor row (query,
 * snapshot mark, keyset position, expiry), and a scroll's first and next
 * page around a page builder of each kind. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "../read/read.h"

#define SCROLL_ID_BYTES 16

void
stg_scroll_free(stg_scroll_t *sc)
{
    free(sc->profiles);
    free(sc->include);
    free(sc->exclude);
    free(sc->kind);
    free(sc->trait);
    free(sc->pos_id);
}

static int64_t
expiry(int64_t now_ms, int64_t ttl_ms)
{
    if (ttl_ms > 0 && now_ms > INT64_MAX - ttl_ms)
        return INT64_MAX;
    if (ttl_ms < 0 && now_ms < INT64_MIN - ttl_ms)
        return INT64_MIN;
    return now_ms + ttl_ms;
}

static void
new_scroll_id(char out[STG_SCROLL_ID_LEN + 1])
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char b[SCROLL_ID_BYTES];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* As base_uuid_v4: the kernel, or nothing. */
        if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
            abort();
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof(b); i++) {
        acc = acc << 8 | b[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = tbl[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = tbl[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static bool
scroll_id_valid(const char *id, size_t n)
{
    if (id == NULL || n != STG_SCROLL_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Appends to pks (a JSON array) the pks of the profiles id leads to. */
static int
find_profiles(storage_t *st, int64_t tid, storage_id_type_t id_type, const char *id, size_t id_len, jsonbuf_t *pks, size_t *count)
{
    char *lower;
    int rc, ret = 0;
    *count = 0;
    stg_stmt_t *s = stg_profile_lookup(st, tid, id_type, id, id_len, &lower);
    if (s == NULL)
        return STORAGE_EIO;
    base_jb_open(pks, '[');
    while ((rc = stg_step(st, s)) == STG_ROW) {
        base_jb_int(pks, stg_col_int64(s, 0));
        (*count)++;
    }
    base_jb_close(pks, ']');
    if (rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    free(lower);
    return ret;
}

static void
write_null_or_raw(jsonbuf_t *b, const char *s, size_t n)
{
    if (s != NULL)
        base_jb_raw(b, s, n);
    else
        base_jb_raw(b, "null", 4);
}

static void
bind_position(stg_stmt_t *s, int idx, const stg_scroll_t *sc)
{
    if (sc->has_pos) {
        stg_bind_int64(s, idx, sc->pos_time_ms);
        stg_bind_text(s, idx + 1, sc->pos_id, sc->pos_id_len);
    } else {
        stg_bind_null(s, idx);
        stg_bind_null(s, idx + 1);
    }
}

static int
cursor_add(storage_t *st, const char *id, int64_t tid, const stg_scroll_t *sc, int64_t now_ms, int64_t expires_ms)
{
    stg_stmt_t *s = stg_stmt(st, S_CURSOR_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    jsonbuf_t q;
    base_jb_init(&q, 256);
    base_jb_open(&q, '{');
    base_jb_key(&q, "p", 1);
    base_jb_raw(&q, sc->profiles, strlen(sc->profiles));
    base_jb_key(&q, "i", 1);
    write_null_or_raw(&q, sc->include, sc->include != NULL ? strlen(sc->include) : 0);
    base_jb_key(&q, "x", 1);
    write_null_or_raw(&q, sc->exclude, sc->exclude != NULL ? strlen(sc->exclude) : 0);
    /* No bound is null: the extremes need not survive a JSON round trip. */
    base_jb_key(&q, "s", 1);
    if (sc->start_ms != INT64_MIN)
        base_jb_int(&q, sc->start_ms);
    else
        base_jb_raw(&q, "null", 4);
    base_jb_key(&q, "e", 1);
    if (sc->end_ms != INT64_MAX)
        base_jb_int(&q, sc->end_ms);
    else
        base_jb_raw(&q, "null", 4);
    base_jb_key(&q, "d", 1);
    base_jb_int(&q, sc->desc);
    base_jb_key(&q, "l", 1);
    base_jb_int(&q, sc->limit);
    if (sc->kind != NULL) { /* absent: an events scroll (as before kinds) */
        base_jb_key(&q, "k", 1);
        base_jb_str(&q, sc->kind, strlen(sc->kind));
        base_jb_key(&q, "t", 1);
        base_jb_str(&q, sc->trait != NULL ? sc->trait : "", sc->trait != NULL ? sc->trait_len : 0);
    }
    base_jb_close(&q, '}');

    stg_bind_text(s, 1, id, strlen(id));
    stg_bind_int64(s, 2, tid);
    stg_bind_text(s, 3, q.data, q.len);
    stg_bind_int64(s, 4, sc->mark);
    bind_position(s, 5, sc);
    stg_bind_int64(s, 7, expires_ms);
    stg_bind_int64(s, 8, now_ms);
    int ret = stg_step_done(st, s);
    base_jb_free(&q);
    return ret;
}

/* Loads the live cursor id of tenant tid and of kind (NULL: events) into
 * sc; STORAGE_ENOTFOUND when there is none. */
static int
cursor_get(storage_t *st, const char *id, size_t id_len, int64_t tid, const char *kind, int64_t now_ms, stg_scroll_t *sc)
{
    stg_stmt_t *s = stg_stmt(st, S_CURSOR_GET);
    size_t n;
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_text(s, 1, id, id_len);
    int rc = stg_step(st, s), ret = 0;
    if (rc != STG_ROW) {
        ret = rc == STG_DONE ? STORAGE_ENOTFOUND : rc;
        goto done;
    }
    if (stg_col_int64(s, 0) != tid || stg_col_int64(s, 4) <= now_ms) {
        ret = STORAGE_ENOTFOUND;
        goto done;
    }
    const char *k = stg_col_text(s, 12);
    if ((kind == NULL) != (k == NULL) || (kind != NULL && strcmp(kind, k) != 0)) {
        ret = STORAGE_ENOTFOUND; /* another kind's scroll */
        goto done;
    }
    sc->mark = stg_col_int64(s, 1);
    sc->pos_id = stg_col_copy(s, 3, &sc->pos_id_len);
    sc->has_pos = stg_col_type(s, 2) != STG_NULL && sc->pos_id != NULL;
    sc->pos_time_ms = stg_col_int64(s, 2);
    sc->profiles = stg_col_copy(s, 5, &n);
    sc->include = stg_col_copy(s, 6, &n);
    sc->exclude = stg_col_copy(s, 7, &n);
    sc->start_ms = stg_col_type(s, 8) == STG_NULL ? INT64_MIN : stg_col_int64(s, 8);
    sc->end_ms = stg_col_type(s, 9) == STG_NULL ? INT64_MAX : stg_col_int64(s, 9);
    sc->desc = stg_col_int(s, 10) != 0;
    sc->limit = stg_col_int(s, 11);
    sc->kind = stg_col_copy(s, 12, &n);
    sc->trait = stg_col_copy(s, 13, &sc->trait_len);
    if (sc->profiles == NULL || sc->limit < 1 || sc->limit > STG_SCROLL_MAX_LIMIT)
        ret = stg_fail(st, STORAGE_EIO, "cursor %.*s is corrupt", (int)id_len, id);
done:
    stg_reset(s);
    return ret;
}

static int
cursor_move(storage_t *st, const char *id, const stg_scroll_t *sc, int64_t expires_ms)
{
    stg_stmt_t *s = stg_stmt(st, S_CURSOR_MOVE);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_text(s, 1, id, strlen(id));
    bind_position(s, 2, sc);
    stg_bind_int64(s, 4, expires_ms);
    return stg_step_done(st, s);
}

static int
read_write_only(storage_t *st)
{
    if (st->flags & STORAGE_READONLY)
        return stg_fail(st, STORAGE_EIO, "scrolls write cursors: the connection is read-only");
    return 0;
}

int
stg_scroll_begin(storage_t *st, const storage_tenant_t *tenant, storage_id_type_t id_type, const char *id, size_t id_len,
                 stg_scroll_t *sc, enum stmt_id mark_stmt, stg_page_fn page, int64_t now_ms, int64_t ttl_ms, char **body,
                 size_t *len)
{
    jsonbuf_t pks = {0}, b = {0};
    char scroll_id[STG_SCROLL_ID_LEN + 1];
    size_t count = 0;
    int64_t tid;
    bool began = false;
    int ret;
    *body = NULL;
    *len = 0;
    if (id == NULL || (unsigned)id_type > STORAGE_ID_INTERNAL) {
        ret = stg_fail(st, STORAGE_EINVAL, "invalid id type or query");
        goto out;
    }
    if (sc->limit < 1 || sc->limit > STG_SCROLL_MAX_LIMIT) {
        ret = stg_fail(st, STORAGE_EINVAL, "limit must be 1..%d", STG_SCROLL_MAX_LIMIT);
        goto out;
    }
    if ((ret = read_write_only(st)) != 0)
        goto out;
    if ((ret = stg_txn_open(st, true, &began)) != 0)
        goto done;
    if ((ret = stg_tenant_id(st, tenant, false, &tid)) != 0)
        goto done;
    base_jb_init(&pks, 64);
    if ((ret = find_profiles(st, tid, id_type, id, id_len, &pks, &count)) != 0)
        goto done;
    if (count == 0) {
        ret = STORAGE_ENOTFOUND;
        goto done;
    }
    sc->profiles = pks.data;
    pks.data = NULL;
    stg_stmt_t *s = stg_stmt(st, mark_stmt);
    if (s == NULL || (ret = stg_step_int64(st, s, &sc->mark)) != 0) {
        ret = s == NULL ? STORAGE_EIO : ret;
        goto done;
    }
    new_scroll_id(scroll_id);
    base_jb_init(&b, 4096);
    if ((ret = page(st, tenant, tid, sc, scroll_id, &b)) != 0)
        goto done;
    ret = cursor_add(st, scroll_id, tid, sc, now_ms, expiry(now_ms, ttl_ms));
done:
    if (ret == STORAGE_ENOTFOUND)
        stg_fail(st, ret, "profile not found");
    ret = stg_txn_close_body(st, began, ret, &b, body, len);
out:
    stg_scroll_free(sc);
    base_jb_free(&pks);
    return ret;
}

int
stg_scroll_next(storage_t *st, const storage_tenant_t *tenant, const char *scroll_id, size_t scroll_id_len, const char *kind,
                stg_page_fn page, int64_t now_ms, int64_t ttl_ms, char **body, size_t *len)
{
    stg_scroll_t sc = {0};
    jsonbuf_t b = {0};
    char id[STG_SCROLL_ID_LEN + 1];
    int64_t tid;
    bool began = false;
    int ret;
    *body = NULL;
    *len = 0;
    if ((ret = read_write_only(st)) != 0)
        return ret;
    if (!scroll_id_valid(scroll_id, scroll_id_len))
        return stg_fail(st, STORAGE_ENOTFOUND, "scrollId is invalid or has timed out");
    memcpy(id, scroll_id, STG_SCROLL_ID_LEN);
    id[STG_SCROLL_ID_LEN] = '\0';

    if ((ret = stg_txn_open(st, true, &began)) != 0)
        goto done;
    if ((ret = stg_tenant_id(st, tenant, false, &tid)) != 0)
        goto done;
    if ((ret = cursor_get(st, id, STG_SCROLL_ID_LEN, tid, kind, now_ms, &sc)) != 0)
        goto done;
    base_jb_init(&b, 4096);
    if ((ret = page(st, tenant, tid, &sc, id, &b)) != 0)
        goto done;
    ret = cursor_move(st, id, &sc, expiry(now_ms, ttl_ms));
done:
    if (ret == STORAGE_ENOTFOUND)
        stg_fail(st, ret, "scrollId is invalid or has timed out");
    ret = stg_txn_close_body(st, began, ret, &b, body, len);
    stg_scroll_free(&sc);
    return ret;
}

int
storage_cursor_sweep(storage_t *st, int64_t now_ms, int64_t *deleted)
{
    if (deleted != NULL)
        *deleted = 0;
    stg_stmt_t *s = stg_stmt(st, S_CURSOR_SWEEP);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, now_ms);
    int ret = stg_step_done(st, s);
    if (ret == 0 && deleted != NULL)
        *deleted = stg_changes(st);
    return ret;
}

int
storage_cursor_count(storage_t *st, int64_t now_ms, int64_t *live)
{
    *live = 0;
    stg_stmt_t *s = stg_stmt(st, S_CURSOR_COUNT);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_int64(s, 1, now_ms);
    return stg_step_int64(st, s, live);
}
