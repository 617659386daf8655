/* storage.c -- the connection: open with its pragmas and migrations, close,
 * error reporting (and the watch for a damaged database), the
 * prepared-statement cache, transactions, and tenant row ids. */
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "storage_internal.h"

/* A write transaction of an import touches tens of MB: keep it in memory. */
#define RW_CACHE_KIB 65536
/* Events are rows of about a kilobyte, written in bulk: 16 KiB pages halve
 * the WAL traffic of an import compared with 4 KiB (measured). */
#define PAGE_BYTES 16384
/* A WAL that grew during an import is cut back to this after a reset. */
#define WAL_LIMIT_BYTES (64 * 1024 * 1024)
#define RO_CACHE_KIB 16384
#define BUSY_TIMEOUT_MS 5000
#define IDCACHE_SLOTS (1u << 15)

/* The damage watch (storage_watch_damage): set before any thread starts,
 * then only read, but for the once-only report. */
static storage_damage_fn damage_fn;
static void *damage_ctx;
static bool damage_watched;
static _Atomic int damage_state; /* 0 none, 1 being recorded, 2 recorded */
static char damage_what[256];

static bool
is_damage(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

static void
report_damage(const char *what)
{
    int none = 0;
    if (!damage_watched || !atomic_compare_exchange_strong(&damage_state, &none, 1))
        return;
    snprintf(damage_what, sizeof(damage_what), "%s", what != NULL ? what : "database damaged");
    atomic_store(&damage_state, 2);
    if (damage_fn != NULL)
        damage_fn(damage_ctx, damage_what);
}

/* SQLite's error log: it reports corruption where it finds it, also inside
 * statements whose callers see only a generic failure. */
static void
on_sqlite_log(void *ctx, int code, const char *msg)
{
    (void)ctx;
    if (is_damage(code))
        report_damage(msg);
}

void
storage_watch_damage(storage_damage_fn fn, void *ctx)
{
    damage_fn = fn;
    damage_ctx = ctx;
    damage_watched = true;
    sqlite3_config(SQLITE_CONFIG_LOG, on_sqlite_log, NULL);
}

bool
storage_damaged(const char **what)
{
    bool seen = atomic_load(&damage_state) == 2;
    if (what != NULL)
        *what = seen ? damage_what : NULL;
    return seen;
}

static void
put_err(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", msg);
}

int
stg_fail(storage_t *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
    return code;
}

int
stg_db_error(storage_t *st, int rc)
{
    snprintf(st->err, sizeof(st->err), "sqlite: %s", sqlite3_errmsg(st->db));
    if (is_damage(rc))
        report_damage(st->err);
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? STORAGE_EBUSY : STORAGE_EIO;
}

sqlite3_stmt *
stg_stmt(storage_t *st, enum stmt_id id)
{
    assert(id < S_COUNT);
    if (st->stmts[id] == NULL) {
        int rc = sqlite3_prepare_v3(st->db, stg_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            stg_db_error(st, rc);
            st->stmts[id] = NULL;
            return NULL;
        }
    }
    return st->stmts[id];
}

int
stg_step_done(storage_t *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = stg_db_error(st, rc);
    sqlite3_reset(s);
    return ret;
}

int
stg_bind_text(sqlite3_stmt *s, int idx, const char *p, size_t n)
{
    if (p == NULL)
        return sqlite3_bind_null(s, idx);
    return sqlite3_bind_text64(s, idx, p, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}

bool
stg_in_txn(const storage_t *st)
{
    return !sqlite3_get_autocommit(st->db);
}

void
stg_forget(storage_t *st)
{
    stg_idcache_clear(&st->ids);
    stg_defer_discard(st);
    st->tenant_id = 0;
    st->comp_tid = 0;
    st->n_announced = 0;
}

static int
on_commit(void *ctx)
{
    storage_t *st = ctx;
    /* Announcements hold for one transaction (computed.c). */
    st->n_announced = 0;
    return 0;
}

/* A rolled-back tenant row leaves its id free for another tenant: forget
 * it too, or a later insert could land rows in the wrong tenant. */
static void
on_rollback(void *ctx)
{
    stg_forget(ctx);
}

static int
exec(storage_t *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(st->err, sizeof(st->err), "sqlite: %s", msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        if (is_damage(rc))
            report_damage(st->err);
        return (rc & 0xff) == SQLITE_BUSY ? STORAGE_EBUSY : STORAGE_EIO;
    }
    return 0;
}

static int
user_version(storage_t *st, int *version)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int ret = stg_db_error(st, rc);
        sqlite3_finalize(s);
        return ret;
    }
    *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return 0;
}

/* Applies the missing migration steps in one transaction, so a crash leaves
 * either the old schema or the new one. */
static int
migrate(storage_t *st)
{
    int version, ret;
    char sql[64];
    if ((ret = exec(st, "BEGIN IMMEDIATE")) != 0)
        return ret;
    if ((ret = user_version(st, &version)) != 0)
        goto fail;
    if (version > storage_schema_version()) {
        ret = stg_fail(st, STORAGE_EIO, "database schema version %d is newer than this build (%d)", version,
                       storage_schema_version());
        goto fail;
    }
    for (int v = version; v < storage_schema_version(); v++) {
        if ((ret = exec(st, stg_migration_sql(v))) != 0)
            goto fail;
    }
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", storage_schema_version());
    if ((ret = exec(st, sql)) != 0)
        goto fail;
    if ((ret = exec(st, "COMMIT")) != 0)
        goto fail;
    return 0;
fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

static int
check_version(storage_t *st)
{
    int version, ret;
    if ((ret = user_version(st, &version)) != 0)
        return ret;
    if (version == 0)
        return stg_fail(st, STORAGE_EIO, "database has no schema (open it read-write once to create it)");
    if (version > storage_schema_version())
        return stg_fail(st, STORAGE_EIO, "database schema version %d is newer than this build (%d)", version,
                        storage_schema_version());
    if (version < storage_schema_version())
        return stg_fail(st, STORAGE_EIO, "database schema version %d is older than this build (%d): open it read-write to migrate",
                        version, storage_schema_version());
    return 0;
}

int
storage_open(storage_t **out, const char *path, int flags, char *errbuf, size_t errlen)
{
    bool ro = (flags & STORAGE_READONLY) != 0;
    char pragmas[256];
    storage_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        abort();
    st->flags = flags;
    *out = NULL;

    /* One storage_t per thread: SQLite's own mutexes would be pure cost. */
    int oflags = SQLITE_OPEN_NOMUTEX | (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &st->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(st->err, sizeof(st->err), "cannot open %s: %s", path,
                 st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if (!ro) {
        /* page_size only takes on a new, empty database: before WAL. */
        snprintf(pragmas, sizeof(pragmas), "PRAGMA page_size = %d", PAGE_BYTES);
        if (exec(st, pragmas) != 0 || exec(st, "PRAGMA journal_mode = WAL") != 0)
            goto fail;
        snprintf(pragmas, sizeof(pragmas),
                 "PRAGMA synchronous = %s; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -%d; PRAGMA temp_store = MEMORY;"
                 " PRAGMA journal_size_limit = %d",
                 (flags & STORAGE_SYNC_FULL) ? "FULL" : "NORMAL", RW_CACHE_KIB, WAL_LIMIT_BYTES);
    } else {
        snprintf(pragmas, sizeof(pragmas), "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -%d", RO_CACHE_KIB);
    }
    if (exec(st, pragmas) != 0)
        goto fail;
    if ((ro ? check_version(st) : migrate(st)) != 0)
        goto fail;
    if (flags & STORAGE_NO_AUTOCHECKPOINT)
        sqlite3_wal_autocheckpoint(st->db, 0);

    stg_idcache_init(&st->ids, ro ? 16 : IDCACHE_SLOTS);
    sqlite3_commit_hook(st->db, on_commit, st);
    sqlite3_rollback_hook(st->db, on_rollback, st);
    *out = st;
    return 0;
fail:
    /* The header promises STORAGE_EIO for every failure to open. */
    put_err(errbuf, errlen, st->err);
    sqlite3_close_v2(st->db);
    free(st);
    return STORAGE_EIO;
}

void
storage_close(storage_t *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    sqlite3_close_v2(st->db);
    stg_idcache_dispose(&st->ids);
    stg_defer_dispose(st);
    free(st->tenant_key);
    free(st);
}

const char *
storage_errmsg(const storage_t *st)
{
    return st->err;
}

static int
run(storage_t *st, enum stmt_id id)
{
    sqlite3_stmt *s = stg_stmt(st, id);
    if (s == NULL)
        return STORAGE_EIO;
    return stg_step_done(st, s);
}

/* The identity cache outlives our transactions only while no other
 * connection (of this process or another) commits: PRAGMA data_version
 * changes exactly then. Checked when a transaction begins. */
static int
check_cache(storage_t *st)
{
    sqlite3_stmt *s = stg_stmt(st, S_DATA_VERSION);
    int64_t v;
    int ret = s != NULL ? stg_step_int64(st, s, &v) : STORAGE_EIO;
    if (ret == 0 && v != st->data_version) {
        stg_idcache_clear(&st->ids);
        st->data_version = v;
    }
    return ret;
}

int
storage_begin(storage_t *st)
{
    if (storage_damaged(NULL))
        return stg_fail(st, STORAGE_EIO, "the database is damaged: writes are refused (see profiled check)");
    int ret = run(st, S_BEGIN_IMMEDIATE);
    return ret != 0 ? ret : check_cache(st);
}

int
storage_commit(storage_t *st)
{
    int ret = stg_defer_flush(st);
    return ret != 0 ? ret : run(st, S_COMMIT);
}

int
storage_rollback(storage_t *st)
{
    if (!stg_in_txn(st))
        return 0;
    return run(st, S_ROLLBACK);
}

storage_tenant_t
storage_tenant(const char *client, const char *account, const char *brand)
{
    storage_tenant_t t = {
        .client = client,
        .client_len = client != NULL ? strlen(client) : 0,
        .account = account,
        .account_len = account != NULL ? strlen(account) : 0,
        .brand = brand,
        .brand_len = brand != NULL ? strlen(brand) : 0,
    };
    return t;
}

static bool
tenant_cached(const storage_t *st, const storage_tenant_t *t)
{
    if (st->tenant_id == 0 || st->tenant_lens[0] != t->client_len || st->tenant_lens[1] != t->account_len ||
        st->tenant_lens[2] != t->brand_len)
        return false;
    const char *k = st->tenant_key;
    return memcmp(k, t->client, t->client_len) == 0 && memcmp(k + t->client_len, t->account, t->account_len) == 0 &&
           (t->brand_len == 0 || memcmp(k + t->client_len + t->account_len, t->brand, t->brand_len) == 0);
}

static void
tenant_remember(storage_t *st, const storage_tenant_t *t, int64_t id)
{
    char *k = realloc(st->tenant_key, t->client_len + t->account_len + t->brand_len + 1);
    if (k == NULL)
        abort();
    memcpy(k, t->client, t->client_len);
    memcpy(k + t->client_len, t->account, t->account_len);
    if (t->brand_len > 0)
        memcpy(k + t->client_len + t->account_len, t->brand, t->brand_len);
    st->tenant_key = k;
    st->tenant_lens[0] = t->client_len;
    st->tenant_lens[1] = t->account_len;
    st->tenant_lens[2] = t->brand_len;
    st->tenant_id = id;
}

int
stg_tenant_id(storage_t *st, const storage_tenant_t *t, bool create, int64_t *id)
{
    if (t == NULL || t->client == NULL || t->account == NULL)
        return stg_fail(st, STORAGE_EINVAL, "tenant needs clientId and accountId");
    if (tenant_cached(st, t)) {
        *id = st->tenant_id;
        return 0;
    }
    /* A NULL brand is the empty brand. */
    const char *brand = t->brand != NULL ? t->brand : "";
    sqlite3_stmt *s = stg_stmt(st, S_TENANT_GET);
    if (s == NULL)
        return STORAGE_EIO;
    stg_bind_text(s, 1, t->client, t->client_len);
    stg_bind_text(s, 2, t->account, t->account_len);
    stg_bind_text(s, 3, brand, t->brand_len);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        tenant_remember(st, t, *id);
        return 0;
    }
    int ret = rc == SQLITE_DONE ? STORAGE_ENOTFOUND : stg_db_error(st, rc);
    sqlite3_reset(s);
    if (ret != STORAGE_ENOTFOUND || !create)
        return ret == STORAGE_ENOTFOUND ? stg_fail(st, ret, "no such tenant") : ret;

    if ((s = stg_stmt(st, S_TENANT_ADD)) == NULL)
        return STORAGE_EIO;
    stg_bind_text(s, 1, t->client, t->client_len);
    stg_bind_text(s, 2, t->account, t->account_len);
    stg_bind_text(s, 3, brand, t->brand_len);
    if ((ret = stg_step_done(st, s)) != 0)
        return ret;
    *id = sqlite3_last_insert_rowid(st->db);
    tenant_remember(st, t, *id);
    return 0;
}

int
stg_txn_open(storage_t *st, bool immediate, bool *began)
{
    *began = false;
    /* inside the caller's transaction (the writer's), pending writes must
     * be visible: flush them and join it */
    if (stg_in_txn(st))
        return stg_defer_flush(st);
    sqlite3_stmt *s = stg_stmt(st, immediate ? S_BEGIN_IMMEDIATE : S_BEGIN);
    if (s == NULL)
        return STORAGE_EIO;
    int ret = stg_step_done(st, s);
    *began = ret == 0;
    return ret != 0 || !immediate ? ret : check_cache(st);
}

int
stg_txn_close(storage_t *st, bool began, int ret)
{
    if (!began)
        return ret;
    if (ret == 0) {
        sqlite3_stmt *s = stg_stmt(st, S_COMMIT);
        ret = s != NULL ? stg_step_done(st, s) : STORAGE_EIO;
    }
    if (ret != 0)
        storage_rollback(st);
    return ret;
}

int
storage_checkpoint(storage_t *st, int64_t *log_bytes)
{
    int frames = 0;
    if (st->page_bytes == 0) {
        sqlite3_stmt *s = stg_stmt(st, S_PAGE_SIZE);
        int64_t v;
        if (s == NULL || stg_step_int64(st, s, &v) != 0)
            return STORAGE_EIO;
        st->page_bytes = (int)v;
    }
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL);
    if (log_bytes != NULL)
        *log_bytes = frames > 0 ? (int64_t)frames * st->page_bytes : 0;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return stg_fail(st, STORAGE_EBUSY, "checkpoint: %s", sqlite3_errmsg(st->db));
    return rc == SQLITE_OK ? 0 : stg_db_error(st, rc);
}

int
storage_cache_mb(storage_t *st, int mb)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%lld", (long long)mb * 1024);
    return exec(st, sql);
}

int
stg_step_int64(storage_t *st, sqlite3_stmt *s, int64_t *out)
{
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        ret = stg_fail(st, STORAGE_EIO, "no row from: %s", sqlite3_sql(s));
    else
        ret = stg_db_error(st, rc);
    sqlite3_reset(s);
    return ret;
}
