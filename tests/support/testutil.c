/* testutil.c -- temporary paths for tests; with PROFILED_TEST_PG set (a
 * libpq URL without a database name, say postgresql://postgres@127.0.0.1:5432,
 * of a throwaway cluster: tests/support/pg.sh), a database path "*.db"
 * is a fresh PostgreSQL database of that cluster instead. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"

/* Runs sql on the cluster's maintenance database. */
static void
pg_admin(const char *base, const char *sql)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s/postgres", base);
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "test: %s: %s", sql, PQerrorMessage(c));
        abort();
    }
    PQclear(r);
    PQfinish(c);
}

static bool
is_db_name(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".db") == 0;
}

/* The cluster's URL without a database name, or NULL: SQLite files. */
static const char *
pg_base(void)
{
    const char *base = getenv("PROFILED_TEST_PG");
    return base != NULL && *base != '\0' ? base : NULL;
}

int
test_on_pg(void)
{
    return pg_base() != NULL;
}

/* "a/b", malloc'd. */
static char *
join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p == NULL)
        abort();
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

char *
test_tmp_path(const char *name)
{
    const char *base = pg_base();
    if (base != NULL && is_db_name(name)) {
        static unsigned seq;
        char db[64], sql[128];
        snprintf(db, sizeof(db), "t_%ld_%u_%ld", (long)getpid(), seq++, random() % 1000000);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
        pg_admin(base, sql);
        return join(base, db);
    }
    char tmpl[] = "/tmp/profiled-test-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        abort();
    return join(tmpl, name);
}

void
test_rm_db(const char *path)
{
    char buf[4096];
    const char *base = pg_base();
    size_t bn = base != NULL ? strlen(base) : 0;
    if (bn > 0 && strncmp(path, base, bn) == 0 && path[bn] == '/') {
        snprintf(buf, sizeof(buf), "DROP DATABASE IF EXISTS %s WITH (FORCE)", path + bn + 1);
        pg_admin(base, buf);
        return;
    }
    unlink(path);
    snprintf(buf, sizeof(buf), "%s-wal", path);
    unlink(buf);
    snprintf(buf, sizeof(buf), "%s-shm", path);
    unlink(buf);
}

int
test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

void
test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0)
        abort();
    fclose(f);
}
