/* test_check.c -- `profiled check` on either backend (the SQLite pass and
 * the PostgreSQL one): a good database passes (exit 0, "ok"); one whose
 * profile row was deleted under its identities, traits and events names
 * each kind of orphan (exit 1) and is left as it was. PostgreSQL: every
 * index checked with amcheck once the database has the extension (it says
 * so until then); a server that cannot be reached is exit 2 with libpq's
 * reason and never the URL's password. The damaged SQLite files are
 * test_integrity.c's. */
#include <check.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testdb.h"
#include "testhttp.h"
#include "testutil.h"

static char *db;

static int
check_db(const char *path, char **out, char **err)
{
    const char *argv[] = {"check", "--db", path, NULL};
    return test_cli(argv, NULL, out, err);
}

/* Runs sql (a change) on the database, either backend. */
static void
exec_sql(const char *sql)
{
    if (test_on_pg()) {
        PGconn *c = PQconnectdb(db);
        PGresult *r = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *s = NULL;
    char *err = NULL;
    ck_assert_int_eq(sqlite3_open(db, &s), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(s, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err);
    sqlite3_close(s);
}

static int64_t
rows(const char *table)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return test_db_int(db, sql, NULL, 0);
}

START_TEST(test_good_then_orphans)
{
    char *out = NULL;
    ck_assert_int_eq(check_db(db, &out, NULL), 0);
    ck_assert_msg(strstr(out, ": ok") != NULL, "%s", out);
    free(out);

    /* u1's profile row goes; its identities, traits and events stay */
    ck_assert_int_eq(rows("profiles"), 3);
    exec_sql("DELETE FROM profiles WHERE pk = (SELECT profile_pk FROM identities WHERE id_type = 0 AND value = 'u1')");
    ck_assert_int_eq(rows("profiles"), 2);
    int64_t before[3] = {rows("identities"), rows("traits"), rows("events")};
    ck_assert_int_eq(check_db(db, &out, NULL), 1);
    ck_assert_msg(strstr(out, "identities of a missing profile: 1 rows") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "traits of a missing profile: 2 rows") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "events of a missing profile: 4 rows") != NULL, "%s", out);
    ck_assert_msg(strstr(out, ": ok") == NULL, "%s", out);
    free(out);
    /* and nothing changed */
    ck_assert_int_eq(rows("identities"), before[0]);
    ck_assert_int_eq(rows("traits"), before[1]);
    ck_assert_int_eq(rows("events"), before[2]);
}
END_TEST

START_TEST(test_postgres_indexes_and_unreachable)
{
    if (!test_on_pg())
        return;
    char *out = NULL;
    ck_assert_int_eq(check_db(db, &out, NULL), 0); /* a fresh database: no amcheck */
    ck_assert_msg(strstr(out, ": ok") != NULL && strstr(out, "indexes: not checked") != NULL, "%s", out);
    free(out);
    PGconn *c = PQconnectdb(db);
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "CREATE EXTENSION IF NOT EXISTS amcheck");
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    r = PQexec(c, "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_int_gt(atoi(PQgetvalue(r, 0, 0)), 10); /* what the check walks */
    PQclear(r);
    PQfinish(c);
    ck_assert_int_eq(check_db(db, &out, NULL), 0);
    ck_assert_msg(strstr(out, ": ok") != NULL && strstr(out, "not checked") == NULL, "%s", out);
    free(out);

    /* nothing listens on port 1 */
    char *err = NULL;
    ck_assert_int_eq(check_db("postgresql://postgres:s3kr1t@127.0.0.1:1/nothing", &out, &err), 2);
    ck_assert_msg(strstr(out, "cannot connect to PostgreSQL") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "s3kr1t") == NULL && strstr(err, "s3kr1t") == NULL, "%s%s", out, err);
    ck_assert_msg(strstr(err, "***") != NULL, "%s", err);
    free(out);
    free(err);
}
END_TEST

static Suite *
check_suite(void)
{
    Suite *s = suite_create("check");
    TCase *tc = tcase_create("check");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_postgres_indexes_and_unreachable);
    tcase_add_test(tc, test_good_then_orphans);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    db = test_tmp_path("check.db");
    char *fixture = test_tmp_path("check.ndjson");
    FILE *f = fopen(fixture, "w");
    if (f == NULL)
        return 1;
    for (int u = 0; u < 3; u++) {
        fprintf(f, "{\"type\":\"identify\",\"userId\":\"u%d\",\"traits\":{\"plan\":\"pro\",\"n\":%d}}\n", u, u);
        for (int i = 0; i < 4; i++)
            fprintf(f, "{\"type\":\"track\",\"userId\":\"u%d\",\"event\":\"Tick\",\"messageId\":\"u%d-%d\"}\n", u, u, i);
    }
    fclose(f);
    const char *imp[] = {"import", "--db", db, "--client", "acme", "--account", "shop", "--brand", "WEB", fixture, NULL};
    if (test_cli(imp, NULL, NULL, NULL) != 0)
        return 1;
    int failed = test_run_suite(check_suite());
    test_rm_db(db);
    unlink(fixture);
    free(db);
    free(fixture);
    return failed == 0 ? 0 : 1;
}
