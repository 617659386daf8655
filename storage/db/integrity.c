/* integrity.c -- `profiled check`: SQLite's integrity check of the whole
 * file, then whether the rows that hang off a profile (identities, traits,
 * events, first/last marks) all have one, and the events' index entries
 * (schema step 10) are one each. Opens its own connection and
 * changes nothing: no migration, no journal mode, query_only, no
 * checkpoint when it closes. On PostgreSQL (a read-only connection): the
 * same rows checked, then every B-tree index of the schema against its
 * table with amcheck's bt_index_check when the database has the
 * extension (installing it would change the database: the check says how
 * instead). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "../db/db.h"

/* Rows that point at a profile, or an event, that is not there; the
 * first PG_ORPHANS on both backends, the rest of SQLite's tables only. */
#define PG_ORPHANS 4
static const struct {
    const char *what;
    const char *sql;
} orphans[] = {
    {"identities of a missing profile",
     "SELECT count(*) FROM identities i WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.pk = i.profile_pk)"},
    {"traits of a missing profile",
     "SELECT count(*) FROM traits t WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.pk = t.profile_pk)"},
    {"events of a missing profile",
     "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.pk = e.profile_pk)"},
    {"first/last marks of a missing event",
     "SELECT count(*) FROM event_marks m WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = m.first_pk)"
     " OR NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = m.last_pk)"},
    {"first/last marks (hot) of a missing event",
     "SELECT count(*) FROM event_marks_hot m WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = m.first_pk)"
     " OR NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = m.last_pk)"},
    /* schema step 10: each event has one entry by profile and one by key,
     * in one level or the other, and every entry an event */
    {"events without exactly one entry by profile",
     "SELECT count(*) FROM events e WHERE"
     " (SELECT count(*) FROM ev_prof i WHERE i.profile_pk = e.profile_pk AND i.event_time_ms = e.event_time_ms AND i.pk = e.pk)"
     " + (SELECT count(*) FROM ev_prof_hot i WHERE i.profile_pk = e.profile_pk AND i.event_time_ms = e.event_time_ms"
     " AND i.pk = e.pk) != 1"},
    {"events without exactly one entry by messageId",
     "SELECT count(*) FROM events e WHERE"
     " (SELECT count(*) FROM ev_key k WHERE k.event_key = e.event_key AND k.tenant_id = e.tenant_id AND k.pk = e.pk)"
     " + (SELECT count(*) FROM ev_key_hot k WHERE k.event_key = e.event_key AND k.tenant_id = e.tenant_id AND k.pk = e.pk) != 1"},
    {"event entries of a missing event",
     "SELECT (SELECT count(*) FROM ev_prof i WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = i.pk"
     " AND e.profile_pk = i.profile_pk AND e.event_time_ms = i.event_time_ms))"
     " + (SELECT count(*) FROM ev_prof_hot i WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = i.pk"
     " AND e.profile_pk = i.profile_pk AND e.event_time_ms = i.event_time_ms))"
     " + (SELECT count(*) FROM ev_key k WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = k.pk"
     " AND e.event_key = k.event_key AND e.tenant_id = k.tenant_id))"
     " + (SELECT count(*) FROM ev_key_hot k WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.pk = k.pk"
     " AND e.event_key = k.event_key AND e.tenant_id = k.tenant_id))"},
    /* schema step 12: one profile_times row a profile, of its tenant */
    {"profiles without exactly one times row",
     "SELECT (SELECT count(*) FROM profiles p WHERE NOT EXISTS (SELECT 1 FROM profile_times t WHERE t.pk = p.pk"
     " AND t.tenant_id = p.tenant_id)) + (SELECT count(*) FROM profile_times t WHERE NOT EXISTS"
     " (SELECT 1 FROM profiles p WHERE p.pk = t.pk))"},
};

/* One problem: a line on out. */
static void
note(FILE *out, uint64_t *problems, const char *fmt, const char *a, const char *b)
{
    fprintf(out, fmt, a, b);
    fputc('\n', out);
    (*problems)++;
}

/* Runs sql and reports each row that is not "ok" (integrity_check) or not
 * 0 (a count). -1 when SQLite could not run it at all (reported). */
static int
run_check(sqlite3 *db, FILE *out, uint64_t *problems, const char *what, const char *sql, bool count)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        note(out, problems, "%s: cannot run: %s", what, sqlite3_errmsg(db));
        return -1;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(s, 0);
        if (count) {
            if (sqlite3_column_int64(s, 0) != 0)
                note(out, problems, "%s: %s rows", what, text != NULL ? text : "?");
        } else if (text == NULL) {
            note(out, problems, "%s: %s", what, "?");
        } else if (strcmp(text, "ok") != 0) {
            /* integrity_check may put several problems in one row */
            for (const char *line = text; *line != '\0';) {
                size_t n = strcspn(line, "\n");
                char one[512];
                snprintf(one, sizeof(one), "%.*s", (int)n, line);
                if (n > 0 && strncmp(one, "*** in database", 15) != 0)
                    note(out, problems, "%s: %s", what, one);
                line += n + (line[n] == '\n');
            }
        }
    }
    int ret = 0;
    if (rc != SQLITE_DONE) {
        note(out, problems, "%s: stopped: %s", what, sqlite3_errmsg(db));
        ret = -1;
    }
    sqlite3_finalize(s);
    return ret;
}

/* One statement of a PostgreSQL check on st, outside a transaction (a
 * failure ends only its own): each row's first column, a count when
 * count (a problem unless 0), else (amcheck) nothing. bind: $1, or NULL. */
static void
pg_run(storage_t *st, FILE *out, uint64_t *problems, const char *what, const char *sql, const char *bind, bool count)
{
    stg_stmt_t *s = stg_stmt_sql(st, sql);
    if (s == NULL) {
        note(out, problems, "%s: cannot run: %s", what, storage_errmsg(st));
        return;
    }
    if (bind != NULL)
        stg_bind_text(s, 1, bind, strlen(bind));
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW)
        if (count && stg_col_int64(s, 0) != 0)
            note(out, problems, "%s: %s rows", what, stg_col_text(s, 0));
    if (rc != STG_DONE)
        note(out, problems, "%s: %s", what, storage_errmsg(st));
    stg_reset(s);
    stg_stmt_free(s);
}

static int
pg_check(const char *url, FILE *out, uint64_t *problems)
{
    storage_t *st = NULL;
    char err[512];
    int ret = storage_open(&st, url, STORAGE_READONLY, err, sizeof(err));
    if (ret != 0) { /* libpq's reason names host and port, never the password */
        note(out, problems, "%s%s", err, "");
        return ret;
    }
    for (size_t i = 0; i < PG_ORPHANS; i++)
        pg_run(st, out, problems, orphans[i].what, orphans[i].sql, NULL, true);
    /* the indexes of the schema's tables, by name */
    stg_stmt_t *s = stg_stmt_sql(st, "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'amcheck'");
    bool amcheck = s != NULL && stg_step(st, s) == STG_ROW; /* a row: installed, in that schema */
    char call[160] = "";
    if (amcheck)
        snprintf(call, sizeof(call), "SELECT %s.bt_index_check($1::regclass, true)", stg_col_text(s, 0));
    if (s != NULL) {
        stg_reset(s);
        stg_stmt_free(s);
    }
    if (!amcheck) {
        fputs("indexes: not checked: the database has no amcheck extension (CREATE EXTENSION amcheck; adds the check)\n", out);
        goto done;
    }
    s = stg_stmt_sql(st, "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_index x"
                         " JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_am a ON a.oid = c.relam"
                         " JOIN pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE a.amname = 'btree' AND n.nspname = current_schema() ORDER BY 1");
    if (s == NULL) {
        note(out, problems, "%s: cannot list: %s", "indexes", storage_errmsg(st));
        goto done;
    }
    char(*names)[160] = NULL;
    size_t n = 0;
    int rc;
    while ((rc = stg_step(st, s)) == STG_ROW) {
        names = base_xrealloc(names, (n + 1) * sizeof(*names));
        snprintf(names[n++], sizeof(*names), "%s", stg_col_text(s, 0));
    }
    if (rc != STG_DONE)
        note(out, problems, "%s: cannot list: %s", "indexes", storage_errmsg(st));
    stg_reset(s);
    stg_stmt_free(s);
    for (size_t i = 0; i < n; i++)
        pg_run(st, out, problems, names[i], call, names[i], false);
    free(names);
done:
    storage_close(st);
    return 0;
}

int
storage_check(const char *path, FILE *out, uint64_t *problems)
{
    sqlite3 *db = NULL;
    *problems = 0;
    if (stg_pg_url(path))
        return pg_check(path, out, problems);
    /* Read-write without create: a read-only connection cannot open a WAL
     * database whose -shm is gone; query_only keeps it from writing. */
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        note(out, problems, "%s: cannot open: %s", path, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return STORAGE_EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    /* The last connection to close would copy the write-ahead log into the
     * file: not this one. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
    /* Reading the schema is the first thing that fails on a file that is
     * no database, or whose first page is gone. */
    int ret = 0;
    if (run_check(db, out, problems, "schema", "SELECT 'ok' FROM sqlite_schema LIMIT 1", false) != 0) {
        ret = STORAGE_EIO;
        goto done;
    }
    /* The whole file, not quick_check: it also compares every index with
     * its table. */
    run_check(db, out, problems, "integrity_check", "PRAGMA integrity_check(100)", false);
    for (size_t i = 0; i < sizeof(orphans) / sizeof(orphans[0]); i++)
        run_check(db, out, problems, orphans[i].what, orphans[i].sql, true);
done:
    sqlite3_close_v2(db);
    return ret;
}
