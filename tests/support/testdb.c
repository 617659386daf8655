/* testdb.c -- storage-level test helpers (see testdb.h). */
#include <check.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>
#include "testdb.h"
#include "testutil.h"

storage_t *
test_db_open(const char *name, char **path)
{
    storage_t *st = NULL;
    char err[256] = "";
    *path = test_tmp_path(name);
    int ret = storage_open(&st, *path, 0, err, sizeof(err));
    ck_assert_msg(ret == 0, "open %s: %s", *path, err);
    return st;
}

void
test_db_close(storage_t *st, char *path)
{
    storage_close(st);
    test_rm_db(path);
    rmdir(dirname(path));
    free(path);
}

int
test_db_ingest(storage_t *st, const storage_tenant_t *t, const char *json, int64_t now)
{
    struct json_object *m = json_tokener_parse(json);
    ck_assert_msg(m != NULL, "bad test JSON: %s", json);
    char err[256] = "";
    int ret = storage_ingest_message(st, t, m, "api", now, err, sizeof(err));
    json_object_put(m);
    return ret;
}

/* "?N" placeholders as PostgreSQL's "$N". */
static void
pg_sql(const char *sql, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = sql; *p != '\0' && o + 2 < cap; p++)
        out[o++] = *p == '?' ? '$' : *p;
    out[o] = '\0';
}

static bool
is_url(const char *path)
{
    return strncmp(path, "postgres", 8) == 0;
}

static PGconn *
pg_open(const char *url)
{
    PGconn *c = PQconnectdb(url);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    return c;
}

static sqlite3 *
sq_open(const char *path)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

int64_t
test_db_int(const char *path, const char *sql, const char *text, int64_t n)
{
    int64_t v = 0;
    if (is_url(path)) {
        char q[1024], num[24];
        pg_sql(sql, q, sizeof(q));
        PGconn *c = pg_open(path);
        PGresult *d = PQprepare(c, "", q, 0, NULL);
        ck_assert_msg(PQresultStatus(d) == PGRES_COMMAND_OK, "%s: %s", q, PQerrorMessage(c));
        PQclear(d);
        d = PQdescribePrepared(c, "");
        int np = PQnparams(d);
        PQclear(d);
        const char *vals[2];
        int k = 0;
        snprintf(num, sizeof(num), "%lld", (long long)n);
        if (text != NULL)
            vals[k++] = text;
        vals[k++] = num;
        PGresult *r = PQexecPrepared(c, "", np < k ? np : k, vals, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", q, PQerrorMessage(c));
        v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *db = sq_open(path);
    sqlite3_stmt *s = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    int idx = 1;
    if (text != NULL)
        sqlite3_bind_text(s, idx++, text, -1, SQLITE_TRANSIENT);
    if (sqlite3_bind_parameter_count(s) >= idx)
        sqlite3_bind_int64(s, idx, n);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

size_t
test_db_tables_with(const char *path, const char *column, char names[][32], size_t max)
{
    size_t n = 0;
    if (is_url(path)) {
        PGconn *c = pg_open(path);
        const char *vals[1] = {column};
        PGresult *r = PQexecParams(c,
                                   "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
                                   " AND column_name = $1 ORDER BY table_name COLLATE \"C\"",
                                   1, NULL, vals, NULL, NULL, 0);
        ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
        for (int i = 0; i < PQntuples(r) && n < max; i++)
            snprintf(names[n++], 32, "%s", PQgetvalue(r, i, 0));
        PQclear(r);
        PQfinish(c);
        return n;
    }
    sqlite3 *db = sq_open(path);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND EXISTS"
                                        " (SELECT 1 FROM pragma_table_info(m.name) WHERE name = ?1) ORDER BY m.name",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, column, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(s) == SQLITE_ROW && n < max)
        snprintf(names[n++], 32, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}
