/* tokens.c -- the rows behind API tokens: insert, revoke, enumerate, and
 * the generation number pollers use to notice changes (bumped by triggers
 * in the schema, so writes from any process count). Hashing and token
 * formats belong to auth/. */
#include <string.h>
#include "../db/db.h"

#define TOKEN_HASH_BYTES 32

static void
bind_opt_text(stg_stmt_t *s, int idx, const char *p)
{
    if (p == NULL)
        stg_bind_null(s, idx);
    else
        stg_bind_text(s, idx, p, strlen(p));
}

int
storage_token_insert(storage_t *st, const storage_token_row_t *row)
{
    if (row == NULL || row->id == NULL || row->hash == NULL || row->client == NULL || row->account == NULL)
        return stg_fail(st, STORAGE_EINVAL, "token row needs id, hash, client and account");
    stg_stmt_t *s = stg_stmt(st, S_TOKEN_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    bind_opt_text(s, 1, row->id);
    stg_bind_blob(s, 2, row->hash, TOKEN_HASH_BYTES);
    bind_opt_text(s, 3, row->client);
    bind_opt_text(s, 4, row->account);
    bind_opt_text(s, 5, row->brand);
    bind_opt_text(s, 6, row->name);
    stg_bind_int64(s, 7, row->created_ms);
    if (row->revoked_ms != 0)
        stg_bind_int64(s, 8, row->revoked_ms);
    else
        stg_bind_null(s, 8);
    stg_bind_double(s, 9, row->rate);
    stg_bind_double(s, 10, row->burst);
    stg_bind_int64(s, 11, (int64_t)row->permissions);
    int ret = stg_step_done(st, s);
    if (ret == 0 && stg_changes(st) == 0)
        ret = stg_fail(st, STORAGE_EEXIST, "token id %s exists", row->id);
    return ret;
}

int
storage_token_revoke(storage_t *st, const char *id, int64_t now_ms)
{
    if (id == NULL)
        return stg_fail(st, STORAGE_EINVAL, "token id missing");
    stg_stmt_t *s = stg_stmt(st, S_TOKEN_REVOKE);
    if (s == NULL)
        return STORAGE_EIO;
    bind_opt_text(s, 1, id);
    stg_bind_int64(s, 2, now_ms);
    int ret = stg_step_done(st, s);
    if (ret == 0 && stg_changes(st) == 0)
        ret = stg_fail(st, STORAGE_ENOTFOUND, "no active token %s", id);
    return ret;
}

int
storage_token_foreach(storage_t *st, storage_token_cb cb, void *ctx)
{
    stg_stmt_t *s = stg_stmt(st, S_TOKEN_ALL);
    if (s == NULL)
        return STORAGE_EIO;
    int rc, ret = 0;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        storage_token_row_t row = {
            .id = stg_col_text(s, 0),
            .hash = stg_col_blob(s, 1),
            .client = stg_col_text(s, 2),
            .account = stg_col_text(s, 3),
            .brand = stg_col_text(s, 4),
            .name = stg_col_text(s, 5),
            .created_ms = stg_col_int64(s, 6),
            .revoked_ms = stg_col_int64(s, 7),
            .rate = stg_col_double(s, 8),
            .burst = stg_col_double(s, 9),
            .permissions = (unsigned)stg_col_int64(s, 10) & STORAGE_PERM_ALL,
        };
        /* A row not written by storage_token_insert could hold a short
         * hash; callers may read 32 bytes. */
        if (row.hash == NULL || stg_col_bytes(s, 1) != TOKEN_HASH_BYTES)
            continue;
        if ((ret = cb(ctx, &row)) != 0)
            break;
    }
    if (ret == 0 && rc != STG_DONE)
        ret = rc;
    stg_reset(s);
    return ret;
}

int
storage_token_generation(storage_t *st, int64_t *gen)
{
    stg_stmt_t *s = stg_stmt(st, S_TOKEN_GENERATION);
    if (s == NULL)
        return STORAGE_EIO;
    return stg_step_int64(st, s, gen);
}
