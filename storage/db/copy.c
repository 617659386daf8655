/* copy.c -- `profiled copy` (storage_copy): every row of one database into
 * another, empty one, SQLite or PostgreSQL either way. One entry a table
 * (its columns, their kinds, its key); its rows are read in key order a
 * page at a time (a PostgreSQL result comes back whole) inside one read
 * transaction of the source, and written by one insert a table, prepared
 * once and rebound per row, inside one write transaction of the target.
 * What SQLite alone keeps is folded in (the hot marks of schema step 11)
 * or rebuilt (the event entries of step 10); PostgreSQL's identity
 * sequences are moved past the copied ids. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../db/db.h"

#define PAGE_ROWS 10000     /* a page read (tests: PROFILED_DEBUG_COPY_PAGE=N) */
#define PROGRESS_ROWS 10000 /* a progress line */
#define MAX_KEY 4

typedef struct {
    const char *name;
    const char *sqlite_name; /* not NULL: SQLite's rows are read and written through this view */
    const char *cols;        /* the columns copied, in this order */
    const char *kinds;       /* one a column: I integer, F real, T text, B blob */
    int nkey;                /* the leading columns that key it: the read order */
    /* when set, the read order is this integer column instead, read first
     * and not written (tokens: creation order, which the token list keeps) */
    const char *order_sqlite, *order_pg;
    const char *where; /* the source's rows copied (NULL: all) */
    const char *tail;  /* after the insert's VALUES (a row the target's migration made) */
    enum stmt_id into; /* not 0: the target's own statement, bound as the columns, instead of an insert */
    bool sqlite_only;  /* in SQLite's schema alone: read from SQLite only */
    bool seeded;       /* the migration writes it: not in the test of an empty target */
    bool identity;     /* its first column is an identity column on PostgreSQL */
} table_t;

/* Those a row refers to before the rows that refer to them; the events
 * before the marks (whose upsert reads their eventIds on a tie); the
 * tokens before meta (their inserts bump token_generation). */
static const table_t tables[] = {
    {.name = "tenants", .cols = "id, client, account, brand", .kinds = "ITTT", .nkey = 1, .identity = true},
    {.name = "profiles",
     .sqlite_name = "profile_rows", /* the times in profile_times (schema step 12) */
     .cols = "pk, tenant_id, uuid, user_id, created_ms, updated_ms, last_activity_ms, created_by, merges",
     .kinds = "IITTIIITI",
     .nkey = 1,
     .identity = true},
    {.name = "identities", .cols = "tenant_id, id_type, value, profile_pk", .kinds = "IITI", .nkey = 4},
    {.name = "traits", .cols = "profile_pk, key, value, ts_ms, message_id, source, replaced_ms", .kinds = "ITTITTI", .nkey = 2},
    {.name = "events",
     .cols =
         "pk, tenant_id, profile_pk, event_id, event_time_ms, received_ms, event_action, event_name, type, source, raw, event_key",
     .kinds = "IIITIITTTTTI",
     .nkey = 1,
     .identity = true},
    {.name = "event_marks", .cols = STG_MARK_COLS, .kinds = "ITIIII", .nkey = 2},
    /* combined into event_marks as compaction does: the earlier first, the
     * later last (ties by eventId), which is what the metadata view shows */
    {.name = "event_marks_hot", .cols = STG_MARK_COLS, .kinds = "ITIIII", .nkey = 2, .into = S_MARK_UPSERT, .sqlite_only = true},
    {.name = "audience_members", .cols = "profile_pk, is_static, name, added_ms", .kinds = "IITI", .nkey = 3},
    {.name = "tokens",
     .cols = "id, hash, client, account, brand, name, created_ms, revoked_ms, rate, burst, permissions",
     .kinds = "TBTTTTIIFFI",
     .order_sqlite = "rowid",
     .order_pg = "seq"},
    {.name = "computed_state", .cols = "profile_pk, key, comb, num, value, time_ms, event_id", .kinds = "ITIFTIT", .nkey = 2},
    {.name = "computed_days", .cols = "profile_pk, key, day, comb, num", .kinds = "ITIIF", .nkey = 3},
    {.name = "computed_freq", .cols = "profile_pk, key, value, count, last_ms", .kinds = "ITTII", .nkey = 3},
    {.name = "computed_keys", .cols = "tenant_id, key, ready, next_pk", .kinds = "ITII", .nkey = 2},
    {.name = "suppressions", .cols = "tenant_id, id_type, value, created_ms", .kinds = "IITI", .nkey = 3},
    {.name = "trait_history",
     .cols = "pk, tenant_id, profile_pk, key, value, ts_ms, message_id, source",
     .kinds = "IIITTITT",
     .nkey = 1,
     .identity = true},
    /* the source's key, so that its scrollIds go on working */
    {.name = "scroll_key",
     .cols = "id, key",
     .kinds = "IB",
     .nkey = 1,
     .tail = " ON CONFLICT(id) DO UPDATE SET key = excluded.key",
     .seeded = true},
    /* write_generation is PostgreSQL's own (pg.c): the target keeps its own */
    {.name = "meta",
     .cols = "key, value",
     .kinds = "TI",
     .nkey = 1,
     .where = "key = 'token_generation'",
     .tail = " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
     .seeded = true},
};

#define NTABLES (sizeof(tables) / sizeof(tables[0]))

typedef struct {
    storage_t *from, *to;
    FILE *progress;
    int64_t page_rows;
    uint64_t rows;
    char *err;
    size_t errlen;
} copy_t;

/* Records st's failure as "what: message" and returns code. */
static int
failed(copy_t *c, storage_t *st, const char *what, int code)
{
    if (c->err != NULL && c->errlen > 0)
        snprintf(c->err, c->errlen, "%s: %s", what, storage_errmsg(st));
    return code;
}

/* The length of the first n names of the comma list cols. */
static size_t
names_len(const char *cols, int n)
{
    const char *p = cols;
    for (int i = 0; i < n; i++) {
        const char *comma = strchr(p, ',');
        if (comma == NULL)
            return strlen(cols);
        if (i == n - 1)
            return (size_t)(comma - cols);
        p = comma + 1;
    }
    return 0;
}

/* The name of column j of cols into buf. */
static const char *
col_name(const char *cols, int j, char *buf, size_t cap)
{
    size_t from = j == 0 ? 0 : names_len(cols, j) + 1;
    while (cols[from] == ' ')
        from++;
    size_t n = strcspn(cols + from, ",");
    snprintf(buf, cap, "%.*s", (int)n, cols + from);
    return buf;
}

/* Appends "?first, ..., ?(first + n - 1)" to sql (cap bytes, *o used). */
static void
put_params(char *sql, size_t cap, size_t *o, int first, int n)
{
    for (int i = 0; i < n; i++)
        *o += (size_t)snprintf(sql + *o, cap - *o, "%s?%d", i > 0 ? ", " : "", first + i);
}

/* What t's rows are read from and written into on st. */
static const char *
table_on(const table_t *t, const storage_t *st)
{
    return t->sqlite_name != NULL && !st->pg ? t->sqlite_name : t->name;
}

/* The page read from name: the first (next false: ?1 the limit) or the
 * one after the key ?1..?k (?k+1 the limit). */
static void
select_sql(const table_t *t, const char *name, const char *order, bool next, char *sql, size_t cap)
{
    const char *keys = order != NULL ? order : t->cols;
    int nkey = order != NULL ? 1 : t->nkey;
    int klen = (int)names_len(keys, nkey);
    size_t o =
        (size_t)snprintf(sql, cap, "SELECT %s%s%s FROM %s", order != NULL ? order : "", order != NULL ? ", " : "", t->cols, name);
    if (t->where != NULL || next)
        o += (size_t)snprintf(sql + o, cap - o, " WHERE %s%s", t->where != NULL ? t->where : "",
                              t->where != NULL && next ? " AND " : "");
    if (next) {
        o += (size_t)snprintf(sql + o, cap - o, "(%.*s) > (", klen, keys);
        put_params(sql, cap, &o, 1, nkey);
        o += (size_t)snprintf(sql + o, cap - o, ")");
    }
    o += (size_t)snprintf(sql + o, cap - o, " ORDER BY %.*s LIMIT ?%d", klen, keys, next ? nkey + 1 : 1);
    assert(o < cap);
}

/* Column col of the source's row into parameter idx of put, as kind. */
static int
put_value(copy_t *c, const table_t *t, int j, stg_stmt_t *row, int col, stg_stmt_t *put)
{
    int type = stg_col_type(row, col), idx = j + 1;
    char kind = t->kinds[j];
    if (type == STG_NULL) {
        stg_bind_null(put, idx);
        return 0;
    }
    if (kind == 'I' && type == STG_INTEGER) {
        stg_bind_int64(put, idx, stg_col_int64(row, col));
    } else if (kind == 'F' && (type == STG_FLOAT || type == STG_INTEGER)) {
        stg_bind_double(put, idx, stg_col_double(row, col));
    } else if (kind == 'T' && type == STG_TEXT) {
        const char *p = stg_col_text(row, col);
        stg_bind_text(put, idx, p, (size_t)stg_col_bytes(row, col));
    } else if (kind == 'B' && type == STG_BLOB) {
        const void *p = stg_col_blob(row, col);
        stg_bind_blob(put, idx, p, (size_t)stg_col_bytes(row, col));
    } else {
        char name[64];
        snprintf(c->err, c->errlen, "%s.%s: a value of type %d where the schema has %c", t->name,
                 col_name(t->cols, j, name, sizeof(name)), type, kind);
        return STORAGE_EINVAL;
    }
    return 0;
}

typedef struct {
    int n;
    int64_t i[MAX_KEY];
    char *t[MAX_KEY]; /* NULL: an integer */
    size_t len[MAX_KEY];
} page_key_t;

/* The key of the row (a page's last) into k. */
static void
key_keep(page_key_t *k, const char *kinds, stg_stmt_t *row)
{
    for (int i = 0; i < k->n; i++) {
        free(k->t[i]);
        k->t[i] = NULL;
        if (kinds[i] == 'T')
            k->t[i] = stg_col_copy(row, i, &k->len[i]);
        else
            k->i[i] = stg_col_int64(row, i);
    }
}

static void
key_bind(const page_key_t *k, const char *kinds, stg_stmt_t *q)
{
    for (int i = 0; i < k->n; i++) {
        if (kinds[i] == 'T')
            stg_bind_text(q, i + 1, k->t[i], k->len[i]);
        else
            stg_bind_int64(q, i + 1, k->i[i]);
    }
}

static void
note(copy_t *c, const table_t *t, uint64_t n, bool done)
{
    if (c->progress == NULL)
        return;
    fprintf(c->progress, "copy: %s%s: %llu rows%s\n", t->name, t->into != 0 ? " (into event_marks)" : "", (unsigned long long)n,
            done ? ", done" : "");
    fflush(c->progress);
}

static int
copy_table(copy_t *c, const table_t *t)
{
    const char *order = c->from->pg ? t->order_pg : t->order_sqlite;
    int n = (int)strlen(t->kinds), off = order != NULL ? 1 : 0, ret = 0;
    page_key_t key = {.n = order != NULL ? 1 : t->nkey};
    const char *key_kinds = order != NULL ? "I" : t->kinds;
    char sql[1024];
    uint64_t copied = 0;
    assert(key.n <= MAX_KEY);
    const char *from = table_on(t, c->from);
    select_sql(t, from, order, false, sql, sizeof(sql));
    stg_stmt_t *first = stg_stmt_sql(c->from, sql), *next = NULL, *put = NULL;
    select_sql(t, from, order, true, sql, sizeof(sql));
    if (first == NULL || (next = stg_stmt_sql(c->from, sql)) == NULL) {
        ret = failed(c, c->from, t->name, STORAGE_EIO);
        goto done;
    }
    if (t->into != 0) {
        put = stg_stmt(c->to, t->into);
    } else {
        size_t o = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s(%s) VALUES(", table_on(t, c->to), t->cols);
        put_params(sql, sizeof(sql), &o, 1, n);
        snprintf(sql + o, sizeof(sql) - o, ")%s", t->tail != NULL ? t->tail : "");
        put = stg_stmt_sql(c->to, sql);
    }
    if (put == NULL) {
        ret = failed(c, c->to, t->name, STORAGE_EIO);
        goto done;
    }
    for (stg_stmt_t *q = first;; q = next) {
        int got = 0, rc;
        stg_bind_int64(q, q == first ? 1 : key.n + 1, c->page_rows);
        while ((rc = stg_step(c->from, q)) == STG_ROW) {
            for (int j = 0; j < n && ret == 0; j++)
                ret = put_value(c, t, j, q, off + j, put);
            if (ret != 0)
                break;
            if ((ret = stg_step_done(c->to, put)) != 0) {
                failed(c, c->to, t->name, ret);
                break;
            }
            if (++got == c->page_rows) /* the page's last row: where the next starts */
                key_keep(&key, key_kinds, q);
            if (++copied % PROGRESS_ROWS == 0)
                note(c, t, copied, false);
        }
        stg_reset(q);
        if (ret != 0)
            goto done;
        if (rc < 0) {
            ret = failed(c, c->from, t->name, rc);
            goto done;
        }
        if (got < c->page_rows)
            break;
        key_bind(&key, key_kinds, next);
    }
    c->rows += copied;
    note(c, t, copied, true);
done:
    for (int i = 0; i < key.n; i++)
        free(key.t[i]);
    stg_stmt_free(first);
    stg_stmt_free(next);
    if (t->into == 0)
        stg_stmt_free(put);
    return ret;
}

/* Runs sql on st to its end. */
static int
run_sql(copy_t *c, storage_t *st, const char *sql, const char *what)
{
    stg_stmt_t *s = stg_stmt_sql(st, sql);
    int rc = s != NULL ? STG_ROW : STORAGE_EIO;
    while (s != NULL && (rc = stg_step(st, s)) == STG_ROW)
        ;
    stg_stmt_free(s);
    return rc < 0 ? failed(c, st, what, rc) : 0;
}

/* Any row of a copied table: the target is not empty. */
static int
check_empty(copy_t *c)
{
    char sql[128];
    for (size_t i = 0; i < NTABLES; i++) {
        const table_t *t = &tables[i];
        if (t->sqlite_only || t->seeded)
            continue;
        snprintf(sql, sizeof(sql), "SELECT 1 FROM %s LIMIT 1", t->name);
        stg_stmt_t *s = stg_stmt_sql(c->to, sql);
        int rc = s != NULL ? stg_step(c->to, s) : STORAGE_EIO;
        stg_stmt_free(s);
        if (rc < 0)
            return failed(c, c->to, t->name, rc);
        if (rc == STG_ROW) {
            snprintf(c->err, c->errlen, "the target database is not empty (%s has rows): copy writes only into a new database",
                     t->name);
            return STORAGE_EEXIST;
        }
    }
    return 0;
}

/* After the rows: SQLite's event entries (as schema step 10 built them),
 * PostgreSQL's identity sequences past the largest id copied. */
static int
finish(copy_t *c)
{
    char sql[256];
    int ret = 0;
    if (!c->to->pg) {
        if ((ret = run_sql(c, c->to, "INSERT INTO ev_prof SELECT profile_pk, event_time_ms, pk FROM events ORDER BY 1, 2, 3",
                           "ev_prof")) != 0 ||
            (ret = run_sql(c, c->to, "INSERT INTO ev_key SELECT event_key, tenant_id, pk FROM events ORDER BY 1, 2, 3",
                           "ev_key")) != 0)
            return ret;
        return 0;
    }
    for (size_t i = 0; i < NTABLES && ret == 0; i++) {
        const table_t *t = &tables[i];
        if (!t->identity)
            continue;
        int n = (int)names_len(t->cols, 1);
        snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence('%s', '%.*s'), coalesce(max(%.*s), 0) + 1, false) FROM %s",
                 t->name, n, t->cols, n, t->cols, t->name);
        ret = run_sql(c, c->to, sql, t->name);
    }
    return ret;
}

int
storage_copy(storage_t *from, storage_t *to, FILE *progress, uint64_t *rows, char *err, size_t errlen)
{
    char scratch[8];
    copy_t c = {.from = from,
                .to = to,
                .progress = progress,
                .err = err != NULL ? err : scratch,
                .errlen = err != NULL ? errlen : sizeof(scratch)};
    bool reading = false;
    int ret;
    const char *debug_page = getenv("PROFILED_DEBUG_COPY_PAGE");
    c.page_rows = debug_page != NULL && atoll(debug_page) > 0 ? atoll(debug_page) : PAGE_ROWS;
    if (c.errlen > 0)
        c.err[0] = '\0';
    if (rows != NULL)
        *rows = 0;
    if (from == to || stg_in_txn(from) || stg_in_txn(to)) {
        snprintf(c.err, c.errlen, "copy needs two connections with no transaction open");
        return STORAGE_EINVAL;
    }
    if ((ret = stg_txn_open(from, false, &reading)) != 0)
        return failed(&c, from, "reading the source", ret);
    if ((ret = storage_begin(to)) != 0) {
        failed(&c, to, "writing the target", ret);
        goto fail;
    }
    if ((ret = check_empty(&c)) != 0)
        goto fail;
    for (size_t i = 0; i < NTABLES; i++) {
        if (tables[i].sqlite_only && from->pg)
            continue;
        if ((ret = copy_table(&c, &tables[i])) != 0)
            goto fail;
    }
    if ((ret = finish(&c)) != 0)
        goto fail;
    if ((ret = storage_commit(to)) != 0) {
        failed(&c, to, "commit", ret);
        goto fail;
    }
    stg_txn_close(from, reading, 0);
    /* this connection seals scrollIds with the key copied from now on */
    if ((ret = stg_scroll_key_load(to)) != 0)
        return failed(&c, to, "scroll key", ret);
    if (rows != NULL)
        *rows = c.rows;
    return 0;
fail:
    storage_rollback(to);
    stg_txn_close(from, reading, ret);
    return ret;
}
