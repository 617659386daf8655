/* pg.c -- the PostgreSQL backend: the statement interface of db.h over a
 * libpq connection (opened in pgpipe.c; its migrations are pgmigrate.c's). sqlite.c hands every call
 * here for a connection opened on a postgres:// or postgresql:// URL
 * (st->pg) or a statement of one (a tagged pointer, STG_PG_TAG).
 *
 * A statement is prepared on its first run, with the types of the values
 * bound then (the SQL casts where that cannot tell); values go as text,
 * blobs as binary; results come back as text, whole (the SQL limits them
 * to what the caller reads: pgsql.c). Transactions:
 * - a read (S_BEGIN) is REPEATABLE READ: one snapshot for all its
 *   statements, as a SQLite read transaction has; one promised a single
 *   statement (stg_read_one) sends it with no BEGIN (take_begin);
 * - a write (S_BEGIN_IMMEDIATE) takes a transaction-scoped advisory lock
 *   first, so write transactions of every replica on one database run one
 *   at a time, as SQLite's writers do (but an ingest group takes its shared
 *   form and finer locks: write/locks.c): identity resolution, merges and
 *   messageId checks then see every earlier commit. Each write transaction
 *   bumps meta's write_generation; one that finds it moved since this
 *   connection's last write empties the identity cache (another replica
 *   may have merged).
 * A connection found broken outside a transaction is reset (and its
 * statements prepared again) before the next statement runs. */
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../db/db.h"

/* the advisory lock keys (any two numbers no other program on the database
 * uses: "prof" "iled" in ASCII) */
#define LOCK_WRITE 0x70726f66696c6564LL

#define MAXP 16

/* type OIDs (catalog/pg_type.h) */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

typedef struct pg_stmt {
    storage_t *st;
    enum stmt_id id;
    const char *sql; /* NULL: nothing to run (pgsql.c) */
    char *own_sql;   /* sql, when made from SQLite's (SAME) */
    bool prepared;
    int nparams; /* the largest $n of sql */
    Oid types[MAXP];
    const char *vals[MAXP];
    int lens[MAXP];
    int fmts[MAXP];
    char *bufs[MAXP];
    size_t caps[MAXP];
    PGresult *res;
    PGresult *pre; /* its answer, asked ahead (stg_pg_prefetch; NULL: none came) */
    bool has_pre;
    uint64_t pre_txn; /* in transaction st->pg_txn_seq */
    int row, nrows;
    unsigned char *blob; /* the last bytea column read (stg_col_blob) */
    size_t blob_len;
    int blob_row, blob_col;
    char name[12]; /* its prepared statement's: "s<id>", or "q<n>" (stg_stmt_sql) */
    bool nul;      /* a text value bound holds a NUL character (see put_text) */
    bool defer_ok; /* an INSERT of stg_stmt_sql without RETURNING: write-behind (pgdefer.c) */
} pg_stmt_t;

#define CONN(st) ((PGconn *)(st)->db)

static pg_stmt_t *
untag(stg_stmt_t *s)
{
    return (pg_stmt_t *)((uintptr_t)s & ~(uintptr_t)STG_PG_TAG);
}

bool
stg_pg_url(const char *path)
{
    return path != NULL && (strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0);
}

static int
max_param(const char *sql)
{
    int n = 0;
    for (const char *p = sql; (p = strchr(p, '$')) != NULL; p++) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end != p + 1 && v > n)
            n = (int)v;
    }
    return n;
}

/* A statement of sql (SQLite's ?n spelt $n when dollars is set) named
 * name; NULL (st->err set) when it has more parameters than MAXP. */
static pg_stmt_t *
stmt_new(storage_t *st, enum stmt_id id, const char *sql, bool dollars, const char *name)
{
    pg_stmt_t *s = base_xcalloc(1, sizeof(*s));
    s->st = st;
    s->id = id;
    s->sql = sql;
    if (sql != NULL && dollars) {
        s->own_sql = base_xmalloc(strlen(sql) + 1);
        for (size_t i = 0; (s->own_sql[i] = sql[i] == '?' ? '$' : sql[i]) != '\0'; i++)
            ;
        s->sql = s->own_sql;
    }
    s->nparams = s->sql != NULL ? max_param(s->sql) : 0;
    if (s->nparams > MAXP) {
        free(s->own_sql);
        free(s);
        stg_fail(st, STORAGE_EIO, "postgres: statement %s has too many parameters", name);
        return NULL;
    }
    s->blob_row = -1;
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

stg_stmt_t *
stg_pg_stmt(storage_t *st, enum stmt_id id)
{
    if (st->stmts[id] == NULL) {
        char name[12];
        snprintf(name, sizeof(name), "s%d", (int)id);
        bool same = stg_pg_sql[id] == stg_pg_same; /* SQLite's text with ?n as $n */
        pg_stmt_t *s = stmt_new(st, id, same ? stg_sqlite_sql[id] : stg_pg_sql[id], same, name);
        if (s == NULL)
            return NULL;
        st->stmts[id] = (stg_stmt_t *)((uintptr_t)s | STG_PG_TAG);
    }
    return st->stmts[id];
}

/* Its id is S_COUNT (none of the table's); its name "q<n>", new on the
 * connection. Not in st->stmts: heal does not see it, so it is meant for
 * statements run inside one transaction. */
stg_stmt_t *
stg_pg_stmt_sql(storage_t *st, const char *sql)
{
    char name[12];
    snprintf(name, sizeof(name), "q%u", st->pg_sql_seq++);
    pg_stmt_t *s = stmt_new(st, S_COUNT, sql, true, name);
    if (s != NULL)
        s->defer_ok = strncmp(s->sql, "INSERT", 6) == 0 && strstr(s->sql, "RETURNING") == NULL;
    return s != NULL ? (stg_stmt_t *)((uintptr_t)s | STG_PG_TAG) : NULL;
}

static void
stmt_free(pg_stmt_t *s)
{
    if (s == NULL)
        return;
    PQclear(s->res);
    PQclear(s->pre);
    for (int i = 0; i < MAXP; i++)
        free(s->bufs[i]);
    free(s->blob);
    free(s->own_sql);
    free(s);
}

/* The server's prepared statement goes with the connection. */
void
stg_pg_stmt_free(stg_stmt_t *s)
{
    stmt_free(untag(s));
}

/* ---- binding ---- */

static pg_stmt_t *
slot(stg_stmt_t *t, int idx)
{
    pg_stmt_t *s = untag(t);
    return idx >= 1 && idx <= s->nparams ? s : NULL;
}

static void
put(pg_stmt_t *s, int idx, Oid type, const void *p, size_t n, int fmt)
{
    int i = idx - 1;
    if (s->caps[i] < n + 1) {
        s->caps[i] = n + 1 < 32 ? 32 : n + 1;
        s->bufs[i] = base_xrealloc(s->bufs[i], s->caps[i]);
    }
    if (n > 0)
        memcpy(s->bufs[i], p, n);
    s->bufs[i][n] = '\0';
    s->vals[i] = s->bufs[i];
    s->lens[i] = (int)n;
    s->fmts[i] = fmt;
    if (!s->prepared)
        s->types[i] = type;
}

void
stg_pg_bind_int64(stg_stmt_t *t, int idx, int64_t v)
{
    pg_stmt_t *s = slot(t, idx);
    if (s == NULL)
        return;
    char b[24];
    int n = snprintf(b, sizeof(b), "%lld", (long long)v);
    put(s, idx, OID_INT8, b, (size_t)n, 0);
}

void
stg_pg_bind_double(stg_stmt_t *t, int idx, double v)
{
    pg_stmt_t *s = slot(t, idx);
    if (s == NULL)
        return;
    char b[40];
    int n = snprintf(b, sizeof(b), "%.17g", v);
    put(s, idx, OID_FLOAT8, b, (size_t)n, 0);
}

void
stg_pg_bind_null(stg_stmt_t *t, int idx)
{
    pg_stmt_t *s = slot(t, idx);
    if (s == NULL)
        return;
    s->vals[idx - 1] = NULL;
    s->lens[idx - 1] = 0;
    s->fmts[idx - 1] = 0;
}

void
stg_pg_bind_text(stg_stmt_t *t, int idx, const char *p, size_t n)
{
    pg_stmt_t *s = slot(t, idx);
    if (s == NULL)
        return;
    if (p == NULL) {
        stg_pg_bind_null(t, idx);
        if (!s->prepared)
            s->types[idx - 1] = OID_TEXT;
        return;
    }
    /* PostgreSQL's text cannot hold a NUL character (SQLite's can): the
     * statement is refused before it is sent, so the transaction goes on */
    if (memchr(p, '\0', n) != NULL)
        s->nul = true;
    put(s, idx, OID_TEXT, p, n, 0);
}

void
stg_pg_bind_blob(stg_stmt_t *t, int idx, const void *p, size_t n)
{
    pg_stmt_t *s = slot(t, idx);
    if (s == NULL)
        return;
    put(s, idx, OID_BYTEA, p, n, 1);
}

/* ---- running ---- */

static void
unprepare_all(storage_t *st)
{
    for (int i = 0; i < S_COUNT; i++)
        if (st->stmts[i] != NULL)
            untag(st->stmts[i])->prepared = false;
}

/* Before a statement outside a transaction (st->pg_txn): a broken
 * connection is made again (its prepared statements went with it). Inside
 * one, statements fail until the caller's rollback. */
static void
heal(storage_t *st)
{
    if (PQstatus(CONN(st)) == CONNECTION_OK)
        return;
    st->pg_commit_held = false; /* its transaction went with the connection */
    if (PQpipelineStatus(CONN(st)) != PQ_PIPELINE_OFF)
        PQexitPipelineMode(CONN(st));
    PQreset(CONN(st));
    unprepare_all(st);
    if (PQstatus(CONN(st)) == CONNECTION_OK)
        stg_pg_session(st);
}

static int
prepare(pg_stmt_t *s)
{
    storage_t *st = s->st;
    stg_pg_pipe_settle(st);
    st->pg_round_trips++;
    PGresult *r = PQprepare(CONN(st), s->name, s->sql, s->nparams, s->types);
    int ret = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : stg_pg_error(st, r, s->sql);
    PQclear(r);
    if (ret == 0)
        s->prepared = true;
    return ret;
}

/* Whether the server has a transaction open on the connection. */
static bool
server_in_txn(storage_t *st)
{
    PGTransactionStatusType t = PQtransactionStatus(CONN(st));
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* Sends the deferred writes (pgdefer.c) alone. */
static int
flush_deferred(storage_t *st)
{
    if (st->pg_wb_len == 0)
        return 0;
    int ret = stg_pg_exec(st, st->pg_wb);
    stg_pg_defer_drop(st);
    return ret;
}

static bool resendable(const pg_stmt_t *s);

/* The read transaction's BEGIN, alone (its first statement is not a read). */
static int
begin_now(storage_t *st)
{
    st->pg_begin_lazy = false;
    st->pg_read_one = false;
    int ret = stg_pg_exec(st, stg_pg_sql[S_BEGIN]);
    st->pg_txn = server_in_txn(st);
    return ret;
}

/* The transactions (see the top). */
static int
run_txn(pg_stmt_t *s)
{
    storage_t *st = s->st;
    char sql[160];
    int ret;
    st->pg_txn_seq++;
    st->pg_read_one = false;
    switch (s->id) {
    case S_BEGIN: /* sent with the first statement (pgpipe.c) */
        stg_pg_defer_drop(st);
        stg_rows_discard(st);
        if (!s->prepared && (ret = prepare(s)) != 0)
            return ret;
        st->pg_begin_lazy = true;
        st->pg_txn = true;
        return 0;
    case S_BEGIN_IMMEDIATE: {
        int64_t gen = 0;
        stg_pg_defer_drop(st);
        stg_rows_discard(st);
        snprintf(sql, sizeof(sql),
                 "BEGIN; SELECT pg_advisory_xact_lock%s(%lld); SELECT value FROM meta WHERE key = 'write_generation'",
                 st->pg_shared ? "_shared" : "", (long long)LOCK_WRITE);
        ret = stg_pg_exec_int64(st, sql, &gen);
        st->pg_txn = server_in_txn(st);
        if (ret != 0)
            return ret;
        if (gen != st->pg_gen)
            stg_idcache_clear(&st->ids);
        st->pg_gen = gen;
        st->pg_writing = true;
        return 0;
    }
    case S_COMMIT: {
        bool wrote = st->pg_writing;
        int64_t gen = 0;
        if (!wrote && !st->pg_dirty && st->pg_wb_len == 0 && !stg_rows_pending(st) &&
            (st->pg_begin_lazy || ((st->flags & STORAGE_READS_HELD) && (s->prepared || prepare(s) == 0)))) {
            /* a read: nothing was sent, or its COMMIT goes with the next
             * statement (pgpipe.c) */
            st->pg_commit_held = !st->pg_begin_lazy;
            st->pg_commit_name = s->name;
            st->pg_begin_lazy = false;
            st->pg_txn = false;
            return 0;
        }
        if (st->pg_begin_lazy && (ret = begin_now(st)) != 0) {
            stg_pg_defer_drop(st);
            stg_rows_discard(st);
            st->pg_txn = false;
            stg_forget(st);
            return ret;
        }
        if ((ret = stg_rows_flush(st)) != 0 || (ret = flush_deferred(st)) != 0 || st->pg_writing) {
            st->pg_writing = false;
            if (ret != 0 || (ret = stg_pg_next_generation(st, &gen)) != 0) {
                stg_pg_exec(st, "ROLLBACK");
                st->pg_txn = false;
                stg_journal_rolled_back(st);
                stg_forget(st);
                return ret;
            }
            st->pg_gen = gen;
        }
        st->pg_round_trips++;
        PGresult *r = PQexec(CONN(st), "COMMIT");
        ret = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : stg_pg_error(st, r, "COMMIT");
        /* a failed transaction's COMMIT is a rollback */
        if (ret == 0 && strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
            ret = stg_fail(st, STORAGE_EIO, "postgres: the transaction failed and was rolled back");
        PQclear(r);
        st->pg_txn = false;
        if (wrote)
            stg_pg_generation_done(st, gen, ret == 0);
        /* SQLite's commit hook, which stg_committed stands for, runs for
         * transactions that wrote only */
        if (ret == 0 && (st->pg_dirty || wrote))
            stg_committed(st);
        else if (ret != 0)
            stg_forget(st);
        st->pg_dirty = false;
        return ret;
    }
    case S_ROLLBACK: {
        bool sent = !st->pg_begin_lazy;
        st->pg_writing = false;
        st->pg_dirty = false;
        st->pg_txn = false;
        st->pg_begin_lazy = false;
        stg_journal_rolled_back(st);
        stg_pg_defer_drop(st);
        stg_rows_discard(st);
        ret = sent ? stg_pg_exec(st, "ROLLBACK") : 0;
        stg_forget(st);
        return ret;
    }
    default:
        return STORAGE_EIO;
    }
}

/* The name of the read's BEGIN to send in front of n statements (NULL:
 * none: it was sent, or the one statement promised goes alone, and the
 * transaction is still to begin on the server). */
static int
take_begin(storage_t *st, int n, const char **name)
{
    pg_stmt_t *b = untag(st->stmts[S_BEGIN]);
    int ret;
    *name = NULL;
    if (!st->pg_begin_lazy)
        return 0;
    if (st->pg_read_one && n == 1) {
        st->pg_read_one = false;
        return 0;
    }
    if (!b->prepared && (ret = prepare(b)) != 0) /* heal made the connection again */
        return ret;
    st->pg_begin_lazy = false;
    st->pg_read_one = false;
    *name = b->name;
    return 0;
}

/* Whether s holds its answer, asked ahead in this transaction (one asked
 * in a transaction since ended is not its answer: dropped). */
static bool
has_answer(pg_stmt_t *s)
{
    if (s->has_pre && s->pre_txn != s->st->pg_txn_seq)
        stg_pg_reset((stg_stmt_t *)s);
    return s->has_pre;
}

static int
step_once(storage_t *st, pg_stmt_t *s)
{
    if (s->id == S_BEGIN || s->id == S_BEGIN_IMMEDIATE || s->id == S_COMMIT || s->id == S_ROLLBACK) {
        int ret = run_txn(s);
        return ret < 0 ? ret : STG_DONE;
    }
    int ret;
    /* a read's BEGIN goes with its first statement when that is a read too */
    if (st->pg_begin_lazy && (!resendable(s) || st->pg_wb_len > 0 || stg_rows_pending(st)) && (ret = begin_now(st)) != 0)
        return ret;
    /* Any other statement, deferred or not, may read the pending rows (a
     * mark's tie-break reads its event): they go first (pgrows.c). */
    if (stg_rows_pending(st) && !stg_rows_pass(s->id) && (ret = stg_rows_flush(st)) != 0)
        return ret;
    if (s->nul) {
        s->nul = false;
        return stg_fail(st, STORAGE_EINVAL, "a text holds a NUL character (\\u0000), which PostgreSQL cannot store");
    }
    if (!s->prepared && (ret = prepare(s)) != 0)
        return ret;
    if (st->pg_txn && (s->id < S_COUNT ? stg_pg_deferrable(s->id, s->sql) : s->defer_ok) &&
        stg_pg_defer_add(st, s->name, s->nparams, s->vals, s->lens, s->fmts)) {
        st->pg_changes = 1;
        st->pg_dirty = true;
        if (st->journal != NULL)
            stg_pg_journal_stmt(st, s->id, s->vals, s->lens, 0);
        return STG_DONE;
    }
    PGresult *r;
    if (has_answer(s)) { /* asked already (stg_pg_prefetch) */
        r = s->pre;
        s->pre = NULL;
        s->has_pre = false;
    } else if (st->pg_begin_lazy) {
        stg_pg_call_t call = {s->name, s->nparams, s->vals, s->lens, s->fmts, NULL};
        const char *begin;
        if ((ret = take_begin(st, 1, &begin)) != 0)
            return ret;
        stg_pg_pipe_run(st, begin, &call, 1);
        r = call.res;
    } else {
        stg_pg_pipe_settle(st);
        st->pg_round_trips++;
        if (st->pg_wb_len > 0 && stg_pg_defer_add(st, s->name, s->nparams, s->vals, s->lens, s->fmts)) {
            r = PQexec(CONN(st), st->pg_wb); /* the deferred writes, then s: its result is the last */
            stg_pg_defer_drop(st);
        } else {
            if ((ret = flush_deferred(st)) != 0)
                return ret;
            r = PQexecPrepared(CONN(st), s->name, s->nparams, s->vals, s->lens, s->fmts, 0);
        }
    }
    ExecStatusType type = PQresultStatus(r);
    if (type != PGRES_COMMAND_OK && type != PGRES_TUPLES_OK) {
        ret = stg_pg_error(st, r, s->sql);
        PQclear(r);
        /* SQLite ends the transaction only where the caller says; here the
         * transaction is dead: the caller's rollback ends it */
        return ret;
    }
    const char *n = PQcmdTuples(r);
    st->pg_rows_in += (uint64_t)PQntuples(r);
    st->pg_changes = n != NULL && *n != '\0' ? strtoll(n, NULL, 10) : 0;
    bool wrote = st->pg_changes > 0 && strncmp(PQcmdStatus(r), "SELECT", 6) != 0;
    if (wrote)
        st->pg_dirty = true;
    if (s->id < S_COUNT && stg_pg_returns_id[s->id] && PQntuples(r) > 0)
        st->pg_last_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (wrote && st->journal != NULL) /* what it changed, for the view cache */
        stg_pg_journal_stmt(st, s->id, s->vals, s->lens, st->pg_last_id);
    if (s->id < S_COUNT && stg_pg_returns_id[s->id]) {
        PQclear(r);
        return STG_DONE;
    }
    if (type == PGRES_COMMAND_OK || PQntuples(r) == 0) {
        PQclear(r);
        return STG_DONE;
    }
    s->res = r;
    s->row = 0;
    s->nrows = PQntuples(r);
    s->blob_row = -1;
    return STG_ROW;
}

/* Whether s, failed on a lost connection outside a transaction, cannot
 * have changed anything: a transaction's start, or a read. */
static bool
resendable(const pg_stmt_t *s)
{
    return s->id == S_BEGIN || s->id == S_BEGIN_IMMEDIATE || strncmp(s->sql, "SELECT", 6) == 0;
}

int
stg_pg_step(storage_t *st, stg_stmt_t *t)
{
    pg_stmt_t *s = untag(t);
    if (s->res != NULL) { /* the next row of the result */
        if (++s->row < s->nrows)
            return STG_ROW;
        return STG_DONE;
    }
    if (s->sql == NULL) {
        st->pg_changes = 0;
        return STG_DONE;
    }
    bool lazy = st->pg_begin_lazy; /* the read's BEGIN goes with s */
    bool outside = !st->pg_txn || lazy;
    if (outside)
        heal(st);
    int ret = step_once(st, s);
    /* A connection the server closed while it was idle (a restart, an idle
     * timeout) still looks fine until its next statement fails: that one
     * is sent again, once, on a new connection when it cannot have changed
     * anything. */
    if (ret == STORAGE_EDOWN && outside && resendable(s)) {
        heal(st);
        st->pg_begin_lazy = lazy;
        st->pg_txn = lazy || st->pg_txn;
        ret = step_once(st, s);
    }
    return ret;
}

void
stg_pg_reset(stg_stmt_t *t)
{
    pg_stmt_t *s = untag(t);
    PQclear(s->res);
    s->res = NULL;
    s->blob_row = -1;
    PQclear(s->pre);
    s->pre = NULL;
    s->has_pre = false;
}

const char *
stg_pg_stmt_text(stg_stmt_t *t)
{
    const char *sql = untag(t)->sql;
    return sql != NULL ? sql : "";
}

/* ---- columns ---- */

static const char *
cell(stg_stmt_t *t, int i)
{
    pg_stmt_t *s = untag(t);
    if (s->res == NULL || s->row >= s->nrows || i < 0 || i >= PQnfields(s->res) || PQgetisnull(s->res, s->row, i))
        return NULL;
    return PQgetvalue(s->res, s->row, i);
}

int64_t
stg_pg_col_int64(stg_stmt_t *t, int i)
{
    const char *v = cell(t, i);
    if (v == NULL)
        return 0;
    if (v[0] == 't' && v[1] == '\0')
        return 1;
    if (v[0] == 'f' && v[1] == '\0')
        return 0;
    if (strpbrk(v, ".eE") != NULL) /* a real read as an integer, as SQLite does */
        return (int64_t)strtod(v, NULL);
    return strtoll(v, NULL, 10);
}

double
stg_pg_col_double(stg_stmt_t *t, int i)
{
    const char *v = cell(t, i);
    return v != NULL ? strtod(v, NULL) : 0.0;
}

const char *
stg_pg_col_text(stg_stmt_t *t, int i)
{
    return cell(t, i);
}

static bool
is_bytea(pg_stmt_t *s, int i)
{
    return s->res != NULL && i >= 0 && i < PQnfields(s->res) && PQftype(s->res, i) == OID_BYTEA;
}

const void *
stg_pg_col_blob(stg_stmt_t *t, int i)
{
    pg_stmt_t *s = untag(t);
    const char *v = cell(t, i);
    if (v == NULL || !is_bytea(s, i))
        return v;
    if (s->blob_row != s->row || s->blob_col != i) {
        size_t n = 0;
        unsigned char *b = PQunescapeBytea((const unsigned char *)v, &n);
        free(s->blob);
        s->blob = NULL;
        s->blob_len = 0;
        if (b != NULL) {
            s->blob = base_xmalloc(n + 1);
            memcpy(s->blob, b, n);
            s->blob_len = n;
            PQfreemem(b);
        }
        s->blob_row = s->row;
        s->blob_col = i;
    }
    return s->blob;
}

int
stg_pg_col_bytes(stg_stmt_t *t, int i)
{
    pg_stmt_t *s = untag(t);
    if (cell(t, i) == NULL)
        return 0;
    if (is_bytea(s, i)) {
        stg_pg_col_blob(t, i);
        return (int)s->blob_len;
    }
    return PQgetlength(s->res, s->row, i);
}

int
stg_pg_col_type(stg_stmt_t *t, int i)
{
    pg_stmt_t *s = untag(t);
    if (cell(t, i) == NULL)
        return STG_NULL;
    switch (PQftype(s->res, i)) {
    case OID_BOOL:
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        return STG_INTEGER;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        return STG_FLOAT;
    case OID_BYTEA:
        return STG_BLOB;
    default:
        return STG_TEXT;
    }
}

bool
stg_pg_in_txn(const storage_t *st)
{
    return st->pg_txn;
}

void
stg_pg_prefetch(storage_t *st, stg_stmt_t *const *v, int n)
{
    stg_pg_call_t calls[STG_PG_PIPE_MAX];
    pg_stmt_t *of[STG_PG_PIPE_MAX];
    const char *begin;
    int k = 0;
    /* only plain reads of a read transaction, with nothing to send first */
    if (!st->pg_txn || st->pg_writing || st->pg_wb_len > 0 || stg_rows_pending(st) || PQstatus(CONN(st)) != CONNECTION_OK)
        return;
    for (int i = 0; i < n && k < STG_PG_PIPE_MAX; i++) {
        pg_stmt_t *s = v[i] != NULL ? untag(v[i]) : NULL;
        if (s == NULL || s->sql == NULL || s->res != NULL || has_answer(s) || s->nul || !resendable(s) ||
            (!s->prepared && prepare(s) != 0))
            continue;
        calls[k] = (stg_pg_call_t){s->name, s->nparams, s->vals, s->lens, s->fmts, NULL};
        of[k++] = s;
    }
    if (k < 2 || take_begin(st, k, &begin) != 0) /* no exchange saved */
        return;
    stg_pg_pipe_run(st, begin, calls, k);
    for (int i = 0; i < k; i++) {
        of[i]->pre = calls[i].res;
        of[i]->has_pre = true;
        of[i]->pre_txn = st->pg_txn_seq;
    }
}

void
stg_pg_read_one(storage_t *st)
{
    st->pg_read_one = st->pg_txn && st->pg_begin_lazy;
}

/* ---- the connection (opened in pgpipe.c) ---- */

void
stg_pg_close(storage_t *st)
{
    for (int i = 0; i < S_COUNT; i++) {
        if (st->stmts[i] != NULL)
            stmt_free(untag(st->stmts[i]));
        st->stmts[i] = NULL;
    }
    if (st->db != NULL)
        PQfinish(CONN(st));
    st->db = NULL;
    free(st->pg_url);
    free(st->pg_wb);
    stg_conn_free(st);
}
