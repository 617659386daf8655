/* tokens.c -- the rows behind API tokens: insert, revoke, enumerate, and
 * the generation number pollers use to notice changes (bumped by triggers
 * in the schema, so writes from any process count). Hashing and token
 * formats belong to auth/. */
#include <string.h>
#include "storage_internal.h"

#define TOKEN_HASH_BYTES 32

static void
bind_opt_text(sqlite3_stmt *s, int idx, const char *p)
{
    if (p == NULL)
        sqlite3_bind_null(s, idx);
    else
        stg_bind_text(s, idx, p, strlen(p));
}

int
storage_token_insert(storage_t *st, const storage_token_row_t *row)
{
    if (row == NULL || row->id == NULL || row->hash == NULL || row->client == NULL || row->account == NULL)
        return stg_fail(st, STORAGE_EINVAL, "token row needs id, hash, client and account");
    sqlite3_stmt *s = stg_stmt(st, S_TOKEN_ADD);
    if (s == NULL)
        return STORAGE_EIO;
    bind_opt_text(s, 1, row->id);
    sqlite3_bind_blob(s, 2, row->hash, TOKEN_HASH_BYTES, SQLITE_TRANSIENT);
    bind_opt_text(s, 3, row->client);
    bind_opt_text(s, 4, row->account);
    bind_opt_text(s, 5, row->brand);
    bind_opt_text(s, 6, row->name);
    sqlite3_bind_int64(s, 7, row->created_ms);
    if (row->revoked_ms != 0)
        sqlite3_bind_int64(s, 8, row->revoked_ms);
    else
        sqlite3_bind_null(s, 8);
    sqlite3_bind_double(s, 9, row->rate);
    sqlite3_bind_double(s, 10, row->burst);
    int ret = stg_step_done(st, s);
    if (ret == 0 && sqlite3_changes(st->db) == 0)
        ret = stg_fail(st, STORAGE_EEXIST, "token id %s exists", row->id);
    return ret;
}

int
storage_token_revoke(storage_t *st, const char *id, int64_t now_ms)
{
    if (id == NULL)
        return stg_fail(st, STORAGE_EINVAL, "token id missing");
    sqlite3_stmt *s = stg_stmt(st, S_TOKEN_REVOKE);
    if (s == NULL)
        return STORAGE_EIO;
    bind_opt_text(s, 1, id);
    sqlite3_bind_int64(s, 2, now_ms);
    int ret = stg_step_done(st, s);
    if (ret == 0 && sqlite3_changes(st->db) == 0)
        ret = stg_fail(st, STORAGE_ENOTFOUND, "no active token %s", id);
    return ret;
}

int
storage_token_foreach(storage_t *st, storage_token_cb cb, void *ctx)
{
    sqlite3_stmt *s = stg_stmt(st, S_TOKEN_ALL);
    if (s == NULL)
        return STORAGE_EIO;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        storage_token_row_t row = {
            .id = (const char *)sqlite3_column_text(s, 0),
            .hash = sqlite3_column_blob(s, 1),
            .client = (const char *)sqlite3_column_text(s, 2),
            .account = (const char *)sqlite3_column_text(s, 3),
            .brand = (const char *)sqlite3_column_text(s, 4),
            .name = (const char *)sqlite3_column_text(s, 5),
            .created_ms = sqlite3_column_int64(s, 6),
            .revoked_ms = sqlite3_column_int64(s, 7),
            .rate = sqlite3_column_double(s, 8),
            .burst = sqlite3_column_double(s, 9),
        };
        /* A row not written by storage_token_insert could hold a short
         * hash; callers may read 32 bytes. */
        if (row.hash == NULL || sqlite3_column_bytes(s, 1) != TOKEN_HASH_BYTES)
            continue;
        if ((ret = cb(ctx, &row)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = stg_db_error(st, rc);
    sqlite3_reset(s);
    return ret;
}

int
storage_token_generation(storage_t *st, int64_t *gen)
{
    sqlite3_stmt *s = stg_stmt(st, S_TOKEN_GENERATION);
    if (s == NULL)
        return STORAGE_EIO;
    return stg_step_int64(st, s, gen);
}
