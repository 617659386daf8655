/* sqlite.c -- the SQLite backend: opening a connection with its pragmas and
 * migrations, closing it, SQLite's errors (and the watch for a damaged
 * database), checkpoints, and the statement interface of db.h as thin
 * calls into SQLite. The only file of storage/ above the SQL text (stmts.c,
 * schema.c), `profiled check` (integrity.c) and the tests' disk-full shim
 * (diskfull.c) that knows SQLite. Each call for a PostgreSQL connection
 * (st->pg) or statement (STG_IS_PG) goes to pg.c instead. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
/* Debian's libsqlite3 is built with it; the commit journal needs it. */
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

/* A write transaction of an import touches tens of MB: keep it in memory. */
#define RW_CACHE_KIB 65536
/* Events are rows of about a kilobyte, written in bulk: 16 KiB pages halve
 * the WAL traffic of an import compared with 4 KiB (measured). */
#define PAGE_BYTES 16384
/* A WAL that grew during an import is cut back to this after a reset. */
#define WAL_LIMIT_BYTES (64 * 1024 * 1024)
#define RO_CACHE_KIB 16384
#define BUSY_TIMEOUT_MS 5000

/* The opaque handles of db.h are SQLite's own. */
#define DB(st) ((sqlite3 *)(st)->db)
#define S(s) ((sqlite3_stmt *)(s))

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
    snprintf(damage_what, sizeof(damage_what), "%.*s", (int)sizeof(damage_what) - 1, what != NULL ? what : "database damaged");
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

/* A SQLite failure as a storage code: a full disk is SQLITE_FULL (the unix
 * VFS's answer to ENOSPC from write), or an I/O error whose system call
 * found no space (growing the -shm file, a quota). */
static int
storage_code(sqlite3 *db, int rc)
{
    rc &= 0xff;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return STORAGE_EBUSY;
    if (rc == SQLITE_FULL || (rc == SQLITE_IOERR && (sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT)))
        return STORAGE_EFULL;
    return STORAGE_EIO;
}

/* Records SQLite's message for rc and maps rc to STORAGE_EBUSY/EFULL/EIO. */
static int
db_error(storage_t *st, int rc)
{
    snprintf(st->err, sizeof(st->err), "sqlite: %s", sqlite3_errmsg(DB(st)));
    if (is_damage(rc))
        report_damage(st->err);
    return storage_code(DB(st), rc);
}

stg_stmt_t *
stg_stmt(storage_t *st, enum stmt_id id)
{
    assert(id < S_COUNT);
    if (st->pg)
        return stg_pg_stmt(st, id);
    if (st->stmts[id] == NULL) {
        sqlite3_stmt *s = NULL;
        int rc = sqlite3_prepare_v3(DB(st), stg_sqlite_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK) {
            db_error(st, rc);
            return NULL;
        }
        st->stmts[id] = (stg_stmt_t *)s;
    }
    return st->stmts[id];
}

stg_stmt_t *
stg_stmt_sql(storage_t *st, const char *sql)
{
    if (st->pg)
        return stg_pg_stmt_sql(st, sql);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(DB(st), sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        db_error(st, rc);
        return NULL;
    }
    return (stg_stmt_t *)s;
}

void
stg_stmt_free(stg_stmt_t *s)
{
    if (s != NULL && STG_IS_PG(s))
        stg_pg_stmt_free(s);
    else
        sqlite3_finalize(S(s));
}

void
stg_prefetch(storage_t *st, stg_stmt_t *const *v, int n)
{
    if (st->pg)
        stg_pg_prefetch(st, v, n);
}

void
stg_read_one(storage_t *st)
{
    if (st->pg)
        stg_pg_read_one(st);
}

int
stg_step(storage_t *st, stg_stmt_t *s)
{
    if (STG_IS_PG(s))
        return stg_pg_step(st, s);
    int rc = sqlite3_step(S(s));
    if (st->jr_pending)
        stg_journal_settle(st);
    if (rc == SQLITE_ROW)
        return STG_ROW;
    return rc == SQLITE_DONE ? STG_DONE : db_error(st, rc);
}

void
stg_reset(stg_stmt_t *s)
{
    if (STG_IS_PG(s)) {
        stg_pg_reset(s);
        return;
    }
    sqlite3_reset(S(s));
}

const char *
stg_stmt_text(stg_stmt_t *s)
{
    if (STG_IS_PG(s))
        return stg_pg_stmt_text(s);
    return sqlite3_sql(S(s));
}

void
stg_bind_int64(stg_stmt_t *s, int idx, int64_t v)
{
    if (STG_IS_PG(s)) {
        stg_pg_bind_int64(s, idx, v);
        return;
    }
    sqlite3_bind_int64(S(s), idx, v);
}

void
stg_bind_int(stg_stmt_t *s, int idx, int v)
{
    if (STG_IS_PG(s)) {
        stg_pg_bind_int64(s, idx, v);
        return;
    }
    sqlite3_bind_int(S(s), idx, v);
}

void
stg_bind_double(stg_stmt_t *s, int idx, double v)
{
    if (STG_IS_PG(s)) {
        stg_pg_bind_double(s, idx, v);
        return;
    }
    sqlite3_bind_double(S(s), idx, v);
}

void
stg_bind_null(stg_stmt_t *s, int idx)
{
    if (STG_IS_PG(s)) {
        stg_pg_bind_null(s, idx);
        return;
    }
    sqlite3_bind_null(S(s), idx);
}

void
stg_bind_text(stg_stmt_t *s, int idx, const char *p, size_t n)
{
    if (STG_IS_PG(s)) {
        stg_pg_bind_text(s, idx, p, n);
        return;
    }
    if (p == NULL)
        sqlite3_bind_null(S(s), idx);
    else
        sqlite3_bind_text64(S(s), idx, p, n, SQLITE_TRANSIENT, SQLITE_UTF8);
}

void
stg_bind_blob(stg_stmt_t *s, int idx, const void *p, size_t n)
{
    if (STG_IS_PG(s)) {
        stg_pg_bind_blob(s, idx, p, n);
        return;
    }
    sqlite3_bind_blob64(S(s), idx, p, n, SQLITE_TRANSIENT);
}

int64_t
stg_col_int64(stg_stmt_t *s, int i)
{
    if (STG_IS_PG(s))
        return stg_pg_col_int64(s, i);
    return sqlite3_column_int64(S(s), i);
}

int
stg_col_int(stg_stmt_t *s, int i)
{
    if (STG_IS_PG(s))
        return (int)stg_pg_col_int64(s, i);
    return sqlite3_column_int(S(s), i);
}

double
stg_col_double(stg_stmt_t *s, int i)
{
    if (STG_IS_PG(s))
        return stg_pg_col_double(s, i);
    return sqlite3_column_double(S(s), i);
}

const char *
stg_col_text(stg_stmt_t *s, int i)
{
    if (STG_IS_PG(s))
        return stg_pg_col_text(s, i);
    return (const char *)sqlite3_column_text(S(s), i);
}

const void *
stg_col_blob(stg_stmt_t *s, int i)
{
    if (STG_IS_PG(s))
        return stg_pg_col_blob(s, i);
    return sqlite3_column_blob(S(s), i);
}

int
stg_col_bytes(stg_stmt_t *s, int i)
{
    if (STG_IS_PG(s))
        return stg_pg_col_bytes(s, i);
    return sqlite3_column_bytes(S(s), i);
}

/* db.h's STG_* types are SQLite's numbers. */
_Static_assert(STG_INTEGER == SQLITE_INTEGER && STG_FLOAT == SQLITE_FLOAT && STG_TEXT == SQLITE_TEXT && STG_BLOB == SQLITE_BLOB &&
                   STG_NULL == SQLITE_NULL,
               "column types");

int
stg_col_type(stg_stmt_t *s, int i)
{
    if (STG_IS_PG(s))
        return stg_pg_col_type(s, i);
    return sqlite3_column_type(S(s), i);
}

int64_t
stg_changes(storage_t *st)
{
    if (st->pg)
        return st->pg_changes;
    return sqlite3_changes64(DB(st));
}

int64_t
stg_last_id(storage_t *st)
{
    if (st->pg)
        return st->pg_last_id;
    return sqlite3_last_insert_rowid(DB(st));
}

bool
stg_in_txn(const storage_t *st)
{
    if (st->pg)
        return stg_pg_in_txn(st);
    return !sqlite3_get_autocommit(DB(st));
}

void
stg_autocheckpoint(storage_t *st, int pages)
{
    if (st->pg)
        return;
    sqlite3_wal_autocheckpoint(DB(st), pages);
}

uint64_t
storage_vm_steps(storage_t *st)
{
    if (st->pg)
        return 0;
    uint64_t n = 0;
    for (int i = 0; i < S_COUNT; i++)
        if (st->stmts[i] != NULL)
            n += (uint64_t)sqlite3_stmt_status(S(st->stmts[i]), SQLITE_STMTSTATUS_VM_STEP, 0);
    return n;
}

static int
on_commit(void *ctx)
{
    storage_t *st = ctx;
    stg_committed(st);
    if (st->journal != NULL) { /* the write lock is held: the header before this commit */
        storage_mark_t m;
        stg_journal_commit_begins(st, storage_change_mark(st, &m) == 0 ? &m : NULL);
    }
    return 0;
}

/* After a commit that wrote frames (the commit counter went up by one):
 * the header just after it. */
static int
on_wal(void *ctx, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    (void)frames;
    storage_t *st = ctx;
    storage_mark_t m;
    stg_journal_committed(st, storage_change_mark(st, &m) == 0 ? &m : NULL);
    return SQLITE_OK;
}

/* Identity rows: (tenant_id, id_type, value, profile_pk). */
static int
identity_tags(storage_t *st, sqlite3 *db, bool old)
{
    sqlite3_value *v[4];
    for (int i = 0; i < 4; i++)
        if ((old ? sqlite3_preupdate_old(db, i, &v[i]) : sqlite3_preupdate_new(db, i, &v[i])) != SQLITE_OK || v[i] == NULL)
            return -1;
    const char *text = (const char *)sqlite3_value_text(v[2]);
    if (text == NULL)
        return -1;
    stg_journal_tag(st,
                    stg_tag_identity(sqlite3_value_int64(v[0]), sqlite3_value_int(v[1]), text, (size_t)sqlite3_value_bytes(v[2])));
    stg_journal_tag(st, stg_tag_profile(sqlite3_value_int64(v[3])));
    return 0;
}

static int
column_tag(storage_t *st, sqlite3 *db, bool old, int col)
{
    sqlite3_value *v;
    if ((old ? sqlite3_preupdate_old(db, col, &v) : sqlite3_preupdate_new(db, col, &v)) != SQLITE_OK || v == NULL)
        return -1;
    stg_journal_tag(st, stg_tag_profile(sqlite3_value_int64(v)));
    return 0;
}

/* Tables whose rows belong to a profile, and the column naming it. */
static const struct {
    const char *table;
    int col;
} profile_column[] = {
    {"traits", 0},        {"event_marks", 0},   {"event_marks_hot", 0}, {"audience_members", 0}, {"computed_state", 0},
    {"computed_days", 0}, {"computed_freq", 0}, {"events", 2},          {"trait_history", 2},
};

/* Every row change of a journaled connection, before it is made: the
 * profile (and identity key) it belongs to; a table that names none makes
 * the transaction touch everything. */
static void
on_preupdate(void *ctx, sqlite3 *db, int op, const char *schema, const char *table, sqlite3_int64 k1, sqlite3_int64 k2)
{
    storage_t *st = ctx;
    bool has_old = op != SQLITE_INSERT, has_new = op != SQLITE_DELETE;
    if (strcmp(schema, "temp") == 0) /* this connection's own */
        return;
    if (strncmp(table, "ev_", 3) == 0) /* entries of events (schema step 10): the events' own rows name them */
        return;
    if (st->jr_quiet && strncmp(table, "event_marks", 11) == 0) /* a compaction step: the marks read the same */
        return;
    if (strcmp(schema, "main") != 0)
        goto everything;
    if (strcmp(table, "profiles") == 0 || strcmp(table, "profile_times") == 0) { /* both keyed by the profile's pk */
        if (has_old)
            stg_journal_tag(st, stg_tag_profile(k1));
        if (has_new)
            stg_journal_tag(st, stg_tag_profile(k2));
        return;
    }
    if (strcmp(table, "identities") == 0) {
        if ((has_old && identity_tags(st, db, true) != 0) || (has_new && identity_tags(st, db, false) != 0))
            goto everything;
        return;
    }
    if (strcmp(table, "suppressions") == 0) /* ingest reads it, no view does */
        return;
    for (size_t i = 0; i < sizeof(profile_column) / sizeof(profile_column[0]); i++)
        if (strcmp(table, profile_column[i].table) == 0) {
            int col = profile_column[i].col;
            if ((has_old && column_tag(st, db, true, col) != 0) || (has_new && column_tag(st, db, false, col) != 0))
                goto everything;
            return;
        }
everything:
    stg_journal_everything(st);
}

int
stg_journal_hooks(storage_t *st)
{
    if (st->pg) /* tags from the statements (stg_pg_journal_stmt) */
        return 0;
    sqlite3_preupdate_hook(DB(st), on_preupdate, st);
    sqlite3_wal_hook(DB(st), on_wal, st);
    return 0;
}

/* A rolled-back tenant row leaves its id free for another tenant: forget
 * it too, or a later insert could land rows in the wrong tenant. */
static void
on_rollback(void *ctx)
{
    stg_forget(ctx);
    stg_journal_rolled_back(ctx);
}

static int
exec(storage_t *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(DB(st), sql, NULL, NULL, &msg);
    if (st->jr_pending)
        stg_journal_settle(st);
    if (rc != SQLITE_OK) {
        snprintf(st->err, sizeof(st->err), "sqlite: %s", msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        if (is_damage(rc))
            report_damage(st->err);
        return storage_code(DB(st), rc);
    }
    return 0;
}

static int
user_version(storage_t *st, int *version)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(DB(st), "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int ret = db_error(st, rc);
        sqlite3_finalize(s);
        return ret;
    }
    *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return 0;
}

/* Applies the missing migration steps in one transaction, so a crash leaves
 * either the old schema or the new one. A current schema is seen by a plain
 * read first: the write lock is only taken when there is something to do,
 * so a connection opened beside a busy writer (the checkpointer, the
 * reloader, a worker) never queues behind its commits to learn that. */
static int
migrate(storage_t *st)
{
    int version = 0, ret;
    char sql[64];
    if ((ret = user_version(st, &version)) != 0)
        return ret;
    if (version == storage_schema_version())
        return 0;
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
    /* Step 9's row: random bytes SQL has no good source of. */
    if (version < 9 && (ret = stg_scroll_key_create(st)) != 0)
        goto fail;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", storage_schema_version());
    if ((ret = exec(st, sql)) != 0)
        goto fail;
    if ((ret = exec(st, "COMMIT")) != 0)
        goto fail;
    return 0;
fail:
    sqlite3_exec(DB(st), "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

static int
check_version(storage_t *st)
{
    int version = 0, ret;
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

/* No memory statistics (nothing reads sqlite3_memory_used): each of
 * SQLite's allocations otherwise takes a process-wide mutex to count
 * itself, dozens per events page. Set before SQLite initialises, at the
 * first open; refused harmlessly when something initialised it first. */
static void
configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    stg_disk_full_shim_install();
}

int
storage_open(storage_t **out, const char *path, int flags, char *errbuf, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (stg_pg_url(path))
        return stg_pg_open(out, path, flags, errbuf, errlen);
    pthread_once(&once, configure_sqlite);
    bool ro = (flags & STORAGE_READONLY) != 0;
    char pragmas[256];
    storage_t *st = stg_conn_new(flags);
    sqlite3 *db = NULL;
    *out = NULL;

    /* One storage_t per thread: SQLite's own mutexes would be pure cost. */
    int oflags = SQLITE_OPEN_NOMUTEX | (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &db, oflags, NULL);
    st->db = (stg_conn_t *)db;
    if (rc != SQLITE_OK) {
        snprintf(st->err, sizeof(st->err), "cannot open %s: %s", path, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
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
    if ((ro ? check_version(st) : migrate(st)) != 0 || stg_scroll_key_load(st) != 0)
        goto fail;
    if (flags & STORAGE_NO_AUTOCHECKPOINT)
        sqlite3_wal_autocheckpoint(db, 0);

    sqlite3_commit_hook(db, on_commit, st);
    sqlite3_rollback_hook(db, on_rollback, st);
    *out = st;
    return 0;
fail:
    /* The header promises STORAGE_EIO for every failure to open. */
    put_err(errbuf, errlen, st->err);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(S(st->stmts[i]));
    sqlite3_close_v2(db);
    st->db = NULL;
    stg_conn_free(st);
    return STORAGE_EIO;
}

void
storage_close(storage_t *st)
{
    if (st == NULL)
        return;
    if (st->pg) {
        stg_pg_close(st);
        return;
    }
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(S(st->stmts[i]));
    sqlite3_close_v2(DB(st));
    stg_conn_free(st);
}

/* The database's page size, asked once. 0 or STORAGE_EIO. */
static int
page_bytes(storage_t *st)
{
    if (st->page_bytes == 0) {
        stg_stmt_t *s = stg_stmt(st, S_PAGE_SIZE);
        int64_t v;
        if (s == NULL || stg_step_int64(st, s, &v) != 0)
            return STORAGE_EIO;
        st->page_bytes = (int)v;
    }
    return 0;
}

int
storage_checkpoint(storage_t *st, int64_t *log_bytes)
{
    if (st->pg) { /* PostgreSQL checkpoints by itself */
        if (log_bytes != NULL)
            *log_bytes = 0;
        return 0;
    }
    int frames = 0;
    if (page_bytes(st) != 0)
        return STORAGE_EIO;
    int rc = sqlite3_wal_checkpoint_v2(DB(st), NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL);
    if (log_bytes != NULL)
        *log_bytes = frames > 0 ? (int64_t)frames * st->page_bytes : 0;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return stg_fail(st, STORAGE_EBUSY, "checkpoint: %s", sqlite3_errmsg(DB(st)));
    return rc == SQLITE_OK ? 0 : db_error(st, rc);
}

int64_t
storage_pages_written(storage_t *st, int64_t *bytes)
{
    if (st->pg) {
        if (bytes != NULL)
            *bytes = 0;
        return 0;
    }
    int cur = 0, hi = 0;
    if (bytes != NULL)
        *bytes = 0;
    if (sqlite3_db_status(DB(st), SQLITE_DBSTATUS_CACHE_WRITE, &cur, &hi, 1) != SQLITE_OK || cur <= 0)
        return 0;
    if (bytes != NULL && page_bytes(st) == 0)
        *bytes = (int64_t)cur * st->page_bytes;
    return cur;
}

int
storage_cache_mb(storage_t *st, int mb)
{
    if (st->pg)
        return 0;
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%lld", (long long)mb * 1024);
    return exec(st, sql);
}

/* The WAL index (https://sqlite.org/walformat.html): its first 32 KiB
 * region starts with two copies of a 48-byte header that a committing
 * connection writes, the second copy first, then the first; a reader takes
 * the first, then the second, and trusts them when they are equal. The
 * memory is the one SQLite itself maps for this connection (xShmMap of the
 * database file, region 0, never extended here), which stays mapped while
 * the connection is open. */
#define WALINDEX_REGION 32768
#define WALHDR_WORDS 12

int
storage_change_mark(storage_t *st, storage_mark_t *out)
{
    if (st->pg) /* the write generation (pgnotify.c) */
        return stg_pg_change_mark(st, out);
    if (st->shm == NULL && !st->shm_tried) {
        st->shm_tried = true;
        sqlite3_file *f = NULL;
        void volatile *p = NULL;
        if (sqlite3_file_control(DB(st), "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f != NULL && f->pMethods != NULL &&
            f->pMethods->iVersion >= 2 && f->pMethods->xShmMap != NULL &&
            f->pMethods->xShmMap(f, 0, WALINDEX_REGION, 0, &p) == SQLITE_OK && p != NULL)
            st->shm = (const volatile uint32_t *)p;
    }
    if (st->shm == NULL)
        return -1;
    uint32_t a[WALHDR_WORDS], b[WALHDR_WORDS];
    for (int i = 0; i < WALHDR_WORDS; i++)
        a[i] = st->shm[i];
    atomic_thread_fence(memory_order_acquire);
    for (int i = 0; i < WALHDR_WORDS; i++)
        b[i] = st->shm[WALHDR_WORDS + i];
    atomic_thread_fence(memory_order_acquire);
    /* byte 12 is isInit: a header never written says nothing */
    if (memcmp(a, b, sizeof(a)) != 0 || ((const unsigned char *)a)[12] == 0)
        return -1;
    memcpy(out->w, a, sizeof(a));
    return 0;
}
